//! The crate's only `unsafe` code: small safe wrappers over the Linux system calls packet I/O
//! needs (ioctls on interfaces and `/dev/net/tun`, packet-socket options and socket filters, `recvmmsg` and
//! `sendmmsg`, `setns`, and `bpf(2)` for traffic-control programs and their counter maps), and the mapped `TPACKET_V3` receive ring ([`RxRing`]), whose borrow
//! rules keep a block's bytes from being read after the block went back to the kernel.
//!
//! Every wrapper takes Rust types (borrowed fds, slices, fixed-size structs) and returns
//! `io::Result`, so the device modules above stay safe code. Each `unsafe` block holds one call
//! and says why its arguments are valid.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use crate::batch::{Packet, VnetHdr};

/// Most messages one `recvmmsg`/`sendmmsg` call handles; the arrays live on the stack.
pub(crate) const BURST: usize = 32;

/// Bytes of control-message space per received message: one `PACKET_AUXDATA` message
/// (`CMSG_SPACE(20)` = 40 on 64-bit Linux) with room to spare. `u64` elements give the
/// alignment `cmsghdr` needs.
const CMSG_WORDS: usize = 8;

/// `struct ifreq`: an interface name and a 24-byte union, 8-byte aligned as the kernel's is.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub(crate) struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    /// A request for the device `name`; `None` if the name is empty, has a NUL, or does not
    /// fit the kernel's 15 bytes plus terminator.
    pub(crate) fn new(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        if bytes.is_empty()
            || bytes.len() >= libc::IFNAMSIZ
            || bytes.contains(&0)
            || bytes.contains(&b'/')
        {
            return None;
        }
        let mut req = Self {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Some(req)
    }

    /// The name the kernel left in the request (TUNSETIFF fills in the chosen name).
    pub(crate) fn name(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// `ifr_flags` (a C `short` at the union's start).
    pub(crate) fn flags(&self) -> i16 {
        i16::from_ne_bytes([self.data[0], self.data[1]])
    }

    /// Sets `ifr_flags`.
    pub(crate) fn set_flags(&mut self, flags: i16) {
        self.data[..2].copy_from_slice(&flags.to_ne_bytes());
    }

    /// `ifr_mtu` / `ifr_ifindex` (a C `int` at the union's start).
    pub(crate) fn int(&self) -> i32 {
        i32::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }

    /// Sets `ifr_mtu` / `ifr_ifindex`.
    pub(crate) fn set_int(&mut self, value: i32) {
        self.data[..4].copy_from_slice(&value.to_ne_bytes());
    }

    /// The Ethernet address in `ifr_hwaddr` (a `sockaddr`: family, then the address).
    pub(crate) fn hwaddr(&self) -> [u8; 6] {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.data[2..8]);
        mac
    }

    /// Sets `ifr_hwaddr` to an Ethernet address (`ARPHRD_ETHER`).
    pub(crate) fn set_hwaddr(&mut self, mac: [u8; 6]) {
        self.data[..2].copy_from_slice(&libc::ARPHRD_ETHER.to_ne_bytes());
        self.data[2..8].copy_from_slice(&mac);
    }
}

/// `struct ethtool_cmd`, the legacy `ETHTOOL_GSET` answer (44 bytes): the command word,
/// the supported and advertised link modes, the speed (low 16 bits at 12, high at 28, in
/// Mb/s), duplex, port, autonegotiation and the partner's advertised modes.
#[repr(C, align(4))]
#[derive(Clone, Copy)]
pub(crate) struct EthtoolCmd([u8; 44]);

impl EthtoolCmd {
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_ne_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_ne_bytes([self.0[at], self.0[at + 1]])
    }

    /// `supported` (`SUPPORTED_*` bits).
    pub(crate) fn supported(&self) -> u32 {
        self.u32_at(4)
    }

    /// `advertising`.
    pub(crate) fn advertising(&self) -> u32 {
        self.u32_at(8)
    }

    /// The speed in Mb/s (`speed` and `speed_hi`); `u32::MAX` or 0 when unknown.
    pub(crate) fn speed(&self) -> u32 {
        u32::from(self.u16_at(12)) | (u32::from(self.u16_at(28)) << 16)
    }

    /// `duplex`: 0 half, 1 full, 0xff unknown.
    pub(crate) fn duplex(&self) -> u8 {
        self.0[14]
    }

    /// `port`: `PORT_TP` 0, `PORT_AUI` 1, `PORT_MII` 2, `PORT_FIBRE` 3, `PORT_BNC` 4, ...
    pub(crate) fn port(&self) -> u8 {
        self.0[15]
    }

    /// `autoneg`: autonegotiation on.
    pub(crate) fn autoneg(&self) -> bool {
        self.0[18] != 0
    }

    /// `lp_advertising`: what the link partner advertises.
    pub(crate) fn lp_advertising(&self) -> u32 {
        self.u32_at(32)
    }
}

/// `SIOCETHTOOL` with `ETHTOOL_GSET` for device `name`: its link settings.
pub(crate) fn ethtool_gset(fd: BorrowedFd<'_>, name: &str) -> io::Result<EthtoolCmd> {
    /// `ETHTOOL_GSET`.
    const ETHTOOL_GSET: u32 = 1;
    let mut cmd = EthtoolCmd([0; 44]);
    cmd.0[..4].copy_from_slice(&ETHTOOL_GSET.to_ne_bytes());
    let mut req = IfReq::new(name).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // `ifr_data`: a pointer at the union's start.
    let data = ptr::from_mut(&mut cmd) as usize as u64;
    req.data[..8].copy_from_slice(&data.to_ne_bytes());
    // SAFETY: `req` is a valid `struct ifreq` whose `ifr_data` points to `cmd`, a live,
    // writable, suitably aligned `struct ethtool_cmd` (44 bytes) for the whole call;
    // `ETHTOOL_GSET` reads and writes only those two structs.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), ioc::SIOCETHTOOL, ptr::from_mut(&mut req)) })?;
    Ok(cmd)
}

