//! The group commands: `add-group`, `add-groups`, `mod-group` (`--may-create`),
//! `del-groups`, `insert-buckets`, `remove-buckets`, `dump-groups`, `dump-group-stats`,
//! `dump-group-features` (the action bits named in Open vSwitch's order, per version).
//!
//! Group-mods go out with a barrier (ovs-ofctl's transaction), or with `--bundle` all in one
//! atomic bundle; an error reply is printed with the quoted group-mod
//! ([`super::flows::format_reply`]). Group text is
//! `fvs_openflow::text::group`'s. OpenFlow 1.0 sessions use Nicira's group messages; bucket
//! ids exist there and in OpenFlow 1.5 only, so only those print them. As ovs-ofctl,
//! `insert-buckets` needs an OpenFlow 1.5 session and `remove-buckets` OpenFlow 1.0 (Nicira)
//! or 1.5 among the allowed protocols.

use super::conn::Conn;
use super::heading::heading;
use super::multipart::{Multipart, Part};
use super::show::{reply_to, unexpected};
use super::{CmdError, Options};
use fvs_flow::Protocols;
use fvs_openflow::GroupId;
use fvs_openflow::group::{GroupMod, GroupModCommand};
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::group::{format_group_desc, format_group_stats, parse_group_mod};
use fvs_openflow::wire::group::GroupMsg;
use fvs_openflow::wire::{self, Message, Version};
use std::fmt::Write as _;

fn open(opts: &Options, target: &str) -> Result<Conn, CmdError> {
    Ok(Conn::open(target, opts.allowed, opts.timeout)?)
}

fn parse(text: &str, command: GroupModCommand) -> Result<GroupMod, CmdError> {
    let mut usable = Protocols::ANY;
    parse_group_mod(text, command, &mut usable).map_err(|e| CmdError::Fatal(e.to_string()))
}

/// Sends each group-mod with a barrier; the first error reply is printed.
fn send_mods(opts: &Options, target: &str, mods: &[GroupMod]) -> Result<(), CmdError> {
    if opts.bundle {
        // `--bundle`: all the group-mods in one atomic bundle (OpenFlow 1.3+), as ovs-ofctl.
        let allowed = super::flows::bundle_protocols(opts.allowed);
        let mut conn = Conn::open(target, allowed, opts.timeout)?;
        let msgs: Vec<Message> = mods
            .iter()
            .map(|gm| Message::Group(GroupMsg::Mod(gm.clone())))
            .collect();
        return super::flows::transact_bundle_msgs(&mut conn, &msgs);
    }
    let mut conn = open(opts, target)?;
    let v = conn.version();
    let insert = mods
        .iter()
        .any(|m| m.command == GroupModCommand::InsertBucket);
    if insert && v < Version::Of15 {
        return Err(CmdError::Fatal(
            "insert-bucket needs OpenFlow 1.5 or later ('-O OpenFlow15')".into(),
        ));
    }
    for gm in mods {
        let xid = conn.alloc_xid();
        let bytes = wire::encode(
            &Message::Group(GroupMsg::Mod(gm.clone())),
            conn.protocol(),
            xid,
        )
        .map_err(|e| CmdError::Fatal(e.to_string()))?;
        if let Some(reply) = conn.transact_noreply(&bytes, xid)? {
            return Err(match &reply.message {
                Some(Message::Error(_)) => {
                    CmdError::Printed(super::flows::format_reply(&reply, conn.protocol()))
                }
                _ => unexpected(&reply),
            });
        }
    }
    Ok(())
}

/// `add-group SWITCH GROUP`.
pub(super) fn add_group(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let gm = parse(&args[1], GroupModCommand::Add)?;
    send_mods(opts, &args[0], &[gm])
}

/// `add-groups SWITCH FILE`: one group per line (`#` comments and blank lines skipped).
pub(super) fn add_groups(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let text = if args[1] == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args[1])
    }
    .map_err(|e| CmdError::Fatal(format!("{}: open failed ({e})", args[1])))?;
    let mut mods = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if !line.is_empty() {
            mods.push(parse(line, GroupModCommand::Add)?);
        }
    }
    send_mods(opts, &args[0], &mods)
}

