//! Raw OpenFlow ends for tests that must see exactly what a switch sends (ferrovs's codec on
//! the test's side, so the same requests go to fvs-vswitchd and ovs-vswitchd alike):
//!
//! - [`Raw`]: a client of a bridge's management socket that speaks one version and waits for
//!   each request's barrier;
//! - [`Peer`]: one end of an OpenFlow 1.0 connection read only when the test says so, either
//!   a client or a controller the switch connected to ([`Peer::controller`]), counting what
//!   it reads and answering echo requests.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use fvs_openflow::wire::flow_monitor::FlowMonitorMsg;
use fvs_openflow::wire::{self, AsyncMsg, Hello, Message, Version, VersionBitmap};
use fvs_test_support::Switch;

/// Reads one whole OpenFlow message from `s` and decodes it; panics on a short read or a
/// message the codec refuses.
fn read_message(s: &mut UnixStream) -> Message {
    let mut head = [0u8; 8];
    s.read_exact(&mut head)
        .unwrap_or_else(|e| panic!("no message: {e}"));
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut body = vec![0u8; len.saturating_sub(8)];
    s.read_exact(&mut body)
        .unwrap_or_else(|e| panic!("truncated message: {e}"));
    let mut all = head.to_vec();
    all.extend(body);
    wire::decode(&all)
        .unwrap_or_else(|e| panic!("undecodable {all:02x?}: {e}"))
        .1
}

/// A raw OpenFlow connection to a management socket, speaking one version; requests get
/// rising xids.
pub(crate) struct Raw {
    s: UnixStream,
    v: Version,
    xid: u32,
}

impl Raw {
    /// Connects to `path` and exchanges hellos offering only `v`.
    pub(crate) fn open(path: &Path, v: Version) -> Self {
        let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut r = Self { s, v, xid: 100 };
        r.send(&Message::Hello(Hello {
            bitmap: Some(VersionBitmap::of(&[v])),
        }));
        match r.recv() {
            Message::Hello(_) => r,
            other => panic!("expected a hello, got {other:?}"),
        }
    }

    /// Sends `m` with the next xid.
    pub(crate) fn send(&mut self, m: &Message) {
        self.xid += 1;
        let b = wire::encode(m, self.v.default_protocol(), self.xid)
            .unwrap_or_else(|e| panic!("{m:?}: {e}"));
        self.s.write_all(&b).unwrap_or_else(|e| panic!("{e}"));
    }

    /// The next message (5 s at most).
    pub(crate) fn recv(&mut self) -> Message {
        read_message(&mut self.s)
    }

    /// Sends `m` and a barrier; returns everything before the barrier reply, errors as
    /// `error <code>` (their data, the quoted request whose xid differs, dropped).
    pub(crate) fn ask(&mut self, m: &Message) -> Vec<String> {
        self.send(m);
        self.send(&Message::BarrierRequest);
        let mut out = Vec::new();
        loop {
            match self.recv() {
                Message::BarrierReply => return out,
                Message::Error(e) => out.push(format!("error {:?}", e.code)),
                other => out.push(format!("{other:?}")),
            }
        }
    }
}

/// One end of an OpenFlow 1.0 connection, read only when the test says so.
pub(crate) struct Peer {
    /// The socket, for tests that write to it themselves.
    pub(crate) s: UnixStream,
    buf: Vec<u8>,
}

/// What a [`Peer`] read.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Packet-ins.
    pub(crate) packet_ins: usize,
    /// Echo replies.
    pub(crate) echo_replies: usize,
    /// Flow monitor messages, in order: "PAUSED", "RESUMED", "UPDATE n" (n flows).
    pub(crate) monitor: Vec<String>,
}

impl Peer {
    /// Takes `s` (reads time out after 100 ms) and says hello with OpenFlow 1.0.
    pub(crate) fn new(s: UnixStream) -> Self {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut p = Self { s, buf: Vec::new() };
        p.send(
            &Message::Hello(Hello {
                bitmap: Some(VersionBitmap::of(&[Version::Of10])),
            }),
            1,
        );
        p
    }

    /// Connects to `sw`'s management socket for `bridge`.
    pub(crate) fn client(sw: &dyn Switch, bridge: &str) -> Self {
        let target = sw.mgmt_target(bridge);
        let path = target.strip_prefix("unix:").unwrap_or(&target).to_owned();
        let s = UnixStream::connect(&path).unwrap_or_else(|e| panic!("connect {path}: {e}"));
        Self::new(s)
    }

    /// Makes a controller of `br0` on `sw`: listens on `ctl.sock` in the switch's directory,
    /// points `br0`'s controller at it with the Controller row's `settings`
    /// (`column=value`), accepts the switch's connection and reads (answering echo
    /// requests) until the switch says it is connected, 10 s at most.
    pub(crate) fn controller(sw: &dyn Switch, settings: &[&str]) -> Self {
        let path = sw.dir().join("ctl.sock");
        let l = UnixListener::bind(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let target = format!("unix:{}", path.display());
        let mut args = vec!["set-controller", "br0", &target];
        if !settings.is_empty() {
            args.extend(["--", "set", "controller", "br0"]);
            args.extend(settings);
        }
        sw.vsctl_ok(&args);
        let mut c = Self::new(super::accept_switch(&l));
        let start = Instant::now();
        while sw
            .vsctl_ok(&["get", "controller", "br0", "is_connected"])
            .trim()
            != "true"
        {
            c.read_for(Duration::from_millis(100));
            assert!(start.elapsed() < Duration::from_secs(10), "never connected");
        }
        c
    }

    /// Sends `m` with `xid`.
    pub(crate) fn send(&mut self, m: &Message, xid: u32) {
        let b = wire::encode(m, Version::Of10.default_protocol(), xid)
            .unwrap_or_else(|e| panic!("{m:?}: {e}"));
        self.s.write_all(&b).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Reads for `d`, answering echo requests, counting what came; panics if the switch
    /// closes the connection.
    pub(crate) fn read_for(&mut self, d: Duration) -> Seen {
        let start = Instant::now();
        let mut r = Seen::default();
        let mut chunk = [0u8; 65536];
        while start.elapsed() < d {
            match self.s.read(&mut chunk) {
                Ok(0) => panic!("the switch closed the connection; so far {r:?}"),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
            while let Some(len) = wire::message_len(&self.buf) {
                if self.buf.len() < len {
                    break;
                }
                let msg: Vec<u8> = self.buf.drain(..len).collect();
                match wire::decode(&msg).map(|(_, m)| m) {
                    Ok(Message::Async(AsyncMsg::PacketIn(_))) => r.packet_ins += 1,
                    Ok(Message::EchoReply(_)) => r.echo_replies += 1,
                    Ok(Message::EchoRequest(data)) => self.send(&Message::EchoReply(data), 0),
                    Ok(Message::FlowMonitor(FlowMonitorMsg::Paused)) => {
                        r.monitor.push("PAUSED".into());
                    }
                    Ok(Message::FlowMonitor(FlowMonitorMsg::Resumed)) => {
                        r.monitor.push("RESUMED".into());
                    }
                    Ok(Message::FlowMonitor(FlowMonitorMsg::Reply { updates, .. })) => {
                        r.monitor.push(format!("UPDATE {}", updates.len()));
                    }
                    _ => {}
                }
            }
        }
        r
    }
}
