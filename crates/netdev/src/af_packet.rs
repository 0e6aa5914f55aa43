//! Existing Linux devices read and written through an `AF_PACKET` socket: ferrovs's `system`
//! ports (veth ends, TAP devices a hypervisor made, NICs).
//!
//! # Opening
//!
//! The socket is created with protocol 0, so it receives nothing until it is bound: binding to
//! the device's ifindex with `ETH_P_ALL` then starts the flow, and no frame from another device
//! can slip in between. Before binding it is given:
//! - `PACKET_AUXDATA`, because the kernel strips 802.1Q tags on receive (into the skb's
//!   metadata) and reports them only there (or in the ring's frame headers): received frames
//!   get the tag put back, so the switch sees the frame as it was on the wire;
//! - `PACKET_IGNORE_OUTGOING`, so the switch never reads back frames it (or the host) sent out
//!   of the device;
//! - large socket buffers (`SO_RCVBUFFORCE`, falling back to `SO_RCVBUF`), because veth gives
//!   no back-pressure: Open vSwitch's AF_PACKET path loses most of its TCP throughput to
//!   receive-buffer overflows;
//! - optionally `PACKET_VNET_HDR`, so TSO/GSO super-frames and partial checksums cross unsplit;
//! - optionally `PACKET_QDISC_BYPASS` (off by default, see below);
//! - by default a `TPACKET_V3` receive ring (next section). `PACKET_VNET_HDR` has to come
//!   first: the kernel refuses it once a ring exists.
//!
//! After binding, `PACKET_ADD_MEMBERSHIP` with `PACKET_MR_PROMISC` makes the device
//! promiscuous for as long as the socket lives (the kernel counts such references, so closing
//! the socket undoes it and other users are not disturbed).
//!
//! # Receiving: the `TPACKET_V3` ring
//!
//! The kernel writes received frames straight into a ring of blocks mapped into the process
//! ([`RingGeometry`], by default 32 blocks of 256 KiB), packed one after another, each behind
//! a `tpacket3_hdr` (and the virtio-net header when asked for). A block is handed over when it
//! is full or when it has been open for `retire_ms` (1 ms, the kernel's minimum); the socket
//! then polls readable. [`Netdev::recv_batch`] walks the handed-over blocks in ring order,
//! copies frames into the batch, and gives each block back as soon as its last frame is copied
//! (a block only partly read, because the batch filled up, is finished on the next call). No
//! system call is made per batch: checking for frames is one memory read, which is what lets
//! the datapath thread skip `poll(2)` while traffic flows. The ring's memory is reached only
//! through `sys::RxRing`, whose borrow rules make reading a block after giving it back
//! impossible.
//!
//! What the user sees:
//! - VLAN tags the kernel took off come back from the frame header's `tp_vlan_tci` and
//!   `tp_vlan_tpid` (status `TP_STATUS_VLAN_VALID`), as they do from `PACKET_AUXDATA`;
//! - frames the ring had no room for are counted by the kernel (`PACKET_STATISTICS`'s
//!   `tp_drops`) and reported in `rx_dropped`;
//! - a frame longer than a block minus its headers cannot be stored whole (`TPACKET_V3` has
//!   no fallback to the socket queue): it is counted in `rx_errors` and never handed over cut.
//!   With 256 KiB blocks any Ethernet frame, jumbo or a 64 KiB TSO super-frame, fits;
//! - a frame arriving alone waits up to `retire_ms` for its block to be handed over: that is
//!   the latency this path adds when traffic is light.
//!
//! `PACKET_VNET_HDR` works with `TPACKET_V3` rings on the kernels ferrovs runs on (checked on
//! 6.18 by the tests in `tests/linux.rs`: partial checksums and a 64 KiB TSO frame arrive with
//! their virtio-net header), so ports with offloads use the ring as well.
//!
//! `rx_ring: None` keeps the older path: `recvmmsg` of up to 32 frames per system call, VLAN
//! tags from `PACKET_AUXDATA` control messages, one copy per frame out of the socket queue.
//!
//! # Sending
//!
//! One `sendmmsg` moves up to 32 frames (each behind its virtio-net header when offloads are
//! on). `PACKET_QDISC_BYPASS` hands frames to the driver without the queueing discipline; on
//! veth (whose qdisc is `noqueue`) it measured no gain, and it hides sent frames from other
//! packet sockets (`tcpdump` on the port), so it is off unless asked for. A `TPACKET_V2`
//! transmit ring is not used: on a ring every frame must fit a fixed-size slot, so 64 KiB TSO
//! frames would need 64 KiB slots (or a second socket, reordering frames).
//!
//! Not done yet: `PACKET_FANOUT` for several datapath threads.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use fvs_packet::MacAddr;

