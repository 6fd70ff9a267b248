//! The tokio edge: sockets, one driver task per session, counters.
//!
//! Each [`Session`] owns four UDP sockets (leg A RTP/RTCP, leg B RTP/RTCP)
//! and one task that drains them in turn. When a session ends its port
//! pairs go, still bound, into the relay's pool (up to
//! [`RelayConfig::pool_pairs`]), and the next session takes them from
//! there instead of opening, binding and closing four sockets per call. A datagram is read into a
//! per-thread buffer, judged by the pure [`ForwardTable::decide`], and sent
//! with a single `sendto` on the other leg's socket: no allocation, no
//! channel, no lock per packet. Configuration changes from the B2BUA go into
//! a mutex-held table and bump a generation number that the task checks
//! (one atomic load) before each packet.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::forward::{
    Channel, Direction, ForwardTable, Kind, Leg, PayloadTypes, PeerError, Verdict,
};
use crate::ports::{PortAllocator, PortRangeError, PortsExhausted, DEFAULT_PORT_RANGE};
use crate::rtp::is_rtcp;

/// Size of the receive buffer: the largest UDP payload, so nothing is ever
/// cut short. One per worker thread, not per session.
const RECV_BUF_LEN: usize = 65_536;

/// Bind attempts per port pair before giving up (ports taken by other
/// processes are skipped).
const BIND_ATTEMPTS: usize = 32;

/// Datagrams read and thrown away from a pooled socket before it is reused;
/// a socket that still has more (flooded while pooled) is closed instead.
const DRAIN_LIMIT: usize = 256;

/// Receive errors one poll of a session task reads on past (ICMP errors
/// come one per datagram; a socket that only errs must not spin).
const MAX_ERRORS_PER_POLL: usize = 64;

/// Default [`RelayConfig::pool_pairs`].
pub const DEFAULT_POOL_PAIRS: usize = 4096;

/// Default [`RelayConfig::pool_quarantine`].
pub const DEFAULT_POOL_QUARANTINE: Duration = Duration::from_secs(1);

thread_local! {
    static RECV_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; RECV_BUF_LEN].into_boxed_slice());
}

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
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_range: DEFAULT_PORT_RANGE,
            inactivity_timeout: Duration::from_secs(60),
            pool_pairs: DEFAULT_POOL_PAIRS,
            pool_quarantine: DEFAULT_POOL_QUARANTINE,
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
    /// [`Relay::allocate_session`] was called outside a Tokio runtime.
    #[error("the media relay needs a Tokio runtime")]
    NoRuntime,
}

/// The media relay: allocates [`Session`]s. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Relay {
    inner: Arc<RelayInner>,
}

#[derive(Debug)]
struct RelayInner {
    config: RelayConfig,
    /// Every port bound by the relay is held here, pooled ones included.
    ports: Mutex<PortAllocator>,
    /// Bound pairs no session uses, least recently released first. They
    /// stay registered with the reactor of the runtime they were released
    /// on: the next session on that runtime takes them as they are (no
    /// epoll registration and removal per call); a session on another
    /// runtime moves them over.
    pool: Mutex<VecDeque<PooledPair>>,
    epoch: Instant,
    /// Nanoseconds after `epoch` until which binding is skipped (0: never
    /// ran out of sockets).
    out_of_sockets_until: AtomicU64,
    /// When the last out-of-sockets warning was logged (0: never).
    out_of_sockets_warned: AtomicU64,
}

/// Nanoseconds from `epoch` to now, at least 1.
fn nanos_since(epoch: Instant) -> u64 {
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

    /// A pair leaving a session: into the pool while there is room, else
    /// closed and its port given back.
    fn recycle(&self, pair: Pair) {
        let Pair {
            rtp,
            rtcp,
            port,
            local,
        } = pair;
        if self.config.pool_pairs > 0 {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let mut pool = self.pool();
                if pool.len() < self.config.pool_pairs {
                    pool.push_back(PooledPair {
                        rtp,
                        rtcp,
                        runtime: runtime.id(),
                        port,
                        local,
                        released: Instant::now(),
                    });
                    return;
                }
            }
        }
        drop((rtp, rtcp));
        // The sockets are closed: the port is free.
        self.ports().release(port);
    }
}

/// A bound RTP/RTCP pair owned by a session.
#[derive(Debug)]
struct Pair {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The RTP port, held in the allocator while this pair lives.
    port: u16,
    local: LocalLeg,
}

