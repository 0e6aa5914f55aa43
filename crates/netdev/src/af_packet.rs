//! Existing Linux devices read and written through an `AF_PACKET` socket: ferrovs's `system`
//! ports (veth ends, TAP devices a hypervisor made, NICs).
//!
//! # Opening
//!
//! The socket is created with protocol 0, so it receives nothing until it is bound: binding to
//! the device's ifindex with `ETH_P_ALL` then starts the flow, and no frame from another device
//! can slip in between. Before binding it is given:
//! - `PACKET_AUXDATA`, because the kernel strips 802.1Q tags on receive (into the skb's
//!   metadata) and reports them only there (or in a ring's frame headers): received frames
//!   get the tag put back, so the switch sees the frame as it was on the wire;
//! - `PACKET_IGNORE_OUTGOING`, so the switch never reads back frames it (or the host) sent out
//!   of the device;
//! - large socket buffers (`SO_RCVBUFFORCE`, falling back to `SO_RCVBUF`), because veth gives
//!   no back-pressure: Open vSwitch's AF_PACKET path loses most of its TCP throughput to
//!   receive-buffer overflows;
//! - optionally `PACKET_VNET_HDR`, so TSO/GSO super-frames and partial checksums cross unsplit;
//! - optionally `PACKET_QDISC_BYPASS` (off by default, see below);
//! - by default a receive ring (next section).
//!
//! After binding, `PACKET_ADD_MEMBERSHIP` with `PACKET_MR_PROMISC` makes the device
//! promiscuous for as long as the socket lives (the kernel counts such references, so closing
//! the socket undoes it and other users are not disturbed).
//!
//! # Receiving: three paths
//!
//! [`RxPath`] chooses how frames come in. With a ring the kernel writes each frame straight
//! into memory mapped into the process, behind a small header (and the virtio-net header when
//! asked for), and the switch copies it into its batch: no system call per batch while frames
//! are waiting, so the datapath thread can skip `poll(2)` while traffic flows. The ring's
//! memory is reached only through `sys::RxRing`, whose borrow rules make reading a slot after
//! giving it back to the kernel impossible; the frame headers are parsed in `rx_ring` with
//! bounds checks.
//!
//! - [`RxPath::Frames`], the default: a `TPACKET_V2` ring of fixed 2 KiB slots
//!   ([`FrameRing`]). Each frame is handed over (and the socket polls readable) as soon as it
//!   is written, so a lone frame waits for nothing. A frame too long for a slot (jumbo frames,
//!   TSO super-frames) is queued whole on the socket as well (`PACKET_COPY_THRESH`); its slot
//!   says so (`TP_STATUS_COPY`) and the reader takes it from the queue with one `recvmsg`,
//!   in order with the frames around it.
//! - [`RxPath::Blocks`]: a `TPACKET_V3` ring of blocks ([`BlockRing`], 32 × 256 KiB) into
//!   which the kernel packs frames by length. A block is handed over when full or when it has
//!   been open for `retire_ms`; the reader walks all its frames, and gives it back after the
//!   last one (a block only partly read because the batch filled up is finished on the next
//!   call). It wakes the reader once per block instead of once per frame: the least CPU per
//!   frame, but the kernel's minimum timeout is 1 ms, so under light traffic every frame
//!   waits up to 1 ms (measured: a median of 0.9 ms against 15 µs for the other paths, on
//!   6.18 over veth), which is why it is not the default. A frame longer than a block cannot
//!   be stored (`TPACKET_V3` has no queue fallback): it is counted in `rx_errors`, never
//!   handed over cut; with 256 KiB blocks any frame fits, 64 KiB TSO frames included.
//! - [`RxPath::Recvmmsg`]: `recvmmsg` of up to 32 frames per system call, VLAN tags from
//!   `PACKET_AUXDATA` control messages.
//!
//! A ring is kernel memory allocated when the device is opened; when the kernel cannot give
//! it (memory limits, a size it refuses) opening fails with [`Error::RxRing`], distinct from
//! the other failures, so that a caller can open the device again with
//! [`RxPath::Recvmmsg`], which needs no ring.
//!
//! On every path, VLAN tags the kernel took off are put back (from the ring's `tp_vlan_tci`
//! and `tp_vlan_tpid`, status `TP_STATUS_VLAN_VALID`, or from the auxdata message), and frames
//! the kernel had no room for (ring or socket queue full) are counted by the kernel
//! (`PACKET_STATISTICS`'s `tp_drops`) and reported in `rx_dropped`.
//!
//! `PACKET_VNET_HDR` works with both ring versions on the kernels ferrovs runs on (checked on
//! 6.18 by `tests/linux.rs`: partial checksums, and a 64 KiB TSO frame that arrives whole with
//! its virtio-net header), so ports with offloads use the ring as well. It must be set before
//! the ring exists (the kernel refuses it afterwards).
//!
//! # Sending
//!
//! One `sendmmsg` moves up to 32 frames (each behind its virtio-net header when offloads are
//! on). `PACKET_QDISC_BYPASS` hands frames to the driver without the queueing discipline; on
//! veth (whose qdisc is `noqueue`) it measured no gain, and it hides sent frames from other
//! packet sockets (`tcpdump` on the port), so it is off unless asked for. There is no
//! transmit ring: a `TPACKET_V2` one, tried on veth, cost the sender slightly more CPU per
//! 60-byte frame than `sendmmsg` (the kernel's per-frame work is the same either way; see
//! `docs/benchmarks/netdev.md`), and once a socket has one every send goes through it, with
//! every frame in a fixed-size slot, so 64 KiB TSO frames would need 64 KiB slots (or a
//! second socket, which could reorder frames). Nor would a ring save the copy of a large
//! frame on the devices ferrovs serves: the kernel builds a ring frame's skb from the ring's
//! pages but marks them as user memory (zero-copy fragments), and both a veth (forwarding to
//! its peer) and a TAP (queueing for its reader) copy such fragments into fresh pages before
//! going on (`skb_copy_ubufs`, seen in a profile of `trafgen`, which sends through a ring,
//! into a veth on 6.18). The copy would only move from `sendmmsg` into the device, and the
//! switch would add its own copy into the slot.
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
use crate::rx_ring::{BlockReader, FrameReader, Reader};
use crate::sys::{self, BURST, IfReq, RingReq, RingVersion, RxMeta, RxRing};
use crate::{LinkState, Netdev, NetdevStats};

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// The 802.1Q TPID, used when the kernel does not report the tag's own.
const ETH_P_8021Q: u16 = 0x8100;
/// Socket buffer size asked for, both ways.
const SOCKET_BUFFER: libc::c_int = 8 << 20;
/// Nominal frame size given to the kernel for a `TPACKET_V3` ring: only its checks use it
/// (frames are packed by their real length).
const BLOCK_RING_FRAME_SIZE: u32 = 2048;
/// Block size of a `TPACKET_V2` ring (frames never straddle blocks; 64 KiB is an order-4
/// allocation, which the kernel can still find, or replace with virtual memory).
const FRAME_RING_BLOCK: u32 = 64 << 10;

