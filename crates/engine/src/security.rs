//! Securing the listener: TLS (a server certificate and key), mutual TLS (clients must
//! present a certificate signed by a given CA) and API keys (every request carries
//! `authorization: Bearer <key>`, as Temporal Cloud expects, else `Unauthenticated`).
//!
//! Files are read once, at start, and checked there so that a bad file stops the engine with
//! a message naming it. Keys are held only here and never logged or shown.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tonic::{
    Request, Status,
    transport::{Certificate, Identity, ServerTlsConfig},
};

/// TLS on the engine's listener.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineTls {
    /// PEM file of the server's certificate (its chain may follow it).
    pub cert: PathBuf,
    /// PEM file of the server's private key.
    pub key: PathBuf,
    /// PEM file of the CA that signs client certificates: when set, every client must
    /// present a certificate it signed (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl EngineTls {
    /// TLS with the certificate at `cert` and its key at `key`, no client certificates.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
        }
    }

    /// Require client certificates signed by the CA at `ca` (mutual TLS).
    #[must_use]
    pub fn with_client_ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(ca.into());
        self
    }
}

/// Why the listener cannot be secured as asked. Each says which file and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A file could not be read: fix the path or its permissions.
    #[error("cannot read the {what} {}: {source}", path.display())]
    Read {
        /// What the file is for ("TLS certificate", "API key file"...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A certificate file holds no PEM certificate: give a PEM file (`-----BEGIN
    /// CERTIFICATE-----`).
    #[error("the {what} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no PEM private key: give the certificate's key in PEM (PKCS#8,
    /// PKCS#1 or SEC1).
    #[error(
        "the TLS key {} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
        path.display()
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The certificate and key do not make a usable TLS identity (e.g. the key is not the
    /// certificate's): give the key that belongs to the certificate.
    #[error("the TLS certificate {} and key {} cannot be used together: {source}", cert.display(), key.display())]
    Identity {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What TLS said.
        #[source]
        source: tonic::transport::Error,
    },
    /// The API key file has no key: put one key per line.
    #[error("the API key file {} has no key: put one key per line", path.display())]
    NoApiKeys {
        /// The file.
        path: PathBuf,
    },
}

/// The listener's security, loaded and checked.
#[derive(Clone, Default)]
pub(crate) struct Security {
    pub(crate) tls: Option<ServerTlsConfig>,
    pub(crate) mutual: bool,
    pub(crate) api_keys: Option<Arc<ApiKeys>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("mutual", &self.mutual)
            .field("api_keys", &self.api_keys.as_ref().map(|k| k.keys.len()))
            .finish()
    }
}

impl Security {
    /// Reads and checks the files.
    pub(crate) fn load(
        tls: Option<&EngineTls>,
        api_key_file: Option<&Path>,
    ) -> Result<Self, SecurityError> {
        let mut security = Security::default();
        if let Some(tls) = tls {
            let cert = read("TLS certificate", &tls.cert)?;
            let key = read("TLS key", &tls.key)?;
            require_certificate("TLS certificate", &tls.cert, &cert)?;
            if PrivateKeyDer::from_pem_slice(&key).is_err() {
                return Err(SecurityError::NoKey {
                    path: tls.key.clone(),
                });
            }
            let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
            if let Some(ca) = &tls.client_ca {
                let pem = read("client CA certificate", ca)?;
                require_certificate("client CA certificate", ca, &pem)?;
                config = config.client_ca_root(Certificate::from_pem(pem));
                security.mutual = true;
            }
            // Building the server checks that the key is the certificate's.
            tonic::transport::Server::builder()
                .tls_config(config.clone())
                .map_err(|source| SecurityError::Identity {
                    cert: tls.cert.clone(),
                    key: tls.key.clone(),
                    source,
                })?;
            security.tls = Some(config);
        }
        if let Some(path) = api_key_file {
            let text = std::fs::read_to_string(path).map_err(|source| SecurityError::Read {
                what: "API key file",
                path: path.to_owned(),
                source,
            })?;
            let keys: Vec<Vec<u8>> = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(|line| line.as_bytes().to_vec())
                .collect();
            if keys.is_empty() {
                return Err(SecurityError::NoApiKeys {
                    path: path.to_owned(),
                });
            }
            security.api_keys = Some(Arc::new(ApiKeys { keys }));
        }
        Ok(security)
    }

