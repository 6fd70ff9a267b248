//! Property tests: generated requests and responses survive
//! serialize -> parse with every field intact, and serialization of a
//! parsed message is stable (parse(serialize(parse(x))) == parse(x)).

use bytes::Bytes;
use proptest::prelude::*;
use sip_core::{
    HeaderForm, HeaderName, Host, Message, Method, NameAddr, RequestBuilder, Response, SipUri,
    StatusCode, Uri, Via,
};

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Register),
        Just(Method::Options),
        Just(Method::Notify),
        Just(Method::Subscribe),
        Just(Method::Refer),
        "[A-Z][A-Za-z0-9!%*_+`'~.-]{0,10}".prop_map(|s| s.parse::<Method>().unwrap()),
    ]
}

fn host() -> impl Strategy<Value = Host<'static>> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,4}){0,2}".prop_map(|d| Host::Domain(d.into())),
        any::<[u8; 4]>().prop_map(|a| Host::Ipv4(a.into())),
        any::<[u16; 8]>().prop_map(|a| Host::Ipv6(a.into())),
    ]
}

/// Percent-encodes everything but alphanumerics.
fn escape(raw: &[u8]) -> String {
    raw.iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(*b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
struct GenUri {
    secure: bool,
    user: Option<Vec<u8>>,
    host: Host<'static>,
    port: Option<u16>,
    lr: bool,
    transport: Option<&'static str>,
}

impl GenUri {
    fn uri(&self) -> SipUri<'static> {
        let mut u = SipUri::new(self.host.clone());
        u.secure = self.secure;
        u.user = self.user.as_deref().map(|r| escape(r).into());
        u.port = self.port;
        if let Some(t) = self.transport {
            u.push_param("transport", Some(t));
        }
        if self.lr {
            u.push_param("lr", None);
        }
        u
    }
}

fn gen_uri() -> impl Strategy<Value = GenUri> {
    (
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..8)),
        host(),
        proptest::option::of(1u16..),
        any::<bool>(),
        proptest::option::of(prop_oneof![Just("udp"), Just("tcp"), Just("tls")]),
    )
        .prop_map(|(secure, user, host, port, lr, transport)| GenUri {
            secure,
            user,
            host,
            port,
            lr,
            transport,
        })
}

fn display() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[ -~äéü日本]{0,12}")
}

/// How a known header name is written.
fn wire(name: HeaderName, choice: u8) -> String {
    match (choice % 3, name.compact()) {
        (0, _) => name.as_str().to_owned(),
        (1, Some(c)) => c.to_owned(),
        (1, None) => name.as_str().to_ascii_uppercase(),
        _ => name.as_str().to_ascii_lowercase(),
    }
}

#[derive(Debug, Clone)]
struct Common {
    vias: Vec<(Host<'static>, Option<u16>, String)>,
    from: (Option<String>, GenUri, String),
    to: (Option<String>, GenUri),
    call_id: String,
    cseq: u32,
    unknown: Vec<(String, String)>,
    body: Vec<u8>,
    forms: Vec<u8>,
}

fn common() -> impl Strategy<Value = Common> {
    (
        proptest::collection::vec(
            (host(), proptest::option::of(1u16..), "[a-zA-Z0-9]{1,12}"),
            1..4,
        ),
        (display(), gen_uri(), "[a-zA-Z0-9~!*_.+-]{1,10}"),
        (display(), gen_uri()),
        "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,20}(@[a-z0-9.]{1,10})?",
        any::<u32>(),
        proptest::collection::vec(("X-[A-Za-z0-9]{1,10}", "[!-~]([ -~]{0,20}[!-~])?"), 0..4),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 8),
    )
        .prop_map(
            |(vias, from, to, call_id, cseq, unknown, body, forms)| Common {
                vias: vias
                    .into_iter()
                    .map(|(h, p, b)| (h, p, format!("z9hG4bK{b}")))
                    .collect(),
                from,
                to,
                call_id,
                cseq,
                unknown,
                body,
                forms,
            },
        )
}

fn addr(display: &Option<String>, u: &GenUri, tag: Option<&str>) -> NameAddr<'static> {
    let mut n = NameAddr::new(Uri::Sip(u.uri()));
    n.display_name = display.clone().map(Into::into);
    if let Some(t) = tag {
        n.push_param("tag", Some(t));
    }
    n
}

