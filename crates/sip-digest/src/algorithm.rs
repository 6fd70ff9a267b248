//! Digest algorithms (RFC 7616 section 3.4, RFC 8760 section 2) and qop.

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use crate::error::ParseError;
use crate::hex;

/// A digest algorithm: the hash function H and whether HA1 is per session.
///
/// Parsed case-insensitively; displayed in the RFC 7616 spelling. A header
/// without `algorithm` means [`Algorithm::Md5`] (RFC 3261 section 20.44).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617; kept for older phones and carriers).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616, required for SIP by RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`: SHA-512/256 (FIPS 180-4).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl Algorithm {
    /// Every algorithm, strongest hash first.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Md5,
        Algorithm::Md5Sess,
    ];

    /// The RFC 7616 token, e.g. `SHA-256-sess`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Whether this is a `-sess` variant (HA1 mixes in nonce and cnonce).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// The variant without `-sess`: the one whose HA1 a store keeps.
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => Algorithm::Sha512_256,
        }
    }

    /// Preference of the hash, higher is stronger (RFC 8760 section 2.4:
    /// SHA-512-256, then SHA-256, then MD5). `-sess` ranks as its base.
    pub fn strength(self) -> u8 {
        match self.base() {
            Algorithm::Sha512_256 => 3,
            Algorithm::Sha256 => 2,
            _ => 1,
        }
    }

    /// Length of this algorithm's digest in hexadecimal digits.
    pub fn hex_len(self) -> usize {
        match self.base() {
            Algorithm::Md5 => 32,
            _ => 64,
        }
    }

    /// H over the concatenation of `parts`, as lower-case hex.
    pub(crate) fn hash_hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            hex::encode(&d.finalize())
        }
        match self.base() {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
            _ => run::<Sha512_256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Algorithm, ParseError> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseError::UnsupportedAlgorithm {
                value: s.to_owned(),
            })
    }
}

/// Quality of protection (RFC 7616 section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: method and URI are covered.
    Auth,
    /// `auth-int`: the body is covered too.
    AuthInt,
}

impl Qop {
    /// The token, `auth` or `auth-int`.
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Qop {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Qop, ParseError> {
        if s.eq_ignore_ascii_case("auth") {
            Ok(Qop::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Ok(Qop::AuthInt)
        } else {
            Err(ParseError::UnsupportedQop {
                value: s.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_every_algorithm() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>().unwrap(), a);
            assert_eq!(a.as_str().to_ascii_lowercase().parse::<Algorithm>(), Ok(a));
            assert_eq!(a.hash_hex(&[b"x"]).len(), a.hex_len());
        }
        assert!(matches!(
            "AKAv1-MD5".parse::<Algorithm>(),
            Err(ParseError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn known_hashes() {
        assert_eq!(
            Algorithm::Md5.hash_hex(&[b""]),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            Algorithm::Sha256.hash_hex(&[b"a", b"bc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // FIPS 180-4 example for SHA-512/256("abc").
        assert_eq!(
            Algorithm::Sha512_256Sess.hash_hex(&[b"abc"]),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
    }

    #[test]
    fn qop_tokens() {
        assert_eq!("AUTH".parse::<Qop>(), Ok(Qop::Auth));
        assert_eq!("auth-int".parse::<Qop>(), Ok(Qop::AuthInt));
        assert!("conf".parse::<Qop>().is_err());
    }
}
