//! URIs: SIP and SIPS (RFC 3261 section 19.1, RFC 5118 IPv6 references),
//! tel (RFC 3966) and any other absolute URI kept as text.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::ParseError;
use crate::params::{self, Param, Params};
use crate::text::{find_byte, hex_val, unescape};

/// A URI as found in a Request-URI or a name-addr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:` (RFC 3966).
    Tel(TelUri<'a>),
    /// Any other scheme, kept as written (RFC 4475 sections 3.3.2 to 3.3.4).
    Other {
        /// The scheme as written.
        scheme: Cow<'a, str>,
        /// The whole URI as written, scheme included.
        raw: Cow<'a, str>,
    },
}

/// The host of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name as written (compare case-insensitively).
    Domain(Cow<'a, str>),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference, written in brackets.
    Ipv6(Ipv6Addr),
}

/// A `sip:` or `sips:` URI. Text fields are kept as written (with `%HH`
/// escapes); `params` and `headers` hold the raw `;...` and `?...` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, escaped as written.
    pub user: Option<Cow<'a, str>>,
    /// The password, escaped as written.
    pub password: Option<Cow<'a, str>>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if written.
    pub port: Option<u16>,
    /// The uri-parameters, raw: empty or `;name[=value]...`.
    pub params: Cow<'a, str>,
    /// The headers after `?`, raw, without the `?` (`a=b&c=d`); never turned
    /// into message headers by this crate.
    pub headers: Cow<'a, str>,
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number as written: `+` and digits for a global number, or a
    /// local number (with visual separators).
    pub number: Cow<'a, str>,
    /// The parameters, raw: empty or `;name[=value]...`.
    pub params: Cow<'a, str>,
}

fn invalid(why: &'static str) -> ParseError {
    ParseError::InvalidUri(why)
}

#[inline]
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Checks that `s` only has unreserved chars, valid `%HH` escapes and `extra`.
fn check_chars(s: &str, extra: &[u8], why: &'static str) -> Result<(), ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if i + 2 >= b.len() {
                return Err(invalid("truncated % escape"));
            }
            if hex_val(b[i + 1]).is_none() || hex_val(b[i + 2]).is_none() {
                return Err(invalid("bad % escape"));
            }
            i += 3;
            continue;
        }
        if !is_unreserved(c) && !extra.contains(&c) {
            return Err(invalid(why));
        }
        i += 1;
    }
    Ok(())
}

/// Whether `s` is a URI scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

impl<'a> Uri<'a> {
    /// Parses an absolute URI: no surrounding LWS or angle brackets.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, ParseError> {
        // Plain `sip:user@host:port;params` URIs take a one-pass scan.
        if let Some(u) = crate::scan::sip_uri(s.as_bytes()) {
            return Ok(Uri::Sip(u.build(s)));
        }
        Uri::parse_full(s)
    }

    /// [`Uri::parse`] without the scanner of common shapes.
    pub(crate) fn parse_full(s: &'a str) -> Result<Uri<'a>, ParseError> {
        let colon = find_byte(s, b':').ok_or(invalid("missing scheme"))?;
        let scheme = &s[..colon];
        if !is_scheme(scheme) {
            return Err(invalid("bad scheme"));
        }
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse_rest(rest, false).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_rest(rest, true).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            TelUri::parse_rest(rest).map(Uri::Tel)
        } else {
            if rest.is_empty()
                || rest
                    .bytes()
                    .any(|b| b <= b' ' || b >= 0x7f || matches!(b, b'<' | b'>' | b'"'))
            {
                return Err(invalid("bad character in URI"));
            }
            Ok(Uri::Other {
                scheme: Cow::Borrowed(scheme),
                raw: Cow::Borrowed(s),
            })
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme in lower case for sip, sips and tel, else as written.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    /// Equivalence per RFC 3261 section 19.1.4 (SIP), RFC 3966 section 4
    /// (tel, ignoring visual separators) or exact text (other schemes, with a
    /// case-insensitive scheme).
    pub fn matches(&self, other: &Uri<'_>) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.matches(b),
            (Uri::Tel(a), Uri::Tel(b)) => a.matches(b),
            (
                Uri::Other {
                    scheme: sa,
                    raw: ra,
                },
                Uri::Other {
                    scheme: sb,
                    raw: rb,
                },
            ) => sa.eq_ignore_ascii_case(sb) && ra[sa.len()..] == rb[sb.len()..],
            _ => false,
        }
    }

    /// Copies every borrowed part so the URI outlives the message.
    pub fn into_owned(self) -> Uri<'static> {
        match self {
            Uri::Sip(u) => Uri::Sip(u.into_owned()),
            Uri::Tel(t) => Uri::Tel(t.into_owned()),
            Uri::Other { scheme, raw } => Uri::Other {
                scheme: Cow::Owned(scheme.into_owned()),
                raw: Cow::Owned(raw.into_owned()),
            },
        }
    }
}

