//! The registrar (RFC 3261 section 10.3, DESIGN.md section 3), sans-IO.
//!
//! Users come from `[[sip.users]]`; REGISTER from a non-trunk source is
//! authenticated with digest (SHA-256 and MD5 offered, SHA-256 first, RFC
//! 8760; `qop=auth`; nonce expiry answered with `stale=true`; `nc` replay
//! protection; unknown users and wrong passwords get the same 401), the
//! authenticated user must own the AOR in To (else 403), then the Contact
//! header is applied as section 10.3 steps 6 to 8 say. Bindings keep
//! `+sip.instance` and `reg-id` (RFC 5626), the source address, transport
//! and connection, expire in virtual time ([`Registrar::poll_timeout`],
//! [`Registrar::handle_timeout`]) and are persisted through a
//! [`BindingStore`] (writes never block the core).
//!
//! Every committed change is returned as a [`Change`]: the reg event
//! notifier ([`crate::regevent`]) turns them into partial NOTIFYs.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::Deserialize;
use sip_core::{Contacts, HeaderName, Request, ResponseBuilder, StatusCode, Uri};
use sip_digest::{Algorithm, Credentials, Ha1, Verdict, Verifier};
use sip_transport::{ConnId, Inbound};

use crate::bindings::{BindingStore, MemoryStore, StoredBinding};
use crate::config::{Invalid, SipConfig};
use crate::via::stamp_top_via;

/// `[[sip.users]]`: one user who may register (and subscribe).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The digest user name.
    pub username: String,
    /// The password (HA1 values are computed at start and only they are kept).
    #[serde(default)]
    pub password: Option<String>,
    /// Stored MD5 HA1, hex: MD5(username:realm:password).
    #[serde(default)]
    pub ha1_md5: Option<String>,
    /// Stored SHA-256 HA1, hex.
    #[serde(default)]
    pub ha1_sha256: Option<String>,
    /// The AORs this user may register; default `sip:USERNAME@DOMAIN`.
    #[serde(default)]
    pub aors: Vec<String>,
}

/// `[sip.registrar]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    /// The digest realm; default the first of `sip.domains`, else the IP of
    /// the first listening address.
    pub realm: Option<String>,
    /// Shortest registration accepted (shorter gets 423 with Min-Expires).
    pub min_expires: u32,
    /// Longest registration granted (longer requests are shortened).
    pub max_expires: u32,
    /// Expiry when the REGISTER names none.
    pub default_expires: u32,
    /// Digest algorithms challenged with, one WWW-Authenticate each,
    /// strongest first (RFC 8760): `SHA-256`, `MD5`, `SHA-512-256`.
    pub algorithms: Vec<String>,
    /// Challenge INVITEs from phones (407, digest as for REGISTER).
    /// Emergency dial strings are never challenged (Kari's Law).
    pub authenticate_invites: bool,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            realm: None,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            algorithms: vec!["SHA-256".into(), "MD5".into()],
            authenticate_invites: true,
        }
    }
}