/// `mod-group SWITCH GROUP` (`--may-create`: add it when missing).
pub(super) fn mod_group(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let cmd = if opts.may_create {
        GroupModCommand::AddOrMod
    } else {
        GroupModCommand::Modify
    };
    let gm = parse(&args[1], cmd)?;
    send_mods(opts, &args[0], &[gm])
}

/// `del-groups SWITCH [GROUP]`: every group without one.
pub(super) fn del_groups(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let text = args.get(1).map_or("", String::as_str);
    let gm = parse(text, GroupModCommand::Delete)?;
    send_mods(opts, &args[0], &[gm])
}

/// `insert-buckets SWITCH GROUP`.
pub(super) fn insert_buckets(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let text = args.get(1).map_or("", String::as_str);
    let gm = parse(text, GroupModCommand::InsertBucket)?;
    send_mods(opts, &args[0], &[gm])
}

/// `remove-buckets SWITCH GROUP`.
pub(super) fn remove_buckets(
    opts: &Options,
    args: &[String],
    _out: &mut String,
) -> Result<(), CmdError> {
    let text = args.get(1).map_or("", String::as_str);
    let gm = parse(text, GroupModCommand::RemoveBucket)?;
    // Only OpenFlow 1.0's Nicira form and OpenFlow 1.5 carry a bucket removal.
    let usable = [
        Protocol::Of10Std,
        Protocol::Of10StdTid,
        Protocol::Of10Nxm,
        Protocol::Of10NxmTid,
        Protocol::Of15,
    ]
    .into_iter()
    .fold(Protocols::NONE, |acc, p| acc.or(p.bit()));
    super::flows::require_usable(usable, opts.allowed)?;
    send_mods(opts, &args[0], &[gm])
}

/// The group `dump-group-stats` asks about: `group_id=N` (group-mod syntax) or all.
fn dump_target(args: &[String]) -> Result<GroupId, CmdError> {
    match args.get(1) {
        None => Ok(GroupId::ALL),
        Some(text) => Ok(parse(text, GroupModCommand::Delete)?.group_id),
    }
}

/// The group `dump-groups` asks about: a bare number, `ANY` or `ALL`. ovs-ofctl logs a
/// warning for anything else and asks for all groups; fvs-ofctl asks for all without the
/// warning.
fn dump_groups_target(args: &[String]) -> GroupId {
    match args.get(1).map(|s| s.to_ascii_lowercase()) {
        None => GroupId::ALL,
        Some(s) if s == "all" => GroupId::ALL,
        Some(s) if s == "any" => GroupId::ANY,
        Some(s) => s.parse().map_or(GroupId::ALL, GroupId),
    }
}

/// `dump-groups SWITCH [GROUP]`.
pub(super) fn dump_groups(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let g = dump_groups_target(args);
    dump(opts, args, out, Message::Group(GroupMsg::DescRequest(g)))
}

/// `dump-group-stats SWITCH [GROUP]`.
pub(super) fn dump_group_stats(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let g = dump_target(args)?;
    dump(opts, args, out, Message::Group(GroupMsg::StatsRequest(g)))
}

fn dump(opts: &Options, args: &[String], out: &mut String, req: Message) -> Result<(), CmdError> {
    let mut conn = open(opts, &args[0])?;
    let (v, protocol) = (conn.version(), conn.protocol());
    let with_ids = matches!(v, Version::Of10 | Version::Of15);
    for reply in Multipart::send(&mut conn, &req)? {
        let reply = reply?;
        let title = match (&reply.message, v) {
            (Some(Message::Group(GroupMsg::DescReply(_))), Version::Of10) => "NXST_GROUP_DESC",
            (Some(Message::Group(GroupMsg::DescReply(_))), _) => "OFPST_GROUP_DESC",
            (Some(Message::Group(GroupMsg::StatsReply(_))), Version::Of10) => "NXST_GROUP",
            (Some(Message::Group(GroupMsg::StatsReply(_))), _) => "OFPST_GROUP",
            (Some(Message::Error(_)), _) => {
                return Err(CmdError::Printed(super::flows::format_reply(
                    &reply, protocol,
                )));
            }
            _ => return Err(unexpected(&reply)),
        };
        let _ = write!(
            out,
            "{}",
            Part::of(&reply).heading(format_args!("{title} reply"))
        );
        match &reply.message {
            Some(Message::Group(GroupMsg::DescReply(ds))) => {
                for d in ds {
                    out.push_str("\n ");
                    format_group_desc(d, with_ids, out);
                }
            }
            Some(Message::Group(GroupMsg::StatsReply(ss))) => {
                for s in ss {
                    out.push_str("\n ");
                    format_group_stats(s, v == Version::Of10 || v >= Version::Of13, out);
                }
            }
            _ => {}
        }
        out.push('\n');
    }
    Ok(())
}

