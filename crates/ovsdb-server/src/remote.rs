//! Where the server listens or connects, as ovsdb-server(1) names it: passive `punix:PATH`,
//! `ptcp:PORT[:IP]` and `pssl:[PORT][:IP]` (clients connect to us), active `unix:PATH`,
//! `tcp:IP:PORT` and `ssl:IP[:PORT]` (we connect out, and serve the database on that
//! connection), and the byte streams either kind yields.
//!
//! The TLS kinds bind and connect as TCP does; the handshake is run by the connection's own
//! thread ([`crate::service`]) with the server's TLS files ([`crate::Handle::tls`]), so a
//! client that never completes one delays nobody else. Their default port is 6640,
//! OVSDB's IANA port.
//!
//! Each remote has options ([`RemoteConfig`]) as ovsdb-server takes them from a `Manager`
//! row: the inactivity probe interval, and for active remotes the longest backoff between
//! connection attempts.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

/// A remote: where to listen, or where to connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Remote {
    /// `punix:PATH`: listen on a Unix domain socket.
    Unix(PathBuf),
    /// `ptcp:PORT[:IP]`: listen on TCP, on every IPv4 address unless one is given.
    Tcp(SocketAddr),
    /// `unix:PATH`: connect to a Unix domain socket.
    ConnectUnix(PathBuf),
    /// `tcp:IP:PORT`: connect over TCP.
    ConnectTcp(SocketAddr),
    /// `pssl:[PORT][:IP]`: listen on TCP and speak TLS, on every IPv4 address unless one is
    /// given.
    Ssl(SocketAddr),
    /// `ssl:IP[:PORT]`: connect over TCP and speak TLS.
    ConnectSsl(SocketAddr),
}

/// OVSDB's IANA port, the default of `ssl:` and `pssl:`.
pub const DEFAULT_SSL_PORT: u16 = 6640;

/// A remote that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    /// Not `punix:`, `ptcp:`, `pssl:`, `unix:`, `tcp:` or `ssl:`.
    #[error(
        "{0}: unknown remote type (expected punix:PATH, ptcp:PORT[:IP], pssl:[PORT][:IP], unix:PATH, tcp:IP:PORT or ssl:IP[:PORT])"
    )]
    UnknownType(String),
    /// The port or address of a TCP remote is not valid.
    #[error("{0}: bad port or IP address")]
    BadAddress(String),
}

/// The inactivity probe interval when a remote does not set one: Open vSwitch's 5 s for
/// TCP (a peer can vanish without a word), none for Unix sockets (the kernel says when the
/// peer goes).
pub const DEFAULT_PROBE: Duration = Duration::from_secs(5);

/// The longest wait between connection attempts of an active remote when it does not set
/// one (Open vSwitch's default); attempts start 1 s apart and double up to it.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The first wait after a failed or lost connection of an active remote.
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);

/// A remote with its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteConfig {
    /// Where.
    pub remote: Remote,
    /// How long a connection may stay silent before the server sends it an `echo`, and then
    /// how long it has to answer before it is dropped. `None`: [`DEFAULT_PROBE`] for TCP
    /// remotes, none for Unix ones; `Some(Duration::ZERO)`: no probes.
    pub inactivity_probe: Option<Duration>,
    /// For active remotes, the longest wait between connection attempts; `None`:
    /// [`DEFAULT_MAX_BACKOFF`].
    pub max_backoff: Option<Duration>,
}

impl From<Remote> for RemoteConfig {
    fn from(remote: Remote) -> Self {
        Self {
            remote,
            inactivity_probe: None,
            max_backoff: None,
        }
    }
}

impl RemoteConfig {
    /// The probe interval in force, `None` when probes are off.
    pub fn probe_interval(&self) -> Option<Duration> {
        let tcp = self.remote.is_tcp();
        match self.inactivity_probe {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => tcp.then_some(DEFAULT_PROBE),
        }
    }

    /// The longest backoff in force (at least [`MIN_BACKOFF`]).
    pub fn backoff_limit(&self) -> Duration {
        self.max_backoff
            .unwrap_or(DEFAULT_MAX_BACKOFF)
            .max(MIN_BACKOFF)
    }
}

