//! Issue 4 item 10, E9 and E10 against a registrar Locus did not write:
//! Kamailio 5.6 (Debian `kamailio`, `kamailio-presence-modules`,
//! `kamailio-sqlite-modules`; configuration `tests/kamailio/reginfo.cfg`)
//! is the SIP server. SIPp phones REGISTER to it from 127.0.0.5 and
//! 127.0.0.15; `pua_reginfo` publishes each change to `presence_reginfo`,
//! which NOTIFYs the manager's per-AOR subscriptions (DESIGN.md section
//! 6: per AOR only, every NOTIFY full with version 0, no `+sip.instance`).
//! The manager (`locus e911`, call server type `kamailio`,
//! `subscription_mode` `per_aor`) is configured and read back through its
//! HTTP API.
//!
//! What Kamailio 5.6.3 sends, as seen with these tests: the first NOTIFY
//! of an AOR nobody registered has no body; an un-REGISTER gives the
//! registration `terminated` with its contact `terminated`,
//! `event="unregistered"`; an expiry gives a bare
//! `<registration aor=... state="terminated"/>`. The manager's PUBLISH
//! (E11) is kept by `presence_xml` and served to presence watchers.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    free_port, free_udp_port_on, http_body, http_get, http_post_json, json_field, json_objects,
    repo_root, SippRun, E911,
};

const KAMAILIO: &str = "/usr/sbin/kamailio";
const HQ_ELIN: &str = "+15551230300";
const LOBBY_ELIN: &str = "+15551230100";
const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";
/// Alice's phone: in the region mapped to HQ floor 3.
const ALICE_IP: &str = "127.0.0.5";
/// Bob's phone: in no region, so at the call server's default location.
const BOB_IP: &str = "127.0.0.15";

