//! Real `ovs-ofctl` manages fvs-vswitchd's bridges through `<rundir>/<bridge>.mgmt`, and the
//! flows it leaves are the ones it leaves on a real ovs-vswitchd (Open vSwitch 3.1,
//! `--enable-dummy=override`) given the same commands. Plus a fuzzer-style test: malformed
//! and truncated messages get error replies and nobody's connection dies.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::{Fvs, ofctl};
use fvs_test_support::SEED_BR_TUN_VSCTL as BR_TUN;

use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_flow_mod;
use fvs_openflow::wire::{self, Message, RoleMsg, SwitchConfig};
use fvs_openflow::{FlowModCommand, wire::Role};
use fvs_test_support::{PrivateOvs, require_tool};

/// The seed's br-tun flows, as the Neutron agent writes them.
const SEED_FLOWS: &str = "\
table=0,priority=1,in_port=1 actions=resubmit(,2)
table=0,priority=1,in_port=2 actions=resubmit(,3)
table=0,priority=0 actions=drop
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)
table=3,priority=1,tun_id=0x1 actions=mod_vlan_vid:1,resubmit(,10)
table=3,priority=0 actions=drop
table=4,priority=0 actions=drop
table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1
table=20,priority=0 actions=resubmit(,22)
table=22,dl_vlan=1 actions=strip_vlan,set_tunnel:0x1,output:2,output:2
table=22,priority=0 actions=drop
";

/// `bridge/dump-flows` without durations, sorted, and without Open vSwitch's hidden table-254
/// rules.
fn normalise(dump: &str) -> Vec<String> {
    let mut v: Vec<String> = dump
        .lines()
        .filter(|l| !l.starts_with("table_id=254"))
        .map(|l| {
            l.split(", ")
                .filter(|part| !part.starts_with("duration="))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    v.sort();
    v
}

/// The same ovs-ofctl session against both daemons, comparing the flows after every step.
fn same_session(protocols: &[&str]) {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs-of");
    for cmd in BR_TUN {
        ovs.vsctl(cmd).unwrap_or_else(|e| panic!("{e}"));
        fvs.vsctl(cmd);
    }
    let flows = fvs.dir().join("br-tun.flows");
    std::fs::write(&flows, SEED_FLOWS).unwrap_or_else(|e| panic!("{e}"));
    let flows = flows.display().to_string();
    let theirs = format!("unix:{}", ovs.dir().join("br-tun.mgmt").display());
    let ours = format!("unix:{}", fvs.mgmt("br-tun").display());
    let steps: &[(&str, &[&str])] = &[
        ("add-flows", &[&flows]),
        (
            "add-flow",
            &["table=4,priority=1,tun_id=0x2,actions=mod_vlan_vid:2,resubmit(,10)"],
        ),
        (
            "mod-flows",
            &["table=22,dl_vlan=1,actions=strip_vlan,set_tunnel:0x1,output:2"],
        ),
        (
            "mod-flows",
            &["--strict", "table=0,priority=0,actions=resubmit(,4)"],
        ),
        ("del-flows", &["table=3,tun_id=0x1"]),
        (
            "del-flows",
            &[
                "--strict",
                "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
            ],
        ),
        (
            "add-flow",
            &["table=0,priority=1,in_port=1,actions=resubmit(,2)"],
        ),
        // Refused by both: an unknown action (by ovs-ofctl), an overlap and a missing
        // table (by the switch).
        ("add-flow", &["table=0,actions=frobnicate"]),
        (
            "add-flow",
            &["table=0,priority=1,check_overlap,actions=drop"],
        ),
        ("add-flow", &["table=254,actions=drop"]),
        ("del-flows", &["table=22"]),
    ];
    for (cmd, args) in steps {
        let (args, opts): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| !a.starts_with("--"));
        let mut o = protocols.to_vec();
        o.extend(opts);
        let t = ofctl(&o, cmd, &theirs, &args);
        let u = ofctl(&o, cmd, &ours, &args);
        assert_eq!(
            (u.0, u.2.replace(&ours, "TARGET")),
            (t.0, t.2.replace(&theirs, "TARGET")),
            "ovs-ofctl {o:?} {cmd} {args:?}"
        );
        let theirs_flows = ovs
            .appctl(&["bridge/dump-flows", "br-tun"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            normalise(&fvs.dump_flows("br-tun")),
            normalise(&theirs_flows),
            "after ovs-ofctl {o:?} {cmd} {args:?}"
        );
    }
    // The session changed something: the last steps left flows behind.
    assert!(normalise(&fvs.dump_flows("br-tun")).len() > 5);
}

#[test]
fn ovs_ofctl_default_protocols_manage_br_tun_as_on_ovs_vswitchd() {
    same_session(&[]);
}

#[test]
fn ovs_ofctl_openflow13_manages_br_tun_as_on_ovs_vswitchd() {
    same_session(&["-O", "OpenFlow13"]);
}

/// A tiny deterministic generator, so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0 >> 33
    }
}

