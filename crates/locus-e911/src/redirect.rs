//! E12 and E11: the manager's answers to the SIP server, sans-IO.
//!
//! * [`RedirectUas`] answers each emergency INVITE at once with
//!   `302 Moved Temporarily` whose Contact is
//!   `<sip:USERNAME@SIP-SERVER?P-Asserted-Identity=%3Csip:ELIN%40SIP-SERVER%3E>`
//!   (the ICD's call server username, default `911`, routed by prefix to
//!   the gateway, DESIGN E5; the ELIN rides as an escaped URI header, E12),
//!   answers OPTIONS with 200 (so the SIP server's `oos_check` sees the
//!   manager alive, E3), and anything else with 405, 481 or 501.
//! * [`Publisher`] PUBLISHes (RFC 3903) each located device's PIDF-LO with
//!   its ELIN to the SIP server (E11), refreshing with `SIP-If-Match`.
//! * [`route`] tells the driver which machine takes a received message.
//!
//! # The 302 never waits (E8, E12)
//!
//! The ELIN comes from the caller's [`ElinSource`], called synchronously
//! while the INVITE is handled; it must answer from memory (the location
//! engine's current placement and the ELIN pool), never from the store or
//! the network. When it has no ELIN, the 302 goes out **without** the
//! P-Asserted-Identity header: the SIP server then uses the device's last
//! published ELIN, else the trunk's default ELIN (fail-open), and the
//! [`EmergencyCallEvent`] records `elin: None` so the driver can alert.
//!
//! # URI header escaping (RFC 3261 section 19.1.1)
//!
//! A header value in a SIP URI may hold only `unreserved`,
//! `hnv-unreserved` (`[ ] / ? : + $`) and `%HH` escapes; everything else,
//! including `<`, `>` and `@`, is escaped. So the ELIN URI
//! `<sip:+15551234567@10.0.0.1>` becomes
//! `%3Csip:+15551234567%4010.0.0.1%3E`. (The ICD's informal form leaves the
//! `@` bare; the grammar does not allow it and a strict parser, ours
//! included, would reject the Contact.)
//!
//! # Contract
//!
//! As for [`crate::subscriber::Subscriber`]: `handle_message` and
//! `handle_timeout` in, then drain `poll_transmit` and `poll_event`; sleep
//! until `poll_timeout`. No clock, socket or store here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pidf_lo::{Elin, LocationDoc};
use sip_core::{
    Contacts, HeaderName, Message, Method, Request, RequestBuilder, Response, StatusCode, Uri,
};
use sip_transaction::{Action, Kind, TimerConfig, TransactionId, TransactionKey, TransactionTable};
use sip_transport::Transport;

use crate::subscriber::{
    kind_of, number_header, one_line, refresh_after, retry_after_header, server_key, tx_transport,
    Backoff, Handled,
};

/// The methods the manager's SIP side implements (the Allow header).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// The ICD's default call server username (E12, E14).
pub const DEFAULT_USERNAME: &str = "911";

/// Which machine takes a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// NOTIFY requests and responses to SUBSCRIBE and OPTIONS: the
    /// [`crate::subscriber::Subscriber`] of the call server (find it by the
    /// source address, or offer the message to each).
    Subscriber,
    /// Responses to PUBLISH: the [`Publisher`].
    Publisher,
    /// Every other request: the [`RedirectUas`].
    RedirectUas,
    /// Any other response: nothing of ours sent the request; drop it.
    Drop,
}

/// Where a received message goes.
pub fn route(msg: &Message) -> Route {
    match msg {
        Message::Request(r) if *r.method() == Method::Notify => Route::Subscriber,
        Message::Request(_) => Route::RedirectUas,
        Message::Response(r) => match r.cseq().map(|c| &c.method) {
            // OPTIONS: the subscriber's member check (E15).
            Some(Method::Subscribe | Method::Options) => Route::Subscriber,
            Some(Method::Publish) => Route::Publisher,
            _ => Route::Drop,
        },
    }
}

