//! RFC 2782 server selection and random spread: pure, deterministic for a
//! given [`SelectionRng`] seed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// One SRV resource record (RFC 2782), as the selection needs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SrvRecord {
    /// Lower is tried first; every target of a lower priority is tried
    /// before any target of a higher one.
    pub priority: u16,
    /// Relative share of first picks among records of the same priority.
    /// Weight 0 gets a very small chance when others are above 0.
    pub weight: u16,
    /// The port on the target host.
    pub port: u16,
    /// The target host name, without the trailing dot (`"."` alone means
    /// "service decidedly not available", see [`SrvRecord::is_unavailable`]).
    pub target: String,
}

impl SrvRecord {
    /// Whether this record is the RFC 2782 "no service here" marker: a
    /// target of `.` (the root).
    pub fn is_unavailable(&self) -> bool {
        self.target.is_empty() || self.target == "."
    }
}

/// A small, fast pseudo-random generator (SplitMix64) for load spreading.
///
/// Not cryptographic: it only decides which equal endpoint goes first.
/// Seed it with [`SelectionRng::seed_from_u64`] in tests for deterministic
/// orderings, or with [`SelectionRng::from_entropy`] in production.
#[derive(Debug, Clone)]
pub struct SelectionRng {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SelectionRng {
    /// A generator whose output is fully determined by `seed`.
    pub const fn seed_from_u64(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the process's random hash keys (which std
    /// draws from the operating system) mixed with the current time.
    pub fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        Self::seed_from_u64(hasher.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// A uniform number in `0..n` (no modulo bias). Returns 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-and-reject method.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// The SplitMix64 output function; also used to derive per-call seeds.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Puts `items` in a uniformly random order (Fisher-Yates).
///
/// Used for endpoints that are equal by configuration: the addresses of
/// one A/AAAA answer and the configured IP list (C20: "traffic spread
/// evenly (random) across endpoints").
pub fn shuffle<T>(items: &mut [T], rng: &mut SelectionRng) {
    for i in (1..items.len()).rev() {
        // i < usize::MAX, so i + 1 fits, and the result is at most i.
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Orders SRV records into the full failover order of RFC 2782 ("Usage
/// rules" and the description of Weight).
///
/// Groups by priority, lowest first. Within a priority, repeatedly: put the
/// remaining records in random order with weight-0 records first, compute
/// running sums of the weights, draw a uniform number in `0..=sum`, take the
/// first record whose running sum is at least that number, move it to the
/// output. So a record of weight `w` is first with probability about
/// `w / sum` (exactly `w / (sum + 1)`, the draw of 0 going to the first
/// record in the random order), and the weight-0 records share
/// `1 / (sum + 1)`: the RFC's "very small chance". When all weights are 0
/// the order is uniformly random.
///
/// Records are kept as given, including a `.` target: deciding what "no
/// service" means is the caller's (see [`SrvRecord::is_unavailable`]).
pub fn order_srv(records: Vec<SrvRecord>, rng: &mut SelectionRng) -> Vec<SrvRecord> {
    let mut records = records;
    // "arrange all SRV RRs (that have not been ordered yet) in any order":
    // random, so that ties between weight-0 records are broken fairly.
    shuffle(&mut records, rng);
    // Stable: the random order survives inside each priority.
    records.sort_by_key(|r| r.priority);

    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.into_iter().peekable();
    let mut group = Vec::new();
    while let Some(first) = rest.next() {
        let priority = first.priority;
        group.clear();
        group.push(first);
        while let Some(r) = rest.next_if(|r| r.priority == priority) {
            group.push(r);
        }
        // "except that all those with weight 0 are placed at the beginning".
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let sum: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let pick = rng.below(sum + 1);
            let mut running = 0u64;
            let index = group
                .iter()
                .position(|r| {
                    running += u64::from(r.weight);
                    running >= pick
                })
                // The last running sum is `sum`, and `pick <= sum`.
                .unwrap_or(group.len() - 1);
            out.push(group.remove(index));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 5060,
            target: target.to_owned(),
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SelectionRng::seed_from_u64(7);
        let mut seen = [0u32; 5];
        for _ in 0..5_000 {
            let x = rng.below(5);
            assert!(x < 5);
            seen[x as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
    }

    #[test]
    fn same_seed_same_order() {
        let records = vec![srv(10, 60, "a"), srv(10, 20, "b"), srv(20, 100, "c")];
        let a = order_srv(records.clone(), &mut SelectionRng::seed_from_u64(42));
        let b = order_srv(records, &mut SelectionRng::seed_from_u64(42));
        assert_eq!(a, b);
    }

    #[test]
    fn rfc2782_every_record_once_priorities_ascending() {
        let records = vec![
            srv(20, 100, "c"),
            srv(10, 60, "a"),
            srv(30, 0, "d"),
            srv(10, 20, "b"),
            srv(20, 0, "e"),
        ];
        let mut rng = SelectionRng::seed_from_u64(1);
        for _ in 0..200 {
            let out = order_srv(records.clone(), &mut rng);
            assert_eq!(out.len(), records.len());
            assert!(out.windows(2).all(|w| w[0].priority <= w[1].priority));
            let mut targets: Vec<_> = out.iter().map(|r| r.target.as_str()).collect();
            targets.sort_unstable();
            assert_eq!(targets, ["a", "b", "c", "d", "e"]);
        }
    }

    /// Binomial bound: `count` first picks of `p` in `n` trials is within
    /// 5 standard deviations of `n * p`.
    fn assert_binomial(count: u64, n: u64, p: f64) {
        let mean = n as f64 * p;
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (count as f64 - mean).abs() <= 5.0 * sigma,
            "{count} of {n}, expected {mean:.1} +- {:.1}",
            5.0 * sigma
        );
    }

    #[test]
    fn rfc2782_weights_share_first_picks() {
        let records = vec![srv(10, 60, "a"), srv(10, 20, "b"), srv(10, 20, "c")];
        let mut rng = SelectionRng::seed_from_u64(99);
        let n = 10_000;
        let firsts = (0..n)
            .filter(|_| order_srv(records.clone(), &mut rng)[0].target == "a")
            .count() as u64;
        assert_binomial(firsts, n, 0.6);
    }

    #[test]
    fn rfc2782_weight_zero_has_a_small_chance() {
        let records = vec![srv(1, 0, "zero"), srv(1, 99, "big")];
        let mut rng = SelectionRng::seed_from_u64(5);
        let n = 20_000;
        let zero_first = (0..n)
            .filter(|_| order_srv(records.clone(), &mut rng)[0].target == "zero")
            .count() as u64;
        // Drawn in 0..=99: only 0 picks the weight-0 record.
        assert_binomial(zero_first, n, 0.01);
        assert!(zero_first > 0);
    }

    #[test]
    fn rfc2782_all_weights_zero_is_uniform() {
        let records = vec![
            srv(1, 0, "a"),
            srv(1, 0, "b"),
            srv(1, 0, "c"),
            srv(1, 0, "d"),
        ];
        let mut rng = SelectionRng::seed_from_u64(11);
        let n = 8_000;
        let a_first = (0..n)
            .filter(|_| order_srv(records.clone(), &mut rng)[0].target == "a")
            .count() as u64;
        assert_binomial(a_first, n, 0.25);
    }

    #[test]
    fn order_srv_handles_empty_and_max_weights() {
        assert!(order_srv(Vec::new(), &mut SelectionRng::seed_from_u64(0)).is_empty());
        let many: Vec<_> = (0..300)
            .map(|i| srv(0, u16::MAX, &format!("t{i}")))
            .collect();
        assert_eq!(
            order_srv(many, &mut SelectionRng::seed_from_u64(0)).len(),
            300
        );
    }

    #[test]
    fn c20_shuffle_spreads_evenly() {
        let mut rng = SelectionRng::seed_from_u64(3);
        let n = 9_000;
        let mut first = [0u64; 3];
        for _ in 0..n {
            let mut ips = [0usize, 1, 2];
            shuffle(&mut ips, &mut rng);
            first[ips[0]] += 1;
        }
        for count in first {
            assert_binomial(count, n, 1.0 / 3.0);
        }
    }

    #[test]
    fn unavailable_marker() {
        assert!(srv(0, 0, ".").is_unavailable());
        assert!(srv(0, 0, "").is_unavailable());
        assert!(!srv(0, 0, "sbc1.carrier.test").is_unavailable());
    }
}
