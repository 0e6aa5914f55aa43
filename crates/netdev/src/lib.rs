//! `fvs-netdev` moves packets between ferrovs and network devices, in batches, behind one trait.
//!
//! # What it does
//!
//! A datapath thread owns some [`Netdev`]s and a few [`PacketBatch`]es. It polls the devices'
//! [`Netdev::fd`]s, calls [`Netdev::recv_batch`] to fill a batch, processes it, and hands
//! batches to [`Netdev::send_batch`]. Nothing here blocks: a device with nothing to read
//! returns 0, and a frame the kernel cannot take right now is dropped and counted, as a switch
//! port does (veth gives no back-pressure; queueing belongs to the sender's TCP).
//!
//! # Devices
//!
//! - [`dummy`]: in-memory queues with a [`dummy::DummyHandle`] to inject frames and read what
//!   was sent, plus Open vSwitch's `rx_pcap`/`tx_pcap` options on classic pcap files
//!   ([`pcap`]). For tests and demos without root.
//! - [`tap`]: a TAP device made (or reopened) by name through `/dev/net/tun`; ferrovs's
//!   `internal` ports. Optional virtio-net headers with `TUNSETOFFLOAD`; optionally
//!   persistent (`TUNSETPERSIST`), so it outlives the switch until [`Netdev::remove`].
//! - [`af_packet`]: an existing Linux device (veth end, a hypervisor's TAP, a NIC) read
//!   through an `AF_PACKET` socket's receive ring (`TPACKET_V2` by default, `TPACKET_V3`, or
//!   `recvmmsg` without a ring) and written with `sendmmsg`; promiscuous; VLAN tags the kernel stripped are put back; optional
//!   `PACKET_VNET_HDR` (with the ring too) and `PACKET_QDISC_BYPASS`.
//! - [`poll`]: waiting for any of a thread's devices to become readable (`poll(2)`).
//! - [`tunnel`]: the underlay of GRE, VXLAN and Geneve tunnel vports through the host's own
//!   IPv4 stack (raw and UDP sockets): the kernel routes and resolves the outer packets.
//! - [`netlink`]: the kernel's route to a destination and the interfaces' IPv4 addresses
//!   (rtnetlink), for native tunnels that route and resolve neighbours themselves.
//! - [`tc`]: kernel forwarding of simple flows for `other_config:hw-offload`: `u32` filters
//!   with a `mirred` redirect on a device's ingress, `cls_bpf` filters whose generated eBPF
//!   programs push or strip a GRE/VXLAN/Geneve outer header and redirect (the instructions
//!   come from a small assembler, `ebpf`), their statistics, and the packet-socket program
//!   that keeps the switch from seeing (and forwarding twice) what they take.
//! - [`netns`]: running setup inside a named network namespace (tests, and tunnels that reach
//!   the wire through another namespace's stack).
//!
//! # Offloads
//!
//! Each [`Packet`] carries a [`VnetHdr`]: checksum-partial and GSO state as the kernel's
//! virtio-net header describes it. Devices opened with virtio-net headers fill it on receive
//! and honour it on send, so a 64 KiB TSO super-frame crosses the switch as one packet. A
//! device without them receives only complete frames; sending a frame that still needs
//! segmentation or a checksum to such a device is the datapath's job to avoid (it must segment
//! or checksum first); this crate drops such a frame and counts it in `tx_dropped` rather than
//! emit a corrupt one.
//!
//! # Safety
//!
//! This is the only ferrovs crate allowed `unsafe`. It lives in one module, `sys`, as small
//! safe functions over `libc` calls, each block with a `// SAFETY:` reason (enforced by
//! `clippy::undocumented_unsafe_blocks`); every other module is safe Rust (`unsafe_code` is
//! `deny` for the crate and only `sys` allows it).
//!
//! # Tests
//!
//! Unit tests cover batches, the dummy device and pcap files (the files are also read back
//! by `tcpdump -r`, which must be installed). The tests in `tests/linux.rs` need root (CI runs
//! as root): they make network namespaces with veth pairs and TAP devices and fail with a clear
//! message when not root; every namespace they create is deleted by a drop guard. Those in
//! `tests/tunnel.rs` run the tunnel underlay between two namespaces joined by a veth: VXLAN
//! against Linux's own `vxlan` device, GRE and Geneve between two underlays with `tcpdump`
//! on the wire, runs of VXLAN and Geneve frames sent with `UDP_SEGMENT` and received
//! coalesced (`UDP_GRO`), and malformed packets from the network dropped and counted.
//! `tests/tc.rs` and `tests/tc_bpf.rs` install traffic-control filters between veth pairs:
//! frames redirected, GRE and VXLAN headers pushed (checked field by field) and stripped, a
//! TSO super-frame encapsulated and decapsulated whole, and the programs' counters.
//!
//! # Performance
//!
//! `examples/af_packet_pps.rs` measures the AF_PACKET receive and send rate over a veth pair,
//! with the CPU time per frame of each side and the latency of a lone frame, for every receive
//! path in one run; figures are in `docs/benchmarks/netdev.md`. `examples/tunnel_pps.rs` does
//! the same for the tunnel underlay between two namespaces (`docs/benchmarks/tunnels.md`).
//!
//! # Not done yet
//!
//! `PACKET_FANOUT`, a transmit ring (a gain only for NICs: veth and TAP copy ring frames, see
//! [`af_packet`]), multi-queue TAP, AF_XDP, and following link/MTU changes by netlink (today
//! they are read on demand).

pub mod af_packet;
pub mod batch;
pub mod dummy;
mod ebpf;
pub mod error;
mod ifctl;
pub mod netlink;
pub mod netns;
pub mod pcap;
pub mod poll;
mod rx_ring;
mod sys;
pub mod tap;
pub mod tc;
pub mod tunnel;

