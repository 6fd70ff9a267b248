//! Where one SIP message ends in a buffer of bytes.
//!
//! This crate owns one idea: finding the boundary of a SIP message, in a
//! stream (TCP/TLS, RFC 3261 section 18.3: `Content-Length` is mandatory) or
//! in a datagram (UDP: `Content-Length` optional, trailing octets ignored,
//! RFC 4475 section 3.1.1.8). Both the parser (`sip-core`) and the stream
//! transports (`sip-transport`) use it, so framing is written once.
//!
//! It must not parse anything beyond the header-block end and the
//! `Content-Length` value, allocate, or do IO.

#![forbid(unsafe_code)]

use std::fmt;

/// The result of looking for a message boundary in a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A full message occupies `buf[..len]`; its header block (start line,
    /// headers and the empty line) is `buf[..header_len]`.
    Complete {
        /// Total bytes of the message, headers and body.
        len: usize,
        /// Bytes of the start line, headers and the terminating empty line.
        header_len: usize,
    },
    /// `len` bytes of CRLF keep-alive (RFC 5626 section 3.5.1) precede any
    /// message: consume them (and answer a double CRLF ping with one CRLF).
    KeepAlive {
        /// Bytes of CR/LF to consume.
        len: usize,
    },
    /// More bytes are needed.
    Incomplete,
}

/// The result of framing a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramFrame {
    /// Bytes of the message; octets after it in the datagram are ignored.
    pub len: usize,
    /// Bytes of the start line, headers and the terminating empty line.
    pub header_len: usize,
    /// Whether the message carried a `Content-Length` header.
    pub had_content_length: bool,
}

/// Why a buffer cannot be framed. Each one is a malformed or oversize message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The header block grew past the configured limit without ending.
    HeadersTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body announced by `Content-Length` is larger than allowed.
    BodyTooLarge {
        /// The announced length.
        content_length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// `Content-Length` is not a decimal number (negative, empty, or overflows).
    BadContentLength,
    /// `Content-Length` appears more than once (RFC 4475 section 3.3.9).
    MultipleContentLength,
    /// A stream message has no `Content-Length` (RFC 3261 section 18.3 requires it).
    MissingContentLength,
    /// A datagram announces more body than it carries (RFC 4475 section 3.1.2.2).
    ContentLengthExceedsDatagram {
        /// The announced length.
        content_length: usize,
        /// The bytes actually present after the headers.
        available: usize,
    },
    /// The datagram has no empty line ending its header block.
    UnterminatedHeaders,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadersTooLarge { limit } => {
                write!(f, "header block exceeds {limit} bytes")
            }
            Self::BodyTooLarge {
                content_length,
                limit,
            } => write!(f, "body of {content_length} bytes exceeds limit {limit}"),
            Self::BadContentLength => f.write_str("Content-Length is not a valid number"),
            Self::MultipleContentLength => f.write_str("more than one Content-Length"),
            Self::MissingContentLength => f.write_str("Content-Length required on streams"),
            Self::ContentLengthExceedsDatagram {
                content_length,
                available,
            } => write!(
                f,
                "Content-Length {content_length} exceeds the {available} body bytes received"
            ),
            Self::UnterminatedHeaders => {
                f.write_str("header block not terminated by an empty line")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Size limits applied while framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest header block accepted, in bytes.
    pub max_header_bytes: usize,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 512 * 1024,
        }
    }
}

/// What the header scan found.
struct HeaderScan {
    header_len: usize,
    content_length: Option<usize>,
}

/// Finds the end of the header block and the `Content-Length` value.
///
/// Lines may end in CRLF or a bare LF (tolerated on input, RFC 3261 section 7.5
/// asks for CRLF). Folded continuation lines (leading SP/HT) belong to the
/// header above them. Returns `Ok(None)` when the block has not ended yet.
fn scan_headers(buf: &[u8]) -> Result<Option<HeaderScan>, FrameError> {
    let mut content_length: Option<usize> = None;
    let mut line_start = 0usize;
    for nl in memchr::memchr_iter(b'\n', buf) {
        let line = &buf[line_start..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if line_start == 0 {
                // Leading empty lines are handled by the callers.
                line_start = nl + 1;
                continue;
            }
            return Ok(Some(HeaderScan {
                header_len: nl + 1,
                content_length,
            }));
        }
        if let Some(value) = content_length_value(line) {
            if content_length.is_some() {
                return Err(FrameError::MultipleContentLength);
            }
            content_length = Some(parse_length(value)?);
        }
        line_start = nl + 1;
    }
    Ok(None)
}

