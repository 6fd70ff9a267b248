//! The `[sip]` section of the configuration file.
//!
//! Deserialized with unknown keys refused; [`SipConfig::validate`] then checks
//! every range so that a bad value is reported with its key and what is allowed.

use serde::Deserialize;

/// A value that is out of its allowed range, or inconsistent with another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted key path, e.g. `sip.limits.max_headers`.
    pub key: String,
    /// The value as found.
    pub value: String,
    /// What is allowed, written for the operator.
    pub allowed: String,
}

impl Invalid {
    pub(crate) fn new(key: &str, value: impl ToString, allowed: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

/// Settings of `locus sip`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Listening addresses, as `udp:IP:PORT`, `tcp:IP:PORT` or `tls:IP:PORT`.
    pub listen: Vec<String>,
    /// Host names (besides the listening IPs) that name this server in a
    /// Request-URI: its DNS name, SRV domain, custom FQDNs.
    pub domains: Vec<String>,
    /// Value of the `Server` and `User-Agent` headers Locus sends.
    pub user_agent: String,
    /// TLS certificate and key, required when a `tls:` listener is configured.
    pub tls: Option<TlsConfig>,
    /// Protective limits on what peers may send.
    pub limits: LimitsConfig,
    /// RFC 3261 transaction timers.
    pub timers: TimersConfig,
    /// Carrier trunks (`[[sip.trunks]]`).
    pub trunks: Vec<crate::trunk::TrunkConfig>,
    /// Call routing (`[sip.routes]`).
    pub routes: crate::routes::RoutesConfig,
    /// Limits on calls through the B2BUA (`[sip.calls]`).
    pub calls: CallsConfig,
    /// RFC 4028 session timers on each leg of a call (`[sip.session_timer]`).
    pub session_timer: SessionTimerConfig,
    /// The media relay anchoring every call's RTP (`[sip.media]`).
    pub media: MediaConfig,
    /// DNS for trunk `outbound` names (`[sip.dns]`, C9, C20).
    pub dns: crate::dns::DnsConfig,
    /// Directory of the server's data: the registrar's bindings
    /// (`registrar.sqlite`).
    pub data_dir: String,
    /// Users who may register (`[[sip.users]]`).
    pub users: Vec<crate::registrar::UserConfig>,
    /// The registrar (`[sip.registrar]`).
    pub registrar: crate::registrar::RegistrarConfig,
    /// The reg event package (`[sip.events]`, E1, E2).
    pub events: crate::regevent::EventsConfig,
    /// Emergency routing (`[sip.emergency]`, E4 to E8).
    pub emergency: EmergencyConfig,
}

/// `[sip.emergency]`: emergency calls from phones (E4 to E8).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EmergencyConfig {
    /// Request-URI users that are emergency calls (E4): routed to the
    /// emergency-device trunk whose prefix matches, never challenged for
    /// credentials (Kari's Law), no access code needed.
    pub dial_strings: Vec<String>,
    /// E8: how long the manager has to answer an emergency INVITE with a
    /// final response before the call fails open to the gateway.
    pub manager_timeout_ms: u64,
    /// E7 (ICD `sip-elin-timeout`): seconds an emergency caller stays the
    /// callback target of the ELIN its call carried; a call from a trunk
    /// to that ELIN within this time reaches the latest such caller's
    /// registered contacts. 0 to 3600; 0 turns callbacks off.
    pub sip_elin_timeout: u64,
}

impl Default for EmergencyConfig {
    fn default() -> Self {
        Self {
            dial_strings: vec!["911".into(), "9911".into(), "933".into()],
            manager_timeout_ms: 500,
            sip_elin_timeout: 1200,
        }
    }
}

