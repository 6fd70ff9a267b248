//! E9: RFC 3680 section 5.2 version rules and the subscriber's tables.

use reginfo::{
    Apply, Contact, ContactEvent, ContactState, DeviceChange, DeviceIdent, DocState, QuirkMode,
    RegInfo, RegState, Registration, RegistrationSet, VersionTracker,
};

fn doc(version: u32, state: DocState) -> RegInfo {
    RegInfo::new(version, state)
}

#[test]
fn rfc3680_section_5_2_first_full_document_sets_the_version() {
    let mut t = VersionTracker::new(QuirkMode::Rfc3680);
    assert_eq!(t.version(), None);
    assert_eq!(t.apply(&doc(7, DocState::Full)), Apply::Accepted);
    assert_eq!(t.version(), Some(7));
}

#[test]
fn rfc3680_section_5_2_next_partial_is_accepted() {
    let mut t = VersionTracker::default();
    assert_eq!(t.apply(&doc(0, DocState::Full)), Apply::Accepted);
    assert_eq!(t.apply(&doc(1, DocState::Partial)), Apply::Accepted);
    assert_eq!(t.apply(&doc(2, DocState::Partial)), Apply::Accepted);
    assert_eq!(t.version(), Some(2));
}

#[test]
fn rfc3680_section_5_2_lower_or_equal_version_is_stale() {
    let mut t = VersionTracker::default();
    assert_eq!(t.apply(&doc(5, DocState::Full)), Apply::Accepted);
    assert_eq!(t.apply(&doc(5, DocState::Partial)), Apply::Stale);
    assert_eq!(t.apply(&doc(4, DocState::Partial)), Apply::Stale);
    assert_eq!(t.apply(&doc(5, DocState::Full)), Apply::Stale);
    assert_eq!(t.apply(&doc(0, DocState::Full)), Apply::Stale);
    assert_eq!(
        t.version(),
        Some(5),
        "stale documents do not move the version"
    );
    assert!(!Apply::Stale.should_process());
}

#[test]
fn rfc3680_section_5_2_skipped_version_is_a_gap_processed_then_refreshed() {
    let mut t = VersionTracker::default();
    assert_eq!(t.apply(&doc(1, DocState::Full)), Apply::Accepted);
    let verdict = t.apply(&doc(4, DocState::Partial));
    assert_eq!(verdict, Apply::Gap);
    assert!(verdict.should_process() && verdict.needs_refresh());
    assert_eq!(t.version(), Some(4), "the version jumps to the document's");
    assert_eq!(t.apply(&doc(5, DocState::Partial)), Apply::Accepted);
    // The refresh brings full state with a higher version: accepted.
    assert_eq!(t.apply(&doc(9, DocState::Full)), Apply::Accepted);
    assert_eq!(t.version(), Some(9));
}

#[test]
fn e9_partial_before_any_full_state_is_a_gap() {
    let mut t = VersionTracker::default();
    assert_eq!(t.apply(&doc(3, DocState::Partial)), Apply::Gap);
    assert_eq!(t.apply(&doc(4, DocState::Partial)), Apply::Accepted);
}

#[test]
fn e9_reset_starts_a_new_subscription() {
    let mut t = VersionTracker::default();
    assert_eq!(t.apply(&doc(10, DocState::Full)), Apply::Accepted);
    t.reset();
    assert_eq!(t.apply(&doc(0, DocState::Full)), Apply::Accepted);
}

#[test]
fn e9_version_at_u32_max_is_never_exceeded() {
    let mut t = VersionTracker::default();
    assert_eq!(t.apply(&doc(u32::MAX - 1, DocState::Full)), Apply::Accepted);
    assert_eq!(t.apply(&doc(u32::MAX, DocState::Partial)), Apply::Accepted);
    assert_eq!(t.apply(&doc(0, DocState::Partial)), Apply::Stale);
}

#[test]
fn e9_kamailio_mode_accepts_repeated_version_0_full_documents() {
    let mut t = VersionTracker::new(QuirkMode::KamailioPerAor);
    for _ in 0..5 {
        assert_eq!(t.apply(&doc(0, DocState::Full)), Apply::Accepted);
    }
    assert_eq!(t.version(), Some(0));
}

