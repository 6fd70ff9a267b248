//! Calls through the B2BUA, end to end: SIPp plays the carrier from
//! 127.0.0.2, SIPp in server mode plays the far end on 127.0.0.6. Each test
//! names the rule (DESIGN.md section 2) it proves.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use common::{
    assert_carrier_and_far_end_succeeded, byoc_trunk_routed, free_udp_port_on,
    scenario_from_template, sip_config_with_carrier, sipp_callee_bye, sipp_carrier_bye,
    sipp_carrier_cancelled, sipp_carrier_invite, sipp_carrier_rejected, sipp_from, sipp_rejects,
    sipp_response, sipp_rings_then_cancelled, sipp_takes_bye, Locus, SippRun, SippServer, NO_BODY,
    SIPP_CARRIER_FROM, SIPP_UAS_TAG,
};

const DID: &str = "+15551230000";
const FAR_IP: &str = "127.0.0.6";

/// Locus with a voice carrier on 127.0.0.2 and a far-end trunk whose
/// endpoints are `far` (tried in order); DID routes to that trunk. Small T1
/// keeps timeouts short.
fn locus(far: &[SocketAddr]) -> Locus {
    let config = sip_config_with_carrier(50, "127.0.0.2")
        + &byoc_trunk_routed("far", FAR_IP, far, r#"spread = "in_order""#, DID);
    Locus::start(&config, 1)
}

// ---- carrier (UAC) snippets ----

fn invite_compact(ruser: &str) -> String {
    format!(
        "INVITE sip:{ruser}@[remote_ip]:[remote_port] SIP/2.0
v: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
f: \"Carrier\" <sip:+15550001000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
t: <sip:{ruser}@[remote_ip]:[remote_port]>
i: [call_id]
CSeq: 1 INVITE
m: <sip:+15550001000@[local_ip]:[local_port]>
c: application/sdp"
    )
}

const PROV_ANY: &str = r#"<recv response="180" optional="true"/>
  <recv response="183" optional="true"/>"#;

const PROV_180_NO_SDP: &str = r#"<recv response="180">
    <action><ereg regexp="^ *0" search_in="hdr" header="Content-Length:" check_it="true" assign_to="cl180"/></action>
  </recv>
  <Reference variables="cl180"/>"#;

const PROV_183_SDP: &str = r#"<recv response="183">
    <action><ereg regexp="m=audio" search_in="body" check_it="true" assign_to="sdp183"/></action>
  </recv>
  <Reference variables="sdp183"/>"#;

fn answered(ruser: &str, then: &str) -> String {
    format!(
        r#"<recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:{ruser}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{SIPP_CARRIER_FROM}
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>
  {then}"#
    )
}

struct Carrier<'a> {
    invite: String,
    headers: &'a str,
    content_length: &'a str,
    mport: &'a str,
    prov: &'a str,
    fin: String,
}

impl Carrier<'_> {
    fn call(ruser: &str, fin: String) -> Carrier<'static> {
        Carrier {
            invite: sipp_carrier_invite(ruser),
            headers: "",
            content_length: "Content-Length",
            mport: "40000",
            prov: PROV_ANY,
            fin,
        }
    }

    fn run(&self, locus: &Locus) -> SippRun {
        let dir = tempfile::tempdir().unwrap();
        let headers = if self.headers.is_empty() {
            String::new()
        } else {
            format!("\n{}", self.headers)
        };
        let file = scenario_from_template(
            dir.path(),
            "carrier_call.xml.tmpl",
            &[
                ("INVITE_LINE", &self.invite),
                ("INVITE_HEADERS", &headers),
                ("CONTENT_LENGTH", self.content_length),
                ("MPORT", self.mport),
                ("PROV", self.prov),
                ("FINAL", &self.fin),
            ],
        );
        sipp_from("127.0.0.2", &file, locus.addr("udp"), "u1", &[])
    }
}

// ---- far end (UAS) snippets ----

fn far_response(status: &str, extra: &str, sdp: bool) -> String {
    let body = if sdp {
        "Content-Type: application/sdp
Content-Length: [len]

v=0
o=far 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio 42000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
"
    } else {
        NO_BODY
    };
    sipp_response(status, SIPP_UAS_TAG, extra, body)
}

const CONTACT: &str = "Contact: <sip:far@[local_ip]:[local_port];transport=[transport]>";

fn far_answers(extra: &str) -> String {
    let extra = if extra.is_empty() {
        CONTACT.to_owned()
    } else {
        extra.to_owned()
    };
    format!(
        "{}\n  <recv request=\"ACK\" crlf=\"true\"/>",
        far_response("200 OK", &extra, true)
    )
}

fn far_waits_bye(check: &str) -> String {
    format!(
        "<recv request=\"BYE\">{check}</recv>\n  {}",
        sipp_response("200 OK", "", "", NO_BODY)
    )
}

/// The far end hangs up (BYE to the Contact it captured, `cfull`).
fn far_sends_bye() -> String {
    format!(
        "{}\n  <Reference variables=\"cfull\"/>",
        sipp_callee_bye("far", 1, 300)
    )
}

