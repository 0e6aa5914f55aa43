//! TLS for ferrovs's `ssl:` and `pssl:` targets, as Open vSwitch has them, with rustls
//! (ring provider; no OpenSSL).
//!
//! # What Open vSwitch does, and so this crate
//!
//! - **Mutual authentication.** Both ends present a certificate and both check the peer's
//!   against the configured CA certificate; a peer without a certificate, or with one from
//!   another CA, is refused. Names in certificates are *not* checked (`ovs-pki` names a
//!   switch `sw id:<uuid>`, targets are IP addresses): see [`verify`].
//! - **One set of files per process**: private key, certificate, CA certificate. The daemon
//!   takes them from the `Open_vSwitch` row's `ssl` reference (the `SSL` table), the
//!   command-line tools from `-p`/`-c`/`-C`. [`TlsSource`] holds the current names and the
//!   configuration built from them and rebuilds it when the names or the files change, so
//!   the next connection uses a replaced certificate.
//! - **Errors** are worded as Open vSwitch words them where it can: a missing file is
//!   "Private key must be configured to use SSL" and friends in the log and "Protocol not
//!   available" (`ENOPROTOOPT`) in a status column ([`TlsError::errno_text`]); a failed
//!   handshake is "Protocol error" (`EPROTO`, [`HandshakeError::errno_text`]).
//! - `bootstrap_ca_cert` ([`bootstrap`]): with [`TlsSource::set_bootstrap`], a missing CA
//!   file is filled from the first server's chain, and that connection is failed so the
//!   next one verifies the ordinary way.
//! - Not done: `ssl_protocols` and `ssl_ciphers` (rustls's safe defaults, TLS 1.2 and 1.3,
//!   are used), `--peer-ca-cert` (a chain is sent as the certificate file holds it).
//!
//! # Fitting the existing connection code
//!
//! ferrovs's daemons serve each connection on a thread of its own with blocking reads (a
//! read timeout drives probes and stop flags) and write from other threads through a cloned
//! socket. [`TlsStream`] keeps exactly that shape: `Read`, `Write`, `try_clone`,
//! `set_read_timeout` and `shutdown` behave as a `TcpStream`'s do, the handshake happens in
//! [`TlsStream::connect`]/[`TlsStream::accept`] on the connection's own thread (so a client
//! that sends garbage instead of a hello is dropped without delaying anyone), and the
//! session is shared between clones behind a mutex ([`stream`] explains why this cannot
//! deadlock a reader against a writer).
//!
//! ```no_run
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use fvs_tls::{TlsSource, TlsStream};
//! let tls = TlsSource::new();
//! tls.set(Some("key.pem".into()), Some("cert.pem".into()), Some("cacert.pem".into()));
//! let config = tls.config()?;
//! let sock = TcpStream::connect("127.0.0.1:6653")?;
//! let mut stream = TlsStream::connect(&config, sock, Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bootstrap;
pub mod config;
pub mod stream;
pub mod verify;

pub use config::{FileRole, TlsConfig, TlsError, TlsFiles, TlsSource};
pub use stream::{HandshakeError, TlsStream};

/// How long a handshake may take unless the caller says otherwise (Open vSwitch gives a
/// connection its probe interval or backoff; this is a bound for callers without one).
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An I/O error as Open vSwitch words it: the system's message, without Rust's
/// " (os error N)".
pub fn os_words(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
