//! Trunk `outbound` DNS names and Request-URI hosts, end to end (C9, C13,
//! C20): a real DNS server (dnsmasq on loopback) serves the carrier's SRV
//! and A records, SIPp plays the carrier from 127.0.0.2 and SIPp in server
//! mode plays the far-end carrier endpoints on 127.0.0.6 and 127.0.0.7.

mod common;

use std::path::{Path, PathBuf};

use common::{
    requests_in_log, scenario_from_template, sipp_from, Dnsmasq, Locus, SippRun, SippServer,
};

const DID: &str = "+15551230000";

/// A template of `tests/sipp` filled into `dir` under `name`.
fn fill(dir: &Path, template: &str, name: &str, vars: &[(&str, &str)]) -> PathBuf {
    let file = scenario_from_template(dir, template, vars);
    let named = dir.join(name);
    std::fs::rename(&file, &named).unwrap();
    named
}

/// A far end answering 200 whose Request-URI must match `ruri_re`.
fn far_answers(dir: &Path, name: &str, ruri_re: &str) -> PathBuf {
    fill(
        dir,
        "trunk_far_answers.xml.tmpl",
        name,
        &[("RURI_RE", ruri_re)],
    )
}

fn far_rejects(dir: &Path, name: &str, status: &str, ruri_re: &str) -> PathBuf {
    fill(
        dir,
        "trunk_far_rejects.xml.tmpl",
        name,
        &[("STATUS", status), ("RURI_RE", ruri_re)],
    )
}

/// The carrier places `calls` calls to `DID@host` that are answered.
fn carrier_calls(locus: &Locus, host: &str, calls: usize) -> SippRun {
    let dir = tempfile::tempdir().unwrap();
    let file = fill(
        dir.path(),
        "trunk_carrier_call.xml.tmpl",
        "carrier.xml",
        &[("RHOST", host)],
    );
    let n = calls.to_string();
    sipp_from(
        "127.0.0.2",
        &file,
        locus.addr("udp"),
        "u1",
        &["-s", DID, "-m", &n, "-l", &n, "-r", "20"],
    )
}

/// The carrier's INVITE to `DID@host` gets `status`.
fn carrier_rejected(locus: &Locus, host: &str, status: u16) -> SippRun {
    let dir = tempfile::tempdir().unwrap();
    let file = fill(
        dir.path(),
        "trunk_carrier_rejected.xml.tmpl",
        "carrier.xml",
        &[("RHOST", host), ("STATUS", &status.to_string())],
    );
    sipp_from("127.0.0.2", &file, locus.addr("udp"), "u1", &["-s", DID])
}

/// Locus with a voice carrier on 127.0.0.2 and a far trunk `far` whose
/// `outbound` is `outbound`; `extra` goes in the far trunk's table, `dns`
/// is the nameserver. The DID routes to `far`. A fixed resolver seed makes
/// the SRV weight draws repeatable.
fn start_locus(dns: Option<&Dnsmasq>, outbound: &[String], extra: &str, sip_extra: &str) -> Locus {
    let outbound: Vec<String> = outbound.iter().map(|a| format!("\"{a}\"")).collect();
    let dns = dns.map_or_else(String::new, |d| {
        format!(
            "[sip.dns]\nnameservers = [\"{}\"]\ntimeout_ms = 1000\nrng_seed = 2782\n",
            d.addr
        )
    });
    let config = format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]
{sip_extra}

[sip.timers]
t1_ms = 50

{dns}

[[sip.trunks]]
name = "carrier"
profile = "voice"
carrier_addresses = ["127.0.0.2"]
domain = "customer.test"

[[sip.trunks]]
name = "far"
profile = "byoc"
carrier_addresses = ["127.0.0.6", "127.0.0.7"]
outbound = [{}]
{extra}

[[sip.routes.inbound]]
did = "{DID}"
trunks = ["far"]
"#,
        outbound.join(", ")
    );
    Locus::start(&config, 1)
}

fn assert_ok(what: &str, run: &SippRun) {
    assert!(run.success, "{what} failed:\n{}", run.log);
}

