//! The server side (the registrar): signed nonces, challenges, stored HA1
//! values and credential verification (RFC 3261 section 22.4, RFC 7616
//! sections 3.3 and 5, RFC 8760).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::algorithm::Algorithm;
use crate::challenge::Challenge;
use crate::compute::{self, Inputs};
use crate::credentials::Credentials;
use crate::error::Ha1Error;
use crate::hex;

/// A stored HA1: H(username ":" realm ":" password) for one base algorithm
/// (MD5, SHA-256 or SHA-512-256; `-sess` variants use their base's HA1).
///
/// A credential store keeps one per user and algorithm it offers, so it
/// never needs the plain password. It is password-equivalent for that
/// realm: `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1 {
    algorithm: Algorithm,
    hex: String,
}

impl Ha1 {
    /// Reads a stored HA1 (hex, either case) for `algorithm`'s base.
    ///
    /// # Errors
    /// [`Ha1Error::BadHex`] when it is not hex of the digest's length.
    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Ha1, Ha1Error> {
        let algorithm = algorithm.base();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Ha1Error::BadHex {
                algorithm,
                len: hex.len(),
            });
        }
        Ok(Ha1 {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// The base algorithm this HA1 is for.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Lower-case hex, for storing.
    pub fn as_hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ha1")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Computes the HA1 to store for `user` in `realm` (for `algorithm`'s base).
pub fn ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> Ha1 {
    Ha1 {
        algorithm: algorithm.base(),
        hex: compute::base_ha1(algorithm, user, realm, password),
    }
}

/// Challenges for `realm` and `nonce`, one per algorithm (RFC 8760 section
/// 2.4), strongest first (SHA-256 before MD5), duplicates removed; each
/// offers `qop="auth"`.
pub fn challenges(realm: &str, nonce: &str, algorithms: &[Algorithm]) -> Vec<Challenge> {
    let mut algs = algorithms.to_vec();
    algs.sort_by_key(|a| std::cmp::Reverse(a.strength()));
    let mut out: Vec<Challenge> = Vec::with_capacity(algs.len());
    for a in algs {
        if !out.iter().any(|c| c.algorithm == a) {
            out.push(Challenge::new(realm, nonce, a));
        }
    }
    out
}

/// What [`NonceManager::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours and within its lifetime.
    Valid,
    /// Ours but expired (or dated ahead of our clock): challenge again with
    /// `stale=true`.
    Stale,
    /// Not a nonce we issued (tampered, truncated or from another secret).
    Invalid,
}

/// Issues and checks stateless nonces: issue time, a counter, and an
/// HMAC-SHA-256 tag (truncated to 128 bits) over both, in 64 hex digits.
///
/// Nothing is stored per nonce, so nonces survive as long as the secret
/// does (keep it across restarts to keep outstanding nonces valid). The
/// counter makes nonces issued in the same second differ.
pub struct NonceManager {
    key: [u8; 32],
    lifetime: Duration,
    counter: AtomicU64,
}

/// Tolerated clock disagreement for nonces dated in the future.
const FUTURE_SKEW_SECS: u64 = 60;
const NONCE_BYTES: usize = 32;
const TAG_BYTES: usize = 16;

impl NonceManager {
    /// A manager signing with `secret` (32 random bytes from the caller),
    /// whose nonces are valid for `lifetime` (whole seconds).
    pub fn new(secret: [u8; 32], lifetime: Duration) -> Self {
        NonceManager {
            key: secret,
            lifetime,
            counter: AtomicU64::new(0),
        }
    }

    /// How long a nonce stays valid.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new nonce issued at `now`.
    pub fn issue(&self, now: SystemTime) -> String {
        let issued = unix_secs(now);
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut raw = [0u8; NONCE_BYTES];
        raw[..8].copy_from_slice(&issued.to_be_bytes());
        raw[8..16].copy_from_slice(&count.to_be_bytes());
        let tag = self.tag(&raw[..16]);
        raw[16..].copy_from_slice(&tag[..TAG_BYTES]);
        hex::encode(&raw)
    }

    /// Checks a nonce echoed by a client at `now`.
    pub fn verify(&self, nonce: &str, now: SystemTime) -> NonceCheck {
        match self.decode(nonce) {
            None => NonceCheck::Invalid,
            Some((issued, _)) => self.age_check(issued, unix_secs(now)),
        }
    }

    fn age_check(&self, issued: u64, now: u64) -> NonceCheck {
        if issued > now.saturating_add(FUTURE_SKEW_SECS)
            || now >= issued.saturating_add(self.lifetime.as_secs())
        {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }

    /// The issue time and counter of a nonce whose tag is ours.
    fn decode(&self, nonce: &str) -> Option<(u64, u64)> {
        let mut raw = [0u8; NONCE_BYTES];
        hex::decode_into(nonce, &mut raw)?;
        let tag = self.tag(&raw[..16]);
        if !bool::from(tag[..TAG_BYTES].ct_eq(&raw[16..])) {
            return None;
        }
        let issued = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let count = u64::from_be_bytes(raw[8..16].try_into().ok()?);
        Some((issued, count))
    }

    fn tag(&self, data: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length: a 32-byte key cannot be refused.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"locus sip-digest nonce v1");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for NonceManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceManager")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The outcome of [`Verifier::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Authenticated: the user knows the password, the nonce is fresh and
    /// this `nc` was not seen before.
    Ok,
    /// The answer was right but its nonce expired (or was forgotten by the
    /// replay tracker): send [`Verifier::challenges`] with `stale = true`;
    /// the client answers again without asking its user.
    Stale,
    /// Anything else (wrong password, unknown user, foreign or tampered
    /// nonce, replayed `nc`, other realm, algorithm not offered, no qop):
    /// send a fresh challenge. Deliberately one answer for all of them, so
    /// users cannot be enumerated.
    Failed,
}

/// The registrar's digest authenticator for one realm.
///
/// Call [`challenges`](Self::challenges) to build the WWW-Authenticate
/// headers of a 401 (or Proxy-Authenticate of a 407), and
/// [`verify`](Self::verify) on the credentials of the retried request.
/// Requires `qop` (`auth`, or `auth-int`) so that the nonce count protects
/// against replays; remembers the highest `nc` of up to
/// `replay_capacity` recently used nonces (entries leave when their nonce
/// expires; if a still-valid nonce has to be forgotten, later uses of
/// nonces as old get [`Verdict::Stale`], never a replay accepted).
#[derive(Debug)]
pub struct Verifier {
    realm: String,
    nonces: NonceManager,
    algorithms: Vec<Algorithm>,
    replay: ReplayTracker,
}

impl Verifier {
    /// Replay tracker size of [`Verifier::new`]: nonces in use at once.
    pub const DEFAULT_REPLAY_CAPACITY: usize = 65_536;

    /// A verifier for `realm`, signing nonces with `secret` (32 random
    /// bytes) valid for `nonce_lifetime`, offering SHA-256 and MD5.
    pub fn new(realm: impl Into<String>, secret: [u8; 32], nonce_lifetime: Duration) -> Self {
        Verifier {
            realm: realm.into(),
            nonces: NonceManager::new(secret, nonce_lifetime),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            replay: ReplayTracker::new(Self::DEFAULT_REPLAY_CAPACITY),
        }
    }

    /// Offers and accepts exactly `algorithms` (strongest offered first).
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = challenges("", "", algorithms)
            .into_iter()
            .map(|c| c.algorithm)
            .collect();
        self
    }

    /// Remembers `nc` for up to `capacity` nonces (at least 1).
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay = ReplayTracker::new(capacity);
        self
    }

    /// The realm challenged for.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The algorithms offered and accepted, strongest first.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The nonce manager.
    pub fn nonces(&self) -> &NonceManager {
        &self.nonces
    }

    /// Challenges with a new nonce, one per algorithm, strongest first;
    /// `stale` after a [`Verdict::Stale`].
    pub fn challenges(&self, now: SystemTime, stale: bool) -> Vec<Challenge> {
        let nonce = self.nonces.issue(now);
        let mut out = challenges(&self.realm, &nonce, &self.algorithms);
        for c in &mut out {
            c.stale = stale;
        }
        out
    }

    /// Verifies `credentials` sent with a request of `method` (and `body`,
    /// for `qop=auth-int`; `None` is an empty body) at `now`.
    ///
    /// `lookup(username, realm, algorithm)` returns the stored HA1 of that
    /// user for that base algorithm, or `None` for no such user. Whatever
    /// it returns, the same digest is computed and compared in constant
    /// time, and an unknown user gets the same [`Verdict::Failed`] as a
    /// wrong password. Only a right answer updates the replay tracker.
    ///
    /// The caller still checks, as RFC 3261 section 22.4 asks, that the
    /// credentials' `uri` names the request's Request-URI and that the
    /// authenticated user may act on the AOR (To of a REGISTER).
    pub fn verify<F>(
        &mut self,
        credentials: &Credentials,
        method: &str,
        body: Option<&[u8]>,
        now: SystemTime,
        lookup: F,
    ) -> Verdict
    where
        F: FnOnce(&str, &str, Algorithm) -> Option<Ha1>,
    {
        let c = credentials;
        let algorithm = c.algorithm;
        let cnonce = c.cnonce.as_deref().unwrap_or_default();
        let nc = c.nc.unwrap_or(0);
        let well_formed = c.realm == self.realm
            && self.algorithms.contains(&algorithm)
            && c.qop.is_some()
            && nc >= 1
            && !cnonce.is_empty();

        let stored = lookup(&c.username, &self.realm, algorithm.base())
            .filter(|h| h.algorithm == algorithm.base());
        let known = stored.is_some();
        let dummy;
        let ha1_hex = match &stored {
            Some(h) => h.hex.as_str(),
            None => {
                dummy = "0".repeat(algorithm.hex_len());
                dummy.as_str()
            }
        };
        let expected = compute::response(
            ha1_hex,
            &Inputs {
                algorithm,
                nonce: &c.nonce,
                cnonce,
                nc,
                qop: c.qop,
                method,
                uri: &c.uri,
                body: body.unwrap_or_default(),
            },
        );
        let given = c.response.to_ascii_lowercase();
        let digest_ok = bool::from(expected.as_bytes().ct_eq(given.as_bytes()));
        // The dummy HA1 is public: never accept an answer computed from it.
        if !(digest_ok & known & well_formed) {
            return Verdict::Failed;
        }

        let Some((issued, count)) = self.nonces.decode(&c.nonce) else {
            return Verdict::Failed;
        };
        let now = unix_secs(now);
        match self.nonces.age_check(issued, now) {
            NonceCheck::Valid => {}
            NonceCheck::Stale => return Verdict::Stale,
            NonceCheck::Invalid => return Verdict::Failed,
        }
        let id = (u128::from(issued) << 64) | u128::from(count);
        match self
            .replay
            .check(id, issued, nc, now, self.nonces.lifetime.as_secs())
        {
            NcCheck::Fresh => Verdict::Ok,
            NcCheck::Replayed => Verdict::Failed,
            NcCheck::Forgotten => Verdict::Stale,
        }
    }
}

