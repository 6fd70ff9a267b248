//! The client side for trunks (DESIGN C18): pick the strongest challenge,
//! answer once, never loop.

use sip_digest::{
    pick_challenge, respond, Algorithm, Challenge, ChallengeGuard, GiveUpReason, Qop, RespondError,
};

fn challenge(realm: &str, nonce: &str, alg: Algorithm) -> Challenge {
    Challenge::new(realm, nonce, alg)
}

#[test]
fn pick_prefers_sha256_over_md5() {
    let cs = [
        challenge("carrier", "n", Algorithm::Md5),
        challenge("carrier", "n", Algorithm::Sha256),
    ];
    assert_eq!(pick_challenge(&cs).unwrap().algorithm, Algorithm::Sha256);
    let cs = [
        challenge("carrier", "n", Algorithm::Sha256Sess),
        challenge("carrier", "n", Algorithm::Sha512_256),
        challenge("carrier", "n", Algorithm::Sha256),
    ];
    assert_eq!(
        pick_challenge(&cs).unwrap().algorithm,
        Algorithm::Sha512_256
    );
    let cs = [
        challenge("carrier", "first", Algorithm::Md5),
        challenge("carrier", "second", Algorithm::Md5Sess),
    ];
    assert_eq!(pick_challenge(&cs).unwrap().nonce, "first");
    assert!(pick_challenge(&[]).is_none());
}

#[test]
fn second_challenge_after_an_answer_gives_up() {
    let mut guard = ChallengeGuard::new();
    assert!(guard
        .admit(&challenge("carrier", "n1", Algorithm::Sha256))
        .is_ok());
    let err = guard
        .admit(&challenge("carrier", "n2", Algorithm::Sha256))
        .unwrap_err();
    assert_eq!(err.realm, "carrier");
    assert_eq!(err.reason, GiveUpReason::ChallengedAgain);
    assert!(
        err.to_string().contains("check the username and password"),
        "{err}"
    );
    // Still refused later: the attempt is over.
    assert!(guard
        .admit(&challenge("carrier", "n3", Algorithm::Md5))
        .is_err());
}

#[test]
fn stale_retry_once_then_give_up() {
    let mut guard = ChallengeGuard::new();
    guard
        .admit(&challenge("carrier", "n1", Algorithm::Sha256))
        .unwrap();
    let mut stale = challenge("carrier", "n2", Algorithm::Sha256);
    stale.stale = true;
    assert!(
        guard.admit(&stale).is_ok(),
        "stale with a new nonce: answer once more"
    );
    let mut again = challenge("carrier", "n3", Algorithm::Sha256);
    again.stale = true;
    assert_eq!(
        guard.admit(&again).unwrap_err().reason,
        GiveUpReason::StaleRetryUsed
    );
}

#[test]
fn stale_with_the_same_nonce_gives_up() {
    let mut guard = ChallengeGuard::new();
    guard
        .admit(&challenge("carrier", "n1", Algorithm::Sha256))
        .unwrap();
    let mut stale = challenge("carrier", "n1", Algorithm::Sha256);
    stale.stale = true;
    assert_eq!(
        guard.admit(&stale).unwrap_err().reason,
        GiveUpReason::StaleWithSameNonce
    );
}

#[test]
fn each_realm_is_answered_once() {
    // A 407 from a proxy, then a 401 from the carrier behind it.
    let mut guard = ChallengeGuard::new();
    guard
        .admit(&challenge("proxy", "p1", Algorithm::Md5))
        .unwrap();
    guard
        .admit(&challenge("carrier", "c1", Algorithm::Sha256))
        .unwrap();
    assert!(guard
        .admit(&challenge("proxy", "p2", Algorithm::Md5))
        .is_err());
    // A fresh request starts with a fresh guard.
    assert!(ChallengeGuard::new()
        .admit(&challenge("proxy", "p2", Algorithm::Md5))
        .is_ok());
}

#[test]
fn qop_choice() {
    let mut c = challenge("r", "n", Algorithm::Sha256);
    c.qop = vec![Qop::AuthInt, Qop::Auth];
    let a = respond(&c, "INVITE", "sip:x@r", "u", "p", "cn", 1, Some(b"body")).unwrap();
    assert_eq!(a.qop, Some(Qop::Auth));

    c.qop = vec![Qop::AuthInt];
    let with_body = respond(&c, "INVITE", "sip:x@r", "u", "p", "cn", 1, Some(b"body")).unwrap();
    assert_eq!(with_body.qop, Some(Qop::AuthInt));
    let empty = respond(&c, "INVITE", "sip:x@r", "u", "p", "cn", 1, None).unwrap();
    assert_eq!(empty.qop, Some(Qop::AuthInt));
    assert_ne!(
        with_body.response, empty.response,
        "auth-int covers the body"
    );

    c.qop.clear();
    let legacy = respond(&c, "INVITE", "sip:x@r", "u", "p", "cn", 1, None).unwrap();
    assert_eq!((legacy.qop, legacy.nc, legacy.cnonce), (None, None, None));
}

#[test]
fn respond_refuses_unsendable_values() {
    let c = challenge("r", "n", Algorithm::Sha256);
    assert_eq!(
        respond(
            &c,
            "INVITE",
            "sip:x@r",
            "u\r\nX-Evil: 1",
            "p",
            "cn",
            1,
            None
        ),
        Err(RespondError::Unsendable { field: "username" })
    );
    assert_eq!(
        respond(&c, "INVITE", "sip:x@r\n", "u", "p", "cn", 1, None),
        Err(RespondError::Unsendable { field: "uri" })
    );
    assert_eq!(
        respond(&c, "INVITE", "sip:x@r", "u", "p", "", 1, None),
        Err(RespondError::EmptyCnonce)
    );
    assert_eq!(
        respond(&c, "INVITE", "sip:x@r", "u", "p", "cn", 0, None),
        Err(RespondError::ZeroNonceCount)
    );
    // Quotes and backslashes are escaped, not refused.
    let a = respond(&c, "INVITE", "sip:x@r", "a\"b\\c", "p", "cn", 1, None).unwrap();
    assert!(a.to_string().contains("username=\"a\\\"b\\\\c\""));
}
