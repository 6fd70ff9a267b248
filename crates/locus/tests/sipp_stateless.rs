//! The answers `locus sip` gives before any routing exists, checked with SIPp
//! over real UDP and TCP sockets (issue: SIP foundation, item 7; DESIGN C1).

mod common;

use common::{injection_file, scenario, sipp, Locus};

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
[sip.limits]
max_message_bytes = 2048
max_header_bytes = 2048
"#;

fn run(name: &str, transport: &str) {
    let locus = Locus::start(CONFIG, 2);
    let target = locus.addr(if transport == "u1" { "udp" } else { "tcp" });
    let r = sipp(&scenario(name), target, transport, &[]);
    assert!(
        r.success,
        "SIPp scenario {name} over {transport} failed:\n{}",
        r.log
    );
}

#[test]
fn c1_options_to_server_gets_200_with_allow_accept_supported_udp() {
    run("options.xml", "u1");
}

#[test]
fn c1_options_to_server_gets_200_with_allow_accept_supported_tcp() {
    run("options.xml", "t1");
}

#[test]
fn c1_malformed_request_gets_400_naming_the_fault_udp() {
    run("malformed.xml", "u1");
}

#[test]
fn c1_malformed_request_gets_400_naming_the_fault_tcp() {
    run("malformed.xml", "t1");
}

#[test]
fn c1_unsupported_version_gets_505() {
    run("bad_version.xml", "u1");
}

#[test]
fn c1_max_forwards_zero_gets_483() {
    run("max_forwards_zero.xml", "u1");
}

#[test]
fn c7_unknown_method_gets_501_with_allow() {
    run("unknown_method.xml", "u1");
}

#[test]
fn oversize_message_gets_513_udp() {
    let locus = Locus::start(CONFIG, 2);
    let pad = "a".repeat(3000);
    let inf = injection_file(locus.dir(), &[&pad]);
    let r = sipp(
        &scenario("oversize.xml"),
        locus.addr("udp"),
        "u1",
        &["-inf", inf.to_str().unwrap()],
    );
    assert!(r.success, "oversize over UDP:\n{}", r.log);
}

#[test]
fn sigterm_stops_cleanly() {
    let mut locus = Locus::start(CONFIG, 2);
    let status = locus.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

/// The README's first command: `locus` with no arguments serves SIP on
/// 127.0.0.1:5060 over UDP and TCP, and SIPp's OPTIONS gets its 200; the
/// E911 manager's API answers on 127.0.0.1:8911 with its data in
/// ./locus-data.
#[test]
fn default_run_answers_sipp_options_on_5060() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_locus"))
        .current_dir(cwd.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start locus");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let second = lines.next().and_then(Result::ok).unwrap_or_default();
    let third = lines.next().and_then(Result::ok).unwrap_or_default();
    let api: std::net::SocketAddr = "127.0.0.1:8911".parse().unwrap();
    let health = (third == "locus e911: http://127.0.0.1:8911")
        .then(|| common::http_get(api, "/api/v1/health"));
    // The built-in run links the two: the manager's call server is this
    // SIP server, so it subscribes to its registrations at once.
    let servers = health
        .is_some()
        .then(|| common::http_get(api, "/api/v1/call-servers"));
    let run = (first == "locus sip: listening on udp:127.0.0.1:5060"
        && second == "locus sip: listening on tcp:127.0.0.1:5060")
        .then(|| {
            sipp(
                &scenario("options.xml"),
                "127.0.0.1:5060".parse().unwrap(),
                "u1",
                &[],
            )
        });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let run = run.unwrap_or_else(|| {
        panic!("locus did not listen on 127.0.0.1:5060 (is the port busy?): {first:?} {second:?}")
    });
    assert!(run.success, "{}", run.log);
    let health = health.unwrap_or_else(|| panic!("no e911 API line: {third:?}"));
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let servers = servers.unwrap_or_default();
    assert!(
        servers.contains("\"name\":\"this server\"")
            && servers.contains("\"ip\":\"127.0.0.1\"")
            && servers.contains("\"port\":5060"),
        "default call server: {servers}"
    );
    assert!(cwd.path().join("locus-data/e911.sqlite").exists());
    assert!(status.success(), "{status:?}");
}