    /// Logs what protects the listener, and warns when nothing does off loopback.
    pub(crate) fn announce(&self, address: SocketAddr) {
        let keys = self.api_keys.as_ref().map_or(0, |k| k.keys.len());
        let (tls, mutual) = (self.tls.is_some(), self.mutual);
        if address.ip().is_loopback() {
            tracing::debug!(%address, tls, mutual, api_keys = keys, "listener security");
        } else if !tls && keys == 0 {
            tracing::warn!(
                %address,
                "the engine is open: it listens beyond loopback with neither TLS nor API keys, so anyone who reaches it can start, read and terminate workflows; set --tls-cert/--tls-key (and --tls-client-ca) or --api-key-file, or listen on 127.0.0.1"
            );
        } else if !tls {
            tracing::warn!(
                %address,
                api_keys = keys,
                "API keys travel in clear text: the engine listens beyond loopback without TLS; set --tls-cert and --tls-key"
            );
        } else {
            tracing::info!(%address, tls, mutual, api_keys = keys, "listener security");
        }
    }

    /// The check every request passes, on the listener and in process: its
    /// `authorization` must carry a known key.
    pub(crate) fn interceptor(
        &self,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static
    {
        let keys = self.api_keys.clone();
        move |request: Request<()>| check(keys.as_deref(), request)
    }

    /// [`Security::interceptor`]'s check on one request.
    pub(crate) fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        check(self.api_keys.as_deref(), request)
    }
}

fn check(keys: Option<&ApiKeys>, request: Request<()>) -> Result<Request<()>, Status> {
    match keys {
        None => Ok(request),
        Some(keys) => keys.check(request),
    }
}

/// The accepted API keys.
pub(crate) struct ApiKeys {
    keys: Vec<Vec<u8>>,
}

impl ApiKeys {
    fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(value) = request.metadata().get("authorization") else {
            return Err(Status::unauthenticated(
                "no API key: this engine needs the header `authorization: Bearer <key>` (an API key from its --api-key-file)",
            ));
        };
        let value = value.as_bytes();
        let key = match value.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii(),
            _ => {
                return Err(Status::unauthenticated(
                    "the authorization header is not `Bearer <key>`",
                ));
            }
        };
        // Every key is compared in full, so the time taken says nothing about the keys.
        let known = self
            .keys
            .iter()
            .fold(false, |found, candidate| found | same(candidate, key));
        if known {
            Ok(request)
        } else {
            Err(Status::unauthenticated("the API key is not valid"))
        }
    }
}

/// Constant-time equality for equal lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|source| SecurityError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn require_certificate(what: &'static str, path: &Path, pem: &[u8]) -> Result<(), SecurityError> {
    match CertificateDer::pem_slice_iter(pem).next() {
        Some(Ok(_)) => Ok(()),
        _ => Err(SecurityError::NoCertificate {
            what,
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> ApiKeys {
        ApiKeys {
            keys: list.iter().map(|k| k.as_bytes().to_vec()).collect(),
        }
    }

    fn with_header(value: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = value {
            request.metadata_mut().insert(
                "authorization",
                value.parse().unwrap_or_else(|e| panic!("header: {e}")),
            );
        }
        request
    }

    #[test]
    fn a_known_bearer_key_passes_and_others_are_unauthenticated() {
        let k = keys(&["alpha", "beta"]);
        assert!(k.check(with_header(Some("Bearer beta"))).is_ok());
        assert!(k.check(with_header(Some("bearer alpha"))).is_ok());
        for (header, says) in [
            (None, "no API key"),
            (Some("Bearer gamma"), "not valid"),
            (Some("Bearer alph"), "not valid"),
            (Some("Basic alpha"), "Bearer"),
        ] {
            let status = k
                .check(with_header(header))
                .expect_err("refused without a known key");
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
            assert!(status.message().contains(says), "{header:?}: {status:?}");
            assert!(!status.message().contains("alpha"), "never shows a key");
        }
    }

    #[test]
    fn an_empty_key_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("keys.txt");
        std::fs::write(&path, "# no keys yet\n\n").unwrap_or_else(|e| panic!("write: {e}"));
        let err = Security::load(None, Some(&path)).expect_err("no keys");
        assert!(err.to_string().contains("keys.txt"), "{err}");
    }

    #[test]
    fn a_certificate_file_without_a_certificate_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let cert = dir.path().join("server.pem");
        let key = dir.path().join("server.key");
        std::fs::write(&cert, "not a certificate").unwrap_or_else(|e| panic!("write: {e}"));
        std::fs::write(&key, "not a key").unwrap_or_else(|e| panic!("write: {e}"));
        let err = Security::load(Some(&EngineTls::new(&cert, &key)), None).expect_err("bad");
        assert!(err.to_string().contains("server.pem"), "{err}");
    }
}
