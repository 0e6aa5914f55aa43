//! The registry's NXM/OXM header codes are right: for every field, a flow-mod whose match is
//! encoded from the registry's headers (class, field number, length) must decode, in
//! `ovs-ofctl ofp-print`, to the same flow as the field written in text.

mod common;

use fvs_test_support::require_tool;
use std::fmt::Write as _;

use common::{Oracle, parse_flow};
use fvs_flow::field::{FIELDS, FieldInfo, Format, Header, Prereq, class};
use fvs_flow::{Field, Protocols};

/// One TLV: header, payload, optional mask (the length covers both).
fn tlv(out: &mut Vec<u8>, h: &Header, value: u128, mask: Option<u128>) {
    let n = usize::from(h.bytes);
    let extra = if h.experimenter.is_some() { 4 } else { 0 };
    let len =
        (n + extra) * if mask.is_some() { 2 } else { 1 } - extra * usize::from(mask.is_some());
    out.extend_from_slice(&h.class.to_be_bytes());
    out.push((h.field << 1) | u8::from(mask.is_some()));
    out.push(u8::try_from(len).unwrap_or(u8::MAX));
    if let Some(id) = h.experimenter {
        out.extend_from_slice(&id.to_be_bytes());
    }
    for v in std::iter::once(value).chain(mask) {
        out.extend_from_slice(&v.to_be_bytes()[16 - n..]);
    }
}

/// The header of `field` in the requested family.
fn header(field: Field, oxm: bool) -> Header {
    let info = field.info();
    let h = if oxm { info.oxm } else { info.nxm };
    h.unwrap_or_else(|| {
        panic!(
            "{} has no {} header",
            field.name(),
            if oxm { "OXM" } else { "NXM" }
        )
    })
}

/// Encodes what a field's prerequisite needs, and says it in text.
fn prereqs(out: &mut Vec<u8>, p: Prereq, oxm: bool) -> &'static str {
    let eth = |out: &mut Vec<u8>, t: u128| tlv(out, &header(Field::EthType, oxm), t, None);
    let proto = |out: &mut Vec<u8>, t: u128, p: u128| {
        eth(out, t);
        tlv(out, &header(Field::IpProto, oxm), p, None);
    };
    let nd = |out: &mut Vec<u8>, ty: u128| {
        proto(out, 0x86dd, 58);
        tlv(out, &header(Field::Icmpv6Type, oxm), ty, None);
    };
    // A connection state that names a connection: `ct_state=+est`.
    let est = |out: &mut Vec<u8>| tlv(out, &header(Field::CtState, false), 0x02, Some(0x02));
    match p {
        Prereq::None => "",
        Prereq::Ct => (est(out), "ct_state=+est,").1,
        Prereq::CtIpv4 => ((eth(out, 0x0800), est(out)), "ct_state=+est,ip,").1,
        Prereq::CtIpv6 => ((eth(out, 0x86dd), est(out)), "ct_state=+est,ipv6,").1,
        Prereq::CtTp => {
            est(out);
            tlv(out, &header(Field::CtNwProto, false), 6, None);
            "ct_state=+est,ct_nw_proto=6,"
        }
        Prereq::VlanVid => {
            if oxm {
                tlv(out, &header(Field::VlanVid, true), 0x1000, Some(0x1000));
            } else {
                tlv(out, &header(Field::VlanTci, false), 0x1000, Some(0x1000));
            }
            "vlan_tci=0x1000/0x1000,"
        }
        Prereq::Arp => (eth(out, 0x0806), "arp,").1,
        Prereq::Ipv4 | Prereq::Ip => (eth(out, 0x0800), "ip,").1,
        Prereq::Ipv6 => (eth(out, 0x86dd), "ipv6,").1,
        Prereq::Mpls => (eth(out, 0x8847), "mpls,").1,
        Prereq::Tcp => (proto(out, 0x0800, 6), "tcp,").1,
        Prereq::Udp => (proto(out, 0x0800, 17), "udp,").1,
        Prereq::Sctp => (proto(out, 0x0800, 132), "sctp,").1,
        Prereq::Icmpv4 => (proto(out, 0x0800, 1), "icmp,").1,
        Prereq::Icmpv6 => (proto(out, 0x86dd, 58), "icmp6,").1,
        Prereq::NdSolicit | Prereq::Nd => (nd(out, 135), "icmp6,icmp_type=135,").1,
        Prereq::NdAdvert => (nd(out, 136), "icmp6,icmp_type=136,").1,
    }
}

