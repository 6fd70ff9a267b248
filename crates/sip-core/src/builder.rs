//! Building requests and responses: headers by typed value or raw text,
//! body with its Content-Length, and RFC 3261 section 8.2.6 responses.

use std::fmt::{Display, Write as _};
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::message::{HeaderForm, Message, Request, Response};
use crate::method::Method;
use crate::status::StatusCode;

#[derive(Debug, Clone)]
enum Name {
    Known(HeaderName),
    Raw(String),
}

/// Header fields and body shared by both builders. Every value is in one
/// buffer (issue 3: a vector per header was a fifth of the allocations of
/// a call through the B2BUA).
#[derive(Debug, Clone)]
struct Fields {
    /// Each field's name and where its value is in `values`.
    fields: Vec<(Name, Range<usize>)>,
    values: Vec<u8>,
    body: Bytes,
    form: HeaderForm,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            fields: Vec::with_capacity(16),
            values: Vec::with_capacity(1024),
            body: Bytes::new(),
            form: HeaderForm::default(),
        }
    }
}

impl Fields {
    fn push_display(&mut self, name: HeaderName, value: &dyn Display) {
        let start = self.values.len();
        let _ = write!(VecAdapter(&mut self.values), "{value}");
        self.fields
            .push((Name::Known(name), start..self.values.len()));
    }

    fn push_raw(&mut self, name: &str, value: &[u8]) {
        let known = known_name(name);
        let n = if known == HeaderName::Other {
            Name::Raw(name.to_owned())
        } else {
            Name::Known(known)
        };
        self.push_value(n, value);
    }

    fn push_value(&mut self, name: Name, value: &[u8]) {
        let start = self.values.len();
        self.values.extend_from_slice(value);
        self.fields.push((name, start..self.values.len()));
    }

    fn value(&self, range: &Range<usize>) -> &[u8] {
        self.values.get(range.clone()).unwrap_or_default()
    }

    /// The message: `start_line` (its pieces in order), the fields, the
    /// body, in one buffer sized up front.
    fn render(&self, start_line: &[&[u8]]) -> Bytes {
        let size: usize = self.fields.iter().map(|(_, v)| v.len() + 24).sum();
        let line_len: usize = start_line.iter().map(|p| p.len()).sum();
        let mut out = BytesMut::with_capacity(line_len + size + 32 + self.body.len());
        for piece in start_line {
            out.put_slice(piece);
        }
        out.put_slice(b"\r\n");
        let compact = self.form == HeaderForm::Compact;
        for (name, range) in &self.fields {
            let value = self.value(range);
            match name {
                Name::Known(HeaderName::ContentLength) => continue,
                Name::Known(h) => out.put_slice(h.wire_name(compact).as_bytes()),
                Name::Raw(r) => out.put_slice(r.as_bytes()),
            }
            out.put_slice(b": ");
            out.put_slice(value);
            out.put_slice(b"\r\n");
        }
        out.put_slice(HeaderName::ContentLength.wire_name(compact).as_bytes());
        out.put_slice(b": ");
        match u16::try_from(self.body.len()) {
            Ok(n) => out.put_slice(crate::addr_text::u16_str(n, &mut [0; 5]).as_bytes()),
            Err(_) => {
                let _ = write!(Adapter(&mut out), "{}", self.body.len());
            }
        }
        out.put_slice(b"\r\n\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }
}

/// `HeaderName::from_bytes`, with the names the B2BUA writes on every call
/// matched first as written (issue 3: classifying them was most of
/// `raw_header`'s cost).
fn known_name(name: &str) -> HeaderName {
    match name {
        "Via" => HeaderName::Via,
        "To" => HeaderName::To,
        "From" => HeaderName::From,
        "Call-ID" => HeaderName::CallId,
        "Contact" => HeaderName::Contact,
        "Route" => HeaderName::Route,
        "CSeq" => HeaderName::CSeq,
        "User-Agent" => HeaderName::UserAgent,
        "Server" => HeaderName::Server,
        "Content-Type" => HeaderName::ContentType,
        _ => HeaderName::from_bytes(name.as_bytes()),
    }
}

struct VecAdapter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecAdapter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

struct Adapter<'a>(&'a mut BytesMut);

impl std::fmt::Write for Adapter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

macro_rules! common_builder_methods {
    () => {
        /// Adds a header from any displayable typed value (`Via`, `NameAddr`,
        /// `CSeq`, a number, a string...).
        pub fn header(mut self, name: HeaderName, value: impl Display) -> Self {
            self.f.push_display(name, &value);
            self
        }

        /// Adds a header with a raw name and value, written as given. A
        /// `Content-Length` given here is replaced by the real one.
        pub fn raw_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
            self.f.push_raw(name, value.as_ref());
            self
        }

        /// Removes every header of `name`.
        pub fn remove_header(mut self, name: HeaderName) -> Self {
            self.f
                .fields
                .retain(|(n, _)| !matches!(n, Name::Known(h) if *h == name));
            self
        }

        /// Sets the body and its Content-Type (Content-Length is computed).
        pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
            self.f.fields.retain(|(n, _)| !matches!(n, Name::Known(HeaderName::ContentType)));
            self.f
                .push_raw(HeaderName::ContentType.as_str(), content_type.as_bytes());
            self.f.body = body.into();
            self
        }

