//! A blocking JSON-RPC 1.0 client over a Unix or TCP stream, as RFC 7047 uses it.
//!
//! fvs-vsctl makes one request at a time and waits for its reply. While it waits, the server
//! may send requests of its own (`echo`, which it must answer to stay connected) and
//! notifications (`update`, ignored here because this client does not monitor).

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::VsctlError;

/// Where the database server listens: `unix:PATH`, `tcp:IP[:PORT]` or `ssl:IP[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// A Unix domain socket.
    Unix(String),
    /// A TCP address, `IP:PORT` (IPv6 addresses in brackets).
    Tcp(String),
    /// A TCP address spoken to over TLS, `IP:PORT`.
    Ssl(String),
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{p}"),
            Self::Tcp(a) => write!(f, "tcp:{a}"),
            Self::Ssl(a) => write!(f, "ssl:{a}"),
        }
    }
}

impl Remote {
    /// Parses ovs-vsctl's active remote syntax.
    pub fn parse(text: &str) -> Result<Self, VsctlError> {
        if let Some(path) = text.strip_prefix("unix:") {
            return Ok(Self::Unix(path.to_owned()));
        }
        let tcp = text.strip_prefix("tcp:").map(|a| (a, false));
        if let Some((addr, tls)) = tcp.or_else(|| text.strip_prefix("ssl:").map(|a| (a, true))) {
            // OVSDB's well-known port when none is given.
            let has_port = match addr.rfind(']') {
                Some(close) => addr[close..].contains(':'),
                None => addr.contains(':'),
            };
            let addr = if has_port {
                addr.to_owned()
            } else {
                format!("{addr}:6640")
            };
            return Ok(if tls {
                Self::Ssl(addr)
            } else {
                Self::Tcp(addr)
            });
        }
        Err(VsctlError::BadRemote(text.to_owned()))
    }
}

/// One connection to a server.
pub struct Client {
    reader: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<BufReader<Box<dyn Read>>>,
        Value,
    >,
    writer: Box<dyn Write>,
    next_id: u64,
    /// For an `ssl:` remote until its first reply: its name. A server that refuses this
    /// end's certificate does so after the client's side of a TLS 1.3 handshake is done,
    /// so the first exchange fails instead, and ovs-vsctl reports that as a failed
    /// connection.
    tls_unproven: Option<String>,
}

impl Client {
    /// Connects; `timeout` bounds every read and write (None waits forever). An `ssl:`
    /// remote uses `tls`'s files: as with ovs-vsctl, each missing one is reported on stderr
    /// and the connection fails with "Protocol not available"; a failed handshake (a
    /// server from another CA) with "Protocol error".
    pub fn connect(
        remote: &Remote,
        timeout: Option<Duration>,
        tls: &fvs_tls::TlsSource,
    ) -> Result<Self, VsctlError> {
        let failed = |reason: String| VsctlError::Connect {
            remote: remote.to_string(),
            reason,
        };
        let fail = |e: std::io::Error| failed(strerror(&e));
        let (read, write): (Box<dyn Read>, Box<dyn Write>) = match remote {
            Remote::Unix(path) => {
                let s = UnixStream::connect(path).map_err(fail)?;
                s.set_read_timeout(timeout).map_err(fail)?;
                s.set_write_timeout(timeout).map_err(fail)?;
                (Box::new(s.try_clone().map_err(fail)?), Box::new(s))
            }
            Remote::Tcp(addr) => {
                let s = TcpStream::connect(addr.as_str()).map_err(fail)?;
                s.set_read_timeout(timeout).map_err(fail)?;
                s.set_write_timeout(timeout).map_err(fail)?;
                s.set_nodelay(true).map_err(fail)?;
                (Box::new(s.try_clone().map_err(fail)?), Box::new(s))
            }
            Remote::Ssl(addr) => {
                let config = tls.config().map_err(|e| {
                    for line in e.messages() {
                        eprintln!("stream_ssl|ERR|{line}");
                    }
                    failed(e.errno_text().to_owned())
                })?;
                let s = TcpStream::connect(addr.as_str()).map_err(fail)?;
                s.set_nodelay(true).map_err(fail)?;
                let handshake = timeout.unwrap_or(fvs_tls::DEFAULT_HANDSHAKE_TIMEOUT);
                let s = fvs_tls::TlsStream::connect(&config, s, handshake).map_err(|e| {
                    eprintln!("stream_ssl|WARN|{e}");
                    failed(e.errno_text())
                })?;
                s.set_read_timeout(timeout).map_err(fail)?;
                s.set_write_timeout(timeout).map_err(fail)?;
                (Box::new(s.try_clone().map_err(fail)?), Box::new(s))
            }
        };
        let reader = serde_json::Deserializer::from_reader(BufReader::new(read)).into_iter();
        Ok(Self {
            reader,
            writer: write,
            next_id: 0,
            tls_unproven: matches!(remote, Remote::Ssl(_)).then(|| remote.to_string()),
        })
    }

    /// Sends a request and returns its `result`; an `error` reply becomes
    /// [`VsctlError::Rpc`].
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, VsctlError> {
        let result = self.call_inner(method, params);
        match (self.tls_unproven.take(), result) {
            // OpenSSL reads an alert as EIO; ovs-vsctl may also meet the closed socket
            // first, writing (EPIPE).
            (Some(remote), Err(VsctlError::Protocol(e))) => Err(VsctlError::Connect {
                remote,
                reason: if e.contains("alert") {
                    "Input/output error".into()
                } else {
                    e
                },
            }),
            (_, result) => result,
        }
    }

    fn call_inner(&mut self, method: &str, params: Value) -> Result<Value, VsctlError> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"method": method, "params": params, "id": id}))?;
        loop {
            let msg = match self.reader.next() {
                Some(Ok(msg)) => msg,
                Some(Err(e)) if is_timeout(e.io_error_kind()) => {
                    return Err(VsctlError::Timeout(0));
                }
                Some(Err(e)) => return Err(VsctlError::Protocol(e.to_string())),
                None => return Err(VsctlError::Protocol("connection closed by server".into())),
            };
            if let Some(method) = msg.get("method").and_then(Value::as_str) {
                // A request from the server: answer echo, ignore notifications.
                if method == "echo"
                    && let Some(req_id) = msg.get("id")
                    && !req_id.is_null()
                {
                    let params = msg.get("params").cloned().unwrap_or(Value::Array(vec![]));
                    self.send(&json!({"result": params, "error": null, "id": req_id}))?;
                }
                continue;
            }
            if msg.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            return match msg.get("error") {
                Some(err) if !err.is_null() => Err(VsctlError::Rpc(err.to_string())),
                _ => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
            };
        }
    }

    fn send(&mut self, msg: &Value) -> Result<(), VsctlError> {
        let text = msg.to_string();
        self.writer
            .write_all(text.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| {
                if is_timeout(Some(e.kind())) {
                    VsctlError::Timeout(0)
                } else {
                    VsctlError::Protocol(e.to_string())
                }
            })
    }
}

/// An I/O error as C's `strerror` words it (as Open vSwitch prints it): without the
/// "(os error N)" that Rust appends.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// Whether an I/O error is a socket timeout (`--timeout` expiring in a read or write).
fn is_timeout(kind: Option<std::io::ErrorKind>) -> bool {
    matches!(
        kind,
        Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    )
}
