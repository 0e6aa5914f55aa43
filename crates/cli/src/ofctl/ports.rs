//! `dump-ports-desc [PORT]`, `dump-ports [PORT]`, `mod-port PORT ACTION`: ports read and changed as
//! ovs-ofctl does.
//!
//! # Naming a port
//!
//! A port is given by number, reserved name or port name. ovs-ofctl resolves a port name with
//! a port description request on a helper connection; that costs transaction ids, so a
//! command given a name prints a later xid (`dump-ports br0 patch-int` prints `0x4` where
//! `dump-ports br0 1` prints `0x2`). This module asks on its own connection and spends the
//! same ids. `mod-port` always looks the port up (it needs the port's Ethernet address for
//! the port-mod), by number or name but not by reserved name: ovs-ofctl reports
//! ``couldn't find port `LOCAL'`` there, and so does this.
//!
//! # mod-port
//!
//! The actions are `up`/`down` (`PORT_DOWN`), `receive`/`no-receive` (`NO_RECV`),
//! `forward`/`no-forward` (`NO_FWD`), `packet-in`/`no-packet-in` (`NO_PACKET_IN`), and the
//! OpenFlow 1.0 bits `flood`/`no-flood` (`NO_FLOOD`) and `stp`/`no-stp` (`NO_STP`). The
//! port-mod goes out with a barrier; an error reply is printed as ovs-ofctl prints it.

use super::conn::{Conn, Received};
use super::multipart::{Multipart, Part};
use super::show::{format_ports, port_descs, port_descs_of, reply_to, unexpected};
use super::{CmdError, Options};
use fvs_openflow::PortNo;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::port::{
    OFPPC_NO_FLOOD, OFPPC_NO_FWD, OFPPC_NO_PACKET_IN, OFPPC_NO_RECV, OFPPC_NO_STP, OFPPC_PORT_DOWN,
    PortMod, PortMsg, PortStats, PortStatsReply, UNKNOWN,
};
use fvs_openflow::wire::{self, Message, PortDesc, Version};
use std::fmt::Write as _;

/// `dump-ports-desc SWITCH [PORT]`: OpenFlow 1.5's request names the port; earlier ones
/// cannot, and the switch lists every port, as it does for ovs-ofctl.
pub(super) fn dump_ports_desc(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let mut conn = open(opts, args)?;
    let v = conn.version();
    let port = port_arg(&mut conn, args)?;
    for (part, ports) in port_descs_of(&mut conn, port)? {
        let _ = writeln!(out, "{}", part.heading("OFPST_PORT_DESC reply"));
        format_ports(&ports, v, out);
    }
    Ok(())
}

/// The optional PORT argument (`args[1]`): all ports without one; a number or reserved name
/// as it is; a port name looked up as ovs-ofctl does, which spends two more ids.
fn port_arg(conn: &mut Conn, args: &[String]) -> Result<PortNo, CmdError> {
    let Some(p) = args.get(1) else {
        return Ok(PortNo::ANY);
    };
    if let Ok(n) = PortNo::parse(p) {
        return Ok(n);
    }
    let target = args.first().map_or("", String::as_str);
    let found = port_descs(conn)?
        .into_iter()
        .flat_map(|(_, p)| p)
        .find(|d| &d.name == p)
        .ok_or_else(|| CmdError::Fatal(format!("{target}: unknown port `{p}'")))?;
    conn.alloc_xid();
    Ok(found.port_no)
}

fn open(opts: &Options, args: &[String]) -> Result<Conn, CmdError> {
    let target = args
        .first()
        .ok_or_else(|| CmdError::Fatal("missing arguments".into()))?;
    Ok(Conn::open(target, opts.allowed, opts.timeout)?)
}

/// Finds the port `name` names among the switch's ports (by number or port name).
fn find_port(
    conn: &mut Conn,
    target: &str,
    name: &str,
    reserved_ok: bool,
) -> Result<PortDesc, CmdError> {
    let ports: Vec<PortDesc> = port_descs(conn)?.into_iter().flat_map(|(_, p)| p).collect();
    let by_number = if reserved_ok {
        PortNo::parse(name).ok()
    } else {
        name.parse::<u16>().ok().map(PortNo::from_of10)
    };
    ports
        .into_iter()
        .find(|p| p.name == name || Some(p.port_no) == by_number)
        .ok_or_else(|| CmdError::Fatal(format!("{target}: couldn't find port `{name}'")))
}

/// `dump-ports SWITCH [PORT]`.
pub(super) fn dump_ports(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let mut conn = open(opts, args)?;
    let port = port_arg(&mut conn, args)?;
    let protocol = conn.protocol();
    for reply in Multipart::send(&mut conn, &Message::Port(PortMsg::StatsRequest(port)))? {
        let reply = reply?;
        let Some(Message::Port(PortMsg::StatsReply(PortStatsReply { ports, .. }))) = &reply.message
        else {
            return Err(error_or_unexpected(&reply, protocol));
        };
        let _ = writeln!(
            out,
            "{} {} ports",
            Part::of(&reply).heading("OFPST_PORT reply"),
            ports.len()
        );
        for s in ports {
            format_port_stats(s, out);
        }
    }
    Ok(())
}

/// An error reply printed as ovs-ofctl prints it, or "unexpected reply".
fn error_or_unexpected(reply: &Received, protocol: Protocol) -> CmdError {
    match &reply.message {
        Some(Message::Error(_)) => CmdError::Printed(super::flows::format_reply(reply, protocol)),
        _ => unexpected(reply),
    }
}

