//! Kernel forwarding of simple flows: `u32` filters with a `mirred` redirect on a device's
//! ingress (the kernel's traffic control), eBPF filters that also push or strip a tunnel's
//! outer header on the way ([`add_bpf_filter`], design notes in the `bpf` submodule's docs),
//! and the packet-socket filter that keeps the switch from seeing the packets those filters
//! take.
//!
//! # Two kinds of filter
//!
//! A [`Filter`] is keys, a protocol, an output device and a [`Rewrite`]. Without a rewrite it
//! is a `u32` filter ([`add_filter`]); with one (encapsulation or decapsulation) it is a
//! `cls_bpf` filter in direct-action mode whose program ferrovs generates (match, count,
//! rewrite, redirect) and whose counters are a map of its own ([`BpfCounters`]). Both kinds
//! match the same keys the same way, so [`set_bypass`] serves both; a decapsulation's keys
//! may reach into the inner frame (offsets past the outer headers).
//!
//! # Why two filters
//!
//! A flow the kernel forwards by itself costs no copy into or out of the switch: the packet
//! goes from one device's ingress to the other's transmit inside the kernel (Open vSwitch's
//! `hw-offload` reaches the same place through `tc flower`; this kernel has no `flower`,
//! so the match is a `u32` selector over the Ethernet header and the packet's first words).
//!
//! The kernel hands every received packet to `ETH_P_ALL` packet sockets (taps) *before*
//! ingress traffic control runs, so the switch's own socket would still see, and forward a
//! second time, every packet a filter redirects. Each offloaded device's socket therefore
//! gets a classic BPF program ([`set_bypass`]) that rejects exactly the packets the device's
//! filters match: the same keys, built from the same [`Filter`]s, compared at the same
//! offsets (the socket sees the frame from its Ethernet header; `u32` counts from the
//! network header, 14 bytes later).
//!
//! # VLAN tags
//!
//! The kernel moves a received VLAN tag into the packet's metadata before both the taps and
//! ingress traffic control, so neither sees it in the bytes. A filter's protocol is compared
//! with the tag's protocol (802.1Q) when a tag is present, so a filter for EtherType 0x0800
//! never takes a tagged packet; the socket program checks "no tag present" first for the same
//! reason. Filters are therefore always for one EtherType ([`Filter::protocol`]), never for
//! every protocol.
//!
//! # Identity
//!
//! Each filter has a priority of its own in [`PRIO_FIRST`]`..=`[`PRIO_LAST`] (a `u32`
//! instance per priority, so a filter is deleted by its priority alone), at the ingress
//! parent `ffff:fff2`, which both the `ingress` and the `clsact` qdisc answer to (an eBPF
//! filter is handle 1 of a `bpf` instance at its priority). Filters of both kinds in that
//! range belong to ferrovs: [`dump_filters`] lists them (an eBPF filter with zero counts: its
//! program counts) and [`remove_all`] clears them after a crash.
//!
//! All calls are of the control plane (one netlink socket per request), never of the packet
//! path. Replies are parsed defensively: unknown or short attributes are skipped.

use std::io;
use std::os::fd::BorrowedFd;

use crate::netlink::{attrs, push_attr, transact};
use crate::sys::{self, SockFilter};

mod bpf;

pub use bpf::{BpfCount, BpfCounters, BpfError, MAX_ENCAP_HEADER, add_bpf_filter};

/// The lowest traffic-control priority ferrovs's filters use.
pub const PRIO_FIRST: u16 = 0xf000;
/// The highest.
pub const PRIO_LAST: u16 = 0xfffe;

/// The length of the Ethernet header between the socket's view and `u32`'s offsets.
const ETH_LEN: i32 = 14;

