//! Parsing `name=value` match pairs (see the module docs of [`crate::text`]).

use super::MatchParseError as E;
use super::addr;
use crate::field::{Field, Format};
use crate::matching::{Match, Shorthand, usable_protocols};
use crate::port::PortNo;
use crate::protocols::Protocols;

/// Applies one `name=value` pair (or, with `value` `None`, a bare shorthand such as `tcp`) to
/// `m`, and narrows `usable` to the protocols that can carry a match on that field with the
/// kind of mask given.
pub fn parse_match_field(
    m: &mut Match,
    name: &str,
    value: Option<&str>,
    usable: &mut Protocols,
) -> Result<(), E> {
    let Some(field) = Field::from_name(name) else {
        return match (value, Shorthand::from_name(name)) {
            (None, Some(shorthand)) => {
                m.set_shorthand(shorthand);
                Ok(())
            }
            (None, None) => Err(E::MissingValue(name.to_string())),
            (Some(_), _) => Err(E::UnknownKeyword(name.to_string())),
        };
    };
    // `ovs-ofctl` reads a missing or empty value as "0/0", which wildcards integer fields and
    // is an error for addresses.
    let text = match value {
        None | Some("") => "0/0",
        Some(v) => v,
    };
    let (value, mask) = parse_value(field, text)?;
    let info = field.info();
    let full = full_mask(field);
    let narrowing = match mask.map(|mk| mk & full) {
        None => info.usable.exact,
        Some(mk) if mk == full => info.usable.exact,
        Some(_) if !info.maskable => {
            return Err(E::NotMaskable {
                text: text.to_string(),
                field: field.name(),
            });
        }
        // A zero mask wildcards the field: nothing to carry, nothing to narrow.
        Some(0) => Protocols::ANY,
        Some(mk) if is_prefix(mk, field.bits()) => info.usable.cidr,
        Some(_) => info.usable.bitwise,
    };
    *usable = usable.and(narrowing);
    m.set_masked(field, value, mask.unwrap_or(u128::MAX));
    Ok(())
}

/// Parses a whole match written as `ovs-ofctl` match text (`tcp,nw_src=10.0.0.0/8 tp_dst=80`):
/// fields and shorthands separated by commas or white space, nothing else (no `priority`,
/// `table` or `actions`). Returns the match and the protocols able to carry it.
pub fn parse_match(text: &str) -> Result<(Match, Protocols), E> {
    let mut m = Match::CATCHALL;
    let mut usable = Protocols::ANY;
    for token in split_items(text) {
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (token, None),
        };
        parse_match_field(&mut m, name, value, &mut usable)?;
    }
    Ok((m, usable.and(usable_protocols(&m))))
}

/// The items of a match text: split at commas and white space outside parentheses, so that
/// `packet_type=(1,0x800)` stays one item.
fn split_items(text: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0u32;
    text.split(move |c: char| {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        depth == 0 && (c == ',' || c.is_ascii_whitespace())
    })
    .filter(|t| !t.is_empty())
}

/// The mask of all the bits an exact match on `field` covers, right-aligned.
fn full_mask(field: Field) -> u128 {
    let bits = field.bits();
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The field's width on the wire, which bounds the values the text may give.
fn wire_bytes(field: Field) -> u8 {
    let info = field.info();
    match (info.nxm, info.oxm) {
        (Some(h), _) | (None, Some(h)) => h.bytes,
        (None, None) => field.bits().div_ceil(8) as u8,
    }
}

/// True when `mask` is a run of ones from the top of a `bits`-wide field.
fn is_prefix(mask: u128, bits: u32) -> bool {
    if bits == 0 || bits > 128 {
        return false;
    }
    let shifted = mask << (128 - bits);
    shifted.leading_ones() == shifted.count_ones()
}

/// A value and its mask (`None` = exact), right-aligned.
type Parsed = (u128, Option<u128>);

fn parse_value(field: Field, text: &str) -> Result<Parsed, E> {
    let info = field.info();
    match info.format {
        Format::Decimal | Format::Hex => parse_integer(field, text),
        Format::Ethernet => {
            parse_pair(text, addr::parse_ethernet).ok_or_else(|| E::BadEthernet(text.to_string()))
        }
        Format::Ipv4 => parse_ip(text, 32, addr::parse_ipv4).map_err(|prefix| {
            if prefix {
                E::BadIpv4Prefix(text.to_string())
            } else {
                E::BadIpv4(text.to_string())
            }
        }),
        Format::Ipv6 => parse_ip(text, 128, addr::parse_ipv6).map_err(|prefix| {
            if prefix {
                E::BadIpv6Prefix(text.to_string())
            } else {
                E::BadIpv6(text.to_string())
            }
        }),
        Format::Port => parse_port(field, text).map(|p| (u128::from(p.0), None)),
        Format::PacketType => parse_packet_type(text).map(|v| (u128::from(v), None)),
        Format::CtState => parse_flags(text, &CT_STATE),
        Format::TcpFlags => parse_flags(text, &TCP_FLAGS),
        Format::TunFlags => parse_flags(text, &TUN_FLAGS),
        Format::Frag => FRAG_NAMES
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(text))
            .map(|&(_, v, mk)| (u128::from(v), Some(u128::from(mk))))
            .ok_or_else(|| E::BadFrag(text.to_string())),
    }
}

