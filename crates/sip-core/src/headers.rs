//! Typed header values. Each borrows from the message buffer (or owns its
//! text when built by hand) and is parsed on demand from the raw value.

use std::borrow::Cow;
use std::fmt;

use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::method::Method;
use crate::name_addr::{parse_saturating, NameAddr};
use crate::params::{self, Params};
use crate::text::{find_byte, is_lws, is_token_char, skip_lws, trim_lws_str, unquote};
use crate::uri::Host;

fn malformed(header: HeaderName, reason: &'static str) -> ParseError {
    ParseError::MalformedHeader { header, reason }
}

fn token_run(s: &str) -> (&str, &str) {
    let n = s.bytes().position(|b| !is_token_char(b)).unwrap_or(s.len());
    (&s[..n], &s[n..])
}

/// One Via value (RFC 3261 section 20.42).
#[derive(Debug, Clone)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol_name: Cow<'a, str>,
    /// Protocol version, normally `2.0`.
    pub protocol_version: Cow<'a, str>,
    /// Transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, unknown...).
    pub transport: Cow<'a, str>,
    /// The sent-by host.
    pub host: Host<'a>,
    /// The sent-by port, if written.
    pub port: Option<u16>,
    /// The via-params, raw: empty or `;name[=value]...` (may hold LWS).
    pub params: Cow<'a, str>,
    /// The branch value the scanner of common shapes read at the start of
    /// `params` (after `;branch=`), so [`Via::branch`] need not read it
    /// again. Used only while `params` is still the text it was read from
    /// (see [`Via::branch`]); not part of the value (equality ignores it).
    branch_hint: Option<&'a str>,
}

impl PartialEq for Via<'_> {
    fn eq(&self, o: &Via<'_>) -> bool {
        self.protocol_name == o.protocol_name
            && self.protocol_version == o.protocol_version
            && self.transport == o.transport
            && self.host == o.host
            && self.port == o.port
            && self.params == o.params
    }
}

impl Eq for Via<'_> {}