/// Escapes `s` for a SIP URI where only `unreserved` characters and
/// `extra` may stand as they are (RFC 3261 section 25.1 `escaped`).
fn escape(s: &str, extra: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        if unreserved || extra.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes a URI header value (RFC 3261 section 19.1.1: `hvalue` is
/// `unreserved`, `hnv-unreserved` and escapes).
pub fn escape_uri_header_value(s: &str) -> String {
    escape(s, b"[]/?:+$")
}

/// Escapes a URI user part (`unreserved` and `user-unreserved`).
fn escape_user(s: &str) -> String {
    escape(s, b"&=+$,;?/")
}

/// The 302 Contact of E12: `<sip:USERNAME@HOST>` with the ELIN, when
/// known, as an escaped `P-Asserted-Identity` URI header.
pub fn redirect_contact(username: &str, host: &str, elin: Option<&Elin>) -> String {
    let user = escape_user(username);
    let host = one_line(host);
    match elin {
        Some(e) => {
            let pai = format!("<sip:{}@{host}>", e.as_str());
            format!(
                "<sip:{user}@{host}?P-Asserted-Identity={}>",
                escape_uri_header_value(&pai)
            )
        }
        None => format!("<sip:{user}@{host}>"),
    }
}

/// What the manager knows of an emergency caller when the INVITE arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerInfo {
    /// The caller's AOR: the first P-Asserted-Identity URI, else the From
    /// URI, without parameters (`sip:alice@example.com`).
    pub aor: String,
    /// The AOR's user part, unescaped (`alice`).
    pub user: Option<String>,
    /// The From URI as sent.
    pub from_uri: String,
    /// The INVITE's Contact URI (the device), if any.
    pub contact: Option<String>,
    /// The Contact's `+sip.instance` (RFC 5626), quotes and brackets
    /// removed.
    pub instance: Option<String>,
    /// The Request-URI (the dialed emergency number).
    pub request_uri: String,
    /// The SIP server that sent the INVITE.
    pub source: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    /// The Call-ID.
    pub call_id: String,
}

/// Gives the ELIN for an emergency caller (E12). It is called while the
/// INVITE is being answered: it must answer from memory at once; `None`
/// lets the SIP server use its stored ELIN (fail-open).
pub trait ElinSource {
    /// The ELIN to send for this caller, if known now.
    fn elin_for(&mut self, caller: &CallerInfo) -> Option<Elin>;
}

impl<F: FnMut(&CallerInfo) -> Option<Elin>> ElinSource for F {
    fn elin_for(&mut self, caller: &CallerInfo) -> Option<Elin> {
        self(caller)
    }
}

/// An emergency call the manager answered (E12, E16), for the driver to
/// record and alert on (E13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyCallEvent {
    /// Who called, from where.
    pub caller: CallerInfo,
    /// The ELIN sent in the 302; `None`: fail-open, the SIP server uses its
    /// stored ELIN.
    pub elin: Option<Elin>,
    /// The 302's Contact as sent.
    pub contact: String,
    /// When the INVITE arrived.
    pub at: Instant,
}

/// Settings of the [`RedirectUas`].
#[derive(Debug, Clone)]
pub struct RedirectConfig {
    /// The call server's username: the 302 Contact user (default `911`).
    pub username: String,
    /// The host of the 302 Contact and of the ELIN URI; the INVITE's source
    /// address when `None` (the SIP server that asked).
    pub sip_server_host: Option<String>,
    /// SIP timers of the server transactions.
    pub timers: TimerConfig,
    /// A Server header, if any.
    pub server: Option<String>,
}

impl Default for RedirectConfig {
    fn default() -> Self {
        RedirectConfig {
            username: DEFAULT_USERNAME.to_owned(),
            sip_server_host: None,
            timers: TimerConfig::default(),
            server: None,
        }
    }
}

/// The emergency redirect UAS (E12): 302 at once, OPTIONS 200; see the
/// module documentation.
#[derive(Debug)]
pub struct RedirectUas {
    cfg: RedirectConfig,
    table: TransactionTable,
    tx_dest: HashMap<TransactionId, (SocketAddr, Transport)>,
    transmits: VecDeque<(SocketAddr, Transport, Bytes)>,
    events: VecDeque<EmergencyCallEvent>,
}

