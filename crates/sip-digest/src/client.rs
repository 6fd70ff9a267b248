//! The client side: choosing a challenge, answering it, and never answering
//! in a loop (DESIGN C18; RFC 3261 section 22.2 and 22.3; RFC 8760).

use std::fmt;

use crate::algorithm::Qop;
use crate::challenge::Challenge;
use crate::compute::{self, Inputs};
use crate::credentials::Credentials;
use crate::error::RespondError;
use crate::params::sendable;

/// Picks the challenge to answer among those of one realm: the strongest
/// algorithm (SHA-512-256, then SHA-256, then MD5, RFC 8760 section 2.4),
/// the first listed among equals. `None` when `challenges` is empty.
///
/// A server may send several WWW-Authenticate (or Proxy-Authenticate)
/// headers, one per algorithm; parse each with [`Challenge::parse`], drop
/// those that fail (unknown schemes and algorithms), group them by realm and
/// answer one per realm.
pub fn pick_challenge(challenges: &[Challenge]) -> Option<&Challenge> {
    let mut best: Option<&Challenge> = None;
    for c in challenges {
        match best {
            Some(b) if c.algorithm.strength() <= b.algorithm.strength() => {}
            _ => best = Some(c),
        }
    }
    best
}

/// Answers `challenge` for a request: the Authorization (401) or
/// Proxy-Authorization (407) value to add when the request is sent again.
///
/// `uri` is the Request-URI, `cnonce` a fresh random client nonce, `nc`
/// the count of requests sent with this nonce (1 for a new nonce). The qop
/// is `auth` when offered; `auth-int` when only that is offered (covering
/// `body`, or an empty body); none when the challenge has no qop (RFC 2069
/// style, no cnonce or nc sent).
///
/// # Errors
/// [`RespondError`] when `username`, `uri` or `cnonce` contain control
/// characters, `cnonce` is empty or `nc` is 0 while they are needed.
#[allow(clippy::too_many_arguments)] // mirrors the digest inputs one to one
pub fn respond(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
    body: Option<&[u8]>,
) -> Result<Credentials, RespondError> {
    for (field, value) in [("username", username), ("uri", uri), ("cnonce", cnonce)] {
        if !sendable(value) {
            return Err(RespondError::Unsendable { field });
        }
    }
    let qop = if challenge.qop.contains(&Qop::Auth) {
        Some(Qop::Auth)
    } else if challenge.qop.contains(&Qop::AuthInt) {
        Some(Qop::AuthInt)
    } else {
        None
    };
    let uses_cnonce = qop.is_some() || challenge.algorithm.is_session();
    if uses_cnonce && cnonce.is_empty() {
        return Err(RespondError::EmptyCnonce);
    }
    if qop.is_some() && nc == 0 {
        return Err(RespondError::ZeroNonceCount);
    }
    let ha1 = compute::base_ha1(challenge.algorithm, username, &challenge.realm, password);
    let response = compute::response(
        &ha1,
        &Inputs {
            algorithm: challenge.algorithm,
            nonce: &challenge.nonce,
            cnonce,
            nc,
            qop,
            method,
            uri,
            body: body.unwrap_or_default(),
        },
    );
    Ok(Credentials {
        username: username.to_owned(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_owned(),
        response,
        algorithm: challenge.algorithm,
        cnonce: uses_cnonce.then(|| cnonce.to_owned()),
        nc: qop.map(|_| nc),
        qop,
        opaque: challenge.opaque.clone(),
    })
}

/// Enforces "one answer per challenge, never a loop" (DESIGN C18) for one
/// request and its re-sends.
///
/// Create one per outgoing request (INVITE, REGISTER...). Each time a
/// 401/407 comes back, call [`admit`](Self::admit) with the challenge you
/// are about to answer (one per realm, see [`pick_challenge`]):
///
/// - a realm not answered yet: answer it;
/// - a realm answered already: the server did not accept our credentials,
///   so give up ([`GiveUp`]), unless the new challenge says `stale=true`
///   with a new nonce, which is answered once more, at most once per realm.
#[derive(Debug, Default, Clone)]
pub struct ChallengeGuard {
    answered: Vec<Answered>,
}

#[derive(Debug, Clone)]
struct Answered {
    realm: String,
    nonce: String,
    stale_retry_used: bool,
}

impl ChallengeGuard {
    /// A guard for a new request: no realm answered yet.
    pub fn new() -> Self {
        ChallengeGuard::default()
    }

    /// Decides whether `challenge` may be answered; records it if so.
    ///
    /// # Errors
    /// [`GiveUp`] when answering would repeat an answer for the same realm:
    /// end the attempt with the failure response as it is.
    pub fn admit(&mut self, challenge: &Challenge) -> Result<(), GiveUp> {
        let Some(prev) = self
            .answered
            .iter_mut()
            .find(|a| a.realm == challenge.realm)
        else {
            self.answered.push(Answered {
                realm: challenge.realm.clone(),
                nonce: challenge.nonce.clone(),
                stale_retry_used: false,
            });
            return Ok(());
        };
        let give_up = |reason| GiveUp {
            realm: challenge.realm.clone(),
            reason,
        };
        if !challenge.stale {
            return Err(give_up(GiveUpReason::ChallengedAgain));
        }
        if challenge.nonce == prev.nonce {
            return Err(give_up(GiveUpReason::StaleWithSameNonce));
        }
        if prev.stale_retry_used {
            return Err(give_up(GiveUpReason::StaleRetryUsed));
        }
        prev.stale_retry_used = true;
        prev.nonce = challenge.nonce.clone();
        Ok(())
    }
}

/// A challenge that must not be answered: end the attempt (DESIGN C18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiveUp {
    /// The realm challenged again.
    pub realm: String,
    /// Why answering again would be a loop.
    pub reason: GiveUpReason,
}

/// Why a [`ChallengeGuard`] refused a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// Challenged again without `stale=true` after we answered: the
    /// credentials were refused.
    ChallengedAgain,
    /// `stale=true` again after the one stale retry.
    StaleRetryUsed,
    /// `stale=true` but with the nonce we already answered.
    StaleWithSameNonce,
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            GiveUpReason::ChallengedAgain => {
                "the server challenged again after our answer: check the username and password \
                 configured for this realm"
            }
            GiveUpReason::StaleRetryUsed => {
                "the server said stale=true again after one stale retry: check the server's nonce \
                 lifetime and clocks"
            }
            GiveUpReason::StaleWithSameNonce => {
                "the server said stale=true with the nonce we already answered: the server is \
                 misbehaving"
            }
        };
        write!(
            f,
            "not answering the digest challenge for realm `{}` again: {why}",
            self.realm
        )
    }
}

impl std::error::Error for GiveUp {}
