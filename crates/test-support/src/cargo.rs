//! Binaries of another package of the workspace, built on demand.
//!
//! Cargo gives a test `CARGO_BIN_EXE_*` for its own package's binaries only. A test that
//! drives another package's program (fvs-cli's tests run fvs-vswitchd, fvs-vswitchd's run
//! fvs-ofctl) asks [`package_bins`], which runs `cargo build -p PACKAGE --bins` into the
//! target directory and profile the test itself was built in, once per package and test
//! process, and returns that profile directory. Building rather than merely finding the
//! binary matters: one found there could be older than its sources. Cargo does nothing when
//! it is current.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// Builds `package`'s binaries (once per test process) and returns the directory holding
/// them, `<target>/<profile>`, the test's own.
///
/// # Panics
///
/// When the test binary is not in `<target>/<profile>/deps` or the build fails.
#[must_use]
pub fn package_bins(package: &str) -> PathBuf {
    // Held across the build: two tests of one process asking at once build once.
    static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    // <target>/<profile>/deps/<test> → <target>/<profile>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in <target>/<profile>/deps", exe.display()))
        .to_path_buf();
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if !built.contains(package) {
        build(package, &profile);
        built.insert(package.to_owned());
    }
    profile
}

/// `cargo build -p PACKAGE --bins` into the target directory holding `profile`.
fn build(package: &str, profile: &Path) {
    let target = profile
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", profile.display()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", package, "--bins", "--target-dir"])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {package}: {e}"));
    assert!(status.success(), "cargo build -p {package} --bins failed");
}
