//! The OpenFlow actions the pipeline executes, with their `ovs-ofctl` text.
//!
//! TODO(a4): this is a local stand-in for `fvs_openflow::Action` (all of ovs-actions(7)), kept
//! to the actions the Neutron tables use. When that model lands, rules will hold it and this
//! module shrinks to the conversion into what translation executes.

use crate::dpif::Mac;
use crate::port::OfPort;
use core::fmt;
use fvs_flow::{Field, FlowKey};

/// A bit range of a field: `NXM_OF_VLAN_TCI[0..11]`.
// TODO(a4): replace with fvs_flow's Subfield when it lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subfield {
    /// The field.
    pub field: Field,
    /// First bit, counted from the least significant.
    pub ofs: u8,
    /// Number of bits.
    pub n_bits: u8,
}

impl Subfield {
    /// The whole field (`FIELD[]`).
    pub fn whole(field: Field) -> Self {
        Self {
            field,
            ofs: 0,
            n_bits: nxm_width(field),
        }
    }

    /// Reads these bits of `key`, right-aligned.
    pub fn read(&self, key: &FlowKey) -> u128 {
        (key.get(self.field.loc()) >> self.ofs) & low_mask(self.n_bits)
    }

    /// Writes `value` (right-aligned) into these bits of `key`.
    pub fn write(&self, key: &mut FlowKey, value: u128) {
        let loc = self.field.loc();
        let m = low_mask(self.n_bits) << self.ofs;
        let old = key.get(loc);
        key.set(loc, (old & !m) | ((value << self.ofs) & m));
    }

    /// Sets these bits in `mask` (a mask is a key too).
    pub fn mark(&self, mask: &mut FlowKey) {
        self.write(mask, u128::MAX);
    }
}

impl fmt::Display for Subfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.field.info();
        let name = info.nxm_name.unwrap_or(info.names[0]);
        if self.ofs == 0 && self.n_bits == nxm_width(self.field) {
            write!(f, "{name}[]")
        } else if self.n_bits == 1 {
            write!(f, "{name}[{}]", self.ofs)
        } else {
            write!(
                f,
                "{name}[{}..{}]",
                self.ofs,
                u16::from(self.ofs) + u16::from(self.n_bits) - 1
            )
        }
    }
}

/// The width a field has in NXM subfield syntax (the 16-bit OpenFlow 1.0 `in_port` is narrower
/// than the 32 bits the key gives it).
pub fn nxm_width(field: Field) -> u8 {
    match field {
        Field::InPort => 16,
        other => other.loc().bits,
    }
}

fn low_mask(bits: u8) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// Where a learned rule's match or load takes its value from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    /// Bits of the packet being learned from.
    Field(Subfield),
    /// A constant.
    Imm(u128),
}

/// One clause of a `learn` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnSpec {
    /// The learned rule matches `dst` against `src`.
    Match {
        /// Field the learned rule matches.
        dst: Subfield,
        /// Value it must have.
        src: LearnSrc,
    },
    /// The learned rule loads `src` into `dst`.
    Load {
        /// Field the learned rule writes.
        dst: Subfield,
        /// Value it writes.
        src: LearnSrc,
    },
    /// The learned rule outputs to the port in `src` of the packet being learned from.
    Output {
        /// Port number source.
        src: Subfield,
    },
}

/// The `learn` action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Learn {
    /// Table the learned rule goes to.
    pub table: u8,
    /// Priority of the learned rule.
    pub priority: u16,
    /// Idle timeout of the learned rule, seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout of the learned rule, seconds (0 = none).
    pub hard_timeout: u16,
    /// Cookie of the learned rule.
    pub cookie: u64,
    /// What the learned rule matches and does.
    pub specs: Vec<LearnSpec>,
}

/// An action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `output:PORT` (also `NORMAL`, `FLOOD`, `ALL`, `IN_PORT`, `LOCAL`, `CONTROLLER`).
    Output {
        /// Port, possibly a reserved one.
        port: OfPort,
        /// Bytes to send to a controller.
        max_len: u16,
    },
    /// `resubmit(PORT,TABLE)`.
    Resubmit {
        /// Port to pretend the packet came in on, if not its own.
        port: Option<OfPort>,
        /// Table to look up, if not the current one.
        table: Option<u8>,
    },
    /// `goto_table:N`.
    GotoTable(u8),
    /// `mod_vlan_vid:V`: sets the VID, pushing a tag if there is none.
    SetVlanVid(u16),
    /// `mod_vlan_pcp:P`: sets the priority, pushing a tag if there is none.
    SetVlanPcp(u8),
    /// `strip_vlan`.
    StripVlan,
    /// `push_vlan:ETHERTYPE`.
    PushVlan(u16),
    /// `pop_vlan`.
    PopVlan,
    /// `mod_dl_src:MAC`.
    SetEthSrc(Mac),
    /// `mod_dl_dst:MAC`.
    SetEthDst(Mac),
    /// `set_tunnel:ID` (`set_tunnel64` when wider than 32 bits).
    SetTunnel(u64),
    /// `set_field:VALUE->FIELD` over the whole field.
    SetField {
        /// Field written.
        field: Field,
        /// Value.
        value: u128,
    },
    /// `load:VALUE->DST`.
    Load {
        /// Destination bits.
        dst: Subfield,
        /// Value.
        value: u128,
    },
    /// `move:SRC->DST`.
    Move {
        /// Source bits.
        src: Subfield,
        /// Destination bits (same width).
        dst: Subfield,
    },
    /// `learn(...)`.
    Learn(Learn),
}

