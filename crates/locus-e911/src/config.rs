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
}

impl Default for E911Config {
    fn default() -> Self {
        Self {
            http_listen: "127.0.0.1:8911".into(),
            data_dir: "./locus-data".into(),
        }
    }
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
        out
    }
}
