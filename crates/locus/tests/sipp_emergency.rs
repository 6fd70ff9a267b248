//! Emergency routing end to end (DESIGN.md section 4, E3 to E8 and E11): a
//! registered SIPp phone dials 911; a SIPp E911 manager on 127.0.0.8 (an
//! emergency-device trunk, prefix 911) answers 302 with the ELIN; a SIPp
//! emergency gateway on 127.0.0.9 (an emergency-device trunk, prefix 91)
//! receives the call with the ELIN as calling number. Fail-open when the
//! manager is down or silent; ELINs published by PUBLISH from the
//! manager's address.

mod common;
mod phone_common;

use std::net::SocketAddr;
use std::path::Path;

use common::{free_udp_port_on, requests_in_log, scenario, Locus, SippRun, SippServer};
use phone_common::{answer_scenario, answering_phone, call, register, Expect};

const MANAGER_IP: &str = "127.0.0.8";
const GATEWAY_IP: &str = "127.0.0.9";
const CARRIER_IP: &str = "127.0.0.6";
const PHONE_IP: &str = "127.0.0.5";
const ELIN_302: &str = "+15551230300";
const DEFAULT_ELIN: &str = "+15551230399";

/// Locus with the manager and gateway DN trunks, a normal carrier trunk
/// for numbers starting with +1, and users alice and bob.
fn config(data: &Path, manager: SocketAddr, gateway: SocketAddr, carrier: SocketAddr) -> String {
    config_with(data, manager, gateway, carrier, "")
}

/// [`config`] with `manager_extra` keys in the manager's trunk.
fn config_with(
    data: &Path,
    manager: SocketAddr,
    gateway: SocketAddr,
    carrier: SocketAddr,
    manager_extra: &str,
) -> String {
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]
data_dir = "{data}"

[sip.media]
relay = false

[sip.registrar]
algorithms = ["MD5"]

[[sip.users]]
username = "alice"
password = "secret-a"

[[sip.users]]
username = "bob"
password = "secret-b"

[[sip.trunks]]
name = "e911-manager"
profile = "byoc"
carrier_addresses = ["{MANAGER_IP}"]
outbound = ["{manager}"]
emergency_device = true
prefix = "911"
{manager_extra}

[[sip.trunks]]
name = "e911-gateway"
profile = "byoc"
carrier_addresses = ["{GATEWAY_IP}"]
outbound = ["{gateway}"]
emergency_device = true
prefix = "91"
default_elin = "{DEFAULT_ELIN}"

[[sip.trunks]]
name = "carrier"
profile = "byoc"
carrier_addresses = ["{CARRIER_IP}"]
outbound = ["{carrier}"]

[[sip.routes.outbound]]
prefix = "+1"
trunk = "carrier"
"#,
        data = data.display()
    )
}

struct Setup {
    locus: Locus,
    manager: SocketAddr,
    gateway: SocketAddr,
    carrier: SocketAddr,
}

fn setup(data: &Path) -> Setup {
    setup_with(data, "")
}

fn setup_with(data: &Path, manager_extra: &str) -> Setup {
    setup_from(data, |d, m, g, c| config_with(d, m, g, c, manager_extra))
}

/// A free UDP address on `ip` (a trunk's endpoint, bound later by SIPp).
fn free_addr_on(ip: &str) -> SocketAddr {
    format!("{ip}:{}", free_udp_port_on(ip)).parse().unwrap()
}

/// Registers alice from a free port on 127.0.0.5 (the caller's phone).
fn register_alice(locus: &Locus) {
    register(
        locus.addr("udp"),
        PHONE_IP,
        free_udp_port_on(PHONE_IP),
        "alice",
        "secret-a",
    );
}

/// Locus from the configuration `make` writes for the trunk addresses,
/// alice registered from 127.0.0.5.
fn setup_from(
    data: &Path,
    make: impl Fn(&Path, SocketAddr, SocketAddr, SocketAddr) -> String,
) -> Setup {
    let (manager, gateway, carrier) = (
        free_addr_on(MANAGER_IP),
        free_addr_on(GATEWAY_IP),
        free_addr_on(CARRIER_IP),
    );
    let locus = Locus::start(&make(data, manager, gateway, carrier), 1);
    // The caller is a registered phone.
    register_alice(&locus);
    Setup {
        locus,
        manager,
        gateway,
        carrier,
    }
}

