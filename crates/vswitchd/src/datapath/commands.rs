//! The appctl commands about the datapath, in Open vSwitch's words and formats:
//! `dpif/show`, `dpctl/show`, `dpif/dump-flows`, `dpctl/dump-flows`, `dpctl/del-flows`,
//! `upcall/show`, `revalidator/wait`, `revalidator/purge`, `fdb/flush`,
//! `netdev-dummy/receive`, `netdev-dummy/set-admin-state`, `memory/show` and `coverage/show`.
//!
//! Every command asks the datapath thread first and takes the switch's lock only after the
//! answer, never the other way round (see the module docs of [`super`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use fvs_flow::{Field, PortNo};
use fvs_pipeline::dpif::DpPort;
use fvs_pipeline::port::PortConfig;

use super::{Handle, packet, pmd, ports, thread};
use crate::Daemon;
use crate::unixctl::Command;

/// The datapath's name in `dpif/show` and `upcall/show`: one datapath of the default type.
const DPIF_NAME: &str = "system@ovs-system";

/// The commands, for [`crate::commands::table`].
pub fn table() -> Vec<Command<Daemon>> {
    vec![
        Command {
            name: "dpif/show",
            usage: "",
            min: 0,
            max: 0,
            handler: dpif_show,
        },
        Command {
            name: "dpctl/show",
            usage: "[-s] [dp...]",
            min: 0,
            max: 2,
            handler: dpctl_show,
        },
        Command {
            name: "dpif/dump-flows",
            usage: "[-m] [--names | --no-names] bridge",
            min: 1,
            max: 3,
            handler: dpif_dump_flows,
        },
        Command {
            name: "dpctl/dump-flows",
            usage: "[-m] [--names] [dp] [filter=..] [type=..] [pmd=..]",
            min: 0,
            max: 6,
            handler: dpctl_dump_flows,
        },
        Command {
            name: "dpctl/del-flows",
            usage: "[dp] [file]",
            min: 0,
            max: 2,
            handler: |d, _| {
                handle(d)?.query_all(|f| {
                    f.dp.flush();
                    f.slow.clear();
                })?;
                Ok(String::new())
            },
        },
        Command {
            name: "dpif-netdev/pmd-rxq-show",
            usage: "[-pmd core] [dp]",
            min: 0,
            max: 3,
            handler: pmd_rxq_show,
        },
        Command {
            name: "dpif-netdev/pmd-stats-show",
            usage: "[-pmd core] [dp]",
            min: 0,
            max: 3,
            handler: pmd_stats_show,
        },
        Command {
            name: "upcall/show",
            usage: "",
            min: 0,
            max: 0,
            handler: upcall_show,
        },
        Command {
            name: "revalidator/wait",
            usage: "",
            min: 0,
            max: 0,
            handler: |d, _| revalidate(d, false),
        },
        Command {
            name: "revalidator/purge",
            usage: "",
            min: 0,
            max: 0,
            handler: |d, _| revalidate(d, true),
        },
        Command {
            name: "fdb/flush",
            usage: "[bridge]",
            min: 0,
            max: 1,
            handler: fdb_flush,
        },
        Command {
            name: "netdev-dummy/receive",
            usage: "name [--qid queue_id] packet|flow [--len packet_len]",
            min: 2,
            max: usize::MAX,
            handler: receive,
        },
        Command {
            name: "netdev-dummy/set-admin-state",
            usage: "[netdev] up|down",
            min: 1,
            max: 2,
            handler: set_admin_state,
        },
        Command {
            name: "memory/show",
            usage: "",
            min: 0,
            max: 0,
            handler: memory_show,
        },
        Command {
            name: "coverage/show",
            usage: "",
            min: 0,
            max: 0,
            handler: coverage_show,
        },
    ]
}

fn handle(d: &Daemon) -> Result<&Handle, String> {
    d.datapath()
        .map(AsRef::as_ref)
        .ok_or_else(|| "the datapath is not running".to_owned())
}

/// An OpenFlow port number as `dpif/show` prints it (`LOCAL` as its 16-bit value).
fn ofport_text(p: PortNo) -> String {
    if p == PortNo::LOCAL {
        "65534".to_owned()
    } else {
        p.0.to_string()
    }
}

