//! Property tests: the parser never panics, and serialize then parse is the
//! identity on every document the model can hold (with values the parser
//! does not normalize: no leading or trailing whitespace in element text,
//! no characters XML 1.0 cannot carry).

use proptest::prelude::*;
use reginfo::{
    parse, split_full_state, Contact, ContactEvent, ContactState, DocState, RegInfo, RegState,
    Registration, TempGruu,
};

/// Text with XML specials, non-ASCII, tab/CR/LF inside, no surrounding
/// whitespace.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9<>&\"' ;=:@.+\t\r\né中-]{0,12}".prop_map(|s| s.trim().to_owned())
}

fn nonempty_text() -> impl Strategy<Value = String> {
    text().prop_map(|s| if s.is_empty() { "x".to_owned() } else { s })
}

fn contact() -> impl Strategy<Value = Contact> {
    (
        (
            text(),
            prop::bool::ANY,
            prop::sample::select(ContactEvent::ALL.to_vec()),
            nonempty_text(),
            prop::option::of(text()),
            prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>()),
        ),
        (
            prop::option::of(any::<u64>()),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(any::<u64>()),
            prop::collection::vec((nonempty_text(), text()), 0..3),
            prop::option::of(text()),
            prop::option::of((text(), any::<u64>())),
        ),
    )
        .prop_map(
            |(
                (id, active, event, uri, display_name, expires, retry_after),
                (duration_registered, q, callid, cseq, unknown_params, pub_gruu, temp),
            )| Contact {
                id,
                state: if active {
                    ContactState::Active
                } else {
                    ContactState::Terminated
                },
                event,
                uri,
                display_name,
                expires,
                retry_after,
                duration_registered,
                q,
                callid,
                cseq,
                unknown_params,
                pub_gruu,
                temp_gruu: temp.map(|(uri, first_cseq)| TempGruu { uri, first_cseq }),
            },
        )
}

fn registration() -> impl Strategy<Value = Registration> {
    (
        nonempty_text(),
        text(),
        prop::sample::select(vec![RegState::Init, RegState::Active, RegState::Terminated]),
        prop::collection::vec(contact(), 0..4),
    )
        .prop_map(|(aor, id, state, contacts)| Registration {
            aor,
            id,
            state,
            contacts,
        })
}

fn document() -> impl Strategy<Value = RegInfo> {
    (
        any::<u32>(),
        prop::bool::ANY,
        prop::collection::vec(registration(), 0..6),
    )
        .prop_map(|(version, full, registrations)| RegInfo {
            version,
            state: if full {
                DocState::Full
            } else {
                DocState::Partial
            },
            registrations,
        })
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mangled_documents(doc in document(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut xml = doc.to_xml();
        if !xml.is_empty() {
            let i = cut.index(xml.len());
            xml[i] = byte;
            let _ = parse(&xml);
            let _ = parse(&xml[..i]);
        }
    }

    #[test]
    fn rfc3680_serialize_then_parse_is_identity(doc in document()) {
        let xml = doc.to_xml();
        let back = parse(&xml);
        prop_assert_eq!(back, Ok(doc));
    }

    #[test]
    fn e2_pieces_respect_the_limit_and_rebuild_the_state(doc in document(), limit in 200usize..2000) {
        let bodies = split_full_state(&doc, limit, 1);
        let mut union = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let piece = parse(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(piece.version, 1 + i as u32);
            prop_assert_eq!(piece.state, if i == 0 { DocState::Full } else { DocState::Partial });
            prop_assert!(body.len() <= limit || piece.registrations.len() == 1);
            union.extend(piece.registrations);
        }
        prop_assert_eq!(union, doc.registrations);
    }
}
