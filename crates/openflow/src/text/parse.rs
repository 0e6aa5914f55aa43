//! Recursive-descent parser for ovs-ofctl action text (`actions=` values).
//!
//! The list is split with the shared [`KeyValues`] splitter; each key names an action
//! (case-insensitively), a bare port (`output:` implied), or `drop`. Nested lists
//! (`clone(...)`, `write_actions(...)`, `ct(exec(...))`) recurse. While parsing, the set of
//! protocols able to carry the actions is narrowed (a `set_field` needs a protocol that can
//! name the field; `meter` needs OpenFlow 1.3+).

use super::ActionParseError as E;
use super::kv::KeyValues;
use super::value::{
    parse_eth, parse_field_value, parse_port, parse_subfield, parse_table, parse_u8, parse_u16,
    parse_u32, parse_u64, parse_u128, parse_uint,
};
use crate::action::{
    Action, Bundle, BundleAlgorithm, Controller, Encap, HashFields, Multipath, MultipathAlgorithm,
    Output, PacketInReason, PopVlanSpelling, Resubmit, Sample, SampleDirection, SetField,
    SetFieldSpelling, SetTunnelSpelling,
};
use crate::ct::{Ct, CtZone, Nat, NatKind, NatPortSelection};
use crate::learn::{Learn, LearnSpec, LearnSrc};
use crate::types::{
    Cookie, GroupId, MeterId, PortNo, QueueId, Subfield, TableId, field_width, low_mask,
    subfield_mask,
};
use core::net::{IpAddr, Ipv4Addr};
use fvs_flow::{Field, Protocols};

/// Parses an action list. `"drop"` and `""` are the empty list.
pub fn parse_actions(s: &str, protocols: &mut Protocols) -> Result<Vec<Action>, E> {
    parse_list(s, Nesting::Top, protocols)
}

/// Where an action list sits; nested lists accept less than the top level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nesting {
    /// The flow's own list (apply-actions and instructions).
    Top,
    /// Inside `clone(...)`.
    Clone,
    /// Inside `write_actions(...)`.
    WriteActions,
    /// Inside `ct(exec(...))`.
    CtExec,
}

impl Nesting {
    /// The enclosing action's name, as error messages give it.
    fn outer_name(self) -> &'static str {
        match self {
            Self::Top => "apply_actions",
            Self::Clone => "clone",
            Self::WriteActions => "write_actions",
            Self::CtExec => "ct",
        }
    }
}

fn parse_list(s: &str, nesting: Nesting, protocols: &mut Protocols) -> Result<Vec<Action>, E> {
    let mut out = Vec::new();
    let mut saw_drop = false;
    let mut pairs = KeyValues::new(s);
    while let Some((key, value)) = pairs.next() {
        if key.eq_ignore_ascii_case("drop") {
            saw_drop = true;
            continue;
        }
        if key.eq_ignore_ascii_case("check_pkt_larger") {
            // `check_pkt_larger(N)->dst`: the destination follows the closing parenthesis.
            let dst = pairs.take_arrow_suffix().unwrap_or("");
            out.push(parse_check_pkt_larger(value, dst)?);
            continue;
        }
        let action = parse_one(key, value, nesting, protocols)?;
        check_nested(&action, nesting)?;
        out.push(action);
    }
    if saw_drop && !out.is_empty() {
        return Err(E::DropNotAlone);
    }
    if nesting == Nesting::Top {
        check_instruction_order(&out)?;
    }
    check_conjunctions(&out)?;
    Ok(out)
}

/// What a nested list may not contain: instructions anywhere, `meter` in `clone` and
/// `write_actions`, and anything but writes to `ct_mark`/`ct_label` (and `nat`) in `ct`.
fn check_nested(a: &Action, nesting: Nesting) -> Result<(), E> {
    if nesting == Nesting::Top {
        return Ok(());
    }
    if matches!(
        a,
        Action::ClearActions
            | Action::WriteActions(_)
            | Action::WriteMetadata { .. }
            | Action::GotoTable(_)
    ) {
        return Err(E::InstructionNotAllowed(a.ovs_name()));
    }
    let nested = || E::NestedAction {
        outer: nesting.outer_name(),
        name: a.ovs_name(),
    };
    match nesting {
        Nesting::Top => Ok(()),
        Nesting::Clone | Nesting::WriteActions => match a {
            Action::Meter(_) => Err(nested()),
            _ => Ok(()),
        },
        Nesting::CtExec => {
            let ct_field = |f: Field| matches!(f, Field::CtMark | Field::CtLabel);
            match a {
                Action::SetField(sf) if !ct_field(sf.field) => {
                    Err(E::CtNestedModification(sf.field.name()))
                }
                Action::Move { dst, .. } if !ct_field(dst.field) => {
                    Err(E::CtNestedModification(dst.field.name()))
                }
                Action::SetField(_) | Action::Move { .. } | Action::Nat(_) => Ok(()),
                _ => Err(nested()),
            }
        }
    }
}

