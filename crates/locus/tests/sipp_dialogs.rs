//! The B2BUA's two dialogs on every path, end to end (issue 3 item 2): each
//! call is two dialogs with their own Call-IDs, tags and CSeqs; re-INVITE
//! hold and resume in both directions through the relay, CANCEL racing a
//! 200, the lost ACK (2xx retransmitted per Timer G, BYE at Timer H), BYE
//! from either side. After each, no dialog remains (a request in the old
//! dialog gets 481, on the side that can still send one) and the call slot
//! is free again.
//!
//! SIPp plays the carrier from 127.0.0.2 and the far end (server mode) on
//! 127.0.0.6. The live call count is observed through
//! `sip.calls.max_calls = 1`: a call over the limit gets `503 Service
//! Unavailable (call limit)` without a 100, an admitted call a 100 at once.
//! A probe call placed after each scenario therefore proves the slot was
//! freed, and `call_limit_probe_is_refused_while_a_call_is_up` proves the
//! probe can tell.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    assert_carrier_and_far_end_succeeded, byoc_trunk_routed, free_udp_port_on,
    scenario_from_template, sip_config_with_carrier, sipp_carrier_ack_failure, sipp_carrier_cancel,
    sipp_from, sipp_response, Locus, SippRun, SippServer, NO_BODY, SIPP_CARRIER_FROM, SIPP_UAS_TAG,
};

const DID: &str = "+15551230000";
const PROBE_DID: &str = "+15551239999";
const CARRIER_IP: &str = "127.0.0.2";
const FAR_IP: &str = "127.0.0.6";
const PROBE_IP: &str = "127.0.0.7";
/// The relay binds to the first `sip.listen` IP and advertises it.
const RELAY_IP: &str = "127.0.0.1";
/// The RTP ports the two SIPp ends write in their SDP.
const CARRIER_RTP: u16 = 40000;
const FAR_RTP: u16 = 42000;

/// Locus with the carrier on 127.0.0.2, `DID` routed to the far end,
/// `PROBE_DID` to `probe`; one call at most, the relay on, T1 = 50 ms (so
/// Timer B and Timer H are 3.2 s). `calls` and `media` add keys to
/// `[sip.calls]` and `[sip.media]`.
fn locus(far: SocketAddr, probe: SocketAddr, calls: &str, media: &str) -> Locus {
    let config = format!(
        r#"{}
[sip.calls]
max_calls = 1
{calls}

[sip.media]
relay = true
{media}
{}{}"#,
        sip_config_with_carrier(50, CARRIER_IP),
        byoc_trunk_routed("far", FAR_IP, &[far], "", DID),
        byoc_trunk_routed("probe", PROBE_IP, &[probe], "", PROBE_DID)
    );
    Locus::start(&config, 1)
}

// ---- scenario text ----

fn scenario(dir: &Path, name: &str, steps: &str) -> PathBuf {
    let file = scenario_from_template(dir, "dialog.xml.tmpl", &[("NAME", name), ("STEPS", steps)]);
    let named = dir.join(format!("{name}.xml"));
    std::fs::rename(&file, &named).unwrap();
    named
}

/// An SDP body (with its headers): one audio stream on `port` in
/// `direction`, session version `version`.
fn sdp(owner: &str, version: u32, port: u16, direction: &str) -> String {
    format!(
        "Content-Type: application/sdp
Content-Length: [len]

v=0
o={owner} 1 {version} IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio {port} RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a={direction}
"
    )
}

static VARS: AtomicUsize = AtomicUsize::new(0);

/// A check on a received message: the regexp must match in the body
/// (`""`), the whole message (`"msg"`) or the header named (`"CSeq:"`).
struct Check<'a>(&'a str, String);

