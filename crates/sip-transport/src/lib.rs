//! SIP over UDP, TCP and TLS: listeners, connections and stream limits.
//!
//! This crate owns the transport layer of RFC 3261 section 18 for Locus
//! (design rules C2 and C3): binding UDP sockets and TCP/TLS listeners,
//! accepting and opening connections, cutting streams into one message per
//! event with [`sip_framing`], answering CRLF keep-alive pings (RFC 5626
//! section 3.5.1), enforcing the 4-segments-per-message rule, idle timeouts,
//! connection limits and bounded buffers, and sending bytes back out
//! (symmetric UDP from the listening port, reuse of stream connections).
//!
//! It must not parse SIP beyond framing, nor depend on `sip-core`: Via
//! `received`/`rport` (RFC 3581), response routing and transport selection
//! for a given request are the caller's. It moves bytes; the caller decides
//! where they go, using [`Inbound::source`] as the address to answer (which is
//! what RFC 3581 `rport` asks for) and [`choose_transport`] to apply the
//! RFC 3261 section 18.1.1 size rule before it writes the top Via.
//!
//! # Use
//!
//! 1. [`Endpoint::bind`] with a [`TransportConfig`] and the [`ListenAddr`]s;
//!    it returns the endpoint and a bounded receiver of [`Event`]s.
//! 2. Read events: [`Event::Message`] carries exactly one framed stream
//!    message or one whole UDP datagram; [`Event::Error`] reports a stream
//!    that cannot be framed (answer it with [`Outbound::reply_to`], then the
//!    connection closes by itself).
//! 3. [`Endpoint::send`] an [`Outbound`].
//! 4. [`Endpoint::shutdown`] stops listeners and closes connections.

#![forbid(unsafe_code)]

mod config;
mod conn;
mod endpoint;
mod error;
mod tls;
mod transport;
mod udp;

pub use config::TransportConfig;
pub use endpoint::{ConnId, Endpoint, Event, Inbound, InboundError, Outbound, Stats, StreamError};
pub use error::Error;
pub use sip_framing::FrameError;
pub use transport::{
    choose_transport, choose_transport_with, ListenAddr, ListenAddrError, ParseTransportError,
    Transport, UDP_MTU_THRESHOLD,
};
