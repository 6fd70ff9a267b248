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

/// Every header [`SINGLE`] and [`MANDATORY`] name.
const WATCHED: [HeaderName; 8] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentType,
    HeaderName::Expires,
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
        // One pass over the fields counts the lines of every header named
        // in MANDATORY and SINGLE (none of them a comma list, so a line is
        // a value); the errors then come in the tables' order.
        let mut lines = [0usize; WATCHED.len()];
        for name in self.field_names() {
            if let Some(i) = WATCHED.iter().position(|w| *w == name) {
                lines[i] += 1;
            }
        }
        let lines_of = |h: HeaderName| WATCHED.iter().position(|w| *w == h).map_or(0, |i| lines[i]);
        for (h, why) in MANDATORY {
            if lines_of(*h) == 0 {
                return Err(Rejection::bad(why));
            }
        }
        for (h, why) in SINGLE {
            if lines_of(*h) > 1 {
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
        if !self.contacts_valid() {
            return Err(Rejection::bad("Bad Request (malformed Contact)"));
        }
        if !self.addresses_valid(HeaderName::Route) {
            return Err(Rejection::bad("Bad Request (malformed Route)"));
        }
        if !self.addresses_valid(HeaderName::RecordRoute) {
            return Err(Rejection::bad("Bad Request (malformed Record-Route)"));
        }
        self.max_forwards()
            .map_err(|_| Rejection::bad("Bad Request (malformed Max-Forwards)"))?;
        self.content_type()
            .map_err(|_| Rejection::bad("Bad Request (malformed Content-Type)"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_checked_header_is_counted() {
        for (h, _) in SINGLE.iter().chain(MANDATORY) {
            assert!(WATCHED.contains(h), "{h:?} missing from WATCHED");
            // Counting lines counts values only for headers that are no
            // comma list.
            assert!(!h.is_list() || *h == HeaderName::Via, "{h:?}");
        }
    }
}
