//! E9 and E15: the reg event subscriber against scripted notifiers, on a
//! manual clock (no sockets, no sleeps).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use locus_e911::subscriber::{
    Backoff, Handled, Member, SubscribeMode, Subscriber, SubscriberConfig, SubscriberEvent,
    SubscriptionStatus,
};
use reginfo::{
    Contact, ContactEvent, ContactState, DeviceChange, DocState, RegInfo, RegState, Registration,
};
use sip_core::{HeaderName, Message, Method, Request, Response, StatusCode};
use sip_transport::Transport;

const M1: &str = "10.0.0.1:5060";
const M2: &str = "10.0.0.2:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config() -> SubscriberConfig {
    let mut c = SubscriberConfig::new(
        "sip:e911@192.0.2.10:5070",
        "sip:e911@192.0.2.10:5070",
        "192.0.2.10:5070",
    );
    // Exact instants: no jitter (a separate test checks jitter bounds).
    c.backoff.jitter = 0.0;
    c
}

/// The subscriber plus a manual clock.
struct Harness {
    sub: Subscriber,
    now: Instant,
    t0: Instant,
}

impl Harness {
    fn new(members: &[(&str, Transport)], mode: SubscribeMode) -> Self {
        Self::with_config(config(), members, mode)
    }

    fn with_config(
        cfg: SubscriberConfig,
        members: &[(&str, Transport)],
        mode: SubscribeMode,
    ) -> Self {
        let members = members
            .iter()
            .map(|(a, t)| Member::new(addr(a), *t))
            .collect();
        let t0 = Instant::now();
        Harness {
            sub: Subscriber::new(cfg, members, mode),
            now: t0,
            t0,
        }
    }

    fn sent(&mut self) -> Vec<(SocketAddr, Message)> {
        let mut out = Vec::new();
        while let Some((dest, _t, bytes)) = self.sub.poll_transmit() {
            out.push((
                dest,
                Message::parse(bytes).expect("we send parseable messages"),
            ));
        }
        out
    }

    fn subscribes(&mut self) -> Vec<(SocketAddr, Request)> {
        self.sent()
            .into_iter()
            .filter_map(|(d, m)| match m {
                Message::Request(r) if *r.method() == Method::Subscribe => Some((d, r)),
                _ => None,
            })
            .collect()
    }

    fn events(&mut self) -> Vec<SubscriberEvent> {
        std::iter::from_fn(|| self.sub.poll_event()).collect()
    }

    fn changes(&mut self) -> Vec<DeviceChange> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                SubscriberEvent::DeviceChanged(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// Gives the subscriber one of its messages (a NOTIFY or a SUBSCRIBE
    /// response) from `from`.
    fn deliver(&mut self, from: &str, bytes: Bytes) {
        let msg = Message::parse(bytes).unwrap();
        let handled = self
            .sub
            .handle_message(self.now, addr(from), Transport::Udp, &msg);
        assert_eq!(handled, Handled::Consumed);
    }

    fn advance_to(&mut self, t: Instant) {
        assert!(t >= self.now);
        self.now = t;
        self.sub.handle_timeout(t);
    }

    /// Jumps from deadline to deadline until a SUBSCRIBE goes out (or
    /// `limit` passes); returns it with its instant.
    fn run_until_subscribe(&mut self, limit: Duration) -> Option<(Instant, SocketAddr, Request)> {
        let end = self.now + limit;
        loop {
            let s = self.subscribes();
            if let Some((d, r)) = s.into_iter().next() {
                return Some((self.now, d, r));
            }
            let next = self.sub.poll_timeout()?;
            if next > end {
                return None;
            }
            let next = next.max(self.now);
            self.advance_to(next);
        }
    }
}

/// A scripted notifier: one member's side of one subscription.
struct Notifier {
    at: &'static str,
    tag: String,
    call_id: String,
    our_tag: String,
    cseq: u32,
    branch_n: u32,
}

impl Notifier {
    /// Accepts `req` (a new SUBSCRIBE) and returns the 200.
    fn accept(at: &'static str, req: &Request, expires: u32) -> (Notifier, Bytes) {
        let n = Notifier {
            at,
            tag: format!("srv{}", at.len()),
            call_id: req.call_id().unwrap().to_owned(),
            our_tag: req.from_tag().unwrap().to_owned(),
            cseq: 0,
            branch_n: 0,
        };
        let ok = n.ok(req, expires);
        (n, ok)
    }

    fn ok(&self, req: &Request, expires: u32) -> Bytes {
        Response::for_request(req, StatusCode::OK, None)
            .to_tag(&self.tag)
            .raw_header("Expires", expires.to_string())
            .raw_header("Contact", format!("<sip:reg@{}>", self.at))
            .to_bytes()
    }

    fn notify(&mut self, state: &str, body: Option<&RegInfo>) -> Bytes {
        self.cseq += 1;
        self.branch_n += 1;
        let body = body.map(|b| b.to_xml_string()).unwrap_or_default();
        let ct = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/reginfo+xml\r\n".to_owned()
        };
        Bytes::from(format!(
            "NOTIFY sip:e911@192.0.2.10:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {at};branch=z9hG4bKn{tag}{b}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{at}>;tag={tag}\r\n\
             To: <sip:e911@192.0.2.10:5070>;tag={ours}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} NOTIFY\r\n\
             Contact: <sip:reg@{at}>\r\n\
             Event: reg\r\n\
             Subscription-State: {state}\r\n\
             {ct}Content-Length: {len}\r\n\r\n{body}",
            at = self.at,
            tag = self.tag,
            b = self.branch_n,
            ours = self.our_tag,
            cid = self.call_id,
            cseq = self.cseq,
            len = body.len(),
        ))
    }
}