impl Uri<'_> {
    /// Appends the URI as its `Display` writes it, without `core::fmt`
    /// (issue 3: the B2BUA writes several URIs per call, and the
    /// formatter's dispatch per piece cost more than the copying).
    pub fn push_to(&self, out: &mut String) {
        match self {
            Uri::Sip(u) => {
                out.push_str(if u.secure { "sips:" } else { "sip:" });
                if let Some(user) = &u.user {
                    out.push_str(user);
                    if let Some(p) = &u.password {
                        out.push(':');
                        out.push_str(p);
                    }
                    out.push('@');
                }
                u.host.push_to(out);
                if let Some(p) = u.port {
                    out.push(':');
                    crate::addr_text::push_port(out, p);
                }
                out.push_str(&u.params);
                if !u.headers.is_empty() {
                    out.push('?');
                    out.push_str(&u.headers);
                }
            }
            Uri::Tel(t) => {
                out.push_str("tel:");
                out.push_str(&t.number);
                out.push_str(&t.params);
            }
            Uri::Other { raw, .. } => out.push_str(raw),
        }
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(t) => t.fmt(f),
            Uri::Other { raw, .. } => f.write_str(raw),
        }
    }
}

impl<'a> Host<'a> {
    /// Parses a host: a domain, an IPv4 address or a bracketed IPv6
    /// reference. The RFC 3261 ABNF bug form with three colons
    /// (`[2001:db8:::192.0.2.1]`, RFC 5118 section 4.10) is tolerated.
    pub fn parse(s: &'a str) -> Result<Host<'a>, ParseError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(invalid("unclosed IPv6 reference"))?;
            return parse_ipv6(inner).map(Host::Ipv6);
        }
        Host::parse_unbracketed(s, false)
    }

    /// Parses a host that may be an IPv6 address without brackets (the Via
    /// `received` parameter, RFC 5118 section 4.5).
    pub fn parse_lenient(s: &'a str) -> Result<Host<'a>, ParseError> {
        if s.starts_with('[') {
            return Host::parse(s);
        }
        Host::parse_unbracketed(s, true)
    }

    fn parse_unbracketed(s: &'a str, allow_ipv6: bool) -> Result<Host<'a>, ParseError> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(invalid("empty host"));
        }
        if allow_ipv6 && s.contains(':') {
            return parse_ipv6(s).map(Host::Ipv6);
        }
        if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            return parse_ipv4(b)
                .map(Host::Ipv4)
                .ok_or(invalid("bad IPv4 address"));
        }
        let ok = b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
            && b[0] != b'.'
            && b[0] != b'-';
        if !ok {
            return Err(invalid("bad character in host"));
        }
        Ok(Host::Domain(Cow::Borrowed(s)))
    }

    /// The IP address, if the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Host comparison: domains case-insensitively, addresses by value.
    pub fn matches(&self, other: &Host<'_>) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
            (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
            _ => false,
        }
    }

    /// Copies a borrowed domain.
    pub fn into_owned(self) -> Host<'static> {
        match self {
            Host::Domain(d) => Host::Domain(Cow::Owned(d.into_owned())),
            Host::Ipv4(a) => Host::Ipv4(a),
            Host::Ipv6(a) => Host::Ipv6(a),
        }
    }
}