use crate::batch::VnetHdr;
use crate::batch::{Packet, PacketBatch};
use crate::error::{Error, Result};
use crate::ifctl::IfCtl;
use crate::sys::{self, BURST, IfReq, RingReq, RxMeta, RxRing};
use crate::{LinkState, Netdev, NetdevStats};

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// The 802.1Q TPID, used when the kernel does not report the tag's own.
const ETH_P_8021Q: u16 = 0x8100;
/// Socket buffer size asked for, both ways.
const SOCKET_BUFFER: libc::c_int = 8 << 20;
/// Nominal frame size given to the kernel for a `TPACKET_V3` ring: only its checks use it
/// (frames are packed by their real length).
const RING_FRAME_SIZE: u32 = 2048;

/// How to open a device with AF_PACKET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfPacketOptions {
    /// Carry virtio-net headers (`PACKET_VNET_HDR`): receive GSO super-frames and partial
    /// checksums as they are, and send them for the kernel (or the peer) to finish.
    pub vnet_hdr: bool,
    /// Receive through a `TPACKET_V3` ring of this geometry; `None` receives with
    /// `recvmmsg` (one copy out of the kernel per frame and one system call per 32 frames).
    pub rx_ring: Option<RingGeometry>,
    /// Send with `PACKET_QDISC_BYPASS`: straight to the driver, skipping the device's queueing
    /// discipline and the taps (`tcpdump` on the device then no longer sees what the switch
    /// sends).
    pub qdisc_bypass: bool,
}

impl Default for AfPacketOptions {
    fn default() -> Self {
        Self {
            vnet_hdr: false,
            rx_ring: Some(RingGeometry::DEFAULT),
            qdisc_bypass: false,
        }
    }
}

/// The shape of a `TPACKET_V3` receive ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    /// Bytes per block: a power of two, at least a page. A frame (plus about 100 bytes of
    /// ring headers) must fit one block, or it arrives truncated and is counted in
    /// `rx_errors`.
    pub block_size: u32,
    /// Blocks in the ring: the receive buffer is `block_size * blocks` bytes.
    pub blocks: u32,
    /// Milliseconds after which the kernel hands over a block that is not full: the added
    /// latency of a frame that arrives alone (the kernel's unit; 1 is its minimum).
    pub retire_ms: u32,
}

impl RingGeometry {
    /// 32 blocks of 256 KiB (8 MiB, the size of the socket buffers asked for otherwise):
    /// room for three 64 KiB TSO super-frames or about 1600 minimum-size frames per block,
    /// handed over after at most 1 ms.
    pub const DEFAULT: Self = Self {
        block_size: 256 << 10,
        blocks: 32,
        retire_ms: 1,
    };
}

/// A Linux device opened with an `AF_PACKET` socket.
#[derive(Debug)]
pub struct AfPacket {
    socket: OwnedFd,
    ctl: IfCtl,
    name: String,
    vnet_hdr: bool,
    stats: NetdevStats,
    /// Drops the kernel reported; `PACKET_STATISTICS` resets on read, so they accumulate here
    /// (a `Cell` because reading statistics takes `&self`).
    kernel_drops: Cell<u64>,
    /// The receive ring and where reading stopped in it, when there is one.
    rx: Option<RxCursor>,
}

/// A `TPACKET_V3` receive ring and the reader's position in it. Frames of a block are read in
/// order; a block goes back to the kernel as soon as its last frame has been copied out, and
/// the reader moves to the next block (the kernel fills them in ring order).
#[derive(Debug)]
struct RxCursor {
    ring: RxRing,
    /// The block being read (or waited for).
    block: usize,
    /// Frames of the block already taken.
    taken: u32,
    /// Offset of the next frame's header in the block (0: the block has not been opened).
    offset: usize,
    /// Length of the virtio-net header the kernel writes in front of each frame (0 or 10).
    vnet: usize,
}

