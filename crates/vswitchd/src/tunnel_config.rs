//! Tunnel interfaces' `options` (`type=gre`, `ip6gre`, `vxlan`, `geneve`) read as Open
//! vSwitch reads them: what is fatal to the port, what is only worth a warning, and the
//! defaults.
//!
//! [`parse`] turns an interface's options into [`TunnelOptions`], or into the text the
//! interface's `error` column gets. It follows Open vSwitch 3.1 (checked by running it):
//!
//! - **Fatal** (the port is not created; `error` says why, one line per problem): a missing or
//!   unreadable `remote_ip` (`NAME: bad gre 'remote_ip'` then `NAME: gre type requires valid
//!   'remote_ip' argument`), `local_ip=flow` without `remote_ip=flow`, and a `remote_ip` and
//!   `local_ip` of different families (`NAME: 'remote_ip' and 'local_ip' has to be of the
//!   same address family`). IPv6 addresses are tunnels with an IPv6 outer header; the
//!   host-stack underlay is IPv4 only, so they work where the route to the remote is native
//!   (`crate::datapath::native`), as Open vSwitch's userspace tunnels do.
//! - **Warnings** (logged; the port works with the default): an unreadable `local_ip`
//!   (`NAME: bad gre 'local_ip'`), an unknown argument (`NAME: unknown gre argument 'foo'`,
//!   also `dst_port` on GRE), a TOS that is not a DSCP value (`NAME: invalid TOS 300`). Values
//!   Open vSwitch reads with `atoi`/`strtoull` are read the same way (a `ttl` of 300 is 44, a
//!   `key` of `010` is 8, one of `abc` is 0) and ferrovs says so in a warning where Open
//!   vSwitch is silent.
//! - **Accepted but not acted on** (a warning, so nobody relies on them unknowingly):
//!   `egress_pkt_mark`, `seq`, `packet_type`, `exts` and the IPsec options (`psk`,
//!   `remote_cert`, `remote_name`, `peer_cert`).
//!
//! `remote_ip=flow` and `local_ip=flow` (the outer addresses from the flow's `tun_dst` and
//! `tun_src`), `ttl=inherit` and `tos=inherit` (from the inner IP header) and `csum=true`
//! (outer checksums) are read here and acted on by translation
//! (`fvs_pipeline::port::TunnelConfig`) and the datapath.
//!
//! A missing `local_ip` is not an error: the outer packet's source is then left to the
//! kernel (the route's preferred source), and the port receives on every local address.
//!
//! # Use
//!
//! For each interface of a tunnel type, the reconciler (`crate::reconcile`) calls [`parse`]:
//! `Err` goes to the interface's `error` column (the port gets no `ofport`), the warnings to
//! the log (module `netdev_vport`) once per change of the options.
//! [`TunnelOptions::pipeline_config`] is the pipeline's `PortKind::Tunnel`, whose `in_key`
//! the slow path's owner lookup checks beside `remote_ip`/`local_ip` (a fixed `in_key`
//! receives only its key, `fvs_pipeline::port::TunnelConfig::accepts_key`);
//! [`TunnelOptions::receive_key`] is what two ports may not share (the second is refused with
//! Open vSwitch's "File exists"); [`TunnelOptions::dpif_options`] is the text
//! `ovs-appctl dpif/show` prints after the port; [`TunnelOptions::underlay`] (protocol and
//! `dst_port`) picks the shared vport and underlay, which binds to `local_ip` when all of its
//! ports name the same one.
//!
//! The oracle test `tests/tunnel_options.rs` adds the same interfaces to Open vSwitch 3.1 and
//! compares its `error` column and `dpif/show` with this module's reading;
//! `tests/tunnel_ports.rs` does the same through a running `fvs-vswitchd`, and checks `ttl`,
//! `tos`, keys and `dst_port` on the wire.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fvs_datapath::port::TunnelKeyMode;
use fvs_netdev::tunnel::UnderlayConfig;
use fvs_packet::tunnel::TunnelProtocol;
use fvs_pipeline::port::TunnelConfig;

/// The outer TTL when none is configured.
pub const DEFAULT_TTL: u8 = 64;

