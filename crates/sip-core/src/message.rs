//! The message model: one `Bytes` buffer, the start line and header fields as
//! spans into it, the body as a slice. Parsing is one pass over the lines of
//! the header block; typed values are parsed on demand from the spans, except
//! the hot ones (top Via, From, To, Call-ID, CSeq) which are checked while
//! parsing and cached as spans.

use std::fmt;
use std::ops::Deref;

use bytes::{BufMut, Bytes, BytesMut};

use crate::ascii;
use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::headers::{
    valid_call_id, Auth, CSeq, Contacts, Event, MediaType, RemotePartyId, SubscriptionState, Via,
};
use crate::method::Method;
use crate::name_addr::{parse_saturating, NameAddr};
use crate::scan::{self, SipUriScan, ViaScan};
use crate::status::StatusCode;
use crate::text::{is_lws, is_token_char, split_commas};
use crate::uri::Uri;

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most header lines accepted (folded continuations do not count).
    pub max_headers: usize,
    /// Largest message (start line, headers and body) accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest header block accepted, in bytes.
    pub max_header_bytes: usize,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_headers: 128,
            max_message_bytes: 512 * 1024 + 16 * 1024,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 512 * 1024,
        }
    }
}

impl ParseLimits {
    /// The same limits for `sip_framing` (stream transports frame with them).
    pub fn framing(&self) -> sip_framing::Limits {
        sip_framing::Limits {
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// Which header names to write when serializing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderForm {
    /// Names exactly as received (or as given to a builder).
    #[default]
    Preserve,
    /// Canonical full names (`Via`, `Call-ID`...) for known headers.
    Full,
    /// Compact letters (`v`, `i`, `m`...) where they exist, else full names.
    Compact,
}

/// A byte range in the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    #[inline]
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    #[inline]
    pub(crate) fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.start as usize..self.end as usize]
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpan {
    pub(crate) name: HeaderName,
    pub(crate) raw_name: Span,
    pub(crate) value: Span,
}

/// One header field as it appears in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The classified name.
    pub name: HeaderName,
    /// The name as written (e.g. `v`, `MaX-fOrWaRdS`, `NewFangledHeader`).
    pub raw_name: &'a [u8],
    /// The value, trimmed of surrounding LWS; inner folding is kept as is.
    pub value: &'a [u8],
}

/// Hot fields, checked while parsing and cached as spans. `via_scan` is
/// relative to the top Via and present when the one-pass scanner took the
/// value (the usual case): [`Headers::top_via`] then builds the value from
/// it without parsing again. From and To only have their tag located while
/// parsing (what transactions and dialogs match on); their address is read
/// when asked for.
#[derive(Debug, Clone, Default)]
struct Hot {
    top_via: Option<Span>,
    via_scan: Option<ViaScan>,
    branch: Option<Span>,
    from: Option<Span>,
    from_tag: Option<Span>,
    to: Option<Span>,
    to_tag: Option<Span>,
    call_id: Option<Span>,
    cseq: Option<CSeq>,
    content_length: Option<usize>,
}

/// The header block and body of a parsed message, with typed access.
/// [`Request`] and [`Response`] dereference to it.
#[derive(Debug, Clone)]
pub struct Headers {
    buf: Bytes,
    fields: Vec<FieldSpan>,
    body: Span,
    hot: Hot,
}

/// A parsed SIP request.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    uri: Span,
    /// The Request-URI's parts (relative to `uri`) when the scanner took it.
    uri_scan: Option<SipUriScan>,
    start_line: Span,
    head: Headers,
}

/// A parsed SIP response.
#[derive(Debug, Clone)]
pub struct Response {
    status: StatusCode,
    reason: Span,
    start_line: Span,
    head: Headers,
}

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

fn utf8(b: &[u8], header: HeaderName) -> Result<&str, ParseError> {
    std::str::from_utf8(b).map_err(|_| ParseError::MalformedHeader {
        header,
        reason: "not UTF-8",
    })
}

fn offset_in(buf: &[u8], s: &str) -> Option<Span> {
    let base = buf.as_ptr() as usize;
    let p = s.as_ptr() as usize;
    if p >= base && p + s.len() <= base + buf.len() {
        Some(Span::new(p - base, p - base + s.len()))
    } else {
        None
    }
}

fn is_version_like(v: &[u8]) -> bool {
    // SIP "/" 1*DIGIT "." 1*DIGIT
    v.len() > 4 && v[..4].eq_ignore_ascii_case(b"SIP/") && {
        let r = &v[4..];
        let mut parts = r.splitn(2, |b| *b == b'.');
        let a = parts.next().unwrap_or_default();
        let b = parts.next().unwrap_or_default();
        !a.is_empty()
            && !b.is_empty()
            && a.iter().all(u8::is_ascii_digit)
            && b.iter().all(u8::is_ascii_digit)
    }
}

fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v.len() == 7 && v[..4].eq_ignore_ascii_case(b"SIP/") && &v[4..] == b"2.0" {
        Ok(())
    } else if is_version_like(v) {
        Err(ParseError::UnsupportedVersion(
            String::from_utf8_lossy(v).into_owned(),
        ))
    } else {
        Err(ParseError::MalformedStartLine("bad SIP version"))
    }
}

/// Whether `w` is ` SIP/2.0` (the letters in any case), compared as one
/// word: `| 0x20` lower-cases the three letters and leaves the rest, which
/// must match exactly (a byte that `| 0x20` would turn into `s`, `i` or
/// `p` is that letter in either case).
#[inline]
fn is_sp_sip20(w: Option<&[u8; 8]>) -> bool {
    const WANT: u64 = u64::from_le_bytes(*b" sip/2.0");
    const CASE: u64 = u64::from_le_bytes([0, 0x20, 0x20, 0x20, 0, 0, 0, 0]);
    w.is_some_and(|w| u64::from_le_bytes(*w) | CASE == WANT)
}

enum StartLine {
    Request {
        method: Method,
        uri: Span,
        uri_scan: Option<SipUriScan>,
    },
    Response {
        status: StatusCode,
        reason: Span,
    },
}

