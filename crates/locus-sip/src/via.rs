//! Where responses go and what the server writes into the top Via
//! (RFC 3261 sections 18.2.1 and 18.2.2, RFC 3581).

use std::net::{IpAddr, SocketAddr};

use sip_core::{Host, Via};
use sip_transport::{Inbound, Outbound};

/// The top Via of a received request as the response must carry it: with
/// `received` when the sent-by host is not the source IP (RFC 3261 section
/// 18.2.1) and with the source port in an empty `rport` (RFC 3581 section 4).
/// `None` when nothing needs to change.
pub(crate) fn stamp_top_via(via: &Via<'_>, source: SocketAddr) -> Option<String> {
    let wants_rport = matches!(via.rport(), Some(None));
    let sent_by_is_source = via.host.ip() == Some(source.ip());
    if sent_by_is_source && !wants_rport {
        return None;
    }
    let mut params = String::with_capacity(via.params.len() + 32);
    for p in via
        .params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let name = p.split('=').next().unwrap_or(p).trim();
        if name.eq_ignore_ascii_case("received") {
            continue; // a stale value from the sender is replaced below
        }
        params.push(';');
        if name.eq_ignore_ascii_case("rport") && !p.contains('=') {
            params.push_str("rport=");
            params.push_str(&source.port().to_string());
        } else {
            params.push_str(p);
        }
    }
    if !sent_by_is_source {
        params.push_str(";received=");
        match source.ip() {
            IpAddr::V4(ip) => params.push_str(&ip.to_string()),
            IpAddr::V6(ip) => params.push_str(&format!("[{ip}]")),
        }
    }
    let mut out = format!(
        "{}/{}/{} {}",
        via.protocol_name, via.protocol_version, via.transport, via.host
    );
    if let Some(port) = via.port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(&params);
    Some(out)
}

/// Where the response to `inbound` goes (RFC 3261 section 18.2.2 with RFC
/// 3581): on a stream, back on its connection; on UDP, to the source IP and,
/// when the client asked for `rport`, the source port, else the sent-by port
/// (default 5060). A `maddr` is honored only when it is a unicast IP.
pub(crate) fn response_destination(via: Option<&Via<'_>>, inbound: &Inbound) -> Outbound {
    let mut out = Outbound::reply_to(inbound, bytes::Bytes::new());
    if inbound.transport.is_reliable() {
        return out;
    }
    let Some(via) = via else { return out };
    if via.rport().is_some() {
        return out;
    }
    let port = via.port.unwrap_or(5060);
    if let Some(maddr) = via.maddr() {
        if let Ok(ip) = Host::parse(maddr).map(|h| h.ip()) {
            if let Some(ip) = ip.filter(|ip| !ip.is_multicast() && !ip.is_unspecified()) {
                out.dest = SocketAddr::new(ip, port);
                return out;
            }
        }
    }
    out.dest = SocketAddr::new(inbound.source.ip(), port);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rfc3261_18_2_1_received_added_when_sent_by_differs() {
        let via = Via::parse("SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK1").unwrap();
        assert_eq!(
            stamp_top_via(&via, addr("192.0.2.4:5066")).unwrap(),
            "SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK1;received=192.0.2.4"
        );
    }

    #[test]
    fn rfc3581_rport_filled_with_source_port() {
        let via = Via::parse("SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bK1").unwrap();
        assert_eq!(
            stamp_top_via(&via, addr("192.0.2.4:40001")).unwrap(),
            "SIP/2.0/UDP 192.0.2.4:5060;rport=40001;branch=z9hG4bK1"
        );
    }

    #[test]
    fn unchanged_when_sent_by_is_source() {
        let via = Via::parse("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1").unwrap();
        assert_eq!(stamp_top_via(&via, addr("192.0.2.4:5060")), None);
    }
}