#[test]
fn e9_kamailio_mode_keeps_rfc_rules_for_everything_else() {
    let mut t = VersionTracker::new(QuirkMode::KamailioPerAor);
    assert_eq!(t.apply(&doc(3, DocState::Full)), Apply::Accepted);
    assert_eq!(t.apply(&doc(3, DocState::Full)), Apply::Stale);
    assert_eq!(t.apply(&doc(2, DocState::Partial)), Apply::Stale);
    assert_eq!(t.apply(&doc(0, DocState::Partial)), Apply::Stale);
    assert_eq!(t.apply(&doc(5, DocState::Partial)), Apply::Gap);
    // A version 0 full document is still a per-AOR replacement.
    assert_eq!(t.apply(&doc(0, DocState::Full)), Apply::Accepted);
    assert_eq!(t.apply(&doc(1, DocState::Partial)), Apply::Accepted);
}

#[test]
fn e9_rfc_mode_treats_a_repeated_version_0_as_stale() {
    let mut t = VersionTracker::new(QuirkMode::Rfc3680);
    assert_eq!(t.apply(&doc(0, DocState::Full)), Apply::Accepted);
    assert_eq!(t.apply(&doc(0, DocState::Full)), Apply::Stale);
}

fn contact(id: &str, uri: &str) -> Contact {
    let mut c = Contact::new(id, uri);
    c.expires = Some(3600);
    c
}

fn reg(aor: &str, state: RegState, contacts: Vec<Contact>) -> Registration {
    Registration {
        aor: aor.into(),
        id: format!("id-{aor}"),
        state,
        contacts,
    }
}

#[test]
fn rfc3680_section_5_2_full_state_flushes_and_rebuilds() {
    let mut set = RegistrationSet::new();
    let first = RegInfo {
        version: 0,
        state: DocState::Full,
        registrations: vec![
            reg(
                "sip:a@x",
                RegState::Active,
                vec![contact("1", "sip:a@h1"), contact("2", "sip:a@h2")],
            ),
            reg("sip:b@x", RegState::Active, vec![contact("3", "sip:b@h")]),
            reg("sip:c@x", RegState::Init, vec![]),
        ],
    };
    let changes = set.apply_full(&first);
    assert_eq!(changes.len(), 3);
    assert!(changes
        .iter()
        .all(|c| matches!(c, DeviceChange::Added { .. })));
    assert_eq!(set.len(), 2, "an AOR without contacts is not kept");
    assert_eq!(set.device_count(), 3);

    let mut moved = contact("2", "sip:a@h2-new");
    moved.event = ContactEvent::Refreshed;
    let second = RegInfo {
        version: 5,
        state: DocState::Full,
        registrations: vec![
            reg("sip:a@x", RegState::Active, vec![moved.clone()]),
            reg("sip:d@x", RegState::Active, vec![contact("4", "sip:d@h")]),
        ],
    };
    let changes = set.apply_full(&second);
    let summary: Vec<(String, &str)> = changes
        .iter()
        .map(|c| {
            let kind = match c {
                DeviceChange::Added { .. } => "added",
                DeviceChange::Updated { .. } => "updated",
                DeviceChange::Removed { .. } => "removed",
            };
            (format!("{} {}", c.aor(), c.contact().id), kind)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("sip:a@x 1".to_string(), "removed"),
            ("sip:a@x 2".to_string(), "updated"),
            ("sip:b@x 3".to_string(), "removed"),
            ("sip:d@x 4".to_string(), "added"),
        ]
    );
    assert_eq!(set, RegistrationSet::from_doc(&second));
    assert_eq!(set.get("sip:a@x").unwrap().contacts, vec![moved]);
}

