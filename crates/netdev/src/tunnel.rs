//! Tunnel underlays through the host's own IP stack: the datapath port that GRE, VXLAN and
//! Geneve vports send their outer packets out of and receive them on.
//!
//! # Native, or through the host
//!
//! A tunnel vport in `fvs-datapath` encapsulates into a complete outer frame (Ethernet, IPv4,
//! GRE or UDP); frames that decapsulate to the vport's addresses and key enter the switch on
//! the vport. Which way the outer frame takes depends on the kernel's route to the remote end
//! (asked through [`crate::netlink`] by the daemon, at every reconfiguration, at every change
//! the kernel announces and at least every second):
//!
//! - **Native** (`fvs_datapath::native`), when the route leaves through an internal port of
//!   a ferrovs bridge: Open vSwitch's userspace layout, the NIC a port of `br-phy` and the
//!   tunnel address on br-phy's internal port. The datapath sends the outer frame into that
//!   bridge itself (the next hop's MAC from its neighbour cache, snooped from ARP or set with
//!   `tnl/arp/set`) and takes the tunnel's packets back before they reach the host. The
//!   host's IP layer never sees them: no IP output on the sender, no IP input on the
//!   receiver, which is where a tunnel through the host spends its time (the case D profile
//!   in `docs/benchmarks/tunnels.md`). The price is Open vSwitch's: the NIC belongs to a
//!   bridge, and the switch resolves neighbours itself. For VXLAN and Geneve the native
//!   path batches as this module does below, in the form a packet socket takes: a run of a
//!   flow's outer packets leaves eth1 as one frame with a `GSO_UDP_L4` virtio-net header,
//!   with the same outer-checksum trade-off (`fvs_datapath::native`).
//! - **Through the host** ([`KernelTunnel`], this module), for every other route: the NIC
//!   stays the host's, with its address. Open vSwitch's userspace datapath cannot send at all
//!   in that layout; ferrovs falls back to the kernel so a tunnel works whatever the host's
//!   layout, and a route change moves it between the two paths.
//!
//! [`KernelTunnel`] hands outer packets to the kernel's IPv4 stack in the daemon's network
//! namespace, and takes them back from it:
//! - **Routing and ARP are the kernel's**: the route to `remote_ip` (and so the NIC, the
//!   next hop, the source address when `local_ip` is absent) and the neighbour's MAC come
//!   from the host's own tables, change when they change, and need no configuration here.
//!   The outer Ethernet header the datapath wrote is therefore stripped and ignored.
//! - **No `AF_PACKET` on the underlay NIC**: the NIC is not opened, not made promiscuous,
//!   and stays usable by the host; the switch sees only its tunnel's packets, which the
//!   kernel has already checked (IPv4 header checksum, UDP checksum, reassembly).
//! - **Coexistence**: the host's own traffic (SSH, the agent's RPC, storage) on the same
//!   address and NIC is untouched.
//!
//! The cost is one trip through the kernel's IP layer each way, which the native path skips.
//!
//! # Sockets
//!
//! - **Send** (every protocol): one `IPPROTO_RAW` socket, which implies `IP_HDRINCL`: the
//!   datapath's IPv4 header goes out as written (TOS, TTL, DF, protocol, addresses), except
//!   what Linux always fills in for a header-included raw send: the total length, the header
//!   checksum, an identification when it is 0 (the datapath writes 0) and the source address
//!   when it is 0.0.0.0. Such a send is never fragmented by Linux: a packet larger than the
//!   route's MTU fails with `EMSGSIZE` and is counted in `tx_dropped` (a tunnel's inner MTU
//!   must leave room for the headers, as Neutron's 1450/1458 do).
//! - **GRE receive**: a raw `IPPROTO_GRE` socket (bound to `local_ip` when given), which
//!   returns the whole IPv4 packet, header included. Linux has no GRE module loaded here, so
//!   the raw socket is GRE's only receiver; its presence also stops the kernel from answering
//!   GRE with ICMP "protocol unreachable".
//! - **VXLAN and Geneve receive**: a UDP socket bound to `local_ip:dst_port` (4789, 6081),
//!   asked for `IP_PKTINFO`, `IP_RECVTOS` and `IP_RECVTTL`, since a UDP socket returns only
//!   the payload: the outer IPv4 and UDP headers are rebuilt from the sender's address, those
//!   control messages and the socket's port. Two facts are lost and rebuilt as constants: the
//!   DF bit (clear) and the UDP checksum (absent; the kernel has verified it). The socket
//!   also has `UDP_GRO` (below).
//! - **VXLAN and Geneve send, runs**: UDP sockets bound to a run's source address and port,
//!   sending with `UDP_SEGMENT` (below).
//!
//! Either way a received packet gets a synthetic Ethernet header (destination: this port's
//! [`Netdev::mac`], source zero, type IPv4), so the datapath decapsulates a normal frame.
//!
//! # Sharing
//!
//! One `KernelTunnel` serves every vport of one [`UnderlayConfig`] (protocol, UDP port,
//! local address): the kernel delivers a protocol/port to one socket, and the datapath picks
//! the vport from each packet's addresses and key. Its [`Netdev::name`] is the name Open
//! vSwitch's kernel datapath gives the same shared port (`gre_sys`, `vxlan_sys_4789`,
//! `genev_sys_6081`).
//!
//! # Malformed packets
//!
//! Every received packet is checked with `fvs_packet::tunnel::decapsulate` before the
//! datapath sees it: truncated headers, bad lengths, GRE with routing or a version other
//! than 0 or a payload that is not Ethernet, VXLAN without its I flag, Geneve with a bad
//! version or option length, datagrams larger than the batch's buffers (`MSG_TRUNC`) and
//! inner frames shorter than an Ethernet header are dropped, counted in `rx_errors` and, by
//! reason, in [`RxDrops`]. Nothing here panics on a packet.
//!
//! # Copies and offloads
//!
//! Receive: one copy, kernel to the packet buffer (the rebuilt headers are written into the
//! buffer's headroom). Send: one copy, packet buffer to the kernel (`sendmmsg` of the IPv4
//! datagram straight out of the buffer). A frame that still needs its inner checksum
//! (checksum offload from a TAP or AF_PACKET port with virtio-net headers) is copied once
//! more into a scratch buffer to finish the checksum; a GSO super-frame cannot cross a raw
//! socket and is dropped and counted (`tx_dropped`): the datapath must segment first. The
//! other way, the datapath sees one outer packet per received datagram (a coalesced UDP
//! buffer is split first, below) and coalesces the TCP segments inside for the VM's port
//! (`fvs_datapath`'s `gro`).
//!
//! # UDP segmentation and receive coalescing (VXLAN, Geneve)
//!
//! Every outer packet through the raw socket costs one pass through the sending host's IP
//! output and one through the receiving host's IP input, and that per-packet work is what
//! bounds a tunnel's throughput (`docs/benchmarks/tunnels.md`). For the UDP tunnels Linux
//! moves many datagrams as one skb:
//!
//! - **Send (`UDP_SEGMENT`)**: in a batch, outer frames that differ only in their payload —
//!   same addresses, UDP ports, TOS, TTL and DF, a 20-byte IPv4 header, and payloads as long
//!   as the first's, the last possibly shorter — form a run (what a TCP stream queues,
//!   whether the VM sent MSS-sized segments or the datapath cut a TSO super-frame; at most 64
//!   datagrams and 64 KiB). Frames of other outer flows (addresses and ports) in between are
//!   skipped and sent after, so interleaved streams make a run each; a frame of the same
//!   outer flow that cannot join (a new ECN mark, a longer payload) ends the run, so no
//!   flow's frames change order. A run of two or more goes out as ONE
//!   `sendmsg` of the UDP payloads (straight from the packet buffers, an iovec each) on a UDP
//!   socket bound to the run's source address and port, with `UDP_SEGMENT` = the first's
//!   payload length: one route lookup and one skb through the IP layer, cut into datagrams
//!   after routing by the kernel or the NIC (a veth carries it whole into the peer
//!   namespace). The source port is part of the run because VXLAN and Geneve hash the inner
//!   flow into it, and a UDP socket sends from the port it is bound to: the sockets are
//!   opened on first use per (address, port), at most 64, closed after 10 s unused; each
//!   holds its port (a port already taken, or an address that is not local, leaves that
//!   source on the raw socket for 5 s), and receives nothing (smallest receive buffer).
//!   TOS (ECN included) and TTL are per send (`IP_TOS`, `IP_TTL` control messages); DF is
//!   the socket's `IP_MTU_DISCOVER`: `PROBE` (DF, the device's MTU, as a raw send checks it)
//!   or `DONT`. The identification is the kernel's, as on the raw path. Single frames, GRE,
//!   IP options, fragments, frames with offload work left, and any run the kernel refuses
//!   (`EINVAL` for a segment over the route's MTU; `EIO` or `EOPNOTSUPP` where it cannot
//!   segment, after which that source stays raw for 5 s) go through the raw socket as
//!   before, so their outcome (sent, or `EMSGSIZE` and `tx_dropped`) is unchanged.
//! - **Outer UDP checksums**: Linux computes them on a `UDP_SEGMENT` send and refuses one
//!   with `SO_NO_CHECK` (IPv4's way to send none), so datagrams of a run carry a valid
//!   checksum even with `csum=false`, where a frame sent alone carries none. Open vSwitch's
//!   `csum` means "compute checksums"; both forms are valid VXLAN (RFC 7348) and Geneve over
//!   IPv4 (RFC 8926), and receivers verify a checksum when present. The checksum is offloaded
//!   (`CHECKSUM_PARTIAL`: the NIC or veth computes or skips it), so `csum=false`'s point,
//!   not spending CPU on it, holds; what a far end sees is the difference (Open vSwitch's
//!   flows there show `tun_flags=+csum` for such packets). With `csum=true` nothing changes:
//!   every packet has one, and a run from a port without `local_ip` gets it from the kernel
//!   over the real source address (no scratch copy).
//! - **Receive (`UDP_GRO`)**: the receive socket asks for coalesced buffers: a GSO skb from
//!   a sender like the above (over veth), or datagrams merged by the NIC's GRO, come as one
//!   buffer of up to 64 KiB with a `UDP_GRO` control message giving the datagram size. The
//!   underlay reads up to 32 such buffers per `recvmmsg` into buffers of its own and hands
//!   the datapath one datagram per slot — swapping buffers for a datagram received alone
//!   (no copy), copying each datagram of a coalesced buffer — each with the rebuilt outer
//!   headers and each checked on its own (a bad datagram in a buffer is dropped alone, a
//!   short last one is kept). Datagrams that do not fit the batch wait, in order, for the
//!   next call: they remain only after a call that filled the batch, so a caller that reads
//!   again after a full batch before waiting on [`Netdev::fd`] (as the switch's threads do)
//!   never leaves them waiting.
//! - **Who sees big packets**: on a NIC the segments reach the wire as ordinary packets,
//!   checksummed. On a veth underlay the peer namespace gets the unsegmented skb with its
//!   checksums unfinished (`CHECKSUM_PARTIAL`): a UDP socket there (ferrovs, Linux's `vxlan`
//!   device) receives correct datagrams, but a packet socket on the peer veth sees one large
//!   frame with a partial checksum — `tcpdump`, or Open vSwitch's userspace datapath with the
//!   veth in `br-phy`, which drops it. Open vSwitch's documentation already asks for transmit
//!   checksum offload off on a veth feeding its userspace datapath (`ethtool -K <veth> tx
//!   off`, on the sending end); the kernel then checksums and cuts the runs before the veth,
//!   and the saving in the sending host's IP layer remains.
//!
//! Counters (`coverage/show`, [`KernelTunnel::udp_offload_stats`]):
//! `tunnel_udp_gso_sends`/`_segments` and `tunnel_udp_gro_buffers`/`_segments`.
//!
//! A received UDP datagram's checksum is verified by the kernel and not kept: the rebuilt
//! UDP header has none, so a flow never sees `tun_flags=+csum` for VXLAN or Geneve (GRE's
//! checksum travels in the packet and is verified by `decapsulate`).
//!
//! # Outer UDP checksums without a source address
//!
//! A VXLAN or Geneve packet with a UDP checksum (`csum=true`) from a port without
//! `local_ip` leaves the datapath with source 0.0.0.0, for the kernel to fill in; but the
//! checksum covers the source. Such a packet is copied to the scratch buffer, given the
//! source the route to its destination would take ([`route_source`], remembered for a
//! second per destination) and its checksum recomputed, and sent on its own.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use fvs_packet::ethernet::{self, EtherType, EthernetRepr, MacAddr};
use fvs_packet::ip::IpProtocol;
use fvs_packet::ipv4::{self, Ipv4Repr};
use fvs_packet::tunnel::{TunnelPorts, TunnelProtocol, decapsulate};
use fvs_packet::udp::{self, UdpRepr};

