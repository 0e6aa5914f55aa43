//! Reusable batches of packet buffers, and the virtio-net header that carries offload state.
//!
//! A [`PacketBatch`] owns `capacity` [`Packet`] slots, each a fixed buffer allocated once.
//! Receiving fills slots from the front and sets the batch length; clearing only resets the
//! length, so a datapath thread that reuses its batches allocates nothing per packet.
//!
//! Every buffer keeps [`HEADROOM`] bytes in front of the frame, so pushing a VLAN tag or an
//! outer tunnel header moves the frame's start pointer instead of copying the whole frame.

use crate::error::{Error, Result};

/// Bytes kept free in front of every received frame: room for an outer Ethernet + IPv6 + UDP +
/// Geneve header with options (about 100 bytes) plus a few VLAN tags.
pub const HEADROOM: usize = 128;

/// Frame capacity that holds any TSO/GSO super-frame the kernel hands over with a virtio-net
/// header (an IP datagram of at most 64 KiB behind Ethernet and two VLAN tags).
pub const GSO_FRAME_CAPACITY: usize = 65_536 + 14 + 8;

/// Length of an Ethernet header's two MAC addresses, where an 802.1Q tag is inserted.
const MACS_LEN: usize = 12;

/// One packet's buffer: a frame inside a fixed allocation, plus its offload header.
///
/// Invariant: `start + len <= buf.len()`.
#[derive(Clone)]
pub struct Packet {
    buf: Box<[u8]>,
    start: usize,
    len: usize,
    vnet: VnetHdr,
}

impl Packet {
    /// An empty packet whose frame may grow to `frame_capacity` bytes behind [`HEADROOM`].
    pub fn new(frame_capacity: usize) -> Self {
        Self {
            buf: vec![0; HEADROOM + frame_capacity].into_boxed_slice(),
            start: HEADROOM,
            len: 0,
            vnet: VnetHdr::NONE,
        }
    }

    /// Replaces the frame with a copy of `frame` (at the default headroom) and clears the
    /// offload header.
    pub fn set_frame(&mut self, frame: &[u8]) -> Result<()> {
        let capacity = self.buf.len() - HEADROOM;
        if frame.len() > capacity {
            return Err(Error::FrameTooLong {
                len: frame.len(),
                capacity,
            });
        }
        self.start = HEADROOM;
        self.len = frame.len();
        self.buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        self.vnet = VnetHdr::NONE;
        Ok(())
    }

    /// Replaces the frame with `head` followed by `tail` (at the default headroom) and clears
    /// the offload header: how a segment is built from a super-frame's headers and a slice of
    /// its payload without an intermediate copy.
    pub fn set_frame_parts(&mut self, head: &[u8], tail: &[u8]) -> Result<()> {
        let capacity = self.buf.len() - HEADROOM;
        let len = head.len() + tail.len();
        if len > capacity {
            return Err(Error::FrameTooLong { len, capacity });
        }
        let mid = HEADROOM + head.len();
        self.buf[HEADROOM..mid].copy_from_slice(head);
        self.buf[mid..mid + tail.len()].copy_from_slice(tail);
        self.start = HEADROOM;
        self.len = len;
        self.vnet = VnetHdr::NONE;
        Ok(())
    }

    /// Sets the offload header that travels with the frame.
    pub fn set_vnet(&mut self, vnet: VnetHdr) {
        self.vnet = vnet;
    }

