//! `dump-flows`, `dump-aggregate`, `dump-desc`: statistics read from a switch and printed as
//! ovs-ofctl prints them.
//!
//! # Protocol choice
//!
//! The optional FLOW argument is a filter: match fields plus `table=`, `out_port=`,
//! `out_group=` and a masked `cookie=V/M` (a bare cookie sets nothing, so it is refused with
//! ovs-ofctl's hint; priorities, timeouts, flags and actions are no filter and are unknown
//! keywords). As ovs-ofctl, the protocol for the request is the first of OpenFlow 1.5, 1.4,
//! 1.3, 1.2, 1.1, 1.0+NXM, 1.0 that the filter can be said in, is allowed, and the session
//! can speak (an OpenFlow 1.0 session moves to NXM when it can, so the default reply is
//! `NXST_FLOW`). OpenFlow 1.1 flow statistics are not in the wire codec yet; a
//! session negotiated at those versions is refused plainly.
//!
//! # Output
//!
//! With statistics shown and no sorting, each reply message is printed as it arrives, with
//! its heading (`NXST_FLOW reply (xid=0x4):`, ` flags=[more]` on all but the last part, from
//! [`super::multipart`]);
//! `--no-stats` and `--sort` print the flows alone. A flow line is ovs-ofctl's: cookie,
//! duration, table, counters, timeouts, flags, importance, Nicira ages, then the match with
//! its priority and the actions.
//!
//! # Transaction ids
//!
//! Printed xids are the replies', which echo the requests'. ovs-ofctl spends one per message
//! from a process-wide counter (hello, the NXM flow-format setting and its barrier), and,
//! when a filter is given, four more on two helper connections before its own (to learn
//! table and port names). This module spends the same numbers so the text is the same.

use super::conn::{Conn, Received};
use super::heading::{header_version, heading};
use super::multipart::{Multipart, Part};
use super::names::{PortNames, Resolver, use_names};
use super::show::unexpected;
use super::{CmdError, Options};
use fvs_flow::text::format_match;
use fvs_flow::{Field, Protocols};
use fvs_openflow::FlowModCommand;
use fvs_openflow::protocol::{Protocol, protocols_to_string};
use fvs_openflow::text::{format_actions, parse_flow_mod};
use fvs_openflow::types::Cookie;
use fvs_openflow::wire::{
    AggregateStats, DescStats, FlowStats, FlowStatsRequest, Message, Version,
};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// `packet_type` for Ethernet (namespace 0, type 0).
const PACKET_TYPE_ETHERNET: u32 = 0;

/// Transaction ids ovs-ofctl spends on its helper connections when a filter is given.
const HELPER_XIDS: u32 = 4;

/// ovs-ofctl's preference among the protocols a flow dump may use.
const DUMP_PREFERENCE: [Protocol; 7] = [
    Protocol::Of15,
    Protocol::Of14,
    Protocol::Of13,
    Protocol::Of12,
    Protocol::Of11,
    Protocol::Of10Nxm,
    Protocol::Of10Std,
];

/// Keywords a flow-mod takes that are no flow-dump filter.
const NOT_FILTERS: [&str; 11] = [
    "priority",
    "idle_timeout",
    "hard_timeout",
    "importance",
    "send_flow_rem",
    "check_overlap",
    "reset_counts",
    "no_packet_counts",
    "no_byte_counts",
    "actions",
    "buffer_id",
];

/// How `--sort`/`--rsort` order the flows: one criterion; several given on the command line
/// apply in order, each breaking the ties of the ones before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Ascending by the key.
    Ascending(SortKey),
    /// Descending by the key.
    Descending(SortKey),
}

/// What `--sort=FIELD` sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// `--sort` alone, or `--sort=priority`.
    Priority,
    /// A match field: flows that match it, by its value; the others after them.
    Field(Field),
}

