//! Tolerant parsing of reginfo documents.

use std::fmt;

use crate::model::{
    Contact, ContactEvent, ContactState, DocState, RegInfo, RegState, Registration, TempGruu,
    GRUUINFO_NS, REGINFO_NS,
};
use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::xml::{TreeError, MAX_DEPTH};

/// Why a body is not a usable reginfo document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not well-formed UTF-8 XML; the notifier sent a broken
    /// body (answer the NOTIFY, then re-SUBSCRIBE for full state).
    #[error("reginfo body is not usable XML: {0}")]
    Xml(XmlError),
    /// The root element is not `<reginfo>` in the reginfo namespace: the
    /// body is some other document type (check the Content-Type).
    #[error("root element is <{found}>, expected <reginfo xmlns=\"{REGINFO_NS}\">")]
    NotReginfo {
        /// The local name of the root element found.
        found: String,
    },
    /// A required attribute is missing.
    #[error("<{element}> lacks the required attribute {attribute:?} (RFC 3680 section 5.4)")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// An attribute has a value the schema does not allow.
    #[error(
        "<{element}> attribute {attribute:?} has the invalid value {value:?} (expected {expected})"
    )]
    InvalidAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// The value found.
        value: String,
        /// What the schema allows.
        expected: &'static str,
    },
    /// A `<contact>` has no `<uri>` element (or an empty one).
    #[error("<contact id={contact_id:?}> has no <uri> (RFC 3680 section 5.1)")]
    MissingUri {
        /// The `id` attribute of the contact.
        contact_id: String,
    },
}

/// Details of an XML syntax problem (opaque: the wording comes from the XML
/// reader and is meant for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(TreeError);

impl XmlError {
    /// Byte offset in the body near which the problem was found, when known.
    pub fn position(&self) -> Option<u64> {
        match &self.0 {
            TreeError::Syntax { position, .. } => Some(*position),
            _ => None,
        }
    }

    /// The nesting limit was exceeded (the body is hostile or not reginfo).
    pub fn is_too_deep(&self) -> bool {
        matches!(self.0, TreeError::TooDeep)
    }

    /// The deepest element nesting the parser accepts.
    pub const MAX_DEPTH: usize = MAX_DEPTH;
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<TreeError> for ParseError {
    fn from(e: TreeError) -> Self {
        ParseError::Xml(XmlError(e))
    }
}

/// Parses an `application/reginfo+xml` body.
///
/// Tolerance (RFC 3680 section 5.1 says elements and attributes from
/// unknown namespaces MUST be ignored; real notifiers need a little more):
/// - any namespace prefix may be used; elements in other namespaces and
///   unknown attributes are ignored (Kamailio adds `received`, `path`,
///   `user_agent` to `<contact>`);
/// - reginfo elements written with no namespace at all are accepted;
/// - a missing `id` on `<registration>` defaults to the AOR, on `<contact>`
///   to the contact URI;
/// - a missing or unrecognised contact `event` is derived from its `state`
///   (`active` gives `registered`, `terminated` gives `unregistered`);
///   Kamailio can write `event="unknown"`;
/// - negative `expires`, `retry-after` and `duration-registered` (Kamailio
///   prints `expires` of a just-expired contact as a negative number) are
///   read as 0;
/// - `<uri>`, `<display-name>` and `<unknown-param>` text is trimmed (RFC
///   5628's examples wrap the URI in whitespace);
/// - an `<unknown-param>` without `name` is skipped.
///
/// Required attributes that carry meaning (`version`, document `state`,
/// `aor`, registration and contact `state`) are errors when missing or
/// invalid, as is a contact without a URI.
///
/// The body is read in one pass over the XML reader's events straight into
/// the model, with no element tree in between: building and dropping one
/// took about half the manager's main thread in the download of 100,000
/// registrations (README, Performance). The well-formedness checks are the
/// ones `xml_tree::parse_tree` makes (UTF-8, one root, nesting depth,
/// attributes and entities of every element), and a syntax error anywhere
/// still wins over a reginfo error found before it, as when the whole tree
/// was built first.
pub fn parse(body: &[u8]) -> Result<RegInfo, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        syntax(
            e.valid_up_to() as u64,
            "body is not UTF-8 (RFC 3680 section 5.1 and RFC 4119 require UTF-8)",
        )
    })?;
    let mut reader = NsReader::from_str(text);
    let mut b = Builder::default();
    let mut stack: Vec<Frame> = Vec::with_capacity(8);
    let mut root_done = false;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| syntax(position, e))?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root_done {
                    return Err(syntax(position, "a second root element").into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(TreeError::TooDeep.into());
                }
                let frame = b.open(&reader, start, position, stack.last().copied())?;
                if matches!(event, Event::Start(_)) {
                    stack.push(frame);
                } else {
                    b.close(frame);
                    root_done = stack.is_empty();
                }
            }
            Event::End(_) => {
                // The reader checks that end names match start names.
                let Some(frame) = stack.pop() else {
                    return Err(syntax(position, "an end tag without a start tag").into());
                };
                b.close(frame);
                root_done = stack.is_empty();
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| syntax(position, e))?;
                match stack.last() {
                    Some(&Frame::Capture(c)) => b.capture(c).push_str(&s),
                    Some(_) => {}
                    None if s.trim().is_empty() => {}
                    None => return Err(syntax(position, "text outside the root element").into()),
                }
            }
            Event::CData(t) => {
                let s = t.xml10_content().map_err(|e| syntax(position, e))?;
                match stack.last() {
                    Some(&Frame::Capture(c)) => b.capture(c).push_str(&s),
                    Some(_) => {}
                    None => return Err(syntax(position, "CDATA outside the root element").into()),
                }
            }
            Event::GeneralRef(r) => {
                let mut buf = [0u8; 4];
                let s: &str = if let Some(ch) =
                    r.resolve_char_ref().map_err(|e| syntax(position, e))?
                {
                    ch.encode_utf8(&mut buf)
                } else {
                    let name = r.decode().map_err(|e| syntax(position, e))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => s,
                        None => {
                            return Err(
                                syntax(position, format_args!("unknown entity &{name};")).into()
                            )
                        }
                    }
                };
                match stack.last() {
                    Some(&Frame::Capture(c)) => b.capture(c).push_str(s),
                    Some(_) => {}
                    None => {
                        return Err(syntax(position, "a reference outside the root element").into())
                    }
                }
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(TreeError::UnexpectedEof.into());
                }
                if !root_done {
                    return Err(TreeError::Empty.into());
                }
                return b.finish();
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

