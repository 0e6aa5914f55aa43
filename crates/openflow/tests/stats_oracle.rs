//! Flow, aggregate and description statistics against Open vSwitch: replies built from the
//! seed's br-tun flows (captured from a real `ovs-ofctl dump-flows`) must print, through
//! `ovs-ofctl ofp-print`, exactly as those captured lines; every message must decode back to
//! itself. Needs `ovs-ofctl` on PATH (CI installs `openvswitch-common`).

use fvs_openflow::normalize::normalize_for;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text::parse_flow_mod;
use fvs_openflow::wire::{
    self, AggregateStats, DescStats, FlowStats, FlowStatsReply, FlowStatsRequest, Message,
};
use fvs_openflow::{Cookie, FlowModCommand, PortNo, TableId};
use fvs_test_support::{ofp_print, require_tool};

const SEED: &str = include_str!("../../../examples/seed/br-tun.flows");

/// A captured dump-flows line as a reply entry: the statistics ovs-ofctl prints (duration,
/// counters, ages) are read here, the flow itself by the text parser.
fn entry(line: &str) -> FlowStats {
    let mut f = FlowStats::default();
    let mut rest = Vec::new();
    for part in line.trim().split(", ") {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "duration" => {
                let v = v.trim_end_matches('s');
                let (sec, frac) = v.split_once('.').unwrap_or((v, "0"));
                f.duration_sec = sec.parse().expect("seconds");
                f.duration_nsec = format!("{frac:0<9}").parse().expect("fraction");
            }
            "n_packets" => f.packet_count = v.parse().expect("n_packets"),
            "n_bytes" => f.byte_count = v.parse().expect("n_bytes"),
            "idle_age" => f.idle_age = Some(v.parse().expect("idle_age")),
            "hard_age" => f.hard_age = Some(v.parse().expect("hard_age")),
            _ => rest.push(part),
        }
    }
    let (fm, _) = parse_flow_mod(&rest.join(", "), FlowModCommand::Add).expect("seed flow parses");
    f.table = fm.table.unwrap_or_default();
    f.priority = fm.priority;
    f.cookie = fm.cookie;
    f.idle_timeout = fm.idle_timeout;
    f.hard_timeout = fm.hard_timeout;
    f.r#match = fm.r#match;
    f.actions = fm.actions;
    // Open vSwitch leaves hard_age out when it equals the duration; give it that value for
    // flows that do not print it, so the encoder's age handling is exercised.
    if f.hard_age.is_none() {
        f.hard_age = u16::try_from(f.duration_sec).ok();
    }
    f
}

fn seed_entries() -> Vec<FlowStats> {
    SEED.lines()
        .filter(|l| !l.trim().is_empty())
        .map(entry)
        .collect()
}

