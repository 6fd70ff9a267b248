//! UDP sockets: one receive task per socket, datagrams delivered whole.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, trace, warn};

use crate::endpoint::{stopped, Event, Inbound, Inner};
use crate::Transport;

/// Largest UDP payload (RFC 3261 section 18.1.1: up to 65,535 bytes with
/// headers); one more byte tells a truncated datagram.
const RECV_BUF: usize = 65_536;

/// Binds a UDP socket with a large receive buffer (best effort).
///
/// No `SO_REUSEADDR` here: on Linux it lets a second process bind the same
/// UDP port and silently take its traffic; a port in use must be an error.
pub(crate) fn bind(addr: SocketAddr, recv_buffer: usize) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
        debug!(%addr, error = %e, "cannot enlarge the UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Receives datagrams until shutdown. A full event channel drops datagrams
/// (counted): UDP senders retransmit, and the socket must keep draining.
pub(crate) async fn run(inner: Arc<Inner>, sock: Arc<UdpSocket>, local: SocketAddr) {
    let mut stop = inner.stop_signal();
    // One stop future for the socket's life: made anew per datagram, it
    // registered and dropped a watch waiter each time.
    let stop = stopped(&mut stop);
    tokio::pin!(stop);
    let mut buf = vec![0u8; RECV_BUF];
    let max = inner.config.max_message_bytes;
    loop {
        let (n, source) = tokio::select! {
            biased;
            () = &mut stop => break,
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors of earlier sends surface here on some systems.
                    debug!(%local, error = %e, "UDP receive error");
                    continue;
                }
            },
        };
        let data = &buf[..n];
        if n == 0 || sip_framing::is_keepalive(data) {
            trace!(%local, %source, "UDP keep-alive");
            continue;
        }
        if n > max {
            // Still delivered: the parser enforces the same limit and the
            // server answers 513 (RFC 3261 section 21.5.14) instead of
            // leaving the sender to retransmit into silence.
            debug!(%local, %source, len = n, max, "UDP datagram over max_message_bytes");
        }
        let event = Event::Message(Inbound {
            bytes: Bytes::copy_from_slice(data),
            source,
            local,
            transport: Transport::Udp,
            conn: None,
        });
        match inner.events.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = inner.udp_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    warn!(%local, dropped, "event queue full: UDP datagrams dropped");
                }
            }
            Err(TrySendError::Closed(_)) => break,
        }
    }
    debug!(%local, "UDP socket stopped");
}
