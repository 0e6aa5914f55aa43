//! `tnl/ports/show`: the datapath ports tunnel packets are received on, as Open vSwitch's
//! userspace datapath lists them.
//!
//! Tunnel interfaces of one protocol and UDP port share one datapath port (`gre_sys`,
//! `vxlan_sys_4789`, `genev_sys_6081`: [`super::ports`]); each is listed once, in datapath
//! port order (the order they were created in, as Open vSwitch lists them), with its
//! datapath port number and how many tunnel interfaces use it (`ref_cnt`). Under
//! `--enable-dummy` the list is empty, as Open vSwitch's dummy datapath, whose tunnels are
//! dummy devices, lists none.
//!
//! `-v` (any case) lists instead what each shared port receives: one line per address the
//! host could be reached on, in the datapath's flow syntax. Open vSwitch takes those
//! addresses from the devices its routing table (`ovs/route/show`) leads through, loopback
//! devices and devices without an Ethernet address left out: every IPv4 and IPv6 address
//! of each (link-local ones included), matched with the device's own Ethernet address as
//! destination, the protocol (GRE 47, UDP 17) and, for UDP, the port:
//!
//! ```text
//! vxlan_sys_4789 (2) : eth(dst=MAC),eth_type(0x0800),ipv4(dst=10.0.0.1,proto=17,frag=no),udp(dst=4789)
//! gre_sys (3) : eth(dst=MAC),eth_type(0x86dd),ipv6(dst=fe80::1,proto=47,frag=no)
//! ```
//!
//! A line appears once however many devices carry its address. Open vSwitch lists the
//! lines in its classifier's order, which is a hash's; ferrovs lists them by port, then by
//! device in routing-table order, IPv4 addresses before IPv6. Open vSwitch also forgets a
//! device when one of its routes is deleted with `ovs/route/del` until the kernel's table
//! changes again; ferrovs reads the table as it is. Any other argument is ignored, as Open
//! vSwitch ignores it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use fvs_netdev::MacAddr;
use fvs_netdev::tunnel::UnderlayConfig;
use fvs_packet::tunnel::TunnelProtocol;

use super::ports::Device;
use crate::Daemon;
use crate::unixctl::Command;

/// The command, for [`crate::commands::table`].
pub fn commands() -> Vec<Command<Daemon>> {
    vec![Command {
        name: "tnl/ports/show",
        usage: "-v",
        min: 0,
        max: 1,
        handler: show,
    }]
}

/// IP protocol numbers a shared tunnel port receives.
const IPPROTO_GRE: u8 = 47;
const IPPROTO_UDP: u8 = 17;

/// A device the routing table leads through: its Ethernet address and its IP addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpDevice {
    /// The device's own Ethernet address (the receive rules' destination).
    pub mac: MacAddr,
    /// Every address of the device, IPv4 first.
    pub addrs: Vec<IpAddr>,
}

/// One shared tunnel port as `-v` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Its name (`vxlan_sys_4789`).
    pub name: String,
    /// Its datapath port number.
    pub port: u32,
    /// What it carries: GRE, or UDP to this port.
    pub underlay: UnderlayConfig,
}

fn show(d: &Daemon, args: &[String]) -> Result<String, String> {
    let verbose = args.first().is_some_and(|a| a.eq_ignore_ascii_case("-v"));
    let h = d
        .datapath()
        .ok_or_else(|| "the datapath is not running".to_owned())?;
    let mut out = String::from("Listening ports:\n");
    if h.enable_dummy() {
        return Ok(out);
    }
    let ifaces = h.iface_table();
    // The shared vport each tunnel interface uses.
    let users: Vec<UnderlayConfig> = ifaces
        .iter()
        .filter_map(|(name, (kind, options))| {
            crate::tunnel_config::parse(name, kind, options)
                .ok()
                .map(|(t, _)| t.underlay())
        })
        .collect();
    let mut listeners = Vec::new();
    for (no, (name, device)) in h.port_devices() {
        let Device::Tunnel(protocol) = device else {
            continue;
        };
        let refs = users.iter().filter(|u| u.name() == name).count();
        if !verbose {
            let _ = writeln!(out, "{name} ({}) ref_cnt={refs}", no.0);
            continue;
        }
        let underlay = users
            .iter()
            .find(|u| u.name() == name)
            .copied()
            .unwrap_or_else(|| UnderlayConfig::new(protocol));
        listeners.push(Listener {
            name,
            port: no.0,
            underlay,
        });
    }
    if verbose {
        out.push_str(&verbose_lines(&listeners, &route_devices(d)?));
    }
    Ok(out)
}

