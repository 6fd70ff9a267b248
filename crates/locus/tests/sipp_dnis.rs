//! C8, byoc DNIS replacement, end to end: SIPp plays a byoc carrier from
//! 127.0.0.3, SIPp in server mode the far end on 127.0.0.6; the far end
//! checks the user its Request-URI (and To) carries.

mod common;

use common::{scenario_from_template, sipp_from, Locus, SippServer};

const FAR_IP: &str = "127.0.0.6";

/// Locus with a byoc carrier on 127.0.0.3 whose DNIS rule rewrites
/// `+1555` and four digits to `agent` and those digits; the rewritten DID
/// and an unmatched number both route to the far-end trunk.
fn locus(far: std::net::SocketAddr) -> Locus {
    let config = format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]

[sip.timers]
t1_ms = 50

[[sip.trunks]]
name = "byoc-carrier"
profile = "byoc"
carrier_addresses = ["127.0.0.3"]
dnis = [
  {{ match = "^\\+1555(\\d{{4}})$", replace = "agent$1" }},
  {{ match = "^\\+1555", replace = "never" }},
]

[[sip.trunks]]
name = "far"
profile = "byoc"
carrier_addresses = ["{FAR_IP}"]
outbound = ["{far}"]

[[sip.routes.inbound]]
did = "agent1234"
trunks = ["far"]

[[sip.routes.inbound]]
did = "+16661234"
trunks = ["far"]
"#
    );
    Locus::start(&config, 1)
}

/// The carrier calls `dialed`; the far end must receive `expect_re` as its
/// Request-URI and To user.
fn call(dialed: &str, expect_re: &str) {
    let dir = tempfile::tempdir().unwrap();
    let far_file = scenario_from_template(dir.path(), "dnis_far.xml", &[("EXPECT_RE", expect_re)]);
    let far = SippServer::start(&far_file, FAR_IP);
    let locus = locus(far.addr);
    let carrier_file = scenario_from_template(dir.path(), "dnis_carrier.xml", &[("RUSER", dialed)]);
    let c = sipp_from("127.0.0.3", &carrier_file, locus.addr("udp"), "u1", &[]);
    let f = far.finish();
    assert!(
        c.success && f.success,
        "{dialed}: carrier ok: {}, far end ok: {}\n=== carrier ===\n{}\n=== far end ===\n{}",
        c.success,
        f.success,
        c.log,
        f.log
    );
}

#[test]
fn c8_byoc_dnis_replacement_rewrites_the_called_user() {
    // The first matching rule rewrites the user: the DID routed and the
    // user the far end receives.
    call("+15551234", "agent1234");
}

#[test]
fn c8_byoc_dnis_no_matching_rule_passes_the_user_unchanged() {
    call("+16661234", "\\+16661234");
}
