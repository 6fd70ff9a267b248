//! What went wrong when the caller drove a transaction, and what to do.

use std::fmt;

use crate::{Kind, TransactionId};

/// An error from a call the transaction cannot honour in its current state.
///
/// None of these change the machine's state: the call was ignored. They are
/// programming errors of the caller (a call out of order) or things the RFCs
/// forbid the TU to do; input from the network never produces them except
/// for an invalid status code or a request of the wrong [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The transaction already terminated: drop it.
    Terminated,
    /// The status code is outside 100-699.
    InvalidStatus(u16),
    /// The TU passed a response the state does not allow (for example a
    /// provisional after the final response, or a second final response).
    ResponseNotAllowed {
        /// The status code the TU tried to send.
        status: u16,
        /// The state the transaction was in.
        state: &'static str,
    },
    /// RFC 4320 section 4.1 and 4.2: a non-INVITE request must not get a
    /// provisional other than 100, a 100 over an unreliable transport before
    /// the client's Timer E reached T2, or a 408.
    ForbiddenByRfc4320 {
        /// The status code the TU tried to send.
        status: u16,
    },
    /// This machine does not handle requests of this kind (for example an
    /// INVITE fed to a non-INVITE server transaction): the key that routed
    /// it is wrong.
    UnexpectedRequest(Kind),
    /// [`set_ack`](crate::ClientInvite::set_ack) was called while no ACK is
    /// expected (not in `Completed`, or the ACK was already set).
    AckNotExpected {
        /// The state the transaction was in.
        state: &'static str,
    },
    /// [`cancel_sent`](crate::ClientInvite::cancel_sent) outside
    /// `Proceeding`: RFC 3261 section 9.1 forbids a CANCEL before a
    /// provisional response, and it is useless after a final response.
    CancelNotAllowed {
        /// The state the transaction was in.
        state: &'static str,
    },
    /// [`TransactionTable`](crate::TransactionTable): no live transaction has
    /// this id (it never existed or it terminated and was removed).
    UnknownTransaction(TransactionId),
    /// [`TransactionTable`](crate::TransactionTable): a transaction with this
    /// key already exists.
    DuplicateKey,
    /// [`TransactionTable`](crate::TransactionTable): the operation does not
    /// apply to this kind of transaction (for example a response sent
    /// through a client transaction), or the key's role or method does not
    /// fit the machine being created.
    WrongTransactionType,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Terminated => f.write_str("transaction already terminated"),
            Error::InvalidStatus(s) => write!(f, "invalid status code {s} (must be 100-699)"),
            Error::ResponseNotAllowed { status, state } => {
                write!(f, "response {status} not allowed in state {state}")
            }
            Error::ForbiddenByRfc4320 { status } => {
                write!(
                    f,
                    "RFC 4320 forbids response {status} to a non-INVITE request here"
                )
            }
            Error::UnexpectedRequest(kind) => {
                write!(
                    f,
                    "request of kind {kind:?} does not belong to this transaction"
                )
            }
            Error::AckNotExpected { state } => write!(f, "no ACK expected in state {state}"),
            Error::CancelNotAllowed { state } => {
                write!(
                    f,
                    "CANCEL not allowed in state {state} (RFC 3261 section 9.1)"
                )
            }
            Error::UnknownTransaction(id) => write!(f, "no live transaction {id:?}"),
            Error::DuplicateKey => f.write_str("a transaction with this key already exists"),
            Error::WrongTransactionType => {
                f.write_str("operation does not apply to this type of transaction")
            }
        }
    }
}

impl std::error::Error for Error {}