fn parse_start_line(buf: &[u8], line: Span) -> Result<StartLine, ParseError> {
    let l = line.get(buf);
    let base = line.start as usize;
    if l.len() >= 4 && l[..4].eq_ignore_ascii_case(b"SIP/") {
        // Usually `SIP/2.0 `: the version `check_version` accepts, and the
        // first space, known without a search.
        let sp = if l.len() >= 8 && l[4..8] == *b"2.0 " {
            7
        } else {
            let sp = memchr::memchr(b' ', l)
                .ok_or(ParseError::MalformedStartLine("missing status code"))?;
            check_version(&l[..sp])?;
            sp
        };
        let rest = &l[sp + 1..];
        let code_len = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
        let code = &rest[..code_len];
        if code_len != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::InvalidStatusCode);
        }
        let n = u16::from(code[0] - b'0') * 100
            + u16::from(code[1] - b'0') * 10
            + u16::from(code[2] - b'0');
        let status = StatusCode::new(n).ok_or(ParseError::InvalidStatusCode)?;
        let reason_start = (sp + 1 + code_len + 1).min(l.len());
        if l[reason_start..]
            .iter()
            .any(|b| *b < 0x20 && *b != b'\t' || *b == 0x7f)
        {
            return Err(ParseError::MalformedStartLine(
                "control character in reason phrase",
            ));
        }
        return Ok(StartLine::Response {
            status,
            reason: Span::new(base + reason_start, base + l.len()),
        });
    }
    // Methods are short: one 16-byte compare usually finds their end.
    let sp1 = ascii::find_from(l, 0, b' ')
        .ok_or(ParseError::MalformedStartLine("missing Request-URI"))?;
    let method = Method::from_bytes(&l[..sp1])?;
    // Usually the line ends with " SIP/2.0", which has no other space and
    // is the version `check_version` accepts: then nothing more to check.
    let sp2 = match l.len().checked_sub(8) {
        Some(sp) if sp > sp1 && is_sp_sip20(l.last_chunk::<8>()) => sp,
        _ => {
            let sp2 = memchr::memrchr(b' ', l).unwrap_or(sp1);
            if sp2 == sp1 {
                return Err(ParseError::MalformedStartLine("missing SIP version"));
            }
            let version = &l[sp2 + 1..];
            if version.is_empty() {
                return Err(ParseError::MalformedStartLine(
                    "trailing space after SIP version",
                ));
            }
            check_version(version)?;
            sp2
        }
    };
    let uri = &l[sp1 + 1..sp2];
    let uri_scan = scan::sip_uri(uri);
    if uri_scan.is_some() {
        // A plain SIP URI: valid, ASCII and without SP or HTAB.
        return Ok(StartLine::Request {
            method,
            uri: Span::new(base + sp1 + 1, base + sp2),
            uri_scan,
        });
    }
    if uri.is_empty() || uri.iter().any(|b| matches!(b, b' ' | b'\t')) {
        return Err(ParseError::MalformedStartLine(
            "Request-URI is empty or elements are not separated by single spaces",
        ));
    }
    let uri_s = std::str::from_utf8(uri).map_err(|_| ParseError::InvalidRequestUri("not UTF-8"))?;
    Uri::parse_full(uri_s).map_err(|e| match e {
        ParseError::InvalidUri(why) => ParseError::InvalidRequestUri(why),
        other => other,
    })?;
    Ok(StartLine::Request {
        method,
        uri: Span::new(base + sp1 + 1, base + sp2),
        uri_scan: None,
    })
}

/// Locates the `tag` parameter of a From/To value without parsing the URI:
/// skips a quoted display name, takes the parameters after `>` (name-addr)
/// or after the first `;` (addr-spec, RFC 3261 section 20.10). The full
/// grammar is checked by [`Request::validate`].
fn locate_tag(v: &[u8]) -> Result<Option<&str>, &'static str> {
    let mut i = 0;
    if v.first() == Some(&b'"') {
        i = crate::text::quoted_len(v).ok_or("unterminated quoted display name")?;
    }
    let params = match memchr::memchr(b'<', &v[i..]) {
        Some(lt) => {
            let gt = memchr::memchr(b'>', &v[i + lt..]).ok_or("missing '>'")?;
            &v[i + lt + gt + 1..]
        }
        None => match memchr::memchr(b';', v) {
            Some(semi) => &v[semi..],
            None => return Ok(None),
        },
    };
    let params = std::str::from_utf8(params).map_err(|_| "not UTF-8")?;
    let mut rest = params;
    while let Some((p, r)) = crate::params::next_param(rest, false)? {
        if p.name.eq_ignore_ascii_case("tag") {
            return Ok(p.value);
        }
        rest = r;
    }
    Ok(None)
}

/// The text of `s` in `buf`, if it is UTF-8. Usually ASCII, which
/// [`ascii::ascii_str`] tells with a few word reads. Else `str::from_utf8`,
/// which checks 16 bytes at a time only from an 8-byte aligned address,
/// and byte by byte before it and in the last 16 bytes; a hot value is
/// short, so most of it would go byte by byte. So the check runs on the
/// value widened to an aligned start and a whole number of 16-byte blocks
/// (the bytes around a value are header text, ASCII as a rule), and the
/// value is cut out of that. If the widened bytes are not UTF-8 or cut a
/// character, the value alone is checked, with the same result as ever.
#[inline(always)]
fn str_at(buf: &[u8], s: Span) -> Option<&str> {
    match ascii::ascii_str(buf, s.start as usize, s.end as usize) {
        Some(t) => Some(t),
        None => str_at_utf8(buf, s),
    }
}

/// [`str_at`] for a value that is not ASCII (or not in `buf`).
#[inline(never)]
fn str_at_utf8(buf: &[u8], s: Span) -> Option<&str> {
    let (start, end) = (s.start as usize, s.end as usize);
    let from = start - ((buf.as_ptr() as usize + start) % 8).min(start);
    let to = (from + (end - from).next_multiple_of(16)).min(buf.len());
    if let Some(t) = buf
        .get(from..to)
        .and_then(|w| std::str::from_utf8(w).ok())
        .and_then(|w| w.get(start - from..end - from))
    {
        return Some(t);
    }
    std::str::from_utf8(buf.get(start..end)?).ok()
}

/// The span of `sub`, a slice of `buf`.
fn span_in(buf: &[u8], sub: &[u8]) -> Span {
    let start = sub.as_ptr() as usize - buf.as_ptr() as usize;
    Span::new(start, start + sub.len())
}

