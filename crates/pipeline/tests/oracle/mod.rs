//! A private Open vSwitch (Debian's 3.1) to compare ferrovs against.
//!
//! [`Ovs::start`] runs `ovsdb-server` and `ovs-vswitchd` in a fresh temporary directory (their
//! database, sockets, pid files and logs all live there, found through `OVS_RUNDIR` and
//! friends), with `--enable-dummy=override --disable-system`: every bridge uses the userspace
//! `dummy` datapath and every interface is a dummy netdev, so nothing touches the host's
//! network and no kernel module is needed. [`Ovs::mirror`] configures bridges and ports to be
//! exactly those of a ferrovs [`Switch`], so the two cannot drift apart.
//!
//! Dropping an [`Ovs`] kills exactly the two daemons whose pids are in its pid files and
//! removes the directory, also when a test fails.
//!
//! If `ovs-vswitchd` is not installed the test fails (CI installs `openvswitch-switch`); it
//! never skips.
//!
//! # Normalisation
//!
//! Only what must differ is normalised ([`normalize_trace`]):
//!
//! - Flooding visits ports in an order that depends on Open vSwitch's hash tables, so the
//!   `Datapath actions:` line is compared as the sorted list of what each output sends
//!   ([`deliveries`]), not as text.
//! - `--enable-dummy=override` turns every netdev, tunnels included, into a plain dummy port:
//!   Open vSwitch's GRE port neither encapsulates nor says "output to kernel tunnel". On the
//!   ferrovs side exactly those two things (`set(tunnel(...))` and that trace line) are removed
//!   before comparing; the tunnel header itself is checked by `tests/seed.rs`.
//! - A packet-in's `userspace(...controller(...recirc_id=N...))` names the recirculation id Open
//!   vSwitch allocated for the packet's continuation: allocator state, shown as `recirc_id=*`
//!   on both sides (ferrovs does not recirculate).
//! - `dump-flows` durations and ages are timing; packet and byte counters are left out too,
//!   because `ofproto/trace -generate` runs a packet through translation (so `learn` and MAC
//!   learning happen) without crediting rule statistics, which Open vSwitch does later and
//!   asynchronously from datapath flow statistics.

#![allow(dead_code)] // each test binary uses part of the harness

use fvs_flow::FlowKey;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::port::{PortKind, VlanMode};
use fvs_pipeline::switch::Switch;
use fvs_test_support::{PrivateOvs, ToolError};

/// A running private Open vSwitch ([`PrivateOvs`]); stopped and removed on drop.
pub(crate) struct Ovs {
    ovs: PrivateOvs,
}

impl Ovs {
    /// Starts `ovsdb-server` and `ovs-vswitchd` in a new temporary directory.
    pub(crate) fn start() -> Self {
        Self {
            ovs: PrivateOvs::start(),
        }
    }

