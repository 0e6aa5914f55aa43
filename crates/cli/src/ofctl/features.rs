//! `dump-table-features SWITCH`: every table's features, printed as ovs-ofctl prints them
//! (OpenFlow 1.3 and later only, with ovs-ofctl's refusal otherwise).
//!
//! # Output
//!
//! One block per table: metadata bits, (1.4+) eviction and vacancy support, maximum entries,
//! instructions with the tables `goto_table` may reach, the actions and set-field fields of
//! write-actions and apply-actions, and the fields a flow may match. A part equal to the
//! previous table's prints as `(same actions)` / `(same matching)`, and a whole table equal to
//! the previous one (its "next tables" being all the tables after it in both) as `table N:
//! ditto`, a run of them as `tables A...B: ditto`. Every block ends with a blank line.
//!
//! # Field lists
//!
//! Fields are named from ferrovs's registry (an OXM or NXM header it does not know is printed
//! as the raw header) and listed in Open vSwitch's field order, then shortened as ovs-ofctl
//! shortens them: consecutive names sharing their first `_`-separated component are grouped
//! (`eth_{src,dst}`, recursively: `tun_{id,ipv6_{src,dst}}`), and three or more consecutive
//! numbered names become a range (`reg0...reg15`).

use super::conn::Conn;
use super::multipart::Multipart;
use super::show::unexpected;
use super::{CmdError, Options};
use fvs_flow::Field;
use fvs_openflow::wire::table::{
    FieldHeader, TableFeatures, TableFeaturesReply, TableMsg, TableProps,
};
use fvs_openflow::wire::{Message, Version};
use std::fmt::Write as _;

/// Open vSwitch's field order for the fields ferrovs knows, by canonical name (from printing
/// Open vSwitch's own lists): metadata first, then the frame outside in.
const OVS_ORDER: &[&str] = &[
    "dp_hash",
    "recirc_id",
    "packet_type",
    "conj_id",
    "tun_id",
    "tun_src",
    "tun_dst",
    "tun_ipv6_src",
    "tun_ipv6_dst",
    "tun_flags",
    "tun_gbp_id",
    "tun_gbp_flags",
    "metadata",
    "in_port",
    "in_port_oxm",
    "actset_output",
    "pkt_mark",
    "ct_state",
    "ct_zone",
    "ct_mark",
    "ct_label",
    "ct_nw_proto",
    "ct_nw_src",
    "ct_nw_dst",
    "ct_ipv6_src",
    "ct_ipv6_dst",
    "ct_tp_src",
    "ct_tp_dst",
    "reg0",
    "reg1",
    "reg2",
    "reg3",
    "reg4",
    "reg5",
    "reg6",
    "reg7",
    "reg8",
    "reg9",
    "reg10",
    "reg11",
    "reg12",
    "reg13",
    "reg14",
    "reg15",
    "xreg0",
    "xreg1",
    "xreg2",
    "xreg3",
    "xreg4",
    "xreg5",
    "xreg6",
    "xreg7",
    "xxreg0",
    "xxreg1",
    "xxreg2",
    "xxreg3",
    "eth_src",
    "eth_dst",
    "eth_type",
    "vlan_tci",
    "vlan_vid",
    "vlan_pcp",
    "mpls_label",
    "mpls_tc",
    "mpls_bos",
    "mpls_ttl",
    "ip_src",
    "ip_dst",
    "ipv6_src",
    "ipv6_dst",
    "ipv6_label",
    "nw_proto",
    "nw_tos",
    "ip_dscp",
    "nw_ecn",
    "nw_ttl",
    "ip_frag",
    "arp_op",
    "arp_spa",
    "arp_tpa",
    "arp_sha",
    "arp_tha",
    "tcp_src",
    "tcp_dst",
    "tcp_flags",
    "udp_src",
    "udp_dst",
    "sctp_src",
    "sctp_dst",
    "icmp_type",
    "icmp_code",
    "icmpv6_type",
    "icmpv6_code",
    "nd_target",
    "nd_sll",
    "nd_tll",
    "nd_reserved",
    "nd_options_type",
];

/// Instruction types (`OFPIT_*`) in the order ovs-ofctl lists them, with its names.
pub(super) const INSTRUCTIONS: [(u16, &str); 6] = [
    (6, "meter"),
    (4, "apply_actions"),
    (5, "clear_actions"),
    (3, "write_actions"),
    (2, "write_metadata"),
    (1, "goto_table"),
];

