//! Call routing tables: inbound DIDs to a destination, outbound prefixes to
//! an ordered list of trunks (DESIGN.md section 3: longest prefix wins,
//! `priority` breaks ties, lower first; `replace_prefix` rewrites the
//! digits).
//!
//! Pure lookups over validated configuration; the B2BUA turns the answer
//! into attempts (trunk endpoints) and fails over along it (C13).

use serde::Deserialize;

use crate::config::Invalid;
use crate::trunk::TrunkConfig;

/// `[sip.routes]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutesConfig {
    /// `[[sip.routes.inbound]]`: calls arriving from carrier trunks.
    pub inbound: Vec<InboundRoute>,
    /// `[[sip.routes.outbound]]`: numbers to trunks, by prefix.
    pub outbound: Vec<OutboundRoute>,
}

/// One inbound route: a DID and exactly one destination.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRoute {
    /// The called number as the carrier sends it: an E.164 number with `+`
    /// (voice trunks), any user part (byoc), or `*` for every DID no other
    /// inbound route names.
    pub did: String,
    /// Destination: a SIP URI with an IP host (`sip:agent@192.0.2.6:5090`).
    #[serde(default)]
    pub uri: Option<String>,
    /// Destination: trunks, tried in this order (each over its endpoints).
    #[serde(default)]
    pub trunks: Vec<String>,
    /// Destination: the called number goes through the outbound prefix
    /// routes.
    #[serde(default)]
    pub outbound_routes: bool,
}

/// One outbound route: numbers starting with `prefix` may go to `trunk`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRoute {
    /// Digits, optionally after a leading `+`; empty matches every number.
    pub prefix: String,
    /// The trunk's name.
    pub trunk: String,
    /// Among routes with the same prefix length, lower goes first.
    #[serde(default)]
    pub priority: u32,
    /// Replaces the matched prefix in the number sent to the trunk.
    #[serde(default)]
    pub replace_prefix: Option<String>,
}

/// Where an inbound call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// One SIP URI: the Request-URI, and its host is the address.
    Uri(String),
    /// Trunks in order, each with the user part to send.
    Trunks(Vec<(String, String)>),
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    digits.len() <= 32 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Checks `[sip.routes]` against the trunks.
pub fn validate(routes: &RoutesConfig, trunks: &[TrunkConfig]) -> Vec<Invalid> {
    let mut out = Vec::new();
    let known = |name: &str| trunks.iter().any(|t| t.name == name);
    let trunk_names = || {
        if trunks.is_empty() {
            "the name of a [[sip.trunks]] entry (none is configured)".to_owned()
        } else {
            let names: Vec<&str> = trunks.iter().map(|t| t.name.as_str()).collect();
            format!("one of the trunk names: {}", names.join(", "))
        }
    };
    for (i, r) in routes.inbound.iter().enumerate() {
        let key = |k: &str| format!("sip.routes.inbound[{i}].{k}");
        let did_ok = !r.did.is_empty()
            && r.did.len() <= 128
            && r.did.bytes().all(|b| b.is_ascii_graphic() && b != b'@');
        if !did_ok {
            out.push(Invalid {
                key: key("did"),
                value: format!("{:?}", r.did),
                allowed: "an E.164 number (\"+15551230000\"), a user part, or \"*\"".into(),
            });
        }
        if routes.inbound[..i].iter().any(|o| o.did == r.did) {
            out.push(Invalid {
                key: key("did"),
                value: format!("{:?}", r.did),
                allowed: "a DID no other inbound route names".into(),
            });
        }
        let n = usize::from(r.uri.is_some())
            + usize::from(!r.trunks.is_empty())
            + usize::from(r.outbound_routes);
        if n != 1 {
            out.push(Invalid {
                key: format!("sip.routes.inbound[{i}]"),
                value: format!("{n} destinations"),
                allowed: "exactly one of uri, trunks or outbound_routes = true".into(),
            });
        }
        if let Some(u) = &r.uri {
            if crate::dialog::uri_address(u).is_none() {
                out.push(Invalid {
                    key: key("uri"),
                    value: format!("{u:?}"),
                    allowed: "a sip: URI whose host is an IP address (\"sip:agent@192.0.2.6:5090\"); DNS names are not resolved yet".into(),
                });
            }
        }
        for (j, t) in r.trunks.iter().enumerate() {
            if !known(t) {
                out.push(Invalid {
                    key: format!("sip.routes.inbound[{i}].trunks[{j}]"),
                    value: format!("{t:?}"),
                    allowed: trunk_names(),
                });
            }
        }
    }
    for (i, r) in routes.outbound.iter().enumerate() {
        let key = |k: &str| format!("sip.routes.outbound[{i}].{k}");
        if !is_number(&r.prefix) {
            out.push(Invalid {
                key: key("prefix"),
                value: format!("{:?}", r.prefix),
                allowed: "digits, optionally after a leading '+' (empty matches every number)"
                    .into(),
            });
        }
        if !known(&r.trunk) {
            out.push(Invalid {
                key: key("trunk"),
                value: format!("{:?}", r.trunk),
                allowed: trunk_names(),
            });
        }
        if let Some(p) = &r.replace_prefix {
            if !is_number(p) {
                out.push(Invalid {
                    key: key("replace_prefix"),
                    value: format!("{p:?}"),
                    allowed: "digits, optionally after a leading '+'".into(),
                });
            }
        }
    }
    out
}