fn syntax(position: u64, message: impl fmt::Display) -> TreeError {
    TreeError::Syntax {
        position,
        message: message.to_string(),
    }
}

/// What an open element is to the parser.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Root,
    Registration,
    Contact,
    /// A child of `<contact>` whose text is kept.
    Capture(Capture),
    /// Anything else: checked for well-formedness, otherwise ignored.
    Other,
}

#[derive(Debug, Clone, Copy)]
enum Capture {
    Uri,
    DisplayName,
    UnknownParam,
}

/// An attribute value parsed when read; the raw text kept only when invalid.
type Parsed<T> = Option<Result<T, String>>;

/// A `<contact>` being read: its attributes, checked when it closes (after
/// its `<uri>`, in the order the checks have always been made).
#[derive(Default)]
struct ContactAcc {
    id: Option<String>,
    state: Parsed<ContactState>,
    /// The first `event` attribute; absent or not a known event (Kamailio's
    /// `unknown`), it is derived from the state.
    event: Option<Option<ContactEvent>>,
    expires: Parsed<u64>,
    retry_after: Parsed<u64>,
    duration_registered: Parsed<u64>,
    cseq: Parsed<u64>,
    q: Option<String>,
    callid: Option<String>,
    /// The first `<uri>`'s text, untrimmed.
    uri: Option<String>,
    display_name: Option<String>,
    unknown_params: Vec<(String, String)>,
    /// The first `<pub-gruu>`'s `uri` (outer `Some`: one was seen).
    pub_gruu: Option<Option<String>>,
    temp_gruu: Option<Option<TempGruu>>,
}

#[derive(Default)]
struct Builder {
    /// The first reginfo error; reading goes on so that a later syntax
    /// error wins.
    failed: Option<ParseError>,
    version: u32,
    state: Option<DocState>,
    registrations: Vec<Registration>,
    registration: Option<Registration>,
    contact: Option<ContactAcc>,
    /// Unused text target when a capture has nowhere to go (never in
    /// practice: captures only open inside a contact).
    spare: String,
}

