//! What Kamailio 5.6 (`pua_reginfo` + `presence_reginfo`) sends, per
//! DESIGN.md section 6: per-AOR subscriptions, every NOTIFY `state="full"`
//! with `version="0"`, expiry as a bare terminated registration, contacts
//! with callid and cseq but no `+sip.instance`. Bodies written the way
//! `build_reginfo_full` lays them out (libxml2, indented, extra contact
//! attributes `received`, `path`, `user_agent`).

use reginfo::{
    parse, Apply, ContactEvent, ContactState, DeviceChange, DeviceIdent, DocState, QuirkMode,
    RegState, RegistrationSet, VersionTracker,
};

const ALICE_REGISTERED: &str = r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
  <registration aor="sip:alice@example.com" id="0x7f3a2c1b8e40" state="active">
    <contact id="0x7f3a2c1b9010" state="active" event="registered" expires="3600" q="0.500" callid="a84b4c76e66710@pc33.example.com" cseq="314159" received="" path="" user_agent="Yealink SIP-T46S 66.86.0.15">
      <uri>sip:alice@192.0.2.10:5062;transport=udp</uri>
    </contact>
  </registration>
</reginfo>
"#;

const ALICE_REFRESHED: &str = r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
  <registration aor="sip:alice@example.com" id="0x7f3a2c1b8e40" state="active">
    <contact id="0x7f3a2c1b9010" state="active" event="refreshed" expires="3599" callid="a84b4c76e66710@pc33.example.com" cseq="314160" received="" path="" user_agent="Yealink SIP-T46S 66.86.0.15">
      <uri>sip:alice@192.0.2.10:5062;transport=udp</uri>
    </contact>
  </registration>
</reginfo>
"#;

const ALICE_EXPIRED: &str = r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
  <registration aor="sip:alice@example.com" id="0x7f3a2c1b8e40" state="terminated"/>
</reginfo>
"#;

const BOB_REGISTERED: &str = r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
  <registration aor="sip:bob@example.com" id="0x7f3a2c1b7000" state="active">
    <contact id="0x7f3a2c1b7100" state="active" event="created" expires="600" callid="bob-call-1" cseq="2" received="sip:198.51.100.7:5060" path="" user_agent="baresip">
      <uri>sip:bob@198.51.100.7:5060</uri>
    </contact>
  </registration>
</reginfo>
"#;

/// The deleted contact still listed, terminated, with a negative expiry
/// (`%i` of a past time) and Kamailio's fallback event `unknown`.
const BOB_DELETED_ODD: &str = r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
  <registration aor="sip:bob@example.com" id="0x7f3a2c1b7000" state="terminated">
    <contact id="0x7f3a2c1b7100" state="terminated" event="unknown" expires="-3" callid="bob-call-1" cseq="3">
      <uri>sip:bob@198.51.100.7:5060</uri>
    </contact>
  </registration>
</reginfo>
"#;

#[test]
fn kamailio_notify_with_callid_cseq_and_no_instance_parses() {
    let first = parse(ALICE_REGISTERED.as_bytes()).unwrap();
    assert_eq!(
        first.registrations[0].contacts[0].q.as_deref(),
        Some("0.500")
    );
    let doc = parse(ALICE_REFRESHED.as_bytes()).unwrap();
    assert_eq!((doc.version, doc.state), (0, DocState::Full));
    let r = &doc.registrations[0];
    assert_eq!(r.aor, "sip:alice@example.com");
    assert_eq!(r.state, RegState::Active);
    let c = &r.contacts[0];
    assert_eq!(c.id, "0x7f3a2c1b9010");
    assert_eq!(c.event, ContactEvent::Refreshed);
    assert_eq!(c.callid.as_deref(), Some("a84b4c76e66710@pc33.example.com"));
    assert_eq!(c.cseq, Some(314160));
    assert_eq!(c.expires, Some(3599));
    assert_eq!(c.uri, "sip:alice@192.0.2.10:5062;transport=udp");
    assert_eq!(c.instance(), None);
    assert!(c.unknown_params.is_empty());
}

