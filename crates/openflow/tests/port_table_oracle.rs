//! Port and table messages against Open vSwitch: `ovs-ofctl ofp-print` must read ferrovs's
//! port descriptions, port-mods, port/queue/table statistics and table/meter/group features
//! as the messages they were meant to be, in every version that has them; every message must
//! decode back to itself, and random bytes after a valid header must give errors, not panics.
//! Needs `ovs-ofctl` on PATH (CI installs `openvswitch-common`).

use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::port::{
    Duration, OFPPC_NO_FWD, OFPPC_PORT_DOWN, OFPPS_LIVE, PortDescReply, PortMod, PortMsg,
    PortStats, PortStatsReply, QUEUE_ALL, QueueStatsReply, QueueStatsRequest,
};
use fvs_openflow::wire::table::{
    FieldHeader, GroupFeatures, MeterFeatures, TableBitmaps, TableFeatures, TableFeaturesReply,
    TableMsg, TableProps, TableStats, TableStatsReply,
};
use fvs_openflow::wire::{self, Message, PortDesc};
use fvs_openflow::{EthAddr, PortNo};
use fvs_test_support::ofp_print;
use proptest::prelude::*;

/// Encodes, checks that ovs-ofctl's print of it contains `expect` and nothing it could not
/// read, and that the message decodes back to itself.
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

fn ports() -> Vec<PortDesc> {
    vec![
        PortDesc {
            port_no: PortNo(1),
            hw_addr: EthAddr([0x4a, 0x36, 0x62, 0x66, 0x9c, 0xc5]),
            name: "patch-int".into(),
            ..PortDesc::default()
        },
        PortDesc {
            port_no: PortNo(2),
            hw_addr: EthAddr([0xaa, 0x55, 0xaa, 0x55, 0, 0x0f]),
            name: "gre-0a000115".into(),
            config: OFPPC_PORT_DOWN,
            curr: 1 << 6,
            curr_speed: 10_000_000,
            max_speed: 10_000_000,
            ..PortDesc::default()
        },
    ]
}

#[test]
fn port_descriptions_print_in_every_version() {
    let reply = |state: u32| {
        let mut ports = ports();
        for p in &mut ports {
            p.state = state;
            // OpenFlow 1.0 ports carry no speeds (state 0 stands for that version here).
            if state == 0 {
                (p.curr_speed, p.max_speed) = (0, 0);
            }
        }
        Message::Port(PortMsg::DescReply(PortDescReply { more: false, ports }))
    };
    check(
        &reply(0),
        Protocol::Of10Std,
        "OFPST_PORT_DESC reply (xid=0x42):\n 1(patch-int): addr:4a:36:62:66:9c:c5\n     config:     0\n     state:      0\n     speed: 0 Mbps now, 0 Mbps max\n 2(gre-0a000115): addr:aa:55:aa:55:00:0f\n     config:     PORT_DOWN\n     state:      0\n     current:    10GB-FD\n",
    );
    for (p, name) in [
        (Protocol::Of13, "OF1.3"),
        (Protocol::Of14, "OF1.4"),
        (Protocol::Of15, "OF1.5"),
    ] {
        check(
            &reply(OFPPS_LIVE),
            p,
            &format!(
                "OFPST_PORT_DESC reply ({name}) (xid=0x42):\n 1(patch-int): addr:4a:36:62:66:9c:c5\n     config:     0\n     state:      LIVE\n"
            ),
        );
        check(
            &reply(OFPPS_LIVE),
            p,
            "     current:    10GB-FD\n     speed: 10000 Mbps now, 10000 Mbps max\n",
        );
        check(
            &Message::Port(PortMsg::DescRequest(PortNo::ANY)),
            p,
            "OFPST_PORT_DESC request",
        );
    }
    check(
        &Message::Port(PortMsg::DescRequest(PortNo(2))),
        Protocol::Of15,
        "OFPST_PORT_DESC request (OF1.5) (xid=0x42): port=2",
    );
}

#[test]
fn port_mods_print_in_every_version() {
    let pm = Message::Port(PortMsg::Mod(PortMod {
        port_no: PortNo(2),
        hw_addr: EthAddr([0xaa, 0x55, 0xaa, 0x55, 0, 0x0f]),
        config: OFPPC_PORT_DOWN,
        mask: OFPPC_PORT_DOWN | OFPPC_NO_FWD,
        advertise: 0,
    }));
    for (p, tag) in [
        (Protocol::Of10Std, ""),
        (Protocol::Of13, " (OF1.3)"),
        (Protocol::Of14, " (OF1.4)"),
        (Protocol::Of15, " (OF1.5)"),
    ] {
        check(
            &pm,
            p,
            &format!(
                "OFPT_PORT_MOD{tag} (xid=0x42): port: 2: addr:aa:55:aa:55:00:0f\n     config: PORT_DOWN\n     mask:   PORT_DOWN NO_FWD\n     advertise: UNCHANGED\n"
            ),
        );
    }
}

