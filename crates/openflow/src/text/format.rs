//! Formatter reproducing ovs-ofctl's canonical action text.
//!
//! The output is what `ovs-ofctl` prints for the same model; protocol-dependent spellings
//! (`strip_vlan` vs `pop_vlan`, `load` vs `set_field`) are settled beforehand by
//! [`crate::normalize`], so this module maps each variant to one fixed form.

use super::value::{format_field_value, format_subfield, push_hex};
use crate::action::{
    Action, Bundle, BundleAlgorithm, Controller, Encap, HashFields, Multipath, MultipathAlgorithm,
    PacketInReason, PopVlanSpelling, Sample, SampleDirection, SetField, SetFieldSpelling,
    SetTunnelSpelling,
};
use crate::ct::{Ct, CtZone, Nat, NatKind, NatPortSelection};
use crate::learn::{Learn, LearnSpec, LearnSrc};
use crate::types::{PortNo, Subfield, field_width, subfield_mask};
use core::fmt::Write as _;
use core::net::IpAddr;

/// Appends an action list as ovs-ofctl prints it after `actions=`; empty is `drop`.
pub fn format_actions(actions: &[Action], out: &mut String) {
    if actions.is_empty() {
        out.push_str("drop");
        return;
    }
    format_list(actions, out);
}

/// Appends a comma-separated list (empty stays empty, as inside `clone()`).
fn format_list(actions: &[Action], out: &mut String) {
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_action(a, out);
    }
}

