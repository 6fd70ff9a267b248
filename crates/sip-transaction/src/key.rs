//! Transaction keys: how responses find their client transaction (RFC 3261
//! section 17.1.3) and requests their server transaction (section 17.2.3).

use std::fmt;

use crate::Kind;

/// Which side of a transaction a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A client transaction (we sent the request).
    Client,
    /// A server transaction (we received the request).
    Server,
}

/// The key that identifies a transaction in a
/// [`TransactionTable`](crate::TransactionTable).
///
/// The caller builds it from parsed fields of the message:
///
/// * a server transaction, for a request, with
///   [`TransactionKey::server`]`(branch, sent_by, kind)`: the `branch` and
///   the `sent-by` (host and port as written) of the top Via, and the
///   method's [`Kind`] (RFC 3261 section 17.2.3);
/// * a client transaction, for a response, with
///   [`TransactionKey::client`]`(branch, kind)`: the top Via `branch` and
///   the `CSeq` method's [`Kind`] (RFC 3261 section 17.1.3); the same call
///   names the transaction when it is created from the request we send.
///
/// Method rule: an ACK key equals the INVITE key with the same branch (the
/// ACK for a non-2xx matches its INVITE server transaction); a CANCEL is a
/// transaction of its own ([`TransactionKey::cancel_target`] names the
/// INVITE it cancels, RFC 3261 section 9.2). All other methods share one
/// class: a client that reuses one branch for two different non-INVITE
/// methods breaks the uniqueness RFC 3261 section 8.1.1.7 requires of it.
///
/// Branch and sent-by compare ASCII case-insensitively (RFC 3261 section
/// 7.3.1: parameter values and host names are case-insensitive). Requests
/// without the `z9hG4bK` cookie (RFC 2543 peers) need the caller to
/// synthesize a branch; this crate does not implement the RFC 2543 matching
/// rules.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    role: Role,
    /// `Invite` (also for ACK), `Cancel` or `Other`.
    method: Kind,
    branch: Box<str>,
    /// Empty for client keys.
    sent_by: Box<str>,
}

fn method_class(kind: Kind) -> Kind {
    match kind {
        Kind::Invite | Kind::Ack => Kind::Invite,
        other => other,
    }
}

impl TransactionKey {
    /// The key of a server transaction for a received request: top Via
    /// `branch` and `sent-by`, and the request's method.
    pub fn server(branch: &str, sent_by: &str, method: Kind) -> Self {
        TransactionKey {
            role: Role::Server,
            method: method_class(method),
            branch: branch.to_ascii_lowercase().into_boxed_str(),
            sent_by: sent_by.to_ascii_lowercase().into_boxed_str(),
        }
    }

    /// The key of a client transaction: the `branch` we put in the top Via
    /// and the method (for a response: the `CSeq` method).
    pub fn client(branch: &str, method: Kind) -> Self {
        TransactionKey {
            role: Role::Client,
            method: method_class(method),
            branch: branch.to_ascii_lowercase().into_boxed_str(),
            sent_by: Box::default(),
        }
    }

    /// For the key of a CANCEL, the key of the INVITE transaction (same
    /// role, branch and sent-by) it cancels (RFC 3261 section 9.2); `None`
    /// for other keys.
    pub fn cancel_target(&self) -> Option<TransactionKey> {
        (self.method == Kind::Cancel).then(|| TransactionKey {
            method: Kind::Invite,
            ..self.clone()
        })
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The method class: [`Kind::Invite`] (for INVITE and ACK),
    /// [`Kind::Cancel`] or [`Kind::Other`].
    pub fn method(&self) -> Kind {
        self.method
    }

    /// The branch, lower-cased.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The sent-by of a server key, lower-cased; `None` for client keys.
    pub fn sent_by(&self) -> Option<&str> {
        match self.role {
            Role::Server => Some(&self.sent_by),
            Role::Client => None,
        }
    }
}

impl fmt::Debug for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({:?} {}", self.role, self.method, self.branch)?;
        if self.role == Role::Server {
            write!(f, " {}", self.sent_by)?;
        }
        f.write_str(")")
    }
}