impl AfPacket {
    /// Opens the existing device `name` in the calling thread's network namespace.
    pub fn open(name: &str, options: AfPacketOptions) -> Result<Self> {
        IfReq::new(name).ok_or_else(|| Error::BadName(name.to_owned()))?;
        let ifindex =
            sys::if_nametoindex(name).ok_or_else(|| Error::NoSuchDevice(name.to_owned()))?;
        let err = |what| move |e| Error::sys(name, what, e);
        let socket =
            sys::socket(libc::AF_PACKET, libc::SOCK_RAW, 0).map_err(err("socket(AF_PACKET)"))?;
        let fd = socket.as_fd();
        sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, &1)
            .map_err(err("PACKET_AUXDATA"))?;
        sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1)
            .map_err(err("PACKET_IGNORE_OUTGOING"))?;
        if options.vnet_hdr {
            sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &1)
                .map_err(err("PACKET_VNET_HDR"))?;
        }
        if options.qdisc_bypass {
            sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1)
                .map_err(err("PACKET_QDISC_BYPASS"))?;
        }
        // After PACKET_VNET_HDR (the kernel refuses it once a ring exists) and before bind,
        // so no frame is queued on the socket outside the ring.
        let rx = match options.rx_ring {
            Some(g) => {
                let req = RingReq {
                    block_size: g.block_size,
                    blocks: g.blocks,
                    frame_size: RING_FRAME_SIZE.min(g.block_size),
                    retire_ms: g.retire_ms,
                };
                let ring = RxRing::new_v3(fd, req).map_err(err("TPACKET_V3 receive ring"))?;
                Some(RxCursor {
                    ring,
                    block: 0,
                    taken: 0,
                    offset: 0,
                    vnet: if options.vnet_hdr { VnetHdr::LEN } else { 0 },
                })
            }
            None => None,
        };
        // The FORCE variants pass the system limits (root only); the plain ones are capped at
        // net.core.[rw]mem_max, which is still better than the default.
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            sys::setsockopt(fd, libc::SOL_SOCKET, force, &SOCKET_BUFFER)
                .or_else(|_| sys::setsockopt(fd, libc::SOL_SOCKET, plain, &SOCKET_BUFFER))
                .map_err(err("socket buffer size"))?;
        }
        sys::bind_packet(fd, ifindex, ETH_P_ALL).map_err(err("bind"))?;
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
            .map_err(err("promiscuous mode"))?;
        let ctl = IfCtl::new(name)?;
        Ok(Self {
            socket,
            ctl,
            name: name.to_owned(),
            vnet_hdr: options.vnet_hdr,
            stats: NetdevStats::default(),
            kernel_drops: Cell::new(0),
            rx,
        })
    }

    /// Takes the kernel's drop counter into `kernel_drops`.
    fn collect_kernel_drops(&self) {
        if let Ok((_, drops)) = sys::packet_statistics(self.socket.as_fd()) {
            self.kernel_drops
                .set(self.kernel_drops.get() + u64::from(drops));
        }
    }
}

impl AfPacket {
    /// Receives with `recvmmsg`, one burst at a time until the batch is full or the socket
    /// is empty.
    fn recv_mmsg(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        let mut meta = [RxMeta::default(); BURST];
        let mut received = 0;
        loop {
            let spare = &mut batch.spare_mut()[received..];
            if spare.is_empty() {
                break;
            }
            let got = match sys::recv_mmsg(self.socket.as_fd(), spare, self.vnet_hdr, &mut meta) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    batch.commit(received);
                    return Err(Error::sys(&self.name, "recvmmsg", e));
                }
            };
            // Keep the good frames contiguous at the front of `spare`.
            let mut kept = 0;
            for (i, m) in meta.iter().enumerate().take(got) {
                if m.truncated {
                    self.stats.rx_errors += 1;
                    continue;
                }
                spare.swap(kept, i);
                finish_rx(&mut spare[kept], m);
                self.stats.rx_packets += 1;
                self.stats.rx_bytes += spare[kept].len() as u64;
                kept += 1;
            }
            received += kept;
            if got < BURST.min(spare.len()) {
                break;
            }
        }
        batch.commit(received);
        Ok(received)
    }
}

