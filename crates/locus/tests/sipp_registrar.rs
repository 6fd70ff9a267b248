//! The registrar end to end (RFC 3261 section 10.3, DESIGN.md section 3):
//! the real `locus sip`, SIPp phones answering digest challenges (SIPp 3.6
//! computes MD5 only, so its runs use `algorithms = ["MD5"]`), and a Rust
//! client (`sip-digest`) for SHA-256 and for the server's default offer of
//! both algorithms.

mod common;
mod reg_common;

use common::{scenario, sipp, Locus};
use reg_common::{reginfo_docs, Client};
use sip_digest::Algorithm;

fn config(extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
data_dir = "@DATA@"
{extra}
[sip.media]
relay = false

[[sip.users]]
username = "alice"
password = "secret-a"

[[sip.users]]
username = "bob"
password = "secret-b"
"#
    )
}

fn start(extra: &str, data: &std::path::Path) -> Locus {
    Locus::start(
        &config(extra).replace("@DATA@", &data.display().to_string()),
        2,
    )
}

/// SIPp's digest is MD5 only: challenge with MD5 alone for its runs.
const MD5_ONLY: &str = "[sip.registrar]\nalgorithms = [\"MD5\"]\n";

fn sipp_register(locus: &Locus, file: &str, args: &[&str]) -> common::SippRun {
    sipp(&scenario(file), locus.addr("udp"), "u1", args)
}

#[test]
fn register_with_md5_digest() {
    let data = tempfile::tempdir().unwrap();
    let locus = start(MD5_ONLY, data.path());
    let run = sipp_register(
        &locus,
        "register_ok.xml",
        &[
            "-au", "alice", "-ap", "secret-a", "-key", "aor", "alice", "-key", "expires", "600",
        ],
    );
    assert!(run.success, "SIPp MD5 REGISTER failed:\n{}", run.log);
    // With the default offer (SHA-256, then MD5) an MD5-only phone answers
    // the MD5 challenge.
    let data = tempfile::tempdir().unwrap();
    let locus = start("", data.path());
    let mut phone = Client::udp(locus.addr("udp"));
    let contact = format!("<sip:alice@{}>", phone.local);
    let (challenge, ok) = phone.register(
        "alice",
        "alice",
        "secret-a",
        Algorithm::Md5,
        &contact,
        600,
        "md5-1",
    );
    let algs: Vec<&str> = challenge
        .all("WWW-Authenticate")
        .iter()
        .map(|v| {
            if v.contains("SHA-256") {
                "SHA-256"
            } else {
                "MD5"
            }
        })
        .collect();
    assert_eq!(algs, ["SHA-256", "MD5"], "{}", challenge.text());
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert_eq!(
        ok.header("Contact").unwrap(),
        format!("{contact};expires=600")
    );
}

#[test]
fn register_with_sha256_digest() {
    let data = tempfile::tempdir().unwrap();
    let locus = start("", data.path());
    let mut phone = Client::udp(locus.addr("udp"));
    let contact = format!("<sip:alice@{}>", phone.local);
    let (_, ok) = phone.register(
        "alice",
        "alice",
        "secret-a",
        Algorithm::Sha256,
        &contact,
        3600,
        "sha-1",
    );
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert!(ok.header("Contact").unwrap().ends_with(";expires=3600"));
    assert!(ok.header("Date").is_some());
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_answer() {
    let data = tempfile::tempdir().unwrap();
    let locus = start(MD5_ONLY, data.path());
    for (aor, user, pass) in [("alice", "alice", "wrong"), ("nobody", "nobody", "x")] {
        let run = sipp_register(
            &locus,
            "register_rejected.xml",
            &[
                "-au", user, "-ap", pass, "-key", "aor", aor, "-key", "expires", "600",
            ],
        );
        assert!(run.success, "{user}: expected a second 401:\n{}", run.log);
    }
    // And byte for byte the same shape over the Rust client, both algorithms offered.
    let locus = start("", data.path());
    let mut answers = Vec::new();
    for (aor, user, pass) in [("alice", "alice", "wrong"), ("nobody", "nobody", "x")] {
        let mut phone = Client::udp(locus.addr("udp"));
        let contact = format!("<sip:{aor}@{}>", phone.local);
        let (_, fin) = phone.register(aor, user, pass, Algorithm::Sha256, &contact, 600, "x");
        let names: Vec<String> = fin.headers.iter().map(|(n, _)| n.clone()).collect();
        answers.push((fin.start.clone(), names, fin.all("WWW-Authenticate").len()));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, "SIP/2.0 401 Unauthorized");
}

#[test]
fn register_other_users_aor_is_403() {
    let data = tempfile::tempdir().unwrap();
    let locus = start(MD5_ONLY, data.path());
    let run = sipp_register(
        &locus,
        "register_forbidden.xml",
        &[
            "-au", "alice", "-ap", "secret-a", "-key", "aor", "bob", "-key", "expires", "600",
        ],
    );
    assert!(run.success, "expected 403:\n{}", run.log);
}

#[test]
fn min_expires_423() {
    let data = tempfile::tempdir().unwrap();
    let locus = start(MD5_ONLY, data.path());
    let run = sipp_register(
        &locus,
        "register_too_brief.xml",
        &[
            "-au", "alice", "-ap", "secret-a", "-key", "aor", "alice", "-key", "expires", "30",
        ],
    );
    assert!(
        run.success,
        "expected 423 with Min-Expires: 60:\n{}",
        run.log
    );
}

#[test]
fn bindings_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut locus = start(MD5_ONLY, data.path());
    let run = sipp_register(
        &locus,
        "register_ok.xml",
        &[
            "-au", "alice", "-ap", "secret-a", "-key", "aor", "alice", "-key", "expires", "3600",
        ],
    );
    assert!(run.success, "SIPp REGISTER failed:\n{}", run.log);
    assert!(locus.terminate().success());
    assert!(data.path().join("registrar.sqlite").exists());

    let locus = start(MD5_ONLY, data.path());
    let mut manager = Client::udp(locus.addr("udp"));
    let ruri = format!("sip:{}", locus.addr("udp"));
    let ok = manager.subscribe(&ruri, "reg", 600, "restart-sub");
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert!(manager.wait_notifies(5, 200, |n| !n.is_empty()));
    let docs = reginfo_docs(&manager.notifies);
    let full = &docs[0];
    assert_eq!(full.state, reginfo::DocState::Full);
    let aors: Vec<&str> = full.registrations.iter().map(|r| r.aor.as_str()).collect();
    assert_eq!(aors, ["sip:alice@127.0.0.1"], "{full:?}");
    let c = &full.registrations[0].contacts[0];
    assert!(c.uri.starts_with("sip:alice@127.0.0.1:"), "{c:?}");
    let left = c.expires.unwrap();
    assert!((3500..=3600).contains(&left), "expires {left}");
}