/// The seed was captured from an Open vSwitch that trims a duration's trailing zeros
/// (`11508.84s`); 3.1 prints milliseconds always (`11508.840s`).
fn three_decimals(line: &str) -> String {
    line.trim()
        .split(", ")
        .map(|p| {
            match p
                .strip_prefix("duration=")
                .and_then(|d| d.strip_suffix('s'))
            {
                Some(d) => {
                    let (sec, frac) = d.split_once('.').unwrap_or((d, ""));
                    format!("duration={sec}.{frac:0<3}s")
                }
                None => p.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The actions `ovs-ofctl parse-flow` shows for a seed line's flow in `-O OpenFlow13`, which
/// rewrites the Nicira-era actions (`mod_vlan_vid`, `strip_vlan`, `set_tunnel`) as 1.3 does.
fn of13_actions(line: &str) -> String {
    let flow: Vec<&str> = line
        .trim()
        .split(", ")
        .filter(|p| {
            ![
                "duration=",
                "n_packets=",
                "n_bytes=",
                "idle_age=",
                "hard_age=",
            ]
            .iter()
            .any(|k| p.starts_with(k))
        })
        .collect();
    let out = require_tool("ovs-ofctl")
        .command()
        .args(["-O", "OpenFlow13", "parse-flow", &flow.join(",")])
        .output()
        .expect("ovs-ofctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.find(" actions=").expect("parse-flow prints actions");
    text[at + 1..].trim().to_string()
}

fn printed_entries(printed: &str) -> Vec<String> {
    printed
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn nxst_flow_reply_prints_as_the_captured_dump_flows() {
    let flows = seed_entries();
    let msg = Message::FlowStatsReply(FlowStatsReply {
        more: false,
        flows: flows.clone(),
    });
    let bytes = wire::encode(&msg, Protocol::Of10NxmTid, 0).expect("encodes");
    let printed = ofp_print(&bytes);
    assert_eq!(printed.lines().next(), Some("NXST_FLOW reply (xid=0x0):"));
    let want: Vec<String> = SEED.lines().map(three_decimals).collect();
    assert_eq!(
        printed_entries(&printed),
        want,
        "ovs-ofctl printed\n{printed}"
    );
    let (_, back) = wire::decode(&bytes).expect("decodes");
    assert_eq!(back, msg);
}

#[test]
fn of13_flow_reply_prints_the_captured_flows_without_ages() {
    for (p, tag) in [(Protocol::Of13, "OF1.3"), (Protocol::Of14, "OF1.4")] {
        let mut flows = seed_entries();
        for f in &mut flows {
            // OpenFlow 1.3 has no ages.
            f.idle_age = None;
            f.hard_age = None;
        }
        let msg = Message::FlowStatsReply(FlowStatsReply { more: false, flows });
        let bytes = wire::encode(&msg, p, 7).expect("encodes");
        let printed = ofp_print(&bytes);
        assert_eq!(
            printed.lines().next().map(str::to_string),
            Some(format!("OFPST_FLOW reply ({tag}) (xid=0x7):"))
        );
        let want: Vec<String> = SEED
            .lines()
            .map(|l| {
                let no_ages = three_decimals(l)
                    .split(", ")
                    .filter(|p| !p.starts_with("idle_age=") && !p.starts_with("hard_age="))
                    .collect::<Vec<_>>()
                    .join(", ");
                let head = no_ages.split(" actions=").next().unwrap_or_default();
                format!("{head} {}", of13_actions(l))
            })
            .collect();
        assert_eq!(
            printed_entries(&printed),
            want,
            "ovs-ofctl printed\n{printed}"
        );
        // Decoding gives the actions as 1.3 carries them; encoding that again is identical.
        let (_, back) = wire::decode(&bytes).expect("decodes");
        let Message::FlowStatsReply(mut want_back) = msg else {
            unreachable!()
        };
        for f in &mut want_back.flows {
            f.actions = normalize_for(&f.actions, &f.r#match, p);
        }
        assert_eq!(back, Message::FlowStatsReply(want_back));
        assert_eq!(wire::encode(&back, p, 7).expect("re-encodes"), bytes);
    }
}

#[test]
fn large_replies_split_into_full_messages_flagged_more() {
    let one = seed_entries().remove(0);
    let flows = vec![one; 2000];
    for p in [Protocol::Of10NxmTid, Protocol::Of13] {
        let parts = wire::encode_flow_stats_reply(&flows, p, 9).expect("encodes");
        assert!(parts.len() > 1, "2000 flows need more than one message");
        let mut total = 0;
        for (i, part) in parts.iter().enumerate() {
            assert!(part.len() <= 65535);
            let printed = ofp_print(part);
            let first = printed.lines().next().unwrap_or_default();
            assert_eq!(
                first.contains("flags=[more]"),
                i + 1 != parts.len(),
                "{first}"
            );
            let Ok((_, Message::FlowStatsReply(r))) = wire::decode(part) else {
                panic!("part {i} does not decode");
            };
            assert_eq!(r.more, i + 1 != parts.len());
            total += r.flows.len();
            if i + 1 != parts.len() {
                // Full: one more entry would not have fitted.
                let entry_len =
                    (part.len() - if p == Protocol::Of13 { 16 } else { 24 }) / r.flows.len();
                assert!(part.len() + entry_len > 65535);
            }
        }
        assert_eq!(total, 2000);
    }
}

#[test]
fn requests_print_as_ovs_ofctl_reads_them() {
    let mut req = FlowStatsRequest {
        table: Some(TableId(2)),
        out_port: PortNo(3),
        ..FlowStatsRequest::default()
    };
    let (fm, _) = parse_flow_mod(
        "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        FlowModCommand::Delete,
    )
    .expect("parses");
    req.r#match = fm.r#match;
    let cases: [(Protocol, bool, &str); 4] = [
        (
            Protocol::Of10NxmTid,
            false,
            "NXST_FLOW request (xid=0x1): table=2 out_port=3 dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        ),
        (
            Protocol::Of13,
            false,
            "OFPST_FLOW request (OF1.3) (xid=0x1): table=2 out_port=3 dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        ),
        (
            Protocol::Of10NxmTid,
            true,
            "NXST_AGGREGATE request (xid=0x1): table=2 out_port=3 dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        ),
        (
            Protocol::Of13,
            true,
            "OFPST_AGGREGATE request (OF1.3) (xid=0x1): table=2 out_port=3 dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        ),
    ];
    for (p, aggregate, want) in cases {
        let mut r = req.clone();
        if p == Protocol::Of13 {
            r.cookie = Cookie(0x10);
            r.cookie_mask = Cookie(0xff);
        }
        let msg = if aggregate {
            Message::AggregateStatsRequest(Box::new(r))
        } else {
            Message::FlowStatsRequest(Box::new(r))
        };
        let bytes = wire::encode(&msg, p, 1).expect("encodes");
        let printed = ofp_print(&bytes);
        // (ovs-ofctl does not print a request's cookie; the round trip below checks it.)
        assert_eq!(printed.trim_end(), want, "{p:?}");
        let (_, back) = wire::decode(&bytes).expect("decodes");
        assert_eq!(back, msg);
    }
}

#[test]
fn aggregate_and_desc_replies_print_as_ovs_ofctl_reads_them() {
    let agg = Message::AggregateStatsReply(AggregateStats {
        packet_count: 7,
        byte_count: 700,
        flow_count: 3,
    });
    let desc = Message::DescStatsReply(Box::new(DescStats {
        mfr_desc: "ferrovs".into(),
        hw_desc: "hw".into(),
        sw_desc: "1.0".into(),
        serial_num: "None".into(),
        dp_desc: "br-tun".into(),
    }));
    for p in [Protocol::Of10NxmTid, Protocol::Of13, Protocol::Of15] {
        for msg in [&agg, &desc] {
            let bytes = wire::encode(msg, p, 1).expect("encodes");
            let printed = ofp_print(&bytes);
            assert!(!printed.contains("error"), "{printed}");
            if matches!(msg, Message::AggregateStatsReply(_)) {
                assert!(
                    printed.contains("packet_count=7 byte_count=700 flow_count=3"),
                    "{printed}"
                );
            } else {
                for l in [
                    "Manufacturer: ferrovs",
                    "Hardware: hw",
                    "Software: 1.0",
                    "Serial Num: None",
                    "DP Description: br-tun",
                ] {
                    assert!(printed.contains(l), "{printed}");
                }
            }
            let (_, back) = wire::decode(&bytes).expect("decodes");
            assert_eq!(&back, msg);
        }
    }
}

#[test]
fn requests_for_ethernet_packets_carry_the_packet_type_first() {
    let mut req = FlowStatsRequest {
        packet_type: Some(0),
        ..FlowStatsRequest::default()
    };
    req.r#match.set(fvs_flow::Field::InPort, 1);
    for (p, head) in [
        (
            Protocol::Of10NxmTid,
            "NXST_FLOW request (xid=0x42): in_port=1",
        ),
        (
            Protocol::Of13,
            "OFPST_FLOW request (OF1.3) (xid=0x42): in_port=1",
        ),
    ] {
        let m = Message::FlowStatsRequest(Box::new(req.clone()));
        let bytes = wire::encode(&m, p, 0x42).expect("encodes");
        // Open vSwitch's packet_type header (OXM class 0x8000, field 44) leads the match.
        let pt = [0x80, 0x00, 0x58, 0x04, 0, 0, 0, 0];
        assert!(bytes.windows(8).any(|w| w == pt), "{p:?}: {bytes:02x?}");
        let printed = ofp_print(&bytes);
        assert!(
            printed.starts_with(head) && !printed.contains("***"),
            "{p:?}: {printed}"
        );
        assert_eq!(wire::decode(&bytes).expect("decodes").1, m, "{p:?}");
    }
}

#[test]
fn of15_flow_reply_carries_statistics_as_oxs_with_the_idle_time() {
    let mut flows = seed_entries();
    for f in &mut flows {
        // OpenFlow 1.5 reports the idle time (printed as idle_age), not the hard age.
        f.hard_age = None;
    }
    let msg = Message::FlowStatsReply(FlowStatsReply { more: false, flows });
    let bytes = wire::encode(&msg, Protocol::Of15, 7).expect("encodes");
    let printed = ofp_print(&bytes);
    assert_eq!(
        printed.lines().next(),
        Some("OFPST_FLOW reply (OF1.5) (xid=0x7):"),
        "{printed}"
    );
    let want: Vec<String> = SEED
        .lines()
        .map(|l| {
            let no_hard_age = three_decimals(l)
                .split(", ")
                .filter(|p| !p.starts_with("hard_age="))
                .collect::<Vec<_>>()
                .join(", ");
            let head = no_hard_age.split(" actions=").next().unwrap_or_default();
            format!("{head} {}", of13_actions(l))
        })
        .collect();
    assert_eq!(
        printed_entries(&printed),
        want,
        "ovs-ofctl printed\n{printed}"
    );
    let (_, back) = wire::decode(&bytes).expect("decodes");
    assert_eq!(
        wire::encode(&back, Protocol::Of15, 7).expect("re-encodes"),
        bytes
    );
}
