//! Lower-case hexadecimal, as digest responses use (RFC 7616 section 3.4.1).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Decodes hex (either case) into `out`; `None` unless exactly
/// `2 * out.len()` hex digits.
pub(crate) fn decode_into(s: &str, out: &mut [u8]) -> Option<()> {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = encode(&[0x00, 0x7f, 0xab, 0xff]);
        assert_eq!(e, "007fabff");
        let mut out = [0u8; 4];
        decode_into("007FabfF", &mut out).unwrap();
        assert_eq!(out, [0x00, 0x7f, 0xab, 0xff]);
        assert!(decode_into("007fab", &mut out).is_none());
        assert!(decode_into("007fabfg", &mut out).is_none());
    }
}
