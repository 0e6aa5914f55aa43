//! ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses, the only kind a switch
//! matches on.
//!
//! [`ArpView`] requires the 28 bytes of an Ethernet/IPv4 packet and reads the addresses at
//! their Ethernet/IPv4 offsets; [`ArpView::is_ethernet_ipv4`] says whether the header's own
//! type and length fields agree, and [`ArpRepr::parse`] refuses anything else.

use std::net::Ipv4Addr;

use crate::bytes::{array, get16, get32, set16, set32};
use crate::error::{Error, Layer, need};
use crate::ethernet::{EtherType, MacAddr};

open_enum! {
    /// The ARP operation.
    pub enum ArpOperation(u16) {
        /// Request.
        Request = 1,
        /// Reply.
        Reply = 2,
        /// Reverse ARP request.
        RarpRequest = 3,
        /// Reverse ARP reply.
        RarpReply = 4,
    }
}

mod field {
    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    pub(super) const SHA: usize = 8;
    pub(super) const SPA: usize = 14;
    pub(super) const THA: usize = 18;
    pub(super) const TPA: usize = 24;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Hardware type for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug)]
pub struct ArpView<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpView<T> {
    /// Wraps `buffer` after checking it holds 28 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Arp, PACKET_LEN, buffer.as_ref().len())?;
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Hardware type.
    pub fn htype(&self) -> u16 {
        get16(self.b(), field::HTYPE)
    }

    /// Protocol type.
    pub fn ptype(&self) -> EtherType {
        EtherType::from(get16(self.b(), field::PTYPE))
    }

    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        self.b()[field::HLEN]
    }

    /// Protocol address length.
    pub fn plen(&self) -> u8 {
        self.b()[field::PLEN]
    }

    /// True when the header describes Ethernet and IPv4 addresses of the usual lengths.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.htype() == HTYPE_ETHERNET
            && self.ptype() == EtherType::Ipv4
            && self.hlen() == 6
            && self.plen() == 4
    }

    /// Operation.
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(get16(self.b(), field::OPER))
    }

    /// Sender hardware address.
    pub fn sha(&self) -> MacAddr {
        MacAddr(array(self.b(), field::SHA))
    }

    /// Sender protocol address.
    pub fn spa(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(get32(self.b(), field::SPA))
    }

    /// Target hardware address.
    pub fn tha(&self) -> MacAddr {
        MacAddr(array(self.b(), field::THA))
    }

    /// Target protocol address.
    pub fn tpa(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(get32(self.b(), field::TPA))
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Operation.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    /// Reads a checked view; other hardware or protocol types are [`Error::Unsupported`].
    pub fn parse<T: AsRef<[u8]>>(view: &ArpView<T>) -> Result<Self, Error> {
        if !view.is_ethernet_ipv4() {
            return Err(Error::Unsupported {
                layer: Layer::Arp,
                what: "hardware/protocol type",
                value: (u32::from(view.htype()) << 16) | u32::from(u16::from(view.ptype())),
            });
        }
        Ok(Self {
            operation: view.operation(),
            sha: view.sha(),
            spa: view.spa(),
            tha: view.tha(),
            tpa: view.tpa(),
        })
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first 28 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        set16(buf, field::HTYPE, HTYPE_ETHERNET);
        set16(buf, field::PTYPE, EtherType::Ipv4.into());
        buf[field::HLEN] = 6;
        buf[field::PLEN] = 4;
        set16(buf, field::OPER, self.operation.into());
        buf[field::SHA..field::SHA + 6].copy_from_slice(&self.sha.0);
        set32(buf, field::SPA, self.spa.to_bits());
        buf[field::THA..field::THA + 6].copy_from_slice(&self.tha.0);
        set32(buf, field::TPA, self.tpa.to_bits());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fields() {
        let r = ArpRepr {
            operation: ArpOperation::Request,
            sha: MacAddr([0xfa, 0x16, 0x3e, 1, 2, 3]),
            spa: Ipv4Addr::new(10, 0, 0, 1),
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut buf = [0u8; PACKET_LEN];
        r.emit(&mut buf);
        assert_eq!(&buf[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        let v = ArpView::new_checked(&buf[..]).unwrap();
        assert_eq!(ArpRepr::parse(&v).unwrap(), r);
    }

    #[test]
    fn non_ethernet_is_unsupported() {
        let mut buf = [0u8; PACKET_LEN];
        buf[1] = 6; // IEEE 802 hardware
        let v = ArpView::new_checked(&buf[..]).unwrap();
        assert!(matches!(ArpRepr::parse(&v), Err(Error::Unsupported { .. })));
        assert!(ArpView::new_checked(&buf[..27]).is_err());
    }
}
