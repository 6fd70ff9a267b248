//! Limits and TLS material for an [`crate::Endpoint`].

use std::path::PathBuf;
use std::time::Duration;

/// Settings of an [`crate::Endpoint`]. Build with struct update syntax:
/// `TransportConfig { idle_timeout: Duration::from_secs(60), ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Largest message accepted or buffered, headers and body (default
    /// 65535, the largest UDP payload of RFC 3261 section 18.1.1). A stream
    /// message over it is reported as [`crate::StreamError`] (answer 513).
    pub max_message_bytes: usize,
    /// Largest header block accepted on a stream (default 16 KiB).
    pub max_header_bytes: usize,
    /// Segments that may carry one stream message (design rule C3, default
    /// 4; 0 turns the rule off): a message still incomplete after this many
    /// is dropped and the connection reset (RST). A segment is a read that
    /// returned data of the message; a read that filled all the buffer room
    /// it had runs on into the next read, so one large write is not counted
    /// as several segments.
    pub max_segments_per_message: u32,
    /// A connection with no traffic either way for this long is closed
    /// (default 300 s; RFC 3261 section 18 asks for at least 64*T1 = 32 s).
    pub idle_timeout: Duration,
    /// Connections open at once, accepted and opened (default 10,000).
    /// Past it, new connections are closed at accept and sends that need a
    /// new connection fail.
    pub max_connections: usize,
    /// Accepted connections from one IP address (default 100).
    pub max_connections_per_ip: usize,
    /// PEM certificate chain for TLS listeners.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for TLS listeners.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates trusted when opening TLS connections. Without it
    /// the endpoint cannot open TLS connections (it still accepts them).
    pub tls_ca_file: Option<PathBuf>,
    /// Request size above which UDP should give way to TCP (default 1300,
    /// RFC 3261 section 18.1.1); see [`crate::choose_transport_with`].
    pub udp_mtu_threshold: usize,
    /// Capacity of the event channel (default 1024). When full, UDP datagrams
    /// are dropped and counted; stream connections stop reading.
    pub event_queue: usize,
    /// Bound on opening a TCP connection and on a TLS handshake (default 5 s).
    pub connect_timeout: Duration,
    /// Bound on writing one message to a connection (default 10 s); a write
    /// that takes longer closes the connection.
    pub write_timeout: Duration,
    /// After a framing error, how long the connection waits for the answer
    /// (400 or 513) before it closes (default 2 s).
    pub error_reply_grace: Duration,
    /// `SO_RCVBUF` asked for UDP sockets, best effort (default 4 MiB).
    pub udp_recv_buffer_bytes: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 65_535,
            max_header_bytes: 16 * 1024,
            max_segments_per_message: 4,
            idle_timeout: Duration::from_secs(300),
            max_connections: 10_000,
            max_connections_per_ip: 100,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_file: None,
            udp_mtu_threshold: crate::UDP_MTU_THRESHOLD,
            event_queue: 1024,
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            error_reply_grace: Duration::from_secs(2),
            udp_recv_buffer_bytes: 4 * 1024 * 1024,
        }
    }
}

impl TransportConfig {
    /// The framing limits for streams: headers as configured, and a body no
    /// larger than the whole-message limit.
    pub(crate) fn limits(&self) -> sip_framing::Limits {
        sip_framing::Limits {
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_message_bytes,
        }
    }
}
