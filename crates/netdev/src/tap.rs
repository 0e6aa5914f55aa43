//! TAP devices: ferrovs's `internal` ports (and any TAP the switch makes for itself).
//!
//! [`Tap::open`] asks `/dev/net/tun` for a TAP device with the given name (`TUNSETIFF` with
//! `IFF_TAP | IFF_NO_PI`): the kernel creates it, or attaches to an existing persistent one.
//! The device lives as long as the file descriptor, unless it is persistent
//! ([`TapOptions::persist`], or made so elsewhere): then until [`Netdev::remove`] and close.
//! With [`TapOptions::vnet_hdr`] each frame travels behind a virtio-net header and the kernel
//! is told (`TUNSETOFFLOAD`) that we accept checksum-partial and TSO/USO super-frames, so the
//! host's TCP sends 64 KiB segments through the switch unsplit.
//!
//! Reads and writes are non-blocking; TAP has no `recvmmsg`, so a batch is a loop of
//! `readv`/`writev` (header and frame in one call) until the device is empty or the batch full.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use fvs_packet::MacAddr;

use crate::batch::{PacketBatch, VnetHdr};
use crate::error::{Error, Result};
use crate::ifctl::{IFF_PROMISC, IfCtl};
use crate::sys::{self, IfReq, ioc};
use crate::{LinkState, Netdev, NetdevStats};

/// `IFF_TAP`: an Ethernet (layer 2) device.
const IFF_TAP: i16 = 0x0002;
/// `IFF_NO_PI`: no 4-byte packet-information prefix.
const IFF_NO_PI: i16 = 0x1000;
/// `IFF_VNET_HDR`: frames carry a virtio-net header.
const IFF_VNET_HDR: i16 = 0x4000;

/// `TUN_F_*` offloads we can take: partial checksums, TSO for IPv4/IPv6 (with ECN), and USO.
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;
const TUN_F_TSO_ECN: libc::c_ulong = 0x08;
const TUN_F_USO4: libc::c_ulong = 0x20;
const TUN_F_USO6: libc::c_ulong = 0x40;

/// How to open a TAP device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapOptions {
    /// Carry virtio-net headers (checksum and segmentation offload) with every frame.
    pub vnet_hdr: bool,
    /// Bring the device up once opened. A switch's internal ports stay down until the host
    /// brings them up, as Open vSwitch leaves them (so a bridge nobody configured gets no
    /// IPv6 link-local address); tests that use a TAP on its own want it up.
    pub up: bool,
    /// Make the device persistent (`TUNSETPERSIST`): it outlives the descriptor, so the
    /// switch can exit and come back (attaching to it again by name) without the host losing
    /// the addresses, routes and state it gave the device, as Open vSwitch's internal ports
    /// outlive `ovs-vswitchd`. [`Netdev::remove`] deletes it once closed.
    pub persist: bool,
}

/// A TAP device.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    ctl: IfCtl,
    name: String,
    vnet_hdr: bool,
    persist: bool,
    stats: NetdevStats,
}

impl Tap {
    /// Creates the TAP device `name` (or attaches to a persistent one) in the calling thread's
    /// network namespace, promiscuous as every switch port is (`ip link` shows `PROMISC`), and
    /// up if [`TapOptions::up`] asks.
    pub fn open(name: &str, options: TapOptions) -> Result<Self> {
        let mut req = IfReq::new(name).ok_or_else(|| Error::BadName(name.to_owned()))?;
        let fd = sys::open_tun().map_err(|e| Error::sys(name, "open /dev/net/tun", e))?;
        let mut flags = IFF_TAP | IFF_NO_PI;
        if options.vnet_hdr {
            flags |= IFF_VNET_HDR;
        }
        req.set_flags(flags);
        sys::ioctl_ifreq(fd.as_fd(), ioc::TUNSETIFF, &mut req)
            .map_err(|e| Error::sys(name, "TUNSETIFF", e))?;
        let name = req.name();
        if options.vnet_hdr {
            let len = VnetHdr::LEN as libc::c_int;
            sys::ioctl_int_ptr(fd.as_fd(), ioc::TUNSETVNETHDRSZ, len)
                .map_err(|e| Error::sys(&name, "TUNSETVNETHDRSZ", e))?;
            let tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
            // USO arrived in Linux 6.2; without it the kernel segments UDP for us.
            sys::ioctl_value(
                fd.as_fd(),
                ioc::TUNSETOFFLOAD,
                tso | TUN_F_USO4 | TUN_F_USO6,
            )
            .or_else(|_| sys::ioctl_value(fd.as_fd(), ioc::TUNSETOFFLOAD, tso))
            .map_err(|e| Error::sys(&name, "TUNSETOFFLOAD", e))?;
        }
        if options.persist {
            sys::ioctl_value(fd.as_fd(), ioc::TUNSETPERSIST, 1)
                .map_err(|e| Error::sys(&name, "TUNSETPERSIST", e))?;
        }
        let ctl = IfCtl::new(&name)?;
        ctl.set_flag(IFF_PROMISC, true)?;
        if options.up {
            ctl.set_up(true)?;
        }
        Ok(Self {
            fd,
            ctl,
            name,
            vnet_hdr: options.vnet_hdr,
            persist: options.persist,
            stats: NetdevStats::default(),
        })
    }
}

