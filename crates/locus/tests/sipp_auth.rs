//! Outbound digest authentication on trunks, end to end (C18): SIPp plays
//! the calling carrier from 127.0.0.2, SIPp in server mode plays the far
//! carrier on 127.0.0.6, which challenges Locus's INVITE.

mod common;

use std::path::{Path, PathBuf};

use common::{requests_in_log, scenario, scenario_from_template, sipp_from, Locus, SippServer};

const DID: &str = "+15551230000";

/// Locus with a voice carrier on 127.0.0.2 and a far trunk to `far` with
/// digest credentials for realm `carrier.test`.
fn start_locus(far: std::net::SocketAddr) -> Locus {
    let config = format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]

[sip.timers]
t1_ms = 50

[[sip.trunks]]
name = "carrier"
profile = "voice"
carrier_addresses = ["127.0.0.2"]

[[sip.trunks]]
name = "far"
profile = "byoc"
carrier_addresses = ["127.0.0.6"]
outbound = ["{far}"]
auth = {{ username = "locus-out", password = "s3cret-pass", realm = "carrier.test" }}

[[sip.routes.inbound]]
did = "{DID}"
trunks = ["far"]
"#
    );
    Locus::start(&config, 1)
}

fn carrier(dir: &Path, template: &str, vars: &[(&str, &str)]) -> PathBuf {
    let mut vars = vars.to_vec();
    vars.push(("RHOST", "[remote_ip]:[remote_port]"));
    scenario_from_template(dir, template, &vars)
}

/// The far end answers 401; Locus ACKs it (the transaction does), sends
/// the INVITE once more in the same call with CSeq 2 and credentials that
/// SIPp's `verifyauth` accepts; the far end answers 200 and the call
/// completes both ways.
#[test]
fn c18_outbound_digest_challenge_answered_once() {
    let dir = tempfile::tempdir().unwrap();
    let far = SippServer::start(&scenario("auth_far_challenges_once.xml"), "127.0.0.6");
    let locus = start_locus(far.addr);
    let file = carrier(dir.path(), "trunk_carrier_call.xml.tmpl", &[]);
    let c = sipp_from("127.0.0.2", &file, locus.addr("udp"), "u1", &["-s", DID]);
    let f = far.finish();
    assert!(
        c.success && f.success,
        "carrier ok: {}, far end ok: {}\n=== carrier ===\n{}\n=== far end ===\n{}",
        c.success,
        f.success,
        c.log,
        f.log
    );
    assert_eq!(requests_in_log(&f.log, "INVITE"), 2, "{}", f.log);
    assert_eq!(requests_in_log(&f.log, "ACK"), 2, "{}", f.log);
}

/// The far end challenges the answer again: the credentials were refused.
/// Locus answers a challenge once (no loop): no third INVITE, and the
/// carrier gets 503 (the attempt ends as a 503 would, and no endpoint is
/// left).
#[test]
fn c18_second_challenge_ends_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let far = SippServer::start(&scenario("auth_far_challenges_twice.xml"), "127.0.0.6");
    let locus = start_locus(far.addr);
    let file = carrier(
        dir.path(),
        "trunk_carrier_rejected.xml.tmpl",
        &[("STATUS", "503")],
    );
    let c = sipp_from("127.0.0.2", &file, locus.addr("udp"), "u1", &["-s", DID]);
    let f = far.finish();
    assert!(
        c.success && f.success,
        "carrier ok: {}, far end ok: {}\n=== carrier ===\n{}\n=== far end ===\n{}",
        c.success,
        f.success,
        c.log,
        f.log
    );
    assert_eq!(
        requests_in_log(&f.log, "INVITE"),
        2,
        "a second challenge is never answered:\n{}",
        f.log
    );
}
