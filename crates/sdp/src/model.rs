//! The line-preserving session description: parse, typed access,
//! mutators, serialize.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::SdpError;
use crate::types::{split_at_byte, Connection, Direction, Fmtp, MediaLine, Origin, Rtcp, RtpMap};

/// The position of a media section (`m=` line) in its session
/// description, counting from 0. RFC 3264 pairs offer and answer media
/// sections by this position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaIndex(pub usize);

impl fmt::Display for MediaIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m-line {}", self.0)
    }
}

/// One line of a session description, without its line ending:
/// `<type>=<value>`, the type being one ASCII letter.
///
/// Lines are kept as written; the typed accessors of
/// [`SessionDescription`] and [`MediaSection`] read them.
#[derive(Clone)]
pub struct Line {
    text: LineText,
}

/// Where a line's text is: parsed lines share one copy of the
/// description's text (one allocation per description, not one per
/// line, issue 3); lines written by a mutator own theirs.
#[derive(Clone)]
enum LineText {
    Shared {
        body: Arc<str>,
        start: usize,
        end: usize,
    },
    Owned(String),
}

impl Line {
    /// Builds `<kind>=<value>`; `kind` must be an ASCII letter and `value`
    /// must hold no CR, LF or NUL.
    pub fn new(kind: char, value: &str) -> Result<Self, SdpError> {
        if !kind.is_ascii_alphabetic() {
            return Err(SdpError::InvalidValue {
                reason: "a line type is one ASCII letter",
            });
        }
        check_value(value)?;
        Ok(Line::from_parts(kind, value))
    }

    /// Builds a line from parts already known to be valid.
    pub(crate) fn from_parts(kind: char, value: &str) -> Self {
        let mut text = String::with_capacity(value.len() + 2);
        text.push(kind);
        text.push('=');
        text.push_str(value);
        Line::owned(text)
    }

    /// A line whose whole text (`<type>=<value>`) is already written.
    pub(crate) fn owned(text: String) -> Self {
        Line {
            text: LineText::Owned(text),
        }
    }

    /// The line type: `v`, `o`, `s`, `c`, `m`, `a`, ...
    pub fn kind(&self) -> char {
        char::from(self.as_str().as_bytes()[0])
    }

    /// Everything after `<type>=`.
    pub fn value(&self) -> &str {
        &self.as_str()[2..]
    }

    /// The whole line, `<type>=<value>`.
    pub fn as_str(&self) -> &str {
        match &self.text {
            LineText::Shared { body, start, end } => &body[*start..*end],
            LineText::Owned(s) => s,
        }
    }

    /// For an `a=` line, the attribute name and its value (after the first
    /// `:`), if it has one. `None` for other lines.
    pub fn attribute(&self) -> Option<(&str, Option<&str>)> {
        (self.kind() == 'a').then(|| split_attribute(self.value()))
    }

    /// Whether this is an `a=` line with attribute `name`.
    pub fn is_attribute(&self, name: &str) -> bool {
        self.attribute_value(name).is_some()
    }

    /// The value of attribute `name` if this is one (`Some("")` for a
    /// property attribute such as `a=sendrecv`).
    fn attribute_value(&self, name: &str) -> Option<&str> {
        // The name is compared before any split: lines of other attributes
        // cost one short comparison (issue 3). A name holding ':' never
        // matches (the name ends at the first ':').
        let rest = self.as_str().strip_prefix("a=")?.strip_prefix(name)?;
        match rest.as_bytes().first() {
            _ if name.contains(':') => None,
            None => Some(""),
            Some(b':') => Some(&rest[1..]),
            Some(_) => None,
        }
    }
}

impl PartialEq for Line {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Line {}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Line")
            .field("text", &self.as_str())
            .finish()
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn split_attribute(value: &str) -> (&str, Option<&str>) {
    // Attribute names are short: a plain scan beats a searcher's set-up.
    match value.bytes().position(|b| b == b':') {
        Some(i) => (&value[..i], Some(&value[i + 1..])),
        None => (value, None),
    }
}

fn check_value(value: &str) -> Result<(), SdpError> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(SdpError::InvalidValue {
            reason: "a value cannot hold CR, LF or NUL",
        });
    }
    Ok(())
}

fn check_token(token: &str) -> Result<(), SdpError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SdpError::InvalidValue {
            reason: "a token must be non-empty visible ASCII",
        });
    }
    Ok(())
}

/// Checks the attributes Locus reads; others pass as written.
fn check_attribute(value: &str) -> Result<(), &'static str> {
    match split_attribute(value) {
        ("rtpmap", Some(v)) => RtpMap::parse(v).map(drop),
        ("fmtp", Some(v)) => Fmtp::parse(v).map(drop),
        ("rtcp", Some(v)) => Rtcp::parse(v).map(drop),
        ("rtpmap" | "fmtp" | "rtcp", None) => Err("attribute has no value"),
        _ => Ok(()),
    }
}

