//! The relay on real sockets over 127.0.0.1 (DESIGN.md C23-C25). Every wait
//! is bounded by a timeout; nothing sleeps a fixed time for a result.

use std::collections::HashSet;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use common::{blocking_peers, local_addrs};
use media::{
    Direction, Leg, PayloadTypes, PeerError, PortRangeError, Relay, RelayConfig, RelayError,
    Session,
};
use tokio::net::UdpSocket;
use tokio::time::timeout;

mod common;

const WAIT: Duration = Duration::from_secs(5);

/// Each test its own port range, so tests running in parallel never race
/// for a port.
fn relay(range: RangeInclusive<u16>) -> Relay {
    relay_with_pool(range, media::DEFAULT_POOL_PAIRS, Duration::ZERO)
}

fn relay_with_pool(range: RangeInclusive<u16>, pool_pairs: usize, quarantine: Duration) -> Relay {
    Relay::new(RelayConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_range: range,
        inactivity_timeout: Duration::from_secs(60),
        pool_pairs,
        pool_quarantine: quarantine,
        ..RelayConfig::default()
    })
    .unwrap()
}

async fn peer() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().unwrap()
}

fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn audio(seq: u16) -> Vec<u8> {
    rtp(0, seq, &[0xd5; 160])
}

async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("no packet within the timeout")
        .unwrap();
    buf.truncate(n);
    (buf, from)
}

async fn send(socket: &UdpSocket, packet: &[u8], to: SocketAddr) {
    socket.send_to(packet, to).await.unwrap();
}

/// Polls `cond` until it holds, within [`WAIT`].
async fn wait_until(mut cond: impl FnMut() -> bool) {
    timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("condition not reached within the timeout");
}

fn assert_nothing_queued(socket: &UdpSocket) {
    let mut buf = [0u8; 2048];
    match socket.try_recv_from(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("unexpected packet or error: {other:?}"),
    }
}

/// A session with both peers known (one socket each for RTP, RTCP on the
/// RTP port + 1 is not bound).
async fn call(relay: &Relay) -> (Session, UdpSocket, UdpSocket) {
    let session = relay.allocate_session().unwrap();
    let (a, b) = (peer().await, peer().await);
    session.set_peer(Leg::A, addr(&a), None).unwrap();
    session.set_peer(Leg::B, addr(&b), None).unwrap();
    (session, a, b)
}

