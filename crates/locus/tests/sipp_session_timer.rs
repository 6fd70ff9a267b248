//! RFC 4028 session timers through the B2BUA, end to end (issue 3 item 2:
//! no call leaks when a peer vanishes without BYE). SIPp plays the carrier
//! from 127.0.0.2 and the far end (server mode) on 127.0.0.6; Locus runs
//! with short intervals (`[sip.session_timer] expires_secs = 4`,
//! `min_se_secs = 2`) so the tests take seconds. The RTP-inactivity guard
//! is off and the maximum duration is the default (4 h), so only the
//! session timer can end or refresh these calls.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{
    byoc_trunk_routed, scenario_from_template, sip_config_with_carrier, sipp_from, sipp_response,
    Locus, SippServer, NO_BODY, SIPP_CARRIER_FROM, SIPP_UAS_TAG,
};

const DID: &str = "+15551230000";
const CARRIER_IP: &str = "127.0.0.2";
const FAR_IP: &str = "127.0.0.6";

fn locus(far: SocketAddr) -> Locus {
    let config = format!(
        r#"{}
[sip.session_timer]
expires_secs = 4
min_se_secs = 2

[sip.media]
relay = true
inactivity_timeout_secs = 0
{}"#,
        sip_config_with_carrier(50, CARRIER_IP),
        byoc_trunk_routed("far", FAR_IP, &[far], "", DID)
    );
    Locus::start(&config, 1)
}

fn scenario(dir: &Path, name: &str, steps: &str) -> PathBuf {
    let file = scenario_from_template(dir, "dialog.xml.tmpl", &[("NAME", name), ("STEPS", steps)]);
    let named = dir.join(format!("{name}.xml"));
    std::fs::rename(&file, &named).unwrap();
    named
}

fn sdp(owner: &str, port: u16) -> String {
    format!(
        "Content-Type: application/sdp
Content-Length: [len]

v=0
o={owner} 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio {port} RTP/AVP 0
a=rtpmap:0 PCMU/8000
"
    )
}

/// A `recv` whose header `header` must match `re` (SIPp fails the call
/// otherwise).
fn recv_checked(what: &str, header: &str, re: &str, var: &str, capture: &str) -> String {
    format!(
        r#"<recv {what}><action>{capture}<ereg regexp="{re}" search_in="hdr" header="{header}" check_it="true" assign_to="{var}"/></action></recv>
  <Reference variables="{var}"/>"#
    )
}

/// The carrier's From, as in the other call tests.
const A_FROM: &str = SIPP_CARRIER_FROM;
const A_CONTACT: &str = "Contact: <sip:+15550001000@[local_ip]:[local_port]>";

/// The carrier's INVITE with `extra` header lines, the 100, the 200
/// (whose `Session-Expires` must match `se`) and the ACK; keeps the dialog.
fn carrier_call(extra: &str, se: &str) -> String {
    let capture = r#"<ereg regexp=".*" search_in="hdr" header="To:" assign_to="ato"/><ereg regexp="&lt;([^&gt;]*)&gt;" search_in="hdr" header="Contact:" assign_to="acfull,acuri"/>"#;
    format!(
        r#"<send retrans="500"><![CDATA[
INVITE sip:{DID}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{A_FROM}
To: <sip:{DID}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
{A_CONTACT}
{extra}
{}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  {}
  <Reference variables="acfull,acuri,ato"/>
  {}"#,
        sdp("carrier", 40000),
        recv_checked(r#"response="200""#, "Session-Expires:", se, "ase", capture),
        carrier_request("ACK", 1),
    )
}

fn carrier_request(method: &str, cseq: u32) -> String {
    let retrans = if method == "ACK" {
        ""
    } else {
        r#" retrans="500""#
    };
    format!(
        r#"<send{retrans}><![CDATA[
{method} [$acuri] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{A_FROM}
To:[$ato]
Call-ID: [call_id]
CSeq: {cseq} {method}
{A_CONTACT}
{NO_BODY}]]></send>"#
    )
}

const B_CONTACT: &str = "Contact: <sip:far@[local_ip]:[local_port];transport=[transport]>";