/// A session description (RFC 4566) that keeps every line.
///
/// The session part and each media section are kept as the lines they
/// were written with, in order, unknown attributes and unknown line types
/// included, so that [`serialize`](Self::serialize) gives back the input
/// byte for byte when the input was valid SDP (every line ending in CRLF).
/// Input lines may also end in a bare LF (and the last line may lack its
/// ending): such input is accepted and written back with CRLF. Empty lines
/// at the end of the body (some stacks add one) are kept; an empty line
/// between others is an error.
///
/// Checked when parsing, so the typed getters cannot fail: `v=0` first,
/// exactly one `o=` line, well-formed `c=`, `m=`, `a=rtpmap`, `a=fmtp`,
/// `a=rtcp`, and a `c=` for every media section whose port is not 0.
/// Nothing else is interpreted or required: `s=` and `t=` may be missing
/// (some phones omit them), unknown line types pass through.
///
/// Methods: parsing ([`parse`](Self::parse)), getters for the session
/// part, [`media`](Self::media) for media sections, mutators (each
/// rewrites only the lines it changes), and [`serialize`](Self::serialize).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    session: Vec<Line>,
    origin: Origin,
    connection: Option<Connection>,
    media: Vec<MediaSection>,
    trailing_empty_lines: usize,
}

impl SessionDescription {
    /// Parses a session description (a SIP body).
    pub fn parse(input: &str) -> Result<Self, SdpError> {
        Self::parse_bytes(input.as_bytes())
    }

    /// Parses a session description from bytes; each line must be UTF-8.
    pub fn parse_bytes(input: &[u8]) -> Result<Self, SdpError> {
        // Input ending with a line ending leaves no last line.
        let input = input.strip_suffix(b"\n").unwrap_or(input);
        let (content_end, trailing_empty_lines) = content_end(input).ok_or(SdpError::Empty)?;
        let content = &input[..content_end];
        // Each line must be UTF-8: the first that is not is refused when
        // the loop reaches it, so that an earlier line's error comes first
        // (no multi-byte character spans a line ending).
        let (text, bad_line) = match std::str::from_utf8(content) {
            Ok(text) => (text, None),
            Err(e) => {
                let valid = &content[..e.valid_up_to()];
                let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
                (std::str::from_utf8(valid).unwrap_or_default(), Some(line))
            }
        };
        // One copy of the text that every parsed line points into.
        let body: Arc<str> = Arc::from(text);

        let mut session = Vec::with_capacity(8);
        let mut origin = None;
        let mut connection = None;
        let mut media: Vec<MediaSection> = Vec::new();
        let mut media_line_numbers = Vec::new();

        for (i, (start, end, cr_or_nul)) in LineScan::new(content).enumerate() {
            let line_no = i + 1;
            if bad_line == Some(line_no) {
                return Err(SdpError::NotUtf8 { line: line_no });
            }
            let line = read_line(&body, start, end, cr_or_nul, line_no)?;
            if i == 0 {
                if line.as_str() != "v=0" {
                    return Err(SdpError::BadVersion { line: line_no });
                }
                session.push(line);
                continue;
            }
            match line.kind() {
                'v' => {
                    return Err(SdpError::Misplaced {
                        line: line_no,
                        reason: "a second v= line",
                    })
                }
                'o' if !media.is_empty() => {
                    return Err(SdpError::Misplaced {
                        line: line_no,
                        reason: "o= line inside a media section",
                    })
                }
                'o' => {
                    if origin.is_some() {
                        return Err(SdpError::BadOriginLine {
                            line: line_no,
                            reason: "a second o= line",
                        });
                    }
                    let o =
                        Origin::parse(line.value()).map_err(|reason| SdpError::BadOriginLine {
                            line: line_no,
                            reason,
                        })?;
                    origin = Some(o);
                }
                'c' => {
                    let c = Connection::parse(line.value()).map_err(|reason| {
                        SdpError::BadConnectionLine {
                            line: line_no,
                            reason,
                        }
                    })?;
                    let slot = match media.last_mut() {
                        Some(m) => &mut m.connection,
                        None => &mut connection,
                    };
                    if slot.is_none() {
                        *slot = Some(c);
                    }
                }
                'm' => {
                    let m = MediaLine::parse(line.value()).map_err(|reason| {
                        SdpError::BadMediaLine {
                            line: line_no,
                            reason,
                        }
                    })?;
                    let mut lines = Vec::with_capacity(8);
                    lines.push(line);
                    media.push(MediaSection {
                        lines,
                        media: m,
                        connection: None,
                    });
                    media_line_numbers.push(line_no);
                    continue;
                }
                'a' => {
                    check_attribute(line.value()).map_err(|reason| SdpError::BadAttribute {
                        line: line_no,
                        reason,
                    })?;
                }
                _ => {}
            }
            match media.last_mut() {
                Some(m) => m.lines.push(line),
                None => session.push(line),
            }
        }

        let origin = origin.ok_or(SdpError::MissingOrigin)?;
        if connection.is_none() {
            for (m, &line) in media.iter().zip(&media_line_numbers) {
                if m.media.port != 0 && m.connection.is_none() {
                    return Err(SdpError::MissingConnection { line });
                }
            }
        }
        Ok(SessionDescription {
            session,
            origin,
            connection,
            media,
            trailing_empty_lines,
        })
    }

