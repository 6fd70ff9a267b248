//! Calling identity and privacy (C19; Genesys spec 2.11).
//!
//! Inbound, who is calling is read from P-Asserted-Identity (RFC 3325)
//! first, then Remote-Party-ID (draft-ietf-sip-privacy-04, `party=calling`
//! or no `party`), then From. Privacy is the union of every request in the
//! message:
//!
//! - `Privacy: id` (RFC 3325 section 9.3) and `Privacy: user` (RFC 3323
//!   section 5.3, user-level privacy: the From is to be anonymized) withhold
//!   the name and the number. `header` (Via, Contact) and `session` (media)
//!   do not concern the calling identity; `none` and `critical` add nothing.
//! - RPID `privacy=full` withholds both, `name` the name, `uri` the number,
//!   `off` nothing (a quoted list of them is read too).
//! - A From (or an asserted address) whose display name or user is
//!   `anonymous`, or whose host is `anonymous.invalid`, withholds both.
//!
//! Outbound, a trunk's `identity` mode ([`IdentityMode`]) says how the
//! identity is presented ([`outbound_headers`]): a public caller in From
//! (display name and number) plus P-Asserted-Identity (`pai`) or
//! Remote-Party-ID `;party=calling;screen=yes;privacy=off` (`rpid`) or
//! nothing more (`from`); a private caller with P-Asserted-Identity and
//! `Privacy: id` (`pai`) or Remote-Party-ID `;screen=yes;privacy=full`
//! (`rpid`), and in every mode From `"Anonymous"
//! <sip:anonymous@anonymous.invalid>` (RFC 3323 section 4.1.1.3: the
//! hostname `anonymous.invalid` for anonymous URIs) and a Contact whose
//! display name is `Anonymous` and user `anonymous` (the host stays
//! Locus's own so the dialog still routes). The number never appears in
//! From or Contact of a private caller.
//!
//! Pure: no IO.

use serde::Deserialize;
use sip_core::{HeaderName, NameAddr, Request, Uri};

/// The From of a private or unknown caller (RFC 3323 section 4.1.1.3).
pub const ANONYMOUS_FROM: &str = "\"Anonymous\" <sip:anonymous@anonymous.invalid>";

/// The user part (and display name, capitalized) of an anonymous caller.
pub const ANONYMOUS_USER: &str = "anonymous";

/// A trunk's `identity` key: how the calling identity is sent to it (C19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityMode {
    /// P-Asserted-Identity (RFC 3325), with `Privacy: id` for a private
    /// caller (the default; Genesys spec 2.11.1, the preferred method).
    #[default]
    Pai,
    /// Remote-Party-ID (draft-ietf-sip-privacy-04): `privacy=off` or, for a
    /// private caller, `screen=yes;privacy=full`.
    Rpid,
    /// The From header only.
    From,
}

/// Where a calling identity was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// P-Asserted-Identity.
    Pai,
    /// Remote-Party-ID with `party=calling` (or without `party`).
    Rpid,
    /// From.
    From,
    /// Set by [`CallingIdentity::with_number`] (an ELIN, E6).
    Override,
}

/// Which parts of the identity the caller asked to withhold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Withheld {
    /// The display name.
    pub name: bool,
    /// The number (the URI).
    pub number: bool,
}

/// Who is calling, as read from an INVITE (C19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingIdentity {
    /// The number (a tel URI's number, or a SIP URI's user without its
    /// `;` parameters, unescaped), or the user name for a non-numeric user;
    /// `None` when no source named one (an anonymous caller).
    pub number_or_user: Option<String>,
    /// The display name, unquoted; never `Anonymous`.
    pub display_name: Option<String>,
    /// The URI the number was read from, as written.
    pub uri: Option<String>,
    /// The caller asked that the number be withheld: From and Contact go
    /// out anonymous. Always equal to `withheld.number`.
    pub private: bool,
    /// What exactly is withheld (RPID `privacy=name` withholds the name
    /// only).
    pub withheld: Withheld,
    /// Where the number was read.
    pub source: Source,
}

