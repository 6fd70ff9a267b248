//! Carrier trunks: which traffic is a carrier's (C4), and what a trunk
//! accepts (C5 to C8, C17) under its profile.
//!
//! Pure: classification by source address and the per-request verdicts.
//! Routing a call onward is the B2BUA's; this module only says whether the
//! request may go on, or how it is refused.

use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::Deserialize;
use sip_core::{Method, Request, Uri};

use crate::config::Invalid;
use crate::number::E164;
use crate::ratelimit::Rate;

/// The methods a trunk supports, as its `Allow` header lists them (C5).
pub const TRUNK_ALLOW: &str = "INVITE, ACK, BYE, CANCEL, REFER, NOTIFY, OPTIONS, INFO";

/// A trunk's product profile (Genesys spec section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Genesys Cloud Voice: E.164 numbers required (C8).
    Voice,
    /// Bring Your Own Carrier, Cloud: any user part passes unchanged.
    Byoc,
}

/// `[[sip.trunks]]`: one carrier trunk.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Unique name, used in routes and logs.
    pub name: String,
    /// `voice` or `byoc`.
    pub profile: Profile,
    /// The carrier's source addresses: IPs, CIDR blocks or DNS names (C4).
    /// Only traffic from these is served as this trunk. A name stands for
    /// its A and AAAA records, resolved by the driver at start and again
    /// as their TTLs expire ([`Trunks::set_carrier_name`]).
    pub carrier_addresses: Vec<String>,
    /// Per-source rate limit for this carrier's addresses (C20).
    #[serde(default = "default_trunk_rate")]
    pub rate_limit: RateConfig,
    /// Where calls to this carrier go, failing over on 503, timeout and
    /// transport failure (C13). Each entry is a DNS name (`carrier.example`:
    /// RFC 3263, SRV `_sip._udp` / `_sip._tcp` by priority and weight, then
    /// A at the default port), a name with a port (`sbc.example:5080`: A
    /// only), or an IP with an optional port (`192.0.2.10:5060`). Names are
    /// tried first, in the order written; the IPs last, in the order
    /// `spread` gives (C20).
    #[serde(default)]
    pub outbound: Vec<String>,
    /// The carrier's custom domain (BYOC): the host of the Request-URI and
    /// To of calls sent to this carrier, and a host accepted in the
    /// Request-URI of its requests (C9).
    #[serde(default)]
    pub domain: Option<String>,
    /// Credentials answering the carrier's digest challenges (C18).
    #[serde(default)]
    pub auth: Option<TrunkAuth>,
    /// Transport toward the carrier's `outbound` endpoints.
    #[serde(default)]
    pub transport: TrunkTransport,
    /// Send compact header names to this carrier (C14).
    #[serde(default)]
    pub compact_headers: bool,
    /// How calls are spread over the `outbound` endpoints (C20).
    #[serde(default)]
    pub spread: Spread,
    /// How the calling identity is sent to this carrier (C19): `pai`
    /// (default), `rpid` or `from`.
    #[serde(default)]
    pub identity: crate::identity::IdentityMode,
    /// E3/E4 (ICD `emergency-device`): this trunk is a "DN trunk" of the
    /// emergency path: the E911 manager's, or the emergency gateway's.
    /// Emergency dial strings go to the emergency-device trunk whose
    /// `prefix` matches them best (the manager); only such a trunk's 302 is
    /// followed (E5), and PUBLISH is accepted only from such trunks (E11).
    #[serde(default)]
    pub emergency_device: bool,
    /// E3 (ICD `prefix`): the dial-string prefix this trunk serves. For
    /// emergency calls, the dialed string picks the emergency-device trunk
    /// with the longest matching prefix (the manager); the manager's 302
    /// Contact user is routed by longest prefix among the other trunks
    /// (the gateway, whose prefix must differ from the manager's).
    #[serde(default)]
    pub prefix: Option<String>,
    /// E3 (ICD `oos-check`): seconds between OPTIONS probes of each
    /// `outbound` IP endpoint, 0 to 300; 0 turns probing off.
    #[serde(default)]
    pub oos_check: u32,
    /// E3 (ICD `oos-force`): seconds without an answer to a probe before
    /// the endpoint is out of service (skipped by calls), 0 to 30; 0 waits
    /// for the probe's transaction timeout (64*T1). Any answer puts it back.
    #[serde(default)]
    pub oos_force: u32,
    /// E8: the ELIN (E.164, `+` and digits) an emergency call sent to this
    /// gateway trunk carries when the manager failed and the device has no
    /// published ELIN.
    #[serde(default)]
    pub default_elin: Option<String>,
    /// E6: emergency calls sent to this trunk (as the gateway) carry the
    /// device's location by value when one is known: a `multipart/mixed`
    /// body with the SDP and the PIDF-LO (civic address and ELIN), named
    /// by `Geolocation: <cid:...>` with `Geolocation-Routing: yes` (RFC
    /// 6442). Without a known location the call goes out with the ELIN
    /// only. Not allowed on the manager's trunk.
    #[serde(default)]
    pub send_location: bool,
    /// C8 (byoc only): DNIS replacement rules, in order. The first rule
    /// whose `match` regex matches the called user (the Request-URI user)
    /// replaces the matched text with `replace` (`$1`, `${name}` captures);
    /// the result is the DID for inbound routing and the user sent on.
    /// With no match the user passes unmodified.
    #[serde(default)]
    pub dnis: Vec<DnisRule>,
}