    /// Writes the description, every line ending in CRLF.
    pub fn serialize(&self) -> String {
        let mut out = String::with_capacity(self.len_hint());
        for line in self.lines() {
            out.push_str(line.as_str());
            out.push_str("\r\n");
        }
        for _ in 0..self.trailing_empty_lines {
            out.push_str("\r\n");
        }
        out
    }

    fn len_hint(&self) -> usize {
        self.lines().map(|l| l.as_str().len() + 2).sum::<usize>() + 2 * self.trailing_empty_lines
    }

    /// Every line in order: the session part, then each media section.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.session
            .iter()
            .chain(self.media.iter().flat_map(|m| m.lines.iter()))
    }

    // ---- getters: session part ----

    /// The session part's lines, from `v=` up to the first `m=`.
    pub fn session_lines(&self) -> &[Line] {
        &self.session
    }

    /// The `o=` line.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The `o=` line, taken from a description no longer needed (its
    /// fields are not copied).
    pub fn into_origin(self) -> Origin {
        self.origin
    }

    /// The session-level `c=` line (the first, if several).
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// The session-level direction attribute, if one is written.
    pub fn session_direction(&self) -> Option<Direction> {
        find_direction(&self.session)
    }

    /// The value of the first session-level attribute `name` (`Some("")`
    /// for a property attribute).
    pub fn session_attribute(&self, name: &str) -> Option<&str> {
        self.session.iter().find_map(|l| l.attribute_value(name))
    }

    // ---- getters: media sections ----

    /// The media sections, in order.
    pub fn media(&self) -> &[MediaSection] {
        &self.media
    }

    /// One media section.
    pub fn media_section(&self, index: MediaIndex) -> Option<&MediaSection> {
        self.media.get(index.0)
    }

    /// One media section, to change it.
    pub fn media_section_mut(&mut self, index: MediaIndex) -> Option<&mut MediaSection> {
        self.media.get_mut(index.0)
    }

    /// All media sections, to change them.
    pub fn media_mut(&mut self) -> &mut [MediaSection] {
        &mut self.media
    }

    /// The connection that applies to a media section: its own `c=`, else
    /// the session's.
    pub fn media_connection(&self, index: MediaIndex) -> Option<&Connection> {
        let m = self.media.get(index.0)?;
        m.connection.as_ref().or(self.connection.as_ref())
    }

    /// The direction that applies to a media section: its own attribute,
    /// else the session's, else sendrecv (RFC 3264 section 5.1).
    pub fn effective_direction(&self, index: MediaIndex) -> Direction {
        self.media
            .get(index.0)
            .and_then(MediaSection::direction)
            .or_else(|| self.session_direction())
            .unwrap_or_default()
    }

    /// Where to send each active stream's RTP (C24, no latching: the
    /// address is taken from the SDP, never learned from packets): the
    /// media-level `c=` over the session-level one, and the `m=` port.
    /// Streams with port 0 and streams whose address is not an IP address
    /// (a name) are left out; an unspecified address (`0.0.0.0`, the RFC
    /// 2543 way to hold) is returned as written, for the relay to treat as
    /// "send nothing".
    pub fn media_destinations(&self) -> Vec<(MediaIndex, SocketAddr)> {
        (0..self.media.len())
            .map(MediaIndex)
            .filter_map(|i| Some((i, self.media_destination(i)?)))
            .collect()
    }

    /// One stream's entry of [`media_destinations`](Self::media_destinations).
    pub fn media_destination(&self, index: MediaIndex) -> Option<SocketAddr> {
        let port = self.media.get(index.0)?.media.port;
        if port == 0 {
            return None;
        }
        let ip = self.media_connection(index)?.ip()?;
        Some(SocketAddr::new(ip, port))
    }

    /// Where to send a stream's RTCP: `a=rtcp` (RFC 3605) when present,
    /// with its own address or the stream's, else the RTP port + 1
    /// (RFC 3550 section 11). `None` for a disabled stream or a name.
    pub fn rtcp_destination(&self, index: MediaIndex) -> Option<SocketAddr> {
        let m = self.media.get(index.0)?;
        if m.media.port == 0 {
            return None;
        }
        let stream_ip = self.media_connection(index).and_then(Connection::ip);
        match m.rtcp() {
            Some(Rtcp {
                port,
                connection: Some(c),
            }) => Some(SocketAddr::new(c.ip()?, port)),
            Some(Rtcp {
                port,
                connection: None,
            }) => Some(SocketAddr::new(stream_ip?, port)),
            None => Some(SocketAddr::new(stream_ip?, m.media.port.checked_add(1)?)),
        }
    }

    // ---- mutators ----

    /// Increments the `o=` session version (RFC 3264 section 8: every new
    /// description in a session gets a higher version). Saturates at
    /// `u64::MAX`.
    pub fn bump_version(&mut self) {
        self.origin.session_version = self.origin.session_version.saturating_add(1);
        self.rewrite_origin();
    }

    /// Replaces the `o=` line with `origin` (a B2BUA's own origin toward
    /// one side, RFC 3264 section 8).
    pub fn set_origin(&mut self, origin: &Origin) {
        self.origin.assign(origin);
        self.rewrite_origin();
    }

    /// Sets the `o=` address (and its address type).
    pub fn set_origin_address(&mut self, ip: IpAddr) {
        self.origin.addr_type = crate::types::addr_type(ip).to_owned();
        self.origin.address = ip.to_string();
        self.rewrite_origin();
    }

    fn rewrite_origin(&mut self) {
        if let Some(l) = self.session.iter_mut().find(|l| l.kind() == 'o') {
            let mut text = String::with_capacity(64);
            text.push_str("o=");
            self.origin.push_to(&mut text);
            *l = Line::owned(text);
        }
    }

    /// Sets the session-level `c=` to `IN IP4|IP6 <ip>`, rewriting the
    /// existing line or adding one before the `b=`/`t=` lines.
    pub fn set_session_connection(&mut self, ip: IpAddr) {
        let c = set_ip(&mut self.connection, ip);
        set_connection_line(&mut self.session, c, "btrzka");
    }

    /// Points the whole description at `ip`, as a media relay does: sets
    /// the session-level `c=` (adding it if absent) and rewrites every
    /// media-level `c=` that exists.
    pub fn set_connection_address(&mut self, ip: IpAddr) {
        self.set_session_connection(ip);
        for m in &mut self.media {
            if m.connection.is_some() {
                m.set_connection_address(ip);
            }
        }
    }

    /// Assembles a description from checked parts (the answer builder).
    pub(crate) fn from_parts(
        session: Vec<Line>,
        origin: Origin,
        connection: Option<Connection>,
        media: Vec<MediaSection>,
    ) -> Self {
        SessionDescription {
            session,
            origin,
            connection,
            media,
            trailing_empty_lines: 0,
        }
    }
}

