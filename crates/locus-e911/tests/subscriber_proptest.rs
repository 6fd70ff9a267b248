//! Properties of the subscriber and the redirect UAS under arbitrary
//! input: no panic, no busy loop, and (E15) the device changes passed on,
//! replayed, always equal the active member's state: nothing lost, nothing
//! duplicated, across versions, gaps, terminations and switch-overs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use locus_e911::redirect::{CallerInfo, RedirectConfig, RedirectUas};
use locus_e911::subscriber::{
    Member, SubscribeMode, Subscriber, SubscriberConfig, SubscriberEvent,
};
use pidf_lo::Elin;
use proptest::prelude::*;
use reginfo::{
    Contact, ContactState, DeviceChange, DocState, QuirkMode, RegInfo, RegState, Registration,
    RegistrationSet,
};
use sip_core::{Message, Method, Response, StatusCode};
use sip_transport::Transport;

const MEMBERS: [&str; 2] = ["10.0.0.1:5060", "10.0.0.2:5060"];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    /// A NOTIFY on member `m`'s current dialog.
    Notify {
        m: usize,
        full: bool,
        /// Added to the member's last version (0 repeats it: stale).
        step: u32,
        regs: Vec<(u8, u8, bool)>,
        state: u8,
    },
    /// A NOTIFY with an arbitrary body.
    Garbage { m: usize, body: Vec<u8> },
    /// The next SUBSCRIBE to member `m` gets this status.
    Reject { m: usize, status: u16 },
    /// Time passes.
    Advance { secs: u16 },
    /// Arbitrary bytes arrive.
    Raw { m: usize, bytes: Vec<u8> },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, any::<bool>(), 0..3u32, prop::collection::vec((0..3u8, 0..2u8, any::<bool>()), 0..5), 0..6u8)
            .prop_map(|(m, full, step, regs, state)| Op::Notify { m, full, step, regs, state }),
        1 => (0..2usize, prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(m, body)| Op::Garbage { m, body }),
        1 => (0..2usize, prop_oneof![Just(403u16), Just(489), Just(500), Just(503), 300..700u16])
            .prop_map(|(m, status)| Op::Reject { m, status }),
        3 => (0..4000u16).prop_map(|secs| Op::Advance { secs }),
        1 => (0..2usize, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(m, bytes)| Op::Raw { m, bytes }),
    ]
}

#[derive(Default)]
struct Dialog {
    call_id: String,
    our_tag: String,
    version: u32,
    cseq: u32,
    branch: u32,
}

struct World {
    sub: Subscriber,
    now: Instant,
    dialogs: [Option<Dialog>; 2],
    reject: [Option<u16>; 2],
    /// The application's view, rebuilt from the events.
    view: BTreeMap<(String, String), Contact>,
    /// What each notifier holds: sent as full state on every accepted
    /// SUBSCRIBE, as a real notifier does.
    truth: [RegistrationSet; 2],
}

impl World {
    fn new(seed: u64) -> Self {
        let mut cfg = SubscriberConfig::new(
            "sip:e911@192.0.2.10",
            "sip:e911@192.0.2.10",
            "192.0.2.10:5070",
        );
        cfg.rng_seed = seed;
        let members = MEMBERS
            .iter()
            .map(|a| Member::new(addr(a), Transport::Tcp))
            .collect();
        let now = Instant::now();
        let mut sub = Subscriber::new(cfg, members, SubscribeMode::Server);
        sub.start(now);
        let mut w = World {
            sub,
            now,
            dialogs: [None, None],
            reject: [None, None],
            view: BTreeMap::new(),
            truth: [RegistrationSet::new(), RegistrationSet::new()],
        };
        w.settle();
        w
    }

    fn deliver(&mut self, m: usize, bytes: Bytes) {
        if let Ok(msg) = Message::parse(bytes) {
            let _ = self
                .sub
                .handle_message(self.now, addr(MEMBERS[m]), Transport::Tcp, &msg);
        }
        self.settle();
    }