/// The tag of a From or To value (absolute span). The usual shape
/// (`[display] <uri>;params` with simple parameters) is read with byte
/// scans; any other goes through [`locate_tag`], which finds the same tag
/// for the usual shape. The address itself is read by [`Headers::from`]
/// and [`Headers::to`], its grammar checked by [`Request::validate`].
#[inline]
fn hot_tag(b: &[u8], f: &FieldSpan) -> Result<Option<Span>, ParseError> {
    let base = f.value.start as usize;
    let v = f.value.get(b);
    let mut i = 0;
    if v.first() == Some(&b'"') {
        // The closing quote; escapes take `quoted_len`.
        i = match find_quote_or_escape(&v[1..]) {
            Some(q) if v[1 + q] == b'"' => q + 2,
            _ => crate::text::quoted_len(v).unwrap_or(v.len()),
        };
    }
    // The URI cannot hold '>', so the first one after '<' closes it.
    // The `<` is usually first or after one SP: no search.
    let lt = match v.get(i..i + 2) {
        Some([b'<', _]) => Some(0),
        Some([b' ', b'<']) => Some(1),
        _ => find_byte(b'<', &v[i..]),
    };
    if let Some(lt) = lt {
        if let Some(gt) = find_byte(b'>', &v[i + lt..]) {
            // Usually `;tag=` alone follows: one word compare.
            if let Some(tag) = scan::lone_tag(v, i + lt + gt + 1) {
                return Ok(Some(tag.shift(base)));
            }
            if let Some(tag) = scan::tag_param(v, i + lt + gt + 1) {
                return Ok(tag.map(|t| t.shift(base)));
            }
        }
    }
    let tag = locate_tag(v).map_err(|reason| ParseError::MalformedHeader {
        header: f.name,
        reason,
    })?;
    Ok(tag.and_then(|t| offset_in(b, t)))
}

/// In the tests, whether to read every header line the long way (to check
/// [`usual_line`] against it); never otherwise.
#[cfg(test)]
fn long_way() -> bool {
    tests::LONG_WAY.get()
}

#[cfg(not(test))]
#[inline(always)]
fn long_way() -> bool {
    false
}

/// `s` without the LWS (SP, HTAB, CR, LF: folds included) at either end.
#[inline]
fn trim(b: &[u8], s: Span) -> Span {
    let (mut start, mut end) = (s.start as usize, s.end as usize);
    while start < end && is_lws(b[start]) {
        start += 1;
    }
    while end > start && is_lws(b[end - 1]) {
        end -= 1;
    }
    Span::new(start, end)
}

/// The first `byte` in `hay` ([`ascii::find_from`]: values are short,
/// and `memchr::memchr`'s choice of searcher at run time and alignment
/// prologue cost about as much as the search itself).
#[inline]
fn find_byte(byte: u8, hay: &[u8]) -> Option<usize> {
    ascii::find_from(hay, 0, byte)
}