/// A flow with `conjunction` actions may otherwise only carry notes.
fn check_conjunctions(actions: &[Action]) -> Result<(), E> {
    if !actions
        .iter()
        .any(|a| matches!(a, Action::Conjunction { .. }))
    {
        return Ok(());
    }
    match actions
        .iter()
        .find(|a| !matches!(a, Action::Conjunction { .. } | Action::Note(_)))
    {
        Some(other) => Err(E::ConjunctionWithOthers(other.ovs_name())),
        None => Ok(()),
    }
}

/// Parses one `key[:=(]value` action.
fn parse_one(
    key: &str,
    value: &str,
    nesting: Nesting,
    protocols: &mut Protocols,
) -> Result<Action, E> {
    let name = key.to_ascii_lowercase();
    let action = match name.as_str() {
        "output" => parse_output(value)?,
        "enqueue" => parse_enqueue(value)?,
        "resubmit" => Action::Resubmit(parse_resubmit(value)?),
        "controller" => parse_controller(value)?,
        "group" => Action::Group(GroupId(parse_u32(value)?)),
        "bundle" => Action::Bundle(parse_bundle(value, false)?),
        "bundle_load" => Action::Bundle(parse_bundle(value, true)?),
        "clone" => {
            // ovs-ofctl starts a nested clone list from "any protocol" and keeps only what
            // that list narrows to, forgetting the narrowing of the actions before it.
            *protocols = Protocols::ANY;
            Action::Clone(parse_list(value, Nesting::Clone, protocols)?)
        }
        "exit" => Action::Exit,
        "conjunction" => parse_conjunction(value)?,
        "mod_vlan_vid" | "set_vlan_vid" => Action::SetVlanVid {
            vid: parse_vid(value)?,
            push_if_needed: name == "mod_vlan_vid",
        },
        "mod_vlan_pcp" | "set_vlan_pcp" => Action::SetVlanPcp {
            pcp: parse_pcp(value)?,
            push_if_needed: name == "mod_vlan_pcp",
        },
        "strip_vlan" => Action::PopVlan(PopVlanSpelling::StripVlan),
        "pop_vlan" => Action::PopVlan(PopVlanSpelling::PopVlan),
        "push_vlan" => {
            let ethertype = parse_u16(value, "ethertype")?;
            if ethertype != 0x8100 && ethertype != 0x88a8 {
                return Err(E::BadPushVlan(value.to_string()));
            }
            // OpenFlow 1.0 (even with Nicira extensions) cannot push a VLAN tag.
            *protocols = protocols.and(OF11_UP);
            Action::PushVlan(ethertype)
        }
        "push_mpls" => Action::PushMpls(parse_u16(value, "push_mpls")?),
        "pop_mpls" => Action::PopMpls(parse_u16(value, "pop_mpls")?),
        "set_mpls_label" => match parse_u32(value)? {
            label if label < 1 << 20 => Action::SetMplsLabel(label),
            _ => return Err(E::BadMplsLabel(value.to_string())),
        },
        "set_mpls_tc" => Action::SetMplsTc(parse_uint(value, 3, "MPLS TC")? as u8),
        "set_mpls_ttl" => Action::SetMplsTtl(parse_u8(value, "MPLS TTL")?),
        "dec_mpls_ttl" => Action::DecMplsTtl,
        "mod_dl_src" => Action::SetEthSrc(parse_eth(value).ok_or_else(|| bad_mac(value))?),
        "mod_dl_dst" => Action::SetEthDst(parse_eth(value).ok_or_else(|| bad_mac(value))?),
        "mod_nw_src" => Action::SetIpv4Src(parse_ipv4(value)?),
        "mod_nw_dst" => Action::SetIpv4Dst(parse_ipv4(value)?),
        "mod_nw_tos" => {
            let tos = parse_u8(value, "TOS")?;
            if tos & 0x03 != 0 {
                return Err(E::BadTos(value.to_string()));
            }
            Action::SetIpTos(tos)
        }
        "mod_nw_ecn" => {
            let ecn = parse_u8(value, "ECN")?;
            if ecn > 3 {
                return Err(E::BadEcn(value.to_string()));
            }
            Action::SetIpEcn(ecn)
        }
        "mod_nw_ttl" => Action::SetIpTtl(parse_u8(value, "TTL")?),
        "mod_tp_src" => Action::SetL4SrcPort(parse_u16(value, "source port")?),
        "mod_tp_dst" => Action::SetL4DstPort(parse_u16(value, "destination port")?),
        "dec_ttl" => parse_dec_ttl(value)?,
        "set_field" => Action::SetField(parse_set_field(value, protocols)?),
        "load" => parse_load(value)?,
        "move" => parse_move(value)?,
        "set_tunnel" | "set_tunnel64" => {
            let id = parse_u64(value)?;
            // An id over 32 bits can only travel as the 64-bit action.
            let wide = name == "set_tunnel64" || id > u64::from(u32::MAX);
            Action::SetTunnel {
                id,
                spelling: if wide {
                    SetTunnelSpelling::SetTunnel64
                } else {
                    SetTunnelSpelling::SetTunnel
                },
            }
        }
        "set_queue" => Action::SetQueue(QueueId(parse_u32(value)?)),
        "pop_queue" => Action::PopQueue,
        "push" => Action::StackPush(parse_subfield(value)?),
        "pop" => Action::StackPop(parse_subfield(value)?),
        "multipath" => parse_multipath(value)?,
        "encap" => {
            *protocols = protocols.and(OF13_UP);
            Action::Encap(parse_encap(value)?)
        }
        "decap" => parse_decap(value)?,
        "learn" => Action::Learn(Box::new(parse_learn(value)?)),
        "fin_timeout" => parse_fin_timeout(value)?,
        "note" => Action::Note(parse_note(value)?),
        "sample" => Action::Sample(parse_sample(value)?),
        "ct" => Action::Ct(Box::new(parse_ct(value, protocols)?)),
        "nat" if nesting == Nesting::CtExec => Action::Nat(parse_nat(value)?),
        "nat" => return Err(E::NatOutsideCt),
        "ct_clear" => Action::CtClear,
        "meter" => {
            *protocols = protocols.and(OF13_UP);
            Action::Meter(MeterId(parse_u32(value)?))
        }
        "clear_actions" => Action::ClearActions,
        "write_actions" => {
            Action::WriteActions(parse_list(value, Nesting::WriteActions, protocols)?)
        }
        "write_metadata" => {
            *protocols = protocols.and(
                Protocols::NXM_ANY
                    .or(Protocols::OXM_ANY)
                    .or(Protocols::OF11_STD),
            );
            parse_write_metadata(value)?
        }
        "goto_table" => Action::GotoTable(TableId(parse_table(value)?)),
        _ => {
            // A bare port is an output: `1`, `LOCAL`, `NORMAL`.
            // (ovs-ofctl ignores anything after a bare port: `1(2)` is `output:1`.)
            if let Ok(port) = parse_port(key) {
                return Ok(output_to(port));
            }
            return Err(E::UnknownAction(key.to_string()));
        }
    };
    Ok(action)
}

