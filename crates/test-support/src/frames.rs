//! Bytes on the wire for tests: hex dumps, the IPv4 header checksum, and the frames of a pcap
//! file.
//!
//! The pcap reader is deliberately this crate's own rather than ferrovs's (`fvs-netdev`): a
//! test that checks what ferrovs wrote should not read it back with the code under test. It
//! knows the classic format only (24-byte file header whose magic gives the byte order and
//! whether times are micro- or nanoseconds, then 16-byte record headers), which is what both
//! ferrovs and Open vSwitch's dummy netdevs write; pcapng is refused by name.

use std::fmt::Write as _;
use std::path::Path;

/// Lowercase hex without separators, for assertion messages and comparisons.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The Internet checksum of an IPv4 header (with its checksum field zero, the value to put
/// there; with it filled in, zero for a correct header).
#[must_use]
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves at most 16 bits.
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

/// Why a pcap file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Not a classic pcap file.
    #[error("{path}: not a pcap file (magic {magic})")]
    Magic {
        /// The file.
        path: String,
        /// Its first four bytes, in hex.
        magic: String,
    },
}

/// The frames of pcap file `path`, in order. A record cut short at the end (a writer still
/// writing) ends the list rather than failing it.
///
/// # Errors
///
/// [`PcapError`] when the file cannot be read or is not a pcap file.
pub fn read_pcap(path: &Path) -> Result<Vec<Vec<u8>>, PcapError> {
    let name = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| PcapError::Io {
        path: name.clone(),
        source,
    })?;
    let magic = data.get(..4).unwrap_or(&data);
    let big_endian = match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
        _ => {
            return Err(PcapError::Magic {
                path: name,
                magic: hex(magic),
            });
        }
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let mut frames = Vec::new();
    let mut at = 24;
    // Record header: seconds, sub-seconds, captured length, original length.
    while let Some(len) = u32_at(at + 8).and_then(|l| usize::try_from(l).ok()) {
        let start = at + 16;
        let Some(frame) = data.get(start..start + len) else {
            break;
        };
        frames.push(frame.to_vec());
        at = start + len;
    }
    Ok(frames)
}

/// [`read_pcap`], failing the test on an error.
///
/// # Panics
///
/// When the file cannot be read or is not a pcap file.
#[must_use]
pub fn pcap_frames(path: &Path) -> Vec<Vec<u8>> {
    read_pcap(path).unwrap_or_else(|e| panic!("{e}"))
}

/// [`read_pcap`], with no frames for a file not written (yet) or unreadable.
#[must_use]
pub fn pcap_frames_or_empty(path: &Path) -> Vec<Vec<u8>> {
    read_pcap(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_header_checksums_to_its_published_value() {
        // The worked example of RFC 1071's usual illustration: 45 00 00 73 00 00 40 00 40 11
        // [b8 61] c0 a8 00 01 c0 a8 00 c7.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861_u16.to_be_bytes());
        assert_eq!(ipv4_checksum(&h), 0);
    }

    #[test]
    fn pcap_records_are_read_in_either_byte_order_and_a_torn_tail_is_dropped() {
        let dir = crate::TempDir::new("pcap");
        for big in [false, true] {
            let w32 = |v: u32| {
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let mut f = Vec::new();
            f.extend(w32(0xa1b2_c3d4));
            f.extend([0; 20]);
            for frame in [&b"abc"[..], &b"defgh"[..]] {
                f.extend(w32(1));
                f.extend(w32(2));
                let len = u32::try_from(frame.len()).unwrap_or(0);
                f.extend(w32(len));
                f.extend(w32(len));
                f.extend_from_slice(frame);
            }
            f.extend(w32(1)); // a record header cut short
            let path = dir.join(format!("t{big}.pcap"));
            std::fs::write(&path, &f).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(pcap_frames(&path), vec![b"abc".to_vec(), b"defgh".to_vec()]);
        }
        let bad = dir.join("bad.pcap");
        std::fs::write(&bad, b"\x0a\x0d\x0d\x0a....").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_pcap(&bad).is_err());
        assert!(pcap_frames_or_empty(&dir.join("missing.pcap")).is_empty());
    }
}
