//! The tokio driver of `locus sip`: one task owns the [`SipCore`], feeds it
//! what the transport receives and the time, and hands what it wants sent to
//! the transport. One timer, reset to the core's next deadline. DNS
//! resolutions the core asks for ([`crate::dns`]) run in spawned tasks
//! whose answers come back on a channel, as do the addresses of carrier
//! names (C4), kept resolved by one task per name.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use sip_transport::{Endpoint, Event, ListenAddr, TransportConfig};
use tokio::sync::mpsc;

use crate::config::SipConfig;
use crate::core::SipCore;

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A `sip.listen` entry is not a valid address.
    BadListenAddress {
        /// The entry.
        value: String,
        /// Why.
        reason: String,
    },
    /// The transport could not bind or load its TLS material.
    Transport(sip_transport::Error),
    /// The media relay's settings are unusable.
    Media(media::RelayError),
    /// The registrar's store (`data_dir/registrar.sqlite`) cannot be opened.
    Store(String),
    /// The DNS resolver for trunk names could not be set up.
    Dns(sip_resolve::ResolveError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadListenAddress { value, reason } => {
                write!(f, "sip.listen entry {value:?}: {reason}")
            }
            Self::Transport(e) => write!(f, "cannot start the SIP transport: {e}"),
            Self::Media(e) => write!(f, "cannot start the media relay: {e}"),
            Self::Store(e) => write!(f, "cannot open the registrar store: {e}"),
            Self::Dns(e) => write!(f, "cannot set up DNS for trunk outbound names: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A bound, not yet running SIP server.
pub struct Server {
    endpoint: Endpoint,
    events: mpsc::Receiver<Event>,
    core: SipCore,
    /// Present when a trunk has a DNS name in `outbound`.
    resolver: Option<sip_resolve::Resolver>,
    resolved_tx: mpsc::UnboundedSender<Resolved>,
    resolved_rx: mpsc::UnboundedReceiver<Resolved>,
    /// Carrier names (C4) and the addresses they resolved to, from the
    /// refresh tasks (which end when this is dropped).
    carriers_rx: mpsc::UnboundedReceiver<(String, Vec<std::net::IpAddr>)>,
}

/// A finished resolution: the token and the endpoints (empty on failure).
type Resolved = (u64, Vec<sip_resolve::Endpoint>);

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.endpoint.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every listening address of `config`.
    pub async fn bind(config: SipConfig) -> Result<Server, StartError> {
        let mut listen = Vec::with_capacity(config.listen.len());
        for l in &config.listen {
            let a: ListenAddr = l.parse().map_err(|e| StartError::BadListenAddress {
                value: l.clone(),
                reason: format!("{e}"),
            })?;
            listen.push(a);
        }
        let limits = &config.limits;
        let transport = TransportConfig {
            max_message_bytes: limits.max_message_bytes,
            max_header_bytes: limits.max_header_bytes,
            max_segments_per_message: u32::try_from(limits.max_segments_per_message)
                .unwrap_or(u32::MAX),
            idle_timeout: Duration::from_secs(limits.idle_timeout_secs),
            max_connections: limits.max_connections,
            max_connections_per_ip: limits.max_connections_per_ip,
            tls_cert_file: config.tls.as_ref().map(|t| t.cert.clone().into()),
            tls_key_file: config.tls.as_ref().map(|t| t.key.clone().into()),
            ..TransportConfig::default()
        };
        let (endpoint, events) = Endpoint::bind(transport, &listen)
            .await
            .map_err(StartError::Transport)?;
        for a in endpoint.local_addrs() {
            tracing::info!(addr = %a, "listening");
        }
        let mut core = SipCore::new(&config);
        // Via and Contact carry the addresses actually bound (port 0 too).
        core.set_local_addrs(endpoint.local_addrs());
        // The registrar: wall clock for nonces and persisted expiry, and the
        // bindings of the previous run, loaded before serving. Without users
        // nothing can register, so no store is opened.
        let now = tokio::time::Instant::now().into_std();
        let wall = std::time::SystemTime::now();
        core.set_wall_clock(now, wall);
        if !config.users.is_empty() {
            let unix = wall
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let (store, stored) =
                crate::bindings::SqliteStore::open(std::path::Path::new(&config.data_dir), unix)
                    .map_err(StartError::Store)?;
            tracing::info!(dir = %config.data_dir, bindings = stored.len(), "registrar store loaded");
            core.set_binding_store(now, Box::new(store), stored);
        }
        if config.trunks.iter().any(|t| t.emergency_device) {
            // E11: the ELINs the manager published survive a restart.
            let (store, stored) =
                crate::elins::SqliteElinStore::open(std::path::Path::new(&config.data_dir))
                    .map_err(StartError::Store)?;
            tracing::info!(dir = %config.data_dir, elins = stored.len(), "ELIN store loaded");
            core.set_elin_store(Box::new(store), stored);
        }
        if config.media.relay {
            // The relay forwards on its own I/O threads; the core only
            // allocates, configures and drops sessions ([`crate::anchor`]).
            let m = &config.media;
            let relay = media::Relay::new(media::RelayConfig {
                bind_ip: m.bind_ip(&config.listen),
                port_range: m.port_range[0]..=m.port_range[1],
                inactivity_timeout: Duration::from_secs(m.inactivity_timeout_secs.max(1)),
                pool_pairs: m.pool_pairs,
                threads: m.threads,
                ..media::RelayConfig::default()
            })
            .map_err(StartError::Media)?;
            tracing::info!(ip = %relay.config().bind_ip, ports = ?relay.config().port_range, "media relay");
            core.set_media_port(Box::new(crate::anchor::RelayPort::new(relay)));
        }
        let carrier_names = core.carrier_names();
        let uses_dns = !carrier_names.is_empty()
            || config
                .trunks
                .iter()
                .any(|t| !crate::trunk::Target::new(&t.outbound).names().is_empty());
        let resolver = if uses_dns {
            Some(
                sip_resolve::Resolver::new(config.dns.resolver_config())
                    .map_err(StartError::Dns)?,
            )
        } else {
            None
        };
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        let (carriers_tx, carriers_rx) = mpsc::unbounded_channel();
        if let Some(resolver) = &resolver {
            // C4: the carrier names are resolved before the first request
            // is served (each bounded by sip.dns.timeout_ms, all at once),
            // then kept current by one task per name.
            let first = carrier_names.into_iter().map(|name| {
                let resolver = resolver.clone();
                async move {
                    let result = resolver.host_addresses(&name).await;
                    (name, result)
                }
            });
            for (name, result) in futures_join_all(first).await {
                let next = carrier_answer(&name, result, &mut core, now);
                tokio::spawn(refresh_carrier_name(
                    resolver.clone(),
                    name,
                    next,
                    carriers_tx.clone(),
                ));
            }
        }
        Ok(Server {
            endpoint,
            events,
            core,
            resolver,
            resolved_tx,
            resolved_rx,
            carriers_rx,
        })
    }

    /// The bound addresses (with the ports actually bound).
    pub fn local_addrs(&self) -> Vec<ListenAddr> {
        self.endpoint.local_addrs().to_vec()
    }

    /// Serves until `shutdown` resolves, then closes every socket.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // One timer, moved only when the core's next deadline changes: a
        // new `Sleep` per turn of the loop registered and removed a timer
        // entry for every datagram.
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let mut armed: Option<tokio::time::Instant> = None;
        loop {
            let deadline = self.core.poll_timeout().map(tokio::time::Instant::from_std);
            if deadline != armed {
                if let Some(d) = deadline {
                    sleep.as_mut().reset(d);
                }
                armed = deadline;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = self.events.recv() => {
                    let Some(event) = event else { break };
                    self.handle_event(event);
                    // Take what is already queued before sending: fewer wake-ups under load.
                    for _ in 0..64 {
                        match self.events.try_recv() {
                            Ok(event) => self.handle_event(event),
                            Err(_) => break,
                        }
                    }
                }
                Some((name, ips)) = self.carriers_rx.recv() => {
                    self.core.handle_carrier_addresses(&name, &ips);
                }
                Some((token, endpoints)) = self.resolved_rx.recv() => {
                    self.core.handle_resolved(tokio::time::Instant::now().into_std(), token, &endpoints);
                }
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    self.core.handle_timeout(tokio::time::Instant::now().into_std());
                }
            }
            // Whatever woke the loop, due timers and DNS answers are taken
            // now: under a sustained flood the event branch is always
            // ready, and the biased select would never reach them (no
            // retransmission, no Timer B, an emergency call waiting on its
            // manager past sip-elin-timeout).
            if armed.is_some_and(|d| d <= tokio::time::Instant::now()) {
                armed = None;
                self.core
                    .handle_timeout(tokio::time::Instant::now().into_std());
            }
            while let Ok((name, ips)) = self.carriers_rx.try_recv() {
                self.core.handle_carrier_addresses(&name, &ips);
            }
            while let Ok((token, endpoints)) = self.resolved_rx.try_recv() {
                self.core.handle_resolved(
                    tokio::time::Instant::now().into_std(),
                    token,
                    &endpoints,
                );
            }
            self.start_resolutions();
            while let Some(out) = self.core.poll_transmit() {
                let dest = out.dest;
                if let Err(e) = self.endpoint.send(out).await {
                    tracing::warn!(%dest, error = %e, "send failed");
                    self.core
                        .handle_transmit_error(tokio::time::Instant::now().into_std());
                }
            }
        }
        self.core.shutdown(tokio::time::Instant::now().into_std());
        while let Some(out) = self.core.poll_transmit() {
            let dest = out.dest;
            if let Err(e) = self.endpoint.send(out).await {
                tracing::debug!(%dest, error = %e, "send failed at shutdown");
            }
        }
        self.endpoint.shutdown().await;
    }

    /// Spawns a task for each resolution the core asks for; each answer
    /// (bounded by `sip.dns.timeout_ms` inside the resolver) comes back on
    /// the channel.
    fn start_resolutions(&mut self) {
        while let Some(req) = self.core.poll_resolve() {
            let Some(resolver) = self.resolver.clone() else {
                let now = tokio::time::Instant::now().into_std();
                self.core.handle_resolved(now, req.token, &[]);
                continue;
            };
            let tx = self.resolved_tx.clone();
            tokio::spawn(async move {
                let endpoints = match resolver.resolve(&req.target, &[]).await {
                    Ok(e) => e,
                    Err(error) => {
                        tracing::warn!(name = %req.target.host, %error, "DNS gave no endpoint");
                        Vec::new()
                    }
                };
                let _ = tx.send((req.token, endpoints));
            });
        }
    }

    fn handle_event(&mut self, event: Event) {
        let now = tokio::time::Instant::now().into_std();
        match event {
            Event::Message(inbound) => self.core.handle_inbound(now, inbound),
            Event::Error(error) => self.core.handle_stream_error(&error),
            other => tracing::debug!(?other, "transport event ignored"),
        }
    }
}

