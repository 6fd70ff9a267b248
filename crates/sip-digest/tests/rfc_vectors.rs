//! Published digest examples, by RFC and section.

use sip_digest::{pick_challenge, respond, Algorithm, Challenge, Credentials, Qop};

/// RFC 2617 section 3.5: "Mufasa" / "Circle Of Life", MD5, qop=auth.
#[test]
fn rfc2617_section_3_5_md5() {
    let challenge = Challenge::parse(
        "Digest\r\n realm=\"testrealm@host.com\",\r\n qop=\"auth,auth-int\",\r\n \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    assert_eq!(challenge.algorithm, Algorithm::Md5);
    assert_eq!(challenge.qop, vec![Qop::Auth, Qop::AuthInt]);
    let creds = respond(
        &challenge,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle Of Life",
        "0a4f113b",
        1,
        None,
    )
    .unwrap();
    assert_eq!(creds.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(creds.qop, Some(Qop::Auth));
    assert_eq!(creds.nc, Some(1));
    assert_eq!(
        creds.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );

    // The Authorization header of the RFC reads back to the same values.
    let rfc = Credentials::parse(
        "Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\",\r\n \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n uri=\"/dir/index.html\",\r\n \
         qop=auth,\r\n nc=00000001,\r\n cnonce=\"0a4f113b\",\r\n \
         response=\"6629fae49393a05397450978507c4ef1\",\r\n \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    assert_eq!(rfc, creds);
}

const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn rfc7616_challenges() -> Vec<Challenge> {
    ["SHA-256", "MD5"]
        .iter()
        .map(|alg| {
            Challenge::parse(&format!(
                "Digest\r\n    realm=\"http-auth@example.org\",\r\n    qop=\"auth, auth-int\",\r\n    \
                 algorithm={alg},\r\n    nonce=\"{RFC7616_NONCE}\",\r\n    opaque=\"{RFC7616_OPAQUE}\""
            ))
            .unwrap()
        })
        .collect()
}

fn rfc7616_answer(c: &Challenge) -> Credentials {
    respond(
        c,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle of Life",
        RFC7616_CNONCE,
        1,
        None,
    )
    .unwrap()
}

/// RFC 7616 section 3.9.1, the MD5 answer.
#[test]
fn rfc7616_section_3_9_1_md5() {
    let challenges = rfc7616_challenges();
    let md5 = &challenges[1];
    assert_eq!(md5.algorithm, Algorithm::Md5);
    let creds = rfc7616_answer(md5);
    assert_eq!(creds.response, "8ca523f5e9506fed4657c9700eebdbec");
    let rfc = Credentials::parse(&format!(
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
         algorithm=MD5, nonce=\"{RFC7616_NONCE}\", nc=00000001, cnonce=\"{RFC7616_CNONCE}\", qop=auth, \
         response=\"8ca523f5e9506fed4657c9700eebdbec\", opaque=\"{RFC7616_OPAQUE}\""
    ))
    .unwrap();
    assert_eq!(rfc, creds);
}

/// RFC 7616 section 3.9.1, the SHA-256 answer; and the client picks
/// SHA-256 over MD5 (RFC 8760 section 2.4).
#[test]
fn rfc7616_section_3_9_1_sha256() {
    let challenges = rfc7616_challenges();
    let chosen = pick_challenge(&challenges).unwrap();
    assert_eq!(chosen.algorithm, Algorithm::Sha256);
    let creds = rfc7616_answer(chosen);
    assert_eq!(
        creds.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    let text = creds.to_string();
    assert!(text.contains("algorithm=SHA-256,"), "{text}");
    assert!(text.contains("nc=00000001"), "{text}");
    assert_eq!(Credentials::parse(&text).unwrap(), creds);
}
