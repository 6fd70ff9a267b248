//! Properties: no panic on any input; format then parse gives the value back.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use sip_digest::{Algorithm, Challenge, Credentials, NonceManager, Qop};

/// Values a header can carry: printable ASCII (quotes, backslashes, commas,
/// equals signs), tab, and non-ASCII.
fn value() -> impl Strategy<Value = String> {
    "[ -~\t\u{e9}\u{4e2d}\u{1f600}]{0,24}"
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

fn qop() -> impl Strategy<Value = Qop> {
    prop_oneof![Just(Qop::Auth), Just(Qop::AuthInt)]
}

prop_compose! {
    fn challenge()(
        realm in value(),
        nonce in value(),
        opaque in prop::option::of(value()),
        algorithm in algorithm(),
        qop in prop::sample::select(vec![
            vec![],
            vec![Qop::Auth],
            vec![Qop::AuthInt],
            vec![Qop::Auth, Qop::AuthInt],
            vec![Qop::AuthInt, Qop::Auth],
        ]),
        stale in any::<bool>(),
    ) -> Challenge {
        Challenge { realm, nonce, opaque, algorithm, qop, stale }
    }
}

prop_compose! {
    fn credentials()(
        username in value(),
        realm in value(),
        nonce in value(),
        uri in value(),
        response in "[0-9a-f]{0,64}",
        algorithm in algorithm(),
        opaque in prop::option::of(value()),
        protection in prop::option::of((qop(), value(), any::<u32>())),
    ) -> Credentials {
        let (qop, cnonce, nc) = match protection {
            Some((q, c, n)) => (Some(q), Some(c), Some(n)),
            None => (None, None, None),
        };
        Credentials { username, realm, nonce, uri, response, algorithm, cnonce, nc, qop, opaque }
    }
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(s in any::<String>()) {
        let _ = Challenge::parse(&s);
        let _ = Credentials::parse(&s);
        let _ = s.parse::<Algorithm>();
        let m = NonceManager::new([0; 32], Duration::from_secs(60));
        let _ = m.verify(&s, SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn parsing_digest_like_text_never_panics(s in "Digest [ -~\t\r\n\u{e9}]{0,80}") {
        let _ = Challenge::parse(&s);
        let _ = Credentials::parse(&s);
    }

    #[test]
    fn challenge_round_trip(c in challenge()) {
        let text = c.to_string();
        prop_assert_eq!(Challenge::parse(&text), Ok(c), "{}", text);
    }

    #[test]
    fn credentials_round_trip(c in credentials()) {
        let text = c.to_string();
        prop_assert_eq!(Credentials::parse(&text), Ok(c), "{}", text);
    }
}
