//! The location engine (E10), filtering criteria (E14) and ELIN pools
//! (E12). Pure: records in, decisions out; no IO, no clock.
//!
//! E10's order is manual assignment (by MAC, then by user), switch port,
//! network region (longest prefix), then the call server's default
//! location. The switch-port step (SNMP BRIDGE/Q-BRIDGE/LLDP MIB lookups)
//! is NOT implemented yet: [`LocationEngine::locate`] goes straight from
//! manual assignments to regions. When it comes it needs IO (SNMP), so it
//! will be an input to `locate` (a MAC to port to location table the
//! driver refreshes), not a lookup made from here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;
use pidf_lo::Elin;
use regex::Regex;

use crate::model::{
    compile_filter_regex, normalize_mac, AssignBy, CallServer, Device, DeviceState, Filter,
    FilterField, Id, LocatedBy, Location, ManualAssignment, NetworkRegion, ValidationError,
};

/// What the engine knows of a device when placing or filtering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFacts<'a> {
    /// The AOR (`sip:alice@example.com`).
    pub aor: &'a str,
    /// The AOR's user part (`alice`).
    pub user: &'a str,
    /// The MAC, any common form (normalized before matching).
    pub mac: Option<&'a str>,
    /// The address the device registered from.
    pub source_ip: Option<IpAddr>,
}

impl<'a> From<&'a Device> for DeviceFacts<'a> {
    fn from(d: &'a Device) -> Self {
        DeviceFacts {
            aor: &d.aor,
            user: &d.user,
            mac: d.mac.as_deref(),
            source_ip: d.source_ip,
        }
    }
}

/// A call server's filtering criteria, compiled (E14). A device that
/// matches any criterion is excluded: not tracked, not located.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    rules: Vec<(FilterField, Regex)>,
}