fn dpif_show(d: &Daemon, _: &[String]) -> Result<String, String> {
    let h = handle(d)?;
    let st = Lookups::sum(h.query_all(|f| f.dp.stats())?);
    let ifaces = h.iface_table();
    let mut out = format!("{DPIF_NAME}: hit:{} missed:{}\n", st.hit, st.missed);
    let sw = d.switch();
    let mut bridges: Vec<_> = sw.bridges.iter().collect();
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    for b in bridges {
        let _ = writeln!(out, "  {}:", b.name);
        let mut ports: Vec<_> = b.ports.values().collect();
        ports.sort_by(|a, b| a.name.cmp(&b.name));
        for p in ports {
            let (kind, options) = ifaces.get(&p.name).cloned().unwrap_or_default();
            let dp = p.dp_port.map_or("none".to_owned(), |n| n.0.to_string());
            let _ = writeln!(
                out,
                "    {} {}/{dp}: ({})",
                p.name,
                ofport_text(p.ofport),
                ports::show_type(&kind, &options, h.enable_dummy())
            );
        }
    }
    Ok(out)
}

/// `dpctl/show [-s]`: the datapath's lookups, flows and ports in number order, as Open
/// vSwitch prints them. Port 0 is Open vSwitch's datapath-local port, which ferrovs lists
/// for the tools that expect it (it has no device). A tunnel type's shared vport is named
/// after its first tunnel interface under `--enable-dummy`, as Open vSwitch's dummy datapath
/// names it, else `gre_sys` and the like; tunnel underlay devices are listed by their own
/// names (`gre_sys/underlay`). With `-s`, each port's device counters; what a device does
/// not count prints `?`.
fn dpctl_show(d: &Daemon, args: &[String]) -> Result<String, String> {
    let h = handle(d)?;
    let stats = args.iter().any(|a| a == "-s" || a == "--statistics");
    // Devices are every thread's alike; lookups and megaflows are each thread's own.
    let counters = h.query(|f| {
        let nos: Vec<DpPort> = f.dp.ports().map(|(n, _, _)| n).collect();
        nos.into_iter()
            .filter_map(|n| Some((n, f.dp.netdev(n)?.stats())))
            .collect::<BTreeMap<DpPort, fvs_netdev::NetdevStats>>()
    })?;
    let per_thread = h.query_all(|f| (f.dp.stats(), f.dp.n_flows()))?;
    let n_flows: usize = per_thread.iter().map(|(_, n)| n).sum();
    let st = Lookups::sum(per_thread.into_iter().map(|(s, _)| s).collect());
    let devices = h.port_devices();
    let ifaces = h.iface_table();
    let dummy = h.enable_dummy();
    let mut out = format!(
        "{DPIF_NAME}:\n  lookups: hit:{} missed:{} lost:{}\n  flows: {n_flows}\n",
        st.hit, st.missed, st.lost
    );
    let local = if dummy { "dummy-internal" } else { "internal" };
    let _ = writeln!(out, "  port 0: ovs-system ({local})");
    for (no, (name, device)) in &devices {
        let (shown, kind) = match device {
            ports::Device::Dummy { internal: true } => (name.clone(), Some("dummy-internal")),
            ports::Device::Tap => (name.clone(), Some("internal")),
            ports::Device::Tunnel(p) => {
                let kind = match p {
                    fvs_packet::tunnel::TunnelProtocol::Gre => "gre",
                    fvs_packet::tunnel::TunnelProtocol::Vxlan => "vxlan",
                    fvs_packet::tunnel::TunnelProtocol::Geneve => "geneve",
                };
                // The first interface of this vport's type and UDP port.
                let first = ifaces
                    .iter()
                    .find(|(n, (k, o))| {
                        k == kind
                            && crate::tunnel_config::parse(n, k, o)
                                .is_ok_and(|(t, _)| t.underlay().name() == *name)
                    })
                    .map(|(n, _)| n.clone());
                let shown = match first {
                    Some(n) if dummy => n,
                    _ => name.clone(),
                };
                (shown, Some(kind))
            }
            _ => (name.clone(), None),
        };
        match kind {
            Some(k) => {
                let _ = writeln!(out, "  port {no}: {shown} ({k})");
            }
            None => {
                let _ = writeln!(out, "  port {no}: {shown}");
            }
        }
        if stats {
            let s = counters.get(no).copied().unwrap_or_default();
            let _ = writeln!(
                out,
                "    RX packets:{} errors:{} dropped:{} overruns:? frame:?\n    TX packets:{} errors:{} dropped:{} aborted:? carrier:?\n    collisions:?\n    RX bytes:{}  TX bytes:{}",
                s.rx_packets,
                s.rx_errors,
                s.rx_dropped,
                s.tx_packets,
                s.tx_errors,
                s.tx_dropped,
                s.rx_bytes,
                s.tx_bytes
            );
        }
    }
    Ok(out)
}

