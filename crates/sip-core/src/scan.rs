//! Single-pass byte scanners for the common shapes of the hot values: a Via
//! like `SIP/2.0/UDP host:port;branch=...`, a SIP URI like
//! `sip:user@host:port;params` and a name-addr like
//! `"Name" <sip:...>;tag=...`.
//!
//! They exist for speed only. Each one either returns the parts as spans
//! (relative to the scanned bytes) exactly as the full parser
//! ([`Via::parse`], [`Uri::parse`], [`NameAddr::parse`]) would return them,
//! or `None` as soon as the input leaves the common shape: LWS inside the
//! value, quoted parameter values, escapes in a display name, IPv6,
//! passwords, URI headers, `tel:` and other schemes, non-ASCII bytes, and
//! every error. `None` means "ask the full parser", which then accepts or
//! rejects with its own error, so behaviour never depends on which path
//! ran. The tests check both paths agree.
//!
//! Everything a scanner accepts is ASCII, so turning an accepted span into
//! `&str` never fails.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use crate::headers::Via;
use crate::message::Span;
use crate::name_addr::NameAddr;
use crate::text::is_lws;
use crate::uri::{parse_ipv4, Host, SipUri, Uri};

/// A byte class as a lookup table.
pub(crate) type Class = [bool; 256];

/// Builds a class from ASCII letters and digits (when `alnum`) plus `extra`.
const fn class(alnum: bool, extra: &[u8]) -> Class {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alnum && (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
}

/// RFC 3261 `token`.
const TOKEN: Class = class(true, b"-.!%*_+`'~");
/// A token display name and the LWS around its words.
const TOKEN_LWS: Class = class(true, b"-.!%*_+`'~ \t\r\n");
/// What the Via and URI host scans take as a host (`Via::parse`'s run).
const HOST: Class = class(true, b".-_");
/// URI user part: unreserved and `&=+$,;?/` (escapes are checked apart).
const USER: Class = class(true, b"-_.!~*'()&=+$,;?/");
/// URI parameter names and values (`params::is_uri_param_char`).
const URI_PARAM: Class = class(true, b"-_.!~*'()[]/:&+$%");
/// Header parameter values (`params::is_header_value_char`) restricted to
/// ASCII: visible characters but `; , " < > =`.
pub(crate) const HEADER_VALUE: Class = {
    let mut t = [false; 256];
    let mut i = 0x21;
    while i < 0x7f {
        t[i] = !matches!(i as u8, b';' | b',' | b'"' | b'<' | b'>' | b'=');
        i += 1;
    }
    t
};
/// RFC 3261 `word` (Call-ID): token characters and `( ) < > : \\ " / [ ] ? { }`.
pub(crate) const WORD: Class = class(true, b"-.!%*_+`'~()<>:\\\"/[]?{}");

/// End of the run of `class` bytes starting at `i`.
#[inline(always)]
pub(crate) fn run(b: &[u8], i: usize, class: &Class) -> usize {
    let Some(rest) = b.get(i..) else {
        return i;
    };
    // Eight bytes per step while eight remain: no bounds check per byte
    // (runs here are mostly 5 to 40 bytes long), and whole arrays, so a
    // step costs one compare of its own.
    let (chunks, tail) = rest.as_chunks::<8>();
    let mut done = i;
    for chunk in chunks {
        for (j, &c) in chunk.iter().enumerate() {
            if !class[usize::from(c)] {
                return done + j;
            }
        }
        done += 8;
    }
    // Fewer than eight left: the last eight bytes of `b`, shifted so the
    // ones from `done` come first and zeros follow them. A zero is in no
    // class, so it ends the run at the end of `b`, and the eight lookups
    // need no bounds checks (a byte loop with them costs twice as much).
    match b.last_chunk::<8>() {
        Some(last) if !tail.is_empty() => {
            let rest = (u64::from_le_bytes(*last) >> (8 * (8 - tail.len()))).to_le_bytes();
            for (j, &c) in rest.iter().enumerate() {
                if !class[usize::from(c)] {
                    return done + j;
                }
            }
            done + tail.len()
        }
        _ => {
            done + tail
                .iter()
                .position(|&c| !class[usize::from(c)])
                .unwrap_or(tail.len())
        }
    }
}

impl Span {
    /// The span moved `by` bytes on (relative to an outer text).
    #[inline]
    pub(crate) fn shift(self, by: usize) -> Span {
        Span::new(self.start as usize + by, self.end as usize + by)
    }

    /// The span moved `by` bytes back.
    #[inline]
    pub(crate) fn shift_back(self, by: usize) -> Span {
        Span::new(self.start as usize - by, self.end as usize - by)
    }

    /// The text of a span relative to `s`.
    #[inline]
    pub(crate) fn str(self, s: &str) -> &str {
        &s[self.start as usize..self.end as usize]
    }
}

/// End of the run of RFC 3261 `word` characters from `i`.
#[inline]
pub(crate) fn word_run(b: &[u8], i: usize) -> usize {
    run(b, i, &WORD)
}

/// End of the run of [`HEADER_VALUE`] characters from `i`.
#[inline(always)]
fn header_value_run(b: &[u8], i: usize) -> usize {
    crate::ascii::header_value_run(b, i).unwrap_or_else(|| run(b, i, &HEADER_VALUE))
}

/// A scanned host (never IPv6: bracketed references take the full parser).
#[derive(Debug, Clone, Copy)]
pub(crate) enum HostScan {
    Domain(Span),
    Ipv4(Ipv4Addr),
}

impl HostScan {
    fn shift(self, by: usize) -> HostScan {
        match self {
            HostScan::Domain(s) => HostScan::Domain(s.shift(by)),
            ip => ip,
        }
    }

    fn shift_back(self, by: usize) -> HostScan {
        match self {
            HostScan::Domain(s) => HostScan::Domain(s.shift_back(by)),
            ip => ip,
        }
    }

    fn build(self, s: &str) -> Host<'_> {
        match self {
            HostScan::Domain(d) => Host::Domain(Cow::Borrowed(d.str(s))),
            HostScan::Ipv4(a) => Host::Ipv4(a),
        }
    }
}

