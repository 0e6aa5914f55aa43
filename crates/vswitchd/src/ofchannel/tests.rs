//! The channel's exchanges, byte for byte, against a bridge from the pipeline.

use super::*;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::text;
use fvs_openflow::wire::RoleMsg;
use fvs_pipeline::bridge::{Bridge, FailMode};

/// A pipeline bridge, its fragment handling mode and its master-election generation id.
struct TestBridge(Bridge, u16, Option<u64>);

impl Ofproto for TestBridge {
    fn features(&self, version: Version) -> Option<Features> {
        Some(features(version, 0x1234, Vec::new()))
    }
    fn flow_mod(&mut self, fm: &FlowMod, now: Millis) -> Result<Vec<Removed>, FlowModError> {
        self.0.flow_mod(fm, now)
    }
    fn packet_out(&mut self, _: &PacketOut, _: Millis) -> Vec<AsyncEvent> {
        Vec::new()
    }
    fn role_generation(&mut self, g: u64) -> Result<(), RoleError> {
        self.2 = Some(g);
        Ok(())
    }
    fn generation_id(&self) -> Option<u64> {
        self.2
    }
    fn publish(&mut self, _: AsyncEvent) {}
    fn bridge(&self) -> Option<&Bridge> {
        Some(&self.0)
    }
    fn frag_mode(&self) -> u16 {
        self.1
    }
    fn set_frag_mode(&mut self, flags: u16) {
        self.1 = flags;
    }
    fn start_journal(&mut self) {
        self.0.set_journal(true);
    }
    fn take_changes(&mut self) -> Vec<fvs_pipeline::bridge::TableChange> {
        self.0.take_changes()
    }
}

fn bridge() -> TestBridge {
    TestBridge(Bridge::new("br-test", FailMode::Secure, Millis(0)), 0, None)
}

fn enc(msg: &Message, p: Protocol, xid: u32) -> Vec<u8> {
    wire::encode(msg, p, xid).expect("encodable")
}

fn hello(v: Version) -> Vec<u8> {
    enc(
        &Message::Hello(Hello { bitmap: None }),
        v.default_protocol(),
        1,
    )
}

fn replies(c: &mut Channel) -> Vec<(wire::Header, Message)> {
    std::iter::from_fn(|| c.poll_transmit())
        .map(|b| wire::decode(&b).expect("the channel writes valid messages"))
        .collect()
}

/// A channel past the hello exchange at `v`.
fn open(v: Version, b: &mut TestBridge) -> Channel {
    let mut c = Channel::new(VersionBitmap::ALL);
    c.handle_bytes(Millis(0), &hello(v), b);
    assert_eq!(c.version(), Some(v));
    let r = replies(&mut c);
    assert!(matches!(r[0].1, Message::Hello(_)));
    c
}

fn flow_mod(text_flow: &str) -> FlowMod {
    let (fm, _) = text::parse_flow_mod(text_flow, FlowModCommand::Add).expect("valid flow");
    fm
}

use fvs_openflow::FlowModCommand;

#[test]
fn hello_offers_the_allowed_versions_and_negotiates_the_highest_common() {
    let mut b = bridge();
    let mut c = Channel::new(allowed_versions(&[
        "OpenFlow10".into(),
        "OpenFlow13".into(),
    ]));
    let r = replies(&mut c);
    assert_eq!(r[0].0.version, 4);
    assert_eq!(
        r[0].1,
        Message::Hello(Hello {
            bitmap: Some(VersionBitmap::of(&[Version::Of10, Version::Of13]))
        })
    );
    // A peer offering up to 1.2 (no bitmap) shares only 1.0 with this bridge.
    c.handle_bytes(Millis(0), &hello(Version::Of12), &mut b);
    assert_eq!(c.version(), Some(Version::Of10));
}