/// Checks `[[sip.users]]` and `[sip.registrar]`.
pub(crate) fn validate(c: &SipConfig) -> Vec<Invalid> {
    let mut out = Vec::new();
    let r = &c.registrar;
    if let Some(realm) = &r.realm {
        if realm.is_empty() || realm.contains(['"', '\\', '\r', '\n']) {
            out.push(Invalid::new(
                "sip.registrar.realm",
                format!("{realm:?}"),
                "non-empty text without quotes, backslashes or line breaks",
            ));
        }
    }
    if !(1..=3600).contains(&r.min_expires) {
        out.push(Invalid::new(
            "sip.registrar.min_expires",
            r.min_expires,
            "1 to 3600",
        ));
    }
    if r.max_expires < r.min_expires.max(1) || r.max_expires > 7 * 86_400 {
        out.push(Invalid::new(
            "sip.registrar.max_expires",
            r.max_expires,
            "min_expires to 604800",
        ));
    }
    if r.default_expires < r.min_expires || r.default_expires > r.max_expires {
        out.push(Invalid::new(
            "sip.registrar.default_expires",
            r.default_expires,
            "min_expires to max_expires",
        ));
    }
    if r.algorithms.is_empty() || r.algorithms.iter().any(|a| algorithm(a).is_none()) {
        out.push(Invalid::new(
            "sip.registrar.algorithms",
            format!("{:?}", r.algorithms),
            "one or more of \"SHA-256\", \"MD5\", \"SHA-512-256\"",
        ));
    }
    if c.data_dir.is_empty() {
        out.push(Invalid::new(
            "sip.data_dir",
            "\"\"",
            "a directory path such as \"./locus-data\"",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, u) in c.users.iter().enumerate() {
        let key = |k: &str| format!("sip.users[{i}].{k}");
        let ok_name = !u.username.is_empty()
            && u.username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b));
        if !ok_name {
            out.push(Invalid::new(
                &key("username"),
                format!("{:?}", u.username),
                "a SIP user part (letters, digits and -_.!~*'()&=+$,;?/)",
            ));
        } else if !seen.insert(u.username.clone()) {
            out.push(Invalid::new(
                &key("username"),
                format!("{:?}", u.username),
                "a name not used by another [[sip.users]] entry",
            ));
        }
        if u.password.is_none() && u.ha1_md5.is_none() && u.ha1_sha256.is_none() {
            out.push(Invalid::new(
                &key("password"),
                "missing",
                "a password, or ha1_md5 and/or ha1_sha256",
            ));
        }
        if let Some(h) = &u.ha1_md5 {
            if Ha1::from_hex(Algorithm::Md5, h).is_err() {
                out.push(Invalid::new(
                    &key("ha1_md5"),
                    "(hidden)",
                    "32 hex digits: MD5(username:realm:password)",
                ));
            }
        }
        if let Some(h) = &u.ha1_sha256 {
            if Ha1::from_hex(Algorithm::Sha256, h).is_err() {
                out.push(Invalid::new(
                    &key("ha1_sha256"),
                    "(hidden)",
                    "64 hex digits: SHA-256(username:realm:password)",
                ));
            }
        }
        for (j, a) in u.aors.iter().enumerate() {
            if parse_aor(a).is_none() {
                out.push(Invalid::new(
                    &format!("sip.users[{i}].aors[{j}]"),
                    format!("{a:?}"),
                    "a SIP URI with a user part, such as \"sip:alice@example.com\"",
                ));
            }
        }
    }
    out
}

/// A digest algorithm of `[sip.registrar] algorithms` (no `-sess`).
fn algorithm(name: &str) -> Option<Algorithm> {
    name.parse::<Algorithm>().ok().filter(|a| !a.is_session())
}

/// The canonical form of an AOR: `sip:user@host`, host lower-case, no
/// port or parameters (`sips:` kept).
pub(crate) fn canonical_aor(uri: &Uri<'_>) -> Option<String> {
    let s = uri.as_sip()?;
    let user = s.user.as_deref().filter(|u| !u.is_empty())?;
    let scheme = if s.secure { "sips" } else { "sip" };
    Some(format!(
        "{scheme}:{user}@{}",
        s.host.to_string().to_ascii_lowercase()
    ))
}

fn parse_aor(text: &str) -> Option<String> {
    Uri::parse(text).ok().and_then(|u| canonical_aor(&u))
}

/// A stable short id (FNV-1a 64) for reginfo `id` attributes.
pub(crate) fn short_id(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A user as the registrar keeps it: HA1 values only.
#[derive(Debug, Clone)]
struct User {
    ha1: Vec<Ha1>,
    aors: Vec<String>,
}

/// One contact bound to an AOR.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The persisted part.
    pub stored: StoredBinding,
    /// When it expires.
    pub expires_at: Instant,
    /// The connection the REGISTER came on (TCP/TLS), to reach the phone.
    pub conn: Option<ConnId>,
    /// The local address the REGISTER arrived on.
    pub local: Option<SocketAddr>,
}