/// A tunnel interface's options, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelOptions {
    /// GRE, VXLAN or Geneve.
    pub protocol: TunnelProtocol,
    /// The interface's `type` as configured (`ip6gre` stays `ip6gre`).
    pub kind: String,
    /// `remote_ip`, IPv4 or IPv6 (0.0.0.0 with `remote_ip=flow`).
    pub remote_ip: IpAddr,
    /// `remote_ip=flow`: the destination is the flow's `tun_dst`; the port receives from
    /// any remote no other port names.
    pub remote_flow: bool,
    /// `local_ip`; `None`: the kernel's choice on send, any local address on receive.
    pub local_ip: Option<IpAddr>,
    /// `local_ip=flow`: the source is the flow's `tun_src`.
    pub local_flow: bool,
    /// `in_key` (or `key`): which keys the port receives.
    pub in_key: TunnelKeyMode,
    /// `out_key` (or `key`): the key it sends.
    pub out_key: TunnelKeyMode,
    /// `dst_port` (VXLAN and Geneve; 0 for GRE).
    pub dst_port: u16,
    /// `df_default`: DF on the outer header (true unless `false`).
    pub df_default: bool,
    /// `ttl` (64 unless configured).
    pub ttl: u8,
    /// `ttl=inherit`: an IP packet's own TTL.
    pub ttl_inherit: bool,
    /// `tos` (a DSCP value, 0 unless configured).
    pub tos: u8,
    /// `tos=inherit`: an IP packet's own DSCP.
    pub tos_inherit: bool,
    /// `csum=true`: GRE checksums, UDP checksums for VXLAN and Geneve. (Over IPv6 the
    /// datapath checksums UDP tunnels whatever `csum` says, as Open vSwitch 3.1 does.)
    pub csum: bool,
    /// The options as configured, for [`TunnelOptions::dpif_options`].
    shown: BTreeMap<String, String>,
}

/// Options Open vSwitch accepts that ferrovs does not act on (yet).
const NOT_ACTED_ON: &[&str] = &[
    "egress_pkt_mark",
    "seq",
    "packet_type",
    "exts",
    "psk",
    "remote_cert",
    "remote_name",
    "peer_cert",
];

/// The protocol of an interface `type`, if it is a tunnel type. `ip6gre` is Open vSwitch's
/// name for Ethernet over GRE meant for IPv6 ends: GRE here, with its own name kept for
/// display (`dpif/show`), sharing the GRE vport; the outer header follows `remote_ip`'s
/// family whichever name the port has, as Open vSwitch 3.1's userspace takes either family
/// for either type.
pub fn protocol(kind: &str) -> Option<TunnelProtocol> {
    match kind {
        "gre" | "ip6gre" => Some(TunnelProtocol::Gre),
        "vxlan" => Some(TunnelProtocol::Vxlan),
        "geneve" => Some(TunnelProtocol::Geneve),
        _ => None,
    }
}

/// The name Neutron gives a tunnel port: the type, a dash and the remote address in hex
/// (`gre-0a000115` for 10.0.1.21).
pub fn neutron_port_name(kind: &str, remote_ip: Ipv4Addr) -> String {
    format!("{kind}-{:08x}", remote_ip.to_bits())
}

