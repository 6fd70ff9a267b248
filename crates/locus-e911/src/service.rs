//! The tokio driver of `locus e911`: opens the store, serves the HTTP API.
//!
//! The SIP side (reg event subscriber, emergency redirect, PUBLISH) is not
//! wired here yet; its sans-IO cores are in [`crate::subscriber`] and
//! [`crate::redirect`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::api::{router, ApiState};
use crate::config::E911Config;
use crate::store::{StoreError, StoreHandle};

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
        }
    }
}

impl std::error::Error for StartError {}

/// A started, not yet serving manager.
pub struct Manager {
    store: StoreHandle,
    http: tokio::net::TcpListener,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("http", &self.http.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// Opens the store in `data_dir` and binds the HTTP address.
    pub async fn start(config: &E911Config) -> Result<Manager, StartError> {
        let dir = PathBuf::from(&config.data_dir);
        std::fs::create_dir_all(&dir).map_err(|error| StartError::DataDir {
            path: dir.clone(),
            error,
        })?;
        let path = dir.join("e911.sqlite");
        let store = StoreHandle::open(path.clone())
            .await
            .map_err(|error| StartError::Store { path, error })?;
        let http = tokio::net::TcpListener::bind(&config.http_listen)
            .await
            .map_err(|error| StartError::Http {
                addr: config.http_listen.clone(),
                error,
            })?;
        Ok(Manager { store, http })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }

    /// Serves until `shutdown` resolves, then closes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let app = router(ApiState::new(self.store.clone()));
        if let Err(e) = axum::serve(self.http, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HTTP server stopped");
        }
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the store");
        }
    }
}
