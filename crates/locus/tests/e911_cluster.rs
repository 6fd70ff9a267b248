//! E15 end to end: a cluster of two real `locus sip` processes as the
//! members of one call server of the real `locus e911`, on loopback.
//!
//! The manager subscribes to both members and processes the first; SIPp
//! phones register to both members (a cluster shares its registrations:
//! registering each phone with both stands in for that replication). The
//! first member is SIGKILLed, so no NOTIFY says its subscription ended;
//! while the manager has not noticed yet, a phone registers and another
//! unregisters on the survivor. The manager finds the member dead (it
//! answers no OPTIONS), switches to the survivor from the state that
//! member already reported, and its inventory shows every change, without
//! dropping and re-adding the devices that did not change.

mod common;
mod phone_common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    free_udp_port_on, http_body, http_get, http_post_json, json_field, json_objects, scenario,
    sipp_from, Locus, E911,
};
use phone_common::register;

const ALICE_IP: &str = "127.0.0.5";
const BOB_IP: &str = "127.0.0.15";
const CAROL_IP: &str = "127.0.0.25";
const DAVE_IP: &str = "127.0.0.35";
const ALICE: &str = "sip:alice@127.0.0.1";
const BOB: &str = "sip:bob@127.0.0.1";
const CAROL: &str = "sip:carol@127.0.0.1";
const DAVE: &str = "sip:dave@127.0.0.1";
const HQ_ELIN: &str = "+15551230300";

/// One member: UDP on 127.0.0.1 (so both members name their AORs
/// `sip:USER@127.0.0.1`), the four phones' users, the manager trusted as
/// subscriber and as its emergency-device trunk (its PUBLISHes of ELINs
/// are accepted).
fn member_config(data: &Path, manager: SocketAddr) -> String {
    let users: String = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|u| format!("\n[[sip.users]]\nusername = \"{u}\"\npassword = \"secret-{u}\"\n"))
        .collect();
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]
data_dir = "{data}"

[sip.media]
relay = false

[sip.registrar]
algorithms = ["MD5"]

[sip.events]
trusted_subscribers = ["{manager_ip}"]

[[sip.trunks]]
name = "e911-manager"
profile = "byoc"
carrier_addresses = ["{manager_ip}"]
outbound = ["{manager}"]
emergency_device = true
prefix = "911"
{users}"#,
        data = data.display(),
        manager_ip = manager.ip(),
    )
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

fn field(o: &str, name: &str) -> String {
    json_field(o, name).unwrap_or_default()
}

/// Unregisters `user`'s contact bound from `ip:port` (Expires: 0, digest).
fn unregister(member: SocketAddr, ip: &str, port: u16, user: &str) {
    let port = port.to_string();
    let password = format!("secret-{user}");
    let run = sipp_from(
        ip,
        &scenario("unregister_ok.xml"),
        member,
        "u1",
        &[
            "-au", user, "-ap", &password, "-key", "aor", user, "-p", &port,
        ],
    );
    assert!(run.success, "{user} could not unregister:\n{}", run.log);
}