/// The far end takes Locus's INVITE, which must offer Locus's interval
/// (`Session-Expires: 4`, `Min-SE: 2`, `Supported: timer`), and answers
/// 200 with `extra` header lines.
fn far_answers(extra: &str) -> String {
    let checks = [
        ("Session-Expires:", "^[[:space:]]*4[[:space:]]*$", "bse"),
        ("Min-SE:", "^[[:space:]]*2[[:space:]]*$", "bmin"),
        ("Supported:", "timer", "bsup"),
    ]
    .map(|(h, re, var)| {
        format!(r#"<ereg regexp="{re}" search_in="hdr" header="{h}" check_it="true" assign_to="{var}"/>"#)
    })
    .concat();
    format!(
        r#"<recv request="INVITE" crlf="true"><action>{checks}</action></recv>
  <Reference variables="bse,bmin,bsup"/>
  {}
  <recv request="ACK" crlf="true"/>"#,
        sipp_response(
            "200 OK",
            SIPP_UAS_TAG,
            &format!("{extra}{B_CONTACT}"),
            &sdp("far", 42000)
        )
    )
}

fn takes_bye() -> String {
    format!(
        "<recv request=\"BYE\" crlf=\"true\"/>\n  {}",
        sipp_response("200 OK", "", "", NO_BODY)
    )
}

struct Run {
    carrier_ok: bool,
    far_ok: bool,
    log: String,
    far_log: String,
    carrier_secs: f64,
}

fn run(far_steps: &str, carrier_steps: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let far = SippServer::start(&scenario(dir.path(), "far", far_steps), FAR_IP);
    let locus = locus(far.addr);
    let file = scenario(dir.path(), "carrier", carrier_steps);
    let t0 = Instant::now();
    let c = sipp_from(CARRIER_IP, &file, locus.addr("udp"), "u1", &[]);
    let carrier_secs = t0.elapsed().as_secs_f64();
    let f = far.finish();
    Run {
        carrier_ok: c.success,
        far_ok: f.success,
        log: format!("=== carrier ===\n{}\n=== far end ===\n{}", c.log, f.log),
        far_log: f.log,
        carrier_secs,
    }
}

/// The bodies of the INVITEs the far end received, in order.
fn invite_bodies(far_log: &str) -> Vec<String> {
    far_log
        .replace("\r\n", "\n")
        .split("-----------------------------------------------")
        .filter(|b| b.contains("message received"))
        .filter_map(|b| {
            let msg = b.split_once("\n\n")?.1.trim_start();
            msg.starts_with("INVITE ")
                .then(|| msg.split_once("\n\n").map_or("", |(_, body)| body))
                .map(|body| body.split("\n--- ").next().unwrap_or("").trim().to_owned())
        })
        .collect()
}

#[test]
fn rfc4028_carrier_refresher_never_refreshes_bye_both_legs_at_expiry() {
    // Issue 3 item 2: the carrier asks for a 6 s session it refreshes
    // itself (refresher=uac) and never does. Locus answers with that
    // interval and Require: timer, then at 6 - min(32, 6/3) = 4 s sends
    // BYE on both legs; the far end (no timer support: its 200 has no
    // Session-Expires) gets its BYE too.
    let far = [far_answers(""), takes_bye()].join("\n  ");
    let carrier = [
        carrier_call(
            "Session-Expires: 6;refresher=uac\nSupported: timer",
            "^[[:space:]]*6;refresher=uac[[:space:]]*$",
        ),
        takes_bye(),
    ]
    .join("\n  ");
    let r = run(&far, &carrier);
    assert!(r.carrier_ok && r.far_ok, "{}", r.log);
    assert!(
        (3.5..20.0).contains(&r.carrier_secs),
        "BYE after about 4 s, the carrier's call took {} s",
        r.carrier_secs
    );
}

#[test]
fn rfc4028_far_end_makes_locus_refresher_and_gets_the_reinvite_carrier_undisturbed() {
    // The far end answers Session-Expires: 4;refresher=uac: Locus is the
    // refresher on its leg and re-INVITEs it at 2 s with the same SDP. The
    // carrier refreshes its own 60 s session: its leg sees nothing until
    // it hangs up at 3.5 s (an unexpected message would fail its run).
    let far = [
        far_answers("Session-Expires: 4;refresher=uac\nRequire: timer\n"),
        recv_checked(
            r#"request="INVITE""#,
            "Session-Expires:",
            "^[[:space:]]*4;refresher=uac[[:space:]]*$",
            "rse",
            "",
        ),
        sipp_response(
            "200 OK",
            "",
            &format!("Session-Expires: 60;refresher=uac\nRequire: timer\n{B_CONTACT}"),
            &sdp("far", 42000),
        ),
        "<recv request=\"ACK\" crlf=\"true\"/>".to_owned(),
        takes_bye(),
    ]
    .join("\n  ");
    let carrier = [
        carrier_call(
            "Session-Expires: 60;refresher=uac\nSupported: timer",
            "^[[:space:]]*60;refresher=uac[[:space:]]*$",
        ),
        r#"<pause milliseconds="3500"/>"#.to_owned(),
        carrier_request("BYE", 2),
        r#"<recv response="200"/>"#.to_owned(),
    ]
    .join("\n  ");
    let r = run(&far, &carrier);
    assert!(r.carrier_ok && r.far_ok, "{}", r.log);
    let bodies = invite_bodies(&r.far_log);
    assert_eq!(bodies.len(), 2, "INVITE and its refresh: {}", r.far_log);
    assert!(bodies[0].contains("m=audio "), "{}", bodies[0]);
    assert_eq!(bodies[0], bodies[1], "the refresh carries the same SDP");
}
