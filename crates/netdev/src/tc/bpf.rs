//! Filters whose action is an eBPF program (`cls_bpf` in direct-action mode): the kernel
//! pushes or pops a tunnel's outer header and redirects, which `u32`/`mirred` cannot.
//!
//! # Why eBPF
//!
//! Native tunnels put a whole outer Ethernet + IPv4 or IPv6 + GRE/UDP header in front of a frame
//! (and take it off at the far end). The kernel's own tools for that (`act_tunnel_key` with
//! a GRE or VXLAN device, `flower`) are not built into every kernel ferrovs runs on; the
//! `cls_bpf` classifier and the `bpf(2)` system call are. One small program per filter does
//! the match, the counting, the rewrite and the redirect; its instructions are generated here
//! (the [`crate::ebpf`] assembler), so no compiler or object file is involved, and the
//! header is baked into the program as immediates.
//!
//! # Program layout
//!
//! `r6` holds the context (`struct __sk_buff`), `r7` the filter's counters, `r8` a length.
//! The program sees the frame from its Ethernet header (`cls_bpf` pushes it back at
//! ingress), so a [`Key`](super::Key)'s offset from the network header is 14 more here.
//!
//! 1. A tagged packet (`vlan_present`) or one whose words do not match every key (a word
//!    read with `bpf_skb_load_bytes`, so a frame too short for a key does not match) goes on
//!    with `TC_ACT_UNSPEC`: later filters and the stack see it.
//! 2. Counting: packets and bytes (`skb->len` as it arrived, Ethernet header included) are
//!    added atomically to the one element of the filter's own array map ([`BpfCounters`]).
//! 3. The rewrite, see below. If a helper fails the packet is counted as failed and dropped
//!    (`TC_ACT_SHOT`): half-rewritten, it is no longer the packet the switch would have sent.
//! 4. `bpf_redirect(redirect, 0)`: out of the device's transmit (egress).
//!
//! **Encap.** The inner Ethernet header is saved on the stack right behind where the outer
//! header will be built; `bpf_skb_adjust_room` grows the packet by the whole header length
//! at the MAC layer (room between the Ethernet header and the network header: the outer IP
//! and tunnel headers plus the inner Ethernet header), with the encapsulation flags (outer
//! IPv4, GRE or UDP, inner L2 of 14 bytes, Ethernet), so the kernel knows the inner headers
//! and can still segment a TSO super-frame (as a GRE or UDP tunnel packet) wherever it must
//! (outer IPv4 or IPv6; the kernel sets `skb->protocol` to the outer header's);
//! `FIXED_GSO` keeps the inner segment size, since the super-frame's segments are the VM's.
//! The header's fixed bytes are stored as immediates, then the per-packet fields: IPv4 total
//! length (`skb->len - 14`), its header checksum (the other nine words' sum is computed
//! here, once; the program adds the length and folds), for UDP the length
//! (`skb->len - 34`) and a zero checksum; or the IPv6 payload length (`skb->len - 54`;
//! IPv6 has no header checksum, and its other fields, flow label included, are fixed). One
//! `bpf_skb_store_bytes` writes header and inner Ethernet header at offset 0. A UDP header whose source port is 0 gets one per packet:
//! `bpf_get_hash_recalc` (the kernel's flow hash of the inner packet, taken before the
//! header goes on) reduced into 32768..=60999, so the outer flows of different connections
//! differ (ECMP, receive-side scaling) and one connection's stay one.
//!
//! The room is the whole header's length, not 14 bytes less: the outer Ethernet header
//! takes the place of the frame's own, which moves behind the tunnel header as the inner one.
//!
//! **Decap.** The inner Ethernet header (at `outer_len`) is saved; `bpf_skb_adjust_room`
//! shrinks the packet by `outer_len` at the MAC layer, which removes the outer IP and tunnel
//! headers and the inner Ethernet header; the saved header goes back at offset 0. When the
//! inner EtherType is the other IP version than the filter's protocol, the call says so
//! (`BPF_F_ADJ_ROOM_DECAP_L3_IPV4`/`_IPV6`) and the kernel sets `skb->protocol` to it.
//!
//! # What the kernel does with TSO super-frames
//!
//! Checked on Linux 6.18 between veth pairs (`tests/tc_bpf.rs`): an encapsulated super-frame
//! crosses a veth underlay whole (veth offers GRE and UDP-tunnel segmentation), and a packet
//! socket with virtio-net headers on the far side reads it as one `TCPV4` frame whose
//! partial checksum is the inner TCP one. Decapsulated there and redirected to a veth, it
//! arrives exactly as the VM sent it (virtio-net header included). Redirected to a TAP, it
//! arrives cut into MSS-sized frames: `bpf_skb_adjust_room` leaves the packet marked as
//! encapsulated after a decapsulation (the flags that clear the mark,
//! `BPF_F_ADJ_ROOM_DECAP_L4_GRE`/`_UDP`, are newer than this kernel, which refuses them),
//! and a TAP offers no segmentation offload for encapsulated packets, so the kernel segments
//! in software before the TAP.
//!
//! # Limits
//!
//! - The outer header is IPv4 without options, or IPv6 without extension headers; the IP
//!   length of a GSO super-frame longer than 64 KiB is its low 16 bits (segmentation
//!   rewrites it per segment). GRE with a checksum or sequence number is refused (both
//!   would be per packet), and so is UDP over IPv6, whose checksum is mandatory (the
//!   program leaves UDP checksums zero, which only IPv4 allows).
//! - `bpf_skb_adjust_room` only takes packets whose `skb->protocol` is IPv4 or IPv6, so
//!   encapsulation and decapsulation filters are only installed for those protocols; a
//!   packet the kernel still refuses is counted as failed and dropped.
//! - The underlay's MTU is not checked: a frame that no longer fits the output device once
//!   encapsulated is counted as taken and then dropped by the device (as the switch's own
//!   send would be). Tunnel networks give their VMs an MTU smaller by the header.
//! - A decapsulated packet stays marked as encapsulated (see above).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::{
    ETH_LEN, Filter, INGRESS_PARENT, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
    RTM_NEWTFILTER, Rewrite, TCA_CLS_FLAGS_SKIP_HW, TCA_KIND, TCA_OPTIONS, filter_info, nested,
    tcmsg,
};
use crate::ebpf::{self, Alu, Asm, AsmError, Cond, Helper, Insn, Reg, Size};
use crate::netlink::{push_attr, transact};
use crate::sys::{self, BpfArray};

