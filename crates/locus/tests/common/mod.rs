//! Shared harness for end-to-end tests: runs the real `locus` binary and real
//! peers (SIPp) on loopback, with bounded waits and no sleeps for results.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Repository root (holds `tests/sipp`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A SIPp scenario kept under `tests/sipp`.
pub fn scenario(name: &str) -> PathBuf {
    repo_root().join("tests/sipp").join(name)
}

/// Spawns `locus SUBCOMMAND --config cfg` (log level from
/// `LOCUS_TEST_LOG`, else `warn`) and forwards its stdout lines to the
/// receiver, where it reports what it listens on.
fn spawn_locus(subcommand: &str, cfg: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
        .arg(subcommand)
        .arg("--config")
        .arg(cfg)
        .env(
            "RUST_LOG",
            std::env::var("LOCUS_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start locus {subcommand}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The socket address of the `transport` listener among the addresses a
/// locus process printed (`udp:127.0.0.1:40000`).
fn listener(listening: &[String], transport: &str) -> SocketAddr {
    let prefix = format!("{transport}:");
    listening
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {transport} listener in {listening:?}"))
        .parse()
        .expect("socket address")
}

/// If the process still runs: SIGTERM, up to `polls` checks 50 ms apart
/// for it to exit, then SIGKILL and reap.
fn stop_with_sigterm(child: &mut Child, polls: u32) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        for _ in 0..polls {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A running `locus` process, stopped with SIGTERM when dropped.
pub struct Locus {
    child: Child,
    /// Bound addresses, as printed: `udp:127.0.0.1:40000`.
    pub listening: Vec<String>,
    dir: tempfile::TempDir,
}

impl Locus {
    /// Starts `locus sip` with this configuration text and waits (10 s at
    /// most) until it prints `expected` listening addresses.
    pub fn start(config: &str, expected: usize) -> Locus {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("locus.toml");
        std::fs::write(&cfg, config).expect("write config");
        let (mut child, rx) = spawn_locus("sip", &cfg);
        let mut listening = Vec::new();
        while listening.len() < expected {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("locus sip: listening on ") {
                        listening.push(a.to_owned());
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!("locus did not report {expected} listening addresses: {e}");
                }
            }
        }
        Locus {
            child,
            listening,
            dir,
        }
    }

    /// The bound socket address for a transport (`udp`, `tcp`, `tls`).
    pub fn addr(&self, transport: &str) -> SocketAddr {
        listener(&self.listening, transport)
    }

    /// A scratch directory that lives as long as the process.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends SIGTERM and waits (5 s at most) for a clean exit; returns its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("locus did not stop within 5 s of SIGTERM");
    }

    /// SIGKILL (no clean shutdown: no NOTIFY terminated to subscribers)
    /// and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Locus {
    fn drop(&mut self) {
        // 2 s for a clean exit.
        stop_with_sigterm(&mut self.child, 40);
    }
}

/// Result of one SIPp run.
pub struct SippRun {
    /// Whether SIPp exited 0 (every call succeeded).
    pub success: bool,
    /// What SIPp wrote to its error log and stderr, for failure messages.
    pub log: String,
}

/// Runs a SIPp client scenario once against `target` over `transport`
/// (`u1` UDP, `t1` TCP), bounded to 20 s.
pub fn sipp(scenario_file: &Path, target: SocketAddr, transport: &str, extra: &[&str]) -> SippRun {
    sipp_from("127.0.0.1", scenario_file, target, transport, extra)
}

/// Like [`sipp`], with SIPp bound to `local_ip` (a carrier plays from its own
/// loopback address, e.g. 127.0.0.2).
pub fn sipp_from(
    local_ip: &str,
    scenario_file: &Path,
    target: SocketAddr,
    transport: &str,
    extra: &[&str],
) -> SippRun {
    let work = tempfile::tempdir().expect("temp dir");
    let out = Command::new("timeout")
        .arg("30")
        .arg("sipp")
        .arg("-sf")
        .arg(scenario_file)
        .args(["-m", "1", "-l", "1", "-i", local_ip, "-p"])
        .arg(free_port().to_string())
        .args(["-t", transport])
        .args(["-timeout", "20s", "-timeout_error", "-nostdin"])
        .args(["-trace_err", "-trace_msg"])
        .args(extra)
        .arg(target.to_string())
        .current_dir(work.path())
        .stdin(Stdio::null())
        .output()
        .expect("run sipp (Debian package sip-tester; scripts/test installs it)");
    let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
    for entry in std::fs::read_dir(work.path())
        .expect("read sipp dir")
        .flatten()
    {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            log.push_str(&format!(
                "\n--- {} ---\n{text}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    SippRun {
        success: out.status.success(),
        log,
    }
}

/// A scenario from a template under `tests/sipp`, with each `@KEY@` replaced,
/// written into `dir`.
pub fn scenario_from_template(dir: &Path, name: &str, vars: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(scenario(name)).expect("read template");
    for (k, v) in vars {
        text = text.replace(&format!("@{k}@"), v);
    }
    assert!(!text.contains("@METHOD@"), "unfilled template {name}");
    let path = dir.join(name.replace(".tmpl", ""));
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// A plain HTTP/1.1 GET (5 s bound); returns the whole response text.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A port free on 127.0.0.1 for both UDP and TCP right now (SIPp would
/// otherwise take 5060 and up, colliding between parallel tests).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Writes a SIPp injection file with one row of fields.
pub fn injection_file(dir: &Path, fields: &[&str]) -> PathBuf {
    let path = dir.join("inject.csv");
    let mut f = std::fs::File::create(&path).expect("create inject file");
    writeln!(f, "SEQUENTIAL").unwrap();
    writeln!(f, "{}", fields.join(";")).unwrap();
    path
}

/// A port free on `ip` for UDP right now.
pub fn free_udp_port_on(ip: &str) -> u16 {
    let udp = std::net::UdpSocket::bind((ip, 0)).expect("bind udp");
    udp.local_addr().expect("addr").port()
}

/// A DNS server on loopback for trunk `outbound` names: Debian's dnsmasq
/// (package `dnsmasq-base`) on a free port of 127.0.0.1, serving only the
/// records given (`--srv-host=...`, `--host-record=...`); killed on drop.
/// Names under `.test` that are not defined get NXDOMAIN.
pub struct Dnsmasq {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
}

impl Dnsmasq {
    /// Starts dnsmasq with `records` and waits (10 s at most) until it
    /// answers on TCP.
    pub fn start(records: &[String]) -> Dnsmasq {
        const DNSMASQ: &str = "/usr/sbin/dnsmasq";
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} not found: install the Debian package dnsmasq-base (scripts/test does)"
        );
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(DNSMASQ)
                .args([
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--pid-file=",
                    "--no-resolv",
                    "--no-hosts",
                    "--log-facility=-",
                    &format!("--port={port}"),
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--local=/test/",
                ])
                // 300 s unless the caller sets its own TTL.
                .args(
                    (!records.iter().any(|r| r.starts_with("--local-ttl=")))
                        .then_some("--local-ttl=300"),
                )
                .args(records)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run dnsmasq");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            for _ in 0..200 {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut log = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut log);
                    }
                    last_error = format!("exited with {status}: {log}");
                    break;
                }
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Dnsmasq { child, addr };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not start: {last_error}");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many requests of `method` a SIPp message trace shows as received
/// (lines starting with `METHOD sip:`).
pub fn requests_in_log(log: &str, method: &str) -> usize {
    let start = format!("{method} sip:");
    log.lines().filter(|l| l.starts_with(&start)).count()
}

/// A SIPp scenario run in server mode (the far end of a call), in the
/// background; killed on drop.
pub struct SippServer {
    child: Option<Child>,
    work: tempfile::TempDir,
    /// Where it listens (UDP).
    pub addr: SocketAddr,
}

impl SippServer {
    /// Starts `scenario_file` bound to `ip` on a free UDP port, for one call
    /// (`-m 1`, 20 s timeout), and waits (5 s at most) until it listens.
    pub fn start(scenario_file: &Path, ip: &str) -> SippServer {
        Self::start_with(scenario_file, ip, &["-m", "1"])
    }

    /// Like [`SippServer::start`], with `args` in place of `-m 1` (no `-m`:
    /// any number of calls, until [`SippServer::stop`]).
    pub fn start_with(scenario_file: &Path, ip: &str, args: &[&str]) -> SippServer {
        SippServer::start_on(scenario_file, ip, free_udp_port_on(ip), args)
    }

    /// Kills SIPp at once (a server started without `-m`); its logs (the
    /// message trace is written as messages come).
    pub fn stop(mut self) -> String {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.logs()
    }

    fn logs(&self) -> String {
        let mut log = String::new();
        for entry in std::fs::read_dir(self.work.path())
            .expect("read sipp dir")
            .flatten()
        {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                log.push_str(&format!(
                    "\n--- {} ---\n{text}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
        log
    }

    /// Waits (25 s at most) for SIPp to finish its call; its result and logs.
    pub fn finish(mut self) -> SippRun {
        let mut child = self.child.take().expect("running");
        let mut status = None;
        for _ in 0..500 {
            if let Ok(Some(s)) = child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = self.logs();
        SippRun {
            success: status.is_some_and(|s| s.success()),
            log,
        }
    }
}

impl Drop for SippServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running `locus e911` process, stopped with SIGTERM when dropped.
pub struct E911 {
    child: Child,
    /// The HTTP API address (`locus e911: http://ADDR`).
    pub http: SocketAddr,
    /// The SIP addresses, as printed: `udp:127.0.0.1:40000`.
    pub sip: Vec<String>,
    dir: tempfile::TempDir,
}

impl E911 {
    /// Starts `locus e911 --config` with this `[e911]` configuration text
    /// (`@DATA@` is replaced by a fresh data directory) and waits (10 s at
    /// most) until it prints its HTTP address and `sip_count` SIP addresses.
    pub fn start(config: &str, sip_count: usize) -> E911 {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let cfg = dir.path().join("locus.toml");
        std::fs::write(&cfg, config.replace("@DATA@", &data.display().to_string()))
            .expect("write config");
        let (mut child, rx) = spawn_locus("e911", &cfg);
        let mut http = None;
        let mut sip = Vec::new();
        while http.is_none() || sip.len() < sip_count {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("locus e911: http://") {
                        http = Some(a.parse().expect("http address"));
                    } else if let Some(a) = line.strip_prefix("locus e911: sip listening on ") {
                        sip.push(a.to_owned());
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!("locus e911 did not report its addresses: {e}");
                }
            }
        }
        E911 {
            child,
            http: http.expect("http address"),
            sip,
            dir,
        }
    }

    /// The bound SIP address for a transport (`udp`, `tcp`).
    pub fn sip_addr(&self, transport: &str) -> SocketAddr {
        listener(&self.sip, transport)
    }

    /// A scratch directory that lives as long as the process.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL (no clean shutdown: no unSUBSCRIBE, no unPUBLISH) and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for E911 {
    fn drop(&mut self) {
        // 5 s for a clean exit.
        stop_with_sigterm(&mut self.child, 100);
    }
}

/// A plain HTTP/1.1 POST of a JSON body (5 s bound); returns the whole
/// response text.
pub fn http_post_json(addr: SocketAddr, path: &str, json: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The body of an HTTP response text (after the blank line).
pub fn http_body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The top-level objects of a JSON array (or the one object), as text;
/// enough for the API's flat records.
pub fn json_objects(json: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut esc, mut start) = (0usize, false, false, None);
    for (i, c) in json.char_indices() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' => {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some(s) = start.take() {
                        out.push(json[s..=i].to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The raw value of a top-level field of a flat JSON object (`"x"` with
/// its quotes, `12`, `null`); nested objects and arrays are not parsed.
pub fn json_field(object: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":");
    let at = object.find(&key)? + key.len();
    let rest = object[at..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        let mut esc = false;
        for (i, c) in s.char_indices() {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => return Some(format!("\"{}\"", &s[..i])),
                _ => {}
            }
        }
        None
    } else {
        let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_owned())
    }
}

impl SippServer {
    /// Like [`SippServer::start`], for `calls` calls (a UAS scenario that
    /// takes several Call-IDs, such as a notifier and a PUBLISH receiver).
    pub fn start_calls(scenario_file: &Path, ip: &str, calls: u32) -> SippServer {
        SippServer::start_on(
            scenario_file,
            ip,
            free_udp_port_on(ip),
            &["-m", &calls.to_string()],
        )
    }
}

impl SippServer {
    /// Like [`SippServer::start_with`], on a given UDP `port` (a phone
    /// that registered from `ip:port` first, then answers there).
    pub fn start_on(scenario_file: &Path, ip: &str, port: u16, args: &[&str]) -> SippServer {
        let work = tempfile::tempdir().expect("temp dir");
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(scenario_file)
            .args(args)
            .args(["-i", ip, "-p"])
            .arg(port.to_string())
            .args(["-t", "u1"])
            .args(["-timeout", "20s", "-timeout_error", "-nostdin"])
            .args(["-trace_err", "-trace_msg"])
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(work.path().join("stderr.txt"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("run sipp (Debian package sip-tester; scripts/test installs it)");
        let addr: SocketAddr = format!("{ip}:{port}").parse().expect("addr");
        // Bound once the port can no longer be taken.
        for _ in 0..100 {
            match std::net::UdpSocket::bind(addr) {
                Ok(s) => drop(s),
                Err(_) => break,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        SippServer {
            child: Some(child),
            work,
            addr,
        }
    }
}

/// E6: the location an INVITE carried by value (RFC 6442), as a SIPp
/// message trace shows it.
#[derive(Debug)]
pub struct LocationByValue {
    /// The `Geolocation` header's `cid:` (without `cid:` and brackets).
    pub geolocation_cid: String,
    /// The `Geolocation-Routing` value.
    pub routing: Option<String>,
    /// The `application/pidf+xml` part's Content-ID (without brackets).
    pub content_id: String,
    /// That part's content.
    pub pidf: String,
    /// The `application/sdp` part's content.
    pub sdp: String,
}

/// The first message starting with `start` in a SIPp message trace (up to
/// the next trace separator), with LF line ends.
pub fn traced_message(log: &str, start: &str) -> Option<String> {
    let log = log.replace("\r\n", "\n");
    let at = log
        .match_indices(start)
        .find(|(i, _)| *i == 0 || log.as_bytes()[i - 1] == b'\n')?
        .0;
    let rest = &log[at..];
    let end = rest.find("\n-----------").unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// The location by value of the first `INVITE sip:911@` in `log`; `None`
/// when that INVITE has no `Geolocation` header or no multipart body with
/// a PIDF-LO part.
pub fn location_by_value(log: &str) -> Option<LocationByValue> {
    let msg = traced_message(log, "INVITE sip:911@")?;
    let (head, body) = msg.split_once("\n\n")?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let geolocation_cid = header("Geolocation")?
        .strip_prefix("<cid:")?
        .strip_suffix('>')?
        .to_owned();
    let ct = header("Content-Type")?;
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"')
        .to_owned();
    let mut pidf = None;
    let mut sdp = None;
    for part in body.split(&format!("--{boundary}")) {
        let Some((ph, content)) = part.trim_start_matches('\n').split_once("\n\n") else {
            continue;
        };
        let content = content.trim_end().to_owned();
        let ph = ph.to_ascii_lowercase();
        if ph.contains("content-type: application/pidf+xml") {
            let cid = ph
                .lines()
                .find_map(|l| l.strip_prefix("content-id:"))
                .map(|v| v.trim().trim_start_matches('<').trim_end_matches('>'));
            // The Content-ID as written (its case matters).
            let cid = cid.and_then(|c| {
                let i = part.to_ascii_lowercase().find(c)?;
                Some(part[i..i + c.len()].to_owned())
            });
            pidf = Some((cid?, content));
        } else if ph.contains("content-type: application/sdp") {
            sdp = Some(content);
        }
    }
    let (content_id, pidf) = pidf?;
    Some(LocationByValue {
        geolocation_cid,
        routing: header("Geolocation-Routing"),
        content_id,
        pidf,
        sdp: sdp.unwrap_or_default(),
    })
}

impl Dnsmasq {
    /// Makes dnsmasq read its `--addn-hosts` files again (SIGHUP).
    pub fn reload(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "SIGHUP to dnsmasq failed");
    }
}

// ---- SIPp scenario text shared by the call tests ----

/// The To tag SIPp gives the dialogs it answers as UAS (`SIPpTag01`, as in
/// its built-in scenarios): the first response to an INVITE adds it.
pub const SIPP_UAS_TAG: &str = ";tag=[pid]SIPpTag01[call_number]";

/// The end of a message without body: `Content-Length: 0` and the blank
/// line closing the header.
pub const NO_BODY: &str = "Content-Length: 0\n\n";

/// A SIPp `<send>` of a response to the request just received: the status
/// line, the request's Via, From, To, Call-ID and CSeq echoed
/// (`[last_*:]`), `to_tag` after To (`""` or [`SIPP_UAS_TAG`]), then the
/// header lines `headers` (`""` for none) and `body` (its Content-* lines,
/// the blank line and the content; [`NO_BODY`] for none).
pub fn sipp_response(status: &str, to_tag: &str, headers: &str, body: &str) -> String {
    let headers = if headers.is_empty() {
        String::new()
    } else {
        format!("{headers}\n")
    };
    format!(
        r#"<send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:]{to_tag}
[last_Call-ID:]
[last_CSeq:]
{headers}{body}]]></send>"#
    )
}

/// SIPp (either side of a call) takes a BYE and answers 200 OK.
pub fn sipp_takes_bye() -> String {
    format!(
        "<recv request=\"BYE\"/>\n  {}",
        sipp_response("200 OK", "", "", NO_BODY)
    )
}

/// SIPp as the called side rings (180 with `contact`), takes the caller's
/// CANCEL, answers it 200, ends the INVITE with 487 and takes the ACK.
pub fn sipp_rings_then_cancelled(contact: &str) -> String {
    // The 487 answers the INVITE, not the CANCEL just received: its CSeq.
    let terminated = sipp_response("487 Request Terminated", SIPP_UAS_TAG, "", NO_BODY)
        .replace("[last_CSeq:]", "CSeq: 1 INVITE");
    format!(
        "{}\n  <recv request=\"CANCEL\"/>\n  {}\n  {terminated}\n  <recv request=\"ACK\" crlf=\"true\"/>",
        sipp_response("180 Ringing", SIPP_UAS_TAG, contact, NO_BODY),
        sipp_response("200 OK", SIPP_UAS_TAG, "", NO_BODY),
    )
}

/// SIPp as the called side rejects the INVITE with `status` (To tagged,
/// `headers` as in [`sipp_response`]) and takes the ACK.
pub fn sipp_rejects(status: &str, headers: &str) -> String {
    format!(
        "{}\n  <recv request=\"ACK\" crlf=\"true\"/>",
        sipp_response(status, SIPP_UAS_TAG, headers, NO_BODY)
    )
}

/// The From of the carrier SIPp plays as UAC in the call tests
/// (`+15550001000`, the `SIPpTag00` tag of SIPp's client scenarios).
pub const SIPP_CARRIER_FROM: &str =
    r#"From: "Carrier" <sip:+15550001000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"#;

/// The carrier's INVITE to `ruser`, request line to Content-Type (the rest
/// comes from the `carrier_call.xml.tmpl` scenario template).
pub fn sipp_carrier_invite(ruser: &str) -> String {
    format!(
        "INVITE sip:{ruser}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{SIPP_CARRIER_FROM}
To: <sip:{ruser}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+15550001000@[local_ip]:[local_port]>
Content-Type: application/sdp"
    )
}

/// The carrier's CANCEL of its INVITE to `ruser` (same branch and To as
/// the INVITE).
pub fn sipp_carrier_cancel(ruser: &str) -> String {
    format!(
        r#"<send><![CDATA[
CANCEL sip:{ruser}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
Max-Forwards: 70
{SIPP_CARRIER_FROM}
To: <sip:{ruser}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Content-Length: 0

]]></send>"#
    )
}

/// The carrier's ACK of a non-2xx final response to its INVITE to `ruser`
/// (same branch).
pub fn sipp_carrier_ack_failure(ruser: &str) -> String {
    format!(
        r#"<send><![CDATA[
ACK sip:{ruser}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
Max-Forwards: 70
{SIPP_CARRIER_FROM}
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>"#
    )
}

/// The carrier's INVITE to `ruser` ends with the final `status`, which it
/// ACKs.
pub fn sipp_carrier_rejected(ruser: &str, status: u16) -> String {
    format!(
        "<recv response=\"{status}\"/>\n  {}",
        sipp_carrier_ack_failure(ruser)
    )
}

/// The carrier CANCELs its INVITE to `ruser`, takes the CANCEL's 200, then
/// the INVITE's 487, which it ACKs.
pub fn sipp_carrier_cancelled(ruser: &str) -> String {
    format!(
        "{}\n  <recv response=\"200\"/>\n  {}",
        sipp_carrier_cancel(ruser),
        sipp_carrier_rejected(ruser, 487)
    )
}

// ---- Locus configuration shared by the call tests ----

/// The start of a `locus sip` configuration for the call tests: SIP on
/// UDP 127.0.0.1 (any port), T1 = `t1_ms`, and the `voice` trunk
/// `carrier` for the carrier SIPp plays from `carrier_ip`. The test's
/// own sections and trunks follow.
pub fn sip_config_with_carrier(t1_ms: u32, carrier_ip: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]

[sip.timers]
t1_ms = {t1_ms}

[[sip.trunks]]
name = "carrier"
profile = "voice"
carrier_addresses = ["{carrier_ip}"]
"#
    )
}

/// A `byoc` trunk `name` for a SIPp peer on `ip` that Locus calls at
/// `outbound` (in that list's order), with `keys` (more lines of the
/// trunk, or `""`), and the inbound route of `did` to it.
pub fn byoc_trunk_routed(
    name: &str,
    ip: &str,
    outbound: &[SocketAddr],
    keys: &str,
    did: &str,
) -> String {
    let outbound: Vec<String> = outbound.iter().map(|a| format!("\"{a}\"")).collect();
    let outbound = outbound.join(", ");
    let keys = if keys.is_empty() {
        String::new()
    } else {
        format!("{keys}\n")
    };
    format!(
        r#"
[[sip.trunks]]
name = "{name}"
profile = "byoc"
carrier_addresses = ["{ip}"]
outbound = [{outbound}]
{keys}
[[sip.routes.inbound]]
did = "{did}"
trunks = ["{name}"]
"#
    )
}

/// After `after_ms` of call, the carrier hangs up its call to `ruser`
/// (BYE, CSeq 2) and takes the 200.
pub fn sipp_carrier_bye(ruser: &str, after_ms: u64) -> String {
    format!(
        r#"<pause milliseconds="{after_ms}"/>
  <send retrans="500"><![CDATA[
BYE sip:{ruser}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
{SIPP_CARRIER_FROM}
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>"#
    )
}

/// Both SIPp runs of a call (the carrier's, the far end's) played their
/// scenario to the end; the logs of both when not.
pub fn assert_carrier_and_far_end_succeeded(c: &SippRun, f: &SippRun) {
    assert!(
        c.success && f.success,
        "carrier ok: {}, far end ok: {}\n=== carrier ===\n{}\n=== far end ===\n{}",
        c.success,
        f.success,
        c.log,
        f.log
    );
}

/// After `after_ms`, SIPp as the called side (From `user`, its
/// [`SIPP_UAS_TAG`]) hangs up: a BYE with CSeq `cseq` to the caller's
/// Contact URI and From the scenario captured as `curi` and `from`; then
/// takes the 200.
pub fn sipp_callee_bye(user: &str, cseq: u32, after_ms: u64) -> String {
    format!(
        r#"<pause milliseconds="{after_ms}"/>
  <send retrans="500"><![CDATA[
BYE [$curi] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:{user}@[local_ip]:[local_port]>{SIPP_UAS_TAG}
To:[$from]
Call-ID: [call_id]
CSeq: {cseq} BYE
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>"#
    )
}