/// Group actions in the order Open vSwitch lists them, each with its `OFPAT_*` number in
/// OpenFlow 1.0, 1.1 and 1.2+ (`None`: the version has no such action).
const GROUP_ACTIONS: [(&str, [Option<u8>; 3]); 25] = [
    ("output", [Some(0), Some(0), Some(0)]),
    ("group", [None, Some(22), Some(22)]),
    ("enqueue", [Some(11), None, None]),
    ("set_field", [None, None, Some(25)]),
    ("set_vlan_vid", [Some(1), Some(1), None]),
    ("set_vlan_pcp", [Some(2), Some(2), None]),
    ("strip_vlan", [Some(3), Some(18), Some(18)]),
    ("push_vlan", [None, Some(17), Some(17)]),
    ("mod_dl_src", [Some(4), Some(3), None]),
    ("mod_dl_dst", [Some(5), Some(4), None]),
    ("mod_nw_src", [Some(6), Some(5), None]),
    ("mod_nw_dst", [Some(7), Some(6), None]),
    ("mod_nw_tos", [Some(8), Some(7), None]),
    ("mod_nw_ecn", [None, Some(8), None]),
    ("mod_nw_ttl", [None, Some(23), Some(23)]),
    ("mod_tp_src", [Some(9), Some(9), None]),
    ("mod_tp_dst", [Some(10), Some(10), None]),
    ("dec_ttl", [None, Some(24), Some(24)]),
    ("set_mpls_label", [None, Some(13), None]),
    ("set_mpls_tc", [None, Some(14), None]),
    ("set_mpls_ttl", [None, Some(15), Some(15)]),
    ("dec_mpls_ttl", [None, Some(16), Some(16)]),
    ("push_mpls", [None, Some(19), Some(19)]),
    ("pop_mpls", [None, Some(20), Some(20)]),
    ("set_queue", [None, Some(21), Some(21)]),
];

/// `dump-group-features SWITCH`.
pub(super) fn dump_group_features(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    use fvs_openflow::wire::table::TableMsg;
    let mut conn = open(opts, &args[0])?;
    let v = conn.version();
    let xid = conn.send(&Message::Table(TableMsg::GroupFeaturesRequest))?;
    let reply = reply_to(&mut conn, xid)?;
    let g = match &reply.message {
        Some(Message::Table(TableMsg::GroupFeaturesReply(g))) => *g,
        Some(Message::Error(_)) => {
            return Err(CmdError::Printed(super::flows::format_reply(
                &reply,
                conn.protocol(),
            )));
        }
        _ => return Err(unexpected(&reply)),
    };
    let title = if v < Version::Of12 {
        "NXST_GROUP_FEATURES"
    } else {
        "OFPST_GROUP_FEATURES"
    };
    let _ = writeln!(
        out,
        "{}",
        heading(format_args!("{title} reply"), v, reply.header.xid)
    );
    let _ = writeln!(out, " Group table:\n    Types:  {:#x}", g.types);
    let _ = writeln!(out, "    Capabilities:  {:#x}", g.capabilities);
    let column = match v {
        Version::Of10 => 0,
        Version::Of11 => 1,
        _ => 2,
    };
    let names = ["all", "select", "indirect", "fast failover"];
    for (i, name) in names.iter().enumerate() {
        if g.types & (1 << i) == 0 {
            continue;
        }
        let _ = writeln!(out, "    {name} group:");
        let _ = writeln!(out, "       max_groups={:#x}", g.max_groups[i]);
        let bits = g.actions[i];
        let listed: Vec<&str> = GROUP_ACTIONS
            .iter()
            .filter(|(_, n)| n[column].is_some_and(|b| bits & (1 << b) != 0))
            .map(|(name, _)| *name)
            .collect();
        let _ = writeln!(out, "       actions: {}", listed.join(" "));
    }
    Ok(())
}
