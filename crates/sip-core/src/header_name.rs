//! Header names: the known ones as an enum, classified without allocation.

use std::fmt;

use crate::text::is_token_char;

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

/// The lower-case full name of every named variant, indexed by
/// discriminant, zero-padded to whole 8-byte words (the longest name has
/// 20 bytes).
const LOWER: [[u8; 24]; HeaderName::ALL.len()] = {
    let mut t = [[0u8; 24]; HeaderName::ALL.len()];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let h = HeaderName::ALL[i];
        // `ALL` lists the variants in declaration order.
        assert!(h as usize == i);
        let name = h.as_str().as_bytes();
        let mut j = 0;
        while j < name.len() {
            t[i][j] = name[j].to_ascii_lowercase();
            j += 1;
        }
        i += 1;
    }
    t
};

/// Bytes 0x80 where `w` has a zero byte; exact for the lowest zero byte
/// (a borrow can only mark bytes above it), which is all callers use.
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080
}

/// The first three 8-byte words of `line` (zero past its end), as
/// [`spells`] reads them.
fn words(line: &[u8]) -> [u64; 3] {
    let mut w = [0u8; 24];
    let n = line.len().min(24);
    w[..n].copy_from_slice(&line[..n]);
    let word = |k: usize| u64::from_le_bytes(*w[k..].first_chunk::<8>().unwrap_or(&[0; 8]));
    [word(0), word(8), word(16)]
}

/// Whether the first `len` bytes of `words` (little-endian words of a
/// line) spell `name` in any case; `len` is the length of `name`, at most
/// 24. `| 0x20` lower-cases a letter, and is applied only where the name
/// has a letter, so a `-` must be `-` itself (`| 0x20` would also turn CR
/// into `-`). Bytes past the name are masked out.
#[inline]
fn spells(words: &[u64; 3], len: usize, name: HeaderName) -> bool {
    let want = &LOWER_WORDS[name as usize];
    let mut diff = 0;
    for k in 0..3 {
        let left = len.saturating_sub(8 * k);
        if left == 0 {
            break;
        }
        // Letters are the bytes with 0x40 set in a lower-case name.
        let case = (want[k] & 0x4040_4040_4040_4040) >> 1;
        let mask = u64::MAX >> (64 - 8 * left.min(8));
        diff |= ((words[k] | case) ^ want[k]) & mask;
    }
    diff == 0
}

/// The hash of a name of 2 bytes (`len`; longer names take
/// [`short_hash`] and [`long_hash`]), `w0` its first word,
/// `last` its last byte: its first three bytes (at most `len`), last byte
/// and length, letters in any case, mixed by one multiplication into 8
/// bits. The multiplier was picked so that no two known names meet (the
/// table below checks it at compile time).
#[inline]
const fn name_hash(w0: u64, last: u8, len: usize) -> usize {
    let keep = if len < 3 { len } else { 3 };
    let head = (w0 | 0x2020_2020) & ((1u64 << (8 * keep)) - 1);
    let key = head ^ ((last as u64 | 0x20) << 24) ^ ((len as u64) << 32);
    (key.wrapping_mul(0xa6aa_5e92_7427_d741) >> 56) as usize
}

/// The hash of a name of 3 to 7 bytes from `key`, the word of its bytes
/// and the `:` after it, each OR-ed with 0x20 (letters in any case give
/// the same key), zero above: one multiplication into 8 bits. The
/// multiplier was picked so that these names meet no other known name in
/// [`BY_HASH`] (checked at compile time). The key is the line's first word
/// under the mask the name is compared with, so the line loop computes
/// that mask once for both.
#[inline]
const fn short_hash(key: u64) -> usize {
    (key.wrapping_mul(0xdef8_8334_e647_cb8f) >> 56) as usize
}

/// [`short_hash`]'s key of a name of `len` bytes (3 to 7) at the start of
/// `w0`, in any case, whatever follows it in `w0`.
#[inline]
const fn short_key(w0: u64, len: usize) -> u64 {
    (w0 | 0x2020_2020_2020_2020) & (u64::MAX >> (64 - 8 * len)) | ((b':' as u64) << (8 * len))
}