    /// Runs `tool args` with this instance's environment; panics with its stderr on failure.
    pub(crate) fn run(&self, tool: &str, args: &[&str]) -> String {
        self.ovs.run(tool, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ovs-vsctl` against this instance's database (waiting for ovs-vswitchd to apply it).
    pub(crate) fn vsctl(&self, args: &[&str]) -> String {
        self.ovs.vsctl(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ovs-appctl` to this instance's ovs-vswitchd.
    pub(crate) fn appctl(&self, args: &[&str]) -> String {
        self.ovs.appctl(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ovs-ofctl` (it finds the bridge's management socket through `OVS_RUNDIR`).
    pub(crate) fn ofctl(&self, args: &[&str]) -> String {
        self.ovs.ofctl(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates the bridges and ports of `sw` (fail mode, OpenFlow port numbers, VLAN roles,
    /// patch peers, tunnel options), one transaction per bridge and per port in `sw`'s order,
    /// and checks that the dummy datapath numbered the ports as ferrovs's model says.
    pub(crate) fn mirror(&self, sw: &Switch) {
        self.create(sw);
        let numbers = self.datapath_ports();
        for b in &sw.bridges {
            for p in b.ports.values() {
                let want = p.dp_port.map(|d| d.0);
                let got = numbers.get(&p.name).copied().flatten();
                assert_eq!(
                    got, want,
                    "datapath port of {} in Open vSwitch is {got:?}, ferrovs's model says {want:?}",
                    p.name
                );
            }
        }
    }

    /// Like [`Ovs::mirror`], but gives `sw`'s ports the datapath numbers Open vSwitch chose
    /// (they are arbitrary names; the dummy datapath derives some from digits in port names).
    pub(crate) fn mirror_adopting_port_numbers(&self, sw: &mut Switch) {
        self.create(sw);
        let numbers = self.datapath_ports();
        for b in &mut sw.bridges {
            for p in b.ports.values_mut() {
                let got = numbers.get(&p.name).copied().flatten();
                p.dp_port = got.map(fvs_pipeline::dpif::DpPort);
            }
        }
    }

    fn create(&self, sw: &Switch) {
        for b in &sw.bridges {
            let fail_mode = match b.fail_mode {
                fvs_pipeline::bridge::FailMode::Secure => "secure",
                fvs_pipeline::bridge::FailMode::Standalone => "standalone",
            };
            self.vsctl(&[
                "add-br",
                &b.name,
                "--",
                "set",
                "bridge",
                &b.name,
                "datapath_type=dummy",
                &format!("fail_mode={fail_mode}"),
            ]);
            for p in b.ports.values() {
                if matches!(p.kind, PortKind::Internal) && p.name == b.name {
                    continue; // the bridge's own port comes with add-br
                }
                let mut args: Vec<String> = vec!["add-port".into(), b.name.clone(), p.name.clone()];
                let tag = p.vlan.tag.map(|t| t.get());
                if let Some(t) = tag {
                    args.push(format!("tag={t}"));
                }
                if !p.vlan.trunks.is_empty() {
                    let list: Vec<String> =
                        p.vlan.trunks.iter().map(|t| t.get().to_string()).collect();
                    args.push(format!("trunks={}", list.join(",")));
                }
                let mode = match p.vlan.mode {
                    VlanMode::Access => "access",
                    VlanMode::Trunk => "trunk",
                    VlanMode::NativeTagged => "native-tagged",
                    VlanMode::NativeUntagged => "native-untagged",
                };
                if tag.is_some() || p.vlan.mode != VlanMode::Trunk {
                    args.push(format!("vlan_mode={mode}"));
                }
                args.extend([
                    "--".into(),
                    "set".into(),
                    "interface".into(),
                    p.name.clone(),
                    format!("ofport_request={}", p.ofport.0),
                ]);
                match &p.kind {
                    PortKind::Internal => args.push("type=internal".into()),
                    PortKind::System => {}
                    PortKind::Patch { peer } => {
                        args.push("type=patch".into());
                        args.push(format!("options:peer={peer}"));
                    }
                    PortKind::Tunnel(t) => {
                        args.push(format!("type={}", t.kind));
                        args.push(format!("options:local_ip={}", t.local_ip));
                        args.push(format!("options:remote_ip={}", t.remote_ip));
                        let key = t.out_key.map_or("flow".to_owned(), |k| k.to_string());
                        args.push(format!("options:key={key}"));
                    }
                }
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                self.vsctl(&refs);
            }
        }
    }

    /// Datapath port number of every port by name, from `dpif/show` (`None` for patch ports).
    fn datapath_ports(&self) -> std::collections::HashMap<String, Option<u32>> {
        let show = self.appctl(&["dpif/show"]);
        show.lines()
            .filter(|l| l.starts_with("    "))
            .filter_map(|l| {
                let (name, rest) = l.trim().split_once(' ')?;
                let numbers = rest.split(':').next()?;
                let dp = numbers.split('/').nth(1)?;
                Some((name.to_owned(), dp.parse().ok()))
            })
            .collect()
    }

    /// Stops Open vSwitch's clock: from now on it only moves with [`Ovs::warp`], so ages and
    /// timeouts can be compared with ferrovs's test clock.
    pub(crate) fn stop_time(&self) {
        self.appctl(&["time/stop"]);
    }

    /// Moves Open vSwitch's stopped clock forward by `secs` seconds (running its timers).
    pub(crate) fn warp(&self, secs: u64) {
        self.appctl(&["time/warp", &(secs * 1000).to_string()]);
    }

    /// `ovs-appctl fdb/show BRIDGE`, entry lines sorted (Open vSwitch lists them in LRU order).
    pub(crate) fn fdb(&self, bridge: &str) -> String {
        sorted_fdb(&self.appctl(&["fdb/show", bridge]))
    }

    /// Adds flows (one per line, `ovs-ofctl add-flow` syntax) to `bridge` over `protocol`
    /// (`OpenFlow10`, or `OpenFlow13` for instructions such as `write_actions`).
    pub(crate) fn add_flows(&self, bridge: &str, flows: &str, protocol: &str) {
        let file = self.ovs.dir().join(format!("{bridge}.flows"));
        std::fs::write(&file, flows).expect("write the flow file");
        self.ofctl(&[
            "-O",
            protocol,
            "add-flows",
            bridge,
            &file.display().to_string(),
        ]);
    }

    /// Like [`Ovs::add_flows`], but returns `ovs-ofctl`'s error text instead of panicking.
    pub(crate) fn try_add_flows(
        &self,
        bridge: &str,
        flows: &str,
        protocol: &str,
    ) -> Result<String, String> {
        let file = self.ovs.dir().join(format!("{bridge}.try.flows"));
        std::fs::write(&file, flows).expect("write the flow file");
        let file = file.display().to_string();
        match self
            .ovs
            .ofctl(&["-O", protocol, "add-flows", bridge, &file])
        {
            Ok(stdout) => Ok(stdout),
            Err(e @ ToolError::Failed { .. }) => Err(e.stderr().to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `ofproto/trace BRIDGE FLOW` (without a packet: no side effects).
    pub(crate) fn trace(&self, bridge: &str, flow: &str) -> String {
        self.appctl(&["ofproto/trace", bridge, flow])
    }

    /// `ofproto/trace BRIDGE FLOW -generate`: a real packet, so learning happens.
    pub(crate) fn send(&self, bridge: &str, flow: &str) -> String {
        self.appctl(&["ofproto/trace", bridge, flow, "-generate"])
    }

    /// `ovs-ofctl dump-flows BRIDGE [table=N]` rule lines, timing removed.
    pub(crate) fn dump_flows(&self, bridge: &str, table: Option<u8>) -> Vec<String> {
        let filter = table.map(|t| format!("table={t}"));
        let mut args = vec!["dump-flows", bridge];
        if let Some(f) = &filter {
            args.push(f);
        }
        self.ofctl(&args)
            .lines()
            .filter(|l| l.starts_with(' '))
            .map(normalize_flow_line)
            .collect()
    }
}

/// A dump-flows line without `duration=`, `idle_age=`, `hard_age=` and the counters (module
/// docs).
pub(crate) fn normalize_flow_line(line: &str) -> String {
    let line = line.trim();
    let (head, actions) = line.split_once(" actions=").unwrap_or((line, ""));
    let kept: Vec<&str> = head
        .split(", ")
        .filter(|item| {
            ![
                "duration=",
                "idle_age=",
                "hard_age=",
                "n_packets=",
                "n_bytes=",
            ]
            .iter()
            .any(|timing| item.starts_with(timing))
        })
        .collect();
    format!("{} actions={actions}", kept.join(", "))
}

/// `fdb/show` text with the header first and the entries sorted.
pub(crate) fn sorted_fdb(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.len() > 1 {
        lines[1..].sort_unstable();
    }
    lines.join("\n")
}

/// The flow key of `text` (`in_port=2,dl_src=...`), fields not named being zero: what
/// `ofproto/trace` builds from the same text.
pub(crate) fn flow(text: &str) -> FlowKey {
    let (m, _) = fvs_flow::text::parse_match(text)
        .unwrap_or_else(|e| panic!("scenario flow {text:?} does not parse: {e}"));
    m.key
}

/// What each output of a datapath action list sends: `PORT` plus the VLAN tags the packet has
/// then (starting from `tag`, the input's `(vid, pcp)`) and the `set(...)` rewrites made
/// before it, sorted, so that two lists that deliver the same packets to the same ports compare
/// equal whatever order they flood in and however they get the tags right.
pub(crate) fn deliveries(actions: &str, tag: Option<(u16, u8)>) -> Vec<String> {
    let mut vlans: Vec<String> = tag
        .map(|(vid, pcp)| format!("vid={vid},pcp={pcp}"))
        .into_iter()
        .collect();
    let mut sets: std::collections::BTreeMap<String, String> = Default::default();
    let mut trunc: Option<String> = None;
    let mut out = Vec::new();
    for a in split_top(actions) {
        if a == "drop" {
            continue;
        }
        if let Some(v) = a.strip_prefix("push_vlan(") {
            vlans.push(v.trim_end_matches(')').to_owned());
        } else if a == "pop_vlan" {
            if vlans.pop().is_none() {
                vlans.push("pop of an untagged packet".to_owned());
            }
        } else if let Some(n) = a.strip_prefix("trunc(") {
            // Truncation applies to the next output only.
            trunc = Some(n.trim_end_matches(')').to_owned());
        } else if let Some(s) = a.strip_prefix("set(") {
            let kind = s.split('(').next().unwrap_or("").to_owned();
            sets.insert(kind, s.to_owned());
        } else {
            let sets: Vec<&str> = sets.values().map(String::as_str).collect();
            let a = without_recirc_id(&a);
            let cut = trunc
                .take()
                .map(|n| format!(" trunc={n}"))
                .unwrap_or_default();
            out.push(format!(
                "{a}{cut} vlan=[{}] set=[{}]",
                vlans.join(";"),
                sets.join(";")
            ));
        }
    }
    out.sort();
    out
}

/// `recirc_id=N` inside an action replaced by `recirc_id=*` (module docs).
fn without_recirc_id(action: &str) -> String {
    match action.split_once("recirc_id=") {
        Some((head, tail)) => {
            let rest = tail.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
            format!("{head}recirc_id=*{rest}")
        }
        None => action.to_owned(),
    }
}

/// The input packet's VLAN tag as (vid, pcp), from a flow key.
pub(crate) fn tag_of(flow: &FlowKey) -> Option<(u16, u8)> {
    let tci = flow.get(fvs_flow::Field::VlanTci.loc());
    let vid = u16::try_from(tci & 0xfff).unwrap_or(0);
    let pcp = u8::try_from((tci >> 13) & 7).unwrap_or(0);
    (tci & 0x1000 != 0).then_some((vid, pcp))
}

/// The input packet's VLAN tag as (vid, pcp), from a trace's `Flow:` line.
fn tag_in_flow_line(line: &str) -> Option<(u16, u8)> {
    let value = |name: &str| {
        line.split(',')
            .find_map(|item| item.strip_prefix(name)?.parse::<u16>().ok())
    };
    let vid = value("dl_vlan=")?;
    let pcp = value("dl_vlan_pcp=").unwrap_or(0);
    Some((vid, u8::try_from(pcp).unwrap_or(0)))
}

/// Splits at commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Which side of the comparison a trace comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Open vSwitch.
    Ovs,
    /// ferrovs.
    Ferrovs,
}

/// A trace with the normalisations of the module docs applied: the `Datapath actions:` line
/// becomes its sorted [`deliveries`]; on the ferrovs side tunnel encapsulation is removed.
pub(crate) fn normalize_trace(text: &str, side: Side) -> String {
    let mut out = String::new();
    let mut tag = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("Flow: ") {
            tag = tag_in_flow_line(f);
        }
        if side == Side::Ferrovs && line.trim() == "-> output to kernel tunnel" {
            continue;
        }
        if let Some(acts) = line.strip_prefix("Datapath actions: ") {
            let acts = if side == Side::Ferrovs {
                split_top(acts)
                    .into_iter()
                    .filter(|a| !a.starts_with("set(tunnel("))
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                acts.to_owned()
            };
            out.push_str("Datapath deliveries:\n");
            for d in deliveries(&acts, tag) {
                out.push_str(&format!("    {d}\n"));
            }
            continue;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Panics with both texts and a line diff when they differ.
pub(crate) fn assert_same(what: &str, ovs: &str, ferrovs: &str) {
    if ovs == ferrovs {
        return;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (ovs.lines().collect(), ferrovs.lines().collect());
    let mut diff = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        if x != y {
            diff.push_str(&format!(
                "line {}:\n  ovs:     {}\n  ferrovs: {}\n",
                i + 1,
                x.unwrap_or("<none>"),
                y.unwrap_or("<none>")
            ));
        }
    }
    panic!(
        "{what}: ferrovs differs from Open vSwitch\n{diff}\n--- ovs ---\n{ovs}\n--- ferrovs ---\n{ferrovs}"
    );
}

/// Traces `flow_text` in both without side effects and compares.
pub(crate) fn same_trace(ovs: &Ovs, sw: &Switch, bridge: &str, flow_text: &str, now: Millis) {
    let theirs = ovs.trace(bridge, flow_text);
    let ours = sw
        .trace(bridge, &flow(flow_text), now)
        .expect("bridge exists")
        .to_string();
    assert_same(
        &format!("ofproto/trace {bridge} {flow_text}"),
        &normalize_trace(&theirs, Side::Ovs),
        &normalize_trace(&ours, Side::Ferrovs),
    );
}

/// Sends a real packet through both (so learning happens) and compares the traces.
pub(crate) fn same_packet(ovs: &Ovs, sw: &mut Switch, bridge: &str, flow_text: &str, now: Millis) {
    let theirs = ovs.send(bridge, flow_text);
    let ours = sw
        .receive(bridge, &flow(flow_text), 64, now)
        .expect("bridge exists")
        .to_string();
    assert_same(
        &format!("ofproto/trace {bridge} {flow_text} -generate"),
        &normalize_trace(&theirs, Side::Ovs),
        &normalize_trace(&ours, Side::Ferrovs),
    );
}

/// Compares one table's `dump-flows` (timing and counters left out).
pub(crate) fn same_table(ovs: &Ovs, sw: &Switch, bridge: &str, table: u8, now: Millis) {
    let theirs = ovs.dump_flows(bridge, Some(table));
    let ours: Vec<String> = sw
        .bridge(bridge)
        .expect("bridge exists")
        .dump_flows(Some(table), now)
        .iter()
        .map(|l| normalize_flow_line(l))
        .collect();
    assert_same(
        &format!("dump-flows {bridge} table={table}"),
        &theirs.join("\n"),
        &ours.join("\n"),
    );
}

/// Compares a bridge's MAC table (`fdb/show`).
pub(crate) fn same_fdb(ovs: &Ovs, sw: &Switch, bridge: &str, now: Millis) {
    let ours = sw.bridge(bridge).expect("bridge exists").mac.show(now);
    assert_same(
        &format!("fdb/show {bridge}"),
        &ovs.fdb(bridge),
        &sorted_fdb(&ours),
    );
}
