//! A blocking OpenFlow client connection, as ovs-ofctl opens one to manage a switch.
//!
//! # Targets
//!
//! [`Target::parse`] reads what ovs-ofctl takes: `unix:PATH`, `tcp:IP[:PORT]` (port 6653 by
//! default), `ssl:IP[:PORT]` (TLS with the key, certificate and CA certificate given by
//! `-p`, `-c` and `-C`, which [`set_tls_file`] records for the whole process as
//! ovs-ofctl's options do; errors worded as Open vSwitch's) or a bare bridge name, which means `unix:$FVS_RUNDIR/<bridge>.mgmt` (the run
//! directory defaults to `/var/run/ferrovs`). A real Open vSwitch is managed by naming its
//! socket: `unix:<its rundir>/<bridge>.mgmt`.
//!
//! # Session
//!
//! [`Conn::open`] sends a hello offering the versions of the allowed protocols (with a
//! version bitmap unless only OpenFlow 1.0 is offered, whose hello cannot carry one) and
//! negotiates the highest common version. The session then starts in that version's base
//! protocol (plain OpenFlow 1.0 for 1.0, as Open vSwitch does); [`Conn::set_protocol`] moves
//! an OpenFlow 1.0 session to NXM and/or the table-id extension with Nicira's
//! `NXT_SET_FLOW_FORMAT` and `NXT_FLOW_MOD_TABLE_ID`.
//!
//! [`Conn::transact_noreply`] is ovs-ofctl's request-then-barrier exchange: it sends the
//! request and a barrier and reads until the barrier's reply; a reply carrying the request's
//! xid (an error) is returned. Echo requests from the switch are answered while waiting.
//!
//! Transaction ids count from 1 on each connection (ovs-ofctl's ids are higher because it
//! opens helper connections first to learn table and port names; tests normalise xids).

use fvs_flow::Protocols;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::{self, Header, Hello, Message, Version, VersionBitmap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Default OpenFlow TCP port.
pub const DEFAULT_PORT: u16 = 6653;

/// Default run directory when `FVS_RUNDIR` is unset.
pub const DEFAULT_RUNDIR: &str = "/var/run/ferrovs";

/// Nicira's vendor id.
const NX_VENDOR: u32 = 0x0000_2320;
/// `NXT_SET_FLOW_FORMAT` subtype.
const NXT_SET_FLOW_FORMAT: u32 = 12;
/// `NXT_FLOW_MOD_TABLE_ID` subtype.
const NXT_FLOW_MOD_TABLE_ID: u32 = 15;
/// `OFPT_VENDOR` in OpenFlow 1.0.
const OFPT_VENDOR: u8 = 4;

/// Why a connection failed; the text is what ovs-ofctl prints after its program name.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The target could not be reached.
    #[error("connecting to {target} ({reason})")]
    Connect {
        /// The target as given.
        target: String,
        /// The system's reason.
        reason: String,
    },
    /// A bare name that is neither a bridge socket nor a file.
    #[error("{0} is not a bridge or a socket")]
    NotBridge(String),
    /// A TLS connection whose handshake failed, or that failed right after it (TLS 1.3
    /// tells a client that the server refused its certificate only then).
    #[error("{target}: failed to connect to socket ({reason})")]
    Refused {
        /// The target.
        target: String,
        /// What went wrong, as the C library words it.
        reason: String,
    },
    /// No common OpenFlow version.
    #[error(
        "{target}: version negotiation failed (we support version {ours}, peer supports versions {peer})"
    )]
    Negotiation {
        /// The target.
        target: String,
        /// Our versions, as `0x04, 0x05`.
        ours: String,
        /// The peer's versions.
        peer: String,
    },
    /// The conversation broke.
    #[error("talking to {target} ({reason})")]
    Io {
        /// The target.
        target: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where the switch is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A unix-domain socket.
    Unix(PathBuf),
    /// A TCP address (host, port).
    Tcp(String, u16),
    /// A TCP address spoken to over TLS (host, port).
    Ssl(String, u16),
}

/// The process's TLS files (`-p`, `-c`, `-C`), shared by every connection it opens.
static TLS: std::sync::LazyLock<fvs_tls::TlsSource> =
    std::sync::LazyLock::new(fvs_tls::TlsSource::new);

/// Sets one of the TLS files `ssl:` targets use (the `-p`, `-c` and `-C` options).
pub fn set_tls_file(role: fvs_tls::FileRole, path: PathBuf) {
    TLS.set_file(role, Some(path));
}

