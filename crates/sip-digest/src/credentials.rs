//! Digest credentials: an Authorization or Proxy-Authorization value
//! (RFC 3261 section 25 `digest-response`, RFC 7616 section 3.4).

use std::fmt;

use crate::algorithm::{Algorithm, Qop};
use crate::error::ParseError;
use crate::params::{self, write_quoted};

/// Digest credentials answering a [`Challenge`](crate::Challenge).
///
/// [`Display`](fmt::Display) writes the whole header value,
/// `Digest username="...", ...`, with `algorithm`, `qop` and `nc` unquoted
/// as RFC 3261 section 25 writes them; reading also accepts them quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (for SIP, usually the AOR user part).
    pub username: String,
    /// The realm of the challenge answered.
    pub realm: String,
    /// The server nonce answered.
    pub nonce: String,
    /// The `digest-uri`: the Request-URI of the request.
    pub uri: String,
    /// The response digest, lower-case hex.
    pub response: String,
    /// The algorithm; [`Algorithm::Md5`] when the header has none.
    pub algorithm: Algorithm,
    /// The client nonce; present with `qop` (and for `-sess`).
    pub cnonce: Option<String>,
    /// The nonce count; present with `qop`.
    pub nc: Option<u32>,
    /// The chosen qop; `None` for RFC 2069 style answers.
    pub qop: Option<Qop>,
    /// The challenge's opaque, echoed.
    pub opaque: Option<String>,
}

impl Credentials {
    /// Parses an Authorization or Proxy-Authorization value,
    /// `Digest username="...", ...`.
    ///
    /// With `qop`, `cnonce` and `nc` are required (RFC 7616 section 3.4).
    pub fn parse(value: &str) -> Result<Credentials, ParseError> {
        let p = params::digest_params(value)?;
        let algorithm = match params::get(&p, "algorithm") {
            Some(a) => a.parse()?,
            None => Algorithm::Md5,
        };
        let qop = params::get(&p, "qop").map(str::parse).transpose()?;
        let nc = params::get(&p, "nc").map(parse_nc).transpose()?;
        let cnonce = params::get(&p, "cnonce").map(str::to_owned);
        if qop.is_some() {
            if cnonce.is_none() {
                return Err(ParseError::MissingParam { name: "cnonce" });
            }
            if nc.is_none() {
                return Err(ParseError::MissingParam { name: "nc" });
            }
        }
        Ok(Credentials {
            username: params::require(&p, "username")?.to_owned(),
            realm: params::require(&p, "realm")?.to_owned(),
            nonce: params::require(&p, "nonce")?.to_owned(),
            uri: params::require(&p, "uri")?.to_owned(),
            response: params::require(&p, "response")?.to_owned(),
            algorithm,
            cnonce,
            nc,
            qop,
            opaque: params::get(&p, "opaque").map(str::to_owned),
        })
    }
}

fn parse_nc(s: &str) -> Result<u32, ParseError> {
    let bad = || ParseError::BadNonceCount {
        value: s.to_owned(),
    };
    if s.is_empty() || s.len() > 8 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u32::from_str_radix(s, 16).map_err(|_| bad())
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest username=")?;
        write_quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        write_quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        write_quoted(f, &self.response)?;
        write!(f, ", algorithm={}", self.algorithm)?;
        if let Some(cnonce) = &self.cnonce {
            f.write_str(", cnonce=")?;
            write_quoted(f, cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        if let Some(qop) = self.qop {
            write!(f, ", qop={qop}")?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3261_example() {
        // RFC 3261 section 20.7 (Authorization example).
        let c = Credentials::parse(
            "Digest username=\"Alice\", realm=\"atlanta.com\",\r\n nonce=\"84a4cc6f3082121f32b42a2187831a9e\",\r\n response=\"7587245234b3434cc3412213e5f113a5432\"",
        );
        assert_eq!(c, Err(ParseError::MissingParam { name: "uri" }));
        let c = Credentials::parse(
            "Digest username=\"Alice\", realm=\"atlanta.com\", uri=\"sip:atlanta.com\", \
             nonce=\"84a4cc6f3082121f32b42a2187831a9e\", response=\"7587245234b3434cc3412213e5f113a5432\"",
        )
        .unwrap();
        assert_eq!(c.username, "Alice");
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(c.qop, None);
        assert_eq!(c.nc, None);
    }

    #[test]
    fn qop_needs_cnonce_and_nc() {
        let base = "Digest username=u, realm=r, nonce=n, uri=\"sip:x\", response=abc";
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, nc=00000001")),
            Err(ParseError::MissingParam { name: "cnonce" })
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, cnonce=c")),
            Err(ParseError::MissingParam { name: "nc" })
        );
        let c = Credentials::parse(&format!("{base}, qop=\"auth\", cnonce=c, nc=\"0000000A\""))
            .unwrap();
        assert_eq!(c.nc, Some(10));
        assert_eq!(c.qop, Some(Qop::Auth));
        for bad in ["", "123456789", "0x1", "g"] {
            assert!(matches!(
                Credentials::parse(&format!("{base}, qop=auth, cnonce=c, nc=\"{bad}\"")),
                Err(ParseError::BadNonceCount { .. })
            ));
        }
    }

    #[test]
    fn display_round_trip() {
        let c = Credentials {
            username: "al\\ice".into(),
            realm: "r".into(),
            nonce: "n".into(),
            uri: "sip:r".into(),
            response: "00ff".into(),
            algorithm: Algorithm::Sha256Sess,
            cnonce: Some("c".into()),
            nc: Some(0x1f),
            qop: Some(Qop::AuthInt),
            opaque: Some("".into()),
        };
        let s = c.to_string();
        assert_eq!(
            s,
            "Digest username=\"al\\\\ice\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"00ff\", \
             algorithm=SHA-256-sess, cnonce=\"c\", opaque=\"\", qop=auth-int, nc=0000001f"
        );
        assert_eq!(Credentials::parse(&s).unwrap(), c);
    }
}