/// The hash of a name of 8 to 23 bytes from `key` ([`long_key`]): one
/// multiplication into 8 bits, the multiplier picked so that these names
/// meet no other known name in [`BY_HASH`] (checked at compile time).
#[inline]
const fn long_hash(key: u64) -> usize {
    (key.wrapping_mul(0x191d_1cb7_252c_7f77) >> 56) as usize
}

/// [`long_hash`]'s key of a name of `len` bytes (8 to 23) followed by `:`
/// in the words `w` (as read from a line: bytes past the `:` are masked
/// off): the words OR-ed with 0x20 (letters in any case give the same key),
/// folded into one. The masks are the ones the line loop compares with.
#[inline]
const fn long_key(w: [u64; 3], len: usize) -> u64 {
    const C: u64 = 0x2020_2020_2020_2020;
    if len < 16 {
        (w[0] | C) ^ ((w[1] | C) & through(len - 8)).rotate_left(21)
    } else {
        (w[0] | C) ^ (w[1] | C).rotate_left(21) ^ ((w[2] | C) & through(len - 16)).rotate_left(42)
    }
}

/// The words of `name` (at most 23 bytes) followed by `:`, zero-padded,
/// as a line holding it would give them.
const fn colon_words(name: &[u8]) -> [u64; 3] {
    let mut b = [0u8; 24];
    let mut j = 0;
    while j < name.len() {
        b[j] = name[j];
        j += 1;
    }
    b[name.len()] = b':';
    let mut w = [0u64; 3];
    let mut k = 0;
    while k < 3 {
        let mut x = [0u8; 8];
        let mut j = 0;
        while j < 8 {
            x[j] = b[8 * k + j];
            j += 1;
        }
        w[k] = u64::from_le_bytes(x);
        k += 1;
    }
    w
}

/// An empty slot of [`BY_HASH`]: one past the named variants.
const EMPTY: u8 = HeaderName::ALL.len() as u8;

/// The length of every named variant, by discriminant.
const NAME_LEN: [u8; HeaderName::ALL.len()] = {
    let mut t = [0u8; HeaderName::ALL.len()];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        t[i] = HeaderName::ALL[i].as_str().len() as u8;
        i += 1;
    }
    t
};

/// Known names by [`name_hash`]: the discriminant, or [`EMPTY`].
const BY_HASH: [u8; 256] = {
    let mut t = [EMPTY; 256];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let name = LOWER[i];
        let len = NAME_LEN[i] as usize;
        let mut w0 = [0u8; 8];
        let mut j = 0;
        while j < 8 {
            w0[j] = name[j];
            j += 1;
        }
        let w0 = u64::from_le_bytes(w0);
        let h = if len >= 8 {
            long_hash(long_key(colon_words(name.split_at(len).0), len))
        } else if len >= 3 {
            short_hash(short_key(w0, len))
        } else {
            name_hash(w0, name[len - 1], len)
        };
        assert!(t[h] == EMPTY, "two header names share a hash slot");
        t[h] = i as u8;
        i += 1;
    }
    t
};

/// [`LOWER`] as little-endian words.
const LOWER_WORDS: [[u64; 3]; HeaderName::ALL.len()] = {
    let mut t = [[0u64; 3]; HeaderName::ALL.len()];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let mut k = 0;
        while k < 3 {
            let mut w = [0u8; 8];
            let mut j = 0;
            while j < 8 {
                w[j] = LOWER[i][8 * k + j];
                j += 1;
            }
            t[i][k] = u64::from_le_bytes(w);
            k += 1;
        }
        i += 1;
    }
    t
};

/// A known name followed by `:`, as [`HeaderName::at_line_start`]
/// compares it with the start of a header line.
struct ColonWords {
    /// The lower-case name and `:`, in little-endian words, zero-padded.
    lower: [u64; 3],
    /// 0x20 where the name has a letter: OR-ed into the line's bytes, it
    /// lower-cases letters and leaves `-`, `:` and digits to match exactly
    /// (CR | 0x20 would be `-`).
    case: [u64; 3],
}

