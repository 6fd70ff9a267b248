//! RFC 3261 section 12 dialogs, and the requests built from them.
//!
//! A [`Dialog`] is the state one side of a call keeps: Call-ID, tags, CSeq
//! spaces, URIs, the remote target (from Contact) and the route set (from
//! Record-Route: in order on the UAS side, reversed on the UAC side). It
//! builds in-dialog requests with loose routing (RFC 3261 section 12.2.1.1,
//! C16): BYE, re-INVITE, ACK for a 2xx (end to end, never by the
//! transaction). CANCEL and the ACK for a non-2xx are not in-dialog: they
//! are copies of the INVITE's fields ([`cancel_for`], [`ack_for_failure`],
//! RFC 3261 sections 9.1 and 17.1.1.3).
//!
//! Pure: no IO, no clock. Every request gets a fresh Via branch
//! (`sip_core::new_branch`), `Max-Forwards: 70` and the server's Contact.

use std::borrow::Cow;
use std::net::SocketAddr;

use sip_core::addr_text::push_socket_addr;
use sip_core::{new_branch, HeaderName, Method, NameAddr, Request, RequestBuilder, Response, Uri};
use sip_transport::Transport;

/// Max-Forwards of every request Locus originates (RFC 3261 section 8.1.1.6).
pub const MAX_FORWARDS: u32 = 70;

/// [`MAX_FORWARDS`] as written: an integer through `core::fmt` cost a few
/// hundred instructions on every request (issue 3).
const MAX_FORWARDS_TEXT: &str = "70";

/// Where Locus speaks from on one leg: its Via sent-by and its Contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// The transport of the leg.
    pub transport: Transport,
    /// The server's listening address for that transport.
    pub addr: SocketAddr,
}

impl Local {
    /// A Via value with this branch. `rport` asks the peer to answer to the
    /// port we sent from (RFC 3581), which is the listening port anyway.
    pub fn via(&self, branch: &str) -> String {
        // Written piece by piece into a sized buffer: a Via on every
        // request Locus sends.
        let mut v = String::with_capacity(64 + branch.len());
        v.push_str("SIP/2.0/");
        v.push_str(self.transport.as_via_str());
        v.push(' ');
        push_socket_addr(&mut v, self.addr);
        v.push_str(";branch=");
        v.push_str(branch);
        v.push_str(";rport");
        v
    }

    /// The server's Contact (a name-addr): where in-dialog requests reach it.
    pub fn contact(&self) -> String {
        let scheme = if self.transport == Transport::Tls {
            "sips"
        } else {
            "sip"
        };
        let mut c = String::with_capacity(72);
        c.push('<');
        c.push_str(scheme);
        c.push(':');
        push_socket_addr(&mut c, self.addr);
        c.push_str(match self.transport {
            Transport::Udp => ">",
            Transport::Tcp => ";transport=tcp>",
            Transport::Tls => ";transport=tls>",
        });
        c
    }
}

/// A request built by a dialog: the builder (the caller may add a body or
/// headers, then choose the header form), its Via branch and the URI of the
/// next hop (the first Route, else the Request-URI).
#[derive(Debug, Clone)]
pub struct DialogRequest {
    /// The request, complete but for body and optional headers.
    pub builder: RequestBuilder,
    /// The branch of its Via: the client transaction key.
    pub branch: String,
    /// Where it goes first (RFC 3261 section 8.1.2: the first Route when
    /// there is one, else the Request-URI).
    pub next_hop: String,
    /// Its CSeq number.
    pub cseq: u32,
}

/// One side's view of a dialog (RFC 3261 section 12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    call_id: String,
    local_tag: String,
    /// Empty until the peer's tag is known (UAC before a tagged response).
    remote_tag: String,
    local_seq: u32,
    remote_seq: Option<u32>,
    /// name-addr text without tag.
    local_uri: String,
    /// name-addr text without tag.
    remote_uri: String,
    remote_target: String,
    /// name-addr texts, in the order Route headers are written.
    route_set: Vec<String>,
    secure: bool,
}