/// A `recv` (`what` = `response="200"`, `request="INVITE"`) whose checks
/// must all match; `capture` adds actions that assign variables.
fn recv(what: &str, checks: &[Check<'_>], capture: &str) -> String {
    let mut actions = String::from(capture);
    let mut vars = Vec::new();
    for Check(header, re) in checks {
        let var = format!("k{}", VARS.fetch_add(1, Ordering::Relaxed));
        let place = match *header {
            "" => r#"search_in="body""#.to_owned(),
            "msg" => r#"search_in="msg""#.to_owned(),
            h => format!(r#"search_in="hdr" header="{h}""#),
        };
        actions.push_str(&format!(
            r#"<ereg regexp="{re}" {place} check_it="true" assign_to="{var}"/>"#
        ));
        vars.push(var);
    }
    let reference = if vars.is_empty() {
        String::new()
    } else {
        format!("\n  <Reference variables=\"{}\"/>", vars.join(","))
    };
    if actions.is_empty() {
        format!("<recv {what}/>")
    } else {
        format!("<recv {what}><action>{actions}</action></recv>{reference}")
    }
}

/// The SDP names the relay (C24, C25: media anchored in Locus) in `direction`.
fn relayed(direction: &str) -> [Check<'static>; 2] {
    let ip = RELAY_IP.replace('.', "\\.");
    [
        Check("", format!("c=IN IP4 {ip}[[:space:]]")),
        Check("", direction.to_owned()),
    ]
}

fn pause(ms: u64) -> String {
    format!(r#"<pause milliseconds="{ms}"/>"#)
}

// The carrier (UAC of leg A).

/// The carrier's From, as in the other call tests.
const A_FROM: &str = SIPP_CARRIER_FROM;
const A_CONTACT: &str = "Contact: <sip:+15550001000@[local_ip]:[local_port]>";

/// The carrier's INVITE to `ruser`, then the optional 100.
fn a_invite(ruser: &str) -> String {
    format!(
        r#"<send retrans="500"><![CDATA[
INVITE sip:{ruser}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{A_FROM}
To: <sip:{ruser}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
{A_CONTACT}
{}]]></send>
  <recv response="100" optional="true"/>"#,
        sdp("carrier", 1, CARRIER_RTP, "sendrecv")
    )
}

/// The carrier receives the 200 for its INVITE (relay in the SDP) and
/// keeps leg A's dialog: To with Locus's tag (`ato`), remote target
/// (`acuri`).
fn a_answered() -> String {
    let capture = r#"<ereg regexp=".*" search_in="hdr" header="To:" assign_to="ato"/><ereg regexp="&lt;([^&gt;]*)&gt;" search_in="hdr" header="Contact:" assign_to="acfull,acuri"/>"#;
    format!(
        "{}\n  <Reference variables=\"acfull,acuri,ato\"/>",
        recv(
            r#"response="200" rtd="true""#,
            &relayed("a=sendrecv"),
            capture
        )
    )
}

/// A request of the carrier in leg A's dialog.
fn a_request(method: &str, cseq: u32, body: &str) -> String {
    request_in_dialog(
        "[$acuri]",
        A_FROM,
        "To:[$ato]",
        A_CONTACT,
        method,
        cseq,
        body,
    )
}

/// The carrier calls `DID`, takes a 180 if one comes, gets the relayed 200
/// ([`a_answered`]) and ACKs it: leg A's dialog is up.
fn a_call_answered_and_acked() -> String {
    [
        a_invite(DID),
        r#"<recv response="180" optional="true"/>"#.to_owned(),
        a_answered(),
        a_request("ACK", 1, NO_BODY),
    ]
    .join("\n  ")
}

// The far end (UAS of leg B).

const B_FROM: &str = "From: <sip:far@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]";
const B_CONTACT: &str = "Contact: <sip:far@[local_ip]:[local_port];transport=[transport]>";

/// The far end receives Locus's INVITE (relay in the SDP) and keeps leg
/// B's dialog: From with Locus's tag (`bfrom`), remote target (`bcuri`).
fn b_invited() -> String {
    let capture = r#"<ereg regexp=".*" search_in="hdr" header="From:" assign_to="bfrom"/><ereg regexp="&lt;([^&gt;]*)&gt;" search_in="hdr" header="Contact:" assign_to="bcfull,bcuri"/>"#;
    format!(
        "{}\n  <Reference variables=\"bcfull,bcuri,bfrom\"/>",
        recv(
            r#"request="INVITE" crlf="true""#,
            &relayed("a=sendrecv"),
            capture
        )
    )
}

/// The far end answers the INVITE 200 and takes the ACK.
fn b_answers() -> String {
    format!(
        "{}\n  <recv request=\"ACK\" crlf=\"true\"/>",
        sipp_response(
            "200 OK",
            SIPP_UAS_TAG,
            B_CONTACT,
            &sdp("far", 1, FAR_RTP, "sendrecv")
        )
    )
}

/// The far end gets Locus's INVITE ([`b_invited`]) and answers it
/// ([`b_answers`]): leg B's dialog is up.
fn b_invited_and_answers() -> String {
    [b_invited(), b_answers()].join("\n  ")
}

/// A request of the far end in leg B's dialog.
fn b_request(method: &str, cseq: u32, body: &str) -> String {
    request_in_dialog(
        "[$bcuri]",
        B_FROM,
        "To:[$bfrom]",
        B_CONTACT,
        method,
        cseq,
        body,
    )
}

/// A request in a dialog SIPp keeps: to the remote target `target`, with
/// our `from` and `contact`, the peer's `to` (its tag); retransmitted
/// unless an ACK.
fn request_in_dialog(
    target: &str,
    from: &str,
    to: &str,
    contact: &str,
    method: &str,
    cseq: u32,
    body: &str,
) -> String {
    let retrans = if method == "ACK" {
        ""
    } else {
        r#" retrans="500""#
    };
    format!(
        r#"<send{retrans}><![CDATA[
{method} {target} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{from}
{to}
Call-ID: [call_id]
CSeq: {cseq} {method}
{contact}
{body}]]></send>"#
    )
}