/// Lookup counters summed over the datapath threads.
#[derive(Default)]
struct Lookups {
    hit: u64,
    missed: u64,
    lost: u64,
}

impl Lookups {
    fn sum(threads: Vec<fvs_datapath::DatapathStats>) -> Self {
        threads.iter().fold(Self::default(), |acc, s| Self {
            hit: acc.hit + s.emc_hits + s.megaflow_hits,
            missed: acc.missed + s.missed,
            lost: acc.lost + s.lost,
        })
    }
}

/// How `dpctl/dump-flows` shows megaflows: `-m` (where each is handled: `offloaded:yes,
/// dp:tc` for those the kernel forwards, `dp:ovs` for the others, as Open vSwitch prints
/// them) and `type=`.
#[derive(Clone, Copy, Debug)]
struct View {
    verbose: bool,
    /// Show megaflows the datapath handles (`ovs`, `non-offloaded`).
    ovs: bool,
    /// Show megaflows the kernel forwards (`tc`, `offloaded`).
    tc: bool,
}

impl View {
    /// Every megaflow, without `-m`.
    const ALL: Self = Self {
        verbose: false,
        ovs: true,
        tc: true,
    };

    /// From the command's arguments: `-m`/`--more`, `type=a,b` (every type by default).
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut v = Self {
            verbose: args.iter().any(|a| a == "-m" || a == "--more"),
            ovs: true,
            tc: true,
        };
        if let Some(types) = args.iter().find_map(|a| a.strip_prefix("type=")) {
            v.ovs = false;
            v.tc = false;
            for t in types.split(',') {
                match t {
                    "ovs" | "non-offloaded" => v.ovs = true,
                    "tc" | "offloaded" => v.tc = true,
                    "all" => (v.ovs, v.tc) = (true, true),
                    // Nothing here is handled by DPDK or offloaded in part.
                    "dpdk" | "partially-offloaded" => {}
                    _ => return Err(format!("Failed to parse type ({types}) (Invalid argument)")),
                }
            }
        }
        Ok(v)
    }
}

/// Each thread's megaflows in `dpctl/dump-flows` form whose input port is one of `only`
/// (all if `None`), with the core the thread is pinned to.
fn dump_threads(
    h: &Handle,
    only: Option<BTreeSet<u32>>,
    view: View,
) -> Result<Vec<(Option<pmd::CoreId>, String)>, String> {
    h.query_all(move |f| {
        let mut out = String::new();
        for (id, key, mask, m) in f.dp.megaflows() {
            let in_port = u32::try_from(key.get(Field::InPort.loc())).unwrap_or(u32::MAX);
            if only.as_ref().is_some_and(|o| !o.contains(&in_port)) {
                continue;
            }
            let offloaded = f.offload.is_offloaded(id, key, mask);
            if !(if offloaded { view.tc } else { view.ovs }) {
                continue;
            }
            let mut line = String::new();
            fvs_datapath::text::write_flow(&mut line, key, mask, &m.stats, &m.actions, now(f));
            if view.verbose {
                let at = line.find(", actions:").unwrap_or(line.len());
                let dp = if offloaded {
                    ", offloaded:yes, dp:tc"
                } else {
                    ", dp:ovs"
                };
                line.insert_str(at, dp);
            }
            out.push_str(&line);
            out.push('\n');
        }
        (f.core, out)
    })
}

/// Every thread's megaflows (see [`dump_threads`]), one after the other.
fn dump(h: &Handle, only: Option<BTreeSet<u32>>, view: View) -> Result<String, String> {
    Ok(dump_threads(h, only, view)?
        .into_iter()
        .map(|(_, flows)| flows)
        .collect())
}

fn now(f: &thread::Fast) -> fvs_pipeline::clock::Millis {
    f.dp.now()
}

