//! E9 and E15: the reg event subscriber of one call server (RFC 3680 over
//! RFC 6665), sans-IO.
//!
//! A [`Subscriber`] subscribes to the `reg` event package of **every** SIP
//! server (member) of one call server's cluster and keeps, per member, the
//! registrations that member reports ([`reginfo::RegistrationSet`]). It
//! passes device changes ([`reginfo::DeviceChange`]) to the application
//! only from the **active** member: the first healthy member in the
//! configured order. When the active member changes (its subscription was
//! lost or terminated, or an earlier member became healthy again), it emits
//! the difference between what the application last saw and the new
//! member's current state, so a change made while the old member was
//! active is neither lost nor repeated (E15, the ICD's "any device changes
//! will be captured even if there are changes during a failover period").
//!
//! # Modes
//!
//! * [`SubscribeMode::Server`]: one SUBSCRIBE per member whose Request-URI
//!   names the server with no user part (RFC 3680 whole-server, the ICD's
//!   single subscription, DESIGN E1); RFC 3680 section 5.2 version rules.
//! * [`SubscribeMode::PerAor`]: Kamailio 5.6 (DESIGN.md section 6): one
//!   subscription per AOR and member; every NOTIFY is full state with
//!   version 0 ([`reginfo::QuirkMode::KamailioPerAor`]) and describes only
//!   its AOR; a bare `<registration state="terminated"/>`, or a full
//!   document that does not name the AOR, means the AOR has no device.
//!
//! # Subscription life (per member, per AOR in `PerAor` mode)
//!
//! ```text
//!            retry_at reached                 2xx or NOTIFY
//!   Idle ---------------------> Subscribing -----------------> Active
//!    ^   (new Call-ID, tag, version tracker)                  |   |
//!    |                                                        |   | refresh_at: in-dialog
//!    |  non-2xx, timeout, NOTIFY terminated, expiry,          |   | SUBSCRIBE (2xx: new expiry;
//!    |  no NOTIFY within 64*T1 after the 2xx                  |   | version gap: same, at once)
//!    +--------------------------------------------------------+<--+
//!       (retry_at = now + backoff, at least Retry-After / retry-after)
//! ```
//!
//! A member is **healthy** when each of its subscriptions is active (not
//! `pending`) and has received its full state.
//!
//! Member check ([`SubscriberConfig::member_check`], E15): a SIP server
//! killed without a word sends no NOTIFY `terminated`, so a member with an
//! established subscription that stays silent for the interval is asked
//! an OPTIONS; any message from it (a NOTIFY, a response, the OPTIONS'
//! answer whatever its status) shows it alive; none within
//! [`SubscriberConfig::member_check_timeout`] fails each of its
//! subscriptions (408, backoff) and the next healthy member takes over.
//!
//! Retry policy: errors and timeouts back off exponentially
//! ([`Backoff`]: 1 s doubling to 60 s, jitter from a seeded RNG); 489 Bad
//! Event and the RFC 6665 section 4.1.3 reasons `rejected`, `noresource`
//! and `invariant` wait [`SubscriberConfig::long_backoff`] (the RFC says
//! not to retry at all, but an E911 manager that silently stops tracking
//! devices is worse than one that asks again every ten minutes: the
//! [`SubscriberEvent::SubscriptionState`] event tells the operator);
//! `deactivated`, `timeout` and a missing reason retry at once the first
//! time, then back off; `probation` and `giveup` back off. A
//! `retry-after` parameter (or a Retry-After header on an error response)
//! is always honoured as the minimum wait. A failed refresh of any kind is
//! treated as a lost subscription and starts a new one (simpler than
//! RFC 6665 section 4.1.2.2's "still valid until it expires", and safe:
//! the new subscription brings full state).
//!
//! # Full state split over several NOTIFYs (E2)
//!
//! A notifier may split a large full state: the first body `full`, the rest
//! `partial`. Applying the first body to a non-empty set removes, for a
//! moment, the AORs the next bodies bring back. So after a full document
//! (RFC 3680 mode, set not empty) the member **settles** for
//! [`SubscriberConfig::full_state_settle`] (extended by each following
//! partial document, at most ten times): the active member's changes are
//! then emitted once, as the difference between the state before and after
//! the burst. The first download (empty set) and Kamailio's per-AOR
//! documents never settle: they cannot cause transient removals.
//!
//! # Contract (quinn style)
//!
//! * Input: [`Subscriber::handle_message`] for every NOTIFY and every
//!   response whose CSeq method is SUBSCRIBE (see
//!   [`crate::redirect::route`]), [`Subscriber::handle_timeout`] when
//!   [`Subscriber::poll_timeout`] is reached. [`Subscriber::start`] once.
//! * Output, after every call: drain [`Subscriber::poll_transmit`] (send
//!   the bytes to the address over the transport) and
//!   [`Subscriber::poll_event`] (persist device changes, log states).
//! * Nothing here reads a clock, touches a socket or the store.
//!
//! Transactions: client SUBSCRIBE and server NOTIFY transactions run in a
//! [`sip_transaction::TransactionTable`] (retransmissions over UDP, Timer F
//! as the SUBSCRIBE timeout, NOTIFY retransmissions absorbed and answered
//! with the same 200). Route sets are not kept: the notifier is the SIP
//! server itself, reached directly at the member's address.
//!
//! Known limit: the switch-over difference matches contacts by their
//! reginfo `id` (as [`reginfo::RegistrationSet::diff`] does). Members that
//! share their registrations (Locus nodes on one PostgreSQL) report the
//! same ids; members that number contacts independently make a switch-over
//! report each device as removed and added again (nothing is lost).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reginfo::{DeviceChange, DocState, QuirkMode, RegInfo, RegistrationSet, VersionTracker};
use sip_core::{
    Contacts, HeaderName, Message, Method, Request, RequestBuilder, Response, StatusCode,
};
use sip_transaction::{Action, Kind, TimerConfig, TransactionId, TransactionKey, TransactionTable};
use sip_transport::Transport;

// ---------------------------------------------------------------------------
// Shared helpers (also used by `redirect.rs`).
// ---------------------------------------------------------------------------

/// Exponential backoff with jitter: attempt `n` waits
/// `min(initial * 2^n, max) * (1 - jitter * u)`, `u` uniform in `[0, 1)`
/// from the caller's seeded RNG. The jitter only shortens the wait, so the
/// cap is never exceeded; `jitter = 0` gives exact, testable instants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Fraction of the wait that may be cut at random, `0.0..=1.0`
    /// (clamped; NaN counts as 0).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

/// No wait computed from a configuration is longer than this: it keeps the
/// float arithmetic of the jitter far from `Duration`'s limits.
const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);

impl Backoff {
    /// The wait before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let base = self
            .initial
            .saturating_mul(factor)
            .min(self.max)
            .min(MAX_WAIT);
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        if jitter == 0.0 {
            return base;
        }
        // 1 - jitter*u lies in (0, 1]: never negative, never above the cap.
        base.mul_f64(1.0 - jitter * rng.f64())
    }
}

