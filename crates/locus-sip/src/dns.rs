//! DNS for carrier trunks (C9, C13, C20): `[sip.dns]` and the seam between
//! the sans-IO core and the resolver.
//!
//! # Design
//!
//! A trunk `outbound` entry may be a DNS name. Resolution is IO, so the
//! core never does it: it is resolved **per call, on demand**, through a
//! request/answer seam.
//!
//! 1. When the B2BUA reaches a DNS name in a call's list of attempts, it
//!    pauses that call and queues a [`ResolveRequest`] (a token and the
//!    RFC 3263 target) which the driver takes with
//!    [`crate::SipCore::poll_resolve`]. The call gets a deadline:
//!    `timeout_ms` plus a small margin.
//! 2. The driver ([`crate::service`]) runs `sip_resolve::Resolver::resolve`
//!    in a spawned task (never in the core's task) and hands the endpoints
//!    back with [`crate::SipCore::handle_resolved`]: SRV `_sip._udp` (or
//!    `_sip._tcp` for a `tcp` trunk) ordered by RFC 2782 priority and a
//!    weighted random draw for this call, else A records at the default
//!    port; for a name with a port, A records only.
//! 3. The call goes on with those endpoints first, then the trunk's
//!    configured IPs, then the route's next trunk (C13, C20). An empty
//!    answer (DNS failure, no records) or no answer by the deadline means
//!    "skip the name": the configured IPs are tried, and when there are
//!    none the attempt fails over as a 503 would (the caller gets 503 when
//!    nothing is left, C12). A late answer is ignored.
//!
//! Why per call and not a list refreshed ahead of time: RFC 2782 weights
//! are a random draw per selection, so each call needs its own order (the
//! spread C20 asks for), and the resolver's cache (hickory, kept for each
//! record's TTL) makes a per-call resolution cost a cache lookup, without
//! the driver tracking TTLs. The core never blocks and never waits without
//! a bound.
//!
//! # Carrier names (C4)
//!
//! A trunk's `carrier_addresses` may name a host too: its A and AAAA
//! records are the addresses served as that trunk. Unlike `outbound`
//! names these are needed for every request (the trunk is chosen by
//! source address before anything else), so they are kept resolved
//! ahead of time: the driver resolves each name when it binds (before
//! serving) and again each time the answer's TTL runs out, one background
//! task per name (`sip_resolve::Resolver::host_addresses`); the core only
//! matches sources against the current set
//! ([`crate::SipCore::handle_carrier_addresses`]), never waiting on DNS.
//! A name without records serves nothing; a DNS failure keeps the last
//! set and asks again 10 s later.
//!
//! C9 outbound: the Request-URI and To host toward the carrier is, in
//! order, the trunk's `domain`, the SRV domain (the configured name, when
//! the endpoint came from SRV), the A name (with its port when one was
//! configured), the IP and port.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::Invalid;

/// `[sip.dns]`: how trunk `outbound` names are resolved.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// DNS servers as `IP:PORT`, asked in order; empty uses the system's
    /// `/etc/resolv.conf`.
    pub nameservers: Vec<String>,
    /// Longest time one resolution may take, all queries included
    /// (milliseconds). Past it the call goes on without the name.
    pub timeout_ms: u64,
    /// Answers kept in the cache (each for its record's TTL).
    pub cache_size: u64,
    /// Seed of the SRV weight draws and endpoint shuffles; absent for a
    /// random seed. Only for repeatable tests.
    pub rng_seed: Option<u64>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout_ms: 2_000,
            cache_size: 1_024,
            rng_seed: None,
        }
    }
}

impl DnsConfig {
    /// The bound on one resolution.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The resolver's settings: each query try gets a third of the bound,
    /// two tries, the whole resolution bounded by `timeout_ms`.
    pub fn resolver_config(&self) -> sip_resolve::ResolverConfig {
        sip_resolve::ResolverConfig {
            nameservers: self
                .nameservers
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            timeout: self.timeout() / 3,
            attempts: 2,
            cache_size: self.cache_size,
            total_timeout: self.timeout(),
            ipv6: false,
            rng_seed: self.rng_seed,
        }
    }

    /// Checks `[sip.dns]`.
    pub fn validate(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        for (i, n) in self.nameservers.iter().enumerate() {
            if n.parse::<SocketAddr>().is_err() {
                out.push(Invalid::new(
                    &format!("sip.dns.nameservers[{i}]"),
                    format!("{n:?}"),
                    "an IP address and port such as \"127.0.0.1:53\" ([::1]:53 for IPv6)",
                ));
            }
        }
        if !(50..=30_000).contains(&self.timeout_ms) {
            out.push(Invalid::new(
                "sip.dns.timeout_ms",
                self.timeout_ms,
                "50 to 30000",
            ));
        }
        if !(16..=1_000_000).contains(&self.cache_size) {
            out.push(Invalid::new(
                "sip.dns.cache_size",
                self.cache_size,
                "16 to 1000000",
            ));
        }
        out
    }
}

