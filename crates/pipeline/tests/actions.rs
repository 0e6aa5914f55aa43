//! Action execution against a real Open vSwitch 3.1: one bridge, a flow per input port that
//! exercises a family of actions, IPv4/TCP packets traced through both (see `oracle/mod.rs`).

mod oracle;

use fvs_flow::PortNo;
use fvs_pipeline::bridge::{Bridge, FailMode};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::DpPort;
use fvs_pipeline::example::load_flows;
use fvs_pipeline::port::{Port, PortKind, PortVlan};
use fvs_pipeline::switch::Switch;
use oracle::{Ovs, same_trace};

/// One flow per input port; each line's actions are what the test named after it checks.
/// Spellings are ones Open vSwitch keeps whatever protocol installs them (it turns
/// `set_field` on Ethernet or IP fields into `mod_*` over OpenFlow 1.0 and the reverse over
/// 1.3), since ferrovs installs the text as written.
const FLOWS: &str = "\
table=0,priority=10,in_port=1,ip actions=mod_dl_src:00:00:00:00:00:99,mod_nw_dst:192.168.0.1,mod_nw_tos:16,output:2
table=0,priority=10,in_port=2,tcp actions=mod_tp_src:1000,dec_ttl,mod_vlan_vid:7,mod_vlan_pcp:3,output:3,strip_vlan,output:1
table=0,priority=10,in_port=3 actions=load:0x5->NXM_NX_REG0[],load:0x2->NXM_NX_REG1[0..7],resubmit(,1)
table=1,priority=10,reg0=5,reg1=2 actions=move:NXM_NX_REG1[0..15]->NXM_NX_REG2[0..15],push:NXM_NX_REG0[],pop:NXM_NX_REG3[],output:NXM_NX_REG1[0..15]
table=0,priority=10,in_port=4 actions=clone(mod_dl_dst:00:00:00:00:00:77,output:1),output:2,exit,output:3
table=0,priority=10,in_port=7 actions=CONTROLLER:100,controller(reason=no_match,max_len=64),output(port=2,max_len=100),output:3
table=0,priority=10,in_port=6,ip actions=mod_nw_src:10.9.9.9,output:IN_PORT,output:6,FLOOD,ALL,LOCAL
";

/// Flows with OpenFlow 1.1+ instructions, installed over OpenFlow 1.3.
const FLOWS_OF13: &str = "\
table=0,priority=10,in_port=5 actions=write_actions(output:3),goto_table:2
table=2,priority=10 actions=write_metadata:0x5/0xff,goto_table:3
table=3,priority=10,metadata=0x5/0xff actions=set_field:00:00:00:00:00:55->eth_dst,resubmit(1,4)
table=4,priority=10,ip,in_port=1 actions=push_vlan:0x8100,mod_nw_ttl:9,output:2
table=0,priority=10,in_port=8 actions=write_actions(output:3),goto_table:5
table=5,priority=10 actions=clear_actions,write_actions(output:1),goto_table:6
table=6,priority=10 actions=output:2
table=0,priority=10,in_port=9 actions=write_actions(output:3),goto_table:7
table=7,priority=20,actset_output=3 actions=clear_actions,goto_table:8
table=7,priority=10 actions=output:1
table=8,priority=20,actset_output=UNSET actions=output:2
table=8,priority=10 actions=output:4
";

fn switch() -> Switch {
    let mut br = Bridge::new("br0", FailMode::Secure, Millis::ZERO);
    for n in 1..=9u32 {
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
    br.add_port(Port {
        ofport: PortNo::LOCAL,
        name: "br0".to_owned(),
        kind: PortKind::Internal,
        vlan: PortVlan::default(),
        dp_port: Some(DpPort(100)),
        config: fvs_pipeline::port::PortConfig::default(),
        state: fvs_pipeline::port::PortState::default(),
    });
    for flows in [FLOWS, FLOWS_OF13] {
        let refused = load_flows(&mut br, flows, Millis::ZERO).expect("the test flows parse");
        assert!(refused.is_empty(), "{refused:?}");
    }
    let mut sw = Switch::new();
    sw.add_bridge(br);
    sw
}

fn both() -> (Ovs, Switch) {
    let mut sw = switch();
    let ovs = Ovs::start();
    ovs.mirror_adopting_port_numbers(&mut sw);
    ovs.add_flows("br0", FLOWS, "OpenFlow10");
    ovs.add_flows("br0", FLOWS_OF13, "OpenFlow13");
    (ovs, sw)
}

const TCP: &str = "tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=33000,tp_dst=80,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02";

fn tcp_on(port: u32) -> String {
    format!("in_port={port},{TCP}")
}

#[test]
fn header_rewrites_match_open_vswitch() {
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(1), Millis::ZERO);
    same_trace(&ovs, &sw, "br0", &tcp_on(2), Millis::ZERO);
    // dec_ttl on the last hop: the packet goes to the controller, not on.
    let last_hop = tcp_on(2).replace("nw_ttl=64", "nw_ttl=1");
    same_trace(&ovs, &sw, "br0", &last_hop, Millis::ZERO);
}

#[test]
fn registers_moves_and_the_stack_match_open_vswitch() {
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(3), Millis::ZERO);
}

#[test]
fn clone_and_exit_match_open_vswitch() {
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(4), Millis::ZERO);
}

#[test]
fn instructions_and_the_action_set_match_open_vswitch() {
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(5), Millis::ZERO);
}

#[test]
fn clear_actions_empties_the_action_set_like_open_vswitch() {
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(8), Millis::ZERO);
}

#[test]
fn rules_match_the_action_set_output_like_open_vswitch() {
    // Table 7 sees output:3 in the action set; after clear_actions table 8 sees UNSET.
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(9), Millis::ZERO);
}

#[test]
fn reserved_ports_match_open_vswitch() {
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(6), Millis::ZERO);
}

#[test]
fn packets_to_the_controller_and_truncated_copies_match_open_vswitch() {
    let (ovs, sw) = both();
    same_trace(&ovs, &sw, "br0", &tcp_on(7), Millis::ZERO);
}
