//! The relay's public face: [`Relay`] hands out [`Session`]s, keeps the
//! port allocator and the pool of bound pairs; the forwarding itself runs on
//! the relay's own I/O threads ([`crate::worker`]).
//!
//! Each [`Session`] has two port pairs (leg A RTP/RTCP, leg B RTP/RTCP).
//! When a session ends its pairs go, still bound and still watched by their
//! thread, into the relay's pool (up to [`RelayConfig::pool_pairs`]), and
//! the next session takes them from there instead of opening, binding and
//! closing four sockets per call. A datagram is read into the thread's
//! buffer, judged by the pure [`ForwardTable::decide`], and sent with a
//! single `sendto` on the other leg's socket: no allocation, no channel, no
//! lock per packet. Configuration changes from the B2BUA go into a
//! mutex-held table and bump a generation number that the thread checks
//! (one atomic load) before each packet.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::forward::{Direction, ForwardTable, Leg, PayloadTypes, PeerError};
use crate::ports::{PortAllocator, PortRangeError, PortsExhausted, DEFAULT_PORT_RANGE};
use crate::worker::{Command, PairIo, Worker};

/// Bind attempts per port pair before giving up (ports taken by other
/// processes are skipped).
const BIND_ATTEMPTS: usize = 32;

/// Datagrams read and thrown away from a pooled socket before it is reused;
/// a socket that still has more (flooded while pooled) is closed instead.
const DRAIN_LIMIT: usize = 256;

/// Default [`RelayConfig::pool_pairs`].
pub const DEFAULT_POOL_PAIRS: usize = 4096;

/// Default [`RelayConfig::pool_quarantine`].
pub const DEFAULT_POOL_QUARANTINE: Duration = Duration::from_secs(1);

/// Default [`RelayConfig::threads`].
pub const DEFAULT_RELAY_THREADS: usize = 1;

/// Relay settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Address the sockets bind to. With an unspecified address (the
    /// default), the B2BUA writes its own advertised address into the SDP
    /// together with the ports of [`LocalLeg`].
    pub bind_ip: IpAddr,
    /// Ports to use (default 30000-60000). C24: must not reach below 1024.
    pub port_range: RangeInclusive<u16>,
    /// How long a session may see no packet on either leg before
    /// [`Session::is_inactive`] says so (the B2BUA's RTP-inactivity guard).
    pub inactivity_timeout: Duration,
    /// Port pairs (RTP and RTCP sockets) kept bound after their session
    /// ends, for the next sessions to reuse (default 4096; 0: every session
    /// opens and closes its own sockets). Pooled ports stay in
    /// `port_range` and out of other sessions' reach; each is handed to one
    /// live session at a time, least recently released first, with what
    /// arrived on it while pooled thrown away.
    pub pool_pairs: usize,
    /// How long a released pair rests in the pool before a new session may
    /// take it (default 1 s), so that the media a hung-up peer still sends
    /// for a moment is thrown away instead of reaching the next call (the
    /// relay sends to SDP addresses whatever the source, C24). Before that,
    /// a fresh pair is bound from the range; a resting pair is used only
    /// when the range has no other.
    pub pool_quarantine: Duration,
    /// I/O threads forwarding packets (default 1, at least 1). One thread
    /// moves about 350,000 packets a second (some 3,500 G.711 calls, both
    /// directions); sessions' pairs are spread over the threads.
    pub threads: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_range: DEFAULT_PORT_RANGE,
            inactivity_timeout: Duration::from_secs(60),
            pool_pairs: DEFAULT_POOL_PAIRS,
            pool_quarantine: DEFAULT_POOL_QUARANTINE,
            threads: DEFAULT_RELAY_THREADS,
        }
    }
}