/// Whether a message was meant for the machine it was given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Handled {
    /// The machine took the message (it may have dropped it as a stray).
    Consumed,
    /// Not this machine's message: give it to another one.
    NotMine,
}

pub(crate) fn tx_transport(t: Transport) -> sip_transaction::Transport {
    if t.is_reliable() {
        sip_transaction::Transport::Reliable
    } else {
        sip_transaction::Transport::Unreliable
    }
}

pub(crate) fn kind_of(m: &Method) -> Kind {
    match m {
        Method::Invite => Kind::Invite,
        Method::Ack => Kind::Ack,
        Method::Cancel => Kind::Cancel,
        _ => Kind::Other,
    }
}

/// The server transaction key of a request (RFC 3261 section 17.2.3); a
/// branch without the magic cookie (RFC 2543 peer) gets a key built from
/// the fields RFC 2543 matched on. `None` without a usable Via.
pub(crate) fn server_key(req: &Request, kind: Kind) -> Option<TransactionKey> {
    let via = req.top_via()?;
    let sent_by = match via.port {
        Some(p) => format!("{}:{p}", via.host),
        None => via.host.to_string(),
    };
    match via.branch() {
        Some(b) if via.is_rfc3261_branch() => Some(TransactionKey::server(b, &sent_by, kind)),
        _ => {
            let cseq = req.cseq()?;
            let synthetic = format!(
                "rfc2543;{};{};{};{}",
                req.call_id().unwrap_or(""),
                cseq.seq,
                req.from_tag().unwrap_or(""),
                req.uri_str(),
            );
            Some(TransactionKey::server(&synthetic, &sent_by, kind))
        }
    }
}

/// A `Retry-After` header's delta-seconds (RFC 3261 section 20.33; the
/// comment and parameters are ignored).
pub(crate) fn retry_after_header(resp: &Response) -> Option<u32> {
    let v = resp.first(HeaderName::RetryAfter)?;
    let digits: Vec<u8> = v
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// A header holding one number (Min-Expires).
pub(crate) fn number_header(resp: &Response, name: HeaderName) -> Option<u32> {
    std::str::from_utf8(resp.first(name)?)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// When to refresh something granted for `expires` seconds (a
/// subscription, a publication): at 80 % or 30 s before the end, whichever
/// is earlier, never sooner than `floor`, never after the end.
pub(crate) fn refresh_after(expires: u32, floor: Duration) -> Duration {
    let e = Duration::from_secs(u64::from(expires));
    // Integer arithmetic: 80 % of at most u32::MAX seconds cannot overflow.
    let at = Duration::from_millis(u64::from(expires) * 800)
        .min(e.saturating_sub(Duration::from_secs(30)));
    at.max(floor).min(e)
}

/// Strips CR and LF so configured text can never split a header.
pub(crate) fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], "")
}

// ---------------------------------------------------------------------------
// Configuration and public types.
// ---------------------------------------------------------------------------

/// One SIP server of the cluster, as the ICD's call server record lists it
/// (IP address, transport, port; DESIGN E14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Where to send the SUBSCRIBEs.
    pub addr: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    /// The server's SIP domain for the Request-URI and To of the
    /// whole-server subscription (and the host of bare user AORs); its IP
    /// address when `None`.
    pub domain: Option<String>,
}

impl Member {
    /// A member reached at `addr` over `transport`, named by its address.
    pub fn new(addr: SocketAddr, transport: Transport) -> Self {
        Member {
            addr,
            transport,
            domain: None,
        }
    }

    /// The host to name the server by: its domain or its address (IPv6 in
    /// brackets), with the port when it is not the transport's default.
    fn host(&self) -> String {
        if let Some(d) = &self.domain {
            return one_line(d);
        }
        let ip = sip_core::Host::from(self.addr.ip()).to_string();
        if self.addr.port() == self.transport.default_port() {
            ip
        } else {
            format!("{ip}:{}", self.addr.port())
        }
    }
}

/// What to subscribe to on each member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeMode {
    /// One whole-server subscription per member (RFC 3680, DESIGN E1).
    Server,
    /// One subscription per AOR per member (Kamailio 5.6). Each entry is a
    /// SIP URI (`sip:alice@example.com`), a `user@domain`, or a bare user
    /// (then the member's domain or address is the host).
    PerAor(Vec<String>),
}

/// The subscriber's settings; [`SubscriberConfig::new`] fills the defaults.
#[derive(Debug, Clone)]
pub struct SubscriberConfig {
    /// The manager's URI, in From (`sip:e911@192.0.2.10:5070`).
    pub local_uri: String,
    /// The manager's Contact URI: where NOTIFYs come.
    pub contact: String,
    /// The Via sent-by (`192.0.2.10:5070`): the manager's SIP address.
    pub sent_by: String,
    /// The Expires asked for (default 3600 s).
    pub expires: u32,
    /// Waits between attempts after errors and timeouts.
    pub backoff: Backoff,
    /// The wait after 489 Bad Event and after terminations the notifier
    /// meant as final (`rejected`, `noresource`, `invariant`); default 600 s.
    pub long_backoff: Duration,
    /// A refresh is never scheduled sooner than this after the subscription
    /// was (re)established, and version-gap refreshes are at least this far
    /// apart (default 5 s).
    pub refresh_floor: Duration,
    /// How long a full state may keep coming in several NOTIFYs (E2) before
    /// its changes are emitted; see the module documentation (default 1 s).
    pub full_state_settle: Duration,
    /// How long a member with an established subscription may stay silent
    /// before it is asked an OPTIONS (E15): a SIP server that dies without
    /// a word (SIGKILL, power loss, a cut link) sends no NOTIFY
    /// `terminated`, and its subscription would look alive until its
    /// refresh, up to an hour, while its cluster peers take the changes.
    /// Any message from the member counts as a sign of life. `None`
    /// (the default here): never asked.
    pub member_check: Option<Duration>,
    /// How long the OPTIONS may go unanswered (any final response counts)
    /// before the member is lost: each of its subscriptions fails (408)
    /// and is tried again with backoff; another member takes over
    /// (default 5 s).
    pub member_check_timeout: Duration,
    /// SIP timers T1, T2, T4 of the transactions.
    pub timers: TimerConfig,
    /// Seed of the RNG that draws the jitter.
    pub rng_seed: u64,
    /// A User-Agent header, if any.
    pub user_agent: Option<String>,
}

