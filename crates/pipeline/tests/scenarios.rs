//! Switching scenarios beyond the seed, each run in ferrovs and in a real Open vSwitch 3.1 built
//! from the same model (see `oracle/mod.rs`), plus direct checks of what a user would see:
//!
//! - NORMAL on a bridge with VLAN access ports, a trunk and a port in another VLAN;
//! - MAC aging on the test clock (Open vSwitch's clock stopped and warped in step);
//! - `fail_mode=secure` (no flows: drop) against `standalone` (a NORMAL rule);
//! - patch ports crossing between two bridges in both directions.

mod oracle;

use fvs_flow::PortNo;
use fvs_pipeline::bridge::{Bridge, FailMode};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::DpPort;
use fvs_pipeline::port::{Port, PortKind, PortVlan, VlanId};
use fvs_pipeline::switch::Switch;
use oracle::{Ovs, deliveries, flow, same_fdb, same_packet, same_table, same_trace, tag_of};

const A: &str = "00:00:00:00:00:0a";
const B: &str = "00:00:00:00:00:0b";
const BCAST: &str = "ff:ff:ff:ff:ff:ff";

fn port(ofport: u32, name: &str, kind: PortKind, vlan: PortVlan, dp: u32) -> Port {
    Port {
        ofport: PortNo(ofport),
        name: name.to_owned(),
        kind,
        vlan,
        dp_port: Some(DpPort(dp)),
        config: fvs_pipeline::port::PortConfig::default(),
        state: fvs_pipeline::port::PortState::default(),
    }
}

fn access(tag: u16) -> PortVlan {
    PortVlan::access(VlanId::new(tag).expect("test VLANs fit 12 bits"))
}

/// The bridge's own port; the dummy datapath numbers it after the other ports of its name.
fn local(name: &str, dp: u32) -> Port {
    Port {
        ofport: PortNo::LOCAL,
        name: name.to_owned(),
        kind: PortKind::Internal,
        vlan: PortVlan::default(),
        dp_port: Some(DpPort(dp)),
        config: fvs_pipeline::port::PortConfig::default(),
        state: fvs_pipeline::port::PortState::default(),
    }
}

/// br0 (standalone, so NORMAL): vm1 and vm2 access VLAN 1, a trunk of every VLAN, vm3 access
/// VLAN 2. Datapath port numbers equal OpenFlow ones here; the oracle tests adopt whatever
/// numbers Open vSwitch's dummy datapath chose instead.
fn vlan_switch() -> Switch {
    let mut br = Bridge::new("br0", FailMode::Standalone, Millis::ZERO);
    br.add_port(port(1, "vm1", PortKind::System, access(1), 1));
    br.add_port(port(2, "vm2", PortKind::System, access(1), 2));
    br.add_port(port(3, "trunk", PortKind::System, PortVlan::default(), 3));
    br.add_port(port(4, "vm3", PortKind::System, access(2), 4));
    br.add_port(local("br0", 100));
    let mut sw = Switch::new();
    sw.add_bridge(br);
    sw
}

fn frame(in_port: u32, vlan: Option<u16>, src: &str, dst: &str) -> String {
    let tag = vlan.map(|v| format!(",dl_vlan={v}")).unwrap_or_default();
    format!("in_port={in_port}{tag},dl_src={src},dl_dst={dst}")
}

/// What ferrovs's translation delivers, as the oracle's normaliser lists it but with port
/// names for datapath numbers, sorted.
fn delivered(sw: &Switch, bridge: &str, flow_text: &str, now: Millis) -> Vec<String> {
    let f = flow(flow_text);
    let t = sw.trace(bridge, &f, now).expect("bridge");
    let name_of = |dp: &str| {
        sw.bridges
            .iter()
            .flat_map(|b| b.ports.values())
            .find(|p| p.dp_port.is_some_and(|d| d.0.to_string() == dp))
            .map_or_else(|| format!("dp{dp}"), |p| p.name.clone())
    };
    let mut out: Vec<String> = deliveries(&t.actions.to_string(), tag_of(&f))
        .into_iter()
        .map(|d| match d.split_once(' ') {
            Some((dp, rest)) => format!("{} {rest}", name_of(dp)),
            None => d,
        })
        .collect();
    out.sort();
    out
}