/// OpenFlow 1.1+ action types (`OFPAT_*`) in the order ovs-ofctl lists them, with its names.
pub(super) const ACTIONS: [(u16, &str); 12] = [
    (0, "output"),
    (22, "group"),
    (25, "set_field"),
    (18, "strip_vlan"),
    (17, "push_vlan"),
    (23, "mod_nw_ttl"),
    (24, "dec_ttl"),
    (15, "set_mpls_ttl"),
    (16, "dec_mpls_ttl"),
    (19, "push_mpls"),
    (20, "pop_mpls"),
    (21, "set_queue"),
];

/// `OFPTC14_EVICTION` and `OFPTC14_VACANCY_EVENTS`.
const EVICTION: u32 = 1 << 2;
const VACANCY_EVENTS: u32 = 1 << 3;

/// `dump-table-features SWITCH`.
pub(super) fn dump_table_features(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let target = args
        .first()
        .ok_or_else(|| CmdError::Fatal("missing arguments".into()))?;
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    let v = conn.version();
    if v < Version::Of13 {
        return Err(CmdError::Fatal(
            "dump-table-features needs OpenFlow 1.3 or later ('-O OpenFlow13')".into(),
        ));
    }
    // The parts are gathered and printed as one listing, without headings, as ovs-ofctl does.
    let request = Message::Table(TableMsg::FeaturesRequest(Vec::new()));
    let mut tables = Vec::new();
    for reply in Multipart::send(&mut conn, &request)? {
        let reply = reply?;
        let Some(Message::Table(TableMsg::FeaturesReply(TableFeaturesReply { tables: t, .. }))) =
            reply.message
        else {
            return Err(unexpected(&reply));
        };
        tables.extend(t);
    }
    format_tables(&tables, v, out);
    Ok(())
}

/// True when `t`'s next tables are every table after it.
fn next_is_rest(t: &TableFeatures, last: u8) -> bool {
    t.props
        .next_tables
        .iter()
        .copied()
        .eq((t.table_id + 1)..=last)
}

fn ditto(prev: &TableFeatures, t: &TableFeatures, last: u8) -> bool {
    let strip = |f: &TableFeatures| {
        let mut f = f.clone();
        f.table_id = 0;
        f.props.next_tables.clear();
        if let Some(m) = &mut f.miss {
            m.next_tables.clear();
        }
        f
    };
    strip(prev) == strip(t)
        && (prev.props.next_tables == t.props.next_tables
            || (next_is_rest(prev, last) && next_is_rest(t, last)))
}

fn format_tables(tables: &[TableFeatures], v: Version, out: &mut String) {
    let last = tables.iter().map(|t| t.table_id).max().unwrap_or(0);
    let mut prev: Option<&TableFeatures> = None;
    let mut i = 0;
    while i < tables.len() {
        let t = &tables[i];
        if let Some(p) = prev
            && ditto(p, t, last)
        {
            let mut j = i;
            while j + 1 < tables.len() && ditto(&tables[j], &tables[j + 1], last) {
                j += 1;
            }
            if j == i {
                let _ = writeln!(out, "  table {}: ditto\n", t.table_id);
            } else {
                let _ = writeln!(
                    out,
                    "  tables {}...{}: ditto\n",
                    t.table_id, tables[j].table_id
                );
            }
            prev = Some(&tables[j]);
            i = j + 1;
            continue;
        }
        format_table(t, prev, v, out);
        out.push('\n');
        prev = Some(t);
        i += 1;
    }
}

fn format_table(t: &TableFeatures, prev: Option<&TableFeatures>, v: Version, out: &mut String) {
    if t.name.is_empty() {
        let _ = writeln!(out, "  table {}:", t.table_id);
    } else {
        let _ = writeln!(out, "  table {} (\"{}\"):", t.table_id, t.name);
    }
    let _ = writeln!(
        out,
        "    metadata: match={:#x} write={:#x}",
        t.metadata_match, t.metadata_write
    );
    if v >= Version::Of14 {
        let supported = |bit| {
            if t.capabilities & bit != 0 {
                "supported"
            } else {
                "not supported"
            }
        };
        let _ = writeln!(out, "    eviction: {}", supported(EVICTION));
        let _ = writeln!(out, "    vacancy events: {}", supported(VACANCY_EVENTS));
    }
    let _ = writeln!(out, "    max_entries={}", t.max_entries);
    let prev_props = prev.map(|p| &p.props);
    match &t.miss {
        None => {
            let _ = writeln!(out, "    instructions (table miss and others):");
            format_instructions(&t.props, prev_props, out);
        }
        Some(miss) => {
            let _ = writeln!(out, "    instructions (other than table miss):");
            format_instructions(&t.props, prev_props, out);
            let _ = writeln!(out, "    instructions (table miss):");
            format_instructions(miss, prev_props, out);
        }
    }
    let same_matching = prev_props.is_some_and(|p| {
        p.match_fields == t.props.match_fields && p.wildcards == t.props.wildcards
    });
    if same_matching {
        let _ = writeln!(out, "    (same matching)");
    } else {
        format_matching(&t.props, out);
    }
}