/// `cls_bpf`'s options: the program's descriptor, its name, its flags (direct action) and
/// the generic classifier flags (software only).
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_FLAGS_GEN: u16 = 9;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
/// The handle of ferrovs's program at each priority.
const FILTER_HANDLE: u32 = 1;
/// `BPF_PROG_TYPE_SCHED_CLS`.
const PROG_TYPE_SCHED_CLS: u32 = 3;
/// Return codes: go on to later filters and the stack; drop.
const TC_ACT_UNSPEC: i32 = -1;
const TC_ACT_SHOT: i32 = 2;
/// `struct __sk_buff` fields: `len`, `vlan_present`.
const SKB_LEN: i16 = 0;
const SKB_VLAN_PRESENT: i16 = 20;
/// `bpf_skb_adjust_room`'s mode and flags.
const ADJ_ROOM_MAC: i32 = 1;
const ADJ_ROOM_FIXED_GSO: u64 = 1 << 0;
const ADJ_ROOM_ENCAP_L3_IPV4: u64 = 1 << 1;
const ADJ_ROOM_ENCAP_L3_IPV6: u64 = 1 << 2;
const ADJ_ROOM_ENCAP_L4_GRE: u64 = 1 << 3;
const ADJ_ROOM_ENCAP_L4_UDP: u64 = 1 << 4;
const ADJ_ROOM_ENCAP_L2_ETH: u64 = 1 << 6;
const ADJ_ROOM_DECAP_L3_IPV4: u64 = 1 << 7;
const ADJ_ROOM_DECAP_L3_IPV6: u64 = 1 << 8;
/// `BPF_F_ADJ_ROOM_ENCAP_L2(len)`: the inner MAC header's length in the top byte.
const fn adj_room_encap_l2(len: u64) -> u64 {
    (len & 0xff) << 56
}
/// The counters' layout: three `u64`s.
const COUNT_PACKETS: i16 = 0;
const COUNT_BYTES: i16 = 8;
const COUNT_FAILED: i16 = 16;
const COUNTERS_LEN: u32 = 24;
/// The stack slot keys are read into (and the map's key, 0).
const SCRATCH: i16 = -8;
/// The outer header's fixed parts.
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const GRE_LEN: usize = 4;
const UDP_LEN: usize = 8;
/// The longest encapsulation header: Ethernet, IPv4, UDP and a Geneve header with the most
/// options it can carry (63 words); IPv6 only carries GRE, which is shorter. Header and
/// inner Ethernet header are built on the program's 512-byte stack.
pub const MAX_ENCAP_HEADER: usize = 14 + IPV4_LEN + UDP_LEN + 8 + 252;
/// Offsets in the header of the per-packet fields.
const AT_IP_TOTAL_LEN: usize = 14 + 2;
const AT_IP_CHECKSUM: usize = 14 + 10;
const AT_IP_PROTOCOL: usize = 14 + 9;
const AT_L4: usize = 14 + IPV4_LEN;
const AT_UDP_LEN: usize = AT_L4 + 4;
/// The UDP source ports a hashed source port takes: Linux's ephemeral range, 32768..=60999,
/// as the switch's own UDP tunnels choose them.
const HASHED_PORT_FIRST: u16 = 32768;
const HASHED_PORT_COUNT: u16 = 28233;
const AT_UDP_CHECKSUM: usize = AT_L4 + 6;
/// Offsets in an IPv6 header of the payload length and the next header.
const AT_IP6_PAYLOAD_LEN: usize = 14 + 4;
const AT_IP6_NEXT_HEADER: usize = 14 + 6;
const AT_L4_V6: usize = 14 + IPV6_LEN;
/// The shortest outer header a decapsulation removes: Ethernet, IPv4 and GRE's 4 bytes.
const MIN_OUTER: usize = 14 + IPV4_LEN + GRE_LEN;
/// `bpf_skb_adjust_room` moves at most this many bytes.
const MAX_ADJUST: usize = 0xfff;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_UDP: u8 = 17;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
/// GRE's flag bits for a checksum and a sequence number (first byte).
const GRE_CSUM_OR_SEQ: u8 = 0x80 | 0x10;
/// The verifier log's size, and how much of its end an error carries.
const LOG_LEN: usize = 256 * 1024;
const LOG_TAIL_LINES: usize = 8;

