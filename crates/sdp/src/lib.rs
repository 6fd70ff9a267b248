//! SDP for Locus: a line-preserving session description (RFC 4566) and
//! the offer/answer (RFC 3264) media policy applied on carrier trunks.
//!
//! This crate owns two ideas:
//!
//! - [`SessionDescription`]: parse, read, change and write SDP while keeping
//!   every line it does not change byte for byte, unknown attributes and
//!   unknown line types included (DESIGN.md section 8: other SDP crates drop
//!   them, or T.38 lines). `serialize(parse(x)) == x` for valid SDP.
//! - The media policy of DESIGN.md C21-C24 ([`filter_offer`],
//!   [`build_answer`], [`prefer_opus`]): allowed codecs, telephone-event
//!   0-15, T.38 refused, well-known ports refused, and the media
//!   destinations taken from the SDP as written, never latched
//!   ([`SessionDescription::media_destinations`]).
//!
//! It must not do IO, spawn, read clocks or hold sockets: the media relay
//! (`media`) and the B2BUA (`locus-sip`) call it with bytes and get bytes
//! and decisions back. It never panics on any input.
//!
//! ```
//! use sdp::{filter_offer, Policy, SessionDescription};
//!
//! let offer = "v=0\r\n\
//!     o=- 1 1 IN IP4 192.0.2.10\r\n\
//!     s=-\r\n\
//!     c=IN IP4 192.0.2.10\r\n\
//!     t=0 0\r\n\
//!     m=audio 49170 RTP/AVP 0 3 101\r\n\
//!     a=rtpmap:101 telephone-event/8000\r\n\
//!     a=fmtp:101 0-16\r\n";
//! let mut sdp = SessionDescription::parse(offer).unwrap();
//! assert_eq!(sdp.serialize(), offer);
//! filter_offer(&mut sdp, &Policy::carrier_trunk()).unwrap();
//! assert_eq!(sdp.media()[0].formats(), ["0", "101"]);
//! assert_eq!(sdp.media()[0].fmtp("101").unwrap().parameters, "0-15");
//! ```

#![forbid(unsafe_code)]

mod answer;
mod error;
mod events;
mod model;
mod policy;
mod types;

pub use answer::{build_answer, LocalMedia};
pub use error::SdpError;
pub use model::{Line, MediaIndex, MediaSection, SessionDescription};
pub use policy::{
    check_ports, classify, filter_answer, filter_offer, prefer_opus, Change, Codec, FormatKind,
    NotAcceptable, Outcome, Policy, Rejection, StreamRejection,
};
pub use types::{Connection, Direction, Fmtp, MediaLine, Origin, Rtcp, RtpMap};
