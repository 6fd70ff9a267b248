//! E12 (302 with the ELIN), OPTIONS for oos_check, and E11 (PUBLISH of
//! PIDF-LO with the ELIN), on a manual clock.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use locus_e911::redirect::{
    redirect_contact, route, CallerInfo, ElinSource, PublicationKey, Publisher, PublisherConfig,
    PublisherEvent, RedirectConfig, RedirectUas, Route,
};
use locus_e911::subscriber::Handled;
use pidf_lo::{CivicAddress, Elin, LocationDoc};
use sip_core::{HeaderName, Message, Method, Response, StatusCode, Uri};
use sip_transport::Transport;

const SERVER: &str = "10.0.0.1:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn elin(s: &str) -> Elin {
    Elin::parse(s).unwrap()
}

fn invite(branch: &str, call_id: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:911@192.0.2.10:5070 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 69\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=f1\r\n\
         To: <sip:911@192.0.2.10:5070>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@10.1.0.5:5062>;+sip.instance=\"<urn:uuid:0001>\"\r\n\
         P-Asserted-Identity: <sip:alice@example.com>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 4\r\n\r\nv=0\n"
    ))
}

fn ack(branch: &str, call_id: &str, to_tag: &str) -> Bytes {
    Bytes::from(format!(
        "ACK sip:911@192.0.2.10:5070 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=f1\r\n\
         To: <sip:911@192.0.2.10:5070>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

fn request(method: &str, branch: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:e911@192.0.2.10:5070 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:oos@10.0.0.1>;tag=o1\r\n\
         To: <sip:e911@192.0.2.10:5070>\r\n\
         Call-ID: {branch}@10.0.0.1\r\n\
         CSeq: 7 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

struct Uas {
    uas: RedirectUas,
    now: Instant,
}

impl Uas {
    fn new(cfg: RedirectConfig) -> Self {
        Uas {
            uas: RedirectUas::new(cfg),
            now: Instant::now(),
        }
    }

    fn deliver(&mut self, bytes: Bytes, elins: &mut dyn ElinSource) -> Vec<Response> {
        let msg = Message::parse(bytes).unwrap();
        assert_eq!(route(&msg), Route::RedirectUas);
        let h = self
            .uas
            .handle_message(self.now, addr(SERVER), Transport::Udp, &msg, elins);
        assert_eq!(h, Handled::Consumed);
        self.sent()
    }

    fn sent(&mut self) -> Vec<Response> {
        std::iter::from_fn(|| self.uas.poll_transmit())
            .map(|(dest, t, b)| {
                assert_eq!(dest, addr(SERVER));
                assert_eq!(t, Transport::Udp);
                match Message::parse(b).unwrap() {
                    Message::Response(r) => r,
                    Message::Request(_) => panic!("the UAS only answers"),
                }
            })
            .collect()
    }
}

/// The ELIN source of the tests: alice has one.
fn alice_elin(c: &CallerInfo) -> Option<Elin> {
    (c.aor == "sip:alice@example.com").then(|| elin("+15551234567"))
}

#[test]
fn e12_emergency_invite_gets_302_with_elin_in_contact() {
    let mut u = Uas::new(RedirectConfig::default());
    let mut seen = None;
    let mut source = |c: &CallerInfo| {
        seen = Some(c.clone());
        alice_elin(c)
    };
    let out = u.deliver(invite("z9hG4bKinv1", "call-1"), &mut source);
    assert_eq!(out.len(), 1, "302 at once, no 100 Trying first");
    let r = &out[0];
    assert_eq!(r.status(), StatusCode::MOVED_TEMPORARILY);
    assert_eq!(r.reason(), "Moved Temporarily");
    assert!(r.to_tag().is_some());
    assert_eq!(r.call_id(), Some("call-1"));
    assert_eq!(r.cseq().unwrap().method, Method::Invite);

    // Contact: the call server username (911) at the SIP server, with the
    // ELIN as an escaped P-Asserted-Identity URI header (RFC 3261 19.1.1).
    let contact = std::str::from_utf8(r.first(HeaderName::Contact).unwrap()).unwrap();
    assert_eq!(
        contact,
        "<sip:911@10.0.0.1?P-Asserted-Identity=%3Csip:+15551234567%4010.0.0.1%3E>"
    );
    let sip_core::Contacts::List(cs) = r.contacts().unwrap() else {
        panic!("contact list expected")
    };
    let Uri::Sip(uri) = &cs[0].uri else {
        panic!("sip URI expected")
    };
    assert_eq!(uri.user.as_deref(), Some("911"));
    let (name, value) = uri.header_pairs().next().unwrap();
    assert_eq!(name, "P-Asserted-Identity");
    assert_eq!(&*sip_core::unescape(value), b"<sip:+15551234567@10.0.0.1>");

    // The callback saw who called.
    let c = seen.unwrap();
    assert_eq!(c.aor, "sip:alice@example.com");
    assert_eq!(c.user.as_deref(), Some("alice"));
    assert_eq!(c.instance.as_deref(), Some("urn:uuid:0001"));
    assert_eq!(c.contact.as_deref(), Some("sip:alice@10.1.0.5:5062"));
    assert_eq!(c.source, addr(SERVER));

    // The event for the driver to record and alert.
    let ev = u.uas.poll_event().unwrap();
    assert_eq!(ev.caller.call_id, "call-1");
    assert_eq!(ev.caller.from_uri, "sip:alice@example.com");
    assert_eq!(ev.caller.request_uri, "sip:911@192.0.2.10:5070");
    assert_eq!(ev.elin, Some(elin("+15551234567")));
    assert_eq!(ev.contact, contact);
    assert_eq!(ev.at, u.now);
    assert!(u.uas.poll_event().is_none());

    // A configured username and SIP server host.
    let mut u = Uas::new(RedirectConfig {
        username: "9911".into(),
        sip_server_host: Some("sip.example.com".into()),
        ..RedirectConfig::default()
    });
    let out = u.deliver(invite("z9hG4bKinv2", "call-2"), &mut alice_elin);
    assert_eq!(
        out[0].first(HeaderName::Contact),
        Some(
            &b"<sip:9911@sip.example.com?P-Asserted-Identity=%3Csip:+15551234567%40sip.example.com%3E>"[..]
        )
    );
}

#[test]
fn e12_302_without_elin_when_unknown_fails_open() {
    let mut u = Uas::new(RedirectConfig::default());
    let mut none = |_: &CallerInfo| None;
    let out = u.deliver(invite("z9hG4bKinv3", "call-3"), &mut none);
    assert_eq!(out[0].status().as_u16(), 302);
    // No PAI: the SIP server uses its stored ELIN (E8 fail-open), but the
    // call still gets its 302 at once.
    assert_eq!(
        out[0].first(HeaderName::Contact),
        Some(&b"<sip:911@10.0.0.1>"[..])
    );
    let ev = u.uas.poll_event().unwrap();
    assert_eq!(ev.elin, None);
    assert_eq!(ev.contact, "<sip:911@10.0.0.1>");
    assert_eq!(
        redirect_contact("911", "[2001:db8::1]", None),
        "<sip:911@[2001:db8::1]>"
    );
}

#[test]
fn e12_invite_retransmission_absorbed_and_ack_consumed() {
    let mut u = Uas::new(RedirectConfig::default());
    let calls = Cell::new(0);
    let mut counting = |c: &CallerInfo| {
        calls.set(calls.get() + 1);
        alice_elin(c)
    };
    let first = u.deliver(invite("z9hG4bKinv4", "call-4"), &mut counting);
    assert_eq!(first.len(), 1);
    let to_tag = first[0].to_tag().unwrap().to_owned();

    // The INVITE again (the 302 was lost): the same 302, the callback not
    // asked again, no second event.
    u.now += Duration::from_millis(100);
    let again = u.deliver(invite("z9hG4bKinv4", "call-4"), &mut counting);
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].to_bytes(sip_core::HeaderForm::Preserve),
        first[0].to_bytes(sip_core::HeaderForm::Preserve)
    );
    assert_eq!(calls.get(), 1);
    assert!(u.uas.poll_event().is_some());
    assert!(u.uas.poll_event().is_none());

    // Over UDP the 302 is retransmitted (Timer G) until the ACK comes.
    let g = u.uas.poll_timeout().unwrap();
    assert_eq!(
        g,
        u.now - Duration::from_millis(100) + Duration::from_millis(500)
    );
    u.now = g;
    u.uas.handle_timeout(g);
    assert_eq!(u.sent().len(), 1);

    // The ACK is consumed: nothing sent, no event.
    let out = u.deliver(ack("z9hG4bKinv4", "call-4", &to_tag), &mut counting);
    assert!(out.is_empty());
    assert!(u.uas.poll_event().is_none());
    // No more retransmissions; the transaction lingers T4 for stray ACKs,
    // then is gone.
    while let Some(t) = u.uas.poll_timeout() {
        u.now = t;
        u.uas.handle_timeout(t);
        assert!(u.sent().is_empty());
    }
    assert_eq!(u.uas.transaction_count(), 0);
    assert_eq!(calls.get(), 1);

    // A CANCEL for the (already answered) INVITE gets 200; one for an
    // unknown INVITE 481.
    let _ = u.deliver(invite("z9hG4bKinv5", "call-5"), &mut counting);
    let cancel = |branch: &str| {
        Bytes::from(format!(
            "CANCEL sip:911@192.0.2.10:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:911@192.0.2.10:5070>\r\n\
             Call-ID: call-5\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
        ))
    };
    let out = u.deliver(cancel("z9hG4bKinv5"), &mut counting);
    assert_eq!(out[0].status().as_u16(), 200);
    let out = u.deliver(cancel("z9hG4bKnope"), &mut counting);
    assert_eq!(out[0].status().as_u16(), 481);
}

#[test]
fn options_answered_200() {
    let mut u = Uas::new(RedirectConfig::default());
    let mut none = |_: &CallerInfo| None;
    let out = u.deliver(request("OPTIONS", "z9hG4bKopt1"), &mut none);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status(), StatusCode::OK);
    assert_eq!(
        out[0].first(HeaderName::Allow),
        Some(&b"INVITE, ACK, CANCEL, OPTIONS"[..])
    );
    assert!(out[0].to_tag().is_some());
    // A retransmitted OPTIONS gets the same answer from the transaction.
    let again = u.deliver(request("OPTIONS", "z9hG4bKopt1"), &mut none);
    assert_eq!(again[0].to_tag(), out[0].to_tag());

    // Methods the manager does not take.
    for (m, status) in [
        ("REGISTER", 405),
        ("SUBSCRIBE", 405),
        ("MESSAGE", 405),
        ("BYE", 481),
        ("FROB", 501),
    ] {
        let out = u.deliver(request(m, &format!("z9hG4bK{m}")), &mut none);
        assert_eq!(out[0].status().as_u16(), status, "{m}");
        if status == 405 {
            assert!(out[0].first(HeaderName::Allow).is_some());
        }
    }
    assert!(u.uas.poll_event().is_none());
}

#[test]
fn routing_of_received_messages() {
    let notify = Message::parse(request("NOTIFY", "z9hG4bKn")).unwrap();
    assert_eq!(route(&notify), Route::Subscriber);
    let inv = Message::parse(invite("z9hG4bKr", "r")).unwrap();
    assert_eq!(route(&inv), Route::RedirectUas);
    let Message::Request(req) = inv else {
        unreachable!()
    };
    let resp = |m: &str| {
        let b = Response::for_request(&req, StatusCode::OK, None).to_bytes();
        let s = String::from_utf8(b.to_vec())
            .unwrap()
            .replace("1 INVITE", &format!("1 {m}"));
        Message::parse(Bytes::from(s)).unwrap()
    };
    assert_eq!(route(&resp("SUBSCRIBE")), Route::Subscriber);
    assert_eq!(route(&resp("OPTIONS")), Route::Subscriber);
    assert_eq!(route(&resp("PUBLISH")), Route::Publisher);
    assert_eq!(route(&resp("INVITE")), Route::Drop);
}

fn location(e: &str) -> LocationDoc {
    let mut d = LocationDoc::new("pres:alice@example.com");
    d.device_id = Some("urn:uuid:0001".into());
    d.civic = CivicAddress {
        country: Some("US".into()),
        a1: Some("CA".into()),
        a3: Some("San Jose".into()),
        rd: Some("Main".into()),
        hno: Some("100".into()),
        flr: Some("3".into()),
        ..CivicAddress::default()
    };
    d.elin = Some(elin(e));
    d
}

#[test]
fn e11_publish_carries_pidf_with_elin_and_refreshes_with_etag() {
    let cfg = PublisherConfig::new("sip:e911@192.0.2.10:5070", "192.0.2.10:5070");
    let mut p = Publisher::new(cfg, addr(SERVER), Transport::Tcp);
    let t0 = Instant::now();
    let sent = |p: &mut Publisher| -> Vec<sip_core::Request> {
        std::iter::from_fn(|| p.poll_transmit())
            .map(|(d, t, b)| {
                assert_eq!((d, t), (addr(SERVER), Transport::Tcp));
                match Message::parse(b).unwrap() {
                    Message::Request(r) => r,
                    Message::Response(_) => panic!("the publisher only sends requests"),
                }
            })
            .collect()
    };
    let answer = |p: &mut Publisher,
                  now: Instant,
                  r: &sip_core::Request,
                  status: u16,
                  extra: &[(&str, &str)]| {
        let mut b = Response::for_request(r, StatusCode::new(status).unwrap(), None).to_tag("pt");
        for (n, v) in extra {
            b = b.raw_header(n, v);
        }
        let m = Message::parse(b.to_bytes()).unwrap();
        assert_eq!(route(&m), Route::Publisher);
        assert_eq!(
            p.handle_message(now, addr(SERVER), Transport::Tcp, &m),
            Handled::Consumed
        );
    };

    let key = p.publish(t0, "sip:alice@example.com", location("+15551234567"));
    assert_eq!(
        key,
        PublicationKey {
            aor: "sip:alice@example.com".into(),
            device_id: Some("urn:uuid:0001".into())
        }
    );
    let out = sent(&mut p);
    assert_eq!(out.len(), 1);
    let first = &out[0];
    assert_eq!(*first.method(), Method::Publish);
    assert_eq!(first.uri_str(), "sip:alice@example.com");
    assert_eq!(first.event().unwrap().unwrap().value, "presence");
    assert_eq!(first.expires().unwrap(), Some(3600));
    assert!(
        first.first(HeaderName::SipIfMatch).is_none(),
        "initial PUBLISH"
    );
    assert!(first
        .content_type()
        .unwrap()
        .unwrap()
        .is("application", "pidf+xml"));
    let doc = LocationDoc::parse(first.body()).unwrap();
    assert_eq!(doc.elin, Some(elin("+15551234567")));
    assert_eq!(doc.device_id.as_deref(), Some("urn:uuid:0001"));
    assert_eq!(doc.civic.flr.as_deref(), Some("3"));
    first.validate().unwrap();

    // 2xx: ETag stored, refresh at 80 % of the granted 600 s.
    answer(
        &mut p,
        t0,
        first,
        200,
        &[("SIP-ETag", "e1"), ("Expires", "600")],
    );
    assert_eq!(
        p.poll_event(),
        Some(PublisherEvent::Published {
            key: key.clone(),
            etag: Some("e1".into()),
            expires: Duration::from_secs(600)
        })
    );
    assert_eq!(p.etag(&key), Some("e1"));
    let mut now = t0;
    while let Some(t) = p.poll_timeout() {
        now = t;
        p.handle_timeout(t);
        if now >= t0 + Duration::from_secs(480) {
            break;
        }
    }
    assert_eq!(now, t0 + Duration::from_secs(480));
    let out = sent(&mut p);
    assert_eq!(out.len(), 1);
    let refresh = &out[0];
    assert_eq!(refresh.first(HeaderName::SipIfMatch), Some(&b"e1"[..]));
    assert!(refresh.body().is_empty(), "a refresh carries no body");
    assert_eq!(refresh.call_id(), first.call_id());
    assert_eq!(refresh.cseq().unwrap().seq, 2);

    // The server forgot the entity: 412, then a fresh PUBLISH with the
    // document and no SIP-If-Match, in the same call.
    answer(&mut p, now, refresh, 412, &[]);
    let out = sent(&mut p);
    assert_eq!(out.len(), 1);
    let fresh = &out[0];
    assert!(fresh.first(HeaderName::SipIfMatch).is_none());
    assert_eq!(
        LocationDoc::parse(fresh.body()).unwrap().elin,
        Some(elin("+15551234567"))
    );
    answer(
        &mut p,
        now,
        fresh,
        200,
        &[("SIP-ETag", "e2"), ("Expires", "3600")],
    );
    assert_eq!(p.etag(&key), Some("e2"));

    // The device moves: a modification carries the new ELIN with
    // SIP-If-Match.
    let _ = std::iter::from_fn(|| p.poll_event()).count();
    p.publish(now, "sip:alice@example.com", location("+15557654321"));
    let out = sent(&mut p);
    let modify = &out[0];
    assert_eq!(modify.first(HeaderName::SipIfMatch), Some(&b"e2"[..]));
    assert_eq!(
        LocationDoc::parse(modify.body()).unwrap().elin,
        Some(elin("+15557654321"))
    );

    // A second change while that PUBLISH is out waits for its answer.
    p.publish(now, "sip:alice@example.com", location("+15550000001"));
    assert!(sent(&mut p).is_empty());
    answer(&mut p, now, modify, 200, &[("SIP-ETag", "e3")]);
    let out = sent(&mut p);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].first(HeaderName::SipIfMatch), Some(&b"e3"[..]));
    assert_eq!(
        LocationDoc::parse(out[0].body()).unwrap().elin,
        Some(elin("+15550000001"))
    );

    // Errors back off (1 s, at least Retry-After).
    answer(&mut p, now, &out[0], 503, &[("Retry-After", "20")]);
    let ev: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
    assert!(ev.contains(&PublisherEvent::Failed {
        key: key.clone(),
        status: 503,
        retry_at: now + Duration::from_secs(20)
    }));
    let t = p.poll_timeout().unwrap();
    assert!(t <= now + Duration::from_secs(20));
    while let Some(t) = p.poll_timeout() {
        now = t;
        p.handle_timeout(t);
        if !sent(&mut p).is_empty() {
            break;
        }
    }
    assert_eq!(now, t0 + Duration::from_secs(480) + Duration::from_secs(20));

    // Removal: Expires 0 with SIP-If-Match.
    let mut p2 = Publisher::new(
        PublisherConfig::new("sip:e911@192.0.2.10:5070", "192.0.2.10:5070"),
        addr(SERVER),
        Transport::Tcp,
    );
    let k2 = p2.publish(t0, "sip:bob@example.com", location("+15551112222"));
    let r = sent(&mut p2).remove(0);
    answer(&mut p2, t0, &r, 200, &[("SIP-ETag", "b1")]);
    p2.unpublish(t0, &k2);
    let r = sent(&mut p2).remove(0);
    assert_eq!(r.expires().unwrap(), Some(0));
    assert_eq!(r.first(HeaderName::SipIfMatch), Some(&b"b1"[..]));
    assert!(r.body().is_empty());
    answer(&mut p2, t0, &r, 200, &[]);
    let ev: Vec<_> = std::iter::from_fn(|| p2.poll_event()).collect();
    assert!(ev.contains(&PublisherEvent::Removed { key: k2 }));
    assert!(p2.is_empty());
}

