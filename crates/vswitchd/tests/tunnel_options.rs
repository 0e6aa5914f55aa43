//! Oracle test of `fvs_vswitchd::tunnel_config` (root): the same tunnel interfaces, with good,
//! odd and bad options, are added to Open vSwitch 3.1 (userspace datapath, inside a network
//! namespace of its own so its devices touch nothing else), and for each one ferrovs's reading
//! must agree with Open vSwitch's: the `error` column's text when the port is refused, and
//! otherwise the options `ovs-appctl dpif/show` prints (which shows how every value was read:
//! `key=010` as 8, `ttl=300` as 44, defaults left out).
//!
//! CI runs as root; without root this test fails saying so. The namespace is deleted and the
//! daemons are stopped by their own pid files, by a guard, even when an assertion fails.

mod common;

use std::collections::BTreeMap;

use fvs_test_support::netns::{Netns, require_root, unique_name};
use fvs_test_support::{AddBridge, PrivateOvs};
use fvs_vswitchd::tunnel_config;

/// Interfaces to add: type and options. Each has its own `remote_ip` where it has one, so
/// no two of them claim the same traffic.
const CASES: &[(&str, &[(&str, &str)])] = &[
    (
        "gre",
        &[
            ("df_default", "true"),
            ("in_key", "flow"),
            ("local_ip", "10.0.1.31"),
            ("out_key", "flow"),
            ("remote_ip", "10.0.2.1"),
        ],
    ),
    (
        "vxlan",
        &[
            ("remote_ip", "10.0.2.2"),
            ("dst_port", "8472"),
            ("key", "5"),
        ],
    ),
    ("vxlan", &[("remote_ip", "10.0.2.3"), ("dst_port", "4789")]),
    (
        "geneve",
        &[
            ("remote_ip", "10.0.2.4"),
            ("in_key", "flow"),
            ("out_key", "7"),
        ],
    ),
    ("gre", &[("remote_ip", "10.0.2.5"), ("in_key", "flow")]),
    ("gre", &[("remote_ip", "10.0.2.6"), ("key", "010")]),
    ("gre", &[("remote_ip", "10.0.2.7"), ("key", "0x1f")]),
    ("gre", &[("remote_ip", "10.0.2.8"), ("key", "abc")]),
    ("gre", &[("remote_ip", "10.0.2.9"), ("ttl", "300")]),
    ("gre", &[("remote_ip", "10.0.2.10"), ("ttl", "7")]),
    ("gre", &[("remote_ip", "10.0.2.11"), ("ttl", "inherit")]),
    ("gre", &[("remote_ip", "10.0.2.12"), ("tos", "0x10")]),
    ("gre", &[("remote_ip", "10.0.2.13"), ("tos", "inherit")]),
    ("gre", &[("remote_ip", "10.0.2.14"), ("tos", "300")]),
    (
        "gre",
        &[("remote_ip", "10.0.2.15"), ("df_default", "false")],
    ),
    (
        "gre",
        &[("remote_ip", "10.0.2.16"), ("df_default", "maybe")],
    ),
    ("gre", &[("remote_ip", "10.0.2.17"), ("csum", "true")]),
    ("gre", &[("remote_ip", "10.0.2.18"), ("csum", "yes")]),
    (
        "gre",
        &[("remote_ip", "10.0.2.19"), ("egress_pkt_mark", "5")],
    ),
    ("gre", &[("remote_ip", "10.0.2.20"), ("seq", "true")]),
    ("gre", &[("remote_ip", "10.0.2.21"), ("local_ip", "bogus")]),
    ("gre", &[("remote_ip", "10.0.2.22"), ("foo", "bar")]),
    ("gre", &[("remote_ip", "10.0.2.23"), ("dst_port", "4789")]),
    (
        "vxlan",
        &[("remote_ip", "10.0.2.24"), ("key", "99999999999")],
    ),
    (
        "geneve",
        &[
            ("remote_ip", "10.0.2.25"),
            ("dst_port", "7000"),
            ("key", "flow"),
        ],
    ),
    ("gre", &[]),
    ("vxlan", &[("remote_ip", "bogus")]),
    ("geneve", &[("local_ip", "10.0.1.31")]),
    ("gre", &[("remote_ip", "10.0.2.26"), ("local_ip", "flow")]),
    ("gre", &[("remote_ip", "flow"), ("key", "flow")]),
    ("vxlan", &[("remote_ip", "flow"), ("local_ip", "flow")]),
    (
        "geneve",
        &[
            ("remote_ip", "flow"),
            ("csum", "true"),
            ("ttl", "inherit"),
            ("tos", "inherit"),
        ],
    ),
    // IPv6 ends, and ends of two families.
    ("gre", &[("remote_ip", "fd00::2:2")]),
    (
        "vxlan",
        &[("remote_ip", "fd00::2:4"), ("local_ip", "fd00::1")],
    ),
    ("vxlan", &[("remote_ip", "fd00::2:6"), ("csum", "false")]),
    (
        "geneve",
        &[("remote_ip", "fd00::2:5"), ("local_ip", "10.0.0.1")],
    ),
    (
        "geneve",
        &[("remote_ip", "10.0.2.40"), ("local_ip", "fd00::1")],
    ),
    ("gre", &[("remote_ip", "flow"), ("local_ip", "fd00::1")]),
    ("gre", &[("remote_ip", "fd00::2:7"), ("local_ip", "bogus")]),
    // Open vSwitch's ip6gre type, which takes either family.
    (
        "ip6gre",
        &[("remote_ip", "fd00::2:8"), ("key", "5"), ("ttl", "9")],
    ),
    ("ip6gre", &[("remote_ip", "10.0.2.41")]),
    ("ip6gre", &[("remote_ip", "bogus")]),
];

