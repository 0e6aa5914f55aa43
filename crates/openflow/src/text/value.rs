//! Numbers, field values and subfields in ovs-ofctl's text syntax.
//!
//! Integers follow C's `strtoull(s, 0)`: `0x` prefix for hexadecimal, a leading `0` for
//! octal, decimal otherwise. Field values follow the field's registry [`Format`].

use super::ActionParseError as E;
use crate::types::{EthAddr, PortNo, Subfield, field_width, low_mask};
use core::fmt::Write as _;
use core::net::{Ipv4Addr, Ipv6Addr};
use fvs_flow::Field;
use fvs_flow::field::Format;

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

/// [`parse_uint`] narrowed to `u32`.
pub(crate) fn parse_u32(s: &str, what: &'static str) -> Result<u32, E> {
    parse_uint(s, 32, what).map(|v| v as u32)
}

/// [`parse_uint`] narrowed to `u64`.
pub(crate) fn parse_u64(s: &str, what: &'static str) -> Result<u64, E> {
    parse_uint(s, 64, what).map(|v| v as u64)
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

/// Parses a field value with an optional `/mask`, in the field's format. The result is
/// right-aligned in the field's width; the mask is all-ones when absent.
pub(crate) fn parse_field_value(field: Field, s: &str) -> Result<(u128, u128), E> {
    let width = field_width(field);
    let full = low_mask(width);
    let bad = || E::BadFieldValue {
        field: field.name(),
        token: s.to_string(),
    };
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let info = field.info();
    let (value, mask) = match info.format {
        Format::Ethernet => {
            let value = parse_eth(v).ok_or_else(bad)?.to_u128();
            let mask = match m {
                Some(m) => parse_eth(m).ok_or_else(bad)?.to_u128(),
                None => full,
            };
            (value, mask)
        }
        Format::Ipv4 => {
            let value = u128::from(u32::from(v.parse::<Ipv4Addr>().map_err(|_| bad())?));
            let mask = match m {
                None => full,
                Some(m) => match m.parse::<Ipv4Addr>() {
                    Ok(a) => u128::from(u32::from(a)),
                    Err(_) => {
                        let n = m.parse::<u32>().ok().filter(|n| *n <= 32).ok_or_else(bad)?;
                        prefix_mask(n, 32)
                    }
                },
            };
            (value, mask)
        }
        Format::Ipv6 => {
            let value = u128::from(v.parse::<Ipv6Addr>().map_err(|_| bad())?);
            let mask = match m {
                None => full,
                Some(m) => match m.parse::<Ipv6Addr>() {
                    Ok(a) => u128::from(a),
                    Err(_) => {
                        let n = m
                            .parse::<u32>()
                            .ok()
                            .filter(|n| *n <= 128)
                            .ok_or_else(bad)?;
                        prefix_mask(n, 128)
                    }
                },
            };
            (value, mask)
        }
        Format::Port => {
            let p = parse_port(v).map_err(|_| bad())?;
            let value = if width == 16 {
                u128::from(p.to_of10().ok_or_else(bad)?)
            } else {
                u128::from(p.0)
            };
            if m.is_some() {
                return Err(bad());
            }
            (value, full)
        }
        Format::Decimal
        | Format::Hex
        | Format::CtState
        | Format::TcpFlags
        | Format::Frag
        | Format::TunFlags => {
            let value = parse_u128(v).ok_or_else(bad)?;
            let mask = match m {
                Some(m) => parse_u128(m).ok_or_else(bad)?,
                None => full,
            };
            (value, mask)
        }
    };
    if value & !full != 0 || mask & !full != 0 {
        return Err(E::ValueTooWide {
            field: field.name(),
            token: s.to_string(),
        });
    }
    Ok((value & mask, mask))
}

/// A mask of the top `n` bits of a `width`-bit value.
fn prefix_mask(n: u32, width: u32) -> u128 {
    if n == 0 {
        0
    } else {
        (low_mask(width as u16) >> (width - n)) << (width - n)
    }
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
        }
        Format::Decimal => {
            // A decimal field keeps its value in decimal even when masked; the mask is hex.
            let _ = write!(out, "{value}");
            if !exact {
                out.push('/');
                push_hex(mask, out);
            }
        }
        Format::Hex | Format::CtState | Format::TcpFlags | Format::Frag | Format::TunFlags => {
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
