//! RFC 4475 (SIP torture test messages), one test per message, named by
//! section, plus a table test over `MANIFEST.tsv` checking that every message
//! is covered and handled as the RFC asks.
//!
//! The messages are received as UDP datagrams (`Message::parse_datagram`);
//! what a server does is modelled by [`outcome`]: a parse error on a request
//! whose Via can be recovered is answered with `ParseError::status()`, a
//! parse error on a response (or without Via) is dropped, and a parsed
//! request is answered with `Request::validate()`'s rejection if any.

use std::collections::BTreeMap;

use bytes::Bytes;
use sip_core::{
    Contacts, HeaderForm, HeaderName, Host, Message, Method, ParseError, Request, Response, SipUri,
    Uri,
};

fn load(name: &str) -> Bytes {
    let path = format!("{}/tests/data/rfc4475/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn parse(name: &str) -> Result<Message, ParseError> {
    Message::parse_datagram(load(name))
}

/// A request that parses and validates.
fn valid_request(name: &str) -> Request {
    match parse(name).unwrap_or_else(|e| panic!("{name}: {e}")) {
        Message::Request(r) => {
            r.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            r
        }
        Message::Response(_) => panic!("{name}: not a request"),
    }
}

fn response(name: &str) -> Response {
    match parse(name).unwrap_or_else(|e| panic!("{name}: {e}")) {
        Message::Response(r) => r,
        Message::Request(_) => panic!("{name}: not a response"),
    }
}

/// What a server does with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Parsed (and validated, for a request): handed to the application.
    Accept,
    /// Answered with this status.
    Reject(u16),
    /// Silently dropped (a malformed response, or nothing to answer to).
    Drop,
}

fn outcome(data: Bytes) -> Outcome {
    match Message::parse_datagram(data.clone()) {
        Err(e) => match Message::parse_lenient_for_reply(&data) {
            Some(_) => Outcome::Reject(e.status()),
            None => Outcome::Drop,
        },
        Ok(Message::Request(r)) => match r.validate() {
            Ok(()) => Outcome::Accept,
            Err(rej) => Outcome::Reject(rej.status),
        },
        Ok(Message::Response(_)) => Outcome::Accept,
    }
}

/// Parse, serialize unmodified, parse again: the same message.
fn assert_round_trip(name: &str) {
    let m = parse(name).unwrap();
    for form in [HeaderForm::Preserve, HeaderForm::Full, HeaderForm::Compact] {
        let again = Message::parse(m.to_bytes(form)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, m, "{name} {form:?}");
    }
}