/// Why an eBPF filter could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BpfError {
    /// The encapsulation header is not one the program can send.
    #[error("encapsulation header ({len} bytes): {reason}")]
    BadHeader {
        /// Its length.
        len: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A decapsulation length outside what the kernel can remove.
    #[error("decapsulation of {0} bytes: not between {MIN_OUTER} and {MAX_ADJUST}")]
    BadOuterLen(u16),
    /// The filter's protocol is not IPv4 or IPv6, the only ones the kernel re-frames.
    #[error("protocol 0x{0:04x}: tunnel filters are for IPv4 and IPv6 packets only")]
    Protocol(u16),
    /// A filter without a rewrite (a `u32` filter's job).
    #[error("a filter without a rewrite is a u32 filter")]
    NoRewrite,
    /// A key the program cannot read (before the frame's start).
    #[error("a key at offset {0} from the network header is before the frame")]
    KeyOffset(i32),
    /// The program could not be encoded.
    #[error("program: {0}")]
    Asm(String),
    /// The kernel refused the program; the verifier's last lines say why.
    #[error("the kernel refused the program ({source}): {log}")]
    Refused {
        /// The error `BPF_PROG_LOAD` returned.
        #[source]
        source: io::Error,
        /// The end of the verifier's log.
        log: String,
    },
}

impl From<AsmError> for BpfError {
    fn from(e: AsmError) -> Self {
        Self::Asm(e.to_string())
    }
}

impl From<BpfError> for io::Error {
    fn from(e: BpfError) -> Self {
        let kind = match &e {
            BpfError::Refused { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        Self::new(kind, e)
    }
}

/// What an eBPF filter's counters say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BpfCount {
    /// Packets the filter took (a GSO super-frame is one).
    pub packets: u64,
    /// Their bytes as they arrived, Ethernet header included.
    pub bytes: u64,
    /// Packets the rewrite failed for (dropped).
    pub failed: u64,
}

/// The counters an eBPF filter's program keeps (an array map of its own, one element). The
/// map lives as long as the filter or this handle, whichever goes last.
#[derive(Debug)]
pub struct BpfCounters {
    map: BpfArray,
}

impl BpfCounters {
    /// Packets and bytes (the frame as it arrived, Ethernet header included) taken so far,
    /// and packets the rewrite failed for (dropped).
    pub fn read(&self) -> io::Result<BpfCount> {
        let v = self.map.lookup(0)?;
        let word = |at: i16| {
            let at = at as usize;
            v.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_ne_bytes)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EIO))
        };
        Ok(BpfCount {
            packets: word(COUNT_PACKETS)?,
            bytes: word(COUNT_BYTES)?,
            failed: word(COUNT_FAILED)?,
        })
    }
}

/// Installs an eBPF filter for `f` (whose `rewrite` is not `None`) on the device's ingress at
/// `f.prio`, protocol `f.protocol`; fails with `EEXIST` when the priority is taken, and with
/// a [`BpfError`] (inside the `io::Error`) when the filter cannot be a program.
pub fn add_bpf_filter(ifindex: u32, f: &Filter) -> io::Result<BpfCounters> {
    let map = BpfArray::create("fvs_counters", COUNTERS_LEN, 1)?;
    let insns = program(f, map.fd().as_raw_fd())?;
    let prog = load(&insns, program_name(&f.rewrite))?;
    // One handle for every program: `cls_bpf` would give a second program at the same
    // priority a handle of its own instead of answering `EEXIST`.
    let mut body = tcmsg(
        ifindex,
        FILTER_HANDLE,
        INGRESS_PARENT,
        filter_info(f.prio, f.protocol),
    );
    push_attr(&mut body, TCA_KIND, b"bpf\0");
    nested(&mut body, TCA_OPTIONS, |o| {
        let fd = u32::try_from(prog.as_raw_fd()).unwrap_or(u32::MAX);
        push_attr(o, TCA_BPF_FD, &fd.to_ne_bytes());
        let mut name = program_name(&f.rewrite).as_bytes().to_vec();
        name.push(0);
        push_attr(o, TCA_BPF_NAME, &name);
        push_attr(o, TCA_BPF_FLAGS, &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes());
        push_attr(o, TCA_BPF_FLAGS_GEN, &TCA_CLS_FLAGS_SKIP_HW.to_ne_bytes());
    });
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    transact(RTM_NEWTFILTER, flags, &body)?;
    // The filter holds the program now; closing ours leaves it there.
    drop(prog);
    Ok(BpfCounters { map })
}