fn stats(port: PortNo, custom: bool) -> PortStats {
    let mut s = PortStats::zeroed(port);
    s.rx_packets = 5;
    s.tx_bytes = 4200;
    if custom {
        s.custom = vec![("rx_q0_bytes".into(), 7), ("tx_q0_packets".into(), 0)];
    }
    s
}

#[test]
fn port_statistics_print_in_every_version() {
    let reply = |duration: Option<Duration>, custom: bool| {
        let ports = [PortNo::LOCAL, PortNo(1)]
            .into_iter()
            .map(|p| PortStats {
                duration,
                ..stats(p, custom)
            })
            .collect();
        Message::Port(PortMsg::StatsReply(PortStatsReply { more: false, ports }))
    };
    let lines = "  port LOCAL: rx pkts=5, bytes=0, drop=?, errs=?, frame=?, over=?, crc=?\n           tx pkts=0, bytes=4200, drop=?, errs=?, coll=?\n";
    check(
        &reply(None, false),
        Protocol::Of10Std,
        &format!("OFPST_PORT reply (xid=0x42): 2 ports\n{lines}  port  1: rx pkts=5"),
    );
    let d = Some(Duration {
        sec: 4,
        nsec: 401_000_000,
    });
    check(
        &reply(d, false),
        Protocol::Of13,
        &format!(
            "OFPST_PORT reply (OF1.3) (xid=0x42): 2 ports\n{lines}           duration=4.401s\n"
        ),
    );
    for (p, tag) in [(Protocol::Of14, "OF1.4"), (Protocol::Of15, "OF1.5")] {
        check(
            &reply(d, true),
            p,
            &format!(
                "OFPST_PORT reply ({tag}) (xid=0x42): 2 ports\n{lines}           duration=4.401s\n           CUSTOM Statistics\n                      rx_q0_bytes=7, tx_q0_packets=0,\n"
            ),
        );
    }
    for p in [
        Protocol::Of10Std,
        Protocol::Of13,
        Protocol::Of14,
        Protocol::Of15,
    ] {
        check(
            &Message::Port(PortMsg::StatsRequest(PortNo(2))),
            p,
            "OFPST_PORT request",
        );
        check(
            &Message::Port(PortMsg::StatsRequest(PortNo::ANY)),
            p,
            "port_no=ANY",
        );
        check(
            &Message::Port(PortMsg::QueueStatsRequest(QueueStatsRequest {
                port_no: PortNo::ANY,
                queue_id: QUEUE_ALL,
            })),
            p,
            "port=ANY queue=ALL",
        );
        check(
            &Message::Port(PortMsg::QueueStatsReply(QueueStatsReply::default())),
            p,
            "0 queues",
        );
    }
}

