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
        Pair::with(|_| {})
    }

    /// [`Pair::new`] with `f` applied to the configuration.
    fn with(f: impl FnOnce(&mut SipConfig)) -> Pair {
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
        f(&mut config);
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
        self.call_with("")
            .into_iter()
            .find(|(to, m)| to.to_string() == FAR && m.starts_with("INVITE "))
            .map(|(_, m)| m)
            .expect("INVITE to the far end")
    }

    /// The carrier's INVITE with `extra` header lines: what Locus sent.
    fn call_with(&mut self, extra: &str) -> Vec<(SocketAddr, String)> {
        let invite = format!(
            "INVITE sip:+15551230000@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKa1\r\n\
             From: <sip:+15550001000@127.0.0.2>;tag=c1\r\n\
             To: <sip:+15551230000@127.0.0.1>\r\nCall-ID: paths-a\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:+15550001000@{CARRIER}>\r\n{extra}\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
        self.feed(CARRIER, &invite)
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
        } else if line.starts_with("To:") && line.contains(";tag=") {
            // In a dialog already (a re-INVITE's answer).
            r.push_str(&format!("{line}\r\n"));
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

// ---- RFC 4028 session timers (issue 3 item 2) ----

/// The value of header `name` in `msg`.
fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// The body of `msg`.
fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The first message to `to` that starts with `start`.
fn first<'a>(out: &'a [(SocketAddr, String)], to: &str, start: &str) -> &'a str {
    out.iter()
        .find(|(d, m)| d.to_string() == to && m.starts_with(start))
        .map(|(_, m)| m.as_str())
        .unwrap_or_else(|| panic!("no {start} to {to}: {out:#?}"))
}

/// A request from the carrier in A's dialog (Locus's tag `to_tag`).
fn carrier_in_dialog(method: &str, seq: u32, to_tag: &str, sdp: Option<&str>) -> String {
    let body = sdp.map_or("Content-Length: 0\r\n\r\n".to_owned(), |b| {
        format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )
    });
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKst{seq}{method}\r\n\
         From: <sip:+15550001000@127.0.0.2>;tag=c1\r\n\
         To: <sip:+15551230000@127.0.0.1>;tag={to_tag}\r\nCall-ID: paths-a\r\n\
         CSeq: {seq} {method}\r\nMax-Forwards: 70\r\n\
         Contact: <sip:+15550001000@{CARRIER}>\r\n{body}"
    )
}

impl Pair {
    /// A call whose carrier INVITE carries `carrier_timer`, answered by the
    /// far end with `far_timer` header lines and ACKed by the carrier:
    /// Locus's INVITE to the far end, its 200 to the carrier.
    fn timed_call(&mut self, carrier_timer: &str, far_timer: &str) -> (String, String) {
        let out = self.call_with(carrier_timer);
        let b_invite = first(&out, FAR, "INVITE ").to_owned();
        let ok = far_response(&b_invite, "200 OK", true).replacen(
            "Contact:",
            &format!("{far_timer}Contact:"),
            1,
        );
        let out = self.feed(FAR, &ok);
        let a_ok = first(&out, CARRIER, "SIP/2.0 200 ").to_owned();
        let ack = carrier_in_dialog("ACK", 1, to_tag(&a_ok), None);
        let out = self.feed(CARRIER, &ack);
        assert_eq!(requests(&out, "ACK", FAR).len(), 1, "{out:#?}");
        (b_invite, a_ok)
    }
}

#[test]
fn rfc4028_session_expires_below_min_se_gets_422_with_min_se() {
    // Section 9: too small an interval is refused with Locus's Min-SE (or
    // the caller's own, if larger); the call goes nowhere.
    let mut p = Pair::new();
    let out = p.call_with("Session-Expires: 60\r\nSupported: timer\r\n");
    let r = first(&out, CARRIER, "SIP/2.0 422 ");
    assert_eq!(header(r, "Min-SE"), Some("90"));
    assert!(requests(&out, "INVITE", FAR).is_empty());
    assert_eq!(p.core.calls(), 0);
}

