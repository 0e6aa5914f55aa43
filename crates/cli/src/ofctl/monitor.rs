//! `monitor SWITCH [MISS-LEN] [invalid_ttl]`: asynchronous messages as they arrive.
//!
//! As ovs-ofctl: after negotiation, a `MISS-LEN` argument or `invalid_ttl` changes the
//! switch configuration (`miss_send_len`, the invalid-TTL-to-controller flag) with a barrier;
//! then the connection asks for `NXT_PACKET_IN2` packet-ins (a switch that refuses keeps its
//! default form) and prints every message it receives, one after the other, on standard
//! error, each flushed at once so that a reader sees it while the monitor runs. Echo requests
//! are answered by the connection and not printed. The monitor runs until the connection
//! ends (`talking to SWITCH (End of file)`, status 1) or it is killed.
//!
//! Printed forms: packet-ins in each of their four forms (the header line with table, cookie,
//! length, metadata, reason and data length; `userdata=` when there is some; the packet's
//! summary line), flow-removed, port-status (the port as `show` prints it); anything else
//! by name only.
//!
//! With `resume`, every packet-in that carries a continuation (`controller(pause)`) is sent
//! straight back as an `NXT_RESUME` with the same packet and metadata, printed first as
//! `send: NXT_RESUME ...`; continuations print as ovs-ofctl prints them (bridge, stack,
//! frozen actions with one `unroll_xlate` per table and cookie, action set, datapath port).
//!
//! `watch:[SPEC...]` arguments set up flow monitors first ([`super::watch`]); their updates
//! are printed like the other messages, with port names when `--names` is in effect.

use super::conn::{Conn, Received};
use super::heading::{header_version, heading, version_tag};
use super::names::{PortNames, Resolver, use_names};
use super::show::{format_config, format_features, format_port};
use super::{CmdError, Options};
use fvs_openflow::action::PacketInReason;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::continuation::Continuation;
use fvs_openflow::wire::{
    self, AsyncMsg, FlowRemoved, FlowRemovedReason, Message, PacketIn, PacketInFormat, PortStatus,
    SwitchConfig, Version, async_msg::PortReason,
};
use std::fmt::Write as _;
use std::io::Write as _;

/// `OFPC_INVALID_TTL_TO_CONTROLLER` in the switch configuration's flags.
const INVALID_TTL_TO_CONTROLLER: u16 = 1 << 2;

/// The priority flows print without.
const DEFAULT_PRIORITY: u32 = 0x8000;

/// `monitor SWITCH [MISS-LEN] [invalid_ttl]`.
pub(super) fn monitor(opts: &Options, args: &[String], _out: &mut String) -> Result<(), CmdError> {
    let Some((target, rest)) = args.split_first() else {
        return Err(CmdError::Fatal("missing switch".into()));
    };
    let mut miss_len = None;
    let mut invalid_ttl = false;
    let mut resume = false;
    let mut watches = Vec::new();
    for arg in rest {
        if arg == "invalid_ttl" {
            invalid_ttl = true;
        } else if arg == "resume" {
            resume = true;
            // As ovs-ofctl: the connection must get packet-ins whole to resume them.
            miss_len = Some(u16::MAX);
        } else if let Some(spec) = arg.strip_prefix("watch:") {
            let id = u32::try_from(watches.len()).unwrap_or(u32::MAX);
            // Port names in the match are looked up in the switch, as ovs-ofctl does.
            let mut resolver = Resolver::new(opts, target);
            watches.push(resolver.parse(spec, |t| super::watch::parse_watch(t, id))?);
        } else {
            let n: u16 = arg
                .parse()
                .map_err(|_| CmdError::Fatal(format!("{arg}: unsupported \"monitor\" argument")))?;
            miss_len = Some(n);
        }
    }
    // Updates print with port names when asked (or on a terminal).
    let printed_names = if !watches.is_empty() && use_names(opts) {
        Some(PortNames::fetch(opts, target)?)
    } else {
        None
    };
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    if miss_len.is_some() || invalid_ttl {
        let xid = conn.send(&Message::GetConfigRequest)?;
        let reply = super::show::reply_to(&mut conn, xid)?;
        let Some(Message::GetConfigReply(mut config)) = reply.message else {
            return Err(super::show::unexpected(&reply));
        };
        if let Some(n) = miss_len {
            config.miss_send_len = n;
        }
        if invalid_ttl {
            config.flags |= INVALID_TTL_TO_CONTROLLER;
        }
        transact(&mut conn, &Message::SetConfig(SwitchConfig { ..config }))?;
    }
    super::watch::start(&mut conn, watches, printed_names.as_ref())?;
    // A switch without NXT_PACKET_IN2 answers with an error; its own form is then printed.
    let _ = transact(
        &mut conn,
        &Message::Async(AsyncMsg::SetPacketInFormat(PacketInFormat::Nxt2)),
    );
    loop {
        let received = conn.recv()?;
        let mut text = format_received(&received, conn.protocol());
        if let (Some(n), Some(Message::FlowMonitor(_))) = (&printed_names, &received.message) {
            text = super::watch::with_names(&text, n);
        }
        let mut stderr = std::io::stderr().lock();
        // A closed standard error ends nothing: the monitor keeps the connection serviced.
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
        drop(stderr);
        if resume
            && let Some(Message::Async(AsyncMsg::PacketIn(pin))) = &received.message
            && pin.continuation.is_some()
        {
            send_resume(&mut conn, pin)?;
        }
    }
}