use crate::batch::{Packet, PacketBatch, VnetFlags};
use crate::error::{Error, Result};
use crate::sys::{self, BURST, InetRxMeta};
use crate::{LinkState, Netdev, NetdevStats};

mod udp_offload;

pub use udp_offload::UdpOffloadStats;
use udp_offload::{RunHead, SendSockets, Staged, gather, run_head};

/// The MTU this port reports: Open vSwitch's kernel tunnel ports report 65000 too (the outer
/// packet's real limit is the route's MTU, which the kernel enforces on send).
const REPORTED_MTU: u32 = 65_000;
/// Socket buffer size asked for, both ways (as for AF_PACKET: bursts must not overflow).
const SOCKET_BUFFER: libc::c_int = 8 << 20;
/// Bytes of outer IPv4 and UDP header rebuilt in front of a VXLAN/Geneve datagram.
const REBUILT_IP_UDP: usize = ipv4::MIN_HEADER_LEN + udp::HEADER_LEN;
/// The address of the synthetic Ethernet header until [`Netdev::set_mac`] changes it
/// (locally administered; it is never seen on a wire).
const DEFAULT_MAC: MacAddr = MacAddr([0x02, 0x66, 0x76, 0x73, 0x00, 0x01]);

/// What one shared underlay serves: a protocol, its UDP port and the local address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnderlayConfig {
    /// GRE, VXLAN or Geneve.
    pub protocol: TunnelProtocol,
    /// UDP destination port for VXLAN and Geneve (`dst_port`); ignored for GRE.
    pub dst_port: u16,
    /// The local address to receive on (`local_ip`); 0.0.0.0 receives on every address.
    pub local_ip: Ipv4Addr,
}

