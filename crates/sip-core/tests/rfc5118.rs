//! RFC 5118 (SIP torture tests for IPv6), one test per message and section,
//! each run on both copies: `archive-exact/` (LF line endings, as archived)
//! and `crlf-ersip/` (CRLF line endings), plus a table test over
//! `MANIFEST.tsv`.
//!
//! Two archived copies (`ipv6-in-sdp`, `mult-ip-in-sdp`) announce a
//! Content-Length larger than their body (the manifest notes it): received
//! as datagrams they are, byte for byte, RFC 4475 section 3.1.2.2 errors
//! (400); their CRLF copies are accepted.

use std::net::Ipv6Addr;

use bytes::Bytes;
use sip_core::{Contacts, HeaderForm, Host, Message, ParseError, Request, Uri};

const VARIANTS: [&str; 2] = ["archive-exact", "crlf-ersip"];

fn load(variant: &str, name: &str) -> Bytes {
    let path = format!(
        "{}/tests/data/rfc5118/{variant}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn v6(s: &str) -> Host<'static> {
    Host::Ipv6(s.parse::<Ipv6Addr>().unwrap())
}

/// Both variants parse and validate; `check` runs on each.
fn each_valid(name: &str, check: impl Fn(&Request)) {
    for variant in VARIANTS {
        let m = Message::parse_datagram(load(variant, name))
            .unwrap_or_else(|e| panic!("{variant}/{name}: {e}"));
        let r = m.as_request().expect("a request");
        r.validate()
            .unwrap_or_else(|e| panic!("{variant}/{name}: {e}"));
        check(r);
        for form in [HeaderForm::Preserve, HeaderForm::Compact] {
            assert_eq!(
                Message::parse(m.to_bytes(form)).unwrap(),
                m,
                "{variant}/{name}"
            );
        }
    }
}

fn ruri_host(r: &Request) -> (Host<'static>, Option<u16>) {
    let Uri::Sip(u) = r.uri() else {
        panic!("not sip")
    };
    (u.host.clone().into_owned(), u.port)
}

#[test]
fn section_4_1_ipv6_good() {
    each_valid("ipv6-good", |r| {
        assert_eq!(ruri_host(r), (v6("2001:db8::10"), None));
        assert_eq!(r.top_via().unwrap().host, v6("2001:db8::9:1"));
        let Contacts::List(c) = r.contacts().unwrap() else {
            panic!()
        };
        assert_eq!(c[0].uri.as_sip().unwrap().host, v6("2001:db8::1"));
    });
}

#[test]
fn section_4_2_ipv6_bad_request_uri_without_brackets_400() {
    for variant in VARIANTS {
        let raw = load(variant, "ipv6-bad");
        let err = Message::parse_datagram(raw.clone()).unwrap_err();
        assert!(matches!(err, ParseError::InvalidRequestUri(_)), "{err}");
        assert_eq!(err.status(), 400);
        assert!(Message::parse_lenient_for_reply(&raw).is_some());
    }
}

#[test]
fn section_4_3_port_ambiguous_is_an_address_without_port() {
    each_valid("port-ambiguous", |r| {
        assert_eq!(ruri_host(r), (v6("2001:db8::10:5070"), None));
    });
}

#[test]
fn section_4_4_port_unambiguous() {
    each_valid("port-unambiguous", |r| {
        assert_eq!(ruri_host(r), (v6("2001:db8::10"), Some(5070)));
    });
}

#[test]
fn section_4_5_via_received_param_with_delimiters() {
    each_valid("via-received-param-with-delim", |r| {
        let v = r.top_via().unwrap();
        assert_eq!(v.received(), Some(v6("2001:db8::9:255")));
        assert_eq!(v.branch(), Some("z9hG4bKas3-111"));
    });
}

#[test]
fn section_4_5_via_received_param_without_delimiters() {
    each_valid("via-received-param-no-delim", |r| {
        let v = r.top_via().unwrap();
        assert_eq!(v.received(), Some(v6("2001:db8::9:255")));
        assert_eq!(v.branch(), Some("z9hG4bKas3"));
    });
}

fn sdp_case(name: &str, announced: usize, c_line: &[u8]) {
    // CRLF copy: valid.
    let m = Message::parse_datagram(load("crlf-ersip", name)).unwrap();
    let r = m.as_request().unwrap();
    r.validate().unwrap();
    assert_eq!(ruri_host(r), (v6("2001:db8::10"), None));
    assert!(r.content_type().unwrap().unwrap().is("application", "sdp"));
    assert_eq!(r.body().len(), r.content_length().unwrap());
    assert!(r.body().windows(c_line.len()).any(|w| w == c_line));
    // Archived copy: Content-Length larger than the datagram.
    let raw = load("archive-exact", name);
    let err = Message::parse_datagram(raw.clone()).unwrap_err();
    assert!(
        matches!(err, ParseError::ContentLengthExceedsDatagram { content_length, .. } if content_length == announced),
        "{err}"
    );
    assert!(Message::parse_lenient_for_reply(&raw).is_some());
}

#[test]
fn section_4_6_ipv6_in_sdp_body() {
    sdp_case("ipv6-in-sdp", 268, b"c=IN IP6 2001:db8::20");
}

#[test]
fn section_4_7_multiple_ip_addresses_in_headers() {
    each_valid("mult-ip-in-header", |r| {
        let v: Vec<_> = r.via().map(Result::unwrap).collect();
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[0].host.clone(), v[0].port),
            (v6("2001:db8::9:1"), Some(6050))
        );
        assert_eq!(v[1].host, Host::Ipv4([192, 0, 2, 1].into()));
        assert_eq!(v[2].host, v6("2001:db8::9:255"));
        assert_eq!(v[2].received(), Some(Host::Ipv4([192, 0, 2, 200].into())));
        assert_eq!(v[2].transport, "TCP");
    });
}