#[test]
fn rfc4028_refresher_is_the_caller_when_it_supports_timers_else_locus() {
    // The caller supports timers and leaves the refresher open: it is the
    // refresher, and the 2xx requires timer. Locus offers its own interval
    // on the far leg.
    let mut p = Pair::new();
    let (b_invite, a_ok) = p.timed_call("Session-Expires: 600\r\nSupported: timer\r\n", "");
    assert_eq!(header(&a_ok, "Session-Expires"), Some("600;refresher=uac"));
    assert_eq!(header(&a_ok, "Require"), Some("timer"));
    assert_eq!(header(&b_invite, "Session-Expires"), Some("1800"));
    assert_eq!(header(&b_invite, "Min-SE"), Some("90"));
    assert_eq!(header(&b_invite, "Supported"), Some("timer"));
    // A caller without timer support: Locus refreshes, nothing required.
    let mut p = Pair::new();
    let (_, a_ok) = p.timed_call("", "");
    assert_eq!(header(&a_ok, "Session-Expires"), Some("1800;refresher=uas"));
    assert_eq!(header(&a_ok, "Require"), None);
    // Off: Locus imposes and offers nothing.
    let mut p = Pair::with(|c| c.session_timer.expires_secs = 0);
    let (b_invite, a_ok) = p.timed_call("", "");
    assert_eq!(header(&a_ok, "Session-Expires"), None);
    assert_eq!(header(&b_invite, "Session-Expires"), None);
}

#[test]
fn rfc4028_far_ends_422_retried_once_with_its_min_se() {
    // Section 7.4: the far end wants at least 3600 s; the INVITE goes
    // again with that interval, once.
    let mut p = Pair::new();
    let b_invite = p.call();
    let r = far_response(&b_invite, "422 Session Interval Too Small", false).replacen(
        "Contact:",
        "Min-SE: 3600\r\nContact:",
        1,
    );
    let out = p.feed(FAR, &r);
    let again = first(&out, FAR, "INVITE ");
    assert_eq!(header(again, "Session-Expires"), Some("3600"));
    assert_eq!(header(again, "Min-SE"), Some("3600"));
    // A second 422 is the far end's answer: relayed, the call ends.
    let r = far_response(again, "422 Session Interval Too Small", false).replacen(
        "Contact:",
        "Min-SE: 7200\r\nContact:",
        1,
    );
    let out = p.feed(FAR, &r);
    assert!(requests(&out, "INVITE", FAR).is_empty(), "{out:#?}");
    first(&out, CARRIER, "SIP/2.0 422 ");
    assert_eq!(p.core.calls(), 0);
}

#[test]
fn c6_rfc4028_locus_refreshes_the_far_leg_at_half_the_interval_with_the_same_sdp() {
    // The far end makes Locus the refresher (refresher=uac in its 2xx);
    // the carrier refreshes its own leg. At 900 s Locus re-INVITEs the far
    // end with the description it gave it; the carrier sees nothing.
    let mut p = Pair::new();
    let (b_invite, _) = p.timed_call(
        "Session-Expires: 3600;refresher=uac\r\nSupported: timer\r\n",
        "Session-Expires: 1800;refresher=uac\r\nRequire: timer\r\n",
    );
    let out = p.advance(Duration::from_secs(899));
    assert!(requests(&out, "INVITE", FAR).is_empty(), "{out:#?}");
    let out = p.advance(Duration::from_secs(1));
    let refresh = requests(&out, "INVITE", FAR);
    assert_eq!(refresh.len(), 1, "{out:#?}");
    // C6: trunks answer UPDATE with 405, so a refresh is never one.
    assert!(requests(&out, "UPDATE", FAR).is_empty(), "{out:#?}");
    assert!(
        out.iter().all(|(d, _)| d.to_string() != CARRIER),
        "{out:#?}"
    );
    assert_eq!(body(refresh[0]), body(&b_invite), "the same description");
    assert_eq!(
        header(refresh[0], "Session-Expires"),
        Some("1800;refresher=uac")
    );
    // Its 2xx is ACKed and restarts the interval: the next refresh comes
    // 900 s later, and the call never expires meanwhile.
    let ok = far_response(refresh[0], "200 OK", true).replacen(
        "Contact:",
        "Session-Expires: 1800;refresher=uac\r\nContact:",
        1,
    );
    let out = p.feed(FAR, &ok);
    assert_eq!(requests(&out, "ACK", FAR).len(), 1, "{out:#?}");
    let out = p.advance(Duration::from_secs(899));
    assert!(requests(&out, "INVITE", FAR).is_empty(), "{out:#?}");
    assert!(requests(&out, "BYE", FAR).is_empty(), "{out:#?}");
    let out = p.advance(Duration::from_secs(1));
    assert_eq!(requests(&out, "INVITE", FAR).len(), 1, "{out:#?}");
    assert_eq!(p.core.calls(), 1);
}

#[test]
fn rfc4028_no_refresh_from_the_refresher_bye_both_legs_at_expiry() {
    // Section 10: the carrier is the refresher of a 90 s session and never
    // refreshes: at 90 - min(32, 90/3) = 60 s Locus sends BYE both ways.
    let mut p = Pair::new();
    p.timed_call(
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
        "",
    );
    let out = p.advance(Duration::from_secs(59));
    assert!(requests(&out, "BYE", CARRIER).is_empty(), "{out:#?}");
    assert_eq!(p.core.calls(), 1);
    let out = p.advance(Duration::from_secs(1));
    assert_eq!(requests(&out, "BYE", CARRIER).len(), 1, "{out:#?}");
    assert_eq!(requests(&out, "BYE", FAR).len(), 1, "{out:#?}");
    assert_eq!(p.core.calls(), 0, "no call left");
}

