//! What to resolve ([`Target`]), what comes out ([`Endpoint`]), the failover
//! walk ([`TargetList`]) and the RFC 3263 section 4 decision of which
//! queries to make ([`Plan`]), all without IO.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use sip_transport::Transport;

use crate::error::ResolveError;

/// The host part of a SIP URI (or of a `maddr` parameter): a DNS name or a
/// numeric IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, stored without a trailing dot, lower case.
    Name(String),
    /// A numeric IPv4 or IPv6 address: no DNS at all.
    Ip(IpAddr),
}

impl Host {
    /// The host as a DNS name or IP, from URI text: `carrier.example`,
    /// `192.0.2.1`, `[2001:db8::1]` or `2001:db8::1`. A trailing dot is
    /// dropped.
    ///
    /// # Errors
    /// [`ResolveError::InvalidName`] for an empty name, or a character that
    /// a host name cannot hold.
    pub fn parse(s: &str) -> Result<Self, ResolveError> {
        let bracketed = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        if let Some(inner) = bracketed {
            return inner
                .parse::<std::net::Ipv6Addr>()
                .map(|ip| Self::Ip(IpAddr::V6(ip)))
                .map_err(|_| ResolveError::InvalidName { name: s.to_owned() });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            Ok(Self::Name(name.to_ascii_lowercase()))
        } else {
            Err(ResolveError::InvalidName { name: s.to_owned() })
        }
    }
}

impl FromStr for Host {
    type Err = ResolveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
        }
    }
}

/// A SIP or SIPS URI's TARGET (RFC 3263 section 4): what to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The `maddr` parameter if present, else the URI host.
    pub host: Host,
    /// The URI's explicit port. When present on a name, SRV is skipped and
    /// only A/AAAA are used (RFC 3263 section 4.2).
    pub port: Option<u16>,
    /// The URI's `transport` parameter.
    pub transport: Option<Transport>,
    /// A SIPS URI: only TLS is acceptable, SRV uses `_sips._tcp`.
    pub secure: bool,
}

impl Target {
    /// A `sip:` target for `host` with no port and no transport parameter:
    /// full SRV-then-A resolution.
    pub fn new(host: Host) -> Self {
        Self {
            host,
            port: None,
            transport: None,
            secure: false,
        }
    }

    /// The transport used when DNS does not choose one: the URI's, else
    /// UDP for SIP and TLS for SIPS (RFC 3263 section 4.1).
    pub fn default_transport(&self) -> Transport {
        match (self.transport, self.secure) {
            (Some(t), false) => t,
            // A SIPS URI runs over TLS whatever `transport=tcp` says.
            (_, true) => Transport::Tls,
            (None, false) => Transport::Udp,
        }
    }
}

/// How an [`Endpoint`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// The target host was a numeric IP address.
    Literal,
    /// An SRV record (RFC 2782), with its priority and weight.
    Srv {
        /// The record's priority.
        priority: u16,
        /// The record's weight.
        weight: u16,
    },
    /// An A or AAAA record of the target host (explicit port, or no SRV).
    Address,
    /// The caller's configured addresses: the last resort (C20).
    Configured,
}

/// One place to send the request: an address, a transport and where it
/// stands in the failover order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IP address and port.
    pub addr: SocketAddr,
    /// The transport to use toward `addr`.
    pub transport: Transport,
    /// The rank of this endpoint's group in the list, from 0: one group per
    /// distinct SRV priority (lowest priority value is group 0), or a single
    /// group for A/AAAA or a literal IP; the configured addresses form the
    /// last group.
    pub priority_group: u16,
    /// How it was found.
    pub origin: Origin,
}

/// The ordered endpoints of one request, walked on failover (C13).
///
/// RFC 3263 section 4.3: a 503, a transport failure, or a transaction
/// timeout with no response at all (timer B or F) means "try the next
/// element"; so does a 408 (C12). Each try is a new transaction (new Via
/// branch). When [`TargetList::next`] returns `None` every endpoint has
/// failed, and trying the route's next carrier is the router's job. Other
/// final responses end the walk: the caller just stops calling `next`.
///
/// Retransmissions, the ACK for a non-2xx and a CANCEL go to the endpoint
/// that [`TargetList::current`] returns (RFC 3263 section 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetList {
    endpoints: Vec<Endpoint>,
    /// How many endpoints `next` has handed out.
    taken: usize,
}