/// The first `"` or `\\` in `hay` (see [`find_byte`]).
#[inline]
fn find_quote_or_escape(hay: &[u8]) -> Option<usize> {
    // A display name usually ends in the first 16 bytes: two compares of
    // one block, without `memchr`'s set-up.
    if let Some(block) = hay.first_chunk::<16>() {
        let m = ascii::eq_mask16(block, b'"') | ascii::eq_mask16(block, b'\\');
        if m != 0 {
            return Some(m.trailing_zeros() as usize);
        }
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(two) = memchr::arch::x86_64::sse2::memchr::Two::new(b'"', b'\\') {
        return two.find(hay);
    }
    memchr::memchr2(b'"', b'\\', hay)
}

/// The first LF in `hay`.
#[inline]
fn find_lf(hay: &[u8]) -> Option<usize> {
    ascii::find_from(hay, 0, b'\n')
}

/// A header line of the usual shape at `pos`: a name (see
/// [`HeaderName::at_line_start`]), `:` at once and a value to the line's
/// LF (a fold on the next line extends it later). Returns the field, its
/// value trimmed, and where the line's LF is. `None` leaves the line to the
/// general code in `parse_message`, which reads it the same way.
#[inline]
fn usual_line(b: &[u8], pos: usize) -> Option<(FieldSpan, usize)> {
    let (name, len) = HeaderName::at_line_start(b, pos)?;
    let colon = pos + len;
    // A fold on the next line is not looked for: that line goes to the
    // general code, which extends this value to its end and trims the
    // whole, as it would have trimmed the folded value in one go (the
    // value starts where `trim` would start it either way).
    let nl = ascii::find_from(b, colon + 1, b'\n')?;
    // The value trimmed of LWS, as `trim` (indexing within `line` lets the
    // compiler drop the bounds checks).
    let line = &b[..nl];
    // Usually one SP before the value and CR after it, and the bytes next
    // to them are not LWS: two compares each way. Else the loops of `trim`.
    let mut start = colon + 1;
    let mut end = line.len();
    match line.get(start..) {
        // (Bytes above SP are not LWS; a control byte takes the loops.)
        Some([b' ', c, .., d, b'\r']) if *c > b' ' && *d > b' ' => {
            start += 1;
            end -= 1;
        }
        _ => {
            while start < line.len() && is_lws(line[start]) {
                start += 1;
            }
            while end > start && is_lws(line[end - 1]) {
                end -= 1;
            }
        }
    }
    let field = FieldSpan {
        name,
        raw_name: Span::new(pos, colon),
        value: Span::new(start, end),
    };
    Some((field, nl))
}

/// Reads the header lines from `start` (after the start line) into
/// `fields` (values trimmed) up to the empty line; returns where the header
/// block ends (after the empty line), `None` when no empty line came.
/// Kept out of `parse_message` so this loop gets the registers to itself.
#[inline(never)]
fn read_fields(
    b: &[u8],
    start: usize,
    limits: &ParseLimits,
    fields: &mut Vec<FieldSpan>,
) -> Result<Option<usize>, ParseError> {
    let mut pos = start;
    // The number of the line at `pos`, for errors only: each turn of the
    // loop takes one line (to its LF), and the start line is line 1.
    let line_no = |pos: usize| 2 + b[start..pos].iter().filter(|&&c| c == b'\n').count();
    let header_len = loop {
        if let Some((field, nl)) = usual_line(b, pos).filter(|_| !long_way()) {
            if fields.len() >= limits.max_headers {
                return Err(ParseError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
            fields.push(field);
            pos = nl + 1;
            continue;
        }
        // Any other line: the empty line, a fold, an error, a name followed
        // by SP, no line end... The empty line is usually CRLF: no search
        // for its LF (it would read on into the body).
        if b.get(pos..pos + 2) == Some(b"\r\n") {
            break Some(pos + 2);
        }
        let Some(nl) = find_lf(&b[pos..]).map(|n| pos + n) else {
            break None;
        };
        let end = if nl > pos && b[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if end == pos {
            break Some(nl + 1);
        }
        let first = b[pos];
        if first == b' ' || first == b'\t' {
            // Folded continuation of the previous header (RFC 3261 section 7.3.1).
            match fields.last_mut() {
                Some(f) => f.value = trim(b, Span::new(f.value.start as usize, end)),
                None => return Err(ParseError::MalformedHeaderLine { line: line_no(pos) }),
            }
        } else {
            // The name is the run of token characters; usually a ':' follows
            // at once, else only SP/HTAB may come before it.
            let line = &b[pos..end];
            let n = line
                .iter()
                .position(|&c| !is_token_char(c))
                .unwrap_or(line.len());
            let mut colon = n;
            while colon < line.len() && matches!(line[colon], b' ' | b'\t') {
                colon += 1;
            }
            if n == 0 || colon >= line.len() || line[colon] != b':' {
                return Err(ParseError::MalformedHeaderLine { line: line_no(pos) });
            }
            if fields.len() >= limits.max_headers {
                return Err(ParseError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
            let name = HeaderName::classify(line, n);
            fields.push(FieldSpan {
                name,
                raw_name: Span::new(pos, pos + n),
                value: trim(b, Span::new(pos + colon + 1, end)),
            });
        }
        pos = nl + 1;
    };
    Ok(header_len)
}

/// Parses one message from `buf` in a single pass over its lines: start
/// line, header fields (as spans), the end of the header block and
/// Content-Length, with the framing rules of `sip_framing::frame_datagram`
/// (checked to agree with it in the tests). `buf` is cut to the message.
fn parse_message(
    mut buf: Bytes,
    limits: &ParseLimits,
    datagram: bool,
) -> Result<Message, ParseError> {
    let b: &[u8] = &buf;
    let first_nl = find_lf(b).ok_or(ParseError::UnterminatedHeaders)?;
    let sl_end = if first_nl > 0 && b[first_nl - 1] == b'\r' {
        first_nl - 1
    } else {
        first_nl
    };
    let start_line = Span::new(0, sl_end);
    let start = parse_start_line(b, start_line)?;

    let mut fields: Vec<FieldSpan> = Vec::with_capacity(24);
    let header_len = read_fields(b, first_nl + 1, limits, &mut fields)?;
    let header_len = match header_len {
        Some(h) => h,
        // A datagram whose header block ends with the datagram (no empty
        // line; RFC 5118 archive copies end so): no body.
        None if datagram && b.ends_with(b"\n") => b.len(),
        None if b.len() > limits.max_header_bytes => {
            return Err(ParseError::HeadersTooLarge {
                limit: limits.max_header_bytes,
            })
        }
        None => return Err(ParseError::UnterminatedHeaders),
    };
    if header_len > limits.max_header_bytes {
        return Err(ParseError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        });
    }

    let mut hot = Hot::default();
    for f in &fields {
        // Only the hot fields' values are read.
        match f.name {
            HeaderName::Via if hot.top_via.is_none() => {
                let v = f.value.get(b);
                // A value the scanner takes whole has no ',' (it takes
                // none), so it is the top Via; else split the list first.
                let scanned = scan::via(v);
                let first = if scanned.is_none() && memchr::memchr(b',', v).is_some() {
                    split_commas(v).next().unwrap_or_default()
                } else {
                    v
                };
                if let Some(via) = scanned.or_else(|| scan::via(first)) {
                    let top = span_in(b, first);
                    hot.branch = via.branch.map(|br| br.shift(top.start as usize));
                    hot.top_via = Some(top);
                    hot.via_scan = Some(via);
                } else {
                    let s = utf8(first, HeaderName::Via)?;
                    let via = Via::parse_full(s)?;
                    hot.top_via = offset_in(b, s);
                    hot.branch = via.branch().and_then(|br| offset_in(b, br));
                }
            }
            HeaderName::From if hot.from.is_none() => {
                hot.from_tag = hot_tag(b, f)?;
                hot.from = Some(f.value);
            }
            HeaderName::To if hot.to.is_none() => {
                hot.to_tag = hot_tag(b, f)?;
                hot.to = Some(f.value);
            }
            HeaderName::CallId if hot.call_id.is_none() => {
                if !valid_call_id(f.value.get(b)) {
                    return Err(ParseError::MalformedHeader {
                        header: HeaderName::CallId,
                        reason: "not word[@word]",
                    });
                }
                hot.call_id = Some(f.value);
            }
            HeaderName::CSeq if hot.cseq.is_none() => {
                // Header values are trimmed of LWS when read.
                hot.cseq = Some(CSeq::parse_trimmed(f.value.get(b))?);
            }
            HeaderName::ContentLength => {
                if hot.content_length.is_some() {
                    return Err(ParseError::MultipleContentLength);
                }
                hot.content_length = Some(sip_framing::parse_length(f.value.get(b))?);
            }
            _ => {}
        }
    }

    let available = b.len() - header_len;
    let body_len = match hot.content_length {
        Some(cl) if cl > available => {
            return Err(ParseError::ContentLengthExceedsDatagram {
                content_length: cl,
                available,
            })
        }
        Some(cl) => cl,
        None => available,
    };
    if body_len > limits.max_body_bytes {
        return Err(ParseError::BodyTooLarge {
            content_length: body_len,
            limit: limits.max_body_bytes,
        });
    }
    // Usually the message fills the buffer: no call to cut it.
    if header_len + body_len < buf.len() {
        buf.truncate(header_len + body_len);
    }
    let head = Headers {
        body: Span::new(header_len, header_len + body_len),
        buf,
        fields,
        hot,
    };
    Ok(match start {
        StartLine::Request {
            method,
            uri,
            uri_scan,
        } => Message::Request(Request {
            method,
            uri,
            uri_scan,
            start_line,
            head,
        }),
        StartLine::Response { status, reason } => Message::Response(Response {
            status,
            reason,
            start_line,
            head,
        }),
    })
}

fn leading_crlf(b: &[u8]) -> usize {
    b.iter()
        .position(|c| *c != b'\r' && *c != b'\n')
        .unwrap_or(b.len())
}

impl Message {
    /// Parses a UDP datagram with the default limits. Leading CR/LF octets are
    /// skipped; framing follows `sip_framing::frame_datagram` (octets after
    /// the `Content-Length` body are ignored, a body shorter than announced is
    /// an error), applied in the same pass as the parse. A header block that
    /// ends with the datagram, without the empty line, is accepted as having
    /// no body (RFC 5118 archive copies end that way).
    pub fn parse_datagram(data: Bytes) -> Result<Message, ParseError> {
        Message::parse_datagram_with(data, &ParseLimits::default())
    }

    /// [`Message::parse_datagram`] with explicit limits.
    pub fn parse_datagram_with(data: Bytes, limits: &ParseLimits) -> Result<Message, ParseError> {
        let skip = leading_crlf(&data);
        if skip == data.len() {
            return Err(ParseError::Empty);
        }
        let data = if skip > 0 { data.slice(skip..) } else { data };
        if data.len() > limits.max_message_bytes {
            return Err(ParseError::MessageTooLarge {
                limit: limits.max_message_bytes,
            });
        }
        parse_message(data, limits, true)
    }

    /// Parses one complete, already framed message (as delivered by
    /// `sip_framing::frame_stream`) with the default limits. The body is the
    /// `Content-Length` bytes after the header block (the rest of the buffer
    /// without `Content-Length`).
    pub fn parse(data: Bytes) -> Result<Message, ParseError> {
        Message::parse_with(data, &ParseLimits::default())
    }

    /// [`Message::parse`] with explicit limits.
    pub fn parse_with(data: Bytes, limits: &ParseLimits) -> Result<Message, ParseError> {
        if data.is_empty() {
            return Err(ParseError::Empty);
        }
        if data.len() > limits.max_message_bytes {
            return Err(ParseError::MessageTooLarge {
                limit: limits.max_message_bytes,
            });
        }
        parse_message(data, limits, false)
    }

    /// The header block and body.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.head,
            Message::Response(r) => &r.head,
        }
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Request(_) => None,
            Message::Response(r) => Some(r),
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    /// Serializes the message; see [`Headers::write_to`].
    pub fn to_bytes(&self, form: HeaderForm) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(form),
            Message::Response(r) => r.to_bytes(form),
        }
    }
}

impl Deref for Message {
    type Target = Headers;

    fn deref(&self) -> &Headers {
        self.headers()
    }
}

impl Deref for Request {
    type Target = Headers;

    fn deref(&self) -> &Headers {
        &self.head
    }
}

impl Deref for Response {
    type Target = Headers;

    fn deref(&self) -> &Headers {
        &self.head
    }
}

impl Request {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The Request-URI text as written.
    pub fn uri_str(&self) -> &str {
        // Checked to be UTF-8 and a valid URI while parsing.
        std::str::from_utf8(self.uri.get(&self.head.buf)).unwrap_or_default()
    }

    /// The Request-URI (checked while parsing).
    pub fn uri(&self) -> Uri<'_> {
        if let Some(u) = self.uri_scan {
            return Uri::Sip(u.build(self.uri_str()));
        }
        Uri::parse(self.uri_str()).unwrap_or(Uri::Other {
            scheme: "".into(),
            raw: "".into(),
        })
    }

    /// The request line bytes without the line ending.
    pub fn start_line(&self) -> &[u8] {
        self.start_line.get(&self.head.buf)
    }

    /// The headers and body.
    pub fn headers(&self) -> &Headers {
        &self.head
    }

    /// Serializes the request; see [`Headers::write_to`].
    pub fn to_bytes(&self, form: HeaderForm) -> Bytes {
        let mut out = BytesMut::with_capacity(self.head.buf.len() + 16);
        out.put_slice(self.start_line());
        out.put_slice(b"\r\n");
        self.head.write_to(&mut out, form);
        out.freeze()
    }
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason phrase bytes (may be empty, may be UTF-8).
    pub fn reason_bytes(&self) -> &[u8] {
        self.reason.get(&self.head.buf)
    }

    /// The reason phrase (lossy UTF-8).
    pub fn reason(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.reason_bytes())
    }

    /// The status line bytes without the line ending.
    pub fn start_line(&self) -> &[u8] {
        self.start_line.get(&self.head.buf)
    }

    /// The headers and body.
    pub fn headers(&self) -> &Headers {
        &self.head
    }

    /// Serializes the response; see [`Headers::write_to`].
    pub fn to_bytes(&self, form: HeaderForm) -> Bytes {
        let mut out = BytesMut::with_capacity(self.head.buf.len() + 16);
        out.put_slice(self.start_line());
        out.put_slice(b"\r\n");
        self.head.write_to(&mut out, form);
        out.freeze()
    }
}

