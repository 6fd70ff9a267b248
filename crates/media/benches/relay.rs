//! Relay throughput: a sender thread blasts 172-byte RTP packets (12-byte
//! header, 160 bytes of G.711) over loopback into leg A of one or many
//! sessions, the relay forwards them out of leg B to a receiver thread, and
//! the relay's CPU time (its I/O thread's, from /proc/self/task/*/schedstat)
//! gives packets per CPU-second: the "per core" figure of issue 3.
//!
//! With `MEDIA_BENCH_FLOOR=1` the same blast also goes through the floor
//! forwarder (see `start_floor`): the kernel's own cost per relayed packet,
//! which no relay goes below.
//!
//! With `MEDIA_BENCH_RTPENGINE=NG_ADDR,PID` the same blast also goes
//! through a running rtpengine (sessions made by offer and answer over its
//! ng control protocol, bencode over UDP; its CPU from /proc/PID/stat, all
//! threads; its count is what the receiver got): bench/call_load.sh starts
//! one in userspace mode and passes it.
//!
//! Run: `cargo bench -p media --bench relay`
//! Knobs (environment): `MEDIA_BENCH_SECS` (default 3),
//! `MEDIA_BENCH_SESSIONS` (comma-separated list, default `1,100`),
//! `MEDIA_BENCH_RTPENGINE` (above), `MEDIA_BENCH_PPS` (the sender's rate,
//! default 0: as fast as it can; a rate both relays keep up with compares
//! their CPU per packet without one of them dropping most of the blast).

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

/// CPU time of this process's threads whose name starts with `prefix`
/// (Locus's relay forwards on its own I/O threads, `media-relay-N`).
fn threads_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

struct Outcome {
    sent: u64,
    /// Packets the relay counted as forwarded (Locus: its leg statistics;
    /// rtpengine: what the receiver got, it keeps no per-session count here).
    forwarded: u64,
    received: u64,
    relay_cpu: Duration,
    wall: Duration,
}

/// What relays the blast: Locus's relay in a thread of this process, or a
/// running rtpengine daemon driven over its ng control protocol.
#[derive(Clone, Copy)]
enum Subject {
    Locus,
    Rtpengine { ng: SocketAddr, pid: u32 },
    Floor,
}

/// The relay side of one run, started: where the sender sends, and how to
/// stop it and read its count and CPU time.
enum Running {
    /// Locus's relay, or the floor forwarder: a thread of this process.
    Locus {
        thread: std::thread::JoinHandle<(u64, Duration)>,
        start: Option<tokio::sync::oneshot::Sender<()>>,
        stop: tokio::sync::oneshot::Sender<()>,
    },
    Rtpengine {
        ng: SocketAddr,
        pid: u32,
        calls: Vec<String>,
        cpu0: Duration,
    },
}

fn start_locus(sessions: usize, a: SocketAddr, b: SocketAddr) -> (Vec<SocketAddr>, Running) {
    let (addrs_tx, addrs_rx) = mpsc::channel::<Vec<SocketAddr>>();
    let (start_tx, start_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
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
                    // One thread: the figure is per core.
                    threads: 1,
                    ..RelayConfig::default()
                })
                .unwrap();
                let sessions: Vec<_> = (0..sessions)
                    .map(|_| {
                        let s = relay.allocate_session().unwrap();
                        s.set_peer(Leg::A, a, None).unwrap();
                        s.set_peer(Leg::B, b, None).unwrap();
                        s
                    })
                    .collect();
                addrs_tx
                    .send(sessions.iter().map(|s| s.leg_a.local_rtp_addr()).collect())
                    .unwrap();
                start_rx.await.unwrap();
                let cpu0 = threads_cpu_ns("media-relay");
                stop_rx.await.unwrap();
                let cpu = threads_cpu_ns("media-relay") - cpu0;
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
    (
        targets,
        Running::Locus {
            thread,
            start: Some(start_tx),
            stop: stop_tx,
        },
    )
}