impl Sort {
    /// Reads `--sort[=FIELD]` / `--rsort[=FIELD]`.
    pub fn parse(descending: bool, field: Option<&str>) -> Result<Self, String> {
        let key = match field {
            None | Some("priority") => SortKey::Priority,
            Some(name) => SortKey::Field(
                Field::from_name(name).ok_or_else(|| format!("{name}: unknown field name"))?,
            ),
        };
        Ok(if descending {
            Self::Descending(key)
        } else {
            Self::Ascending(key)
        })
    }

    fn compare(self, a: &FlowStats, b: &FlowStats) -> Ordering {
        let (key, descending) = match self {
            Self::Ascending(k) => (k, false),
            Self::Descending(k) => (k, true),
        };
        let order = |o: Ordering| if descending { o.reverse() } else { o };
        match key {
            SortKey::Priority => order(a.priority.cmp(&b.priority)),
            SortKey::Field(f) => {
                // A flow specifies the field when it matches it and has its prerequisites
                // (a UDP flow's port is no `tcp_dst`, though both live in the same place).
                let has =
                    |m: &fvs_flow::Match| m.get(f).1 != 0 && m.prereq_satisfied(f.info().prereq);
                let (va, vb) = (a.r#match.get(f).0, b.r#match.get(f).0);
                match (has(&a.r#match), has(&b.r#match)) {
                    (true, true) => order(va.cmp(&vb)),
                    // Flows that say nothing of the field come last, either way.
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => Ordering::Equal,
                }
            }
        }
    }

    /// Orders `flows` by `sorts` in turn; flows equal under all of them end up by priority,
    /// highest first, as ovs-ofctl leaves them.
    pub fn sort_all(sorts: &[Self], flows: &mut [FlowStats]) {
        flows.sort_by(|a, b| {
            sorts
                .iter()
                .map(|s| s.compare(a, b))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| b.priority.cmp(&a.priority))
        });
    }
}

/// The request a filter describes, the protocols able to carry it, and whether a filter
/// was given at all.
fn parse_filter(text: Option<&str>) -> Result<(FlowStatsRequest, Protocols), CmdError> {
    let Some(text) = text else {
        return Ok((
            FlowStatsRequest {
                cookie_mask: Cookie(0),
                ..FlowStatsRequest::default()
            },
            Protocols::ANY,
        ));
    };
    let mut words = Vec::new();
    for word in text
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        let (key, value) = match word.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        if NOT_FILTERS.contains(&key) {
            return Err(CmdError::Fatal(format!("unknown keyword {key}")));
        }
        if key == "cookie"
            && let Some(v) = value.filter(|v| !v.contains('/'))
        {
            return Err(CmdError::Fatal(format!(
                "cannot set cookie (to match on a cookie, specify a mask, e.g. cookie={v}/-1)"
            )));
        }
        // `-1` is ovs-ofctl's all-ones cookie mask.
        match word.strip_suffix("/-1").filter(|_| key == "cookie") {
            Some(cookie) => words.push(format!("{cookie}/{:#x}", u64::MAX)),
            None => words.push(word.to_string()),
        }
    }
    let (fm, mut usable) = parse_flow_mod(&words.join(","), FlowModCommand::Delete)
        .map_err(|e| CmdError::Fatal(e.to_string()))?;
    // A stats request carries its table itself: what needs the table-id extension in a
    // flow-mod does not need it here.
    if usable.contains(Protocol::Of10NxmTid.bit()) {
        usable = usable.or(Protocol::Of10Nxm.bit());
    }
    if usable.contains(Protocol::Of10StdTid.bit()) {
        usable = usable.or(Protocol::Of10Std.bit());
    }
    let m = fm.r#match;
    // As ovs-ofctl: a field whose prerequisites the filter lacks is left out of the request
    // (`tcp_dst=80` without `tcp`), and when the filter names no Ethernet type the request
    // then asks for Ethernet packets, which keeps flows that say nothing of the frame out.
    let dropped = Field::all().any(|f| m.get(f).1 != 0 && !m.prereq_satisfied(f.info().prereq));
    let request = FlowStatsRequest {
        table: fm.table,
        out_port: fm.out_port,
        out_group: fm.out_group,
        cookie: fm.cookie,
        cookie_mask: fm.cookie_mask,
        r#match: m,
        packet_type: (dropped && m.eth_type().is_none()).then_some(PACKET_TYPE_ETHERNET),
    };
    Ok((request, usable))
}

