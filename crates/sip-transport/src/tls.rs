//! rustls configurations from PEM files (ring provider).

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn open(path: &Path) -> Result<BufReader<File>, Error> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| Error::PemFile {
            path: path.to_owned(),
            source,
        })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<io::Result<Vec<_>>>()
        .map_err(|source| Error::PemFile {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(Error::PemEmpty {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| Error::PemFile {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| Error::PemEmpty {
            path: path.to_owned(),
            what: "private key",
        })
}

/// The server side: the certificate chain and key of TLS listeners.
pub(crate) fn server_config(cert: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, Error> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs(cert)?, key(key_path)?)?;
    Ok(Arc::new(config))
}

/// The client side: the CAs trusted when opening TLS connections.
pub(crate) fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca)? {
        roots.add(cert)?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