/// Adds the common headers to a request builder, names written as chosen.
fn with_common(mut b: RequestBuilder, c: &Common, m: &Method) -> RequestBuilder {
    for (i, (h, p, br)) in c.vias.iter().enumerate() {
        let v = Via::new("UDP", h.clone(), *p, br);
        b = b.raw_header(&wire(HeaderName::Via, c.forms[i % 8]), v.to_string());
    }
    b = b
        .raw_header(
            &wire(HeaderName::From, c.forms[3]),
            addr(&c.from.0, &c.from.1, Some(&c.from.2)).to_string(),
        )
        .raw_header(
            &wire(HeaderName::To, c.forms[4]),
            addr(&c.to.0, &c.to.1, None).to_string(),
        )
        .raw_header(&wire(HeaderName::CallId, c.forms[5]), &c.call_id)
        .raw_header(
            &wire(HeaderName::CSeq, c.forms[6]),
            format!("{} {}", c.cseq, m),
        );
    for (n, v) in &c.unknown {
        b = b.raw_header(n, v);
    }
    b.body("application/octet-stream", Bytes::from(c.body.clone()))
}

fn check_common(m: &Message, c: &Common, method: &Method) -> Result<(), TestCaseError> {
    let vias: Vec<_> = m.via().map(Result::unwrap).collect();
    prop_assert_eq!(vias.len(), c.vias.len());
    for (v, (h, p, br)) in vias.iter().zip(&c.vias) {
        prop_assert_eq!(&v.host, h);
        prop_assert_eq!(v.port, *p);
        prop_assert_eq!(v.branch(), Some(br.as_str()));
    }
    let from = m.from().unwrap();
    prop_assert_eq!(from.display_name.as_deref(), c.from.0.as_deref());
    prop_assert_eq!(m.from_tag(), Some(c.from.2.as_str()));
    let fu = from.uri.as_sip().unwrap();
    prop_assert!(fu.matches(&c.from.1.uri()));
    prop_assert_eq!(
        fu.user_unescaped().map(|u| u.into_owned()),
        c.from.1.user.clone()
    );
    prop_assert_eq!(fu.lr(), c.from.1.lr);
    let to = m.to().unwrap();
    prop_assert_eq!(to.display_name.as_deref(), c.to.0.as_deref());
    prop_assert!(to.uri.as_sip().unwrap().matches(&c.to.1.uri()));
    prop_assert_eq!(m.to_tag(), None);
    prop_assert_eq!(m.call_id(), Some(c.call_id.as_str()));
    let cseq = m.cseq().unwrap();
    prop_assert_eq!(cseq.seq, c.cseq);
    prop_assert_eq!(&cseq.method, method);
    for (n, v) in &c.unknown {
        prop_assert!(m.header_by_name(n).any(|x| x == v.as_bytes()));
    }
    prop_assert_eq!(m.body(), &c.body[..]);
    Ok(())
}

fn stable(m: &Message) -> Result<(), TestCaseError> {
    for form in [HeaderForm::Preserve, HeaderForm::Full, HeaderForm::Compact] {
        let again = Message::parse(m.to_bytes(form)).unwrap();
        prop_assert_eq!(&again, m);
        let twice = Message::parse(again.to_bytes(form)).unwrap();
        prop_assert_eq!(twice.as_bytes(), again.as_bytes());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn uri_push_to_writes_its_display(u in gen_uri(), password in proptest::option::of("[a-z0-9]{1,6}"), headers in proptest::option::of("[a-z]{1,4}=[a-z0-9]{1,4}")) {
        let mut uri = u.uri();
        if uri.user.is_some() {
            uri.password = password.map(Into::into);
        }
        if let Some(h) = headers {
            uri.headers = h.into();
        }
        for uri in [Uri::Sip(uri), Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap()] {
            let mut out = String::new();
            uri.push_to(&mut out);
            prop_assert_eq!(out, uri.to_string());
        }
    }

    #[test]
    fn requests_round_trip(m in method(), ruri in gen_uri(), c in common()) {
        let b = with_common(RequestBuilder::new(m.clone(), ruri.uri()), &c, &m);
        let bytes = b.to_bytes();
        let msg = Message::parse_datagram(bytes.clone()).unwrap();
        let req = msg.as_request().unwrap();
        req.validate().unwrap();
        prop_assert_eq!(req.method(), &m);
        prop_assert!(req.uri().as_sip().unwrap().matches(&ruri.uri()));
        check_common(&msg, &c, &m)?;
        stable(&msg)?;
        // Stream parse of the same bytes agrees with the datagram parse.
        prop_assert_eq!(Message::parse(bytes).unwrap(), msg);
    }

    #[test]
    fn responses_round_trip(
        code in 100u16..700,
        reason in proptest::option::of("[ -~äöü]{0,20}"),
        m in method(),
        c in common(),
        to_tag in "[a-z0-9]{1,8}",
    ) {
        let req = with_common(RequestBuilder::new(m.clone(), "sip:x@example.com"), &c, &m)
            .build()
            .unwrap();
        let status = StatusCode::new(code).unwrap();
        let resp = Response::for_request(&req, status, reason.as_deref())
            .to_tag(&to_tag)
            .raw_header("X-Extra", "kept")
            .form(HeaderForm::Compact)
            .build()
            .unwrap();
        prop_assert_eq!(resp.status(), status);
        let want_reason = reason.unwrap_or_else(|| status.canonical_reason().to_owned());
        prop_assert_eq!(resp.reason(), want_reason.as_str());
        prop_assert_eq!(resp.to_tag(), Some(to_tag.as_str()));
        // The response copies Via, From, To, Call-ID and CSeq byte-exact.
        prop_assert!(resp.header(HeaderName::Via).eq(req.header(HeaderName::Via)));
        prop_assert_eq!(resp.first(HeaderName::From), req.first(HeaderName::From));
        prop_assert_eq!(resp.first(HeaderName::CallId), req.first(HeaderName::CallId));
        prop_assert_eq!(resp.first(HeaderName::CSeq), req.first(HeaderName::CSeq));
        stable(&Message::Response(resp))?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let b = Bytes::from(data);
        if let Ok(m) = Message::parse_datagram(b.clone()) {
            let _ = m.via().count();
            let _ = (m.from(), m.to(), m.contacts(), m.routes(), m.content_type());
            if let Some(r) = m.as_request() {
                let _ = r.validate();
                let _ = r.uri();
            }
            stable(&m)?;
        }
        let _ = Message::parse_lenient_for_reply(&b);
    }

    #[test]
    fn framing_agrees_with_sip_framing(data in proptest::collection::vec(
        prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(b'l'), Just(b'0'), Just(b'5'), any::<u8>()], 0..200)) {
        let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n".to_vec();
        msg.extend_from_slice(&data);
        framing_agrees(&msg)?;
    }
}