/// `SIOCGIFFLAGS` and friends: the interface ioctls that take a `struct ifreq`.
pub(crate) mod ioc {
    /// Read interface flags.
    pub(crate) const SIOCGIFFLAGS: u64 = 0x8913;
    /// Write interface flags.
    pub(crate) const SIOCSIFFLAGS: u64 = 0x8914;
    /// Read the MTU.
    pub(crate) const SIOCGIFMTU: u64 = 0x8921;
    /// Write the MTU.
    pub(crate) const SIOCSIFMTU: u64 = 0x8922;
    /// Write the hardware address.
    pub(crate) const SIOCSIFHWADDR: u64 = 0x8924;
    /// Read the hardware address.
    pub(crate) const SIOCGIFHWADDR: u64 = 0x8927;
    /// `SIOCETHTOOL`: takes a `struct ifreq` whose `ifr_data` points to an ethtool command.
    pub(crate) const SIOCETHTOOL: u64 = 0x8946;
    /// `TUNSETIFF`: `_IOW('T', 202, int)`, takes a `struct ifreq`.
    pub(crate) const TUNSETIFF: u64 = 0x4004_54ca;
    /// `TUNSETPERSIST`: `_IOW('T', 203, int)`, takes 1 or 0 by value.
    pub(crate) const TUNSETPERSIST: u64 = 0x4004_54cb;
    /// `TUNSETOFFLOAD`: `_IOW('T', 208, unsigned int)`, takes the flags by value.
    pub(crate) const TUNSETOFFLOAD: u64 = 0x4004_54d0;
    /// `TUNSETVNETHDRSZ`: `_IOW('T', 216, int)`, takes a pointer to the size.
    pub(crate) const TUNSETVNETHDRSZ: u64 = 0x4004_54d8;
}

/// Turns a `-1` return into the thread's `errno`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Same for calls returning `ssize_t`.
fn check_size(ret: isize) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// Opens `/dev/net/tun`, non-blocking and close-on-exec.
pub(crate) fn open_tun() -> io::Result<OwnedFd> {
    // SAFETY: the path is a NUL-terminated literal; open has no other memory arguments.
    let fd = check(unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a socket, non-blocking and close-on-exec.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: socket takes only integers.
    let fd = check(unsafe {
        libc::socket(
            domain,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    })?;
    // SAFETY: `fd` was just returned by socket and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An ioctl that reads and/or writes a `struct ifreq`.
pub(crate) fn ioctl_ifreq(fd: BorrowedFd<'_>, request: u64, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: `req` is a valid, writable `struct ifreq` (same size and alignment) for the whole
    // call; every request passed here reads or writes at most that struct.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request, ptr::from_mut(req)) })?;
    Ok(())
}

/// An ioctl whose argument is a plain integer value (`TUNSETOFFLOAD`).
pub(crate) fn ioctl_value(
    fd: BorrowedFd<'_>,
    request: u64,
    value: libc::c_ulong,
) -> io::Result<()> {
    // SAFETY: the argument is passed by value; the kernel does not dereference it.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request, value) })?;
    Ok(())
}

/// An ioctl that reads an `int` through a pointer (`TUNSETVNETHDRSZ`).
pub(crate) fn ioctl_int_ptr(
    fd: BorrowedFd<'_>,
    request: u64,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live `int` for the call; the request reads only that `int`.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request, &raw const value) })?;
    Ok(())
}

/// Socket option values: plain C structs the kernel reads as bytes.
pub(crate) trait SockOpt: Copy {}
impl SockOpt for libc::c_int {}
impl SockOpt for libc::packet_mreq {}

