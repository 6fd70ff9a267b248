//! The reg event notifier (RFC 3680 on RFC 6665; DESIGN.md E1, E2), sans-IO.
//!
//! A SUBSCRIBE with `Event: reg` from a non-trunk source subscribes to one
//! AOR (Request-URI with that user) or to every AOR (Request-URI with no
//! user part: the ICD's single subscription per server). The subscriber is
//! trusted by address (`trusted_subscribers`) or authenticates with digest
//! as a configured user, who may then watch only its own AORs. The 200
//! carries the granted Expires; NOTIFYs follow: the full state first (split
//! by [`reginfo::split_full_state`] at `subscription_max_body_size`: first
//! `full`, then `partial`, consecutive versions), then one partial NOTIFY
//! per registration change, and a final `terminated` one when the
//! subscription ends (unsubscribe, expiry). NOTIFYs go out one at a time per
//! subscription (the next once the previous got its final response), on
//! the subscriber's own connection over TCP; a failure response or a
//! timeout to a NOTIFY ends the subscription.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use sip_core::{new_tag, Method, Request};
use sip_transaction::{Action, Kind, TransactionId, TransactionKey};
use sip_transport::{Inbound, Outbound};

use crate::b2bua::Ctx;
use crate::config::Invalid;
use crate::dialog::{Dialog, Local};
use crate::registrar::{short_id, Auth, Change, Registrar, Reply};

/// Shortest subscription granted (shorter gets 423 with Min-Expires).
pub const MIN_EXPIRES: u32 = 60;
/// Longest subscription granted, and the default.
pub const MAX_EXPIRES: u32 = 3600;

/// `[sip.events]`: the reg event package (E1, E2).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// The ICD's `subscription-event-allowed`: `reg` or `*` allow SUBSCRIBE
    /// to the reg event package; anything else answers every SUBSCRIBE 489.
    pub subscription_event_allowed: String,
    /// The ICD's `subscription-max-body-size` (0..=500000, 0 = unlimited):
    /// largest NOTIFY body; a larger full state is split (E2).
    pub subscription_max_body_size: usize,
    /// IPs or CIDRs that may subscribe without authenticating (the E911
    /// manager); others authenticate with digest as a `[[sip.users]]` user.
    pub trusted_subscribers: Vec<String>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            subscription_event_allowed: "reg".into(),
            subscription_max_body_size: reginfo::DEFAULT_MAX_BODY,
            trusted_subscribers: vec!["127.0.0.1".into(), "::1".into()],
        }
    }
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Checks `[sip.events]`.
pub(crate) fn validate(c: &EventsConfig) -> Vec<Invalid> {
    let mut out = Vec::new();
    let e = &c.subscription_event_allowed;
    if e.is_empty()
        || !e
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    {
        out.push(Invalid::new(
            "sip.events.subscription_event_allowed",
            format!("{e:?}"),
            "an event package token: \"reg\" or \"*\" allow reg subscriptions, another token refuses them (489)",
        ));
    }
    if !reginfo::MAX_BODY_RANGE.contains(&c.subscription_max_body_size) {
        out.push(Invalid::new(
            "sip.events.subscription_max_body_size",
            c.subscription_max_body_size,
            "0 to 500000 (0 = unlimited)",
        ));
    }
    for (i, t) in c.trusted_subscribers.iter().enumerate() {
        if parse_net(t).is_none() {
            out.push(Invalid::new(
                &format!("sip.events.trusted_subscribers[{i}]"),
                format!("{t:?}"),
                "an IP address or CIDR such as \"127.0.0.1\" or \"10.0.0.0/8\"",
            ));
        }
    }
    out
}

