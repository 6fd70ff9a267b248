//! Test helpers: a manual clock that jumps from deadline to deadline, and a
//! common view of the four machines.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_transaction::{
    Action, ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, TimerConfig,
};

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

pub(crate) fn cfg() -> TimerConfig {
    TimerConfig::default()
}

/// The origin of virtual time. Only used as an origin: every test instant is
/// `origin() + offset` and nothing waits for real time.
pub(crate) fn origin() -> Instant {
    Instant::now()
}

/// The methods every machine has, so the clock helpers work on all four.
pub(crate) trait Machine {
    fn poll_action(&mut self) -> Option<Action>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn is_terminated(&self) -> bool;
}

macro_rules! impl_machine {
    ($($t:ty),*) => {$(
        impl Machine for $t {
            fn poll_action(&mut self) -> Option<Action> { <$t>::poll_action(self) }
            fn poll_timeout(&self) -> Option<Instant> { <$t>::poll_timeout(self) }
            fn handle_timeout(&mut self, now: Instant) { <$t>::handle_timeout(self, now) }
            fn is_terminated(&self) -> bool { <$t>::is_terminated(self) }
        }
    )*};
}
impl_machine!(ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite);

/// Drains the queued actions.
pub(crate) fn drain(m: &mut impl Machine) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

/// Jumps the clock from deadline to deadline until the machine has none
/// (or `limit` jumps), recording every action with its offset from `t0`.
pub(crate) fn run(m: &mut impl Machine, t0: Instant, limit: usize) -> Vec<(Duration, Action)> {
    let mut out = Vec::new();
    for _ in 0..limit {
        let Some(at) = m.poll_timeout() else { break };
        m.handle_timeout(at);
        out.extend(drain(m).into_iter().map(|a| (at - t0, a)));
    }
    out
}

/// The offsets (in ms) at which `Transmit` happened.
pub(crate) fn transmit_times(log: &[(Duration, Action)]) -> Vec<u128> {
    log.iter()
        .filter(|(_, a)| matches!(a, Action::Transmit(_)))
        .map(|(t, _)| t.as_millis())
        .collect()
}

/// The log without `Transmit` actions: what the TU sees, with offsets in ms.
pub(crate) fn tu_events(log: &[(Duration, Action)]) -> Vec<(u128, Action)> {
    log.iter()
        .filter(|(_, a)| !matches!(a, Action::Transmit(_)))
        .map(|(t, a)| (t.as_millis(), a.clone()))
        .collect()
}
