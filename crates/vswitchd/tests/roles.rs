//! Roles and asynchronous-message settings, byte for byte against Open vSwitch: two raw
//! OpenFlow connections to `br0.mgmt` (ferrovs's codec on the client side) send the same
//! requests to fvs-vswitchd and to ovs-vswitchd, and every message either switch sends back
//! must decode to the same thing: role replies with the generation id, `OFPRRFC_STALE` for
//! an older generation, `OFPBRC_IS_SLAVE` for a slave's flow-mod and packet-out, a new
//! master demoting the old one, the default async configuration of OpenFlow 1.3 and 1.4,
//! and a changed one read back.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Fvs;
use fvs_flow::Match;
use fvs_openflow::PortNo;
use fvs_openflow::wire::{
    self, AsyncConfig, AsyncMsg, Hello, Message, PacketOut, Role, RoleMsg, Version, VersionBitmap,
};
use fvs_test_support::{AddBridge, PrivateOvs};

/// A raw OpenFlow connection speaking one version.
struct Raw {
    s: UnixStream,
    v: Version,
    xid: u32,
}

impl Raw {
    fn open(path: &Path, v: Version) -> Self {
        let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut r = Self { s, v, xid: 100 };
        r.send(&Message::Hello(Hello {
            bitmap: Some(VersionBitmap::of(&[v])),
        }));
        match r.recv() {
            Message::Hello(_) => {}
            other => panic!("expected a hello, got {other:?}"),
        }
        r
    }

    fn send(&mut self, m: &Message) {
        self.xid += 1;
        let b = wire::encode(m, self.v.default_protocol(), self.xid)
            .unwrap_or_else(|e| panic!("{m:?}: {e}"));
        self.s.write_all(&b).unwrap_or_else(|e| panic!("{e}"));
    }

    fn recv(&mut self) -> Message {
        let mut head = [0u8; 8];
        self.s
            .read_exact(&mut head)
            .unwrap_or_else(|e| panic!("no message: {e}"));
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let mut body = vec![0u8; len.saturating_sub(8)];
        self.s
            .read_exact(&mut body)
            .unwrap_or_else(|e| panic!("truncated message: {e}"));
        let mut all = head.to_vec();
        all.extend(body);
        wire::decode(&all)
            .unwrap_or_else(|e| panic!("undecodable {all:02x?}: {e}"))
            .1
    }

    /// Sends `m` and a barrier; returns everything before the barrier reply, with error
    /// data (the quoted request, whose xid differs) dropped.
    fn ask(&mut self, m: &Message) -> Vec<String> {
        self.send(m);
        self.send(&Message::BarrierRequest);
        let mut out = Vec::new();
        loop {
            match self.recv() {
                Message::BarrierReply => return out,
                Message::Error(e) => out.push(format!("error {:?}", e.code)),
                other => out.push(format!("{other:?}")),
            }
        }
    }
}

fn role(r: Role, g: u64) -> Message {
    Message::RoleRequest(RoleMsg {
        role: r,
        generation_id: Some(g),
    })
}

fn scenario(mgmt: &Path, v: Version) -> Vec<String> {
    let mut a = Raw::open(mgmt, v);
    let mut b = Raw::open(mgmt, v);
    let mut seen = Vec::new();
    let mut step = |what: &str, got: Vec<String>| seen.push(format!("{what}: {got:?}"));
    step(
        "a get-async",
        a.ask(&Message::Async(AsyncMsg::GetAsyncRequest)),
    );
    step("a master 5", a.ask(&role(Role::Master, 5)));
    step("b master 3 (stale)", b.ask(&role(Role::Master, 3)));
    step("b slave 6", b.ask(&role(Role::Slave, 6)));
    step(
        "b query",
        b.ask(&Message::RoleRequest(RoleMsg {
            role: Role::NoChange,
            generation_id: None,
        })),
    );
    let fm = fvs_pipeline::bridge::add_flow(0, Match::CATCHALL, 1, Vec::new());
    step("b flow-mod", b.ask(&Message::FlowMod(Box::new(fm.clone()))));
    let po = PacketOut {
        buffer_id: None,
        in_port: PortNo::CONTROLLER,
        metadata: Match::CATCHALL,
        actions: Vec::new(),
        data: vec![0; 60],
    };
    step(
        "b packet-out",
        b.ask(&Message::Async(AsyncMsg::PacketOut(Box::new(po)))),
    );
    step(
        "b get-async",
        b.ask(&Message::Async(AsyncMsg::GetAsyncRequest)),
    );
    step("b master 7", b.ask(&role(Role::Master, 7)));
    // a was demoted: it gets a role status (OpenFlow 1.4+) and may not change flows.
    step("a flow-mod", a.ask(&Message::FlowMod(Box::new(fm))));
    step("a equal", a.ask(&role(Role::Equal, 0)));
    let cfg = AsyncConfig {
        packet_in: [0b1, 0b10],
        port_status: [0b100, 0],
        flow_removed: [0b1000, 0b1],
    };
    step(
        "a set-async",
        a.ask(&Message::Async(AsyncMsg::SetAsync(cfg))),
    );
    step(
        "a get-async",
        a.ask(&Message::Async(AsyncMsg::GetAsyncRequest)),
    );
    seen
}

/// `br0` in secure fail mode, on both switches.
fn setup() -> AddBridge {
    AddBridge::new("br0").set(&["fail_mode=secure"])
}

fn run_both(v: Version) -> (Vec<String>, Vec<String>) {
    let fvs = Fvs::start("roles");
    fvs.vsctl(&setup().args());
    let mgmt: PathBuf = fvs.mgmt("br0");
    common::wait_for(&mgmt);
    let ours = scenario(&mgmt, v);
    drop(fvs);
    let ovs = PrivateOvs::start();
    ovs.vsctl(&setup().args())
        .unwrap_or_else(|e| panic!("ovs-vsctl: {e}"));
    let theirs = scenario(&ovs.dir().join("br0.mgmt"), v);
    drop(ovs);
    (ours, theirs)
}

#[test]
fn roles_and_async_settings_in_openflow13_answer_as_open_vswitch() {
    let (ours, theirs) = run_both(Version::Of13);
    assert!(theirs[2].contains("error"), "{theirs:#?}");
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t);
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn roles_and_async_settings_in_openflow14_answer_as_open_vswitch() {
    let (ours, theirs) = run_both(Version::Of14);
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t);
    }
    assert_eq!(ours.len(), theirs.len());
}