fn sip(uri: &Uri<'_>) -> SipUri<'static> {
    uri.as_sip().expect("a sip URI").clone().into_owned()
}

fn reject(name: &str) -> (ParseError, u16) {
    let data = load(name);
    let err = Message::parse_datagram(data.clone()).expect_err(name);
    let ctx = Message::parse_lenient_for_reply(&data).expect("Via recovered for the reply");
    // The reply echoes the received values, malformed ones included, so it
    // is checked as text rather than re-parsed.
    let reply = ctx.error_response(&err, "srv1");
    let status_line = format!("SIP/2.0 {} {}\r\n", err.status(), err.reason_phrase());
    assert!(reply.starts_with(status_line.as_bytes()));
    let mut via_line = b"\r\nVia: ".to_vec();
    via_line.extend_from_slice(&ctx.vias[0]);
    assert!(reply.windows(via_line.len()).any(|w| w == via_line));
    assert!(reply.ends_with(b"Content-Length: 0\r\n\r\n"));
    (err.clone(), err.status())
}

// ---- 3.1.1 Valid messages ----

#[test]
fn section_3_1_1_1_wsinv_short_tortuous_invite() {
    let r = valid_request("wsinv.dat");
    assert_eq!(r.method(), &Method::Invite);
    assert_eq!(
        r.uri_str(),
        "sip:vivekg@chair-dnrc.example.com;unknownparam"
    );
    assert_eq!(sip(&r.uri()).param("unknownparam"), Some(None));
    let to = r.to().unwrap();
    assert_eq!(
        sip(&to.uri).to_string(),
        "sip:vivekg@chair-dnrc.example.com"
    );
    assert_eq!(r.to_tag(), Some("1918181833n"));
    let from = r.from().unwrap();
    assert_eq!(from.display_name.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(r.from_tag(), Some("98asjd8"));
    assert_eq!(r.max_forwards().unwrap(), Some(68));
    assert_eq!(r.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(r.content_length(), Some(150));
    assert_eq!(r.cseq().unwrap().seq, 9);
    assert_eq!(r.cseq().unwrap().method, Method::Invite);
    let vias: Vec<_> = r.via().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].transport, "UDP");
    assert_eq!(vias[0].host, Host::Ipv4([192, 0, 2, 2].into()));
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].host, Host::Domain("spindle.example.com".into()));
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host, Host::Ipv4([192, 168, 255, 111].into()));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(r.branch(), Some("390skdjuw"));
    // `s :` is an empty Subject in compact form.
    assert_eq!(r.first(HeaderName::Subject), Some(&b""[..]));
    assert_eq!(
        r.header_by_name("newfangledheader").next().unwrap(),
        b"newfangled value\r\n continued newfangled value"
    );
    assert_eq!(
        r.header_by_name("UnknownHeaderWithUnusualValue")
            .next()
            .unwrap(),
        b";;,,;;,;"
    );
    assert!(r.content_type().unwrap().unwrap().is("application", "sdp"));
    let routes = r.routes().unwrap();
    assert_eq!(routes.len(), 1);
    let route = sip(&routes[0].uri);
    assert!(route.lr());
    assert_eq!(route.param("unknownwith"), Some(Some("value")));
    assert_eq!(route.param("unknown-no-value"), Some(None));
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!("star")
    };
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].display_name.as_deref(), Some(r#"Quoted string """#));
    assert_eq!(c[0].param("newparam"), Some(Some("newvalue")));
    assert_eq!(c[0].param("secondparam"), Some(None));
    assert_eq!(c[0].q(), Some("0.33"));
    assert_eq!(r.body().len(), 150);
    assert_round_trip("wsinv.dat");
}