fn dpif_dump_flows(d: &Daemon, args: &[String]) -> Result<String, String> {
    let h = handle(d)?;
    let name = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .ok_or("bridge name required")?;
    let ports: BTreeSet<u32> = {
        let sw = d.switch();
        let b = sw
            .bridge(name)
            .ok_or_else(|| format!("{name}: unknown bridge"))?;
        b.ports
            .values()
            .filter_map(|p| p.dp_port.map(|n| n.0))
            .collect()
    };
    // Open vSwitch's dpif/dump-flows says nothing of offloads, even with -m (dpctl's does).
    dump(h, Some(ports), View::ALL)
}

/// `dpctl/dump-flows`: a section per thread, headed as Open vSwitch heads its PMD threads'
/// (`flow-dump from pmd on cpu core: N`) or, for the default unpinned thread, its main
/// thread's.
fn dpctl_dump_flows(d: &Daemon, args: &[String]) -> Result<String, String> {
    let view = View::parse(args)?;
    let mut out = String::new();
    for (core, flows) in dump_threads(handle(d)?, None, view)? {
        // Open vSwitch heads a thread's section at its first flow: a thread with none that
        // qualify (`type=`, or an empty cache) has no heading.
        if flows.is_empty() {
            continue;
        }
        match core {
            Some(c) => {
                let _ = writeln!(out, "flow-dump from pmd on cpu core: {c}");
            }
            None => out.push_str("flow-dump from the main thread:\n"),
        }
        out.push_str(&flows);
    }
    Ok(out)
}

fn upcall_show(d: &Daemon, _: &[String]) -> Result<String, String> {
    let threads = handle(d)?.query_all(|f| {
        (
            f.dp.n_flows(),
            f.slow.stats.max_flows,
            f.slow.n_keys(),
            f.last_dump.as_millis(),
            f.slow.flow_limit,
        )
    })?;
    // Each datapath thread revalidates its own megaflows: it is one revalidator line.
    let n: usize = threads.iter().map(|t| t.0).sum();
    let max: usize = threads.iter().map(|t| t.1).sum();
    let dur = threads.iter().map(|t| t.3).max().unwrap_or(0);
    let limit = threads.first().map_or(0, |t| t.4);
    let mut out = format!(
        "{DPIF_NAME}:\n  flows         : (current {n}) (avg {n}) (max {}) (limit {limit})\n  dump duration : {dur}ms\n  ufid enabled : true\n\n",
        max.max(n)
    );
    for (i, t) in threads.iter().enumerate() {
        let _ = writeln!(out, "  {}: (keys {})", i + 1, t.2);
    }
    Ok(out)
}

/// `revalidator/wait`: a full pass has run when this returns; `purge` empties the cache first.
fn revalidate(d: &Daemon, purge: bool) -> Result<String, String> {
    handle(d)?.query_all(move |f| {
        if purge {
            f.dp.flush();
            f.slow.clear();
        }
        f.force_full();
        f.revalidate();
    })?;
    Ok(String::new())
}

fn fdb_flush(d: &Daemon, args: &[String]) -> Result<String, String> {
    {
        let mut sw = d.switch();
        match args.first() {
            Some(name) => {
                let b = sw.bridge_mut(name).ok_or("no such bridge")?;
                b.mac = fvs_pipeline::mac_table::MacTable::default();
            }
            None => {
                for b in &mut sw.bridges {
                    b.mac = fvs_pipeline::mac_table::MacTable::default();
                }
            }
        }
    }
    // Megaflows that forward by a forgotten MAC must be re-translated.
    if let Ok(h) = handle(d) {
        h.query_all(|f| f.force_full())?;
    }
    Ok("table successfully flushed\n".to_owned())
}

/// `netdev-dummy/receive NAME [--qid N] PACKET... [--len N]`.
fn receive(d: &Daemon, args: &[String]) -> Result<String, String> {
    let h = handle(d)?;
    let name = &args[0];
    let mut frames = Vec::new();
    let mut len: Option<usize> = None;
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--qid" => {
                rest.next().ok_or("--qid needs a queue id")?;
            }
            "--len" => {
                let v = rest.next().ok_or("--len needs a length")?;
                len = Some(v.parse().map_err(|_| format!("{v}: bad packet length"))?);
            }
            text => frames.push(packet::parse_packet(text).map_err(|e| e.to_string())?),
        }
    }
    if frames.is_empty() {
        return Err("no packet given".into());
    }
    for mut f in frames {
        if let Some(n) = len.filter(|n| *n > f.len()) {
            f.resize(n, 0);
        }
        h.receive(name, &f)?;
    }
    Ok(String::new())
}