/// An OpenFlow 1.3 client on a raw socket.
struct Raw {
    s: UnixStream,
    rx: Vec<u8>,
}

impl Raw {
    fn connect(path: &Path) -> Self {
        let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut r = Self { s, rx: Vec::new() };
        r.send(
            &wire::encode(
                &Message::Hello(wire::Hello { bitmap: None }),
                Protocol::Of13,
                1,
            )
            .unwrap_or_default(),
        );
        let (_, hello) = r.recv();
        assert!(matches!(hello, Message::Hello(_)), "{hello:?}");
        r
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    fn recv(&mut self) -> (wire::Header, Message) {
        loop {
            if let Some(len) = wire::message_len(&self.rx)
                && self.rx.len() >= len
            {
                let msg: Vec<u8> = self.rx.drain(..len).collect();
                return wire::decode(&msg).unwrap_or_else(|e| panic!("switch sent {msg:?}: {e}"));
            }
            let mut buf = [0u8; 4096];
            let n = self
                .s
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("read: {e}"));
            assert!(n > 0, "the switch closed the connection");
            self.rx.extend_from_slice(&buf[..n]);
        }
    }

    /// Sends `msg` then an echo; returns the errors that came before the echo's reply.
    fn errors_for(&mut self, msg: &[u8], xid: u32) -> Vec<wire::ErrorMsg> {
        self.send(msg);
        let echo = wire::encode(
            &Message::EchoRequest(xid.to_be_bytes().to_vec()),
            Protocol::Of13,
            xid,
        )
        .unwrap_or_default();
        self.send(&echo);
        let mut errors = Vec::new();
        loop {
            match self.recv() {
                (h, Message::EchoReply(d)) if h.xid == xid => {
                    assert_eq!(d, xid.to_be_bytes().to_vec());
                    return errors;
                }
                (_, Message::Error(e)) => errors.push(e),
                _ => {}
            }
        }
    }
}

#[test]
fn malformed_and_truncated_messages_get_errors_and_connections_live_on() {
    let fvs = Fvs::start("fvs-of");
    for cmd in BR_TUN {
        fvs.vsctl(cmd);
    }
    let mgmt = fvs.mgmt("br-tun");
    let mut raw = Raw::connect(&mgmt);
    let mut valid: Vec<Vec<u8>> = SEED_FLOWS
        .lines()
        .filter_map(|l| parse_flow_mod(l, FlowModCommand::Add).ok())
        .filter_map(|(fm, _)| wire::encode(&Message::FlowMod(Box::new(fm)), Protocol::Of13, 7).ok())
        .collect();
    assert!(valid.len() > 8, "the seed's flows encode in OpenFlow 1.3");
    let role = RoleMsg {
        role: Role::Equal,
        generation_id: Some(3),
    };
    valid.push(wire::encode(&Message::RoleRequest(role), Protocol::Of13, 7).unwrap_or_default());
    let cfg = SwitchConfig {
        flags: 0,
        miss_send_len: 128,
    };
    valid.push(wire::encode(&Message::SetConfig(cfg), Protocol::Of13, 7).unwrap_or_default());
    let mut xid = 100u32;
    let mut errors = 0;
    // Truncations: the header says the shorter length, so framing holds.
    for msg in &valid {
        for cut in (8..msg.len()).step_by(3) {
            let mut m = msg[..cut].to_vec();
            m[2..4].copy_from_slice(&u16::try_from(cut).unwrap_or(8).to_be_bytes());
            xid += 1;
            let got = raw.errors_for(&m, xid);
            if wire::decode(&m).is_err() {
                assert_eq!(got.len(), 1, "no error reply for {m:?}");
                assert_eq!(got[0].data, m, "the error quotes the message");
                errors += 1;
            }
        }
    }
    // Random corruption of bodies, and unknown types and versions.
    let mut rng = Lcg(0x5eed);
    for round in 0..300 {
        let Some(msg) = valid.get(round % valid.len()) else {
            continue;
        };
        let mut m = msg.clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = 8 + usize::try_from(rng.next()).unwrap_or(0) % (m.len() - 8).max(1);
            if let Some(b) = m.get_mut(at) {
                *b = u8::try_from(rng.next() & 0xff).unwrap_or(0);
            }
        }
        if round % 50 == 0 {
            m[1] = 250; // unknown message type
        }
        xid += 1;
        let got = raw.errors_for(&m, xid);
        if wire::decode(&m).is_err() {
            assert_eq!(got.len(), 1, "no error reply for {m:?}");
            errors += 1;
        }
    }
    assert!(errors > 100, "only {errors} messages were refused");
    // Another connection is unaffected: real ovs-ofctl still manages the bridge.
    let target = format!("unix:{}", mgmt.display());
    let (ok, _, err) = ofctl(
        &[],
        "add-flow",
        &target,
        &["table=7,priority=9,actions=drop"],
    );
    assert!(ok, "{err}");
    assert!(fvs.dump_flows("br-tun").contains("table_id=7, "));
    // And the fuzzed connection still answers.
    assert!(raw.errors_for(&[], 1).is_empty());
}