/// `host` as `Host::parse` takes it for a domain or IPv4 address, then
/// where it ends.
#[inline(always)]
fn host(b: &[u8], i: usize) -> Option<(HostScan, usize)> {
    // A dotted quad is read on the way; it is the host when no other host
    // character follows (else the run is a name, or an error).
    if let Some((addr, end)) = ipv4(b, i) {
        if b.get(end).is_none_or(|&c| !HOST[usize::from(c)]) {
            return Some((HostScan::Ipv4(addr), end));
        }
    }
    let end = run(b, i, &HOST);
    let h = &b[i..end];
    let first = *h.first()?;
    if h.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        return Some((HostScan::Ipv4(parse_ipv4(h)?), end));
    }
    if first == b'.' || first == b'-' {
        return None;
    }
    Some((HostScan::Domain(Span::new(i, end)), end))
}

/// Four dot-separated parts of 1 to 3 digits, each at most 255, from `i`
/// (the rules of `uri::parse_ipv4`), then where they end. An address has
/// at most 15 bytes, so it is read from a 16-byte window (zero-padded at
/// the end of `b`: a zero is neither a digit nor a dot, so reading stops
/// there as at the end) without a bounds check per byte.
#[inline(always)]
fn ipv4(b: &[u8], i: usize) -> Option<(Ipv4Addr, usize)> {
    let s = b.get(i..)?;
    let (addr, len) = match s.first_chunk::<16>() {
        Some(w) => ipv4_in(w)?,
        None => {
            let mut w = [0u8; 16];
            w[..s.len()].copy_from_slice(s);
            ipv4_in(&w)?
        }
    };
    Some((addr, i + len))
}

/// [`ipv4`] from the start of `w`.
#[inline(always)]
fn ipv4_in(w: &[u8; 16]) -> Option<(Ipv4Addr, usize)> {
    // `i` stays below 16 (four parts of at most three digits and three
    // dots); `& 15` lets the compiler see it.
    let digit = |i: usize| {
        let d = w[i & 15].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let mut i = 0;
    let mut out = [0u8; 4];
    for (k, part) in out.iter_mut().enumerate() {
        if k > 0 {
            if w[i & 15] != b'.' {
                return None;
            }
            i += 1;
        }
        let mut v = digit(i)?;
        i += 1;
        if let Some(d) = digit(i) {
            v = v * 10 + d;
            i += 1;
            if let Some(d) = digit(i) {
                v = v * 10 + d;
                i += 1;
            }
        }
        *part = u8::try_from(v).ok()?;
    }
    Some((Ipv4Addr::from(out), i))
}

/// Whether `name` is `want` in any case; `want` is lower-case letters
/// (a parameter name the scanners look for), so `| 0x20` on the other side
/// is all the case folding needed.
#[inline]
pub(crate) fn is_lower_name(name: &[u8], want: &[u8]) -> bool {
    debug_assert!(want.iter().all(u8::is_ascii_lowercase));
    name.len() == want.len() && name.iter().zip(want).all(|(c, w)| c | 0x20 == *w)
}

/// A port of 1 to 5 digits at `i` (at most 65535), then where it ends.
#[inline(always)]
fn port(b: &[u8], i: usize) -> Option<(u16, usize)> {
    // Read and summed in one loop; a sixth digit is an error.
    let (mut n, mut end) = (0u32, i);
    while let Some(d) = b.get(end).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10) {
        if end - i == 5 {
            return None;
        }
        n = n * 10 + u32::from(d);
        end += 1;
    }
    if end == i {
        return None;
    }
    Some((u16::try_from(n).ok()?, end))
}

