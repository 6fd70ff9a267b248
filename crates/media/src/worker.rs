//! The relay's I/O threads: each owns a level-triggered epoll over the
//! sockets of the port pairs assigned to it and forwards packets with one
//! `recv` and one `sendto` each.
//!
//! Why not Tokio tasks (as the relay first had): the relay benchmark's
//! floor forwarder (crates/media/benches/relay.rs, `MEDIA_BENCH_FLOOR=1`)
//! moves a packet for 1.86 us of CPU on the development machine, the
//! Tokio relay spent 2.72 us: per packet it read each socket until
//! `EAGAIN` (edge-triggered readiness needs that third syscall), went
//! through glibc's cancellable `recv`/`sendto` wrappers, and woke and
//! polled a task. Here readiness is level-triggered (a socket with more
//! queued is reported again by the next `epoll_wait`, so nothing is read
//! twice to learn it is empty), the syscalls are rustix's direct ones, and
//! the forwarding decision is a table lookup by the event's token.
//!
//! A pair is registered once, when bound, and stays registered while it
//! rests in the pool (packets reaching it then are read and thrown away,
//! and their time noted for the pool's quarantine); sessions attach to and
//! detach from pairs by commands the thread takes between batches.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::net::{RecvFlags, SendFlags};

use crate::forward::{Channel, ForwardTable, Kind, Leg, Verdict};
use crate::ports::PortAllocator;
use crate::relay::{bump, nanos_since, LocalLeg, RelayInner, Shared};
use crate::rtp::is_rtcp;

/// Size of the receive buffer: the largest UDP payload, so nothing is ever
/// cut short. One per thread.
const RECV_BUF_LEN: usize = 65_536;

/// Events taken from one `epoll_wait`.
const EVENTS: usize = 256;

/// How long a thread sleeps with nothing to do before it looks at its
/// commands anyway (a dropped session's detach waits at most this long;
/// `Session::close` wakes the thread at once).
const TICK: Duration = Duration::from_millis(20);

/// The token of a thread's wake-up eventfd (pairs use `slot << 1 | rtcp`).
const WAKE: u64 = u64::MAX;

/// A bound RTP/RTCP pair. Shared by the thread that receives on it (its
/// slot), the thread that sends out of it (the other leg's slot) and the
/// pool; its port goes back to the allocator when the last holder drops it
/// (the sockets are closed then).
#[derive(Debug)]
pub(crate) struct PairIo {
    pub(crate) rtp: UdpSocket,
    pub(crate) rtcp: UdpSocket,
    /// The RTP port (RTCP is the next).
    pub(crate) port: u16,
    pub(crate) local: LocalLeg,
    /// The I/O thread whose epoll the sockets are registered with.
    pub(crate) worker: usize,
    /// When a packet last reached the pair with no session attached
    /// (nanoseconds from the relay epoch, 0: never).
    pub(crate) stray_ns: AtomicU64,
    pub(crate) ports: Arc<Mutex<PortAllocator>>,
}

impl PairIo {
    fn socket(&self, channel: Channel) -> &UdpSocket {
        match channel {
            Channel::Rtp => &self.rtp,
            Channel::Rtcp => &self.rtcp,
        }
    }
}

impl Drop for PairIo {
    fn drop(&mut self) {
        // The sockets close right after this: the port is free.
        self.ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .release(self.port);
    }
}

/// What a thread is asked to do, between two batches of packets.
pub(crate) enum Command {
    /// Register a newly bound pair with this thread's epoll.
    Register(Arc<PairIo>),
    /// `io` (registered here) is `leg` of a session from now on; packets
    /// for the other leg go out of `other`.
    Attach {
        io: Arc<PairIo>,
        leg: Leg,
        other: Arc<PairIo>,
        shared: Arc<Shared>,
    },
    /// The pair of `port` leaves its session: into the pool or closed;
    /// `done` is dropped once that is over.
    Detach {
        port: u16,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    },
    /// The pooled pair of `port` is closed (it was flooded while resting).
    Close { port: u16 },
}

/// One I/O thread as the rest of the relay sees it.
#[derive(Debug)]
pub(crate) struct Worker {
    epoll: OwnedFd,
    wake: OwnedFd,
    commands: Mutex<Vec<Command>>,
    /// Commands are waiting: the thread takes them before its next packet
    /// on an unattached pair and at each wake-up.
    pending: AtomicBool,
    stop: AtomicBool,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Register(io) => write!(f, "Register({})", io.port),
            Command::Attach { io, leg, .. } => write!(f, "Attach({}, {leg:?})", io.port),
            Command::Detach { port, .. } => write!(f, "Detach({port})"),
            Command::Close { port } => write!(f, "Close({port})"),
        }
    }
}