#[test]
fn section_3_1_1_2_intmeth_wide_range_of_valid_characters() {
    let r = valid_request("intmeth.dat");
    let m = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(r.method(), &Method::Extension(m.into()));
    assert_eq!(r.cseq().unwrap().method.as_str(), m);
    assert_eq!(r.cseq().unwrap().seq, 139122385);
    let u = sip(&r.uri());
    assert_eq!(
        u.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        u.password.as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(u.host, Host::Domain("example.com".into()));
    assert_eq!(r.branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(
        r.to().unwrap().display_name.as_deref(),
        Some("BEL:\x07 NUL:\x00 DEL:\x7f")
    );
    let from = r.from().unwrap();
    assert_eq!(
        from.display_name.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(r.from_tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        from.params()
            .find(|p| p.name == "fromParam''~+*_!.-%")
            .unwrap()
            .value_unquoted()
            .unwrap(),
        "работающий"
    );
    assert_eq!(
        r.call_id(),
        Some(r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#)
    );
    assert_eq!(r.max_forwards().unwrap(), Some(255));
    assert_eq!(
        r.header_by_name("extensionHeader-!.%*+_`'~")
            .next()
            .unwrap(),
        "\u{FEFF}\u{5927}\u{505C}\u{96FB}".as_bytes()
    );
    assert_round_trip("intmeth.dat");
}

#[test]
fn section_3_1_1_3_esc01_valid_percent_escaping() {
    let r = valid_request("esc01.dat");
    let u = sip(&r.uri());
    assert_eq!(u.user.as_deref(), Some("sips%3Auser%40example.com"));
    assert_eq!(&*u.user_unescaped().unwrap(), b"sips:user@example.com");
    assert_eq!(u.host, Host::Domain("example.net".into()));
    let to = sip(&r.to().unwrap().uri);
    assert_eq!(&*to.user_unescaped().unwrap(), b"user");
    assert!(to.matches(&SipUri::parse("sip:user@example.com").unwrap()));
    let from = sip(&r.from().unwrap().uri);
    assert_eq!(&*from.user_unescaped().unwrap(), b"I have spaces");
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!()
    };
    let cu = sip(&c[0].uri);
    assert_eq!(&*cu.user_unescaped().unwrap(), b"caller");
    assert!(cu.matches(&SipUri::parse("sip:caller@host5.example.net;lr;name=value%2541").unwrap()));
    assert_eq!(r.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert!(r.content_type().unwrap().unwrap().is("application", "sdp"));
    assert_round_trip("esc01.dat");
}

#[test]
fn section_3_1_1_4_escnull_escaped_nulls_two_distinct_contacts() {
    let r = valid_request("escnull.dat");
    assert_eq!(r.method(), &Method::Register);
    let to = sip(&r.to().unwrap().uri);
    assert_eq!(&*to.user_unescaped().unwrap(), b"null-\0-null");
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 2);
    let a = sip(&c[0].uri);
    let b = sip(&c[1].uri);
    assert_eq!(&*a.user_unescaped().unwrap(), b"\0");
    assert_eq!(&*b.user_unescaped().unwrap(), b"\0\0");
    assert!(!a.matches(&b));
    assert_eq!(r.content_length(), Some(0));
    assert_round_trip("escnull.dat");
}

#[test]
fn section_3_1_1_5_esc02_percent_not_an_escape_method_is_extension() {
    let r = valid_request("esc02.dat");
    assert_eq!(r.method(), &Method::Extension("RE%47IST%45R".into()));
    assert_ne!(r.method(), &Method::Register);
    assert_eq!(r.to().unwrap().display_name.as_deref(), Some("%Z%45"));
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 2, "C%6Fntact is not Contact");
    assert_eq!(r.header_by_name("C%6Fntact").count(), 1);
    assert_eq!(r.branch(), Some("z9hG4bK209%fzsnel234"));
    assert_round_trip("esc02.dat");
}

#[test]
fn section_3_1_1_6_lwsdisp_no_lws_between_display_name_and_angle() {
    let r = valid_request("lwsdisp.dat");
    assert_eq!(r.from().unwrap().display_name.as_deref(), Some("caller"));
    assert_eq!(r.from_tag(), Some("323"));
    assert_round_trip("lwsdisp.dat");
}

#[test]
fn section_3_1_1_7_longreq_long_values() {
    let r = valid_request("longreq.dat");
    let to = r.to().unwrap();
    assert!(to
        .display_name
        .as_deref()
        .unwrap()
        .contains("extremeextreme"));
    assert_eq!(sip(&to.uri).port, Some(6000));
    assert!(r.from_tag().unwrap().len() > 100);
    let vias: Vec<_> = r.via().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 34);
    assert_eq!(vias[0].host, Host::Domain("sip33.example.com".into()));
    assert_eq!(vias[33].host, Host::Domain("host.example.com".into()));
    assert!(vias[33].branch().unwrap().len() > 100);
    assert!(r.call_id().unwrap().starts_with("longreq.onereally"));
    assert_eq!(r.body().len(), 150);
    assert_round_trip("longreq.dat");
}

#[test]
fn section_3_1_1_8_dblreq_extra_trailing_octets_in_udp_datagram() {
    let r = valid_request("dblreq.dat");
    assert_eq!(r.method(), &Method::Register);
    assert_eq!(r.call_id(), Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412"));
    assert!(r.body().is_empty());
    assert!(!r.as_bytes().windows(6).any(|w| w == b"INVITE"));
    assert_round_trip("dblreq.dat");
}

#[test]
fn section_3_1_1_9_semiuri_semicolons_in_user_part() {
    let r = valid_request("semiuri.dat");
    let u = sip(&r.uri());
    assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(&*u.user_unescaped().unwrap(), b"user;par=u@example.net");
    assert_eq!(u.host, Host::Domain("example.com".into()));
    assert_eq!(u.params, "");
    let accept = r.accept().unwrap();
    assert_eq!(accept.len(), 6);
    assert!(accept[5].is("message", "sipfrag"));
    assert_round_trip("semiuri.dat");
}

#[test]
fn section_3_1_1_10_transports_varied_and_unknown() {
    let r = valid_request("transports.dat");
    let t: Vec<String> = r.via().map(|v| v.unwrap().transport.into_owned()).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(r.call_id(), Some("transports.kijh4akdnaqjkwendsasfdj"));
    assert_round_trip("transports.dat");
}

#[test]
fn section_3_1_1_11_mpart01_multipart_binary_body_with_nuls() {
    let raw = load("mpart01.dat");
    let r = valid_request("mpart01.dat");
    assert_eq!(r.method(), &Method::Message);
    assert_eq!(r.body().len(), 553);
    assert!(r.body().contains(&0));
    assert_eq!(r.body(), &raw[raw.len() - 553..]);
    let ct = r.content_type().unwrap().unwrap();
    assert!(ct.is("multipart", "mixed"));
    assert_eq!(ct.param("boundary").unwrap(), "7a9cbec02ceef655");
    assert_eq!(r.top_via().unwrap().rport(), Some(None));
    let again = Message::parse(r.to_bytes(HeaderForm::Compact)).unwrap();
    assert_eq!(again.body(), r.body());
    assert_round_trip("mpart01.dat");
}

#[test]
fn section_3_1_1_12_unreason_unusual_utf8_reason_phrase() {
    let r = response("unreason.dat");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.reason(),
        "= 2**3 * 5**2 но сто девяносто девять - простое"
    );
    assert_eq!(r.body().len(), 154);
    assert_eq!(r.to_tag(), Some("2229"));
    assert_round_trip("unreason.dat");
}

#[test]
fn section_3_1_1_13_noreason_empty_reason_phrase() {
    let r = response("noreason.dat");
    assert_eq!(r.status().as_u16(), 100);
    assert_eq!(r.reason(), "");
    assert_eq!(r.call_id(), Some("noreason.asndj203insdf99223ndf"));
    assert_round_trip("noreason.dat");
}

// ---- 3.1.2 Invalid messages ----

#[test]
fn section_3_1_2_1_badinv01_extraneous_header_separators() {
    let (err, status) = reject("badinv01.dat");
    assert!(
        matches!(
            err,
            ParseError::MalformedHeader {
                header: HeaderName::Via,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(status, 400);
    assert_eq!(err.reason_phrase(), "Bad Request (malformed Via)");
}

#[test]
fn section_3_1_2_2_clerr_content_length_larger_than_message() {
    let (err, status) = reject("clerr.dat");
    assert!(matches!(
        err,
        ParseError::ContentLengthExceedsDatagram {
            content_length: 9999,
            ..
        }
    ));
    assert_eq!(status, 400);
    assert!(err.to_string().contains("larger than the datagram"));
    // Over TCP the same bytes are an incomplete message: wait for more.
    let raw = load("clerr.dat");
    assert_eq!(
        sip_framing::frame_stream(&raw, &sip_framing::Limits::default()),
        Ok(sip_framing::Frame::Incomplete)
    );
}

#[test]
fn section_3_1_2_3_ncl_negative_content_length() {
    let (err, status) = reject("ncl.dat");
    assert_eq!(err, ParseError::BadContentLength);
    assert_eq!(status, 400);
}

#[test]
fn section_3_1_2_4_scalar02_request_scalar_fields_overlarge() {
    let (err, status) = reject("scalar02.dat");
    assert_eq!(err, ParseError::CSeqOverflow);
    assert_eq!(err.to_string(), "CSeq sequence number exceeds 2^32-1");
    assert_eq!(status, 400);
}

#[test]
fn section_3_1_2_5_scalarlg_response_scalar_fields_overlarge_discarded() {
    let raw = load("scalarlg.dat");
    assert_eq!(
        Message::parse_datagram(raw.clone()).unwrap_err(),
        ParseError::CSeqOverflow
    );
    assert_eq!(outcome(raw), Outcome::Drop);
}

#[test]
fn section_3_1_2_6_quotbal_unterminated_quoted_display_name() {
    let (err, status) = reject("quotbal.dat");
    assert!(
        matches!(
            err,
            ParseError::MalformedHeader {
                header: HeaderName::To,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(status, 400);
}

#[test]
fn section_3_1_2_7_ltgtruri_angle_brackets_around_request_uri() {
    let (err, status) = reject("ltgtruri.dat");
    assert!(matches!(err, ParseError::InvalidRequestUri(_)), "{err}");
    assert_eq!(status, 400);
}

#[test]
fn section_3_1_2_8_lwsruri_embedded_lws_in_request_uri() {
    let (err, status) = reject("lwsruri.dat");
    assert!(matches!(err, ParseError::MalformedStartLine(_)), "{err}");
    assert_eq!(status, 400);
}

#[test]
fn section_3_1_2_9_lwsstart_multiple_sp_in_request_line_rejected() {
    let (err, status) = reject("lwsstart.dat");
    assert!(matches!(err, ParseError::MalformedStartLine(_)), "{err}");
    assert_eq!(status, 400);
}

#[test]
fn section_3_1_2_10_trws_trailing_sp_on_request_line_rejected() {
    let (err, status) = reject("trws.dat");
    assert!(matches!(err, ParseError::MalformedStartLine(_)), "{err}");
    assert_eq!(status, 400);
}

#[test]
fn section_3_1_2_11_escruri_escaped_headers_in_request_uri() {
    let m = parse("escruri.dat").unwrap();
    let r = m.as_request().unwrap();
    assert_eq!(sip(&r.uri()).headers, "Route=%3Csip:example.com%3E");
    assert_eq!(
        r.count(HeaderName::Route),
        0,
        "never turned into a real header"
    );
    let rej = r.validate().unwrap_err();
    assert_eq!(rej.status, 400);
    assert_eq!(rej.reason, "Bad Request (headers in Request-URI)");
}

#[test]
fn section_3_1_2_12_baddate_invalid_time_zone_ignored() {
    let r = valid_request("baddate.dat");
    assert_eq!(
        r.first(HeaderName::Date),
        Some(&b"Fri, 01 Jan 2010 16:00:00 EST"[..])
    );
    assert_round_trip("baddate.dat");
}

#[test]
fn section_3_1_2_13_regbadct_name_addr_not_enclosed() {
    let m = parse("regbadct.dat").unwrap();
    let r = m.as_request().unwrap();
    assert!(r.contacts().is_err());
    let rej = r.validate().unwrap_err();
    assert_eq!(rej.status, 400);
    assert_eq!(rej.reason, "Bad Request (malformed Contact)");
}

#[test]
fn section_3_1_2_14_badaspec_spaces_within_addr_spec() {
    // The parse only locates the To tag; the address grammar is checked by
    // validate(): spaces inside <> are refused.
    let m = parse("badaspec.dat").unwrap();
    let r = m.as_request().unwrap();
    assert!(r.to().is_none());
    let rej = r.validate().unwrap_err();
    assert_eq!(
        (rej.status, rej.reason),
        (400, "Bad Request (malformed To)")
    );
}

#[test]
fn section_3_1_2_15_baddn_non_token_display_name() {
    // The archived file also lacks the empty line ending the headers; the
    // datagram end is taken as the end of the header block.
    let m = parse("baddn.dat").unwrap();
    let rej = m.as_request().unwrap().validate().unwrap_err();
    assert_eq!(
        (rej.status, rej.reason),
        (400, "Bad Request (malformed From)")
    );
}

#[test]
fn section_3_1_2_16_badvers_unknown_protocol_version_505() {
    let (err, status) = reject("badvers.dat");
    assert_eq!(err, ParseError::UnsupportedVersion("SIP/7.0".into()));
    assert_eq!(status, 505);
    assert_eq!(err.to_string(), "unsupported SIP version SIP/7.0");
}

#[test]
fn section_3_1_2_17_mismatch01_cseq_method_mismatch() {
    let m = parse("mismatch01.dat").unwrap();
    let rej = m.as_request().unwrap().validate().unwrap_err();
    assert_eq!(rej.status, 400);
}

#[test]
fn section_3_1_2_18_mismatch02_unknown_method_with_cseq_mismatch_501() {
    let m = parse("mismatch02.dat").unwrap();
    let r = m.as_request().unwrap();
    assert_eq!(r.method(), &Method::Extension("NEWMETHOD".into()));
    let rej = r.validate().unwrap_err();
    assert_eq!(rej.status, 501);
}

#[test]
fn section_3_1_2_19_bigcode_overlarge_response_code_dropped() {
    let raw = load("bigcode.dat");
    assert_eq!(
        Message::parse_datagram(raw.clone()).unwrap_err(),
        ParseError::InvalidStatusCode
    );
    assert_eq!(outcome(raw), Outcome::Drop);
}

// ---- 3.2 Transaction layer ----

#[test]
fn section_3_2_1_badbranch_missing_transaction_identifier() {
    let r = valid_request("badbranch.dat");
    let v = r.top_via().unwrap();
    assert_eq!(v.branch(), Some("z9hG4bK"));
    assert_round_trip("badbranch.dat");
}

// ---- 3.3 Application layer ----

#[test]
fn section_3_3_1_insuf_missing_required_headers() {
    let m = parse("insuf.dat").unwrap();
    let rej = m.as_request().unwrap().validate().unwrap_err();
    assert_eq!(rej.status, 400);
    assert_eq!(rej.reason, "Bad Request (missing From)");
}

#[test]
fn section_3_3_2_unkscm_unknown_request_uri_scheme() {
    let r = valid_request("unkscm.dat");
    let u = r.uri();
    assert!(matches!(u, Uri::Other { .. }));
    assert_eq!(u.scheme(), "nobodyKnowsThisScheme");
    assert_eq!(u.to_string(), "nobodyKnowsThisScheme:totallyopaquecontent");
    assert_round_trip("unkscm.dat");
}

#[test]
fn section_3_3_3_novelsc_known_but_atypical_scheme() {
    let r = valid_request("novelsc.dat");
    assert_eq!(r.uri().scheme(), "soap.beep");
    assert_round_trip("novelsc.dat");
}

#[test]
fn section_3_3_4_unksm2_unknown_schemes_in_headers() {
    let r = valid_request("unksm2.dat");
    assert_eq!(r.to().unwrap().uri.scheme(), "isbn");
    assert_eq!(r.from().unwrap().uri.scheme(), "http");
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c[0].uri.to_string(), "name:John_Smith");
    assert_round_trip("unksm2.dat");
}

#[test]
fn section_3_3_5_bext01_proxy_require_and_require() {
    let r = valid_request("bext01.dat");
    assert_eq!(
        r.require().unwrap(),
        ["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(
        r.proxy_require().unwrap(),
        ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    );
    assert_round_trip("bext01.dat");
}

#[test]
fn section_3_3_6_invut_unknown_content_type() {
    let r = valid_request("invut.dat");
    assert!(r
        .content_type()
        .unwrap()
        .unwrap()
        .is("application", "unknownformat"));
    assert_eq!(r.body().len(), 40);
    assert_round_trip("invut.dat");
}

#[test]
fn section_3_3_7_regaut01_unknown_authorization_scheme() {
    let r = valid_request("regaut01.dat");
    let a = r.authorization().unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].scheme, "NoOneKnowsThisScheme");
    assert_eq!(a[0].param("opaque-data").unwrap(), "here");
    assert_round_trip("regaut01.dat");
}

#[test]
fn section_3_3_8_multi01_multiple_values_in_single_value_fields() {
    let m = parse("multi01.dat").unwrap();
    let rej = m.as_request().unwrap().validate().unwrap_err();
    assert_eq!(rej.status, 400);
}

#[test]
fn section_3_3_9_mcl01_multiple_content_length() {
    let (err, status) = reject("mcl01.dat");
    assert_eq!(err, ParseError::MultipleContentLength);
    assert_eq!(status, 400);
}

#[test]
fn section_3_3_10_bcast_response_with_broadcast_via() {
    let r = response("bcast.dat");
    assert_eq!(r.status().as_u16(), 200);
    let v: Vec<_> = r.via().map(Result::unwrap).collect();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].host, Host::Ipv4([255, 255, 255, 255].into()));
    assert_round_trip("bcast.dat");
}

#[test]
fn section_3_3_11_zeromf_max_forwards_zero() {
    let r = valid_request("zeromf.dat");
    assert_eq!(r.max_forwards().unwrap(), Some(0));
    assert_round_trip("zeromf.dat");
}

#[test]
fn section_3_3_12_cparam01_contact_header_parameter() {
    let r = valid_request("cparam01.dat");
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c[0].param("unknownparam"), Some(None));
    assert_eq!(
        sip(&c[0].uri).params,
        "",
        "a contact-param, not a URI param"
    );
    assert_round_trip("cparam01.dat");
}

#[test]
fn section_3_3_13_cparam02_contact_uri_parameter() {
    let r = valid_request("cparam02.dat");
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c[0].param("unknownparam"), None);
    assert_eq!(sip(&c[0].uri).param("unknownparam"), Some(None));
    assert_round_trip("cparam02.dat");
}

#[test]
fn section_3_3_14_regescrt_contact_with_escaped_header() {
    let r = valid_request("regescrt.dat");
    let Contacts::List(c) = r.contacts().unwrap() else {
        panic!()
    };
    let u = sip(&c[0].uri);
    assert_eq!(u.headers, "Route=%3Csip:sip.example.com%3E");
    assert_eq!(
        u.header_pairs().next(),
        Some(("Route", "%3Csip:sip.example.com%3E"))
    );
    assert_eq!(r.count(HeaderName::Route), 0);
    assert_round_trip("regescrt.dat");
}

#[test]
fn section_3_3_15_sdp01_unacceptable_accept() {
    let r = valid_request("sdp01.dat");
    let a = r.accept().unwrap();
    assert_eq!(a.len(), 1);
    assert!(a[0].is("text", "nobodyKnowsThis"));
    assert_round_trip("sdp01.dat");
}

// ---- 3.4 Backward compatibility ----

#[test]
fn section_3_4_1_inv2543_rfc2543_syntax() {
    let r = valid_request("inv2543.dat");
    assert_eq!(r.branch(), None);
    assert_eq!(r.from_tag(), None);
    assert_eq!(r.max_forwards().unwrap(), None);
    assert_eq!(r.content_length(), None);
    assert!(r.body().starts_with(b"v=0"));
    // addr-spec form: `;user=phone` belongs to the header (RFC 3261 section 20.10).
    let to = r.to().unwrap();
    assert_eq!(to.param("user"), Some(Some("phone")));
    assert_eq!(sip(&to.uri).user_param(), None);
    let from = sip(&r.from().unwrap().uri);
    assert_eq!(from.user_param(), Some("phone"));
    let rr = r.record_routes().unwrap();
    assert_eq!(sip(&rr[0].uri).maddr(), Some("ss1.example.com"));
    assert_round_trip("inv2543.dat");
}

#[test]
fn archive_test_dat_malformed_without_sip_version_or_via() {
    let raw = load("test.dat");
    let err = Message::parse_datagram(raw.clone()).unwrap_err();
    assert!(matches!(err, ParseError::MalformedStartLine(_)), "{err}");
    // No Via to answer to: dropped.
    assert!(Message::parse_lenient_for_reply(&raw).is_none());
    assert_eq!(outcome(raw), Outcome::Drop);
}

// ---- The whole manifest ----

/// The outcome chosen for every file; where the RFC allows a choice the
/// strict one is taken (400), except where noted.
fn expected() -> BTreeMap<&'static str, Outcome> {
    use Outcome::*;
    [
        ("wsinv.dat", Accept),
        ("intmeth.dat", Accept),
        ("esc01.dat", Accept),
        ("escnull.dat", Accept),
        ("esc02.dat", Accept),
        ("lwsdisp.dat", Accept),
        ("longreq.dat", Accept),
        ("dblreq.dat", Accept),
        ("semiuri.dat", Accept),
        ("transports.dat", Accept),
        ("mpart01.dat", Accept),
        ("unreason.dat", Accept),
        ("noreason.dat", Accept),
        ("badinv01.dat", Reject(400)),
        ("clerr.dat", Reject(400)),
        ("ncl.dat", Reject(400)),
        ("scalar02.dat", Reject(400)),
        ("scalarlg.dat", Drop),
        ("quotbal.dat", Reject(400)),
        ("ltgtruri.dat", Reject(400)),
        ("lwsruri.dat", Reject(400)),
        ("lwsstart.dat", Reject(400)),
        ("trws.dat", Reject(400)),
        ("escruri.dat", Reject(400)),
        // The Date header is never interpreted: ignored (the RFC's preference).
        ("baddate.dat", Accept),
        ("regbadct.dat", Reject(400)),
        ("badaspec.dat", Reject(400)),
        ("baddn.dat", Reject(400)),
        ("badvers.dat", Reject(505)),
        ("mismatch01.dat", Reject(400)),
        ("mismatch02.dat", Reject(501)),
        ("bigcode.dat", Drop),
        // Transaction layer decides (RFC 2543 matching or 400).
        ("badbranch.dat", Accept),
        ("insuf.dat", Reject(400)),
        // Application layer: 416/404/420/415/401/483/406 decided above this crate.
        ("unkscm.dat", Accept),
        ("novelsc.dat", Accept),
        ("unksm2.dat", Accept),
        ("bext01.dat", Accept),
        ("invut.dat", Accept),
        ("regaut01.dat", Accept),
        ("multi01.dat", Reject(400)),
        ("mcl01.dat", Reject(400)),
        ("bcast.dat", Accept),
        ("zeromf.dat", Accept),
        ("cparam01.dat", Accept),
        ("cparam02.dat", Accept),
        ("regescrt.dat", Accept),
        ("sdp01.dat", Accept),
        ("inv2543.dat", Accept),
        // Not in the RFC: no SIP version and no Via, so nothing to answer.
        ("test.dat", Drop),
    ]
    .into_iter()
    .collect()
}

