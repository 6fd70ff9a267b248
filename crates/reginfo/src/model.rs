//! The RFC 3680 section 5 document model.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

/// The XML namespace of reginfo documents (RFC 3680 section 5.1).
pub const REGINFO_NS: &str = "urn:ietf:params:xml:ns:reginfo";

/// The XML namespace of the GRUU extension elements (RFC 5628 section 9).
pub const GRUUINFO_NS: &str = "urn:ietf:params:xml:ns:gruuinfo";

/// The MIME type of reginfo documents (RFC 3680 section 8.2).
pub const CONTENT_TYPE: &str = "application/reginfo+xml";

/// The contact parameter that carries a device's instance ID (RFC 5626
/// section 4.1); in reginfo it rides as `<unknown-param name="+sip.instance">`.
pub const SIP_INSTANCE_PARAM: &str = "+sip.instance";

/// A whole `application/reginfo+xml` document: the `<reginfo>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegInfo {
    /// The `version` attribute: starts at 0 and grows by one per document
    /// sent within one subscription (RFC 3680 section 5.1).
    pub version: u32,
    /// Whether the document holds the full state or only changes.
    pub state: DocState,
    /// One entry per address-of-record, in document order.
    pub registrations: Vec<Registration>,
}

impl RegInfo {
    /// An empty document.
    pub fn new(version: u32, state: DocState) -> Self {
        RegInfo {
            version,
            state,
            registrations: Vec::new(),
        }
    }

    /// Parses a reginfo body; see [`crate::parse`].
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        crate::parse::parse(body)
    }

    /// Serializes to an `application/reginfo+xml` body (UTF-8, with an XML
    /// declaration, no indentation).
    pub fn to_xml(&self) -> Vec<u8> {
        self.to_xml_string().into_bytes()
    }

    /// Serializes to a string; see [`RegInfo::to_xml`].
    pub fn to_xml_string(&self) -> String {
        crate::write::document(self.version, self.state, &self.registrations)
    }

    /// Every contact with the AOR it belongs to, in document order.
    pub fn contacts(&self) -> impl Iterator<Item = (&str, &Contact)> + '_ {
        self.registrations
            .iter()
            .flat_map(|r| r.contacts.iter().map(move |c| (r.aor.as_str(), c)))
    }
}

impl FromStr for RegInfo {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegInfo::parse(s.as_bytes())
    }
}

/// The `state` attribute of `<reginfo>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocState {
    /// `full`: the document is the whole state; the subscriber flushes its
    /// tables and rebuilds them (RFC 3680 section 5.2).
    Full,
    /// `partial`: the document holds only registrations that changed.
    Partial,
}

/// The `state` attribute of `<registration>` (RFC 3680 section 4.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegState {
    /// No contact is bound to the AOR.
    Init,
    /// At least one contact is bound.
    Active,
    /// The last contact went away (reported once, then back to init).
    Terminated,
}

/// The `state` attribute of `<contact>` (RFC 3680 section 4.7.1, figure 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactState {
    /// The contact is bound to the AOR.
    Active,
    /// The contact is no longer bound.
    Terminated,
}

/// The `event` attribute of `<contact>`: the transition that produced the
/// contact's state (RFC 3680 section 4.7.1, figure 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactEvent {
    /// Bound by a REGISTER (init to active).
    Registered,
    /// Bound administratively or by non-SIP means (init to active).
    Created,
    /// Refreshed by a REGISTER (stays active).
    Refreshed,
    /// Expiry shortened administratively (stays active).
    Shortened,
    /// Not refreshed in time (to terminated).
    Expired,
    /// Removed administratively; the client should register again.
    Deactivated,
    /// Removed administratively; the client should register again later.
    Probation,
    /// Removed by a REGISTER with expiry zero.
    Unregistered,
    /// Removed administratively; registering again will not help.
    Rejected,
}

