//! The one error type of packet I/O.

use std::io;
use std::path::PathBuf;

/// What can go wrong opening, configuring or using a network device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A device name the kernel cannot hold (empty, longer than 15 bytes, or with a NUL).
    #[error("{0:?}: invalid network device name")]
    BadName(String),
    /// The named device does not exist (in the current network namespace).
    #[error("{0}: no such network device")]
    NoSuchDevice(String),
    /// A system call failed; `what` names the operation, `device` the device.
    #[error("{device}: {what} failed: {source}")]
    Sys {
        /// The device the call was for.
        device: String,
        /// The operation, as a short phrase (`"TUNSETIFF"`, `"bind"`, ...).
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The receive ring could not be set up (`PACKET_RX_RING` or its `mmap` failed: memory
    /// limits, a geometry the kernel refuses). Its own variant so that a caller can fall back
    /// to a path without ring memory.
    #[error("{device}: {what} failed: {source}")]
    RxRing {
        /// The device.
        device: String,
        /// The ring, as a short phrase (`"TPACKET_V2 receive ring"`).
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A pcap file could not be read or written.
    #[error("{path}: {source}")]
    PcapIo {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A pcap file is not in the classic format this crate reads.
    #[error("{path}: not a pcap file this reader understands: {reason}")]
    PcapFormat {
        /// The file.
        path: PathBuf,
        /// What was wrong, as a short phrase.
        reason: &'static str,
    },
    /// A frame is longer than the buffers of the batch it should go into.
    #[error("frame of {len} bytes does not fit a buffer of {capacity} bytes")]
    FrameTooLong {
        /// The frame's length.
        len: usize,
        /// The buffer's capacity.
        capacity: usize,
    },
    /// The batch is already full.
    #[error("packet batch is full ({0} packets)")]
    BatchFull(usize),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an OS error of the call `what` on `device`.
    pub(crate) fn sys(device: &str, what: &'static str, source: io::Error) -> Self {
        Self::Sys {
            device: device.to_owned(),
            what,
            source,
        }
    }
}