/// `value[/mask]` as integers, each bounded by the field's wire width.
fn parse_integer(field: Field, text: &str) -> Result<Parsed, E> {
    let name = field.name();
    let bytes = wire_bytes(field);
    let too_large = || E::TooLarge {
        text: text.to_string(),
        bytes,
        field: name,
    };
    let check = |v: u128| {
        if bytes < 16 && v >> (u32::from(bytes) * 8) != 0 {
            Err(too_large())
        } else {
            Ok(v)
        }
    };
    let (v, mk) = match text.split_once('/') {
        Some((v, mk)) => (v, Some(mk)),
        None => (text, None),
    };
    let value = match parse_int(v) {
        Ok(value) => check(value)?,
        Err(IntError::Overflow) => return Err(too_large()),
        Err(IntError::Syntax) => {
            return Err(E::BadValue {
                text: text.to_string(),
                field: name,
            });
        }
    };
    let mask = match mk.map(parse_int) {
        None => None,
        Some(Ok(mask)) => Some(check(mask)?),
        Some(Err(IntError::Overflow)) => return Err(too_large()),
        Some(Err(IntError::Syntax)) => {
            return Err(E::BadMask {
                text: text.to_string(),
                field: name,
            });
        }
    };
    Ok((value, mask))
}

/// Why an integer did not parse.
enum IntError {
    /// Not a number.
    Syntax,
    /// A number, but not one that fits (negative numbers count as huge, as with `strtoull`).
    Overflow,
}

/// An unsigned integer as C's `strtoull` with base 0 reads it: `0x` hex, leading-`0` octal,
/// else decimal.
fn parse_int(s: &str) -> Result<u128, IntError> {
    if let Some(rest) = s.strip_prefix('-') {
        return match parse_int(rest) {
            Ok(0) => Ok(0),
            Ok(_) | Err(IntError::Overflow) => Err(IntError::Overflow),
            Err(IntError::Syntax) => Err(IntError::Syntax),
        };
    }
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(IntError::Syntax);
    }
    u128::from_str_radix(digits, radix).map_err(|_| IntError::Overflow)
}

/// `addr[/addr]`, for formats whose masks are written like their values.
fn parse_pair(text: &str, parse: fn(&str) -> Option<u128>) -> Option<Parsed> {
    match text.split_once('/') {
        Some((v, mk)) => Some((parse(v)?, Some(parse(mk)?))),
        None => Some((parse(text)?, None)),
    }
}

/// `addr[/len]` or `addr[/mask]`; the error is `true` for a bad prefix length.
fn parse_ip(text: &str, bits: u32, parse: fn(&str) -> Option<u128>) -> Result<Parsed, bool> {
    let Some((v, mk)) = text.split_once('/') else {
        return parse(text).map(|v| (v, None)).ok_or(false);
    };
    let value = parse(v).ok_or(false)?;
    let numeric = mk.strip_prefix('-').unwrap_or(mk);
    if !numeric.is_empty() && numeric.bytes().all(|b| b.is_ascii_digit()) {
        let len: u32 = match mk.parse::<i64>() {
            Ok(n) if (0..=i64::from(bits)).contains(&n) => n as u32,
            _ => return Err(true),
        };
        let all = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let mask = all & !all.checked_shr(len).unwrap_or(0);
        return Ok((value, Some(mask)));
    }
    Ok((value, Some(parse(mk).ok_or(false)?)))
}

