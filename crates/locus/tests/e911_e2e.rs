//! The E911 manager's SIP side end to end (DESIGN.md section 4): `locus
//! e911` runs as a real process; SIPp on 127.0.0.7 plays the SIP server it
//! subscribes to (reg event NOTIFY with two phones, PUBLISH receiver) and
//! then passes it an emergency INVITE. The configuration goes in through
//! the HTTP API; results are read back from it. Each test names the rules
//! it proves.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{
    http_body, http_get, http_post_json, json_field, json_objects, scenario, sipp_from, SippRun,
    SippServer, E911,
};

const SERVER_IP: &str = "127.0.0.7";
const HQ_ELIN: &str = "+15551230300";

/// A manager with a location ("HQ floor 3", two ELINs), the region
/// 127.0.0.5/32 mapped to it, and a call server whose one member is SIPp.
struct Setup {
    manager: E911,
    sip_server: Option<SippServer>,
    hq: i64,
    call_server: i64,
}

fn created_id(what: &str, response: &str) -> i64 {
    assert!(
        response.starts_with("HTTP/1.1 201") || response.starts_with("HTTP/1.1 200"),
        "creating {what}: {response}"
    );
    json_field(http_body(response), "id")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no id in {response}"))
}

fn setup() -> Setup {
    let manager = E911::start(
        "[e911]\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = \"@DATA@\"\nsip_listen = [\"udp:127.0.0.1:0\"]\n",
        1,
    );
    let sip_server = SippServer::start_calls(&scenario("e911_sip_server.xml"), SERVER_IP, 2);
    let api = manager.http;
    let hq = created_id(
        "the location",
        &http_post_json(
            api,
            "/api/v1/locations",
            &format!(
                r#"{{"name":"HQ floor 3","civic":{{"country":"US","A1":"TX","A3":"Austin","RD":"Main St","HNO":"100","FLR":"3"}},"elins":["{HQ_ELIN}","+15551230301"]}}"#
            ),
        ),
    );
    created_id(
        "the region",
        &http_post_json(
            api,
            "/api/v1/network-regions",
            &format!(r#"{{"name":"floor 3 phones","cidr":"127.0.0.5/32","location_id":{hq}}}"#),
        ),
    );
    let port = sip_server.addr.port();
    let call_server = created_id(
        "the call server",
        &http_post_json(
            api,
            "/api/v1/call-servers",
            &format!(
                r#"{{"type":"locus","name":"sipp","members":[{{"ip":"{SERVER_IP}","port":{port},"transport":"udp"}}]}}"#
            ),
        ),
    );
    Setup {
        manager,
        sip_server: Some(sip_server),
        hq,
        call_server,
    }
}

/// Polls `path` (10 s at most) until `done` accepts its JSON objects.
fn poll_api(api: SocketAddr, path: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = http_get(api, path);
        let objects = json_objects(http_body(&resp));
        if done(&objects) {
            return objects;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} never reached the expected state; last: {resp}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn field(o: &str, name: &str) -> String {
    json_field(o, name).unwrap_or_default()
}

fn device<'a>(devices: &'a [String], aor: &str) -> Option<&'a String> {
    devices
        .iter()
        .find(|d| field(d, "aor") == format!("\"{aor}\""))
}

/// Waits for both phones in the API, alice located at HQ floor 3 with its
/// ELIN, bob unlocated; returns the devices.
fn wait_for_devices(s: &Setup) -> Vec<String> {
    let hq = s.hq.to_string();
    poll_api(s.manager.http, "/api/v1/devices", |d| {
        d.len() == 2
            && device(d, "sip:alice@example.com").is_some_and(|a| field(a, "location_id") == hq)
            && device(d, "sip:bob@example.com").is_some()
    })
}

/// Waits for SIPp's SIP server scenario: the SUBSCRIBE/NOTIFY dialog and
/// the PUBLISH with the ELIN.
fn finish_sip_server(s: &mut Setup) -> SippRun {
    s.sip_server.take().expect("SIPp running").finish()
}

/// The emergency INVITE from the SIP server's address, as a client.
fn emergency_invite(s: &Setup) -> SippRun {
    sipp_from(
        SERVER_IP,
        &scenario("e911_emergency_invite.xml"),
        s.manager.sip_addr("udp"),
        "u1",
        &[],
    )
}

#[test]
fn e9_e11_manager_downloads_devices_and_publishes_elin() {
    let mut s = setup();
    // SIPp checks the SUBSCRIBE (Event: reg), sends the full state, and
    // checks the PUBLISH: pidf+xml, alice's AOR, the HQ floor 3 ELIN, the
    // floor and alice's instance as device ID.
    let run = finish_sip_server(&mut s);
    assert!(run.success, "SIP server scenario failed:{}", run.log);

    let devices = wait_for_devices(&s);
    let alice = device(&devices, "sip:alice@example.com").expect("alice");
    assert_eq!(field(alice, "call_server_id"), s.call_server.to_string());
    assert_eq!(field(alice, "elin"), format!("\"{HQ_ELIN}\""));
    assert_eq!(field(alice, "located_by"), "\"region\"");
    assert_eq!(field(alice, "state"), "\"located\"");
    assert_eq!(field(alice, "source_ip"), "\"127.0.0.5\"");
    assert_eq!(
        field(alice, "ident"),
        "\"urn:uuid:00000000-0000-1000-8000-0000000a11ce\""
    );
    let bob = device(&devices, "sip:bob@example.com").expect("bob");
    assert_eq!(field(bob, "location_id"), "null");
    assert_eq!(field(bob, "elin"), "null");
    assert_eq!(field(bob, "state"), "\"unlocated\"");
}

#[test]
fn e12_emergency_invite_gets_302_with_elin() {
    let mut s = setup();
    let run = finish_sip_server(&mut s);
    assert!(run.success, "SIP server scenario failed:{}", run.log);
    wait_for_devices(&s);
    // 302, Contact <sip:911@127.0.0.7?P-Asserted-Identity=%3Csip:+15551230300%40127.0.0.7%3E>.
    let run = emergency_invite(&s);
    assert!(run.success, "emergency INVITE scenario failed:{}", run.log);
}

#[test]
fn e16_emergency_call_recorded() {
    let mut s = setup();
    let run = finish_sip_server(&mut s);
    assert!(run.success, "SIP server scenario failed:{}", run.log);
    let devices = wait_for_devices(&s);
    let alice_id = field(
        device(&devices, "sip:alice@example.com").expect("alice"),
        "id",
    );
    let run = emergency_invite(&s);
    assert!(run.success, "emergency INVITE scenario failed:{}", run.log);

    let calls = poll_api(s.manager.http, "/api/v1/emergency-calls", |c| !c.is_empty());
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(field(call, "caller_aor"), "\"sip:alice@example.com\"");
    assert_eq!(field(call, "caller_user"), "\"alice\"");
    assert_eq!(field(call, "elin"), format!("\"{HQ_ELIN}\""));
    assert_eq!(field(call, "location_id"), s.hq.to_string());
    assert_eq!(field(call, "device_id"), alice_id);
    assert_eq!(field(call, "call_server_id"), s.call_server.to_string());
    assert_eq!(field(call, "gateway_username"), "\"911\"");
    assert!(
        field(call, "location_text").contains("HQ floor 3"),
        "{call}"
    );
    assert!(
        field(call, "answered_with").contains("P-Asserted-Identity=%3Csip:+15551230300%40"),
        "{call}"
    );
}
