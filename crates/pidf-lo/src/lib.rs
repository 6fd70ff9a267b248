//! PIDF-LO location objects as Locus exchanges them: RFC 4119 GEOPRIV in
//! PIDF, the RFC 5139 civic address, RFC 5491's usage rules (one location,
//! device first), the RFC 4479 `<dm:device>` identified by MAC or instance
//! URN, and the ELIN as a Locus extension element.
//!
//! This crate owns:
//! - [`CivicAddress`] (every RFC 5139 element) and [`civic_summary`], the
//!   one-line form used in alerts (E13);
//! - [`Elin`], an E.164 number validated once;
//! - [`LocationDoc`]: what the E911 manager PUBLISHes to the SIP server
//!   (E11) and what the SIP server sends on to the gateway by value (E6),
//!   with its serializer and tolerant parser;
//! - device ID helpers ([`mac_device_id`], [`instance_device_id`]).
//!
//! It must not do IO, know about SIP (the caller sets `Content-Type` to
//! [`CONTENT_TYPE`] and builds the Geolocation header), look up locations,
//! or keep time (timestamps are strings the caller provides).

#![forbid(unsafe_code)]

mod civic;
mod doc;
mod elin;
use xml_tree as xml;

pub use civic::{civic_summary, CivicAddress};
pub use doc::{
    instance_device_id, mac_device_id, parse, DeviceRef, LocationDoc, PidfError, UsageRules,
    XmlError, BASIC_POLICY_NS, CIVIC_ADDR_NS, CIVIC_LOC_NS, CONTENT_TYPE, DATA_MODEL_NS, ELIN_NS,
    GEOPRIV_NS, PIDF_NS,
};
pub use elin::{Elin, ElinError};