/// A port name or number ([`PortNo::parse`]). `in_port` words every error as a bad port; the
/// 32-bit port fields (`in_port_oxm`, `actset_output`) word every error as out of range, as
/// `ovs-ofctl` does.
fn parse_port(field: Field, text: &str) -> Result<PortNo, E> {
    match PortNo::parse(text) {
        Ok(port) => Ok(port),
        Err(_) if field != Field::InPort => Err(E::PortOutOfRange {
            text: text.to_string(),
            field: field.name(),
        }),
        Err(_) => Err(E::BadPort {
            text: text.to_string(),
            field: field.name(),
        }),
    }
}

/// `(ns,ns_type)`, each a 16-bit number read as C's `scanf("%i")` reads one (leading white
/// space, an optional `+`, then hexadecimal, octal or decimal), packed as `ns << 16 | ns_type`.
/// Text after the closing parenthesis is ignored, as `ovs-ofctl` ignores it. Errors quote the
/// text from where parsing failed, with `ovs-ofctl`'s words.
fn parse_packet_type(text: &str) -> Result<u32, E> {
    let bad = |at: &str, what: &'static str| E::BadPacketType {
        text: at.to_string(),
        what,
    };
    let inner = text
        .strip_prefix('(')
        .ok_or_else(|| bad(text, "missing '('"))?;
    let (ns, rest) = scan_u16(inner).ok_or_else(|| bad(inner, "ns"))?;
    let after_comma = rest
        .strip_prefix(',')
        .ok_or_else(|| bad(inner, "missing ','"))?;
    let (ns_type, rest) = scan_u16(after_comma).ok_or_else(|| bad(after_comma, "ns_type"))?;
    if !rest.starts_with(')') {
        return Err(bad(after_comma, "missing ')'"));
    }
    Ok(u32::from(ns) << 16 | u32::from(ns_type))
}

/// One 16-bit number at the start of `s` as `scanf("%i")` reads it, and the text after it.
/// `0x` with no hex digit after it reads as 0 (glibc consumes the `x`); a leading `0` makes the
/// number octal, which stops at the first non-octal digit.
fn scan_u16(s: &str) -> Option<(u16, &str)> {
    let s = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let s = s.strip_prefix('+').unwrap_or(s);
    let (digits_start, radix) = if s.starts_with("0x") || s.starts_with("0X") {
        (2, 16)
    } else if s.starts_with('0') {
        (1, 8)
    } else {
        (0, 10)
    };
    let body = &s[digits_start..];
    let n = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    if n == 0 && digits_start == 0 {
        return None;
    }
    let value = if n == 0 {
        0
    } else {
        u32::from_str_radix(&body[..n], radix).ok()?
    };
    Some((u16::try_from(value).ok()?, &body[n..]))
}

/// A family of named flag bits.
pub(super) struct FlagSet {
    /// How errors name the family (`ct_state`, `TCP`, `tunnel`).
    pub(super) kind: &'static str,
    /// Names by bit, least significant first.
    pub(super) names: &'static [(&'static str, u32)],
    /// Bits a numeric value may set.
    pub(super) valid: u32,
}

/// Connection-tracking state bits.
pub(super) const CT_STATE: FlagSet = FlagSet {
    kind: "ct_state",
    names: &[
        ("new", 0x01),
        ("est", 0x02),
        ("rel", 0x04),
        ("rpl", 0x08),
        ("inv", 0x10),
        ("trk", 0x20),
        ("snat", 0x40),
        ("dnat", 0x80),
    ],
    valid: 0xff,
};

/// TCP header flag bits (the 12-bit field, three bits reserved).
pub(super) const TCP_FLAGS: FlagSet = FlagSet {
    kind: "TCP",
    names: &[
        ("fin", 0x001),
        ("syn", 0x002),
        ("rst", 0x004),
        ("psh", 0x008),
        ("ack", 0x010),
        ("urg", 0x020),
        ("ece", 0x040),
        ("cwr", 0x080),
        ("ns", 0x100),
    ],
    valid: 0xfff,
};