/// `setsockopt` with a value of type `T`.
pub(crate) fn setsockopt<T: SockOpt>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` points to `len` readable bytes for the call's duration.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(value).cast(),
            len,
        )
    })?;
    Ok(())
}

/// Reads and resets a packet socket's counters (`PACKET_STATISTICS`): (packets, drops).
pub(crate) fn packet_statistics(fd: BorrowedFd<'_>) -> io::Result<(u32, u32)> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `stats` and `len` are valid and writable; `len` tells the kernel the size.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut stats).cast(),
            &raw mut len,
        )
    })?;
    Ok((stats.tp_packets, stats.tp_drops))
}

/// Binds a packet socket to one interface and protocol (`protocol` in host order).
pub(crate) fn bind_packet(fd: BorrowedFd<'_>, ifindex: i32, protocol: u16) -> io::Result<()> {
    let addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: protocol.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a complete `sockaddr_ll` of `len` bytes, live for the call.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) })?;
    Ok(())
}

/// Binds a netlink socket to the multicast `groups` (a mask of `RTMGRP_*` bits), with a port
/// the kernel chooses.
pub(crate) fn bind_netlink(fd: BorrowedFd<'_>, groups: u32) -> io::Result<()> {
    // SAFETY: `sockaddr_nl` is plain integers (one private padding field, hence no literal),
    // for which all zeroes is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    let len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `addr` is a complete `sockaddr_nl` of `len` bytes, live for the call.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) })?;
    Ok(())
}

/// The index of the interface `name` in the current network namespace.
pub(crate) fn if_nametoindex(name: &str) -> Option<i32> {
    let name = CString::new(name).ok()?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    i32::try_from(index).ok().filter(|&i| i > 0)
}

/// Moves the calling thread into the network namespace `ns` refers to.
pub(crate) fn setns_net(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns takes only integers; it changes this thread's namespace only.
    check(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// What `recv_mmsg` learned about one received message beyond its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RxMeta {
    /// Frame length (without the virtio-net header).
    pub(crate) len: usize,
    /// The frame did not fit the buffer (or was shorter than a virtio-net header).
    pub(crate) truncated: bool,
    /// The virtio-net header, when asked for.
    pub(crate) vnet: VnetHdr,
    /// `PACKET_AUXDATA`: (status, VLAN TCI, VLAN TPID), when the kernel sent it.
    pub(crate) aux: Option<(u32, u16, u16)>,
}

/// Receives up to `min(packets.len(), BURST)` frames with one `recvmmsg`, each into a packet's
/// receive area (behind a virtio-net header when `vnet`); per-message facts go to `meta`.
/// Returns how many messages arrived; `WouldBlock` when none was waiting.
pub(crate) fn recv_mmsg(
    fd: BorrowedFd<'_>,
    packets: &mut [Packet],
    vnet: bool,
    meta: &mut [RxMeta; BURST],
) -> io::Result<usize> {
    let n = packets.len().min(BURST);
    let mut vnet_bufs = [[0u8; VnetHdr::LEN]; BURST];
    let mut cmsg = [[0u64; CMSG_WORDS]; BURST];
    // SAFETY: iovec, mmsghdr are C structs of pointers and integers, for which all-zero bytes
    // (null pointers, zero lengths) are valid values.
    let mut iov: [[libc::iovec; 2]; BURST] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; BURST] = unsafe { zeroed() };
    for (i, packet) in packets.iter_mut().take(n).enumerate() {
        let area = packet.rx_area();
        let mut k = 0;
        if vnet {
            iov[i][0] = libc::iovec {
                iov_base: vnet_bufs[i].as_mut_ptr().cast(),
                iov_len: VnetHdr::LEN,
            };
            k = 1;
        }
        iov[i][k] = libc::iovec {
            iov_base: area.as_mut_ptr().cast(),
            iov_len: area.len(),
        };
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_iov = iov[i].as_mut_ptr();
        hdr.msg_iovlen = k + 1;
        hdr.msg_control = cmsg[i].as_mut_ptr().cast();
        hdr.msg_controllen = CMSG_WORDS * 8;
    }
    // SAFETY: each of the first `n` headers points at iovecs describing live, writable buffers
    // (packet receive areas and `vnet_bufs`) and at a writable, aligned control buffer of the
    // stated length; all of them outlive the call, and no other reference touches them.
    let got = check(unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            ptr::null_mut(),
        )
    })?;
    let got = usize::try_from(got).unwrap_or(0).min(n);
    for i in 0..got {
        let hdr = &msgs[i].msg_hdr;
        let total = msgs[i].msg_len as usize;
        let head = if vnet { VnetHdr::LEN } else { 0 };
        meta[i] = RxMeta {
            len: total.saturating_sub(head),
            truncated: hdr.msg_flags & libc::MSG_TRUNC != 0 || total < head,
            vnet: if vnet {
                VnetHdr::from_bytes(&vnet_bufs[i])
            } else {
                VnetHdr::NONE
            },
            aux: auxdata(hdr),
        };
    }
    Ok(got)
}

/// Finds the `PACKET_AUXDATA` control message of a received message.
fn auxdata(hdr: &libc::msghdr) -> Option<(u32, u16, u16)> {
    // SAFETY: `hdr` was filled by recvmmsg; its control pointer and length describe the
    // aligned buffer we supplied, which is still live, so the CMSG_* walk stays inside it.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    while !c.is_null() {
        // SAFETY: `c` is non-null and was returned by CMSG_FIRSTHDR/NXTHDR for this buffer.
        let cm = unsafe { ptr::read_unaligned(c) };
        if cm.cmsg_level == libc::SOL_PACKET
            && cm.cmsg_type == libc::PACKET_AUXDATA
            && cm.cmsg_len as usize
                >= size_of::<libc::cmsghdr>() + size_of::<libc::tpacket_auxdata>()
        {
            // SAFETY: `c` is a control message inside our buffer; CMSG_DATA only offsets it.
            let data = unsafe { libc::CMSG_DATA(c) };
            // SAFETY: the message's length covers a whole `tpacket_auxdata` at `data`;
            // read_unaligned copes with any alignment.
            let aux: libc::tpacket_auxdata = unsafe { ptr::read_unaligned(data.cast()) };
            return Some((aux.tp_status, aux.tp_vlan_tci, aux.tp_vlan_tpid));
        }
        // SAFETY: `hdr` and `c` describe the same live control buffer.
        c = unsafe { libc::CMSG_NXTHDR(hdr, c) };
    }
    None
}

/// Sends up to `min(packets.len(), BURST)` frames with one `sendmmsg` (each behind its
/// virtio-net header when `vnet`). Returns how many the kernel took; an error means the first
/// one failed.
pub(crate) fn send_mmsg(fd: BorrowedFd<'_>, packets: &[Packet], vnet: bool) -> io::Result<usize> {
    let n = packets.len().min(BURST);
    let mut vnet_bufs = [[0u8; VnetHdr::LEN]; BURST];
    // SAFETY: all-zero iovec and mmsghdr values are valid (null pointers, zero lengths).
    let mut iov: [[libc::iovec; 2]; BURST] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; BURST] = unsafe { zeroed() };
    for (i, packet) in packets.iter().take(n).enumerate() {
        let mut k = 0;
        if vnet {
            vnet_bufs[i] = packet.vnet().to_bytes();
            iov[i][0] = libc::iovec {
                iov_base: vnet_bufs[i].as_mut_ptr().cast(),
                iov_len: VnetHdr::LEN,
            };
            k = 1;
        }
        let data = packet.data();
        // The kernel only reads through iov_base on send; the cast to *mut is the C API's.
        iov[i][k] = libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        };
        msgs[i].msg_hdr.msg_iov = iov[i].as_mut_ptr();
        msgs[i].msg_hdr.msg_iovlen = k + 1;
    }
    // SAFETY: each of the first `n` headers points at iovecs over live frame bytes and header
    // copies that outlive the call; sendmmsg only reads them (and writes msg_len).
    let sent = check(unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    })?;
    Ok(usize::try_from(sent).unwrap_or(0).min(n))
}

/// `readv` into a virtio-net header buffer and a frame buffer; returns the total read.
pub(crate) fn readv2(fd: BorrowedFd<'_>, head: &mut [u8], data: &mut [u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: head.as_mut_ptr().cast(),
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        },
    ];
    let first = usize::from(head.is_empty());
    // SAFETY: both iovecs describe live, writable, unaliased buffers for the call.
    check_size(unsafe {
        libc::readv(
            fd.as_raw_fd(),
            iov[first..].as_ptr(),
            (2 - first) as libc::c_int,
        )
    })
}

/// `writev` of a virtio-net header and a frame; returns the total written.
pub(crate) fn writev2(fd: BorrowedFd<'_>, head: &[u8], data: &[u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: head.as_ptr().cast_mut().cast(),
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        },
    ];
    let first = usize::from(head.is_empty());
    // SAFETY: both iovecs describe live buffers for the call; writev only reads them.
    check_size(unsafe {
        libc::writev(
            fd.as_raw_fd(),
            iov[first..].as_ptr(),
            (2 - first) as libc::c_int,
        )
    })
}

/// `poll(2)` for readability: `ready[i]` becomes whether `fds[i]` is readable (or in error,
/// which a read then reports); returns how many are. `EINTR` counts as nothing ready.
pub(crate) fn poll_readable(
    fds: &[BorrowedFd<'_>],
    timeout_ms: libc::c_int,
    ready: &mut Vec<bool>,
) -> io::Result<usize> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a live array of `pfds.len()` pollfd structs that poll may write; the
    // descriptors are borrowed for the call, so they stay open.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    ready.clear();
    if n < 0 {
        let e = io::Error::last_os_error();
        ready.resize(fds.len(), false);
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    ready.extend(pfds.iter().map(|p| p.revents != 0));
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The index of the interface `name`, for the `ifindex` column (0 when there is none).
pub(crate) fn ifindex(name: &str) -> u32 {
    if_nametoindex(name)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(0)
}

/// A `sockaddr_in` for `addr:port`.
fn sockaddr_in(addr: std::net::Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Binds an IPv4 socket (raw or UDP) to a local address and port (0.0.0.0: any address).
pub(crate) fn bind_ipv4(fd: BorrowedFd<'_>, addr: std::net::Ipv4Addr, port: u16) -> io::Result<()> {
    let sa = sockaddr_in(addr, port);
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa` is a complete `sockaddr_in` of `len` bytes, live for the call.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) })?;
    Ok(())
}