/// How to open a device with AF_PACKET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfPacketOptions {
    /// Carry virtio-net headers (`PACKET_VNET_HDR`): receive GSO super-frames and partial
    /// checksums as they are, and send them for the kernel (or the peer) to finish.
    pub vnet_hdr: bool,
    /// How frames are received.
    pub rx: RxPath,
    /// Send with `PACKET_QDISC_BYPASS`: straight to the driver, skipping the device's queueing
    /// discipline and the taps (`tcpdump` on the device then no longer sees what the switch
    /// sends).
    pub qdisc_bypass: bool,
}

impl Default for AfPacketOptions {
    fn default() -> Self {
        Self {
            vnet_hdr: false,
            rx: RxPath::DEFAULT,
            qdisc_bypass: false,
        }
    }
}

/// How an AF_PACKET device receives (see the module doc for the trade-offs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxPath {
    /// `recvmmsg` of up to 32 frames per system call, each copied out of the socket queue.
    Recvmmsg,
    /// A `TPACKET_V2` ring of fixed-size frame slots, each handed over as soon as it is
    /// written; longer frames come whole through the socket queue.
    Frames(FrameRing),
    /// A `TPACKET_V3` ring of blocks, each handed over when full or after its timeout.
    Blocks(BlockRing),
}

impl RxPath {
    /// The default: [`FrameRing::DEFAULT`].
    pub const DEFAULT: Self = Self::Frames(FrameRing::DEFAULT);
}

