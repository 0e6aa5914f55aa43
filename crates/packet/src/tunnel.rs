//! Building and taking apart tunnel frames: Ethernet over GRE, VXLAN or Geneve, over IPv4 or
//! IPv6.
//!
//! [`encapsulate`] is a pure function from an [`Encap`] (what a tunnel port's options and the
//! flow's `tun_*` fields say) and an inner Ethernet frame to the outer frame: Ethernet, IPv4
//! (DF as `df_default` says, TOS, TTL, header checksum) or IPv6 (traffic class from the TOS,
//! hop limit from the TTL, flow label 0 as Open vSwitch 3.1's userspace tunnels send it; DF
//! has no IPv6 field), then GRE (protocol 0x6558, key, optional checksum) or UDP + VXLAN or
//! UDP + Geneve. The family follows the addresses: both must be of one.
//!
//! [`decapsulate`] reverses it: it checks every outer header (IPv4 header checksum, no
//! fragments; IPv6's payload length within the frame, extension headers walked whole, no
//! fragments; GRE version 0 carrying Ethernet, UDP to the VXLAN or Geneve port, the VXLAN I
//! flag, Geneve version 0 carrying Ethernet, checksums when present) and returns the
//! [`TunnelMetadata`] with the inner frame, borrowed from the input. A zero UDP checksum is
//! accepted over IPv6 as over IPv4 (RFC 6935 allows it for tunnels, and Open vSwitch 3.1
//! takes such packets), though the datapath, like Open vSwitch, always sends one over IPv6;
//! [`encapsulate`] itself follows [`Encap::csum`].
//!
//! Tunnel flags use Open vSwitch's bit assignment: OAM is bit 0 (the only one the `tun_flags`
//! match field exposes), then don't-fragment, checksum and key, which a datapath uses
//! internally.

use std::net::IpAddr;

use crate::error::{Error, Layer, need};
use crate::ethernet::{self, EtherType, EthernetRepr, EthernetView, MacAddr};
use crate::geneve::{GeneveRepr, GeneveView};
use crate::gre::{GreRepr, GreView};
use crate::ip::IpProtocol;
use crate::ipv4::{Ipv4Repr, Ipv4View};
use crate::ipv6::{self, Ipv6Repr, Ipv6View};
use crate::udp::{self, UdpRepr, UdpView};
use crate::vxlan::{self, Vni, VxlanRepr, VxlanView};
use crate::{geneve, ipv4};

/// The kind of tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelProtocol {
    /// Ethernet over GRE (protocol 0x6558), the key carrying `tun_id`.
    Gre,
    /// VXLAN, the VNI carrying `tun_id`.
    Vxlan,
    /// Geneve, the VNI carrying `tun_id`.
    Geneve,
}

/// Tunnel flags (see the module docs for the bit assignment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TunnelFlags(pub u16);

impl TunnelFlags {
    /// A control (OAM) packet: Geneve's O flag.
    pub const OAM: u16 = 1 << 0;
    /// The outer IPv4 header had DF set.
    pub const DONT_FRAGMENT: u16 = 1 << 1;
    /// The tunnel header had a checksum (GRE C flag, non-zero UDP checksum).
    pub const CSUM: u16 = 1 << 2;
    /// The tunnel header carried a key (GRE K flag, any VNI).
    pub const KEY: u16 = 1 << 3;
    /// The bits a `tun_flags` match can see.
    pub const PUBLIC_MASK: u16 = Self::OAM;

    /// True when `bit` is set.
    pub const fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
}

/// What a received tunnel frame said about its tunnel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelMetadata {
    /// Which tunnel protocol.
    pub protocol: TunnelProtocol,
    /// The GRE key or VNI (0 when a GRE header has no key).
    pub tun_id: u64,
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// Outer TOS (IPv6: the traffic class).
    pub tos: u8,
    /// Outer TTL (IPv6: the hop limit).
    pub ttl: u8,
    /// Flags.
    pub flags: TunnelFlags,
    /// Outer UDP source port (0 for GRE).
    pub udp_src: u16,
    /// Outer UDP destination port (0 for GRE).
    pub udp_dst: u16,
    /// Geneve option bytes (empty otherwise).
    pub geneve_options: Vec<u8>,
}

