//! Existing Linux devices read and written through an `AF_PACKET` socket: ferrovs's `system`
//! ports (veth ends, TAP devices a hypervisor made, NICs).
//!
//! # Opening
//!
//! The socket is created with protocol 0, so it receives nothing until it is bound: binding to
//! the device's ifindex with `ETH_P_ALL` then starts the flow, and no frame from another device
//! can slip in between. Before binding it is given:
//! - `PACKET_AUXDATA`, because the kernel strips 802.1Q tags on receive (into the skb's
//!   metadata) and reports them only there: [`AfPacket::recv_batch`] puts the tag back in the
//!   frame, so the switch sees the frame as it was on the wire;
//! - `PACKET_IGNORE_OUTGOING`, so the switch never reads back frames it (or the host) sent out
//!   of the device;
//! - large socket buffers (`SO_RCVBUFFORCE`, falling back to `SO_RCVBUF`), because veth gives
//!   no back-pressure: Open vSwitch's AF_PACKET path loses most of its TCP throughput to
//!   receive-buffer overflows;
//! - optionally `PACKET_VNET_HDR`, so TSO/GSO super-frames and partial checksums cross unsplit.
//!
//! After binding, `PACKET_ADD_MEMBERSHIP` with `PACKET_MR_PROMISC` makes the device
//! promiscuous for as long as the socket lives (the kernel counts such references, so closing
//! the socket undoes it and other users are not disturbed).
//!
//! # Batches
//!
//! One `recvmmsg` or `sendmmsg` moves up to 32 frames. Drops the kernel counted on the socket
//! (`PACKET_STATISTICS`) are added to `rx_dropped`.
//!
//! Not done yet: `TPACKET_V3` receive rings and `PACKET_FANOUT` for several datapath threads,
//! and `PACKET_QDISC_BYPASS` on send.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use fvs_packet::MacAddr;

use crate::batch::{Packet, PacketBatch};
use crate::error::{Error, Result};
use crate::ifctl::IfCtl;
use crate::sys::{self, BURST, IfReq, RxMeta};
use crate::{LinkState, Netdev, NetdevStats};

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// The 802.1Q TPID, used when the kernel does not report the tag's own.
const ETH_P_8021Q: u16 = 0x8100;
/// Socket buffer size asked for, both ways.
const SOCKET_BUFFER: libc::c_int = 8 << 20;

/// How to open a device with AF_PACKET.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfPacketOptions {
    /// Carry virtio-net headers (`PACKET_VNET_HDR`): receive GSO super-frames and partial
    /// checksums as they are, and send them for the kernel (or the peer) to finish.
    pub vnet_hdr: bool,
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

impl Netdev for AfPacket {
    fn recv_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
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
