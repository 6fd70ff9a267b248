//! The manager's domain records (E10, E12, E14, E16) as the store keeps
//! them and the HTTP API shows them.
//!
//! Every record serializes to JSON with serde; record ids are assigned by
//! the store (an `id` sent to a create call is ignored). Values that serde
//! can check by type (IP addresses, CIDRs, ELINs, enums) are checked while
//! deserializing, so a bad one is reported with its JSON path; the rest is
//! checked by the `validate` methods, whose [`ValidationError`] names the
//! field the same way (`members[1].port`).
//!
//! Times are Unix milliseconds (UTC) given by the caller: this module never
//! reads a clock.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use pidf_lo::{CivicAddress, Elin, ElinError};
use serde::{Deserialize, Serialize};

/// A record id, assigned by the store (SQLite row id).
pub type Id = i64;

/// Wall-clock time as Unix milliseconds, UTC.
pub type UnixMillis = i64;

/// Most bytes a compiled filter regex may take (see
/// [`regex::RegexBuilder::size_limit`]): operator input must not be able to
/// make the manager build a huge automaton. Generous for any realistic
/// filter (an alternation of a few hundred addresses fits).
pub const FILTER_REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Longest filter pattern accepted, in bytes, checked before compiling.
pub const FILTER_REGEX_MAX_LEN: usize = 4096;

/// The `username` a call server gets when none is given (E12, ICD).
pub const DEFAULT_USERNAME: &str = "911";

/// What kind of SIP server a call server record points at. It selects how
/// strictly reg events are read (Kamailio's quirks, DESIGN.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallServerType {
    /// Genesys SIP Server (the ICD's type).
    Genesys,
    /// Kamailio with `presence_reginfo` (per-AOR subscriptions).
    Kamailio,
    /// Locus's own SIP server.
    Locus,
    /// Any other registrar that follows RFC 3680.
    Rfc3680,
}

/// SIP transport towards a cluster member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// The port used when none is given: 5061 for TLS, else 5060 (ICD).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Udp | Transport::Tcp => 5060,
        }
    }

    /// The lower-case name (`udp`, `tcp`, `tls`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// One SIP server of a call server's cluster (E14, E15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MemberWire")]
pub struct Member {
    /// Its signalling address.
    pub ip: IpAddr,
    /// The transport to reach it.
    pub transport: Transport,
    /// Its port; when omitted in JSON, the transport's default.
    pub port: u16,
}

// The wire form lets `port` be omitted, which depends on `transport`, so a
// plain `#[serde(default)]` cannot express it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberWire {
    ip: IpAddr,
    #[serde(default)]
    transport: Transport,
    port: Option<u16>,
}

impl From<MemberWire> for Member {
    fn from(w: MemberWire) -> Self {
        Member {
            ip: w.ip,
            transport: w.transport,
            port: w.port.unwrap_or(w.transport.default_port()),
        }
    }
}

/// What a filter's regex is matched against (E14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterField {
    /// The device's source IP address, in its usual text form.
    Ip,
    /// The SIP username (user part of the AOR).
    Username,
    /// The device's MAC, lower-case, colon-separated (`00:11:22:aa:bb:cc`).
    Mac,
}

/// A filtering criterion (E14): devices whose `field` matches `regex` are
/// excluded from tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// What is matched.
    pub field: FilterField,
    /// The pattern (Rust `regex` syntax, unanchored: add `^...$` to match
    /// the whole value).
    pub regex: String,
}

/// How the manager subscribes to a call server's reg events (E1, E9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionMode {
    /// One SUBSCRIBE per SIP server covering every AOR (RFC 3680 to the
    /// server; the ICD's mode).
    #[default]
    Server,
    /// One SUBSCRIBE per AOR listed in [`CallServer::aors`] (Kamailio serves
    /// reg events per AOR only).
    PerAor,
}