/// Reads the options of interface `name` of tunnel type `kind`. `Ok` carries the options and
/// the warnings to log; `Err` the text for the interface's `error` column.
pub fn parse(
    name: &str,
    kind: &str,
    options: &BTreeMap<String, String>,
) -> Result<(TunnelOptions, Vec<String>), String> {
    let protocol = protocol(kind).ok_or_else(|| format!("{name}: {kind} is not a tunnel type"))?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let remote = options.get("remote_ip").map(String::as_str);
    let local = options.get("local_ip").map(String::as_str);
    let remote_ip = match remote {
        Some("flow") => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                errors.push(format!("{name}: bad {kind} 'remote_ip'"));
                errors.push(format!(
                    "{name}: {kind} type requires valid 'remote_ip' argument"
                ));
                None
            }
        },
        None => {
            errors.push(format!(
                "{name}: {kind} type requires valid 'remote_ip' argument"
            ));
            None
        }
    };
    let local_ip = match local {
        Some("flow") => {
            if remote != Some("flow") {
                errors.push(format!(
                    "{name}: {kind} type requires 'remote_ip=flow' with 'local_ip=flow'"
                ));
            }
            None
        }
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                warnings.push(format!("{name}: bad {kind} 'local_ip'"));
                None
            }
        },
        None => None,
    };
    if let (Some(r), Some(l)) = (remote_ip, local_ip)
        && remote != Some("flow")
        && r.is_ipv6() != l.is_ipv6()
    {
        errors.push(format!(
            "{name}: 'remote_ip' and 'local_ip' has to be of the same address family"
        ));
    }
    let (Some(remote_ip), true) = (remote_ip, errors.is_empty()) else {
        return Err(errors.join("\n"));
    };

    let key = |option: &str, warnings: &mut Vec<String>| -> Option<TunnelKeyMode> {
        let text = options.get(option)?;
        if text == "flow" {
            return Some(TunnelKeyMode::Flow);
        }
        let (value, complete) = strtoull(text);
        if !complete {
            warnings.push(format!(
                "{name}: {kind} '{option}' {text} is not a number, read as {value}"
            ));
        }
        Some(TunnelKeyMode::Fixed(value))
    };
    let both = key("key", &mut warnings);
    let in_key = key("in_key", &mut warnings)
        .or(both)
        .unwrap_or(TunnelKeyMode::None);
    let out_key = key("out_key", &mut warnings)
        .or(both)
        .unwrap_or(TunnelKeyMode::None);

    let default_port = match protocol {
        TunnelProtocol::Gre => 0,
        TunnelProtocol::Vxlan => fvs_packet::vxlan::UDP_PORT,
        TunnelProtocol::Geneve => fvs_packet::geneve::UDP_PORT,
    };
    let mut dst_port = default_port;
    let mut ttl = DEFAULT_TTL;
    let mut tos = 0;
    let (mut ttl_inherit, mut tos_inherit) = (false, false);
    let mut shown = BTreeMap::new();
    for (option, value) in options {
        let option = option.as_str();
        match option {
            "dst_port" if protocol != TunnelProtocol::Gre => {
                let (n, complete) = atoi(value);
                match u16::try_from(n) {
                    Ok(p) if p != 0 && complete => {
                        dst_port = p;
                        if p != default_port {
                            shown.insert(option.to_owned(), p.to_string());
                        }
                    }
                    _ => warnings.push(format!(
                        "{name}: invalid {kind} 'dst_port' {value}, using {default_port}"
                    )),
                }
            }
            "ttl" if value == "inherit" => {
                ttl_inherit = true;
                shown.insert(option.to_owned(), value.clone());
            }
            "ttl" => {
                let (n, complete) = atoi(value);
                // atoi, then the low 8 bits: Open vSwitch reads ttl=300 as 44.
                let t = (n & 0xff) as u8;
                if !complete || t == 0 {
                    warnings.push(format!("{name}: invalid TTL {value}, using {DEFAULT_TTL}"));
                } else {
                    ttl = t;
                    if t != DEFAULT_TTL {
                        shown.insert(option.to_owned(), t.to_string());
                    }
                }
            }
            "tos" if value == "inherit" => {
                tos_inherit = true;
                shown.insert(option.to_owned(), value.clone());
            }
            "tos" => match strtoull(value) {
                // A DSCP value: the two ECN bits are the inner packet's business.
                (n, true) if n <= 0xff && n & 0x03 == 0 => {
                    tos = n as u8;
                    if tos != 0 {
                        shown.insert(option.to_owned(), format!("{tos:#x}"));
                    }
                }
                _ => warnings.push(format!("{name}: invalid TOS {value}")),
            },
            "csum" => {
                if value == "true" {
                    shown.insert(option.to_owned(), value.clone());
                }
            }
            "df_default" => {
                if value == "false" {
                    shown.insert(option.to_owned(), value.clone());
                }
            }
            "remote_ip" | "local_ip" | "key" | "in_key" | "out_key" => {}
            _ if NOT_ACTED_ON.contains(&option) => {
                warnings.push(format!(
                    "{name}: {kind} argument '{option}' is accepted but not acted on by ferrovs"
                ));
                shown.insert(option.to_owned(), value.clone());
            }
            _ => warnings.push(format!("{name}: unknown {kind} argument '{option}'")),
        }
    }
    let remote_flow = remote == Some("flow");
    let local_flow = local == Some("flow");
    let text = |flow: bool, ip: IpAddr| {
        if flow {
            "flow".to_owned()
        } else {
            ip.to_string()
        }
    };
    shown.insert("remote_ip".to_owned(), text(remote_flow, remote_ip));
    if let Some(ip) = local_ip {
        shown.insert("local_ip".to_owned(), ip.to_string());
    } else if local_flow {
        shown.insert("local_ip".to_owned(), "flow".to_owned());
    }
    let key_text = |k: TunnelKeyMode| match k {
        TunnelKeyMode::None => None,
        TunnelKeyMode::Fixed(v) => Some(v.to_string()),
        TunnelKeyMode::Flow => Some("flow".to_owned()),
    };
    if in_key == out_key {
        if let Some(k) = key_text(in_key) {
            shown.insert("key".to_owned(), k);
        }
    } else {
        for (option, k) in [("in_key", in_key), ("out_key", out_key)] {
            if let Some(k) = key_text(k) {
                shown.insert(option.to_owned(), k);
            }
        }
    }
    let df_default = options.get("df_default").is_none_or(|v| v != "false");
    let parsed = TunnelOptions {
        protocol,
        kind: kind.to_owned(),
        remote_ip,
        remote_flow,
        local_ip,
        local_flow,
        in_key,
        out_key,
        dst_port,
        df_default,
        ttl,
        ttl_inherit,
        tos,
        tos_inherit,
        csum: options.get("csum").is_some_and(|v| v == "true"),
        shown,
    };
    Ok((parsed, warnings))
}