/// The name `tc filter show` prints for the program.
fn program_name(r: &Rewrite) -> &'static str {
    match r {
        Rewrite::Encap { .. } => "ferrovs_encap",
        Rewrite::Decap { .. } => "ferrovs_decap",
        Rewrite::None => "ferrovs",
    }
}

/// Loads the program, turning a verifier refusal into [`BpfError::Refused`] with the log's
/// last lines.
fn load(insns: &[Insn], name: &str) -> Result<OwnedFd, BpfError> {
    let mut log = vec![0u8; LOG_LEN];
    sys::bpf_prog_load(
        PROG_TYPE_SCHED_CLS,
        &ebpf::bytes(insns),
        license(),
        name,
        &mut log,
    )
    .map_err(|source| BpfError::Refused {
        source,
        log: log_tail(&log),
    })
}

/// No helper the programs call is GPL-only.
fn license() -> &'static CStr {
    c"Apache-2.0"
}

/// The last lines of a NUL-terminated verifier log, joined with " | ".
fn log_tail(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(LOG_TAIL_LINES);
    if lines.is_empty() {
        return "(no verifier log)".to_owned();
    }
    lines[from..].join(" | ")
}

/// The tunnel protocol of an encapsulation header, from its IPv4 protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4 {
    Gre,
    Udp,
}

/// A checked encapsulation header.
#[derive(Debug)]
struct EncapHeader<'a> {
    bytes: &'a [u8],
    /// An IPv6 outer header (else IPv4).
    ipv6: bool,
    l4: L4,
    /// The one's-complement sum of the IPv4 header's words other than the total length and
    /// the checksum (not folded); 0 for IPv6.
    partial_sum: u32,
}

impl<'a> EncapHeader<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, BpfError> {
        let bad = |reason| BpfError::BadHeader {
            len: bytes.len(),
            reason,
        };
        if bytes.len() < 14 + IPV4_LEN + GRE_LEN {
            return Err(bad("shorter than Ethernet, IPv4 and GRE"));
        }
        if bytes.len() > MAX_ENCAP_HEADER {
            return Err(bad("longer than a program can build on its stack"));
        }
        if bytes[12..14] == ETH_P_IPV6.to_be_bytes() {
            return Self::parse_ipv6(bytes);
        }
        if bytes[12..14] != ETH_P_IP.to_be_bytes() {
            return Err(bad("the outer EtherType is neither IPv4 nor IPv6"));
        }
        if bytes[14] != 0x45 {
            return Err(bad("not an IPv4 header of 20 bytes"));
        }
        let l4 = match bytes[AT_IP_PROTOCOL] {
            IPPROTO_GRE if bytes[AT_L4] & GRE_CSUM_OR_SEQ != 0 => {
                return Err(bad("GRE with a checksum or sequence number"));
            }
            IPPROTO_GRE => L4::Gre,
            IPPROTO_UDP if bytes.len() < AT_L4 + UDP_LEN + 8 => {
                return Err(bad("shorter than Ethernet, IPv4, UDP and a tunnel header"));
            }
            IPPROTO_UDP => L4::Udp,
            _ => return Err(bad("the IPv4 protocol is neither GRE nor UDP")),
        };
        let partial_sum = bytes[14..AT_L4]
            .chunks_exact(2)
            .enumerate()
            .filter(|&(i, _)| 14 + 2 * i != AT_IP_TOTAL_LEN && 14 + 2 * i != AT_IP_CHECKSUM)
            .map(|(_, w)| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        Ok(Self {
            bytes,
            ipv6: false,
            l4,
            partial_sum,
        })
    }

    /// An IPv6 outer header: no extension headers, GRE (without checksum or sequence
    /// number) right behind it.
    fn parse_ipv6(bytes: &'a [u8]) -> Result<Self, BpfError> {
        let bad = |reason| BpfError::BadHeader {
            len: bytes.len(),
            reason,
        };
        if bytes.len() < AT_L4_V6 + GRE_LEN {
            return Err(bad("shorter than Ethernet, IPv6 and GRE"));
        }
        if bytes[14] >> 4 != 6 {
            return Err(bad("the IPv6 header's version is not 6"));
        }
        match bytes[AT_IP6_NEXT_HEADER] {
            IPPROTO_GRE if bytes[AT_L4_V6] & GRE_CSUM_OR_SEQ != 0 => {
                Err(bad("GRE with a checksum or sequence number"))
            }
            IPPROTO_GRE => Ok(Self {
                bytes,
                ipv6: true,
                l4: L4::Gre,
                partial_sum: 0,
            }),
            IPPROTO_UDP => Err(bad(
                "UDP over IPv6 needs a checksum the program cannot fill",
            )),
            _ => Err(bad("the IPv6 next header is not GRE")),
        }
    }
}

