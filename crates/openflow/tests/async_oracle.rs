//! Asynchronous messages and packet-out against Open vSwitch: `ovs-ofctl ofp-print` must read
//! ferrovs's packet-ins (every form), flow-removeds, port-statuses, packet-outs and async
//! settings as the messages they were meant to be, in every version that has them, and
//! ferrovs's decoder must give each message back. Needs `ovs-ofctl` on PATH.

use fvs_flow::{Field, Match, PortNo};
use fvs_openflow::action::{Action, Output, PacketInReason};
use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::{
    self, AsyncConfig, AsyncMsg, FlowRemoved, FlowRemovedReason, Message, PacketIn, PacketInFormat,
    PacketOut, PortDesc, PortReason, PortStatus,
};
use fvs_openflow::{Cookie, EthAddr};
use fvs_test_support::ofp_print;

/// Encodes, checks that ovs-ofctl prints every line of `expect` (exactly, in order, as
/// consecutive lines of its output), and that ferrovs decodes the message back.
fn check(msg: &Message, protocol: Protocol, expect: &str) {
    let bytes = wire::encode(msg, protocol, 0x42).expect("encodes");
    let printed = ofp_print(&bytes);
    if std::env::var_os("FVS_PRINT").is_some() {
        eprintln!("{protocol:?}:\n{printed}");
    }
    assert!(
        printed.contains(expect),
        "{msg:?} in {protocol:?}: ovs-ofctl printed\n{printed}\nexpected\n{expect}"
    );
    let (h, back) = wire::decode(&bytes).expect("decodes");
    assert_eq!(h.xid, 0x42);
    assert_eq!(&back, msg, "round trip in {protocol:?}");
}

