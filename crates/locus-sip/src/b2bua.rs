//! The B2BUA: a call from a carrier is two dialogs, leg A (we are its UAS)
//! and leg B (we are its UAC), each with its own Call-ID, tags and CSeqs.
//!
//! Sans-IO: every entry point takes `now` and a [`Ctx`] holding the one
//! [`TransactionTable`] of the core and its output queue; the core feeds
//! transaction actions ([`Calls::on_action`]), requests matched to calls
//! and the time ([`Calls::handle_timeout`], [`Calls::poll_timeout`]).
//!
//! ```text
//!  carrier (A)            Locus               far end (B)
//!  INVITE ------------->  100 at once
//!                         INVITE (attempt 1) --------->
//!                         <--------------------- 503     fail over (C13)
//!                         INVITE (attempt 2) --------->
//!  <---------- 183/180    <----------------- 18x          (C10)
//!  <-------------- 200    <----------------- 200
//!  ACK ---------------->  ACK --------------------->      (end to end)
//!  BYE ---------------->  BYE --------------------->
//!  <-------------- 200
//! ```
//!
//! Media: every SDP that crosses the call (offer, answer, early media in a
//! 183, re-INVITE, the answer in an ACK) goes through [`Calls::cross_body`]:
//! offers under the carrier policy of the `sdp` crate (C21 to C24, Opus
//! first in Locus's offers), answers filtered the same way, then anchored
//! in the relay through the [`MediaPort`] seam (see [`crate::anchor`]):
//! each side's SDP names the relay, and the relay sends to the addresses
//! each side wrote (C24, C25). The session is released wherever a call
//! ends ([`Calls::end`]). Answered calls whose media stays silent for
//! `sip.media.inactivity_timeout_secs` get BYE on both legs. Without a
//! relay (`sip.media.relay = false`), offers are filtered and SDP passes
//! through.
//!
//! DNS (C9, C13, C20): a trunk's `outbound` names are resolved when a call
//! reaches them: the call pauses on a token ([`Calls::poll_resolve`]), the
//! driver resolves in its own task and feeds the endpoints back
//! ([`Calls::on_resolved`]); no answer by the deadline skips the name.
//! [`crate::dns`] describes the seam.
//!
//! Outbound digest (C18): when a trunk has `auth` and B answers the INVITE
//! with 401/407, the transaction ACKs it and the INVITE is sent again once,
//! with the same Call-ID, From tag and To, CSeq + 1, a new branch and the
//! Authorization (or Proxy-Authorization) from `sip-digest`. A second
//! challenge for the same request (the [`ChallengeGuard`] refuses it) is an
//! authentication failure: that attempt ends as a 503 would end it, failing
//! over to the next endpoint or carrier (C13), the caller getting 503 when
//! none is left. Without credentials (or for a realm other than the
//! configured one) a challenge still ends the call with 503 at once (C12).
//!
//! Blind transfer (REFER, RFC 3515 and RFC 5589): see [`transfer`].

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::{
    new_call_id, new_tag, HeaderForm, HeaderName, Message, Method, Request, Response,
    ResponseBuilder, StatusCode,
};
use sip_digest::{pick_challenge, respond, Challenge, ChallengeGuard};
use sip_transaction::{
    Action, Kind, ServerInviteState, TransactionId, TransactionKey, TransactionState,
    TransactionTable,
};
use sip_transport::{Inbound, ListenAddr, Outbound, Transport};

use crate::anchor::{Anchor, Leg, MediaPort};
use crate::config::CallsConfig;
use crate::dialog::{ack_for_failure, cancel_for, uri_address, Dialog, DialogRequest, Local};
use crate::dns::ResolveRequest;
use crate::geolocation::Geolocation;
use crate::identity::{concat, outbound_headers, CallingIdentity, IdentityMode};
use crate::multipart::{is_multipart, is_sdp, map_sdp};
use crate::routes::Destination;
use crate::trunk::{OutboundName, Trunk, TrunkAuth, Trunks, TRUNK_ALLOW};
use crate::via::stamp_top_via;

mod session_timer;
mod transfer;
pub(crate) use transfer::{refer_target, ReferTarget};

/// What the B2BUA needs of the core for one call into it.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) tx: &'a mut TransactionTable,
    /// Where each transaction's messages go.
    pub(crate) dests: &'a mut Map<TransactionId, Outbound>,
    /// Messages sent outside any transaction (ACK for 2xx).
    pub(crate) out: &'a mut VecDeque<(Option<TransactionId>, Outbound)>,
    pub(crate) locals: &'a [ListenAddr],
    pub(crate) user_agent: &'a str,
    /// The response the core has just parsed, when the actions being
    /// handled came from it: an action's message is then that response's
    /// buffer, and need not be parsed again.
    pub(crate) received: Option<&'a Response>,
}

impl Ctx<'_> {
    /// The server's address for `transport`: the listener of that
    /// transport (its IP, or `fallback` when it listens on a wildcard).
    fn local(&self, transport: Transport, fallback: IpAddr) -> Local {
        let l = self
            .locals
            .iter()
            .find(|l| l.transport == transport)
            .or_else(|| self.locals.first());
        let mut addr = l.map_or(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
            |l| l.addr,
        );
        if addr.ip().is_unspecified() {
            addr.set_ip(fallback);
        }
        Local { transport, addr }
    }

    fn respond(&mut self, id: TransactionId, status: u16, bytes: Bytes) {
        if let Err(e) = self.tx.send_response(self.now, id, status, bytes) {
            tracing::debug!(error = %e, status, "response not sent through its transaction");
        }
    }
}

fn tx_transport(t: Transport) -> sip_transaction::Transport {
    if t.is_reliable() {
        sip_transaction::Transport::Reliable
    } else {
        sip_transaction::Transport::Unreliable
    }
}

fn form_of(compact: bool) -> HeaderForm {
    if compact {
        HeaderForm::Compact
    } else {
        HeaderForm::Full
    }
}

/// One way to reach the called party: one endpoint of one trunk, or a URI.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    ruri: String,
    to: String,
    addr: SocketAddr,
    transport: Transport,
    compact: bool,
    /// How the calling identity is presented to this attempt (C19).
    identity: IdentityMode,
    /// Credentials for the carrier's digest challenges (C18).
    auth: Option<TrunkAuth>,
    /// E6: the ELIN presented as the calling number (From and PAI).
    elin: Option<String>,
    /// E6: the location sent by value (RFC 6442) to a gateway trunk with
    /// `send_location`.
    geo: Option<Geolocation>,
    /// The connection a registered phone's binding came on (TCP/TLS).
    conn: Option<sip_transport::ConnId>,
}

/// A trunk's DNS name, resolved when the call reaches it ([`crate::dns`]).
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    name: OutboundName,
    user: String,
    transport: Transport,
    compact: bool,
    identity: IdentityMode,
    /// The trunk's custom domain (C9: first choice of Request-URI host).
    domain: Option<String>,
    auth: Option<TrunkAuth>,
    elin: Option<String>,
    geo: Option<Geolocation>,
}

impl Lookup {
    /// The attempt toward one resolved endpoint. C9: the Request-URI host
    /// is the trunk's domain, else the SRV domain, else the A name, else
    /// the IP.
    fn attempt(&self, e: &sip_resolve::Endpoint) -> Attempt {
        let host = match (&self.domain, e.origin) {
            (Some(d), _) => d.clone(),
            (None, sip_resolve::Origin::Srv { .. }) => self.name.name.clone(),
            (None, sip_resolve::Origin::Address) => match self.name.port {
                Some(p) => format!("{}:{p}", self.name.name),
                None => self.name.name.clone(),
            },
            (None, _) => e.addr.to_string(),
        };
        trunk_attempt(
            &self.user,
            &host,
            e.addr,
            self.transport,
            self.compact,
            self.identity,
            self.auth.clone(),
            self.elin.clone(),
            self.geo.clone(),
        )
    }
}

/// An attempt toward `addr` whose Request-URI and To name `host`.
#[allow(clippy::too_many_arguments)]
fn trunk_attempt(
    user: &str,
    host: &str,
    addr: SocketAddr,
    transport: Transport,
    compact: bool,
    identity: IdentityMode,
    auth: Option<TrunkAuth>,
    elin: Option<String>,
    geo: Option<Geolocation>,
) -> Attempt {
    let ruri = match transport {
        Transport::Tcp => concat(&["sip:", user, "@", host, ";transport=tcp"]),
        _ => concat(&["sip:", user, "@", host]),
    };
    Attempt {
        to: concat(&["<sip:", user, "@", host, ">"]),
        ruri,
        addr,
        transport,
        compact,
        identity,
        auth,
        elin,
        geo,
        conn: None,
    }
}

/// What a call tries next.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// An INVITE toward one endpoint.
    Try(Attempt),
    /// A DNS name to resolve first.
    Resolve(Lookup),
}

/// The INVITE sent again after a challenge (C18): same dialog identifiers,
/// next CSeq, the credentials.
#[derive(Debug)]
struct Retry {
    call_id: String,
    tag: String,
    seq: u32,
    guard: ChallengeGuard,
    authorization: Vec<(HeaderName, String, String)>,
}

/// What to do with a 401/407 from B.
enum ChallengeOutcome {
    /// Send the INVITE again with credentials.
    Answer(Retry),
    /// Challenged again: the credentials were refused (C18, no loop).
    GiveUp,
    /// Nothing to answer with: no credentials, another realm, no digest
    /// challenge we understand.
    Unanswerable,
}

/// Which leg a dialog or request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// Call phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Leg B attempts in progress, no final answer to A yet.
    Calling,
    /// A CANCELled (or ring timeout): A has its final answer; waiting for
    /// B's final response to end.
    Cancelling,
    /// 2xx sent to A; waiting for A's ACK.
    Answered,
    /// Both dialogs confirmed.
    Up,
}

/// An INVITE as sent on leg B, parsed only when something reads more than
/// its CSeq number: a CANCEL, the ACK for a failure, a retry with
/// credentials, a transfer. Most calls never do, and parsing each one as
/// it was sent cost a parse per call (issue 3).
#[derive(Debug)]
struct SentInvite {
    bytes: Bytes,
    seq: u32,
    parsed: std::cell::OnceCell<Option<Request>>,
}

impl SentInvite {
    fn new(bytes: Bytes, seq: u32) -> Self {
        SentInvite {
            bytes,
            seq,
            parsed: std::cell::OnceCell::new(),
        }
    }

    /// The request; `None` only if Locus built one it cannot parse back
    /// (a bug, logged).
    fn get(&self) -> Option<&Request> {
        self.parsed
            .get_or_init(|| {
                let parsed = parse_request(self.bytes.clone());
                if parsed.is_none() {
                    tracing::error!("an INVITE Locus sent does not parse back");
                }
                parsed
            })
            .as_ref()
    }
}

/// Leg B of a call: the current attempt.
#[derive(Debug)]
struct LegB {
    dialog: Dialog,
    /// The INVITE as sent (for CANCEL and the non-2xx ACK).
    invite: SentInvite,
    tx: Option<TransactionId>,
    /// Where B is reached when its Contact or route cannot be resolved.
    flow: Outbound,
    local: Local,
    compact: bool,
    provisional: bool,
    cancel_pending: bool,
    cancel_sent: bool,
    /// B's 2xx arrived: the dialog is confirmed on B's side.
    confirmed: bool,
    /// The ACK sent for B's 2xx, re-sent when B retransmits the 2xx.
    ack: Option<Outbound>,
    /// The attempt this leg is (to send the INVITE again after a challenge).
    at: Attempt,
    /// One answer per challenge (C18).
    guard: ChallengeGuard,
    /// The credentials this INVITE carries: header, realm, value.
    authorization: Vec<(HeaderName, String, String)>,
}

/// A pending 2xx retransmission toward a leg (RFC 3261 section 13.3.1.4).
#[derive(Debug)]
struct Retx {
    tx: TransactionId,
    status: u16,
    bytes: Bytes,
    interval: Duration,
    next: Instant,
    /// CSeq number of the INVITE this 2xx answers: its ACK stops it.
    cseq: u32,
}