fn contact(id: &str, uri: &str) -> Contact {
    let mut c = Contact::new(id, uri);
    c.expires = Some(3600);
    c
}

fn reg(aor: &str, contacts: Vec<Contact>) -> Registration {
    let mut r = Registration::new(aor, format!("r-{aor}"), RegState::Active);
    r.contacts = contacts;
    r
}

fn doc(version: u32, state: DocState, regs: Vec<Registration>) -> RegInfo {
    RegInfo {
        version,
        state,
        registrations: regs,
    }
}

fn alice() -> Registration {
    reg(
        "sip:alice@example.com",
        vec![contact("a1", "sip:alice@10.1.0.5")],
    )
}

fn bob() -> Registration {
    reg(
        "sip:bob@example.com",
        vec![contact("b1", "sip:bob@10.1.0.6")],
    )
}

fn carol() -> Registration {
    reg(
        "sip:carol@example.com",
        vec![contact("c1", "sip:carol@10.1.0.7")],
    )
}

fn added(changes: &[DeviceChange]) -> Vec<(String, String)> {
    let mut v: Vec<_> = changes
        .iter()
        .filter(|c| matches!(c, DeviceChange::Added { .. }))
        .map(|c| (c.aor().to_owned(), c.contact().id.clone()))
        .collect();
    v.sort();
    v
}

fn removed(changes: &[DeviceChange]) -> Vec<(String, String)> {
    let mut v: Vec<_> = changes
        .iter()
        .filter(|c| matches!(c, DeviceChange::Removed { .. }))
        .map(|c| (c.aor().to_owned(), c.contact().id.clone()))
        .collect();
    v.sort();
    v
}

fn pair(aor: &str, id: &str) -> (String, String) {
    (aor.to_owned(), id.to_owned())
}

/// The one response the subscriber sent (to a NOTIFY).
fn only_response(sent: Vec<(SocketAddr, Message)>) -> (SocketAddr, Response) {
    let mut rs: Vec<_> = sent
        .into_iter()
        .filter_map(|(d, m)| match m {
            Message::Response(r) => Some((d, r)),
            _ => None,
        })
        .collect();
    assert_eq!(rs.len(), 1, "exactly one response expected");
    rs.pop().unwrap()
}

/// Starts one whole-server subscription to `at` and gives it `full`.
fn established(h: &mut Harness, at: &'static str, req: &Request, full: &RegInfo) -> Notifier {
    let (mut n, ok) = Notifier::accept(at, req, 3600);
    h.deliver(at, ok);
    let nb = n.notify("active;expires=3600", Some(full));
    h.deliver(at, nb);
    let (_, resp) = only_response(h.sent());
    assert_eq!(resp.status().as_u16(), 200);
    n
}

