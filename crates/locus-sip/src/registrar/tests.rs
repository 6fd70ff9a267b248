//! Registrar unit tests, in virtual time.

use super::*;
use sip_core::Message;
use sip_digest::{pick_challenge, respond, Challenge};
use sip_transport::Transport;

fn config() -> SipConfig {
    let mut c = SipConfig {
        listen: vec!["udp:127.0.0.1:5060".into()],
        domains: vec!["example.com".into()],
        ..SipConfig::default()
    };
    for (u, p) in [("alice", "secret-a"), ("bob", "secret-b")] {
        c.users.push(UserConfig {
            username: u.into(),
            password: Some(p.into()),
            ha1_md5: None,
            ha1_sha256: None,
            aors: Vec::new(),
        });
    }
    c
}

fn inbound() -> Inbound {
    Inbound {
        bytes: Bytes::new(),
        source: "192.0.2.7:5062".parse().unwrap(),
        local: "127.0.0.1:5060".parse().unwrap(),
        transport: Transport::Udp,
        conn: None,
    }
}

struct Req<'a> {
    aor_user: &'a str,
    contacts: Vec<String>,
    expires: Option<u32>,
    call_id: &'a str,
    cseq: u32,
    auth: Option<String>,
}

impl Req<'_> {
    fn new(aor_user: &str) -> Req<'_> {
        Req {
            aor_user,
            contacts: vec!["<sip:phone@192.0.2.7:5062>".into()],
            expires: None,
            call_id: "call-1",
            cseq: 1,
            auth: None,
        }
    }

    fn build(&self) -> Request {
        let mut s = format!(
            "REGISTER sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK{}{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{u}@example.com>;tag=ft\r\n\
             To: <sip:{u}@example.com>\r\n\
             Call-ID: {}\r\nCSeq: {} REGISTER\r\n",
            self.call_id,
            self.cseq,
            self.call_id,
            self.cseq,
            u = self.aor_user
        );
        for c in &self.contacts {
            s.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = self.expires {
            s.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some(a) = &self.auth {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        match Message::parse(Bytes::from(s)).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }
}

fn challenges(reply: &Reply) -> Vec<Challenge> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| *n == "WWW-Authenticate")
        .map(|(_, v)| Challenge::parse(v).unwrap())
        .collect()
}

/// Sends `req` unauthenticated, answers the challenge with `alg` as
/// `user`/`password`, returns the second reply.
fn register_as(
    r: &mut Registrar,
    now: Instant,
    mut req: Req<'_>,
    user: &str,
    password: &str,
    alg: Algorithm,
) -> (Reply, Option<Change>) {
    let (first, _) = r.register(now, &req.build(), &inbound());
    assert_eq!(first.status, 401);
    let offered = challenges(&first);
    let ch = offered.iter().find(|c| c.algorithm == alg).unwrap();
    let creds = respond(
        ch,
        "REGISTER",
        "sip:example.com",
        user,
        password,
        "cn",
        1,
        None,
    )
    .unwrap();
    req.auth = Some(creds.to_string());
    req.cseq += 1;
    r.register(now, &req.build(), &inbound())
}

#[test]
fn challenge_offers_sha256_then_md5_with_qop_auth() {
    let mut r = Registrar::new(&config());
    let (reply, change) = r.register(Instant::now(), &Req::new("alice").build(), &inbound());
    assert_eq!(reply.status, 401);
    assert!(change.is_none());
    let c = challenges(&reply);
    assert_eq!(
        c.iter().map(|c| c.algorithm).collect::<Vec<_>>(),
        [Algorithm::Sha256, Algorithm::Md5]
    );
    assert!(c.iter().all(|c| c.realm == "example.com" && !c.stale));
    assert_eq!(pick_challenge(&c).unwrap().algorithm, Algorithm::Sha256);
}