/// A 60-byte UDP packet from 10.0.0.1:1234 to 10.0.0.2:80.
fn udp_frame() -> Vec<u8> {
    let mut f = vec![
        0x00, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x00, // IPv4
        0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, // header
        10, 0, 0, 1, 10, 0, 0, 2, // addresses
        0x04, 0xd2, 0x00, 0x50, 0x00, 0x1a, 0x00, 0x00, // udp
    ];
    f.resize(60, 0);
    // IPv4 header checksum, so ovs-ofctl prints no checksum complaint.
    let mut sum: u32 = 0;
    for w in f[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

const FRAME_TEXT: &str = "udp,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=1234,tp_dst=80 udp_csum:0";

fn packet_in(format: PacketInFormat, reason: PacketInReason) -> PacketIn {
    let mut metadata = Match::CATCHALL;
    metadata.set(Field::InPort, 3);
    let data = udp_frame();
    PacketIn {
        format,
        reason,
        table_id: 0,
        cookie: Cookie(0),
        metadata,
        total_len: data.len() as u32,
        buffer_id: None,
        data,
        userdata: None,
        continuation: None,
    }
}

fn am(m: AsyncMsg) -> Message {
    Message::Async(m)
}

#[test]
fn packet_in_forms_read_as_open_vswitch_prints_them() {
    let p = packet_in(PacketInFormat::Standard, PacketInReason::Action);
    let mut of10 = p.clone();
    // OpenFlow 1.0's standard form carries no cookie; the decoder reports "none" as all ones.
    of10.cookie = Cookie(u64::MAX);
    check(
        &am(AsyncMsg::PacketIn(Box::new(of10))),
        Protocol::Of10StdTid,
        &format!(
            "OFPT_PACKET_IN (xid=0x42): total_len=60 in_port=3 (via action) data_len=60 (unbuffered)\n{FRAME_TEXT}"
        ),
    );
    for (protocol, name) in [
        (Protocol::Of12, "OFPT_PACKET_IN (OF1.2)"),
        (Protocol::Of13, "OFPT_PACKET_IN (OF1.3)"),
        (Protocol::Of14, "OFPT_PACKET_IN (OF1.4)"),
        (Protocol::Of15, "OFPT_PACKET_IN (OF1.5)"),
    ] {
        let mut p = p.clone();
        if protocol == Protocol::Of12 {
            // OpenFlow 1.2 carries no cookie; the decoder reports "none" as all ones.
            p.cookie = Cookie(u64::MAX);
        }
        let cookie = if protocol == Protocol::Of12 {
            ""
        } else {
            " cookie=0x0"
        };
        check(
            &am(AsyncMsg::PacketIn(Box::new(p))),
            protocol,
            &format!(
                "{name} (xid=0x42):{cookie} total_len=60 in_port=3 (via action) data_len=60 (unbuffered)\n{FRAME_TEXT}"
            ),
        );
    }
    // Nicira's forms carry the registers and the tunnel metadata too.
    let mut nx = packet_in(PacketInFormat::Nxt, PacketInReason::NoMatch);
    nx.metadata.set(Field::Reg0, 5);
    nx.metadata.set(Field::TunId, 0x64);
    nx.cookie = Cookie(0x1234);
    nx.table_id = 7;
    check(
        &am(AsyncMsg::PacketIn(Box::new(nx.clone()))),
        Protocol::Of10NxmTid,
        &format!(
            "NXT_PACKET_IN (xid=0x42): table_id=7 cookie=0x1234 total_len=60 reg0=0x5,tun_id=0x64,in_port=3 (via no_match) data_len=60 (unbuffered)\n{FRAME_TEXT}"
        ),
    );
    let mut nx2 = nx.clone();
    nx2.format = PacketInFormat::Nxt2;
    nx2.reason = PacketInReason::Group;
    nx2.userdata = Some(vec![1, 2, 3]);
    nx2.data.truncate(40);
    check(
        &am(AsyncMsg::PacketIn(Box::new(nx2))),
        Protocol::Of13,
        "NXT_PACKET_IN2 (OF1.3) (xid=0x42): table_id=7 cookie=0x1234 total_len=60 reg0=0x5,tun_id=0x64,in_port=3 (via group) data_len=40 (unbuffered) (***total_len != data_len***)\n userdata=01.02.03\n",
    );
}

#[test]
fn flow_removed_reads_as_open_vswitch_prints_it() {
    let mut m = Match::CATCHALL;
    m.set(Field::InPort, 1);
    m.set(Field::EthType, 0x0800);
    m.set(Field::Ipv4Dst, 0x0a00_0002);
    let f = FlowRemoved {
        r#match: m,
        cookie: Cookie(0xab),
        priority: 100,
        reason: FlowRemovedReason::IdleTimeout,
        table_id: 3,
        duration_sec: 12,
        duration_nsec: 500_000_000,
        idle_timeout: 10,
        hard_timeout: 30,
        packet_count: 4,
        byte_count: 240,
    };
    let msg = |f: &FlowRemoved| am(AsyncMsg::FlowRemoved(Box::new(f.clone())));
    // OpenFlow 1.0's standard form has no table id or hard timeout.
    let mut of10 = f.clone();
    of10.table_id = 0;
    of10.hard_timeout = 0;
    check(
        &msg(&of10),
        Protocol::Of10StdTid,
        "OFPT_FLOW_REMOVED (xid=0x42): priority=100,ip,in_port=1,nw_dst=10.0.0.2 reason=idle cookie:0xab duration12.500s idle10 pkts4 bytes240",
    );
    let mut nx = f.clone();
    nx.hard_timeout = 0;
    check(
        &msg(&nx),
        Protocol::Of10NxmTid,
        "NXT_FLOW_REMOVED (xid=0x42): priority=100,ip,in_port=1,nw_dst=10.0.0.2 reason=idle table_id=3 cookie:0xab duration12.500s idle10 pkts4 bytes240",
    );
    let mut hard = f.clone();
    hard.reason = FlowRemovedReason::HardTimeout;
    for (p, name) in [
        (Protocol::Of12, "OFPT_FLOW_REMOVED (OF1.2)"),
        (Protocol::Of13, "OFPT_FLOW_REMOVED (OF1.3)"),
        (Protocol::Of14, "OFPT_FLOW_REMOVED (OF1.4)"),
        (Protocol::Of15, "OFPT_FLOW_REMOVED (OF1.5)"),
    ] {
        check(
            &msg(&hard),
            p,
            &format!(
                "{name} (xid=0x42): priority=100,ip,in_port=1,nw_dst=10.0.0.2 reason=hard table_id=3 cookie:0xab duration12.500s idle10 hard30 pkts4 bytes240"
            ),
        );
    }
}

#[test]
fn port_status_reads_as_open_vswitch_prints_it() {
    let desc = PortDesc {
        port_no: PortNo(5),
        hw_addr: EthAddr([0xaa, 0x55, 0xaa, 0x55, 0, 1]),
        name: "p5".into(),
        config: 1,
        state: 1,
        curr: 0x820,
        advertised: 0,
        supported: 0,
        peer: 0,
        curr_speed: 10_000_000,
        max_speed: 0,
    };
    for (p, reason, name, what) in [
        (
            Protocol::Of10StdTid,
            PortReason::Add,
            "OFPT_PORT_STATUS",
            "ADD",
        ),
        (
            Protocol::Of12,
            PortReason::Delete,
            "OFPT_PORT_STATUS (OF1.2)",
            "DEL",
        ),
        (
            Protocol::Of13,
            PortReason::Modify,
            "OFPT_PORT_STATUS (OF1.3)",
            "MOD",
        ),
        (
            Protocol::Of14,
            PortReason::Add,
            "OFPT_PORT_STATUS (OF1.4)",
            "ADD",
        ),
        (
            Protocol::Of15,
            PortReason::Add,
            "OFPT_PORT_STATUS (OF1.5)",
            "ADD",
        ),
    ] {
        let mut d = desc.clone();
        if p == Protocol::Of10StdTid {
            d.curr_speed = 0;
        }
        let msg = am(AsyncMsg::PortStatus(Box::new(PortStatus {
            reason,
            desc: d,
        })));
        check(
            &msg,
            p,
            &format!(
                "{name} (xid=0x42): {what}: 5(p5): addr:aa:55:aa:55:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN\n"
            ),
        );
    }
}

#[test]
fn packet_out_reads_as_open_vswitch_prints_it() {
    let out = |port| {
        Action::Output(Output {
            port: PortNo(port),
            max_len: 0,
        })
    };
    let p = PacketOut {
        buffer_id: None,
        in_port: PortNo(1),
        metadata: Match::CATCHALL,
        actions: vec![out(2), out(3)],
        data: udp_frame(),
    };
    for (proto, name) in [
        (Protocol::Of10StdTid, "OFPT_PACKET_OUT"),
        (Protocol::Of12, "OFPT_PACKET_OUT (OF1.2)"),
        (Protocol::Of13, "OFPT_PACKET_OUT (OF1.3)"),
        (Protocol::Of14, "OFPT_PACKET_OUT (OF1.4)"),
        (Protocol::Of15, "OFPT_PACKET_OUT (OF1.5)"),
    ] {
        check(
            &am(AsyncMsg::PacketOut(Box::new(p.clone()))),
            proto,
            &format!(
                "{name} (xid=0x42): in_port=1 actions=output:2,output:3 data_len=60\n{FRAME_TEXT}"
            ),
        );
    }
    // OpenFlow 1.5 carries more metadata than in_port.
    let mut md = p.clone();
    md.metadata.set(Field::Reg0, 7);
    check(
        &am(AsyncMsg::PacketOut(Box::new(md))),
        Protocol::Of15,
        "OFPT_PACKET_OUT (OF1.5) (xid=0x42): reg0=0x7,in_port=1 actions=output:2,output:3 data_len=60",
    );
}

#[test]
fn session_settings_read_as_open_vswitch_prints_them() {
    check(
        &am(AsyncMsg::SetPacketInFormat(PacketInFormat::Nxt2)),
        Protocol::Of10NxmTid,
        "NXT_SET_PACKET_IN_FORMAT (xid=0x42): format=nxt_packet_in2",
    );
    check(
        &am(AsyncMsg::SetControllerId(7)),
        Protocol::Of13,
        "NXT_SET_CONTROLLER_ID (OF1.3) (xid=0x42): id=7",
    );
    let c = AsyncConfig {
        packet_in: [0b11, 0b1],
        port_status: [0b111, 0b10],
        flow_removed: [0b1, 0],
    };
    let expect = " primary:\n       PACKET_IN: no_match action\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: no_match\n     PORT_STATUS: delete\n    FLOW_REMOVED: (off)\n";
    for (p, name) in [
        (Protocol::Of13, "OFPT_SET_ASYNC (OF1.3)"),
        (Protocol::Of14, "OFPT_SET_ASYNC (OF1.4)"),
    ] {
        check(&am(AsyncMsg::SetAsync(c)), p, name);
        check(&am(AsyncMsg::SetAsync(c)), p, expect);
        check(&am(AsyncMsg::GetAsyncReply(c)), p, expect);
    }
    check(
        &am(AsyncMsg::SetAsync(c)),
        Protocol::Of10NxmTid,
        "NXT_SET_ASYNC_CONFIG (xid=0x42):",
    );
    check(
        &am(AsyncMsg::GetAsyncRequest),
        Protocol::Of13,
        "OFPT_GET_ASYNC_REQUEST (OF1.3) (xid=0x42):",
    );
}

#[test]
fn role_status_reads_as_open_vswitch_prints_it() {
    use fvs_openflow::wire::{Role, RoleReason, RoleStatus};
    let rs = RoleStatus {
        role: Role::Slave,
        reason: RoleReason::MasterRequest,
        generation_id: Some(7),
    };
    check(
        &am(AsyncMsg::RoleStatus(rs)),
        Protocol::Of13,
        "ONFT_ROLE_STATUS (OF1.3) (xid=0x42): role=secondary generation_id=7 reason=primary_request",
    );
    check(
        &am(AsyncMsg::RoleStatus(rs)),
        Protocol::Of14,
        "OFPT_ROLE_STATUS (OF1.4) (xid=0x42): role=secondary generation_id=7 reason=primary_request",
    );
}
