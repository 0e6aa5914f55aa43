//! Numbers, field values and subfields in ovs-ofctl's text syntax.
//!
//! Integers follow C's `strtoull(s, 0)`: `0x` prefix for hexadecimal, a leading `0` for
//! octal, decimal otherwise. Field values follow the field's registry [`Format`].

use super::ActionParseError as E;
use crate::types::{EthAddr, PortNo, Subfield, field_width, low_mask};
use core::fmt::Write as _;
use core::net::{Ipv4Addr, Ipv6Addr};
use fvs_flow::field::Format;
use fvs_flow::text::parse_match_field;
use fvs_flow::{Field, Match, Protocols};

/// Parses an unsigned integer with C's base-0 rules; `None` if malformed or over 128 bits.
pub(crate) fn parse_u128(s: &str) -> Option<u128> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(digits, radix).ok()
}

/// Parses an integer of at most `bits` bits; the error names `what` and the token.
pub(crate) fn parse_uint(s: &str, bits: u32, what: &'static str) -> Result<u128, E> {
    match parse_u128(s) {
        Some(v) if bits >= 128 || v >> bits == 0 => Ok(v),
        _ => Err(E::BadNumber {
            what,
            token: s.to_string(),
        }),
    }
}

/// [`parse_uint`] narrowed to `u8`.
pub(crate) fn parse_u8(s: &str, what: &'static str) -> Result<u8, E> {
    parse_uint(s, 8, what).map(|v| v as u8)
}

/// [`parse_uint`] narrowed to `u16`.
pub(crate) fn parse_u16(s: &str, what: &'static str) -> Result<u16, E> {
    parse_uint(s, 16, what).map(|v| v as u16)
}

/// A 32-bit integer; errors say "invalid numeric format", as ovs-ofctl's do for 32 and 64 bits.
pub(crate) fn parse_u32(s: &str) -> Result<u32, E> {
    parse_u128(s)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| E::NumericFormat(s.to_string()))
}

/// A 64-bit integer, as [`parse_u32`].
pub(crate) fn parse_u64(s: &str) -> Result<u64, E> {
    parse_u128(s)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| E::NumericFormat(s.to_string()))
}

/// A table number 0..=255.
pub(crate) fn parse_table(s: &str) -> Result<u8, E> {
    parse_u128(s)
        .and_then(|v| u8::try_from(v).ok())
        .ok_or_else(|| E::UnknownTable(s.to_string()))
}

/// Parses a port: a reserved name or a number (OpenFlow 1.0 numbers map up).
///
/// Port numbers are decimal only (`0xfffe` is not a port), as in ovs-ofctl.
pub(crate) fn parse_port(s: &str) -> Result<PortNo, E> {
    PortNo::parse(s).map_err(|_| E::BadPort(s.to_string()))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub(crate) fn parse_eth(s: &str) -> Option<EthAddr> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(EthAddr(out))
}

/// Parses a field value with an optional `/mask`, in the field's format, exactly as a match
/// on the field would read it (the same parser, so the same syntax and error messages, as in
/// ovs-ofctl). The result is right-aligned in the field's width; without `/mask` the mask is
/// all-ones over the field (a match on `nw_tos` would cover only the DSCP bits; a write
/// covers the byte).
pub(crate) fn parse_field_value(field: Field, s: &str) -> Result<(u128, u128), E> {
    let mut scratch = Match::CATCHALL;
    let mut usable = Protocols::ANY;
    parse_match_field(&mut scratch, field.name(), Some(s), &mut usable)?;
    let full = low_mask(field_width(field));
    let (value, mask) = scratch.get(field);
    let mask = if s.contains('/') { mask & full } else { full };
    // The match parser keeps only bits under the mask; a write keeps the value as written
    // (within the field's width), because ovs-ofctl does.
    let value = if s.contains('/') {
        written_value(field, s).unwrap_or(value) & full
    } else {
        value & full
    };
    Ok((value, mask))
}

/// The value part of `value/mask` read without its mask, through the same parser.
fn written_value(field: Field, s: &str) -> Option<u128> {
    let (v, _) = s.split_once('/')?;
    let mut scratch = Match::CATCHALL;
    let mut usable = Protocols::ANY;
    parse_match_field(&mut scratch, field.name(), Some(v), &mut usable).ok()?;
    Some(scratch.get(field).0)
}

/// Appends `value` (and `/mask` unless the mask is all-ones) in the field's format, as
/// ovs-ofctl prints a `set_field` value.
pub(crate) fn format_field_value(field: Field, value: u128, mask: u128, out: &mut String) {
    let full = low_mask(field_width(field));
    let exact = mask == full;
    match field.info().format {
        Format::Ethernet => {
            out.push_str(&EthAddr::from_u128(value).to_string());
            if !exact {
                out.push('/');
                out.push_str(&EthAddr::from_u128(mask).to_string());
            }
        }
        Format::Ipv4 => {
            let _ = write!(out, "{}", Ipv4Addr::from(value as u32));
            if !exact {
                let m = mask as u32;
                if m.leading_ones() + m.trailing_zeros() == 32 {
                    let _ = write!(out, "/{}", m.leading_ones());
                } else {
                    let _ = write!(out, "/{}", Ipv4Addr::from(m));
                }
            }
        }
        Format::Ipv6 => {
            let _ = write!(out, "{}", Ipv6Addr::from(value));
            if !exact {
                if mask.leading_ones() + mask.trailing_zeros() == 128 {
                    let _ = write!(out, "/{}", mask.leading_ones());
                } else {
                    let _ = write!(out, "/{}", Ipv6Addr::from(mask));
                }
            }
        }
        Format::Port => {
            let p = if field_width(field) == 16 {
                PortNo::from_of10(value as u16)
            } else {
                PortNo(value as u32)
            };
            let _ = write!(out, "{p}");
            if !exact {
                out.push('/');
                push_hex(mask, out);
            }
        }
        Format::Decimal => {
            // A decimal field keeps its value in decimal even when masked; the mask is hex.
            let _ = write!(out, "{value}");
            if !exact {
                out.push('/');
                push_hex(mask, out);
            }
        }
        Format::Hex
        | Format::CtState
        | Format::TcpFlags
        | Format::Frag
        | Format::TunFlags
        | Format::PacketType => {
            push_hex(value, out);
            if !exact {
                out.push('/');
                push_hex(mask, out);
            }
        }
    }
}

/// Appends `0x…` in lower case, or `0` for zero (ovs-ofctl's `ds_put_hex`).
pub(crate) fn push_hex(v: u128, out: &mut String) {
    if v == 0 {
        out.push('0');
    } else {
        let _ = write!(out, "{v:#x}");
    }
}

/// Parses `NAME[]`, `NAME[bit]`, `NAME[start..end]` or a bare `NAME`.
pub(crate) fn parse_subfield(s: &str) -> Result<Subfield, E> {
    Subfield::parse(s).map_err(E::Subfield)
}

/// Appends a subfield as ovs-ofctl prints it (`NXM_NX_REG0[0..3]`).
pub(crate) fn format_subfield(sf: &Subfield, out: &mut String) {
    let _ = write!(out, "{sf}");
}