impl TargetList {
    /// A list to walk in the given order.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            endpoints,
            taken: 0,
        }
    }

    /// Every endpoint, in failover order, including those already tried.
    pub fn as_slice(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The endpoints not yet handed out by `next`.
    pub fn remaining(&self) -> &[Endpoint] {
        &self.endpoints[self.taken..]
    }

    /// The endpoint last handed out by `next` (the one the current
    /// transaction is using), if any.
    pub fn current(&self) -> Option<&Endpoint> {
        self.taken.checked_sub(1).map(|i| &self.endpoints[i])
    }

    /// How many endpoints have been handed out so far.
    pub fn attempts(&self) -> usize {
        self.taken
    }

    /// Number of endpoints in the list.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether the list has no endpoint at all.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

impl From<Vec<Endpoint>> for TargetList {
    fn from(endpoints: Vec<Endpoint>) -> Self {
        Self::new(endpoints)
    }
}

impl Iterator for TargetList {
    type Item = Endpoint;

    /// The first endpoint, then the next one after each failure.
    fn next(&mut self) -> Option<Endpoint> {
        let endpoint = self.endpoints.get(self.taken).copied()?;
        self.taken += 1;
        Some(endpoint)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.endpoints.len() - self.taken;
        (n, Some(n))
    }
}

/// One SRV query to make: the full name and the transport it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvQuery {
    pub(crate) name: String,
    pub(crate) transport: Transport,
}

/// The RFC 3263 section 4 decision for a [`Target`], made before any IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// A numeric IP: use it, no DNS.
    Literal(Endpoint),
    /// A name with an explicit port: A/AAAA only.
    Address {
        name: String,
        port: u16,
        transport: Transport,
    },
    /// A name without a port: the SRV queries in order (first with records
    /// wins), then A/AAAA of `name` at the default port.
    Srv {
        name: String,
        queries: Vec<SrvQuery>,
        transport: Transport,
        port: u16,
    },
}