impl UnderlayConfig {
    /// The underlay for `protocol` on its standard UDP port (4789, 6081), any local address.
    pub fn new(protocol: TunnelProtocol) -> Self {
        Self {
            protocol,
            dst_port: match protocol {
                TunnelProtocol::Gre => 0,
                TunnelProtocol::Vxlan => fvs_packet::vxlan::UDP_PORT,
                TunnelProtocol::Geneve => fvs_packet::geneve::UDP_PORT,
            },
            local_ip: Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The port's name, as Open vSwitch's kernel datapath names its shared tunnel ports.
    pub fn name(&self) -> String {
        match self.protocol {
            TunnelProtocol::Gre => "gre_sys".to_owned(),
            TunnelProtocol::Vxlan => format!("vxlan_sys_{}", self.dst_port),
            TunnelProtocol::Geneve => format!("genev_sys_{}", self.dst_port),
        }
    }

    /// The UDP ports `decapsulate` must recognise: this underlay's, and no other (port 0
    /// is never a datagram's destination).
    fn ports(&self) -> TunnelPorts {
        match self.protocol {
            TunnelProtocol::Gre => TunnelPorts {
                vxlan: 0,
                geneve: 0,
            },
            TunnelProtocol::Vxlan => TunnelPorts {
                vxlan: self.dst_port,
                geneve: 0,
            },
            TunnelProtocol::Geneve => TunnelPorts {
                vxlan: 0,
                geneve: self.dst_port,
            },
        }
    }
}

/// Why a received packet was dropped before the datapath saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxDrop {
    /// Larger than the batch's buffers (the kernel said `MSG_TRUNC`), or than IPv4 allows.
    Oversized,
    /// The outer headers do not decapsulate (the error names the layer at fault).
    Malformed(fvs_packet::Error),
    /// The inner frame is shorter than an Ethernet header.
    Runt,
}

/// Received packets dropped, by reason (all of them are also in `rx_errors`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxDrops {
    /// [`RxDrop::Oversized`].
    pub oversized: u64,
    /// [`RxDrop::Malformed`].
    pub malformed: u64,
    /// [`RxDrop::Runt`].
    pub runts: u64,
    /// The most recent reason, for a log line or `coverage/show`.
    pub last: Option<RxDrop>,
}

impl RxDrops {
    fn count(&mut self, why: RxDrop) {
        match why {
            RxDrop::Oversized => self.oversized += 1,
            RxDrop::Malformed(_) => self.malformed += 1,
            RxDrop::Runt => self.runts += 1,
        }
        self.last = Some(why);
    }
}

/// A tunnel underlay through the kernel's IPv4 stack (see the module docs).
#[derive(Debug)]
pub struct KernelTunnel {
    config: UnderlayConfig,
    name: String,
    rx: OwnedFd,
    tx: OwnedFd,
    mac: MacAddr,
    mtu: u32,
    stats: NetdevStats,
    drops: RxDrops,
    /// Reused for the rare frame whose inner checksum must be finished before sending.
    scratch: Vec<u8>,
    /// Source addresses of routes, by destination, and when they were looked up (see the
    /// module docs: UDP checksums without a source address).
    sources: HashMap<Ipv4Addr, (Ipv4Addr, Instant)>,
    /// Runs of VXLAN/Geneve frames go out with `UDP_SEGMENT` (see the module docs).
    udp_gso: bool,
    /// The receive socket has `UDP_GRO`: reads go through `staged`.
    udp_gro: bool,
    /// Sockets `UDP_SEGMENT` runs are sent from.
    senders: SendSockets,
    /// Coalesced receive buffers not yet split into a batch.
    staged: Staged,
    /// Buffers for grouping a batch into runs (reused between batches).
    grouping: Grouping,
    offload: UdpOffloadStats,
}

