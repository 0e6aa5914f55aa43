//! ovs-ofctl's meter syntax: `meter=1,pktps,burst,stats,bands=type=drop,rate=10,burst_size=5`
//! for `add-meter` and `mod-meter`, `meter=N` (or nothing: every meter) for `del-meters`,
//! `dump-meters` and `meter-stats`, and the text ovs-ofctl prints for meter messages.
//!
//! # Parsing
//!
//! The text splits at the first `bands=`: before it the meter's keys (`meter=`, the bare
//! flags `kbps`, `pktps`, `burst`, `stats`), after it the bands, each starting with `type=`
//! and followed by `rate=`, `burst_size=`, `prec_level=`. Commas and white space separate,
//! as everywhere in ovs-ofctl. A meter number is 1 to 4294901760 or `all`, `controller`,
//! `slowpath`. The checks and their wording are ovs-ofctl's: a meter needs `kbps` or `pktps`
//! (both pass the parser, the switch refuses them), bands, a rate per band, a burst size
//! exactly when the `burst` flag is set, and `prec_level` only on a `dscp_remark` band.
//!
//! # Printing
//!
//! A meter prints `meter=N`, its flags, `bands=`, then one line per band; a band shows its
//! `burst_size` only when the meter has the `burst` flag. Statistics print `meter:N` with
//! `key:value` pairs and one line per band.

use super::kv::KeyValues;
use crate::meter::{
    BandType, MeterBand, MeterConfig, MeterFeatures, MeterFlags, MeterMod, MeterModCommand,
    MeterStats,
};
use crate::types::MeterId;
use std::fmt::Write as _;

/// Why meter text was refused (ovs-ofctl's wording).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeterParseError {
    /// A number that is not one.
    #[error("invalid numeric format {0}")]
    BadNumber(String),
    /// A meter number out of range (0, or above `OFPM13_MAX` without being a name).
    #[error("invalid value for meter")]
    BadMeterId,
    /// A key that takes a value was given none (or a word that is no flag).
    #[error("field {0} missing value")]
    MissingValue(String),
    /// A key the command does not know.
    #[error("unknown keyword {0}")]
    UnknownKeyword(String),
    /// No `meter=` on an add or modify.
    #[error("must specify 'meter'")]
    NoMeter,
    /// No `bands=` on an add or modify.
    #[error("must specify bands")]
    NoBands,
    /// `bands=` with nothing after it.
    #[error("meter must have bands")]
    EmptyBands,
    /// Neither `kbps` nor `pktps`.
    #[error("meter must specify either 'kbps' or 'pktps'")]
    NoUnit,
    /// A band that does not begin with `type=`.
    #[error("band must start with the 'type' keyword")]
    BandWithoutType,
    /// An unknown band type.
    #[error("field type unknown value {0}")]
    BadBandType(String),
    /// A band without a rate (or with rate 0).
    #[error("band must have 'rate'")]
    NoRate,
    /// A burst meter's band without a burst size.
    #[error("band must have 'burst_size' when 'burst' flag is set")]
    NoBurstSize,
    /// A burst size on a meter without the `burst` flag.
    #[error("band may have 'burst_size' only when 'burst' flag is set")]
    UnwantedBurstSize,
    /// `prec_level` on a band other than `dscp_remark`.
    #[error("Only 'dscp_remark' band may have 'prec_level'")]
    UnwantedPrecLevel,
}

type E = MeterParseError;

/// A number as ovs-ofctl reads one (C's base-0 rules), as a `u64` so that range errors are
/// told apart from malformed numbers.
fn parse_number(s: &str) -> Option<u64> {
    super::value::parse_u128(s).and_then(|v| u64::try_from(v).ok())
}

fn parse_u32(s: &str) -> Result<u32, E> {
    parse_number(s)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| E::BadNumber(s.to_owned()))
}

