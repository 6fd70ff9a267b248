//! The `[e911]` section of the configuration file.

use std::net::SocketAddr;

use serde::Deserialize;

/// A value out of range, with its key and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted key path, e.g. `e911.http_listen`.
    pub key: String,
    /// The value as found.
    pub value: String,
    /// What is allowed, written for the operator.
    pub allowed: String,
}

/// Settings of `locus e911`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct E911Config {
    /// Address of the web UI and JSON API.
    pub http_listen: String,
    /// Directory of the store (`e911.sqlite` inside it).
    pub data_dir: String,
    /// The manager's SIP side (reg event SUBSCRIBE/NOTIFY, emergency
    /// INVITE/302, PUBLISH, OPTIONS): `udp:IP:PORT` or `tcp:IP:PORT`.
    pub sip_listen: Vec<String>,
    /// The host (IP or DNS name) the manager names itself by in Via,
    /// Contact and From; the IP of the first `sip_listen` address when
    /// unset (then that address must not be a wildcard).
    pub sip_host: Option<String>,
    /// Seconds a cluster member with an established reg subscription may
    /// stay silent before the manager asks it an OPTIONS (E15: a member
    /// that died without a word is found and its peers take over);
    /// 0..=300, 0 = never.
    pub member_check_interval: u32,
    /// Seconds that OPTIONS may go unanswered before the member's
    /// subscriptions count as lost; 1..=30.
    pub member_check_timeout: u32,
}

/// Range of `member_check_interval`.
const MEMBER_CHECK_INTERVAL: std::ops::RangeInclusive<u32> = 0..=300;
/// Range of `member_check_timeout`.
const MEMBER_CHECK_TIMEOUT: std::ops::RangeInclusive<u32> = 1..=30;

impl Default for E911Config {
    fn default() -> Self {
        Self {
            http_listen: "127.0.0.1:8911".into(),
            data_dir: "./locus-data".into(),
            sip_listen: vec!["udp:127.0.0.1:5070".into(), "tcp:127.0.0.1:5070".into()],
            sip_host: None,
            member_check_interval: 10,
            member_check_timeout: 5,
        }
    }
}

/// A parsed `sip_listen` entry: UDP or TCP and an address.
fn parse_sip_listen(s: &str) -> Option<sip_transport::ListenAddr> {
    let a: sip_transport::ListenAddr = s.parse().ok()?;
    matches!(
        a.transport,
        sip_transport::Transport::Udp | sip_transport::Transport::Tcp
    )
    .then_some(a)
}

/// Whether `s` is usable as a host in a SIP URI: an IP address or a DNS
/// name.
fn is_host(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl E911Config {
    /// Checks every value; returns all problems found.
    pub fn validate(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        if self.http_listen.parse::<SocketAddr>().is_err() {
            out.push(Invalid {
                key: "e911.http_listen".into(),
                value: format!("{:?}", self.http_listen),
                allowed: "an IP address and port, such as \"127.0.0.1:8911\"".into(),
            });
        }
        if self.data_dir.is_empty() {
            out.push(Invalid {
                key: "e911.data_dir".into(),
                value: "\"\"".into(),
                allowed: "a directory path, created if missing".into(),
            });
        }
        if self.sip_listen.is_empty() {
            out.push(Invalid {
                key: "e911.sip_listen".into(),
                value: "[]".into(),
                allowed: "at least one address such as \"udp:127.0.0.1:5070\"".into(),
            });
        }
        let mut first = None;
        for (i, l) in self.sip_listen.iter().enumerate() {
            match parse_sip_listen(l) {
                Some(a) => {
                    first.get_or_insert(a);
                }
                None => out.push(Invalid {
                    key: format!("e911.sip_listen[{i}]"),
                    value: format!("{l:?}"),
                    allowed: "\"udp:IP:PORT\" or \"tcp:IP:PORT\" (IPv6 as [::1]; TLS is not \
                              supported on the manager's SIP side yet)"
                        .into(),
                }),
            }
        }
        match &self.sip_host {
            Some(h) if !is_host(h) => out.push(Invalid {
                key: "e911.sip_host".into(),
                value: format!("{h:?}"),
                allowed: "an IP address or a DNS name (letters, digits, '-' and '.')".into(),
            }),
            None if first.is_some_and(|a| a.addr.ip().is_unspecified()) => out.push(Invalid {
                key: "e911.sip_host".into(),
                value: "unset".into(),
                allowed: "an IP address or DNS name peers reach the manager at; required \
                          when the first e911.sip_listen address is a wildcard (0.0.0.0, [::])"
                    .into(),
            }),
            _ => {}
        }
        if !MEMBER_CHECK_INTERVAL.contains(&self.member_check_interval) {
            out.push(Invalid {
                key: "e911.member_check_interval".into(),
                value: self.member_check_interval.to_string(),
                allowed: "0 to 300 seconds (0 = never)".into(),
            });
        }
        if !MEMBER_CHECK_TIMEOUT.contains(&self.member_check_timeout) {
            out.push(Invalid {
                key: "e911.member_check_timeout".into(),
                value: self.member_check_timeout.to_string(),
                allowed: "1 to 30 seconds".into(),
            });
        }
        out
    }

    /// The member check of the reg subscriptions: interval (`None`: off)
    /// and timeout.
    pub fn member_check(&self) -> (Option<std::time::Duration>, std::time::Duration) {
        let secs = |s: u32| std::time::Duration::from_secs(u64::from(s));
        (
            (self.member_check_interval > 0).then(|| secs(self.member_check_interval)),
            secs(self.member_check_timeout.max(1)),
        )
    }

    /// The `sip_listen` entries, parsed (call after [`E911Config::validate`]
    /// found nothing; invalid entries are skipped).
    pub fn sip_listen_addrs(&self) -> Vec<sip_transport::ListenAddr> {
        self.sip_listen
            .iter()
            .filter_map(|l| parse_sip_listen(l))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = E911Config::default();
        assert!(c.validate().is_empty());
        assert_eq!(c.sip_listen_addrs().len(), 2);
    }

    #[test]
    fn sip_listen_entries_are_checked_by_index() {
        let c = E911Config {
            sip_listen: vec![
                "udp:127.0.0.1:5070".into(),
                "tls:127.0.0.1:5071".into(),
                "127.0.0.1:5070".into(),
            ],
            ..E911Config::default()
        };
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["e911.sip_listen[1]", "e911.sip_listen[2]"]);
        let empty = E911Config {
            sip_listen: vec![],
            ..E911Config::default()
        };
        assert_eq!(empty.validate()[0].key, "e911.sip_listen");
    }

    #[test]
    fn a_wildcard_listen_needs_sip_host() {
        let mut c = E911Config {
            sip_listen: vec!["udp:0.0.0.0:5070".into()],
            ..E911Config::default()
        };
        assert_eq!(c.validate()[0].key, "e911.sip_host");
        c.sip_host = Some("e911.example.com".into());
        assert!(c.validate().is_empty());
        c.sip_host = Some("bad host".into());
        assert_eq!(c.validate()[0].key, "e911.sip_host");
    }

    #[test]
    fn e15_member_check_ranges() {
        let mut c = E911Config {
            member_check_interval: 301,
            member_check_timeout: 0,
            ..E911Config::default()
        };
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["e911.member_check_interval", "e911.member_check_timeout"]
        );
        c.member_check_interval = 0;
        c.member_check_timeout = 30;
        assert!(c.validate().is_empty());
        assert_eq!(c.member_check(), (None, std::time::Duration::from_secs(30)));
    }
}