/// A valid value for the field: on the wire (value, mask) and in text.
fn sample(info: &FieldInfo) -> (u128, Option<u128>, String) {
    match (info.field, info.format) {
        (Field::NwTos, _) => (4, None, "4".into()),
        (Field::VlanVid, _) => (0x1001, None, "0x1001".into()),
        (Field::VlanTci, _) => (0x1001, None, "0x1001".into()),
        (_, Format::Frag) => (1, Some(1), "yes".into()),
        (_, Format::TunFlags) => (1, Some(1), "+oam".into()),
        (_, Format::PacketType) => (0x1_0800, None, "(1,0x800)".into()),
        (_, Format::Ethernet) => (1, None, "00:00:00:00:00:01".into()),
        (_, Format::Ipv4) => (1, None, "0.0.0.1".into()),
        (_, Format::Ipv6) => (1, None, "::1".into()),
        _ => (1, None, "1".into()),
    }
}

fn ofp_print(hex: &str) -> String {
    let out = require_tool("ovs-ofctl")
        .command()
        .args(["ofp-print", hex])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ovs-ofctl: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| {
            l.split_once(" ADD ")
                .map(|(_, r)| r.trim_end_matches(" actions=drop"))
        })
        .map_or_else(
            || format!("undecodable: {stdout}"),
            |s| s.trim_end_matches("actions=drop").trim_end().to_string(),
        )
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An `NXT_FLOW_MOD` (OpenFlow 1.0 + NXM) adding a flow with this match and no actions.
fn nxt_flow_mod(matches: &[u8]) -> String {
    let mut body = vec![0x00, 0x00, 0x23, 0x20, 0x00, 0x00, 0x00, 0x0d];
    body.extend_from_slice(&[0; 8]); // cookie
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x80, 0x00]); // command, timeouts, priority
    body.extend_from_slice(&[0xff; 6]); // buffer id, out port
    body.extend_from_slice(&[0, 0]); // flags
    body.extend_from_slice(&u16::try_from(matches.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(matches);
    body.resize(body.len().next_multiple_of(8), 0);
    message(0x01, 0x04, &body)
}

/// An OpenFlow 1.5 `OFPT_FLOW_MOD` adding a flow with this OXM match and no instructions.
fn ofp15_flow_mod(oxms: &[u8]) -> String {
    let mut body = vec![0; 16]; // cookie, cookie mask
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x80, 0x00]); // table, command, timeouts, priority
    body.extend_from_slice(&[0xff; 12]); // buffer id, out port, out group
    body.extend_from_slice(&[0; 4]); // flags, importance
    body.extend_from_slice(&[0x00, 0x01]);
    body.extend_from_slice(&u16::try_from(oxms.len() + 4).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(oxms);
    body.resize(body.len().next_multiple_of(8), 0);
    message(0x06, 0x0e, &body)
}

fn message(version: u8, kind: u8, body: &[u8]) -> String {
    let mut msg = vec![version, kind];
    msg.extend_from_slice(&u16::try_from(body.len() + 8).unwrap_or(0).to_be_bytes());
    msg.extend_from_slice(&[0, 0, 0, 1]);
    msg.extend_from_slice(body);
    to_hex(&msg)
}

fn check(oxm: bool) {
    let mut wrong = Vec::new();
    for info in &FIELDS {
        let Some(h) = (if oxm { info.oxm } else { info.nxm }) else {
            continue;
        };
        let mut m = Vec::new();
        let pre = prereqs(&mut m, info.prereq, oxm);
        let (value, mask, text) = sample(info);
        tlv(&mut m, &h, value, mask);
        let decoded = if oxm {
            ofp_print(&ofp15_flow_mod(&m))
        } else {
            ofp_print(&nxt_flow_mod(&m))
        };
        let flow = format!("{pre}{}={text}", info.names[0]);
        match parse_flow(&flow) {
            Oracle::Ok { text, usable } if text == decoded => {
                let family = if oxm {
                    Protocols::OXM_ANY
                } else {
                    Protocols::NXM_ANY
                };
                if !usable.contains(family) {
                    wrong.push(format!(
                        "{}: has a header but {flow} is not usable in it",
                        h.name
                    ));
                }
            }
            Oracle::Ok { text, .. } => {
                wrong.push(format!(
                    "{} ({flow}): decodes as {decoded:?}, text gives {text:?}",
                    h.name
                ));
            }
            Oracle::Err(e) => wrong.push(format!("{flow}: ovs-ofctl rejects it: {e}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "header codes disagree:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn nxm_headers_decode_to_their_fields() {
    check(false);
}

#[test]
fn oxm_headers_decode_to_their_fields() {
    check(true);
}

#[test]
fn experimenter_headers_carry_the_onf_id() {
    let h = header(Field::TcpFlags, true);
    assert_eq!(h.class, class::EXPERIMENTER);
    assert_eq!(h.experimenter, Some(class::ONF_EXPERIMENTER_ID));
}