#[test]
fn rfc4028_carriers_refresh_is_answered_by_locus_and_the_far_end_undisturbed() {
    // A refresh re-INVITE with the same description is the carrier's
    // leg's business: Locus answers it with what it gave the carrier, the
    // far end gets nothing, and the session lives another interval.
    let mut p = Pair::new();
    let (_, a_ok) = p.timed_call(
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
        "",
    );
    p.advance(Duration::from_secs(50));
    // The same description but for a bumped o= version.
    let sdp = SDP.replace("o=x 1 1", "o=x 1 2");
    let reinvite = carrier_in_dialog("INVITE", 2, to_tag(&a_ok), Some(&sdp)).replacen(
        "Contact:",
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\nContact:",
        1,
    );
    let out = p.feed(CARRIER, &reinvite);
    let ok = first(&out, CARRIER, "SIP/2.0 200 ");
    assert_eq!(body(ok), body(&a_ok), "Locus's description, unchanged");
    assert_eq!(header(ok, "Session-Expires"), Some("90;refresher=uac"));
    assert!(out.iter().all(|(d, _)| d.to_string() != FAR), "{out:#?}");
    p.feed(CARRIER, &carrier_in_dialog("ACK", 2, to_tag(&a_ok), None));
    // Expiry moved from 60 s to 50 + 60 s.
    let out = p.advance(Duration::from_secs(59));
    assert!(requests(&out, "BYE", CARRIER).is_empty(), "{out:#?}");
    let out = p.advance(Duration::from_secs(1));
    assert_eq!(requests(&out, "BYE", CARRIER).len(), 1, "{out:#?}");
    assert_eq!(requests(&out, "BYE", FAR).len(), 1, "{out:#?}");
    // A re-INVITE that changes the media (hold) is still relayed.
    let mut p = Pair::new();
    let (_, a_ok) = p.timed_call("", "");
    let held = format!("{SDP}a=sendonly\r\n");
    let out = p.feed(
        CARRIER,
        &carrier_in_dialog("INVITE", 2, to_tag(&a_ok), Some(&held)),
    );
    let relayed = first(&out, FAR, "INVITE ");
    assert!(body(relayed).contains("a=sendonly"), "{relayed}");
}

#[test]
fn rfc4028_refused_refresh_retried_once_then_kept_408_ends_the_call() {
    // Section 10: a refresh refused with 491 (glare) goes again after a
    // pause, once. Refused again, the far end still answered: its dialog
    // is alive, so the call is kept and refreshed an interval later. A
    // 408 (or 481) says the dialog is gone: BYE both ways.
    let mut p = Pair::new();
    p.timed_call(
        "Session-Expires: 3600;refresher=uac\r\nSupported: timer\r\n",
        "Session-Expires: 1800;refresher=uac\r\nRequire: timer\r\n",
    );
    let out = p.advance(Duration::from_secs(900));
    let refresh = requests(&out, "INVITE", FAR)[0].to_owned();
    let out = p.feed(FAR, &far_response(&refresh, "491 Request Pending", false));
    assert_eq!(requests(&out, "ACK", FAR).len(), 1, "{out:#?}");
    let out = p.advance(Duration::from_millis(1900));
    assert!(requests(&out, "INVITE", FAR).is_empty(), "{out:#?}");
    let out = p.advance(Duration::from_millis(100));
    let again = requests(&out, "INVITE", FAR);
    assert_eq!(again.len(), 1, "retried once: {out:#?}");
    assert_ne!(header(again[0], "CSeq"), header(&refresh, "CSeq"));
    let again = again[0].to_owned();
    p.feed(FAR, &far_response(&again, "491 Request Pending", false));
    let out = p.advance(Duration::from_secs(899));
    assert!(requests(&out, "INVITE", FAR).is_empty(), "{out:#?}");
    assert!(requests(&out, "BYE", FAR).is_empty(), "{out:#?}");
    assert_eq!(p.core.calls(), 1, "the far end answered: kept");
    let out = p.advance(Duration::from_secs(1));
    let third = requests(&out, "INVITE", FAR);
    assert_eq!(third.len(), 1, "the next refresh: {out:#?}");
    let out = p.feed(FAR, &far_response(third[0], "408 Request Timeout", false));
    assert_eq!(requests(&out, "BYE", FAR).len(), 1, "{out:#?}");
    assert_eq!(requests(&out, "BYE", CARRIER).len(), 1, "{out:#?}");
    assert_eq!(p.core.calls(), 0);
}