/// One `;name[=value]` at the start of `b`, without LWS or a quoted value,
/// followed by ';' or the end.
pub(crate) struct SimpleParam {
    pub(crate) name: Span,
    pub(crate) value: Option<Span>,
    /// Where the parameter ends.
    pub(crate) end: usize,
}

/// Reads a [`SimpleParam`] at `i` (a URI parameter when `uri`).
#[inline]
fn param_at(b: &[u8], i: usize, uri: bool) -> Option<SimpleParam> {
    let (names, values) = if uri {
        (&URI_PARAM, &URI_PARAM)
    } else {
        (&TOKEN, &HEADER_VALUE)
    };
    if b.get(i) != Some(&b';') {
        return None;
    }
    let name = Span::new(i + 1, run(b, i + 1, names));
    if name.start == name.end {
        return None;
    }
    let mut end = name.end as usize;
    let mut value = None;
    if b.get(end) == Some(&b'=') {
        let v = Span::new(end + 1, run(b, end + 1, values));
        if v.start == v.end {
            return None;
        }
        end = v.end as usize;
        value = Some(v);
    }
    if end < b.len() && b[end] != b';' {
        return None;
    }
    Some(SimpleParam { name, value, end })
}

/// The value of a `;branch=value` at the start of `b` in the simple form
/// (what [`simple_param`] reads there when the name is `branch`), the
/// name compared as one word: `| 0x20` lower-cases the six letters only.
#[inline(always)]
pub(crate) fn leading_branch(b: &[u8]) -> Option<Span> {
    const WANT: u64 = u64::from_le_bytes(*b";branch=");
    const CASE: u64 = u64::from_le_bytes([0, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0]);
    let w = u64::from_le_bytes(*b.first_chunk::<8>()?);
    if w | CASE != WANT {
        return None;
    }
    let end = header_value_run(b, 8);
    (end > 8 && (end == b.len() || b[end] == b';')).then(|| Span::new(8, end))
}

/// The value of a `;tag=value` at `b[i..]` that fills the rest of `b`,
/// the simple form (what [`tag_param`] finds when the list is just that
/// one parameter), the name compared as one word: `| 0x20` lower-cases
/// the three letters only. `None` leaves the list to [`tag_param`].
#[inline(always)]
pub(crate) fn lone_tag(b: &[u8], i: usize) -> Option<Span> {
    const WANT: u64 = u64::from_le_bytes(*b";tag=\0\0\0");
    const CASE: u64 = u64::from_le_bytes([0, 0x20, 0x20, 0x20, 0, 0, 0, 0]);
    let w = u64::from_le_bytes(*b.get(i..)?.first_chunk::<8>()?);
    if (w | CASE) & 0xff_ffff_ffff != WANT {
        return None;
    }
    let end = header_value_run(b, i + 5);
    (end > i + 5 && end == b.len()).then(|| Span::new(i + 5, end))
}

/// [`param_at`] the start of `b`, for `params::next_param`.
pub(crate) fn simple_param(b: &[u8], uri: bool) -> Option<SimpleParam> {
    param_at(b, 0, uri)
}

/// A parameter list `;name[=value]...` from `i`, without LWS or quoted
/// values (URI parameters when `uri`), up to the first byte that does not
/// go on with it (not a `;` after a parameter). Returns the value of the
/// first parameter named `want` (`None` when absent or valueless, as
/// `Params::get(..).flatten()`) and where the list stops; `None` for an
/// empty name or value.
///
/// Generic over `URI` and always inlined: the class tables and the name
/// sought are then constants where it is used, with no call of its own
/// (for the short lists of the hot values, the call and the choice of
/// tables were a good part of the work).
#[inline(always)]
fn params_at<const URI: bool>(
    b: &[u8],
    mut i: usize,
    want: &[u8],
) -> Option<(Option<Span>, usize)> {
    let (names, values) = if URI {
        (&URI_PARAM, &URI_PARAM)
    } else {
        (&TOKEN, &HEADER_VALUE)
    };
    let mut found = None;
    while b.get(i) == Some(&b';') {
        let name_end = run(b, i + 1, names);
        if name_end == i + 1 {
            return None;
        }
        let mut end = name_end;
        let mut value = None;
        if b.get(end) == Some(&b'=') {
            end = if URI {
                run(b, name_end + 1, values)
            } else {
                header_value_run(b, name_end + 1)
            };
            if end == name_end + 1 {
                return None;
            }
            value = Some(Span::new(name_end + 1, end));
        }
        if found.is_none() && !want.is_empty() && is_lower_name(&b[i + 1..name_end], want) {
            found = Some(value);
        }
        i = end;
    }
    Some((found.flatten(), i))
}