/// A name-addr without its `tag` parameter, as text, written into one
/// buffer sized up front (issue 3).
fn without_tag(na: &NameAddr<'_>) -> String {
    let display = na.display_name.as_deref().unwrap_or("");
    let mut out = String::with_capacity(2 * display.len() + na.params.len() + 128);
    if let Some(d) = &na.display_name {
        out.push('"');
        for c in d.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("\" ");
    }
    // Always in angle brackets: a URI with parameters must be (RFC 3261 20.10).
    out.push('<');
    na.uri.push_to(&mut out);
    out.push('>');
    let kept = na.params.split(';').map(str::trim).filter(|p| {
        !p.is_empty()
            && !p
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("tag")
    });
    for p in kept {
        out.push(';');
        out.push_str(p);
    }
    out
}

fn with_tag(uri: &str, tag: &str) -> String {
    if tag.is_empty() {
        uri.to_owned()
    } else {
        let mut s = String::with_capacity(uri.len() + 5 + tag.len());
        s.push_str(uri);
        s.push_str(";tag=");
        s.push_str(tag);
        s
    }
}

/// The first Contact URI of a message, as text.
fn contact_uri(contacts: Result<sip_core::Contacts<'_>, sip_core::ParseError>) -> Option<String> {
    match contacts.ok()? {
        sip_core::Contacts::List(l) => l.first().map(|c| {
            // Sized up front and written without `core::fmt` (issue 3).
            let mut out = String::with_capacity(128);
            c.uri.push_to(&mut out);
            out
        }),
        sip_core::Contacts::Star => None,
    }
}

/// Whether a route entry (name-addr text) is a loose router (`;lr`).
fn is_loose(route: &str) -> bool {
    NameAddr::parse(route)
        .ok()
        .and_then(|na| na.uri.as_sip().map(sip_core::SipUri::lr))
        .unwrap_or(false)
}

/// The URI inside a route entry.
fn route_uri(route: &str) -> String {
    NameAddr::parse(route)
        .map(|na| na.uri.to_string())
        .unwrap_or_else(|_| route.trim_matches(['<', '>', ' ']).to_owned())
}

impl Dialog {
    // ---- creating ----

    /// The UAS side of a dialog created by `req` (RFC 3261 section 12.1.1):
    /// route set from Record-Route in order, remote target from Contact.
    /// `None` when the request lacks a From tag, Call-ID, CSeq or To.
    pub fn uas(req: &Request, local_tag: &str) -> Option<Dialog> {
        let from = req.from()?;
        let to = req.to()?;
        let route_set = req
            .record_routes()
            .ok()?
            .iter()
            .map(without_params_kept)
            .collect();
        let secure = matches!(req.uri(), Uri::Sip(ref s) if s.secure);
        Some(Dialog {
            call_id: req.call_id()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag()?.to_owned(),
            local_seq: 0,
            remote_seq: Some(req.cseq()?.seq),
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            remote_target: contact_uri(req.contacts()).unwrap_or_else(|| from.uri.to_string()),
            route_set,
            secure,
        })
    }

    /// The UAC side of a dialog about to be created by an INVITE we send
    /// (RFC 3261 section 12.1.2, before any response): `target` is the
    /// Request-URI; `local_uri`/`remote_uri` are name-addr texts without
    /// tag; `seq` is the INVITE's CSeq number.
    pub fn uac(
        call_id: &str,
        local_tag: &str,
        local_uri: &str,
        remote_uri: &str,
        target: &str,
        seq: u32,
    ) -> Dialog {
        Dialog {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: String::new(),
            local_seq: seq,
            remote_seq: None,
            local_uri: local_uri.to_owned(),
            remote_uri: remote_uri.to_owned(),
            remote_target: target.to_owned(),
            route_set: Vec::new(),
            secure: target.starts_with("sips:"),
        }
    }

    // ---- getters ----

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The peer's tag; empty until known.
    pub fn remote_tag(&self) -> &str {
        &self.remote_tag
    }

    /// The last CSeq number we used.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The last CSeq number the peer used, once it sent a request.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Our URI (name-addr, no tag).
    pub fn local_uri(&self) -> &str {
        &self.local_uri
    }