/// Sends a paused packet-in back as `NXT_RESUME` (xid 0, as ovs-ofctl does), printing it
/// first. Not waited for: an error reply arrives and prints like any other message.
fn send_resume(conn: &mut Conn, pin: &PacketIn) -> Result<(), CmdError> {
    let mut back = pin.clone();
    back.format = PacketInFormat::Nxt2;
    // The controller's own data stays with it.
    back.userdata = None;
    let msg = Message::Async(AsyncMsg::Resume(Box::new(back.clone())));
    let bytes =
        wire::encode(&msg, conn.protocol(), 0).map_err(|e| CmdError::Fatal(e.to_string()))?;
    let mut text = String::from("send: ");
    format_packet_in_named(&back, "NXT_RESUME", conn.version(), 0, &mut text);
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
    drop(stderr);
    conn.send_raw(&bytes)?;
    Ok(())
}

/// Sends `msg` with a barrier; an error reply is a failure.
fn transact(conn: &mut Conn, msg: &Message) -> Result<(), CmdError> {
    let xid = conn.alloc_xid();
    let bytes =
        wire::encode(msg, conn.protocol(), xid).map_err(|e| CmdError::Fatal(e.to_string()))?;
    match conn.transact_noreply(&bytes, xid)? {
        Some(reply) => Err(CmdError::Printed(super::flows::format_reply(
            &reply,
            conn.protocol(),
        ))),
        None => Ok(()),
    }
}

