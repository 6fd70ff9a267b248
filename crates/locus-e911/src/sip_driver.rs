//! The manager's SIP side, driven by tokio: one task owns every sans-IO
//! machine ([`Subscriber`] per call server, [`Publisher`] per SIP server,
//! [`RedirectUas`] per gateway username), the location engine and the
//! in-memory device map; it feeds them what the transport receives and the
//! time, and hands what they want sent to the transport. One timer for all
//! machines: the earliest of their `poll_timeout`s.
//!
//! # The 302 never waits on the store (E8, E12)
//!
//! The loop never awaits the store. Device records, removals and emergency
//! calls go to a persister task over an unbounded queue, written in order;
//! the ELIN of an emergency caller comes from the in-memory device map and
//! the ELIN pools. Configuration snapshots are read by a watcher task on
//! every change the API announces ([`crate::api::ApiState::subscribe`]) and
//! handed to the loop ready to apply.
//!
//! # Publication (E11)
//!
//! Each tracked, located device's PIDF-LO with its ELIN is PUBLISHed to
//! the active SIP server of its call server (the first healthy member,
//! E15). It is published again when its location, ELIN or civic address
//! changes, or when the active server changes; a device that is no longer
//! located or tracked is unpublished. Publications wait while a full
//! state is still coming in from their call server and go out at most
//! [`PUBLISH_WINDOW`] at a time per SIP server, so a download of 100,000
//! devices is not slowed by, nor floods the server with, their PUBLISHes.
//!
//! # Device download
//!
//! A NOTIFY's 200 is sent before its devices are placed (the notifier
//! prepares its next NOTIFY meanwhile); device writes queued while the
//! store was busy go in one transaction.
//!
//! # Sending
//!
//! UDP datagrams are sent inline. Stream messages go through one small
//! task per (transport, destination), so a TCP connect to a dead cluster
//! member never holds up a 302 to another.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pidf_lo::{Elin, LocationDoc};
use reginfo::{device_key, Contact, DeviceChange, DeviceIdent};
use sip_core::Message;
use sip_transport::{Endpoint, Event, ListenAddr, Outbound, Transport};
use tokio::sync::{broadcast, mpsc, watch};

use crate::api::ConfigEvent;
use crate::location::{DeviceFacts, ElinPools, Filters, LocationEngine};
use crate::model::{
    self, aor_user, normalize_mac, CallServer, Device, DeviceState, EmergencyCall, Id, LocatedBy,
    SubscriptionMode,
};
use crate::redirect::{
    self, CallerInfo, EmergencyCallEvent, PublicationKey, Publisher, PublisherConfig,
    PublisherEvent, RedirectConfig, RedirectUas, Route,
};
use crate::store::{ConfigSnapshot, Store, StoreError, StoreHandle};
use crate::subscriber::{
    Member, SubscribeMode, Subscriber, SubscriberConfig, SubscriberEvent, SubscriptionStatus,
};

/// The User-Agent / Server header of the manager's SIP messages.
const AGENT: &str = concat!("Locus-E911/", env!("CARGO_PKG_VERSION"));

/// How long a stream sender task waits for more before it ends.
const STREAM_SENDER_IDLE: Duration = Duration::from_secs(60);

/// PUBLISHes in flight per SIP server ([`PublisherConfig::max_in_flight`]).
const PUBLISH_WINDOW: usize = 64;

/// How long shutdown waits for the persister to write what is queued.
const PERSIST_DRAIN: Duration = Duration::from_secs(5);

/// The manager's own SIP addresses, as peers reach them.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    /// The host in Via, Contact and From.
    host: String,
    /// The bound addresses.
    addrs: Vec<ListenAddr>,
}

impl Local {
    /// From the bound addresses and the configured host (else the IP of
    /// the first bound address).
    pub(crate) fn new(addrs: Vec<ListenAddr>, sip_host: Option<&str>) -> Local {
        let host = match sip_host {
            Some(h) => h.to_owned(),
            None => addrs
                .first()
                .map(|a| sip_core::Host::from(a.addr.ip()).to_string())
                .unwrap_or_else(|| "127.0.0.1".into()),
        };
        Local { host, addrs }
    }

    /// The local port used for `t` (its listener, else the first one).
    fn port(&self, t: Transport) -> u16 {
        self.addrs
            .iter()
            .find(|a| a.transport == t)
            .or(self.addrs.first())
            .map_or(5070, |a| a.addr.port())
    }

    fn sent_by(&self, t: Transport) -> String {
        format!("{}:{}", self.host, self.port(t))
    }

    fn uri(&self) -> String {
        format!("sip:e911@{}", self.host)
    }

    fn contact(&self, t: Transport) -> String {
        let param = if t == Transport::Udp {
            String::new()
        } else {
            format!(";transport={}", t.as_via_str().to_ascii_lowercase())
        };
        format!("sip:e911@{}:{}{param}", self.host, self.port(t))
    }
}

/// What the driver starts from: the bound transport and the records read
/// at start.
pub(crate) struct Parts {
    pub(crate) endpoint: Endpoint,
    pub(crate) events: mpsc::Receiver<Event>,
    pub(crate) local: Local,
    pub(crate) snapshot: ConfigSnapshot,
    pub(crate) devices: Vec<Device>,
    /// The subscribers' member check: interval (`None`: off) and timeout
    /// ([`SubscriberConfig::member_check`]).
    pub(crate) member_check: (Option<Duration>, Duration),
}