impl fmt::Display for SessionDescription {
    /// Same as [`SessionDescription::serialize`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            write!(f, "{line}\r\n")?;
        }
        for _ in 0..self.trailing_empty_lines {
            f.write_str("\r\n")?;
        }
        Ok(())
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The pieces of `input` (split at LF, one final CR stripped from each)
/// up to the last non-empty one: the end of that one, and how many empty
/// lines follow it. `None` when every line is empty.
fn content_end(input: &[u8]) -> Option<(usize, usize)> {
    let mut end = input.len();
    for (trailing, piece) in input.rsplit(|&b| b == b'\n').enumerate() {
        if !piece.is_empty() && piece != b"\r" {
            return Some((end, trailing));
        }
        end = end.saturating_sub(piece.len() + 1);
    }
    None
}

/// The line at `body[start..end]`, checked.
/// The lines of a body, split at LF: each one's start, its end without
/// a final CR, and whether a CR or NUL is left in it. Eight bytes at a
/// time (issue 3: a byte at a time was most of the parse).
struct LineScan<'a> {
    bytes: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> LineScan<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineScan {
            bytes,
            at: 0,
            done: false,
        }
    }
}

impl Iterator for LineScan<'_> {
    type Item = (usize, usize, bool);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let start = self.at;
        let (lf, cr_or_nul) = scan_line(self.bytes, start);
        if lf >= self.bytes.len() {
            self.done = true;
        } else {
            self.at = lf + 1;
        }
        let end = if lf > start && self.bytes[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        Some((start, end, cr_or_nul.is_some_and(|at| at < end)))
    }
}

/// From `from`: the position of the next LF (the length when there is
/// none), and of the first CR or NUL (which may be after that LF).
fn scan_line(b: &[u8], from: usize) -> (usize, Option<usize>) {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The lowest flagged byte of the result is the first zero byte of `v`
    // (later flags may be false: only the first is used).
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let first = |at: usize, flags: u64| at + (flags.trailing_zeros() / 8) as usize;
    let mut cr_or_nul = None;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let v = u64::from_le_bytes(chunk);
        let lf = zero_bytes(v ^ (ONES * u64::from(b'\n')));
        let cn = zero_bytes(v ^ (ONES * u64::from(b'\r'))) | zero_bytes(v);
        if cr_or_nul.is_none() && cn != 0 {
            cr_or_nul = Some(first(i, cn));
        }
        if lf != 0 {
            return (first(i, lf), cr_or_nul);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'\n' {
            return (i, cr_or_nul);
        }
        if cr_or_nul.is_none() && (c == b'\r' || c == 0) {
            cr_or_nul = Some(i);
        }
        i += 1;
    }
    (b.len(), cr_or_nul)
}

/// The line at `body[start..end]`, checked (`cr_or_nul`: it holds one).
fn read_line(
    body: &Arc<str>,
    start: usize,
    end: usize,
    cr_or_nul: bool,
    line: usize,
) -> Result<Line, SdpError> {
    let b = body.as_bytes().get(start..end).unwrap_or_default();
    if b.is_empty() {
        return Err(SdpError::BadLine {
            line,
            reason: "empty line",
        });
    }
    if b.len() < 2 || !b[0].is_ascii_alphabetic() || b[1] != b'=' {
        return Err(SdpError::BadLine {
            line,
            reason: "expected <type>=<value> with a one-letter type",
        });
    }
    if cr_or_nul {
        return Err(SdpError::BadLine {
            line,
            reason: "line holds a CR or NUL",
        });
    }
    Ok(Line {
        text: LineText::Shared {
            body: Arc::clone(body),
            start,
            end,
        },
    })
}

