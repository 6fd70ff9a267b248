//! The pair end to end (issue 4, "End-to-end scenarios"): the real `locus
//! sip` and the real `locus e911` as two processes on loopback, a SIPp
//! phone registered from 127.0.0.5 and a SIPp emergency gateway on
//! 127.0.0.9. The manager subscribes to `locus sip`'s reg event package
//! from its own address, which is also its emergency-device trunk's
//! address, locates the phone by its region ("HQ floor 3") and PUBLISHes
//! its ELIN; 911 goes to the manager, whose 302 `locus sip` follows to the
//! gateway with the ELIN as calling number and, by value (E6, RFC 6442),
//! the PIDF-LO with HQ floor 3's civic address. With the manager
//! SIGKILLed, the call fails open to the gateway with the ELIN and
//! location last published.

mod baresip_common;
mod common;
mod phone_common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    free_udp_port_on, http_body, http_get, http_post_json, json_field, json_objects, Locus,
    SippRun, SippServer, E911,
};
use phone_common::{answer_scenario, answering_phone, call, register, Expect};

const PHONE_IP: &str = "127.0.0.5";
const GATEWAY_IP: &str = "127.0.0.9";
const HQ_ELIN: &str = "+15551230300";
const DEFAULT_ELIN: &str = "+15551230399";
const ALICE: &str = "sip:alice@127.0.0.1";
const BOB: &str = "sip:bob@127.0.0.1";
const BOB_IP: &str = "127.0.0.15";
const HQ_ELIN_2: &str = "+15551230301";

/// `locus sip` with the manager's trunk (prefix 911, its address the
/// manager's SIP address) and the gateway's (prefix 91, the location sent
/// by value: E6), listening on `listen`.
fn sip_config_on(data: &Path, listen: &str, manager: SocketAddr, gateway: SocketAddr) -> String {
    format!(
        r#"
[sip]
listen = ["{listen}"]
data_dir = "{data}"

[sip.media]
relay = false

[sip.registrar]
algorithms = ["MD5"]

[sip.events]
trusted_subscribers = ["{manager_ip}"]

[[sip.users]]
username = "alice"
password = "secret-a"

[[sip.users]]
username = "bob"
password = "secret-b"

[[sip.trunks]]
name = "e911-manager"
profile = "byoc"
carrier_addresses = ["{manager_ip}"]
outbound = ["{manager}"]
emergency_device = true
prefix = "911"

[[sip.trunks]]
name = "e911-gateway"
profile = "byoc"
carrier_addresses = ["{GATEWAY_IP}"]
outbound = ["{gateway}"]
emergency_device = true
prefix = "91"
default_elin = "{DEFAULT_ELIN}"
send_location = true
"#,
        data = data.display(),
        manager_ip = manager.ip(),
    )
}