impl SubscriberConfig {
    /// Defaults around the manager's own addresses.
    pub fn new(
        local_uri: impl Into<String>,
        contact: impl Into<String>,
        sent_by: impl Into<String>,
    ) -> Self {
        SubscriberConfig {
            local_uri: local_uri.into(),
            contact: contact.into(),
            sent_by: sent_by.into(),
            expires: 3600,
            backoff: Backoff::default(),
            long_backoff: Duration::from_secs(600),
            refresh_floor: Duration::from_secs(5),
            full_state_settle: Duration::from_secs(1),
            member_check: None,
            member_check_timeout: Duration::from_secs(5),
            timers: TimerConfig::default(),
            rng_seed: 0x5eed_e911,
            user_agent: None,
        }
    }

    /// When to refresh a subscription granted for `expires` seconds: at
    /// 80 % or 30 s before the end, whichever is earlier, never sooner than
    /// the floor, never after the end.
    pub fn refresh_after(&self, expires: u32) -> Duration {
        refresh_after(expires, self.refresh_floor)
    }
}

/// The state of one subscription, as reported to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// A new SUBSCRIBE was sent.
    Subscribing,
    /// The notifier holds the subscription as `pending` (authorization).
    Pending,
    /// The subscription is active for this long from now.
    Active {
        /// The granted duration.
        expires: Duration,
    },
    /// The notifier terminated the subscription (RFC 6665 section 4.1.3);
    /// a new one goes out at `retry_at`.
    Terminated {
        /// The `reason` parameter, if any.
        reason: Option<String>,
        /// When the next SUBSCRIBE goes out.
        retry_at: Instant,
    },
    /// The subscription failed or was lost: an error response (`status`),
    /// no response (408), expiry without a successful refresh (408), or no
    /// NOTIFY after the 2xx (408). A new one goes out at `retry_at`.
    Failed {
        /// The status code (408 for timeouts).
        status: u16,
        /// When the next SUBSCRIBE goes out.
        retry_at: Instant,
    },
}

/// What the subscriber tells the application.
// `DeviceChanged` is the common event and is consumed at once: boxing it
// would cost an allocation per device change for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberEvent {
    /// A device of the call server changed (from the active member only).
    DeviceChanged(DeviceChange),
    /// The member whose changes are passed on changed (indexes into the
    /// configured members; `None`: no member is healthy).
    ActiveMemberChanged {
        /// The previous active member.
        from: Option<usize>,
        /// The new active member.
        to: Option<usize>,
    },
    /// A subscription changed state.
    SubscriptionState {
        /// The member (index into the configured members).
        member: usize,
        /// The AOR in `PerAor` mode; `None` for the whole-server one.
        aor: Option<String>,
        /// The new state.
        state: SubscriptionStatus,
    },
}

// ---------------------------------------------------------------------------
// Internal state.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `retry_at` (or stopped when `retry_at` is `None`).
    Idle,
    /// A new SUBSCRIBE is out; no 2xx or NOTIFY yet.
    Subscribing,
    /// Established by a 2xx or a NOTIFY.
    Active,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Initial,
    Refresh,
    Unsubscribe,
}

/// How a failure is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// At once the first time, then backoff.
    Immediate,
    /// Exponential backoff.
    Backoff,
    /// The long wait.
    Long,
}

#[derive(Debug)]
struct Dialog {
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    /// The notifier's Contact: the Request-URI of refreshes.
    remote_target: Option<String>,
    remote_cseq: Option<u32>,
}

#[derive(Debug)]
struct Sub {
    member: usize,
    /// The AOR (`PerAor`), normalized to a URI.
    aor: Option<String>,
    ruri: String,
    to_uri: String,
    phase: Phase,
    /// Bumped whenever the dialog is dropped: a late response of an older
    /// dialog's transaction is then ignored.
    generation: u64,
    dialog: Option<Dialog>,
    cseq: u32,
    expires: u32,
    tracker: VersionTracker,
    /// A full state was processed in this dialog.
    has_state: bool,
    pending: bool,
    got_notify: bool,
    failures: u32,
    retry_at: Option<Instant>,
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
    notify_by: Option<Instant>,
    in_flight: Option<TransactionId>,
    /// A refresh is wanted as soon as the transaction in flight ends.
    refresh_wanted: bool,
    last_gap_refresh: Option<Instant>,
}

impl Sub {
    fn healthy(&self) -> bool {
        self.phase == Phase::Active && !self.pending && self.has_state
    }
}

#[derive(Debug, Default)]
struct MemberState {
    set: RegistrationSet,
    /// For the active member while settling: the state the application
    /// last saw.
    pending_base: Option<RegistrationSet>,
    settle_until: Option<Instant>,
    settle_cap: Option<Instant>,
    /// A full state is coming in (RFC 3680 mode): until this instant,
    /// pushed on by each partial document, at most to `burst_cap`.
    burst_until: Option<Instant>,
    burst_cap: Option<Instant>,
    /// When to ask the member an OPTIONS ([`SubscriberConfig::member_check`]).
    check_at: Option<Instant>,
    /// The OPTIONS out and when the member is lost without an answer.
    check: Option<(TransactionId, Instant)>,
}

#[derive(Debug, Clone, Copy)]
struct ClientTx {
    sub: usize,
    generation: u64,
    purpose: Purpose,
}

/// The reg event subscriber of one call server; see the module
/// documentation for the model and the calling contract.
#[derive(Debug)]
pub struct Subscriber {
    cfg: SubscriberConfig,
    mode: QuirkMode,
    members: Vec<Member>,
    member_state: Vec<MemberState>,
    member_subs: Vec<Vec<usize>>,
    subs: Vec<Sub>,
    by_dialog: HashMap<(String, String), usize>,
    table: TransactionTable,
    client_tx: HashMap<TransactionId, ClientTx>,
    /// OPTIONS transactions of the member check, by member.
    check_tx: HashMap<TransactionId, usize>,
    tx_dest: HashMap<TransactionId, (SocketAddr, Transport)>,
    active: Option<usize>,
    /// The state the application last saw while no member is active.
    orphan_base: Option<RegistrationSet>,
    rng: fastrand::Rng,
    transmits: VecDeque<(SocketAddr, Transport, Bytes)>,
    events: VecDeque<SubscriberEvent>,
    started: bool,
    closed: bool,
}

/// Normalizes a configured AOR to a SIP URI.
fn aor_uri(aor: &str, member: &Member) -> String {
    let a = one_line(aor.trim());
    let lower = a.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        a
    } else if a.contains('@') {
        format!("sip:{a}")
    } else {
        format!("sip:{a}@{}", member.host())
    }
}

