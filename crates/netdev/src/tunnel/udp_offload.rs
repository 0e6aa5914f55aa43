//! The pieces of UDP segmentation on send (`UDP_SEGMENT`) and receive coalescing
//! (`UDP_GRO`) for the VXLAN and Geneve underlay of [`super::KernelTunnel`]: which queued
//! outer frames make one run, the sockets runs are sent from, and the staging of coalesced
//! receive buffers until they are split into the batch's slots. The design (why, what is
//! kept of each packet's headers, what is lost) is the parent module's "UDP segmentation and
//! receive coalescing" section.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use fvs_packet::ip::IpProtocol;
use fvs_packet::{ipv4, udp};

use crate::batch::{GSO_FRAME_CAPACITY, Packet};
use crate::netns::Home;
use crate::sys::{self, BURST, GSO_MAX_SEGMENTS, InetRxMeta};

/// Most bytes of UDP payload one send may carry: an IPv4 packet's 65,535 less the IPv4 and
/// UDP headers (the kernel checks the unsegmented datagram against IPv4's limit).
pub(super) const MAX_RUN_BYTES: usize = 65_535 - ipv4::MIN_HEADER_LEN - udp::HEADER_LEN;

/// Sending sockets open at most; the least recently used is closed for a new one.
const MAX_SOCKETS: usize = 64;
/// A sending socket unused this long is closed (it holds a local UDP port).
const SOCKET_IDLE: Duration = Duration::from_secs(10);
/// A source whose socket could not be made (the port is taken, the address is not local)
/// is sent through the raw socket for this long before trying again.
const REFUSED_FOR: Duration = Duration::from_secs(5);
/// How often idle sockets are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What every datagram of one run shares: everything in its IPv4 and UDP headers except the
/// lengths, the identification and the checksums, which the kernel writes per datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct RunKey {
    /// Outer source address (0.0.0.0: the route's, chosen by the kernel).
    pub(super) src: Ipv4Addr,
    /// Outer destination address.
    pub(super) dst: Ipv4Addr,
    /// UDP source port (VXLAN and Geneve hash the inner flow into it).
    pub(super) src_port: u16,
    /// UDP destination port.
    pub(super) dst_port: u16,
    /// The TOS byte, ECN bits included.
    pub(super) tos: u8,
    /// The TTL.
    pub(super) ttl: u8,
    /// The don't-fragment bit.
    pub(super) df: bool,
}

/// One queued outer frame as far as grouping cares: its run key and UDP payload length.
pub(super) type RunHead = (RunKey, usize);

/// The run key and UDP payload of an outer IPv4 datagram that a `UDP_SEGMENT` send can
/// reproduce: a 20-byte header (IP options cannot be given per send), no fragment bits but
/// DF, UDP whose length matches the IPv4 header's, a non-empty payload. `None` for anything
/// else, which goes out through the raw socket as written.
pub(super) fn run_head(datagram: &[u8]) -> Option<(RunKey, &[u8])> {
    let ip = datagram.get(..ipv4::MIN_HEADER_LEN)?;
    if ip[0] != 0x45 || ip[9] != u8::from(IpProtocol::Udp) {
        return None;
    }
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    // The reserved bit, MF and the fragment offset must all be clear.
    if frag & !0x4000 != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let l4 = ipv4::MIN_HEADER_LEN;
    let u = datagram.get(l4..l4 + udp::HEADER_LEN)?;
    let udp_len = usize::from(u16::from_be_bytes([u[4], u[5]]));
    if total != datagram.len() || udp_len != total - l4 || udp_len <= udp::HEADER_LEN {
        return None;
    }
    let key = RunKey {
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        src_port: u16::from_be_bytes([u[0], u[1]]),
        dst_port: u16::from_be_bytes([u[2], u[3]]),
        tos: ip[1],
        ttl: ip[8],
        df: frag & 0x4000 != 0,
    };
    Some((key, &datagram[l4 + udp::HEADER_LEN..]))
}