/// Runs every future to completion, concurrently, in order of the input.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// How soon a carrier name is asked again when DNS could not answer, and
/// the bounds on a TTL-driven refresh.
const CARRIER_RETRY: Duration = Duration::from_secs(10);
const CARRIER_MIN_REFRESH: Duration = Duration::from_secs(1);
const CARRIER_MAX_REFRESH: Duration = Duration::from_secs(3600);

/// Applies a carrier name's answer (C4) to the core: its addresses; none
/// when DNS says it has no records; the previous set kept when DNS could
/// not tell (timeout, server failure), so a DNS outage does not cut a
/// carrier off. When to ask again: when the answer's TTL runs out
/// (bounded), or soon after a failure.
fn carrier_answer(
    name: &str,
    result: Result<sip_resolve::HostAddresses, sip_resolve::ResolveError>,
    core: &mut SipCore,
    now: std::time::Instant,
) -> tokio::time::Instant {
    let after = match result {
        Ok(a) => {
            core.handle_carrier_addresses(name, &a.ips);
            a.valid_until.saturating_duration_since(now)
        }
        Err(error) if error.is_no_records() => {
            tracing::warn!(name, %error, "carrier name has no addresses: nothing is served as it");
            core.handle_carrier_addresses(name, &[]);
            CARRIER_RETRY
        }
        Err(error) => {
            tracing::warn!(name, %error, "carrier name not resolved: previous addresses kept");
            CARRIER_RETRY
        }
    };
    tokio::time::Instant::now() + after.clamp(CARRIER_MIN_REFRESH, CARRIER_MAX_REFRESH)
}

/// Keeps carrier name `name` resolved (C4): asks DNS again at `next` and
/// after each answer's TTL, and sends what it finds to the driver's loop;
/// ends when the server is gone.
async fn refresh_carrier_name(
    resolver: sip_resolve::Resolver,
    name: String,
    mut next: tokio::time::Instant,
    tx: mpsc::UnboundedSender<(String, Vec<std::net::IpAddr>)>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = tx.closed() => return,
        }
        let now = tokio::time::Instant::now();
        let after = match resolver.host_addresses(&name).await {
            Ok(a) => {
                let after = a.valid_until.saturating_duration_since(now.into_std());
                if tx.send((name.clone(), a.ips)).is_err() {
                    return;
                }
                after
            }
            Err(error) if error.is_no_records() => {
                tracing::warn!(name, %error, "carrier name has no addresses: nothing is served as it");
                if tx.send((name.clone(), Vec::new())).is_err() {
                    return;
                }
                CARRIER_RETRY
            }
            Err(error) => {
                tracing::warn!(name, %error, "carrier name not resolved: previous addresses kept");
                CARRIER_RETRY
            }
        };
        next = tokio::time::Instant::now() + after.clamp(CARRIER_MIN_REFRESH, CARRIER_MAX_REFRESH);
    }
}