/// AORs compare case-insensitively here: the configured list is typed by
/// an operator, the document is written by the server.
fn same_aor(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Subscriber {
    /// A subscriber for the cluster `members` (in preference order). Call
    /// [`Subscriber::start`] to send the first SUBSCRIBEs.
    pub fn new(cfg: SubscriberConfig, members: Vec<Member>, mode: SubscribeMode) -> Self {
        let quirk = match mode {
            SubscribeMode::Server => QuirkMode::Rfc3680,
            SubscribeMode::PerAor(_) => QuirkMode::KamailioPerAor,
        };
        let mut subs = Vec::new();
        let mut member_subs = Vec::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            let mut mine = Vec::new();
            let targets: Vec<Option<String>> = match &mode {
                SubscribeMode::Server => vec![None],
                SubscribeMode::PerAor(aors) => aors.iter().map(|a| Some(aor_uri(a, m))).collect(),
            };
            for aor in targets {
                let (ruri, to_uri) = match &aor {
                    Some(a) => (a.clone(), a.clone()),
                    None => {
                        let scheme = if m.transport == Transport::Tls {
                            "sips"
                        } else {
                            "sip"
                        };
                        let uri = format!("{scheme}:{}", m.host());
                        (uri.clone(), uri)
                    }
                };
                mine.push(subs.len());
                subs.push(Sub {
                    member: i,
                    aor,
                    ruri,
                    to_uri,
                    phase: Phase::Idle,
                    generation: 0,
                    dialog: None,
                    cseq: 0,
                    expires: cfg.expires,
                    tracker: VersionTracker::new(quirk),
                    has_state: false,
                    pending: false,
                    got_notify: false,
                    failures: 0,
                    retry_at: None,
                    refresh_at: None,
                    expires_at: None,
                    notify_by: None,
                    in_flight: None,
                    refresh_wanted: false,
                    last_gap_refresh: None,
                });
            }
            member_subs.push(mine);
        }
        let member_state = members.iter().map(|_| MemberState::default()).collect();
        Subscriber {
            rng: fastrand::Rng::with_seed(cfg.rng_seed),
            table: TransactionTable::new(cfg.timers),
            cfg,
            mode: quirk,
            members,
            member_state,
            member_subs,
            subs,
            by_dialog: HashMap::new(),
            client_tx: HashMap::new(),
            check_tx: HashMap::new(),
            tx_dest: HashMap::new(),
            active: None,
            orphan_base: Some(RegistrationSet::new()),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            started: false,
            closed: false,
        }
    }

    // ---- getters ----

    /// The configured members, in preference order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member whose changes are passed on.
    pub fn active_member(&self) -> Option<usize> {
        self.active
    }

    /// The registrations member `i` currently reports.
    pub fn member_registrations(&self, i: usize) -> Option<&RegistrationSet> {
        self.member_state.get(i).map(|m| &m.set)
    }

    /// Whether member `i` is healthy: every subscription to it active and
    /// holding full state.
    pub fn is_healthy(&self, i: usize) -> bool {
        self.member_subs
            .get(i)
            .is_some_and(|s| !s.is_empty() && s.iter().all(|&k| self.subs[k].healthy()))
    }

    /// Number of subscriptions (members times AORs).
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Whether a full state is still coming in from some member at `now`
    /// (RFC 3680 mode): from a `full` document until
    /// [`SubscriberConfig::full_state_settle`] passes with no further
    /// document, ten times that at most. Work that can wait (PUBLISHing
    /// ELINs) waits for it, so a download of many NOTIFYs is not slowed
    /// by it; [`Subscriber::poll_timeout`] includes its end.
    pub fn downloading(&self, now: Instant) -> bool {
        self.member_state
            .iter()
            .any(|m| m.burst_until.is_some_and(|t| t > now))
    }

    // ---- input ----

    /// Sends the first SUBSCRIBE to every member. Calling it again does
    /// nothing.
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        for s in &mut self.subs {
            s.retry_at = Some(now);
        }
        self.pump(now);
    }

    /// Ends every subscription (SUBSCRIBE with Expires: 0 in each
    /// established dialog) and stops retrying. The device state is kept.
    pub fn close(&mut self, now: Instant) {
        self.closed = true;
        for k in 0..self.subs.len() {
            let established = self.subs[k].phase == Phase::Active
                && self.subs[k]
                    .dialog
                    .as_ref()
                    .is_some_and(|d| d.remote_tag.is_some());
            if established {
                self.send_in_dialog(now, k, Purpose::Unsubscribe);
            }
            self.drop_dialog(k);
            self.subs[k].retry_at = None;
        }
        self.pump(now);
    }

    /// A message for the subscriber: a NOTIFY, or a response to a
    /// SUBSCRIBE. `from` and `transport` say where it came from (the
    /// response to a NOTIFY goes back there). Anything else is
    /// [`Handled::NotMine`].
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        msg: &Message,
    ) -> Handled {
        let handled = match msg {
            Message::Response(r) => {
                if r.cseq()
                    .is_none_or(|c| c.method != Method::Subscribe && c.method != Method::Options)
                {
                    return Handled::NotMine;
                }
                self.on_response_message(now, r);
                Handled::Consumed
            }
            Message::Request(r) if *r.method() == Method::Notify => {
                self.on_notify(now, from, transport, r);
                Handled::Consumed
            }
            Message::Request(_) => return Handled::NotMine,
        };
        self.pump(now);
        handled
    }

    /// The time given by [`Subscriber::poll_timeout`] came.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
        self.pump(now);
    }

    // ---- output ----

    /// When [`Subscriber::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let subs = self.subs.iter().flat_map(|s| {
            let refresh = if s.in_flight.is_none() {
                s.refresh_at
            } else {
                None
            };
            [s.retry_at, refresh, s.expires_at, s.notify_by]
        });
        let settles = self.member_state.iter().flat_map(|m| {
            [
                m.settle_until,
                m.burst_until,
                m.check_at,
                m.check.map(|(_, lost_at)| lost_at),
            ]
        });
        subs.chain(settles)
            .flatten()
            .chain(self.table.poll_timeout())
            .min()
    }

    /// The next message to send: destination, transport, bytes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Transport, Bytes)> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<SubscriberEvent> {
        self.events.pop_front()
    }

    // ---- internals: transactions ----

    /// Drains transaction actions, fires due timers, then re-elects the
    /// active member; repeats while anything happened (an action may start
    /// a subscription whose first transmit must go out in this call).
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some((id, action)) = self.table.poll_action() {
                progressed = true;
                self.on_action(now, id, action);
            }
            progressed |= self.fire_due(now);
            if !progressed {
                break;
            }
        }
        self.update_active();
    }

    fn on_action(&mut self, now: Instant, id: TransactionId, action: Action) {
        match action {
            Action::Transmit(bytes) => {
                if let Some(&(dest, transport)) = self.tx_dest.get(&id) {
                    self.transmits.push_back((dest, transport, bytes));
                }
            }
            Action::Response { status, .. } if status >= 200 && self.check_tx.contains_key(&id) => {
                if let Some(m) = self.check_tx.remove(&id) {
                    if self.member_state[m].check.is_some_and(|(t, _)| t == id) {
                        self.alive(now, m);
                    }
                }
            }
            Action::Timeout(_) | Action::TransportError if self.check_tx.contains_key(&id) => {
                // No answer at all (or a dead connection): lost at once.
                if let Some(m) = self.check_tx.remove(&id) {
                    if let Some((t, lost_at)) = self.member_state[m].check.as_mut() {
                        if *t == id {
                            *lost_at = now;
                        }
                    }
                }
            }
            Action::Response { status, message } => {
                if status < 200 {
                    return;
                }
                if let Some(tx) = self.client_tx.remove(&id) {
                    match Message::parse(message) {
                        Ok(Message::Response(r)) => self.on_final(now, tx, status, Some(&r)),
                        _ => self.on_final(now, tx, status, None),
                    }
                }
            }
            Action::Timeout(_) | Action::TransportError => {
                if let Some(tx) = self.client_tx.remove(&id) {
                    self.on_final(now, tx, 408, None);
                }
            }
            Action::Terminated => {
                self.client_tx.remove(&id);
                self.check_tx.remove(&id);
                self.tx_dest.remove(&id);
                for s in &mut self.subs {
                    if s.in_flight == Some(id) {
                        s.in_flight = None;
                    }
                }
            }
            _ => {}
        }
    }

    fn on_response_message(&mut self, now: Instant, r: &Response) {
        let Some(branch) = r.branch() else { return };
        let key = TransactionKey::client(branch, Kind::Other);
        let status = r.status().as_u16();
        // A stray (no transaction) or a bad status is dropped: the
        // transaction layer already saw what it needed.
        let _ = self
            .table
            .handle_response(now, &key, status, r.headers().buffer().clone());
    }

    fn start_client(
        &mut self,
        now: Instant,
        k: usize,
        purpose: Purpose,
        bytes: Bytes,
        branch: &str,
    ) {
        let m = &self.members[self.subs[k].member];
        let (dest, transport) = (m.addr, m.transport);
        let key = TransactionKey::client(branch, Kind::Other);
        match self
            .table
            .start_client_non_invite(now, key, bytes, tx_transport(transport))
        {
            Ok(id) => {
                self.tx_dest.insert(id, (dest, transport));
                self.client_tx.insert(
                    id,
                    ClientTx {
                        sub: k,
                        generation: self.subs[k].generation,
                        purpose,
                    },
                );
                if purpose != Purpose::Unsubscribe {
                    self.subs[k].in_flight = Some(id);
                }
            }
            Err(e) => {
                // Only a branch collision can get here (fresh random
                // branches): retry later like any failure.
                tracing::warn!(error = %e, "could not start a SUBSCRIBE transaction");
                if purpose != Purpose::Unsubscribe {
                    self.fail(now, k, 500, Retry::Backoff, Duration::ZERO);
                }
            }
        }
    }

    fn build_subscribe(&self, k: usize, branch: &str, expires: u32) -> Bytes {
        let s = &self.subs[k];
        let m = &self.members[s.member];
        let Some(d) = &s.dialog else {
            return Bytes::new();
        };
        let ruri = d.remote_target.as_deref().unwrap_or(&s.ruri);
        let to = match &d.remote_tag {
            Some(t) => format!("<{}>;tag={t}", s.to_uri),
            None => format!("<{}>", s.to_uri),
        };
        let mut b = RequestBuilder::new(Method::Subscribe, ruri)
            .raw_header(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    m.transport.as_via_str(),
                    one_line(&self.cfg.sent_by)
                ),
            )
            .raw_header("Max-Forwards", "70")
            .raw_header(
                "From",
                format!("<{}>;tag={}", one_line(&self.cfg.local_uri), d.local_tag),
            )
            .raw_header("To", to)
            .raw_header("Call-ID", &d.call_id)
            .cseq(s.cseq)
            .raw_header("Contact", format!("<{}>", one_line(&self.cfg.contact)))
            .raw_header("Event", "reg")
            .raw_header("Accept", reginfo::CONTENT_TYPE)
            .raw_header("Expires", expires.to_string());
        if let Some(ua) = &self.cfg.user_agent {
            b = b.raw_header("User-Agent", one_line(ua));
        }
        b.to_bytes()
    }

    // ---- internals: subscription life ----

    /// Starts a new subscription (new dialog) for `k`.
    fn start_new(&mut self, now: Instant, k: usize) {
        self.drop_dialog(k);
        let call_id = sip_core::new_call_id(None);
        let local_tag = sip_core::new_tag();
        self.by_dialog
            .insert((call_id.clone(), local_tag.clone()), k);
        let s = &mut self.subs[k];
        s.dialog = Some(Dialog {
            call_id,
            local_tag,
            remote_tag: None,
            remote_target: None,
            remote_cseq: None,
        });
        s.phase = Phase::Subscribing;
        s.cseq = 1;
        s.tracker.reset();
        s.has_state = false;
        s.pending = false;
        s.got_notify = false;
        s.retry_at = None;
        let branch = sip_core::new_branch();
        let bytes = self.build_subscribe(k, &branch, self.subs[k].expires);
        self.start_client(now, k, Purpose::Initial, bytes, &branch);
        self.state_event(k, SubscriptionStatus::Subscribing);
    }

    /// Sends an in-dialog SUBSCRIBE: a refresh, or an unsubscribe.
    fn send_in_dialog(&mut self, now: Instant, k: usize, purpose: Purpose) {
        let has_tag = self.subs[k]
            .dialog
            .as_ref()
            .is_some_and(|d| d.remote_tag.is_some());
        if !has_tag {
            // A 2xx without To tag cannot be refreshed in its dialog.
            if purpose == Purpose::Refresh {
                self.start_new(now, k);
            }
            return;
        }
        let s = &mut self.subs[k];
        s.cseq = s.cseq.saturating_add(1);
        s.refresh_at = None;
        s.refresh_wanted = false;
        let expires = if purpose == Purpose::Unsubscribe {
            0
        } else {
            s.expires
        };
        let branch = sip_core::new_branch();
        let bytes = self.build_subscribe(k, &branch, expires);
        self.start_client(now, k, purpose, bytes, &branch);
    }

    /// Forgets the dialog of `k` (its NOTIFYs now get 481) and its timers.
    fn drop_dialog(&mut self, k: usize) {
        let s = &mut self.subs[k];
        if let Some(d) = s.dialog.take() {
            self.by_dialog.remove(&(d.call_id, d.local_tag));
        }
        s.generation += 1;
        s.phase = Phase::Idle;
        s.in_flight = None;
        s.refresh_at = None;
        s.expires_at = None;
        s.notify_by = None;
        s.refresh_wanted = false;
        s.has_state = false;
        s.pending = false;
    }

    fn retry_delay(&mut self, k: usize, retry: Retry, min: Duration) -> Duration {
        let failures = self.subs[k].failures;
        let d = match retry {
            Retry::Immediate if failures == 0 => Duration::ZERO,
            Retry::Immediate | Retry::Backoff => self.cfg.backoff.delay(failures, &mut self.rng),
            Retry::Long => self
                .cfg
                .long_backoff
                .min(MAX_WAIT)
                .max(self.cfg.backoff.delay(failures, &mut self.rng)),
        };
        self.subs[k].failures = failures.saturating_add(1);
        d.max(min)
    }

    /// The subscription failed or was lost: drop it, schedule a new one.
    fn fail(&mut self, now: Instant, k: usize, status: u16, retry: Retry, min: Duration) {
        self.drop_dialog(k);
        if self.closed {
            return;
        }
        let delay = self.retry_delay(k, retry, min);
        let retry_at = now + delay;
        self.subs[k].retry_at = Some(retry_at);
        tracing::info!(
            member = self.subs[k].member,
            status,
            ?delay,
            "reg subscription failed"
        );
        self.state_event(k, SubscriptionStatus::Failed { status, retry_at });
    }

    fn terminated(
        &mut self,
        now: Instant,
        k: usize,
        reason: Option<String>,
        retry_after: Option<u32>,
    ) {
        let retry = match reason.as_deref() {
            None | Some("deactivated") | Some("timeout") => Retry::Immediate,
            Some("rejected") | Some("noresource") | Some("invariant") => Retry::Long,
            _ => Retry::Backoff,
        };
        let min = Duration::from_secs(u64::from(retry_after.unwrap_or(0))).min(MAX_WAIT);
        self.drop_dialog(k);
        if self.closed {
            return;
        }
        let retry_at = now + self.retry_delay(k, retry, min);
        self.subs[k].retry_at = Some(retry_at);
        tracing::info!(
            member = self.subs[k].member,
            ?reason,
            "reg subscription terminated"
        );
        self.state_event(k, SubscriptionStatus::Terminated { reason, retry_at });
    }

    /// Marks `k` established for `expires` seconds from `now`. A refresh
    /// already due sooner (a version gap waiting for the floor) is kept.
    fn activate(&mut self, now: Instant, k: usize, expires: u32) {
        // A grant of decades is refreshed within MAX_WAIT anyway, and the
        // Instant arithmetic stays far from its limits.
        let expires = expires.min(MAX_WAIT.as_secs() as u32);
        let refresh = now + self.cfg.refresh_after(expires);
        let s = &mut self.subs[k];
        s.phase = Phase::Active;
        s.expires_at = Some(now + Duration::from_secs(u64::from(expires)));
        s.refresh_at = Some(s.refresh_at.map_or(refresh, |r| r.min(refresh)));
    }

    /// A final response (or a timeout as 408) for a client transaction.
    fn on_final(&mut self, now: Instant, tx: ClientTx, status: u16, resp: Option<&Response>) {
        let k = tx.sub;
        if k >= self.subs.len() || self.subs[k].generation != tx.generation {
            return;
        }
        if tx.purpose == Purpose::Unsubscribe {
            return;
        }
        if resp.is_some() {
            let m = self.subs[k].member;
            self.alive(now, m);
        }
        self.subs[k].in_flight = None;
        match status {
            200..=299 => {
                let requested = self.subs[k].expires;
                let granted = resp
                    .and_then(|r| r.expires().ok().flatten())
                    .unwrap_or(requested);
                if granted == 0 {
                    // Accepted but ended at once: treat as a termination.
                    self.terminated(now, k, None, None);
                    return;
                }
                if tx.purpose == Purpose::Initial {
                    if let (Some(r), Some(d)) = (resp, self.subs[k].dialog.as_mut()) {
                        if d.remote_tag.is_none() {
                            d.remote_tag = r.to_tag().map(str::to_owned);
                        }
                        if d.remote_target.is_none() {
                            d.remote_target = contact_uri(r);
                        }
                    }
                    if !self.subs[k].got_notify {
                        // RFC 6665 section 4.1.2.4: no NOTIFY within 64*T1
                        // of the 2xx means the subscription failed.
                        self.subs[k].notify_by = Some(now + self.cfg.timers.sixty_four_t1());
                    }
                }
                self.activate(now, k, granted);
                // A NOTIFY that came first already reported the state.
                if tx.purpose == Purpose::Initial && !self.subs[k].got_notify {
                    self.state_event(
                        k,
                        SubscriptionStatus::Active {
                            expires: Duration::from_secs(u64::from(granted)),
                        },
                    );
                }
                if self.subs[k].refresh_wanted {
                    self.send_in_dialog(now, k, Purpose::Refresh);
                }
            }
            423 => {
                // Interval Too Brief: ask again at once with Min-Expires.
                let min = resp.and_then(|r| number_header(r, HeaderName::MinExpires));
                match min {
                    Some(m) if m > self.subs[k].expires => {
                        self.subs[k].expires = m;
                        match tx.purpose {
                            Purpose::Refresh => self.send_in_dialog(now, k, Purpose::Refresh),
                            _ => self.start_new(now, k),
                        }
                    }
                    _ => self.fail(now, k, status, Retry::Backoff, Duration::ZERO),
                }
            }
            489 => {
                tracing::warn!(
                    member = self.subs[k].member,
                    "489 Bad Event: the SIP server does not allow the reg event package (E1 subscription_event_allowed)"
                );
                self.fail(now, k, status, Retry::Long, Duration::ZERO);
            }
            _ => {
                let min = resp
                    .and_then(retry_after_header)
                    .map_or(Duration::ZERO, |s| Duration::from_secs(u64::from(s)));
                self.fail(now, k, status, Retry::Backoff, min.min(MAX_WAIT));
            }
        }
    }

    /// Wants a refresh (full state) for `k`: at once, or after the
    /// transaction in flight, or not sooner than the floor after the last
    /// gap refresh (a notifier that keeps sending broken bodies must not
    /// make us loop at network speed).
    fn want_refresh(&mut self, now: Instant, k: usize) {
        let floor = self.cfg.refresh_floor;
        let s = &mut self.subs[k];
        if s.phase != Phase::Active && s.phase != Phase::Subscribing {
            return;
        }
        if s.in_flight.is_some() || s.phase == Phase::Subscribing {
            s.refresh_wanted = true;
            return;
        }
        let earliest = s.last_gap_refresh.map_or(now, |t| (t + floor).max(now));
        s.last_gap_refresh = Some(earliest);
        s.refresh_at = Some(s.refresh_at.map_or(earliest, |r| r.min(earliest)));
    }

    /// Fires every subscription and settle timer due at `now`. Returns
    /// whether anything fired.
    fn fire_due(&mut self, now: Instant) -> bool {
        let mut fired = false;
        for k in 0..self.subs.len() {
            let s = &self.subs[k];
            match s.phase {
                Phase::Idle => {
                    if s.retry_at.is_some_and(|t| t <= now) && !self.closed {
                        fired = true;
                        self.start_new(now, k);
                    }
                }
                Phase::Subscribing => {}
                Phase::Active => {
                    // Expired without a successful refresh, or no NOTIFY
                    // came after the 2xx: lost.
                    if s.expires_at.is_some_and(|t| t <= now)
                        || s.notify_by.is_some_and(|t| t <= now)
                    {
                        fired = true;
                        self.fail(now, k, 408, Retry::Backoff, Duration::ZERO);
                    } else if s.refresh_at.is_some_and(|t| t <= now) {
                        fired = true;
                        if s.in_flight.is_some() {
                            let s = &mut self.subs[k];
                            s.refresh_at = None;
                            s.refresh_wanted = true;
                        } else {
                            self.send_in_dialog(now, k, Purpose::Refresh);
                        }
                    }
                }
            }
        }
        fired |= self.check_members(now);
        for m in 0..self.member_state.len() {
            if self.member_state[m].burst_until.is_some_and(|t| t <= now) {
                fired = true;
                let ms = &mut self.member_state[m];
                ms.burst_until = None;
                ms.burst_cap = None;
            }
            if self.member_state[m].settle_until.is_some_and(|t| t <= now) {
                fired = true;
                let ms = &mut self.member_state[m];
                ms.settle_until = None;
                ms.settle_cap = None;
                if let Some(base) = ms.pending_base.take() {
                    if self.active == Some(m) {
                        let changes = base.diff(&self.member_state[m].set);
                        self.emit_changes(changes);
                    }
                }
            }
        }
        fired
    }

    // ---- internals: member check (E15) ----

    /// Member `m` answered or sent something: it is alive; the next check
    /// comes after a full interval of silence.
    fn alive(&mut self, now: Instant, m: usize) {
        let ms = &mut self.member_state[m];
        ms.check = None;
        ms.check_at = self.cfg.member_check.map(|i| now + i.min(MAX_WAIT));
    }

    /// Sends the OPTIONS of members silent for a whole interval; a member
    /// that left one unanswered past the timeout is lost: each of its
    /// subscriptions fails (408) and is tried again with backoff. Members
    /// with no established subscription are not checked (their SUBSCRIBE
    /// transactions time out by themselves). Returns whether anything
    /// happened.
    fn check_members(&mut self, now: Instant) -> bool {
        let Some(interval) = self.cfg.member_check else {
            return false;
        };
        let mut fired = false;
        for m in 0..self.members.len() {
            let established = self.member_subs[m]
                .iter()
                .any(|&k| self.subs[k].phase == Phase::Active);
            if !established {
                let ms = &mut self.member_state[m];
                ms.check_at = None;
                ms.check = None;
                continue;
            }
            match self.member_state[m].check {
                Some((_, lost_at)) if lost_at <= now => {
                    fired = true;
                    self.member_state[m].check = None;
                    self.member_state[m].check_at = None;
                    tracing::warn!(
                        member = m,
                        addr = %self.members[m].addr,
                        "the SIP server answers no OPTIONS: its subscriptions are lost"
                    );
                    for i in 0..self.member_subs[m].len() {
                        let k = self.member_subs[m][i];
                        if self.subs[k].phase != Phase::Idle {
                            self.fail(now, k, 408, Retry::Backoff, Duration::ZERO);
                        }
                    }
                }
                Some(_) => {}
                None => match self.member_state[m].check_at {
                    None => {
                        self.member_state[m].check_at = Some(now + interval.min(MAX_WAIT));
                    }
                    Some(t) if t <= now => {
                        fired = true;
                        self.send_check(now, m);
                    }
                    Some(_) => {}
                },
            }
        }
        fired
    }

    /// Asks member `m` an OPTIONS outside any dialog.
    fn send_check(&mut self, now: Instant, m: usize) {
        let member = &self.members[m];
        let (dest, transport) = (member.addr, member.transport);
        let scheme = if transport == Transport::Tls {
            "sips"
        } else {
            "sip"
        };
        let uri = format!("{scheme}:{}", member.host());
        let branch = sip_core::new_branch();
        let mut b = RequestBuilder::new(Method::Options, &uri)
            .raw_header(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    transport.as_via_str(),
                    one_line(&self.cfg.sent_by)
                ),
            )
            .raw_header("Max-Forwards", "70")
            .raw_header(
                "From",
                format!(
                    "<{}>;tag={}",
                    one_line(&self.cfg.local_uri),
                    sip_core::new_tag()
                ),
            )
            .raw_header("To", format!("<{uri}>"))
            .raw_header("Call-ID", sip_core::new_call_id(None))
            .cseq(1)
            .raw_header("Accept", "application/sdp");
        if let Some(ua) = &self.cfg.user_agent {
            b = b.raw_header("User-Agent", one_line(ua));
        }
        let key = TransactionKey::client(&branch, Kind::Other);
        let lost_at = now + self.cfg.member_check_timeout.min(MAX_WAIT);
        match self
            .table
            .start_client_non_invite(now, key, b.to_bytes(), tx_transport(transport))
        {
            Ok(id) => {
                self.tx_dest.insert(id, (dest, transport));
                self.check_tx.insert(id, m);
                let ms = &mut self.member_state[m];
                ms.check = Some((id, lost_at));
                ms.check_at = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not start an OPTIONS transaction");
                self.member_state[m].check_at = Some(lost_at);
            }
        }
    }

    // ---- internals: NOTIFY ----

    fn respond(&mut self, now: Instant, id: TransactionId, req: &Request, status: u16) {
        let code = StatusCode::new(status).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        let mut b = Response::for_request(req, code, None);
        if req.to_tag().is_none() {
            b = b.to_tag(&sip_core::new_tag());
        }
        let _ = self.table.send_response(now, id, status, b.to_bytes());
    }

    fn on_notify(&mut self, now: Instant, from: SocketAddr, transport: Transport, req: &Request) {
        let Some(key) = server_key(req, Kind::Other) else {
            return;
        };
        let buf = req.headers().buffer().clone();
        if let Ok(Some(_)) = self.table.handle_request(now, &key, Kind::Other, buf) {
            return; // a retransmission: the transaction answers it again
        }
        let Ok(id) = self
            .table
            .start_server_non_invite(now, key, tx_transport(transport))
        else {
            return;
        };
        self.tx_dest.insert(id, (from, transport));
        if let Err(rej) = req.validate() {
            self.respond(now, id, req, rej.status);
            return;
        }
        let k = match (req.call_id(), req.to_tag()) {
            (Some(c), Some(t)) => self.by_dialog.get(&(c.to_owned(), t.to_owned())).copied(),
            _ => None,
        };
        let Some(k) = k else {
            // RFC 6665 section 4.1.3: a NOTIFY matching no subscription
            // gets 481, which also ends it at the notifier.
            self.respond(now, id, req, 481);
            return;
        };
        let is_reg = matches!(req.event(), Ok(Some(e)) if e.value.eq_ignore_ascii_case("reg"));
        if !is_reg {
            self.respond(now, id, req, 489);
            return;
        }
        let (state, expires, reason, retry_after) = match req.subscription_state() {
            Ok(Some(s)) => (
                s.value.to_ascii_lowercase(),
                s.expires(),
                s.reason().map(|r| r.to_ascii_lowercase()),
                s.retry_after(),
            ),
            _ => {
                self.respond(now, id, req, 400);
                return;
            }
        };
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        if let Some(d) = &self.subs[k].dialog {
            if d.remote_cseq.is_some_and(|last| cseq < last) {
                // RFC 3261 section 12.2.2: out of order.
                self.respond(now, id, req, 500);
                return;
            }
        }
        self.respond(now, id, req, 200);
        let m = self.subs[k].member;
        self.alive(now, m);

        // The NOTIFY establishes the dialog if the 2xx has not come yet
        // (RFC 6665 section 4.1.2.4).
        let contact = request_contact_uri(req);
        if let Some(d) = self.subs[k].dialog.as_mut() {
            d.remote_cseq = Some(cseq);
            if d.remote_tag.is_none() {
                d.remote_tag = req.from_tag().map(str::to_owned);
            }
            if contact.is_some() {
                d.remote_target = contact;
            }
        }
        let was_pending = self.subs[k].pending;
        let was_phase = self.subs[k].phase;
        {
            let s = &mut self.subs[k];
            s.got_notify = true;
            s.notify_by = None;
        }
        if state != "terminated" {
            self.subs[k].pending = state == "pending";
            match expires {
                Some(e) if e > 0 => self.activate(now, k, e),
                _ if was_phase != Phase::Active => {
                    let e = self.subs[k].expires;
                    self.activate(now, k, e);
                }
                _ => {}
            }
        }

        let body = req.body();
        if !body.is_empty() {
            self.apply_body(now, k, body);
        }

        match state.as_str() {
            "terminated" => self.terminated(now, k, reason, retry_after),
            "pending" if !was_pending || was_phase != Phase::Active => {
                self.state_event(k, SubscriptionStatus::Pending);
            }
            "pending" => {}
            _ if was_pending || was_phase != Phase::Active => {
                let e = expires.unwrap_or(self.subs[k].expires);
                self.state_event(
                    k,
                    SubscriptionStatus::Active {
                        expires: Duration::from_secs(u64::from(e)),
                    },
                );
            }
            _ => {}
        }
    }

    fn apply_body(&mut self, now: Instant, k: usize, body: &[u8]) {
        let doc = match RegInfo::parse(body) {
            Ok(d) => d,
            Err(e) => {
                // A change was lost: ask for full state again.
                tracing::warn!(error = %e, "unreadable reginfo body; refreshing for full state");
                self.want_refresh(now, k);
                return;
            }
        };
        let verdict = self.subs[k].tracker.apply(&doc);
        if !verdict.should_process() {
            return; // stale: RFC 3680 section 5.2 says discard
        }
        if verdict.needs_refresh() {
            self.want_refresh(now, k);
        }
        let m = self.subs[k].member;
        let full = doc.state == DocState::Full;
        let active = self.active == Some(m);
        let settle = self.cfg.full_state_settle.min(MAX_WAIT);
        {
            let ms = &mut self.member_state[m];
            if self.mode == QuirkMode::Rfc3680 && !settle.is_zero() {
                if full {
                    ms.burst_until = Some(now + settle);
                    ms.burst_cap = Some(now + settle.saturating_mul(10));
                } else if let (Some(_), Some(cap)) = (ms.burst_until, ms.burst_cap) {
                    ms.burst_until = Some((now + settle).min(cap));
                }
            }
            if full && self.mode == QuirkMode::Rfc3680 && !ms.set.is_empty() && !settle.is_zero() {
                if active && ms.pending_base.is_none() {
                    ms.pending_base = Some(ms.set.clone());
                }
                ms.settle_until = Some(now + settle);
                ms.settle_cap = Some(now + settle.saturating_mul(10));
            } else if !full {
                if let (Some(_), Some(cap)) = (ms.settle_until, ms.settle_cap) {
                    ms.settle_until = Some((now + settle).min(cap));
                }
            }
        }
        let ms = &mut self.member_state[m];
        let mut changes = ms.set.apply(&doc, self.mode);
        if full && self.mode == QuirkMode::KamailioPerAor {
            // The full state of one AOR that does not name it: no device.
            if let Some(aor) = &self.subs[k].aor {
                let named = doc.registrations.iter().any(|r| same_aor(&r.aor, aor));
                if !named {
                    let keys: Vec<String> = ms
                        .set
                        .registrations()
                        .filter(|r| same_aor(&r.aor, aor))
                        .map(|r| r.aor.clone())
                        .collect();
                    for key in keys {
                        changes.extend(ms.set.remove_aor(&key));
                    }
                }
            }
        }
        if full && verdict == reginfo::Apply::Accepted {
            let s = &mut self.subs[k];
            s.has_state = true;
            s.failures = 0;
        }
        if active && self.member_state[m].pending_base.is_none() {
            self.emit_changes(changes);
        }
    }

    // ---- internals: cluster ----

    /// Makes the first healthy member active; on a change, emits the
    /// difference between what the application saw and the new member's
    /// state (E15).
    fn update_active(&mut self) {
        let new = (0..self.members.len()).find(|&i| self.is_healthy(i));
        if new == self.active {
            return;
        }
        let old = self.active;
        let base = match old {
            Some(o) => {
                let ms = &mut self.member_state[o];
                ms.pending_base.take().unwrap_or_else(|| ms.set.clone())
            }
            None => self.orphan_base.take().unwrap_or_default(),
        };
        self.active = new;
        tracing::info!(?old, ?new, "active SIP server of the cluster changed");
        self.events
            .push_back(SubscriberEvent::ActiveMemberChanged { from: old, to: new });
        match new {
            None => self.orphan_base = Some(base),
            Some(n) => {
                if self.member_state[n].settle_until.is_some() {
                    self.member_state[n].pending_base = Some(base);
                } else {
                    let changes = base.diff(&self.member_state[n].set);
                    self.emit_changes(changes);
                }
            }
        }
    }

    fn emit_changes(&mut self, changes: Vec<DeviceChange>) {
        self.events
            .extend(changes.into_iter().map(SubscriberEvent::DeviceChanged));
    }

    fn state_event(&mut self, k: usize, state: SubscriptionStatus) {
        self.events.push_back(SubscriberEvent::SubscriptionState {
            member: self.subs[k].member,
            aor: self.subs[k].aor.clone(),
            state,
        });
    }
}

/// The first Contact URI of a response.
fn contact_uri(r: &Response) -> Option<String> {
    match r.contacts() {
        Ok(Contacts::List(v)) => v.first().map(|c| c.uri.to_string()),
        _ => None,
    }
}

/// The first Contact URI of a request.
fn request_contact_uri(r: &Request) -> Option<String> {
    match r.contacts() {
        Ok(Contacts::List(v)) => v.first().map(|c| c.uri.to_string()),
        _ => None,
    }
}