/// The unprefixed attributes of `start` (every attribute is decoded, so a
/// broken one anywhere is a syntax error); `f` sees the local name and the
/// unescaped value.
fn attributes(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    position: u64,
    mut f: impl FnMut(&[u8], Cow<'_, str>),
) -> Result<(), TreeError> {
    for attr in start.attributes() {
        let attr = attr.map_err(|e| syntax(position, e))?;
        let key = attr.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| syntax(position, e))?;
        if matches!(ns, ResolveResult::Unbound) {
            f(local.as_ref(), value);
        }
    }
    Ok(())
}

/// `Some(true)` when the element is in `ns` (or in no namespace, tolerated
/// for reginfo elements), `Some(false)` when in another, `None` when its
/// prefix is undeclared.
fn in_ns(resolved: &ResolveResult<'_>, ns: &str, exact: bool) -> bool {
    match resolved {
        ResolveResult::Bound(n) => {
            let n = std::str::from_utf8(n.as_ref()).unwrap_or("");
            if exact {
                n == ns
            } else {
                n.trim() == ns
            }
        }
        ResolveResult::Unbound => !exact,
        ResolveResult::Unknown(_) => false,
    }
}

fn number(raw: &str, clamp_negative: bool) -> Result<u64, String> {
    let v = raw.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Ok(n);
    }
    if clamp_negative
        && v.starts_with('-')
        && v[1..].bytes().all(|b| b.is_ascii_digit())
        && v.len() > 1
    {
        return Ok(0);
    }
    Err(raw.to_owned())
}

impl Builder {
    fn open(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &BytesStart<'_>,
        position: u64,
        parent: Option<Frame>,
    ) -> Result<Frame, TreeError> {
        let (ns, local) = reader.resolver().resolve_element(start.name());
        let local = std::str::from_utf8(local.into_inner()).map_err(|e| syntax(position, e))?;
        if self.failed.is_some() {
            attributes(reader, start, position, |_, _| {})?;
            return Ok(Frame::Other);
        }
        let reginfo = |name: &str| local == name && in_ns(&ns, REGINFO_NS, false);
        match parent {
            None => {
                if !reginfo("reginfo") {
                    attributes(reader, start, position, |_, _| {})?;
                    self.failed = Some(ParseError::NotReginfo {
                        found: local.to_owned(),
                    });
                    return Ok(Frame::Other);
                }
                let (mut version, mut state) = (None, None);
                attributes(reader, start, position, |k, v| match k {
                    b"version" if version.is_none() => version = Some(v.into_owned()),
                    b"state" if state.is_none() => state = Some(v.into_owned()),
                    _ => {}
                })?;
                self.root(version, state);
                Ok(Frame::Root)
            }
            Some(Frame::Root) if reginfo("registration") => {
                let (mut aor, mut id, mut state) = (None, None, None);
                attributes(reader, start, position, |k, v| match k {
                    b"aor" if aor.is_none() => aor = Some(v.into_owned()),
                    b"id" if id.is_none() => id = Some(v.into_owned()),
                    b"state" if state.is_none() => state = Some(v.into_owned()),
                    _ => {}
                })?;
                self.registration(aor, id, state);
                Ok(Frame::Registration)
            }
            Some(Frame::Registration) if reginfo("contact") => {
                let mut c = ContactAcc::default();
                attributes(reader, start, position, |k, v| match k {
                    b"id" if c.id.is_none() => c.id = Some(v.into_owned()),
                    b"state" if c.state.is_none() => {
                        c.state = Some(ContactState::from_token(v.trim()).ok_or(v.into_owned()))
                    }
                    // An unknown event is as good as none (derived from the
                    // state); only the first `event` attribute counts.
                    b"event" if c.event.is_none() => {
                        c.event = Some(ContactEvent::from_token(v.trim()))
                    }
                    b"expires" if c.expires.is_none() => c.expires = Some(number(&v, true)),
                    b"retry-after" if c.retry_after.is_none() => {
                        c.retry_after = Some(number(&v, true))
                    }
                    b"duration-registered" if c.duration_registered.is_none() => {
                        c.duration_registered = Some(number(&v, true))
                    }
                    b"cseq" if c.cseq.is_none() => c.cseq = Some(number(&v, false)),
                    b"q" if c.q.is_none() => c.q = Some(v.trim().to_owned()),
                    b"callid" if c.callid.is_none() => c.callid = Some(v.into_owned()),
                    _ => {}
                })?;
                self.contact = Some(c);
                Ok(Frame::Contact)
            }
            Some(Frame::Contact) => {
                let Some(c) = self.contact.as_mut() else {
                    attributes(reader, start, position, |_, _| {})?;
                    return Ok(Frame::Other);
                };
                let frame = if reginfo("uri") && c.uri.is_none() {
                    c.uri = Some(String::new());
                    Frame::Capture(Capture::Uri)
                } else if reginfo("display-name") && c.display_name.is_none() {
                    c.display_name = Some(String::new());
                    Frame::Capture(Capture::DisplayName)
                } else if reginfo("unknown-param") {
                    let mut name = None;
                    attributes(reader, start, position, |k, v| {
                        if k == b"name" && name.is_none() {
                            name = Some(v.trim().to_owned());
                        }
                    })?;
                    return Ok(match name {
                        Some(name) => {
                            c.unknown_params.push((name, String::new()));
                            Frame::Capture(Capture::UnknownParam)
                        }
                        None => Frame::Other,
                    });
                } else if local == "pub-gruu"
                    && in_ns(&ns, GRUUINFO_NS, true)
                    && c.pub_gruu.is_none()
                {
                    let mut uri = None;
                    attributes(reader, start, position, |k, v| {
                        if k == b"uri" && uri.is_none() {
                            uri = Some(v.trim().to_owned());
                        }
                    })?;
                    c.pub_gruu = Some(uri);
                    return Ok(Frame::Other);
                } else if local == "temp-gruu"
                    && in_ns(&ns, GRUUINFO_NS, true)
                    && c.temp_gruu.is_none()
                {
                    let (mut uri, mut first_cseq) = (None, None);
                    attributes(reader, start, position, |k, v| match k {
                        b"uri" if uri.is_none() => uri = Some(v.trim().to_owned()),
                        b"first-cseq" if first_cseq.is_none() => {
                            first_cseq = Some(v.trim().parse::<u64>().ok())
                        }
                        _ => {}
                    })?;
                    c.temp_gruu = Some(match (uri, first_cseq) {
                        (Some(uri), Some(Some(first_cseq))) => Some(TempGruu { uri, first_cseq }),
                        _ => None,
                    });
                    return Ok(Frame::Other);
                } else {
                    Frame::Other
                };
                attributes(reader, start, position, |_, _| {})?;
                Ok(frame)
            }
            _ => {
                attributes(reader, start, position, |_, _| {})?;
                Ok(Frame::Other)
            }
        }
    }