#[test]
fn normal_floods_within_the_vlan_and_unicasts_to_learned_macs_like_open_vswitch() {
    let mut sw = vlan_switch();
    let ovs = Ovs::start();
    ovs.mirror_adopting_port_numbers(&mut sw);
    // MAC ages are compared: Open vSwitch's clock must not run on its own.
    ovs.stop_time();
    let t0 = Millis::ZERO;

    // Unknown destination from an access port of VLAN 1: vm2 untagged, trunk and br0 tagged;
    // never vm1 (the input) nor vm3 (VLAN 2).
    let from_vm1 = frame(1, None, A, B);
    assert_eq!(
        delivered(&sw, "br0", &from_vm1, t0),
        [
            "br0 vlan=[vid=1,pcp=0] set=[]",
            "trunk vlan=[vid=1,pcp=0] set=[]",
            "vm2 vlan=[] set=[]"
        ]
    );
    same_trace(&ovs, &sw, "br0", &from_vm1, t0);
    same_packet(&ovs, &mut sw, "br0", &from_vm1, t0);

    // A is now known on vm1 in VLAN 1: a tagged frame from the trunk goes there alone,
    // untagged.
    let to_a_on_1 = frame(3, Some(1), B, A);
    assert_eq!(
        delivered(&sw, "br0", &to_a_on_1, t0),
        ["vm1 vlan=[] set=[]"]
    );
    same_trace(&ovs, &sw, "br0", &to_a_on_1, t0);

    // VLAN 2 has not seen A: vm3's frame floods VLAN 2 only (trunk and br0, tagged 2).
    let to_a_on_2 = frame(4, None, B, A);
    assert_eq!(
        delivered(&sw, "br0", &to_a_on_2, t0),
        [
            "br0 vlan=[vid=2,pcp=0] set=[]",
            "trunk vlan=[vid=2,pcp=0] set=[]"
        ]
    );
    same_trace(&ovs, &sw, "br0", &to_a_on_2, t0);
    same_trace(&ovs, &sw, "br0", &frame(3, Some(2), B, BCAST), t0);

    // A tagged frame on an access port is dropped; an untagged one on the trunk is VLAN 0,
    // which no access port carries.
    let tagged_on_access = frame(1, Some(5), A, B);
    assert!(delivered(&sw, "br0", &tagged_on_access, t0).is_empty());
    same_trace(&ovs, &sw, "br0", &tagged_on_access, t0);
    let untagged_on_trunk = frame(3, None, B, BCAST);
    assert_eq!(
        delivered(&sw, "br0", &untagged_on_trunk, t0),
        ["br0 vlan=[] set=[]"]
    );
    same_trace(&ovs, &sw, "br0", &untagged_on_trunk, t0);
    same_fdb(&ovs, &sw, "br0", t0);
}

#[test]
fn learned_macs_age_out_after_300_seconds_like_open_vswitch() {
    let mut sw = vlan_switch();
    let ovs = Ovs::start();
    ovs.mirror_adopting_port_numbers(&mut sw);
    ovs.stop_time();
    same_packet(&ovs, &mut sw, "br0", &frame(1, None, A, B), Millis::ZERO);
    let to_a = frame(2, None, B, A);

    ovs.warp(200);
    let t200 = Millis::from_secs(200);
    same_fdb(&ovs, &sw, "br0", t200);
    assert_eq!(delivered(&sw, "br0", &to_a, t200), ["vm1 vlan=[] set=[]"]);
    same_trace(&ovs, &sw, "br0", &to_a, t200);

    ovs.warp(101);
    let t301 = Millis::from_secs(301);
    sw.expire(t301);
    same_fdb(&ovs, &sw, "br0", t301);
    assert_eq!(
        delivered(&sw, "br0", &to_a, t301).len(),
        3,
        "A has aged out, so the frame floods again"
    );
    same_trace(&ovs, &sw, "br0", &to_a, t301);
}