/// How to build an outer frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encap {
    /// Which tunnel protocol.
    pub protocol: TunnelProtocol,
    /// Outer Ethernet source (the local interface's address).
    pub eth_src: MacAddr,
    /// Outer Ethernet destination (the next hop's address).
    pub eth_dst: MacAddr,
    /// Outer source (`local_ip`), of the destination's family.
    pub ip_src: IpAddr,
    /// Outer destination (`remote_ip`).
    pub ip_dst: IpAddr,
    /// Outer TOS (`tos`; IPv6: the traffic class).
    pub tos: u8,
    /// Outer TTL (`ttl`; IPv6: the hop limit).
    pub ttl: u8,
    /// Set DF on the outer IPv4 header (`df_default`, true unless configured otherwise).
    pub dont_frag: bool,
    /// IPv4 identification (matters only without DF).
    pub ident: u16,
    /// The GRE key (`None`: no key field) or VNI (low 24 bits; `None` means 0).
    pub key: Option<u64>,
    /// GRE: add a checksum field; UDP: compute the UDP checksum (`csum`).
    pub csum: bool,
    /// UDP source port, normally a hash of the inner flow (ignored for GRE).
    pub udp_src: u16,
    /// UDP destination port (`dst_port`; ignored for GRE).
    pub udp_dst: u16,
    /// Geneve only: the O flag.
    pub oam: bool,
    /// Geneve only: option bytes (a multiple of 4, at most 252).
    pub geneve_options: Vec<u8>,
}

impl Encap {
    /// An encapsulation with the defaults a tunnel port has when only its addresses and key
    /// are configured: TTL 64, TOS 0, DF set, no checksum, the protocol's standard UDP port.
    pub fn new(
        protocol: TunnelProtocol,
        eth_src: MacAddr,
        eth_dst: MacAddr,
        ip_src: impl Into<IpAddr>,
        ip_dst: impl Into<IpAddr>,
        key: Option<u64>,
    ) -> Self {
        Self {
            protocol,
            eth_src,
            eth_dst,
            ip_src: ip_src.into(),
            ip_dst: ip_dst.into(),
            tos: 0,
            ttl: 64,
            dont_frag: true,
            ident: 0,
            key,
            csum: false,
            udp_src: 0,
            udp_dst: match protocol {
                TunnelProtocol::Gre => 0,
                TunnelProtocol::Vxlan => vxlan::UDP_PORT,
                TunnelProtocol::Geneve => geneve::UDP_PORT,
            },
            oam: false,
            geneve_options: Vec::new(),
        }
    }

    /// The outer IP header's length: IPv4's without options, or IPv6's fixed header.
    pub fn ip_header_len(&self) -> usize {
        if self.ip_dst.is_ipv6() {
            ipv6::HEADER_LEN
        } else {
            ipv4::MIN_HEADER_LEN
        }
    }

    /// Bytes added in front of the inner frame.
    pub fn overhead(&self) -> usize {
        ethernet::HEADER_LEN
            + self.ip_header_len()
            + match self.protocol {
                TunnelProtocol::Gre => self.gre().buffer_len(),
                TunnelProtocol::Vxlan => udp::HEADER_LEN + vxlan::HEADER_LEN,
                TunnelProtocol::Geneve => {
                    udp::HEADER_LEN + geneve::MIN_HEADER_LEN + self.geneve_options.len()
                }
            }
    }

    fn gre(&self) -> GreRepr {
        GreRepr {
            protocol: EtherType::TransparentEthernetBridging,
            checksum: self.csum,
            key: self.key.map(|k| k as u32),
            seq: None,
        }
    }
}