/// A call server: the ICD's "Add Call Server" record (E14).
///
/// The ICD's "ELIN pool" field is the pool of [`CallServer::default_location_id`]:
/// in Locus an ELIN pool belongs to a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallServer {
    /// Assigned by the store.
    #[serde(default)]
    pub id: Id,
    /// The kind of SIP server.
    #[serde(rename = "type")]
    pub kind: CallServerType,
    /// A name for people; unique among call servers.
    pub name: String,
    /// Whether the manager subscribes to it and answers its calls.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether emergency onsite notification (E13 alerts) is on.
    #[serde(default)]
    pub onsite_notification_enabled: bool,
    /// The cluster's SIP servers, in priority order (E15).
    pub members: Vec<Member>,
    /// The Contact user of the 302 towards the gateway (E12).
    #[serde(default = "default_username")]
    pub username: String,
    /// Devices matching any of these are not tracked (E14).
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// How reg events are subscribed to.
    #[serde(default)]
    pub subscription_mode: SubscriptionMode,
    /// The AORs to subscribe to in [`SubscriptionMode::PerAor`].
    #[serde(default)]
    pub aors: Vec<String>,
    /// The location of devices no other rule places (E10), whose ELIN pool
    /// is the call server's pool.
    #[serde(default)]
    pub default_location_id: Option<Id>,
}

fn yes() -> bool {
    true
}

fn default_username() -> String {
    DEFAULT_USERNAME.to_owned()
}

/// An emergency response location (E10): a civic address and its ELIN pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Assigned by the store.
    #[serde(default)]
    pub id: Id,
    /// A name for people (`HQ floor 3`); unique among locations.
    pub name: String,
    /// The dispatchable address, as a JSON object keyed by RFC 5139
    /// element names (`country`, `A1`, `A3`, `RD`, `HNO`, `FLR`, `ROOM`,
    /// ...) plus `lang`.
    #[serde(with = "civic_json")]
    pub civic: CivicAddress,
    /// The ELIN pool, E.164. The first is the ELIN published for devices
    /// here (E11); emergency calls take them least recently used (E12).
    #[serde(with = "elin_json")]
    pub elins: Vec<Elin>,
}

impl Location {
    /// The ELIN published for devices at this location: the pool's first.
    pub fn primary_elin(&self) -> Option<&Elin> {
        self.elins.first()
    }
}

/// An IP network region (E10): devices whose source address is in `cidr`
/// are at `location_id` (longest prefix wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRegion {
    /// Assigned by the store.
    #[serde(default)]
    pub id: Id,
    /// A name for people (may be empty).
    #[serde(default)]
    pub name: String,
    /// The network, IPv4 or IPv6 (`10.1.3.0/24`). Host bits are cleared
    /// when stored.
    pub cidr: IpNet,
    /// Where devices in it are.
    pub location_id: Id,
}

/// How a manual assignment picks its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssignBy {
    /// By MAC address (normalized to lower-case colon form when stored).
    Mac,
    /// By SIP user: the AOR's user part, or the whole AOR.
    User,
}

/// A manual device assignment (E10): wins over every other rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualAssignment {
    /// Assigned by the store.
    #[serde(default)]
    pub id: Id,
    /// What `value` is.
    pub by: AssignBy,
    /// The MAC or user.
    pub value: String,
    /// Where the device is.
    pub location_id: Id,
}

/// Which rule placed a device (E10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocatedBy {
    /// A manual assignment by MAC or user.
    Manual,
    /// A network region.
    Region,
    /// The call server's default location.
    Default,
}

impl LocatedBy {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LocatedBy::Manual => "manual",
            LocatedBy::Region => "region",
            LocatedBy::Default => "default",
        }
    }

    /// Parses [`LocatedBy::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(LocatedBy::Manual),
            "region" => Some(LocatedBy::Region),
            "default" => Some(LocatedBy::Default),
            _ => None,
        }
    }
}

/// Whether a known device is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    /// Registered and placed at a location.
    Located,
    /// Registered, but no rule places it (no default location either):
    /// an emergency call from it gets the gateway's default ELIN.
    Unlocated,
}

impl DeviceState {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Located => "located",
            DeviceState::Unlocated => "unlocated",
        }
    }

    /// Parses [`DeviceState::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "located" => Some(DeviceState::Located),
            "unlocated" => Some(DeviceState::Unlocated),
            _ => None,
        }
    }
}