/// Appends one action.
pub fn format_action(a: &Action, out: &mut String) {
    match a {
        Action::Output(o) => match o.port {
            PortNo::CONTROLLER => {
                let _ = write!(out, "CONTROLLER:{}", o.max_len);
            }
            p if p.name().is_some() => {
                let _ = write!(out, "{p}");
            }
            p => {
                let _ = write!(out, "output:{p}");
            }
        },
        Action::OutputTrunc { port, max_len } => {
            let _ = write!(out, "output(port={port},max_len={max_len})");
        }
        Action::OutputReg { src, max_len: _ } => {
            out.push_str("output:");
            format_subfield(src, out);
        }
        Action::Controller(c) => format_controller(c, out),
        Action::Enqueue { port, queue } => {
            let _ = write!(out, "enqueue:{port}:{}", queue.0);
        }
        Action::Group(g) => {
            let _ = write!(out, "group:{}", g.0);
        }
        Action::Bundle(b) => format_bundle(b, out),
        Action::Resubmit(r) => {
            if r.in_port != PortNo::IN_PORT && r.table.is_none() && !r.ct {
                let _ = write!(out, "resubmit:{}", r.in_port);
            } else {
                out.push_str("resubmit(");
                if r.in_port != PortNo::IN_PORT {
                    let _ = write!(out, "{}", r.in_port);
                }
                out.push(',');
                if let Some(t) = r.table {
                    let _ = write!(out, "{}", t.0);
                }
                if r.ct {
                    out.push_str(",ct");
                }
                out.push(')');
            }
        }
        Action::Clone(list) => {
            out.push_str("clone(");
            format_actions(list, out);
            out.push(')');
        }
        Action::Exit => out.push_str("exit"),
        Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            let _ = write!(out, "conjunction({id},{clause}/{n_clauses})");
        }
        Action::CheckPktLarger { pkt_len, dst } => {
            let _ = write!(out, "check_pkt_larger({pkt_len})->");
            format_subfield(dst, out);
        }
        Action::SetVlanVid {
            vid,
            push_if_needed,
        } => {
            let name = if *push_if_needed {
                "mod_vlan_vid"
            } else {
                "set_vlan_vid"
            };
            let _ = write!(out, "{name}:{vid}");
        }
        Action::SetVlanPcp {
            pcp,
            push_if_needed,
        } => {
            let name = if *push_if_needed {
                "mod_vlan_pcp"
            } else {
                "set_vlan_pcp"
            };
            let _ = write!(out, "{name}:{pcp}");
        }
        Action::PopVlan(PopVlanSpelling::StripVlan) => out.push_str("strip_vlan"),
        Action::PopVlan(PopVlanSpelling::PopVlan) => out.push_str("pop_vlan"),
        Action::PushVlan(t) => {
            let _ = write!(out, "push_vlan:{t:#x}");
        }
        Action::PushMpls(t) => {
            let _ = write!(out, "push_mpls:{t:#06x}");
        }
        Action::PopMpls(t) => {
            let _ = write!(out, "pop_mpls:{t:#06x}");
        }
        Action::SetMplsLabel(l) => {
            let _ = write!(out, "set_mpls_label({l})");
        }
        Action::SetMplsTc(t) => {
            let _ = write!(out, "set_mpls_tc({t})");
        }
        Action::SetMplsTtl(t) => {
            let _ = write!(out, "set_mpls_ttl({t})");
        }
        Action::DecMplsTtl => out.push_str("dec_mpls_ttl"),
        Action::SetEthSrc(m) => {
            let _ = write!(out, "mod_dl_src:{m}");
        }
        Action::SetEthDst(m) => {
            let _ = write!(out, "mod_dl_dst:{m}");
        }
        Action::SetIpv4Src(ip) => {
            let _ = write!(out, "mod_nw_src:{ip}");
        }
        Action::SetIpv4Dst(ip) => {
            let _ = write!(out, "mod_nw_dst:{ip}");
        }
        Action::SetIpTos(v) => {
            let _ = write!(out, "mod_nw_tos:{v}");
        }
        Action::SetIpEcn(v) => {
            let _ = write!(out, "mod_nw_ecn:{v}");
        }
        Action::SetIpTtl(v) => {
            let _ = write!(out, "mod_nw_ttl:{v}");
        }
        Action::SetL4SrcPort(p) => {
            let _ = write!(out, "mod_tp_src:{p}");
        }
        Action::SetL4DstPort(p) => {
            let _ = write!(out, "mod_tp_dst:{p}");
        }
        Action::DecTtl { controller_ids } => match controller_ids {
            None => out.push_str("dec_ttl"),
            Some(ids) => {
                out.push_str("dec_ttl(");
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{id}");
                }
                out.push(')');
            }
        },
        Action::SetField(sf) => format_set_field(sf, out),
        Action::Move { src, dst } => {
            out.push_str("move:");
            format_subfield(src, out);
            out.push_str("->");
            format_subfield(dst, out);
        }
        Action::SetTunnel { id, spelling } => {
            // A 64-bit id cannot use the 32-bit encoding, so ovs-ofctl shows it as the wide
            // form whatever it was written as.
            let name = match spelling {
                SetTunnelSpelling::SetTunnel if *id <= u64::from(u32::MAX) => "set_tunnel",
                _ => "set_tunnel64",
            };
            let _ = write!(out, "{name}:{id:#x}");
        }
        Action::SetQueue(q) => {
            let _ = write!(out, "set_queue:{}", q.0);
        }
        Action::PopQueue => out.push_str("pop_queue"),
        Action::StackPush(sf) => {
            out.push_str("push:");
            format_subfield(sf, out);
        }
        Action::StackPop(sf) => {
            out.push_str("pop:");
            format_subfield(sf, out);
        }
        Action::Multipath(m) => format_multipath(m, out),
        Action::Encap(e) => format_encap(e, out),
        Action::Decap { packet_type } => match packet_type {
            None => out.push_str("decap()"),
            Some((ns, ty)) => {
                let _ = write!(out, "decap(packet_type(ns={ns},type={ty:#x}))");
            }
        },
        Action::Learn(l) => format_learn(l, out),
        Action::FinTimeout { idle, hard } => {
            out.push_str("fin_timeout(");
            let mut sep = "";
            if *idle != 0 {
                let _ = write!(out, "idle_timeout={idle}");
                sep = ",";
            }
            if *hard != 0 {
                let _ = write!(out, "{sep}hard_timeout={hard}");
            }
            out.push(')');
        }
        Action::Note(bytes) => {
            out.push_str("note:");
            push_dotted_hex(bytes, out);
        }
        Action::Sample(s) => format_sample(s, out),
        Action::Ct(ct) => format_ct(ct, out),
        Action::Nat(n) => format_nat(n, out),
        Action::CtClear => out.push_str("ct_clear"),
        Action::Meter(m) => {
            let _ = write!(out, "meter:{}", m.0);
        }
        Action::ClearActions => out.push_str("clear_actions"),
        Action::WriteActions(list) => {
            out.push_str("write_actions(");
            format_actions(list, out);
            out.push(')');
        }
        Action::WriteMetadata { value, mask } => {
            let _ = write!(out, "write_metadata:{value:#x}");
            if *mask != u64::MAX {
                let _ = write!(out, "/{mask:#x}");
            }
        }
        Action::GotoTable(t) => {
            let _ = write!(out, "goto_table:{}", t.0);
        }
    }
}

