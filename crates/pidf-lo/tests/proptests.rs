//! Property tests: the parser never panics; serialize then parse is the
//! identity for documents whose civic values are already tokens (RFC 5139
//! values are whitespace-collapsed on reading).

use pidf_lo::{CivicAddress, Elin, LocationDoc, UsageRules};
use proptest::prelude::*;

/// A token: no leading, trailing or doubled whitespace; XML specials and
/// non-ASCII included.
fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9<>&\"'#/.,é中-]{1,8}( [a-zA-Z0-9<>&\"'é-]{1,6}){0,2}"
}

fn civic() -> impl Strategy<Value = CivicAddress> {
    (
        prop::option::of("[a-z]{2}(-[A-Z]{2})?"),
        prop::collection::vec(prop::option::of(token()), CivicAddress::ELEMENTS.len()),
    )
        .prop_map(|(lang, values)| {
            let mut c = CivicAddress {
                lang,
                ..CivicAddress::default()
            };
            for (name, v) in CivicAddress::ELEMENTS.iter().zip(values) {
                *c.field_mut(name).unwrap() = v;
            }
            c
        })
}

fn doc() -> impl Strategy<Value = LocationDoc> {
    (
        "pres:[a-z0-9+&<>]{1,10}@[a-z.]{1,10}",
        prop::option::of(prop::sample::select(vec![
            "mac:00045a1b2c3d".to_string(),
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6".to_string(),
        ])),
        civic(),
        prop::option::of("\\+[0-9]{2,15}"),
        prop::option::of(prop::sample::select(vec!["Manual", "Wiremap", "DHCP"])),
        prop::option::of("20[0-9]{2}-0[1-9]-1[0-9]T12:00:00Z"),
        any::<bool>(),
        prop::option::of("20[0-9]{2}-0[1-9]-1[0-9]T12:00:00Z"),
    )
        .prop_map(
            |(entity, device_id, civic, elin, method, timestamp, retransmit, retention)| {
                LocationDoc {
                    entity,
                    device_id,
                    civic,
                    elin: elin.map(|e| Elin::parse(&e).unwrap()),
                    method: method.map(str::to_owned),
                    timestamp,
                    usage: UsageRules {
                        retransmission_allowed: retransmit,
                        retention_expiry: retention,
                    },
                }
            },
        )
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = LocationDoc::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mangled_documents(d in doc(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut xml = d.to_xml();
        let i = at.index(xml.len());
        xml[i] = byte;
        let _ = LocationDoc::parse(&xml);
        let _ = LocationDoc::parse(&xml[..i]);
    }

    #[test]
    fn rfc4119_serialize_then_parse_is_identity(d in doc()) {
        prop_assert_eq!(LocationDoc::parse(&d.to_xml()), Ok(d));
    }

    #[test]
    fn elin_parse_never_panics_and_accepts_only_e164(s in "\\PC{0,20}") {
        let ok = Elin::parse(&s).is_ok();
        let digits = s.strip_prefix('+').unwrap_or("");
        let e164 = s.starts_with('+')
            && (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(ok, e164);
    }
}