#[test]
fn a_secure_bridge_without_flows_drops_and_a_standalone_one_switches_like_open_vswitch() {
    let mut secure = Bridge::new("brs", FailMode::Secure, Millis::ZERO);
    secure.add_port(port(1, "s1", PortKind::System, PortVlan::default(), 1));
    secure.add_port(port(2, "s2", PortKind::System, PortVlan::default(), 2));
    secure.add_port(local("brs", 3));
    let mut standalone = Bridge::new("bro", FailMode::Standalone, Millis::ZERO);
    standalone.add_port(port(1, "o1", PortKind::System, PortVlan::default(), 4));
    standalone.add_port(port(2, "o2", PortKind::System, PortVlan::default(), 5));
    standalone.add_port(local("bro", 6));
    let mut sw = Switch::new();
    sw.add_bridge(secure);
    sw.add_bridge(standalone);
    let ovs = Ovs::start();
    ovs.mirror_adopting_port_numbers(&mut sw);

    let f = frame(1, None, A, B);
    assert!(sw.bridge("brs").expect("brs").rules().is_empty());
    assert!(delivered(&sw, "brs", &f, Millis::ZERO).is_empty());
    same_table(&ovs, &sw, "brs", 0, Millis::ZERO);
    same_trace(&ovs, &sw, "brs", &f, Millis::ZERO);

    assert_eq!(delivered(&sw, "bro", &f, Millis::ZERO).len(), 2);
    same_table(&ovs, &sw, "bro", 0, Millis::ZERO);
    same_trace(&ovs, &sw, "bro", &f, Millis::ZERO);
}

#[test]
fn patch_ports_carry_frames_between_bridges_in_both_directions_like_open_vswitch() {
    let patch = |peer: &str| PortKind::Patch {
        peer: peer.to_owned(),
    };
    let mut bra = Bridge::new("bra", FailMode::Standalone, Millis::ZERO);
    bra.add_port(port(1, "a1", PortKind::System, PortVlan::default(), 1));
    bra.add_port(Port {
        dp_port: None,
        config: fvs_pipeline::port::PortConfig::default(),
        state: fvs_pipeline::port::PortState::default(),
        ..port(2, "patch-ab", patch("patch-ba"), PortVlan::default(), 0)
    });
    bra.add_port(local("bra", 2));
    let mut brb = Bridge::new("brb", FailMode::Standalone, Millis::ZERO);
    brb.add_port(port(1, "b1", PortKind::System, PortVlan::default(), 3));
    brb.add_port(Port {
        dp_port: None,
        config: fvs_pipeline::port::PortConfig::default(),
        state: fvs_pipeline::port::PortState::default(),
        ..port(2, "patch-ba", patch("patch-ab"), PortVlan::default(), 0)
    });
    brb.add_port(local("brb", 4));
    let mut sw = Switch::new();
    sw.add_bridge(bra);
    sw.add_bridge(brb);
    let ovs = Ovs::start();
    ovs.mirror_adopting_port_numbers(&mut sw);
    // MAC ages are compared: Open vSwitch's clock must not run on its own.
    ovs.stop_time();
    let t0 = Millis::ZERO;

    // a1 → unknown: flooded in bra (its LOCAL and the patch), and through the patch in brb
    // (b1 and brb's LOCAL).
    let a_to_b = frame(1, None, A, B);
    assert_eq!(delivered(&sw, "bra", &a_to_b, t0).len(), 3);
    same_packet(&ovs, &mut sw, "bra", &a_to_b, t0);
    // b1 → A: brb learned A behind patch-ba, bra behind a1: one unicast delivery, to a1.
    let b_to_a = frame(1, None, B, A);
    assert_eq!(delivered(&sw, "brb", &b_to_a, t0), ["a1 vlan=[] set=[]"]);
    same_packet(&ovs, &mut sw, "brb", &b_to_a, t0);
    // And back again, now fully learned: a1 → B goes only to b1.
    assert_eq!(delivered(&sw, "bra", &a_to_b, t0), ["b1 vlan=[] set=[]"]);
    same_trace(&ovs, &sw, "bra", &a_to_b, t0);
    same_fdb(&ovs, &sw, "bra", t0);
    same_fdb(&ovs, &sw, "brb", t0);
}