    /// The frame, writable in place.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Grows the frame by `n` bytes at the front and returns them (uninitialised contents),
    /// or `None` when the headroom is smaller than `n`.
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.start.checked_sub(n)?;
        self.start = start;
        self.len += n;
        Some(&mut self.buf[start..start + n])
    }

    /// Removes `n` bytes from the front of the frame (decapsulation); false if the frame is
    /// shorter than `n`.
    pub fn pull(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }

    /// Appends `bytes` behind the frame (receive coalescing); false, with the frame
    /// unchanged, when the buffer has no room for them there.
    pub fn append(&mut self, bytes: &[u8]) -> bool {
        let end = self.start + self.len;
        let Some(room) = self.buf.get_mut(end..end + bytes.len()) else {
            return false;
        };
        room.copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    /// Shortens the frame to `len` bytes (no effect if it is not longer).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Inserts an 802.1Q-style tag (`tpid`, `tci`) after the MAC addresses, using headroom, and
    /// shifts the offload header's offsets so checksum offload and GSO stay correct. False if
    /// the frame has no complete MAC addresses or the headroom is used up.
    pub fn push_vlan(&mut self, tpid: u16, tci: u16) -> bool {
        if self.len < MACS_LEN || self.start < 4 {
            return false;
        }
        let old = self.start;
        self.start -= 4;
        self.len += 4;
        self.buf.copy_within(old..old + MACS_LEN, self.start);
        let tag = &mut self.buf[self.start + MACS_LEN..self.start + MACS_LEN + 4];
        tag[..2].copy_from_slice(&tpid.to_be_bytes());
        tag[2..].copy_from_slice(&tci.to_be_bytes());
        self.vnet.shift(4);
        true
    }

    /// Empties the frame for the next receive and returns the whole area behind the default
    /// headroom to read into; the caller then sets the length with [`Packet::set_rx_len`].
    pub(crate) fn rx_area(&mut self) -> &mut [u8] {
        self.start = HEADROOM;
        self.len = 0;
        self.vnet = VnetHdr::NONE;
        &mut self.buf[HEADROOM..]
    }

    /// The largest frame the buffer holds behind the default headroom.
    pub(crate) fn frame_capacity(&self) -> usize {
        self.buf.len() - HEADROOM
    }

    /// Sets the length of a frame just read into [`Packet::rx_area`]; clamps to the buffer.
    pub(crate) fn set_rx_len(&mut self, len: usize) {
        self.len = len.min(self.buf.len() - HEADROOM);
    }

    /// The frame.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes free in front of the frame.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// The offload header travelling with the frame ([`VnetHdr::NONE`] when none).
    pub fn vnet(&self) -> VnetHdr {
        self.vnet
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len)
            .field("headroom", &self.start)
            .field("vnet", &self.vnet)
            .finish()
    }
}

/// A reusable batch of packets: what one `recv_batch` fills and one `send_batch` sends.
#[derive(Clone, Debug)]
pub struct PacketBatch {
    packets: Vec<Packet>,
    len: usize,
}

impl PacketBatch {
    /// A batch of `count` slots, each holding frames up to `frame_capacity` bytes.
    pub fn new(count: usize, frame_capacity: usize) -> Self {
        Self {
            packets: (0..count).map(|_| Packet::new(frame_capacity)).collect(),
            len: 0,
        }
    }

    /// Empties the batch, keeping every buffer for reuse.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends a copy of `frame` with the given offload header.
    pub fn push_with_vnet(&mut self, frame: &[u8], vnet: VnetHdr) -> Result<&mut Packet> {
        let capacity = self.packets.len();
        let packet = self
            .packets
            .get_mut(self.len)
            .ok_or(Error::BatchFull(capacity))?;
        packet.set_frame(frame)?;
        packet.set_vnet(vnet);
        self.len += 1;
        Ok(packet)
    }

    /// Appends a frame made of `head` then `tail`, without offloads (see
    /// [`Packet::set_frame_parts`]).
    pub fn push_parts(&mut self, head: &[u8], tail: &[u8]) -> Result<&mut Packet> {
        let capacity = self.packets.len();
        let packet = self
            .packets
            .get_mut(self.len)
            .ok_or(Error::BatchFull(capacity))?;
        packet.set_frame_parts(head, tail)?;
        self.len += 1;
        Ok(packet)
    }

    /// Appends `packet`, by exchanging buffers with the next free slot when both have the same
    /// capacity (no copy: a 64 KiB super-frame moves for the price of a pointer swap), else by
    /// copying. Afterwards `packet` holds the slot's former buffer, an unspecified frame: for
    /// a caller that is done with it (the datapath's last output of a packet).
    pub fn push_swap(&mut self, packet: &mut Packet) -> Result<&mut Packet> {
        let capacity = self.packets.len();
        let slot = self
            .packets
            .get_mut(self.len)
            .ok_or(Error::BatchFull(capacity))?;
        if slot.buf.len() == packet.buf.len() {
            std::mem::swap(slot, packet);
        } else {
            slot.set_frame(packet.data())?;
            slot.set_vnet(packet.vnet());
        }
        self.len += 1;
        Ok(slot)
    }

    /// Appends a copy of `frame` without offloads.
    pub fn push(&mut self, frame: &[u8]) -> Result<&mut Packet> {
        self.push_with_vnet(frame, VnetHdr::NONE)
    }

    /// Takes the last packet off the batch (its buffer stays for reuse); false when empty.
    pub fn pop(&mut self) -> bool {
        let had = self.len > 0;
        self.len = self.len.saturating_sub(1);
        had
    }

