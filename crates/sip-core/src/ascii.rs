//! ASCII text views of the message buffer: the one module of `sip-core`
//! with `unsafe` code.
//!
//! Why: the hot accessors (`top_via`, `from_tag`, `to`, `call_id`...)
//! hand out `&str` views of header values, and `str::from_utf8` on a short
//! value costs about 90 instructions (its byte-wise head and tail, and the
//! widened window `message::str_at` gave it to reach its 16-byte loop).
//! Header values are ASCII as a rule, and an ASCII test over 8-byte words
//! is about 20: the INVITE of the parse benchmark went from 6,853 to
//! 6,639 instructions per typed parse with it (callgrind, `parse_loop`).
//! A value that is not ASCII goes to `str::from_utf8` as before, so the
//! result is always the one `from_utf8` gives.
//!
//! The only unsafe operation is `str::from_utf8_unchecked`, on bytes this
//! module has just checked are all below 0x80 (and so valid UTF-8).

#![allow(unsafe_code)]

/// The high bit of every byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The little-endian word of `b[at..at + 8]` (`at + 8 <= b.len()`).
#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let w: [u8; 8] = b[at..at + 8].try_into().unwrap_or_default();
    u64::from_le_bytes(w)
}

/// Whether `buf[start..end]` is all ASCII, reading whole 8-byte words of
/// `buf` (the bytes around the range are masked off, so a short range is
/// one word and a longer one `len / 8` rounded up).
#[inline(always)]
fn is_ascii_in(buf: &[u8], start: usize, end: usize) -> bool {
    debug_assert!(start <= end && end <= buf.len());
    let len = end - start;
    if buf.len() < 8 {
        return buf[start..end].is_ascii();
    }
    if len <= 8 {
        // One word holding the range, its other bytes masked off.
        let at = start.min(buf.len() - 8);
        let skip = start - at;
        let mask = if len == 0 {
            0
        } else {
            (u64::MAX >> (64 - 8 * len)) << (8 * skip)
        };
        return word(buf, at) & mask & HIGH == 0;
    }
    // Whole words from `start`, two at a time, then the last eight bytes
    // of the range (overlapping the words before: they are in the range
    // too). Values are short: a plain loop beats a vectorized one here.
    let mut acc = word(buf, end - 8);
    let mut i = start;
    while i + 16 < end {
        acc |= word(buf, i) | word(buf, i + 8);
        i += 16;
    }
    if i + 8 < end {
        acc |= word(buf, i);
    }
    acc & HIGH == 0
}

/// `buf[start..end]` as text when it is ASCII; `None` otherwise (the
/// caller then asks `str::from_utf8`, which decides for non-ASCII UTF-8).
/// `None` too if the range is not in `buf`.
#[inline(always)]
pub(crate) fn ascii_str(buf: &[u8], start: usize, end: usize) -> Option<&str> {
    let b = buf.get(start..end)?;
    if !is_ascii_in(buf, start, end) {
        return None;
    }
    debug_assert!(b.is_ascii());
    // SAFETY: `is_ascii_in` just read every byte of `buf[start..end]`
    // (`b`) and found none with the high bit set; bytes below 0x80 are
    // each a one-byte UTF-8 character, so `b` is valid UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(b) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_of_every_length_and_place() {
        let buf: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for start in 0..=buf.len() {
            for end in start..=buf.len() {
                assert_eq!(
                    ascii_str(&buf, start, end),
                    std::str::from_utf8(&buf[start..end]).ok()
                );
                // One high byte in, just before or just after the range.
                for at in start.saturating_sub(1)..(end + 1).min(buf.len()) {
                    let mut b = buf.clone();
                    b[at] = 0xc3;
                    let inside = (start..end).contains(&at);
                    assert_eq!(ascii_str(&b, start, end).is_some(), !inside);
                }
            }
        }
    }

    #[test]
    fn short_buffers() {
        assert_eq!(ascii_str(b"", 0, 0), Some(""));
        assert_eq!(ascii_str(b"abc", 1, 3), Some("bc"));
        assert_eq!(ascii_str(b"a\xffc", 0, 3), None);
        assert_eq!(ascii_str("aé".as_bytes(), 0, 3), None);
        assert_eq!(ascii_str(b"abc", 2, 4), None);
    }

    proptest! {
        /// The same answer as `str::from_utf8` for any range of any bytes
        /// (ASCII-heavy so both outcomes come up).
        #[test]
        fn ascii_str_is_from_utf8_on_ascii(
            buf in prop::collection::vec(
                prop_oneof![8 => 0x20u8..0x7f, 1 => any::<u8>()], 0..80),
            a in 0usize..80,
            b in 0usize..80,
        ) {
            let (start, end) = (a.min(b).min(buf.len()), a.max(b).min(buf.len()));
            let want = std::str::from_utf8(&buf[start..end]).ok();
            if let Some(s) = ascii_str(&buf, start, end) {
                prop_assert!(s.is_ascii());
                prop_assert_eq!(Some(s), want);
            } else {
                prop_assert!(!buf[start..end].is_ascii());
            }
        }
    }
}