#[test]
fn e9_full_state_builds_inventory_then_partials_update_it() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let subs = h.subscribes();
    assert_eq!(subs.len(), 1);
    let (dest, req) = &subs[0];
    assert_eq!(*dest, addr(M1));
    // RFC 3680 whole-server subscription: no user part (DESIGN E1).
    assert_eq!(req.uri_str(), "sip:10.0.0.1");
    assert_eq!(req.event().unwrap().unwrap().value, "reg");
    assert_eq!(
        req.first(HeaderName::Accept),
        Some(&b"application/reginfo+xml"[..])
    );
    assert_eq!(req.expires().unwrap(), Some(3600));
    assert!(req.first(HeaderName::Contact).is_some());
    assert!(req.to_tag().is_none());
    req.validate().unwrap();

    let (mut n, ok) = Notifier::accept(M1, req, 3600);
    h.deliver(M1, ok);
    let ev = h.events();
    assert!(ev.contains(&SubscriberEvent::SubscriptionState {
        member: 0,
        aor: None,
        state: SubscriptionStatus::Active {
            expires: Duration::from_secs(3600)
        }
    }));

    let full = doc(0, DocState::Full, vec![alice(), bob()]);
    let nb = n.notify("active;expires=3600", Some(&full));
    h.deliver(M1, nb);
    let (to, resp) = only_response(h.sent());
    assert_eq!(to, addr(M1));
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.cseq().unwrap().method, Method::Notify);

    let ev = h.events();
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: None,
        to: Some(0)
    }));
    let ch: Vec<_> = ev
        .into_iter()
        .filter_map(|e| match e {
            SubscriberEvent::DeviceChanged(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(
        added(&ch),
        vec![
            pair("sip:alice@example.com", "a1"),
            pair("sip:bob@example.com", "b1")
        ]
    );
    assert_eq!(h.sub.member_registrations(0).unwrap().device_count(), 2);

    // Partial version 1: carol registers, alice's contact expires.
    let mut gone = contact("a1", "sip:alice@10.1.0.5");
    gone.state = ContactState::Terminated;
    gone.event = ContactEvent::Expired;
    let mut a = Registration::new(
        "sip:alice@example.com",
        "r-sip:alice@example.com",
        RegState::Terminated,
    );
    a.contacts = vec![gone];
    let partial = doc(1, DocState::Partial, vec![a, carol()]);
    let nb = n.notify("active;expires=3500", Some(&partial));
    h.deliver(M1, nb);
    assert_eq!(only_response(h.sent()).1.status(), StatusCode::OK);
    let ch = h.changes();
    assert_eq!(added(&ch), vec![pair("sip:carol@example.com", "c1")]);
    assert_eq!(removed(&ch), vec![pair("sip:alice@example.com", "a1")]);
    match ch
        .iter()
        .find(|c| matches!(c, DeviceChange::Removed { .. }))
    {
        Some(DeviceChange::Removed { reason, .. }) => {
            assert_eq!(*reason, Some(ContactEvent::Expired))
        }
        _ => unreachable!(),
    }
    let set = h.sub.member_registrations(0).unwrap();
    assert!(set.get("sip:alice@example.com").is_none());
    assert!(set.get("sip:carol@example.com").is_some());
    assert_eq!(set.device_count(), 2);
}

#[test]
fn e9_version_gap_triggers_refresh_subscribe() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let mut n = established(&mut h, M1, &req, &doc(0, DocState::Full, vec![alice()]));
    h.events();

    // Version 2 after 0: version 1 was lost.
    let nb = n.notify("active", Some(&doc(2, DocState::Partial, vec![bob()])));
    h.deliver(M1, nb);
    let sent = h.sent();
    let refresh: Vec<_> = sent
        .iter()
        .filter_map(|(_, m)| m.as_request())
        .filter(|r| *r.method() == Method::Subscribe)
        .collect();
    assert_eq!(refresh.len(), 1, "a refresh SUBSCRIBE for full state");
    let r = refresh[0];
    // In the dialog: same Call-ID, the notifier's tag, next CSeq, sent to
    // the notifier's Contact.
    assert_eq!(r.call_id(), req.call_id());
    assert_eq!(r.from_tag(), req.from_tag());
    assert_eq!(r.to_tag(), Some(n.tag.as_str()));
    assert_eq!(r.cseq().unwrap().seq, 2);
    assert_eq!(r.uri_str(), "sip:reg@10.0.0.1:5060");
    // The gap document is still processed (RFC 3680 section 5.2).
    assert_eq!(added(&h.changes()), vec![pair("sip:bob@example.com", "b1")]);

    // The full state that answers the refresh is accepted.
    let ok = n.ok(r, 3600);
    h.deliver(M1, ok);
    let nb = n.notify(
        "active",
        Some(&doc(3, DocState::Full, vec![alice(), bob(), carol()])),
    );
    h.deliver(M1, nb);
    // Within the settle window nothing is emitted; after it, the difference.
    assert!(h.changes().is_empty());
    let t = h.now + Duration::from_secs(1);
    h.advance_to(t);
    assert_eq!(
        added(&h.changes()),
        vec![pair("sip:carol@example.com", "c1")]
    );
}

#[test]
fn e9_stale_version_ignored() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let mut n = established(&mut h, M1, &req, &doc(5, DocState::Full, vec![alice()]));
    h.events();
    let nb = n.notify("active", Some(&doc(6, DocState::Partial, vec![bob()])));
    h.deliver(M1, nb);
    assert_eq!(only_response(h.sent()).1.status(), StatusCode::OK);
    assert_eq!(h.changes().len(), 1);

    // Same version again (a new NOTIFY, not a retransmission), then older.
    for v in [6, 4] {
        let nb = n.notify("active", Some(&doc(v, DocState::Partial, vec![carol()])));
        h.deliver(M1, nb);
        let sent = h.sent();
        // Still answered 200, and no refresh is asked for.
        assert_eq!(only_response(sent).1.status(), StatusCode::OK);
        assert!(h.changes().is_empty(), "version {v} is stale");
    }
    // A stale full document is ignored too.
    let nb = n.notify("active", Some(&doc(3, DocState::Full, vec![])));
    h.deliver(M1, nb);
    h.sent();
    assert!(h.changes().is_empty());
    assert_eq!(h.sub.member_registrations(0).unwrap().device_count(), 2);
}

#[test]
fn notify_retransmission_answered_again_without_duplicate_events() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let mut n = established(&mut h, M1, &req, &doc(0, DocState::Full, vec![alice()]));
    h.events();
    let nb = n.notify("active", Some(&doc(1, DocState::Partial, vec![bob()])));
    h.deliver(M1, nb.clone());
    let first = only_response(h.sent()).1;
    assert_eq!(h.changes().len(), 1);
    h.deliver(M1, nb);
    let again = only_response(h.sent()).1;
    assert_eq!(
        first.to_bytes(sip_core::HeaderForm::Preserve),
        again.to_bytes(sip_core::HeaderForm::Preserve)
    );
    assert!(h.changes().is_empty());
}

#[test]
fn unknown_notify_gets_481() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    h.sub.start(h.now);
    h.sent();
    let mut n = Notifier {
        at: M1,
        tag: "x".into(),
        call_id: "nosuch".into(),
        our_tag: "nosuch".into(),
        cseq: 0,
        branch_n: 0,
    };
    let nb = n.notify("active", None);
    h.deliver(M1, nb);
    assert_eq!(only_response(h.sent()).1.status().as_u16(), 481);
}