async fn bounded<F: Future>(f: F) -> F::Output {
    timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

#[tokio::test]
async fn c25_symmetric_rtp_sends_from_the_receiving_port() {
    bounded(async {
        let relay = relay(31000..=31099);
        let (session, a, b) = call(&relay).await;
        let (relay_a, relay_b) = (
            session.leg_a.local_rtp_addr(),
            session.leg_b.local_rtp_addr(),
        );
        assert_ne!(relay_a, relay_b);

        // B sends to the relay's B port, and A's packets reach B from there.
        send(&b, &audio(1), relay_b).await;
        let (got, from) = recv(&a).await;
        assert_eq!((got, from), (audio(1), relay_a));
        send(&a, &audio(2), relay_a).await;
        let (got, from) = recv(&b).await;
        assert_eq!(got, audio(2));
        assert_eq!(
            from, relay_b,
            "C25: B receives A's stream from the port B sends to"
        );

        assert_eq!(session.stats(Leg::A).forwarded, 1);
        assert_eq!(session.stats(Leg::B).forwarded, 1);
        assert_eq!(session.stats(Leg::A).rtp_bytes, 172);
    })
    .await
}

#[tokio::test]
async fn c24_no_latching_destination_comes_from_sdp() {
    bounded(async {
        let relay = relay(31100..=31199);
        let (session, a, b) = call(&relay).await;
        let stray = peer().await;
        let (relay_a, relay_b) = (
            session.leg_a.local_rtp_addr(),
            session.leg_b.local_rtp_addr(),
        );

        // A's media arrives from a port that is not in A's SDP: still
        // forwarded (Genesys accepts RTP from any address) ...
        for seq in 1..=3 {
            send(&stray, &audio(seq), relay_a).await;
            assert_eq!(recv(&b).await, (audio(seq), relay_b));
        }
        // ... and B's media still goes to the SDP address, not the source.
        for seq in 10..=12 {
            send(&b, &audio(seq), relay_b).await;
            assert_eq!(recv(&a).await, (audio(seq), relay_a));
        }
        assert_nothing_queued(&stray);
        assert_eq!(session.peer(Leg::A).unwrap().0, addr(&a));

        // A new SDP is the only thing that moves the destination.
        session.set_peer(Leg::A, addr(&stray), None).unwrap();
        send(&b, &audio(13), relay_b).await;
        assert_eq!(recv(&stray).await, (audio(13), relay_a));
        assert_nothing_queued(&a);
    })
    .await
}

#[tokio::test]
async fn c23_rfc4733_events_pass_through() {
    bounded(async {
        let relay = relay(31200..=31299);
        let (session, a, b) = call(&relay).await;
        let te = PayloadTypes {
            telephone_event: Some(101),
        };
        session.set_payload_types(Leg::A, te).unwrap();
        session.set_payload_types(Leg::B, te).unwrap();
        let relay_a = session.leg_a.local_rtp_addr();

        // RFC 4733 section 2.5: digit 9 starts with the marker, grows, and
        // ends with three end packets; volume 10.
        let events = [
            rtp(0x80 | 101, 1, &[9, 10, 0, 160]),
            rtp(101, 2, &[9, 10, 1, 64]),
            rtp(101, 3, &[9, 0x80 | 10, 1, 224]),
            rtp(101, 4, &[9, 0x80 | 10, 1, 224]),
            rtp(101, 5, &[9, 0x80 | 10, 1, 224]),
        ];
        for e in &events {
            send(&a, e, relay_a).await;
            assert_eq!(&recv(&b).await.0, e, "byte for byte");
        }
        assert_eq!(session.stats(Leg::A).telephone_events, 5);

        // C23: event 16 (flash) is not relayed; the next digit is.
        send(&a, &rtp(101, 6, &[16, 0x80, 0, 160]), relay_a).await;
        send(&a, &rtp(101, 7, &[11, 0x80, 0, 160]), relay_a).await;
        assert_eq!(recv(&b).await.0, rtp(101, 7, &[11, 0x80, 0, 160]));
        assert_eq!(session.stats(Leg::A).dropped, 1);
    })
    .await
}

#[tokio::test]
async fn c23_telephone_event_payload_type_mapped_between_legs() {
    bounded(async {
        let relay = relay(31300..=31399);
        let (session, a, b) = call(&relay).await;
        let pt = |n| PayloadTypes {
            telephone_event: Some(n),
        };
        session.set_payload_types(Leg::A, pt(101)).unwrap();
        session.set_payload_types(Leg::B, pt(96)).unwrap();
        send(
            &a,
            &rtp(0x80 | 101, 1, &[1, 10, 0, 160]),
            session.leg_a.local_rtp_addr(),
        )
        .await;
        assert_eq!(recv(&b).await.0, rtp(0x80 | 96, 1, &[1, 10, 0, 160]));
    })
    .await
}

#[tokio::test]
async fn c24_ports_never_below_1024() {
    for range in [0..=65535, 1..=2000, 1023..=40000] {
        let err = Relay::new(RelayConfig {
            port_range: range,
            ..RelayConfig::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                RelayError::Config(PortRangeError::WellKnownPorts { .. })
            ),
            "{err}"
        );
    }
    bounded(async {
        let relay = relay(31400..=31499);
        let session = relay.allocate_session().unwrap();
        for leg in [Leg::A, Leg::B] {
            let port = session.leg(leg).local_rtp_addr().port();
            assert!((31400..=31498).contains(&port) && port.is_multiple_of(2));
        }
        // Peer ports from an SDP are refused below 1024 too.
        assert_eq!(
            session.set_peer(
                Leg::A,
                "192.0.2.1:5004".parse().unwrap(),
                Some("192.0.2.1:80".parse().unwrap())
            ),
            Err(PeerError::WellKnownPort(80))
        );
        assert_eq!(session.peer(Leg::A), None);
    })
    .await
}

#[tokio::test]
async fn rtcp_relayed_on_port_plus_one() {
    bounded(async {
        let relay = relay(31500..=31599);
        let session = relay.allocate_session().unwrap();
        for leg in [Leg::A, Leg::B] {
            let l = session.leg(leg);
            assert_eq!(l.local_rtcp_addr().port(), l.local_rtp_addr().port() + 1);
        }
        let (a_rtp, a_rtcp, b_rtp, b_rtcp) =
            (peer().await, peer().await, peer().await, peer().await);
        session
            .set_peer(Leg::A, addr(&a_rtp), Some(addr(&a_rtcp)))
            .unwrap();
        session
            .set_peer(Leg::B, addr(&b_rtp), Some(addr(&b_rtcp)))
            .unwrap();
        let rr = [
            0x81, 201, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
            3, 0, 0, 0, 4,
        ];
        send(&a_rtcp, &rr, session.leg_a.local_rtcp_addr()).await;
        assert_eq!(
            recv(&b_rtcp).await,
            (rr.to_vec(), session.leg_b.local_rtcp_addr())
        );
        send(&b_rtcp, &rr, session.leg_b.local_rtcp_addr()).await;
        assert_eq!(
            recv(&a_rtcp).await,
            (rr.to_vec(), session.leg_a.local_rtcp_addr())
        );
        assert_eq!(session.stats(Leg::A).rtcp_packets, 1);

        // RFC 5761 rtcp-mux on leg B: RTCP toward B leaves from B's RTP port.
        session
            .set_peer(Leg::B, addr(&b_rtp), Some(addr(&b_rtp)))
            .unwrap();
        send(&a_rtcp, &rr, session.leg_a.local_rtcp_addr()).await;
        assert_eq!(
            recv(&b_rtp).await,
            (rr.to_vec(), session.leg_b.local_rtp_addr())
        );
        // ... and B's muxed RTCP reaches A's RTCP address.
        send(&b_rtp, &rr, session.leg_b.local_rtp_addr()).await;
        assert_eq!(
            recv(&a_rtcp).await,
            (rr.to_vec(), session.leg_a.local_rtcp_addr())
        );
    })
    .await
}

#[tokio::test]
async fn hold_sendonly_stops_one_direction() {
    bounded(async {
        let relay = relay(31600..=31699);
        let (session, a, b) = call(&relay).await;
        let (relay_a, relay_b) = (
            session.leg_a.local_rtp_addr(),
            session.leg_b.local_rtp_addr(),
        );
        session.hold(Leg::A);
        assert_eq!(session.direction(Leg::A), Direction::SendOnly);

        // A (on hold, sendonly) still sends its music on hold to B ...
        send(&a, &audio(1), relay_a).await;
        assert_eq!(recv(&b).await.0, audio(1));
        // ... but nothing goes toward A.
        send(&b, &audio(2), relay_b).await;
        wait_until(|| session.stats(Leg::B).dropped == 1).await;
        session.resume(Leg::A);
        send(&b, &audio(3), relay_b).await;
        assert_eq!(recv(&a).await.0, audio(3), "the held packet never arrives");

        session.set_direction(Leg::B, Direction::Inactive);
        send(&a, &audio(4), relay_a).await;
        send(&b, &audio(5), relay_b).await;
        wait_until(|| session.stats(Leg::A).dropped == 1 && session.stats(Leg::B).dropped == 2)
            .await;
        assert_nothing_queued(&a);
        assert_nothing_queued(&b);
    })
    .await
}

#[tokio::test]
async fn early_media_forwards_once_the_destination_is_known() {
    bounded(async {
        let relay = relay(31700..=31799);
        let session = relay.allocate_session().unwrap();
        let (a, b) = (peer().await, peer().await);
        // Only the caller's offer is known; the callee sends early media.
        session.set_peer(Leg::A, addr(&a), None).unwrap();
        send(&b, &audio(1), session.leg_b.local_rtp_addr()).await;
        assert_eq!(recv(&a).await.0, audio(1));
        // Toward B nothing can go yet.
        send(&a, &audio(2), session.leg_a.local_rtp_addr()).await;
        wait_until(|| session.stats(Leg::A).dropped == 1).await;
        session.set_peer(Leg::B, addr(&b), None).unwrap();
        send(&a, &audio(3), session.leg_a.local_rtp_addr()).await;
        assert_eq!(recv(&b).await.0, audio(3));
    })
    .await
}

#[tokio::test]
async fn inactivity_detection() {
    bounded(async {
        let relay = relay(31800..=31899);
        let (session, a, b) = call(&relay).await;
        let start = Instant::now();
        assert!(session.stats(Leg::A).last_activity.is_none());
        assert!(!session.is_inactive(start));
        assert!(session.is_inactive(start + Duration::from_secs(61)));
        assert!(session.idle_for(start + Duration::from_secs(61)) >= Duration::from_secs(61));

        send(&a, &audio(1), session.leg_a.local_rtp_addr()).await;
        recv(&b).await;
        let seen = session
            .stats(Leg::A)
            .last_activity
            .expect("activity recorded");
        assert!(seen >= start);
        assert_eq!(session.last_activity(), seen);
        assert!(session.stats(Leg::B).last_activity.is_none());
        assert!(!session.is_inactive(seen + Duration::from_secs(59)));
        assert!(session.is_inactive(seen + Duration::from_secs(60)));
        assert_eq!(
            session.idle_for(seen + Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    })
    .await
}

#[tokio::test]
async fn close_frees_the_ports() {
    bounded(async {
        // No pool: the sockets close with the session.
        let relay = relay_with_pool(31900..=31999, 0, Duration::ZERO);
        let session = relay.allocate_session().unwrap();
        let addrs = local_addrs(&session);
        assert_eq!(relay.ports_in_use(), 2);
        for a in &addrs {
            assert!(StdUdpSocket::bind(a).is_err(), "{a} is held");
        }
        session.close().await;
        assert_eq!(relay.ports_in_use(), 0);
        for a in &addrs {
            StdUdpSocket::bind(a).unwrap_or_else(|e| panic!("{a} not freed: {e}"));
        }
        // Dropping a session frees its ports too.
        let dropped = relay.allocate_session().unwrap();
        drop(dropped);
        wait_until(|| relay.ports_in_use() == 0).await;
    })
    .await
}

/// An RTCP receiver report (RFC 3550 section 6.4.2).
const RTCP_RR: [u8; 32] = [
    0x81, 201, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0,
    0, 4,
];

fn session_ports(s: &Session) -> Vec<u16> {
    local_addrs(s).iter().map(SocketAddr::port).collect()
}

/// The pool: a closed session's sockets stay bound for the next session
/// (no socket opened or closed per call), never shared by two live
/// sessions, and the next session sees nothing of the packets sent to the
/// previous one.
#[tokio::test]
async fn c24_pooled_ports_are_reused_without_the_previous_calls_packets() {
    bounded(async {
        // Two sessions' worth of ports; no rest in the pool: the next
        // session takes the pooled pairs at once.
        let relay = relay_with_pool(35000..=35007, 8, Duration::ZERO);
        let first = relay.allocate_session().unwrap();
        let first_ports = session_ports(&first);
        let (old_a, old_b) = (peer().await, peer().await);
        first.set_peer(Leg::A, addr(&old_a), None).unwrap();
        first.set_peer(Leg::B, addr(&old_b), None).unwrap();
        send(&old_a, &audio(1), first.leg_a.local_rtp_addr()).await;
        assert_eq!(recv(&old_b).await.0, audio(1));
        let (old_rtp, old_rtcp) = (first.leg_a.local_rtp_addr(), first.leg_a.local_rtcp_addr());
        first.close().await;
        assert_eq!((relay.ports_in_use(), relay.ports_pooled()), (0, 2));
        // Still bound by the relay: no one else takes them meanwhile.
        for p in &first_ports {
            assert!(StdUdpSocket::bind(("127.0.0.1", *p)).is_err(), "{p}");
        }
        // The old caller keeps sending (RTP and RTCP) after the hangup.
        for seq in 2..40 {
            send(&old_a, &audio(seq), old_rtp).await;
            send(&old_a, &RTCP_RR, old_rtcp).await;
        }
        let second = relay.allocate_session().unwrap();
        let mut second_ports = session_ports(&second);
        second_ports.sort_unstable();
        let mut sorted_first = first_ports.clone();
        sorted_first.sort_unstable();
        assert_eq!(second_ports, sorted_first, "the pooled pairs are reused");
        assert_eq!((relay.ports_in_use(), relay.ports_pooled()), (2, 0));
        let (new_a, new_b) = (peer().await, peer().await);
        second.set_peer(Leg::A, addr(&new_a), None).unwrap();
        second.set_peer(Leg::B, addr(&new_b), None).unwrap();
        // The new caller's first packet is the first thing either new peer
        // gets: the old call's queued packets were thrown away.
        send(&new_a, &audio(500), second.leg_a.local_rtp_addr()).await;
        assert_eq!(
            recv(&new_b).await,
            (audio(500), second.leg_b.local_rtp_addr())
        );
        send(&new_b, &audio(600), second.leg_b.local_rtp_addr()).await;
        assert_eq!(
            recv(&new_a).await,
            (audio(600), second.leg_a.local_rtp_addr())
        );
        assert_eq!(second.stats(Leg::A).rtp_packets, 1);
        assert_eq!(second.stats(Leg::A).rtcp_packets, 0);
        // Nothing else arrives at the new callee, nor at the old one.
        let mut buf = [0u8; 2048];
        assert!(
            timeout(Duration::from_millis(200), new_b.recv_from(&mut buf))
                .await
                .is_err()
        );
        assert!(
            timeout(Duration::from_millis(200), old_b.recv_from(&mut buf))
                .await
                .is_err()
        );
        // Live sessions never share a pair: the only two are taken.
        let third = relay.allocate_session().unwrap();
        let mut all: Vec<u16> = second_ports.clone();
        all.extend(session_ports(&third));
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 8);
        assert!(matches!(
            relay.allocate_session(),
            Err(RelayError::Exhausted(_))
        ));
        second.close().await;
        third.close().await;
        assert_eq!((relay.ports_in_use(), relay.ports_pooled()), (0, 4));
    })
    .await
}

/// Past `pool_pairs`, released pairs close and their ports are free again.
#[tokio::test]
async fn pool_keeps_at_most_pool_pairs() {
    bounded(async {
        let relay = relay_with_pool(35100..=35199, 1, Duration::ZERO);
        let s = relay.allocate_session().unwrap();
        let ports = session_ports(&s);
        s.close().await;
        assert_eq!((relay.ports_in_use(), relay.ports_pooled()), (0, 1));
        let free = ports
            .iter()
            .filter(|p| StdUdpSocket::bind(("127.0.0.1", **p)).is_ok())
            .count();
        assert_eq!(free, 2, "one pair closed, one pooled: {ports:?}");
    })
    .await
}

/// A released pair rests in the pool: while it does, a new session gets
/// freshly bound ports (so a hung-up peer's late media reaches no one); a
/// resting pair is used only when the range has no other.
#[tokio::test]
async fn c24_pooled_pairs_rest_before_reuse() {
    bounded(async {
        // Three sessions' worth of ports, a quarantine no test outlasts.
        let relay = relay_with_pool(35200..=35211, 8, Duration::from_secs(3600));
        let first = relay.allocate_session().unwrap();
        let mut first_ports = session_ports(&first);
        first.close().await;
        assert_eq!(relay.ports_pooled(), 2);
        let second = relay.allocate_session().unwrap();
        let second_ports = session_ports(&second);
        assert!(
            second_ports.iter().all(|p| !first_ports.contains(p)),
            "fresh ports while the released ones rest: {first_ports:?} {second_ports:?}"
        );
        assert_eq!(relay.ports_pooled(), 2);
        // The range holds one more session: fresh again; then only the
        // resting pairs are left, and they are used rather than failing.
        let third = relay.allocate_session().unwrap();
        assert_eq!(relay.ports_pooled(), 2);
        let fourth = relay.allocate_session().unwrap();
        let mut fourth_ports = session_ports(&fourth);
        fourth_ports.sort_unstable();
        first_ports.sort_unstable();
        assert_eq!(fourth_ports, first_ports);
        assert_eq!((relay.ports_in_use(), relay.ports_pooled()), (6, 0));
        assert!(matches!(
            relay.allocate_session(),
            Err(RelayError::Exhausted(_))
        ));
        for s in [second, third, fourth] {
            s.close().await;
        }
        assert_eq!(relay.ports_in_use(), 0);
    })
    .await
}

/// A pooled pair that still receives media after its rest (the old peer
/// has not stopped) rests again; a quiet one is reused.
#[tokio::test]
async fn c24_pooled_pair_still_receiving_rests_again() {
    bounded(async {
        let quarantine = Duration::from_millis(200);
        let relay = relay_with_pool(35300..=35315, 8, quarantine);
        let first = relay.allocate_session().unwrap();
        let (a_port, b_port) = (
            first.leg_a.local_rtp_addr().port(),
            first.leg_b.local_rtp_addr().port(),
        );
        let a_addr = first.leg_a.local_rtp_addr();
        first.close().await;
        let old_peer = peer().await;
        send(&old_peer, &audio(1), a_addr).await;
        tokio::time::sleep(quarantine + Duration::from_millis(100)).await;
        let second = relay.allocate_session().unwrap();
        let ports = session_ports(&second);
        assert!(
            !ports.contains(&a_port),
            "{a_port} still receiving: {ports:?}"
        );
        assert!(
            ports.contains(&b_port),
            "{b_port} quiet and rested: {ports:?}"
        );
        assert_eq!(relay.ports_pooled(), 1);
        second.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sessions_get_distinct_ports() {
    bounded(async {
        // Two I/O threads: a session's legs may be on different ones (each
        // receives on its own pairs and sends out of the other's).
        let relay = Relay::new(RelayConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            port_range: 32000..=33999,
            threads: 2,
            ..RelayConfig::default()
        })
        .unwrap();
        let sessions: Vec<Session> = (0..200)
            .map(|_| relay.allocate_session().unwrap())
            .collect();
        let mut ports = HashSet::new();
        for s in &sessions {
            for leg in [Leg::A, Leg::B] {
                let (rtp, rtcp) = (
                    s.leg(leg).local_rtp_addr().port(),
                    s.leg(leg).local_rtcp_addr().port(),
                );
                assert_eq!((rtp % 2, rtcp), (0, rtp + 1));
                assert!(ports.insert(rtp) && ports.insert(rtcp));
            }
        }
        assert_eq!(ports.len(), 800);
        assert_eq!(relay.ports_in_use(), 400);

        // They all forward at once.
        let mut peers = Vec::new();
        for s in &sessions {
            let (a, b) = (peer().await, peer().await);
            s.set_peer(Leg::A, addr(&a), None).unwrap();
            s.set_peer(Leg::B, addr(&b), None).unwrap();
            peers.push((a, b));
        }
        for (i, (s, (a, _))) in sessions.iter().zip(&peers).enumerate() {
            send(a, &audio(i as u16), s.leg_a.local_rtp_addr()).await;
        }
        for (i, (s, (_, b))) in sessions.iter().zip(&peers).enumerate() {
            assert_eq!(recv(b).await, (audio(i as u16), s.leg_b.local_rtp_addr()));
        }
        for s in sessions {
            s.close().await;
        }
        assert_eq!(relay.ports_in_use(), 0);
    })
    .await
}

#[tokio::test]
async fn exhausted_range_is_an_error_not_a_reused_port() {
    bounded(async {
        // 2 pairs: one session.
        let relay = relay(34000..=34003);
        let session = relay.allocate_session().unwrap();
        assert!(matches!(
            relay.allocate_session(),
            Err(RelayError::Exhausted(_))
        ));
        session.close().await;
        assert!(relay.allocate_session().is_ok());
    })
    .await
}

/// The relay runs its own I/O threads: a session made and used with no
/// async runtime at all forwards, and dropping it gives its ports back.
#[test]
fn sessions_need_no_runtime() {
    let relay = relay_with_pool(34100..=34199, 0, Duration::ZERO);
    let session = relay.allocate_session().unwrap();
    let (a, b) = blocking_peers(&session, WAIT);
    a.send_to(&audio(7), session.leg_a.local_rtp_addr())
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = b.recv_from(&mut buf).expect("forwarded");
    assert_eq!(
        (&buf[..n], from),
        (&audio(7)[..], session.leg_b.local_rtp_addr())
    );
    assert_eq!(relay.ports_in_use(), 2);
    drop(session);
    let deadline = Instant::now() + WAIT;
    while relay.ports_in_use() != 0 {
        assert!(Instant::now() < deadline, "ports not given back");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A pair pooled by a session on one runtime serves a session on another
/// after the first runtime is gone (the relay's threads, not the runtime,
/// watch the sockets).
#[test]
fn pooled_pair_serves_a_session_on_another_runtime() {
    let relay = relay_with_pool(34200..=34203, 2, Duration::ZERO);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first_ports = runtime().block_on(async {
        let (session, a, b) = call(&relay).await;
        send(&a, &audio(1), session.leg_a.local_rtp_addr()).await;
        assert_eq!(recv(&b).await.0, audio(1));
        let ports = session_ports(&session);
        session.close().await;
        ports
    });
    assert_eq!(relay.ports_pooled(), 2);
    runtime().block_on(bounded(async {
        let (session, a, b) = call(&relay).await;
        let mut ports = session_ports(&session);
        ports.sort_unstable();
        let mut first = first_ports.clone();
        first.sort_unstable();
        assert_eq!(ports, first, "the pooled pairs are reused");
        send(&a, &audio(2), session.leg_a.local_rtp_addr()).await;
        assert_eq!(recv(&b).await, (audio(2), session.leg_b.local_rtp_addr()));
        send(&b, &audio(3), session.leg_b.local_rtp_addr()).await;
        assert_eq!(recv(&a).await, (audio(3), session.leg_a.local_rtp_addr()));
        session.close().await;
    }));
}