/// `[sip.media]`: the RTP/RTCP relay (C24, C25).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Anchor call media in Locus's relay; `false` passes the SDP through
    /// (after the carrier policy) and media flows end to end.
    pub relay: bool,
    /// The IP the relay's sockets bind to and the SDP advertises; `None`
    /// for the IP of the first `sip.listen` address.
    pub bind_ip: Option<String>,
    /// First and last UDP port of the relay (RTP even, RTCP the next).
    pub port_range: [u16; 2],
    /// Seconds without any RTP or RTCP on an answered call before both
    /// legs get BYE (the RTP-inactivity guard); 0 turns it off.
    pub inactivity_timeout_secs: u64,
    /// RTP/RTCP port pairs kept bound after their call ends, for the next
    /// calls to reuse instead of opening and closing sockets per call (each
    /// after resting 1 s, so a hung-up peer's late media reaches no one);
    /// 0 closes them with each call.
    pub pool_pairs: usize,
    /// The relay's I/O threads (1 to 64): each forwards about 350,000
    /// packets a second on one core.
    pub threads: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            relay: true,
            bind_ip: None,
            port_range: [30_000, 60_000],
            inactivity_timeout_secs: 60,
            pool_pairs: media::DEFAULT_POOL_PAIRS,
            threads: media::DEFAULT_RELAY_THREADS,
        }
    }
}

impl MediaConfig {
    /// The relay's bind IP: `bind_ip`, else the IP of the first listening
    /// address, else 127.0.0.1.
    pub fn bind_ip(&self, listen: &[String]) -> std::net::IpAddr {
        self.bind_ip
            .as_deref()
            .and_then(|s| s.parse().ok())
            .or_else(|| {
                listen
                    .first()
                    .and_then(|l| l.parse::<sip_transport::ListenAddr>().ok())
                    .map(|l| l.addr.ip())
            })
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    }
}

/// `[sip.calls]`: bounds that keep calls from leaking.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// Most simultaneous calls; more are refused with 503.
    pub max_calls: usize,
    /// Longest call, in seconds: past it, BYE is sent both ways.
    pub max_duration_secs: u64,
    /// Longest ringing, in seconds: past it, the attempt is cancelled and
    /// the caller gets 480.
    pub ring_timeout_secs: u64,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            max_calls: 10_000,
            max_duration_secs: 4 * 3600,
            ring_timeout_secs: 180,
        }
    }
}

/// `[sip.session_timer]`: RFC 4028 session timers, so a call whose peer
/// vanished without BYE ends (issue 3 item 2).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionTimerConfig {
    /// The session interval Locus offers (`Session-Expires`) and imposes on
    /// callers that do not ask for one, in seconds; 0 turns Locus's own
    /// timers off (a caller's request is still honoured).
    pub expires_secs: u32,
    /// The smallest interval Locus accepts (`Min-SE`; a smaller request
    /// gets 422). RFC 4028 makes 90 the floor; lower is for tests.
    pub min_se_secs: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        Self {
            expires_secs: 1800,
            min_se_secs: 90,
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: vec!["udp:127.0.0.1:5060".into(), "tcp:127.0.0.1:5060".into()],
            domains: Vec::new(),
            user_agent: concat!("Locus/", env!("CARGO_PKG_VERSION")).into(),
            tls: None,
            limits: LimitsConfig::default(),
            timers: TimersConfig::default(),
            trunks: Vec::new(),
            routes: crate::routes::RoutesConfig::default(),
            calls: CallsConfig::default(),
            session_timer: SessionTimerConfig::default(),
            media: MediaConfig::default(),
            dns: crate::dns::DnsConfig::default(),
            data_dir: "./locus-data".into(),
            users: Vec::new(),
            registrar: crate::registrar::RegistrarConfig::default(),
            events: crate::regevent::EventsConfig::default(),
            emergency: EmergencyConfig::default(),
        }
    }
}

/// `[sip.tls]`: PEM files for TLS listeners.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert: String,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// `[sip.limits]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest SIP message accepted, in bytes (larger gets 513 and is dropped).
    pub max_message_bytes: usize,
    /// Largest header block accepted, in bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one message (more gets 513 Message Too Large).
    pub max_headers: usize,
    /// TCP/TLS: received segments after which an incomplete message is dropped
    /// and the connection reset (Genesys spec section 2.3.1: 4).
    pub max_segments_per_message: usize,
    /// Seconds a TCP/TLS connection may stay silent before it is closed.
    pub idle_timeout_secs: u64,
    /// Most simultaneous TCP/TLS connections.
    pub max_connections: usize,
    /// Most simultaneous TCP/TLS connections from one IP address.
    pub max_connections_per_ip: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 65_535,
            max_header_bytes: 16 * 1024,
            max_headers: 128,
            max_segments_per_message: 4,
            idle_timeout_secs: 300,
            max_connections: 10_000,
            max_connections_per_ip: 256,
        }
    }
}

