//! Subfields: a run of bits inside a field, as `move:`, `load:`, `learn` and `ct(zone=...)`
//! name them.
//!
//! Text syntax (ovs-actions(7)): `NAME[]` (the whole field), `NAME[bit]`, `NAME[start..end]`
//! (inclusive), or a bare `NAME` for the whole field. `NAME` is an NXM/OXM header name
//! (`NXM_NX_REG0`, `OXM_OF_METADATA`) or an OVS field name (`reg0`, `tun_id`). Printing always
//! uses the header name, NXM preferred, and `[]` when the whole field is selected, as
//! `ovs-ofctl` does.

use core::fmt;

use crate::field::Field;

/// Bits `ofs .. ofs + n_bits` (counting from the least significant bit) of `field`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subfield {
    /// The field.
    pub field: Field,
    /// The first (least significant) bit.
    pub ofs: u16,
    /// How many bits; at least 1.
    pub n_bits: u16,
}

/// Why a subfield was rejected; each variant names the text it was given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubfieldError {
    /// The name is neither a field name nor an NXM/OXM header name.
    #[error("{text}: unknown field `{name}'")]
    UnknownField {
        /// The whole subfield text.
        text: String,
        /// The unknown name.
        name: String,
    },
    /// The bracket part is malformed.
    #[error("{0}: syntax error expecting [] or [<bit>] or [<start>..<end>]")]
    Syntax(String),
    /// `[a..b]` with `a > b`.
    #[error("{text}: starting bit {start} is after ending bit {end}")]
    Reversed {
        /// The whole subfield text.
        text: String,
        /// The starting bit.
        start: u32,
        /// The ending bit.
        end: u32,
    },
    /// The range starts past the field's width.
    #[error("{text}: starting bit {start} is not valid because field is only {width} bits wide")]
    StartTooWide {
        /// The whole subfield text.
        text: String,
        /// The starting bit.
        start: u32,
        /// The field's width.
        width: u32,
    },
    /// The range runs past the field's width.
    #[error("{text}: ending bit {end} is not valid because field is only {width} bits wide")]
    TooWide {
        /// The whole subfield text.
        text: String,
        /// The ending bit.
        end: u32,
        /// The field's width.
        width: u32,
    },
    /// The field has no NXM/OXM header, so no action can address it.
    #[error("{0}: field cannot be used as a subfield")]
    NoHeader(String),
}

impl Subfield {
    /// The whole of `field`.
    pub fn whole(field: Field) -> Self {
        Self {
            field,
            ofs: 0,
            n_bits: width(field),
        }
    }

    /// Parses a complete subfield (`NXM_NX_REG0[0..3]`); trailing text is an error.
    pub fn parse(s: &str) -> Result<Self, SubfieldError> {
        let (sf, rest) = Self::parse_prefix(s)?;
        if rest.is_empty() {
            Ok(sf)
        } else {
            Err(SubfieldError::Syntax(s.to_string()))
        }
    }

    /// Parses a subfield at the start of `s`, returning it and the text after it (for
    /// `src->dst` forms).
    pub fn parse_prefix(s: &str) -> Result<(Self, &str), SubfieldError> {
        let name_len = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let (name, rest) = s.split_at(name_len);
        let field = Field::from_nxm_name(name)
            .or_else(|| Field::from_name(name))
            .ok_or_else(|| SubfieldError::UnknownField {
                text: s.to_string(),
                name: name.to_string(),
            })?;
        if field.info().nxm_name.is_none() {
            return Err(SubfieldError::NoHeader(s.to_string()));
        }
        let width = u32::from(width(field));
        let Some(inner_and_rest) = rest.strip_prefix('[') else {
            return Ok((Self::whole(field), rest));
        };
        let syntax = || SubfieldError::Syntax(s.to_string());
        let (inner, after) = inner_and_rest.split_once(']').ok_or_else(syntax)?;
        let (start, end) = if inner.is_empty() {
            (0, width - 1)
        } else if let Some((a, b)) = inner.split_once("..") {
            (
                bit_number(a).ok_or_else(syntax)?,
                bit_number(b).ok_or_else(syntax)?,
            )
        } else {
            let bit = bit_number(inner).ok_or_else(syntax)?;
            (bit, bit)
        };
        let text = &s[..s.len() - after.len()];
        if start > end {
            return Err(SubfieldError::Reversed {
                text: text.to_string(),
                start,
                end,
            });
        }
        if start >= width {
            return Err(SubfieldError::StartTooWide {
                text: text.to_string(),
                start,
                width,
            });
        }
        if end >= width {
            return Err(SubfieldError::TooWide {
                text: text.to_string(),
                end,
                width,
            });
        }
        // Both bounds are below `width`, which is at most 128.
        let sf = Self {
            field,
            ofs: start as u16,
            n_bits: (end - start + 1) as u16,
        };
        Ok((sf, after))
    }

