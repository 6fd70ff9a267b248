//! Multipart message bodies (RFC 2046 section 5.1, as SIP carries them:
//! RFC 5621), sans-IO: split a `multipart/*` body into its parts, find the
//! SDP among them, and write parts back with a boundary none of them
//! contains.
//!
//! The B2BUA needs this twice: an offer may come as `multipart/mixed`
//! (SDP beside a phone's own PIDF-LO), and its SDP must still be put under
//! the media policy and anchored in the relay; and an emergency INVITE
//! towards a gateway carries the location by value beside the SDP (E6,
//! RFC 6442), see [`crate::geolocation`].

use bytes::Bytes;

/// One body part: its header fields (name and value, as written) and its
/// content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Part {
    /// A part of type `content_type` with `body`.
    pub(crate) fn new(content_type: &str, body: Bytes) -> Part {
        Part {
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    /// The value of header `name` (case-insensitive), the first one.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The part's Content-Type (RFC 2046 section 5.1: `text/plain` when
    /// the part names none).
    pub(crate) fn content_type(&self) -> &str {
        self.header("Content-Type").unwrap_or("text/plain")
    }
}

/// A parsed `multipart/*` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Multipart {
    /// `mixed`, `related`, `alternative`...: kept when written back.
    pub(crate) subtype: String,
    pub(crate) parts: Vec<Part>,
}

/// Why a body is not a usable multipart body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MultipartError {
    /// The Content-Type names no `boundary` parameter.
    NoBoundary,
    /// No closing delimiter (`--boundary--`) after the parts.
    Unterminated,
}

/// The media type and subtype of a Content-Type value, lower case.
fn media_type(ct: &str) -> String {
    media_type_as_written(ct).to_ascii_lowercase()
}

/// The media type and subtype of a Content-Type value, as written.
fn media_type_as_written(ct: &str) -> &str {
    // A byte scan: a searcher's set-up costs more on so short a value.
    let end = ct.bytes().position(|b| b == b';').unwrap_or(ct.len());
    ct[..end].trim()
}

/// Whether a Content-Type is `multipart/*` (compared without a lower-case
/// copy: every SDP body of a call asks, issue 3).
pub(crate) fn is_multipart(ct: &str) -> bool {
    media_type_as_written(ct)
        .as_bytes()
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"multipart/"))
}

/// Whether a Content-Type is `application/sdp`.
pub(crate) fn is_sdp(ct: &str) -> bool {
    media_type_as_written(ct).eq_ignore_ascii_case("application/sdp")
}

/// The `boundary` parameter of a Content-Type, unquoted.
fn boundary_of(ct: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = value.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty()).then(|| v.to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The end of the line that starts at or after `from`: the index after
/// its LF (or the end of `hay`).
fn line_end(hay: &[u8], from: usize) -> usize {
    find(hay, b"\n", from).map_or(hay.len(), |p| p + 1)
}

/// The part's header fields and content: the headers end at the first
/// empty line (a part starting with one has none); folded lines join the
/// field before them.
fn parse_part(raw: &Bytes) -> Part {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut at = 0;
    loop {
        let end = line_end(raw, at);
        let line = &raw[at..end];
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            at = end;
            break;
        }
        if text.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(text.trim());
            }
        } else if let Some((n, v)) = text.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        if end >= raw.len() {
            // Headers only: no empty line, no content.
            at = raw.len();
            break;
        }
        at = end;
    }
    Part {
        headers,
        body: raw.slice(at..),
    }
}

impl Multipart {
    /// An empty body of `multipart/{subtype}`.
    pub(crate) fn new(subtype: &str) -> Multipart {
        Multipart {
            subtype: subtype.to_owned(),
            parts: Vec::new(),
        }
    }