    /// Plays the notifiers' side of what the subscriber sent, and replays
    /// its events into the view.
    fn settle(&mut self) {
        loop {
            let mut any = false;
            let mut full_for = Vec::new();
            while let Some((dest, _, bytes)) = self.sub.poll_transmit() {
                any = true;
                let m = MEMBERS
                    .iter()
                    .position(|a| addr(a) == dest)
                    .expect("sent to a member");
                let Ok(Message::Request(r)) = Message::parse(bytes) else {
                    continue; // responses to NOTIFYs
                };
                assert_eq!(*r.method(), Method::Subscribe);
                let status = if r.to_tag().is_none() {
                    self.reject[m].take().unwrap_or(200)
                } else {
                    200
                };
                if status == 200 && r.to_tag().is_none() {
                    self.dialogs[m] = Some(Dialog {
                        call_id: r.call_id().unwrap().to_owned(),
                        our_tag: r.from_tag().unwrap().to_owned(),
                        ..Dialog::default()
                    });
                }
                let resp = Response::for_request(&r, StatusCode::new(status).unwrap(), None)
                    .to_tag(&format!("n{m}"))
                    .raw_header("Expires", "3600")
                    .to_bytes();
                let msg = Message::parse(resp).unwrap();
                let _ = self
                    .sub
                    .handle_message(self.now, dest, Transport::Tcp, &msg);
                if status == 200 && r.expires().ok().flatten() != Some(0) {
                    full_for.push(m);
                }
            }
            while let Some(e) = self.sub.poll_event() {
                any = true;
                if let SubscriberEvent::DeviceChanged(c) = e {
                    self.replay(c);
                }
            }
            for m in full_for {
                self.send_full(m);
            }
            if !any {
                break;
            }
        }
    }

    /// The notifier's full state, next version.
    fn send_full(&mut self, m: usize) {
        let Some(d) = self.dialogs[m].as_mut() else {
            return;
        };
        let version = if d.cseq == 0 {
            0
        } else {
            d.version.saturating_add(1)
        };
        d.version = version;
        let doc = self.truth[m].to_reginfo(version);
        self.notify(
            m,
            "active;expires=3600",
            Some((doc.to_xml_string(), "application/reginfo+xml")),
        );
    }

    fn replay(&mut self, c: DeviceChange) {
        match c {
            DeviceChange::Added { aor, contact } => {
                let old = self.view.insert((aor, contact.id.clone()), contact);
                assert!(old.is_none(), "device added twice");
            }
            DeviceChange::Updated { aor, old, new } => {
                assert_eq!(old.id, new.id);
                let prev = self.view.insert((aor, new.id.clone()), new);
                assert!(prev.is_some(), "update of an unknown device");
            }
            DeviceChange::Removed { aor, contact, .. } => {
                let prev = self.view.remove(&(aor, contact.id));
                assert!(prev.is_some(), "removal of an unknown device");
            }
        }
    }

    fn notify(&mut self, m: usize, state: &str, body: Option<(String, &str)>) {
        let Some(d) = self.dialogs[m].as_mut() else {
            return;
        };
        d.cseq += 1;
        d.branch += 1;
        let (ct, body) = match body {
            Some((b, ct)) => (format!("Content-Type: {ct}\r\n"), b),
            None => (String::new(), String::new()),
        };
        let bytes = Bytes::from(format!(
            "NOTIFY sip:e911@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/TCP {at};branch=z9hG4bKp{m}x{b}x{cid}\r\n\
             From: <sip:{at}>;tag=n{m}\r\nTo: <sip:e911@192.0.2.10>;tag={ours}\r\nCall-ID: {cid}\r\n\
             CSeq: {cseq} NOTIFY\r\nEvent: reg\r\nSubscription-State: {state}\r\n{ct}Content-Length: {len}\r\n\r\n{body}",
            at = MEMBERS[m],
            b = d.branch,
            cid = d.call_id,
            ours = d.our_tag,
            cseq = d.cseq,
            len = body.len(),
        ));
        if state.starts_with("terminated") {
            self.dialogs[m] = None;
        }
        self.deliver(m, bytes);
    }

    fn advance(&mut self, secs: u64) {
        let end = self.now + Duration::from_secs(secs);
        while let Some(t) = self.sub.poll_timeout() {
            if t > end {
                break;
            }
            assert!(t >= self.now || t + Duration::from_secs(1) > self.now);
            self.now = t.max(self.now);
            self.sub.handle_timeout(self.now);
            // No busy loop: after handling a time, the next is later.
            if let Some(n) = self.sub.poll_timeout() {
                assert!(n > self.now, "poll_timeout did not move past now");
            }
            self.settle();
        }
        self.now = end;
        self.sub.handle_timeout(end);
        self.settle();
    }

    fn check_view(&self) {
        if let Some(a) = self.sub.active_member() {
            let set = self.sub.member_registrations(a).unwrap();
            let expected: BTreeMap<(String, String), Contact> = set
                .contacts()
                .map(|(aor, c)| ((aor.to_owned(), c.id.clone()), c.clone()))
                .collect();
            assert_eq!(
                self.view, expected,
                "the application's view drifted from member {a}"
            );
        }
    }
}

