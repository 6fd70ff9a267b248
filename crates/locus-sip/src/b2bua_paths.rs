//! The B2BUA's cleanup paths through the whole [`crate::SipCore`], in
//! virtual time (issue 3 item 2): the carrier's ACK for the 2xx is late or
//! lost while the far end retransmits its own 2xx.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::SipConfig;
use crate::routes::InboundRoute;
use crate::SipCore;

const CARRIER: &str = "127.0.0.2:5060";
const FAR: &str = "127.0.0.6:5070";
const T1: Duration = Duration::from_millis(50);

use crate::trunk::tests::voice as trunk;

const SDP: &str = "v=0\r\no=x 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\n\
    t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A core with the carrier on 127.0.0.2 and its DID routed to the far end.
struct Pair {
    core: SipCore,
    now: Instant,
}

impl Pair {
    fn new() -> Pair {
        let mut config = SipConfig {
            listen: vec!["udp:127.0.0.1:5060".into()],
            trunks: vec![
                trunk("carrier", "127.0.0.2", &[]),
                trunk("far", "127.0.0.6", &[FAR]),
            ],
            ..SipConfig::default()
        };
        config.timers.t1_ms = T1.as_millis() as u64;
        config.media.relay = false;
        config.routes.inbound = vec![InboundRoute {
            did: "+15551230000".into(),
            uri: None,
            trunks: vec!["far".into()],
            outbound_routes: false,
        }];
        Pair {
            core: SipCore::new(&config),
            now: Instant::now(),
        }
    }

    fn feed(&mut self, from: &str, text: &str) -> Vec<(SocketAddr, String)> {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        self.core.handle_inbound(
            self.now,
            sip_transport::Inbound {
                bytes: bytes::Bytes::from(text.to_owned()),
                source: addr(from),
                local: addr("127.0.0.1:5060"),
                transport: sip_transport::Transport::Udp,
                conn: None,
            },
        );
        self.out()
    }

    fn out(&mut self) -> Vec<(SocketAddr, String)> {
        let mut v = Vec::new();
        while let Some(o) = self.core.poll_transmit() {
            v.push((o.dest, String::from_utf8(o.bytes.to_vec()).unwrap()));
        }
        v
    }

    /// Runs every timer up to `now + d`; what was sent meanwhile.
    fn advance(&mut self, d: Duration) -> Vec<(SocketAddr, String)> {
        let t = self.now + d;
        let mut sent = Vec::new();
        while let Some(at) = self.core.poll_timeout().filter(|at| *at <= t) {
            self.now = at.max(self.now);
            self.core.handle_timeout(self.now);
            sent.extend(self.out());
        }
        self.now = t;
        sent
    }

    /// The carrier's INVITE, relayed: the INVITE the far end gets.
    fn call(&mut self) -> String {
        let invite = format!(
            "INVITE sip:+15551230000@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKa1\r\n\
             From: <sip:+15550001000@127.0.0.2>;tag=c1\r\n\
             To: <sip:+15551230000@127.0.0.1>\r\nCall-ID: paths-a\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:+15550001000@{CARRIER}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
        let out = self.feed(CARRIER, &invite);
        out.iter()
            .find(|(to, m)| to.to_string() == FAR && m.starts_with("INVITE "))
            .map(|(_, m)| m.clone())
            .expect("INVITE to the far end")
    }

    /// The carrier's INVITE answered by the far end: Locus's 200 to the
    /// carrier, and the far end's 200 (to feed again as a retransmission).
    fn answered_call(&mut self) -> (String, String) {
        let b_invite = self.call();
        let ok = far_response(&b_invite, "200 OK", true);
        let out = self.feed(FAR, &ok);
        let a_ok = out
            .iter()
            .find(|(to, m)| to.to_string() == CARRIER && m.starts_with("SIP/2.0 200 "))
            .map(|(_, m)| m.clone())
            .expect("200 to the carrier");
        (a_ok, ok)
    }
}

/// The far end's response to Locus's INVITE, with its To tag `f1`.
fn far_response(b_invite: &str, status: &str, sdp: bool) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for line in b_invite.split("\r\n") {
        if ["Via:", "From:", "Call-ID:", "CSeq:"]
            .iter()
            .any(|h| line.starts_with(h))
        {
            r.push_str(line);
            r.push_str("\r\n");
        } else if line.starts_with("To:") {
            r.push_str(&format!("{line};tag=f1\r\n"));
        }
    }
    r.push_str(&format!("Contact: <sip:far@{FAR}>\r\n"));
    if sdp {
        let body = SDP.replace("127.0.0.2", "127.0.0.6");
        r.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        r.push_str("Content-Length: 0\r\n\r\n");
    }
    r
}

