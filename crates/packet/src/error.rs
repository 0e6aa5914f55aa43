//! Why a header could not be read.

use core::fmt;

/// The header an [`Error`] is about.
#[allow(missing_docs)] // the names are the protocols'
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    Mpls,
    Arp,
    Ipv4,
    Ipv6,
    Ipv6Extension,
    Icmpv4,
    Icmpv6,
    NeighborDiscovery,
    Tcp,
    Udp,
    Sctp,
    Gre,
    Vxlan,
    Geneve,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ethernet => "Ethernet",
            Self::Vlan => "802.1Q",
            Self::Mpls => "MPLS",
            Self::Arp => "ARP",
            Self::Ipv4 => "IPv4",
            Self::Ipv6 => "IPv6",
            Self::Ipv6Extension => "IPv6 extension header",
            Self::Icmpv4 => "ICMPv4",
            Self::Icmpv6 => "ICMPv6",
            Self::NeighborDiscovery => "neighbor discovery",
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
            Self::Gre => "GRE",
            Self::Vxlan => "VXLAN",
            Self::Geneve => "Geneve",
        })
    }
}

/// A header that cannot be read or is not the kind this crate handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the header (or a length field in it) needs.
    #[error("{layer} header truncated: needs {need} bytes, {have} present")]
    Truncated {
        /// The header.
        layer: Layer,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A length field smaller than the fixed header it describes.
    #[error("{layer} length field {value} is shorter than the header")]
    BadLength {
        /// The header.
        layer: Layer,
        /// The length the field claims, in bytes.
        value: usize,
    },
    /// A version field this crate does not read.
    #[error("{layer} version {value} is not supported")]
    BadVersion {
        /// The header.
        layer: Layer,
        /// The version found.
        value: u8,
    },
    /// A checksum that does not verify.
    #[error("{layer} checksum does not verify")]
    BadChecksum {
        /// The header.
        layer: Layer,
    },
    /// A well-formed header of a kind this crate does not handle (ARP over a non-Ethernet
    /// hardware type, a GRE payload that is not Ethernet, ...).
    #[error("{layer}: unsupported {what} {value:#x}")]
    Unsupported {
        /// The header.
        layer: Layer,
        /// What is unsupported ("hardware type", "protocol", ...).
        what: &'static str,
        /// Its value.
        value: u32,
    },
}

/// Fails with [`Error::Truncated`] unless `have >= need`.
pub(crate) fn need(layer: Layer, need: usize, have: usize) -> Result<(), Error> {
    if have < need {
        Err(Error::Truncated { layer, need, have })
    } else {
        Ok(())
    }
}
