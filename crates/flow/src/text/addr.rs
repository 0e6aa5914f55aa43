//! Address text: MAC, IPv4 and IPv6, parsed and printed as `ovs-ofctl` does.
//!
//! IPv6 printing follows glibc's `inet_ntop`, which `ovs-ofctl` uses: the longest run of two or
//! more zero groups becomes `::` (the first such run on a tie), and an address whose first six
//! groups exactly are zero (`::1.2.3.4`, while `::2` stays as it is) or that is IPv4-mapped
//! (`::ffff:1.2.3.4`) ends in dotted-quad form.

use core::fmt::Write as _;
use std::net::Ipv6Addr;

use fvs_packet::ethernet::MacAddr;

/// Parses `xx:xx:xx:xx:xx:xx` (one or two hex digits per group, either case) as the low 48
/// bits of a field value.
pub(crate) fn parse_ethernet(s: &str) -> Option<u128> {
    MacAddr::parse(s).map(|m| u128::from(m.to_u64()))
}

/// Prints a 48-bit value as `xx:xx:xx:xx:xx:xx`.
pub(crate) fn format_ethernet(out: &mut String, value: u128) {
    for i in (0..6).rev() {
        let byte = (value >> (i * 8)) as u8;
        let _ = write!(out, "{byte:02x}");
        if i != 0 {
            out.push(':');
        }
    }
}

/// Parses a dotted quad. Each part is decimal and, as in `ovs-ofctl`, keeps only its low eight
/// bits (`256.1.1.1` is `0.1.1.1`).
pub(crate) fn parse_ipv4(s: &str) -> Option<u128> {
    let mut value = 0u128;
    let mut parts = 0;
    for part in s.split('.') {
        if part.is_empty() || part.len() > 10 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = part.parse().ok()?;
        value = (value << 8) | u128::from(n & 0xff);
        parts += 1;
    }
    (parts == 4).then_some(value)
}

/// Prints a 32-bit value as a dotted quad.
pub(crate) fn format_ipv4(out: &mut String, value: u128) {
    let v = value as u32;
    let _ = write!(
        out,
        "{}.{}.{}.{}",
        v >> 24,
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff
    );
}

/// Parses an IPv6 address in any RFC 4291 text form.
pub(crate) fn parse_ipv6(s: &str) -> Option<u128> {
    s.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// Prints an IPv6 address as glibc's `inet_ntop` does.
pub(crate) fn format_ipv6(out: &mut String, value: u128) {
    let words: [u16; 8] = core::array::from_fn(|i| (value >> (112 - 16 * i)) as u16);
    // The longest run of zero groups, if at least two long; the first one wins a tie.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < 8 {
        if words[i] == 0 {
            let start = i;
            while i < 8 && words[i] == 0 {
                i += 1;
            }
            let len = i - start;
            if len >= 2 && best.is_none_or(|(_, l)| len > l) {
                best = Some((start, len));
            }
        } else {
            i += 1;
        }
    }
    let mut i = 0;
    while i < 8 {
        if let Some((start, len)) = best
            && i == start
        {
            out.push(':');
            i += len;
            if i == 8 {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        // An IPv4-compatible (`::a.b.c.d`) or IPv4-mapped (`::ffff:a.b.c.d`) tail.
        let embedded =
            i == 6 && (best == Some((0, 6)) || (best == Some((0, 5)) && words[5] == 0xffff));
        if embedded {
            format_ipv4(out, value & 0xffff_ffff);
            return;
        }
        let _ = write!(out, "{:x}", words[i]);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> String {
        let mut out = String::new();
        format_ipv6(&mut out, parse_ipv6(s).unwrap_or_default());
        out
    }

    #[test]
    fn ipv6_prints_like_inet_ntop() {
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::2"), "::2");
        assert_eq!(v6("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(v6("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(v6("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(v6("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(v6("0:0:0:0:0:1:0:0"), "::1:0:0");
        assert_eq!(v6("fe80::"), "fe80::");
    }

    #[test]
    fn ethernet_and_ipv4_round_trip() {
        let mut out = String::new();
        format_ethernet(
            &mut out,
            parse_ethernet("0:1:2:AA:bb:c").unwrap_or_default(),
        );
        assert_eq!(out, "00:01:02:aa:bb:0c");
        assert_eq!(parse_ethernet("00:11:22:33:44"), None);
        assert_eq!(parse_ipv4("256.1.1.1"), Some(0x0001_0101));
        assert_eq!(parse_ipv4("1.2.3"), None);
    }
}