/// A committed change to one AOR's bindings: what a partial reginfo
/// `<registration>` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The AOR.
    pub aor: String,
    /// Its state after the change.
    pub state: reginfo::RegState,
    /// The contacts that changed, with their event.
    pub contacts: Vec<reginfo::Contact>,
}

/// A response the registrar (or the notifier) wants sent: status, reason,
/// extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Reason phrase (the canonical one when `None`).
    pub reason: Option<&'static str>,
    /// Extra header lines, in order.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn new(status: u16) -> Self {
        Reply {
            status,
            reason: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Builds the bytes of a response to `req` received from `source`: Vias
/// (the top one stamped, RFC 3261 18.2.1, RFC 3581), From, To (with
/// `to_tag` if it had none), Call-ID, CSeq, then `reply`'s headers.
pub(crate) fn response_bytes(
    req: &Request,
    source: SocketAddr,
    reply: &Reply,
    to_tag: &str,
    user_agent: &str,
) -> Bytes {
    let status = StatusCode::new(reply.status).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
    let mut b = ResponseBuilder::new(status, reply.reason);
    let stamped = req.top_via().and_then(|v| stamp_top_via(&v, source));
    for (i, v) in req.header_values(HeaderName::Via).enumerate() {
        match (&stamped, i) {
            (Some(s), 0) => b = b.raw_header("Via", s.as_bytes()),
            _ => b = b.raw_header("Via", v),
        }
    }
    if let Some(v) = req.first(HeaderName::From) {
        b = b.raw_header("From", v);
    }
    if let Some(v) = req.first(HeaderName::To) {
        if req.to_tag().is_none() && reply.status > 100 {
            let mut to = v.to_vec();
            to.extend_from_slice(b";tag=");
            to.extend_from_slice(to_tag.as_bytes());
            b = b.raw_header("To", to);
        } else {
            b = b.raw_header("To", v);
        }
    }
    if let Some(v) = req.first(HeaderName::CallId) {
        b = b.raw_header("Call-ID", v);
    }
    if let Some(v) = req.first(HeaderName::CSeq) {
        b = b.raw_header("CSeq", v);
    }
    for (n, v) in &reply.headers {
        b = b.raw_header(n, v.as_bytes());
    }
    b.raw_header("Server", user_agent).to_bytes()
}

/// The outcome of authenticating a request.
#[derive(Debug)]
pub(crate) enum Auth {
    /// Authenticated as this user.
    User(String),
    /// Answer with this (401 challenge, 400).
    Reply(Reply),
}

/// What the registrar keeps.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    users: HashMap<String, User>,
    /// Every configured AOR, for the notifier's look-ups.
    aors: HashMap<String, String>,
    default_host: String,
    verifier: Verifier,
    bindings: BTreeMap<String, Vec<Binding>>,
    /// Expiry timers: (when, sequence) to (AOR, key); stale entries (a
    /// refreshed binding) are skipped when they fire.
    timers: BTreeMap<(Instant, u64), (String, String)>,
    timer_seq: u64,
    store: Box<dyn BindingStore>,
    /// (Instant, wall time) pair mapping virtual time to Unix time.
    clock: Option<(Instant, SystemTime)>,
}

/// A fixed wall time for cores whose driver gave no clock (tests).
const DEFAULT_WALL: Duration = Duration::from_secs(1_700_000_000);

/// Nonce lifetime: how long a challenge may be answered.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);