/// If `line` is a `Content-Length` (or compact `l`) header, its value.
fn content_length_value(line: &[u8]) -> Option<&[u8]> {
    let first = *line.first()?;
    if first != b'C' && first != b'c' && first != b'L' && first != b'l' {
        return None;
    }
    let colon = memchr::memchr(b':', line)?;
    let name = trim(&line[..colon]);
    if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
        Some(trim(&line[colon + 1..]))
    } else {
        None
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |p| p + 1);
    &s[start..end]
}

/// Parses a decimal `Content-Length`; rejects signs, empties and overflow.
pub fn parse_length(value: &[u8]) -> Result<usize, FrameError> {
    if value.is_empty() || value.len() > 19 {
        return Err(FrameError::BadContentLength);
    }
    // At most 19 digits fit a u64 (10^19 - 1 < 2^64), so the sum needs no
    // overflow check per digit; only the conversion to usize can fail.
    let mut n: u64 = 0;
    for &b in value {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(FrameError::BadContentLength);
        }
        n = n * 10 + u64::from(d);
    }
    usize::try_from(n).map_err(|_| FrameError::BadContentLength)
}

/// Number of leading CR/LF bytes.
fn leading_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len())
}

/// Frames the first message of a stream buffer (TCP or TLS).
///
/// Leading CR/LF octets are reported as [`Frame::KeepAlive`] first so that the
/// caller can consume them and answer pings. A message without
/// `Content-Length` is an error on a stream (RFC 3261 section 18.3).
pub fn frame_stream(buf: &[u8], limits: &Limits) -> Result<Frame, FrameError> {
    let ka = leading_crlf(buf);
    if ka > 0 {
        return Ok(Frame::KeepAlive { len: ka });
    }
    let Some(scan) = scan_headers(buf)? else {
        if buf.len() > limits.max_header_bytes {
            return Err(FrameError::HeadersTooLarge {
                limit: limits.max_header_bytes,
            });
        }
        return Ok(Frame::Incomplete);
    };
    if scan.header_len > limits.max_header_bytes {
        return Err(FrameError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        });
    }
    let body = scan
        .content_length
        .ok_or(FrameError::MissingContentLength)?;
    if body > limits.max_body_bytes {
        return Err(FrameError::BodyTooLarge {
            content_length: body,
            limit: limits.max_body_bytes,
        });
    }
    let len = scan.header_len + body;
    if buf.len() < len {
        return Ok(Frame::Incomplete);
    }
    Ok(Frame::Complete {
        len,
        header_len: scan.header_len,
    })
}

/// Frames a datagram (UDP). Leading CR/LF octets must already be stripped
/// (a datagram of only CR/LF is a keep-alive; see [`is_keepalive`]).
///
/// Without `Content-Length` the body runs to the end of the datagram
/// (RFC 3261 section 18.3). With it, octets past the body are ignored
/// (RFC 4475 section 3.1.1.8) and a body shorter than announced is an error
/// (RFC 4475 section 3.1.2.2).
pub fn frame_datagram(buf: &[u8], limits: &Limits) -> Result<DatagramFrame, FrameError> {
    let Some(scan) = scan_headers(buf)? else {
        if buf.len() > limits.max_header_bytes {
            return Err(FrameError::HeadersTooLarge {
                limit: limits.max_header_bytes,
            });
        }
        return Err(FrameError::UnterminatedHeaders);
    };
    if scan.header_len > limits.max_header_bytes {
        return Err(FrameError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        });
    }
    let available = buf.len() - scan.header_len;
    let body = match scan.content_length {
        Some(cl) if cl > available => {
            return Err(FrameError::ContentLengthExceedsDatagram {
                content_length: cl,
                available,
            })
        }
        Some(cl) => cl,
        None => available,
    };
    if body > limits.max_body_bytes {
        return Err(FrameError::BodyTooLarge {
            content_length: body,
            limit: limits.max_body_bytes,
        });
    }
    Ok(DatagramFrame {
        len: scan.header_len + body,
        header_len: scan.header_len,
        had_content_length: scan.content_length.is_some(),
    })
}

