//! The endpoint: bound sockets, the connection table, events, sending and
//! shutdown.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use rustls::ClientConfig;
use sip_framing::{FrameError, Limits};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use crate::{conn, tls, udp, Error, ListenAddr, Transport, TransportConfig};

/// Identifies one TCP or TLS connection for the life of an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// What the endpoint reports to its owner, in arrival order per socket or
/// connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// One message: a whole UDP datagram, or exactly one framed stream message.
    Message(Inbound),
    /// A stream that cannot be framed. The connection reads no more; it waits
    /// up to `error_reply_grace` for one reply (400, or 513 when
    /// [`StreamError::is_too_large`]) sent with [`Outbound::reply_to`], then
    /// closes.
    Error(InboundError),
}

/// A message received.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The message. For streams, exactly one message framed by
    /// `Content-Length`; for UDP, the whole datagram (the parser frames it,
    /// and CRLF keep-alive datagrams are never delivered).
    pub bytes: Bytes,
    /// The peer's address: where a response goes (the Via `received` and
    /// `rport` values of RFC 3581 are taken from it by the caller).
    pub source: SocketAddr,
    /// The local address the message arrived on.
    pub local: SocketAddr,
    /// The transport it arrived over.
    pub transport: Transport,
    /// The connection, for TCP and TLS.
    pub conn: Option<ConnId>,
}

/// A stream message that could not be framed.
#[derive(Debug, Clone)]
pub struct InboundError {
    /// What had been received of the message (bounded by `max_message_bytes`
    /// plus one read), for logging or for building the reply.
    pub bytes: Bytes,
    /// The peer's address.
    pub source: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
    /// TCP or TLS.
    pub transport: Transport,
    /// The connection; it stays open for one reply, then closes.
    pub conn: ConnId,
    /// Why it could not be framed.
    pub error: StreamError,
}

/// Why a stream message could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// Framing failed: missing, negative, duplicated or oversize
    /// `Content-Length`, or a header block over `max_header_bytes`.
    #[error("{0}")]
    Frame(FrameError),
    /// The message grew past `max_message_bytes` before it ended.
    #[error("message exceeds {limit} bytes")]
    MessageTooLarge {
        /// The limit.
        limit: usize,
    },
}

impl StreamError {
    /// Whether the message was too large (answer 513 Message Too Large)
    /// rather than malformed (answer 400 Bad Request).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            Self::MessageTooLarge { .. }
                | Self::Frame(FrameError::HeadersTooLarge { .. })
                | Self::Frame(FrameError::BodyTooLarge { .. })
        )
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The transport to use.
    pub transport: Transport,
    /// Where to send it.
    pub dest: SocketAddr,
    /// For TCP/TLS: the connection to use if it is still open (else one to
    /// `dest` is reused, else one is opened).
    pub conn: Option<ConnId>,
    /// The serialized message.
    pub bytes: Bytes,
    /// For a new TLS connection: the name to verify the server's certificate
    /// against (SIP domain or host), else `dest`'s IP address.
    pub tls_server_name: Option<String>,
    /// For UDP: the local socket to send from (the [`Inbound::local`] of the
    /// request being answered). Without it, the first UDP socket of `dest`'s
    /// address family is used. Either way the source port is a listening
    /// port (symmetric signalling, RFC 3581).
    pub local: Option<SocketAddr>,
}

impl Outbound {
    /// A message to `dest` over `transport`, on any suitable socket or
    /// connection.
    pub fn new(transport: Transport, dest: SocketAddr, bytes: Bytes) -> Self {
        Self {
            transport,
            dest,
            conn: None,
            bytes,
            tls_server_name: None,
            local: None,
        }
    }

    /// A reply to `inbound`: same transport, back to its source address, on
    /// its connection or from the socket it arrived on.
    pub fn reply_to(inbound: &Inbound, bytes: Bytes) -> Self {
        Self {
            transport: inbound.transport,
            dest: inbound.source,
            conn: inbound.conn,
            bytes,
            tls_server_name: None,
            local: Some(inbound.local),
        }
    }

    /// A reply to a stream that failed framing (400 or 513), on its connection.
    pub fn reply_to_error(error: &InboundError, bytes: Bytes) -> Self {
        Self {
            transport: error.transport,
            dest: error.source,
            conn: Some(error.conn),
            bytes,
            tls_server_name: None,
            local: Some(error.local),
        }
    }
}

