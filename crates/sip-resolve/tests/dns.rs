//! RFC 3263 resolution against a real DNS server on loopback: Debian's
//! dnsmasq (package `dnsmasq-base`), started per test on a free port with
//! SRV and A records, killed on drop.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sip_resolve::{
    Endpoint, Host, Origin, ResolveError, Resolver, ResolverConfig, Target, TargetList, Transport,
};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// The zone every test sees.
///
/// `carrier.test`: `_sip._udp` SRV to sbc1 (priority 10, weight 60), sbc2
/// (10, 20) and sbc3 (20, 100); `_sips._tcp` SRV to sbc1 on 5061; its own A
/// record 127.0.0.10. `aonly.test`: two A records, no SRV. `tcponly.test`:
/// only `_sip._tcp`. `dead.test`: the RFC 2782 "not available" SRV (`.`).
const RECORDS: &[&str] = &[
    "--srv-host=_sip._udp.carrier.test,sbc1.carrier.test,5060,10,60",
    "--srv-host=_sip._udp.carrier.test,sbc2.carrier.test,5062,10,20",
    "--srv-host=_sip._udp.carrier.test,sbc3.carrier.test,5064,20,100",
    "--srv-host=_sips._tcp.carrier.test,sbc1.carrier.test,5061,0,0",
    "--host-record=carrier.test,127.0.0.10",
    "--host-record=sbc1.carrier.test,127.0.0.11",
    "--host-record=sbc2.carrier.test,127.0.0.12",
    "--host-record=sbc3.carrier.test,127.0.0.13",
    "--host-record=aonly.test,127.0.0.21",
    "--host-record=aonly.test,127.0.0.22",
    "--srv-host=_sip._tcp.tcponly.test,sbc2.carrier.test,5070,0,0",
    "--srv-host=_sip._udp.dead.test",
];

/// A dnsmasq process serving [`RECORDS`] on 127.0.0.1; killed on drop.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
}

impl Dnsmasq {
    fn start() -> Self {
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} not found: these tests need a real DNS server; install the Debian \
             package dnsmasq-base (apt-get install -y dnsmasq-base)"
        );
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::try_start(port) {
                Ok(server) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("dnsmasq did not start: {last_error}");
    }

    fn try_start(port: u16) -> Result<Self, String> {
        let mut child = Command::new(DNSMASQ)
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--no-resolv",
                "--no-hosts",
                "--log-facility=-",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                // Locally defined records get this TTL (default 0: no cache).
                "--local-ttl=300",
                // Names under .test that are not defined get NXDOMAIN, not
                // REFUSED (there is no upstream server).
                "--local=/test/",
            ])
            .args(RECORDS)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {DNSMASQ}: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        // dnsmasq listens on TCP as well as UDP: a TCP connect means ready.
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                let mut log = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut log);
                }
                return Err(format!("exited with {status}: {log}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Self { child, addr });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("no TCP listener after 10 s".to_owned())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a free UDP port");
    socket.local_addr().expect("local address").port()
}

fn config(nameserver: SocketAddr, seed: u64) -> ResolverConfig {
    ResolverConfig {
        nameservers: vec![nameserver],
        timeout: Duration::from_millis(500),
        attempts: 2,
        cache_size: 256,
        total_timeout: Duration::from_secs(5),
        ipv6: false,
        rng_seed: Some(seed),
    }
}