/// Any other store write.
type Write = Box<dyn FnOnce(&mut Store) -> Result<(), StoreError> + Send>;

/// A store write queued by the loop.
enum Job {
    /// A device placed (the download's bulk: its own variant so that the
    /// store thread hands the device back to be freed here, see
    /// [`persist`]).
    Upsert(Device),
    Other(Write),
}

/// Runs the SIP side until `stop` turns true.
pub(crate) async fn run(
    parts: Parts,
    store: StoreHandle,
    config_events: broadcast::Receiver<ConfigEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let (persist_tx, persist_rx) = mpsc::unbounded_channel::<Vec<(&'static str, Job)>>();
    let persister = tokio::spawn(persist(store.clone(), persist_rx));
    let (snap_tx, mut snap_rx) = mpsc::channel::<ConfigSnapshot>(4);
    let watcher = tokio::spawn(watch_config(store, config_events, snap_tx));

    let Parts {
        endpoint,
        mut events,
        local,
        snapshot,
        devices,
        member_check,
    } = parts;
    let mut d = Driver {
        endpoint,
        local,
        persist: persist_tx,
        jobs: Vec::new(),
        streams: HashMap::new(),
        engine: LocationEngine::default(),
        pools: ElinPools::new(),
        servers: BTreeMap::new(),
        publishers: HashMap::new(),
        uas: HashMap::new(),
        devices: HashMap::default(),
        by_user: HashMap::default(),
        to_publish: VecDeque::new(),
        publish_queued: HashSet::new(),
        outbox: Vec::new(),
        member_check,
    };
    let now = Instant::now();
    d.apply_snapshot(now, snapshot, devices);
    d.flush().await;

    loop {
        let mut received = false;
        let deadline = d.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            r = stop.wait_for(|s| *s) => {
                let _ = r;
                break;
            }
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                d.on_transport_event(ev);
                // Take what is already queued: fewer wake-ups under load.
                for _ in 0..64 {
                    match events.try_recv() {
                        Ok(ev) => d.on_transport_event(ev),
                        Err(_) => break,
                    }
                }
                received = true;
            }
            snap = snap_rx.recv() => {
                if let Some(snap) = snap {
                    d.apply_snapshot(Instant::now(), snap, Vec::new());
                }
            }
            () = sleep => d.on_timeout(Instant::now()),
        }
        if received {
            // The answers first (a NOTIFY's 200, a 302): the notifier sends
            // its next NOTIFY while the devices of this one are placed,
            // recorded and published.
            d.take_transmits();
            d.flush().await;
            d.collect(Instant::now());
        }
        d.flush().await;
    }

    // Shutdown: end the subscriptions (best effort), then stop.
    let now = Instant::now();
    for s in d.servers.values_mut() {
        s.sub.close(now);
    }
    d.collect(now);
    d.flush().await;
    watcher.abort();
    let Driver {
        endpoint, persist, ..
    } = d;
    drop(persist);
    if tokio::time::timeout(PERSIST_DRAIN, persister)
        .await
        .is_err()
    {
        tracing::warn!("shutdown: the store did not take every queued write in time");
    }
    endpoint.shutdown().await;
}

/// Most queued jobs written in one store transaction.
const PERSIST_BATCH: usize = 4096;

/// Writes queued jobs to the store, in order; a failure is logged, never
/// fatal. What is queued when the store is free goes in one transaction
/// ([`Store::batch`]): a device download queues thousands of devices a
/// second, and one commit each would cost more than the download itself.
async fn persist(store: StoreHandle, mut rx: mpsc::UnboundedReceiver<Vec<(&'static str, Job)>>) {
    while let Some(mut jobs) = rx.recv().await {
        while jobs.len() < PERSIST_BATCH {
            match rx.try_recv() {
                Ok(more) => jobs.extend(more),
                Err(_) => break,
            }
        }
        let written = store
            .call(move |s| {
                s.batch(|s| {
                    // The devices written come back to be freed on this
                    // thread, which allocated them: freed on the store
                    // thread, each free took the allocator lock of this
                    // one's arena, and both threads waited on it.
                    let mut spent = Vec::with_capacity(jobs.len());
                    for (what, job) in jobs {
                        // One job's bug must not lose the others' writes.
                        let done =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
                                Job::Upsert(dev) => {
                                    s.upsert_device(dev).map(|u| spent.push(u.device))
                                }
                                Job::Other(f) => f(s),
                            }));
                        match done {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(what, error = %e, "e911 store write failed")
                            }
                            Err(_) => tracing::error!(what, "e911 store write panicked"),
                        }
                    }
                    spent
                })
            })
            .await;
        match written {
            Ok(spent) => drop(spent),
            Err(e) => tracing::warn!(error = %e, "e911 store batch not committed"),
        }
    }
}