/// One `dnis` rule of a byoc trunk (C8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnisRule {
    /// A regular expression (Rust `regex` syntax) tried on the called user;
    /// anchor it (`^...$`) to rewrite the whole user.
    #[serde(rename = "match")]
    pub pattern: String,
    /// What replaces the matched text: `$1`, `${1}`, `${name}` name captures.
    pub replace: String,
}

/// Compiled size limit of a `dnis` regex: configuration cannot make the
/// server build huge automata.
const DNIS_REGEX_SIZE_LIMIT: usize = 1 << 20;

impl DnisRule {
    /// The compiled `match`, or why it is not a valid expression.
    fn compile(&self) -> Result<regex::Regex, String> {
        regex::RegexBuilder::new(&self.pattern)
            .size_limit(DNIS_REGEX_SIZE_LIMIT)
            .dfa_size_limit(DNIS_REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
    }
}

/// Whether a `replace` template, its `${...}` references aside, only holds
/// characters a SIP URI user may carry unescaped (RFC 3261 section 25.1).
fn dnis_replace_ok(r: &str) -> bool {
    let mut rest = r;
    let mut plain = String::new();
    while let Some(i) = rest.find("${") {
        plain.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => rest = &rest[i + j + 1..],
            None => return false,
        }
    }
    plain.push_str(rest);
    !r.is_empty()
        && plain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b))
}

impl TrunkConfig {
    /// Whether `number` starts with this trunk's `prefix` (E3); the length
    /// of the match.
    pub fn prefix_match(&self, number: &str) -> Option<usize> {
        let p = self.prefix.as_deref()?;
        number.starts_with(p).then_some(p.len())
    }
}

/// `auth` of a trunk: digest credentials for the carrier's 401/407 (C18).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// Answer only challenges of this realm; any realm when absent.
    #[serde(default)]
    pub realm: Option<String>,
}

impl std::fmt::Debug for TrunkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log.
        f.debug_struct("TrunkAuth")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// `transport` of a trunk: how Locus sends to the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

impl TrunkTransport {
    /// As a transport of `sip-transport`.
    pub fn transport(self) -> sip_transport::Transport {
        match self {
            TrunkTransport::Udp => sip_transport::Transport::Udp,
            TrunkTransport::Tcp => sip_transport::Transport::Tcp,
        }
    }
}

/// `spread` of a trunk: the order endpoints are tried in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// A random rotation of the list for each call: traffic spread evenly
    /// (Genesys spec 2.4.2.2), the rest of the list as failover.
    #[default]
    Random,
    /// Always the configured order: the first endpoint is primary.
    InOrder,
}

/// One `outbound` entry that is a DNS name (C9, C20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundName {
    /// The name, lower case, without a trailing dot.
    pub name: String,
    /// The explicit port: A records only (RFC 3263 section 4.2); without
    /// one, SRV first.
    pub port: Option<u16>,
}

/// One parsed `outbound` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundEntry {
    /// An IP address (port 5060 when none is written).
    Addr(SocketAddr),
    /// A DNS name, with or without a port.
    Name(OutboundName),
}

impl OutboundEntry {
    /// Parses `192.0.2.10:5060`, `192.0.2.10`, `[2001:db8::1]:5060`,
    /// `carrier.example`, `sbc.carrier.example:5080`.
    pub fn parse(s: &str) -> Option<OutboundEntry> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Some(OutboundEntry::Addr(a));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Some(OutboundEntry::Addr(SocketAddr::new(ip, 5060)));
        }
        let (name, port) = match s.rsplit_once(':') {
            Some((n, p)) => (n, Some(p.parse::<u16>().ok().filter(|p| *p != 0)?)),
            None => (s, None),
        };
        match sip_resolve::Host::parse(name).ok()? {
            sip_resolve::Host::Name(name) if name.contains(|c: char| c.is_ascii_alphabetic()) => {
                Some(OutboundEntry::Name(OutboundName { name, port }))
            }
            _ => None,
        }
    }
}