/// Connects and moves the session to the protocol ovs-ofctl would dump flows in.
pub(super) fn open_for_dump(
    opts: &Options,
    target: &str,
    usable: Protocols,
    filtered: bool,
) -> Result<Conn, CmdError> {
    if usable.and(opts.allowed).is_empty() {
        return Err(CmdError::Fatal(format!(
            "none of the usable flow formats ({}) is among the allowed flow formats ({})",
            protocols_to_string(usable),
            protocols_to_string(opts.allowed)
        )));
    }
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    if filtered {
        for _ in 0..HELPER_XIDS {
            conn.alloc_xid();
        }
    }
    if conn.version() == Version::Of11 {
        return Err(CmdError::Fatal(format!(
            "{target}: flow statistics over {} are not supported yet (use -O with \
             OpenFlow10, OpenFlow12, OpenFlow13, OpenFlow14 or OpenFlow15)",
            conn.version()
        )));
    }
    let candidates = usable.and(opts.allowed);
    for p in DUMP_PREFERENCE {
        if !candidates.contains(p.bit()) {
            continue;
        }
        if p == conn.protocol() || (Version::of(p) == conn.version() && conn.set_protocol(p)?) {
            return Ok(conn);
        }
    }
    Err(CmdError::Fatal(format!(
        "switch does not support any of the usable flow formats ({})",
        protocols_to_string(usable)
    )))
}

/// Reads until a message answering `xid`; an error reply is printed as ovs-ofctl does.
fn reply_to(conn: &mut Conn, xid: u32) -> Result<Received, CmdError> {
    loop {
        let reply = conn.recv()?;
        if reply.header.xid != xid {
            continue;
        }
        if let Some(Message::Error(_)) = reply.message {
            return Err(CmdError::Printed(super::flows::format_reply(
                &reply,
                conn.protocol(),
            )));
        }
        return Ok(reply);
    }
}

/// What `dump-flows` and `dump-aggregate` (`SWITCH [FLOW]`) share before their request goes
/// out: the switch, the filter as a request (port names resolved on the switch), and a
/// connection in a protocol that can carry it.
fn open_filtered<'a>(
    opts: &Options,
    args: &'a [String],
) -> Result<(&'a String, FlowStatsRequest, Conn), CmdError> {
    let target = args
        .first()
        .ok_or_else(|| CmdError::Fatal("missing arguments".into()))?;
    let filter = args.get(1).map(String::as_str);
    let (request, usable) = match filter {
        Some(text) => Resolver::new(opts, target).parse(text, |t| parse_filter(Some(t)))?,
        None => parse_filter(None)?,
    };
    let conn = open_for_dump(opts, target, usable, filter.is_some())?;
    Ok((target, request, conn))
}

/// `NXST_KIND` in a Nicira session, else `OFPST_KIND`.
fn stats_name(conn: &Conn, kind: &str) -> String {
    let family = if conn.protocol().is_nxm() {
        "NX"
    } else {
        "OFP"
    };
    format!("{family}ST_{kind}")
}

