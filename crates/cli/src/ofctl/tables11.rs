//! OpenFlow 1.1 and 1.2 table statistics as `ovs-ofctl dump-tables` prints them: each table's
//! counters, then the abilities those versions describe in the statistics themselves
//! ([`TableBitmaps`]).
//!
//! # Output
//!
//! After the counters, 1.2 prints the metadata masks, then both print the table-miss
//! configuration (`config=controller`), the maximum entries, the instructions with the actions
//! and (1.2) set-field fields of write- and apply-actions, and the fields a flow may match —
//! all `exact match or wildcard`, the statistics having no notion of masks. A table whose
//! abilities equal the previous table's prints `(same features)`; otherwise its actions print
//! `(same actions)` when they and a non-empty set-field list equal the previous table's (so
//! never in 1.1, which has no set-field lists) and its matching `(same matching)`. Whole-table
//! repetition (`ditto`) is the caller's, shared with the other versions.
//!
//! # Names
//!
//! 1.1 names fields by `OFPFMF11_*` bits and actions by its own `OFPAT11_*` numbers; 1.2 by OXM
//! field numbers (only those 1.2 defines: later fields a switch sets are not printed, as
//! ovs-ofctl does not) and 1.2's action numbers. Names and orders are ovs-ofctl's.

use super::features::{ACTIONS, INSTRUCTIONS, field_list, name_list};
use fvs_openflow::wire::Version;
use fvs_openflow::wire::table::{FieldHeader, TableBitmaps, TableStats};
use std::fmt::Write as _;

/// `OFPFMF11_*` bits and the fields they stand for (`OFPFMF11_TYPE`, bit 10, names none).
const OF11_FIELDS: [(u32, &str); 15] = [
    (0, "in_port"),
    (1, "vlan_vid"),
    (2, "vlan_pcp"),
    (3, "eth_type"),
    (4, "nw_tos"),
    (5, "nw_proto"),
    (6, "tcp_src"),
    (7, "tcp_dst"),
    (8, "mpls_label"),
    (9, "mpls_tc"),
    (11, "eth_src"),
    (12, "eth_dst"),
    (13, "ip_src"),
    (14, "ip_dst"),
    (15, "metadata"),
];

/// OpenFlow 1.1's action types (`OFPAT11_*`) in the order ovs-ofctl lists them, with its names.
const OF11_ACTIONS: [(u32, &str); 23] = [
    (0, "output"),
    (22, "group"),
    (1, "set_vlan_vid"),
    (2, "set_vlan_pcp"),
    (18, "strip_vlan"),
    (17, "push_vlan"),
    (3, "mod_dl_src"),
    (4, "mod_dl_dst"),
    (5, "mod_nw_src"),
    (6, "mod_nw_dst"),
    (7, "mod_nw_tos"),
    (8, "mod_nw_ecn"),
    (23, "mod_nw_ttl"),
    (9, "mod_tp_src"),
    (10, "mod_tp_dst"),
    (24, "dec_ttl"),
    (13, "set_mpls_label"),
    (14, "set_mpls_tc"),
    (15, "set_mpls_ttl"),
    (16, "dec_mpls_ttl"),
    (19, "push_mpls"),
    (20, "pop_mpls"),
    (21, "set_queue"),
];

/// The last OXM field OpenFlow 1.2 defines (`OXM_OF_MPLS_TC`).
const OF12_LAST_OXM: u32 = 35;

/// OpenFlow 1.1's table-miss configurations (`OFPTC11_TABLE_MISS_*`).
fn miss_config(config: u32) -> String {
    match config & 3 {
        0 => "controller".into(),
        1 => "continue".into(),
        2 => "drop".into(),
        n => format!("{n:#x}"),
    }
}

/// The fields set in `bits`, as ovs-ofctl lists them.
fn fields(bits: u64, v: Version) -> String {
    if v == Version::Of11 {
        let names = OF11_FIELDS
            .iter()
            .filter(|(b, _)| bits & (1 << b) != 0)
            .map(|(_, n)| (*n).to_owned())
            .collect();
        return name_list(names);
    }
    let headers: Vec<FieldHeader> = (0..=OF12_LAST_OXM)
        .filter(|n| bits & (1 << n) != 0)
        .map(|n| FieldHeader {
            header: 0x8000 << 16 | n << 9,
            experimenter: None,
        })
        .collect();
    field_list(&headers)
}

fn actions(bits: u32, v: Version) -> String {
    let names: Vec<&str> = if v == Version::Of11 {
        OF11_ACTIONS
            .iter()
            .filter(|(b, _)| bits & (1 << b) != 0)
            .map(|(_, n)| *n)
            .collect()
    } else {
        ACTIONS
            .iter()
            .filter(|(b, _)| bits & (1 << b) != 0)
            .map(|(_, n)| *n)
            .collect()
    };
    names.join(" ")
}

/// Prints `t`'s abilities after its counters; `prev` is the previous table's.
pub(super) fn format_abilities(
    t: &TableStats,
    prev: Option<&TableStats>,
    v: Version,
    out: &mut String,
) {
    let b = &t.bitmaps;
    let p = prev.map(|p| &p.bitmaps);
    if p == Some(b) {
        let _ = writeln!(out, "    (same features)");
        return;
    }
    if v == Version::Of12 {
        let _ = writeln!(
            out,
            "    metadata: match={:#x} write={:#x}",
            b.metadata_match, b.metadata_write
        );
    }
    let _ = writeln!(out, "    config={}", miss_config(b.config));
    let _ = writeln!(out, "    max_entries={}", b.max_entries);
    let _ = writeln!(out, "    instructions (table miss and others):");
    let names: Vec<&str> = INSTRUCTIONS
        .iter()
        .filter(|(n, _)| b.instructions & (1 << n) != 0)
        .map(|(_, name)| *name)
        .collect();
    let _ = writeln!(out, "      instructions: {}", names.join(" "));
    let action_part = |x: &TableBitmaps| {
        (
            x.write_actions,
            x.apply_actions,
            x.write_setfields,
            x.apply_setfields,
        )
    };
    if p.is_some_and(|p| action_part(p) == action_part(b)) && b.write_setfields != 0 {
        let _ = writeln!(out, "      (same actions)");
    } else if (b.write_actions, b.write_setfields) == (b.apply_actions, b.apply_setfields) {
        let _ = writeln!(out, "      Write-Actions and Apply-Actions features:");
        format_actions(b.write_actions, b.write_setfields, v, out);
    } else {
        let _ = writeln!(out, "      Write-Actions features:");
        format_actions(b.write_actions, b.write_setfields, v, out);
        let _ = writeln!(out, "      Apply-Actions features:");
        format_actions(b.apply_actions, b.apply_setfields, v, out);
    }
    if p.is_some_and(|p| (p.match_fields, p.wildcards) == (b.match_fields, b.wildcards)) {
        let _ = writeln!(out, "    (same matching)");
        return;
    }
    let _ = writeln!(out, "    matching:");
    let wild = b.match_fields & b.wildcards;
    let exact = b.match_fields & !b.wildcards;
    for (label, bits) in [
        ("exact match or wildcard", wild),
        ("must exact match", exact),
    ] {
        if bits != 0 {
            let _ = writeln!(out, "      {label}: {}", fields(bits, v));
        }
    }
}

fn format_actions(actions_bits: u32, setfields: u64, v: Version, out: &mut String) {
    let _ = writeln!(out, "        actions: {}", actions(actions_bits, v));
    if setfields != 0 {
        let _ = writeln!(
            out,
            "        supported on Set-Field: {}",
            fields(setfields, v)
        );
    }
}