impl RunKey {
    /// The outer flow: what tells one tunnelled flow from another (VXLAN and Geneve hash the
    /// inner flow into the source port). Frames of one outer flow must keep their order.
    fn flow(&self) -> (Ipv4Addr, Ipv4Addr, u16, u16) {
        (self.src, self.dst, self.src_port, self.dst_port)
    }
}

/// Gathers into `run` (cleared first) the frames one `UDP_SEGMENT` send can carry, starting
/// with frame `first`: later frames not yet `taken` with the first's key and its payload
/// length, except that the last may be shorter (the kernel cuts every datagram but the last
/// to the first's size), at most [`GSO_MAX_SEGMENTS`] and [`MAX_RUN_BYTES`]. Frames of other
/// outer flows in between are skipped, to be sent after the run: two flows interleaved in a
/// batch still make two runs. A frame of the same outer flow that cannot join (another TOS,
/// TTL or DF, a longer payload, no head at all) ends the run, so no flow's frames are
/// reordered. `run` stays empty when `first` has no head.
pub(super) fn gather(
    heads: &[Option<RunHead>],
    taken: &[bool],
    first: usize,
    run: &mut Vec<usize>,
) {
    run.clear();
    let Some(Some((key, segment))) = heads.get(first) else {
        return;
    };
    run.push(first);
    let mut total = *segment;
    for (j, head) in heads.iter().enumerate().skip(first + 1) {
        if taken.get(j).copied().unwrap_or(true) {
            continue;
        }
        // A frame with offload work left may belong to any flow: stop rather than overtake.
        let Some((k, len)) = head else { break };
        if k.flow() != key.flow() {
            continue;
        }
        if run.len() == GSO_MAX_SEGMENTS || k != key || len > segment || total + len > MAX_RUN_BYTES
        {
            break;
        }
        run.push(j);
        total += len;
        if len < segment {
            break;
        }
    }
}

/// Counters of the UDP offloads, for `coverage/show`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpOffloadStats {
    /// `UDP_SEGMENT` sends (each carried two or more outer packets).
    pub gso_sends: u64,
    /// Outer packets those sends carried.
    pub gso_segments: u64,
    /// Received buffers in which the kernel had coalesced two or more datagrams.
    pub gro_buffers: u64,
    /// Datagrams split out of those buffers.
    pub gro_segments: u64,
}

/// One sending socket: bound to a run's source address and port.
#[derive(Debug)]
struct SendSocket {
    fd: OwnedFd,
    /// Whether it sets DF (`IP_PMTUDISC_PROBE`) or not (`IP_PMTUDISC_DONT`).
    df: bool,
    used: Instant,
}

/// The UDP sockets runs are sent from, one per (source address, source port), opened on
/// first use and closed when idle. They are made in the network namespace the underlay was
/// opened in, whichever thread sends (a switch may open its underlay in another namespace).
#[derive(Debug, Default)]
pub(super) struct SendSockets {
    open: HashMap<(Ipv4Addr, u16), SendSocket>,
    refused: HashMap<(Ipv4Addr, u16), Instant>,
    swept: Option<Instant>,
    /// The underlay's namespace (`None`: it could not be opened; sockets are then made in
    /// the sending thread's).
    home: Option<Home>,
}

impl SendSockets {
    /// Sockets for an underlay opened in the calling thread's namespace.
    pub(super) fn new() -> Self {
        Self {
            home: Home::current().ok(),
            ..Self::default()
        }
    }