/// A meter number: `all`, `controller`, `slowpath` or 1 to [`MeterId::MAX`].
pub fn parse_meter_id(s: &str) -> Result<MeterId, MeterParseError> {
    match s {
        "all" => return Ok(MeterId::ALL),
        "controller" => return Ok(MeterId::CONTROLLER),
        "slowpath" => return Ok(MeterId::SLOWPATH),
        _ => {}
    }
    let n = match parse_number(s) {
        Some(n) => n,
        // A run of digits too long for any integer is out of range, not malformed.
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(E::BadMeterId);
        }
        None => return Err(E::BadNumber(s.to_owned())),
    };
    match u32::try_from(n) {
        Ok(n) if (1..=MeterId::MAX.0).contains(&n) => Ok(MeterId(n)),
        _ => Err(E::BadMeterId),
    }
}

/// The meter number of `del-meters`, `dump-meters` and `meter-stats` (`meter=N`; every
/// meter when the text is empty).
pub fn parse_meter_selector(text: &str) -> Result<MeterId, MeterParseError> {
    let mut id = MeterId::ALL;
    for (k, v) in KeyValues::new(text) {
        match (k, v) {
            ("meter", v) if !v.is_empty() => id = parse_meter_id(v)?,
            (k, "") => return Err(E::MissingValue(k.to_owned())),
            (k, _) => return Err(E::UnknownKeyword(k.to_owned())),
        }
    }
    Ok(id)
}

/// Parses the argument of `add-meter` ([`MeterModCommand::Add`]) or `mod-meter`
/// ([`MeterModCommand::Modify`]); a delete takes [`parse_meter_selector`]'s text.
pub fn parse_meter_mod(text: &str, command: MeterModCommand) -> Result<MeterMod, MeterParseError> {
    if command == MeterModCommand::Delete {
        return Ok(MeterMod {
            command,
            meter_id: parse_meter_selector(text)?,
            flags: MeterFlags::default(),
            bands: Vec::new(),
        });
    }
    let (head, bands_text) = match text.find("bands=") {
        Some(i) => (&text[..i], Some(&text[i + "bands=".len()..])),
        None => (text, None),
    };
    let mut meter_id = None;
    let mut flags = MeterFlags::default();
    for (k, v) in KeyValues::new(head) {
        if let Some((f, _)) = MeterFlags::NAMES.iter().find(|(_, name)| *name == k) {
            flags = flags.with(*f);
            continue;
        }
        match (k, v) {
            ("meter", v) if !v.is_empty() => meter_id = Some(parse_meter_id(v)?),
            (k, "") => return Err(E::MissingValue(k.to_owned())),
            (k, _) => return Err(E::UnknownKeyword(k.to_owned())),
        }
    }
    let meter_id = meter_id.ok_or(E::NoMeter)?;
    let bands_text = bands_text.ok_or(E::NoBands)?;
    if !flags.contains(MeterFlags::KBPS) && !flags.contains(MeterFlags::PKTPS) {
        return Err(E::NoUnit);
    }
    let bands = parse_bands(bands_text, flags)?;
    Ok(MeterMod {
        command,
        meter_id,
        flags,
        bands,
    })
}

/// One band while it is being read.
struct Draft {
    band: MeterBand,
    prec_level: Option<u8>,
}