/// The routing tables, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    inbound: Vec<InboundRoute>,
    /// Sorted: longest prefix first, then priority, then configured order.
    outbound: Vec<OutboundRoute>,
}

impl Routes {
    /// Builds the tables from validated configuration.
    pub fn new(config: &RoutesConfig) -> Self {
        let mut outbound = config.outbound.clone();
        // A stable sort keeps the configured order among equals.
        outbound.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.priority.cmp(&b.priority))
        });
        Routes {
            inbound: config.inbound.clone(),
            outbound,
        }
    }

    /// Where a call from a carrier to `did` goes; `None` when no inbound
    /// route names it (and there is no `*` route).
    pub fn inbound(&self, did: &str) -> Option<Destination> {
        let route = self
            .inbound
            .iter()
            .find(|r| r.did == did)
            .or_else(|| self.inbound.iter().find(|r| r.did == "*"))?;
        if let Some(u) = &route.uri {
            return Some(Destination::Uri(u.clone()));
        }
        if route.outbound_routes {
            let list = self.outbound(did);
            return (!list.is_empty()).then_some(Destination::Trunks(list));
        }
        Some(Destination::Trunks(
            route
                .trunks
                .iter()
                .map(|t| (t.clone(), did.to_owned()))
                .collect(),
        ))
    }

    /// The trunks a number may go to, in order, each with the number as it
    /// is sent (prefix replaced when the route says so).
    pub fn outbound(&self, number: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for r in &self.outbound {
            let Some(rest) = number.strip_prefix(r.prefix.as_str()) else {
                continue;
            };
            if out.iter().any(|(t, _)| *t == r.trunk) {
                continue; // a trunk is tried once, at its best position
            }
            let dialed = match &r.replace_prefix {
                Some(p) => format!("{p}{rest}"),
                None => number.to_owned(),
            };
            out.push((r.trunk.clone(), dialed));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(prefix: &str, trunk: &str, priority: u32, replace: Option<&str>) -> OutboundRoute {
        OutboundRoute {
            prefix: prefix.into(),
            trunk: trunk.into(),
            priority,
            replace_prefix: replace.map(str::to_owned),
        }
    }

    #[test]
    fn longest_prefix_then_priority_then_replace() {
        let routes = Routes::new(&RoutesConfig {
            inbound: vec![],
            outbound: vec![
                out("+1", "b", 20, None),
                out("+1", "a", 10, None),
                out("+1555", "c", 50, Some("0")),
                out("", "z", 0, None),
                out("+44", "uk", 0, None),
            ],
        });
        assert_eq!(
            routes.outbound("+15551230000"),
            [
                ("c".to_owned(), "01230000".to_owned()),
                ("a".to_owned(), "+15551230000".to_owned()),
                ("b".to_owned(), "+15551230000".to_owned()),
                ("z".to_owned(), "+15551230000".to_owned()),
            ]
        );
        assert_eq!(routes.outbound("+4420").first().unwrap().0, "uk");
    }

    #[test]
    fn inbound_exact_then_star() {
        let routes = Routes::new(&RoutesConfig {
            inbound: vec![
                InboundRoute {
                    did: "+15551230000".into(),
                    uri: Some("sip:agent@127.0.0.6:5090".into()),
                    trunks: vec![],
                    outbound_routes: false,
                },
                InboundRoute {
                    did: "*".into(),
                    uri: None,
                    trunks: vec!["far".into(), "other".into()],
                    outbound_routes: false,
                },
            ],
            outbound: vec![],
        });
        assert_eq!(
            routes.inbound("+15551230000"),
            Some(Destination::Uri("sip:agent@127.0.0.6:5090".into()))
        );
        assert_eq!(
            routes.inbound("+1999"),
            Some(Destination::Trunks(vec![
                ("far".into(), "+1999".into()),
                ("other".into(), "+1999".into())
            ]))
        );
        assert_eq!(Routes::default().inbound("+1"), None);
    }

    #[test]
    fn validation_names_keys() {
        let cfg = RoutesConfig {
            inbound: vec![InboundRoute {
                did: "+1".into(),
                uri: Some("sip:agent@example.com".into()),
                trunks: vec!["nope".into()],
                outbound_routes: false,
            }],
            outbound: vec![out("1a", "nope", 0, Some("x"))],
        };
        let keys: Vec<String> = validate(&cfg, &[]).into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "sip.routes.inbound[0]",
                "sip.routes.inbound[0].uri",
                "sip.routes.inbound[0].trunks[0]",
                "sip.routes.outbound[0].prefix",
                "sip.routes.outbound[0].trunk",
                "sip.routes.outbound[0].replace_prefix",
            ]
        );
    }
}