/// A registered device the manager tracks (E9, E10).
///
/// Its identity is (`call_server_id`, `aor`, `ident`): `ident` is the RFC
/// 5626 instance (`urn:uuid:...`) when the registrar reports one, else the
/// reginfo contact id. A `urn:uuid` instance is not a MAC; `mac` is known
/// only from an instance of the `mac:` form or from what the phone tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Assigned by the store.
    #[serde(default)]
    pub id: Id,
    /// The call server whose registrar reported it.
    pub call_server_id: Id,
    /// The address-of-record (`sip:alice@example.com`).
    pub aor: String,
    /// The device within the AOR: instance or contact id.
    pub ident: String,
    /// The AOR's user part (`alice`).
    pub user: String,
    /// The contact URI.
    pub contact: String,
    /// The address the device registered from, when known.
    pub source_ip: Option<IpAddr>,
    /// The MAC, lower-case colon form, when known.
    pub mac: Option<String>,
    /// Whether a rule placed it.
    pub state: DeviceState,
    /// Where it is.
    pub location_id: Option<Id>,
    /// Its published ELIN (its location's first).
    #[serde(with = "opt_elin_json")]
    pub elin: Option<Elin>,
    /// The rule that placed it.
    pub located_by: Option<LocatedBy>,
    /// When the record last changed.
    pub updated_at: UnixMillis,
}

/// One entry of a device's location history (E16): appended whenever the
/// device's location or ELIN changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationChange {
    /// When it changed.
    pub at: UnixMillis,
    /// The new location (`None`: no longer placed).
    pub location_id: Option<Id>,
    /// The new location's name at the time.
    pub location_name: Option<String>,
    /// The new ELIN.
    #[serde(with = "opt_elin_json")]
    pub elin: Option<Elin>,
    /// The rule that placed it.
    pub located_by: Option<LocatedBy>,
}

/// A recorded emergency call (E12, E16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyCall {
    /// Assigned by the store.
    #[serde(default)]
    pub id: Id,
    /// The call server that sent it, when known.
    pub call_server_id: Option<Id>,
    /// The caller's AOR (or From URI).
    pub caller_aor: String,
    /// The caller's user.
    pub caller_user: String,
    /// The tracked device, when it was found.
    pub device_id: Option<Id>,
    /// The location at the time of the call.
    pub location_id: Option<Id>,
    /// The location as text at the time of the call (a snapshot: later
    /// edits of the location do not rewrite the record).
    pub location_text: String,
    /// The ELIN handed out.
    #[serde(with = "opt_elin_json")]
    pub elin: Option<Elin>,
    /// The Contact user of the 302 (the gateway prefix, E12).
    pub gateway_username: String,
    /// When the INVITE arrived.
    pub received_at: UnixMillis,
    /// The 302's Contact as sent.
    pub answered_with: Option<String>,
    /// Alerts sent for the call (filled by the alerting issue, E13).
    #[serde(default)]
    pub alerts: Vec<String>,
}