impl<'a> Via<'a> {
    /// A `SIP/2.0/<transport>` Via with a branch parameter.
    pub fn new(transport: &'a str, host: Host<'a>, port: Option<u16>, branch: &str) -> Via<'a> {
        Via {
            protocol_name: Cow::Borrowed("SIP"),
            protocol_version: Cow::Borrowed("2.0"),
            transport: Cow::Borrowed(transport),
            host,
            port,
            params: Cow::Owned(format!(";branch={branch}")),
            branch_hint: None,
        }
    }

    /// Parses one Via value (one element of a comma list).
    pub fn parse(s: &'a str) -> Result<Via<'a>, ParseError> {
        let s = trim_lws_str(s);
        // The usual `SIP/2.0/UDP host:port;params` takes a one-pass scan.
        if let Some(v) = crate::scan::via(s.as_bytes()) {
            return Ok(v.build(s));
        }
        Via::parse_full(s)
    }

    /// [`Via::parse`] without the scanner of common shapes.
    pub(crate) fn parse_full(s: &'a str) -> Result<Via<'a>, ParseError> {
        let bad = |r| malformed(HeaderName::Via, r);
        let s = trim_lws_str(s);
        let (name, rest) = token_run(s);
        if name.is_empty() {
            return Err(bad("missing protocol name"));
        }
        let rest = skip_lws(rest)
            .strip_prefix('/')
            .ok_or(bad("missing '/' after protocol name"))?;
        let (version, rest) = token_run(skip_lws(rest));
        if version.is_empty() {
            return Err(bad("missing protocol version"));
        }
        let rest = skip_lws(rest)
            .strip_prefix('/')
            .ok_or(bad("missing '/' before transport"))?;
        let (transport, rest) = token_run(skip_lws(rest));
        if transport.is_empty() {
            return Err(bad("missing transport"));
        }
        if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return Err(bad("missing sent-by"));
        }
        let rest = skip_lws(rest);
        let host_len = if rest.starts_with('[') {
            find_byte(rest, b']').ok_or(bad("unclosed IPv6 reference"))? + 1
        } else {
            rest.bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')))
                .unwrap_or(rest.len())
        };
        if host_len == 0 {
            return Err(bad("missing sent-by"));
        }
        let host = Host::parse(&rest[..host_len]).map_err(|_| bad("bad sent-by host"))?;
        let mut rest = &rest[host_len..];
        let mut port = None;
        let after = skip_lws(rest);
        if let Some(p) = after.strip_prefix(':') {
            let p = skip_lws(p);
            let n = p
                .bytes()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(p.len());
            if n == 0 || n > 5 {
                return Err(bad("bad sent-by port"));
            }
            port = Some(p[..n].parse::<u16>().map_err(|_| bad("bad sent-by port"))?);
            rest = &p[n..];
        }
        params::validate(rest, false).map_err(bad)?;
        Ok(Via {
            protocol_name: Cow::Borrowed(name),
            protocol_version: Cow::Borrowed(version),
            transport: Cow::Borrowed(transport),
            host,
            port,
            params: Cow::Borrowed(rest),
            branch_hint: None,
        })
    }

    /// The via-params.
    pub fn params(&self) -> Params<'_> {
        Params::header(&self.params)
    }

    /// A parameter by name: `Some(None)` when present without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params().get(name)
    }

    /// The `branch` parameter.
    #[inline]
    pub fn branch(&self) -> Option<&str> {
        // Read while scanning: the hint is the run of value characters
        // after the `;branch=` at the address `params` starts at. While
        // `params` borrows text from that same address and reaches the
        // hint's end, those bytes are the scanned ones (the hint borrows
        // them too), so reading them again would give the hint.
        if let (Some(h), Cow::Borrowed(p)) = (self.branch_hint, &self.params) {
            if p.as_ptr().wrapping_add(8) == h.as_ptr() && p.len() >= 8 + h.len() {
                return Some(h);
            }
        }
        // Usually the first parameter, in the simple form: read it at once
        // (what `Params::get` would find first).
        if let Some(v) = crate::scan::leading_branch(self.params.as_bytes()) {
            return Some(v.str(&self.params));
        }
        if let Some(p) = crate::scan::simple_param(self.params.as_bytes(), false) {
            if crate::scan::is_lower_name(p.name.get(self.params.as_bytes()), b"branch") {
                return p.value.map(|v| v.str(&self.params));
            }
        }
        self.param("branch").flatten()
    }

    /// Whether the branch carries the RFC 3261 magic cookie `z9hG4bK`.
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    /// The `received` parameter as a host (brackets optional, RFC 5118 section 4.5).
    pub fn received(&self) -> Option<Host<'_>> {
        self.param("received")
            .flatten()
            .and_then(|v| Host::parse_lenient(v).ok())
    }

    /// The `rport` parameter (RFC 3581): `Some(None)` when present without a
    /// value (a request asking for it), `Some(Some(port))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.param("maddr").flatten()
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.param("ttl").flatten().and_then(|v| v.parse().ok())
    }

    /// Appends a parameter (`value` written as given).
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
    pub fn into_owned(self) -> Via<'static> {
        Via {
            protocol_name: Cow::Owned(self.protocol_name.into_owned()),
            protocol_version: Cow::Owned(self.protocol_version.into_owned()),
            transport: Cow::Owned(self.transport.into_owned()),
            host: self.host.into_owned(),
            port: self.port,
            params: Cow::Owned(self.params.into_owned()),
            branch_hint: None,
        }
    }

    /// A Via from the parts the scanner read; `branch` is the value of a
    /// `;branch=` that starts `params` (see `branch_hint`).
    pub(crate) fn scanned(
        protocol: [&'a str; 3],
        host: Host<'a>,
        port: Option<u16>,
        params: &'a str,
        branch: Option<&'a str>,
    ) -> Via<'a> {
        Via {
            protocol_name: Cow::Borrowed(protocol[0]),
            protocol_version: Cow::Borrowed(protocol[1]),
            transport: Cow::Borrowed(protocol[2]),
            host,
            port,
            params: Cow::Borrowed(params),
            branch_hint: branch,
        }
    }
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol_name, self.protocol_version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(&self.params)
    }
}