const RTM_NEWQDISC: u16 = 36;
const RTM_DELQDISC: u16 = 37;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const RTM_GETTFILTER: u16 = 46;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
/// Marks a nested attribute.
const NLA_F_NESTED: u16 = 0x8000;
/// `struct tcmsg`'s size.
const TCMSG_LEN: usize = 20;
/// The ingress qdisc's handle (`ffff:`) and parent (`TC_H_INGRESS`).
const INGRESS_HANDLE: u32 = 0xffff_0000;
const TC_H_INGRESS: u32 = 0xffff_fff1;
/// Filters' parent: the ingress side of `ingress` or `clsact` (`ffff:fff2`).
const INGRESS_PARENT: u32 = 0xffff_fff2;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_U32_SEL: u16 = 5;
const TCA_U32_ACT: u16 = 7;
const TCA_U32_FLAGS: u16 = 11;
const TC_U32_TERMINAL: u8 = 1;
/// Software only: a NIC that could take the filter would not see the socket's program.
const TCA_CLS_FLAGS_SKIP_HW: u32 = 1;
const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_ACT_STATS: u16 = 4;
const TCA_STATS_BASIC: u16 = 1;
const TCA_MIRRED_PARMS: u16 = 2;
const TCA_EGRESS_REDIR: i32 = 1;
const TC_ACT_STOLEN: i32 = 4;
/// `struct tc_mirred`: `tc_gen` (five 32-bit fields), `eaction`, `ifindex`.
const TC_MIRRED_LEN: usize = 28;

// Classic BPF.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_LD_H_ABS: u16 = 0x28;
const BPF_AND_K: u16 = 0x54;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
/// Ancillary loads: `SKF_AD_OFF + SKF_AD_PROTOCOL`, `+ SKF_AD_VLAN_TAG_PRESENT`.
const SKF_AD_PROTOCOL: u32 = (-0x1000i32) as u32;
const SKF_AD_VLAN_TAG_PRESENT: u32 = (-0x1000i32 + 48) as u32;

/// One 32-bit comparison: `(word at offset & mask) == value`, the word read big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// Offset from the network header (the Ethernet header is at -14); a multiple of 4, and
    /// at least -16, where only the word's last two bytes (the destination's first two) may
    /// be in the mask.
    pub at: i32,
    /// The bits compared.
    pub mask: u32,
    /// What they must be (only bits in `mask`).
    pub value: u32,
}

/// What a filter does to the packets it takes, besides sending them out of `redirect`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rewrite {
    /// Nothing: a `u32` filter with a `mirred` redirect ([`add_filter`]).
    None,
    /// Put `header` in front of the frame ([`add_bpf_filter`]): a complete outer Ethernet +
    /// IPv4 (20 bytes, no options) + GRE (4 or 8 bytes) or UDP (8 bytes) + VXLAN/Geneve
    /// header, or Ethernet + IPv6 (40 bytes, no extension headers) + GRE, as the switch
    /// would send it, except that the IPv4 total length and header checksum (and the UDP
    /// length), or the IPv6 payload length, are filled per packet (their bytes in `header`
    /// are ignored); the UDP checksum is 0 (so no UDP over IPv6, where it is mandatory). A
    /// UDP source port of 0 is filled per packet from the inner packet's flow hash (the
    /// kernel's), in Linux's ephemeral range 32768..=60999 as the switch's own UDP tunnels
    /// choose: one connection keeps one outer flow. At most
    /// [`MAX_ENCAP_HEADER`] bytes.
    Encap {
        /// The outer header, outer Ethernet header first.
        header: Vec<u8>,
    },
    /// Remove the outer Ethernet + IP + GRE/UDP (+ tunnel) header, the first `outer_len`
    /// bytes ([`add_bpf_filter`]): the frame that leaves is the inner frame, which starts at
    /// byte `outer_len`.
    Decap {
        /// The outer header's length, outer Ethernet header included.
        outer_len: u16,
    },
}

/// One flow the kernel forwards: packets of `protocol` arriving untagged whose words match
/// every key go out of the device `redirect` instead of reaching the switch, rewritten as
/// `rewrite` says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Its traffic-control priority (its identity on the device).
    pub prio: u16,
    /// The EtherType (host order).
    pub protocol: u16,
    /// The comparisons, all of which must hold.
    pub keys: Vec<Key>,
    /// The output device's index.
    pub redirect: u32,
    /// What happens to the packets on the way (a `u32` filter for [`Rewrite::None`], an
    /// eBPF one otherwise).
    pub rewrite: Rewrite,
}