/// E11 at scale: a download places thousands of devices at once; at most
/// `max_in_flight` PUBLISHes are out at a time, each answer lets the next
/// waiting one go, in order, and every publication is refreshed on time.
#[test]
fn e11_publishes_go_out_through_a_window_in_order() {
    let mut cfg = PublisherConfig::new("sip:e911@192.0.2.10:5070", "192.0.2.10:5070");
    cfg.max_in_flight = 4;
    let mut p = Publisher::new(cfg, addr(SERVER), Transport::Tcp);
    let t0 = Instant::now();
    let sent = |p: &mut Publisher| -> Vec<sip_core::Request> {
        std::iter::from_fn(|| p.poll_transmit())
            .map(|(_, _, b)| match Message::parse(b).unwrap() {
                Message::Request(r) => r,
                Message::Response(_) => panic!("the publisher only sends requests"),
            })
            .collect()
    };
    let ok = |p: &mut Publisher, now: Instant, r: &sip_core::Request| {
        let b = Response::for_request(r, StatusCode::OK, None)
            .to_tag("pt")
            .raw_header("SIP-ETag", "e1")
            .raw_header("Expires", "600")
            .to_bytes();
        let m = Message::parse(b).unwrap();
        let _ = p.handle_message(now, addr(SERVER), Transport::Tcp, &m);
    };
    for i in 0..10 {
        let mut doc = location("+15551234567");
        doc.device_id = Some(format!("urn:uuid:{i:04}"));
        p.publish(t0, &format!("sip:u{i}@example.com"), doc);
    }
    let first = sent(&mut p);
    let uris: Vec<_> = first.iter().map(|r| r.uri_str().to_owned()).collect();
    assert_eq!(
        uris,
        [
            "sip:u0@example.com",
            "sip:u1@example.com",
            "sip:u2@example.com",
            "sip:u3@example.com"
        ]
    );
    assert_eq!(p.in_flight(), 4);
    // One answer, one more PUBLISH: the next in order.
    ok(&mut p, t0, &first[0]);
    let next = sent(&mut p);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].uri_str(), "sip:u4@example.com");
    let mut out: Vec<_> = first[1..].iter().chain(&next).cloned().collect();
    let mut done = 1;
    while let Some(r) = out.pop() {
        ok(&mut p, t0, &r);
        done += 1;
        out.extend(sent(&mut p));
        assert!(p.in_flight() <= 4);
    }
    assert_eq!(done, 10, "every publication went out once");
    // The ended transactions' timers first (nothing to send), then the
    // refreshes (80 % of 600 s) come due together and share the window.
    p.handle_timeout(t0);
    assert!(sent(&mut p).is_empty());
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(480)));
    p.handle_timeout(t0 + Duration::from_secs(480));
    let refreshes = sent(&mut p);
    assert_eq!(refreshes.len(), 4);
    assert!(refreshes
        .iter()
        .all(|r| r.first(HeaderName::SipIfMatch).is_some() && r.body().is_empty()));
}
