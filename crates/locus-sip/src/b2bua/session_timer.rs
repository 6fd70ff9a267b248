//! RFC 4028 session timers, per leg of a call (issue 3 item 2: no call
//! leaks when a peer vanishes without BYE).
//!
//! ```text
//!  carrier (A)                 Locus                      far end (B)
//!      | INVITE SE:90;refresher=uac |                           |
//!      |--------------------------->| INVITE SE:1800, Min-SE:90 |
//!      |                            |-------------------------->|
//!      |                            |<----- 200 SE:1800;uac ----|  Locus refreshes B
//!      |<--- 200 SE:90;uac, Require |                           |  A refreshes A
//!      |   ...                      | re-INVITE (same SDP) @900s|
//!      |                            |-------------------------->|  (A undisturbed)
//!      |  (no refresh by 90 - 30 s) |                           |
//!      |<----------- BYE -----------|----------- BYE ---------->|
//! ```
//!
//! The state here is fed with `now` and says when it next wants to run
//! ([`CallTimers::deadline`]); the B2BUA sends what [`CallTimers::poll`]
//! asks. Refreshes are re-INVITEs, never UPDATE (trunks answer UPDATE with
//! 405, DESIGN C6), carrying the description Locus last presented on that
//! leg, so the relay and the other leg are not disturbed. A re-INVITE from
//! a peer whose description did not change (the same but for the `o=`
//! version) is a refresh of that leg only and is answered by Locus; one
//! that changes the media (hold, resume) is relayed as before. When a leg
//! is replaced (blind transfer) its timer is the target's, offered and
//! read as on any INVITE Locus sends. Without `Session-Expires` in B's 2xx there is no timer on B
//! (section 7.2: Locus does not impose refreshes on a far end that did
//! not accept them).

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::{HeaderName, Headers, Request, Response};

use super::transfer::side_parts;
use super::*;

/// `[sip.session_timer]` as the B2BUA uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The session interval Locus offers and imposes, in seconds; 0: Locus
    /// neither offers nor imposes one (a caller's own request is still
    /// honoured, since Locus says `Supported: timer`).
    pub(crate) expires: u32,
    /// The smallest interval Locus accepts (its `Min-SE`).
    pub(crate) min_se: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            expires: 1800,
            min_se: 90,
        }
    }
}

/// Who sends the refreshes, as the `refresher` parameter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    Uac,
    Uas,
}

/// A `Session-Expires` value: the interval and the refresher, if named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionExpires {
    pub(crate) secs: u32,
    pub(crate) refresher: Option<Refresher>,
}

fn text(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok().map(str::trim)
}

/// Parses `delta-seconds *(;param)` (RFC 4028 section 4).
pub(crate) fn parse_session_expires(v: &[u8]) -> Option<SessionExpires> {
    let mut parts = text(v)?.split(';');
    let secs = parts.next()?.trim().parse().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match v.trim() {
            r if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            r if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some(SessionExpires { secs, refresher })
}

/// The `Session-Expires` of a message, if any (and well formed).
pub(crate) fn session_expires(h: &Headers) -> Option<SessionExpires> {
    h.first(HeaderName::SessionExpires)
        .and_then(parse_session_expires)
}

/// The `Min-SE` of a message, if any.
pub(crate) fn min_se(h: &Headers) -> Option<u32> {
    let v = text(h.first(HeaderName::MinSe)?)?;
    v.split(';').next()?.trim().parse().ok()
}

/// Whether the message's `Supported` or `Require` lists `timer`.
pub(crate) fn supports_timer(h: &Headers) -> bool {
    [HeaderName::Supported, HeaderName::Require]
        .into_iter()
        .flat_map(|n| h.header_values(n))
        .filter_map(text)
        .any(|t| t.eq_ignore_ascii_case("timer"))
}

/// Locus's answer to an INVITE as UAS (RFC 4028 section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UasAnswer {
    /// No session timer on this leg.
    None,
    /// 422 Session Interval Too Small, with this `Min-SE`.
    TooSmall(u32),
    /// The 2xx carries `Session-Expires: secs;refresher=...` (and
    /// `Require: timer` when the UAC supports it).
    Timer {
        secs: u32,
        refresher: Refresher,
        uac_supports: bool,
    },
}