/// Bytes of control-message space per datagram received on an IPv4 socket: `IP_PKTINFO`
/// (`CMSG_SPACE(12)` = 32), `IP_TOS` (24) and `IP_TTL` (24) with room to spare.
const INET_CMSG_WORDS: usize = 16;

/// What `recv_mmsg_inet` learned about one datagram beyond its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InetRxMeta {
    /// Bytes received (the datagram, or the whole IP packet on a raw socket).
    pub(crate) len: usize,
    /// The datagram did not fit the buffer.
    pub(crate) truncated: bool,
    /// The sender's address and port (port 0 on a raw socket).
    pub(crate) src: std::net::SocketAddrV4,
    /// The destination address of the IP header (`IP_PKTINFO`'s `ipi_addr`), when reported.
    pub(crate) dst: Option<std::net::Ipv4Addr>,
    /// The IP header's TOS (`IP_RECVTOS`), when reported.
    pub(crate) tos: Option<u8>,
    /// The IP header's TTL (`IP_RECVTTL`), when reported.
    pub(crate) ttl: Option<u8>,
    /// On a socket with `UDP_GRO`: the size of each datagram the kernel coalesced into this
    /// buffer (the last may be shorter); `None` for a datagram received as it was sent.
    pub(crate) gro_segment: Option<u16>,
}

impl Default for InetRxMeta {
    fn default() -> Self {
        Self {
            len: 0,
            truncated: false,
            src: std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
            dst: None,
            tos: None,
            ttl: None,
            gro_segment: None,
        }
    }
}

