//! The sans-IO heart of `locus sip`: bytes and time in, messages to send out.
//!
//! [`SipCore`] parses what the transport delivers, matches server
//! transactions (absorbing retransmissions), answers requests and says when
//! it next needs the clock. It never touches a socket or reads the time; the
//! driver in [`crate::service`] does both.
//!
//! Call order: feed input with [`SipCore::handle_inbound`],
//! [`SipCore::handle_stream_error`] and [`SipCore::handle_timeout`]; after
//! each, drain [`SipCore::poll_transmit`] until `None`; sleep until
//! [`SipCore::poll_timeout`].

use std::collections::VecDeque;

/// Live transactions the core's maps are sized for up front (see
/// [`TransactionTable::with_capacity`]): four per call at
/// `[sip.calls] max_calls` (the INVITE and the BYE, each a server and a
/// client transaction), at most 262,144.
fn busy_hour_transactions(config: &SipConfig) -> usize {
    config.calls.max_calls.saturating_mul(4).min(1 << 18)
}

/// The maps of the call path, keyed by Call-IDs, tags and ids: foldhash
/// (seeded per map) instead of SipHash, which was about 2% of the
/// instructions of a call (bench/call_callgrind.sh).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::{
    new_tag, HeaderName, Message, Method, ParseError, ParseLimits, Request, Response, StatusCode,
    Uri,
};
use sip_transaction::{Action, Kind, TimerConfig, TransactionId, TransactionKey, TransactionTable};
use sip_transport::{Inbound, InboundError, ListenAddr, Outbound, Transport};

use crate::b2bua::{Calls, Ctx, Emergency, EmergencyPhase, Origin, Step};
use crate::config::SipConfig;
use crate::ratelimit::{RateLimiter, Verdict};
use crate::routes::Routes;
use crate::trunk::{called_e164, Profile, Refusal, Trunk, Trunks, TRUNK_ALLOW};
use crate::via::{response_destination, stamp_top_via};

/// Methods the server implements, in the order of its `Allow` header.
pub const ALLOW: &str =
    "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY, REGISTER, SUBSCRIBE";
/// Body types the server accepts (its `Accept` header).
pub const ACCEPT: &str = "application/sdp";
/// Option tags the server supports (its `Supported` header): RFC 4028
/// session timers.
pub const SUPPORTED: &str = "timer";

/// Counters of the core, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Requests answered with a final response by the core.
    pub requests_answered: u64,
    /// Retransmitted requests absorbed by a transaction.
    pub retransmissions_absorbed: u64,
    /// Messages that failed to parse.
    pub parse_errors: u64,
    /// Responses received that matched nothing.
    pub stray_responses: u64,
    /// Requests refused (503) or dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// Calls routed through the B2BUA.
    pub calls_routed: u64,
}

/// The SIP server's protocol core.
#[derive(Debug)]
pub struct SipCore {
    user_agent: String,
    limits: ParseLimits,
    transactions: TransactionTable,
    /// Where each live server transaction's messages go.
    destinations: HashMap<TransactionId, Outbound>,
    /// Messages to send, with the client transaction they belong to (a
    /// send failure is that transaction's transport error).
    out: VecDeque<(Option<TransactionId>, Outbound)>,
    /// The transaction of the message [`SipCore::poll_transmit`] returned last.
    last_polled: Option<TransactionId>,
    stats: CoreStats,
    trunks: Trunks,
    routes: Routes,
    calls: Calls,
    /// The server's listening addresses (its Via and Contact).
    locals: Vec<ListenAddr>,
    limiter: RateLimiter,
    /// Random per process: keys the To tags of stateless answers.
    tag_secret: String,
    /// `sip.media.inactivity_timeout_secs`.
    media_inactivity_secs: u64,
    /// The registrar (REGISTER from non-trunk sources).
    registrar: crate::registrar::Registrar,
    /// The reg event notifier (SUBSCRIBE from non-trunk sources).
    events: crate::regevent::RegEvents,
    /// `sip.domains`, lower case: hosts naming this server (C9).
    domains: Vec<String>,
    /// `[sip.emergency]` (E4 to E8).
    emergency: crate::config::EmergencyConfig,
    /// ELINs published by the manager (E11).
    elins: crate::elins::Elins,
    /// OPTIONS probing of trunk endpoints (E3).
    probes: crate::probe::Probes,
    /// E7: ELIN to (latest emergency caller's AOR, when).
    elin_callers: HashMap<String, (String, Instant)>,
}

fn kind_of(method: &Method) -> Kind {
    match method {
        Method::Invite => Kind::Invite,
        Method::Ack => Kind::Ack,
        Method::Cancel => Kind::Cancel,
        _ => Kind::Other,
    }
}

fn tx_transport(t: Transport) -> sip_transaction::Transport {
    if t.is_reliable() {
        sip_transaction::Transport::Reliable
    } else {
        sip_transaction::Transport::Unreliable
    }
}

