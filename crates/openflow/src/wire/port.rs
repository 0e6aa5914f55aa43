//! Ports: descriptions (`OFPST_PORT_DESC` / `OFPMP_PORT_DESC`), modification (`OFPT_PORT_MOD`),
//! port statistics (`OFPST_PORT` / `OFPMP_PORT_STATS`) and queue statistics (`OFPST_QUEUE` /
//! `OFPMP_QUEUE_STATS`).
//!
//! | model            | OpenFlow 1.0              | 1.1–1.3                   | 1.4–1.5                     |
//! |------------------|---------------------------|---------------------------|-----------------------------|
//! | [`PortDesc`]     | `ofp_phy_port`, 48 bytes  | `ofp_port`, 64 bytes      | 40 bytes + Ethernet property |
//! | [`PortMod`]      | 24-byte body              | 32-byte body              | 24 bytes + Ethernet property |
//! | [`PortStats`]    | 104 bytes                 | 104 (1.1–1.2), 112 (1.3)  | 80 bytes + properties       |
//! | [`QueueStats`]   | 32 bytes                  | 32 (1.1–1.2), 40 (1.3)    | 48 bytes + properties       |
//!
//! Port descriptions in OpenFlow 1.0 are Open vSwitch's extension (stats type 13, the same
//! number 1.3 gave `OFPMP_PORT_DESC`); OpenFlow 1.5's request names a port, earlier ones ask for
//! all of them.
//!
//! # Invariants
//!
//! - A counter the switch does not keep is all-ones on the wire and in the model
//!   ([`UNKNOWN`]); `ovs-ofctl` prints it as `?`.
//! - OpenFlow 1.4+ port statistics carry the error counters of 1.0's fixed layout in an
//!   Ethernet property, and Open vSwitch adds Intel's experimenter property with named custom
//!   counters ([`PortStats::custom`]); the RFC 2819 histogram property is read past (ferrovs
//!   keeps no such counters and `ovs-ofctl` prints nothing for it).
//! - Replies larger than one message are split by [`encode_port_stats_reply`] and
//!   [`encode_port_desc_reply`] at entry boundaries, every part but the last flagged "more".

use super::buf::{Put, Reader, Truncated};
use super::msg::{
    Message, PortDesc, decode_port, encode_port, finish, port_len, port_to_of10, truncated as t,
};
use super::stats::start_stats;
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::protocol::Protocol;
use crate::types::{EthAddr, PortNo};

/// `OFPST_PORT` / `OFPMP_PORT_STATS`.
pub(crate) const ST_PORT: u16 = 4;
/// `OFPST_QUEUE` / `OFPMP_QUEUE_STATS`.
pub(crate) const ST_QUEUE: u16 = 5;
/// `OFPMP_PORT_DESC` (and Open vSwitch's OpenFlow 1.0 `OFPST_PORT_DESC`).
pub(crate) const ST_PORT_DESC: u16 = 13;

/// A counter the switch does not keep.
pub const UNKNOWN: u64 = u64::MAX;

/// `OFPPC_PORT_DOWN`: the port is administratively down.
pub const OFPPC_PORT_DOWN: u32 = 1 << 0;
/// `OFPPC_NO_STP` (OpenFlow 1.0 only).
pub const OFPPC_NO_STP: u32 = 1 << 1;
/// `OFPPC_NO_RECV`: drop everything received.
pub const OFPPC_NO_RECV: u32 = 1 << 2;
/// `OFPPC_NO_RECV_STP` (OpenFlow 1.0 only).
pub const OFPPC_NO_RECV_STP: u32 = 1 << 3;
/// `OFPPC_NO_FLOOD` (OpenFlow 1.0 only).
pub const OFPPC_NO_FLOOD: u32 = 1 << 4;
/// `OFPPC_NO_FWD`: drop everything forwarded to the port.
pub const OFPPC_NO_FWD: u32 = 1 << 5;
/// `OFPPC_NO_PACKET_IN`: no packet-ins for packets received on the port.
pub const OFPPC_NO_PACKET_IN: u32 = 1 << 6;
/// The configuration bits OpenFlow 1.1+ kept (the others are 1.0's).
pub const OF11_CONFIG_BITS: u32 =
    OFPPC_PORT_DOWN | OFPPC_NO_RECV | OFPPC_NO_FWD | OFPPC_NO_PACKET_IN;

/// `OFPPS_LINK_DOWN`.
pub const OFPPS_LINK_DOWN: u32 = 1 << 0;
/// `OFPPS_LIVE` (OpenFlow 1.1+): the port can be used for fast failover.
pub const OFPPS_LIVE: u32 = 1 << 2;

