//! Flow monitor messages against Open vSwitch: every message ferrovs encodes must print,
//! through `ovs-ofctl ofp-print`, as Open vSwitch prints the same monitor request, update
//! or control message, and must decode back to itself. Needs `ovs-ofctl` on PATH (CI
//! installs `openvswitch-common`).

use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_flow_mod;
use fvs_openflow::wire::flow_monitor::{
    self, FlowMonitorMsg, FlowMonitorRequest, FlowUpdate, FlowUpdateEvent, FlowUpdateFull,
    MonitorCommand, MonitorFlags, MonitorId,
};
use fvs_openflow::wire::{self, FlowRemovedReason, Message};
use fvs_openflow::{FlowModCommand, PortNo, TableId};
use fvs_test_support::ofp_print;
use proptest::prelude::*;

const PROTOCOLS: [Protocol; 2] = [Protocol::Of10Nxm, Protocol::Of12];
/// Every version with a flow monitor encoding: Nicira's, ONF's (1.3) and 1.4+'s.
const ALL_FORMS: [Protocol; 6] = [
    Protocol::Of10Nxm,
    Protocol::Of11,
    Protocol::Of12,
    Protocol::Of13,
    Protocol::Of14,
    Protocol::Of15,
];

/// The name ovs-ofctl gives the request and reply in `p`.
fn stats_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Of13 => "ONFST_FLOW_MONITOR",
        Protocol::Of14 | Protocol::Of15 => "OFPST_FLOW_MONITOR",
        _ => "NXST_FLOW_MONITOR",
    }
}

/// Encodes `m`, checks that its decoding encodes to the same bytes (actions come back in
/// the version's own spelling, so the model may differ), and returns what ovs-ofctl prints.
fn printed(m: FlowMonitorMsg, p: Protocol) -> String {
    let msg = Message::FlowMonitor(m);
    let bytes = wire::encode(&msg, p, 0x42).expect("encodes");
    let (h, back) = wire::decode(&bytes).expect("decodes");
    assert_eq!(h.xid, 0x42);
    let again = wire::encode(&back, p, 0x42).expect("re-encodes");
    assert_eq!(again, bytes, "round trip in {p:?}");
    ofp_print(&bytes)
}