/// The filter's program; `map_fd` is its counters' map.
fn program(f: &Filter, map_fd: i32) -> Result<Vec<Insn>, BpfError> {
    if !matches!(f.protocol, ETH_P_IP | ETH_P_IPV6) {
        return Err(BpfError::Protocol(f.protocol));
    }
    let mut a = Asm::new();
    let pass = a.label();
    let fail = a.label();
    a.alu64_reg(Alu::Mov, Reg::R6, Reg::R1);

    // 1. Untagged, and every key.
    a.ldx(Size::W, Reg::R0, Reg::R6, SKB_VLAN_PRESENT)
        .jmp32_imm(Cond::Ne, Reg::R0, 0, pass);
    for k in &f.keys {
        // The word before the destination's last four bytes has the destination's first
        // two bytes in its low half: read the frame's first word and shift them there.
        let (at, shift) = match k.at + ETH_LEN {
            at @ 0.. => (at, 0),
            -2 if k.mask >> 16 == 0 => (0, 16),
            _ => return Err(BpfError::KeyOffset(k.at)),
        };
        a.alu64_reg(Alu::Mov, Reg::R1, Reg::R6)
            .alu64_imm(Alu::Mov, Reg::R2, at)
            .alu64_reg(Alu::Mov, Reg::R3, Reg::FP)
            .alu64_imm(Alu::Add, Reg::R3, SCRATCH.into())
            .alu64_imm(Alu::Mov, Reg::R4, 4)
            .call(Helper::SkbLoadBytes)
            .jmp_imm(Cond::Ne, Reg::R0, 0, pass)
            .ldx(Size::W, Reg::R0, Reg::FP, SCRATCH)
            .swap_to_be(Reg::R0, 32);
        if shift != 0 {
            a.alu32_imm(Alu::Rsh, Reg::R0, shift);
        }
        a.alu32_imm(Alu::And, Reg::R0, k.mask)
            .jmp32_imm(Cond::Ne, Reg::R0, k.value & k.mask, pass);
    }

    // 2. Count. An array's element 0 is always there; the check is the verifier's due.
    a.st(Size::W, Reg::FP, SCRATCH, 0)
        .ld_map_fd(Reg::R1, map_fd)
        .alu64_reg(Alu::Mov, Reg::R2, Reg::FP)
        .alu64_imm(Alu::Add, Reg::R2, SCRATCH.into())
        .call(Helper::MapLookupElem)
        .jmp_imm(Cond::Eq, Reg::R0, 0, pass)
        .alu64_reg(Alu::Mov, Reg::R7, Reg::R0)
        .alu64_imm(Alu::Mov, Reg::R1, 1)
        .atomic_add64(Reg::R7, COUNT_PACKETS, Reg::R1)
        .ldx(Size::W, Reg::R8, Reg::R6, SKB_LEN)
        .atomic_add64(Reg::R7, COUNT_BYTES, Reg::R8);

    // 3. Rewrite.
    match &f.rewrite {
        Rewrite::None => return Err(BpfError::NoRewrite),
        Rewrite::Encap { header } => encap(&mut a, &EncapHeader::parse(header)?, fail),
        Rewrite::Decap { outer_len } => decap(&mut a, f.protocol, *outer_len, fail)?,
    }

    // 4. Out of the other device.
    a.alu32_imm(Alu::Mov, Reg::R1, f.redirect)
        .alu64_imm(Alu::Mov, Reg::R2, 0)
        .call(Helper::Redirect)
        .exit();
    a.bind(pass);
    a.alu64_imm(Alu::Mov, Reg::R0, TC_ACT_UNSPEC).exit();
    a.bind(fail);
    a.alu64_imm(Alu::Mov, Reg::R1, 1)
        .atomic_add64(Reg::R7, COUNT_FAILED, Reg::R1)
        .alu64_imm(Alu::Mov, Reg::R0, TC_ACT_SHOT)
        .exit();
    Ok(a.finish()?)
}

/// Calls `bpf_skb_load_bytes` or `bpf_skb_store_bytes` (`store`) for `len` bytes between
/// the packet at `offset` and the stack at `stack`; a failure goes to `fail`.
fn copy(a: &mut Asm, store: bool, offset: i32, stack: i16, len: i32, fail: ebpf::Label) {
    a.alu64_reg(Alu::Mov, Reg::R1, Reg::R6)
        .alu64_imm(Alu::Mov, Reg::R2, offset)
        .alu64_reg(Alu::Mov, Reg::R3, Reg::FP)
        .alu64_imm(Alu::Add, Reg::R3, stack.into())
        .alu64_imm(Alu::Mov, Reg::R4, len);
    if store {
        a.alu64_imm(Alu::Mov, Reg::R5, 0)
            .call(Helper::SkbStoreBytes);
    } else {
        a.call(Helper::SkbLoadBytes);
    }
    a.jmp_imm(Cond::Ne, Reg::R0, 0, fail);
}

