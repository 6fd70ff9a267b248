//! The async resolver: hickory-resolver queries (with its TTL cache), the
//! RFC 3263 section 4 procedure, and the configured-address last resort.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig as HConfig,
    ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::TokioResolver;
use sip_transport::Transport;
use tokio::task::JoinSet;

use crate::error::ResolveError;
use crate::select::{mix64, order_srv, shuffle, SelectionRng, SrvRecord};
use crate::target::{Endpoint, Origin, Plan, SrvQuery, Target};

/// Settings of a [`Resolver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// DNS servers to ask, tried in order (UDP, then TCP for truncated
    /// answers). Empty: the system's `/etc/resolv.conf` (and `/etc/hosts`).
    pub nameservers: Vec<SocketAddr>,
    /// How long to wait for one answer from one server.
    pub timeout: Duration,
    /// How many times a query is sent before it counts as failed.
    pub attempts: usize,
    /// Maximum number of cached answers (positive and negative, kept for
    /// their TTL).
    pub cache_size: u64,
    /// Bound on a whole [`Resolver::resolve`] call, all queries included.
    /// When it expires the configured fallback addresses are used (or
    /// [`ResolveError::Timeout`] is returned).
    pub total_timeout: Duration,
    /// Also look up AAAA records (C2: IPv6 is off on carrier trunks unless
    /// configured).
    pub ipv6: bool,
    /// Seed for the endpoint shuffling and SRV weight draws; `None` seeds
    /// from the operating system. Set it in tests for repeatable orders.
    pub rng_seed: Option<u64>,
}

impl Default for ResolverConfig {
    /// System nameservers, 1 s per try, 2 tries, 1024 cached answers, 4 s
    /// per resolution, IPv4 only, random seed.
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(1),
            attempts: 2,
            cache_size: 1024,
            total_timeout: Duration::from_secs(4),
            ipv6: false,
            rng_seed: None,
        }
    }
}

/// The addresses of a host name and until when they hold
/// ([`Resolver::host_addresses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddresses {
    /// Its A and AAAA records.
    pub ips: Vec<IpAddr>,
    /// When the shorter-lived answer's TTL runs out.
    pub valid_until: std::time::Instant,
}

/// Resolves SIP targets to ordered endpoints (RFC 3263 section 4, C9, C20).
///
/// Cheap to clone (the cache is shared). Must be used inside a tokio
/// runtime.
#[derive(Debug, Clone)]
pub struct Resolver {
    inner: TokioResolver,
    total_timeout: Duration,
    /// One query's bound inside hickory: timeout times attempts.
    query_bound: Duration,
    rng_state: std::sync::Arc<AtomicU64>,
}

