//! Parse arbitrary bytes as a datagram; when it parses, serialize it in
//! every header form, parse again and require the same message. Typed
//! accessors and validation must never panic.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip_core::{HeaderForm, Message};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let _ = Message::parse_lenient_for_reply(&bytes);
    let Ok(msg) = Message::parse_datagram(bytes) else {
        return;
    };
    // Typed access on whatever parsed.
    let _ = msg.via().count();
    let _ = (msg.top_via(), msg.from(), msg.to(), msg.call_id(), msg.cseq());
    let _ = (msg.contacts(), msg.routes(), msg.record_routes(), msg.content_type());
    let _ = (msg.max_forwards(), msg.expires(), msg.authorization(), msg.event());
    if let Some(req) = msg.as_request() {
        let _ = req.validate();
        let _ = req.uri().to_string();
    }
    for form in [HeaderForm::Preserve, HeaderForm::Full, HeaderForm::Compact] {
        let out = msg.to_bytes(form);
        let again = Message::parse(out.clone()).expect("a serialized message parses");
        assert_eq!(again, msg, "round trip changed the message");
        assert_eq!(again.branch(), msg.branch());
        assert_eq!(again.from_tag(), msg.from_tag());
        assert_eq!(again.to_tag(), msg.to_tag());
        assert_eq!(again.call_id(), msg.call_id());
        assert_eq!(again.cseq(), msg.cseq());
        assert_eq!(again.body(), msg.body());
        // Serialization is a fixed point after one round.
        assert_eq!(again.to_bytes(form), out);
    }
});