impl Remote {
    /// Whether the server connects out (rather than listens).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Self::ConnectUnix(_) | Self::ConnectTcp(_) | Self::ConnectSsl(_)
        )
    }

    /// Whether connections run over TCP (plain or TLS), where a peer can vanish unnoticed.
    pub fn is_tcp(&self) -> bool {
        !matches!(self, Self::Unix(_) | Self::ConnectUnix(_))
    }

    /// Whether connections speak TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Ssl(_) | Self::ConnectSsl(_))
    }

    /// Connects an active remote, giving up on a TCP peer that does not answer within
    /// `timeout`; a passive remote cannot be connected to from here. An `ssl:` remote
    /// yields the TCP stream, for the caller to run the handshake on.
    pub fn connect(&self, timeout: Duration) -> io::Result<Stream> {
        match self {
            Self::ConnectUnix(path) => UnixStream::connect(path).map(Stream::Unix),
            Self::ConnectTcp(addr) | Self::ConnectSsl(addr) => {
                let s = TcpStream::connect_timeout(addr, timeout)?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Self::Unix(_) | Self::Tcp(_) | Self::Ssl(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a passive remote is listened on, not connected to",
            )),
        }
    }

    /// Parses a remote's text form.
    pub fn parse(text: &str) -> Result<Self, RemoteError> {
        if let Some(path) = text.strip_prefix("punix:") {
            if path.is_empty() {
                return Err(RemoteError::UnknownType(text.to_owned()));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("ptcp:") {
            let bad = || RemoteError::BadAddress(text.to_owned());
            let (port, ip) = match rest.split_once(':') {
                Some((p, ip)) => {
                    let ip = ip.trim_start_matches('[').trim_end_matches(']');
                    (p, ip.parse::<IpAddr>().map_err(|_| bad())?)
                }
                None => (rest, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            };
            let port = port.parse::<u16>().map_err(|_| bad())?;
            return Ok(Self::Tcp(SocketAddr::new(ip, port)));
        }
        if let Some(rest) = text.strip_prefix("pssl:") {
            let bad = || RemoteError::BadAddress(text.to_owned());
            let (port, ip) = rest.split_once(':').unwrap_or((rest, ""));
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let ip = if ip.is_empty() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                ip.parse::<IpAddr>().map_err(|_| bad())?
            };
            let port = if port.is_empty() {
                DEFAULT_SSL_PORT
            } else {
                port.parse::<u16>().map_err(|_| bad())?
            };
            return Ok(Self::Ssl(SocketAddr::new(ip, port)));
        }
        if let Some(rest) = text.strip_prefix("ssl:") {
            let bad = || RemoteError::BadAddress(text.to_owned());
            // IP[:PORT]; an IPv6 address in brackets.
            let (ip, port) = match rest.strip_prefix('[') {
                Some(r) => {
                    let (ip, after) = r.split_once(']').ok_or_else(bad)?;
                    (ip, after.strip_prefix(':').unwrap_or(""))
                }
                None => rest.split_once(':').unwrap_or((rest, "")),
            };
            let ip = ip.parse::<IpAddr>().map_err(|_| bad())?;
            let port = if port.is_empty() {
                DEFAULT_SSL_PORT
            } else {
                port.parse::<u16>().map_err(|_| bad())?
            };
            return Ok(Self::ConnectSsl(SocketAddr::new(ip, port)));
        }
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(RemoteError::UnknownType(text.to_owned()));
            }
            return Ok(Self::ConnectUnix(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("tcp:") {
            let bad = || RemoteError::BadAddress(text.to_owned());
            // IP:PORT, the IP of IPv6 in brackets; the last colon separates the port.
            let (ip, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let ip = ip.parse::<IpAddr>().map_err(|_| bad())?;
            let port = port.parse::<u16>().map_err(|_| bad())?;
            return Ok(Self::ConnectTcp(SocketAddr::new(ip, port)));
        }
        Err(RemoteError::UnknownType(text.to_owned()))
    }

    /// Binds the listener of a passive remote. A stale Unix socket file left by a previous
    /// run is replaced.
    pub fn bind(&self) -> io::Result<Listener> {
        match self {
            Self::Unix(path) => {
                if path.exists() && UnixStream::connect(path).is_err() {
                    std::fs::remove_file(path)?;
                }
                Ok(Listener::Unix(UnixListener::bind(path)?))
            }
            Self::Tcp(addr) | Self::Ssl(addr) => Ok(Listener::Tcp(TcpListener::bind(addr)?)),
            Self::ConnectUnix(_) | Self::ConnectTcp(_) | Self::ConnectSsl(_) => {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an active remote is connected to, not listened on",
                ))
            }
        }
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tcp = |a: &SocketAddr| match a.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        match self {
            Self::Unix(p) => write!(f, "punix:{}", p.display()),
            Self::Tcp(a) => write!(f, "ptcp:{}:{}", a.port(), tcp(a)),
            Self::ConnectUnix(p) => write!(f, "unix:{}", p.display()),
            Self::ConnectTcp(a) => write!(f, "tcp:{}:{}", tcp(a), a.port()),
            Self::Ssl(a) => write!(f, "pssl:{}:{}", a.port(), tcp(a)),
            Self::ConnectSsl(a) => write!(f, "ssl:{}:{}", tcp(a), a.port()),
        }
    }
}

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    /// Unix domain.
    Unix(UnixListener),
    /// TCP.
    Tcp(TcpListener),
}

impl Listener {
    /// Where a TCP listener listens (with the port the system chose for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Unix(_) => None,
            Self::Tcp(l) => l.local_addr().ok(),
        }
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Self::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Self::Tcp(l) => {
                let (s, _) = l.accept()?;
                // Replies are small and a client waits for each: do not hold them back.
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
        }
    }
}

/// An accepted connection.
#[derive(Debug)]
pub enum Stream {
    /// Unix domain.
    Unix(UnixStream),
    /// TCP.
    Tcp(TcpStream),
    /// TLS over TCP, its handshake done.
    Tls(fvs_tls::TlsStream),
}

