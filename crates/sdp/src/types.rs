//! Typed views of the SDP lines Locus reads: `o=`, `c=`, `m=` and the
//! attributes `rtpmap`, `fmtp`, `rtcp` and the direction attributes.

use std::fmt;
use std::net::IpAddr;

/// The `o=` line (RFC 4566 section 5.2):
/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`, `-` when the host has no user ids.
    pub username: String,
    /// `<sess-id>`, a numeric string kept as written.
    pub session_id: String,
    /// `<sess-version>`: increased each time the description changes
    /// (RFC 3264 section 8).
    pub session_version: u64,
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<unicast-address>`, as written (an address or a name).
    pub address: String,
}

impl Origin {
    pub(crate) fn parse(value: &str) -> Result<Self, &'static str> {
        let mut it = value.split_ascii_whitespace();
        let mut next = || it.next().ok_or("expected 6 fields");
        let username = next()?.to_owned();
        let session_id = next()?.to_owned();
        let version = next()?;
        let net_type = next()?.to_owned();
        let addr_type = next()?.to_owned();
        let address = next()?.to_owned();
        if it.next().is_some() {
            return Err("expected 6 fields");
        }
        if !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err("session version is not a number");
        }
        let session_version = version
            .parse()
            .map_err(|_| "session version is not a number below 2^64")?;
        Ok(Origin {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        })
    }
}

impl fmt::Display for Origin {
    /// Writes the value of the line, without `o=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

/// The `c=` line (RFC 4566 section 5.7):
/// `c=<nettype> <addrtype> <connection-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<connection-address>` as written: an address, possibly with a
    /// multicast `/ttl` or `/count` suffix, or a name.
    pub address: String,
}

impl Connection {
    /// A unicast `IN IP4`/`IN IP6` connection to `ip`.
    pub fn new(ip: IpAddr) -> Self {
        let mut address = String::with_capacity(15);
        push_ip(&mut address, ip);
        Connection {
            net_type: "IN".to_owned(),
            addr_type: addr_type(ip).to_owned(),
            address,
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Self, &'static str> {
        let mut it = value.split_ascii_whitespace();
        let (Some(n), Some(t), Some(a), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err("expected 3 fields");
        };
        Ok(Connection {
            net_type: n.to_owned(),
            addr_type: t.to_owned(),
            address: a.to_owned(),
        })
    }

    /// The address as an IP address when it is one (the part before any
    /// multicast `/` suffix); `None` for names and malformed addresses.
    pub fn ip(&self) -> Option<IpAddr> {
        if !self.net_type.eq_ignore_ascii_case("IN") {
            return None;
        }
        let addr = self.address.split('/').next().unwrap_or_default();
        let ip: IpAddr = addr.parse().ok()?;
        let type_matches = match ip {
            IpAddr::V4(_) => self.addr_type.eq_ignore_ascii_case("IP4"),
            IpAddr::V6(_) => self.addr_type.eq_ignore_ascii_case("IP6"),
        };
        type_matches.then_some(ip)
    }
}

impl fmt::Display for Connection {
    /// Writes the value of the line, without `c=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

/// Appends `n` in decimal, without `core::fmt` (issue 3: the SDP lines a
/// relay rewrites hold ports, versions and addresses).
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Appends `ip` as its `Display` writes it (IPv4 without `core::fmt`).
pub(crate) fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            use fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

impl Connection {
    /// Points this connection at `ip` (`IN IP4|IP6 <ip>`), reusing its
    /// strings' buffers: equal to `*self = Connection::new(ip)`.
    pub(crate) fn set_ip(&mut self, ip: IpAddr) {
        self.net_type.clear();
        self.net_type.push_str("IN");
        self.addr_type.clear();
        self.addr_type.push_str(addr_type(ip));
        self.address.clear();
        push_ip(&mut self.address, ip);
    }

