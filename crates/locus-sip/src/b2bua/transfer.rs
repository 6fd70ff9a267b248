//! Blind transfer (RFC 3515 REFER, RFC 5589 section 6): a party of an
//! answered call sends REFER; Locus calls the target itself and, when the
//! target answers, puts it in the transferor's place.
//!
//! ```text
//!  transferee        Locus                 transferor        target
//!      |  (call up)    |  <------- REFER ------ |               |
//!      |               |  --------- 202 ------> |               |
//!      |               |  -- NOTIFY 100 Trying> |  (sipfrag)    |
//!      |               |  INVITE ------------------------------>|
//!      |               |  <------------------------------- 200 |
//!      |               |  ACK ---------------------------------->|
//!      |  media now flows to the target (relay re-pointed)      |
//!      |               |  -- NOTIFY 200 OK ---> |  (terminated) |
//!      |               |  -- BYE -------------> |               |
//! ```
//!
//! The transferee's description normally does not change, so it gets no
//! re-INVITE: its media is anchored in the relay, and the relay's ports
//! facing it stay the same. The target is offered the description the
//! transferor last got (the relay's ports on the transferor's side),
//! limited to the formats the transferee uses now
//! ([`Anchor::replacement_offer`](crate::anchor::Anchor)), so whatever it
//! answers is something the transferee already sends and receives; its
//! answer only re-points the relay's transferor-side peer. A re-INVITE is
//! needed only when the transferee's own description must change: when it
//! is on hold (phones hold the call before transferring it), the target is
//! offered the stream both ways and the transferee gets a re-INVITE with
//! the target's answer, taking it off hold. Without the relay
//! (`sip.media.relay = false`) the transferee's media goes straight to
//! the transferor and a transfer would need third-party call control
//! (RFC 3725), so REFER gets 501.
//!
//! The target is routed as a new call from the transferor's side would
//! be (the core computes the attempts: trunk routes for a carrier, the
//! dial plan for a phone); only the Refer-To's user part is routed, its
//! host is never a destination (no open relay). A failed transfer (the
//! target's 4xx to 6xx, no answer, every endpoint down) is reported in
//! the final NOTIFY and leaves the call as it was. Refer-To with Replaces
//! (attended transfer, RFC 3891) gets 501. The target sees the original
//! caller's identity. A transferor may hang up as soon as its REFER is
//! accepted (RFC 5589 allows it): its BYE is answered, the transferee
//! stays and waits for the target, and is hung up if the transfer fails.

use super::*;

/// Why a REFER is refused before any transfer starts: status and reason.
pub(crate) type Refusal = (u16, &'static str);

/// What a REFER's Refer-To names: the user part to route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReferTarget {
    /// The user part (a number, an extension), unescaped, without
    /// parameters.
    pub(crate) user: String,
    /// The URI as written (the registrar resolves it to an AOR).
    pub(crate) uri: String,
}

/// The Refer-To of a REFER (RFC 3515 section 2.1).
///
/// # Errors
/// 400 when it is missing, malformed or has no user part; 501 for
/// Replaces (attended transfer) and for schemes other than sip, sips
/// and tel.
pub(crate) fn refer_target(req: &Request) -> Result<ReferTarget, Refusal> {
    let mut values = req.header_values(HeaderName::ReferTo);
    let (Some(raw), None) = (values.next(), values.next()) else {
        return Err((400, "Bad Request (one Refer-To needed)"));
    };
    let text = std::str::from_utf8(raw).map_err(|_| (400, "Bad Request (Refer-To)"))?;
    let na = sip_core::NameAddr::parse(text.trim()).map_err(|_| (400, "Bad Request (Refer-To)"))?;
    let user = match &na.uri {
        sip_core::Uri::Sip(sip) => {
            let replaces = sip.headers.split('&').any(|h| {
                h.split('=')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case("Replaces"))
            });
            if replaces {
                return Err((501, "Not Implemented (attended transfer with Replaces)"));
            }
            let u = sip
                .user_unescaped()
                .ok_or((400, "Bad Request (Refer-To without a user part)"))?;
            String::from_utf8_lossy(&u).into_owned()
        }
        sip_core::Uri::Tel(tel) => tel.number.to_string(),
        sip_core::Uri::Other { .. } => {
            return Err((501, "Not Implemented (Refer-To scheme)"));
        }
    };
    let user = user.split(';').next().unwrap_or_default().to_owned();
    if user.is_empty() {
        return Err((400, "Bad Request (Refer-To without a user part)"));
    }
    Ok(ReferTarget {
        user,
        uri: na.uri.to_string(),
    })
}

/// A blind transfer in progress: the transferor's side and the new leg.
#[derive(Debug)]
pub(crate) struct Transfer {
    /// The transferor's side: the leg the target replaces.
    side: Side,
    /// The REFER's CSeq number: the refer event's `id` (RFC 3515 section
    /// 2.4.6).
    id: u32,
    /// The INVITE toward the target, while it is pending.
    leg: Option<LegB>,
    /// The target's attempts not tried yet.
    attempts: VecDeque<Step>,
    /// The DNS resolution the transfer waits for, and until when.
    pub(super) resolving: Option<u64>,
    pub(super) resolve_deadline: Option<Instant>,
    /// When the target has had its time to answer.
    pub(super) deadline: Instant,
    /// The offer sent to each attempt.
    offer: (String, Bytes),
    /// What the last failed attempt answered (503 before any).
    last: (u16, String),
    /// The transferor hung up before the target answered (its dialog is
    /// over: no NOTIFY, no BYE for it).
    transferor_gone: bool,
}

impl Transfer {
    /// A BYE came from `side`: when it is the transferor's, its dialog is
    /// over but the transfer goes on (`true`).
    pub(super) fn transferor_left(&mut self, side: Side) -> bool {
        if side == self.side {
            self.transferor_gone = true;
        }
        side == self.side
    }

    /// Whether one of its deadlines has come.
    pub(super) fn due(&self, now: Instant) -> bool {
        now >= self.deadline || self.resolve_deadline.is_some_and(|d| now >= d)
    }
}

/// A transferor's dialog once its transfer completed: it gets the final
/// NOTIFY, then BYE; a BYE from it is answered 200.
#[derive(Debug)]
pub(crate) struct Retired {
    dialog: Dialog,
    local: Local,
    flow: Outbound,
    compact: bool,
}

