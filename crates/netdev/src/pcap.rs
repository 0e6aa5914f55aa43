//! Classic pcap files (the `tcpdump -w` format), written and read by hand.
//!
//! The writer emits the little-endian, microsecond variant with link type 1 (Ethernet):
//! a 24-byte file header (magic `0xa1b2c3d4`, version 2.4, zone 0, accuracy 0, snap length,
//! link type) and then, per frame, a 16-byte record header (seconds, microseconds, captured
//! length, original length) followed by the bytes. The reader also accepts big-endian files
//! and the nanosecond variant (magic `0xa1b23c4d`), since other tools write those; it rejects
//! link types other than Ethernet, as the dummy device only carries Ethernet frames.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Microsecond-resolution magic number.
const MAGIC_USEC: u32 = 0xa1b2_c3d4;
/// Nanosecond-resolution magic number.
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;
/// Snap length written in the file header: larger than any GSO super-frame we carry.
const SNAPLEN: u32 = 262_144;
/// Longest record the reader accepts, so a corrupt length cannot make it allocate gigabytes.
const MAX_RECORD: u32 = 1 << 20;

/// Writes frames to a classic pcap stream.
pub struct PcapWriter<W: Write> {
    out: W,
    path: PathBuf,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path` and writes the file header.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|source| Error::PcapIo {
            path: path.to_owned(),
            source,
        })?;
        Self::new(BufWriter::new(file), path)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `out`; `path` names the stream in errors.
    pub fn new(mut out: W, path: &Path) -> Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // Bytes 8..16: time zone offset and timestamp accuracy, both 0 as every tool writes.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header).map_err(|source| Error::PcapIo {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            out,
            path: path.to_owned(),
        })
    }

    /// Appends one frame stamped `time` (since the Unix epoch). Frames longer than the snap
    /// length are cut there, with the original length kept in the record as pcap intends.
    pub fn write(&mut self, time: Duration, frame: &[u8]) -> Result<()> {
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(SNAPLEN);
        // pcap's seconds field is 32 bits; it wraps in 2106, as every classic pcap does.
        let secs = (time.as_secs() & u64::from(u32::MAX)) as u32;
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&time.subsec_micros().to_le_bytes());
        record[8..12].copy_from_slice(&incl_len.to_le_bytes());
        record[12..16].copy_from_slice(&orig_len.to_le_bytes());
        // incl_len <= frame.len(), so the slice is in bounds.
        self.io(|out| {
            out.write_all(&record)?;
            out.write_all(&frame[..incl_len as usize])
        })
    }

    /// Pushes buffered records to the underlying stream.
    pub fn flush(&mut self) -> Result<()> {
        self.io(Write::flush)
    }

    /// Flushes and returns the underlying stream.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        Ok(self.out)
    }

    fn io(&mut self, f: impl FnOnce(&mut W) -> io::Result<()>) -> Result<()> {
        f(&mut self.out).map_err(|source| Error::PcapIo {
            path: self.path.clone(),
            source,
        })
    }
}

/// One frame read from a pcap stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    /// Capture time since the Unix epoch.
    pub time: Duration,
    /// The captured bytes.
    pub data: Vec<u8>,
    /// The frame's length on the wire (more than `data.len()` if the capture cut it).
    pub orig_len: u32,
}

/// Reads frames from a classic pcap stream.
pub struct PcapReader<R: Read> {
    input: R,
    path: PathBuf,
    big_endian: bool,
    nanos: bool,
}

impl PcapReader<BufReader<File>> {
    /// Opens the file at `path` and checks its header.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::PcapIo {
            path: path.to_owned(),
            source,
        })?;
        Self::new(BufReader::new(file), path)
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header from `input`; `path` names the stream in errors.
    pub fn new(mut input: R, path: &Path) -> Result<Self> {
        let mut header = [0u8; 24];
        match read_full(&mut input, &mut header) {
            Ok(n) if n == header.len() => {}
            Ok(_) => return Err(format_error(path, "shorter than a pcap file header")),
            Err(source) => {
                return Err(Error::PcapIo {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let magic = [header[0], header[1], header[2], header[3]];
        let (big_endian, nanos) = if magic == MAGIC_USEC.to_le_bytes() {
            (false, false)
        } else if magic == MAGIC_USEC.to_be_bytes() {
            (true, false)
        } else if magic == MAGIC_NSEC.to_le_bytes() {
            (false, true)
        } else if magic == MAGIC_NSEC.to_be_bytes() {
            (true, true)
        } else {
            return Err(format_error(
                path,
                "bad magic number (pcapng is not supported)",
            ));
        };
        let reader = Self {
            input,
            path: path.to_owned(),
            big_endian,
            nanos,
        };
        if reader.u32_at(&header, 20) & 0xffff != LINKTYPE_ETHERNET {
            return Err(format_error(path, "link type is not Ethernet"));
        }
        Ok(reader)
    }

    /// The next frame, or `None` at the end of the stream.
    pub fn next_record(&mut self) -> Result<Option<PcapRecord>> {
        let mut header = [0u8; 16];
        match read_full(&mut self.input, &mut header) {
            Ok(0) => return Ok(None),
            Ok(n) if n == header.len() => {}
            Ok(_) => return Err(format_error(&self.path, "truncated record header")),
            Err(source) => {
                return Err(Error::PcapIo {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        let secs = self.u32_at(&header, 0);
        let frac = self.u32_at(&header, 4);
        let incl_len = self.u32_at(&header, 8);
        let orig_len = self.u32_at(&header, 12);
        if incl_len > MAX_RECORD {
            return Err(format_error(&self.path, "record longer than 1 MiB"));
        }
        let mut data = vec![0; incl_len as usize];
        match read_full(&mut self.input, &mut data) {
            Ok(n) if n == data.len() => {}
            Ok(_) => return Err(format_error(&self.path, "truncated record")),
            Err(source) => {
                return Err(Error::PcapIo {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        let nanos = if self.nanos {
            frac
        } else {
            frac.saturating_mul(1000)
        };
        let time = Duration::from_secs(u64::from(secs)) + Duration::from_nanos(u64::from(nanos));
        Ok(Some(PcapRecord {
            time,
            data,
            orig_len,
        }))
    }

    fn u32_at(&self, bytes: &[u8], at: usize) -> u32 {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = Result<PcapRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

fn format_error(path: &Path, reason: &'static str) -> Error {
    Error::PcapFormat {
        path: path.to_owned(),
        reason,
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> &'static Path {
        Path::new("<memory>")
    }

    #[test]
    fn round_trip_in_memory() {
        let mut w = PcapWriter::new(Vec::new(), memory()).unwrap();
        w.write(Duration::new(1_700_000_000, 123_456_000), &[0xff; 60])
            .unwrap();
        w.write(Duration::new(1_700_000_001, 0), &[1, 2, 3])
            .unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(
            &bytes[..4],
            &[0xd4, 0xc3, 0xb2, 0xa1],
            "little-endian microsecond magic"
        );
        assert_eq!(bytes.len(), 24 + 16 + 60 + 16 + 3);
        let records: Vec<_> = PcapReader::new(&bytes[..], memory())
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].data, vec![0xff; 60]);
        assert_eq!(records[0].time, Duration::new(1_700_000_000, 123_456_000));
        assert_eq!(records[1].data, vec![1, 2, 3]);
        assert_eq!(records[1].orig_len, 3);
    }

    #[test]
    fn reads_big_endian_nanosecond_files() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC_NSEC.to_be_bytes());
        bytes.extend_from_slice(&[
            0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1,
        ]);
        bytes.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 2, 0xab, 0xcd]);
        let mut r = PcapReader::new(&bytes[..], memory()).unwrap();
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(rec.time, Duration::new(5, 7));
        assert_eq!(rec.data, [0xab, 0xcd]);
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn rejects_bad_files_with_reasons() {
        let short = PcapReader::new(&[0xd4u8, 0xc3][..], memory());
        assert!(matches!(
            short,
            Err(Error::PcapFormat {
                reason: "shorter than a pcap file header",
                ..
            })
        ));
        let pcapng = [0x0a, 0x0d, 0x0d, 0x0a]
            .iter()
            .chain(&[0u8; 20])
            .copied()
            .collect::<Vec<u8>>();
        assert!(matches!(
            PcapReader::new(&pcapng[..], memory()),
            Err(Error::PcapFormat { .. })
        ));

        let mut w = PcapWriter::new(Vec::new(), memory()).unwrap();
        w.write(Duration::ZERO, &[0; 10]).unwrap();
        let mut bytes = w.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1);
        let mut r = PcapReader::new(&bytes[..], memory()).unwrap();
        let cut = r.next_record();
        assert!(
            matches!(
                cut,
                Err(Error::PcapFormat {
                    reason: "truncated record",
                    ..
                })
            ),
            "{cut:?}"
        );

        let mut huge = PcapWriter::new(Vec::new(), memory())
            .unwrap()
            .into_inner()
            .unwrap();
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let mut r = PcapReader::new(&huge[..], memory()).unwrap();
        assert!(matches!(
            r.next_record(),
            Err(Error::PcapFormat {
                reason: "record longer than 1 MiB",
                ..
            })
        ));
    }
}
