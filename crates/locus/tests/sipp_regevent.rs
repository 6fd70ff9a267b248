//! The reg event notifier end to end (RFC 3680, RFC 6665; DESIGN.md E1,
//! E2): the real `locus sip`, phones registering with digest (Rust client,
//! SIPp), and subscribers (SIPp, and a Rust client that parses every NOTIFY
//! with `reginfo`).

mod common;
mod reg_common;

use common::{scenario, sipp, Locus};
use reg_common::{reginfo_docs, users_toml, Client};
use sip_digest::Algorithm;

fn start(users: usize, events: &str) -> (Locus, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
data_dir = "{}"

[sip.media]
relay = false

[sip.events]
{events}

[[sip.users]]
username = "alice"
password = "secret-a"

[[sip.users]]
username = "bob"
password = "secret-b"

{}
"#,
        data.path().display(),
        users_toml(users)
    );
    (Locus::start(&cfg, 2), data)
}

fn register(locus: &Locus, user: &str, password: &str) {
    let mut phone = Client::udp(locus.addr("udp"));
    let contact = format!(
        "<sip:{user}@{}>;+sip.instance=\"<urn:uuid:{user}>\"",
        phone.local
    );
    let (_, ok) = phone.register(
        user,
        user,
        password,
        Algorithm::Md5,
        &contact,
        3600,
        &format!("{user}-reg"),
    );
    assert_eq!(ok.status(), 200, "{}", ok.text());
}

fn register_users(locus: &Locus, n: usize) {
    let mut phone = Client::udp(locus.addr("udp"));
    for i in 0..n {
        let user = format!("user{i}");
        let contact = format!("<sip:{user}@127.0.0.1:{}>", 20_000 + i);
        let (_, ok) = phone.register(
            &user,
            &user,
            &format!("pw-{user}"),
            Algorithm::Sha256,
            &contact,
            3600,
            &format!("{user}-reg"),
        );
        assert_eq!(ok.status(), 200, "{}", ok.text());
    }
}

fn server_uri(locus: &Locus) -> String {
    format!("sip:{}", locus.addr("udp"))
}

#[test]
fn e1_subscribe_reg_gets_200_and_full_state_notify() {
    let (locus, _data) = start(0, "");
    register(&locus, "alice", "secret-a");
    let run = sipp(
        &scenario("regevent_subscribe.xml"),
        locus.addr("udp"),
        "u1",
        &[],
    );
    assert!(run.success, "SIPp subscriber failed:\n{}", run.log);
    // Over the Rust subscriber: the same, with the document checked.
    let mut mgr = Client::udp(locus.addr("udp"));
    let ok = mgr.subscribe(&server_uri(&locus), "reg", 600, "e1-sub");
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert_eq!(ok.header("Expires"), Some("600"));
    assert!(mgr.wait_notifies(5, 200, |n| !n.is_empty()));
    let n = &mgr.notifies[0];
    assert_eq!(n.header("Event"), Some("reg"));
    assert_eq!(n.header("Subscription-State"), Some("active;expires=600"));
    assert_eq!(n.header("Content-Type"), Some("application/reginfo+xml"));
    let doc = &reginfo_docs(&mgr.notifies)[0];
    assert_eq!((doc.version, doc.state), (0, reginfo::DocState::Full));
    let c = &doc.registrations[0].contacts[0];
    assert_eq!(doc.registrations[0].aor, "sip:alice@127.0.0.1");
    assert_eq!(c.instance(), Some("urn:uuid:alice"));
}

#[test]
fn e1_event_not_allowed_gets_489() {
    let (locus, _data) = start(0, "subscription_event_allowed = \"presence\"");
    let run = sipp(&scenario("regevent_489.xml"), locus.addr("udp"), "u1", &[]);
    assert!(run.success, "expected 489:\n{}", run.log);
}

#[test]
fn e1_whole_server_subscription_covers_every_aor() {
    let (locus, _data) = start(0, "");
    register(&locus, "alice", "secret-a");
    register(&locus, "bob", "secret-b");
    let mut all = Client::udp(locus.addr("udp"));
    assert_eq!(
        all.subscribe(&server_uri(&locus), "reg", 600, "all")
            .status(),
        200
    );
    let mut one = Client::udp(locus.addr("udp"));
    let alice = format!("sip:alice@{}", locus.addr("udp"));
    assert_eq!(one.subscribe(&alice, "reg", 600, "one").status(), 200);
    assert!(all.wait_notifies(5, 200, |n| !n.is_empty()));
    assert!(one.wait_notifies(5, 200, |n| !n.is_empty()));
    let aors = |c: &Client| -> Vec<String> {
        reginfo_docs(&c.notifies)[0]
            .registrations
            .iter()
            .map(|r| r.aor.clone())
            .collect()
    };
    assert_eq!(aors(&all), ["sip:alice@127.0.0.1", "sip:bob@127.0.0.1"]);
    assert_eq!(aors(&one), ["sip:alice@127.0.0.1"]);
}