/// `OFPPF_*` port feature bits in OpenFlow 1.1+'s layout, the one [`PortDesc`]'s `curr`,
/// `advertised`, `supported` and `peer` carry for 1.1 and later; [`features_to_of10`] gives
/// 1.0's. The six half/full duplex speeds up to 1 Gb/s and 10 Gb/s full duplex are the same
/// bits in both layouts.
pub mod ofppf {
    /// 10 Mb/s half duplex.
    pub const HD_10MB: u32 = 1 << 0;
    /// 10 Mb/s full duplex.
    pub const FD_10MB: u32 = 1 << 1;
    /// 100 Mb/s half duplex.
    pub const HD_100MB: u32 = 1 << 2;
    /// 100 Mb/s full duplex.
    pub const FD_100MB: u32 = 1 << 3;
    /// 1 Gb/s half duplex.
    pub const HD_1GB: u32 = 1 << 4;
    /// 1 Gb/s full duplex.
    pub const FD_1GB: u32 = 1 << 5;
    /// 10 Gb/s full duplex.
    pub const FD_10GB: u32 = 1 << 6;
    /// 40 Gb/s full duplex (1.1+ only).
    pub const FD_40GB: u32 = 1 << 7;
    /// 100 Gb/s full duplex (1.1+ only).
    pub const FD_100GB: u32 = 1 << 8;
    /// 1 Tb/s full duplex (1.1+ only).
    pub const FD_1TB: u32 = 1 << 9;
    /// Some other rate (1.1+ only).
    pub const OTHER: u32 = 1 << 10;
    /// Copper medium.
    pub const COPPER: u32 = 1 << 11;
    /// Fibre medium.
    pub const FIBER: u32 = 1 << 12;
    /// Autonegotiation.
    pub const AUTONEG: u32 = 1 << 13;
    /// Pause.
    pub const PAUSE: u32 = 1 << 14;
    /// Asymmetric pause.
    pub const PAUSE_ASYM: u32 = 1 << 15;
}

/// The speed bits both layouts share (10 Mb/s half duplex to 10 Gb/s full duplex).
const SHARED_SPEED_BITS: u32 = 0x7f;
/// 1.1+'s medium, autonegotiation and pause bits (11 to 15), which 1.0 has at 7 to 11.
const MEDIUM_BITS_OF11: u32 = 0xf800;
/// How far 1.0 has its medium, autonegotiation and pause bits below 1.1's.
const MEDIUM_SHIFT: u32 = 4;

/// Port features ([`ofppf`], 1.1+'s layout) as OpenFlow 1.0's `ofp_phy_port` has them: the
/// speeds 1.0 knows keep their bits, copper to asymmetric pause move down four places, and
/// 40 Gb/s, 100 Gb/s, 1 Tb/s and "other", which 1.0 cannot say, are dropped.
pub const fn features_to_of10(features: u32) -> u32 {
    (features & SHARED_SPEED_BITS) | ((features & MEDIUM_BITS_OF11) >> MEDIUM_SHIFT)
}

/// OpenFlow 1.0's port feature bits in 1.1+'s layout ([`features_to_of10`]'s inverse for
/// the bits 1.0 has; 1.0's undefined bits are dropped).
pub const fn features_from_of10(features: u32) -> u32 {
    (features & SHARED_SPEED_BITS) | ((features << MEDIUM_SHIFT) & MEDIUM_BITS_OF11)
}

/// Intel's experimenter id, which Open vSwitch uses for its port statistics properties.
const INTEL_VENDOR_ID: u32 = 0x0000_aa01;
/// Intel's RFC 2819 counters property.
const INTEL_RFC2819: u32 = 1;
/// Intel's named custom counters property.
const INTEL_CUSTOM: u32 = 2;
/// The Ethernet property of 1.4+ port descriptions, port-mods and port statistics.
const PROP_ETHERNET: u16 = 0;
/// An experimenter property.
const PROP_EXPERIMENTER: u16 = 0xffff;
/// `OFPSF_REPLY_MORE`.
const REPLY_MORE: u16 = 1;
/// The largest OpenFlow message.
const MAX_MSG: usize = 65535;

