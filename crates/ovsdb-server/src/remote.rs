//! Where the server listens: `punix:PATH` and `ptcp:PORT[:IP]`, as ovsdb-server(1) names
//! them, and the byte streams they accept.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

/// A passive remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// `punix:PATH`: a Unix domain socket.
    Unix(PathBuf),
    /// `ptcp:PORT[:IP]`: TCP, on every IPv4 address unless one is given.
    Tcp(SocketAddr),
}

/// A remote that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    /// Not `punix:` or `ptcp:`.
    #[error("{0}: unknown remote type (expected punix:PATH or ptcp:PORT[:IP])")]
    UnknownType(String),
    /// The port or address of a `ptcp:` remote is not valid.
    #[error("{0}: bad port or IP address")]
    BadAddress(String),
}

impl Remote {
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
        Err(RemoteError::UnknownType(text.to_owned()))
    }

    /// Binds the listener. A stale Unix socket file left by a previous run is replaced.
    pub fn bind(&self) -> io::Result<Listener> {
        match self {
            Self::Unix(path) => {
                if path.exists() && UnixStream::connect(path).is_err() {
                    std::fs::remove_file(path)?;
                }
                Ok(Listener::Unix(UnixListener::bind(path)?))
            }
            Self::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr)?)),
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
}

impl Stream {
    /// A second handle on the same connection (one thread reads, another writes).
    pub fn try_clone(&self) -> io::Result<Self> {
        match self {
            Self::Unix(s) => s.try_clone().map(Self::Unix),
            Self::Tcp(s) => s.try_clone().map(Self::Tcp),
        }
    }

    /// Ends the connection in both directions; the other handle sees it too.
    pub fn shutdown(&self) {
        // Already-closed connections report errors here, which change nothing.
        let _ = match self {
            Self::Unix(s) => s.shutdown(Shutdown::Both),
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Unix(s) => s.read(buf),
            Self::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Unix(s) => s.write(buf),
            Self::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Unix(s) => s.flush(),
            Self::Tcp(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            Remote::parse("tcp:1.2.3.4:5"),
            Err(RemoteError::UnknownType(_))
        ));
    }
}