/// `[sip.timers]`: RFC 3261 section 17 timer bases, in milliseconds.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TimersConfig {
    /// T1, the round-trip estimate.
    pub t1_ms: u64,
    /// T2, the cap on non-INVITE retransmission intervals.
    pub t2_ms: u64,
    /// T4, the time a message may stay in the network.
    pub t4_ms: u64,
}

impl Default for TimersConfig {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
        }
    }
}

fn check_range<T: PartialOrd + ToString + Copy>(
    out: &mut Vec<Invalid>,
    key: &str,
    value: T,
    lo: T,
    hi: T,
) {
    if value < lo || value > hi {
        out.push(Invalid::new(
            key,
            value,
            format!("{} to {}", lo.to_string(), hi.to_string()),
        ));
    }
}

impl SipConfig {
    /// Checks every value; returns all problems found, not just the first.
    pub fn validate(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        if self.listen.is_empty() {
            out.push(Invalid::new(
                "sip.listen",
                "[]",
                "at least one address such as \"udp:127.0.0.1:5060\"",
            ));
        }
        let mut has_tls = false;
        for (i, l) in self.listen.iter().enumerate() {
            match l.parse::<sip_transport::ListenAddr>() {
                Ok(a) => has_tls |= a.transport == sip_transport::Transport::Tls,
                Err(_) => out.push(Invalid::new(
                    &format!("sip.listen[{i}]"),
                    format!("{l:?}"),
                    "\"udp:IP:PORT\", \"tcp:IP:PORT\" or \"tls:IP:PORT\" (IPv6 as [::1])",
                )),
            }
        }
        if has_tls && self.tls.is_none() {
            out.push(Invalid::new(
                "sip.tls",
                "missing",
                "a [sip.tls] table with cert and key PEM paths, since a tls: listener is configured",
            ));
        }
        for (i, d) in self.domains.iter().enumerate() {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                out.push(Invalid::new(
                    &format!("sip.domains[{i}]"),
                    format!("{d:?}"),
                    "a DNS name (letters, digits, '-' and '.')",
                ));
            }
        }
        if self.user_agent.is_empty() || self.user_agent.contains(['\r', '\n']) {
            out.push(Invalid::new(
                "sip.user_agent",
                format!("{:?}", self.user_agent),
                "non-empty text on one line",
            ));
        }
        let l = &self.limits;
        check_range(
            &mut out,
            "sip.limits.max_message_bytes",
            l.max_message_bytes,
            1_024,
            4 * 1024 * 1024,
        );
        check_range(
            &mut out,
            "sip.limits.max_header_bytes",
            l.max_header_bytes,
            512,
            l.max_message_bytes.max(512),
        );
        check_range(&mut out, "sip.limits.max_headers", l.max_headers, 16, 4_096);
        check_range(
            &mut out,
            "sip.limits.max_segments_per_message",
            l.max_segments_per_message,
            1,
            64,
        );
        check_range(
            &mut out,
            "sip.limits.idle_timeout_secs",
            l.idle_timeout_secs,
            1,
            86_400,
        );
        check_range(
            &mut out,
            "sip.limits.max_connections",
            l.max_connections,
            1,
            1_000_000,
        );
        check_range(
            &mut out,
            "sip.limits.max_connections_per_ip",
            l.max_connections_per_ip,
            1,
            l.max_connections.max(1),
        );
        let t = &self.timers;
        check_range(&mut out, "sip.timers.t1_ms", t.t1_ms, 10, 10_000);
        check_range(&mut out, "sip.timers.t2_ms", t.t2_ms, t.t1_ms, 60_000);
        check_range(&mut out, "sip.timers.t4_ms", t.t4_ms, t.t1_ms, 60_000);
        out.extend(crate::trunk::validate(&self.trunks));
        out.extend(crate::routes::validate(&self.routes, &self.trunks));
        out.extend(self.dns.validate());
        let c = &self.calls;
        check_range(&mut out, "sip.calls.max_calls", c.max_calls, 1, 1_000_000);
        check_range(
            &mut out,
            "sip.calls.max_duration_secs",
            c.max_duration_secs,
            1,
            7 * 86_400,
        );
        check_range(
            &mut out,
            "sip.calls.ring_timeout_secs",
            c.ring_timeout_secs,
            1,
            3_600,
        );
        let st = &self.session_timer;
        check_range(
            &mut out,
            "sip.session_timer.min_se_secs",
            st.min_se_secs,
            1,
            86_400,
        );
        if st.expires_secs != 0 && (st.expires_secs < st.min_se_secs || st.expires_secs > 86_400) {
            out.push(Invalid::new(
                "sip.session_timer.expires_secs",
                st.expires_secs,
                format!(
                    "0 (off) or {} (sip.session_timer.min_se_secs) to 86400",
                    st.min_se_secs
                ),
            ));
        }
        let m = &self.media;
        if let Some(ip) = &m.bind_ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                out.push(Invalid::new(
                    "sip.media.bind_ip",
                    format!("{ip:?}"),
                    "an IPv4 or IPv6 address such as \"192.0.2.10\"",
                ));
            }
        }
        let [first, last] = m.port_range;
        if first < 1024 || first % 2 != 0 || last < first.saturating_add(3) {
            out.push(Invalid::new(
                "sip.media.port_range",
                format!("[{first}, {last}]"),
                "[first, last] with first even and at least 1024 (C24: never a well-known port), \
                 last at least first + 3 (one call needs two RTP/RTCP pairs)",
            ));
        }
        check_range(&mut out, "sip.media.threads", m.threads as u64, 1, 64);
        if m.inactivity_timeout_secs != 0 {
            check_range(
                &mut out,
                "sip.media.inactivity_timeout_secs",
                m.inactivity_timeout_secs,
                1,
                86_400,
            );
        }
        out.extend(crate::registrar::validate(self));
        out.extend(crate::regevent::validate(&self.events));
        let e = &self.emergency;
        for (i, d) in e.dial_strings.iter().enumerate() {
            let ok = !d.is_empty()
                && d.len() <= 32
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+*#".contains(&b));
            if !ok {
                out.push(Invalid::new(
                    &format!("sip.emergency.dial_strings[{i}]"),
                    format!("{d:?}"),
                    "1 to 32 digits, letters, '+', '*' or '#' (a Request-URI user)",
                ));
            }
        }
        check_range(
            &mut out,
            "sip.emergency.manager_timeout_ms",
            e.manager_timeout_ms,
            50,
            10_000,
        );
        check_range(
            &mut out,
            "sip.emergency.sip_elin_timeout",
            e.sip_elin_timeout,
            0,
            3_600,
        );
        // E6: the location goes to the gateway; the manager found it and
        // gets none (RFC 6442: location is not added where it came from).
        for (i, t) in self.trunks.iter().enumerate() {
            if t.send_location && self.is_emergency_manager(i) {
                out.push(Invalid::new(
                    &format!("sip.trunks[{i}].send_location"),
                    "true",
                    "false on the E911 manager's trunk (the emergency-device trunk whose prefix \
                     best matches an emergency dial string); set it on the gateway's trunk",
                ));
            }
        }
        out
    }

    /// Whether trunk `i` is the manager for some emergency dial string
    /// (E4: the emergency-device trunk with the longest matching prefix,
    /// the first configured among equals).
    fn is_emergency_manager(&self, i: usize) -> bool {
        self.emergency.dial_strings.iter().any(|d| {
            let mut best: Option<(usize, usize)> = None;
            for (j, t) in self.trunks.iter().enumerate() {
                if !t.emergency_device {
                    continue;
                }
                if let Some(n) = t.prefix_match(d) {
                    if best.is_none_or(|(_, b)| n > b) {
                        best = Some((j, n));
                    }
                }
            }
            best.is_some_and(|(j, _)| j == i)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SipConfig::default().validate(), vec![]);
    }

    #[test]
    fn every_bad_value_is_reported_with_its_key() {
        let mut c = SipConfig {
            listen: vec!["sctp:1.2.3.4:5060".into(), "tls:127.0.0.1:5061".into()],
            ..SipConfig::default()
        };
        c.limits.max_segments_per_message = 0;
        c.timers.t2_ms = 1;
        c.media.port_range = [1000, 2000];
        c.media.bind_ip = Some("nowhere".into());
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "sip.listen[0]",
                "sip.tls",
                "sip.limits.max_segments_per_message",
                "sip.timers.t2_ms",
                "sip.media.bind_ip",
                "sip.media.port_range"
            ]
        );
    }
}