#[derive(Debug)]
struct Call {
    phase: Phase,
    a: Dialog,
    a_invite: Request,
    a_source: SocketAddr,
    /// Where A is reached when its Contact or route cannot be resolved: the
    /// flow the INVITE came on.
    a_flow: Outbound,
    a_local: Local,
    a_compact: bool,
    a_tx: Option<TransactionId>,
    /// Whether a 2xx went to A: A's dialog is confirmed on our side.
    a_confirmed: bool,
    b: Option<LegB>,
    attempts: VecDeque<Step>,
    /// The DNS resolution the call waits for, and until when.
    resolving: Option<u64>,
    resolve_deadline: Option<Instant>,
    /// The offer sent to each B attempt (after the carrier policy).
    offer: Option<(String, Bytes)>,
    /// The final answer A gets if no attempt succeeds (C12: 503 unless a
    /// carrier told us the called party's disposition).
    retx: Option<Retx>,
    ring_deadline: Option<Instant>,
    ack_deadline: Option<Instant>,
    end_deadline: Instant,
    /// The call's one entry in the timer set: the earliest deadline.
    scheduled: Option<Instant>,
    /// The call's relay session and SDP state, once an SDP crossed.
    media: Option<Anchor>,
    /// The relay had no session for this emergency call: its SDP passes
    /// as without a relay, for the whole call.
    unanchored: bool,
    /// When the RTP-inactivity guard next looks at the relay session.
    media_check: Option<Instant>,
    /// An emergency call's routing state (E4 to E8).
    emergency: Option<Box<Emergency>>,
    /// A blind transfer in progress (REFER, [`transfer`]).
    transfer: Option<Box<transfer::Transfer>>,
    /// RFC 4028 session timers of both legs ([`session_timer`]).
    session: Box<session_timer::CallTimers>,
}

/// Where a new call comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// For logs: the trunk's name, or the phone's AOR or address.
    pub(crate) name: &'a str,
    /// Answer it with compact header names (C14).
    pub(crate) compact: bool,
}

/// Where an emergency call stands (E4 to E8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmergencyPhase {
    /// Waiting for the manager's 302, at most `timeout`.
    Manager,
    /// On its way to the gateway.
    Gateway,
}

/// An emergency call's routing state: the manager first, its 302 followed
/// to the gateway (E5) with the ELIN as calling number (E6); fail-open to
/// the gateway when the manager is down, silent or answers anything else
/// (E8).
#[derive(Debug)]
pub(crate) struct Emergency {
    /// The caller (AOR or source address), for logs.
    pub(crate) caller: String,
    pub(crate) phase: EmergencyPhase,
    /// The bound on the manager's answer (`manager_timeout_ms`).
    pub(crate) timeout: Duration,
    /// Set when the call starts: when the manager's time is up.
    pub(crate) deadline: Option<Instant>,
    /// The fail-open attempts: the gateway, with the device's published
    /// ELIN, else the gateway's `default_elin`.
    pub(crate) fail_open: Vec<Step>,
    /// The device's published ELIN (E11), if any.
    pub(crate) published_elin: Option<String>,
    /// The device's published location (E11), sent on to a gateway trunk
    /// with `send_location` (E6); copied from memory when the call starts.
    pub(crate) location: Option<pidf_lo::LocationDoc>,
    /// The trunks a 302's Contact may be routed to: every trunk in service
    /// that is not a manager (never back to a manager, E5).
    pub(crate) gateways: Trunks,
    /// The caller's AOR: the ELIN's callback target (E7).
    pub(crate) caller_aor: Option<String>,
}

impl Call {
    /// Whether `side`'s peer is written to in compact form (C15).
    fn compact(&self, side: Side) -> bool {
        match side {
            Side::A => self.a_compact,
            Side::B => self.b.as_ref().is_some_and(|b| b.compact),
        }
    }

    /// Takes a request's CSeq from `side`'s peer; `false` when it is out of
    /// order (RFC 3261 section 12.2.2: answer 500).
    fn accept_remote_seq(&mut self, side: Side, seq: u32) -> bool {
        match side {
            Side::A => self.a.accept_remote_seq(seq),
            Side::B => self
                .b
                .as_mut()
                .is_some_and(|b| b.dialog.accept_remote_seq(seq)),
        }
    }

    fn next_deadline(&self) -> Instant {
        [
            self.ring_deadline,
            self.ack_deadline,
            self.retx.as_ref().map(|r| r.next),
            self.media_check,
            self.resolve_deadline,
            self.emergency.as_ref().and_then(|e| e.deadline),
            self.transfer.as_ref().map(|t| t.deadline),
            self.transfer.as_ref().and_then(|t| t.resolve_deadline),
            self.session.deadline(),
        ]
        .into_iter()
        .flatten()
        .fold(self.end_deadline, Instant::min)
    }
}

/// What a transaction of a call is for.
#[derive(Debug, Clone)]
enum TxRole {
    /// A's INVITE server transaction.
    AInvite(u64),
    /// An INVITE client transaction toward B (one per attempt).
    BInvite(u64),
    /// A request relayed from one leg (its server transaction `server`,
    /// request `req` from `source`) to the other.
    Relay {
        call: u64,
        server: TransactionId,
        req: Box<Request>,
        source: SocketAddr,
        /// The side the relayed request went to.
        to: Side,
        compact: bool,
        /// A relayed re-INVITE as sent: its non-2xx needs our ACK.
        sent: Option<Box<Request>>,
    },
    /// BYE or CANCEL we originate: its response needs nothing.
    Own,
    /// The INVITE toward a transfer target (REFER, [`transfer`]).
    Transfer(u64),
    /// The final NOTIFY of a completed transfer, on the transferor's
    /// retired dialog (its key): BYE follows its answer.
    ReferNotify((String, String)),
    /// The BYE that ends a transferor's retired dialog (its key).
    ReferBye((String, String)),
    /// The re-INVITE that takes a transferee off hold once its new party
    /// answered (the call, the transferee's side, the INVITE as sent).
    Unhold(u64, Side, Box<Request>),
    /// A session refresh re-INVITE Locus sent on a leg (RFC 4028,
    /// [`session_timer`]): the call, the leg, the INVITE as sent.
    Refresh(u64, Side, Box<Request>),
}

/// One entry per live call: its earliest deadline.
type TimerEntry = (Instant, u64);

/// The trunk media policy (C21-C24), built once rather than per SDP.
static CARRIER_TRUNK: std::sync::LazyLock<sdp::Policy> =
    std::sync::LazyLock::new(sdp::Policy::carrier_trunk);

/// The B2BUA's tables: foldhash (keyed, a random seed per map) as for the
/// transaction table; SipHash cost more than the lookups themselves
/// (issue 3).
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A dialog's key in [`Calls`]'s tables, (Call-ID, our tag), looked up
/// from a request's borrowed fields without copying them (issue 3).
pub(crate) trait DialogKey {
    /// The Call-ID and the tag.
    fn parts(&self) -> (&str, &str);
}

impl DialogKey for (String, String) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl DialogKey for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn DialogKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn DialogKey + 'a) {
        self
    }
}

/// Hashes as `(String, String)` does: each part in turn.
impl std::hash::Hash for dyn DialogKey + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (call_id, tag) = self.parts();
        call_id.hash(state);
        tag.hash(state);
    }
}

impl PartialEq for dyn DialogKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn DialogKey + '_ {}

/// Every call of the server.
#[derive(Debug)]
pub(crate) struct Calls {
    config: CallsConfig,
    t1: Duration,
    t2: Duration,
    next_id: u64,
    calls: Map<u64, Call>,
    /// (Call-ID, our tag) of each leg's dialog.
    by_dialog: Map<(String, String), (u64, Side)>,
    by_tx: Map<TransactionId, TxRole>,
    timers: BTreeSet<TimerEntry>,
    /// Calls whose deadlines changed since the timer set was updated.
    dirty: Vec<u64>,
    /// The media relay; `None` passes SDP through.
    media: Option<Box<dyn MediaPort>>,
    /// The RTP-inactivity guard's limit; `None` when off.
    inactivity: Option<Duration>,
    /// `[sip.session_timer]` (RFC 4028).
    session_timer: session_timer::Settings,
    /// Resolutions waiting for the driver.
    resolve_out: VecDeque<ResolveRequest>,
    /// Resolutions in progress: the call and the name.
    lookups: Map<u64, (u64, Lookup)>,
    next_token: u64,
    /// How long a call waits for a resolution (`sip.dns.timeout_ms` and a
    /// margin for the driver).
    dns_wait: Duration,
    /// (ELIN, caller AOR) of emergency INVITEs sent to a gateway since the
    /// core last asked ([`Calls::take_elin_uses`], E7).
    elin_uses: Vec<(String, String)>,
    /// E8: a manager's INVITE abandoned by fail-open before it could be
    /// cancelled (no provisional yet): CANCELled on its first provisional,
    /// ACKed (and a 2xx ended with BYE) on its final answer, forgotten when
    /// its transaction ends. Also the pending INVITE of any call that
    /// ended before B's final answer ([`Calls::end`]).
    orphans: Map<TransactionId, LegB>,
    /// Transferors' dialogs after their transfer completed, by (Call-ID,
    /// our tag): they get the final NOTIFY, then BYE ([`transfer`]).
    retired: Map<(String, String), transfer::Retired>,
    /// The ACK for a transfer target's 2xx, re-sent when the 2xx is
    /// (its INVITE transaction, while it absorbs retransmissions).
    accepted: Map<TransactionId, Outbound>,
}

fn leg_of(side: Side) -> Leg {
    match side {
        Side::A => Leg::A,
        Side::B => Leg::B,
    }
}

/// A response to `req` (RFC 3261 section 8.2.6) with the stamped top Via,
/// the To tag added when the request had none.
fn reply(
    req: &Request,
    source: SocketAddr,
    status: u16,
    reason: Option<&str>,
    to_tag: &str,
    user_agent: &str,
) -> ResponseBuilder {
    let code = StatusCode::new(status).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
    let mut b = ResponseBuilder::new(code, reason);
    let stamped = req.top_via().and_then(|v| stamp_top_via(&v, source));
    for (i, v) in req.header_values(HeaderName::Via).enumerate() {
        match (&stamped, i) {
            (Some(s), 0) => b = b.raw_header("Via", s),
            _ => b = b.raw_header("Via", v),
        }
    }
    if let Some(v) = req.first(HeaderName::From) {
        b = b.raw_header("From", v);
    }
    if let Some(v) = req.first(HeaderName::To) {
        if status > 100 && req.to_tag().is_none() {
            let mut to = v.to_vec();
            to.extend_from_slice(b";tag=");
            to.extend_from_slice(to_tag.as_bytes());
            b = b.raw_header("To", to);
        } else {
            b = b.raw_header("To", v);
        }
    }
    for h in [HeaderName::CallId, HeaderName::CSeq] {
        if let Some(v) = req.first(h) {
            b = b.raw_header(h.wire_name(false), v);
        }
    }
    b.raw_header("Server", user_agent)
}

fn parse_response(bytes: Bytes) -> Option<Response> {
    match Message::parse(bytes) {
        Ok(Message::Response(r)) => Some(r),
        _ => None,
    }
}

/// `ip` as a URI host (IPv6 in brackets), without `core::fmt` (issue 3:
/// once per call).
fn host_text(ip: IpAddr) -> String {
    let mut out = String::with_capacity(41);
    sip_core::Host::from(ip).push_to(&mut out);
    out
}

/// The response an action carries: the one the core has just parsed when
/// the action came from it (the same buffer), else parsed here.
fn response_of<'r>(received: Option<&'r Response>, message: &Bytes) -> Option<Cow<'r, Response>> {
    match received {
        Some(r)
            if r.headers().buffer().as_ptr() == message.as_ptr()
                && r.headers().buffer().len() == message.len() =>
        {
            Some(Cow::Borrowed(r))
        }
        _ => parse_response(message.clone()).map(Cow::Owned),
    }
}

fn parse_request(bytes: Bytes) -> Option<Request> {
    match Message::parse(bytes) {
        Ok(Message::Request(r)) => Some(r),
        _ => None,
    }
}