/// Counters of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// TCP and TLS connections open now.
    pub connections: usize,
    /// UDP datagrams dropped because the event channel was full.
    pub udp_dropped: u64,
    /// Connections reset because a message was not complete by its
    /// `max_segments_per_message`-th segment (design rule C3).
    pub segment_resets: u64,
    /// Connections refused by `max_connections` or `max_connections_per_ip`.
    pub refused_connections: u64,
}

/// A write queued on a connection, with where to say how it went.
pub(crate) struct WriteReq {
    pub(crate) bytes: Bytes,
    pub(crate) done: oneshot::Sender<io::Result<()>>,
}

/// Writes queued per connection before senders wait.
const WRITE_QUEUE: usize = 32;

struct ConnEntry {
    transport: Transport,
    remote: SocketAddr,
    accepted: bool,
    writer: mpsc::Sender<WriteReq>,
}

#[derive(Default)]
struct ConnTable {
    by_id: HashMap<ConnId, ConnEntry>,
    /// RFC 3261 section 18: connections indexed by the far end's address,
    /// port and transport.
    by_remote: HashMap<(Transport, SocketAddr), ConnId>,
    /// Accepted connections per peer IP.
    per_ip: HashMap<IpAddr, usize>,
}

/// What the tasks of an endpoint share.
pub(crate) struct Inner {
    pub(crate) config: TransportConfig,
    pub(crate) limits: Limits,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) tls_client: Option<Arc<ClientConfig>>,
    pub(crate) udp_dropped: AtomicU64,
    pub(crate) segment_resets: AtomicU64,
    stop: watch::Sender<bool>,
    /// Each task holds a clone; shutdown drops this one and waits until the
    /// channel reports every sender gone.
    task_guard: Mutex<Option<mpsc::Sender<()>>>,
    tasks_done: tokio::sync::Mutex<mpsc::Receiver<()>>,
    /// Emptied at shutdown so that the ports are released.
    udp: Mutex<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    conns: Mutex<ConnTable>,
    next_id: AtomicU64,
    refused: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Resolves once the endpoint is shutting down.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stopped too.
    let _ = stop.wait_for(|s| *s).await;
}

impl Inner {
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Spawns a task that shutdown waits for; false once shut down.
    pub(crate) fn spawn<F>(&self, fut: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(guard) = lock(&self.task_guard).clone() else {
            return false;
        };
        tokio::spawn(async move {
            let _guard = guard;
            fut.await;
        });
        true
    }

    /// Fails if no connection can be added.
    pub(crate) fn check_capacity(&self) -> Result<(), Error> {
        let limit = self.config.max_connections;
        if lock(&self.conns).by_id.len() >= limit {
            return Err(Error::TooManyConnections { limit });
        }
        Ok(())
    }

    /// Adds a connection to the table, within the limits.
    pub(crate) fn register(
        &self,
        transport: Transport,
        remote: SocketAddr,
        accepted: bool,
    ) -> Result<(ConnId, mpsc::Sender<WriteReq>, mpsc::Receiver<WriteReq>), Error> {
        let mut table = lock(&self.conns);
        let limit = self.config.max_connections;
        if table.by_id.len() >= limit {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::TooManyConnections { limit });
        }
        if accepted {
            let limit = self.config.max_connections_per_ip;
            let n = table.per_ip.get(&remote.ip()).copied().unwrap_or(0);
            if n >= limit {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Error::TooManyConnectionsFromIp {
                    ip: remote.ip(),
                    limit,
                });
            }
            table.per_ip.insert(remote.ip(), n + 1);
        }
        let id = ConnId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (writer, writes) = mpsc::channel(WRITE_QUEUE);
        table.by_id.insert(
            id,
            ConnEntry {
                transport,
                remote,
                accepted,
                writer: writer.clone(),
            },
        );
        table.by_remote.insert((transport, remote), id);
        Ok((id, writer, writes))
    }

    /// Stops offering a connection for new messages to its address (it
    /// remains reachable by id).
    pub(crate) fn unindex(&self, id: ConnId) {
        let mut table = lock(&self.conns);
        if let Some(e) = table.by_id.get(&id) {
            let key = (e.transport, e.remote);
            if table.by_remote.get(&key) == Some(&id) {
                table.by_remote.remove(&key);
            }
        }
    }

    /// Removes a closed connection.
    pub(crate) fn unregister(&self, id: ConnId) {
        let mut table = lock(&self.conns);
        let Some(e) = table.by_id.remove(&id) else {
            return;
        };
        let key = (e.transport, e.remote);
        if table.by_remote.get(&key) == Some(&id) {
            table.by_remote.remove(&key);
        }
        if e.accepted {
            let ip = e.remote.ip();
            if let Some(n) = table.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    table.per_ip.remove(&ip);
                }
            }
        }
    }

    /// The writer of connection `conn` if open, else of one to `dest`.
    fn writer_for(
        &self,
        conn: Option<ConnId>,
        transport: Transport,
        dest: SocketAddr,
    ) -> Option<(ConnId, mpsc::Sender<WriteReq>)> {
        let table = lock(&self.conns);
        let by_id = conn.and_then(|id| table.by_id.get(&id).map(|e| (id, e)));
        let found = by_id.or_else(|| {
            let id = *table.by_remote.get(&(transport, dest))?;
            table.by_id.get(&id).map(|e| (id, e))
        });
        found.map(|(id, e)| (id, e.writer.clone()))
    }

    fn udp_socket(&self, local: Option<SocketAddr>, dest: SocketAddr) -> Option<Arc<UdpSocket>> {
        let udp = lock(&self.udp);
        local
            .and_then(|l| udp.iter().find(|(a, _)| *a == l))
            .or_else(|| udp.iter().find(|(a, _)| a.is_ipv4() == dest.is_ipv4()))
            .map(|(_, s)| s.clone())
    }

    /// Signals every task to stop and releases the UDP sockets.
    fn stop_all(&self) {
        self.stop.send_replace(true);
        lock(&self.task_guard).take();
        lock(&self.udp).clear();
    }
}