/// The port messages, as one variant of [`Message`] ([`Message::Port`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortMsg {
    /// A port description request: one port (OpenFlow 1.5 only) or [`PortNo::ANY`].
    DescRequest(PortNo),
    /// A port description reply (one message of it).
    DescReply(PortDescReply),
    /// `OFPT_PORT_MOD`.
    Mod(PortMod),
    /// A port statistics request: one port or [`PortNo::ANY`].
    StatsRequest(PortNo),
    /// A port statistics reply (one message of it).
    StatsReply(PortStatsReply),
    /// A queue statistics request.
    QueueStatsRequest(QueueStatsRequest),
    /// A queue statistics reply.
    QueueStatsReply(QueueStatsReply),
}

/// A port description reply (one message's worth when decoded).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortDescReply {
    /// More replies follow for the same request.
    pub more: bool,
    /// The ports, in the switch's order.
    pub ports: Vec<PortDesc>,
}

/// `OFPT_PORT_MOD`: change a port's configuration bits under a mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortMod {
    /// The port.
    pub port_no: PortNo,
    /// Its Ethernet address, as a sanity check the switch compares (`OFPPMFC_BAD_HW_ADDR`).
    pub hw_addr: EthAddr,
    /// New values of the `OFPPC_*` bits in `mask`.
    pub config: u32,
    /// Which `OFPPC_*` bits to change.
    pub mask: u32,
    /// Features to advertise (`OFPPF_*`); 0 leaves them alone.
    pub advertise: u32,
}

/// Time a port or queue has existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Duration {
    /// Whole seconds.
    pub sec: u32,
    /// Nanoseconds beyond `sec`.
    pub nsec: u32,
}

/// One port's counters. [`UNKNOWN`] marks a counter the switch does not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortStats {
    /// The port.
    pub port_no: PortNo,
    /// How long the port has existed (OpenFlow 1.3+; `None` = not reported).
    pub duration: Option<Duration>,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Packets to send that were dropped.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Frame alignment errors.
    pub rx_frame_err: u64,
    /// Receive overruns.
    pub rx_over_err: u64,
    /// CRC errors.
    pub rx_crc_err: u64,
    /// Collisions.
    pub collisions: u64,
    /// Named counters of the port's device (OpenFlow 1.4+, Intel's experimenter property).
    pub custom: Vec<(String, u64)>,
}

impl PortStats {
    /// A port whose counters are zero where ferrovs keeps them (packets, bytes) and unknown
    /// elsewhere, as Open vSwitch reports a port whose device has no error counters.
    pub fn zeroed(port_no: PortNo) -> Self {
        Self {
            port_no,
            duration: None,
            rx_packets: 0,
            tx_packets: 0,
            rx_bytes: 0,
            tx_bytes: 0,
            rx_dropped: UNKNOWN,
            tx_dropped: UNKNOWN,
            rx_errors: UNKNOWN,
            tx_errors: UNKNOWN,
            rx_frame_err: UNKNOWN,
            rx_over_err: UNKNOWN,
            rx_crc_err: UNKNOWN,
            collisions: UNKNOWN,
            custom: Vec::new(),
        }
    }
}

/// A port statistics reply (one message's worth when decoded).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortStatsReply {
    /// More replies follow for the same request.
    pub more: bool,
    /// The ports.
    pub ports: Vec<PortStats>,
}

/// A queue statistics request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStatsRequest {
    /// One port, or [`PortNo::ANY`] for all.
    pub port_no: PortNo,
    /// One queue, or `0xffffffff` (`OFPQ_ALL`) for all.
    pub queue_id: u32,
}

/// `OFPQ_ALL`.
pub const QUEUE_ALL: u32 = 0xffff_ffff;

/// One queue's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// The port.
    pub port_no: PortNo,
    /// The queue.
    pub queue_id: u32,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets dropped for overruns.
    pub tx_errors: u64,
    /// How long the queue has existed (OpenFlow 1.3+).
    pub duration: Option<Duration>,
}

/// A queue statistics reply.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueueStatsReply {
    /// More replies follow for the same request.
    pub more: bool,
    /// The queues.
    pub queues: Vec<QueueStats>,
}

/// A name as a wire field of `N` bytes holds it (ports' 16, tables' 32): at most `N - 1`
/// bytes, cut at a character boundary, NUL-padded.
pub(crate) fn name_field<const N: usize>(name: &str) -> [u8; N] {
    let mut field = [0u8; N];
    let n = fitting(name, N);
    field[..n].copy_from_slice(&name.as_bytes()[..n]);
    field
}