impl RedirectUas {
    /// A UAS with these settings.
    pub fn new(cfg: RedirectConfig) -> Self {
        RedirectUas {
            table: TransactionTable::new(cfg.timers),
            cfg,
            tx_dest: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Number of live server transactions (diagnostics).
    pub fn transaction_count(&self) -> usize {
        self.table.len()
    }

    /// A request for the manager's SIP side (every request but NOTIFY).
    /// `elins` is asked once per new INVITE. Responses are
    /// [`Handled::NotMine`].
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        msg: &Message,
        elins: &mut dyn ElinSource,
    ) -> Handled {
        let Message::Request(req) = msg else {
            return Handled::NotMine;
        };
        self.on_request(now, from, transport, req, elins);
        self.drain();
        Handled::Consumed
    }

    /// The time given by [`RedirectUas::poll_timeout`] came.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
        self.drain();
    }

    /// When [`RedirectUas::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    /// The next message to send: destination, transport, bytes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Transport, Bytes)> {
        self.transmits.pop_front()
    }

    /// The next answered emergency call.
    pub fn poll_event(&mut self) -> Option<EmergencyCallEvent> {
        self.events.pop_front()
    }

    fn drain(&mut self) {
        while let Some((id, action)) = self.table.poll_action() {
            match action {
                Action::Transmit(b) => {
                    if let Some(&(dest, t)) = self.tx_dest.get(&id) {
                        self.transmits.push_back((dest, t, b));
                    }
                }
                Action::Terminated => {
                    self.tx_dest.remove(&id);
                }
                // ACKs of our 302 end the transaction inside the table;
                // Timer H (no ACK) only ends it.
                _ => {}
            }
        }
    }

    fn response(&self, req: &Request, status: StatusCode) -> sip_core::ResponseBuilder {
        let mut b = Response::for_request(req, status, None);
        if req.to_tag().is_none() {
            b = b.to_tag(&sip_core::new_tag());
        }
        if let Some(s) = &self.cfg.server {
            b = b.raw_header("Server", one_line(s));
        }
        b
    }

    fn on_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        req: &Request,
        elins: &mut dyn ElinSource,
    ) {
        let kind = kind_of(req.method());
        let Some(key) = server_key(req, kind) else {
            return; // no Via: nowhere to answer
        };
        let buf = req.headers().buffer().clone();
        if let Ok(Some(_)) = self.table.handle_request(now, &key, kind, buf) {
            // INVITE retransmission (the 302 again), ACK of the 302, or a
            // retransmitted OPTIONS/CANCEL: the transaction handles it.
            return;
        }
        match req.method() {
            // An ACK that matches nothing acknowledges a 2xx; we send none.
            Method::Ack => {}
            Method::Invite => self.on_invite(now, from, transport, req, key, elins),
            Method::Cancel => {
                let known = key
                    .cancel_target()
                    .is_some_and(|t| self.table.id(&t).is_some());
                // The INVITE was answered at once, so it is never still
                // cancellable: 200 for the CANCEL itself (RFC 3261 section
                // 9.2), 481 when there is no such INVITE.
                let status = if known {
                    StatusCode::OK
                } else {
                    StatusCode::CALL_DOES_NOT_EXIST
                };
                let b = self.response(req, status);
                self.answer_non_invite(now, from, transport, key, b);
            }
            m => {
                let b = match req.validate() {
                    Err(rej) => self.response(
                        req,
                        StatusCode::new(rej.status).unwrap_or(StatusCode::BAD_REQUEST),
                    ),
                    Ok(()) => match m {
                        Method::Options => self
                            .response(req, StatusCode::OK)
                            .raw_header("Allow", ALLOW)
                            .raw_header("Accept", "application/sdp"),
                        // No dialog ever exists here: the 302 ends each call.
                        Method::Bye => self.response(req, StatusCode::CALL_DOES_NOT_EXIST),
                        Method::Extension(_) => self
                            .response(req, StatusCode::NOT_IMPLEMENTED)
                            .raw_header("Allow", ALLOW),
                        _ => self
                            .response(req, StatusCode::METHOD_NOT_ALLOWED)
                            .raw_header("Allow", ALLOW),
                    },
                };
                self.answer_non_invite(now, from, transport, key, b);
            }
        }
    }

    fn answer_non_invite(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        key: TransactionKey,
        b: sip_core::ResponseBuilder,
    ) {
        let bytes = b.to_bytes();
        let status = status_of(&bytes);
        if let Ok(id) = self
            .table
            .start_server_non_invite(now, key, tx_transport(transport))
        {
            self.tx_dest.insert(id, (from, transport));
            let _ = self.table.send_response(now, id, status, bytes);
        }
    }

    fn on_invite(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        req: &Request,
        key: TransactionKey,
        elins: &mut dyn ElinSource,
    ) {
        let trying = Response::for_request(req, StatusCode::TRYING, None).to_bytes();
        let Ok(id) = self
            .table
            .start_server_invite(now, key, trying, tx_transport(transport))
        else {
            return;
        };
        self.tx_dest.insert(id, (from, transport));
        if let Err(rej) = req.validate() {
            let status = StatusCode::new(rej.status).unwrap_or(StatusCode::BAD_REQUEST);
            let b = self.response(req, status);
            let _ = self
                .table
                .send_response(now, id, status.as_u16(), b.to_bytes());
            return;
        }
        let caller = caller_info(req, from, transport);
        let elin = elins.elin_for(&caller);
        let host = self
            .cfg
            .sip_server_host
            .clone()
            .unwrap_or_else(|| sip_core::Host::from(from.ip()).to_string());
        let contact = redirect_contact(&self.cfg.username, &host, elin.as_ref());
        let b = self
            .response(req, StatusCode::MOVED_TEMPORARILY)
            .raw_header("Contact", &contact);
        let _ = self.table.send_response(now, id, 302, b.to_bytes());
        if elin.is_none() {
            tracing::warn!(
                aor = %caller.aor,
                "emergency call without a known ELIN: 302 without P-Asserted-Identity (the SIP server uses its stored ELIN)"
            );
        }
        self.events.push_back(EmergencyCallEvent {
            caller,
            elin,
            contact,
            at: now,
        });
    }
}