/// Stops the tasks when the last [`Endpoint`] clone is dropped.
struct StopOnDrop(Arc<Inner>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop_all();
    }
}

/// The SIP transport endpoint: UDP sockets, TCP and TLS listeners, and the
/// connections accepted or opened. Cheap to clone; dropping the last clone
/// stops everything (as [`Endpoint::shutdown`] does, without waiting).
///
/// One task runs per UDP socket, per listener and per connection. Events
/// come out of the bounded receiver returned by [`Endpoint::bind`].
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
    local_addrs: Arc<[ListenAddr]>,
    _stop: Arc<StopOnDrop>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_addrs", &self.local_addrs)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Binds every listen address and starts serving them.
    ///
    /// Returns the endpoint and the receiver of its [`Event`]s (capacity
    /// `event_queue`). Must be called within a tokio runtime. Fails if any
    /// address cannot be bound, or a TLS listener lacks its certificate.
    pub async fn bind(
        config: TransportConfig,
        listen: &[ListenAddr],
    ) -> Result<(Self, mpsc::Receiver<Event>), Error> {
        let acceptor = if listen.iter().any(|l| l.transport == Transport::Tls) {
            match (&config.tls_cert_file, &config.tls_key_file) {
                (Some(cert), Some(key)) => Some(TlsAcceptor::from(tls::server_config(cert, key)?)),
                _ => return Err(Error::TlsCertificateMissing),
            }
        } else {
            None
        };
        let tls_client = config
            .tls_ca_file
            .as_deref()
            .map(tls::client_config)
            .transpose()?;

        let mut udp_sockets = Vec::new();
        let mut listeners = Vec::new();
        let mut local_addrs = Vec::new();
        for l in listen {
            let bind_err = |source| Error::Bind {
                transport: l.transport,
                addr: l.addr,
                source,
            };
            match l.transport {
                Transport::Udp => {
                    let sock = udp::bind(l.addr, config.udp_recv_buffer_bytes).map_err(bind_err)?;
                    let local = sock.local_addr().map_err(bind_err)?;
                    udp_sockets.push((local, Arc::new(sock)));
                    local_addrs.push(ListenAddr::new(Transport::Udp, local));
                }
                Transport::Tcp | Transport::Tls => {
                    let listener = conn::bind_listener(l.addr).map_err(bind_err)?;
                    let local = listener.local_addr().map_err(bind_err)?;
                    listeners.push((l.transport, local, listener));
                    local_addrs.push(ListenAddr::new(l.transport, local));
                }
            }
        }

        let (events, events_rx) = mpsc::channel(config.event_queue.max(1));
        let (guard, tasks_done) = mpsc::channel(1);
        let inner = Arc::new(Inner {
            limits: config.limits(),
            config,
            events,
            tls_client,
            udp_dropped: AtomicU64::new(0),
            segment_resets: AtomicU64::new(0),
            stop: watch::Sender::new(false),
            task_guard: Mutex::new(Some(guard)),
            tasks_done: tokio::sync::Mutex::new(tasks_done),
            udp: Mutex::new(udp_sockets.clone()),
            conns: Mutex::new(ConnTable::default()),
            next_id: AtomicU64::new(1),
            refused: AtomicU64::new(0),
        });
        for (local, sock) in udp_sockets {
            inner.spawn(udp::run(inner.clone(), sock, local));
        }
        for (transport, local, listener) in listeners {
            let acceptor = match transport {
                Transport::Tls => acceptor.clone(),
                _ => None,
            };
            inner.spawn(conn::run_listener(
                inner.clone(),
                listener,
                transport,
                local,
                acceptor,
            ));
        }
        info!(addrs = ?local_addrs, "SIP transport listening");
        let endpoint = Self {
            _stop: Arc::new(StopOnDrop(inner.clone())),
            inner,
            local_addrs: local_addrs.into(),
        };
        Ok((endpoint, events_rx))
    }

    /// The addresses actually bound, in the order given to [`Endpoint::bind`]
    /// (ephemeral ports resolved).
    pub fn local_addrs(&self) -> &[ListenAddr] {
        &self.local_addrs
    }

    /// The first bound address of `transport`.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.local_addrs
            .iter()
            .find(|l| l.transport == transport)
            .map(|l| l.addr)
    }

    /// The configuration in force.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        Stats {
            connections: lock(&self.inner.conns).by_id.len(),
            udp_dropped: self.inner.udp_dropped.load(Ordering::Relaxed),
            segment_resets: self.inner.segment_resets.load(Ordering::Relaxed),
            refused_connections: self.inner.refused.load(Ordering::Relaxed),
        }
    }

    /// Sends one message.
    ///
    /// UDP: from the listening socket `out.local`, else the first of
    /// `dest`'s family, so that the source port is a listening port. TCP and
    /// TLS: on connection `out.conn` if still open, else on an open
    /// connection to `dest`, else on a new one (TLS verified against
    /// `tls_server_name` or `dest`'s IP with the `tls_ca_file` roots). Returns
    /// once the bytes are handed to the socket. The size rule of RFC 3261
    /// section 18.1.1 is the caller's ([`crate::choose_transport`]), since
    /// the Via must match.
    pub async fn send(&self, out: Outbound) -> Result<(), Error> {
        if self.inner.is_stopped() {
            return Err(Error::ShutDown);
        }
        let limit = self.inner.config.max_message_bytes;
        if out.bytes.len() > limit {
            return Err(Error::MessageTooLarge {
                len: out.bytes.len(),
                limit,
            });
        }
        match out.transport {
            Transport::Udp => {
                let sock = self
                    .inner
                    .udp_socket(out.local, out.dest)
                    .ok_or(Error::NoSocket {
                        transport: Transport::Udp,
                        dest: out.dest,
                    })?;
                sock.send_to(&out.bytes, out.dest)
                    .await
                    .map_err(|source| Error::Send {
                        dest: out.dest,
                        source,
                    })?;
                Ok(())
            }
            Transport::Tcp | Transport::Tls => self.send_stream(out).await,
        }
    }

    async fn send_stream(&self, out: Outbound) -> Result<(), Error> {
        if let Some((id, writer)) = self.inner.writer_for(out.conn, out.transport, out.dest) {
            match write(id, &writer, out.bytes.clone(), out.dest).await {
                // Closed before anything was written: open a new one below.
                Err(Error::ConnectionClosed { .. }) => {
                    debug!(conn = %id, dest = %out.dest, "connection gone; opening a new one");
                }
                other => return other,
            }
        }
        let (id, writer) = conn::connect(
            &self.inner,
            out.transport,
            out.dest,
            out.tls_server_name.as_deref(),
        )
        .await?;
        write(id, &writer, out.bytes, out.dest).await
    }

    /// Stops the listeners and UDP sockets, closes every connection, and
    /// waits for their tasks to end. Later sends fail with
    /// [`Error::ShutDown`].
    pub async fn shutdown(&self) {
        self.inner.stop_all();
        let mut done = self.inner.tasks_done.lock().await;
        while done.recv().await.is_some() {}
        debug!("SIP transport shut down");
    }
}

/// Queues `bytes` on a connection and waits until they are written.
async fn write(
    id: ConnId,
    writer: &mpsc::Sender<WriteReq>,
    bytes: Bytes,
    dest: SocketAddr,
) -> Result<(), Error> {
    let (done, result) = oneshot::channel();
    writer
        .send(WriteReq { bytes, done })
        .await
        .map_err(|_| Error::ConnectionClosed { conn: id })?;
    match result.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(Error::Send { dest, source }),
        Err(_) => Err(Error::ConnectionClosed { conn: id }),
    }
}
