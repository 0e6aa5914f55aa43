//! Meter-mods and meter statistics on the wire: `OFPT_METER_MOD` and the meter statistics and
//! configuration multiparts (`OFPMP_METER` / `OFPMP_METER_CONFIG`, named `METER_STATS` /
//! `METER_DESC` in OpenFlow 1.5 with the same layout). Meter features live in
//! [`super::table`] with the other features replies.
//!
//! # Layouts (OpenFlow 1.3 to 1.5 alike)
//!
//! | message | body |
//! |---|---|
//! | meter-mod (type 29) | command 16, flags 16, meter id 32, bands |
//! | band | type 16, length 16, rate 32, burst 32, then 4 bytes: pad (drop), precedence + pad (dscp_remark), experimenter id |
//! | stats / config request (multipart 9 / 10) | meter id 32, pad 32 |
//! | stats entry | meter id 32, length 16, pad 48, flow count 32, packets in 64, bytes in 64, duration 32+32, per band packets 64 and bytes 64 |
//! | config entry | length 16, flags 16, meter id 32, bands |
//!
//! OpenFlow 1.0 to 1.2 have no meters (and Open vSwitch no Nicira form for them): encoding
//! for those versions fails, and their decoders never reach this module.
//!
//! A meter-mod is checked as Open vSwitch decodes it: an unknown command is
//! `OFPMMFC_BAD_COMMAND`, both or neither of `kbps` and `pktps` on an add or modify
//! `OFPMMFC_BAD_FLAGS`, a band of unknown type `OFPMMFC_BAD_BAND`. What a switch can hold
//! (band types, number of bands, meter numbers) is the switch's check.

use super::buf::{Put, Reader};
use super::msg::{Message, finish, start, truncated as t};
use super::port::split_reply;
use super::stats::start_stats;
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::group::Counters;
use crate::meter::{
    BandType, MeterBand, MeterConfig, MeterFlags, MeterMod, MeterModCommand, MeterStats,
};
use crate::protocol::Protocol;
use crate::types::MeterId;

/// `OFPT_METER_MOD` (OpenFlow 1.3+).
pub(crate) const OFPT_METER_MOD: u8 = 29;
/// `OFPMP_METER` (`OFPMP_METER_STATS` in 1.5).
pub(crate) const ST_METER: u16 = 9;
/// `OFPMP_METER_CONFIG` (`OFPMP_METER_DESC` in 1.5).
pub(crate) const ST_METER_CONFIG: u16 = 10;
/// A band's length on the wire (every band type has the same).
const BAND_LEN: usize = 16;
/// A statistics entry's length before its bands.
const STATS_LEN: usize = 40;

/// A meter message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeterMsg {
    /// A meter-mod.
    Mod(MeterMod),
    /// A meter statistics request for one meter or [`MeterId::ALL`].
    StatsRequest(MeterId),
    /// One message of a meter statistics reply.
    StatsReply(Vec<MeterStats>),
    /// A meter configuration request for one meter or [`MeterId::ALL`].
    ConfigRequest(MeterId),
    /// One message of a meter configuration reply.
    ConfigReply(Vec<MeterConfig>),
}

fn put_bands(b: &mut Vec<u8>, bands: &[MeterBand]) {
    for band in bands {
        b.put_u16(band.band_type.wire());
        b.put_u16(BAND_LEN as u16);
        b.put_u32(band.rate);
        b.put_u32(band.burst_size);
        match band.band_type {
            BandType::Drop => b.put_zeros(4),
            BandType::DscpRemark { prec_level } => {
                b.put_u8(prec_level);
                b.put_zeros(3);
            }
            BandType::Experimenter(id) => b.put_u32(id),
        }
    }
}