/// `dump-flows SWITCH [FLOW]`.
pub(super) fn dump_flows(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let (target, request, mut conn) = open_filtered(opts, args)?;
    let name = stats_name(&conn, "FLOW");
    // With names, the ports are learnt on a connection of their own first, as ovs-ofctl does.
    let names = if use_names(opts) {
        Some(PortNames::fetch(opts, target)?)
    } else {
        None
    };
    // Printed as they come unless the whole table is needed first (to sort it, or to print
    // it with names, which ovs-ofctl does without the reply headers).
    let stream = opts.show_stats && opts.sort.is_empty() && names.is_none();
    let mut all = Vec::new();
    flow_parts(&mut conn, request, |part, flows| {
        if stream {
            let _ = writeln!(out, "{}", part.heading(format_args!("{name} reply")));
            for f in &flows {
                format_flow_stats(f, Stats::WithAges, out);
                out.push('\n');
            }
        } else {
            all.extend(flows);
        }
    })?;
    if !opts.sort.is_empty() {
        Sort::sort_all(&opts.sort, &mut all);
    }
    // Flows gathered before printing lose their Nicira ages, as in ovs-ofctl; OpenFlow 1.5's
    // idle time is a statistic of its own and stays.
    let stats = match (opts.show_stats, conn.version()) {
        (false, _) => Stats::None,
        (true, Version::Of15) => Stats::WithAges,
        (true, _) => Stats::WithoutAges,
    };
    for f in &all {
        let mut line = String::new();
        format_flow_stats(f, stats, &mut line);
        match &names {
            Some(n) => out.push_str(&n.names_for_numbers(&line)),
            None => out.push_str(&line),
        }
        out.push('\n');
    }
    Ok(())
}

/// Every flow of every table, in the session's protocol.
pub(super) fn read_flows(conn: &mut Conn) -> Result<Vec<FlowStats>, CmdError> {
    let request = FlowStatsRequest {
        cookie_mask: Cookie(0),
        ..FlowStatsRequest::default()
    };
    let mut all = Vec::new();
    flow_parts(conn, request, |_, flows| all.extend(flows))?;
    Ok(all)
}

/// Sends `request` and hands each part of the reply, with its flows, to `each`; an error
/// reply is printed as ovs-ofctl prints it.
fn flow_parts(
    conn: &mut Conn,
    request: FlowStatsRequest,
    mut each: impl FnMut(Part, Vec<FlowStats>),
) -> Result<(), CmdError> {
    let protocol = conn.protocol();
    for reply in Multipart::send(conn, &Message::FlowStatsRequest(Box::new(request)))? {
        let reply = reply?;
        let part = Part::of(&reply);
        match reply.message {
            Some(Message::FlowStatsReply(stats)) => each(part, stats.flows),
            Some(Message::Error(_)) => {
                return Err(CmdError::Printed(super::flows::format_reply(
                    &reply, protocol,
                )));
            }
            _ => return Err(unexpected(&reply)),
        }
    }
    Ok(())
}

/// `dump-aggregate SWITCH [FLOW]`.
pub(super) fn dump_aggregate(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let (_, request, mut conn) = open_filtered(opts, args)?;
    let name = stats_name(&conn, "AGGREGATE");
    let xid = conn.send(&Message::AggregateStatsRequest(Box::new(request)))?;
    let reply = reply_to(&mut conn, xid)?;
    let Some(Message::AggregateStatsReply(AggregateStats {
        packet_count,
        byte_count,
        flow_count,
    })) = reply.message
    else {
        return Err(unexpected(&reply));
    };
    let v = header_version(&reply.header);
    let _ = writeln!(
        out,
        "{} packet_count={packet_count} byte_count={byte_count} flow_count={flow_count}",
        heading(format_args!("{name} reply"), v, reply.header.xid)
    );
    Ok(())
}

/// `dump-desc SWITCH`.
pub(super) fn dump_desc(opts: &Options, args: &[String], out: &mut String) -> Result<(), CmdError> {
    let target = args
        .first()
        .ok_or_else(|| CmdError::Fatal("missing arguments".into()))?;
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    let xid = conn.send(&Message::DescStatsRequest)?;
    let reply = reply_to(&mut conn, xid)?;
    let Some(Message::DescStatsReply(desc)) = &reply.message else {
        return Err(unexpected(&reply));
    };
    let DescStats {
        mfr_desc,
        hw_desc,
        sw_desc,
        serial_num,
        dp_desc,
    } = desc.as_ref();
    let v = header_version(&reply.header);
    let _ = writeln!(out, "{}", heading("OFPST_DESC reply", v, reply.header.xid));
    let _ = writeln!(out, "Manufacturer: {mfr_desc}");
    let _ = writeln!(out, "Hardware: {hw_desc}");
    let _ = writeln!(out, "Software: {sw_desc}");
    let _ = writeln!(out, "Serial Num: {serial_num}");
    let _ = writeln!(out, "DP Description: {dp_desc}");
    Ok(())
}