/// RFC 4028 section 9: the session interval and refresher for an INVITE
/// with these headers. A `Session-Expires` below Locus's minimum gets 422
/// when the UAC supports timers (table 2);
/// the UAC refreshes when it supports timers and asked to or left it open;
/// otherwise Locus does.
pub(crate) fn uas_answer(settings: Settings, h: &Headers) -> UasAnswer {
    let asked = session_expires(h);
    let uac_supports = supports_timer(h);
    let floor = min_se(h).unwrap_or(0).max(settings.min_se);
    let secs = match asked {
        // Only a UAC that supports timers can take a 422; a proxy's small
        // interval for one that does not is kept (never increased).
        Some(se) if se.secs < settings.min_se && uac_supports => return UasAnswer::TooSmall(floor),
        Some(se) if se.secs == 0 => return UasAnswer::None,
        Some(se) => se.secs,
        None if settings.expires == 0 => return UasAnswer::None,
        None => settings.expires.max(floor),
    };
    let refresher = match asked.and_then(|se| se.refresher) {
        Some(r) if uac_supports => r,
        _ if uac_supports => Refresher::Uac,
        // A UAC without timer support never refreshes for us.
        _ => Refresher::Uas,
    };
    UasAnswer::Timer {
        secs,
        refresher,
        uac_supports,
    }
}

/// RFC 4028 section 7.2: the timer Locus (the UAC) keeps after a 2xx.
/// Without `Session-Expires` there is none; a 2xx that names no refresher
/// leaves the refreshes to Locus.
pub(crate) fn uac_timer(resp: &Response) -> Option<(u32, bool)> {
    let se = session_expires(resp.headers())?;
    (se.secs > 0).then_some((se.secs, se.refresher != Some(Refresher::Uas)))
}

/// One leg's timer: the session interval and who refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LegTimer {
    /// The session interval.
    pub(crate) interval: Duration,
    /// Locus sends the refreshes on this leg.
    pub(crate) we_refresh: bool,
    /// When the last refresh (or the answer) took effect.
    pub(crate) since: Instant,
    /// A refresh was sent and not answered yet.
    pub(crate) refreshing: bool,
    /// A refused refresh goes again at this time (once per interval).
    pub(crate) retry_at: Option<Instant>,
    /// The refresh of this interval was already retried.
    pub(crate) retried: bool,
    /// The leg's Call-ID: a leg replaced (transfer) drops its timer.
    pub(crate) dialog: String,
}

/// What a leg's timer asks for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Send a refresh re-INVITE on this leg.
    Refresh(Side),
    /// The session expired: BYE both ways.
    Expired(Side),
}

impl LegTimer {
    /// A timer of `secs` seconds from `now`.
    pub(crate) fn new(secs: u32, we_refresh: bool, now: Instant, dialog: &str) -> LegTimer {
        LegTimer {
            interval: Duration::from_secs(u64::from(secs)),
            we_refresh,
            since: now,
            refreshing: false,
            retry_at: None,
            retried: false,
            dialog: dialog.to_owned(),
        }
    }

    /// Section 10: BYE is sent at the expiration minus the lesser of 32 s
    /// and a third of the interval.
    pub(crate) fn expiry(&self) -> Instant {
        let margin = Duration::from_secs(32).min(self.interval / 3);
        self.since + self.interval - margin
    }

    /// Section 7.4 and 8.3: the refresher refreshes at half the interval.
    pub(crate) fn deadline(&self) -> Instant {
        if self.we_refresh && !self.refreshing {
            self.retry_at.unwrap_or(self.since + self.interval / 2)
        } else {
            self.expiry()
        }
    }

    /// A refresh took effect at `now` (a 2xx to a re-INVITE either way).
    pub(crate) fn refreshed(&mut self, now: Instant) {
        self.since = now;
        self.refreshing = false;
        self.retry_at = None;
        self.retried = false;
    }