/// Why a relay or a session could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The configured port range is unusable (C24).
    #[error(transparent)]
    Config(#[from] PortRangeError),
    /// Every port pair is held by a live session.
    #[error(transparent)]
    Exhausted(#[from] PortsExhausted),
    /// Binding failed on every port tried.
    #[error("binding UDP port {port} failed: {source}")]
    Bind {
        /// The last port tried.
        port: u16,
        /// The error from the last attempt.
        source: io::Error,
    },
    /// The relay's I/O threads could not be started (epoll, eventfd or
    /// thread creation failed: usually the open-files or process limit).
    #[error("starting the media relay's I/O threads failed: {0}")]
    Threads(#[source] io::Error),
}

/// The media relay: allocates [`Session`]s. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Relay {
    inner: Arc<RelayInner>,
}

#[derive(Debug)]
pub(crate) struct RelayInner {
    config: RelayConfig,
    /// Every port bound by the relay is held here, pooled ones included;
    /// a pair gives its port back when its sockets close.
    ports: Arc<Mutex<PortAllocator>>,
    /// Bound pairs no session uses, least recently released first. They
    /// stay registered with their I/O thread, which throws away what
    /// reaches them and notes when.
    pool: Mutex<VecDeque<PooledPair>>,
    workers: Vec<Arc<Worker>>,
    /// Round-robin choice of the thread for the next newly bound pair.
    next_worker: AtomicUsize,
    epoch: Instant,
    /// Nanoseconds after `epoch` until which binding is skipped (0: never
    /// ran out of sockets).
    out_of_sockets_until: AtomicU64,
    /// When the last out-of-sockets warning was logged (0: never).
    out_of_sockets_warned: AtomicU64,
}

impl Drop for RelayInner {
    fn drop(&mut self) {
        for worker in &self.workers {
            worker.stop();
        }
    }
}

/// Nanoseconds from `epoch` to now, at least 1.
pub(crate) fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos())
        .unwrap_or(u64::MAX / 2)
        .max(1)
}

impl RelayInner {
    /// Whether binding failed for want of sockets within the last
    /// [`OUT_OF_SOCKETS_BACKOFF`].
    fn out_of_sockets(&self) -> bool {
        let until = self.out_of_sockets_until.load(Ordering::Relaxed);
        until != 0 && nanos_since(self.epoch) < until
    }

    fn note_out_of_sockets(&self) {
        let now = nanos_since(self.epoch);
        let until = now + OUT_OF_SOCKETS_BACKOFF.as_nanos() as u64;
        self.out_of_sockets_until.store(until, Ordering::Relaxed);
        // One warning per episode, at most one every 10 s.
        let last = self.out_of_sockets_warned.load(Ordering::Relaxed);
        if last != 0 && now - last < Duration::from_secs(10).as_nanos() as u64 {
            return;
        }
        self.out_of_sockets_warned.store(now, Ordering::Relaxed);
        tracing::warn!(
            "the media relay is out of sockets (file descriptors): calls take pooled ports before their rest is over; raise the open-files limit or lower [sip.media] pool_pairs"
        );
    }

    fn ports(&self) -> MutexGuard<'_, PortAllocator> {
        self.ports.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pool(&self) -> MutexGuard<'_, VecDeque<PooledPair>> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pair leaving its session (called by its I/O thread): into the
    /// pool while there is room. `false`: no room, the thread closes it.
    pub(crate) fn pool_pair(&self, io: &Arc<PairIo>) -> bool {
        if self.config.pool_pairs == 0 {
            return false;
        }
        let mut pool = self.pool();
        if pool.len() >= self.config.pool_pairs {
            return false;
        }
        pool.push_back(PooledPair {
            io: Arc::clone(io),
            released_ns: nanos_since(self.epoch),
        });
        true
    }

    fn worker(&self, io: &PairIo) -> &Worker {
        &self.workers[io.worker]
    }
}

/// A bound pair waiting in the pool.
#[derive(Debug)]
struct PooledPair {
    io: Arc<PairIo>,
    /// When it left its session (nanoseconds from the relay epoch).
    released_ns: u64,
}

