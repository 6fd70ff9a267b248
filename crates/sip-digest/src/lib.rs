//! SIP digest authentication for Locus, both sides, as pure code.
//!
//! This crate owns one idea: the digest access authentication of RFC 3261
//! section 22 with the algorithms of RFC 7616 as SIP uses them (RFC 8760):
//! MD5, SHA-256 and SHA-512/256, each with its `-sess` variant, `qop=auth`
//! and `qop=auth-int`.
//!
//! - **Header values.** [`Challenge`] (WWW-Authenticate, Proxy-Authenticate)
//!   and [`Credentials`] (Authorization, Proxy-Authorization) parse from and
//!   format to header values, with quoted-string escaping.
//! - **Client side** (trunks answering carrier challenges, DESIGN C18; test
//!   phones): [`pick_challenge`] chooses the strongest offered algorithm,
//!   [`respond`] computes the answer, and a [`ChallengeGuard`] per request
//!   makes sure a challenge is answered once and never in a loop.
//! - **Server side** (the registrar, DESIGN section 3): a [`NonceManager`]
//!   issues stateless, HMAC-signed nonces that carry their issue time, and a
//!   [`Verifier`] checks credentials against stored HA1 values ([`ha1`]), with
//!   nonce expiry (`stale=true`), bounded `nc` replay protection, and the same
//!   answer, in similar time, for unknown users and wrong passwords.
//!
//! It must not do IO, spawn, read clocks or draw randomness: time comes in as
//! a `now: SystemTime` argument, the nonce secret and client nonces come from
//! the caller. It does not parse SIP messages (that is `sip-core`): it takes
//! the value of one authentication header.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use sip_digest::{ha1, pick_challenge, respond, Algorithm, Challenge, Credentials, Verdict, Verifier};
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let mut registrar = Verifier::new("example.com", [7; 32], Duration::from_secs(300));
//! // 401: one WWW-Authenticate per algorithm, SHA-256 first.
//! let headers: Vec<String> = registrar.challenges(now, false).iter().map(|c| c.to_string()).collect();
//!
//! // The phone parses them, picks SHA-256 and answers.
//! let offered: Vec<Challenge> = headers.iter().filter_map(|h| Challenge::parse(h).ok()).collect();
//! let chosen = pick_challenge(&offered).unwrap();
//! assert_eq!(chosen.algorithm, Algorithm::Sha256);
//! let auth = respond(chosen, "REGISTER", "sip:example.com", "alice", "secret", "c1", 1, None).unwrap();
//!
//! // The registrar verifies with stored HA1 values, never plain passwords.
//! let creds = Credentials::parse(&auth.to_string()).unwrap();
//! let verdict = registrar.verify(&creds, "REGISTER", None, now, |user, realm, alg| {
//!     (user == "alice").then(|| ha1(alg, user, realm, "secret"))
//! });
//! assert_eq!(verdict, Verdict::Ok);
//! ```

#![forbid(unsafe_code)]

mod algorithm;
mod challenge;
mod client;
mod compute;
mod credentials;
mod error;
mod hex;
mod params;
mod server;

pub use algorithm::{Algorithm, Qop};
pub use challenge::Challenge;
pub use client::{pick_challenge, respond, ChallengeGuard, GiveUp, GiveUpReason};
pub use credentials::Credentials;
pub use error::{Ha1Error, ParseError, RespondError};
pub use server::{challenges, ha1, Ha1, NonceCheck, NonceManager, Verdict, Verifier};
