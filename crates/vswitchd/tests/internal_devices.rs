//! Oracle tests of bridges' internal devices as the host sees them (root): Open vSwitch 3.1's
//! `ovs-vswitchd` (userspace datapath, real TAP devices) and fvs-vswitchd, each in a network
//! namespace of its own, get the same commands; what `ip link`, `ip addr`, `ip route`, the
//! `Interface` rows and `ovs-ofctl show` say must read the same.
//!
//! - A new bridge's device stays administratively down (no IPv6 link-local address, no
//!   carrier) until the host brings it up, and is promiscuous; the `Interface` rows say so
//!   (`admin_state`, `link_state`) and give the driver's `link_speed` and `duplex`.
//! - `other_config:hwaddr` set, changed and removed on a live bridge, and a port with a
//!   lower address added and deleted, change the device's address in place: the IPv4
//!   address the host gave it stays, while (Open vSwitch takes the device down for the
//!   change) its IPv6 addresses and routes go and a new link-local address follows the new
//!   Ethernet address.
//! - A bridge's device outlives the daemon: after `exit` and a new start, the host's
//!   addresses, routes and state on it are still there; `exit --cleanup` and `del-br` take
//!   it away.
//! - OpenFlow's `PORT_DOWN` is the device's administrative state both ways: the host
//!   taking a port's device down or up sets or clears it, and a port-mod takes the device
//!   down or up, with the port-status messages Open vSwitch sends.
//!
//! Each bridge's random address differs between the switches; outputs are compared with it
//! (and the link-local address made from it) replaced by a placeholder. Namespaces are
//! deleted and both daemons killed by their own pids, by guards, even when an assertion
//! fails.

mod common;

use std::time::{Duration, Instant};

use common::OfctlMonitor;

use fvs_test_support::netns::{self, exec};
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs, Switch, TempDir, require_tool};

/// Both switches, each in its namespace, and the namespaces (dropped last).
struct Pair {
    ovs: PrivateOvs,
    fvs: PrivateFvs,
    /// Open vSwitch's namespace, then ours.
    ns: [String; 2],
    /// fvs-vswitchd's directory, which outlives a restart.
    fvs_home: TempDir,
    _lab: netns::Lab,
}

impl Pair {
    fn start(tag: &str) -> Self {
        let mut lab = netns::Lab::new();
        let theirs = lab.add_netns(&netns::unique_name(tag, "o"));
        let ours = lab.add_netns(&netns::unique_name(tag, "f"));
        for ns in [&theirs, &ours] {
            exec(ns, &["ip", "link", "set", "lo", "up"]);
        }
        let ovs = PrivateOvs::start_in_netns(&theirs);
        let fvs_home = TempDir::new(tag);
        let fvs = start_fvs(&fvs_home, &ours);
        Self {
            ovs,
            fvs,
            ns: [theirs, ours],
            fvs_home,
            _lab: lab,
        }
    }