/// OpenFlow 1.1 and later.
const OF11_UP: Protocols = Protocols(Protocols::OF11_STD.0 | Protocols::OXM_ANY.0);

/// OpenFlow 1.3 and later.
const OF13_UP: Protocols =
    Protocols(Protocols::OF13_OXM.0 | Protocols::OF14_OXM.0 | Protocols::OF15_OXM.0);

fn bad_mac(s: &str) -> E {
    // ovs-ofctl names the whole value.
    E::BadMac(s.to_string())
}

fn parse_ipv4(s: &str) -> Result<Ipv4Addr, E> {
    s.parse().map_err(|_| E::BadIp(s.to_string()))
}

/// `output:CONTROLLER` carries a packet-in length (all of it by default).
fn output_to(port: PortNo) -> Action {
    let max_len = if port == PortNo::CONTROLLER {
        u16::MAX
    } else {
        0
    };
    Action::Output(Output { port, max_len })
}

fn parse_output(value: &str) -> Result<Action, E> {
    if value.contains('[') {
        return Ok(Action::OutputReg {
            src: parse_subfield(value)?,
            max_len: 0,
        });
    }
    if value.contains("port") && value.contains("max_len") {
        // output(port=P,max_len=N)
        let mut port = None;
        let mut max_len = None;
        for (k, v) in KeyValues::new(value) {
            match k {
                "port" => {
                    let p = parse_port(v)?;
                    // Truncation works on physical ports and the two reserved ports that
                    // stand for one.
                    if p.0 >= PortNo::MAX.0 && p != PortNo::IN_PORT && p != PortNo::LOCAL {
                        return Err(E::TruncatePort(p));
                    }
                    port = Some(p);
                }
                "max_len" => {
                    let n = parse_u32(v)?;
                    if n < 14 {
                        return Err(E::MaxLenTooSmall(n));
                    }
                    max_len = Some(n);
                }
                _ => {
                    return Err(E::UnknownArgument {
                        action: "output",
                        token: k.to_string(),
                    });
                }
            }
        }
        let port = port.ok_or(E::MissingArgument {
            action: "output",
            what: "port",
        })?;
        let max_len = max_len.ok_or(E::MissingArgument {
            action: "output",
            what: "max_len",
        })?;
        return Ok(Action::OutputTrunc { port, max_len });
    }
    match parse_port(value) {
        Ok(port) => Ok(output_to(port)),
        // A bare field name (`output:reg1`) is the whole field.
        Err(e) => match parse_subfield(value) {
            Ok(src) => Ok(Action::OutputReg { src, max_len: 0 }),
            Err(_) => Err(e),
        },
    }
}

fn parse_enqueue(value: &str) -> Result<Action, E> {
    let (p, q) = value
        .split_once(':')
        .or_else(|| value.split_once(','))
        .ok_or(E::BadEnqueue)?;
    Ok(Action::Enqueue {
        port: parse_port(p)?,
        queue: QueueId(parse_u32(q)?),
    })
}

