//! The auth-param list of RFC 3261 section 25 (`challenge`, `credentials`):
//! `scheme LWS name=value *(COMMA name=value)`, values a token or a
//! quoted-string with `\` escapes.
//!
//! Reading is lenient where real peers differ (quotes around `algorithm` or
//! `qop`, empty list elements, unquoted URIs) and strict where safety is at
//! stake: no control characters in a value (a folded line break, CRLF then
//! a space, counts as one space), no parameter twice.

use std::collections::HashSet;
use std::fmt;

use crate::error::ParseError;

/// One `name=value`, name lower-cased, value unquoted and unescaped.
#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) value: String,
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// A control character that may not appear in a value (tab is allowed).
fn is_forbidden_ctl(c: char) -> bool {
    (c.is_ascii_control() && c != '\t') || c == '\u{7f}'
}

/// Splits a header value into its scheme and the auth-param list, and
/// checks the scheme is `Digest`.
pub(crate) fn digest_params(value: &str) -> Result<Vec<Param>, ParseError> {
    let b = value.as_bytes();
    let start = b.iter().position(|&c| !is_lws(c)).unwrap_or(b.len());
    let end = b[start..]
        .iter()
        .position(|&c| !is_token_char(c))
        .map_or(b.len(), |n| start + n);
    if end == start {
        return Err(ParseError::Syntax {
            at: start,
            expected: "an authentication scheme such as Digest",
        });
    }
    if end < b.len() && !is_lws(b[end]) {
        return Err(ParseError::Syntax {
            at: end,
            expected: "whitespace after the scheme",
        });
    }
    let scheme = &value[start..end];
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(ParseError::NotDigest {
            scheme: scheme.to_owned(),
        });
    }
    parse_list(value, end)
}

/// Parses `name=value *(, name=value)` starting at byte `pos` of `s`.
fn parse_list(s: &str, mut pos: usize) -> Result<Vec<Param>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let skip_lws = |mut p: usize| {
        while p < b.len() && is_lws(b[p]) {
            p += 1;
        }
        p
    };
    loop {
        // Empty list elements are allowed (RFC 7230 section 7).
        pos = skip_lws(pos);
        while pos < b.len() && b[pos] == b',' {
            pos = skip_lws(pos + 1);
        }
        if pos >= b.len() {
            return Ok(out);
        }
        let name_start = pos;
        while pos < b.len() && is_token_char(b[pos]) {
            pos += 1;
        }
        if pos == name_start {
            return Err(ParseError::Syntax {
                at: pos,
                expected: "a parameter name",
            });
        }
        let name = s[name_start..pos].to_ascii_lowercase();
        pos = skip_lws(pos);
        if b.get(pos) != Some(&b'=') {
            return Err(ParseError::Syntax {
                at: pos,
                expected: "`=` after the parameter name",
            });
        }
        pos = skip_lws(pos + 1);
        let value = if b.get(pos) == Some(&b'"') {
            let (v, next) = quoted(s, pos)?;
            pos = next;
            v
        } else {
            let v_start = pos;
            while pos < b.len()
                && !is_lws(b[pos])
                && b[pos] != b','
                && b[pos] != b'"'
                && !b[pos].is_ascii_control()
            {
                pos += 1;
            }
            if pos == v_start {
                return Err(ParseError::Syntax {
                    at: pos,
                    expected: "a token or a quoted string",
                });
            }
            s[v_start..pos].to_owned()
        };
        pos = skip_lws(pos);
        if pos < b.len() && b[pos] != b',' {
            return Err(ParseError::Syntax {
                at: pos,
                expected: "`,` between parameters",
            });
        }
        if !seen.insert(name.clone()) {
            return Err(ParseError::DuplicateParam { name });
        }
        out.push(Param { name, value });
    }
}