#[test]
fn manifest_every_message_covered_and_handled_as_the_rfc_asks() {
    let manifest = std::fs::read_to_string(format!(
        "{}/tests/data/rfc4475/MANIFEST.tsv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let expected = expected();
    let mut seen = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, class, expect, bytes) = (cols[0], cols[3], cols[4], cols[5]);
        let raw = load(file);
        assert_eq!(
            raw.len(),
            bytes.parse::<usize>().unwrap(),
            "{file} not byte-exact"
        );
        let want = *expected
            .get(file)
            .unwrap_or_else(|| panic!("{file} not covered"));
        let got = outcome(raw);
        assert_eq!(got, want, "{file} ({class}: {expect})");
        match class {
            c if c.starts_with("VALID") => assert_eq!(got, Outcome::Accept, "{file}"),
            "INVALID" => assert!(
                matches!(got, Outcome::Reject(_)) || file == "baddate.dat",
                "{file}"
            ),
            "INVALID(response)" => assert_eq!(got, Outcome::Drop, "{file}"),
            _ => {}
        }
        if let Some(code) = expect
            .split_whitespace()
            .next()
            .and_then(|w| w.parse::<u16>().ok())
        {
            if class == "INVALID" {
                assert_eq!(got, Outcome::Reject(code), "{file}");
            }
        }
        seen += 1;
    }
    assert_eq!(seen, expected.len(), "manifest and table differ");
    assert_eq!(seen, 50);
}

#[test]
fn valid_messages_reparse_identically_after_serialization() {
    for (file, o) in expected() {
        if o == Outcome::Accept {
            let m = parse(file).unwrap();
            let once = Message::parse(m.to_bytes(HeaderForm::Preserve)).unwrap();
            let twice = Message::parse(once.to_bytes(HeaderForm::Preserve)).unwrap();
            assert_eq!(once, m, "{file}");
            assert_eq!(
                twice.as_bytes(),
                once.as_bytes(),
                "{file}: serialization is a fixed point"
            );
        }
    }
}