#[test]
fn partial_notify_on_new_registration() {
    let (locus, _data) = start(0, "");
    register(&locus, "alice", "secret-a");
    let mut mgr = Client::udp(locus.addr("udp"));
    assert_eq!(
        mgr.subscribe(&server_uri(&locus), "reg", 600, "p").status(),
        200
    );
    assert!(mgr.wait_notifies(5, 200, |n| !n.is_empty()));
    register(&locus, "bob", "secret-b");
    assert!(mgr.wait_notifies(5, 200, |n| n.len() >= 2));
    let docs = reginfo_docs(&mgr.notifies);
    let d = &docs[1];
    assert_eq!((d.version, d.state), (1, reginfo::DocState::Partial));
    assert_eq!(d.registrations.len(), 1);
    let r = &d.registrations[0];
    assert_eq!(r.aor, "sip:bob@127.0.0.1");
    assert_eq!(r.state, reginfo::RegState::Active);
    assert_eq!(r.contacts[0].event, reginfo::ContactEvent::Registered);
    // Unregistering (Expires: 0) is reported too.
    let mut phone = Client::udp(locus.addr("udp"));
    let bob_contact = docs[1].registrations[0].contacts[0].uri.clone();
    let (_, ok) = phone.register(
        "bob",
        "bob",
        "secret-b",
        Algorithm::Md5,
        &format!("<{bob_contact}>"),
        0,
        "bob-unreg",
    );
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert!(mgr.wait_notifies(5, 200, |n| n.len() >= 3));
    let d = &reginfo_docs(&mgr.notifies)[2];
    assert_eq!(d.version, 2);
    assert_eq!(d.registrations[0].state, reginfo::RegState::Terminated);
    assert_eq!(
        d.registrations[0].contacts[0].event,
        reginfo::ContactEvent::Unregistered
    );
}

/// Subscribes over `mgr` to the whole server and applies every NOTIFY as
/// RFC 3680 says; returns the documents once `want` AORs are known.
fn full_state(mgr: &mut Client, locus: &Locus, want: usize) -> Vec<reginfo::RegInfo> {
    let ok = mgr.subscribe(&server_uri(locus), "reg", 3600, "e2");
    assert_eq!(ok.status(), 200, "{}", ok.text());
    let done = |n: &[reg_common::Msg]| {
        let docs = reginfo_docs(n);
        let mut set = reginfo::RegistrationSet::new();
        for d in &docs {
            let _ = set.apply(d, reginfo::QuirkMode::Rfc3680);
        }
        set.len() >= want
    };
    assert!(
        mgr.wait_notifies(20, 200, done),
        "{} NOTIFYs",
        mgr.notifies.len()
    );
    reginfo_docs(&mgr.notifies)
}

#[test]
fn e2_full_state_split_at_max_body_size() {
    let (locus, _data) = start(300, "subscription_max_body_size = 2048");
    register_users(&locus, 300);
    let mut mgr = Client::udp(locus.addr("udp"));
    let docs = full_state(&mut mgr, &locus, 300);
    assert!(docs.len() > 10, "{} NOTIFYs", docs.len());
    for (i, (d, n)) in docs.iter().zip(&mgr.notifies).enumerate() {
        assert!(n.body.len() <= 2048, "NOTIFY {i}: {} bytes", n.body.len());
        assert_eq!(d.version, i as u32, "consecutive versions");
        let want = if i == 0 {
            reginfo::DocState::Full
        } else {
            reginfo::DocState::Partial
        };
        assert_eq!(d.state, want, "NOTIFY {i}");
    }
    let total: usize = docs.iter().map(|d| d.registrations.len()).sum();
    assert_eq!(total, 300, "each AOR in exactly one body");
}

#[test]
fn e2_thousands_of_registrations_with_the_default_limit() {
    let (locus, _data) = start(2000, "");
    register_users(&locus, 2000);
    let mut mgr = Client::udp(locus.addr("udp"));
    let docs = full_state(&mut mgr, &locus, 2000);
    assert!(docs.len() > 1);
    for (i, (d, n)) in docs.iter().zip(&mgr.notifies).enumerate() {
        assert!(
            n.body.len() <= reginfo::DEFAULT_MAX_BODY,
            "NOTIFY {i}: {} bytes",
            n.body.len()
        );
        assert_eq!(d.version, i as u32);
        assert_eq!(d.state == reginfo::DocState::Full, i == 0);
    }
}

#[test]
fn e2_zero_means_one_notify_over_tcp() {
    let (locus, _data) = start(150, "subscription_max_body_size = 0");
    register_users(&locus, 150);
    let mut mgr = Client::tcp(locus.addr("tcp"));
    let ok = mgr.subscribe(&format!("sip:{}", locus.addr("tcp")), "reg", 600, "zero");
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert!(mgr.wait_notifies(10, 200, |n| !n.is_empty()));
    // Nothing more comes.
    assert!(!mgr.wait_notifies(1, 200, |n| n.len() > 1));
    assert_eq!(mgr.notifies.len(), 1);
    let n = &mgr.notifies[0];
    assert!(
        n.body.len() > reginfo::DEFAULT_MAX_BODY,
        "{} bytes",
        n.body.len()
    );
    let d = &reginfo_docs(&mgr.notifies)[0];
    assert_eq!((d.version, d.state), (0, reginfo::DocState::Full));
    assert_eq!(d.registrations.len(), 150);
}
