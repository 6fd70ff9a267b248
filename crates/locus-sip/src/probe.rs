//! E3 out-of-service checks (ICD `oos-check`, `oos-force`), sans-IO: every
//! `oos_check` seconds an OPTIONS (a client non-INVITE transaction of the
//! core) goes to each IP endpoint of a trunk that asks for it. An endpoint
//! that has not answered for `oos_force` seconds after a probe (or, with
//! `oos_force = 0`, whose probe transaction timed out) is out of service:
//! calls skip it ([`crate::trunk::Trunk::live_endpoints`]), and an
//! emergency manager with no endpoint left is "not in service" (E8). Any
//! answer, whatever its status, puts the endpoint back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip_transaction::TransactionId;
use sip_transport::Transport;

use crate::trunk::{Spread, Trunks};

/// One probed endpoint.
#[derive(Debug)]
pub(crate) struct Probe {
    pub(crate) trunk: String,
    pub(crate) addr: SocketAddr,
    pub(crate) transport: Transport,
    every: Duration,
    force: Option<Duration>,
    /// When the next probe goes; `None` before [`Probes::start`].
    next: Option<Instant>,
    /// When the endpoint is out of service if nothing answers by then.
    down_at: Option<Instant>,
}

/// Every probed endpoint and the probes in flight.
#[derive(Debug, Default)]
pub(crate) struct Probes {
    probes: Vec<Probe>,
    /// A probe's transaction to the probe's index.
    in_flight: HashMap<TransactionId, usize>,
}

/// What the core must do after a probe event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ProbeEvent {
    /// Mark (trunk, addr) in (`true`) or out of service.
    Service(String, SocketAddr, bool),
}

impl Probes {
    /// The probes `trunks` ask for (trunks with `oos_check > 0`, their IP
    /// endpoints).
    pub(crate) fn new(trunks: &Trunks) -> Self {
        let mut probes = Vec::new();
        for t in trunks.all().iter().filter(|t| t.config.oos_check > 0) {
            for addr in t.target.endpoints(Spread::InOrder) {
                probes.push(Probe {
                    trunk: t.config.name.clone(),
                    addr,
                    transport: t.config.transport.transport(),
                    every: Duration::from_secs(u64::from(t.config.oos_check)),
                    force: (t.config.oos_force > 0)
                        .then(|| Duration::from_secs(u64::from(t.config.oos_force))),
                    next: None,
                    down_at: None,
                });
            }
        }
        Probes {
            probes,
            in_flight: HashMap::new(),
        }
    }

    /// Starts probing at `now` (the first probes go at once).
    pub(crate) fn start(&mut self, now: Instant) {
        for p in &mut self.probes {
            if p.next.is_none() {
                p.next = Some(now);
            }
        }
    }

    /// When [`Probes::due`] must next run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.probes
            .iter()
            .flat_map(|p| [p.next, p.down_at])
            .flatten()
            .min()
    }

    /// At `now`: the endpoints whose `oos_force` ran out (events), and the
    /// indexes of the probes to send now (then [`Probes::sent`]).
    pub(crate) fn due(&mut self, now: Instant) -> (Vec<ProbeEvent>, Vec<usize>) {
        let mut events = Vec::new();
        let mut send = Vec::new();
        for (i, p) in self.probes.iter_mut().enumerate() {
            if p.down_at.is_some_and(|d| now >= d) {
                p.down_at = None;
                events.push(ProbeEvent::Service(p.trunk.clone(), p.addr, false));
            }
            if p.next.is_some_and(|n| now >= n) {
                p.next = Some(now + p.every);
                send.push(i);
            }
        }
        (events, send)
    }

    /// The probe `i`.
    pub(crate) fn get(&self, i: usize) -> &Probe {
        &self.probes[i]
    }

    /// Probe `i` went out in transaction `id`.
    pub(crate) fn sent(&mut self, now: Instant, i: usize, id: TransactionId) {
        self.in_flight.insert(id, i);
        let p = &mut self.probes[i];
        if p.down_at.is_none() {
            p.down_at = p.force.map(|f| now + f);
        }
    }

    /// Whether `id` is a probe's transaction.
    pub(crate) fn owns(&self, id: TransactionId) -> bool {
        self.in_flight.contains_key(&id)
    }

    /// A probe's transaction answered (`Some(status)`), failed (`None`:
    /// timeout or transport error) or ended (`ended`).
    pub(crate) fn on_result(
        &mut self,
        id: TransactionId,
        answered: Option<u16>,
        ended: bool,
    ) -> Option<ProbeEvent> {
        let i = *self.in_flight.get(&id)?;
        if ended {
            self.in_flight.remove(&id);
        }
        let p = &mut self.probes[i];
        match answered {
            Some(_) => {
                p.down_at = None;
                Some(ProbeEvent::Service(p.trunk.clone(), p.addr, true))
            }
            None if !ended && p.force.is_none() => {
                Some(ProbeEvent::Service(p.trunk.clone(), p.addr, false))
            }
            None => None,
        }
    }
}