/// Receives up to `min(packets.len(), BURST)` datagrams from an IPv4 socket (UDP or raw) with
/// one `recvmmsg`, each into a packet's receive area; per-datagram facts (sender, and the
/// `IP_PKTINFO`/`IP_TOS`/`IP_TTL` control messages the socket was asked for) go to `meta`.
/// Returns how many arrived; `WouldBlock` when none was waiting.
pub(crate) fn recv_mmsg_inet(
    fd: BorrowedFd<'_>,
    packets: &mut [Packet],
    meta: &mut [InetRxMeta; BURST],
) -> io::Result<usize> {
    let n = packets.len().min(BURST);
    let mut cmsg = [[0u64; INET_CMSG_WORDS]; BURST];
    let mut names = [sockaddr_in(std::net::Ipv4Addr::UNSPECIFIED, 0); BURST];
    // SAFETY: iovec and mmsghdr are C structs of pointers and integers, for which all-zero
    // bytes (null pointers, zero lengths) are valid values.
    let mut iov: [libc::iovec; BURST] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; BURST] = unsafe { zeroed() };
    for (i, packet) in packets.iter_mut().take(n).enumerate() {
        let area = packet.rx_area();
        iov[i] = libc::iovec {
            iov_base: area.as_mut_ptr().cast(),
            iov_len: area.len(),
        };
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = (&raw mut names[i]).cast();
        hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        hdr.msg_iov = &raw mut iov[i];
        hdr.msg_iovlen = 1;
        hdr.msg_control = cmsg[i].as_mut_ptr().cast();
        hdr.msg_controllen = INET_CMSG_WORDS * 8;
    }
    // SAFETY: each of the first `n` headers points at a live, writable `sockaddr_in` of the
    // stated length, one iovec over a packet's receive area, and an aligned control buffer of
    // the stated length; all outlive the call and nothing else references them.
    let got = check(unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            ptr::null_mut(),
        )
    })?;
    let got = usize::try_from(got).unwrap_or(0).min(n);
    for i in 0..got {
        let hdr = &msgs[i].msg_hdr;
        let name = &names[i];
        let mut m = InetRxMeta {
            len: msgs[i].msg_len as usize,
            truncated: hdr.msg_flags & libc::MSG_TRUNC != 0,
            src: std::net::SocketAddrV4::new(
                std::net::Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
                u16::from_be(name.sin_port),
            ),
            ..InetRxMeta::default()
        };
        inet_cmsgs(hdr, &mut m);
        meta[i] = m;
    }
    Ok(got)
}

/// Reads the `IP_PKTINFO`, `IP_TOS`, `IP_TTL` and `UDP_GRO` control messages of a received
/// datagram.
fn inet_cmsgs(hdr: &libc::msghdr, m: &mut InetRxMeta) {
    // SAFETY: `hdr` was filled by recvmmsg; its control pointer and length describe the
    // aligned buffer we supplied, which is still live, so the CMSG_* walk stays inside it.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    while !c.is_null() {
        // SAFETY: `c` is non-null and was returned by CMSG_FIRSTHDR/NXTHDR for this buffer.
        let cm = unsafe { ptr::read_unaligned(c) };
        let data_len = (cm.cmsg_len as usize).saturating_sub(size_of::<libc::cmsghdr>());
        // SAFETY: `c` is a control message inside our buffer; CMSG_DATA only offsets it.
        let data = unsafe { libc::CMSG_DATA(c) };
        if cm.cmsg_level == libc::IPPROTO_IP {
            match cm.cmsg_type {
                libc::IP_PKTINFO if data_len >= size_of::<libc::in_pktinfo>() => {
                    // SAFETY: the message's length covers a whole `in_pktinfo` at `data`;
                    // read_unaligned copes with any alignment.
                    let info: libc::in_pktinfo = unsafe { ptr::read_unaligned(data.cast()) };
                    m.dst = Some(std::net::Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
                }
                libc::IP_TOS if data_len >= 1 => {
                    // SAFETY: the message holds at least one byte at `data`.
                    m.tos = Some(unsafe { ptr::read(data) });
                }
                libc::IP_TTL if data_len >= size_of::<libc::c_int>() => {
                    // SAFETY: the message's length covers an `int` at `data`.
                    let ttl: libc::c_int = unsafe { ptr::read_unaligned(data.cast()) };
                    m.ttl = u8::try_from(ttl).ok();
                }
                _ => {}
            }
        } else if cm.cmsg_level == libc::SOL_UDP
            && cm.cmsg_type == libc::UDP_GRO
            && data_len >= size_of::<libc::c_int>()
        {
            // SAFETY: the message's length covers an `int` at `data`.
            let size: libc::c_int = unsafe { ptr::read_unaligned(data.cast()) };
            m.gro_segment = u16::try_from(size).ok().filter(|s| *s > 0);
        }
        // SAFETY: `hdr` and `c` describe the same live control buffer.
        c = unsafe { libc::CMSG_NXTHDR(hdr, c) };
    }
}

/// Sends up to `min(datagrams.len(), BURST)` datagrams with one `sendmmsg`, each to its
/// address (port 0 for a raw socket). Returns how many the kernel took; an error means the
/// first one failed.
pub(crate) fn send_mmsg_to(
    fd: BorrowedFd<'_>,
    datagrams: &[(&[u8], std::net::Ipv4Addr)],
) -> io::Result<usize> {
    let n = datagrams.len().min(BURST);
    let mut names = [sockaddr_in(std::net::Ipv4Addr::UNSPECIFIED, 0); BURST];
    // SAFETY: all-zero iovec and mmsghdr values are valid (null pointers, zero lengths).
    let mut iov: [libc::iovec; BURST] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; BURST] = unsafe { zeroed() };
    for (i, (data, dst)) in datagrams.iter().take(n).enumerate() {
        names[i] = sockaddr_in(*dst, 0);
        // The kernel only reads through iov_base on send; the cast to *mut is the C API's.
        iov[i] = libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        };
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = (&raw mut names[i]).cast();
        hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        hdr.msg_iov = &raw mut iov[i];
        hdr.msg_iovlen = 1;
    }
    // SAFETY: each of the first `n` headers points at a live `sockaddr_in` of the stated
    // length and one iovec over live bytes; sendmmsg only reads them (and writes msg_len).
    let sent = check(unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    })?;
    Ok(usize::try_from(sent).unwrap_or(0).min(n))
}

/// Most datagrams one `UDP_SEGMENT` send may carry (the kernel's `UDP_MAX_SEGMENTS` is 64
/// on older kernels, 128 on newer ones).
pub(crate) const GSO_MAX_SEGMENTS: usize = 64;