fn format_controller(c: &Controller, out: &mut String) {
    let plain = c.reason == PacketInReason::Action
        && c.controller_id == 0
        && c.userdata.is_none()
        && !c.pause
        && c.meter_id.is_none();
    if plain {
        let _ = write!(out, "CONTROLLER:{}", c.max_len);
        return;
    }
    out.push_str("controller(");
    let mut parts: Vec<String> = Vec::new();
    if c.reason != PacketInReason::Action {
        parts.push(format!("reason={}", reason_name(c.reason)));
    }
    if c.max_len != u16::MAX {
        parts.push(format!("max_len={}", c.max_len));
    }
    if c.controller_id != 0 {
        parts.push(format!("id={}", c.controller_id));
    }
    if let Some(u) = &c.userdata {
        let mut s = String::from("userdata=");
        push_dotted_hex(u, &mut s);
        parts.push(s);
    }
    if c.pause {
        parts.push("pause".to_string());
    }
    if let Some(m) = c.meter_id {
        parts.push(format!("meter_id={}", m.0));
    }
    out.push_str(&parts.join(","));
    out.push(')');
}

fn reason_name(r: PacketInReason) -> &'static str {
    match r {
        PacketInReason::NoMatch => "no_match",
        PacketInReason::Action => "action",
        PacketInReason::InvalidTtl => "invalid_ttl",
        PacketInReason::ActionSet => "action_set",
        PacketInReason::Group => "group",
        PacketInReason::PacketOut => "packet_out",
        PacketInReason::Internal(_) => "",
    }
}

/// `01.02.03`.
fn push_dotted_hex(bytes: &[u8], out: &mut String) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// `set_field:v->f`, or one `load:` per contiguous run of mask bits, each at most 64 bits
/// (the widest value NXM `load` carries), lowest bits first.
fn format_set_field(sf: &SetField, out: &mut String) {
    match sf.spelling {
        SetFieldSpelling::SetField => {
            out.push_str("set_field:");
            format_field_value(sf.field, sf.value, sf.mask, out);
            out.push_str("->");
            out.push_str(sf.field.name());
        }
        SetFieldSpelling::Load => {
            let width = field_width(sf.field);
            let mut first = true;
            let mut bit = 0u16;
            while bit < width {
                if sf.mask >> bit & 1 == 0 {
                    bit += 1;
                    continue;
                }
                let start = bit;
                while bit < width && sf.mask >> bit & 1 == 1 && bit - start < 64 {
                    bit += 1;
                }
                let run = Subfield {
                    field: sf.field,
                    ofs: start,
                    n_bits: bit - start,
                };
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str("load:");
                push_hex((sf.value & subfield_mask(&run)) >> start, out);
                out.push_str("->");
                format_subfield(&run, out);
            }
        }
    }
}

fn hash_fields_name(h: HashFields) -> &'static str {
    match h {
        HashFields::EthSrc => "eth_src",
        HashFields::SymmetricL4 => "symmetric_l4",
        HashFields::SymmetricL3L4 => "symmetric_l3l4",
        HashFields::SymmetricL3L4Udp => "symmetric_l3l4+udp",
        HashFields::NwSrc => "nw_src",
        HashFields::NwDst => "nw_dst",
        HashFields::SymmetricL3 => "symmetric_l3",
    }
}