fn regs_doc(version: u32, full: bool, regs: &[(u8, u8, bool)]) -> RegInfo {
    let mut by_aor: BTreeMap<u8, Registration> = BTreeMap::new();
    for &(a, c, active) in regs {
        let aor = format!("sip:u{a}@example.com");
        let r = by_aor
            .entry(a)
            .or_insert_with(|| Registration::new(aor.clone(), format!("r{a}"), RegState::Active));
        let mut contact = Contact::new(format!("c{a}-{c}"), format!("sip:u{a}@10.1.0.{c}"));
        contact.expires = Some(u64::from(version) % 7 + 60);
        if !active {
            contact.state = ContactState::Terminated;
            contact.event = reginfo::ContactEvent::Unregistered;
        }
        if !r.contacts.iter().any(|o| o.id == contact.id) {
            r.contacts.push(contact);
        }
    }
    RegInfo {
        version,
        state: if full {
            DocState::Full
        } else {
            DocState::Partial
        },
        registrations: by_aor.into_values().collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// E15: whatever the NOTIFYs, failures and switch-overs, replaying the
    /// changes passed on gives the active member's state, and no change
    /// is passed on twice or for a device the application never saw.
    #[test]
    fn replayed_changes_match_the_active_member(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..40)) {
        let mut w = World::new(seed);
        for op in ops {
            match op {
                Op::Notify { m, full, step, regs, state } => {
                    let Some(d) = w.dialogs[m].as_mut() else { continue };
                    let version = if d.version == 0 && d.cseq == 0 { 0 } else { d.version.saturating_add(step) };
                    d.version = version;
                    let doc = regs_doc(version, full, &regs);
                    let _ = w.truth[m].apply(&doc, QuirkMode::Rfc3680);
                    let st = match state {
                        0 => "terminated;reason=deactivated",
                        1 => "terminated;reason=probation;retry-after=30",
                        2 => "pending",
                        _ => "active;expires=3600",
                    };
                    w.notify(m, st, Some((doc.to_xml_string(), "application/reginfo+xml")));
                }
                Op::Garbage { m, body } => {
                    let body = String::from_utf8_lossy(&body).replace('\r', "");
                    w.notify(m, "active", Some((body, "application/reginfo+xml")));
                }
                Op::Reject { m, status } => w.reject[m] = Some(status),
                Op::Advance { secs } => w.advance(u64::from(secs)),
                Op::Raw { m, bytes } => w.deliver(m, Bytes::from(bytes)),
            }
        }
        // Let every settle window close, without new NOTIFYs. A refresh that
        // falls at the end of the window re-opens a 1 s settle window (the
        // subscriber holds changes back after a new full state), so keep
        // going while a deadline is that close.
        w.advance(15);
        for _ in 0..10 {
            match w.sub.poll_timeout() {
                Some(t) if t <= w.now + Duration::from_secs(2) => w.advance(2),
                _ => break,
            }
        }
        w.check_view();
    }

    /// The redirect UAS answers or drops anything without panicking.
    #[test]
    fn redirect_uas_never_panics(
        method in prop_oneof![Just("INVITE".to_owned()), Just("ACK".to_owned()), Just("CANCEL".to_owned()), Just("OPTIONS".to_owned()), Just("BYE".to_owned()), "[A-Z]{1,8}"],
        user in "[a-z0-9%+]{0,12}",
        pai in proptest::option::of("[ -~]{0,40}"),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        elin in proptest::option::of("\\+1[0-9]{10}"),
    ) {
        let mut uas = RedirectUas::new(RedirectConfig::default());
        let now = Instant::now();
        let pai = pai.map(|p| format!("P-Asserted-Identity: {p}\r\n")).unwrap_or_default();
        let mut raw = format!(
            "{method} sip:{user}@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKq\r\n\
             From: <sip:{user}@example.com>;tag=1\r\nTo: <sip:911@192.0.2.10>\r\nCall-ID: q\r\n\
             CSeq: 1 {method}\r\n{pai}Content-Length: 0\r\n\r\n"
        ).into_bytes();
        let mut source = |_: &CallerInfo| elin.as_deref().and_then(|e| Elin::parse(e).ok());
        if let Ok(msg) = Message::parse(Bytes::from(raw.clone())) {
            let _ = uas.handle_message(now, addr(MEMBERS[0]), Transport::Udp, &msg, &mut source);
        }
        raw.extend_from_slice(&tail);
        if let Ok(msg) = Message::parse_datagram(Bytes::from(raw)) {
            let _ = uas.handle_message(now, addr(MEMBERS[0]), Transport::Udp, &msg, &mut source);
        }
        while let Some((_, _, b)) = uas.poll_transmit() {
            // Everything we send parses back.
            prop_assert!(Message::parse(b).is_ok());
        }
        let mut t = now;
        while let Some(next) = uas.poll_timeout() {
            prop_assert!(next >= t);
            t = next;
            uas.handle_timeout(t);
        }
    }
}
