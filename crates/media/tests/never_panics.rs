//! Property tests: the parsers and the forwarding decision never panic on
//! any input, and what they read back is what was written.

use media::rtp::{classify, is_rtcp, PacketKind, RtcpHeader, RtpHeader};
use media::telephone_event::{is_allowed_event, TelephoneEvent};
use media::{Channel, Direction, ForwardTable, Leg, PayloadTypes, PortAllocator, Verdict};
use proptest::prelude::*;

fn table(te: Option<u8>, dir: u8) -> ForwardTable {
    let mut t = ForwardTable::new();
    t.set_peer(Leg::A, "192.0.2.1:4000".parse().unwrap(), None)
        .unwrap();
    t.set_peer(Leg::B, "192.0.2.2:5000".parse().unwrap(), None)
        .unwrap();
    let te = PayloadTypes {
        telephone_event: te.map(|p| p & 0x7f),
    };
    t.set_payload_types(Leg::A, te).unwrap();
    let d = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ];
    t.set_direction(Leg::B, d[usize::from(dir % 4)]);
    t
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(h) = RtpHeader::parse(&bytes) {
            prop_assert_eq!(h.version(), 2);
            prop_assert!(h.payload_offset() + h.payload().len() + h.padding_len() == bytes.len());
            let _ = (h.csrcs().count(), h.extension(), h.marker(), h.payload_type());
            prop_assert_eq!(classify(&bytes), PacketKind::Rtp);
        }
        if let Ok(h) = RtcpHeader::parse(&bytes) {
            prop_assert!(is_rtcp(&bytes));
            prop_assert!((192..=223).contains(&h.packet_type()));
        }
        if let Ok(e) = TelephoneEvent::parse(&bytes) {
            prop_assert!(e.volume <= 63);
        }
    }

    #[test]
    fn decide_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        te in proptest::option::of(any::<u8>()),
        dir in any::<u8>(),
        from_b in any::<bool>(),
        rtcp_socket in any::<bool>(),
    ) {
        let t = table(te, dir);
        let from = if from_b { Leg::B } else { Leg::A };
        let channel = if rtcp_socket { Channel::Rtcp } else { Channel::Rtp };
        if let Verdict::Forward(f) = t.decide(from, channel, &bytes) {
            prop_assert_eq!(f.to, from.other());
        }
    }

    #[test]
    fn rtp_fields_read_back(
        marker in any::<bool>(),
        pt in (0u8..128).prop_filter("not RTCP range", |p| !(64..=95).contains(p)),
        seq in any::<u16>(),
        ts in any::<u32>(),
        ssrc in any::<u32>(),
        csrcs in proptest::collection::vec(any::<u32>(), 0..16),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut p = vec![0x80 | csrcs.len() as u8, (u8::from(marker) << 7) | pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        for c in &csrcs {
            p.extend_from_slice(&c.to_be_bytes());
        }
        p.extend_from_slice(&payload);
        let h = RtpHeader::parse(&p).unwrap();
        prop_assert_eq!(
            (h.marker(), h.payload_type(), h.sequence_number(), h.timestamp(), h.ssrc()),
            (marker, pt, seq, ts, ssrc)
        );
        prop_assert_eq!(h.csrcs().collect::<Vec<_>>(), csrcs);
        prop_assert_eq!(h.payload(), &payload[..]);
    }

    #[test]
    fn telephone_event_round_trips(event in any::<u8>(), end in any::<bool>(), volume in 0u8..64, duration in any::<u16>()) {
        let e = TelephoneEvent { event, end, volume, duration };
        prop_assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        prop_assert_eq!(e.is_allowed(), event <= 15);
        prop_assert_eq!(is_allowed_event(event), event <= 15);
    }

    #[test]
    fn allocator_never_panics_or_double_hands(first in any::<u16>(), len in 0u16..64, ops in proptest::collection::vec(any::<u16>(), 0..200)) {
        let last = first.saturating_add(len);
        let Ok(mut a) = PortAllocator::new(first..=last) else { return Ok(()) };
        let mut held = std::collections::HashSet::new();
        for op in ops {
            if op % 2 == 0 {
                if let Ok(p) = a.allocate() {
                    prop_assert!(p >= 1024 && p % 2 == 0 && p < last);
                    prop_assert!(held.insert(p));
                }
            } else {
                let p = op.wrapping_add(first);
                prop_assert_eq!(a.release(p), held.remove(&p));
            }
        }
        prop_assert_eq!(a.in_use(), held.len());
    }
}
