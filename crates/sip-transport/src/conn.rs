//! TCP and TLS: listeners, opening connections, and the per-connection task
//! that frames the stream (C3), answers keep-alives and writes.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rustls::pki_types::ServerName;
use sip_framing::{frame_stream, Frame};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, trace, warn};

use crate::endpoint::{
    stopped, ConnId, Event, Inbound, InboundError, Inner, StreamError, WriteReq,
};
use crate::{Error, Transport};

/// Spare room reserved before each read.
const READ_CHUNK: usize = 4096;
/// Bound on sending our FIN, and on waiting for the peer's after a framing
/// error while discarding what it still sends.
const CLOSE_DRAIN: Duration = Duration::from_millis(500);

/// Binds a TCP listener: `SO_REUSEADDR` (restart while old connections sit
/// in TIME_WAIT), IPv6 sockets IPv6 only.
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// The TCP socket under a stream, to reset it.
pub(crate) trait RawTcp {
    fn tcp(&self) -> &TcpStream;
}

impl RawTcp for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl RawTcp for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

impl RawTcp for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Closes with RST: `SO_LINGER` 0, then close, so the peer sees ECONNRESET.
fn reset_tcp(tcp: &TcpStream) {
    if let Err(e) = SockRef::from(tcp).set_linger(Some(Duration::ZERO)) {
        debug!(error = %e, "cannot set SO_LINGER 0");
    }
}

fn stream_config(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
}