/// Where a trunk's calls go. The B2BUA asks for [`Target::endpoints`]
/// (the configured IPs) and [`Target::names`] (resolved per call through
/// the driver's resolver, see the `b2bua` module): C20's order is the names'
/// SRV then A endpoints, then the IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Configured addresses only (`outbound = ["IP:PORT", ...]`).
    Static(Vec<SocketAddr>),
    /// DNS names, then configured addresses as the last resort.
    Dns {
        /// The names, in the order configured.
        names: Vec<OutboundName>,
        /// The configured IPs.
        fallback: Vec<SocketAddr>,
    },
}

impl Target {
    /// Builds the target of `outbound` entries (invalid ones are skipped).
    pub fn new(outbound: &[String]) -> Target {
        let mut names = Vec::new();
        let mut addrs = Vec::new();
        for e in outbound.iter().filter_map(|e| OutboundEntry::parse(e)) {
            match e {
                OutboundEntry::Addr(a) => addrs.push(a),
                OutboundEntry::Name(n) => names.push(n),
            }
        }
        if names.is_empty() {
            Target::Static(addrs)
        } else {
            Target::Dns {
                names,
                fallback: addrs,
            }
        }
    }

    /// The DNS names to resolve for each call, in order.
    pub fn names(&self) -> &[OutboundName] {
        match self {
            Target::Static(_) => &[],
            Target::Dns { names, .. } => names,
        }
    }

    /// The configured IPs to try for one call, in order (after the names').
    pub fn endpoints(&self, spread: Spread) -> Vec<SocketAddr> {
        match self {
            Target::Static(list) | Target::Dns { fallback: list, .. } => {
                let mut v = list.clone();
                if spread == Spread::Random && v.len() > 1 {
                    // RandomState is seeded per process and per instance:
                    // enough randomness to spread load, no extra dependency.
                    let r = std::collections::hash_map::RandomState::new()
                        .build_hasher()
                        .finish();
                    let n = v.len();
                    v.rotate_left(usize::try_from(r % n as u64).unwrap_or(0));
                }
                v
            }
        }
    }
}

/// A rate limit: sustained requests per second and burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Sustained requests per second from one source (0 turns the limit off).
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

impl RateConfig {
    /// As a limiter rate.
    pub fn rate(self) -> Rate {
        Rate {
            per_second: self.per_second,
            burst: self.burst,
        }
    }
}

fn default_trunk_rate() -> RateConfig {
    RateConfig {
        per_second: 200,
        burst: 400,
    }
}

/// An IP block: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    addr: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Parses `192.0.2.10`, `192.0.2.0/24`, `2001:db8::/32`.
    pub fn parse(s: &str) -> Option<IpBlock> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = ip.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpBlock { addr, prefix })
    }

    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// A trunk ready to match traffic.
#[derive(Debug, Clone)]
pub struct Trunk {
    /// Its configuration.
    pub config: TrunkConfig,
    blocks: Vec<IpBlock>,
    /// The DNS names among `carrier_addresses`, each with the addresses it
    /// resolved to last (empty until the first answer).
    names: Vec<(String, Vec<IpAddr>)>,
    /// Where its calls go.
    pub target: Target,
    /// Endpoints found out of service by OPTIONS probing (E3).
    pub out_of_service: Vec<SocketAddr>,
    /// The compiled `dnis` rules (C8), in order.
    dnis: Vec<(regex::Regex, String)>,
}

impl Trunk {
    /// The called user after DNIS replacement (C8, byoc): the first rule
    /// matching `user` rewrites it; unmodified when none matches.
    pub fn dnis(&self, user: &str) -> String {
        self.dnis
            .iter()
            .find(|(re, _)| re.is_match(user))
            .map_or_else(
                || user.to_owned(),
                |(re, rep)| re.replace(user, rep.as_str()).into_owned(),
            )
    }

    /// Whether `ip` is one of the carrier's addresses (C4).
    pub fn serves(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
            || self.names.iter().any(|(_, ips)| ips.contains(&ip))
    }

    /// Whether calls may reach it: a DNS name, or an IP endpoint not out of
    /// service (E3).
    pub fn in_service(&self) -> bool {
        !self.target.names().is_empty()
            || self
                .target
                .endpoints(Spread::InOrder)
                .iter()
                .any(|a| !self.out_of_service.contains(a))
    }

    /// The IP endpoints calls try, in order, out-of-service ones skipped
    /// (E3). Emergency-device trunks keep the configured order (ICD
    /// `contact`, then `contact-list`).
    pub fn live_endpoints(&self) -> Vec<SocketAddr> {
        let spread = if self.config.emergency_device {
            Spread::InOrder
        } else {
            self.config.spread
        };
        let mut v = self.target.endpoints(spread);
        v.retain(|a| !self.out_of_service.contains(a));
        v
    }
}