/// When sip_framing frames a datagram, the parser frames it the same way
/// (or refuses it for a non-framing reason); when framing fails on
/// Content-Length, the parser fails too.
fn framing_agrees(msg: &[u8]) -> Result<(), TestCaseError> {
    let framed = sip_framing::frame_datagram(msg, &sip_framing::Limits::default());
    let parsed = Message::parse_datagram(Bytes::copy_from_slice(msg));
    match (framed, parsed) {
        (Ok(f), Ok(m)) => prop_assert_eq!(m.as_bytes().len(), f.len),
        (Err(sip_framing::FrameError::UnterminatedHeaders), _) => {}
        (Err(e), Ok(_)) => prop_assert!(false, "framing said {e} but the parser accepted"),
        _ => {}
    }
    Ok(())
}

#[test]
fn framing_agrees_on_conformance_files() {
    let dir = format!("{}/tests/data/rfc4475", env!("CARGO_MANIFEST_DIR"));
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "dat") {
            framing_agrees(&std::fs::read(&p).unwrap()).unwrap();
        }
    }
}

#[test]
fn samples_parse_with_typed_access() {
    let dir = format!("{}/tests/data/samples", env!("CARGO_MANIFEST_DIR"));
    for name in [
        "invite_carrier.sip",
        "register.sip",
        "ok200.sip",
        "notify_reg.sip",
    ] {
        let raw = std::fs::read(format!("{dir}/{name}")).unwrap();
        let m = Message::parse_datagram(Bytes::from(raw)).unwrap();
        assert!(m.branch().unwrap().starts_with("z9hG4bK"), "{name}");
        assert!(
            m.from_tag().is_some() && m.to().is_some() && m.call_id().is_some(),
            "{name}"
        );
        assert!(m.cseq().is_some());
        assert_eq!(m.body().len(), m.content_length().unwrap(), "{name}");
        if let Some(r) = m.as_request() {
            r.validate().unwrap();
        }
    }
    let reg = Message::parse_datagram(Bytes::from(
        std::fs::read(format!("{dir}/register.sip")).unwrap(),
    ))
    .unwrap();
    let sip_core::Contacts::List(c) = reg.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(
        c[0].sip_instance().unwrap(),
        "<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"
    );
    assert_eq!(c[0].expires(), Some(3600));
    let auth = reg.authorization().unwrap();
    assert_eq!(
        auth[0].param("response").unwrap(),
        "6629fae49393a05397450978507c4ef1"
    );
    assert_eq!(reg.supported().unwrap(), ["path", "gruu", "outbound"]);
    let notify = Message::parse_datagram(Bytes::from(
        std::fs::read(format!("{dir}/notify_reg.sip")).unwrap(),
    ))
    .unwrap();
    assert_eq!(notify.event().unwrap().unwrap().value, "reg");
    let ss = notify.subscription_state().unwrap().unwrap();
    assert_eq!((ss.value.as_ref(), ss.expires()), ("active", Some(3540)));
    let inv = Message::parse_datagram(Bytes::from(
        std::fs::read(format!("{dir}/invite_carrier.sip")).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        inv.p_asserted_identity().unwrap()[0]
            .display_name
            .as_deref(),
        Some("WIRELESS CALLER")
    );
    assert_eq!(inv.allow().unwrap().len(), 8);
}
