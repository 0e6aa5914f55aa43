//! Bundle messages against Open vSwitch: `ovs-ofctl ofp-print` must read ferrovs's bundle
//! control and add messages, in OpenFlow 1.4/1.5 and as the ONF extension in 1.3, with the
//! inner flow-mod; every message must decode back to itself, and error codes must be Open
//! vSwitch's. Needs `ovs-ofctl` on PATH (CI installs `openvswitch-common`).

use fvs_openflow::FlowModCommand;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_flow_mod;
use fvs_openflow::wire::bundle::{BundleAdd, BundleCtrl, BundleCtrlType, BundleFlags, BundleMsg};
use fvs_openflow::wire::{self, Message, OfpError, Version};
use fvs_test_support::{ofp_print, require_tool};
use proptest::prelude::*;

fn check(msg: &Message, protocol: Protocol, expect: &str) {
    let bytes = wire::encode(msg, protocol, 0x42).expect("encodes");
    let printed = ofp_print(&bytes);
    assert!(
        printed.contains(expect) && !printed.contains("***"),
        "{msg:?} in {protocol:?}: ovs-ofctl printed\n{printed}\nexpected\n{expect}"
    );
    let (h, back) = wire::decode(&bytes).expect("decodes");
    assert_eq!(h.xid, 0x42);
    assert_eq!(&back, msg, "round trip in {protocol:?}");
}

#[test]
fn bundle_control_messages_print_in_1_3_1_4_and_1_5() {
    let types = [
        (BundleCtrlType::OpenRequest, "OPEN_REQUEST"),
        (BundleCtrlType::OpenReply, "OPEN_REPLY"),
        (BundleCtrlType::CloseRequest, "CLOSE_REQUEST"),
        (BundleCtrlType::CloseReply, "CLOSE_REPLY"),
        (BundleCtrlType::CommitRequest, "COMMIT_REQUEST"),
        (BundleCtrlType::CommitReply, "COMMIT_REPLY"),
        (BundleCtrlType::DiscardRequest, "DISCARD_REQUEST"),
        (BundleCtrlType::DiscardReply, "DISCARD_REPLY"),
    ];
    for (p, name) in [
        (Protocol::Of13, "ONFT_BUNDLE_CONTROL (OF1.3)"),
        (Protocol::Of14, "OFPT_BUNDLE_CONTROL (OF1.4)"),
        (Protocol::Of15, "OFPT_BUNDLE_CONTROL (OF1.5)"),
    ] {
        for (t, tname) in types {
            let m = Message::Bundle(BundleMsg::Control(BundleCtrl {
                bundle_id: 7,
                r#type: t,
                flags: BundleFlags::ATOMIC_ORDERED,
            }));
            check(
                &m,
                p,
                &format!("{name} (xid=0x42):\n bundle_id=0x7 type={tname} flags=atomic ordered"),
            );
        }
    }
    let plain = Message::Bundle(BundleMsg::Control(BundleCtrl {
        bundle_id: 0,
        r#type: BundleCtrlType::CommitRequest,
        flags: BundleFlags::default(),
    }));
    check(
        &plain,
        Protocol::Of14,
        " bundle_id=0 type=COMMIT_REQUEST flags=0\n",
    );
    for p in [Protocol::Of10NxmTid, Protocol::Of12] {
        assert!(wire::encode(&plain, p, 1).is_err(), "{p:?}");
    }
}

#[test]
fn bundle_add_messages_carry_the_inner_flow_mod() {
    let (fm, _) = parse_flow_mod(
        "table=3,priority=5,ip,nw_src=10.0.0.0/8,actions=resubmit(,4)",
        FlowModCommand::Add,
    )
    .expect("parses");
    for (p, name) in [
        (Protocol::Of13, "ONFT_BUNDLE_ADD_MESSAGE (OF1.3)"),
        (Protocol::Of14, "OFPT_BUNDLE_ADD_MESSAGE (OF1.4)"),
        (Protocol::Of15, "OFPT_BUNDLE_ADD_MESSAGE (OF1.5)"),
    ] {
        let inner = wire::encode(&Message::FlowMod(Box::new(fm.clone())), p, 0x42)
            .expect("flow-mod encodes");
        let m = Message::Bundle(BundleMsg::Add(BundleAdd {
            bundle_id: 3,
            flags: BundleFlags::ATOMIC_ORDERED,
            message: inner,
        }));
        let tag = &name[name.len() - 7..];
        check(
            &m,
            p,
            &format!(
                "{name} (xid=0x42):\n bundle_id=0x3 flags=atomic ordered\nOFPT_FLOW_MOD {tag} (xid=0x42): ADD table:3 priority=5,ip,nw_src=10.0.0.0/8 actions=resubmit(,4)"
            ),
        );
    }
}

#[test]
fn bundle_errors_have_open_vswitch_codes() {
    // What `ovs-ofctl print-error` says of every bundle failure, in every version.
    let bundle_errors: Vec<OfpError> = OfpError::ALL
        .into_iter()
        .filter(|e| e.name().starts_with("OFPBFC_"))
        .collect();
    assert_eq!(bundle_errors.len(), 16);
    for e in bundle_errors {
        let out = require_tool("ovs-ofctl")
            .command()
            .args(["print-error", e.name()])
            .output()
            .expect("ovs-ofctl print-error runs");
        let text = String::from_utf8_lossy(&out.stdout);
        for v in Version::ALL {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{v}:")))
                .map(str::to_owned);
            let ours = e.code(v).map(|c| {
                let vendor = if c.vendor == 0 {
                    "0".to_string()
                } else {
                    format!("{:#x}", c.vendor)
                };
                format!("{v}: vendor {vendor}, type {}, code {}", c.r#type, c.code)
            });
            assert_eq!(ours, line, "{} in {v}", e.name());
        }
    }
}

proptest! {
    /// Arbitrary bodies after a valid bundle header never panic; what decodes round-trips.
    #[test]
    fn random_bundle_bodies_never_panic(
        onf in any::<bool>(),
        add in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut b = if onf {
            let mut b = vec![4u8, 4, 0, 0, 0, 0, 0, 1, 0x4f, 0x4e, 0x46, 0];
            b.extend_from_slice(&(if add { 2301u32 } else { 2300 }).to_be_bytes());
            b
        } else {
            vec![5u8, if add { 34 } else { 33 }, 0, 0, 0, 0, 0, 1]
        };
        b.extend_from_slice(&body);
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
        b[2..4].copy_from_slice(&len);
        if let Ok((_, m)) = wire::decode(&b) {
            let p = if onf { Protocol::Of13 } else { Protocol::Of14 };
            let again = wire::encode(&m, p, 1).expect("a decoded bundle message encodes");
            prop_assert_eq!(wire::decode(&again).expect("decodes").1, m);
        }
    }
}