fn target(host: &str) -> Target {
    Target::new(Host::parse(host).expect("valid host"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn addrs(endpoints: &[Endpoint]) -> Vec<SocketAddr> {
    endpoints.iter().map(|e| e.addr).collect()
}

fn set(endpoints: &[Endpoint]) -> BTreeSet<SocketAddr> {
    endpoints.iter().map(|e| e.addr).collect()
}

const SBC1: &str = "127.0.0.11:5060";
const SBC2: &str = "127.0.0.12:5062";
const SBC3: &str = "127.0.0.13:5064";

/// C20 / RFC 2782: priority 20 only after every priority 10 target; among
/// priority 10, first picks follow the weights 60:20.
#[tokio::test]
async fn c20_srv_priority_then_weight() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(config(dns.addr, 2782)).unwrap();
    let carrier = target("carrier.test");
    let n: u64 = 2_000;
    let mut sbc1_first = 0u64;
    for _ in 0..n {
        let endpoints = resolver.resolve(&carrier, &[]).await.unwrap();
        assert_eq!(endpoints.len(), 3, "{endpoints:?}");
        let order = addrs(&endpoints);
        // sbc3 (priority 20) is never first, always last.
        assert_eq!(order[2], addr(SBC3), "{order:?}");
        assert!(endpoints.iter().all(|e| e.transport == Transport::Udp));
        assert_eq!(
            endpoints
                .iter()
                .map(|e| e.priority_group)
                .collect::<Vec<_>>(),
            [0, 0, 1]
        );
        if order[0] == addr(SBC1) {
            sbc1_first += 1;
        } else {
            assert_eq!(order[0], addr(SBC2));
        }
    }
    // Binomial: p = 60 / (60 + 20) = 0.75; tolerance 5 standard deviations
    // (about 97 of 2,000), so the test does not flake whatever the seed.
    let p = 0.75;
    let mean = n as f64 * p;
    let tolerance = 5.0 * (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (sbc1_first as f64 - mean).abs() <= tolerance,
        "sbc1 first {sbc1_first} of {n}: expected {mean} +- {tolerance:.0} (3:1)"
    );
}

/// C20 / RFC 3263 section 4.2: no SRV -> A records at the default port,
/// spread at random.
#[tokio::test]
async fn c20_a_record_fallback_when_no_srv() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(config(dns.addr, 1)).unwrap();
    let mut firsts = BTreeSet::new();
    for _ in 0..50 {
        let endpoints = resolver.resolve(&target("aonly.test"), &[]).await.unwrap();
        assert_eq!(
            set(&endpoints),
            BTreeSet::from([addr("127.0.0.21:5060"), addr("127.0.0.22:5060")])
        );
        assert!(endpoints
            .iter()
            .all(|e| e.origin == Origin::Address && e.transport == Transport::Udp));
        firsts.insert(endpoints[0].addr);
    }
    // Random spread: each address leads sometimes (2^-49 to fail by chance
    // with a fair coin; the seed is fixed anyway).
    assert_eq!(firsts.len(), 2);

    // SIPS without SRV for the name: A record, TLS, port 5061.
    let mut sips = target("aonly.test");
    sips.secure = true;
    let endpoints = resolver.resolve(&sips, &[]).await.unwrap();
    assert!(endpoints
        .iter()
        .all(|e| e.transport == Transport::Tls && e.addr.port() == 5061));
}

/// C20: configured IPs come last, after every DNS endpoint, in their own
/// group; alone when DNS has nothing.
#[tokio::test]
async fn c20_configured_ips_last() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(config(dns.addr, 7)).unwrap();
    let configured = [addr("127.0.0.31:5070"), addr("127.0.0.32:5070")];

    let endpoints = resolver
        .resolve(&target("carrier.test"), &configured)
        .await
        .unwrap();
    assert_eq!(endpoints.len(), 5, "{endpoints:?}");
    assert_eq!(
        set(&endpoints[3..]),
        BTreeSet::from(configured),
        "{endpoints:?}"
    );
    assert!(endpoints[3..]
        .iter()
        .all(|e| e.origin == Origin::Configured && e.priority_group == 2));

    // A configured address already found by DNS is not listed twice.
    let endpoints = resolver
        .resolve(&target("carrier.test"), &[addr(SBC1), configured[0]])
        .await
        .unwrap();
    assert_eq!(endpoints.len(), 4, "{endpoints:?}");
    assert_eq!(endpoints[3].addr, configured[0]);

    // Unknown name: no SRV, no A -> the configured addresses alone.
    let endpoints = resolver
        .resolve(&target("unknown.test"), &configured)
        .await
        .unwrap();
    assert_eq!(set(&endpoints), BTreeSet::from(configured));
    assert!(endpoints.iter().all(|e| e.priority_group == 0));

    // ...and without them, a typed error naming the host.
    let error = resolver
        .resolve(&target("unknown.test"), &[])
        .await
        .unwrap_err();
    match &error {
        ResolveError::NoRecords { name } => assert_eq!(name, "unknown.test"),
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("unknown.test"), "{error}");
}