fn status_of(resp: &[u8]) -> u16 {
    resp.get(8..11)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

/// `scheme:user@host[:port]` of a URI, without parameters or headers.
fn aor_of(uri: &Uri<'_>) -> (String, Option<String>) {
    match uri {
        Uri::Sip(u) => {
            let scheme = if u.secure { "sips" } else { "sip" };
            let port = u.port.map(|p| format!(":{p}")).unwrap_or_default();
            let user = u
                .user_unescaped()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let aor = match &u.user {
                Some(raw) => format!("{scheme}:{raw}@{}{port}", u.host),
                None => format!("{scheme}:{}{port}", u.host),
            };
            (aor, user)
        }
        Uri::Tel(t) => (format!("tel:{}", t.number), Some(t.number.to_string())),
        other => (other.to_string(), None),
    }
}

fn caller_info(req: &Request, source: SocketAddr, transport: Transport) -> CallerInfo {
    let from = req.from();
    let from_uri = from.as_ref().map(|f| f.uri.to_string()).unwrap_or_default();
    let pai = req
        .p_asserted_identity()
        .ok()
        .and_then(|v| v.into_iter().next());
    let identity = pai
        .as_ref()
        .map(|p| &p.uri)
        .or(from.as_ref().map(|f| &f.uri));
    let (aor, user) = identity.map(aor_of).unwrap_or_default();
    let (contact, instance) = match req.contacts() {
        Ok(Contacts::List(v)) => match v.first() {
            Some(c) => (
                Some(c.uri.to_string()),
                c.sip_instance().map(|i| {
                    let i = i.trim();
                    let i = i
                        .strip_prefix('<')
                        .and_then(|s| s.strip_suffix('>'))
                        .unwrap_or(i);
                    i.to_owned()
                }),
            ),
            None => (None, None),
        },
        _ => (None, None),
    };
    CallerInfo {
        aor,
        user,
        from_uri,
        contact,
        instance,
        request_uri: req.uri_str().to_owned(),
        source,
        transport,
        call_id: req.call_id().unwrap_or("").to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Publisher (E11).
// ---------------------------------------------------------------------------

/// Settings of the [`Publisher`].
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// The manager's URI, in From.
    pub local_uri: String,
    /// The Via sent-by (`192.0.2.10:5070`).
    pub sent_by: String,
    /// The Expires asked for (default 3600 s).
    pub expires: u32,
    /// Waits between attempts after errors and timeouts.
    pub backoff: Backoff,
    /// A refresh is never scheduled sooner than this after a success.
    pub refresh_floor: Duration,
    /// SIP timers T1, T2, T4.
    pub timers: TimerConfig,
    /// Seed of the jitter RNG.
    pub rng_seed: u64,
    /// A User-Agent header, if any.
    pub user_agent: Option<String>,
    /// At most this many PUBLISHes are in flight at once (at least 1);
    /// the others wait their turn in order. A device download places
    /// thousands of devices in a second: without a window their PUBLISHes
    /// would leave in one burst, overflow the server's socket buffer and
    /// crowd out the NOTIFYs still coming (default 64).
    pub max_in_flight: usize,
}

impl PublisherConfig {
    /// Defaults around the manager's own addresses.
    pub fn new(local_uri: impl Into<String>, sent_by: impl Into<String>) -> Self {
        PublisherConfig {
            local_uri: local_uri.into(),
            sent_by: sent_by.into(),
            expires: 3600,
            backoff: Backoff::default(),
            refresh_floor: Duration::from_secs(5),
            timers: TimerConfig::default(),
            rng_seed: 0x0e11_e911,
            user_agent: None,
            max_in_flight: 64,
        }
    }
}

/// Names one publication: a device of an AOR (RFC 3903 allows several
/// publications, each with its own entity tag, for one resource).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicationKey {
    /// The AOR PUBLISHed to (the Request-URI and To).
    pub aor: String,
    /// The document's RFC 4479 device ID.
    pub device_id: Option<String>,
}

/// What the [`Publisher`] tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherEvent {
    /// The SIP server holds the publication (a 2xx) for `expires`.
    Published {
        /// Which publication.
        key: PublicationKey,
        /// The entity tag the server gave, if any.
        etag: Option<String>,
        /// How long the server keeps it.
        expires: Duration,
    },
    /// The PUBLISH failed (`status`, 408 for no answer); tried again at
    /// `retry_at`.
    Failed {
        /// Which publication.
        key: PublicationKey,
        /// The status code.
        status: u16,
        /// When it is tried again.
        retry_at: Instant,
    },
    /// The publication was removed (Expires: 0 answered, or nothing to
    /// remove).
    Removed {
        /// Which publication.
        key: PublicationKey,
    },
}