/// One NOTIFY waiting to be sent.
#[derive(Debug)]
struct Pending {
    state: String,
    body: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Subscription {
    dialog: Dialog,
    /// The AOR watched; `None` for every AOR.
    target: Option<String>,
    /// The Event header's `id`, echoed.
    event_id: Option<String>,
    expires_at: Instant,
    /// The version of the next document.
    version: u32,
    dest: Outbound,
    local: Local,
    in_flight: Option<TransactionId>,
    queue: VecDeque<Pending>,
    /// The final NOTIFY is queued: nothing more is added.
    ended: bool,
}

/// The notifier's subscriptions.
#[derive(Debug)]
pub struct RegEvents {
    cfg: EventsConfig,
    allowed: bool,
    trusted: Vec<ipnet::IpNet>,
    subs: HashMap<u64, Subscription>,
    by_tx: HashMap<TransactionId, u64>,
    next_id: u64,
}

impl RegEvents {
    /// A notifier for `cfg`.
    pub fn new(cfg: &EventsConfig) -> Self {
        let e = cfg.subscription_event_allowed.trim();
        RegEvents {
            allowed: e == "*" || e.eq_ignore_ascii_case("reg"),
            trusted: cfg
                .trusted_subscribers
                .iter()
                .filter_map(|t| parse_net(t))
                .collect(),
            cfg: cfg.clone(),
            subs: HashMap::new(),
            by_tx: HashMap::new(),
            next_id: 1,
        }
    }

    /// Live subscriptions.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Whether there is no subscription.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// When `RegEvents::handle_timeout` must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.subs
            .values()
            .filter(|s| !s.ended)
            .map(|s| s.expires_at)
            .min()
    }

    /// Ends subscriptions whose time ran out: NOTIFY terminated;reason=timeout.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        for s in self.subs.values_mut() {
            if !s.ended && s.expires_at <= ctx.now {
                tracing::debug!(call_id = %s.dialog.call_id(), "subscription expired");
                s.ended = true;
                s.queue.push_back(Pending {
                    state: "terminated;reason=timeout".into(),
                    body: None,
                });
            }
        }
        self.pump(ctx);
    }

    /// The server is stopping: every live subscription ends with NOTIFY
    /// terminated;reason=deactivated (RFC 6665 section 4.2.2: subscribe
    /// again at once), so subscribers come back once it is up again.
    /// Pending partial NOTIFYs are dropped; one in flight holds it back.
    pub(crate) fn shutdown(&mut self, ctx: &mut Ctx<'_>) {
        for s in self.subs.values_mut().filter(|s| !s.ended) {
            s.ended = true;
            s.queue.clear();
            s.queue.push_back(Pending {
                state: "terminated;reason=deactivated".into(),
                body: None,
            });
        }
        self.pump(ctx);
    }

    /// A SUBSCRIBE from a non-trunk source: the reply and its To tag. Call
    /// [`RegEvents::pump`] once the reply is sent: the NOTIFYs follow it.
    pub(crate) fn subscribe(
        &mut self,
        now: Instant,
        req: &Request,
        inbound: &Inbound,
        locals: &[sip_transport::ListenAddr],
        registrar: &mut Registrar,
    ) -> (Reply, String) {
        let tag = req.to_tag().map_or_else(new_tag, str::to_owned);
        let event = req.event().ok().flatten();
        let package_ok = event
            .as_ref()
            .is_some_and(|e| e.value.eq_ignore_ascii_case("reg"));
        if !self.allowed || !package_ok {
            let mut r = Reply::new(489);
            if self.allowed {
                r = r.header("Allow-Events", "reg");
            }
            return (r, tag);
        }
        let event_id = event
            .as_ref()
            .and_then(|e| e.params().get("id").flatten().map(str::to_owned));
        let expires = match req.expires() {
            Ok(e) => e.unwrap_or(MAX_EXPIRES),
            Err(_) => return (Reply::new(400).reason("Bad Request (Expires)"), tag),
        };
        if expires > 0 && expires < MIN_EXPIRES {
            return (
                Reply::new(423)
                    .reason("Interval Too Brief")
                    .header("Min-Expires", MIN_EXPIRES.to_string()),
                tag,
            );
        }
        let expires = expires.min(MAX_EXPIRES);
        if req.to_tag().is_some() {
            return (self.refresh(now, req, expires, registrar), tag);
        }
        // Which AORs.
        let has_user = req
            .uri()
            .as_sip()
            .is_some_and(|u| u.user.as_deref().is_some_and(|s| !s.is_empty()));
        let target = if has_user {
            match registrar.resolve_aor(&req.uri()) {
                Some(a) => Some(a),
                None => return (Reply::new(404).reason("Not Found (no such AOR)"), tag),
            }
        } else {
            None
        };
        // Who.
        if !self.is_trusted(inbound.source.ip()) {
            match registrar.authenticate(now, req) {
                Auth::Reply(r) => return (r, tag),
                Auth::User(u) => {
                    let ok = target.as_deref().is_some_and(|a| registrar.owns(&u, a));
                    if !ok {
                        tracing::info!(user = %u, source = %inbound.source, "reg subscription refused");
                        return (Reply::new(403).reason("Forbidden (not your AOR)"), tag);
                    }
                }
            }
        }
        let Some(dialog) = Dialog::uas(req, &tag) else {
            return (Reply::new(400).reason("Bad Request (no From tag)"), tag);
        };
        let local = local_for(locals, inbound);
        let mut sub = Subscription {
            dialog,
            target,
            event_id,
            expires_at: now + Duration::from_secs(u64::from(expires)),
            version: 0,
            dest: Outbound::reply_to(inbound, Bytes::new()),
            local,
            in_flight: None,
            queue: VecDeque::new(),
            ended: false,
        };
        tracing::debug!(source = %inbound.source, target = ?sub.target, expires, "reg subscription");
        queue_full_state(
            self.cfg.subscription_max_body_size,
            &mut sub,
            now,
            registrar,
            expires == 0,
        );
        let id = self.next_id;
        self.next_id += 1;
        self.subs.insert(id, sub);
        (
            Reply::new(200)
                .header("Expires", expires.to_string())
                .header("Contact", local.contact()),
            tag,
        )
    }

    fn refresh(
        &mut self,
        now: Instant,
        req: &Request,
        expires: u32,
        registrar: &mut Registrar,
    ) -> Reply {
        let (Some(call_id), Some(to), Some(from)) = (req.call_id(), req.to_tag(), req.from_tag())
        else {
            return Reply::new(481);
        };
        let max_body = self.cfg.subscription_max_body_size;
        let Some(sub) = self
            .subs
            .values_mut()
            .find(|s| !s.ended && s.dialog.matches(call_id, to, from))
        else {
            return Reply::new(481);
        };
        if !sub
            .dialog
            .accept_remote_seq(req.cseq().map_or(0, |c| c.seq))
        {
            return Reply::new(500).reason("Server Internal Error (CSeq out of order)");
        }
        if expires == 0 {
            // RFC 6665 section 4.2.1.4: unsubscribed; the final NOTIFY says so.
            sub.ended = true;
            sub.queue.push_back(Pending {
                state: "terminated;reason=timeout".into(),
                body: None,
            });
        } else {
            sub.expires_at = now + Duration::from_secs(u64::from(expires));
            // RFC 6665 section 4.2.2: a NOTIFY after every accepted refresh.
            queue_full_state(max_body, sub, now, registrar, false);
        }
        Reply::new(200).header("Expires", expires.to_string())
    }
}