fn format_instructions(p: &TableProps, prev: Option<&TableProps>, out: &mut String) {
    if !p.next_tables.is_empty() {
        let _ = writeln!(out, "      next tables: {}", ranges(&p.next_tables));
    }
    let names: Vec<&str> = INSTRUCTIONS
        .iter()
        .filter(|(n, _)| p.instructions.contains(n))
        .map(|(_, name)| *name)
        .collect();
    let _ = writeln!(out, "      instructions: {}", names.join(" "));
    let same_actions = prev.is_some_and(|q| {
        (
            &q.write_actions,
            &q.apply_actions,
            &q.write_setfield,
            &q.apply_setfield,
        ) == (
            &p.write_actions,
            &p.apply_actions,
            &p.write_setfield,
            &p.apply_setfield,
        )
    });
    if same_actions {
        let _ = writeln!(out, "      (same actions)");
    } else if p.write_actions == p.apply_actions && p.write_setfield == p.apply_setfield {
        let _ = writeln!(out, "      Write-Actions and Apply-Actions features:");
        format_actions(&p.write_actions, &p.write_setfield, out);
    } else {
        let _ = writeln!(out, "      Write-Actions features:");
        format_actions(&p.write_actions, &p.write_setfield, out);
        let _ = writeln!(out, "      Apply-Actions features:");
        format_actions(&p.apply_actions, &p.apply_setfield, out);
    }
}

fn format_actions(actions: &[u16], setfield: &[FieldHeader], out: &mut String) {
    let names: Vec<&str> = ACTIONS
        .iter()
        .filter(|(n, _)| actions.contains(n))
        .map(|(_, name)| *name)
        .collect();
    let _ = writeln!(out, "        actions: {}", names.join(" "));
    if !setfield.is_empty() {
        let _ = writeln!(
            out,
            "        supported on Set-Field: {}",
            field_list(setfield)
        );
    }
}

fn format_matching(p: &TableProps, out: &mut String) {
    let _ = writeln!(out, "    matching:");
    let unmasked = |h: &FieldHeader| FieldHeader {
        header: h.header & !0x100,
        experimenter: h.experimenter,
    };
    let wildcards: Vec<FieldHeader> = p.wildcards.iter().map(unmasked).collect();
    let (mut arbitrary, mut exact_or_wild, mut exact) = (Vec::new(), Vec::new(), Vec::new());
    for h in &p.match_fields {
        if h.has_mask() {
            arbitrary.push(*h);
        } else if wildcards.contains(&unmasked(h)) {
            exact_or_wild.push(*h);
        } else {
            exact.push(*h);
        }
    }
    for (label, list) in [
        ("arbitrary mask", arbitrary),
        ("exact match or wildcard", exact_or_wild),
        ("must exact match", exact),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "      {label}: {}", field_list(&list));
        }
    }
}

/// `1-253`, `1,3,5-7`.
fn ranges(tables: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < tables.len() {
        let mut j = i;
        while j + 1 < tables.len() && u16::from(tables[j + 1]) == u16::from(tables[j]) + 1 {
            j += 1;
        }
        if j == i {
            parts.push(tables[i].to_string());
        } else {
            parts.push(format!("{}-{}", tables[i], tables[j]));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// The canonical name of the field whose OXM or NXM header (mask bit aside) is `h`.
fn field_name(h: &FieldHeader) -> Option<&'static str> {
    let class = h.class();
    let field = h.field();
    Field::all().find_map(|f| {
        let info = f.info();
        [info.oxm, info.nxm]
            .into_iter()
            .flatten()
            .any(|fh| fh.class == class && fh.field == field && fh.experimenter == h.experimenter)
            .then(|| f.name())
    })
}

/// A list of headers as ovs-ofctl prints it: named, in Open vSwitch's order, shortened.
pub(super) fn field_list(headers: &[FieldHeader]) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for h in headers {
        match field_name(h) {
            Some(n) if !names.iter().any(|x| x == n) => names.push(n.to_string()),
            Some(_) => {}
            None => unknown.push(format!("{:#x}", h.header)),
        }
    }
    let mut out = name_list(names);
    for u in unknown {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&u);
    }
    out
}