/// [`params_at`] for a list that must fill the rest of `b`: the value of
/// `want`.
#[inline(always)]
fn params<const URI: bool>(b: &[u8], i: usize, want: &[u8]) -> Option<Option<Span>> {
    let (found, end) = params_at::<URI>(b, i, want)?;
    (end == b.len()).then_some(found)
}

/// The `tag` of a header parameter list from `i` that fills the rest of
/// `b` (`Some(None)`: no tag); `None` when the list is not in the simple
/// form (LWS, quoted values...) or is malformed.
#[inline]
pub(crate) fn tag_param(b: &[u8], i: usize) -> Option<Option<Span>> {
    params::<false>(b, i, b"tag")
}

/// The parts of one Via value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViaScan {
    /// Whether the value starts `SIP/2.0/` (then the name and version
    /// are built from constants, without slicing the text).
    sip20: bool,
    protocol_name: Span,
    protocol_version: Span,
    transport: Span,
    host: HostScan,
    port: Option<u16>,
    params: Span,
    /// The `branch` value.
    pub(crate) branch: Option<Span>,
}

/// Scans a Via value already trimmed of LWS.
pub(crate) fn via(b: &[u8]) -> Option<ViaScan> {
    let token_then = |start: usize, sep: u8| {
        let end = run(b, start, &TOKEN);
        (end > start && b.get(end) == Some(&sep)).then_some(end)
    };
    // Nearly always `SIP/2.0/`: two tokens and their slashes at once.
    let sip20 = b.starts_with(b"SIP/2.0/");
    let (name_end, version_end) = if sip20 {
        (3, 7)
    } else {
        let name_end = token_then(0, b'/')?;
        (name_end, token_then(name_end + 1, b'/')?)
    };
    // Usually `UDP`, `TCP` or `TLS` and its space: one compare (all
    // three are tokens, so `token_then` would end there too).
    let usual = b
        .get(version_end + 1..)
        .and_then(|t| t.first_chunk::<4>())
        .is_some_and(|t| matches!(t, b"UDP " | b"TCP " | b"TLS "));
    let transport_end = if usual {
        version_end + 4
    } else {
        token_then(version_end + 1, b' ')?
    };
    let mut i = transport_end + 1;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let (host, mut i) = host(b, i)?;
    let mut port_no = None;
    if b.get(i) == Some(&b':') {
        let (p, end) = port(b, i + 1)?;
        port_no = Some(p);
        i = end;
    }
    // Usually the branch comes first: then the rest need not be compared
    // with its name.
    let branch = match leading_branch(&b[i..]) {
        Some(br) => {
            let br = br.shift(i);
            // Usually nothing or `;rport` (RFC 3581) follows: then no list
            // to read.
            let rest = &b[br.end as usize..];
            if !rest.is_empty() && rest != b";rport" {
                params::<false>(b, br.end as usize, b"")?;
            }
            Some(br)
        }
        None => params::<false>(b, i, b"branch")?,
    };
    Some(ViaScan {
        sip20,
        protocol_name: Span::new(0, name_end),
        protocol_version: Span::new(name_end + 1, version_end),
        transport: Span::new(version_end + 1, transport_end),
        host,
        port: port_no,
        params: Span::new(i, b.len()),
        branch,
    })
}

impl ViaScan {
    /// The Via, borrowing from `s` (the scanned text).
    pub(crate) fn build<'s>(&self, s: &'s str) -> Via<'s> {
        let params = self.params.str(s);
        // The branch is the hint `Via::branch` can use when it starts the
        // parameters (`leading_branch` read it there).
        let hint = self
            .branch
            .filter(|b| b.start == self.params.start + 8)
            .map(|b| b.str(s));
        let (name, version) = if self.sip20 {
            ("SIP", "2.0")
        } else {
            (self.protocol_name.str(s), self.protocol_version.str(s))
        };
        Via::scanned(
            [name, version, self.transport.str(s)],
            self.host.build(s),
            self.port,
            params,
            hint,
        )
    }
}