/// `netdev-dummy/set-admin-state [NETDEV] up|down`: brings dummy device NETDEV (every dummy
/// device without one) administratively down or up. As in Open vSwitch, that is the port's
/// `PORT_DOWN` (so its description shows `PORT_DOWN` and `LINK_DOWN`, and fast-failover
/// buckets watching it are not live) while the dummy device itself still carries frames; the
/// megaflows are revalidated before the answer, so the next packet sees the change.
fn set_admin_state(d: &Daemon, args: &[String]) -> Result<String, String> {
    let h = handle(d)?;
    let (state, names) = match args {
        [state] => {
            let names: Vec<String> = {
                let sw = d.switch();
                sw.bridges
                    .iter()
                    .flat_map(|b| b.ports.values().map(|p| p.name.clone()))
                    .collect()
            };
            (
                state,
                names.into_iter().filter(|n| h.dummy(n).is_some()).collect(),
            )
        }
        [name, state] => {
            if h.dummy(name).is_none() {
                return Err("Unknown Dummy Interface".into());
            }
            (state, vec![name.clone()])
        }
        _ => return Err("Invalid Admin State".into()),
    };
    let down = match state.as_str() {
        "up" => false,
        "down" => true,
        _ => return Err("Invalid Admin State".into()),
    };
    // (bridge, port, configuration before) of each port that changed.
    let changed: Vec<(String, PortNo, u32)> = {
        let mut sw = d.switch();
        let mut changed = Vec::new();
        for b in &mut sw.bridges {
            for name in &names {
                let Some(p) = b.port_by_name(name) else {
                    continue;
                };
                let (ofport, was) = (p.ofport, p.config);
                let bit = PortConfig::PORT_DOWN;
                let now = PortConfig(if down { was.0 | bit } else { was.0 & !bit });
                if now != was {
                    b.set_port_config(ofport, now);
                    changed.push((b.name.clone(), ofport, was.0));
                }
            }
        }
        changed
    };
    if !changed.is_empty() {
        d.revalidate_now();
        announce_admin_state(d, &changed, down);
    }
    Ok("OK".into())
}

/// The port-status messages of `netdev-dummy/set-admin-state`: each changed port's
/// liveness ([`announce_liveness`]).
fn announce_admin_state(d: &Daemon, changed: &[(String, PortNo, u32)], down: bool) {
    for (bridge, ofport, was) in changed {
        announce_liveness(d, bridge, *ofport, *was, down);
    }
}

/// The port-status messages of port `ofport` of `bridge` going down (administratively or by
/// its link) or coming up, from configuration `was`, as Open vSwitch sends them: going down,
/// first the port no longer live (its configuration and state as they were, without `LIVE`),
/// then its new configuration with `LINK_DOWN`; coming up, one message, live again. Never
/// call this with the switch's lock held.
pub(super) fn announce_liveness(d: &Daemon, bridge: &str, ofport: PortNo, was: u32, down: bool) {
    use crate::ofchannel::controller::{AsyncEvent, PortEvent};
    use fvs_openflow::wire::port::OFPPS_LINK_DOWN;
    use fvs_openflow::wire::{PortDesc, PortReason};
    let ports = crate::connmgr::port_snapshot(d);
    let Some((name, mac, config, features)) = ports.get(bridge).and_then(|p| p.get(&ofport)) else {
        return;
    };
    let desc = |config: u32, state: u32| {
        features.describe(PortDesc {
            port_no: ofport,
            hw_addr: fvs_openflow::EthAddr(*mac),
            name: name.clone(),
            config,
            state,
            ..PortDesc::default()
        })
    };
    let event = |now: PortDesc, live: bool, old: PortDesc, was_live: bool| {
        AsyncEvent::PortStatus(Box::new(PortEvent {
            reason: PortReason::Modify,
            desc: now,
            live,
            old: Some((old, was_live)),
        }))
    };
    let events = if down {
        let dead = desc(was, 0);
        let after = desc(*config, OFPPS_LINK_DOWN);
        vec![
            event(dead.clone(), false, desc(was, 0), true),
            event(after, false, dead, false),
        ]
    } else {
        vec![event(
            desc(*config, 0),
            true,
            desc(was, OFPPS_LINK_DOWN),
            false,
        )]
    };
    for ev in events {
        d.connmgr().publish(bridge, ev, None);
    }
}

