//! The registrar side (DESIGN section 3, issue 4): REGISTER with digest,
//! nonce expiry, replay protection, no user enumeration.

use std::time::{Duration, SystemTime};

use sip_digest::{
    challenges, ha1, pick_challenge, respond, Algorithm, Challenge, Credentials, Ha1, NonceCheck,
    NonceManager, Qop, Verdict, Verifier,
};

const REALM: &str = "locus.example";
const LIFETIME: Duration = Duration::from_secs(300);
const URI: &str = "sip:locus.example";

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn registrar() -> Verifier {
    Verifier::new(REALM, [42; 32], LIFETIME)
}

/// The store: HA1 per user and algorithm, never the password.
fn store(user: &str, realm: &str, alg: Algorithm) -> Option<Ha1> {
    (user == "1001").then(|| ha1(alg, user, realm, "s3cret"))
}

/// Header text to header text, as the wire carries it.
fn over_the_wire(cs: &[Challenge]) -> Vec<Challenge> {
    cs.iter()
        .map(|c| Challenge::parse(&c.to_string()).unwrap())
        .collect()
}

fn answer(c: &Challenge, user: &str, password: &str, nc: u32) -> Credentials {
    let creds = respond(c, "REGISTER", URI, user, password, "a1b2c3d4", nc, None).unwrap();
    Credentials::parse(&creds.to_string()).unwrap()
}

fn sha256_challenge(v: &Verifier, now: SystemTime) -> Challenge {
    let offered = over_the_wire(&v.challenges(now, false));
    pick_challenge(&offered).unwrap().clone()
}

#[test]
fn register_sha256_and_md5_both_sides() {
    let mut v = registrar();
    let offered = over_the_wire(&v.challenges(at(0), false));
    assert_eq!(
        offered.iter().map(|c| c.algorithm).collect::<Vec<_>>(),
        vec![Algorithm::Sha256, Algorithm::Md5],
        "one challenge per algorithm, SHA-256 first (RFC 8760)"
    );
    assert!(offered.iter().all(|c| c.qop == vec![Qop::Auth] && !c.stale));
    // One 401 carries one nonce for all its challenges: the count goes on.
    for (nc, c) in (1..).zip(&offered) {
        let creds = answer(c, "1001", "s3cret", nc);
        assert_eq!(creds.algorithm, c.algorithm);
        assert_eq!(
            v.verify(&creds, "REGISTER", None, at(1), store),
            Verdict::Ok
        );
    }
}

#[test]
fn every_algorithm_and_auth_int() {
    let mut v = registrar().with_algorithms(&Algorithm::ALL);
    assert_eq!(v.algorithms()[0].strength(), 3);
    let offered = v.challenges(at(0), false);
    assert_eq!(offered.len(), 6);
    for (i, c) in (0u32..).zip(&offered) {
        let creds = answer(c, "1001", "s3cret", 1 + 2 * i);
        assert_eq!(
            v.verify(&creds, "REGISTER", None, at(1), store),
            Verdict::Ok,
            "{}",
            c.algorithm
        );
        // auth-int covers the body.
        let mut only_int = c.clone();
        only_int.qop = vec![Qop::AuthInt];
        let body = b"v=0\r\n";
        let creds = respond(
            &only_int,
            "MESSAGE",
            URI,
            "1001",
            "s3cret",
            "cn",
            2 + 2 * i,
            Some(body),
        )
        .unwrap();
        assert_eq!(creds.qop, Some(Qop::AuthInt));
        assert_eq!(
            v.verify(&creds, "MESSAGE", Some(body), at(1), store),
            Verdict::Ok
        );
        let mut replay = creds.clone();
        replay.nc = Some(100 + i);
        assert_eq!(
            v.verify(&replay, "MESSAGE", Some(b"other"), at(1), store),
            Verdict::Failed,
            "another body does not verify"
        );
    }
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_verdict() {
    let mut v = registrar();
    let c = sha256_challenge(&v, at(0));
    let wrong = v.verify(
        &answer(&c, "1001", "guess", 1),
        "REGISTER",
        None,
        at(1),
        store,
    );
    let unknown = v.verify(
        &answer(&c, "9999", "guess", 1),
        "REGISTER",
        None,
        at(1),
        store,
    );
    assert_eq!(wrong, Verdict::Failed);
    assert_eq!(unknown, wrong);
    // Even on an expired nonce, a wrong answer is Failed, not Stale (no oracle).
    let late = v.verify(
        &answer(&c, "9999", "guess", 2),
        "REGISTER",
        None,
        at(400),
        store,
    );
    assert_eq!(late, Verdict::Failed);
}

#[test]
fn expired_nonce_is_stale_then_the_retry_succeeds() {
    let mut v = registrar();
    let c = sha256_challenge(&v, at(0));
    assert_eq!(v.nonces().verify(&c.nonce, at(299)), NonceCheck::Valid);
    assert_eq!(v.nonces().verify(&c.nonce, at(300)), NonceCheck::Stale);
    let creds = answer(&c, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(301), store),
        Verdict::Stale
    );

    let fresh = over_the_wire(&v.challenges(at(301), true));
    assert!(fresh.iter().all(|c| c.stale));
    let c = pick_challenge(&fresh).unwrap();
    let creds = answer(c, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(302), store),
        Verdict::Ok
    );
}

