//! Group-mods, group descriptions and group statistics against Open vSwitch: `ovs-ofctl
//! ofp-print` must read ferrovs's encodings (OpenFlow 1.0's Nicira forms, 1.1 to 1.4's and
//! 1.5's layouts) as the messages they were meant to be, and ferrovs's decoder must give each
//! message back. Needs `ovs-ofctl` on PATH.

use fvs_openflow::action::{Action, Output};
use fvs_openflow::group::{
    Bucket, BucketId, Counters, GroupDesc, GroupMod, GroupModCommand, GroupStats, GroupType,
};
use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::{self, Message, group::GroupMsg};
use fvs_openflow::{GroupId, PortNo};
use fvs_test_support::ofp_print;

/// Encodes, checks ovs-ofctl's reading, decodes back to `back` (the message as the wire of
/// that version can carry it).
fn check(msg: &Message, back: &Message, protocol: Protocol, expect: &str) {
    let bytes = wire::encode(msg, protocol, 0x42).expect("encodes");
    let printed = ofp_print(&bytes);
    assert!(
        printed.contains(expect),
        "{msg:?} in {protocol:?}: ovs-ofctl printed\n{printed}\nexpected\n{expect}"
    );
    let (_, decoded) = wire::decode(&bytes).expect("decodes");
    assert_eq!(&decoded, back, "{protocol:?}");
}

fn output(p: u32) -> Action {
    Action::Output(Output {
        port: PortNo(p),
        max_len: 0,
    })
}

fn select_group() -> GroupMod {
    let mut b0 = Bucket::new(vec![output(1)]);
    b0.weight = 5;
    let mut b1 = Bucket::new(vec![output(2)]);
    b1.bucket_id = BucketId(1);
    GroupMod {
        command: GroupModCommand::Add,
        group_type: GroupType::Select,
        group_id: GroupId(9),
        command_bucket_id: BucketId::ALL,
        buckets: vec![b0, b1],
        has_bucket_ids: true,
        selection: None,
    }
}

#[test]
fn group_mods_read_as_open_vswitch_reads_them_in_every_version() {
    let gm = select_group();
    let long = Message::Group(GroupMsg::Mod(gm.clone()));
    let mut short_gm = gm.clone();
    short_gm.has_bucket_ids = false;
    for b in &mut short_gm.buckets {
        b.bucket_id = BucketId(0);
    }
    let short = Message::Group(GroupMsg::Mod(short_gm));
    check(
        &long,
        &long,
        Protocol::Of10NxmTid,
        "NXT_GROUP_MOD (xid=0x42):\n ADD group_id=9,type=select,bucket=bucket_id:0,weight:5,actions=output:1,bucket=bucket_id:1,actions=output:2",
    );
    for p in [Protocol::Of11, Protocol::Of13, Protocol::Of14] {
        check(
            &long,
            &short,
            p,
            " ADD group_id=9,type=select,bucket=weight:5,actions=output:1,bucket=actions=output:2",
        );
    }
    check(
        &long,
        &long,
        Protocol::Of15,
        "OFPT_GROUP_MOD (OF1.5) (xid=0x42):\n ADD group_id=9,type=select,bucket=bucket_id:0,weight:5,actions=output:1,bucket=bucket_id:1,actions=output:2",
    );

    // Fast failover with watches, a delete of all groups, add-or-mod, bucket insertion.
    let mut ff = Bucket::new(vec![output(1)]);
    ff.weight = 0;
    ff.watch_port = PortNo(1);
    ff.watch_group = GroupId(7);
    let ffm = GroupMod {
        group_type: GroupType::FastFailover,
        group_id: GroupId(31),
        buckets: vec![ff],
        ..gm.clone()
    };
    let m = Message::Group(GroupMsg::Mod(ffm));
    check(
        &m,
        &m,
        Protocol::Of15,
        " ADD group_id=31,type=ff,bucket=bucket_id:0,watch_port:1,watch_group:7,actions=output:1",
    );
    let del = Message::Group(GroupMsg::Mod(GroupMod {
        command: GroupModCommand::Delete,
        group_type: GroupType::All,
        group_id: GroupId::ALL,
        buckets: vec![],
        ..gm.clone()
    }));
    check(
        &del,
        &del,
        Protocol::Of10NxmTid,
        " DEL group_id=4294967292,type=all",
    );
    let mut del13 = del.clone();
    if let Message::Group(GroupMsg::Mod(g)) = &mut del13 {
        g.has_bucket_ids = false;
    }
    check(
        &del,
        &del13,
        Protocol::Of13,
        " DEL group_id=4294967292,type=all",
    );
    let ins = Message::Group(GroupMsg::Mod(GroupMod {
        command: GroupModCommand::InsertBucket,
        group_type: GroupType::All,
        group_id: GroupId(7),
        command_bucket_id: BucketId::LAST,
        buckets: vec![Bucket {
            bucket_id: BucketId(5),
            weight: 0,
            ..Bucket::new(vec![output(2)])
        }],
        has_bucket_ids: true,
        selection: None,
    }));
    check(
        &ins,
        &ins,
        Protocol::Of15,
        " INSERT_BUCKET command_bucket_id:last,group_id=7,bucket=bucket_id:5,actions=output:2",
    );
}