/// Sends a new request on a dialog, in a non-INVITE client transaction.
#[allow(clippy::too_many_arguments)]
fn send_on(
    ctx: &mut Ctx<'_>,
    dialog: &mut Dialog,
    local: &Local,
    flow: &Outbound,
    compact: bool,
    method: Method,
    headers: &[(HeaderName, String)],
    body: Option<(&str, Bytes)>,
) -> Option<TransactionId> {
    let dr = dialog.request(method, local);
    let mut b = dr.builder.raw_header("User-Agent", ctx.user_agent);
    for (h, v) in headers {
        b = b.header(*h, v);
    }
    if let Some((ct, body)) = body {
        b = b.body(ct, body);
    }
    let bytes = b.form(form_of(compact)).to_bytes();
    let dest = Calls::dest_for(&dr.next_hop, flow);
    let key = TransactionKey::client(&dr.branch, Kind::Other);
    match ctx
        .tx
        .start_client_non_invite(ctx.now, key, bytes, tx_transport(dest.transport))
    {
        Ok(id) => {
            ctx.dests.insert(id, dest);
            Some(id)
        }
        Err(e) => {
            tracing::debug!(error = %e, "in-dialog request not sent");
            None
        }
    }
}

/// The refer event's NOTIFY (RFC 3515 section 2.4.5): the target's
/// status as a message/sipfrag; `terminated` with the final one.
#[allow(clippy::too_many_arguments)]
fn notify(
    ctx: &mut Ctx<'_>,
    dialog: &mut Dialog,
    local: &Local,
    flow: &Outbound,
    compact: bool,
    id: u32,
    status: u16,
    reason: &str,
    expires: Option<u64>,
) -> Option<TransactionId> {
    let state = match expires {
        Some(secs) => format!("active;expires={secs}"),
        None => "terminated;reason=noresource".to_owned(),
    };
    let frag = Bytes::from(format!("SIP/2.0 {status} {reason}\r\n"));
    send_on(
        ctx,
        dialog,
        local,
        flow,
        compact,
        Method::Notify,
        &[
            (HeaderName::Event, format!("refer;id={id}")),
            (HeaderName::SubscriptionState, state),
        ],
        Some(("message/sipfrag;version=2.0", frag)),
    )
}

/// Side `side`'s dialog and where it is reached, when confirmed.
pub(super) fn side_parts(
    call: &mut Call,
    side: Side,
) -> Option<(&mut Dialog, Local, Outbound, bool)> {
    match side {
        Side::A => Some((
            &mut call.a,
            call.a_local,
            call.a_flow.clone(),
            call.a_compact,
        )),
        Side::B => call
            .b
            .as_mut()
            .filter(|b| b.confirmed)
            .map(|b| (&mut b.dialog, b.local, b.flow.clone(), b.compact)),
    }
}

