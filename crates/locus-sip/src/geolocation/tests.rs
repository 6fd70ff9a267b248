//! E6 location by value: the part and headers alone, then the sans-IO
//! core end to end (PUBLISH from the manager, 911 from a phone, the
//! manager's 302, the gateway's INVITE and its plain-SDP answer).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pidf_lo::LocationDoc;

use super::*;
use crate::config::SipConfig;
use crate::multipart::Multipart;
use crate::registrar::UserConfig;
use crate::SipCore;

const SDP: &str = "v=0\r\no=phone 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
const PUBLISHED_ELIN: &str = "+15551230555";
const ELIN_302: &str = "+15551230300";
const DEFAULT_ELIN: &str = "+15551230399";

fn hq_floor_3() -> LocationDoc {
    let mut doc = LocationDoc::new("pres:alice@127.0.0.1");
    doc.device_id = Some("mac:00045a1b2c3d".into());
    doc.civic.country = Some("US".into());
    doc.civic.a1 = Some("TX".into());
    doc.civic.a3 = Some("Austin".into());
    doc.civic.rd = Some("Main St".into());
    doc.civic.hno = Some("100".into());
    doc.civic.flr = Some("3".into());
    doc.elin = Some(pidf_lo::Elin::parse(PUBLISHED_ELIN).unwrap());
    doc
}

/// The cid a `Geolocation` value names.
fn cid_of(header: &str) -> &str {
    header
        .strip_prefix("<cid:")
        .and_then(|h| h.strip_suffix('>'))
        .expect("a <cid:...> value")
}

#[test]
fn e6_no_civic_address_no_location() {
    assert_eq!(Geolocation::new(&LocationDoc::new("pres:a@b"), None), None);
}

#[test]
fn e6_the_body_is_the_offer_then_the_pidf_lo_named_by_the_header() {
    let geo = Geolocation::new(&hq_floor_3(), Some(ELIN_302)).unwrap();
    let offer = ("application/sdp".to_owned(), Bytes::from(SDP));
    let (ct, body) = geo.body(Some(&offer));
    assert!(ct.starts_with("multipart/mixed;boundary="), "{ct}");
    // Built again (an INVITE sent again after a challenge): the same bytes.
    assert_eq!(geo.body(Some(&offer)), (ct.clone(), body.clone()));
    let mp = Multipart::parse(&ct, &body).unwrap();
    assert_eq!(mp.parts.len(), 2);
    assert_eq!(mp.parts[0].content_type(), "application/sdp");
    assert_eq!(mp.parts[0].body, SDP.as_bytes());
    assert_eq!(mp.parts[1].content_type(), "application/pidf+xml");
    let header = geo.header();
    assert_eq!(
        mp.parts[1].header("Content-ID"),
        Some(format!("<{}>", cid_of(&header)).as_str())
    );
    let doc = LocationDoc::parse(&mp.parts[1].body).unwrap();
    // The civic address as published, the ELIN the call presents.
    assert_eq!(doc.civic, hq_floor_3().civic);
    assert_eq!(doc.elin.unwrap().as_str(), ELIN_302);
    assert_eq!(doc.device_id.as_deref(), Some("mac:00045a1b2c3d"));
    // Late offer: the PIDF-LO alone, still multipart with its Content-ID.
    let (ct, body) = geo.body(None);
    let mp = Multipart::parse(&ct, &body).unwrap();
    assert_eq!(mp.parts.len(), 1);
    assert_eq!(mp.parts[0].content_type(), "application/pidf+xml");
}

#[test]
fn e6_a_multipart_offer_gets_the_location_as_its_last_part() {
    let mut offer = Multipart::new("mixed");
    offer.parts.push(crate::multipart::Part::new(
        "application/sdp",
        Bytes::from(SDP),
    ));
    offer
        .parts
        .push(crate::multipart::Part::new("text/plain", Bytes::from("x")));
    let offer = offer.to_body("o");
    let geo = Geolocation::new(&hq_floor_3(), None).unwrap();
    let (ct, body) = geo.body(Some(&offer));
    let mp = Multipart::parse(&ct, &body).unwrap();
    let types: Vec<&str> = mp.parts.iter().map(|p| p.content_type()).collect();
    assert_eq!(
        types,
        ["application/sdp", "text/plain", "application/pidf+xml"]
    );
    // Without a 302 ELIN the published one stays.
    let doc = LocationDoc::parse(&mp.parts[2].body).unwrap();
    assert_eq!(doc.elin.unwrap().as_str(), PUBLISHED_ELIN);
}

