//! Reading an AF_PACKET socket's receive ring ([`crate::sys::RxRing`]): the frame headers of
//! `TPACKET_V2` and `TPACKET_V3`, parsed from the ring's bytes with bounds checks (the
//! kernel writes them, but nothing here trusts an offset without checking it).
//!
//! Both readers copy each frame into a batch slot (with its virtio-net header and the VLAN
//! tag the kernel took off, as [`crate::af_packet`] does for `recvmmsg`) and give ring memory
//! back to the kernel as soon as it is copied: a `TPACKET_V2` slot right after its frame, a
//! `TPACKET_V3` block after its last frame. Which ring a device uses, and why, is
//! [`crate::af_packet`]'s module doc.

use std::os::fd::BorrowedFd;

use crate::NetdevStats;
use crate::af_packet::finish_rx;
use crate::batch::{Packet, VnetHdr};
use crate::sys::{self, BURST, RxMeta, RxRing};

/// Offsets in a `TPACKET_V2` frame header (`struct tpacket2_hdr`).
mod v2 {
    /// `TP_STATUS_*` flags.
    pub(super) const STATUS: usize = 0;
    /// The frame's real length.
    pub(super) const LEN: usize = 4;
    /// Bytes of the frame present in the slot.
    pub(super) const SNAPLEN: usize = 8;
    /// Offset of the frame (its Ethernet header) from the slot's start.
    pub(super) const MAC: usize = 12;
    /// The 802.1Q TCI the kernel took off.
    pub(super) const VLAN_TCI: usize = 24;
    /// The TPID of that tag.
    pub(super) const VLAN_TPID: usize = 26;
}

/// Offsets in a `TPACKET_V3` block descriptor (`struct tpacket_block_desc`, `hdr.bh1`).
mod v3_block {
    /// Frames in the block.
    pub(super) const NUM_PKTS: usize = 12;
    /// Offset of the first frame's header from the block's start.
    pub(super) const FIRST: usize = 16;
}

/// Offsets in a `TPACKET_V3` frame header (`struct tpacket3_hdr`).
mod v3 {
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

/// A device's ring reader.
#[derive(Debug)]
pub(crate) enum Reader {
    /// `TPACKET_V2`.
    Frames(FrameReader),
    /// `TPACKET_V3`.
    Blocks(BlockReader),
}

/// One frame as the ring describes it: where it is in `area` (a slot or a block), and its
/// metadata.
struct RingFrame {
    /// Offset of the Ethernet header in the area.
    mac: usize,
    /// Bytes present.
    snaplen: usize,
    /// The frame's real length.
    len: usize,
    /// `TP_STATUS_*`.
    status: u32,
    /// VLAN TCI and TPID.
    tci: u16,
    tpid: u16,
}

impl RingFrame {
    /// Copies the frame out of `area` into `packet`, with its virtio-net header (`vnet`
    /// bytes in front of it) and VLAN tag. False if it was truncated (longer than the ring
    /// could store) or its offsets fall outside the area.
    fn copy_into(&self, area: &[u8], vnet: usize, packet: &mut Packet) -> bool {
        if self.snaplen < self.len {
            return false;
        }
        let Some(bytes) = area.get(self.mac..self.mac + self.snaplen) else {
            return false;
        };
        let vnet_hdr = if vnet == 0 {
            VnetHdr::NONE
        } else {
            match self
                .mac
                .checked_sub(vnet)
                .and_then(|at| area.get(at..self.mac))
                .and_then(|b| <&[u8; VnetHdr::LEN]>::try_from(b).ok())
            {
                Some(b) => VnetHdr::from_bytes(b),
                None => return false,
            }
        };
        let Some(dst) = packet.rx_area().get_mut(..bytes.len()) else {
            return false;
        };
        dst.copy_from_slice(bytes);
        let meta = RxMeta {
            len: bytes.len(),
            truncated: false,
            vnet: vnet_hdr,
            aux: Some((self.status, self.tci, self.tpid)),
        };
        finish_rx(packet, &meta);
        true
    }
}

/// Counts a frame handed to the batch, or an error.
fn count(ok: bool, packet: &Packet, stats: &mut NetdevStats) {
    if ok {
        stats.rx_packets += 1;
        stats.rx_bytes += packet.len() as u64;
    } else {
        stats.rx_errors += 1;
    }
}

/// A `TPACKET_V2` ring and the next slot to read. Slots are filled in ring order, so the
/// reader stops at the first slot the kernel still owns.
#[derive(Debug)]
pub(crate) struct FrameReader {
    ring: RxRing,
    next: usize,
    /// Length of the virtio-net header in front of each frame (0 or 10).
    vnet: usize,
}

impl FrameReader {
    pub(crate) fn new(ring: RxRing, vnet: usize) -> Self {
        Self {
            ring,
            next: 0,
            vnet,
        }
    }

    /// Copies frames into `spare` until it is full or the next slot is the kernel's; returns
    /// how many slots of `spare` were filled. A slot marked `TP_STATUS_COPY` holds only the
    /// head of a frame too long for it: the whole frame waits in the socket queue (`fd`),
    /// where the kernel put it in ring order. A run of such slots (a TSO stream) is read from
    /// the queue with one `recvmmsg`.
    pub(crate) fn read(
        &mut self,
        fd: BorrowedFd<'_>,
        spare: &mut [Packet],
        stats: &mut NetdevStats,
    ) -> usize {
        let mut got = 0;
        while got < spare.len() {
            let Some(slot) = self.ring.user_slot(self.next) else {
                break;
            };
            let status = u32_at(slot, v2::STATUS);
            if status & libc::TP_STATUS_COPY != 0 {
                got += self.read_queued(fd, &mut spare[got..], stats);
                continue;
            }
            let frame = RingFrame {
                mac: usize::from(u16_at(slot, v2::MAC)),
                snaplen: u32_at(slot, v2::SNAPLEN) as usize,
                len: u32_at(slot, v2::LEN) as usize,
                status,
                tci: u16_at(slot, v2::VLAN_TCI),
                tpid: u16_at(slot, v2::VLAN_TPID),
            };
            let ok = frame.copy_into(slot, self.vnet, &mut spare[got]);
            self.advance(1);
            count(ok, &spare[got], stats);
            got += usize::from(ok);
        }
        got
    }