/// Polls the manager's devices (`secs` at most) until they are exactly
/// `expected` (AOR, source IP), each located at HQ with its ELIN; returns
/// each AOR's device record id.
fn wait_devices(
    manager: &E911,
    hq: i64,
    expected: &[(&str, &str)],
    secs: u64,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(aor, ip)| (format!("\"{aor}\""), format!("\"{ip}\"")))
        .collect();
    want.sort();
    loop {
        let resp = http_get(manager.http, "/api/v1/devices");
        let devices = json_objects(http_body(&resp));
        let mut have: Vec<(String, String)> = devices
            .iter()
            .map(|d| (field(d, "aor"), field(d, "source_ip")))
            .collect();
        have.sort();
        let located = devices.iter().all(|d| {
            field(d, "location_id") == hq.to_string()
                && field(d, "elin") == format!("\"{HQ_ELIN}\"")
        });
        if have == want && located {
            return devices
                .iter()
                .map(|d| (field(d, "aor"), field(d, "id")))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "the manager's devices never matched {expected:?} located at HQ; last: {resp}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn e15_first_member_killed_manager_switches_to_the_survivor_and_loses_no_change() {
    // The manager asks each member an OPTIONS every 2 s of silence and
    // gives it 3 s to answer: a member killed without a word is found
    // within 5 s or so.
    let manager = E911::start(
        "[e911]\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = \"@DATA@\"\n\
         sip_listen = [\"udp:127.0.0.1:0\"]\nmember_check_interval = 2\nmember_check_timeout = 3\n",
        1,
    );
    let data = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut first = Locus::start(&member_config(data[0].path(), manager.sip_addr("udp")), 1);
    let second = Locus::start(&member_config(data[1].path(), manager.sip_addr("udp")), 1);
    let (a, b) = (first.addr("udp"), second.addr("udp"));

    let api = manager.http;
    let hq = created_id(
        "the location",
        &http_post_json(
            api,
            "/api/v1/locations",
            &format!(
                r#"{{"name":"HQ","civic":{{"country":"US","A1":"TX","A3":"Austin","RD":"Main St","HNO":"100"}},"elins":["{HQ_ELIN}"]}}"#
            ),
        ),
    );
    for ip in [ALICE_IP, BOB_IP, CAROL_IP, DAVE_IP] {
        created_id(
            "a region",
            &http_post_json(
                api,
                "/api/v1/network-regions",
                &format!(r#"{{"name":"phone {ip}","cidr":"{ip}/32","location_id":{hq}}}"#),
            ),
        );
    }
    // One call server, its cluster in order: the first member, then the
    // second (E14: one IP address per member).
    created_id(
        "the call server",
        &http_post_json(
            api,
            "/api/v1/call-servers",
            &format!(
                r#"{{"type":"locus","name":"cluster","subscription_mode":"server","members":[{{"ip":"{}","port":{},"transport":"udp"}},{{"ip":"{}","port":{},"transport":"udp"}}]}}"#,
                a.ip(),
                a.port(),
                b.ip(),
                b.port()
            ),
        ),
    );

    // alice and bob register with both members, from one address each.
    let ports: BTreeMap<&str, u16> = [ALICE_IP, BOB_IP, CAROL_IP, DAVE_IP]
        .into_iter()
        .map(|ip| (ip, free_udp_port_on(ip)))
        .collect();
    for (ip, user) in [(ALICE_IP, "alice"), (BOB_IP, "bob")] {
        for member in [a, b] {
            register(member, ip, ports[ip], user, &format!("secret-{user}"));
        }
    }
    let before = wait_devices(&manager, hq, &[(ALICE, ALICE_IP), (BOB, BOB_IP)], 30);

    // The manager processes the first member only: dave, registered with
    // the second alone, is not in its inventory (the first member's
    // changes reach it within milliseconds: alice and bob did).
    register(b, DAVE_IP, ports[DAVE_IP], "dave", "secret-dave");
    std::thread::sleep(Duration::from_secs(2));
    let resp = http_get(api, "/api/v1/devices");
    assert!(
        json_objects(http_body(&resp))
            .iter()
            .all(|d| field(d, "aor") != format!("\"{DAVE}\"")),
        "the manager took a change from the second member while the first was healthy: {resp}"
    );

    // SIGKILL the first member; during the failover, on the survivor
    // only: carol registers, bob unregisters.
    first.kill();
    let killed = Instant::now();
    register(b, CAROL_IP, ports[CAROL_IP], "carol", "secret-carol");
    unregister(b, BOB_IP, ports[BOB_IP], "bob");

    // Every change shows, within a bounded time; alice's record is the
    // one from before (the switch-over applied the difference, it did
    // not rebuild the inventory).
    let after = wait_devices(
        &manager,
        hq,
        &[(ALICE, ALICE_IP), (CAROL, CAROL_IP), (DAVE, DAVE_IP)],
        60,
    );
    eprintln!(
        "switch-over seen in the inventory {:.1} s after the SIGKILL",
        killed.elapsed().as_secs_f64()
    );
    let alice = format!("\"{ALICE}\"");
    assert_eq!(
        after.get(&alice),
        before.get(&alice),
        "alice's device record was replaced by the switch-over"
    );

    // The survivor's later changes flow straight through: bob is back.
    register(b, BOB_IP, ports[BOB_IP], "bob", "secret-bob");
    wait_devices(
        &manager,
        hq,
        &[
            (ALICE, ALICE_IP),
            (BOB, BOB_IP),
            (CAROL, CAROL_IP),
            (DAVE, DAVE_IP),
        ],
        30,
    );
}