impl Filters {
    /// Compiles `filters` with the size limits of
    /// [`compile_filter_regex`]; the error names the failing entry
    /// (`filters[2].regex`).
    pub fn compile(filters: &[Filter]) -> Result<Self, ValidationError> {
        let rules = filters
            .iter()
            .enumerate()
            .map(|(i, f)| {
                compile_filter_regex(&f.regex)
                    .map(|r| (f.field, r))
                    .map_err(|reason| ValidationError::InvalidRegex {
                        field: format!("filters[{i}].regex"),
                        reason,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Filters { rules })
    }

    /// No criterion at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the device matches a criterion and so is excluded. A
    /// criterion on a value the device does not have (no MAC, no source
    /// address) does not match.
    pub fn excludes(&self, dev: &DeviceFacts<'_>) -> bool {
        let ip = dev.source_ip.map(|a| a.to_canonical().to_string());
        let mac = dev.mac.and_then(normalize_mac);
        self.rules.iter().any(|(field, re)| match field {
            FilterField::Ip => ip.as_deref().is_some_and(|v| re.is_match(v)),
            FilterField::Username => re.is_match(dev.user),
            FilterField::Mac => mac.as_deref().is_some_and(|v| re.is_match(v)),
        })
    }
}

/// Where a device is, and its published ELIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The location.
    pub location_id: Id,
    /// The location's primary ELIN (the pool's first); the per-call pick
    /// is [`ElinPool::assign`].
    pub elin: Option<Elin>,
    /// Which rule placed it.
    pub located_by: LocatedBy,
}

/// The E10 rules over the configured locations, regions and manual
/// assignments. Build it again (it is cheap) when any of them changes.
#[derive(Debug, Clone, Default)]
pub struct LocationEngine {
    locations: HashMap<Id, Location>,
    by_mac: HashMap<String, Id>,
    by_user: HashMap<String, Id>,
    /// Sorted by prefix length, longest first, so the first match is the
    /// longest prefix; ties keep the lower region id first.
    regions: Vec<(IpNet, Id)>,
}

impl LocationEngine {
    /// An engine over these records. Regions and assignments that name an
    /// unknown location are kept (the store forbids them anyway) and place
    /// nothing. MACs are normalized; users match exactly.
    pub fn new(
        locations: impl IntoIterator<Item = Location>,
        regions: impl IntoIterator<Item = NetworkRegion>,
        assignments: impl IntoIterator<Item = ManualAssignment>,
    ) -> Self {
        let locations: HashMap<Id, Location> = locations.into_iter().map(|l| (l.id, l)).collect();
        let mut by_mac = HashMap::new();
        let mut by_user = HashMap::new();
        for a in assignments {
            match a.by {
                AssignBy::Mac => {
                    if let Some(m) = normalize_mac(&a.value) {
                        by_mac.insert(m, a.location_id);
                    }
                }
                AssignBy::User => {
                    by_user.insert(a.value.trim().to_owned(), a.location_id);
                }
            }
        }
        let mut regions: Vec<(IpNet, Id, Id)> = regions
            .into_iter()
            .map(|r| (r.cidr.trunc(), r.location_id, r.id))
            .collect();
        regions.sort_by(|a, b| b.0.prefix_len().cmp(&a.0.prefix_len()).then(a.2.cmp(&b.2)));
        LocationEngine {
            locations,
            by_mac,
            by_user,
            regions: regions.into_iter().map(|(n, l, _)| (n, l)).collect(),
        }
    }

    /// A configured location.
    pub fn location(&self, id: Id) -> Option<&Location> {
        self.locations.get(&id)
    }

    /// Places a device of `server` (E10): manual assignment by MAC, then
    /// by user (the AOR's user part, then the whole AOR), then (switch
    /// port: not implemented) the longest-prefix network region holding
    /// its source address, then the call server's default location.
    /// `None`: no rule places it (and no default location).
    ///
    /// Filtering is separate ([`Filters::excludes`]): the caller drops
    /// excluded devices before asking.
    pub fn locate(&self, server: &CallServer, dev: &DeviceFacts<'_>) -> Option<Placement> {
        self.manual(dev)
            .map(|id| (id, LocatedBy::Manual))
            .or_else(|| self.region(dev).map(|id| (id, LocatedBy::Region)))
            .or_else(|| {
                server
                    .default_location_id
                    .filter(|id| self.locations.contains_key(id))
                    .map(|id| (id, LocatedBy::Default))
            })
            .map(|(location_id, located_by)| Placement {
                location_id,
                elin: self.locations[&location_id].primary_elin().cloned(),
                located_by,
            })
    }

    /// Locates `device` ([`LocationEngine::locate`]) and writes the result
    /// into it: location, published ELIN, rule and state (`Unlocated`, all
    /// cleared, when nothing places it). `updated_at` is the caller's.
    /// Then [`crate::store::Store::upsert_device`] records it and says
    /// whether the placement changed (an ELIN update to publish, E11).
    pub fn place(&self, server: &CallServer, device: &mut Device) -> Option<Placement> {
        let p = self.locate(server, &DeviceFacts::from(&*device));
        match &p {
            Some(p) => {
                device.location_id = Some(p.location_id);
                device.elin = p.elin.clone();
                device.located_by = Some(p.located_by);
                device.state = DeviceState::Located;
            }
            None => {
                device.location_id = None;
                device.elin = None;
                device.located_by = None;
                device.state = DeviceState::Unlocated;
            }
        }
        p
    }

    fn known(&self, id: Option<&Id>) -> Option<Id> {
        id.copied().filter(|id| self.locations.contains_key(id))
    }

    fn manual(&self, dev: &DeviceFacts<'_>) -> Option<Id> {
        let mac = dev.mac.and_then(normalize_mac);
        mac.and_then(|m| self.known(self.by_mac.get(&m)))
            .or_else(|| self.known(self.by_user.get(dev.user)))
            .or_else(|| self.known(self.by_user.get(dev.aor)))
    }

    fn region(&self, dev: &DeviceFacts<'_>) -> Option<Id> {
        // An IPv4 peer seen on a dual-stack socket arrives as ::ffff:a.b.c.d;
        // regions are written in IPv4.
        let ip = dev.source_ip?.to_canonical();
        self.regions
            .iter()
            .filter(|(net, _)| net.contains(&ip))
            .find_map(|(_, id)| self.known(Some(id)))
    }
}

/// A location's ELINs handed out least recently used (E12), so that
/// concurrent callers in one location get different ELINs and each
/// callback reaches the right caller.
///
/// Deterministic: never-used ELINs go first in pool order; after that the
/// one whose last use is oldest in call order. The order of calls to
/// [`ElinPool::assign`] decides, not the `now` values, so two calls at the
/// same instant still get different ELINs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElinPool {
    elins: Vec<Elin>,
    /// Per ELIN: (use sequence number, time) of its last use.
    last_used: Vec<Option<(u64, Instant)>>,
    seq: u64,
}

impl ElinPool {
    /// A pool of `elins`, in priority order, none used yet.
    pub fn new(elins: Vec<Elin>) -> Self {
        let n = elins.len();
        ElinPool {
            elins,
            last_used: vec![None; n],
            seq: 0,
        }
    }

