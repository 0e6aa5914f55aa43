//! Subfield syntax (`NXM_NX_REG0[0..3]`, `reg0[5]`) parses and prints as `ovs-ofctl` does:
//! each case is written as a `load:1->SUBFIELD` action and the oracle's reprint (or error)
//! compared with ferrovs's.

use fvs_test_support::require_tool;

use fvs_flow::Subfield;

/// Subfields of fields without prerequisites, so a bare `load` is valid in any flow.
const CASES: &[&str] = &[
    "reg0[0..3]",
    "reg0[5]",
    "reg0",
    "reg0[]",
    "reg15[31]",
    "reg7[0..31]",
    "NXM_NX_REG0[]",
    "NXM_NX_REG6[0..15]",
    "xreg0[0..3]",
    "xreg7[]",
    "OXM_OF_PKT_REG0[]",
    "tun_id[]",
    "tunnel_id[0..63]",
    "tun_id[32..63]",
    "NXM_NX_TUN_ID[]",
    "OXM_OF_TUNNEL_ID[]",
    "metadata[0..3]",
    "OXM_OF_METADATA[]",
    "in_port[]",
    "NXM_OF_IN_PORT[]",
    "in_port_oxm[]",
    "pkt_mark[]",
    "pkt_mark[8..15]",
    "eth_dst[]",
    "eth_src[0..23]",
    "NXM_OF_ETH_DST[]",
    "dl_dst[40]",
    "vlan_tci[0..11]",
    "NXM_OF_VLAN_TCI[0..11]",
    "NXM_OF_VLAN_TCI[]",
    "tun_src[]",
    "tun_dst[0..7]",
    // Rejected.
    "reg0[3..1]",
    "reg0[0..32]",
    "reg0[x]",
    "reg0[0..1",
    "bogus[]",
    "REG0[]",
    "nxm_nx_reg0[]",
    "tun_id[64]",
    "reg0[32..40]",
    "reg0[40..30]",
];

fn oracle(sub: &str) -> Result<String, String> {
    let out = require_tool("ovs-ofctl")
        .command()
        .args(["parse-flow", &format!("actions=load:1->{sub}")])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ovs-ofctl: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let printed = stdout
            .lines()
            .find_map(|l| {
                l.split_once("actions=load:0x1->")
                    .map(|(_, s)| s.to_string())
            })
            .unwrap_or_else(|| panic!("no load action printed for {sub}: {stdout}"));
        Ok(printed)
    } else {
        let msg = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("ovs-ofctl: "))
            .unwrap_or_else(|| panic!("ovs-ofctl failed without a message for {sub}: {stderr}"));
        Err(msg.to_string())
    }
}

#[test]
fn subfields_match_ovs_ofctl() {
    let mut wrong = Vec::new();
    for sub in CASES {
        let ours = Subfield::parse(sub)
            .map(|s| s.to_string())
            .map_err(|e| e.to_string());
        let theirs = oracle(sub);
        if ours != theirs {
            wrong.push(format!("{sub}: ovs-ofctl {theirs:?}, ferrovs {ours:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "subfields disagree:\n{}",
        wrong.join("\n")
    );
}
