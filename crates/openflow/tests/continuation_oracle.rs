//! Continuations (`controller(pause)`) as Open vSwitch reads them: an `NXT_PACKET_IN2` with a
//! continuation property and an `NXT_RESUME` from ferrovs's encoder, printed by the installed
//! `ovs-ofctl ofp-print`, show the bridge, stack, frozen actions (one `unroll_xlate` per
//! table and cookie), action set and datapath port that the model holds; and both decode
//! back to the same model.

use fvs_flow::{Field, Match, Protocols};
use fvs_openflow::Cookie;
use fvs_openflow::action::PacketInReason;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_actions;
use fvs_openflow::wire::continuation::{Continuation, Segment};
use fvs_openflow::wire::{self, AsyncMsg, Message, PacketIn, PacketInFormat, Version};
use fvs_test_support::ofp_print;

fn actions(text: &str) -> Vec<fvs_openflow::Action> {
    let mut usable = Protocols::ANY;
    parse_actions(text, &mut usable).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

fn text(list: &[fvs_openflow::Action]) -> String {
    let mut out = String::new();
    fvs_openflow::text::format_actions(list, &mut out);
    out
}

fn continuation() -> Continuation {
    Continuation {
        bridge: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        stack: vec![vec![0x05], vec![0, 0, 0, 0, 0, 1]],
        mirrors: 0,
        conntracked: false,
        segments: vec![
            Segment {
                table: 0,
                cookie: Cookie(0),
                actions: actions("resubmit(,4),resubmit(,2)"),
            },
            Segment {
                table: 1,
                cookie: Cookie(0x22),
                actions: actions("CONTROLLER:65535,output:3"),
            },
            Segment {
                table: 0,
                cookie: Cookie(0x11),
                actions: actions("output:2"),
            },
        ],
        action_set: actions("output:1"),
        odp_port: Some(1),
    }
}

fn packet_in(c: &Continuation, v: Version) -> PacketIn {
    let mut metadata = Match::CATCHALL;
    metadata.set(Field::InPort, 1);
    metadata.set(Field::Reg0, 5);
    let data = vec![
        0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 0x14, 0, 0, 0, 0, 0x40, 0x11,
        0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 2,
    ];
    PacketIn {
        format: PacketInFormat::Nxt2,
        reason: PacketInReason::Action,
        table_id: 0,
        cookie: Cookie(0x11),
        metadata,
        total_len: u32::try_from(data.len()).unwrap_or(0),
        buffer_id: None,
        data,
        userdata: Some(vec![1, 2]),
        continuation: Some(c.encode(v).unwrap_or_else(|e| panic!("{e}"))),
    }
}

/// The continuation lines ovs-ofctl prints for `c`, built from the model.
fn expected_lines(c: &Continuation) -> Vec<String> {
    let segs: Vec<String> = c
        .segments
        .iter()
        .map(|s| {
            format!(
                "unroll_xlate(table={}, cookie={}),{}",
                s.table,
                s.cookie.0,
                text(&s.actions)
            )
        })
        .collect();
    vec![
        " continuation.bridge=01234567-89ab-cdef-0011-223344556677".to_owned(),
        " continuation.stack=(top) 0x1 0x5 (bottom)".to_owned(),
        format!(" continuation.actions={}", segs.join(",")),
        format!(" continuation.action_set={}", text(&c.action_set)),
        " continuation.odp_port=1".to_owned(),
    ]
}

#[test]
fn packet_in2_and_resume_with_a_continuation_print_as_open_vswitch_reads_them() {
    let c = continuation();
    for (protocol, v) in [
        (Protocol::Of10NxmTid, Version::Of10),
        (Protocol::Of13, Version::Of13),
        (Protocol::Of15, Version::Of15),
    ] {
        let pin = packet_in(&c, v);
        for (msg, name) in [
            (AsyncMsg::PacketIn(Box::new(pin.clone())), "NXT_PACKET_IN2"),
            (AsyncMsg::Resume(Box::new(pin.clone())), "NXT_RESUME"),
        ] {
            let msg = Message::Async(msg);
            let bytes = wire::encode(&msg, protocol, 7).unwrap_or_else(|e| panic!("{e}"));
            let printed = ofp_print(&bytes);
            assert!(
                printed.contains(name) && printed.contains("reg0=0x5,in_port=1 (via action)"),
                "{v:?} {name}: {printed}"
            );
            for line in expected_lines(&c) {
                assert!(
                    printed.lines().any(|l| l == line),
                    "{v:?} {name}: missing {line:?} in\n{printed}"
                );
            }
            let (_, back) = wire::decode(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(back, msg, "{v:?} {name} round trip");
            let Message::Async(AsyncMsg::PacketIn(p) | AsyncMsg::Resume(p)) = back else {
                panic!("{v:?}: decoded as another message");
            };
            let raw = p.continuation.unwrap_or_default();
            assert_eq!(Continuation::decode(&raw, v), Ok(c.clone()), "{v:?}");
        }
    }
}