impl From<IpAddr> for Host<'static> {
    fn from(ip: IpAddr) -> Host<'static> {
        match ip {
            IpAddr::V4(a) => Host::Ipv4(a),
            IpAddr::V6(a) => Host::Ipv6(a),
        }
    }
}

/// Dotted-quad IPv4 (1 to 3 digits per part, each at most 255).
pub(crate) fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut part = 0;
    let mut val: u16 = 0;
    let mut digits = 0;
    for &c in b {
        if c == b'.' {
            if digits == 0 || part == 3 {
                return None;
            }
            out[part] = u8::try_from(val).ok()?;
            part += 1;
            val = 0;
            digits = 0;
        } else {
            digits += 1;
            if digits > 3 {
                return None;
            }
            val = val * 10 + u16::from(c - b'0');
        }
    }
    if part != 3 || digits == 0 {
        return None;
    }
    out[3] = u8::try_from(val).ok()?;
    Some(Ipv4Addr::from(out))
}

fn parse_ipv6(s: &str) -> Result<Ipv6Addr, ParseError> {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Ok(a);
    }
    // RFC 5118 section 4.10: tolerate the 3-colon form of the RFC 3261 ABNF bug.
    if let Some(pos) = s.find(":::") {
        let fixed = format!("{}{}", &s[..pos + 1], &s[pos + 2..]);
        if let Ok(a) = fixed.parse::<Ipv6Addr>() {
            return Ok(a);
        }
    }
    Err(invalid("bad IPv6 address"))
}

