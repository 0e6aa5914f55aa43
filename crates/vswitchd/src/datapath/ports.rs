//! Which device backs an interface, and opening it.
//!
//! | `type` | device |
//! |---|---|
//! | `internal` | a TAP device named as the interface ([`fvs_netdev::tap`]), promiscuous, left down until the host brings it up and persistent (it outlives the daemon until its port is deleted or `exit --cleanup`), as Open vSwitch keeps its own |
//! | `system` (or empty), `tap` | the existing Linux device, through `AF_PACKET`, promiscuous |
//! | `dummy`, and every type but `patch` and tunnels under `--enable-dummy` | [`fvs_netdev::dummy`] with `options:rx_pcap` / `tx_pcap` |
//! | `gre`, `vxlan`, `geneve` | one tunnel vport per type and UDP port (`gre_sys`, `vxlan_sys_4790`, …) sending through an underlay device |
//! | `patch` | nothing: translation crosses to the peer bridge |
//!
//! TAP and AF_PACKET devices are opened with virtio-net headers (`IFF_VNET_HDR`,
//! `PACKET_VNET_HDR`): TSO/GSO super-frames and partial checksums cross the switch unsplit,
//! and the datapath finishes them in software only on a path that cannot carry them
//! (`fvs_datapath::offload`).
//!
//! AF_PACKET devices receive through a `TPACKET_V2` ring (`fvs_netdev::af_packet` explains
//! the choice). The interface's `options:rx-path` (a ferrovs option) picks another receive
//! path: `tpacket-v3` (blocks of frames: least CPU per frame, but a frame arriving alone waits
//! up to 1 ms), `recvmmsg` (no ring memory), or `tpacket-v2`, the default.
//! `options:rx-ring-slots` (also ferrovs's) sizes the `tpacket-v2` ring: 1 to
//! [`MAX_RX_RING_SLOTS`] slots of 2 KiB, rounded up to whole 64 KiB blocks of 32
//! ([`FrameRing::DEFAULT`] otherwise); the other paths ignore it. A value that is not such a
//! number keeps the port from opening, with an error naming the value in its `error` column.
//! The kernel allocates the ring when the port opens; if it cannot (memory it cannot find), a port that did not ask for a ring by `rx-path` opens with `recvmmsg` instead
//! and a warning in the log (module `netdev_linux`) names the port and the reason, while a
//! port whose `rx-path` asked for the ring fails with the reason in its `error` column.
//!
//! Devices are opened by the reconciler's thread (so a failure lands in the interface's
//! `error` column at once, in Open vSwitch's wording) and handed to the datapath thread.
//!
//! # Tunnel underlays
//!
//! A tunnel vport encapsulates and sends the outer frame through its *underlay* device, and
//! decapsulates what that device receives. [`open_tunnel_underlay`] is the one place that
//! decides what that device is: under `--enable-dummy`, a dummy device (frames stay in
//! memory, tests read them through its handle); otherwise `fvs_netdev::tunnel::KernelTunnel`,
//! which sends and receives the outer packets through the host's own IP stack (the kernel
//! routes and resolves neighbours), one per tunnel type and UDP port (`dst_port`), bound to
//! the ports' `local_ip` when they agree on one. The underlay is always opened; destinations
//! whose route leaves through a ferrovs internal port bypass it ([`super::native`]).

use std::collections::BTreeMap;
use std::path::Path;

use fvs_datapath::port::{PortKind, TunnelKeyMode, TunnelVport};
use fvs_netdev::af_packet::{AfPacket, AfPacketOptions, BlockRing, FrameRing, RxPath};
use fvs_netdev::dummy::{Dummy, DummyHandle};
use fvs_netdev::tap::{Tap, TapOptions};
use fvs_netdev::tunnel::{KernelTunnel, UnderlayConfig};
use fvs_netdev::{MacAddr, Netdev};
use fvs_packet::tunnel::TunnelProtocol;
use fvs_pipeline::dpif::DpPort;
use std::net::Ipv4Addr;

