//! Flow-mods: OpenFlow 1.0's `ofp_flow_mod` (fixed match), Nicira's `NXT_FLOW_MOD` (NXM
//! match) and OpenFlow 1.1+'s `OFPT_FLOW_MOD` (OXM match and instructions).
//!
//! Encoding first rewrites the flow the way the protocol forces
//! ([`normalize_flow_mod`]: `mod_dl_src` is a `set_field` in 1.2+, `goto_table` a `resubmit`
//! in 1.0...), then writes it. OpenFlow 1.0 puts the table id in the command's high byte
//! when the table-id extension is on (255 = none), as Open vSwitch does.

use super::buf::{Put, Reader};
use super::msg::{finish, nxt, port_to_of10, start, start_nx};
use super::oxm::{self, Flavor};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
use crate::normalize::normalize_flow_mod;
use crate::protocol::Protocol;
use crate::types::{Cookie, GroupId, PortNo, TableId};

const FLOW_MOD: u8 = 14;

fn command_code(c: FlowModCommand) -> u8 {
    match c {
        FlowModCommand::Add => 0,
        FlowModCommand::Modify => 1,
        FlowModCommand::ModifyStrict => 2,
        FlowModCommand::Delete => 3,
        FlowModCommand::DeleteStrict => 4,
    }
}

fn command_from(c: u8) -> Result<FlowModCommand, DecodeError> {
    Ok(match c {
        0 => FlowModCommand::Add,
        1 => FlowModCommand::Modify,
        2 => FlowModCommand::ModifyStrict,
        3 => FlowModCommand::Delete,
        4 => FlowModCommand::DeleteStrict,
        n => {
            return Err(DecodeError::new(
                OfpError::FlowModBadCommand,
                format!("flow_mod command {n}"),
            ));
        }
    })
}

/// The NXM header Nicira uses for the cookie (with mask) inside an `NXT_FLOW_MOD` match.
const NXM_NX_COOKIE: (u16, u8) = (1, 30);

/// Writes `NXM_NX_COOKIE_W`: how an NXM flow-mod or stats request selects flows by cookie.
pub(crate) fn put_nx_cookie(b: &mut Vec<u8>, cookie: Cookie, mask: Cookie) {
    let h = fvs_flow::field::Header {
        class: NXM_NX_COOKIE.0,
        experimenter: None,
        field: NXM_NX_COOKIE.1,
        bytes: 8,
        name: "NXM_NX_COOKIE",
    };
    oxm::put_entry(b, h, u128::from(cookie.0), Some(u128::from(mask.0)));
}