/// The parts of a `sip:` or `sips:` URI (never a password or headers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SipUriScan {
    secure: bool,
    user: Option<Span>,
    host: HostScan,
    port: Option<u16>,
    params: Span,
}

/// Scans a SIP URI filling all of `b`.
pub(crate) fn sip_uri(b: &[u8]) -> Option<SipUriScan> {
    sip_uri_at(b, 0).and_then(|(uri, end)| (end == b.len()).then_some(uri))
}

/// Scans a SIP URI from `start` up to the first byte that cannot go on
/// with it (a `>` closing a name-addr, say): the URI and where it stops.
/// For a URI ending there this is what [`sip_uri`] of just those bytes
/// gives: the scan never takes a `>`, and it only takes a `@` as the end
/// of the user part, so a `@` elsewhere stops it early, which callers
/// reject as they would the user part.
///
/// Always inlined into its two callers ([`sip_uri`] for the Request-URI,
/// [`name_addr`] for To and From): its call and the return of the scan
/// through memory cost about 40 instructions each.
#[inline(always)]
fn sip_uri_at(b: &[u8], start: usize) -> Option<(SipUriScan, usize)> {
    let s = &b[start..];
    // `sip:` or `sips:` in any case, a word at a time: `| 0x20` on the
    // letters lower-cases them (only `S` and `s` give `s`); the colon must
    // be itself.
    const SIP: u64 = u32::from_le_bytes(*b"sip:") as u64;
    const SIPS: u64 = u64::from_le_bytes(*b"sips:\0\0\0");
    let (secure, mut i) = match s.first_chunk::<8>().map(|w| u64::from_le_bytes(*w)) {
        Some(w) if (w | 0x20_2020) & 0xffff_ffff == SIP => (false, start + 4),
        Some(w) if (w | 0x2020_2020) & 0xff_ffff_ffff == SIPS => (true, start + 5),
        Some(_) => return None,
        None if s.len() > 4 && s[..4].eq_ignore_ascii_case(b"sip:") => (false, start + 4),
        None if s.len() > 5 && s[..5].eq_ignore_ascii_case(b"sips:") => (true, start + 5),
        None => return None,
    };
    // The user part: unreserved characters and `%HH` escapes up to a `@`
    // (as `SipUri::parse`, which ends userinfo at the first `@`). Stopping
    // anywhere else means no user part: the same bytes are then read as
    // the host, and anything the user run took past it (`:` of a password,
    // a bad escape...) stops that scan before the `@`.
    let mut user = None;
    let mut j = run(b, i, &USER);
    while j + 2 < b.len()
        && b[j] == b'%'
        && b[j + 1].is_ascii_hexdigit()
        && b[j + 2].is_ascii_hexdigit()
    {
        j = run(b, j + 3, &USER);
    }
    if b.get(j) == Some(&b'@') {
        if j == i {
            return None;
        }
        user = Some(Span::new(i, j));
        i = j + 1;
    }
    let (host, mut i) = host(b, i)?;
    let mut port_no = None;
    if b.get(i) == Some(&b':') {
        let (p, end) = port(b, i + 1)?;
        port_no = Some(p);
        i = end;
    }
    let (_, end) = params_at::<true>(b, i, b"")?;
    let uri = SipUriScan {
        secure,
        user: user.map(|u| u.shift_back(start)),
        host: host.shift_back(start),
        port: port_no,
        params: Span::new(i - start, end - start),
    };
    Some((uri, end))
}

impl SipUriScan {
    fn shift(self, by: usize) -> SipUriScan {
        SipUriScan {
            user: self.user.map(|u| u.shift(by)),
            host: self.host.shift(by),
            params: self.params.shift(by),
            ..self
        }
    }

    /// The URI, borrowing from `s` (the scanned text). Always inlined:
    /// the parts are then stored where the caller's `SipUri` goes.
    #[inline(always)]
    pub(crate) fn build(self, s: &str) -> SipUri<'_> {
        SipUri {
            secure: self.secure,
            user: self.user.map(|u| Cow::Borrowed(u.str(s))),
            password: None,
            host: self.host.build(s),
            port: self.port,
            params: Cow::Borrowed(self.params.str(s)),
            headers: Cow::Borrowed(""),
        }
    }
}

/// The parts of a name-addr (`[display] <sip-uri> params`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameAddrScan {
    display_name: Option<Span>,
    uri: SipUriScan,
    params: Span,
}