/// Tunnel flag bits.
pub(super) const TUN_FLAGS: FlagSet = FlagSet {
    kind: "tunnel",
    names: &[("oam", 0x1)],
    valid: 0x1,
};

/// Fragment selectors: name, value, mask (bit 0 "is a fragment", bit 1 "a later one").
pub(super) const FRAG_NAMES: [(&str, u8, u8); 5] = [
    ("no", 0, 1),
    ("yes", 1, 1),
    ("first", 1, 3),
    ("later", 3, 3),
    ("not_later", 0, 2),
];

/// `+a-b` (masked), `a|b` (exact), or a number with optional mask.
fn parse_flags(text: &str, set: &FlagSet) -> Result<Parsed, E> {
    let unknown = |t: &str| E::UnknownFlag {
        text: t.to_string(),
        kind: set.kind,
    };
    let lookup = |name: &str| set.names.iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
    if text.starts_with(['+', '-']) {
        let (mut value, mut mask) = (0u32, 0u32);
        let mut rest = text;
        while let Some(sign) = rest.chars().next() {
            rest = &rest[1..];
            let len = rest.find(['+', '-']).unwrap_or(rest.len());
            let bit = lookup(&rest[..len]).ok_or_else(|| unknown(rest))?;
            if mask & bit != 0 {
                return Err(E::RepeatedFlag {
                    text: rest.to_string(),
                    kind: set.kind,
                });
            }
            mask |= bit;
            if sign == '+' {
                value |= bit;
            }
            rest = &rest[len..];
        }
        return Ok((u128::from(value), Some(u128::from(mask))));
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        let (v, mk) = match text.split_once('/') {
            Some((v, mk)) => (v, Some(mk)),
            None => (text, None),
        };
        let num = |s: &str| match parse_int(s) {
            Ok(n) if n & !u128::from(set.valid) == 0 => Ok(n),
            _ => Err(unknown(text)),
        };
        let value = num(v)?;
        let mask = mk.map(num).transpose()?;
        return Ok((value, mask));
    }
    let mut value = 0u32;
    for name in text.split('|') {
        value |= lookup(name).ok_or_else(|| unknown(text))?;
    }
    Ok((u128::from(value), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Match, String> {
        parse_match(s).map(|(m, _)| m).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_read_like_strtoull() {
        assert!(matches!(parse_int("010"), Ok(8)));
        assert!(matches!(parse_int("0x1F"), Ok(31)));
        assert!(matches!(parse_int("0"), Ok(0)));
        assert!(matches!(parse_int("-1"), Err(IntError::Overflow)));
        assert!(matches!(parse_int("0x"), Err(IntError::Syntax)));
        assert!(matches!(parse_int("09"), Err(IntError::Syntax)));
    }

    #[test]
    fn a_field_named_twice_keeps_the_last_value() {
        let m = parse("reg0=0x5/0xf,reg0=0x3/0xf0").unwrap_or_default();
        assert_eq!(m.get(Field::Reg0), (0, 0xf0));
    }

    #[test]
    fn flags_parse_in_all_three_forms() {
        let m = parse("ct_state=+trk-new").unwrap_or_default();
        assert_eq!(m.get(Field::CtState), (0x20, 0x21));
        let m = parse("ct_state=new|trk").unwrap_or_default();
        assert_eq!(m.get(Field::CtState), (0x21, 0xffff_ffff));
        let m = parse("tcp,tcp_flags=0x002/0x0ff").unwrap_or_default();
        assert_eq!(m.get(Field::TcpFlags), (0x2, 0xff));
    }

    #[test]
    fn errors_name_the_bad_text() {
        assert_eq!(parse("bogus=1").unwrap_err(), "unknown keyword bogus");
        assert_eq!(parse("TCP").unwrap_err(), "field TCP missing value");
        assert_eq!(
            parse("reg0=0x1g").unwrap_err(),
            "0x1g: bad syntax for reg0 value"
        );
        assert_eq!(
            parse("tcp,tcp_flags=+syn+foo-ack").unwrap_err(),
            "foo-ack: unknown TCP flag(s)"
        );
        assert_eq!(
            parse("tp_src=65536").unwrap_err(),
            "65536: value too large for 2-byte field tcp_src"
        );
        assert_eq!(
            parse("conj_id=1/1").unwrap_err(),
            "1/1: invalid mask for field conj_id"
        );
    }
}