/// The CSeq header (RFC 3261 section 20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (at most 2^32-1).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`.
    #[inline]
    pub fn parse(s: &[u8]) -> Result<CSeq, ParseError> {
        CSeq::parse_trimmed(crate::text::trim_lws(s))
    }

    /// [`CSeq::parse`] of a value with no LWS at either end (a parsed
    /// header value).
    #[inline]
    pub(crate) fn parse_trimmed(s: &[u8]) -> Result<CSeq, ParseError> {
        let bad = |r| malformed(HeaderName::CSeq, r);
        // Usually `1*9DIGIT SP Method` with no other LWS: read at once,
        // as the general steps below would (nine digits cannot overflow).
        // The digits are counted and added up in one loop.
        let (mut digits, mut seq) = (0, 0u32);
        while let Some(d) = s.get(digits).map(|c| c.wrapping_sub(b'0')) {
            if d > 9 || digits == 9 {
                break;
            }
            seq = seq * 10 + u32::from(d);
            digits += 1;
        }
        if digits > 0 {
            if let Some((b' ', m)) = s[digits..].split_first() {
                if m.first().is_some_and(|b| !is_lws(*b)) {
                    let method = Method::from_bytes(m).map_err(|_| bad("bad method"))?;
                    return Ok(CSeq { seq, method });
                }
            }
        }
        CSeq::parse_general(s)
    }

    /// [`CSeq::parse`] without the shortcut for the usual shape.
    fn parse_general(s: &[u8]) -> Result<CSeq, ParseError> {
        let bad = |r| malformed(HeaderName::CSeq, r);
        let s = crate::text::trim_lws(s);
        let n = s
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(s.len());
        if n == 0 {
            return Err(bad("missing sequence number"));
        }
        let seq = crate::text::parse_u32(&s[..n]).ok_or(ParseError::CSeqOverflow)?;
        let rest = &s[n..];
        if rest.first().is_none_or(|b| !is_lws(*b)) {
            return Err(bad("missing method"));
        }
        let m = crate::text::trim_lws(rest);
        let method = Method::from_bytes(m).map_err(|_| bad("bad method"))?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Checks a Call-ID: `word [ "@" word ]` (RFC 3261 section 25.1).
pub(crate) fn valid_call_id(s: &[u8]) -> bool {
    match crate::ascii::call_id_shape(s) {
        Some(ok) => ok,
        None => valid_call_id_runs(s),
    }
}

/// [`valid_call_id`] as two runs of `word` bytes.
pub(crate) fn valid_call_id_runs(s: &[u8]) -> bool {
    // Two runs of word characters split by at most one '@', both non-empty.
    let first = crate::scan::word_run(s, 0);
    if first == s.len() {
        return first > 0;
    }
    first > 0
        && s[first] == b'@'
        && first + 1 < s.len()
        && crate::scan::word_run(s, first + 1) == s.len()
}

/// A media type with parameters: Content-Type and Accept elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// Type, e.g. `application`.
    pub mtype: Cow<'a, str>,
    /// Subtype, e.g. `sdp`.
    pub subtype: Cow<'a, str>,
    /// Parameters, raw: empty or `;name=value...`.
    pub params: Cow<'a, str>,
}

impl<'a> MediaType<'a> {
    /// Parses `type "/" subtype *(;param)`.
    pub fn parse(s: &'a str, header: HeaderName) -> Result<MediaType<'a>, ParseError> {
        let bad = |r| malformed(header, r);
        let s = trim_lws_str(s);
        let (t, rest) = token_run(s);
        if t.is_empty() {
            return Err(bad("missing media type"));
        }
        let rest = skip_lws(rest).strip_prefix('/').ok_or(bad("missing '/'"))?;
        let (st, rest) = token_run(skip_lws(rest));
        if st.is_empty() {
            return Err(bad("missing media subtype"));
        }
        params::validate(rest, false).map_err(bad)?;
        Ok(MediaType {
            mtype: Cow::Borrowed(t),
            subtype: Cow::Borrowed(st),
            params: Cow::Borrowed(rest),
        })
    }

    /// Whether this is `type/subtype` (case-insensitive).
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// A parameter value, unquoted.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        Params::header(&self.params)
            .get(name)
            .flatten()
            .map(unquote)
    }
}