    /// Appends the value of the line (as `Display` writes it).
    pub(crate) fn push_to(&self, out: &mut String) {
        out.push_str(&self.net_type);
        out.push(' ');
        out.push_str(&self.addr_type);
        out.push(' ');
        out.push_str(&self.address);
    }

    /// The length of the line's value.
    pub(crate) fn text_len(&self) -> usize {
        self.net_type.len() + self.addr_type.len() + self.address.len() + 2
    }
}

impl Origin {
    /// Appends the value of the line (as `Display` writes it).
    pub(crate) fn push_to(&self, out: &mut String) {
        for field in [&self.username, &self.session_id] {
            out.push_str(field);
            out.push(' ');
        }
        push_decimal(out, self.session_version);
        for field in [&self.net_type, &self.addr_type, &self.address] {
            out.push(' ');
            out.push_str(field);
        }
    }

    /// Takes `other`'s fields, reusing this one's buffers (the derived
    /// `clone_from` allocates anew).
    pub(crate) fn assign(&mut self, other: &Origin) {
        self.username.clone_from(&other.username);
        self.session_id.clone_from(&other.session_id);
        self.session_version = other.session_version;
        self.net_type.clone_from(&other.net_type);
        self.addr_type.clone_from(&other.addr_type);
        self.address.clone_from(&other.address);
    }
}

impl MediaLine {
    /// Appends the value of the line (as `Display` writes it).
    pub(crate) fn push_to(&self, out: &mut String) {
        out.push_str(&self.media);
        out.push(' ');
        push_decimal(out, u64::from(self.port));
        if let Some(n) = self.port_count {
            out.push('/');
            push_decimal(out, u64::from(n));
        }
        out.push(' ');
        out.push_str(&self.proto);
        for f in &self.formats {
            out.push(' ');
            out.push_str(f);
        }
    }

    /// An upper bound of the length of the line's value.
    pub(crate) fn text_len(&self) -> usize {
        self.media.len()
            + self.proto.len()
            + 14
            + self.formats.iter().map(|f| f.len() + 1).sum::<usize>()
    }
}

pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// The `m=` line (RFC 4566 section 5.14):
/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// `<media>`: `audio`, `video`, `image` (T.38), `application`, ...
    pub media: String,
    /// `<port>`; 0 marks a disabled or rejected stream (RFC 3264 section 6).
    pub port: u16,
    /// `<number of ports>` when written.
    pub port_count: Option<u16>,
    /// `<proto>`: `RTP/AVP`, `RTP/SAVP`, `udptl`, ...
    pub proto: String,
    /// `<fmt>` list: RTP payload types for RTP, `t38` for UDPTL. Never
    /// empty.
    pub formats: Vec<String>,
}

impl MediaLine {
    pub(crate) fn parse(value: &str) -> Result<Self, &'static str> {
        let mut it = value.split_ascii_whitespace();
        let media = it.next().ok_or("missing media type")?.to_owned();
        let port_field = it.next().ok_or("missing port")?;
        let proto = it.next().ok_or("missing transport protocol")?.to_owned();
        let formats: Vec<String> = it.map(str::to_owned).collect();
        if formats.is_empty() {
            return Err("no media formats");
        }
        let (port, port_count) = match port_field.split_once('/') {
            Some((p, n)) => {
                let n = parse_u16(n).ok_or("number of ports is not a number")?;
                if n == 0 {
                    return Err("number of ports is 0");
                }
                (p, Some(n))
            }
            None => (port_field, None),
        };
        let port = parse_u16(port).ok_or("port is not a number in 0..=65535")?;
        Ok(MediaLine {
            media,
            port,
            port_count,
            proto,
            formats,
        })
    }

    /// Whether the transport is RTP (`RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`,
    /// `RTP/SAVPF`, `UDP/TLS/RTP/SAVP`, ...), so formats are payload types.
    pub fn is_rtp(&self) -> bool {
        self.proto
            .split('/')
            .any(|part| part.eq_ignore_ascii_case("RTP"))
    }