impl Host<'_> {
    /// Appends the host as its `Display` writes it (IPv6 in brackets),
    /// without `core::fmt`.
    pub fn push_to(&self, out: &mut String) {
        match self {
            Host::Domain(d) => out.push_str(d),
            Host::Ipv4(a) => out.push_str(crate::addr_text::ipv4_str(*a, &mut [0; 15])),
            Host::Ipv6(a) => {
                out.push('[');
                crate::addr_text::push_ip(out, IpAddr::V6(*a));
                out.push(']');
            }
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => f.write_str(crate::addr_text::ipv4_str(*a, &mut [0; 15])),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Characters allowed in the user part besides unreserved and escapes.
const USER_EXTRA: &[u8] = b"&=+$,;?/";
/// Characters allowed in the password besides unreserved and escapes.
const PASSWORD_EXTRA: &[u8] = b"&=+$,";
/// Characters allowed in URI headers besides unreserved and escapes.
const HEADERS_EXTRA: &[u8] = b"[]/?:+$=&";

impl<'a> SipUri<'a> {
    /// A URI with only a host.
    pub fn new(host: Host<'a>) -> SipUri<'a> {
        SipUri {
            secure: false,
            user: None,
            password: None,
            host,
            port: None,
            params: Cow::Borrowed(""),
            headers: Cow::Borrowed(""),
        }
    }

    /// Parses `sip:...` or `sips:...`.
    pub fn parse(s: &'a str) -> Result<SipUri<'a>, ParseError> {
        match Uri::parse(s)? {
            Uri::Sip(u) => Ok(u),
            _ => Err(invalid("not a sip or sips URI")),
        }
    }

    fn parse_rest(rest: &'a str, secure: bool) -> Result<SipUri<'a>, ParseError> {
        let (userinfo, hostpart) = match find_byte(rest, b'@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match find_byte(ui, b':') {
                    Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(invalid("empty user part"));
                }
                check_chars(u, USER_EXTRA, "bad character in user part")?;
                if let Some(p) = p {
                    check_chars(p, PASSWORD_EXTRA, "bad character in password")?;
                }
                (Some(Cow::Borrowed(u)), p.map(Cow::Borrowed))
            }
        };
        let (hostport, headers) = match find_byte(hostpart, b'?') {
            Some(q) => (&hostpart[..q], &hostpart[q + 1..]),
            None => (hostpart, ""),
        };
        if hostpart.len() != hostport.len() {
            if headers.is_empty() {
                return Err(invalid("empty headers after '?'"));
            }
            check_chars(headers, HEADERS_EXTRA, "bad character in URI headers")?;
        }
        let (hp, uparams) = match find_byte(hostport, b';') {
            Some(p) => (&hostport[..p], &hostport[p..]),
            None => (hostport, ""),
        };
        params::validate(uparams, true).map_err(invalid)?;
        let (host_s, port_s) = if hp.starts_with('[') {
            let close = find_byte(hp, b']').ok_or(invalid("unclosed IPv6 reference"))?;
            let after = &hp[close + 1..];
            match after.strip_prefix(':') {
                Some(p) => (&hp[..=close], Some(p)),
                None if after.is_empty() => (hp, None),
                None => return Err(invalid("junk after IPv6 reference")),
            }
        } else {
            match find_byte(hp, b':') {
                Some(c) => (&hp[..c], Some(&hp[c + 1..])),
                None => (hp, None),
            }
        };
        let host = Host::parse(host_s)?;
        let port = match port_s {
            None => None,
            Some(p) => Some(parse_port(p).ok_or(invalid("bad port"))?),
        };
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params: Cow::Borrowed(uparams),
            headers: Cow::Borrowed(headers),
        })
    }

    /// The user part with `%HH` escapes decoded. `%00` yields a NUL byte
    /// (never truncates, RFC 4475 section 3.1.1.4).
    pub fn user_unescaped(&self) -> Option<Cow<'_, [u8]>> {
        self.user.as_deref().map(unescape)
    }

    /// The uri-parameters.
    pub fn params(&self) -> Params<'_> {
        Params::uri(&self.params)
    }

    /// A uri-parameter by name (case-insensitive): `Some(None)` when present
    /// without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params().get(name)
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.param("transport").flatten()
    }

    /// The `user` parameter (`phone`, `ip`, ...).
    pub fn user_param(&self) -> Option<&str> {
        self.param("user").flatten()
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.param("maddr").flatten()
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.param("ttl").flatten().and_then(|v| v.parse().ok())
    }

    /// The `method` parameter.
    pub fn method_param(&self) -> Option<&str> {
        self.param("method").flatten()
    }

    /// Whether the `lr` (loose routing) parameter is present.
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The URI headers as `(name, value)` pairs, escaped as written.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .split('&')
            .filter(|h| !h.is_empty())
            .map(|h| h.split_once('=').unwrap_or((h, "")))
    }

    /// Appends a uri-parameter (`value` is written as given).
    pub fn push_param(&mut self, name: &str, value: Option<&str>) {
        let p = self.params.to_mut();
        p.push(';');
        p.push_str(name);
        if let Some(v) = value {
            p.push('=');
            p.push_str(v);
        }
    }

    /// Equivalence per RFC 3261 section 19.1.4: scheme, user and password
    /// (case-sensitive, after unescaping), host (case-insensitive), port
    /// (absent is not 5060), parameters present in both must match, `user`,
    /// `ttl`, `method`, `maddr` and `transport` present in one only never
    /// match, headers must all match.
    pub fn matches(&self, other: &SipUri<'_>) -> bool {
        if self.secure != other.secure
            || self.port != other.port
            || !self.host.matches(&other.host)
            || self.user_unescaped() != other.user_unescaped()
            || self.password.as_deref().map(unescape) != other.password.as_deref().map(unescape)
        {
            return false;
        }
        if !params_match(self.params(), other) || !params_match(other.params(), self) {
            return false;
        }
        headers_match(self, other) && headers_match(other, self)
    }

    /// Copies every borrowed part.
    pub fn into_owned(self) -> SipUri<'static> {
        SipUri {
            secure: self.secure,
            user: self.user.map(|u| Cow::Owned(u.into_owned())),
            password: self.password.map(|p| Cow::Owned(p.into_owned())),
            host: self.host.into_owned(),
            port: self.port,
            params: Cow::Owned(self.params.into_owned()),
            headers: Cow::Owned(self.headers.into_owned()),
        }
    }
}