// ---- the core, sans IO ----

const SIP: &str = "127.0.0.1:5060";
const MANAGER: &str = "127.0.0.8:5070";
const GATEWAY: &str = "127.0.0.9:5080";
const PHONE: &str = "127.0.0.5:5062";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn core(send_location: bool) -> SipCore {
    let mut manager = crate::trunk::tests::dn("e911-manager", "127.0.0.8", true, Some("911"));
    manager.outbound = vec![MANAGER.into()];
    let mut gateway = crate::trunk::tests::dn("e911-gateway", "127.0.0.9", true, Some("91"));
    gateway.outbound = vec![GATEWAY.into()];
    gateway.default_elin = Some(DEFAULT_ELIN.into());
    gateway.send_location = send_location;
    let config = SipConfig {
        listen: vec![format!("udp:{SIP}")],
        trunks: vec![manager, gateway],
        users: vec![UserConfig {
            username: "alice".into(),
            password: Some("secret".into()),
            ha1_md5: None,
            ha1_sha256: None,
            aors: Vec::new(),
        }],
        ..SipConfig::default()
    };
    assert_eq!(config.validate(), vec![]);
    SipCore::new(&config)
}

fn feed(core: &mut SipCore, now: Instant, from: &str, text: String) {
    core.handle_inbound(
        now,
        sip_transport::Inbound {
            bytes: Bytes::from(text),
            source: addr(from),
            local: addr(SIP),
            transport: sip_transport::Transport::Udp,
            conn: None,
        },
    );
}

/// Everything the core sends: (destination, message).
fn sent(core: &mut SipCore) -> Vec<(SocketAddr, String)> {
    let mut out = Vec::new();
    while let Some(o) = core.poll_transmit() {
        out.push((o.dest, String::from_utf8_lossy(&o.bytes).into_owned()));
    }
    out
}