/// A resolution the core asks the driver for (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRequest {
    /// Hand it back with the endpoints to [`crate::SipCore::handle_resolved`].
    pub token: u64,
    /// What to resolve (RFC 3263 section 4).
    pub target: sip_resolve::Target,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_config_checked_with_keys() {
        assert_eq!(DnsConfig::default().validate(), vec![]);
        let c = DnsConfig {
            nameservers: vec!["127.0.0.1:5353".into(), "localhost".into()],
            timeout_ms: 10,
            cache_size: 0,
            rng_seed: None,
        };
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "sip.dns.nameservers[1]",
                "sip.dns.timeout_ms",
                "sip.dns.cache_size"
            ]
        );
        let r = DnsConfig {
            nameservers: vec!["127.0.0.1:5353".into()],
            ..DnsConfig::default()
        }
        .resolver_config();
        assert_eq!(r.nameservers, vec!["127.0.0.1:5353".parse().unwrap()]);
        assert_eq!(r.total_timeout, Duration::from_secs(2));
    }

    mod core_seam {
        use std::net::SocketAddr;
        use std::time::{Duration, Instant};

        use crate::config::SipConfig;
        use crate::routes::InboundRoute;
        use crate::SipCore;

        use crate::trunk::tests::voice as trunk;

        /// A core whose DID routes to a trunk with `carrier.test` then
        /// 192.0.2.10:5060, after an INVITE from the carrier.
        fn core_with_call(now: Instant) -> SipCore {
            let mut config = SipConfig {
                listen: vec!["udp:127.0.0.1:5060".into()],
                trunks: vec![
                    trunk("carrier", "127.0.0.2", &[]),
                    trunk("far", "192.0.2.10", &["carrier.test", "192.0.2.10:5060"]),
                ],
                ..SipConfig::default()
            };
            config.routes.inbound = vec![InboundRoute {
                did: "+15551230000".into(),
                uri: None,
                trunks: vec!["far".into()],
                outbound_routes: false,
            }];
            config.dns.timeout_ms = 1_000;
            let mut core = SipCore::new(&config);
            let invite = "INVITE sip:+15551230000@127.0.0.1 SIP/2.0\r\n\
                Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKdns1\r\n\
                From: <sip:+15550001000@127.0.0.2>;tag=c1\r\n\
                To: <sip:+15551230000@127.0.0.1>\r\nCall-ID: dns-seam\r\n\
                CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
                Contact: <sip:+15550001000@127.0.0.2>\r\nContent-Length: 0\r\n\r\n";
            let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
            core.handle_inbound(
                now,
                sip_transport::Inbound {
                    bytes: bytes::Bytes::from(invite),
                    source: addr("127.0.0.2:5060"),
                    local: addr("127.0.0.1:5060"),
                    transport: sip_transport::Transport::Udp,
                    conn: None,
                },
            );
            core
        }

        /// The INVITEs the core sends: (destination, request line).
        fn invites(core: &mut SipCore) -> Vec<(SocketAddr, String)> {
            let mut out = Vec::new();
            while let Some(o) = core.poll_transmit() {
                let text = String::from_utf8_lossy(&o.bytes).into_owned();
                if text.starts_with("INVITE ") {
                    out.push((o.dest, text.lines().next().unwrap_or("").to_owned()));
                }
            }
            out
        }

        #[test]
        fn c20_no_dns_answer_in_time_falls_back_to_configured_ips() {
            let t0 = Instant::now();
            let mut core = core_with_call(t0);
            let req = core.poll_resolve().expect("a resolution is asked for");
            assert_eq!(req.target.host.to_string(), "carrier.test");
            assert_eq!(req.target.port, None);
            assert!(core.poll_resolve().is_none());
            assert!(invites(&mut core).is_empty(), "the call waits for DNS");
            // The wait is bounded: timeout_ms plus a margin.
            let deadline = core.poll_timeout().expect("a deadline");
            assert!(deadline <= t0 + Duration::from_millis(1_600));
            core.handle_timeout(t0 + Duration::from_millis(1_600));
            let sent = invites(&mut core);
            assert_eq!(sent.len(), 1, "{sent:?}");
            assert_eq!(sent[0].0, "192.0.2.10:5060".parse::<SocketAddr>().unwrap());
            assert_eq!(sent[0].1, "INVITE sip:+15551230000@192.0.2.10:5060 SIP/2.0");
            // A late answer is ignored.
            core.handle_resolved(t0 + Duration::from_secs(2), req.token, &[]);
            assert!(invites(&mut core).is_empty());
        }

        #[test]
        fn c9_c20_resolved_endpoints_first_with_the_srv_domain() {
            let t0 = Instant::now();
            let mut core = core_with_call(t0);
            let req = core.poll_resolve().unwrap();
            let srv = sip_resolve::Endpoint {
                addr: "198.51.100.7:5070".parse().unwrap(),
                transport: sip_transport::Transport::Udp,
                priority_group: 0,
                origin: sip_resolve::Origin::Srv {
                    priority: 10,
                    weight: 1,
                },
            };
            core.handle_resolved(t0, req.token, &[srv]);
            let sent = invites(&mut core);
            assert_eq!(
                sent,
                vec![(
                    srv.addr,
                    "INVITE sip:+15551230000@carrier.test SIP/2.0".to_owned()
                )]
            );
        }

        #[test]
        fn c20_dns_failure_falls_back_at_once() {
            let t0 = Instant::now();
            let mut core = core_with_call(t0);
            let req = core.poll_resolve().unwrap();
            core.handle_resolved(t0, req.token, &[]);
            let sent = invites(&mut core);
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].0, "192.0.2.10:5060".parse::<SocketAddr>().unwrap());
        }
    }
}