    /// The socket for `key`'s source, set for its DF bit; `None` when there is none to be
    /// had (the run then goes through the raw socket).
    pub(super) fn get(&mut self, key: &RunKey, now: Instant) -> Option<BorrowedFd<'_>> {
        if self
            .swept
            .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
        {
            self.sweep(now);
        }
        let source = (key.src, key.src_port);
        if self.refused.contains_key(&source) {
            return None;
        }
        if !self.open.contains_key(&source) {
            if self.open.len() >= MAX_SOCKETS
                && let Some(oldest) = self
                    .open
                    .iter()
                    .min_by_key(|(_, s)| s.used)
                    .map(|(k, _)| *k)
            {
                self.open.remove(&oldest);
            }
            let made = match &self.home {
                Some(home) => home
                    .run("udp_segment", || {
                        open_send_socket(key.src, key.src_port, key.df)
                    })
                    .unwrap_or_else(|e| Err(io::Error::other(e.to_string()))),
                None => open_send_socket(key.src, key.src_port, key.df),
            };
            match made {
                Ok(fd) => {
                    self.open.insert(
                        source,
                        SendSocket {
                            fd,
                            df: key.df,
                            used: now,
                        },
                    );
                }
                Err(_) => {
                    self.refused.insert(source, now);
                    return None;
                }
            }
        }
        let s = self.open.get_mut(&source)?;
        if s.df != key.df {
            sys::setsockopt(
                s.fd.as_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                &pmtu(key.df),
            )
            .ok()?;
            s.df = key.df;
        }
        s.used = now;
        Some(s.fd.as_fd())
    }

    /// Stops using `key`'s source for a while (its sends fail in a way that will not pass).
    pub(super) fn refuse(&mut self, key: &RunKey, now: Instant) {
        let source = (key.src, key.src_port);
        self.open.remove(&source);
        self.refused.insert(source, now);
    }

    /// Closes idle sockets and forgets old refusals.
    fn sweep(&mut self, now: Instant) {
        self.open
            .retain(|_, s| now.duration_since(s.used) < SOCKET_IDLE);
        self.refused
            .retain(|_, t| now.duration_since(*t) < REFUSED_FOR);
        self.swept = Some(now);
    }

    /// Sockets open now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }
}

/// `IP_MTU_DISCOVER` for a DF bit: `PROBE` sets DF and checks the device's MTU, as a raw
/// `IP_HDRINCL` send does; `DONT` clears DF.
fn pmtu(df: bool) -> libc::c_int {
    if df {
        libc::IP_PMTUDISC_PROBE
    } else {
        libc::IP_PMTUDISC_DONT
    }
}

/// A UDP socket bound to `src:port` for sending runs. It receives nothing on purpose: its
/// receive buffer is the smallest the kernel allows, so stray datagrams to the port are
/// dropped rather than queued.
fn open_send_socket(src: Ipv4Addr, port: u16, df: bool) -> io::Result<OwnedFd> {
    let fd = sys::socket(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP)?;
    sys::setsockopt(
        fd.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_SNDBUFFORCE,
        &super::SOCKET_BUFFER,
    )
    .or_else(|_| {
        sys::setsockopt(
            fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            &super::SOCKET_BUFFER,
        )
    })?;
    sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, &0)?;
    sys::setsockopt(
        fd.as_fd(),
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        &pmtu(df),
    )?;
    sys::bind_ipv4(fd.as_fd(), src, port)?;
    Ok(fd)
}

/// What [`Staged::take`] put into a slot.
#[derive(Clone, Copy, Debug)]
pub(super) struct Taken {
    /// The datagram's facts, `len` being the slot's bytes (`truncated` when they did not fit).
    pub(super) meta: InetRxMeta,
    /// Split out of a coalesced buffer.
    pub(super) segment: bool,
    /// The first segment of its buffer.
    pub(super) first: bool,
}

/// Datagrams read from a socket with `UDP_GRO` and not yet handed to the datapath: one
/// `recvmmsg` fills buffers of 64 KiB (a coalesced buffer is up to that long), and
/// [`Staged::take`] moves them into the batch's slots, one datagram each, splitting a
/// coalesced buffer at the size the kernel reported. What does not fit the batch waits for
/// the next receive call, in order.
#[derive(Debug)]
pub(super) struct Staged {
    bufs: Vec<Packet>,
    meta: [InetRxMeta; BURST],
    /// Datagrams read into `bufs`.
    got: usize,
    /// The one being handed over.
    next: usize,
    /// Bytes of it already handed over (coalesced buffers only).
    offset: usize,
}

impl Default for Staged {
    fn default() -> Self {
        Self {
            bufs: Vec::new(),
            meta: [InetRxMeta::default(); BURST],
            got: 0,
            next: 0,
            offset: 0,
        }
    }
}

