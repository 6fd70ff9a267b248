//! RTP port allocation: even RTP ports, RTCP on the next odd port (RFC 3550
//! section 11), from a configured range that never reaches the well-known
//! ports 0-1023 (C24). Sans-IO: the relay binds what this hands out.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

/// The default RTP port range (issue 3, item 5).
pub const DEFAULT_PORT_RANGE: RangeInclusive<u16> = 30000..=60000;

/// The lowest port the relay may use: C24 refuses the IANA well-known
/// ports 0-1023.
pub const MIN_PORT: u16 = 1024;

/// A port range Locus cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortRangeError {
    /// The range reaches below 1024 (C24: ports 0-1023 are never used).
    #[error("port range {first}-{last} reaches below 1024 (C24: well-known ports 0-1023 are never used)")]
    WellKnownPorts {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
    },
    /// The range holds no even port followed by an odd one.
    #[error("port range {first}-{last} holds no RTP/RTCP port pair (an even port and the next)")]
    NoPair {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
    },
}

/// Every port pair of the range is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {capacity} RTP port pairs are in use")]
pub struct PortsExhausted {
    /// Number of pairs in the range.
    pub capacity: usize,
}

/// Hands out RTP ports (even; RTCP is the port + 1) from a fixed range.
///
/// - A port still held is never handed out again.
/// - Freed ports go to the back of the queue, so the port used longest ago
///   is reused first: stale packets from an old call are unlikely to reach
///   a new one.
/// - Memory is bounded by the size of the range (one queue slot and one bit
///   per pair).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    first: u16,
    last: u16,
    free: VecDeque<u16>,
    held: Vec<u64>,
    in_use: usize,
}

impl PortAllocator {
    /// An allocator for `range` (inclusive).
    ///
    /// # Errors
    /// [`PortRangeError::WellKnownPorts`] when the range starts below 1024,
    /// [`PortRangeError::NoPair`] when it holds no even/odd pair.
    pub fn new(range: RangeInclusive<u16>) -> Result<Self, PortRangeError> {
        let (first, last) = (*range.start(), *range.end());
        if first < MIN_PORT {
            return Err(PortRangeError::WellKnownPorts { first, last });
        }
        let start = u32::from(first) + u32::from(first & 1);
        if start >= u32::from(last) {
            return Err(PortRangeError::NoPair { first, last });
        }
        // start < last <= u16::MAX, so it fits.
        let start = start as u16;
        let free: VecDeque<u16> = (start..last).step_by(2).collect();
        let held = vec![0u64; free.len().div_ceil(64)];
        Ok(Self {
            first: start,
            last,
            free,
            held,
            in_use: 0,
        })
    }

    /// The configured range, first even port to last port.
    pub fn range(&self) -> RangeInclusive<u16> {
        self.first..=self.last
    }

    /// Number of port pairs in the range.
    pub fn capacity(&self) -> usize {
        self.free.len() + self.in_use
    }

    /// Number of pairs handed out and not released.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Hands out the least recently used free RTP port (even); the caller
    /// owns it and the next port until [`PortAllocator::release`].
    ///
    /// # Errors
    /// [`PortsExhausted`] when every pair is held.
    pub fn allocate(&mut self) -> Result<u16, PortsExhausted> {
        let Some(port) = self.free.pop_front() else {
            return Err(PortsExhausted {
                capacity: self.capacity(),
            });
        };
        let (word, bit) = self.slot(port);
        self.held[word] |= bit;
        self.in_use += 1;
        Ok(port)
    }

    /// Returns an RTP port to the back of the queue. Returns `false` (and
    /// changes nothing) for a port that is not held or not of this range.
    pub fn release(&mut self, rtp_port: u16) -> bool {
        if !self.contains(rtp_port) {
            return false;
        }
        let (word, bit) = self.slot(rtp_port);
        if self.held[word] & bit == 0 {
            return false;
        }
        self.held[word] &= !bit;
        self.in_use -= 1;
        self.free.push_back(rtp_port);
        true
    }

    /// Whether `rtp_port` is currently handed out.
    pub fn is_held(&self, rtp_port: u16) -> bool {
        if !self.contains(rtp_port) {
            return false;
        }
        let (word, bit) = self.slot(rtp_port);
        self.held[word] & bit != 0
    }

    fn contains(&self, port: u16) -> bool {
        port >= self.first && port < self.last && (port - self.first).is_multiple_of(2)
    }

    fn slot(&self, port: u16) -> (usize, u64) {
        let index = usize::from((port - self.first) / 2);
        (index / 64, 1u64 << (index % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c24_ranges_below_1024_are_refused() {
        assert_eq!(
            PortAllocator::new(1000..=2000).unwrap_err(),
            PortRangeError::WellKnownPorts {
                first: 1000,
                last: 2000
            }
        );
        assert!(PortAllocator::new(0..=65535).is_err());
        assert!(PortAllocator::new(1024..=1025).is_ok());
    }

    #[test]
    fn ranges_without_a_pair_are_refused() {
        for (first, last) in [(2001, 2001), (2001, 2002), (3000, 2000), (65535, 65535)] {
            let r = first..=last;
            assert!(
                matches!(
                    PortAllocator::new(r.clone()),
                    Err(PortRangeError::NoPair { .. })
                ),
                "{r:?}"
            );
        }
        let a = PortAllocator::new(65534..=65535).unwrap();
        assert_eq!(a.capacity(), 1);
    }

    #[test]
    fn even_ports_with_room_for_rtcp() {
        let mut a = PortAllocator::new(2001..=2008).unwrap();
        assert_eq!(a.capacity(), 3);
        let ports: Vec<u16> = (0..3).map(|_| a.allocate().unwrap()).collect();
        assert_eq!(ports, [2002, 2004, 2006]);
        assert_eq!(a.allocate(), Err(PortsExhausted { capacity: 3 }));
        assert_eq!(a.in_use(), 3);
    }

    #[test]
    fn freed_ports_are_reused_least_recently_used_first() {
        let mut a = PortAllocator::new(4000..=4009).unwrap();
        let p: Vec<u16> = (0..5).map(|_| a.allocate().unwrap()).collect();
        assert!(a.release(p[3]));
        assert!(a.release(p[1]));
        assert!(!a.release(p[1]), "double release is refused");
        assert!(!a.release(4001));
        assert!(!a.release(9000));
        assert_eq!(a.allocate(), Ok(p[3]));
        assert_eq!(a.allocate(), Ok(p[1]));
        assert!(a.is_held(p[1]));
    }

    #[test]
    fn never_hands_out_a_held_port() {
        let mut a = PortAllocator::new(DEFAULT_PORT_RANGE).unwrap();
        assert_eq!(a.capacity(), 15000);
        let mut held = std::collections::HashSet::new();
        for round in 0..20_000u32 {
            if round % 3 == 2 {
                let p = *held.iter().next().unwrap();
                held.remove(&p);
                assert!(a.release(p));
            } else {
                let p = a.allocate().unwrap();
                assert_eq!(p % 2, 0);
                assert!(held.insert(p), "port {p} handed out twice");
            }
        }
        assert_eq!(a.in_use(), held.len());
    }
}