impl Target {
    /// Parses a target as ovs-ofctl takes it.
    pub fn parse(s: &str) -> Result<Self, ConnError> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let tcp = s.strip_prefix("tcp:").map(|r| (r, false));
        if let Some((rest, tls)) = tcp.or_else(|| s.strip_prefix("ssl:").map(|r| (r, true))) {
            // An IPv6 address is bracketed; the port follows the last colon otherwise.
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p))
                    if !h.ends_with(':') && !rest.starts_with('[') || rest.contains("]:") =>
                {
                    let port = p.parse::<u16>().map_err(|_| ConnError::Connect {
                        target: s.to_string(),
                        reason: "Invalid argument".to_string(),
                    })?;
                    (h.to_string(), port)
                }
                _ => (rest.to_string(), DEFAULT_PORT),
            };
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            return Ok(if tls {
                Self::Ssl(host, port)
            } else {
                Self::Tcp(host, port)
            });
        }
        if s.contains(':') {
            return Err(ConnError::Connect {
                target: s.to_string(),
                reason: "Address family not supported by protocol".to_string(),
            });
        }
        let rundir = std::env::var("FVS_RUNDIR").unwrap_or_else(|_| DEFAULT_RUNDIR.to_string());
        let mgmt = PathBuf::from(rundir).join(format!("{s}.mgmt"));
        if mgmt.exists() {
            Ok(Self::Unix(mgmt))
        } else if std::path::Path::new(s).exists() {
            Ok(Self::Unix(PathBuf::from(s)))
        } else {
            Err(ConnError::NotBridge(s.to_string()))
        }
    }
}

/// The byte stream under a connection.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(fvs_tls::TlsStream),
}

impl Stream {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Self::Unix(s) => s,
            Self::Tcp(s) => s,
            Self::Tls(s) => s,
        }
    }
}

