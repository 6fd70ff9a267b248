//! The per-session forwarding decision, sans-IO: given the leg and socket a
//! datagram arrived on, where (if anywhere) the relay sends it.
//!
//! Rules, in the order [`ForwardTable::decide`] applies them:
//!
//! 1. C25 symmetric RTP: what arrives on one leg leaves from the *other*
//!    leg's socket of the same kind, the socket that leg's peer sends to, so
//!    every peer sends and receives on one port.
//! 2. C24 no latching: the destination is the peer address from that leg's
//!    SDP ([`ForwardTable::set_peer`]). The source of a datagram is never
//!    looked at; packets from any source are forwarded, and never change
//!    the destination.
//! 3. RFC 5761 demultiplexing: RTCP arriving on an RTP socket (rtcp-mux) is
//!    RTCP. RTCP goes to the other leg's RTCP address (the RTP address when
//!    that leg multiplexes) and is never held back by the media direction
//!    (RFC 3264 section 5.1: RTCP is sent whatever the direction).
//! 4. Media direction (RFC 3264 section 6.1, as written in each leg peer's
//!    SDP): RTP flows from leg X to leg Y only when X's peer sends
//!    (`sendrecv`/`sendonly`) and Y's peer receives (`sendrecv`/`recvonly`).
//! 5. C23: on a leg with a telephone-event payload type, events above 15
//!    are dropped; others pass through byte for byte, except that the
//!    payload type is rewritten when the two legs negotiated different
//!    numbers for telephone-event.
//! 6. Early media: a direction forwards as soon as its destination is
//!    known, whatever the state of the other.

use std::net::SocketAddr;

use crate::rtp::{is_rtcp, RtcpHeader, RtpError, RtpHeader};
use crate::telephone_event::{is_allowed_event, EventError, TelephoneEvent};

/// One side of a relayed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The side facing the caller.
    A,
    /// The side facing the callee.
    B,
}

impl Leg {
    /// The other leg.
    #[inline]
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    /// 0 for A, 1 for B.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Which of a leg's two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The even port.
    Rtp,
    /// The odd port (RTP + 1).
    Rtcp,
}

/// A media direction attribute (RFC 3264 section 6.1) as written in the
/// SDP of one leg's peer: what *that peer* does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// The peer sends and receives.
    #[default]
    SendRecv,
    /// The peer only sends (it put the call on hold): nothing is forwarded
    /// toward it.
    SendOnly,
    /// The peer only receives: what it sends is not forwarded.
    RecvOnly,
    /// Neither: no RTP in either direction.
    Inactive,
}

impl Direction {
    /// Whether this peer's RTP is forwarded.
    #[inline]
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether RTP is forwarded toward this peer.
    #[inline]
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// The payload types a leg negotiated that the relay looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PayloadTypes {
    /// The RFC 4733 `telephone-event` payload type on this leg, if any.
    pub telephone_event: Option<u8>,
}

/// A peer address the relay refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// C24: RTP or RTCP port 0-1023 (port 0, a disabled stream, included:
    /// use [`ForwardTable::clear_peer`]).
    #[error("peer port {0} is a well-known port (C24: 0-1023 are refused)")]
    WellKnownPort(u16),
    /// A telephone-event payload type above 127.
    #[error("payload type {0} is above 127")]
    BadPayloadType(u8),
}

/// Why a datagram is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a valid RTP packet (on an RTP socket) or RTCP packet (on an RTCP
    /// socket).
    Malformed(RtpError),
    /// A telephone-event packet whose payload is too short.
    MalformedEvent(EventError),
    /// The other leg's peer address is not known yet.
    NoPeer,
    /// The media direction of one of the legs stops RTP this way.
    Direction,
    /// C23: a telephone-event above 15.
    EventNotAllowed(u8),
}

/// What a datagram is, once accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RTP media.
    Rtp,
    /// An RFC 4733 telephone-event packet.
    TelephoneEvent,
    /// RTCP (on the RTCP socket, or multiplexed on the RTP socket).
    Rtcp,
}