/// What backs one datapath port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// In-memory device; `internal` says whether it stands in for an internal port (shown as
    /// `dummy-internal`).
    Dummy {
        /// Stands in for an internal port.
        internal: bool,
    },
    /// A TAP device the switch makes.
    Tap,
    /// An existing device read with `AF_PACKET`.
    AfPacket,
    /// The vport all tunnels of one protocol share.
    Tunnel(TunnelProtocol),
    /// The device a tunnel vport's outer frames go through: one per protocol and UDP port,
    /// receiving on one local address or all.
    Underlay(UnderlayConfig),
}

/// A port as the configuration asks for it; a change of any part reopens the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// The device.
    pub device: Device,
    /// The interface's `type` as configured (for `dpif/show`).
    pub kind: String,
    /// The interface's `options`.
    pub options: BTreeMap<String, String>,
    /// The Ethernet address to give devices the switch makes.
    pub mac: Option<[u8; 6]>,
    /// For a tunnel vport, its underlay's datapath port.
    pub underlay: Option<DpPort>,
    /// For a tunnel vport, its UDP destination port (0 otherwise).
    pub dst_port: u16,
}

/// The device for an interface of `kind`, or `None` for a patch port (no device).
pub fn device_for(kind: &str, enable_dummy: bool) -> Option<Device> {
    let tunnel = match kind {
        "patch" => return None,
        "gre" | "ip6gre" => Some(TunnelProtocol::Gre),
        "vxlan" => Some(TunnelProtocol::Vxlan),
        "geneve" => Some(TunnelProtocol::Geneve),
        _ => None,
    };
    Some(match (tunnel, kind) {
        (Some(p), _) => Device::Tunnel(p),
        (None, "internal") if enable_dummy => Device::Dummy { internal: true },
        (None, _) if enable_dummy => Device::Dummy { internal: false },
        (None, "dummy" | "dummy-pmd") => Device::Dummy { internal: false },
        (None, "internal") => Device::Tap,
        (None, _) => Device::AfPacket,
    })
}

/// An opened port, ready for the datapath thread.
pub struct Opened {
    /// Something the log should say about how it was opened (a fallback taken).
    pub warning: Option<String>,
    /// The datapath's view of it.
    pub kind: PortKind,
    /// The handle of a dummy device (for `netdev-dummy/receive` and tests).
    pub dummy: Option<DummyHandle>,
    /// The address of an existing device (`mac_in_use` reports it).
    pub mac: Option<[u8; 6]>,
    /// What its driver says of its link, read once it is open ([`super::link`]).
    pub settings: Option<fvs_netdev::LinkSettings>,
}

/// Open vSwitch's wording for a device that cannot be opened.
fn open_error(name: &str, e: &fvs_netdev::Error) -> String {
    let why = match e {
        fvs_netdev::Error::NoSuchDevice(_) => "No such device".to_owned(),
        other => other.to_string(),
    };
    format!("could not open network device {name} ({why})")
}

