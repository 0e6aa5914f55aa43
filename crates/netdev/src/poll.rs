//! Waiting for devices: `poll(2)` over the file descriptors of a datapath thread's devices
//! (and its own wake-up socket), so the thread sleeps until a frame or a control message
//! arrives instead of spinning.
//!
//! The thread keeps one [`Poller`] and reuses it every round: the readiness vector is
//! allocated once.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::sys;

/// Reusable readiness results of [`Poller::wait`].
#[derive(Debug, Default)]
pub struct Poller {
    ready: Vec<bool>,
}

impl Poller {
    /// A poller with no results yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits up to `timeout` for any of `fds` to become readable; returns how many are.
    /// A signal interrupting the wait counts as nothing ready.
    pub fn wait(&mut self, fds: &[BorrowedFd<'_>], timeout: Duration) -> io::Result<usize> {
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        sys::poll_readable(fds, ms, &mut self.ready)
    }

    /// Whether `fds[i]` of the last [`Poller::wait`] was readable.
    pub fn is_ready(&self, i: usize) -> bool {
        self.ready.get(i).copied().unwrap_or(false)
    }
}

/// The kernel's index of the network device `name` in the calling thread's namespace, or 0
/// when there is no such device (the `Interface` row's `ifindex` convention).
pub fn ifindex(name: &str) -> u32 {
    sys::ifindex(name)
}

/// The MTU of the network device `name` in the calling thread's namespace, `None` when
/// there is no such device.
pub fn mtu(name: &str) -> Option<u32> {
    crate::ifctl::IfCtl::new(name).and_then(|c| c.mtu()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn wait_reports_the_readable_descriptor_and_times_out_when_none_is() {
        let (mut a, b) = UnixStream::pair().expect("socketpair");
        let (_c, d) = UnixStream::pair().expect("socketpair");
        let mut p = Poller::new();
        let n = p
            .wait(&[b.as_fd(), d.as_fd()], Duration::from_millis(10))
            .expect("poll");
        assert_eq!(n, 0, "nothing written yet");
        a.write_all(b"x").expect("write");
        let n = p
            .wait(&[b.as_fd(), d.as_fd()], Duration::from_secs(5))
            .expect("poll");
        assert_eq!(n, 1);
        assert!(p.is_ready(0) && !p.is_ready(1));
        assert_eq!(ifindex("no-such-device-x"), 0);
        assert_eq!(ifindex("lo"), 1, "loopback is always index 1");
    }

    #[test]
    fn mtu_is_the_kernel_s() {
        let sysfs = std::fs::read_to_string("/sys/class/net/lo/mtu").expect("sysfs lists lo");
        assert_eq!(mtu("lo"), sysfs.trim().parse().ok());
        assert_eq!(mtu("no-such-device-x"), None);
    }
}
