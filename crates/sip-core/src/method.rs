//! SIP request methods (RFC 3261 section 7.1 and extensions).

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;
use crate::text::is_token;

/// A SIP method. Methods are case-sensitive tokens (RFC 3261 section 7.1):
/// `invite` and `RE%47IST%45R` are extension methods, not INVITE or REGISTER.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261).
    Invite,
    /// ACK (RFC 3261).
    Ack,
    /// BYE (RFC 3261).
    Bye,
    /// CANCEL (RFC 3261).
    Cancel,
    /// REGISTER (RFC 3261).
    Register,
    /// OPTIONS (RFC 3261).
    Options,
    /// INFO (RFC 6086).
    Info,
    /// UPDATE (RFC 3311).
    Update,
    /// PRACK (RFC 3262).
    Prack,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// PUBLISH (RFC 3903).
    Publish,
    /// MESSAGE (RFC 3428).
    Message,
    /// REFER (RFC 3515).
    Refer,
    /// Any other method: a valid token, kept exactly as written.
    Extension(String),
}

impl Method {
    /// Classifies a method token without allocating for the known methods.
    #[inline]
    pub fn from_bytes(s: &[u8]) -> Result<Method, ParseError> {
        // The known methods inline (the start line and CSeq both ask);
        // any other token out of line.
        match Method::known(s) {
            Some(m) => Ok(m),
            None => Method::extension(s),
        }
    }

    /// One of the named methods, by length first, then one fixed-size
    /// compare per candidate (slice patterns would test the lengths one arm
    /// at a time).
    #[inline]
    fn known(s: &[u8]) -> Option<Method> {
        match s.len() {
            3 if s == b"ACK" => Some(Method::Ack),
            3 if s == b"BYE" => Some(Method::Bye),
            4 if s == b"INFO" => Some(Method::Info),
            5 if s == b"PRACK" => Some(Method::Prack),
            5 if s == b"REFER" => Some(Method::Refer),
            6 if s == b"INVITE" => Some(Method::Invite),
            6 if s == b"CANCEL" => Some(Method::Cancel),
            6 if s == b"NOTIFY" => Some(Method::Notify),
            6 if s == b"UPDATE" => Some(Method::Update),
            7 if s == b"OPTIONS" => Some(Method::Options),
            7 if s == b"PUBLISH" => Some(Method::Publish),
            7 if s == b"MESSAGE" => Some(Method::Message),
            8 if s == b"REGISTER" => Some(Method::Register),
            9 if s == b"SUBSCRIBE" => Some(Method::Subscribe),
            _ => None,
        }
    }

    /// A token that is not a named method.
    #[inline(never)]
    fn extension(s: &[u8]) -> Result<Method, ParseError> {
        if is_token(s) {
            // Token characters are ASCII, so this cannot fail.
            Ok(Method::Extension(String::from_utf8_lossy(s).into_owned()))
        } else {
            Err(ParseError::InvalidMethod)
        }
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Message => "MESSAGE",
            Method::Refer => "REFER",
            Method::Extension(s) => s,
        }
    }

    /// Whether this is an extension (not one of the named variants).
    pub fn is_extension(&self) -> bool {
        matches!(self, Method::Extension(_))
    }
}

impl FromStr for Method {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Method, ParseError> {
        Method::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_sensitive_and_escapes_are_extensions() {
        assert_eq!("REGISTER".parse::<Method>().unwrap(), Method::Register);
        assert!("register".parse::<Method>().unwrap().is_extension());
        let m: Method = "RE%47IST%45R".parse().unwrap();
        assert_eq!(m, Method::Extension("RE%47IST%45R".into()));
        assert!("IN VITE".parse::<Method>().is_err());
        assert!("".parse::<Method>().is_err());
    }
}