#[test]
fn e15_subscribes_to_every_member_processes_first_healthy() {
    let mut h = Harness::new(
        &[(M1, Transport::Udp), (M2, Transport::Udp)],
        SubscribeMode::Server,
    );
    h.sub.start(h.now);
    let subs = h.subscribes();
    let dests: Vec<_> = subs.iter().map(|(d, _)| *d).collect();
    assert_eq!(dests, vec![addr(M1), addr(M2)], "one SUBSCRIBE per member");
    let (r1, r2) = (subs[0].1.clone(), subs[1].1.clone());
    assert_eq!(r2.uri_str(), "sip:10.0.0.2");
    assert_ne!(r1.call_id(), r2.call_id());

    // Member 2 answers first: it is the only healthy one, so it is used.
    let mut n2 = established(&mut h, M2, &r2, &doc(0, DocState::Full, vec![bob()]));
    let ev = h.events();
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: None,
        to: Some(1)
    }));
    assert_eq!(h.sub.active_member(), Some(1));

    // Member 1 becomes healthy: it is first in order, so it takes over,
    // and only the difference is emitted (bob is not added twice).
    let mut n1 = established(
        &mut h,
        M1,
        &r1,
        &doc(0, DocState::Full, vec![alice(), bob()]),
    );
    let ev = h.events();
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: Some(1),
        to: Some(0)
    }));
    let ch: Vec<_> = ev
        .into_iter()
        .filter_map(|e| match e {
            SubscriberEvent::DeviceChanged(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(added(&ch), vec![pair("sip:alice@example.com", "a1")]);
    assert_eq!(ch.len(), 1);

    // Member 2's NOTIFYs are answered and tracked, but not passed on.
    let nb = n2.notify("active", Some(&doc(1, DocState::Partial, vec![carol()])));
    h.deliver(M2, nb);
    assert_eq!(only_response(h.sent()).0, addr(M2));
    assert!(h.changes().is_empty());
    assert_eq!(h.sub.member_registrations(1).unwrap().device_count(), 2);
    // Member 1's are.
    let nb = n1.notify("active", Some(&doc(1, DocState::Partial, vec![carol()])));
    h.deliver(M1, nb);
    h.sent();
    assert_eq!(
        added(&h.changes()),
        vec![pair("sip:carol@example.com", "c1")]
    );
}

#[test]
fn e15_switch_over_loses_no_change() {
    let mut h = Harness::new(
        &[(M1, Transport::Udp), (M2, Transport::Udp)],
        SubscribeMode::Server,
    );
    h.sub.start(h.now);
    let subs = h.subscribes();
    let full = doc(0, DocState::Full, vec![alice(), bob()]);
    let mut n1 = established(&mut h, M1, &subs[0].1, &full);
    let mut n2 = established(&mut h, M2, &subs[1].1, &full);
    let ch = h.changes();
    assert_eq!(added(&ch).len(), 2);
    assert_eq!(h.sub.active_member(), Some(0));

    // Changes reach member 2 while member 1 is active (member 1 is dying
    // and never reports them): carol registers, bob's contact is removed.
    let mut b_gone = contact("b1", "sip:bob@10.1.0.6");
    b_gone.state = ContactState::Terminated;
    b_gone.event = ContactEvent::Unregistered;
    let mut b = Registration::new(
        "sip:bob@example.com",
        "r-sip:bob@example.com",
        RegState::Terminated,
    );
    b.contacts = vec![b_gone];
    let nb = n2.notify("active", Some(&doc(1, DocState::Partial, vec![carol(), b])));
    h.deliver(M2, nb);
    h.sent();
    assert!(h.changes().is_empty(), "member 2 is not active");

    // Member 1 terminates its subscription: switch-over to member 2.
    let nb = n1.notify("terminated;reason=noresource", None);
    h.deliver(M1, nb);
    h.sent();
    let ev = h.events();
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: Some(0),
        to: Some(1)
    }));
    let ch: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            SubscriberEvent::DeviceChanged(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(added(&ch), vec![pair("sip:carol@example.com", "c1")]);
    assert_eq!(removed(&ch), vec![pair("sip:bob@example.com", "b1")]);
    assert_eq!(ch.len(), 2, "alice unchanged: nothing duplicated");
    assert!(ev.iter().any(|e| matches!(
        e,
        SubscriberEvent::SubscriptionState {
            member: 0,
            state: SubscriptionStatus::Terminated { .. },
            ..
        }
    )));

    // From now on member 2's changes flow.
    let nb = n2.notify("active", Some(&doc(2, DocState::Partial, vec![bob()])));
    h.deliver(M2, nb);
    h.sent();
    assert_eq!(added(&h.changes()), vec![pair("sip:bob@example.com", "b1")]);
}