#[test]
fn group_descriptions_and_statistics_read_as_open_vswitch_reads_them() {
    let gm = select_group();
    let desc = GroupDesc {
        group_type: gm.group_type,
        group_id: gm.group_id,
        buckets: gm.buckets.clone(),
        selection: None,
    };
    let stats = GroupStats {
        group_id: GroupId(9),
        ref_count: 2,
        counters: Counters {
            packets: 3,
            bytes: 180,
        },
        duration_sec: 4,
        duration_nsec: 500_000_000,
        buckets: vec![
            Counters {
                packets: 1,
                bytes: 60,
            },
            Counters {
                packets: 2,
                bytes: 120,
            },
        ],
    };
    let d = Message::Group(GroupMsg::DescReply(vec![desc.clone()]));
    let s = Message::Group(GroupMsg::StatsReply(vec![stats.clone()]));
    check(
        &d,
        &d,
        Protocol::Of10NxmTid,
        "NXST_GROUP_DESC reply (xid=0x42):\n group_id=9,type=select,bucket=bucket_id:0,weight:5,actions=output:1,bucket=bucket_id:1,actions=output:2",
    );
    let mut short = desc.clone();
    for b in &mut short.buckets {
        b.bucket_id = BucketId(0);
    }
    check(
        &d,
        &Message::Group(GroupMsg::DescReply(vec![short])),
        Protocol::Of13,
        "OFPST_GROUP_DESC reply (OF1.3) (xid=0x42):\n group_id=9,type=select,bucket=weight:5,actions=output:1,bucket=actions=output:2",
    );
    check(
        &d,
        &d,
        Protocol::Of15,
        " group_id=9,type=select,bucket=bucket_id:0,weight:5,actions=output:1,bucket=bucket_id:1,actions=output:2",
    );
    let line = "group_id=9,duration=4.500s,ref_count=2,packet_count=3,byte_count=180,bucket0:packet_count=1,byte_count=60,bucket1:packet_count=2,byte_count=120";
    check(
        &s,
        &s,
        Protocol::Of10NxmTid,
        &format!("NXST_GROUP reply (xid=0x42):\n {line}"),
    );
    check(&s, &s, Protocol::Of13, &format!(" {line}"));
    let no_duration = GroupStats {
        duration_sec: 0,
        duration_nsec: 0,
        ..stats
    };
    check(
        &s,
        &Message::Group(GroupMsg::StatsReply(vec![no_duration])),
        Protocol::Of11,
        " group_id=9,ref_count=2,packet_count=3,byte_count=180,bucket0:packet_count=1,byte_count=60,bucket1:packet_count=2,byte_count=120",
    );
    for (p, name) in [
        (Protocol::Of10NxmTid, "NXST_GROUP_DESC request"),
        (Protocol::Of13, "OFPST_GROUP_DESC request (OF1.3)"),
        (
            Protocol::Of15,
            "OFPST_GROUP_DESC request (OF1.5) (xid=0x42): group_id=9",
        ),
    ] {
        let req = Message::Group(GroupMsg::DescRequest(GroupId(9)));
        let back = if p == Protocol::Of13 {
            Message::Group(GroupMsg::DescRequest(GroupId::ALL))
        } else {
            req.clone()
        };
        check(&req, &back, p, name);
    }
    let req = Message::Group(GroupMsg::StatsRequest(GroupId::ALL));
    check(
        &req,
        &req,
        Protocol::Of13,
        "OFPST_GROUP request (OF1.3) (xid=0x42): group_id=ALL",
    );
    check(
        &req,
        &req,
        Protocol::Of10NxmTid,
        "NXST_GROUP request (xid=0x42): group_id=ALL",
    );
}

mod fuzz {
    use super::*;
    use fvs_flow::Protocols;
    use fvs_openflow::text::group::parse_group_mod;
    use proptest::prelude::*;

    /// A group-mod header (`OFPT_GROUP_MOD`, or `NXT_GROUP_MOD` in OpenFlow 1.0) or a group
    /// multipart header (`OFPST_GROUP(_DESC)`, or Nicira's in 1.0).
    fn header(version: u8, kind: u8, reply: bool) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 0, 0, 0, 0, 1];
        match (kind, version) {
            (0, 1) => {
                b[1] = 4;
                b.extend_from_slice(&[0, 0, 0x23, 0x20, 0, 0, 0, 31]);
            }
            (0, _) => b[1] = 15,
            (stat, 1) => {
                b[1] = if reply { 17 } else { 16 };
                b.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0, 0x23, 0x20, 0, 0, 0]);
                b.push(if stat == 1 { 7 } else { 8 });
                b.extend_from_slice(&[0, 0, 0, 0]);
            }
            (stat, _) => {
                b[1] = if reply { 19 } else { 18 };
                b.extend_from_slice(&[0, if stat == 1 { 6 } else { 7 }, 0, 0, 0, 0, 0, 0]);
            }
        }
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bodies after a group header: an error or a message, never a panic; what
        /// decodes encodes again.
        #[test]
        fn random_group_bodies_never_panic(
            version in prop::sample::select(vec![1u8, 2, 4, 5, 6]),
            kind in 0u8..3,
            reply in any::<bool>(),
            body in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut b = header(version, kind, reply);
            b.extend_from_slice(&body);
            let len = u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
            b[2..4].copy_from_slice(&len);
            if let Ok((_, m @ Message::Group(_))) = wire::decode(&b) {
                let protocol = match version {
                    1 => Protocol::Of10NxmTid,
                    2 => Protocol::Of11,
                    4 => Protocol::Of13,
                    5 => Protocol::Of14,
                    _ => Protocol::Of15,
                };
                let _ = wire::encode(&m, protocol, 1);
            }
        }

        /// Arbitrary group text: an error or a group-mod, never a panic.
        #[test]
        fn random_group_text_never_panics(s in "[a-z_=:,()0-9 ]{0,60}") {
            let mut usable = Protocols::ANY;
            let _ = parse_group_mod(&s, GroupModCommand::Add, &mut usable);
            let _ = parse_group_mod(&s, GroupModCommand::Delete, &mut usable);
        }
    }
}