/// Open vSwitch in a namespace of its own; the switch is stopped (by its own pid file)
/// before the namespace is deleted.
struct Ovs {
    // Fields drop in order: the daemons, then the namespace.
    ovs: PrivateOvs,
    _ns: Netns,
}

impl Ovs {
    fn start() -> Self {
        require_root();
        let ns = Netns::new(&unique_name("h4opt", ""));
        let ovs = PrivateOvs::start_in_netns(ns.name());
        Self { ovs, _ns: ns }
    }

    fn vsctl(&self, args: &[&str]) -> String {
        self.ovs
            .vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"))
    }

    /// `ovs-vsctl add-port` without requiring success: a refused port still gets its row.
    fn add_port(&self, name: &str, kind: &str, options: &[(&str, &str)]) {
        let args = common::add_port_args(name, kind, options);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = self.ovs.vsctl(&args);
    }
}

/// An OVSDB string as `ovs-vsctl get` prints it (`"..."` with C escapes, or `[]`), read back.
fn ovsdb_string(text: &str) -> Option<String> {
    let t = text.trim();
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    Some(
        inner
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\"),
    )
}

/// The `(...)` part of each port's line in `dpif/show`, by port name.
fn dpif_options(show: &str) -> BTreeMap<String, String> {
    show.lines()
        .filter_map(|l| {
            let name = l.split_whitespace().next()?;
            let open = l.find('(')?;
            let close = l.rfind(')')?;
            Some((name.to_owned(), l[open + 1..close].to_owned()))
        })
        .collect()
}

#[test]
fn tunnel_options_are_read_as_open_vswitch_reads_them() {
    let ovs = Ovs::start();
    ovs.vsctl(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args());
    for (i, (kind, options)) in CASES.iter().enumerate() {
        ovs.add_port(&format!("t{i}"), kind, options);
    }
    // Each `ovs-vsctl add-port` returned once the daemon had applied it (cur_cfg).
    let show = ovs
        .ovs
        .appctl(&["dpif/show"])
        .unwrap_or_else(|e| panic!("{e}"));
    let shown = dpif_options(&show);
    let mut compared = 0;
    for (i, (kind, options)) in CASES.iter().enumerate() {
        let name = format!("t{i}");
        let map: BTreeMap<String, String> = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let ours = tunnel_config::parse(&name, kind, &map);
        let error = ovsdb_string(&ovs.vsctl(&["get", "interface", &name, "error"]));
        match (&ours, error) {
            (Err(mine), Some(theirs)) => assert_eq!(mine, &theirs, "{name} {kind} {options:?}"),
            (Ok((t, _)), None) => assert_eq!(
                Some(&t.dpif_options()),
                shown.get(&name),
                "{name} {kind} {options:?}:\n{show}"
            ),
            (ours, theirs) => panic!(
                "{name} {kind} {options:?}: ferrovs reads {ours:?}, Open vSwitch's error is {theirs:?}"
            ),
        }
        compared += 1;
    }
    assert_eq!(compared, CASES.len());
}
