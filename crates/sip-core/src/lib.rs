//! The SIP message layer of Locus: message, URI and header model, a
//! zero-copy parser, message-level validation and a serializer.
//!
//! This crate owns one idea: turning bytes into a SIP message and back
//! (RFC 3261 sections 7, 19, 20 and 25; RFC 3966 `tel` URIs; the RFC 4475
//! and RFC 5118 torture tests). A parsed [`Message`] holds one
//! [`bytes::Bytes`] buffer; header fields are spans into it; typed values
//! ([`Via`], [`NameAddr`], [`CSeq`]...) borrow from it and are parsed on
//! demand, except the hot ones (top Via, From, To, Call-ID, CSeq) which are
//! checked during the parse. Framing (where a message ends) comes from
//! `sip-framing`, never re-implemented here.
//!
//! It must not do IO, spawn, read clocks or depend on tokio: transports,
//! transactions and applications live in other crates.
//!
//! ```
//! use bytes::Bytes;
//! use sip_core::{HeaderForm, Message, Response, StatusCode};
//!
//! let raw = Bytes::from_static(b"OPTIONS sip:a@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\n\
//! To: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
//! let Message::Request(req) = Message::parse_datagram(raw).unwrap() else { unreachable!() };
//! req.validate().unwrap();
//! assert_eq!(req.branch(), Some("z9hG4bK1"));
//! let ok = Response::for_request(&req, StatusCode::OK, None).to_tag("t1").to_bytes();
//! assert!(ok.starts_with(b"SIP/2.0 200 OK\r\n"));
//! ```

// `unsafe` is denied everywhere but in `ascii`, which says why it needs it.
#![deny(unsafe_code)]

pub mod addr_text;
mod ascii;
mod builder;
mod error;
mod header_name;
mod headers;
mod ids;
mod message;
mod method;
mod name_addr;
mod params;
mod reply;
mod scan;
mod status;
mod text;
mod uri;
mod validate;

pub use builder::{RequestBuilder, ResponseBuilder};
pub use error::{ParseError, Rejection};
pub use header_name::HeaderName;
pub use headers::{
    Auth, CSeq, Contacts, Event, MediaType, RemotePartyId, SubscriptionState, TokenParams, Via,
};
pub use ids::{new_branch, new_call_id, new_tag};
pub use message::{
    HeaderField, HeaderForm, Headers, Message, ParseLimits, Request, Response, Values,
};
pub use method::Method;
pub use name_addr::NameAddr;
pub use params::{Param, Params};
pub use reply::ReplyContext;
pub use status::StatusCode;
pub use text::{unescape, unquote};
pub use uri::{Host, SipUri, TelUri, Uri};