#[test]
fn table_statistics_print_in_the_versions_that_have_them() {
    let tables: Vec<TableStats> = (0..3u8)
        .map(|t| TableStats {
            table_id: t,
            name: format!("table{t}"),
            wildcards: 0x003f_ffff,
            max_entries: 1_000_000,
            active_count: u32::from(t) * 2,
            lookup_count: 0,
            matched_count: 0,
            bitmaps: TableBitmaps::default(),
        })
        .collect();
    let reply = |tables: Vec<TableStats>| {
        Message::Table(TableMsg::StatsReply(TableStatsReply {
            more: false,
            tables,
        }))
    };
    check(
        &reply(tables.clone()),
        Protocol::Of10Std,
        "OFPST_TABLE reply (xid=0x42):\n  table 0 (\"table0\"):\n    active=0, lookup=0, matched=0\n    max_entries=1000000\n",
    );
    // OpenFlow 1.3+ carry the counters only.
    let bare: Vec<TableStats> = tables
        .into_iter()
        .map(|t| TableStats {
            name: String::new(),
            wildcards: 0,
            max_entries: 0,
            ..t
        })
        .collect();
    for p in [Protocol::Of13, Protocol::Of14, Protocol::Of15] {
        check(
            &reply(bare.clone()),
            p,
            "  table 1:\n    active=2, lookup=0, matched=0\n",
        );
        check(
            &Message::Table(TableMsg::StatsRequest),
            p,
            "OFPST_TABLE request",
        );
    }
    // OpenFlow 1.1 and 1.2 describe each table's abilities in its statistics.
    let of11 = TableStats {
        table_id: 0,
        active_count: 2,
        lookup_count: 3,
        matched_count: 3,
        bitmaps: TableBitmaps {
            match_fields: 0xfbff,
            wildcards: 0xfbff,
            write_actions: 0x01ff_e7ff,
            apply_actions: 0x01ff_e7ff,
            instructions: 0x3e,
            max_entries: 1_000_000,
            ..TableBitmaps::default()
        },
        ..TableStats::default()
    };
    check(
        &reply(vec![of11.clone()]),
        Protocol::Of11,
        "OFPST_TABLE reply (OF1.1) (xid=0x42):\n  table 0:\n    active=2, lookup=3, matched=3\n    config=controller\n    max_entries=1000000\n    instructions (table miss and others):\n      instructions: apply_actions clear_actions write_actions write_metadata goto_table\n",
    );
    let of12 = TableStats {
        bitmaps: TableBitmaps {
            match_fields: 0x0000_1000_0000_0009,
            wildcards: 0x0000_1000_0000_0009,
            write_actions: 0x03ff_8001,
            apply_actions: 0x03ff_8001,
            write_setfields: 0x18,
            apply_setfields: 0x18,
            metadata_match: u64::MAX,
            metadata_write: u64::MAX,
            instructions: 0x3c,
            max_entries: 1_000_000,
            ..TableBitmaps::default()
        },
        ..of11
    };
    check(
        &reply(vec![of12]),
        Protocol::Of12,
        "    metadata: match=0xffffffffffffffff write=0xffffffffffffffff\n    config=controller\n",
    );
}

fn features(table_id: u8) -> TableFeatures {
    // OXM eth_src (maskable), NXM reg0, and an experimenter header.
    let eth_src = FieldHeader {
        header: 0x8000_0806,
        experimenter: None,
    };
    let eth_src_w = FieldHeader {
        header: 0x8000_090c,
        experimenter: None,
    };
    let reg0 = FieldHeader {
        header: 0x0001_0004,
        experimenter: None,
    };
    TableFeatures {
        table_id,
        name: String::new(),
        metadata_match: u64::MAX,
        metadata_write: u64::MAX,
        capabilities: 0,
        max_entries: 1_000_000,
        props: TableProps {
            instructions: vec![1, 2, 3, 4, 5],
            next_tables: ((table_id + 1)..=253).collect(),
            write_actions: vec![0, 17, 18, 25],
            apply_actions: vec![0, 17, 18, 25],
            write_setfield: vec![eth_src, reg0],
            apply_setfield: vec![eth_src, reg0],
            match_fields: vec![eth_src_w, reg0],
            wildcards: vec![eth_src, reg0],
        },
        miss: None,
    }
}

#[test]
fn table_features_print_and_split_at_table_boundaries() {
    let reply = Message::Table(TableMsg::FeaturesReply(TableFeaturesReply {
        more: false,
        tables: vec![features(0)],
    }));
    check(
        &reply,
        Protocol::Of13,
        "  table 0:\n    metadata: match=0xffffffffffffffff write=0xffffffffffffffff\n    max_entries=1000000\n    instructions (table miss and others):\n      next tables: 1-253\n      instructions: apply_actions clear_actions write_actions write_metadata goto_table\n      Write-Actions and Apply-Actions features:\n        actions: output set_field strip_vlan push_vlan\n        supported on Set-Field: reg0 eth_src\n    matching:\n      arbitrary mask: eth_src\n      exact match or wildcard: reg0\n",
    );
    check(
        &Message::Table(TableMsg::FeaturesRequest(Vec::new())),
        Protocol::Of13,
        "OFPST_TABLE_FEATURES request",
    );
    // 254 tables do not fit one message: parts are full, flagged "more" but the last, and
    // together give every table back.
    let all: Vec<TableFeatures> = (0..254).map(features).collect();
    let parts = wire::table::encode_table_features_reply(&all, Protocol::Of14, 9).expect("encodes");
    assert!(parts.len() > 1);
    let mut back = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        assert!(part.len() <= 65535);
        let (h, m) = wire::decode(part).expect("part decodes");
        assert_eq!(h.xid, 9);
        let Message::Table(TableMsg::FeaturesReply(r)) = m else {
            panic!("not a table features reply: {m:?}");
        };
        assert_eq!(r.more, i + 1 < parts.len());
        back.extend(r.tables);
    }
    assert_eq!(back, all);
}

