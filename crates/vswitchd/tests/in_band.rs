//! In-band control against Open vSwitch 3.1: a bridge with a `tcp:` controller (unreachable,
//! 192.0.2.1:6653) and the default connection mode gets the hidden in-band rules
//! `ovs-appctl bridge/dump-flows` lists (the controller's TCP connection and ARP, the local
//! port's ARP and DHCP); they forward a frame to the controller and an ARP request from it
//! with NORMAL through a secure bridge without flows, counting them, and the frames leave
//! the other port as from ovs-vswitchd; `connection_mode=out-of-band` and
//! `other_config:disable-in-band=true` each remove them. A `tcp:` manager (default port
//! 6640) gives a bridge without controllers the same rules for its address.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::Fvs;
use fvs_test_support::frames::pcap_frames_or_empty;
use fvs_test_support::{AddBridge, PrivateOvs, Switch};

/// A TCP SYN from 10.0.0.5:40000 to the controller, 192.0.2.1:6653.
const TO_CONTROLLER: &str = "ffffffffffff000000000005080045000028000100004006000a0a000005c00002019c4019fd0000000000000000500220000000000000";
/// An ARP request from the controller's address for 10.0.0.5.
const ARP_FROM_CONTROLLER: &str =
    "ffffffffffff00000000000908060001080006040001000000000009c00002010000000000000a000005";

/// The in-band lines of `bridge/dump-flows br0`, durations dropped and the local port's
/// MAC written `LOCAL_MAC`.
fn in_band_lines(sw: &dyn Switch, local_mac: &str) -> Vec<String> {
    sw.appctl_ok(&["bridge/dump-flows", "br0"])
        .lines()
        .filter(|l| l.contains("priority=18000"))
        .map(|l| {
            l.split(", ")
                .filter(|w| !w.starts_with("duration="))
                .collect::<Vec<_>>()
                .join(", ")
                .replace(local_mac, "LOCAL_MAC")
        })
        .collect()
}

fn scenario(sw: &dyn Switch) -> Vec<String> {
    let pcap = |p: &str| {
        format!(
            "options:tx_pcap={}",
            sw.dir().join(format!("{p}.pcap")).display()
        )
    };
    let (p1, p2) = (pcap("p1"), pcap("p2"));
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1", &p1])
            .port("p2", &["type=dummy", "ofport_request=2", &p2])
            .args(),
    );
    sw.vsctl_ok(&["set-controller", "br0", "tcp:192.0.2.1:6653"]);
    sleep(Duration::from_millis(1000));
    let mac = sw.vsctl_ok(&["get", "interface", "br0", "mac_in_use"]);
    let mac = mac.trim().trim_matches('"').to_owned();
    let mut seen = vec![format!("rules: {:#?}", in_band_lines(sw, &mac))];
    sw.appctl_ok(&["netdev-dummy/receive", "p1", TO_CONTROLLER]);
    sw.appctl_ok(&["netdev-dummy/receive", "p1", ARP_FROM_CONTROLLER]);
    // Counters reach the rules with the datapath's statistics.
    sleep(Duration::from_millis(1500));
    seen.push(format!("after traffic: {:#?}", in_band_lines(sw, &mac)));
    let frames = pcap_frames_or_empty(&sw.dir().join("p2.pcap"));
    seen.push(format!("p2 sent: {frames:02x?}"));
    sw.vsctl_ok(&["set", "controller", "br0", "connection_mode=out-of-band"]);
    sleep(Duration::from_millis(500));
    seen.push(format!("out-of-band: {:#?}", in_band_lines(sw, &mac)));
    sw.vsctl_ok(&[
        "remove",
        "controller",
        "br0",
        "connection_mode",
        "out-of-band",
    ]);
    sleep(Duration::from_millis(500));
    seen.push(format!("in-band again: {}", in_band_lines(sw, &mac).len()));
    sw.vsctl_ok(&["set", "bridge", "br0", "other_config:disable-in-band=true"]);
    sleep(Duration::from_millis(500));
    seen.push(format!("disabled: {:#?}", in_band_lines(sw, &mac)));
    // A manager reached in-band gives every bridge the rules, controllers or not.
    sw.vsctl_ok(&["remove", "bridge", "br0", "other_config", "disable-in-band"]);
    sw.vsctl_ok(&["del-controller", "br0"]);
    sw.vsctl_ok(&["set-manager", "tcp:192.0.2.7"]);
    sleep(Duration::from_millis(1000));
    seen.push(format!("manager: {:#?}", in_band_lines(sw, &mac)));
    sw.vsctl_ok(&["del-manager"]);
    sleep(Duration::from_millis(500));
    seen.push(format!("no manager: {:#?}", in_band_lines(sw, &mac)));
    seen
}

#[test]
fn in_band_rules_are_added_and_forward_as_on_open_vswitch() {
    let fvs = Fvs::start("inband");
    let ours = scenario(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = scenario(&ovs);
    drop(ovs);
    assert!(
        theirs[0].contains("priority=180008") && theirs[2].len() > 20,
        "the oracle: {theirs:#?}"
    );
    if std::env::var_os("FVS_PRINT").is_some() {
        eprintln!("{theirs:#?}");
    }
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t);
    }
}