macro_rules! token_enum {
    ($ty:ident { $($variant:ident => $token:literal),+ $(,)? }) => {
        impl $ty {
            /// The token used in the XML attribute.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $token),+ }
            }

            /// Reads the XML token (exact, case-sensitive as the schema says).
            pub fn from_token(token: &str) -> Option<Self> {
                match token { $($token => Some($ty::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

token_enum!(DocState { Full => "full", Partial => "partial" });
token_enum!(RegState { Init => "init", Active => "active", Terminated => "terminated" });
token_enum!(ContactState { Active => "active", Terminated => "terminated" });
token_enum!(ContactEvent {
    Registered => "registered",
    Created => "created",
    Refreshed => "refreshed",
    Shortened => "shortened",
    Expired => "expired",
    Deactivated => "deactivated",
    Probation => "probation",
    Unregistered => "unregistered",
    Rejected => "rejected",
});

impl ContactEvent {
    /// Every event, in the schema's order.
    pub const ALL: [ContactEvent; 9] = [
        ContactEvent::Registered,
        ContactEvent::Created,
        ContactEvent::Refreshed,
        ContactEvent::Shortened,
        ContactEvent::Expired,
        ContactEvent::Deactivated,
        ContactEvent::Probation,
        ContactEvent::Unregistered,
        ContactEvent::Rejected,
    ];

    /// The state a contact is in after this event (figure 2): the first
    /// four leave it active, the others terminate it.
    pub fn resulting_state(self) -> ContactState {
        match self {
            ContactEvent::Registered
            | ContactEvent::Created
            | ContactEvent::Refreshed
            | ContactEvent::Shortened => ContactState::Active,
            _ => ContactState::Terminated,
        }
    }
}

/// One `<registration>` element: the state of one address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The address-of-record (a URI).
    pub aor: String,
    /// Identifies the registration within the subscription; stable across
    /// notifications for one AOR.
    pub id: String,
    /// The AOR's state.
    pub state: RegState,
    /// The contacts, in document order.
    pub contacts: Vec<Contact>,
}

impl Registration {
    /// A registration with no contacts.
    pub fn new(aor: impl Into<String>, id: impl Into<String>, state: RegState) -> Self {
        Registration {
            aor: aor.into(),
            id: id.into(),
            state,
            contacts: Vec::new(),
        }
    }
}

/// One `<contact>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Identifies the contact (row) within the registration.
    pub id: String,
    /// Whether the contact is bound.
    pub state: ContactState,
    /// The transition that produced `state`.
    pub event: ContactEvent,
    /// The `<uri>` element: the contact URI.
    pub uri: String,
    /// The `<display-name>` element.
    pub display_name: Option<String>,
    /// Seconds until the binding expires.
    pub expires: Option<u64>,
    /// Seconds after which the client may register again (probation).
    pub retry_after: Option<u64>,
    /// Seconds the contact has been bound.
    pub duration_registered: Option<u64>,
    /// The `q` value, kept as written (for example `0.8` or Kamailio's `0.500`).
    pub q: Option<String>,
    /// Call-ID of the REGISTER that last updated the contact.
    pub callid: Option<String>,
    /// CSeq number of the REGISTER that last updated the contact.
    pub cseq: Option<u64>,
    /// Contact header parameters not defined by RFC 3261, as
    /// `(name, value)`; a parameter without value has an empty value. The
    /// device instance rides here as `+sip.instance` (see
    /// [`Contact::instance`]).
    pub unknown_params: Vec<(String, String)>,
    /// RFC 5628 `<gr:pub-gruu uri=...>`: the public GRUU, when assigned.
    pub pub_gruu: Option<String>,
    /// RFC 5628 `<gr:temp-gruu uri=... first-cseq=...>`: the latest
    /// temporary GRUU, when assigned.
    pub temp_gruu: Option<TempGruu>,
}

/// The RFC 5628 `<temp-gruu>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempGruu {
    /// The temporary GRUU.
    pub uri: String,
    /// The CSeq of the REGISTER that first produced this temporary GRUU.
    pub first_cseq: u64,
}

impl Contact {
    /// An active contact, event `registered`, with no optional fields.
    pub fn new(id: impl Into<String>, uri: impl Into<String>) -> Self {
        Contact {
            id: id.into(),
            state: ContactState::Active,
            event: ContactEvent::Registered,
            uri: uri.into(),
            display_name: None,
            expires: None,
            retry_after: None,
            duration_registered: None,
            q: None,
            callid: None,
            cseq: None,
            unknown_params: Vec::new(),
            pub_gruu: None,
            temp_gruu: None,
        }
    }

    /// The value of an unknown parameter (name compared case-insensitively,
    /// as SIP parameter names are).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.unknown_params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The device's instance ID (RFC 5626 `+sip.instance`) with the quotes
    /// and angle brackets of the parameter syntax removed, for example
    /// `urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6`. `None` when the
    /// parameter is absent or empty (Kamailio never sends it).
    pub fn instance(&self) -> Option<&str> {
        let v = self.param(SIP_INSTANCE_PARAM)?.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(v)
            .trim();
        let v = v
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(v)
            .trim();
        (!v.is_empty()).then_some(v)
    }

    /// Sets `+sip.instance` to `<urn>` in the quoted form RFC 5626 uses,
    /// replacing any previous value.
    pub fn set_instance(&mut self, urn: &str) {
        let value = format!("\"<{urn}>\"");
        if let Some(p) = self
            .unknown_params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(SIP_INSTANCE_PARAM))
        {
            p.1 = value;
        } else {
            self.unknown_params
                .push((SIP_INSTANCE_PARAM.to_owned(), value));
        }
    }
}