/// Queues the full state, split at the body limit (E2).
fn queue_full_state(
    max_body: usize,
    sub: &mut Subscription,
    now: Instant,
    registrar: &mut Registrar,
    fetch: bool,
) {
    let mut doc = reginfo::RegInfo::new(0, reginfo::DocState::Full);
    doc.registrations = registrar.registrations(sub.target.as_deref(), now);
    let bodies = reginfo::split_full_state(&doc, max_body, sub.version);
    let n = bodies.len();
    sub.version = sub.version.wrapping_add(n as u32);
    let remaining = sub.expires_at.saturating_duration_since(now).as_secs();
    for (i, body) in bodies.into_iter().enumerate() {
        let state = if fetch && i + 1 == n {
            "terminated;reason=timeout".to_owned()
        } else {
            format!("active;expires={remaining}")
        };
        sub.queue.push_back(Pending {
            state,
            body: Some(body),
        });
    }
    if fetch {
        sub.ended = true;
    }
}

impl RegEvents {
    /// Registration changes: a partial NOTIFY to every subscription that
    /// watches the AORs concerned.
    pub(crate) fn on_changes(&mut self, ctx: &mut Ctx<'_>, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        for sub in self.subs.values_mut().filter(|s| !s.ended) {
            let regs: Vec<reginfo::Registration> = changes
                .iter()
                .filter(|c| sub.target.as_deref().is_none_or(|t| t == c.aor))
                .map(|c| {
                    let mut r =
                        reginfo::Registration::new(c.aor.clone(), short_id(&[&c.aor]), c.state);
                    r.contacts.clone_from(&c.contacts);
                    r
                })
                .collect();
            if regs.is_empty() {
                continue;
            }
            let mut doc = reginfo::RegInfo::new(sub.version, reginfo::DocState::Partial);
            doc.registrations = regs;
            sub.version = sub.version.wrapping_add(1);
            let remaining = sub.expires_at.saturating_duration_since(ctx.now).as_secs();
            sub.queue.push_back(Pending {
                state: format!("active;expires={remaining}"),
                body: Some(doc.to_xml()),
            });
        }
        self.pump(ctx);
    }

    /// Sends the next NOTIFY of every subscription with none in flight;
    /// forgets subscriptions whose final NOTIFY is done.
    pub(crate) fn pump(&mut self, ctx: &mut Ctx<'_>) {
        let mut done = Vec::new();
        for (id, sub) in &mut self.subs {
            if sub.in_flight.is_some() {
                continue;
            }
            let Some(p) = sub.queue.pop_front() else {
                if sub.ended {
                    done.push(*id);
                }
                continue;
            };
            let dr = sub.dialog.request(Method::Notify, &sub.local);
            let event = match &sub.event_id {
                Some(i) => format!("reg;id={i}"),
                None => "reg".to_owned(),
            };
            let mut b = dr
                .builder
                .raw_header("Event", event)
                .raw_header("Subscription-State", &p.state)
                .raw_header("User-Agent", ctx.user_agent);
            if let Some(body) = p.body {
                b = b.body(reginfo::CONTENT_TYPE, body);
            }
            let bytes = b.to_bytes();
            let key = TransactionKey::client(&dr.branch, Kind::Other);
            let tx = if sub.dest.transport.is_reliable() {
                sip_transaction::Transport::Reliable
            } else {
                sip_transaction::Transport::Unreliable
            };
            match ctx.tx.start_client_non_invite(ctx.now, key, bytes, tx) {
                Ok(cid) => {
                    ctx.dests.insert(cid, sub.dest.clone());
                    self.by_tx.insert(cid, *id);
                    sub.in_flight = Some(cid);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "NOTIFY not sent; subscription ended");
                    done.push(*id);
                }
            }
        }
        for id in done {
            self.subs.remove(&id);
        }
    }

    /// An action of a client transaction (those not of a NOTIFY are ignored).
    pub(crate) fn on_action(&mut self, ctx: &mut Ctx<'_>, id: TransactionId, action: &Action) {
        let Some(&sub_id) = self.by_tx.get(&id) else {
            return;
        };
        let failed = match action {
            Action::Response { status, .. } if *status >= 300 => true,
            Action::Response { status, .. } if *status >= 200 => false,
            Action::Timeout(_) | Action::TransportError => true,
            Action::Terminated => {
                self.by_tx.remove(&id);
                return;
            }
            _ => return,
        };
        let Some(sub) = self.subs.get_mut(&sub_id) else {
            return;
        };
        if sub.in_flight != Some(id) {
            return;
        }
        sub.in_flight = None;
        if failed {
            // RFC 6665 section 4.2.2: a failed NOTIFY (481, timeout...) ends it.
            tracing::info!(call_id = %sub.dialog.call_id(), ?action, "NOTIFY failed: subscription removed");
            self.subs.remove(&sub_id);
            return;
        }
        self.pump(ctx);
    }
}

/// Our address for the subscriber's transport: the listener of that
/// transport, the address the request came to when it listens on a wildcard.
fn local_for(locals: &[sip_transport::ListenAddr], inbound: &Inbound) -> Local {
    let mut addr = locals
        .iter()
        .find(|l| l.transport == inbound.transport)
        .map_or(inbound.local, |l| l.addr);
    if addr.ip().is_unspecified() {
        addr.set_ip(inbound.local.ip());
    }
    Local {
        transport: inbound.transport,
        addr,
    }
}

#[cfg(test)]
mod tests;
