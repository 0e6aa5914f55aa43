//! One network device used by every datapath thread: the thread it is assigned to receives
//! from it, and any thread may send to it.
//!
//! Each thread's `fvs_datapath::Datapath` holds a [`SharedNetdev`] for every device port, all
//! wrapping the same device behind one mutex. The lock is held only for one `recv_batch` or
//! `send_batch` call (a ring read or one `sendmmsg`), never while packets are processed, so
//! a thread sending to a port waits at most one batch's system call for the thread receiving
//! from it. A device's file descriptor is duplicated once, so `poll(2)` waits on it without
//! the lock. With one thread the lock is never contended.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fvs_netdev::{LinkState, MacAddr, Netdev, NetdevStats, PacketBatch, Result};

/// A device shared by the datapath threads; clones are the same device.
#[derive(Clone)]
pub struct SharedNetdev {
    dev: Arc<Mutex<Box<dyn Netdev>>>,
    name: Arc<str>,
    /// A duplicate of the device's descriptor (`None`: a device read every round).
    fd: Option<Arc<OwnedFd>>,
    vnet_hdr: bool,
}

impl SharedNetdev {
    /// Shares `dev`. Fails only if its descriptor cannot be duplicated.
    pub fn new(dev: Box<dyn Netdev>) -> std::io::Result<Self> {
        let fd = match dev.fd() {
            Some(fd) => Some(Arc::new(fd.try_clone_to_owned()?)),
            None => None,
        };
        Ok(Self {
            name: Arc::from(dev.name()),
            vnet_hdr: dev.has_vnet_hdr(),
            fd,
            dev: Arc::new(Mutex::new(dev)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn Netdev>> {
        // A thread that panicked mid-call left the device as usable as any failed call does.
        self.dev.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Netdev for SharedNetdev {
    fn recv_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        self.lock().recv_batch(batch)
    }

    fn send_batch(&mut self, batch: &PacketBatch) -> Result<usize> {
        self.lock().send_batch(batch)
    }

    fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        self.lock().set_mtu(mtu)
    }

    fn set_mac(&mut self, mac: MacAddr) -> Result<()> {
        self.lock().set_mac(mac)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_deref().map(AsFd::as_fd)
    }

    fn mtu(&self) -> Result<u32> {
        self.lock().mtu()
    }

    fn mac(&self) -> Result<MacAddr> {
        self.lock().mac()
    }

    fn link_state(&self) -> Result<LinkState> {
        self.lock().link_state()
    }

    fn admin_up(&self) -> Option<bool> {
        self.lock().admin_up()
    }

    fn set_admin_up(&self, up: bool) -> Result<()> {
        self.lock().set_admin_up(up)
    }

    fn remove(&self) -> Result<()> {
        self.lock().remove()
    }

    fn link_settings(&self) -> Option<fvs_netdev::LinkSettings> {
        self.lock().link_settings()
    }

    fn stats(&self) -> NetdevStats {
        self.lock().stats()
    }

    fn has_vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    fn coverage(&self) -> Vec<(&'static str, u64)> {
        self.lock().coverage()
    }
}
