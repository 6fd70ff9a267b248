//! The command line as an operator uses it: `check-config` and `--help`.

use std::process::Command;

fn locus(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(args)
        .output()
        .expect("run locus")
}

#[test]
fn check_config_accepts_the_example() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/locus.example.toml"
    );
    let out = locus(&["check-config", example]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

#[test]
fn check_config_names_file_key_and_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\", \"sctp:127.0.0.1:5060\"]\n[sip.timers]\nt1_ms = 5\n",
    )
    .unwrap();
    let out = locus(&["check-config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml: key `sip.listen[1]`"), "{err}");
    assert!(
        err.contains("\"tls:IP:PORT\""),
        "says what is allowed: {err}"
    );
    assert!(
        err.contains(
            "bad.toml: key `sip.timers.t1_ms`: value 5 is not allowed; allowed: 10 to 10000"
        ),
        "{err}"
    );
}

#[test]
fn check_config_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.toml");
    std::fs::write(&file, "[sip]\nlistn = []\n").unwrap();
    let out = locus(&["check-config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("typo.toml: key `sip.listn`: unknown field"),
        "{err}"
    );
}

#[test]
fn check_config_reports_a_missing_file() {
    let out = locus(&["check-config", "/nonexistent/locus.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/locus.toml: cannot read"));
}

#[test]
fn help_lists_the_commands() {
    let out = locus(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["sip", "check-config"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = locus(&["sip", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
}

#[test]
fn e911_command_serves_the_api_and_keeps_data_in_data_dir() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("e911.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &file,
        format!(
            "[e911]\nhttp_listen = \"127.0.0.1:0\"\nsip_listen = [\"udp:127.0.0.1:0\"]\ndata_dir = {:?}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(["e911", "--config", file.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().and_then(Result::ok).unwrap_or_default();
    let addr = line
        .strip_prefix("locus e911: http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(data.join("e911.sqlite").exists());
    assert!(status.success(), "{status:?}");
}