impl fmt::Display for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.mtype, self.subtype, self.params)
    }
}

/// Credentials or a challenge: Authorization, Proxy-Authorization,
/// WWW-Authenticate, Proxy-Authenticate (RFC 3261 sections 20.7, 20.27,
/// 20.28, 20.44). Never split at commas into several headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth<'a> {
    /// The scheme, e.g. `Digest` (compare case-insensitively).
    pub scheme: Cow<'a, str>,
    /// The rest, raw: comma-separated `name=value` auth-params (or a token68).
    pub params: Cow<'a, str>,
}

impl<'a> Auth<'a> {
    /// Parses `scheme LWS params`.
    pub fn parse(s: &'a str, header: HeaderName) -> Result<Auth<'a>, ParseError> {
        let s = trim_lws_str(s);
        let (scheme, rest) = token_run(s);
        if scheme.is_empty() {
            return Err(malformed(header, "missing scheme"));
        }
        if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return Err(malformed(header, "bad scheme"));
        }
        Ok(Auth {
            scheme: Cow::Borrowed(scheme),
            params: Cow::Borrowed(skip_lws(rest)),
        })
    }

    /// The auth-params as `(name, value)` with quotes removed.
    pub fn params(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        crate::text::split_commas(self.params.as_bytes()).filter_map(|p| {
            let p = std::str::from_utf8(p).ok()?;
            let (n, v) = p.split_once('=')?;
            Some((trim_lws_str(n), unquote(trim_lws_str(v))))
        })
    }

    /// An auth-param by name (case-insensitive), unquoted.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

impl fmt::Display for Auth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.params.is_empty() {
            f.write_str(&self.scheme)
        } else {
            write!(f, "{} {}", self.scheme, self.params)
        }
    }
}

/// A value with a token and parameters: Event (RFC 6665) and
/// Subscription-State (RFC 6665 section 8.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParams<'a> {
    /// The token: event package or subscription state.
    pub value: Cow<'a, str>,
    /// Parameters, raw.
    pub params: Cow<'a, str>,
}

impl<'a> TokenParams<'a> {
    /// Parses `token *(;param)`.
    pub fn parse(s: &'a str, header: HeaderName) -> Result<TokenParams<'a>, ParseError> {
        let s = trim_lws_str(s);
        let (t, rest) = token_run(s);
        if t.is_empty() {
            return Err(malformed(header, "missing token"));
        }
        params::validate(rest, false).map_err(|r| malformed(header, r))?;
        Ok(TokenParams {
            value: Cow::Borrowed(t),
            params: Cow::Borrowed(rest),
        })
    }

    /// The parameters.
    pub fn params(&self) -> Params<'_> {
        Params::header(&self.params)
    }

    /// A parameter value by name, unquoted.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params().get(name).flatten().map(unquote)
    }

    /// Event: the `id` parameter.
    pub fn id(&self) -> Option<Cow<'_, str>> {
        self.param("id")
    }

    /// Subscription-State: the `expires` parameter.
    pub fn expires(&self) -> Option<u32> {
        self.params()
            .get("expires")
            .flatten()
            .and_then(parse_saturating)
    }

    /// Subscription-State: the `reason` parameter.
    pub fn reason(&self) -> Option<Cow<'_, str>> {
        self.param("reason")
    }

    /// Subscription-State: the `retry-after` parameter.
    pub fn retry_after(&self) -> Option<u32> {
        self.params()
            .get("retry-after")
            .flatten()
            .and_then(parse_saturating)
    }
}

impl fmt::Display for TokenParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.value, self.params)
    }
}

/// Event header (RFC 6665 section 8.2.1): package in `value`.
pub type Event<'a> = TokenParams<'a>;
/// Subscription-State header (RFC 6665 section 8.2.3): state in `value`.
pub type SubscriptionState<'a> = TokenParams<'a>;

/// The Contact header: `*` or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// The addresses, in order (empty when there is no Contact).
    List(Vec<NameAddr<'a>>),
}