/// A name from a wire field of `N` bytes: up to the first NUL, and never the last byte (the
/// terminator's place), so that decoding what was encoded gives the same name.
pub(crate) fn name_from_field<const N: usize>(field: &[u8; N]) -> String {
    let last = N.saturating_sub(1);
    let end = field[..last].iter().position(|c| *c == 0).unwrap_or(last);
    let mut name = String::from_utf8_lossy(&field[..end]).into_owned();
    // Invalid bytes become U+FFFD, which may not fit: keep what an encoder would keep.
    let n = fitting(&name, N);
    name.truncate(n);
    name
}

/// How many of `name`'s bytes fit a field of `size` bytes with its terminator, ending at a
/// character boundary.
fn fitting(name: &str, size: usize) -> usize {
    let mut n = name.len().min(size.saturating_sub(1));
    while !name.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// A port name as the wire's 16-byte field holds it ([`name_field`]).
pub(crate) fn name16(name: &str) -> [u8; 16] {
    name_field(name)
}

/// A port name from the wire's 16-byte field ([`name_from_field`]).
pub(crate) fn name_from16(field: &[u8; 16]) -> String {
    name_from_field(field)
}

/// Writes a port number in `v`'s width (16 bits in OpenFlow 1.0).
fn put_port(b: &mut Vec<u8>, v: Version, p: PortNo) {
    if v == Version::Of10 {
        b.put_u16(port_to_of10(p));
    } else {
        b.put_u32(p.0);
    }
}

fn get_port(r: &mut Reader<'_>, v: Version) -> Result<PortNo, Truncated> {
    if v == Version::Of10 {
        Ok(PortNo::from_of10(r.u16()?))
    } else {
        Ok(PortNo(r.u32()?))
    }
}

/// Writes a port description in `v`'s layout (1.4+: 40 bytes plus the Ethernet property).
pub(crate) fn put_port_desc(b: &mut Vec<u8>, v: Version, p: &PortDesc) {
    if v <= Version::Of13 {
        encode_port(b, v, p);
        return;
    }
    b.put_u32(p.port_no.0);
    b.put_u16(72);
    b.put_zeros(2);
    b.extend_from_slice(&p.hw_addr.0);
    b.put_zeros(2);
    b.extend_from_slice(&name16(&p.name));
    b.put_u32(p.config);
    b.put_u32(p.state);
    b.put_u16(PROP_ETHERNET);
    b.put_u16(32);
    b.put_zeros(4);
    for x in [
        p.curr,
        p.advertised,
        p.supported,
        p.peer,
        p.curr_speed,
        p.max_speed,
    ] {
        b.put_u32(x);
    }
}

/// Reads one port description in `v`'s layout.
pub(crate) fn pull_port_desc(r: &mut Reader<'_>, v: Version) -> Result<PortDesc, DecodeError> {
    let tr = t("port description");
    if v <= Version::Of13 {
        return decode_port(r, v).map_err(tr);
    }
    let len = usize::from(r.peek_u16(4).map_err(&tr)?);
    if len < 40 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("port description length {len}"),
        ));
    }
    let mut e = r.take(len).map_err(&tr)?;
    let mut p = PortDesc {
        port_no: PortNo(e.u32().map_err(&tr)?),
        ..PortDesc::default()
    };
    e.skip(4).map_err(&tr)?;
    p.hw_addr = EthAddr(e.array().map_err(&tr)?);
    e.skip(2).map_err(&tr)?;
    p.name = name_from16(&e.array().map_err(&tr)?);
    p.config = e.u32().map_err(&tr)?;
    p.state = e.u32().map_err(&tr)?;
    for_each_prop(e, |ty, mut body| {
        if ty == PROP_ETHERNET {
            body.skip(4)?;
            p.curr = body.u32()?;
            p.advertised = body.u32()?;
            p.supported = body.u32()?;
            p.peer = body.u32()?;
            p.curr_speed = body.u32()?;
            p.max_speed = body.u32()?;
        }
        // Optical and experimenter properties describe nothing ferrovs models.
        Ok(())
    })?;
    Ok(p)
}

/// Calls `f` with each property's type and body (after its 4-byte header); properties are
/// padded to 8 bytes. A property shorter than its header or overrunning the entry is an error.
fn for_each_prop(
    mut r: Reader<'_>,
    mut f: impl FnMut(u16, Reader<'_>) -> Result<(), Truncated>,
) -> Result<(), DecodeError> {
    let tr = t("property");
    while !r.is_empty() {
        let ty = r.peek_u16(0).map_err(&tr)?;
        let len = usize::from(r.peek_u16(2).map_err(&tr)?);
        if len < 4 {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("property length {len}"),
            ));
        }
        let mut p = r.take(len).map_err(&tr)?;
        p.skip(4).map_err(&tr)?;
        // The last property's padding may be missing; everything else must be whole.
        let pad = len.next_multiple_of(8) - len;
        if r.len() >= pad {
            r.skip(pad).map_err(&tr)?;
        } else {
            r = Reader::new(&[]);
        }
        f(ty, p).map_err(&tr)?;
    }
    Ok(())
}