#[test]
fn sha256_and_md5_both_register_and_the_200_lists_contacts_with_expires() {
    let now = Instant::now();
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let mut r = Registrar::new(&config());
        let (reply, change) = register_as(&mut r, now, Req::new("alice"), "alice", "secret-a", alg);
        assert_eq!(reply.status, 200, "{alg}");
        let contacts: Vec<_> = reply
            .headers
            .iter()
            .filter(|(n, _)| *n == "Contact")
            .collect();
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].1, "<sip:phone@192.0.2.7:5062>;expires=3600");
        assert!(reply
            .headers
            .iter()
            .any(|(n, v)| *n == "Date" && v.ends_with("GMT")));
        let change = change.unwrap();
        assert_eq!(change.aor, "sip:alice@example.com");
        assert_eq!(change.state, reginfo::RegState::Active);
        assert_eq!(change.contacts[0].event, reginfo::ContactEvent::Registered);
        let b = &r.bindings("sip:alice@example.com")[0];
        assert_eq!(b.stored.source, "192.0.2.7:5062");
        assert_eq!(b.stored.transport, "udp");
    }
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_answer() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let (wrong, _) = register_as(
        &mut r,
        now,
        Req::new("alice"),
        "alice",
        "nope",
        Algorithm::Sha256,
    );
    let (unknown, _) = register_as(
        &mut r,
        now,
        Req::new("carol"),
        "carol",
        "x",
        Algorithm::Sha256,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.reason, wrong.reason);
    let shape = |r: &Reply| {
        challenges(r)
            .into_iter()
            .map(|c| (c.algorithm, c.realm, c.stale, c.qop))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&wrong), shape(&unknown));
    assert!(r.bindings("sip:alice@example.com").is_empty());
}

#[test]
fn registering_another_users_aor_is_403() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let (reply, change) = register_as(
        &mut r,
        now,
        Req::new("bob"),
        "alice",
        "secret-a",
        Algorithm::Md5,
    );
    assert_eq!(reply.status, 403);
    assert!(change.is_none());
}

#[test]
fn too_brief_gets_423_with_min_expires_and_long_is_clamped() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let mut req = Req::new("alice");
    req.expires = Some(30);
    let (reply, _) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Sha256);
    assert_eq!(reply.status, 423);
    assert!(reply.headers.contains(&("Min-Expires", "60".into())));
    let mut req = Req::new("alice");
    req.contacts = vec!["<sip:phone@192.0.2.7:5062>;expires=99999".into()];
    let (reply, _) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Sha256);
    assert_eq!(reply.status, 200);
    assert!(reply
        .headers
        .iter()
        .any(|(_, v)| v.ends_with(";expires=3600")));
}

#[test]
fn same_call_id_with_a_cseq_not_higher_fails_and_another_call_id_updates() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let mut req = Req::new("alice");
    req.cseq = 10;
    let (reply, _) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Sha256);
    assert_eq!(reply.status, 200); // stored with CSeq 11
    for cseq in [5, 10] {
        let mut req = Req::new("alice");
        req.cseq = cseq; // sent with cseq + 1 <= 11
        let (reply, change) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Sha256);
        assert_eq!(reply.status, 500, "cseq {}", cseq + 1);
        assert!(change.is_none());
    }
    let mut req = Req::new("alice");
    req.call_id = "call-2";
    req.cseq = 1;
    let (reply, change) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Sha256);
    assert_eq!(reply.status, 200);
    assert_eq!(
        change.unwrap().contacts[0].event,
        reginfo::ContactEvent::Refreshed
    );
    assert_eq!(r.bindings("sip:alice@example.com").len(), 1);
}

