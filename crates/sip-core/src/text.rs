//! Byte-level helpers of the RFC 3261 section 25 grammar: character classes,
//! linear white space, quoted strings, comma lists and escapes.

use std::borrow::Cow;

/// RFC 3261 `token` character: alphanum / "-" / "." / "!" / "%" / "*" / "_" /
/// "+" / "`" / "'" / "~".
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// Whether every byte of a non-empty slice is a token character.
#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

/// Linear white space inside a (possibly folded) header value.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear white space (including folds) on both sides.
#[inline]
pub(crate) fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |p| p + 1);
    &s[start..end]
}

/// Trims linear white space on both sides of a `str`.
#[inline]
pub(crate) fn trim_lws_str(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_lws(c)).map_or(start, |p| p + 1);
    // LWS bytes are ASCII, so both ends are char boundaries.
    &s[start..end]
}

/// Position of the first `b` in `s` (a plain loop: values are short).
#[inline]
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// Skips leading linear white space.
#[inline]
pub(crate) fn skip_lws(s: &str) -> &str {
    let n = s.bytes().position(|c| !is_lws(c)).unwrap_or(s.len());
    &s[n..]
}

/// Length of the quoted string at the start of `s` (which begins with `"`),
/// including both quotes; `None` when it is not terminated.
pub(crate) fn quoted_len(s: &[u8]) -> Option<usize> {
    debug_assert_eq!(s.first(), Some(&b'"'));
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Removes the quotes and `\` escapes of a quoted string; other text is
/// returned unchanged.
pub fn unquote(s: &str) -> Cow<'_, str> {
    let Some(inner) = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| s.len() >= 2)
    else {
        return Cow::Borrowed(s);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `s` as a quoted string, escaping `"` and `\`.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Splits a header value at top-level commas: commas inside quoted strings
/// and inside `<...>` do not split. Elements are trimmed of LWS; empty
/// elements are yielded as empty slices so callers can reject them.
pub(crate) fn split_commas(s: &[u8]) -> CommaSplit<'_> {
    CommaSplit { rest: Some(s) }
}

/// Iterator of [`split_commas`].
pub(crate) struct CommaSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest?;
        let mut i = 0;
        let mut angle = false;
        while i < s.len() {
            // Jump to the next byte that can matter here: inside `<>` a
            // quote or the closing `>`, outside a quote, `<` or `,`.
            let next = if angle {
                memchr::memchr2(b'"', b'>', &s[i..])
            } else {
                memchr::memchr3(b'"', b'<', b',', &s[i..])
            };
            match next {
                Some(n) => i += n,
                None => break,
            }
            match s[i] {
                b'"' => match quoted_len(&s[i..]) {
                    Some(n) => {
                        i += n;
                        continue;
                    }
                    None => break,
                },
                b'<' => angle = true,
                b'>' => angle = false,
                b',' if !angle => {
                    self.rest = Some(&s[i + 1..]);
                    return Some(trim_lws(&s[..i]));
                }
                _ => {}
            }
            i += 1;
        }
        self.rest = None;
        Some(trim_lws(s))
    }
}

/// Value of one hexadecimal digit.
#[inline]
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%HH` escapes. Invalid escapes are kept literally. `%00` yields a
/// NUL byte: the result is bytes, never truncated at NUL.
pub fn unescape(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if memchr::memchr(b'%', b).is_none() {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// Parses a decimal number of at most `u32` range; `None` on overflow or
/// non-digits.
pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_respect_quotes_and_angles() {
        let v: Vec<_> = split_commas(br#""a,b" <sip:x;a=1,2>, <sip:y> , z"#).collect();
        assert_eq!(v, vec![&br#""a,b" <sip:x;a=1,2>"#[..], b"<sip:y>", b"z"]);
    }

    /// The split as a plain byte loop, the way it was written before the
    /// scan jumped from one interesting byte to the next.
    fn split_bytewise(s: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = Some(s);
        while let Some(s) = rest {
            let (mut i, mut angle, mut cut) = (0, false, None);
            while i < s.len() {
                match s[i] {
                    b'"' => match quoted_len(&s[i..]) {
                        Some(n) => {
                            i += n;
                            continue;
                        }
                        None => break,
                    },
                    b'<' => angle = true,
                    b'>' => angle = false,
                    b',' if !angle => {
                        cut = Some(i);
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            match cut {
                Some(i) => {
                    out.push(trim_lws(&s[..i]));
                    rest = Some(&s[i + 1..]);
                }
                None => {
                    out.push(trim_lws(s));
                    rest = None;
                }
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn commas_split_as_the_bytewise_loop(s in "[\"<>,\\\\ a;=]{0,40}") {
            let fast: Vec<_> = split_commas(s.as_bytes()).collect();
            proptest::prop_assert_eq!(fast, split_bytewise(s.as_bytes()));
        }
    }

    #[test]
    fn unescape_keeps_nul() {
        assert_eq!(&*unescape("a%00b"), b"a\0b");
        assert_eq!(&*unescape("%7"), b"%7");
        assert_eq!(&*unescape("%zz"), b"%zz");
    }

    #[test]
    fn u32_bounds() {
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"0009"), Some(9));
        assert_eq!(parse_u32(b"00000000000009"), Some(9));
        assert_eq!(parse_u32(b""), None);
    }
}