/// Pushes the header (see the module docs).
fn encap(a: &mut Asm, h: &EncapHeader<'_>, fail: ebpf::Label) {
    let len = h.bytes.len();
    // Header, then inner Ethernet header, 8-byte aligned below the scratch slot (stack
    // stores must be aligned to their width). Lengths are bounded by MAX_ENCAP_HEADER.
    let buf = -((8 + (len + 14).next_multiple_of(8)) as i16);
    let at = |offset: usize| buf + offset as i16;
    copy(a, false, 0, at(len), 14, fail);
    // A UDP source port of 0 asks for the flow's own: hash first (the hash of the inner
    // packet; after the adjustment the headers are the outer ones).
    let hashed_port = h.l4 == L4::Udp && h.bytes[AT_L4..AT_L4 + 2] == [0, 0];
    if hashed_port {
        a.alu64_reg(Alu::Mov, Reg::R1, Reg::R6)
            .call(Helper::GetHashRecalc)
            .alu32_reg(Alu::Mov, Reg::R9, Reg::R0);
    }
    let l4 = match h.l4 {
        L4::Gre => ADJ_ROOM_ENCAP_L4_GRE,
        L4::Udp => ADJ_ROOM_ENCAP_L4_UDP,
    };
    let l3 = if h.ipv6 {
        ADJ_ROOM_ENCAP_L3_IPV6
    } else {
        ADJ_ROOM_ENCAP_L3_IPV4
    };
    let flags =
        ADJ_ROOM_FIXED_GSO | l3 | l4 | ADJ_ROOM_ENCAP_L2_ETH | adj_room_encap_l2(ETH_LEN as u64);
    a.alu64_reg(Alu::Mov, Reg::R1, Reg::R6)
        .alu64_imm(Alu::Mov, Reg::R2, len as i32)
        .alu64_imm(Alu::Mov, Reg::R3, ADJ_ROOM_MAC)
        .ld_imm64(Reg::R4, flags)
        .call(Helper::SkbAdjustRoom)
        .jmp_imm(Cond::Ne, Reg::R0, 0, fail);
    // The fixed bytes, a word at a time (as the bytes lie in memory), the rest bytewise.
    let words = h.bytes.chunks_exact(4);
    let rest = words.remainder();
    for (i, w) in words.enumerate() {
        let imm = i32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
        a.st(Size::W, Reg::FP, at(4 * i), imm);
    }
    for (i, &b) in rest.iter().enumerate() {
        a.st(Size::B, Reg::FP, at(len - rest.len() + i), b.into());
    }
    a.ldx(Size::W, Reg::R8, Reg::R6, SKB_LEN);
    if h.ipv6 {
        // The payload length's low 16 bits (see the module docs); GRE only, no checksum.
        a.alu32_reg(Alu::Mov, Reg::R1, Reg::R8)
            .alu32_imm(Alu::Sub, Reg::R1, AT_L4_V6 as u32)
            .alu32_imm(Alu::And, Reg::R1, 0xffff)
            .swap_to_be(Reg::R1, 16)
            .stx(Size::H, Reg::FP, at(AT_IP6_PAYLOAD_LEN), Reg::R1);
        copy(a, true, 0, buf, (len + 14) as i32, fail);
        return;
    }
    // IPv4 total length and checksum; the length's low 16 bits (see the module docs).
    a.alu32_reg(Alu::Mov, Reg::R1, Reg::R8)
        .alu32_imm(Alu::Sub, Reg::R1, ETH_LEN as u32)
        .alu32_imm(Alu::And, Reg::R1, 0xffff)
        .alu32_reg(Alu::Mov, Reg::R2, Reg::R1)
        .alu32_imm(Alu::Add, Reg::R2, h.partial_sum);
    for _ in 0..2 {
        a.alu32_reg(Alu::Mov, Reg::R3, Reg::R2)
            .alu32_imm(Alu::Rsh, Reg::R3, 16)
            .alu32_imm(Alu::And, Reg::R2, 0xffff)
            .alu32_reg(Alu::Add, Reg::R2, Reg::R3);
    }
    a.alu32_imm(Alu::Xor, Reg::R2, 0xffff)
        .swap_to_be(Reg::R1, 16)
        .stx(Size::H, Reg::FP, at(AT_IP_TOTAL_LEN), Reg::R1)
        .swap_to_be(Reg::R2, 16)
        .stx(Size::H, Reg::FP, at(AT_IP_CHECKSUM), Reg::R2);
    if h.l4 == L4::Udp {
        a.alu32_reg(Alu::Mov, Reg::R1, Reg::R8)
            .alu32_imm(Alu::Sub, Reg::R1, AT_L4 as u32)
            .swap_to_be(Reg::R1, 16)
            .stx(Size::H, Reg::FP, at(AT_UDP_LEN), Reg::R1)
            .st(Size::H, Reg::FP, at(AT_UDP_CHECKSUM), 0);
    }
    if hashed_port {
        a.alu32_imm(Alu::Mod, Reg::R9, u32::from(HASHED_PORT_COUNT))
            .alu32_imm(Alu::Add, Reg::R9, u32::from(HASHED_PORT_FIRST))
            .swap_to_be(Reg::R9, 16)
            .stx(Size::H, Reg::FP, at(AT_L4), Reg::R9);
    }
    copy(a, true, 0, buf, (len + 14) as i32, fail);
}