/// The body of a message with its Content-Type, when it has one.
fn body_of(headers: &sip_core::Headers) -> Option<(String, Bytes)> {
    let body = headers.body_bytes();
    if body.is_empty() {
        return None;
    }
    let ct = headers.first(HeaderName::ContentType).map_or_else(
        || "application/sdp".to_owned(),
        |v| String::from_utf8_lossy(v).into_owned(),
    );
    Some((ct, body))
}

impl Calls {
    /// An empty call table.
    pub(crate) fn new(config: &CallsConfig, t1: Duration, t2: Duration) -> Self {
        Calls {
            config: config.clone(),
            t1,
            t2,
            next_id: 1,
            calls: Map::default(),
            by_dialog: Map::default(),
            by_tx: Map::default(),
            timers: BTreeSet::new(),
            dirty: Vec::new(),
            media: None,
            inactivity: None,
            session_timer: session_timer::Settings::default(),
            resolve_out: VecDeque::new(),
            lookups: Map::default(),
            next_token: 1,
            dns_wait: Duration::from_millis(2_500),
            elin_uses: Vec::new(),
            orphans: Map::default(),
            retired: Map::default(),
            accepted: Map::default(),
        }
    }

    /// How long one DNS resolution may take (`sip.dns.timeout_ms`); a call
    /// waits that plus half a second before going on without the name.
    pub(crate) fn set_dns_timeout(&mut self, timeout: Duration) {
        self.dns_wait = timeout + Duration::from_millis(500);
    }

    /// RFC 4028 session timers for calls set up from now on.
    pub(crate) fn set_session_timer(&mut self, config: &crate::config::SessionTimerConfig) {
        self.session_timer = session_timer::Settings {
            expires: config.expires_secs,
            min_se: config.min_se_secs,
        };
    }

    /// The next resolution for the driver to run ([`crate::dns`]).
    pub(crate) fn poll_resolve(&mut self) -> Option<ResolveRequest> {
        while let Some(r) = self.resolve_out.pop_front() {
            if self.lookups.contains_key(&r.token) {
                return Some(r);
            }
        }
        None
    }

    /// The endpoints of resolution `token` (empty when DNS gave none): the
    /// call goes on with them first, then the rest of its attempts.
    pub(crate) fn on_resolved(
        &mut self,
        ctx: &mut Ctx<'_>,
        token: u64,
        endpoints: &[sip_resolve::Endpoint],
    ) {
        let Some((call_id, lookup)) = self.lookups.remove(&token) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call
            .transfer
            .as_ref()
            .is_some_and(|t| t.resolving == Some(token))
        {
            return self.on_transfer_resolved(ctx, call_id, &lookup, endpoints);
        }
        if call.resolving != Some(token) {
            return;
        }
        call.resolving = None;
        call.resolve_deadline = None;
        self.dirty.push(call_id);
        let found: Vec<Step> = endpoints
            .iter()
            .filter(|e| e.transport == lookup.transport)
            .map(|e| Step::Try(lookup.attempt(e)))
            .collect();
        if found.is_empty() {
            tracing::warn!(call = call_id, name = %lookup.name.name, "DNS gave no endpoint: going on without the name");
        } else {
            tracing::debug!(call = call_id, name = %lookup.name.name, endpoints = found.len(), "resolved");
        }
        for step in found.into_iter().rev() {
            call.attempts.push_front(step);
        }
        self.try_next(ctx, call_id);
        self.flush_timers();
    }

    /// Anchors the media of calls set up from now on in `port`; answered
    /// calls silent for `inactivity` are hung up (`None`: never).
    pub(crate) fn set_media(&mut self, port: Box<dyn MediaPort>, inactivity: Option<Duration>) {
        self.media = Some(port);
        self.inactivity = inactivity;
    }

    /// Live relay sessions (0 without a relay).
    pub(crate) fn media_sessions(&self) -> usize {
        self.media.as_ref().map_or(0, |m| m.sessions())
    }

    /// Puts each changed call's earliest deadline in the timer set (one
    /// entry per call, so the set never outgrows the call table).
    pub(crate) fn flush_timers(&mut self) {
        for call_id in std::mem::take(&mut self.dirty) {
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            let next = call.next_deadline();
            if call.scheduled != Some(next) {
                if let Some(old) = call.scheduled.take() {
                    self.timers.remove(&(old, call_id));
                }
                self.timers.insert((next, call_id));
                call.scheduled = Some(next);
            }
        }
    }

    // ---- getters ----