/// Reads a configuration snapshot after each announced change (several at
/// once give one read) and hands it to the loop.
async fn watch_config(
    store: StoreHandle,
    mut rx: broadcast::Receiver<ConfigEvent>,
    tx: mpsc::Sender<ConfigSnapshot>,
) {
    loop {
        match rx.recv().await {
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = rx.try_recv() {}
        match store.call(|s| s.snapshot()).await {
            Ok(snap) => {
                if tx.send(snap).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the configuration after a change"),
        }
    }
}

/// A device's identity in memory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DevKey {
    call_server: Id,
    aor: String,
    ident: String,
}

/// What was last PUBLISHed for a device.
#[derive(Debug, Clone, PartialEq)]
struct Published {
    target: (SocketAddr, Transport),
    key: PublicationKey,
    location_id: Id,
    elin: Option<Elin>,
    civic: pidf_lo::CivicAddress,
}

#[derive(Debug, Clone)]
struct Tracked {
    dev: Device,
    /// The RFC 5626 instance, when the registrar reported one.
    instance: Option<String>,
    published: Option<Published>,
}

/// One enabled call server and its subscriber.
struct ServerState {
    server: CallServer,
    filters: Filters,
    sub: Subscriber,
}

struct Driver {
    endpoint: Endpoint,
    local: Local,
    persist: mpsc::UnboundedSender<Vec<(&'static str, Job)>>,
    /// Store writes queued during this loop turn, sent together by
    /// [`Driver::flush`]: one wake-up of the writer per NOTIFY, not one per
    /// device of a download.
    jobs: Vec<(&'static str, Job)>,
    streams: HashMap<(Transport, SocketAddr), mpsc::UnboundedSender<Bytes>>,
    engine: LocationEngine,
    pools: ElinPools,
    servers: BTreeMap<Id, ServerState>,
    publishers: HashMap<(SocketAddr, Transport), Publisher>,
    /// Redirect UASes by gateway username (E12); kept across reloads so
    /// retransmissions meet their transaction.
    uas: HashMap<String, RedirectUas>,
    /// Boxed: a record is large (its publication holds a civic address),
    /// and a download of 100,000 devices grows the map many times over.
    /// Keyed by AORs from the network: foldhash with a random seed (fast,
    /// and not predictable by whoever registers phones).
    devices: HashMap<DevKey, Box<Tracked>, foldhash::fast::RandomState>,
    /// Lower-case AOR user to the devices with it (emergency caller lookup).
    by_user: HashMap<String, Vec<DevKey>, foldhash::fast::RandomState>,
    /// Devices whose publication may need a change, in order; each once
    /// ([`Driver::publish_pending`]).
    to_publish: VecDeque<DevKey>,
    publish_queued: HashSet<DevKey>,
    outbox: Vec<(SocketAddr, Transport, Bytes)>,
    member_check: (Option<Duration>, Duration),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn transport_of(t: model::Transport) -> Transport {
    match t {
        model::Transport::Udp => Transport::Udp,
        model::Transport::Tcp => Transport::Tcp,
        model::Transport::Tls => Transport::Tls,
    }
}

fn members_of(c: &CallServer) -> Vec<Member> {
    c.members
        .iter()
        .map(|m| Member::new(SocketAddr::new(m.ip, m.port), transport_of(m.transport)))
        .collect()
}

/// Whether two records of one call server subscribe the same way (else
/// the subscriber is built again).
fn same_subscription(a: &CallServer, b: &CallServer) -> bool {
    a.members == b.members
        && a.subscription_mode == b.subscription_mode
        && a.aors == b.aors
        && a.kind == b.kind
}

/// The IP in a contact URI's host part (`sip:alice@10.0.0.5:5060;ob`).
fn uri_ip(uri: &str) -> Option<IpAddr> {
    let s = uri.trim().trim_start_matches('<');
    let s = s.split_once(':').map_or(s, |(scheme, rest)| {
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            rest
        } else {
            s
        }
    });
    let s = s.rsplit_once('@').map_or(s, |(_, h)| h);
    let s = s.split([';', '?', '>']).next().unwrap_or(s);
    if let Some(v6) = s.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    let host = s.split(':').next().unwrap_or(s);
    host.parse().ok()
}

/// `pres:user@host` for an AOR (the PIDF entity).
fn pres_entity(aor: &str) -> String {
    let a = aor.trim();
    let lower = a.to_ascii_lowercase();
    let rest = if lower.starts_with("sips:") {
        &a[5..]
    } else if lower.starts_with("sip:") {
        &a[4..]
    } else {
        a
    };
    format!("pres:{rest}")
}

/// Whether two device records are the same, but for id and time.
fn same_record(a: &Device, b: &Device) -> bool {
    a.user == b.user
        && a.contact == b.contact
        && a.source_ip == b.source_ip
        && a.mac == b.mac
        && a.state == b.state
        && a.location_id == b.location_id
        && a.elin == b.elin
        && a.located_by == b.located_by
}

impl Driver {
    // ---- configuration ----

    /// Applies a configuration snapshot: location engine, ELIN pools,
    /// subscribers (rebuilt only when their subscription changed),
    /// publishers; `loaded` devices (read at start) join the map; then every
    /// call server's devices are placed again.
    fn apply_snapshot(&mut self, now: Instant, snap: ConfigSnapshot, loaded: Vec<Device>) {
        self.engine = LocationEngine::new(
            snap.locations.iter().cloned(),
            snap.regions,
            snap.assignments,
        );
        self.pools.sync(&snap.locations);

        let enabled: BTreeMap<Id, CallServer> = snap
            .call_servers
            .into_iter()
            .filter(|c| c.enabled)
            .map(|c| (c.id, c))
            .collect();
        // Gone or disabled call servers: end their subscriptions, forget
        // their devices (the store keeps them).
        let gone: Vec<Id> = self
            .servers
            .keys()
            .filter(|id| !enabled.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(mut s) = self.servers.remove(&id) {
                tracing::info!(call_server = id, name = %s.server.name, "call server removed or disabled: unsubscribing");
                s.sub.close(now);
                while let Some(t) = s.sub.poll_transmit() {
                    self.outbox.push(t);
                }
            }
            let keys: Vec<DevKey> = self
                .devices
                .keys()
                .filter(|k| k.call_server == id)
                .cloned()
                .collect();
            for k in keys {
                self.forget(&k);
            }
        }
        for (id, c) in enabled {
            let filters = Filters::compile(&c.filters).unwrap_or_else(|e| {
                tracing::warn!(call_server = id, error = %e, "filters do not compile; none applied");
                Filters::default()
            });
            match self.servers.get_mut(&id) {
                Some(s) if same_subscription(&s.server, &c) => {
                    s.server = c;
                    s.filters = filters;
                }
                _ => {
                    if let Some(mut old) = self.servers.remove(&id) {
                        old.sub.close(now);
                        while let Some(t) = old.sub.poll_transmit() {
                            self.outbox.push(t);
                        }
                    }
                    let sub = self.new_subscriber(now, &c);
                    tracing::info!(call_server = id, name = %c.name, members = c.members.len(), "subscribing to reg events");
                    self.servers.insert(
                        id,
                        ServerState {
                            server: c,
                            filters,
                            sub,
                        },
                    );
                }
            }
        }
        // One publisher per member of an enabled call server.
        let wanted: HashSet<(SocketAddr, Transport)> = self
            .servers
            .values()
            .flat_map(|s| members_of(&s.server))
            .map(|m| (m.addr, m.transport))
            .collect();
        self.publishers.retain(|k, _| wanted.contains(k));
        for (addr, t) in wanted {
            if !self.publishers.contains_key(&(addr, t)) {
                let mut cfg = PublisherConfig::new(self.local.uri(), self.local.sent_by(t));
                cfg.user_agent = Some(AGENT.into());
                cfg.max_in_flight = PUBLISH_WINDOW;
                self.publishers
                    .insert((addr, t), Publisher::new(cfg, addr, t));
            }
        }
        for dev in loaded {
            if !self.servers.contains_key(&dev.call_server_id) {
                continue;
            }
            let key = DevKey {
                call_server: dev.call_server_id,
                aor: dev.aor.clone(),
                ident: dev.ident.clone(),
            };
            let instance = dev.ident.starts_with("urn:").then(|| dev.ident.clone());
            self.insert_tracked(
                key,
                Tracked {
                    dev,
                    instance,
                    published: None,
                },
            );
        }
        let ids: Vec<Id> = self.servers.keys().copied().collect();
        for id in ids {
            self.resync(now, id);
        }
        self.collect(now);
    }

    fn new_subscriber(&self, now: Instant, c: &CallServer) -> Subscriber {
        let members = members_of(c);
        let t = members.first().map_or(Transport::Udp, |m| m.transport);
        let mut cfg = SubscriberConfig::new(
            self.local.uri(),
            self.local.contact(t),
            self.local.sent_by(t),
        );
        cfg.user_agent = Some(AGENT.into());
        cfg.rng_seed ^= u64::try_from(c.id).unwrap_or(0);
        (cfg.member_check, cfg.member_check_timeout) = self.member_check;
        let mode = match c.subscription_mode {
            SubscriptionMode::Server => SubscribeMode::Server,
            SubscriptionMode::PerAor => SubscribeMode::PerAor(c.aors.clone()),
        };
        if members.iter().any(|m| m.transport == Transport::Tls) {
            tracing::warn!(call_server = c.id, "TLS members are not supported by the manager's SIP side yet; their SUBSCRIBEs will fail");
        }
        let mut sub = Subscriber::new(cfg, members, mode);
        sub.start(now);
        sub
    }

    // ---- devices ----

    fn insert_tracked(&mut self, key: DevKey, t: Tracked) {
        let user = t.dev.user.to_ascii_lowercase();
        if self.devices.insert(key.clone(), Box::new(t)).is_none() {
            self.by_user.entry(user).or_default().push(key);
        }
    }

    /// Drops a device from memory only.
    fn forget(&mut self, key: &DevKey) -> Option<Box<Tracked>> {
        let t = self.devices.remove(key)?;
        let user = t.dev.user.to_ascii_lowercase();
        if let Some(v) = self.by_user.get_mut(&user) {
            v.retain(|k| k != key);
            if v.is_empty() {
                self.by_user.remove(&user);
            }
        }
        Some(t)
    }

    /// A device is no longer tracked (unregistered, filtered out): forget
    /// it, remove it from the store, withdraw its publication.
    fn untrack(&mut self, now: Instant, key: &DevKey) {
        let Some(t) = self.forget(key) else {
            return;
        };
        if let Some(p) = t.published {
            if let Some(publ) = self.publishers.get_mut(&p.target) {
                publ.unpublish(now, &p.key);
            }
        }
        let (cs, aor, ident) = (key.call_server, key.aor.clone(), key.ident.clone());
        self.queue("remove device", move |s| {
            s.remove_device(cs, &aor, &ident).map(|_| ())
        });
    }

    /// Queues a store write; [`Driver::flush`] hands it to the writer.
    fn queue(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Store) -> Result<(), StoreError> + Send + 'static,
    ) {
        self.jobs.push((what, Job::Other(Box::new(f))));
    }

    /// A contact reported by the active member of `cs` (E9).
    fn track_contact(&mut self, now: Instant, cs: Id, aor: &str, c: &Contact) {
        let dk = device_key(aor, c);
        let (ident, instance) = match dk.device {
            DeviceIdent::Instance(i) => (i.clone(), Some(i)),
            DeviceIdent::ContactId(id) => (id, None),
        };
        let key = DevKey {
            call_server: cs,
            aor: aor.to_owned(),
            ident,
        };
        let mac = instance.as_deref().and_then(normalize_mac);
        let dev = Device {
            id: self.devices.get(&key).map_or(0, |t| t.dev.id),
            call_server_id: cs,
            aor: aor.to_owned(),
            ident: key.ident.clone(),
            user: aor_user(aor).to_owned(),
            contact: c.uri.clone(),
            source_ip: uri_ip(&c.uri),
            mac,
            state: DeviceState::Unlocated,
            location_id: None,
            elin: None,
            located_by: None,
            updated_at: now_ms(),
        };
        self.place(now, key, dev, instance);
    }

    /// Filters (E14), locates (E10), records and publishes (E11) one
    /// device from its facts in `dev`.
    fn place(&mut self, now: Instant, key: DevKey, mut dev: Device, instance: Option<String>) {
        let Some(s) = self.servers.get(&key.call_server) else {
            return;
        };
        if s.filters.excludes(&DeviceFacts::from(&dev)) {
            if self.devices.contains_key(&key) {
                tracing::info!(aor = %key.aor, "device excluded by the call server's filters: no longer tracked");
            }
            self.untrack(now, &key);
            return;
        }
        self.engine.place(&s.server, &mut dev);
        let changed = self
            .devices
            .get(&key)
            .is_none_or(|t| !same_record(&t.dev, &dev));
        if changed {
            tracing::debug!(aor = %dev.aor, ident = %dev.ident, location = ?dev.location_id, elin = ?dev.elin, "device placed");
            self.jobs.push(("upsert device", Job::Upsert(dev.clone())));
        }
        match self.devices.get_mut(&key) {
            Some(t) => {
                t.dev = dev;
                t.instance = instance.or(t.instance.take());
            }
            None => self.insert_tracked(
                key.clone(),
                Tracked {
                    dev,
                    instance,
                    published: None,
                },
            ),
        }
        if self.publish_queued.insert(key.clone()) {
            self.to_publish.push_back(key);
        }
    }

    /// Brings publications up to date for the devices placed since the
    /// last call, in order, while their SIP server's publisher has room in
    /// its window and no full state is coming in from their call server
    /// (a download of 100,000 devices must not wait on 100,000 PUBLISHes;
    /// they follow it). The queue stops at the first device that cannot go
    /// yet, whatever the call server of those behind it: order is kept.
    fn publish_pending(&mut self, now: Instant) {
        while let Some(key) = self.to_publish.front() {
            let cs = key.call_server;
            let Some(s) = self.servers.get(&cs) else {
                let key = self.to_publish.pop_front().expect("front exists");
                self.publish_queued.remove(&key);
                continue;
            };
            if s.sub.downloading(now) {
                break;
            }
            let full = self
                .publish_target(cs)
                .and_then(|t| self.publishers.get(&t))
                .is_some_and(|p| p.in_flight() >= PUBLISH_WINDOW);
            if full {
                break;
            }
            let key = self.to_publish.pop_front().expect("front exists");
            self.publish_queued.remove(&key);
            self.sync_publication(now, &key);
        }
    }

    /// Where `cs`'s publications go: its active member, else its first.
    fn publish_target(&self, cs: Id) -> Option<(SocketAddr, Transport)> {
        let s = self.servers.get(&cs)?;
        let members = s.sub.members();
        let m = s
            .sub
            .active_member()
            .and_then(|i| members.get(i))
            .or(members.first())?;
        Some((m.addr, m.transport))
    }

    /// PUBLISHes, republishes or withdraws a device's PIDF-LO so that the
    /// active SIP server holds its current location and ELIN (E11).
    fn sync_publication(&mut self, now: Instant, key: &DevKey) {
        let target = self.publish_target(key.call_server);
        let Some(t) = self.devices.get(key) else {
            return;
        };
        let loc = t
            .dev
            .location_id
            .and_then(|id| self.engine.location(id))
            .filter(|_| t.dev.state == DeviceState::Located);
        let wanted = match (loc, target) {
            (Some(l), Some(target)) => Some((l, target)),
            _ => None,
        };
        let current = t.published.clone();
        let up_to_date = match (&wanted, &current) {
            (Some((l, target)), Some(p)) => {
                p.target == *target
                    && p.location_id == l.id
                    && p.elin == t.dev.elin
                    && p.civic == l.civic
            }
            (None, None) => true,
            _ => false,
        };
        if up_to_date {
            return;
        }
        let Some((l, target)) = wanted else {
            // No longer located: withdraw.
            if let Some(p) = current {
                if let Some(publ) = self.publishers.get_mut(&p.target) {
                    publ.unpublish(now, &p.key);
                }
            }
            if let Some(t) = self.devices.get_mut(key) {
                t.published = None;
            }
            return;
        };
        let mut doc = LocationDoc::new(pres_entity(&t.dev.aor));
        doc.device_id = t
            .dev
            .mac
            .as_deref()
            .and_then(pidf_lo::mac_device_id)
            .or_else(|| t.instance.as_deref().map(pidf_lo::instance_device_id));
        doc.civic = l.civic.clone();
        doc.elin = t.dev.elin.clone();
        doc.method = Some(
            match t.dev.located_by {
                Some(LocatedBy::Manual) => "Manual",
                _ => "Derived",
            }
            .into(),
        );
        doc.timestamp = Some(crate::store::rfc3339(now_ms()));
        // The location exists to reach the PSAP, a third party to the SIP
        // server and the gateway: without this permission a gateway may
        // refuse the call (RFC 6442 section 4.4, Geolocation-Error 201).
        doc.usage.retransmission_allowed = true;
        let published = Published {
            target,
            key: PublicationKey {
                aor: t.dev.aor.clone(),
                device_id: doc.device_id.clone(),
            },
            location_id: l.id,
            elin: t.dev.elin.clone(),
            civic: l.civic.clone(),
        };
        let aor = t.dev.aor.clone();
        let Some(publ) = self.publishers.get_mut(&target) else {
            return;
        };
        tracing::info!(%aor, elin = ?published.elin, server = %target.0, "publishing the device's location and ELIN");
        let k = publ.publish(now, &aor, doc);
        if let Some(t) = self.devices.get_mut(key) {
            t.published = Some(Published {
                key: k,
                ..published
            });
        }
    }

    /// Places every device of `cs` again: from the active member's current
    /// registrations when there is one (devices it no longer reports are
    /// dropped), else from what memory holds.
    fn resync(&mut self, now: Instant, cs: Id) {
        let Some(s) = self.servers.get(&cs) else {
            return;
        };
        let regs = s
            .sub
            .active_member()
            .and_then(|i| s.sub.member_registrations(i))
            .map(|set| {
                set.contacts()
                    .map(|(aor, c)| (aor.to_owned(), c.clone()))
                    .collect::<Vec<_>>()
            });
        let mine: Vec<DevKey> = self
            .devices
            .keys()
            .filter(|k| k.call_server == cs)
            .cloned()
            .collect();
        match regs {
            Some(regs) => {
                let mut seen = HashSet::new();
                for (aor, c) in &regs {
                    let dk = device_key(aor, c);
                    seen.insert((
                        dk.aor,
                        match dk.device {
                            DeviceIdent::Instance(i) | DeviceIdent::ContactId(i) => i,
                        },
                    ));
                    self.track_contact(now, cs, aor, c);
                }
                for k in mine {
                    if !seen.contains(&(k.aor.clone(), k.ident.clone())) {
                        self.untrack(now, &k);
                    }
                }
            }
            None => {
                for k in mine {
                    if let Some(t) = self.devices.get(&k) {
                        let mut dev = t.dev.clone();
                        dev.updated_at = now_ms();
                        let instance = t.instance.clone();
                        self.place(now, k, dev, instance);
                    }
                }
            }
        }
    }

    // ---- emergency callers (E12) ----

    /// The call server whose member sent from `src` (address and port
    /// first, then the IP alone).
    fn call_server_of(servers: &BTreeMap<Id, ServerState>, src: SocketAddr) -> Option<Id> {
        let ip = src.ip().to_canonical();
        let exact = servers.iter().find(|(_, s)| {
            s.server
                .members
                .iter()
                .any(|m| m.ip.to_canonical() == ip && m.port == src.port())
        });
        exact
            .or_else(|| {
                servers
                    .iter()
                    .find(|(_, s)| s.server.members.iter().any(|m| m.ip.to_canonical() == ip))
            })
            .map(|(id, _)| *id)
    }

    /// The tracked device that placed an emergency call: by instance, then
    /// contact, then AOR, then user; the sending call server's devices and
    /// located ones first.
    fn find_caller<'a>(
        devices: &'a HashMap<DevKey, Box<Tracked>, foldhash::fast::RandomState>,
        by_user: &HashMap<String, Vec<DevKey>, foldhash::fast::RandomState>,
        cs: Option<Id>,
        caller: &CallerInfo,
    ) -> Option<&'a Tracked> {
        let user = caller
            .user
            .clone()
            .unwrap_or_else(|| aor_user(&caller.aor).to_owned())
            .to_ascii_lowercase();
        let candidates = by_user.get(&user)?;
        candidates
            .iter()
            .filter_map(|k| devices.get(k).map(|t| (k, t)))
            .max_by_key(|(k, t)| {
                let instance = caller
                    .instance
                    .as_deref()
                    .is_some_and(|i| t.instance.as_deref() == Some(i) || t.dev.ident == i);
                let contact = caller
                    .contact
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&t.dev.contact));
                let aor = caller.aor.eq_ignore_ascii_case(&t.dev.aor);
                (
                    instance,
                    contact,
                    aor,
                    Some(k.call_server) == cs,
                    t.dev.location_id.is_some(),
                    t.dev.updated_at,
                )
            })
            .map(|(_, t)| &**t)
    }

    fn on_emergency_call(&mut self, ev: EmergencyCallEvent) {
        let cs = Self::call_server_of(&self.servers, ev.caller.source);
        let t = Self::find_caller(&self.devices, &self.by_user, cs, &ev.caller);
        let location = t
            .and_then(|t| t.dev.location_id)
            .and_then(|id| self.engine.location(id));
        let location_text = location
            .map(|l| format!("{}: {}", l.name, pidf_lo::civic_summary(&l.civic)))
            .unwrap_or_default();
        let username = cs
            .and_then(|id| self.servers.get(&id))
            .map_or(redirect::DEFAULT_USERNAME.to_owned(), |s| {
                s.server.username.clone()
            });
        tracing::warn!(
            caller = %ev.caller.aor,
            elin = ?ev.elin.as_ref().map(Elin::as_str),
            location = %location_text,
            "emergency call answered with 302"
        );
        let call = EmergencyCall {
            id: 0,
            call_server_id: cs,
            caller_aor: ev.caller.aor.clone(),
            caller_user: ev
                .caller
                .user
                .clone()
                .unwrap_or_else(|| aor_user(&ev.caller.aor).to_owned()),
            device_id: None,
            location_id: location.map(|l| l.id),
            location_text,
            elin: ev.elin.clone(),
            gateway_username: username,
            // The INVITE was answered within this loop turn.
            received_at: now_ms(),
            answered_with: Some(ev.contact.clone()),
            alerts: Vec::new(),
        };
        let ident = t.map(|t| (t.dev.call_server_id, t.dev.aor.clone(), t.dev.ident.clone()));
        self.queue("record emergency call", move |s| {
            let mut call = call;
            if let Some((cs, aor, ident)) = ident {
                // Written in order after the device's own upsert.
                call.device_id = s.find_device(cs, &aor, &ident)?.map(|d| d.id);
            }
            s.record_emergency_call(call).map(|_| ())
        });
    }

    // ---- input ----

    fn on_transport_event(&mut self, ev: Event) {
        let now = Instant::now();
        match ev {
            Event::Message(inbound) => {
                let parsed = if inbound.transport.is_reliable() {
                    Message::parse(inbound.bytes.clone())
                } else {
                    Message::parse_datagram(inbound.bytes.clone())
                };
                match parsed {
                    Ok(msg) => self.on_message(now, inbound.source, inbound.transport, &msg),
                    Err(e) => {
                        tracing::debug!(source = %inbound.source, error = %e, "unparsable SIP message dropped");
                    }
                }
            }
            Event::Error(e) => {
                tracing::warn!(source = %e.source, error = %e.error, "unframeable SIP stream message");
            }
            other => tracing::debug!(?other, "transport event ignored"),
        }
    }

    fn on_message(&mut self, now: Instant, from: SocketAddr, transport: Transport, msg: &Message) {
        match redirect::route(msg) {
            Route::Subscriber => {
                let cs = Self::call_server_of(&self.servers, from)
                    .or_else(|| self.servers.keys().next().copied());
                match cs.and_then(|id| self.servers.get_mut(&id)) {
                    // A NOTIFY of no subscription of this call server gets
                    // 481 from its subscriber.
                    Some(s) => {
                        let _ = s.sub.handle_message(now, from, transport, msg);
                    }
                    None => tracing::debug!(%from, "reg event message with no call server"),
                }
            }
            Route::Publisher => {
                // Each publisher matches responses by its own branches.
                for p in self.publishers.values_mut() {
                    let _ = p.handle_message(now, from, transport, msg);
                }
            }
            Route::RedirectUas => {
                let cs = Self::call_server_of(&self.servers, from);
                let username = cs
                    .and_then(|id| self.servers.get(&id))
                    .map_or(redirect::DEFAULT_USERNAME.to_owned(), |s| {
                        s.server.username.clone()
                    });
                let uas = self.uas.entry(username.clone()).or_insert_with(|| {
                    RedirectUas::new(RedirectConfig {
                        username,
                        server: Some(AGENT.into()),
                        ..RedirectConfig::default()
                    })
                });
                let devices = &self.devices;
                let by_user = &self.by_user;
                let pools = &mut self.pools;
                let mut elins = |caller: &CallerInfo| -> Option<Elin> {
                    let t = Self::find_caller(devices, by_user, cs, caller)?;
                    t.dev
                        .location_id
                        .and_then(|id| pools.assign(id, now))
                        .or_else(|| t.dev.elin.clone())
                };
                let _ = uas.handle_message(now, from, transport, msg, &mut elins);
            }
            Route::Drop => tracing::debug!(%from, "response to nothing we sent; dropped"),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        for s in self.servers.values_mut() {
            if s.sub.poll_timeout().is_some_and(|t| t <= now) {
                s.sub.handle_timeout(now);
            }
        }
        for p in self.publishers.values_mut() {
            if p.poll_timeout().is_some_and(|t| t <= now) {
                p.handle_timeout(now);
            }
        }
        for u in self.uas.values_mut() {
            if u.poll_timeout().is_some_and(|t| t <= now) {
                u.handle_timeout(now);
            }
        }
        self.collect(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let subs = self.servers.values().filter_map(|s| s.sub.poll_timeout());
        let pubs = self.publishers.values().filter_map(Publisher::poll_timeout);
        let uas = self.uas.values().filter_map(RedirectUas::poll_timeout);
        subs.chain(pubs).chain(uas).min()
    }

    // ---- output ----

    /// Handles every machine's events (which may make more to send), then
    /// moves everything to send into the outbox.
    fn collect(&mut self, now: Instant) {
        // Subscriber events: device changes and member switches.
        let ids: Vec<Id> = self.servers.keys().copied().collect();
        for id in ids {
            while let Some(ev) = self.servers.get_mut(&id).and_then(|s| s.sub.poll_event()) {
                self.on_subscriber_event(now, id, ev);
            }
        }
        let mut calls = Vec::new();
        for u in self.uas.values_mut() {
            while let Some(ev) = u.poll_event() {
                calls.push(ev);
            }
        }
        for ev in calls {
            self.on_emergency_call(ev);
        }
        self.publish_pending(now);
        for (target, p) in &mut self.publishers {
            while let Some(ev) = p.poll_event() {
                match ev {
                    PublisherEvent::Published { key, etag, expires } => {
                        tracing::debug!(server = %target.0, aor = %key.aor, ?etag, ?expires, "PUBLISH accepted");
                    }
                    PublisherEvent::Failed { key, status, .. } => {
                        tracing::warn!(server = %target.0, aor = %key.aor, status, "PUBLISH failed; retrying");
                    }
                    PublisherEvent::Removed { key } => {
                        tracing::debug!(server = %target.0, aor = %key.aor, "publication removed");
                    }
                }
            }
        }
        self.take_transmits();
    }

    /// Moves everything the machines want sent into the outbox.
    fn take_transmits(&mut self) {
        for s in self.servers.values_mut() {
            while let Some(t) = s.sub.poll_transmit() {
                self.outbox.push(t);
            }
        }
        for p in self.publishers.values_mut() {
            while let Some(t) = p.poll_transmit() {
                self.outbox.push(t);
            }
        }
        for u in self.uas.values_mut() {
            while let Some(t) = u.poll_transmit() {
                self.outbox.push(t);
            }
        }
    }

    fn on_subscriber_event(&mut self, now: Instant, cs: Id, ev: SubscriberEvent) {
        match ev {
            SubscriberEvent::DeviceChanged(change) => match &change {
                DeviceChange::Added { aor, contact }
                | DeviceChange::Updated {
                    aor, new: contact, ..
                } => {
                    self.track_contact(now, cs, aor, contact);
                }
                DeviceChange::Removed { aor, contact, .. } => {
                    let dk = device_key(aor, contact);
                    let ident = match dk.device {
                        DeviceIdent::Instance(i) | DeviceIdent::ContactId(i) => i,
                    };
                    let key = DevKey {
                        call_server: cs,
                        aor: aor.clone(),
                        ident,
                    };
                    self.untrack(now, &key);
                }
            },
            SubscriberEvent::ActiveMemberChanged { from, to } => {
                tracing::info!(call_server = cs, ?from, ?to, "active SIP server changed");
                if to.is_some() {
                    // Drops what the new member no longer reports and
                    // publishes to it (E15).
                    self.resync(now, cs);
                }
            }
            SubscriberEvent::SubscriptionState { member, aor, state } => match &state {
                SubscriptionStatus::Failed { status, .. } => {
                    tracing::warn!(
                        call_server = cs,
                        member,
                        ?aor,
                        status,
                        "reg event subscription failed; retrying"
                    );
                }
                SubscriptionStatus::Terminated { reason, .. } => {
                    tracing::warn!(
                        call_server = cs,
                        member,
                        ?aor,
                        ?reason,
                        "reg event subscription terminated; retrying"
                    );
                }
                _ => tracing::info!(
                    call_server = cs,
                    member,
                    ?aor,
                    ?state,
                    "reg event subscription"
                ),
            },
        }
    }

    /// Hands the queued store writes to the writer, then sends the outbox:
    /// datagrams inline, stream messages through their
    /// destination's sender task.
    async fn flush(&mut self) {
        if !self.jobs.is_empty() && self.persist.send(std::mem::take(&mut self.jobs)).is_err() {
            tracing::warn!("the store writer is gone; writes not recorded");
        }
        for (dest, transport, bytes) in std::mem::take(&mut self.outbox) {
            if transport == Transport::Udp {
                if let Err(e) = self
                    .endpoint
                    .send(Outbound::new(transport, dest, bytes))
                    .await
                {
                    tracing::warn!(%dest, error = %e, "SIP send failed");
                }
            } else {
                self.send_stream(transport, dest, bytes);
            }
        }
    }

    fn send_stream(&mut self, transport: Transport, dest: SocketAddr, bytes: Bytes) {
        let bytes = match self.streams.get(&(transport, dest)) {
            Some(tx) => match tx.send(bytes) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => bytes,
        };
        self.streams.retain(|_, tx| !tx.is_closed());
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let _ = tx.send(bytes);
        let endpoint = self.endpoint.clone();
        tokio::spawn(async move {
            while let Ok(Some(b)) = tokio::time::timeout(STREAM_SENDER_IDLE, rx.recv()).await {
                if let Err(e) = endpoint.send(Outbound::new(transport, dest, b)).await {
                    tracing::warn!(%dest, %transport, error = %e, "SIP send failed");
                }
            }
        });
        self.streams.insert((transport, dest), tx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_uri_hosts() {
        assert_eq!(
            uri_ip("sip:alice@127.0.0.5:5060;transport=udp"),
            Some("127.0.0.5".parse().unwrap())
        );
        assert_eq!(uri_ip("<sip:10.0.0.1>"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            uri_ip("sips:bob@[2001:db8::1]:5061"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(uri_ip("sip:alice@example.com"), None);
    }

    #[test]
    fn pidf_entity_from_aor() {
        assert_eq!(
            pres_entity("sip:alice@example.com"),
            "pres:alice@example.com"
        );
        assert_eq!(pres_entity("SIPS:bob@x"), "pres:bob@x");
    }
}