/// What one `UDP_SEGMENT` send puts on every datagram's IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UdpGsoSend {
    /// Destination address and UDP port.
    pub(crate) dst: std::net::SocketAddrV4,
    /// The payload size of every datagram but the last (which may be shorter).
    pub(crate) segment: u16,
    /// `IP_TOS` for this send (ECN bits included).
    pub(crate) tos: u8,
    /// `IP_TTL` for this send.
    pub(crate) ttl: u8,
}

/// Sends `payloads` (at most [`GSO_MAX_SEGMENTS`], each `segment` bytes but the last, which
/// may be shorter) from a UDP socket as one `sendmsg` with `UDP_SEGMENT`: one skb through the
/// IP layer, cut into datagrams by the kernel (or the NIC) after routing. TOS and TTL go in
/// `IP_TOS`/`IP_TTL` control messages. Never blocks. Returns the bytes taken.
pub(crate) fn send_udp_gso(
    fd: BorrowedFd<'_>,
    payloads: &[&[u8]],
    how: UdpGsoSend,
) -> io::Result<usize> {
    let n = payloads.len().min(GSO_MAX_SEGMENTS);
    let mut name = sockaddr_in(*how.dst.ip(), how.dst.port());
    // SAFETY: all-zero iovec values are valid (null pointers, zero lengths).
    let mut iov: [libc::iovec; GSO_MAX_SEGMENTS] = unsafe { zeroed() };
    for (v, p) in iov.iter_mut().zip(payloads.iter().take(n)) {
        // The kernel only reads through iov_base on send; the cast to *mut is the C API's.
        *v = libc::iovec {
            iov_base: p.as_ptr().cast_mut().cast(),
            iov_len: p.len(),
        };
    }
    // Three control messages: UDP_SEGMENT (a u16), IP_TOS and IP_TTL (ints); u64 words give
    // the alignment `cmsghdr` needs.
    let mut control = [0u64; 12];
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = |len: usize| unsafe { libc::CMSG_SPACE(len as libc::c_uint) } as usize;
    let used = space(size_of::<u16>()) + 2 * space(size_of::<libc::c_int>());
    debug_assert!(used <= size_of_val(&control));
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    hdr.msg_name = (&raw mut name).cast();
    hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    hdr.msg_iov = iov.as_mut_ptr();
    hdr.msg_iovlen = n;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = used;
    let messages: [(libc::c_int, libc::c_int, &[u8]); 3] = [
        (libc::SOL_UDP, libc::UDP_SEGMENT, &how.segment.to_ne_bytes()),
        (
            libc::IPPROTO_IP,
            libc::IP_TOS,
            &libc::c_int::from(how.tos).to_ne_bytes(),
        ),
        (
            libc::IPPROTO_IP,
            libc::IP_TTL,
            &libc::c_int::from(how.ttl).to_ne_bytes(),
        ),
    ];
    // SAFETY: `hdr` describes `control`, `used` bytes long and 8-byte aligned.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&raw const hdr) };
    for (level, ty, data) in messages {
        if c.is_null() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: CMSG_LEN is arithmetic on its argument.
        let cmsg_len = unsafe { libc::CMSG_LEN(data.len() as libc::c_uint) } as usize;
        let head = libc::cmsghdr {
            cmsg_len,
            cmsg_level: level,
            cmsg_type: ty,
        };
        // SAFETY: `c` is a control message header inside `control` with CMSG_SPACE(len)
        // bytes behind it (the space was counted in `used`), so the header fits.
        unsafe { ptr::write_unaligned(c, head) };
        // SAFETY: `c` is a control message inside our buffer; CMSG_DATA only offsets it.
        let at = unsafe { libc::CMSG_DATA(c) };
        // SAFETY: the message's data area (CMSG_SPACE(len) counted in `used`) holds
        // `data.len()` bytes at `at`, inside `control`, which `data` does not overlap.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), at, data.len()) };
        // SAFETY: `hdr` and `c` describe the same live control buffer.
        c = unsafe { libc::CMSG_NXTHDR(&raw const hdr, c) };
    }
    // SAFETY: `hdr` points at a live `sockaddr_in`, `n` iovecs over live bytes and a control
    // buffer of `used` bytes; sendmsg only reads them.
    check_size(unsafe { libc::sendmsg(fd.as_raw_fd(), &raw const hdr, libc::MSG_DONTWAIT) })
}

/// `TPACKET_V2` and `TPACKET_V3` as `PACKET_VERSION` takes them.
const TPACKET_V2: libc::c_int = 1;
const TPACKET_V3: libc::c_int = 2;

/// `struct tpacket_req3` (its first four fields are `struct tpacket_req`, which the kernel
/// reads for `TPACKET_V2`; the rest must then be zero).
#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}
impl SockOpt for TpacketReq3 {}

/// Which ring [`RxRing::new`] sets up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingVersion {
    /// `TPACKET_V2`: fixed-size frame slots, each handed over on its own.
    V2,
    /// `TPACKET_V3`: blocks of frames packed by length, handed over a block at a time.
    V3 {
        /// Milliseconds after which the kernel hands over a block that is not full.
        retire_ms: u32,
    },
}

/// The geometry [`RxRing::new`] asks the kernel for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RingReq {
    /// Bytes per block, a power-of-two number of pages, a multiple of `frame_size`.
    pub(crate) block_size: u32,
    /// Blocks in the ring.
    pub(crate) blocks: u32,
    /// Bytes per frame slot (a multiple of 16); for `TPACKET_V3` only the kernel's checks use
    /// it.
    pub(crate) frame_size: u32,
    /// The ring's version.
    pub(crate) version: RingVersion,
}

