//! ASCII text views of the message buffer and 16-byte compares: the one
//! module of `sip-core` with `unsafe` code. Each use was kept because
//! callgrind counted fewer instructions with it (per typed parse of the
//! benchmark's 1 KB INVITE, `bench/examples/parse_loop.rs`; the round
//! took it from 6,853 to 5,764, these uses about 700 of that):
//!
//! - [`ascii_str`]: the hot accessors (`top_via`, `from_tag`, `to`,
//!   `call_id`...) hand out `&str` views of header values, and
//!   `str::from_utf8` on a short value costs about 90 instructions (its
//!   byte-wise head and tail, and the widened window `message::str_at` gave
//!   it to reach its 16-byte loop). Header values are ASCII as a rule, and
//!   an ASCII test over 8-byte words is about 20; a value that is not ASCII
//!   goes to `str::from_utf8` as before. 6,853 -> 6,639; 16 bytes at a
//!   time with SSE2 for values longer than 16 bytes, 5,951 -> 5,900.
//! - [`eq_mask16`]: the `:` ending a header name found with one SSE2
//!   compare of 16 bytes rather than one to three 8-byte word tests
//!   (`HeaderName::at_line_start`, once per header line; 6,590 -> 6,507),
//!   the name's words read from the same 16 bytes (6,298 -> 6,228).
//! - [`find_from`]: the LF ending each header line (and the `<`, `>` of
//!   From and To, the end of the method) searched 16 bytes at a time from
//!   where it may be, with no alignment prologue and no bounds check per
//!   block (`memchr` set up an aligned loop for each search).
//!   6,507 -> 6,372.
//! - [`header_value_run`], [`call_id_shape`]: the runs of header parameter
//!   values (the Via branch, tags) and the Call-ID's `word` bytes
//!   classified 16 bytes at a time (one range test and one compare per
//!   excluded byte) rather than one table lookup per byte. 6,372 -> 6,303
//!   (with a first version for Call-ID words), and the Call-ID in one pass
//!   rather than two runs, 5,808 -> 5,764. The header parameter values'
//!   `; < = >` as one range test rather than four compares, 5,608 ->
//!   5,584.
//!
//! Safe code cannot reach SSE2: its intrinsics are `unsafe` to call from a
//! function without `#[target_feature]`, and the compiler does not turn a
//! byte loop into them.
//!
//! The unsafe operations, each with a `SAFETY` comment and held by the
//! tests below (unit tests and proptests against byte loops and
//! `str::from_utf8`): `str::from_utf8_unchecked` on bytes this module has
//! just checked are all below 0x80 (so valid UTF-8); SSE2 intrinsics (in
//! the x86-64 baseline) loading 16 bytes from a `&[u8; 16]` or from inside
//! a slice; and the cast of a pointer into a slice, 16 bytes before its
//! end at most, to a `&[u8; 16]`.

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
    if len <= 16 {
        // Two words: the first and the last eight bytes (overlapping).
        return (word(buf, start) | word(buf, end - 8)) & HIGH == 0;
    }
    high_bits_16(buf, start, end) == 0
}

/// The high bits of the bytes of `buf[start..end]` (at least 16 bytes)
/// OR-ed together as 16 bits: 16 bytes at a time from `start`, then the
/// last 16 bytes of the range (overlapping the blocks before: they are in
/// the range too). SSE2 where there is SSE2, else 8-byte words.
#[inline(always)]
fn high_bits_16(buf: &[u8], start: usize, end: usize) -> u32 {
    assert!(start + 16 <= end && end <= buf.len());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128};
        let at = |i: usize| buf.as_ptr().wrapping_add(i).cast::<__m128i>();
        // SAFETY: SSE2 is in the x86-64 baseline. Every load reads the 16
        // bytes from `i` with `start <= i` and `i + 16 <= end <= buf.len()`
        // (asserted above for `end - 16`, kept by the loop condition for
        // the others), so inside `buf`; `loadu` takes any alignment.
        let bits = unsafe {
            let mut acc = _mm_loadu_si128(at(end - 16));
            let mut i = start;
            while i + 16 < end {
                acc = _mm_or_si128(acc, _mm_loadu_si128(at(i)));
                i += 16;
            }
            _mm_movemask_epi8(acc)
        };
        bits as u32
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut acc = word(buf, end - 8) | word(buf, end - 16);
        let mut i = start;
        while i + 16 < end {
            acc |= word(buf, i) | word(buf, i + 8);
            i += 16;
        }
        u32::from(acc & HIGH != 0)
    }
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