/// Whether a datagram is only CR/LF keep-alive octets (RFC 5626 section 3.5.1).
pub fn is_keepalive(buf: &[u8]) -> bool {
    !buf.is_empty() && leading_crlf(buf) == buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbodyNEXT";

    #[test]
    fn stream_frames_by_compact_content_length() {
        let f = frame_stream(OPTS, &Limits::default()).unwrap();
        assert_eq!(
            f,
            Frame::Complete {
                len: OPTS.len() - 4,
                header_len: OPTS.len() - 8
            }
        );
    }

    #[test]
    fn stream_waits_for_body() {
        let cut = &OPTS[..OPTS.len() - 6];
        assert_eq!(
            frame_stream(cut, &Limits::default()).unwrap(),
            Frame::Incomplete
        );
    }

    #[test]
    fn stream_requires_content_length() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n";
        assert_eq!(
            frame_stream(m, &Limits::default()),
            Err(FrameError::MissingContentLength)
        );
    }

    #[test]
    fn keepalive_reported_first() {
        assert_eq!(
            frame_stream(b"\r\n\r\nOPT", &Limits::default()).unwrap(),
            Frame::KeepAlive { len: 4 }
        );
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(!is_keepalive(b""));
    }

    #[test]
    fn rejects_negative_and_duplicate_lengths() {
        let neg = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
        assert_eq!(
            frame_datagram(neg, &Limits::default()),
            Err(FrameError::BadContentLength)
        );
        let two = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 0\r\nl: 0\r\n\r\n";
        assert_eq!(
            frame_datagram(two, &Limits::default()),
            Err(FrameError::MultipleContentLength)
        );
        assert_eq!(
            parse_length(b"99999999999999999999"),
            Err(FrameError::BadContentLength)
        );
        // The longest accepted: 19 digits, summed without overflow checks.
        assert_eq!(
            parse_length(b"9999999999999999999").map(|n| n as u64),
            usize::try_from(9_999_999_999_999_999_999u64)
                .map(|n| n as u64)
                .map_err(|_| FrameError::BadContentLength)
        );
        assert_eq!(parse_length(b"0306"), Ok(306));
        assert_eq!(parse_length(b"30x"), Err(FrameError::BadContentLength));
        assert_eq!(parse_length(b"+1"), Err(FrameError::BadContentLength));
    }

    #[test]
    fn datagram_ignores_trailing_octets_and_rejects_short_body() {
        let m = b"REGISTER sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\nINVITE junk";
        let f = frame_datagram(m, &Limits::default()).unwrap();
        assert_eq!(f.len, m.len() - 11);
        let short = b"INVITE sip:a SIP/2.0\r\nContent-Length: 9999\r\n\r\nv=0\r\n";
        assert!(matches!(
            frame_datagram(short, &Limits::default()),
            Err(FrameError::ContentLengthExceedsDatagram { .. })
        ));
    }

    #[test]
    fn datagram_without_length_takes_the_rest() {
        let m = b"INVITE sip:a SIP/2.0\nCall-ID: x\n\nv=0\n";
        let f = frame_datagram(m, &Limits::default()).unwrap();
        assert_eq!(f.len, m.len());
        assert!(!f.had_content_length);
    }

    #[test]
    fn header_limit_applies_before_the_end_is_seen() {
        let limits = Limits {
            max_header_bytes: 32,
            max_body_bytes: 10,
        };
        let long = [b'a'; 64];
        assert_eq!(
            frame_stream(&long, &limits),
            Err(FrameError::HeadersTooLarge { limit: 32 })
        );
        let big = b"M s SIP/2.0\r\nl: 11\r\n\r\n";
        assert!(matches!(
            frame_stream(big, &limits),
            Err(FrameError::BodyTooLarge { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_stays_in_bounds(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(Frame::Complete { len, header_len }) = frame_stream(&data, &Limits::default()) {
                proptest::prop_assert!(header_len <= len && len <= data.len());
            }
            if let Ok(f) = frame_datagram(&data, &Limits::default()) {
                proptest::prop_assert!(f.header_len <= f.len && f.len <= data.len());
            }
        }
    }
}