/// The server transaction key of a request (RFC 3261 section 17.2.3). A
/// branch without the magic cookie comes from an RFC 2543 client: its key is
/// built from the fields RFC 2543 matched on, so retransmissions still match.
fn server_key(req: &Request, kind: Kind) -> Option<TransactionKey> {
    let via = req.top_via()?;
    let mut sent_by = via.host.to_string();
    if let Some(p) = via.port {
        sent_by.push(':');
        sip_core::addr_text::push_port(&mut sent_by, p);
    }
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

/// The B2BUA's view of the core's shared state for one step. A macro, not a
/// method: the borrows are of single fields, so `self.calls` (and the other
/// modules) stay usable beside the context.
macro_rules! ctx {
    ($core:ident, $now:expr) => {
        ctx!($core, $now, None)
    };
    ($core:ident, $now:expr, $received:expr) => {
        Ctx {
            now: $now,
            tx: &mut $core.transactions,
            dests: &mut $core.destinations,
            out: &mut $core.out,
            locals: &$core.locals,
            user_agent: &$core.user_agent,
            received: $received,
        }
    };
}

impl SipCore {
    /// A core for this configuration.
    pub fn new(config: &SipConfig) -> Self {
        let timers = TimerConfig {
            t1: Duration::from_millis(config.timers.t1_ms),
            t2: Duration::from_millis(config.timers.t2_ms),
            t4: Duration::from_millis(config.timers.t4_ms),
        };
        let limits = ParseLimits {
            max_headers: config.limits.max_headers,
            max_message_bytes: config.limits.max_message_bytes,
            max_header_bytes: config.limits.max_header_bytes,
            ..ParseLimits::default()
        };
        Self {
            user_agent: config.user_agent.clone(),
            limits,
            transactions: TransactionTable::with_capacity(timers, busy_hour_transactions(config)),
            destinations: HashMap::with_capacity_and_hasher(
                busy_hour_transactions(config),
                Default::default(),
            ),
            out: VecDeque::new(),
            last_polled: None,
            stats: CoreStats::default(),
            probes: crate::probe::Probes::new(&Trunks::new(&config.trunks)),
            trunks: Trunks::new(&config.trunks),
            routes: Routes::new(&config.routes),
            calls: {
                let mut calls = Calls::new(&config.calls, timers.t1, timers.t2);
                calls.set_dns_timeout(config.dns.timeout());
                calls.set_session_timer(&config.session_timer);
                calls
            },
            locals: config
                .listen
                .iter()
                .filter_map(|l| l.parse().ok())
                .collect(),
            limiter: RateLimiter::new(65_536),
            tag_secret: new_tag(),
            media_inactivity_secs: config.media.inactivity_timeout_secs,
            registrar: crate::registrar::Registrar::new(config),
            events: crate::regevent::RegEvents::new(&config.events),
            domains: config
                .domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            emergency: config.emergency.clone(),
            elins: crate::elins::Elins::default(),
            elin_callers: HashMap::default(),
        }
    }

    /// The addresses the transport actually bound (ports chosen by the OS
    /// included): what the server writes in its Via and Contact. Call once
    /// the listeners are bound, before feeding input.
    pub fn set_local_addrs(&mut self, addrs: &[ListenAddr]) {
        self.locals = addrs.to_vec();
    }

    // ---- getters ----

    /// Counters since start.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// Live transactions.
    pub fn transactions(&self) -> usize {
        self.transactions.len()
    }

    /// Live calls.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Live media relay sessions (0 without a relay).
    pub fn media_sessions(&self) -> usize {
        self.calls.media_sessions()
    }

    /// Anchors call media in `port` (the driver passes its
    /// [`crate::anchor::RelayPort`]; see [`crate::anchor`] for the seam).
    /// Without one, SDP passes through after the trunk policy.
    pub fn set_media_port(&mut self, port: Box<dyn crate::anchor::MediaPort>) {
        let secs = self.media_inactivity_secs;
        self.calls
            .set_media(port, (secs > 0).then(|| Duration::from_secs(secs)));
    }

    // ---- input ----

    /// A message from the transport: a whole UDP datagram or one framed
    /// stream message.
    pub fn handle_inbound(&mut self, now: Instant, inbound: Inbound) {
        let parsed = if inbound.transport.is_reliable() {
            Message::parse_with(inbound.bytes.clone(), &self.limits)
        } else {
            Message::parse_datagram_with(inbound.bytes.clone(), &self.limits)
        };
        let received = match parsed {
            Ok(Message::Request(req)) => {
                self.handle_request(now, &inbound, req);
                None
            }
            Ok(Message::Response(resp)) => {
                self.handle_response(now, &inbound, &resp);
                // Its actions carry its buffer: the B2BUA takes it parsed.
                Some(resp)
            }
            Err(err) => {
                self.reject_unparsable(&inbound, &err);
                None
            }
        };
        self.drain_transactions_at(now, received.as_ref());
    }

    /// A stream message that could not be framed: answer 400 or 513 on its
    /// connection (which then closes).
    pub fn handle_stream_error(&mut self, error: &InboundError) {
        self.stats.parse_errors += 1;
        tracing::warn!(source = %error.source, transport = %error.transport, error = %error.error, "unframeable stream message");
        let Some(ctx) = Message::parse_lenient_for_reply(&error.bytes) else {
            return;
        };
        let (status, reason) = if error.error.is_too_large() {
            (513, "Message Too Large")
        } else {
            (400, "Bad Request (bad Content-Length)")
        };
        let bytes = ctx.response(status, reason, &new_tag());
        self.out
            .push_back((None, Outbound::reply_to_error(error, bytes)));
    }

    /// The time given by [`SipCore::poll_timeout`] has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        let mut ctx = ctx!(self, now);
        self.calls.handle_timeout(&mut ctx);
        let expired = self.registrar.handle_timeout(now);
        self.events.on_changes(&mut ctx, &expired);
        self.events.handle_timeout(&mut ctx);
        self.run_probes(now);
        self.drain_transactions_at(now, None);
    }

    /// The server is stopping: reg event subscribers are told (NOTIFY
    /// terminated;reason=deactivated) so that they subscribe again when
    /// it is back; send what [`SipCore::poll_transmit`] gives after this.
    pub fn shutdown(&mut self, now: Instant) {
        let mut ctx = ctx!(self, now);
        self.events.shutdown(&mut ctx);
        self.drain_transactions_at(now, None);
    }

    /// Sending the message [`SipCore::poll_transmit`] returned last failed
    /// (no route, connection refused...): a transport error for its client
    /// transaction (C13: the B2BUA fails over).
    pub fn handle_transmit_error(&mut self, now: Instant) {
        if let Some(id) = self.last_polled.take() {
            if self.transactions.handle_transport_error(now, id).is_ok() {
                self.drain_transactions_at(now, None);
            }
        }
    }

    // ---- output ----

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Outbound> {
        let (id, out) = self.out.pop_front()?;
        self.last_polled = id;
        Some(out)
    }

    /// When [`SipCore::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.transactions.poll_timeout(),
            self.calls.poll_timeout(),
            self.registrar.poll_timeout(),
            self.events.poll_timeout(),
            self.probes.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- internals ----

    fn reject_unparsable(&mut self, inbound: &Inbound, err: &ParseError) {
        self.stats.parse_errors += 1;
        tracing::warn!(source = %inbound.source, transport = %inbound.transport, error = %err, "malformed message");
        // Responses that fail to parse are dropped (RFC 4475 section 3.1.2.19);
        // requests get an answer when a Via could be recovered.
        if let Some(ctx) = Message::parse_lenient_for_reply(&inbound.bytes) {
            let bytes = ctx.error_response(err, &new_tag());
            self.out
                .push_back((None, Outbound::reply_to(inbound, bytes)));
        }
    }

    fn handle_request(&mut self, now: Instant, inbound: &Inbound, req: Request) {
        let kind = kind_of(req.method());
        let trunk = self.trunks.by_source(inbound.source.ip()).cloned();
        if let Some(t) = &trunk {
            match self
                .limiter
                .check(now, inbound.source.ip(), t.config.rate_limit.rate())
            {
                Verdict::Allow => {}
                Verdict::Drop => {
                    self.stats.rate_limited += 1;
                    return;
                }
                Verdict::Reject { retry_after } => {
                    self.stats.rate_limited += 1;
                    tracing::warn!(source = %inbound.source, trunk = %t.config.name, "rate limit reached: 503, then silence");
                    if kind != Kind::Ack {
                        let bytes = self.response(
                            &req,
                            inbound,
                            StatusCode::SERVICE_UNAVAILABLE,
                            None,
                            Some((&new_tag(), Extra::RetryAfter(retry_after))),
                        );
                        let dest = response_destination(req.top_via().as_ref(), inbound);
                        self.out.push_back((None, Outbound { bytes, ..dest }));
                    }
                    return;
                }
            }
        }
        if *req.method() == Method::Options && req.to_tag().is_none() {
            // RFC 3261 section 8.2.7: OPTIONS outside a dialog is answered
            // statelessly, as Kamailio's sl module does. Carriers ping with
            // it many times a second; a transaction would hold each one for
            // Timer J (32 s on UDP) for nothing. The To tag is derived from
            // the request, so a retransmission gets the same bytes.
            if let Decision::Answer(status, reason, extra) = self.decide(&req, trunk.as_deref()) {
                let tag = self.stateless_tag(&req);
                let bytes = self.response(&req, inbound, status, reason, Some((&tag, extra)));
                let dest = response_destination(req.top_via().as_ref(), inbound);
                self.stats.requests_answered += 1;
                self.out.push_back((None, Outbound { bytes, ..dest }));
                return;
            }
        }
        let Some(key) = server_key(&req, kind) else {
            // validate() below would say why; there is no Via to answer to.
            tracing::warn!(source = %inbound.source, "request without a usable Via dropped");
            return;
        };
        let bytes = req.headers().buffer().clone();
        match self.transactions.handle_request(now, &key, kind, bytes) {
            Ok(Some(_)) => {
                self.stats.retransmissions_absorbed += u64::from(kind != Kind::Ack);
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "request did not fit its transaction");
                return;
            }
        }
        if kind == Kind::Ack {
            // The ACK for a 2xx is end to end: it belongs to a call's dialog.
            let mut ctx = ctx!(self, now);
            if !self.calls.on_ack(&mut ctx, &req) {
                tracing::debug!(source = %inbound.source, "ACK matching no transaction or call dropped");
            }
            return;
        }
        let dest = response_destination(req.top_via().as_ref(), inbound);
        let tx = tx_transport(inbound.transport);
        let started = if kind == Kind::Invite {
            let trying = self.response(&req, inbound, StatusCode::TRYING, None, None);
            self.transactions
                .start_server_invite(now, key.clone(), trying, tx)
        } else {
            self.transactions
                .start_server_non_invite(now, key.clone(), tx)
        };
        let id = match started {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a server transaction");
                return;
            }
        };
        self.destinations.insert(id, dest);
        let (status, reason, extra) = match self.decide(&req, trunk.as_deref()) {
            Decision::Answer(status, reason, extra) => (status, reason, extra),
            Decision::Local => {
                self.local_request(now, id, &req, inbound);
                return;
            }
            Decision::Dispatch => {
                if self.dispatch(now, id, &key, &req, inbound, trunk.as_deref()) {
                    self.stats.requests_answered += 1;
                    return;
                }
                match req.method() {
                    Method::Invite if req.to_tag().is_none() => (
                        StatusCode::NOT_FOUND,
                        Some("Not Found (no route)"),
                        Extra::None,
                    ),
                    _ => (StatusCode::CALL_DOES_NOT_EXIST, None, Extra::None),
                }
            }
        };
        let tag = new_tag();
        let bytes = self.response(&req, inbound, status, reason, Some((&tag, extra)));
        self.stats.requests_answered += 1;
        if let Err(e) = self
            .transactions
            .send_response(now, id, status.as_u16(), bytes)
        {
            tracing::warn!(error = %e, "cannot send a response through its transaction");
        }
    }

    /// The answer to a request that matched no transaction.
    fn decide(&self, req: &Request, trunk: Option<&Trunk>) -> Decision {
        let code = |c: u16| StatusCode::new(c).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        let allow = if trunk.is_some() { TRUNK_ALLOW } else { ALLOW };
        if let Err(rej) = req.validate() {
            let extra = if rej.status == 501 {
                Extra::Allow(allow)
            } else {
                Extra::None
            };
            return Decision::Answer(code(rej.status), Some(rej.reason), extra);
        }
        let method = req.method();
        if *method == Method::Publish && req.to_tag().is_none() {
            // E11: ELIN updates only from emergency-device trunks; other
            // carrier trunks get C6's 405 with Allow (below), phones 403.
            match trunk {
                Some(t) if t.config.emergency_device => return Decision::Local,
                Some(_) => {}
                None => {
                    return Decision::Answer(
                        StatusCode::FORBIDDEN,
                        Some("Forbidden (PUBLISH only from emergency-device trunks)"),
                        Extra::None,
                    )
                }
            }
        }
        if *method == Method::Subscribe
            && trunk.is_some_and(|t| t.config.emergency_device)
            && req
                .event()
                .ok()
                .flatten()
                .is_some_and(|e| e.value.eq_ignore_ascii_case("reg"))
        {
            // E9: the E911 manager subscribes to the reg event package from
            // the address its emergency-device trunk names (the ICD's
            // manager is both): the notifier's, as a non-trunk SUBSCRIBE
            // (trusted_subscribers or digest still decide). Other trunks,
            // and other packages, keep C6's 405.
            return Decision::Local;
        }
        if let Some(t) = trunk {
            let refusal = t.check(req);
            // C9: after the method checks, the Request-URI host.
            if !matches!(
                refusal,
                Some(Refusal::MethodNotAllowed | Refusal::NotImplemented)
            ) && !crate::hosts::accepted(req, &self.locals, &self.domains, t)
            {
                return Decision::Answer(
                    StatusCode::NOT_FOUND,
                    Some(crate::hosts::NOT_OURS),
                    Extra::None,
                );
            }
            if let Some(refusal) = refusal {
                let (status, reason) = refusal.status();
                let extra = if status == 484 {
                    Extra::None
                } else {
                    Extra::Allow(allow)
                };
                return Decision::Answer(code(status), Some(reason), extra);
            }
        }
        if method.is_extension() {
            return Decision::Answer(StatusCode::NOT_IMPLEMENTED, None, Extra::Allow(allow));
        }
        if !matches!(req.uri(), Uri::Sip(_) | Uri::Tel(_)) {
            return Decision::Answer(code(416), None, Extra::None);
        }
        let unsupported = unsupported_requirements(req);
        if !unsupported.is_empty() && *method != Method::Cancel {
            return Decision::Answer(code(420), None, Extra::Unsupported(unsupported));
        }
        let max_forwards = req.max_forwards().ok().flatten();
        if *method == Method::Options {
            return Decision::Answer(StatusCode::OK, None, Extra::Capabilities(allow));
        }
        if max_forwards == Some(0) {
            // Any other request would have to be forwarded (RFC 3261 16.3).
            return Decision::Answer(code(483), None, Extra::None);
        }
        match method {
            // The B2BUA's: a CANCEL for a call's INVITE, a new INVITE to
            // route, anything inside a dialog.
            // The registrar's and the reg event notifier's.
            Method::Register | Method::Subscribe if trunk.is_none() => Decision::Local,
            Method::Cancel | Method::Invite => Decision::Dispatch,
            _ if req.to_tag().is_some() => Decision::Dispatch,
            Method::Info => Decision::Answer(StatusCode::OK, None, Extra::None),
            Method::Bye | Method::Refer | Method::Notify => {
                Decision::Answer(StatusCode::CALL_DOES_NOT_EXIST, None, Extra::None)
            }
            _ => Decision::Answer(StatusCode::METHOD_NOT_ALLOWED, None, Extra::Allow(allow)),
        }
    }

    /// Hands a request to the B2BUA; `false` when no call or route takes it.
    fn dispatch(
        &mut self,
        now: Instant,
        id: TransactionId,
        key: &TransactionKey,
        req: &Request,
        inbound: &Inbound,
        trunk: Option<&Trunk>,
    ) -> bool {
        if trunk.is_none() && *req.method() == Method::Invite && req.to_tag().is_none() {
            return self.phone_call(now, id, req, inbound);
        }
        if *req.method() == Method::Refer && req.to_tag().is_some() {
            // Blind transfer: the target routed as a new call from the
            // transferor's side would be ([`crate::b2bua`]'s transfer).
            let routed =
                crate::b2bua::refer_target(req).and_then(|t| self.transfer_steps(&t, trunk));
            let mut ctx = ctx!(self, now);
            let handled = self
                .calls
                .on_refer(&mut ctx, id, req, inbound.source, routed);
            self.calls.flush_timers();
            return handled;
        }
        let mut ctx = ctx!(self, now);
        let handled = if *req.method() == Method::Cancel {
            // RFC 3261 section 9.2: the CANCEL names the INVITE server
            // transaction with the same branch and sent-by.
            let invite = key.cancel_target().and_then(|k| ctx.tx.id(&k));
            match invite {
                Some(inv) => self.calls.on_cancel(&mut ctx, id, inv, req, inbound.source),
                None => false,
            }
        } else if req.to_tag().is_some() {
            self.calls.on_in_dialog(&mut ctx, id, req, inbound.source)
        } else if let Some(t) = trunk {
            // The DID: the E.164 number on voice trunks (C8), the
            // Request-URI user on byoc trunks, after DNIS replacement.
            let did = match t.config.profile {
                Profile::Voice => called_e164(req).map(|n| n.as_str().to_owned()),
                Profile::Byoc => req
                    .uri()
                    .as_sip()
                    .and_then(|u| u.user_unescaped())
                    .map(|u| t.dnis(&String::from_utf8_lossy(&u))),
            };
            // E7: a call to an ELIN within sip_elin_timeout of an
            // emergency call that used it reaches that caller.
            let callback = did.as_deref().and_then(|d| {
                elin_callback(
                    &self.elin_callers,
                    &self.registrar,
                    self.emergency.sip_elin_timeout,
                    now,
                    d,
                )
            });
            if let Some(steps) = callback {
                self.stats.calls_routed += 1;
                let origin = Origin {
                    name: &t.config.name,
                    compact: t.config.compact_headers,
                };
                self.calls
                    .new_call(&mut ctx, id, req, inbound, origin, steps, None);
                self.calls.flush_timers();
                return true;
            }
            match did.and_then(|d| self.routes.inbound(&d)) {
                Some(dest) => {
                    self.stats.calls_routed += 1;
                    let origin = Origin {
                        name: &t.config.name,
                        compact: t.config.compact_headers,
                    };
                    let steps = Calls::attempts(&dest, &self.trunks);
                    self.calls
                        .new_call(&mut ctx, id, req, inbound, origin, steps, None);
                    true
                }
                None => false,
            }
        } else {
            false
        };
        self.calls.flush_timers();
        handled
    }

    /// A To tag for a stateless answer: the same for every retransmission
    /// of one request, unguessable across requests (keyed by a random
    /// per-process secret; RFC 3261 section 19.3 asks for 32 random bits).
    fn stateless_tag(&self, req: &Request) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.tag_secret.hash(&mut h);
        req.call_id().hash(&mut h);
        req.from_tag().hash(&mut h);
        req.branch().hash(&mut h);
        req.cseq().map(|c| c.seq).hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// Builds a response to `req` with the stamped top Via.
    fn response(
        &self,
        req: &Request,
        inbound: &Inbound,
        status: StatusCode,
        reason: Option<&str>,
        tag_and_extra: Option<(&str, Extra)>,
    ) -> Bytes {
        // RFC 3261 section 8.2.6: every Via in order (the top one stamped),
        // From, To (with our tag), Call-ID and CSeq copied. Written straight
        // into one buffer: this runs for every request the core answers.
        use bytes::BufMut;
        let mut out =
            bytes::BytesMut::with_capacity(req.headers().as_bytes().len().min(2048) + 256);
        let reason = reason.unwrap_or_else(|| status.canonical_reason());
        out.put_slice(b"SIP/2.0 ");
        out.put_slice(status.as_u16().to_string().as_bytes());
        out.put_u8(b' ');
        out.put_slice(reason.as_bytes());
        out.put_slice(b"\r\n");
        let mut line = |name: &[u8], value: &[u8]| {
            out.put_slice(name);
            out.put_slice(b": ");
            out.put_slice(value);
            out.put_slice(b"\r\n");
        };
        let stamped = req
            .top_via()
            .and_then(|v| stamp_top_via(&v, inbound.source));
        for (i, v) in req.header_values(HeaderName::Via).enumerate() {
            match (&stamped, i) {
                (Some(s), 0) => line(b"Via", s.as_bytes()),
                _ => line(b"Via", v),
            }
        }
        if let Some(v) = req.first(HeaderName::From) {
            line(b"From", v);
        }
        if let Some(v) = req.first(HeaderName::To) {
            match tag_and_extra.as_ref() {
                Some((tag, _)) if status.as_u16() > 100 && req.to_tag().is_none() => {
                    let mut to = Vec::with_capacity(v.len() + 5 + tag.len());
                    to.extend_from_slice(v);
                    to.extend_from_slice(b";tag=");
                    to.extend_from_slice(tag.as_bytes());
                    line(b"To", &to);
                }
                _ => line(b"To", v),
            }
        }
        if let Some(v) = req.first(HeaderName::CallId) {
            line(b"Call-ID", v);
        }
        if let Some(v) = req.first(HeaderName::CSeq) {
            line(b"CSeq", v);
        }
        if let Some((_, extra)) = tag_and_extra {
            match extra {
                Extra::None => {}
                Extra::Allow(allow) => line(b"Allow", allow.as_bytes()),
                Extra::RetryAfter(secs) => line(b"Retry-After", secs.to_string().as_bytes()),
                Extra::Capabilities(allow) => {
                    line(b"Allow", allow.as_bytes());
                    line(b"Accept", ACCEPT.as_bytes());
                    line(b"Supported", SUPPORTED.as_bytes());
                }
                Extra::Unsupported(tags) => line(b"Unsupported", tags.join(", ").as_bytes()),
            }
        }
        line(b"Server", self.user_agent.as_bytes());
        line(b"Content-Length", b"0");
        out.put_slice(b"\r\n");
        out.freeze()
    }

    /// A response from the network: to its client transaction (RFC 3261
    /// section 17.1.3: top Via branch and CSeq method), whose actions reach
    /// the B2BUA.
    fn handle_response(&mut self, now: Instant, inbound: &Inbound, resp: &Response) {
        let status = resp.status().as_u16();
        let (Some(branch), Some(cseq)) = (resp.branch(), resp.cseq()) else {
            self.stats.stray_responses += 1;
            return;
        };
        let key = TransactionKey::client(branch, kind_of(&cseq.method));
        let bytes = resp.headers().buffer().clone();
        match self.transactions.handle_response(now, &key, status, bytes) {
            Ok(Some(_)) => {}
            Ok(None) => {
                self.stats.stray_responses += 1;
                tracing::debug!(source = %inbound.source, status, "stray response dropped");
            }
            Err(e) => tracing::debug!(error = %e, "response did not fit its transaction"),
        }
    }

    /// Handles the transactions' actions; `received` is the response just
    /// parsed when they came from it.
    fn drain_transactions_at(&mut self, now: Instant, received: Option<&Response>) {
        while let Some((id, action)) = self.transactions.poll_action() {
            if let Action::Transmit(bytes) = &action {
                if let Some(dest) = self.destinations.get(&id) {
                    let mut out = dest.clone();
                    out.bytes = bytes.clone();
                    self.out.push_back((Some(id), out));
                }
                continue;
            }
            if let Action::Timeout(timer) = &action {
                tracing::debug!(?timer, "transaction timed out");
            }
            if self.probes.owns(id) {
                // E3: an OPTIONS probe's answer or failure.
                let event = match &action {
                    Action::Response { status, .. } => {
                        self.probes.on_result(id, Some(*status), false)
                    }
                    Action::Timeout(_) | Action::TransportError => {
                        self.probes.on_result(id, None, false)
                    }
                    Action::Terminated => {
                        self.destinations.remove(&id);
                        if self.last_polled == Some(id) {
                            self.last_polled = None;
                        }
                        self.probes.on_result(id, None, true)
                    }
                    _ => None,
                };
                if let Some(e) = event {
                    self.apply_probe(e);
                }
                continue;
            }
            let mut ctx = ctx!(self, now, received);
            self.calls.on_action(&mut ctx, id, &action);
            self.events.on_action(&mut ctx, id, &action);
            if action == Action::Terminated {
                self.destinations.remove(&id);
                if self.last_polled == Some(id) {
                    self.last_polled = None;
                }
            }
        }
        self.calls.flush_timers();
        self.note_elin_uses(now);
    }
}

