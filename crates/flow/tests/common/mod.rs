//! Running the oracle: Open vSwitch's `ovs-ofctl parse-flow`, which prints the protocols able
//! to carry a flow and the flow as OVS reads it back.
//!
//! A missing `ovs-ofctl` fails the test (CI installs `openvswitch-common`); it never skips.

#![allow(dead_code)] // each test binary uses a different part of this helper

use fvs_test_support::require_tool;

use fvs_flow::Protocols;

/// What `ovs-ofctl parse-flow` said about one flow.
#[derive(Debug)]
pub(crate) enum Oracle {
    /// Accepted: the usable protocols and the match text between `ADD ` and ` actions=`.
    Ok { usable: Protocols, text: String },
    /// Rejected, with ovs-ofctl's message (without the `ovs-ofctl: ` prefix).
    Err(String),
}

/// Runs `ovs-ofctl -F nxm parse-flow "<flow> actions=drop"`.
///
/// `-F nxm` makes ovs-ofctl print the flow after an NXM round trip, which keeps every match
/// field; its default (OpenFlow 1.0 when possible) would print through OpenFlow 1.0's lossy
/// match, which is the wire codec's business, not this crate's. If NXM cannot carry the flow,
/// ovs-ofctl's complaint is returned as the error.
pub(crate) fn parse_flow(flow: &str) -> Oracle {
    let out = require_tool("ovs-ofctl")
        .command()
        .args(["-F", "nxm", "parse-flow", &format!("{flow} actions=drop")])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ovs-ofctl: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let msg = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("ovs-ofctl: "))
            .unwrap_or_else(|| panic!("ovs-ofctl failed without a message on {flow:?}: {stderr}"));
        return Oracle::Err(msg.trim_start_matches("ovs-ofctl: ").to_string());
    }
    let usable = stdout
        .lines()
        .find_map(|l| l.strip_prefix("usable protocols: "))
        .unwrap_or_else(|| panic!("no usable protocols line for {flow:?}: {stdout}"));
    let add = stdout
        .lines()
        .find_map(|l| l.split_once(" ADD ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no ADD line for {flow:?}: {stdout}"));
    let add = match add.strip_prefix("table:") {
        Some(rest) => rest.split_once(' ').map_or("", |(_, r)| r),
        None => add,
    };
    let text = add
        .strip_suffix("actions=drop")
        .unwrap_or_else(|| panic!("unexpected ADD line for {flow:?}: {add}"))
        .trim_end()
        .to_string();
    Oracle::Ok {
        usable: protocols_from_ofctl(usable),
        text,
    }
}

/// Reads ovs-ofctl's protocol list (`NXM,OXM,OpenFlow11`, `any`) into ferrovs's bits.
pub(crate) fn protocols_from_ofctl(s: &str) -> Protocols {
    s.split(',').fold(Protocols::NONE, |acc, name| {
        acc.or(match name {
            "any" => Protocols::ANY,
            "OpenFlow10" => Protocols::OF10_STD_ANY,
            "OpenFlow10+table_id" => Protocols::OF10_STD_TID,
            "NXM" => Protocols::NXM_ANY,
            "NXM+table_id" => Protocols::OF10_NXM_TID,
            "OpenFlow11" => Protocols::OF11_STD,
            "OXM" => Protocols::OXM_ANY,
            "OXM-OpenFlow12" => Protocols::OF12_OXM,
            "OXM-OpenFlow13" => Protocols::OF13_OXM,
            "OXM-OpenFlow14" => Protocols::OF14_OXM,
            "OXM-OpenFlow15" => Protocols::OF15_OXM,
            "none" => Protocols::NONE,
            other => panic!("unknown protocol name {other:?} from ovs-ofctl"),
        })
    })
}
