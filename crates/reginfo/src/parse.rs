//! Tolerant parsing of reginfo documents.

use std::fmt;

use crate::model::{
    Contact, ContactEvent, ContactState, DocState, RegInfo, RegState, Registration, TempGruu,
    GRUUINFO_NS, REGINFO_NS,
};
use crate::xml::{parse_tree, Element, TreeError, MAX_DEPTH};

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
pub fn parse(body: &[u8]) -> Result<RegInfo, ParseError> {
    let root = parse_tree(body)?;
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
    let state = DocState::from_token(state.trim()).ok_or_else(|| ParseError::InvalidAttribute {
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
    let state = RegState::from_token(state.trim()).ok_or_else(|| ParseError::InvalidAttribute {
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
