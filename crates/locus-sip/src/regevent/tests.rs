//! Reg event notifier tests through the whole [`crate::SipCore`], in
//! virtual time: SUBSCRIBE in, 200 and NOTIFYs out, NOTIFYs answered.

use std::time::Duration;

use sip_transport::{Inbound, Transport};

use crate::bindings::{MemoryStore, StoredBinding};
use crate::config::SipConfig;
use crate::SipCore;

const SERVER: &str = "127.0.0.1:5060";

fn config(max_body: usize) -> SipConfig {
    let mut c = SipConfig {
        listen: vec![format!("udp:{SERVER}")],
        ..SipConfig::default()
    };
    c.media.relay = false;
    c.events.subscription_max_body_size = max_body;
    for i in 0..300 {
        c.users.push(crate::registrar::UserConfig {
            username: format!("user{i}"),
            password: Some("pw".into()),
            ha1_md5: None,
            ha1_sha256: None,
            aors: Vec::new(),
        });
    }
    c
}

fn binding(i: usize, expires_unix: u64) -> StoredBinding {
    let aor = format!("sip:user{i}@127.0.0.1");
    StoredBinding {
        key: format!("uri:sip:user{i}@192.0.2.1:5060"),
        id: crate::registrar::short_id(&[&aor, "k"]),
        aor,
        uri: format!("sip:user{i}@192.0.2.1:{}", 5000 + i),
        q: None,
        instance: Some(format!("\"<urn:uuid:00000000-0000-1000-8000-{i:012}>\"")),
        reg_id: None,
        call_id: format!("c{i}"),
        cseq: 1,
        expires_unix,
        registered_unix: 1_699_999_000,
        source: "192.0.2.1:5060".into(),
        transport: "udp".into(),
    }
}

struct Harness {
    core: SipCore,
    now: std::time::Instant,
    branch: u32,
}

