//! IP protocol numbers, shared by IPv4's protocol and IPv6's next-header fields.

open_enum! {
    /// An IP protocol / IPv6 next-header number.
    pub enum IpProtocol(u8) {
        /// IPv6 hop-by-hop options.
        HopByHop = 0,
        /// ICMP.
        Icmp = 1,
        /// IGMP.
        Igmp = 2,
        /// TCP.
        Tcp = 6,
        /// UDP.
        Udp = 17,
        /// IPv6 routing header.
        Ipv6Route = 43,
        /// IPv6 fragment header.
        Ipv6Frag = 44,
        /// GRE.
        Gre = 47,
        /// Encapsulating security payload.
        Esp = 50,
        /// Authentication header.
        Ah = 51,
        /// ICMPv6.
        Icmpv6 = 58,
        /// IPv6 "no next header".
        Ipv6NoNext = 59,
        /// IPv6 destination options.
        Ipv6Opts = 60,
        /// SCTP.
        Sctp = 132,
    }
}