#[test]
fn rfc3680_section_5_2_partial_state_updates_rows_by_id() {
    let mut set = RegistrationSet::new();
    let _ = set.apply_full(&RegInfo {
        version: 0,
        state: DocState::Full,
        registrations: vec![reg(
            "sip:a@x",
            RegState::Active,
            vec![contact("1", "sip:a@h1"), contact("2", "sip:a@h2")],
        )],
    });

    let mut gone = Contact::new("1", "sip:a@h1");
    gone.state = ContactState::Terminated;
    gone.event = ContactEvent::Expired;
    let mut refreshed = contact("2", "sip:a@h2");
    refreshed.event = ContactEvent::Refreshed;
    refreshed.expires = Some(1800);
    let mut new_dev = contact("9", "sip:e@h");
    new_dev.set_instance("urn:uuid:1");
    let partial = RegInfo {
        version: 1,
        state: DocState::Partial,
        registrations: vec![
            reg("sip:a@x", RegState::Active, vec![gone, refreshed.clone()]),
            reg("sip:e@x", RegState::Active, vec![new_dev.clone()]),
        ],
    };
    let changes = set.apply_partial(&partial);
    assert_eq!(changes.len(), 3);
    match &changes[0] {
        DeviceChange::Removed {
            contact, reason, ..
        } => {
            assert_eq!(contact.id, "1");
            assert_eq!(contact.expires, Some(3600), "last known fields are kept");
            assert_eq!(contact.state, ContactState::Terminated);
            assert_eq!(*reason, Some(ContactEvent::Expired));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&changes[1], DeviceChange::Updated { new, .. } if *new == refreshed));
    assert!(matches!(&changes[2], DeviceChange::Added { contact, .. } if *contact == new_dev));
    assert_eq!(
        changes[2].key().device,
        DeviceIdent::Instance("urn:uuid:1".into())
    );

    // The same partial again changes nothing new (idempotent rows).
    let again = set.apply_partial(&partial);
    assert!(again.is_empty(), "{again:?}");

    // A terminated registration drops every remaining row.
    let changes = set.apply_partial(&RegInfo {
        version: 2,
        state: DocState::Partial,
        registrations: vec![reg("sip:a@x", RegState::Terminated, vec![])],
    });
    assert!(matches!(
        &changes[..],
        [DeviceChange::Removed { reason: None, .. }]
    ));
    assert!(set.get("sip:a@x").is_none());
    assert_eq!(set.device_count(), 1);

    // Terminating an unknown contact is harmless.
    let mut unknown = Contact::new("zz", "sip:z@h");
    unknown.state = ContactState::Terminated;
    unknown.event = ContactEvent::Rejected;
    let changes = set.apply_partial(&RegInfo {
        version: 3,
        state: DocState::Partial,
        registrations: vec![reg("sip:z@x", RegState::Terminated, vec![unknown])],
    });
    assert!(changes.is_empty());
    assert!(set.get("sip:z@x").is_none());
}

#[test]
fn e9_diff_of_snapshots_hides_transient_split_removals() {
    // E2 bodies: the full piece, then a partial that brings AOR b back.
    let mut set = RegistrationSet::new();
    let _ = set.apply_full(&RegInfo {
        version: 0,
        state: DocState::Full,
        registrations: vec![
            reg("sip:a@x", RegState::Active, vec![contact("1", "sip:a@h")]),
            reg("sip:b@x", RegState::Active, vec![contact("2", "sip:b@h")]),
        ],
    });
    let before = set.clone();
    let piece1 = RegInfo {
        version: 0,
        state: DocState::Full,
        registrations: vec![reg(
            "sip:a@x",
            RegState::Active,
            vec![contact("1", "sip:a@h")],
        )],
    };
    let piece2 = RegInfo {
        version: 1,
        state: DocState::Partial,
        registrations: vec![reg(
            "sip:b@x",
            RegState::Active,
            vec![contact("2", "sip:b@h")],
        )],
    };
    assert_eq!(
        set.apply_full(&piece1).len(),
        1,
        "b looks removed for a moment"
    );
    assert_eq!(set.apply_partial(&piece2).len(), 1, "and comes back");
    assert!(
        before.diff(&set).is_empty(),
        "nothing changed over the burst"
    );
}

#[test]
fn e9_remove_aor_and_round_trip_to_a_document() {
    let mut set = RegistrationSet::new();
    let full = RegInfo {
        version: 4,
        state: DocState::Full,
        registrations: vec![
            reg("sip:a@x", RegState::Active, vec![contact("1", "sip:a@h")]),
            reg(
                "sip:b@x",
                RegState::Active,
                vec![contact("2", "sip:b@h"), contact("3", "sip:b@k")],
            ),
        ],
    };
    let _ = set.apply_full(&full);
    assert_eq!(set.to_reginfo(4), full);
    assert_eq!(set.contacts().count(), 3);
    assert_eq!(set.remove_aor("sip:b@x").len(), 2);
    assert!(set.remove_aor("sip:b@x").is_empty());
    assert_eq!(set.registrations().count(), 1);
}