#[test]
fn kamailio_bare_terminated_registration_parses() {
    let doc = parse(ALICE_EXPIRED.as_bytes()).unwrap();
    let r = &doc.registrations[0];
    assert_eq!(r.state, RegState::Terminated);
    assert!(r.contacts.is_empty());
}

#[test]
fn kamailio_odd_values_are_tolerated() {
    let doc = parse(BOB_DELETED_ODD.as_bytes()).unwrap();
    let c = &doc.registrations[0].contacts[0];
    assert_eq!(c.state, ContactState::Terminated);
    assert_eq!(
        c.event,
        ContactEvent::Unregistered,
        "unknown event falls back from state"
    );
    assert_eq!(c.expires, Some(0), "negative expiry reads as 0");
    assert_eq!(c.cseq, Some(3));
}

#[test]
fn kamailio_registration_without_state_attribute_is_an_error_naming_it() {
    // Kamailio always writes one; a body without it is broken and says so.
    let body = ALICE_REGISTERED.replace(" state=\"active\">\n    <contact", ">\n    <contact");
    let err = parse(body.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<registration> lacks the required attribute \"state\" (RFC 3680 section 5.4)"
    );
}

#[test]
fn e9_kamailio_per_aor_mode_follows_a_device_through_its_life() {
    let mut alice = VersionTracker::new(QuirkMode::KamailioPerAor);
    let mut bob = VersionTracker::new(QuirkMode::KamailioPerAor);
    let mut set = RegistrationSet::new();
    let feed = |set: &mut RegistrationSet, tracker: &mut VersionTracker, body: &str| {
        let doc = parse(body.as_bytes()).unwrap();
        let verdict = tracker.apply(&doc);
        assert_eq!(verdict, Apply::Accepted, "{body}");
        set.apply(&doc, QuirkMode::KamailioPerAor)
    };

    let changes = feed(&mut set, &mut alice, ALICE_REGISTERED);
    assert!(
        matches!(&changes[..], [DeviceChange::Added { aor, .. }] if aor == "sip:alice@example.com")
    );
    assert_eq!(
        changes[0].key().device,
        DeviceIdent::ContactId("0x7f3a2c1b9010".into())
    );

    let changes = feed(&mut set, &mut bob, BOB_REGISTERED);
    assert!(
        matches!(&changes[..], [DeviceChange::Added { aor, .. }] if aor == "sip:bob@example.com")
    );

    // A refresh of Alice, full state of her AOR only: Bob is untouched.
    let changes = feed(&mut set, &mut alice, ALICE_REFRESHED);
    match &changes[..] {
        [DeviceChange::Updated { old, new, .. }] => {
            assert_eq!(old.cseq, Some(314159));
            assert_eq!(new.cseq, Some(314160));
        }
        other => panic!("{other:?}"),
    }

    // Alice expires: bare terminated registration.
    let changes = feed(&mut set, &mut alice, ALICE_EXPIRED);
    match &changes[..] {
        [DeviceChange::Removed { aor, reason, .. }] => {
            assert_eq!(aor, "sip:alice@example.com");
            assert_eq!(*reason, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(set.get("sip:alice@example.com").is_none());
    assert_eq!(set.device_count(), 1);

    // Bob deleted, the contact listed as terminated: the reason is carried.
    let changes = feed(&mut set, &mut bob, BOB_DELETED_ODD);
    match &changes[..] {
        [DeviceChange::Removed {
            contact, reason, ..
        }] => {
            assert_eq!(*reason, Some(ContactEvent::Unregistered));
            assert_eq!(contact.state, ContactState::Terminated);
        }
        other => panic!("{other:?}"),
    }
    assert!(set.is_empty());
}

#[test]
fn e9_rfc_mode_treats_kamailio_repeated_version_0_as_stale() {
    let mut t = VersionTracker::new(QuirkMode::Rfc3680);
    let doc = parse(ALICE_REFRESHED.as_bytes()).unwrap();
    assert_eq!(t.apply(&doc), Apply::Accepted);
    assert_eq!(t.apply(&doc), Apply::Stale);
}