/// The gateway's answering scenario, checking the Request-URI user and the
/// calling number `elin` in From and P-Asserted-Identity.
fn gateway_scenario(dir: &Path, elin: &str) -> std::path::PathBuf {
    let e = elin.replace('+', r"\+");
    answer_scenario(
        dir,
        "gateway.xml",
        &format!(
            r#"<ereg regexp="^INVITE sip:911@" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="&lt;sip:{e}@" search_in="hdr" header="From:" check_it="true" assign_to="from"/>
      <ereg regexp="&lt;sip:{e}@" search_in="hdr" header="P-Asserted-Identity:" check_it="true" assign_to="pai"/>"#
        ),
        "ruri,from,pai",
    )
}

/// SIPp as the E911 manager on its trunk address, playing the repository
/// scenario `file` (`emergency_manager_*.xml`).
fn start_manager(file: &str, port: u16, args: &[&str]) -> SippServer {
    SippServer::start_on(&scenario(file), MANAGER_IP, port, args)
}

/// SIPp as the emergency gateway on its trunk address, answering with
/// `answer` (a [`gateway_scenario`] or [`located_gateway_scenario`]).
fn start_gateway(answer: &Path, port: u16, args: &[&str]) -> SippServer {
    SippServer::start_on(answer, GATEWAY_IP, port, args)
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

/// Alice dials 911 (never challenged) and the call completes at the
/// gateway.
fn dial_911(s: &Setup) -> SippRun {
    call(
        s.locus.addr("udp"),
        s.locus.dir(),
        PHONE_IP,
        "alice",
        None,
        "911",
        Expect::Answered,
    )
}

/// What each SIPp saw of one 911 call: alice's phone, the manager (when
/// the test started one) and the gateway.
struct Call911 {
    phone: SippRun,
    manager: SippRun,
    gateway: SippRun,
}

/// Starts the manager playing `manager_file` and the gateway answering
/// with `answer` (one call each), has alice dial 911, and waits for the
/// three SIPp runs to end; the test asserts on each.
fn dial_911_via_manager(s: &Setup, manager_file: &str, answer: &Path) -> Call911 {
    let manager = start_manager(manager_file, s.manager.port(), &["-m", "1"]);
    let gw = start_gateway(answer, s.gateway.port(), &["-m", "1"]);
    let phone = dial_911(s);
    Call911 {
        phone,
        manager: manager.finish(),
        gateway: gw.finish(),
    }
}

/// Starts the gateway answering with `answer` (one call), has alice dial
/// 911 (a manager, if any, is the test's to start) and waits for both
/// runs: (phone, gateway).
fn dial_911_to_gateway(s: &Setup, answer: &Path) -> (SippRun, SippRun) {
    let gw = start_gateway(answer, s.gateway.port(), &["-m", "1"]);
    let phone = dial_911(s);
    (phone, gw.finish())
}

#[test]
fn e4_911_goes_to_the_manager_without_access_code() {
    let data = tempfile::tempdir().unwrap();
    let s = setup(data.path());
    let c = dial_911_via_manager(
        &s,
        "emergency_manager_302.xml",
        &gateway_scenario(s.locus.dir(), ELIN_302),
    );
    let (run, m, g) = (c.phone, c.manager, c.gateway);
    assert!(run.success, "the 911 call did not complete:\n{}", run.log);
    assert!(m.success, "the manager did not get INVITE 911:\n{}", m.log);
    assert!(g.success, "the gateway did not get the call:\n{}", g.log);
}

#[test]
fn e5_302_followed_only_from_emergency_device_trunk() {
    let data = tempfile::tempdir().unwrap();
    let s = setup(data.path());
    // A normal trunk's 302 (even one naming 911 and an ELIN) is a
    // rejection (C11): the caller gets 480 and the gateway nothing.
    let carrier = SippServer::start_on(
        &scenario("emergency_carrier_302.xml"),
        CARRIER_IP,
        s.carrier.port(),
        &["-m", "1"],
    );
    let gw = start_gateway(
        &gateway_scenario(s.locus.dir(), ELIN_302),
        s.gateway.port(),
        &[],
    );
    let run = call(
        s.locus.addr("udp"),
        s.locus.dir(),
        PHONE_IP,
        "alice",
        Some("secret-a"),
        "+15557770000",
        Expect::Rejected(480),
    );
    assert!(
        run.success,
        "a carrier's 302 was not a rejection:\n{}",
        run.log
    );
    let c = carrier.finish();
    assert!(c.success, "{}", c.log);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = gw.stop();
    assert_eq!(requests_in_log(&log, "INVITE"), 0, "{log}");
    // The manager's 302 (an emergency-device trunk) is followed.
    let c = dial_911_via_manager(
        &s,
        "emergency_manager_302.xml",
        &gateway_scenario(s.locus.dir(), ELIN_302),
    );
    assert!(
        c.phone.success,
        "the manager's 302 was not followed:\n{}",
        c.phone.log
    );
    assert!(c.manager.success);
    assert!(c.gateway.success, "{}", c.gateway.log);
}

#[test]
fn e6_elin_is_the_calling_number_at_the_gateway() {
    let data = tempfile::tempdir().unwrap();
    let s = setup(data.path());
    let c = dial_911_via_manager(
        &s,
        "emergency_manager_302.xml",
        &gateway_scenario(s.locus.dir(), ELIN_302),
    );
    assert!(c.phone.success, "{}", c.phone.log);
    assert!(c.manager.success);
    let g = c.gateway;
    assert!(
        g.success,
        "the gateway did not see the ELIN {ELIN_302} in From and P-Asserted-Identity:\n{}",
        g.log
    );
}

#[test]
fn e8_manager_silent_fails_open_with_default_elin() {
    let data = tempfile::tempdir().unwrap();
    let s = setup(data.path());
    let manager = start_manager("emergency_manager_silent.xml", s.manager.port(), &[]);
    let (run, g) = dial_911_to_gateway(&s, &gateway_scenario(s.locus.dir(), DEFAULT_ELIN));
    assert!(run.success, "the 911 call did not fail open:\n{}", run.log);
    assert!(
        g.success,
        "the gateway did not get the default ELIN:\n{}",
        g.log
    );
    let m = manager.stop();
    let at_manager = first_time(&m, "INVITE sip:911@").expect("manager got INVITE");
    let at_gateway = first_time(&g.log, "INVITE sip:911@").expect("gateway got INVITE");
    let waited = at_gateway - at_manager;
    assert!(
        (0.4..1.0).contains(&waited),
        "the gateway got the call {waited:.3} s after the manager (bound 500 ms)"
    );
}

// ---- E11: ELINs published by the manager ----

const ELIN_PUBLISHED: &str = "+15551230555";

fn pidf(entity: &str, elin: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" entity="pres:{entity}">
 <tuple id="location">
  <status>
   <gp:geopriv>
    <gp:location-info><ca:civicAddress><ca:country>US</ca:country><ca:A1>CA</ca:A1><ca:A3>San Jose</ca:A3><ca:RD>Main</ca:RD><ca:HNO>1</ca:HNO><ca:FLR>3</ca:FLR></ca:civicAddress></gp:location-info>
    <gp:usage-rules/>
   </gp:geopriv>
   <elin:elin xmlns:elin="urn:locus:params:xml:ns:elin">{elin}</elin:elin>
  </status>
 </tuple>
</presence>
"#
    )
}