/// Kamailio in the foreground (`-DD -E`) on 127.0.0.1, in its own process
/// group (it forks its workers), with a fresh SQLite database; the whole
/// group is stopped on drop.
struct Kamailio {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts Kamailio on a free UDP port of 127.0.0.1 and waits (10 s at
    /// most) until it answers an OPTIONS.
    fn start() -> Kamailio {
        assert!(
            Path::new(KAMAILIO).exists(),
            "{KAMAILIO} not found: install the Debian packages kamailio, \
             kamailio-presence-modules, kamailio-sqlite-modules (scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("kamailio.db");
        // The presence and pua tables, empty: no state from an earlier run
        // (DESIGN.md section 6: the presence table must start clear).
        for script in ["standard-create.sql", "presence-create.sql"] {
            let sql = Path::new("/usr/share/kamailio/db_sqlite").join(script);
            let out = Command::new("sqlite3")
                .arg(&db)
                .stdin(std::fs::File::open(&sql).unwrap_or_else(|e| {
                    panic!(
                        "{}: {e} (Debian package kamailio-sqlite-modules)",
                        sql.display()
                    )
                }))
                .output()
                .expect("run sqlite3 (Debian package sqlite3; scripts/test installs it)");
            assert!(
                out.status.success(),
                "sqlite3 {script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let template = std::fs::read_to_string(repo_root().join("tests/kamailio/reginfo.cfg"))
            .expect("read tests/kamailio/reginfo.cfg");
        let log = dir.path().join("kamailio.log");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let cfg = dir.path().join("reginfo.cfg");
            std::fs::write(
                &cfg,
                template
                    .replace("@PORT@", &port.to_string())
                    .replace("@DB@", &db.display().to_string()),
            )
            .expect("write kamailio cfg");
            let mut child = Command::new(KAMAILIO)
                .arg("-f")
                .arg(&cfg)
                .args(["-DD", "-E", "-m", "64", "-M", "8", "-x", "tlsf"])
                .arg("-P")
                .arg(dir.path().join("kamailio.pid"))
                .arg("-Y")
                .arg(dir.path())
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).map_or(Stdio::null(), Stdio::from))
                .spawn()
                .expect("start kamailio");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!(
                        "exited with {status}: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    break;
                }
                if answers_options(addr) {
                    return Kamailio {
                        child,
                        addr,
                        log,
                        _dir: dir,
                    };
                }
            }
            stop_group(&mut child);
            if last.is_empty() {
                last = format!(
                    "no answer to OPTIONS within 10 s: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
        panic!("kamailio did not start: {last}");
    }

    /// What Kamailio logged so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// SIGTERM to the process group Kamailio leads (its workers too), then
/// SIGKILL after 3 s.
fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..60 {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Workers that outlived the main process, if any.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether anything answers an OPTIONS at `addr` within 200 ms.
fn answers_options(addr: SocketAddr) -> bool {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let local = sock.local_addr().expect("addr");
    let msg = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe-{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p\r\nTo: <sip:{addr}>\r\n\
         Call-ID: probe-{}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    );
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    if sock.send_to(msg.as_bytes(), addr).is_err() {
        std::thread::sleep(Duration::from_millis(200));
        return false;
    }
    let mut buf = [0u8; 2048];
    matches!(sock.recv_from(&mut buf), Ok((n, _)) if buf[..n].starts_with(b"SIP/2.0 "))
}

/// A SIPp phone: one user, one address and port (so a later REGISTER from
/// it refreshes or removes the same binding).
struct Phone {
    user: &'static str,
    ip: &'static str,
    port: u16,
}

impl Phone {
    fn new(user: &'static str, ip: &'static str) -> Phone {
        Phone {
            user,
            ip,
            port: free_udp_port_on(ip),
        }
    }

    /// REGISTERs its Contact with this Expires (0 removes it), bounded.
    fn register(&self, registrar: SocketAddr, expires: u32) -> SippRun {
        run_sipp(
            "register.xml",
            self.ip,
            self.port,
            &["-s", self.user, "-key", "expires", &expires.to_string()],
            registrar,
        )
    }

    fn must_register(&self, k: &Kamailio, expires: u32) {
        let run = self.register(k.addr, expires);
        assert!(
            run.success,
            "{} REGISTER (Expires {expires}) failed:{}\n--- kamailio ---\n{}",
            self.user,
            run.log,
            k.log()
        );
    }
}

/// Runs a SIPp client scenario of `tests/kamailio` once from `ip:port`,
/// bounded to 15 s.
fn run_sipp(name: &str, ip: &str, port: u16, args: &[&str], target: SocketAddr) -> SippRun {
    let work = tempfile::tempdir().expect("temp dir");
    let out = Command::new("timeout")
        .arg("15")
        .arg("sipp")
        .arg("-sf")
        .arg(repo_root().join("tests/kamailio").join(name))
        .args(args)
        .args(["-m", "1", "-i", ip, "-p", &port.to_string()])
        .args(["-t", "u1", "-timeout", "10s", "-timeout_error", "-nostdin"])
        .args(["-trace_err", "-trace_msg"])
        .arg(target.to_string())
        .current_dir(work.path())
        .stdin(Stdio::null())
        .output()
        .expect("run sipp (Debian package sip-tester; scripts/test installs it)");
    let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
    for entry in std::fs::read_dir(work.path()).expect("sipp dir").flatten() {
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

struct Setup {
    manager: E911,
    kamailio: Kamailio,
    hq: i64,
    lobby: i64,
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

/// Kamailio, and a manager with two locations (HQ floor 3 for the region
/// 127.0.0.5/32; the lobby as the call server's default), without the
/// call server yet.
fn setup() -> Setup {
    let kamailio = Kamailio::start();
    let manager = E911::start(
        "[e911]\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = \"@DATA@\"\nsip_listen = [\"udp:127.0.0.1:0\"]\n",
        1,
    );
    let api = manager.http;
    let hq = created_id(
        "the HQ location",
        &http_post_json(
            api,
            "/api/v1/locations",
            &format!(
                r#"{{"name":"HQ floor 3","civic":{{"country":"US","A1":"TX","A3":"Austin","RD":"Main St","HNO":"100","FLR":"3"}},"elins":["{HQ_ELIN}"]}}"#
            ),
        ),
    );
    let lobby = created_id(
        "the default location",
        &http_post_json(
            api,
            "/api/v1/locations",
            &format!(
                r#"{{"name":"HQ lobby","civic":{{"country":"US","A1":"TX","A3":"Austin","RD":"Main St","HNO":"100","FLR":"1"}},"elins":["{LOBBY_ELIN}"]}}"#
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
    Setup {
        manager,
        kamailio,
        hq,
        lobby,
        call_server: 0,
    }
}

/// The Kamailio call server: per-AOR subscriptions to alice and bob.
fn add_call_server(s: &mut Setup) {
    let port = s.kamailio.addr.port();
    let lobby = s.lobby;
    s.call_server = created_id(
        "the call server",
        &http_post_json(
            s.manager.http,
            "/api/v1/call-servers",
            &format!(
                r#"{{"type":"kamailio","name":"kamailio","members":[{{"ip":"127.0.0.1","port":{port},"transport":"udp"}}],"subscription_mode":"per_aor","aors":["{ALICE}","{BOB}"],"default_location_id":{lobby}}}"#
            ),
        ),
    );
}

/// Polls the device list (15 s at most) until `done` accepts it.
fn poll_devices(s: &Setup, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = http_get(s.manager.http, "/api/v1/devices");
        let objects = json_objects(http_body(&resp));
        if done(&objects) {
            return objects;
        }
        assert!(
            Instant::now() < deadline,
            "devices never showed {what}; last: {resp}\n--- kamailio ---\n{}",
            s.kamailio.log()
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

/// Both phones in the inventory, each at its location.
fn both_located(s: &Setup, d: &[String]) -> bool {
    d.len() == 2
        && device(d, ALICE).is_some_and(|a| field(a, "location_id") == s.hq.to_string())
        && device(d, BOB).is_some_and(|b| field(b, "location_id") == s.lobby.to_string())
}

#[test]
fn e9_kamailio_per_aor_inventory() {
    let mut s = setup();
    let alice = Phone::new("alice", ALICE_IP);
    let bob = Phone::new("bob", BOB_IP);
    // Alice is registered before the manager subscribes (her state comes
    // in the first NOTIFY), bob after (his comes from pua_reginfo's
    // PUBLISH of the new registration).
    alice.must_register(&s.kamailio, 300);
    add_call_server(&mut s);
    bob.must_register(&s.kamailio, 300);

    let devices = poll_devices(&s, "alice at HQ floor 3 and bob in the lobby", |d| {
        both_located(&s, d)
    });
    let a = device(&devices, ALICE).expect("alice");
    assert_eq!(field(a, "call_server_id"), s.call_server.to_string());
    assert_eq!(field(a, "user"), "\"alice\"");
    assert_eq!(field(a, "source_ip"), format!("\"{ALICE_IP}\""));
    assert_eq!(
        field(a, "contact"),
        format!("\"sip:alice@{ALICE_IP}:{}\"", alice.port)
    );
    assert_eq!(field(a, "located_by"), "\"region\"");
    assert_eq!(field(a, "state"), "\"located\"");
    assert_eq!(field(a, "elin"), format!("\"{HQ_ELIN}\""));

    let b = device(&devices, BOB).expect("bob");
    assert_eq!(field(b, "call_server_id"), s.call_server.to_string());
    assert_eq!(field(b, "source_ip"), format!("\"{BOB_IP}\""));
    assert_eq!(field(b, "located_by"), "\"default\"");
    assert_eq!(field(b, "state"), "\"located\"");
    assert_eq!(field(b, "elin"), format!("\"{LOBBY_ELIN}\""));

    // E11 towards Kamailio: the manager's PUBLISH (Event: presence, a
    // PIDF-LO with the ELIN) is taken by presence_xml and kept as the
    // user's presence document.
    for (user, elin, floor) in [("alice", HQ_ELIN, "3"), ("bob", LOBBY_ELIN, "1")] {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // A presence fetch (SUBSCRIBE, Expires 0) from a watcher: its
            // NOTIFY must carry the manager's PIDF-LO.
            let run = run_sipp(
                "presence_fetch.xml",
                "127.0.0.1",
                free_port(),
                &["-s", user],
                s.kamailio.addr,
            );
            if run.success
                && run.log.contains("Content-Type: application/pidf+xml")
                && run.log.contains(&format!(">{elin}</elin:elin>"))
                && run.log.contains(&format!("<ca:FLR>{floor}</ca:FLR>"))
                && run
                    .log
                    .contains(&format!("entity=\"pres:{user}@example.com\""))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Kamailio never served {user}'s PIDF-LO with ELIN {elin}:{}\n\
                 --- kamailio ---\n{}",
                run.log,
                s.kamailio.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn e9_kamailio_unregister_removes_device() {
    let mut s = setup();
    let alice = Phone::new("alice", ALICE_IP);
    let bob = Phone::new("bob", BOB_IP);
    add_call_server(&mut s);
    alice.must_register(&s.kamailio, 300);
    bob.must_register(&s.kamailio, 300);
    poll_devices(&s, "both phones located", |d| both_located(&s, d));

    // Bob's phone removes its binding: Kamailio NOTIFYs his registration
    // terminated, its contact terminated with event "unregistered".
    bob.must_register(&s.kamailio, 0);
    let devices = poll_devices(&s, "bob removed and alice kept", |d| {
        d.len() == 1 && device(d, BOB).is_none() && device(d, ALICE).is_some()
    });
    let a = device(&devices, ALICE).expect("alice");
    assert_eq!(field(a, "location_id"), s.hq.to_string());
    assert_eq!(field(a, "elin"), format!("\"{HQ_ELIN}\""));
}

#[test]
fn e9_kamailio_expiry_removes_device() {
    let mut s = setup();
    let alice = Phone::new("alice", ALICE_IP);
    let bob = Phone::new("bob", BOB_IP);
    add_call_server(&mut s);
    alice.must_register(&s.kamailio, 300);
    // Bob's binding lasts 5 s and is not refreshed: usrloc's timer drops
    // it and Kamailio NOTIFYs a bare `<registration state="terminated"/>`
    // (no contact) for his AOR.
    bob.must_register(&s.kamailio, 5);
    poll_devices(&s, "both phones located", |d| both_located(&s, d));
    let devices = poll_devices(&s, "bob removed after his expiry, alice kept", |d| {
        d.len() == 1 && device(d, BOB).is_none() && device(d, ALICE).is_some()
    });
    let a = device(&devices, ALICE).expect("alice");
    assert_eq!(field(a, "location_id"), s.hq.to_string());
}