/// The floor: the least a user-space relay can do per packet here. One
/// thread, a level-triggered epoll over two sockets per session (one each
/// way, both watched, as a symmetric relay's are), and per packet one
/// `recv` and one `sendto` out of the other socket, as raw syscalls
/// (rustix): no runtime, no forwarding decision, no counters. What
/// it spends is the kernel's cost of moving a datagram through a relay on
/// this machine (on loopback the `sendto` also delivers the datagram to the
/// receiver's socket), which no relay goes below.
fn start_floor(sessions: usize, b: SocketAddr) -> (Vec<SocketAddr>, Running) {
    use rustix::event::epoll;
    let (start_tx, start_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ins: Vec<UdpSocket> = (0..sessions)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let outs: Vec<UdpSocket> = (0..sessions)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let targets = ins.iter().map(|s| s.local_addr().unwrap()).collect();
    let thread = std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
            for (i, s) in ins.iter().enumerate() {
                s.set_nonblocking(true).unwrap();
                epoll::add(
                    &ep,
                    s,
                    epoll::EventData::new_u64(i as u64),
                    epoll::EventFlags::IN,
                )
                .unwrap();
            }
            // Symmetric RTP (C25) sends out of the socket that receives from
            // that peer: the sending sockets are watched too (nothing comes
            // in on them here, but each send wakes their wait queue, as in
            // any symmetric relay).
            for s in &outs {
                epoll::add(
                    &ep,
                    s,
                    epoll::EventData::new_u64(u64::MAX),
                    epoll::EventFlags::IN,
                )
                .unwrap();
            }
            let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
            let mut buf = [0u8; 2048];
            let mut forwarded = 0u64;
            start_rx.blocking_recv().unwrap();
            let cpu0 = thread_cpu_ns();
            let timeout = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 10_000_000,
            };
            while stop_rx.try_recv().is_err() {
                events.clear();
                let spare = rustix::buffer::spare_capacity(&mut events);
                epoll::wait(&ep, spare, Some(&timeout)).unwrap();
                for ev in &events {
                    let i = ev.data.u64() as usize;
                    let Some(inp) = ins.get(i) else {
                        continue;
                    };
                    let flags = rustix::net::RecvFlags::empty();
                    if let Ok((n, _)) = rustix::net::recv(inp, &mut buf[..], flags) {
                        let sent = rustix::net::sendto(
                            &outs[i],
                            &buf[..n],
                            rustix::net::SendFlags::empty(),
                            &b,
                        );
                        forwarded += u64::from(sent.is_ok());
                    }
                }
            }
            (forwarded, Duration::from_nanos(thread_cpu_ns() - cpu0))
        })
        .unwrap();
    (
        targets,
        Running::Locus {
            thread,
            start: Some(start_tx),
            stop: stop_tx,
        },
    )
}

/// A bencode byte string.
fn bstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(format!("{}:{s}", s.len()).as_bytes());
}

/// One ng command (a bencoded dictionary behind a cookie) and the `sdp`
/// string of rtpengine's answer.
fn ng(sock: &UdpSocket, ng: SocketAddr, cookie: usize, pairs: &[(&str, &str)]) -> String {
    let mut msg = format!("{cookie} d").into_bytes();
    for (k, v) in pairs {
        bstr(&mut msg, k);
        bstr(&mut msg, v);
    }
    msg.push(b'e');
    sock.send_to(&msg, ng).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = sock.recv(&mut buf).expect("rtpengine answers ng commands");
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(reply.contains("6:result2:ok"), "rtpengine: {reply}");
    // "3:sdp<len>:<sdp>": the SDP is the string after the key.
    match reply.find("3:sdp") {
        Some(i) => {
            let rest = &reply[i + 5..];
            let colon = rest.find(':').unwrap();
            let len: usize = rest[..colon].parse().unwrap();
            rest[colon + 1..colon + 1 + len].to_owned()
        }
        None => String::new(),
    }
}

fn sdp_for(addr: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

/// The m= port and c= address of an SDP rtpengine wrote.
fn media_addr(sdp: &str) -> SocketAddr {
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line")
        .trim();
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .expect("m= line")
        .trim();
    format!("{ip}:{port}").parse().unwrap()
}

/// CPU time (utime + stime, every thread) of a process, from /proc.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("rtpengine runs");
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // After the ")": state is field 0, utime 11, stime 12 (clock ticks of
    // 1/100 s on Linux).
    let ticks = |i: usize| f[i].parse::<u64>().expect("a tick count");
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Sessions in rtpengine over ng: offer from A (the sender), answer from B
/// (the receiver); A's packets go to the port rtpengine wrote in the
/// answer's SDP (the one toward A) and come out toward B.
fn start_rtpengine(
    sessions: usize,
    ngaddr: SocketAddr,
    pid: u32,
    a: SocketAddr,
    b: SocketAddr,
) -> (Vec<SocketAddr>, Running) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let tag = std::process::id();
    let mut targets = Vec::with_capacity(sessions);
    let mut calls = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let call = format!("relay-bench-{tag}-{i}");
        ng(
            &sock,
            ngaddr,
            2 * i,
            &[
                ("call-id", &call),
                ("command", "offer"),
                ("from-tag", "a"),
                ("sdp", &sdp_for(a)),
            ],
        );
        let toward_a = ng(
            &sock,
            ngaddr,
            2 * i + 1,
            &[
                ("call-id", &call),
                ("command", "answer"),
                ("from-tag", "a"),
                ("sdp", &sdp_for(b)),
                ("to-tag", "b"),
            ],
        );
        targets.push(media_addr(&toward_a));
        calls.push(call);
    }
    let cpu0 = process_cpu(pid);
    (
        targets,
        Running::Rtpengine {
            ng: ngaddr,
            pid,
            calls,
            cpu0,
        },
    )
}