/// A counter, or `?` when the switch does not keep it.
fn counter(x: u64) -> String {
    if x == UNKNOWN {
        "?".into()
    } else {
        x.to_string()
    }
}

fn format_port_stats(s: &PortStats, out: &mut String) {
    let port = s.port_no.to_string();
    let _ = writeln!(
        out,
        "  port {port:>2}: rx pkts={}, bytes={}, drop={}, errs={}, frame={}, over={}, crc={}",
        counter(s.rx_packets),
        counter(s.rx_bytes),
        counter(s.rx_dropped),
        counter(s.rx_errors),
        counter(s.rx_frame_err),
        counter(s.rx_over_err),
        counter(s.rx_crc_err),
    );
    let _ = writeln!(
        out,
        "           tx pkts={}, bytes={}, drop={}, errs={}, coll={}",
        counter(s.tx_packets),
        counter(s.tx_bytes),
        counter(s.tx_dropped),
        counter(s.tx_errors),
        counter(s.collisions),
    );
    if let Some(d) = s.duration
        && d.sec != u32::MAX
    {
        let _ = writeln!(
            out,
            "           duration={}.{:03}s",
            d.sec,
            d.nsec / 1_000_000
        );
    }
    if !s.custom.is_empty() {
        let _ = writeln!(out, "           CUSTOM Statistics");
        // Three counters a line, each followed by a comma.
        for chunk in s.custom.chunks(3) {
            let items: Vec<String> = chunk.iter().map(|(n, v)| format!("{n}={v}")).collect();
            let _ = writeln!(out, "                      {},", items.join(", "));
        }
    }
}

/// A mod-port action: the bit it changes and the value it gives it.
fn mod_port_action(word: &str) -> Option<(u32, bool)> {
    Some(match word {
        "up" => (OFPPC_PORT_DOWN, false),
        "down" => (OFPPC_PORT_DOWN, true),
        "stp" => (OFPPC_NO_STP, false),
        "no-stp" => (OFPPC_NO_STP, true),
        "receive" => (OFPPC_NO_RECV, false),
        "no-receive" => (OFPPC_NO_RECV, true),
        "forward" => (OFPPC_NO_FWD, false),
        "no-forward" => (OFPPC_NO_FWD, true),
        "flood" => (OFPPC_NO_FLOOD, false),
        "no-flood" => (OFPPC_NO_FLOOD, true),
        "packet-in" => (OFPPC_NO_PACKET_IN, false),
        "no-packet-in" => (OFPPC_NO_PACKET_IN, true),
        _ => return None,
    })
}

/// `mod-port SWITCH PORT ACTION`.
pub(super) fn mod_port(opts: &Options, args: &[String], out: &mut String) -> Result<(), CmdError> {
    let _ = out;
    let (Some(target), Some(port), Some(action)) = (args.first(), args.get(1), args.get(2)) else {
        return Err(CmdError::Fatal("missing arguments".into()));
    };
    let (bit, set) = mod_port_action(action)
        .ok_or_else(|| CmdError::Fatal(format!("unknown mod-port command '{action}'")))?;
    let mut conn = open(opts, args)?;
    let v = conn.version();
    // OpenFlow 1.0 sessions find the port in the features reply, as ovs-ofctl does; later
    // ones in a port description reply. Either way, ids 2 and 3 are spent.
    let desc = if v == Version::Of10 {
        let xid = conn.send(&Message::FeaturesRequest)?;
        let reply = reply_to(&mut conn, xid)?;
        let Some(Message::FeaturesReply(f)) = reply.message else {
            return Err(unexpected(&reply));
        };
        let by_number = port.parse::<u16>().ok().map(PortNo::from_of10);
        let found = f
            .ports
            .into_iter()
            .find(|p| &p.name == port || Some(p.port_no) == by_number);
        conn.alloc_xid();
        found.ok_or_else(|| CmdError::Fatal(format!("{target}: couldn't find port `{port}'")))?
    } else {
        let d = find_port(&mut conn, target, port, false)?;
        conn.alloc_xid();
        d
    };
    let pm = PortMod {
        port_no: desc.port_no,
        hw_addr: desc.hw_addr,
        config: if set { bit } else { 0 },
        mask: bit,
        advertise: 0,
    };
    let xid = conn.alloc_xid();
    let bytes = wire::encode(&Message::Port(PortMsg::Mod(pm)), conn.protocol(), xid)
        .map_err(|e| CmdError::Fatal(e.to_string()))?;
    match conn.transact_noreply(&bytes, xid)? {
        None => Ok(()),
        Some(reply) => Err(error_or_unexpected(&reply, conn.protocol())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_print_unknown_as_a_question_mark_and_custom_three_a_line() {
        let mut s = PortStats::zeroed(PortNo(1));
        s.custom = (0..4).map(|i| (format!("c{i}"), i)).collect();
        let mut out = String::new();
        format_port_stats(&s, &mut out);
        assert_eq!(
            out,
            "  port  1: rx pkts=0, bytes=0, drop=?, errs=?, frame=?, over=?, crc=?\n           tx pkts=0, bytes=0, drop=?, errs=?, coll=?\n           CUSTOM Statistics\n                      c0=0, c1=1, c2=2,\n                      c3=3,\n"
        );
        assert_eq!(mod_port_action("no-flood"), Some((OFPPC_NO_FLOOD, true)));
        assert_eq!(mod_port_action("bogus"), None);
    }
}