/// The body lines of an ofp-print output (the first line names the message and version).
fn body(printed: &str) -> Vec<String> {
    printed
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

fn update(event: FlowUpdateEvent, flow: &str, with_actions: bool) -> FlowUpdate {
    let (fm, _) = parse_flow_mod(flow, FlowModCommand::Add).expect("flow parses");
    FlowUpdate::Full(Box::new(FlowUpdateFull {
        event,
        table: fm.table.unwrap_or_default(),
        priority: fm.priority,
        idle_timeout: fm.idle_timeout,
        hard_timeout: fm.hard_timeout,
        cookie: fm.cookie,
        r#match: fm.r#match,
        actions: with_actions.then_some(fm.actions),
    }))
}

#[test]
fn monitor_request_prints_as_open_vswitch_prints_it() {
    let (fm, _) = parse_flow_mod(
        "tcp,nw_dst=10.0.0.0/8,tp_dst=80,actions=drop",
        FlowModCommand::Add,
    )
    .expect("match parses");
    let reqs = vec![
        FlowMonitorRequest::new(MonitorId(0), MonitorFlags::ALL),
        FlowMonitorRequest {
            id: MonitorId(7),
            flags: MonitorFlags {
                initial: false,
                own: false,
                ..MonitorFlags::ALL
            },
            out_port: PortNo(3),
            table: Some(TableId(2)),
            r#match: fm.r#match,
            ..FlowMonitorRequest::new(MonitorId(7), MonitorFlags::ALL)
        },
    ];
    for p in ALL_FORMS {
        let out = printed(FlowMonitorMsg::Request(reqs.clone()), p);
        assert!(
            out.contains(&format!("{} request", stats_name(p))),
            "{p:?}: {out}"
        );
        assert_eq!(
            body(&out),
            [
                "id=0 flags=initial,add,delete,modify,actions,own",
                "id=7 flags=add,delete,modify,actions out_port=3 table=2 tcp,nw_dst=10.0.0.0/8,tp_dst=80",
            ],
            "{p:?}: {out}"
        );
    }
}

#[test]
fn monitor_updates_print_as_open_vswitch_prints_them() {
    let updates = vec![
        update(
            FlowUpdateEvent::Added,
            "table=1,priority=10,cookie=0x5,idle_timeout=30,ip,nw_src=1.2.3.4,actions=output:2,mod_vlan_vid:9",
            true,
        ),
        update(
            FlowUpdateEvent::Deleted(FlowRemovedReason::Delete),
            "in_port=1,actions=output:4",
            true,
        ),
        update(
            FlowUpdateEvent::Deleted(FlowRemovedReason::IdleTimeout),
            "hard_timeout=9,dl_src=00:01:02:03:04:05,actions=normal",
            true,
        ),
        update(FlowUpdateEvent::Modified, "arp,actions=flood", false),
        FlowUpdate::Abbrev { xid: 0x1234 },
    ];
    let of10 = printed(
        FlowMonitorMsg::Reply {
            more: false,
            updates: updates.clone(),
        },
        Protocol::Of10Nxm,
    );
    assert!(of10.contains("NXST_FLOW_MONITOR reply"), "{of10}");
    assert_eq!(
        body(&of10),
        [
            // Open vSwitch 3.1 prints no priority in updates.
            "event=ADDED table=1 idle_timeout=30 cookie=0x5 ip,nw_src=1.2.3.4 actions=output:2,mod_vlan_vid:9",
            "event=DELETED reason=delete table=0 cookie=0 in_port=1 actions=output:4",
            "event=DELETED reason=idle table=0 hard_timeout=9 cookie=0 dl_src=00:01:02:03:04:05 actions=NORMAL",
            "event=MODIFIED table=0 cookie=0 arp",
            "event=ABBREV xid=0x1234",
        ],
        "{of10}"
    );
    // OpenFlow 1.2 carries the same updates; its actions are 1.2's own (push_vlan and
    // set_field for mod_vlan_vid), which ovs-ofctl prints the same way here.
    let of12 = printed(
        FlowMonitorMsg::Reply {
            more: true,
            updates,
        },
        Protocol::Of12,
    );
    assert!(of12.contains("NXST_FLOW_MONITOR reply"), "{of12}");
    assert_eq!(body(&of12)[1..], body(&of10)[1..], "{of12}");
    assert!(
        body(&of12)[0].starts_with(
            "event=ADDED table=1 idle_timeout=30 cookie=0x5 ip,nw_src=1.2.3.4 actions=output:2,"
        ),
        "{of12}"
    );
}

#[test]
fn cancel_paused_resumed_print_as_open_vswitch_prints_them() {
    for p in PROTOCOLS {
        let out = printed(FlowMonitorMsg::Cancel(MonitorId(9)), p);
        assert!(out.contains("NXT_FLOW_MONITOR_CANCEL"), "{p:?}: {out}");
        assert!(out.contains("id=9"), "{p:?}: {out}");
        let out = printed(FlowMonitorMsg::Paused, p);
        assert!(out.contains("NXT_FLOW_MONITOR_PAUSED"), "{p:?}: {out}");
        let out = printed(FlowMonitorMsg::Resumed, p);
        assert!(out.contains("NXT_FLOW_MONITOR_RESUMED"), "{p:?}: {out}");
    }
}

#[test]
fn openflow11_carries_the_nicira_form_as_open_vswitch_sends_it() {
    let out = printed(
        FlowMonitorMsg::Request(vec![FlowMonitorRequest::new(
            MonitorId(0),
            MonitorFlags::ALL,
        )]),
        Protocol::Of11,
    );
    assert!(out.contains("NXST_FLOW_MONITOR request (OF1.1)"), "{out}");
    assert_eq!(
        body(&out),
        ["id=0 flags=initial,add,delete,modify,actions,own"]
    );
    let reply = FlowMonitorMsg::Reply {
        more: false,
        updates: vec![update(FlowUpdateEvent::Added, "tcp,actions=output:1", true)],
    };
    let out = printed(reply, Protocol::Of11);
    assert_eq!(
        body(&out),
        ["event=ADDED table=0 cookie=0 tcp actions=output:1"],
        "{out}"
    );
}

#[test]
fn onf_and_openflow14_monitor_messages_print_as_open_vswitch_prints_them() {
    let updates = vec![
        update(
            FlowUpdateEvent::Initial,
            "table=1,priority=10,cookie=0x5,idle_timeout=30,ip,nw_src=1.2.3.4,actions=output:2",
            true,
        ),
        update(
            FlowUpdateEvent::Added,
            "hard_timeout=1,tcp,actions=output:1,goto_table:3",
            true,
        ),
        update(
            FlowUpdateEvent::Deleted(FlowRemovedReason::HardTimeout),
            "hard_timeout=1,tcp,actions=output:2",
            true,
        ),
        update(FlowUpdateEvent::Modified, "arp,actions=flood", false),
        FlowUpdate::Abbrev { xid: 0x1234 },
    ];
    let reply = FlowMonitorMsg::Reply {
        more: false,
        updates,
    };
    // ONF's form has no INITIAL event: the listing reads as ADDED, as before 1.4.
    let of13 = printed(reply.clone(), Protocol::Of13);
    assert!(of13.contains("ONFST_FLOW_MONITOR reply (OF1.3)"), "{of13}");
    let tail = [
        "event=ADDED table=0 hard_timeout=1 cookie=0 tcp actions=output:1,goto_table:3",
        "event=DELETED reason=hard table=0 hard_timeout=1 cookie=0 tcp actions=output:2",
        "event=MODIFIED table=0 cookie=0 arp",
        "event=ABBREV xid=0x1234",
    ];
    let mut want13 =
        vec!["event=ADDED table=1 idle_timeout=30 cookie=0x5 ip,nw_src=1.2.3.4 actions=output:2"];
    want13.extend(tail);
    assert_eq!(body(&of13), want13, "{of13}");
    for (p, tag) in [(Protocol::Of14, "OF1.4"), (Protocol::Of15, "OF1.5")] {
        let out = printed(reply.clone(), p);
        assert!(
            out.contains(&format!("OFPST_FLOW_MONITOR reply ({tag})")),
            "{out}"
        );
        let mut want = vec![
            "event=INITIAL table=1 idle_timeout=30 cookie=0x5 ip,nw_src=1.2.3.4 actions=output:2",
        ];
        want.extend(tail);
        assert_eq!(body(&out), want, "{out}");
    }
    // Cancel, paused and resumed: ONF experimenter messages in 1.3, monitor requests and
    // replies in 1.4+.
    let of13 = |m| printed(m, Protocol::Of13);
    assert!(
        of13(FlowMonitorMsg::Cancel(MonitorId(9)))
            .contains("ONFT_FLOW_MONITOR_CANCEL (OF1.3) (xid=0x42): id=9")
    );
    assert!(of13(FlowMonitorMsg::Paused).contains("ONFT_FLOW_MONITOR_PAUSED (OF1.3)"));
    assert!(of13(FlowMonitorMsg::Resumed).contains("ONFT_FLOW_MONITOR_RESUMED (OF1.3)"));
    for p in [Protocol::Of14, Protocol::Of15] {
        let out = printed(FlowMonitorMsg::Cancel(MonitorId(9)), p);
        assert_eq!(body(&out), ["id=9 command=delete"], "{out}");
        let out = printed(FlowMonitorMsg::Paused, p);
        assert_eq!(body(&out), ["event=PAUSED"], "{out}");
        let out = printed(FlowMonitorMsg::Resumed, p);
        assert_eq!(body(&out), ["event=RESUMED"], "{out}");
    }
    // 1.4's command modify, and a request asking for its own changes abbreviated.
    let modify = FlowMonitorRequest {
        command: MonitorCommand::Modify,
        flags: MonitorFlags {
            own: false,
            ..MonitorFlags::ALL
        },
        ..FlowMonitorRequest::new(MonitorId(4), MonitorFlags::ALL)
    };
    let out = printed(FlowMonitorMsg::Request(vec![modify]), Protocol::Of14);
    assert_eq!(
        body(&out),
        ["id=4 flags=initial,add,delete,modify,actions"],
        "{out}"
    );
}

#[test]
fn a_large_listing_is_split_over_replies_flagged_more() {
    let one = update(
        FlowUpdateEvent::Initial,
        "priority=5,tcp,tp_dst=22,actions=output:1",
        true,
    );
    let updates = vec![one; 2000];
    for p in ALL_FORMS {
        let parts = flow_monitor::encode_updates(&updates, p, 7).expect("encodes");
        assert!(parts.len() > 1, "{p:?}");
        let mut n = 0;
        for (i, part) in parts.iter().enumerate() {
            assert!(part.len() <= 65535);
            let (h, m) = wire::decode(part).expect("decodes");
            assert_eq!(h.xid, 7);
            let Message::FlowMonitor(FlowMonitorMsg::Reply { more, updates }) = m else {
                panic!("{p:?}: not a reply");
            };
            assert_eq!(more, i + 1 < parts.len(), "{p:?} part {i}");
            n += updates.len();
        }
        assert_eq!(n, 2000, "{p:?}");
        // The first part prints as a reply flagged "more".
        assert!(ofp_print(&parts[0]).contains("flags=[more]"), "{p:?}");
    }
}

#[test]
fn truncated_or_corrupted_monitor_messages_are_errors_not_panics() {
    let updates = vec![
        update(
            FlowUpdateEvent::Added,
            "priority=5,tcp,tp_dst=22,actions=output:1",
            true,
        ),
        FlowUpdate::Abbrev { xid: 9 },
    ];
    let (fm, _) = parse_flow_mod("ip,actions=drop", FlowModCommand::Add).expect("parses");
    let msgs = [
        FlowMonitorMsg::Reply {
            more: false,
            updates,
        },
        FlowMonitorMsg::Request(vec![FlowMonitorRequest {
            r#match: fm.r#match,
            ..FlowMonitorRequest::new(MonitorId(1), MonitorFlags::ALL)
        }]),
        FlowMonitorMsg::Cancel(MonitorId(3)),
    ];
    for m in msgs {
        for p in ALL_FORMS {
            let bytes = wire::encode(&Message::FlowMonitor(m.clone()), p, 1).expect("encodes");
            // Every shorter body (with the header's length kept true) must fail cleanly.
            for len in 8..bytes.len() {
                let mut cut = bytes[..len].to_vec();
                cut[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                if let Ok((_, back)) = wire::decode(&cut) {
                    // A cut between whole records is a shorter valid message.
                    assert!(matches!(back, Message::FlowMonitor(_)), "{p:?} at {len}");
                }
            }
            // Flipping any byte of the body must not panic either.
            for at in 8..bytes.len() {
                let mut bad = bytes.clone();
                bad[at] ^= 0xff;
                let _ = wire::decode(&bad);
            }
        }
    }
}

/// Flows whose matches and actions every monitor form carries unchanged.
const FLOWS: [&str; 4] = [
    "ip,nw_src=10.1.0.0/16,actions=output:3",
    "tcp,tp_dst=80,actions=drop",
    "dl_vlan=5,actions=strip_vlan,NORMAL",
    "arp,arp_tpa=1.2.3.4,actions=resubmit(,4)",
];

fn arb_full(v14: bool) -> impl Strategy<Value = FlowUpdate> {
    (
        0..FLOWS.len(),
        0u8..6,
        any::<u8>().prop_filter("a table", |t| *t != 255),
        any::<(u16, u16, u16, u64)>(),
        any::<bool>(),
    )
        .prop_map(
            move |(flow, ev, table, (priority, idle, hard, cookie), acts)| {
                let (fm, _) = parse_flow_mod(FLOWS[flow], FlowModCommand::Add).expect("parses");
                let event = match ev {
                    0 if v14 => FlowUpdateEvent::Initial,
                    0 | 1 => FlowUpdateEvent::Added,
                    2 => FlowUpdateEvent::Deleted(FlowRemovedReason::HardTimeout),
                    3 => FlowUpdateEvent::Deleted(FlowRemovedReason::Eviction),
                    4 => FlowUpdateEvent::Deleted(FlowRemovedReason::Delete),
                    _ => FlowUpdateEvent::Modified,
                };
                FlowUpdate::Full(Box::new(FlowUpdateFull {
                    event,
                    table: TableId(table),
                    priority,
                    idle_timeout: idle,
                    hard_timeout: hard,
                    cookie: fvs_openflow::Cookie(cookie),
                    r#match: fm.r#match,
                    // An empty action list reads back as none asked for.
                    actions: (acts && !fm.actions.is_empty()).then_some(fm.actions),
                }))
            },
        )
}

fn arb_update(v14: bool) -> impl Strategy<Value = FlowUpdate> {
    prop_oneof![
        3 => arb_full(v14),
        1 => any::<u32>().prop_map(|xid| FlowUpdate::Abbrev { xid }),
    ]
}

fn arb_request(v14: bool) -> impl Strategy<Value = FlowMonitorRequest> {
    (
        any::<u32>(),
        // At least one kind of change, as a monitor must ask for.
        (1u16..0x40).prop_map(|b| b | 0x02),
        prop_oneof![Just(PortNo::ANY), (1u32..0xff00).prop_map(PortNo)],
        prop::option::of(0u8..254),
        0..FLOWS.len(),
        any::<bool>(),
    )
        .prop_map(move |(id, bits, out_port, table, flow, modify)| {
            let (fm, _) = parse_flow_mod(FLOWS[flow], FlowModCommand::Add).expect("parses");
            FlowMonitorRequest {
                flags: MonitorFlags::from_bits(bits).expect("six known bits"),
                out_port,
                table: table.map(TableId),
                command: if v14 && modify {
                    MonitorCommand::Modify
                } else {
                    MonitorCommand::Add
                },
                r#match: fm.r#match,
                ..FlowMonitorRequest::new(MonitorId(id), MonitorFlags::ALL)
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every form decodes what it encodes back to the same model.
    #[test]
    fn monitor_messages_round_trip(
        p in prop::sample::select(ALL_FORMS.to_vec()),
        updates in prop::collection::vec(arb_update(true), 0..5),
        reqs in prop::collection::vec(arb_request(true), 1..3),
        more in any::<bool>(),
        id in any::<u32>(),
    ) {
        let v14 = matches!(p, Protocol::Of14 | Protocol::Of15);
        let fit = |u: FlowUpdate| match u {
            FlowUpdate::Full(mut f) if !v14 && f.event == FlowUpdateEvent::Initial => {
                f.event = FlowUpdateEvent::Added;
                FlowUpdate::Full(f)
            }
            u => u,
        };
        let reqs: Vec<FlowMonitorRequest> = reqs
            .into_iter()
            .map(|mut r| {
                if !v14 {
                    r.command = MonitorCommand::Add;
                }
                r
            })
            .collect();
        let msgs = [
            FlowMonitorMsg::Reply { more, updates: updates.into_iter().map(fit).collect() },
            FlowMonitorMsg::Request(reqs),
            FlowMonitorMsg::Cancel(MonitorId(id)),
            FlowMonitorMsg::Paused,
            FlowMonitorMsg::Resumed,
        ];
        for m in msgs {
            let msg = Message::FlowMonitor(m);
            let bytes = wire::encode(&msg, p, 3).expect("encodes");
            let (_, back) = wire::decode(&bytes).expect("decodes");
            let again = wire::encode(&back, p, 3).expect("re-encodes");
            prop_assert_eq!(&again, &bytes, "{:?}", p);
            // Actions come back in the version's spelling; everything else is the model's.
            if let (Message::FlowMonitor(FlowMonitorMsg::Reply { updates: a, .. }),
                    Message::FlowMonitor(FlowMonitorMsg::Reply { updates: b, .. })) = (&msg, &back) {
                prop_assert_eq!(a.len(), b.len());
            } else {
                prop_assert_eq!(&back, &msg, "{:?}", p);
            }
        }
    }
}

#[test]
fn an_openflow14_request_with_an_unknown_command_reads_as_an_add() {
    let req = FlowMonitorRequest {
        table: Some(TableId(5)),
        ..FlowMonitorRequest::new(MonitorId(7), MonitorFlags::ALL)
    };
    let mut bytes = wire::encode(
        &Message::FlowMonitor(FlowMonitorMsg::Request(vec![req.clone()])),
        Protocol::Of14,
        0x14,
    )
    .expect("encodes");
    // The record's command byte (after the 16-byte header: id, out_port, out_group, flags,
    // table) becomes 3, which OpenFlow does not define.
    bytes[16 + 15] = 3;
    let (_, back) = wire::decode(&bytes).expect("decodes");
    assert_eq!(
        back,
        Message::FlowMonitor(FlowMonitorMsg::Request(vec![req]))
    );
    assert_eq!(
        body(&ofp_print(&bytes)),
        ["id=7 flags=initial,add,delete,modify,actions,own table=5"]
    );
}

#[test]
fn flags_that_ask_for_no_change_are_refused_as_open_vswitch_refuses_them() {
    // Initial only, actions only: no add, delete or modify.
    for bits in [0x01u16, 0x10, 0x21] {
        assert!(MonitorFlags::from_bits(bits).is_err(), "{bits:#x}");
        let ours = MonitorFlags::from_bits(bits)
            .map(|_| ())
            .map_err(|e| e.error);
        assert_eq!(ours, Err(fvs_openflow::wire::OfpError::MonitorBadFlags));
    }
    assert!(MonitorFlags::from_bits14(0x41).is_err());
    assert!(MonitorFlags::from_bits(0x02).is_ok());
}