/// Scans a name-addr already trimmed of LWS. The addr-spec form (no `<>`)
/// is left to the full parser.
pub(crate) fn name_addr(b: &[u8]) -> Option<NameAddrScan> {
    let (display_name, lt) = match *b.first()? {
        b'"' => {
            // The closing quote; a `\` before it means escapes, which
            // make `unquote` allocate: those are left to the parser.
            let close = 1 + b[1..].iter().position(|&c| c == b'"' || c == b'\\')?;
            if b[close] != b'"' {
                return None;
            }
            let q = close + 1;
            let lt = q + b[q..].iter().position(|c| !is_lws(*c))?;
            (Some(Span::new(1, close)), lt)
        }
        b'<' => (None, 0),
        _ => {
            let lt = run(b, 0, &TOKEN_LWS);
            let end = b[..lt].iter().rposition(|c| !is_lws(*c))? + 1;
            (Some(Span::new(0, end)), lt)
        }
    };
    if b.get(lt) != Some(&b'<') {
        return None;
    }
    // The URI runs to the first `>` (it cannot hold one).
    let (uri, gt) = sip_uri_at(b, lt + 1)?;
    if b.get(gt) != Some(&b'>') {
        return None;
    }
    params::<false>(b, gt + 1, b"")?;
    Some(NameAddrScan {
        display_name,
        uri: uri.shift(lt + 1),
        params: Span::new(gt + 1, b.len()),
    })
}

