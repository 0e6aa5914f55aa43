//! The helpers against the real Open vSwitch: a private instance answers, and dropping it
//! stops its daemons and removes its directory.

use fvs_test_support::{PrivateOvs, PrivateOvsdb, TempDir, Tool, ToolError, VSWITCH_SCHEMA};

fn pid_of(dir: &std::path::Path, daemon: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{daemon}.pid")))
        .expect("pid file")
        .trim()
        .to_owned()
}

#[test]
fn private_ovs_serves_commands_and_cleans_up() {
    let ovs = PrivateOvs::start();
    ovs.vsctl(&[
        "add-br",
        "br0",
        "--",
        "set",
        "bridge",
        "br0",
        "datapath_type=dummy",
    ])
    .expect("add-br");
    assert_eq!(ovs.vsctl(&["list-br"]).expect("list-br"), "br0\n");
    let flows = ovs.ofctl(&["dump-flows", "br0"]).expect("dump-flows");
    assert!(flows.contains("actions=NORMAL"), "{flows}");
    let version = ovs.appctl(&["version"]).expect("version");
    assert!(version.contains("Open vSwitch"), "{version}");

    let dir = ovs.dir().to_owned();
    let pids = [pid_of(&dir, "ovs-vswitchd"), pid_of(&dir, "ovsdb-server")];
    drop(ovs);
    assert!(!dir.exists(), "{} left behind", dir.display());
    for pid in pids {
        assert!(!fvs_test_support::is_running(&pid), "pid {pid} still runs");
    }
}

#[test]
fn failures_carry_the_command_and_stderr() {
    let db = PrivateOvsdb::start(VSWITCH_SCHEMA);
    assert!(db.target().starts_with("unix:") && db.socket().exists());
    let err = db
        .run("ovsdb-client", &["dump", &db.target(), "No_Such_Table"])
        .expect_err("an unknown table fails");
    let ToolError::Failed {
        command, stderr, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert!(command.contains("dump"), "{command}");
    assert!(stderr.contains("No_Such_Table"), "{stderr}");
    assert!(err.to_string().contains("No_Such_Table"), "{err}");
}

#[test]
fn missing_tools_are_reported_with_the_install_hint() {
    assert!(Tool::find("no-such-ovs-tool").is_none());
    let db = PrivateOvsdb::start(VSWITCH_SCHEMA);
    let err = db.run("no-such-ovs-tool", &[]).expect_err("missing");
    assert!(matches!(err, ToolError::NotInstalled { .. }));
    assert!(
        err.to_string()
            .contains("apt-get install openvswitch-switch"),
        "{err}"
    );
    let panic = std::panic::catch_unwind(|| fvs_test_support::require_tool("no-such-ovs-tool"))
        .expect_err("require_tool panics");
    let msg = panic.downcast_ref::<String>().expect("a message");
    assert!(msg.contains("no-such-ovs-tool is not installed"), "{msg}");
}

#[test]
fn temp_dirs_are_distinct_and_removed() {
    let a = TempDir::new("t");
    let b = TempDir::new("t");
    assert_ne!(a.path(), b.path());
    std::fs::write(a.join("f"), "x").unwrap();
    let path = a.path().to_owned();
    drop(a);
    assert!(!path.exists());
    let kept = b.keep();
    assert!(kept.exists());
    std::fs::remove_dir_all(kept).unwrap();
}