// ---- DNS for trunk targets ([`crate::dns`]) ----

impl SipCore {
    /// The next DNS resolution a call waits for: run it off the core's
    /// task (the driver spawns `sip_resolve::Resolver::resolve`) and give
    /// the result to [`SipCore::handle_resolved`].
    pub fn poll_resolve(&mut self) -> Option<crate::dns::ResolveRequest> {
        self.calls.poll_resolve()
    }

    /// The endpoints of resolution `token`, in failover order; empty when
    /// DNS gave none. Unknown or late tokens are ignored.
    pub fn handle_resolved(
        &mut self,
        now: Instant,
        token: u64,
        endpoints: &[sip_resolve::Endpoint],
    ) {
        let mut ctx = ctx!(self, now);
        self.calls.on_resolved(&mut ctx, token, endpoints);
        self.drain_transactions_at(now, None);
    }
}

// ---- DNS names of carrier addresses (C4) ----

impl SipCore {
    /// The DNS names among the trunks' `carrier_addresses`: the driver
    /// resolves each (A and AAAA) at start and again when its TTL runs
    /// out, off the core's task, and hands the addresses to
    /// [`SipCore::handle_carrier_addresses`].
    pub fn carrier_names(&self) -> Vec<String> {
        self.trunks.carrier_names()
    }

