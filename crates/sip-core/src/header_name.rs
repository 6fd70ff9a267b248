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

    /// Classifies a header name (case-insensitive, full or compact form)
    /// without allocating: the name is lower-cased into a stack buffer and
    /// matched.
    #[inline]
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        let mut buf = [0u8; 24];
        if name.is_empty() || name.len() > buf.len() {
            return HeaderName::Other;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        HeaderName::from_lowercase(&buf[..name.len()])
    }

    /// Classifies a name already in lower case.
    #[inline]
    pub(crate) fn from_lowercase(lower: &[u8]) -> HeaderName {
        match lower {
            b"accept" => HeaderName::Accept,
            b"a" | b"accept-contact" => HeaderName::AcceptContact,
            b"accept-encoding" => HeaderName::AcceptEncoding,
            b"accept-language" => HeaderName::AcceptLanguage,
            b"alert-info" => HeaderName::AlertInfo,
            b"allow" => HeaderName::Allow,
            b"u" | b"allow-events" => HeaderName::AllowEvents,
            b"authentication-info" => HeaderName::AuthenticationInfo,
            b"authorization" => HeaderName::Authorization,
            b"i" | b"call-id" => HeaderName::CallId,
            b"call-info" => HeaderName::CallInfo,
            b"m" | b"contact" => HeaderName::Contact,
            b"content-disposition" => HeaderName::ContentDisposition,
            b"e" | b"content-encoding" => HeaderName::ContentEncoding,
            b"content-language" => HeaderName::ContentLanguage,
            b"l" | b"content-length" => HeaderName::ContentLength,
            b"c" | b"content-type" => HeaderName::ContentType,
            b"cseq" => HeaderName::CSeq,
            b"date" => HeaderName::Date,
            b"error-info" => HeaderName::ErrorInfo,
            b"o" | b"event" => HeaderName::Event,
            b"expires" => HeaderName::Expires,
            b"f" | b"from" => HeaderName::From,
            b"geolocation" => HeaderName::Geolocation,
            b"geolocation-routing" => HeaderName::GeolocationRouting,
            b"y" | b"identity" => HeaderName::Identity,
            b"n" | b"identity-info" => HeaderName::IdentityInfo,
            b"in-reply-to" => HeaderName::InReplyTo,
            b"max-forwards" => HeaderName::MaxForwards,
            b"mime-version" => HeaderName::MimeVersion,
            b"min-expires" => HeaderName::MinExpires,
            b"min-se" => HeaderName::MinSe,
            b"organization" => HeaderName::Organization,
            b"p-asserted-identity" => HeaderName::PAssertedIdentity,
            b"p-preferred-identity" => HeaderName::PPreferredIdentity,
            b"path" => HeaderName::Path,
            b"priority" => HeaderName::Priority,
            b"privacy" => HeaderName::Privacy,
            b"proxy-authenticate" => HeaderName::ProxyAuthenticate,
            b"proxy-authorization" => HeaderName::ProxyAuthorization,
            b"proxy-require" => HeaderName::ProxyRequire,
            b"rack" => HeaderName::RAck,
            b"reason" => HeaderName::Reason,
            b"record-route" => HeaderName::RecordRoute,
            b"r" | b"refer-to" => HeaderName::ReferTo,
            b"b" | b"referred-by" => HeaderName::ReferredBy,
            b"j" | b"reject-contact" => HeaderName::RejectContact,
            b"remote-party-id" => HeaderName::RemotePartyId,
            b"reply-to" => HeaderName::ReplyTo,
            b"d" | b"request-disposition" => HeaderName::RequestDisposition,
            b"require" => HeaderName::Require,
            b"retry-after" => HeaderName::RetryAfter,
            b"route" => HeaderName::Route,
            b"rseq" => HeaderName::RSeq,
            b"server" => HeaderName::Server,
            b"service-route" => HeaderName::ServiceRoute,
            b"x" | b"session-expires" => HeaderName::SessionExpires,
            b"sip-etag" => HeaderName::SipEtag,
            b"sip-if-match" => HeaderName::SipIfMatch,
            b"s" | b"subject" => HeaderName::Subject,
            b"subscription-state" => HeaderName::SubscriptionState,
            b"k" | b"supported" => HeaderName::Supported,
            b"timestamp" => HeaderName::Timestamp,
            b"t" | b"to" => HeaderName::To,
            b"unsupported" => HeaderName::Unsupported,
            b"user-agent" => HeaderName::UserAgent,
            b"v" | b"via" => HeaderName::Via,
            b"warning" => HeaderName::Warning,
            b"www-authenticate" => HeaderName::WwwAuthenticate,
            _ => HeaderName::Other,
        }
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