    /// Whether this is a T.38 fax stream (`m=image <port> udptl t38`).
    pub fn is_t38(&self) -> bool {
        self.media.eq_ignore_ascii_case("image")
            && self.formats.iter().any(|f| f.eq_ignore_ascii_case("t38"))
    }

    /// Whether the media type is `audio`.
    pub fn is_audio(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio")
    }
}

impl fmt::Display for MediaLine {
    /// Writes the value of the line, without `m=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        Ok(())
    }
}

/// `s` split around the first `byte` (ASCII), which is dropped. SDP
/// fields are short: a plain scan beats a searcher's set-up (issue 3).
pub(crate) fn split_at_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == byte)?;
    Some((&s[..i], &s[i + 1..]))
}

/// What `str::parse::<u8>` accepts in `0..=127`, digits only (no sign).
fn is_payload_type(s: &str) -> bool {
    let mut value = 0u32;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return false;
        }
        value = (value * 10 + u32::from(b - b'0')).min(1000);
    }
    !s.is_empty() && value <= 127
}

/// The ASCII characters `char::is_whitespace` accepts.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// `str::trim`, done on bytes when the ends are ASCII.
fn trim_whitespace(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b
        .iter()
        .position(|&c| !is_ascii_space(c))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_ascii_space(c))
        .map_or(start, |i| i + 1);
    match (b.get(start), end.checked_sub(1).and_then(|i| b.get(i))) {
        // A non-ASCII end may be Unicode whitespace.
        (Some(&c), _) | (_, Some(&c)) if !c.is_ascii() => s.trim(),
        _ => &s[start..end.max(start)],
    }
}

/// Whether `s` holds a character `char::is_whitespace` accepts.
fn has_whitespace(s: &str) -> bool {
    for b in s.bytes() {
        if !b.is_ascii() {
            return s.contains(char::is_whitespace);
        }
        if is_ascii_space(b) {
            return true;
        }
    }
    false
}

fn parse_u16(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding
/// parameters>]` (RFC 4566 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    /// The payload type, as written in the m= line's format list.
    pub payload_type: &'a str,
    /// The encoding name (`PCMU`, `opus`, `telephone-event`, ...), as
    /// written; compare it case-insensitively.
    pub encoding: &'a str,
    /// The clock rate in Hz.
    pub clock_rate: u32,
    /// The encoding parameters (audio: the number of channels), if any.
    pub parameters: Option<&'a str>,
}

impl<'a> RtpMap<'a> {
    /// Parses the value of an `rtpmap` attribute (after `a=rtpmap:`).
    pub(crate) fn parse(value: &'a str) -> Result<Self, &'static str> {
        let (pt, rest) =
            split_at_byte(value, b' ').ok_or("rtpmap: expected '<payload type> <encoding>'")?;
        if !is_payload_type(pt) {
            return Err("rtpmap: payload type is not a number in 0..=127");
        }
        let rest = trim_whitespace(rest);
        let (encoding, after) = match split_at_byte(rest, b'/') {
            Some((e, a)) => (e, Some(a)),
            None => (rest, None),
        };
        if encoding.is_empty() || has_whitespace(encoding) {
            return Err("rtpmap: bad encoding name");
        }
        let (clock_rate, parameters) = match after.map(|a| split_at_byte(a, b'/').ok_or(a)) {
            Some(Ok((c, p))) => (Some(c), Some(p)),
            Some(Err(c)) => (Some(c), None),
            None => (None, None),
        };
        let clock_rate = clock_rate
            .and_then(|c| c.parse().ok())
            .ok_or("rtpmap: clock rate is not a number")?;
        Ok(RtpMap {
            payload_type: pt,
            encoding,
            clock_rate,
            parameters,
        })
    }

    /// The number of channels for audio: the encoding parameters, 1 when
    /// absent (RFC 4566 section 6); `None` when they are not a number.
    pub fn channels(&self) -> Option<u32> {
        match self.parameters {
            None => Some(1),
            Some(p) => p.parse().ok(),
        }
    }
}

/// `a=fmtp:<format> <format specific parameters>` (RFC 4566 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmtp<'a> {
    /// The format (payload type) it applies to.
    pub format: &'a str,
    /// The parameters, as written (may be empty).
    pub parameters: &'a str,
}