/// The unspecified address of `ip`'s family.
fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

impl TunnelOptions {
    /// The IPv4 `local_ip` the host-stack underlay may bind to (an IPv6 one is no address
    /// for it).
    pub fn local_ipv4(&self) -> Option<Ipv4Addr> {
        match self.local_ip {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        }
    }

    /// What the pipeline needs to send through this port.
    pub fn pipeline_config(&self) -> TunnelConfig {
        TunnelConfig {
            kind: self.kind.clone(),
            local_ip: self.local_ip.unwrap_or(unspecified_like(self.remote_ip)),
            remote_ip: self.remote_ip,
            out_key: match self.out_key {
                TunnelKeyMode::Flow => None,
                TunnelKeyMode::Fixed(k) => Some(k),
                TunnelKeyMode::None => Some(0),
            },
            df_default: self.df_default,
            in_key: match self.in_key {
                TunnelKeyMode::Flow => None,
                TunnelKeyMode::Fixed(k) => Some(k),
                TunnelKeyMode::None => Some(0),
            },
            ttl: self.ttl,
            tos: self.tos,
            remote_flow: self.remote_flow,
            local_flow: self.local_flow,
            ttl_inherit: self.ttl_inherit,
            tos_inherit: self.tos_inherit,
            csum: self.csum,
        }
    }

    /// The shared underlay this port's packets go out of and come in on, before the local
    /// address is settled (the reconciler binds it to `local_ip` only when every port on
    /// the underlay names the same one).
    pub fn underlay(&self) -> UnderlayConfig {
        UnderlayConfig {
            protocol: self.protocol,
            dst_port: self.dst_port,
            local_ip: Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The options as `ovs-appctl dpif/show` prints them after the type:
    /// `gre: key=flow, local_ip=10.0.1.31, remote_ip=10.0.1.21` (defaults left out).
    pub fn dpif_options(&self) -> String {
        let body: Vec<String> = self.shown.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}: {}", self.kind, body.join(", "))
    }

    /// What identifies the traffic this port receives: two ports with equal keys cannot
    /// coexist (Open vSwitch refuses the second one). No key and `key=0` receive the same
    /// packets, so they are one key here (Open vSwitch refuses `key=0` beside a keyless
    /// port too).
    pub fn receive_key(&self) -> (TunnelProtocol, u16, IpAddr, IpAddr, TunnelKeyMode) {
        let in_key = match self.in_key {
            TunnelKeyMode::None => TunnelKeyMode::Fixed(0),
            other => other,
        };
        (
            self.protocol,
            self.dst_port,
            self.local_ip.unwrap_or(unspecified_like(self.remote_ip)),
            self.remote_ip,
            in_key,
        )
    }

    /// True when a packet with key `tun_id` belongs to this port (`in_key`).
    pub fn accepts_key(&self, tun_id: u64) -> bool {
        match self.in_key {
            TunnelKeyMode::None => tun_id == 0,
            TunnelKeyMode::Fixed(k) => tun_id == k,
            TunnelKeyMode::Flow => true,
        }
    }
}

/// C's `strtoull(text, NULL, 0)`: optional leading blanks, `0x` for hex, a leading `0` for
/// octal, else decimal; stops at the first character that is not a digit. Returns the value
/// (saturating) and whether the whole text was read.
fn strtoull(text: &str) -> (u64, bool) {
    let t = text.trim_start();
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let mut value: u64 = 0;
    let mut read = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        value = value
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(d));
        read += 1;
    }
    (value, read > 0 && read == digits.chars().count())
}