#[test]
fn e15_lost_subscription_resubscribes_with_backoff() {
    // TCP members: no retransmission timers muddle the instants.
    let mut h = Harness::new(
        &[(M1, Transport::Tcp), (M2, Transport::Tcp)],
        SubscribeMode::Server,
    );
    h.sub.start(h.now);
    let subs = h.subscribes();
    let full = doc(0, DocState::Full, vec![alice()]);
    let n1 = established(&mut h, M1, &subs[0].1, &full);
    // Member 2 grants ten hours, so its own refresh stays out of the way.
    let (mut n2, ok) = Notifier::accept(M2, &subs[1].1, 36000);
    n2.tag = "srv-m2".into();
    let _ = ok;
    h.deliver(M2, n2.ok(&subs[1].1, 36000));
    let nb = n2.notify("active;expires=36000", Some(&full));
    h.deliver(M2, nb);
    h.sent();
    h.events();
    let t0 = h.t0;

    // The refresh (at 80 % of 3600 s) gets 503: the subscription is lost.
    let (at, dest, refresh) = h.run_until_subscribe(Duration::from_secs(4000)).unwrap();
    assert_eq!(at, t0 + Duration::from_secs(2880));
    assert_eq!(dest, addr(M1));
    assert_eq!(refresh.to_tag(), Some(n1.tag.as_str()));
    let busy = Response::for_request(&refresh, StatusCode::SERVICE_UNAVAILABLE, None)
        .to_tag(&n1.tag)
        .to_bytes();
    h.deliver(M1, busy);
    let ev = h.events();
    let lost_at = h.now;
    assert!(ev.contains(&SubscriberEvent::SubscriptionState {
        member: 0,
        aor: None,
        state: SubscriptionStatus::Failed {
            status: 503,
            retry_at: lost_at + Duration::from_secs(1)
        }
    }));
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: Some(0),
        to: Some(1)
    }));

    // New subscriptions, each refused: 1 s doubling, capped at 60 s.
    let mut last = lost_at;
    let mut waits = Vec::new();
    for _ in 0..8 {
        let (at, dest, req) = h.run_until_subscribe(Duration::from_secs(120)).unwrap();
        assert_eq!(dest, addr(M1));
        assert!(req.to_tag().is_none(), "a new subscription, not a refresh");
        assert_ne!(req.call_id(), refresh.call_id());
        waits.push((at - last).as_secs());
        last = at;
        let no = Response::for_request(&req, StatusCode::SERVICE_UNAVAILABLE, None)
            .to_tag("x")
            .to_bytes();
        h.deliver(M1, no);
    }
    assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60]);

    // A Retry-After longer than the backoff is honoured.
    let (at, _, req) = h.run_until_subscribe(Duration::from_secs(120)).unwrap();
    assert_eq!(at - last, Duration::from_secs(60));
    let no = Response::for_request(&req, StatusCode::SERVICE_UNAVAILABLE, None)
        .to_tag("x")
        .raw_header("Retry-After", "300")
        .to_bytes();
    let failed_at = h.now;
    h.deliver(M1, no);
    let (at, _, req) = h.run_until_subscribe(Duration::from_secs(400)).unwrap();
    assert_eq!(at - failed_at, Duration::from_secs(300));

    // It comes back: member 1 is first again, so it takes over.
    let _n1 = established(&mut h, M1, &req, &full);
    let ev = h.events();
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: Some(1),
        to: Some(0)
    }));
    assert!(!ev
        .iter()
        .any(|e| matches!(e, SubscriberEvent::DeviceChanged(_))));
}