fn parse_resubmit(value: &str) -> Result<Resubmit, E> {
    if !value.contains(',') {
        let in_port = parse_port(value).map_err(|_| E::ResubmitBadPort(value.to_string()))?;
        if in_port == PortNo::IN_PORT {
            return Err(E::ResubmitNeedsPortOrTable);
        }
        return Ok(Resubmit {
            in_port,
            table: None,
            ct: false,
        });
    }
    let mut parts = value.splitn(3, ',');
    let port_s = parts.next().unwrap_or("");
    let table_s = parts.next().unwrap_or("");
    let ct_s = parts.next();
    let in_port = if port_s.is_empty() {
        PortNo::IN_PORT
    } else {
        parse_port(port_s).map_err(|_| E::ResubmitBadPort(port_s.to_string()))?
    };
    let table = if table_s.is_empty() {
        None
    } else {
        let t = parse_table(table_s).map_err(|_| E::ResubmitBadTable(table_s.to_string()))?;
        (t != TableId::ALL_RAW).then_some(TableId(t))
    };
    let ct = match ct_s {
        None => false,
        Some("ct") => true,
        Some(other) => return Err(E::UnknownParameter(other.to_string())),
    };
    if in_port == PortNo::IN_PORT && table.is_none() {
        return Err(E::ResubmitNeedsPortOrTable);
    }
    Ok(Resubmit { in_port, table, ct })
}

fn parse_controller(value: &str) -> Result<Action, E> {
    let mut c = Controller {
        max_len: u16::MAX,
        reason: PacketInReason::Action,
        controller_id: 0,
        userdata: None,
        pause: false,
        meter_id: None,
    };
    if value.is_empty() {
        return Ok(output_to(PortNo::CONTROLLER));
    }
    if !value.contains(['=', ',']) && value != "pause" {
        return Ok(Action::Output(Output {
            port: PortNo::CONTROLLER,
            max_len: parse_u16(value, "max_len")?,
        }));
    }
    for (k, v) in KeyValues::new(value) {
        match k {
            "max_len" => c.max_len = parse_u16(v, "max_len")?,
            "reason" => {
                c.reason = match v {
                    "no_match" => PacketInReason::NoMatch,
                    "action" => PacketInReason::Action,
                    "invalid_ttl" => PacketInReason::InvalidTtl,
                    "action_set" => PacketInReason::ActionSet,
                    "group" => PacketInReason::Group,
                    "packet_out" => PacketInReason::PacketOut,
                    _ => return Err(E::ControllerReason(v.to_string())),
                }
            }
            "id" => c.controller_id = parse_u16(v, "controller id")?,
            "userdata" => c.userdata = Some(parse_hex_bytes(v)?),
            "pause" => c.pause = true,
            "meter_id" => c.meter_id = Some(MeterId(parse_u32(v)?)),
            _ => return Err(E::ControllerKey(k.to_string())),
        }
    }
    // Without options beyond the length, `controller(...)` is plain output to the controller;
    // one model form keeps `CONTROLLER:N` and `controller(max_len=N)` equal.
    let plain = c.reason == PacketInReason::Action
        && c.controller_id == 0
        && c.userdata.is_none()
        && !c.pause
        && c.meter_id.is_none();
    if plain {
        return Ok(Action::Output(Output {
            port: PortNo::CONTROLLER,
            max_len: c.max_len,
        }));
    }
    Ok(Action::Controller(c))
}

