//! Why a session description could not be parsed or changed.

/// A session description that cannot be read, or a change that would make
/// it invalid.
///
/// Line numbers count from 1 and name the line of the input (whatever its
/// line ending) where the problem was found. A server answers a body that
/// fails to parse with 400 Bad Request (see
/// [`Rejection::Malformed`](crate::Rejection::Malformed)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body holds no line at all.
    #[error("empty session description")]
    Empty,
    /// A line is not valid UTF-8 (RFC 4566 section 5: text is UTF-8 unless
    /// an `a=charset` says otherwise, which Locus does not support).
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// The line.
        line: usize,
    },
    /// A line is not `<type>=<value>` with a one-letter type, is empty
    /// between other lines, or carries a control character.
    #[error("line {line}: {reason}")]
    BadLine {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The first line is not `v=0` (RFC 4566 section 5.1).
    #[error("line {line}: the description must start with v=0")]
    BadVersion {
        /// The line.
        line: usize,
    },
    /// There is no `o=` line in the session part (RFC 4566 section 5.2).
    #[error("no o= line in the session part")]
    MissingOrigin,
    /// The `o=` line is malformed, or a second one appears.
    #[error("line {line}: bad o= line: {reason}")]
    BadOriginLine {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `c=` line is malformed (RFC 4566 section 5.7).
    #[error("line {line}: bad c= line: {reason}")]
    BadConnectionLine {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An `m=` line is malformed (RFC 4566 section 5.14).
    #[error("line {line}: bad m= line: {reason}")]
    BadMediaLine {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An attribute Locus reads (`rtpmap`, `fmtp`, `rtcp`) is malformed.
    #[error("line {line}: bad attribute: {reason}")]
    BadAttribute {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A line that belongs to the session part appears inside a media
    /// section (`v=`, `o=`).
    #[error("line {line}: {reason}")]
    Misplaced {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An active media section (port not 0) has no `c=` line and the
    /// session part has none either (RFC 4566 section 5.7).
    #[error("line {line}: media section has no c= line and the session has none")]
    MissingConnection {
        /// The line of the media section's `m=` line.
        line: usize,
    },
    /// A mutator was given a value that cannot be written into SDP.
    #[error("invalid value: {reason}")]
    InvalidValue {
        /// What is wrong.
        reason: &'static str,
    },
}