    /// The peer's URI (name-addr, no tag).
    pub fn remote_uri(&self) -> &str {
        &self.remote_uri
    }

    /// The peer's Contact URI: the Request-URI of in-dialog requests.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, as Route headers will list it.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// Whether the dialog was created over `sips:`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    // ---- updating ----

    /// UAC: a 1xx (with To tag) or 2xx to our INVITE sets the remote tag,
    /// the route set (Record-Route reversed) and the remote target (RFC 3261
    /// sections 12.1.2 and 13.2.2.4: recomputed on the 2xx).
    pub fn update_from_response(&mut self, resp: &Response) {
        if let Some(tag) = resp.to_tag() {
            self.remote_tag = tag.to_owned();
        }
        if let Ok(rr) = resp.record_routes() {
            self.route_set = rr.iter().rev().map(without_params_kept).collect();
        }
        if let Some(c) = contact_uri(resp.contacts()) {
            self.remote_target = c;
        }
    }

    /// A target refresh (re-INVITE or its 2xx) carried this Contact.
    pub fn refresh_target(
        &mut self,
        contacts: Result<sip_core::Contacts<'_>, sip_core::ParseError>,
    ) {
        if let Some(c) = contact_uri(contacts) {
            self.remote_target = c;
        }
    }

    /// Checks and records the CSeq of a request the peer sent in the dialog
    /// (RFC 3261 section 12.2.2): `false` when it is lower than the last one
    /// (the request is answered 500). ACK and CANCEL reuse their INVITE's
    /// number and are not checked.
    pub fn accept_remote_seq(&mut self, seq: u32) -> bool {
        match self.remote_seq {
            Some(last) if seq < last => false,
            _ => {
                self.remote_seq = Some(seq);
                true
            }
        }
    }

    /// Whether a request with these tags belongs to this dialog (our tag in
    /// To, theirs in From).
    pub fn matches(&self, call_id: &str, to_tag: &str, from_tag: &str) -> bool {
        self.call_id == call_id && self.local_tag == to_tag && self.remote_tag == from_tag
    }

    // ---- building ----

    /// A new in-dialog request (BYE, re-INVITE, INFO, NOTIFY, REFER...): the
    /// local CSeq goes up by one. Not for ACK ([`Dialog::ack`]) or CANCEL
    /// ([`cancel_for`]).
    pub fn request(&mut self, method: Method, local: &Local) -> DialogRequest {
        self.local_seq = self.local_seq.wrapping_add(1).max(1);
        self.build(method, self.local_seq, local)
    }

    /// The ACK for a 2xx to the INVITE with CSeq number `seq` (RFC 3261
    /// section 13.2.2.4): built by the dialog, with a new branch.
    pub fn ack(&self, seq: u32, local: &Local) -> DialogRequest {
        self.build(Method::Ack, seq, local)
    }