/// Reads and discards what is queued on `socket` (packets sent to the
/// previous session, ICMP errors): how many datagrams, `None` when more
/// than [`DRAIN_LIMIT`] were queued.
fn drain(socket: &UdpSocket) -> Option<usize> {
    // A one-byte buffer: UDP drops the rest of a longer datagram. The I/O
    // thread throws away what reaches a pooled pair too; this catches what
    // it has not got to yet.
    let mut byte = [0u8; 1];
    for n in 0..DRAIN_LIMIT {
        match socket.recv(&mut byte) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(n),
            _ => {}
        }
    }
    None
}

/// How long a pooled pair must have rested, with nothing reaching it, to be
/// taken without reading its sockets empty first (its I/O thread has read
/// anything that came long before then).
const SETTLED_NS: u64 = 100_000_000;

/// Pooled pairs found still receiving that one allocation puts back before
/// binding a fresh pair instead.
const REQUEUE_LIMIT: usize = 4;

impl Relay {
    /// A relay with `config`, its I/O threads started. No socket is opened
    /// until [`Relay::allocate_session`].
    ///
    /// # Errors
    /// [`RelayError::Config`] for a port range reaching below 1024 or too
    /// small for one port pair, [`RelayError::Threads`] when the I/O
    /// threads cannot be started.
    pub fn new(config: RelayConfig) -> Result<Self, RelayError> {
        let ports = PortAllocator::new(config.port_range.clone())?;
        let epoch = Instant::now();
        let base_port = *config.port_range.start() & !1;
        let threads = config.threads.max(1);
        let mut failed = None;
        let inner = Arc::new_cyclic(|relay| {
            // The threads that did start are kept, so that dropping the
            // relay on a failure stops them too.
            let mut workers = Vec::with_capacity(threads);
            for i in 0..threads {
                match Worker::spawn(i, relay.clone(), base_port, epoch) {
                    Ok(worker) => workers.push(worker),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            RelayInner {
                config,
                ports: Arc::new(Mutex::new(ports)),
                pool: Mutex::new(VecDeque::new()),
                workers,
                next_worker: AtomicUsize::new(0),
                epoch,
                out_of_sockets_until: AtomicU64::new(0),
                out_of_sockets_warned: AtomicU64::new(0),
            }
        });
        match failed {
            // Dropping `inner` stops the threads that did start.
            Some(e) => Err(RelayError::Threads(e)),
            None => Ok(Self { inner }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.inner.config
    }

    /// Number of port pairs held by live sessions (two per session; a
    /// dropped session's until its I/O thread has let them go).
    pub fn ports_in_use(&self) -> usize {
        let held = self.inner.ports().in_use();
        held.saturating_sub(self.ports_pooled())
    }

    /// Number of port pairs bound and waiting in the pool for the next
    /// sessions.
    pub fn ports_pooled(&self) -> usize {
        self.inner.pool().len()
    }

    /// Makes a new session: two legs, each with an RTP socket on an even
    /// port and an RTCP socket on the next (from the pool, else newly
    /// bound), forwarded by the relay's I/O threads. Nothing is forwarded
    /// until [`Session::set_peer`] gives a destination. Needs no runtime.
    ///
    /// # Errors
    /// [`RelayError::Exhausted`] when the range is used up,
    /// [`RelayError::Bind`] when no free port could be bound.
    pub fn allocate_session(&self) -> Result<Session, RelayError> {
        let a = self.take_pair()?;
        let b = match self.take_pair() {
            Ok(b) => b,
            Err(e) => {
                // Back to the pool (or closed) by its thread.
                self.inner.worker(&a).send(Command::Detach {
                    port: a.port,
                    done: None,
                });
                return Err(e);
            }
        };
        let shared = Arc::new(Shared {
            table: Mutex::new(ForwardTable::new()),
            generation: AtomicU64::new(0),
            counters: Default::default(),
            epoch: self.inner.epoch,
            created: Instant::now(),
            inactivity_timeout: self.inner.config.inactivity_timeout,
        });
        // Queued before the SDP with these ports goes out, so before the
        // first packet: the thread takes commands before it reads a pair
        // with no session.
        for (io, leg, other) in [(&a, Leg::A, &b), (&b, Leg::B, &a)] {
            self.inner.worker(io).send(Command::Attach {
                io: Arc::clone(io),
                leg,
                other: Arc::clone(other),
                shared: Arc::clone(&shared),
            });
        }
        tracing::debug!(a = %a.local.rtp, b = %b.local.rtp, "media session allocated");
        Ok(Session {
            leg_a: a.local,
            leg_b: b.local,
            shared,
            pairs: [(a.port, a.worker), (b.port, b.worker)],
            relay: Arc::clone(&self.inner),
            detached: false,
        })
    }

    /// A pair for a new session: the least recently released pooled one
    /// once it has rested [`RelayConfig::pool_quarantine`] and nothing
    /// reached it meanwhile, else a newly bound one, else (range used up) a
    /// resting one. What reached a pooled pair since its release is thrown
    /// away; a pair that received something (the old peer still sends)
    /// goes back to rest again.
    fn take_pair(&self) -> Result<Arc<PairIo>, RelayError> {
        let quarantine = self.inner.config.pool_quarantine;
        if let Some(pair) = self.pop_pooled(Some(quarantine)) {
            return Ok(pair);
        }
        // Just out of file descriptors: a resting pair at once, rather
        // than a socket the kernel makes and throws away for each call.
        if self.inner.out_of_sockets() {
            if let Some(pair) = self.pop_pooled(None) {
                return Ok(pair);
            }
        }
        // Range used up, or no socket to be had (out of file descriptors):
        // a resting pair is better than a failed call.
        match self.bind_pair() {
            Err(e) => self.pop_pooled(None).ok_or(e),
            ok => ok,
        }
    }

    /// The pool's oldest pair, drained. With a `quarantine`: only a pair
    /// released that long ago that received nothing since.
    fn pop_pooled(&self, quarantine: Option<Duration>) -> Option<Arc<PairIo>> {
        let mut requeued = 0;
        loop {
            let now = nanos_since(self.inner.epoch);
            let pooled = {
                let mut pool = self.inner.pool();
                let ready = pool.front().is_some_and(|p| {
                    quarantine.is_none_or(|q| now - p.released_ns.min(now) >= q.as_nanos() as u64)
                });
                if !ready {
                    return None;
                }
                pool.pop_front()?
            };
            let io = pooled.io;
            let stray = io.stray_ns.load(Ordering::Relaxed) > pooled.released_ns;
            // A pair that rested a while with nothing reaching it has nothing
            // queued: its thread reads whatever comes. Else what it has not
            // got to yet is read here (four syscalls a call saved otherwise).
            let drained = if !stray && now - pooled.released_ns.min(now) >= SETTLED_NS {
                Some(0)
            } else {
                drain(&io.rtp).zip(drain(&io.rtcp)).map(|(a, b)| a + b)
            };
            match drained {
                Some(n) if (n > 0 || stray) && quarantine.is_some() => {
                    // Late media of the previous call: rest again.
                    self.inner.pool().push_back(PooledPair {
                        io,
                        released_ns: now,
                    });
                    requeued += 1;
                    if requeued == REQUEUE_LIMIT {
                        return None;
                    }
                }
                Some(_) => return Some(io),
                None => {
                    // Flooded while pooled: closed by its thread, its port
                    // back in the range.
                    self.inner
                        .worker(&io)
                        .send(Command::Close { port: io.port });
                }
            }
        }
    }

    fn bind_pair(&self) -> Result<Arc<PairIo>, RelayError> {
        let ip = self.inner.config.bind_ip;
        let mut last = None;
        for _ in 0..BIND_ATTEMPTS {
            let port = self.inner.ports().allocate()?;
            match bind_both(ip, port) {
                Ok((rtp, rtcp, local)) => {
                    let workers = self.inner.workers.len();
                    let worker = self.inner.next_worker.fetch_add(1, Ordering::Relaxed) % workers;
                    let io = Arc::new(PairIo {
                        rtp,
                        rtcp,
                        port,
                        local,
                        worker,
                        stray_ns: AtomicU64::new(0),
                        ports: Arc::clone(&self.inner.ports),
                    });
                    self.inner.workers[worker].send(Command::Register(Arc::clone(&io)));
                    return Ok(io);
                }
                Err(e) => {
                    // Back of the queue; tried again last.
                    self.inner.ports().release(port);
                    let exhausted = is_out_of_sockets(&e.1);
                    last = Some(e);
                    if exhausted {
                        // No other port does better: stop, and skip
                        // binding for a moment.
                        self.inner.note_out_of_sockets();
                        break;
                    }
                }
            }
        }
        let (port, source) = last.unwrap_or((0, io::ErrorKind::AddrInUse.into()));
        Err(RelayError::Bind { port, source })
    }
}

/// Whether `e` says the process or system has no socket to give (file
/// descriptors, buffers, memory), not that one port is taken.
fn is_out_of_sockets(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// How long allocations take a resting pooled pair before trying to bind
/// again after the process ran out of sockets.
const OUT_OF_SOCKETS_BACKOFF: Duration = Duration::from_millis(100);

/// Binds `port` and `port + 1` on `ip`; the failing port and its error.
#[allow(clippy::type_complexity)]
fn bind_both(ip: IpAddr, port: u16) -> Result<(UdpSocket, UdpSocket, LocalLeg), (u16, io::Error)> {
    let rtp_addr = SocketAddr::new(ip, port);
    let rtcp_addr = SocketAddr::new(ip, port + 1);
    let rtp = bind(rtp_addr).map_err(|e| (port, e))?;
    let rtcp = bind(rtcp_addr).map_err(|e| (port + 1, e))?;
    // The addresses just bound (an explicit port on the configured IP): no
    // getsockname per socket (issue 3, a new pair per call under load).
    let local = LocalLeg {
        rtp: rtp_addr,
        rtcp: rtcp_addr,
    };
    Ok((rtp, rtcp, local))
}

/// A non-blocking UDP socket bound to `addr`: `SOCK_NONBLOCK` at creation
/// (two `fcntl` calls fewer per socket than setting it afterwards).
fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The relay's own addresses on one leg: what the B2BUA writes into the
/// SDP it sends on that leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLeg {
    pub(crate) rtp: SocketAddr,
    pub(crate) rtcp: SocketAddr,
}

impl LocalLeg {
    /// The RTP socket's address (even port): the `m=` port.
    pub fn local_rtp_addr(&self) -> SocketAddr {
        self.rtp
    }

    /// The RTCP socket's address (RTP port + 1).
    pub fn local_rtcp_addr(&self) -> SocketAddr {
        self.rtcp
    }
}

/// Counters of one leg: what arrived on its two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LegStats {
    /// RTP packets received (telephone-events included).
    pub rtp_packets: u64,
    /// RTP bytes received (UDP payload).
    pub rtp_bytes: u64,
    /// RTCP packets received (on either socket).
    pub rtcp_packets: u64,
    /// RTCP bytes received.
    pub rtcp_bytes: u64,
    /// RFC 4733 telephone-event packets forwarded.
    pub telephone_events: u64,
    /// Packets received and sent on toward the other leg.
    pub forwarded: u64,
    /// Packets received and not sent: malformed, no peer yet, direction,
    /// C23 event above 15, or a failed send.
    pub dropped: u64,
    /// When the last packet arrived on this leg.
    pub last_activity: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct LegCounters {
    pub(crate) rtp_packets: AtomicU64,
    pub(crate) rtp_bytes: AtomicU64,
    pub(crate) rtcp_packets: AtomicU64,
    pub(crate) rtcp_bytes: AtomicU64,
    pub(crate) telephone_events: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) dropped: AtomicU64,
    /// Nanoseconds from the relay epoch, plus one; 0 = never.
    pub(crate) last_ns: AtomicU64,
}

/// Adds to a counter only the leg's I/O thread writes: a load and a store, no
/// locked read-modify-write.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) table: Mutex<ForwardTable>,
    pub(crate) generation: AtomicU64,
    pub(crate) counters: [LegCounters; 2],
    epoch: Instant,
    created: Instant,
    inactivity_timeout: Duration,
}

impl Shared {
    pub(crate) fn table(&self) -> MutexGuard<'_, ForwardTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn instant(&self, ns: u64) -> Option<Instant> {
        ns.checked_sub(1)
            .map(|ns| self.epoch + Duration::from_nanos(ns))
    }
}

/// One relayed call: two legs of two sockets each and the task forwarding
/// between them.
///
/// Contract, in call order:
/// 1. [`Relay::allocate_session`]; write [`Session::leg_a`]'s addresses in
///    the SDP sent to the caller and [`Session::leg_b`]'s in the SDP sent to
///    the callee.
/// 2. As each SDP arrives (offer, answer, early media in a 183, re-INVITE):
///    [`Session::set_peer`], [`Session::set_payload_types`],
///    [`Session::set_direction`] (or [`Session::hold`]/[`Session::resume`])
///    for that leg. Each takes effect from the next packet.
/// 3. Periodically: [`Session::is_inactive`] / [`Session::idle_for`] for
///    the RTP-inactivity guard, [`Session::stats`] for logs.
/// 4. [`Session::close`] (or drop) when the call ends: the sockets go back
///    to the relay's pool (or close, past its size) and no packet reaches
///    this session any more.
#[derive(Debug)]
pub struct Session {
    /// The relay's addresses facing the caller.
    pub leg_a: LocalLeg,
    /// The relay's addresses facing the callee.
    pub leg_b: LocalLeg,
    shared: Arc<Shared>,
    /// The RTP port and I/O thread of leg A's pair and of leg B's.
    pairs: [(u16, usize); 2],
    /// Keeps the I/O threads running while the session lives.
    relay: Arc<RelayInner>,
    /// The pairs were handed back ([`Session::close`]).
    detached: bool,
}

impl Session {
    /// The relay's addresses on `leg`.
    pub fn leg(&self, leg: Leg) -> &LocalLeg {
        match leg {
            Leg::A => &self.leg_a,
            Leg::B => &self.leg_b,
        }
    }

