//! fvs-vsctl waits for the switch as ovs-vsctl does: when a command that changed the
//! database returns (without `--no-wait`), the switch has applied it — the new ports have
//! their `ofport`. Checked against Open vSwitch 3.1's ovs-vswitchd (with its ovsdb-server)
//! and against fvs-vswitchd, whose binary is built here first (this crate cannot depend on
//! the daemon's, which depends on it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fvs_test_support::{PrivateOvs, TempDir};

/// fvs-vsctl `ARGS` against `db`; must succeed; stdout.
fn fvs_vsctl(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fvs-vsctl"))
        .arg(format!("--db={db}"))
        .arg("--timeout=30")
        .args(args)
        .output()
        .expect("fvs-vsctl runs");
    assert!(
        out.status.success(),
        "fvs-vsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Adds ports one command at a time; after each returns, its interface must have an ofport.
fn ports_are_numbered_when_add_port_returns(db: &str) {
    fvs_vsctl(db, &["add-br", "br0"]);
    for i in 0..10 {
        let name = format!("p{i}");
        fvs_vsctl(db, &["add-port", "br0", &name]);
        let ofport = fvs_vsctl(db, &["--no-wait", "get", "Interface", &name, "ofport"]);
        let ofport = ofport.trim();
        assert!(
            ofport.parse::<u16>().is_ok_and(|n| n > 0),
            "{db}: add-port {name} returned before the switch numbered it (ofport {ofport:?})"
        );
    }
    // A transaction that changes nothing has nothing to wait for.
    fvs_vsctl(db, &["--may-exist", "add-port", "br0", "p0"]);
}

/// `<target>/<profile>` of this test binary, with fvs-vswitchd built there.
fn vswitchd() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps")
        .to_path_buf();
    let target = profile.parent().expect("<target>");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "-p",
            "fvs-vswitchd",
            "--bin",
            "fvs-vswitchd",
            "--target-dir",
        ])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("cargo runs").success(),
        "cargo build -p fvs-vswitchd failed"
    );
    profile.join("fvs-vswitchd")
}

/// fvs-vswitchd in a private directory, killed by its own pid on drop.
struct Fvs {
    dir: TempDir,
    child: Child,
}

impl Drop for Fvs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn fvs_vsctl_waits_for_ovs_vswitchd() {
    let ovs = PrivateOvs::start();
    ports_are_numbered_when_add_port_returns(&ovs.ovsdb().target());
}

#[test]
fn fvs_vsctl_waits_for_fvs_vswitchd() {
    let dir = TempDir::new("vsw");
    let child = Command::new(vswitchd())
        .arg("--enable-dummy")
        .env("FVS_RUNDIR", dir.path())
        .env("FVS_DBDIR", dir.path())
        .env("FVS_LOGDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("fvs-vswitchd starts");
    let fvs = Fvs { dir, child };
    let sock = fvs.dir.path().join("db.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "fvs-vswitchd did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    ports_are_numbered_when_add_port_returns(&format!("unix:{}", sock.display()));
}