    /// Splits `body`, whose Content-Type is `ct` (a `multipart/*` type
    /// with its `boundary`). The preamble and epilogue are dropped; a
    /// delimiter must start a line (RFC 2046: CRLF, or LF from lenient
    /// writers, before it), and the CRLF before it belongs to it, not to
    /// the part.
    pub(crate) fn parse(ct: &str, body: &Bytes) -> Result<Multipart, MultipartError> {
        let boundary = boundary_of(ct).ok_or(MultipartError::NoBoundary)?;
        let delim = format!("--{boundary}");
        let delim = delim.as_bytes();
        let subtype = media_type(ct)
            .strip_prefix("multipart/")
            .unwrap_or("mixed")
            .to_owned();
        let mut parts = Vec::new();
        // Where the current part's content starts (after its delimiter line).
        let mut open: Option<usize> = None;
        let mut from = 0;
        while let Some(p) = find(body, delim, from) {
            from = p + delim.len();
            let closing = body[from..].starts_with(b"--");
            // Only transport padding may follow a delimiter on its line
            // (`--b1x` is content, not the delimiter `--b1`).
            let padded = || {
                body[from..line_end(body, from)]
                    .iter()
                    .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            };
            if (p != 0 && body[p - 1] != b'\n') || (!closing && !padded()) {
                continue;
            }
            if let Some(start) = open.take() {
                let mut end = p;
                if end > start && body[end - 1] == b'\n' {
                    end -= 1;
                    if end > start && body[end - 1] == b'\r' {
                        end -= 1;
                    }
                }
                parts.push(parse_part(&body.slice(start..end.max(start))));
            }
            if closing {
                return Ok(Multipart { subtype, parts });
            }
            open = Some(line_end(body, from));
        }
        Err(MultipartError::Unterminated)
    }

    /// The index of the first `application/sdp` part.
    pub(crate) fn sdp(&self) -> Option<usize> {
        self.parts.iter().position(|p| is_sdp(p.content_type()))
    }