/// Builds the outer frame around `inner` (an Ethernet frame).
///
/// Fails with [`Error::BadLength`] when the result would exceed the IP header's 16-bit
/// length (IPv4's total length, IPv6's payload length), with [`Error::Unsupported`] for
/// Geneve options that are not a multiple of 4 or longer than 252 bytes, and for a source and
/// destination of different families.
pub fn encapsulate(encap: &Encap, inner: &[u8]) -> Result<Vec<u8>, Error> {
    let opts = encap.geneve_options.len();
    if encap.protocol == TunnelProtocol::Geneve
        && (!opts.is_multiple_of(4) || opts > geneve::MAX_OPTIONS_LEN)
    {
        return Err(Error::Unsupported {
            layer: Layer::Geneve,
            what: "option length",
            value: opts as u32,
        });
    }
    let ip_len = encap.ip_header_len();
    let total = encap.overhead() + inner.len();
    let ip_payload = total - ethernet::HEADER_LEN - ip_len;
    // IPv4's length field counts its header, IPv6's does not.
    let (length_field, layer) = match encap.ip_dst {
        IpAddr::V4(_) => (ip_payload + ip_len, Layer::Ipv4),
        IpAddr::V6(_) => (ip_payload, Layer::Ipv6),
    };
    if length_field > usize::from(u16::MAX) {
        return Err(Error::BadLength {
            layer,
            value: length_field,
        });
    }
    let protocol = match encap.protocol {
        TunnelProtocol::Gre => IpProtocol::Gre,
        TunnelProtocol::Vxlan | TunnelProtocol::Geneve => IpProtocol::Udp,
    };
    let mut out = vec![0u8; total];
    let ip_at = ethernet::HEADER_LEN;
    let l4_at = ip_at + ip_len;
    match (encap.ip_src, encap.ip_dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            EthernetRepr {
                dst: encap.eth_dst,
                src: encap.eth_src,
                ethertype: EtherType::Ipv4,
            }
            .emit(&mut out);
            Ipv4Repr {
                src,
                dst,
                protocol,
                tos: encap.tos,
                ttl: encap.ttl,
                ident: encap.ident,
                dont_frag: encap.dont_frag,
                more_frags: false,
                frag_offset: 0,
                options: Vec::new(),
                payload_len: ip_payload,
            }
            .emit(&mut out[ip_at..]);
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            EthernetRepr {
                dst: encap.eth_dst,
                src: encap.eth_src,
                ethertype: EtherType::Ipv6,
            }
            .emit(&mut out);
            Ipv6Repr {
                src,
                dst,
                next_header: protocol,
                payload_len: ip_payload,
                hop_limit: encap.ttl,
                traffic_class: encap.tos,
                flow_label: 0,
            }
            .emit(&mut out[ip_at..]);
        }
        _ => {
            return Err(Error::Unsupported {
                layer: Layer::Ipv6,
                what: "mixed address families",
                value: 0,
            });
        }
    }
    let inner_at = total - inner.len();
    out[inner_at..].copy_from_slice(inner);
    let vni = Vni::truncating(encap.key.unwrap_or(0));
    match encap.protocol {
        TunnelProtocol::Gre => {
            encap.gre().emit(&mut out[l4_at..]);
            // The header was emitted into this buffer just above, so it is long enough.
            if let Ok(mut gre) = GreView::new_checked(&mut out[l4_at..]) {
                gre.fill_checksum();
            }
        }
        TunnelProtocol::Vxlan | TunnelProtocol::Geneve => {
            UdpRepr {
                src_port: encap.udp_src,
                dst_port: encap.udp_dst,
                payload_len: ip_payload - udp::HEADER_LEN,
            }
            .emit(&mut out[l4_at..]);
            let tun_at = l4_at + udp::HEADER_LEN;
            if encap.protocol == TunnelProtocol::Vxlan {
                VxlanRepr { vni }.emit(&mut out[tun_at..]);
            } else {
                GeneveRepr {
                    oam: encap.oam,
                    critical: false,
                    protocol: EtherType::TransparentEthernetBridging,
                    vni,
                    options: encap.geneve_options.clone(),
                }
                .emit(&mut out[tun_at..]);
            }
            if encap.csum
                && let Ok(mut u) = UdpView::new_checked(&mut out[l4_at..])
            {
                match (encap.ip_src, encap.ip_dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => u.fill_checksum_v4(s, d),
                    (IpAddr::V6(s), IpAddr::V6(d)) => u.fill_checksum_v6(s, d),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// UDP destination ports recognised as tunnels by [`decapsulate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelPorts {
    /// VXLAN's port.
    pub vxlan: u16,
    /// Geneve's port.
    pub geneve: u16,
}

impl Default for TunnelPorts {
    fn default() -> Self {
        Self {
            vxlan: vxlan::UDP_PORT,
            geneve: geneve::UDP_PORT,
        }
    }
}

/// A received tunnel frame taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decapsulated<'a> {
    /// What the outer headers said.
    pub metadata: TunnelMetadata,
    /// The inner Ethernet frame.
    pub inner: &'a [u8],
}

/// Takes apart an outer frame built like [`encapsulate`]'s (see the module docs for what is
/// checked). Anything that is not such a frame is an error naming the layer at fault.
pub fn decapsulate(frame: &[u8], ports: TunnelPorts) -> Result<Decapsulated<'_>, Error> {
    let eth = EthernetView::new_checked(frame)?;
    let ip_bytes = &frame[ethernet::HEADER_LEN..];
    let outer = match eth.ethertype() {
        EtherType::Ipv4 => outer_ipv4(ip_bytes)?,
        EtherType::Ipv6 => outer_ipv6(ip_bytes)?,
        other => {
            return Err(Error::Unsupported {
                layer: Layer::Ethernet,
                what: "EtherType",
                value: u32::from(u16::from(other)),
            });
        }
    };
    let mut flags = if outer.dont_frag {
        TunnelFlags::DONT_FRAGMENT
    } else {
        0
    };
    let payload = outer.payload;
    let mut md = TunnelMetadata {
        protocol: TunnelProtocol::Gre,
        tun_id: 0,
        src: outer.src,
        dst: outer.dst,
        tos: outer.tos,
        ttl: outer.ttl,
        flags: TunnelFlags(0),
        udp_src: 0,
        udp_dst: 0,
        geneve_options: Vec::new(),
    };
    let inner = match outer.protocol {
        IpProtocol::Gre => {
            let gre = GreView::new_checked(payload)?;
            let repr = GreRepr::parse(&gre)?;
            require_ethernet(Layer::Gre, repr.protocol)?;
            if repr.checksum {
                flags |= TunnelFlags::CSUM;
            }
            if let Some(key) = repr.key {
                flags |= TunnelFlags::KEY;
                md.tun_id = u64::from(key);
            }
            &payload[gre.header_len()..]
        }
        IpProtocol::Udp => {
            let udp = UdpView::new_checked(payload)?;
            let urepr = UdpRepr::parse(&udp)?;
            need(
                Layer::Udp,
                udp::HEADER_LEN + urepr.payload_len,
                payload.len(),
            )?;
            let dgram = &payload[..udp::HEADER_LEN + urepr.payload_len];
            let udp = UdpView::new_checked(dgram)?;
            let verified = match (outer.src, outer.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => udp.verify_checksum_v4(s, d),
                (IpAddr::V6(s), IpAddr::V6(d)) => udp.verify_checksum_v6(s, d),
                _ => false,
            };
            if !verified {
                return Err(Error::BadChecksum { layer: Layer::Udp });
            }
            if udp.checksum() != 0 {
                flags |= TunnelFlags::CSUM;
            }
            md.udp_src = urepr.src_port;
            md.udp_dst = urepr.dst_port;
            let body = &dgram[udp::HEADER_LEN..];
            flags |= TunnelFlags::KEY;
            if urepr.dst_port == ports.vxlan {
                md.protocol = TunnelProtocol::Vxlan;
                let vx = VxlanView::new_checked(body)?;
                md.tun_id = u64::from(VxlanRepr::parse(&vx)?.vni.get());
                &body[vxlan::HEADER_LEN..]
            } else if urepr.dst_port == ports.geneve {
                md.protocol = TunnelProtocol::Geneve;
                let g = GeneveView::new_checked(body)?;
                let grepr = GeneveRepr::parse(&g)?;
                require_ethernet(Layer::Geneve, grepr.protocol)?;
                md.tun_id = u64::from(grepr.vni.get());
                if grepr.oam {
                    flags |= TunnelFlags::OAM;
                }
                md.geneve_options = grepr.options;
                &body[g.header_len()..]
            } else {
                return Err(Error::Unsupported {
                    layer: Layer::Udp,
                    what: "destination port",
                    value: u32::from(urepr.dst_port),
                });
            }
        }
        other => {
            return Err(Error::Unsupported {
                layer: if outer.src.is_ipv6() {
                    Layer::Ipv6
                } else {
                    Layer::Ipv4
                },
                what: "protocol",
                value: u32::from(u8::from(other)),
            });
        }
    };
    md.flags = TunnelFlags(flags);
    Ok(Decapsulated {
        metadata: md,
        inner,
    })
}

/// The outer IP header of a received tunnel frame, read.
struct Outer<'a> {
    src: IpAddr,
    dst: IpAddr,
    tos: u8,
    ttl: u8,
    dont_frag: bool,
    protocol: IpProtocol,
    /// The IP payload (after IPv6's extension headers), borrowed from the frame.
    payload: &'a [u8],
}