/// C's `atoi`: optional blanks and sign, decimal digits up to the first other character.
/// Returns the value and whether the whole text was read.
fn atoi(text: &str) -> (i64, bool) {
    let t = text.trim_start();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let mut value: i64 = 0;
    let mut read = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(10) else { break };
        value = value.saturating_mul(10).saturating_add(i64::from(d));
        read += 1;
    }
    (
        if negative { -value } else { value },
        read > 0 && read == digits.chars().count(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ok(kind: &str, pairs: &[(&str, &str)]) -> (TunnelOptions, Vec<String>) {
        parse("t0", kind, &opts(pairs)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The seed's GRE port, and what Open vSwitch 3.1's dpif/show prints for it.
    #[test]
    fn the_seed_s_gre_port() {
        let (t, warnings) = ok(
            "gre",
            &[
                ("df_default", "true"),
                ("in_key", "flow"),
                ("local_ip", "10.0.1.31"),
                ("out_key", "flow"),
                ("remote_ip", "10.0.1.21"),
            ],
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(t.in_key, TunnelKeyMode::Flow);
        assert_eq!(t.out_key, TunnelKeyMode::Flow);
        assert_eq!(t.local_ip, Some(Ipv4Addr::new(10, 0, 1, 31).into()));
        assert_eq!((t.ttl, t.tos, t.df_default, t.dst_port), (64, 0, true, 0));
        assert_eq!(
            t.dpif_options(),
            "gre: key=flow, local_ip=10.0.1.31, remote_ip=10.0.1.21"
        );
        let c = t.pipeline_config();
        assert_eq!(
            (c.kind.as_str(), c.out_key, c.df_default),
            ("gre", None, true)
        );
        let IpAddr::V4(remote) = t.remote_ip else {
            panic!("an IPv4 remote")
        };
        assert_eq!(neutron_port_name("gre", remote), "gre-0a000115");
    }

    /// The `error` column's text, as Open vSwitch 3.1 writes it for the same options.
    #[test]
    fn remote_ip_is_required() {
        assert_eq!(
            parse("t0", "gre", &opts(&[])),
            Err("t0: gre type requires valid 'remote_ip' argument".to_owned())
        );
        assert_eq!(
            parse("t0", "vxlan", &opts(&[("remote_ip", "bogus")])),
            Err(
                "t0: bad vxlan 'remote_ip'\nt0: vxlan type requires valid 'remote_ip' argument"
                    .to_owned()
            )
        );
        assert_eq!(
            parse(
                "g18",
                "gre",
                &opts(&[("remote_ip", "10.0.1.18"), ("local_ip", "flow")])
            ),
            Err("g18: gre type requires 'remote_ip=flow' with 'local_ip=flow'".to_owned())
        );
        let (t, _) = ok("gre", &[("remote_ip", "flow"), ("local_ip", "flow")]);
        assert!(t.remote_flow && t.local_flow && t.remote_ip.is_unspecified());
        assert_eq!(t.dpif_options(), "gre: local_ip=flow, remote_ip=flow");
        // IPv6 ends, as Open vSwitch 3.1 takes them (its dpif/show:
        // vxlan: local_ip=fd00::1, remote_ip=fd00::4); families must agree.
        let (t, _) = ok(
            "vxlan",
            &[("remote_ip", "fd00::4"), ("local_ip", "fd00::1")],
        );
        assert_eq!(
            t.dpif_options(),
            "vxlan: local_ip=fd00::1, remote_ip=fd00::4"
        );
        assert_eq!(t.local_ipv4(), None);
        assert_eq!(
            parse(
                "mix",
                "geneve",
                &opts(&[("remote_ip", "fd00::5"), ("local_ip", "10.0.0.1")])
            ),
            Err("mix: 'remote_ip' and 'local_ip' has to be of the same address family".to_owned())
        );
    }

    /// Warnings in Open vSwitch's words, and the value it falls back to.
    #[test]
    fn bad_optional_values_are_warnings() {
        let (t, w) = ok("gre", &[("remote_ip", "10.0.1.21"), ("local_ip", "bogus")]);
        assert_eq!(t.local_ip, None);
        assert_eq!(w, ["t0: bad gre 'local_ip'"]);
        let (_, w) = ok("vxlan", &[("remote_ip", "10.0.1.21"), ("foo", "bar")]);
        assert_eq!(w, ["t0: unknown vxlan argument 'foo'"]);
        let (_, w) = ok("gre", &[("remote_ip", "10.0.1.21"), ("dst_port", "4789")]);
        assert_eq!(w, ["t0: unknown gre argument 'dst_port'"]);
        for tos in ["300", "abc", "7"] {
            let (t, w) = ok("gre", &[("remote_ip", "10.0.1.21"), ("tos", tos)]);
            assert_eq!((t.tos, w), (0, vec![format!("t0: invalid TOS {tos}")]));
        }
    }

    /// Numbers read as Open vSwitch reads them (dpif/show of Open vSwitch 3.1 in comments).
    #[test]
    fn numbers_are_read_like_open_vswitch() {
        // (gre: key=8, ...), (gre: key=31, ...), (gre: key=0, ...)
        for (text, want) in [
            ("010", 8),
            ("0x1f", 31),
            ("abc", 0),
            ("99999999999", 99_999_999_999),
        ] {
            let (t, _) = ok("gre", &[("remote_ip", "10.0.1.21"), ("key", text)]);
            assert_eq!(t.in_key, TunnelKeyMode::Fixed(want), "key={text}");
            assert_eq!(t.out_key, TunnelKeyMode::Fixed(want), "key={text}");
        }
        // (gre: remote_ip=10.0.1.7, ttl=44)
        let (t, _) = ok("gre", &[("remote_ip", "10.0.1.7"), ("ttl", "300")]);
        assert_eq!(t.ttl, 44);
        assert_eq!(t.dpif_options(), "gre: remote_ip=10.0.1.7, ttl=44");
        for bad in ["0", "abc"] {
            let (t, w) = ok("gre", &[("remote_ip", "10.0.1.7"), ("ttl", bad)]);
            assert_eq!((t.ttl, w.len()), (64, 1), "ttl={bad}");
        }
        // (gre: remote_ip=10.0.1.15, tos=0x10)
        let (t, _) = ok("gre", &[("remote_ip", "10.0.1.15"), ("tos", "0x10")]);
        assert_eq!(t.tos, 0x10);
        assert_eq!(t.dpif_options(), "gre: remote_ip=10.0.1.15, tos=0x10");
        // df_default: only "false" turns DF off. (gre: df_default=false, remote_ip=10.0.1.2)
        let (t, _) = ok("gre", &[("remote_ip", "10.0.1.2"), ("df_default", "false")]);
        assert!(!t.df_default);
        assert_eq!(
            t.dpif_options(),
            "gre: df_default=false, remote_ip=10.0.1.2"
        );
        let (t, _) = ok("gre", &[("remote_ip", "10.0.1.2"), ("df_default", "maybe")]);
        assert!(t.df_default);
    }

    /// Keys: `key` gives both directions, `in_key`/`out_key` override it; dpif/show prints
    /// one `key` when they agree (Open vSwitch 3.1's output in comments).
    #[test]
    fn keys_and_ports_print_as_dpif_show() {
        // (vxlan: dst_port=8472, key=5, remote_ip=10.0.1.21)
        let (t, w) = ok(
            "vxlan",
            &[
                ("remote_ip", "10.0.1.21"),
                ("dst_port", "8472"),
                ("key", "5"),
            ],
        );
        assert!(w.is_empty());
        assert_eq!((t.dst_port, t.in_key), (8472, TunnelKeyMode::Fixed(5)));
        assert_eq!(
            t.dpif_options(),
            "vxlan: dst_port=8472, key=5, remote_ip=10.0.1.21"
        );
        // (vxlan: remote_ip=10.0.1.21): the standard port is not shown.
        let (t, _) = ok("vxlan", &[("remote_ip", "10.0.1.21"), ("dst_port", "4789")]);
        assert_eq!(t.dpif_options(), "vxlan: remote_ip=10.0.1.21");
        // (geneve: in_key=flow, out_key=7, remote_ip=10.0.1.21)
        let (t, _) = ok(
            "geneve",
            &[
                ("remote_ip", "10.0.1.21"),
                ("in_key", "flow"),
                ("out_key", "7"),
            ],
        );
        assert_eq!(t.dst_port, 6081);
        assert_eq!(
            t.dpif_options(),
            "geneve: in_key=flow, out_key=7, remote_ip=10.0.1.21"
        );
        assert!(t.accepts_key(12345));
        assert_eq!(t.pipeline_config().out_key, Some(7));
        // (gre: in_key=flow, remote_ip=10.0.1.21): no key sent.
        let (t, _) = ok("gre", &[("remote_ip", "10.0.1.21"), ("in_key", "flow")]);
        assert_eq!(t.out_key, TunnelKeyMode::None);
        assert_eq!(t.dpif_options(), "gre: in_key=flow, remote_ip=10.0.1.21");
        // A fixed in_key receives only that key.
        let (t, _) = ok("gre", &[("remote_ip", "10.0.1.21"), ("key", "5")]);
        assert!(t.accepts_key(5) && !t.accepts_key(6));
        let (u, _) = ok(
            "gre",
            &[
                ("remote_ip", "10.0.1.21"),
                ("in_key", "5"),
                ("out_key", "6"),
            ],
        );
        assert_eq!(
            t.receive_key(),
            u.receive_key(),
            "the two ports would collide"
        );
        // Open vSwitch 3.1 refuses `key=0` beside a keyless port to the same remote
        // ("could not add network device j to ofproto (File exists)").
        let (none, _) = ok("gre", &[("remote_ip", "10.0.1.21")]);
        let (zero, _) = ok("gre", &[("remote_ip", "10.0.1.21"), ("key", "0")]);
        assert_eq!(none.receive_key(), zero.receive_key());
        let (t, w) = ok("vxlan", &[("remote_ip", "10.0.1.21"), ("dst_port", "abc")]);
        assert_eq!((t.dst_port, w.len()), (4789, 1));
    }

    #[test]
    fn accepted_options_not_acted_on_are_said_so() {
        let (t, w) = ok(
            "gre",
            &[
                ("remote_ip", "10.0.1.21"),
                ("csum", "true"),
                ("egress_pkt_mark", "5"),
            ],
        );
        assert!(t.csum);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            t.dpif_options(),
            "gre: csum=true, egress_pkt_mark=5, remote_ip=10.0.1.21"
        );
        let (t, w) = ok("gre", &[("remote_ip", "10.0.1.21"), ("csum", "yes")]);
        assert!(!t.csum && w.is_empty());
        let (t, w) = ok(
            "gre",
            &[
                ("remote_ip", "10.0.1.21"),
                ("ttl", "inherit"),
                ("tos", "inherit"),
            ],
        );
        let c = t.pipeline_config();
        assert!(c.ttl_inherit && c.tos_inherit && w.is_empty(), "{w:?}");
        assert_eq!(
            t.dpif_options(),
            "gre: remote_ip=10.0.1.21, tos=inherit, ttl=inherit"
        );
    }

    #[test]
    fn c_number_readers() {
        assert_eq!(strtoull("0x10"), (16, true));
        assert_eq!(strtoull("010"), (8, true));
        assert_eq!(strtoull("0"), (0, true));
        assert_eq!(strtoull("12abc"), (12, false));
        assert_eq!(strtoull(""), (0, false));
        assert_eq!(atoi("-3"), (-3, true));
        assert_eq!(atoi("300"), (300, true));
        assert_eq!(atoi("x"), (0, false));
    }
}