/// Where to send an accepted datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The leg whose socket sends it (the other leg).
    pub to: Leg,
    /// Which of that leg's sockets sends it.
    pub channel: Channel,
    /// The peer address, from the SDP.
    pub dest: SocketAddr,
    /// What the datagram is.
    pub kind: Kind,
    /// A new payload type to write into the second octet (keeping the
    /// marker bit), when the legs numbered telephone-event differently.
    pub rewrite_payload_type: Option<u8>,
}

/// The decision for one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Forward(Forward),
    /// Do not; count it.
    Drop(DropReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct LegPlan {
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    direction: Direction,
    payload_types: PayloadTypes,
}

/// The forwarding state of one session: peer addresses from the SDP,
/// directions and payload types per leg. Small and `Copy`, so the relay's
/// task keeps its own copy and refreshes it when the session changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardTable {
    legs: [LegPlan; 2],
}

impl ForwardTable {
    /// A table with no peers: everything is dropped until
    /// [`ForwardTable::set_peer`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `leg`'s peer addresses as written in its SDP: `rtp` from the
    /// `c=`/`m=` lines, `rtcp` from `a=rtcp` (RFC 3605). `None` means the
    /// RTP port + 1; pass `Some(rtp)` for rtcp-mux (RFC 5761).
    ///
    /// # Errors
    /// [`PeerError::WellKnownPort`] for a port below 1024 (C24).
    pub fn set_peer(
        &mut self,
        leg: Leg,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), PeerError> {
        let rtcp = match rtcp {
            Some(a) => a,
            None => {
                let mut a = rtp;
                a.set_port(
                    rtp.port()
                        .checked_add(1)
                        .ok_or(PeerError::WellKnownPort(0))?,
                );
                a
            }
        };
        for port in [rtp.port(), rtcp.port()] {
            if port < crate::ports::MIN_PORT {
                return Err(PeerError::WellKnownPort(port));
            }
        }
        let plan = &mut self.legs[leg.index()];
        plan.rtp = Some(rtp);
        plan.rtcp = Some(rtcp);
        Ok(())
    }

    /// Forgets `leg`'s peer (a stream disabled with port 0): nothing is
    /// sent toward it.
    pub fn clear_peer(&mut self, leg: Leg) {
        let plan = &mut self.legs[leg.index()];
        plan.rtp = None;
        plan.rtcp = None;
    }

    /// `leg`'s peer RTP and RTCP addresses.
    pub fn peer(&self, leg: Leg) -> Option<(SocketAddr, SocketAddr)> {
        let plan = &self.legs[leg.index()];
        Some((plan.rtp?, plan.rtcp?))
    }

    /// Sets `leg`'s media direction, as its peer wrote it.
    pub fn set_direction(&mut self, leg: Leg, direction: Direction) {
        self.legs[leg.index()].direction = direction;
    }

    /// `leg`'s media direction.
    pub fn direction(&self, leg: Leg) -> Direction {
        self.legs[leg.index()].direction
    }

    /// Sets `leg`'s negotiated payload types.
    ///
    /// # Errors
    /// [`PeerError::BadPayloadType`] for a payload type above 127.
    pub fn set_payload_types(&mut self, leg: Leg, types: PayloadTypes) -> Result<(), PeerError> {
        if let Some(pt) = types.telephone_event.filter(|pt| *pt > 127) {
            return Err(PeerError::BadPayloadType(pt));
        }
        self.legs[leg.index()].payload_types = types;
        Ok(())
    }

    /// `leg`'s payload types.
    pub fn payload_types(&self, leg: Leg) -> PayloadTypes {
        self.legs[leg.index()].payload_types
    }

