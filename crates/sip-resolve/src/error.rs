//! Resolution errors.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

/// Why a target could not be resolved to any endpoint.
///
/// [`crate::Resolver::resolve`] returns an error only when it has nothing
/// to offer: with configured fallback addresses, DNS failures are logged and
/// those addresses are returned instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name exists in no form that gives an address: no SRV (where
    /// queried) and no A/AAAA records, or SRV targets without addresses.
    /// Check the carrier's DNS or configure its IPs as a fallback.
    #[error("no DNS records for {name} (no SRV and no address records)")]
    NoRecords {
        /// The name that was looked up.
        name: String,
    },
    /// The only SRV record has target `.`: RFC 2782 says the service is
    /// decidedly not available at this domain.
    #[error("{name}: the SRV record says the service is not available here (target \".\")")]
    ServiceNotAvailable {
        /// The SRV name that was looked up.
        name: String,
    },
    /// No answer in the configured time. The DNS server is down, filtered,
    /// or slow; the configured fallback addresses (if any) would have been
    /// used.
    #[error("DNS lookup for {name} got no answer within {after:?}")]
    Timeout {
        /// The name being resolved.
        name: String,
        /// The bound that expired.
        after: Duration,
    },
    /// A socket error talking to the DNS server (unreachable network,
    /// refused connection, no permission to bind).
    #[error("DNS lookup for {name}: I/O error: {source}")]
    Io {
        /// The name being resolved.
        name: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The DNS server answered with an error (SERVFAIL, REFUSED), or the
    /// answer could not be decoded.
    #[error("DNS lookup for {name} failed: {source}")]
    Server {
        /// The name being resolved.
        name: String,
        /// The resolver library's description of the failure.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The host is not a valid DNS name or IP address.
    #[error("{name:?} is not a valid host name or IP address")]
    InvalidName {
        /// The text given.
        name: String,
    },
    /// The target's combination of fields cannot be resolved.
    #[error("invalid target: {reason}")]
    InvalidTarget {
        /// What is wrong.
        reason: &'static str,
    },
    /// The system DNS configuration (`/etc/resolv.conf`) could not be read;
    /// configure nameservers explicitly.
    #[error("cannot read the system DNS configuration: {source}")]
    SystemConfig {
        /// The underlying error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl ResolveError {
    /// Whether this says "the name has no such records" (as opposed to a
    /// failure to ask): the resolver then moves on to the next way of
    /// finding the target.
    pub fn is_no_records(&self) -> bool {
        matches!(self, Self::NoRecords { .. })
    }
}