#[test]
fn backoff_jitter_is_seeded_and_bounded() {
    let b = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        jitter: 0.5,
    };
    let draw = |seed| {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..10).map(|a| b.delay(a, &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(draw(7), draw(7));
    for (a, d) in draw(7).into_iter().enumerate() {
        let cap = Duration::from_secs(1 << a.min(6)).min(Duration::from_secs(60));
        assert!(d <= cap && d >= cap / 2, "attempt {a}: {d:?}");
    }
}

#[test]
fn refresh_before_expiry() {
    let mut h = Harness::new(&[(M1, Transport::Tcp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let (mut n, _) = Notifier::accept(M1, &req, 600);
    // The server grants 600 s of the 3600 asked for.
    h.deliver(M1, n.ok(&req, 600));
    let nb = n.notify(
        "active;expires=600",
        Some(&doc(0, DocState::Full, vec![alice()])),
    );
    h.deliver(M1, nb);
    h.sent();
    let t0 = h.t0;
    // min(80 % = 480 s, 600 - 30 = 570 s) = 480 s.
    let (at, _, r) = h.run_until_subscribe(Duration::from_secs(700)).unwrap();
    assert_eq!(at, t0 + Duration::from_secs(480));
    assert_eq!(r.call_id(), req.call_id());
    assert_eq!(r.to_tag(), Some(n.tag.as_str()));
    assert_eq!(r.cseq().unwrap().seq, 2);
    assert_eq!(r.expires().unwrap(), Some(3600));

    // Granted 100 s: 30 s before the end (70 s) is earlier than 80 %.
    h.deliver(M1, n.ok(&r, 100));
    h.events();
    let (at2, _, r2) = h.run_until_subscribe(Duration::from_secs(200)).unwrap();
    assert_eq!(at2 - at, Duration::from_secs(70));

    // No answer to the refresh (a dead server over TCP: Timer F, 32 s)
    // loses the subscription at the timeout.
    let _ = r2;
    let mut lost = None;
    while lost.is_none() {
        let next = h.sub.poll_timeout().unwrap();
        h.advance_to(next);
        lost = h.events().into_iter().find_map(|e| match e {
            SubscriberEvent::SubscriptionState {
                state: SubscriptionStatus::Failed { status, .. },
                ..
            } => Some((h.now, status)),
            _ => None,
        });
    }
    let (when, status) = lost.unwrap();
    assert_eq!(status, 408);
    assert_eq!(
        when - at2,
        Duration::from_secs(30),
        "expiry came before Timer F"
    );
    assert_eq!(h.sub.active_member(), None);

    // The floor: a tiny grant is not refreshed in a busy loop.
    let cfg = config();
    assert_eq!(cfg.refresh_after(2), Duration::from_secs(2));
    assert_eq!(cfg.refresh_after(10), Duration::from_secs(5));
    assert_eq!(cfg.refresh_after(3600), Duration::from_secs(2880));
    assert_eq!(
        cfg.refresh_after(u32::MAX),
        Duration::from_millis(u64::from(u32::MAX) * 800)
    );
}

#[test]
fn kamailio_per_aor_mode_accepts_version_zero_full_state() {
    let mut h = Harness::new(
        &[(M1, Transport::Udp)],
        SubscribeMode::PerAor(vec![
            "alice@example.com".into(),
            "sip:bob@example.com".into(),
        ]),
    );
    h.sub.start(h.now);
    let subs = h.subscribes();
    let uris: Vec<_> = subs.iter().map(|(_, r)| r.uri_str().to_owned()).collect();
    assert_eq!(uris, vec!["sip:alice@example.com", "sip:bob@example.com"]);
    let (mut na, ok) = Notifier::accept(M1, &subs[0].1, 3600);
    h.deliver(M1, ok);
    let (mut nb, ok) = Notifier::accept(M1, &subs[1].1, 3600);
    nb.tag = "srv-bob".into();
    let ok = {
        let _ = ok;
        nb.ok(&subs[1].1, 3600)
    };
    h.deliver(M1, ok);

    // Every NOTIFY is full state, version 0.
    let n = na.notify(
        "active;expires=3600",
        Some(&doc(0, DocState::Full, vec![alice()])),
    );
    h.deliver(M1, n);
    assert!(
        h.changes().is_empty(),
        "not healthy until every AOR has state"
    );
    let n = nb.notify(
        "active;expires=3600",
        Some(&doc(0, DocState::Full, vec![bob()])),
    );
    h.deliver(M1, n);
    h.sent();
    let ch = h.changes();
    assert_eq!(
        added(&ch),
        vec![
            pair("sip:alice@example.com", "a1"),
            pair("sip:bob@example.com", "b1")
        ]
    );

    // Version 0 again, full, with a second phone for alice: accepted, and
    // it does not touch bob.
    let two = reg(
        "sip:alice@example.com",
        vec![
            contact("a1", "sip:alice@10.1.0.5"),
            contact("a2", "sip:alice@10.1.0.9"),
        ],
    );
    let n = na.notify("active", Some(&doc(0, DocState::Full, vec![two])));
    h.deliver(M1, n);
    h.sent();
    let ch = h.changes();
    assert_eq!(added(&ch), vec![pair("sip:alice@example.com", "a2")]);
    assert_eq!(ch.len(), 1);
    // No refresh was asked for: version 0 is no gap in this mode.
    assert!(h.subscribes().is_empty());

    // Kamailio's expiry: a bare terminated registration, no contacts.
    let bare = Registration::new("sip:alice@example.com", "x", RegState::Terminated);
    let n = na.notify("active", Some(&doc(0, DocState::Full, vec![bare])));
    h.deliver(M1, n);
    h.sent();
    let ch = h.changes();
    assert_eq!(
        removed(&ch),
        vec![
            pair("sip:alice@example.com", "a1"),
            pair("sip:alice@example.com", "a2")
        ]
    );
    let set = h.sub.member_registrations(0).unwrap();
    assert!(set.get("sip:alice@example.com").is_none());
    assert!(set.get("sip:bob@example.com").is_some());

    // A full document that does not name the AOR: it has no device either.
    let n = nb.notify("active", Some(&doc(0, DocState::Full, vec![])));
    h.deliver(M1, n);
    h.sent();
    assert_eq!(
        removed(&h.changes()),
        vec![pair("sip:bob@example.com", "b1")]
    );
}

#[test]
fn rfc3680_mode_still_treats_version_zero_again_as_stale() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let mut n = established(&mut h, M1, &req, &doc(0, DocState::Full, vec![alice()]));
    h.events();
    let nb = n.notify("active", Some(&doc(0, DocState::Full, vec![bob()])));
    h.deliver(M1, nb);
    h.sent();
    assert!(h.changes().is_empty());
}

#[test]
fn terminated_notify_with_retry_after() {
    let mut h = Harness::new(&[(M1, Transport::Tcp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let mut n = established(&mut h, M1, &req, &doc(0, DocState::Full, vec![alice()]));
    h.events();
    h.advance_to(h.now + Duration::from_secs(10));

    let nb = n.notify("terminated;reason=probation;retry-after=120", None);
    h.deliver(M1, nb);
    assert_eq!(only_response(h.sent()).1.status(), StatusCode::OK);
    let when = h.now;
    let ev = h.events();
    assert!(ev.contains(&SubscriberEvent::SubscriptionState {
        member: 0,
        aor: None,
        state: SubscriptionStatus::Terminated {
            reason: Some("probation".into()),
            retry_at: when + Duration::from_secs(120)
        }
    }));
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: Some(0),
        to: None
    }));
    // The device state is kept (nothing removed while nobody reports).
    assert!(!ev
        .iter()
        .any(|e| matches!(e, SubscriberEvent::DeviceChanged(_))));

    let (at, _, again) = h.run_until_subscribe(Duration::from_secs(200)).unwrap();
    assert_eq!(at, when + Duration::from_secs(120));
    assert_ne!(again.call_id(), req.call_id(), "a new subscription");
    assert!(again.to_tag().is_none());

    // deactivated: re-subscribe at once (RFC 6665 section 4.1.3).
    let mut n = established(&mut h, M1, &again, &doc(0, DocState::Full, vec![alice()]));
    h.events();
    let nb = n.notify("terminated;reason=deactivated", None);
    h.deliver(M1, nb);
    let subs = h.subscribes();
    assert_eq!(subs.len(), 1, "new SUBSCRIBE in the same call");
    assert!(subs[0].1.to_tag().is_none());

    // The old dialog's NOTIFYs are now refused with 481.
    let nb = n.notify("active", None);
    h.deliver(M1, nb);
    assert_eq!(only_response(h.sent()).1.status().as_u16(), 481);
}

#[test]
fn bad_event_489_backs_off_long() {
    let mut h = Harness::new(&[(M1, Transport::Tcp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let bad = Response::for_request(&req, StatusCode::new(489).unwrap(), None)
        .to_tag("x")
        .to_bytes();
    h.deliver(M1, bad);
    let when = h.now;
    let (at, _, _) = h.run_until_subscribe(Duration::from_secs(1000)).unwrap();
    assert_eq!(at - when, Duration::from_secs(600));
}

#[test]
fn split_full_state_on_refresh_emits_no_transient_removals() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let mut n = established(
        &mut h,
        M1,
        &req,
        &doc(0, DocState::Full, vec![alice(), bob()]),
    );
    assert_eq!(h.changes().len(), 2);
    // E2: the full state comes again in two bodies, split between
    // registrations: full (alice), then partial (bob, carol).
    let nb = n.notify("active", Some(&doc(1, DocState::Full, vec![alice()])));
    h.deliver(M1, nb);
    let nb = n.notify(
        "active",
        Some(&doc(2, DocState::Partial, vec![bob(), carol()])),
    );
    h.deliver(M1, nb);
    h.sent();
    assert!(h.changes().is_empty());
    let t = h.now + Duration::from_secs(1);
    h.advance_to(t);
    let ch = h.changes();
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert_eq!(added(&ch), vec![pair("sip:carol@example.com", "c1")]);
}

#[test]
fn not_mine_messages_are_left_alone() {
    let mut h = Harness::new(&[(M1, Transport::Udp)], SubscribeMode::Server);
    let options = Bytes::from_static(
        b"OPTIONS sip:e911@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKo\r\n\
From: <sip:a@b>;tag=1\r\nTo: <sip:e911@192.0.2.10>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    let msg = Message::parse(options).unwrap();
    let handled = h.sub.handle_message(h.now, addr(M1), Transport::Udp, &msg);
    assert_eq!(handled, Handled::NotMine);
    assert!(h.sent().is_empty());
}

#[test]
fn interval_too_brief_retries_with_min_expires() {
    let mut h = Harness::new(&[(M1, Transport::Tcp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let brief = Response::for_request(&req, StatusCode::new(423).unwrap(), None)
        .to_tag("x")
        .raw_header("Min-Expires", "7200")
        .to_bytes();
    h.deliver(M1, brief);
    // At once, not after a backoff, and asking for what the server wants.
    let subs = h.subscribes();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].1.expires().unwrap(), Some(7200));
}

#[test]
fn repeated_gaps_refresh_no_faster_than_the_floor() {
    let mut h = Harness::new(&[(M1, Transport::Tcp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let mut n = established(&mut h, M1, &req, &doc(0, DocState::Full, vec![alice()]));
    // First gap: refresh at once.
    let nb = n.notify("active", Some(&doc(2, DocState::Partial, vec![bob()])));
    h.deliver(M1, nb);
    let r = h.subscribes().remove(0).1;
    let ok = n.ok(&r, 3600);
    h.deliver(M1, ok);
    let first = h.now;
    // A second gap a second later: the refresh waits for the 5 s floor,
    // even though the next NOTIFY re-arms the expiry.
    h.advance_to(first + Duration::from_secs(1));
    let nb = n.notify(
        "active;expires=3599",
        Some(&doc(4, DocState::Partial, vec![carol()])),
    );
    h.deliver(M1, nb);
    assert!(h.subscribes().is_empty());
    let nb = n.notify(
        "active;expires=3598",
        Some(&doc(5, DocState::Partial, vec![])),
    );
    h.deliver(M1, nb);
    let (at, _, r2) = h.run_until_subscribe(Duration::from_secs(60)).unwrap();
    assert_eq!(at, first + Duration::from_secs(5));
    assert_eq!(r2.call_id(), req.call_id());
}

#[test]
fn close_unsubscribes_and_stops_retrying() {
    let mut h = Harness::new(&[(M1, Transport::Tcp)], SubscribeMode::Server);
    h.sub.start(h.now);
    let (_, req) = h.subscribes().remove(0);
    let n = established(&mut h, M1, &req, &doc(0, DocState::Full, vec![alice()]));
    h.sub.close(h.now);
    let subs = h.subscribes();
    assert_eq!(subs.len(), 1);
    let un = &subs[0].1;
    assert_eq!(un.expires().unwrap(), Some(0));
    assert_eq!(un.to_tag(), Some(n.tag.as_str()));
    assert_eq!(un.call_id(), req.call_id());
    // Nothing more goes out, ever.
    assert!(h
        .run_until_subscribe(Duration::from_secs(100_000))
        .is_none());
}

/// E15: a member that dies without a word (SIGKILL: no NOTIFY terminated)
/// is found by the member check. After `member_check` of silence each
/// established member is asked an OPTIONS; an answer (or any message from
/// it) keeps it; no answer within `member_check_timeout` loses its
/// subscription (408, new SUBSCRIBE with backoff), and the next member
/// takes over with what it reported meanwhile: nothing lost.
#[test]
fn e15_silent_member_is_asked_options_and_lost_when_it_does_not_answer() {
    let mut cfg = config();
    cfg.member_check = Some(Duration::from_secs(10));
    cfg.member_check_timeout = Duration::from_secs(5);
    // TCP: no retransmissions muddle what is sent when.
    let mut h = Harness::with_config(
        cfg,
        &[(M1, Transport::Tcp), (M2, Transport::Tcp)],
        SubscribeMode::Server,
    );
    h.sub.start(h.now);
    let subs = h.subscribes();
    let full = doc(0, DocState::Full, vec![alice(), bob()]);
    let _n1 = established(&mut h, M1, &subs[0].1, &full);
    let mut n2 = established(&mut h, M2, &subs[1].1, &full);
    h.events();
    assert_eq!(h.sub.active_member(), Some(0));
    let t0 = h.now;

    // Member 1 dies silently. 3 s later carol registers; only member 2
    // reports it (a NOTIFY: member 2 is alive, its check starts again).
    h.advance_to(t0 + Duration::from_secs(3));
    assert!(h.sent().is_empty(), "nothing to ask yet");
    let nb = n2.notify("active", Some(&doc(1, DocState::Partial, vec![carol()])));
    h.deliver(M2, nb);
    h.sent();
    assert!(h.changes().is_empty(), "member 2 is not the active one");

    // 10 s of silence from member 1: an OPTIONS to it, none to member 2
    // (it spoke at 3 s).
    let next = h.sub.poll_timeout().unwrap();
    assert_eq!(next, t0 + Duration::from_secs(10));
    h.advance_to(next);
    let asked: Vec<(SocketAddr, Request)> = h
        .sent()
        .into_iter()
        .filter_map(|(d, m)| match m {
            Message::Request(r) if *r.method() == Method::Options => Some((d, r)),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, addr(M1));
    assert_eq!(asked[0].1.uri_str(), "sip:10.0.0.1");
    asked[0].1.validate().unwrap();

    // Member 2's turn at 13 s: it answers (even a 405 says it is alive).
    h.advance_to(t0 + Duration::from_secs(13));
    let to_m2: Vec<Request> = h
        .sent()
        .into_iter()
        .filter_map(|(d, m)| match m {
            Message::Request(r) if *r.method() == Method::Options && d == addr(M2) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(to_m2.len(), 1);
    let busy = Response::for_request(&to_m2[0], StatusCode::new(405).unwrap(), None)
        .to_tag("o2")
        .to_bytes();
    h.deliver(M2, busy);
    assert!(h.events().is_empty(), "an answer keeps member 2");

    // 15 s: member 1 never answered. Its subscription is lost and will be
    // asked again in 1 s; member 2 takes over and carol arrives.
    h.advance_to(t0 + Duration::from_secs(15));
    let lost_at = h.now;
    let ev = h.events();
    assert!(
        ev.contains(&SubscriberEvent::SubscriptionState {
            member: 0,
            aor: None,
            state: SubscriptionStatus::Failed {
                status: 408,
                retry_at: lost_at + Duration::from_secs(1)
            }
        }),
        "{ev:?}"
    );
    assert!(ev.contains(&SubscriberEvent::ActiveMemberChanged {
        from: Some(0),
        to: Some(1)
    }));
    let ch: Vec<DeviceChange> = ev
        .into_iter()
        .filter_map(|e| match e {
            SubscriberEvent::DeviceChanged(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(added(&ch), vec![pair("sip:carol@example.com", "c1")]);
    assert_eq!(ch.len(), 1, "alice and bob unchanged: nothing repeated");
    assert!(!h.sub.is_healthy(0));
    assert!(h.sub.is_healthy(1));

    // A new subscription to member 1 goes out with backoff (1 s).
    let (at, dest, req) = h.run_until_subscribe(Duration::from_secs(5)).unwrap();
    assert_eq!((at, dest), (lost_at + Duration::from_secs(1), addr(M1)));
    assert!(req.to_tag().is_none(), "a new subscription");
    // Member 2 is asked again only after 10 s more of silence (23 s).
    assert!(h.sub.poll_timeout().unwrap() <= t0 + Duration::from_secs(23));
}
