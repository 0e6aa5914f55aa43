//! `dump-tables`, `get-frags`, `set-frags`: the switch's tables and its fragment handling, as
//! ovs-ofctl prints and sets them.
//!
//! # dump-tables
//!
//! Each reply message is printed with its header, then one block per table. A table whose
//! statistics (and, in OpenFlow 1.0, features) equal the previous table's prints as
//! `table N: ditto`, and a run of them as `tables A...B: ditto`; OpenFlow 1.0's features
//! (maximum entries, wildcardable fields) are printed for the first table and then as
//! `(same features)` while they stay the same. OpenFlow 1.1 and 1.2 describe every table's
//! abilities in its statistics, printed by [`super::tables11`].
//!
//! # Fragment handling
//!
//! `get-frags` prints the mode of a get-config reply. `set-frags` reads the configuration,
//! sends it back with the new mode (keeping `miss_send_len`), and reads it again: a switch that
//! silently kept its old mode is reported as not supporting the new one, as ovs-ofctl does.

use super::conn::Conn;
use super::multipart::{Multipart, Part};
use super::show::{frag_name, reply_to, unexpected};
use super::{CmdError, Options};
use fvs_openflow::wire::table::{TableMsg, TableStats, TableStatsReply};
use fvs_openflow::wire::{Message, SwitchConfig, Version};
use std::fmt::Write as _;

fn open(opts: &Options, args: &[String]) -> Result<Conn, CmdError> {
    let target = args
        .first()
        .ok_or_else(|| CmdError::Fatal("missing arguments".into()))?;
    Ok(Conn::open(target, opts.allowed, opts.timeout)?)
}

/// `dump-tables SWITCH`.
pub(super) fn dump_tables(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let mut conn = open(opts, args)?;
    let v = conn.version();
    for reply in Multipart::send(&mut conn, &Message::Table(TableMsg::StatsRequest))? {
        let reply = reply?;
        let Some(Message::Table(TableMsg::StatsReply(TableStatsReply { tables, .. }))) =
            &reply.message
        else {
            return Err(unexpected(&reply));
        };
        let _ = writeln!(out, "{}", Part::of(&reply).heading("OFPST_TABLE reply"));
        format_tables(tables, v, out);
    }
    Ok(())
}

/// OpenFlow 1.0's wildcard bits (`OFPFW10_*`) and Open vSwitch's names for the fields; the
/// address wildcards are 6-bit prefix lengths.
const OF10_FIELDS: [(u32, &str); 12] = [
    (1 << 0, "in_port"),
    (1 << 3, "eth_src"),
    (1 << 2, "eth_dst"),
    (1 << 4, "eth_type"),
    (1 << 1, "vlan_vid"),
    (1 << 20, "vlan_pcp"),
    (0x3f << 8, "ip_src"),
    (0x3f << 14, "ip_dst"),
    (1 << 5, "nw_proto"),
    (1 << 21, "nw_tos"),
    (1 << 6, "tcp_src"),
    (1 << 7, "tcp_dst"),
];