/// Prints a list the way `dump-flows` does: comma-separated, `drop` when empty.
pub fn format_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "drop".to_owned();
    }
    actions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `%#x` as C prints it: `0` for zero, `0x…` otherwise.
fn hex(v: u128) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    }
}

/// Reserved port names as actions print them.
fn port_name(port: OfPort) -> String {
    match port {
        OfPort::IN_PORT => "IN_PORT".to_owned(),
        OfPort::NORMAL => "NORMAL".to_owned(),
        OfPort::FLOOD => "FLOOD".to_owned(),
        OfPort::ALL => "ALL".to_owned(),
        OfPort::LOCAL => "LOCAL".to_owned(),
        OfPort::CONTROLLER => "CONTROLLER".to_owned(),
        OfPort::NONE => "ANY".to_owned(),
        OfPort(n) => n.to_string(),
    }
}

impl fmt::Display for LearnSrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(sf) => write!(f, "{sf}"),
            Self::Imm(v) => f.write_str(&hex(*v)),
        }
    }
}

impl fmt::Display for Learn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "learn(table={}", self.table)?;
        if self.idle_timeout != 0 {
            write!(f, ",idle_timeout={}", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(f, ",hard_timeout={}", self.hard_timeout)?;
        }
        if self.priority != crate::rule::DEFAULT_PRIORITY {
            write!(f, ",priority={}", self.priority)?;
        }
        if self.cookie != 0 {
            write!(f, ",cookie={:#x}", self.cookie)?;
        }
        for spec in &self.specs {
            match spec {
                LearnSpec::Match {
                    dst,
                    src: LearnSrc::Field(src),
                } if src == dst => write!(f, ",{dst}")?,
                LearnSpec::Match { dst, src } => write!(f, ",{dst}={src}")?,
                LearnSpec::Load { dst, src } => write!(f, ",load:{src}->{dst}")?,
                LearnSpec::Output { src } => write!(f, ",output:{src}")?,
            }
        }
        f.write_str(")")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output { port, max_len } => match *port {
                OfPort::CONTROLLER => write!(f, "CONTROLLER:{max_len}"),
                OfPort(n) if n < 0xff00 => write!(f, "output:{n}"),
                p => f.write_str(&port_name(p)),
            },
            Self::Resubmit { port, table } => match (port, table) {
                (Some(p), None) => write!(f, "resubmit:{}", port_name(*p)),
                (p, t) => write!(
                    f,
                    "resubmit({},{})",
                    p.map(port_name).unwrap_or_default(),
                    t.map(|t| t.to_string()).unwrap_or_default()
                ),
            },
            Self::GotoTable(t) => write!(f, "goto_table:{t}"),
            Self::SetVlanVid(v) => write!(f, "mod_vlan_vid:{v}"),
            Self::SetVlanPcp(p) => write!(f, "mod_vlan_pcp:{p}"),
            Self::StripVlan => f.write_str("strip_vlan"),
            Self::PushVlan(t) => write!(f, "push_vlan:{t:#x}"),
            Self::PopVlan => f.write_str("pop_vlan"),
            Self::SetEthSrc(m) => write!(f, "mod_dl_src:{m}"),
            Self::SetEthDst(m) => write!(f, "mod_dl_dst:{m}"),
            Self::SetTunnel(id) if *id > u64::from(u32::MAX) => write!(f, "set_tunnel64:{id:#x}"),
            Self::SetTunnel(id) => write!(f, "set_tunnel:{id:#x}"),
            Self::SetField { field, value } => write!(f, "set_field:{value}->{}", field.name()),
            Self::Load { dst, value } => write!(f, "load:{}->{dst}", hex(*value)),
            Self::Move { src, dst } => write!(f, "move:{src}->{dst}"),
            Self::Learn(l) => write!(f, "{l}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subfields_read_write_and_print_in_nxm_syntax() {
        let tci = Subfield {
            field: Field::VlanTci,
            ofs: 0,
            n_bits: 12,
        };
        assert_eq!(tci.to_string(), "NXM_OF_VLAN_TCI[0..11]");
        assert_eq!(
            Subfield::whole(Field::InPort).to_string(),
            "NXM_OF_IN_PORT[]"
        );
        let mut k = FlowKey::ZERO;
        Subfield::whole(Field::VlanTci).write(&mut k, 0x1005);
        assert_eq!(tci.read(&k), 5);
        tci.write(&mut k, 7);
        assert_eq!(Subfield::whole(Field::VlanTci).read(&k), 0x1007);
    }

    #[test]
    fn loads_print_zero_without_prefix() {
        let a = Action::Load {
            dst: Subfield::whole(Field::VlanTci),
            value: 0,
        };
        assert_eq!(a.to_string(), "load:0->NXM_OF_VLAN_TCI[]");
        assert_eq!(
            Action::Resubmit {
                port: None,
                table: Some(3)
            }
            .to_string(),
            "resubmit(,3)"
        );
        assert_eq!(format_actions(&[]), "drop");
    }
}