    fn build(&self, method: Method, seq: u32, local: &Local) -> DialogRequest {
        // RFC 3261 section 12.2.1.1: loose routing when the first route has
        // lr (or there is none); strict routing otherwise.
        // RFC 3261 section 8.1.2: the next hop is the first Route when it is
        // a loose router, else the Request-URI (a strict router's address).
        // The usual (loose) cases borrow the dialog's target and routes.
        let strict_routes: Vec<String>;
        let (ruri, routes, next_hop): (Cow<'_, str>, &[String], String) =
            match self.route_set.first() {
                None => (
                    Cow::Borrowed(&self.remote_target),
                    &[],
                    self.remote_target.clone(),
                ),
                Some(first) if is_loose(first) => (
                    Cow::Borrowed(&self.remote_target),
                    &self.route_set,
                    route_uri(first),
                ),
                Some(first) => {
                    let mut rest: Vec<String> = self.route_set[1..].to_vec();
                    rest.push(format!("<{}>", self.remote_target));
                    strict_routes = rest;
                    (
                        Cow::Owned(route_uri(first)),
                        &strict_routes,
                        route_uri(first),
                    )
                }
            };
        let branch = new_branch();
        let mut b = RequestBuilder::with_uri(method.clone(), ruri.into_owned())
            .raw_header("Via", local.via(&branch))
            .raw_header("Max-Forwards", MAX_FORWARDS_TEXT);
        for r in routes {
            b = b.raw_header("Route", r);
        }
        b = b
            .raw_header("From", with_tag(&self.local_uri, &self.local_tag))
            .raw_header("To", with_tag(&self.remote_uri, &self.remote_tag))
            .raw_header("Call-ID", &self.call_id)
            .cseq(seq);
        if matches!(
            method,
            Method::Invite | Method::Refer | Method::Notify | Method::Update | Method::Subscribe
        ) {
            b = b.raw_header("Contact", local.contact());
        }
        DialogRequest {
            builder: b,
            branch,
            next_hop,
            cseq: seq,
        }
    }
}

/// A Record-Route entry as a Route value: kept as written (its parameters
/// such as `lr` matter), only trimmed.
fn without_params_kept(na: &NameAddr<'_>) -> String {
    na.to_string()
}

/// The CANCEL for an INVITE we sent (RFC 3261 section 9.1): same
/// Request-URI, Call-ID, From, To and CSeq number, only the top Via (same
/// branch, so it matches the INVITE's server transaction), the INVITE's
/// Route headers. `None` when the INVITE lacks one of them.
pub fn cancel_for(invite: &Request) -> Option<RequestBuilder> {
    let mut b = RequestBuilder::new(Method::Cancel, invite.uri_str())
        .raw_header("Via", invite.top_via_raw()?)
        .raw_header("Max-Forwards", MAX_FORWARDS_TEXT);
    for r in invite.header_values(HeaderName::Route) {
        b = b.raw_header("Route", r);
    }
    Some(
        b.raw_header("From", invite.first(HeaderName::From)?)
            .raw_header("To", invite.first(HeaderName::To)?)
            .raw_header("Call-ID", invite.call_id()?)
            .cseq(invite.cseq()?.seq),
    )
}

/// The ACK for a 300-699 to an INVITE we sent (RFC 3261 section 17.1.1.3):
/// the INVITE's Request-URI, top Via, From, Call-ID and Route headers, the
/// response's To (with its tag), CSeq number of the INVITE.
pub fn ack_for_failure(invite: &Request, resp: &Response) -> Option<RequestBuilder> {
    let mut b = RequestBuilder::new(Method::Ack, invite.uri_str())
        .raw_header("Via", invite.top_via_raw()?)
        .raw_header("Max-Forwards", MAX_FORWARDS_TEXT);
    for r in invite.header_values(HeaderName::Route) {
        b = b.raw_header("Route", r);
    }
    Some(
        b.raw_header("From", invite.first(HeaderName::From)?)
            .raw_header("To", resp.first(HeaderName::To)?)
            .raw_header("Call-ID", invite.call_id()?)
            .cseq(invite.cseq()?.seq),
    )
}

/// The address and transport a SIP URI designates when its host is an IP
/// (RFC 3263 section 4 for literal addresses: the port, else 5060 or 5061
/// for `sips:`; the `transport` parameter, else UDP or TLS). `None` for a
/// domain name: resolving names is `sip-resolve`'s job (seam: see
/// `routes::Target`).
pub fn uri_address(uri: &str) -> Option<(SocketAddr, Transport)> {
    let uri = Uri::parse(uri.trim()).ok()?;
    let sip = uri.as_sip()?;
    let transport = match sip.transport() {
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        Some(t) if t.eq_ignore_ascii_case("tls") => Transport::Tls,
        Some(t) if t.eq_ignore_ascii_case("udp") => Transport::Udp,
        Some(_) => return None,
        None if sip.secure => Transport::Tls,
        None => Transport::Udp,
    };
    let host = match sip.maddr() {
        Some(m) => sip_core::Host::parse(m).ok()?.ip()?,
        None => sip.host.ip()?,
    };
    let port = sip.port.unwrap_or(transport.default_port());
    Some((SocketAddr::new(host, port), transport))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sip_core::{HeaderForm, Message};

    #[test]
    fn max_forwards_text_is_the_number() {
        assert_eq!(MAX_FORWARDS_TEXT, MAX_FORWARDS.to_string());
    }

    fn req(text: &str) -> Request {
        let raw = text.replace('\n', "\r\n");
        match Message::parse(Bytes::from(raw)).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    fn resp(text: &str) -> Response {
        let raw = text.replace('\n', "\r\n");
        match Message::parse(Bytes::from(raw)).unwrap() {
            Message::Response(r) => r,
            Message::Request(_) => panic!("not a response"),
        }
    }

    fn local() -> Local {
        Local {
            transport: Transport::Udp,
            addr: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    const INVITE: &str = "INVITE sip:+15551230000@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKp1
Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKc1
Record-Route: <sip:p1.example.com;lr>
Record-Route: <sip:192.0.2.2;lr>
From: \"Carrier\" <sip:+15550001000@127.0.0.2>;tag=from1
To: <sip:+15551230000@127.0.0.1>
Call-ID: call-a
CSeq: 7 INVITE
Contact: <sip:+15550001000@127.0.0.2:5070>
Max-Forwards: 69
Content-Length: 0

";

    fn parse_built(b: &RequestBuilder) -> Request {
        match Message::parse(b.to_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!(),
        }
    }

    #[test]
    fn rfc3261_12_1_1_uas_dialog_and_loose_routed_bye() {
        let mut d = Dialog::uas(&req(INVITE), "ours").unwrap();
        assert_eq!(d.call_id(), "call-a");
        assert_eq!(d.remote_tag(), "from1");
        assert_eq!(d.remote_seq(), Some(7));
        assert_eq!(d.remote_target(), "sip:+15550001000@127.0.0.2:5070");
        assert_eq!(d.route_set().len(), 2);
        let bye = d.request(Method::Bye, &local());
        let r = parse_built(&bye.builder);
        // C16: UAS keeps the Record-Route order; loose routing keeps the
        // remote target as Request-URI and the route set as Route.
        assert_eq!(r.uri_str(), "sip:+15550001000@127.0.0.2:5070");
        let routes: Vec<String> = r.routes().unwrap().iter().map(|n| n.to_string()).collect();
        assert_eq!(routes, ["<sip:p1.example.com;lr>", "<sip:192.0.2.2;lr>"]);
        assert_eq!(bye.next_hop, "sip:p1.example.com;lr");
        assert_eq!(r.from_tag(), Some("ours"));
        assert_eq!(r.to_tag(), Some("from1"));
        assert_eq!(r.cseq().unwrap().seq, 1);
        assert_eq!(r.max_forwards().unwrap(), Some(70));
        assert_eq!(r.branch(), Some(bye.branch.as_str()));
        assert!(bye.branch.starts_with("z9hG4bK"));
        assert_eq!(d.request(Method::Bye, &local()).cseq, 2);
        assert_ne!(d.request(Method::Bye, &local()).branch, bye.branch);
    }

    #[test]
    fn rfc3261_12_1_2_uac_route_set_is_reversed() {
        let mut d = Dialog::uac(
            "call-b",
            "lt",
            "<sip:+15550001000@127.0.0.1>",
            "<sip:agent@127.0.0.6:5090>",
            "sip:agent@127.0.0.6:5090",
            1,
        );
        let ok = resp(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx
Record-Route: <sip:near.example;lr>
Record-Route: <sip:far.example;lr>
From: <sip:+15550001000@127.0.0.1>;tag=lt
To: <sip:agent@127.0.0.6:5090>;tag=rt
Call-ID: call-b
CSeq: 1 INVITE
Contact: <sip:agent@127.0.0.6:5091>
Content-Length: 0

",
        );
        d.update_from_response(&ok);
        assert_eq!(d.remote_tag(), "rt");
        assert_eq!(d.remote_target(), "sip:agent@127.0.0.6:5091");
        assert_eq!(
            d.route_set(),
            ["<sip:far.example;lr>", "<sip:near.example;lr>"]
        );
        let ack = d.ack(1, &local());
        let r = parse_built(&ack.builder);
        assert_eq!(r.method(), &Method::Ack);
        assert_eq!(r.cseq().unwrap().seq, 1);
        assert_eq!(ack.next_hop, "sip:far.example;lr");
        assert_eq!(d.local_seq(), 1, "ACK does not use a new CSeq");
        let reinvite = d.request(Method::Invite, &local());
        let r = parse_built(&reinvite.builder);
        assert_eq!(r.cseq().unwrap().seq, 2);
        assert!(r.first(HeaderName::Contact).is_some());
    }

    #[test]
    fn rfc3261_12_2_1_1_strict_router() {
        let mut d = Dialog::uac("c", "l", "<sip:a@h>", "<sip:b@h>", "sip:b@192.0.2.9", 1);
        let ok = resp(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx
Record-Route: <sip:strict.example>
From: <sip:a@h>;tag=l
To: <sip:b@h>;tag=r
Call-ID: c
CSeq: 1 INVITE
Contact: <sip:b@192.0.2.9>
Content-Length: 0

",
        );
        d.update_from_response(&ok);
        let bye = d.request(Method::Bye, &local());
        let r = parse_built(&bye.builder);
        assert_eq!(r.uri_str(), "sip:strict.example");
        let routes: Vec<String> = r.routes().unwrap().iter().map(|n| n.to_string()).collect();
        assert_eq!(routes, ["<sip:b@192.0.2.9>"]);
        assert_eq!(bye.next_hop, "sip:strict.example");
    }

    #[test]
    fn rfc3261_9_1_cancel_copies_the_invite() {
        let inv = req(INVITE);
        let c = parse_built(&cancel_for(&inv).unwrap());
        assert_eq!(c.method(), &Method::Cancel);
        assert_eq!(c.uri_str(), inv.uri_str());
        assert_eq!(c.via().count(), 1);
        assert_eq!(c.branch(), Some("z9hG4bKp1"));
        assert_eq!(c.cseq().unwrap().seq, 7);
        assert_eq!(c.to_tag(), None);
        assert_eq!(c.call_id(), Some("call-a"));
        let busy = resp(
            "SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKp1
From: <sip:+15550001000@127.0.0.2>;tag=from1
To: <sip:+15551230000@127.0.0.1>;tag=t9
Call-ID: call-a
CSeq: 7 INVITE
Content-Length: 0

",
        );
        let a = parse_built(&ack_for_failure(&inv, &busy).unwrap());
        assert_eq!(a.method(), &Method::Ack);
        assert_eq!(a.to_tag(), Some("t9"));
        assert_eq!(a.branch(), Some("z9hG4bKp1"));
        assert_eq!(a.cseq().unwrap().method, Method::Ack);
    }

    #[test]
    fn remote_cseq_must_not_go_down() {
        let mut d = Dialog::uas(&req(INVITE), "ours").unwrap();
        assert!(d.accept_remote_seq(8));
        assert!(!d.accept_remote_seq(3));
        assert!(d.matches("call-a", "ours", "from1"));
        assert!(!d.matches("call-a", "other", "from1"));
    }

    #[test]
    fn compact_form_request() {
        let mut d = Dialog::uas(&req(INVITE), "ours").unwrap();
        let b = d
            .request(Method::Bye, &local())
            .builder
            .form(HeaderForm::Compact);
        let bytes = b.to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains("\r\nv: SIP/2.0/UDP"));
        assert!(text.contains("\r\ni: call-a"));
    }

    #[test]
    fn uri_addresses() {
        assert_eq!(
            uri_address("sip:agent@127.0.0.6:5090"),
            Some(("127.0.0.6:5090".parse().unwrap(), Transport::Udp))
        );
        assert_eq!(
            uri_address("sip:127.0.0.6;transport=tcp"),
            Some(("127.0.0.6:5060".parse().unwrap(), Transport::Tcp))
        );
        assert_eq!(uri_address("sip:carrier.example"), None);
        assert_eq!(uri_address("tel:+1555"), None);
    }
}