#[test]
fn replayed_nc_fails_and_a_higher_nc_passes() {
    let mut v = registrar();
    let c = sha256_challenge(&v, at(0));
    let first = answer(&c, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&first, "REGISTER", None, at(1), store),
        Verdict::Ok
    );
    assert_eq!(
        v.verify(&first, "REGISTER", None, at(2), store),
        Verdict::Failed
    );
    let third = answer(&c, "1001", "s3cret", 3);
    assert_eq!(
        v.verify(&third, "REGISTER", None, at(3), store),
        Verdict::Ok
    );
    let second = answer(&c, "1001", "s3cret", 2);
    assert_eq!(
        v.verify(&second, "REGISTER", None, at(4), store),
        Verdict::Failed
    );
}

#[test]
fn a_wrong_answer_does_not_burn_the_nonce_count() {
    let mut v = registrar();
    let c = sha256_challenge(&v, at(0));
    let attacker = answer(&c, "1001", "guess", 0xffff_fff0);
    assert_eq!(
        v.verify(&attacker, "REGISTER", None, at(1), store),
        Verdict::Failed
    );
    let legit = answer(&c, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&legit, "REGISTER", None, at(2), store),
        Verdict::Ok
    );
}

#[test]
fn tampered_or_foreign_nonce_is_invalid() {
    let mut v = registrar();
    let c = sha256_challenge(&v, at(0));
    let mut tampered = c.nonce.clone().into_bytes();
    tampered[3] = if tampered[3] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(v.nonces().verify(&tampered, at(1)), NonceCheck::Invalid);
    for bad in ["", "xyz", &c.nonce[..63], &format!("{}0", c.nonce)] {
        assert_eq!(v.nonces().verify(bad, at(1)), NonceCheck::Invalid, "{bad}");
    }
    let other = NonceManager::new([7; 32], LIFETIME);
    assert_eq!(other.verify(&c.nonce, at(1)), NonceCheck::Invalid);

    // A correct digest over a tampered nonce still fails: the nonce is not ours.
    let mut forged = c.clone();
    forged.nonce = tampered;
    let creds = answer(&forged, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(1), store),
        Verdict::Failed
    );
}

#[test]
fn realm_algorithm_and_qop_are_enforced() {
    let mut v = registrar().with_algorithms(&[Algorithm::Sha256]);
    let c = sha256_challenge(&v, at(0));

    let mut other_realm = c.clone();
    other_realm.realm = "evil.example".into();
    let creds = answer(&other_realm, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(1), store),
        Verdict::Failed
    );

    let mut md5 = c.clone();
    md5.algorithm = Algorithm::Md5;
    let creds = answer(&md5, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(1), store),
        Verdict::Failed
    );

    let mut no_qop = c.clone();
    no_qop.qop.clear();
    let creds = answer(&no_qop, "1001", "s3cret", 1);
    assert_eq!(creds.qop, None);
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(1), store),
        Verdict::Failed
    );

    let creds = answer(&c, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&creds, "INVITE", None, at(1), store),
        Verdict::Failed,
        "method is covered"
    );
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(1), store),
        Verdict::Ok
    );
}

#[test]
fn bounded_replay_memory_never_accepts_a_replay() {
    let mut v = registrar().with_replay_capacity(2);
    let cs: Vec<Challenge> = (0..3).map(|i| sha256_challenge(&v, at(i))).collect();
    for c in &cs {
        let creds = answer(c, "1001", "s3cret", 1);
        assert_eq!(
            v.verify(&creds, "REGISTER", None, at(10), store),
            Verdict::Ok
        );
    }
    // The first nonce was forgotten while valid: its replay is Stale, not Ok.
    let replay = answer(&cs[0], "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&replay, "REGISTER", None, at(11), store),
        Verdict::Stale
    );
    // The newest is still tracked.
    let replay = answer(&cs[2], "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&replay, "REGISTER", None, at(11), store),
        Verdict::Failed
    );
}

#[test]
fn store_with_the_wrong_algorithm_is_treated_as_unknown() {
    let mut v = registrar();
    let c = sha256_challenge(&v, at(0));
    let md5_only = |u: &str, r: &str, _: Algorithm| Some(ha1(Algorithm::Md5, u, r, "s3cret"));
    let creds = answer(&c, "1001", "s3cret", 1);
    assert_eq!(
        v.verify(&creds, "REGISTER", None, at(1), md5_only),
        Verdict::Failed
    );
}

#[test]
fn challenges_one_per_algorithm_strongest_first() {
    let cs = challenges(
        REALM,
        "n",
        &[
            Algorithm::Md5,
            Algorithm::Sha256,
            Algorithm::Md5,
            Algorithm::Sha512_256,
        ],
    );
    assert_eq!(
        cs.iter().map(|c| c.algorithm).collect::<Vec<_>>(),
        vec![Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5]
    );
    assert!(cs.iter().all(|c| c.realm == REALM && c.nonce == "n"));
}

#[test]
fn nonces_are_unique_and_signed() {
    let v = registrar();
    let a = v.challenges(at(0), false)[0].nonce.clone();
    let b = v.challenges(at(0), false)[0].nonce.clone();
    assert_ne!(a, b);
    assert_eq!(v.nonces().verify(&a, at(0)), NonceCheck::Valid);
    // Dated ahead of our clock beyond the skew: stale, not valid.
    assert_eq!(
        v.nonces().verify(&a, at(0) - Duration::from_secs(120)),
        NonceCheck::Stale
    );
}