pub use batch::{GsoType, Packet, PacketBatch, VnetFlags, VnetHdr};
pub use error::{Error, Result};
pub use fvs_packet::MacAddr;

use std::os::fd::BorrowedFd;

/// A network device that receives and sends packets in batches.
///
/// Implementations never block: `recv_batch` returns 0 when nothing is waiting, and
/// `send_batch` drops (and counts) what the device cannot take now.
pub trait Netdev: Send {
    /// Receives up to the batch's free slots, appending behind the packets already there;
    /// returns how many packets were added (0 when none are waiting). A device may keep
    /// packets it has taken from the kernel for the next call only when this call filled
    /// the batch (the tunnel underlay splitting a coalesced buffer): a caller whose batch
    /// came back full must call again before it waits on [`Netdev::fd`].
    fn recv_batch(&mut self, batch: &mut PacketBatch) -> Result<usize>;

    /// Sends every packet of the batch; returns how many the device accepted. Frames it could
    /// not take are counted in the statistics (`tx_dropped`, `tx_errors`), not reported as an
    /// error; `Err` means the device itself failed.
    fn send_batch(&mut self, batch: &PacketBatch) -> Result<usize>;

    /// Changes the device's MTU.
    fn set_mtu(&mut self, mtu: u32) -> Result<()>;

    /// Changes the device's Ethernet address.
    fn set_mac(&mut self, mac: MacAddr) -> Result<()>;

    /// The device's name.
    fn name(&self) -> &str;

    /// A file descriptor that becomes readable when `recv_batch` has something to return, or
    /// `None` for a device that must be polled by calling `recv_batch` (the dummy device).
    fn fd(&self) -> Option<BorrowedFd<'_>>;

    /// The device's MTU (the largest L3 payload, without the Ethernet header).
    fn mtu(&self) -> Result<u32>;

    /// The device's Ethernet address.
    fn mac(&self) -> Result<MacAddr>;

    /// Whether the device is administratively up with a carrier.
    fn link_state(&self) -> Result<LinkState>;

    /// Whether the device is administratively up (`ip link set NAME up`), carrier or not:
    /// the `admin_state` an `Interface` row shows and OpenFlow's `PORT_DOWN`. `None` for a
    /// device without such a state of its own (the default: dummy devices, tunnel
    /// underlays), or whose state cannot be read.
    fn admin_up(&self) -> Option<bool> {
        None
    }

    /// The link's speed, duplex and modes, as `ethtool NAME` shows them (`None` by default:
    /// devices whose driver does not say, and devices that are no kernel devices).
    fn link_settings(&self) -> Option<LinkSettings> {
        None
    }

    /// The configuration no longer has this device: one the switch made to outlive it (a
    /// persistent TAP) is deleted once closed. Nothing to do by default.
    fn remove(&self) -> Result<()> {
        Ok(())
    }

    /// Brings the device administratively up or down (`ip link set NAME up|down`), for an
    /// OpenFlow port-mod's `PORT_DOWN`. Only the kernel's state changes, not this handle, so
    /// it takes `&self`. Devices without such a state ignore it (the default).
    fn set_admin_up(&self, up: bool) -> Result<()> {
        let _ = up;
        Ok(())
    }

    /// Counters since the device was opened by this process.
    fn stats(&self) -> NetdevStats;

    /// True if packets carry virtio-net headers through this device (offloads pass through).
    fn has_vnet_hdr(&self) -> bool;

    /// True when the device receives into a memory-mapped ring: `recv_batch` on an empty
    /// device then costs a memory read, not a system call, so a busy datapath thread looks
    /// at it every round instead of asking `poll(2)` (false by default: asking is cheaper
    /// than one failed read per device).
    fn has_rx_ring(&self) -> bool {
        false
    }

    /// Device-specific event counters since the device was opened, by the name
    /// `coverage/show` prints (none by default).
    fn coverage(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// A link's speed, duplex and modes as the device's driver reports them (`ethtool NAME`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// The speed in Mb/s, when known.
    pub speed_mbps: Option<u32>,
    /// Full duplex (`Some(true)`), half (`Some(false)`), or unknown.
    pub full_duplex: Option<bool>,
    /// A fibre port (else copper, twisted pair, or other).
    pub fibre: bool,
    /// A twisted-pair (copper) port, as TAP and veth devices say they are.
    pub twisted_pair: bool,
    /// Autonegotiation on.
    pub autoneg: bool,
    /// Supported link modes (ethtool's `SUPPORTED_*` bits).
    pub supported: u32,
    /// Advertised link modes (the same bits).
    pub advertising: u32,
    /// The link partner's advertised modes (the same bits).
    pub peer_advertising: u32,
}

/// Link state as an `Interface` row reports it (`link_state`: `up` or `down`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// Administratively up and with a carrier.
    Up,
    /// Down, or up without a carrier.
    Down,
}

impl LinkState {
    /// The word Open vSwitch uses in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// Packet and byte counters of one device, as the `Interface` row's `statistics` column shows
/// them (`rx_packets`, `rx_bytes`, `rx_dropped`, `rx_errors` and the `tx_` twins).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetdevStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received (frames without virtio-net headers).
    pub rx_bytes: u64,
    /// Packets the kernel or this crate dropped before the switch saw them (for AF_PACKET
    /// this includes socket-buffer overflows reported by `PACKET_STATISTICS`).
    pub rx_dropped: u64,
    /// Receive errors (truncated frames, failed reads).
    pub rx_errors: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped on send (device busy, offload the device cannot carry).
    pub tx_dropped: u64,
    /// Send errors (failed writes).
    pub tx_errors: u64,
}
