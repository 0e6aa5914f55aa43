//! ferrovs against a real Open vSwitch 3.1: the seed's compute node, built in both from the same
//! model (`fvs_pipeline::example`), fed the same packets; traces and learned flows must agree.
//!
//! See `oracle/mod.rs` for how Open vSwitch is run and what is normalised.

mod oracle;

use fvs_pipeline::clock::Millis;
use fvs_pipeline::example::{SEED_BR_INT_FLOWS, SEED_BR_TUN_FLOWS, seed_switch};
use fvs_pipeline::switch::Switch;
use oracle::{Ovs, same_packet, same_table, same_trace};

/// A frame from the remote VM, arriving over GRE with key 1, for the local VM.
const FROM_GRE: &str = "in_port=2,tun_id=0x1,dl_src=fa:16:3e:aa:aa:aa,dl_dst=fa:16:3e:fe:c7:87";
/// The local VM's unicast reply.
const REPLY: &str = "in_port=1,dl_src=fa:16:3e:fe:c7:87,dl_dst=fa:16:3e:aa:aa:aa";
/// The local VM's broadcast.
const BROADCAST: &str = "in_port=1,dl_src=fa:16:3e:fe:c7:87,dl_dst=ff:ff:ff:ff:ff:ff";

/// The seed in both switches.
fn seed() -> (Ovs, Switch) {
    let sw = seed_switch(Millis::ZERO).expect("the seed's flows parse");
    let ovs = Ovs::start();
    ovs.mirror(&sw);
    ovs.add_flows("br-int", SEED_BR_INT_FLOWS, "OpenFlow10");
    ovs.add_flows("br-tun", SEED_BR_TUN_FLOWS, "OpenFlow10");
    (ovs, sw)
}

#[test]
fn traces_of_the_seed_match_open_vswitch_before_anything_is_learned() {
    let (ovs, sw) = seed();
    same_trace(&ovs, &sw, "br-tun", FROM_GRE, Millis::ZERO);
    same_trace(&ovs, &sw, "br-int", REPLY, Millis::ZERO);
    same_trace(&ovs, &sw, "br-int", BROADCAST, Millis::ZERO);
}

#[test]
fn a_frame_from_gre_teaches_table_20_the_same_rule_as_open_vswitch() {
    let (ovs, mut sw) = seed();
    same_packet(&ovs, &mut sw, "br-tun", FROM_GRE, Millis::ZERO);
    same_table(&ovs, &sw, "br-tun", 20, Millis::ZERO);
    // The reply now goes to the learned GRE port, in both, and the broadcast still floods.
    same_trace(&ovs, &sw, "br-int", REPLY, Millis::ZERO);
    same_trace(&ovs, &sw, "br-int", BROADCAST, Millis::ZERO);
    same_packet(&ovs, &mut sw, "br-int", REPLY, Millis::ZERO);
    same_table(&ovs, &sw, "br-tun", 20, Millis::ZERO);
}

#[test]
fn the_learned_rule_expires_300_s_after_its_last_refresh_like_open_vswitch() {
    let (ovs, mut sw) = seed();
    ovs.stop_time();
    same_packet(&ovs, &mut sw, "br-tun", FROM_GRE, Millis::ZERO);
    // A second frame 200 s later refreshes the learned rule: its hard timeout restarts.
    ovs.warp(200);
    same_packet(&ovs, &mut sw, "br-tun", FROM_GRE, Millis::from_secs(200));
    ovs.warp(250);
    sw.expire(Millis::from_secs(450));
    same_table(&ovs, &sw, "br-tun", 20, Millis::from_secs(450));
    assert_eq!(
        sw.bridge("br-tun")
            .expect("br-tun")
            .dump_flows(Some(20), Millis::from_secs(450))
            .len(),
        2,
        "still learned at 450 s"
    );
    ovs.warp(51);
    let removed = sw.expire(Millis::from_secs(501));
    assert_eq!(removed.len(), 1, "gone at 501 s");
    same_table(&ovs, &sw, "br-tun", 20, Millis::from_secs(501));
}