/// Encodes the port messages of [`Message`]; `None` when `msg` is not one.
pub(super) fn encode(
    msg: &Message,
    protocol: Protocol,
    xid: u32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let v = Version::of(protocol);
    let Message::Port(m) = msg else {
        return None;
    };
    Some(match m {
        PortMsg::DescRequest(port) => {
            let mut b = start_stats(v, true, ST_PORT_DESC, None, false, xid);
            if v >= Version::Of15 {
                b.put_u32(port.0);
                b.put_zeros(4);
            }
            finish(b)
        }
        PortMsg::DescReply(r) => {
            let mut b = start_stats(v, false, ST_PORT_DESC, None, r.more, xid);
            for p in &r.ports {
                put_port_desc(&mut b, v, p);
            }
            finish(b)
        }
        PortMsg::Mod(pm) => encode_port_mod(pm, v, xid),
        PortMsg::StatsRequest(port) => {
            let mut b = start_stats(v, true, ST_PORT, None, false, xid);
            put_port(&mut b, v, *port);
            b.put_zeros(if v == Version::Of10 { 6 } else { 4 });
            finish(b)
        }
        PortMsg::StatsReply(r) => {
            let mut b = start_stats(v, false, ST_PORT, None, r.more, xid);
            for s in &r.ports {
                if let Err(e) = put_port_stats(&mut b, v, s) {
                    return Some(Err(e));
                }
            }
            finish(b)
        }
        PortMsg::QueueStatsRequest(q) => {
            let mut b = start_stats(v, true, ST_QUEUE, None, false, xid);
            put_port(&mut b, v, q.port_no);
            if v == Version::Of10 {
                b.put_zeros(2);
            }
            b.put_u32(q.queue_id);
            finish(b)
        }
        PortMsg::QueueStatsReply(r) => {
            let mut b = start_stats(v, false, ST_QUEUE, None, r.more, xid);
            for q in &r.queues {
                put_queue_stats(&mut b, v, q);
            }
            finish(b)
        }
    })
}

fn encode_port_mod(pm: &PortMod, v: Version, xid: u32) -> Result<Vec<u8>, EncodeError> {
    let ty = if v == Version::Of10 { 15 } else { 16 };
    let mut b = super::msg::start(v, ty, xid);
    put_port(&mut b, v, pm.port_no);
    if v != Version::Of10 {
        b.put_zeros(4);
    }
    b.extend_from_slice(&pm.hw_addr.0);
    if v != Version::Of10 {
        b.put_zeros(2);
    }
    b.put_u32(pm.config);
    b.put_u32(pm.mask);
    if v >= Version::Of14 {
        b.put_u16(PROP_ETHERNET);
        b.put_u16(8);
        b.put_u32(pm.advertise);
    } else {
        b.put_u32(pm.advertise);
        b.put_zeros(4);
    }
    finish(b)
}

/// Decodes an `OFPT_PORT_MOD` body.
pub(crate) fn decode_port_mod(v: Version, mut r: Reader<'_>) -> Result<PortMod, DecodeError> {
    let tr = t("port mod");
    let mut pm = PortMod {
        port_no: get_port(&mut r, v).map_err(&tr)?,
        ..PortMod::default()
    };
    if v != Version::Of10 {
        r.skip(4).map_err(&tr)?;
    }
    pm.hw_addr = EthAddr(r.array().map_err(&tr)?);
    if v != Version::Of10 {
        r.skip(2).map_err(&tr)?;
    }
    pm.config = r.u32().map_err(&tr)?;
    pm.mask = r.u32().map_err(&tr)?;
    if v >= Version::Of14 {
        let mut advertise = 0;
        for_each_prop(r, |ty, mut body| {
            if ty == PROP_ETHERNET {
                advertise = body.u32()?;
            }
            Ok(())
        })?;
        pm.advertise = advertise;
    } else {
        pm.advertise = r.u32().map_err(&tr)?;
        r.skip(4).map_err(&tr)?;
    }
    Ok(pm)
}