impl Worker {
    /// A thread named `media-relay-N` serving `relay`'s pairs in
    /// `base_port..`.
    pub(crate) fn spawn(
        index: usize,
        relay: Weak<RelayInner>,
        base_port: u16,
        epoch: Instant,
    ) -> io::Result<Arc<Worker>> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN,
        )?;
        let worker = Arc::new(Worker {
            epoll,
            wake,
            commands: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let mut thread = Thread {
            worker: Arc::clone(&worker),
            relay,
            base_port,
            epoch,
            slots: Vec::new(),
            taken: Vec::new(),
        };
        std::thread::Builder::new()
            .name(format!("media-relay-{index}"))
            .spawn(move || thread.run())?;
        Ok(worker)
    }

    /// Queues `command` for the thread's next look (see [`Command`]).
    pub(crate) fn send(&self, command: Command) {
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(command);
        self.pending.store(true, Ordering::Release);
    }

    /// Makes the thread look at its commands now rather than at its next
    /// packet or tick.
    pub(crate) fn wake(&self) {
        // A full counter (never, at 2^64 - 2) only means it is awake.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    /// Ends the thread (its pairs close with it).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }
}

/// A session's side of a pair, as the receiving thread keeps it.
struct Attached {
    leg: Leg,
    other: Arc<PairIo>,
    shared: Arc<Shared>,
    /// This thread's copy of the session's table, and the generation it
    /// was copied at (one atomic load per packet finds out if it is stale).
    table: ForwardTable,
    generation: u64,
}

struct Slot {
    io: Arc<PairIo>,
    attached: Option<Attached>,
}

/// The thread's own state: its slots, indexed by `(port - base_port) / 2`.
struct Thread {
    worker: Arc<Worker>,
    relay: Weak<RelayInner>,
    base_port: u16,
    epoch: Instant,
    slots: Vec<Option<Slot>>,
    /// Scratch for taking the command queue without holding its lock.
    taken: Vec<Command>,
}

impl Thread {
    fn slot_of(&self, port: u16) -> usize {
        usize::from((port - self.base_port) / 2)
    }

    fn run(&mut self) {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
        let mut buf = vec![0u8; RECV_BUF_LEN].into_boxed_slice();
        let mut logged: Option<Instant> = None;
        let tick = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: TICK.as_nanos() as i64,
        };
        loop {
            if self.worker.stop.load(Ordering::Acquire) {
                return;
            }
            if self.worker.pending.load(Ordering::Acquire) {
                self.take_commands();
            }
            events.clear();
            let spare = rustix::buffer::spare_capacity(&mut events);
            if let Err(e) = epoll::wait(&self.worker.epoll, spare, Some(&tick)) {
                if e != rustix::io::Errno::INTR {
                    // Not expected (the epoll descriptor is the thread's
                    // own); logged at most every 10 s, never a busy loop.
                    if logged.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(10)) {
                        tracing::error!(error = %e, "media relay epoll_wait failed");
                        logged = Some(Instant::now());
                    }
                    std::thread::sleep(TICK);
                }
                continue;
            }
            // One clock read per batch: the inactivity guard needs no finer.
            let mut now_ns = 0;
            for ev in &events {
                let token = ev.data.u64();
                if token == WAKE {
                    let mut count = [0u8; 8];
                    let _ = rustix::io::read(&self.worker.wake, &mut count);
                    continue;
                }
                if now_ns == 0 {
                    now_ns = nanos_since(self.epoch);
                }
                self.on_readable(token, &mut buf, now_ns);
            }
        }
    }

    /// One datagram from the socket of `token`: forwarded, or thrown away.
    #[inline]
    fn on_readable(&mut self, token: u64, buf: &mut [u8], now_ns: u64) {
        let index = (token >> 1) as usize;
        let channel = if token & 1 == 1 {
            Channel::Rtcp
        } else {
            Channel::Rtp
        };
        // A pair with no session may be about to get one: a command queued
        // before the session's SDP went out comes before its first packet.
        if self.slots.get(index).is_some_and(|s| {
            s.as_ref().is_some_and(|s| s.attached.is_none())
                && self.worker.pending.load(Ordering::Acquire)
        }) {
            self.take_commands();
        }
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return;
        };
        let len = match rustix::net::recv(slot.io.socket(channel), &mut *buf, RecvFlags::empty()) {
            Ok((len, _)) => len,
            // ICMP errors come one per datagram and are cleared by reading
            // them; level-triggered readiness reports what is left.
            Err(e) => {
                tracing::trace!(error = %e, "media socket receive error");
                return;
            }
        };
        let Some(attached) = slot.attached.as_mut() else {
            slot.io.stray_ns.store(now_ns, Ordering::Relaxed);
            return;
        };
        forward(attached, &slot.io, channel, &mut buf[..len], now_ns);
    }

    fn take_commands(&mut self) {
        self.worker.pending.store(false, Ordering::Release);
        // The queue gets the emptied scratch vector back (no allocation).
        let mut taken = std::mem::take(&mut self.taken);
        std::mem::swap(
            &mut taken,
            &mut self
                .worker
                .commands
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for command in taken.drain(..) {
            self.apply(command);
        }
        self.taken = taken;
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Register(io) => {
                let index = self.slot_of(io.port);
                let registered = [(Channel::Rtp, 0), (Channel::Rtcp, 1)]
                    .into_iter()
                    .try_for_each(|(channel, bit)| {
                        epoll::add(
                            &self.worker.epoll,
                            io.socket(channel),
                            epoll::EventData::new_u64((index as u64) << 1 | bit),
                            epoll::EventFlags::IN,
                        )
                    });
                if let Err(e) = registered {
                    // Not expected (memory): the pair then never forwards,
                    // and the inactivity guard ends its call.
                    tracing::error!(error = %e, port = io.port, "media relay could not watch a socket");
                }
                if self.slots.len() <= index {
                    self.slots.resize_with(index + 1, || None);
                }
                self.slots[index] = Some(Slot { io, attached: None });
            }
            Command::Attach {
                io,
                leg,
                other,
                shared,
            } => {
                let index = self.slot_of(io.port);
                if let Some(Some(slot)) = self.slots.get_mut(index) {
                    slot.attached = Some(Attached {
                        leg,
                        other,
                        shared,
                        table: ForwardTable::new(),
                        generation: u64::MAX,
                    });
                }
            }
            Command::Detach { port, done } => {
                let index = self.slot_of(port);
                let Some(Some(slot)) = self.slots.get_mut(index) else {
                    return;
                };
                slot.attached = None;
                let pooled = self
                    .relay
                    .upgrade()
                    .is_some_and(|relay| relay.pool_pair(&slot.io));
                if !pooled {
                    self.close(index);
                }
                drop(done);
            }
            Command::Close { port } => {
                let index = self.slot_of(port);
                self.close(index);
            }
        }
    }

    /// Unregisters and drops the slot's pair (its port is free once the
    /// other holders let go too).
    fn close(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index).and_then(Option::take) {
            for channel in [Channel::Rtp, Channel::Rtcp] {
                let _ = epoll::delete(&self.worker.epoll, slot.io.socket(channel));
            }
        }
    }
}