    /// Decides what to do with `packet`, received on `from`'s `channel`
    /// socket. Pure: the source address plays no part (C24).
    #[inline]
    pub fn decide(&self, from: Leg, channel: Channel, packet: &[u8]) -> Verdict {
        let to = from.other();
        let dst = &self.legs[to.index()];
        if is_rtcp(packet) {
            if let Err(e) = RtcpHeader::parse(packet) {
                return Verdict::Drop(DropReason::Malformed(e));
            }
            let (Some(rtp), Some(rtcp)) = (dst.rtp, dst.rtcp) else {
                return Verdict::Drop(DropReason::NoPeer);
            };
            let channel = if rtcp == rtp {
                Channel::Rtp
            } else {
                Channel::Rtcp
            };
            return Verdict::Forward(Forward {
                to,
                channel,
                dest: rtcp,
                kind: Kind::Rtcp,
                rewrite_payload_type: None,
            });
        }
        if channel == Channel::Rtcp {
            // Not RTCP by RFC 5761 on the RTCP socket: say why.
            let e = RtcpHeader::parse(packet)
                .err()
                .unwrap_or(RtpError::NotRtcp(0));
            return Verdict::Drop(DropReason::Malformed(e));
        }
        let header = match RtpHeader::parse(packet) {
            Ok(h) => h,
            Err(e) => return Verdict::Drop(DropReason::Malformed(e)),
        };
        let src = &self.legs[from.index()];
        if !src.direction.sends() || !dst.direction.receives() {
            return Verdict::Drop(DropReason::Direction);
        }
        let Some(dest) = dst.rtp else {
            return Verdict::Drop(DropReason::NoPeer);
        };
        let mut kind = Kind::Rtp;
        let mut rewrite_payload_type = None;
        if let Some(te) = src.payload_types.telephone_event {
            if header.payload_type() == te {
                match TelephoneEvent::parse(header.payload()) {
                    Ok(e) if is_allowed_event(e.event) => {}
                    Ok(e) => return Verdict::Drop(DropReason::EventNotAllowed(e.event)),
                    Err(e) => return Verdict::Drop(DropReason::MalformedEvent(e)),
                }
                kind = Kind::TelephoneEvent;
                rewrite_payload_type = dst.payload_types.telephone_event.filter(|pt| *pt != te);
            }
        }
        Verdict::Forward(Forward {
            to,
            channel: Channel::Rtp,
            dest,
            kind,
            rewrite_payload_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn rtp(pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        p.extend_from_slice(payload);
        p
    }

    fn table() -> ForwardTable {
        let mut t = ForwardTable::new();
        t.set_peer(Leg::A, addr("192.0.2.1:4000"), None).unwrap();
        t.set_peer(
            Leg::B,
            addr("198.51.100.7:5000"),
            Some(addr("198.51.100.7:5003")),
        )
        .unwrap();
        t
    }

    fn forward(v: Verdict) -> Forward {
        match v {
            Verdict::Forward(f) => f,
            Verdict::Drop(r) => panic!("dropped: {r:?}"),
        }
    }

    #[test]
    fn c25_out_from_the_other_legs_socket_of_the_same_kind() {
        let t = table();
        let f = forward(t.decide(Leg::A, Channel::Rtp, &rtp(0, &[0; 160])));
        assert_eq!(
            (f.to, f.channel, f.dest),
            (Leg::B, Channel::Rtp, addr("198.51.100.7:5000"))
        );
        let f = forward(t.decide(Leg::B, Channel::Rtcp, &[0x80, 201, 0, 1, 0, 0, 0, 1]));
        assert_eq!(
            (f.to, f.channel, f.dest),
            (Leg::A, Channel::Rtcp, addr("192.0.2.1:4001"))
        );
        assert_eq!(f.kind, Kind::Rtcp);
    }

    #[test]
    fn rfc5761_muxed_rtcp_goes_out_of_the_rtp_socket() {
        let mut t = table();
        t.set_peer(Leg::A, addr("192.0.2.1:4000"), Some(addr("192.0.2.1:4000")))
            .unwrap();
        let f = forward(t.decide(Leg::B, Channel::Rtp, &[0x80, 200, 0, 6]));
        assert_eq!(
            (f.channel, f.dest, f.kind),
            (Channel::Rtp, addr("192.0.2.1:4000"), Kind::Rtcp)
        );
    }

    #[test]
    fn early_media_needs_only_the_destination() {
        let mut t = ForwardTable::new();
        t.set_peer(Leg::A, addr("192.0.2.1:4000"), None).unwrap();
        assert!(matches!(
            t.decide(Leg::B, Channel::Rtp, &rtp(8, &[1])),
            Verdict::Forward(_)
        ));
        assert_eq!(
            t.decide(Leg::A, Channel::Rtp, &rtp(8, &[1])),
            Verdict::Drop(DropReason::NoPeer)
        );
        t.clear_peer(Leg::A);
        assert_eq!(t.peer(Leg::A), None);
    }

    #[test]
    fn rfc3264_directions_stop_rtp_not_rtcp() {
        let mut t = table();
        t.set_direction(Leg::A, Direction::SendOnly);
        assert!(matches!(
            t.decide(Leg::A, Channel::Rtp, &rtp(0, &[])),
            Verdict::Forward(_)
        ));
        assert_eq!(
            t.decide(Leg::B, Channel::Rtp, &rtp(0, &[])),
            Verdict::Drop(DropReason::Direction)
        );
        assert!(matches!(
            t.decide(Leg::B, Channel::Rtcp, &[0x80, 201, 0, 1]),
            Verdict::Forward(_)
        ));
        t.set_direction(Leg::A, Direction::RecvOnly);
        assert!(matches!(
            t.decide(Leg::B, Channel::Rtp, &rtp(0, &[])),
            Verdict::Forward(_)
        ));
        assert!(matches!(
            t.decide(Leg::A, Channel::Rtp, &rtp(0, &[])),
            Verdict::Drop(_)
        ));
        t.set_direction(Leg::A, Direction::Inactive);
        assert!(matches!(
            t.decide(Leg::B, Channel::Rtp, &rtp(0, &[])),
            Verdict::Drop(_)
        ));
        assert!(matches!(
            t.decide(Leg::A, Channel::Rtp, &rtp(0, &[])),
            Verdict::Drop(_)
        ));
    }

    #[test]
    fn c23_events_above_15_dropped_and_payload_types_mapped() {
        let mut t = table();
        t.set_payload_types(
            Leg::A,
            PayloadTypes {
                telephone_event: Some(101),
            },
        )
        .unwrap();
        t.set_payload_types(
            Leg::B,
            PayloadTypes {
                telephone_event: Some(96),
            },
        )
        .unwrap();
        let f = forward(t.decide(Leg::A, Channel::Rtp, &rtp(101, &[15, 0x80, 0, 160])));
        assert_eq!(
            (f.kind, f.rewrite_payload_type),
            (Kind::TelephoneEvent, Some(96))
        );
        assert_eq!(
            t.decide(Leg::A, Channel::Rtp, &rtp(101, &[16, 0, 0, 160])),
            Verdict::Drop(DropReason::EventNotAllowed(16))
        );
        assert!(matches!(
            t.decide(Leg::A, Channel::Rtp, &rtp(101, &[1])),
            Verdict::Drop(DropReason::MalformedEvent(_))
        ));
        t.set_payload_types(
            Leg::B,
            PayloadTypes {
                telephone_event: Some(101),
            },
        )
        .unwrap();
        let f = forward(t.decide(Leg::A, Channel::Rtp, &rtp(101, &[5, 0, 0, 160])));
        assert_eq!(f.rewrite_payload_type, None);
        assert_eq!(
            t.set_payload_types(
                Leg::B,
                PayloadTypes {
                    telephone_event: Some(200)
                }
            ),
            Err(PeerError::BadPayloadType(200))
        );
    }

    #[test]
    fn c24_well_known_peer_ports_refused() {
        let mut t = ForwardTable::new();
        assert_eq!(
            t.set_peer(Leg::A, addr("192.0.2.1:1023"), None),
            Err(PeerError::WellKnownPort(1023))
        );
        assert_eq!(
            t.set_peer(Leg::A, addr("192.0.2.1:4000"), Some(addr("192.0.2.1:0"))),
            Err(PeerError::WellKnownPort(0))
        );
        assert!(t.set_peer(Leg::A, addr("192.0.2.1:65535"), None).is_err());
        assert_eq!(t.peer(Leg::A), None);
    }

    #[test]
    fn malformed_packets_dropped() {
        let t = table();
        assert!(matches!(
            t.decide(Leg::A, Channel::Rtp, &[0x40; 20]),
            Verdict::Drop(DropReason::Malformed(RtpError::BadVersion(1)))
        ));
        assert!(matches!(
            t.decide(Leg::A, Channel::Rtcp, &rtp(0, &[])),
            Verdict::Drop(DropReason::Malformed(_))
        ));
    }
}
