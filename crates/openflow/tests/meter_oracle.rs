//! Meter-mods, meter configurations and meter statistics against Open vSwitch: `ovs-ofctl
//! ofp-print` must read ferrovs's encodings in OpenFlow 1.3, 1.4 and 1.5 as the messages they
//! were meant to be, print them as ferrovs's text module does, and ferrovs's decoder must
//! give each message back. Needs `ovs-ofctl` on PATH.

use fvs_openflow::MeterId;
use fvs_openflow::group::Counters;
use fvs_openflow::meter::{
    BandType, MeterBand, MeterConfig, MeterFlags, MeterMod, MeterModCommand, MeterStats,
};
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::meter::{
    format_meter_config, format_meter_mod, format_meter_stats, parse_meter_mod,
};
use fvs_openflow::wire::meter::MeterMsg;
use fvs_openflow::wire::{self, Message};
use fvs_test_support::ofp_print;

const VERSIONS: [(Protocol, &str); 3] = [
    (Protocol::Of13, "OF1.3"),
    (Protocol::Of14, "OF1.4"),
    (Protocol::Of15, "OF1.5"),
];

/// Encodes, returns what ovs-ofctl printed, and checks that the bytes decode back to `msg`.
fn print(msg: &Message, protocol: Protocol) -> String {
    let bytes = wire::encode(msg, protocol, 0x42).expect("encodes");
    let (_, decoded) = wire::decode(&bytes).expect("decodes");
    assert_eq!(&decoded, msg, "{protocol:?}");
    ofp_print(&bytes)
}

fn band(band_type: BandType, rate: u32, burst_size: u32) -> MeterBand {
    MeterBand {
        band_type,
        rate,
        burst_size,
    }
}

#[test]
fn meter_mods_print_as_ovs_ofctl_prints_them() {
    let burst = MeterFlags::KBPS
        .with(MeterFlags::BURST)
        .with(MeterFlags::STATS);
    let mods = [
        MeterMod {
            command: MeterModCommand::Add,
            meter_id: MeterId(1),
            flags: MeterFlags::PKTPS,
            bands: vec![band(BandType::Drop, 10, 0)],
        },
        MeterMod {
            command: MeterModCommand::Modify,
            meter_id: MeterId::SLOWPATH,
            flags: burst,
            bands: vec![
                band(BandType::Drop, 5, 7),
                band(BandType::DscpRemark { prec_level: 3 }, 9, 0),
            ],
        },
        MeterMod {
            command: MeterModCommand::Delete,
            meter_id: MeterId::ALL,
            flags: MeterFlags::default(),
            bands: Vec::new(),
        },
    ];
    for (protocol, tag) in VERSIONS {
        for mm in &mods {
            let printed = print(&Message::Meter(MeterMsg::Mod(mm.clone())), protocol);
            let mut ours = String::new();
            format_meter_mod(mm, &mut ours);
            let want = format!("OFPT_METER_MOD ({tag}) (xid=0x42): {ours}\n");
            assert_eq!(printed, want, "{mm:?}");
        }
    }
}

#[test]
fn parsed_meters_are_the_meters_ovs_ofctl_sends() {
    // The text ovs-ofctl's own add-meter takes; what it printed is the same message.
    let text = "meter=7,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100,type=drop,rate=2000,burst_size=50";
    let mm = parse_meter_mod(text, MeterModCommand::Add).expect("parses");
    let printed = print(&Message::Meter(MeterMsg::Mod(mm)), Protocol::Of13);
    assert_eq!(
        printed,
        "OFPT_METER_MOD (OF1.3) (xid=0x42): ADD meter=7 kbps burst stats bands=\n\
         type=drop rate=1000 burst_size=100\n\
         type=drop rate=2000 burst_size=50\n"
    );
}

