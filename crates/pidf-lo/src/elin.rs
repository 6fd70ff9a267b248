//! The ELIN: the callback number sent for an emergency caller.

use std::fmt;
use std::str::FromStr;

/// An Emergency Location Identification Number in E.164 form: `+` followed
/// by 2 to 15 digits, nothing else (no spaces, dashes or `tel:` prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Elin(String);

/// Why a string is not an ELIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElinError {
    /// Nothing was given.
    #[error("the ELIN is empty; expected E.164 like +15551234567")]
    Empty,
    /// The leading `+` is missing.
    #[error("the ELIN {0:?} does not start with '+'; write it in E.164 form like +15551234567")]
    MissingPlus(String),
    /// A character other than an ASCII digit follows the `+`.
    #[error("the ELIN {value:?} has {found:?} at character {index}; only digits may follow '+'")]
    NotADigit {
        /// The whole value.
        value: String,
        /// The offending character.
        found: char,
        /// Its index in characters.
        index: usize,
    },
    /// Too few or too many digits.
    #[error("the ELIN {value:?} has {digits} digits; E.164 allows 2 to 15")]
    Length {
        /// The whole value.
        value: String,
        /// How many digits it has.
        digits: usize,
    },
}

impl Elin {
    /// Fewest digits accepted.
    pub const MIN_DIGITS: usize = 2;
    /// Most digits accepted (E.164).
    pub const MAX_DIGITS: usize = 15;

    /// Validates `s` as an E.164 ELIN.
    pub fn parse(s: &str) -> Result<Elin, ElinError> {
        if s.is_empty() {
            return Err(ElinError::Empty);
        }
        let Some(digits) = s.strip_prefix('+') else {
            return Err(ElinError::MissingPlus(s.to_owned()));
        };
        if let Some((i, c)) = digits
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_digit())
        {
            return Err(ElinError::NotADigit {
                value: s.to_owned(),
                found: c,
                index: i + 1,
            });
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(ElinError::Length {
                value: s.to_owned(),
                digits: digits.len(),
            });
        }
        Ok(Elin(s.to_owned()))
    }

    /// The number with its `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+` (what goes in a SIP URI user part for
    /// gateways that want no `+`).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for Elin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Elin {
    type Err = ElinError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Elin::parse(s)
    }
}

impl AsRef<str> for Elin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