fn request_to(core: &mut SipCore, dest: &str, method: &str) -> String {
    let all = sent(core);
    all.iter()
        .find(|(d, m)| *d == addr(dest) && m.starts_with(&format!("{method} ")))
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no {method} to {dest} in {all:#?}"))
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let head = msg.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body_of(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// A response to `req` (its Via, From, To with a tag, Call-ID, CSeq).
fn response(req: &str, status: &str, extra: &str, body: Option<(&str, &str)>) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let v = header(req, name).unwrap();
        if name == "To" {
            out.push_str(&format!("To: {v};tag=far\r\n"));
        } else {
            out.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    out.push_str(extra);
    match body {
        Some((ct, b)) => out.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}

fn publish(core: &mut SipCore, now: Instant) {
    let body = hq_floor_3().to_xml_string();
    let text = format!(
        "PUBLISH sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {MANAGER};branch=z9hG4bKpub1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:e911@127.0.0.8>;tag=p1\r\nTo: <sip:alice@127.0.0.1>\r\n\
         Call-ID: pub1\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 3600\r\n\
         Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    feed(core, now, MANAGER, text);
    let answers = sent(core);
    assert!(
        answers.iter().any(|(_, m)| m.starts_with("SIP/2.0 200")),
        "{answers:#?}"
    );
    assert_eq!(
        core.elins().location("sip:alice@127.0.0.1"),
        Some(&hq_floor_3())
    );
}

fn dial_911(core: &mut SipCore, now: Instant) {
    let text = format!(
        "INVITE sip:911@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bKinv1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:911@127.0.0.1>\r\n\
         Call-ID: call911\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{PHONE}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    );
    feed(core, now, PHONE, text);
}

/// The manager answers the INVITE it got with 302 and the ELIN.
fn manager_302(core: &mut SipCore, now: Instant) {
    let invite = request_to(core, MANAGER, "INVITE");
    let contact = format!(
        "Contact: <sip:911@127.0.0.1?P-Asserted-Identity=%3Csip:{}%40127.0.0.1%3E>\r\n",
        ELIN_302.replace('+', "%2B")
    );
    feed(
        core,
        now,
        MANAGER,
        response(&invite, "302 Moved Temporarily", &contact, None),
    );
}

/// The gateway's INVITE: its Geolocation value and its PIDF-LO part,
/// checked against each other; the SDP part is the phone's offer.
fn located_invite(invite: &str) -> LocationDoc {
    let geo = header(invite, "Geolocation").expect("a Geolocation header");
    assert_eq!(header(invite, "Geolocation-Routing"), Some("yes"));
    let ct = header(invite, "Content-Type").unwrap();
    let mp = Multipart::parse(ct, &Bytes::from(body_of(invite).to_owned())).unwrap();
    let sdp = &mp.parts[mp.sdp().expect("an SDP part")];
    assert!(
        String::from_utf8_lossy(&sdp.body).contains("m=audio 40000 RTP/AVP 0 101"),
        "{invite}"
    );
    let pidf = mp
        .parts
        .iter()
        .find(|p| p.content_type() == "application/pidf+xml")
        .expect("a PIDF-LO part");
    assert_eq!(
        pidf.header("Content-ID"),
        Some(format!("<{}>", cid_of(geo)).as_str())
    );
    LocationDoc::parse(&pidf.body).unwrap()
}

#[test]
fn e6_core_gateway_gets_the_published_location_with_the_302_elin_and_plain_sdp_answer_works() {
    let t0 = Instant::now();
    let mut core = core(true);
    publish(&mut core, t0);
    dial_911(&mut core, t0);
    manager_302(&mut core, t0);
    let invite = request_to(&mut core, GATEWAY, "INVITE");
    assert!(invite.starts_with("INVITE sip:911@"), "{invite}");
    assert!(
        header(&invite, "P-Asserted-Identity").is_some_and(|v| v.contains(ELIN_302)),
        "{invite}"
    );
    let doc = located_invite(&invite);
    assert_eq!(doc.civic, hq_floor_3().civic);
    assert_eq!(doc.elin.unwrap().as_str(), ELIN_302);
    // The gateway answers with plain SDP: the phone gets it.
    let answer = SDP.replace("127.0.0.5", "127.0.0.9");
    feed(
        &mut core,
        t0,
        GATEWAY,
        response(
            &invite,
            "200 OK",
            "Contact: <sip:gw@127.0.0.9:5080>\r\n",
            Some(("application/sdp", &answer)),
        ),
    );
    let ok = request_to_phone(&mut core);
    assert_eq!(header(&ok, "Content-Type"), Some("application/sdp"));
    assert!(body_of(&ok).contains("c=IN IP4 127.0.0.9"), "{ok}");
}

fn request_to_phone(core: &mut SipCore) -> String {
    let all = sent(core);
    all.iter()
        .find(|(d, m)| *d == addr(PHONE) && m.starts_with("SIP/2.0 200"))
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no 200 to the phone in {all:#?}"))
}

#[test]
fn e6_e8_manager_silent_fail_open_still_carries_the_location() {
    let t0 = Instant::now();
    let mut core = core(true);
    publish(&mut core, t0);
    dial_911(&mut core, t0);
    let _ = request_to(&mut core, MANAGER, "INVITE");
    core.handle_timeout(t0 + Duration::from_millis(500));
    let invite = request_to(&mut core, GATEWAY, "INVITE");
    let doc = located_invite(&invite);
    assert_eq!(doc.civic, hq_floor_3().civic);
    assert_eq!(doc.elin.unwrap().as_str(), PUBLISHED_ELIN);
}

#[test]
fn e6_e8_no_location_known_the_call_goes_out_with_the_elin_only() {
    let t0 = Instant::now();
    let mut core = core(true);
    // Nothing published, manager silent: the default ELIN, no location.
    dial_911(&mut core, t0);
    let _ = request_to(&mut core, MANAGER, "INVITE");
    core.handle_timeout(t0 + Duration::from_millis(500));
    let invite = request_to(&mut core, GATEWAY, "INVITE");
    assert!(
        header(&invite, "P-Asserted-Identity").is_some_and(|v| v.contains(DEFAULT_ELIN)),
        "{invite}"
    );
    assert_eq!(header(&invite, "Geolocation"), None, "{invite}");
    assert_eq!(header(&invite, "Geolocation-Routing"), None);
    assert_eq!(header(&invite, "Content-Type"), Some("application/sdp"));
}

#[test]
fn e6_send_location_off_no_location_even_when_known() {
    let t0 = Instant::now();
    let mut core = core(false);
    publish(&mut core, t0);
    dial_911(&mut core, t0);
    manager_302(&mut core, t0);
    let invite = request_to(&mut core, GATEWAY, "INVITE");
    assert_eq!(header(&invite, "Geolocation"), None, "{invite}");
    assert_eq!(header(&invite, "Content-Type"), Some("application/sdp"));
}

#[test]
fn e6_a_multipart_offer_from_the_phone_has_its_sdp_found() {
    let t0 = Instant::now();
    let mut core = core(true);
    publish(&mut core, t0);
    // The phone sends its offer beside a body part of its own.
    let mut offer = Multipart::new("mixed");
    offer
        .parts
        .push(crate::multipart::Part::new("text/plain", Bytes::from("hi")));
    // GSM is no codec of the trunk policy (C21): it must be filtered out.
    let with_gsm = SDP
        .replace("RTP/AVP 0 101", "RTP/AVP 0 3 101")
        .replace("a=rtpmap:101", "a=rtpmap:3 GSM/8000\r\na=rtpmap:101");
    offer.parts.push(crate::multipart::Part::new(
        "application/sdp",
        Bytes::from(with_gsm),
    ));
    let (ct, body) = offer.to_body("phone");
    let body = String::from_utf8(body.to_vec()).unwrap();
    let text = format!(
        "INVITE sip:911@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bKinv2\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a2\r\nTo: <sip:911@127.0.0.1>\r\n\
         Call-ID: call911b\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{PHONE}>\r\n\
         Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    feed(&mut core, t0, PHONE, text);
    manager_302(&mut core, t0);
    let invite = request_to(&mut core, GATEWAY, "INVITE");
    // The SDP was put under the media policy (C21) inside the multipart
    // body, and the location follows the phone's parts.
    let doc = located_invite(&invite);
    assert_eq!(doc.civic, hq_floor_3().civic);
    let ct = header(&invite, "Content-Type").unwrap();
    let mp = Multipart::parse(ct, &Bytes::from(body_of(&invite).to_owned())).unwrap();
    let types: Vec<&str> = mp.parts.iter().map(|p| p.content_type()).collect();
    assert_eq!(
        types,
        ["text/plain", "application/sdp", "application/pidf+xml"]
    );
    let sdp = String::from_utf8_lossy(&mp.parts[1].body).into_owned();
    assert!(!sdp.contains("GSM"), "{sdp}");
    assert!(sdp.contains("telephone-event/8000"), "{sdp}");
}

#[test]
fn e6_e8_a_424_from_the_gateway_sends_the_call_again_without_the_location() {
    let t0 = Instant::now();
    let mut core = core(true);
    publish(&mut core, t0);
    dial_911(&mut core, t0);
    manager_302(&mut core, t0);
    let first = request_to(&mut core, GATEWAY, "INVITE");
    let _ = located_invite(&first);
    feed(
        &mut core,
        t0,
        GATEWAY,
        response(&first, "424 Bad Location Information", "", None),
    );
    let all = sent(&mut core);
    assert!(
        !all.iter()
            .any(|(d, m)| *d == addr(PHONE) && m.starts_with("SIP/2.0 424")),
        "the caller got the gateway's 424: {all:#?}"
    );
    let again = all
        .iter()
        .find(|(d, m)| *d == addr(GATEWAY) && m.starts_with("INVITE "))
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no second INVITE to the gateway in {all:#?}"));
    assert_eq!(header(&again, "Geolocation"), None, "{again}");
    assert_eq!(header(&again, "Content-Type"), Some("application/sdp"));
    assert!(
        header(&again, "P-Asserted-Identity").is_some_and(|v| v.contains(ELIN_302)),
        "{again}"
    );
    // Refused again (without location): now it is the caller's answer.
    feed(
        &mut core,
        t0,
        GATEWAY,
        response(&again, "424 Bad Location Information", "", None),
    );
    let all = sent(&mut core);
    assert!(
        all.iter()
            .any(|(d, m)| *d == addr(PHONE) && m.starts_with("SIP/2.0 424")),
        "{all:#?}"
    );
}