fn outer_ipv4(ip_bytes: &[u8]) -> Result<Outer<'_>, Error> {
    let ip = Ipv4View::new_checked(ip_bytes)?;
    let r = Ipv4Repr::parse(&ip)?;
    if ip.is_fragment() {
        return Err(Error::Unsupported {
            layer: Layer::Ipv4,
            what: "fragment offset",
            value: u32::from(ip.frag_offset()),
        });
    }
    Ok(Outer {
        src: r.src.into(),
        dst: r.dst.into(),
        tos: r.tos,
        ttl: r.ttl,
        dont_frag: r.dont_frag,
        protocol: r.protocol,
        // Indexed from the input (not through the view) so the inner frame borrows `frame`.
        payload: &ip_bytes[ip.header_len()..ip.total_len()],
    })
}

/// An outer IPv6 header: its payload length must fit the frame (the view checks it; bytes
/// beyond it are padding), extension headers are walked (one that does not fit is
/// [`Error::Truncated`]) and a fragment is refused, as over IPv4.
fn outer_ipv6(ip_bytes: &[u8]) -> Result<Outer<'_>, Error> {
    let ip = Ipv6View::new_checked(ip_bytes)?;
    let r = Ipv6Repr::parse(&ip)?;
    let payload = ip_bytes
        .get(ipv6::HEADER_LEN..ipv6::HEADER_LEN + r.payload_len)
        .unwrap_or_default();
    let upper = ipv6::upper_layer(r.next_header, payload)?;
    if let Some(f) = upper.fragment {
        return Err(Error::Unsupported {
            layer: Layer::Ipv6Extension,
            what: "fragment offset",
            value: u32::from(f.offset),
        });
    }
    Ok(Outer {
        src: r.src.into(),
        dst: r.dst.into(),
        tos: r.traffic_class,
        ttl: r.hop_limit,
        dont_frag: false,
        protocol: upper.protocol,
        payload: payload.get(upper.offset..).unwrap_or_default(),
    })
}

