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
