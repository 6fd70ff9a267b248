//! The tokio driver of `locus e911`: opens the store, serves the HTTP API
//! and runs the SIP side (the `sip_driver` module: reg event subscribers,
//! PUBLISH of ELINs, the emergency redirect UAS).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use sip_transport::{Endpoint, ListenAddr, TransportConfig};

use crate::api::{router, ApiState};
use crate::config::E911Config;
use crate::model::CallServer;
use crate::sip_driver::{self, Local, Parts};
use crate::store::{DeviceQuery, StoreError, StoreHandle};

/// Why the manager could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory could not be created.
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The store could not be opened.
    Store {
        /// The database file.
        path: PathBuf,
        /// Why.
        error: StoreError,
    },
    /// The HTTP address could not be bound.
    Http {
        /// The address.
        addr: String,
        /// Why.
        error: std::io::Error,
    },
    /// The SIP addresses could not be bound.
    Sip(sip_transport::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DataDir { path, error } => write!(
                f,
                "e911.data_dir {}: cannot create it: {error}",
                path.display()
            ),
            Self::Store { path, error } => {
                write!(f, "e911 store {}: {error}", path.display())
            }
            Self::Http { addr, error } => {
                write!(f, "e911.http_listen {addr}: cannot listen: {error}")
            }
            Self::Sip(e) => write!(f, "e911.sip_listen: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A started, not yet serving manager.
pub struct Manager {
    store: StoreHandle,
    http: tokio::net::TcpListener,
    sip: Parts,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("http", &self.http.local_addr().ok())
            .field("sip", &self.sip.endpoint.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// Opens the store in `data_dir`, binds the HTTP and SIP addresses and
    /// reads the configuration records and known devices.
    pub async fn start(config: &E911Config) -> Result<Manager, StartError> {
        let dir = PathBuf::from(&config.data_dir);
        std::fs::create_dir_all(&dir).map_err(|error| StartError::DataDir {
            path: dir.clone(),
            error,
        })?;
        let path = dir.join("e911.sqlite");
        let store = StoreHandle::open(path.clone())
            .await
            .map_err(|error| StartError::Store {
                path: path.clone(),
                error,
            })?;
        let http = tokio::net::TcpListener::bind(&config.http_listen)
            .await
            .map_err(|error| StartError::Http {
                addr: config.http_listen.clone(),
                error,
            })?;
        let (endpoint, events) =
            Endpoint::bind(TransportConfig::default(), &config.sip_listen_addrs())
                .await
                .map_err(StartError::Sip)?;
        let (snapshot, devices) = store
            .call(|s| Ok((s.snapshot()?, s.list_devices(&DeviceQuery::default())?)))
            .await
            .map_err(|error| StartError::Store { path, error })?;
        let local = Local::new(endpoint.local_addrs().to_vec(), config.sip_host.as_deref());
        Ok(Manager {
            store,
            http,
            sip: Parts {
                endpoint,
                events,
                local,
                snapshot,
                devices,
                member_check: config.member_check(),
            },
        })
    }

    /// When the store holds no call server yet, creates `default` and
    /// returns `true`. The all-in-one `locus` run uses it to point the
    /// manager at its own SIP server, so a new user sees the manager
    /// subscribed at once; an operator's records are never touched.
    pub async fn adopt_default_call_server(
        &mut self,
        default: CallServer,
    ) -> Result<bool, StoreError> {
        let (created, snapshot) = self
            .store
            .call(move |s| {
                let created = if s.list_call_servers()?.is_empty() {
                    s.create_call_server(default)?;
                    true
                } else {
                    false
                };
                Ok((created, s.snapshot()?))
            })
            .await?;
        self.sip.snapshot = snapshot;
        Ok(created)
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }

    /// The bound SIP addresses (with the ports actually bound).
    pub fn sip_addrs(&self) -> Vec<ListenAddr> {
        self.sip.endpoint.local_addrs().to_vec()
    }

    /// Serves until `shutdown` resolves, then ends the subscriptions,
    /// writes what is queued and closes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let state = ApiState::new(self.store.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sip = tokio::spawn(sip_driver::run(
            self.sip,
            self.store.clone(),
            state.subscribe(),
            stop_rx,
        ));
        let app = router(state);
        let stop = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        if let Err(e) = axum::serve(self.http, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "HTTP server stopped");
        }
        if let Err(e) = sip.await {
            tracing::error!(error = %e, "the SIP side stopped abnormally");
        }
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the store");
        }
    }
}