/// Whether an address stands for an anonymous caller.
fn is_anonymous(na: &NameAddr<'_>) -> bool {
    let name = na
        .display_name
        .as_deref()
        .is_some_and(|d| d.trim().eq_ignore_ascii_case(ANONYMOUS_USER));
    let uri = match &na.uri {
        Uri::Sip(s) => {
            s.user_unescaped()
                .is_some_and(|u| u.eq_ignore_ascii_case(ANONYMOUS_USER.as_bytes()))
                || s.host.to_string().eq_ignore_ascii_case("anonymous.invalid")
        }
        _ => false,
    };
    name || uri
}

/// The number or user an address carries: a tel URI's number without
/// visual separators, a SIP URI's user unescaped and cut at its first `;`
/// (`+15551234567;npdi`). `None` for an anonymous or user-less address.
fn user_of(na: &NameAddr<'_>) -> Option<String> {
    if is_anonymous(na) {
        return None;
    }
    let user = match &na.uri {
        Uri::Sip(s) => {
            let u = s.user_unescaped()?;
            let u = String::from_utf8_lossy(&u).into_owned();
            u.split(';').next().unwrap_or_default().to_owned()
        }
        Uri::Tel(t) => t.normalized_number(),
        Uri::Other { .. } => return None,
    };
    let user: String = user.chars().filter(|c| !c.is_control()).collect();
    (!user.is_empty()).then_some(user)
}

/// A display name worth keeping: not empty, not `anonymous`, no controls.
fn name_of(na: &NameAddr<'_>) -> Option<String> {
    let d = na.display_name.as_deref()?;
    let d: String = d.chars().filter(|c| !c.is_control()).collect();
    let d = d.trim();
    (!d.is_empty() && !d.eq_ignore_ascii_case(ANONYMOUS_USER)).then(|| d.to_owned())
}

/// The elements of an RPID `privacy` value: a token or a quoted list.
fn rpid_privacy(v: &str) -> Withheld {
    let v = sip_core::unquote(v);
    let mut w = Withheld::default();
    for e in v.split(',').map(str::trim) {
        if e.eq_ignore_ascii_case("full") {
            w.name = true;
            w.number = true;
        } else if e.eq_ignore_ascii_case("name") {
            w.name = true;
        } else if e.eq_ignore_ascii_case("uri") {
            w.number = true;
        }
    }
    w
}

impl CallingIdentity {
    /// Reads the calling identity of an INVITE (C19): P-Asserted-Identity,
    /// then Remote-Party-ID of the calling party, then From, and every
    /// privacy request (module docs). An unparseable header is skipped as
    /// if absent. The display name comes from the source of the number,
    /// else from From (carriers often assert the number alone).
    pub fn from_request(req: &Request) -> CallingIdentity {
        let mut withheld = Withheld::default();
        for p in req.privacy() {
            if p.eq_ignore_ascii_case("id") || p.eq_ignore_ascii_case("user") {
                withheld.name = true;
                withheld.number = true;
            }
        }
        let from = req.from();
        if from.as_ref().is_some_and(is_anonymous) {
            withheld.name = true;
            withheld.number = true;
        }
        let pai = req.p_asserted_identity().unwrap_or_default();
        let rpid: Vec<NameAddr<'_>> = req
            .remote_party_id()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.party().is_none_or(|p| p.eq_ignore_ascii_case("calling")))
            .map(|r| {
                if let Some(p) = r.privacy() {
                    let w = rpid_privacy(p);
                    withheld.name |= w.name;
                    withheld.number |= w.number;
                }
                r.addr
            })
            .collect();
        for na in pai.iter().chain(&rpid) {
            if is_anonymous(na) {
                withheld.name = true;
                withheld.number = true;
            }
        }
        let candidates = pai
            .iter()
            .map(|n| (n, Source::Pai))
            .chain(rpid.iter().map(|n| (n, Source::Rpid)))
            .chain(from.iter().map(|n| (n, Source::From)));
        let mut found = None;
        for (na, source) in candidates {
            if let Some(user) = user_of(na) {
                found = Some((na, user, source));
                break;
            }
        }
        let (number_or_user, uri, source, name) = match found {
            Some((na, user, source)) => (
                Some(user),
                Some({
                    // Sized up front: `to_string` grows from empty (issue 3).
                    use std::fmt::Write as _;
                    let mut out = String::with_capacity(128);
                    let _ = write!(out, "{}", na.uri);
                    out
                }),
                source,
                name_of(na).or_else(|| from.as_ref().and_then(name_of)),
            ),
            None => (None, None, Source::From, None),
        };
        CallingIdentity {
            number_or_user,
            display_name: name,
            uri,
            private: withheld.number,
            withheld,
            source,
        }
    }

    /// The same caller presented with another number: the ELIN of an
    /// emergency call goes out as From and P-Asserted-Identity (E6), so the
    /// number is no longer withheld (a withheld display name stays out).
    pub fn with_number(self, e164: &str) -> CallingIdentity {
        let display_name = if self.withheld.name {
            None
        } else {
            self.display_name
        };
        CallingIdentity {
            number_or_user: Some(e164.to_owned()),
            display_name,
            uri: None,
            private: false,
            withheld: Withheld::default(),
            source: Source::Override,
        }
    }
}

