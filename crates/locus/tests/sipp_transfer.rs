//! Blind transfer (REFER, RFC 3515 and RFC 5589) through the B2BUA, end to
//! end with three SIPp processes: the transferee is a carrier on
//! 127.0.0.2 calling +15551230000, the transferor the agent trunk on
//! 127.0.0.6 that answers and REFERs the call to +15551230001, the target
//! the trunk on 127.0.0.7 that number routes to.

mod common;

use common::{scenario, scenario_from_template, sipp_from, Locus, SippRun, SippServer};

const TRANSFEROR_IP: &str = "127.0.0.6";
const TARGET_IP: &str = "127.0.0.7";
const REFER_TO: &str = "sip:+15551230001@127.0.0.1";

fn locus(transferor: std::net::SocketAddr, target: std::net::SocketAddr) -> Locus {
    let config = format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]

[sip.timers]
t1_ms = 100

[[sip.trunks]]
name = "carrier"
profile = "voice"
carrier_addresses = ["127.0.0.2"]

[[sip.trunks]]
name = "agent"
profile = "byoc"
carrier_addresses = ["{TRANSFEROR_IP}"]
outbound = ["{transferor}"]

[[sip.trunks]]
name = "target"
profile = "byoc"
carrier_addresses = ["{TARGET_IP}"]
outbound = ["{target}"]

[[sip.routes.inbound]]
did = "+15551230000"
trunks = ["agent"]

[[sip.routes.inbound]]
did = "+15551230001"
trunks = ["target"]
"#
    );
    Locus::start(&config, 1)
}

const ANSWERS_THEN_HANGS_UP: &str = r#"<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:target@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=target 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio 44000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
BYE [$curi] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:target@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To:[$from]
Call-ID: [call_id]
CSeq: 1 BYE
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>"#;

const BUSY: &str = r#"<send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK" crlf="true"/>"#;

/// After a completed transfer: Locus hangs up the transferor.
const GETS_BYE: &str = r#"<recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>"#;

/// After a failed transfer the call is still the transferor's: it hangs up.
const HANGS_UP: &str = r#"<pause milliseconds="300"/>
  <send retrans="500"><![CDATA[
BYE [$curi] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:agent@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To:[$from]
Call-ID: [call_id]
CSeq: 2 BYE
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>"#;

/// Runs the three parties; their results (transferee, transferor, target).
fn transfer(final_status: &str, after: &str, target_steps: &str) -> (SippRun, SippRun, SippRun) {
    let dir = tempfile::tempdir().unwrap();
    let transferor = scenario_from_template(
        dir.path(),
        "transfer_transferor.xml.tmpl",
        &[
            ("TARGET", REFER_TO),
            ("FINAL", final_status),
            ("AFTER", after),
        ],
    );
    let target = scenario_from_template(
        dir.path(),
        "transfer_target.xml.tmpl",
        &[("STEPS", target_steps)],
    );
    let transferor = SippServer::start(&transferor, TRANSFEROR_IP);
    let target = SippServer::start(&target, TARGET_IP);
    let locus = locus(transferor.addr, target.addr);
    let transferee = sipp_from(
        "127.0.0.2",
        &scenario("transfer_transferee.xml"),
        locus.addr("udp"),
        "u1",
        &[],
    );
    (transferee, transferor.finish(), target.finish())
}

fn report(runs: &(SippRun, SippRun, SippRun)) -> String {
    format!(
        "transferee ok: {}, transferor ok: {}, target ok: {}\n=== transferee ===\n{}\n=== transferor ===\n{}\n=== target ===\n{}",
        runs.0.success, runs.1.success, runs.2.success, runs.0.log, runs.1.log, runs.2.log
    )
}

#[test]
fn refer_blind_transfer_connects_the_transferee_to_the_target() {
    // The transferor sees 202, NOTIFY 100 Trying, NOTIFY 200 OK
    // (terminated) and Locus's BYE; the target gets the INVITE (the
    // caller's number, an offer of the codecs in use) and, when it hangs
    // up, its BYE reaches the transferee: the two talk through Locus.
    let runs = transfer("200 OK", GETS_BYE, ANSWERS_THEN_HANGS_UP);
    assert!(
        runs.0.success && runs.1.success && runs.2.success,
        "{}",
        report(&runs)
    );
    assert!(
        !runs.0.log.contains("INVITE sip:+15550001000"),
        "the transferee got a re-INVITE:\n{}",
        runs.0.log
    );
}

#[test]
fn refer_failed_transfer_is_reported_and_the_call_stays_up() {
    // The target is busy: the final NOTIFY says 486, Locus sends no BYE to
    // the transferor, whose own BYE then reaches the transferee.
    let runs = transfer("486 Busy Here", HANGS_UP, BUSY);
    assert!(
        runs.0.success && runs.1.success && runs.2.success,
        "{}",
        report(&runs)
    );
}
