//! Ports' OpenFlow features and speeds (`curr`, `advertised`, `supported`, `peer`,
//! `curr_speed`, `max_speed` of a port description) from their devices' link settings, as
//! Open vSwitch's Linux netdevs derive them from `ethtool`.
//!
//! Measured with Open vSwitch 3.1's userspace datapath: TAP (internal) and veth (system)
//! ports show `current: 10GB-FD COPPER` and `speed: 10000 Mbps now, 0 Mbps max` (their
//! drivers say 10 Gb/s, full duplex, twisted pair, and list no supported modes); patch,
//! GRE and VXLAN ports and `--enable-dummy` dummy ports show no features and 0 Mb/s. So a
//! port without link settings ([`fvs_netdev::Netdev::link_settings`] is `None`) gets
//! [`PortFeatures::default`], all zero.
//!
//! # Where the values are read
//!
//! A device's settings are read when it is opened (by the reconciler, which owns it then)
//! and again in each round of the interfaces' status ([`super::stats`], on the datapath
//! thread, which owns it then), so a link whose speed changes shows the new one within a
//! round. Port descriptions read the cache ([`super::Handle::port_features`]): an OpenFlow
//! request never touches a device.
//!
//! The bits are in OpenFlow 1.1+'s layout ([`fvs_openflow::wire::port::ofppf`]); a port
//! description for OpenFlow 1.0 moves them to 1.0's with
//! [`fvs_openflow::wire::port::features_to_of10`].

use fvs_netdev::LinkSettings;
use fvs_openflow::wire::PortDesc;
use fvs_openflow::wire::port::ofppf;

/// A port's feature bits (1.1+'s layout) and speeds in kb/s, as port descriptions carry them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortFeatures {
    /// Current features: the speed and duplex in use, the medium, autonegotiation.
    pub curr: u32,
    /// Advertised features.
    pub advertised: u32,
    /// Supported features.
    pub supported: u32,
    /// Features the link partner advertises.
    pub peer: u32,
    /// The current speed in kb/s (the fastest speed bit of `curr`).
    pub curr_speed: u32,
    /// The maximum speed in kb/s (the fastest speed bit of `supported`).
    pub max_speed: u32,
}

/// ethtool's `SUPPORTED_*` / `ADVERTISED_*` link mode bits and the feature each stands for.
const ETHTOOL_MODES: [(u32, u32); 15] = [
    (1 << 0, ofppf::HD_10MB),  // 10baseT_Half
    (1 << 1, ofppf::FD_10MB),  // 10baseT_Full
    (1 << 2, ofppf::HD_100MB), // 100baseT_Half
    (1 << 3, ofppf::FD_100MB), // 100baseT_Full
    (1 << 4, ofppf::HD_1GB),   // 1000baseT_Half
    (1 << 5, ofppf::FD_1GB),   // 1000baseT_Full
    (1 << 12, ofppf::FD_10GB), // 10000baseT_Full
    (1 << 23, ofppf::FD_40GB), // 40000baseKR4_Full
    (1 << 24, ofppf::FD_40GB), // 40000baseCR4_Full
    (1 << 25, ofppf::FD_40GB), // 40000baseSR4_Full
    (1 << 26, ofppf::FD_40GB), // 40000baseLR4_Full
    (1 << 7, ofppf::COPPER),   // TP
    (1 << 10, ofppf::FIBER),   // FIBRE
    (1 << 6, ofppf::AUTONEG),  // Autoneg
    (1 << 13, ofppf::PAUSE),   // Pause
];
/// ethtool's `SUPPORTED_Asym_Pause`, kept apart so the table above stays one kind of thing.
const ETHTOOL_ASYM_PAUSE: u32 = 1 << 14;

/// The speed bits from the fastest down, with their rates in kb/s.
const SPEEDS_KBPS: [(u32, u32); 7] = [
    (ofppf::FD_1TB, 1_000_000_000),
    (ofppf::FD_100GB, 100_000_000),
    (ofppf::FD_40GB, 40_000_000),
    (ofppf::FD_10GB, 10_000_000),
    (ofppf::FD_1GB | ofppf::HD_1GB, 1_000_000),
    (ofppf::FD_100MB | ofppf::HD_100MB, 100_000),
    (ofppf::FD_10MB | ofppf::HD_10MB, 10_000),
];

/// The features of ethtool link modes `modes`.
fn modes(modes: u32) -> u32 {
    let mut f = ETHTOOL_MODES
        .iter()
        .filter(|(bit, _)| modes & bit != 0)
        .fold(0, |f, (_, feature)| f | feature);
    if modes & ETHTOOL_ASYM_PAUSE != 0 {
        f |= ofppf::PAUSE_ASYM;
    }
    f
}

