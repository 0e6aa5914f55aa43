//! The meter commands: `add-meter`, `mod-meter`, `del-meter`/`del-meters`, `dump-meter`/
//! `dump-meters`, `meter-stats` and `meter-features`.
//!
//! As ovs-ofctl: meters need OpenFlow 1.3 or later among the allowed protocols (ovs-ofctl's
//! default, OpenFlow 1.0 with NXM, is refused with its "none of the usable flow formats"
//! message before connecting); the text is parsed before connecting
//! (`fvs_openflow::text::meter`). A meter-mod goes out with a barrier; an error reply is
//! printed with the quoted meter-mod on standard error and the command fails. A request for
//! meters the switch refuses (an unknown meter) prints the error and the quoted request on
//! standard output and succeeds, as ovs-ofctl does. Replies print as `ovs-ofctl` prints
//! them, entries in the switch's order.

use super::conn::Conn;
use super::heading::heading;
use super::multipart::{Multipart, Part};
use super::show::{reply_to, unexpected};
use super::{CmdError, Options};
use fvs_flow::Protocols;
use fvs_openflow::MeterId;
use fvs_openflow::meter::{MeterMod, MeterModCommand};
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::meter::{
    format_meter_config, format_meter_features, format_meter_stats, parse_meter_mod,
    parse_meter_selector,
};
use fvs_openflow::wire::meter::MeterMsg;
use fvs_openflow::wire::table::TableMsg;
use fvs_openflow::wire::{self, Message};
use std::fmt::Write as _;

/// The protocols that carry meters.
fn meter_protocols() -> Protocols {
    Protocol::Of13
        .bit()
        .or(Protocol::Of14.bit())
        .or(Protocol::Of15.bit())
}

/// Connects with the allowed protocols that carry meters (refusing, in ovs-ofctl's words,
/// when there are none).
fn open(opts: &Options, target: &str) -> Result<Conn, CmdError> {
    let usable = meter_protocols();
    super::flows::require_usable(usable, opts.allowed)?;
    Ok(Conn::open(target, usable.and(opts.allowed), opts.timeout)?)
}

fn parse(text: &str, command: MeterModCommand) -> Result<MeterMod, CmdError> {
    parse_meter_mod(text, command).map_err(|e| CmdError::Fatal(e.to_string()))
}

/// Sends a meter-mod with a barrier; an error reply is printed and fails the command.
fn send_mod(opts: &Options, target: &str, mm: MeterMod) -> Result<(), CmdError> {
    let mut conn = open(opts, target)?;
    let xid = conn.alloc_xid();
    let bytes = wire::encode(&Message::Meter(MeterMsg::Mod(mm)), conn.protocol(), xid)
        .map_err(|e| CmdError::Fatal(e.to_string()))?;
    match conn.transact_noreply(&bytes, xid)? {
        None => Ok(()),
        Some(reply) => Err(match &reply.message {
            Some(Message::Error(_)) => {
                CmdError::Printed(super::flows::format_reply(&reply, conn.protocol()))
            }
            _ => unexpected(&reply),
        }),
    }
}

/// `add-meter SWITCH METER`.
pub(super) fn add_meter(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let mm = parse(&args[1], MeterModCommand::Add)?;
    send_mod(opts, &args[0], mm)
}

/// `mod-meter SWITCH METER`.
pub(super) fn mod_meter(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let mm = parse(&args[1], MeterModCommand::Modify)?;
    send_mod(opts, &args[0], mm)
}

/// `del-meters SWITCH [meter=N]` (and `del-meter`): every meter without one.
pub(super) fn del_meters(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let text = args.get(1).map_or("", String::as_str);
    let mm = parse(text, MeterModCommand::Delete)?;
    send_mod(opts, &args[0], mm)
}

fn selector(args: &[String]) -> Result<MeterId, CmdError> {
    parse_meter_selector(args.get(1).map_or("", String::as_str))
        .map_err(|e| CmdError::Fatal(e.to_string()))
}

/// `dump-meters SWITCH [meter=N]` (and `dump-meter`).
pub(super) fn dump_meters(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let id = selector(args)?;
    dump(opts, args, out, MeterMsg::ConfigRequest(id))
}

/// `meter-stats SWITCH [meter=N]`.
pub(super) fn meter_stats(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let id = selector(args)?;
    dump(opts, args, out, MeterMsg::StatsRequest(id))
}

fn dump(opts: &Options, args: &[String], out: &mut String, req: MeterMsg) -> Result<(), CmdError> {
    let mut conn = open(opts, &args[0])?;
    let protocol = conn.protocol();
    for reply in Multipart::send(&mut conn, &Message::Meter(req))? {
        let reply = reply?;
        let title = match &reply.message {
            Some(Message::Meter(MeterMsg::ConfigReply(_))) => "OFPST_METER_CONFIG",
            Some(Message::Meter(MeterMsg::StatsReply(_))) => "OFPST_METER",
            Some(Message::Error(_)) => {
                // ovs-ofctl prints a refused dump as a reply, and succeeds.
                out.push_str(&super::flows::format_reply(&reply, protocol));
                return Ok(());
            }
            _ => return Err(unexpected(&reply)),
        };
        let _ = write!(
            out,
            "{}",
            Part::of(&reply).heading(format_args!("{title} reply"))
        );
        match &reply.message {
            Some(Message::Meter(MeterMsg::ConfigReply(cs))) => {
                for (i, c) in cs.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { "\n\n" });
                    format_meter_config(c, out);
                }
                out.push('\n');
            }
            Some(Message::Meter(MeterMsg::StatsReply(ss))) => {
                out.push('\n');
                for (i, s) in ss.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    format_meter_stats(s, out);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `meter-features SWITCH`.
pub(super) fn meter_features(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let mut conn = open(opts, &args[0])?;
    let v = conn.version();
    let xid = conn.send(&Message::Table(TableMsg::MeterFeaturesRequest))?;
    let reply = reply_to(&mut conn, xid)?;
    match &reply.message {
        Some(Message::Table(TableMsg::MeterFeaturesReply(f))) => {
            let _ = writeln!(
                out,
                "{}",
                heading("OFPST_METER_FEATURES reply", v, reply.header.xid)
            );
            format_meter_features(f, out);
            Ok(())
        }
        Some(Message::Error(_)) => {
            out.push_str(&super::flows::format_reply(&reply, conn.protocol()));
            Ok(())
        }
        _ => Err(unexpected(&reply)),
    }
}