/// The first `byte` in `b` at or after `from`: 16 bytes at a time from
/// `from` with unaligned loads (a header line's LF is a few blocks on; no
/// alignment prologue as in `memchr`), the last block the last 16 bytes of
/// `b` with the bits before `from` dropped.
#[inline(always)]
pub(crate) fn find_from(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    let len = b.len();
    if len < 16 || from >= len {
        return b
            .get(from..)?
            .iter()
            .position(|&c| c == byte)
            .map(|i| from + i);
    }
    let mut p = from;
    while p <= len - 16 {
        // SAFETY: `p + 16 <= len`, so the 16 bytes from `p` are in `b`.
        let m = unsafe { eq_mask16_ptr(b.as_ptr().add(p), byte) };
        if m != 0 {
            return Some(p + m.trailing_zeros() as usize);
        }
        p += 16;
    }
    // Fewer than 16 bytes left from `p` (and `p < len`): the last 16 bytes
    // of `b`, which start before `p`.
    // SAFETY: `len >= 16`, so the 16 bytes from `len - 16` are in `b`.
    let m = unsafe { eq_mask16_ptr(b.as_ptr().add(len - 16), byte) } >> (p - (len - 16));
    (m != 0).then(|| p + m.trailing_zeros() as usize)
}

/// [`eq_mask16`] of the 16 bytes at `ptr`.
///
/// # Safety
///
/// The 16 bytes from `ptr` must be readable (in one slice).
#[inline(always)]
unsafe fn eq_mask16_ptr(ptr: *const u8, byte: u8) -> u32 {
    debug_assert!(!ptr.is_null());
    // SAFETY: the caller promises 16 readable bytes at `ptr`; `[u8; 16]`
    // has alignment 1.
    let block = unsafe { &*ptr.cast::<[u8; 16]>() };
    u32::from(eq_mask16(block, byte))
}

/// Where the run of header-parameter-value bytes from `i` ends (the
/// class `scan::HEADER_VALUE`: visible ASCII but `; , " < > =`), 16 bytes
/// at a time; `None` when `b` has fewer than 16 bytes or `i` is at its
/// end (the caller's byte loop then reads it).
#[inline(always)]
pub(crate) fn header_value_run(b: &[u8], i: usize) -> Option<usize> {
    run16(b, i, outside_header_value)
}

/// Whether `b` has the shape of a Call-ID, RFC 3261 `word ["@" word]`:
/// every byte a `scan::WORD` byte but for at most one `@`, which is
/// neither first nor last, and at least one byte. One pass of 16 bytes at
/// a time (the last block is the last 16 bytes of `b`, the bits before
/// the rest dropped); `None` when `b` has fewer than 16 bytes or more
/// than 64 (the caller's byte loop then decides).
#[inline(always)]
pub(crate) fn call_id_shape(b: &[u8]) -> Option<bool> {
    let len = b.len();
    if !(16..=64).contains(&len) {
        return None;
    }
    let block_at = |p: usize| -> &[u8; 16] {
        // SAFETY: every caller below passes `p <= len - 16`, so the 16
        // bytes from `p` are in `b`; `[u8; 16]` has alignment 1.
        debug_assert!(p + 16 <= len);
        unsafe { &*b.as_ptr().add(p).cast::<[u8; 16]>() }
    };
    // `bad`: bytes neither `word` nor `@`; bit `i` of `ats`: `b[i]` is `@`.
    let (mut bad, mut ats) = (0u32, 0u64);
    let mut p = 0;
    while p <= len - 16 {
        let block = block_at(p);
        bad |= outside_visible_except(block, *b"#$&,;=^|");
        ats |= u64::from(eq_mask16(block, b'@')) << p;
        p += 16;
    }
    if p < len {
        let (block, skip) = (block_at(len - 16), p - (len - 16));
        bad |= outside_visible_except(block, *b"#$&,;=^|") >> skip;
        ats |= u64::from(eq_mask16(block, b'@') >> skip) << p;
    }
    let edges = 1 | 1 << (len - 1);
    Some(bad == 0 && ats & ats.wrapping_sub(1) == 0 && ats & edges == 0)
}

/// Where the run from `i` of the bytes `outside` leaves out of its mask ends, 16
/// bytes at a time (the last block is the last 16 bytes of `b`, the bits
/// before the rest dropped); see [`header_value_run`].
#[inline(always)]
fn run16(b: &[u8], i: usize, outside: impl Fn(&[u8; 16]) -> u32) -> Option<usize> {
    let len = b.len();
    if len < 16 || i >= len {
        return None;
    }
    let block_at = |p: usize| -> &[u8; 16] {
        // SAFETY: every caller below passes `p <= len - 16`, so the 16
        // bytes from `p` are in `b`; `[u8; 16]` has alignment 1.
        debug_assert!(p + 16 <= len);
        unsafe { &*b.as_ptr().add(p).cast::<[u8; 16]>() }
    };
    let mut p = i;
    while p <= len - 16 {
        let m = outside(block_at(p));
        if m != 0 {
            return Some(p + m.trailing_zeros() as usize);
        }
        p += 16;
    }
    if p >= len {
        return Some(len);
    }
    let m = outside(block_at(len - 16)) >> (p - (len - 16));
    Some(if m != 0 {
        p + m.trailing_zeros() as usize
    } else {
        len
    })
}

