//! Why a message could not be parsed, and what a server should answer.

use std::fmt;

use sip_framing::FrameError;

use crate::header_name::HeaderName;

/// A parse failure. Each variant says what is wrong; [`ParseError::status`]
/// and [`ParseError::reason_phrase`] say what a server answers when the
/// message was a request whose Via could be read
/// (see [`crate::ReplyContext`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// No bytes, or only CR/LF.
    Empty,
    /// The start line is not `Method SP Request-URI SP SIP-Version` nor
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    MalformedStartLine(&'static str),
    /// A well-formed SIP version other than SIP/2.0 (RFC 4475 section 3.1.2.16).
    UnsupportedVersion(String),
    /// The method is not a token.
    InvalidMethod,
    /// The Request-URI is malformed; the text says how.
    InvalidRequestUri(&'static str),
    /// A URI is malformed; the text says how.
    InvalidUri(&'static str),
    /// The status code is not three digits in 100..=699 (RFC 4475 section 3.1.2.19).
    InvalidStatusCode,
    /// A header line has no colon or its name is not a token.
    MalformedHeaderLine {
        /// 1-based line number in the message (the start line is line 1).
        line: usize,
    },
    /// A header value does not follow its grammar.
    MalformedHeader {
        /// The header.
        header: HeaderName,
        /// What is wrong, e.g. "missing sent-by".
        reason: &'static str,
    },
    /// The CSeq sequence number exceeds 2^32-1 (RFC 3261 section 8.1.1.5).
    CSeqOverflow,
    /// `Content-Length` is not a decimal number (RFC 4475 section 3.1.2.3).
    BadContentLength,
    /// `Content-Length` appears more than once (RFC 4475 section 3.3.9).
    MultipleContentLength,
    /// A stream message has no `Content-Length` (RFC 3261 section 18.3).
    MissingContentLength,
    /// `Content-Length` announces more body than the datagram carries
    /// (RFC 4475 section 3.1.2.2).
    ContentLengthExceedsDatagram {
        /// The announced length.
        content_length: usize,
        /// The body bytes present.
        available: usize,
    },
    /// The header block has no terminating empty line.
    UnterminatedHeaders,
    /// The header block is larger than allowed.
    HeadersTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is larger than allowed.
    BodyTooLarge {
        /// The announced or present length.
        content_length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// More header lines than [`crate::ParseLimits::max_headers`].
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The whole message is larger than [`crate::ParseLimits::max_message_bytes`].
    MessageTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl ParseError {
    /// The status code a server answers to a request that failed this way:
    /// 505 for an unsupported version, 413 for a body too large, 513 for a
    /// message or header block too large, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion(_) => 505,
            ParseError::BodyTooLarge { .. } => 413,
            ParseError::HeadersTooLarge { .. }
            | ParseError::TooManyHeaders { .. }
            | ParseError::MessageTooLarge { .. } => 513,
            _ => 400,
        }
    }

    /// A short reason phrase for the response, e.g. "Bad Request (malformed Via)".
    pub fn reason_phrase(&self) -> &'static str {
        match self {
            ParseError::UnsupportedVersion(_) => "Version Not Supported",
            ParseError::BodyTooLarge { .. } => "Request Entity Too Large",
            ParseError::HeadersTooLarge { .. }
            | ParseError::TooManyHeaders { .. }
            | ParseError::MessageTooLarge { .. } => "Message Too Large",
            ParseError::Empty | ParseError::MalformedStartLine(_) => {
                "Bad Request (malformed start line)"
            }
            ParseError::InvalidMethod => "Bad Request (malformed method)",
            ParseError::InvalidRequestUri(_) => "Bad Request (malformed Request-URI)",
            ParseError::InvalidUri(_) => "Bad Request (malformed URI)",
            ParseError::InvalidStatusCode => "Bad Request (malformed status code)",
            ParseError::MalformedHeaderLine { .. } => "Bad Request (malformed header line)",
            ParseError::MalformedHeader { header, .. } => malformed_reason(*header),
            ParseError::CSeqOverflow => "Bad Request (CSeq out of range)",
            ParseError::BadContentLength
            | ParseError::MultipleContentLength
            | ParseError::MissingContentLength
            | ParseError::ContentLengthExceedsDatagram { .. } => "Bad Request (bad Content-Length)",
            ParseError::UnterminatedHeaders => "Bad Request (unterminated headers)",
        }
    }
}

fn malformed_reason(h: HeaderName) -> &'static str {
    match h {
        HeaderName::Via => "Bad Request (malformed Via)",
        HeaderName::From => "Bad Request (malformed From)",
        HeaderName::To => "Bad Request (malformed To)",
        HeaderName::CallId => "Bad Request (malformed Call-ID)",
        HeaderName::CSeq => "Bad Request (malformed CSeq)",
        HeaderName::MaxForwards => "Bad Request (malformed Max-Forwards)",
        HeaderName::Contact => "Bad Request (malformed Contact)",
        HeaderName::Route => "Bad Request (malformed Route)",
        HeaderName::RecordRoute => "Bad Request (malformed Record-Route)",
        HeaderName::ContentType => "Bad Request (malformed Content-Type)",
        HeaderName::Expires => "Bad Request (malformed Expires)",
        _ => "Bad Request (malformed header)",
    }
}