#[derive(Debug)]
struct Publication {
    doc: LocationDoc,
    /// Bumped by each [`Publisher::publish`].
    doc_version: u64,
    /// The document version the server holds, if any.
    acked: Option<u64>,
    /// The document version carried by the PUBLISH in flight, if any.
    sent: Option<u64>,
    removing: bool,
    etag: Option<String>,
    expires: u32,
    call_id: String,
    from_tag: String,
    cseq: u32,
    in_flight: Option<TransactionId>,
    refresh_at: Option<Instant>,
    retry_at: Option<Instant>,
    failures: u32,
    /// In [`Publisher`]'s queue of PUBLISHes waiting for the window.
    queued: bool,
}

/// Publishes each device's PIDF-LO with its ELIN to one SIP server
/// (RFC 3903, E11).
///
/// * [`Publisher::publish`] sets a device's document: a first PUBLISH
///   carries it without `SIP-If-Match`; later ones (a modification) carry
///   it with `SIP-If-Match` set to the server's last `SIP-ETag`.
/// * A 2xx stores the `SIP-ETag` and schedules the refresh (at 80 % of the
///   granted Expires, or 30 s before its end): a PUBLISH with
///   `SIP-If-Match` and no body.
/// * 412 Conditional Request Failed: the server lost the entity; the
///   document goes out again, fresh, without `SIP-If-Match`. 423: again
///   at once with the server's Min-Expires. Other errors and timeouts:
///   again after [`Backoff`] (at least Retry-After).
/// * [`Publisher::unpublish`] removes it (Expires: 0 with `SIP-If-Match`).
///
/// One PUBLISH per publication is in flight at a time (the entity tag
/// changes with each answer); a document set meanwhile goes out after it.
/// At most [`PublisherConfig::max_in_flight`] PUBLISHes are in flight in
/// all; the rest wait in order.
///
/// Timers cost O(log n) per publication, never a walk over all of them:
/// each time set goes on a heap; an entry made stale by a later change
/// only causes one wake-up that finds nothing due.
#[derive(Debug)]
pub struct Publisher {
    cfg: PublisherConfig,
    server: SocketAddr,
    transport: Transport,
    table: TransactionTable,
    pubs: HashMap<PublicationKey, Publication>,
    client_tx: HashMap<TransactionId, PublicationKey>,
    /// Refresh and retry instants, earliest first (may hold stale ones).
    timers: BinaryHeap<Reverse<(Instant, PublicationKey)>>,
    /// Publications waiting for a place in the window, in order.
    waiting: VecDeque<PublicationKey>,
    rng: fastrand::Rng,
    transmits: VecDeque<(SocketAddr, Transport, Bytes)>,
    events: VecDeque<PublisherEvent>,
}

