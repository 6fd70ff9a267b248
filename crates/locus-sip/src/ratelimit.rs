//! Per-source request rate limiting (DESIGN C20: "a per-source rate limit
//! protects the server from carriers that do not spread their traffic").
//!
//! A token bucket per source IP. When a source runs dry it gets one
//! `503 Service Unavailable` with `Retry-After` per second, and everything
//! else it sends meanwhile is dropped without an answer: answering a flood
//! would amplify it. Memory is bounded: the table holds at most
//! `max_sources` entries and forgets the least recently seen first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A rate: sustained requests per second and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Process it.
    Allow,
    /// Answer `503` with `Retry-After` (seconds) and do not process it.
    Reject {
        /// Seconds the source should wait.
        retry_after: u32,
    },
    /// Drop it silently.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    last_reject: Option<Instant>,
}

/// Token buckets by source IP.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: HashMap<IpAddr, Bucket>,
    max_sources: usize,
}

impl RateLimiter {
    /// A limiter remembering at most `max_sources` sources.
    pub fn new(max_sources: usize) -> Self {
        Self {
            buckets: HashMap::new(),
            max_sources: max_sources.max(1),
        }
    }

    /// Number of sources remembered.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// Accounts one request from `source` at `now` under `rate`.
    pub fn check(&mut self, now: Instant, source: IpAddr, rate: Rate) -> Verdict {
        if rate.per_second == 0 {
            return Verdict::Allow; // 0 turns the limit off
        }
        let capacity = f64::from(rate.per_second.saturating_add(rate.burst));
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            self.evict_oldest();
        }
        let b = self.buckets.entry(source).or_insert(Bucket {
            tokens: capacity,
            last: now,
            last_reject: None,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * f64::from(rate.per_second)).min(capacity);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Verdict::Allow;
        }
        match b.last_reject {
            Some(t) if now.saturating_duration_since(t) < Duration::from_secs(1) => Verdict::Drop,
            _ => {
                b.last_reject = Some(now);
                Verdict::Reject { retry_after: 1 }
            }
        }
    }

    fn evict_oldest(&mut self) {
        // O(n) but only when the table is full; a flood from many spoofed
        // sources costs a scan per new source, bounded by max_sources.
        if let Some((&ip, _)) = self.buckets.iter().min_by_key(|(_, b)| b.last) {
            self.buckets.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 10,
        burst: 5,
    };

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn c20_flood_gets_one_503_then_silence() {
        let mut rl = RateLimiter::new(16);
        let t0 = Instant::now();
        for _ in 0..15 {
            assert_eq!(rl.check(t0, ip(2), RATE), Verdict::Allow);
        }
        assert_eq!(
            rl.check(t0, ip(2), RATE),
            Verdict::Reject { retry_after: 1 }
        );
        assert_eq!(rl.check(t0, ip(2), RATE), Verdict::Drop);
        // Another source is not slowed.
        assert_eq!(rl.check(t0, ip(3), RATE), Verdict::Allow);
        // Tokens come back with time.
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!(rl.check(t1, ip(2), RATE), Verdict::Allow);
    }

    #[test]
    fn c20_memory_is_bounded() {
        let mut rl = RateLimiter::new(4);
        let t0 = Instant::now();
        for n in 0..100 {
            rl.check(t0 + Duration::from_millis(n.into()), ip(n), RATE);
        }
        assert_eq!(rl.sources(), 4);
    }
}