/// [`outside_visible_except`] for header parameter values (all but
/// `;,"<>=` of visible ASCII), with `;<=>` (0x3b to 0x3e) as one range
/// test: 3 operations rather than 8 per block.
#[inline(always)]
fn outside_header_value(block: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_sub_epi8,
        };
        // SAFETY: SSE2 is enabled on every x86-64 target (it is in the
        // baseline), so the intrinsics are available; the load reads the
        // 16 bytes of `block`, a `&[u8; 16]` (`loadu` takes any alignment).
        let inside = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            // lo <= c <= lo + n exactly when min(c - lo, n) is c - lo
            // (wrapping subtraction, unsigned minimum).
            let t = _mm_sub_epi8(v, _mm_set1_epi8(0x21));
            let visible = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(0x5d)), t);
            let r = _mm_sub_epi8(v, _mm_set1_epi8(0x3b));
            let mut bad = _mm_cmpeq_epi8(_mm_min_epu8(r, _mm_set1_epi8(3)), r);
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8)));
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)));
            _mm_movemask_epi8(_mm_andnot_si128(bad, visible))
        };
        !(inside as u32) & 0xffff
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        outside_visible_except(block, *b";,\"<>=")
    }
}

/// The mask of the bytes of `block` that are not visible ASCII (0x21 to
/// 0x7e) or are one of `except`.
#[inline(always)]
fn outside_visible_except<const N: usize>(block: &[u8; 16], except: [u8; N]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128, _mm_sub_epi8,
        };
        // SAFETY: SSE2 is enabled on every x86-64 target (it is in the
        // baseline), so the intrinsics are available; the load reads the
        // 16 bytes of `block`, a `&[u8; 16]` (`loadu` takes any alignment).
        let inside = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            // 0x21 <= c <= 0x7e exactly when c - 0x21 (wrapping) is at
            // most 0x5d unsigned, i.e. when min(c - 0x21, 0x5d) is itself.
            let t = _mm_sub_epi8(v, _mm_set1_epi8(0x21));
            let visible = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(0x5d)), t);
            let mut bad = _mm_setzero_si128();
            for e in except {
                bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8(e as i8)));
            }
            _mm_movemask_epi8(_mm_andnot_si128(bad, visible))
        };
        !(inside as u32) & 0xffff
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0u32;
        for (i, &c) in block.iter().enumerate() {
            let inside = (0x21..=0x7e).contains(&c) && !except.contains(&c);
            m |= u32::from(!inside) << i;
        }
        m
    }
}