/// The current speed's feature bit: 10 to 1000 Mb/s by duplex (an unknown duplex counts as
/// full, as a nonzero ethtool duplex does for Open vSwitch), faster ones full duplex only;
/// a speed OpenFlow has no bit for, or none, gives none.
fn speed_bit(s: &LinkSettings) -> u32 {
    let half = s.full_duplex == Some(false);
    let pick = |hd: u32, fd: u32| if half { hd } else { fd };
    match s.speed_mbps {
        Some(10) => pick(ofppf::HD_10MB, ofppf::FD_10MB),
        Some(100) => pick(ofppf::HD_100MB, ofppf::FD_100MB),
        Some(1000) => pick(ofppf::HD_1GB, ofppf::FD_1GB),
        Some(10_000) => ofppf::FD_10GB,
        Some(40_000) => ofppf::FD_40GB,
        Some(100_000) => ofppf::FD_100GB,
        Some(1_000_000) => ofppf::FD_1TB,
        _ => 0,
    }
}

/// The rate in kb/s of the fastest speed bit in `features`, 0 when it has none.
pub fn speed_kbps(features: u32) -> u32 {
    SPEEDS_KBPS
        .iter()
        .find(|(bits, _)| features & bits != 0)
        .map_or(0, |(_, kbps)| *kbps)
}

impl PortFeatures {
    /// The features the daemon's datapath last read for the device named `name` (none
    /// without a datapath or a device of that name).
    pub fn of(daemon: &crate::Daemon, name: &str) -> Self {
        daemon
            .datapath()
            .map(|d| d.port_features(name))
            .unwrap_or_default()
    }

    /// `desc` with these features and speeds.
    pub fn describe(self, desc: PortDesc) -> PortDesc {
        PortDesc {
            curr: self.curr,
            advertised: self.advertised,
            supported: self.supported,
            peer: self.peer,
            curr_speed: self.curr_speed,
            max_speed: self.max_speed,
            ..desc
        }
    }

    /// The features of a device whose driver reports `settings`; none without.
    pub fn from_settings(settings: Option<&LinkSettings>) -> Self {
        let Some(s) = settings else {
            return Self::default();
        };
        let mut curr = speed_bit(s);
        if s.twisted_pair {
            curr |= ofppf::COPPER;
        } else if s.fibre {
            curr |= ofppf::FIBER;
        }
        if s.autoneg {
            curr |= ofppf::AUTONEG;
        }
        let supported = modes(s.supported);
        Self {
            curr,
            advertised: modes(s.advertising),
            supported,
            peer: modes(s.peer_advertising),
            curr_speed: speed_kbps(curr),
            max_speed: speed_kbps(supported),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the tun and veth drivers report: 10 Gb/s, full duplex, twisted pair, no modes.
    fn tap() -> LinkSettings {
        LinkSettings {
            speed_mbps: Some(10_000),
            full_duplex: Some(true),
            twisted_pair: true,
            ..LinkSettings::default()
        }
    }

    #[test]
    fn tap_and_veth_show_10gb_copper_and_no_maximum() {
        // Open vSwitch 3.1: `current: 10GB-FD COPPER`, `speed: 10000 Mbps now, 0 Mbps max`.
        let f = PortFeatures::from_settings(Some(&tap()));
        assert_eq!(f.curr, ofppf::FD_10GB | ofppf::COPPER);
        assert_eq!((f.advertised, f.supported, f.peer), (0, 0, 0));
        assert_eq!((f.curr_speed, f.max_speed), (10_000_000, 0));
    }

    #[test]
    fn devices_without_settings_have_no_features() {
        assert_eq!(PortFeatures::from_settings(None), PortFeatures::default());
    }

    #[test]
    fn a_gigabit_nic_reports_its_modes() {
        let s = LinkSettings {
            speed_mbps: Some(1000),
            full_duplex: Some(true),
            twisted_pair: true,
            autoneg: true,
            // 10/100/1000 both duplexes, autoneg, TP, pause.
            supported: 0x3f | (1 << 6) | (1 << 7) | (1 << 13),
            advertising: (1 << 5) | (1 << 6),
            peer_advertising: 1 << 5,
            ..LinkSettings::default()
        };
        let f = PortFeatures::from_settings(Some(&s));
        assert_eq!(f.curr, ofppf::FD_1GB | ofppf::COPPER | ofppf::AUTONEG);
        assert_eq!(
            f.supported,
            0x3f | ofppf::AUTONEG | ofppf::COPPER | ofppf::PAUSE
        );
        assert_eq!(f.advertised, ofppf::FD_1GB | ofppf::AUTONEG);
        assert_eq!(f.peer, ofppf::FD_1GB);
        assert_eq!((f.curr_speed, f.max_speed), (1_000_000, 1_000_000));
    }

    #[test]
    fn half_duplex_and_unlisted_speeds() {
        let half = LinkSettings {
            speed_mbps: Some(100),
            full_duplex: Some(false),
            ..LinkSettings::default()
        };
        assert_eq!(
            PortFeatures::from_settings(Some(&half)).curr,
            ofppf::HD_100MB
        );
        let odd = LinkSettings {
            speed_mbps: Some(2500),
            fibre: true,
            ..LinkSettings::default()
        };
        let f = PortFeatures::from_settings(Some(&odd));
        assert_eq!((f.curr, f.curr_speed), (ofppf::FIBER, 0));
    }
}