#[test]
fn requests_and_replies_print_as_ovs_ofctl_prints_them() {
    let configs = vec![
        MeterConfig {
            meter_id: MeterId(1),
            flags: MeterFlags::PKTPS
                .with(MeterFlags::BURST)
                .with(MeterFlags::STATS),
            bands: vec![band(BandType::Drop, 10, 5)],
        },
        MeterConfig {
            meter_id: MeterId::CONTROLLER,
            flags: MeterFlags::KBPS,
            bands: vec![band(BandType::Drop, 1000, 0), band(BandType::Drop, 3000, 0)],
        },
    ];
    let stats = vec![
        MeterStats {
            meter_id: MeterId(1),
            flow_count: 2,
            input: Counters {
                packets: 30,
                bytes: 3180,
            },
            duration_sec: 15,
            duration_nsec: 500_000_000,
            bands: vec![Counters {
                packets: 24,
                bytes: 2544,
            }],
        },
        MeterStats {
            meter_id: MeterId(262_145),
            flow_count: 0,
            input: Counters::default(),
            duration_sec: 0,
            duration_nsec: 7_000_000,
            bands: vec![Counters::default(), Counters::default()],
        },
    ];
    for (protocol, tag) in VERSIONS {
        for (msg, kind) in [
            (MeterMsg::StatsRequest(MeterId::ALL), "OFPST_METER request"),
            (
                MeterMsg::ConfigRequest(MeterId(5)),
                "OFPST_METER_CONFIG request",
            ),
        ] {
            let printed = print(&Message::Meter(msg.clone()), protocol);
            let id = if kind.starts_with("OFPST_METER_CONFIG") {
                "5"
            } else {
                "all"
            };
            assert_eq!(printed, format!("{kind} ({tag}) (xid=0x42): meter={id}\n"));
        }
        let printed = print(
            &Message::Meter(MeterMsg::ConfigReply(configs.clone())),
            protocol,
        );
        let mut ours = format!("OFPST_METER_CONFIG reply ({tag}) (xid=0x42):\n");
        for (i, c) in configs.iter().enumerate() {
            if i > 0 {
                ours.push('\n');
            }
            format_meter_config(c, &mut ours);
            ours.push('\n');
        }
        assert_eq!(printed, ours);
        let printed = print(
            &Message::Meter(MeterMsg::StatsReply(stats.clone())),
            protocol,
        );
        let mut ours = format!("OFPST_METER reply ({tag}) (xid=0x42):\n");
        for (i, s) in stats.iter().enumerate() {
            if i > 0 {
                ours.push('\n');
            }
            format_meter_stats(s, &mut ours);
        }
        assert_eq!(printed, ours);
    }
}

#[test]
fn meters_do_not_exist_before_openflow_1_3() {
    let msg = Message::Meter(MeterMsg::StatsRequest(MeterId::ALL));
    for protocol in [Protocol::Of10NxmTid, Protocol::Of11, Protocol::Of12] {
        assert!(wire::encode(&msg, protocol, 1).is_err(), "{protocol:?}");
    }
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    /// A header for a meter-mod (kind 0), or a meter statistics (1) or configuration (2)
    /// request or reply, in OpenFlow 1.3 to 1.5 (length fixed later).
    fn header(version: u8, kind: u8, reply: bool) -> Vec<u8> {
        let mut b = vec![version, 29, 0, 0, 0, 0, 0, 1];
        if kind > 0 {
            b[1] = if reply { 19 } else { 18 };
            b.extend_from_slice(&[0, 8 + kind, 0, 0, 0, 0, 0, 0]);
        }
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bodies after a meter header: an error or a message, never a panic; what
        /// decodes encodes again and decodes to the same message.
        #[test]
        fn random_meter_bodies_never_panic(
            version in prop::sample::select(vec![4u8, 5, 6]),
            kind in 0u8..3,
            reply in any::<bool>(),
            body in prop::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut b = header(version, kind, reply);
            b.extend_from_slice(&body);
            let len = u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
            b[2..4].copy_from_slice(&len);
            if let Ok((_, m @ Message::Meter(_))) = wire::decode(&b) {
                let protocol = match version {
                    4 => Protocol::Of13,
                    5 => Protocol::Of14,
                    _ => Protocol::Of15,
                };
                let again = wire::encode(&m, protocol, 1).map(|e| wire::decode(&e).map(|(_, m)| m));
                prop_assert!(matches!(again, Ok(Ok(ref back)) if *back == m), "{:?}", m);
            }
        }

        /// Arbitrary meter text: an error or a meter-mod, never a panic.
        #[test]
        fn random_meter_text_never_panics(s in "[a-z_=:,0-9 ]{0,60}") {
            let _ = parse_meter_mod(&s, MeterModCommand::Add);
            let _ = parse_meter_mod(&s, MeterModCommand::Delete);
        }
    }
}
