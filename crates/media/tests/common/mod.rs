//! Helpers the media test binaries share.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use media::{Leg, Session};

/// The four local addresses of a session: leg A's RTP and RTCP, then leg
/// B's.
pub(crate) fn local_addrs(s: &Session) -> Vec<SocketAddr> {
    [Leg::A, Leg::B]
        .iter()
        .flat_map(|&l| [s.leg(l).local_rtp_addr(), s.leg(l).local_rtcp_addr()])
        .collect()
}

/// Two blocking peers on 127.0.0.1 (B's receives time out after `wait`),
/// set as the session's leg A and leg B peers: for tests without a runtime.
pub(crate) fn blocking_peers(s: &Session, wait: Duration) -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(wait)).unwrap();
    s.set_peer(Leg::A, a.local_addr().unwrap(), None).unwrap();
    s.set_peer(Leg::B, b.local_addr().unwrap(), None).unwrap();
    (a, b)
}
