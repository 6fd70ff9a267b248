//! RFC 3680 (and RFC 5628) documents, verbatim, and the parser's rules.

use reginfo::{
    parse, Contact, ContactEvent, ContactState, DocState, ParseError, RegInfo, RegState,
    Registration, TempGruu,
};

/// RFC 3680 section 5.3.
const SECTION_5_3: &str = r#"<?xml version="1.0"?>
    <reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                 version="0" state="full">
      <registration aor="sip:user@example.com" id="as9"
                    state="active">
        <contact id="76" state="active" event="registered"
                 duration-registered="7322"
                 q="0.8">
                 <uri>sip:user@pc887.example.com</uri>
        </contact>
        <contact id="77" state="terminated" event="expired"
                 duration-registered="3600"
                 q="0.5">
                 <uri>sip:user@university.edu</uri>
        </contact>
      </registration>
    </reginfo>
"#;

/// RFC 3680 section 6, message (3).
const SECTION_6_NOTIFY_3: &str = r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
             version="0" state="full">
  <registration aor="sip:joe@example.com" id="a7" state="init" />
</reginfo>
"#;

/// RFC 3680 section 6, message (7).
const SECTION_6_NOTIFY_7: &str = r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
          version="1" state="partial">
  <registration aor="sip:joe@example.com" id="a7" state="active">
    <contact id="76" state="active" event="registered"
          duration-registered="0">
       <uri>sip:joe@pc34.example.com</uri>
    </contact>
  </registration>
</reginfo>
"#;

/// RFC 5628 section 7 (the `allOneLine` wrapping undone).
const RFC5628_SECTION_7: &str = r#"<?xml version="1.0"?>
    <reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
        xmlns:gr="urn:ietf:params:xml:ns:gruuinfo"
        version="0" state="full">
      <registration aor="sip:user@example.com" id="as9"
           state="active">
        <contact id="76" state="active" event="registered"
           duration-registered="36001" expires="3599"
           callid="1j9FpLxk3uxtm8tn@192.0.2.1" cseq="54321"
           q="0.8">
             <uri>sip:user@192.0.2.1</uri>
             <unknown-param name="+sip.instance">"&lt;urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6&gt;"</unknown-param>
             <gr:pub-gruu uri="sip:user@example.com;gr=hha9s8d-999a"/>
             <gr:temp-gruu uri="sip:8ffkas08af7fasklzi9@example.com;gr" first-cseq="54301"/>
        </contact>
      </registration>
    </reginfo>
"#;

#[test]
fn rfc3680_section_5_3_example_parses() {
    let doc = parse(SECTION_5_3.as_bytes()).unwrap();
    assert_eq!(doc.version, 0);
    assert_eq!(doc.state, DocState::Full);
    assert_eq!(doc.registrations.len(), 1);
    let r = &doc.registrations[0];
    assert_eq!(r.aor, "sip:user@example.com");
    assert_eq!(r.id, "as9");
    assert_eq!(r.state, RegState::Active);
    assert_eq!(r.contacts.len(), 2);
    let c = &r.contacts[0];
    assert_eq!(c.id, "76");
    assert_eq!(c.state, ContactState::Active);
    assert_eq!(c.event, ContactEvent::Registered);
    assert_eq!(c.duration_registered, Some(7322));
    assert_eq!(c.q.as_deref(), Some("0.8"));
    assert_eq!(c.uri, "sip:user@pc887.example.com");
    let c = &r.contacts[1];
    assert_eq!(c.state, ContactState::Terminated);
    assert_eq!(c.event, ContactEvent::Expired);
    assert_eq!(c.uri, "sip:user@university.edu");
    assert_eq!(c.instance(), None);
}

#[test]
fn rfc3680_section_6_init_notify_parses() {
    let doc = parse(SECTION_6_NOTIFY_3.as_bytes()).unwrap();
    assert_eq!(
        doc,
        RegInfo {
            version: 0,
            state: DocState::Full,
            registrations: vec![Registration::new(
                "sip:joe@example.com",
                "a7",
                RegState::Init
            )],
        }
    );
}

#[test]
fn rfc3680_section_6_partial_notify_parses() {
    let doc = parse(SECTION_6_NOTIFY_7.as_bytes()).unwrap();
    assert_eq!(doc.version, 1);
    assert_eq!(doc.state, DocState::Partial);
    let mut expected = Contact::new("76", "sip:joe@pc34.example.com");
    expected.duration_registered = Some(0);
    assert_eq!(doc.registrations[0].contacts, vec![expected]);
}