/// A side re-INVITEs in its dialog (`request`: [`a_request`] or
/// [`b_request`]) with CSeq `cseq` and `offer`, takes the optional 100 and
/// the 200 whose SDP names the relay in `answered` (the direction), then
/// ACKs.
fn reinvite(
    request: fn(&str, u32, &str) -> String,
    cseq: u32,
    offer: &str,
    answered: &str,
) -> String {
    [
        request("INVITE", cseq, offer),
        r#"<recv response="100" optional="true"/>"#.to_owned(),
        recv(r#"response="200""#, &relayed(answered), ""),
        request("ACK", cseq, NO_BODY),
    ]
    .join("\n  ")
}

/// A side takes a re-INVITE relayed to it (`what`: the `recv`'s
/// attributes) whose SDP names the relay in `offered` (the direction),
/// answers 200 with `contact` and `answer`, and takes the ACK.
fn takes_reinvite(what: &str, offered: &str, contact: &str, answer: &str) -> String {
    [
        recv(what, &relayed(offered), ""),
        sipp_response("200 OK", "", contact, answer),
        r#"<recv request="ACK" crlf="true"/>"#.to_owned(),
    ]
    .join("\n  ")
}

/// A side sends a BYE (CSeq `cseq`) in its dialog (`request`:
/// [`a_request`] or [`b_request`]) and gets 481: Locus no longer has
/// that dialog.
fn bye_gets_481(request: fn(&str, u32, &str) -> String, cseq: u32) -> String {
    [
        request("BYE", cseq, NO_BODY),
        r#"<recv response="481"/>"#.to_owned(),
    ]
    .join("\n  ")
}

/// Either side takes a BYE and answers 200.
fn takes_bye() -> String {
    format!(
        "<recv request=\"BYE\" crlf=\"true\"/>\n  {}",
        sipp_response("200 OK", "", "", NO_BODY)
    )
}

// ---- running ----

/// A UDP socket that receives and never answers (the probe's far end).
fn silent(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, free_udp_port_on(ip))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Runs the carrier's `steps` against Locus.
fn carrier(locus: &Locus, dir: &Path, name: &str, steps: &str) -> SippRun {
    let file = scenario(dir, name, steps);
    sipp_from(CARRIER_IP, &file, locus.addr("udp"), "u1", &[])
}

/// Issue 3 item 2, the call count back to 0: with `max_calls = 1`, a new
/// call is admitted (a 100 at once, its INVITE reaches the probe trunk;
/// then the carrier CANCELs it: 487). A leaked call would get 503 (call
/// limit) and no 100.
fn assert_call_slot_free(locus: &Locus, probe: &UdpSocket) {
    let dir = tempfile::tempdir().unwrap();
    let steps = format!(
        "{}\n  <recv response=\"100\"/>\n  {}\n  <recv response=\"200\"/>\n  <recv response=\"487\"/>\n  {}",
        a_invite(PROBE_DID).replace("<recv response=\"100\" optional=\"true\"/>", ""),
        sipp_carrier_cancel(PROBE_DID),
        sipp_carrier_ack_failure(PROBE_DID)
    );
    let run = carrier(locus, dir.path(), "probe", &steps);
    assert!(
        run.success,
        "the probe call was not admitted: a call is still counted (max_calls = 1)\n{}",
        run.log
    );
    let mut buf = [0u8; 4096];
    let (n, _) = probe
        .recv_from(&mut buf)
        .expect("the probe call's INVITE reaches its trunk");
    assert!(
        buf[..n].starts_with(b"INVITE sip:"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

// ---- SIPp message traces ----

/// One message of a SIPp `-trace_msg` log.
#[derive(Debug)]
struct Traced {
    received: bool,
    /// Seconds since midnight (the log's clock).
    at: f64,
    text: String,
}

impl Traced {
    fn header(&self, name: &str) -> &str {
        self.text
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
            .unwrap_or_else(|| panic!("no {name} in\n{}", self.text))
    }

    fn call_id(&self) -> &str {
        self.header("Call-ID")
    }

    /// The CSeq number and method.
    fn cseq(&self) -> (u32, &str) {
        let (n, m) = self.header("CSeq").split_once(' ').expect("CSeq");
        (n.parse().expect("CSeq number"), m.trim())
    }

    fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    fn is_request(&self, method: &str) -> bool {
        self.first_line().starts_with(&format!("{method} "))
    }

    fn is_response(&self, status: u16, method: &str) -> bool {
        self.first_line().starts_with(&format!("SIP/2.0 {status} ")) && self.cseq().1 == method
    }

    /// The audio port of the SDP body.
    fn audio_port(&self) -> u16 {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no m=audio in\n{}", self.text))
    }
}

/// The messages of the `*_messages.log` part of a run's log, in order.
fn messages(log: &str) -> Vec<Traced> {
    const RULE: &str = "-----------------------------------------------";
    let Some(start) = log.find("_messages.log ---") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for block in log[start..].split(RULE).skip(1) {
        let mut lines = block.lines();
        let stamp = lines.next().unwrap_or("").trim();
        let kind = lines.next().unwrap_or("");
        let received = kind.contains("message received");
        if !received && !kind.contains("message sent") {
            continue;
        }
        // "2026-11-25 18:15:41.011139": seconds since midnight.
        let Some(at) = stamp.split(' ').nth(1).and_then(|t| {
            let mut p = t.split(':');
            let h: f64 = p.next()?.parse().ok()?;
            let m: f64 = p.next()?.parse().ok()?;
            let s: f64 = p.next()?.parse().ok()?;
            Some(h * 3600.0 + m * 60.0 + s)
        }) else {
            continue;
        };
        let text: Vec<&str> = lines.skip_while(|l| l.trim().is_empty()).collect();
        // The next log part starts with "--- NAME ---".
        let text: Vec<&str> = text
            .into_iter()
            .take_while(|l| !l.starts_with("--- "))
            .collect();
        out.push(Traced {
            received,
            at,
            text: text.join("\n"),
        });
    }
    out
}

fn received<'a>(log: &'a [Traced], pick: impl Fn(&Traced) -> bool + 'a) -> Vec<&'a Traced> {
    log.iter().filter(|m| m.received && pick(m)).collect()
}

fn sent<'a>(log: &'a [Traced], pick: impl Fn(&Traced) -> bool + 'a) -> Vec<&'a Traced> {
    log.iter().filter(|m| !m.received && pick(m)).collect()
}

// ---- tests ----

/// The far end of a call and Locus, ready for the carrier.
struct Setup {
    dir: tempfile::TempDir,
    probe: UdpSocket,
    far: Option<SippServer>,
    locus: Locus,
}

impl Setup {
    fn start(far_steps: &str) -> Setup {
        Setup::start_with(far_steps, "", "")
    }

    /// Like [`Setup::start`], with keys added to `[sip.calls]` and
    /// `[sip.media]`.
    fn start_with(far_steps: &str, calls: &str, media: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let probe = silent(PROBE_IP);
        let far = SippServer::start(&scenario(dir.path(), "far", far_steps), FAR_IP);
        let locus = locus(far.addr, probe.local_addr().unwrap(), calls, media);
        Setup {
            dir,
            probe,
            far: Some(far),
            locus,
        }
    }

    /// Runs the carrier's steps, waits for the far end; both must succeed.
    /// Then the call slot must be free. Returns both logs' messages.
    fn run(mut self, carrier_steps: &str) -> (Vec<Traced>, Vec<Traced>) {
        let c = carrier(&self.locus, self.dir.path(), "carrier", carrier_steps);
        let f = self.far.take().unwrap().finish();
        assert_carrier_and_far_end_succeeded(&c, &f);
        assert_call_slot_free(&self.locus, &self.probe);
        (messages(&c.log), messages(&f.log))
    }
}

#[test]
fn b2bua_reinvite_hold_and_resume_both_ways_each_leg_its_own_dialog_through_the_relay() {
    // Issue 3 item 2 (re-INVITE), C24/C25 (the relay in every SDP): the
    // carrier holds (a=sendonly) and resumes, then the far end does; each
    // re-INVITE reaches the other side in that side's own dialog (its
    // Call-ID, its CSeq numbering) with the relay's address, and the
    // answer (a=recvonly, then a=sendrecv) flows back the same way.
    let far_steps = [
        b_invited_and_answers(),
        // The carrier's hold, relayed.
        takes_reinvite(
            r#"request="INVITE" crlf="true""#,
            "a=sendonly",
            B_CONTACT,
            &sdp("far", 2, FAR_RTP, "recvonly"),
        ),
        // The carrier's resume, relayed.
        takes_reinvite(
            r#"request="INVITE" crlf="true""#,
            "a=sendrecv",
            B_CONTACT,
            &sdp("far", 3, FAR_RTP, "sendrecv"),
        ),
        // The far end holds, then resumes.
        pause(300),
        reinvite(
            b_request,
            7,
            &sdp("far", 4, FAR_RTP, "sendonly"),
            "a=recvonly",
        ),
        pause(300),
        reinvite(
            b_request,
            8,
            &sdp("far", 5, FAR_RTP, "sendrecv"),
            "a=sendrecv",
        ),
        // The carrier hangs up; then leg B's dialog is gone at Locus.
        takes_bye(),
        bye_gets_481(b_request, 9),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let carrier_steps = [
        a_call_answered_and_acked(),
        // Hold, then resume, with the carrier's own CSeqs 10 and 20.
        pause(200),
        reinvite(
            a_request,
            10,
            &sdp("carrier", 2, CARRIER_RTP, "sendonly"),
            "a=recvonly",
        ),
        pause(200),
        reinvite(
            a_request,
            20,
            &sdp("carrier", 3, CARRIER_RTP, "sendrecv"),
            "a=sendrecv",
        ),
        // The far end's hold and resume, relayed.
        takes_reinvite(
            r#"request="INVITE""#,
            "a=sendonly",
            A_CONTACT,
            &sdp("carrier", 4, CARRIER_RTP, "recvonly"),
        ),
        takes_reinvite(
            r#"request="INVITE""#,
            "a=sendrecv",
            A_CONTACT,
            &sdp("carrier", 5, CARRIER_RTP, "sendrecv"),
        ),
        pause(200),
        a_request("BYE", 30, NO_BODY),
        r#"<recv response="200" crlf="true"/>"#.to_owned(),
        // Leg A's dialog is gone at Locus.
        bye_gets_481(a_request, 31),
    ]
    .join("\n  ");
    let (a, b) = setup.run(&carrier_steps);

    // Two dialogs: leg B has its own Call-ID, and its own CSeq numbering
    // (Locus's, one up per request), whatever the carrier used.
    let a_call_id = sent(&a, |m| m.is_request("INVITE"))[0].call_id().to_owned();
    let b_invites = received(&b, |m| m.is_request("INVITE"));
    assert_eq!(b_invites.len(), 3, "INVITE, hold, resume at the far end");
    let b_call_id = b_invites[0].call_id();
    assert_ne!(b_call_id, a_call_id, "leg B has its own Call-ID");
    let first = b_invites[0].cseq().0;
    for (i, m) in b_invites.iter().enumerate() {
        assert_eq!(m.call_id(), b_call_id, "every re-INVITE in leg B's dialog");
        assert_eq!(
            m.cseq().0,
            first + i as u32,
            "leg B's own CSeq, one up per request"
        );
    }
    let a_invites = received(&a, |m| m.is_request("INVITE"));
    assert_eq!(
        a_invites.len(),
        2,
        "the far end's hold and resume at the carrier"
    );
    let a_first = a_invites[0].cseq().0;
    assert_ne!(a_first, 7, "leg A's own CSeq, not the far end's");
    assert_eq!(a_invites[1].cseq().0, a_first + 1);
    for m in &a_invites {
        assert_eq!(m.call_id(), a_call_id, "in leg A's dialog");
    }
    // The relay's port stays the same for the call on each side, and is
    // never the other side's own port.
    let b_port = b_invites[0].audio_port();
    assert_ne!(b_port, CARRIER_RTP);
    for m in b_invites
        .iter()
        .chain(&received(&b, |m| m.is_response(200, "INVITE")))
    {
        assert_eq!(
            m.audio_port(),
            b_port,
            "the relay's port toward the far end"
        );
    }
    let a_answers = received(&a, |m| m.is_response(200, "INVITE"));
    assert_eq!(
        a_answers.len(),
        3,
        "200 to the INVITE, the hold and the resume"
    );
    let a_port = a_answers[0].audio_port();
    assert_ne!(a_port, FAR_RTP);
    for m in a_answers.iter().chain(&a_invites) {
        assert_eq!(
            m.audio_port(),
            a_port,
            "the relay's port toward the carrier"
        );
    }
}

/// The far end's answer to an INVITE it took after a CANCEL (`bcseq`: the
/// INVITE's CSeq number, captured when it arrived).
fn b_late_200() -> String {
    format!(
        r#"<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]{SIPP_UAS_TAG}
[last_Call-ID:]
CSeq: [$bcseq] INVITE
{B_CONTACT}
{}]]></send>"#,
        sdp("far", 1, FAR_RTP, "sendrecv")
    )
}

#[test]
fn b2bua_cancel_crossing_the_far_ends_200_caller_gets_487_far_end_ack_and_bye() {
    // Issue 3 item 2 (CANCEL racing a 200, RFC 3261 section 9.1): the
    // carrier CANCELs after the 180; the far end's 200 was on its way as
    // Locus relayed the CANCEL. The carrier gets 487, the far end's dialog
    // gets ACK then BYE from Locus, and no dialog remains on either side.
    let far_steps = [
        b_invited().replace(
            "<action>",
            r#"<action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="bcseq"/>"#,
        ),
        sipp_response("180 Ringing", SIPP_UAS_TAG, B_CONTACT, NO_BODY),
        r#"<recv request="CANCEL" crlf="true"/>"#.to_owned(),
        // (The 200 for the CANCEL first: SIPp must not be between two
        // sends when Locus's ACK comes.)
        sipp_response("200 OK", SIPP_UAS_TAG, "", NO_BODY),
        b_late_200(),
        r#"<recv request="ACK" crlf="true"/>"#.to_owned(),
        takes_bye(),
        bye_gets_481(b_request, 9),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let carrier_steps = [
        a_invite(DID),
        r#"<recv response="180"/>"#.to_owned(),
        sipp_carrier_cancel(DID),
        r#"<recv response="200"/>"#.to_owned(),
        r#"<recv response="487"/>"#.to_owned(),
        sipp_carrier_ack_failure(DID),
        // No dialog either on leg A: a BYE with Locus's tag gets 481 (after
        // the far end's side has played out; a BYE racing the far end's
        // 200 is `b2bua_paths::far_ends_200_after_the_call_ended_*`).
        pause(500),
        format!(
            r#"<send retrans="500"><![CDATA[
BYE sip:{DID}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{A_FROM}
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Content-Length: 0

]]></send>"#
        ),
        r#"<recv response="481"/>"#.to_owned(),
    ]
    .join("\n  ");
    let (a, b) = setup.run(&carrier_steps);
    assert!(
        received(&a, |m| m.is_response(200, "INVITE")).is_empty(),
        "the carrier's call was cancelled: no 200 reaches it"
    );
    let invite = &received(&b, |m| m.is_request("INVITE"))[0];
    let (ack, bye) = (
        received(&b, |m| m.is_request("ACK")),
        received(&b, |m| m.is_request("BYE")),
    );
    assert_eq!(
        (ack.len(), bye.len()),
        (1, 1),
        "the late 200 is ACKed, then ended"
    );
    assert_eq!(ack[0].cseq().0, invite.cseq().0, "the ACK is the 2xx's");
    assert_eq!(bye[0].call_id(), invite.call_id());
    assert_eq!(bye[0].cseq().0, invite.cseq().0 + 1, "leg B's next CSeq");
}

#[test]
fn b2bua_cancel_crossing_the_200_to_the_caller_caller_acks_and_byes_both_legs_end() {
    // Issue 3 item 2 (the other side of the race): the 200 reached the
    // carrier as its CANCEL was on the way. The CANCEL gets 200 and changes
    // nothing (RFC 3261 section 9.2), the carrier ACKs the 200 and sends
    // BYE, which Locus relays to the far end; no dialog remains.
    let far_steps = [
        b_invited(),
        sipp_response("180 Ringing", SIPP_UAS_TAG, B_CONTACT, NO_BODY),
        b_answers(),
        takes_bye(),
        bye_gets_481(b_request, 9),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let carrier_steps = [
        a_invite(DID),
        r#"<recv response="180"/>"#.to_owned(),
        a_answered(),
        sipp_carrier_cancel(DID),
        recv(
            r#"response="200""#,
            &[Check("CSeq:", "CANCEL".to_owned())],
            "",
        ),
        a_request("ACK", 1, NO_BODY),
        pause(200),
        a_request("BYE", 2, NO_BODY),
        recv(r#"response="200""#, &[Check("CSeq:", "BYE".to_owned())], ""),
        bye_gets_481(a_request, 3),
    ]
    .join("\n  ");
    let (a, b) = setup.run(&carrier_steps);
    assert!(
        received(&a, |m| m.is_response(487, "INVITE")).is_empty(),
        "the call was answered: no 487"
    );
    assert_eq!(received(&b, |m| m.is_request("BYE")).len(), 1);
}

#[test]
fn b2bua_lost_ack_2xx_retransmitted_per_timer_g_then_bye_both_ways_at_timer_h() {
    // Issue 3 item 2 (lost ACK, RFC 3261 section 13.3.1.4): the carrier
    // never ACKs the 200. Locus retransmits it at T1, 2 T1, 4 T1... and at
    // 64 T1 (3.2 s with T1 = 50 ms) ACKs the far end's 200 and sends BYE to
    // both legs. The far end retransmits its own 200 meanwhile, as a UAS
    // does until its ACK comes (that must not end the call early).
    let far_steps = [
        b_invited(),
        format!(
            "{}\n  <recv request=\"ACK\" crlf=\"true\"/>",
            sipp_response(
                "200 OK",
                SIPP_UAS_TAG,
                B_CONTACT,
                &sdp("far", 1, FAR_RTP, "sendrecv")
            )
            .replacen("<send>", r#"<send retrans="500">"#, 1)
        ),
        takes_bye(),
        bye_gets_481(b_request, 9),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let carrier_steps = [
        a_invite(DID),
        r#"<recv response="180" optional="true"/>"#.to_owned(),
        a_answered(),
        // No ACK.
        r#"<recv request="BYE"/>"#.to_owned(),
        sipp_response("200 OK", "", "", NO_BODY),
        bye_gets_481(a_request, 2),
    ]
    .join("\n  ");
    let (a, b) = setup.run(&carrier_steps);
    let oks = received(&a, |m| m.is_response(200, "INVITE"));
    let bye = received(&a, |m| m.is_request("BYE"));
    let gaps: Vec<f64> = oks.windows(2).map(|w| w[1].at - w[0].at).collect();
    // 200 at 0, then at 0.05, 0.15, 0.35, 0.75, 1.55, 3.15 s: six
    // retransmissions before Timer H (the last one races it; a loaded
    // machine may delay more), the interval doubling from T1.
    assert!(
        (5..=8).contains(&oks.len()),
        "the 200 and 4 to 7 retransmissions, got {} ({gaps:?})",
        oks.len()
    );
    assert!(
        gaps[0] < 0.3 && gaps.last().is_some_and(|g| *g >= 0.6),
        "the interval starts at T1 and doubles (Timer G), gaps {gaps:?}"
    );
    let h = bye[0].at - oks[0].at;
    assert!(
        (3.1..10.0).contains(&h),
        "BYE at Timer H (3.2 s), got {h} s"
    );
    let b_ack = received(&b, |m| m.is_request("ACK"));
    let b_bye = received(&b, |m| m.is_request("BYE"));
    let b_200 = sent(&b, |m| m.is_response(200, "INVITE"));
    let h = b_bye[0].at - b_200[0].at;
    assert!(
        (3.1..10.0).contains(&h),
        "the far end's BYE at Timer H, got {h} s"
    );
    assert!(
        b_ack[0].at <= b_bye[0].at,
        "the far end's 200 is ACKed before its BYE"
    );
}

#[test]
fn b2bua_bye_from_the_carrier_ends_both_dialogs() {
    // Issue 3 item 2 (BYE from the carrier): relayed to the far end in leg
    // B's dialog with leg B's next CSeq; afterwards neither dialog exists.
    let far_steps = [
        b_invited_and_answers(),
        takes_bye(),
        bye_gets_481(b_request, 9),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let carrier_steps = [
        a_call_answered_and_acked(),
        pause(200),
        a_request("BYE", 5, NO_BODY),
        r#"<recv response="200"/>"#.to_owned(),
        bye_gets_481(a_request, 6),
    ]
    .join("\n  ");
    let (a, b) = setup.run(&carrier_steps);
    let invite = &received(&b, |m| m.is_request("INVITE"))[0];
    let bye = &received(&b, |m| m.is_request("BYE"))[0];
    assert_eq!(bye.call_id(), invite.call_id(), "in leg B's dialog");
    assert_ne!(
        bye.call_id(),
        sent(&a, |m| m.is_request("BYE"))[0].call_id()
    );
    assert_eq!(
        bye.cseq().0,
        invite.cseq().0 + 1,
        "leg B's own next CSeq, not 5"
    );
}

#[test]
fn b2bua_bye_from_the_far_end_ends_both_dialogs() {
    // Issue 3 item 2 (BYE from the far end): relayed to the carrier in leg
    // A's dialog with leg A's own CSeq; afterwards neither dialog exists.
    let far_steps = [
        b_invited_and_answers(),
        pause(200),
        b_request("BYE", 9, NO_BODY),
        r#"<recv response="200"/>"#.to_owned(),
        bye_gets_481(b_request, 10),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let carrier_steps = [
        a_call_answered_and_acked(),
        takes_bye(),
        bye_gets_481(a_request, 2),
    ]
    .join("\n  ");
    let (a, _) = setup.run(&carrier_steps);
    let bye = &received(&a, |m| m.is_request("BYE"))[0];
    let a_call_id = sent(&a, |m| m.is_request("INVITE"))[0].call_id().to_owned();
    assert_eq!(bye.call_id(), a_call_id, "in leg A's dialog");
    assert_ne!(bye.cseq().0, 9, "leg A's own CSeq, not the far end's");
}

#[test]
fn call_limit_probe_is_refused_while_a_call_is_up() {
    // The control for the probe every test above ends with: while a call
    // is up, max_calls = 1 refuses a new one with 503 (call limit).
    let far_steps = [b_invited_and_answers(), takes_bye()].join("\n  ");
    let setup = Setup::start(&far_steps);
    let answered = setup.dir.path().join("answered");
    let carrier_steps = [
        a_call_answered_and_acked(),
        format!(
            r#"<nop><action><exec command="touch {}"/></action></nop>"#,
            answered.display()
        ),
        pause(3000),
        a_request("BYE", 2, NO_BODY),
        r#"<recv response="200"/>"#.to_owned(),
    ]
    .join("\n  ");
    let file = scenario(setup.dir.path(), "carrier", &carrier_steps);
    let target = setup.locus.addr("udp");
    let call = std::thread::spawn(move || sipp_from(CARRIER_IP, &file, target, "u1", &[]));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !answered.exists() {
        if std::time::Instant::now() > deadline || call.is_finished() {
            let c = call.join().unwrap();
            panic!("the call was not answered\n{}", c.log);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().unwrap();
    let steps = format!(
        "{}\n  {}\n  {}",
        a_invite(PROBE_DID),
        recv(
            r#"response="503""#,
            &[Check(
                "msg",
                r"^SIP/2.0 503 Service Unavailable \(call limit\)".to_owned()
            )],
            ""
        ),
        sipp_carrier_ack_failure(PROBE_DID)
    );
    let run = carrier(&setup.locus, dir.path(), "probe", &steps);
    assert!(
        run.success,
        "the probe was not refused for the call limit\n{}",
        run.log
    );
    let c = call.join().unwrap();
    let mut setup = setup;
    let f = setup.far.take().unwrap().finish();
    assert_carrier_and_far_end_succeeded(&c, &f);
    assert_call_slot_free(&setup.locus, &setup.probe);
}

/// An answered call the carrier never hangs up: Locus's BYE must end it on
/// both legs; then neither dialog exists (481) and the slot is free.
/// Returns the seconds from the far end's 200 to its BYE.
fn answered_call_ended_by_locus(calls: &str, media: &str) -> f64 {
    let far_steps = [
        b_invited_and_answers(),
        takes_bye(),
        bye_gets_481(b_request, 9),
    ]
    .join("\n  ");
    let setup = Setup::start_with(&far_steps, calls, media);
    let carrier_steps = [
        a_call_answered_and_acked(),
        takes_bye(),
        bye_gets_481(a_request, 2),
    ]
    .join("\n  ");
    let (_, b) = setup.run(&carrier_steps);
    let ok = sent(&b, |m| m.is_response(200, "INVITE"))[0].at;
    received(&b, |m| m.is_request("BYE"))[0].at - ok
}

#[test]
fn b2bua_max_call_duration_bye_both_ways() {
    // Issue 3 item 2 (no call leaks): sip.calls.max_duration_secs = 1
    // ends an answered call with BYE on both legs.
    let t = answered_call_ended_by_locus("max_duration_secs = 1", "inactivity_timeout_secs = 0");
    assert!((0.9..10.0).contains(&t), "BYE after 1 s, got {t} s");
}

#[test]
fn b2bua_rtp_inactivity_guard_bye_both_ways_and_slot_freed() {
    // Issue 3 item 2 (RTP-inactivity guard standing in for session
    // timers): no RTP for 1 s on an answered call: BYE on both legs.
    let t = answered_call_ended_by_locus("", "inactivity_timeout_secs = 1");
    assert!((0.9..10.0).contains(&t), "BYE after 1 s, got {t} s");
}

#[test]
fn b2bua_ring_timeout_caller_gets_480_far_end_cancelled() {
    // Issue 3 item 2 (timeouts): the far end rings and never answers;
    // after sip.calls.ring_timeout_secs = 1 the carrier gets 480 and the
    // far end a CANCEL (its 487 ACKed); the slot is free afterwards.
    let far_steps = [
        b_invited(),
        sipp_response("180 Ringing", SIPP_UAS_TAG, B_CONTACT, NO_BODY),
        r#"<recv request="CANCEL" crlf="true"/>"#.to_owned(),
        sipp_response("200 OK", SIPP_UAS_TAG, "", NO_BODY),
        sipp_response("487 Request Terminated", SIPP_UAS_TAG, "", NO_BODY)
            .replace("[last_CSeq:]", "CSeq: [$bcseq] INVITE"),
        r#"<recv request="ACK" crlf="true"/>"#.to_owned(),
    ]
    .join("\n  ")
    .replacen(
        "<action>",
        r#"<action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="bcseq"/>"#,
        1,
    );
    let setup = Setup::start_with(&far_steps, "ring_timeout_secs = 1", "");
    let carrier_steps = [
        a_invite(DID),
        r#"<recv response="180"/>"#.to_owned(),
        r#"<recv response="480"/>"#.to_owned(),
        sipp_carrier_ack_failure(DID),
    ]
    .join("\n  ");
    let (a, b) = setup.run(&carrier_steps);
    let ring = received(&a, |m| m.is_response(180, "INVITE"))[0].at;
    let t = received(&a, |m| m.is_response(480, "INVITE"))[0].at - ring;
    assert!(
        (0.9..10.0).contains(&t),
        "480 after 1 s of ringing, got {t} s"
    );
    assert_eq!(received(&b, |m| m.is_request("CANCEL")).len(), 1);
}

/// The far end answers `status`; the carrier must get `expect` (and ACK
/// it), the far end its ACK; then the slot is free.
fn far_end_rejects(status: &str, expect: u16) {
    let far_steps = [
        b_invited(),
        sipp_response(status, SIPP_UAS_TAG, "", NO_BODY),
        r#"<recv request="ACK" crlf="true"/>"#.to_owned(),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let carrier_steps = [
        a_invite(DID),
        format!(r#"<recv response="{expect}"/>"#),
        sipp_carrier_ack_failure(DID),
    ]
    .join("\n  ");
    setup.run(&carrier_steps);
}

#[test]
fn c12_486_busy_relayed_and_slot_freed() {
    far_end_rejects("486 Busy Here", 486);
}

#[test]
fn c12_603_decline_relayed_and_slot_freed() {
    // A 6xx is a final disposition of the called party: relayed as is.
    far_end_rejects("603 Decline", 603);
}

#[test]
fn c11_c12_3xx_mapped_to_480_and_slot_freed() {
    far_end_rejects(
        "302 Moved Temporarily\nContact: <sip:elsewhere@127.0.0.6:9>",
        480,
    );
}

#[test]
fn c16_carrier_record_route_honored_toward_the_carrier() {
    // C16 in the carrier's direction: the carrier Record-Routes through its
    // own address and gives a Contact nobody listens on. Locus's 200 echoes
    // the Record-Route, and the far end's BYE reaches the carrier only if
    // Locus sends it to the route, with the Route header and the Contact
    // as Request-URI (loose routing).
    let far_steps = [
        b_invited_and_answers(),
        pause(300),
        b_request("BYE", 9, NO_BODY),
        r#"<recv response="200"/>"#.to_owned(),
    ]
    .join("\n  ");
    let setup = Setup::start(&far_steps);
    let invite = a_invite(DID).replacen(
        A_CONTACT,
        "Record-Route: <sip:[local_ip]:[local_port];lr>\nContact: <sip:+15550001000@127.0.0.2:9>",
        1,
    );
    let carrier_steps = [
        invite,
        r#"<recv response="180" optional="true"/>"#.to_owned(),
        a_answered().replacen(
            "<action>",
            r#"<action><ereg regexp="^ *&lt;sip:127\.0\.0\.2:[0-9]+;lr&gt;" search_in="hdr" header="Record-Route:" check_it="true" assign_to="rr"/>"#,
            1,
        ),
        r#"<Reference variables="rr"/>"#.to_owned(),
        a_request("ACK", 1, NO_BODY),
        recv(
            r#"request="BYE""#,
            &[
                Check("Route:", r"&lt;sip:127\.0\.0\.2:[0-9]+;lr&gt;".to_owned()),
                Check("msg", r"^BYE sip:\+15550001000@127\.0\.0\.2:9 ".to_owned()),
            ],
            "",
        ),
        sipp_response("200 OK", "", "", NO_BODY),
        bye_gets_481(a_request, 2),
    ]
    .join("\n  ");
    setup.run(&carrier_steps);
}