/// The field list ovs-ofctl prints for OpenFlow 1.0 wildcards: every field, grouped by prefix
/// as Open vSwitch writes them, when all can be wildcarded; else the fields one by one.
fn of10_matching(wildcards: u32) -> String {
    let all = OF10_FIELDS.iter().fold(0, |a, (b, _)| a | b);
    if wildcards & all == all {
        return "in_port eth_{src,dst,type} vlan_{vid,pcp} ip_{src,dst} nw_{proto,tos} tcp_{src,dst}"
            .into();
    }
    OF10_FIELDS
        .iter()
        .filter(|(b, _)| wildcards & b == *b)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of a table's statistics that decides whether it is "ditto" the previous one.
fn same(a: &TableStats, b: &TableStats) -> bool {
    (
        a.active_count,
        a.lookup_count,
        a.matched_count,
        a.wildcards,
        a.max_entries,
        a.bitmaps,
    ) == (
        b.active_count,
        b.lookup_count,
        b.matched_count,
        b.wildcards,
        b.max_entries,
        b.bitmaps,
    )
}

fn format_tables(tables: &[TableStats], v: Version, out: &mut String) {
    let mut prev: Option<&TableStats> = None;
    let mut i = 0;
    while i < tables.len() {
        let t = &tables[i];
        if let Some(p) = prev
            && same(p, t)
        {
            // A run of tables equal to the previous one.
            let mut j = i;
            while j + 1 < tables.len() && same(t, &tables[j + 1]) {
                j += 1;
            }
            if j == i {
                let _ = writeln!(out, "  table {}: ditto", t.table_id);
            } else {
                let _ = writeln!(
                    out,
                    "  tables {}...{}: ditto",
                    t.table_id, tables[j].table_id
                );
            }
            i = j + 1;
            if i < tables.len() {
                let _ = writeln!(out);
            }
            continue;
        }
        if t.name.is_empty() {
            let _ = writeln!(out, "  table {}:", t.table_id);
        } else {
            let _ = writeln!(out, "  table {} (\"{}\"):", t.table_id, t.name);
        }
        let _ = writeln!(
            out,
            "    active={}, lookup={}, matched={}",
            t.active_count, t.lookup_count, t.matched_count
        );
        if v == Version::Of10 {
            match prev {
                Some(p) if (p.wildcards, p.max_entries) == (t.wildcards, t.max_entries) => {
                    let _ = writeln!(out, "    (same features)");
                }
                _ => {
                    let _ = writeln!(out, "    max_entries={}", t.max_entries);
                    let _ = writeln!(out, "    matching:");
                    let _ = writeln!(
                        out,
                        "      exact match or wildcard: {}",
                        of10_matching(t.wildcards)
                    );
                }
            }
        } else if matches!(v, Version::Of11 | Version::Of12) {
            super::tables11::format_abilities(t, prev, v, out);
        }
        // Blank lines separate tables; none follows the last.
        if i + 1 < tables.len() {
            let _ = writeln!(out);
        }
        prev = Some(t);
        i += 1;
    }
}

fn get_config(conn: &mut Conn) -> Result<SwitchConfig, CmdError> {
    let xid = conn.send(&Message::GetConfigRequest)?;
    let reply = reply_to(conn, xid)?;
    match reply.message {
        Some(Message::GetConfigReply(c)) => Ok(c),
        _ => Err(unexpected(&reply)),
    }
}

/// `get-frags SWITCH`.
pub(super) fn get_frags(opts: &Options, args: &[String], out: &mut String) -> Result<(), CmdError> {
    let mut conn = open(opts, args)?;
    let c = get_config(&mut conn)?;
    let _ = writeln!(out, "{}", frag_name(c.flags));
    Ok(())
}

/// `set-frags SWITCH MODE`.
pub(super) fn set_frags(opts: &Options, args: &[String], out: &mut String) -> Result<(), CmdError> {
    let _ = out;
    let (Some(target), Some(mode)) = (args.first(), args.get(1)) else {
        return Err(CmdError::Fatal("missing arguments".into()));
    };
    let bits = match mode.as_str() {
        "normal" => 0,
        "drop" => 1,
        "reassemble" => 2,
        "nx-match" => 3,
        _ => {
            return Err(CmdError::Fatal(format!(
                "{mode}: unknown fragment handling mode"
            )));
        }
    };
    let mut conn = open(opts, args)?;
    let c = get_config(&mut conn)?;
    if c.flags & 3 != bits {
        let xid = conn.alloc_xid();
        let new = SwitchConfig {
            flags: (c.flags & !3) | bits,
            ..c
        };
        let bytes = fvs_openflow::wire::encode(&Message::SetConfig(new), conn.protocol(), xid)
            .map_err(|e| CmdError::Fatal(e.to_string()))?;
        if let Some(reply) = conn.transact_noreply(&bytes, xid)? {
            return Err(CmdError::Printed(super::flows::format_reply(
                &reply,
                conn.protocol(),
            )));
        }
        if get_config(&mut conn)?.flags & 3 != bits {
            return Err(CmdError::Fatal(format!(
                "{target}: setting fragment handling mode failed (this switch probably doesn't support mode \"{mode}\")"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u8, active: u32) -> TableStats {
        TableStats {
            table_id: id,
            active_count: active,
            ..TableStats::default()
        }
    }

    #[test]
    fn equal_neighbours_print_as_ditto_runs() {
        let tables = vec![
            t(0, 3),
            t(1, 0),
            t(2, 2),
            t(3, 2),
            t(4, 0),
            t(5, 0),
            t(6, 0),
        ];
        let mut out = String::new();
        format_tables(&tables, Version::Of13, &mut out);
        assert_eq!(
            out,
            "  table 0:\n    active=3, lookup=0, matched=0\n\n  table 1:\n    active=0, lookup=0, matched=0\n\n  table 2:\n    active=2, lookup=0, matched=0\n\n  table 3: ditto\n\n  table 4:\n    active=0, lookup=0, matched=0\n\n  tables 5...6: ditto\n"
        );
    }
}