    fn update<R>(&self, f: impl FnOnce(&mut ForwardTable) -> R) -> R {
        let mut table = self.shared.table();
        let r = f(&mut table);
        self.shared.generation.fetch_add(1, Ordering::Release);
        r
    }

    /// Sets `leg`'s peer addresses from its SDP (C24: as written, never
    /// learned from packets). `rtcp`: `a=rtcp` if present, `None` for RTP
    /// port + 1, `Some(rtp)` for rtcp-mux. Packets toward `leg` go to these
    /// addresses whatever the source of the packets `leg` sends.
    ///
    /// # Errors
    /// [`PeerError::WellKnownPort`] for ports 0-1023 (C24); the previous
    /// peer is kept.
    pub fn set_peer(
        &self,
        leg: Leg,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), PeerError> {
        self.update(|t| t.set_peer(leg, rtp, rtcp))
    }

    /// Forgets `leg`'s peer (stream disabled): nothing is sent toward it.
    pub fn clear_peer(&self, leg: Leg) {
        self.update(|t| t.clear_peer(leg));
    }

    /// `leg`'s peer RTP and RTCP addresses, if set.
    pub fn peer(&self, leg: Leg) -> Option<(SocketAddr, SocketAddr)> {
        self.shared.table().peer(leg)
    }