    fn fail(&mut self, e: ParseError) {
        if self.failed.is_none() {
            self.failed = Some(e);
        }
    }

    fn root(&mut self, version: Option<String>, state: Option<String>) {
        let Some(v) = version else {
            return self.fail(ParseError::MissingAttribute {
                element: "reginfo",
                attribute: "version",
            });
        };
        match v.trim().parse::<u32>() {
            Ok(n) => self.version = n,
            Err(_) => {
                return self.fail(ParseError::InvalidAttribute {
                    element: "reginfo",
                    attribute: "version",
                    value: v,
                    expected: "an integer from 0 to 4294967295",
                })
            }
        }
        let Some(s) = state else {
            return self.fail(ParseError::MissingAttribute {
                element: "reginfo",
                attribute: "state",
            });
        };
        match DocState::from_token(s.trim()) {
            Some(st) => self.state = Some(st),
            None => self.fail(ParseError::InvalidAttribute {
                element: "reginfo",
                attribute: "state",
                value: s,
                expected: "\"full\" or \"partial\"",
            }),
        }
    }

    fn registration(&mut self, aor: Option<String>, id: Option<String>, state: Option<String>) {
        let Some(aor) = aor else {
            return self.fail(ParseError::MissingAttribute {
                element: "registration",
                attribute: "aor",
            });
        };
        let aor = match aor.trim() {
            t if t.len() == aor.len() => aor,
            t => t.to_owned(),
        };
        let Some(s) = state else {
            return self.fail(ParseError::MissingAttribute {
                element: "registration",
                attribute: "state",
            });
        };
        let Some(state) = RegState::from_token(s.trim()) else {
            return self.fail(ParseError::InvalidAttribute {
                element: "registration",
                attribute: "state",
                value: s,
                expected: "\"init\", \"active\" or \"terminated\"",
            });
        };
        let id = id.unwrap_or_else(|| aor.clone());
        self.registration = Some(Registration {
            aor,
            id,
            state,
            contacts: Vec::new(),
        });
    }