/// Opens the device of `spec` named `name`.
pub fn open(name: &str, spec: &PortSpec, enable_dummy: bool) -> Result<Opened, String> {
    let set_mac = |d: &mut dyn Netdev| {
        if let Some(m) = spec.mac {
            // A device that refuses a new address keeps its own; nothing depends on it.
            let _ = d.set_mac(MacAddr(m));
        }
    };
    match &spec.device {
        Device::Dummy { .. } => {
            let (mut d, h) = Dummy::new(name);
            // Like Open vSwitch's dummy netdev, no offloads: frames reach it complete.
            d.set_vnet_hdr(false);
            set_mac(&mut d);
            if let Some(p) = spec.options.get("rx_pcap") {
                d.set_rx_pcap(Path::new(p))
                    .map_err(|e| format!("{name}: rx_pcap: {e}"))?;
            }
            if let Some(p) = spec.options.get("tx_pcap") {
                d.set_tx_pcap(Path::new(p))
                    .map_err(|e| format!("{name}: tx_pcap: {e}"))?;
            }
            Ok(Opened {
                warning: None,
                kind: PortKind::Netdev(Box::new(d)),
                dummy: Some(h),
                mac: None,
                settings: None,
            })
        }
        Device::Tap => {
            let mut d = Tap::open(
                name,
                TapOptions {
                    vnet_hdr: true,
                    up: false,
                    persist: true,
                },
            )
            .map_err(|e| open_error(name, &e))?;
            set_mac(&mut d);
            let settings = d.link_settings();
            Ok(Opened {
                warning: None,
                kind: PortKind::Netdev(Box::new(d)),
                dummy: None,
                mac: None,
                settings,
            })
        }
        Device::AfPacket => {
            let frames = frame_ring(name, &spec.options)?;
            let rx_path = spec.options.get("rx-path").map(String::as_str);
            let rx = match rx_path {
                None | Some("tpacket-v2") => RxPath::Frames(frames),
                Some("tpacket-v3") => RxPath::Blocks(BlockRing::DEFAULT),
                Some("recvmmsg") => RxPath::Recvmmsg,
                Some(other) => {
                    return Err(format!(
                        "{name}: options:rx-path: \"{other}\" is not tpacket-v2, tpacket-v3 or recvmmsg"
                    ));
                }
            };
            let options = AfPacketOptions {
                vnet_hdr: true,
                rx,
                ..AfPacketOptions::default()
            };
            let (d, warning) =
                open_with_ring_fallback(name, options, rx_path.is_some(), AfPacket::open)?;
            let mac = d.mac().ok().map(|m| m.0);
            let settings = d.link_settings();
            Ok(Opened {
                warning,
                kind: PortKind::Netdev(Box::new(d)),
                dummy: None,
                mac,
                settings,
            })
        }
        Device::Underlay(config) => {
            let (d, dummy) = open_tunnel_underlay(name, *config, enable_dummy)?;
            Ok(Opened {
                warning: None,
                kind: PortKind::Netdev(d),
                dummy,
                mac: None,
                settings: None,
            })
        }
        Device::Tunnel(p) => {
            let underlay = spec
                .underlay
                .ok_or_else(|| format!("{name}: tunnel port without an underlay"))?;
            // One vport per protocol and UDP port: any local and remote address, any key;
            // translation gives each packet's outer addresses, key, TTL and TOS in
            // `set(tunnel(...))`, and the slow path picks the receiving port by them.
            let mut v = TunnelVport::new(
                *p,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::UNSPECIFIED,
                TunnelKeyMode::Flow,
                underlay,
            );
            v.dst_port = spec.dst_port;
            Ok(Opened {
                warning: None,
                kind: PortKind::Tunnel(v),
                dummy: None,
                mac: None,
                settings: None,
            })
        }
    }
}

/// Opens an AF_PACKET device through `open` (`AfPacket::open`, or a stand-in in tests).
/// When the kernel cannot allocate the receive ring and `ring_asked` is false (the ring is
/// the default, not something `rx-path` asked for), the device opens again with
/// `recvmmsg`, and the second value is the warning the log should carry; otherwise an
/// error is the `error` column's text.
fn open_with_ring_fallback<D>(
    name: &str,
    options: AfPacketOptions,
    ring_asked: bool,
    open: impl Fn(&str, AfPacketOptions) -> fvs_netdev::Result<D>,
) -> Result<(D, Option<String>), String> {
    match open(name, options) {
        // The default ring is a means, not something the user asked for: a port without
        // it still works.
        Err(e @ fvs_netdev::Error::RxRing { .. }) if !ring_asked => {
            let warning =
                format!("{name}: cannot allocate a receive ring ({e}); receiving with recvmmsg");
            let plain = AfPacketOptions {
                rx: RxPath::Recvmmsg,
                ..options
            };
            open(name, plain).map(|d| (d, Some(warning)))
        }
        other => other.map(|d| (d, None)),
    }
    .map_err(|e| open_error(name, &e))
}

