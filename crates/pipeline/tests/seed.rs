//! The seed scenario: MAC learning over GRE on the Neutron br-tun program, end to end.
//!
//! `tests/against_ovs.rs` checks the same scenario against a real Open vSwitch (traces,
//! deliveries and the learned rule); the expected strings here are the ones that comparison
//! confirms, in ferrovs's flood order, so this file runs fast without Open vSwitch. What the
//! oracle cannot show is checked only here: the GRE encapsulation (the oracle's GRE port is a
//! dummy netdev), and that a trace without a packet changes nothing.

use fvs_pipeline::clock::Millis;
use fvs_pipeline::example::{frame, seed_switch};
use fvs_pipeline::switch::Switch;

const REMOTE_VM: u64 = 0xfa16_3eaa_aaaa;
const LOCAL_VM: u64 = 0xfa16_3efe_c787; // the seed's libvirt MAC
const BROADCAST: u64 = 0xffff_ffff_ffff;
const LEARNED: &str = "priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:aa:aa:aa actions=load:0->NXM_OF_VLAN_TCI[],load:0x1->NXM_NX_TUN_ID[],output:2";

fn switch() -> Switch {
    seed_switch(Millis::ZERO).expect("the seed's flows parse")
}

fn table20(sw: &Switch, now: Millis) -> Vec<String> {
    sw.bridge("br-tun")
        .expect("br-tun")
        .dump_flows(Some(20), now)
}

fn gre_frame(sw: &mut Switch, now: Millis) -> String {
    let f = frame(2, 1, REMOTE_VM, LOCAL_VM);
    sw.receive("br-tun", &f, 60, now)
        .expect("br-tun exists")
        .to_string()
}

#[test]
fn a_frame_from_gre_is_tagged_sent_to_br_int_and_teaches_table_20() {
    let mut sw = switch();
    let trace = gre_frame(&mut sw, Millis::ZERO);
    // Tagged VLAN 1 in br-tun, into br-int through the patch pair, flooded on VLAN 1: the two
    // access ports (datapath ports 37 and 155845) get it untagged, br-int's own port (a trunk,
    // datapath port 1) tagged.
    assert!(trace.contains("    mod_vlan_vid:1\n"), "{trace}");
    assert!(trace.contains("bridge(\"br-int\")"), "{trace}");
    assert!(
        trace.ends_with("Datapath actions: 37,155845,push_vlan(vid=1,pcp=0),1\n"),
        "{trace}"
    );
    let t20 = table20(&sw, Millis::ZERO);
    assert_eq!(t20.len(), 2, "{t20:?}");
    assert!(t20[0].contains("hard_timeout=300"), "{}", t20[0]);
    assert!(t20[0].ends_with(LEARNED), "{}", t20[0]);
}

#[test]
fn a_unicast_reply_leaves_on_gre_with_the_learned_key_and_no_vlan() {
    let mut sw = switch();
    gre_frame(&mut sw, Millis::ZERO);
    let reply = frame(1, 0, LOCAL_VM, REMOTE_VM);
    let t = sw
        .receive("br-int", &reply, 60, Millis::from_secs(1))
        .expect("br-int exists");
    assert_eq!(
        t.actions.to_string(),
        "set(tunnel(tun_id=0x1,src=10.0.1.31,dst=10.0.1.21,ttl=64,flags(df|key))),3"
    );
    let text = t.to_string();
    assert!(text.contains("20. vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:aa:aa:aa, priority 1\n"));
}

#[test]
fn a_broadcast_floods_through_table_22() {
    let mut sw = switch();
    let b = frame(1, 0, LOCAL_VM, BROADCAST);
    let t = sw
        .receive("br-int", &b, 60, Millis::ZERO)
        .expect("br-int exists");
    let text = t.to_string();
    assert!(
        text.contains("22. dl_vlan=1, priority 32768\n    strip_vlan\n"),
        "{text}"
    );
    assert_eq!(
        t.actions.to_string(),
        "set(tunnel(tun_id=0x1,src=10.0.1.31,dst=10.0.1.21,ttl=64,flags(df|key))),3,3,155845,push_vlan(vid=1,pcp=0),1"
    );
}

#[test]
fn the_learned_rule_expires_300_s_after_its_last_refresh() {
    let mut sw = switch();
    gre_frame(&mut sw, Millis::ZERO);
    gre_frame(&mut sw, Millis::from_secs(200));
    sw.expire(Millis::from_secs(450));
    assert!(table20(&sw, Millis::from_secs(450))[0].ends_with(LEARNED));
    let removed = sw.expire(Millis::from_secs(501));
    assert_eq!(removed.len(), 1);
    assert_eq!(table20(&sw, Millis::from_secs(501)).len(), 1);
}

#[test]
fn a_trace_without_a_packet_changes_nothing() {
    let sw = switch();
    let f = frame(2, 1, REMOTE_VM, LOCAL_VM);
    let text = sw
        .trace("br-tun", &f, Millis::ZERO)
        .expect("br-tun")
        .to_string();
    assert!(text.contains(" >> suppressing side effects, so learn action ignored\n"));
    assert_eq!(table20(&sw, Millis::ZERO).len(), 1);
}