#[test]
fn no_common_version_is_an_incompatible_hello_error_and_a_close() {
    let mut b = bridge();
    let mut c = Channel::new(allowed_versions(&["OpenFlow13".into()]));
    replies(&mut c);
    c.handle_bytes(Millis(0), &hello(Version::Of10), &mut b);
    let r = replies(&mut c);
    let Message::Error(e) = &r[0].1 else {
        panic!("expected an error, got {r:?}")
    };
    assert_eq!(
        e.code,
        OfpError::HelloIncompatible.code_or_fallback(Version::Of10)
    );
    assert!(c.is_closed());
}

#[test]
fn partial_and_coalesced_messages_are_each_answered_in_order() {
    let mut b = bridge();
    let mut c = open(Version::Of13, &mut b);
    let mut stream = enc(&Message::EchoRequest(b"one".to_vec()), Protocol::Of13, 10);
    stream.extend(enc(&Message::BarrierRequest, Protocol::Of13, 11));
    stream.extend(enc(
        &Message::EchoRequest(b"two".to_vec()),
        Protocol::Of13,
        12,
    ));
    // Byte by byte: nothing is answered before a message is whole.
    let (first, rest) = stream.split_at(5);
    c.handle_bytes(Millis(0), first, &mut b);
    assert!(c.poll_transmit().is_none());
    c.handle_bytes(Millis(0), rest, &mut b);
    let r = replies(&mut c);
    let got: Vec<(u32, Message)> = r.into_iter().map(|(h, m)| (h.xid, m)).collect();
    assert_eq!(
        got,
        vec![
            (10, Message::EchoReply(b"one".to_vec())),
            (11, Message::BarrierReply),
            (12, Message::EchoReply(b"two".to_vec())),
        ]
    );
}

#[test]
fn features_and_config_round_trip() {
    let mut b = bridge();
    let mut c = open(Version::Of10, &mut b);
    let mut stream = enc(&Message::FeaturesRequest, Protocol::Of10NxmTid, 2);
    let cfg = SwitchConfig {
        flags: 1,
        miss_send_len: 200,
    };
    stream.extend(enc(&Message::SetConfig(cfg), Protocol::Of10NxmTid, 3));
    stream.extend(enc(&Message::GetConfigRequest, Protocol::Of10NxmTid, 4));
    c.handle_bytes(Millis(0), &stream, &mut b);
    let r = replies(&mut c);
    assert_eq!(r.len(), 2);
    let Message::FeaturesReply(f) = &r[0].1 else {
        panic!("{r:?}")
    };
    assert_eq!((f.datapath_id, f.n_tables), (0x1234, 254));
    assert_eq!(r[1].1, Message::GetConfigReply(cfg));
}