/// Hex bytes, optionally separated by `.` (`01.02`, `0102`).
fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, E> {
    let digits: Vec<u8> = s.bytes().filter(|b| *b != b'.').collect();
    if !digits.len().is_multiple_of(2) {
        return Err(E::BadHex(s.to_string()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hex = core::str::from_utf8(pair).map_err(|_| E::BadHex(s.to_string()))?;
            u8::from_str_radix(hex, 16).map_err(|_| E::BadHex(s.to_string()))
        })
        .collect()
}

fn parse_note(value: &str) -> Result<Vec<u8>, E> {
    parse_hex_bytes(value).map_err(|_| E::BadNote)
}

fn parse_conjunction(value: &str) -> Result<Action, E> {
    let syntax = || E::ConjunctionSyntax;
    let (id, rest) = value.split_once(',').ok_or_else(syntax)?;
    let (k, n) = rest.split_once('/').ok_or_else(syntax)?;
    let id = parse_u32(id.trim()).map_err(|_| syntax())?;
    let clause = parse_u128(k.trim()).ok_or_else(syntax)?;
    let n_clauses = parse_u128(n.trim()).ok_or_else(syntax)?;
    if n_clauses < 2 {
        return Err(E::ConjunctionTooFew);
    }
    if n_clauses > 64 {
        return Err(E::ConjunctionTooMany);
    }
    if clause == 0 {
        return Err(E::ConjunctionClauseZero);
    }
    if clause > n_clauses {
        return Err(E::ConjunctionClauseTooBig);
    }
    // Both are at most 64 here.
    let (clause, n_clauses) = (clause as u8, n_clauses as u8);
    Ok(Action::Conjunction {
        id,
        clause,
        n_clauses,
    })
}

fn parse_check_pkt_larger(len: &str, dst: &str) -> Result<Action, E> {
    let dst = parse_subfield(dst)?;
    if dst.n_bits != 1 {
        return Err(E::BadCheckPktLarger);
    }
    Ok(Action::CheckPktLarger {
        pkt_len: parse_u16(len, "packet length")?,
        dst,
    })
}

fn parse_vid(value: &str) -> Result<u16, E> {
    match parse_u16(value, "VLAN VID")? {
        v if v <= 0xfff => Ok(v),
        _ => Err(E::BadVid(value.to_string())),
    }
}

fn parse_pcp(value: &str) -> Result<u8, E> {
    match parse_u8(value, "VLAN PCP")? {
        v if v <= 7 => Ok(v),
        _ => Err(E::BadPcp(value.to_string())),
    }
}

fn parse_dec_ttl(value: &str) -> Result<Action, E> {
    if value.is_empty() {
        return Ok(Action::DecTtl {
            controller_ids: None,
        });
    }
    let ids = value
        .split(',')
        .map(|s| parse_u16(s.trim(), "controller id"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Action::DecTtl {
        controller_ids: Some(ids),
    })
}

/// `VALUE[/MASK]->FIELD`.
fn parse_set_field(value: &str, protocols: &mut Protocols) -> Result<SetField, E> {
    let (v, f) = value
        .rsplit_once("->")
        .ok_or_else(|| E::MissingArrow(value.to_string()))?;
    let field = Field::from_name(f)
        .or_else(|| Field::from_nxm_name(f))
        .ok_or_else(|| E::NotOxmField(f.to_string()))?;
    if is_read_only(field) {
        return Err(E::ReadOnly(f.to_string()));
    }
    let (value, mask) = parse_field_value(field, v)?;
    // The match parser accepts any value that fits the field's bytes; a write must fit its
    // bits (`ip_ecn` takes 0..=3).
    let written = v.split_once('/').map_or(v, |(w, _)| w);
    if parse_u128(written).is_some_and(|n| n & !low_mask(field_width(field)) != 0) {
        return Err(E::InvalidValue {
            value: written.to_string(),
            field: f.to_string(),
        });
    }
    // ovs-ofctl narrows by the field alone, whatever the mask.
    *protocols = protocols.and(field.info().usable.exact);
    Ok(SetField {
        field,
        value,
        mask,
        spelling: SetFieldSpelling::SetField,
    })
}

/// Fields that describe the packet rather than hold a value an action may change.
pub fn is_read_only(field: Field) -> bool {
    matches!(
        field,
        Field::CtState
            | Field::CtZone
            | Field::ConjId
            | Field::RecircId
            | Field::DpHash
            | Field::PacketType
            | Field::ActsetOutput
            | Field::CtNwProto
            | Field::CtNwSrc
            | Field::CtNwDst
            | Field::CtIpv6Src
            | Field::CtIpv6Dst
            | Field::CtTpSrc
            | Field::CtTpDst
            | Field::EthType
            | Field::MplsBos
            | Field::IpProto
            | Field::IpFrag
            | Field::TcpFlags
    )
}

/// `load:VALUE->DST[bits]`.
fn parse_load(value: &str) -> Result<Action, E> {
    let (v, d) = value
        .split_once("->")
        .ok_or_else(|| E::MissingArrow(value.to_string()))?;
    let dst = parse_subfield(d)?;
    let imm = parse_u128(v).ok_or_else(|| E::NumericFormat(v.to_string()))?;
    if dst.n_bits < 128 && imm >> dst.n_bits != 0 {
        return Err(E::LoadTooWide {
            text: value.to_string(),
            value: v.to_string(),
            bits: dst.n_bits,
        });
    }
    Ok(Action::SetField(SetField {
        field: dst.field,
        value: imm << dst.ofs,
        mask: subfield_mask(&dst),
        spelling: SetFieldSpelling::Load,
    }))
}

/// `move:SRC->DST`.
fn parse_move(value: &str) -> Result<Action, E> {
    let (s, d) = value
        .split_once("->")
        .ok_or_else(|| E::MoveMissingArrow(value.to_string()))?;
    let src = parse_subfield(s)?;
    let dst = parse_subfield(d)?;
    if src.n_bits != dst.n_bits {
        return Err(E::WidthMismatch {
            text: value.to_string(),
            src: src.n_bits,
            dst: dst.n_bits,
        });
    }
    Ok(Action::Move { src, dst })
}

fn parse_hash_fields(s: &str) -> Result<HashFields, E> {
    Ok(match s {
        "eth_src" => HashFields::EthSrc,
        "symmetric_l4" => HashFields::SymmetricL4,
        "symmetric_l3l4" => HashFields::SymmetricL3L4,
        "symmetric_l3l4+udp" => HashFields::SymmetricL3L4Udp,
        "nw_src" => HashFields::NwSrc,
        "nw_dst" => HashFields::NwDst,
        "symmetric_l3" => HashFields::SymmetricL3,
        _ => {
            return Err(E::UnknownArgument {
                action: "hash",
                token: s.to_string(),
            });
        }
    })
}

fn parse_multipath(value: &str) -> Result<Action, E> {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    let [fields, basis, alg, n_links, arg, dst] = parts.as_slice() else {
        return Err(E::BadMultipath(value.to_string()));
    };
    let algorithm = match *alg {
        "modulo_n" => MultipathAlgorithm::ModuloN,
        "hash_threshold" => MultipathAlgorithm::HashThreshold,
        "hrw" => MultipathAlgorithm::Hrw,
        "iter_hash" => MultipathAlgorithm::IterHash,
        _ => {
            return Err(E::UnknownArgument {
                action: "multipath",
                token: alg.to_string(),
            });
        }
    };
    let n_links = parse_u16(n_links, "n_links")?;
    if n_links == 0 {
        return Err(E::BadMultipath(value.to_string()));
    }
    let fields = parse_hash_fields(fields).map_err(|_| E::HashFields {
        arg: value.to_string(),
        fields: fields.to_string(),
    })?;
    Ok(Action::Multipath(Multipath {
        fields,
        basis: parse_u16(basis, "basis")?,
        algorithm,
        max_link: n_links - 1,
        arg: parse_u32(arg)?,
        dst: parse_subfield(dst)?,
    }))
}

fn parse_bundle(value: &str, load: bool) -> Result<Bundle, E> {
    let bad = || E::BadBundle(value.to_string());
    let (head, members) = value
        .split_once("members:")
        .or_else(|| value.split_once("slaves:"))
        .ok_or_else(bad)?;
    let head: Vec<&str> = head
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let expected = if load { 5 } else { 4 };
    if head.len() != expected {
        return Err(bad());
    }
    let algorithm = match head[2] {
        "active_backup" => BundleAlgorithm::ActiveBackup,
        "hrw" => BundleAlgorithm::Hrw,
        other => {
            return Err(E::UnknownArgument {
                action: "bundle",
                token: other.to_string(),
            });
        }
    };
    if head[3] != "ofport" {
        return Err(E::UnknownArgument {
            action: "bundle",
            token: head[3].to_string(),
        });
    }
    let dst = if load {
        Some(parse_subfield(head[4])?)
    } else {
        None
    };
    let members = members
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_port)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Bundle {
        fields: parse_hash_fields(head[0])?,
        basis: parse_u16(head[1], "basis")?,
        algorithm,
        members,
        dst,
    })
}