#[test]
fn ovs_ofctl_openflow10_manages_br_tun_as_on_ovs_vswitchd() {
    same_session(&["-O", "OpenFlow10"]);
}

#[test]
fn ovs_ofctl_openflow14_and_15_manage_br_tun_as_on_ovs_vswitchd() {
    same_session(&["-O", "OpenFlow14"]);
    same_session(&["-O", "OpenFlow15"]);
}

/// The management socket follows its bridge, and the bridge's `protocols` column decides
/// which ovs-ofctl sessions succeed, as on ovs-vswitchd.
#[test]
fn mgmt_sockets_follow_bridges_and_their_protocols() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs-of");
    let theirs = format!("unix:{}", ovs.dir().join("br-x.mgmt").display());
    let ours = format!("unix:{}", fvs.mgmt("br-x").display());
    let steps: &[&[&str]] = &[
        &["add-br", "br-x"],
        &["set", "bridge", "br-x", "protocols=OpenFlow13"],
        &["set", "bridge", "br-x", "protocols=OpenFlow10,OpenFlow14"],
        &["clear", "bridge", "br-x", "protocols"],
    ];
    for step in steps {
        ovs.vsctl(step).unwrap_or_else(|e| panic!("{e}"));
        fvs.vsctl(step);
        for o in [&[][..], &["-O", "OpenFlow13"], &["-O", "OpenFlow14"]] {
            let t = ofctl(o, "add-flow", &theirs, &["priority=3,actions=drop"]);
            let u = ofctl(o, "add-flow", &ours, &["priority=3,actions=drop"]);
            assert_eq!(
                u.0, t.0,
                "after {step:?}, ovs-ofctl {o:?}: ours {u:?}, theirs {t:?}"
            );
        }
    }
    assert!(fvs.mgmt("br-x").exists());
    fvs.vsctl(&["del-br", "br-x"]);
    assert!(!fvs.mgmt("br-x").exists(), "the socket outlived its bridge");
    let (ok, _, _) = ofctl(&[], "add-flow", &ours, &["actions=drop"]);
    assert!(!ok);
    fvs.vsctl(&["add-br", "br-x"]);
    let (ok, _, err) = ofctl(&[], "add-flow", &ours, &["actions=drop"]);
    assert!(ok, "a bridge made again listens again: {err}");
}

/// `ovs-ofctl show` with the patch port's address masked: both switches give a patch port a
/// random one. The dummy port's address, `LOCAL`'s (from `hwaddr`) and the datapath ID must
/// match.
fn mask_patch_addr(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("addr:") {
            Some(at) if l.contains("(patch-") => format!("{}addr:X", &l[..at]),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn ovs_ofctl_show_reads_as_on_ovs_vswitchd() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs-of");
    let hwaddr: &[&str] = &[
        "set",
        "bridge",
        "br-tun",
        "other_config:hwaddr=02:00:00:00:0a:01",
    ];
    for cmd in BR_TUN.iter().chain([&hwaddr]) {
        ovs.vsctl(cmd).unwrap_or_else(|e| panic!("{e}"));
        fvs.vsctl(cmd);
    }
    let theirs = format!("unix:{}", ovs.dir().join("br-tun.mgmt").display());
    let ours = format!("unix:{}", fvs.mgmt("br-tun").display());
    let show = |target: &str| {
        let out = require_tool("ovs-ofctl")
            .command()
            .args(["show", target])
            .output()
            .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        mask_patch_addr(&String::from_utf8_lossy(&out.stdout))
    };
    let want = show(&theirs);
    assert!(want.contains("dpid:0000020000000a01"), "{want}");
    assert!(
        want.contains("(gre-0a000115): addr:aa:55:aa:55:00:0f"),
        "{want}"
    );
    assert_eq!(show(&ours), want);
}
