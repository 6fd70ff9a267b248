//! Errors of binding and sending.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{ConnId, Transport};

/// What went wrong binding an endpoint or sending a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket could not be created or bound (address in use, no
    /// permission, address not local).
    #[error("cannot listen on {transport} {addr}: {source}")]
    Bind {
        /// The transport.
        transport: Transport,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// A TLS listener was asked for without `tls_cert_file` and `tls_key_file`.
    #[error("a tls listener needs tls_cert_file and tls_key_file")]
    TlsCertificateMissing,
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    PemFile {
        /// The file.
        path: PathBuf,
        /// The IO or PEM error.
        source: io::Error,
    },
    /// A PEM file holds no certificate or no private key where one is needed.
    #[error("{path} holds no {what}")]
    PemEmpty {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
    },
    /// rustls refused the certificate, key or CA.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Opening a TLS connection needs `tls_ca_file`.
    #[error("no TLS client configuration: set tls_ca_file to open TLS connections")]
    NoTlsClientConfig,
    /// `tls_server_name` is not a valid DNS name or IP address.
    #[error("invalid TLS server name {name:?}")]
    InvalidServerName {
        /// The name given.
        name: String,
    },
    /// No UDP socket of the destination's address family is bound.
    #[error("no {transport} socket bound for {dest}")]
    NoSocket {
        /// The transport.
        transport: Transport,
        /// The destination.
        dest: SocketAddr,
    },
    /// A TCP connection could not be opened.
    #[error("cannot connect to {dest}: {source}")]
    Connect {
        /// The destination.
        dest: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The TCP connect or TLS handshake took longer than `connect_timeout`.
    #[error("connecting to {dest} timed out")]
    ConnectTimeout {
        /// The destination.
        dest: SocketAddr,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {dest} failed: {source}")]
    TlsHandshake {
        /// The destination.
        dest: SocketAddr,
        /// The error (rustls errors are wrapped in io errors).
        source: io::Error,
    },
    /// `max_connections` connections are already open.
    #[error("connection limit {limit} reached")]
    TooManyConnections {
        /// The limit.
        limit: usize,
    },
    /// `max_connections_per_ip` connections from this address are open.
    #[error("connection limit {limit} reached for {ip}")]
    TooManyConnectionsFromIp {
        /// The peer's address.
        ip: std::net::IpAddr,
        /// The limit.
        limit: usize,
    },
    /// The connection closed before the message was written.
    #[error("connection {conn} closed before the message was written")]
    ConnectionClosed {
        /// The connection.
        conn: ConnId,
    },
    /// Writing to the socket or connection failed (or timed out).
    #[error("sending to {dest} failed: {source}")]
    Send {
        /// The destination.
        dest: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The message exceeds `max_message_bytes`.
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// The message size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The endpoint was shut down.
    #[error("the transport endpoint is shut down")]
    ShutDown,
}