/// A bound pair waiting in the pool.
#[derive(Debug)]
struct PooledPair {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The runtime whose reactor the sockets are registered with.
    runtime: tokio::runtime::Id,
    port: u16,
    local: LocalLeg,
    released: Instant,
}

/// Reads and discards what is queued on `socket` (packets sent to the
/// previous session, ICMP errors): how many datagrams, `None` when more
/// than [`DRAIN_LIMIT`] were queued.
fn drain(socket: &UdpSocket) -> Option<usize> {
    // A one-byte buffer: UDP drops the rest of a longer datagram. The
    // receive goes to the kernel whatever the reactor last reported, so a
    // datagram queued a moment ago is found too.
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let socket = SockRef::from(socket);
    for n in 0..DRAIN_LIMIT {
        match socket.recv(&mut byte) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(n),
            _ => {}
        }
    }
    None
}

/// Pooled pairs found still receiving that one allocation puts back before
/// binding a fresh pair instead.
const REQUEUE_LIMIT: usize = 4;

impl Relay {
    /// A relay with `config`. No socket is opened until
    /// [`Relay::allocate_session`].
    ///
    /// # Errors
    /// [`RelayError::Config`] for a port range reaching below 1024 or too
    /// small for one port pair.
    pub fn new(config: RelayConfig) -> Result<Self, RelayError> {
        let ports = PortAllocator::new(config.port_range.clone())?;
        Ok(Self {
            inner: Arc::new(RelayInner {
                config,
                ports: Mutex::new(ports),
                pool: Mutex::new(VecDeque::new()),
                epoch: Instant::now(),
                out_of_sockets_until: AtomicU64::new(0),
                out_of_sockets_warned: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.inner.config
    }

    /// Number of port pairs held by live sessions (two per session).
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
    /// bound), and spawns its driver task on the current Tokio runtime. Nothing is forwarded until
    /// [`Session::set_peer`] gives a destination.
    ///
    /// # Errors
    /// [`RelayError::NoRuntime`] outside a runtime,
    /// [`RelayError::Exhausted`] when the range is used up,
    /// [`RelayError::Bind`] when no free port could be bound.
    pub fn allocate_session(&self) -> Result<Session, RelayError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RelayError::NoRuntime)?;
        let a = self.take_pair()?;
        // On failure `a` goes back through `SessionIo`'s drop.
        let mut io = SessionIo {
            pairs: [Some(a), None],
            relay: Arc::clone(&self.inner),
        };
        io.pairs[1] = Some(self.take_pair()?);
        let (leg_a, leg_b) = (io.local(0), io.local(1));
        let created = Instant::now();
        let shared = Arc::new(Shared {
            table: Mutex::new(ForwardTable::new()),
            generation: AtomicU64::new(0),
            counters: Default::default(),
            epoch: self.inner.epoch,
            created,
            inactivity_timeout: self.inner.config.inactivity_timeout,
        });
        tracing::debug!(
            a = %leg_a.rtp, b = %leg_b.rtp,
            "media session allocated"
        );
        let task = runtime.spawn(io.run(Arc::clone(&shared)));
        Ok(Session {
            leg_a,
            leg_b,
            shared,
            task,
        })
    }

    /// A pair for a new session: the least recently released pooled one
    /// once it has rested [`RelayConfig::pool_quarantine`] and nothing
    /// reached it meanwhile, else a newly bound one, else (range used up) a
    /// resting one. What reached a pooled pair since its release is thrown
    /// away; a pair that received something (the old peer still sends)
    /// goes back to rest again.
    fn take_pair(&self) -> Result<Pair, RelayError> {
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

    /// The pool's oldest pair, drained and registered with this runtime.
    /// With a `quarantine`: only a pair released that long ago that
    /// received nothing since.
    fn pop_pooled(&self, quarantine: Option<Duration>) -> Option<Pair> {
        let mut requeued = 0;
        loop {
            let pooled = {
                let mut pool = self.inner.pool();
                let ready = pool
                    .front()
                    .is_some_and(|p| quarantine.is_none_or(|q| p.released.elapsed() >= q));
                if !ready {
                    return None;
                }
                pool.pop_front()?
            };
            let drained = drain(&pooled.rtp)
                .zip(drain(&pooled.rtcp))
                .map(|(a, b)| a + b);
            match drained {
                Some(n) if n > 0 && quarantine.is_some() => {
                    // Late media of the previous call: rest again.
                    self.inner.pool().push_back(PooledPair {
                        released: Instant::now(),
                        ..pooled
                    });
                    requeued += 1;
                    if requeued == REQUEUE_LIMIT {
                        return None;
                    }
                }
                Some(_) => {
                    let PooledPair {
                        rtp,
                        rtcp,
                        runtime,
                        port,
                        local,
                        ..
                    } = pooled;
                    if let Some((rtp, rtcp)) = onto_current_runtime(runtime, rtp, rtcp) {
                        return Some(Pair {
                            rtp,
                            rtcp,
                            port,
                            local,
                        });
                    }
                    // Not registrable: closed (dropped above).
                    self.inner.ports().release(port);
                }
                None => {
                    // Flooded while pooled: closed, its port back in the range.
                    let port = pooled.port;
                    drop(pooled);
                    self.inner.ports().release(port);
                }
            }
        }
    }

    fn bind_pair(&self) -> Result<Pair, RelayError> {
        let ip = self.inner.config.bind_ip;
        let mut last = None;
        for _ in 0..BIND_ATTEMPTS {
            let port = self.inner.ports().allocate()?;
            match bind_both(ip, port) {
                Ok(pair) => return Ok(pair),
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

/// A pooled pair's sockets, registered with the current runtime's reactor:
/// as they are when they already are (the usual case), else moved from
/// `runtime`'s. `None` when that fails (the sockets are then closed).
fn onto_current_runtime(
    runtime: tokio::runtime::Id,
    rtp: UdpSocket,
    rtcp: UdpSocket,
) -> Option<(UdpSocket, UdpSocket)> {
    let current = tokio::runtime::Handle::try_current().ok()?.id();
    if current == runtime {
        return Some((rtp, rtcp));
    }
    let rtp = UdpSocket::from_std(rtp.into_std().ok()?).ok()?;
    let rtcp = UdpSocket::from_std(rtcp.into_std().ok()?).ok()?;
    Some((rtp, rtcp))
}

/// Binds `port` and `port + 1` on `ip`; the failing port and its error.
fn bind_both(ip: IpAddr, port: u16) -> Result<Pair, (u16, io::Error)> {
    let rtp = bind(SocketAddr::new(ip, port)).map_err(|e| (port, e))?;
    let rtcp = bind(SocketAddr::new(ip, port + 1)).map_err(|e| (port + 1, e))?;
    let local = LocalLeg::of(&rtp, &rtcp).map_err(|e| (port, e))?;
    Ok(Pair {
        rtp,
        rtcp,
        port,
        local,
    })
}

fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The relay's own addresses on one leg: what the B2BUA writes into the
/// SDP it sends on that leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLeg {
    rtp: SocketAddr,
    rtcp: SocketAddr,
}

impl LocalLeg {
    fn of(rtp: &UdpSocket, rtcp: &UdpSocket) -> io::Result<Self> {
        Ok(Self {
            rtp: rtp.local_addr()?,
            rtcp: rtcp.local_addr()?,
        })
    }

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
struct LegCounters {
    rtp_packets: AtomicU64,
    rtp_bytes: AtomicU64,
    rtcp_packets: AtomicU64,
    rtcp_bytes: AtomicU64,
    telephone_events: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    /// Nanoseconds from the relay epoch, plus one; 0 = never.
    last_ns: AtomicU64,
}

/// Adds to a counter only the session task writes: a load and a store, no
/// locked read-modify-write.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

#[derive(Debug)]
struct Shared {
    table: Mutex<ForwardTable>,
    generation: AtomicU64,
    counters: [LegCounters; 2],
    epoch: Instant,
    created: Instant,
    inactivity_timeout: Duration,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, ForwardTable> {
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
    task: JoinHandle<()>,
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
    /// same without waiting.
    pub async fn close(mut self) {
        self.task.abort();
        // The task's future (which owns the sockets) is dropped before the
        // handle completes.
        let _ = (&mut self.task).await;
        tracing::debug!(a = %self.leg_a.rtp, b = %self.leg_b.rtp, "media session closed");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the session task owns: leg A's pair, leg B's pair (always both
/// once the task runs), given back to the relay when dropped.
struct SessionIo {
    pairs: [Option<Pair>; 2],
    relay: Arc<RelayInner>,
}

impl Drop for SessionIo {
    fn drop(&mut self) {
        for pair in self.pairs.iter_mut().filter_map(Option::take) {
            self.relay.recycle(pair);
        }
    }
}

/// The task's copy of the forwarding table.
struct Local {
    table: ForwardTable,
    generation: u64,
}

const SOCKET_ROLES: [(Leg, Channel); 4] = [
    (Leg::A, Channel::Rtp),
    (Leg::A, Channel::Rtcp),
    (Leg::B, Channel::Rtp),
    (Leg::B, Channel::Rtcp),
];

impl SessionIo {
    fn local(&self, leg: usize) -> LocalLeg {
        self.pairs[leg]
            .as_ref()
            .map(|p| p.local)
            .unwrap_or(LocalLeg {
                rtp: SocketAddr::from(([0, 0, 0, 0], 0)),
                rtcp: SocketAddr::from(([0, 0, 0, 0], 0)),
            })
    }

    /// The socket in role `i` of [`SOCKET_ROLES`].
    #[inline]
    fn socket(&self, i: usize) -> Option<&UdpSocket> {
        let pair = self.pairs[i / 2].as_ref()?;
        Some(if i.is_multiple_of(2) {
            &pair.rtp
        } else {
            &pair.rtcp
        })
    }

    async fn run(self, shared: Arc<Shared>) {
        let mut local = Local {
            table: ForwardTable::new(),
            generation: u64::MAX,
        };
        poll_fn(|cx| self.poll_drive(cx, &shared, &mut local)).await
    }

    /// Drains the four sockets round-robin until all would block (or the
    /// Tokio budget runs out, which reschedules the task). Never completes.
    fn poll_drive(&self, cx: &mut Context<'_>, shared: &Shared, local: &mut Local) -> Poll<()> {
        RECV_BUF.with(|cell| {
            let mut guard = cell.borrow_mut();
            let buf: &mut [u8] = &mut guard;
            let mut active = [false; 2];
            let mut errors = 0;
            loop {
                let mut progressed = false;
                for (i, &(leg, channel)) in SOCKET_ROLES.iter().enumerate() {
                    let Some(socket) = self.socket(i) else {
                        continue;
                    };
                    let mut read = ReadBuf::new(buf);
                    // `recv`, not `recv_from`: the source plays no part (C24,
                    // no latching), so the kernel need not copy it out.
                    match socket.poll_recv(cx, &mut read) {
                        Poll::Ready(Ok(())) => {
                            let len = read.filled().len();
                            self.handle(leg, channel, &mut buf[..len], shared, local);
                            active[leg.index()] = true;
                            progressed = true;
                        }
                        Poll::Ready(Err(e)) => {
                            // ICMP errors reported on the socket: nothing to
                            // do but read on. An error that repeats (the
                            // reactor gone) must not spin this thread: past
                            // a few per poll, errors no longer count as
                            // progress and the task waits for readiness.
                            tracing::trace!(error = %e, "media socket receive error");
                            errors += 1;
                            progressed |= errors <= MAX_ERRORS_PER_POLL;
                        }
                        Poll::Pending => {}
                    }
                }
                if !progressed {
                    break;
                }
            }
            if active.contains(&true) {
                let ns =
                    u64::try_from(shared.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
                for (leg, was) in active.into_iter().enumerate() {
                    if was {
                        shared.counters[leg].last_ns.store(ns, Ordering::Relaxed);
                    }
                }
            }
            Poll::Pending
        })
    }

    #[inline]
    fn handle(
        &self,
        leg: Leg,
        channel: Channel,
        packet: &mut [u8],
        shared: &Shared,
        local: &mut Local,
    ) {
        let generation = shared.generation.load(Ordering::Acquire);
        if generation != local.generation {
            local.table = *shared.table();
            local.generation = generation;
        }
        let counters = &shared.counters[leg.index()];
        let len = packet.len() as u64;
        if is_rtcp(packet) {
            bump(&counters.rtcp_packets, 1);
            bump(&counters.rtcp_bytes, len);
        } else {
            bump(&counters.rtp_packets, 1);
            bump(&counters.rtp_bytes, len);
        }
        let forward = match local.table.decide(leg, channel, packet) {
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
        let out = forward.to.index() * 2 + usize::from(forward.channel == Channel::Rtcp);
        // A direct sendto on the other leg's socket: UDP sockets are always
        // writable unless the send buffer is full, in which case the packet
        // is dropped (late media is useless).
        let Some(socket) = self.socket(out) else {
            return;
        };
        match SockRef::from(socket).send_to(packet, &SockAddr::from(forward.dest)) {
            Ok(_) => {
                bump(&counters.forwarded, 1);
                if forward.kind == Kind::TelephoneEvent {
                    bump(&counters.telephone_events, 1);
                }
            }
            Err(e) => {
                tracing::trace!(error = %e, dest = %forward.dest, "media send failed");
                bump(&counters.dropped, 1);
            }
        }
    }
}