    /// The packets in the batch, writable in place.
    pub fn packets_mut(&mut self) -> &mut [Packet] {
        &mut self.packets[..self.len]
    }

    /// Keeps only the packets for which `keep` returns true, preserving their order (their
    /// buffers are swapped, not copied).
    pub fn retain(&mut self, mut keep: impl FnMut(&Packet) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            if keep(&self.packets[i]) {
                self.packets.swap(kept, i);
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// The free slots behind the batch's packets, for a device to receive into.
    pub(crate) fn spare_mut(&mut self) -> &mut [Packet] {
        &mut self.packets[self.len..]
    }

    /// Counts `n` more slots (filled through [`PacketBatch::spare_mut`]) as packets.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.packets.len());
    }

    /// The packets in the batch.
    pub fn packets(&self) -> &[Packet] {
        &self.packets[..self.len]
    }

    /// Iterates over the packets in the batch.
    pub fn iter(&self) -> std::slice::Iter<'_, Packet> {
        self.packets().iter()
    }

    /// Number of packets in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the batch holds no packets.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.packets.len()
    }

    /// True if every slot holds a packet.
    pub fn is_full(&self) -> bool {
        self.len == self.packets.len()
    }
}

impl<'a> IntoIterator for &'a PacketBatch {
    type Item = &'a Packet;
    type IntoIter = std::slice::Iter<'a, Packet>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Flags of a virtio-net header (`VIRTIO_NET_HDR_F_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VnetFlags(pub u8);

impl VnetFlags {
    /// The checksum from `csum_start` to the end is still to be computed and stored at
    /// `csum_start + csum_offset` (the kernel's `CHECKSUM_PARTIAL`).
    pub const NEEDS_CSUM: Self = Self(1);
    /// The checksum has been verified (the kernel's `CHECKSUM_UNNECESSARY`).
    pub const DATA_VALID: Self = Self(2);

    /// True if every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The segmentation a GSO super-frame asks for (`VIRTIO_NET_HDR_GSO_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GsoType(pub u8);

impl GsoType {
    /// Not a super-frame.
    pub const NONE: Self = Self(0);
    /// TCP over IPv4 (TSO).
    pub const TCPV4: Self = Self(1);
    /// UDP fragmentation offload.
    pub const UDP: Self = Self(3);
    /// TCP over IPv6 (TSO6).
    pub const TCPV6: Self = Self(4);
    /// UDP segmentation (USO).
    pub const UDP_L4: Self = Self(5);
    /// Bit set beside the type when the TCP stream uses ECN (CWR may appear in any segment).
    pub const ECN_BIT: u8 = 0x80;

