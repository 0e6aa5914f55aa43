//! Roles and asynchronous-message settings, byte for byte against Open vSwitch: two raw
//! OpenFlow connections to `br0.mgmt` (ferrovs's codec on the client side) send the same
//! requests to fvs-vswitchd and to ovs-vswitchd, and every message either switch sends back
//! must decode to the same thing: role replies with the generation id, `OFPRRFC_STALE` for
//! an older generation, `OFPBRC_IS_SLAVE` for a slave's flow-mod and packet-out, a new
//! master demoting the old one, the default async configuration of OpenFlow 1.3 and 1.4,
//! and a changed one read back.

mod common;

use std::path::{Path, PathBuf};

use common::Fvs;
use common::openflow::Raw;
use fvs_flow::Match;
use fvs_openflow::PortNo;
use fvs_openflow::wire::{AsyncConfig, AsyncMsg, Message, PacketOut, Role, RoleMsg, Version};
use fvs_test_support::{AddBridge, PrivateOvs};

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
