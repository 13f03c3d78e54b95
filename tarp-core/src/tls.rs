//! TLS configuration (feature `tls`): rustls configurations built from PEM files, always with
//! the `ring` provider, for both adapters (`tarp-blocking` drives rustls over `std::net`,
//! `tarp-smol` through `futures-rustls`). This module reads the PEM files it is given and
//! nothing else: no sockets; the TLS connections themselves belong to the adapters.
//!
//! The server side mirrors the Python `runServer(secure=True, certfile=, keyfile=)`: a
//! certificate chain and a private key, each in a PEM file (they may be the same file, as with
//! Python's `snakeoil.pem`). The client side mirrors the Python client's `server_key`: the path
//! of a CA or self-signed certificate to trust; without one, the system's CA bundle is used.
//!
//! The crypto provider is always passed explicitly (never installed process-wide), so an
//! application that picks another provider for its own use is not disturbed.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Why a TLS configuration could not be built. Every variant names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no `CERTIFICATE` section.
    #[error("{0}: no PEM certificate found")]
    NoCertificate(PathBuf),
    /// The file holds no private key (PKCS#1, PKCS#8 or SEC1) section.
    #[error("{0}: no PEM private key found")]
    NoPrivateKey(PathBuf),
    /// rustls refused the material (key does not match, unsupported algorithm, bad DER...).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// No certificate of a CA file could be used as a trust anchor.
    #[error("{0}: none of its certificates can be used as a trust anchor")]
    NoTrustAnchor(PathBuf),
    /// No CA file was given and no system CA bundle was found.
    #[error("no CA file given and no system CA bundle found (set SSL_CERT_FILE)")]
    NoSystemRoots,
}

/// The crypto provider every configuration of this crate uses: rustls' `ring` provider.
pub fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn open(path: &Path) -> Result<BufReader<File>, TlsError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Reads every certificate of a PEM file, in order (leaf first for a chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut reader = open(path)?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Io {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut reader = open(path)?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(|source| TlsError::Io {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoPrivateKey(path.to_owned()))
}

/// A server configuration from a PEM certificate chain and a PEM private key (no client
/// authentication; TLS 1.2 and 1.3; `http/1.1` offered by ALPN).
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(cert_file)?;
    let key = load_private_key(key_file)?;
    server_config_from_der(certs, key)
}

/// A server configuration from certificates and a key already in memory.
pub fn server_config_from_der(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A root store trusting every certificate of a PEM file (a CA, or a self-signed server
/// certificate, as the Python client's `server_key`).
pub fn root_store(ca_file: &Path) -> Result<RootCertStore, TlsError> {
    let certs = load_certs(ca_file)?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::NoTrustAnchor(ca_file.to_owned()));
    }
    Ok(store)
}

/// Well-known locations of the system's CA bundle, tried in order when a client is given no CA
/// file (the `SSL_CERT_FILE` environment variable, as OpenSSL honours it, comes first).
pub const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
];

/// The first system CA bundle found (see [`SYSTEM_CA_BUNDLES`]), if any.
pub fn system_ca_bundle() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Some(path);
        }
    }
    SYSTEM_CA_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A client configuration trusting the certificates of `ca_file`, or the system CA bundle
/// when `None` (TLS 1.2 and 1.3, `http/1.1` by ALPN).
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match ca_file {
        Some(path) => root_store(path)?,
        None => root_store(&system_ca_bundle().ok_or(TlsError::NoSystemRoots)?)?,
    };
    let mut config = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_temp(name: &str, contents: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tarp-core-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn builds_server_and_client_configs_from_generated_pem() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cert_path = write_temp("cert.pem", &cert.pem());
        let key_path = write_temp("key.pem", &key.serialize_pem());
        server_config(&cert_path, &key_path).unwrap();
        assert_eq!(root_store(&cert_path).unwrap().len(), 1);
        client_config(Some(&cert_path)).unwrap();
        let both = write_temp(
            "both.pem",
            &format!("{}{}", cert.pem(), key.serialize_pem()),
        );
        server_config(&both, &both).unwrap();
    }

    #[test]
    fn clear_errors_for_missing_empty_or_mismatched_files() {
        let empty = write_temp("empty.pem", "not a pem file\n");
        assert!(matches!(
            load_certs(&empty),
            Err(TlsError::NoCertificate(_))
        ));
        assert!(matches!(
            load_private_key(&empty),
            Err(TlsError::NoPrivateKey(_))
        ));
        let missing = Path::new("/nonexistent/tarp/cert.pem");
        let err = server_config(missing, missing).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/tarp/cert.pem"),
            "{err}"
        );
        let err = client_config(Some(missing)).unwrap_err();
        assert!(matches!(err, TlsError::Io { .. }), "{err}");

        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_path = write_temp("c2.pem", &cert.pem());
        let key_path = write_temp("k2.pem", &other.serialize_pem());
        assert!(matches!(
            server_config(&cert_path, &key_path),
            Err(TlsError::Rustls(_))
        ));
    }
}
