//! TLS server configuration: the admin's PEM files, or a self-signed certificate for
//! the host name, created once in `data_dir/tls/` and reused on later starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file held nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// Which file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// Generating the self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
    /// rustls refused the certificate and key.
    #[error("certificate and key do not make a TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the generated certificate lives.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Returns the certificate and key paths in use, creating the self-signed pair when
/// `[tls]` names none and none exists yet. The bool says whether one was created.
pub fn ensure_certificate(config: &Config) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        return Ok((cert.clone(), key.clone(), false));
    }
    let (cert, key) = self_signed_paths(&config.data_dir);
    if cert.exists() && key.exists() {
        return Ok((cert, key, false));
    }
    let generated = self_signed(config).map_err(|e| TlsError::Generate(e.to_string()))?;
    let dir = cert.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert, generated.cert.pem()).map_err(|source| TlsError::Io {
        path: cert.clone(),
        source,
    })?;
    Ok((cert, key, true))
}

/// The names a self-signed certificate carries: `hostname`, `localhost`, and the IP
/// address of every listener (a wildcard address such as 0.0.0.0 names no host, so it
/// is left out). A client that connects to an address checks it against the IP
/// addresses in the SAN (RFC 6125 §6.2.1 leaves IP identities to the SAN; Thunderbird
/// refuses the certificate otherwise).
pub fn self_signed_names(config: &Config) -> Vec<String> {
    let mut names = vec![config.hostname.clone()];
    let mut add = |n: String| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    add("localhost".into());
    for (_, addr) in config.listeners() {
        if !addr.ip().is_unspecified() {
            add(addr.ip().to_string());
        }
    }
    names
}

/// A new key and a certificate for [`self_signed_names`], its subject's common name
/// the `hostname`.
fn self_signed(config: &Config) -> Result<rcgen::CertifiedKey<rcgen::KeyPair>, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(self_signed_names(config))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, config.hostname.clone());
    params.distinguished_name = dn;
    let signing_key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&signing_key)?;
    Ok(rcgen::CertifiedKey { cert, signing_key })
}

/// Writes a file readable by its owner only (the private key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// The certificate new handshakes get, replaceable while the server runs (SIGHUP):
/// rustls asks this resolver at every handshake, so sessions already established keep
/// theirs and new ones see the new certificate at once.
#[derive(Debug)]
pub struct LiveCert {
    current: std::sync::RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

impl LiveCert {
    /// Loads the certificate and key `config` names (or the generated pair, made if
    /// missing) and puts them in place for new handshakes. On an error nothing changes.
    pub fn reload(&self, config: &Config) -> Result<(), TlsError> {
        let (cert, key, _) = ensure_certificate(config)?;
        let loaded = Arc::new(certified_key(&cert, &key)?);
        if let Ok(mut current) = self.current.write() {
            *current = loaded;
        }
        Ok(())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate chain and key from PEM files, checked to belong together.
fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let pem = |path: &Path, what: String| TlsError::Pem {
        path: path.to_path_buf(),
        what,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem(cert, "no CERTIFICATE block".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, e.to_string()))?;
    Ok(CertifiedKey::from_der(certs, key_der, &provider())?)
}

/// Builds the rustls server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    Ok(live_server_config(cert, key)?.0)
}

/// The server configuration with its [`LiveCert`], for replacing the certificate.
fn live_server_config(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<ServerConfig>, Arc<LiveCert>), TlsError> {
    let live = Arc::new(LiveCert {
        current: std::sync::RwLock::new(Arc::new(certified_key(cert, key)?)),
    });
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(live.clone());
    Ok((Arc::new(config), live))
}

/// `ensure_certificate` then `server_config`.
pub fn load(config: &Config) -> Result<(Arc<ServerConfig>, bool), TlsError> {
    let (tls, _, created) = load_live(config)?;
    Ok((tls, created))
}

/// [`load`], with the [`LiveCert`] that SIGHUP reloads.
pub fn load_live(config: &Config) -> Result<(Arc<ServerConfig>, Arc<LiveCert>, bool), TlsError> {
    let (cert, key, created) = ensure_certificate(config)?;
    let (tls, live) = live_server_config(&cert, &key)?;
    Ok((tls, live, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let (_, created) = load(&config).expect("first load");
        assert!(created);
        let (cert, _) = self_signed_paths(dir.path());
        let before = std::fs::read(&cert).expect("cert");
        let (_, created) = load(&config).expect("second load");
        assert!(!created);
        assert_eq!(before, std::fs::read(&cert).expect("cert"), "reused");
    }

    #[test]
    fn self_signed_names_table() {
        let rows: &[(&str, &str, &[&str])] = &[
            (
                "localhost",
                "[listen]\nsmtp = \"127.0.0.1:25\"\nimap = \"127.0.0.2:143\"\nimaps = \"[::1]:993\"\n",
                &["localhost", "127.0.0.1", "127.0.0.2", "::1"],
            ),
            (
                "mail.example.com",
                "[listen]\nsmtp = \"0.0.0.0:25\"\nsubmission = \"\"\nsubmissions = \"\"\nimap = \"\"\nimaps = \"[::]:993\"\nhttp = \"192.0.2.7:80\"\n",
                &["mail.example.com", "localhost", "192.0.2.7"],
            ),
        ];
        for (host, listen, want) in rows {
            let text = format!("hostname = \"{host}\"\n{listen}");
            let config = Config::parse(&text, "t").expect("config");
            assert_eq!(self_signed_names(&config), *want, "{text}");
        }
    }

    #[test]
    fn bad_pem_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not pem").expect("write");
        let err = server_config(&cert, &cert)
            .expect_err("bad pem")
            .to_string();
        assert!(err.contains("c.pem"), "{err}");
    }
}
