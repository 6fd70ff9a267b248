//! SIP transactions: RFC 3261 section 17, with the RFC 6026 "Accepted" state
//! and the RFC 4320 non-INVITE rules, as sans-IO state machines.
//!
//! # What this crate owns
//!
//! * The four transaction state machines: [`ClientInvite`],
//!   [`ClientNonInvite`], [`ServerInvite`] and [`ServerNonInvite`]: their
//!   states, the timers A to M (RFC 3261 section 17 and RFC 6026), the
//!   retransmissions they cause and the absorption of retransmissions they
//!   receive.
//! * The [`TransactionTable`]: many live transactions keyed by
//!   [`TransactionKey`] (RFC 3261 sections 17.1.3 and 17.2.3), one
//!   [`poll_timeout`](TransactionTable::poll_timeout) over all of them, and
//!   removal of terminated transactions.
//!
//! # What it must not do
//!
//! * No IO, no clock, no tasks: every entry point takes `now: Instant`, each
//!   machine says when it next wants to wake (`poll_timeout`) and is told
//!   when that time came (`handle_timeout`). Output is drained with
//!   `poll_action` into the caller's hands. Nothing here reads
//!   `Instant::now()`.
//! * No message parsing or building: messages are opaque, already serialized
//!   [`bytes::Bytes`]. The caller tells the machine the few facts it needs
//!   (a response's status code, a request's [`Kind`], the [`Transport`]'s
//!   reliability) and builds what needs a parser (the `100 Trying`, the ACK
//!   to a non-2xx final response). This crate must not depend on `sip-core`
//!   or on tokio.
//! * No panics on out-of-order calls: a call the current state does not
//!   allow returns an [`Error`]; unexpected input from the network is
//!   absorbed.
//!
//! # Driving a machine
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use sip_transaction::{Action, ClientNonInvite, TimerConfig, Transport};
//!
//! let t0 = Instant::now(); // the caller's clock, not the crate's
//! let config = TimerConfig::default();
//! let mut tx = ClientNonInvite::new(t0, Bytes::from_static(b"OPTIONS ..."), Transport::Unreliable, &config);
//! // 1. drain output
//! assert!(matches!(tx.poll_action(), Some(Action::Transmit(_))));
//! // 2. sleep until poll_timeout, then tell the machine the time came
//! let wake = tx.poll_timeout().unwrap();
//! assert_eq!(wake, t0 + Duration::from_millis(500)); // Timer E
//! tx.handle_timeout(wake);
//! assert!(matches!(tx.poll_action(), Some(Action::Transmit(_)))); // retransmission
//! // 3. feed input from the network
//! tx.handle_response(wake, 200, Bytes::from_static(b"SIP/2.0 200 OK ...")).unwrap();
//! assert!(matches!(tx.poll_action(), Some(Action::Response { status: 200, .. })));
//! ```

#![forbid(unsafe_code)]

mod client_invite;
mod client_non_invite;
mod error;
mod key;
mod server_invite;
mod server_non_invite;
mod table;
mod timer;

pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use error::Error;
pub use key::{Role, TransactionKey};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use table::{TransactionId, TransactionState, TransactionTable};
pub use timer::{Timer, TimerConfig};

use bytes::Bytes;

/// The method of a request, as far as transactions care (RFC 3261 section
/// 17: INVITE and non-INVITE machines; ACK and CANCEL match specially,
/// section 17.2.3 and section 9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `INVITE`: handled by [`ClientInvite`] and [`ServerInvite`].
    Invite,
    /// `ACK`: matches the INVITE server transaction it acknowledges; never
    /// creates a transaction of its own.
    Ack,
    /// `CANCEL`: a non-INVITE transaction of its own (RFC 3261 section 9).
    Cancel,
    /// Any other method (`BYE`, `OPTIONS`, `REGISTER`, ...): non-INVITE.
    Other,
}

/// Whether the transport under a transaction is reliable (RFC 3261 section
/// 17: retransmission timers A, E and G run only over unreliable transports;
/// the wait timers D, I, J and K are zero over reliable ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP, TLS, SCTP, WebSocket: no retransmissions by the transaction.
    Reliable,
    /// UDP: the transaction retransmits and lingers to absorb duplicates.
    Unreliable,
}

impl Transport {
    /// `true` for [`Transport::Reliable`].
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Reliable)
    }
}

/// One output of a transaction, drained with `poll_action` until it returns
/// `None`.
///
/// `Transmit` goes to the transport (to the destination the caller chose
/// for the transaction); every other variant goes to the transaction user
/// (TU). [`Action::Terminated`] is always the last action of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send these bytes to the peer: a first transmission or a
    /// retransmission (request, response or ACK).
    Transmit(Bytes),
    /// Client transactions: pass this response up to the TU. With RFC 6026,
    /// an INVITE client transaction in `Accepted` passes every 2xx (also
    /// retransmissions and 2xx from other forks) up: the TU, not the
    /// transaction, acknowledges 2xx responses.
    Response {
        /// The response's status code.
        status: u16,
        /// The response as received.
        message: Bytes,
    },
    /// INVITE client transaction: a 300-699 final response arrived (it was
    /// passed up just before as [`Action::Response`]). The caller must build
    /// the ACK (RFC 3261 section 17.1.1.3) and hand it over with
    /// [`ClientInvite::set_ack`] (or [`TransactionTable::set_ack`]) before
    /// the next `handle_timeout`; the machine sends it and re-sends the same
    /// bytes for every retransmission of the final response.
    SendAck {
        /// Status code of the final response to acknowledge.
        status: u16,
    },
    /// INVITE server transaction in `Accepted` (RFC 6026): an ACK matched the
    /// transaction; pass it to the TU.
    Ack(Bytes),
    /// A transaction timer expired with a failure meaning for the TU:
    /// [`Timer::B`] or [`Timer::F`] (no final response: the TU treats it as a
    /// 408, RFC 3261 section 8.1.3.1), [`Timer::H`] (ACK never received),
    /// [`Timer::Cancel`] (no final response 64*T1 after a CANCEL, RFC 3261
    /// section 9.1). [`Action::Terminated`] follows.
    Timeout(Timer),
    /// The caller reported a fatal transport error
    /// (RFC 3261 sections 17.1.4 and 17.2.4). [`Action::Terminated`]
    /// follows.
    TransportError,
    /// The transaction reached the `Terminated` state; drop it (the
    /// [`TransactionTable`] removes it by itself).
    Terminated,
}

/// Returns the status code if it is a valid SIP status code (100-699).
fn check_status(status: u16) -> Result<u16, Error> {
    if (100..=699).contains(&status) {
        Ok(status)
    } else {
        Err(Error::InvalidStatus(status))
    }
}