    /// Sets `leg`'s telephone-event payload type (RFC 4733 events pass
    /// through; C23 events above 15 are dropped; the payload type is
    /// rewritten when the legs numbered it differently).
    ///
    /// # Errors
    /// [`PeerError::BadPayloadType`] above 127.
    pub fn set_payload_types(&self, leg: Leg, types: PayloadTypes) -> Result<(), PeerError> {
        self.update(|t| t.set_payload_types(leg, types))
    }

    /// Sets `leg`'s media direction as its peer wrote it in its SDP:
    /// `SendOnly` stops RTP toward `leg`, `RecvOnly` stops RTP from it,
    /// `Inactive` both. RTCP always flows (RFC 3264 section 5.1).
    pub fn set_direction(&self, leg: Leg, direction: Direction) {
        self.update(|t| t.set_direction(leg, direction));
    }

    /// `leg`'s peer put the call on hold (`a=sendonly`): RTP toward it
    /// stops, its music on hold still flows.
    pub fn hold(&self, leg: Leg) {
        self.set_direction(leg, Direction::SendOnly);
    }

    /// `leg`'s peer resumed (`a=sendrecv`).
    pub fn resume(&self, leg: Leg) {
        self.set_direction(leg, Direction::SendRecv);
    }

    /// `leg`'s media direction.
    pub fn direction(&self, leg: Leg) -> Direction {
        self.shared.table().direction(leg)
    }

