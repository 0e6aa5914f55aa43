//! Reading and writing fields and subfields of a flow key, with OpenFlow's views of them.
//!
//! Actions see a few fields differently from how the key stores them, and these helpers hide
//! that:
//!
//! - `in_port` is 32 bits in the key (OpenFlow 1.1+ numbering, so `LOCAL` is `0xfffffffe`) but
//!   16 bits as `NXM_OF_IN_PORT` (OpenFlow 1.0 numbering, `LOCAL` is `0xfffe`). Reads convert
//!   down, writes convert back up, so `output:NXM_OF_IN_PORT[]` learned from a packet that came
//!   in on `LOCAL` outputs to `LOCAL`.
//! - `vlan_vid` and `vlan_pcp` (and the OpenFlow 1.0 `dl_vlan`, `dl_vlan_pcp`) are views of
//!   `vlan_tci`; writing one of them also sets the "tag present" bit, as `set_field` does in
//!   Open vSwitch.
//!
//! These live here because only translation needs them so far; `fvs_flow::Subfield` has no
//! read/write over a `FlowKey`. When a second user appears (the datapath's field rewrites), they
//! belong in `fvs-flow` as methods of `Subfield`.

use fvs_flow::{Field, FlowKey, PortNo, Subfield};

/// The 802.1Q "tag present" bit of `vlan_tci`.
pub const VLAN_CFI: u128 = 0x1000;

/// The value of `field` in `key`, right-aligned, in the field's action view.
pub fn get(key: &FlowKey, field: Field) -> u128 {
    let raw = key.get(field.loc());
    match field {
        Field::InPort => in_port_view(raw),
        _ => raw,
    }
}

/// Writes `value` under `mask` (both right-aligned) into `field` of `key`, in the field's
/// action view (module docs).
pub fn set_masked(key: &mut FlowKey, field: Field, value: u128, mask: u128) {
    let tci = Field::VlanTci.loc();
    match field {
        Field::VlanVid | Field::DlVlan => {
            let m = mask & 0xfff;
            let old = key.get(tci);
            key.set(tci, (old & !m) | (value & m) | VLAN_CFI);
        }
        Field::VlanPcp | Field::DlVlanPcp => {
            let m = (mask & 7) << 13;
            let old = key.get(tci);
            key.set(tci, (old & !m) | ((value << 13) & m) | VLAN_CFI);
        }
        Field::InPort => {
            let old = in_port_view(key.get(field.loc()));
            let new = (old & !mask) | (value & mask);
            let port = PortNo::from_of10(u16::try_from(new & 0xffff).unwrap_or(u16::MAX));
            key.set(field.loc(), u128::from(port.0));
        }
        _ => {
            let loc = field.loc();
            let old = key.get(loc);
            key.set(loc, (old & !mask) | (value & mask));
        }
    }
}

/// Bits `sf` of `key`, right-aligned.
pub fn read(key: &FlowKey, sf: &Subfield) -> u128 {
    (get(key, sf.field) >> sf.ofs) & low_mask(sf.n_bits)
}

/// Writes `value` (right-aligned) into bits `sf` of `key`.
pub fn write(key: &mut FlowKey, sf: &Subfield, value: u128) {
    let mask = low_mask(sf.n_bits) << sf.ofs;
    set_masked(key, sf.field, value << sf.ofs, mask);
}

/// Marks the bits `sf` names in the mask `wc` (a megaflow mask: bits a decision read).
pub fn mark(wc: &mut FlowKey, sf: &Subfield) {
    let loc = sf.field.loc();
    let bits = match sf.field {
        // The 16-bit view covers the whole 32-bit port number.
        Field::InPort => u128::from(u32::MAX),
        _ => low_mask(sf.n_bits) << sf.ofs,
    };
    wc.set(loc, wc.get(loc) | bits);
}

/// Marks `bits` (right-aligned) of `field` in the mask `wc`.
pub fn mark_field(wc: &mut FlowKey, field: Field, bits: u128) {
    let loc = field.loc();
    wc.set(loc, wc.get(loc) | bits);
}

/// The packet's input port.
pub fn in_port(flow: &FlowKey) -> PortNo {
    PortNo(u32::try_from(flow.get(Field::InPort.loc())).unwrap_or(u32::MAX))
}

/// Sets the packet's input port.
pub fn set_in_port(flow: &mut FlowKey, port: PortNo) {
    flow.set(Field::InPort.loc(), u128::from(port.0));
}

/// The low `n` bits set (`n` ≤ 128).
pub fn low_mask(n: u16) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

/// The 16-bit OpenFlow 1.0 view of a 32-bit port number held in the key.
fn in_port_view(raw: u128) -> u128 {
    let port = PortNo(u32::try_from(raw).unwrap_or(u32::MAX));
    u128::from(port.to_of10().unwrap_or(u16::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(field: Field, ofs: u16, n_bits: u16) -> Subfield {
        Subfield { field, ofs, n_bits }
    }

    #[test]
    fn subfields_read_and_write_their_bits_only() {
        let mut k = FlowKey::ZERO;
        write(&mut k, &Subfield::whole(Field::VlanTci), 0x1005);
        assert_eq!(read(&k, &sf(Field::VlanTci, 0, 12)), 5);
        write(&mut k, &sf(Field::VlanTci, 0, 12), 7);
        assert_eq!(get(&k, Field::VlanTci), 0x1007);
    }

    #[test]
    fn in_port_is_16_bits_to_actions_and_keeps_local_local() {
        let mut k = FlowKey::ZERO;
        set_in_port(&mut k, PortNo::LOCAL);
        let v = read(&k, &Subfield::whole(Field::InPort));
        assert_eq!(v, 0xfffe);
        let mut k2 = FlowKey::ZERO;
        write(&mut k2, &Subfield::whole(Field::InPort), v);
        assert_eq!(in_port(&k2), PortNo::LOCAL);
    }

    #[test]
    fn vlan_views_set_the_present_bit() {
        let mut k = FlowKey::ZERO;
        set_masked(&mut k, Field::VlanVid, 5, u128::MAX);
        assert_eq!(get(&k, Field::VlanTci), 0x1005);
        set_masked(&mut k, Field::VlanPcp, 3, u128::MAX);
        assert_eq!(get(&k, Field::VlanTci), 0x7005);
    }
}