impl Staged {
    /// A stage holding one received buffer (for tests of the receive path).
    #[cfg(test)]
    pub(super) fn holding(bytes: &[u8], meta: InetRxMeta) -> Self {
        let mut b = Packet::new(GSO_FRAME_CAPACITY);
        b.rx_area()[..bytes.len()].copy_from_slice(bytes);
        b.set_rx_len(bytes.len());
        let mut s = Self {
            bufs: vec![b],
            got: 1,
            ..Self::default()
        };
        s.meta[0] = meta;
        s
    }

    /// True while read datagrams wait to be handed over.
    pub(super) fn pending(&self) -> bool {
        self.next < self.got
    }

    /// Reads up to [`BURST`] datagrams (only when nothing is pending); returns how many.
    pub(super) fn fill(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        debug_assert!(!self.pending());
        if self.bufs.is_empty() {
            self.bufs = (0..BURST)
                .map(|_| Packet::new(GSO_FRAME_CAPACITY))
                .collect();
        }
        self.got = 0;
        self.next = 0;
        self.offset = 0;
        let got = sys::recv_mmsg_inet(fd, &mut self.bufs, &mut self.meta)?;
        for (b, m) in self.bufs.iter_mut().zip(&self.meta).take(got) {
            b.set_rx_len(m.len);
        }
        self.got = got;
        Ok(got)
    }

    /// Puts the next datagram into `slot` (swapping buffers when they are alike, copying
    /// otherwise) and says what it was; `None` when nothing is pending.
    pub(super) fn take(&mut self, slot: &mut Packet) -> Option<Taken> {
        let i = self.next;
        if i >= self.got {
            return None;
        }
        let m = self.meta[i];
        // A coalesced buffer: more than one datagram of `size` bytes (the last may be
        // shorter). A truncated read is handed over whole, to be dropped as oversized.
        let size = m
            .gro_segment
            .map(usize::from)
            .filter(|s| *s < m.len && !m.truncated);
        let Some(size) = size else {
            self.next += 1;
            if slot.frame_capacity() == self.bufs[i].frame_capacity() {
                std::mem::swap(slot, &mut self.bufs[i]);
                return Some(Taken {
                    meta: m,
                    segment: false,
                    first: false,
                });
            }
            return Some(Taken {
                meta: copy_into(
                    slot,
                    &self.bufs[i].data()[..m.len.min(self.bufs[i].len())],
                    m,
                ),
                segment: false,
                first: false,
            });
        };
        let start = self.offset;
        let end = (start + size).min(m.len);
        let data = self.bufs[i].data().get(start..end).unwrap_or(&[]);
        let meta = copy_into(slot, data, m);
        if end >= m.len {
            self.next += 1;
            self.offset = 0;
        } else {
            self.offset = end;
        }
        Some(Taken {
            meta,
            segment: true,
            first: start == 0,
        })
    }
}

