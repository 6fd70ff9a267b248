//! The relay's I/O threads live exactly as long as the relay and its
//! sessions (its own test binary: it counts this process's threads).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{blocking_peers, local_addrs};
use media::{Relay, RelayConfig, RelayError};
use rustix::process::{getrlimit, setrlimit, Resource};

mod common;

const WAIT: Duration = Duration::from_secs(5);

/// This process's threads named `media-relay-N`.
fn relay_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("media-relay-"))
        })
        .count()
}

fn wait_for_threads(n: usize) {
    let deadline = Instant::now() + WAIT;
    while relay_threads() != n {
        assert!(
            Instant::now() < deadline,
            "{} relay threads, expected {n}",
            relay_threads()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn config(threads: usize) -> RelayConfig {
    RelayConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_range: 36000..=36099,
        threads,
        ..RelayConfig::default()
    }
}

/// Open file descriptors (the directory listing's own one left out).
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64 - 1)
}

/// One test (it counts this process's threads and lowers its open-files
/// limit, so nothing may run beside it).
#[test]
fn threads_end_with_the_relay_and_its_last_session() {
    assert_eq!(relay_threads(), 0);

    // Room for one thread's epoll and eventfd, not three: the error says
    // why, and the thread that did start ends with the failed relay.
    let saved = getrlimit(Resource::Nofile);
    let mut low = saved;
    low.current = Some(open_fds() + 2);
    setrlimit(Resource::Nofile, low).unwrap();
    let failed = Relay::new(config(3));
    setrlimit(Resource::Nofile, saved).unwrap();
    assert!(
        matches!(&failed, Err(RelayError::Threads(e)) if e.raw_os_error() == Some(24)),
        "{failed:?}"
    );
    wait_for_threads(0);

    let relay = Relay::new(config(3)).unwrap();
    wait_for_threads(3);

    // A session outlives the relay handle and still forwards.
    let session = relay.allocate_session().unwrap();
    drop(relay);
    let (a, b) = blocking_peers(&session, WAIT);
    let packet = b"\x80\x00\x00\x01\x00\x00\x00\xa0\x11\x22\x33\x44payload";
    a.send_to(packet, session.leg_a.local_rtp_addr()).unwrap();
    let mut buf = [0u8; 64];
    let n = b
        .recv(&mut buf)
        .expect("forwarded after the relay handle is gone");
    assert_eq!(&buf[..n], packet);
    assert_eq!(relay_threads(), 3);

    // The last session gone, the threads end and the ports are free.
    let ports = local_addrs(&session);
    drop(session);
    wait_for_threads(0);
    for p in ports {
        UdpSocket::bind(p).unwrap_or_else(|e| panic!("{p} still bound: {e}"));
    }
}