fn memory_show(d: &Daemon, _: &[String]) -> Result<String, String> {
    let h = handle(d)?;
    let threads = h.query_all(|f| (f.dp.ports().count(), f.dp.n_flows(), f.slow.n_keys()))?;
    let ports = threads.first().map_or(0, |t| t.0);
    let flows: usize = threads.iter().map(|t| t.1).sum();
    let keys: usize = threads.iter().map(|t| t.2).sum();
    let n = threads.len();
    let rules: usize = {
        let sw = d.switch();
        sw.bridges.iter().map(|b| b.rules().len()).sum()
    };
    Ok(format!(
        "handlers:{n} megaflows:{flows} ports:{ports} revalidators:{n} rules:{rules} udpif keys:{keys}\n"
    ))
}

fn coverage_show(d: &Daemon, _: &[String]) -> Result<String, String> {
    let h = handle(d)?;
    let threads = h.query_all(|f| {
        // Devices are shared: the first thread counts them for all.
        let mut dev = fvs_netdev::NetdevStats::default();
        // Devices' own counters (the tunnel underlay's UDP offloads).
        let mut own = Vec::new();
        let nos: Vec<DpPort> = f.dp.ports().map(|(n, _, _)| n).collect();
        for n in nos.into_iter().filter(|_| f.id == 0) {
            if let Some(d) = f.dp.netdev(n) {
                let s = d.stats();
                dev.rx_dropped += s.rx_dropped;
                dev.rx_errors += s.rx_errors;
                dev.tx_dropped += s.tx_dropped;
                dev.tx_errors += s.tx_errors;
                own.extend(d.coverage());
            }
        }
        let mut rows = coverage_rows(
            &f.dp.stats(),
            &f.slow.stats,
            f.packet_ins,
            f.packet_in_dropped,
            f.recv_errors,
            &dev,
        );
        rows.extend(own);
        rows
    })?;
    let mut rows: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, n) in threads.into_iter().flatten() {
        *rows.entry(name).or_default() += n;
    }
    // Packet-ins dropped because a connection's queue was full (crate::outbox).
    *rows.entry("rconn_overflow").or_default() += d.connmgr().overflows();
    // Kernel flow offload is the process's, not a thread's (super::offload).
    for (name, n) in super::offload::coverage() {
        *rows.entry(name).or_default() += n;
    }
    let mut out = String::from("Event coverage (totals since the daemon started):\n");
    let mut zero = 0;
    for (name, n) in rows {
        if n == 0 {
            zero += 1;
        } else {
            let _ = writeln!(out, "{name:<26} total: {n}");
        }
    }
    let _ = writeln!(out, "{zero} events never hit");
    Ok(out)
}

/// One thread's coverage counters.
fn coverage_rows(
    dp: &fvs_datapath::DatapathStats,
    slow: &super::slow::SlowStats,
    pin: u64,
    pin_drop: u64,
    rx_err: u64,
    dev: &fvs_netdev::NetdevStats,
) -> Vec<(&'static str, u64)> {
    vec![
        ("datapath_emc_hit", dp.emc_hits),
        ("datapath_megaflow_hit", dp.megaflow_hits),
        ("datapath_miss_upcall", dp.missed),
        ("datapath_no_port_drop", dp.no_port),
        ("datapath_drop_rx_invalid_packet", dp.invalid),
        ("datapath_failed_action", dp.failed_actions),
        ("datapath_userspace_lost", dp.lost),
        ("netdev_soft_seg_good", dp.soft_segmented),
        ("netdev_soft_seg_drops", dp.offload_dropped),
        ("netdev_soft_csum", dp.soft_checksummed),
        ("tunnel_gro_coalesced", dp.coalesced),
        ("datapath_drop_tunnel_ecn", dp.ecn_dropped),
        ("native_tnl_sent", dp.native_sent),
        ("native_tnl_received", dp.native_received),
        ("native_tnl_neigh_miss", dp.native_no_neighbour),
        ("native_tnl_rx_error", dp.native_malformed),
        ("native_tnl_gso_frames", dp.native_gso_frames),
        ("native_tnl_gso_segments", dp.native_gso_segments),
        ("native_tnl_rx_gso_frames", dp.native_rx_gso_frames),
        ("native_tnl_rx_gso_segments", dp.native_rx_gso_segments),
        ("datapath_drop_recirc", dp.recirc_dropped),
        ("upcall_handled", slow.upcalls),
        ("upcall_no_port", slow.upcall_no_port),
        ("revalidate_pass", slow.revalidations),
        ("revalidate_full_pass", slow.full_revalidations),
        ("revalidate_flow_invalid", slow.flows_invalidated),
        ("revalidate_flow_updated", slow.flows_updated),
        ("revalidate_flow_idle", slow.flows_idle),
        ("revalidate_flow_evicted", slow.flows_evicted),
        ("packet_in_sent", pin),
        ("packet_in_dropped", pin_drop),
        ("netdev_receive_error", rx_err),
        ("netdev_rx_dropped", dev.rx_dropped),
        ("netdev_rx_error", dev.rx_errors),
        ("netdev_tx_dropped", dev.tx_dropped),
        ("netdev_tx_error", dev.tx_errors),
    ]
}