/// Sends a PUBLISH for alice's AOR from a UDP socket on `from_ip` (the
/// manager's trunk address, or another) and returns the response.
fn publish(locus: SocketAddr, from_ip: &str, if_match: Option<&str>, elin: Option<&str>) -> String {
    let sock = std::net::UdpSocket::bind(format!("{from_ip}:0")).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    let host = locus.ip();
    let body = elin
        .map(|e| pidf(&format!("alice@{host}"), e))
        .unwrap_or_default();
    let mut req = format!(
        "PUBLISH sip:alice@{host} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:e911@{from_ip}>;tag=pub{}\r\n\
         To: <sip:alice@{host}>\r\n\
         Call-ID: pub-{}@{from_ip}\r\n\
         CSeq: 1 PUBLISH\r\n\
         Event: presence\r\n\
         Expires: 3600\r\n",
        local.port(),
        local.port(),
        local.port()
    );
    if let Some(tag) = if_match {
        req.push_str(&format!("SIP-If-Match: {tag}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/pidf+xml\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    sock.send_to(req.as_bytes(), locus).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer to PUBLISH");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// No manager listens (its trunk's endpoint is silent); alice dials 911;
/// the gateway must get the call within 1 s with `elin`.
fn manager_down_call(s: &Setup, elin: &str) {
    let (run, g) = dial_911_to_gateway(s, &gateway_scenario(s.locus.dir(), elin));
    assert!(run.success, "the 911 call did not fail open:\n{}", run.log);
    assert!(g.success, "the gateway did not get ELIN {elin}:\n{}", g.log);
    let sent = first_time(&run.log, "INVITE sip:911@").expect("phone sent INVITE");
    let got = first_time(&g.log, "INVITE sip:911@").expect("gateway got INVITE");
    assert!(
        got - sent < 1.0,
        "the gateway got the call {:.3} s after the phone dialed",
        got - sent
    );
}

#[test]
fn e8_manager_down_fails_open_with_published_elin() {
    let data = tempfile::tempdir().unwrap();
    let s = setup(data.path());
    let resp = publish(s.locus.addr("udp"), MANAGER_IP, None, Some(ELIN_PUBLISHED));
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    manager_down_call(&s, ELIN_PUBLISHED);
}

#[test]
fn e11_publish_only_from_emergency_device_trunks() {
    let data = tempfile::tempdir().unwrap();
    let s = setup(data.path());
    let addr = s.locus.addr("udp");
    // A phone's address: 403; a normal carrier trunk's: 405 with Allow,
    // PUBLISH being no method of carrier trunks (C6).
    let resp = publish(addr, PHONE_IP, None, Some(ELIN_PUBLISHED));
    assert!(resp.starts_with("SIP/2.0 403"), "from a phone: {resp}");
    let resp = publish(addr, CARRIER_IP, None, Some(ELIN_PUBLISHED));
    assert!(resp.starts_with("SIP/2.0 405"), "from a carrier: {resp}");
    assert!(header(&resp, "Allow").is_some(), "{resp}");
    // The manager's trunk (an emergency device): 200 with SIP-ETag and
    // Expires; a refresh names the tag; an unknown tag gets 412.
    let resp = publish(addr, MANAGER_IP, None, Some(ELIN_PUBLISHED));
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    let tag = header(&resp, "SIP-ETag").expect("SIP-ETag").to_owned();
    assert_eq!(header(&resp, "Expires"), Some("3600"), "{resp}");
    let refreshed = publish(addr, MANAGER_IP, Some(&tag), None);
    assert!(refreshed.starts_with("SIP/2.0 200"), "{refreshed}");
    let new_tag = header(&refreshed, "SIP-ETag").expect("SIP-ETag");
    assert_ne!(new_tag, tag);
    let stale = publish(addr, MANAGER_IP, Some(&tag), None);
    assert!(stale.starts_with("SIP/2.0 412"), "{stale}");
    let unknown = publish(addr, MANAGER_IP, Some("nope"), Some(ELIN_PUBLISHED));
    assert!(unknown.starts_with("SIP/2.0 412"), "{unknown}");
}

#[test]
fn e11_published_elin_survives_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut s = setup(data.path());
    let resp = publish(s.locus.addr("udp"), MANAGER_IP, None, Some(ELIN_PUBLISHED));
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    assert!(s.locus.terminate().success());
    // Same data directory, same trunk addresses: the ELIN is still known.
    let locus = Locus::start(&config(data.path(), s.manager, s.gateway, s.carrier), 1);
    s.locus = locus;
    manager_down_call(&s, ELIN_PUBLISHED);
}

// ---- E3: OPTIONS probing of the DN trunks ----

#[test]
fn e3_oos_check_marks_dn_out_of_service_and_back() {
    let data = tempfile::tempdir().unwrap();
    // A silent manager endpoint: it gets probes and never answers.
    let port = free_udp_port_on(MANAGER_IP);
    let silent = std::net::UdpSocket::bind(format!("{MANAGER_IP}:{port}")).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let manager: SocketAddr = format!("{MANAGER_IP}:{port}").parse().unwrap();
    let (gateway, carrier) = (free_addr_on(GATEWAY_IP), free_addr_on(CARRIER_IP));
    let locus = Locus::start(
        &config_with(
            data.path(),
            manager,
            gateway,
            carrier,
            "oos_check = 1\noos_force = 1",
        ),
        1,
    );
    register_alice(&locus);
    let s = Setup {
        locus,
        manager,
        gateway,
        carrier,
    };
    // The first probe comes at once; unanswered for oos_force (1 s), the
    // DN is out of service.
    let mut buf = [0u8; 2048];
    let (n, _) = silent.recv_from(&mut buf).expect("an OPTIONS probe");
    let probe = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(probe.starts_with("OPTIONS sip:"), "{probe}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // 911 now goes straight to the gateway (no 500 ms wait for the
    // manager), with the gateway's default ELIN, and the manager gets no
    // INVITE.
    let (run, g) = dial_911_to_gateway(&s, &gateway_scenario(s.locus.dir(), DEFAULT_ELIN));
    assert!(run.success, "{}", run.log);
    assert!(g.success, "{}", g.log);
    let sent = first_time(&run.log, "INVITE sip:911@").unwrap();
    let got = first_time(&g.log, "INVITE sip:911@").unwrap();
    assert!(
        got - sent < 0.4,
        "an out-of-service manager was waited for: {:.3} s",
        got - sent
    );
    silent
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    while let Ok((n, _)) = silent.recv_from(&mut buf) {
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(m.starts_with("OPTIONS "), "the out-of-service DN got: {m}");
    }
    drop(silent);
    // A manager that answers the probes: back in service within oos_check,
    // and the next 911 goes through it (its 302's ELIN at the gateway).
    let answering = start_manager("emergency_manager_options.xml", port, &[]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (run, g) = dial_911_to_gateway(&s, &gateway_scenario(s.locus.dir(), ELIN_302));
    assert!(run.success, "{}", run.log);
    assert!(
        g.success,
        "the manager back in service was not used:\n{}",
        g.log
    );
    let log = answering.stop();
    assert!(requests_in_log(&log, "OPTIONS") >= 1, "{log}");
    assert_eq!(requests_in_log(&log, "INVITE"), 1, "{log}");
}

// ---- E7: ELIN callback ----

#[test]
fn e7_elin_callback_reaches_the_latest_caller() {
    let data = tempfile::tempdir().unwrap();
    let (manager, gateway, carrier) = (
        free_addr_on(MANAGER_IP),
        free_addr_on(GATEWAY_IP),
        free_addr_on(CARRIER_IP),
    );
    let locus = Locus::start(&config(data.path(), manager, gateway, carrier), 1);
    let sip = locus.addr("udp");
    // Alice's and Bob's phones register and answer where they registered
    // from; both dial 911 and get the same ELIN, Bob last.
    let alice = answering_phone(sip, locus.dir(), PHONE_IP, "alice", "secret-a", "", "");
    let bob = answering_phone(
        sip,
        locus.dir(),
        "127.0.0.7",
        "bob",
        "secret-b",
        r#"<ereg regexp="^INVITE sip:bob@127\.0\.0\.7:[0-9]+" search_in="msg" check_it="true" assign_to="ruri"/>"#,
        "ruri",
    );
    let m = start_manager("emergency_manager_302.xml", manager.port(), &["-m", "2"]);
    let gw = start_gateway(
        &gateway_scenario(locus.dir(), ELIN_302),
        gateway.port(),
        &["-m", "2"],
    );
    for (ip, user) in [(PHONE_IP, "alice"), ("127.0.0.7", "bob")] {
        let run = call(sip, locus.dir(), ip, user, None, "911", Expect::Answered);
        assert!(run.success, "{user}'s 911 call:\n{}", run.log);
    }
    assert!(m.finish().success);
    assert!(gw.finish().success);
    // The PSAP calls the ELIN back through the gateway trunk: Bob, the
    // latest caller, rings; Alice does not.
    let back = call(
        sip,
        locus.dir(),
        GATEWAY_IP,
        "psap",
        None,
        ELIN_302,
        Expect::Answered,
    );
    assert!(back.success, "the ELIN callback failed:\n{}", back.log);
    let b = bob.finish();
    assert!(b.success, "bob did not get the callback:\n{}", b.log);
    let a = alice.stop();
    assert_eq!(requests_in_log(&a, "INVITE"), 0, "{a}");
}

#[test]
fn e8_manager_too_slow_is_cancelled_after_fail_open() {
    let data = tempfile::tempdir().unwrap();
    let s = setup(data.path());
    let c = dial_911_via_manager(
        &s,
        "emergency_manager_slow.xml",
        &gateway_scenario(s.locus.dir(), DEFAULT_ELIN),
    );
    let (run, m) = (c.phone, c.manager);
    assert!(run.success, "the 911 call did not fail open:\n{}", run.log);
    assert!(c.gateway.success);
    // The manager's INVITE was cancelled once it rang, its 487 ACKed.
    assert!(
        m.success,
        "the manager's INVITE was not cancelled:\n{}",
        m.log
    );
}

#[test]
fn e4_emergency_calls_pass_the_call_limit() {
    let c = dial_911_when_full(
        |text| text + "\n[sip.calls]\nmax_calls = 1\n",
        "the call limit did not hold",
        |dir| gateway_scenario(dir, ELIN_302),
    );
    assert!(
        c.phone.success,
        "911 was refused at the call limit:\n{}",
        c.phone.log
    );
    assert!(c.manager.success);
    assert!(c.gateway.success);
}

// ---- E6: the location by value towards the gateway (RFC 6442) ----

/// [`config`] with the media relay on (the SDP part is anchored) and
/// `send_location = true` on the gateway's trunk.
fn located_config(
    data: &Path,
    manager: SocketAddr,
    gateway: SocketAddr,
    carrier: SocketAddr,
) -> String {
    let text = config(data, manager, gateway, carrier)
        .replace("relay = false", "relay = true")
        .replace(
            &format!("default_elin = \"{DEFAULT_ELIN}\"\n"),
            &format!("default_elin = \"{DEFAULT_ELIN}\"\nsend_location = true\n"),
        );
    assert!(text.contains("send_location = true") && text.contains("relay = true"));
    text
}

/// The gateway's answering scenario for a located call: the ELIN in From
/// and P-Asserted-Identity, `Geolocation: <cid:...>` naming the Content-ID
/// of the PIDF-LO part (SIPp compares the two), `Geolocation-Routing:
/// yes`, a multipart/mixed body whose PIDF-LO holds the civic address
/// published for alice (San Jose, floor 3) and the ELIN, and whose SDP
/// names the relay, not the phone. It answers with plain SDP.
fn located_gateway_scenario(dir: &Path, elin: &str) -> std::path::PathBuf {
    let e = elin.replace('+', r"\+");
    answer_scenario(
        dir,
        "gateway_located.xml",
        &format!(
            r#"<ereg regexp="^INVITE sip:911@" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="&lt;sip:{e}@" search_in="hdr" header="From:" check_it="true" assign_to="from"/>
      <ereg regexp="&lt;sip:{e}@" search_in="hdr" header="P-Asserted-Identity:" check_it="true" assign_to="pai"/>
      <ereg regexp="&lt;cid:([^&gt;]+@[^&gt;]+)&gt;" search_in="hdr" header="Geolocation:" check_it="true" assign_to="geo,geocid"/>
      <ereg regexp="yes" search_in="hdr" header="Geolocation-Routing:" check_it="true" assign_to="routing"/>
      <ereg regexp="multipart/mixed" search_in="hdr" header="Content-Type:" check_it="true" assign_to="ctype"/>
      <ereg regexp="Content-ID: *&lt;([^&gt;]+)&gt;" search_in="body" check_it="true" assign_to="cidhdr,bodycid"/>
      <strcmp assign_to="cidcmp" variable="geocid" variable2="bodycid" check_it="true"/>
      <ereg regexp="Content-Type: application/pidf\+xml" search_in="body" check_it="true" assign_to="pidftype"/>
      <ereg regexp="&lt;ca:A3&gt;San Jose&lt;/ca:A3&gt;" search_in="body" check_it="true" assign_to="city"/>
      <ereg regexp="&lt;ca:FLR&gt;3&lt;/ca:FLR&gt;" search_in="body" check_it="true" assign_to="floor"/>
      <ereg regexp="&gt;{e}&lt;/elin:elin&gt;" search_in="body" check_it="true" assign_to="pidfelin"/>
      <ereg regexp="Content-Type: application/sdp" search_in="body" check_it="true" assign_to="sdptype"/>
      <ereg regexp="c=IN IP4 127\.0\.0\.1" search_in="body" check_it="true" assign_to="relay"/>
      <ereg regexp="c=IN IP4 127\.0\.0\.5" search_in="body" check_it_inverse="true" assign_to="nophone"/>"#
        ),
        "ruri,from,pai,geo,geocid,routing,ctype,cidhdr,bodycid,cidcmp,pidftype,city,floor,pidfelin,sdptype,relay,nophone",
    )
}

#[test]
fn e6_gateway_gets_the_published_location_by_value_with_the_elin() {
    let data = tempfile::tempdir().unwrap();
    let s = setup_from(data.path(), located_config);
    // The manager published alice's location and ELIN (E11)...
    let resp = publish(s.locus.addr("udp"), MANAGER_IP, None, Some(ELIN_PUBLISHED));
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    // ...and answers her 911 with 302 and its ELIN: the gateway gets the
    // 302's ELIN as calling number and in the PIDF-LO beside the SDP.
    let c = dial_911_via_manager(
        &s,
        "emergency_manager_302.xml",
        &located_gateway_scenario(s.locus.dir(), ELIN_302),
    );
    let (run, g) = (c.phone, c.gateway);
    assert!(
        run.success,
        "the located 911 call did not complete (the gateway answers with plain SDP):\n{}",
        run.log
    );
    assert!(c.manager.success);
    assert!(
        g.success,
        "the gateway did not get the location by value:\n{}",
        g.log
    );
    // The same INVITE, read back from the gateway's trace.
    let loc = common::location_by_value(&g.log).expect("a location by value");
    assert_eq!(loc.geolocation_cid, loc.content_id, "{loc:?}");
    assert_eq!(loc.routing.as_deref(), Some("yes"));
    let doc = pidf_lo::LocationDoc::parse(loc.pidf.as_bytes()).expect("a PIDF-LO");
    assert_eq!(
        doc.entity,
        format!("pres:alice@{}", s.locus.addr("udp").ip())
    );
    assert_eq!(doc.civic.a3.as_deref(), Some("San Jose"));
    assert_eq!(doc.civic.rd.as_deref(), Some("Main"));
    assert_eq!(doc.civic.flr.as_deref(), Some("3"));
    assert_eq!(doc.elin.as_ref().map(|e| e.as_str()), Some(ELIN_302));
    assert!(loc.sdp.contains("c=IN IP4 127.0.0.1"), "{}", loc.sdp);
}

#[test]
fn e6_e8_no_location_known_the_gateway_gets_the_elin_only() {
    let data = tempfile::tempdir().unwrap();
    let s = setup_from(data.path(), located_config);
    // Nothing published, no manager listening: fail-open with the
    // default ELIN, and no Geolocation (the call is not held back).
    let (run, g) = dial_911_to_gateway(&s, &gateway_scenario(s.locus.dir(), DEFAULT_ELIN));
    assert!(run.success, "the 911 call did not fail open:\n{}", run.log);
    assert!(
        g.success,
        "the gateway did not get {DEFAULT_ELIN}:\n{}",
        g.log
    );
    let invite = common::traced_message(&g.log, "INVITE sip:911@").expect("the INVITE");
    let head = invite.split("\n\n").next().unwrap_or("");
    assert!(
        !head
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("geolocation")),
        "{invite}"
    );
    assert!(head.contains("Content-Type: application/sdp"), "{invite}");
    assert!(common::location_by_value(&g.log).is_none());
    let sent = first_time(&run.log, "INVITE sip:911@").expect("phone sent INVITE");
    let got = first_time(&g.log, "INVITE sip:911@").expect("gateway got INVITE");
    assert!(got - sent < 1.0, "fail-open took {:.3} s", got - sent);
}

#[test]
fn e6_e8_e11_published_location_survives_restart_and_goes_out_on_fail_open() {
    let data = tempfile::tempdir().unwrap();
    let mut s = setup_from(data.path(), located_config);
    let resp = publish(s.locus.addr("udp"), MANAGER_IP, None, Some(ELIN_PUBLISHED));
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    assert!(s.locus.terminate().success());
    // Same data directory: the location comes back from elins.sqlite at
    // start; no manager listens, so the call fails open with it.
    s.locus = Locus::start(
        &located_config(data.path(), s.manager, s.gateway, s.carrier),
        1,
    );
    let (run, g) =
        dial_911_to_gateway(&s, &located_gateway_scenario(s.locus.dir(), ELIN_PUBLISHED));
    assert!(run.success, "the 911 call did not fail open:\n{}", run.log);
    assert!(
        g.success,
        "the gateway did not get the stored location:\n{}",
        g.log
    );
    let loc = common::location_by_value(&g.log).expect("a location by value");
    let doc = pidf_lo::LocationDoc::parse(loc.pidf.as_bytes()).expect("a PIDF-LO");
    assert_eq!(doc.civic.a3.as_deref(), Some("San Jose"));
    assert_eq!(doc.elin.as_ref().map(|e| e.as_str()), Some(ELIN_PUBLISHED));
}

/// Non-negotiable 1 (E8's fail-open, for the relay): the relay's only
/// port pairs are held by a ringing call, so a second ordinary call gets
/// 503, yet a 911 call goes through the manager to the gateway with its
/// media passed end to end (the phone's own address in the SDP).
#[test]
fn e8_emergency_call_without_relay_ports_passes_media_end_to_end() {
    let e = ELIN_302.replace('+', r"\+");
    let c = dial_911_when_full(
        // Two RTP/RTCP pairs: exactly one call's worth.
        |text| {
            text.replace(
                "relay = false",
                "relay = true\nport_range = [41100, 41103]\npool_pairs = 0",
            )
        },
        "the relay was not full",
        |dir| {
            answer_scenario(
                dir,
                "gateway_unanchored.xml",
                &format!(
                    r#"<ereg regexp="^INVITE sip:911@" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="&lt;sip:{e}@" search_in="hdr" header="From:" check_it="true" assign_to="from"/>
      <ereg regexp="c=IN IP4 {PHONE_IP}" search_in="body" check_it="true" assign_to="conn"/>
      <ereg regexp="m=audio 40000 " search_in="body" check_it="true" assign_to="port"/>"#
                ),
                "ruri,from,conn,port",
            )
        },
    );
    assert!(
        c.phone.success,
        "911 was refused without relay ports:\n{}",
        c.phone.log
    );
    assert!(c.manager.success);
    assert!(
        c.gateway.success,
        "the gateway did not get the phone's own media address:\n{}",
        c.gateway.log
    );
}

/// Locus from [`config_with`] edited by `edit` (T1 50 ms), one call of
/// alice's holding what the test limits and a second one refused with 503
/// (else the test fails, saying `full`); then alice dials 911, the manager
/// answers 302 and the gateway answers with the scenario `answer` writes.
/// The held call must end as it should (503 at Timer B).
fn dial_911_when_full(
    edit: impl FnOnce(String) -> String,
    full: &str,
    answer: impl FnOnce(&Path) -> std::path::PathBuf,
) -> Call911 {
    let data = tempfile::tempdir().unwrap();
    let (manager, gateway, carrier) = (
        free_addr_on(MANAGER_IP),
        free_addr_on(GATEWAY_IP),
        free_addr_on(CARRIER_IP),
    );
    let text = edit(config_with(data.path(), manager, gateway, carrier, ""))
        + "\n[sip.timers]\nt1_ms = 50\n";
    let locus = Locus::start(&text, 1);
    let (held, refused) = hold_one_call(&locus, carrier);
    assert!(refused.success, "{full}:\n{}", refused.log);
    let answer = answer(locus.dir());
    let s = Setup {
        locus,
        manager,
        gateway,
        carrier,
    };
    let c = dial_911_via_manager(&s, "emergency_manager_302.xml", &answer);
    held.finish();
    c
}

/// A call of alice's that holds its resources (a call slot, relay ports)
/// while the carrier never answers, until Timer B (64*T1) ends it in 503.
struct HeldCall {
    phone: std::thread::JoinHandle<SippRun>,
    _carrier: SippServer,
}

impl HeldCall {
    /// Waits for the held call to end as it should (503 at Timer B).
    fn finish(self) {
        let run = self.phone.join().unwrap();
        assert!(run.success, "{}", run.log);
    }
}

/// Registers alice, has her place a call the carrier (on `carrier`)
/// leaves ringing, then a second ordinary call, which should get 503:
/// (the held call, the second call's run).
fn hold_one_call(locus: &Locus, carrier: SocketAddr) -> (HeldCall, SippRun) {
    let sip = locus.addr("udp");
    register_alice(locus);
    let silent = SippServer::start_on(
        &scenario("emergency_manager_silent.xml"),
        CARRIER_IP,
        carrier.port(),
        &["-m", "1"],
    );
    let dir = locus.dir().to_owned();
    let phone = std::thread::spawn(move || {
        call(
            sip,
            &dir,
            PHONE_IP,
            "alice",
            Some("secret-a"),
            "+15557770000",
            Expect::Rejected(503),
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(600));
    let refused = call(
        sip,
        locus.dir(),
        PHONE_IP,
        "alice",
        Some("secret-a"),
        "+15557770001",
        Expect::Rejected(503),
    );
    let held = HeldCall {
        phone,
        _carrier: silent,
    };
    (held, refused)
}