/// Reads bands until `r` is empty.
fn pull_bands(mut r: Reader<'_>) -> Result<Vec<MeterBand>, DecodeError> {
    let bad = |what: String| DecodeError::new(OfpError::MeterBadBand, what);
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = usize::from(r.peek_u16(2).map_err(|_| bad("band is truncated".into()))?);
        if len < BAND_LEN || len > r.len() {
            return Err(DecodeError::new(
                OfpError::BadLen,
                format!("meter band length {len}"),
            ));
        }
        let mut e = r.take(len).map_err(|_| bad("band is truncated".into()))?;
        let tr = |_| bad("band is truncated".into());
        let ty = e.u16().map_err(tr)?;
        e.skip(2).map_err(tr)?;
        let rate = e.u32().map_err(tr)?;
        let burst_size = e.u32().map_err(tr)?;
        let band_type = match ty {
            1 => BandType::Drop,
            2 => BandType::DscpRemark {
                prec_level: e.u8().map_err(tr)?,
            },
            0xffff => BandType::Experimenter(e.u32().map_err(tr)?),
            n => return Err(bad(format!("meter band type {n}"))),
        };
        out.push(MeterBand {
            band_type,
            rate,
            burst_size,
        });
    }
    Ok(out)
}

/// Decodes a meter-mod's body (after the OpenFlow header).
pub(crate) fn decode_meter_mod(mut r: Reader<'_>) -> Result<MeterMod, DecodeError> {
    let tr = t("meter-mod");
    let n = r.u16().map_err(&tr)?;
    let command = MeterModCommand::from_wire(n).ok_or_else(|| {
        DecodeError::new(OfpError::MeterBadCommand, format!("meter-mod command {n}"))
    })?;
    let flags = MeterFlags(r.u16().map_err(&tr)?);
    let meter_id = MeterId(r.u32().map_err(&tr)?);
    let bands = pull_bands(r)?;
    let unit = flags.0 & (MeterFlags::KBPS.0 | MeterFlags::PKTPS.0);
    if command != MeterModCommand::Delete
        && (unit == 0 || unit == MeterFlags::KBPS.0 | MeterFlags::PKTPS.0)
    {
        return Err(DecodeError::new(
            OfpError::MeterBadFlags,
            format!(
                "meter flags {:#x} need exactly one of kbps and pktps",
                flags.0
            ),
        ));
    }
    Ok(MeterMod {
        command,
        meter_id,
        flags,
        bands,
    })
}

fn put_stats(b: &mut Vec<u8>, s: &MeterStats) -> Result<(), EncodeError> {
    let len = STATS_LEN + 16 * s.bands.len();
    b.put_u32(s.meter_id.0);
    b.put_u16(u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?);
    b.put_zeros(6);
    b.put_u32(s.flow_count);
    b.put_u64(s.input.packets);
    b.put_u64(s.input.bytes);
    b.put_u32(s.duration_sec);
    b.put_u32(s.duration_nsec);
    for c in &s.bands {
        b.put_u64(c.packets);
        b.put_u64(c.bytes);
    }
    Ok(())
}

fn pull_stats(r: &mut Reader<'_>) -> Result<MeterStats, DecodeError> {
    let tr = t("meter statistics");
    let len = usize::from(r.peek_u16(4).map_err(&tr)?);
    if len < STATS_LEN || !(len - STATS_LEN).is_multiple_of(16) {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("meter statistics length {len}"),
        ));
    }
    let mut e = r.take(len).map_err(&tr)?;
    let meter_id = MeterId(e.u32().map_err(&tr)?);
    e.skip(8).map_err(&tr)?;
    let mut s = MeterStats {
        meter_id,
        flow_count: e.u32().map_err(&tr)?,
        ..MeterStats::default()
    };
    s.input.packets = e.u64().map_err(&tr)?;
    s.input.bytes = e.u64().map_err(&tr)?;
    s.duration_sec = e.u32().map_err(&tr)?;
    s.duration_nsec = e.u32().map_err(&tr)?;
    while !e.is_empty() {
        s.bands.push(Counters {
            packets: e.u64().map_err(&tr)?,
            bytes: e.u64().map_err(&tr)?,
        });
    }
    Ok(s)
}

fn put_config(b: &mut Vec<u8>, c: &MeterConfig) -> Result<(), EncodeError> {
    let at = b.len();
    b.put_u16(0);
    b.put_u16(c.flags.0);
    b.put_u32(c.meter_id.0);
    put_bands(b, &c.bands);
    let len = b.len() - at;
    b.set_u16(
        at,
        u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?,
    );
    Ok(())
}