/// The identity headers of an outgoing INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundIdentity {
    /// The From value without tag (a name-addr).
    pub from: String,
    /// The user (`anonymous`) the Contact must carry, with display name
    /// `Anonymous`, for a private caller ([`OutboundIdentity::contact`]);
    /// `None`: the Contact is left as it is (Locus's, without user).
    pub contact_user: Option<String>,
    /// Headers to add: P-Asserted-Identity, Remote-Party-ID, Privacy.
    pub extra: Vec<(HeaderName, String)>,
}

impl OutboundIdentity {
    /// `contact` (Locus's own Contact, a name-addr) as this identity needs
    /// it: for a private caller, display name `Anonymous` and user
    /// `anonymous` at the same host, port and parameters; otherwise (or if
    /// `contact` does not parse as a SIP name-addr) unchanged.
    pub fn contact(&self, contact: &str) -> String {
        let Some(user) = &self.contact_user else {
            return contact.to_owned();
        };
        let Ok(mut na) = NameAddr::parse(contact) else {
            return contact.to_owned();
        };
        let Uri::Sip(s) = &mut na.uri else {
            return contact.to_owned();
        };
        s.user = Some(escape_user(user).into());
        s.password = None;
        na.display_name = Some("Anonymous".into());
        na.to_string()
    }
}