impl Resolver {
    /// A resolver with its own answer cache.
    ///
    /// # Errors
    /// [`ResolveError::SystemConfig`] when `nameservers` is empty and the
    /// system configuration cannot be read.
    pub fn new(config: ResolverConfig) -> Result<Self, ResolveError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if config.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| ResolveError::SystemConfig {
                source: Box::new(e),
            })?
        } else {
            let servers = config
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            let mut builder =
                TokioResolver::builder_with_config(HConfig::from_name_servers(servers), provider);
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            builder
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = config.timeout;
        opts.attempts = config.attempts.max(1);
        opts.cache_size = config.cache_size;
        opts.ip_strategy = if config.ipv6 {
            LookupIpStrategy::Ipv4AndIpv6
        } else {
            LookupIpStrategy::Ipv4Only
        };
        // Names are always queried fully qualified; no search list.
        opts.ndots = 0;
        let inner = builder.build().map_err(|e| ResolveError::SystemConfig {
            source: Box::new(e),
        })?;
        let seed = config
            .rng_seed
            .unwrap_or_else(|| SelectionRng::from_entropy().next_u64());
        Ok(Self {
            inner,
            total_timeout: config.total_timeout,
            query_bound: config
                .timeout
                .saturating_mul(u32::try_from(config.attempts.max(1)).unwrap_or(u32::MAX)),
            rng_state: std::sync::Arc::new(AtomicU64::new(seed)),
        })
    }

    /// Resolves `target` into the endpoints to try, in failover order
    /// (walk them with [`crate::TargetList`]).
    ///
    /// RFC 3263 section 4: a numeric IP is used as is (default port 5060,
    /// 5061 for TLS); a name with an explicit port gets A/AAAA only; a name
    /// without a port gets SRV (`_sip._udp` then `_sip._tcp`, or the one
    /// for the URI's transport, or `_sips._tcp` for SIPS), ordered by RFC
    /// 2782 priority and weight, else A/AAAA at the default port. The
    /// addresses of one host are shuffled (C20: random spread).
    ///
    /// `fallback` (the trunk's configured IPs, C20's last resort) is
    /// shuffled and appended after the DNS endpoints, without repeating an
    /// address already listed, using the target's transport. If DNS gives
    /// nothing (no records, timeout, error), the fallback alone is returned
    /// and the DNS failure is logged.
    ///
    /// Never waits longer than [`ResolverConfig::total_timeout`].
    ///
    /// # Errors
    /// Only when there is no endpoint at all: the DNS failure
    /// ([`ResolveError::NoRecords`], [`ResolveError::Timeout`], ...), or an
    /// invalid target.
    pub async fn resolve(
        &self,
        target: &Target,
        fallback: &[SocketAddr],
    ) -> Result<Vec<Endpoint>, ResolveError> {
        let plan = Plan::for_target(target)?;
        let mut rng = self.next_rng();
        let dns = match tokio::time::timeout(self.total_timeout, self.run(plan, &mut rng)).await {
            Ok(result) => result,
            Err(_) => Err(ResolveError::Timeout {
                name: target.host.to_string(),
                after: self.total_timeout,
            }),
        };
        let mut configured: Vec<SocketAddr> = fallback.to_vec();
        shuffle(&mut configured, &mut rng);
        let transport = target.default_transport();
        let mut endpoints = match dns {
            Ok(endpoints) => endpoints,
            Err(error) if !configured.is_empty() => {
                tracing::warn!(
                    target = %target.host,
                    %error,
                    "DNS gave no endpoint; using the configured addresses"
                );
                Vec::new()
            }
            Err(error) => return Err(error),
        };
        let group = endpoints
            .last()
            .map_or(0, |e| e.priority_group.saturating_add(1));
        endpoints.extend(configured.into_iter().map(|addr| Endpoint {
            addr,
            transport,
            priority_group: group,
            origin: Origin::Configured,
        }));
        let mut seen = HashSet::new();
        endpoints.retain(|e| seen.insert((e.addr, e.transport)));
        Ok(endpoints)
    }

    /// The A and AAAA records of `name` (a carrier's source name, C4) and
    /// until when they are valid (the smaller TTL of the two answers, as
    /// the cache keeps them). A name with records of one family only is
    /// fine; bounded by [`ResolverConfig::total_timeout`].
    ///
    /// # Errors
    /// [`ResolveError::NoRecords`] when the name has neither record (an
    /// authoritative "no addresses"); [`ResolveError::Timeout`] and the
    /// other errors when DNS could not tell.
    pub async fn host_addresses(&self, name: &str) -> Result<HostAddresses, ResolveError> {
        let query = async {
            let fqdn = fqdn(name)?;
            let (v4, v6) = tokio::join!(
                self.inner.ipv4_lookup(fqdn.clone()),
                self.inner.ipv6_lookup(fqdn)
            );
            let mut ips = Vec::new();
            let mut valid_until: Option<std::time::Instant> = None;
            let mut failure = None;
            for result in [v4, v6] {
                match result {
                    Ok(lookup) => {
                        ips.extend(lookup.answers().iter().filter_map(|r| match &r.data {
                            RData::A(a) => Some(IpAddr::V4(a.0)),
                            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                            _ => None,
                        }));
                        let until = lookup.valid_until();
                        valid_until = Some(valid_until.map_or(until, |v| v.min(until)));
                    }
                    Err(e) => {
                        let e = convert(name, e, self.query_bound);
                        if !matches!(e, ResolveError::NoRecords { .. }) {
                            failure = Some(e);
                        }
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
            match (ips.is_empty(), valid_until) {
                (false, Some(valid_until)) => Ok(HostAddresses { ips, valid_until }),
                _ => Err(ResolveError::NoRecords {
                    name: name.to_owned(),
                }),
            }
        };
        match tokio::time::timeout(self.total_timeout, query).await {
            Ok(result) => result,
            Err(_) => Err(ResolveError::Timeout {
                name: name.to_owned(),
                after: self.total_timeout,
            }),
        }
    }

    /// Drops every cached answer.
    pub fn clear_cache(&self) {
        self.inner.clear_cache();
    }

    /// A per-call generator: a SplitMix64 stream of seeds, so concurrent
    /// calls never share state and a fixed seed gives a fixed sequence.
    fn next_rng(&self) -> SelectionRng {
        let state = self
            .rng_state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        SelectionRng::seed_from_u64(mix64(state))
    }

    async fn run(&self, plan: Plan, rng: &mut SelectionRng) -> Result<Vec<Endpoint>, ResolveError> {
        match plan {
            Plan::Literal(endpoint) => Ok(vec![endpoint]),
            Plan::Address {
                name,
                port,
                transport,
            } => self.addresses(&name, port, transport, rng).await,
            Plan::Srv {
                name,
                queries,
                transport,
                port,
            } => {
                for query in &queries {
                    match self.srv(query, rng).await {
                        Ok(endpoints) => return Ok(endpoints),
                        Err(e) if e.is_no_records() => continue,
                        Err(e) => return Err(e),
                    }
                }
                tracing::debug!(%name, "no SRV records; trying A/AAAA");
                self.addresses(&name, port, transport, rng).await
            }
        }
    }

    /// A/AAAA of `name`, shuffled, at `port`.
    async fn addresses(
        &self,
        name: &str,
        port: u16,
        transport: Transport,
        rng: &mut SelectionRng,
    ) -> Result<Vec<Endpoint>, ResolveError> {
        let mut ips = lookup_ips(&self.inner, name, self.query_bound).await?;
        shuffle(&mut ips, rng);
        Ok(ips
            .into_iter()
            .map(|ip| Endpoint {
                addr: SocketAddr::new(ip, port),
                transport,
                priority_group: 0,
                origin: Origin::Address,
            })
            .collect())
    }

    /// One SRV query, ordered per RFC 2782, each target's addresses looked
    /// up (concurrently) and shuffled. `NoRecords` when the name has no SRV
    /// records.
    async fn srv(
        &self,
        query: &SrvQuery,
        rng: &mut SelectionRng,
    ) -> Result<Vec<Endpoint>, ResolveError> {
        let fqdn = fqdn(&query.name)?;
        let lookup = self
            .inner
            .srv_lookup(fqdn)
            .await
            .map_err(|e| convert(&query.name, e, self.query_bound))?;
        let records: Vec<SrvRecord> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some(SrvRecord {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: srv.target.to_ascii().trim_end_matches('.').to_owned(),
                }),
                _ => None,
            })
            .collect();
        match records.as_slice() {
            [] => {
                return Err(ResolveError::NoRecords {
                    name: query.name.clone(),
                })
            }
            [only] if only.is_unavailable() => {
                return Err(ResolveError::ServiceNotAvailable {
                    name: query.name.clone(),
                })
            }
            _ => {}
        }
        let ordered: Vec<SrvRecord> = order_srv(records, rng)
            .into_iter()
            .filter(|r| !r.is_unavailable())
            .collect();

        // Look up every distinct target at once; a slow one must not hold
        // the others past the total bound.
        let mut tasks = JoinSet::new();
        let mut distinct: Vec<&str> = Vec::new();
        for record in &ordered {
            if !distinct.contains(&record.target.as_str()) {
                distinct.push(&record.target);
                let inner = self.inner.clone();
                let host = record.target.clone();
                let bound = self.query_bound;
                tasks.spawn(async move {
                    let result = lookup_ips(&inner, &host, bound).await;
                    (host, result)
                });
            }
        }
        let mut addresses = std::collections::HashMap::new();
        let mut last_error = None;
        while let Some(joined) = tasks.join_next().await {
            let Ok((host, result)) = joined else { continue };
            match result {
                Ok(ips) => {
                    addresses.insert(host, ips);
                }
                Err(error) => {
                    tracing::warn!(srv = %query.name, %host, %error, "SRV target has no address");
                    last_error = Some(error);
                }
            }
        }

        let mut endpoints = Vec::new();
        let mut group = 0u16;
        let mut group_priority = ordered.first().map(|r| r.priority);
        for record in &ordered {
            if Some(record.priority) != group_priority {
                group_priority = Some(record.priority);
                group = group.saturating_add(1);
            }
            let Some(ips) = addresses.get(&record.target) else {
                continue;
            };
            let mut ips = ips.clone();
            shuffle(&mut ips, rng);
            endpoints.extend(ips.into_iter().map(|ip| Endpoint {
                addr: SocketAddr::new(ip, record.port),
                transport: query.transport,
                priority_group: group,
                origin: Origin::Srv {
                    priority: record.priority,
                    weight: record.weight,
                },
            }));
        }
        if endpoints.is_empty() {
            return Err(last_error.unwrap_or(ResolveError::NoRecords {
                name: query.name.clone(),
            }));
        }
        // Renumber groups so that they count only groups with endpoints.
        renumber_groups(&mut endpoints);
        Ok(endpoints)
    }
}