    /// Locus's refresh was refused at `now` with a status worth one more
    /// try (section 10: "retry if possible", not continuously): `true`
    /// when it goes again at `at`.
    pub(crate) fn retry(&mut self, at: Instant) -> bool {
        if self.retried {
            return false;
        }
        self.retried = true;
        self.refreshing = false;
        self.retry_at = Some(at);
        true
    }
}

/// A call's session-timer state: each leg's timer, and the descriptions
/// that tell a refresh from a media change.
#[derive(Debug, Default)]
pub(crate) struct CallTimers {
    pub(crate) a: Option<LegTimer>,
    pub(crate) b: Option<LegTimer>,
    /// The 2xx to A: what A's INVITE got (section 9).
    pub(crate) a_answer: Option<UasAnswer>,
    /// The `Session-Expires` Locus offers B; raised once by a 422.
    pub(crate) b_offer: Option<u32>,
    /// Locus's `Min-SE` toward B.
    pub(crate) b_min_se: u32,
    /// A 422 from B was already retried (section 7.4: once).
    pub(crate) b_retried: bool,
    /// The description Locus last presented on each leg.
    sent_a: Option<(String, Bytes)>,
    sent_b: Option<(String, Bytes)>,
    /// The description each peer last sent (a shared handle on the
    /// message's body, no copy), compared without its `o=` line.
    got_a: Option<Bytes>,
    got_b: Option<Bytes>,
}

/// Whether two descriptions are the same but for their `o=` lines: the
/// same media, even when a peer bumped the version without changing
/// anything (or changed the media without bumping it, which RFC 3264
/// section 8 forbids but some do: any other difference is a change,
/// relayed). Line by line, with the line endings as written; nothing is
/// copied.
fn same_media(a: &[u8], b: &[u8]) -> bool {
    let lines =
        |body| <[u8]>::split_inclusive(body, |&c| c == b'\n').filter(|l| !l.starts_with(b"o="));
    lines(a).eq(lines(b))
}

impl CallTimers {
    /// The timer of `side`, if any.
    pub(crate) fn leg(&mut self, side: Side) -> &mut Option<LegTimer> {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Locus presented `body` on `side`.
    pub(crate) fn sent(&mut self, side: Side, body: Option<&(String, Bytes)>) {
        if let Some(b) = body {
            *match side {
                Side::A => &mut self.sent_a,
                Side::B => &mut self.sent_b,
            } = Some(b.clone());
        }
    }

    /// The description Locus last presented on `side`.
    pub(crate) fn last_sent(&self, side: Side) -> Option<&(String, Bytes)> {
        match side {
            Side::A => self.sent_a.as_ref(),
            Side::B => self.sent_b.as_ref(),
        }
    }

    /// The peer on `side` sent `body`.
    pub(crate) fn got(&mut self, side: Side, body: Option<&(String, Bytes)>) {
        if let Some((_, b)) = body {
            *match side {
                Side::A => &mut self.got_a,
                Side::B => &mut self.got_b,
            } = Some(b.clone());
        }
    }

    /// Whether a re-INVITE from `side` with `body` is a refresh only:
    /// its description is the one that peer last sent, but for the `o=`
    /// version (or it has none, and Locus has one to offer back).
    pub(crate) fn is_refresh(&self, side: Side, body: Option<&(String, Bytes)>) -> bool {
        let got = match side {
            Side::A => self.got_a.as_ref(),
            Side::B => self.got_b.as_ref(),
        };
        match body {
            Some((_, b)) => got.is_some_and(|g| same_media(g, b)),
            None => self.last_sent(side).is_some(),
        }
    }

    /// B answered 422 (section 7.4): `true` when the INVITE goes once
    /// more, with the larger `Session-Expires` and `Min-SE` it asks.
    pub(crate) fn retry_422(&mut self, resp: &Response) -> bool {
        let (Some(offer), false) = (self.b_offer, self.b_retried) else {
            return false;
        };
        let Some(floor) = min_se(resp.headers()) else {
            return false;
        };
        self.b_retried = true;
        self.b_offer = Some(offer.max(floor));
        self.b_min_se = self.b_min_se.max(floor);
        true
    }

    /// The earliest deadline of either leg.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [&self.a, &self.b]
            .into_iter()
            .flatten()
            .map(LegTimer::deadline)
            .min()
    }