fn find_direction(lines: &[Line]) -> Option<Direction> {
    lines.iter().find_map(|l| match l.attribute() {
        Some((name, None)) => Direction::from_attribute(name),
        _ => None,
    })
}

/// Sets `slot` to `IN IP4|IP6 <ip>`, reusing the buffers of the
/// connection it holds.
fn set_ip(slot: &mut Option<Connection>, ip: IpAddr) -> &Connection {
    match slot {
        Some(c) => {
            c.set_ip(ip);
            c
        }
        None => slot.insert(Connection::new(ip)),
    }
}

/// Rewrites the first `c=` line of `lines` (removing any further ones) or
/// inserts one before the first line whose type is in `before`, else at the
/// end.
fn set_connection_line(lines: &mut Vec<Line>, c: &Connection, before: &str) {
    let mut text = String::with_capacity(c.text_len() + 2);
    text.push_str("c=");
    c.push_to(&mut text);
    let line = Line::owned(text);
    match lines.iter().position(|l| l.kind() == 'c') {
        Some(first) => {
            lines[first] = line;
            let mut i = 0;
            lines.retain(|l| {
                let keep = i <= first || l.kind() != 'c';
                i += 1;
                keep
            });
        }
        None => {
            // Never before the first line (`v=` or `m=`).
            let at = lines
                .iter()
                .skip(1)
                .position(|l| before.contains(l.kind()))
                .map_or(lines.len(), |p| p + 1);
            lines.insert(at, line);
        }
    }
}

/// The `m=` line of `media`, written without `core::fmt`.
fn media_line_text(media: &MediaLine) -> Line {
    let mut text = String::with_capacity(media.text_len() + 2);
    text.push_str("m=");
    media.push_to(&mut text);
    Line::owned(text)
}

/// One media section: its `m=` line and the lines after it up to the next
/// `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    /// `lines[0]` is the `m=` line.
    lines: Vec<Line>,
    media: MediaLine,
    connection: Option<Connection>,
}

impl MediaSection {
    pub(crate) fn new(media: MediaLine) -> Self {
        MediaSection {
            lines: vec![media_line_text(&media)],
            media,
            connection: None,
        }
    }

    // ---- getters ----

    /// The section's lines, the `m=` line first.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The `m=` line.
    pub fn media_line(&self) -> &MediaLine {
        &self.media
    }

    /// The media type: `audio`, `image`, ...
    pub fn media_type(&self) -> &str {
        &self.media.media
    }

    /// The `m=` port; 0 for a disabled or rejected stream.
    pub fn port(&self) -> u16 {
        self.media.port
    }

    /// The transport protocol: `RTP/AVP`, `udptl`, ...
    pub fn proto(&self) -> &str {
        &self.media.proto
    }

    /// The format list, in the `m=` line's order (the offerer's
    /// preference).
    pub fn formats(&self) -> &[String] {
        &self.media.formats
    }

