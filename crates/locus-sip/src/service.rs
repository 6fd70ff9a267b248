//! The tokio driver of `locus sip`: one task owns the [`SipCore`], feeds it
//! what the transport receives and the time, and hands what it wants sent to
//! the transport. One timer, reset to the core's next deadline.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use sip_transport::{Endpoint, Event, ListenAddr, TransportConfig};
use tokio::sync::mpsc;

use crate::config::SipConfig;
use crate::core::SipCore;

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A `sip.listen` entry is not a valid address.
    BadListenAddress {
        /// The entry.
        value: String,
        /// Why.
        reason: String,
    },
    /// The transport could not bind or load its TLS material.
    Transport(sip_transport::Error),
    /// The media relay's settings are unusable.
    Media(media::RelayError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadListenAddress { value, reason } => {
                write!(f, "sip.listen entry {value:?}: {reason}")
            }
            Self::Transport(e) => write!(f, "cannot start the SIP transport: {e}"),
            Self::Media(e) => write!(f, "cannot start the media relay: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A bound, not yet running SIP server.
pub struct Server {
    endpoint: Endpoint,
    events: mpsc::Receiver<Event>,
    core: SipCore,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.endpoint.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every listening address of `config`.
    pub async fn bind(config: SipConfig) -> Result<Server, StartError> {
        let mut listen = Vec::with_capacity(config.listen.len());
        for l in &config.listen {
            let a: ListenAddr = l.parse().map_err(|e| StartError::BadListenAddress {
                value: l.clone(),
                reason: format!("{e}"),
            })?;
            listen.push(a);
        }
        let limits = &config.limits;
        let transport = TransportConfig {
            max_message_bytes: limits.max_message_bytes,
            max_header_bytes: limits.max_header_bytes,
            max_segments_per_message: u32::try_from(limits.max_segments_per_message)
                .unwrap_or(u32::MAX),
            idle_timeout: Duration::from_secs(limits.idle_timeout_secs),
            max_connections: limits.max_connections,
            max_connections_per_ip: limits.max_connections_per_ip,
            tls_cert_file: config.tls.as_ref().map(|t| t.cert.clone().into()),
            tls_key_file: config.tls.as_ref().map(|t| t.key.clone().into()),
            ..TransportConfig::default()
        };
        let (endpoint, events) = Endpoint::bind(transport, &listen)
            .await
            .map_err(StartError::Transport)?;
        for a in endpoint.local_addrs() {
            tracing::info!(addr = %a, "listening");
        }
        let mut core = SipCore::new(&config);
        // Via and Contact carry the addresses actually bound (port 0 too).
        core.set_local_addrs(endpoint.local_addrs());
        if config.media.relay {
            // The relay's sessions are spawned on this runtime, the one the
            // core runs on ([`crate::anchor`] describes the seam).
            let m = &config.media;
            let relay = media::Relay::new(media::RelayConfig {
                bind_ip: m.bind_ip(&config.listen),
                port_range: m.port_range[0]..=m.port_range[1],
                inactivity_timeout: Duration::from_secs(m.inactivity_timeout_secs.max(1)),
            })
            .map_err(StartError::Media)?;
            tracing::info!(ip = %relay.config().bind_ip, ports = ?relay.config().port_range, "media relay");
            core.set_media_port(Box::new(crate::anchor::RelayPort::new(relay)));
        }
        Ok(Server {
            endpoint,
            events,
            core,
        })
    }

    /// The bound addresses (with the ports actually bound).
    pub fn local_addrs(&self) -> Vec<ListenAddr> {
        self.endpoint.local_addrs().to_vec()
    }

    /// Serves until `shutdown` resolves, then closes every socket.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let deadline = self.core.poll_timeout().map(tokio::time::Instant::from_std);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = self.events.recv() => {
                    let Some(event) = event else { break };
                    self.handle_event(event);
                    // Take what is already queued before sending: fewer wake-ups under load.
                    for _ in 0..64 {
                        match self.events.try_recv() {
                            Ok(event) => self.handle_event(event),
                            Err(_) => break,
                        }
                    }
                }
                () = sleep => {
                    self.core.handle_timeout(tokio::time::Instant::now().into_std());
                }
            }
            while let Some(out) = self.core.poll_transmit() {
                let dest = out.dest;
                if let Err(e) = self.endpoint.send(out).await {
                    tracing::warn!(%dest, error = %e, "send failed");
                    self.core
                        .handle_transmit_error(tokio::time::Instant::now().into_std());
                }
            }
        }
        self.endpoint.shutdown().await;
    }

    fn handle_event(&mut self, event: Event) {
        let now = tokio::time::Instant::now().into_std();
        match event {
            Event::Message(inbound) => self.core.handle_inbound(now, inbound),
            Event::Error(error) => self.core.handle_stream_error(&error),
            other => tracing::debug!(?other, "transport event ignored"),
        }
    }
}
