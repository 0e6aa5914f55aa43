//! From three PEM files to rustls configurations, and a source that reloads them when the
//! files (or the choice of files) change.
//!
//! Open vSwitch configures one private key, one certificate (chain) and one CA certificate
//! per process and uses them for every `ssl:`/`pssl:` connection, in both directions: the
//! client presents its certificate too, and each side checks the peer's chain against the
//! CA certificate. [`TlsConfig`] holds both rustls configurations built from one such set;
//! [`TlsSource`] is what a daemon keeps: the current file names (from the database's `SSL`
//! row), the configuration last built from them, and the files' modification times, so a
//! key or certificate replaced on disk is picked up by the next connection, as Open
//! vSwitch's `stream_ssl_set_*` re-read changed files.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::verify::AnyNameVerifier;

/// The three files an `SSL` row (or `-p`/`-c`/`-C`) names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsFiles {
    /// The private key (PKCS#8, PKCS#1 RSA or SEC1 EC, PEM).
    pub private_key: PathBuf,
    /// This end's certificate, optionally followed by its chain (PEM).
    pub certificate: PathBuf,
    /// The CA certificate(s) a peer's certificate must chain to (PEM).
    pub ca_cert: PathBuf,
}

/// Which of the three files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    /// `private_key`.
    PrivateKey,
    /// `certificate`.
    Certificate,
    /// `ca_cert`.
    CaCert,
}

impl std::fmt::Display for FileRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PrivateKey => "private key",
            Self::Certificate => "certificate",
            Self::CaCert => "CA certificate",
        })
    }
}

/// Why no TLS configuration could be built. Each of these makes Open vSwitch refuse to
/// open an SSL connection with `ENOPROTOOPT` ("Protocol not available", see
/// [`TlsError::errno_text`]) after logging the message; the first three use its words.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Files not configured (at least one): Open vSwitch logs one line for each, in this
    /// order; [`TlsError::messages`] gives those lines, `Display` joins them with newlines.
    #[error("{}", missing_lines(.0).join("\n"))]
    Missing(Vec<FileRole>),
    /// A file could not be read.
    #[error("{path}: could not read {role} file ({reason})")]
    Read {
        /// Which file.
        role: FileRole,
        /// Its name.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// A file holds no PEM object of the kind wanted, or a malformed one.
    #[error("{path}: no usable {role} in file")]
    NoPem {
        /// Which file.
        role: FileRole,
        /// Its name.
        path: String,
    },
    /// The key does not belong to the certificate, or rustls cannot use it.
    #[error("Private key does not match certificate public key ({0})")]
    KeyMismatch(String),
    /// The CA file's certificates could not be used as trust anchors.
    #[error("{path}: CA certificate not usable ({reason})")]
    BadCa {
        /// Its name.
        path: String,
        /// What rustls said.
        reason: String,
    },
}

fn missing_lines(roles: &[FileRole]) -> Vec<String> {
    roles
        .iter()
        .map(|r| match r {
            FileRole::PrivateKey => "Private key must be configured to use SSL".to_owned(),
            FileRole::Certificate => "Certificate must be configured to use SSL".to_owned(),
            FileRole::CaCert => "CA certificate must be configured to use SSL".to_owned(),
        })
        .collect()
}

impl TlsError {
    /// The log lines for this error (one per missing file, else one).
    pub fn messages(&self) -> Vec<String> {
        match self {
            Self::Missing(roles) => missing_lines(roles),
            other => vec![other.to_string()],
        }
    }

    /// What Open vSwitch shows in a connection's `last_error` for this failure: the text of
    /// `ENOPROTOOPT`, whatever the detail (the detail goes to the log).
    pub fn errno_text(&self) -> &'static str {
        "Protocol not available"
    }
}

/// Client and server configurations built from one [`TlsFiles`].
#[derive(Debug, Clone)]
pub struct TlsConfig {
    files: TlsFiles,
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

/// The crypto provider: ring only, with its default suites (TLS 1.3 and the ECDHE TLS 1.2
/// suites Open vSwitch 3.1's OpenSSL offers by default).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(role: FileRole, path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|e| TlsError::Read {
        role,
        path: path.display().to_string(),
        reason: crate::os_words(&e),
    })
}

fn no_pem(role: FileRole, path: &Path) -> TlsError {
    TlsError::NoPem {
        role,
        path: path.display().to_string(),
    }
}

/// Every certificate in a PEM file, in order; an error if there is none.
fn certificates(role: FileRole, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(role, path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| no_pem(role, path))?;
    if certs.is_empty() {
        return Err(no_pem(role, path));
    }
    Ok(certs)
}