/// The shape of a `TPACKET_V2` receive ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRing {
    /// Bytes per slot, a multiple of 16 dividing the ring's 64 KiB blocks; about 80 bytes go
    /// to the slot's headers (and the virtio-net header). A frame that does not fit takes the
    /// socket queue instead (`PACKET_COPY_THRESH`), a system call of its own.
    pub frame_size: u32,
    /// Slots in the ring (rounded up to fill whole blocks).
    pub frames: u32,
}

impl FrameRing {
    /// 2048 slots of 2 KiB: any frame of a 1500-byte MTU lands in the ring; jumbo and TSO
    /// frames take the queue. The ring is 4 MiB of kernel memory per device, allocated when
    /// it is opened (the 8 MiB socket buffer of `recvmmsg` is only a ceiling); 2048 frames
    /// are 10 ms of a 200 kpps stream, for the reader to be late by. Through the switch it
    /// forwarded 60-byte frames as fast as 4096 slots (8 MiB) did, while 1024 slots lost up
    /// to a third of them in some rounds and 256 more than half
    /// (`docs/benchmarks/netdev.md`).
    pub const DEFAULT: Self = Self {
        frame_size: 2048,
        frames: 2048,
    };
}

/// The shape of a `TPACKET_V3` receive ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRing {
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

impl BlockRing {
    /// 32 blocks of 256 KiB (8 MiB): room for three 64 KiB TSO super-frames or about 1600
    /// minimum-size frames per block, handed over after at most 1 ms.
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
    rx: Option<Reader>,
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
        let vnet = if options.vnet_hdr { VnetHdr::LEN } else { 0 };
        let rx = match options.rx {
            RxPath::Recvmmsg => None,
            RxPath::Frames(r) => {
                // Frames too long for a slot are queued whole on the socket as well.
                sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_COPY_THRESH, &1)
                    .map_err(err("PACKET_COPY_THRESH"))?;
                let per_block = (FRAME_RING_BLOCK / r.frame_size.max(1)).max(1);
                let req = RingReq {
                    block_size: FRAME_RING_BLOCK,
                    blocks: r.frames.div_ceil(per_block).max(1),
                    frame_size: r.frame_size,
                    version: RingVersion::V2,
                };
                let ring = RxRing::new(fd, req).map_err(|source| Error::RxRing {
                    device: name.to_owned(),
                    what: "TPACKET_V2 receive ring",
                    source,
                })?;
                Some(Reader::Frames(FrameReader::new(ring, vnet)))
            }
            RxPath::Blocks(r) => {
                let req = RingReq {
                    block_size: r.block_size,
                    blocks: r.blocks,
                    frame_size: BLOCK_RING_FRAME_SIZE.min(r.block_size),
                    version: RingVersion::V3 {
                        retire_ms: r.retire_ms,
                    },
                };
                let ring = RxRing::new(fd, req).map_err(|source| Error::RxRing {
                    device: name.to_owned(),
                    what: "TPACKET_V3 receive ring",
                    source,
                })?;
                Some(Reader::Blocks(BlockReader::new(ring, vnet)))
            }
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
        let got = match self.rx.as_mut() {
            Some(Reader::Frames(r)) => {
                r.read(self.socket.as_fd(), batch.spare_mut(), &mut self.stats)
            }
            Some(Reader::Blocks(r)) => r.read(batch.spare_mut(), &mut self.stats),
            None => return self.recv_mmsg(batch),
        };
        batch.commit(got);
        Ok(got)
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

    fn admin_up(&self) -> Option<bool> {
        self.ctl.is_up().ok()
    }

    fn link_settings(&self) -> Option<crate::LinkSettings> {
        self.ctl.link_settings()
    }

    fn set_admin_up(&self, up: bool) -> Result<()> {
        self.ctl.set_up(up)
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

    fn has_rx_ring(&self) -> bool {
        self.rx.is_some()
    }
}

/// Sets a received frame's length and offload header, and puts back the VLAN tag the kernel
/// took off (reported in `PACKET_AUXDATA`), TPID included when the kernel knows it.
pub(crate) fn finish_rx(packet: &mut Packet, meta: &RxMeta) {
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
