//! The Python clients the Neutron agent uses, against our server and against Open vSwitch's
//! `ovsdb-server`, both serving ferrovs's `Open_vSwitch` schema: Open vSwitch's own Python
//! IDL (Debian's `python3-openvswitch`) and ovsdbapp (`python3-ovsdbapp`). Each script prints
//! what it saw; the two runs must print the same.
//!
//! The scripts run under the system Python (`/usr/bin/python3`), where Debian installs those
//! packages; nothing is installed at test time (`scripts/test.sh` installs them in CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Ours, Theirs, temp_dir};
use fvs_test_support::{SYSTEM_PYTHON, require_python_module};

/// ferrovs's `Open_vSwitch` schema (from `fvs-vsctl`, read as a file: no dependency).
fn vswitch_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vsctl/schema/vswitch.ovsschema")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// Runs a script against `remote`; its output (stdout and stderr), failing the test when
/// it fails.
fn run_script(name: &str, args: &[&str]) -> String {
    let out = Command::new(SYSTEM_PYTHON)
        .arg(script(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {SYSTEM_PYTHON}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} {args:?} failed:\n{text}");
    text
}

/// Our server and Open vSwitch's, each on a fresh database of the `Open_vSwitch` schema.
fn both(tag: &str) -> (Theirs, Ours) {
    let t = temp_dir(&format!("{tag}-theirs"));
    let o = temp_dir(&format!("{tag}-ours"));
    for dir in [&t, &o] {
        std::fs::copy(vswitch_schema(), dir.join("schema.ovsschema")).expect("copy schema");
    }
    (Theirs::start(&t), Ours::start_owned(o, &[]))
}

#[test]
fn the_python_idl_reads_writes_and_follows_other_clients_as_with_ovsdb_server() {
    require_python_module("ovs.db.idl", "python3-openvswitch");
    let (theirs, ours) = both("pyidl");
    let schema = vswitch_schema();
    let schema = schema.to_str().expect("schema path");
    let expected = run_script("idl.py", &[&theirs.target(), schema]);
    let actual = run_script("idl.py", &[&ours.target(), schema]);
    assert!(
        expected.contains("first sees the second's change:") && expected.contains("port tap0"),
        "the script did not get far against ovsdb-server:\n{expected}"
    );
    assert_eq!(actual, expected);
}

#[test]
fn ovsdbapp_builds_and_reads_ports_as_with_ovsdb_server() {
    require_python_module("ovs.db.idl", "python3-openvswitch");
    require_python_module("ovsdbapp.schema.open_vswitch.impl_idl", "python3-ovsdbapp");
    let (theirs, ours) = both("ovsdbapp");
    let expected = run_script("ovsdbapp_client.py", &[&theirs.target()]);
    let actual = run_script("ovsdbapp_client.py", &[&ours.target()]);
    assert!(
        expected.contains("after the other client: tap1 tag: 4095"),
        "the script did not get far against ovsdb-server:\n{expected}"
    );
    assert_eq!(actual, expected);
}