/// `duration=` text: whole seconds, then the nanoseconds without trailing zeros.
fn format_duration(sec: u32, nsec: u32, out: &mut String) {
    let _ = write!(out, "{sec}");
    if nsec > 0 {
        let frac = format!("{nsec:09}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push('s');
}

/// Which statistics a flow line shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stats {
    /// None (`--no-stats`).
    None,
    /// Duration and counters, not the Nicira ages.
    WithoutAges,
    /// Everything the reply says.
    WithAges,
}

/// One flow as ovs-ofctl prints it in a dump, with its leading space.
fn format_flow_stats(f: &FlowStats, stats: Stats, out: &mut String) {
    let show_stats = stats != Stats::None;
    out.push(' ');
    if show_stats || f.cookie.0 != 0 {
        let _ = write!(out, "cookie={:#x}, ", f.cookie.0);
    }
    if show_stats {
        out.push_str("duration=");
        format_duration(f.duration_sec, f.duration_nsec, out);
        out.push_str(", ");
    }
    if show_stats || f.table.0 != 0 {
        let _ = write!(out, "table={}, ", f.table.0);
    }
    if show_stats {
        let _ = write!(
            out,
            "n_packets={}, n_bytes={}, ",
            f.packet_count, f.byte_count
        );
    }
    if f.idle_timeout != 0 {
        let _ = write!(out, "idle_timeout={}, ", f.idle_timeout);
    }
    if f.hard_timeout != 0 {
        let _ = write!(out, "hard_timeout={}, ", f.hard_timeout);
    }
    let flags = [
        (f.flags.send_flow_rem, "send_flow_rem"),
        (f.flags.check_overlap, "check_overlap"),
        (f.flags.reset_counts, "reset_counts"),
        (f.flags.no_packet_counts, "no_packet_counts"),
        (f.flags.no_byte_counts, "no_byte_counts"),
    ];
    for (set, name) in flags {
        if set {
            out.push_str(name);
            out.push(' ');
        }
    }
    if f.importance != 0 {
        let _ = write!(out, "importance={}, ", f.importance);
    }
    if stats == Stats::WithAges {
        if let Some(age) = f.idle_age {
            let _ = write!(out, "idle_age={age}, ");
        }
        // A hard age equal to the duration says nothing new.
        if let Some(age) = f.hard_age.filter(|a| u32::from(*a) != f.duration_sec) {
            let _ = write!(out, "hard_age={age}, ");
        }
    }
    let mut m = f.r#match;
    m.normalize();
    format_match(&m, u32::from(f.priority), out);
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out.push_str("actions=");
    format_actions(&f.actions, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_drop_trailing_zeros_of_the_fraction() {
        let mut s = String::new();
        format_duration(3, 10_000_000, &mut s);
        assert_eq!(s, "3.01s");
        s.clear();
        format_duration(7, 0, &mut s);
        assert_eq!(s, "7s");
    }

    #[test]
    fn filters_refuse_what_is_no_filter() {
        let err = |t: &str| match parse_filter(Some(t)) {
            Err(CmdError::Fatal(m)) => m,
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(err("priority=3,ip"), "unknown keyword priority");
        assert!(
            err("cookie=5").contains("cookie=5/-1"),
            "{}",
            err("cookie=5")
        );
        assert!(parse_filter(Some("table=3,cookie=5/-1,out_port=1")).is_ok());
    }
}