impl KernelTunnel {
    /// Opens the sockets in the calling thread's network namespace. Needs `CAP_NET_RAW`;
    /// fails with `EADDRINUSE` when something else (a Linux `vxlan` device, another switch)
    /// already receives the UDP port there.
    pub fn open(config: UnderlayConfig) -> Result<Self> {
        let name = config.name();
        let err = |what| {
            let name = name.clone();
            move |e| Error::sys(&name, what, e)
        };
        let tx = sys::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)
            .map_err(err("socket(IPPROTO_RAW)"))?;
        set_buffer(tx.as_fd(), libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)
            .map_err(err("socket buffer size"))?;
        let mut udp_gro = false;
        let rx = match config.protocol {
            TunnelProtocol::Gre => {
                let s = sys::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_GRE)
                    .map_err(err("socket(IPPROTO_GRE)"))?;
                if !config.local_ip.is_unspecified() {
                    sys::bind_ipv4(s.as_fd(), config.local_ip, 0).map_err(err("bind"))?;
                }
                s
            }
            TunnelProtocol::Vxlan | TunnelProtocol::Geneve => {
                let s = UdpSocket::bind(SocketAddrV4::new(config.local_ip, config.dst_port))
                    .map_err(err("bind"))?;
                s.set_nonblocking(true).map_err(err("O_NONBLOCK"))?;
                let s = OwnedFd::from(s);
                for opt in [libc::IP_PKTINFO, libc::IP_RECVTOS, libc::IP_RECVTTL] {
                    sys::setsockopt(s.as_fd(), libc::IPPROTO_IP, opt, &1)
                        .map_err(err("IP_PKTINFO/IP_RECVTOS/IP_RECVTTL"))?;
                }
                // Kernels before 5.0 lack it: datagrams then come one per read, as sent.
                udp_gro = sys::setsockopt(s.as_fd(), libc::SOL_UDP, libc::UDP_GRO, &1).is_ok();
                s
            }
        };
        set_buffer(rx.as_fd(), libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)
            .map_err(err("socket buffer size"))?;
        Ok(Self {
            config,
            name,
            rx,
            tx,
            mac: DEFAULT_MAC,
            mtu: REPORTED_MTU,
            stats: NetdevStats::default(),
            drops: RxDrops::default(),
            scratch: Vec::new(),
            sources: HashMap::new(),
            udp_gso: config.protocol != TunnelProtocol::Gre,
            udp_gro,
            senders: SendSockets::new(),
            staged: Staged::default(),
            grouping: Grouping::default(),
            offload: UdpOffloadStats::default(),
        })
    }

    /// Turns `UDP_SEGMENT` sends on or off (on by default for VXLAN and Geneve; GRE never
    /// has them). Off, every outer packet goes through the raw socket as written.
    pub fn set_udp_gso(&mut self, on: bool) {
        self.udp_gso = on && self.config.protocol != TunnelProtocol::Gre;
    }

    /// Counters of the UDP segmentation and receive coalescing.
    pub fn udp_offload_stats(&self) -> UdpOffloadStats {
        self.offload
    }

    /// What this underlay serves.
    pub fn config(&self) -> UnderlayConfig {
        self.config
    }

    /// Received packets dropped, by reason.
    pub fn drops(&self) -> RxDrops {
        self.drops
    }

    /// Sends the datagrams of `run` (each to its destination); counts what went and what
    /// did not. Returns how many went.
    fn flush(&mut self, run: &[(&[u8], Ipv4Addr)], frame_lens: &[usize]) -> usize {
        let mut i = 0;
        let mut sent = 0;
        while i < run.len() {
            match sys::send_mmsg_to(self.tx.as_fd(), &run[i..]) {
                Ok(k) if k > 0 => {
                    self.stats.tx_packets += k as u64;
                    self.stats.tx_bytes += frame_lens[i..i + k].iter().sum::<usize>() as u64;
                    sent += k;
                    i += k;
                }
                Ok(_) => {
                    self.stats.tx_dropped += 1;
                    i += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The first datagram could not go; the rest are still tried.
                Err(e) => {
                    if is_send_drop(&e) {
                        self.stats.tx_dropped += 1;
                    } else {
                        self.stats.tx_errors += 1;
                    }
                    i += 1;
                }
            }
        }
        sent
    }

    /// Sends one frame whose inner checksum is still to be computed (see the module docs).
    fn send_with_checksum(&mut self, p: &Packet) -> usize {
        let v = p.vnet();
        let (start, at) = (
            usize::from(v.csum_start),
            usize::from(v.csum_start) + usize::from(v.csum_offset),
        );
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(p.data());
        let sent = if at + 2 <= scratch.len() && start <= at {
            let c = fvs_packet::checksum::checksum(&scratch[start..]);
            scratch[at..at + 2].copy_from_slice(&c.to_be_bytes());
            match outer_datagram(&scratch) {
                Some(d) => self.flush(&[d], &[p.len()]),
                None => {
                    self.stats.tx_dropped += 1;
                    0
                }
            }
        } else {
            self.stats.tx_dropped += 1;
            0
        };
        self.scratch = scratch;
        sent
    }
}

impl KernelTunnel {
    /// The source the kernel would give a packet to `dst`, remembered for
    /// [`SOURCE_LIFETIME`].
    fn source_for(&mut self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if let Some((src, at)) = self.sources.get(&dst)
            && at.elapsed() < SOURCE_LIFETIME
        {
            return Some(*src);
        }
        let src = route_source(dst).ok()?;
        if self.sources.len() >= MAX_SOURCES {
            self.sources.clear();
        }
        self.sources.insert(dst, (src, Instant::now()));
        Some(src)
    }

    /// Sends a UDP datagram whose checksum was computed for source 0.0.0.0 with the route's
    /// source filled in and the checksum recomputed (see the module docs).
    fn send_with_source(&mut self, datagram: &[u8], dst: Ipv4Addr, frame_len: usize) -> usize {
        let Some(src) = self.source_for(dst) else {
            self.stats.tx_dropped += 1;
            return 0;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(datagram);
        scratch[12..16].copy_from_slice(&src.octets());
        let l4 = usize::from(scratch[0] & 0x0f) * 4;
        let sent = match fvs_packet::udp::UdpView::new_checked(&mut scratch[l4..]) {
            Ok(mut u) => {
                u.fill_checksum_v4(src, dst);
                self.flush(&[(&scratch, dst)], &[frame_len])
            }
            Err(_) => {
                self.stats.tx_dropped += 1;
                0
            }
        };
        self.scratch = scratch;
        sent
    }
}

/// The buffers [`Netdev::send_batch`] groups a batch's frames into runs with.
#[derive(Debug, Default)]
struct Grouping {
    /// Per frame: its run key and UDP payload length, if it can be part of a run.
    heads: Vec<Option<RunHead>>,
    /// Per frame: already sent in a run.
    taken: Vec<bool>,
    /// Frames waiting to go one by one, in order.
    plain: Vec<usize>,
    /// The run being gathered.
    run: Vec<usize>,
}

/// How long a route's source address is trusted before it is looked up again.
const SOURCE_LIFETIME: Duration = Duration::from_secs(1);
/// Destinations whose route source is remembered at most (then all are forgotten).
const MAX_SOURCES: usize = 4096;

/// True for an IPv4 datagram without a source address carrying UDP with a checksum.
fn needs_source(datagram: &[u8]) -> bool {
    let l4 = usize::from(datagram[0] & 0x0f) * 4;
    datagram[12..16] == [0; 4]
        && datagram[9] == u8::from(IpProtocol::Udp)
        && datagram.get(l4 + 6..l4 + 8).is_some_and(|c| c != [0, 0])
}

/// Whether a failed send drops its packets, as a router would, rather than failing: a full
/// queue (`EAGAIN`, `ENOBUFS`), a link down, no route or an unreachable neighbour, a packet
/// over the route's MTU (`EMSGSIZE`), or a signal (`EINTR`; the plain path retries that one
/// before asking). Drops count in `tx_dropped`, anything else in `tx_errors`.
fn is_send_drop(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EAGAIN
                | libc::ENOBUFS
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EHOSTUNREACH
                | libc::EMSGSIZE
                | libc::EINTR
        )
    )
}

/// Sets a socket buffer size: the FORCE option passes the system limit (root), the plain
/// one is capped by it.
fn set_buffer(fd: BorrowedFd<'_>, force: libc::c_int, plain: libc::c_int) -> io::Result<()> {
    sys::setsockopt(fd, libc::SOL_SOCKET, force, &SOCKET_BUFFER)
        .or_else(|_| sys::setsockopt(fd, libc::SOL_SOCKET, plain, &SOCKET_BUFFER))
}