    /// Where the text of the open capture goes.
    fn capture(&mut self, c: Capture) -> &mut String {
        let target = self.contact.as_mut().and_then(|acc| match c {
            Capture::Uri => acc.uri.as_mut(),
            Capture::DisplayName => acc.display_name.as_mut(),
            Capture::UnknownParam => acc.unknown_params.last_mut().map(|(_, v)| v),
        });
        match target {
            Some(t) => t,
            None => &mut self.spare,
        }
    }

    fn close(&mut self, frame: Frame) {
        if self.failed.is_some() {
            return;
        }
        match frame {
            Frame::Registration => {
                if let Some(r) = self.registration.take() {
                    self.registrations.push(r);
                }
            }
            Frame::Contact => {
                if let Some(c) = self.contact.take() {
                    match finish_contact(c) {
                        Ok(c) => {
                            if let Some(r) = self.registration.as_mut() {
                                // Most AORs have one contact: no room for four.
                                r.contacts.reserve_exact(1);
                                r.contacts.push(c);
                            }
                        }
                        Err(e) => self.fail(e),
                    }
                }
            }
            Frame::Root | Frame::Capture(_) | Frame::Other => {}
        }
    }

    fn finish(self) -> Result<RegInfo, ParseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        Ok(RegInfo {
            version: self.version,
            // Set whenever the root was accepted without error.
            state: self.state.unwrap_or(DocState::Full),
            registrations: self.registrations,
        })
    }
}

fn trimmed(s: String) -> String {
    let t = s.trim();
    if t.len() == s.len() {
        s
    } else {
        t.to_owned()
    }
}

fn finish_contact(c: ContactAcc) -> Result<Contact, ParseError> {
    let uri = c.uri.map(trimmed).unwrap_or_default();
    if uri.is_empty() {
        return Err(ParseError::MissingUri {
            contact_id: c.id.unwrap_or_default(),
        });
    }
    let state = match c.state {
        None => {
            return Err(ParseError::MissingAttribute {
                element: "contact",
                attribute: "state",
            })
        }
        Some(Err(value)) => {
            return Err(ParseError::InvalidAttribute {
                element: "contact",
                attribute: "state",
                value,
                expected: "\"active\" or \"terminated\"",
            })
        }
        Some(Ok(s)) => s,
    };
    let event = c.event.flatten().unwrap_or(match state {
        ContactState::Active => ContactEvent::Registered,
        ContactState::Terminated => ContactEvent::Unregistered,
    });
    let num = |v: Parsed<u64>, attribute: &'static str| -> Result<Option<u64>, ParseError> {
        v.transpose().map_err(|value| ParseError::InvalidAttribute {
            element: "contact",
            attribute,
            value,
            expected: "a non-negative integer",
        })
    };
    let expires = num(c.expires, "expires")?;
    let retry_after = num(c.retry_after, "retry-after")?;
    let duration_registered = num(c.duration_registered, "duration-registered")?;
    let cseq = num(c.cseq, "cseq")?;
    let mut unknown_params = c.unknown_params;
    for (_, v) in &mut unknown_params {
        *v = trimmed(std::mem::take(v));
    }
    Ok(Contact {
        id: c.id.unwrap_or_else(|| uri.clone()),
        state,
        event,
        uri,
        display_name: c.display_name.map(trimmed),
        expires,
        retry_after,
        duration_registered,
        q: c.q,
        callid: c.callid,
        cseq,
        unknown_params,
        pub_gruu: c.pub_gruu.flatten(),
        temp_gruu: c.temp_gruu.flatten(),
    })
}

/// The parser as it was, over the generic element tree: the reference the
/// one-pass parser must agree with, error for error.
#[cfg(test)]
mod tree_reference {
    use crate::model::{
        Contact, ContactEvent, ContactState, DocState, RegInfo, RegState, Registration, TempGruu,
        GRUUINFO_NS, REGINFO_NS,
    };
    use crate::xml::{parse_tree, Element};

    use super::{ParseError, XmlError};

    impl From<crate::xml::TreeError> for XmlError {
        fn from(e: crate::xml::TreeError) -> Self {
            XmlError(e)
        }
    }

