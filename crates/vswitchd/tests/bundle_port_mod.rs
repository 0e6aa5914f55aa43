//! Port-mods inside OpenFlow 1.4 bundles, as a controller sends them (`ovs-ofctl --bundle
//! mod-port` sends a plain port-mod, so the messages are built here), answered by fvs-vswitchd
//! as by Open vSwitch 3.1:
//!
//! - an atomic bundle with a port-mod fails at commit with `OFPBFC_MSG_FAILED` for the
//!   port-mod and for the commit, and nothing of it is applied (port changes are not atomic);
//! - a bundle without the atomic flag applies its flow-mods and port-mods in order (with the
//!   port-status messages), unless a port-mod names an unknown port or the wrong address,
//!   which fails the whole bundle with that port-mod's error;
//! - a discarded bundle with a port-mod is just forgotten.
//!
//! Every reply is printed with `ovs-ofctl ofp-print` and compared, then the port's
//! configuration (`ovs-ofctl show`) and the flows.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_flow_mod;
use fvs_openflow::wire::bundle::{BundleAdd, BundleCtrl, BundleCtrlType, BundleFlags, BundleMsg};
use fvs_openflow::wire::port::{OFPPC_NO_FWD, PortMod, PortMsg};
use fvs_openflow::wire::{self, Message};
use fvs_openflow::{EthAddr, FlowModCommand, PortNo};
use fvs_test_support::{PrivateFvs, PrivateOvs, Switch, ofp_print};

const P: Protocol = Protocol::Of14;

fn encode(msg: &Message, xid: u32) -> Vec<u8> {
    wire::encode(msg, P, xid).unwrap_or_else(|e| panic!("encode {msg:?}: {e}"))
}

/// Bundles 1 to 9 are atomic, the others not.
fn flags(id: u32) -> BundleFlags {
    BundleFlags {
        atomic: id < 10,
        ordered: false,
    }
}

fn ctrl(id: u32, t: BundleCtrlType, xid: u32) -> Vec<u8> {
    let c = BundleCtrl {
        bundle_id: id,
        r#type: t,
        flags: flags(id),
    };
    encode(&Message::Bundle(BundleMsg::Control(c)), xid)
}

fn add(id: u32, inner: &Message, xid: u32) -> Vec<u8> {
    let a = BundleAdd {
        bundle_id: id,
        flags: flags(id),
        message: encode(inner, xid),
    };
    encode(&Message::Bundle(BundleMsg::Add(a)), xid)
}

fn flow(text: &str) -> Message {
    let (fm, _) =
        parse_flow_mod(text, FlowModCommand::Add).unwrap_or_else(|e| panic!("{text}: {e}"));
    Message::FlowMod(Box::new(fm))
}

fn no_fwd(port: u32, mac: [u8; 6]) -> Message {
    Message::Port(PortMsg::Mod(PortMod {
        port_no: PortNo(port),
        hw_addr: EthAddr(mac),
        config: OFPPC_NO_FWD,
        mask: OFPPC_NO_FWD,
        advertise: 0,
    }))
}

/// The MAC address `ovs-ofctl show` gives port 1.
fn p1_mac(sw: &dyn Switch) -> [u8; 6] {
    let show = sw.ofctl_ok(&["show", "br0"]);
    let addr = show
        .lines()
        .find(|l| l.trim_start().starts_with("1(p1): addr:"))
        .and_then(|l| l.split("addr:").nth(1))
        .unwrap_or_else(|| panic!("no port 1 in\n{show}"));
    let mut mac = [0u8; 6];
    for (i, b) in addr.trim().split(':').enumerate().take(6) {
        mac[i] = u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("{addr}: {e}"));
    }
    mac
}

/// Sends `msgs` on a fresh OpenFlow 1.4 connection to `mgmt`, then an echo request; returns
/// every reply before the echo's, printed by `ovs-ofctl ofp-print`.
fn session(mgmt: &Path, msgs: &[Vec<u8>]) -> Vec<String> {
    let mut s = UnixStream::connect(mgmt).unwrap_or_else(|e| panic!("{}: {e}", mgmt.display()));
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let hello = encode(&Message::Hello(wire::Hello { bitmap: None }), 1);
    let echo = encode(&Message::EchoRequest(b"done".to_vec()), 999);
    for m in std::iter::once(&hello).chain(msgs).chain([&echo]) {
        s.write_all(m).unwrap_or_else(|e| panic!("write: {e}"));
    }
    let mut rx = Vec::new();
    let mut out = Vec::new();
    loop {
        if let Some(len) = wire::message_len(&rx)
            && rx.len() >= len
        {
            let m: Vec<u8> = rx.drain(..len).collect();
            match wire::decode(&m) {
                Ok((_, Message::Hello(_))) => continue,
                Ok((h, Message::EchoReply(_))) if h.xid == 999 => return out,
                _ => out.push(ofp_print(&m)),
            }
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0, "the switch closed the connection");
        rx.extend_from_slice(&buf[..n]);
    }
}