    /// Carrier name `name` resolves to `ips` now: from now on requests from
    /// these addresses (and no longer from the previous ones) are served
    /// as the trunks that list the name (C4).
    pub fn handle_carrier_addresses(&mut self, name: &str, ips: &[std::net::IpAddr]) {
        if self.trunks.set_carrier_name(name, ips) {
            tracing::info!(name, addresses = ?ips, "carrier addresses resolved");
        }
    }
}

/// What the core does with a request that matched no transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Answer it at once.
    Answer(StatusCode, Option<&'static str>, Extra),
    /// Hand it to the B2BUA (CANCEL, INVITE, in-dialog requests).
    Dispatch,
    /// Hand it to the registrar or the reg event notifier.
    Local,
}

/// Extra headers of a core response.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Extra {
    None,
    /// `Allow` with this method list.
    Allow(&'static str),
    /// `Retry-After` in seconds.
    RetryAfter(u32),
    /// `Allow`, `Accept` and `Supported`: the answer to OPTIONS.
    Capabilities(&'static str),
    /// `Unsupported` with these option tags (420).
    Unsupported(Vec<String>),
}

/// Option tags in `Require` and `Proxy-Require` the server does not support
/// (RFC 3261 section 8.2.2.3: answered with 420 and `Unsupported`).
fn unsupported_requirements(req: &Request) -> Vec<String> {
    let supported: Vec<&str> = SUPPORTED
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    [HeaderName::Require, HeaderName::ProxyRequire]
        .into_iter()
        .flat_map(|h| req.header_values(h))
        .filter_map(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        .filter(|t| !t.is_empty() && !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .map(str::to_owned)
        .collect()
}

// ---- Registrar and reg event notifier ([`crate::registrar`], [`crate::regevent`]) ----

impl SipCore {
    /// Maps virtual time to wall time for the registrar (nonces, persisted
    /// expiry): `now` is `wall`. The driver calls it before feeding input.
    pub fn set_wall_clock(&mut self, now: Instant, wall: std::time::SystemTime) {
        self.registrar.set_clock(now, wall);
        self.start_probes(now);
    }

    /// Starts the OPTIONS probing of trunk endpoints (E3) at `now`
    /// ([`SipCore::set_wall_clock`] does it).
    pub fn start_probes(&mut self, now: Instant) {
        self.probes.start(now);
    }

    /// Sends the probes due and applies `oos_force` deadlines (E3).
    fn run_probes(&mut self, now: Instant) {
        let (events, send) = self.probes.due(now);
        for e in events {
            self.apply_probe(e);
        }
        for i in send {
            self.send_probe(now, i);
        }
    }

    fn apply_probe(&mut self, event: crate::probe::ProbeEvent) {
        let crate::probe::ProbeEvent::Service(trunk, addr, up) = event;
        if self.trunks.set_in_service(&trunk, addr, up) {
            if up {
                tracing::info!(%trunk, %addr, "DN back in service (OPTIONS answered)");
            } else {
                tracing::warn!(%trunk, %addr, "DN out of service (OPTIONS unanswered)");
            }
        }
    }

    /// An OPTIONS probe toward probe `i`'s endpoint, in a client
    /// non-INVITE transaction.
    fn send_probe(&mut self, now: Instant, i: usize) {
        let p = self.probes.get(i);
        let (addr, transport) = (p.addr, p.transport);
        let mut local = self
            .locals
            .iter()
            .find(|l| l.transport == transport)
            .or_else(|| self.locals.first())
            .map_or_else(
                || std::net::SocketAddr::from(([127, 0, 0, 1], 5060)),
                |l| l.addr,
            );
        if local.ip().is_unspecified() {
            local.set_ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        }
        let local = crate::dialog::Local {
            transport,
            addr: local,
        };
        let branch = sip_core::new_branch();
        let bytes = sip_core::RequestBuilder::new(Method::Options, format!("sip:{addr}"))
            .raw_header("Via", local.via(&branch))
            .header(HeaderName::MaxForwards, 70)
            .raw_header(
                "From",
                format!(
                    "<sip:oos-check@{}>;tag={}",
                    sip_core::Host::from(local.addr.ip()),
                    new_tag()
                ),
            )
            .raw_header("To", format!("<sip:{addr}>"))
            .raw_header("Call-ID", sip_core::new_call_id(None))
            .cseq(1)
            .raw_header("User-Agent", self.user_agent.as_str())
            .to_bytes();
        let key = TransactionKey::client(&branch, Kind::Other);
        match self
            .transactions
            .start_client_non_invite(now, key, bytes, tx_transport(transport))
        {
            Ok(id) => {
                self.destinations
                    .insert(id, Outbound::new(transport, addr, Bytes::new()));
                self.probes.sent(now, i, id);
            }
            Err(e) => tracing::debug!(error = %e, "OPTIONS probe not sent"),
        }
    }

    /// Persists bindings through `store` and restores `stored` (read from
    /// it at start; expired ones are dropped).
    pub fn set_binding_store(
        &mut self,
        now: Instant,
        store: Box<dyn crate::bindings::BindingStore>,
        stored: Vec<crate::bindings::StoredBinding>,
    ) {
        self.registrar.set_store(store);
        self.registrar.load(now, stored);
    }

    /// The registrar (bindings, for look-ups and tests).
    pub fn registrar(&self) -> &crate::registrar::Registrar {
        &self.registrar
    }

    /// Live reg event subscriptions.
    pub fn subscriptions(&self) -> usize {
        self.events.len()
    }

    /// A REGISTER or SUBSCRIBE from a non-trunk source, in server
    /// transaction `id`: answered, then the NOTIFYs it causes are sent.
    fn local_request(&mut self, now: Instant, id: TransactionId, req: &Request, inbound: &Inbound) {
        let (reply, tag, changes) = if *req.method() == Method::Publish {
            let unix = self.registrar.unix(now);
            let aor = self
                .registrar
                .resolve_aor(&req.uri())
                .or_else(|| crate::registrar::canonical_aor(&req.uri()));
            let reply = match aor {
                Some(aor) => self.elins.publish(now, unix, &aor, req),
                None => crate::registrar::Reply::new(404).reason("Not Found (no device AOR)"),
            };
            (reply, new_tag(), Vec::new())
        } else if *req.method() == Method::Register {
            let (reply, change) = self.registrar.register(now, req, inbound);
            (reply, new_tag(), change.into_iter().collect::<Vec<_>>())
        } else {
            let (reply, tag) =
                self.events
                    .subscribe(now, req, inbound, &self.locals, &mut self.registrar);
            (reply, tag, Vec::new())
        };
        let bytes =
            crate::registrar::response_bytes(req, inbound.source, &reply, &tag, &self.user_agent);
        self.stats.requests_answered += 1;
        if let Err(e) = self
            .transactions
            .send_response(now, id, reply.status, bytes)
        {
            tracing::warn!(error = %e, "cannot send a response through its transaction");
        }
        let mut ctx = ctx!(self, now);
        self.events.on_changes(&mut ctx, &changes);
        self.events.pump(&mut ctx);
    }
}

// ---- Calls from phones and emergency routing (DESIGN.md sections 3 and 4) ----

impl SipCore {
    /// Answers `req` (server transaction `id`) with `reply`.
    fn answer_with(
        &mut self,
        now: Instant,
        id: TransactionId,
        req: &Request,
        inbound: &Inbound,
        reply: &crate::registrar::Reply,
    ) {
        let bytes = crate::registrar::response_bytes(
            req,
            inbound.source,
            reply,
            &new_tag(),
            &self.user_agent,
        );
        if let Err(e) = self
            .transactions
            .send_response(now, id, reply.status, bytes)
        {
            tracing::warn!(error = %e, "cannot send a response through its transaction");
        }
    }

    /// A new INVITE from a non-trunk source: a phone's call. Emergency
    /// dial strings are routed at once, never challenged (Kari's Law: 911
    /// gets through even from a phone that cannot authenticate); any other
    /// call is authenticated as a configured user (407, when
    /// `[sip.registrar] authenticate_invites`), then the dial plan: a
    /// configured AOR's user (an extension) reaches its bindings (480 when
    /// none is registered), else the outbound prefix routes to trunks; else
    /// `false` (404).
    fn phone_call(
        &mut self,
        now: Instant,
        id: TransactionId,
        req: &Request,
        inbound: &Inbound,
    ) -> bool {
        let Some(user) = req
            .uri()
            .as_sip()
            .and_then(|u| u.user_unescaped())
            .map(|u| String::from_utf8_lossy(&u).into_owned())
        else {
            return false;
        };
        if self.emergency.dial_strings.contains(&user) {
            self.emergency_call(now, id, req, inbound, &user);
            return true;
        }
        let mut caller = inbound.source.to_string();
        if self.registrar.authenticate_invites() {
            if !self.registrar.has_users() {
                // Nobody could authenticate: not a phone of ours (C4).
                return false;
            }
            match self.registrar.authenticate_as(now, req, true) {
                crate::registrar::Auth::User(u) => caller = u,
                crate::registrar::Auth::Reply(r) => {
                    self.answer_with(now, id, req, inbound, &r);
                    return true;
                }
            }
        }
        let steps: Vec<Step> = if let Some(aor) = self.registrar.resolve_aor(&req.uri()) {
            let bindings = self.registrar.bindings(&aor);
            if bindings.is_empty() {
                let r = crate::registrar::Reply::new(480)
                    .reason("Temporarily Unavailable (not registered)");
                self.answer_with(now, id, req, inbound, &r);
                return true;
            }
            Calls::binding_steps(bindings)
        } else {
            let list = self.routes.outbound(&user);
            if list.is_empty() {
                return false;
            }
            Calls::attempts(&crate::routes::Destination::Trunks(list), &self.trunks)
        };
        self.stats.calls_routed += 1;
        let mut ctx = ctx!(self, now);
        let origin = Origin {
            name: &caller,
            compact: false,
        };
        self.calls
            .new_call(&mut ctx, id, req, inbound, origin, steps, None);
        true
    }

    /// The device AOR of a phone's request: its From, as a configured AOR
    /// (user at the default host) or canonical.
    fn caller_aor(&self, req: &Request) -> Option<String> {
        let from = req.from()?;
        self.registrar
            .resolve_aor(&from.uri)
            .or_else(|| crate::registrar::canonical_aor(&from.uri))
    }

    /// E4: an emergency call goes to the in-service emergency-device trunk
    /// whose prefix matches the dial string (the manager); E8: straight to
    /// the gateway when no manager is in service.
    fn emergency_call(
        &mut self,
        now: Instant,
        id: TransactionId,
        req: &Request,
        inbound: &Inbound,
        dialed: &str,
    ) {
        let aor = self.caller_aor(req);
        let caller = aor.clone().unwrap_or_else(|| inbound.source.to_string());
        let published = aor.as_deref().and_then(|a| self.published_elin(a));
        // E6: the location the manager published, from memory (never the
        // disk: the 911 path does not wait).
        let location = aor.as_deref().and_then(|a| self.elins.location(a)).cloned();
        let mut managers: Vec<String> = Vec::new();
        for d in &self.emergency.dial_strings {
            if let Some(m) = self.trunks.emergency_manager(d) {
                if !managers.contains(&m.config.name) {
                    managers.push(m.config.name.clone());
                }
            }
        }
        let gateways = self
            .trunks
            .subset(|t| !managers.contains(&t.config.name) && t.in_service());
        let fail_open = gateways
            .emergency_gateway(dialed, &[])
            .map(|g| {
                let elin = published.clone().or_else(|| g.config.default_elin.clone());
                Calls::trunk_steps(g, dialed, elin.as_deref(), location.as_ref())
            })
            .unwrap_or_default();
        let manager = self
            .trunks
            .emergency_manager(dialed)
            .filter(|m| m.in_service());
        let (steps, phase, fail_open) = match manager {
            Some(m) => (
                Calls::trunk_steps(m, dialed, None, None),
                EmergencyPhase::Manager,
                fail_open,
            ),
            None => {
                tracing::warn!(caller = %caller, reason = "no manager in service", "emergency fail-open");
                (fail_open, EmergencyPhase::Gateway, Vec::new())
            }
        };
        tracing::info!(caller = %caller, dialed, manager = manager.map_or("-", |m| m.config.name.as_str()), "emergency call");
        let emergency = Emergency {
            caller: caller.clone(),
            phase,
            timeout: Duration::from_millis(self.emergency.manager_timeout_ms),
            deadline: None,
            fail_open,
            published_elin: published,
            location,
            gateways,
            caller_aor: aor,
        };
        self.stats.calls_routed += 1;
        let mut ctx = ctx!(self, now);
        let origin = Origin {
            name: &caller,
            compact: false,
        };
        self.calls
            .new_call(&mut ctx, id, req, inbound, origin, steps, Some(emergency));
    }

    /// Records the ELINs emergency calls just sent to a gateway (E7).
    fn note_elin_uses(&mut self, now: Instant) {
        let uses = self.calls.take_elin_uses();
        if uses.is_empty() || self.emergency.sip_elin_timeout == 0 {
            return;
        }
        let keep = Duration::from_secs(self.emergency.sip_elin_timeout);
        self.elin_callers
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < keep);
        for (elin, aor) in uses {
            self.elin_callers.insert(elin, (aor, now));
        }
    }

    /// The ELIN a manager last published for device `aor` (E11).
    fn published_elin(&self, aor: &str) -> Option<String> {
        self.elins.elin(aor).map(str::to_owned)
    }

    /// Persists published ELINs through `store` and restores `stored`
    /// (read from it at start).
    pub fn set_elin_store(
        &mut self,
        store: Box<dyn crate::elins::ElinStore>,
        stored: Vec<crate::elins::StoredElin>,
    ) {
        self.elins.set_store(store, stored);
    }

    /// The ELINs published by the manager (E11).
    pub fn elins(&self) -> &crate::elins::Elins {
        &self.elins
    }
}

impl SipCore {
    /// The attempts toward a REFER's target, routed as a new call from
    /// the transferor would be: from a carrier trunk, its DID (E.164 on
    /// voice trunks, DNIS rules on byoc) through the inbound routes; from
    /// a phone, an extension's bindings, else the outbound prefix routes.
    /// Emergency numbers are not transfer targets (a 911 call is the
    /// caller's own, E4).
    fn transfer_steps(
        &self,
        target: &crate::b2bua::ReferTarget,
        trunk: Option<&Trunk>,
    ) -> Result<Vec<Step>, (u16, &'static str)> {
        const NO_ROUTE: (u16, &str) = (404, "Not Found (no route for the transfer target)");
        if self.emergency.dial_strings.contains(&target.user) {
            return Err((
                403,
                "Forbidden (emergency numbers are dialed, not transferred to)",
            ));
        }
        if let Some(t) = trunk {
            let did = match t.config.profile {
                Profile::Voice => crate::number::E164::parse(&target.user)
                    .map(|n| n.as_str().to_owned())
                    .ok_or((484, "Address Incomplete (Refer-To is not an E.164 number)"))?,
                Profile::Byoc => t.dnis(&target.user),
            };
            let dest = self.routes.inbound(&did).ok_or(NO_ROUTE)?;
            return Ok(Calls::attempts(&dest, &self.trunks));
        }
        let uri = Uri::parse(&target.uri).map_err(|_| (400, "Bad Request (Refer-To)"))?;
        if let Some(aor) = self.registrar.resolve_aor(&uri) {
            let steps = Calls::binding_steps(self.registrar.bindings(&aor));
            if steps.is_empty() {
                return Err((480, "Temporarily Unavailable (not registered)"));
            }
            return Ok(steps);
        }
        let list = self.routes.outbound(&target.user);
        if list.is_empty() {
            return Err(NO_ROUTE);
        }
        Ok(Calls::attempts(
            &crate::routes::Destination::Trunks(list),
            &self.trunks,
        ))
    }
}

/// E7: the attempts toward the latest emergency caller whose call carried
/// ELIN `did`, within `timeout` seconds (its registered contacts); `None`
/// when there is none, or it has no binding.
fn elin_callback(
    callers: &HashMap<String, (String, Instant)>,
    registrar: &crate::registrar::Registrar,
    timeout: u64,
    now: Instant,
    did: &str,
) -> Option<Vec<Step>> {
    let (aor, at) = callers.get(did)?;
    if now.saturating_duration_since(*at) >= Duration::from_secs(timeout) {
        return None;
    }
    let steps = Calls::binding_steps(registrar.bindings(aor));
    if steps.is_empty() {
        return None;
    }
    tracing::info!(elin = %did, caller = %aor, "ELIN callback to the emergency caller");
    Some(steps)
}
