//! Message-level checks of a parsed request (RFC 3261 sections 8.2 and
//! 20, RFC 4475 sections 3.1.2 and 3.3).

use crate::error::Rejection;
use crate::header_name::HeaderName;
use crate::message::Request;
use crate::uri::Uri;

/// Headers that may appear at most once.
const SINGLE: &[(HeaderName, &str)] = &[
    (HeaderName::From, "Bad Request (multiple From)"),
    (HeaderName::To, "Bad Request (multiple To)"),
    (HeaderName::CallId, "Bad Request (multiple Call-ID)"),
    (HeaderName::CSeq, "Bad Request (multiple CSeq)"),
    (
        HeaderName::MaxForwards,
        "Bad Request (multiple Max-Forwards)",
    ),
    (
        HeaderName::ContentType,
        "Bad Request (multiple Content-Type)",
    ),
    (HeaderName::Expires, "Bad Request (multiple Expires)"),
];

/// Mandatory headers (RFC 3261 section 8.1.1; Max-Forwards may be missing
/// in RFC 2543 requests, RFC 4475 section 3.4.1).
const MANDATORY: &[(HeaderName, &str)] = &[
    (HeaderName::Via, "Bad Request (missing Via)"),
    (HeaderName::From, "Bad Request (missing From)"),
    (HeaderName::To, "Bad Request (missing To)"),
    (HeaderName::CallId, "Bad Request (missing Call-ID)"),
    (HeaderName::CSeq, "Bad Request (missing CSeq)"),
];

impl Request {
    /// Checks what the parser leaves to message level: mandatory headers
    /// present (400), From and To well formed (400), single-value headers not repeated (400, RFC 4475
    /// section 3.3.8), CSeq method equal to the request method (400, or 501
    /// when the request method is unknown, section 3.1.2.18), every Via,
    /// Contact, Route and Record-Route well formed (400), no headers in a
    /// SIP Request-URI (400, section 3.1.2.11), Max-Forwards a number (400).
    /// Application checks (416 scheme, 420 Require, 415 type, 483 hops) are
    /// left to the caller.
    pub fn validate(&self) -> Result<(), Rejection> {
        for (h, why) in MANDATORY {
            if self.first(*h).is_none() {
                return Err(Rejection::bad(why));
            }
        }
        for (h, why) in SINGLE {
            if self.header_values(*h).nth(1).is_some() {
                return Err(Rejection::bad(why));
            }
        }
        let cseq = self
            .cseq()
            .ok_or(Rejection::bad("Bad Request (missing CSeq)"))?;
        if &cseq.method != self.method() {
            return Err(if self.method().is_extension() {
                Rejection {
                    status: 501,
                    reason: "Not Implemented",
                }
            } else {
                Rejection::bad("Bad Request (CSeq method does not match)")
            });
        }
        if let Uri::Sip(u) = self.uri() {
            if !u.headers.is_empty() {
                return Err(Rejection::bad("Bad Request (headers in Request-URI)"));
            }
        }
        if self.from().is_none() {
            return Err(Rejection::bad("Bad Request (malformed From)"));
        }
        if self.to().is_none() {
            return Err(Rejection::bad("Bad Request (malformed To)"));
        }
        for v in self.via() {
            v.map_err(|_| Rejection::bad("Bad Request (malformed Via)"))?;
        }
        self.contacts()
            .map_err(|_| Rejection::bad("Bad Request (malformed Contact)"))?;
        self.routes()
            .map_err(|_| Rejection::bad("Bad Request (malformed Route)"))?;
        self.record_routes()
            .map_err(|_| Rejection::bad("Bad Request (malformed Record-Route)"))?;
        self.max_forwards()
            .map_err(|_| Rejection::bad("Bad Request (malformed Max-Forwards)"))?;
        self.content_type()
            .map_err(|_| Rejection::bad("Bad Request (malformed Content-Type)"))?;
        Ok(())
    }
}