/// C9 / RFC 3263 section 4.2: an explicit port means A/AAAA of the name at
/// that port, never its SRV targets.
#[tokio::test]
async fn c9_explicit_port_skips_srv() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(config(dns.addr, 9)).unwrap();
    let mut t = target("carrier.test");
    t.port = Some(5080);
    let endpoints = resolver.resolve(&t, &[]).await.unwrap();
    assert_eq!(addrs(&endpoints), [addr("127.0.0.10:5080")]);
    assert_eq!(endpoints[0].origin, Origin::Address);
    assert_eq!(endpoints[0].transport, Transport::Udp);

    // The same with transport=tcp: still the name's A record.
    t.transport = Some(Transport::Tcp);
    let endpoints = resolver.resolve(&t, &[]).await.unwrap();
    assert_eq!(addrs(&endpoints), [addr("127.0.0.10:5080")]);
    assert_eq!(endpoints[0].transport, Transport::Tcp);

    // A numeric IP is used as is, without DNS.
    let literal = resolver.resolve(&target("127.0.0.40"), &[]).await.unwrap();
    assert_eq!(addrs(&literal), [addr("127.0.0.40:5060")]);
    assert_eq!(literal[0].origin, Origin::Literal);
}

/// RFC 3263 section 4.1/4.2: SRV per transport: `_sips._tcp` for SIPS,
/// `_sip._tcp` when only TCP is published.
#[tokio::test]
async fn rfc3263_srv_per_transport() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(config(dns.addr, 3)).unwrap();

    let mut sips = target("carrier.test");
    sips.secure = true;
    let endpoints = resolver.resolve(&sips, &[]).await.unwrap();
    assert_eq!(addrs(&endpoints), [addr("127.0.0.11:5061")]);
    assert_eq!(endpoints[0].transport, Transport::Tls);

    // No _sip._udp: the _sip._tcp records, over TCP.
    let endpoints = resolver
        .resolve(&target("tcponly.test"), &[])
        .await
        .unwrap();
    assert_eq!(addrs(&endpoints), [addr("127.0.0.12:5070")]);
    assert_eq!(endpoints[0].transport, Transport::Tcp);

    // transport=tcp on carrier.test: no _sip._tcp there, so its A record
    // at the default port.
    let mut tcp = target("carrier.test");
    tcp.transport = Some(Transport::Tcp);
    let endpoints = resolver.resolve(&tcp, &[]).await.unwrap();
    assert_eq!(addrs(&endpoints), [addr("127.0.0.10:5060")]);
    assert_eq!(endpoints[0].transport, Transport::Tcp);
}

/// RFC 2782: a lone SRV record with target "." means "not available here":
/// no A lookup; the configured addresses still apply.
#[tokio::test]
async fn rfc2782_dot_target_means_not_available() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(config(dns.addr, 4)).unwrap();
    let error = resolver
        .resolve(&target("dead.test"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(error, ResolveError::ServiceNotAvailable { ref name } if name == "_sip._udp.dead.test"),
        "{error:?}"
    );
    let configured = [addr("127.0.0.31:5060")];
    let endpoints = resolver
        .resolve(&target("dead.test"), &configured)
        .await
        .unwrap();
    assert_eq!(addrs(&endpoints), configured);
}

/// C20: answers are cached for their TTL; with the server gone, a second
/// resolution within the TTL gives the same endpoints.
#[tokio::test]
async fn c20_ttl_cache_answers_without_the_server() {
    let mut dns = Dnsmasq::start();
    let mut cfg = config(dns.addr, 5);
    cfg.timeout = Duration::from_millis(200);
    cfg.attempts = 1;
    cfg.total_timeout = Duration::from_secs(2);
    let resolver = Resolver::new(cfg).unwrap();
    let first = resolver
        .resolve(&target("carrier.test"), &[])
        .await
        .unwrap();
    let mut explicit = target("carrier.test");
    explicit.port = Some(5080);
    let first_a = resolver.resolve(&explicit, &[]).await.unwrap();

    dns.stop();

    let second = resolver
        .resolve(&target("carrier.test"), &[])
        .await
        .unwrap();
    assert_eq!(set(&first), set(&second));
    assert_eq!(
        set(&second),
        BTreeSet::from([addr(SBC1), addr(SBC2), addr(SBC3)])
    );
    assert_eq!(second[2].addr, addr(SBC3));
    assert_eq!(resolver.resolve(&explicit, &[]).await.unwrap(), first_a);

    // Without the cache, the dead server is noticed (and bounded).
    resolver.clear_cache();
    let error = resolver
        .resolve(&target("carrier.test"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ResolveError::Timeout { .. } | ResolveError::Io { .. } | ResolveError::Server { .. }
        ),
        "{error:?}"
    );
}