fn put_port_stats(b: &mut Vec<u8>, v: Version, s: &PortStats) -> Result<(), EncodeError> {
    let dur = s.duration.unwrap_or_default();
    if v >= Version::Of14 {
        let start = b.len();
        b.put_u16(0); // length, below
        b.put_zeros(2);
        b.put_u32(s.port_no.0);
        b.put_u32(dur.sec);
        b.put_u32(dur.nsec);
        for x in [
            s.rx_packets,
            s.tx_packets,
            s.rx_bytes,
            s.tx_bytes,
            s.rx_dropped,
            s.tx_dropped,
            s.rx_errors,
            s.tx_errors,
        ] {
            b.put_u64(x);
        }
        b.put_u16(PROP_ETHERNET);
        b.put_u16(40);
        b.put_zeros(4);
        for x in [s.rx_frame_err, s.rx_over_err, s.rx_crc_err, s.collisions] {
            b.put_u64(x);
        }
        if !s.custom.is_empty() {
            put_custom_stats(b, &s.custom)?;
        }
        let len = b.len() - start;
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
        b.set_u16(start, len16);
        return Ok(());
    }
    put_port(b, v, s.port_no);
    b.put_zeros(if v == Version::Of10 { 6 } else { 4 });
    for x in [
        s.rx_packets,
        s.tx_packets,
        s.rx_bytes,
        s.tx_bytes,
        s.rx_dropped,
        s.tx_dropped,
        s.rx_errors,
        s.tx_errors,
        s.rx_frame_err,
        s.rx_over_err,
        s.rx_crc_err,
        s.collisions,
    ] {
        b.put_u64(x);
    }
    if v == Version::Of13 {
        b.put_u32(dur.sec);
        b.put_u32(dur.nsec);
    }
    Ok(())
}

/// Intel's custom counters property: a count, then (name length, name, value) each.
fn put_custom_stats(b: &mut Vec<u8>, custom: &[(String, u64)]) -> Result<(), EncodeError> {
    let start = b.len();
    b.put_u16(PROP_EXPERIMENTER);
    b.put_u16(0); // length, below
    b.put_u32(INTEL_VENDOR_ID);
    b.put_u32(INTEL_CUSTOM);
    b.put_zeros(2);
    let n = u16::try_from(custom.len()).map_err(|_| EncodeError::TooLong(custom.len()))?;
    b.put_u16(n);
    for (name, value) in custom {
        let name = &name.as_bytes()[..name.len().min(255)];
        b.put_u8(name.len() as u8);
        b.extend_from_slice(name);
        b.put_u64(*value);
    }
    let len = b.len() - start;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    b.set_u16(start + 2, len16);
    b.put_zeros(len.next_multiple_of(8) - len);
    Ok(())
}

fn pull_port_stats(r: &mut Reader<'_>, v: Version) -> Result<PortStats, DecodeError> {
    let tr = t("port statistics");
    let mut s = PortStats::zeroed(PortNo::ANY);
    if v >= Version::Of14 {
        let len = usize::from(r.peek_u16(0).map_err(&tr)?);
        if len < 80 {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("port statistics length {len}"),
            ));
        }
        let mut e = r.take(len).map_err(&tr)?;
        e.skip(4).map_err(&tr)?;
        s.port_no = PortNo(e.u32().map_err(&tr)?);
        s.duration = Some(Duration {
            sec: e.u32().map_err(&tr)?,
            nsec: e.u32().map_err(&tr)?,
        });
        for x in [
            &mut s.rx_packets,
            &mut s.tx_packets,
            &mut s.rx_bytes,
            &mut s.tx_bytes,
            &mut s.rx_dropped,
            &mut s.tx_dropped,
            &mut s.rx_errors,
            &mut s.tx_errors,
        ] {
            *x = e.u64().map_err(&tr)?;
        }
        let mut custom = Vec::new();
        let (mut frame, mut over, mut crc, mut coll) = (UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN);
        for_each_prop(e, |ty, mut body| {
            match ty {
                PROP_ETHERNET => {
                    body.skip(4)?;
                    frame = body.u64()?;
                    over = body.u64()?;
                    crc = body.u64()?;
                    coll = body.u64()?;
                }
                PROP_EXPERIMENTER => {
                    let vendor = body.u32()?;
                    let exp_type = body.u32()?;
                    if vendor == INTEL_VENDOR_ID && exp_type == INTEL_CUSTOM {
                        body.skip(2)?;
                        let n = body.u16()?;
                        for _ in 0..n {
                            let len = usize::from(body.u8()?);
                            let name = String::from_utf8_lossy(body.bytes(len)?).into_owned();
                            custom.push((name, body.u64()?));
                        }
                    }
                    // INTEL_RFC2819 and other experimenters' counters are not modelled.
                    let _ = INTEL_RFC2819;
                }
                _ => {}
            }
            Ok(())
        })?;
        (s.rx_frame_err, s.rx_over_err, s.rx_crc_err, s.collisions) = (frame, over, crc, coll);
        s.custom = custom;
        return Ok(s);
    }
    s.port_no = get_port(r, v).map_err(&tr)?;
    r.skip(if v == Version::Of10 { 6 } else { 4 })
        .map_err(&tr)?;
    for x in [
        &mut s.rx_packets,
        &mut s.tx_packets,
        &mut s.rx_bytes,
        &mut s.tx_bytes,
        &mut s.rx_dropped,
        &mut s.tx_dropped,
        &mut s.rx_errors,
        &mut s.tx_errors,
        &mut s.rx_frame_err,
        &mut s.rx_over_err,
        &mut s.rx_crc_err,
        &mut s.collisions,
    ] {
        *x = r.u64().map_err(&tr)?;
    }
    if v == Version::Of13 {
        s.duration = Some(Duration {
            sec: r.u32().map_err(&tr)?,
            nsec: r.u32().map_err(&tr)?,
        });
    }
    Ok(s)
}