    /// The (ELIN, caller AOR) pairs of emergency INVITEs sent since the
    /// last call (E7).
    pub(crate) fn take_elin_uses(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.elin_uses)
    }

    /// Live calls.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// When [`Calls::handle_timeout`] must next run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    // ---- input: new calls ----

    /// A new INVITE from `origin` (a carrier trunk or a phone), whose
    /// server transaction is `id`, tried along `attempts`; `emergency` for
    /// an emergency call (E4 to E8).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        req: &Request,
        inbound: &Inbound,
        origin: Origin<'_>,
        attempts: Vec<Step>,
        emergency: Option<Emergency>,
    ) {
        let tag = new_tag();
        let ua = ctx.user_agent.to_owned();
        let answer = |ctx: &mut Ctx<'_>, status: u16, reason: Option<&str>| {
            let b = reply(req, inbound.source, status, reason, &tag, &ua);
            ctx.respond(id, status, b.form(form_of(origin.compact)).to_bytes());
        };
        // Kari's Law: an emergency call is never refused for the call
        // limit (the limit guards resources; 911 must get through).
        if self.calls.len() >= self.config.max_calls && emergency.is_none() {
            tracing::warn!(max = self.config.max_calls, "call limit reached: 503");
            return answer(ctx, 503, Some("Service Unavailable (call limit)"));
        }
        // The carrier's offer under the trunk media policy (C21-C24): 488
        // for well-known ports or a T.38-only offer, codecs filtered; then
        // anchored in the relay (below, once the call has its number).
        // The SDP may be a part of a multipart body (E6: beside a PIDF-LO).
        let offer = match body_of(req.headers()) {
            Some((ct, body)) if self.media.is_none() => {
                match map_sdp(&ct, &body, &tag, Self::offer_to_b) {
                    Ok(Some(filtered)) => Some(filtered),
                    Ok(None) => Some((ct, body)),
                    Err(status) => return answer(ctx, status, None),
                }
            }
            other => other,
        };
        let Some(a) = Dialog::uas(req, &tag) else {
            return answer(ctx, 400, Some("Bad Request (no dialog identifiers)"));
        };
        if attempts.is_empty() {
            return answer(ctx, 503, Some("Service Unavailable (no endpoint)"));
        }
        let Some(session) =
            self.session_start(ctx, id, req, inbound, &tag, origin, emergency.is_some())
        else {
            return;
        };
        let call_id = self.next_id;
        self.next_id += 1;
        let a_local = ctx.local(inbound.transport, inbound.local.ip());
        let end_deadline = ctx.now + Duration::from_secs(self.config.max_duration_secs);
        let mut call = Call {
            phase: Phase::Calling,
            a,
            a_invite: req.clone(),
            a_source: inbound.source,
            a_flow: Outbound::reply_to(inbound, Bytes::new()),
            a_local,
            a_compact: origin.compact,
            a_tx: Some(id),
            a_confirmed: false,
            b: None,
            attempts: attempts.into(),
            resolving: None,
            resolve_deadline: None,
            offer: None,
            retx: None,
            ring_deadline: None,
            ack_deadline: None,
            end_deadline,
            scheduled: None,
            media: None,
            unanchored: false,
            media_check: None,
            emergency: emergency.map(|mut e| {
                if e.phase == EmergencyPhase::Manager {
                    e.deadline = Some(ctx.now + e.timeout);
                }
                Box::new(e)
            }),
            transfer: None,
            session,
        };
        if self.media.is_some() {
            match Self::cross_body(&mut self.media, &mut call, call_id, Side::A, offer, true) {
                Ok(body) => call.offer = body,
                Err(status) => {
                    if call.media.is_some() {
                        if let Some(m) = self.media.as_mut() {
                            m.release(call_id);
                        }
                    }
                    return answer(ctx, status, None);
                }
            }
        } else {
            call.offer = offer;
        }
        // 100 Trying at once: the carrier stops retransmitting (C10 timing).
        let trying = reply(req, inbound.source, 100, None, &tag, &ua)
            .form(form_of(origin.compact))
            .to_bytes();
        ctx.respond(id, 100, trying);
        self.by_dialog.insert(
            (call.a.call_id().to_owned(), call.a.local_tag().to_owned()),
            (call_id, Side::A),
        );
        self.by_tx.insert(id, TxRole::AInvite(call_id));
        self.calls.insert(call_id, call);
        self.dirty.push(call_id);
        tracing::info!(call = call_id, from = %origin.name, "call routed");
        self.try_next(ctx, call_id);
        self.flush_timers();
    }

    /// The carrier's offer after the trunk policy, when no relay anchors
    /// the call.
    fn offer_to_b(body: &Bytes) -> Result<Bytes, u16> {
        let mut sdp = sdp::SessionDescription::parse_bytes(body).map_err(|e| {
            tracing::info!(error = %e, "malformed SDP offer: 400");
            400u16
        })?;
        sdp::filter_offer(&mut sdp, &CARRIER_TRUNK).map_err(|r| {
            tracing::info!(reason = %r, "SDP offer refused");
            r.status()
        })?;
        Ok(Bytes::from(sdp.serialize()))
    }

    /// The media seam: a body from side `from` on its way to the other
    /// side. An SDP offer is put under the trunk policy (C21-C24) with
    /// Opus first (C21), an SDP answer is filtered the same way; with a
    /// relay, the call's session is allocated on the first SDP and the
    /// description anchored ([`Anchor::cross`]). The SDP of a multipart
    /// body is found and treated the same, its other parts kept. Other
    /// bodies pass as they are; without a relay, so do answers.
    ///
    /// # Errors
    /// The status for whoever sent the SDP: 400 malformed, 488 refused by
    /// the policy or the relay, 503 no relay session.
    fn cross_body(
        media: &mut Option<Box<dyn MediaPort>>,
        call: &mut Call,
        call_id: u64,
        from: Side,
        body: Option<(String, Bytes)>,
        offer: bool,
    ) -> Result<Option<(String, Bytes)>, u16> {
        let Some((ct, bytes)) = body else {
            return Ok(None);
        };
        if is_multipart(&ct) {
            let seed = format!("c{call_id}");
            let sdp_ct = String::from("application/sdp");
            let mapped = map_sdp(&ct, &bytes, &seed, |sdp| {
                let done = Self::cross_body(
                    media,
                    call,
                    call_id,
                    from,
                    Some((sdp_ct, sdp.clone())),
                    offer,
                )?;
                Ok(done.map_or_else(|| sdp.clone(), |(_, b)| b))
            })?;
            return Ok(Some(mapped.unwrap_or((ct, bytes))));
        }
        if !is_sdp(&ct) {
            return Ok(Some((ct, bytes)));
        }
        // Without a relay, or for a call the relay could not take: the
        // SDP passes after the trunk policy (offers) or as it is.
        let relay = media.as_deref_mut().filter(|_| !call.unanchored);
        let Some(port) = relay else {
            if offer {
                return Self::offer_to_b(&bytes).map(|b| Some((ct, b)));
            }
            return Ok(Some((ct, bytes)));
        };
        let mut sdp = sdp::SessionDescription::parse_bytes(&bytes).map_err(|e| {
            tracing::info!(call = call_id, error = %e, "malformed SDP");
            400u16
        })?;
        let filtered = if offer {
            sdp::filter_offer(&mut sdp, &CARRIER_TRUNK)
        } else {
            sdp::filter_answer(&mut sdp, &CARRIER_TRUNK)
        };
        filtered.map_err(|r| {
            tracing::info!(call = call_id, reason = %r, offer, "SDP refused");
            r.status()
        })?;
        if offer {
            sdp::prefer_opus(&mut sdp);
        }
        let anchor = match call.media.as_mut() {
            Some(a) => a,
            None => match port.allocate(call_id) {
                Ok(legs) => call.media.insert(Anchor::new(legs)),
                // An emergency call is never refused for want of relay
                // ports (out of ports or file descriptors): its media
                // flows end to end instead, for the whole call.
                Err(e) if call.emergency.is_some() => {
                    tracing::warn!(call = call_id, error = %e, "emergency call: no media relay session, its media passes end to end");
                    call.unanchored = true;
                    return Ok(Some((ct, Bytes::from(sdp.serialize()))));
                }
                Err(e) => {
                    tracing::warn!(call = call_id, error = %e, "no media relay session: 503");
                    return Err(503);
                }
            },
        };
        let to_ip = match from {
            Side::A => call
                .b
                .as_ref()
                .map_or(call.a_local.addr.ip(), |b| b.local.addr.ip()),
            Side::B => call.a_local.addr.ip(),
        };
        let text = anchor.cross(port, call_id, leg_of(from), sdp, to_ip)?;
        Ok(Some((ct, Bytes::from(text))))
    }

    /// The attempts toward a routing destination, in order.
    pub(crate) fn attempts(dest: &Destination, trunks: &Trunks) -> Vec<Step> {
        match dest {
            Destination::Uri(u) => uri_address(u)
                .map(|(addr, transport)| {
                    Step::Try(Attempt {
                        ruri: u.clone(),
                        to: format!("<{u}>"),
                        addr,
                        transport,
                        compact: false,
                        identity: IdentityMode::Pai,
                        auth: None,
                        elin: None,
                        geo: None,
                        conn: None,
                    })
                })
                .into_iter()
                .collect(),
            Destination::Trunks(list) => list
                .iter()
                .filter_map(|(name, user)| trunks.by_name(name).map(|t| (t, user)))
                .flat_map(|(t, user)| Self::trunk_steps(t, user, None, None))
                .collect(),
        }
    }

    /// The attempts toward one trunk for `user`: C20's order, the names
    /// (SRV, then A) first, then the IPs in service (E3); `elin` is the
    /// calling number they present (E6), `location` the device's location,
    /// sent by value when the trunk has `send_location` (E6, RFC 6442).
    pub(crate) fn trunk_steps(
        t: &Trunk,
        user: &str,
        elin: Option<&str>,
        location: Option<&pidf_lo::LocationDoc>,
    ) -> Vec<Step> {
        let mut out = Vec::new();
        let transport = t.config.transport.transport();
        let geo = location
            .filter(|_| t.config.send_location)
            .and_then(|doc| Geolocation::new(doc, elin));
        let elin = elin.map(str::to_owned);
        for name in t.target.names() {
            out.push(Step::Resolve(Lookup {
                name: name.clone(),
                user: user.to_owned(),
                transport,
                compact: t.config.compact_headers,
                identity: t.config.identity,
                domain: t.config.domain.clone(),
                auth: t.config.auth.clone(),
                elin: elin.clone(),
                geo: geo.clone(),
            }));
        }
        for addr in t.live_endpoints() {
            // C9: the trunk's domain, else the carrier's IP.
            let host = t.config.domain.clone().unwrap_or_else(|| match addr {
                // Without core::fmt (issue 3); IPv6 keeps Display (its scope).
                SocketAddr::V4(_) => {
                    let mut host = String::with_capacity(21);
                    sip_core::addr_text::push_socket_addr(&mut host, addr);
                    host
                }
                SocketAddr::V6(_) => addr.to_string(),
            });
            out.push(Step::Try(trunk_attempt(
                user,
                &host,
                addr,
                transport,
                t.config.compact_headers,
                t.config.identity,
                t.config.auth.clone(),
                elin.clone(),
                geo.clone(),
            )));
        }
        out
    }

    /// The attempts toward a registered phone: each binding's contact URI
    /// as Request-URI, sent to the address, transport and connection the
    /// REGISTER came from (phones behind NAT), latest registration first.
    pub(crate) fn binding_steps(bindings: &[crate::registrar::Binding]) -> Vec<Step> {
        let mut list: Vec<&crate::registrar::Binding> = bindings.iter().collect();
        list.sort_by_key(|b| std::cmp::Reverse(b.stored.registered_unix));
        list.into_iter()
            .filter_map(|b| {
                let s = &b.stored;
                let addr: SocketAddr = s.source.parse().ok()?;
                let transport = match s.transport.as_str() {
                    "tcp" => Transport::Tcp,
                    "tls" => Transport::Tls,
                    _ => Transport::Udp,
                };
                Some(Step::Try(Attempt {
                    ruri: s.uri.clone(),
                    to: format!("<{}>", s.uri),
                    addr,
                    transport,
                    compact: false,
                    identity: IdentityMode::Pai,
                    auth: None,
                    elin: None,
                    geo: None,
                    conn: b.conn,
                }))
            })
            .collect()
    }

    /// Starts the next attempt toward B (or pauses the call for a DNS
    /// resolution), or gives A its final answer when none is left (C12:
    /// 503, the called party's disposition is unknown).
    fn try_next(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.phase != Phase::Calling {
            return;
        }
        while let Some(step) = call.attempts.pop_front() {
            let at = match step {
                Step::Try(at) => at,
                Step::Resolve(lookup) => {
                    // Paused until the driver answers or the deadline
                    // passes ([`crate::dns`]). The failed leg is forgotten
                    // (its transaction still absorbs retransmissions).
                    let token = self.next_token;
                    self.next_token += 1;
                    let target = sip_resolve::Target {
                        host: sip_resolve::Host::Name(lookup.name.name.clone()),
                        port: lookup.name.port,
                        transport: Some(lookup.transport),
                        secure: false,
                    };
                    tracing::debug!(call = call_id, name = %lookup.name.name, token, "resolving");
                    self.resolve_out.push_back(ResolveRequest { token, target });
                    self.lookups.insert(token, (call_id, lookup));
                    if let Some(old) = call.b.take() {
                        self.by_dialog.remove(
                            &(old.dialog.call_id(), old.dialog.local_tag()) as &dyn DialogKey
                        );
                    }
                    call.resolving = Some(token);
                    call.resolve_deadline = Some(ctx.now + self.dns_wait);
                    self.dirty.push(call_id);
                    return;
                }
            };
            let elin = at.elin.clone();
            if Self::start_b_invite(
                ctx,
                call_id,
                call,
                &mut self.by_tx,
                &mut self.by_dialog,
                at,
                None,
            ) {
                // E7: the ELIN now calls back to this caller.
                if let (Some(elin), Some(aor)) = (
                    elin,
                    call.emergency.as_ref().and_then(|e| e.caller_aor.clone()),
                ) {
                    self.elin_uses.push((elin, aor));
                }
                return;
            }
        }
        // E8: no manager endpoint answered: the emergency call fails open.
        if call
            .emergency
            .as_ref()
            .is_some_and(|e| e.phase == EmergencyPhase::Manager)
        {
            self.fail_open(ctx, call_id, "no manager endpoint answered");
            return;
        }
        // Every attempt failed with 503, 408, a timeout or a transport
        // failure: the disposition of the called party is unknown (C12).
        self.fail_a(ctx, call_id, 503, None);
        self.end(ctx, call_id);
    }

    /// Sends the INVITE of attempt `at` toward B: a new dialog, or, with
    /// `retry`, the same dialog identifiers with the next CSeq and
    /// credentials (C18). `false` when it could not be started.
    fn start_b_invite(
        ctx: &mut Ctx<'_>,
        call_id: u64,
        call: &mut Call,
        by_tx: &mut Map<TransactionId, TxRole>,
        by_dialog: &mut Map<(String, String), (u64, Side)>,
        at: Attempt,
        retry: Option<Retry>,
    ) -> bool {
        let fallback = call.a_local.addr.ip();
        let Some(leg) = Self::invite_leg(
            ctx,
            &call.a_invite,
            fallback,
            call.offer.as_ref(),
            at,
            retry,
            Self::b_timer_offer(&call.session),
        ) else {
            return false;
        };
        call.session.sent(Side::B, call.offer.as_ref());
        if let Some(id) = leg.tx {
            by_tx.insert(id, TxRole::BInvite(call_id));
        }
        if let Some(old) = call.b.take() {
            by_dialog.remove(&(old.dialog.call_id(), old.dialog.local_tag()) as &dyn DialogKey);
        }
        by_dialog.insert(
            (
                leg.dialog.call_id().to_owned(),
                leg.dialog.local_tag().to_owned(),
            ),
            (call_id, Side::B),
        );
        call.b = Some(leg);
        true
    }

    /// Starts the INVITE of attempt `at` (a new UAC leg presenting the
    /// caller of `a_invite`, with `offer` as body): the leg, its client
    /// transaction started and its destination recorded; `None` when it
    /// could not be started. The caller records the transaction's role.
    /// `timer`: the RFC 4028 `Session-Expires` and `Min-SE` it offers.
    fn invite_leg(
        ctx: &mut Ctx<'_>,
        a_invite: &Request,
        fallback: IpAddr,
        offer: Option<&(String, Bytes)>,
        at: Attempt,
        retry: Option<Retry>,
        timer: Option<(u32, u32)>,
    ) -> Option<LegB> {
        let local = ctx.local(at.transport, fallback);
        // C19: the calling identity as this attempt's identity mode
        // presents it, the number's host being the endpoint's address.
        // E6: an emergency call's ELIN replaces the calling number.
        let caller = CallingIdentity::from_request(a_invite);
        let caller = match &at.elin {
            Some(elin) => caller.with_number(elin),
            None => caller,
        };
        let ident = outbound_headers(&caller, at.identity, &host_text(at.addr.ip()));
        let (mut dialog, guard, authorization) = match retry {
            None => {
                let mut host = String::with_capacity(39);
                sip_core::addr_text::push_ip(&mut host, local.addr.ip());
                let b_call_id = new_call_id(Some(&host));
                (
                    Dialog::uac(&b_call_id, &new_tag(), &ident.from, &at.to, &at.ruri, 0),
                    ChallengeGuard::new(),
                    Vec::new(),
                )
            }
            Some(r) => (
                Dialog::uac(&r.call_id, &r.tag, &ident.from, &at.to, &at.ruri, r.seq),
                r.guard,
                r.authorization,
            ),
        };
        let DialogRequest {
            builder,
            branch,
            cseq,
            ..
        } = dialog.request(Method::Invite, &local);
        // The B2BUA is a loop guard too: Max-Forwards goes down by one.
        let mf = a_invite
            .max_forwards()
            .ok()
            .flatten()
            .unwrap_or(70)
            .saturating_sub(1)
            .min(70);
        let mut b = builder
            .remove_header(HeaderName::MaxForwards)
            .header(HeaderName::MaxForwards, mf)
            .header(HeaderName::Allow, TRUNK_ALLOW)
            .raw_header("User-Agent", ctx.user_agent);
        for (h, v) in &ident.extra {
            b = b.header(*h, v);
        }
        for (h, _, v) in &authorization {
            b = b.header(*h, v);
        }
        if let Some((expires, min_se)) = timer {
            b = b
                .header(HeaderName::Supported, "timer")
                .header(HeaderName::SessionExpires, expires)
                .header(HeaderName::MinSe, min_se);
        }
        if ident.contact_user.is_some() {
            b = b
                .remove_header(HeaderName::Contact)
                .raw_header("Contact", ident.contact(&local.contact()));
        }
        // E6: the location by value (RFC 6442) beside the offer.
        let body = match &at.geo {
            Some(geo) => {
                b = b
                    .raw_header("Geolocation", geo.header())
                    .raw_header("Geolocation-Routing", crate::geolocation::ROUTING);
                Some(geo.body(offer))
            }
            None => offer.cloned(),
        };
        if let Some((ct, body)) = body {
            b = b.body(&ct, body);
        }
        let bytes = b.form(form_of(at.compact)).to_bytes();
        let invite = SentInvite::new(bytes.clone(), cseq);
        let key = TransactionKey::client(&branch, Kind::Invite);
        let id = match ctx
            .tx
            .start_client_invite(ctx.now, key, bytes, tx_transport(at.transport))
        {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the INVITE toward B");
                return None;
            }
        };
        let mut flow = Outbound::new(at.transport, at.addr, Bytes::new());
        flow.conn = at.conn;
        ctx.dests.insert(id, flow.clone());
        tracing::debug!(dest = %at.addr, ruri = %at.ruri, credentials = !authorization.is_empty(), "attempt");
        Some(LegB {
            dialog,
            invite,
            tx: Some(id),
            flow,
            local,
            compact: at.compact,
            provisional: false,
            cancel_pending: false,
            cancel_sent: false,
            confirmed: false,
            ack: None,
            at,
            guard,
            authorization,
        })
    }

    /// The answer to B's 401/407 (C18): the credentials for the INVITE sent
    /// again, or why there is none.
    fn challenge_answer(b: &mut LegB, resp: &Response, status: u16) -> ChallengeOutcome {
        let Some(auth) = b.at.auth.as_ref() else {
            return ChallengeOutcome::Unanswerable;
        };
        let (asked, answer) = if status == 407 {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        let offered: Vec<Challenge> = resp
            .header_values(asked)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .filter_map(|v| Challenge::parse(v).ok())
            .collect();
        // One realm answered: the configured one, else the first offered.
        let Some(realm) = auth
            .realm
            .clone()
            .or_else(|| offered.first().map(|c| c.realm.clone()))
        else {
            tracing::warn!("digest challenge without a usable Digest header: not answered");
            return ChallengeOutcome::Unanswerable;
        };
        let of_realm: Vec<Challenge> = offered.into_iter().filter(|c| c.realm == realm).collect();
        let Some(chosen) = pick_challenge(&of_realm) else {
            tracing::warn!(%realm, "no digest challenge for the configured realm: not answered");
            return ChallengeOutcome::Unanswerable;
        };
        if let Err(e) = b.guard.admit(chosen) {
            tracing::warn!(error = %e, "carrier refused the credentials");
            return ChallengeOutcome::GiveUp;
        }
        let Some(invite) = b.invite.get() else {
            return ChallengeOutcome::Unanswerable;
        };
        let uri = invite.uri_str().to_owned();
        let body = invite.headers().body_bytes();
        let creds = match respond(
            chosen,
            "INVITE",
            &uri,
            &auth.username,
            &auth.password,
            &new_tag(),
            1,
            Some(&body),
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot answer the digest challenge");
                return ChallengeOutcome::Unanswerable;
            }
        };
        let mut authorization: Vec<(HeaderName, String, String)> = b
            .authorization
            .iter()
            .filter(|(h, r, _)| !(*h == answer && *r == realm))
            .cloned()
            .collect();
        authorization.push((answer, realm, creds.to_string()));
        ChallengeOutcome::Answer(Retry {
            call_id: b.dialog.call_id().to_owned(),
            tag: b.dialog.local_tag().to_owned(),
            seq: b.invite.seq,
            guard: b.guard.clone(),
            authorization,
        })
    }

    /// Gives A a final non-2xx answer (when its INVITE is still pending).
    fn fail_a(&mut self, ctx: &mut Ctx<'_>, call_id: u64, status: u16, reason: Option<&str>) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(id) = call.a_tx else { return };
        if !matches!(
            ctx.tx.state(id),
            Some(TransactionState::ServerInvite(
                ServerInviteState::Proceeding
            ))
        ) {
            return;
        }
        let b = reply(
            &call.a_invite,
            call.a_source,
            status,
            reason,
            call.a.local_tag(),
            ctx.user_agent,
        );
        ctx.respond(id, status, b.form(form_of(call.a_compact)).to_bytes());
    }

    // ---- input: transaction actions ----

    /// An action of any transaction (the core hands them all; those of
    /// transactions that are not a call's are ignored).
    pub(crate) fn on_action(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, action: &Action) {
        let Some(role) = self.by_tx.get(&id).cloned() else {
            return;
        };
        match action {
            Action::Response { status, message } => match role {
                TxRole::BInvite(call) => self.on_b_invite_response(ctx, call, id, *status, message),
                TxRole::Relay { .. } => self.on_relay_response(ctx, id, &role, *status, message),
                TxRole::Transfer(call) => {
                    self.on_transfer_response(ctx, call, id, *status, message)
                }
                TxRole::ReferNotify(key) if *status >= 200 => self.after_refer_notify(ctx, &key),
                TxRole::ReferBye(key) if *status >= 200 => {
                    self.retired.remove(&key);
                }
                TxRole::Unhold(call, side, sent) => {
                    self.on_unhold_response(ctx, call, side, id, &sent, *status, message);
                }
                TxRole::Refresh(call, side, sent) => {
                    self.on_refresh_response(ctx, call, side, id, &sent, *status, message);
                }
                _ => {}
            },
            Action::Ack(bytes) => {
                // An ACK that reused the INVITE's branch: same as any ACK.
                if let (TxRole::AInvite(call), Some(req)) = (&role, parse_request(bytes.clone())) {
                    self.on_ack_for(ctx, *call, Side::A, &req);
                }
            }
            Action::Timeout(_) | Action::TransportError => match role {
                TxRole::BInvite(call) => self.on_b_failure(ctx, call, id),
                TxRole::Relay { .. } => self.on_relay_response_status(ctx, id, &role, 408, None),
                TxRole::Transfer(call) => self.on_transfer_failure(ctx, call, id),
                TxRole::ReferNotify(key) => self.after_refer_notify(ctx, &key),
                TxRole::ReferBye(key) => {
                    self.retired.remove(&key);
                }
                TxRole::Refresh(call, ..) => self.on_refresh_failure(ctx, call),
                TxRole::AInvite(_) | TxRole::Own | TxRole::Unhold(..) => {}
            },
            Action::Terminated => {
                self.by_tx.remove(&id);
                self.orphans.remove(&id);
                self.accepted.remove(&id);
                match role {
                    TxRole::AInvite(call) => {
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.a_tx = None;
                        }
                    }
                    TxRole::BInvite(call) => {
                        if let Some(b) = self.calls.get_mut(&call).and_then(|c| c.b.as_mut()) {
                            if b.tx == Some(id) {
                                b.tx = None;
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// E8: the emergency call goes straight to the gateway (the device's
    /// published ELIN, else the gateway's default ELIN); the manager's
    /// pending INVITE, if any, is cancelled. Never waits: the next attempt
    /// starts now.
    fn fail_open(&mut self, ctx: &mut Ctx<'_>, call_id: u64, reason: &str) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(e) = call.emergency.as_mut() else {
            return;
        };
        if e.phase != EmergencyPhase::Manager || call.phase != Phase::Calling {
            return;
        }
        e.phase = EmergencyPhase::Gateway;
        e.deadline = None;
        tracing::warn!(call = call_id, caller = %e.caller, reason, "emergency fail-open");
        call.attempts = std::mem::take(&mut e.fail_open).into();
        if let Some(b) = call.b.as_mut() {
            if b.tx.is_some() && !b.confirmed {
                Self::send_cancel(ctx, b, &mut self.by_tx);
            }
        }
        // The manager's leg is kept aside until its INVITE ends: cancelled
        // on its first provisional when it had none yet (RFC 3261 section
        // 9.1), its final answer ACKed.
        if call
            .b
            .as_ref()
            .is_some_and(|b| b.tx.is_some() && !b.confirmed)
        {
            if let Some(old) = call.b.take() {
                self.by_dialog
                    .remove(&(old.dialog.call_id(), old.dialog.local_tag()) as &dyn DialogKey);
                if let Some(tx) = old.tx {
                    self.orphans.insert(tx, old);
                }
            }
        }
        self.dirty.push(call_id);
        self.try_next(ctx, call_id);
    }

    /// The manager's final answer to an emergency INVITE (E5, E8): a 302
    /// is followed to the gateway its Contact user routes to, with the
    /// ELIN its escaped P-Asserted-Identity carries; anything else fails
    /// open.
    fn on_manager_answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        id: TransactionId,
        status: u16,
        resp: &Response,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(b) = call.b.as_mut() else { return };
        if (200..300).contains(&status) {
            // A manager that answers the call: end that leg, fail open.
            b.dialog.update_from_response(resp);
            b.confirmed = true;
            Self::ack_b(ctx, b, None);
            Self::send_in_dialog(ctx, b, Method::Bye, &mut self.by_tx);
            b.tx = None;
            return self.fail_open(ctx, call_id, "manager answered 2xx, not 302");
        }
        if let Some(ack) = b.invite.get().and_then(|i| ack_for_failure(i, resp)) {
            let bytes = ack.form(form_of(b.compact)).to_bytes();
            if let Err(e) = ctx.tx.set_ack(ctx.now, id, bytes) {
                tracing::debug!(error = %e, "ACK not taken by the transaction");
            }
        }
        b.tx = None;
        if status != 302 {
            return self.fail_open(ctx, call_id, &format!("manager answered {status}"));
        }
        let Some((user, elin)) = redirect_target(resp) else {
            return self.fail_open(ctx, call_id, "manager's 302 has no usable Contact");
        };
        let Some(e) = call.emergency.as_mut() else {
            return;
        };
        let Some(gw) = e.gateways.emergency_gateway(&user, &[]) else {
            return self.fail_open(ctx, call_id, "no gateway for the 302's Contact");
        };
        let elin = elin
            .or_else(|| e.published_elin.clone())
            .or_else(|| gw.config.default_elin.clone());
        tracing::info!(call = call_id, caller = %e.caller, gateway = %gw.config.name, elin = elin.as_deref().unwrap_or("-"), "emergency call: manager's 302 followed");
        call.attempts = Self::trunk_steps(gw, &user, elin.as_deref(), e.location.as_ref()).into();
        e.phase = EmergencyPhase::Gateway;
        e.deadline = None;
        self.dirty.push(call_id);
        self.try_next(ctx, call_id);
    }

    fn on_b_invite_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        id: TransactionId,
        status: u16,
        message: &Bytes,
    ) {
        let Some(resp) = response_of(ctx.received, message) else {
            return;
        };
        if self.orphans.contains_key(&id) {
            return self.on_orphan_response(ctx, id, status, &resp);
        }
        if status >= 200 {
            // E5, E8: the manager's final answer to an emergency call (the
            // manager is an emergency-device trunk by construction).
            let from_manager = self.calls.get(&call_id).is_some_and(|c| {
                c.phase == Phase::Calling
                    && c.b.as_ref().is_some_and(|b| b.tx == Some(id))
                    && c.emergency
                        .as_ref()
                        .is_some_and(|e| e.phase == EmergencyPhase::Manager)
            });
            if from_manager {
                return self.on_manager_answer(ctx, call_id, id, status, &resp);
            }
        }
        let t1 = self.t1;
        let ring = Duration::from_secs(self.config.ring_timeout_secs);
        let Some(call) = self.calls.get_mut(&call_id) else {
            // The call is gone (BYE, timeout): a late 2xx still needs ACK
            // and BYE, or B keeps a dialog nobody will end.
            return;
        };
        let Some(b) = call.b.as_mut().filter(|b| b.tx == Some(id)) else {
            return;
        };
        match status {
            100 => {}
            101..=199 => {
                b.provisional = true;
                if resp.to_tag().is_some() {
                    b.dialog.update_from_response(&resp);
                }
                if b.cancel_pending && !b.cancel_sent {
                    Self::send_cancel(ctx, b, &mut self.by_tx);
                    return;
                }
                if call.phase != Phase::Calling {
                    return;
                }
                if call.ring_deadline.is_none() {
                    let at = ctx.now + ring;
                    call.ring_deadline = Some(at);
                    self.dirty.push(call_id);
                }
                // C10: 183 with SDP for early media, 180 without SDP (an
                // early SDP the relay cannot take is dropped: 180).
                let offer = call.offer.is_none();
                let body = Self::cross_body(
                    &mut self.media,
                    call,
                    call_id,
                    Side::B,
                    body_of(resp.headers()),
                    offer,
                )
                .unwrap_or(None);
                let (code, reason) = if body.is_some() {
                    (183, "Session Progress")
                } else {
                    (180, "Ringing")
                };
                let Some(a_tx) = call.a_tx else { return };
                let mut r = Self::a_dialog_response(ctx, call, code, Some(reason));
                if let Some((ct, body)) = body {
                    r = r.body(&ct, body);
                }
                ctx.respond(a_tx, code, r.form(form_of(call.a_compact)).to_bytes());
            }
            200..=299 => {
                if let Some(ack) = &b.ack {
                    // A retransmitted 2xx: our ACK was lost.
                    ctx.out.push_back((None, ack.clone()));
                    return;
                }
                if b.confirmed {
                    // B retransmits its 2xx until ACKed (RFC 3261 section
                    // 13.3.1.4); the ACK goes end to end when A's comes, or
                    // at Timer H. Not a late answer.
                    return;
                }
                b.dialog.update_from_response(&resp);
                b.confirmed = true;
                if call.phase != Phase::Calling {
                    // CANCEL/200 race (RFC 3261 section 9.1) or ring timeout:
                    // the answer came too late; ACK it, then BYE.
                    Self::ack_b(ctx, b, None);
                    Self::send_in_dialog(ctx, b, Method::Bye, &mut self.by_tx);
                    self.end(ctx, call_id);
                    return;
                }
                let Some(a_tx) = call.a_tx else {
                    Self::ack_b(ctx, b, None);
                    Self::send_in_dialog(ctx, b, Method::Bye, &mut self.by_tx);
                    self.end(ctx, call_id);
                    return;
                };
                let offer = call.offer.is_none();
                let body = match Self::cross_body(
                    &mut self.media,
                    call,
                    call_id,
                    Side::B,
                    body_of(resp.headers()),
                    offer,
                ) {
                    Ok(body) => body,
                    Err(status) => {
                        // B answered with nothing usable (C21-C24): B's
                        // dialog is ended, A gets the refusal.
                        tracing::info!(call = call_id, status, "answer refused: BYE to B");
                        if let Some(b) = call.b.as_mut() {
                            Self::ack_b(ctx, b, None);
                            Self::send_in_dialog(ctx, b, Method::Bye, &mut self.by_tx);
                        }
                        let status = if status == 503 { 503 } else { 488 };
                        self.fail_a(ctx, call_id, status, None);
                        self.end(ctx, call_id);
                        return;
                    }
                };
                let mut r = Self::a_dialog_response(ctx, call, 200, None);
                for (h, v) in session_timer::answered(call, &resp, body.as_ref(), ctx.now) {
                    r = r.header(h, v);
                }
                if let Some((ct, body)) = body {
                    r = r.body(&ct, body);
                }
                let bytes = r.form(form_of(call.a_compact)).to_bytes();
                ctx.respond(a_tx, 200, bytes.clone());
                call.a_confirmed = true;
                call.phase = Phase::Answered;
                call.ring_deadline = None;
                if let Some(m) = call.media.as_mut() {
                    m.answered_at = Some(ctx.now);
                    call.media_check = self.inactivity.map(|d| ctx.now + d);
                }
                let ack_at = ctx.now + t1 * 64;
                call.ack_deadline = Some(ack_at);
                self.dirty.push(call_id);
                if !call.a_flow.transport.is_reliable() {
                    let next = ctx.now + t1;
                    call.retx = Some(Retx {
                        tx: a_tx,
                        status: 200,
                        bytes,
                        interval: t1,
                        next,
                        cseq: call.a_invite.cseq().map_or(0, |c| c.seq),
                    });
                }
                tracing::info!(call = call_id, "call answered");
            }
            _ => {
                // The transaction sends this ACK and repeats it for every
                // retransmission of the final response.
                if let Some(ack) = b.invite.get().and_then(|i| ack_for_failure(i, &resp)) {
                    let bytes = ack.form(form_of(b.compact)).to_bytes();
                    if let Err(e) = ctx.tx.set_ack(ctx.now, id, bytes) {
                        tracing::debug!(error = %e, "ACK not taken by the transaction");
                    }
                }
                if call.phase != Phase::Calling {
                    self.end(ctx, call_id);
                    return;
                }
                match status {
                    // C13: 503 (and any 5xx: a server failure, not the
                    // called party's) and C12's 408 fail over.
                    408 | 500..=599 => self.try_next(ctx, call_id),
                    // C11: a carrier's 3xx is a rejection, never followed,
                    // and Locus never sends 3xx to a carrier: 480, since
                    // the far end did decide about the called party (C12
                    // allows a 4xx when the disposition is known).
                    300..=399 => {
                        self.fail_a(
                            ctx,
                            call_id,
                            480,
                            Some("Temporarily Unavailable (redirect not followed)"),
                        );
                        self.end(ctx, call_id);
                    }
                    // C18: a challenge is answered once with the trunk's
                    // credentials; a second one ends the attempt as a 503
                    // does (fail over, C13). Without credentials the
                    // disposition of the called party is unknown: 503 (C12).
                    401 | 407 => match Self::challenge_answer(b, &resp, status) {
                        ChallengeOutcome::Answer(retry) => {
                            let at = b.at.clone();
                            if !Self::start_b_invite(
                                ctx,
                                call_id,
                                call,
                                &mut self.by_tx,
                                &mut self.by_dialog,
                                at,
                                Some(retry),
                            ) {
                                self.try_next(ctx, call_id);
                            }
                        }
                        ChallengeOutcome::GiveUp => self.try_next(ctx, call_id),
                        ChallengeOutcome::Unanswerable => {
                            self.fail_a(ctx, call_id, 503, None);
                            self.end(ctx, call_id);
                        }
                    },
                    // RFC 4028 section 7.4: once more with the far end's
                    // larger Min-SE.
                    422 if call.session.retry_422(&resp) => {
                        call.attempts.push_front(Step::Try(b.at.clone()));
                        self.try_next(ctx, call_id);
                    }
                    // E6, RFC 6442 section 4.1: the location we added was
                    // refused (424 Bad Location Information). That is ours
                    // to handle, never the caller's: the same endpoint at
                    // once again, with the ELIN only (fail-open).
                    424 if b.at.geo.is_some() => {
                        let mut at = b.at.clone();
                        at.geo = None;
                        tracing::warn!(
                            call = call_id,
                            "gateway refused the location (424): sent again without it"
                        );
                        call.attempts.push_front(Step::Try(at));
                        self.try_next(ctx, call_id);
                    }
                    // C12: any other 4xx (and 6xx) ends the attempt and is
                    // relayed: the far end knows the called party.
                    _ => {
                        let reason = resp.reason().into_owned();
                        self.fail_a(ctx, call_id, status, Some(&reason));
                        self.end(ctx, call_id);
                    }
                }
            }
        }
    }

    /// A response to an abandoned manager INVITE (E8, see `orphans`).
    fn on_orphan_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        status: u16,
        resp: &Response,
    ) {
        match status {
            100 => {}
            101..=199 => {
                if let Some(o) = self.orphans.get_mut(&id) {
                    if !o.cancel_sent {
                        Self::send_cancel(ctx, o, &mut self.by_tx);
                    }
                }
            }
            200..=299 => {
                if let Some(mut o) = self.orphans.remove(&id) {
                    o.dialog.update_from_response(resp);
                    Self::ack_b(ctx, &mut o, None);
                    Self::send_in_dialog(ctx, &mut o, Method::Bye, &mut self.by_tx);
                }
            }
            _ => {
                if let Some(o) = self.orphans.remove(&id) {
                    if let Some(ack) = o.invite.get().and_then(|i| ack_for_failure(i, resp)) {
                        let bytes = ack.form(form_of(o.compact)).to_bytes();
                        if let Err(e) = ctx.tx.set_ack(ctx.now, id, bytes) {
                            tracing::debug!(error = %e, "ACK not taken by the transaction");
                        }
                    }
                }
            }
        }
    }

    fn on_b_failure(&mut self, ctx: &mut Ctx<'_>, call_id: u64, id: TransactionId) {
        if self.orphans.remove(&id).is_some() {
            return;
        }
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.b.as_ref().and_then(|b| b.tx) != Some(id) {
            return;
        }
        if call.phase == Phase::Calling {
            // C13: a timeout or transport failure fails over.
            self.try_next(ctx, call_id);
        } else if call.phase == Phase::Cancelling {
            self.end(ctx, call_id);
        }
    }

    /// A response on A's dialog (18x or 2xx to A's INVITE): our To tag,
    /// Contact and A's Record-Route copied (RFC 3261 section 12.1.1).
    fn a_dialog_response(
        ctx: &Ctx<'_>,
        call: &Call,
        status: u16,
        reason: Option<&str>,
    ) -> ResponseBuilder {
        let mut r = reply(
            &call.a_invite,
            call.a_source,
            status,
            reason,
            call.a.local_tag(),
            ctx.user_agent,
        );
        for v in call.a_invite.header_values(HeaderName::RecordRoute) {
            r = r.raw_header("Record-Route", v);
        }
        r.raw_header("Contact", call.a_local.contact())
            .header(HeaderName::Allow, TRUNK_ALLOW)
    }

    fn send_cancel(ctx: &mut Ctx<'_>, b: &mut LegB, by_tx: &mut Map<TransactionId, TxRole>) {
        let Some(tx) = b.tx else { return };
        if !ctx.tx.can_cancel(tx) {
            b.cancel_pending = true;
            return;
        }
        let Some(invite) = b.invite.get() else {
            return;
        };
        let Some(c) = cancel_for(invite) else {
            return;
        };
        let bytes = c.form(form_of(b.compact)).to_bytes();
        let Some(branch) = invite.branch().map(str::to_owned) else {
            return;
        };
        let key = TransactionKey::client(&branch, Kind::Cancel);
        match ctx
            .tx
            .start_client_non_invite(ctx.now, key, bytes, tx_transport(b.flow.transport))
        {
            Ok(cid) => {
                ctx.dests.insert(cid, b.flow.clone());
                by_tx.insert(cid, TxRole::Own);
                let _ = ctx.tx.cancel_sent(ctx.now, tx);
                b.cancel_sent = true;
            }
            Err(e) => tracing::debug!(error = %e, "CANCEL not sent"),
        }
    }

    /// Where a request built by leg B's dialog goes.
    /// Starts a re-INVITE Locus itself sends on one leg (a session refresh,
    /// taking a transferee off hold): `bytes` as built from the leg's
    /// dialog request (`next_hop`, `branch`), sent along the leg's `flow`.
    /// The transaction and the request as sent (its answer's ACK is built
    /// from it); `None` when it could not be started (logged).
    fn start_own_reinvite(
        ctx: &mut Ctx<'_>,
        next_hop: &str,
        branch: &str,
        flow: &Outbound,
        bytes: Bytes,
    ) -> Option<(TransactionId, Box<Request>)> {
        let sent = Box::new(parse_request(bytes.clone())?);
        let dest = Self::dest_for(next_hop, flow);
        let key = TransactionKey::client(branch, Kind::Invite);
        match ctx
            .tx
            .start_client_invite(ctx.now, key, bytes, tx_transport(dest.transport))
        {
            Ok(id) => {
                ctx.dests.insert(id, dest);
                Some((id, sent))
            }
            Err(e) => {
                tracing::debug!(error = %e, "re-INVITE not sent");
                None
            }
        }
    }

    /// A final answer to Locus's own re-INVITE `id` (see
    /// [`Self::start_own_reinvite`]), parsed; `None` for a provisional or
    /// unparsable one. A failure is ACKed here (RFC 3261 17.1.1.3).
    fn own_reinvite_final(
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        sent: &Request,
        status: u16,
        message: &Bytes,
    ) -> Option<Response> {
        let resp = response_of(ctx.received, message)?.into_owned();
        if status < 200 {
            return None;
        }
        if status >= 300 {
            if let Some(ack) = ack_for_failure(sent, &resp) {
                let _ = ctx.tx.set_ack(ctx.now, id, ack.to_bytes());
            }
        }
        Some(resp)
    }

    fn dest_for(next_hop: &str, flow: &Outbound) -> Outbound {
        match uri_address(next_hop) {
            Some((addr, transport)) if addr == flow.dest && transport == flow.transport => {
                flow.clone()
            }
            Some((addr, transport)) => Outbound::new(transport, addr, Bytes::new()),
            // A name we cannot resolve yet (DNS seam): the flow the leg
            // already uses.
            None => flow.clone(),
        }
    }

    /// The ACK for B's 2xx, with A's ACK body when A sent one (late offer).
    fn ack_b(ctx: &mut Ctx<'_>, b: &mut LegB, body: Option<(String, Bytes)>) {
        let seq = b.invite.seq;
        let dr = b.dialog.ack(seq, &b.local);
        let mut builder = dr.builder;
        if let Some((ct, body)) = body {
            builder = builder.body(&ct, body);
        }
        let mut out = Self::dest_for(&dr.next_hop, &b.flow);
        out.bytes = builder.form(form_of(b.compact)).to_bytes();
        b.ack = Some(out.clone());
        ctx.out.push_back((None, out));
    }

    /// Sends a new in-dialog request (BYE) on leg B.
    fn send_in_dialog(
        ctx: &mut Ctx<'_>,
        b: &mut LegB,
        method: Method,
        by_tx: &mut Map<TransactionId, TxRole>,
    ) {
        let dr = b.dialog.request(method, &b.local);
        let bytes = dr
            .builder
            .raw_header("User-Agent", ctx.user_agent)
            .form(form_of(b.compact))
            .to_bytes();
        let dest = Self::dest_for(&dr.next_hop, &b.flow);
        let key = TransactionKey::client(&dr.branch, Kind::Other);
        if let Ok(id) =
            ctx.tx
                .start_client_non_invite(ctx.now, key, bytes, tx_transport(dest.transport))
        {
            ctx.dests.insert(id, dest);
            by_tx.insert(id, TxRole::Own);
        }
    }

    /// Sends a BYE on leg A.
    fn bye_a(ctx: &mut Ctx<'_>, call: &mut Call, by_tx: &mut Map<TransactionId, TxRole>) {
        let dr = call.a.request(Method::Bye, &call.a_local);
        let bytes = dr
            .builder
            .raw_header("User-Agent", ctx.user_agent)
            .form(form_of(call.a_compact))
            .to_bytes();
        let dest = Self::dest_for(&dr.next_hop, &call.a_flow);
        let key = TransactionKey::client(&dr.branch, Kind::Other);
        if let Ok(id) =
            ctx.tx
                .start_client_non_invite(ctx.now, key, bytes, tx_transport(dest.transport))
        {
            ctx.dests.insert(id, dest);
            by_tx.insert(id, TxRole::Own);
        }
    }

    /// Ends a confirmed call from our side: BYE to every confirmed leg.
    fn hang_up(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.a_confirmed {
            Self::bye_a(ctx, call, &mut self.by_tx);
        }
        if let Some(b) = call.b.as_mut() {
            if b.confirmed {
                if b.ack.is_none() {
                    Self::ack_b(ctx, b, None);
                }
                Self::send_in_dialog(ctx, b, Method::Bye, &mut self.by_tx);
            }
        }
        self.end(ctx, call_id);
    }

    /// Forgets a call: its dialogs, timers and relay session (every way a
    /// call ends comes here, so no port outlives its call).
    fn end(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        if let Some(mut call) = self.calls.remove(&call_id) {
            if let Some(t) = call.transfer.take() {
                self.abandon_transfer(ctx, *t);
            }
            if let Some(token) = call.resolving {
                self.lookups.remove(&token);
            }
            if let Some(at) = call.scheduled {
                self.timers.remove(&(at, call_id));
            }
            if call.media.is_some() {
                if let Some(m) = self.media.as_mut() {
                    m.release(call_id);
                }
            }
            self.by_dialog
                .remove(&(call.a.call_id(), call.a.local_tag()) as &dyn DialogKey);
            if let Some(b) = call.b {
                self.by_dialog
                    .remove(&(b.dialog.call_id(), b.dialog.local_tag()) as &dyn DialogKey);
                // B's INVITE still pending (a CANCEL racing its 200): a
                // late 2xx gets ACK and BYE, or B keeps a dialog nobody
                // ends (see `orphans`).
                if let (Some(tx), false) = (b.tx, b.confirmed) {
                    self.orphans.insert(tx, b);
                }
            }
            tracing::info!(call = call_id, "call ended");
        }
    }

    // ---- input: requests ----

    /// A CANCEL (server transaction `id`) for the INVITE server transaction
    /// `invite`: `false` when that INVITE is no call's.
    pub(crate) fn on_cancel(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        invite: TransactionId,
        req: &Request,
        source: SocketAddr,
    ) -> bool {
        let Some(TxRole::AInvite(call_id)) = self.by_tx.get(&invite).cloned() else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        let ok = reply(req, source, 200, None, call.a.local_tag(), ctx.user_agent)
            .form(form_of(call.a_compact))
            .to_bytes();
        ctx.respond(id, 200, ok);
        if call.phase != Phase::Calling {
            // RFC 3261 section 9.2: a CANCEL after the final answer has no
            // effect on the call.
            return true;
        }
        self.fail_a(ctx, call_id, 487, None);
        let Some(call) = self.calls.get_mut(&call_id) else {
            return true;
        };
        call.phase = Phase::Cancelling;
        call.attempts.clear();
        match call.b.as_mut() {
            // RFC 3261 section 9.1: CANCEL only after a provisional; else
            // when one arrives (or the INVITE's own timeout ends it).
            Some(b) if b.tx.is_some() => Self::send_cancel(ctx, b, &mut self.by_tx),
            _ => self.end(ctx, call_id),
        }
        true
    }

    /// An ACK that matched no transaction (the ACK for a 2xx, RFC 3261
    /// section 13.2.2.4): `false` when it is no call's.
    pub(crate) fn on_ack(&mut self, ctx: &mut Ctx<'_>, req: &Request) -> bool {
        let Some((call_id, side)) = self.lookup(req) else {
            return false;
        };
        self.on_ack_for(ctx, call_id, side, req);
        true
    }

    fn on_ack_for(&mut self, ctx: &mut Ctx<'_>, call_id: u64, side: Side, req: &Request) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let seq = req.cseq().map_or(0, |c| c.seq);
        if call.retx.as_ref().is_some_and(|r| r.cseq == seq) {
            call.retx = None;
        }
        if side == Side::A && call.phase == Phase::Answered {
            call.phase = Phase::Up;
            call.ack_deadline = None;
            // A late offer's answer comes in the ACK.
            let body = Self::cross_body(
                &mut self.media,
                call,
                call_id,
                Side::A,
                body_of(req.headers()),
                false,
            );
            let refused = body.is_err();
            if let Some(b) = call.b.as_mut() {
                Self::ack_b(ctx, b, body.unwrap_or(None));
            }
            if refused {
                tracing::info!(call = call_id, "answer in the ACK refused: BYE both ways");
                self.hang_up(ctx, call_id);
            }
        }
        // Other ACKs (re-INVITE 2xx we already acknowledged across) end here.
    }

    fn lookup(&self, req: &Request) -> Option<(u64, Side)> {
        let key = (req.call_id()?, req.to_tag()?);
        let &(call_id, side) = self.by_dialog.get(&key as &dyn DialogKey)?;
        let call = self.calls.get(&call_id)?;
        let from = req.from_tag().unwrap_or("");
        let ok = match side {
            Side::A => call.a.remote_tag() == from,
            Side::B => call
                .b
                .as_ref()
                .is_some_and(|b| b.dialog.remote_tag() == from),
        };
        ok.then_some((call_id, side))
    }

    /// A request inside a dialog (To tag), with its server transaction
    /// `id`: `false` when it matches no call (the core answers 481).
    pub(crate) fn on_in_dialog(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        req: &Request,
        source: SocketAddr,
    ) -> bool {
        let Some((call_id, side)) = self.lookup(req) else {
            return self.on_retired(ctx, id, req, source);
        };
        let ua = ctx.user_agent.to_owned();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        let compact = call.compact(side);
        let answer = |ctx: &mut Ctx<'_>, status: u16, reason: Option<&str>| {
            let r = reply(req, source, status, reason, "", &ua)
                .form(form_of(compact))
                .to_bytes();
            ctx.respond(id, status, r);
        };
        let seq = req.cseq().map_or(0, |c| c.seq);
        let in_order = call.accept_remote_seq(side, seq);
        if !in_order {
            // RFC 3261 section 12.2.2.
            answer(ctx, 500, Some("Server Internal Error (CSeq out of order)"));
            return true;
        }
        match req.method() {
            Method::Bye
                if call
                    .transfer
                    .as_mut()
                    .is_some_and(|t| t.transferor_left(side)) =>
            {
                // RFC 5589: a transferor may hang up once its REFER is
                // accepted; the transferee waits for the target.
                answer(ctx, 200, None);
                tracing::info!(
                    call = call_id,
                    "transferor hung up: the transferee waits for the target"
                );
            }
            Method::Bye => {
                answer(ctx, 200, None);
                match side {
                    Side::A => {
                        if let Some(b) = call.b.as_mut() {
                            if b.confirmed {
                                if b.ack.is_none() {
                                    Self::ack_b(ctx, b, None);
                                }
                                Self::send_in_dialog(ctx, b, Method::Bye, &mut self.by_tx);
                            } else if b.tx.is_some() {
                                Self::send_cancel(ctx, b, &mut self.by_tx);
                            }
                        }
                    }
                    Side::B => {
                        if call.a_confirmed {
                            Self::bye_a(ctx, call, &mut self.by_tx);
                        }
                    }
                }
                self.end(ctx, call_id);
            }
            _ if call.phase != Phase::Up && call.phase != Phase::Answered => {
                answer(ctx, 491, Some("Request Pending"));
            }
            method => {
                if *method == Method::Invite {
                    // A target refresh (RFC 3261 section 12.2.2).
                    match side {
                        Side::A => call.a.refresh_target(req.contacts()),
                        Side::B => {
                            if let Some(b) = call.b.as_mut() {
                                b.dialog.refresh_target(req.contacts());
                            }
                        }
                    }
                }
                // Relayed to the other leg with that leg's CSeq (re-INVITE,
                // NOTIFY, INFO from a non-trunk peer, OPTIONS...; REFER is
                // a blind transfer, taken by the core to [`transfer`]).
                let method = method.clone();
                let mut body = body_of(req.headers());
                if method == Method::Invite && call.session.is_refresh(side, body.as_ref()) {
                    // RFC 4028: a refresh of this leg only; the other leg
                    // is not disturbed ([`session_timer`]).
                    self.answer_refresh(ctx, call_id, side, id, req, source);
                    return true;
                }
                if method == Method::Invite {
                    call.session.got(side, body.as_ref());
                    // A re-INVITE's offer (hold, resume, new address).
                    match Self::cross_body(&mut self.media, call, call_id, side, body, true) {
                        Ok(b) => body = b,
                        Err(status) => {
                            answer(ctx, status, None);
                            return true;
                        }
                    }
                }
                let (dialog, local, flow, to_compact) = match side {
                    Side::A => match call.b.as_mut() {
                        Some(b) if b.confirmed => {
                            (&mut b.dialog, b.local, b.flow.clone(), b.compact)
                        }
                        _ => {
                            answer(ctx, 481, None);
                            return true;
                        }
                    },
                    Side::B => (
                        &mut call.a,
                        call.a_local,
                        call.a_flow.clone(),
                        call.a_compact,
                    ),
                };
                let dr = dialog.request(method.clone(), &local);
                let mut b = dr.builder.raw_header("User-Agent", ctx.user_agent);
                if method == Method::Invite {
                    let other = match side {
                        Side::A => Side::B,
                        Side::B => Side::A,
                    };
                    call.session.sent(other, body.as_ref());
                    for (h, v) in call.session.headers(other, true) {
                        b = b.header(h, v);
                    }
                }
                for h in [
                    HeaderName::Event,
                    HeaderName::SubscriptionState,
                    HeaderName::ReferTo,
                    HeaderName::ReferredBy,
                ] {
                    for v in req.header_values(h) {
                        b = b.raw_header(h.wire_name(false), v);
                    }
                }
                if let Some((ct, body)) = body {
                    b = b.body(&ct, body);
                }
                let bytes = b.form(form_of(to_compact)).to_bytes();
                let sent = (method == Method::Invite)
                    .then(|| parse_request(bytes.clone()).map(Box::new))
                    .flatten();
                let dest = Self::dest_for(&dr.next_hop, &flow);
                let kind = if method == Method::Invite {
                    Kind::Invite
                } else {
                    Kind::Other
                };
                let key = TransactionKey::client(&dr.branch, kind);
                let started = if kind == Kind::Invite {
                    ctx.tx
                        .start_client_invite(ctx.now, key, bytes, tx_transport(dest.transport))
                } else {
                    ctx.tx.start_client_non_invite(
                        ctx.now,
                        key,
                        bytes,
                        tx_transport(dest.transport),
                    )
                };
                match started {
                    Ok(cid) => {
                        ctx.dests.insert(cid, dest);
                        self.by_tx.insert(
                            cid,
                            TxRole::Relay {
                                call: call_id,
                                server: id,
                                req: Box::new(req.clone()),
                                source,
                                to: match side {
                                    Side::A => Side::B,
                                    Side::B => Side::A,
                                },
                                compact,
                                sent,
                            },
                        );
                    }
                    Err(_) => answer(ctx, 500, None),
                }
            }
        }
        true
    }

    fn on_relay_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        role: &TxRole,
        status: u16,
        message: &Bytes,
    ) {
        let Some(resp) = response_of(ctx.received, message) else {
            return;
        };
        self.on_relay_response_status(ctx, id, role, status, Some(&resp));
    }

    fn on_relay_response_status(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        role: &TxRole,
        status: u16,
        resp: Option<&Response>,
    ) {
        let TxRole::Relay {
            call: call_id,
            server,
            req,
            source,
            to,
            compact,
            sent,
        } = role
        else {
            return;
        };
        if status == 100 {
            return;
        }
        if let (Some(sent), Some(resp), 300..) = (sent, resp, status) {
            if let Some(ack) = ack_for_failure(sent, resp) {
                let _ = ctx.tx.set_ack(ctx.now, id, ack.to_bytes());
            }
        }
        let is_invite = req.method() == &Method::Invite;
        let t1 = self.t1;
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        let reason = resp.map(|r| r.reason().into_owned());
        let mut r = reply(req, *source, status, reason.as_deref(), "", ctx.user_agent);
        let near_local = match to {
            Side::A => call.b.as_ref().map_or(call.a_local, |b| b.local),
            Side::B => call.a_local,
        };
        if (200..300).contains(&status) && is_invite {
            r = r.raw_header("Contact", near_local.contact());
        }
        let mut refused = false;
        if let Some(resp) = resp {
            let mut body = body_of(resp.headers());
            if is_invite && status < 300 {
                // The answer to a re-INVITE (an offer when it had none).
                let offer = body_of(req.headers()).is_none();
                call.session.got(*to, body.as_ref());
                match Self::cross_body(&mut self.media, call, *call_id, *to, body, offer) {
                    Ok(b) => body = b,
                    Err(_) => {
                        body = None;
                        refused = status >= 200;
                    }
                }
                if status >= 200 {
                    // A re-INVITE refreshes both legs' sessions (RFC 4028).
                    for (h, v) in
                        session_timer::relayed(call, req, resp, body.as_ref(), *to, ctx.now)
                    {
                        r = r.header(h, v);
                    }
                    self.dirty.push(*call_id);
                }
            }
            if let Some((ct, body)) = body {
                r = r.body(&ct, body);
            }
        }
        let bytes = r.form(form_of(*compact)).to_bytes();
        ctx.respond(*server, status, bytes.clone());
        if is_invite && (200..300).contains(&status) {
            // The far leg's 2xx is acknowledged by us at once; the near
            // leg's ACK is absorbed (each leg has its own transaction).
            let seq = resp.and_then(|r| r.cseq()).map_or(0, |c| c.seq);
            match to {
                Side::B => {
                    if let Some(b) = call.b.as_mut() {
                        if let Some(resp) = resp {
                            b.dialog.refresh_target(resp.contacts());
                        }
                        let dr = b.dialog.ack(seq, &b.local);
                        let mut out = Self::dest_for(&dr.next_hop, &b.flow);
                        out.bytes = dr.builder.form(form_of(b.compact)).to_bytes();
                        ctx.out.push_back((None, out));
                    }
                }
                Side::A => {
                    if let Some(resp) = resp {
                        call.a.refresh_target(resp.contacts());
                    }
                    let dr = call.a.ack(seq, &call.a_local);
                    let mut out = Self::dest_for(&dr.next_hop, &call.a_flow);
                    out.bytes = dr.builder.form(form_of(call.a_compact)).to_bytes();
                    ctx.out.push_back((None, out));
                }
            }
            if !ctx
                .dests
                .get(server)
                .is_some_and(|d| d.transport.is_reliable())
            {
                let next = ctx.now + t1;
                call.retx = Some(Retx {
                    tx: *server,
                    status,
                    bytes,
                    interval: t1,
                    next,
                    cseq: req.cseq().map_or(0, |c| c.seq),
                });
                self.dirty.push(*call_id);
            }
        }
        if refused {
            // The new description could not be anchored: the call's media
            // state is unknown, so the call ends.
            tracing::info!(call = call_id, "re-INVITE answer refused: BYE both ways");
            self.hang_up(ctx, *call_id);
        }
    }

    // ---- time ----

    /// Runs every call timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        while let Some(&(at, call_id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let t2 = self.t2;
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            call.scheduled = None;
            self.dirty.push(call_id);
            if now >= call.end_deadline {
                tracing::info!(call = call_id, "maximum call duration reached");
                self.timeout_call(ctx, call_id);
                continue;
            }
            if call.ack_deadline.is_some_and(|d| now >= d) {
                // Timer H for the 2xx: A never ACKed; tear down both ways.
                tracing::warn!(call = call_id, "no ACK for the 2xx: BYE both ways");
                call.retx = None;
                self.hang_up(ctx, call_id);
                continue;
            }
            if call.media_check.is_some_and(|d| now >= d) {
                // The RTP-inactivity guard (issue 3 item 2): an answered
                // call whose relay saw no packet for the limit ends.
                call.media_check = None;
                if let (Some(port), Some(anchor), Some(limit)) =
                    (self.media.as_deref(), call.media.as_ref(), self.inactivity)
                {
                    let since = anchor
                        .answered_at
                        .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                    let idle = port.idle_for(call_id, now).unwrap_or_default().min(since);
                    if anchor.on_hold_without_media() {
                        call.media_check = Some(now + limit);
                    } else if idle >= limit {
                        tracing::info!(
                            call = call_id,
                            idle_secs = idle.as_secs(),
                            "no media: BYE both ways"
                        );
                        call.retx = None;
                        self.hang_up(ctx, call_id);
                        continue;
                    } else {
                        call.media_check = Some(now + (limit - idle));
                    }
                }
            }
            if call.session.deadline().is_some_and(|d| now >= d) && self.session_due(ctx, call_id) {
                continue;
            }
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            if call
                .emergency
                .as_ref()
                .and_then(|e| e.deadline)
                .is_some_and(|d| now >= d)
            {
                // E8: the manager did not answer in time.
                self.fail_open(ctx, call_id, "manager did not answer in time");
                continue;
            }
            if call.transfer.as_ref().is_some_and(|t| t.due(now)) {
                self.transfer_timeout(ctx, call_id);
                continue;
            }
            if call.resolve_deadline.is_some_and(|d| now >= d) {
                // No DNS answer in time: on without the name ([`crate::dns`]).
                call.resolve_deadline = None;
                if let Some((_, l)) = call.resolving.take().and_then(|t| self.lookups.remove(&t)) {
                    tracing::warn!(call = call_id, name = %l.name.name, "no DNS answer in time: going on without the name");
                }
                self.try_next(ctx, call_id);
                continue;
            }
            if call.ring_deadline.is_some_and(|d| now >= d) {
                call.ring_deadline = None;
                if call.phase == Phase::Calling {
                    self.timeout_call(ctx, call_id);
                    continue;
                }
            }
            if let Some(r) = call.retx.as_mut() {
                if now >= r.next {
                    if ctx
                        .tx
                        .send_response(now, r.tx, r.status, r.bytes.clone())
                        .is_err()
                    {
                        // The transaction is gone (Timer L): send directly.
                        if let Some(d) = ctx.dests.get(&r.tx) {
                            let mut o = d.clone();
                            o.bytes = r.bytes.clone();
                            ctx.out.push_back((None, o));
                        }
                    }
                    r.interval = (r.interval * 2).min(t2);
                    r.next = now + r.interval;
                }
            }
        }
        self.flush_timers();
    }

    /// A call ran out of time: unanswered, A gets 480 and B a CANCEL (the
    /// call lives on 64*T1 for B's final answer, so a late 2xx is still
    /// ACKed and ended); answered, BYE both ways.
    fn timeout_call(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let guard = ctx.now + self.t1 * 64;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        match call.phase {
            Phase::Calling => {
                self.fail_a(
                    ctx,
                    call_id,
                    480,
                    Some("Temporarily Unavailable (no answer)"),
                );
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return;
                };
                call.phase = Phase::Cancelling;
                call.attempts.clear();
                call.end_deadline = guard;
                match call.b.as_mut() {
                    Some(b) if b.tx.is_some() => Self::send_cancel(ctx, b, &mut self.by_tx),
                    _ => self.end(ctx, call_id),
                }
            }
            Phase::Cancelling => self.end(ctx, call_id),
            Phase::Answered | Phase::Up => self.hang_up(ctx, call_id),
        }
    }
}