/// A Remote-Party-ID value (draft-ietf-sip-privacy-04): an address with
/// `party`, `screen` and `privacy` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePartyId<'a> {
    /// The address and its parameters.
    pub addr: NameAddr<'a>,
}

impl RemotePartyId<'_> {
    /// `screen` (`yes` / `no`).
    pub fn screen(&self) -> Option<&str> {
        self.addr.param("screen").flatten()
    }

    /// `privacy` (`full`, `name`, `uri`, `off`, ...).
    pub fn privacy(&self) -> Option<&str> {
        self.addr.param("privacy").flatten()
    }

    /// `party` (`calling` / `called`).
    pub fn party(&self) -> Option<&str> {
        self.addr.param("party").flatten()
    }
}

#[cfg(test)]
mod tests {

    proptest::proptest! {
        /// The shortcut for the usual CSeq reads what the general steps do.
        #[test]
        fn cseq_shortcut_reads_as_the_general_steps(
            seq in proptest::sample::select(&["1", "102", "4294967295", "4294967296", "999999999", "0000000001", "", "x"][..]),
            gap in proptest::sample::select(&[" ", "  ", "\t", "", " \r\n "][..]),
            method in proptest::sample::select(&["INVITE", "ACK", "FOO", "", "IN VITE", "INVITE ", "é"][..]),
        ) {
            let s = format!("{seq}{gap}{method}");
            proptest::prop_assert_eq!(CSeq::parse(s.as_bytes()), CSeq::parse_general(s.as_bytes()), "{:?}", s);
        }
    }

    use super::*;

    #[test]
    fn via_wsinv_forms() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::Ipv4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch(), Some("390skdjuw"));
        let v = Via::parse(
            "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        assert!(v.is_rfc3261_branch());
        let v =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;rport").unwrap();
        assert_eq!(v.port, Some(6050));
        assert_eq!(
            v.received(),
            Some(Host::Ipv6("2001:db8::9:255".parse().unwrap()))
        );
        assert_eq!(v.rport(), Some(None));
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert_eq!(
            Via::parse("SIP/2.0/UDP").unwrap_err().to_string(),
            "malformed Via header: missing sent-by"
        );
    }

    #[test]
    fn branch_hint_follows_the_params() {
        let text = "SIP/2.0/UDP h;branch=z9hG4bK1;rport";
        let mut v = Via::parse(text).unwrap();
        assert!(v.branch_hint.is_some());
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        // A shorter text at the same address: still the same bytes.
        v.params = Cow::Borrowed(&text[13..30]);
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        // Too short, elsewhere, or owned: read from the params again.
        v.params = Cow::Borrowed(&text[13..25]);
        assert_eq!(v.branch(), Some("z9hG"));
        v.params = Cow::Borrowed(";branch=other");
        assert_eq!(v.branch(), Some("other"));
        let mut v = Via::parse(text).unwrap();
        v.params.to_mut().insert_str(0, ";x");
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        v.params = Cow::Owned(";branch=y".into());
        assert_eq!(v.branch(), Some("y"));
        assert_eq!(Via::parse(text).unwrap(), Via::parse_full(text).unwrap());
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(
            CSeq::parse(b"0009\r\n  INVITE").unwrap(),
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert_eq!(
            CSeq::parse(b"36893488147419103232 REGISTER"),
            Err(ParseError::CSeqOverflow)
        );
        assert_eq!(CSeq::parse(b"4294967295 ACK").unwrap().seq, u32::MAX);
        assert!(CSeq::parse(b"1INVITE").is_err());
    }

    #[test]
    fn call_id_words() {
        assert!(valid_call_id(
            br#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#
        ));
        assert!(!valid_call_id(b"a@b@c"));
        assert!(!valid_call_id(b"a b"));
    }

    #[test]
    fn auth_params_not_split() {
        let a = Auth::parse(
            r#"Digest username="bob", realm="a,b", nonce="n""#,
            HeaderName::Authorization,
        )
        .unwrap();
        assert_eq!(a.scheme, "Digest");
        assert_eq!(a.param("realm").unwrap(), "a,b");
        assert_eq!(a.param("NONCE").unwrap(), "n");
    }
}
