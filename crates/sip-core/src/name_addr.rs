//! `name-addr` and `addr-spec` with header parameters (From, To, Contact,
//! Route, Record-Route, P-Asserted-Identity, Remote-Party-ID...).

use std::borrow::Cow;
use std::fmt;

use crate::error::ParseError;
use crate::params::{self, Params};
use crate::text::{
    find_byte, is_lws, is_token_char, push_quoted, quoted_len, skip_lws, trim_lws_str, unquote,
};
use crate::uri::Uri;

/// An address with optional display name and header parameters.
///
/// In the addr-spec form (no `<>`), parameters after the URI belong to the
/// header, not to the URI (RFC 3261 section 20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name, unquoted (escapes removed); `None` when absent.
    pub display_name: Option<Cow<'a, str>>,
    /// The address.
    pub uri: Uri<'a>,
    /// Header parameters, raw: empty or `;name[=value]...` (may hold LWS).
    pub params: Cow<'a, str>,
}

impl<'a> NameAddr<'a> {
    /// An address without display name or parameters.
    pub fn new(uri: Uri<'a>) -> NameAddr<'a> {
        NameAddr {
            display_name: None,
            uri,
            params: Cow::Borrowed(""),
        }
    }

    /// Parses one name-addr or addr-spec followed by header parameters.
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, &'static str> {
        NameAddr::parse_trimmed(trim_lws_str(s))
    }

    /// [`NameAddr::parse`] of a value with no LWS at either end (a parsed
    /// header value).
    #[inline]
    pub(crate) fn parse_trimmed(s: &'a str) -> Result<NameAddr<'a>, &'static str> {
        // `"Name" <sip:user@host;params>;tag=x` takes a one-pass scan.
        if let Some(n) = crate::scan::name_addr(s.as_bytes()) {
            return Ok(n.build(s));
        }
        NameAddr::parse_full(s)
    }

    /// [`NameAddr::parse`] without the scanner of common shapes.
    pub(crate) fn parse_full(s: &'a str) -> Result<NameAddr<'a>, &'static str> {
        let s = trim_lws_str(s);
        let b = s.as_bytes();
        if b.is_empty() {
            return Err("empty address");
        }
        let (display_name, rest) = if b[0] == b'"' {
            let n = quoted_len(b).ok_or("unterminated quoted display name")?;
            let rest = skip_lws(&s[n..]);
            if !rest.starts_with('<') {
                return Err("quoted display name not followed by <URI>");
            }
            (Some(unquote(&s[..n])), rest)
        } else if b[0] == b'<' {
            (None, s)
        } else {
            let i = b
                .iter()
                .position(|&c| !(is_token_char(c) || is_lws(c)))
                .unwrap_or(b.len());
            if i < b.len() && b[i] == b'<' {
                let dn = trim_lws_str(&s[..i]);
                ((!dn.is_empty()).then_some(Cow::Borrowed(dn)), &s[i..])
            } else {
                return NameAddr::parse_addr_spec(s);
            }
        };
        let gt = find_byte(rest, b'>').ok_or("missing '>'")?;
        let uri = Uri::parse(&rest[1..gt]).map_err(uri_reason)?;
        let hparams = &rest[gt + 1..];
        params::validate(hparams, false)?;
        Ok(NameAddr {
            display_name,
            uri,
            params: Cow::Borrowed(hparams),
        })
    }

    fn parse_addr_spec(s: &'a str) -> Result<NameAddr<'a>, &'static str> {
        let end = s
            .bytes()
            .position(|c| c == b';' || is_lws(c))
            .unwrap_or(s.len());
        let uri = Uri::parse(&s[..end]).map_err(uri_reason)?;
        if let Uri::Sip(u) = &uri {
            if !u.headers.is_empty() {
                return Err("URI with headers must be enclosed in <>");
            }
        }
        let hparams = &s[end..];
        params::validate(hparams, false)?;
        Ok(NameAddr {
            display_name: None,
            uri,
            params: Cow::Borrowed(hparams),
        })
    }

    /// The header parameters.
    pub fn params(&self) -> Params<'_> {
        Params::header(&self.params)
    }

    /// A header parameter by name: `Some(None)` when present without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params().get(name)
    }

    /// The `tag` parameter (From, To).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// The `expires` parameter (Contact), saturating at `u32::MAX`.
    pub fn expires(&self) -> Option<u32> {
        self.param("expires").flatten().and_then(parse_saturating)
    }

    /// The `q` parameter (Contact) as written.
    pub fn q(&self) -> Option<&str> {
        self.param("q").flatten()
    }

    /// The `+sip.instance` parameter (RFC 5626), unquoted.
    pub fn sip_instance(&self) -> Option<Cow<'_, str>> {
        self.param("+sip.instance").flatten().map(unquote)
    }

    /// Appends a header parameter (`value` is written as given).
    pub fn push_param(&mut self, name: &str, value: Option<&str>) {
        let p = self.params.to_mut();
        p.push(';');
        p.push_str(name);
        if let Some(v) = value {
            p.push('=');
            p.push_str(v);
        }
    }

    /// Copies every borrowed part.
    pub fn into_owned(self) -> NameAddr<'static> {
        NameAddr {
            display_name: self.display_name.map(|d| Cow::Owned(d.into_owned())),
            uri: self.uri.into_owned(),
            params: Cow::Owned(self.params.into_owned()),
        }
    }
}

/// Parses a decimal number, saturating at `u32::MAX` (RFC 3261 section
/// 20.19: an overlarge delta-seconds means "very long").
pub(crate) fn parse_saturating(v: &str) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u32>().unwrap_or(u32::MAX))
}

fn uri_reason(e: ParseError) -> &'static str {
    match e {
        ParseError::InvalidUri(why) => why,
        _ => "malformed URI",
    }
}

impl fmt::Display for NameAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            let mut q = String::with_capacity(d.len() + 2);
            push_quoted(&mut q, d);
            f.write_str(&q)?;
            f.write_str(" ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.display_name.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display_name.as_deref(), Some("caller"));
        let n = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert_eq!(n.param("unknownparam"), Some(None));
        assert_eq!(n.uri.as_sip().unwrap().params, "");
        let n = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert_eq!(n.param("unknownparam"), None);
        assert_eq!(n.uri.as_sip().unwrap().param("unknownparam"), Some(None));
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").is_ok());
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
    }

    #[test]
    fn display_quotes() {
        let mut n = NameAddr::parse("<sip:a@b>").unwrap();
        n.display_name = Some("A \"B\"".into());
        n.push_param("tag", Some("x"));
        assert_eq!(n.to_string(), r#""A \"B\"" <sip:a@b>;tag=x"#);
        let back = NameAddr::parse(&n.to_string()).unwrap().into_owned();
        assert_eq!(back, n);
    }
}