fn parse_sample(value: &str) -> Result<Sample, E> {
    let mut s = Sample {
        probability: 0,
        collector_set_id: 0,
        obs_domain_id: 0,
        obs_point_id: 0,
        sampling_port: None,
        direction: SampleDirection::Default,
    };
    let mut have_probability = false;
    for (k, v) in KeyValues::new(value) {
        match k {
            "probability" => {
                s.probability = parse_u16(v, "probability")?;
                have_probability = s.probability != 0;
            }
            "collector_set_id" => s.collector_set_id = parse_u32(v)?,
            "obs_domain_id" => s.obs_domain_id = parse_u32(v)?,
            "obs_point_id" => s.obs_point_id = parse_u32(v)?,
            "sampling_port" => s.sampling_port = Some(parse_port(v)?),
            "ingress" => s.direction = SampleDirection::Ingress,
            "egress" => s.direction = SampleDirection::Egress,
            _ => {
                return Err(E::UnknownArgument {
                    action: "sample",
                    token: k.to_string(),
                });
            }
        }
    }
    if !have_probability {
        return Err(E::SampleProbability);
    }
    Ok(s)
}

fn parse_encap(value: &str) -> Result<Encap, E> {
    let mut pairs = KeyValues::new(value);
    let encap = match pairs.next() {
        Some(("ethernet", "")) => Encap::Ethernet,
        Some(("mpls", "")) => Encap::Mpls,
        Some(("nsh", props)) => parse_nsh_props(props)?,
        _ => return Err(E::EncapUnsupported),
    };
    if pairs.next().is_some() {
        return Err(E::EncapUnsupported);
    }
    Ok(encap)
}

/// `md_type=N,tlv(class,type,0xvalue),...` (empty for a bare `nsh`).
fn parse_nsh_props(props: &str) -> Result<Encap, E> {
    let mut md_type = None;
    let mut tlvs = Vec::new();
    for (k, v) in KeyValues::new(props) {
        match k {
            "md_type" => md_type = Some(parse_u8(v, "md_type")?),
            "tlv" => {
                let parts: Vec<&str> = v.split(',').map(str::trim).collect();
                let [class, ty, value] = parts.as_slice() else {
                    return Err(E::UnknownArgument {
                        action: "encap",
                        token: v.to_string(),
                    });
                };
                let hex = value.strip_prefix("0x").unwrap_or(value);
                let bytes = parse_hex_bytes(hex)?;
                tlvs.push((parse_u16(class, "class")?, parse_u8(ty, "type")?, bytes));
            }
            _ => {
                return Err(E::UnknownArgument {
                    action: "encap",
                    token: k.to_string(),
                });
            }
        }
    }
    if md_type.is_none() && !tlvs.is_empty() {
        md_type = Some(1);
    }
    Ok(Encap::Nsh { md_type, tlvs })
}

