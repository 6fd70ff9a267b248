//! Typed errors: what went wrong and what the caller can do about it.

use std::fmt;

/// Why a WWW-Authenticate, Proxy-Authenticate, Authorization or
/// Proxy-Authorization value could not be read as digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The scheme is not `Digest` (for example `Basic`, or AKA schemes).
    /// A client should skip this challenge and look at the others.
    NotDigest {
        /// The scheme found, as written.
        scheme: String,
    },
    /// The auth-param list breaks the RFC 3261 section 25 grammar.
    Syntax {
        /// Byte offset in the parameter list where reading stopped.
        at: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A parameter that must be present is missing.
    MissingParam {
        /// The parameter name, e.g. `nonce`.
        name: &'static str,
    },
    /// A parameter appears twice (RFC 7616 section 3.4: at most once each).
    DuplicateParam {
        /// The parameter name, lower-cased.
        name: String,
    },
    /// The `algorithm` is not one of MD5, MD5-sess, SHA-256, SHA-256-sess,
    /// SHA-512-256, SHA-512-256-sess. A client should skip this challenge.
    UnsupportedAlgorithm {
        /// The value found.
        value: String,
    },
    /// No offered or chosen `qop` is `auth` or `auth-int`.
    UnsupportedQop {
        /// The value found.
        value: String,
    },
    /// `nc` is not 1 to 8 hexadecimal digits.
    BadNonceCount {
        /// The value found.
        value: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotDigest { scheme } => write!(
                f,
                "authentication scheme `{scheme}` is not Digest; skip this header"
            ),
            ParseError::Syntax { at, expected } => write!(
                f,
                "malformed digest parameters at byte {at}: expected {expected} \
                 (RFC 3261 section 25: name=token or name=\"quoted string\", comma-separated)"
            ),
            ParseError::MissingParam { name } => {
                write!(f, "digest parameter `{name}` is required but missing")
            }
            ParseError::DuplicateParam { name } => {
                write!(f, "digest parameter `{name}` appears more than once")
            }
            ParseError::UnsupportedAlgorithm { value } => write!(
                f,
                "digest algorithm `{value}` is not supported (use MD5, SHA-256 or SHA-512-256, \
                 optionally -sess); skip this challenge"
            ),
            ParseError::UnsupportedQop { value } => write!(
                f,
                "digest qop `{value}` offers neither `auth` nor `auth-int`"
            ),
            ParseError::BadNonceCount { value } => write!(
                f,
                "digest nc `{value}` is not 1 to 8 hexadecimal digits (send e.g. nc=00000001)"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why [`respond`](crate::respond) could not build credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespondError {
    /// A value that goes into the header contains a control character
    /// (other than tab), which cannot be sent in a quoted-string without
    /// splitting or corrupting the header. Fix the configured value.
    Unsendable {
        /// Which argument: `username`, `uri` or `cnonce`.
        field: &'static str,
    },
    /// The client nonce is empty; qop requires a fresh, non-empty cnonce.
    EmptyCnonce,
    /// The nonce count is 0; counts start at 1 for each new nonce.
    ZeroNonceCount,
}

impl fmt::Display for RespondError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespondError::Unsendable { field } => write!(
                f,
                "digest {field} contains a control character that cannot be sent in a SIP header; \
                 fix the configured value"
            ),
            RespondError::EmptyCnonce => {
                f.write_str("digest cnonce is empty; pass a fresh random client nonce")
            }
            RespondError::ZeroNonceCount => {
                f.write_str("digest nc is 0; the first request with a nonce uses nc=1")
            }
        }
    }
}

impl std::error::Error for RespondError {}

/// Why a stored HA1 value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ha1Error {
    /// The value is not lower- or upper-case hexadecimal of the algorithm's
    /// digest length (32 digits for MD5, 64 for SHA-256 and SHA-512-256).
    BadHex {
        /// The algorithm the value was stored for.
        algorithm: crate::Algorithm,
        /// The length found, in characters.
        len: usize,
    },
}

impl fmt::Display for Ha1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ha1Error::BadHex { algorithm, len } => write!(
                f,
                "stored {algorithm} HA1 is not {} hexadecimal digits (found {len} characters); \
                 recompute it as H(username:realm:password)",
                algorithm.hex_len()
            ),
        }
    }
}

impl std::error::Error for Ha1Error {}
