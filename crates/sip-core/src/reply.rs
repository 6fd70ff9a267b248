//! Lenient recovery of the fields needed to answer a request that failed to
//! parse (RFC 3261 section 8.2.6: Via, From, To, Call-ID, CSeq).

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::message::Message;
use crate::text::trim_lws;

/// What a server needs to answer a request it could not parse: the raw
/// values it found, each a slice of the received buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyContext {
    /// The method token of the request line, as written.
    pub method: Bytes,
    /// Every Via header value, in order.
    pub vias: Vec<Bytes>,
    /// The first From value.
    pub from: Option<Bytes>,
    /// The first To value.
    pub to: Option<Bytes>,
    /// The first Call-ID value.
    pub call_id: Option<Bytes>,
    /// The first CSeq value.
    pub cseq: Option<Bytes>,
}

const MAX_LINES: usize = 256;

impl Message {
    /// Scans a message that failed to parse for the fields a response
    /// needs. Returns `None` when it is not a request, is an ACK (never
    /// answered) or has no Via: such a message is dropped silently.
    pub fn parse_lenient_for_reply(data: &Bytes) -> Option<ReplyContext> {
        let skip = data.iter().position(|c| *c != b'\r' && *c != b'\n')?;
        let b = &data[skip..];
        let mut lines = b
            .split(|c| *c == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next()?;
        if first.len() >= 4 && first[..4].eq_ignore_ascii_case(b"SIP/") {
            return None;
        }
        let mlen = first.iter().position(|c| *c == b' ').unwrap_or(first.len());
        if mlen == 0 || &first[..mlen] == b"ACK" {
            return None;
        }
        let slice = |s: &[u8]| data.slice_ref(s);
        let mut ctx = ReplyContext {
            method: slice(&first[..mlen]),
            ..ReplyContext::default()
        };
        // (name, value start, value end) of the header being read, to extend
        // with folded lines.
        let mut cur: Option<(HeaderName, usize, usize)> = None;
        let base = data.as_ptr() as usize;
        let flush = |cur: Option<(HeaderName, usize, usize)>, ctx: &mut ReplyContext| {
            let Some((name, s, e)) = cur else { return };
            let v = trim_lws(&data[s..e]);
            let v = if v.is_empty() {
                Bytes::new()
            } else {
                data.slice_ref(v)
            };
            match name {
                HeaderName::Via => ctx.vias.push(v),
                HeaderName::From if ctx.from.is_none() => ctx.from = Some(v),
                HeaderName::To if ctx.to.is_none() => ctx.to = Some(v),
                HeaderName::CallId if ctx.call_id.is_none() => ctx.call_id = Some(v),
                HeaderName::CSeq if ctx.cseq.is_none() => ctx.cseq = Some(v),
                _ => {}
            }
        };
        for line in lines.take(MAX_LINES) {
            if line.is_empty() {
                break;
            }
            let start = line.as_ptr() as usize - base;
            let end = start + line.len();
            if matches!(line[0], b' ' | b'\t') {
                if let Some(c) = cur.as_mut() {
                    c.2 = end;
                }
                continue;
            }
            flush(cur.take(), &mut ctx);
            if let Some(colon) = line.iter().position(|c| *c == b':') {
                let name = HeaderName::from_bytes(trim_lws(&line[..colon]));
                if matches!(
                    name,
                    HeaderName::Via
                        | HeaderName::From
                        | HeaderName::To
                        | HeaderName::CallId
                        | HeaderName::CSeq
                ) {
                    cur = Some((name, start + colon + 1, end));
                }
            }
        }
        flush(cur, &mut ctx);
        ctx.vias.retain(|v| !v.is_empty());
        if ctx.vias.is_empty() {
            return None;
        }
        Some(ctx)
    }
}

impl ReplyContext {
    /// The response to send for `err`: its status and reason phrase.
    pub fn error_response(&self, err: &ParseError, to_tag: &str) -> Bytes {
        self.response(err.status(), err.reason_phrase(), to_tag)
    }

    /// A response with the recovered Via, From, To (with `to_tag` added
    /// when it has no tag), Call-ID and CSeq, and `Content-Length: 0`.
    pub fn response(&self, status: u16, reason: &str, to_tag: &str) -> Bytes {
        let mut line = String::with_capacity(32 + reason.len());
        let _ = write!(
            line,
            "SIP/2.0 {status} {}\r\n",
            reason.replace(['\r', '\n'], " ")
        );
        let mut out = BytesMut::with_capacity(512);
        out.put_slice(line.as_bytes());
        for v in &self.vias {
            put(&mut out, b"Via", v);
        }
        if let Some(v) = &self.from {
            put(&mut out, b"From", v);
        }
        if let Some(v) = &self.to {
            out.put_slice(b"To: ");
            out.put_slice(v);
            let has_tag = v.windows(4).any(|w| w.eq_ignore_ascii_case(b"tag="));
            if !has_tag && !to_tag.is_empty() {
                out.put_slice(b";tag=");
                out.put_slice(to_tag.as_bytes());
            }
            out.put_slice(b"\r\n");
        }
        if let Some(v) = &self.call_id {
            put(&mut out, b"Call-ID", v);
        }
        if let Some(v) = &self.cseq {
            put(&mut out, b"CSeq", v);
        }
        out.put_slice(b"Content-Length: 0\r\n\r\n");
        out.freeze()
    }
}

fn put(out: &mut BytesMut, name: &[u8], v: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(v);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_from_bad_version() {
        let raw = Bytes::from_static(
            b"OPTIONS sip:t SIP/7.0\r\nVia: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\nFrom: <sip:a@b>;tag=1\r\nTo:\r\n <sip:t@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
        );
        let err = Message::parse_datagram(raw.clone()).unwrap_err();
        assert_eq!(err.status(), 505);
        let ctx = Message::parse_lenient_for_reply(&raw).unwrap();
        assert_eq!(ctx.vias.len(), 1);
        assert_eq!(ctx.to.as_deref(), Some(&b"<sip:t@b>"[..]));
        let resp = ctx.error_response(&err, "x1");
        let m = Message::parse(resp).unwrap();
        let r = m.as_response().unwrap();
        assert_eq!(r.status().as_u16(), 505);
        assert_eq!(m.to_tag(), Some("x1"));
        assert_eq!(m.call_id(), Some("x"));
    }

    #[test]
    fn no_reply_to_ack_or_response() {
        let ack = Bytes::from_static(b"ACK sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n");
        assert!(Message::parse_lenient_for_reply(&ack).is_none());
        let resp = Bytes::from_static(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n");
        assert!(Message::parse_lenient_for_reply(&resp).is_none());
        assert!(Message::parse_lenient_for_reply(&Bytes::new()).is_none());
    }
}