impl From<FrameError> for ParseError {
    fn from(e: FrameError) -> ParseError {
        match e {
            FrameError::HeadersTooLarge { limit } => ParseError::HeadersTooLarge { limit },
            FrameError::BodyTooLarge {
                content_length,
                limit,
            } => ParseError::BodyTooLarge {
                content_length,
                limit,
            },
            FrameError::BadContentLength => ParseError::BadContentLength,
            FrameError::MultipleContentLength => ParseError::MultipleContentLength,
            FrameError::MissingContentLength => ParseError::MissingContentLength,
            FrameError::ContentLengthExceedsDatagram {
                content_length,
                available,
            } => ParseError::ContentLengthExceedsDatagram {
                content_length,
                available,
            },
            FrameError::UnterminatedHeaders => ParseError::UnterminatedHeaders,
            // FrameError is non-exhaustive: anything new is a framing failure.
            _ => ParseError::UnterminatedHeaders,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty message"),
            ParseError::MalformedStartLine(why) => write!(f, "malformed start line: {why}"),
            ParseError::UnsupportedVersion(v) => {
                write!(f, "unsupported SIP version {v}")
            }
            ParseError::InvalidMethod => f.write_str("method is not a token"),
            ParseError::InvalidRequestUri(why) => write!(f, "malformed Request-URI: {why}"),
            ParseError::InvalidUri(why) => write!(f, "malformed URI: {why}"),
            ParseError::InvalidStatusCode => {
                f.write_str("status code is not three digits in 100..=699")
            }
            ParseError::MalformedHeaderLine { line } => {
                write!(f, "line {line} is not a header (no colon or bad name)")
            }
            ParseError::MalformedHeader { header, reason } => {
                let name = if *header == HeaderName::Other {
                    "extension"
                } else {
                    header.as_str()
                };
                write!(f, "malformed {name} header: {reason}")
            }
            ParseError::CSeqOverflow => f.write_str("CSeq sequence number exceeds 2^32-1"),
            ParseError::BadContentLength => f.write_str("Content-Length is not a valid number"),
            ParseError::MultipleContentLength => f.write_str("more than one Content-Length"),
            ParseError::MissingContentLength => {
                f.write_str("Content-Length required on stream transports")
            }
            ParseError::ContentLengthExceedsDatagram {
                content_length,
                available,
            } => write!(
                f,
                "Content-Length {content_length} larger than the datagram ({available} body bytes)"
            ),
            ParseError::UnterminatedHeaders => {
                f.write_str("header block not terminated by an empty line")
            }
            ParseError::HeadersTooLarge { limit } => {
                write!(f, "header block exceeds {limit} bytes")
            }
            ParseError::BodyTooLarge {
                content_length,
                limit,
            } => write!(f, "body of {content_length} bytes exceeds limit {limit}"),
            ParseError::TooManyHeaders { limit } => {
                write!(f, "more than {limit} header fields")
            }
            ParseError::MessageTooLarge { limit } => {
                write!(f, "message exceeds {limit} bytes")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a syntactically valid request is refused (RFC 4475 message-level
/// semantics): the status and reason phrase to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// The response status code (400, 501, ...).
    pub status: u16,
    /// The reason phrase, e.g. "Bad Request (missing Call-ID)".
    pub reason: &'static str,
}

impl Rejection {
    pub(crate) const fn bad(reason: &'static str) -> Rejection {
        Rejection {
            status: 400,
            reason,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for Rejection {}
