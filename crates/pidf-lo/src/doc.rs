//! The location document: model, serializer and parser.

use std::fmt;
use std::str::FromStr;

use crate::civic::CivicAddress;
use crate::elin::{Elin, ElinError};
use crate::xml::{escape_attr, escape_text, parse_tree, Element, TreeError, MAX_DEPTH, XML_NS};

/// PIDF (RFC 3863) namespace.
pub const PIDF_NS: &str = "urn:ietf:params:xml:ns:pidf";
/// Presence data model (RFC 4479) namespace: `<dm:device>`, `<dm:deviceID>`.
pub const DATA_MODEL_NS: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// GEOPRIV (RFC 4119) namespace: `<gp:geopriv>` and its children.
pub const GEOPRIV_NS: &str = "urn:ietf:params:xml:ns:pidf:geopriv10";
/// Basic policy (RFC 4119) namespace: the usage-rules children.
pub const BASIC_POLICY_NS: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy";
/// Civic address (RFC 5139) namespace.
pub const CIVIC_ADDR_NS: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr";
/// The older RFC 4119 civic namespace, read (never written).
pub const CIVIC_LOC_NS: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc";
/// Locus's namespace for the ELIN extension element.
pub const ELIN_NS: &str = "urn:locus:params:xml:ns:elin";
/// The MIME type of PIDF documents.
pub const CONTENT_TYPE: &str = "application/pidf+xml";

/// A PIDF-LO document as Locus uses it: one device (or presentity), one
/// civic location, and the ELIN the SIP server sends for it (E6, E11).
///
/// # What is written
///
/// With a `device_id`, RFC 5491 rule 8's preferred form, the RFC 4479
/// device element:
///
/// ```xml
/// <presence xmlns="urn:ietf:params:xml:ns:pidf" ... entity="pres:...">
///   <dm:device id="device">
///     <gp:geopriv>
///       <gp:location-info><ca:civicAddress>...</ca:civicAddress></gp:location-info>
///       <gp:usage-rules><gbp:retransmission-allowed>false</gbp:retransmission-allowed></gp:usage-rules>
///       <gp:method>Manual</gp:method>
///     </gp:geopriv>
///     <elin:elin xmlns:elin="urn:locus:params:xml:ns:elin">+15551234567</elin:elin>
///     <dm:deviceID>mac:00045a1b2c3d</dm:deviceID>
///     <dm:timestamp>2024-01-01T00:00:00Z</dm:timestamp>
///   </dm:device>
/// </presence>
/// ```
///
/// Without one, a `<tuple id="location">` whose `<status>` holds the
/// geopriv and the ELIN, and a PIDF `<timestamp>`.
///
/// The ELIN is an element of Locus's own namespace ([`ELIN_NS`]), placed
/// where the schemas allow foreign elements: among the device's status
/// elements (RFC 4479 `device` takes `##other` before `deviceID`), or in
/// the tuple's `<status>` (PIDF `status` takes `##other`). Receivers that do
/// not know it ignore it, as PIDF requires; no registered PIDF extension
/// carries a callback number, and RFC 7852's Additional Data is too heavy
/// for one number.
///
/// # What is read
///
/// Any prefixes; the location from the first `<dm:device>` holding a
/// `<gp:geopriv>`, else the first `<tuple>`, else the first `<dm:person>`
/// (RFC 5491 rule 8); the first civic address in its `location-info` (RFC
/// 5139 namespace, or RFC 4119's older `civicLoc`; a geodetic-only location
/// leaves [`LocationDoc::civic`] empty); the ELIN from that element, or
/// else anywhere in the document. Unknown elements are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationDoc {
    /// The `entity` attribute of `<presence>`: the target's URI, usually
    /// `pres:user@domain`.
    pub entity: String,
    /// The RFC 4479 device ID: `mac:` and 12 lower-case hex digits, or a
    /// URN such as the RFC 5626 instance `urn:uuid:...` (see
    /// [`mac_device_id`] and [`instance_device_id`]).
    pub device_id: Option<String>,
    /// The civic location.
    pub civic: CivicAddress,
    /// The ELIN to send for this device.
    pub elin: Option<Elin>,
    /// `<gp:method>`: how the location was found (IANA tokens such as
    /// `Manual`, `Wiremap`, `DHCP`).
    pub method: Option<String>,
    /// `<timestamp>` (xs:dateTime as written, for example
    /// `2024-05-01T12:00:00Z`).
    pub timestamp: Option<String>,
    /// `<gp:usage-rules>`.
    pub usage: UsageRules,
}