pub(crate) fn encode_flow_mod(
    fm: &FlowMod,
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<u8>, EncodeError> {
    let v = Version::of(protocol);
    let fm = normalize_flow_mod(fm, protocol);
    let add = fm.command == FlowModCommand::Add;
    let cmd = u16::from(command_code(fm.command));
    let table_byte = fm.table.map_or(TableId::ALL_RAW, |t| t.0);
    let cmd10 = if protocol.has_table_id() {
        u16::from(table_byte) << 8 | cmd
    } else {
        cmd
    };
    let cookie10 = if add || fm.cookie_mask.0 != 0 {
        fm.cookie.0
    } else {
        fm.new_cookie.unwrap_or(fm.cookie).0
    };
    let flags10 = u16::from(fm.flags.send_flow_rem) | u16::from(fm.flags.check_overlap) << 1;
    let buffer = fm.buffer_id.unwrap_or(u32::MAX);
    match protocol {
        Protocol::Of10Std | Protocol::Of10StdTid => {
            let mut b = start(v, FLOW_MOD, xid);
            super::of10::put_match(&mut b, &fm.r#match);
            b.put_u64(cookie10);
            b.put_u16(cmd10);
            b.put_u16(fm.idle_timeout);
            b.put_u16(fm.hard_timeout);
            b.put_u16(fm.priority);
            b.put_u32(buffer);
            b.put_u16(port_to_of10(fm.out_port));
            b.put_u16(flags10);
            super::of13::put_actions(&mut b, &fm.actions, v)?;
            finish(b)
        }
        Protocol::Of10Nxm | Protocol::Of10NxmTid => {
            let mut b = start_nx(v, nxt::FLOW_MOD, xid);
            b.put_u64(cookie10);
            b.put_u16(cmd10);
            b.put_u16(fm.idle_timeout);
            b.put_u16(fm.hard_timeout);
            b.put_u16(fm.priority);
            b.put_u32(buffer);
            b.put_u16(port_to_of10(fm.out_port));
            b.put_u16(flags10);
            let len_at = b.len();
            b.put_u16(0);
            b.put_zeros(6);
            let m_start = b.len();
            oxm::put_match(&mut b, &fm.r#match, Flavor::Nxm)?;
            if fm.cookie_mask.0 != 0 {
                put_nx_cookie(&mut b, fm.cookie, fm.cookie_mask);
            }
            let m_len = b.len() - m_start;
            b.set_u16(len_at, m_len as u16);
            b.put_zeros(m_len.next_multiple_of(8) - m_len);
            super::of13::put_actions(&mut b, &fm.actions, v)?;
            finish(b)
        }
        Protocol::Of11 => Err(EncodeError::Message {
            message: "flow_mod",
            version: v,
        }),
        Protocol::Of12 | Protocol::Of13 | Protocol::Of14 | Protocol::Of15 => {
            let mut b = start(v, FLOW_MOD, xid);
            b.put_u64(fm.cookie.0);
            b.put_u64(fm.cookie_mask.0);
            let table = match (fm.table, add) {
                (Some(t), _) => t.0,
                (None, true) => 0,
                (None, false) => TableId::ALL_RAW,
            };
            b.put_u8(table);
            b.put_u8(command_code(fm.command));
            b.put_u16(fm.idle_timeout);
            b.put_u16(fm.hard_timeout);
            b.put_u16(fm.priority);
            b.put_u32(buffer);
            b.put_u32(fm.out_port.0);
            b.put_u32(fm.out_group.0);
            let f = &fm.flags;
            b.put_u16(
                u16::from(f.send_flow_rem)
                    | u16::from(f.check_overlap) << 1
                    | u16::from(f.reset_counts) << 2
                    | u16::from(f.no_packet_counts) << 3
                    | u16::from(f.no_byte_counts) << 4,
            );
            b.put_u16(if v >= Version::Of14 { fm.importance } else { 0 });
            oxm::put_ofp_match(&mut b, &fm.r#match, v)?;
            super::of13::put_instructions(&mut b, &fm.actions, v)?;
            finish(b)
        }
    }
}

fn flags10(flags: u16) -> FlowModFlags {
    FlowModFlags {
        send_flow_rem: flags & 1 != 0,
        check_overlap: flags & 2 != 0,
        ..FlowModFlags::default()
    }
}

/// Fills in the parts OpenFlow 1.0 and NXM share: the command with its table byte, cookie.
fn common10(fm: &mut FlowMod, cmd: u16, cookie: u64) -> Result<(), DecodeError> {
    fm.command = command_from((cmd & 0xff) as u8)?;
    let table = (cmd >> 8) as u8;
    fm.table = (table != TableId::ALL_RAW).then_some(TableId(table));
    fm.cookie = Cookie(cookie);
    fm.new_cookie = Some(Cookie(cookie));
    Ok(())
}

fn t(_: super::buf::Truncated) -> DecodeError {
    DecodeError::new(OfpError::BadLen, "flow_mod is truncated")
}

/// `OFPT_FLOW_MOD` of any version (OpenFlow 1.0's fixed match, 1.2+'s OXM).
pub(crate) fn decode_flow_mod(v: Version, mut r: Reader<'_>) -> Result<FlowMod, DecodeError> {
    let mut fm = FlowMod::new(FlowModCommand::Add);
    if v == Version::Of10 {
        fm.r#match = super::of10::pull_match(&mut r)?;
        let cookie = r.u64().map_err(t)?;
        let cmd = r.u16().map_err(t)?;
        common10(&mut fm, cmd, cookie)?;
        fm.idle_timeout = r.u16().map_err(t)?;
        fm.hard_timeout = r.u16().map_err(t)?;
        fm.priority = r.u16().map_err(t)?;
        let buffer = r.u32().map_err(t)?;
        fm.buffer_id = (buffer != u32::MAX).then_some(buffer);
        fm.out_port = PortNo::from_of10(r.u16().map_err(t)?);
        fm.flags = flags10(r.u16().map_err(t)?);
        fm.actions = super::of13::pull_actions(r.rest(), v)?;
        return Ok(fm);
    }
    if v == Version::Of11 {
        return Err(DecodeError::new(
            OfpError::BadType,
            "OpenFlow 1.1 flow_mod is not supported",
        ));
    }
    let cookie = r.u64().map_err(t)?;
    let cookie_mask = r.u64().map_err(t)?;
    let table = r.u8().map_err(t)?;
    fm.command = command_from(r.u8().map_err(t)?)?;
    fm.idle_timeout = r.u16().map_err(t)?;
    fm.hard_timeout = r.u16().map_err(t)?;
    fm.priority = r.u16().map_err(t)?;
    let buffer = r.u32().map_err(t)?;
    fm.buffer_id = (buffer != u32::MAX).then_some(buffer);
    fm.out_port = PortNo(r.u32().map_err(t)?);
    fm.out_group = GroupId(r.u32().map_err(t)?);
    let flags = r.u16().map_err(t)?;
    let importance = r.u16().map_err(t)?;
    if v >= Version::Of14 {
        fm.importance = importance;
    }
    fm.flags = FlowModFlags {
        send_flow_rem: flags & 1 != 0,
        check_overlap: flags & 2 != 0,
        reset_counts: flags & 4 != 0,
        no_packet_counts: flags & 8 != 0,
        no_byte_counts: flags & 16 != 0,
    };
    fm.table = (table != TableId::ALL_RAW).then_some(TableId(table));
    if fm.command == FlowModCommand::Add {
        fm.cookie = Cookie(cookie);
        fm.new_cookie = Some(Cookie(cookie));
    } else {
        fm.cookie = Cookie(cookie);
        fm.cookie_mask = Cookie(cookie_mask);
    }
    fm.r#match = oxm::pull_ofp_match(&mut r)?;
    fm.actions = super::of13::pull_instructions(r.rest(), v)?;
    Ok(fm)
}

/// `NXT_FLOW_MOD` (after the Nicira header).
pub(crate) fn decode_nx_flow_mod(v: Version, mut r: Reader<'_>) -> Result<FlowMod, DecodeError> {
    let mut fm = FlowMod::new(FlowModCommand::Add);
    let cookie = r.u64().map_err(t)?;
    let cmd = r.u16().map_err(t)?;
    common10(&mut fm, cmd, cookie)?;
    fm.idle_timeout = r.u16().map_err(t)?;
    fm.hard_timeout = r.u16().map_err(t)?;
    fm.priority = r.u16().map_err(t)?;
    let buffer = r.u32().map_err(t)?;
    fm.buffer_id = (buffer != u32::MAX).then_some(buffer);
    fm.out_port = PortNo::from_of10(r.u16().map_err(t)?);
    fm.flags = flags10(r.u16().map_err(t)?);
    let match_len = usize::from(r.u16().map_err(t)?);
    r.skip(6).map_err(t)?;
    let mut m = r.take(match_len.next_multiple_of(8)).map_err(t)?;
    let tlvs = m.bytes(match_len).map_err(t)?;
    // The cookie mask rides in the match as NXM_NX_COOKIE_W; split it off first.
    let (tlvs, cookie_tlv) = split_cookie(tlvs)?;
    fm.r#match = oxm::pull_match(&tlvs)?;
    if let Some((c, mask)) = cookie_tlv {
        fm.cookie = Cookie(c);
        fm.cookie_mask = Cookie(mask);
        fm.new_cookie = None;
    }
    fm.actions = super::of13::pull_actions(r.rest(), v)?;
    Ok(fm)
}

/// A cookie and its mask.
type CookieAndMask = (u64, u64);

/// Removes an `NXM_NX_COOKIE[_W]` entry from an NXM stream, returning it separately.
pub(crate) fn split_cookie(tlvs: &[u8]) -> Result<(Vec<u8>, Option<CookieAndMask>), DecodeError> {
    let mut rest = Vec::with_capacity(tlvs.len());
    let mut cookie = None;
    let mut r = Reader::new(tlvs);
    while !r.is_empty() {
        let bad = |_| DecodeError::new(OfpError::MatchBadLen, "NXM entry is truncated");
        let class = r.peek_u16(0).map_err(bad)?;
        let fh = r.peek_u16(2).map_err(bad)?;
        let len = usize::from(fh & 0xff);
        let whole = r.take(4 + len).map_err(bad)?;
        let field = (fh >> 9) as u8;
        if (class, field) == NXM_NX_COOKIE && (len == 8 || len == 16) {
            let mut w = whole;
            w.skip(4).map_err(bad)?;
            let c = w.u64().map_err(bad)?;
            let m = if len == 16 {
                w.u64().map_err(bad)?
            } else {
                u64::MAX
            };
            cookie = Some((c, m));
        } else {
            rest.extend_from_slice(whole.rest());
        }
    }
    Ok((rest, cookie))
}