/// Keys for the Ethernet addresses: `(address, mask)` of the destination and source (a mask
/// of all zeroes adds no key).
pub fn ethernet_keys(dst: ([u8; 6], [u8; 6]), src: ([u8; 6], [u8; 6])) -> Vec<Key> {
    // The header as the words u32 sees: [-16] ? ? d0 d1, [-12] d2..d5, [-8] s0..s3,
    // [-4] s4 s5 t0 t1 (the EtherType is the filter's protocol).
    let words = |bytes: [u8; 4]| u32::from_be_bytes(bytes);
    let (d, dm) = dst;
    let (s, sm) = src;
    let candidates = [
        (-16, words([0, 0, d[0], d[1]]), words([0, 0, dm[0], dm[1]])),
        (
            -12,
            words([d[2], d[3], d[4], d[5]]),
            words([dm[2], dm[3], dm[4], dm[5]]),
        ),
        (
            -8,
            words([s[0], s[1], s[2], s[3]]),
            words([sm[0], sm[1], sm[2], sm[3]]),
        ),
        (-4, words([s[4], s[5], 0, 0]), words([sm[4], sm[5], 0, 0])),
    ];
    candidates
        .into_iter()
        .filter(|&(_, _, mask)| mask != 0)
        .map(|(at, value, mask)| Key {
            at,
            mask,
            value: value & mask,
        })
        .collect()
}

/// The key for "not an IPv4 fragment" (more-fragments flag and offset zero), for filters of
/// protocol 0x0800.
pub fn ipv4_not_fragment() -> Key {
    Key {
        at: 4,
        mask: 0x3fff,
        value: 0,
    }
}

/// Traffic-control statistics of one of ferrovs's filters on a device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Its priority.
    pub prio: u16,
    /// Its EtherType.
    pub protocol: u16,
    /// Packets its redirect took (a GSO super-frame is one).
    pub packets: u64,
    /// Their bytes, Ethernet header included as the switch counts frames (ingress traffic
    /// control counts from the network header: 14 bytes a packet less).
    pub bytes: u64,
}

/// The index of the device `name` in the current network namespace.
pub fn ifindex(name: &str) -> Option<u32> {
    sys::if_nametoindex(name).and_then(|i| u32::try_from(i).ok())
}

/// Whether `fd` is a packet socket (a `system` port's), the only kind [`set_bypass`] serves.
pub fn is_packet_socket(fd: BorrowedFd<'_>) -> bool {
    sys::socket_domain(fd).is_ok_and(|d| d == libc::AF_PACKET)
}

fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(TCMSG_LEN);
    m.extend_from_slice(&[0u8; 4]); // family (AF_UNSPEC) and padding
    m.extend_from_slice(&ifindex.to_ne_bytes());
    m.extend_from_slice(&handle.to_ne_bytes());
    m.extend_from_slice(&parent.to_ne_bytes());
    m.extend_from_slice(&info.to_ne_bytes());
    m
}

/// `tcm_info` of a filter: the priority above the protocol (network order).
fn filter_info(prio: u16, protocol: u16) -> u32 {
    (u32::from(prio) << 16) | u32::from(protocol.to_be())
}

fn nested(buf: &mut Vec<u8>, ty: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    push_attr(buf, ty | NLA_F_NESTED, &inner);
}

/// Adds an `ingress` qdisc to the device unless it has one (or a `clsact`); true when this
/// call added it.
pub fn ensure_ingress(ifindex: u32) -> io::Result<bool> {
    let mut body = tcmsg(ifindex, INGRESS_HANDLE, TC_H_INGRESS, 0);
    push_attr(&mut body, TCA_KIND, b"ingress\0");
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    match transact(RTM_NEWQDISC, flags, &body) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the device's `ingress` qdisc (with every filter on it); one that is not there is
/// not an error.
pub fn delete_ingress(ifindex: u32) -> io::Result<()> {
    let mut body = tcmsg(ifindex, INGRESS_HANDLE, TC_H_INGRESS, 0);
    push_attr(&mut body, TCA_KIND, b"ingress\0");
    gone_is_done(transact(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK, &body))
}

/// A deletion's outcome, where "not there" (`ENOENT`, or the device or its qdisc gone:
/// `ENODEV`, `EINVAL`) counts as done.
fn gone_is_done<T>(r: io::Result<T>) -> io::Result<()> {
    match r {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENODEV | libc::EINVAL)
            ) =>
        {
            Ok(())
        }
        r => r.map(drop),
    }
}

