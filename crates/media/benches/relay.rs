//! Relay throughput: a sender thread blasts 172-byte RTP packets (12-byte
//! header, 160 bytes of G.711) over loopback into leg A of one or many
//! sessions, the relay forwards them out of leg B to a receiver thread, and
//! the relay thread's own CPU time (from /proc/thread-self/schedstat) gives
//! packets per CPU-second: the "per core" figure of issue 3.
//!
//! Run: `cargo bench -p media --bench relay`
//! Knobs (environment): `MEDIA_BENCH_SECS` (default 3),
//! `MEDIA_BENCH_SESSIONS` (comma-separated list, default `1,100`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use media::{Leg, Relay, RelayConfig};

const PACKET_LEN: usize = 172;

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return ns;
        }
    }
    // Fallback: utime + stime in clock ticks (assumed 100 Hz).
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    f.get(10)
        .zip(f.get(11))
        .map_or(0, |(u, s)| (u + s) * 10_000_000)
}

struct Outcome {
    sent: u64,
    forwarded: u64,
    received: u64,
    relay_cpu: Duration,
    wall: Duration,
}

fn run(sessions: usize, secs: u64) -> Outcome {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&receiver)
        .set_recv_buffer_size(8 << 20)
        .ok();
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (receiver_addr, sender_addr) =
        (receiver.local_addr().unwrap(), sender.local_addr().unwrap());

    let (addrs_tx, addrs_rx) = mpsc::channel::<Vec<SocketAddr>>();
    let (start_tx, start_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let relay_thread = std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let relay = Relay::new(RelayConfig {
                    bind_ip: "127.0.0.1".parse().unwrap(),
                    port_range: 40000..=50000,
                    ..RelayConfig::default()
                })
                .unwrap();
                let sessions: Vec<_> = (0..sessions)
                    .map(|_| {
                        let s = relay.allocate_session().unwrap();
                        s.set_peer(Leg::A, sender_addr, None).unwrap();
                        s.set_peer(Leg::B, receiver_addr, None).unwrap();
                        s
                    })
                    .collect();
                addrs_tx
                    .send(sessions.iter().map(|s| s.leg_a.local_rtp_addr()).collect())
                    .unwrap();
                start_rx.await.unwrap();
                let cpu0 = thread_cpu_ns();
                stop_rx.await.unwrap();
                let cpu = thread_cpu_ns() - cpu0;
                let forwarded = sessions
                    .iter()
                    .map(|s| s.stats(Leg::A).forwarded)
                    .sum::<u64>();
                for s in sessions {
                    s.close().await;
                }
                (forwarded, Duration::from_nanos(cpu))
            })
        })
        .unwrap();
    let targets = addrs_rx.recv().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let recv_thread = {
        let (stop, received) = (Arc::clone(&stop), Arc::clone(&received));
        std::thread::Builder::new()
            .name("receiver".into())
            .spawn(move || {
                let mut buf = [0u8; 2048];
                let mut n = 0u64;
                loop {
                    match receiver.recv(&mut buf) {
                        Ok(_) => n += 1,
                        Err(_) if stop.load(Ordering::Relaxed) => break,
                        Err(_) => {}
                    }
                }
                received.store(n, Ordering::Relaxed);
            })
            .unwrap()
    };

    start_tx.send(()).unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut packet = [0u8; PACKET_LEN];
    packet[0] = 0x80;
    packet[8..12].copy_from_slice(&0x5eed_u32.to_be_bytes());
    let mut sent = 0u64;
    let mut seq = 0u16;
    'blast: loop {
        for target in &targets {
            seq = seq.wrapping_add(1);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            if sender.send_to(&packet, target).is_ok() {
                sent += 1;
            }
        }
        if sent % 1024 < targets.len() as u64 && Instant::now() >= deadline {
            break 'blast;
        }
    }
    let wall = started.elapsed();
    // Let the relay drain what is queued, then stop it.
    std::thread::sleep(Duration::from_millis(100));
    stop_tx.send(()).unwrap();
    let (forwarded, relay_cpu) = relay_thread.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    recv_thread.join().unwrap();
    Outcome {
        sent,
        forwarded,
        received: received.load(Ordering::Relaxed),
        relay_cpu,
        wall,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs = std::env::var("MEDIA_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let sessions: Vec<usize> = std::env::var("MEDIA_BENCH_SESSIONS")
        .unwrap_or_else(|_| "1,100".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    println!("media relay: {PACKET_LEN}-byte RTP over 127.0.0.1, {secs} s per run");
    for n in sessions {
        let o = run(n, secs);
        let cpu = o.relay_cpu.as_secs_f64();
        println!(
            "sessions {n:>5}: sent {:>9}  forwarded {:>9}  received {:>9}  wall {:>9.0} pkt/s  relay CPU {:.2} s = {:>9.0} pkt/s per core ({:.2} us/pkt)",
            o.sent,
            o.forwarded,
            o.received,
            o.forwarded as f64 / o.wall.as_secs_f64(),
            cpu,
            o.forwarded as f64 / cpu,
            cpu * 1e6 / o.forwarded as f64,
        );
    }
}