    /// Counters of what arrived on `leg`.
    pub fn stats(&self, leg: Leg) -> LegStats {
        let c = &self.shared.counters[leg.index()];
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LegStats {
            rtp_packets: get(&c.rtp_packets),
            rtp_bytes: get(&c.rtp_bytes),
            rtcp_packets: get(&c.rtcp_packets),
            rtcp_bytes: get(&c.rtcp_bytes),
            telephone_events: get(&c.telephone_events),
            forwarded: get(&c.forwarded),
            dropped: get(&c.dropped),
            last_activity: self.shared.instant(get(&c.last_ns)),
        }
    }

    /// When a packet (RTP or RTCP, either leg) last arrived, or when the
    /// session was made if none has.
    pub fn last_activity(&self) -> Instant {
        [Leg::A, Leg::B]
            .into_iter()
            .filter_map(|leg| {
                let ns = self.shared.counters[leg.index()]
                    .last_ns
                    .load(Ordering::Relaxed);
                self.shared.instant(ns)
            })
            .fold(self.shared.created, Instant::max)
    }

    /// How long no packet has arrived on either leg, as of `now`.
    pub fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_activity())
    }

    /// Whether [`Session::idle_for`] reached the configured
    /// `inactivity_timeout`: the B2BUA should end the call.
    pub fn is_inactive(&self, now: Instant) -> bool {
        self.idle_for(now) >= self.shared.inactivity_timeout
    }

    /// Stops forwarding and gives the four sockets back to the relay: into
    /// its pool, or closed past [`RelayConfig::pool_pairs`] (then the ports
    /// can be bound again when this returns). Dropping a session does the
    /// same without waiting (its I/O thread lets the pairs go within a few
    /// tens of milliseconds).
    pub async fn close(mut self) {
        let done = self.detach(true);
        for rx in done {
            // An error only says the thread is gone, and its pairs with it.
            let _ = rx.await;
        }
        tracing::debug!(a = %self.leg_a.rtp, b = %self.leg_b.rtp, "media session closed");
    }

    /// Hands the pairs back to their threads; with `wait`, wakes them and
    /// returns what says each is done.
    fn detach(&mut self, wait: bool) -> Vec<tokio::sync::oneshot::Receiver<()>> {
        if std::mem::replace(&mut self.detached, true) {
            return Vec::new();
        }
        let mut done = Vec::new();
        for (port, worker) in self.pairs {
            let worker = &self.relay.workers[worker];
            let signal = wait.then(|| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                done.push(rx);
                tx
            });
            worker.send(Command::Detach { port, done: signal });
            if wait {
                worker.wake();
            }
        }
        done
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.detach(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An I/O thread takes one `recv` per readiness and must never block
    /// on an empty socket: pairs are created non-blocking, and the
    /// addresses they report are the ones bound.
    #[test]
    fn pairs_are_nonblocking_and_know_their_addresses() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for port in (41_000..41_200).step_by(2) {
            let Ok((rtp, rtcp, local)) = bind_both(ip, port) else {
                continue;
            };
            assert_eq!(rtp.local_addr().unwrap(), local.rtp);
            assert_eq!(rtcp.local_addr().unwrap(), local.rtcp);
            let mut buf = [0u8; 16];
            for s in [&rtp, &rtcp] {
                let e = s.recv_from(&mut buf).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            }
            return;
        }
        panic!("no free port pair in 41000..41200");
    }
}