/// RFC 4119 section 2.2.2 usage rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageRules {
    /// `retransmission-allowed`; `false` unless the rule maker allows it
    /// (RFC 4119: absent means no).
    pub retransmission_allowed: bool,
    /// `retention-expiry` (xs:dateTime as written).
    pub retention_expiry: Option<String>,
}

impl LocationDoc {
    /// A document for `entity` with an empty location and default usage
    /// rules.
    pub fn new(entity: impl Into<String>) -> Self {
        LocationDoc {
            entity: entity.into(),
            device_id: None,
            civic: CivicAddress::default(),
            elin: None,
            method: None,
            timestamp: None,
            usage: UsageRules::default(),
        }
    }

    /// Parses an `application/pidf+xml` body; see the type's documentation.
    pub fn parse(body: &[u8]) -> Result<Self, PidfError> {
        parse(body)
    }

    /// Serializes to an `application/pidf+xml` body.
    pub fn to_xml(&self) -> Vec<u8> {
        self.to_xml_string().into_bytes()
    }

    /// Serializes to a string; see the type's documentation.
    pub fn to_xml_string(&self) -> String {
        write(self)
    }

    /// The device ID, classified.
    pub fn device_ref(&self) -> Option<DeviceRef<'_>> {
        let id = self.device_id.as_deref()?;
        Some(if let Some(mac) = strip_prefix_ignore_case(id, "mac:") {
            DeviceRef::Mac(mac)
        } else if id.len() >= 4 && id[..4].eq_ignore_ascii_case("urn:") {
            DeviceRef::Urn(id)
        } else {
            DeviceRef::Other(id)
        })
    }
}

impl FromStr for LocationDoc {
    type Err = PidfError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s.as_bytes())
    }
}

