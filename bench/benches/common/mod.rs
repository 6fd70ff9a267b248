//! The rsipstack side of the parse comparison, shared by the criterion
//! benchmark and the `parse_loop` example.

use rsipstack::sip::headers::untyped::ToTypedHeader;
use rsipstack::sip::{HeadersExt, SipMessage};

/// `SipMessage::try_from(&[u8])`, rsipstack's fastest public entry point.
pub(crate) fn rsipstack_parse(data: &[u8]) -> SipMessage {
    SipMessage::try_from(data).expect("rsipstack parses the sample")
}

/// [`rsipstack_parse`] plus the typed fields `locus_parse_typed` reads:
/// top Via and branch, From tag, To, Call-ID and CSeq.
pub(crate) fn rsipstack_parse_typed(data: &[u8]) -> usize {
    let m = rsipstack_parse(data);
    let via = m
        .top_via_header()
        .and_then(|v| v.typed())
        .expect("rsipstack: top Via");
    let mut n = via.branch().expect("rsipstack: branch").value().len();
    n += m
        .from_header()
        .and_then(|f| f.tag())
        .expect("rsipstack: From")
        .expect("rsipstack: From tag")
        .value()
        .len();
    n += m
        .to_header()
        .and_then(|t| t.typed())
        .expect("rsipstack: To")
        .params
        .len();
    n += m
        .call_id_header()
        .expect("rsipstack: Call-ID")
        .value()
        .len();
    n += m
        .cseq_header()
        .and_then(|c| c.typed())
        .expect("rsipstack: CSeq")
        .seq as usize;
    n
}