/// A packet socket's receive ring, mapped into this process, seen as `slots` slots of
/// `slot_size` bytes, each with a status word the kernel sets to `TP_STATUS_USER` when it
/// hands the slot over; writing `TP_STATUS_KERNEL` (0) back gives the slot back. A slot is a
/// frame for `TPACKET_V2` (status at offset 0 of `tpacket2_hdr`) and a block for `TPACKET_V3`
/// (status at offset 8 of `tpacket_block_desc`).
///
/// Invariant: while [`RxRing::user_slot`]'s slice is alive the ring is borrowed, so
/// [`RxRing::release_slot`] (which takes `&mut self`) cannot run: no frame is read after its
/// slot went back to the kernel. The kernel never writes a slot whose status is
/// `TP_STATUS_USER`, so the slice does not change under the reader.
#[derive(Debug)]
pub(crate) struct RxRing {
    base: ptr::NonNull<u8>,
    len: usize,
    slot_size: usize,
    slots: usize,
    status_offset: usize,
}

// SAFETY: the mapping is memory shared only with the kernel and owned by this value; nothing
// in it is tied to the thread that created it.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Sets the (not yet bound) socket's version, sets up a receive ring of the given
    /// geometry and maps it. Options that must precede the ring (`PACKET_VNET_HDR`,
    /// `PACKET_COPY_THRESH`) must already be set.
    pub(crate) fn new(fd: BorrowedFd<'_>, req: RingReq) -> io::Result<Self> {
        let frames_per_block = req.block_size / req.frame_size.max(1);
        let (version, retire, slot_size, status_offset) = match req.version {
            RingVersion::V2 => (TPACKET_V2, 0, req.frame_size, 0),
            RingVersion::V3 { retire_ms } => (TPACKET_V3, retire_ms, req.block_size, 8),
        };
        // Frames must tile the mapping for V2 slots to be contiguous.
        if req.frame_size == 0 || !req.block_size.is_multiple_of(req.frame_size) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)?;
        let kreq = TpacketReq3 {
            block_size: req.block_size,
            block_nr: req.blocks,
            frame_size: req.frame_size,
            frame_nr: frames_per_block.saturating_mul(req.blocks),
            retire_blk_tov: retire,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &kreq)?;
        let len = req.block_size as usize * req.blocks as usize;
        // SAFETY: a fresh shared mapping of the socket's ring (offset 0, the length the ring
        // was just given); the kernel validates both and no existing memory is affected.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = ptr::NonNull::new(addr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        let slot_size = slot_size as usize;
        Ok(Self {
            base,
            len,
            slot_size,
            slots: len / slot_size,
            status_offset,
        })
    }

    /// Number of slots (frames for `TPACKET_V2`, blocks for `TPACKET_V3`).
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }

    /// Where slot `i % slots` starts (inside the mapping, so `wrapping_add` stays in bounds).
    fn slot_ptr(&self, i: usize) -> *mut u8 {
        self.base
            .as_ptr()
            .wrapping_add((i % self.slots) * self.slot_size)
    }

    /// The status word of slot `i % slots`.
    fn status(&self, i: usize) -> &std::sync::atomic::AtomicU32 {
        let word = self.slot_ptr(i).wrapping_add(self.status_offset).cast();
        // SAFETY: the word lies inside the mapping, which lives as long as `self`; slots
        // start at multiples of 16 bytes and the word's offset is 0 or 8, so it is 4-aligned;
        // the kernel accesses it atomically too (with barriers around its plain accesses).
        unsafe { std::sync::atomic::AtomicU32::from_ptr(word) }
    }

    /// Slot `i`'s bytes if the kernel has handed it over, else `None`. The acquire load
    /// pairs with the kernel's barrier before it sets the status, so the frames are complete
    /// when read.
    pub(crate) fn user_slot(&self, i: usize) -> Option<&[u8]> {
        let status = self.status(i).load(std::sync::atomic::Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the slot is inside the mapping and belongs to user space until
        // `release_slot`, which needs `&mut self` and so cannot run while this borrow lives;
        // the kernel does not write a slot in that state.
        Some(unsafe { std::slice::from_raw_parts(self.slot_ptr(i), self.slot_size) })
    }

    /// Gives slot `i` back to the kernel. The release store orders every read of the slot
    /// before the kernel may refill it.
    pub(crate) fn release_slot(&mut self, i: usize) {
        self.status(i)
            .store(0, std::sync::atomic::Ordering::Release);
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are exactly the mapping `new` made, unmapped only here; no
        // slice into it can outlive `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// One classic BPF instruction (`struct sock_filter`), as the kernel reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SockFilter {
    /// Operation (`BPF_LD | BPF_W | BPF_ABS`, ...).
    pub code: u16,
    /// Instructions to skip when a comparison holds.
    pub jt: u8,
    /// Instructions to skip when it does not.
    pub jf: u8,
    /// The operation's constant.
    pub k: u32,
}

/// Replaces a socket's classic BPF filter (`SO_ATTACH_FILTER`); an empty program removes it
/// (`SO_DETACH_FILTER`, where "no filter attached" is not an error).
pub(crate) fn set_socket_filter(fd: BorrowedFd<'_>, program: &[SockFilter]) -> io::Result<()> {
    if program.is_empty() {
        return match setsockopt(fd, libc::SOL_SOCKET, libc::SO_DETACH_FILTER, &0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        };
    }
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut().cast(),
    };
    // SAFETY: `prog` points at `len` instructions laid out as `struct sock_filter` (the
    // `repr(C)` struct above), which the kernel copies during the call and never writes.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const prog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The address family of a socket (`SO_DOMAIN`): `AF_PACKET` for a packet socket.
pub(crate) fn socket_domain(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    let mut domain: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` and `len` are valid and writable; `len` tells the kernel the size.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&raw mut domain).cast(),
            &raw mut len,
        )
    })?;
    Ok(domain)
}

/// `union bpf_attr` as the few `bpf(2)` commands here fill it: 144 zeroed bytes, 8-byte
/// aligned as the kernel's `__aligned_u64` fields are. The kernel accepts a shorter union than
/// its own and treats the missing tail as zero.
#[repr(C, align(8))]
struct BpfAttr([u8; 144]);

impl BpfAttr {
    fn new() -> Self {
        Self([0; 144])
    }

    fn put_u32(&mut self, at: usize, value: u32) {
        self.0[at..at + 4].copy_from_slice(&value.to_ne_bytes());
    }

    fn put_u64(&mut self, at: usize, value: u64) {
        self.0[at..at + 8].copy_from_slice(&value.to_ne_bytes());
    }
}

/// `BPF_MAP_CREATE`, `BPF_MAP_LOOKUP_ELEM`, `BPF_PROG_LOAD`.
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_MAP_TYPE_ARRAY`.
const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_OBJ_NAME_LEN`: an object's name, NUL included.
const BPF_OBJ_NAME_LEN: usize = 16;

/// One `bpf(2)` call returning a new descriptor (or 0), close-on-exec as the kernel always
/// makes them.
fn bpf(cmd: libc::c_long, attr: &mut BpfAttr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, writable `union bpf_attr` prefix of the size passed; every
    // pointer the callers put in it refers to memory they borrow for the whole call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            ptr::from_mut(attr),
            size_of::<BpfAttr>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a descriptor `bpf(2)` returned.
fn bpf_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: `fd` was just returned by bpf(2) as a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An object name as `bpf_attr` holds it: at most 15 bytes of `[A-Za-z0-9_.]` and a NUL.
fn bpf_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    for (o, b) in out.iter_mut().zip(name.bytes().take(BPF_OBJ_NAME_LEN - 1)) {
        *o = if b.is_ascii_alphanumeric() || b == b'.' {
            b
        } else {
            b'_'
        };
    }
    out
}

/// An eBPF array map keyed by a `u32` index. Made only by [`BpfArray::create`], so its
/// value size is the one the kernel knows, and a lookup's buffer always fits what the kernel
/// writes.
#[derive(Debug)]
pub(crate) struct BpfArray {
    fd: OwnedFd,
    value_size: usize,
}

impl BpfArray {
    /// Creates a map of `entries` values of `value_size` bytes each, all zero.
    pub(crate) fn create(name: &str, value_size: u32, entries: u32) -> io::Result<Self> {
        // union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries,
        // map_flags, inner_map_fd, numa_node, then map_name at 28.
        let mut attr = BpfAttr::new();
        attr.put_u32(0, BPF_MAP_TYPE_ARRAY);
        attr.put_u32(4, 4);
        attr.put_u32(8, value_size);
        attr.put_u32(12, entries);
        attr.0[28..28 + BPF_OBJ_NAME_LEN].copy_from_slice(&bpf_name(name));
        let fd = bpf_fd(bpf(BPF_MAP_CREATE, &mut attr)?)?;
        let value_size =
            usize::try_from(value_size).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
        Ok(Self { fd, value_size })
    }

    /// The map's descriptor (what a program's `ld_imm64` names at load time).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The value at `index`.
    pub(crate) fn lookup(&self, index: u32) -> io::Result<Vec<u8>> {
        let key = index.to_ne_bytes();
        let mut value = vec![0u8; self.value_size];
        // union bpf_attr for BPF_MAP_LOOKUP_ELEM: map_fd at 0, key at 8, value at 16.
        let mut attr = BpfAttr::new();
        attr.put_u32(0, u32::try_from(self.fd.as_raw_fd()).unwrap_or(u32::MAX));
        attr.put_u64(8, key.as_ptr() as u64);
        attr.put_u64(16, value.as_mut_ptr() as u64);
        // The kernel reads 4 key bytes and writes the map's value size, which `value` has;
        // both outlive the call.
        bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
        Ok(value)
    }
}

/// Loads an eBPF program (`insns`: whole 8-byte instructions) of type `prog_type`; the
/// verifier's log goes into `log` (level 1 on failure only: a second try with the log on,
/// since a log too small for a program that passes would fail the load with `ENOSPC`).
pub(crate) fn bpf_prog_load(
    prog_type: u32,
    insns: &[u8],
    license: &std::ffi::CStr,
    name: &str,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    if insns.is_empty() || !insns.len().is_multiple_of(8) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let count =
        u32::try_from(insns.len() / 8).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let load = |log: Option<&mut [u8]>| {
        // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns at 8, license at 16,
        // log_level at 24, log_size at 28, log_buf at 32, kern_version, prog_flags, then
        // prog_name at 48.
        let mut attr = BpfAttr::new();
        attr.put_u32(0, prog_type);
        attr.put_u32(4, count);
        attr.put_u64(8, insns.as_ptr() as u64);
        attr.put_u64(16, license.as_ptr() as u64);
        if let Some(log) = log {
            attr.put_u32(24, 1);
            attr.put_u32(28, u32::try_from(log.len()).unwrap_or(u32::MAX));
            attr.put_u64(32, log.as_mut_ptr() as u64);
        }
        attr.0[48..48 + BPF_OBJ_NAME_LEN].copy_from_slice(&bpf_name(name));
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    match load(None) {
        Ok(fd) => bpf_fd(fd),
        Err(first) => match load(Some(log)) {
            Ok(fd) => bpf_fd(fd),
            Err(_) => Err(first),
        },
    }
}