/// C13: the failover walk hands out every endpoint once, priority groups in
/// order, configured addresses last, then ends (next carrier: the router).
#[tokio::test]
async fn c13_failover_order_lists_every_endpoint() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(config(dns.addr, 13)).unwrap();
    let configured = [addr("127.0.0.31:5060")];
    let endpoints = resolver
        .resolve(&target("carrier.test"), &configured)
        .await
        .unwrap();
    let mut list = TargetList::from(endpoints);
    let mut walked = Vec::new();
    // Each failure (503, timeout, transport error, 408) moves on.
    while let Some(endpoint) = list.next() {
        assert_eq!(list.current(), Some(&endpoint));
        walked.push(endpoint);
    }
    assert_eq!(list.next(), None);
    assert_eq!(walked.len(), 4);
    assert_eq!(
        set(&walked),
        BTreeSet::from([addr(SBC1), addr(SBC2), addr(SBC3), configured[0]])
    );
    assert_eq!(set(&walked[..2]), BTreeSet::from([addr(SBC1), addr(SBC2)]));
    assert_eq!(walked[2].addr, addr(SBC3));
    assert_eq!(walked[3].addr, configured[0]);
    assert!(walked
        .windows(2)
        .all(|w| w[0].priority_group <= w[1].priority_group));
}

/// Every wait is bounded: a nameserver that never answers gives an error
/// (a timeout), not a hang.
#[tokio::test]
async fn dns_timeout_is_bounded() {
    // A bound UDP socket that never reads: queries vanish.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = config(silent.local_addr().unwrap(), 0);
    cfg.timeout = Duration::from_millis(200);
    cfg.attempts = 1;
    cfg.total_timeout = Duration::from_secs(3);
    let resolver = Resolver::new(cfg).unwrap();

    let result = tokio::time::timeout(
        Duration::from_secs(30),
        resolver.resolve(&target("carrier.test"), &[]),
    )
    .await
    .expect("resolve returned within its bounds");
    let error = result.unwrap_err();
    assert!(matches!(error, ResolveError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("carrier.test"), "{error}");

    // The configured addresses are the answer when DNS is down.
    let configured = [addr("127.0.0.31:5060")];
    let endpoints = resolver
        .resolve(&target("carrier.test"), &configured)
        .await
        .unwrap();
    assert_eq!(addrs(&endpoints), configured);

    // The total bound holds even when one query's timeout is longer.
    let mut cfg = config(silent.local_addr().unwrap(), 0);
    cfg.timeout = Duration::from_secs(60);
    cfg.total_timeout = Duration::from_millis(300);
    let resolver = Resolver::new(cfg).unwrap();
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        resolver.resolve(&target("carrier.test"), &[]),
    )
    .await
    .expect("resolve returned within its bounds")
    .unwrap_err();
    assert!(
        matches!(error, ResolveError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{error:?}"
    );
}

/// Empty `nameservers` means the system configuration; a numeric IP needs
/// no DNS at all.
#[tokio::test]
async fn system_config_and_literal_ip() {
    let resolver = Resolver::new(ResolverConfig::default()).expect("reads /etc/resolv.conf");
    let mut t = target("[::1]");
    t.transport = Some(Transport::Tls);
    let endpoints = resolver.resolve(&t, &[]).await.unwrap();
    assert_eq!(addrs(&endpoints), [addr("[::1]:5061")]);
    assert_eq!(endpoints[0].transport, Transport::Tls);
}