#[test]
fn meter_and_group_features_print() {
    check(
        &Message::Table(TableMsg::MeterFeaturesReply(MeterFeatures::default())),
        Protocol::Of13,
        "OFPST_METER_FEATURES reply (OF1.3) (xid=0x42):\nmax_meter:0 max_bands:0 max_color:0\n",
    );
    check(
        &Message::Table(TableMsg::GroupFeaturesReply(GroupFeatures::default())),
        Protocol::Of14,
        "OFPST_GROUP_FEATURES reply (OF1.4) (xid=0x42):\n Group table:\n    Types:  0x0\n",
    );
    for m in [
        Message::Table(TableMsg::MeterFeaturesRequest),
        Message::Table(TableMsg::GroupFeaturesRequest),
    ] {
        check(&m, Protocol::Of13, "_FEATURES request (OF1.3)");
    }
    let meter = Message::Table(TableMsg::MeterFeaturesRequest);
    assert!(wire::encode(&meter, Protocol::Of10Std, 1).is_err());
    // Before OpenFlow 1.2, group features travel as Nicira's NXST_GROUP_FEATURES.
    let group = Message::Table(TableMsg::GroupFeaturesRequest);
    check(
        &group,
        Protocol::Of10Std,
        "NXST_GROUP_FEATURES request (xid=0x42)",
    );
    check(
        &group,
        Protocol::Of11,
        "NXST_GROUP_FEATURES request (OF1.1) (xid=0x42)",
    );
}

/// The stats messages of this file, in a version's framing, as a header for fuzzing.
fn stats_header(version: u8, reply: bool, stat: u16) -> Vec<u8> {
    let ty = match (version, reply) {
        (1, false) => 16,
        (1, true) => 17,
        (_, false) => 18,
        (_, true) => 19,
    };
    let mut b = vec![version, ty, 0, 0, 0, 0, 0, 1];
    b.extend_from_slice(&stat.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    if version != 1 {
        b.extend_from_slice(&[0; 4]);
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bodies after a valid port/table stats header, or a port-mod header: an error
    /// or a message, never a panic; whatever decodes re-encodes and decodes to itself.
    #[test]
    fn random_bodies_never_panic_and_decoded_messages_round_trip(
        version in prop::sample::select(vec![1u8, 4, 5, 6]),
        reply in any::<bool>(),
        stat in prop::sample::select(vec![3u16, 4, 5, 8, 11, 12, 13, 0xffff]),
        port_mod in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut b = if port_mod {
            vec![version, if version == 1 { 15 } else { 16 }, 0, 0, 0, 0, 0, 1]
        } else {
            stats_header(version, reply, stat)
        };
        b.extend_from_slice(&body);
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
        b[2..4].copy_from_slice(&len);
        if let Ok((_, m)) = wire::decode(&b) {
            let protocol = match version {
                1 => Protocol::Of10Std,
                4 => Protocol::Of13,
                5 => Protocol::Of14,
                _ => Protocol::Of15,
            };
            if let Ok(again) = wire::encode(&m, protocol, 1) {
                let (_, m2) = wire::decode(&again).expect("re-encoded message decodes");
                prop_assert_eq!(m2, m);
            }
        }
    }

    /// Port statistics and descriptions survive encode → decode in every version.
    #[test]
    fn port_models_round_trip(
        port in 1u32..0xff00,
        rx in any::<u64>(),
        name in "[a-z][a-z0-9-]{0,14}",
        custom in prop::collection::vec(("[a-z_0-9]{1,20}", any::<u64>()), 0..5),
        config in 0u32..0x80,
        mac in any::<[u8; 6]>(),
    ) {
        for (p, has_dur, has_custom) in [
            (Protocol::Of10Std, false, false),
            (Protocol::Of13, true, false),
            (Protocol::Of14, true, true),
            (Protocol::Of15, true, true),
        ] {
            let mut s = stats(PortNo(port), false);
            s.rx_bytes = rx;
            s.duration = has_dur.then_some(Duration { sec: 3, nsec: 5 });
            if has_custom {
                s.custom = custom.clone();
            }
            let m = Message::Port(PortMsg::StatsReply(PortStatsReply { more: true, ports: vec![s] }));
            let b = wire::encode(&m, p, 3).expect("encodes");
            prop_assert_eq!(wire::decode(&b).expect("decodes").1, m);
            let d = PortDesc {
                port_no: PortNo(port),
                hw_addr: EthAddr(mac),
                name: name.clone(),
                config,
                ..PortDesc::default()
            };
            let m = Message::Port(PortMsg::DescReply(PortDescReply { more: false, ports: vec![d] }));
            let b = wire::encode(&m, p, 3).expect("encodes");
            prop_assert_eq!(wire::decode(&b).expect("decodes").1, m);
        }
    }
}