/// The devices the routing table leads through, in its order, each once; loopback devices
/// and devices without an Ethernet address or any IP address left out.
fn route_devices(d: &Daemon) -> Result<Vec<IpDevice>, String> {
    use fvs_netdev::netlink;
    let routes = super::native::route_table(d)?;
    let err = |e: std::io::Error| format!("cannot read the interfaces: {e}");
    let links = netlink::links().map_err(err)?;
    let v4 = netlink::ipv4_addresses().map_err(err)?;
    let v6 = netlink::ipv6_addresses().map_err(err)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for r in &routes {
        if !seen.insert(r.dev.as_str()) {
            continue;
        }
        let Some(link) = links.iter().find(|l| l.name == r.dev) else {
            continue;
        };
        let Some(mac) = link.mac.filter(|_| !link.loopback) else {
            continue;
        };
        let addrs: Vec<IpAddr> = v4
            .iter()
            .filter(|a| a.ifindex == link.index)
            .map(|a| IpAddr::from(a.addr))
            .chain(
                v6.iter()
                    .filter(|a| a.ifindex == link.index)
                    .map(|a| IpAddr::from(a.addr)),
            )
            .collect();
        if !addrs.is_empty() {
            out.push(IpDevice {
                mac: MacAddr(mac),
                addrs,
            });
        }
    }
    Ok(out)
}

/// `-v`'s lines: for each listener, one per address of each device, each (address, Ethernet
/// address, protocol, port) once.
pub fn verbose_lines(listeners: &[Listener], devices: &[IpDevice]) -> String {
    let mut out = String::new();
    let mut seen: BTreeSet<(IpAddr, [u8; 6], u8, u16)> = BTreeSet::new();
    for l in listeners {
        let (proto, udp_port) = match l.underlay.protocol {
            TunnelProtocol::Gre => (IPPROTO_GRE, None),
            TunnelProtocol::Vxlan | TunnelProtocol::Geneve => {
                (IPPROTO_UDP, Some(l.underlay.dst_port))
            }
        };
        for dev in devices {
            for addr in &dev.addrs {
                let key = (*addr, dev.mac.0, proto, udp_port.unwrap_or(0));
                if !seen.insert(key) {
                    continue;
                }
                let ip = match addr {
                    IpAddr::V4(a) => format!("eth_type(0x0800),ipv4(dst={a}"),
                    IpAddr::V6(a) => format!("eth_type(0x86dd),ipv6(dst={a}"),
                };
                let _ = write!(
                    out,
                    "{} ({}) : eth(dst={}),{ip},proto={proto},frag=no)",
                    l.name, l.port, dev.mac
                );
                if let Some(p) = udp_port {
                    let _ = write!(out, ",udp(dst={p})");
                }
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as ovs-vswitchd 3.1 (userspace datapath) printed them for the same ports and
    // addresses.
    #[test]
    fn each_port_lists_every_address_of_every_device() {
        let mac = MacAddr([0x06, 0xaa, 0x70, 0x18, 0x26, 0x4e]);
        let devices = [IpDevice {
            mac,
            addrs: vec![
                "10.9.0.1".parse().expect("address"),
                "fe80::4aa:70ff:fe18:264e".parse().expect("address"),
            ],
        }];
        let listener = |name: &str, port, protocol| Listener {
            name: name.to_owned(),
            port,
            underlay: UnderlayConfig::new(protocol),
        };
        let listeners = [
            listener("vxlan_sys_4789", 2, TunnelProtocol::Vxlan),
            listener("gre_sys", 3, TunnelProtocol::Gre),
        ];
        let got = verbose_lines(&listeners, &devices);
        assert_eq!(
            got.lines().collect::<Vec<_>>(),
            [
                "vxlan_sys_4789 (2) : eth(dst=06:aa:70:18:26:4e),eth_type(0x0800),ipv4(dst=10.9.0.1,proto=17,frag=no),udp(dst=4789)",
                "vxlan_sys_4789 (2) : eth(dst=06:aa:70:18:26:4e),eth_type(0x86dd),ipv6(dst=fe80::4aa:70ff:fe18:264e,proto=17,frag=no),udp(dst=4789)",
                "gre_sys (3) : eth(dst=06:aa:70:18:26:4e),eth_type(0x0800),ipv4(dst=10.9.0.1,proto=47,frag=no)",
                "gre_sys (3) : eth(dst=06:aa:70:18:26:4e),eth_type(0x86dd),ipv6(dst=fe80::4aa:70ff:fe18:264e,proto=47,frag=no)",
            ]
        );
        // The same address on a second device with the same Ethernet address: once.
        let twice = [devices[0].clone(), devices[0].clone()];
        assert_eq!(verbose_lines(&listeners, &twice), got);
        assert_eq!(verbose_lines(&listeners, &[]), "");
    }
}