/// The most slots `options:rx-ring-slots` may ask for: 65536 slots of 2 KiB are 128 MiB of
/// kernel memory for one port, 32 times the default, 330 ms of a 200 kpps stream for the
/// reader to be late by. The kernel's own limits are far above (it refuses only rings whose
/// page list it cannot allocate, tens of GiB), so without a bound of ours a typo could pin
/// gigabytes per port.
pub const MAX_RX_RING_SLOTS: u32 = 65536;

/// The `TPACKET_V2` ring `options:rx-ring-slots` asks for (see the module docs). A value
/// that is not a number from 1 to [`MAX_RX_RING_SLOTS`] is an error naming it, which the
/// interface's `error` column shows (the port is not opened).
fn frame_ring(name: &str, options: &BTreeMap<String, String>) -> Result<FrameRing, String> {
    let Some(text) = options.get("rx-ring-slots") else {
        return Ok(FrameRing::DEFAULT);
    };
    match text.parse::<u32>() {
        Ok(frames @ 1..=MAX_RX_RING_SLOTS) => Ok(FrameRing {
            frames,
            ..FrameRing::DEFAULT
        }),
        _ => Err(format!(
            "{name}: options:rx-ring-slots: \"{text}\" is not a number of slots from 1 to \
             {MAX_RX_RING_SLOTS}"
        )),
    }
}

/// The device the tunnel vport of underlay `config` sends its outer frames through, named
/// `name`: a dummy under `--enable-dummy`, else the host-IP-stack underlay (see the module
/// docs).
pub fn open_tunnel_underlay(
    name: &str,
    config: UnderlayConfig,
    enable_dummy: bool,
) -> Result<(Box<dyn Netdev>, Option<DummyHandle>), String> {
    if enable_dummy {
        let (mut d, h) = Dummy::new(name);
        d.set_vnet_hdr(false);
        return Ok((Box::new(d), Some(h)));
    }
    // A `local_ip` that is not (yet) one of the host's addresses cannot be bound; Open
    // vSwitch accepts such a port, so the underlay then receives on every address and the
    // slow path keeps checking each port's `local_ip`.
    let d = KernelTunnel::open(config)
        .or_else(|e| {
            if config.local_ip.is_unspecified() {
                return Err(e);
            }
            KernelTunnel::open(UnderlayConfig {
                local_ip: Ipv4Addr::UNSPECIFIED,
                ..config
            })
        })
        .map_err(|e| open_error(&config.name(), &e))?;
    Ok((Box::new(d), None))
}

