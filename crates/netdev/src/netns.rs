//! Running code inside a named network namespace (`ip netns add NAME`).
//!
//! Linux network namespaces are per thread: [`enter`] moves the calling thread into
//! `/run/netns/NAME` and the returned guard moves it back when dropped. Sockets and TAP devices
//! opened meanwhile stay in the namespace they were made in, so a switch thread can open its
//! devices in a namespace and then carry on in its own.

use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::AsFd;
use std::path::Path;

use crate::error::{Error, Result};
use crate::sys;

/// Keeps the calling thread in another network namespace until dropped. Not `Send`: the
/// namespace belongs to the thread that entered it.
#[must_use = "the thread returns to its namespace when the guard is dropped"]
pub struct NetnsGuard {
    home: File,
    _not_send: PhantomData<*const ()>,
}

/// Moves the calling thread into the named network namespace.
pub fn enter(name: &str) -> Result<NetnsGuard> {
    enter_path(&Path::new("/run/netns").join(name), name)
}

/// Moves the calling thread into the network namespace of the file at `path` (a bind mount
/// under `/run/netns`, or `/proc/PID/ns/net`).
pub fn enter_path(path: &Path, label: &str) -> Result<NetnsGuard> {
    let home = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::sys(label, "open own network namespace", e))?;
    let target = File::open(path).map_err(|e| Error::sys(label, "open network namespace", e))?;
    sys::setns_net(target.as_fd()).map_err(|e| Error::sys(label, "setns", e))?;
    Ok(NetnsGuard {
        home,
        _not_send: PhantomData,
    })
}

/// Moves the calling thread into the network namespace `target` (an open
/// `/proc/.../ns/net` or `/run/netns` file).
pub(crate) fn enter_file(target: &File, label: &str) -> Result<NetnsGuard> {
    let home = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::sys(label, "open own network namespace", e))?;
    sys::setns_net(target.as_fd()).map_err(|e| Error::sys(label, "setns", e))?;
    Ok(NetnsGuard {
        home,
        _not_send: PhantomData,
    })
}

/// The calling thread's network namespace, kept open, with its identity (device and inode)
/// to tell later whether a thread is in it.
#[derive(Debug)]
pub(crate) struct Home {
    file: File,
    id: (u64, u64),
}

impl Home {
    /// The calling thread's namespace.
    pub(crate) fn current() -> std::io::Result<Self> {
        let file = File::open("/proc/thread-self/ns/net")?;
        let id = ns_id(&file.metadata()?);
        Ok(Self { file, id })
    }

    /// Runs `f` in this namespace: directly when the calling thread is in it, else after
    /// moving the thread there (and back afterwards).
    pub(crate) fn run<T>(&self, label: &str, f: impl FnOnce() -> T) -> Result<T> {
        let here = std::fs::metadata("/proc/thread-self/ns/net")
            .map_err(|e| Error::sys(label, "stat own network namespace", e))?;
        if ns_id(&here) == self.id {
            return Ok(f());
        }
        let _back = enter_file(&self.file, label)?;
        Ok(f())
    }
}

fn ns_id(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        // Going back to a namespace we came from cannot fail for lack of rights; if it somehow
        // does, staying in the other namespace silently would be worse than stopping.
        if let Err(e) = sys::setns_net(self.home.as_fd()) {
            panic!("cannot return to the original network namespace: {e}");
        }
    }
}
