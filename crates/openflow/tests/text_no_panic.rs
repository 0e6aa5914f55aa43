//! Bad input never panics: arbitrary text, and corpus flows with bytes changed, either parse
//! or come back as an error, and whatever parses also prints and normalizes for every
//! protocol.

use fvs_flow::Protocols;
use fvs_openflow::FlowModCommand;
use fvs_openflow::normalize::normalize_flow_mod;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::{format_flow_mod, parse_actions, parse_flow_mod};
use proptest::prelude::*;

/// Flows to mutate: a slice of the syntax's variety.
const SEEDS: &[&str] = &[
    "table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1",
    "ip,actions=ct(commit,zone=NXM_NX_REG6[0..15],nat(src=10.0.0.1-10.0.0.5:100-200),exec(set_field:0x1->ct_mark))",
    "dl_vlan=1,actions=strip_vlan,set_tunnel:0x1,output:2,resubmit(,22),goto_table:5",
    "actions=controller(reason=no_match,id=3,userdata=01.02,pause,meter_id=3),note:01.02",
    "tcp,actions=set_field:0x50/0xf0->tcp_dst,move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31]",
    "actions=check_pkt_larger(1500)->NXM_NX_REG0[0],clone(output:1),write_actions(output:2),write_metadata:0x1/0xff",
    "actions=bundle_load(eth_src,0,hrw,ofport,NXM_NX_REG0[],members:4,8),multipath(eth_src,50,modulo_n,1,0,NXM_NX_REG0[])",
    "ipv6,actions=ct(commit,nat(src=[2001:db8::1]-[2001:db8::5]:100-200)),encap(nsh(md_type=2,tlv(0x1000,10,0x12345678)))",
];

fn exercise(text: &str) {
    if let Ok((fm, usable)) = parse_flow_mod(text, FlowModCommand::Add) {
        for protocol in Protocol::ALL {
            if usable.contains(protocol.bit()) {
                let mut out = String::new();
                format_flow_mod(&normalize_flow_mod(&fm, protocol), protocol, 1, &mut out);
                assert!(out.contains("actions="), "{text} printed as {out}");
            }
        }
    }
    let mut usable = Protocols::ANY;
    let _ = parse_actions(text, &mut usable);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_does_not_panic(text in "[a-z0-9_:=,()\\[\\]./>+-]{0,80}") {
        exercise(&text);
    }

    #[test]
    fn mutated_flows_do_not_panic(
        seed in 0..SEEDS.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), "[a-z0-9_:=,()\\[\\]./>-]{0,3}"), 1..4),
    ) {
        let mut text = SEEDS[seed].to_string();
        for (at, insert) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            let end = (i + insert.len()).min(text.len());
            text.replace_range(i..end, &insert);
        }
        exercise(&text);
    }
}

#[test]
fn the_seeds_themselves_parse() {
    for seed in SEEDS {
        assert!(
            parse_flow_mod(seed, FlowModCommand::Add).is_ok(),
            "{seed} should parse"
        );
    }
}