        /// Chooses full (default) or compact header names.
        pub fn form(mut self, form: HeaderForm) -> Self {
            self.f.form = form;
            self
        }
    };
}

/// Builds a request. Content-Length is always written (0 without body).
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    method: Method,
    uri: String,
    f: Fields,
}

impl RequestBuilder {
    /// A request line `METHOD uri SIP/2.0` with the URI as written in
    /// `uri` (taken as it is: no copy through `core::fmt`).
    pub fn with_uri(method: Method, uri: String) -> RequestBuilder {
        RequestBuilder {
            method,
            uri,
            f: Fields::default(),
        }
    }

    /// A request line `METHOD uri SIP/2.0`.
    pub fn new(method: Method, uri: impl Display) -> RequestBuilder {
        // Sized up front: `to_string` grows from empty (issue 3).
        let mut text = String::with_capacity(128);
        let _ = write!(text, "{uri}");
        RequestBuilder {
            method,
            uri: text,
            f: Fields::default(),
        }
    }

    common_builder_methods!();

    /// Adds `CSeq: seq METHOD` with this request's method.
    pub fn cseq(mut self, seq: u32) -> Self {
        // Written as `CSeq`'s `Display` does, without `core::fmt`: one on
        // every request (about 400 instructions through `write!`).
        let mut digits = [0u8; 10];
        let at = crate::addr_text::decimal(seq, &mut digits);
        let start = self.f.values.len();
        self.f.values.extend_from_slice(&digits[at..]);
        self.f.values.push(b' ');
        self.f
            .values
            .extend_from_slice(self.method.as_str().as_bytes());
        let end = self.f.values.len();
        self.f
            .fields
            .push((Name::Known(HeaderName::CSeq), start..end));
        self
    }

    /// The serialized request.
    pub fn to_bytes(&self) -> Bytes {
        self.f.render(&[
            self.method.as_str().as_bytes(),
            b" ",
            self.uri.as_bytes(),
            b" SIP/2.0",
        ])
    }

    /// Serializes and parses back: the request as a receiver would see it.
    pub fn build(&self) -> Result<Request, ParseError> {
        match Message::parse(self.to_bytes())? {
            Message::Request(r) => Ok(r),
            Message::Response(_) => Err(ParseError::MalformedStartLine("built a response")),
        }
    }
}

/// Builds a response. Content-Length is always written (0 without body).
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    status: StatusCode,
    reason: String,
    to_index: Option<usize>,
    to_has_tag: bool,
    f: Fields,
}

impl ResponseBuilder {
    /// A status line with `reason` (the canonical phrase when `None`).
    pub fn new(status: StatusCode, reason: Option<&str>) -> ResponseBuilder {
        let reason = reason.unwrap_or(status.canonical_reason());
        // One exact allocation in the usual case (no line break to blank).
        let reason = if reason.contains(['\r', '\n']) {
            reason.replace(['\r', '\n'], " ")
        } else {
            reason.to_owned()
        };
        ResponseBuilder {
            status,
            reason,
            to_index: None,
            to_has_tag: false,
            f: Fields::default(),
        }
    }

    common_builder_methods!();

    /// Adds a tag to the To header copied by [`Response::for_request`] when
    /// the request's To had none (RFC 3261 section 8.2.6.2).
    pub fn to_tag(mut self, tag: &str) -> Self {
        if let (Some(i), false) = (self.to_index, self.to_has_tag) {
            // The value moves to the end of the buffer, tag appended.
            if let Some((_, range)) = self.f.fields.get_mut(i) {
                let values = &mut self.f.values;
                let start = values.len();
                values.extend_from_within(range.clone());
                values.extend_from_slice(b";tag=");
                values.extend_from_slice(tag.as_bytes());
                *range = start..values.len();
            }
            self.to_has_tag = true;
        }
        self
    }

    /// Copies every header of `name` from `req`, raw values in order.
    pub fn copy_from(mut self, req: &Request, name: HeaderName) -> Self {
        for v in req.header(name) {
            self.f.push_value(Name::Known(name), v);
        }
        self
    }

