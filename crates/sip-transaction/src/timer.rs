//! Timer names, timer values (RFC 3261 appendix A, RFC 6026) and the small
//! fixed timer table each machine owns.

use std::time::{Duration, Instant};

use crate::Transport;

/// The transaction timers (RFC 3261 appendix A, table 4, and RFC 6026).
///
/// Each machine keeps a small fixed table with the few timers it uses; the
/// timers are not tasks. Timer C (proxy INVITE guard) is not implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client request retransmission (unreliable only): T1, doubling
    /// without cap (RFC 3261 section 17.1.1.2).
    A,
    /// INVITE client transaction timeout while `Calling`: 64*T1.
    B,
    /// INVITE client wait in `Completed` for final response retransmissions:
    /// at least 32 s on unreliable, zero on reliable transports.
    D,
    /// Non-INVITE client request retransmission (unreliable only): T1,
    /// doubling, capped at T2; T2 in `Proceeding` (RFC 3261 section
    /// 17.1.2.2).
    E,
    /// Non-INVITE client transaction timeout: 64*T1.
    F,
    /// INVITE server final response retransmission (unreliable only): T1,
    /// doubling, capped at T2 (RFC 3261 section 17.2.1).
    G,
    /// INVITE server wait for ACK in `Completed`: 64*T1.
    H,
    /// INVITE server wait in `Confirmed` for ACK retransmissions: T4 on
    /// unreliable, zero on reliable transports.
    I,
    /// Non-INVITE server wait in `Completed` for request retransmissions:
    /// 64*T1 on unreliable, zero on reliable transports.
    J,
    /// Non-INVITE client wait in `Completed` for response retransmissions:
    /// T4 on unreliable, zero on reliable transports.
    K,
    /// INVITE server wait in `Accepted` (RFC 6026 section 8.7): 64*T1.
    L,
    /// INVITE client wait in `Accepted` for 2xx retransmissions and forks
    /// (RFC 6026 section 8.4): 64*T1.
    M,
    /// INVITE server: send `100 Trying` if the TU has not sent a provisional
    /// response within 200 ms (RFC 3261 section 17.2.1).
    Trying,
    /// INVITE client: destroy the transaction if no final response arrives
    /// within 64*T1 after the TU sent a CANCEL (RFC 3261 section 9.1).
    Cancel,
}

/// The base timer values; every other timer is computed from them.
///
/// Defaults are the RFC 3261 values: T1 = 500 ms, T2 = 4 s, T4 = 5 s.
/// Retransmission intervals never go below 1 ms, whatever the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate: first retransmission interval.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE
    /// responses.
    pub t2: Duration,
    /// Maximum time a message may stay in the network.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// RFC 3261 section 17.2.1: the INVITE server sends `100 Trying` when the TU
/// stays silent this long.
pub(crate) const TRYING_DELAY: Duration = Duration::from_millis(200);

impl TimerConfig {
    /// 64*T1: Timers B, F, H, L, M, J (unreliable) and the CANCEL guard.
    pub fn sixty_four_t1(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D: zero on reliable transports, else the larger of 32 s and
    /// 64*T1 (RFC 3261 section 17.1.1.2: "at least 32 seconds").
    pub fn timer_d(&self, transport: Transport) -> Duration {
        match transport {
            Transport::Reliable => Duration::ZERO,
            Transport::Unreliable => Duration::from_secs(32).max(self.sixty_four_t1()),
        }
    }

    /// Timers I and K: zero on reliable transports, else T4.
    pub fn t4_or_zero(&self, transport: Transport) -> Duration {
        match transport {
            Transport::Reliable => Duration::ZERO,
            Transport::Unreliable => self.t4,
        }
    }

    /// Timer J: zero on reliable transports, else 64*T1.
    pub fn timer_j(&self, transport: Transport) -> Duration {
        match transport {
            Transport::Reliable => Duration::ZERO,
            Transport::Unreliable => self.sixty_four_t1(),
        }
    }

    /// The next retransmission interval after `current`: doubled, capped at
    /// T2 (Timers E and G).
    pub(crate) fn double_capped(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.t2)
    }
}

/// The shortest retransmission interval: a zero T1 or T2 in the
/// configuration must not make a machine retransmit forever at one instant.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// `now + interval`, at least [`MIN_INTERVAL`] after `now`.
pub(crate) fn after(now: Instant, interval: Duration) -> Instant {
    now + interval.max(MIN_INTERVAL)
}

/// A small fixed table of armed timers: which timers a machine uses and
/// when each fires. Ties fire in table order, so machines list their
/// terminating timers first.
#[derive(Debug, Clone)]
pub(crate) struct Timers<const N: usize> {
    kinds: [Timer; N],
    at: [Option<Instant>; N],
}

impl<const N: usize> Timers<N> {
    pub(crate) const fn new(kinds: [Timer; N]) -> Self {
        Timers {
            kinds,
            at: [None; N],
        }
    }

    fn slot(&self, timer: Timer) -> Option<usize> {
        let slot = self.kinds.iter().position(|&k| k == timer);
        debug_assert!(
            slot.is_some(),
            "timer {timer:?} not in this machine's table"
        );
        slot
    }

    /// Arms (or re-arms) `timer` to fire at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(i) = self.slot(timer) {
            self.at[i] = Some(at);
        }
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        if let Some(i) = self.slot(timer) {
            self.at[i] = None;
        }
    }

    pub(crate) fn is_armed(&self, timer: Timer) -> bool {
        self.slot(timer).is_some_and(|i| self.at[i].is_some())
    }

    pub(crate) fn stop_all(&mut self) {
        self.at = [None; N];
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now`, if any.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let mut best: Option<(usize, Instant)> = None;
        for (i, at) in self.at.iter().enumerate() {
            if let Some(at) = *at {
                let earlier = match best {
                    None => true,
                    Some((_, b)) => at < b,
                };
                if at <= now && earlier {
                    best = Some((i, at));
                }
            }
        }
        let (i, _) = best?;
        self.at[i] = None;
        Some(self.kinds[i])
    }
}