/// What is wrong with a record, naming the field as a JSON path
/// (`members[0].port`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required text is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field.
        field: String,
    },
    /// A call server has no cluster member.
    #[error("{field} must list at least one SIP server")]
    NoMembers {
        /// The field.
        field: String,
    },
    /// Port 0.
    #[error("{field} must be 1..=65535, not 0")]
    PortZero {
        /// The field.
        field: String,
    },
    /// A filter regex does not compile or is too large.
    #[error("{field} is not a usable regex: {reason}")]
    InvalidRegex {
        /// The field.
        field: String,
        /// The compiler's message (including the size limit, when hit).
        reason: String,
    },
    /// A value is not an E.164 ELIN.
    #[error("{field}: {source}")]
    Elin {
        /// The field.
        field: String,
        /// Why.
        source: ElinError,
    },
    /// The same value appears twice where it must be unique.
    #[error("{field} repeats {value:?}")]
    Duplicate {
        /// The field.
        field: String,
        /// The repeated value.
        value: String,
    },
    /// Not a MAC address.
    #[error("{field}: {value:?} is not a MAC address (12 hex digits, optionally separated by ':', '-' or '.')")]
    BadMac {
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// Not a CIDR network.
    #[error("{field}: {value:?} is not a CIDR network like 10.1.0.0/16 or 2001:db8::/48")]
    BadCidr {
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// A text has characters the field cannot carry (a SIP user with `@`).
    #[error("{field}: {value:?} {expected}")]
    BadText {
        /// The field.
        field: String,
        /// The value.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// `per_aor` subscription mode with no AOR.
    #[error("{field} must list at least one AOR when subscription_mode is per_aor")]
    NoAors {
        /// The field.
        field: String,
    },
}

impl ValidationError {
    /// The JSON path of the offending field.
    pub fn field(&self) -> &str {
        match self {
            ValidationError::Empty { field }
            | ValidationError::NoMembers { field }
            | ValidationError::PortZero { field }
            | ValidationError::InvalidRegex { field, .. }
            | ValidationError::Elin { field, .. }
            | ValidationError::Duplicate { field, .. }
            | ValidationError::BadMac { field, .. }
            | ValidationError::BadCidr { field, .. }
            | ValidationError::BadText { field, .. }
            | ValidationError::NoAors { field } => field,
        }
    }
}

fn non_empty(field: &str, v: &str) -> Result<(), ValidationError> {
    if v.trim().is_empty() {
        return Err(ValidationError::Empty {
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// Compiles a filter pattern with the size limits (E14). Shared by
/// validation and the location engine so both accept the same patterns.
pub fn compile_filter_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > FILTER_REGEX_MAX_LEN {
        return Err(format!(
            "pattern is {} bytes; at most {FILTER_REGEX_MAX_LEN} allowed",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(FILTER_REGEX_SIZE_LIMIT)
        .dfa_size_limit(FILTER_REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// Characters RFC 3261 allows unescaped in a SIP URI user part (unreserved
/// and user-unreserved); the 302 Contact user must be one of these.
fn is_sip_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c)
}

impl CallServer {
    /// Checks what serde could not, in field order.
    pub fn validate(&self) -> Result<(), ValidationError> {
        non_empty("name", &self.name)?;
        if self.members.is_empty() {
            return Err(ValidationError::NoMembers {
                field: "members".into(),
            });
        }
        for (i, m) in self.members.iter().enumerate() {
            if m.port == 0 {
                return Err(ValidationError::PortZero {
                    field: format!("members[{i}].port"),
                });
            }
            if self.members[..i]
                .iter()
                .any(|o| o.ip == m.ip && o.port == m.port && o.transport == m.transport)
            {
                return Err(ValidationError::Duplicate {
                    field: format!("members[{i}]"),
                    value: format!("{}:{}/{}", m.ip, m.port, m.transport.as_str()),
                });
            }
        }
        non_empty("username", &self.username)?;
        if !self.username.chars().all(is_sip_user_char) {
            return Err(ValidationError::BadText {
                field: "username".into(),
                value: self.username.clone(),
                expected: "must be a SIP URI user part (letters, digits, -_.!~*'()&=+$,;?/)",
            });
        }
        for (i, f) in self.filters.iter().enumerate() {
            compile_filter_regex(&f.regex).map_err(|reason| ValidationError::InvalidRegex {
                field: format!("filters[{i}].regex"),
                reason,
            })?;
        }
        for (i, a) in self.aors.iter().enumerate() {
            non_empty(&format!("aors[{i}]"), a)?;
        }
        if self.subscription_mode == SubscriptionMode::PerAor && self.aors.is_empty() {
            return Err(ValidationError::NoAors {
                field: "aors".into(),
            });
        }
        Ok(())
    }
}

impl Location {
    /// Checks what serde could not: a name, a non-empty address with a
    /// country, at least one ELIN and no ELIN twice.
    pub fn validate(&self) -> Result<(), ValidationError> {
        non_empty("name", &self.name)?;
        if self.civic.is_empty() {
            return Err(ValidationError::Empty {
                field: "civic".into(),
            });
        }
        // A dispatchable location (RAY BAUM'S Act) starts with the country.
        non_empty("civic.country", self.civic.country.as_deref().unwrap_or(""))?;
        if self.elins.is_empty() {
            return Err(ValidationError::Empty {
                field: "elins".into(),
            });
        }
        for (i, e) in self.elins.iter().enumerate() {
            if self.elins[..i].contains(e) {
                return Err(ValidationError::Duplicate {
                    field: format!("elins[{i}]"),
                    value: e.as_str().to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl NetworkRegion {
    /// Clears the host bits of `cidr` (`10.1.2.3/16` becomes
    /// `10.1.0.0/16`), so equal networks compare and store equal.
    pub fn normalize(&mut self) {
        self.cidr = self.cidr.trunc();
    }
}

/// Parses a CIDR network for callers that hold text (configuration files).
pub fn parse_cidr(field: &str, value: &str) -> Result<IpNet, ValidationError> {
    value
        .trim()
        .parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| ValidationError::BadCidr {
            field: field.to_owned(),
            value: value.to_owned(),
        })
}

impl ManualAssignment {
    /// Checks the value and brings a MAC to its canonical form.
    pub fn normalize(&mut self) -> Result<(), ValidationError> {
        non_empty("value", &self.value)?;
        match self.by {
            AssignBy::Mac => {
                self.value = normalize_mac(&self.value).ok_or_else(|| ValidationError::BadMac {
                    field: "value".into(),
                    value: self.value.clone(),
                })?;
            }
            AssignBy::User => self.value = self.value.trim().to_owned(),
        }
        Ok(())
    }
}

/// A MAC in canonical form (`00:11:22:aa:bb:cc`), from 12 hex digits
/// optionally separated by `:`, `-` or `.` (and an optional `mac:` prefix,
/// the device-id form of `pidf_lo::mac_device_id`).
pub fn normalize_mac(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("mac:").unwrap_or(s);
    let hex: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.'))
        .collect();
    if hex.len() != 12 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = String::with_capacity(17);
    for (i, pair) in hex.chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.extend(pair.iter().map(|b| b.to_ascii_lowercase() as char));
    }
    Some(out)
}

/// The user part of an AOR (`sip:alice@example.com` gives `alice`; an AOR
/// without `@` gives the part after the scheme).
pub fn aor_user(aor: &str) -> &str {
    let s = aor.trim();
    let s = s
        .strip_prefix("sips:")
        .or_else(|| s.strip_prefix("sip:"))
        .or_else(|| s.strip_prefix("tel:"))
        .unwrap_or(s);
    let s = s.split(['@', ';']).next().unwrap_or(s);
    s.split(':').next().unwrap_or(s)
}

impl fmt::Display for CallServerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallServerType::Genesys => "genesys",
            CallServerType::Kamailio => "kamailio",
            CallServerType::Locus => "locus",
            CallServerType::Rfc3680 => "rfc3680",
        })
    }
}

/// Serde for [`CivicAddress`] (the pidf-lo crate has no serde): a JSON
/// object of the RFC 5139 element names that are set, plus `lang`.
mod civic_json {
    use std::collections::BTreeMap;

    use pidf_lo::CivicAddress;
    use serde::de::Error as _;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(a: &CivicAddress, s: S) -> Result<S::Ok, S::Error> {
        let set: Vec<(&str, &str)> = a
            .fields()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let mut m = s.serialize_map(Some(set.len() + usize::from(a.lang.is_some())))?;
        if let Some(l) = &a.lang {
            m.serialize_entry("lang", l)?;
        }
        for (k, v) in set {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CivicAddress, D::Error> {
        let raw = BTreeMap::<String, Option<String>>::deserialize(d)?;
        let mut a = CivicAddress::default();
        for (k, v) in raw {
            // Empty strings mean "not set", so a form can send every field.
            let v = v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            if k == "lang" {
                a.lang = v;
                continue;
            }
            match a.field_mut(&k) {
                Some(f) => *f = v,
                None => {
                    return Err(D::Error::custom(format!(
                        "unknown civic address element {k:?}; expected lang or one of {}",
                        CivicAddress::ELEMENTS.join(", ")
                    )))
                }
            }
        }
        Ok(a)
    }
}

/// Serde for a list of ELINs as E.164 strings.
mod elin_json {
    use pidf_lo::Elin;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[Elin], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for e in v {
            seq.serialize_element(e.as_str())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Elin>, D::Error> {
        // Each element goes through `ElinStr` so an error names its index
        // in the JSON path.
        Ok(Vec::<super::ElinStr>::deserialize(d)?
            .into_iter()
            .map(|e| e.0)
            .collect())
    }
}

/// Serde for an optional ELIN as an E.164 string or null.
mod opt_elin_json {
    use pidf_lo::Elin;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Elin>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(e) => s.serialize_some(e.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Elin>, D::Error> {
        Ok(Option::<super::ElinStr>::deserialize(d)?.map(|e| e.0))
    }
}

/// One ELIN read from a JSON string, validated.
struct ElinStr(Elin);

impl<'de> Deserialize<'de> for ElinStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Elin::parse(s.trim())
            .map(ElinStr)
            .map_err(serde::de::Error::custom)
    }
}