/// The IPv4 datagram of an outer frame the datapath queued, and its destination; `None` for
/// anything that is not Ethernet + IPv4 with a consistent total length.
fn outer_datagram(frame: &[u8]) -> Option<(&[u8], Ipv4Addr)> {
    let ip = frame.get(ethernet::HEADER_LEN..)?;
    if frame.get(12..14)? != u16::from(EtherType::Ipv4).to_be_bytes()
        || ip.len() < ipv4::MIN_HEADER_LEN
        || ip[0] >> 4 != 4
    {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < ipv4::MIN_HEADER_LEN || total > ip.len() {
        return None;
    }
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((&ip[..total], dst))
}

/// Turns a received datagram (just read into the packet's receive area) into the outer frame
/// the datapath decapsulates, and checks it (see the module docs).
pub(crate) fn finish_rx(
    p: &mut Packet,
    m: &InetRxMeta,
    config: &UnderlayConfig,
    mac: MacAddr,
) -> std::result::Result<(), RxDrop> {
    if m.truncated {
        return Err(RxDrop::Oversized);
    }
    p.set_rx_len(m.len);
    if config.protocol != TunnelProtocol::Gre {
        if ipv4::MIN_HEADER_LEN + udp::HEADER_LEN + m.len > usize::from(u16::MAX) {
            return Err(RxDrop::Oversized);
        }
        let dst = m.dst.unwrap_or(config.local_ip);
        let h = p.prepend(REBUILT_IP_UDP).ok_or(RxDrop::Oversized)?;
        Ipv4Repr {
            src: *m.src.ip(),
            dst,
            protocol: IpProtocol::Udp,
            tos: m.tos.unwrap_or(0),
            ttl: m.ttl.unwrap_or(64),
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            options: Vec::new(),
            payload_len: udp::HEADER_LEN + m.len,
        }
        .emit(h);
        UdpRepr {
            src_port: m.src.port(),
            dst_port: config.dst_port,
            payload_len: m.len,
        }
        .emit(&mut h[ipv4::MIN_HEADER_LEN..]);
    }
    let h = p.prepend(ethernet::HEADER_LEN).ok_or(RxDrop::Oversized)?;
    EthernetRepr {
        dst: mac,
        src: MacAddr::ZERO,
        ethertype: EtherType::Ipv4,
    }
    .emit(h);
    let d = decapsulate(p.data(), config.ports()).map_err(RxDrop::Malformed)?;
    if d.inner.len() < ethernet::HEADER_LEN {
        return Err(RxDrop::Runt);
    }
    Ok(())
}

impl Netdev for KernelTunnel {
    fn recv_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        if self.udp_gro {
            return self.recv_staged(batch);
        }
        let mut meta = [InetRxMeta::default(); BURST];
        let mut received = 0;
        loop {
            let spare = &mut batch.spare_mut()[received..];
            if spare.is_empty() {
                break;
            }
            let got = match sys::recv_mmsg_inet(self.rx.as_fd(), spare, &mut meta) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    batch.commit(received);
                    return Err(Error::sys(&self.name, "recvmmsg", e));
                }
            };
            // Keep the good packets contiguous at the front of `spare`.
            let mut kept = 0;
            for (i, m) in meta.iter().enumerate().take(got) {
                spare.swap(kept, i);
                match finish_rx(&mut spare[kept], m, &self.config, self.mac) {
                    Ok(()) => {
                        self.stats.rx_packets += 1;
                        self.stats.rx_bytes += spare[kept].len() as u64;
                        kept += 1;
                    }
                    Err(why) => {
                        self.stats.rx_errors += 1;
                        self.drops.count(why);
                    }
                }
            }
            received += kept;
            if got < BURST.min(spare.len()) {
                break;
            }
        }
        batch.commit(received);
        Ok(received)
    }

    fn send_batch(&mut self, batch: &PacketBatch) -> Result<usize> {
        let packets = batch.packets();
        if !self.udp_gso {
            return Ok(self.send_plain(packets.iter()));
        }
        let mut g = std::mem::take(&mut self.grouping);
        let Grouping {
            heads,
            taken,
            plain,
            run,
        } = &mut g;
        heads.clear();
        heads.extend(packets.iter().map(|p| {
            if !p.vnet().is_none() {
                return None;
            }
            let (d, _) = outer_datagram(p.data())?;
            run_head(d).map(|(key, payload)| (key, payload.len()))
        }));
        taken.clear();
        taken.resize(packets.len(), false);
        plain.clear();
        // Runs of two or more go out whole, each as soon as its first frame's turn comes; the
        // frames left out of runs go as before, in order, those before a run ahead of it.
        let mut sent = 0;
        for i in 0..packets.len() {
            if taken[i] {
                continue;
            }
            gather(heads, taken, i, run);
            if run.len() >= 2 {
                sent += self.send_plain(plain.iter().map(|&j| &packets[j]));
                plain.clear();
                for &j in run.iter() {
                    taken[j] = true;
                }
                sent += self.send_run(run.iter().map(|&j| &packets[j]));
            } else {
                plain.push(i);
            }
        }
        sent += self.send_plain(plain.iter().map(|&j| &packets[j]));
        self.grouping = g;
        Ok(sent)
    }

    fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        self.mtu = mtu;
        Ok(())
    }

    fn set_mac(&mut self, mac: MacAddr) -> Result<()> {
        self.mac = mac;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.rx.as_fd())
    }

    fn mtu(&self) -> Result<u32> {
        Ok(self.mtu)
    }

    fn mac(&self) -> Result<MacAddr> {
        Ok(self.mac)
    }

    fn link_state(&self) -> Result<LinkState> {
        Ok(LinkState::Up)
    }

    fn stats(&self) -> NetdevStats {
        self.stats
    }

    fn has_vnet_hdr(&self) -> bool {
        false
    }

    fn coverage(&self) -> Vec<(&'static str, u64)> {
        let o = self.offload;
        vec![
            ("tunnel_udp_gso_sends", o.gso_sends),
            ("tunnel_udp_gso_segments", o.gso_segments),
            ("tunnel_udp_gro_buffers", o.gro_buffers),
            ("tunnel_udp_gro_segments", o.gro_segments),
        ]
    }
}

