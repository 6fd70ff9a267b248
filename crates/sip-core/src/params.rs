//! Semicolon parameters: `;name[=value]` lists of header fields (with
//! optional LWS and quoted values) and of URIs (no LWS, escapes).

use std::borrow::Cow;

use crate::text::{is_token_char, quoted_len, skip_lws, unquote};

/// One `name[=value]` parameter. The value is as written: a quoted value
/// keeps its quotes (see [`Param::value_unquoted`]), a URI parameter keeps its
/// `%HH` escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name as written (compare case-insensitively).
    pub name: &'a str,
    /// The value as written, if `=` was present.
    pub value: Option<&'a str>,
}

impl<'a> Param<'a> {
    /// The value with quotes and `\` escapes removed.
    pub fn value_unquoted(&self) -> Option<Cow<'a, str>> {
        self.value.map(unquote)
    }
}

/// Iterator over the parameters of a raw `;a=b;c` text. It stops at the
/// first malformed parameter; the parsers validate the text beforehand, so a
/// parameter list obtained from a typed header never stops early.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a str,
    uri: bool,
}

impl<'a> Params<'a> {
    /// Parameters of a header field (LWS allowed around `;` and `=`).
    pub fn header(raw: &'a str) -> Params<'a> {
        Params {
            rest: raw,
            uri: false,
        }
    }

    /// Parameters of a URI (no LWS; names and values may hold escapes).
    pub fn uri(raw: &'a str) -> Params<'a> {
        Params {
            rest: raw,
            uri: true,
        }
    }

    /// The first parameter named `name` (case-insensitive): `Some(None)`
    /// when present without a value.
    pub fn get(self, name: &str) -> Option<Option<&'a str>> {
        self.into_iter_find(name).map(|p| p.value)
    }

    fn into_iter_find(mut self, name: &str) -> Option<Param<'a>> {
        self.find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        match next_param(self.rest, self.uri) {
            Ok(Some((p, rest))) => {
                self.rest = rest;
                Some(p)
            }
            _ => {
                self.rest = "";
                None
            }
        }
    }
}

#[inline]
fn is_uri_param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'['
                | b']'
                | b'/'
                | b':'
                | b'&'
                | b'+'
                | b'$'
                | b'%'
        )
}

#[inline]
fn is_header_value_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !matches!(b, b';' | b',' | b'"' | b'<' | b'>' | b'=') || b >= 0x80
}

fn run(s: &str, f: impl Fn(u8) -> bool) -> usize {
    s.bytes().position(|b| !f(b)).unwrap_or(s.len())
}

/// Reads one parameter; `Ok(None)` at the end of the list.
pub(crate) fn next_param(s: &str, uri: bool) -> Result<Option<(Param<'_>, &str)>, &'static str> {
    // The usual `;name[=value]` with no LWS and an ASCII value, followed by
    // the next ';' or the end, is read with table lookups; anything else
    // (and every error) goes the long way below, which reads it the same.
    if let Some(p) = crate::scan::simple_param(s.as_bytes(), uri) {
        let name = &s[p.name.start as usize..p.name.end as usize];
        let value = p.value.map(|v| &s[v.start as usize..v.end as usize]);
        return Ok(Some((Param { name, value }, &s[p.end..])));
    }
    let s = if uri { s } else { skip_lws(s) };
    if s.is_empty() {
        return Ok(None);
    }
    let Some(s) = s.strip_prefix(';') else {
        return Err("expected ';' before parameter");
    };
    let s = if uri { s } else { skip_lws(s) };
    let n = if uri {
        run(s, is_uri_param_char)
    } else {
        run(s, is_token_char)
    };
    if n == 0 {
        return Err("empty parameter name");
    }
    let name = &s[..n];
    let after = &s[n..];
    let after_ws = if uri { after } else { skip_lws(after) };
    let Some(v) = after_ws.strip_prefix('=') else {
        return Ok(Some((Param { name, value: None }, after)));
    };
    let v = if uri { v } else { skip_lws(v) };
    let len = if !uri && v.starts_with('"') {
        quoted_len(v.as_bytes()).ok_or("unterminated quoted parameter value")?
    } else if uri {
        run(v, is_uri_param_char)
    } else {
        run(v, is_header_value_char)
    };
    if len == 0 {
        return Err("empty parameter value");
    }
    Ok(Some((
        Param {
            name,
            value: Some(&v[..len]),
        },
        &v[len..],
    )))
}

/// Checks a whole parameter list; returns the error text of the first
/// malformed parameter.
pub(crate) fn validate(mut s: &str, uri: bool) -> Result<(), &'static str> {
    while let Some((_, rest)) = next_param(s, uri)? {
        s = rest;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_params_with_lws_and_quotes() {
        let raw = " ;\r\n  tag = 98asjd8 ; q=0.33;x=\"a;b\" ;lr";
        let v: Vec<_> = Params::header(raw).collect();
        assert_eq!(v.len(), 4);
        assert_eq!(
            v[0],
            Param {
                name: "tag",
                value: Some("98asjd8")
            }
        );
        assert_eq!(v[2].value_unquoted().unwrap(), "a;b");
        assert_eq!(v[3].value, None);
        assert!(validate(raw, false).is_ok());
        assert!(validate(";;", false).is_err());
        assert!(validate(";a=", false).is_err());
        assert_eq!(Params::header(raw).get("TAG"), Some(Some("98asjd8")));
    }

    #[test]
    fn ipv6_received_value() {
        let raw = ";received=2001:db8::9:255;branch=z9hG4bKas3";
        assert_eq!(
            Params::header(raw).get("received"),
            Some(Some("2001:db8::9:255"))
        );
        let raw = ";received=[2001:db8::9:255]";
        assert_eq!(
            Params::header(raw).get("received"),
            Some(Some("[2001:db8::9:255]"))
        );
    }

    #[test]
    fn uri_params() {
        let raw = ";%6C%72;n%61me=v%61lue%25%34%31;maddr=[::1]";
        let v: Vec<_> = Params::uri(raw).collect();
        assert_eq!(v.len(), 3);
        assert!(validate(raw, true).is_ok());
        assert!(validate("; lr", true).is_err());
    }
}