    /// The ELINs, in pool order.
    pub fn elins(&self) -> &[Elin] {
        &self.elins
    }

    /// The published ELIN: the first.
    pub fn primary(&self) -> Option<&Elin> {
        self.elins.first()
    }

    /// When `elin` was last handed out.
    pub fn last_used(&self, elin: &Elin) -> Option<Instant> {
        let i = self.elins.iter().position(|e| e == elin)?;
        self.last_used[i].map(|(_, t)| t)
    }

    /// Hands out the least recently used ELIN for an emergency call at
    /// `now` and records the use. `None` for an empty pool.
    pub fn assign(&mut self, now: Instant) -> Option<&Elin> {
        let i = (0..self.elins.len()).min_by_key(|&i| match self.last_used[i] {
            // Never used sorts before any use; ties go to pool order
            // (`min_by_key` keeps the first minimum).
            None => (0, 0),
            Some((seq, _)) => (1, seq),
        })?;
        self.seq += 1;
        self.last_used[i] = Some((self.seq, now));
        Some(&self.elins[i])
    }

    /// Replaces the ELINs (the location was edited), keeping the usage of
    /// those still present so a recent caller's ELIN is not handed out
    /// again at once.
    pub fn set_elins(&mut self, elins: Vec<Elin>) {
        let last_used = elins
            .iter()
            .map(|e| {
                self.elins
                    .iter()
                    .position(|o| o == e)
                    .and_then(|i| self.last_used[i])
            })
            .collect();
        self.elins = elins;
        self.last_used = last_used;
    }
}

/// The ELIN pools of every location, kept across configuration reloads.
#[derive(Debug, Clone, Default)]
pub struct ElinPools {
    pools: HashMap<Id, ElinPool>,
}

impl ElinPools {
    /// No pools.
    pub fn new() -> Self {
        ElinPools::default()
    }

    /// Brings the pools in line with `locations`: new locations get a
    /// pool, edited ones keep the usage of their remaining ELINs, removed
    /// ones are dropped.
    pub fn sync<'a>(&mut self, locations: impl IntoIterator<Item = &'a Location>) {
        let mut next = HashMap::new();
        for l in locations {
            let pool = match self.pools.remove(&l.id) {
                Some(mut p) => {
                    p.set_elins(l.elins.clone());
                    p
                }
                None => ElinPool::new(l.elins.clone()),
            };
            next.insert(l.id, pool);
        }
        self.pools = next;
    }

    /// The pool of a location.
    pub fn get(&self, location_id: Id) -> Option<&ElinPool> {
        self.pools.get(&location_id)
    }

    /// Hands out an ELIN of `location_id` for an emergency call at `now`
    /// ([`ElinPool::assign`]).
    pub fn assign(&mut self, location_id: Id, now: Instant) -> Option<Elin> {
        self.pools.get_mut(&location_id)?.assign(now).cloned()
    }
}
