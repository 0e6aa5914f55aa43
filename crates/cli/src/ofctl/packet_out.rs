//! `packet-out`: a packet handed to a switch with the actions to apply to it.
//!
//! Two forms, as ovs-ofctl 3.1 takes them:
//!
//! - `packet-out SWITCH IN_PORT ACTIONS PACKET...`: one packet-out per hex `PACKET`, all with
//!   the same input port (a number, a reserved name or one of the switch's port names) and
//!   actions;
//! - `packet-out SWITCH "in_port=P packet=HEX [FIELD=VALUE]... actions=..."`: OpenFlow 1.5's
//!   form, with pipeline fields (tunnel metadata, registers, metadata) the switch starts the
//!   actions with. The input port defaults to `CONTROLLER`; `actions=` runs to the end.
//!
//! Any other number of arguments is `Too many arguments (N)` with N counting the command
//! name, as ovs-ofctl words it. The actions are parsed before connecting; the session takes a
//! protocol able to carry them (as for flow-mods), and every packet-out is followed by a
//! barrier. An error reply is printed as ovs-ofctl prints it: the error, then the quoted
//! packet-out with its packet's summary line; the command then exits with status 1.

use super::conn::Conn;
use super::flows::{choose_protocol_for, format_reply, require_usable};
use super::names::{PortNames, Resolver};
use super::packet::parse_hex_packet;
use super::{CmdError, Options};
use fvs_flow::text::parse_match_field;
use fvs_flow::{Field, Match, PortNo, Protocols};
use fvs_openflow::Action;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_actions;
use fvs_openflow::wire::{self, AsyncMsg, Message, PacketOut};

/// `packet-out SWITCH ...` (see the module docs).
pub(super) fn packet_out(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    match args {
        [target, text] => {
            let mut resolver = Resolver::new(opts, target);
            let (po, usable) = resolver.parse(text, parse_packet_out)?;
            send(opts, target, usable, std::iter::once(Ok(po)))
        }
        [target, in_port, actions, packets @ ..] if !packets.is_empty() => {
            let mut resolver = Resolver::new(opts, target);
            let (actions, usable) = resolver.parse(actions, parse_po_actions)?;
            let in_port = port_arg(opts, target, in_port)?;
            let pos = packets.iter().map(|hex| {
                Ok(PacketOut {
                    buffer_id: None,
                    in_port,
                    metadata: Match::CATCHALL,
                    actions: actions.clone(),
                    data: parse_hex_packet(hex).map_err(|e| CmdError::Fatal(e.to_string()))?,
                })
            });
            send(opts, target, usable, pos)
        }
        _ => Err(CmdError::Fatal(format!(
            "Too many arguments ({})",
            args.len() + 1
        ))),
    }
}

/// The input port argument: a number or reserved name, else one of the switch's ports.
fn port_arg(opts: &Options, target: &str, s: &str) -> Result<PortNo, CmdError> {
    if let Ok(p) = PortNo::parse(s) {
        return Ok(p);
    }
    PortNames::fetch(opts, target)?
        .number(s)
        .ok_or_else(|| CmdError::Fatal(format!("{target}: unknown port `{s}'")))
}

/// Connects with a protocol able to carry `usable` and sends each packet-out with a barrier.
/// A packet that does not parse stops the command there, after the ones before it went out.
fn send(
    opts: &Options,
    target: &str,
    usable: Protocols,
    pos: impl Iterator<Item = Result<PacketOut, CmdError>>,
) -> Result<(), CmdError> {
    require_usable(usable, opts.allowed)?;
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    choose_protocol_for(&mut conn, usable.and(opts.allowed), usable)?;
    let protocol = conn.protocol();
    for po in pos {
        let msg = Message::Async(AsyncMsg::PacketOut(Box::new(po?)));
        let xid = conn.alloc_xid();
        let bytes =
            wire::encode(&msg, protocol, xid).map_err(|e| CmdError::Fatal(e.to_string()))?;
        if let Some(reply) = conn.transact_noreply(&bytes, xid)? {
            return Err(CmdError::Printed(format_reply(&reply, protocol)));
        }
    }
    Ok(())
}