    pub(super) fn parse(body: &[u8]) -> Result<RegInfo, ParseError> {
        let root = parse_tree(body).map_err(|e| ParseError::Xml(e.into()))?;
        if !root.is(REGINFO_NS, "reginfo") {
            return Err(ParseError::NotReginfo { found: root.name });
        }
        let version = required(&root, "reginfo", "version")?;
        let version = version
            .trim()
            .parse::<u32>()
            .map_err(|_| ParseError::InvalidAttribute {
                element: "reginfo",
                attribute: "version",
                value: version.to_owned(),
                expected: "an integer from 0 to 4294967295",
            })?;
        let state = required(&root, "reginfo", "state")?;
        let state =
            DocState::from_token(state.trim()).ok_or_else(|| ParseError::InvalidAttribute {
                element: "reginfo",
                attribute: "state",
                value: state.to_owned(),
                expected: "\"full\" or \"partial\"",
            })?;
        let registrations = root
            .children_named(REGINFO_NS, "registration")
            .map(registration)
            .collect::<Result<_, _>>()?;
        Ok(RegInfo {
            version,
            state,
            registrations,
        })
    }

    fn required<'a>(
        el: &'a Element,
        element: &'static str,
        attribute: &'static str,
    ) -> Result<&'a str, ParseError> {
        el.attr(attribute)
            .ok_or(ParseError::MissingAttribute { element, attribute })
    }

    fn registration(el: &Element) -> Result<Registration, ParseError> {
        let aor = required(el, "registration", "aor")?.trim().to_owned();
        let id = el
            .attr("id")
            .map(str::to_owned)
            .unwrap_or_else(|| aor.clone());
        let state = required(el, "registration", "state")?;
        let state =
            RegState::from_token(state.trim()).ok_or_else(|| ParseError::InvalidAttribute {
                element: "registration",
                attribute: "state",
                value: state.to_owned(),
                expected: "\"init\", \"active\" or \"terminated\"",
            })?;
        let contacts = el
            .children_named(REGINFO_NS, "contact")
            .map(contact)
            .collect::<Result<_, _>>()?;
        Ok(Registration {
            aor,
            id,
            state,
            contacts,
        })
    }

    fn number(
        el: &Element,
        attribute: &'static str,
        clamp_negative: bool,
    ) -> Result<Option<u64>, ParseError> {
        let Some(raw) = el.attr(attribute) else {
            return Ok(None);
        };
        let v = raw.trim();
        if let Ok(n) = v.parse::<u64>() {
            return Ok(Some(n));
        }
        if clamp_negative
            && v.starts_with('-')
            && v[1..].bytes().all(|b| b.is_ascii_digit())
            && v.len() > 1
        {
            return Ok(Some(0));
        }
        Err(ParseError::InvalidAttribute {
            element: "contact",
            attribute,
            value: raw.to_owned(),
            expected: "a non-negative integer",
        })
    }

    fn contact(el: &Element) -> Result<Contact, ParseError> {
        let uri = el
            .children_named(REGINFO_NS, "uri")
            .next()
            .map(|u| u.text.trim().to_owned())
            .unwrap_or_default();
        let id = el.attr("id").map(str::to_owned);
        if uri.is_empty() {
            return Err(ParseError::MissingUri {
                contact_id: id.unwrap_or_default(),
            });
        }
        let state = required(el, "contact", "state")?;
        let state =
            ContactState::from_token(state.trim()).ok_or_else(|| ParseError::InvalidAttribute {
                element: "contact",
                attribute: "state",
                value: state.to_owned(),
                expected: "\"active\" or \"terminated\"",
            })?;
        let event = el
            .attr("event")
            .and_then(|e| ContactEvent::from_token(e.trim()))
            .unwrap_or(match state {
                ContactState::Active => ContactEvent::Registered,
                ContactState::Terminated => ContactEvent::Unregistered,
            });
        let display_name = el
            .children_named(REGINFO_NS, "display-name")
            .next()
            .map(|d| d.text.trim().to_owned());
        let unknown_params = el
            .children_named(REGINFO_NS, "unknown-param")
            .filter_map(|p| Some((p.attr("name")?.trim().to_owned(), p.text.trim().to_owned())))
            .collect();
        let pub_gruu = el
            .children
            .iter()
            .find(|c| c.name == "pub-gruu" && c.ns.as_deref() == Some(GRUUINFO_NS))
            .and_then(|c| c.attr("uri"))
            .map(|u| u.trim().to_owned());
        let temp_gruu = el
            .children
            .iter()
            .find(|c| c.name == "temp-gruu" && c.ns.as_deref() == Some(GRUUINFO_NS))
            .and_then(|c| {
                Some(TempGruu {
                    uri: c.attr("uri")?.trim().to_owned(),
                    first_cseq: c.attr("first-cseq")?.trim().parse().ok()?,
                })
            });
        Ok(Contact {
            id: id.unwrap_or_else(|| uri.clone()),
            state,
            event,
            uri,
            display_name,
            expires: number(el, "expires", true)?,
            retry_after: number(el, "retry-after", true)?,
            duration_registered: number(el, "duration-registered", true)?,
            q: el.attr("q").map(|q| q.trim().to_owned()),
            callid: el.attr("callid").map(str::to_owned),
            cseq: number(el, "cseq", false)?,
            unknown_params,
            pub_gruu,
            temp_gruu,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{parse, tree_reference};

    const SEEDS: &[&str] = &[
        r#"<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" xmlns:gr="urn:ietf:params:xml:ns:gruuinfo" version="3" state="partial">
  <registration aor="sip:alice@example.com" id="a7" state="active">
    <contact id="76" state="active" event="registered" expires="3600" duration-registered="7" q="0.8" callid="c&amp;1" cseq="5">
      <uri> sip:alice@192.0.2.1;transport=udp </uri>
      <display-name>Alice &#233;<![CDATA[ <x> ]]></display-name>
      <unknown-param name="+sip.instance">"&lt;urn:uuid:00000000-0000-0000-0000-000000000001&gt;"</unknown-param>
      <unknown-param>no name</unknown-param>
      <gr:pub-gruu uri="sip:alice@example.com;gr=urn:uuid:1"/>
      <gr:temp-gruu uri="sip:tgruu.1@example.com;gr" first-cseq="5"/>
    </contact>
    <contact id="77" state="terminated" event="unknown" expires="-5"><uri>sip:alice@192.0.2.2</uri></contact>
  </registration>
  <registration aor="sip:bob@example.com" state="terminated"/>
</reginfo>"#,
        r#"<r:reginfo xmlns:r="urn:ietf:params:xml:ns:reginfo" xmlns:k="http://kamailio.org" version="0" state="full"><r:registration aor=" sip:u1@h " id="x" state="active"><r:contact state="active" k:received="sip:1.2.3.4" expires="10"><r:uri>sip:u1@10.0.0.1</r:uri><other><r:uri>nested</r:uri></other></r:contact></r:registration></r:reginfo>"#,
        r#"<reginfo version="1" state="full"><registration aor="sip:a@b" state="init"><contact state="active"><uri>sip:a@c</uri></contact></registration></reginfo>"#,
    ];

    fn agree(body: &[u8]) {
        assert_eq!(
            parse(body),
            tree_reference::parse(body),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn seeds_parse_as_the_tree_parser_did() {
        for s in SEEDS {
            agree(s.as_bytes());
            assert!(parse(s.as_bytes()).is_ok(), "{s}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Damaged documents (a span cut out, markup or text spliced in)
        /// give the same document or the same error as the tree parser.
        #[test]
        fn damaged_documents_parse_as_the_tree_parser_did(
            seed in 0..SEEDS.len(),
            at in any::<prop::sample::Index>(),
            cut in 0usize..12,
            splice in prop::sample::select(vec![
                "", "<", ">", "/", "\"", "=", "&", "&amp;", "&#xD;", "&bogus;", " ", "x",
                "</contact>", "<contact state=\"active\">", "<uri>", "</uri>", "<![CDATA[", "]]>",
                " state=\"bad\"", " version=\"-1\"", " expires=\"x\"", " cseq=\"-1\"",
                "<registration aor=\"sip:z@z\" state=\"active\">", "</registration>",
                "xmlns=\"urn:other\"", "p:", "<!-- c -->", "\u{e9}", "\u{0}",
            ]),
        ) {
            let s = SEEDS[seed];
            let i = at.index(s.len() + 1);
            let mut body = s.as_bytes()[..i].to_vec();
            body.extend_from_slice(splice.as_bytes());
            body.extend_from_slice(&s.as_bytes()[(i + cut).min(s.len())..]);
            agree(&body);
        }
    }
}