fn put_queue_stats(b: &mut Vec<u8>, v: Version, q: &QueueStats) {
    let dur = q.duration.unwrap_or_default();
    if v >= Version::Of14 {
        b.put_u16(48);
        b.put_zeros(6);
    }
    put_port(b, v, q.port_no);
    if v == Version::Of10 {
        b.put_zeros(2);
    }
    b.put_u32(q.queue_id);
    b.put_u64(q.tx_bytes);
    b.put_u64(q.tx_packets);
    b.put_u64(q.tx_errors);
    if v >= Version::Of13 {
        b.put_u32(dur.sec);
        b.put_u32(dur.nsec);
    }
}

fn pull_queue_stats(r: &mut Reader<'_>, v: Version) -> Result<QueueStats, DecodeError> {
    let tr = t("queue statistics");
    let mut e = if v >= Version::Of14 {
        let len = usize::from(r.peek_u16(0).map_err(&tr)?);
        if len < 48 {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("queue statistics length {len}"),
            ));
        }
        let mut e = r.take(len).map_err(&tr)?;
        e.skip(8).map_err(&tr)?;
        e
    } else {
        let len = match v {
            Version::Of10 | Version::Of11 | Version::Of12 => 32,
            _ => 40,
        };
        r.take(len).map_err(&tr)?
    };
    let port_no = get_port(&mut e, v).map_err(&tr)?;
    if v == Version::Of10 {
        e.skip(2).map_err(&tr)?;
    }
    let mut q = QueueStats {
        port_no,
        queue_id: e.u32().map_err(&tr)?,
        tx_bytes: e.u64().map_err(&tr)?,
        tx_packets: e.u64().map_err(&tr)?,
        tx_errors: e.u64().map_err(&tr)?,
        duration: None,
    };
    if v >= Version::Of13 {
        q.duration = Some(Duration {
            sec: e.u32().map_err(&tr)?,
            nsec: e.u32().map_err(&tr)?,
        });
    }
    Ok(q)
}

/// Reads a multipart body's entries with `pull` until the body is used up; the first entry
/// that does not decode fails the whole message.
fn pull_all<'a, T>(
    r: &mut Reader<'a>,
    mut pull: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut entries = Vec::new();
    while !r.is_empty() {
        entries.push(pull(r)?);
    }
    Ok(entries)
}