impl NameAddrScan {
    /// The address, borrowing from `s` (the scanned text).
    pub(crate) fn build(self, s: &str) -> NameAddr<'_> {
        NameAddr {
            display_name: self.display_name.map(|d| Cow::Borrowed(d.str(s))),
            uri: Uri::Sip(self.uri.build(s)),
            params: Cow::Borrowed(self.params.str(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each scanner, when it accepts, agrees with the full parser.
    fn agree(s: &str) {
        if let Some(v) = via(s.as_bytes()) {
            assert_eq!(Ok(v.build(s)), Via::parse_full(s), "Via {s:?}");
            let br = Via::parse_full(s).unwrap();
            // Both shortcuts (the scan's and `Via::branch`'s) against the
            // general parameter reader.
            let long = br.param("branch").flatten();
            assert_eq!(v.branch.map(|b| b.str(s)), long, "branch {s:?}");
            assert_eq!(br.branch(), long, "Via::branch {s:?}");
        }
        if let Some(u) = sip_uri(s.as_bytes()) {
            assert_eq!(Ok(Uri::Sip(u.build(s))), Uri::parse_full(s), "URI {s:?}");
        }
        if let Some(n) = name_addr(s.as_bytes()) {
            let full = NameAddr::parse_full(s);
            assert_eq!(Ok(n.build(s)), full, "name-addr {s:?}");
            let tag = tag_param(s.as_bytes(), n.params.start as usize).unwrap();
            assert_eq!(tag.map(|t| t.str(s)), full.unwrap().tag(), "tag {s:?}");
        }
    }

    #[test]
    fn common_shapes_take_the_scanner_and_agree() {
        for s in [
            "SIP/2.0/UDP 203.0.113.20:5060;branch=z9hG4bK-524287-1---a7f3c2e1d9b84f06;rport",
            "SIP/2.0/TCP host.example.com;rport;BRANCH=z9hG4bK1;received=192.0.2.1",
            "SIP/2.0/UDP  h_1.example;branch;branch=x",
            "SIP/2.0/TLS h;branch=x",
            "SIP/2.0/UDPX h;branch=x",
            "SIP/2.0/udp h",
            "SIP/2.0/UDP h;branch=x;rport",
            "SIP/2.0/UDP h;branch=x;RPORT",
            "SIP/2.0/UDP h;branch=x;rport=1",
            "sip:+13175550123@192.0.2.10:5060;transport=udp",
            "SIPS:a%41b@EXAMPLE.com;lr",
            "sip:host;x=a@b",
            "\"WIRELESS CALLER\" <sip:+13175559876@203.0.113.20;user=phone>;tag=as5d1e2f3a",
            "Bob Smith  <sip:bob@biloxi.com>;tag=a6c85cf;x",
            "<sip:bob@biloxi.com>",
            "\"\" <sip:b>;tagx=1;tag",
        ] {
            agree(s);
            let b = s.as_bytes();
            assert!(
                via(b).is_some() || sip_uri(b).is_some() || name_addr(b).is_some(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn no_class_holds_zero() {
        // `run` pads the last bytes with zeros to end the run there.
        for class in [
            &TOKEN,
            &TOKEN_LWS,
            &HOST,
            &USER,
            &URI_PARAM,
            &HEADER_VALUE,
            &WORD,
        ] {
            assert!(!class[0]);
        }
        for (s, class, i, want) in [
            ("abc", &TOKEN, 0, 3),
            ("abcdefghij", &TOKEN, 1, 10),
            ("abcdefgh;x", &TOKEN, 0, 8),
            ("abcdefghi;", &TOKEN, 2, 9),
            ("12345678", &HOST, 8, 8),
            ("1234567;9", &HOST, 3, 7),
        ] {
            assert_eq!(run(s.as_bytes(), i, class), want, "{s:?} from {i}");
        }
    }

    #[test]
    fn word_class_is_the_text_one() {
        for c in 0..=255u8 {
            let word = TOKEN[usize::from(c)] || b"()<>:\\\"/[]?{}".contains(&c);
            assert_eq!(WORD[usize::from(c)], word, "{c}");
        }
    }

    #[test]
    fn shapes_at_the_border_agree() {
        // `@` and `>` where the prefix scan of a URI must stop, escapes and
        // ports where a user part could be.
        for s in [
            "<sip:a>@b>",
            "<sip:host>;x=a@b",
            "<sip:u:pw@h>",
            "<sip:u:5060@h>",
            "<sip:a%zz@h>",
            "<sip:a%4>",
            "<sip:host;a=%zz>",
            "<sip:@h>",
            "<sip:>",
            "<sips:>",
            "<sip:a@b@c>",
            "<sip:a@b;c=d@e>",
            "\"a\" <sip:%41@h:1;x>;tag=t",
            "\"a\\\"b\" <sip:h>",
            "\"unterminated <sip:h>",
            "a b\t<sip:h>",
            ", <sip:h>",
            "sip:a%41@b;x",
        ] {
            agree(s);
        }
    }

    #[test]
    fn lone_tag_takes_the_usual_shape_only() {
        let at = |v: &str| lone_tag(v.as_bytes(), 9).map(|t| t.get(v.as_bytes()).to_vec());
        assert_eq!(at("<sip:a@b>;tag=as5d1e2f3a"), Some(b"as5d1e2f3a".to_vec()));
        assert_eq!(at("<sip:a@b>;TaG=x-1.2!"), Some(b"x-1.2!".to_vec()));
        // More parameters, an empty value, another name or too few bytes:
        // the general reader's.
        assert_eq!(at("<sip:a@b>;tag=a;b"), None);
        assert_eq!(at("<sip:a@b>;tag="), None);
        assert_eq!(at("<sip:a@b>;tagx=ab"), None);
        assert_eq!(at("<sip:a@b>;tag=a"), None);
        assert_eq!(at("<sip:a@b>;tag=a b"), None);
    }

    #[test]
    fn unusual_shapes_are_left_to_the_parser() {
        for s in [
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
            "SIP / 2.0 / UDP host;branch=z9hG4bK1",
            "SIP/2.0/UDP host ; branch = z9hG4bK1",
            "SIP/2.0/UDP host;x=\"q\"",
            "SIP/2.0/UDP 1.2.3;branch=1",
            "SIP/2.0/UDP host:65536",
            "sip:user:pw@host",
            "sip:host?subject=x",
            "tel:+1-201-555-0123",
            "sip:a%4@host",
            "\"a\\\"b\" <sip:x@y>",
            "<sip:x@y>;tag=\"1\"",
            "<sip:x@y> ;tag=1",
        ] {
            let b = s.as_bytes();
            assert!(
                via(b).is_none() && sip_uri(b).is_none() && name_addr(b).is_none(),
                "{s:?}"
            );
        }
        // The addr-spec form: a fine URI, but not for the name-addr scan.
        assert!(name_addr(b"sip:x@y;tag=1").is_none());
    }

    /// A piece of text: mostly one that keeps the common shape, sometimes
    /// one just off it (so both paths and their border get exercised).
    fn pick(
        good: &'static [&'static str],
        off: &'static [&'static str],
    ) -> impl Strategy<Value = &'static str> {
        prop_oneof![6 => prop::sample::select(good), 1 => prop::sample::select(off)]
    }

    fn host() -> impl Strategy<Value = String> {
        let host = pick(
            &[
                "h.example",
                "H-1.EXAMPLE_x",
                "192.0.2.1",
                "x.",
                "255.255.255.255",
                "01.002.3.4",
                "1.2.3.4x",
            ],
            &[
                "256.0.0.1",
                "1.2.3",
                "-x",
                ".x",
                "[::1]",
                "",
                "h!",
                "1.2.3.4567",
                "1.2.3.4.5",
                "1234.1.1.1",
                "1.2.3.256",
                "1.2..3",
            ],
        );
        let port = pick(
            &["", ":5060", ":0", ":65535", ":00080"],
            &[":65536", ":123456", ":", ":x"],
        );
        (host, port).prop_map(|(h, p)| format!("{h}{p}"))
    }

    fn params(names: &'static [&'static str]) -> impl Strategy<Value = String> {
        let value = pick(
            &["", "=z9hG4bK1", "=a:b", "=%41", "=1.2"],
            &["=", "=\"q\"", "=[::1]", "=é", "=a=b"],
        );
        let sep = pick(&[";"], &[" ;", "; ", ",", ""]);
        let name = pick(names, &["", "a b", "é"]);
        prop::collection::vec((sep, name, value), 0..4).prop_map(|ps| {
            ps.into_iter()
                .map(|(s, n, v)| format!("{s}{n}{v}"))
                .collect()
        })
    }

    fn uri() -> impl Strategy<Value = String> {
        let scheme = pick(&["sip:", "SIPS:", "sIp:"], &["tel:", "sip", "x:", ""]);
        let user = pick(
            &["", "alice@", "+1317@", "a%41@", "a;b=c@", "a?b@"],
            &["a%4@", "a%zz@", "u:pw@", "@", "é@"],
        );
        let tail = pick(&[""], &["?h=v", "?", "@x", " ", ">"]);
        (
            scheme,
            user,
            host(),
            params(&["transport", "lr", "user", "x"]),
            tail,
        )
            .prop_map(|(s, u, h, p, t)| format!("{s}{u}{h}{p}{t}"))
    }

    fn via_text() -> impl Strategy<Value = String> {
        let head = pick(
            &["SIP/2.0/UDP", "SIP/2.0/tcp", "sip/3/X"],
            &["SIP / 2.0/UDP", "SIP/2.0/", "x/y"],
        );
        let gap = pick(&[" ", "  "], &["\t", "", " \r\n ", "\x0c"]);
        let tail = pick(&[""], &[" ", ",", ";"]);
        let names = &[
            "branch", "BRANCH", "bRanch", "branchx", "rport", "received", "x",
        ];
        (head, gap, host(), params(names), tail)
            .prop_map(|(h, g, o, p, t)| format!("{h}{g}{o}{p}{t}"))
    }

    fn name_addr_text() -> impl Strategy<Value = String> {
        let display = pick(
            &[
                "",
                "\"Bob\" ",
                "\"Bob\"",
                "Bob ",
                "Bob  Smith ",
                "Bob",
                "\"\"",
                "\"é\" ",
            ],
            &["\"B\\\"o\" ", "\"x", "é ", "a,b "],
        );
        let open = pick(&["<"], &["", "< "]);
        let close = pick(&[">"], &["", " >"]);
        let tail = pick(&[""], &[" ", ",x"]);
        let names = &["tag", "TAG", "tagx", "x"];
        (display, open, uri(), close, params(names), tail)
            .prop_map(|(d, o, u, c, p, t)| format!("{d}{o}{u}{c}{p}{t}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn via_scanner_agrees_with_the_parser(s in via_text()) {
            agree(&s);
        }

        #[test]
        fn uri_scanner_agrees_with_the_parser(s in uri()) {
            agree(&s);
        }

        #[test]
        fn name_addr_scanner_agrees_with_the_parser(s in name_addr_text()) {
            agree(&s);
        }

        /// The From and To tags located while parsing a message are the
        /// tags of the addresses the full parser reads.
        #[test]
        fn a_lone_tag_is_what_tag_param_finds(
            s in "(;(tag|TAG|tAg|tog|tag_|ta|t)(=[a-z0-9;=,\"<>. é]{0,20})?){0,3}[ ,]?"
        ) {
            let v = format!("<sip:a@b>{s}");
            let b = v.as_bytes();
            if let Some(t) = lone_tag(b, 9) {
                prop_assert_eq!(tag_param(b, 9), Some(Some(t)));
            }
        }

        #[test]
        fn located_tags_are_the_parsed_ones(s in name_addr_text()) {
            let raw = format!("OPTIONS sip:a@b SIP/2.0\r\nFrom: {s}\r\nt: {s}\r\n\r\n");
            let parsed = crate::Message::parse(bytes::Bytes::from(raw));
            if let (Ok(m), Ok(full)) = (&parsed, NameAddr::parse_full(&s)) {
                prop_assert_eq!(m.from_tag(), full.tag());
                prop_assert_eq!(m.to_tag(), full.tag());
                prop_assert_eq!(m.from(), Some(full.clone()));
                prop_assert_eq!(m.to(), Some(full));
            }
        }
    }
}
