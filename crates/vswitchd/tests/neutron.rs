//! The Neutron OVS agent's way in: a Manager `ptcp:PORT:127.0.0.1` made with ovs-vsctl (as
//! the agent's helper makes it), then ovsdbapp over `tcp:127.0.0.1:PORT` making br-int and
//! plugging a port, waiting each time for the switch. Against fvs-vswitchd and against Open
//! vSwitch 3.1 (ovs-vswitchd, with its ovsdb-server serving the Manager rows as Debian's
//! service does); both must print the same.
//!
//! The script runs under the system Python (`/usr/bin/python3`) with Debian's
//! `python3-openvswitch` and `python3-ovsdbapp` (`scripts/test.sh` installs them).

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::{PrivateOvs, SYSTEM_PYTHON, require_python_module, require_tool};

/// A loopback port nothing listens on (the system's choice, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// What the agent's helper runs, then waits for the port to listen; returns the remote.
fn enable_manager(db: &str) -> String {
    let port = free_port();
    let target = format!("ptcp:{port}:127.0.0.1");
    let out = require_tool("ovs-vsctl")
        .command()
        .arg(format!("--db={db}"))
        .args(["--timeout=10", "--id=@manager", "--", "create", "Manager"])
        .arg(format!("target=\"{target}\""))
        .args([
            "--",
            "add",
            "Open_vSwitch",
            ".",
            "manager_options",
            "@manager",
        ])
        .output()
        .expect("ovs-vsctl runs");
    assert!(
        out.status.success(),
        "{db}: create Manager: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{db}: {target} never listened");
        sleep(Duration::from_millis(50));
    }
    format!("tcp:127.0.0.1:{port}")
}

/// The script's stdout against `remote`, the port number masked.
fn agent(remote: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/neutron_manager.py");
    let out = Command::new(SYSTEM_PYTHON)
        .arg(script)
        .arg(remote)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {SYSTEM_PYTHON}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "neutron_manager.py {remote} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = remote.rsplit(':').next().unwrap_or_default();
    stdout.replace(port, "PORT")
}

#[test]
fn the_neutron_agent_drives_the_switch_over_its_manager_port() {
    require_python_module("ovs.db.idl", "python3-openvswitch");
    require_python_module("ovsdbapp.schema.open_vswitch.impl_idl", "python3-ovsdbapp");

    let ovs = PrivateOvs::start();
    ovs.ovsdb()
        .appctl(&[
            "ovsdb-server/add-remote",
            "db:Open_vSwitch,Open_vSwitch,manager_options",
        ])
        .unwrap_or_else(|e| panic!("add-remote: {e}"));
    let expected = agent(&enable_manager(&ovs.ovsdb().target()));
    assert!(
        expected.contains("tap0 ofport: 1") || expected.contains("tap0 ofport: [1]"),
        "the script did not get far against Open vSwitch:\n{expected}"
    );

    let fvs = Fvs::start("neutron");
    let actual = agent(&enable_manager(&fvs.db()));
    assert_eq!(actual, expected);
}