#[test]
fn flow_mods_reach_the_bridge_and_refusals_get_the_error_reply() {
    let mut b = bridge();
    let mut c = open(Version::Of13, &mut b);
    let fm = flow_mod("table=3,priority=5,ip,actions=drop");
    let m = Message::FlowMod(Box::new(fm));
    c.handle_bytes(Millis(0), &enc(&m, Protocol::Of13, 5), &mut b);
    assert!(c.poll_transmit().is_none());
    assert_eq!(b.0.rules().len(), 1);
    // A different rule of the same priority that matches some of the same packets overlaps.
    // (An identical one would not: an add replaces its identical rule, as in Open vSwitch.)
    let mut again = flow_mod("table=3,priority=5,ip,nw_src=10.0.0.1,actions=drop");
    again.flags.check_overlap = true;
    let m = Message::FlowMod(Box::new(again));
    c.handle_bytes(Millis(0), &enc(&m, Protocol::Of13, 6), &mut b);
    let r = replies(&mut c);
    let Message::Error(e) = &r[0].1 else {
        panic!("{r:?}")
    };
    assert_eq!((r[0].0.xid, e.code.r#type, e.code.code), (6, 5, 3));
}

#[test]
fn malformed_messages_get_errors_and_the_connection_lives_on() {
    let mut b = bridge();
    let mut c = open(Version::Of13, &mut b);
    // An unknown message type, then a truncated role request, then an echo.
    let mut bad_type = vec![4, 200, 0, 8, 0, 0, 0, 7];
    bad_type.extend([4, 24, 0, 12, 0, 0, 0, 8, 0, 0, 0, 1]);
    bad_type.extend(enc(&Message::EchoRequest(vec![]), Protocol::Of13, 9));
    c.handle_bytes(Millis(0), &bad_type, &mut b);
    let r = replies(&mut c);
    assert_eq!(r.len(), 3, "{r:?}");
    let Message::Error(e) = &r[0].1 else {
        panic!("{r:?}")
    };
    assert_eq!(e.code, OfpError::BadType.code_or_fallback(Version::Of13));
    assert_eq!(e.data, vec![4, 200, 0, 8, 0, 0, 0, 7]);
    assert!(matches!(r[1].1, Message::Error(_)));
    assert_eq!(r[2], (r[2].0, Message::EchoReply(vec![])));
    assert!(!c.is_closed());
}

#[test]
fn a_message_in_another_version_is_bad_version() {
    let mut b = bridge();
    let mut c = open(Version::Of13, &mut b);
    c.handle_bytes(
        Millis(0),
        &enc(&Message::EchoRequest(vec![]), Protocol::Of10NxmTid, 3),
        &mut b,
    );
    let r = replies(&mut c);
    let Message::Error(e) = &r[0].1 else {
        panic!("{r:?}")
    };
    assert_eq!(e.code, OfpError::BadVersion.code_or_fallback(Version::Of13));
}

#[test]
fn a_length_below_the_header_closes_the_connection() {
    let mut b = bridge();
    let mut c = open(Version::Of13, &mut b);
    c.handle_bytes(Millis(0), &[4, 2, 0, 4, 0, 0, 0, 1], &mut b);
    assert!(c.is_closed());
}

#[test]
fn role_requests_are_remembered() {
    let mut b = bridge();
    let mut c = open(Version::Of13, &mut b);
    let req = |role| {
        Message::RoleRequest(RoleMsg {
            role,
            generation_id: Some(7),
        })
    };
    c.handle_bytes(
        Millis(0),
        &enc(&req(Role::Slave), Protocol::Of13, 1),
        &mut b,
    );
    c.handle_bytes(
        Millis(0),
        &enc(&req(Role::NoChange), Protocol::Of13, 2),
        &mut b,
    );
    let r = replies(&mut c);
    for (_, m) in &r {
        assert_eq!(
            *m,
            Message::RoleReply(RoleMsg {
                role: Role::Slave,
                generation_id: Some(7)
            })
        );
    }
}

#[test]
fn nicira_flow_format_settings_are_accepted_silently() {
    let mut b = bridge();
    let mut c = open(Version::Of10, &mut b);
    // NXT_SET_FLOW_FORMAT(NXFF_NXM).
    let msg = [
        1, 4, 0, 20, 0, 0, 0, 1, 0, 0, 0x23, 0x20, 0, 0, 0, 12, 0, 0, 0, 2,
    ];
    c.handle_bytes(Millis(0), &msg, &mut b);
    assert!(c.poll_transmit().is_none());
    assert_eq!(c.flow_format(), FlowFormat::Nxm);
}

#[test]
fn flow_stats_answer_in_the_requests_form_and_split_large_replies() {
    let mut b = bridge();
    for i in 0..3000u32 {
        let fm = flow_mod(&format!("table=1,priority=5,tun_id={i},actions=output:2"));
        b.0.flow_mod(&fm, Millis(0)).expect("added");
    }
    b.0.flow_mod(&flow_mod("table=0,actions=drop"), Millis(0))
        .expect("added");
    let mut c = open(Version::Of10, &mut b);
    let all = wire::FlowStatsRequest::default();
    // Nicira's form in, Nicira's form out; 3001 flows do not fit one message.
    let req = Message::FlowStatsRequest(Box::new(all.clone()));
    c.handle_bytes(Millis(2500), &enc(&req, Protocol::Of10Nxm, 5), &mut b);
    let parts: Vec<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert!(parts.len() > 1, "{} parts", parts.len());
    let mut total = 0;
    for (i, p) in parts.iter().enumerate() {
        // NXST: vendor stats type.
        assert_eq!(&p[8..10], &[0xff, 0xff]);
        let Ok((h, Message::FlowStatsReply(r))) = wire::decode(p) else {
            panic!("part {i} is not a flow stats reply");
        };
        assert_eq!(h.xid, 5);
        assert_eq!(r.more, i + 1 < parts.len());
        if i == 0 {
            let f = &r.flows[0];
            assert_eq!(
                (f.table.0, f.duration_sec, f.duration_nsec),
                (0, 2, 500_000_000)
            );
            assert_eq!((f.idle_age, f.hard_age), (Some(2), Some(2)));
        }
        total += r.flows.len();
    }
    assert_eq!(total, 3001);
    // The standard form with a table and out_port filter: only table 0's flow is there, and
    // it outputs nowhere, so out_port=2 selects table 1's flows only.
    let req = Message::FlowStatsRequest(Box::new(wire::FlowStatsRequest {
        table: Some(fvs_openflow::TableId(0)),
        ..all.clone()
    }));
    c.handle_bytes(Millis(2500), &enc(&req, Protocol::Of10Std, 6), &mut b);
    let r = replies(&mut c);
    let [(_, Message::FlowStatsReply(r))] = &r[..] else {
        panic!("{r:?}")
    };
    assert_eq!(r.flows.len(), 1);
    let req = Message::AggregateStatsRequest(Box::new(wire::FlowStatsRequest {
        out_port: fvs_openflow::PortNo(2),
        ..all
    }));
    c.handle_bytes(Millis(2500), &enc(&req, Protocol::Of10Std, 7), &mut b);
    let r = replies(&mut c);
    let [(_, Message::AggregateStatsReply(a))] = &r[..] else {
        panic!("{r:?}")
    };
    assert_eq!(a.flow_count, 3000);
}

mod flow_monitors {
    use super::*;
    use fvs_openflow::wire::flow_monitor::{
        FlowMonitorMsg, FlowMonitorRequest, FlowUpdate, MonitorFlags, MonitorId,
    };

    fn watch(c: &mut Channel, b: &mut TestBridge, v: Version, id: u32, flags: MonitorFlags) {
        let req = Message::FlowMonitor(FlowMonitorMsg::Request(vec![FlowMonitorRequest::new(
            MonitorId(id),
            flags,
        )]));
        c.handle_bytes(Millis(0), &enc(&req, v.default_protocol(), 7), b);
    }

    fn add(c: &mut Channel, b: &mut TestBridge, v: Version, flow: &str, xid: u32) {
        let fm = Message::FlowMod(Box::new(flow_mod(flow)));
        let p = if v == Version::Of10 {
            Protocol::Of10Std
        } else {
            v.default_protocol()
        };
        c.handle_bytes(Millis(0), &enc(&fm, p, xid), b);
    }

    #[test]
    fn own_flow_mods_come_back_abbreviated_or_in_full_as_asked() {
        for v in [Version::Of10, Version::Of13, Version::Of15] {
            let mut b = bridge();
            let mut c = open(v, &mut b);
            let not_own = MonitorFlags {
                own: false,
                ..MonitorFlags::ALL
            };
            watch(&mut c, &mut b, v, 1, not_own);
            add(&mut c, &mut b, v, "priority=5,ip,actions=drop", 0x51);
            let r = replies(&mut c);
            let Some((_, Message::FlowMonitor(FlowMonitorMsg::Reply { updates, .. }))) = r.last()
            else {
                panic!("{v}: no update: {r:?}");
            };
            assert_eq!(updates, &vec![FlowUpdate::Abbrev { xid: 0x51 }], "{v}");
            // The same id again is refused with an error of xid 0 and no data.
            watch(&mut c, &mut b, v, 1, MonitorFlags::ALL);
            let r = replies(&mut c);
            assert!(
                matches!(&r[..], [(h, Message::Error(e))] if h.xid == 0 && e.data.is_empty()),
                "{v}: {r:?}"
            );
            // A monitor with `own` gets the change in full.
            watch(&mut c, &mut b, v, 2, MonitorFlags::ALL);
            let _ = replies(&mut c);
            add(&mut c, &mut b, v, "priority=6,ip,actions=drop", 0x52);
            let r = replies(&mut c);
            let Some((_, Message::FlowMonitor(FlowMonitorMsg::Reply { updates, .. }))) = r.last()
            else {
                panic!("{v}: no update: {r:?}");
            };
            assert!(
                matches!(&updates[..], [FlowUpdate::Full(_)]),
                "{v}: {updates:?}"
            );
        }
    }

    #[test]
    fn bad_records_are_refused_bare_and_bad_framing_with_the_request() {
        for v in [Version::Of10, Version::Of13, Version::Of14] {
            let mut b = bridge();
            let mut c = open(v, &mut b);
            let initial_only = MonitorFlags {
                initial: true,
                ..MonitorFlags::default()
            };
            watch(&mut c, &mut b, v, 1, initial_only);
            let r = replies(&mut c);
            assert!(
                matches!(&r[..], [(h, Message::Error(e))] if h.xid == 0 && e.data.is_empty()),
                "{v}: {r:?}"
            );
            // A body that is not whole records is a framing error: the request is quoted.
            let req = Message::FlowMonitor(FlowMonitorMsg::Request(vec![FlowMonitorRequest::new(
                MonitorId(2),
                MonitorFlags::ALL,
            )]));
            let mut bytes = enc(&req, v.default_protocol(), 9);
            bytes.truncate(bytes.len() - 4);
            let len = u16::try_from(bytes.len()).expect("short");
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
            c.handle_bytes(Millis(0), &bytes, &mut b);
            let r = replies(&mut c);
            assert!(
                matches!(&r[..], [(h, Message::Error(e))] if h.xid == 9 && e.data == bytes),
                "{v}: {r:?}"
            );
        }
    }

    #[test]
    fn a_backed_up_connection_pauses_then_resyncs_and_resumes() {
        let v = Version::Of10;
        let mut b = bridge();
        let mut c = open(v, &mut b);
        watch(&mut c, &mut b, v, 1, MonitorFlags::ALL);
        let _ = replies(&mut c);
        // Nothing is written meanwhile: the updates of many adds pile up until the backlog
        // passes the threshold, then one PAUSED, then nothing more.
        for i in 0..3000u32 {
            add(
                &mut c,
                &mut b,
                v,
                &format!("priority=7,tcp,tp_dst={i},actions=output:1"),
                i,
            );
        }
        let pending: Vec<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit()).collect();
        let decoded: Vec<Message> = pending
            .iter()
            .map(|m| wire::decode(m).expect("valid").1)
            .collect();
        let paused = decoded
            .iter()
            .position(|m| matches!(m, Message::FlowMonitor(FlowMonitorMsg::Paused)))
            .expect("PAUSED was sent");
        assert_eq!(paused, decoded.len() - 1, "nothing is queued after PAUSED");
        let before: usize = pending[..paused].iter().map(Vec::len).sum();
        assert!(
            before > flow_monitor::BACKLOG_MAX,
            "paused at {before} bytes"
        );
        let reported: usize = decoded[..paused]
            .iter()
            .map(|m| match m {
                Message::FlowMonitor(FlowMonitorMsg::Reply { updates, .. }) => updates.len(),
                _ => 0,
            })
            .sum();
        // Drained: the next look lists every flow added since the pause (the one whose
        // update was dropped first included) as added, then RESUMED.
        assert!(c.monitors_resume_due());
        c.resume_monitors(Some(&b.0));
        let r = replies(&mut c);
        let listed: usize = r
            .iter()
            .map(|(_, m)| match m {
                Message::FlowMonitor(FlowMonitorMsg::Reply { updates, .. }) => updates.len(),
                _ => 0,
            })
            .sum();
        assert!(reported > 0);
        assert_eq!(listed, 3000 - reported);
        assert!(matches!(
            r.last(),
            Some((_, Message::FlowMonitor(FlowMonitorMsg::Resumed)))
        ));
        assert!(!c.monitors_resume_due());
    }
}