#[test]
fn rfc5628_section_7_gruu_and_instance_parse() {
    let doc = parse(RFC5628_SECTION_7.as_bytes()).unwrap();
    let c = &doc.registrations[0].contacts[0];
    assert_eq!(
        c.instance(),
        Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
    );
    assert_eq!(c.callid.as_deref(), Some("1j9FpLxk3uxtm8tn@192.0.2.1"));
    assert_eq!(c.cseq, Some(54321));
    assert_eq!(c.expires, Some(3599));
    assert_eq!(
        c.pub_gruu.as_deref(),
        Some("sip:user@example.com;gr=hha9s8d-999a")
    );
    assert_eq!(
        c.temp_gruu,
        Some(TempGruu {
            uri: "sip:8ffkas08af7fasklzi9@example.com;gr".into(),
            first_cseq: 54301
        })
    );
    // And it survives our own serializer.
    assert_eq!(parse(&doc.to_xml()).unwrap(), doc);
}

#[test]
fn rfc3680_examples_round_trip_through_the_serializer() {
    for text in [SECTION_5_3, SECTION_6_NOTIFY_3, SECTION_6_NOTIFY_7] {
        let doc = parse(text.as_bytes()).unwrap();
        let again = parse(&doc.to_xml()).unwrap();
        assert_eq!(again, doc);
    }
}

#[test]
fn rfc3680_section_5_1_prefixed_namespace_is_read() {
    let text = r#"<r:reginfo xmlns:r="urn:ietf:params:xml:ns:reginfo" version="3" state="partial">
        <r:registration aor="sip:a@x" id="1" state="active">
          <r:contact id="c" state="active" event="created"><r:uri>sip:a@h</r:uri></r:contact>
        </r:registration></r:reginfo>"#;
    let doc = parse(text.as_bytes()).unwrap();
    assert_eq!(doc.version, 3);
    assert_eq!(
        doc.registrations[0].contacts[0].event,
        ContactEvent::Created
    );
}

#[test]
fn rfc3680_section_5_1_unknown_namespaces_are_ignored() {
    let text = r#"<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" xmlns:x="urn:example:ext"
          version="2" state="full" x:extra="1">
        <x:header><registration aor="sip:hidden@x" id="h" state="active"/></x:header>
        <registration aor="sip:a@x" id="1" state="active" x:foo="bar">
          <x:thing><x:deeper>text</x:deeper></x:thing>
          <contact id="c" state="active" event="registered" x:y="z" unknown-attr="1">
            <uri>sip:a@h</uri>
            <x:uri>sip:not-this@h</x:uri>
            <display-name xml:lang="en">Alice &amp; Bob</display-name>
          </contact>
        </registration>
        <x:registration aor="sip:foreign@x" id="f" state="active"/>
      </reginfo>"#;
    let doc = parse(text.as_bytes()).unwrap();
    assert_eq!(doc.registrations.len(), 1);
    let c = &doc.registrations[0].contacts[0];
    assert_eq!(c.uri, "sip:a@h");
    assert_eq!(c.display_name.as_deref(), Some("Alice & Bob"));
}

#[test]
fn rfc3680_section_5_4_serializer_escapes_and_round_trips() {
    let mut c = Contact::new("id\"<&>'", "sip:a@h;p=\"x<y>\"&z");
    c.display_name = Some("Tab\there & <there>\r\nnew line".into());
    c.callid = Some("call\nid \"quoted\" 'single'".into());
    c.q = Some("1.0".into());
    c.cseq = Some(u64::MAX);
    c.expires = Some(3600);
    c.retry_after = Some(30);
    c.duration_registered = Some(12);
    c.state = ContactState::Terminated;
    c.event = ContactEvent::Probation;
    c.set_instance("urn:uuid:00000000-0000-1000-8000-000A95A0E128");
    c.unknown_params.push(("audio".into(), String::new()));
    c.unknown_params.push(("language".into(), "en,fr".into()));
    let doc = RegInfo {
        version: u32::MAX,
        state: DocState::Partial,
        registrations: vec![Registration {
            aor: "sip:üser@exämple.com".into(),
            id: "a&b".into(),
            state: RegState::Terminated,
            contacts: vec![c],
        }],
    };
    let xml = doc.to_xml_string();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(xml.contains("xmlns=\"urn:ietf:params:xml:ns:reginfo\""));
    assert!(
        !xml.contains("\"x<y>\""),
        "attribute content must be escaped: {xml}"
    );
    assert_eq!(parse(xml.as_bytes()).unwrap(), doc);
    assert_eq!(
        doc.registrations[0].contacts[0].instance(),
        Some("urn:uuid:00000000-0000-1000-8000-000A95A0E128")
    );
}