    /// What is due at `now`: an expiry first (the call ends), else a
    /// refresh, marked as sent.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Due> {
        for (side, leg) in [(Side::A, &self.a), (Side::B, &self.b)] {
            if leg.as_ref().is_some_and(|t| now >= t.expiry()) {
                return Some(Due::Expired(side));
            }
        }
        for (side, leg) in [(Side::A, &mut self.a), (Side::B, &mut self.b)] {
            if let Some(t) = leg.as_mut().filter(|t| now >= t.deadline()) {
                t.refreshing = true;
                t.retry_at = None;
                return Some(Due::Refresh(side));
            }
        }
        None
    }

    /// A re-INVITE from the peer on `side` was answered 2xx at `now`:
    /// its `Session-Expires` (if any) sets the interval and refresher.
    pub(crate) fn peer_refreshed(&mut self, side: Side, req: &Request, now: Instant) {
        let asked = session_expires(req.headers());
        let supports = supports_timer(req.headers());
        if let Some(t) = self.leg(side).as_mut() {
            if let Some(se) = asked.filter(|se| se.secs > 0) {
                t.interval = Duration::from_secs(u64::from(se.secs));
                t.we_refresh = !supports || se.refresher == Some(Refresher::Uas);
            }
            t.refreshed(now);
        }
    }

    /// Headers for a message Locus sends on `side`'s dialog about its
    /// session: `Session-Expires` with the refresher relative to this
    /// transaction (`uac`: Locus sends the request), `Supported: timer`.
    pub(crate) fn headers(&mut self, side: Side, as_uac: bool) -> Vec<(HeaderName, String)> {
        let Some(t) = self.leg(side).as_ref() else {
            return Vec::new();
        };
        let r = if t.we_refresh == as_uac { "uac" } else { "uas" };
        vec![
            (
                HeaderName::SessionExpires,
                crate::identity::concat(&[
                    decimal(t.interval.as_secs(), &mut [0; 20]),
                    ";refresher=",
                    r,
                ]),
            ),
            (HeaderName::Supported, "timer".into()),
        ]
    }
}

