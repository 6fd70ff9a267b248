//! RFC 3263 target resolution for outbound SIP (design rules C9, C13, C20).
//!
//! This crate owns turning a SIP/SIPS URI's target (host, port, transport
//! parameter) into the ordered list of `(address, port, transport)`
//! endpoints a request is tried on:
//!
//! - the pure part, with no IO and deterministic for a given seed: RFC 2782
//!   SRV ordering by priority then weight ([`order_srv`]), random spread
//!   across equal endpoints ([`shuffle`]), the RFC 3263 section 4 decision
//!   of which lookups to make, and the failover walk ([`TargetList`]);
//! - the [`Resolver`]: hickory-resolver queries with its TTL cache, SRV
//!   (`_sip._udp`, `_sip._tcp`, `_sips._tcp`) then A/AAAA, then the
//!   caller's configured addresses as the last resort, every wait bounded
//!   by a timeout (an emergency call may depend on it).
//!
//! It must not open SIP sockets, send requests or decide what a response
//! means beyond documenting the RFC 3263 section 4.3 failover rule: the
//! B2BUA walks the [`TargetList`], and moving to the next carrier of a
//! route is the router's job. NAPTR is not implemented (the carrier
//! specification only needs SRV).
//!
//! DESIGN.md places RFC 3263 inside `sip-transport`; it lives here instead
//! so that hickory's compile cost stays away from everything that only
//! needs sockets. The [`Transport`] type is `sip-transport`'s, re-exported.
//!
//! # Use
//!
//! 1. [`Resolver::new`] with a [`ResolverConfig`] (the DNS servers, or
//!    empty for `/etc/resolv.conf`; timeouts; cache size).
//! 2. [`Resolver::resolve`] a [`Target`] with the trunk's configured
//!    addresses as `fallback`; wrap the result in a [`TargetList`].
//! 3. Send to [`TargetList::next`]; on a 503, a timeout without any
//!    response, a transport failure or a 408, call `next` again (a new
//!    transaction); `None` means the route's next carrier.

#![forbid(unsafe_code)]

mod error;
mod resolver;
mod select;
mod target;

pub use error::ResolveError;
pub use resolver::{HostAddresses, Resolver, ResolverConfig};
pub use select::{order_srv, shuffle, SelectionRng, SrvRecord};
pub use sip_transport::Transport;
pub use target::{Endpoint, Host, Origin, Target, TargetList};
