//! `fvs-packet` reads and writes the packet headers a virtual switch meets, without doing I/O.
//!
//! # Two levels, as in the house style
//!
//! - **Views** (`EthernetView<T: AsRef<[u8]>>`, `Ipv4View`, ...) borrow a buffer. Their
//!   `new_checked` constructor verifies once that every fixed-position byte the accessors read
//!   is present (and that length fields point inside the buffer); after that no accessor can
//!   panic or fail. With `T: AsMut<[u8]>` the same views rewrite fields in place.
//! - **Reprs** (`EthernetRepr`, `Ipv4Repr`, ...) are owned, reduced values. `Repr::parse`
//!   reads a checked view and rejects what the view tolerates but the protocol forbids (a bad
//!   version, an unsupported hardware type); `Repr::emit` writes exactly `buffer_len()` bytes at
//!   the start of the buffer it is given (a shorter buffer is a programming error and panics).
//!
//! Wire codes are open enums ([`EtherType`], [`IpProtocol`], ...): an unknown value is kept
//! as `Other(n)` so it survives a parse/emit round trip. Byte offsets live in a private
//! `mod field` per header, so every magic number has a name.
//!
//! # Tunnels
//!
//! [`tunnel`] builds an outer Ethernet + IPv4 + GRE / UDP+VXLAN / UDP+Geneve frame around an
//! inner Ethernet frame and takes one apart again, returning the tunnel metadata
//! ([`tunnel::TunnelMetadata`]) a datapath puts into the flow key.
//!
//! # Checksums
//!
//! [`checksum`] computes the Internet checksum (RFC 1071) and updates one incrementally when a
//! header field is rewritten (RFC 1624), which is what set-field actions need.
//!
//! This crate does no I/O and never panics on input bytes.

#[macro_use]
mod macros;

mod bytes;

pub mod arp;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod geneve;
pub mod gre;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
pub mod nd;
pub mod sctp;
pub mod tcp;
pub mod tunnel;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use error::{Error, Layer};
pub use ethernet::{EtherType, EthernetRepr, EthernetView, MacAddr};
pub use ip::IpProtocol;