/// The manager's 302 (E5, E12): the Contact's user, and the ELIN its
/// escaped `?P-Asserted-Identity=` header carries (an E.164 user).
fn redirect_target(resp: &Response) -> Option<(String, Option<String>)> {
    let sip_core::Contacts::List(list) = resp.contacts().ok()? else {
        return None;
    };
    let uri = list.first()?.uri.as_sip()?.clone();
    let user = String::from_utf8_lossy(&uri.user_unescaped()?).into_owned();
    let elin = uri.headers.split('&').find_map(|h| {
        let (name, value) = h.split_once('=')?;
        if !name.eq_ignore_ascii_case("P-Asserted-Identity") {
            return None;
        }
        let value = String::from_utf8_lossy(&sip_core::unescape(value)).into_owned();
        let na = sip_core::NameAddr::parse(&value).ok()?;
        let u = na.uri.as_sip()?.user_unescaped()?;
        let u = String::from_utf8_lossy(&u).into_owned();
        crate::number::E164::parse(&u).map(|e| e.as_str().to_owned())
    });
    Some((user, elin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_text_is_the_uri_host() {
        for ip in ["192.0.2.10", "127.0.0.1", "2001:db8::1", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(host_text(ip), sip_core::Host::from(ip).to_string());
        }
    }

    #[test]
    fn e5_e12_redirect_contact_user_and_elin() {
        let raw = "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:911@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:911@127.0.0.1?P-Asserted-Identity=%3Csip:%2B15551230300%40127.0.0.1%3E>\r\nContent-Length: 0\r\n\r\n";
        let resp = parse_response(Bytes::from(raw)).unwrap();
        assert_eq!(
            redirect_target(&resp),
            Some(("911".to_owned(), Some("+15551230300".to_owned())))
        );
    }

    #[test]
    fn carrier_offer_is_filtered() {
        let offer = "v=0\r\no=carrier 53655765 2353687637 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 3 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:3 GSM/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";
        let out = Calls::offer_to_b(&Bytes::from(offer)).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("m=audio 40000 RTP/AVP 0 8 101"), "{text}");
        assert!(text.contains("a=fmtp:101 0-15"));
        let low = offer.replace("40000", "1000");
        assert_eq!(Calls::offer_to_b(&Bytes::from(low)), Err(488));
    }
}