/// `dpif-netdev/pmd-rxq-show [-pmd core] [dp]`: each pinned datapath thread and the ports
/// (receive queue 0) it reads, in Open vSwitch's layout. ferrovs measures no per-queue
/// cycles, so usage is `NOT AVAIL`, as Open vSwitch prints it before it has measured. The
/// default unpinned thread is listed as Open vSwitch lists its main thread: not at all.
fn pmd_rxq_show(d: &Daemon, args: &[String]) -> Result<String, String> {
    let only = pmd_filter(args)?;
    let threads: Vec<super::PmdThread> = handle(d)?
        .pmd_threads()
        .into_iter()
        .filter(|t| t.core.is_some())
        .filter(|t| only.is_none_or(|c| t.core.is_some_and(|k| k.0 == c)))
        .collect();
    if threads.is_empty() && only.is_some() {
        return Ok(String::new());
    }
    let mut out = String::from("Displaying last 60 seconds pmd usage %\n");
    for t in threads {
        let core = t.core.map_or(0, |c| c.0);
        let _ = writeln!(
            out,
            "pmd thread numa_id 0 core_id {core}:\n  isolated : {}",
            t.isolated
        );
        for (_, name) in &t.ports {
            let _ = writeln!(
                out,
                "  port: {name:<16}  queue-id:  0 (enabled)   pmd usage: NOT AVAIL"
            );
        }
        out.push_str("  overhead: NOT AVAIL\n");
    }
    Ok(out)
}

/// `dpif-netdev/pmd-stats-show [-pmd core] [dp]`: each datapath thread's lookups in Open
/// vSwitch's layout, a pinned thread as `pmd thread numa_id 0 core_id N:`, the default
/// unpinned thread as Open vSwitch's `main thread:`. Lookups ferrovs does not have (hardware
/// offload, miniflow extract, simple match, the signature match cache, recirculation) are 0;
/// what it does not measure (subtable lookups per hit, packets per output batch, cycles) is
/// left out rather than guessed.
fn pmd_stats_show(d: &Daemon, args: &[String]) -> Result<String, String> {
    let only = pmd_filter(args)?;
    let threads = handle(d)?.query_all(|f| (f.core, f.dp.stats()))?;
    let mut out = String::new();
    for (core, st) in threads {
        if only.is_some_and(|c| core.is_none_or(|k| k.0 != c)) {
            continue;
        }
        match core {
            Some(c) => {
                let _ = writeln!(out, "pmd thread numa_id 0 core_id {c}:");
            }
            None => out.push_str("main thread:\n"),
        }
        let received = st.emc_hits + st.megaflow_hits + st.missed;
        let passes = if received > 0 { "1.00" } else { "0.00" };
        let _ = write!(
            out,
            "  packets received: {received}\n  packet recirculations: 0\n  avg. datapath passes per packet: {passes}\n  phwol hits: 0\n  mfex opt hits: 0\n  simple match hits: 0\n  emc hits: {}\n  smc hits: 0\n  megaflow hits: {}\n  miss with success upcall: {}\n  miss with failed upcall: 0\n",
            st.emc_hits, st.megaflow_hits, st.missed
        );
    }
    Ok(out)
}

/// The core of `-pmd CORE` among a pmd command's arguments (`None`: every thread; Open
/// vSwitch ignores a core id that is not a number).
fn pmd_filter(args: &[String]) -> Result<Option<usize>, String> {
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        if a == "-pmd" {
            let v = rest.next().ok_or("-pmd needs a core id")?;
            return Ok(v.parse::<usize>().ok());
        }
    }
    Ok(None)
}
