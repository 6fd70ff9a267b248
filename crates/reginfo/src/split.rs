//! E2: sending a large full state as several NOTIFY bodies.

use std::ops::RangeInclusive;

use crate::model::{DocState, RegInfo};
use crate::write;

/// Default `subscription_max_body_size` (E2; the ICD's
/// `subscription-max-body-size`): 14336 bytes.
pub const DEFAULT_MAX_BODY: usize = 14336;

/// Valid values of `subscription_max_body_size` (E2); 0 means unlimited.
pub const MAX_BODY_RANGE: RangeInclusive<usize> = 0..=500_000;

/// Serializes the full state `doc` as one or more NOTIFY bodies of at most
/// `max_body` bytes each (E2). `doc.version` and `doc.state` are ignored:
/// the bodies get their own.
///
/// - `max_body == 0` means unlimited: exactly one body, `state="full"`,
///   version `first_version`.
/// - Otherwise registrations are packed greedily, in order, and a body is
///   cut only between two `<registration>` elements, so each AOR is whole in
///   exactly one body (RFC 3680 section 5.1 forbids spreading an AOR over
///   several elements of one document, and a subscriber applying the pieces
///   in order rebuilds exactly `doc`).
/// - The first body is `state="full"`, every later one `state="partial"`;
///   versions are consecutive from `first_version` (wrapping past
///   `u32::MAX`), so a subscriber following RFC 3680 section 5.2 accepts them
///   in order.
/// - Every body is at most `max_body` bytes, except when one registration
///   alone does not fit in a body (with the document wrapper of about 120
///   bytes): that body then holds exactly that one registration and is
///   larger than `max_body`. The caller should send it anyway (over TCP) or
///   log it; dropping it would lose the AOR.
/// - A state with no registrations gives one empty full body.
pub fn split_full_state(doc: &RegInfo, max_body: usize, first_version: u32) -> Vec<Vec<u8>> {
    if max_body == 0 {
        return vec![
            write::document(first_version, DocState::Full, &doc.registrations).into_bytes(),
        ];
    }
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut version = first_version;
    let mut state = DocState::Full;
    let mut current = write::open(version, state);
    let mut in_current = 0usize;
    let mut reg = String::new();
    for r in &doc.registrations {
        reg.clear();
        write::registration(&mut reg, r);
        if in_current > 0 && current.len() + reg.len() + write::close().len() > max_body {
            current.push_str(write::close());
            bodies.push(std::mem::take(&mut current).into_bytes());
            version = version.wrapping_add(1);
            state = DocState::Partial;
            current = write::open(version, state);
            in_current = 0;
        }
        current.push_str(&reg);
        in_current += 1;
    }
    current.push_str(write::close());
    bodies.push(current.into_bytes());
    bodies
}