/// Judges one packet that arrived on `io` (the attached session's `leg`)
/// and sends it on with a single `sendto` out of the socket the table
/// names (C25: the other leg's socket of the same kind).
#[inline]
fn forward(attached: &mut Attached, io: &PairIo, channel: Channel, packet: &mut [u8], now_ns: u64) {
    let shared = &*attached.shared;
    let generation = shared.generation.load(Ordering::Acquire);
    if generation != attached.generation {
        attached.table = *shared.table();
        attached.generation = generation;
    }
    let leg = attached.leg;
    let counters = &shared.counters[leg.index()];
    counters.last_ns.store(now_ns, Ordering::Relaxed);
    let len = packet.len() as u64;
    if is_rtcp(packet) {
        bump(&counters.rtcp_packets, 1);
        bump(&counters.rtcp_bytes, len);
    } else {
        bump(&counters.rtp_packets, 1);
        bump(&counters.rtp_bytes, len);
    }
    let forward = match attached.table.decide(leg, channel, packet) {
        Verdict::Forward(f) => f,
        Verdict::Drop(reason) => {
            tracing::trace!(?leg, ?channel, ?reason, "media packet dropped");
            bump(&counters.dropped, 1);
            return;
        }
    };
    if let Some(pt) = forward.rewrite_payload_type {
        packet[1] = (packet[1] & 0x80) | pt;
    }
    let out = if forward.to == leg {
        io
    } else {
        &*attached.other
    };
    // Counted before the send, so whoever sees the packet arrive also sees
    // it counted (the thread is the counters' only writer: undone below
    // if the send fails).
    let event = forward.kind == Kind::TelephoneEvent;
    bump(&counters.forwarded, 1);
    if event {
        bump(&counters.telephone_events, 1);
    }
    // UDP sockets are always writable unless the send buffer is full, in
    // which case the packet is dropped (late media is useless).
    if let Err(e) = send_to(out.socket(forward.channel), packet, forward.dest) {
        tracing::trace!(error = %e, dest = %forward.dest, "media send failed");
        bump(&counters.forwarded, u64::MAX);
        if event {
            bump(&counters.telephone_events, u64::MAX);
        }
        bump(&counters.dropped, 1);
    }
}

#[inline]
fn send_to(socket: &UdpSocket, packet: &[u8], dest: SocketAddr) -> rustix::io::Result<()> {
    rustix::net::sendto(socket, packet, SendFlags::empty(), &dest).map(drop)
}
