//! The registry's `usable` columns agree with what `ovs-ofctl parse-flow` reports when a flow
//! names only that field, exactly and with a mask.

mod common;

use common::{Oracle, parse_flow};
use fvs_flow::field::{FIELDS, Format, Prereq};

/// A value (and a non-prefix mask) written in the field's own format.
fn samples(format: Format) -> (&'static str, Option<&'static str>) {
    match format {
        Format::Decimal => ("1", Some("0x5/0x5")),
        Format::Hex => ("0x1", Some("0x5/0x5")),
        Format::Ethernet => (
            "00:11:22:33:44:55",
            Some("01:00:00:00:00:01/01:00:00:00:00:01"),
        ),
        Format::Ipv4 => ("1.2.3.4", Some("1.0.0.4/255.0.0.255")),
        Format::Ipv6 => ("::1", Some("::1/::ff")),
        Format::Port => ("1", None),
        Format::CtState => ("0x20", Some("+trk")),
        Format::TcpFlags => ("0x2", Some("+syn")),
        Format::Frag => ("yes", None),
        Format::TunFlags => ("oam", None),
        Format::PacketType => ("(1,0x800)", None),
    }
}

/// What a flow must say before the field for Open vSwitch to accept it at all: the
/// connection-tracking tuple is refused (not dropped) without a connection state. Other
/// prerequisites are left out: ovs-ofctl drops the field and still reports its protocols.
fn needed(prereq: Prereq) -> &'static str {
    match prereq {
        Prereq::Ct => "ct_state=+est,",
        Prereq::CtIpv4 => "ct_state=+est,ip,",
        Prereq::CtIpv6 => "ct_state=+est,ipv6,",
        Prereq::CtTp => "ct_state=+est,ct_nw_proto=6,",
        _ => "",
    }
}

#[test]
fn usable_protocols_per_field_match_ovs_ofctl() {
    let mut wrong = Vec::new();
    for info in &FIELDS {
        let name = info.names[0];
        let (exact, masked) = samples(info.format);
        let pre = needed(info.prereq);
        let mut probes = vec![(format!("{pre}{name}={exact}"), info.usable.exact)];
        if info.maskable {
            if let Some(m) = masked {
                probes.push((format!("{pre}{name}={m}"), info.usable.bitwise));
            }
            if info.format == Format::Ipv4 {
                probes.push((format!("{pre}{name}=1.2.3.0/24"), info.usable.cidr));
            }
        }
        for (flow, ours) in probes {
            match parse_flow(&flow) {
                Oracle::Ok { usable, .. } if usable == ours => {}
                Oracle::Ok { usable, .. } => {
                    wrong.push(format!("{flow}: ovs-ofctl {usable:?}, registry {ours:?}"));
                }
                Oracle::Err(e) => wrong.push(format!("{flow}: ovs-ofctl rejected it: {e}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "registry disagrees:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_name_and_alias_is_known_to_ovs_ofctl() {
    for info in &FIELDS {
        for name in info.names {
            let (exact, _) = samples(info.format);
            let pre = needed(info.prereq);
            if let Oracle::Err(e) = parse_flow(&format!("{pre}{name}={exact}")) {
                panic!("ovs-ofctl does not know {name}: {e}");
            }
        }
    }
}
