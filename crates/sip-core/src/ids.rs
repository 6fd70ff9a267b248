//! Random identifiers: Via branches, tags and Call-IDs.

const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn push_random(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]));
    }
}

/// A new RFC 3261 Via branch: the magic cookie `z9hG4bK` and 16 random
/// alphanumerics (about 95 bits).
pub fn new_branch() -> String {
    let mut s = String::with_capacity(23);
    s.push_str("z9hG4bK");
    push_random(&mut s, 16);
    s
}

/// A new From/To tag: 12 random alphanumerics (about 71 bits).
pub fn new_tag() -> String {
    let mut s = String::with_capacity(12);
    push_random(&mut s, 12);
    s
}

/// A new Call-ID: 20 random alphanumerics, then `@host` when `host` is
/// given.
pub fn new_call_id(host: Option<&str>) -> String {
    let mut s = String::with_capacity(21 + host.map_or(0, str::len));
    push_random(&mut s, 20);
    if let Some(h) = host {
        s.push('@');
        s.push_str(h);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let b = new_branch();
        assert!(b.starts_with("z9hG4bK") && b.len() == 23);
        assert_ne!(new_branch(), b);
        let t = new_tag();
        assert_eq!(t.len(), 12);
        assert!(t.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(new_call_id(Some("h")).ends_with("@h"));
    }
}