impl Netdev for AfPacket {
    fn recv_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        match self.rx.as_mut() {
            Some(rx) => {
                let got = rx.read(batch.spare_mut(), &mut self.stats);
                batch.commit(got);
                Ok(got)
            }
            None => self.recv_mmsg(batch),
        }
    }

    fn send_batch(&mut self, batch: &PacketBatch) -> Result<usize> {
        let packets = batch.packets();
        let sendable = |p: &Packet| self.vnet_hdr || p.vnet().is_none();
        let mut sent = 0;
        let mut i = 0;
        while i < packets.len() {
            if !sendable(&packets[i]) {
                self.stats.tx_dropped += 1;
                i += 1;
                continue;
            }
            // The run of frames this device can carry, at most one burst long.
            let run = packets[i..]
                .iter()
                .take(BURST)
                .take_while(|p| sendable(p))
                .count();
            match sys::send_mmsg(self.socket.as_fd(), &packets[i..i + run], self.vnet_hdr) {
                Ok(k) if k > 0 => {
                    self.stats.tx_packets += k as u64;
                    self.stats.tx_bytes += packets[i..i + k]
                        .iter()
                        .map(|p| p.len() as u64)
                        .sum::<u64>();
                    sent += k;
                    i += k;
                }
                Ok(_) => {
                    self.stats.tx_dropped += 1;
                    i += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The first frame of the run could not go. A full queue (EAGAIN, ENOBUFS) or a
                // down link (ENETDOWN, ENXIO) drops it, as a port does; anything else counts as
                // an error. Either way the rest of the batch is still tried.
                Err(e) => {
                    match e.raw_os_error() {
                        Some(libc::EAGAIN | libc::ENOBUFS | libc::ENETDOWN | libc::ENXIO) => {
                            self.stats.tx_dropped += 1;
                        }
                        _ => self.stats.tx_errors += 1,
                    }
                    i += 1;
                }
            }
        }
        Ok(sent)
    }

    fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        self.ctl.set_mtu(mtu)
    }

    fn set_mac(&mut self, mac: MacAddr) -> Result<()> {
        self.ctl.set_mac(mac)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.socket.as_fd())
    }

    fn mtu(&self) -> Result<u32> {
        self.ctl.mtu()
    }

    fn mac(&self) -> Result<MacAddr> {
        self.ctl.mac()
    }

    fn link_state(&self) -> Result<LinkState> {
        self.ctl.link_state()
    }

    fn stats(&self) -> NetdevStats {
        self.collect_kernel_drops();
        NetdevStats {
            rx_dropped: self.stats.rx_dropped + self.kernel_drops.get(),
            ..self.stats
        }
    }

    fn has_vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }
}

/// Sets a received frame's length and offload header, and puts back the VLAN tag the kernel
/// took off (reported in `PACKET_AUXDATA`), TPID included when the kernel knows it.
fn finish_rx(packet: &mut Packet, meta: &RxMeta) {
    packet.set_rx_len(meta.len);
    packet.set_vnet(meta.vnet);
    if let Some((status, tci, tpid)) = meta.aux
        && status & libc::TP_STATUS_VLAN_VALID != 0
    {
        let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && tpid != 0 {
            tpid
        } else {
            ETH_P_8021Q
        };
        // The receive area starts behind the full headroom, so there is room for the tag.
        let _ = packet.push_vlan(tpid, tci);
    }
}

/// Offsets in a `TPACKET_V3` block descriptor (`struct tpacket_block_desc`, `hdr.bh1`).
mod block {
    /// Frames in the block.
    pub(super) const NUM_PKTS: usize = 12;
    /// Offset of the first frame's header from the block's start.
    pub(super) const FIRST: usize = 16;
}