/// The highest `nc` seen per nonce, for a bounded number of nonces.
///
/// Entries are queued in first-use order; an expired entry at the front
/// leaves on the next check, and when full the front entry is evicted. If
/// an evicted entry's nonce was still valid, the tracker remembers its issue
/// time: nonces issued no later than that and not tracked are `Forgotten`
/// (the client gets `stale=true` and a new nonce), so eviction never lets a
/// replay through.
#[derive(Debug)]
struct ReplayTracker {
    capacity: usize,
    highest: HashMap<u128, u32>,
    /// (nonce id, issue time) in first-use order.
    order: VecDeque<(u128, u64)>,
    forgotten_up_to: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
enum NcCheck {
    Fresh,
    Replayed,
    Forgotten,
}

impl ReplayTracker {
    fn new(capacity: usize) -> Self {
        ReplayTracker {
            capacity: capacity.max(1),
            highest: HashMap::new(),
            order: VecDeque::new(),
            forgotten_up_to: None,
        }
    }

    fn check(&mut self, id: u128, issued: u64, nc: u32, now: u64, lifetime: u64) -> NcCheck {
        while let Some(&(old, old_issued)) = self.order.front() {
            if now < old_issued.saturating_add(lifetime) {
                break;
            }
            self.order.pop_front();
            self.highest.remove(&old);
        }
        if let Some(highest) = self.highest.get_mut(&id) {
            return if nc > *highest {
                *highest = nc;
                NcCheck::Fresh
            } else {
                NcCheck::Replayed
            };
        }
        if self.forgotten_up_to.is_some_and(|t| issued <= t) {
            return NcCheck::Forgotten;
        }
        if self.highest.len() >= self.capacity {
            if let Some((old, old_issued)) = self.order.pop_front() {
                self.highest.remove(&old);
                let t = self
                    .forgotten_up_to
                    .map_or(old_issued, |t| t.max(old_issued));
                self.forgotten_up_to = Some(t);
            }
            // The evicted nonce may be newer than this one.
            if self.forgotten_up_to.is_some_and(|t| issued <= t) {
                return NcCheck::Forgotten;
            }
        }
        self.highest.insert(id, nc);
        self.order.push_back((id, issued));
        NcCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_increasing_nc_and_expiry() {
        let mut t = ReplayTracker::new(4);
        assert_eq!(t.check(1, 100, 1, 100, 60), NcCheck::Fresh);
        assert_eq!(t.check(1, 100, 1, 101, 60), NcCheck::Replayed);
        assert_eq!(t.check(1, 100, 3, 101, 60), NcCheck::Fresh);
        assert_eq!(t.check(1, 100, 2, 101, 60), NcCheck::Replayed);
        // After expiry the entry is gone (the nonce check says Stale first).
        t.check(2, 170, 1, 170, 60);
        assert!(!t.highest.contains_key(&1));
        assert_eq!(t.highest.len(), 1);
    }

    #[test]
    fn tracker_is_bounded_and_never_lets_a_replay_through() {
        let mut t = ReplayTracker::new(2);
        assert_eq!(t.check(1, 100, 1, 100, 600), NcCheck::Fresh);
        assert_eq!(t.check(2, 101, 1, 101, 600), NcCheck::Fresh);
        assert_eq!(t.check(3, 102, 1, 102, 600), NcCheck::Fresh);
        assert_eq!(t.highest.len(), 2);
        assert_eq!(t.order.len(), 2);
        // Nonce 1 was evicted while valid: its replay is not accepted.
        assert_eq!(t.check(1, 100, 1, 103, 600), NcCheck::Forgotten);
        assert_eq!(t.check(1, 100, 2, 103, 600), NcCheck::Forgotten);
        // Newer nonces are still tracked normally.
        assert_eq!(t.check(3, 102, 1, 103, 600), NcCheck::Replayed);
        assert_eq!(t.check(4, 104, 1, 104, 600), NcCheck::Fresh);
        assert!(t.highest.len() <= 2);
    }

    #[test]
    fn nonce_layout() {
        let m = NonceManager::new([1; 32], Duration::from_secs(30));
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let a = m.issue(t);
        let b = m.issue(t);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(m.decode(&a), Some((1000, 0)));
        assert_eq!(m.decode(&b), Some((1000, 1)));
        assert_eq!(m.verify(&a.to_ascii_uppercase(), t), NonceCheck::Valid);
    }

    #[test]
    fn unknown_user_cannot_use_the_dummy_ha1() {
        // The HA1 used for unknown users is public (zeros): an answer
        // computed from it must still fail.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut v = Verifier::new("r", [3; 32], Duration::from_secs(60));
        let c = v.challenges(now, false).remove(0);
        let response = compute::response(
            &"0".repeat(64),
            &Inputs {
                algorithm: c.algorithm,
                nonce: &c.nonce,
                cnonce: "cn",
                nc: 1,
                qop: Some(crate::Qop::Auth),
                method: "REGISTER",
                uri: "sip:r",
                body: b"",
            },
        );
        let forged = Credentials {
            username: "nobody".into(),
            realm: "r".into(),
            nonce: c.nonce.clone(),
            uri: "sip:r".into(),
            response,
            algorithm: c.algorithm,
            cnonce: Some("cn".into()),
            nc: Some(1),
            qop: Some(crate::Qop::Auth),
            opaque: None,
        };
        assert_eq!(
            v.verify(&forged, "REGISTER", None, now, |_, _, _| None),
            Verdict::Failed
        );
        // The same answer with a store holding that HA1 passes: the forgery
        // itself was well-formed.
        let zeros = |_: &str, _: &str, a: Algorithm| Ha1::from_hex(a, &"0".repeat(64)).ok();
        assert_eq!(v.verify(&forged, "REGISTER", None, now, zeros), Verdict::Ok);
    }

    #[test]
    fn ha1_debug_hides_the_value() {
        let h = ha1(Algorithm::Md5Sess, "u", "r", "p");
        assert_eq!(h.algorithm(), Algorithm::Md5);
        assert!(!format!("{h:?}").contains(h.as_hex()));
        assert_eq!(
            Ha1::from_hex(Algorithm::Md5, &h.as_hex().to_uppercase()),
            Ok(h)
        );
        assert_eq!(
            Ha1::from_hex(Algorithm::Sha256, "abc"),
            Err(Ha1Error::BadHex {
                algorithm: Algorithm::Sha256,
                len: 3
            })
        );
    }
}