fn format_multipath(m: &Multipath, out: &mut String) {
    let alg = match m.algorithm {
        MultipathAlgorithm::ModuloN => "modulo_n",
        MultipathAlgorithm::HashThreshold => "hash_threshold",
        MultipathAlgorithm::Hrw => "hrw",
        MultipathAlgorithm::IterHash => "iter_hash",
    };
    let _ = write!(
        out,
        "multipath({},{},{alg},{},{},",
        hash_fields_name(m.fields),
        m.basis,
        u32::from(m.max_link) + 1,
        m.arg
    );
    format_subfield(&m.dst, out);
    out.push(')');
}

fn format_bundle(b: &Bundle, out: &mut String) {
    let alg = match b.algorithm {
        BundleAlgorithm::ActiveBackup => "active_backup",
        BundleAlgorithm::Hrw => "hrw",
    };
    let name = if b.dst.is_some() {
        "bundle_load"
    } else {
        "bundle"
    };
    let _ = write!(
        out,
        "{name}({},{},{alg},ofport,",
        hash_fields_name(b.fields),
        b.basis
    );
    if let Some(dst) = &b.dst {
        format_subfield(dst, out);
        out.push(',');
    }
    out.push_str("members:");
    for (i, p) in b.members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{p}");
    }
    out.push(')');
}

fn format_sample(s: &Sample, out: &mut String) {
    let _ = write!(
        out,
        "sample(probability={},collector_set_id={},obs_domain_id={},obs_point_id={}",
        s.probability, s.collector_set_id, s.obs_domain_id, s.obs_point_id
    );
    if let Some(p) = s.sampling_port {
        let _ = write!(out, ",sampling_port={p}");
    }
    match s.direction {
        SampleDirection::Default => {}
        SampleDirection::Ingress => out.push_str(",ingress"),
        SampleDirection::Egress => out.push_str(",egress"),
    }
    out.push(')');
}

fn format_encap(e: &Encap, out: &mut String) {
    match e {
        Encap::Ethernet => out.push_str("encap(ethernet)"),
        Encap::Mpls => out.push_str("encap(mpls)"),
        Encap::Nsh { md_type: None, .. } => out.push_str("encap(nsh)"),
        Encap::Nsh {
            md_type: Some(md_type),
            tlvs,
        } => {
            let _ = write!(out, "encap(nsh(md_type={md_type}");
            for (class, ty, value) in tlvs {
                let _ = write!(out, ",tlv({class:#x},{ty},0x");
                for b in value {
                    let _ = write!(out, "{b:02x}");
                }
                out.push(')');
            }
            out.push_str("))");
        }
    }
}