impl KernelTunnel {
    /// Sends queued frames one outer packet per datagram through the raw socket (runs of
    /// `sendmmsg`); frames with offload work left are finished or dropped first (see the
    /// module docs). Returns how many went.
    fn send_plain<'a>(&mut self, packets: impl Iterator<Item = &'a Packet>) -> usize {
        let mut run: [(&[u8], Ipv4Addr); BURST] = [(&[], Ipv4Addr::UNSPECIFIED); BURST];
        let mut lens = [0usize; BURST];
        let mut k = 0;
        let mut sent = 0;
        for p in packets {
            let v = p.vnet();
            if !v.is_none() {
                if v.gso_type.kind() != crate::GsoType::NONE {
                    self.stats.tx_dropped += 1;
                } else if v.flags.contains(VnetFlags::NEEDS_CSUM) {
                    // Keep the order of the frames: what is queued goes first.
                    sent += self.flush(&run[..k], &lens[..k]);
                    k = 0;
                    sent += self.send_with_checksum(p);
                }
                continue;
            }
            let Some(d) = outer_datagram(p.data()) else {
                self.stats.tx_dropped += 1;
                continue;
            };
            if needs_source(d.0) {
                sent += self.flush(&run[..k], &lens[..k]);
                k = 0;
                sent += self.send_with_source(d.0, d.1, p.len());
                continue;
            }
            run[k] = d;
            lens[k] = p.len();
            k += 1;
            if k == BURST {
                sent += self.flush(&run, &lens);
                k = 0;
            }
        }
        sent + self.flush(&run[..k], &lens[..k])
    }

    /// Sends a run (see [`gather`]) as one `UDP_SEGMENT` datagram from the socket bound to
    /// its source; falls back to [`KernelTunnel::send_plain`] when the kernel cannot send it
    /// so (no socket for the source, a segment over the route's MTU, no checksum offload on
    /// the way). Returns how many outer packets went.
    fn send_run<'a>(&mut self, packets: impl Iterator<Item = &'a Packet> + Clone) -> usize {
        let mut payloads: [&[u8]; sys::GSO_MAX_SEGMENTS] = [&[]; sys::GSO_MAX_SEGMENTS];
        let mut key = None;
        let (mut n, mut frame_bytes) = (0, 0);
        for (slot, p) in payloads.iter_mut().zip(packets.clone()) {
            let Some((k, payload)) = outer_datagram(p.data()).and_then(|(d, _)| run_head(d)) else {
                return self.send_plain(packets);
            };
            *slot = payload;
            key = Some(k);
            frame_bytes += p.len();
            n += 1;
        }
        let (Some(key), Ok(segment)) = (key, u16::try_from(payloads[0].len())) else {
            return self.send_plain(packets);
        };
        let how = sys::UdpGsoSend {
            dst: SocketAddrV4::new(key.dst, key.dst_port),
            segment,
            tos: key.tos,
            ttl: key.ttl,
        };
        let now = Instant::now();
        let Some(fd) = self.senders.get(&key, now) else {
            return self.send_plain(packets);
        };
        match sys::send_udp_gso(fd, &payloads[..n], how) {
            Ok(_) => {
                self.stats.tx_packets += n as u64;
                self.stats.tx_bytes += frame_bytes as u64;
                self.offload.gso_sends += 1;
                self.offload.gso_segments += n as u64;
                n
            }
            Err(e) => match e.raw_os_error() {
                // A segment over the route's MTU (EINVAL), a TTL of 0: the raw socket sends
                // or refuses each packet as it always did.
                Some(libc::EINVAL | libc::EMSGSIZE) => self.send_plain(packets),
                // No checksum offload or no UDP GSO on the way out: not for this source.
                Some(libc::EIO | libc::EOPNOTSUPP | libc::ENOPROTOOPT) => {
                    self.senders.refuse(&key, now);
                    self.send_plain(packets)
                }
                _ if is_send_drop(&e) => {
                    self.stats.tx_dropped += n as u64;
                    0
                }
                _ => {
                    self.stats.tx_errors += n as u64;
                    0
                }
            },
        }
    }

    /// [`Netdev::recv_batch`] on a socket with `UDP_GRO`: datagrams are read into
    /// [`Staged`] buffers and handed over one per slot, coalesced buffers split.
    fn recv_staged(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        let mut received = 0;
        // A read that returned fewer than it could emptied the socket: no second read.
        let mut emptied = false;
        while let Some(slot) = batch.spare_mut().get_mut(received) {
            let Some(t) = self.staged.take(slot) else {
                if emptied {
                    break;
                }
                match self.staged.fill(self.rx.as_fd()) {
                    Ok(got) => emptied = got < BURST,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        batch.commit(received);
                        return Err(Error::sys(&self.name, "recvmmsg", e));
                    }
                }
                continue;
            };
            if t.segment {
                self.offload.gro_segments += 1;
                if t.first {
                    self.offload.gro_buffers += 1;
                }
            }
            match finish_rx(slot, &t.meta, &self.config, self.mac) {
                Ok(()) => {
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += slot.len() as u64;
                    received += 1;
                }
                Err(why) => {
                    self.stats.rx_errors += 1;
                    self.drops.count(why);
                }
            }
        }
        batch.commit(received);
        Ok(received)
    }
}

