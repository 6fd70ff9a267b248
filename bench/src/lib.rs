//! Benchmarks (see benches/): the realistic messages they parse and the
//! typed access every parser is measured with.

use bytes::Bytes;

/// The messages the parse benchmark and the allocation count use: a ~1 KB
/// carrier INVITE with SDP, a REGISTER, a 200 OK and a reg-event NOTIFY
/// (the sip-core test samples).
pub const SAMPLES: [(&str, &[u8]); 4] = [
    (
        "invite_carrier",
        include_bytes!("../../crates/sip-core/tests/data/samples/invite_carrier.sip"),
    ),
    (
        "register",
        include_bytes!("../../crates/sip-core/tests/data/samples/register.sip"),
    ),
    (
        "ok200",
        include_bytes!("../../crates/sip-core/tests/data/samples/ok200.sip"),
    ),
    (
        "notify_reg",
        include_bytes!("../../crates/sip-core/tests/data/samples/notify_reg.sip"),
    ),
];

/// Parses `data` with `sip_core` and reads the headers a server needs for
/// every message: top Via and its branch, From tag, To, Call-ID and CSeq.
/// Returns a number derived from all of them so nothing is optimised away;
/// panics if the message or one of those headers does not parse.
pub fn locus_parse_typed(data: Bytes) -> usize {
    let m = sip_core::Message::parse(data).expect("sample parses");
    let via = m.top_via().expect("top Via");
    let mut n = via.branch().expect("branch").len();
    n += m.from_tag().expect("From tag").len();
    n += m.to().expect("To").params.len();
    n += m.call_id().expect("Call-ID").len();
    n += m.cseq().expect("CSeq").seq as usize;
    n
}