    /// The media-level `c=` line (the first, if several).
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// The attributes, in order: name and value (after the first `:`).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.lines.iter().filter_map(Line::attribute)
    }

    /// The value of the first attribute `name` (`Some("")` for a property
    /// attribute such as `a=sendrecv`).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| l.attribute_value(name))
    }

    /// Every `a=rtpmap`, in order.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'_>> {
        self.lines
            .iter()
            .filter_map(|l| l.attribute_value("rtpmap"))
            .filter_map(|v| RtpMap::parse(v).ok())
    }

    /// The `a=rtpmap` of a payload type.
    pub fn rtpmap(&self, payload_type: &str) -> Option<RtpMap<'_>> {
        // The payload type is the text before the first space: lines of
        // other payload types are skipped without parsing them.
        self.lines
            .iter()
            .filter_map(|l| l.attribute_value("rtpmap"))
            .filter(|v| split_at_byte(v, b' ').is_some_and(|(pt, _)| pt == payload_type))
            .filter_map(|v| RtpMap::parse(v).ok())
            .next()
    }

    /// The `a=fmtp` of a format.
    pub fn fmtp(&self, format: &str) -> Option<Fmtp<'_>> {
        self.lines
            .iter()
            .filter_map(|l| l.attribute_value("fmtp"))
            .filter_map(|v| Fmtp::parse(v).ok())
            .find(|f| f.format == format)
    }

    /// `a=ptime` in milliseconds, when present and a whole number.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")?.trim().parse().ok()
    }

    /// The media-level direction attribute, if one is written (see
    /// [`SessionDescription::effective_direction`] for the one that
    /// applies).
    pub fn direction(&self) -> Option<Direction> {
        find_direction(&self.lines)
    }

    /// The `a=rtcp` attribute (RFC 3605).
    pub fn rtcp(&self) -> Option<Rtcp> {
        Rtcp::parse(self.attribute("rtcp")?).ok()
    }

    // ---- mutators ----

    fn rewrite_media_line(&mut self) {
        self.lines[0] = media_line_text(&self.media);
    }

    /// Sets the `m=` port (0 disables or rejects the stream).
    pub fn set_port(&mut self, port: u16) {
        self.media.port = port;
        self.rewrite_media_line();
    }

    /// Sets the format list and removes the `a=rtpmap`, `a=fmtp` and
    /// `a=rtcp-fb` lines of the formats no longer listed. The list must
    /// not be empty (RFC 4566 section 5.14).
    pub fn set_formats<S: AsRef<str>>(&mut self, formats: &[S]) -> Result<(), SdpError> {
        if formats.is_empty() {
            return Err(SdpError::InvalidValue {
                reason: "an m= line needs at least one format",
            });
        }
        for f in formats {
            check_token(f.as_ref())?;
        }
        let new: Vec<String> = formats.iter().map(|f| f.as_ref().to_owned()).collect();
        let removed: Vec<String> = self
            .media
            .formats
            .iter()
            .filter(|f| !new.contains(f))
            .cloned()
            .collect();
        self.lines.retain(|l| match l.attribute() {
            Some(("rtpmap" | "fmtp" | "rtcp-fb", Some(v))) => {
                let pt = v.split(' ').next().unwrap_or_default();
                !removed.iter().any(|r| r == pt)
            }
            _ => true,
        });
        self.media.formats = new;
        self.rewrite_media_line();
        Ok(())
    }

    /// Writes `direction` as the media-level direction attribute, in place
    /// of the first one present (others are removed), else at the end.
    pub fn set_direction(&mut self, direction: Direction) {
        let line = Line::from_parts('a', direction.as_str());
        let is_direction = |l: &Line| matches!(l.attribute(), Some((n, None)) if Direction::from_attribute(n).is_some());
        match self.lines.iter().position(is_direction) {
            Some(first) => {
                self.lines[first] = line;
                let mut i = 0;
                self.lines.retain(|l| {
                    let keep = i <= first || !is_direction(l);
                    i += 1;
                    keep
                });
            }
            None => self.lines.push(line),
        }
    }

    /// Sets the media-level `c=` to `IN IP4|IP6 <ip>`, rewriting the first
    /// one (removing others) or adding one after the `m=` and `i=` lines.
    pub fn set_connection_address(&mut self, ip: IpAddr) {
        let c = set_ip(&mut self.connection, ip);
        set_connection_line(&mut self.lines, c, "bka");
    }

    /// Writes `a=rtcp` in place of the existing one, or removes it with
    /// `None`.
    pub fn set_rtcp(&mut self, rtcp: Option<&Rtcp>) {
        match rtcp {
            Some(r) => {
                let line = Line::from_parts('a', &format!("rtcp:{r}"));
                match self.lines.iter().position(|l| l.is_attribute("rtcp")) {
                    Some(i) => self.lines[i] = line,
                    None => self.lines.push(line),
                }
            }
            None => {
                self.remove_attribute("rtcp");
            }
        }
    }

    /// Appends `a=<name>` or `a=<name>:<value>`. Attributes Locus reads
    /// (`rtpmap`, `fmtp`, `rtcp`) are checked as when parsing.
    pub fn add_attribute(&mut self, name: &str, value: Option<&str>) -> Result<(), SdpError> {
        check_token(name)?;
        if name.contains(':') {
            return Err(SdpError::InvalidValue {
                reason: "an attribute name cannot hold ':'",
            });
        }
        let text = match value {
            Some(v) => format!("{name}:{v}"),
            None => name.to_owned(),
        };
        check_value(&text)?;
        check_attribute(&text).map_err(|reason| SdpError::InvalidValue { reason })?;
        self.lines.push(Line::from_parts('a', &text));
        Ok(())
    }

    /// Removes every attribute `name`; returns how many were removed.
    pub fn remove_attribute(&mut self, name: &str) -> usize {
        let before = self.lines.len();
        self.lines.retain(|l| !l.is_attribute(name));
        before - self.lines.len()
    }

    /// Rewrites the `a=fmtp` line of the format at `index` in the `m=`
    /// line with new parameters.
    pub(crate) fn set_fmtp(&mut self, index: usize, parameters: &str) {
        let Some(format) = self.media.formats.get(index) else {
            return;
        };
        for l in &mut self.lines {
            if let Some(v) = l.attribute_value("fmtp") {
                if Fmtp::parse(v).is_ok_and(|f| f.format == format) {
                    let mut text = String::with_capacity(format.len() + parameters.len() + 8);
                    text.push_str("a=fmtp:");
                    text.push_str(format);
                    text.push(' ');
                    text.push_str(parameters);
                    *l = Line::owned(text);
                }
            }
        }
    }

    /// The checks [`set_formats`](Self::set_formats) makes, for the
    /// formats whose `keep` entry is true.
    pub(crate) fn check_kept_formats(&self, keep: &[bool]) -> Result<(), SdpError> {
        let mut kept = self.media.formats.iter().zip(keep).filter(|(_, &k)| k);
        if kept.clone().next().is_none() {
            return Err(SdpError::InvalidValue {
                reason: "an m= line needs at least one format",
            });
        }
        kept.try_for_each(|(f, _)| check_token(f))
    }

    /// [`set_formats`](Self::set_formats) with the formats whose `keep`
    /// entry is true (`keep` has one entry per format, in order): the
    /// same checks and result, without copying the formats.
    pub(crate) fn retain_formats(&mut self, keep: &[bool]) -> Result<(), SdpError> {
        self.check_kept_formats(keep)?;
        let formats = &self.media.formats;
        // Removed: listed before, not listed now.
        let removed = |pt: &str| {
            let mut listed = formats.iter().zip(keep).filter(|(f, _)| *f == pt);
            listed.clone().next().is_some() && !listed.any(|(_, &k)| k)
        };
        self.lines.retain(|l| match l.attribute() {
            Some(("rtpmap" | "fmtp" | "rtcp-fb", Some(v))) => {
                let pt = v.split(' ').next().unwrap_or_default();
                !removed(pt)
            }
            _ => true,
        });
        let mut i = 0;
        self.media.formats.retain(|_| {
            i += 1;
            keep.get(i - 1).copied().unwrap_or(true)
        });
        self.rewrite_media_line();
        Ok(())
    }

    /// Appends a line known to be valid.
    pub(crate) fn push_line(&mut self, kind: char, value: &str) {
        self.lines.push(Line::from_parts(kind, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\r\n")).collect()
    }

    const BASE: &[&str] = &[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0 96 101",
        "c=IN IP4 192.0.2.1",
        "a=rtpmap:96 iLBC/8000",
        "a=fmtp:96 mode=30",
        "a=rtcp-fb:96 nack",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=sendrecv",
    ];

    fn base() -> SessionDescription {
        SessionDescription::parse(&crlf(BASE)).unwrap()
    }

    fn err(lines: &[&str]) -> SdpError {
        SessionDescription::parse(&crlf(lines)).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(SessionDescription::parse(""), Err(SdpError::Empty));
        assert_eq!(SessionDescription::parse("\r\n\r\n"), Err(SdpError::Empty));
        assert_eq!(err(&["v=1"]), SdpError::BadVersion { line: 1 });
        assert_eq!(err(&["v=0", "s=-"]), SdpError::MissingOrigin);
        assert!(matches!(
            err(&["v=0", "", "o=- 1 1 IN IP4 h"]),
            SdpError::BadLine { line: 2, .. }
        ));
        assert!(matches!(
            err(&["v=0", "oops"]),
            SdpError::BadLine { line: 2, .. }
        ));
        assert!(matches!(
            err(&["v=0", "1=x"]),
            SdpError::BadLine { line: 2, .. }
        ));
        assert!(matches!(
            err(&["v=0", "o=- 1 x IN IP4 h"]),
            SdpError::BadOriginLine { line: 2, .. }
        ));
        assert!(matches!(
            err(&["v=0", "o=- 1 1 IN IP4"]),
            SdpError::BadOriginLine { line: 2, .. }
        ));
        assert!(matches!(
            err(&["v=0", "o=- 1 1 IN IP4 h", "o=- 1 1 IN IP4 h"]),
            SdpError::BadOriginLine { line: 3, .. }
        ));
        assert!(matches!(
            err(&["v=0", "o=- 1 1 IN IP4 h", "c=IN IP4"]),
            SdpError::BadConnectionLine { line: 3, .. }
        ));
        assert!(matches!(
            err(&[
                "v=0",
                "o=- 1 1 IN IP4 h",
                "c=IN IP4 h",
                "m=audio 1/0 RTP/AVP 0"
            ]),
            SdpError::BadMediaLine { line: 4, .. }
        ));
        assert!(matches!(
            err(&[
                "v=0",
                "o=- 1 1 IN IP4 h",
                "c=IN IP4 h",
                "m=audio 4000 RTP/AVP"
            ]),
            SdpError::BadMediaLine { line: 4, .. }
        ));
        assert!(matches!(
            err(&[
                "v=0",
                "o=- 1 1 IN IP4 h",
                "c=IN IP4 h",
                "m=audio 4000 RTP/AVP 0",
                "a=rtpmap:0 PCMU"
            ]),
            SdpError::BadAttribute { line: 5, .. }
        ));
        assert!(matches!(
            err(&[
                "v=0",
                "o=- 1 1 IN IP4 h",
                "c=IN IP4 h",
                "m=audio 4000 RTP/AVP 0",
                "a=rtpmap:300 X/8000"
            ]),
            SdpError::BadAttribute { line: 5, .. }
        ));
        assert!(matches!(
            err(&[
                "v=0",
                "o=- 1 1 IN IP4 h",
                "c=IN IP4 h",
                "m=audio 4000 RTP/AVP 0",
                "a=rtcp:port"
            ]),
            SdpError::BadAttribute { line: 5, .. }
        ));
        assert!(matches!(
            err(&[
                "v=0",
                "o=- 1 1 IN IP4 h",
                "m=audio 0 RTP/AVP 0",
                "o=- 1 1 IN IP4 h"
            ]),
            SdpError::Misplaced { line: 4, .. }
        ));
        assert!(matches!(
            err(&["v=0", "v=0"]),
            SdpError::Misplaced { line: 2, .. }
        ));
        assert_eq!(
            SessionDescription::parse_bytes(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\n"),
            Err(SdpError::NotUtf8 { line: 3 })
        );
        assert!(matches!(
            SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 h\rs=-\r\n"),
            Err(SdpError::BadLine { line: 2, .. })
        ));
    }

    #[test]
    fn disabled_stream_needs_no_connection() {
        let s = SessionDescription::parse(&crlf(&[
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "t=0 0",
            "m=video 0 RTP/AVP 31",
        ]))
        .unwrap();
        assert!(s.media_destinations().is_empty());
        assert_eq!(s.rtcp_destination(MediaIndex(0)), None);
    }

    #[test]
    fn trailing_empty_lines_and_missing_final_ending() {
        let text = format!("{}\r\n", crlf(BASE));
        assert_eq!(SessionDescription::parse(&text).unwrap().serialize(), text);
        let unterminated = crlf(BASE);
        let unterminated = unterminated.trim_end();
        assert_eq!(
            SessionDescription::parse(unterminated).unwrap().serialize(),
            crlf(BASE)
        );
    }

    #[test]
    fn set_formats_removes_lines_of_removed_payload_types() {
        let mut s = base();
        s.media_mut()[0].set_formats(&["0", "101"]).unwrap();
        let text = s.serialize();
        assert!(text.contains("m=audio 40000 RTP/AVP 0 101\r\n"));
        assert!(!text.contains(":96 "), "{text}");
        assert!(text.contains("a=fmtp:101 0-15\r\n"));
        let empty: [&str; 0] = [];
        assert!(s.media_mut()[0].set_formats(&empty).is_err());
        assert!(s.media_mut()[0].set_formats(&["0 8"]).is_err());
    }

    #[test]
    fn connection_lines_are_inserted_in_rfc_order() {
        let mut s = SessionDescription::parse(&crlf(&[
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "b=AS:64",
            "t=0 0",
            "m=audio 0 RTP/AVP 0",
            "i=speech",
            "a=sendrecv",
        ]))
        .unwrap();
        let ip: IpAddr = "2001:db8::5".parse().unwrap();
        s.set_session_connection(ip);
        s.media_mut()[0].set_connection_address(ip);
        assert_eq!(
            s.serialize(),
            crlf(&[
                "v=0",
                "o=- 1 1 IN IP4 h",
                "s=-",
                "c=IN IP6 2001:db8::5",
                "b=AS:64",
                "t=0 0",
                "m=audio 0 RTP/AVP 0",
                "i=speech",
                "c=IN IP6 2001:db8::5",
                "a=sendrecv",
            ])
        );
        assert_eq!(s.connection().unwrap().ip(), Some(ip));
        assert_eq!(s.media()[0].connection().unwrap().ip(), Some(ip));
    }

    #[test]
    fn direction_is_replaced_in_place() {
        let mut s = base();
        s.media_mut()[0].push_line('a', "inactive");
        s.media_mut()[0].set_direction(Direction::RecvOnly);
        let m = &s.media()[0];
        assert_eq!(m.direction(), Some(Direction::RecvOnly));
        assert_eq!(m.lines().last().unwrap().as_str(), "a=recvonly");
        assert_eq!(
            m.lines()
                .iter()
                .filter(|l| Direction::from_attribute(l.value()).is_some())
                .count(),
            1
        );
    }

    #[test]
    fn attributes_add_remove_and_rtcp() {
        let mut s = base();
        let m = &mut s.media_mut()[0];
        m.add_attribute("ptime", Some("20")).unwrap();
        assert_eq!(m.ptime(), Some(20));
        assert!(m.add_attribute("rtpmap", Some("bad")).is_err());
        assert!(m.add_attribute("x", Some("a\r\nb")).is_err());
        assert!(m.add_attribute("a:b", None).is_err());
        m.set_rtcp(Some(&Rtcp {
            port: 40001,
            connection: None,
        }));
        assert_eq!(
            m.rtcp(),
            Some(Rtcp {
                port: 40001,
                connection: None
            })
        );
        m.set_rtcp(None);
        assert_eq!(m.rtcp(), None);
        assert_eq!(m.remove_attribute("rtpmap"), 2);
    }

    #[test]
    fn bump_version_rewrites_the_origin_line() {
        let mut s = base();
        s.bump_version();
        assert_eq!(s.session_lines()[1].as_str(), "o=- 1 2 IN IP4 192.0.2.1");
        let mut max =
            SessionDescription::parse(&crlf(&["v=0", "o=- 1 18446744073709551615 IN IP4 h"]))
                .unwrap();
        max.bump_version();
        assert_eq!(max.origin().session_version, u64::MAX);
    }

    #[test]
    fn line_constructor_checks_its_parts() {
        assert_eq!(
            Line::new('a', "x:y").unwrap().attribute(),
            Some(("x", Some("y")))
        );
        assert!(Line::new('1', "x").is_err());
        assert!(Line::new('a', "x\ny").is_err());
        assert_eq!(Line::new('s', "-").unwrap().attribute(), None);
    }
}
