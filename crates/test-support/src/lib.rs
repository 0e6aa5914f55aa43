//! Test-only helpers for running Open vSwitch 3.1 as ferrovs's compatibility oracle.
//!
//! Many of ferrovs's tests compare its output with what Debian's Open vSwitch does. They all
//! need the same scaffolding, which lives here once:
//!
//! - [`Tool`] / [`require_tool`]: find an Open vSwitch program. Daemons live in `/usr/sbin`,
//!   which is not on every user's PATH, so that is searched after PATH. A missing tool fails
//!   the test with [`INSTALL_HINT`]: oracle tests never skip, because CI installs
//!   `openvswitch-switch` and a silently skipped comparison proves nothing.
//! - [`TempDir`]: a fresh private directory, removed on drop. Its path is short, because the
//!   daemons put Unix sockets in it and a socket path must fit in 108 bytes.
//! - [`PrivateOvsdb`]: Open vSwitch's `ovsdb-server` on a given schema, in its own directory.
//! - [`PrivateOvs`]: `ovsdb-server` plus `ovs-vswitchd` with the userspace `dummy` datapath
//!   (`--enable-dummy=override --disable-system`), so nothing touches the host's network and
//!   no kernel module is needed; [`PrivateOvs::vsctl`], [`PrivateOvs::ofctl`] and
//!   [`PrivateOvs::appctl`] talk to it and return stdout or a [`ToolError`] that carries the
//!   command line, exit status and stderr.
//! - [`ofp_print`]: Open vSwitch's decoding of an OpenFlow message's bytes.
//! - [`Pki`]: certificates for `ssl:`/`pssl:` tests, made by `ovs-pki` at test time.
//! - [`require_python_module`]: the system Python's modules (Open vSwitch's `ovs` library,
//!   `ovsdbapp`), failing with the Debian package to install.
//!
//! # Isolation and clean-up
//!
//! Every daemon is told where its database, socket, pid file, control socket and log are,
//! all inside its own directory, and every command runs with `OVS_RUNDIR`, `OVS_DBDIR`,
//! `OVS_LOGDIR` and `OVS_SYSCONFDIR` pointing there, so a private instance never sees the
//! host's Open vSwitch (if any) nor another test's. Dropping an instance kills exactly the
//! processes whose pids are in *its own* pid files — never anything found by name — waits
//! briefly for them to exit and removes the directory; this also happens when a test panics.
//!
//! ferrovs's own side of the same comparisons, and the scaffolding of network tests:
//!
//! - [`PrivateFvs`] ([`fvs`]): `fvs-vswitchd` in a private directory (with `--enable-dummy` or
//!   not, optionally inside a network namespace), with [`PrivateFvs::vsctl`],
//!   [`PrivateFvs::ofctl`] and [`PrivateFvs::appctl`] shaped like [`PrivateOvs`]'s, so one
//!   test can run the same steps on both; killed by its pid on drop.
//! - [`Switch`]: those steps as a trait both implement, for functions that take either.
//! - [`netns`]: network namespaces, veth pairs and the processes run in them, for root tests;
//!   deleted and killed on drop.
//! - [`cargo::package_bins`]: another workspace package's binaries, built on demand.
//! - [`frames`]: hex, the IPv4 checksum, and reading the frames of a pcap file with a reader
//!   that is not ferrovs's own.
//! - [`SEED_BR_TUN_VSCTL`], [`SEED_BR_TUN_FLOWS_PATH`]: the seed's br-tun as test input.
//! - [`AddBridge`]: the `ovs-vsctl` words that build a bridge and its ports.
//! - [`sort_show_siblings`]: `ovs-vsctl show` with its hash-ordered sibling blocks sorted.
//!
//! This crate is `publish = false` and only ever a dev-dependency.

pub mod cargo;
mod daemon;
mod dir;
pub mod frames;
pub mod fvs;
pub mod netns;
mod ovs;
mod ovsdb;
mod pki;
mod seed;
mod show;
mod switch;
mod tool;
mod vsctl;

pub use daemon::is_running;
pub use dir::TempDir;
pub use fvs::{FvsBuilder, PrivateFvs};
pub use ovs::{PrivateOvs, VSWITCH_SCHEMA};
pub use ovsdb::PrivateOvsdb;
pub use pki::{KeyPair, Pki};
pub use seed::{SEED_BR_TUN_FLOWS_PATH, SEED_BR_TUN_VSCTL};
pub use show::sort_show_siblings;
pub use switch::Switch;
pub use tool::{
    INSTALL_HINT, SYSTEM_PYTHON, Tool, ToolError, ofp_print, require_python_module, require_tool,
    run,
};
pub use vsctl::AddBridge;