impl Harness {
    /// A core whose wall clock reads 1_700_000_000 at `now`, with `n`
    /// bindings expiring at `expires_unix`.
    fn new(cfg: &SipConfig, n: usize, expires_unix: u64) -> Harness {
        let now = std::time::Instant::now();
        let mut core = SipCore::new(cfg);
        core.set_wall_clock(
            now,
            std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        core.set_binding_store(
            now,
            Box::new(MemoryStore),
            (0..n).map(|i| binding(i, expires_unix)).collect(),
        );
        Harness {
            core,
            now,
            branch: 0,
        }
    }

    /// Runs every timer up to `t`; returns what was sent meanwhile.
    fn advance_to(&mut self, t: std::time::Instant) -> Vec<String> {
        let mut sent = Vec::new();
        while let Some(at) = self.core.poll_timeout().filter(|at| *at <= t) {
            self.now = at;
            self.core.handle_timeout(at);
            sent.extend(self.out());
        }
        self.now = t;
        sent
    }

    fn feed(&mut self, from: &str, text: String) {
        self.core.handle_inbound(
            self.now,
            Inbound {
                bytes: text.into_bytes().into(),
                source: from.parse().unwrap(),
                local: SERVER.parse().unwrap(),
                transport: Transport::Udp,
                conn: None,
            },
        );
    }

    fn out(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(o) = self.core.poll_transmit() {
            v.push(String::from_utf8(o.bytes.to_vec()).unwrap());
        }
        v
    }

    fn subscribe(&mut self, from: &str, ruri: &str, event: &str, expires: u32, extra: &str) {
        self.branch += 1;
        let text = format!(
            "SUBSCRIBE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKs{}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:mgr@{from}>;tag=m1\r\nTo: <{ruri}>{extra}\r\n\
             Call-ID: sub-1\r\nCSeq: {} SUBSCRIBE\r\nContact: <sip:mgr@{from}>\r\n\
             Event: {event}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
            self.branch, self.branch
        );
        self.feed(from, text);
    }

    /// Answers a NOTIFY (its text) with `status`.
    fn answer(&mut self, from: &str, notify: &str, status: u16) {
        let mut s = format!("SIP/2.0 {status} Whatever\r\n");
        for line in notify.split("\r\n") {
            for h in ["Via:", "From:", "To:", "Call-ID:", "CSeq:"] {
                if line.starts_with(h) {
                    s.push_str(line);
                    s.push_str("\r\n");
                }
            }
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        self.feed(from, s);
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn to_tag(resp: &str) -> String {
    header(resp, "To")
        .and_then(|t| t.split(";tag=").nth(1))
        .unwrap()
        .to_owned()
}

const MGR: &str = "127.0.0.1:5070";

#[test]
fn e2_full_state_split_in_order_one_notify_in_flight() {
    let mut h = Harness::new(&config(2048), 300, 1_700_003_600);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 600, "");
    let first = h.out();
    assert_eq!(first.len(), 2, "200 then one NOTIFY: {first:?}");
    assert!(first[0].starts_with("SIP/2.0 200"));
    assert_eq!(header(&first[0], "Expires"), Some("600"));
    let mut docs = Vec::new();
    let mut pending = first[1].clone();
    loop {
        assert!(pending.starts_with("NOTIFY sip:mgr@127.0.0.1:5070 SIP/2.0"));
        assert_eq!(header(&pending, "Event"), Some("reg"));
        assert_eq!(
            header(&pending, "Subscription-State"),
            Some("active;expires=600")
        );
        assert_eq!(
            header(&pending, "Content-Type"),
            Some("application/reginfo+xml")
        );
        let b = body(&pending);
        assert!(b.len() <= 2048, "body of {} bytes", b.len());
        docs.push(reginfo::RegInfo::parse(b.as_bytes()).unwrap());
        let msg = pending.clone();
        h.answer(MGR, &msg, 200);
        let next = h.out();
        match next.len() {
            0 => break,
            1 => pending = next[0].clone(),
            n => panic!("{n} NOTIFYs at once"),
        }
    }
    assert!(docs.len() > 10, "{} bodies", docs.len());
    for (i, d) in docs.iter().enumerate() {
        assert_eq!(d.version, i as u32);
        let want = if i == 0 {
            reginfo::DocState::Full
        } else {
            reginfo::DocState::Partial
        };
        assert_eq!(d.state, want);
    }
    let mut set = reginfo::RegistrationSet::new();
    let _ = set.apply_full(&docs[0]);
    for d in &docs[1..] {
        let _ = set.apply_partial(d);
    }
    assert_eq!(set.len(), 300);
    let c = set.get("sip:user7@127.0.0.1").unwrap();
    assert_eq!(
        c.contacts[0].instance(),
        Some("urn:uuid:00000000-0000-1000-8000-000000000007")
    );
    assert_eq!(c.contacts[0].expires, Some(3600));
}

#[test]
fn e2_zero_is_unlimited_one_full_notify() {
    let mut h = Harness::new(&config(0), 300, 1_700_003_600);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 600, "");
    let out = h.out();
    assert_eq!(out.len(), 2);
    let d = reginfo::RegInfo::parse(body(&out[1]).as_bytes()).unwrap();
    assert_eq!(
        (d.version, d.state, d.registrations.len()),
        (0, reginfo::DocState::Full, 300)
    );
    let msg = out[1].clone();
    h.answer(MGR, &msg, 200);
    assert!(h.out().is_empty());
}

#[test]
fn a_subscription_to_one_aor_sees_only_that_aor_and_expiry_sends_partial() {
    let mut h = Harness::new(&config(14336), 3, 1_700_000_100);
    h.subscribe(MGR, "sip:user1@127.0.0.1", "reg", 3600, "");
    let out = h.out();
    assert!(out[0].starts_with("SIP/2.0 200"), "{out:?}");
    let d = reginfo::RegInfo::parse(body(&out[1]).as_bytes()).unwrap();
    assert_eq!(d.registrations.len(), 1);
    assert_eq!(d.registrations[0].aor, "sip:user1@127.0.0.1");
    let msg = out[1].clone();
    h.answer(MGR, &msg, 200);
    // The bindings expire at +100 s: one partial NOTIFY for user1 only.
    let at = h.now + Duration::from_secs(100);
    assert!(h.advance_to(at - Duration::from_secs(1)).is_empty());
    let out = h.advance_to(at);
    assert_eq!(out.len(), 1, "{out:?}");
    let d = reginfo::RegInfo::parse(body(&out[0]).as_bytes()).unwrap();
    assert_eq!((d.version, d.state), (1, reginfo::DocState::Partial));
    let r = &d.registrations[0];
    assert_eq!(r.aor, "sip:user1@127.0.0.1");
    assert_eq!(r.state, reginfo::RegState::Terminated);
    assert_eq!(r.contacts[0].event, reginfo::ContactEvent::Expired);
    assert_eq!(r.contacts[0].state, reginfo::ContactState::Terminated);
}

#[test]
fn the_subscription_expires_with_a_terminated_notify() {
    let mut h = Harness::new(&config(14336), 1, 1_700_009_000);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 60, "");
    let out = h.out();
    let msg = out[1].clone();
    h.answer(MGR, &msg, 200);
    assert_eq!(h.core.subscriptions(), 1);
    let at = h.now + Duration::from_secs(60);
    assert!(h.advance_to(at - Duration::from_secs(1)).is_empty());
    let out = h.advance_to(at);
    assert_eq!(out.len(), 1);
    assert_eq!(
        header(&out[0], "Subscription-State"),
        Some("terminated;reason=timeout")
    );
    let msg = out[0].clone();
    h.answer(MGR, &msg, 200);
    assert_eq!(h.core.subscriptions(), 0);
}

#[test]
fn refresh_resets_expiry_and_resends_state_and_expires_zero_unsubscribes() {
    let mut h = Harness::new(&config(14336), 2, 1_700_009_000);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 120, "");
    let out = h.out();
    let tag = to_tag(&out[0]);
    let msg = out[1].clone();
    h.answer(MGR, &msg, 200);
    h.now += Duration::from_secs(100);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 120, &format!(";tag={tag}"));
    let out = h.out();
    assert!(out[0].starts_with("SIP/2.0 200"), "{out:?}");
    assert_eq!(header(&out[0], "Expires"), Some("120"));
    let d = reginfo::RegInfo::parse(body(&out[1]).as_bytes()).unwrap();
    assert_eq!((d.version, d.state), (1, reginfo::DocState::Full));
    let msg = out[1].clone();
    h.answer(MGR, &msg, 200);
    // The first expiry (+120 s from the start) passes without a NOTIFY.
    let t = h.now + Duration::from_secs(30);
    assert!(h.advance_to(t).is_empty());
    assert_eq!(h.core.subscriptions(), 1);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 0, &format!(";tag={tag}"));
    let out = h.out();
    assert!(out[0].starts_with("SIP/2.0 200"));
    assert_eq!(
        header(&out[1], "Subscription-State"),
        Some("terminated;reason=timeout")
    );
    let msg = out[1].clone();
    h.answer(MGR, &msg, 200);
    assert_eq!(h.core.subscriptions(), 0);
    // An unknown dialog: 481.
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 120, ";tag=nope");
    assert!(h.out()[0].starts_with("SIP/2.0 481"));
}

