//! RFC 4733 section 2.4.1 event lists (`a=fmtp:101 0-15,32-36`) and the
//! C23 limit on them.

/// What limiting an event list to `0..=max` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Limited {
    /// Every listed event is within the limit: keep the line as written.
    Unchanged,
    /// Some events were dropped; the new list.
    Narrowed(String),
    /// No listed event is within the limit.
    Empty,
    /// Not an event list.
    Malformed,
}

/// A set of event codes 0..=255, one bit each (issue 3: no 256-byte
/// array to fill and scan per list).
#[derive(Clone, Copy)]
struct Codes([u64; 4]);

impl Codes {
    fn insert_range(&mut self, lo: u8, hi: u8) {
        for c in lo..=hi {
            self.0[usize::from(c / 64)] |= 1 << (c % 64);
        }
    }

    fn contains(&self, c: usize) -> bool {
        self.0[c / 64] & (1 << (c % 64)) != 0
    }

    /// Whether a code in `0..=max` is in the set (`inside`), or one above
    /// `max` (`!inside`).
    fn any(&self, max: usize, inside: bool) -> bool {
        self.0.iter().enumerate().any(|(w, &bits)| {
            let first = 64 * w;
            let low = if max >= first + 63 {
                !0
            } else if max >= first {
                (1u64 << (max - first + 1)) - 1
            } else {
                0
            };
            bits & if inside { low } else { !low } != 0
        })
    }
}

/// Parses a comma-separated list of event codes and ranges (`0-15,66,70`)
/// into a set of the codes 0..=255. Whitespace around elements and an
/// `events=` prefix (RFC 2833 style) are tolerated.
fn parse(list: &str) -> Option<Codes> {
    let list = list.trim();
    let list = list.strip_prefix("events=").unwrap_or(list);
    let mut set = Codes([0; 4]);
    for element in list.split(',') {
        let element = element.trim();
        let (lo, hi) = match element.split_once('-') {
            Some((a, b)) => (code(a)?, code(b)?),
            None => {
                let c = code(element)?;
                (c, c)
            }
        };
        if lo > hi {
            return None;
        }
        set.insert_range(lo, hi);
    }
    Some(set)
}

fn code(s: &str) -> Option<u8> {
    let s = s.trim();
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Limits an event list to `0..=max`.
pub(crate) fn limit(list: &str, max: u8) -> Limited {
    let Some(set) = parse(list) else {
        return Limited::Malformed;
    };
    let max = usize::from(max);
    if !set.any(max, true) {
        return Limited::Empty;
    }
    if !set.any(max, false) {
        return Limited::Unchanged;
    }
    Limited::Narrowed(render(&set, max))
}

/// Writes the codes `0..=max` of a set as ranges: `0-11,15`.
fn render(set: &Codes, max: usize) -> String {
    let mut out = String::with_capacity(16);
    let mut i = 0;
    while i <= max {
        if !set.contains(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < max && set.contains(i + 1) {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        crate::types::push_decimal(&mut out, start as u64);
        if start != i {
            out.push('-');
            crate::types::push_decimal(&mut out, i as u64);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c23_limits_ranges() {
        assert_eq!(limit("0-16", 15), Limited::Narrowed("0-15".into()));
        assert_eq!(limit("0-15,32-36", 15), Limited::Narrowed("0-15".into()));
        assert_eq!(limit("0-15", 15), Limited::Unchanged);
        assert_eq!(limit("0-11", 15), Limited::Unchanged);
        assert_eq!(limit("0-9,11,16", 15), Limited::Narrowed("0-9,11".into()));
        assert_eq!(limit("32-36", 15), Limited::Empty);
        assert_eq!(limit("16", 15), Limited::Empty);
        assert_eq!(limit("0-255", 15), Limited::Narrowed("0-15".into()));
        assert_eq!(limit("events=0-16", 15), Limited::Narrowed("0-15".into()));
    }

    #[test]
    fn malformed_lists() {
        for bad in ["", "x", "5-1", "0-256", "0-", "-3", "0-15,", "1000"] {
            assert_eq!(limit(bad, 15), Limited::Malformed, "{bad:?}");
        }
    }
}