    /// The type without the ECN bit.
    pub const fn kind(self) -> Self {
        Self(self.0 & !Self::ECN_BIT)
    }
}

/// The virtio-net header (`struct virtio_net_hdr`, 10 bytes) that TAP (`IFF_VNET_HDR`) and
/// AF_PACKET (`PACKET_VNET_HDR`) put in front of each frame to carry checksum and segmentation
/// offload state, so TSO/GSO super-frames cross the switch unsplit.
///
/// The kernel uses host byte order here for both devices (legacy virtio is little-endian on
/// little-endian hosts and native elsewhere, and neither device is switched to another order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VnetHdr {
    /// Checksum state.
    pub flags: VnetFlags,
    /// Segmentation requested for a super-frame.
    pub gso_type: GsoType,
    /// Length of the headers copied into every segment (Ethernet through TCP/UDP).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum is stored, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Length on the wire.
    pub const LEN: usize = 10;
    /// No offload: a complete frame with a complete checksum.
    pub const NONE: Self = Self {
        flags: VnetFlags(0),
        gso_type: GsoType::NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Reads the header from its wire form.
    pub fn from_bytes(b: &[u8; Self::LEN]) -> Self {
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Self {
            flags: VnetFlags(b[0]),
            gso_type: GsoType(b[1]),
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        }
    }

    /// The header's wire form.
    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut b = [0; Self::LEN];
        b[0] = self.flags.0;
        b[1] = self.gso_type.0;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    /// True if the frame needs no offload work (no pending checksum, no segmentation).
    pub fn is_none(self) -> bool {
        !self.flags.contains(VnetFlags::NEEDS_CSUM) && self.gso_type.kind() == GsoType::NONE
    }

    /// Accounts for `n` bytes inserted in front of the L3 header (a VLAN tag): offsets that
    /// count from the frame's start move with the headers they point at.
    fn shift(&mut self, n: u16) {
        if self.flags.contains(VnetFlags::NEEDS_CSUM) {
            self.csum_start = self.csum_start.saturating_add(n);
        }
        if self.hdr_len != 0 {
            self.hdr_len = self.hdr_len.saturating_add(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_reuses_its_slots() {
        let mut batch = PacketBatch::new(2, 64);
        batch.push(&[1; 60]).unwrap();
        batch.push(&[2; 20]).unwrap();
        assert!(matches!(batch.push(&[3; 1]), Err(Error::BatchFull(2))));
        assert_eq!(batch.packets()[1].data(), &[2; 20]);
        batch.clear();
        assert!(batch.is_empty());
        batch.push(&[4; 10]).unwrap();
        assert_eq!(batch.packets()[0].data(), &[4; 10]);
        assert!(matches!(
            batch.push(&[0; 65]),
            Err(Error::FrameTooLong {
                len: 65,
                capacity: 64
            })
        ));
    }

    #[test]
    fn push_vlan_inserts_tag_after_macs_and_shifts_offsets() {
        let mut frame: Vec<u8> = (0..12).collect();
        frame.extend_from_slice(&[0x08, 0x00, 0x45]);
        let mut p = Packet::new(64);
        p.set_frame(&frame).unwrap();
        p.set_vnet(VnetHdr {
            flags: VnetFlags::NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 16,
            ..VnetHdr::NONE
        });
        assert!(p.push_vlan(0x8100, 0x0064));
        let mut want: Vec<u8> = (0..12).collect();
        want.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45]);
        assert_eq!(p.data(), &want[..]);
        assert_eq!(p.vnet().csum_start, 38);
        assert_eq!(p.headroom(), HEADROOM - 4);
    }

    #[test]
    fn push_parts_joins_head_and_tail() {
        let mut batch = PacketBatch::new(1, 8);
        let p = batch.push_parts(&[1, 2], &[3, 4, 5]).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5]);
        assert!(p.vnet().is_none());
        assert!(matches!(
            Packet::new(4).set_frame_parts(&[1, 2], &[3, 4, 5]),
            Err(Error::FrameTooLong {
                len: 5,
                capacity: 4
            })
        ));
    }

    #[test]
    fn push_swap_moves_same_sized_buffers_and_copies_others() {
        let csum = VnetHdr {
            flags: VnetFlags::NEEDS_CSUM,
            ..VnetHdr::NONE
        };
        let mut same = PacketBatch::new(2, 64);
        let mut p = Packet::new(64);
        p.set_frame(&[1, 2, 3]).unwrap();
        p.set_vnet(csum);
        let q = same.push_swap(&mut p).unwrap();
        assert_eq!((q.data(), q.vnet()), (&[1u8, 2, 3][..], csum));
        assert!(p.is_empty(), "p now holds the slot's old (empty) buffer");

        let mut other = PacketBatch::new(1, 16);
        let mut p = Packet::new(64);
        p.set_frame(&[4, 5]).unwrap();
        let q = other.push_swap(&mut p).unwrap();
        assert_eq!(q.data(), &[4, 5]);
        assert_eq!(p.data(), &[4, 5], "copied, not swapped");
        assert!(matches!(other.push_swap(&mut p), Err(Error::BatchFull(1))));
    }

    #[test]
    fn prepend_and_pull_move_the_start() {
        let mut p = Packet::new(16);
        p.set_frame(&[9; 4]).unwrap();
        p.prepend(2).unwrap().copy_from_slice(&[7, 8]);
        assert_eq!(p.data(), &[7, 8, 9, 9, 9, 9]);
        assert!(p.pull(3));
        assert_eq!(p.data(), &[9, 9, 9]);
        assert!(!p.pull(4));
        assert!(p.prepend(HEADROOM + 10).is_none());
    }

    #[test]
    fn retain_keeps_order() {
        let mut batch = PacketBatch::new(4, 8);
        for i in 0..4u8 {
            batch.push(&[i]).unwrap();
        }
        batch.retain(|p| p.data()[0] % 2 == 1);
        let kept: Vec<u8> = batch.iter().map(|p| p.data()[0]).collect();
        assert_eq!(kept, [1, 3]);
    }

    #[test]
    fn vnet_header_round_trips() {
        let h = VnetHdr {
            flags: VnetFlags::NEEDS_CSUM,
            gso_type: GsoType::TCPV4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::from_bytes(&h.to_bytes()), h);
        assert!(!h.is_none());
        assert!(VnetHdr::NONE.is_none());
    }
}