impl Stream {
    /// A second handle on the same connection (one thread reads, another writes).
    pub fn try_clone(&self) -> io::Result<Self> {
        match self {
            Self::Unix(s) => s.try_clone().map(Self::Unix),
            Self::Tcp(s) => s.try_clone().map(Self::Tcp),
            Self::Tls(s) => s.try_clone().map(Self::Tls),
        }
    }

    /// How long a read may wait for data before failing with `WouldBlock`/`TimedOut`; `None`
    /// waits for ever.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Unix(s) => s.set_read_timeout(timeout),
            Self::Tcp(s) => s.set_read_timeout(timeout),
            Self::Tls(s) => s.set_read_timeout(timeout),
        }
    }

    /// Ends the connection in both directions; the other handle sees it too.
    pub fn shutdown(&self) {
        // Already-closed connections report errors here, which change nothing.
        let _ = match self {
            Self::Unix(s) => s.shutdown(Shutdown::Both),
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
            Self::Tls(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Unix(s) => s.read(buf),
            Self::Tcp(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Unix(s) => s.write(buf),
            Self::Tcp(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Unix(s) => s.flush(),
            Self::Tcp(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_default_to_five_seconds_on_tcp_and_none_on_unix() {
        let tcp = RemoteConfig::from(Remote::parse("ptcp:6640").expect("remote"));
        let unix = RemoteConfig::from(Remote::parse("punix:/x").expect("remote"));
        let active = RemoteConfig::from(Remote::parse("tcp:1.2.3.4:6640").expect("remote"));
        assert_eq!(tcp.probe_interval(), Some(Duration::from_secs(5)));
        assert_eq!(active.probe_interval(), Some(Duration::from_secs(5)));
        assert_eq!(unix.probe_interval(), None);
        let off = RemoteConfig {
            inactivity_probe: Some(Duration::ZERO),
            ..tcp.clone()
        };
        assert_eq!(off.probe_interval(), None);
        let set = RemoteConfig {
            inactivity_probe: Some(Duration::from_millis(30_000)),
            ..unix
        };
        assert_eq!(set.probe_interval(), Some(Duration::from_secs(30)));
        assert_eq!(active.backoff_limit(), Duration::from_secs(8));
    }

    #[test]
    fn remotes_parse_as_ovsdb_server_names_them() {
        assert_eq!(
            Remote::parse("punix:/run/db.sock"),
            Ok(Remote::Unix("/run/db.sock".into()))
        );
        assert_eq!(
            Remote::parse("ptcp:6640"),
            Ok(Remote::Tcp("0.0.0.0:6640".parse().expect("addr")))
        );
        assert_eq!(
            Remote::parse("ptcp:6640:127.0.0.1"),
            Ok(Remote::Tcp("127.0.0.1:6640".parse().expect("addr")))
        );
        assert!(matches!(
            Remote::parse("ptcp:x"),
            Err(RemoteError::BadAddress(_))
        ));
        assert_eq!(
            Remote::parse("tcp:1.2.3.4:5"),
            Ok(Remote::ConnectTcp("1.2.3.4:5".parse().expect("addr")))
        );
        assert_eq!(
            Remote::parse("tcp:[::1]:6640"),
            Ok(Remote::ConnectTcp("[::1]:6640".parse().expect("addr")))
        );
        assert_eq!(
            Remote::parse("unix:/run/x.sock"),
            Ok(Remote::ConnectUnix("/run/x.sock".into()))
        );
        assert!(matches!(
            Remote::parse("tcp:1.2.3.4"),
            Err(RemoteError::BadAddress(_))
        ));
        assert_eq!(
            Remote::parse("ssl:1.2.3.4:5"),
            Ok(Remote::ConnectSsl("1.2.3.4:5".parse().expect("addr")))
        );
        assert_eq!(
            Remote::parse("ssl:1.2.3.4"),
            Ok(Remote::ConnectSsl("1.2.3.4:6640".parse().expect("addr")))
        );
        assert_eq!(
            Remote::parse("pssl:"),
            Ok(Remote::Ssl("0.0.0.0:6640".parse().expect("addr")))
        );
        assert_eq!(
            Remote::parse("pssl:6641:[::1]"),
            Ok(Remote::Ssl("[::1]:6641".parse().expect("addr")))
        );
        assert!(matches!(
            Remote::parse("ssl:host.example:5"),
            Err(RemoteError::BadAddress(_))
        ));
        assert!(matches!(
            Remote::parse("tls:1.2.3.4:5"),
            Err(RemoteError::UnknownType(_))
        ));
        for text in [
            "punix:/a",
            "ptcp:6640:127.0.0.1",
            "unix:/b",
            "tcp:10.0.0.1:6640",
            "pssl:6640:0.0.0.0",
            "ssl:10.0.0.1:6641",
        ] {
            let r = Remote::parse(text).expect("parses");
            assert_eq!(r.to_string(), text);
        }
    }
}