#[test]
fn a_481_to_a_notify_ends_the_subscription() {
    let mut h = Harness::new(&config(14336), 1, 1_700_009_000);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 600, "");
    let out = h.out();
    let msg = out[1].clone();
    h.answer(MGR, &msg, 481);
    assert_eq!(h.core.subscriptions(), 0);
}

#[test]
fn e1_other_events_or_a_forbidding_config_get_489() {
    let mut h = Harness::new(&config(14336), 1, 1_700_009_000);
    h.subscribe(MGR, "sip:127.0.0.1", "presence", 600, "");
    let out = h.out();
    assert!(out[0].starts_with("SIP/2.0 489"), "{out:?}");
    assert_eq!(header(&out[0], "Allow-Events"), Some("reg"));
    let mut cfg = config(14336);
    cfg.events.subscription_event_allowed = "presence".into();
    let mut h = Harness::new(&cfg, 1, 1_700_009_000);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 600, "");
    assert!(h.out()[0].starts_with("SIP/2.0 489"));
    cfg.events.subscription_event_allowed = "*".into();
    let mut h = Harness::new(&cfg, 1, 1_700_009_000);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 600, "");
    assert!(h.out()[0].starts_with("SIP/2.0 200"));
}

#[test]
fn untrusted_subscribers_must_authenticate_and_short_expiry_is_423() {
    let mut h = Harness::new(&config(14336), 1, 1_700_009_000);
    h.subscribe("192.0.2.50:5060", "sip:127.0.0.1", "reg", 600, "");
    let out = h.out();
    assert!(out[0].starts_with("SIP/2.0 401"), "{out:?}");
    assert_eq!(out.len(), 1);
    h.subscribe(MGR, "sip:127.0.0.1", "reg", 10, "");
    let out = h.out();
    assert!(out[0].starts_with("SIP/2.0 423"), "{out:?}");
    assert_eq!(header(&out[0], "Min-Expires"), Some("60"));
    h.subscribe(MGR, "sip:nobody@127.0.0.1", "reg", 600, "");
    assert!(h.out()[0].starts_with("SIP/2.0 404"));
}

#[test]
fn events_config_is_validated() {
    let mut c = SipConfig::default();
    c.events.subscription_max_body_size = 500_001;
    c.events.trusted_subscribers = vec!["10.0.0.0/8".into(), "nope".into()];
    c.events.subscription_event_allowed = "re g".into();
    let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
    assert_eq!(
        keys,
        [
            "sip.events.subscription_event_allowed",
            "sip.events.subscription_max_body_size",
            "sip.events.trusted_subscribers[1]",
        ]
    );
}