/// `learn(...)`: the header fields that differ from their defaults, in ovs-ofctl's order,
/// then the specs in their own order.
fn format_learn(l: &Learn, out: &mut String) {
    let _ = write!(out, "learn(table={}", l.table.0);
    if l.idle_timeout != 0 {
        let _ = write!(out, ",idle_timeout={}", l.idle_timeout);
    }
    if l.hard_timeout != 0 {
        let _ = write!(out, ",hard_timeout={}", l.hard_timeout);
    }
    if l.fin_idle_timeout != 0 {
        let _ = write!(out, ",fin_idle_timeout={}", l.fin_idle_timeout);
    }
    if l.fin_hard_timeout != 0 {
        let _ = write!(out, ",fin_hard_timeout={}", l.fin_hard_timeout);
    }
    if l.priority != 0x8000 {
        let _ = write!(out, ",priority={}", l.priority);
    }
    if l.flags.send_flow_rem {
        out.push_str(",send_flow_rem");
    }
    if l.flags.delete_learned {
        out.push_str(",delete_learned");
    }
    if l.cookie.0 != 0 {
        let _ = write!(out, ",cookie={:#x}", l.cookie.0);
    }
    if l.limit != 0 {
        let _ = write!(out, ",limit={}", l.limit);
    }
    if let Some(dst) = &l.result_dst {
        out.push_str(",result_dst=");
        format_subfield(dst, out);
    }
    for spec in &l.specs {
        out.push(',');
        match spec {
            LearnSpec::Match { dst, src } => match src {
                LearnSrc::Field(s) if s == dst => format_subfield(dst, out),
                LearnSrc::Field(s) => {
                    format_subfield(dst, out);
                    out.push('=');
                    format_subfield(s, out);
                }
                LearnSrc::Immediate(v) if dst.is_whole() => {
                    out.push_str(dst.field.name());
                    out.push('=');
                    format_field_value(dst.field, *v, subfield_mask(dst), out);
                }
                LearnSrc::Immediate(v) => {
                    format_subfield(dst, out);
                    out.push('=');
                    push_hex(*v, out);
                }
            },
            LearnSpec::Load { dst, src } => {
                out.push_str("load:");
                match src {
                    LearnSrc::Field(s) => format_subfield(s, out),
                    LearnSrc::Immediate(v) => push_hex(*v, out),
                }
                out.push_str("->");
                format_subfield(dst, out);
            }
            LearnSpec::Output { src } => {
                out.push_str("output:");
                format_subfield(src, out);
            }
        }
    }
    out.push(')');
}

fn format_ct(ct: &Ct, out: &mut String) {
    out.push_str("ct(");
    let mut parts: Vec<String> = Vec::new();
    if ct.commit {
        parts.push("commit".into());
    }
    if ct.force {
        parts.push("force".into());
    }
    if let Some(t) = ct.table {
        parts.push(format!("table={}", t.0));
    }
    match &ct.zone {
        CtZone::Immediate(0) => {}
        CtZone::Immediate(z) => parts.push(format!("zone={z}")),
        CtZone::Field(sf) => {
            let mut s = String::from("zone=");
            format_subfield(sf, &mut s);
            parts.push(s);
        }
    }
    let (nats, execs): (Vec<&Action>, Vec<&Action>) =
        ct.actions.iter().partition(|a| matches!(a, Action::Nat(_)));
    for n in nats {
        let mut s = String::new();
        format_action(n, &mut s);
        parts.push(s);
    }
    if !execs.is_empty() {
        let mut s = String::from("exec(");
        let owned: Vec<Action> = execs.into_iter().cloned().collect();
        format_list(&owned, &mut s);
        s.push(')');
        parts.push(s);
    }
    if let Some(alg) = ct.alg {
        parts.push(match alg {
            21 => "alg=ftp".into(),
            69 => "alg=tftp".into(),
            n => format!("alg={n}"),
        });
    }
    out.push_str(&parts.join(","));
    out.push(')');
}

fn format_nat(n: &Nat, out: &mut String) {
    out.push_str("nat");
    let Some(kind) = n.kind else {
        return;
    };
    out.push('(');
    out.push_str(match kind {
        NatKind::Src => "src",
        NatKind::Dst => "dst",
    });
    if let Some((a, b)) = n.addrs {
        // IPv6 addresses are bracketed only when a port range follows.
        let bracket = n.ports.is_some();
        out.push('=');
        push_ip(a, bracket, out);
        if b != a {
            out.push('-');
            push_ip(b, bracket, out);
        }
        if let Some((p, q)) = n.ports {
            let _ = write!(out, ":{p}");
            if q != p {
                let _ = write!(out, "-{q}");
            }
        }
    }
    if n.persistent {
        out.push_str(",persistent");
    }
    match n.port_selection {
        None => {}
        Some(NatPortSelection::Hash) => out.push_str(",hash"),
        Some(NatPortSelection::Random) => out.push_str(",random"),
    }
    out.push(')');
}

fn push_ip(a: IpAddr, bracket: bool, out: &mut String) {
    match a {
        IpAddr::V4(v4) => {
            let _ = write!(out, "{v4}");
        }
        IpAddr::V6(v6) if bracket => {
            let _ = write!(out, "[{v6}]");
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}
