//! `fvs-demo`: the seed's compute node, traced.
//!
//! Builds br-int and br-tun as the seed describes them (VM access ports on VLAN 1, the patch
//! pair, the GRE port to 10.0.1.21, the Neutron br-tun flows verbatim), sends three frames
//! through the pipeline — one arriving over GRE from a remote VM, the local VM's unicast reply,
//! and a broadcast — printing each `ofproto/trace`, then dumps the table MAC learning filled.

use fvs_pipeline::clock::Millis;
use fvs_pipeline::example::{frame, seed_switch};
use std::fmt::Write as _;

const REMOTE_VM: u64 = 0xfa16_3eaa_aaaa;
const LOCAL_VM: u64 = 0xfa16_3efe_c787;
const BROADCAST: u64 = 0xffff_ffff_ffff;

/// Runs the demo and returns what it prints.
pub fn run() -> Result<String, fvs_pipeline::switch::XlateError> {
    let mut out = String::new();
    let Ok(mut sw) = seed_switch(Millis::ZERO) else {
        return Ok("the seed's flows did not parse\n".to_owned());
    };
    let steps = [
        (
            "A frame from the remote VM arrives over GRE with key 0x1",
            "br-tun",
            frame(2, 1, REMOTE_VM, LOCAL_VM),
            1,
        ),
        (
            "The local VM answers by unicast",
            "br-int",
            frame(1, 0, LOCAL_VM, REMOTE_VM),
            2,
        ),
        (
            "The local VM broadcasts",
            "br-int",
            frame(1, 0, LOCAL_VM, BROADCAST),
            3,
        ),
    ];
    for (title, bridge, flow, secs) in steps {
        let t = sw.receive(bridge, &flow, 60, Millis::from_secs(secs))?;
        let _ = writeln!(
            out,
            "### {title}\n$ ovs-appctl ofproto/trace {bridge} ...\n{t}"
        );
    }
    let now = Millis::from_secs(4);
    let _ = writeln!(
        out,
        "### What br-tun learned\n$ ovs-ofctl dump-flows br-tun table=20"
    );
    if let Some(b) = sw.bridge("br-tun") {
        for line in b.dump_flows(Some(20), now) {
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_shows_the_learned_flow() {
        let out = super::run().unwrap_or_default();
        assert!(out.contains(
            "priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:aa:aa:aa actions=load:0->NXM_OF_VLAN_TCI[],load:0x1->NXM_NX_TUN_ID[],output:2"
        ));
    }
}
