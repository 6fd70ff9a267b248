//! The Locus SIP server (`locus sip`).
//!
//! It owns what the server does with SIP: answering requests, response
//! routing (RFC 3261 section 18.2), and, as issues land, trunks, the
//! registrar, the B2BUA and emergency routing. [`core`] is sans-IO (bytes and
//! time in, messages out); [`service`] is the thin tokio driver that wires it
//! to `sip-transport`. Parsing lives in `sip-core`, transactions in
//! `sip-transaction`: this crate must not re-implement either.

pub mod anchor;
mod b2bua;
#[cfg(test)]
mod b2bua_paths;
pub mod bindings;
pub mod config;
pub mod core;
pub mod dialog;
pub mod dns;
pub mod elins;
mod geolocation;
mod hosts;
pub mod identity;
mod multipart;
pub mod number;
mod probe;
pub mod ratelimit;
pub mod regevent;
pub mod registrar;
pub mod routes;
pub mod service;
pub mod trunk;
mod via;

pub use crate::core::SipCore;
pub use service::{Server, StartError};