fn pull_config(r: &mut Reader<'_>) -> Result<MeterConfig, DecodeError> {
    let tr = t("meter configuration");
    let len = usize::from(r.peek_u16(0).map_err(&tr)?);
    if len < 8 {
        return Err(DecodeError::new(
            OfpError::BadLen,
            format!("meter configuration length {len}"),
        ));
    }
    let mut e = r.take(len).map_err(&tr)?;
    e.skip(2).map_err(&tr)?;
    let flags = MeterFlags(e.u16().map_err(&tr)?);
    let meter_id = MeterId(e.u32().map_err(&tr)?);
    Ok(MeterConfig {
        meter_id,
        flags,
        bands: pull_bands(e)?,
    })
}

/// Fails for the versions without meters.
fn has_meters(v: Version) -> Result<(), EncodeError> {
    if v < Version::Of13 {
        Err(EncodeError::Message {
            message: "meter",
            version: v,
        })
    } else {
        Ok(())
    }
}

/// Encodes one meter message; `None` when `msg` is not one.
pub(super) fn encode(
    msg: &Message,
    protocol: Protocol,
    xid: u32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let Message::Meter(m) = msg else {
        return None;
    };
    let v = Version::of(protocol);
    Some((|| {
        has_meters(v)?;
        let b = match m {
            MeterMsg::Mod(mm) => {
                let mut b = start(v, OFPT_METER_MOD, xid);
                b.put_u16(mm.command.wire());
                b.put_u16(mm.flags.0);
                b.put_u32(mm.meter_id.0);
                put_bands(&mut b, &mm.bands);
                b
            }
            MeterMsg::StatsRequest(id) | MeterMsg::ConfigRequest(id) => {
                let stat = if matches!(m, MeterMsg::StatsRequest(_)) {
                    ST_METER
                } else {
                    ST_METER_CONFIG
                };
                let mut b = start_stats(v, true, stat, None, false, xid);
                b.put_u32(id.0);
                b.put_zeros(4);
                b
            }
            MeterMsg::StatsReply(ss) => {
                let mut b = start_stats(v, false, ST_METER, None, false, xid);
                for s in ss {
                    put_stats(&mut b, s)?;
                }
                b
            }
            MeterMsg::ConfigReply(cs) => {
                let mut b = start_stats(v, false, ST_METER_CONFIG, None, false, xid);
                for c in cs {
                    put_config(&mut b, c)?;
                }
                b
            }
        };
        finish(b)
    })())
}

/// Encodes a whole meter statistics reply (as many messages as it takes).
pub fn encode_stats_reply(
    meters: &[MeterStats],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    encode_reply(meters, protocol, xid, ST_METER, put_stats)
}

/// Encodes a whole meter configuration reply (as many messages as it takes).
pub fn encode_config_reply(
    meters: &[MeterConfig],
    protocol: Protocol,
    xid: u32,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    encode_reply(meters, protocol, xid, ST_METER_CONFIG, put_config)
}

fn encode_reply<T>(
    items: &[T],
    protocol: Protocol,
    xid: u32,
    stat: u16,
    put: fn(&mut Vec<u8>, &T) -> Result<(), EncodeError>,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let v = Version::of(protocol);
    has_meters(v)?;
    let entries = items
        .iter()
        .map(|item| {
            let mut e = Vec::new();
            put(&mut e, item).map(|()| e)
        })
        .collect::<Result<Vec<_>, _>>()?;
    split_reply(entries, || start_stats(v, false, stat, None, false, xid))
}

/// Decodes a meter multipart body (after the multipart header); `stat` is [`ST_METER`] or
/// [`ST_METER_CONFIG`].
pub(super) fn decode_stats(
    request: bool,
    stat: u16,
    mut r: Reader<'_>,
) -> Result<Message, DecodeError> {
    let config = stat == ST_METER_CONFIG;
    let m = if request {
        let id = MeterId(r.u32().map_err(t("meter statistics request"))?);
        if config {
            MeterMsg::ConfigRequest(id)
        } else {
            MeterMsg::StatsRequest(id)
        }
    } else if config {
        let mut cs = Vec::new();
        while !r.is_empty() {
            cs.push(pull_config(&mut r)?);
        }
        MeterMsg::ConfigReply(cs)
    } else {
        let mut ss = Vec::new();
        while !r.is_empty() {
            ss.push(pull_stats(&mut r)?);
        }
        MeterMsg::StatsReply(ss)
    };
    Ok(Message::Meter(m))
}