/// The source address the kernel would give a packet to `remote` (the preferred source of
/// the route to it), for a tunnel configured without `local_ip`. No packet is sent: a UDP
/// socket is connected, which only looks the route up.
pub fn route_source(remote: Ipv4Addr) -> Result<Ipv4Addr> {
    let label = format!("route to {remote}");
    let err = |what| {
        let label = label.clone();
        move |e| Error::sys(&label, what, e)
    };
    let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).map_err(err("bind"))?;
    s.connect(SocketAddrV4::new(remote, 9))
        .map_err(err("route lookup"))?;
    match s.local_addr().map_err(err("getsockname"))? {
        std::net::SocketAddr::V4(a) => Ok(*a.ip()),
        std::net::SocketAddr::V6(_) => Err(Error::sys(
            &label,
            "route lookup",
            io::Error::from(io::ErrorKind::AddrNotAvailable),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_packet::Layer;
    use fvs_packet::tunnel::{Encap, encapsulate};
    use std::net::IpAddr;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 31);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 21);

    fn inner(len: usize) -> Vec<u8> {
        let mut f = vec![0x5a; len];
        if len >= 14 {
            f[..12].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 2, 0xfa, 0x16, 0x3e, 0, 0, 1]);
            f[12..14].copy_from_slice(&[0x08, 0x06]);
        }
        f
    }

    /// An outer frame from B to A as fvs-packet builds it.
    fn outer(protocol: TunnelProtocol, inner: &[u8]) -> Vec<u8> {
        let e = Encap::new(protocol, MacAddr::ZERO, MacAddr::ZERO, B, A, Some(1));
        encapsulate(&e, inner).unwrap()
    }

    /// What the raw GRE socket returns for `frame`: the IPv4 packet.
    fn gre_read(frame: &[u8]) -> Vec<u8> {
        frame[14..].to_vec()
    }

    /// What a UDP socket returns for `frame`: the datagram's payload.
    fn udp_read(frame: &[u8]) -> Vec<u8> {
        frame[14 + 28..].to_vec()
    }

    fn receive(
        protocol: TunnelProtocol,
        bytes: &[u8],
        truncated: bool,
    ) -> std::result::Result<Packet, RxDrop> {
        let mut p = Packet::new(2048);
        p.rx_area()[..bytes.len()].copy_from_slice(bytes);
        let m = InetRxMeta {
            len: bytes.len(),
            truncated,
            src: SocketAddrV4::new(B, 49152),
            dst: Some(A),
            tos: Some(0x10),
            ttl: Some(63),
            gro_segment: None,
        };
        finish_rx(&mut p, &m, &UnderlayConfig::new(protocol), DEFAULT_MAC).map(|()| p)
    }

    /// What the receive path makes of one buffer in which the kernel coalesced `datagrams`
    /// (UDP payloads; all as long as the first but the last): one result per datagram.
    fn receive_coalesced(
        protocol: TunnelProtocol,
        datagrams: &[Vec<u8>],
    ) -> Vec<std::result::Result<Packet, RxDrop>> {
        let bytes = datagrams.concat();
        let m = InetRxMeta {
            len: bytes.len(),
            truncated: false,
            src: SocketAddrV4::new(B, 49152),
            dst: Some(A),
            tos: Some(0),
            ttl: Some(64),
            gro_segment: u16::try_from(datagrams[0].len()).ok(),
        };
        let mut staged = Staged::holding(&bytes, m);
        let mut out = Vec::new();
        loop {
            let mut p = Packet::new(2048);
            let Some(t) = staged.take(&mut p) else {
                return out;
            };
            out.push(
                finish_rx(&mut p, &t.meta, &UnderlayConfig::new(protocol), DEFAULT_MAC).map(|()| p),
            );
        }
    }

    #[test]
    fn a_coalesced_buffer_becomes_its_datagrams_with_a_short_last() {
        for protocol in [TunnelProtocol::Vxlan, TunnelProtocol::Geneve] {
            let full = udp_read(&outer(protocol, &inner(1400)));
            let short = udp_read(&outer(protocol, &inner(300)));
            let got = receive_coalesced(protocol, &[full.clone(), full.clone(), short]);
            assert_eq!(got.len(), 3);
            for (r, len) in got.iter().zip([1400, 1400, 300]) {
                let p = r.as_ref().expect("a good datagram is kept");
                let d = decapsulate(p.data(), UnderlayConfig::new(protocol).ports()).unwrap();
                assert_eq!(d.inner, &inner(len)[..]);
                assert_eq!(
                    (d.metadata.src, d.metadata.dst),
                    (IpAddr::V4(B), IpAddr::V4(A))
                );
                assert_eq!(d.metadata.udp_src, 49152);
            }
        }
    }

    #[test]
    fn bad_datagrams_in_a_coalesced_buffer_are_dropped_alone() {
        let good = udp_read(&outer(TunnelProtocol::Vxlan, &inner(200)));
        let mut no_i_flag = good.clone();
        no_i_flag[0] = 0;
        // The short last datagram carries a 10-byte "frame".
        let runt = udp_read(&outer(TunnelProtocol::Vxlan, &inner(10)));
        let got = receive_coalesced(
            TunnelProtocol::Vxlan,
            &[good.clone(), no_i_flag, good.clone(), runt],
        );
        assert_eq!(got.len(), 4);
        assert!(got[0].is_ok() && got[2].is_ok());
        assert!(matches!(
            got[1].as_ref().err(),
            Some(RxDrop::Malformed(fvs_packet::Error::Unsupported {
                layer: Layer::Vxlan,
                ..
            }))
        ));
        assert_eq!(got[3].as_ref().err(), Some(&RxDrop::Runt));
        // The last one cut short of its VXLAN header.
        let got = receive_coalesced(TunnelProtocol::Vxlan, &[good.clone(), good[..5].to_vec()]);
        assert!(got[0].is_ok());
        assert_eq!(malformed_at(got[1].clone()), Layer::Vxlan);
    }

    fn malformed_at(r: std::result::Result<Packet, RxDrop>) -> Layer {
        match r {
            Err(RxDrop::Malformed(
                fvs_packet::Error::Truncated { layer, .. }
                | fvs_packet::Error::BadLength { layer, .. }
                | fvs_packet::Error::BadVersion { layer, .. }
                | fvs_packet::Error::BadChecksum { layer }
                | fvs_packet::Error::Unsupported { layer, .. },
            )) => layer,
            other => panic!("expected a malformed-packet drop, got {other:?}"),
        }
    }

    #[test]
    fn gre_from_the_raw_socket_decapsulates_with_its_key() {
        let f = outer(TunnelProtocol::Gre, &inner(60));
        let p = receive(TunnelProtocol::Gre, &gre_read(&f), false).unwrap();
        assert_eq!(&p.data()[..6], &DEFAULT_MAC.0);
        let d = decapsulate(p.data(), TunnelPorts::default()).unwrap();
        assert_eq!(d.inner, &inner(60)[..]);
        assert_eq!(
            (d.metadata.tun_id, d.metadata.src, d.metadata.dst),
            (1, IpAddr::V4(B), IpAddr::V4(A))
        );
    }

    #[test]
    fn udp_tunnels_get_their_outer_headers_rebuilt() {
        for protocol in [TunnelProtocol::Vxlan, TunnelProtocol::Geneve] {
            let f = outer(protocol, &inner(60));
            let p = receive(protocol, &udp_read(&f), false).unwrap();
            let d = decapsulate(p.data(), UnderlayConfig::new(protocol).ports()).unwrap();
            assert_eq!(d.inner, &inner(60)[..]);
            let md = d.metadata;
            assert_eq!(md.protocol, protocol);
            assert_eq!(
                (md.tun_id, md.src, md.dst),
                (1, IpAddr::V4(B), IpAddr::V4(A))
            );
            assert_eq!((md.tos, md.ttl, md.udp_src), (0x10, 63, 49152));
        }
    }

    #[test]
    fn jumbo_datagrams_larger_than_the_buffer_are_dropped() {
        let f = outer(TunnelProtocol::Vxlan, &inner(60));
        assert_eq!(
            receive(TunnelProtocol::Vxlan, &udp_read(&f), true).err(),
            Some(RxDrop::Oversized)
        );
    }

    #[test]
    fn runts_are_dropped() {
        // Nothing at all, a bare GRE header, and a valid tunnel around a 10-byte "frame".
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Gre, &[], false)),
            Layer::Ipv4
        );
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Vxlan, &[], false)),
            Layer::Vxlan
        );
        let f = outer(TunnelProtocol::Gre, &inner(10));
        assert_eq!(
            receive(TunnelProtocol::Gre, &gre_read(&f), false).err(),
            Some(RxDrop::Runt)
        );
        let f = outer(TunnelProtocol::Geneve, &inner(0));
        assert_eq!(
            receive(TunnelProtocol::Geneve, &udp_read(&f), false).err(),
            Some(RxDrop::Runt)
        );
    }

    #[test]
    fn truncated_headers_are_dropped() {
        let f = gre_read(&outer(TunnelProtocol::Gre, &inner(60)));
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Gre, &f[..12], false)),
            Layer::Ipv4
        );
        // The IPv4 header promises more than arrived.
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Gre, &f[..40], false)),
            Layer::Ipv4
        );
        // A GRE header cut short (IPv4 length fixed to match, checksum recomputed).
        let mut cut = f[..24].to_vec();
        cut[2..4].copy_from_slice(&24u16.to_be_bytes());
        refresh_ip_checksum(&mut cut);
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Gre, &cut, false)),
            Layer::Gre
        );
        let v = udp_read(&outer(TunnelProtocol::Vxlan, &inner(60)));
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Vxlan, &v[..5], false)),
            Layer::Vxlan
        );
    }

    fn refresh_ip_checksum(ip: &mut [u8]) {
        ip[10..12].fill(0);
        let c = fvs_packet::checksum::checksum(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn bogus_gre_is_dropped() {
        let good = gre_read(&outer(TunnelProtocol::Gre, &inner(60)));
        // Version 1 (PPTP's enhanced GRE).
        let mut b = good.clone();
        b[21] |= 1;
        assert!(matches!(
            receive(TunnelProtocol::Gre, &b, false).err(),
            Some(RxDrop::Malformed(fvs_packet::Error::BadVersion {
                layer: Layer::Gre,
                value: 1
            }))
        ));
        // The routing-present flag.
        let mut b = good.clone();
        b[20] |= 0x40;
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Gre, &b, false)),
            Layer::Gre
        );
        // IPv4 over GRE instead of Ethernet.
        let mut b = good.clone();
        b[22..24].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Gre, &b, false)),
            Layer::Gre
        );
        // A checksum flag with a wrong checksum.
        let mut e = Encap::new(
            TunnelProtocol::Gre,
            MacAddr::ZERO,
            MacAddr::ZERO,
            B,
            A,
            None,
        );
        e.csum = true;
        let mut b = gre_read(&encapsulate(&e, &inner(60)).unwrap());
        *b.last_mut().unwrap() ^= 0xff;
        assert!(matches!(
            receive(TunnelProtocol::Gre, &b, false).err(),
            Some(RxDrop::Malformed(fvs_packet::Error::BadChecksum {
                layer: Layer::Gre
            }))
        ));
    }

    #[test]
    fn bogus_vxlan_is_dropped() {
        let mut b = udp_read(&outer(TunnelProtocol::Vxlan, &inner(60)));
        b[0] = 0; // no I flag
        assert!(matches!(
            receive(TunnelProtocol::Vxlan, &b, false).err(),
            Some(RxDrop::Malformed(fvs_packet::Error::Unsupported {
                layer: Layer::Vxlan,
                ..
            }))
        ));
    }

    #[test]
    fn bogus_geneve_is_dropped() {
        let good = udp_read(&outer(TunnelProtocol::Geneve, &inner(20)));
        // Options announced longer than the datagram (63 words).
        let mut b = good.clone();
        b[0] |= 0x3f;
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Geneve, &b, false)),
            Layer::Geneve
        );
        // Version 1.
        let mut b = good.clone();
        b[0] |= 0x40;
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Geneve, &b, false)),
            Layer::Geneve
        );
        // Not Ethernet inside.
        let mut b = good.clone();
        b[2..4].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(
            malformed_at(receive(TunnelProtocol::Geneve, &b, false)),
            Layer::Geneve
        );
    }

    /// Random bytes, and mutations of good packets, never panic; whatever is accepted
    /// decapsulates to at least an Ethernet header.
    #[test]
    fn random_and_mutated_packets_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for protocol in [
            TunnelProtocol::Gre,
            TunnelProtocol::Vxlan,
            TunnelProtocol::Geneve,
        ] {
            let f = outer(protocol, &inner(60));
            let good = match protocol {
                TunnelProtocol::Gre => gre_read(&f),
                _ => udp_read(&f),
            };
            for round in 0..5000 {
                let bytes: Vec<u8> = if round % 2 == 0 {
                    let len = (next() % 200) as usize;
                    (0..len).map(|_| next() as u8).collect()
                } else {
                    let mut b = good.clone();
                    for _ in 0..1 + next() % 4 {
                        let i = (next() as usize) % b.len();
                        b[i] = next() as u8;
                    }
                    b.truncate((next() as usize) % (b.len() + 1));
                    b
                };
                if let Ok(p) = receive(protocol, &bytes, false) {
                    let d = decapsulate(p.data(), UnderlayConfig::new(protocol).ports());
                    assert!(d.is_ok_and(|d| d.inner.len() >= 14));
                }
            }
        }
    }

    #[test]
    fn drops_are_counted_by_reason() {
        let mut d = RxDrops::default();
        d.count(RxDrop::Runt);
        d.count(RxDrop::Oversized);
        d.count(RxDrop::Runt);
        assert_eq!((d.runts, d.oversized, d.malformed), (2, 1, 0));
        assert_eq!(d.last, Some(RxDrop::Runt));
    }

    #[test]
    fn only_ethernet_ipv4_frames_are_sent() {
        let f = outer(TunnelProtocol::Gre, &inner(60));
        let (d, dst) = outer_datagram(&f).unwrap();
        assert_eq!((d, dst), (&f[14..], A));
        // With trailing padding, only the datagram goes.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 7]);
        assert_eq!(outer_datagram(&padded).unwrap().0.len(), f.len() - 14);
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(outer_datagram(&arp).is_none());
        let mut long = f.clone();
        long[16..18].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(outer_datagram(&long).is_none());
        assert!(outer_datagram(&f[..30]).is_none());
    }

    #[test]
    fn udp_checksums_without_a_source_are_spotted() {
        let frame = |protocol, src, csum| {
            let mut e = Encap::new(protocol, MacAddr::ZERO, MacAddr::ZERO, src, A, Some(1));
            e.csum = csum;
            encapsulate(&e, &inner(60)).unwrap()
        };
        let any = Ipv4Addr::UNSPECIFIED;
        assert!(needs_source(&frame(TunnelProtocol::Vxlan, any, true)[14..]));
        assert!(needs_source(
            &frame(TunnelProtocol::Geneve, any, true)[14..]
        ));
        assert!(!needs_source(
            &frame(TunnelProtocol::Vxlan, any, false)[14..]
        ));
        assert!(!needs_source(&frame(TunnelProtocol::Vxlan, B, true)[14..]));
        assert!(!needs_source(&frame(TunnelProtocol::Gre, any, true)[14..]));
    }

    #[test]
    fn names_are_open_vswitch_s() {
        assert_eq!(UnderlayConfig::new(TunnelProtocol::Gre).name(), "gre_sys");
        assert_eq!(
            UnderlayConfig::new(TunnelProtocol::Vxlan).name(),
            "vxlan_sys_4789"
        );
        assert_eq!(
            UnderlayConfig::new(TunnelProtocol::Geneve).name(),
            "genev_sys_6081"
        );
    }
}
