//! Helpers the media test binaries share.

use std::net::SocketAddr;

use media::{Leg, Session};

/// The four local addresses of a session: leg A's RTP and RTCP, then leg
/// B's.
pub(crate) fn local_addrs(s: &Session) -> Vec<SocketAddr> {
    [Leg::A, Leg::B]
        .iter()
        .flat_map(|&l| [s.leg(l).local_rtp_addr(), s.leg(l).local_rtcp_addr()])
        .collect()
}
