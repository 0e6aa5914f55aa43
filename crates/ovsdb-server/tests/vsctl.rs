//! The OVS IDL end to end: real `ovs-vsctl` (which monitors `_Server`, then its database with
//! `monitor_cond_since`) against `fvs-ovsdb-server` and against `ovsdb-server`, both serving
//! Open vSwitch's installed schema. `show` must print the same tree once UUIDs are masked.

mod common;

use std::path::Path;

use common::{Ours, Theirs, mask_uuids, run, temp_dir};
use fvs_test_support::{require_tool, sort_show_siblings};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

fn vsctl(target: &str, args: &[&str]) -> String {
    run(require_tool("ovs-vsctl")
        .command()
        .arg(format!("--db={target}"))
        .arg("--no-wait")
        .arg("--timeout=10")
        .args(args))
}

fn script(target: &str) -> String {
    vsctl(target, &["init"]);
    vsctl(
        target,
        &[
            "add-br",
            "br0",
            "--",
            "set",
            "Bridge",
            "br0",
            "fail_mode=secure",
        ],
    );
    vsctl(
        target,
        &[
            "add-port",
            "br0",
            "p1",
            "--",
            "set",
            "Interface",
            "p1",
            "type=internal",
        ],
    );
    vsctl(target, &["add-port", "br0", "p2", "tag=5"]);
    vsctl(target, &["del-port", "br0", "p1"]);
    // Sibling order in `show` is hash order, unstable even between two ovs-vsctl runs.
    let mut out = sort_show_siblings(&vsctl(target, &["show"]));
    out.push_str(&vsctl(target, &["list-br"]));
    out.push_str(&vsctl(target, &["list-ports", "br0"]));
    mask_uuids(&out)
}

#[test]
fn ovs_vsctl_builds_the_same_bridges() {
    assert!(
        Path::new(SCHEMA).exists(),
        "{SCHEMA} is missing: install Open vSwitch (openvswitch-common) to run the oracle tests"
    );
    let theirs_dir = temp_dir("vsctl-theirs");
    let ours_dir = temp_dir("vsctl-ours");
    for d in [&theirs_dir, &ours_dir] {
        std::fs::copy(SCHEMA, d.join("schema.ovsschema")).expect("copy schema");
    }
    let theirs = Theirs::start(&theirs_dir);
    let ours = Ours::start(&ours_dir, &[]);
    let expected = script(&theirs.target());
    assert!(expected.contains("Bridge br0"), "{expected}");
    assert_eq!(script(&ours.target()), expected);
}