#[cfg(test)]
mod emergency_tests {
    use super::*;

    #[test]
    fn e4_e7_e8_emergency_keys_are_validated() {
        let mut c = SipConfig::default();
        c.emergency.dial_strings = vec!["911".into(), "".into()];
        c.emergency.manager_timeout_ms = 20_000;
        c.emergency.sip_elin_timeout = 3_601;
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "sip.emergency.dial_strings[1]",
                "sip.emergency.manager_timeout_ms",
                "sip.emergency.sip_elin_timeout"
            ]
        );
    }

    #[test]
    fn e6_send_location_only_on_a_gateway_trunk() {
        let trunk = |name: &str, ip: &str, prefix: &str| {
            let mut t = crate::trunk::tests::dn(name, ip, true, Some(prefix));
            t.send_location = true;
            t
        };
        let mut c = SipConfig {
            trunks: vec![
                trunk("manager", "127.0.0.8", "911"),
                trunk("gateway", "127.0.0.9", "91"),
            ],
            ..SipConfig::default()
        };
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["sip.trunks[0].send_location"]);
        c.trunks[0].send_location = false;
        assert_eq!(c.validate(), vec![]);
    }
}

#[cfg(test)]
mod media_tests {
    use super::*;

    #[test]
    fn session_timer_keys_are_validated_with_their_names() {
        let keys = |expires, min_se| {
            let c = SipConfig {
                session_timer: SessionTimerConfig {
                    expires_secs: expires,
                    min_se_secs: min_se,
                },
                ..SipConfig::default()
            };
            c.validate().into_iter().map(|i| i.key).collect::<Vec<_>>()
        };
        assert!(keys(0, 90).is_empty(), "0 turns the timers off");
        assert!(keys(4, 2).is_empty(), "short values for tests");
        assert_eq!(keys(60, 90), ["sip.session_timer.expires_secs"]);
        assert_eq!(keys(100_000, 90), ["sip.session_timer.expires_secs"]);
        assert_eq!(keys(1800, 0), ["sip.session_timer.min_se_secs"]);
    }