impl PartialEq for Request {
    fn eq(&self, o: &Request) -> bool {
        self.method == o.method && self.uri_str() == o.uri_str() && self.head == o.head
    }
}

impl PartialEq for Response {
    fn eq(&self, o: &Response) -> bool {
        self.status == o.status && self.reason_bytes() == o.reason_bytes() && self.head == o.head
    }
}

impl PartialEq for Headers {
    /// Same fields in the same order (known names by kind, other names
    /// case-insensitively, values byte-exact) and the same body.
    fn eq(&self, o: &Headers) -> bool {
        self.body() == o.body()
            && self.fields.len() == o.fields.len()
            && self.fields().zip(o.fields()).all(|(a, b)| {
                a.name == b.name
                    && a.value == b.value
                    && (a.name != HeaderName::Other || a.raw_name.eq_ignore_ascii_case(b.raw_name))
            })
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(
            &self.to_bytes(HeaderForm::Preserve),
        ))
    }
}

/// Iterator over raw values of one header name.
pub struct Values<'a> {
    head: &'a Headers,
    name: HeaderName,
    idx: usize,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.idx < self.head.fields.len() {
            let f = self.head.fields[self.idx];
            self.idx += 1;
            if f.name == self.name {
                return Some(f.value.get(&self.head.buf));
            }
        }
        None
    }
}

impl Headers {
    /// The whole message as received (after framing: trailing datagram
    /// octets excluded).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer holding the message (cheap to clone).
    pub fn buffer(&self) -> &Bytes {
        &self.buf
    }