/// C20 (RFC 2782): two endpoints at SRV priority 10 with weights 30 and 10
/// share 40 calls about 3:1 (each call draws its own order). With the
/// resolver's fixed seed the split is repeatable; the bound is still the
/// statistical one: the weight-30 endpoint is first with probability
/// 30/41 + 1/82 = 0.744 (see `sip_resolve::order_srv`), 29.8 of 40 calls
/// on average with a standard deviation of 2.8; the test allows 3 standard
/// deviations either way, and both endpoints must get calls.
#[test]
fn c20_srv_weights_spread_calls_across_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let ruri = "^INVITE sip:\\+15551230000@carrier\\.test SIP/2\\.0";
    let heavy = SippServer::start_with(&far_answers(dir.path(), "f1.xml", ruri), "127.0.0.6", &[]);
    let light = SippServer::start_with(&far_answers(dir.path(), "f2.xml", ruri), "127.0.0.7", &[]);
    let dns = Dnsmasq::start(&[
        format!(
            "--srv-host=_sip._udp.carrier.test,sbc1.carrier.test,{},10,30",
            heavy.addr.port()
        ),
        format!(
            "--srv-host=_sip._udp.carrier.test,sbc2.carrier.test,{},10,10",
            light.addr.port()
        ),
        "--host-record=sbc1.carrier.test,127.0.0.6".into(),
        "--host-record=sbc2.carrier.test,127.0.0.7".into(),
    ]);
    let locus = start_locus(Some(&dns), &["carrier.test".into()], "", "");
    let c = carrier_calls(&locus, "[remote_ip]:[remote_port]", 40);
    let heavy_log = heavy.stop();
    let light_log = light.stop();
    assert_ok("carrier (40 calls)", &c);
    let (h, l) = (
        requests_in_log(&heavy_log, "INVITE"),
        requests_in_log(&light_log, "INVITE"),
    );
    assert_eq!(
        h + l,
        40,
        "every call reaches one endpoint once\n{heavy_log}\n{light_log}"
    );
    println!("weights 30:10 -> calls {h}:{l}");
    assert!(
        (22..=38).contains(&h) && l >= 2,
        "weights 30:10 should give about 30:10 calls; got {h}:{l}"
    );
    for log in [&heavy_log, &light_log] {
        assert!(
            !log.contains("Aborting call"),
            "a far end saw a failed call:\n{log}"
        );
    }
}

/// C13 and C9 outbound: the priority-10 endpoint answers 503, the call
/// fails over to the priority-20 one; both get the SRV domain as the
/// Request-URI host.
#[test]
fn c13_srv_failover_to_lower_priority() {
    let dir = tempfile::tempdir().unwrap();
    let ruri = "^INVITE sip:\\+15551230000@carrier\\.test SIP/2\\.0";
    let first = SippServer::start(
        &far_rejects(dir.path(), "f1.xml", "503 Service Unavailable", ruri),
        "127.0.0.6",
    );
    let second = SippServer::start(&far_answers(dir.path(), "f2.xml", ruri), "127.0.0.7");
    let dns = Dnsmasq::start(&[
        format!(
            "--srv-host=_sip._udp.carrier.test,sbc1.carrier.test,{},10,50",
            first.addr.port()
        ),
        format!(
            "--srv-host=_sip._udp.carrier.test,sbc2.carrier.test,{},20,50",
            second.addr.port()
        ),
        "--host-record=sbc1.carrier.test,127.0.0.6".into(),
        "--host-record=sbc2.carrier.test,127.0.0.7".into(),
    ]);
    let locus = start_locus(Some(&dns), &["carrier.test".into()], "", "");
    let c = carrier_calls(&locus, "[remote_ip]:[remote_port]", 1);
    assert_ok("carrier", &c);
    assert_ok("priority 10 (503)", &first.finish());
    assert_ok("priority 20", &second.finish());
}

/// C20 and C9: a name with a port is looked up as A records only, and the
/// Request-URI carries the name and port; a name DNS does not know is
/// skipped for the configured IP, whose Request-URI host is the IP.
#[test]
fn c20_a_record_then_configured_ip() {
    let dir = tempfile::tempdir().unwrap();
    let by_a = SippServer::start(
        &far_answers(
            dir.path(),
            "f1.xml",
            "^INVITE sip:\\+15551230000@sbc\\.carrier\\.test:[0-9]+ SIP/2\\.0",
        ),
        "127.0.0.6",
    );
    let a_port = by_a.addr.port();
    let dns = Dnsmasq::start(&["--host-record=sbc.carrier.test,127.0.0.6".into()]);
    let locus = start_locus(Some(&dns), &[format!("sbc.carrier.test:{a_port}")], "", "");
    assert_ok(
        "carrier (A record)",
        &carrier_calls(&locus, "[remote_ip]:[remote_port]", 1),
    );
    assert_ok("far end reached by A record", &by_a.finish());
    drop(locus);

    let by_ip = SippServer::start(
        &far_answers(
            dir.path(),
            "f2.xml",
            "^INVITE sip:\\+15551230000@127\\.0\\.0\\.7:[0-9]+ SIP/2\\.0",
        ),
        "127.0.0.7",
    );
    let locus = start_locus(
        Some(&dns),
        &["nosuch.test".into(), by_ip.addr.to_string()],
        "",
        "",
    );
    assert_ok(
        "carrier (configured IP after NXDOMAIN)",
        &carrier_calls(&locus, "[remote_ip]:[remote_port]", 1),
    );
    assert_ok("far end reached by its configured IP", &by_ip.finish());
}

