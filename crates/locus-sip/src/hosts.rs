//! C9 inbound: which Request-URI hosts name this server for a carrier.
//!
//! Genesys spec 2.7.2 accepts the server's IP, its DNS name, its SRV
//! domain and a custom FQDN provisioned for the carrier. Here: any
//! listening IP (any IP at all when a listener is bound to a wildcard
//! address, whose local IPs the core cannot know without IO), a name of
//! `sip.domains` (the server's DNS and SRV names) or the trunk's `domain`.
//!
//! Other hosts get **404 Not Found**: RFC 3261 section 8.2.2.1 says a UAS
//! that does not accept requests for the Request-URI "SHOULD reject the
//! request with a 404"; 416 is for an unsupported URI scheme, which `tel:`
//! and `sip:` are not. The host being someone else's is a known
//! disposition, so a 4xx is allowed (C12).
//!
//! Only requests that start something are checked: out of a dialog, and
//! not ACK or CANCEL (whose Request-URI is that of the INVITE already
//! checked). In-dialog requests carry our Contact, whatever the carrier
//! was first told.

use sip_core::{Host, Method, Request, Uri};
use sip_transport::ListenAddr;

use crate::trunk::Trunk;

/// The reason phrase of the 404.
pub(crate) const NOT_OURS: &str = "Not Found (not this server's host)";

/// Whether the Request-URI of `req`, from carrier `trunk`, names this server.
pub(crate) fn accepted(
    req: &Request,
    locals: &[ListenAddr],
    domains: &[String],
    trunk: &Trunk,
) -> bool {
    if req.to_tag().is_some() || matches!(req.method(), Method::Ack | Method::Cancel) {
        return true;
    }
    let uri = req.uri();
    let Uri::Sip(sip) = &uri else {
        // tel: has no host; other schemes get 416 from the core.
        return true;
    };
    let ip = match &sip.host {
        Host::Ipv4(ip) => std::net::IpAddr::V4(*ip),
        Host::Ipv6(ip) => std::net::IpAddr::V6(*ip),
        Host::Domain(name) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            return domains.iter().any(|d| d.eq_ignore_ascii_case(name))
                || trunk
                    .config
                    .domain
                    .as_deref()
                    .is_some_and(|d| d.trim_end_matches('.').eq_ignore_ascii_case(name));
        }
    };
    locals
        .iter()
        .any(|l| l.addr.ip() == ip || l.addr.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trunk::{TrunkConfig, Trunks};

    fn trunk(domain: Option<&str>) -> Trunk {
        let config = TrunkConfig {
            profile: crate::trunk::Profile::Byoc,
            domain: domain.map(Into::into),
            ..crate::trunk::tests::voice("c", "127.0.0.2", &[])
        };
        Trunks::new(&[config]).by_name("c").unwrap().clone()
    }

    fn req(ruri: &str, to_tag: bool) -> Request {
        let to = if to_tag { ";tag=x" } else { "" };
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK1\r\n\
             From: <sip:a@127.0.0.2>;tag=1\r\nTo: <{ruri}>{to}\r\nCall-ID: c\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        match sip_core::Message::parse(bytes::Bytes::from(text)).unwrap() {
            sip_core::Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn c9_request_uri_hosts() {
        let locals: Vec<ListenAddr> = vec!["udp:127.0.0.1:5060".parse().unwrap()];
        let domains = vec!["sip.locus.test".to_owned(), "locus.test".to_owned()];
        let t = trunk(Some("customer.byoc.test"));
        let ok = |uri: &str| accepted(&req(uri, false), &locals, &domains, &t);
        assert!(ok("sip:+15551230000@127.0.0.1:5060"));
        assert!(ok("sip:+15551230000@127.0.0.1"));
        assert!(ok("sip:+15551230000@SIP.locus.test"));
        assert!(ok("sip:+15551230000@locus.test."));
        assert!(ok("sip:+15551230000@customer.byoc.test"));
        assert!(ok("tel:+15551230000"));
        assert!(!ok("sip:+15551230000@127.0.0.9"));
        assert!(!ok("sip:+15551230000@elsewhere.test"));
        assert!(!accepted(
            &req("sip:x@customer.byoc.test", false),
            &locals,
            &domains,
            &trunk(None)
        ));
        // In a dialog the Request-URI is our Contact: not checked here.
        assert!(accepted(
            &req("sip:x@elsewhere.test", true),
            &locals,
            &domains,
            &t
        ));
        // A wildcard listener accepts any IP (its local IPs are unknown).
        let any: Vec<ListenAddr> = vec!["udp:0.0.0.0:5060".parse().unwrap()];
        assert!(accepted(&req("sip:x@192.0.2.1", false), &any, &domains, &t));
    }
}