#[test]
fn section_4_8_multiple_ip_addresses_in_sdp() {
    sdp_case("mult-ip-in-sdp", 181, b"c=IN IP6 2001:db8::1");
}

#[test]
fn section_4_9_ipv4_mapped_ipv6() {
    each_valid("ipv4-mapped-ipv6", |r| {
        let v = r.top_via().unwrap();
        assert_eq!(
            (v.host.clone(), v.port),
            (v6("::ffff:192.0.2.10"), Some(19823))
        );
        let Contacts::List(c) = r.contacts().unwrap() else {
            panic!()
        };
        assert_eq!(c[0].uri.as_sip().unwrap().host, v6("::ffff:192.0.2.2"));
        assert_eq!(c[0].display_name.as_deref(), Some("T. desk phone"));
    });
}

#[test]
fn section_4_10_ipv6_abnf_bug_three_colons_tolerated() {
    // The archived copy also has no empty line ending its headers.
    each_valid("ipv6-bug-abnf-3-colons", |r| {
        assert_eq!(ruri_host(r), (v6("2001:db8::192.0.2.1"), None));
        assert_eq!(
            r.to().unwrap().uri.as_sip().unwrap().host,
            v6("2001:db8::192.0.2.1")
        );
    });
}

#[test]
fn section_4_10_ipv6_abnf_correct_two_colons() {
    each_valid("ipv6-correct-abnf-2-colons", |r| {
        assert_eq!(ruri_host(r), (v6("2001:db8::192.0.2.1"), None));
    });
}

#[test]
fn manifest_every_message_covered() {
    let manifest = std::fs::read_to_string(format!(
        "{}/tests/data/rfc5118/MANIFEST.tsv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut n = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, class) = (cols[0], cols[3]);
        for variant in VARIANTS {
            let res = Message::parse_datagram(load(variant, name));
            let wrong_cl_archive =
                variant == "archive-exact" && matches!(name, "ipv6-in-sdp" | "mult-ip-in-sdp");
            if class == "INVALID" {
                assert_eq!(res.unwrap_err().status(), 400, "{variant}/{name}");
            } else if wrong_cl_archive {
                assert!(matches!(
                    res,
                    Err(ParseError::ContentLengthExceedsDatagram { .. })
                ));
            } else {
                let m = res.unwrap_or_else(|e| panic!("{variant}/{name}: {e}"));
                m.as_request().unwrap().validate().unwrap();
            }
        }
        n += 1;
    }
    assert_eq!(n, 12);
}