/// C9 inbound: a carrier's Request-URI host must be one of the server's
/// listening IPs, `sip.domains` or the trunk's `domain`; any other host
/// gets 404 (RFC 3261 section 8.2.2.1). C9 outbound: the far trunk's
/// `domain` is the Request-URI host of calls sent to it.
#[test]
fn c9_carrier_request_uri_host_checked() {
    let dir = tempfile::tempdir().unwrap();
    let far = SippServer::start_with(
        &far_rejects(
            dir.path(),
            "far.xml",
            "486 Busy Here",
            "^INVITE sip:\\+15551230000@far-customer\\.test SIP/2\\.0",
        ),
        "127.0.0.6",
        &["-m", "3"],
    );
    let locus = start_locus(
        None,
        &[far.addr.to_string()],
        "domain = \"far-customer.test\"",
        "domains = [\"sip.locus.test\"]",
    );
    let port = locus.addr("udp").port();
    for host in ["elsewhere.test", "127.0.0.9", "far-customer.test"] {
        // The far trunk's domain is not the carrier trunk's.
        assert_ok(
            &format!("INVITE to {host}: 404"),
            &carrier_rejected(&locus, host, 404),
        );
    }
    for host in [
        "sip.locus.test".to_owned(),
        "customer.test".to_owned(),
        format!("127.0.0.1:{port}"),
    ] {
        // Routed: the far end's 486 comes back (C12).
        assert_ok(
            &format!("INVITE to {host}: routed"),
            &carrier_rejected(&locus, &host, 486),
        );
    }
    let f = far.finish();
    assert_ok("far end (3 calls, Request-URI host far-customer.test)", &f);
    assert_eq!(requests_in_log(&f.log, "INVITE"), 3, "{}", f.log);
}

/// An INVITE to a number without its `+` from `from`, expecting `status`:
/// 484 when `from` is served as the voice carrier trunk (C8's rule), 404
/// when it is not (no trunk, no route).
fn invite_from(locus: &Locus, from: &str, status: &str) -> SippRun {
    let dir = tempfile::tempdir().unwrap();
    let ack = "<send><![CDATA[\n\nACK sip:5551230000@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\nMax-Forwards: 70\nFrom: \"Carrier\" <sip:+15550001000@[local_ip]:[local_port]>;tag=[pid]SIPpTag10[call_number]\n[last_To:]\nCall-ID: [call_id]\nCSeq: 1 ACK\nContent-Length: 0\n\n]]></send>";
    let file = scenario_from_template(
        dir.path(),
        "trunk_request.xml.tmpl",
        &[
            ("METHOD", "INVITE"),
            ("RUSER", "5551230000"),
            ("TOUSER", "alice"),
            ("TOTAG", ""),
            ("STATUS", status),
            ("EXTRA", ""),
            ("ALLOW_RE", ".*"),
            ("ALLOW_HDR", "Via:"),
            ("ACK", ack),
        ],
    );
    sipp_from(from, &file, locus.addr("udp"), "u1", &[])
}

#[test]
fn c4_carrier_address_names_are_served_as_the_trunk_and_followed_as_their_ttl_runs_out() {
    // carrier.test resolves to 127.0.0.5 (TTL 1 s, from a hosts file
    // dnsmasq reads again on SIGHUP).
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.5 carrier.test\n").unwrap();
    let dns = Dnsmasq::start(&[
        format!("--addn-hosts={}", hosts.display()),
        "--local-ttl=1".to_owned(),
    ]);
    let locus = Locus::start(
        &format!(
            r#"
[sip]
listen = ["udp:127.0.0.1:0"]

[sip.dns]
nameservers = ["{}"]
timeout_ms = 1000

[[sip.trunks]]
name = "named-carrier"
profile = "voice"
carrier_addresses = ["carrier.test"]
"#,
            dns.addr
        ),
        1,
    );
    // Only the name's address is served as the trunk.
    let served = invite_from(&locus, "127.0.0.5", "484");
    assert!(
        served.success,
        "127.0.0.5 not served as the trunk:\n{}",
        served.log
    );
    let other = invite_from(&locus, "127.0.0.2", "404");
    assert!(
        other.success,
        "127.0.0.2 served as the trunk:\n{}",
        other.log
    );
    // The name moves to 127.0.0.2: once the TTL runs out Locus asks again
    // and serves the new address, and no longer the old one.
    std::fs::write(&hosts, "127.0.0.2 carrier.test\n").unwrap();
    dns.reload();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut last = invite_from(&locus, "127.0.0.2", "484");
    while !last.success && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
        last = invite_from(&locus, "127.0.0.2", "484");
    }
    assert!(last.success, "the new address is not served:\n{}", last.log);
    let old = invite_from(&locus, "127.0.0.5", "404");
    assert!(old.success, "the old address is still served:\n{}", old.log);
}