impl Plan {
    pub(crate) fn for_target(target: &Target) -> Result<Self, ResolveError> {
        if target.secure && target.transport == Some(Transport::Udp) {
            return Err(ResolveError::InvalidTarget {
                reason: "a SIPS URI cannot use transport=udp (no TLS over UDP)",
            });
        }
        let transport = target.default_transport();
        let port = target.port.unwrap_or(transport.default_port());
        let name = match &target.host {
            Host::Ip(ip) => {
                return Ok(Self::Literal(Endpoint {
                    addr: SocketAddr::new(*ip, port),
                    transport,
                    priority_group: 0,
                    origin: Origin::Literal,
                }))
            }
            Host::Name(name) => name.clone(),
        };
        if target.port.is_some() {
            return Ok(Self::Address {
                name,
                port,
                transport,
            });
        }
        let query = |service: &str, proto: &str, transport| SrvQuery {
            name: format!("{service}.{proto}.{name}"),
            transport,
        };
        let queries = match (target.secure, target.transport) {
            (true, _) | (false, Some(Transport::Tls)) => {
                vec![query("_sips", "_tcp", Transport::Tls)]
            }
            (false, Some(Transport::Udp)) => vec![query("_sip", "_udp", Transport::Udp)],
            (false, Some(Transport::Tcp)) => vec![query("_sip", "_tcp", Transport::Tcp)],
            // No NAPTR (not needed by the carrier spec): UDP first as the
            // SIP default, then TCP. RFC 3263 section 4.1 lets the client
            // pick any transport the server supports.
            (false, None) => vec![
                query("_sip", "_udp", Transport::Udp),
                query("_sip", "_tcp", Transport::Tcp),
            ],
        };
        Ok(Self::Srv {
            name,
            queries,
            transport,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Host {
        Host::parse(s).unwrap()
    }

    #[test]
    fn host_parse() {
        assert_eq!(name("Carrier.Test."), Host::Name("carrier.test".into()));
        assert_eq!(name("192.0.2.1"), Host::Ip("192.0.2.1".parse().unwrap()));
        assert_eq!(
            name("[2001:db8::1]"),
            Host::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            name("2001:db8::1"),
            Host::Ip("2001:db8::1".parse().unwrap())
        );
        for bad in ["", ".", "a..b", "a b", "[nope]", "x@y", &"a".repeat(64)] {
            assert!(
                matches!(Host::parse(bad), Err(ResolveError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(name("[2001:db8::1]").to_string(), "[2001:db8::1]");
        assert_eq!(name("carrier.test").to_string(), "carrier.test");
    }

    #[test]
    fn rfc3263_4_2_numeric_ip_default_ports() {
        let mut t = Target::new(name("192.0.2.1"));
        let Plan::Literal(ep) = Plan::for_target(&t).unwrap() else {
            panic!()
        };
        assert_eq!(ep.addr, "192.0.2.1:5060".parse().unwrap());
        assert_eq!(ep.transport, Transport::Udp);
        t.secure = true;
        let Plan::Literal(ep) = Plan::for_target(&t).unwrap() else {
            panic!()
        };
        assert_eq!(ep.addr, "192.0.2.1:5061".parse().unwrap());
        assert_eq!(ep.transport, Transport::Tls);
        t.port = Some(7000);
        let Plan::Literal(ep) = Plan::for_target(&t).unwrap() else {
            panic!()
        };
        assert_eq!(ep.addr.port(), 7000);
    }

    #[test]
    fn c9_explicit_port_means_address_records_only() {
        let mut t = Target::new(name("carrier.test"));
        t.port = Some(5080);
        t.transport = Some(Transport::Tcp);
        assert_eq!(
            Plan::for_target(&t).unwrap(),
            Plan::Address {
                name: "carrier.test".into(),
                port: 5080,
                transport: Transport::Tcp
            }
        );
    }

    #[test]
    fn rfc3263_4_1_srv_names_per_transport() {
        let names = |transport, secure| {
            let mut t = Target::new(name("carrier.test"));
            t.transport = transport;
            t.secure = secure;
            match Plan::for_target(&t).unwrap() {
                Plan::Srv { queries, .. } => queries
                    .into_iter()
                    .map(|q| (q.name, q.transport))
                    .collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            names(None, false),
            [
                ("_sip._udp.carrier.test".to_owned(), Transport::Udp),
                ("_sip._tcp.carrier.test".to_owned(), Transport::Tcp)
            ]
        );
        assert_eq!(
            names(Some(Transport::Tcp), false),
            [("_sip._tcp.carrier.test".to_owned(), Transport::Tcp)]
        );
        let sips = [("_sips._tcp.carrier.test".to_owned(), Transport::Tls)];
        assert_eq!(names(Some(Transport::Tls), false), sips);
        assert_eq!(names(None, true), sips);
        assert_eq!(names(Some(Transport::Tcp), true), sips);
    }

    #[test]
    fn sips_over_udp_is_refused() {
        let mut t = Target::new(name("carrier.test"));
        t.secure = true;
        t.transport = Some(Transport::Udp);
        assert!(matches!(
            Plan::for_target(&t),
            Err(ResolveError::InvalidTarget { .. })
        ));
    }

    #[test]
    fn c13_target_list_walks_in_order_then_ends() {
        let ep = |port| Endpoint {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            transport: Transport::Udp,
            priority_group: 0,
            origin: Origin::Configured,
        };
        let mut list = TargetList::from(vec![ep(1), ep(2), ep(3)]);
        assert_eq!(list.current(), None);
        assert_eq!(list.len(), 3);
        assert_eq!(list.next().map(|e| e.addr.port()), Some(1));
        assert_eq!(list.current().map(|e| e.addr.port()), Some(1));
        assert_eq!(list.remaining().len(), 2);
        assert_eq!(list.next().map(|e| e.addr.port()), Some(2));
        assert_eq!(list.next().map(|e| e.addr.port()), Some(3));
        assert_eq!(list.next(), None);
        assert_eq!(list.next(), None);
        assert_eq!(list.attempts(), 3);
        assert_eq!(list.current().map(|e| e.addr.port()), Some(3));
        assert_eq!(list.as_slice().len(), 3);
        assert!(TargetList::default().is_empty());
    }
}