/// One received message as ovs-ofctl prints it.
pub(super) fn format_received(r: &Received, protocol: Protocol) -> String {
    let mut out = String::new();
    let v = header_version(&r.header);
    let xid = r.header.xid;
    match &r.message {
        Some(Message::Async(AsyncMsg::PacketIn(pin))) => format_packet_in(pin, v, xid, &mut out),
        Some(Message::Async(AsyncMsg::PortStatus(ps))) => format_port_status(ps, v, xid, &mut out),
        Some(Message::Async(AsyncMsg::FlowRemoved(fr))) => {
            format_flow_removed(fr, v, r.header.msg_type, xid, &mut out);
        }
        Some(Message::Error(_)) => out.push_str(&super::flows::format_reply(r, protocol)),
        Some(Message::FlowMonitor(m)) => super::watch::format(m, v, xid, &mut out),
        Some(Message::BarrierReply) => {
            let _ = writeln!(out, "{}", heading("OFPT_BARRIER_REPLY", v, xid));
        }
        Some(Message::BarrierRequest) => {
            let _ = writeln!(out, "{}", heading("OFPT_BARRIER_REQUEST", v, xid));
        }
        Some(Message::FeaturesRequest) => {
            let _ = writeln!(out, "{}", heading("OFPT_FEATURES_REQUEST", v, xid));
        }
        Some(Message::FeaturesReply(f)) => format_features(f, v, xid, &mut out),
        Some(Message::GetConfigRequest) => {
            let _ = writeln!(out, "{}", heading("OFPT_GET_CONFIG_REQUEST", v, xid));
        }
        Some(Message::GetConfigReply(c)) => format_config(*c, v, xid, &mut out),
        Some(Message::EchoRequest(p)) => {
            let _ = writeln!(
                out,
                "{} {} bytes of payload",
                heading("OFPT_ECHO_REQUEST", v, xid),
                p.len()
            );
        }
        Some(Message::EchoReply(p)) => {
            let _ = writeln!(
                out,
                "{} {} bytes of payload",
                heading("OFPT_ECHO_REPLY", v, xid),
                p.len()
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "message type {} ({} bytes){} (xid={xid:#x})",
                r.header.msg_type,
                r.header.length,
                version_tag(v)
            );
        }
    }
    out
}

fn reason_name(r: PacketInReason) -> &'static str {
    match r {
        PacketInReason::NoMatch => "no_match",
        PacketInReason::Action => "action",
        PacketInReason::InvalidTtl => "invalid_ttl",
        PacketInReason::ActionSet => "action_set",
        PacketInReason::Group => "group",
        PacketInReason::PacketOut => "packet_out",
        PacketInReason::Internal(_) => "",
    }
}

/// A packet-in: the header line, `userdata=` if any, the packet's summary line.
fn format_packet_in(pin: &PacketIn, v: Version, xid: u32, out: &mut String) {
    let name = match pin.format {
        PacketInFormat::Standard => "OFPT_PACKET_IN",
        PacketInFormat::Nxt => "NXT_PACKET_IN",
        PacketInFormat::Nxt2 => "NXT_PACKET_IN2",
    };
    format_packet_in_named(pin, name, v, xid, out);
}

/// A packet-in (or `NXT_RESUME`, which carries the same) under message name `name`.
fn format_packet_in_named(pin: &PacketIn, name: &str, v: Version, xid: u32, out: &mut String) {
    let _ = write!(out, "{}", heading(name, v, xid));
    if pin.table_id != 0 {
        let _ = write!(out, " table_id={}", pin.table_id);
    }
    if pin.cookie.0 != u64::MAX {
        let _ = write!(out, " cookie={:#x}", pin.cookie.0);
    }
    let _ = write!(out, " total_len={} ", pin.total_len);
    fvs_flow::text::format_match(&pin.metadata, DEFAULT_PRIORITY, out);
    let _ = write!(
        out,
        " (via {}) data_len={}",
        reason_name(pin.reason),
        pin.data.len()
    );
    let total = usize::try_from(pin.total_len).unwrap_or(usize::MAX);
    match pin.buffer_id {
        None => {
            out.push_str(" (unbuffered)");
            if total != pin.data.len() {
                out.push_str(" (***total_len != data_len***)");
            }
        }
        Some(id) => {
            let _ = write!(out, " buffer={id:#010x}");
            if total < pin.data.len() {
                out.push_str(" (***total_len < data_len***)");
            }
        }
    }
    out.push('\n');
    if let Some(u) = pin.userdata.as_ref().filter(|u| !u.is_empty()) {
        let hex: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, " userdata={}", hex.join("."));
    }
    if let Some(raw) = &pin.continuation {
        format_continuation(raw, v, out);
    }
    let _ = writeln!(out, "{}", super::packet::packet_line(&pin.data));
}