struct Pair {
    manager: E911,
    sip: Locus,
    sip_data: tempfile::TempDir,
    gateway: SocketAddr,
    hq: i64,
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

/// Starts the manager, then `locus sip` pointing at it, then configures the
/// manager through its API (location, region 127.0.0.5/32, call server
/// whose member is `locus sip`, mode server), then registers alice from
/// 127.0.0.5.
fn pair() -> Pair {
    let p = pair_with(&[HQ_ELIN], &[PHONE_IP], "udp:127.0.0.1:0");
    register(
        p.sip.addr("udp"),
        PHONE_IP,
        free_udp_port_on(PHONE_IP),
        "alice",
        "secret-a",
    );
    p
}

/// The pair with HQ floor 3's ELIN pool `elins`, one /32 region of it per
/// address in `phones`, `locus sip` listening on `listen`; no phone
/// registered yet.
fn pair_with(elins: &[&str], phones: &[&str], listen: &str) -> Pair {
    let manager = E911::start(
        "[e911]\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = \"@DATA@\"\nsip_listen = [\"udp:127.0.0.1:0\"]\n",
        1,
    );
    let gateway: SocketAddr = format!("{GATEWAY_IP}:{}", free_udp_port_on(GATEWAY_IP))
        .parse()
        .unwrap();
    let sip_data = tempfile::tempdir().unwrap();
    let sip = Locus::start(
        &sip_config_on(sip_data.path(), listen, manager.sip_addr("udp"), gateway),
        1,
    );
    let api = manager.http;
    let hq = created_id(
        "the location",
        &http_post_json(
            api,
            "/api/v1/locations",
            &format!(
                r#"{{"name":"HQ floor 3","civic":{{"country":"US","A1":"TX","A3":"Austin","RD":"Main St","HNO":"100","FLR":"3"}},"elins":["{}"]}}"#,
                elins.join(r#"",""#)
            ),
        ),
    );
    for ip in phones {
        created_id(
            "the region",
            &http_post_json(
                api,
                "/api/v1/network-regions",
                &format!(r#"{{"name":"floor 3 phone {ip}","cidr":"{ip}/32","location_id":{hq}}}"#),
            ),
        );
    }
    let member = sip.addr("udp");
    created_id(
        "the call server",
        &http_post_json(
            api,
            "/api/v1/call-servers",
            &format!(
                r#"{{"type":"locus","name":"locus sip","subscription_mode":"server","members":[{{"ip":"{}","port":{},"transport":"udp"}}]}}"#,
                member.ip(),
                member.port()
            ),
        ),
    );
    Pair {
        manager,
        sip,
        sip_data,
        gateway,
        hq,
    }
}

fn field(o: &str, name: &str) -> String {
    json_field(o, name).unwrap_or_default()
}

/// Polls the manager's devices (10 s at most) until alice is located at
/// HQ floor 3 with its ELIN; proves the reg event subscription from the
/// manager trunk's address reached the notifier (E1, E9, E10).
fn wait_located(p: &Pair) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let hq = p.hq.to_string();
    loop {
        let resp = http_get(p.manager.http, "/api/v1/devices");
        let located = json_objects(http_body(&resp)).iter().any(|d| {
            field(d, "aor") == format!("\"{ALICE}\"")
                && field(d, "location_id") == hq
                && field(d, "elin") == format!("\"{HQ_ELIN}\"")
                && field(d, "source_ip") == format!("\"{PHONE_IP}\"")
        });
        if located {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the manager never located alice at HQ floor 3 with {HQ_ELIN}; last: {resp}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls (10 s at most) until `locus sip` has stored the ELIN the manager
/// PUBLISHed (E11): its row in `elins.sqlite` (WAL), written after the
/// notifier's in-memory table took it.
fn wait_published(p: &Pair) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let needle = HQ_ELIN.as_bytes();
    loop {
        let stored = std::fs::read_dir(p.sip_data.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("elins.sqlite"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle));
        if stored {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "locus sip never stored the ELIN {HQ_ELIN} published by the manager"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The gateway's answering scenario: INVITE to 911 with `elin` in From and
/// P-Asserted-Identity.
fn gateway_scenario(dir: &Path, elin: &str) -> PathBuf {
    let e = elin.replace('+', r"\+");
    answer_scenario(
        dir,
        "scenario_gateway.xml",
        &format!(
            r#"<ereg regexp="^INVITE sip:911@" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="&lt;sip:{e}@" search_in="hdr" header="From:" check_it="true" assign_to="from"/>
      <ereg regexp="&lt;sip:{e}@" search_in="hdr" header="P-Asserted-Identity:" check_it="true" assign_to="pai"/>"#
        ),
        "ruri,from,pai",
    )
}

/// Seconds since midnight of the first message starting with `start` in a
/// SIPp message trace.
fn first_time(log: &str, start: &str) -> Option<f64> {
    let mut stamp = None;
    for line in log.lines() {
        if line.starts_with("-----------") {
            stamp = line.split_whitespace().last().and_then(|t| {
                let mut p = t.split(':');
                let h: f64 = p.next()?.parse().ok()?;
                let m: f64 = p.next()?.parse().ok()?;
                let s: f64 = p.next()?.parse().ok()?;
                Some(h * 3600.0 + m * 60.0 + s)
            });
        } else if line.starts_with(start) {
            return stamp;
        }
    }
    None
}

/// Alice dials 911 from 127.0.0.5 (unchallenged) with the gateway waiting
/// for `elin`; both SIPp results.
fn dial_911(p: &Pair, elin: &str) -> (SippRun, SippRun) {
    dial_911_at(p, &gateway_scenario(p.sip.dir(), elin))
}

/// E6: the gateway got HQ floor 3's civic address (as the test created
/// the location through the manager's API) and `elin` in a PIDF-LO part,
/// named by the INVITE's Geolocation header.
fn assert_hq_floor_3_by_value(gateway_log: &str, elin: &str) {
    let loc = common::location_by_value(gateway_log)
        .unwrap_or_else(|| panic!("no location by value at the gateway:\n{gateway_log}"));
    assert_eq!(loc.geolocation_cid, loc.content_id, "{loc:?}");
    assert_eq!(loc.routing.as_deref(), Some("yes"));
    let doc = pidf_lo::LocationDoc::parse(loc.pidf.as_bytes())
        .unwrap_or_else(|e| panic!("not a PIDF-LO ({e}):\n{}", loc.pidf));
    assert_eq!(doc.entity, "pres:alice@127.0.0.1");
    let c = &doc.civic;
    let got = [&c.country, &c.a1, &c.a3, &c.rd, &c.hno, &c.flr].map(|v| v.as_deref());
    assert_eq!(
        got,
        [
            Some("US"),
            Some("TX"),
            Some("Austin"),
            Some("Main St"),
            Some("100"),
            Some("3")
        ],
        "{}",
        loc.pidf
    );
    assert_eq!(doc.elin.as_ref().map(|e| e.as_str()), Some(elin));
    // The gateway may hand the location on to the PSAP (RFC 6442 4.4).
    assert!(doc.usage.retransmission_allowed, "{}", loc.pidf);
    assert!(loc.sdp.contains("m=audio 40000"), "{}", loc.sdp);
}

/// Alice dials 911 with the gateway answering from `scenario`.
fn dial_911_at(p: &Pair, scenario: &Path) -> (SippRun, SippRun) {
    let gw = SippServer::start_on(scenario, GATEWAY_IP, p.gateway.port(), &["-m", "1"]);
    let run = call(
        p.sip.addr("udp"),
        p.sip.dir(),
        PHONE_IP,
        "alice",
        None,
        "911",
        Expect::Answered,
    );
    (run, gw.finish())
}

/// E4, E12, and E6: the location reaches the gateway by value too.
#[test]
fn e4_e12_phone_located_by_the_manager_reaches_the_gateway_with_its_elin() {
    let p = pair();
    wait_located(&p);
    wait_published(&p);
    let (run, gw) = dial_911(&p, HQ_ELIN);
    assert!(run.success, "the 911 call did not complete:\n{}", run.log);
    assert!(
        gw.success,
        "the gateway did not get 911 from {HQ_ELIN}:\n{}",
        gw.log
    );
    assert_hq_floor_3_by_value(&gw.log, HQ_ELIN);
    // Through the manager: its record of the call says it answered 302
    // with the HQ floor 3 ELIN (E12, E16).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = http_get(p.manager.http, "/api/v1/emergency-calls");
        let calls = json_objects(http_body(&resp));
        if let Some(c) = calls.first() {
            assert_eq!(calls.len(), 1, "{resp}");
            assert_eq!(field(c, "caller_aor"), format!("\"{ALICE}\""), "{c}");
            assert_eq!(field(c, "elin"), format!("\"{HQ_ELIN}\""), "{c}");
            assert_eq!(field(c, "location_id"), p.hq.to_string(), "{c}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the manager recorded no emergency call: {resp}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// E8, and E6: the last published location still goes with the call.
#[test]
fn e8_manager_killed_gateway_still_gets_the_call_with_last_elin() {
    let mut p = pair();
    wait_located(&p);
    wait_published(&p);
    p.manager.kill();
    let (run, gw) = dial_911(&p, HQ_ELIN);
    assert!(run.success, "the 911 call did not fail open:\n{}", run.log);
    assert!(
        gw.success,
        "the gateway did not get the last published ELIN {HQ_ELIN}:\n{}",
        gw.log
    );
    assert_hq_floor_3_by_value(&gw.log, HQ_ELIN);
    let sent = first_time(&run.log, "INVITE sip:911@").expect("phone sent INVITE");
    let got = first_time(&gw.log, "INVITE sip:911@").expect("gateway got INVITE");
    assert!(
        got - sent < 1.0,
        "the gateway got the call {:.3} s after the phone dialed",
        got - sent
    );
}

/// A SUBSCRIBE for `event` to the whole server, sent from a UDP socket on
/// 127.0.0.1 (the manager trunk's address); the status of the answer.
fn subscribe_status(sip: SocketAddr, event: &str) -> String {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = sock.local_addr().unwrap();
    let msg = format!(
        "SUBSCRIBE sip:{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{event}-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:e911@{local}>;tag=t-{event}\r\n\
         To: <sip:{sip}>\r\n\
         Call-ID: sub-{event}@{local}\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:e911@{local}>\r\n\
         Event: {event}\r\n\
         Accept: application/reginfo+xml\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(msg.as_bytes(), sip).unwrap();
    let mut buf = [0u8; 65535];
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("an answer to SUBSCRIBE");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        // Skip the NOTIFYs a subscription causes.
        if let Some(rest) = text.strip_prefix("SIP/2.0 ") {
            return rest.chars().take(3).collect();
        }
    }
}

#[test]
fn e9_reg_subscribe_from_the_manager_trunk_address_reaches_the_notifier() {
    let p = pair();
    let sip = p.sip.addr("udp");
    // The manager's own address is its emergency-device trunk's: a reg
    // event SUBSCRIBE from it goes to the notifier (trusted), any other
    // package keeps the trunk rules (C6: 405).
    assert_eq!(subscribe_status(sip, "reg"), "200");
    assert_eq!(subscribe_status(sip, "presence"), "405");
}

/// Polls the manager's devices (`secs` at most) until they are exactly
/// `expected` (AOR, source IP), each located at HQ floor 3 with an ELIN of
/// its pool.
fn wait_devices(p: &Pair, expected: &[(&str, &str)], secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let hq = p.hq.to_string();
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(aor, ip)| (format!("\"{aor}\""), format!("\"{ip}\"")))
        .collect();
    want.sort();
    loop {
        let resp = http_get(p.manager.http, "/api/v1/devices");
        let devices = json_objects(http_body(&resp));
        let mut have: Vec<(String, String)> = devices
            .iter()
            .map(|d| (field(d, "aor"), field(d, "source_ip")))
            .collect();
        have.sort();
        let located = devices.iter().all(|d| {
            field(d, "location_id") == hq
                && [HQ_ELIN, HQ_ELIN_2]
                    .iter()
                    .any(|e| field(d, "elin") == format!("\"{e}\""))
        });
        if have == want && located {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the manager's devices never matched {expected:?} located at HQ floor 3; last: {resp}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn e12_two_phones_in_one_location_get_different_elins_and_callbacks_reach_each() {
    let p = pair_with(
        &[HQ_ELIN, HQ_ELIN_2],
        &[PHONE_IP, BOB_IP],
        "udp:127.0.0.1:0",
    );
    let sip = p.sip.addr("udp");
    let dir = p.sip.dir().to_owned();
    // Both phones register and answer where they registered from.
    let phone = |ip: &str, user: &str, password: &str| {
        let uri = format!(r"^INVITE sip:{user}@{}:[0-9]+", ip.replace('.', r"\."));
        answering_phone(
            sip,
            &dir,
            ip,
            user,
            password,
            &format!(r#"<ereg regexp="{uri}" search_in="msg" check_it="true" assign_to="ruri"/>"#),
            "ruri",
        )
    };
    let phones = [
        (ALICE, phone(PHONE_IP, "alice", "secret-a")),
        (BOB, phone(BOB_IP, "bob", "secret-b")),
    ];
    wait_devices(&p, &[(ALICE, PHONE_IP), (BOB, BOB_IP)], 10);
    // Both dial 911 at once; the gateway takes two calls, each from an
    // ELIN of the pool.
    let gw = SippServer::start_on(
        &gateway_scenario(&dir, "+1555123030[01]"),
        GATEWAY_IP,
        p.gateway.port(),
        &["-m", "2"],
    );
    let callers: Vec<_> = [(PHONE_IP, "alice"), (BOB_IP, "bob")]
        .into_iter()
        .map(|(ip, user)| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                (
                    user,
                    call(sip, &dir, ip, user, None, "911", Expect::Answered),
                )
            })
        })
        .collect();
    for c in callers {
        let (user, run) = c.join().unwrap();
        assert!(run.success, "{user}'s 911 call:\n{}", run.log);
    }
    let gw = gw.finish();
    assert!(
        gw.success,
        "the gateway did not get both calls:\n{}",
        gw.log
    );
    for elin in [HQ_ELIN, HQ_ELIN_2] {
        assert!(
            gw.log
                .lines()
                .any(|l| l.starts_with("P-Asserted-Identity:")
                    && l.contains(&format!("<sip:{elin}@"))),
            "no call reached the gateway from {elin}:\n{}",
            gw.log
        );
    }
    // The manager's records say which caller got which ELIN (E12, E16).
    let deadline = Instant::now() + Duration::from_secs(10);
    let elin_of = loop {
        let resp = http_get(p.manager.http, "/api/v1/emergency-calls");
        let calls = json_objects(http_body(&resp));
        if calls.len() == 2 {
            let elin_of = |aor: &str| {
                calls
                    .iter()
                    .find(|c| field(c, "caller_aor") == format!("\"{aor}\""))
                    .map(|c| field(c, "elin").trim_matches('"').to_owned())
                    .unwrap_or_else(|| panic!("no call recorded from {aor}: {resp}"))
            };
            break [elin_of(ALICE), elin_of(BOB)];
        }
        assert!(
            Instant::now() < deadline,
            "the manager did not record two emergency calls: {resp}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(elin_of[0], elin_of[1], "both callers got the same ELIN");
    // The PSAP calls each ELIN back through the gateway trunk: the phone
    // that used it rings (E7).
    for ((aor, answering), elin) in phones.into_iter().zip(&elin_of) {
        let back = call(sip, &dir, GATEWAY_IP, "psap", None, elin, Expect::Answered);
        assert!(back.success, "the callback to {elin} failed:\n{}", back.log);
        let run = answering.finish();
        assert!(
            run.success,
            "{aor} did not get the callback to {elin}:\n{}",
            run.log
        );
    }
}

#[test]
fn e15_sip_server_restart_manager_resubscribes_and_inventory_matches() {
    let listen = format!("udp:127.0.0.1:{}", free_udp_port_on("127.0.0.1"));
    let mut p = pair_with(&[HQ_ELIN], &[PHONE_IP, BOB_IP], &listen);
    register(
        p.sip.addr("udp"),
        PHONE_IP,
        free_udp_port_on(PHONE_IP),
        "alice",
        "secret-a",
    );
    wait_devices(&p, &[(ALICE, PHONE_IP)], 10);
    // SIGTERM, then the same configuration and data directory again: the
    // bindings persist.
    assert!(p.sip.terminate().success());
    p.sip = Locus::start(
        &sip_config_on(
            p.sip_data.path(),
            &listen,
            p.manager.sip_addr("udp"),
            p.gateway,
        ),
        1,
    );
    // A phone registering after the restart shows that the manager
    // subscribed again; alice's binding, from before, is not lost.
    register(
        p.sip.addr("udp"),
        BOB_IP,
        free_udp_port_on(BOB_IP),
        "bob",
        "secret-b",
    );
    wait_devices(&p, &[(ALICE, PHONE_IP), (BOB, BOB_IP)], 30);
}

#[test]
fn e4_e6_real_baresip_phone_dials_911_and_reaches_the_gateway_with_its_elin() {
    let p = pair_with(&[HQ_ELIN], &[PHONE_IP], "udp:127.0.0.1:0");
    let wav = p.sip.dir().join("tone.wav");
    baresip_common::write_tone_wav(&wav, 440.0, 60);
    let mut alice = baresip_common::Baresip::start(&baresip_common::PhoneSpec {
        user: "alice",
        password: "secret-a",
        registrar: p.sip.addr("udp"),
        ip: PHONE_IP,
        source_wav: &wav,
    });
    // The manager locates the real phone by the address it registered
    // from and PUBLISHes its ELIN.
    wait_located(&p);
    wait_published(&p);
    let gw = SippServer::start_on(
        &gateway_scenario(p.sip.dir(), HQ_ELIN),
        GATEWAY_IP,
        p.gateway.port(),
        &["-m", "1"],
    );
    if let Err(e) = alice.ctrl.command("dial", "911") {
        panic!("dial 911 refused: {e}\n{}", alice.report());
    }
    assert!(
        alice.ctrl.wait_event("CALL_ESTABLISHED", 30).is_some(),
        "alice's 911 call was not answered within 30 s\n{}",
        alice.report()
    );
    // 911 is never challenged (E4, Kari's Law): one INVITE, no 407.
    let trace = alice.sip_trace();
    let invites = trace
        .iter()
        .filter(|m| m.start.starts_with("INVITE sip:911@"))
        .count();
    let challenged = trace
        .iter()
        .any(|m| m.start.starts_with("SIP/2.0 407") && m.cseq_is("INVITE"));
    assert!(
        invites == 1 && !challenged,
        "the 911 INVITE was challenged ({invites} INVITEs)\n{}",
        alice.report()
    );
    if let Err(e) = alice.ctrl.command("hangup", "") {
        panic!("hangup refused: {e}\n{}", alice.report());
    }
    assert!(
        alice.ctrl.wait_event("CALL_CLOSED", 30).is_some(),
        "alice's 911 call did not close\n{}",
        alice.report()
    );
    // The gateway got 911 from the ELIN (From and P-Asserted-Identity,
    // E6) and alice's BYE.
    let gw = gw.finish();
    assert!(
        gw.success,
        "the gateway did not get 911 from {HQ_ELIN} and its BYE:\n{}\n{}",
        gw.log,
        alice.report()
    );
    // Through the manager: it recorded the call with HQ floor 3's ELIN.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = http_get(p.manager.http, "/api/v1/emergency-calls");
        let calls = json_objects(http_body(&resp));
        if let Some(c) = calls.first() {
            assert_eq!(field(c, "caller_aor"), format!("\"{ALICE}\""), "{c}");
            assert_eq!(field(c, "elin"), format!("\"{HQ_ELIN}\""), "{c}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the manager recorded no emergency call: {resp}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
