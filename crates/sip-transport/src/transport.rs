//! Transport names, listen addresses and the RFC 3261 section 18.1.1 size rule.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A SIP transport protocol (design rule C2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: one message per datagram, unreliable.
    Udp,
    /// TCP: a reliable stream framed by `Content-Length`.
    Tcp,
    /// TLS over TCP (rustls): a reliable, encrypted stream.
    Tls,
}

impl Transport {
    /// The token for the Via header's sent-protocol (`SIP/2.0/UDP`).
    pub const fn as_via_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// Whether the transport is reliable (RFC 3261 section 17: no
    /// retransmission timers A, E, G on reliable transports).
    pub const fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The default port: 5060, or 5061 for TLS (RFC 3261 section 18.1.1).
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Tls => 5061,
            Self::Udp | Self::Tcp => 5060,
        }
    }

    const fn as_lower_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_via_str())
    }
}

/// A transport name that is not `udp`, `tcp` or `tls`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {found:?}: expected udp, tcp or tls")]
pub struct ParseTransportError {
    found: String,
}

impl FromStr for Transport {
    type Err = ParseTransportError;

    /// Parses `udp`, `tcp` or `tls`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("udp") {
            Ok(Self::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Ok(Self::Tcp)
        } else if s.eq_ignore_ascii_case("tls") {
            Ok(Self::Tls)
        } else {
            Err(ParseTransportError {
                found: s.to_owned(),
            })
        }
    }
}

/// Where to listen: a transport and a socket address, written
/// `udp:127.0.0.1:5060`, `tcp:[::1]:5060` or `tls:127.0.0.1:5061`.
///
/// Port 0 asks for an ephemeral port; [`crate::Endpoint::local_addrs`] tells
/// which one was bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    /// The transport.
    pub transport: Transport,
    /// The IP address and port.
    pub addr: SocketAddr,
}

impl ListenAddr {
    /// A listen address from its parts.
    pub const fn new(transport: Transport, addr: SocketAddr) -> Self {
        Self { transport, addr }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport.as_lower_str(), self.addr)
    }
}

/// Why a listen address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenAddrError {
    /// No `transport:` prefix.
    #[error("listen address {input:?} has no transport: write udp:IP:PORT, tcp:IP:PORT or tls:IP:PORT (IPv6 as [::1]:5060)")]
    MissingTransport {
        /// The text given.
        input: String,
    },
    /// The prefix is not a transport.
    #[error("listen address {input:?}: {source}")]
    Transport {
        /// The text given.
        input: String,
        /// The transport error.
        source: ParseTransportError,
    },
    /// The part after the transport is not `IP:PORT`.
    #[error("listen address {input:?}: expected IP:PORT after the transport, such as 127.0.0.1:5060 or [::1]:5060")]
    Address {
        /// The text given.
        input: String,
    },
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (t, rest) = s
            .split_once(':')
            .ok_or_else(|| ListenAddrError::MissingTransport {
                input: s.to_owned(),
            })?;
        let transport = match t.parse::<Transport>() {
            Ok(t) => t,
            // "127.0.0.1:5060" or "[::1]:5060": say the transport is missing.
            Err(_) if s.parse::<SocketAddr>().is_ok() || t.starts_with('[') => {
                return Err(ListenAddrError::MissingTransport {
                    input: s.to_owned(),
                })
            }
            Err(source) => {
                return Err(ListenAddrError::Transport {
                    input: s.to_owned(),
                    source,
                })
            }
        };
        let addr = rest
            .parse::<SocketAddr>()
            .map_err(|_| ListenAddrError::Address {
                input: s.to_owned(),
            })?;
        Ok(Self { transport, addr })
    }
}

/// The size above which a request must not go over UDP when the path MTU is
/// unknown (RFC 3261 section 18.1.1).
pub const UDP_MTU_THRESHOLD: usize = 1300;

/// The transport for a request of `message_len` bytes that the routing step
/// would send over `requested`, assuming the destination also takes TCP.
///
/// RFC 3261 section 18.1.1: a request larger than 1300 bytes, with the path
/// MTU unknown, MUST go over a congestion-controlled transport: UDP becomes
/// TCP, and the caller MUST then write TCP in the top Via. TCP and TLS are
/// kept. The rule is for requests; responses follow the request's Via.
pub fn choose_transport(message_len: usize, requested: Transport) -> Transport {
    choose_transport_with(message_len, requested, UDP_MTU_THRESHOLD, true)
}