/// Makes `priority_group` dense (0, 1, 2...) in list order.
fn renumber_groups(endpoints: &mut [Endpoint]) {
    let mut previous = None;
    let mut next = 0u16;
    for endpoint in endpoints {
        if previous != Some(endpoint.priority_group) {
            if previous.is_some() {
                next = next.saturating_add(1);
            }
            previous = Some(endpoint.priority_group);
        }
        endpoint.priority_group = next;
    }
}

async fn lookup_ips(
    resolver: &TokioResolver,
    host: &str,
    bound: Duration,
) -> Result<Vec<IpAddr>, ResolveError> {
    let lookup = resolver
        .lookup_ip(fqdn(host)?)
        .await
        .map_err(|e| convert(host, e, bound))?;
    let ips: Vec<IpAddr> = lookup.iter().collect();
    if ips.is_empty() {
        Err(ResolveError::NoRecords {
            name: host.to_owned(),
        })
    } else {
        Ok(ips)
    }
}

/// `name` as an absolute DNS name (no search list).
fn fqdn(name: &str) -> Result<Name, ResolveError> {
    let mut n = Name::from_ascii(name).map_err(|_| ResolveError::InvalidName {
        name: name.to_owned(),
    })?;
    n.set_fqdn(true);
    Ok(n)
}

/// Maps hickory's error; `bound` is what a timeout waited.
fn convert(name: &str, error: NetError, bound: Duration) -> ResolveError {
    let name = name.to_owned();
    if error.is_no_records_found() {
        return ResolveError::NoRecords { name };
    }
    match error {
        NetError::Timeout => ResolveError::Timeout { name, after: bound },
        NetError::Io(io) => ResolveError::Io {
            name,
            source: std::io::Error::new(io.kind(), io.to_string()),
        },
        other => ResolveError::Server {
            name,
            source: Box::new(other),
        },
    }
}