impl TlsConfig {
    /// Reads the three files and builds both configurations.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let pem = read(FileRole::PrivateKey, &files.private_key)?;
        let key = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|_| no_pem(FileRole::PrivateKey, &files.private_key))?;
        let chain = certificates(FileRole::Certificate, &files.certificate)?;
        let mut roots = RootCertStore::empty();
        for ca in certificates(FileRole::CaCert, &files.ca_cert)? {
            roots.add(ca).map_err(|e| TlsError::BadCa {
                path: files.ca_cert.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let roots = Arc::new(roots);
        let provider = provider();
        let bad_ca = |e: &dyn std::fmt::Display| TlsError::BadCa {
            path: files.ca_cert.display().to_string(),
            reason: e.to_string(),
        };

        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| bad_ca(&e))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?;

        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| bad_ca(&e))?;
        let server_verifier = Arc::new(AnyNameVerifier::new(
            roots,
            webpki,
            provider.signature_verification_algorithms,
        ));
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(server_verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?;
        Ok(Self {
            files: files.clone(),
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }

    /// A configuration for bootstrapping ([`crate::bootstrap`]): the key and certificate
    /// as usual; a client that takes the server's CA certificate on trust and saves it to
    /// `files.ca_cert`, and a server that asks for no client certificate.
    pub fn load_bootstrap(files: &TlsFiles) -> Result<Self, TlsError> {
        let pem = read(FileRole::PrivateKey, &files.private_key)?;
        let key = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|_| no_pem(FileRole::PrivateKey, &files.private_key))?;
        let chain = certificates(FileRole::Certificate, &files.certificate)?;
        let provider = provider();
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?;
        let verifier = Arc::new(crate::bootstrap::BootstrapVerifier::new(
            files.ca_cert.clone(),
            provider.signature_verification_algorithms,
        ));
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError::KeyMismatch(e.to_string()))?;
        Ok(Self {
            files: files.clone(),
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }

    /// The files this was built from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// For connecting out (`ssl:`).
    pub fn client(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    /// For accepting (`pssl:`).
    pub fn server(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }
}

/// The modification times of the three files (`None` for one that cannot be stat'ed).
fn stamps(files: &TlsFiles) -> [Option<SystemTime>; 3] {
    let m = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    [
        m(&files.private_key),
        m(&files.certificate),
        m(&files.ca_cert),
    ]
}

/// What a [`TlsSource`] remembers.
#[derive(Debug, Default)]
struct SourceState {
    /// The configured files: each may be missing, as in an `SSL` row being filled in.
    private_key: Option<PathBuf>,
    certificate: Option<PathBuf>,
    ca_cert: Option<PathBuf>,
    /// `bootstrap_ca_cert`: a missing CA file is to be filled from the first peer.
    bootstrap: bool,
    /// The configuration built last, and the stamps of the files it was built from.
    built: Option<(Arc<TlsConfig>, [Option<SystemTime>; 3])>,
}

/// A process's TLS settings: set from the database (or command line) at any time, read by
/// every connection attempt, rebuilt when the file names or the files' modification times
/// change. Cheap to share (`Arc`); all methods take `&self`.
#[derive(Debug, Default)]
pub struct TlsSource {
    state: Mutex<SourceState>,
}

impl TlsSource {
    /// A source with no files configured yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the three file names (any may be `None`: "not configured"); the next
    /// [`TlsSource::config`] builds afresh if they changed.
    pub fn set(
        &self,
        private_key: Option<PathBuf>,
        certificate: Option<PathBuf>,
        ca_cert: Option<PathBuf>,
    ) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.private_key != private_key || s.certificate != certificate || s.ca_cert != ca_cert {
            *s = SourceState {
                private_key,
                certificate,
                ca_cert,
                bootstrap: s.bootstrap,
                built: None,
            };
        }
    }

    /// Turns `bootstrap_ca_cert` on or off ([`crate::bootstrap`]): with it, while the CA
    /// certificate file does not exist, the first server connected to provides it.
    pub fn set_bootstrap(&self, on: bool) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.bootstrap != on {
            s.bootstrap = on;
            s.built = None;
        }
    }

    /// Sets one file name, leaving the others (as `-p`, `-c` and `-C` each set one).
    pub fn set_file(&self, role: FileRole, path: Option<PathBuf>) {
        let (mut key, mut cert, mut ca) = {
            let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            (
                s.private_key.clone(),
                s.certificate.clone(),
                s.ca_cert.clone(),
            )
        };
        match role {
            FileRole::PrivateKey => key = path,
            FileRole::Certificate => cert = path,
            FileRole::CaCert => ca = path,
        }
        self.set(key, cert, ca);
    }

    /// The configuration for a new connection: the one built last if the files have not
    /// changed since, else a fresh one.
    pub fn config(&self) -> Result<Arc<TlsConfig>, TlsError> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (Some(private_key), Some(certificate), Some(ca_cert)) =
            (&s.private_key, &s.certificate, &s.ca_cert)
        else {
            // Open vSwitch checks all three and logs each missing one.
            let missing = [
                (s.private_key.is_none(), FileRole::PrivateKey),
                (s.certificate.is_none(), FileRole::Certificate),
                (s.ca_cert.is_none(), FileRole::CaCert),
            ];
            return Err(TlsError::Missing(
                missing.into_iter().filter(|m| m.0).map(|m| m.1).collect(),
            ));
        };
        let files = TlsFiles {
            private_key: private_key.clone(),
            certificate: certificate.clone(),
            ca_cert: ca_cert.clone(),
        };
        let now = stamps(&files);
        if let Some((config, then)) = &s.built
            && *then == now
        {
            return Ok(config.clone());
        }
        let config = Arc::new(
            if s.bootstrap && now[2].is_none() && !files.ca_cert.exists() {
                TlsConfig::load_bootstrap(&files)?
            } else {
                TlsConfig::load(&files)?
            },
        );
        s.built = Some((config.clone(), now));
        Ok(config)
    }
}
