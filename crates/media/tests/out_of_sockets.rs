//! The relay when the process runs out of file descriptors (its own test
//! binary: it lowers the process's open-files limit). Calls then take
//! pooled pairs even before their rest is over, and with none pooled the
//! error says why.

use std::net::SocketAddr;
use std::time::Duration;

use media::{Leg, Relay, RelayConfig, RelayError};
use rustix::process::{getrlimit, setrlimit, Resource};
use tokio::net::UdpSocket;

/// Open file descriptors (the directory listing's own one left out).
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64 - 1)
}

async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .expect("no packet within the timeout")
        .unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn c24_out_of_file_descriptors_calls_take_resting_pooled_pairs() {
    let relay = Relay::new(RelayConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_range: 34300..=34399,
        inactivity_timeout: Duration::from_secs(60),
        pool_pairs: 16,
        // Nothing ends its rest during the test.
        pool_quarantine: Duration::from_secs(3600),
        ..RelayConfig::default()
    })
    .unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (a_addr, b_addr): (SocketAddr, SocketAddr) =
        (a.local_addr().unwrap(), b.local_addr().unwrap());

    // Room for two sessions (four sockets each) and no more.
    let saved = getrlimit(Resource::Nofile);
    let mut low = saved;
    low.current = Some(open_fds() + 8);
    setrlimit(Resource::Nofile, low).unwrap();

    let first = relay.allocate_session().unwrap();
    let second = relay.allocate_session().unwrap();
    let third = relay.allocate_session();
    assert!(
        matches!(&third, Err(RelayError::Bind { source, .. }) if source.raw_os_error() == Some(libc_emfile())),
        "{third:?}"
    );
    first.close().await;
    second.close().await;
    assert_eq!(relay.ports_pooled(), 4);

    // Out of descriptors: the resting pairs serve the next calls.
    let session = relay.allocate_session().expect("a resting pooled pair");
    let other = relay
        .allocate_session()
        .expect("another resting pooled pair");
    assert_eq!(relay.ports_pooled(), 0);
    session.set_peer(Leg::A, a_addr, None).unwrap();
    session.set_peer(Leg::B, b_addr, None).unwrap();
    let packet = b"\x80\x00\x00\x01\x00\x00\x00\xa0\x11\x22\x33\x44payload";
    a.send_to(packet, session.leg_a.local_rtp_addr())
        .await
        .unwrap();
    assert!(recv(&b).await.ends_with(b"payload"));

    setrlimit(Resource::Nofile, saved).unwrap();
    other.close().await;
    session.close().await;
}

/// EMFILE on Linux (the relay's test ports and /proc are Linux anyway).
fn libc_emfile() -> i32 {
    24
}