/// Bit `i` set where `block[i]` is `byte`: one 16-byte compare (SSE2,
/// part of every x86-64 CPU) where there is SSE2, else a byte loop.
#[inline(always)]
pub(crate) fn eq_mask16(block: &[u8; 16], byte: u8) -> u16 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is enabled on every x86-64 target (it is in the
        // baseline), so the intrinsics are available; the load reads the
        // 16 bytes of `block`, a `&[u8; 16]` (`loadu` takes any alignment).
        let bits = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8)))
        };
        bits as u16
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0u16;
        for (i, &c) in block.iter().enumerate() {
            m |= u16::from(c == byte) << i;
        }
        m
    }
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

    /// [`eq_mask16`] as a byte loop would give it.
    fn eq_mask16_slow(block: &[u8; 16], byte: u8) -> u16 {
        block
            .iter()
            .enumerate()
            .map(|(i, &c)| u16::from(c == byte) << i)
            .sum()
    }

    #[test]
    fn mask16_every_place() {
        for at in 0..16 {
            for c in [b':', 0, 0x80, 0xff, b'\n'] {
                let mut block = [b'a'; 16];
                block[at] = c;
                block[(at + 5) % 16] = c;
                for byte in [b':', b'a', c] {
                    assert_eq!(eq_mask16(&block, byte), eq_mask16_slow(&block, byte));
                }
            }
        }
        assert_eq!(eq_mask16(&[0xba; 16], 0xba), 0xffff);
    }

    #[test]
    fn find_from_every_place() {
        for len in 0..50 {
            let b: Vec<u8> = (0..len as u8).map(|i| b'a' + i % 26).collect();
            for lf in 0..=len {
                let mut b = b.clone();
                if lf < len {
                    b[lf] = b'\n';
                }
                for from in 0..=len + 1 {
                    let want = b
                        .get(from..)
                        .and_then(|r| r.iter().position(|&c| c == b'\n'))
                        .map(|i| from + i);
                    assert_eq!(find_from(&b, from, b'\n'), want, "{len} {lf} {from}");
                }
            }
        }
    }

    #[test]
    fn run_classes_are_the_scan_tables() {
        use crate::scan::{HEADER_VALUE, WORD};
        for c in 0..=255u8 {
            let block = [c; 16];
            let hv = outside_visible_except(&block, *b";,\"<>=");
            assert_eq!(hv == 0, HEADER_VALUE[usize::from(c)], "{c}");
            assert!(hv == 0 || hv == 0xffff);
            assert_eq!(outside_header_value(&block), hv, "{c}");
            let w = outside_visible_except(&block, *b"#$&,;=@^|");
            assert_eq!(w == 0, WORD[usize::from(c)], "{c}");
        }
    }

    #[test]
    fn runs_end_where_the_byte_loop_ends() {
        use crate::scan::{run, HEADER_VALUE};
        let text = b"z9hG4bK-524287-1---a7f3c2e1d9b84f06;rport=5060@x.y,\"q\" a";
        for len in 0..=text.len() {
            let b = &text[..len];
            for i in 0..=len + 1 {
                if let Some(end) = header_value_run(b, i) {
                    assert_eq!(end, run(b, i, &HEADER_VALUE), "{len} {i}");
                }
                assert_eq!(header_value_run(b, i).is_some(), len >= 16 && i < len);
            }
        }
    }

    #[test]
    fn call_id_shapes() {
        use crate::headers::valid_call_id_runs;
        let id = b"6b8b4567327b23c6643c986966334873@203.0.113.20";
        for len in 0..=id.len() {
            for at in 0..len {
                for c in [b'@', b'#', b' ', 0x80, b'x', b'"', b'|'] {
                    let mut b = id[..len].to_vec();
                    b[at] = c;
                    if let Some(ok) = call_id_shape(&b) {
                        assert_eq!(
                            ok,
                            valid_call_id_runs(&b),
                            "{:?}",
                            String::from_utf8_lossy(&b)
                        );
                    } else {
                        assert!(b.len() < 16 || b.len() > 64);
                    }
                }
            }
        }
        assert_eq!(call_id_shape(b"0123456789abcdef@"), Some(false));
        assert_eq!(call_id_shape(b"@0123456789abcdef"), Some(false));
        assert_eq!(call_id_shape(b"0123456789abcdef"), Some(true));
        assert_eq!(call_id_shape(b"01234567@89abcdef"), Some(true));
        assert_eq!(call_id_shape(b"0123@4567@89abcdef"), Some(false));
    }

    proptest! {
        #[test]
        fn call_id_shape_is_the_two_runs(
            b in prop::collection::vec(prop_oneof![
                8 => b'0'..b'z', 1 => any::<u8>(), 1 => Just(b'@')], 0..70),
        ) {
            if let Some(ok) = call_id_shape(&b) {
                prop_assert_eq!(ok, crate::headers::valid_call_id_runs(&b));
            }
        }

        #[test]
        fn runs_are_the_byte_loop(
            b in prop::collection::vec(prop_oneof![
                8 => b'0'..b'z', 1 => any::<u8>(), 1 => Just(b';'), 1 => Just(b'@')], 0..80),
            i in 0usize..90,
        ) {
            use crate::scan::{run, HEADER_VALUE};
            if let Some(end) = header_value_run(&b, i) {
                prop_assert_eq!(end, run(&b, i, &HEADER_VALUE));
            }
        }

        #[test]
        fn find_from_is_the_byte_loop(
            b in prop::collection::vec(prop_oneof![4 => any::<u8>(), 1 => Just(b'\n')], 0..80),
            from in 0usize..90,
            byte in prop_oneof![Just(b'\n'), any::<u8>()],
        ) {
            let want = b
                .get(from..)
                .and_then(|r| r.iter().position(|&c| c == byte))
                .map(|i| from + i);
            prop_assert_eq!(find_from(&b, from, byte), want);
        }

        #[test]
        fn header_value_mask_is_the_table(block in prop::array::uniform16(any::<u8>())) {
            let want: u32 = block
                .iter()
                .enumerate()
                .map(|(i, &c)| u32::from(!crate::scan::HEADER_VALUE[usize::from(c)]) << i)
                .sum();
            prop_assert_eq!(outside_header_value(&block), want);
        }

        #[test]
        fn mask16_is_the_byte_loop(
            block in prop::array::uniform16(prop_oneof![any::<u8>(), Just(b':')]),
            byte in prop_oneof![Just(b':'), Just(b'\n'), any::<u8>()],
        ) {
            prop_assert_eq!(eq_mask16(&block, byte), eq_mask16_slow(&block, byte));
        }
    }
}
