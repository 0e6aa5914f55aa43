//! Single OpenFlow protocol variants (one member of a [`Protocols`] set), their names as
//! ovs-ofctl prints them, and how a set is abbreviated (`any`, `OXM`, `NXM+table_id`).
//!
//! ovs-ofctl picks the *lowest* member of (usable ∩ allowed) in this enum's order, so the
//! order is part of the interface.

use fvs_flow::Protocols;

/// One protocol variant, in ovs-ofctl's preference order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// OpenFlow 1.0 standard match, no table-id extension.
    Of10Std,
    /// OpenFlow 1.0 standard match with the table-id extension.
    Of10StdTid,
    /// OpenFlow 1.0 with NXM, no table-id extension.
    Of10Nxm,
    /// OpenFlow 1.0 with NXM and the table-id extension.
    Of10NxmTid,
    /// OpenFlow 1.1.
    Of11,
    /// OpenFlow 1.2 (OXM).
    Of12,
    /// OpenFlow 1.3 (OXM).
    Of13,
    /// OpenFlow 1.4 (OXM).
    Of14,
    /// OpenFlow 1.5 (OXM).
    Of15,
}

impl Protocol {
    /// Every variant, in preference order.
    pub const ALL: [Self; 9] = [
        Self::Of10Std,
        Self::Of10StdTid,
        Self::Of10Nxm,
        Self::Of10NxmTid,
        Self::Of11,
        Self::Of12,
        Self::Of13,
        Self::Of14,
        Self::Of15,
    ];

    /// The one-member set.
    pub const fn bit(self) -> Protocols {
        match self {
            Self::Of10Std => Protocols::OF10_STD,
            Self::Of10StdTid => Protocols::OF10_STD_TID,
            Self::Of10Nxm => Protocols::OF10_NXM,
            Self::Of10NxmTid => Protocols::OF10_NXM_TID,
            Self::Of11 => Protocols::OF11_STD,
            Self::Of12 => Protocols::OF12_OXM,
            Self::Of13 => Protocols::OF13_OXM,
            Self::Of14 => Protocols::OF14_OXM,
            Self::Of15 => Protocols::OF15_OXM,
        }
    }

    /// The name ovs-ofctl prints after `chosen protocol:`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Of10Std => "OpenFlow10-table_id",
            Self::Of10StdTid => "OpenFlow10+table_id",
            Self::Of10Nxm => "NXM-table_id",
            Self::Of10NxmTid => "NXM+table_id",
            Self::Of11 => "OpenFlow11",
            Self::Of12 => "OXM-OpenFlow12",
            Self::Of13 => "OXM-OpenFlow13",
            Self::Of14 => "OXM-OpenFlow14",
            Self::Of15 => "OXM-OpenFlow15",
        }
    }

    /// The OpenFlow version number carried in the header (1 = 1.0 … 6 = 1.5).
    pub const fn version(self) -> u8 {
        match self {
            Self::Of10Std | Self::Of10StdTid | Self::Of10Nxm | Self::Of10NxmTid => 1,
            Self::Of11 => 2,
            Self::Of12 => 3,
            Self::Of13 => 4,
            Self::Of14 => 5,
            Self::Of15 => 6,
        }
    }

    /// True for the OpenFlow 1.0 variants that use NXM flow-mods.
    pub const fn is_nxm(self) -> bool {
        matches!(self, Self::Of10Nxm | Self::Of10NxmTid)
    }

    /// True for OpenFlow 1.0 (any variant).
    pub const fn is_of10(self) -> bool {
        self.version() == 1
    }

    /// True when flow-mods carry a table id (everything but plain OpenFlow 1.0 / NXM).
    pub const fn has_table_id(self) -> bool {
        !matches!(self, Self::Of10Std | Self::Of10Nxm)
    }

    /// The lowest-ordered member of `set`, as ovs-ofctl chooses.
    pub fn first_in(set: Protocols) -> Option<Self> {
        Self::ALL.into_iter().find(|p| set.contains(p.bit()))
    }
}

/// Every protocol of an OpenFlow version, by its `-O` name (`OpenFlow13`, any case).
pub fn protocols_for_version_name(name: &str) -> Option<Protocols> {
    Some(match name.to_ascii_lowercase().as_str() {
        "openflow10" => Protocols::OF10_STD_ANY.or(Protocols::NXM_ANY),
        "openflow11" => Protocols::OF11_STD,
        "openflow12" => Protocols::OF12_OXM,
        "openflow13" => Protocols::OF13_OXM,
        "openflow14" => Protocols::OF14_OXM,
        "openflow15" => Protocols::OF15_OXM,
        _ => return None,
    })
}

/// Abbreviations tried, in order, before single names when printing a set.
const ABBREVIATIONS: [(Protocols, &str); 4] = [
    (Protocols::ANY, "any"),
    (Protocols::OF10_STD_ANY, "OpenFlow10"),
    (Protocols::NXM_ANY, "NXM"),
    (Protocols::OXM_ANY, "OXM"),
];

/// Prints a set as ovs-ofctl does after `usable protocols:`: greedily take the first
/// abbreviation wholly contained in what is left, else the first single protocol; join with
/// commas. The empty set prints as `none`.
pub fn protocols_to_string(set: Protocols) -> String {
    let mut left = set;
    let mut parts: Vec<&str> = Vec::new();
    while !left.is_empty() {
        if let Some((p, name)) = ABBREVIATIONS.iter().find(|(p, _)| left.contains(*p)) {
            parts.push(name);
            left = Protocols(left.0 & !p.0);
            continue;
        }
        match Protocol::first_in(left) {
            Some(p) => {
                parts.push(p.name());
                left = Protocols(left.0 & !p.bit().0);
            }
            // Bits outside the nine protocols: nothing ovs-ofctl could name.
            None => break,
        }
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_abbreviate_as_ovs_ofctl_prints_them() {
        assert_eq!(protocols_to_string(Protocols::ANY), "any");
        let tid = Protocols::OXM_ANY
            .or(Protocols::OF10_STD_TID)
            .or(Protocols::OF10_NXM_TID)
            .or(Protocols::OF11_STD);
        assert_eq!(
            protocols_to_string(tid),
            "OXM,OpenFlow10+table_id,NXM+table_id,OpenFlow11"
        );
        assert_eq!(
            protocols_to_string(Protocols::OF10_STD_ANY.or(Protocols::NXM_ANY)),
            "OpenFlow10,NXM"
        );
    }

    #[test]
    fn the_lowest_member_is_chosen() {
        assert_eq!(
            Protocol::first_in(Protocols::NXM_ANY.or(Protocols::OXM_ANY)),
            Some(Protocol::Of10Nxm)
        );
        assert_eq!(Protocol::first_in(Protocols::NONE), None);
    }
}