fn parse_bands(text: &str, flags: MeterFlags) -> Result<Vec<MeterBand>, E> {
    let mut drafts: Vec<Draft> = Vec::new();
    for (k, v) in KeyValues::new(text) {
        if k == "type" {
            let band_type = match v {
                "drop" => BandType::Drop,
                "dscp_remark" => BandType::DscpRemark { prec_level: 0 },
                other => return Err(E::BadBandType(other.to_owned())),
            };
            drafts.push(Draft {
                band: MeterBand {
                    band_type,
                    rate: 0,
                    burst_size: 0,
                },
                prec_level: None,
            });
            continue;
        }
        let Some(d) = drafts.last_mut() else {
            return Err(E::BandWithoutType);
        };
        match k {
            "rate" => d.band.rate = parse_u32(v)?,
            "burst_size" => d.band.burst_size = parse_u32(v)?,
            "prec_level" => {
                d.prec_level = Some(
                    parse_number(v)
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or_else(|| E::BadNumber(v.to_owned()))?,
                );
            }
            k if v.is_empty() => return Err(E::MissingValue(k.to_owned())),
            k => return Err(E::UnknownKeyword(k.to_owned())),
        }
    }
    if drafts.is_empty() {
        return Err(E::EmptyBands);
    }
    let burst = flags.contains(MeterFlags::BURST);
    drafts
        .into_iter()
        .map(|mut d| {
            if d.band.rate == 0 {
                return Err(E::NoRate);
            }
            if burst && d.band.burst_size == 0 {
                return Err(E::NoBurstSize);
            }
            if !burst && d.band.burst_size != 0 {
                return Err(E::UnwantedBurstSize);
            }
            match (&mut d.band.band_type, d.prec_level) {
                (BandType::DscpRemark { prec_level }, Some(p)) => *prec_level = p,
                (_, Some(_)) => return Err(E::UnwantedPrecLevel),
                _ => {}
            }
            Ok(d.band)
        })
        .collect()
}

/// A meter number as ovs-ofctl prints it (`all`, `controller`, `slowpath` or the number).
pub fn format_meter_id(id: MeterId, out: &mut String) {
    match id {
        MeterId::ALL => out.push_str("all"),
        MeterId::CONTROLLER => out.push_str("controller"),
        MeterId::SLOWPATH => out.push_str("slowpath"),
        MeterId(n) => {
            let _ = write!(out, "{n}");
        }
    }
}

/// `meter=N flags bands=` and one line per band (no trailing newline).
fn format_meter(id: MeterId, flags: MeterFlags, bands: &[MeterBand], out: &mut String) {
    out.push_str("meter=");
    format_meter_id(id, out);
    for (f, name) in MeterFlags::NAMES {
        if flags.contains(f) {
            out.push(' ');
            out.push_str(name);
        }
    }
    out.push_str(" bands=");
    for b in bands {
        let _ = write!(out, "\ntype={} rate={}", b.band_type.name(), b.rate);
        if flags.contains(MeterFlags::BURST) {
            let _ = write!(out, " burst_size={}", b.burst_size);
        }
        if let BandType::DscpRemark { prec_level } = b.band_type {
            let _ = write!(out, " prec_level={prec_level}");
        }
    }
}

/// A meter-mod as ovs-ofctl prints it after the message header: `ADD meter=1 pktps bands=`
/// and the bands' lines.
pub fn format_meter_mod(mm: &MeterMod, out: &mut String) {
    out.push_str(mm.command.name());
    out.push(' ');
    format_meter(mm.meter_id, mm.flags, &mm.bands, out);
}

/// A meter configuration reply's entry (`dump-meters`), without a trailing newline.
pub fn format_meter_config(c: &MeterConfig, out: &mut String) {
    format_meter(c.meter_id, c.flags, &c.bands, out);
}

/// A meter statistics reply's entry (`meter-stats`), one line per band, each ending in a
/// newline.
pub fn format_meter_stats(s: &MeterStats, out: &mut String) {
    out.push_str("meter:");
    format_meter_id(s.meter_id, out);
    let _ = writeln!(
        out,
        " flow_count:{} packet_in_count:{} byte_in_count:{} duration:{}.{:03}s bands:",
        s.flow_count,
        s.input.packets,
        s.input.bytes,
        s.duration_sec,
        s.duration_nsec / 1_000_000
    );
    for (i, c) in s.bands.iter().enumerate() {
        let _ = writeln!(
            out,
            "{i}: packet_count:{} byte_count:{}",
            c.packets, c.bytes
        );
    }
}