/// `pps`: packets per second the sender holds to (0: as fast as it can).
fn run(subject: Subject, sessions: usize, secs: u64, pps: u64) -> Outcome {
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

    let (targets, mut running) = match subject {
        Subject::Locus => start_locus(sessions, sender_addr, receiver_addr),
        Subject::Floor => start_floor(sessions, receiver_addr),
        Subject::Rtpengine { ng, pid } => {
            start_rtpengine(sessions, ng, pid, sender_addr, receiver_addr)
        }
    };

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

    if let Running::Locus { start, .. } = &mut running {
        start.take().unwrap().send(()).unwrap();
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut packet = [0u8; PACKET_LEN];
    packet[0] = 0x80;
    packet[8..12].copy_from_slice(&0x5eed_u32.to_be_bytes());
    let mut sent = 0u64;
    let mut seq = 0u16;
    let mut ts = 0u32;
    'blast: loop {
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        packet[4..8].copy_from_slice(&ts.to_be_bytes());
        for target in &targets {
            if sender.send_to(&packet, target).is_ok() {
                sent += 1;
            }
        }
        if sent % 1024 < targets.len() as u64 && Instant::now() >= deadline {
            break 'blast;
        }
        if pps > 0 {
            // Ahead of the rate: wait until the clock catches up.
            let due = started + Duration::from_secs_f64(sent as f64 / pps as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    let wall = started.elapsed();
    // Let the relay drain what is queued, then stop it.
    std::thread::sleep(Duration::from_millis(100));
    let (forwarded, relay_cpu) = match running {
        Running::Locus { thread, stop, .. } => {
            stop.send(()).unwrap();
            let (forwarded, cpu) = thread.join().unwrap();
            (Some(forwarded), cpu)
        }
        Running::Rtpengine {
            ng: ngaddr,
            pid,
            calls,
            cpu0,
        } => {
            let cpu = process_cpu(pid) - cpu0;
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for (i, call) in calls.iter().enumerate() {
                ng(
                    &sock,
                    ngaddr,
                    1_000_000 + i,
                    &[("call-id", call), ("command", "delete"), ("from-tag", "a")],
                );
            }
            (None, cpu)
        }
    };
    stop.store(true, Ordering::Relaxed);
    recv_thread.join().unwrap();
    let received = received.load(Ordering::Relaxed);
    Outcome {
        sent,
        forwarded: forwarded.unwrap_or(received),
        received,
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
    let pps: u64 = std::env::var("MEDIA_BENCH_PPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // "NG_ADDR,PID" of a running rtpengine: the same blast through it.
    let mut subjects = vec![("locus", Subject::Locus)];
    if std::env::var_os("MEDIA_BENCH_FLOOR").is_some_and(|v| v != "0") {
        subjects.push(("floor", Subject::Floor));
    }
    if let Ok(v) = std::env::var("MEDIA_BENCH_RTPENGINE") {
        let (ng, pid) = v
            .split_once(',')
            .expect("MEDIA_BENCH_RTPENGINE=NG_ADDR,PID");
        subjects.push((
            "rtpengine",
            Subject::Rtpengine {
                ng: ng.parse().expect("NG_ADDR"),
                pid: pid.parse().expect("PID"),
            },
        ));
    }
    let rate = match pps {
        0 => "as fast as the sender can".to_owned(),
        n => format!("{n} packets/s"),
    };
    println!("media relay: {PACKET_LEN}-byte RTP over 127.0.0.1, {secs} s per run, {rate}");
    for n in sessions {
        for (name, subject) in &subjects {
            let o = run(*subject, n, secs, pps);
            let cpu = o.relay_cpu.as_secs_f64();
            println!(
                "{name:<9} sessions {n:>5}: sent {:>9}  forwarded {:>9}  received {:>9}  wall {:>9.0} pkt/s  relay CPU {:.2} s = {:>9.0} pkt/s per core ({:.2} us/pkt)",
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
}