/// Pops `outer_len` bytes of outer header (see the module docs).
fn decap(a: &mut Asm, protocol: u16, outer_len: u16, fail: ebpf::Label) -> Result<(), BpfError> {
    if !(MIN_OUTER..=MAX_ADJUST).contains(&usize::from(outer_len)) {
        return Err(BpfError::BadOuterLen(outer_len));
    }
    let buf = -24;
    copy(a, false, outer_len.into(), buf, 14, fail);
    // An inner frame of the other IP version than the outer header says so, and the kernel
    // sets `skb->protocol` to it.
    let (other, flag) = match protocol {
        ETH_P_IP => (ETH_P_IPV6, ADJ_ROOM_DECAP_L3_IPV6),
        _ => (ETH_P_IP, ADJ_ROOM_DECAP_L3_IPV4),
    };
    let same = a.label();
    a.alu64_imm(Alu::Mov, Reg::R4, ADJ_ROOM_FIXED_GSO as i32)
        .ldx(Size::H, Reg::R1, Reg::FP, buf + 12)
        .jmp32_imm(
            Cond::Ne,
            Reg::R1,
            u16::from_ne_bytes(other.to_be_bytes()).into(),
            same,
        )
        .alu64_imm(Alu::Mov, Reg::R4, (ADJ_ROOM_FIXED_GSO | flag) as i32);
    a.bind(same);
    a.alu64_reg(Alu::Mov, Reg::R1, Reg::R6)
        .alu64_imm(Alu::Mov, Reg::R2, -i32::from(outer_len))
        .alu64_imm(Alu::Mov, Reg::R3, ADJ_ROOM_MAC)
        .call(Helper::SkbAdjustRoom)
        .jmp_imm(Cond::Ne, Reg::R0, 0, fail);
    copy(a, true, 0, buf, 14, fail);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 header checksum from the sum of the other words and the total length,
    /// computed as the program does it: add, fold twice, complement.
    fn ipv4_checksum(partial_sum: u32, total_len: u16) -> u16 {
        let mut s = partial_sum + u32::from(total_len);
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        !(s as u16)
    }

    /// The IPv4 header checksum by RFC 1071's definition, over a whole header.
    fn rfc1071(header: &[u8]) -> u16 {
        let mut s: u32 = header
            .chunks_exact(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    fn gre_header() -> Vec<u8> {
        let mut h = vec![0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x00];
        // A well-known sample header (192.168.0.1 → 192.168.0.199, TTL 64) with GRE.
        h.extend_from_slice(&[
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x2f, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ]);
        h.extend_from_slice(&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 7]);
        h
    }

    #[test]
    fn the_header_checksum_is_the_one_of_the_whole_header() {
        // The classic sample header (protocol UDP) has checksum 0xb861.
        let mut ip = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(rfc1071(&ip), 0xb861);
        let mut header = vec![0u8; 14];
        header[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
        header.extend_from_slice(&ip);
        header.extend_from_slice(&[0u8; 16]);
        let h = EncapHeader::parse(&header).unwrap();
        assert_eq!(h.l4, L4::Udp);
        assert_eq!(ipv4_checksum(h.partial_sum, 0x73), 0xb861);
        // Other lengths, including ones that carry twice through the fold.
        for len in [20u16, 1500, 0x8000, 0xfffe, 0xffff] {
            ip[2..4].copy_from_slice(&len.to_be_bytes());
            ip[10..12].fill(0);
            assert_eq!(ipv4_checksum(h.partial_sum, len), rfc1071(&ip), "{len}");
        }
        // The bytes of the length and checksum in the given header do not count.
        let mut noisy = header.clone();
        noisy[16..18].copy_from_slice(&[0xde, 0xad]);
        noisy[24..26].copy_from_slice(&[0xbe, 0xef]);
        assert_eq!(
            EncapHeader::parse(&noisy).unwrap().partial_sum,
            h.partial_sum
        );
    }

    #[test]
    fn headers_the_program_cannot_send_are_refused() {
        let good = gre_header();
        assert_eq!(EncapHeader::parse(&good).unwrap().l4, L4::Gre);
        let refused = |h: &[u8]| match EncapHeader::parse(h) {
            Err(BpfError::BadHeader { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(refused(&good[..37]).contains("shorter"));
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(refused(&arp).contains("EtherType"));
        let mut v4_as_v6 = good.clone();
        v4_as_v6[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
        assert!(refused(&v4_as_v6[..]).contains("shorter"));
        v4_as_v6.resize(14 + 40 + 8, 0);
        assert!(refused(&v4_as_v6).contains("version"));
        let mut options = good.clone();
        options[14] = 0x46;
        assert!(refused(&options).contains("20 bytes"));
        let mut csum = good.clone();
        csum[34] |= 0x80;
        assert!(refused(&csum).contains("checksum"));
        let mut tcp = good.clone();
        tcp[23] = 6;
        assert!(refused(&tcp).contains("neither"));
        let mut long = good.clone();
        long.resize(MAX_ENCAP_HEADER + 1, 0);
        assert!(refused(&long).contains("longer"));

        let v6 = ip6gre_header();
        let h = EncapHeader::parse(&v6).unwrap();
        assert_eq!((h.ipv6, h.l4), (true, L4::Gre));
        assert!(refused(&v6[..57]).contains("shorter"));
        let mut csum = v6.clone();
        csum[54] |= 0x80;
        assert!(refused(&csum).contains("checksum"));
        let mut udp = v6.clone();
        udp[20] = IPPROTO_UDP;
        udp.resize(14 + 40 + 16, 0);
        assert!(refused(&udp).contains("UDP over IPv6"));
        let mut hop_by_hop = v6.clone();
        hop_by_hop[20] = 0;
        assert!(refused(&hop_by_hop).contains("next header"));
    }

    /// Ethernet, IPv6 (fd00::1 → fd00::2, GRE, hop limit 64, traffic class 0), GRE with
    /// key 7.
    fn ip6gre_header() -> Vec<u8> {
        let mut h = vec![0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x86, 0xdd];
        h.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, IPPROTO_GRE, 64]);
        for last in [1, 2] {
            h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
        }
        h.extend_from_slice(&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 7]);
        h
    }

    #[test]
    fn programs_are_made_only_for_what_they_can_do() {
        let f = |protocol, rewrite| Filter {
            prio: 0xf001,
            protocol,
            keys: vec![super::super::ipv4_not_fragment()],
            redirect: 3,
            rewrite,
        };
        let encap = Rewrite::Encap {
            header: gre_header(),
        };
        assert!(program(&f(ETH_P_IP, encap.clone()), 5).is_ok());
        let encap6 = Rewrite::Encap {
            header: ip6gre_header(),
        };
        assert!(program(&f(ETH_P_IPV6, encap6), 5).is_ok());
        assert!(matches!(
            program(&f(0x0806, encap), 5),
            Err(BpfError::Protocol(0x0806))
        ));
        assert!(matches!(
            program(&f(ETH_P_IP, Rewrite::None), 5),
            Err(BpfError::NoRewrite)
        ));
        assert!(matches!(
            program(&f(ETH_P_IP, Rewrite::Decap { outer_len: 20 }), 5),
            Err(BpfError::BadOuterLen(20))
        ));
        assert!(program(&f(ETH_P_IPV6, Rewrite::Decap { outer_len: 38 }), 5).is_ok());
        let mut early = f(ETH_P_IP, Rewrite::Decap { outer_len: 38 });
        early.keys = vec![super::super::Key {
            at: -20,
            mask: 1,
            value: 0,
        }];
        assert!(matches!(program(&early, 5), Err(BpfError::KeyOffset(-20))));
    }

    /// Root: loading programs needs `CAP_BPF` (CI runs as root).
    #[test]
    fn a_refused_program_says_why_in_the_verifiers_words() {
        let mut a = Asm::new();
        a.exit();
        let bad = a.finish().unwrap();
        match load(&bad, "bad") {
            Err(BpfError::Refused { log, source }) => {
                assert_eq!(source.raw_os_error(), Some(libc::EACCES), "{source}");
                assert!(log.contains("R0 !read_ok"), "{log}");
            }
            other => panic!("loading eBPF programs needs root (CAP_BPF): {other:?}"),
        }
        let mut a = Asm::new();
        a.alu64_imm(Alu::Mov, Reg::R0, TC_ACT_UNSPEC).exit();
        assert!(load(&a.finish().unwrap(), "good").is_ok());
    }

    #[test]
    fn a_log_tail_is_its_last_lines() {
        let mut log = b"0: (bf) r6 = r1\n\n1: (61) r0 = *(u32 *)(r6 +20)\ninvalid\n".to_vec();
        log.extend_from_slice(&[0, b'x']);
        assert_eq!(
            log_tail(&log),
            "0: (bf) r6 = r1 | 1: (61) r0 = *(u32 *)(r6 +20) | invalid"
        );
        assert_eq!(log_tail(&[0; 4]), "(no verifier log)");
    }
}