/// The far end rings, then is cancelled by the carrier (487).
fn far_rings_then_cancelled() -> String {
    sipp_rings_then_cancelled("Contact: <sip:far@[local_ip]:[local_port]>")
}

fn far_end(dir: &std::path::Path, name: &str, check: &str, steps: &str) -> PathBuf {
    let file = scenario_from_template(
        dir,
        "far_end.xml.tmpl",
        &[("INVITE_CHECK", check), ("STEPS", steps)],
    );
    let named = dir.join(name);
    std::fs::rename(&file, &named).unwrap();
    named
}

const CURI: &str = r#"<ereg regexp="&lt;([^&gt;]*)&gt;" search_in="hdr" header="Contact:" assign_to="cfull,curi"/>"#;

fn assert_ok(what: &str, run: SippRun) {
    assert!(run.success, "{what} failed:\n{}", run.log);
}

/// A UDP socket on the far address that must receive nothing.
fn silent_endpoint() -> UdpSocket {
    let s = UdpSocket::bind((FAR_IP, free_udp_port_on(FAR_IP))).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

fn received_nothing(s: &UdpSocket) -> bool {
    let mut buf = [0u8; 2048];
    s.recv_from(&mut buf).is_err()
}

/// One far end answering with `steps`, the carrier playing `carrier`.
fn one_far_end(steps: &str, check: &str, carrier: impl FnOnce(&str) -> Carrier<'static>) {
    let dir = tempfile::tempdir().unwrap();
    let far = SippServer::start(&far_end(dir.path(), "far.xml", check, steps), FAR_IP);
    let locus = locus(&[far.addr]);
    let c = carrier(DID).run(&locus);
    let f = far.finish();
    assert_carrier_and_far_end_succeeded(&c, &f);
}

/// A far end (SIPp on 127.0.0.6, scenario file `name`) that rejects the
/// INVITE with `status`.
fn far_end_rejecting(dir: &std::path::Path, name: &str, status: &str) -> SippServer {
    SippServer::start(&far_end(dir, name, "", &sipp_rejects(status, "")), FAR_IP)
}

/// A far end that answers the INVITE and takes the carrier's BYE.
fn far_end_answering(dir: &std::path::Path, name: &str) -> SippServer {
    let steps = format!("{}\n  {}", far_answers(""), far_waits_bye(""));
    SippServer::start(&far_end(dir, name, "", &steps), FAR_IP)
}

/// The carrier calls the DID, expects it answered, and hangs up.
fn carrier_call_answered(locus: &Locus) -> SippRun {
    Carrier::call(DID, answered(DID, &sipp_carrier_bye(DID, 300))).run(locus)
}

#[test]
fn basic_call_carrier_hangs_up() {
    let steps = format!("{}\n  {}", far_answers(""), far_waits_bye(""));
    one_far_end(&steps, "", |d| {
        Carrier::call(d, answered(d, &sipp_carrier_bye(d, 300)))
    });
}

#[test]
fn basic_call_far_end_hangs_up() {
    let steps = format!("{}\n  {}", far_answers(""), far_sends_bye());
    one_far_end(&steps, CURI, |d| {
        Carrier::call(d, answered(d, &sipp_takes_bye()))
    });
}

#[test]
fn c10_180_ringing_relayed() {
    let steps = format!(
        "{}\n  {}\n  {}",
        far_response("180 Ringing", CONTACT, false),
        far_answers(""),
        far_waits_bye("")
    );
    one_far_end(&steps, "", |d| Carrier {
        prov: PROV_180_NO_SDP,
        ..Carrier::call(d, answered(d, &sipp_carrier_bye(d, 300)))
    });
}

#[test]
fn c10_183_with_sdp_early_media_relayed() {
    let steps = format!(
        "{}\n  {}\n  {}",
        far_response("183 Session Progress", CONTACT, true),
        far_answers(""),
        far_waits_bye("")
    );
    one_far_end(&steps, "", |d| Carrier {
        prov: PROV_183_SDP,
        ..Carrier::call(d, answered(d, &sipp_carrier_bye(d, 300)))
    });
}

#[test]
fn c16_record_route_honored() {
    // The far end Record-Routes through its own address and gives a Contact
    // nobody listens on: the carrier's BYE reaches it only if Locus sends
    // it to the route, with the Route header (loose routing).
    let rr = "Record-Route: <sip:[local_ip]:[local_port];lr>\nContact: <sip:far@127.0.0.6:9>";
    let check = r#"<action><ereg regexp="&lt;sip:127.0.0.6:[0-9]+;lr&gt;" search_in="hdr" header="Route:" check_it="true" assign_to="route"/>
    <ereg regexp="^BYE sip:far@127.0.0.6:9 " search_in="msg" check_it="true" assign_to="ruri"/></action>"#;
    let steps = format!(
        "{}\n  {}\n  <Reference variables=\"route,ruri\"/>",
        far_answers(rr),
        far_waits_bye(check)
    );
    one_far_end(&steps, "", |d| {
        Carrier::call(d, answered(d, &sipp_carrier_bye(d, 300)))
    });
}

#[test]
fn c13_503_fails_over_to_next_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let first = far_end_rejecting(dir.path(), "f1.xml", "503 Service Unavailable");
    let second = far_end_answering(dir.path(), "f2.xml");
    let locus = locus(&[first.addr, second.addr]);
    let c = carrier_call_answered(&locus);
    assert_ok("carrier", c);
    assert_ok("first far end (503)", first.finish());
    assert_ok("second far end", second.finish());
}

