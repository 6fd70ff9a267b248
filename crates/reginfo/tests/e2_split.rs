//! E2: `subscription_max_body_size` splitting of a full state.

use reginfo::{
    parse, split_full_state, Contact, ContactEvent, DocState, RegInfo, RegState, Registration,
    RegistrationSet, DEFAULT_MAX_BODY, MAX_BODY_RANGE,
};

fn registration(i: usize) -> Registration {
    let mut r = Registration::new(
        format!("sip:{:04}@example.com", 1000 + i),
        format!("r{i}"),
        RegState::Active,
    );
    // A few AORs with two devices, to vary sizes.
    for k in 0..(1 + i % 3 / 2) {
        let mut c = Contact::new(
            format!("c{i}-{k}"),
            format!(
                "sip:{}@10.{}.{}.{}:5060;transport=tcp",
                1000 + i,
                k,
                i / 256,
                i % 256
            ),
        );
        c.expires = Some(3600);
        c.callid = Some(format!("{i:08x}-{k}@phone"));
        c.cseq = Some(i as u64 + 1);
        c.set_instance(&format!("urn:uuid:00000000-0000-4000-8000-{i:012x}"));
        r.contacts.push(c);
    }
    r
}

fn full_state(n: usize) -> RegInfo {
    RegInfo {
        version: 77, // ignored by the splitter
        state: DocState::Partial,
        registrations: (0..n).map(registration).collect(),
    }
}

#[test]
fn e2_constants_match_the_icd() {
    assert_eq!(DEFAULT_MAX_BODY, 14336);
    assert_eq!(*MAX_BODY_RANGE.start(), 0);
    assert_eq!(*MAX_BODY_RANGE.end(), 500_000);
}

#[test]
fn e2_3000_registrations_at_14336_bytes() {
    let doc = full_state(3000);
    let whole = doc.to_xml().len();
    assert!(
        whole > 20 * DEFAULT_MAX_BODY,
        "the test needs a big state ({whole} bytes)"
    );
    let first_version = 41;
    let bodies = split_full_state(&doc, DEFAULT_MAX_BODY, first_version);
    assert!(bodies.len() > 20);

    let mut union = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        assert!(
            body.len() <= DEFAULT_MAX_BODY,
            "body {i} is {} bytes",
            body.len()
        );
        // Each body is a whole, valid document: cuts are only between
        // registrations.
        let piece = parse(body).unwrap();
        assert_eq!(
            piece.version,
            first_version + i as u32,
            "consecutive versions"
        );
        let expected = if i == 0 {
            DocState::Full
        } else {
            DocState::Partial
        };
        assert_eq!(piece.state, expected, "first full, the rest partial");
        assert!(!piece.registrations.is_empty());
        // Packing is greedy: the next registration would not have fitted.
        if let Some(next) = bodies.get(i + 1) {
            let next_first = &parse(next).unwrap().registrations[0];
            let mut grown = piece.clone();
            grown.registrations.push(next_first.clone());
            assert!(grown.to_xml().len() > DEFAULT_MAX_BODY);
        }
        union.extend(piece.registrations);
    }
    // The union of the pieces, in order, is exactly the full state.
    assert_eq!(union, doc.registrations);

    // A subscriber applying them in order ends with the full state.
    let mut set = RegistrationSet::new();
    let mut tracker = reginfo::VersionTracker::default();
    for body in &bodies {
        let piece = parse(body).unwrap();
        assert_eq!(tracker.apply(&piece), reginfo::Apply::Accepted);
        let _ = set.apply(&piece, reginfo::QuirkMode::Rfc3680);
    }
    assert_eq!(set, RegistrationSet::from_doc(&doc));
}

#[test]
fn e2_zero_means_one_unlimited_document() {
    let doc = full_state(3000);
    let bodies = split_full_state(&doc, 0, 9);
    assert_eq!(bodies.len(), 1);
    let one = parse(&bodies[0]).unwrap();
    assert_eq!(one.version, 9);
    assert_eq!(one.state, DocState::Full);
    assert_eq!(one.registrations, doc.registrations);
}

#[test]
fn e2_a_state_that_fits_is_one_full_document() {
    let doc = full_state(3);
    let bodies = split_full_state(&doc, DEFAULT_MAX_BODY, 0);
    assert_eq!(bodies.len(), 1);
    let mut expected = doc.clone();
    expected.version = 0;
    expected.state = DocState::Full;
    assert_eq!(bodies[0], expected.to_xml());
}

#[test]
fn e2_empty_state_is_one_empty_full_document() {
    let bodies = split_full_state(&RegInfo::new(0, DocState::Full), 100, 5);
    assert_eq!(bodies.len(), 1);
    assert_eq!(parse(&bodies[0]).unwrap(), RegInfo::new(5, DocState::Full));
}

#[test]
fn e2_a_registration_larger_than_the_limit_travels_alone() {
    let mut big = Registration::new("sip:big@example.com", "big", RegState::Active);
    for k in 0..50 {
        let mut c = Contact::new(format!("b{k}"), format!("sip:big@192.0.2.{k}"));
        c.event = ContactEvent::Created;
        big.contacts.push(c);
    }
    let doc = RegInfo {
        version: 0,
        state: DocState::Full,
        registrations: vec![registration(1), big.clone(), registration(2)],
    };
    let limit = 1000;
    assert!(registration(1).contacts.len() == 1);
    let bodies = split_full_state(&doc, limit, u32::MAX);
    assert_eq!(bodies.len(), 3);
    let pieces: Vec<RegInfo> = bodies.iter().map(|b| parse(b).unwrap()).collect();
    assert_eq!(pieces[1].registrations, vec![big]);
    assert!(bodies[1].len() > limit);
    assert!(bodies[0].len() <= limit && bodies[2].len() <= limit);
    // Versions wrap past u32::MAX.
    assert_eq!(
        pieces.iter().map(|p| p.version).collect::<Vec<_>>(),
        vec![u32::MAX, 0, 1]
    );
}

#[test]
fn e2_limit_exactly_at_a_document_size_keeps_it_whole() {
    let doc = full_state(10);
    let mut full = doc.clone();
    full.version = 3;
    full.state = DocState::Full;
    let exact = full.to_xml().len();
    assert_eq!(split_full_state(&doc, exact, 3).len(), 1);
    assert_eq!(split_full_state(&doc, exact - 1, 3).len(), 2);
}