/// Checks `[[sip.trunks]]` entries; `index` is the entry's position.
pub fn validate(trunks: &[TrunkConfig]) -> Vec<Invalid> {
    let mut out = Vec::new();
    for (i, t) in trunks.iter().enumerate() {
        let key = |k: &str| format!("sip.trunks[{i}].{k}");
        if t.name.is_empty()
            || !t
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            out.push(Invalid {
                key: key("name"),
                value: format!("{:?}", t.name),
                allowed: "letters, digits, '-' and '_'".into(),
            });
        }
        if trunks[..i].iter().any(|o| o.name == t.name) {
            out.push(Invalid {
                key: key("name"),
                value: format!("{:?}", t.name),
                allowed: "a name no other trunk uses".into(),
            });
        }
        if t.carrier_addresses.is_empty() {
            out.push(Invalid {
                key: key("carrier_addresses"),
                value: "[]".into(),
                allowed: "at least one IP address, CIDR block or DNS name of the carrier".into(),
            });
        }
        for (j, a) in t.outbound.iter().enumerate() {
            if OutboundEntry::parse(a).is_none() {
                out.push(Invalid {
                    key: format!("sip.trunks[{i}].outbound[{j}]"),
                    value: format!("{a:?}"),
                    allowed:
                        "an IP address with optional port (\"192.0.2.10:5060\", \
                              \"[2001:db8::1]:5060\"), a DNS name (\"carrier.example\": SRV, \
                              then A) or a DNS name and port (\"sbc.carrier.example:5080\": A only)"
                            .into(),
                });
            }
        }
        if let Some(d) = &t.domain {
            if !is_dns_name(d) {
                out.push(Invalid {
                    key: key("domain"),
                    value: format!("{d:?}"),
                    allowed: "a DNS name (letters, digits, '-' and '.')".into(),
                });
            }
        }
        if let Some(a) = &t.auth {
            for (k, v) in [("username", &a.username), ("password", &a.password)] {
                if v.is_empty() || v.chars().any(char::is_control) {
                    out.push(Invalid {
                        key: key(&format!("auth.{k}")),
                        value: if k == "password" {
                            "(hidden)".into()
                        } else {
                            format!("{v:?}")
                        },
                        allowed: "non-empty text without control characters".into(),
                    });
                }
            }
            if let Some(r) = &a.realm {
                if r.is_empty() || r.chars().any(char::is_control) {
                    out.push(Invalid {
                        key: key("auth.realm"),
                        value: format!("{r:?}"),
                        allowed: "the carrier's realm, non-empty text (omit the key for any realm)"
                            .into(),
                    });
                }
            }
        }
        if let Some(p) = &t.prefix {
            let ok = !p.is_empty()
                && p.len() <= 32
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+*#".contains(&b));
            if !ok {
                out.push(Invalid {
                    key: key("prefix"),
                    value: format!("{p:?}"),
                    allowed: "1 to 32 digits, letters, '+', '*' or '#'".into(),
                });
            }
        }
        if t.oos_check > 300 {
            out.push(Invalid {
                key: key("oos_check"),
                value: t.oos_check.to_string(),
                allowed: "0 to 300 (seconds; 0 = no probing)".into(),
            });
        }
        if t.oos_force > 30 {
            out.push(Invalid {
                key: key("oos_force"),
                value: t.oos_force.to_string(),
                allowed: "0 to 30 (seconds)".into(),
            });
        }
        if let Some(e) = &t.default_elin {
            if E164::parse(e).is_none() {
                out.push(Invalid {
                    key: key("default_elin"),
                    value: format!("{e:?}"),
                    allowed: "an E.164 number: '+' and digits (\"+15551230300\")".into(),
                });
            }
        }
        if !t.dnis.is_empty() && t.profile != Profile::Byoc {
            out.push(Invalid {
                key: key("dnis"),
                value: format!("{} rules on a {:?} trunk", t.dnis.len(), t.profile),
                allowed: "DNIS replacement only on profile = \"byoc\" trunks (voice numbers pass as E.164)"
                    .into(),
            });
        }
        for (j, r) in t.dnis.iter().enumerate() {
            if let Err(e) = r.compile() {
                out.push(Invalid {
                    key: format!("sip.trunks[{i}].dnis[{j}].match"),
                    value: format!("{:?}", r.pattern),
                    allowed: format!("a regular expression (regex crate syntax): {e}"),
                });
            }
            if !dnis_replace_ok(&r.replace) {
                out.push(Invalid {
                    key: format!("sip.trunks[{i}].dnis[{j}].replace"),
                    value: format!("{:?}", r.replace),
                    allowed: "non-empty SIP user characters (letters, digits, -_.!~*'()&=+$,;?/) and $1 / ${name} captures"
                        .into(),
                });
            }
        }
        for (j, a) in t.carrier_addresses.iter().enumerate() {
            if IpBlock::parse(a).is_none() && !is_dns_name(a) {
                out.push(Invalid {
                    key: format!("sip.trunks[{i}].carrier_addresses[{j}]"),
                    value: format!("{a:?}"),
                    allowed: "an IP address (\"192.0.2.10\"), CIDR block (\"192.0.2.0/24\") or DNS name (\"sip.carrier.example\")"
                        .into(),
                });
            }
        }
    }
    out
}