#[test]
fn c13_timeout_fails_over() {
    let dir = tempfile::tempdir().unwrap();
    let silent = silent_endpoint();
    let second = far_end_answering(dir.path(), "f2.xml");
    // T1 = 50 ms: Timer B fires after 3.2 s of silence.
    let locus = locus(&[silent.local_addr().unwrap(), second.addr]);
    let c = carrier_call_answered(&locus);
    assert_ok("carrier", c);
    assert_ok("second far end", second.finish());
}

#[test]
fn c12_408_fails_over() {
    let dir = tempfile::tempdir().unwrap();
    let first = far_end_rejecting(dir.path(), "f1.xml", "408 Request Timeout");
    let second = far_end_answering(dir.path(), "f2.xml");
    let locus = locus(&[first.addr, second.addr]);
    let c = carrier_call_answered(&locus);
    assert_ok("carrier", c);
    assert_ok("first far end (408)", first.finish());
    assert_ok("second far end", second.finish());
}

#[test]
fn c12_404_does_not_fail_over() {
    let dir = tempfile::tempdir().unwrap();
    let first = far_end_rejecting(dir.path(), "f1.xml", "404 Not Found");
    let second = silent_endpoint();
    let locus = locus(&[first.addr, second.local_addr().unwrap()]);
    let c = Carrier::call(DID, sipp_carrier_rejected(DID, 404)).run(&locus);
    assert_ok("carrier expecting 404", c);
    assert_ok("first far end (404)", first.finish());
    assert!(received_nothing(&second), "a 404 must not fail over (C12)");
}

#[test]
fn c12_every_endpoint_failing_gives_503() {
    let dir = tempfile::tempdir().unwrap();
    let first = far_end_rejecting(dir.path(), "f1.xml", "503 Service Unavailable");
    let second = far_end_rejecting(dir.path(), "f2.xml", "500 Server Internal Error");
    let locus = locus(&[first.addr, second.addr]);
    let c = Carrier::call(DID, sipp_carrier_rejected(DID, 503)).run(&locus);
    assert_ok("carrier expecting 503", c);
    assert_ok("first far end", first.finish());
    assert_ok("second far end", second.finish());
}

#[test]
fn c11_carrier_302_is_a_rejection_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = silent_endpoint();
    let contact = format!("Contact: <sip:moved@{}>", elsewhere.local_addr().unwrap());
    let first = SippServer::start(
        &far_end(
            dir.path(),
            "f1.xml",
            "",
            &sipp_rejects("302 Moved Temporarily", &contact),
        ),
        FAR_IP,
    );
    let locus = locus(&[first.addr, elsewhere.local_addr().unwrap()]);
    // Never a 302 toward the carrier: 480 (the far end decided; C11, C12).
    let c = Carrier::call(DID, sipp_carrier_rejected(DID, 480)).run(&locus);
    assert_ok("carrier expecting 480", c);
    assert_ok("far end (302)", first.finish());
    assert!(
        received_nothing(&elsewhere),
        "the 302 must be neither followed nor failed over (C11)"
    );
}

#[test]
fn cancel_before_answer_gets_487() {
    one_far_end(&far_rings_then_cancelled(), "", |d| Carrier {
        prov: r#"<recv response="180"/>"#,
        ..Carrier::call(d, sipp_carrier_cancelled(d))
    });
}

#[test]
fn c14_compact_header_invite_completes_a_call() {
    let steps = format!("{}\n  {}", far_answers(""), far_waits_bye(""));
    one_far_end(&steps, "", |d| Carrier {
        invite: invite_compact(d),
        content_length: "l",
        ..Carrier::call(d, answered(d, &sipp_carrier_bye(d, 300)))
    });
}

#[test]
fn c15_unknown_headers_ignored() {
    let steps = format!("{}\n  {}", far_answers(""), far_waits_bye(""));
    one_far_end(&steps, "", |d| Carrier {
        headers: "X-Carrier-Trace: 7f3a;hop=2\nP-Unknown-Thing: <sip:x@y>;;a=b\nWeird: ,,,",
        ..Carrier::call(d, answered(d, &sipp_carrier_bye(d, 300)))
    });
}

#[test]
fn c24_rtp_port_below_1024_gets_488() {
    let far = silent_endpoint();
    let locus = locus(&[far.local_addr().unwrap()]);
    let c = Carrier {
        mport: "1000",
        ..Carrier::call(DID, sipp_carrier_rejected(DID, 488))
    }
    .run(&locus);
    assert_ok("carrier expecting 488", c);
    assert!(received_nothing(&far), "a refused offer goes nowhere");
}