/// Copies one datagram into `slot`'s receive area; the returned facts are `m`'s with the
/// copied length, `truncated` when the slot was too small.
fn copy_into(slot: &mut Packet, data: &[u8], m: InetRxMeta) -> InetRxMeta {
    let area = slot.rx_area();
    let n = data.len().min(area.len());
    area[..n].copy_from_slice(&data[..n]);
    InetRxMeta {
        len: n,
        truncated: n < data.len(),
        gro_segment: None,
        ..m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src_port: u16) -> RunKey {
        RunKey {
            src: Ipv4Addr::new(10, 0, 1, 31),
            dst: Ipv4Addr::new(10, 0, 1, 21),
            src_port,
            dst_port: 4789,
            tos: 0,
            ttl: 64,
            df: true,
        }
    }

    /// The run `gather` makes from frame `first` when nothing is taken yet.
    fn run_from(heads: &[Option<RunHead>], first: usize) -> Vec<usize> {
        let mut run = Vec::new();
        gather(heads, &vec![false; heads.len()], first, &mut run);
        run
    }

    #[test]
    fn a_run_is_equal_sizes_with_a_shorter_last() {
        let h = |port, len| Some((key(port), len));
        // Four of 1400, then 600: five; the next is another run.
        let heads = [
            h(1, 1400),
            h(1, 1400),
            h(1, 1400),
            h(1, 1400),
            h(1, 600),
            h(1, 1400),
        ];
        assert_eq!(run_from(&heads, 0), [0, 1, 2, 3, 4]);
        assert_eq!(run_from(&heads, 5), [5]);
        // A longer one after a shorter first ends the run before it.
        assert_eq!(run_from(&[h(1, 600), h(1, 1400)], 0), [0]);
        // A frame that cannot go so at all ends it too, and cannot start one.
        assert_eq!(run_from(&[h(1, 1400), None, h(1, 1400)], 0), [0]);
        assert!(run_from(&[None, h(1, 1400)], 0).is_empty());
        assert!(run_from(&[], 0).is_empty());
    }

    #[test]
    fn interleaved_flows_make_one_run_each() {
        let h = |port, len| Some((key(port), len));
        let heads = [
            h(1, 1400),
            h(2, 1400),
            h(1, 1400),
            h(2, 1400),
            h(1, 700),
            h(2, 1400),
        ];
        let mut taken = vec![false; heads.len()];
        let mut run = Vec::new();
        gather(&heads, &taken, 0, &mut run);
        assert_eq!(run, [0, 2, 4]);
        for &i in &run {
            taken[i] = true;
        }
        gather(&heads, &taken, 1, &mut run);
        assert_eq!(run, [1, 3, 5]);
    }

    #[test]
    fn a_flow_s_frames_are_never_reordered() {
        let a = key(1);
        // Frame 1 is flow 1 with a congestion mark: the run stops before it rather than
        // take frame 2 ahead of it.
        let marked = RunKey { tos: 3, ..a };
        let heads = [Some((a, 1400)), Some((marked, 1400)), Some((a, 1400))];
        assert_eq!(run_from(&heads, 0), [0]);
        // Likewise a longer frame of the flow after a run of shorter ones.
        let heads = [
            Some((a, 500)),
            Some((a, 500)),
            Some((a, 1400)),
            Some((a, 500)),
        ];
        assert_eq!(run_from(&heads, 0), [0, 1]);
    }

    #[test]
    fn a_run_stops_at_the_segment_and_byte_limits() {
        let many = vec![Some((key(1), 100)); 100];
        assert_eq!(run_from(&many, 0).len(), GSO_MAX_SEGMENTS);
        let big = vec![Some((key(1), 9000)); 10];
        assert_eq!(run_from(&big, 0).len(), MAX_RUN_BYTES / 9000);
    }

    #[test]
    fn tos_ttl_and_df_are_part_of_the_key() {
        let a = key(1);
        for b in [
            RunKey { tos: 2, ..a },
            RunKey { ttl: 63, ..a },
            RunKey { df: false, ..a },
        ] {
            assert_eq!(run_from(&[Some((a, 100)), Some((b, 100))], 0), [0], "{b:?}");
        }
        // Another source address is another outer flow: skipped, not joined.
        let other = RunKey {
            src: Ipv4Addr::UNSPECIFIED,
            ..a
        };
        assert_eq!(
            run_from(&[Some((a, 100)), Some((other, 100)), Some((a, 100))], 0),
            [0, 2]
        );
    }

    /// An outer IPv4/UDP datagram with `payload` bytes.
    fn datagram(payload: usize) -> Vec<u8> {
        let total = 28 + payload;
        let mut d = vec![0x45, 0x02];
        d.extend_from_slice(&(total as u16).to_be_bytes());
        d.extend_from_slice(&[0, 0, 0x40, 0, 63, 17, 0, 0, 10, 0, 1, 31, 10, 0, 1, 21]);
        d.extend_from_slice(&[0xc0, 0x01, 0x12, 0xb5]);
        d.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.resize(total, 0x5a);
        d
    }

    #[test]
    fn the_head_is_read_from_the_outer_headers() {
        let d = datagram(100);
        let (k, p) = run_head(&d).unwrap();
        assert_eq!(p.len(), 100);
        assert_eq!(
            k,
            RunKey {
                src: Ipv4Addr::new(10, 0, 1, 31),
                dst: Ipv4Addr::new(10, 0, 1, 21),
                src_port: 0xc001,
                dst_port: 4789,
                tos: 2,
                ttl: 63,
                df: true,
            }
        );
    }

    #[test]
    fn what_a_udp_send_cannot_reproduce_has_no_head() {
        let good = datagram(100);
        let mut options = good.clone();
        options[0] = 0x46;
        let mut fragment = good.clone();
        fragment[6] = 0x20; // MF
        let mut gre = good.clone();
        gre[9] = 47;
        let mut udp_len = good.clone();
        udp_len[25] ^= 1;
        for bad in [
            options,
            fragment,
            gre,
            udp_len,
            datagram(0),
            good[..27].to_vec(),
        ] {
            assert!(run_head(&bad).is_none(), "{bad:?}");
        }
        // The IPv4 length must be the datagram's (outer_datagram cuts trailing padding).
        let mut padded = good;
        padded.push(0);
        assert!(run_head(&padded).is_none());
    }

    #[test]
    fn a_coalesced_buffer_is_split_at_the_reported_size() {
        let mut s = Staged {
            bufs: vec![
                Packet::new(GSO_FRAME_CAPACITY),
                Packet::new(GSO_FRAME_CAPACITY),
            ],
            ..Staged::default()
        };
        // 3 datagrams of 100 and one of 40 in the first buffer; a plain one in the second.
        let first: Vec<u8> = (0..340u32).map(|i| (i / 100) as u8).collect();
        s.bufs[0].rx_area()[..340].copy_from_slice(&first);
        s.bufs[0].set_rx_len(340);
        s.bufs[1].rx_area()[..7].copy_from_slice(&[9; 7]);
        s.bufs[1].set_rx_len(7);
        s.meta[0] = InetRxMeta {
            len: 340,
            gro_segment: Some(100),
            ..InetRxMeta::default()
        };
        s.meta[1] = InetRxMeta {
            len: 7,
            ..InetRxMeta::default()
        };
        s.got = 2;
        let mut slot = Packet::new(2048);
        let mut seen = Vec::new();
        while let Some(t) = s.take(&mut slot) {
            slot.set_rx_len(t.meta.len);
            seen.push((slot.data().to_vec(), t.segment, t.first, t.meta.truncated));
        }
        assert_eq!(seen.len(), 5);
        for (i, want) in [(0u8, 100), (1, 100), (2, 100), (3, 40)].iter().enumerate() {
            assert_eq!(seen[i].0, vec![want.0; want.1], "segment {i}");
            assert!(seen[i].1);
            assert_eq!(seen[i].2, i == 0);
        }
        assert_eq!(seen[4].0, vec![9; 7]);
        assert!(!seen[4].1);
        assert!(!s.pending());
    }

    #[test]
    fn a_segment_larger_than_the_slot_is_marked_truncated() {
        let mut s = Staged {
            bufs: vec![Packet::new(GSO_FRAME_CAPACITY)],
            ..Staged::default()
        };
        s.bufs[0].set_rx_len(3000);
        s.meta[0] = InetRxMeta {
            len: 3000,
            gro_segment: Some(1500),
            ..InetRxMeta::default()
        };
        s.got = 1;
        let mut slot = Packet::new(1000);
        let t = s.take(&mut slot).unwrap();
        assert!(t.meta.truncated);
        assert!(s.pending(), "the second segment is still to come");
        assert!(s.take(&mut slot).unwrap().meta.truncated);
        assert!(s.take(&mut slot).is_none());
    }

    #[test]
    fn a_refused_source_is_sent_raw() {
        let mut s = SendSockets::default();
        let now = Instant::now();
        let k = key(1);
        s.refuse(&k, now);
        assert!(s.get(&k, now).is_none());
        assert_eq!(s.len(), 0);
    }
}