    #[test]
    fn media_port_range_must_start_even_above_1023() {
        for bad in [[1022, 2000], [30001, 40000], [30000, 30002], [40000, 30000]] {
            let mut c = SipConfig::default();
            c.media.port_range = bad;
            let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
            assert_eq!(keys, ["sip.media.port_range"], "{bad:?}");
        }
        let mut c = SipConfig::default();
        c.media.port_range = [1024, 1027];
        c.media.inactivity_timeout_secs = 0;
        assert_eq!(c.validate(), vec![]);
    }

    #[test]
    fn media_threads_from_1_to_64() {
        for (threads, ok) in [(0, false), (1, true), (64, true), (65, false)] {
            let mut c = SipConfig::default();
            c.media.threads = threads;
            let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
            let expected: &[&str] = if ok { &[] } else { &["sip.media.threads"] };
            assert_eq!(keys, expected, "{threads}");
        }
    }

    #[test]
    fn media_bind_ip_defaults_to_the_first_listening_ip() {
        let c = SipConfig {
            listen: vec!["udp:127.0.0.9:5060".into()],
            ..SipConfig::default()
        };
        assert_eq!(
            c.media.bind_ip(&c.listen),
            "127.0.0.9".parse::<std::net::IpAddr>().unwrap()
        );
        let mut c = c;
        c.media.bind_ip = Some("127.0.0.3".into());
        assert_eq!(
            c.media.bind_ip(&c.listen),
            "127.0.0.3".parse::<std::net::IpAddr>().unwrap()
        );
    }
}