/// Decodes the port and queue statistics bodies (after the stats header); `None` when `stat`
/// is not one of them.
pub(super) fn decode_stats(
    v: Version,
    request: bool,
    stat: u16,
    more: bool,
    mut r: Reader<'_>,
) -> Option<Result<Message, DecodeError>> {
    let result = match (stat, request) {
        (ST_PORT_DESC, true) => {
            let port = if v >= Version::Of15 {
                r.u32().map(PortNo).map_err(t("port description request"))
            } else {
                Ok(PortNo::ANY)
            };
            port.map(|x| Message::Port(PortMsg::DescRequest(x)))
        }
        (ST_PORT_DESC, false) => pull_all(&mut r, |r| {
            if v <= Version::Of13 && r.len() < port_len(v) {
                return Err(DecodeError::new(
                    OfpError::BadLen,
                    "port descriptions are not a whole number of ports",
                ));
            }
            pull_port_desc(r, v)
        })
        .map(|ports| Message::Port(PortMsg::DescReply(PortDescReply { more, ports }))),
        (ST_PORT, true) => get_port(&mut r, v)
            .map(|x| Message::Port(PortMsg::StatsRequest(x)))
            .map_err(t("port statistics request")),
        (ST_PORT, false) => pull_all(&mut r, |r| pull_port_stats(r, v))
            .map(|ports| Message::Port(PortMsg::StatsReply(PortStatsReply { more, ports }))),
        (ST_QUEUE, true) => (|| {
            let port_no = get_port(&mut r, v)?;
            if v == Version::Of10 {
                r.skip(2)?;
            }
            Ok(QueueStatsRequest {
                port_no,
                queue_id: r.u32()?,
            })
        })()
        .map(|x| Message::Port(PortMsg::QueueStatsRequest(x)))
        .map_err(t("queue statistics request")),
        (ST_QUEUE, false) => pull_all(&mut r, |r| pull_queue_stats(r, v)).map(|queues| {
            Message::Port(PortMsg::QueueStatsReply(QueueStatsReply { more, queues }))
        }),
        _ => return None,
    };
    Some(result)
}

/// Splits `entries` (each already encoded) into messages of at most 65535 bytes that start
/// with `start()`, all but the last flagged "more".
pub(crate) fn split_reply(
    entries: Vec<Vec<u8>>,
    start: impl Fn() -> Vec<u8>,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let mut out = Vec::new();
    let mut b = start();
    let header_len = b.len();
    for e in entries {
        if header_len + e.len() > MAX_MSG {
            return Err(EncodeError::TooLong(header_len + e.len()));
        }
        if b.len() + e.len() > MAX_MSG {
            out.push(std::mem::replace(&mut b, start()));
        }
        b.extend_from_slice(&e);
    }
    out.push(b);
    let last = out.len() - 1;
    let flags_at = super::HEADER_LEN + 2;
    out.into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            if i != last {
                m.set_u16(flags_at, REPLY_MORE);
            }
            finish(m)
        })
        .collect()
}

/// Encodes a whole multipart reply of type `stat`: each of `items` by `put`, the entries split
/// into as many messages as it takes ([`split_reply`]).
pub(crate) fn encode_multipart_reply<T>(
    items: &[T],
    v: Version,
    stat: u16,
    xid: u32,
    put: impl Fn(&mut Vec<u8>, &T) -> Result<(), EncodeError>,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let entries = items
        .iter()
        .map(|item| {
            let mut e = Vec::new();
            put(&mut e, item)?;
            Ok(e)
        })
        .collect::<Result<Vec<_>, EncodeError>>()?;
    split_reply(entries, || start_stats(v, false, stat, None, false, xid))
}

/// Encodes a whole port description reply as as many messages as it takes.
pub fn encode_port_desc_reply(
    ports: &[PortDesc],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let v = Version::of(protocol);
    encode_multipart_reply(ports, v, ST_PORT_DESC, xid, |e, p| {
        put_port_desc(e, v, p);
        Ok(())
    })
}

/// Encodes a whole port statistics reply as as many messages as it takes.
pub fn encode_port_stats_reply(
    ports: &[PortStats],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let v = Version::of(protocol);
    encode_multipart_reply(ports, v, ST_PORT, xid, |e, p| put_port_stats(e, v, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenFlow 1.0's `ofp_port_features`: copper at bit 7, fibre 8, autonegotiation 9,
    /// pause 10, asymmetric pause 11 (1.1+ has them at 11 to 15).
    #[test]
    fn features_move_between_the_layouts() {
        let of11 = ofppf::FD_10GB | ofppf::COPPER;
        assert_eq!(features_to_of10(of11), (1 << 6) | (1 << 7));
        assert_eq!(features_from_of10((1 << 6) | (1 << 7)), of11);
        assert_eq!(
            features_to_of10(ofppf::FIBER | ofppf::AUTONEG | ofppf::PAUSE | ofppf::PAUSE_ASYM),
            (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11)
        );
        // Speeds 1.0 cannot say are dropped, not moved onto other bits.
        assert_eq!(
            features_to_of10(ofppf::FD_40GB | ofppf::FD_100GB | ofppf::FD_1TB | ofppf::OTHER),
            0
        );
        assert_eq!(features_to_of10(ofppf::HD_10MB | ofppf::FD_1GB), 0b10_0001);
        for bits in 0..(1u32 << 12) {
            assert_eq!(features_to_of10(features_from_of10(bits)), bits);
        }
    }
}
