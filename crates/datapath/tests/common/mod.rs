//! A host of the seed's network in memory: the pipeline's seed switch, a datapath with a dummy
//! netdev per port, a GRE vport and a dummy underlay port, glued by an upcall that translates
//! through the switch.

#![allow(dead_code, unreachable_pub)]

use fvs_datapath::port::{PortKind, TunnelKeyMode, TunnelVport};
use fvs_datapath::{Datapath, Upcall};
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_netdev::dummy::{Dummy, DummyHandle};
use fvs_netdev::{Packet, PacketBatch};
use fvs_packet::MacAddr;
use fvs_packet::tunnel::TunnelProtocol;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::dpif::DpPort;
use fvs_pipeline::port::PortKind as OfPortKind;
use fvs_pipeline::switch::Switch;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The underlay's datapath port number on both hosts.
pub const UNDERLAY: DpPort = DpPort(10);
/// The GRE vport's datapath port (as the seed's `gre-0a000115` has).
pub const GRE: DpPort = DpPort(3);
/// VM ports on br-int (the seed's datapath numbers).
pub const VM1: DpPort = DpPort(37);
/// The second VM port.
pub const VM2: DpPort = DpPort(155_845);

/// One host.
pub struct Host {
    pub switch: Switch,
    pub dp: Datapath,
    pub handles: BTreeMap<DpPort, DummyHandle>,
    /// Datapath port → (bridge, OpenFlow port).
    pub map: BTreeMap<DpPort, (String, PortNo)>,
    pub upcalls: usize,
    /// Apply translation side effects (learning); `false` keeps the switch unchanged.
    pub apply: bool,
    pub now: Millis,
    batch: PacketBatch,
}

impl Host {
    /// The seed's compute node with `local` and `remote` as the GRE port's addresses.
    pub fn new(local: Ipv4Addr, remote: Ipv4Addr) -> Self {
        let now = Millis(1000);
        let mut switch = fvs_pipeline::example::seed_switch(now).expect("seed flows load");
        let br_tun = switch.bridge_mut("br-tun").expect("br-tun exists");
        for p in br_tun.ports.values_mut() {
            if let OfPortKind::Tunnel(t) = &mut p.kind {
                t.local_ip = local.into();
                t.remote_ip = remote.into();
            }
        }
        let mut dp = Datapath::new();
        let mut handles = BTreeMap::new();
        let mut map = BTreeMap::new();
        let mut add = |dp: &mut Datapath, no: DpPort, name: &str| {
            let (dev, h) = Dummy::new(name);
            dp.add_port(no, name, PortKind::Netdev(Box::new(dev)))
                .expect("fresh port number");
            handles.insert(no, h);
        };
        add(&mut dp, UNDERLAY, "eth0");
        for b in &switch.bridges {
            for p in b.ports.values() {
                let Some(no) = p.dp_port else { continue };
                map.insert(no, (b.name.clone(), p.ofport));
                if !matches!(p.kind, OfPortKind::Tunnel(_)) {
                    add(&mut dp, no, &p.name);
                }
            }
        }
        let mut v = TunnelVport::new(
            TunnelProtocol::Gre,
            local,
            remote,
            TunnelKeyMode::Flow,
            UNDERLAY,
        );
        v.eth_src = MacAddr([2, 0, 0, 0, 0, local.octets()[3]]);
        v.eth_dst = MacAddr([2, 0, 0, 0, 0, remote.octets()[3]]);
        dp.add_port(GRE, "gre-tunnel", PortKind::Tunnel(v))
            .expect("underlay exists");
        Self {
            switch,
            dp,
            handles,
            map,
            upcalls: 0,
            apply: true,
            now,
            batch: PacketBatch::new(32, 9216),
        }
    }

    /// Receives and processes everything waiting on `port`.
    pub fn poll(&mut self, port: DpPort) {
        let Self {
            switch,
            dp,
            map,
            upcalls,
            apply,
            now,
            batch,
            ..
        } = self;
        let now = *now;
        let apply = *apply;
        let mut up = |k: &FlowKey, p: &Packet| {
            *upcalls += 1;
            translate(switch, map, k, p.len() as u64, now, apply)
        };
        while dp.poll(port, batch, &mut up).expect("dummy never fails") > 0 {}
    }

    /// Injects a frame on `port` and processes it.
    pub fn receive(&mut self, port: DpPort, frame: &[u8]) {
        self.handles[&port].inject(frame);
        self.poll(port);
    }

    /// Frames sent on `port` since the last call.
    pub fn sent(&self, port: DpPort) -> Vec<Vec<u8>> {
        self.handles[&port]
            .take_sent()
            .into_iter()
            .map(|f| f.data)
            .collect()
    }
}

/// The slow path: the datapath key (in_port a datapath port) translated through the switch.
pub fn translate(
    switch: &mut Switch,
    map: &BTreeMap<DpPort, (String, PortNo)>,
    key: &FlowKey,
    len: u64,
    now: Millis,
    apply: bool,
) -> Upcall {
    let in_port = DpPort(key.get(Field::InPort.loc()) as u32);
    let Some((bridge, ofport)) = map.get(&in_port) else {
        return Upcall::new(Default::default(), FlowKey::ALL);
    };
    let mut k = *key;
    k.set(Field::InPort.loc(), u128::from(ofport.0));
    let t = if apply {
        switch.receive(bridge, &k, len, now)
    } else {
        switch.trace(bridge, &k, now)
    }
    .expect("bridge exists");
    let mut mask = t.megaflow;
    // The datapath's in_port stands for (bridge, OpenFlow port): always exact.
    mask.set(Field::InPort.loc(), u128::MAX);
    Upcall::new(t.actions, mask)
}

/// An Ethernet/IPv4/UDP frame from `src` to `dst` (MACs as 48-bit integers).
pub fn udp_frame(src: u64, dst: u64, sport: u16) -> Vec<u8> {
    use fvs_packet::ethernet::{EtherType, EthernetRepr};
    use fvs_packet::ip::IpProtocol;
    use fvs_packet::ipv4::Ipv4Repr;
    use fvs_packet::udp::UdpRepr;
    let mac = |v: u64| {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    };
    let payload = [0x5a_u8; 18];
    let mut f = vec![0u8; 14 + 20 + 8 + payload.len()];
    EthernetRepr {
        dst: mac(dst),
        src: mac(src),
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut f);
    Ipv4Repr {
        src: Ipv4Addr::new(192, 168, 0, (src & 0xff) as u8),
        dst: Ipv4Addr::new(192, 168, 0, (dst & 0xff) as u8),
        protocol: IpProtocol::Udp,
        tos: 0,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Vec::new(),
        payload_len: 8 + payload.len(),
    }
    .emit(&mut f[14..]);
    UdpRepr {
        src_port: sport,
        dst_port: 5001,
        payload_len: payload.len(),
    }
    .emit(&mut f[34..]);
    f[42..].copy_from_slice(&payload);
    f
}