impl Publisher {
    /// A publisher towards the SIP server at `server` over `transport`.
    pub fn new(cfg: PublisherConfig, server: SocketAddr, transport: Transport) -> Self {
        Publisher {
            rng: fastrand::Rng::with_seed(cfg.rng_seed),
            table: TransactionTable::new(cfg.timers),
            cfg,
            server,
            transport,
            pubs: HashMap::new(),
            client_tx: HashMap::new(),
            timers: BinaryHeap::new(),
            waiting: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// PUBLISHes in flight.
    pub fn in_flight(&self) -> usize {
        self.client_tx.len()
    }

    /// The entity tag the server gave a publication, if any.
    pub fn etag(&self, key: &PublicationKey) -> Option<&str> {
        self.pubs.get(key)?.etag.as_deref()
    }

    /// Number of publications held.
    pub fn len(&self) -> usize {
        self.pubs.len()
    }

    /// No publication is held.
    pub fn is_empty(&self) -> bool {
        self.pubs.is_empty()
    }

    /// Sets the document of the device `doc.device_id` of `aor` and
    /// PUBLISHes it (now, or after the PUBLISH in flight). Returns its key.
    pub fn publish(&mut self, now: Instant, aor: &str, doc: LocationDoc) -> PublicationKey {
        let key = PublicationKey {
            aor: one_line(aor.trim()),
            device_id: doc.device_id.clone(),
        };
        let expires = self.cfg.expires;
        let p = self.pubs.entry(key.clone()).or_insert_with(|| Publication {
            doc: doc.clone(),
            doc_version: 0,
            acked: None,
            sent: None,
            removing: false,
            etag: None,
            expires,
            call_id: sip_core::new_call_id(None),
            from_tag: sip_core::new_tag(),
            cseq: 0,
            in_flight: None,
            refresh_at: None,
            retry_at: None,
            failures: 0,
            queued: false,
        });
        p.doc = doc;
        p.doc_version += 1;
        p.removing = false;
        p.retry_at = None;
        self.send(now, &key);
        self.pump(now);
        key
    }

    /// Removes a publication: PUBLISH with Expires: 0 (or nothing when the
    /// server never accepted it).
    pub fn unpublish(&mut self, now: Instant, key: &PublicationKey) {
        if let Some(p) = self.pubs.get_mut(key) {
            p.removing = true;
            p.retry_at = None;
            self.send(now, key);
            self.pump(now);
        }
    }

    /// A response to one of our PUBLISHes; anything else is
    /// [`Handled::NotMine`].
    pub fn handle_message(
        &mut self,
        now: Instant,
        _from: SocketAddr,
        _transport: Transport,
        msg: &Message,
    ) -> Handled {
        let Message::Response(r) = msg else {
            return Handled::NotMine;
        };
        if r.cseq().is_none_or(|c| c.method != Method::Publish) {
            return Handled::NotMine;
        }
        if let Some(branch) = r.branch() {
            let key = TransactionKey::client(branch, Kind::Other);
            let _ = self.table.handle_response(
                now,
                &key,
                r.status().as_u16(),
                r.headers().buffer().clone(),
            );
        }
        self.pump(now);
        Handled::Consumed
    }

    /// The time given by [`Publisher::poll_timeout`] came.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, key))) = self.timers.pop() else {
                break;
            };
            // Stale entries (the time changed, the PUBLISH went out, the
            // publication is gone) find nothing due.
            let is_due = self.pubs.get(&key).is_some_and(|p| {
                p.in_flight.is_none()
                    && (p.refresh_at.is_some_and(|t| t <= now)
                        || p.retry_at.is_some_and(|t| t <= now))
            });
            if is_due {
                due.push(key);
            }
        }
        for key in due {
            self.send(now, &key);
        }
        self.pump(now);
    }

    /// When [`Publisher::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers
            .peek()
            .map(|Reverse((at, _))| *at)
            .into_iter()
            .chain(self.table.poll_timeout())
            .min()
    }

    /// The next message to send: destination, transport, bytes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Transport, Bytes)> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<PublisherEvent> {
        self.events.pop_front()
    }

    /// Sends what publication `key` needs now: removal, new document
    /// (initial or modify) or refresh. Waits if a PUBLISH is in flight.
    fn send(&mut self, now: Instant, key: &PublicationKey) {
        let Some(p) = self.pubs.get_mut(key) else {
            return;
        };
        if p.in_flight.is_some() || p.queued {
            return; // sent when the answer comes, or when its turn comes
        }
        if p.removing && p.etag.is_none() {
            self.pubs.remove(key);
            self.events
                .push_back(PublisherEvent::Removed { key: key.clone() });
            return;
        }
        if self.client_tx.len() >= self.cfg.max_in_flight.max(1) {
            p.queued = true;
            self.waiting.push_back(key.clone());
            return;
        }
        p.refresh_at = None;
        p.retry_at = None;
        p.cseq = p.cseq.saturating_add(1);
        let branch = sip_core::new_branch();
        let mut b = RequestBuilder::new(Method::Publish, &key.aor)
            .raw_header(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    self.transport.as_via_str(),
                    one_line(&self.cfg.sent_by)
                ),
            )
            .raw_header("Max-Forwards", "70")
            .raw_header(
                "From",
                format!("<{}>;tag={}", one_line(&self.cfg.local_uri), p.from_tag),
            )
            .raw_header("To", format!("<{}>", key.aor))
            .raw_header("Call-ID", &p.call_id)
            .cseq(p.cseq)
            .raw_header("Event", "presence")
            .raw_header(
                "Expires",
                if p.removing { 0 } else { p.expires }.to_string(),
            );
        if let Some(e) = &p.etag {
            b = b.raw_header("SIP-If-Match", e);
        }
        if let Some(ua) = &self.cfg.user_agent {
            b = b.raw_header("User-Agent", one_line(ua));
        }
        // RFC 3903 section 4.1: an initial PUBLISH and a modification carry
        // the document; a refresh and a removal carry none.
        let dirty = p.acked != Some(p.doc_version);
        p.sent = None;
        if !p.removing && (dirty || p.etag.is_none()) {
            b = b.body(pidf_lo::CONTENT_TYPE, p.doc.to_xml());
            p.sent = Some(p.doc_version);
        }
        let bytes = b.to_bytes();
        let tk = TransactionKey::client(&branch, Kind::Other);
        match self
            .table
            .start_client_non_invite(now, tk, bytes, tx_transport(self.transport))
        {
            Ok(id) => {
                p.in_flight = Some(id);
                self.client_tx.insert(id, key.clone());
            }
            Err(_) => {
                let d = self.cfg.backoff.delay(p.failures, &mut self.rng);
                p.failures = p.failures.saturating_add(1);
                p.retry_at = Some(now + d);
                self.timers.push(Reverse((now + d, key.clone())));
            }
        }
    }

    /// Sends waiting publications while the window has room.
    fn send_waiting(&mut self, now: Instant) {
        while self.client_tx.len() < self.cfg.max_in_flight.max(1) {
            let Some(key) = self.waiting.pop_front() else {
                break;
            };
            if let Some(p) = self.pubs.get_mut(&key) {
                p.queued = false;
                self.send(now, &key);
            }
        }
    }

    fn pump(&mut self, now: Instant) {
        loop {
            self.drain_actions(now);
            let before = self.client_tx.len();
            self.send_waiting(now);
            if self.client_tx.len() == before {
                break;
            }
        }
    }

    fn drain_actions(&mut self, now: Instant) {
        while let Some((id, action)) = self.table.poll_action() {
            match action {
                Action::Transmit(b) if self.client_tx.contains_key(&id) => {
                    self.transmits.push_back((self.server, self.transport, b));
                }
                Action::Response { status, message } if status >= 200 => {
                    if let Some(key) = self.client_tx.remove(&id) {
                        let resp = match Message::parse(message) {
                            Ok(Message::Response(r)) => Some(r),
                            _ => None,
                        };
                        self.on_final(now, &key, status, resp.as_ref());
                    }
                }
                Action::Timeout(_) | Action::TransportError => {
                    if let Some(key) = self.client_tx.remove(&id) {
                        self.on_final(now, &key, 408, None);
                    }
                }
                _ => {}
            }
        }
    }

    fn on_final(
        &mut self,
        now: Instant,
        key: &PublicationKey,
        status: u16,
        resp: Option<&Response>,
    ) {
        let floor = self.cfg.refresh_floor;
        let Some(p) = self.pubs.get_mut(key) else {
            return;
        };
        p.in_flight = None;
        match status {
            200..=299 => {
                p.failures = 0;
                if p.removing {
                    self.pubs.remove(key);
                    self.events
                        .push_back(PublisherEvent::Removed { key: key.clone() });
                    return;
                }
                // Capped like the subscriber's grants (30 days): the refresh
                // comes sooner, never an Instant overflow.
                let granted = resp
                    .and_then(|r| r.expires().ok().flatten())
                    .unwrap_or(p.expires)
                    .min(30 * 24 * 3600);
                p.etag = resp
                    .and_then(|r| r.first(HeaderName::SipEtag))
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty());
                if let Some(v) = p.sent.take() {
                    p.acked = Some(v);
                }
                let at = now + refresh_after(granted, floor);
                p.refresh_at = Some(at);
                self.timers.push(Reverse((at, key.clone())));
                self.events.push_back(PublisherEvent::Published {
                    key: key.clone(),
                    etag: p.etag.clone(),
                    expires: Duration::from_secs(u64::from(granted)),
                });
            }
            412 => {
                // The server no longer knows the entity: start afresh.
                p.etag = None;
                p.acked = None;
                if p.removing {
                    self.pubs.remove(key);
                    self.events
                        .push_back(PublisherEvent::Removed { key: key.clone() });
                    return;
                }
                p.retry_at = Some(now);
                self.timers.push(Reverse((now, key.clone())));
            }
            423 => {
                let min = resp.and_then(|r| number_header(r, HeaderName::MinExpires));
                match min {
                    Some(m) if m > p.expires => {
                        p.expires = m;
                        p.retry_at = Some(now);
                        self.timers.push(Reverse((now, key.clone())));
                    }
                    _ => self.failed(now, key, status, Duration::ZERO),
                }
            }
            _ => {
                let min = resp
                    .and_then(retry_after_header)
                    .map_or(Duration::ZERO, |s| Duration::from_secs(u64::from(s)));
                self.failed(now, key, status, min);
            }
        }
        // Anything due at once (412, 423, a document set meanwhile) goes
        // out in this call.
        let again = self.pubs.get(key).is_some_and(|p| {
            p.retry_at.is_some_and(|t| t <= now)
                || (p.acked.is_some() && p.acked != Some(p.doc_version) && p.retry_at.is_none())
        });
        if again {
            self.send(now, key);
        }
    }

    fn failed(&mut self, now: Instant, key: &PublicationKey, status: u16, min: Duration) {
        let Some(p) = self.pubs.get_mut(key) else {
            return;
        };
        let d = self
            .cfg
            .backoff
            .delay(p.failures, &mut self.rng)
            .max(min.min(Duration::from_secs(30 * 24 * 3600)));
        p.failures = p.failures.saturating_add(1);
        let retry_at = now + d;
        p.retry_at = Some(retry_at);
        self.timers.push(Reverse((retry_at, key.clone())));
        self.events.push_back(PublisherEvent::Failed {
            key: key.clone(),
            status,
            retry_at,
        });
    }
}