/// [`ColonWords`] of every named variant, by discriminant, and at
/// [`EMPTY`] one that matches nothing.
const COLON_WORDS: [ColonWords; HeaderName::ALL.len() + 1] = {
    const NONE: ColonWords = ColonWords {
        lower: [u64::MAX; 3],
        case: [0; 3],
    };
    let mut t = [NONE; HeaderName::ALL.len() + 1];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let len = NAME_LEN[i] as usize;
        let mut lower = [0u8; 24];
        let mut case = [0u8; 24];
        let mut j = 0;
        while j < len {
            lower[j] = LOWER[i][j];
            if lower[j].is_ascii_lowercase() {
                case[j] = 0x20;
            }
            j += 1;
        }
        lower[len] = b':';
        let mut k = 0;
        while k < 3 {
            let mut lw = [0u8; 8];
            let mut cw = [0u8; 8];
            let mut j = 0;
            while j < 8 {
                lw[j] = lower[8 * k + j];
                cw[j] = case[8 * k + j];
                j += 1;
            }
            t[i].lower[k] = u64::from_le_bytes(lw);
            t[i].case[k] = u64::from_le_bytes(cw);
            k += 1;
        }
        i += 1;
    }
    t
};

/// A [`BY_HASH`] slot with what [`HeaderName::at_line_start`] needs of it
/// (its name and [`ColonWords`]), so a line's hash leads to them in one
/// step (no index to follow, no bound to check).
struct Slot {
    words: ColonWords,
    name: HeaderName,
}

/// [`BY_HASH`] with each slot's [`Slot`]; an empty one matches nothing.
const SLOTS: [Slot; 256] = {
    const NONE: Slot = Slot {
        words: ColonWords {
            lower: [u64::MAX; 3],
            case: [0; 3],
        },
        name: HeaderName::Other,
    };
    let mut t = [NONE; 256];
    let mut h = 0;
    while h < 256 {
        let id = BY_HASH[h] as usize;
        if id < HeaderName::ALL.len() {
            t[h] = Slot {
                words: ColonWords {
                    lower: COLON_WORDS[id].lower,
                    case: COLON_WORDS[id].case,
                },
                name: HeaderName::ALL[id],
            };
        }
        h += 1;
    }
    t
};

/// The little-endian word of the 8 bytes at `pos`, if there are 8.
#[inline]
fn word_at(b: &[u8], pos: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*b.get(pos..)?.first_chunk::<8>()?))
}

/// Bytes 0x80 where `w` holds a `:` (exact for the lowest one).
#[inline]
fn colon_bytes(w: u64) -> u64 {
    zero_bytes(w ^ u64::from_ne_bytes([b':'; 8]))
}

/// The mask of the bytes of a word up to and including byte `n` (0 to 7):
/// a name's last bytes and its `:`.
#[inline]
const fn through(n: usize) -> u64 {
    u64::MAX >> (56 - 8 * n)
}