/// The `type` `dpif/show` prints for a port, as Open vSwitch prints it: under
/// `--enable-dummy` internal ports are `dummy-internal` and the others keep their configured
/// type; tunnels show their options outside dummy mode.
pub fn show_type(kind: &str, options: &BTreeMap<String, String>, enable_dummy: bool) -> String {
    let kind = if kind.is_empty() { "system" } else { kind };
    match kind {
        "internal" if enable_dummy => "dummy-internal".to_owned(),
        "patch" => format!(
            "patch: peer={}",
            options.get("peer").map_or("", String::as_str)
        ),
        // Open vSwitch's reading of the options, defaults left out (`tunnel_config`).
        "gre" | "ip6gre" | "vxlan" | "geneve" if !enable_dummy => {
            crate::tunnel_config::parse("", kind, options)
                .map_or_else(|_| kind.to_owned(), |(t, _)| t.dpif_options())
        }
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_follow_the_type_and_dummy_mode() {
        assert_eq!(device_for("patch", true), None);
        assert_eq!(
            device_for("internal", true),
            Some(Device::Dummy { internal: true })
        );
        assert_eq!(device_for("internal", false), Some(Device::Tap));
        assert_eq!(device_for("", false), Some(Device::AfPacket));
        assert_eq!(device_for("tap", false), Some(Device::AfPacket));
        assert_eq!(
            device_for("dummy", false),
            Some(Device::Dummy { internal: false })
        );
        assert_eq!(
            device_for("gre", true),
            Some(Device::Tunnel(TunnelProtocol::Gre))
        );
    }

    #[test]
    fn rx_ring_slots_size_the_ring_and_bad_values_are_named() {
        let opts = |v: &str| BTreeMap::from([("rx-ring-slots".to_owned(), v.to_owned())]);
        assert_eq!(frame_ring("p", &BTreeMap::new()), Ok(FrameRing::DEFAULT));
        assert_eq!(
            frame_ring("p", &opts("512")),
            Ok(FrameRing {
                frames: 512,
                ..FrameRing::DEFAULT
            })
        );
        assert_eq!(
            frame_ring("p", &opts("65536")),
            Ok(FrameRing {
                frames: MAX_RX_RING_SLOTS,
                ..FrameRing::DEFAULT
            })
        );
        for bad in ["0", "-1", "lots", "65537", "100000000", "4294967296", ""] {
            assert_eq!(
                frame_ring("p", &opts(bad)),
                Err(format!(
                    "p: options:rx-ring-slots: \"{bad}\" is not a number of slots from 1 to 65536"
                ))
            );
        }
    }

    /// An open that fails with a ring the kernel refuses (as it does for memory it cannot
    /// find) and works without a ring.
    fn ring_refused(name: &str, o: AfPacketOptions) -> fvs_netdev::Result<RxPath> {
        match o.rx {
            RxPath::Recvmmsg => Ok(o.rx),
            _ => Err(fvs_netdev::Error::RxRing {
                device: name.to_owned(),
                what: "TPACKET_V2 receive ring",
                source: std::io::Error::from_raw_os_error(12),
            }),
        }
    }

    #[test]
    fn a_refused_default_ring_falls_back_to_recvmmsg_with_a_warning() {
        let options = AfPacketOptions {
            rx: RxPath::Frames(FrameRing::DEFAULT),
            ..AfPacketOptions::default()
        };
        let (rx, warning) = open_with_ring_fallback("p-a", options, false, ring_refused)
            .unwrap_or_else(|e| panic!("no fallback: {e}"));
        assert_eq!(rx, RxPath::Recvmmsg);
        let warning = warning.unwrap_or_default();
        assert!(
            warning.starts_with("p-a: cannot allocate a receive ring (")
                && warning.contains("Cannot allocate memory")
                && warning.ends_with("; receiving with recvmmsg"),
            "{warning}"
        );
    }

    #[test]
    fn a_refused_ring_that_rx_path_asked_for_is_the_ports_error() {
        let options = AfPacketOptions {
            rx: RxPath::Frames(FrameRing::DEFAULT),
            ..AfPacketOptions::default()
        };
        let e = open_with_ring_fallback("p-a", options, true, ring_refused)
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("could not open network device p-a (")
                && e.contains("receive ring")
                && e.contains("Cannot allocate memory"),
            "{e}"
        );
        // A ring that opens needs no fallback and says nothing.
        let ok = open_with_ring_fallback("p-b", options, false, |_, o| Ok(o.rx));
        assert_eq!(ok, Ok((RxPath::Frames(FrameRing::DEFAULT), None)));
    }

    #[test]
    fn a_missing_system_device_is_reported_as_open_vswitch_does() {
        let spec = PortSpec {
            device: Device::AfPacket,
            kind: String::new(),
            options: BTreeMap::new(),
            mac: None,
            underlay: None,
            dst_port: 0,
        };
        let e = open("fvs-nonexist0", &spec, false).err();
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("could not open network device fvs-nonexist0 (")),
            "{e:?}"
        );
    }
}
