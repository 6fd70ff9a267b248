//! C19 end to end: calling identity and privacy through the B2BUA. SIPp
//! plays the carrier from 127.0.0.2 and, in server mode, the far end (a
//! trunk) on 127.0.0.6, whose scenario checks the INVITE it receives
//! (`tests/sipp/identity_*.xml`).

mod common;

use common::{scenario, sipp_from, Locus, SippServer};

const FAR_IP: &str = "127.0.0.6";

/// Locus with a voice carrier on 127.0.0.2 and the DID routed to a far-end
/// trunk at `far` whose identity mode is `identity` (absent: the default).
fn locus(far: std::net::SocketAddr, identity: Option<&str>) -> Locus {
    let identity = identity.map_or(String::new(), |m| format!("identity = \"{m}\"\n"));
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
carrier_addresses = ["{FAR_IP}"]
outbound = ["{far}"]
{identity}
[[sip.routes.inbound]]
did = "+15551230000"
trunks = ["far"]
"#
    );
    Locus::start(&config, 1)
}

/// One call: the carrier plays `carrier`, the far end `far`.
fn call(carrier: &str, far: &str, identity: Option<&str>) {
    let far = SippServer::start(&scenario(far), FAR_IP);
    let locus = locus(far.addr, identity);
    let c = sipp_from(
        "127.0.0.2",
        &scenario(carrier),
        locus.addr("udp"),
        "u1",
        &[],
    );
    let f = far.finish();
    assert!(
        c.success && f.success,
        "carrier ok: {}, far end ok: {}\n=== carrier ===\n{}\n=== far end ===\n{}",
        c.success,
        f.success,
        c.log,
        f.log
    );
}

/// C19: a private caller (P-Asserted-Identity with the number, `Privacy:
/// id`, anonymous From) reaches a trunk in the default `pai` mode with From
/// and Contact anonymous, the number in P-Asserted-Identity and `Privacy:
/// id`; the number never shows in From or Contact.
#[test]
fn c19_private_caller_sent_with_pai_privacy_id_and_anonymous_from() {
    call(
        "identity_private_carrier.xml",
        "identity_private_far.xml",
        None,
    );
}

/// C19: a public caller identified by From alone reaches a trunk in `from`
/// mode with its display name and number in From and no
/// P-Asserted-Identity, Remote-Party-ID or Privacy.
#[test]
fn c19_public_caller_in_from_mode_sent_in_from_only() {
    call(
        "identity_public_carrier.xml",
        "identity_public_far.xml",
        Some("from"),
    );
}