/// Field names as ovs-ofctl lists them: in Open vSwitch's order, shortened.
pub(super) fn name_list(mut names: Vec<String>) -> String {
    names.sort_by_key(|n| OVS_ORDER.iter().position(|o| o == n).unwrap_or(usize::MAX));
    shorten(&names).join(" ")
}

/// ovs-ofctl's shortening of a field list (see the module documentation).
fn shorten(names: &[String]) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut i = 0;
    while i < names.len() {
        let Some((head, _)) = names[i].split_once('_') else {
            items.push(names[i].clone());
            i += 1;
            continue;
        };
        let mut j = i;
        while j + 1 < names.len() && names[j + 1].split_once('_').is_some_and(|(h, _)| h == head) {
            j += 1;
        }
        if j == i {
            items.push(names[i].clone());
        } else {
            let tails: Vec<String> = names[i..=j]
                .iter()
                .filter_map(|n| n.split_once('_').map(|(_, t)| t.to_string()))
                .collect();
            items.push(format!("{head}_{{{}}}", shorten(&tails).join(",")));
        }
        i = j + 1;
    }
    numbered_runs(items)
}

/// `stem` and number of a name ending in digits (`reg12` → `("reg", 12)`).
fn numbered(name: &str) -> Option<(&str, u32)> {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() == name.len() || stem.is_empty() || name.contains('{') {
        return None;
    }
    name[stem.len()..].parse().ok().map(|n| (stem, n))
}

/// Three or more consecutive numbered names with the same stem become `first...last`.
fn numbered_runs(items: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let mut j = i;
        if let Some((stem, n)) = numbered(&items[i]) {
            while j + 1 < items.len()
                && numbered(&items[j + 1])
                    == Some((stem, n + u32::try_from(j + 1 - i).unwrap_or(0)))
            {
                j += 1;
            }
        }
        if j >= i + 2 {
            out.push(format!("{}...{}", items[i], items[j]));
        } else {
            out.extend(items[i..=j].iter().cloned());
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn field_lists_shorten_as_ovs_ofctl_shortens_them() {
        assert_eq!(
            shorten(&s(&["tun_id", "tun_ipv6_src", "tun_ipv6_dst", "metadata"])),
            s(&["tun_{id,ipv6_{src,dst}}", "metadata"])
        );
        assert_eq!(
            shorten(&s(&[
                "in_port",
                "in_port_oxm",
                "reg0",
                "reg1",
                "reg2",
                "xreg0",
                "xreg1"
            ])),
            s(&["in_{port,port_oxm}", "reg0...reg2", "xreg0", "xreg1"])
        );
        assert_eq!(
            shorten(&s(&["nw_proto", "nw_tos", "ip_dscp", "nw_ecn"])),
            s(&["nw_{proto,tos}", "ip_dscp", "nw_ecn"])
        );
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
    }

    /// Open vSwitch's order (from ovs-ofctl's own listing): dp_hash, recirc_id and
    /// packet_type ahead of conj_id, tunnel IPv6 addresses inside the tunnel fields, the
    /// connection-tracking tuple after ct_label, the 128-bit registers after the 64-bit ones.
    #[test]
    fn recirc_id_and_xxregs_take_open_vswitch_places() {
        let headers: Vec<FieldHeader> = [
            Field::CtNwSrc,
            Field::TunIpv6Src,
            Field::PacketType,
            Field::DpHash,
            Field::EthSrc,
            Field::Xxreg1,
            Field::Xxreg0,
            Field::Xreg7,
            Field::ConjId,
            Field::RecircId,
        ]
        .iter()
        .filter_map(|f| f.info().nxm.or(f.info().oxm))
        .map(|h| FieldHeader {
            header: u32::from(h.class) << 16 | u32::from(h.field) << 9 | u32::from(h.bytes),
            experimenter: h.experimenter,
        })
        .collect();
        assert_eq!(
            field_list(&headers),
            "dp_hash recirc_id packet_type conj_id tun_ipv6_src ct_nw_src xreg7 xxreg0 xxreg1 eth_src"
        );
    }
}