/// A carrier DNS name as compared: lower case, without the trailing dot.
fn carrier_name(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `s` is a DNS name (letters, digits, '-', '.'; at least one letter).
pub(crate) fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// The configured trunks, matched by source address.
#[derive(Debug, Clone, Default)]
pub struct Trunks {
    /// Shared: each request takes its trunk with it through the core
    /// (a reference count, where a copy of the whole configuration was
    /// made per request); the rare changes copy on write.
    trunks: Vec<Arc<Trunk>>,
}

impl Trunks {
    /// Builds the table from validated configuration (invalid blocks are skipped).
    pub fn new(configs: &[TrunkConfig]) -> Self {
        let trunks = configs
            .iter()
            .map(|c| {
                Arc::new(Trunk {
                    blocks: c
                        .carrier_addresses
                        .iter()
                        .filter_map(|a| IpBlock::parse(a))
                        .collect(),
                    names: c
                        .carrier_addresses
                        .iter()
                        .filter(|a| IpBlock::parse(a).is_none() && is_dns_name(a))
                        .map(|a| (carrier_name(a), Vec::new()))
                        .collect(),
                    target: Target::new(&c.outbound),
                    config: c.clone(),
                    out_of_service: Vec::new(),
                    dnis: c
                        .dnis
                        .iter()
                        .filter_map(|r| Some((r.compile().ok()?, r.replace.clone())))
                        .collect(),
                })
            })
            .collect();
        Self { trunks }
    }

    /// The trunk whose carrier sent from `ip`, if any (C4). The first
    /// configured trunk wins when blocks overlap.
    pub fn by_source(&self, ip: IpAddr) -> Option<&Arc<Trunk>> {
        self.trunks.iter().find(|t| t.serves(ip))
    }

    /// Every DNS name in the trunks' `carrier_addresses`, once each, in
    /// configured order (lower case, no trailing dot): what the driver
    /// resolves (C4).
    pub fn carrier_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in &self.trunks {
            for (n, _) in &t.names {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
        out
    }

    /// The addresses carrier name `name` resolves to now (its A and AAAA
    /// records): from now on, only these are served as the trunks that
    /// list the name (C4). `true` when a trunk's set changed.
    pub fn set_carrier_name(&mut self, name: &str, ips: &[IpAddr]) -> bool {
        let name = carrier_name(name);
        let mut sorted = ips.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut changed = false;
        for t in &mut self.trunks {
            if !t.names.iter().any(|(n, set)| *n == name && *set != sorted) {
                continue;
            }
            for (n, set) in &mut Arc::make_mut(t).names {
                if *n == name && *set != sorted {
                    set.clone_from(&sorted);
                    changed = true;
                }
            }
        }
        changed
    }

    /// The trunk with this name.
    pub fn by_name(&self, name: &str) -> Option<&Trunk> {
        self.trunks
            .iter()
            .find(|t| t.config.name == name)
            .map(|t| &**t)
    }

    /// The trunks `keep` keeps, in configured order.
    pub fn subset(&self, keep: impl Fn(&Trunk) -> bool) -> Trunks {
        Trunks {
            trunks: self.trunks.iter().filter(|t| keep(t)).cloned().collect(),
        }
    }

    /// Every trunk, in configured order.
    pub fn all(&self) -> &[Arc<Trunk>] {
        &self.trunks
    }

    /// Marks endpoint `addr` of trunk `name` in or out of service (E3);
    /// `true` when that changed its state.
    pub fn set_in_service(&mut self, name: &str, addr: SocketAddr, up: bool) -> bool {
        let Some(t) = self.trunks.iter_mut().find(|t| t.config.name == name) else {
            return false;
        };
        let down = t.out_of_service.contains(&addr);
        if up && down {
            Arc::make_mut(t).out_of_service.retain(|a| *a != addr);
            true
        } else if !up && !down {
            Arc::make_mut(t).out_of_service.push(addr);
            true
        } else {
            false
        }
    }

    /// The emergency manager for dial string `dialed` (E4): the
    /// emergency-device trunk with the longest prefix matching it (the
    /// first configured among equals), in service or not.
    pub fn emergency_manager(&self, dialed: &str) -> Option<&Trunk> {
        let mut best: Option<(&Trunk, usize)> = None;
        for t in self.trunks.iter().filter(|t| t.config.emergency_device) {
            let t: &Trunk = t;
            if let Some(n) = t.config.prefix_match(dialed) {
                if best.is_none_or(|(_, b)| n > b) {
                    best = Some((t, n));
                }
            }
        }
        best.map(|(t, _)| t)
    }

    /// The emergency gateway for `number` (E5, E8): among trunks that are
    /// not `managers` (never back to a manager), the longest prefix
    /// matching `number`; when none matches, the first emergency-device
    /// trunk that is not a manager (fail-open must find a gateway).
    /// Out-of-service trunks are skipped.
    pub fn emergency_gateway(&self, number: &str, managers: &[String]) -> Option<&Trunk> {
        let others = || {
            self.trunks
                .iter()
                .map(|t| &**t)
                .filter(move |t| !managers.contains(&t.config.name) && t.in_service())
        };
        let mut best: Option<(&Trunk, usize)> = None;
        for t in others() {
            if let Some(n) = t.config.prefix_match(number) {
                if best.is_none_or(|(_, b)| n > b) {
                    best = Some((t, n));
                }
            }
        }
        best.map(|(t, _)| t)
            .or_else(|| others().find(|t| t.config.emergency_device))
    }
}

/// How a trunk refuses a request before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 405 with `Allow` (C6, C17).
    MethodNotAllowed,
    /// 501 with `Allow` (C7).
    NotImplemented,
    /// 484: no E.164 number in Request-URI or To (C8, `voice`).
    AddressIncomplete,
}

impl Refusal {
    /// Status code and reason phrase.
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Refusal::MethodNotAllowed => (405, "Method Not Allowed"),
            Refusal::NotImplemented => (501, "Not Implemented"),
            Refusal::AddressIncomplete => (484, "Address Incomplete"),
        }
    }
}