impl<'a> Fmtp<'a> {
    pub(crate) fn parse(value: &'a str) -> Result<Self, &'static str> {
        let (format, parameters) = split_at_byte(value, b' ').unwrap_or((value, ""));
        if format.is_empty() {
            return Err("fmtp: missing format");
        }
        Ok(Fmtp { format, parameters })
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address when it differs from the stream's `c=`.
    pub connection: Option<Connection>,
}

impl Rtcp {
    pub(crate) fn parse(value: &str) -> Result<Self, &'static str> {
        let value = value.trim();
        let (port, rest) = match value.split_once(' ') {
            Some((p, r)) => (p, Some(r)),
            None => (value, None),
        };
        let port = parse_u16(port).ok_or("rtcp: port is not a number in 0..=65535")?;
        let connection = match rest {
            Some(r) => Some(Connection::parse(r).map_err(|_| "rtcp: expected 3 address fields")?),
            None => None,
        };
        Ok(Rtcp { port, connection })
    }
}

impl fmt::Display for Rtcp {
    /// Writes the value of the attribute, without `a=rtcp:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some(c) = &self.connection {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

/// The direction attributes (RFC 4566 section 6, RFC 3264 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`, the default when none is present.
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction named by an attribute, if it is one.
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The direction an answer takes for an offer in this direction
    /// (RFC 3264 section 6.1): sendonly and recvonly swap.
    pub fn mirrored(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_line_fields() {
        let m = MediaLine::parse("audio 49170/2 RTP/AVP 0 8").unwrap();
        assert_eq!((m.port, m.port_count), (49170, Some(2)));
        assert_eq!(m.to_string(), "audio 49170/2 RTP/AVP 0 8");
        assert!(m.is_rtp() && m.is_audio() && !m.is_t38());
        let t = MediaLine::parse("image 0 udptl t38").unwrap();
        assert!(t.is_t38() && !t.is_rtp());
        assert!(MediaLine::parse("audio 65536 RTP/AVP 0").is_err());
        assert!(MediaLine::parse("audio -1 RTP/AVP 0").is_err());
    }

    #[test]
    fn connection_ip() {
        let c = Connection::parse("IN IP4 224.2.1.1/127").unwrap();
        assert_eq!(c.ip(), Some("224.2.1.1".parse().unwrap()));
        assert_eq!(Connection::parse("IN IP4 host.example").unwrap().ip(), None);
        assert_eq!(Connection::parse("IN IP6 192.0.2.1").unwrap().ip(), None);
        assert!(Connection::parse("IN IP4 a b").is_err());
    }

    #[test]
    fn rtpmap_and_rtcp() {
        let r = RtpMap::parse("111 opus/48000/2").unwrap();
        assert_eq!(
            (r.encoding, r.clock_rate, r.parameters),
            ("opus", 48000, Some("2"))
        );
        assert_eq!(RtpMap::parse("0 PCMU/8000").unwrap().channels(), Some(1));
        assert!(RtpMap::parse("+1 PCMU/8000").is_err());
        assert!(RtpMap::parse("0 PCMU/x").is_err());
        let rtcp = Rtcp::parse("53020 IN IP4 126.16.64.4").unwrap();
        assert_eq!(rtcp.port, 53020);
        assert_eq!(rtcp.to_string(), "53020 IN IP4 126.16.64.4");
        assert!(Rtcp::parse("53020 IN").is_err());
    }

    #[test]
    fn direction_mirrors() {
        assert_eq!(Direction::SendOnly.mirrored(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.mirrored(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.mirrored(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.mirrored(), Direction::SendRecv);
    }
}