/// The `continuation.*` lines of a paused packet-in, as ovs-ofctl prints them.
fn format_continuation(raw: &[u8], v: Version, out: &mut String) {
    let c = match Continuation::decode(raw, v) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, " ***continuation: {}***", e.context);
            return;
        }
    };
    let u = c.bridge;
    let _ = writeln!(
        out,
        " continuation.bridge={:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        u >> 96,
        (u >> 80) & 0xffff,
        (u >> 64) & 0xffff,
        (u >> 48) & 0xffff,
        u & 0xffff_ffff_ffff
    );
    if !c.stack.is_empty() {
        out.push_str(" continuation.stack=(top)");
        for v in c.stack.iter().rev() {
            let n = v.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b));
            if n == 0 {
                out.push_str(" 0");
            } else {
                let _ = write!(out, " {n:#x}");
            }
        }
        out.push_str(" (bottom)\n");
    }
    if c.mirrors != 0 {
        let _ = writeln!(out, " continuation.mirrors={:#x}", c.mirrors);
    }
    if c.conntracked {
        out.push_str(" continuation.conntracked=true\n");
    }
    if !c.segments.is_empty() {
        out.push_str(" continuation.actions=");
        for (i, s) in c.segments.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "unroll_xlate(table={}, cookie={})",
                s.table, s.cookie.0
            );
            if !s.actions.is_empty() {
                out.push(',');
                fvs_openflow::text::format_actions(&s.actions, out);
            }
        }
        out.push('\n');
    }
    if !c.action_set.is_empty() {
        out.push_str(" continuation.action_set=");
        fvs_openflow::text::format_actions(&c.action_set, out);
        out.push('\n');
    }
    if let Some(p) = c.odp_port {
        let _ = writeln!(out, " continuation.odp_port={p}");
    }
}

/// A port-status: the reason, then the port as `show` prints it.
fn format_port_status(ps: &PortStatus, v: Version, xid: u32, out: &mut String) {
    let reason = match ps.reason {
        PortReason::Add => "ADD",
        PortReason::Delete => "DEL",
        PortReason::Modify => "MOD",
    };
    let _ = write!(out, "{} {reason}:", heading("OFPT_PORT_STATUS", v, xid));
    format_port(&ps.desc, v, out);
}

/// A flow-removed: the match with its priority, why, the table, cookie, age, timeouts and
/// counts. OpenFlow 1.0 sessions get Nicira's form when NXM was chosen (message type 4).
fn format_flow_removed(fr: &FlowRemoved, v: Version, msg_type: u8, xid: u32, out: &mut String) {
    let name = if v == Version::Of10 && msg_type == 4 {
        "NXT_FLOW_REMOVED"
    } else {
        "OFPT_FLOW_REMOVED"
    };
    let _ = write!(out, "{} ", heading(name, v, xid));
    fvs_flow::text::format_match(&fr.r#match, u32::from(fr.priority), out);
    let reason = match fr.reason {
        FlowRemovedReason::IdleTimeout => "idle",
        FlowRemovedReason::HardTimeout => "hard",
        FlowRemovedReason::Delete => "delete",
        FlowRemovedReason::GroupDelete => "group_delete",
        FlowRemovedReason::MeterDelete => "meter_delete",
        FlowRemovedReason::Eviction => "eviction",
    };
    let _ = write!(out, " reason={reason}");
    if fr.table_id != 255 && v != Version::Of10 {
        let _ = write!(out, " table_id={}", fr.table_id);
    }
    if fr.cookie.0 != 0 {
        let _ = write!(out, " cookie:{:#x}", fr.cookie.0);
    }
    let _ = write!(out, " duration");
    format_duration(fr.duration_sec, fr.duration_nsec, out);
    let _ = write!(out, " idle{}", fr.idle_timeout);
    if fr.hard_timeout != 0 {
        let _ = write!(out, " hard{}", fr.hard_timeout);
    }
    let _ = writeln!(out, " pkts{} bytes{}", fr.packet_count, fr.byte_count);
}

/// `1.5s`: seconds, then the milliseconds without trailing zeros.
fn format_duration(sec: u32, nsec: u32, out: &mut String) {
    let _ = write!(out, "{sec}");
    let ms = nsec / 1_000_000;
    if ms != 0 {
        let frac = format!("{ms:03}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push('s');
}