#[test]
fn bindings_expire_in_virtual_time() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let mut req = Req::new("alice");
    req.expires = Some(60);
    let (reply, _) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Md5);
    assert_eq!(reply.status, 200);
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(60)));
    assert!(r.handle_timeout(now + Duration::from_secs(59)).is_empty());
    let changes = r.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].state, reginfo::RegState::Terminated);
    assert_eq!(changes[0].contacts[0].event, reginfo::ContactEvent::Expired);
    assert_eq!(r.binding_count(), 0);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn a_refresh_moves_the_expiry() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let mut req = Req::new("alice");
    req.expires = Some(60);
    let _ = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Md5);
    let later = now + Duration::from_secs(50);
    let mut req = Req::new("alice");
    req.expires = Some(60);
    req.cseq = 5;
    let (reply, _) = register_as(&mut r, later, req, "alice", "secret-a", Algorithm::Md5);
    assert_eq!(reply.status, 200);
    assert!(r.handle_timeout(now + Duration::from_secs(61)).is_empty());
    assert_eq!(r.binding_count(), 1);
    assert_eq!(r.handle_timeout(later + Duration::from_secs(60)).len(), 1);
}

#[test]
fn star_with_expires_zero_removes_every_binding() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let mut req = Req::new("alice");
    req.contacts = vec![
        "<sip:a@192.0.2.7:5062>".into(),
        "<sip:b@192.0.2.8:5062>;q=0.5".into(),
    ];
    let (reply, _) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Md5);
    assert_eq!(reply.status, 200);
    assert_eq!(r.binding_count(), 2);
    let mut req = Req::new("alice");
    req.contacts = vec!["*".into()];
    req.cseq = 9;
    let (reply, _) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Md5);
    assert_eq!(reply.status, 400, "* needs Expires: 0");
    let mut req = Req::new("alice");
    req.contacts = vec!["*".into()];
    req.expires = Some(0);
    req.cseq = 20;
    let (reply, change) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Md5);
    assert_eq!(reply.status, 200);
    assert_eq!(r.binding_count(), 0);
    let change = change.unwrap();
    assert_eq!(change.state, reginfo::RegState::Terminated);
    assert_eq!(change.contacts.len(), 2);
    assert!(change
        .contacts
        .iter()
        .all(|c| c.event == reginfo::ContactEvent::Unregistered));
}

#[test]
fn instance_and_reg_id_are_kept_and_identify_the_binding() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let inst = "\"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>\"";
    let mut req = Req::new("alice");
    req.contacts = vec![format!(
        "<sip:phone@192.0.2.7:5062>;+sip.instance={inst};reg-id=1"
    )];
    let (reply, _) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Md5);
    assert_eq!(reply.status, 200);
    let c = &reply
        .headers
        .iter()
        .find(|(n, _)| *n == "Contact")
        .unwrap()
        .1;
    assert!(
        c.contains(&format!("+sip.instance={inst}")) && c.contains("reg-id=1"),
        "{c}"
    );
    // The phone moved (new address, same instance): the binding is replaced.
    let mut req = Req::new("alice");
    req.contacts = vec![format!(
        "<sip:phone@192.0.2.99:5062>;+sip.instance={inst};reg-id=1"
    )];
    req.cseq = 5;
    let (reply, change) = register_as(&mut r, now, req, "alice", "secret-a", Algorithm::Md5);
    assert_eq!(reply.status, 200);
    assert_eq!(r.binding_count(), 1);
    let c = &change.unwrap().contacts[0];
    assert_eq!(
        c.instance(),
        Some("urn:uuid:00000000-0000-1000-8000-000a95a0e128")
    );
    assert_eq!(c.uri, "sip:phone@192.0.2.99:5062");
}

#[test]
fn an_old_nonce_is_stale_and_a_replayed_answer_fails() {
    let now = Instant::now();
    let mut r = Registrar::new(&config());
    let req = Req::new("alice");
    let (first, _) = r.register(now, &req.build(), &inbound());
    let ch = challenges(&first)[0].clone();
    let creds = respond(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "secret-a",
        "cn",
        1,
        None,
    )
    .unwrap();
    let mut req = Req::new("alice");
    req.auth = Some(creds.to_string());
    req.cseq = 2;
    let (ok, _) = r.register(now, &req.build(), &inbound());
    assert_eq!(ok.status, 200);
    // The same answer again (nc not increased): refused.
    req.cseq = 3;
    let (replay, _) = r.register(now, &req.build(), &inbound());
    assert_eq!(replay.status, 401);
    // Past the nonce lifetime: stale=true.
    let creds = respond(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "secret-a",
        "cn",
        2,
        None,
    )
    .unwrap();
    req.auth = Some(creds.to_string());
    req.cseq = 4;
    let (stale, _) = r.register(now + Duration::from_secs(301), &req.build(), &inbound());
    assert_eq!(stale.status, 401);
    assert!(challenges(&stale).iter().all(|c| c.stale));
}

