//! Flow monitor messages against Open vSwitch: every message ferrovs encodes must print,
//! through `ovs-ofctl ofp-print`, as Open vSwitch prints the same monitor request, update
//! or control message, and must decode back to itself. Needs `ovs-ofctl` on PATH (CI
//! installs `openvswitch-common`).

use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_flow_mod;
use fvs_openflow::wire::flow_monitor::{
    FlowMonitorMsg, FlowMonitorRequest, FlowUpdate, FlowUpdateEvent, FlowUpdateFull, MonitorFlags,
    MonitorId,
};
use fvs_openflow::wire::{self, FlowRemovedReason, Message};
use fvs_openflow::{FlowModCommand, PortNo, TableId};
use fvs_test_support::ofp_print;

const PROTOCOLS: [Protocol; 2] = [Protocol::Of10Nxm, Protocol::Of12];

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
        FlowMonitorRequest {
            id: MonitorId(0),
            flags: MonitorFlags::ALL,
            out_port: PortNo::ANY,
            table: None,
            r#match: Default::default(),
        },
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
        },
    ];
    for p in PROTOCOLS {
        let out = printed(FlowMonitorMsg::Request(reqs.clone()), p);
        assert!(out.contains("NXST_FLOW_MONITOR request"), "{p:?}: {out}");
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
fn of13_and_later_flow_monitors_are_refused_not_misencoded() {
    // Open vSwitch reads NXT_FLOW_MONITOR_* only up to OpenFlow 1.2.
    for p in [Protocol::Of13, Protocol::Of14, Protocol::Of15] {
        let r = wire::encode(&Message::FlowMonitor(FlowMonitorMsg::Paused), p, 1);
        assert!(r.is_err(), "{p:?} monitors are not encoded yet");
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
            id: MonitorId(1),
            flags: MonitorFlags::ALL,
            out_port: PortNo::ANY,
            table: None,
            r#match: fm.r#match,
        }]),
        FlowMonitorMsg::Cancel(MonitorId(3)),
    ];
    for m in msgs {
        for p in PROTOCOLS {
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