/// The user part of a SIP or tel URI, unescaped.
fn user_of(uri: &Uri<'_>) -> Option<String> {
    match uri {
        Uri::Sip(s) => s
            .user_unescaped()
            .map(|u| String::from_utf8_lossy(&u).into_owned()),
        Uri::Tel(t) => Some(t.to_string().trim_start_matches("tel:").to_owned()),
        _ => None,
    }
}

/// The called number of a `voice` request: the Request-URI user if it is
/// E.164, else the To user if it is (C8: "at least one of").
pub fn called_e164(req: &Request) -> Option<E164> {
    let ruri = user_of(&req.uri()).and_then(|u| E164::parse(user_before_params(&u)));
    ruri.or_else(|| {
        let to = req.to()?;
        user_of(&to.uri).and_then(|u| E164::parse(user_before_params(&u)))
    })
}

/// A tel URI's digits end at its first parameter.
fn user_before_params(u: &str) -> &str {
    u.split(';').next().unwrap_or(u)
}

impl Trunk {
    /// The verdict of this trunk's rules on a request: `None` when it may
    /// go on to routing.
    pub fn check(&self, req: &Request) -> Option<Refusal> {
        let in_dialog = req.to_tag().is_some();
        match req.method() {
            Method::Invite => {
                if self.config.profile == Profile::Voice && !in_dialog && called_e164(req).is_none()
                {
                    return Some(Refusal::AddressIncomplete);
                }
                None
            }
            Method::Ack | Method::Bye | Method::Cancel | Method::Refer | Method::Notify => None,
            Method::Options => None,
            Method::Info if !in_dialog => None,
            Method::Info
            | Method::Subscribe
            | Method::Message
            | Method::Update
            | Method::Prack
            | Method::Publish
            | Method::Register => Some(Refusal::MethodNotAllowed),
            Method::Extension(_) => Some(Refusal::NotImplemented),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A voice trunk for tests: served for `from`, calls out to
    /// `outbound` (in order), no rate limit, every option at its default.
    pub(crate) fn voice(name: &str, from: &str, outbound: &[&str]) -> TrunkConfig {
        TrunkConfig {
            rate_limit: RateConfig {
                per_second: 0,
                burst: 0,
            },
            profile: Profile::Voice,
            outbound: outbound.iter().map(|s| (*s).to_owned()).collect(),
            spread: Default::default(),
            transport: Default::default(),
            ..dn(name, from, false, None)
        }
    }

    /// A DN trunk of the E911 ICD (E3) for tests.
    pub(crate) fn dn(name: &str, ip: &str, emergency: bool, prefix: Option<&str>) -> TrunkConfig {
        TrunkConfig {
            name: name.into(),
            profile: Profile::Byoc,
            carrier_addresses: vec![ip.into()],
            rate_limit: default_trunk_rate(),
            outbound: vec![format!("{ip}:5060")],
            domain: None,
            auth: None,
            transport: TrunkTransport::Udp,
            compact_headers: false,
            spread: Spread::InOrder,
            identity: Default::default(),
            emergency_device: emergency,
            prefix: prefix.map(Into::into),
            oos_check: 0,
            oos_force: 0,
            default_elin: None,
            send_location: false,
            dnis: Vec::new(),
        }
    }

    fn rule(pattern: &str, replace: &str) -> DnisRule {
        DnisRule {
            pattern: pattern.into(),
            replace: replace.into(),
        }
    }

    #[test]
    fn c8_byoc_dnis_first_matching_rule_rewrites_the_user() {
        let mut c = dn("byoc", "10.0.0.1", false, None);
        c.dnis = vec![
            rule(r"^\+1555(\d{4})$", "agent$1"),
            rule(r"^\+1555", "other"),
            rule(r"^(?P<ext>\d{3})$", "x${ext}y"),
        ];
        assert!(validate(std::slice::from_ref(&c)).is_empty());
        let trunks = Trunks::new(&[c]);
        let t = &trunks.all()[0];
        assert_eq!(t.dnis("+15551234"), "agent1234");
        // The second rule: only the matched text is replaced.
        assert_eq!(t.dnis("+155512345"), "other12345");
        assert_eq!(t.dnis("123"), "x123y");
        // No rule matches: unmodified.
        assert_eq!(t.dnis("support"), "support");
        assert_eq!(t.dnis("+16661234"), "+16661234");
        // No rules at all: unmodified.
        let plain = Trunks::new(&[dn("p", "10.0.0.2", false, None)]);
        let plain = &plain.all()[0];
        assert_eq!(plain.dnis("+15551234"), "+15551234");
    }

    #[test]
    fn c8_dnis_is_validated_with_its_keys() {
        let mut c = dn("byoc", "10.0.0.1", false, None);
        c.dnis = vec![
            rule(r"^\+1555(\d{4})$", "agent$1"),
            rule(r"^(\d+$", "x"),
            rule(r"^\d{1000}{1000}$", "x"),
            rule(r"^1$", "a@b"),
            rule(r"^1$", ""),
        ];
        let errs = validate(&[c]);
        let keys: Vec<&str> = errs.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sip.trunks[0].dnis[1].match",
                "sip.trunks[0].dnis[2].match",
                "sip.trunks[0].dnis[3].replace",
                "sip.trunks[0].dnis[4].replace",
            ]
        );
        assert!(errs[0].allowed.contains("unclosed group"), "{errs:?}");
        assert!(errs[1].allowed.contains("size limit"), "{errs:?}");
        // Voice trunks take no DNIS rules.
        let mut v = dn("voice", "10.0.0.1", false, None);
        v.profile = Profile::Voice;
        v.dnis = vec![rule("^1$", "2")];
        let keys: Vec<String> = validate(&[v]).into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["sip.trunks[0].dnis"]);
    }

    #[test]
    fn e4_e5_manager_by_longest_prefix_gateway_never_a_manager() {
        let mut trunks = Trunks::new(&[
            dn("carrier", "10.0.0.1", false, Some("+1")),
            dn("gw", "10.0.0.9", true, Some("91")),
            dn("mgr", "10.0.0.8", true, Some("911")),
        ]);
        assert_eq!(trunks.emergency_manager("911").unwrap().config.name, "mgr");
        assert_eq!(trunks.emergency_manager("9112").unwrap().config.name, "mgr");
        assert!(trunks.emergency_manager("933").is_none());
        let managers = vec!["mgr".to_owned()];
        assert_eq!(
            trunks
                .emergency_gateway("911", &managers)
                .unwrap()
                .config
                .name,
            "gw"
        );
        // No prefix match: the first emergency device that is no manager.
        assert_eq!(
            trunks
                .emergency_gateway("933", &managers)
                .unwrap()
                .config
                .name,
            "gw"
        );
        // E3: an out-of-service endpoint is skipped, and back.
        let gw: SocketAddr = "10.0.0.9:5060".parse().unwrap();
        assert!(trunks.set_in_service("gw", gw, false));
        assert!(!trunks.by_name("gw").unwrap().in_service());
        assert!(trunks.emergency_gateway("911", &managers).is_none());
        assert!(trunks.set_in_service("gw", gw, true));
        assert_eq!(trunks.by_name("gw").unwrap().live_endpoints(), [gw]);
    }

    #[test]
    fn e3_dn_options_are_validated_with_their_keys() {
        let mut t = dn("mgr", "10.0.0.8", true, Some("9 1"));
        t.oos_check = 301;
        t.oos_force = 31;
        t.default_elin = Some("5551230300".into());
        let keys: Vec<String> = validate(&[t]).into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "sip.trunks[0].prefix",
                "sip.trunks[0].oos_check",
                "sip.trunks[0].oos_force",
                "sip.trunks[0].default_elin"
            ]
        );
        let mut ok = dn("mgr", "10.0.0.8", true, Some("911"));
        ok.oos_check = 300;
        ok.oos_force = 30;
        ok.default_elin = Some("+15551230300".into());
        assert!(validate(&[ok]).is_empty());
    }

    #[test]
    fn c4_blocks_match_addresses() {
        let b = IpBlock::parse("192.0.2.0/24").unwrap();
        assert!(b.contains("192.0.2.77".parse().unwrap()));
        assert!(!b.contains("192.0.3.1".parse().unwrap()));
        let one = IpBlock::parse("127.0.0.2").unwrap();
        assert!(one.contains("127.0.0.2".parse().unwrap()));
        assert!(!one.contains("127.0.0.3".parse().unwrap()));
        assert!(IpBlock::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpBlock::parse("192.0.2.0/33").is_none());
        assert!(IpBlock::parse("carrier.example").is_none());
    }

    #[test]
    fn c4_carrier_names_serve_only_their_current_addresses() {
        let mut t = dn("carrier", "192.0.2.0/30", false, None);
        t.outbound = vec!["192.0.2.1:5060".into()];
        t.carrier_addresses.push("SIP.Carrier.test".into());
        let mut other = dn("other", "198.51.100.1", false, None);
        other.carrier_addresses.push("sip.carrier.test".into());
        assert!(validate(&[t.clone()]).is_empty());
        let mut trunks = Trunks::new(&[t, other]);
        assert_eq!(trunks.carrier_names(), ["sip.carrier.test"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not resolved yet: only the block is served.
        assert!(trunks.by_source(ip("127.0.0.2")).is_none());
        assert_eq!(
            trunks.by_source(ip("192.0.2.1")).unwrap().config.name,
            "carrier"
        );
        assert!(trunks.set_carrier_name("sip.carrier.test.", &[ip("127.0.0.2"), ip("::1")]));
        assert!(!trunks.set_carrier_name("sip.carrier.test", &[ip("::1"), ip("127.0.0.2")]));
        assert_eq!(
            trunks.by_source(ip("127.0.0.2")).unwrap().config.name,
            "carrier"
        );
        assert!(trunks.by_source(ip("::1")).is_some());
        // The name moves: the old address is no longer the carrier's.
        assert!(trunks.set_carrier_name("sip.carrier.test", &[ip("127.0.0.9")]));
        assert!(trunks.by_source(ip("127.0.0.2")).is_none());
        assert_eq!(
            trunks.by_source(ip("127.0.0.9")).unwrap().config.name,
            "carrier"
        );
        assert!(trunks.set_carrier_name("sip.carrier.test", &[]));
        assert!(trunks.by_source(ip("127.0.0.9")).is_none());
    }

    #[test]
    fn c4_carrier_addresses_are_validated() {
        let mut t = dn("carrier", "192.0.2.10", false, None);
        t.carrier_addresses = vec![
            "carrier.example".into(),
            "2001:db8::/32".into(),
            "bad_name".into(),
            "10.0.0.0/33".into(),
            "".into(),
        ];
        let keys: Vec<String> = validate(&[t]).into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "sip.trunks[0].carrier_addresses[2]",
                "sip.trunks[0].carrier_addresses[3]",
                "sip.trunks[0].carrier_addresses[4]"
            ]
        );
    }

    #[test]
    fn c9_c20_outbound_entries() {
        let name = |n: &str, port| {
            Some(OutboundEntry::Name(OutboundName {
                name: n.into(),
                port,
            }))
        };
        assert_eq!(
            OutboundEntry::parse("192.0.2.10:5070"),
            Some(OutboundEntry::Addr("192.0.2.10:5070".parse().unwrap()))
        );
        assert_eq!(
            OutboundEntry::parse("192.0.2.10"),
            Some(OutboundEntry::Addr("192.0.2.10:5060".parse().unwrap()))
        );
        assert_eq!(
            OutboundEntry::parse("Carrier.Test"),
            name("carrier.test", None)
        );
        assert_eq!(
            OutboundEntry::parse("sbc.carrier.test:5080"),
            name("sbc.carrier.test", Some(5080))
        );
        for bad in [
            "",
            "a b",
            "carrier.test:0",
            "carrier.test:x",
            "1.2.3",
            "[::1",
        ] {
            assert_eq!(OutboundEntry::parse(bad), None, "{bad:?}");
        }
        let t = Target::new(&["10.0.0.1:5060".into(), "carrier.test".into()]);
        assert_eq!(t.names().len(), 1);
        assert_eq!(t.endpoints(Spread::InOrder).len(), 1);
        assert!(matches!(
            Target::new(&["10.0.0.1:5060".into()]),
            Target::Static(_)
        ));
    }
}