#[test]
fn stored_ha1_values_authenticate_without_a_password() {
    let mut c = config();
    c.users[0].password = None;
    c.users[0].ha1_md5 = Some(
        sip_digest::ha1(Algorithm::Md5, "alice", "example.com", "secret-a")
            .as_hex()
            .into(),
    );
    let now = Instant::now();
    let mut r = Registrar::new(&c);
    let (reply, _) = register_as(
        &mut r,
        now,
        Req::new("alice"),
        "alice",
        "secret-a",
        Algorithm::Md5,
    );
    assert_eq!(reply.status, 200);
    // No SHA-256 HA1 stored: that answer fails like a wrong password.
    let (reply, _) = register_as(
        &mut r,
        now,
        Req::new("alice"),
        "alice",
        "secret-a",
        Algorithm::Sha256,
    );
    assert_eq!(reply.status, 401);
}

#[test]
fn bindings_are_restored_from_the_store_with_their_remaining_time() {
    let now = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let mut r = Registrar::new(&config());
    r.set_clock(now, wall);
    let _ = register_as(
        &mut r,
        now,
        Req::new("alice"),
        "alice",
        "secret-a",
        Algorithm::Md5,
    );
    let stored: Vec<StoredBinding> = r
        .bindings("sip:alice@example.com")
        .iter()
        .map(|b| b.stored.clone())
        .collect();
    assert_eq!(stored[0].expires_unix, 2_000_003_600);
    // A restart 100 s later.
    let mut r2 = Registrar::new(&config());
    let now2 = now + Duration::from_secs(7);
    r2.set_clock(now2, wall + Duration::from_secs(100));
    r2.load(now2, stored.clone());
    assert_eq!(r2.poll_timeout(), Some(now2 + Duration::from_secs(3500)));
    let regs = r2.registrations(None, now2);
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].contacts[0].expires, Some(3500));
    // Past the expiry: nothing is restored.
    let mut r3 = Registrar::new(&config());
    r3.set_clock(now2, wall + Duration::from_secs(3600));
    r3.load(now2, stored);
    assert_eq!(r3.binding_count(), 0);
}

#[test]
fn config_keys_are_validated() {
    let mut c = config();
    c.registrar.min_expires = 0;
    c.registrar.default_expires = 10_000;
    c.users[1].password = None;
    c.users[0].aors = vec!["sip:example.com".into()];
    c.users.push(c.users[0].clone());
    c.users[2].ha1_sha256 = Some("xyz".into());
    let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
    assert_eq!(
        keys,
        [
            "sip.registrar.min_expires",
            "sip.registrar.default_expires",
            "sip.users[0].aors[0]",
            "sip.users[1].password",
            "sip.users[2].username",
            "sip.users[2].ha1_sha256",
            "sip.users[2].aors[0]",
        ]
    );
}

#[test]
fn the_challenged_algorithms_follow_the_configuration() {
    let mut c = config();
    c.registrar.algorithms = vec!["MD5".into()];
    let mut r = Registrar::new(&c);
    let (reply, _) = r.register(Instant::now(), &Req::new("alice").build(), &inbound());
    let algs: Vec<_> = challenges(&reply).iter().map(|c| c.algorithm).collect();
    assert_eq!(algs, [Algorithm::Md5]);
    let (reply, _) = register_as(
        &mut r,
        Instant::now(),
        Req::new("alice"),
        "alice",
        "secret-a",
        Algorithm::Md5,
    );
    assert_eq!(reply.status, 200);
    c.registrar.algorithms = vec!["MD5-sess".into()];
    let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, ["sip.registrar.algorithms"]);
}