#[test]
fn rfc3680_section_5_1_parse_errors_are_typed() {
    type Check = fn(&ParseError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("", |e| matches!(e, ParseError::Xml(_))),
        ("not xml at all", |e| matches!(e, ParseError::Xml(_))),
        ("<reginfo version=\"0\" state=\"full\">", |e| {
            matches!(e, ParseError::Xml(_))
        }),
        ("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>", |e| {
            matches!(e, ParseError::NotReginfo { found } if found == "presence")
        }),
        (
            "<reginfo xmlns=\"urn:other\" version=\"0\" state=\"full\"/>",
            |e| matches!(e, ParseError::NotReginfo { .. }),
        ),
        ("<reginfo state=\"full\"/>", |e| {
            matches!(e, ParseError::MissingAttribute { element: "reginfo", attribute: "version" })
        }),
        ("<reginfo version=\"-1\" state=\"full\"/>", |e| {
            matches!(e, ParseError::InvalidAttribute { attribute: "version", .. })
        }),
        ("<reginfo version=\"4294967296\" state=\"full\"/>", |e| {
            matches!(e, ParseError::InvalidAttribute { attribute: "version", .. })
        }),
        ("<reginfo version=\"1\" state=\"whole\"/>", |e| {
            matches!(e, ParseError::InvalidAttribute { attribute: "state", .. })
        }),
        (
            "<reginfo version=\"1\" state=\"full\"><registration id=\"1\" state=\"active\"/></reginfo>",
            |e| matches!(e, ParseError::MissingAttribute { element: "registration", attribute: "aor" }),
        ),
        (
            "<reginfo version=\"1\" state=\"full\"><registration aor=\"sip:a@b\" state=\"gone\"/></reginfo>",
            |e| matches!(e, ParseError::InvalidAttribute { element: "registration", .. }),
        ),
        (
            "<reginfo version=\"1\" state=\"full\"><registration aor=\"sip:a@b\" state=\"active\"><contact id=\"c1\" state=\"active\"/></registration></reginfo>",
            |e| matches!(e, ParseError::MissingUri { contact_id } if contact_id == "c1"),
        ),
        (
            "<reginfo version=\"1\" state=\"full\"><registration aor=\"sip:a@b\" state=\"active\"><contact id=\"c1\" state=\"active\" expires=\"soon\"><uri>sip:x</uri></contact></registration></reginfo>",
            |e| matches!(e, ParseError::InvalidAttribute { attribute: "expires", .. }),
        ),
        ("<reginfo version=\"0\" state=\"full\">&bogus;</reginfo>", |e| {
            matches!(e, ParseError::Xml(_))
        }),
        ("<reginfo version=\"0\" state=\"full\"/><reginfo version=\"0\" state=\"full\"/>", |e| {
            matches!(e, ParseError::Xml(_))
        }),
    ];
    for (input, check) in cases {
        let err = parse(input.as_bytes()).expect_err(input);
        assert!(check(&err), "{input}: unexpected {err:?}");
        assert!(!err.to_string().is_empty());
    }
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    match parse(deep.as_bytes()) {
        Err(ParseError::Xml(e)) => assert!(e.is_too_deep()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(&[0xff, 0xfe, b'<']),
        Err(ParseError::Xml(_))
    ));
}

#[test]
fn rfc3680_error_messages_say_what_is_wrong() {
    let err = parse(b"<reginfo version=\"1\" state=\"whole\"/>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "<reginfo> attribute \"state\" has the invalid value \"whole\" (expected \"full\" or \"partial\")"
    );
    let err = parse(b"<x/>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "root element is <x>, expected <reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\">"
    );
}

#[test]
fn rfc3680_section_5_1_reginfo_without_namespace_is_tolerated() {
    let doc: RegInfo = "<reginfo version='5' state='partial'/>".parse().unwrap();
    assert_eq!(doc, RegInfo::new(5, DocState::Partial));
}

#[test]
fn rfc3680_section_4_7_1_event_implies_state() {
    for e in ContactEvent::ALL {
        assert_eq!(ContactEvent::from_token(e.as_str()), Some(e));
        let active = matches!(
            e,
            ContactEvent::Registered
                | ContactEvent::Created
                | ContactEvent::Refreshed
                | ContactEvent::Shortened
        );
        assert_eq!(e.resulting_state() == ContactState::Active, active, "{e}");
    }
}

#[test]
fn rfc3680_section_5_1_utf8_byte_order_mark_is_accepted() {
    let mut body = vec![0xEF, 0xBB, 0xBF];
    body.extend_from_slice(SECTION_6_NOTIFY_3.as_bytes());
    assert_eq!(
        parse(&body).unwrap(),
        parse(SECTION_6_NOTIFY_3.as_bytes()).unwrap()
    );
}