    /// Both daemons exit (`exit`, without `--cleanup`) and start again on the same
    /// databases, in the same namespaces.
    fn restart(&mut self) {
        for (sw, _) in self.switches() {
            sw.appctl(&["exit"])
                .unwrap_or_else(|e| panic!("exit ({}): {e}", sw.dir().display()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.fvs.is_alive() || self.ovs.vswitchd_ctl().exists() {
            assert!(Instant::now() < deadline, "a switch did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Open vSwitch as `PrivateOvs` starts it, in its environment.
        let env = self
            .ovs
            .command("ovs-vswitchd")
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = self.ovs.dir();
        let mut cmd = require_tool("ip").command();
        for (k, v) in env.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.args(["netns", "exec", &self.ns[0]])
            .arg(require_tool("ovs-vswitchd").path())
            .arg(self.ovs.ovsdb().target())
            .arg(format!(
                "--pidfile={}",
                dir.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                dir.join("ovs-vswitchd.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                dir.join("ovs-vswitchd.log").display()
            ))
            .args(["--detach", "--no-chdir"]);
        let (ok, out) = netns::run_combined(&mut cmd);
        assert!(ok, "ovs-vswitchd did not start again: {out}");
        self.fvs = start_fvs(&self.fvs_home, &self.ns[1]);
        // Both have their bridges back.
        for (sw, _) in self.switches() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while sw.ofctl(&["show", "br0"]).is_err() {
                assert!(Instant::now() < deadline, "br0 is not back");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    fn switches(&self) -> [(&dyn Switch, &str); 2] {
        [(&self.ovs, &self.ns[0]), (&self.fvs, &self.ns[1])]
    }

    /// The same `ovs-vsctl` command on both; it must succeed on both.
    fn vsctl(&self, args: &[&str]) {
        for (sw, _) in self.switches() {
            sw.vsctl(args)
                .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
        }
    }

    /// The same command in both namespaces; it must succeed in both.
    fn exec(&self, args: &[&str]) {
        for ns in &self.ns {
            exec(ns, args);
        }
    }
}

/// fvs-vswitchd with real devices on `home`, in namespace `ns`.
fn start_fvs(home: &TempDir, ns: &str) -> PrivateFvs {
    PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .dummy(false)
        .netns(ns)
        .dir(home.path())
        .start()
}

/// The EUI-64 IPv6 link-local address of Ethernet address `mac` (`xx:xx:...`), as `ip addr`
/// prints it.
fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|e| panic!("{mac}: {e}")))
        .collect();
    let groups = [
        u16::from_be_bytes([b[0] ^ 0x02, b[1]]),
        u16::from_be_bytes([b[2], 0xff]),
        u16::from_be_bytes([0xfe, b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
    ];
    let addr = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, groups[0], groups[1], groups[2], groups[3]);
    addr.to_string()
}

/// `text` with bridge address `mac` (in its textual, datapath-ID and link-local forms)
/// replaced by placeholders.
fn masked(text: &str, mac: &str) -> String {
    let dpid = format!("0000{}", mac.replace(':', ""));
    text.replace(&link_local(mac), "<default-link-local>")
        .replace(mac, "<default>")
        .replace(&dpid, "<default-dpid>")
}

/// What the host and OpenFlow say of bridge `br`'s own device on `sw` in namespace `ns`.
fn view(sw: &dyn Switch, ns: &str, br: &str) -> String {
    let ofctl = sw.ofctl_ok(&["show", br]);
    let of: Vec<&str> = ofctl
        .lines()
        .filter(|l| l.contains("dpid:") || l.contains("LOCAL("))
        .map(|l| l.split_once("): ").map_or(l, |(_, rest)| rest))
        .collect();
    format!(
        "link: {}addr: {}route: {}route6: {}mac_in_use: {}datapath_id: {}openflow: {}\n",
        exec(ns, &["ip", "-br", "link", "show", br]),
        exec(ns, &["ip", "-br", "addr", "show", br]),
        exec(ns, &["ip", "route", "show", "dev", br]),
        exec(ns, &["ip", "-6", "route", "show", "dev", br]),
        sw.vsctl_ok(&["get", "interface", br, "mac_in_use"]),
        sw.vsctl_ok(&["get", "bridge", br, "datapath_id"]),
        of.join(" | "),
    )
}

/// Bridge `br`'s address on `sw`.
fn bridge_mac(sw: &dyn Switch, br: &str) -> String {
    sw.vsctl_ok(&["get", "interface", br, "mac_in_use"])
        .trim()
        .trim_matches('"')
        .to_owned()
}

/// Waits (up to 10 s) until both switches' views of `br`, each masked with its own default
/// address, read the same; returns ours, or fails showing both.
fn settled(pair: &Pair, br: &str, defaults: &[String; 2], step: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let [(ovs, ovs_ns), (fvs, fvs_ns)] = pair.switches();
        let theirs = masked(&view(ovs, ovs_ns, br), &defaults[0]);
        let ours = masked(&view(fvs, fvs_ns, br), &defaults[1]);
        if ours == theirs {
            return ours;
        }
        assert!(
            Instant::now() < deadline,
            "{step}:\nours:\n{ours}\ntheirs:\n{theirs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn bridge_address_changes_in_place_as_in_open_vswitch() {
    let pair = Pair::start("ihw");
    pair.vsctl(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args());
    pair.exec(&["ip", "link", "set", "br0", "up"]);
    pair.exec(&["ip", "addr", "add", "10.9.0.1/24", "dev", "br0"]);
    pair.exec(&[
        "ip",
        "addr",
        "add",
        "2001:db8:9::1/64",
        "dev",
        "br0",
        "nodad",
    ]);
    pair.exec(&["ip", "route", "add", "10.10.0.0/16", "via", "10.9.0.2"]);
    // A port whose (globally administered) address is lower than any random one.
    pair.exec(&[
        "ip",
        "link",
        "add",
        "p1",
        "address",
        "00:00:5e:00:53:07",
        "type",
        "veth",
        "peer",
        "name",
        "p1x",
    ]);
    let defaults = [bridge_mac(&pair.ovs, "br0"), bridge_mac(&pair.fvs, "br0")];
    let start = settled(&pair, "br0", &defaults, "a new bridge");
    assert!(start.contains("10.9.0.1/24"), "{start}");
    assert!(start.contains("2001:db8:9::1/64"), "{start}");
    assert!(start.contains("10.10.0.0/16 via 10.9.0.2"), "{start}");
    assert!(start.contains("<default-link-local>"), "{start}");

    pair.vsctl(&[
        "set",
        "bridge",
        "br0",
        "other_config:hwaddr=00:11:22:33:44:55",
    ]);
    let set = settled(&pair, "br0", &defaults, "hwaddr set");
    assert!(set.contains("dpid:0000001122334455"), "{set}");
    assert!(set.contains("addr:00:11:22:33:44:55"), "{set}");
    assert!(set.contains(&link_local("00:11:22:33:44:55")), "{set}");
    // The IPv4 address stays; the IPv6 one and the route through the device went with the
    // device's down-and-up.
    assert!(set.contains("10.9.0.1/24"), "{set}");
    assert!(!set.contains("2001:db8:9::1"), "{set}");
    assert!(!set.contains("10.10.0.0/16"), "{set}");

    pair.vsctl(&[
        "set",
        "bridge",
        "br0",
        "other_config:hwaddr=00:11:22:33:44:66",
    ]);
    let changed = settled(&pair, "br0", &defaults, "hwaddr changed");
    assert!(changed.contains("dpid:0000001122334466"), "{changed}");

    // Removed: the bridge's first random address again.
    pair.vsctl(&["remove", "bridge", "br0", "other_config", "hwaddr"]);
    let removed = settled(&pair, "br0", &defaults, "hwaddr removed");
    assert!(removed.contains("dpid:<default-dpid>"), "{removed}");
    assert!(removed.contains("addr:<default>"), "{removed}");

    // A port with a lower global address lends it to the bridge while it is there.
    pair.vsctl(&["add-port", "br0", "p1"]);
    let lent = settled(&pair, "br0", &defaults, "a port with a lower address added");
    assert!(lent.contains("dpid:000000005e005307"), "{lent}");
    assert!(lent.contains("10.9.0.1/24"), "{lent}");
    pair.vsctl(&["del-port", "br0", "p1"]);
    let back = settled(&pair, "br0", &defaults, "that port deleted");
    assert!(back.contains("dpid:<default-dpid>"), "{back}");
    assert!(back.contains("10.9.0.1/24"), "{back}");
}

/// `ip -d link show DEV`'s flags, state and promiscuity, and `ip addr show DEV`'s addresses.
fn device_state(ns: &str, dev: &str) -> String {
    let link = exec(ns, &["ip", "-d", "link", "show", dev]);
    let mut words = link.split_whitespace();
    let flags = words.find(|w| w.starts_with('<')).unwrap_or_default();
    let after = |key: &str| {
        link.split_whitespace()
            .skip_while(|w| *w != key)
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    let addrs: Vec<String> = exec(ns, &["ip", "addr", "show", dev])
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .filter(|l| l.starts_with("inet"))
        .collect();
    format!(
        "{dev}: {flags} state {} promiscuity {} addrgenmode {} addresses [{}]",
        after("state"),
        after("promiscuity"),
        after("addrgenmode"),
        addrs.join(", ")
    )
}

/// Waits (up to 10 s, the time the `Interface` rows take to be written) until `column` of
/// interface `iface` reads `want` on both switches.
fn wait_column(pair: &Pair, iface: &str, column: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for (sw, _) in pair.switches() {
        loop {
            let got = sw.vsctl_ok(&["get", "interface", iface, column]);
            if got.trim() == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{iface} {column}: {got:?}, not {want} (on {})",
                sw.dir().display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn internal_devices_stay_down_until_the_host_brings_them_up_as_in_open_vswitch() {
    let pair = Pair::start("ilk");
    for br in ["br0", "br1"] {
        pair.vsctl(&AddBridge::new(br).set(&["datapath_type=netdev"]).args());
    }
    pair.vsctl(
        &AddBridge::existing("br0")
            .port("i0", &["type=internal"])
            .args(),
    );
    for dev in ["br0", "br1", "i0"] {
        let theirs = device_state(&pair.ns[0], dev);
        let ours = device_state(&pair.ns[1], dev);
        assert_eq!(ours, theirs, "a new internal device");
        assert_eq!(
            ours,
            format!(
                "{dev}: <BROADCAST,MULTICAST,PROMISC> state DOWN promiscuity 1 addrgenmode eui64 addresses []"
            )
        );
        wait_column(&pair, dev, "admin_state", "down");
        wait_column(&pair, dev, "link_state", "down");
        // What the TAP driver tells ethtool, down or not.
        wait_column(&pair, dev, "link_speed", "10000000000");
        wait_column(&pair, dev, "duplex", "full");
    }
    // Brought up by the host: a carrier, and a link-local address from its own address.
    pair.exec(&["ip", "link", "set", "br1", "up"]);
    for (sw, ns) in pair.switches() {
        let mac = bridge_mac(sw, "br1");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let state = device_state(ns, "br1");
            let want = format!(
                "br1: <BROADCAST,MULTICAST,PROMISC,UP,LOWER_UP> state UNKNOWN promiscuity 1 addrgenmode eui64 addresses [inet6 {}/64]",
                link_local(&mac)
            );
            if state == want {
                break;
            }
            assert!(Instant::now() < deadline, "{state}\nnot\n{want}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    wait_column(&pair, "br1", "admin_state", "up");
    wait_column(&pair, "br1", "link_state", "up");
    // The other bridge's device is still down.
    assert_eq!(
        device_state(&pair.ns[1], "br0"),
        device_state(&pair.ns[0], "br0")
    );
    wait_column(&pair, "br0", "admin_state", "down");
}

/// Port `port`'s configuration and state lines in `ovs-ofctl show br0` on `sw`.
fn of_port(sw: &dyn Switch, port: &str) -> String {
    let listing = sw.ofctl_ok(&["show", "br0"]);
    // ` 1(p2): addr:...`, ` LOCAL(br0): addr:...`.
    let head = if port == "LOCAL" {
        "LOCAL(".to_owned()
    } else {
        format!("({port}): addr:")
    };
    listing
        .lines()
        .skip_while(|l| !l.contains(&head))
        .skip(1)
        .take_while(|l| !l.contains("): addr:"))
        .filter(|l| l.contains("config:") || l.contains("state:"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The port-status messages a monitor printed: each message's port, configuration and
/// state, addresses (each switch's own) and port numbers left out.
fn port_statuses(m: &OfctlMonitor) -> Vec<String> {
    let text = m.text();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if !l.contains("PORT_STATUS") {
            continue;
        }
        let port = l
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map_or("?", |(name, _)| name);
        let config = lines.next().unwrap_or_default().trim();
        let state = lines.next().unwrap_or_default().trim();
        out.push(format!("{port} {config} {state}"));
    }
    out
}

#[test]
fn port_down_and_the_device_s_state_follow_each_other_as_in_open_vswitch() {
    let pair = Pair::start("iad");
    pair.vsctl(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args());
    pair.exec(&[
        "ip", "link", "add", "p2", "type", "veth", "peer", "name", "p2x",
    ]);
    pair.exec(&["ip", "link", "set", "p2x", "up"]);
    pair.exec(&["ip", "link", "set", "p2", "up"]);
    pair.vsctl(&["add-port", "br0", "p2"]);
    // A veth's link as its driver tells ethtool.
    wait_column(&pair, "p2", "link_speed", "10000000000");
    wait_column(&pair, "p2", "duplex", "full");
    let monitors: Vec<[OfctlMonitor; 2]> = pair
        .switches()
        .iter()
        .map(|(sw, _)| {
            let target = sw.mgmt_target("br0");
            [
                OfctlMonitor::start(sw.dir(), &[], &target, &["65000"], "ad10"),
                OfctlMonitor::start(sw.dir(), &["-O", "OpenFlow14"], &target, &["65000"], "ad14"),
            ]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    // Waits (up to 5 s) until `port` reads `want` in ovs-ofctl show and its device's flags
    // say `flags` on both switches.
    let step = |what: &str, port: &str, want: &str, up: bool| {
        for (sw, ns) in pair.switches() {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let shown = of_port(sw, port);
                let dev = if port == "LOCAL" { "br0" } else { port };
                let link = exec(ns, &["ip", "-br", "link", "show", dev]);
                let is_up = link.contains(",UP") || link.contains("<UP");
                if shown == want && is_up == up {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what} ({}): {port}: {shown:?} and {link:?}, not {want:?} and up={up}",
                    sw.dir().display()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Apart, so each switch's messages come in the same order.
        std::thread::sleep(Duration::from_millis(600));
    };
    let (up, down) = (
        "config:     0 state:      0",
        "config:     PORT_DOWN state:      LINK_DOWN",
    );
    step("a new port", "p2", up, true);
    // A new bridge's own port: its device down, so PORT_DOWN.
    step("a new bridge", "LOCAL", down, false);
    pair.exec(&["ip", "link", "set", "p2", "down"]);
    step("the host took p2 down", "p2", down, false);
    pair.exec(&["ip", "link", "set", "p2", "up"]);
    step("the host brought p2 up", "p2", up, true);
    for (sw, _) in pair.switches() {
        sw.ofctl_ok(&["mod-port", "br0", "p2", "down"]);
    }
    step("a port-mod took p2 down", "p2", down, false);
    for (sw, _) in pair.switches() {
        sw.ofctl_ok(&["mod-port", "br0", "p2", "up"]);
    }
    step("a port-mod brought p2 up", "p2", up, true);
    for (sw, _) in pair.switches() {
        sw.ofctl_ok(&["mod-port", "br0", "br0", "up"]);
    }
    step("a port-mod brought the bridge's port up", "LOCAL", up, true);
    for (i, version) in ["OpenFlow 1.0", "OpenFlow 1.4"].iter().enumerate() {
        let theirs = port_statuses(&monitors[0][i]);
        let ours = port_statuses(&monitors[1][i]);
        assert_eq!(ours, theirs, "{version} port-status messages");
        assert!(
            ours.iter().any(|m| m.contains("PORT_DOWN")),
            "{version}: {ours:?}"
        );
    }
}

#[test]
fn internal_devices_outlive_the_daemon_as_in_open_vswitch() {
    let mut pair = Pair::start("irs");
    pair.vsctl(&AddBridge::new("br0").set(&["datapath_type=netdev"]).args());
    pair.vsctl(&AddBridge::new("br1").set(&["datapath_type=netdev"]).args());
    pair.exec(&["ip", "link", "set", "br0", "up"]);
    pair.exec(&["ip", "addr", "add", "10.9.0.1/24", "dev", "br0"]);
    pair.exec(&["ip", "route", "add", "10.10.0.0/16", "via", "10.9.0.2"]);
    let defaults = [bridge_mac(&pair.ovs, "br0"), bridge_mac(&pair.fvs, "br0")];
    let before = settled(&pair, "br0", &defaults, "before the restart");
    assert!(before.contains("10.9.0.1/24"), "{before}");
    assert!(before.contains("10.10.0.0/16 via 10.9.0.2"), "{before}");
    pair.restart();
    let after = settled(&pair, "br0", &defaults, "after the restart");
    // The device as the host left it. Its operational state reads UNKNOWN until its
    // carrier has come back once (the daemon's reattaching), UP after: with both switches.
    let operstate = |v: &str| v.replace(" UNKNOWN ", " UP      ");
    assert_eq!(
        operstate(&after),
        operstate(&before),
        "the device as the host left it"
    );
    assert_eq!(
        device_state(&pair.ns[1], "br1"),
        device_state(&pair.ns[0], "br1")
    );
    // Deleted with its bridge.
    pair.vsctl(&["del-br", "br1"]);
    for ns in &pair.ns {
        let deadline = Instant::now() + Duration::from_secs(5);
        while exec(ns, &["ip", "-br", "link", "show"]).contains("br1 ") {
            assert!(Instant::now() < deadline, "br1 still exists in {ns}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // `exit --cleanup` takes the devices with it.
    for (sw, _) in pair.switches() {
        sw.appctl(&["exit", "--cleanup"])
            .unwrap_or_else(|e| panic!("exit --cleanup: {e}"));
    }
    for ns in &pair.ns {
        let deadline = Instant::now() + Duration::from_secs(5);
        while exec(ns, &["ip", "-br", "link", "show"]).contains("br0 ") {
            assert!(
                Instant::now() < deadline,
                "br0 still exists in {ns} after exit --cleanup"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