    /// The body and its Content-Type (`multipart/{subtype};boundary=...`).
    /// The boundary is `locus-{seed}`, lengthened until no part contains
    /// it, so the same parts and seed always give the same bytes (a
    /// request sent again after a challenge carries the body it was
    /// authenticated with).
    pub(crate) fn to_body(&self, seed: &str) -> (String, Bytes) {
        let mut boundary = format!("locus-{seed}");
        while self.parts.iter().any(|p| {
            find(&p.body, boundary.as_bytes(), 0).is_some()
                || p.headers.iter().any(|(_, v)| v.contains(&boundary))
        }) {
            boundary.push_str("-x");
        }
        let mut out =
            Vec::with_capacity(self.parts.iter().map(|p| p.body.len() + 128).sum::<usize>() + 64);
        for p in &self.parts {
            out.extend_from_slice(b"--");
            out.extend_from_slice(boundary.as_bytes());
            out.extend_from_slice(b"\r\n");
            for (n, v) in &p.headers {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&p.body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
        (
            format!("multipart/{};boundary={boundary}", self.subtype),
            Bytes::from(out),
        )
    }
}

/// Applies `f` to the SDP of a body: the whole body when it is
/// `application/sdp`, else the first `application/sdp` part of a
/// `multipart/*` body, the other parts kept as they are. `Ok(None)` when
/// the body holds no SDP (it passes unchanged).
///
/// # Errors
/// `f`'s status, or 400 for a multipart body that cannot be split.
pub(crate) fn map_sdp(
    ct: &str,
    body: &Bytes,
    seed: &str,
    f: impl FnOnce(&Bytes) -> Result<Bytes, u16>,
) -> Result<Option<(String, Bytes)>, u16> {
    if is_sdp(ct) {
        return f(body).map(|b| Some((ct.to_owned(), b)));
    }
    if !is_multipart(ct) {
        return Ok(None);
    }
    let mut mp = Multipart::parse(ct, body).map_err(|e| {
        tracing::info!(error = ?e, "malformed multipart body: 400");
        400u16
    })?;
    let Some(i) = mp.sdp() else {
        return Ok(None);
    };
    let sdp = f(&mp.parts[i].body)?;
    mp.parts[i].body = sdp;
    Ok(Some(mp.to_body(seed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=a 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

    #[test]
    fn e6_parses_the_rfc6442_shape_with_crlf_and_lf() {
        // A line that starts like the delimiter but goes on is content.
        let pidf = "<?xml version=\"1.0\"?>\r\n--b1x is content\r\n<presence/>";
        for nl in ["\r\n", "\n"] {
            let text = format!(
                "preamble{nl}--b1{nl}Content-Type: application/sdp{nl}{nl}{sdp}{nl}--b1  {nl}Content-Type: application/pidf+xml{nl}Content-ID:{nl} <t@x>{nl}{nl}{pidf}{nl}--b1--{nl}epilogue",
                sdp = SDP.replace("\r\n", nl),
            );
            let mp =
                Multipart::parse("multipart/mixed; boundary=\"b1\"", &Bytes::from(text)).unwrap();
            assert_eq!(mp.subtype, "mixed");
            assert_eq!(mp.parts.len(), 2);
            assert_eq!(mp.sdp(), Some(0));
            assert_eq!(mp.parts[0].body, SDP.replace("\r\n", nl).as_bytes());
            assert_eq!(mp.parts[1].content_type(), "application/pidf+xml");
            assert_eq!(mp.parts[1].header("content-id"), Some("<t@x>"));
            assert_eq!(mp.parts[1].body, pidf.as_bytes());
        }
    }

    #[test]
    fn e6_written_parts_parse_back_and_the_boundary_avoids_the_content() {
        let mut mp = Multipart::new("mixed");
        mp.parts
            .push(Part::new("application/sdp", Bytes::from(SDP)));
        // A part that contains the first boundary tried.
        mp.parts
            .push(Part::new("text/plain", Bytes::from("--locus-s1 is here")));
        let (ct, body) = mp.to_body("s1");
        assert_eq!(ct, "multipart/mixed;boundary=locus-s1-x");
        assert_eq!(Multipart::parse(&ct, &body).unwrap(), mp);
        // Deterministic: the same parts and seed give the same bytes.
        assert_eq!(mp.to_body("s1"), (ct, body));
    }

    fn same(b: &Bytes) -> Result<Bytes, u16> {
        Ok(b.clone())
    }

    #[test]
    fn e6_errors_and_bodies_without_sdp() {
        let b = Bytes::from("--b\r\n\r\nx\r\n");
        assert_eq!(
            Multipart::parse("multipart/mixed", &b),
            Err(MultipartError::NoBoundary)
        );
        assert_eq!(
            Multipart::parse("multipart/mixed;boundary=b", &b),
            Err(MultipartError::Unterminated)
        );
        assert_eq!(
            map_sdp("multipart/mixed;boundary=b", &b, "s", same),
            Err(400)
        );
        let text = Bytes::from("--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n");
        assert_eq!(
            map_sdp("multipart/mixed;boundary=b", &text, "s", same),
            Ok(None)
        );
        assert_eq!(map_sdp("text/plain", &text, "s", same), Ok(None));
    }

    #[test]
    fn e6_map_sdp_rewrites_the_sdp_part_only() {
        let text = format!(
            "--b\r\nContent-Type: application/pidf+xml\r\nContent-ID: <x@y>\r\n\r\n<presence/>\r\n--b\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--b--\r\n"
        );
        let (ct, body) = map_sdp(
            "multipart/mixed;boundary=b",
            &Bytes::from(text),
            "seed",
            |sdp| {
                let s = String::from_utf8_lossy(sdp).replace("192.0.2.1", "203.0.113.5");
                Ok(Bytes::from(s))
            },
        )
        .unwrap()
        .unwrap();
        let mp = Multipart::parse(&ct, &body).unwrap();
        assert_eq!(mp.parts.len(), 2);
        assert_eq!(mp.parts[0].header("Content-ID"), Some("<x@y>"));
        assert_eq!(mp.parts[0].body, "<presence/>".as_bytes());
        let sdp = String::from_utf8_lossy(&mp.parts[1].body).into_owned();
        assert!(sdp.contains("c=IN IP4 203.0.113.5"), "{sdp}");
        // A plain SDP body is mapped as a whole; a refusal is the status.
        let plain = map_sdp("application/sdp", &Bytes::from(SDP), "s", |_| Err(488));
        assert_eq!(plain, Err(488));
    }
}