    /// The serialized response.
    pub fn to_bytes(&self) -> Bytes {
        let mut code = [0u8; 5];
        let code = crate::addr_text::u16_str(self.status.as_u16(), &mut code);
        self.f
            .render(&[b"SIP/2.0 ", code.as_bytes(), b" ", self.reason.as_bytes()])
    }

    /// Serializes and parses back.
    pub fn build(&self) -> Result<Response, ParseError> {
        match Message::parse(self.to_bytes())? {
            Message::Response(r) => Ok(r),
            Message::Request(_) => Err(ParseError::MalformedStartLine("built a request")),
        }
    }
}

impl Response {
    /// A response to `req` per RFC 3261 section 8.2.6: every Via (in order),
    /// From, To, Call-ID and CSeq copied byte-exact. Add a To tag with
    /// [`ResponseBuilder::to_tag`].
    pub fn for_request(req: &Request, status: StatusCode, reason: Option<&str>) -> ResponseBuilder {
        let mut b = ResponseBuilder::new(status, reason)
            .copy_from(req, HeaderName::Via)
            .copy_from(req, HeaderName::From);
        if let Some(to) = req.first(HeaderName::To) {
            b.to_index = Some(b.f.fields.len());
            b.to_has_tag = req.to_tag().is_some();
            b.f.push_value(Name::Known(HeaderName::To), to);
        }
        if let Some(v) = req.first(HeaderName::CallId) {
            b.f.push_value(Name::Known(HeaderName::CallId), v);
        }
        if let Some(v) = req.first(HeaderName::CSeq) {
            b.f.push_value(Name::Known(HeaderName::CSeq), v);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_header_names_classify_as_from_bytes_does() {
        for name in [
            "Via",
            "To",
            "From",
            "Call-ID",
            "Contact",
            "Route",
            "CSeq",
            "User-Agent",
            "Server",
            "Content-Type",
            "via",
            "X-Other",
        ] {
            assert_eq!(
                known_name(name),
                HeaderName::from_bytes(name.as_bytes()),
                "{name}"
            );
        }
    }
    use crate::uri::{Host, SipUri, Uri};
    use crate::{CSeq, NameAddr, Via};

    #[test]
    fn cseq_written_as_its_display() {
        for method in [
            Method::Invite,
            Method::Bye,
            "FOO-BAR".parse::<Method>().unwrap(),
        ] {
            for seq in [0, 7, 1_000_000, u32::MAX] {
                let bytes = RequestBuilder::new(method.clone(), "sip:a@example.com")
                    .cseq(seq)
                    .to_bytes();
                let text = std::str::from_utf8(&bytes).unwrap();
                let want = CSeq {
                    seq,
                    method: method.clone(),
                };
                assert!(text.contains(&format!("\r\nCSeq: {want}\r\n")), "{text}");
            }
        }
    }

    #[test]
    fn request_and_response_round_trip() {
        let uri = Uri::Sip(SipUri::new(Host::Domain("example.com".into())));
        let req = RequestBuilder::new(Method::Options, &uri)
            .header(
                HeaderName::Via,
                Via::new(
                    "UDP",
                    Host::Ipv4([192, 0, 2, 1].into()),
                    Some(5060),
                    "z9hG4bKabc",
                ),
            )
            .raw_header("Via", "SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKdef")
            .header(HeaderName::From, NameAddr::new(uri.clone()).tap_tag("ft"))
            .header(HeaderName::To, NameAddr::new(uri.clone()))
            .header(HeaderName::CallId, "abc@h")
            .cseq(7)
            .header(HeaderName::MaxForwards, 70)
            .raw_header("X-Thing", "a, b")
            .body("text/plain", &b"hi\0there"[..])
            .build()
            .unwrap();
        assert_eq!(req.body(), b"hi\0there");
        assert_eq!(req.content_length(), Some(8));
        let resp = Response::for_request(&req, StatusCode::OK, None)
            .to_tag("tt")
            .form(HeaderForm::Compact)
            .build()
            .unwrap();
        assert_eq!(resp.via().count(), 2);
        assert_eq!(resp.to_tag(), Some("tt"));
        assert_eq!(resp.from_tag(), Some("ft"));
        assert_eq!(resp.call_id(), Some("abc@h"));
        assert_eq!(resp.cseq().unwrap().method, Method::Options);
        assert_eq!(resp.reason(), "OK");
        assert!(resp
            .to_bytes(HeaderForm::Preserve)
            .starts_with(b"SIP/2.0 200 OK\r\nv: "));
    }

    trait Tap {
        fn tap_tag(self, t: &str) -> Self;
    }

    impl Tap for NameAddr<'_> {
        fn tap_tag(mut self, t: &str) -> Self {
            self.push_param("tag", Some(t));
            self
        }
    }
}