/// A meter features reply's body (`meter-features`), each line ending in a newline.
pub fn format_meter_features(f: &MeterFeatures, out: &mut String) {
    let _ = writeln!(
        out,
        "max_meter:{} max_bands:{} max_color:{}",
        f.max_meter, f.max_bands, f.max_color
    );
    out.push_str("band_types:");
    for (bit, name) in [(1u32 << 1, "drop"), (1 << 2, "dscp_remark")] {
        if f.band_types & bit != 0 {
            out.push(' ');
            out.push_str(name);
        }
    }
    out.push_str("\ncapabilities:");
    for (flag, name) in MeterFlags::NAMES {
        if f.capabilities & u32::from(flag.0) != 0 {
            out.push(' ');
            out.push_str(name);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(text: &str) -> Result<MeterMod, MeterParseError> {
        parse_meter_mod(text, MeterModCommand::Add)
    }

    #[test]
    fn a_meter_reads_and_prints_as_ovs_ofctl_shows_it() {
        let mm = add("meter=1,pktps,burst,stats,bands=type=drop,rate=10,burst_size=5")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut out = String::new();
        format_meter_mod(&mm, &mut out);
        assert_eq!(
            out,
            "ADD meter=1 pktps burst stats bands=\ntype=drop rate=10 burst_size=5"
        );
        let mm = add("meter=2 kbps bands=type=drop rate=1000 type=dscp_remark rate=9 prec_level=3")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut out = String::new();
        format_meter_mod(&mm, &mut out);
        assert_eq!(
            out,
            "ADD meter=2 kbps bands=\ntype=drop rate=1000\ntype=dscp_remark rate=9 prec_level=3"
        );
    }

    #[test]
    fn bad_meters_get_ovs_ofctls_words() {
        let cases = [
            ("pktps,bands=type=drop,rate=5", "must specify 'meter'"),
            (
                "meter=x,pktps,bands=type=drop,rate=5",
                "invalid numeric format x",
            ),
            (
                "meter=0,pktps,bands=type=drop,rate=5",
                "invalid value for meter",
            ),
            (
                "meter=4294967296,pktps,bands=type=drop,rate=5",
                "invalid value for meter",
            ),
            (
                "meter=1,pktps,foo=3,bands=type=drop,rate=5",
                "unknown keyword foo",
            ),
            (
                "meter=13,pktpsx,bands=type=drop,rate=5",
                "field pktpsx missing value",
            ),
            ("meter=1,pktps", "must specify bands"),
            ("meter=1,pktps,bands=", "meter must have bands"),
            (
                "meter=6,bands=type=drop,rate=5",
                "meter must specify either 'kbps' or 'pktps'",
            ),
            (
                "meter=1,pktps,bands=rate=5",
                "band must start with the 'type' keyword",
            ),
            (
                "meter=1,pktps,bands=type=foo,rate=5",
                "field type unknown value foo",
            ),
            (
                "meter=8,pktps,bands=type=drop,rate=0",
                "band must have 'rate'",
            ),
            (
                "meter=1,pktps,burst,bands=type=drop,rate=5",
                "band must have 'burst_size' when 'burst' flag is set",
            ),
            (
                "meter=1,pktps,bands=type=drop,rate=5,burst_size=3",
                "band may have 'burst_size' only when 'burst' flag is set",
            ),
            (
                "meter=1,pktps,bands=type=drop,rate=5,prec_level=2",
                "Only 'dscp_remark' band may have 'prec_level'",
            ),
        ];
        for (text, want) in cases {
            let got = add(text).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_owned()), "{text}");
        }
        assert_eq!(
            parse_meter_selector("meter=1,pktps").map_err(|e| e.to_string()),
            Err("field pktps missing value".to_owned())
        );
        assert_eq!(parse_meter_selector(""), Ok(MeterId::ALL));
        assert_eq!(
            parse_meter_selector("meter=controller"),
            Ok(MeterId::CONTROLLER)
        );
    }
}