    /// True when the subfield covers its whole field.
    pub fn is_whole(&self) -> bool {
        self.ofs == 0 && self.n_bits == width(self.field)
    }
}

/// `NXM_NX_REG0[0..3]`, `NXM_OF_ETH_DST[]`, `NXM_NX_REG0[5]`.
impl fmt::Display for Subfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.field.info();
        let name = info.nxm_name.unwrap_or(info.names[0]);
        if self.is_whole() {
            write!(f, "{name}[]")
        } else if self.n_bits == 1 {
            write!(f, "{name}[{}]", self.ofs)
        } else {
            write!(f, "{name}[{}..{}]", self.ofs, self.ofs + self.n_bits - 1)
        }
    }
}

/// A field's width as actions see it. `in_port` and `arp_op` are 16 bits in OpenFlow even
/// though the key stores them differently.
fn width(field: Field) -> u16 {
    match field {
        Field::InPort | Field::ArpOp => 16,
        _ => field.bits() as u16,
    }
}

/// A decimal bit number (no sign, no spaces).
fn bit_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> String {
        Subfield::parse(s).map_or_else(|e| e.to_string(), |sf| sf.to_string())
    }

    #[test]
    fn prints_header_names_and_whole_fields_as_empty_brackets() {
        assert_eq!(round_trip("reg0[0..3]"), "NXM_NX_REG0[0..3]");
        assert_eq!(
            round_trip("NXM_OF_VLAN_TCI[0..11]"),
            "NXM_OF_VLAN_TCI[0..11]"
        );
        assert_eq!(round_trip("tunnel_id[0..63]"), "NXM_NX_TUN_ID[]");
        assert_eq!(round_trip("OXM_OF_TUNNEL_ID[]"), "NXM_NX_TUN_ID[]");
        assert_eq!(round_trip("reg0[5]"), "NXM_NX_REG0[5]");
        assert_eq!(round_trip("reg0"), "NXM_NX_REG0[]");
        assert_eq!(round_trip("metadata[0..3]"), "OXM_OF_METADATA[0..3]");
        assert_eq!(round_trip("xreg0[0..3]"), "OXM_OF_PKT_REG0[0..3]");
        assert_eq!(round_trip("in_port[]"), "NXM_OF_IN_PORT[]");
    }

    #[test]
    fn errors_use_ovs_ofctl_wording() {
        assert_eq!(
            round_trip("reg0[3..1]"),
            "reg0[3..1]: starting bit 3 is after ending bit 1"
        );
        assert_eq!(
            round_trip("reg0[0..32]"),
            "reg0[0..32]: ending bit 32 is not valid because field is only 32 bits wide"
        );
        assert_eq!(
            round_trip("reg0[x]"),
            "reg0[x]: syntax error expecting [] or [<bit>] or [<start>..<end>]"
        );
        assert_eq!(round_trip("bogus[]"), "bogus[]: unknown field `bogus'");
        assert_eq!(round_trip("REG0[]"), "REG0[]: unknown field `REG0'");
    }

    #[test]
    fn parse_prefix_leaves_the_rest() {
        let (sf, rest) = Subfield::parse_prefix("NXM_NX_REG0[0..3]->NXM_NX_REG1[]").unwrap();
        assert_eq!(
            sf,
            Subfield {
                field: Field::Reg0,
                ofs: 0,
                n_bits: 4
            }
        );
        assert_eq!(rest, "->NXM_NX_REG1[]");
    }
}