fn parse_decap(value: &str) -> Result<Action, E> {
    if value.trim().is_empty() {
        return Ok(Action::Decap { packet_type: None });
    }
    let inner = value
        .trim()
        .strip_prefix("packet_type(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| E::UnknownArgument {
            action: "decap",
            token: value.to_string(),
        })?;
    let mut ns = None;
    let mut ty = None;
    for (k, v) in KeyValues::new(inner) {
        match k {
            "ns" => ns = Some(parse_u16(v, "ns")?),
            "type" => ty = Some(parse_u16(v, "type")?),
            _ => {
                return Err(E::UnknownArgument {
                    action: "decap",
                    token: k.to_string(),
                });
            }
        }
    }
    match (ns, ty) {
        (Some(ns), Some(ty)) => Ok(Action::Decap {
            packet_type: Some((ns, ty)),
        }),
        _ => Err(E::MissingArgument {
            action: "decap",
            what: "packet_type",
        }),
    }
}

fn parse_fin_timeout(value: &str) -> Result<Action, E> {
    let mut idle = 0;
    let mut hard = 0;
    for (k, v) in KeyValues::new(value) {
        match k {
            "idle_timeout" => idle = parse_u16(v, "idle_timeout")?,
            "hard_timeout" => hard = parse_u16(v, "hard_timeout")?,
            _ => return Err(E::FinTimeoutKey(k.to_string())),
        }
    }
    Ok(Action::FinTimeout { idle, hard })
}

fn parse_write_metadata(value: &str) -> Result<Action, E> {
    let (v, m) = match value.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (value, None),
    };
    Ok(Action::WriteMetadata {
        value: parse_u64(v)?,
        mask: match m {
            Some(m) => parse_u64(m)?,
            None => u64::MAX,
        },
    })
}

/// `learn(...)`: header keywords, then match, `load:` and `output:` specs in any order.
fn parse_learn(value: &str) -> Result<Learn, E> {
    let mut l = Learn::default();
    for (k, v) in KeyValues::new(value) {
        match k {
            "table" => {
                let t = parse_table(v)?;
                if t == TableId::ALL_RAW {
                    return Err(E::LearnTable(value.to_string()));
                }
                l.table = TableId(t);
            }
            "priority" => l.priority = parse_u16(v, "priority")?,
            "idle_timeout" => l.idle_timeout = parse_u16(v, "idle_timeout")?,
            "hard_timeout" => l.hard_timeout = parse_u16(v, "hard_timeout")?,
            "fin_idle_timeout" => l.fin_idle_timeout = parse_u16(v, "fin_idle_timeout")?,
            "fin_hard_timeout" => l.fin_hard_timeout = parse_u16(v, "fin_hard_timeout")?,
            "cookie" => l.cookie = Cookie(parse_u64(v)?),
            "send_flow_rem" => l.flags.send_flow_rem = true,
            "delete_learned" => l.flags.delete_learned = true,
            "limit" => l.limit = parse_u32(v)?,
            "result_dst" => {
                let dst = parse_subfield(v)?;
                if dst.n_bits != 1 {
                    return Err(E::BadSubfield(v.to_string()));
                }
                l.result_dst = Some(dst);
            }
            "load" => {
                let (s, d) = v
                    .split_once("->")
                    .ok_or_else(|| E::LearnLoadMissingArrow(v.to_string()))?;
                let dst = parse_subfield(d)?;
                let src = parse_learn_src(s, d, &dst)?;
                l.specs.push(LearnSpec::Load { dst, src });
            }
            "output" => l.specs.push(LearnSpec::Output {
                src: parse_subfield(v)?,
            }),
            _ => l.specs.push(parse_learn_match(value, k, v)?),
        }
    }
    Ok(l)
}

/// A learn match spec: `field=value`, `dst[bits]=src[bits]`, `dst[bits]=value`, `dst[bits]`.
fn parse_learn_match(whole: &str, k: &str, v: &str) -> Result<LearnSpec, E> {
    if let (false, Some(field)) = (k.contains('['), Field::from_name(k)) {
        if field.info().nxm_name.is_none() {
            return Err(E::LearnFieldWithoutHeader {
                spec: whole.to_string(),
                name: k.to_string(),
            });
        }
        if v.is_empty() {
            return Err(E::LearnMissingValue(k.to_string()));
        }
        let (value, mask) = parse_field_value(field, v)?;
        let dst = Subfield::whole(field);
        if mask != subfield_mask(&dst) {
            return Err(E::BadFieldValue {
                field: field.name(),
                token: v.to_string(),
            });
        }
        return Ok(LearnSpec::Match {
            dst,
            src: LearnSrc::Immediate(value),
        });
    }
    if !k.contains('[') && Field::from_nxm_name(k).is_none() {
        return Err(E::LearnUnknownKeyword {
            spec: whole.to_string(),
            name: k.to_string(),
        });
    }
    let dst = parse_subfield(k)?;
    let src = if v.is_empty() {
        LearnSrc::Field(dst)
    } else {
        parse_learn_src(v, k, &dst)?
    };
    Ok(LearnSpec::Match { dst, src })
}

/// A learn source: a subfield of the same width as `dst`, or a constant that fits in it.
fn parse_learn_src(s: &str, dst_text: &str, dst: &Subfield) -> Result<LearnSrc, E> {
    if let Some(v) = parse_u128(s) {
        if dst.n_bits < 128 && v >> dst.n_bits != 0 {
            return Err(E::ValueTooWide {
                field: dst.field.name(),
                token: s.to_string(),
            });
        }
        return Ok(LearnSrc::Immediate(v));
    }
    let src = parse_subfield(s)?;
    if src.n_bits != dst.n_bits {
        return Err(E::LearnWidthMismatch {
            dst: dst_text.to_string(),
            src: s.to_string(),
            dst_bits: dst.n_bits,
            src_bits: src.n_bits,
        });
    }
    Ok(LearnSrc::Field(src))
}