/// A device ID by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRef<'a> {
    /// `mac:` followed by this (hex digits, as written).
    Mac(&'a str),
    /// A URN, for example `urn:uuid:...` (an RFC 5626 instance).
    Urn(&'a str),
    /// Anything else, as written.
    Other(&'a str),
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The device ID for a MAC address written with `:`, `-`, `.` or no
/// separators, in either case: `mac:` and 12 lower-case hex digits (the
/// form of RFC 5491's examples). `None` when `mac` is not 6 octets.
pub fn mac_device_id(mac: &str) -> Option<String> {
    let hex: String = mac
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("mac:{}", hex.to_ascii_lowercase()))
}

/// The device ID for an RFC 5626 instance: the `+sip.instance` value with
/// its quotes and angle brackets removed (`"<urn:uuid:X>"` gives
/// `urn:uuid:X`).
pub fn instance_device_id(instance: &str) -> String {
    let v = instance.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
        .trim();
    v.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(v)
        .trim()
        .to_owned()
}

/// Why a body is not a usable PIDF-LO document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PidfError {
    /// The body is not well-formed UTF-8 XML.
    #[error("PIDF-LO body is not usable XML: {0}")]
    Xml(XmlError),
    /// The root element is not `<presence>` in the PIDF namespace.
    #[error("root element is <{found}>, expected <presence xmlns=\"{PIDF_NS}\">")]
    NotPidf {
        /// The local name of the root element found.
        found: String,
    },
    /// `<presence>` has no `entity` attribute (RFC 3863 requires it).
    #[error("<presence> lacks the required entity attribute (RFC 3863 section 4.1.1)")]
    MissingEntity,
    /// No `<gp:geopriv>` in a tuple, device or person: a presence document
    /// without location.
    #[error("the document has no <geopriv> location in a tuple, device or person (RFC 4119 section 2.2)")]
    NoLocation,
    /// The ELIN element holds something that is not E.164.
    #[error("the <elin> element is invalid: {0}")]
    InvalidElin(ElinError),
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

    /// The deepest element nesting the parser accepts.
    pub const MAX_DEPTH: usize = MAX_DEPTH;
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<TreeError> for PidfError {
    fn from(e: TreeError) -> Self {
        PidfError::Xml(XmlError(e))
    }
}

fn element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn write(doc: &LocationDoc) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<presence xmlns=\"");
    out.push_str(PIDF_NS);
    for (prefix, ns) in [
        ("dm", DATA_MODEL_NS),
        ("gp", GEOPRIV_NS),
        ("gbp", BASIC_POLICY_NS),
        ("ca", CIVIC_ADDR_NS),
    ] {
        out.push_str("\" xmlns:");
        out.push_str(prefix);
        out.push_str("=\"");
        out.push_str(ns);
    }
    out.push_str("\" entity=\"");
    escape_attr(&mut out, &doc.entity);
    out.push_str("\">\n");
    let device = doc.device_id.as_deref();
    if device.is_some() {
        out.push_str("<dm:device id=\"device\">\n");
    } else {
        out.push_str("<tuple id=\"location\">\n<status>\n");
    }
    geopriv(&mut out, doc);
    if let Some(elin) = &doc.elin {
        out.push_str("<elin:elin xmlns:elin=\"");
        out.push_str(ELIN_NS);
        out.push_str("\">");
        escape_text(&mut out, elin.as_str());
        out.push_str("</elin:elin>\n");
    }
    if let Some(id) = device {
        element(&mut out, "dm:deviceID", id);
        out.push('\n');
        if let Some(ts) = &doc.timestamp {
            element(&mut out, "dm:timestamp", ts);
            out.push('\n');
        }
        out.push_str("</dm:device>\n");
    } else {
        out.push_str("</status>\n");
        if let Some(ts) = &doc.timestamp {
            element(&mut out, "timestamp", ts);
            out.push('\n');
        }
        out.push_str("</tuple>\n");
    }
    out.push_str("</presence>\n");
    out
}

fn geopriv(out: &mut String, doc: &LocationDoc) {
    out.push_str("<gp:geopriv>\n<gp:location-info>\n<ca:civicAddress");
    if let Some(lang) = &doc.civic.lang {
        out.push_str(" xml:lang=\"");
        escape_attr(out, lang);
        out.push('"');
    }
    out.push('>');
    for (name, value) in doc.civic.fields() {
        if let Some(v) = value {
            out.push_str("<ca:");
            out.push_str(name);
            out.push('>');
            escape_text(out, v);
            out.push_str("</ca:");
            out.push_str(name);
            out.push('>');
        }
    }
    out.push_str("</ca:civicAddress>\n</gp:location-info>\n<gp:usage-rules>");
    element(
        out,
        "gbp:retransmission-allowed",
        if doc.usage.retransmission_allowed {
            "true"
        } else {
            "false"
        },
    );
    if let Some(r) = &doc.usage.retention_expiry {
        element(out, "gbp:retention-expiry", r);
    }
    out.push_str("</gp:usage-rules>\n");
    if let Some(m) = &doc.method {
        element(out, "gp:method", m);
        out.push('\n');
    }
    out.push_str("</gp:geopriv>\n");
}