/// Reads the quoted-string whose opening quote is at `open`; returns the
/// unescaped content and the position after the closing quote.
fn quoted(s: &str, open: usize) -> Result<(String, usize), ParseError> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = open + 1;
    // Plain text is copied in runs; every run boundary is an ASCII byte, so
    // slicing stays on char boundaries.
    let mut run = i;
    while i < b.len() {
        match b[i] {
            b'"' => {
                out.push_str(&s[run..i]);
                return Ok((out, i + 1));
            }
            b'\\' => {
                out.push_str(&s[run..i]);
                let Some(c) = s[i + 1..].chars().next() else {
                    break;
                };
                if is_forbidden_ctl(c) {
                    return Err(ParseError::Syntax {
                        at: i + 1,
                        expected: "a printable character after `\\`",
                    });
                }
                out.push(c);
                i += 1 + c.len_utf8();
                run = i;
            }
            b'\r' | b'\n' => {
                // Folding: CRLF (or a lone LF) then SP/HT is one space.
                out.push_str(&s[run..i]);
                let mut j = i;
                if b[j] == b'\r' {
                    if b.get(j + 1) != Some(&b'\n') {
                        return Err(line_break(i));
                    }
                    j += 1;
                }
                j += 1;
                if !matches!(b.get(j), Some(b' ' | b'\t')) {
                    return Err(line_break(i));
                }
                while matches!(b.get(j), Some(b' ' | b'\t')) {
                    j += 1;
                }
                out.push(' ');
                i = j;
                run = i;
            }
            c if (c < 0x20 && c != b'\t') || c == 0x7f => {
                return Err(ParseError::Syntax {
                    at: i,
                    expected: "no control character inside a quoted string",
                })
            }
            _ => i += 1,
        }
    }
    Err(ParseError::Syntax {
        at: s.len(),
        expected: "a closing `\"`",
    })
}

fn line_break(at: usize) -> ParseError {
    ParseError::Syntax {
        at,
        expected: "no line break inside a quoted string",
    }
}

/// Finds the single parameter `name` (already lower-case).
pub(crate) fn get<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_str())
}

/// Finds a required parameter.
pub(crate) fn require<'a>(params: &'a [Param], name: &'static str) -> Result<&'a str, ParseError> {
    get(params, name).ok_or(ParseError::MissingParam { name })
}

/// Writes `"s"` with `"` and `\` escaped. Control characters other than
/// tab cannot be sent (they would split or corrupt the header): they are
/// written as a space. Parsed values and [`respond`](crate::respond) never
/// contain them.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            c if is_forbidden_ctl(c) => f.write_char(' ')?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Whether `s` can be sent in a quoted-string unchanged.
pub(crate) fn sendable(s: &str) -> bool {
    !s.chars().any(is_forbidden_ctl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &str) -> Vec<(String, String)> {
        digest_params(v)
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect()
    }

    #[test]
    fn tokens_quoted_and_escapes() {
        let p = pairs(
            "Digest  realm=\"a \\\"b\\\\ c, d\" ,, NONCE = xyz,algorithm=\"SHA-256\"\t,uri=sip:a@b;x=y",
        );
        assert_eq!(
            p,
            vec![
                ("realm".into(), "a \"b\\ c, d".into()),
                ("nonce".into(), "xyz".into()),
                ("algorithm".into(), "SHA-256".into()),
                ("uri".into(), "sip:a@b;x=y".into()),
            ]
        );
    }

    #[test]
    fn folding_inside_quotes_is_one_space() {
        let p = pairs("Digest realm=\"a\r\n  b\"");
        assert_eq!(p[0].1, "a b");
        assert!(digest_params("Digest realm=\"a\r\nb\"").is_err());
        assert!(digest_params("Digest realm=\"a\rb\"").is_err());
        assert!(digest_params("Digest realm=\"a\\\nb\"").is_err());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            digest_params("Basic realm=\"x\""),
            Err(ParseError::NotDigest { .. })
        ));
        assert!(matches!(
            digest_params("Digest realm=\"x"),
            Err(ParseError::Syntax { .. })
        ));
        assert!(matches!(
            digest_params("Digest realm=x realm2=y"),
            Err(ParseError::Syntax { .. })
        ));
        assert!(matches!(
            digest_params("Digest realm=x, Realm=y"),
            Err(ParseError::DuplicateParam { .. })
        ));
        assert!(matches!(
            digest_params("Digest realm="),
            Err(ParseError::Syntax { .. })
        ));
        assert!(matches!(
            digest_params("Digest\"realm=x"),
            Err(ParseError::Syntax { .. })
        ));
        assert!(digest_params("").is_err());
        assert!(digest_params("Digest").unwrap().is_empty());
    }
}
