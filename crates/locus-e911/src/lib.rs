//! The Locus E911 manager (`locus e911`).
//!
//! It owns what the ICD (seed 004) asks of an E911 manager: the device
//! inventory built from a SIP server's registration events (E9, E15), the
//! location of each device and its ELIN (E10, E11, E12), the answer to each
//! emergency call (a 302 towards the gateway, E12), the records (E16), the
//! store and the HTTP API (E14). It speaks only SIP and HTTP, so it works
//! beside any RFC 3680 registrar.
//!
//! The logic modules are sans-IO (messages and time in, messages out); the
//! store, the HTTP server and the SIP driver live at the edge. It must not
//! depend on `locus-sip`: the SIP server is a peer, reached over the wire.

pub mod config;
pub mod model;
pub mod service;

pub mod api;
pub mod location;
pub mod store;

pub mod redirect;
pub mod subscriber;

mod sip_driver;