/// `n` in decimal, written into `buf` without `core::fmt` (issue 3).
fn decimal(n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

/// B answered 2xx, and A gets `body` in its 2xx: each leg's timer starts
/// (A's as Locus answered it, B's as B's 2xx says); the headers for A's
/// 2xx (section 9).
pub(super) fn answered(
    call: &mut Call,
    resp: &Response,
    body: Option<&(String, Bytes)>,
    now: Instant,
) -> Vec<(HeaderName, String)> {
    let st = &mut call.session;
    st.sent(Side::A, body);
    st.got(Side::B, body_of(resp.headers()).as_ref());
    if let Some(b) = call.b.as_ref() {
        st.b = uac_timer(resp).map(|(secs, we)| LegTimer::new(secs, we, now, b.dialog.call_id()));
        if let Some(t) = &st.b {
            tracing::debug!(
                secs = t.interval.as_secs(),
                locus_refreshes = t.we_refresh,
                "session timer on B"
            );
        }
    }
    let Some(UasAnswer::Timer {
        secs,
        refresher,
        uac_supports,
    }) = st.a_answer
    else {
        return Vec::new();
    };
    st.a = Some(LegTimer::new(
        secs,
        refresher == Refresher::Uas,
        now,
        call.a.call_id(),
    ));
    let mut h = st.headers(Side::A, false);
    if uac_supports {
        h.push((HeaderName::Require, "timer".into()));
    }
    h
}

/// A transfer target (`leg`, answered with `resp`) takes `side`'s place:
/// that side's timer is the target's, as its 2xx says (section 7.2).
pub(super) fn transferred(call: &mut Call, side: Side, leg: &LegB, resp: &Response, now: Instant) {
    let st = &mut call.session;
    st.sent(
        side,
        leg.invite.get().and_then(|i| body_of(i.headers())).as_ref(),
    );
    st.got(side, body_of(resp.headers()).as_ref());
    *st.leg(side) =
        uac_timer(resp).map(|(secs, we)| LegTimer::new(secs, we, now, leg.dialog.call_id()));
}

/// A relayed re-INVITE (`req`, from the other side than `to`) was
/// answered 2xx by `to` (`resp`), and its requester gets `body`: both
/// legs are refreshed; the headers for the requester's 2xx.
pub(super) fn relayed(
    call: &mut Call,
    req: &Request,
    resp: &Response,
    body: Option<&(String, Bytes)>,
    to: Side,
    now: Instant,
) -> Vec<(HeaderName, String)> {
    let from = other(to);
    let st = &mut call.session;
    st.sent(from, body);
    if let Some(t) = st.leg(to).as_mut() {
        match uac_timer(resp) {
            Some((secs, we)) => {
                t.interval = Duration::from_secs(u64::from(secs));
                t.we_refresh = we;
                t.refreshed(now);
            }
            // Section 7.2: a 2xx without Session-Expires turns it off.
            None => *st.leg(to) = None,
        }
    }
    st.peer_refreshed(from, req, now);
    let mut h = st.headers(from, false);
    if !h.is_empty() && supports_timer(req.headers()) {
        h.push((HeaderName::Require, "timer".into()));
    }
    h
}

impl Calls {
    /// RFC 4028 section 9 for a new call's INVITE: its session-timer
    /// state, or `None` when it was answered 422 (an emergency call never
    /// is: it gets the interval it asked for).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn session_start(
        &self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        req: &Request,
        inbound: &Inbound,
        tag: &str,
        origin: Origin<'_>,
        emergency: bool,
    ) -> Option<Box<CallTimers>> {
        let settings = self.session_timer;
        let mut answer = uas_answer(settings, req.headers());
        if let (UasAnswer::TooSmall(floor), false) = (answer, emergency) {
            tracing::info!(min_se = floor, "Session-Expires too small: 422");
            let r = reply(req, inbound.source, 422, None, tag, ctx.user_agent)
                .header(HeaderName::MinSe, floor)
                .form(form_of(origin.compact))
                .to_bytes();
            ctx.respond(id, 422, r);
            return None;
        }
        if let (UasAnswer::TooSmall(_), Some(se)) = (answer, session_expires(req.headers())) {
            answer = UasAnswer::Timer {
                secs: se.secs.max(1),
                refresher: se.refresher.unwrap_or(Refresher::Uac),
                uac_supports: supports_timer(req.headers()),
            };
        }
        let mut st = CallTimers {
            a_answer: Some(answer),
            b_offer: (settings.expires > 0).then_some(settings.expires),
            b_min_se: settings.min_se,
            ..CallTimers::default()
        };
        st.got(Side::A, body_of(req.headers()).as_ref());
        Some(Box::new(st))
    }

    /// The `Session-Expires` and `Min-SE` Locus offers B now.
    pub(super) fn b_timer_offer(st: &CallTimers) -> Option<(u32, u32)> {
        st.b_offer.map(|e| (e, st.b_min_se))
    }

    /// A call's session timer is due: a refresh is sent, or the session
    /// expired and the call ends (`true`: the call is gone).
    pub(super) fn session_due(&mut self, ctx: &mut Ctx<'_>, call_id: u64) -> bool {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return true;
        };
        // A leg replaced since its timer started (blind transfer) is a new
        // dialog: the old timer is dropped, not acted on.
        for side in [Side::A, Side::B] {
            let current = match side {
                Side::A => Some(call.a.call_id()),
                Side::B => call.b.as_ref().map(|b| b.dialog.call_id()),
            };
            let leg = call.session.leg(side);
            if leg
                .as_ref()
                .is_some_and(|t| Some(t.dialog.as_str()) != current)
            {
                *leg = None;
            }
        }
        match call.session.poll(ctx.now) {
            Some(Due::Expired(side)) => {
                tracing::info!(call = call_id, leg = ?side, "session expired (RFC 4028): BYE both ways");
                call.retx = None;
                self.hang_up(ctx, call_id);
                true
            }
            Some(Due::Refresh(side)) => {
                Self::send_refresh(ctx, call, call_id, side, &mut self.by_tx);
                self.dirty.push(call_id);
                false
            }
            None => false,
        }
    }

    /// Sends the session refresh re-INVITE on `side`: the description
    /// Locus last presented there, so nothing changes (section 7.4).
    fn send_refresh(
        ctx: &mut Ctx<'_>,
        call: &mut Call,
        call_id: u64,
        side: Side,
        by_tx: &mut super::Map<TransactionId, TxRole>,
    ) {
        let headers = call.session.headers(side, true);
        let body = call.session.last_sent(side).cloned();
        let timer_dialog = call.session.leg(side).as_ref().map(|t| t.dialog.clone());
        let Some((dialog, local, flow, compact)) = side_parts(call, side) else {
            *call.session.leg(side) = None;
            return;
        };
        let (Some(body), true) = (body, timer_dialog.as_deref() == Some(dialog.call_id())) else {
            // A leg replaced by a transfer, or nothing to offer: no timer.
            *call.session.leg(side) = None;
            return;
        };
        let dr = dialog.request(Method::Invite, &local);
        let mut b = dr
            .builder
            .raw_header("User-Agent", ctx.user_agent)
            .header(HeaderName::Allow, TRUNK_ALLOW)
            .header(HeaderName::MinSe, call.session.b_min_se.max(1));
        for (h, v) in headers {
            b = b.header(h, v);
        }
        let bytes = b.body(&body.0, body.1).form(form_of(compact)).to_bytes();
        if let Some((id, sent)) =
            Self::start_own_reinvite(ctx, &dr.next_hop, &dr.branch, &flow, bytes)
        {
            tracing::info!(call = call_id, leg = ?side, "session refresh: re-INVITE");
            by_tx.insert(id, TxRole::Refresh(call_id, side, sent));
        }
    }

    /// The answer to Locus's refresh on `side`: a 2xx is ACKed (again for
    /// each retransmission) and restarts the leg's timer as it says; a
    /// 408 or 481 ends the call (section 10); a 491 or 422 is retried
    /// once; any other answer keeps the call another interval (the peer
    /// is there).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_refresh_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        side: Side,
        id: TransactionId,
        sent: &Request,
        status: u16,
        message: &Bytes,
    ) {
        let Some(resp) = Self::own_reinvite_final(ctx, id, sent, status, message) else {
            return;
        };
        if status >= 300 {
            tracing::info!(call = call_id, leg = ?side, status, "session refresh refused");
            if matches!(status, 408 | 481) {
                return self.on_refresh_failure(ctx, call_id);
            }
            // Section 10: retry if possible, once. 491 (glare, RFC 3261
            // section 14.1) after a pause; 422 at once with its Min-SE.
            // Otherwise the peer answered: its dialog is alive (only 408
            // and 481 say it is gone, RFC 3261 section 12.2.1.2), so the
            // call is kept for another interval rather than cut because a
            // trunk refuses re-INVITEs.
            let now = ctx.now;
            let Some(call) = self.calls.get_mut(&call_id) else {
                return;
            };
            let Some(t) = call.session.leg(side).as_mut() else {
                return;
            };
            let at = match (status, min_se(resp.headers())) {
                (491, _) => Some(now + Duration::from_secs(2)),
                (422, Some(floor)) => {
                    t.interval = t.interval.max(Duration::from_secs(u64::from(floor)));
                    Some(now)
                }
                _ => None,
            };
            if !at.is_some_and(|at| t.retry(at)) {
                t.refreshed(now);
            }
            self.dirty.push(call_id);
            return;
        }
        if let Some(ack) = self.accepted.get(&id) {
            ctx.out.push_back((None, ack.clone()));
            return;
        }
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let seq = sent.cseq().map_or(1, |c| c.seq);
        let Some((dialog, local, flow, compact)) = side_parts(call, side) else {
            return;
        };
        dialog.refresh_target(resp.contacts());
        let dr = dialog.ack(seq, &local);
        let mut out = Self::dest_for(&dr.next_hop, &flow);
        out.bytes = dr.builder.form(form_of(compact)).to_bytes();
        self.accepted.insert(id, out.clone());
        ctx.out.push_back((None, out));
        let now = ctx.now;
        let leg = call.session.leg(side);
        match (leg.as_mut(), uac_timer(&resp)) {
            (Some(t), Some((secs, we))) => {
                t.interval = Duration::from_secs(u64::from(secs));
                t.we_refresh = we;
                t.refreshed(now);
            }
            // Section 7.2: a 2xx without Session-Expires turns it off.
            _ => *leg = None,
        }
        self.dirty.push(call_id);
        // The peer answers what it answered before; a changed answer
        // re-points the relay.
        let body = body_of(resp.headers());
        if body.is_some() && !call.session.is_refresh(side, body.as_ref()) {
            call.session.got(side, body.as_ref());
            if Self::cross_body(&mut self.media, call, call_id, side, body, false).is_err() {
                tracing::info!(call = call_id, "refresh answer refused: BYE both ways");
                self.hang_up(ctx, call_id);
            }
        }
    }

    /// Section 10: a refresh that timed out (or got 408/481) ends the call.
    pub(super) fn on_refresh_failure(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        if let Some(call) = self.calls.get_mut(&call_id) {
            tracing::info!(call = call_id, "session refresh failed: BYE both ways");
            call.retx = None;
            self.hang_up(ctx, call_id);
        }
    }

    /// A re-INVITE from `side` that changes nothing (a session refresh):
    /// Locus answers it with the description it last presented there;
    /// the other leg is not disturbed.
    pub(super) fn answer_refresh(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        side: Side,
        id: TransactionId,
        req: &Request,
        source: SocketAddr,
    ) {
        let t1 = self.t1;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let now = ctx.now;
        call.session.peer_refreshed(side, req, now);
        let (local, compact) = match side {
            Side::A => (call.a_local, call.a_compact),
            Side::B => match call.b.as_ref() {
                Some(b) => (b.local, b.compact),
                None => return,
            },
        };
        let mut r = reply(req, source, 200, None, "", ctx.user_agent)
            .raw_header("Contact", local.contact())
            .header(HeaderName::Allow, TRUNK_ALLOW);
        let h = call.session.headers(side, false);
        if !h.is_empty() && supports_timer(req.headers()) {
            r = r.header(HeaderName::Require, "timer");
        }
        for (n, v) in h {
            r = r.header(n, v);
        }
        if let Some((ct, body)) = call.session.last_sent(side) {
            r = r.body(ct, body.clone());
        }
        let bytes = r.form(form_of(compact)).to_bytes();
        ctx.respond(id, 200, bytes.clone());
        tracing::debug!(call = call_id, leg = ?side, "session refresh answered");
        if !ctx
            .dests
            .get(&id)
            .is_some_and(|d| d.transport.is_reliable())
        {
            call.retx = Some(Retx {
                tx: id,
                status: 200,
                bytes,
                interval: t1,
                next: now + t1,
                cseq: req.cseq().map_or(0, |c| c.seq),
            });
        }
        self.dirty.push(call_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &str) -> Request {
        let text = format!(
            "INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK1\r\n\
             From: <sip:a@127.0.0.2>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: st\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{lines}Content-Length: 0\r\n\r\n"
        );
        super::super::parse_request(Bytes::from(text)).unwrap()
    }

    const S: Settings = Settings {
        expires: 1800,
        min_se: 90,
    };

    #[test]
    fn too_small_gets_422_with_min_se() {
        let r = headers("Session-Expires: 60\r\nSupported: timer\r\n");
        assert_eq!(uas_answer(S, r.headers()), UasAnswer::TooSmall(90));
        // The larger of the request's Min-SE and ours.
        let r = headers("Session-Expires: 60\r\nMin-SE: 120\r\nSupported: timer\r\n");
        assert_eq!(uas_answer(S, r.headers()), UasAnswer::TooSmall(120));
        // A UAC without timer support cannot take a 422: the interval a
        // proxy put in is kept, and Locus refreshes.
        let r = headers("Session-Expires: 60\r\n");
        assert_eq!(
            uas_answer(S, r.headers()),
            UasAnswer::Timer {
                secs: 60,
                refresher: Refresher::Uas,
                uac_supports: false
            }
        );
    }

    #[test]
    fn refresher_choice() {
        let ask = |l: &str| uas_answer(S, headers(l).headers());
        // Supports timer and left it open: the UAC refreshes.
        assert_eq!(
            ask("Session-Expires: 90\r\nSupported: timer\r\n"),
            UasAnswer::Timer {
                secs: 90,
                refresher: Refresher::Uac,
                uac_supports: true
            }
        );
        // Asked Locus to refresh.
        assert_eq!(
            ask("x: 600;refresher=uas\r\nk: timer\r\n"),
            UasAnswer::Timer {
                secs: 600,
                refresher: Refresher::Uas,
                uac_supports: true
            }
        );
        // No timer support: Locus refreshes, with its own interval.
        assert_eq!(
            ask(""),
            UasAnswer::Timer {
                secs: 1800,
                refresher: Refresher::Uas,
                uac_supports: false
            }
        );
        // Off: nothing imposed, but a request is honoured.
        let off = Settings {
            expires: 0,
            min_se: 90,
        };
        assert_eq!(uas_answer(off, headers("").headers()), UasAnswer::None);
        assert!(matches!(
            uas_answer(
                off,
                headers("Session-Expires: 300;refresher=uac\r\nSupported: timer\r\n").headers()
            ),
            UasAnswer::Timer { secs: 300, .. }
        ));
    }

    #[test]
    fn refresh_at_half_interval_and_expiry_with_the_margin() {
        let t0 = Instant::now();
        let mut c = CallTimers {
            a: Some(LegTimer::new(90, false, t0, "a")),
            b: Some(LegTimer::new(1800, true, t0, "b")),
            ..CallTimers::default()
        };
        // A: 90 - min(32, 30) = 60 s; B: refresh at 900 s.
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(c.poll(t0 + Duration::from_secs(59)), None);
        assert_eq!(
            c.poll(t0 + Duration::from_secs(60)),
            Some(Due::Expired(Side::A))
        );
        c.a = None;
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(900)));
        assert_eq!(
            c.poll(t0 + Duration::from_secs(900)),
            Some(Due::Refresh(Side::B))
        );
        // Sent once; unanswered, the session expires at 1800 - 32.
        assert_eq!(c.poll(t0 + Duration::from_secs(901)), None);
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(1768)));
        c.b.as_mut()
            .unwrap()
            .refreshed(t0 + Duration::from_secs(901));
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(1801)));
    }

    #[test]
    fn same_media_is_a_refresh() {
        let sdp = |v: u32| {
            (
                "application/sdp".to_owned(),
                Bytes::from(format!(
                    "v=0\r\no=x 1 {v} IN IP4 127.0.0.2\r\ns=-\r\nm=audio {} RTP/AVP 0\r\n",
                    40000 + v.min(2)
                )),
            )
        };
        let mut c = CallTimers::default();
        c.got(Side::A, Some(&sdp(1)));
        assert!(c.is_refresh(Side::A, Some(&sdp(1))));
        // A new port is a change; a bumped version alone is not.
        assert!(!c.is_refresh(Side::A, Some(&sdp(2))));
        c.got(Side::A, Some(&sdp(2)));
        assert!(c.is_refresh(Side::A, Some(&sdp(3))));
        assert!(!c.is_refresh(Side::B, Some(&sdp(1))));
        // No body: a refresh when Locus has a description to offer.
        assert!(!c.is_refresh(Side::A, None));
        c.sent(Side::A, Some(&sdp(7)));
        assert!(c.is_refresh(Side::A, None));
    }
}