/// Parses an `application/pidf+xml` body into a [`LocationDoc`].
pub fn parse(body: &[u8]) -> Result<LocationDoc, PidfError> {
    let root = parse_tree(body)?;
    if !root.is(PIDF_NS, "presence") {
        return Err(PidfError::NotPidf { found: root.name });
    }
    let entity = root
        .attr("entity")
        .ok_or(PidfError::MissingEntity)?
        .trim()
        .to_owned();
    let holders = [
        (DATA_MODEL_NS, "device"),
        (PIDF_NS, "tuple"),
        (DATA_MODEL_NS, "person"),
    ];
    let (holder, geo) = holders
        .iter()
        .find_map(|(ns, name)| {
            root.children_named(ns, name)
                .find_map(|h| find_geopriv(h).map(|g| (h, g)))
        })
        .ok_or(PidfError::NoLocation)?;

    let mut doc = LocationDoc::new(entity);
    if let Some(info) = geo.children_named(GEOPRIV_NS, "location-info").next() {
        let civic = info.children.iter().find(|c| {
            c.name == "civicAddress"
                && c.ns
                    .as_deref()
                    .is_none_or(|n| n.trim() == CIVIC_ADDR_NS || n.trim() == CIVIC_LOC_NS)
        });
        if let Some(civic) = civic {
            doc.civic = civic_from(civic);
        }
    }
    if let Some(rules) = geo.children_named(GEOPRIV_NS, "usage-rules").next() {
        for rule in &rules.children {
            match rule.name.as_str() {
                // RFC 4119's schema says xs:boolean, its examples say yes/no.
                "retransmission-allowed" => {
                    doc.usage.retransmission_allowed =
                        matches!(rule.text.trim(), "true" | "1" | "yes");
                }
                "retention-expiry" | "retention-expires" => {
                    doc.usage.retention_expiry = Some(rule.text.trim().to_owned());
                }
                _ => {}
            }
        }
    }
    doc.method = geo
        .children_named(GEOPRIV_NS, "method")
        .next()
        .map(|m| m.text.trim().to_owned());
    doc.device_id = holder
        .children_named(DATA_MODEL_NS, "deviceID")
        .next()
        .map(|d| d.text.trim().to_owned());
    doc.timestamp = holder
        .children
        .iter()
        .find(|c| {
            c.name == "timestamp"
                && c.ns
                    .as_deref()
                    .is_none_or(|n| n == PIDF_NS || n == DATA_MODEL_NS)
        })
        .map(|t| t.text.trim().to_owned());
    let elin = find_elin(holder).or_else(|| find_elin(&root));
    if let Some(e) = elin {
        doc.elin = Some(Elin::parse(e.text.trim()).map_err(PidfError::InvalidElin)?);
    }
    Ok(doc)
}

/// The geopriv of a tuple (under `<status>`), device or person (direct
/// child, as RFC 5491 writes it, or under a `<status>` too).
fn find_geopriv(holder: &Element) -> Option<&Element> {
    holder
        .children_named(GEOPRIV_NS, "geopriv")
        .next()
        .or_else(|| {
            holder
                .children_named(PIDF_NS, "status")
                .find_map(|s| s.children_named(GEOPRIV_NS, "geopriv").next())
        })
}

/// The first `<elin>` in Locus's namespace, depth first.
fn find_elin(el: &Element) -> Option<&Element> {
    let mut stack = vec![el];
    while let Some(e) = stack.pop() {
        if e.name == "elin" && e.ns.as_deref() == Some(ELIN_NS) {
            return Some(e);
        }
        stack.extend(e.children.iter().rev());
    }
    None
}

/// Trims and collapses whitespace runs (xs:token).
fn token(s: &str) -> String {
    s.split([' ', '\t', '\n', '\r'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn civic_from(el: &Element) -> CivicAddress {
    let mut civic = CivicAddress {
        lang: el.attr_ns(XML_NS, "lang").map(str::to_owned),
        ..CivicAddress::default()
    };
    let ns = el.ns.clone();
    for child in &el.children {
        if child.ns != ns {
            continue;
        }
        if let Some(slot) = civic.field_mut(&child.name) {
            if slot.is_none() {
                *slot = Some(token(&child.text));
            }
        }
    }
    civic
}