/// The slot's name when `diff`, the line against its words, is zero;
/// else `Other`.
#[inline]
fn known(slot: &Slot, diff: u64) -> HeaderName {
    if diff == 0 {
        slot.name
    } else {
        HeaderName::Other
    }
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
    /// without allocating.
    #[inline]
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        // `classify` expects a token (what the parser hands it); anything
        // else is not a known name.
        if crate::text::is_token(name) {
            HeaderName::classify(name, name.len())
        } else {
            HeaderName::Other
        }
    }

    /// Classifies the token `line[..len]` (RFC 3261 `token` characters
    /// only) in any case; `line` may go on past the name (the parser passes
    /// the header line, so the comparison can read whole words). The length
    /// and the first letter pick one candidate (a second letter splits the
    /// few pairs that share both), then one case-insensitive comparison
    /// confirms it: no lower-casing copy and no walk through every name.
    pub(crate) fn classify(line: &[u8], len: usize) -> HeaderName {
        if len > 24 {
            return HeaderName::Other;
        }
        let w = words(line);
        let guess = HeaderName::guess(&line[..len], w[0]);
        // A compact letter needs no confirmation.
        if len == 1 || guess == HeaderName::Other || spells(&w, len, guess) {
            guess
        } else {
            HeaderName::Other
        }
    }

    /// The header name at `b[pos..]`, the start of a header line, when a
    /// `:` follows it at once (the usual shape): the name and its length.
    /// `None` for anything else (no `:` in the first 24 bytes, SP before
    /// it, a non-token byte, fewer than 16 bytes left...), which the parser
    /// then reads the long way, with the same result.
    #[inline]
    pub(crate) fn at_line_start(b: &[u8], pos: usize) -> Option<(HeaderName, usize)> {
        // The first ':' in 16 bytes at once (most names end there), else
        // in the word after them (the longest known name has 20 bytes;
        // longer names take the long way). Fewer than 16 bytes left: the
        // long way too.
        let block = b.get(pos..)?.first_chunk::<16>()?;
        let (w0, w1) = block.split_at(8);
        let w0 = u64::from_le_bytes(w0.try_into().unwrap_or_default());
        let w1 = u64::from_le_bytes(w1.try_into().unwrap_or_default());
        let len = match crate::ascii::eq_mask16(block, b':') {
            0 => {
                let c = colon_bytes(word_at(b, pos + 16)?);
                if c == 0 {
                    return None;
                }
                16 + c.trailing_zeros() as usize / 8
            }
            m => m.trailing_zeros() as usize,
        };
        // The usual lengths first: one word (3 to 7 bytes), then longer.
        let name = if (3..8).contains(&len) {
            // The name and its `:`, as `short_key` (`:` | 0x20 is `:`).
            let m = through(len);
            let slot = &SLOTS[short_hash((w0 | 0x2020_2020_2020_2020) & m)];
            let want = &slot.words;
            known(slot, ((w0 | want.case[0]) ^ want.lower[0]) & m)
        } else if len >= 8 {
            // The words up to and with the `:`, as `long_key` reads them.
            let w2 = if len < 16 { 0 } else { word_at(b, pos + 16)? };
            let slot = &SLOTS[long_hash(long_key([w0, w1, w2], len))];
            let want = &slot.words;
            let d0 = (w0 | want.case[0]) ^ want.lower[0];
            let d1 = (w1 | want.case[1]) ^ want.lower[1];
            let diff = if len < 16 {
                d0 | (d1 & through(len - 8))
            } else {
                d0 | d1 | (((w2 | want.case[2]) ^ want.lower[2]) & through(len - 16))
            };
            known(slot, diff)
        } else {
            match len {
                0 => return None,
                1 => HeaderName::from_compact((w0 as u8).to_ascii_lowercase()),
                // `To`, the one known name of two letters.
                _ if (w0 | 0x2020) & 0xffff == u64::from(u16::from_le_bytes(*b"to")) => {
                    HeaderName::To
                }
                _ => HeaderName::Other,
            }
        };
        if name != HeaderName::Other {
            // The spelling of a known name is a token, so nothing else is
            // needed to know the line starts well.
            return Some((name, len));
        }
        // An unknown name: it must be a token.
        b[pos..pos + len]
            .iter()
            .all(|&c| is_token_char(c))
            .then_some((HeaderName::Other, len))
    }

    /// The one known name `name` (at most 24 bytes, the first word of it
    /// in `w0`) could be: a compact letter is certain, a longer candidate
    /// must be confirmed with [`spells`]. `Other` when none.
    #[inline]
    fn guess(name: &[u8], w0: u64) -> HeaderName {
        match name.len() {
            0 => HeaderName::Other,
            1 => HeaderName::from_compact(name[0].to_ascii_lowercase()),
            len => {
                let h = if len > 23 {
                    // Longer than any known name.
                    return HeaderName::Other;
                } else if len >= 8 {
                    long_hash(long_key(colon_words(name), len))
                } else if len >= 3 {
                    short_hash(short_key(w0, len))
                } else {
                    name_hash(w0, name[len - 1], len)
                };
                let slot = BY_HASH[h];
                if slot != EMPTY && usize::from(NAME_LEN[usize::from(slot)]) == len {
                    HeaderName::ALL[usize::from(slot)]
                } else {
                    HeaderName::Other
                }
            }
        }
    }

    /// The header of a compact form letter (lower case).
    fn from_compact(c: u8) -> HeaderName {
        match c {
            b'a' => HeaderName::AcceptContact,
            b'b' => HeaderName::ReferredBy,
            b'c' => HeaderName::ContentType,
            b'd' => HeaderName::RequestDisposition,
            b'e' => HeaderName::ContentEncoding,
            b'f' => HeaderName::From,
            b'i' => HeaderName::CallId,
            b'j' => HeaderName::RejectContact,
            b'k' => HeaderName::Supported,
            b'l' => HeaderName::ContentLength,
            b'm' => HeaderName::Contact,
            b'n' => HeaderName::IdentityInfo,
            b'o' => HeaderName::Event,
            b'r' => HeaderName::ReferTo,
            b's' => HeaderName::Subject,
            b't' => HeaderName::To,
            b'u' => HeaderName::AllowEvents,
            b'v' => HeaderName::Via,
            b'x' => HeaderName::SessionExpires,
            b'y' => HeaderName::Identity,
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

    /// The classification of a header line's start (the parser's fast
    /// path) agrees with [`HeaderName::from_bytes`] for every known name in
    /// three cases, for every one-byte change of it, and for one byte more
    /// or less.
    #[test]
    fn line_start_classifies_as_from_bytes() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for h in HeaderName::ALL {
            let n = h.as_str();
            for v in [
                n.to_string(),
                n.to_ascii_lowercase(),
                n.to_ascii_uppercase(),
            ] {
                let v = v.into_bytes();
                for i in 0..v.len() {
                    for c in [
                        b'-',
                        b'\r',
                        b' ',
                        b'x',
                        b'0',
                        v[i] ^ 0x20,
                        v[i] ^ 0x01,
                        0x80,
                    ] {
                        let mut m = v.clone();
                        m[i] = c;
                        names.push(m);
                    }
                }
                names.push(v[..v.len() - 1].to_vec());
                names.push([&v[..], b"s"].concat());
                names.push(v);
            }
            if let Some(c) = h.compact() {
                names.push(c.as_bytes().to_vec());
                names.push(c.to_ascii_uppercase().into_bytes());
            }
        }
        for c in 0..=255u8 {
            names.push(vec![c]);
            names.push(vec![b't', c]);
            names.push(vec![c, b'o']);
        }
        for n in names {
            if n.contains(&b':') {
                continue;
            }
            let line = [&n[..], b": value\r\n\r\n.................."].concat();
            let want = crate::text::is_token(&n).then(|| (HeaderName::from_bytes(&n), n.len()));
            let want = want.filter(|(_, len)| *len <= 23 && *len > 0);
            assert_eq!(
                HeaderName::at_line_start(&line, 0),
                want,
                "{:?}",
                String::from_utf8_lossy(&n)
            );
        }
    }

    /// The earlier way to pick a candidate, kept to check the hash
    /// against: the length and the first letter (or two).
    /// The one known name `name` (a token in any case) could be, from its
    /// length and first letter (a second letter splits the few pairs that
    /// share both); `Other` when none. Only a compact letter is certain:
    /// a longer candidate must be confirmed with [`spells`].
    fn guess_by_letters(n: &[u8]) -> HeaderName {
        use HeaderName as H;
        let Some(&first) = n.first() else {
            return H::Other;
        };
        // Lower-cased byte at `i` (callers index inside the length matched).
        let at = |i: usize| n[i].to_ascii_lowercase();
        match (n.len(), first.to_ascii_lowercase()) {
            (1, c) => H::from_compact(c),
            (2, b't') => H::To,
            (3, b'v') => H::Via,
            (4, b'c') => H::CSeq,
            (4, b'd') => H::Date,
            (4, b'f') => H::From,
            (4, b'p') => H::Path,
            (4, b'r') if at(1) == b'a' => H::RAck,
            (4, b'r') => H::RSeq,
            (5, b'a') => H::Allow,
            (5, b'e') => H::Event,
            (5, b'r') => H::Route,
            (6, b'a') => H::Accept,
            (6, b'm') => H::MinSe,
            (6, b'r') => H::Reason,
            (6, b's') => H::Server,
            (7, b'c') if at(1) == b'a' => H::CallId,
            (7, b'c') => H::Contact,
            (7, b'e') => H::Expires,
            (7, b'p') => H::Privacy,
            (7, b'r') => H::Require,
            (7, b's') => H::Subject,
            (7, b'w') => H::Warning,
            (8, b'i') => H::Identity,
            (8, b'p') => H::Priority,
            (8, b'r') if at(2) == b'f' => H::ReferTo,
            (8, b'r') => H::ReplyTo,
            (8, b's') => H::SipEtag,
            (9, b'c') => H::CallInfo,
            (9, b's') => H::Supported,
            (9, b't') => H::Timestamp,
            (10, b'a') => H::AlertInfo,
            (10, b'e') => H::ErrorInfo,
            (10, b'u') => H::UserAgent,
            (11, b'g') => H::Geolocation,
            (11, b'i') => H::InReplyTo,
            (11, b'm') => H::MinExpires,
            (11, b'r') if at(2) == b'f' => H::ReferredBy,
            (11, b'r') => H::RetryAfter,
            (11, b'u') => H::Unsupported,
            (12, b'a') => H::AllowEvents,
            (12, b'c') => H::ContentType,
            (12, b'm') if at(1) == b'a' => H::MaxForwards,
            (12, b'm') => H::MimeVersion,
            (12, b'o') => H::Organization,
            (12, b'r') => H::RecordRoute,
            (12, b's') => H::SipIfMatch,
            (13, b'a') => H::Authorization,
            (13, b'i') => H::IdentityInfo,
            (13, b'p') => H::ProxyRequire,
            (13, b's') => H::ServiceRoute,
            (14, b'a') => H::AcceptContact,
            (14, b'c') => H::ContentLength,
            (14, b'r') => H::RejectContact,
            (15, b'a') if at(7) == b'e' => H::AcceptEncoding,
            (15, b'a') => H::AcceptLanguage,
            (15, b'r') => H::RemotePartyId,
            (15, b's') => H::SessionExpires,
            (16, b'c') if at(8) == b'e' => H::ContentEncoding,
            (16, b'c') => H::ContentLanguage,
            (16, b'w') => H::WwwAuthenticate,
            (18, b'p') => H::ProxyAuthenticate,
            (18, b's') => H::SubscriptionState,
            (19, b'a') => H::AuthenticationInfo,
            (19, b'c') => H::ContentDisposition,
            (19, b'g') => H::GeolocationRouting,
            (19, b'p') if at(1) == b'-' => H::PAssertedIdentity,
            (19, b'p') => H::ProxyAuthorization,
            (19, b'r') => H::RequestDisposition,
            (20, b'p') => H::PPreferredIdentity,
            _ => H::Other,
        }
    }

    #[test]
    fn hash_picks_what_the_letters_pick() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for h in HeaderName::ALL {
            let n = h.as_str().as_bytes();
            names.push(n.to_vec());
            names.push(n.to_ascii_uppercase());
            for i in 0..n.len() {
                let mut m = n.to_vec();
                m[i] ^= 0x01;
                names.push(m);
            }
        }
        for n in names.iter().filter(|n| n.len() > 1) {
            // Either way the candidate is confirmed by `spells`; the names
            // confirmed must be the same.
            let confirmed = |h: HeaderName| {
                if h != HeaderName::Other && spells(&words(n), n.len(), h) {
                    h
                } else {
                    HeaderName::Other
                }
            };
            let by_hash = confirmed(HeaderName::guess(n, words(n)[0]));
            let by_letters = confirmed(guess_by_letters(n));
            assert_eq!(by_hash, by_letters, "{}", String::from_utf8_lossy(n));
        }
    }

    #[test]
    fn near_misses_are_other() {
        // Every known name with one byte changed (same length, so the same
        // candidate is picked) must not classify as that name.
        for h in HeaderName::ALL {
            let name = h.as_str().as_bytes();
            for i in 0..name.len() {
                for c in [b'x', b'-', b'0', b'@', name[i] ^ 0x01] {
                    if c.eq_ignore_ascii_case(&name[i]) {
                        continue;
                    }
                    let mut m = name.to_vec();
                    m[i] = c;
                    assert_ne!(
                        HeaderName::from_bytes(&m),
                        *h,
                        "{}",
                        String::from_utf8_lossy(&m)
                    );
                }
            }
            let mut longer = name.to_vec();
            longer.push(b'x');
            assert_ne!(HeaderName::from_bytes(&longer), *h);
        }
    }
}