/// Accepts connections until shutdown.
pub(crate) async fn run_listener(
    inner: Arc<Inner>,
    listener: TcpListener,
    transport: Transport,
    local: SocketAddr,
    acceptor: Option<TlsAcceptor>,
) {
    let mut stop = inner.stop_signal();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            r = listener.accept() => match r {
                Ok((tcp, remote)) => accept(&inner, tcp, remote, local, transport, acceptor.as_ref()),
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    warn!(%local, error = %e, "accept failed");
                    tokio::select! {
                        () = stopped(&mut stop) => break,
                        () = sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    debug!(%local, %transport, "listener stopped");
}

fn accept(
    inner: &Arc<Inner>,
    tcp: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    transport: Transport,
    acceptor: Option<&TlsAcceptor>,
) {
    stream_config(&tcp);
    let (id, _writer, writes) = match inner.register(transport, remote, true) {
        Ok(r) => r,
        Err(e) => {
            warn!(%remote, %local, %transport, error = %e, "connection refused");
            reset_tcp(&tcp);
            return;
        }
    };
    debug!(conn = %id, %remote, %local, %transport, "connection accepted");
    let ctx = ConnCtx {
        inner: inner.clone(),
        id,
        transport,
        remote,
        local,
    };
    let spawned = match acceptor {
        None => inner.spawn(Conn::new(ctx, tcp, writes).run()),
        Some(acceptor) => {
            let acceptor = acceptor.clone();
            inner.spawn(async move {
                let mut stop = ctx.inner.stop_signal();
                let handshake = timeout(ctx.inner.config.connect_timeout, acceptor.accept(tcp));
                let result = tokio::select! {
                    () = stopped(&mut stop) => None,
                    r = handshake => Some(r),
                };
                match result {
                    Some(Ok(Ok(tls))) => Conn::new(ctx, tls, writes).run().await,
                    Some(Ok(Err(e))) => {
                        debug!(conn = %ctx.id, %remote, error = %e, "TLS handshake failed");
                        ctx.inner.unregister(ctx.id);
                    }
                    Some(Err(_)) => {
                        debug!(conn = %ctx.id, %remote, "TLS handshake timed out");
                        ctx.inner.unregister(ctx.id);
                    }
                    None => ctx.inner.unregister(ctx.id),
                }
            })
        }
    };
    if !spawned {
        inner.unregister(id);
    }
}

/// Opens a TCP or TLS connection to `dest` and starts its task.
pub(crate) async fn connect(
    inner: &Arc<Inner>,
    transport: Transport,
    dest: SocketAddr,
    server_name: Option<&str>,
) -> Result<(ConnId, mpsc::Sender<WriteReq>), Error> {
    inner.check_capacity()?;
    let tls = match transport {
        Transport::Tls => {
            let config = inner.tls_client.clone().ok_or(Error::NoTlsClientConfig)?;
            let name = match server_name {
                Some(n) => ServerName::try_from(n.to_owned())
                    .map_err(|_| Error::InvalidServerName { name: n.to_owned() })?,
                None => ServerName::IpAddress(dest.ip().into()),
            };
            Some((TlsConnector::from(config), name))
        }
        _ => None,
    };
    let bound = inner.config.connect_timeout;
    let tcp = match timeout(bound, TcpStream::connect(dest)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(source)) => return Err(Error::Connect { dest, source }),
        Err(_) => return Err(Error::ConnectTimeout { dest }),
    };
    stream_config(&tcp);
    let local = tcp
        .local_addr()
        .map_err(|source| Error::Connect { dest, source })?;
    let ctx = |id| ConnCtx {
        inner: inner.clone(),
        id,
        transport,
        remote: dest,
        local,
    };
    let (id, writer, spawned) = match tls {
        None => {
            let (id, writer, writes) = inner.register(transport, dest, false)?;
            (
                id,
                writer,
                inner.spawn(Conn::new(ctx(id), tcp, writes).run()),
            )
        }
        Some((connector, name)) => {
            let stream = match timeout(bound, connector.connect(name, tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(source)) => return Err(Error::TlsHandshake { dest, source }),
                Err(_) => return Err(Error::ConnectTimeout { dest }),
            };
            let (id, writer, writes) = inner.register(transport, dest, false)?;
            (
                id,
                writer,
                inner.spawn(Conn::new(ctx(id), stream, writes).run()),
            )
        }
    };
    if !spawned {
        inner.unregister(id);
        return Err(Error::ShutDown);
    }
    debug!(conn = %id, %dest, %local, %transport, "connection opened");
    Ok((id, writer))
}

/// Who a connection is.
struct ConnCtx {
    inner: Arc<Inner>,
    id: ConnId,
    transport: Transport,
    remote: SocketAddr,
    local: SocketAddr,
}

/// How a connection ends.
enum Close {
    /// FIN (and TLS close_notify).
    Graceful,
    /// FIN, then discard what the peer still sends until its FIN, so that a
    /// reply just written is not destroyed by the RST that closing a socket
    /// with unread data causes.
    Linger,
    /// RST (design rule C3).
    Reset,
    /// Just drop it: the socket failed or nobody listens for its events.
    Abort,
}

/// What one read led to.
enum Step {
    Continue,
    Reset,
    Failed(StreamError),
    Gone,
}

/// The task of one connection: reads and frames, delivers, writes.
struct Conn<S> {
    ctx: ConnCtx,
    stream: S,
    writes: mpsc::Receiver<WriteReq>,
    stop: watch::Receiver<bool>,
    buf: BytesMut,
    /// The buffer starts with part of a message (not keep-alive, not empty).
    in_message: bool,
    /// Reads that carried the message at the head of the buffer (C3).
    segments: u32,
    /// The last read filled all the room it had: more was probably waiting,
    /// so the next read continues the same segment rather than a new one.
    continued: bool,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + RawTcp + Unpin + Send + 'static,
{
    fn new(ctx: ConnCtx, stream: S, writes: mpsc::Receiver<WriteReq>) -> Self {
        let stop = ctx.inner.stop_signal();
        Self {
            ctx,
            stream,
            writes,
            stop,
            buf: BytesMut::new(),
            in_message: false,
            segments: 0,
            continued: false,
        }
    }

    async fn run(mut self) {
        let idle_timeout = self.ctx.inner.config.idle_timeout;
        let idle = sleep(idle_timeout);
        tokio::pin!(idle);
        let close = loop {
            tokio::select! {
                () = stopped(&mut self.stop) => break Close::Graceful,
                () = &mut idle => {
                    debug!(conn = %self.ctx.id, remote = %self.ctx.remote, "idle timeout: closing");
                    break Close::Graceful;
                }
                req = self.writes.recv() => {
                    let Some(req) = req else { break Close::Graceful };
                    if !self.write(req).await {
                        break Close::Abort;
                    }
                    idle.as_mut().reset(Instant::now() + idle_timeout);
                }
                read = read_chunk(&mut self.stream, &mut self.buf) => match read {
                    Ok((0, _)) => {
                        debug!(conn = %self.ctx.id, remote = %self.ctx.remote, "peer closed");
                        break Close::Graceful;
                    }
                    Ok((_, filled)) => {
                        idle.as_mut().reset(Instant::now() + idle_timeout);
                        match self.on_read(filled).await {
                            Step::Continue => {}
                            Step::Reset => break Close::Reset,
                            Step::Failed(error) => {
                                self.fail(error).await;
                                break Close::Linger;
                            }
                            Step::Gone => break Close::Abort,
                        }
                    }
                    Err(e) => {
                        debug!(conn = %self.ctx.id, remote = %self.ctx.remote, error = %e, "read failed");
                        break Close::Abort;
                    }
                },
            }
        };
        self.close(close).await;
    }

    /// Frames what the buffer holds after a read of `filled` (see
    /// [`Conn::continued`]), delivering each complete message.
    async fn on_read(&mut self, filled: bool) -> Step {
        // C3: count the reads that carry the message being assembled.
        if !self.in_message {
            self.segments = 1;
        } else if !self.continued {
            self.segments += 1;
        }
        self.continued = filled;
        let limits = self.ctx.inner.limits;
        let max_message = self.ctx.inner.config.max_message_bytes;
        loop {
            match frame_stream(&self.buf, &limits) {
                Ok(Frame::KeepAlive { len }) => {
                    if len < 4 && len == self.buf.len() {
                        // Perhaps the first half of a CRLFCRLF ping: wait.
                        self.in_message = false;
                        return Step::Continue;
                    }
                    self.buf.advance(len);
                    // What follows started in this read.
                    self.segments = 1;
                    if len >= 4 {
                        // RFC 5626 section 3.5.1: answer the ping with a pong.
                        trace!(conn = %self.ctx.id, "CRLFCRLF ping: pong");
                        if let Err(e) = self.write_bytes(b"\r\n").await {
                            debug!(conn = %self.ctx.id, error = %e, "pong failed");
                            return Step::Gone;
                        }
                    }
                }
                Ok(Frame::Complete { len, .. }) => {
                    if len > max_message {
                        return Step::Failed(StreamError::MessageTooLarge { limit: max_message });
                    }
                    let bytes = self.buf.split_to(len).freeze();
                    self.segments = 1;
                    let event = Event::Message(Inbound {
                        bytes,
                        source: self.ctx.remote,
                        local: self.ctx.local,
                        transport: self.ctx.transport,
                        conn: Some(self.ctx.id),
                    });
                    if !self.deliver(event).await {
                        return Step::Gone;
                    }
                }
                Ok(Frame::Incomplete) => {
                    self.in_message = !self.buf.is_empty();
                    if !self.in_message {
                        return Step::Continue;
                    }
                    if self.buf.len() > max_message {
                        return Step::Failed(StreamError::MessageTooLarge { limit: max_message });
                    }
                    let max_segments = self.ctx.inner.config.max_segments_per_message;
                    if max_segments > 0 && self.segments >= max_segments && !self.continued {
                        self.ctx
                            .inner
                            .segment_resets
                            .fetch_add(1, Ordering::Relaxed);
                        warn!(
                            conn = %self.ctx.id,
                            remote = %self.ctx.remote,
                            transport = %self.ctx.transport,
                            segments = self.segments,
                            buffered = self.buf.len(),
                            "message incomplete after {max_segments} segments: dropped, connection reset (C3)"
                        );
                        return Step::Reset;
                    }
                    return Step::Continue;
                }
                Err(e) => return Step::Failed(StreamError::Frame(e)),
            }
        }
    }

    /// Hands an event to the owner, waiting for room (backpressure: no
    /// reads meanwhile) while still serving writes. False if nobody listens
    /// or the endpoint stops.
    async fn deliver(&mut self, event: Event) -> bool {
        let inner = self.ctx.inner.clone();
        loop {
            tokio::select! {
                biased;
                permit = inner.events.reserve() => {
                    return match permit {
                        Ok(permit) => {
                            permit.send(event);
                            true
                        }
                        Err(_) => false,
                    };
                }
                () = stopped(&mut self.stop) => return false,
                req = self.writes.recv() => match req {
                    Some(req) => {
                        if !self.write(req).await {
                            return false;
                        }
                    }
                    None => return false,
                },
            }
        }
    }

    /// Reports a framing error, then waits a little for the one reply.
    async fn fail(&mut self, error: StreamError) {
        warn!(
            conn = %self.ctx.id,
            remote = %self.ctx.remote,
            transport = %self.ctx.transport,
            %error,
            "stream cannot be framed: closing after the reply"
        );
        self.ctx.inner.unindex(self.ctx.id);
        let bytes = self.buf.split().freeze();
        let event = Event::Error(InboundError {
            bytes,
            source: self.ctx.remote,
            local: self.ctx.local,
            transport: self.ctx.transport,
            conn: self.ctx.id,
            error,
        });
        if !self.deliver(event).await {
            return;
        }
        let grace = sleep(self.ctx.inner.config.error_reply_grace);
        tokio::select! {
            () = grace => {}
            () = stopped(&mut self.stop) => {}
            req = self.writes.recv() => {
                if let Some(req) = req {
                    self.write(req).await;
                }
            }
        }
    }

    /// Writes one queued message and reports the result; false on failure.
    async fn write(&mut self, req: WriteReq) -> bool {
        let result = self.write_bytes(&req.bytes).await;
        let ok = result.is_ok();
        if let Err(e) = &result {
            debug!(conn = %self.ctx.id, remote = %self.ctx.remote, error = %e, "write failed");
        }
        let _ = req.done.send(result);
        ok
    }

    async fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = &mut self.stream;
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match timeout(self.ctx.inner.config.write_timeout, write).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    async fn close(mut self, how: Close) {
        self.ctx.inner.unregister(self.ctx.id);
        // Queued writes fail with ConnectionClosed; senders may retry.
        self.writes.close();
        match how {
            Close::Reset => {
                reset_tcp(self.stream.tcp());
                drop(self.stream);
            }
            Close::Abort => drop(self.stream),
            Close::Graceful => {
                let _ = timeout(CLOSE_DRAIN, self.stream.shutdown()).await;
            }
            Close::Linger => {
                let _ = timeout(CLOSE_DRAIN, self.stream.shutdown()).await;
                let max = self.ctx.inner.config.max_message_bytes;
                let stream = &mut self.stream;
                let buf = &mut self.buf;
                let drain = async {
                    let mut seen = 0usize;
                    loop {
                        buf.clear();
                        match read_chunk(stream, buf).await {
                            Ok((n, _)) if n > 0 && seen < max => seen += n,
                            _ => break,
                        }
                    }
                };
                let _ = timeout(CLOSE_DRAIN, drain).await;
            }
        }
        debug!(conn = %self.ctx.id, remote = %self.ctx.remote, "connection closed");
    }
}

/// Reads once into `buf`; returns the bytes read and whether they filled all
/// the room there was.
async fn read_chunk<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> io::Result<(usize, bool)> {
    buf.reserve(READ_CHUNK);
    let room = buf.capacity() - buf.len();
    let n = stream.read_buf(buf).await?;
    Ok((n, n == room))
}
