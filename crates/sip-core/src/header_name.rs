//! Header names: the known ones as an enum, classified without allocation.

use std::fmt;

/// A header field name. Known names (full or compact form, any case) map to
/// their variant; anything else is [`HeaderName::Other`] and keeps its text in
/// the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HeaderName {
    /// `Accept`.
    Accept,
    /// `Accept-Contact` (compact `a`).
    AcceptContact,
    /// `Accept-Encoding`.
    AcceptEncoding,
    /// `Accept-Language`.
    AcceptLanguage,
    /// `Alert-Info`.
    AlertInfo,
    /// `Allow`.
    Allow,
    /// `Allow-Events` (compact `u`).
    AllowEvents,
    /// `Authentication-Info`.
    AuthenticationInfo,
    /// `Authorization`.
    Authorization,
    /// `Call-ID` (compact `i`).
    CallId,
    /// `Call-Info`.
    CallInfo,
    /// `Contact` (compact `m`).
    Contact,
    /// `Content-Disposition`.
    ContentDisposition,
    /// `Content-Encoding` (compact `e`).
    ContentEncoding,
    /// `Content-Language`.
    ContentLanguage,
    /// `Content-Length` (compact `l`).
    ContentLength,
    /// `Content-Type` (compact `c`).
    ContentType,
    /// `CSeq`.
    CSeq,
    /// `Date`.
    Date,
    /// `Error-Info`.
    ErrorInfo,
    /// `Event` (compact `o`).
    Event,
    /// `Expires`.
    Expires,
    /// `From` (compact `f`).
    From,
    /// `Geolocation`.
    Geolocation,
    /// `Geolocation-Routing`.
    GeolocationRouting,
    /// `Identity` (compact `y`).
    Identity,
    /// `Identity-Info` (compact `n`).
    IdentityInfo,
    /// `In-Reply-To`.
    InReplyTo,
    /// `Max-Forwards`.
    MaxForwards,
    /// `MIME-Version`.
    MimeVersion,
    /// `Min-Expires`.
    MinExpires,
    /// `Min-SE`.
    MinSe,
    /// `Organization`.
    Organization,
    /// `P-Asserted-Identity`.
    PAssertedIdentity,
    /// `P-Preferred-Identity`.
    PPreferredIdentity,
    /// `Path`.
    Path,
    /// `Priority`.
    Priority,
    /// `Privacy`.
    Privacy,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Proxy-Require`.
    ProxyRequire,
    /// `RAck`.
    RAck,
    /// `Reason`.
    Reason,
    /// `Record-Route`.
    RecordRoute,
    /// `Refer-To` (compact `r`).
    ReferTo,
    /// `Referred-By` (compact `b`).
    ReferredBy,
    /// `Reject-Contact` (compact `j`).
    RejectContact,
    /// `Remote-Party-ID`.
    RemotePartyId,
    /// `Reply-To`.
    ReplyTo,
    /// `Request-Disposition` (compact `d`).
    RequestDisposition,
    /// `Require`.
    Require,
    /// `Retry-After`.
    RetryAfter,
    /// `Route`.
    Route,
    /// `RSeq`.
    RSeq,
    /// `Server`.
    Server,
    /// `Service-Route`.
    ServiceRoute,
    /// `Session-Expires` (compact `x`).
    SessionExpires,
    /// `SIP-ETag`.
    SipEtag,
    /// `SIP-If-Match`.
    SipIfMatch,
    /// `Subject` (compact `s`).
    Subject,
    /// `Subscription-State`.
    SubscriptionState,
    /// `Supported` (compact `k`).
    Supported,
    /// `Timestamp`.
    Timestamp,
    /// `To` (compact `t`).
    To,
    /// `Unsupported`.
    Unsupported,
    /// `User-Agent`.
    UserAgent,
    /// `Via` (compact `v`).
    Via,
    /// `Warning`.
    Warning,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// Any header this crate does not name; its text stays in the message.
    Other,
}

impl HeaderName {
    /// Every named variant (not `Other`).
    pub const ALL: &'static [HeaderName] = &[
        HeaderName::Accept,
        HeaderName::AcceptContact,
        HeaderName::AcceptEncoding,
        HeaderName::AcceptLanguage,
        HeaderName::AlertInfo,
        HeaderName::Allow,
        HeaderName::AllowEvents,
        HeaderName::AuthenticationInfo,
        HeaderName::Authorization,
        HeaderName::CallId,
        HeaderName::CallInfo,
        HeaderName::Contact,
        HeaderName::ContentDisposition,
        HeaderName::ContentEncoding,
        HeaderName::ContentLanguage,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::CSeq,
        HeaderName::Date,
        HeaderName::ErrorInfo,
        HeaderName::Event,
        HeaderName::Expires,
        HeaderName::From,
        HeaderName::Geolocation,
        HeaderName::GeolocationRouting,
        HeaderName::Identity,
        HeaderName::IdentityInfo,
        HeaderName::InReplyTo,
        HeaderName::MaxForwards,
        HeaderName::MimeVersion,
        HeaderName::MinExpires,
        HeaderName::MinSe,
        HeaderName::Organization,
        HeaderName::PAssertedIdentity,
        HeaderName::PPreferredIdentity,
        HeaderName::Path,
        HeaderName::Priority,
        HeaderName::Privacy,
        HeaderName::ProxyAuthenticate,
        HeaderName::ProxyAuthorization,
        HeaderName::ProxyRequire,
        HeaderName::RAck,
        HeaderName::Reason,
        HeaderName::RecordRoute,
        HeaderName::ReferTo,
        HeaderName::ReferredBy,
        HeaderName::RejectContact,
        HeaderName::RemotePartyId,
        HeaderName::ReplyTo,
        HeaderName::RequestDisposition,
        HeaderName::Require,
        HeaderName::RetryAfter,
        HeaderName::Route,
        HeaderName::RSeq,
        HeaderName::Server,
        HeaderName::ServiceRoute,
        HeaderName::SessionExpires,
        HeaderName::SipEtag,
        HeaderName::SipIfMatch,
        HeaderName::Subject,
        HeaderName::SubscriptionState,
        HeaderName::Supported,
        HeaderName::Timestamp,
        HeaderName::To,
        HeaderName::Unsupported,
        HeaderName::UserAgent,
        HeaderName::Via,
        HeaderName::Warning,
        HeaderName::WwwAuthenticate,
    ];

    /// The canonical full name (RFC spelling).
    pub const fn as_str(self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::Geolocation => "Geolocation",
            HeaderName::GeolocationRouting => "Geolocation-Routing",
            HeaderName::Identity => "Identity",
            HeaderName::IdentityInfo => "Identity-Info",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::PAssertedIdentity => "P-Asserted-Identity",
            HeaderName::PPreferredIdentity => "P-Preferred-Identity",
            HeaderName::Path => "Path",
            HeaderName::Priority => "Priority",
            HeaderName::Privacy => "Privacy",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::RemotePartyId => "Remote-Party-ID",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::ServiceRoute => "Service-Route",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::SipEtag => "SIP-ETag",
            HeaderName::SipIfMatch => "SIP-If-Match",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other => "",
        }
    }

    /// The compact form (RFC 3261 section 7.3.3 and extensions), if any.
    pub const fn compact(self) -> Option<&'static str> {
        match self {
            HeaderName::AcceptContact => Some("a"),
            HeaderName::AllowEvents => Some("u"),
            HeaderName::CallId => Some("i"),
            HeaderName::Contact => Some("m"),
            HeaderName::ContentEncoding => Some("e"),
            HeaderName::ContentLength => Some("l"),
            HeaderName::ContentType => Some("c"),
            HeaderName::Event => Some("o"),
            HeaderName::From => Some("f"),
            HeaderName::Identity => Some("y"),
            HeaderName::IdentityInfo => Some("n"),
            HeaderName::ReferTo => Some("r"),
            HeaderName::ReferredBy => Some("b"),
            HeaderName::RejectContact => Some("j"),
            HeaderName::RequestDisposition => Some("d"),
            HeaderName::SessionExpires => Some("x"),
            HeaderName::Subject => Some("s"),
            HeaderName::Supported => Some("k"),
            HeaderName::To => Some("t"),
            HeaderName::Via => Some("v"),
            _ => None,
        }
    }

    /// Whether the header's grammar is a comma-separated list, so that one
    /// line may carry several values (RFC 3261 section 7.3.1). The
    /// authentication headers are not: their commas separate parameters.
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptContact
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::ErrorInfo
                | HeaderName::Geolocation
                | HeaderName::InReplyTo
                | HeaderName::PAssertedIdentity
                | HeaderName::PPreferredIdentity
                | HeaderName::Path
                | HeaderName::ProxyRequire
                | HeaderName::Reason
                | HeaderName::RecordRoute
                | HeaderName::RejectContact
                | HeaderName::RemotePartyId
                | HeaderName::RequestDisposition
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::ServiceRoute
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }

    /// Classifies a header name (case-insensitive, full or compact form).
    #[inline]
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            return match name[0] | 0x20 {
                b'a' => HeaderName::AcceptContact,
                b'u' => HeaderName::AllowEvents,
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'e' => HeaderName::ContentEncoding,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'o' => HeaderName::Event,
                b'f' => HeaderName::From,
                b'y' => HeaderName::Identity,
                b'n' => HeaderName::IdentityInfo,
                b'r' => HeaderName::ReferTo,
                b'b' => HeaderName::ReferredBy,
                b'j' => HeaderName::RejectContact,
                b'd' => HeaderName::RequestDisposition,
                b'x' => HeaderName::SessionExpires,
                b's' => HeaderName::Subject,
                b'k' => HeaderName::Supported,
                b't' => HeaderName::To,
                b'v' => HeaderName::Via,
                _ => HeaderName::Other,
            };
        }
        let first = name.first().map_or(0, |b| b | 0x20);
        let cands: &[(&str, HeaderName)] = match (name.len(), first) {
            (2, b't') => &[("To", HeaderName::To)],
            (3, b'v') => &[("Via", HeaderName::Via)],
            (4, b'c') => &[("CSeq", HeaderName::CSeq)],
            (4, b'd') => &[("Date", HeaderName::Date)],
            (4, b'f') => &[("From", HeaderName::From)],
            (4, b'p') => &[("Path", HeaderName::Path)],
            (4, b'r') => &[("RAck", HeaderName::RAck), ("RSeq", HeaderName::RSeq)],
            (5, b'a') => &[("Allow", HeaderName::Allow)],
            (5, b'e') => &[("Event", HeaderName::Event)],
            (5, b'r') => &[("Route", HeaderName::Route)],
            (6, b'a') => &[("Accept", HeaderName::Accept)],
            (6, b'm') => &[("Min-SE", HeaderName::MinSe)],
            (6, b'r') => &[("Reason", HeaderName::Reason)],
            (6, b's') => &[("Server", HeaderName::Server)],
            (7, b'c') => &[
                ("Call-ID", HeaderName::CallId),
                ("Contact", HeaderName::Contact),
            ],
            (7, b'e') => &[("Expires", HeaderName::Expires)],
            (7, b'p') => &[("Privacy", HeaderName::Privacy)],
            (7, b'r') => &[("Require", HeaderName::Require)],
            (7, b's') => &[("Subject", HeaderName::Subject)],
            (7, b'w') => &[("Warning", HeaderName::Warning)],
            (8, b'i') => &[("Identity", HeaderName::Identity)],
            (8, b'p') => &[("Priority", HeaderName::Priority)],
            (8, b'r') => &[
                ("Refer-To", HeaderName::ReferTo),
                ("Reply-To", HeaderName::ReplyTo),
            ],
            (8, b's') => &[("SIP-ETag", HeaderName::SipEtag)],
            (9, b'c') => &[("Call-Info", HeaderName::CallInfo)],
            (9, b's') => &[("Supported", HeaderName::Supported)],
            (9, b't') => &[("Timestamp", HeaderName::Timestamp)],
            (10, b'a') => &[("Alert-Info", HeaderName::AlertInfo)],
            (10, b'e') => &[("Error-Info", HeaderName::ErrorInfo)],
            (10, b'u') => &[("User-Agent", HeaderName::UserAgent)],
            (11, b'g') => &[("Geolocation", HeaderName::Geolocation)],
            (11, b'i') => &[("In-Reply-To", HeaderName::InReplyTo)],
            (11, b'm') => &[("Min-Expires", HeaderName::MinExpires)],
            (11, b'r') => &[
                ("Referred-By", HeaderName::ReferredBy),
                ("Retry-After", HeaderName::RetryAfter),
            ],
            (11, b'u') => &[("Unsupported", HeaderName::Unsupported)],
            (12, b'a') => &[("Allow-Events", HeaderName::AllowEvents)],
            (12, b'c') => &[("Content-Type", HeaderName::ContentType)],
            (12, b'm') => &[
                ("Max-Forwards", HeaderName::MaxForwards),
                ("MIME-Version", HeaderName::MimeVersion),
            ],
            (12, b'o') => &[("Organization", HeaderName::Organization)],
            (12, b'r') => &[("Record-Route", HeaderName::RecordRoute)],
            (12, b's') => &[("SIP-If-Match", HeaderName::SipIfMatch)],
            (13, b'a') => &[("Authorization", HeaderName::Authorization)],
            (13, b'i') => &[("Identity-Info", HeaderName::IdentityInfo)],
            (13, b'p') => &[("Proxy-Require", HeaderName::ProxyRequire)],
            (13, b's') => &[("Service-Route", HeaderName::ServiceRoute)],
            (14, b'a') => &[("Accept-Contact", HeaderName::AcceptContact)],
            (14, b'c') => &[("Content-Length", HeaderName::ContentLength)],
            (14, b'r') => &[("Reject-Contact", HeaderName::RejectContact)],
            (15, b'a') => &[
                ("Accept-Encoding", HeaderName::AcceptEncoding),
                ("Accept-Language", HeaderName::AcceptLanguage),
            ],
            (15, b'r') => &[("Remote-Party-ID", HeaderName::RemotePartyId)],
            (15, b's') => &[("Session-Expires", HeaderName::SessionExpires)],
            (16, b'c') => &[
                ("Content-Encoding", HeaderName::ContentEncoding),
                ("Content-Language", HeaderName::ContentLanguage),
            ],
            (16, b'w') => &[("WWW-Authenticate", HeaderName::WwwAuthenticate)],
            (18, b'p') => &[("Proxy-Authenticate", HeaderName::ProxyAuthenticate)],
            (18, b's') => &[("Subscription-State", HeaderName::SubscriptionState)],
            (19, b'a') => &[("Authentication-Info", HeaderName::AuthenticationInfo)],
            (19, b'c') => &[("Content-Disposition", HeaderName::ContentDisposition)],
            (19, b'g') => &[("Geolocation-Routing", HeaderName::GeolocationRouting)],
            (19, b'p') => &[
                ("P-Asserted-Identity", HeaderName::PAssertedIdentity),
                ("Proxy-Authorization", HeaderName::ProxyAuthorization),
            ],
            (19, b'r') => &[("Request-Disposition", HeaderName::RequestDisposition)],
            (20, b'p') => &[("P-Preferred-Identity", HeaderName::PPreferredIdentity)],
            _ => return HeaderName::Other,
        };
        for (n, h) in cands {
            if name.eq_ignore_ascii_case(n.as_bytes()) {
                return *h;
            }
        }
        HeaderName::Other
    }

    /// The name to write for a form: compact letter when asked and known.
    pub fn wire_name(self, compact: bool) -> &'static str {
        if compact {
            if let Some(c) = self.compact() {
                return c;
            }
        }
        self.as_str()
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_compact_round_trips() {
        for h in HeaderName::ALL {
            assert_eq!(HeaderName::from_bytes(h.as_str().as_bytes()), *h);
            assert_eq!(
                HeaderName::from_bytes(h.as_str().to_ascii_lowercase().as_bytes()),
                *h
            );
            if let Some(c) = h.compact() {
                assert_eq!(HeaderName::from_bytes(c.as_bytes()), *h);
                assert_eq!(
                    HeaderName::from_bytes(c.to_ascii_uppercase().as_bytes()),
                    *h
                );
            }
        }
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"q"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b""), HeaderName::Other);
    }
}
