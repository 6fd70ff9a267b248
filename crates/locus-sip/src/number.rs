//! Telephone numbers as the trunks see them.

use std::fmt;

/// An E.164 number written with its leading `+`: 1 to 15 digits after it
/// (ITU-T E.164; Genesys spec 2.7.1 requires the `+`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Parses `+` followed by 1 to 15 digits, nothing else (no visual
    /// separators: a SIP user part carrying a number has none).
    pub fn parse(s: &str) -> Option<E164> {
        let digits = s.strip_prefix('+')?;
        let ok = (1..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then(|| E164(s.to_owned()))
    }

    /// The number with its `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::E164;

    #[test]
    fn c8_e164_needs_plus_and_digits() {
        assert_eq!(E164::parse("+15551234567").unwrap().digits(), "15551234567");
        for bad in [
            "15551234567",
            "+",
            "+1555123456789012",
            "+1-555",
            "+0123",
            "alice",
            "",
        ] {
            assert!(E164::parse(bad).is_none(), "{bad}");
        }
    }
}