    /// Every header field in order.
    pub fn fields(&self) -> impl Iterator<Item = HeaderField<'_>> {
        self.fields.iter().map(|f| HeaderField {
            name: f.name,
            raw_name: f.raw_name.get(&self.buf),
            value: f.value.get(&self.buf),
        })
    }

    /// Number of header fields (lines, folded lines counting once).
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// The raw value of every field named `name`, one per header line, in
    /// order (a line may hold a comma list; see [`Headers::header_values`]).
    /// For [`HeaderName::Other`] use [`Headers::header_by_name`].
    pub fn header(&self, name: HeaderName) -> Values<'_> {
        Values {
            head: self,
            name,
            idx: 0,
        }
    }

    /// The first raw value of `name`.
    pub fn first(&self, name: HeaderName) -> Option<&[u8]> {
        self.header(name).next()
    }

    /// How many header lines carry `name`.
    pub fn count(&self, name: HeaderName) -> usize {
        self.header(name).count()
    }

    /// The values of `name` with comma lists split (for list headers, see
    /// [`HeaderName::is_list`]), quotes and `<>` respected.
    pub fn header_values(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> {
        let list = name.is_list();
        self.header(name).flat_map(move |v| {
            let mut it = split_commas(v);
            let mut whole = Some(v);
            std::iter::from_fn(move || if list { it.next() } else { whole.take() })
        })
    }

    /// Raw values of a header by its name as text (case-insensitive; a
    /// known name also matches its compact form).
    pub fn header_by_name<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        let known = HeaderName::from_bytes(name.as_bytes());
        self.fields().filter_map(move |f| {
            let hit = if known == HeaderName::Other {
                f.name == HeaderName::Other && f.raw_name.eq_ignore_ascii_case(name.as_bytes())
            } else {
                f.name == known
            };
            hit.then_some(f.value)
        })
    }

    /// The body bytes (binary safe).
    pub fn body(&self) -> &[u8] {
        self.body.get(&self.buf)
    }

    /// The body as a cheap `Bytes` slice of the message buffer.
    pub fn body_bytes(&self) -> Bytes {
        self.buf
            .slice(self.body.start as usize..self.body.end as usize)
    }

    #[inline]
    fn hot_str(&self, s: Option<Span>) -> Option<&str> {
        s.and_then(|s| str_at(&self.buf, s))
    }

    /// Every Via value in order (comma lists split), each parsed.
    pub fn via(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> {
        self.header_values(HeaderName::Via)
            .map(|v| Via::parse(utf8(v, HeaderName::Via)?))
    }

    /// The topmost Via (checked while parsing).
    #[inline]
    pub fn top_via(&self) -> Option<Via<'_>> {
        let s = self.hot_str(self.hot.top_via)?;
        match &self.hot.via_scan {
            Some(via) => Some(via.build(s)),
            None => Via::parse(s).ok(),
        }
    }

    /// The branch of the topmost Via.
    #[inline]
    pub fn branch(&self) -> Option<&str> {
        self.hot_str(self.hot.branch)
    }

    /// The raw value of the topmost Via.
    pub fn top_via_raw(&self) -> Option<&[u8]> {
        self.hot.top_via.map(|s| s.get(&self.buf))
    }

    /// From (the first one); `None` when absent or malformed (a request
    /// that passed [`Request::validate`] always has a valid one). Read from
    /// the value on each call (one pass for the usual shape): keep the
    /// result rather than asking again.
    #[inline]
    pub fn from(&self) -> Option<NameAddr<'_>> {
        // The value was trimmed of LWS when the header was read.
        NameAddr::parse_trimmed(self.hot_str(self.hot.from)?).ok()
    }

    /// The From tag.
    #[inline]
    pub fn from_tag(&self) -> Option<&str> {
        self.hot_str(self.hot.from_tag)
    }

    /// To (the first one); `None` when absent or malformed (a request that
    /// passed [`Request::validate`] always has a valid one). Read from the
    /// value on each call, as [`Headers::from`].
    #[inline]
    pub fn to(&self) -> Option<NameAddr<'_>> {
        // The value was trimmed of LWS when the header was read.
        NameAddr::parse_trimmed(self.hot_str(self.hot.to)?).ok()
    }

    /// The To tag.
    #[inline]
    pub fn to_tag(&self) -> Option<&str> {
        self.hot_str(self.hot.to_tag)
    }

    /// The Call-ID (the first one; checked while parsing).
    #[inline]
    pub fn call_id(&self) -> Option<&str> {
        self.hot_str(self.hot.call_id)
    }

    /// The CSeq (the first one; checked while parsing).
    #[inline]
    pub fn cseq(&self) -> Option<&CSeq> {
        self.hot.cseq.as_ref()
    }

    /// The Content-Length value, if the header was present.
    #[inline]
    pub fn content_length(&self) -> Option<usize> {
        self.hot.content_length
    }

    /// Max-Forwards: `Ok(None)` when absent; values above `u32::MAX` are
    /// errors (the RFC allows tolerating large values; callers may clamp).
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        self.first(HeaderName::MaxForwards)
            .map(|v| {
                crate::text::parse_u32(v).ok_or(ParseError::MalformedHeader {
                    header: HeaderName::MaxForwards,
                    reason: "not a number",
                })
            })
            .transpose()
    }

    /// Expires (delta-seconds, saturating at `u32::MAX`).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.first(HeaderName::Expires)
            .map(|v| {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(parse_saturating)
                    .ok_or(ParseError::MalformedHeader {
                        header: HeaderName::Expires,
                        reason: "not delta-seconds",
                    })
            })
            .transpose()
    }

    fn addresses(&self, name: HeaderName) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.header_values(name)
            .map(|v| {
                let s = utf8(v, name)?;
                NameAddr::parse(s).map_err(|reason| ParseError::MalformedHeader {
                    header: name,
                    reason,
                })
            })
            .collect()
    }

    /// Whether every value of `name` is a well-formed address (what
    /// [`Headers::routes`] and the like would return `Ok` for), without
    /// collecting them.
    pub(crate) fn addresses_valid(&self, name: HeaderName) -> bool {
        self.header_values(name)
            .all(|v| std::str::from_utf8(v).is_ok_and(|s| NameAddr::parse(s).is_ok()))
    }

    /// [`Headers::contacts`] is `Ok`: `*` alone, or well-formed addresses.
    pub(crate) fn contacts_valid(&self) -> bool {
        let mut values = self.header_values(HeaderName::Contact);
        match values.next() {
            None => true,
            Some(b"*") => values.next().is_none() && self.count(HeaderName::Contact) == 1,
            Some(_) => self.addresses_valid(HeaderName::Contact),
        }
    }

    /// The names of the header fields, in order.
    pub(crate) fn field_names(&self) -> impl Iterator<Item = HeaderName> + '_ {
        self.fields.iter().map(|f| f.name)
    }

    /// Contact: `*` or the addresses in order (empty list when absent).
    pub fn contacts(&self) -> Result<Contacts<'_>, ParseError> {
        let mut values = self.header_values(HeaderName::Contact);
        if let Some(first) = values.next() {
            if first == b"*" {
                if values.next().is_some() || self.count(HeaderName::Contact) > 1 {
                    return Err(ParseError::MalformedHeader {
                        header: HeaderName::Contact,
                        reason: "'*' mixed with addresses",
                    });
                }
                return Ok(Contacts::Star);
            }
        }
        self.addresses(HeaderName::Contact).map(Contacts::List)
    }

    /// Route values in order.
    pub fn routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addresses(HeaderName::Route)
    }

    /// Record-Route values in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addresses(HeaderName::RecordRoute)
    }

    /// P-Asserted-Identity values (RFC 3325).
    pub fn p_asserted_identity(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addresses(HeaderName::PAssertedIdentity)
    }

    /// P-Preferred-Identity values (RFC 3325).
    pub fn p_preferred_identity(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addresses(HeaderName::PPreferredIdentity)
    }

    /// Remote-Party-ID values.
    pub fn remote_party_id(&self) -> Result<Vec<RemotePartyId<'_>>, ParseError> {
        Ok(self
            .addresses(HeaderName::RemotePartyId)?
            .into_iter()
            .map(|addr| RemotePartyId { addr })
            .collect())
    }

    /// Privacy values (RFC 3323: `;`-separated priv-values; `id`, `header`,
    /// `session`, `user`, `none`, `critical`).
    pub fn privacy(&self) -> Vec<&str> {
        self.header(HeaderName::Privacy)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split([';', ',']))
            .map(crate::text::trim_lws_str)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Content-Type.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        self.first(HeaderName::ContentType)
            .map(|v| MediaType::parse(utf8(v, HeaderName::ContentType)?, HeaderName::ContentType))
            .transpose()
    }

    /// Accept media ranges in order.
    pub fn accept(&self) -> Result<Vec<MediaType<'_>>, ParseError> {
        self.header_values(HeaderName::Accept)
            .filter(|v| !v.is_empty())
            .map(|v| MediaType::parse(utf8(v, HeaderName::Accept)?, HeaderName::Accept))
            .collect()
    }

    fn auth(&self, name: HeaderName) -> Result<Vec<Auth<'_>>, ParseError> {
        self.header(name)
            .map(|v| Auth::parse(utf8(v, name)?, name))
            .collect()
    }

    /// Authorization values (one per header line; never comma-split).
    pub fn authorization(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth(HeaderName::Authorization)
    }

    /// Proxy-Authorization values.
    pub fn proxy_authorization(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth(HeaderName::ProxyAuthorization)
    }

    /// WWW-Authenticate challenges.
    pub fn www_authenticate(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth(HeaderName::WwwAuthenticate)
    }

    /// Proxy-Authenticate challenges.
    pub fn proxy_authenticate(&self) -> Result<Vec<Auth<'_>>, ParseError> {
        self.auth(HeaderName::ProxyAuthenticate)
    }

    /// Event (RFC 6665).
    pub fn event(&self) -> Result<Option<Event<'_>>, ParseError> {
        self.first(HeaderName::Event)
            .map(|v| Event::parse(utf8(v, HeaderName::Event)?, HeaderName::Event))
            .transpose()
    }

    /// Subscription-State (RFC 6665).
    pub fn subscription_state(&self) -> Result<Option<SubscriptionState<'_>>, ParseError> {
        self.first(HeaderName::SubscriptionState)
            .map(|v| {
                SubscriptionState::parse(
                    utf8(v, HeaderName::SubscriptionState)?,
                    HeaderName::SubscriptionState,
                )
            })
            .transpose()
    }

    /// The tokens of a token-list header (Supported, Require, Proxy-Require,
    /// Unsupported, Allow-Events...).
    pub fn tokens(&self, name: HeaderName) -> Result<Vec<&str>, ParseError> {
        self.header_values(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                if v.iter().all(|b| is_token_char(*b)) {
                    Ok(utf8(v, name)?)
                } else {
                    Err(ParseError::MalformedHeader {
                        header: name,
                        reason: "not a token",
                    })
                }
            })
            .collect()
    }

    /// Allow: the methods.
    pub fn allow(&self) -> Result<Vec<Method>, ParseError> {
        self.header_values(HeaderName::Allow)
            .filter(|v| !v.is_empty())
            .map(|v| {
                Method::from_bytes(v).map_err(|_| ParseError::MalformedHeader {
                    header: HeaderName::Allow,
                    reason: "not a method",
                })
            })
            .collect()
    }

    /// Supported option tags.
    pub fn supported(&self) -> Result<Vec<&str>, ParseError> {
        self.tokens(HeaderName::Supported)
    }

    /// Require option tags.
    pub fn require(&self) -> Result<Vec<&str>, ParseError> {
        self.tokens(HeaderName::Require)
    }

    /// Proxy-Require option tags.
    pub fn proxy_require(&self) -> Result<Vec<&str>, ParseError> {
        self.tokens(HeaderName::ProxyRequire)
    }

    /// Unsupported option tags.
    pub fn unsupported(&self) -> Result<Vec<&str>, ParseError> {
        self.tokens(HeaderName::Unsupported)
    }

    /// Writes the header block (each field as `name: value` CRLF, values
    /// byte-exact), the empty line and the body. Names follow `form`; the
    /// names of unknown headers are always written as received.
    pub fn write_to(&self, out: &mut BytesMut, form: HeaderForm) {
        for f in self.fields() {
            match (form, f.name) {
                (HeaderForm::Preserve, _) | (_, HeaderName::Other) => out.put_slice(f.raw_name),
                (HeaderForm::Full, n) => out.put_slice(n.as_str().as_bytes()),
                (HeaderForm::Compact, n) => out.put_slice(n.wire_name(true).as_bytes()),
            }
            out.put_slice(b": ");
            out.put_slice(f.value);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(self.body());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
X-Custom:  keep   me \r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn basic_invite() {
        let m = Message::parse_datagram(Bytes::from_static(INVITE)).unwrap();
        let r = m.as_request().unwrap();
        assert_eq!(r.method(), &Method::Invite);
        assert_eq!(r.uri_str(), "sip:bob@biloxi.com");
        assert_eq!(m.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(m.from_tag(), Some("1928301774"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.atlanta.com"));
        assert_eq!(m.cseq().unwrap().seq, 314159);
        assert_eq!(m.max_forwards().unwrap(), Some(70));
        assert_eq!(m.body(), b"v=0\n");
        assert_eq!(m.header_by_name("x-custom").next(), Some(&b"keep   me"[..]));
        let again = Message::parse(m.to_bytes(HeaderForm::Compact)).unwrap();
        assert_eq!(again, m);
        let full = m.to_bytes(HeaderForm::Preserve);
        assert_eq!(Message::parse(full).unwrap(), m);
    }

    thread_local! {
        pub(super) static LONG_WAY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    type Fields = Vec<(HeaderName, Vec<u8>, Vec<u8>)>;

    /// The fields (name, name as written, value) or the error, read with
    /// the usual-line shortcut or without it.
    fn read(raw: &[u8], long_way: bool) -> Result<Fields, ParseError> {
        LONG_WAY.set(long_way);
        let m = Message::parse_datagram(Bytes::copy_from_slice(raw));
        LONG_WAY.set(false);
        Ok(m?
            .fields()
            .map(|f| (f.name, f.raw_name.to_vec(), f.value.to_vec()))
            .collect())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Header lines of every shape read the same with the shortcut for
        /// the usual ones as without it.
        #[test]
        fn usual_lines_read_as_the_long_way(lines in proptest::collection::vec((
            proptest::sample::select(&[
                "Max-Forwards", "max-forwards", "MAX-FORWARDS", "Subject", "s", "S", "X-Custom",
                "P-Charging-Vector", "A-Very-Long-Extension-Header-Name", "Content-Type",
                "Max\rForwards", "Max-Forward", "Max-Forwardss", "Call-ID", "i", "x", "",
                "Ma x", "Subjec\u{e9}", "Refer-To", "Reply-To", "Supported", "k", "Allow",
                "To", "tO", "Tx", "t", "Via", "VIA", "From", "CSeq", "Identity", "Identitx",
                "Content-Language", "content-encoding", "Content-Languagf", "Proxy-Authorization",
                "P-Asserted-Identity", "Geolocation-Routing", "Record-Route", "WWW-Authenticate",
            ][..]),
            proptest::sample::select(&[":", ":", ": ", " :", "\t:", ":\t", "", ";"][..]),
            proptest::sample::select(&[
                "70", " a ", "", "  ", "a\rb", " \r", "x\r\n y", "\r\n\tz", "v \t",
                "a:b", "\u{e9}t\u{e9}", "q\r\n", "x\n\r\n",
            ][..]),
            proptest::sample::select(&["\r\n", "\r\n", "\n"][..]),
        ), 0..8)) {
            let mut raw = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: c\r\n".to_vec();
            for (name, sep, value, eol) in lines {
                raw.extend_from_slice(format!("{name}{sep}{value}{eol}").as_bytes());
            }
            raw.extend_from_slice(b"\r\n");
            proptest::prop_assert_eq!(read(&raw, false), read(&raw, true), "{:?}", String::from_utf8_lossy(&raw));
        }
    }

    #[test]
    fn malformed_header_lines_are_numbered_from_the_start_line() {
        // The start line is line 1; a fold is a line of its own.
        for (raw, line) in [
            (&b"OPTIONS sip:a@b SIP/2.0\r\n bad fold\r\n\r\n"[..], 2),
            (b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\nno colon\r\n\r\n", 3),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\r\n b\r\n\tc\r\nX-\x01: y\r\n\r\n",
                5,
            ),
            (b"OPTIONS sip:a@b SIP/2.0\nA: 1\nB: 2\n: 3\n\n", 4),
        ] {
            for long in [false, true] {
                assert_eq!(
                    read(raw, long).map(|_| ()),
                    Err(ParseError::MalformedHeaderLine { line }),
                    "{:?}",
                    String::from_utf8_lossy(raw)
                );
            }
        }
    }

    #[test]
    fn sp_sip20_word_is_the_case_blind_compare() {
        // Every byte value at every place of ` SIP/2.0`.
        for at in 0..8 {
            for c in 0..=255u8 {
                let mut w = *b" SIP/2.0";
                w[at] = c;
                let want = w[0] == b' ' && w[1..].eq_ignore_ascii_case(b"SIP/2.0");
                assert_eq!(is_sp_sip20(Some(&w)), want, "{w:?}");
            }
        }
        assert!(is_sp_sip20(Some(b" sIp/2.0")));
        assert!(!is_sp_sip20(None));
    }

    #[test]
    fn widened_utf8_check_gives_the_value_alone() {
        // Values next to non-UTF-8, multi-byte characters and both ends
        // of the buffer, at every alignment.
        let parts: [&[u8]; 6] = [
            b"abc",
            "\u{e9}".as_bytes(),
            b"\xff",
            b"\r\n",
            b"",
            b"0123456789abcdef0123",
        ];
        for pre in parts {
            for val in parts {
                for post in parts {
                    for pad in 0..9 {
                        let mut b = vec![b'x'; pad];
                        b.extend_from_slice(pre);
                        let start = b.len();
                        b.extend_from_slice(val);
                        let end = b.len();
                        b.extend_from_slice(post);
                        let span = Span::new(start, end);
                        assert_eq!(str_at(&b, span), std::str::from_utf8(&b[start..end]).ok());
                    }
                }
            }
        }
    }

    #[test]
    fn header_spans_hold_no_allocation_per_field() {
        // Not timed: checks the single Vec of spans covers every field.
        let m = Message::parse_datagram(Bytes::from_static(INVITE)).unwrap();
        assert_eq!(m.field_count(), 10);
        assert!(m.fields.capacity() >= 10);
    }
}