/// [`choose_transport`] with a threshold and knowledge of the destination.
///
/// `udp_threshold` is 1300 when the path MTU is unknown, else the MTU less
/// 200 bytes. `tcp_available` says whether a TCP path to the destination
/// exists (its SRV/NAPTR records or configuration offer TCP); without one the
/// request stays on UDP.
pub fn choose_transport_with(
    message_len: usize,
    requested: Transport,
    udp_threshold: usize,
    tcp_available: bool,
) -> Transport {
    match requested {
        Transport::Udp if message_len > udp_threshold && tcp_available => Transport::Tcp,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_and_reliability() {
        assert_eq!(Transport::Udp.as_via_str(), "UDP");
        assert_eq!(Transport::Tcp.as_via_str(), "TCP");
        assert_eq!(Transport::Tls.as_via_str(), "TLS");
        assert!(!Transport::Udp.is_reliable());
        assert!(Transport::Tcp.is_reliable() && Transport::Tls.is_reliable());
        assert_eq!("TlS".parse::<Transport>(), Ok(Transport::Tls));
        assert!("sctp"
            .parse::<Transport>()
            .unwrap_err()
            .to_string()
            .contains("expected udp, tcp or tls"));
        assert_eq!(Transport::Tls.default_port(), 5061);
    }

    #[test]
    fn c2_listen_addr_parses_udp_tcp_tls_v4_and_v6() {
        let a: ListenAddr = "udp:127.0.0.1:5060".parse().unwrap();
        assert_eq!(a.transport, Transport::Udp);
        assert_eq!(a.addr, "127.0.0.1:5060".parse().unwrap());
        let b: ListenAddr = "tcp:[::1]:5060".parse().unwrap();
        assert_eq!(b.addr, "[::1]:5060".parse().unwrap());
        let c: ListenAddr = "TLS:127.0.0.1:5061".parse().unwrap();
        assert_eq!(c.transport, Transport::Tls);
        assert_eq!(c.to_string(), "tls:127.0.0.1:5061");
    }

    #[test]
    fn c2_listen_addr_errors_say_what_is_allowed() {
        let e = "127.0.0.1:5060".parse::<ListenAddr>().unwrap_err();
        assert!(matches!(e, ListenAddrError::MissingTransport { .. }), "{e}");
        assert!(e.to_string().contains("udp:IP:PORT"));
        let e = "[::1]:5060".parse::<ListenAddr>().unwrap_err();
        assert!(matches!(e, ListenAddrError::MissingTransport { .. }), "{e}");
        let e = "sctp:127.0.0.1:5060".parse::<ListenAddr>().unwrap_err();
        assert!(e.to_string().contains("expected udp, tcp or tls"), "{e}");
        let e = "udp:localhost:5060".parse::<ListenAddr>().unwrap_err();
        assert!(e.to_string().contains("IP:PORT"), "{e}");
        let e = "udp:::1:5060".parse::<ListenAddr>().unwrap_err();
        assert!(matches!(e, ListenAddrError::Address { .. }), "{e}");
    }

    #[test]
    fn rfc3261_18_1_1_large_udp_request_goes_tcp() {
        assert_eq!(choose_transport(1300, Transport::Udp), Transport::Udp);
        assert_eq!(choose_transport(1301, Transport::Udp), Transport::Tcp);
        assert_eq!(choose_transport(100, Transport::Udp), Transport::Udp);
    }

    #[test]
    fn rfc3261_18_1_1_reliable_transports_are_kept() {
        assert_eq!(choose_transport(10, Transport::Tcp), Transport::Tcp);
        assert_eq!(choose_transport(60_000, Transport::Tls), Transport::Tls);
        assert_eq!(choose_transport(60_000, Transport::Tcp), Transport::Tcp);
    }

    #[test]
    fn rfc3261_18_1_1_known_mtu_and_no_tcp_path() {
        // Path MTU 9000 known: the limit is 200 bytes below it.
        assert_eq!(
            choose_transport_with(5000, Transport::Udp, 8800, true),
            Transport::Udp
        );
        assert_eq!(
            choose_transport_with(8801, Transport::Udp, 8800, true),
            Transport::Tcp
        );
        // No TCP path to the destination: stay on UDP.
        assert_eq!(
            choose_transport_with(4000, Transport::Udp, 1300, false),
            Transport::Udp
        );
    }
}