    /// Gives back the next `n` slots and moves past them.
    fn advance(&mut self, n: usize) {
        for _ in 0..n {
            self.ring.release_slot(self.next);
            self.next = (self.next + 1) % self.ring.slots();
        }
    }

    /// Takes the run of `TP_STATUS_COPY` slots starting at `next` (at least one, at most one
    /// burst and `spare.len()`), gives them back, and reads as many frames from the socket
    /// queue with one `recvmmsg`; returns how many slots of `spare` were filled.
    fn read_queued(
        &mut self,
        fd: BorrowedFd<'_>,
        spare: &mut [Packet],
        stats: &mut NetdevStats,
    ) -> usize {
        let limit = spare.len().min(BURST);
        let mut run = 0;
        while run < limit
            && self
                .ring
                .user_slot(self.next + run)
                .is_some_and(|s| u32_at(s, v2::STATUS) & libc::TP_STATUS_COPY != 0)
        {
            run += 1;
        }
        self.advance(run);
        let mut meta = [RxMeta::default(); BURST];
        let got = sys::recv_mmsg(fd, &mut spare[..run], self.vnet != 0, &mut meta).unwrap_or(0);
        // The queue holds one frame per such slot; any it did not give counts as an error.
        stats.rx_errors += (run - got.min(run)) as u64;
        let mut kept = 0;
        for (i, m) in meta.iter().enumerate().take(got) {
            if m.truncated {
                stats.rx_errors += 1;
                continue;
            }
            spare.swap(kept, i);
            finish_rx(&mut spare[kept], m);
            count(true, &spare[kept], stats);
            kept += 1;
        }
        kept
    }
}

/// A `TPACKET_V3` ring and the reader's position in it. Frames of a block are read in
/// order; a block goes back to the kernel as soon as its last frame has been copied out, and
/// the reader moves to the next block (the kernel fills them in ring order).
#[derive(Debug)]
pub(crate) struct BlockReader {
    ring: RxRing,
    /// The block being read (or waited for).
    block: usize,
    /// Frames of the block already taken.
    taken: u32,
    /// Offset of the next frame's header in the block (0: the block has not been opened).
    offset: usize,
    /// Length of the virtio-net header in front of each frame (0 or 10).
    vnet: usize,
}

impl BlockReader {
    pub(crate) fn new(ring: RxRing, vnet: usize) -> Self {
        Self {
            ring,
            block: 0,
            taken: 0,
            offset: 0,
            vnet,
        }
    }

    /// Copies frames out of the ring into `spare` until it is full or no handed-over block is
    /// left, giving blocks back as soon as they are read; returns how many slots of `spare`
    /// were filled. Frames the ring truncated (bigger than a block) and malformed headers
    /// count as `rx_errors`.
    pub(crate) fn read(&mut self, spare: &mut [Packet], stats: &mut NetdevStats) -> usize {
        let mut got = 0;
        // At most one pass over the ring: a block refilled behind us waits for the next call.
        for _ in 0..self.ring.slots() {
            if got == spare.len() {
                break;
            }
            let Some(block) = self.ring.user_slot(self.block) else {
                break;
            };
            let count_in_block = u32_at(block, v3_block::NUM_PKTS);
            if self.offset == 0 {
                self.offset = u32_at(block, v3_block::FIRST) as usize;
                self.taken = 0;
            }
            while self.taken < count_in_block && got < spare.len() {
                let Some(hdr) = block.get(self.offset..self.offset + v3::HEADER) else {
                    // A header outside the block: drop the rest of the block.
                    stats.rx_errors += u64::from(count_in_block - self.taken);
                    self.taken = count_in_block;
                    break;
                };
                let next = u32_at(hdr, v3::NEXT) as usize;
                let frame = RingFrame {
                    mac: self.offset + usize::from(u16_at(hdr, v3::MAC)),
                    snaplen: u32_at(hdr, v3::SNAPLEN) as usize,
                    len: u32_at(hdr, v3::LEN) as usize,
                    status: u32_at(hdr, v3::STATUS),
                    tci: u32_at(hdr, v3::VLAN_TCI) as u16,
                    tpid: u16_at(hdr, v3::VLAN_TPID),
                };
                let ok = frame.copy_into(block, self.vnet, &mut spare[got]);
                count(ok, &spare[got], stats);
                got += usize::from(ok);
                self.taken += 1;
                self.offset += next;
                if next == 0 && self.taken < count_in_block {
                    // The kernel links every frame but the last: a zero link is corruption.
                    stats.rx_errors += u64::from(count_in_block - self.taken);
                    self.taken = count_in_block;
                }
            }
            if self.taken < count_in_block {
                // The batch is full; the rest of this block waits for the next call.
                break;
            }
            let done = self.block;
            self.ring.release_slot(done);
            self.block = (done + 1) % self.ring.slots();
            self.offset = 0;
            self.taken = 0;
        }
        got
    }
}