/// Escapes a user part: unreserved and user-unreserved characters are
/// kept, anything else becomes `%HH` (RFC 3261 section 25.1).
fn escape_user(u: &str) -> String {
    let mut out = String::with_capacity(u.len());
    for b in u.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The parts joined, in one exact allocation (`format!` costs its
/// machinery on every call: issue 3).
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// A quoted display name followed by a space, or nothing.
fn quoted(name: Option<&str>) -> String {
    match name {
        Some(n) => {
            let mut q = String::with_capacity(n.len() + 3);
            q.push('"');
            for c in n.chars().filter(|c| !c.is_control()) {
                if c == '"' || c == '\\' {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push_str("\" ");
            q
        }
        None => String::new(),
    }
}

/// The identity headers for a caller sent under `mode` (C19). `host` is
/// the host part of the URIs carrying the number (Genesys spec 2.7.2: the
/// carrier endpoint's address when sending to a carrier; IPv6 in brackets).
pub fn outbound_headers(id: &CallingIdentity, mode: IdentityMode, host: &str) -> OutboundIdentity {
    let addr = id
        .number_or_user
        .as_deref()
        .map(|u| concat(&["<sip:", &escape_user(u), "@", host, ">"]));
    // The name goes in asserted headers unless withheld on its own; a
    // private caller's headers carry it with the privacy request.
    let asserted_name = if id.private || !id.withheld.name {
        id.display_name.as_deref()
    } else {
        None
    };
    let mut extra = Vec::new();
    if let Some(addr) = &addr {
        let asserted = concat(&[&quoted(asserted_name), addr]);
        match mode {
            IdentityMode::Pai => extra.push((HeaderName::PAssertedIdentity, asserted)),
            IdentityMode::Rpid => {
                let privacy = if id.private {
                    "full"
                } else if id.withheld.name {
                    "name"
                } else {
                    "off"
                };
                extra.push((
                    HeaderName::RemotePartyId,
                    concat(&[&asserted, ";party=calling;screen=yes;privacy=", privacy]),
                ));
            }
            IdentityMode::From => {}
        }
    }
    if id.private && mode == IdentityMode::Pai {
        extra.push((HeaderName::Privacy, "id".to_owned()));
    }
    let (from, contact_user) = match (&addr, id.private) {
        (Some(addr), false) => {
            let name = if id.withheld.name {
                None
            } else {
                id.display_name.as_deref()
            };
            (concat(&[&quoted(name), addr]), None)
        }
        (_, true) => (ANONYMOUS_FROM.to_owned(), Some(ANONYMOUS_USER.to_owned())),
        (None, false) => (ANONYMOUS_FROM.to_owned(), None),
    };
    OutboundIdentity {
        from,
        contact_user,
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sip_core::Message;

    /// An INVITE from a carrier with `headers` (one per line) added.
    fn invite(from: &str, headers: &str) -> Request {
        let mut text = format!(
            "INVITE sip:+15551230000@192.0.2.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
             Max-Forwards: 70\r\n\
             From: {from};tag=f1\r\n\
             To: <sip:+15551230000@192.0.2.1>\r\n\
             Call-ID: c1@192.0.2.10\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:192.0.2.10:5060>\r\n"
        );
        for h in headers.lines().filter(|l| !l.trim().is_empty()) {
            text.push_str(h.trim());
            text.push_str("\r\n");
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match Message::parse_datagram(Bytes::from(text)).expect("parses") {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    fn header(o: &OutboundIdentity, h: HeaderName) -> Option<&str> {
        o.extra
            .iter()
            .find(|(n, _)| *n == h)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn c19_pai_preferred_over_rpid_and_from() {
        let req = invite(
            "\"From Name\" <sip:+15550000003@carrier.example>",
            "P-Asserted-Identity: \"Alice\" <sip:+15550000001@carrier.example;user=phone>
             P-Asserted-Identity: <tel:+1-555-000-0001>
             Remote-Party-ID: \"Bob\" <sip:+15550000002@carrier.example>;party=calling;screen=yes;privacy=off",
        );
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.source, Source::Pai);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000001"));
        assert_eq!(id.display_name.as_deref(), Some("Alice"));
        assert_eq!(
            id.uri.as_deref(),
            Some("sip:+15550000001@carrier.example;user=phone")
        );
        assert!(!id.private);
        // A tel PAI alone; the name comes from From when PAI has none.
        let req = invite(
            "\"From Name\" <sip:+15550000003@carrier.example>",
            "P-Asserted-Identity: <tel:+1-555-000-0004>",
        );
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.source, Source::Pai);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000004"));
        assert_eq!(id.display_name.as_deref(), Some("From Name"));
    }

    #[test]
    fn c19_rpid_used_without_pai() {
        let req = invite(
            "<sip:+15550000003@carrier.example>",
            "Remote-Party-ID: \"Callee\" <sip:+15550000009@carrier.example>;party=called
             Remote-Party-ID: \"Bob\" <sip:+15550000002@carrier.example>;party=calling;screen=yes;privacy=off",
        );
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.source, Source::Rpid);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000002"));
        assert_eq!(id.display_name.as_deref(), Some("Bob"));
        assert!(!id.private);
        // No party parameter: the calling party.
        let req = invite(
            "<sip:+15550000003@carrier.example>",
            "Remote-Party-ID: <sip:+15550000005@carrier.example>",
        );
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.source, Source::Rpid);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000005"));
    }

    #[test]
    fn c19_from_used_last() {
        let req = invite(
            "\"Carol\" <sip:+15550000003@carrier.example>",
            "Remote-Party-ID: <sip:+15550000009@carrier.example>;party=called",
        );
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.source, Source::From);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000003"));
        assert_eq!(id.display_name.as_deref(), Some("Carol"));
        assert!(!id.private);
        // A malformed PAI is skipped, as if absent.
        let req = invite(
            "<sip:alice@pbx.example>",
            "P-Asserted-Identity: <sip:broken",
        );
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.source, Source::From);
        assert_eq!(id.number_or_user.as_deref(), Some("alice"));
    }

    #[test]
    fn c19_privacy_id_inbound_marks_private() {
        let req = invite(
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "P-Asserted-Identity: \"Alice\" <sip:+15550000001@carrier.example>
             Privacy: id",
        );
        let id = CallingIdentity::from_request(&req);
        assert!(id.private);
        assert_eq!(
            id.withheld,
            Withheld {
                name: true,
                number: true
            }
        );
        assert_eq!(id.source, Source::Pai);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000001"));
        // `id` among other values, `user` alone: private too.
        for p in ["header;id", "user", "ID;critical"] {
            let req = invite(
                "<sip:+15550000003@carrier.example>",
                &format!("Privacy: {p}"),
            );
            assert!(CallingIdentity::from_request(&req).private, "{p}");
        }
        // `header`, `session` and `none` do not hide the identity.
        for p in ["header", "session", "none"] {
            let req = invite(
                "<sip:+15550000003@carrier.example>",
                &format!("Privacy: {p}"),
            );
            assert!(!CallingIdentity::from_request(&req).private, "{p}");
        }
        // An anonymous From alone: private, no number known.
        let id = CallingIdentity::from_request(&invite("<sip:anonymous@carrier.example>", ""));
        assert!(id.private);
        assert_eq!(id.number_or_user, None);
    }

    #[test]
    fn c19_rpid_privacy_full_inbound_marks_private() {
        let req = invite(
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "Remote-Party-ID: \"Bob\" <sip:+15550000002@carrier.example>;party=calling;screen=yes;privacy=full",
        );
        let id = CallingIdentity::from_request(&req);
        assert!(id.private);
        assert_eq!(id.source, Source::Rpid);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000002"));
        // privacy=name: the name only; privacy=uri: the number.
        let req = invite(
            "<sip:+15550000003@carrier.example>",
            "Remote-Party-ID: \"Bob\" <sip:+15550000002@carrier.example>;party=calling;privacy=name",
        );
        let id = CallingIdentity::from_request(&req);
        assert!(!id.private);
        assert_eq!(
            id.withheld,
            Withheld {
                name: true,
                number: false
            }
        );
        let out = outbound_headers(&id, IdentityMode::Pai, "192.0.2.20");
        assert_eq!(out.from, "<sip:+15550000002@192.0.2.20>");
        assert_eq!(
            header(&out, HeaderName::PAssertedIdentity),
            Some("<sip:+15550000002@192.0.2.20>")
        );
        let req = invite(
            "<sip:+15550000003@carrier.example>",
            "Remote-Party-ID: <sip:+15550000002@carrier.example>;party=calling;privacy=\"uri,name\"",
        );
        assert!(CallingIdentity::from_request(&req).private);
    }

    #[test]
    fn c19_outbound_private_pai_mode_sends_pai_privacy_id_and_anonymous_from() {
        let req = invite(
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "P-Asserted-Identity: \"Alice\" <sip:+15550000001@carrier.example>
             Privacy: id",
        );
        let id = CallingIdentity::from_request(&req);
        let out = outbound_headers(&id, IdentityMode::Pai, "192.0.2.20");
        assert_eq!(out.from, "\"Anonymous\" <sip:anonymous@anonymous.invalid>");
        assert_eq!(
            header(&out, HeaderName::PAssertedIdentity),
            Some("\"Alice\" <sip:+15550000001@192.0.2.20>")
        );
        assert_eq!(header(&out, HeaderName::Privacy), Some("id"));
        assert_eq!(header(&out, HeaderName::RemotePartyId), None);
        assert_eq!(out.contact_user.as_deref(), Some("anonymous"));
        let contact = out.contact("<sip:192.0.2.1:5060;transport=tcp>");
        assert_eq!(
            contact,
            "\"Anonymous\" <sip:anonymous@192.0.2.1:5060;transport=tcp>"
        );
        assert!(!out.from.contains("5550000001") && !contact.contains("5550000001"));
        // A private caller arriving with the number in From only: From
        // goes out anonymous all the same.
        let req = invite(
            "\"Alice\" <sip:+15550000001@carrier.example>",
            "Privacy: id",
        );
        let out = outbound_headers(
            &CallingIdentity::from_request(&req),
            IdentityMode::Pai,
            "192.0.2.20",
        );
        assert_eq!(out.from, ANONYMOUS_FROM);
        assert_eq!(
            header(&out, HeaderName::PAssertedIdentity),
            Some("\"Alice\" <sip:+15550000001@192.0.2.20>")
        );
        // Nothing known: anonymous From, no PAI to assert.
        let id = CallingIdentity::from_request(&invite(ANONYMOUS_FROM, ""));
        let out = outbound_headers(&id, IdentityMode::Pai, "192.0.2.20");
        assert_eq!(out.from, ANONYMOUS_FROM);
        assert_eq!(header(&out, HeaderName::PAssertedIdentity), None);
    }

    #[test]
    fn c19_outbound_private_rpid_mode_screen_yes_privacy_full() {
        let req = invite(
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "P-Asserted-Identity: <sip:+15550000001@carrier.example>
             Privacy: id",
        );
        let id = CallingIdentity::from_request(&req);
        let out = outbound_headers(&id, IdentityMode::Rpid, "[2001:db8::20]");
        assert_eq!(out.from, ANONYMOUS_FROM);
        assert_eq!(
            header(&out, HeaderName::RemotePartyId),
            Some("<sip:+15550000001@[2001:db8::20]>;party=calling;screen=yes;privacy=full")
        );
        assert_eq!(header(&out, HeaderName::PAssertedIdentity), None);
        assert_eq!(header(&out, HeaderName::Privacy), None);
        assert_eq!(out.contact_user.as_deref(), Some("anonymous"));
        // Public in RPID mode: privacy=off, From with name and number.
        let req = invite("\"Dave\" <sip:+15550000007@carrier.example>", "");
        let out = outbound_headers(
            &CallingIdentity::from_request(&req),
            IdentityMode::Rpid,
            "192.0.2.20",
        );
        assert_eq!(out.from, "\"Dave\" <sip:+15550000007@192.0.2.20>");
        assert_eq!(
            header(&out, HeaderName::RemotePartyId),
            Some("\"Dave\" <sip:+15550000007@192.0.2.20>;party=calling;screen=yes;privacy=off")
        );
        // Every rendering parses back.
        for (_, v) in &out.extra {
            NameAddr::parse(v).expect("name-addr");
        }
        NameAddr::parse(&out.from).expect("name-addr");
    }

    #[test]
    fn c19_outbound_public_from_mode() {
        let req = invite(
            "\"Eve \\\"E\\\"\" <sip:+15550000008@carrier.example>",
            "P-Asserted-Identity: <sip:+15550000001@carrier.example>",
        );
        let id = CallingIdentity::from_request(&req);
        let out = outbound_headers(&id, IdentityMode::From, "192.0.2.20");
        assert_eq!(out.from, "\"Eve \\\"E\\\"\" <sip:+15550000001@192.0.2.20>");
        assert!(out.extra.is_empty());
        assert_eq!(out.contact_user, None);
        assert_eq!(out.contact("<sip:192.0.2.1:5060>"), "<sip:192.0.2.1:5060>");
        let back = NameAddr::parse(&out.from).unwrap();
        assert_eq!(back.display_name.as_deref(), Some("Eve \"E\""));
        // Public in PAI mode: PAI, no Privacy.
        let out = outbound_headers(&id, IdentityMode::Pai, "192.0.2.20");
        assert_eq!(
            header(&out, HeaderName::PAssertedIdentity),
            Some("\"Eve \\\"E\\\"\" <sip:+15550000001@192.0.2.20>")
        );
        assert_eq!(header(&out, HeaderName::Privacy), None);
    }

    #[test]
    fn e6_with_number_overrides_and_is_public() {
        let req = invite(
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "P-Asserted-Identity: \"Alice\" <sip:+15550000001@carrier.example>
             Privacy: id",
        );
        let id = CallingIdentity::from_request(&req).with_number("+15557770000");
        assert_eq!(id.source, Source::Override);
        assert!(!id.private);
        assert_eq!(id.display_name, None);
        let out = outbound_headers(&id, IdentityMode::Pai, "192.0.2.20");
        assert_eq!(out.from, "<sip:+15557770000@192.0.2.20>");
        assert_eq!(
            header(&out, HeaderName::PAssertedIdentity),
            Some("<sip:+15557770000@192.0.2.20>")
        );
        assert_eq!(header(&out, HeaderName::Privacy), None);
    }

    #[test]
    fn user_escaped_and_params_cut() {
        let req = invite(
            "<sip:+15550000001;npdi;rn=+15550000000@carrier.example>",
            "",
        );
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.number_or_user.as_deref(), Some("+15550000001"));
        let req = invite("<sip:j%20doe@pbx.example>", "");
        let id = CallingIdentity::from_request(&req);
        assert_eq!(id.number_or_user.as_deref(), Some("j doe"));
        let out = outbound_headers(&id, IdentityMode::From, "192.0.2.20");
        assert_eq!(out.from, "<sip:j%20doe@192.0.2.20>");
    }
}