fn parse_ct(value: &str, protocols: &mut Protocols) -> Result<Ct, E> {
    let mut ct = Ct::default();
    for (k, v) in KeyValues::new(value) {
        match k {
            "commit" => ct.commit = true,
            "force" => ct.force = true,
            "table" => ct.table = Some(TableId(parse_u8(v, "table")?)),
            "zone" => {
                ct.zone = if v.contains('[') {
                    let sf = parse_subfield(v)?;
                    if sf.n_bits != 16 {
                        return Err(E::BadCtZone(v.to_string()));
                    }
                    CtZone::Field(sf)
                } else {
                    CtZone::Immediate(parse_u16(v, "zone")?)
                }
            }
            "alg" => {
                ct.alg = Some(match v {
                    "ftp" => 21,
                    "tftp" => 69,
                    _ => parse_u16(v, "alg")?,
                })
            }
            "nat" => ct.actions.push(Action::Nat(parse_nat(v)?)),
            "exec" => ct
                .actions
                .extend(parse_list(v, Nesting::CtExec, protocols)?),
            _ => return Err(E::CtArgument(k.to_string())),
        }
    }
    if ct.force && !ct.commit {
        return Err(E::CtForceWithoutCommit);
    }
    Ok(ct)
}

/// `nat`, `nat(src=A[-B][:P[-Q]],persistent,hash|random)`.
fn parse_nat(value: &str) -> Result<Nat, E> {
    let mut nat = Nat::default();
    for (k, v) in KeyValues::new(value) {
        match k {
            "src" | "dst" => {
                if nat.kind.is_some() {
                    return Err(E::UnknownArgument {
                        action: "nat",
                        token: k.to_string(),
                    });
                }
                nat.kind = Some(if k == "src" {
                    NatKind::Src
                } else {
                    NatKind::Dst
                });
                if !v.is_empty() {
                    parse_nat_range(v, &mut nat)?;
                }
            }
            "persistent" => nat.persistent = true,
            "hash" => nat.port_selection = Some(NatPortSelection::Hash),
            "random" => nat.port_selection = Some(NatPortSelection::Random),
            _ => return Err(E::NatArgument(k.to_string())),
        }
    }
    Ok(nat)
}

/// `A[-B][:P[-Q]]`, IPv6 addresses in brackets (`[::1]-[::2]:80`).
fn parse_nat_range(s: &str, nat: &mut Nat) -> Result<(), E> {
    let bad = || E::BadNatRange(s.to_string());
    let (addrs, ports) = if s.starts_with('[') {
        // IPv6: ports follow the last `]:`.
        match s.rfind("]:") {
            Some(i) => (&s[..=i], Some(&s[i + 2..])),
            None => (s, None),
        }
    } else if s.matches(':').count() > 1 {
        // Unbracketed IPv6 (as ovs-ofctl prints a range without ports): no ports.
        (s, None)
    } else {
        match s.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        }
    };
    let parse_addr = |a: &str| -> Result<IpAddr, E> {
        let a = a
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(a);
        a.parse::<IpAddr>().map_err(|_| bad())
    };
    let (a, b) = match addrs.split_once('-') {
        Some((a, b)) => (parse_addr(a)?, parse_addr(b)?),
        None => {
            let a = parse_addr(addrs)?;
            (a, a)
        }
    };
    nat.addrs = Some((a, b));
    if let Some(p) = ports {
        let (p, q) = match p.split_once('-') {
            Some((p, q)) => (parse_u16(p, "port")?, parse_u16(q, "port")?),
            None => {
                let p = parse_u16(p, "port")?;
                (p, p)
            }
        };
        nat.ports = Some((p, q));
    }
    Ok(())
}

/// Instructions must come in OpenFlow 1.1's order, after all apply-actions.
fn check_instruction_order(actions: &[Action]) -> Result<(), E> {
    // Rank 1 = meter, 2 = apply actions, 3 = clear, 4 = write, 5 = metadata, 6 = goto.
    let rank = |a: &Action| match a {
        Action::Meter(_) => (1, "meter"),
        Action::ClearActions => (3, "clear_actions"),
        Action::WriteActions(_) => (4, "write_actions"),
        Action::WriteMetadata { .. } => (5, "write_metadata"),
        Action::GotoTable(_) => (6, "goto_table"),
        _ => (2, "apply_actions"),
    };
    let mut prev: Option<(u8, &'static str)> = None;
    for a in actions {
        let cur = rank(a);
        if let Some(p) = prev {
            if cur.0 < p.0 {
                return Err(E::InstructionOrder {
                    first: cur.1,
                    second: p.1,
                });
            }
            if cur.0 == p.0 && cur.0 != 2 {
                return Err(E::DuplicateInstruction(cur.1));
            }
        }
        prev = Some(cur);
    }
    Ok(())
}