/// Opens an `ssl:` connection as ovs-ofctl does: the TLS files are checked before
/// connecting (each missing one logged, then "Protocol not available"), a failed handshake
/// is logged and reported as "Protocol error".
fn connect_tls(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    connect_err: impl Fn(std::io::Error) -> ConnError,
    reason: impl Fn(String) -> ConnError,
    refused: impl Fn(String) -> ConnError,
) -> Result<Stream, ConnError> {
    let config = TLS.config().map_err(|e| {
        for line in e.messages() {
            eprintln!("stream_ssl|ERR|{line}");
        }
        reason(e.errno_text().to_string())
    })?;
    let s = TcpStream::connect((host, port)).map_err(connect_err)?;
    let _ = s.set_nodelay(true);
    let handshake = timeout.unwrap_or(fvs_tls::DEFAULT_HANDSHAKE_TIMEOUT);
    // ovs-ofctl mostly meets a failed handshake while waiting for the connection to
    // complete ("failed to connect to socket"), rarely inside the open itself.
    let tls = fvs_tls::TlsStream::connect(&config, s, handshake).map_err(|e| {
        eprintln!("stream_ssl|WARN|{e}");
        refused(e.errno_text())
    })?;
    let _ = tls.set_read_timeout(timeout);
    let _ = tls.set_write_timeout(timeout);
    Ok(Stream::Tls(tls))
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One received message: its header, its bytes, and the decoded model when the codec knows
/// the message.
pub struct Received {
    /// The header.
    pub header: Header,
    /// The whole message.
    pub bytes: Vec<u8>,
    /// The decoded message, if the codec reads it.
    pub message: Option<Message>,
}

/// An open, negotiated OpenFlow connection.
pub struct Conn {
    stream: Stream,
    name: String,
    version: Version,
    protocol: Protocol,
    next_xid: u32,
    /// Whether echo requests are answered (and kept from the caller); a snooper only
    /// watches, so its copies are not answered.
    answers_echo: bool,
}

/// The versions (as a hello bitmap) the protocols in `allowed` speak.
fn versions_of(allowed: Protocols) -> VersionBitmap {
    let mut bits = 0u32;
    for p in Protocol::ALL {
        if allowed.contains(p.bit()) {
            bits |= 1 << p.version();
        }
    }
    VersionBitmap(bits)
}

fn bitmap_list(b: VersionBitmap) -> String {
    (0..32)
        .filter(|i| b.0 & (1 << i) != 0)
        .map(|i| format!("{i:#04x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rust's I/O error text without its " (os error N)" suffix, as the C library words it.
fn os_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Conn {
    /// Connects to `target`, negotiates a version among those of `allowed`, and starts in
    /// that version's base protocol. `timeout` bounds every read and write.
    pub fn open(
        target: &str,
        allowed: Protocols,
        timeout: Option<Duration>,
    ) -> Result<Self, ConnError> {
        let parsed = Target::parse(target)?;
        let connect_err = |e: std::io::Error| ConnError::Connect {
            target: target.to_string(),
            reason: os_text(&e),
        };
        let stream = match &parsed {
            Target::Unix(p) => {
                let s = UnixStream::connect(p).map_err(connect_err)?;
                let _ = s.set_read_timeout(timeout);
                let _ = s.set_write_timeout(timeout);
                Stream::Unix(s)
            }
            Target::Tcp(h, port) => {
                let s = TcpStream::connect((h.as_str(), *port)).map_err(connect_err)?;
                let _ = s.set_read_timeout(timeout);
                let _ = s.set_write_timeout(timeout);
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
            Target::Ssl(h, port) => connect_tls(
                h,
                *port,
                timeout,
                connect_err,
                |reason| ConnError::Connect {
                    target: target.to_string(),
                    reason,
                },
                |reason| ConnError::Refused {
                    target: target.to_string(),
                    reason,
                },
            )?,
        };
        let ours = versions_of(allowed);
        let highest = Version::ALL
            .into_iter()
            .rev()
            .find(|v| ours.0 & (1 << v.wire()) != 0)
            .unwrap_or(Version::Of10);
        let mut conn = Self {
            stream,
            name: target.to_string(),
            version: highest,
            protocol: Protocol::Of10Std,
            next_xid: 1,
            answers_echo: true,
        };
        // OpenFlow 1.0 hellos carry no elements; later ones carry the bitmap.
        let bitmap = (highest != Version::Of10).then_some(ours);
        let tls = matches!(parsed, Target::Ssl(..));
        // Over TLS, a peer that refuses our certificate answers the hello exchange with an
        // alert (or a closed socket): reported as ovs-ofctl reports it.
        let refused = |e: ConnError| match e {
            ConnError::Io { target, reason } if tls => ConnError::Refused {
                target,
                // OpenSSL's SSL_read reports an alert as EIO.
                reason: if reason.starts_with("received fatal alert") {
                    "Input/output error".into()
                } else {
                    reason
                },
            },
            e => e,
        };
        conn.send(&Message::Hello(Hello { bitmap }))
            .map_err(refused)?;
        let reply = conn.recv().map_err(refused)?;
        let peer = match reply.message {
            Some(Message::Hello(h)) => h,
            _ => {
                return Err(conn.io_error("expected a hello from the switch"));
            }
        };
        let offered = peer.offered(reply.header.version);
        let Some(version) = wire::msg::negotiate(ours, reply.header.version, &peer) else {
            return Err(ConnError::Negotiation {
                target: target.to_string(),
                ours: bitmap_list(ours),
                peer: bitmap_list(offered),
            });
        };
        conn.version = version;
        conn.protocol = match version {
            Version::Of10 => Protocol::Of10Std,
            v => v.default_protocol(),
        };
        Ok(conn)
    }

    /// Stops answering echo requests: they are returned like any other message.
    pub fn watch_only(&mut self) {
        self.answers_echo = false;
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The protocol flows currently travel in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// A failure of the conversation with this switch (`talking to SWITCH (REASON)`).
    pub fn io_error(&self, reason: impl Into<String>) -> ConnError {
        ConnError::Io {
            target: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// The next transaction id.
    pub fn alloc_xid(&mut self) -> u32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1);
        x
    }

    /// Encodes and sends `msg` in the session's protocol; its xid.
    pub fn send(&mut self, msg: &Message) -> Result<u32, ConnError> {
        let xid = self.alloc_xid();
        let protocol = match msg {
            Message::Hello(_) => self.version.default_protocol(),
            _ => self.protocol,
        };
        let mut bytes =
            wire::encode(msg, protocol, xid).map_err(|e| self.io_error(e.to_string()))?;
        if let Message::Hello(_) = msg
            && let Some(b) = bytes.get_mut(0)
        {
            // The hello's header carries our highest version, whatever the session's.
            *b = self.version.wire();
        }
        self.send_raw(&bytes)?;
        Ok(xid)
    }

    /// Sends already-encoded bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let r = self.stream.io().write_all(bytes);
        r.map_err(|e| self.io_error(os_text(&e)))
    }

    /// Reads one message, answering echo requests on the way.
    pub fn recv(&mut self) -> Result<Received, ConnError> {
        loop {
            let mut head = [0u8; wire::HEADER_LEN];
            let r = self.stream.io().read_exact(&mut head);
            r.map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => self.io_error("End of file"),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    self.io_error("Connection timed out")
                }
                _ => self.io_error(os_text(&e)),
            })?;
            let len = wire::message_len(&head).unwrap_or(0);
            if len < wire::HEADER_LEN {
                return Err(self.io_error("Protocol error"));
            }
            let mut bytes = head.to_vec();
            bytes.resize(len, 0);
            let r = self.stream.io().read_exact(&mut bytes[wire::HEADER_LEN..]);
            r.map_err(|e| self.io_error(os_text(&e)))?;
            let header = Header {
                version: head[0],
                msg_type: head[1],
                length: u16::try_from(len).unwrap_or(u16::MAX),
                xid: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            };
            let message = wire::decode(&bytes).ok().map(|(_, m)| m);
            if let Some(Message::EchoRequest(payload)) = &message
                && self.answers_echo
            {
                let reply = wire::encode(
                    &Message::EchoReply(payload.clone()),
                    self.protocol,
                    header.xid,
                )
                .map_err(|e| self.io_error(e.to_string()))?;
                self.send_raw(&reply)?;
                continue;
            }
            return Ok(Received {
                header,
                bytes,
                message,
            });
        }
    }

    /// Sends `request` (encoded with xid `xid`) and a barrier; reads until the barrier's
    /// reply. Returns a reply that carries the request's xid (an error), if any.
    pub fn transact_noreply(
        &mut self,
        request: &[u8],
        xid: u32,
    ) -> Result<Option<Received>, ConnError> {
        self.send_raw(request)?;
        let barrier_xid = self.send(&Message::BarrierRequest)?;
        loop {
            let reply = self.recv()?;
            if reply.header.xid == xid {
                return Ok(Some(reply));
            }
            if reply.header.xid == barrier_xid {
                return Ok(None);
            }
            // Anything else (asynchronous messages) is not ours to report.
        }
    }

    /// Moves the session to `want` (only OpenFlow 1.0 sessions have a choice), one Nicira
    /// setting at a time as Open vSwitch does: flow format first, then the table-id
    /// extension. `Ok(false)` when the switch refused.
    pub fn set_protocol(&mut self, want: Protocol) -> Result<bool, ConnError> {
        while self.protocol != want {
            if !self.protocol.is_of10() || !want.is_of10() {
                return Ok(false);
            }
            let (msg, next) = if self.protocol.is_nxm() != want.is_nxm() {
                let next = of10_variant(want.is_nxm(), self.protocol.has_table_id());
                (set_flow_format(want.is_nxm()), next)
            } else {
                let next = of10_variant(want.is_nxm(), want.has_table_id());
                (flow_mod_table_id(want.has_table_id()), next)
            };
            let xid = self.alloc_xid();
            let bytes = with_xid(msg, xid);
            if self.transact_noreply(&bytes, xid)?.is_some() {
                return Ok(false);
            }
            self.protocol = next;
        }
        Ok(true)
    }
}

fn of10_variant(nxm: bool, tid: bool) -> Protocol {
    match (nxm, tid) {
        (false, false) => Protocol::Of10Std,
        (false, true) => Protocol::Of10StdTid,
        (true, false) => Protocol::Of10Nxm,
        (true, true) => Protocol::Of10NxmTid,
    }
}

fn with_xid(mut msg: Vec<u8>, xid: u32) -> Vec<u8> {
    if let Some(b) = msg.get_mut(4..8) {
        b.copy_from_slice(&xid.to_be_bytes());
    }
    msg
}

/// A Nicira OpenFlow 1.0 vendor message with `subtype` and `body` (xid 0, set later).
// TODO: move into the wire codec once it has these Nicira session settings.
fn nicira(subtype: u32, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(16 + body.len()).unwrap_or(u16::MAX);
    let mut m = vec![Version::Of10.wire(), OFPT_VENDOR];
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m.extend_from_slice(&NX_VENDOR.to_be_bytes());
    m.extend_from_slice(&subtype.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// `NXT_SET_FLOW_FORMAT`: 0 for OpenFlow 1.0 matches, 2 for NXM.
fn set_flow_format(nxm: bool) -> Vec<u8> {
    let format: u32 = if nxm { 2 } else { 0 };
    nicira(NXT_SET_FLOW_FORMAT, &format.to_be_bytes())
}

/// `NXT_FLOW_MOD_TABLE_ID`: a flag and 7 bytes of padding.
fn flow_mod_table_id(on: bool) -> Vec<u8> {
    let mut body = [0u8; 8];
    body[0] = u8::from(on);
    nicira(NXT_FLOW_MOD_TABLE_ID, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_ovs_ofctl_reads_them() {
        assert_eq!(
            Target::parse("unix:/x/br0.mgmt").ok(),
            Some(Target::Unix(PathBuf::from("/x/br0.mgmt")))
        );
        assert_eq!(
            Target::parse("tcp:127.0.0.1").ok(),
            Some(Target::Tcp("127.0.0.1".into(), 6653))
        );
        assert_eq!(
            Target::parse("tcp:127.0.0.1:6633").ok(),
            Some(Target::Tcp("127.0.0.1".into(), 6633))
        );
        assert!(matches!(
            Target::parse("bogus:x"),
            Err(ConnError::Connect { .. })
        ));
    }

    #[test]
    fn nicira_settings_have_their_wire_lengths() {
        assert_eq!(set_flow_format(true).len(), 20);
        assert_eq!(flow_mod_table_id(true).len(), 24);
        assert_eq!(with_xid(set_flow_format(true), 7)[4..8], [0, 0, 0, 7]);
    }
}
