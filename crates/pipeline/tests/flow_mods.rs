//! Flow-mod semantics against a real Open vSwitch 3.1: the same sequence of adds, modifies and
//! deletes (in `ovs-ofctl add-flows` syntax, commands leading the lines) applied to both; the
//! flow tables must then dump the same (see `oracle/mod.rs`).

mod oracle;

use fvs_flow::PortNo;
use fvs_pipeline::bridge::{Bridge, FailMode, FlowModError};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::DpPort;
use fvs_pipeline::example::load_flows;
use fvs_pipeline::port::{Port, PortKind, PortVlan};
use fvs_pipeline::switch::Switch;
use oracle::{Ovs, assert_same, normalize_flow_line};

fn switch() -> Switch {
    let mut br = Bridge::new("br0", FailMode::Secure, Millis::ZERO);
    for n in 1..=3u32 {
        br.add_port(Port {
            ofport: PortNo(n),
            name: format!("p{n}"),
            kind: PortKind::System,
            vlan: PortVlan::default(),
            dp_port: Some(DpPort(n)),
            config: fvs_pipeline::port::PortConfig::default(),
            state: fvs_pipeline::port::PortState::default(),
        });
    }
    let mut sw = Switch::new();
    sw.add_bridge(br);
    sw
}

/// Every rule of br0 in both, timing and counters left out, sorted (dump order is not part of
/// the interface).
fn same_tables(ovs: &Ovs, sw: &Switch, step: &str) {
    let mut theirs = ovs.dump_flows("br0", None);
    theirs.sort();
    let mut ours: Vec<String> = sw
        .bridge("br0")
        .expect("br0")
        .dump_flows(None, Millis::ZERO)
        .iter()
        .map(|l| normalize_flow_line(l))
        .collect();
    ours.sort();
    assert_same(
        &format!("dump-flows br0 after {step}"),
        &theirs.join("\n"),
        &ours.join("\n"),
    );
}

/// Applies `flows` to both and compares the tables.
///
/// Open vSwitch gets them over OpenFlow 1.0 (with Nicira extensions), where a flow-mod without
/// a table means every table. An OpenFlow 1.0 modify always carries a cookie, which becomes the
/// modified rules' cookie, so the steps' modifies name one explicitly (`cookie=`, which the
/// shared model reads as `new_cookie`); a modify with no `cookie=` would mean "keep the
/// cookies" to ferrovs and "set them to 0" to Open vSwitch over 1.0.
fn step(ovs: &Ovs, sw: &mut Switch, name: &str, flows: &str) {
    ovs.add_flows("br0", flows, "OpenFlow10");
    let br = sw.bridge_mut("br0").expect("br0");
    let refused = load_flows(br, flows, Millis::ZERO).expect("the step's flows parse");
    assert!(refused.is_empty(), "{name}: ferrovs refused {refused:?}");
    same_tables(ovs, sw, name);
}

#[test]
fn adds_modifies_and_deletes_leave_the_same_tables_as_open_vswitch() {
    let mut sw = switch();
    let ovs = Ovs::start();
    ovs.mirror_adopting_port_numbers(&mut sw);
    step(
        &ovs,
        &mut sw,
        "the first adds",
        "\
table=0,priority=10,in_port=1,cookie=0x1 actions=output:2
table=0,priority=10,in_port=2,cookie=0x2 actions=output:1
table=0,priority=5,cookie=0x3 actions=drop
table=1,priority=10,dl_dst=00:00:00:00:00:01,cookie=0x11,idle_timeout=60 actions=output:3
table=1,priority=10,dl_dst=00:00:00:00:00:02,cookie=0x12,hard_timeout=30 actions=output:1
table=1,priority=20,dl_dst=00:00:00:00:00:02,in_port=3,cookie=0x13 actions=output:2
",
    );
    step(
        &ovs,
        &mut sw,
        "an add with an existing match and priority",
        "table=0,priority=10,in_port=1,cookie=0x5 actions=output:3\n",
    );
    step(
        &ovs,
        &mut sw,
        "a non-strict modify across tables",
        "modify dl_dst=00:00:00:00:00:02,cookie=0x21 actions=output:3\n",
    );
    step(
        &ovs,
        &mut sw,
        "a modify selecting by cookie mask",
        "modify cookie=0x10/0xf0 actions=drop\n",
    );
    step(
        &ovs,
        &mut sw,
        "a strict modify",
        "modify_strict table=0,priority=5,cookie=0x3 actions=output:1\n",
    );
    step(
        &ovs,
        &mut sw,
        "a modify that selects nothing",
        "modify table=2,priority=7,ip,cookie=0x7 actions=output:2\n",
    );
    step(
        &ovs,
        &mut sw,
        "a delete by output port",
        "delete out_port=1\n",
    );
    step(
        &ovs,
        &mut sw,
        "a strict delete",
        "delete_strict table=0,priority=10,in_port=2\n",
    );
    step(
        &ovs,
        &mut sw,
        "a delete by cookie",
        "delete cookie=0x13/0xffffffffffffffff\n",
    );
    step(&ovs, &mut sw, "a delete of everything", "delete\n");
}

#[test]
fn check_overlap_refuses_an_overlapping_add_like_open_vswitch() {
    let mut sw = switch();
    let ovs = Ovs::start();
    ovs.mirror_adopting_port_numbers(&mut sw);
    step(
        &ovs,
        &mut sw,
        "two adds",
        "priority=5,in_port=1 actions=drop\npriority=5,dl_dst=00:00:00:00:00:01 actions=drop\n",
    );
    let overlapping = "priority=5,check_overlap,in_port=2,dl_dst=00:00:00:00:00:01 actions=drop\n";
    let theirs = ovs.try_add_flows("br0", overlapping, "OpenFlow10");
    assert!(
        theirs
            .as_ref()
            .is_err_and(|e| e.contains("OFPFMFC_OVERLAP")),
        "Open vSwitch accepted or failed differently: {theirs:?}"
    );
    let br = sw.bridge_mut("br0").expect("br0");
    let refused = load_flows(br, overlapping, Millis::ZERO).expect("parses");
    assert_eq!(refused, [(1, FlowModError::Overlap)]);
    let disjoint = "priority=5,check_overlap,in_port=2,dl_dst=00:00:00:00:00:02 actions=drop\n";
    step(&ovs, &mut sw, "a disjoint check_overlap add", disjoint);
    // An identical match and priority is not an overlap: the add replaces the rule.
    step(
        &ovs,
        &mut sw,
        "a check_overlap add identical to an existing rule",
        "priority=5,check_overlap,in_port=1 actions=output:2\n",
    );
}
