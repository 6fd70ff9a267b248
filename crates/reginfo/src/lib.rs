//! The RFC 3680 registration event package's document,
//! `application/reginfo+xml`, as plain data.
//!
//! This crate owns:
//! - the document model ([`RegInfo`], [`Registration`], [`Contact`]) with
//!   the RFC 5626 instance ID ([`Contact::instance`]) and the RFC 5628 GRUU
//!   elements;
//! - serialization ([`RegInfo::to_xml`]) and a tolerant parser ([`parse`])
//!   that also reads what Kamailio's `presence_reginfo` sends (DESIGN.md
//!   section 6: `version="0"` and `state="full"` on every NOTIFY, expiry as
//!   a bare `<registration state="terminated"/>`, no `+sip.instance`);
//! - E2, the notifier's splitting of a large full state into several NOTIFY
//!   bodies ([`split_full_state`], [`DEFAULT_MAX_BODY`], [`MAX_BODY_RANGE`]);
//! - E9, the subscriber's side: the RFC 3680 section 5.2 version rules
//!   ([`VersionTracker`], with [`QuirkMode::KamailioPerAor`]) and the tables
//!   built from the documents ([`RegistrationSet`]), which report each
//!   device change ([`DeviceChange`]).
//!
//! It must not do IO, know about SIP messages or dialogs (the caller takes
//! the body out of the NOTIFY and sends the re-SUBSCRIBE), keep time, or
//! spawn anything: every function is a pure transformation of its inputs.

#![forbid(unsafe_code)]

mod model;
mod parse;
mod set;
mod split;
mod version;
mod write;
use xml_tree as xml;

pub use model::{
    Contact, ContactEvent, ContactState, DocState, RegInfo, RegState, Registration, TempGruu,
    CONTENT_TYPE, GRUUINFO_NS, REGINFO_NS, SIP_INSTANCE_PARAM,
};
pub use parse::{parse, ParseError, XmlError};
pub use set::{device_key, DeviceChange, DeviceIdent, DeviceKey, RegistrationSet};
pub use split::{split_full_state, DEFAULT_MAX_BODY, MAX_BODY_RANGE};
pub use version::{Apply, QuirkMode, VersionTracker};