fn to_tag(msg: &str) -> &str {
    msg.split("\r\n")
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .expect("To tag")
}

/// The distinct `method` requests sent to `to` (retransmissions counted
/// once).
fn requests<'a>(out: &'a [(SocketAddr, String)], method: &str, to: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = out
        .iter()
        .filter(|(d, m)| d.to_string() == to && m.starts_with(&format!("{method} ")))
        .map(|(_, m)| m.as_str())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn far_ends_2xx_retransmitted_before_the_carriers_ack_does_not_end_the_call() {
    // RFC 3261 section 13.3.1.4: the far end retransmits its 2xx until it
    // gets an ACK; Locus sends that ACK end to end when the carrier's comes.
    // A retransmission meanwhile is the same answer, not a late one.
    let mut p = Pair::new();
    let (a_ok, b_ok) = p.answered_call();
    let mut out = p.advance(10 * T1);
    out.extend(p.feed(FAR, &b_ok));
    assert!(requests(&out, "BYE", FAR).is_empty(), "{out:#?}");
    assert!(requests(&out, "BYE", CARRIER).is_empty(), "{out:#?}");
    assert_eq!(p.core.calls(), 1, "the call is up");
    let ack = format!(
        "ACK sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKa2\r\n\
         From: <sip:+15550001000@127.0.0.2>;tag=c1\r\n\
         To: <sip:+15551230000@127.0.0.1>;tag={}\r\nCall-ID: paths-a\r\n\
         CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        to_tag(&a_ok)
    );
    let out = p.feed(CARRIER, &ack);
    assert_eq!(
        requests(&out, "ACK", FAR).len(),
        1,
        "the ACK goes end to end"
    );
    assert_eq!(p.core.calls(), 1);
}

#[test]
fn lost_ack_the_far_ends_retransmissions_wait_for_timer_h_then_bye_both_ways() {
    // The carrier never ACKs: the far end's 2xx retransmissions change
    // nothing; at Timer H (64 T1) Locus ACKs the far end's 2xx and sends BYE
    // to both legs, and the call is gone.
    let mut p = Pair::new();
    let (_, b_ok) = p.answered_call();
    let mut out = Vec::new();
    for _ in 0..5 {
        out.extend(p.advance(10 * T1));
        out.extend(p.feed(FAR, &b_ok));
    }
    assert!(requests(&out, "BYE", FAR).is_empty(), "{out:#?}");
    assert_eq!(p.core.calls(), 1);
    let out = p.advance(64 * T1);
    assert_eq!(requests(&out, "ACK", FAR).len(), 1, "{out:#?}");
    assert_eq!(requests(&out, "BYE", FAR).len(), 1, "{out:#?}");
    assert_eq!(requests(&out, "BYE", CARRIER).len(), 1, "{out:#?}");
    assert_eq!(p.core.calls(), 0, "no call left");
}

#[test]
fn far_ends_200_after_the_call_ended_is_acked_and_ended_with_bye() {
    // CANCEL racing a 200: the carrier CANCELs after the 180 (Locus relays
    // the CANCEL), then sends BYE in the early dialog, which ends the call;
    // the far end's 200 was on its way. That 200 still gets ACK and BYE,
    // or the far end keeps a dialog nobody ends.
    let mut p = Pair::new();
    let b_invite = p.call();
    let out = p.feed(FAR, &far_response(&b_invite, "180 Ringing", false));
    let a_180 = out
        .iter()
        .find(|(to, m)| to.to_string() == CARRIER && m.starts_with("SIP/2.0 180 "))
        .map(|(_, m)| m.clone())
        .expect("180 to the carrier");
    let cancel = "CANCEL sip:+15551230000@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKa1\r\n\
        From: <sip:+15550001000@127.0.0.2>;tag=c1\r\n\
        To: <sip:+15551230000@127.0.0.1>\r\nCall-ID: paths-a\r\n\
        CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let out = p.feed(CARRIER, cancel);
    assert_eq!(requests(&out, "CANCEL", FAR).len(), 1, "{out:#?}");
    let bye = format!(
        "BYE sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKa3\r\n\
         From: <sip:+15550001000@127.0.0.2>;tag=c1\r\n\
         To: <sip:+15551230000@127.0.0.1>;tag={}\r\nCall-ID: paths-a\r\n\
         CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        to_tag(&a_180)
    );
    p.feed(CARRIER, &bye);
    assert_eq!(p.core.calls(), 0, "the BYE ended the call");
    let out = p.feed(FAR, &far_response(&b_invite, "200 OK", true));
    assert_eq!(requests(&out, "ACK", FAR).len(), 1, "{out:#?}");
    assert_eq!(requests(&out, "BYE", FAR).len(), 1, "{out:#?}");
}