impl Netdev for Tap {
    fn recv_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        let mut received = 0;
        let mut head = [0u8; VnetHdr::LEN];
        let head_len = if self.vnet_hdr { VnetHdr::LEN } else { 0 };
        let spare = batch.spare_mut();
        // A read that yields a bad frame reuses the same slot, so the packets stay contiguous;
        // the loop ends when the device is empty (`WouldBlock`) or the batch is full.
        while let Some(slot) = spare.get_mut(received) {
            let area = slot.rx_area();
            let area_len = area.len();
            match sys::readv2(self.fd.as_fd(), &mut head[..head_len], area) {
                Ok(n) if n < head_len || n - head_len > area_len => self.stats.rx_errors += 1,
                Ok(n) => {
                    slot.set_rx_len(n - head_len);
                    if self.vnet_hdr {
                        slot.set_vnet(VnetHdr::from_bytes(&head));
                    }
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += (n - head_len) as u64;
                    received += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    batch.commit(received);
                    return Err(Error::sys(&self.name, "read", e));
                }
            }
        }
        batch.commit(received);
        Ok(received)
    }

    fn send_batch(&mut self, batch: &PacketBatch) -> Result<usize> {
        let mut sent = 0;
        for packet in batch {
            if !self.vnet_hdr && !packet.vnet().is_none() {
                self.stats.tx_dropped += 1;
                continue;
            }
            let head = packet.vnet().to_bytes();
            let head = if self.vnet_hdr { &head[..] } else { &[][..] };
            match sys::writev2(self.fd.as_fd(), head, packet.data()) {
                Ok(_) => {
                    self.stats.tx_packets += 1;
                    self.stats.tx_bytes += packet.len() as u64;
                    sent += 1;
                }
                // Full queue, or the device is down (EIO): a port drops, it does not wait.
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::EIO) =>
                {
                    self.stats.tx_dropped += 1;
                }
                Err(_) => self.stats.tx_errors += 1,
            }
        }
        Ok(sent)
    }

    fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        self.ctl.set_mtu(mtu)
    }

    /// Sets the address with the device down, then brings it back up if it was, as Open
    /// vSwitch does for its TAP devices: the kernel then forgets the IPv6 addresses and the
    /// routes through the device and makes a link-local address from the new Ethernet
    /// address, while IPv4 addresses stay.
    fn set_mac(&mut self, mac: MacAddr) -> Result<()> {
        if self.ctl.mac()? == mac {
            return Ok(());
        }
        let was_up = self.ctl.is_up()?;
        if was_up {
            self.ctl.set_up(false)?;
        }
        let set = self.ctl.set_mac(mac);
        if was_up {
            self.ctl.set_up(true)?;
        }
        set
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
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

    /// A persistent device stops being one: the kernel deletes it when its last descriptor
    /// closes.
    fn remove(&self) -> Result<()> {
        if !self.persist {
            return Ok(());
        }
        sys::ioctl_value(self.fd.as_fd(), ioc::TUNSETPERSIST, 0)
            .map_err(|e| Error::sys(&self.name, "TUNSETPERSIST", e))
    }

    fn set_admin_up(&self, up: bool) -> Result<()> {
        self.ctl.set_up(up)
    }

    fn stats(&self) -> NetdevStats {
        self.stats
    }

    fn has_vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }
}
