//! A TLS connection over a `TcpStream` that blocking code uses like the `TcpStream` itself:
//! one thread reads (with a read timeout, for probes and stop flags) while other threads
//! write through clones.
//!
//! # One session, many handles
//!
//! rustls keeps a connection's state in one object that both directions need, while the
//! daemons read on one thread and write from others (a dispatcher sending asynchronous
//! messages, a writer thread draining a queue). So the session sits behind a mutex shared by
//! every clone of a [`TlsStream`], and each clone has its own handle on the socket:
//!
//! - **read**: take whatever plaintext the session holds; if there is none, wait on the
//!   socket *without* the lock (the read timeout applies as usual), then under the lock feed
//!   the bytes to the session, process them and send whatever the session wants to send
//!   back (alerts, TLS 1.3 key updates);
//! - **write**: under the lock, encrypt into a buffer; then take the socket's *turn* (a
//!   second mutex, taken while the session's is still held, so records reach the socket in
//!   the order the session made them), release the session and write the buffer. A writer
//!   blocked on a peer that does not read so holds only the turn: the reader keeps reading
//!   and processing, and waits for the turn only when the session has something of its own
//!   to send (alerts, key updates).
//!
//! Ciphertext is read 8 KiB at a time and the plaintext drained before the next read, so
//! the session's received-plaintext buffer (16 KiB in rustls) never overflows.
//!
//! # Handshake
//!
//! [`TlsStream::connect`] and [`TlsStream::accept`] complete the handshake before returning,
//! within a deadline (a peer that says nothing, or garbage, is given up on without blocking
//! anyone else: each connection does its handshake on its own thread). Failures are
//! [`HandshakeError`]s; [`HandshakeError::errno_text`] words them as Open vSwitch's status
//! columns do.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustls::{ClientConnection, Connection, ServerConnection};
use rustls_pki_types::ServerName;

use crate::config::TlsConfig;

/// How much ciphertext one socket read takes (see the module doc).
const READ_CHUNK: usize = 8192;

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer broke the protocol: not TLS at all, an untrusted or missing certificate, a
    /// fatal alert.
    #[error("TLS handshake failed: {0}")]
    Tls(rustls::Error),
    /// The connection closed or failed, or the peer took too long.
    #[error("TLS handshake failed: {}", crate::os_words(.0))]
    Io(io::Error),
}

impl HandshakeError {
    /// The text Open vSwitch shows in `last_error`: its SSL layer reports every protocol
    /// failure, a connection closed mid-handshake included, as `EPROTO`.
    pub fn errno_text(&self) -> String {
        match self {
            Self::Tls(_) => "Protocol error".into(),
            Self::Io(e) if e.kind() == ErrorKind::UnexpectedEof => "Protocol error".into(),
            Self::Io(e) => crate::os_words(e),
        }
    }

    fn from_io(e: io::Error) -> Self {
        // rustls's complete_io wraps protocol errors in InvalidData.
        if e.kind() == ErrorKind::InvalidData
            && let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Self::Tls(tls.clone());
        }
        Self::Io(e)
    }
}

/// An established TLS connection over TCP; see the module doc.
#[derive(Debug)]
pub struct TlsStream {
    sock: TcpStream,
    session: Arc<Mutex<Connection>>,
    /// Whose turn it is to write to the socket (see the module doc).
    turn: Arc<Mutex<()>>,
}

fn run_handshake(
    mut conn: Connection,
    mut sock: TcpStream,
    timeout: Duration,
) -> Result<TlsStream, HandshakeError> {
    let deadline = Instant::now() + timeout;
    let result = (|| {
        while conn.is_handshaking() || conn.wants_write() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HandshakeError::Io(io::Error::from(ErrorKind::TimedOut)));
            }
            sock.set_read_timeout(Some(left))
                .and_then(|()| sock.set_write_timeout(Some(left)))
                .map_err(HandshakeError::Io)?;
            conn.complete_io(&mut sock)
                .map_err(HandshakeError::from_io)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = sock.shutdown(Shutdown::Both);
        return Err(e);
    }
    sock.set_read_timeout(None)
        .and_then(|()| sock.set_write_timeout(None))
        .map_err(HandshakeError::Io)?;
    Ok(TlsStream {
        sock,
        session: Arc::new(Mutex::new(conn)),
        turn: Arc::default(),
    })
}

impl TlsStream {
    /// Runs the client side of the handshake on a connected socket: presents this end's
    /// certificate and checks the server's against the CA (not its name: see
    /// [`crate::verify`]).
    pub fn connect(
        config: &TlsConfig,
        sock: TcpStream,
        timeout: Duration,
    ) -> Result<Self, HandshakeError> {
        // Certificates are not matched to names, so the peer's address stands in; an IP
        // address also keeps rustls from sending SNI, as Open vSwitch sends none.
        let name = ServerName::IpAddress(sock.peer_addr().map_err(HandshakeError::Io)?.ip().into());
        let conn = ClientConnection::new(config.client(), name).map_err(HandshakeError::Tls)?;
        run_handshake(conn.into(), sock, timeout)
    }

    /// Runs the server side of the handshake on an accepted socket: demands the client's
    /// certificate and checks it against the CA.
    pub fn accept(
        config: &TlsConfig,
        sock: TcpStream,
        timeout: Duration,
    ) -> Result<Self, HandshakeError> {
        let conn = ServerConnection::new(config.server()).map_err(HandshakeError::Tls)?;
        run_handshake(conn.into(), sock, timeout)
    }

    fn session(&self) -> MutexGuard<'_, Connection> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A second handle on the same connection and session (one thread reads, others
    /// write).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            sock: self.sock.try_clone()?,
            session: self.session.clone(),
            turn: self.turn.clone(),
        })
    }

    /// The socket underneath (for its addresses and options).
    pub fn get_ref(&self) -> &TcpStream {
        &self.sock
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// As [`TcpStream::set_read_timeout`]: a read that waits longer fails with
    /// `WouldBlock`/`TimedOut` and the connection stays usable.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(d)
    }

    /// As [`TcpStream::set_write_timeout`].
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(d)
    }

    /// Sends a `close_notify` alert (best effort), so the peer sees an orderly end.
    pub fn close_notify(&self) {
        let mut s = self.session();
        s.send_close_notify();
        let _ = self.send_pending(s);
    }

    /// Ends the connection for every handle, as [`TcpStream::shutdown`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    /// Sends what the session has queued, releasing the session's lock before writing to
    /// the socket (see the module doc).
    fn send_pending(&self, mut conn: MutexGuard<'_, Connection>) -> io::Result<()> {
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out)?;
        }
        if out.is_empty() {
            return Ok(());
        }
        let _turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        drop(conn);
        (&self.sock).write_all(&out)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut cipher = [0u8; READ_CHUNK];
        loop {
            match self.session().reader().read(buf) {
                // 0 here is the peer's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The peer closed the TCP connection without close_notify: to the
                // callers, as to Open vSwitch, the connection simply ended.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // Nothing decrypted is waiting: wait for the peer without the lock.
            let n = self.sock.read(&mut cipher)?;
            let mut s = self.session();
            let mut data = &cipher[..n];
            loop {
                // An empty slice tells the session the peer closed.
                s.read_tls(&mut data)?;
                let processed = s.process_new_packets();
                // Alerts (and key updates) go out even when processing failed.
                let sent = self.send_pending(s);
                processed.map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
                sent?;
                if data.is_empty() {
                    break;
                }
                s = self.session();
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.session();
        let n = s.writer().write(buf)?;
        self.send_pending(s)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending(self.session())
    }
}