fn random_secret() -> [u8; 32] {
    // SHA-256 over ~210 random bits (sip-core's identifiers).
    let seed = sip_digest::ha1(
        Algorithm::Sha256,
        &sip_core::new_tag(),
        &sip_core::new_tag(),
        &format!("{}{}", sip_core::new_tag(), sip_core::new_branch()),
    );
    let hex = seed.as_hex().as_bytes();
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        *o = (h(hex[2 * i]) << 4) | h(hex[2 * i + 1]);
    }
    out
}

impl Registrar {
    /// A registrar for `config` with no persistence (see
    /// [`Registrar::set_store`]).
    pub fn new(config: &SipConfig) -> Self {
        let listen_ip = config
            .listen
            .first()
            .and_then(|l| l.parse::<sip_transport::ListenAddr>().ok())
            .map_or_else(|| "127.0.0.1".to_owned(), |l| l.addr.ip().to_string());
        let default_host = config
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| listen_ip.clone())
            .to_ascii_lowercase();
        let realm = config
            .registrar
            .realm
            .clone()
            .unwrap_or_else(|| default_host.clone());
        let mut algorithms: Vec<Algorithm> = config
            .registrar
            .algorithms
            .iter()
            .filter_map(|a| algorithm(a))
            .collect();
        if algorithms.is_empty() {
            algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
        }
        let mut users = HashMap::new();
        let mut aors = HashMap::new();
        for u in &config.users {
            let mut ha1 = Vec::new();
            if let Some(p) = &u.password {
                for a in &algorithms {
                    ha1.push(sip_digest::ha1(*a, &u.username, &realm, p));
                }
            }
            if let Some(h) = u.ha1_sha256.as_deref() {
                if let Ok(h) = Ha1::from_hex(Algorithm::Sha256, h) {
                    ha1.retain(|x| x.algorithm() != Algorithm::Sha256);
                    ha1.push(h);
                }
            }
            if let Some(h) = u.ha1_md5.as_deref() {
                if let Ok(h) = Ha1::from_hex(Algorithm::Md5, h) {
                    ha1.retain(|x| x.algorithm() != Algorithm::Md5);
                    ha1.push(h);
                }
            }
            let mut list: Vec<String> = u.aors.iter().filter_map(|a| parse_aor(a)).collect();
            if list.is_empty() {
                list.push(format!("sip:{}@{default_host}", u.username));
            }
            for a in &list {
                aors.insert(a.clone(), u.username.clone());
            }
            users.insert(u.username.clone(), User { ha1, aors: list });
        }
        Registrar {
            cfg: config.registrar.clone(),
            users,
            aors,
            default_host,
            verifier: Verifier::new(realm, random_secret(), NONCE_LIFETIME)
                .with_algorithms(&algorithms),
            bindings: BTreeMap::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            store: Box::new(MemoryStore),
            clock: None,
        }
    }

    /// Maps virtual time to wall time: `now` is `wall`. The driver calls it
    /// once at start, before [`Registrar::load`].
    pub fn set_clock(&mut self, now: Instant, wall: SystemTime) {
        self.clock = Some((now, wall));
    }

    /// Persists through `store` from now on.
    pub fn set_store(&mut self, store: Box<dyn BindingStore>) {
        self.store = store;
    }

    /// Restores bindings read from the store at start (expired ones are
    /// dropped, and removed from the store).
    pub fn load(&mut self, now: Instant, stored: Vec<StoredBinding>) {
        let unix = self.unix(now);
        for s in stored {
            if s.expires_unix <= unix {
                self.store.remove(&s.aor, &s.key);
                continue;
            }
            let expires_at = now + Duration::from_secs(s.expires_unix - unix);
            self.arm(expires_at, &s.aor, &s.key);
            self.bindings
                .entry(s.aor.clone())
                .or_default()
                .push(Binding {
                    stored: s,
                    expires_at,
                    conn: None,
                    local: None,
                });
        }
    }

    /// Whether phones' INVITEs are challenged (`authenticate_invites`).
    pub fn authenticate_invites(&self) -> bool {
        self.cfg.authenticate_invites
    }

    /// Whether any user is configured.
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// The digest realm.
    pub fn realm(&self) -> &str {
        self.verifier.realm()
    }

    /// The host of default AORs.
    pub fn default_host(&self) -> &str {
        &self.default_host
    }

    /// Bound contacts, all AORs.
    pub fn binding_count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    /// The bindings of `aor` (canonical form).
    pub fn bindings(&self, aor: &str) -> &[Binding] {
        self.bindings.get(aor).map_or(&[], Vec::as_slice)
    }

    /// Whether `aor` is configured.
    pub fn is_aor(&self, aor: &str) -> bool {
        self.aors.contains_key(aor)
    }

    /// Whether `user` owns `aor`.
    pub fn owns(&self, user: &str, aor: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.aors.iter().any(|a| a == aor))
    }

    fn wall(&mut self, now: Instant) -> SystemTime {
        let (at, wall) = *self
            .clock
            .get_or_insert((now, SystemTime::UNIX_EPOCH + DEFAULT_WALL));
        if now >= at {
            wall + (now - at)
        } else {
            wall - (at - now)
        }
    }

    pub(crate) fn unix(&mut self, now: Instant) -> u64 {
        self.wall(now)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn arm(&mut self, at: Instant, aor: &str, key: &str) {
        self.timer_seq += 1;
        self.timers
            .insert((at, self.timer_seq), (aor.to_owned(), key.to_owned()));
    }

    /// When [`Registrar::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Expires bindings due at `now`; returns the changes (event `expired`).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Change> {
        let mut changes: BTreeMap<String, Vec<reginfo::Contact>> = BTreeMap::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, _), (aor, key)) = entry.remove_entry();
            let Some(list) = self.bindings.get_mut(&aor) else {
                continue;
            };
            let Some(pos) = list
                .iter()
                .position(|b| b.stored.key == key && b.expires_at == at)
            else {
                continue;
            };
            let b = list.remove(pos);
            if list.is_empty() {
                self.bindings.remove(&aor);
            }
            self.store.remove(&aor, &key);
            tracing::debug!(%aor, uri = %b.stored.uri, "binding expired");
            let c = self.contact(&b, reginfo::ContactEvent::Expired, now);
            changes.entry(aor).or_default().push(c);
        }
        changes
            .into_iter()
            .map(|(aor, contacts)| Change {
                state: self.reg_state(&aor),
                aor,
                contacts,
            })
            .collect()
    }

    fn reg_state(&self, aor: &str) -> reginfo::RegState {
        if self.bindings(aor).is_empty() {
            reginfo::RegState::Terminated
        } else {
            reginfo::RegState::Active
        }
    }

    /// A binding as a reginfo `<contact>` with `event`.
    pub fn contact(
        &mut self,
        b: &Binding,
        event: reginfo::ContactEvent,
        now: Instant,
    ) -> reginfo::Contact {
        let unix = self.unix(now);
        let s = &b.stored;
        let mut c = reginfo::Contact::new(s.id.clone(), s.uri.clone());
        c.state = event.resulting_state();
        c.event = event;
        c.expires = Some(if c.state == reginfo::ContactState::Active {
            b.expires_at.saturating_duration_since(now).as_secs()
        } else {
            0
        });
        c.duration_registered = Some(unix.saturating_sub(s.registered_unix));
        c.q = s.q.clone();
        c.callid = Some(s.call_id.clone());
        c.cseq = Some(u64::from(s.cseq));
        if let Some(i) = &s.instance {
            c.unknown_params
                .push((reginfo::SIP_INSTANCE_PARAM.to_owned(), i.clone()));
        }
        if let Some(r) = s.reg_id {
            c.unknown_params.push(("reg-id".to_owned(), r.to_string()));
        }
        c
    }

    /// The current state of `aor` (or of every AOR with bindings when
    /// `None`) as reginfo registrations, contacts `active`/`registered`.
    pub fn registrations(&mut self, aor: Option<&str>, now: Instant) -> Vec<reginfo::Registration> {
        let aors: Vec<String> = match aor {
            Some(a) => vec![a.to_owned()],
            None => self.bindings.keys().cloned().collect(),
        };
        aors.into_iter()
            .map(|a| {
                let list = self.bindings.get(&a).cloned().unwrap_or_default();
                let mut r = reginfo::Registration::new(
                    a.clone(),
                    short_id(&[&a]),
                    if list.is_empty() {
                        reginfo::RegState::Init
                    } else {
                        reginfo::RegState::Active
                    },
                );
                r.contacts = list
                    .iter()
                    .map(|b| self.contact(b, reginfo::ContactEvent::Registered, now))
                    .collect();
                r
            })
            .collect()
    }

    /// Digest authentication of `req` (RFC 3261 section 22.4).
    pub(crate) fn authenticate(&mut self, now: Instant, req: &Request) -> Auth {
        self.authenticate_as(now, req, false)
    }

    /// Digest authentication of `req`, as a registrar (401,
    /// `Authorization`) or, with `proxy`, as a proxy would challenge an
    /// INVITE (407, `Proxy-Authorization`; RFC 3261 section 22.3).
    pub(crate) fn authenticate_as(&mut self, now: Instant, req: &Request, proxy: bool) -> Auth {
        let wall = self.wall(now);
        let realm = self.verifier.realm().to_owned();
        let asked = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        let creds = req
            .header_values(asked)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .filter_map(|v| Credentials::parse(v).ok())
            .find(|c| c.realm == realm);
        let Some(creds) = creds else {
            return Auth::Reply(self.challenge(wall, false, proxy));
        };
        // A proxy challenge (INVITE) takes any digest uri, as Kamailio's
        // proxy_authorize does: phones (and SIPp) put the server's address
        // there. The nonce and `nc` still stop replays.
        let uri_ok = proxy
            || creds.uri == req.uri_str()
            || Uri::parse(&creds.uri).is_ok_and(|u| u.matches(&req.uri()));
        if !uri_ok {
            return Auth::Reply(Reply::new(400).reason("Bad Request (digest uri mismatch)"));
        }
        let users = &self.users;
        let verdict = self.verifier.verify(
            &creds,
            req.method().as_str(),
            Some(req.body()),
            wall,
            |user, _realm, alg| {
                users
                    .get(user)
                    .and_then(|u| u.ha1.iter().find(|h| h.algorithm() == alg).cloned())
            },
        );
        match verdict {
            Verdict::Ok => Auth::User(creds.username),
            Verdict::Stale => Auth::Reply(self.challenge(wall, true, proxy)),
            Verdict::Failed => Auth::Reply(self.challenge(wall, false, proxy)),
        }
    }

    fn challenge(&self, wall: SystemTime, stale: bool, proxy: bool) -> Reply {
        let (status, header) = if proxy {
            (407, "Proxy-Authenticate")
        } else {
            (401, "WWW-Authenticate")
        };
        let mut r = Reply::new(status);
        for c in self.verifier.challenges(wall, stale) {
            r = r.header(header, c.to_string());
        }
        r
    }

    /// Handles a REGISTER from a non-trunk source: the reply, and the change
    /// it committed, if any.
    pub fn register(
        &mut self,
        now: Instant,
        req: &Request,
        inbound: &Inbound,
    ) -> (Reply, Option<Change>) {
        let Some(aor) = req.to().and_then(|t| canonical_aor(&t.uri)) else {
            return (
                Reply::new(400).reason("Bad Request (To is not an AOR)"),
                None,
            );
        };
        let user = match self.authenticate(now, req) {
            Auth::User(u) => u,
            Auth::Reply(r) => return (r, None),
        };
        if !self.owns(&user, &aor) {
            tracing::info!(%user, %aor, source = %inbound.source, "REGISTER for an AOR the user does not own");
            return (Reply::new(403).reason("Forbidden (not your AOR)"), None);
        }
        let (Some(call_id), Some(cseq)) = (req.call_id(), req.cseq().map(|c| c.seq)) else {
            return (Reply::new(400), None);
        };
        let header_expires = match req.expires() {
            Ok(e) => e,
            Err(_) => return (Reply::new(400).reason("Bad Request (Expires)"), None),
        };
        let contacts = match req.contacts() {
            Ok(c) => c,
            Err(_) => return (Reply::new(400).reason("Bad Request (Contact)"), None),
        };
        let unix = self.unix(now);
        let mut event_contacts = Vec::new();
        match contacts {
            Contacts::Star => {
                // Step 6: `*` only with Expires: 0.
                if header_expires != Some(0) {
                    return (
                        Reply::new(400).reason("Bad Request (Contact * needs Expires: 0)"),
                        None,
                    );
                }
                let list = self.bindings.get(&aor).cloned().unwrap_or_default();
                if list
                    .iter()
                    .any(|b| b.stored.call_id == call_id && cseq <= b.stored.cseq)
                {
                    return (out_of_order(), None);
                }
                self.bindings.remove(&aor);
                for b in &list {
                    self.store.remove(&aor, &b.stored.key);
                    event_contacts.push(self.contact(b, reginfo::ContactEvent::Unregistered, now));
                }
            }
            Contacts::List(list) if !list.is_empty() => {
                // Step 7, tentatively: every contact checked before any is applied.
                let mut plan: Vec<(String, Option<Binding>, u32, sip_core::NameAddr<'_>)> =
                    Vec::new();
                for c in &list {
                    let requested = c
                        .expires()
                        .or(header_expires)
                        .unwrap_or(self.cfg.default_expires);
                    if requested > 0 && requested < self.cfg.min_expires {
                        return (
                            Reply::new(423)
                                .reason("Interval Too Brief")
                                .header("Min-Expires", self.cfg.min_expires.to_string()),
                            None,
                        );
                    }
                    let granted = requested.min(self.cfg.max_expires);
                    let instance = c.param("+sip.instance").flatten().map(str::to_owned);
                    let reg_id = c
                        .param("reg-id")
                        .flatten()
                        .and_then(|v| v.trim().parse::<u32>().ok());
                    let uri = c.uri.to_string();
                    let key = match &instance {
                        Some(i) => match reg_id {
                            Some(r) => format!("inst:{i};reg-id={r}"),
                            None => format!("inst:{i}"),
                        },
                        None => format!("uri:{uri}"),
                    };
                    // A removal without the instance (many phones unregister
                    // so) matches the binding by URI (RFC 3261 10.3 step 7).
                    let existing = self
                        .bindings(&aor)
                        .iter()
                        .find(|b| b.stored.key == key)
                        .or_else(|| {
                            self.bindings(&aor)
                                .iter()
                                .find(|b| granted == 0 && instance.is_none() && b.stored.uri == uri)
                        })
                        .cloned();
                    if let Some(b) = &existing {
                        if b.stored.call_id == call_id && cseq <= b.stored.cseq {
                            return (out_of_order(), None);
                        }
                    }
                    plan.push((key, existing, granted, c.clone()));
                }
                for (key, existing, granted, c) in plan {
                    if granted == 0 {
                        if let Some(b) = existing {
                            self.remove_binding(&aor, &b.stored.key);
                            event_contacts.push(self.contact(
                                &b,
                                reginfo::ContactEvent::Unregistered,
                                now,
                            ));
                        }
                        continue;
                    }
                    let expires_at = now + Duration::from_secs(u64::from(granted));
                    let stored = StoredBinding {
                        aor: aor.clone(),
                        id: short_id(&[&aor, &key]),
                        uri: c.uri.to_string(),
                        q: c.q().map(str::to_owned),
                        instance: c.param("+sip.instance").flatten().map(str::to_owned),
                        reg_id: c
                            .param("reg-id")
                            .flatten()
                            .and_then(|v| v.trim().parse::<u32>().ok()),
                        call_id: call_id.to_owned(),
                        cseq,
                        expires_unix: unix + u64::from(granted),
                        registered_unix: existing
                            .as_ref()
                            .map_or(unix, |b| b.stored.registered_unix),
                        source: inbound.source.to_string(),
                        transport: inbound.transport.to_string().to_ascii_lowercase(),
                        key,
                    };
                    let event = if existing.is_some() {
                        reginfo::ContactEvent::Refreshed
                    } else {
                        reginfo::ContactEvent::Registered
                    };
                    let b = Binding {
                        stored,
                        expires_at,
                        conn: inbound.conn,
                        local: Some(inbound.local),
                    };
                    self.store.put(&b.stored);
                    self.arm(expires_at, &aor, &b.stored.key);
                    event_contacts.push(self.contact(&b, event, now));
                    let list = self.bindings.entry(aor.clone()).or_default();
                    match list.iter_mut().find(|x| x.stored.key == b.stored.key) {
                        Some(slot) => *slot = b,
                        None => list.push(b),
                    }
                }
            }
            Contacts::List(_) => {} // a query: step 8 only
        }
        // Step 8: every current binding with its expiry.
        let mut reply = Reply::new(200);
        for b in self.bindings(&aor) {
            let s = &b.stored;
            let mut v = format!(
                "<{}>;expires={}",
                s.uri,
                b.expires_at.saturating_duration_since(now).as_secs()
            );
            if let Some(q) = &s.q {
                v.push_str(&format!(";q={q}"));
            }
            if let Some(i) = &s.instance {
                v.push_str(&format!(";+sip.instance={i}"));
            }
            if let Some(r) = s.reg_id {
                v.push_str(&format!(";reg-id={r}"));
            }
            reply.headers.push(("Contact", v));
        }
        let date = http_date(self.wall(now));
        reply = reply.header("Date", date);
        let change = (!event_contacts.is_empty()).then(|| Change {
            state: self.reg_state(&aor),
            aor: aor.clone(),
            contacts: event_contacts,
        });
        if let Some(c) = &change {
            tracing::debug!(aor = %c.aor, changed = c.contacts.len(), "bindings updated");
        }
        (reply, change)
    }

    fn remove_binding(&mut self, aor: &str, key: &str) {
        if let Some(list) = self.bindings.get_mut(aor) {
            list.retain(|b| b.stored.key != key);
            if list.is_empty() {
                self.bindings.remove(aor);
            }
        }
        self.store.remove(aor, key);
    }

    /// Resolves the AOR a SUBSCRIBE's Request-URI names: the canonical
    /// URI when configured, else the user at the default host. `None` when
    /// no configured AOR matches.
    pub fn resolve_aor(&self, uri: &Uri<'_>) -> Option<String> {
        let a = canonical_aor(uri)?;
        if self.is_aor(&a) {
            return Some(a);
        }
        let user = uri.as_sip()?.user.as_deref()?.to_owned();
        let scheme = if uri.as_sip()?.secure { "sips" } else { "sip" };
        let alt = format!("{scheme}:{user}@{}", self.default_host);
        self.is_aor(&alt).then_some(alt)
    }
}

/// RFC 3261 section 10.3 steps 6 and 7: the same Call-ID with a CSeq not
/// higher than the binding's aborts the update; the request fails.
fn out_of_order() -> Reply {
    Reply::new(500).reason("Server Internal Error (out-of-order REGISTER)")
}

/// An RFC 1123 date, as the Date header writes it.
fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {h:02}:{m:02}:{s:02} GMT",
        WD[(days % 7) as usize],
        MO[(mo - 1) as usize]
    )
}

#[cfg(test)]
mod tests;