fn params_match(mine: Params<'_>, other: &SipUri<'_>) -> bool {
    for Param { name, value } in mine {
        match other.param(name) {
            Some(v) => {
                let a = value.map(unescape);
                let b = v.map(unescape);
                let eq = match (a, b) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
                    (None, None) => true,
                    _ => false,
                };
                if !eq {
                    return false;
                }
            }
            None => {
                let n = unescape(name);
                if [&b"user"[..], b"ttl", b"method", b"maddr", b"transport"]
                    .iter()
                    .any(|k| n.eq_ignore_ascii_case(k))
                {
                    return false;
                }
            }
        }
    }
    true
}

fn headers_match(a: &SipUri<'_>, b: &SipUri<'_>) -> bool {
    a.header_pairs().all(|(n, v)| {
        b.header_pairs().any(|(n2, v2)| {
            unescape(n).eq_ignore_ascii_case(&unescape(n2)) && unescape(v) == unescape(v2)
        })
    })
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        self.host.fmt(f)?;
        if let Some(p) = self.port {
            f.write_str(":")?;
            f.write_str(crate::addr_text::u16_str(p, &mut [0; 5]))?;
        }
        f.write_str(&self.params)?;
        if !self.headers.is_empty() {
            write!(f, "?{}", self.headers)?;
        }
        Ok(())
    }
}

impl<'a> TelUri<'a> {
    fn parse_rest(rest: &'a str) -> Result<TelUri<'a>, ParseError> {
        let (number, tparams) = match find_byte(rest, b';') {
            Some(p) => (&rest[..p], &rest[p..]),
            None => (rest, ""),
        };
        params::validate(tparams, true).map_err(invalid)?;
        let visual = |b: u8| matches!(b, b'-' | b'.' | b'(' | b')');
        let t = TelUri {
            number: Cow::Borrowed(number),
            params: Cow::Borrowed(tparams),
        };
        if let Some(digits) = number.strip_prefix('+') {
            if !digits.bytes().any(|b| b.is_ascii_digit())
                || !digits.bytes().all(|b| b.is_ascii_digit() || visual(b))
            {
                return Err(invalid("bad global tel number"));
            }
        } else {
            if !number
                .bytes()
                .any(|b| b.is_ascii_hexdigit() || b == b'*' || b == b'#')
                || !number
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'*' || b == b'#' || visual(b))
            {
                return Err(invalid("bad local tel number"));
            }
            if t.phone_context().is_none() {
                return Err(invalid("local tel number without phone-context"));
            }
        }
        Ok(t)
    }

    /// Whether the number is global (`+` and E.164 digits).
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }

    /// The number without visual separators (`-`, `.`, `(`, `)`).
    pub fn normalized_number(&self) -> String {
        self.number
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
            .collect()
    }

    /// The parameters.
    pub fn params(&self) -> Params<'_> {
        Params::uri(&self.params)
    }

    /// The `phone-context` parameter (required for local numbers).
    pub fn phone_context(&self) -> Option<&str> {
        self.params().get("phone-context").flatten()
    }

    /// RFC 3966 section 4 comparison: numbers without visual separators,
    /// parameters as sets (case-insensitive).
    pub fn matches(&self, other: &TelUri<'_>) -> bool {
        if !self
            .normalized_number()
            .eq_ignore_ascii_case(&other.normalized_number())
        {
            return false;
        }
        let count_a = self.params().count();
        let count_b = other.params().count();
        count_a == count_b
            && self.params().all(|p| {
                other.params().any(|q| {
                    p.name.eq_ignore_ascii_case(q.name)
                        && match (p.value, q.value) {
                            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                            (None, None) => true,
                            _ => false,
                        }
                })
            })
    }

    /// Copies every borrowed part.
    pub fn into_owned(self) -> TelUri<'static> {
        TelUri {
            number: Cow::Owned(self.number.into_owned()),
            params: Cow::Owned(self.params.into_owned()),
        }
    }
}

