//! The Locus media relay: anchors the RTP and RTCP of every call the B2BUA
//! places (DESIGN.md C21-C25, seed section 3 "Media").
//!
//! This crate owns:
//!
//! - [`rtp`]: zero-copy RTP header view (RFC 3550 section 5.1) and the
//!   RTP/RTCP demultiplexing rule (RFC 5761 section 4).
//! - [`telephone_event`]: RFC 4733 event payloads and the C23 rule (events
//!   0-15).
//! - [`PortAllocator`]: even RTP ports, RTCP on the next port, from a range
//!   that never reaches the well-known ports (C24), least recently freed
//!   first.
//! - [`ForwardTable`]: the pure per-session forwarding decision: symmetric
//!   RTP (C25), destinations from the SDP only (C24, no latching), media
//!   direction, RFC 4733 pass-through.
//! - [`Relay`] and [`Session`]: the edge: four sockets per session, the
//!   pool of bound pairs, counters and the inactivity guard's clock.
//! - `worker`: the relay's I/O threads (level-triggered epoll, one `recv`
//!   and one `sendto` per packet).
//!
//! It must not parse or write SDP (the `sdp` crate does, and the B2BUA
//! passes the addresses it read), learn destinations from packet sources,
//! transcode or otherwise change media (beyond mapping a telephone-event
//! payload type the two legs numbered differently), or decide when a call
//! ends: it reports inactivity and the B2BUA acts.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use media::{Leg, Relay, RelayConfig};
//!
//! let relay = Relay::new(RelayConfig::default())?;
//! let session = relay.allocate_session()?;
//! // SDP toward the caller advertises session.leg_a.local_rtp_addr(),
//! // toward the callee session.leg_b.local_rtp_addr().
//! session.set_peer(Leg::A, "192.0.2.10:49170".parse()?, None)?;
//! session.set_peer(Leg::B, "198.51.100.7:20000".parse()?, None)?;
//! // ... call ends:
//! session.close().await;
//! # Ok(()) }
//! ```

mod forward;
mod ports;
mod relay;
pub mod rtp;
pub mod telephone_event;
mod worker;

pub use forward::{
    Channel, Direction, DropReason, Forward, ForwardTable, Kind, Leg, PayloadTypes, PeerError,
    Verdict,
};
pub use ports::{PortAllocator, PortRangeError, PortsExhausted, DEFAULT_PORT_RANGE, MIN_PORT};
pub use relay::{
    LegStats, LocalLeg, Relay, RelayConfig, RelayError, Session, DEFAULT_POOL_PAIRS,
    DEFAULT_POOL_QUARANTINE, DEFAULT_RELAY_THREADS,
};
