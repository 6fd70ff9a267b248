//! The digest challenge: a WWW-Authenticate or Proxy-Authenticate value
//! (RFC 3261 section 25 `digest-cln`, RFC 7616 section 3.3).

use std::fmt;

use crate::algorithm::{Algorithm, Qop};
use crate::error::ParseError;
use crate::params::{self, write_quoted};

/// A digest challenge, as sent in a 401 (WWW-Authenticate) or 407
/// (Proxy-Authenticate).
///
/// Unknown parameters (`domain`, `charset`, `userhash`...) are ignored when
/// parsing. [`Display`](fmt::Display) writes the whole header value,
/// `Digest realm="...", ...`; values are escaped as quoted-strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space, e.g. the SIP domain.
    pub realm: String,
    /// The server nonce, echoed in the credentials.
    pub nonce: String,
    /// Opaque server data, echoed unchanged in the credentials.
    pub opaque: Option<String>,
    /// The algorithm; [`Algorithm::Md5`] when the header has none.
    pub algorithm: Algorithm,
    /// The offered qop values we understand (`auth`, `auth-int`), in the
    /// server's order; empty when the header has no `qop` (RFC 2069 style).
    pub qop: Vec<Qop>,
    /// `stale=true`: the previous answer was right but its nonce expired;
    /// answer again with the new nonce without asking the user.
    pub stale: bool,
}

impl Challenge {
    /// A challenge offering `qop="auth"`, not stale, without opaque.
    pub fn new(realm: impl Into<String>, nonce: impl Into<String>, algorithm: Algorithm) -> Self {
        Challenge {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque: None,
            algorithm,
            qop: vec![Qop::Auth],
            stale: false,
        }
    }

    /// Parses a WWW-Authenticate or Proxy-Authenticate value,
    /// `Digest realm="...", nonce="...", ...`.
    ///
    /// Fails with [`ParseError::NotDigest`] for other schemes and
    /// [`ParseError::UnsupportedAlgorithm`] for unknown algorithms: a client
    /// skips such a challenge and considers the others.
    pub fn parse(value: &str) -> Result<Challenge, ParseError> {
        let p = params::digest_params(value)?;
        let algorithm = match params::get(&p, "algorithm") {
            Some(a) => a.parse()?,
            None => Algorithm::Md5,
        };
        let qop = match params::get(&p, "qop") {
            None => Vec::new(),
            Some(list) => {
                let mut qop = Vec::new();
                for q in list.split(',').map(|q| q.trim_matches([' ', '\t'])) {
                    if let Ok(q) = q.parse::<Qop>() {
                        if !qop.contains(&q) {
                            qop.push(q);
                        }
                    }
                }
                if qop.is_empty() {
                    return Err(ParseError::UnsupportedQop {
                        value: list.to_owned(),
                    });
                }
                qop
            }
        };
        Ok(Challenge {
            realm: params::require(&p, "realm")?.to_owned(),
            nonce: params::require(&p, "nonce")?.to_owned(),
            opaque: params::get(&p, "opaque").map(str::to_owned),
            algorithm,
            qop,
            stale: params::get(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        write!(f, ", algorithm={}", self.algorithm)?;
        if !self.qop.is_empty() {
            f.write_str(", qop=\"")?;
            for (i, q) in self.qop.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                f.write_str(q.as_str())?;
            }
            f.write_str("\"")?;
        }
        if self.stale {
            f.write_str(", stale=TRUE")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3261_example() {
        // RFC 3261 section 20.44 (WWW-Authenticate example).
        let c = Challenge::parse(
            "Digest realm=\"atlanta.com\",\r\n        domain=\"sip:boxesbybob.com\", qop=\"auth\",\r\n        nonce=\"f84f1cec41e6cbe5aea9c8e88d359\",\r\n        opaque=\"\", stale=FALSE, algorithm=MD5",
        )
        .unwrap();
        assert_eq!(c.realm, "atlanta.com");
        assert_eq!(c.nonce, "f84f1cec41e6cbe5aea9c8e88d359");
        assert_eq!(c.opaque.as_deref(), Some(""));
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(c.qop, vec![Qop::Auth]);
        assert!(!c.stale);
    }

    #[test]
    fn defaults_and_qop_list() {
        let c =
            Challenge::parse("digest nonce=n, realm=r, qop=\"auth-int, auth, foo\", stale=true")
                .unwrap();
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(c.qop, vec![Qop::AuthInt, Qop::Auth]);
        assert!(c.stale);
        let c = Challenge::parse("Digest realm=r, nonce=n").unwrap();
        assert!(c.qop.is_empty());
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, qop=\"conf\""),
            Err(ParseError::UnsupportedQop { .. })
        ));
        assert_eq!(
            Challenge::parse("Digest realm=r"),
            Err(ParseError::MissingParam { name: "nonce" })
        );
    }

    #[test]
    fn display() {
        let mut c = Challenge::new("ex\"ample", "n1", Algorithm::Sha256);
        c.stale = true;
        c.opaque = Some("o".into());
        assert_eq!(
            c.to_string(),
            "Digest realm=\"ex\\\"ample\", nonce=\"n1\", opaque=\"o\", algorithm=SHA-256, qop=\"auth\", stale=TRUE"
        );
        assert_eq!(Challenge::parse(&c.to_string()).unwrap(), c);
    }
}