/// Parses the one-argument form: `in_port=`, `packet=`, pipeline fields, then `actions=` to
/// the end. Returns the packet-out and the protocols able to carry its actions.
fn parse_packet_out(text: &str) -> Result<(PacketOut, Protocols), String> {
    let (head, actions_text) = split_actions(text);
    let mut po = PacketOut {
        buffer_id: None,
        in_port: PortNo::CONTROLLER,
        metadata: Match::CATCHALL,
        actions: Vec::new(),
        data: Vec::new(),
    };
    let mut packet = None;
    for token in head
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        let (key, value) = token.split_once(['=', ':']).unwrap_or((token, ""));
        match key {
            "in_port" => {
                po.in_port = PortNo::parse(value)
                    .map_err(|_| format!("{value} is not a valid OpenFlow port"))?;
            }
            "packet" => {
                packet = Some(parse_hex_packet(value).map_err(|e| format!("packet: {e}"))?);
            }
            _ => match Field::from_name(key) {
                Some(f) if is_pipeline_field(f) => {
                    // Pipeline fields ride in OpenFlow 1.5's match only; any protocol may
                    // send the packet-out (older ones leave them behind, as ovs-ofctl does).
                    let mut ignored = Protocols::ANY;
                    parse_match_field(&mut po.metadata, key, Some(value), &mut ignored)
                        .map_err(|e| e.to_string())?;
                }
                Some(_) => {
                    return Err(format!(
                        "{key} is not a valid pipeline field for PACKET_OUT"
                    ));
                }
                None => return Err(format!("unknown keyword {key}")),
            },
        }
    }
    let mut usable = Protocols::ANY;
    if let Some(a) = actions_text {
        (po.actions, usable) = parse_po_actions(a)?;
    }
    po.data = packet.ok_or_else(|| "must specify packet".to_string())?;
    Ok((po, usable))
}

/// Parses a packet-out's action list: actions only, no instructions, except `meter`, which
/// OpenFlow 1.5 made an action (so only OpenFlow 1.5 can carry it here).
fn parse_po_actions(text: &str) -> Result<(Vec<Action>, Protocols), String> {
    let mut usable = Protocols::ANY;
    let actions = parse_actions(text, &mut usable).map_err(|e| e.to_string())?;
    for a in &actions {
        match a {
            Action::Meter(_) => usable = usable.and(Protocol::Of15.bit()),
            Action::ClearActions
            | Action::WriteActions(_)
            | Action::WriteMetadata { .. }
            | Action::GotoTable(_) => {
                return Err(format!("{} instruction not allowed here", a.ovs_name()));
            }
            _ => {}
        }
    }
    Ok((actions, usable))
}

/// Splits at an `actions=` that starts a token: what comes before, and the actions.
fn split_actions(text: &str) -> (&str, Option<&str>) {
    let mut from = 0;
    while let Some(i) = text[from..].find("actions=").map(|i| i + from) {
        let starts_token = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| c == ',' || c.is_ascii_whitespace());
        if starts_token {
            return (&text[..i], Some(&text[i + "actions=".len()..]));
        }
        from = i + 1;
    }
    (text, None)
}

/// Fields a packet-out may set before its actions run: what the switch keeps beside the
/// packet (tunnel metadata, registers, metadata), not what is in it.
fn is_pipeline_field(f: Field) -> bool {
    let name = f.name();
    name.starts_with("tun_")
        || name.starts_with("reg")
        || name.starts_with("xreg")
        || name.starts_with("xxreg")
        || name == "metadata"
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: &str = "ffffffffffff0000000000010800";

    #[test]
    fn one_argument_form_reads_keywords_and_actions_to_the_end() {
        let (po, _) = parse_packet_out(&format!(
            "in_port=LOCAL reg0=5,packet={FRAME},actions=output:2,LOCAL"
        ))
        .unwrap();
        assert_eq!(po.in_port, PortNo::LOCAL);
        assert_eq!(po.data.len(), 14);
        assert_eq!(po.metadata.key.get(Field::Reg0.loc()), 5);
        assert_eq!(po.actions.len(), 2);
        let (po, _) = parse_packet_out(&format!("packet={FRAME}")).unwrap();
        assert_eq!(po.in_port, PortNo::CONTROLLER);
        assert!(po.actions.is_empty());
    }

    #[test]
    fn one_argument_form_names_what_is_wrong_as_ovs_ofctl() {
        let err = |t: &str| parse_packet_out(t).err().unwrap_or_default();
        assert_eq!(err("in_port=1,actions=output:2"), "must specify packet");
        assert_eq!(err("in_port=1,foo=1,packet=00"), "unknown keyword foo");
        assert_eq!(
            err("in_port=1,packet=zz"),
            "packet: Trailing garbage in packet data"
        );
        assert_eq!(
            err(&format!("in_port=eth9,packet={FRAME}")),
            "eth9 is not a valid OpenFlow port"
        );
    }
}
