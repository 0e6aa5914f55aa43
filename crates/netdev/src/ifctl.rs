//! Interface configuration through `SIOC*IF*` ioctls on a control socket.
//!
//! Each device keeps its own control socket, made in the network namespace the device lives
//! in: an ioctl acts in its socket's namespace, so the device can be configured later from any
//! thread, whatever namespace that thread is in.

use std::os::fd::{AsFd, OwnedFd};

use fvs_packet::MacAddr;

use crate::error::{Error, Result};
use crate::sys::{self, IfReq, ioc};
use crate::{LinkSettings, LinkState};

/// `IFF_UP`: administratively up.
const IFF_UP: i16 = 0x1;
/// `IFF_RUNNING`: the carrier is on (operational state up).
const IFF_RUNNING: i16 = 0x40;
/// ethtool's `PORT_TP` (twisted pair).
const PORT_TP: u8 = 0x00;
/// ethtool's `PORT_FIBRE`.
const PORT_FIBRE: u8 = 0x03;
/// `IFF_PROMISC`: receive every frame (the flag `ip link` shows as `PROMISC`).
pub(crate) const IFF_PROMISC: i16 = 0x100;

/// A control socket bound to one device name.
#[derive(Debug)]
pub(crate) struct IfCtl {
    socket: OwnedFd,
    name: String,
}

impl IfCtl {
    /// A control socket for `name` in the current thread's network namespace.
    pub(crate) fn new(name: &str) -> Result<Self> {
        IfReq::new(name).ok_or_else(|| Error::BadName(name.to_owned()))?;
        let socket = sys::socket(libc::AF_INET, libc::SOCK_DGRAM, 0)
            .map_err(|e| Error::sys(name, "control socket", e))?;
        Ok(Self {
            socket,
            name: name.to_owned(),
        })
    }

    /// Sets the administrative state (`ip link set NAME up|down`).
    pub(crate) fn set_up(&self, up: bool) -> Result<()> {
        self.set_flag(IFF_UP, up)
    }

    /// Turns interface flag `flag` (`IFF_*`) on or off, leaving the others as they are.
    pub(crate) fn set_flag(&self, flag: i16, on: bool) -> Result<()> {
        let mut req = self.get(ioc::SIOCGIFFLAGS, "SIOCGIFFLAGS")?;
        let flags = if on {
            req.flags() | flag
        } else {
            req.flags() & !flag
        };
        req.set_flags(flags);
        self.set(ioc::SIOCSIFFLAGS, "SIOCSIFFLAGS", req)
    }

    /// The link's speed, duplex and modes as `ethtool NAME` shows them; `None` when the
    /// device's driver does not say (tunnels, loopback).
    pub(crate) fn link_settings(&self) -> Option<LinkSettings> {
        let cmd = sys::ethtool_gset(self.socket.as_fd(), &self.name).ok()?;
        let speed = cmd.speed();
        Some(LinkSettings {
            speed_mbps: (speed != 0 && speed != u32::MAX && speed != 0xffff).then_some(speed),
            full_duplex: match cmd.duplex() {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
            fibre: cmd.port() == PORT_FIBRE,
            twisted_pair: cmd.port() == PORT_TP,
            autoneg: cmd.autoneg(),
            supported: cmd.supported(),
            advertising: cmd.advertising(),
            peer_advertising: cmd.lp_advertising(),
        })
    }

    /// True when administratively up.
    pub(crate) fn is_up(&self) -> Result<bool> {
        Ok(self.get(ioc::SIOCGIFFLAGS, "SIOCGIFFLAGS")?.flags() & IFF_UP != 0)
    }

    /// Sets the MTU.
    pub(crate) fn set_mtu(&self, mtu: u32) -> Result<()> {
        let mut req = self.req()?;
        req.set_int(i32::try_from(mtu).unwrap_or(i32::MAX));
        self.set(ioc::SIOCSIFMTU, "SIOCSIFMTU", req)
    }

    /// Sets the Ethernet address.
    pub(crate) fn set_mac(&self, mac: MacAddr) -> Result<()> {
        let mut req = self.req()?;
        req.set_hwaddr(mac.0);
        self.set(ioc::SIOCSIFHWADDR, "SIOCSIFHWADDR", req)
    }

    /// The MTU.
    pub(crate) fn mtu(&self) -> Result<u32> {
        let req = self.get(ioc::SIOCGIFMTU, "SIOCGIFMTU")?;
        Ok(u32::try_from(req.int()).unwrap_or(0))
    }

    /// The Ethernet address.
    pub(crate) fn mac(&self) -> Result<MacAddr> {
        Ok(MacAddr(
            self.get(ioc::SIOCGIFHWADDR, "SIOCGIFHWADDR")?.hwaddr(),
        ))
    }

    /// Up if administratively up with a carrier.
    pub(crate) fn link_state(&self) -> Result<LinkState> {
        let flags = self.get(ioc::SIOCGIFFLAGS, "SIOCGIFFLAGS")?.flags();
        Ok(if flags & IFF_UP != 0 && flags & IFF_RUNNING != 0 {
            LinkState::Up
        } else {
            LinkState::Down
        })
    }

    fn req(&self) -> Result<IfReq> {
        IfReq::new(&self.name).ok_or_else(|| Error::BadName(self.name.clone()))
    }

    fn get(&self, request: u64, what: &'static str) -> Result<IfReq> {
        let mut req = self.req()?;
        sys::ioctl_ifreq(self.socket.as_fd(), request, &mut req)
            .map_err(|e| self.error(what, e))?;
        Ok(req)
    }

    fn set(&self, request: u64, what: &'static str, mut req: IfReq) -> Result<()> {
        sys::ioctl_ifreq(self.socket.as_fd(), request, &mut req).map_err(|e| self.error(what, e))
    }

    fn error(&self, what: &'static str, e: std::io::Error) -> Error {
        if e.raw_os_error() == Some(libc::ENODEV) {
            Error::NoSuchDevice(self.name.clone())
        } else {
            Error::sys(&self.name, what, e)
        }
    }
}