/// Offsets in a `TPACKET_V3` frame header (`struct tpacket3_hdr`).
mod frame {
    /// Offset of the next frame's header from this one's (0 on the block's last frame).
    pub(super) const NEXT: usize = 0;
    /// Bytes of the frame present in the ring.
    pub(super) const SNAPLEN: usize = 12;
    /// The frame's real length.
    pub(super) const LEN: usize = 16;
    /// `TP_STATUS_*` flags.
    pub(super) const STATUS: usize = 20;
    /// Offset of the frame (its Ethernet header) from the header's start.
    pub(super) const MAC: usize = 24;
    /// The 802.1Q TCI the kernel took off.
    pub(super) const VLAN_TCI: usize = 32;
    /// The TPID of that tag.
    pub(super) const VLAN_TPID: usize = 36;
    /// Size of the header fields read.
    pub(super) const HEADER: usize = 40;
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_ne_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

impl RxCursor {
    /// Copies frames out of the ring into `spare` until it is full or no handed-over block is
    /// left, returning blocks to the kernel as soon as they are read; returns how many slots
    /// of `spare` were filled. Frames the ring truncated (bigger than a block) and malformed
    /// headers count as `rx_errors`.
    fn read(&mut self, spare: &mut [Packet], stats: &mut NetdevStats) -> usize {
        let vnet = self.vnet;
        let mut got = 0;
        // At most one pass over the ring: a block refilled behind us waits for the next call.
        for _ in 0..self.ring.blocks() {
            if got == spare.len() {
                break;
            }
            let Some(block) = self.ring.user_block(self.block) else {
                break;
            };
            let count = u32_at(block, block::NUM_PKTS);
            if self.offset == 0 {
                self.offset = u32_at(block, block::FIRST) as usize;
                self.taken = 0;
            }
            while self.taken < count && got < spare.len() {
                let Some(hdr) = block.get(self.offset..self.offset + frame::HEADER) else {
                    // A header outside the block: drop the rest of the block.
                    stats.rx_errors += u64::from(count - self.taken);
                    self.taken = count;
                    break;
                };
                let next = u32_at(hdr, frame::NEXT) as usize;
                let snaplen = u32_at(hdr, frame::SNAPLEN) as usize;
                let len = u32_at(hdr, frame::LEN) as usize;
                let mac = self.offset + usize::from(u16_at(hdr, frame::MAC));
                let meta = RxMeta {
                    len: snaplen,
                    truncated: snaplen < len,
                    vnet: VnetHdr::NONE,
                    aux: Some((
                        u32_at(hdr, frame::STATUS),
                        u32_at(hdr, frame::VLAN_TCI) as u16,
                        u16_at(hdr, frame::VLAN_TPID),
                    )),
                };
                let bytes = block.get(mac..mac + snaplen);
                let vnet_hdr = mac
                    .checked_sub(vnet)
                    .and_then(|at| block.get(at..mac))
                    .and_then(|b| <&[u8; VnetHdr::LEN]>::try_from(b).ok());
                self.taken += 1;
                self.offset += next;
                let packet = &mut spare[got];
                let copied = match (bytes, meta.truncated) {
                    (Some(bytes), false) if vnet == 0 || vnet_hdr.is_some() => packet
                        .rx_area()
                        .get_mut(..bytes.len())
                        .map(|dst| dst.copy_from_slice(bytes))
                        .is_some(),
                    _ => false,
                };
                if copied {
                    let meta = RxMeta {
                        vnet: vnet_hdr.map_or(VnetHdr::NONE, VnetHdr::from_bytes),
                        ..meta
                    };
                    finish_rx(packet, &meta);
                    stats.rx_packets += 1;
                    stats.rx_bytes += packet.len() as u64;
                    got += 1;
                } else {
                    stats.rx_errors += 1;
                }
                if next == 0 && self.taken < count {
                    // The kernel links every frame but the last: a zero link is corruption.
                    stats.rx_errors += u64::from(count - self.taken);
                    self.taken = count;
                }
            }
            if self.taken < count {
                // The batch is full; the rest of this block waits for the next call.
                break;
            }
            let done = self.block;
            self.ring.release_block(done);
            self.block = (done + 1) % self.ring.blocks();
            self.offset = 0;
            self.taken = 0;
        }
        got
    }
}