struct Seen {
    replies: Vec<String>,
    p1_config: String,
    flows: Vec<String>,
}

fn scenario(sw: &dyn Switch) -> Seen {
    sw.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "set",
        "bridge",
        "br0",
        "fail_mode=secure",
        "protocols=OpenFlow10,OpenFlow14",
        "--",
        "add-port",
        "br0",
        "p1",
        "--",
        "set",
        "interface",
        "p1",
        "ofport_request=1",
    ]);
    let mac = p1_mac(sw);
    use BundleCtrlType::{CommitRequest, DiscardRequest, OpenRequest};
    let msgs = vec![
        // Atomic, a flow-mod and a port-mod: the commit fails, nothing is applied.
        ctrl(1, OpenRequest, 10),
        add(1, &flow("priority=77,actions=drop"), 11),
        add(1, &no_fwd(1, mac), 12),
        ctrl(1, CommitRequest, 13),
        // Flow-mods alone commit.
        ctrl(2, OpenRequest, 20),
        add(2, &flow("priority=78,actions=drop"), 21),
        ctrl(2, CommitRequest, 22),
        // A port-mod in a discarded bundle is forgotten.
        add(3, &no_fwd(1, mac), 30),
        ctrl(3, DiscardRequest, 31),
        // Not atomic, a port-mod with the wrong address: nothing is applied.
        ctrl(10, OpenRequest, 40),
        add(10, &flow("priority=79,actions=drop"), 41),
        add(10, &no_fwd(1, [2, 0, 0, 0, 0, 1]), 42),
        ctrl(10, CommitRequest, 43),
        // Not atomic, an unknown port.
        add(11, &no_fwd(9, mac), 50),
        ctrl(11, CommitRequest, 51),
        // Not atomic and right: applied, flows and port alike.
        ctrl(12, OpenRequest, 60),
        add(12, &flow("priority=80,actions=drop"), 61),
        add(12, &no_fwd(1, mac), 62),
        add(12, &flow("priority=81,actions=drop"), 63),
        ctrl(12, CommitRequest, 64),
    ];
    let mgmt = sw.dir().join("br0.mgmt");
    // Dummy ports' addresses differ between the switches.
    let mac_text = mac.map(|b| format!("{b:02x}")).join(":");
    let replies = session(&mgmt, &msgs)
        .into_iter()
        .map(|r| r.replace(&mac_text, "MAC"))
        .collect();
    let show = sw.ofctl_ok(&["show", "br0"]);
    let p1_config = show
        .lines()
        .skip_while(|l| !l.contains("(p1):"))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut flows: Vec<String> = sw
        .ofctl_ok(&["--no-stats", "dump-flows", "br0"])
        .lines()
        .filter(|l| l.contains("actions="))
        .map(|l| l.trim().to_owned())
        .collect();
    flows.sort();
    Seen {
        replies,
        p1_config,
        flows,
    }
}

#[test]
fn port_mods_in_bundles_fail_the_commit_as_in_open_vswitch() {
    let ovs = PrivateOvs::start();
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("bpm")
        .start();
    let theirs = scenario(&ovs);
    let ours = scenario(&fvs);
    assert_eq!(ours.replies, theirs.replies, "replies");
    assert_eq!(ours.p1_config, theirs.p1_config, "p1's configuration");
    assert_eq!(ours.flows, theirs.flows, "flows");
    // What the comparison is about: three commits failed (each twice over), the others
    // worked, and the last bundle's port-mod and flows are in.
    let failed = ours
        .replies
        .iter()
        .filter(|r| r.contains("OFPBFC_MSG_FAILED"))
        .count();
    assert_eq!(failed, 4, "{:#?}", ours.replies);
    assert!(
        ours.replies
            .iter()
            .any(|r| r.contains("OFPPMFC_BAD_HW_ADDR"))
            && ours.replies.iter().any(|r| r.contains("OFPPMFC_BAD_PORT")),
        "{:#?}",
        ours.replies
    );
    assert_eq!(ours.p1_config, "config:     NO_FWD");
    assert_eq!(
        ours.flows,
        [
            "priority=78 actions=drop",
            "priority=80 actions=drop",
            "priority=81 actions=drop"
        ]
    );
}