/// Installs `f` (a `u32` filter: its rewrite is [`Rewrite::None`], else `EINVAL`; see
/// [`add_bpf_filter`]) on the device's ingress. Fails with `EEXIST` when its priority is
/// taken.
pub fn add_filter(ifindex: u32, f: &Filter) -> io::Result<()> {
    if f.rewrite != Rewrite::None {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut body = tcmsg(ifindex, 0, INGRESS_PARENT, filter_info(f.prio, f.protocol));
    push_attr(&mut body, TCA_KIND, b"u32\0");
    let nkeys =
        u8::try_from(f.keys.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    nested(&mut body, TCA_OPTIONS, |o| {
        // struct tc_u32_sel: flags, offshift, nkeys, pad, offmask, off, offoff, hoff,
        // hmask (16 bytes), then struct tc_u32_key { mask, val, off, offmask } per key.
        let mut sel = vec![TC_U32_TERMINAL, 0, nkeys, 0];
        sel.extend_from_slice(&[0u8; 12]);
        for k in &f.keys {
            sel.extend_from_slice(&k.mask.to_be_bytes());
            sel.extend_from_slice(&(k.value & k.mask).to_be_bytes());
            sel.extend_from_slice(&k.at.to_ne_bytes());
            sel.extend_from_slice(&0i32.to_ne_bytes());
        }
        push_attr(o, TCA_U32_SEL, &sel);
        nested(o, TCA_U32_ACT, |acts| {
            nested(acts, 1, |a| {
                push_attr(a, TCA_ACT_KIND, b"mirred\0");
                nested(a, TCA_ACT_OPTIONS, |p| {
                    let mut parms = Vec::with_capacity(TC_MIRRED_LEN);
                    parms.extend_from_slice(&0u32.to_ne_bytes()); // index: a new action
                    parms.extend_from_slice(&0u32.to_ne_bytes()); // capab
                    parms.extend_from_slice(&TC_ACT_STOLEN.to_ne_bytes());
                    parms.extend_from_slice(&0i32.to_ne_bytes()); // refcnt
                    parms.extend_from_slice(&0i32.to_ne_bytes()); // bindcnt
                    parms.extend_from_slice(&TCA_EGRESS_REDIR.to_ne_bytes());
                    parms.extend_from_slice(&f.redirect.to_ne_bytes());
                    push_attr(p, TCA_MIRRED_PARMS, &parms);
                });
            });
        });
        push_attr(o, TCA_U32_FLAGS, &TCA_CLS_FLAGS_SKIP_HW.to_ne_bytes());
    });
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    transact(RTM_NEWTFILTER, flags, &body).map(drop)
}

/// Removes the filter at `prio` for `protocol` from the device's ingress; one that is not
/// there (`ENOENT`, or the device or its qdisc gone: `ENODEV`, `EINVAL`) is not an error.
pub fn del_filter(ifindex: u32, prio: u16, protocol: u16) -> io::Result<()> {
    let body = tcmsg(ifindex, 0, INGRESS_PARENT, filter_info(prio, protocol));
    gone_is_done(transact(RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, &body))
}

/// The statistics of every filter in ferrovs's priority range on the device's ingress (none
/// when it has no ingress qdisc).
pub fn dump_filters(ifindex: u32) -> io::Result<Vec<FilterStats>> {
    let body = tcmsg(ifindex, 0, INGRESS_PARENT, 0);
    let replies = match transact(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, &body) {
        Ok(r) => r,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    Ok(replies
        .iter()
        .filter(|(ty, _)| *ty == RTM_NEWTFILTER)
        .filter_map(|(_, m)| parse_filter(m))
        .filter(|s| (PRIO_FIRST..=PRIO_LAST).contains(&s.prio))
        .collect())
}

/// One dumped filter; `None` for anything without an action (a `u32` hash table's own
/// entry, a classifier's entry without options) or too short to read. An eBPF filter has
/// zero counts here: its program counts ([`BpfCounters`]).
fn parse_filter(m: &[u8]) -> Option<FilterStats> {
    let info = u32::from_ne_bytes(m.get(16..20)?.try_into().ok()?);
    let mut s = FilterStats {
        prio: (info >> 16) as u16,
        protocol: u16::from_be(info as u16),
        ..FilterStats::default()
    };
    let (_, options) = attrs(m, TCMSG_LEN).find(|(a, _)| *a == TCA_OPTIONS)?;
    let kind = attrs(m, TCMSG_LEN).find(|(a, _)| *a == TCA_KIND);
    if kind.is_some_and(|(_, k)| k == b"bpf\0") {
        return Some(s);
    }
    let (_, acts) = attrs(options, 0).find(|(a, _)| *a == TCA_U32_ACT)?;
    let mut any = false;
    for (_, act) in attrs(acts, 0) {
        for (a, data) in attrs(act, 0) {
            if a != TCA_ACT_STATS {
                continue;
            }
            if let Some((_, basic)) = attrs(data, 0).find(|(a, _)| *a == TCA_STATS_BASIC) {
                // struct gnet_stats_basic: u64 bytes, u32 packets.
                s.bytes += u64::from_ne_bytes(basic.get(0..8)?.try_into().ok()?);
                s.packets += u64::from(u32::from_ne_bytes(basic.get(8..12)?.try_into().ok()?));
                any = true;
            }
        }
    }
    s.bytes += s.packets * ETH_LEN as u64;
    any.then_some(s)
}

/// Removes every filter in ferrovs's priority range from the device's ingress (what a
/// daemon that did not exit cleanly left); how many went.
pub fn remove_all(ifindex: u32) -> io::Result<usize> {
    let found = dump_filters(ifindex)?;
    for f in &found {
        del_filter(ifindex, f.prio, f.protocol)?;
    }
    Ok(found.len())
}

/// Makes the packet socket `fd` skip exactly the packets `filters` take on its device (see
/// the module docs); no filters removes the program.
pub fn set_bypass(fd: BorrowedFd<'_>, filters: &[&Filter]) -> io::Result<()> {
    let program = bypass_program(filters)?;
    sys::set_socket_filter(fd, &program)
}

/// The classic BPF program for [`set_bypass`]: for each filter, "untagged, this protocol,
/// every key" rejects the packet; a packet no filter matches is accepted whole.
fn bypass_program(filters: &[&Filter]) -> io::Result<Vec<SockFilter>> {
    if filters.is_empty() {
        return Ok(Vec::new());
    }
    let ins = |code, jt, jf, k| SockFilter { code, jt, jf, k };
    let mut prog = Vec::new();
    for f in filters {
        // Instructions after each test: the jump "to the next filter" skips what is left
        // of this block, whose length is known before it is written.
        let mut block = vec![
            ins(BPF_LD_W_ABS, 0, 0, SKF_AD_VLAN_TAG_PRESENT),
            ins(BPF_JEQ_K, 0, 0, 0),
            ins(BPF_LD_W_ABS, 0, 0, SKF_AD_PROTOCOL),
            ins(BPF_JEQ_K, 0, 0, u32::from(f.protocol)),
        ];
        for k in &f.keys {
            let from_mac = k.at + ETH_LEN;
            let (code, offset, mask, value) = if from_mac >= 0 {
                (BPF_LD_W_ABS, from_mac, k.mask, k.value)
            } else if from_mac == -2 && k.mask >> 16 == 0 {
                // The word before the destination's last four bytes: its low half is the
                // destination's first two bytes, at the frame's start.
                (BPF_LD_H_ABS, 0, k.mask, k.value)
            } else {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            };
            let offset =
                u32::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            block.push(ins(code, 0, 0, offset));
            block.push(ins(BPF_AND_K, 0, 0, mask));
            block.push(ins(BPF_JEQ_K, 0, 0, value & mask));
        }
        block.push(ins(BPF_RET_K, 0, 0, 0));
        let len = block.len();
        for (i, step) in block.iter_mut().enumerate() {
            if step.code == BPF_JEQ_K {
                // On a mismatch, jump past this block's last instruction (the reject).
                step.jf = u8::try_from(len - i - 1)
                    .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
            }
        }
        prog.extend(block);
    }
    prog.push(ins(BPF_RET_K, 0, 0, u32::MAX));
    if prog.len() > usize::from(u16::MAX) {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the subset of classic BPF the program uses on an untagged frame.
    fn run(prog: &[SockFilter], frame: &[u8], protocol: u16) -> u32 {
        let mut a = 0u32;
        let mut pc = 0;
        while let Some(i) = prog.get(pc) {
            pc += 1;
            match i.code {
                BPF_LD_W_ABS | BPF_LD_H_ABS if i.k == SKF_AD_VLAN_TAG_PRESENT => a = 0,
                BPF_LD_W_ABS | BPF_LD_H_ABS if i.k == SKF_AD_PROTOCOL => a = u32::from(protocol),
                BPF_LD_W_ABS => {
                    let o = i.k as usize;
                    a = u32::from_be_bytes(frame[o..o + 4].try_into().unwrap());
                }
                BPF_LD_H_ABS => {
                    let o = i.k as usize;
                    a = u32::from(u16::from_be_bytes(frame[o..o + 2].try_into().unwrap()));
                }
                BPF_AND_K => a &= i.k,
                BPF_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                c => panic!("unexpected code {c:#x}"),
            }
        }
        panic!("fell off the program");
    }

    #[test]
    fn the_socket_skips_exactly_the_filters_packets() {
        let all = [0xff; 6];
        let a = [2, 0, 0, 0, 0, 1];
        let b = [2, 0, 0, 0, 0, 2];
        let f = Filter {
            prio: PRIO_FIRST,
            protocol: 0x0800,
            keys: [ethernet_keys((b, all), (a, all)), vec![ipv4_not_fragment()]].concat(),
            redirect: 7,
            rewrite: Rewrite::None,
        };
        let prog = bypass_program(&[&f]).unwrap();
        let mut frame = [b.as_slice(), a.as_slice(), &[8, 0], &[0x45; 20]].concat();
        frame[20] = 0; // flags/fragment offset: not a fragment
        frame[21] = 0;
        assert_eq!(
            run(&prog, &frame, 0x0800),
            0,
            "the filter's packet is skipped"
        );
        assert_eq!(
            run(&prog, &frame, 0x0806),
            u32::MAX,
            "another protocol is not"
        );
        let mut other = frame.clone();
        other[1] = 9;
        assert_eq!(run(&prog, &other, 0x0800), u32::MAX, "another destination");
        let mut other = frame.clone();
        other[11] = 9;
        assert_eq!(run(&prog, &other, 0x0800), u32::MAX, "another source");
        let mut frag = frame.clone();
        frag[20] = 0x20; // more fragments
        assert_eq!(run(&prog, &frag, 0x0800), u32::MAX, "a fragment");
        assert!(bypass_program(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_dumped_filter_reads_its_action_statistics() {
        let mut m = tcmsg(3, 0x8000_0800, INGRESS_PARENT, filter_info(0xf001, 0x0800));
        push_attr(&mut m, TCA_KIND, b"u32\0");
        nested(&mut m, TCA_OPTIONS, |o| {
            nested(o, TCA_U32_ACT, |acts| {
                nested(acts, 1, |a| {
                    push_attr(a, TCA_ACT_KIND, b"mirred\0");
                    nested(a, TCA_ACT_STATS, |s| {
                        let mut basic = 1500u64.to_ne_bytes().to_vec();
                        basic.extend_from_slice(&3u32.to_ne_bytes());
                        push_attr(s, TCA_STATS_BASIC, &basic);
                    });
                });
            });
        });
        let s = parse_filter(&m).unwrap();
        assert_eq!(
            (s.prio, s.protocol, s.packets, s.bytes),
            (0xf001, 0x0800, 3, 1500 + 3 * 14)
        );
        assert_eq!(parse_filter(&m[..10]), None, "short");
        let table = tcmsg(3, 0x8000_0000, INGRESS_PARENT, filter_info(0xf001, 0x0800));
        assert_eq!(parse_filter(&table), None, "a hash table's entry");
    }
}