impl fmt::Display for TelUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}{}", self.number, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        SipUri::parse(s).unwrap()
    }

    #[test]
    fn parses_components() {
        let u = sip("sips:alice:secret@Example.COM:5061;transport=tcp;lr?Subject=hi&x=y");
        assert!(u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::Domain("Example.COM".into()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(
            u.header_pairs().collect::<Vec<_>>(),
            vec![("Subject", "hi"), ("x", "y")]
        );
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@Example.COM:5061;transport=tcp;lr?Subject=hi&x=y"
        );
    }

    #[test]
    fn ipv6_forms() {
        let u = sip("sip:[2001:db8::10]:5070");
        assert_eq!(u.host, Host::Ipv6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        let u = sip("sip:[2001:db8::10:5070]");
        assert_eq!(u.port, None);
        let u = sip("sip:user@[2001:db8:::192.0.2.1]");
        assert_eq!(u.host, Host::Ipv6("2001:db8::192.0.2.1".parse().unwrap()));
        assert!(SipUri::parse("sip:2001:db8::10").is_err());
        assert!(SipUri::parse("sip:[2001:db8::10").is_err());
    }

    #[test]
    fn escaped_user_keeps_nul() {
        let a = sip("sip:null-%00-null@example.com");
        assert_eq!(&*a.user_unescaped().unwrap(), b"null-\0-null");
        let b = sip("sip:%00@h");
        let c = sip("sip:%00%00@h");
        assert!(!b.matches(&c));
    }

    #[test]
    fn comparison_rules_19_1_4() {
        assert!(sip("sip:%61lice@atlanta.com;transport=TCP")
            .matches(&sip("sip:alice@AtLanTa.CoM;Transport=tcp")));
        assert!(!sip("SIP:ALICE@AtLanTa.CoM;Transport=udp")
            .matches(&sip("sip:alice@AtLanTa.CoM;Transport=UDP")));
        assert!(!sip("sip:bob@biloxi.com").matches(&sip("sip:bob@biloxi.com:5060")));
        assert!(!sip("sip:bob@biloxi.com").matches(&sip("sip:bob@biloxi.com;transport=udp")));
        assert!(sip("sip:carol@chicago.com").matches(&sip("sip:carol@chicago.com;newparam=5")));
        assert!(!sip("sip:carol@chicago.com;security=on")
            .matches(&sip("sip:carol@chicago.com;security=off")));
        assert!(
            sip("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com").matches(
                &sip("sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com")
            )
        );
        assert!(
            !sip("sip:alice@atlanta.com?subject=project%20x&priority=urgent")
                .matches(&sip("sip:alice@atlanta.com?priority=urgent"))
        );
    }

    #[test]
    fn tel_and_other() {
        let Uri::Tel(t) = Uri::parse("tel:+1-201-555-0123").unwrap() else {
            panic!()
        };
        assert!(t.is_global());
        assert_eq!(t.normalized_number(), "+12015550123");
        assert!(Uri::parse("tel:7042;phone-context=example.com").is_ok());
        assert!(Uri::parse("tel:7042").is_err());
        let o = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(o.scheme(), "soap.beep");
        assert_eq!(o.to_string(), "soap.beep://192.0.2.103:3002");
        assert!(Uri::parse("<sip:a@b>").is_err());
    }
}