fn require_ethernet(layer: Layer, protocol: EtherType) -> Result<(), Error> {
    if protocol == EtherType::TransparentEthernetBridging {
        Ok(())
    } else {
        Err(Error::Unsupported {
            layer,
            what: "protocol type",
            value: u32::from(u16::from(protocol)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn inner_frame() -> Vec<u8> {
        let mut f = vec![0u8; 60];
        EthernetRepr {
            dst: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]),
            src: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]),
            ethertype: EtherType::Arp,
        }
        .emit(&mut f);
        f[20..].fill(0x5a);
        f
    }

    fn encap(protocol: TunnelProtocol) -> Encap {
        Encap::new(
            protocol,
            MacAddr([2, 0, 0, 0, 0, 0x31]),
            MacAddr([2, 0, 0, 0, 0, 0x21]),
            Ipv4Addr::new(10, 0, 1, 31),
            Ipv4Addr::new(10, 0, 1, 21),
            Some(1),
        )
    }

    #[test]
    fn gre_with_key_is_what_the_seed_sends() {
        let inner = inner_frame();
        let out = encapsulate(&encap(TunnelProtocol::Gre), &inner).unwrap();
        // Outer IPv4: DF, TTL 64, protocol 47; GRE: K flag, protocol 0x6558, key 1.
        assert_eq!(out.len(), 14 + 20 + 8 + inner.len());
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        assert_eq!(&out[20..24], &[0x40, 0x00, 64, 47]);
        assert_eq!(&out[34..42], &[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 1]);
        let d = decapsulate(&out, TunnelPorts::default()).unwrap();
        assert_eq!(d.inner, &inner[..]);
        assert_eq!(d.metadata.tun_id, 1);
        assert_eq!(d.metadata.src, Ipv4Addr::new(10, 0, 1, 31));
        assert_eq!(d.metadata.dst, Ipv4Addr::new(10, 0, 1, 21));
        assert_eq!(&out[14..16], &[0x45, 0]);
        assert_eq!(
            d.metadata.flags,
            TunnelFlags(TunnelFlags::DONT_FRAGMENT | TunnelFlags::KEY)
        );
    }

    #[test]
    fn gre_without_key_and_with_checksum() {
        let mut e = encap(TunnelProtocol::Gre);
        e.key = None;
        e.csum = true;
        e.dont_frag = false;
        let out = encapsulate(&e, &inner_frame()).unwrap();
        let d = decapsulate(&out, TunnelPorts::default()).unwrap();
        assert_eq!(d.metadata.tun_id, 0);
        assert_eq!(d.metadata.flags, TunnelFlags(TunnelFlags::CSUM));
        let mut broken = out.clone();
        *broken.last_mut().unwrap() ^= 1;
        assert_eq!(
            decapsulate(&broken, TunnelPorts::default()),
            Err(Error::BadChecksum { layer: Layer::Gre })
        );
    }

    #[test]
    fn udp_tunnels_use_their_ports() {
        let out = encapsulate(&encap(TunnelProtocol::Vxlan), &inner_frame()).unwrap();
        assert_eq!(&out[36..38], &4789u16.to_be_bytes());
        let out = encapsulate(&encap(TunnelProtocol::Geneve), &inner_frame()).unwrap();
        assert_eq!(&out[36..38], &6081u16.to_be_bytes());
        let ports = TunnelPorts {
            vxlan: 1,
            geneve: 2,
        };
        assert!(matches!(
            decapsulate(&out, ports),
            Err(Error::Unsupported {
                layer: Layer::Udp,
                ..
            })
        ));
    }

    #[test]
    fn a_corrupt_outer_ipv4_header_is_rejected() {
        let mut out = encapsulate(&encap(TunnelProtocol::Vxlan), &inner_frame()).unwrap();
        out[22] = 63; // TTL changed without fixing the checksum
        assert_eq!(
            decapsulate(&out, TunnelPorts::default()),
            Err(Error::BadChecksum { layer: Layer::Ipv4 })
        );
    }

    const V6_A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 1, 0, 0, 0, 0, 0x31);
    const V6_B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 1, 0, 0, 0, 0, 0x21);

    fn encap6(protocol: TunnelProtocol) -> Encap {
        let mut e = encap(protocol);
        e.ip_src = V6_A.into();
        e.ip_dst = V6_B.into();
        e
    }

    #[test]
    fn ipv6_outer_header_carries_ttl_and_tos() {
        let inner = inner_frame();
        let mut e = encap6(TunnelProtocol::Vxlan);
        e.tos = 0xb8;
        e.ttl = 17;
        let out = encapsulate(&e, &inner).unwrap();
        assert_eq!(out.len(), 14 + 40 + 8 + 8 + inner.len());
        assert_eq!(&out[12..14], &[0x86, 0xdd]);
        // Version 6, traffic class 0xb8, flow label 0; payload length; UDP; hop limit 17.
        assert_eq!(&out[14..18], &[0x6b, 0x80, 0, 0]);
        assert_eq!(&out[18..20], &((8 + 8 + inner.len()) as u16).to_be_bytes());
        assert_eq!(&out[20..22], &[17, 17]);
        // csum=false: this builder leaves the UDP checksum out (the datapath adds one).
        assert_eq!(&out[60..62], &[0, 0]);
        let d = decapsulate(&out, TunnelPorts::default()).unwrap();
        assert_eq!(d.inner, &inner[..]);
        assert_eq!((d.metadata.src, d.metadata.dst), (V6_A.into(), V6_B.into()));
        assert_eq!((d.metadata.tos, d.metadata.ttl), (0xb8, 17));
        assert_eq!(d.metadata.flags, TunnelFlags(TunnelFlags::KEY));
    }

    #[test]
    fn ipv6_udp_checksums_are_sent_and_checked() {
        let mut e = encap6(TunnelProtocol::Geneve);
        e.csum = true;
        let mut out = encapsulate(&e, &inner_frame()).unwrap();
        assert_ne!(&out[60..62], &[0, 0]);
        let d = decapsulate(&out, TunnelPorts::default()).unwrap();
        assert!(d.metadata.flags.has(TunnelFlags::CSUM));
        *out.last_mut().unwrap() ^= 1;
        assert_eq!(
            decapsulate(&out, TunnelPorts::default()),
            Err(Error::BadChecksum { layer: Layer::Udp })
        );
    }

    #[test]
    fn ipv6_payload_length_beyond_the_frame_is_refused() {
        let mut out = encapsulate(&encap6(TunnelProtocol::Gre), &inner_frame()).unwrap();
        let claimed = (out.len() - 14 - 40 + 1) as u16;
        out[18..20].copy_from_slice(&claimed.to_be_bytes());
        assert!(matches!(
            decapsulate(&out, TunnelPorts::default()),
            Err(Error::Truncated {
                layer: Layer::Ipv6,
                ..
            })
        ));
    }

    #[test]
    fn ipv6_extension_headers_are_walked_and_truncated_ones_refused() {
        let inner = inner_frame();
        let plain = encapsulate(&encap6(TunnelProtocol::Gre), &inner).unwrap();
        // Insert an 8-byte destination options header (next header GRE, length 0, PadN).
        let mut with_opts = plain[..54].to_vec();
        with_opts[20] = u8::from(IpProtocol::Ipv6Opts);
        let plen = u16::from_be_bytes([plain[18], plain[19]]) + 8;
        with_opts[18..20].copy_from_slice(&plen.to_be_bytes());
        with_opts.extend_from_slice(&[47, 0, 1, 4, 0, 0, 0, 0]);
        with_opts.extend_from_slice(&plain[54..]);
        let d = decapsulate(&with_opts, TunnelPorts::default()).unwrap();
        assert_eq!(d.inner, &inner[..]);
        // The same header claiming 16 bytes more than the packet has.
        let mut truncated = with_opts[..62].to_vec();
        truncated[55] = 200;
        truncated[18..20].copy_from_slice(&8u16.to_be_bytes());
        assert!(matches!(
            decapsulate(&truncated, TunnelPorts::default()),
            Err(Error::Truncated {
                layer: Layer::Ipv6Extension,
                ..
            })
        ));
    }

    #[test]
    fn mixed_families_are_refused() {
        let mut e = encap(TunnelProtocol::Gre);
        e.ip_dst = V6_B.into();
        assert!(encapsulate(&e, &inner_frame()).is_err());
    }

    fn any_protocol() -> impl Strategy<Value = TunnelProtocol> {
        prop_oneof![
            Just(TunnelProtocol::Gre),
            Just(TunnelProtocol::Vxlan),
            Just(TunnelProtocol::Geneve)
        ]
    }

    proptest! {
        /// Whatever the options, decapsulating an encapsulated frame gives back the inner frame
        /// and the metadata the encapsulation asked for.
        #[test]
        fn encap_then_decap_restores_frame_and_metadata(
            protocol in any_protocol(),
            inner in proptest::collection::vec(any::<u8>(), 14..300),
            key in proptest::option::of(any::<u64>()),
            tos in any::<u8>(),
            ttl in any::<u8>(),
            df in any::<bool>(),
            csum in any::<bool>(),
            oam in any::<bool>(),
            udp_src in any::<u16>(),
            opt_words in 0usize..4,
            v6 in any::<bool>(),
        ) {
            let mut e = if v6 { encap6(protocol) } else { encap(protocol) };
            e.key = key;
            e.tos = tos;
            e.ttl = ttl;
            e.dont_frag = df;
            e.csum = csum;
            e.udp_src = udp_src;
            if protocol == TunnelProtocol::Geneve {
                e.oam = oam;
                e.geneve_options = vec![0x77; opt_words * 4];
            }
            let out = encapsulate(&e, &inner).unwrap();
            let d = decapsulate(&out, TunnelPorts::default()).unwrap();
            prop_assert_eq!(d.inner, &inner[..]);
            let md = &d.metadata;
            prop_assert_eq!(md.protocol, protocol);
            let want_id = match protocol {
                TunnelProtocol::Gre => key.unwrap_or(0) & 0xffff_ffff,
                _ => key.unwrap_or(0) & 0xff_ffff,
            };
            prop_assert_eq!(md.tun_id, want_id);
            prop_assert_eq!((md.src, md.dst, md.tos, md.ttl), (e.ip_src, e.ip_dst, tos, ttl));
            prop_assert_eq!(md.flags.has(TunnelFlags::DONT_FRAGMENT), df && !v6);
            prop_assert_eq!(md.flags.has(TunnelFlags::CSUM), csum);
            prop_assert_eq!(
                md.flags.has(TunnelFlags::KEY),
                protocol != TunnelProtocol::Gre || key.is_some()
            );
            prop_assert_eq!(md.flags.has(TunnelFlags::OAM), protocol == TunnelProtocol::Geneve && oam);
            prop_assert_eq!(&md.geneve_options, &e.geneve_options);
            if protocol != TunnelProtocol::Gre {
                prop_assert_eq!((md.udp_src, md.udp_dst), (udp_src, e.udp_dst));
            }
        }

        /// Decapsulation never panics, whatever the bytes.
        #[test]
        fn decap_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decapsulate(&bytes, TunnelPorts::default());
        }
    }
}