impl Calls {
    /// A REFER inside a call's dialog (server transaction `id`), with the
    /// attempts toward its target as the core routed them: 202 and a
    /// transfer, or a final refusal. `false` when it matches no call (the
    /// core answers 481).
    pub(crate) fn on_refer(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        req: &Request,
        source: SocketAddr,
        routed: Result<Vec<Step>, Refusal>,
    ) -> bool {
        let Some((call_id, side)) = self.lookup(req) else {
            return false;
        };
        let ring = self.config.ring_timeout_secs;
        let relay = self.media.is_some();
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
            answer(ctx, 500, Some("Server Internal Error (CSeq out of order)"));
            return true;
        }
        if call.phase != Phase::Up {
            answer(ctx, 491, Some("Request Pending"));
            return true;
        }
        if call.transfer.is_some() {
            answer(
                ctx,
                491,
                Some("Request Pending (a transfer is in progress)"),
            );
            return true;
        }
        if !relay {
            answer(
                ctx,
                501,
                Some("Not Implemented (transfer needs the media relay)"),
            );
            return true;
        }
        let steps = match routed {
            Ok(steps) if !steps.is_empty() => steps,
            Ok(_) => {
                answer(
                    ctx,
                    404,
                    Some("Not Found (no route for the transfer target)"),
                );
                return true;
            }
            Err((status, reason)) => {
                answer(ctx, status, Some(reason));
                return true;
            }
        };
        let offer = call
            .media
            .as_mut()
            .and_then(|m| m.replacement_offer(leg_of(side)));
        let Some(offer) = offer else {
            answer(ctx, 488, Some("Not Acceptable Here (no media to transfer)"));
            return true;
        };
        answer(ctx, 202, None);
        let expires = ring + 32;
        if let Some((dialog, local, flow, compact)) = side_parts(call, side) {
            if let Some(n) = notify(
                ctx,
                dialog,
                &local,
                &flow,
                compact,
                seq,
                100,
                "Trying",
                Some(expires),
            ) {
                self.by_tx.insert(n, TxRole::Own);
            }
        }
        tracing::info!(call = call_id, ?side, "blind transfer: calling the target");
        call.transfer = Some(Box::new(Transfer {
            side,
            id: seq,
            leg: None,
            attempts: steps.into(),
            resolving: None,
            resolve_deadline: None,
            deadline: ctx.now + Duration::from_secs(ring),
            offer: ("application/sdp".to_owned(), Bytes::from(offer)),
            last: (503, "Service Unavailable".to_owned()),
            transferor_gone: false,
        }));
        self.dirty.push(call_id);
        self.try_transfer(ctx, call_id);
        self.flush_timers();
        true
    }

    /// Starts the transfer's next attempt (or pauses it for a DNS
    /// resolution); reports the failure when none is left.
    fn try_transfer(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Call {
            a_invite,
            a_local,
            transfer,
            session,
            ..
        } = call;
        let Some(t) = transfer.as_mut() else { return };
        while let Some(step) = t.attempts.pop_front() {
            match step {
                Step::Resolve(lookup) => {
                    let token = self.next_token;
                    self.next_token += 1;
                    let target = sip_resolve::Target {
                        host: sip_resolve::Host::Name(lookup.name.name.clone()),
                        port: lookup.name.port,
                        transport: Some(lookup.transport),
                        secure: false,
                    };
                    self.resolve_out.push_back(ResolveRequest { token, target });
                    self.lookups.insert(token, (call_id, lookup));
                    t.resolving = Some(token);
                    t.resolve_deadline = Some(ctx.now + self.dns_wait);
                    self.dirty.push(call_id);
                    return;
                }
                Step::Try(at) => {
                    let leg = Self::invite_leg(
                        ctx,
                        a_invite,
                        a_local.addr.ip(),
                        Some(&t.offer),
                        at,
                        None,
                        Self::b_timer_offer(session),
                    );
                    if let Some(leg) = leg {
                        if let Some(tx) = leg.tx {
                            self.by_tx.insert(tx, TxRole::Transfer(call_id));
                        }
                        t.leg = Some(leg);
                        return;
                    }
                }
            }
        }
        let (status, reason) = t.last.clone();
        self.fail_transfer(ctx, call_id, status, &reason);
    }

    /// The endpoints of the transfer's DNS resolution.
    pub(super) fn on_transfer_resolved(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        lookup: &Lookup,
        endpoints: &[sip_resolve::Endpoint],
    ) {
        let Some(t) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.transfer.as_mut())
        else {
            return;
        };
        t.resolving = None;
        t.resolve_deadline = None;
        for e in endpoints
            .iter()
            .rev()
            .filter(|e| e.transport == lookup.transport)
        {
            t.attempts.push_front(Step::Try(lookup.attempt(e)));
        }
        self.dirty.push(call_id);
        self.try_transfer(ctx, call_id);
        self.flush_timers();
    }

    /// The transfer's DNS answer or the target's answer did not come in
    /// time.
    pub(super) fn transfer_timeout(&mut self, ctx: &mut Ctx<'_>, call_id: u64) {
        let now = ctx.now;
        let Some(t) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.transfer.as_mut())
        else {
            return;
        };
        if now >= t.deadline {
            tracing::info!(call = call_id, "transfer target did not answer in time");
            // fail_transfer abandons the pending leg (CANCEL) and lookup.
            return self.fail_transfer(ctx, call_id, 408, "Request Timeout");
        }
        t.resolve_deadline = None;
        if let Some(token) = t.resolving.take() {
            self.lookups.remove(&token);
        }
        self.try_transfer(ctx, call_id);
    }

    /// A pending INVITE leg nobody wants any more: CANCELled (at once, or
    /// on its first provisional), its final answer ACKed and a 2xx ended
    /// with BYE (see `orphans`).
    fn orphan_leg(&mut self, ctx: &mut Ctx<'_>, mut leg: LegB) {
        let Some(tx) = leg.tx else { return };
        if !leg.confirmed {
            Self::send_cancel(ctx, &mut leg, &mut self.by_tx);
        }
        self.orphans.insert(tx, leg);
    }

    /// A call ends with its transfer pending: the target's INVITE is
    /// abandoned (the transferor's dialog, and with it the implicit
    /// subscription, ends with the call).
    pub(super) fn abandon_transfer(&mut self, ctx: &mut Ctx<'_>, t: Transfer) {
        if let Some(token) = t.resolving {
            self.lookups.remove(&token);
        }
        if let Some(leg) = t.leg {
            self.orphan_leg(ctx, leg);
        }
    }

    /// The transfer failed: the final NOTIFY says how; the call stays as
    /// it was.
    fn fail_transfer(&mut self, ctx: &mut Ctx<'_>, call_id: u64, status: u16, reason: &str) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(t) = call.transfer.take() else {
            return;
        };
        if t.transferor_gone {
            // Nobody is left to talk to the transferee.
            tracing::info!(
                call = call_id,
                status,
                reason,
                "transfer failed, transferor gone: BYE to the transferee"
            );
            match t.side {
                Side::A => {
                    if let Some(b) = call.b.as_mut().filter(|b| b.confirmed) {
                        Self::send_in_dialog(ctx, b, Method::Bye, &mut self.by_tx);
                    }
                }
                Side::B => Self::bye_a(ctx, call, &mut self.by_tx),
            }
            self.abandon_transfer(ctx, *t);
            return self.end(ctx, call_id);
        }
        tracing::info!(
            call = call_id,
            status,
            reason,
            "transfer failed: the call stays up"
        );
        if let Some((dialog, local, flow, compact)) = side_parts(call, t.side) {
            if let Some(n) = notify(
                ctx, dialog, &local, &flow, compact, t.id, status, reason, None,
            ) {
                self.by_tx.insert(n, TxRole::Own);
            }
        }
        self.dirty.push(call_id);
        self.abandon_transfer(ctx, *t);
    }

    /// A response to the target's INVITE.
    pub(super) fn on_transfer_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        id: TransactionId,
        status: u16,
        message: &Bytes,
    ) {
        let Some(resp) = parse_response(message.clone()) else {
            return;
        };
        if self.orphans.contains_key(&id) {
            return self.on_orphan_response(ctx, id, status, &resp);
        }
        if let Some(ack) = self.accepted.get(&id) {
            if (200..300).contains(&status) {
                // A retransmitted 2xx: our ACK was lost.
                ctx.out.push_back((None, ack.clone()));
            }
            return;
        }
        let Some(t) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.transfer.as_mut())
        else {
            return;
        };
        let Some(leg) = t.leg.as_mut().filter(|l| l.tx == Some(id)) else {
            return;
        };
        match status {
            100 => {}
            101..=199 => {
                // The target's early media stays out: the relay is
                // re-pointed only once the target answers.
                leg.provisional = true;
                if resp.to_tag().is_some() {
                    leg.dialog.update_from_response(&resp);
                }
                if leg.cancel_pending && !leg.cancel_sent {
                    Self::send_cancel(ctx, leg, &mut self.by_tx);
                }
            }
            200..=299 => self.complete_transfer(ctx, call_id, &resp),
            _ => {
                if let Some(ack) = leg.invite.get().and_then(|i| ack_for_failure(i, &resp)) {
                    let bytes = ack.form(form_of(leg.compact)).to_bytes();
                    if let Err(e) = ctx.tx.set_ack(ctx.now, id, bytes) {
                        tracing::debug!(error = %e, "ACK not taken by the transaction");
                    }
                }
                let reason = resp.reason().into_owned();
                match status {
                    // C18: a challenge is answered once with the trunk's
                    // credentials, as for any call.
                    401 | 407 => match Self::challenge_answer(leg, &resp, status) {
                        ChallengeOutcome::Answer(retry) => {
                            let at = leg.at.clone();
                            t.leg = None;
                            let Some(call) = self.calls.get_mut(&call_id) else {
                                return;
                            };
                            let Call {
                                a_invite,
                                a_local,
                                transfer,
                                session,
                                ..
                            } = call;
                            let Some(t) = transfer.as_mut() else { return };
                            let leg = Self::invite_leg(
                                ctx,
                                a_invite,
                                a_local.addr.ip(),
                                Some(&t.offer),
                                at,
                                Some(retry),
                                Self::b_timer_offer(session),
                            );
                            match leg {
                                Some(leg) => {
                                    if let Some(tx) = leg.tx {
                                        self.by_tx.insert(tx, TxRole::Transfer(call_id));
                                    }
                                    t.leg = Some(leg);
                                }
                                None => self.try_transfer(ctx, call_id),
                            }
                        }
                        ChallengeOutcome::GiveUp => {
                            t.leg = None;
                            t.last = (503, "Service Unavailable".to_owned());
                            self.try_transfer(ctx, call_id);
                        }
                        ChallengeOutcome::Unanswerable => {
                            t.leg = None;
                            self.fail_transfer(ctx, call_id, 503, "Service Unavailable");
                        }
                    },
                    // C13: a server failure or 408 fails over.
                    408 | 500..=599 => {
                        t.leg = None;
                        t.last = (status, reason);
                        self.try_transfer(ctx, call_id);
                    }
                    // The target's disposition (busy, declined...).
                    _ => {
                        t.leg = None;
                        self.fail_transfer(ctx, call_id, status, &reason);
                    }
                }
            }
        }
        self.flush_timers();
    }

    /// The target's INVITE timed out or could not be sent: fail over.
    pub(super) fn on_transfer_failure(
        &mut self,
        ctx: &mut Ctx<'_>,
        call_id: u64,
        id: TransactionId,
    ) {
        if self.orphans.remove(&id).is_some() {
            return;
        }
        let Some(t) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.transfer.as_mut())
        else {
            return;
        };
        if t.leg.as_ref().and_then(|l| l.tx) != Some(id) {
            return;
        }
        t.leg = None;
        t.last = (408, "Request Timeout".to_owned());
        self.try_transfer(ctx, call_id);
        self.flush_timers();
    }

    /// The target answered: it takes the transferor's place (the relay's
    /// transferor-side peer becomes the target), the transferor gets the
    /// final NOTIFY and then BYE.
    fn complete_transfer(&mut self, ctx: &mut Ctx<'_>, call_id: u64, resp: &Response) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(mut t) = call.transfer.take() else {
            return;
        };
        let Some(mut leg) = t.leg.take() else {
            return;
        };
        leg.dialog.update_from_response(resp);
        leg.confirmed = true;
        Self::ack_b(ctx, &mut leg, None);
        // The target's answer: what the relay sends to, on the
        // transferor's side. What it says toward the transferee is not
        // sent: the transferee's description does not change.
        let answered = Self::cross_body(
            &mut self.media,
            call,
            call_id,
            t.side,
            body_of(resp.headers()),
            false,
        );
        let Ok(Some(toward_transferee)) = answered else {
            tracing::info!(
                call = call_id,
                "transfer target's answer refused: BYE to it"
            );
            Self::send_in_dialog(ctx, &mut leg, Method::Bye, &mut self.by_tx);
            call.transfer = Some(t);
            return self.fail_transfer(ctx, call_id, 488, "Not Acceptable Here");
        };
        // RFC 4028: the target's leg gets its own session timer, as its
        // 2xx says ([`session_timer`]).
        session_timer::transferred(call, t.side, &leg, resp, ctx.now);
        let tx = leg.tx;
        let new_key = (
            leg.dialog.call_id().to_owned(),
            leg.dialog.local_tag().to_owned(),
        );
        let old = match t.side {
            Side::B => {
                if let Some(tx) = tx {
                    // B's 2xx retransmissions are ACKed as any B leg's.
                    self.by_tx.insert(tx, TxRole::BInvite(call_id));
                }
                let Some(old) = call.b.replace(leg) else {
                    return;
                };
                Retired {
                    dialog: old.dialog,
                    local: old.local,
                    flow: old.flow,
                    compact: old.compact,
                }
            }
            Side::A => {
                if let (Some(tx), Some(ack)) = (tx, leg.ack.clone()) {
                    self.accepted.insert(tx, ack);
                }
                let retired = Retired {
                    dialog: std::mem::replace(&mut call.a, leg.dialog),
                    local: call.a_local,
                    flow: std::mem::replace(&mut call.a_flow, leg.flow),
                    compact: call.a_compact,
                };
                call.a_local = leg.local;
                call.a_compact = leg.compact;
                call.a_source = call.a_flow.dest;
                call.a_confirmed = true;
                call.retx = None;
                retired
            }
        };
        let old_key = (
            old.dialog.call_id().to_owned(),
            old.dialog.local_tag().to_owned(),
        );
        self.by_dialog.remove(&old_key);
        self.by_dialog.insert(new_key, (call_id, t.side));
        self.dirty.push(call_id);
        // A transferee on hold (the transferor held it before REFER, as
        // phones do) gets a re-INVITE offering the target's media both
        // ways; otherwise its description stays as it is.
        let transferee = match t.side {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let held = call
            .media
            .as_ref()
            .is_some_and(|m| m.direction(leg_of(transferee)) != crate::anchor::Direction::SendRecv);
        if held {
            Self::unhold(
                ctx,
                call,
                call_id,
                transferee,
                toward_transferee,
                &mut self.by_tx,
            );
        }
        if t.transferor_gone {
            tracing::info!(call = call_id, side = ?t.side, "call transferred (the transferor had hung up)");
            return;
        }
        tracing::info!(call = call_id, side = ?t.side, "call transferred: BYE to the transferor");
        let mut old = old;
        let sent = notify(
            ctx,
            &mut old.dialog,
            &old.local,
            &old.flow,
            old.compact,
            t.id,
            200,
            "OK",
            None,
        );
        self.retired.insert(old_key.clone(), old);
        match sent {
            Some(n) => {
                self.by_tx.insert(n, TxRole::ReferNotify(old_key));
            }
            None => self.after_refer_notify(ctx, &old_key),
        }
    }

    /// Sends the transferee (side `side`) a re-INVITE offering `offer`:
    /// the target's answer as the relay presents it to the transferee.
    fn unhold(
        ctx: &mut Ctx<'_>,
        call: &mut Call,
        call_id: u64,
        side: Side,
        offer: (String, Bytes),
        by_tx: &mut super::Map<TransactionId, TxRole>,
    ) {
        let Some((dialog, local, flow, compact)) = side_parts(call, side) else {
            return;
        };
        let dr = dialog.request(Method::Invite, &local);
        let bytes = dr
            .builder
            .raw_header("User-Agent", ctx.user_agent)
            .header(HeaderName::Allow, TRUNK_ALLOW)
            .body(&offer.0, offer.1)
            .form(form_of(compact))
            .to_bytes();
        if let Some((id, sent)) =
            Self::start_own_reinvite(ctx, &dr.next_hop, &dr.branch, &flow, bytes)
        {
            tracing::info!(call = call_id, "re-INVITE: the transferee off hold");
            by_tx.insert(id, TxRole::Unhold(call_id, side, sent));
        }
    }

    /// The transferee's answer to the re-INVITE that took it off hold: ACK
    /// (a 2xx end to end, again for each retransmission), and its
    /// description set in the relay.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_unhold_response(
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
            tracing::info!(
                call = call_id,
                status,
                "the transferee refused to come off hold"
            );
            return;
        }
        if let Some(ack) = self.accepted.get(&id) {
            // A retransmitted 2xx: our ACK was lost.
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
        // Its answer sets its peer and direction in the relay; the target
        // already has what it needs (the offer came from its answer).
        if Self::cross_body(
            &mut self.media,
            call,
            call_id,
            side,
            body_of(resp.headers()),
            false,
        )
        .is_err()
        {
            tracing::info!(
                call = call_id,
                "the transferee's answer refused: BYE both ways"
            );
            self.hang_up(ctx, call_id);
        }
    }

    /// The final NOTIFY of a completed transfer was answered (or timed
    /// out): BYE to the transferor, unless it already hung up.
    pub(super) fn after_refer_notify(&mut self, ctx: &mut Ctx<'_>, key: &(String, String)) {
        let Some(r) = self.retired.get_mut(key) else {
            return;
        };
        match send_on(
            ctx,
            &mut r.dialog,
            &r.local,
            &r.flow,
            r.compact,
            Method::Bye,
            &[],
            None,
        ) {
            Some(id) => {
                self.by_tx.insert(id, TxRole::ReferBye(key.clone()));
            }
            None => {
                self.retired.remove(key);
            }
        }
    }

    /// A request on a transferor's retired dialog: BYE gets 200 (it hung
    /// up itself, as RFC 5589 transferors do after the final NOTIFY),
    /// anything else 481. `false` when the dialog is not a retired one.
    pub(super) fn on_retired(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: TransactionId,
        req: &Request,
        source: SocketAddr,
    ) -> bool {
        let (Some(call_id), Some(tag)) = (req.call_id(), req.to_tag()) else {
            return false;
        };
        let key = (call_id.to_owned(), tag.to_owned());
        let Some(r) = self.retired.get(&key) else {
            return false;
        };
        if r.dialog.remote_tag() != req.from_tag().unwrap_or("") {
            return false;
        }
        let (status, compact) = (
            if *req.method() == Method::Bye {
                200
            } else {
                481
            },
            r.compact,
        );
        if status == 200 {
            self.retired.remove(&key);
        }
        let bytes = reply(req, source, status, None, "", ctx.user_agent)
            .form(form_of(compact))
            .to_bytes();
        ctx.respond(id, status, bytes);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use sip_transport::Inbound;

    use super::*;
    use crate::anchor::tests::FakePort;
    use crate::anchor::{MediaError, MediaLegs, MediaPort};
    use crate::config::SipConfig;
    use crate::SipCore;

    const LOCUS: &str = "127.0.0.1:5060";
    const CARRIER: &str = "127.0.0.2:5060";
    const FAR: &str = "127.0.0.6:5090";
    const TARGET: &str = "127.0.0.7:5090";

    /// A [`FakePort`] the test can still read once the core owns it.
    #[derive(Debug, Clone, Default)]
    struct Shared(Arc<Mutex<FakePort>>);

    impl MediaPort for Shared {
        fn allocate(&mut self, call: u64) -> Result<MediaLegs, MediaError> {
            self.0.lock().unwrap().allocate(call)
        }
        fn set_peer(
            &mut self,
            call: u64,
            leg: Leg,
            rtp: SocketAddr,
            rtcp: Option<SocketAddr>,
        ) -> Result<(), MediaError> {
            self.0.lock().unwrap().set_peer(call, leg, rtp, rtcp)
        }
        fn clear_peer(&mut self, call: u64, leg: Leg) {
            self.0.lock().unwrap().clear_peer(call, leg);
        }
        fn set_telephone_event(&mut self, call: u64, leg: Leg, pt: Option<u8>) {
            self.0.lock().unwrap().set_telephone_event(call, leg, pt);
        }
        fn set_direction(&mut self, call: u64, leg: Leg, d: crate::anchor::Direction) {
            self.0.lock().unwrap().set_direction(call, leg, d);
        }
        fn idle_for(&self, call: u64, now: Instant) -> Option<Duration> {
            self.0.lock().unwrap().idle_for(call, now)
        }
        fn release(&mut self, call: u64) {
            self.0.lock().unwrap().release(call);
        }
        fn sessions(&self) -> usize {
            self.0.lock().unwrap().sessions()
        }
    }

    /// The core with a voice carrier on 127.0.0.2 and two DIDs: the far
    /// end (the call) and the transfer target.
    fn core(relay: Option<&Shared>) -> SipCore {
        let config: SipConfig = toml::from_str(&format!(
            r#"
listen = ["udp:{LOCUS}"]
[[trunks]]
name = "carrier"
profile = "voice"
carrier_addresses = ["127.0.0.2"]
[[routes.inbound]]
did = "+15551230000"
uri = "sip:far@{FAR}"
[[routes.inbound]]
did = "+15551230001"
uri = "sip:target@{TARGET}"
"#
        ))
        .unwrap();
        let mut core = SipCore::new(&config);
        core.set_local_addrs(&[ListenAddr {
            transport: Transport::Udp,
            addr: LOCUS.parse().unwrap(),
        }]);
        if let Some(port) = relay {
            core.set_media_port(Box::new(port.clone()));
        }
        core
    }

    fn feed(core: &mut SipCore, now: Instant, from: &str, text: &str) {
        let raw = text.replace("\r\n", "\n").replace('\n', "\r\n");
        core.handle_inbound(
            now,
            Inbound {
                bytes: Bytes::from(raw),
                source: from.parse().unwrap(),
                local: LOCUS.parse().unwrap(),
                transport: Transport::Udp,
                conn: None,
            },
        );
    }

    /// Everything the core sends now: (destination, message).
    fn drain(core: &mut SipCore) -> Vec<(SocketAddr, Message)> {
        std::iter::from_fn(|| core.poll_transmit())
            .map(|o| (o.dest, Message::parse(o.bytes).unwrap()))
            .collect()
    }

    fn requests(out: &[(SocketAddr, Message)], to: &str, method: Method) -> Vec<Request> {
        out.iter()
            .filter(|(d, _)| *d == to.parse::<SocketAddr>().unwrap())
            .filter_map(|(_, m)| match m {
                Message::Request(r) if *r.method() == method => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn responses(out: &[(SocketAddr, Message)], to: &str) -> Vec<Response> {
        out.iter()
            .filter(|(d, _)| *d == to.parse::<SocketAddr>().unwrap())
            .filter_map(|(_, m)| match m {
                Message::Response(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn text(h: &sip_core::Headers, name: HeaderName) -> String {
        String::from_utf8_lossy(h.first(name).unwrap_or_default()).into_owned()
    }

    fn body(h: &sip_core::Headers) -> String {
        String::from_utf8_lossy(&h.body_bytes()).into_owned()
    }

    fn sdp(port: u16, ip: &str, formats: &str) -> String {
        let mut s = format!(
            "v=0\no=x 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio {port} RTP/AVP {formats}\n"
        );
        for f in formats.split(' ') {
            s.push_str(match f {
                "0" => "a=rtpmap:0 PCMU/8000\n",
                "8" => "a=rtpmap:8 PCMA/8000\n",
                _ => "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n",
            });
        }
        s
    }

    /// The response of `status` to `req`, from a UAS with tag `tag` and
    /// Contact `contact`, with an SDP body when given.
    fn answer(req: &Request, status: &str, tag: &str, contact: &str, sdp: Option<&str>) -> String {
        let h = req.headers();
        let vias: String = req
            .header_values(HeaderName::Via)
            .map(|v| format!("Via: {}\n", String::from_utf8_lossy(v)))
            .collect();
        let to = text(h, HeaderName::To);
        let to = if to.contains("tag=") {
            to
        } else {
            format!("{to};tag={tag}")
        };
        let body = sdp.unwrap_or("");
        let ct = if sdp.is_some() {
            "Content-Type: application/sdp\n"
        } else {
            ""
        };
        format!(
            "SIP/2.0 {status}\n{vias}From: {}\nTo: {to}\nCall-ID: {}\nCSeq: {}\nContact: <{contact}>\n{ct}Content-Length: {}\n\n{body}",
            text(h, HeaderName::From),
            text(h, HeaderName::CallId),
            text(h, HeaderName::CSeq),
            body.replace('\n', "\r\n").len()
        )
    }

    /// An answered call: carrier to far end through the relay; returns
    /// the carrier's To (with Locus's tag) and the far end's INVITE.
    fn answered_call(core: &mut SipCore, now: Instant) -> (String, Request) {
        let offer = sdp(40000, "127.0.0.2", "0 8 101");
        feed(
            core,
            now,
            CARRIER,
            &format!(
                "INVITE sip:+15551230000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKinv1\nMax-Forwards: 70\nFrom: <sip:+15550001000@127.0.0.2>;tag=c1\nTo: <sip:+15551230000@127.0.0.1>\nCall-ID: call-1\nCSeq: 1 INVITE\nContact: <sip:+15550001000@{CARRIER}>\nContent-Type: application/sdp\nContent-Length: {}\n\n{offer}",
                offer.replace('\n', "\r\n").len()
            ),
        );
        let out = drain(core);
        let invite = requests(&out, FAR, Method::Invite).remove(0);
        // The far end takes PCMU and events only.
        let far_sdp = sdp(42000, "127.0.0.6", "0 101");
        feed(
            core,
            now,
            FAR,
            &answer(
                &invite,
                "200 OK",
                "f1",
                &format!("sip:far@{FAR}"),
                Some(&far_sdp),
            ),
        );
        let out = drain(core);
        let ok = responses(&out, CARRIER)
            .into_iter()
            .find(|r| r.status().as_u16() == 200)
            .expect("200 to the carrier");
        let to = text(ok.headers(), HeaderName::To);
        feed(
            core,
            now,
            CARRIER,
            &format!("ACK sip:127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKack1\nMax-Forwards: 70\nFrom: <sip:+15550001000@127.0.0.2>;tag=c1\nTo: {to}\nCall-ID: call-1\nCSeq: 1 ACK\nContent-Length: 0\n\n"),
        );
        assert_eq!(requests(&drain(core), FAR, Method::Ack).len(), 1);
        (to, invite)
    }

    fn carrier_request(method: &str, to: &str, seq: u32, extra: &str) -> String {
        format!(
            "{method} sip:127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bK{method}{seq}\nMax-Forwards: 70\nFrom: <sip:+15550001000@127.0.0.2>;tag=c1\nTo: {to}\nCall-ID: call-1\nCSeq: {seq} {method}\n{extra}Content-Length: 0\n\n"
        )
    }

    fn refer(to: &str, target: &str) -> String {
        carrier_request("REFER", to, 2, &format!("Refer-To: <{target}>\n"))
    }

    #[test]
    fn blind_transfer_by_the_carrier_moves_the_far_end_to_the_target() {
        let port = Shared::default();
        let mut core = core(Some(&port));
        let now = Instant::now();
        let (to, far_invite) = answered_call(&mut core, now);
        feed(
            &mut core,
            now,
            CARRIER,
            &refer(&to, "sip:+15551230001@127.0.0.1"),
        );
        let out = drain(&mut core);
        let statuses: Vec<u16> = responses(&out, CARRIER)
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        assert_eq!(statuses, [202], "202 Accepted to the REFER");
        let notify = requests(&out, CARRIER, Method::Notify).remove(0);
        assert_eq!(text(notify.headers(), HeaderName::Event), "refer;id=2");
        assert!(text(notify.headers(), HeaderName::SubscriptionState).starts_with("active"));
        assert_eq!(
            text(notify.headers(), HeaderName::ContentType),
            "message/sipfrag;version=2.0"
        );
        assert_eq!(body(notify.headers()), "SIP/2.0 100 Trying\r\n");
        // The target's INVITE: a new dialog, offered the relay's port on
        // the carrier's side, only the codecs the far end uses now.
        let target_invite = requests(&out, TARGET, Method::Invite).remove(0);
        assert_eq!(target_invite.uri_str(), format!("sip:target@{TARGET}"));
        assert_ne!(target_invite.call_id(), Some("call-1"));
        assert_ne!(target_invite.call_id(), far_invite.call_id());
        let offer = body(target_invite.headers());
        assert!(offer.contains("m=audio 30000 RTP/AVP 0 101\r\n"), "{offer}");
        assert!(!offer.contains("PCMA"), "{offer}");
        assert!(requests(&out, FAR, Method::Invite).is_empty());

        let target_sdp = sdp(44000, "127.0.0.7", "0 101");
        feed(
            &mut core,
            now,
            TARGET,
            &answer(
                &target_invite,
                "200 OK",
                "t1",
                &format!("sip:target@{TARGET}"),
                Some(&target_sdp),
            ),
        );
        let out = drain(&mut core);
        assert_eq!(requests(&out, TARGET, Method::Ack).len(), 1);
        // The far end (transferee) gets nothing: its description stays.
        assert!(
            out.iter().all(|(d, _)| *d != FAR.parse().unwrap()),
            "{out:?}"
        );
        let last = requests(&out, CARRIER, Method::Notify).remove(0);
        assert_eq!(body(last.headers()), "SIP/2.0 200 OK\r\n");
        assert!(text(last.headers(), HeaderName::SubscriptionState).starts_with("terminated"));
        // The relay's carrier-side peer is now the target.
        let peers = port.0.lock().unwrap().peers.clone();
        assert_eq!(peers[&(1, 0)].0, "127.0.0.7:44000".parse().unwrap());
        assert_eq!(peers[&(1, 1)].0, "127.0.0.6:42000".parse().unwrap());

        // The carrier answers the NOTIFY: BYE follows.
        feed(
            &mut core,
            now,
            CARRIER,
            &answer(&last, "200 OK", "", "sip:x@127.0.0.2", None),
        );
        let out = drain(&mut core);
        let bye = requests(&out, CARRIER, Method::Bye).remove(0);
        assert_eq!(bye.call_id(), Some("call-1"));
        feed(
            &mut core,
            now,
            CARRIER,
            &answer(&bye, "200 OK", "", "sip:x@127.0.0.2", None),
        );
        drain(&mut core);
        assert_eq!(core.calls(), 1, "far end and target still talk");

        // The far end hangs up: the BYE reaches the target.
        let far_to = format!(
            "<sip:+15550001000@127.0.0.6>;tag={}",
            far_invite.from_tag().unwrap()
        );
        feed(
            &mut core,
            now,
            FAR,
            &format!("BYE sip:127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {FAR};branch=z9hG4bKfb1\nMax-Forwards: 70\nFrom: <sip:far@{FAR}>;tag=f1\nTo: {far_to}\nCall-ID: {}\nCSeq: 1 BYE\nContent-Length: 0\n\n", far_invite.call_id().unwrap()),
        );
        let out = drain(&mut core);
        assert_eq!(responses(&out, FAR)[0].status().as_u16(), 200);
        let bye = requests(&out, TARGET, Method::Bye).remove(0);
        assert_eq!(bye.call_id(), target_invite.call_id());
        assert_eq!(core.calls(), 0);
        assert_eq!(core.media_sessions(), 0);
    }

    #[test]
    fn failed_transfer_is_reported_and_the_call_stays_up() {
        let port = Shared::default();
        let mut core = core(Some(&port));
        let now = Instant::now();
        let (to, far_invite) = answered_call(&mut core, now);
        feed(&mut core, now, CARRIER, &refer(&to, "tel:+15551230001"));
        let out = drain(&mut core);
        assert_eq!(responses(&out, CARRIER)[0].status().as_u16(), 202);
        let target_invite = requests(&out, TARGET, Method::Invite).remove(0);
        feed(
            &mut core,
            now,
            TARGET,
            &answer(
                &target_invite,
                "486 Busy Here",
                "t1",
                "sip:t@127.0.0.7",
                None,
            ),
        );
        let out = drain(&mut core);
        assert_eq!(requests(&out, TARGET, Method::Ack).len(), 1);
        let notify = requests(&out, CARRIER, Method::Notify).remove(0);
        assert_eq!(body(notify.headers()), "SIP/2.0 486 Busy Here\r\n");
        assert!(text(notify.headers(), HeaderName::SubscriptionState).starts_with("terminated"));
        assert!(requests(&out, CARRIER, Method::Bye).is_empty());
        assert_eq!(
            port.0.lock().unwrap().peers[&(1, 0)].0,
            "127.0.0.2:40000".parse().unwrap()
        );
        // The original call is intact: the carrier's BYE reaches the far end.
        feed(&mut core, now, CARRIER, &carrier_request("BYE", &to, 3, ""));
        let out = drain(&mut core);
        let bye = requests(&out, FAR, Method::Bye).remove(0);
        assert_eq!(bye.call_id(), far_invite.call_id());
        assert_eq!(core.calls(), 0);
    }

    #[test]
    fn target_that_never_answers_is_cancelled_and_reported() {
        let port = Shared::default();
        let mut core = core(Some(&port));
        let now = Instant::now();
        let (to, _) = answered_call(&mut core, now);
        feed(
            &mut core,
            now,
            CARRIER,
            &refer(&to, "sip:+15551230001@127.0.0.1"),
        );
        let out = drain(&mut core);
        let target_invite = requests(&out, TARGET, Method::Invite).remove(0);
        feed(
            &mut core,
            now,
            TARGET,
            &answer(&target_invite, "180 Ringing", "t1", "sip:t@127.0.0.7", None),
        );
        drain(&mut core);
        // The ring timeout passes (virtual time).
        let mut t = now;
        let mut cancelled = false;
        let mut report = None;
        for _ in 0..200 {
            let Some(next) = core.poll_timeout() else {
                break;
            };
            t = next.max(t);
            core.handle_timeout(t);
            let out = drain(&mut core);
            cancelled |= !requests(&out, TARGET, Method::Cancel).is_empty();
            // (The first NOTIFY, unanswered here, is retransmitted.)
            if let Some(n) = requests(&out, CARRIER, Method::Notify)
                .into_iter()
                .find(|n| !body(n.headers()).contains("100 Trying"))
            {
                report = Some(n);
                break;
            }
        }
        let n = report.expect("a final NOTIFY");
        assert_eq!(body(n.headers()), "SIP/2.0 408 Request Timeout\r\n");
        assert!(cancelled, "the target's INVITE is cancelled");
        assert!(t >= now + Duration::from_secs(30));
        assert_eq!(core.calls(), 1);
    }

    #[test]
    fn transferor_hanging_up_after_202_leaves_the_transferee_waiting_for_the_target() {
        for target_answers in [true, false] {
            let port = Shared::default();
            let mut core = core(Some(&port));
            let now = Instant::now();
            let (to, far_invite) = answered_call(&mut core, now);
            feed(
                &mut core,
                now,
                CARRIER,
                &refer(&to, "sip:+15551230001@127.0.0.1"),
            );
            let out = drain(&mut core);
            let target_invite = requests(&out, TARGET, Method::Invite).remove(0);
            // RFC 5589: the transferor may hang up at once.
            feed(&mut core, now, CARRIER, &carrier_request("BYE", &to, 3, ""));
            let out = drain(&mut core);
            assert_eq!(responses(&out, CARRIER)[0].status().as_u16(), 200);
            assert!(
                out.iter().all(|(d, _)| *d != FAR.parse().unwrap()),
                "the transferee stays: {out:?}"
            );
            assert_eq!(core.calls(), 1);
            let reply = if target_answers {
                answer(
                    &target_invite,
                    "200 OK",
                    "t1",
                    &format!("sip:target@{TARGET}"),
                    Some(&sdp(44000, "127.0.0.7", "0 101")),
                )
            } else {
                answer(
                    &target_invite,
                    "486 Busy Here",
                    "t1",
                    "sip:t@127.0.0.7",
                    None,
                )
            };
            feed(&mut core, now, TARGET, &reply);
            let out = drain(&mut core);
            // The transferor's dialog is over: no NOTIFY, no BYE.
            assert!(requests(&out, CARRIER, Method::Notify).is_empty());
            assert!(requests(&out, CARRIER, Method::Bye).is_empty());
            let far_bye = requests(&out, FAR, Method::Bye);
            if target_answers {
                assert!(far_bye.is_empty());
                assert_eq!(core.calls(), 1, "far end and target talk");
                assert_eq!(
                    port.0.lock().unwrap().peers[&(1, 0)].0,
                    "127.0.0.7:44000".parse().unwrap()
                );
            } else {
                // Nobody is left for the transferee: it is hung up.
                assert_eq!(far_bye.len(), 1, "{out:?}");
                assert_eq!(far_bye[0].call_id(), far_invite.call_id());
                assert_eq!(core.calls(), 0);
            }
        }
    }

    #[test]
    fn transferee_held_before_the_refer_is_taken_off_hold() {
        let port = Shared::default();
        let mut core = core(Some(&port));
        let now = Instant::now();
        let (to, far_invite) = answered_call(&mut core, now);
        // The carrier (transferor) puts the far end on hold first.
        let held = format!("{}a=sendonly\n", sdp(40000, "127.0.0.2", "0 101"));
        let reinvite = carrier_request(
            "INVITE",
            &to,
            2,
            &format!("Contact: <sip:+15550001000@{CARRIER}>\nContent-Type: application/sdp\n"),
        )
        .replace(
            "Content-Length: 0\n\n",
            &format!(
                "Content-Length: {}\n\n{held}",
                held.replace('\n', "\r\n").len()
            ),
        );
        feed(&mut core, now, CARRIER, &reinvite);
        let out = drain(&mut core);
        let far_reinvite = requests(&out, FAR, Method::Invite).remove(0);
        assert!(body(far_reinvite.headers()).contains("a=sendonly"));
        let answer_held = format!("{}a=recvonly\n", sdp(42000, "127.0.0.6", "0 101"));
        feed(
            &mut core,
            now,
            FAR,
            &answer(
                &far_reinvite,
                "200 OK",
                "f1",
                &format!("sip:far@{FAR}"),
                Some(&answer_held),
            ),
        );
        let out = drain(&mut core);
        assert_eq!(requests(&out, FAR, Method::Ack).len(), 1);
        assert_eq!(responses(&out, CARRIER)[0].status().as_u16(), 200);
        feed(&mut core, now, CARRIER, &carrier_request("ACK", &to, 2, ""));
        drain(&mut core);

        let refer = carrier_request("REFER", &to, 3, "Refer-To: <sip:+15551230001@127.0.0.1>\n");
        feed(&mut core, now, CARRIER, &refer);
        let out = drain(&mut core);
        let target_invite = requests(&out, TARGET, Method::Invite).remove(0);
        let offer = body(target_invite.headers());
        assert!(offer.contains("a=sendrecv"), "{offer}");
        assert!(!offer.contains("a=recvonly"), "{offer}");
        feed(
            &mut core,
            now,
            TARGET,
            &answer(
                &target_invite,
                "200 OK",
                "t1",
                &format!("sip:target@{TARGET}"),
                Some(&sdp(44000, "127.0.0.7", "0 101")),
            ),
        );
        let out = drain(&mut core);
        // The far end gets a re-INVITE: the target's media, both ways.
        let unhold = requests(&out, FAR, Method::Invite).remove(0);
        assert_eq!(unhold.call_id(), far_invite.call_id());
        let offer = body(unhold.headers());
        assert!(offer.contains("m=audio 30002 RTP/AVP 0 101"), "{offer}");
        assert!(
            !offer.contains("sendonly") && !offer.contains("inactive"),
            "{offer}"
        );
        feed(
            &mut core,
            now,
            FAR,
            &answer(
                &unhold,
                "200 OK",
                "f1",
                &format!("sip:far@{FAR}"),
                Some(&sdp(42000, "127.0.0.6", "0 101")),
            ),
        );
        let out = drain(&mut core);
        let ack = requests(&out, FAR, Method::Ack).remove(0);
        assert_eq!(ack.cseq().unwrap().seq, unhold.cseq().unwrap().seq);
        assert_eq!(
            port.0.lock().unwrap().directions[&(1, 1)],
            crate::anchor::Direction::SendRecv
        );
        assert_eq!(core.calls(), 1);
    }

    #[test]
    fn refer_refusals() {
        let port = Shared::default();
        let mut core = core(Some(&port));
        let now = Instant::now();
        let (to, _) = answered_call(&mut core, now);
        let cases = [
            ("sip:+15559999999@127.0.0.1", 404),
            ("sip:127.0.0.1", 400),
            ("sip:12345@127.0.0.1", 484),
            ("sip:911@127.0.0.1", 403),
            (
                "sip:+15551230001@127.0.0.1?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2",
                501,
            ),
        ];
        for (seq, (target, status)) in (2..).zip(cases) {
            let req = carrier_request("REFER", &to, seq, &format!("Refer-To: <{target}>\n"));
            feed(&mut core, now, CARRIER, &req);
            let out = drain(&mut core);
            assert_eq!(
                responses(&out, CARRIER)[0].status().as_u16(),
                status,
                "{target}"
            );
            assert!(requests(&out, TARGET, Method::Invite).is_empty());
        }
        // Without the relay: 501.
        let mut bare = super::tests::core(None);
        let (to, _) = answered_call(&mut bare, now);
        feed(
            &mut bare,
            now,
            CARRIER,
            &refer(&to, "sip:+15551230001@127.0.0.1"),
        );
        let out = drain(&mut bare);
        assert_eq!(responses(&out, CARRIER)[0].status().as_u16(), 501);
    }

    #[test]
    fn rfc4028_transfer_target_gets_its_own_session_timer() {
        // The target's INVITE offers Locus's interval like any INVITE it
        // sends; the target's 2xx makes it the refresher of a 90 s
        // session. It never refreshes: at 90 - 30 = 60 s after its answer,
        // BYE to the target and the far end (issue 3 item 2).
        let port = Shared::default();
        let mut core = core(Some(&port));
        let now = Instant::now();
        let (to, _) = answered_call(&mut core, now);
        feed(
            &mut core,
            now,
            CARRIER,
            &refer(&to, "sip:+15551230001@127.0.0.1"),
        );
        let out = drain(&mut core);
        let target_invite = requests(&out, TARGET, Method::Invite).remove(0);
        assert_eq!(
            text(target_invite.headers(), HeaderName::SessionExpires),
            "1800"
        );
        let ok = answer(
            &target_invite,
            "200 OK",
            "t1",
            &format!("sip:target@{TARGET}"),
            Some(&sdp(44000, "127.0.0.7", "0 101")),
        )
        .replacen("Contact:", "Session-Expires: 90;refresher=uas\nContact:", 1);
        feed(&mut core, now, TARGET, &ok);
        drain(&mut core);
        let run = |core: &mut SipCore, from: Instant, to: Instant| {
            let mut out = Vec::new();
            let mut at = from;
            while let Some(t) = core.poll_timeout().filter(|t| *t <= to) {
                at = t.max(at);
                core.handle_timeout(at);
                out.extend(drain(core));
            }
            out
        };
        let t59 = now + Duration::from_secs(59);
        let out = run(&mut core, now, t59);
        assert!(requests(&out, TARGET, Method::Bye).is_empty(), "{out:?}");
        assert!(requests(&out, FAR, Method::Bye).is_empty(), "{out:?}");
        let out = run(&mut core, t59, now + Duration::from_secs(60));
        assert_eq!(requests(&out, TARGET, Method::Bye).len(), 1, "{out:?}");
        assert_eq!(requests(&out, FAR, Method::Bye).len(), 1, "{out:?}");
        assert_eq!(core.calls(), 0);
    }
}
