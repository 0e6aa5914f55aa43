//! The appctl commands fvs-vswitchd answers.
//!
//! `bridge/add-flows BRIDGE FILE` is ferrovs-only and **temporary**: it loads `ovs-ofctl`
//! flow text into a bridge until flows can arrive over OpenFlow (`<bridge>.mgmt`), and will
//! be removed then.
//!
//! `bridge/dump-flows` prints the bridge's OpenFlow rules in ovs-vswitchd's form, with the
//! hidden fail-open rule (priority 15790320, `actions=NORMAL`) first while the bridge is
//! failed open, as Open vSwitch lists its hidden rules there. ferrovs keeps no packet
//! counts for that rule (it prints zeros), and has neither in-band rules nor the internal
//! rules Open vSwitch keeps in table 254, so those are not printed.

use fvs_pipeline::bridge::FAIL_OPEN_PRIORITY;
use fvs_pipeline::example::load_flows;
use fvs_pipeline::text::{format_actions, format_flow_head};

use crate::Daemon;
use crate::unixctl::{Command, Commands};

/// Every command of the daemon.
pub fn table() -> Commands<Daemon> {
    let mut list: Vec<crate::unixctl::Command<Daemon>> = vec![
        Command {
            name: "version",
            usage: "",
            min: 0,
            max: 0,
            handler: |_, _| Ok(format!("{}\n", crate::version_text().trim_end())),
        },
        Command {
            name: "exit",
            usage: "[--cleanup]",
            min: 0,
            max: 1,
            handler: |d, args| {
                // Without --cleanup, internal ports' devices outlive the daemon.
                if args.iter().any(|a| a == "--cleanup")
                    && let Some(h) = d.datapath()
                {
                    h.remove_devices();
                }
                d.request_exit_after_reply();
                Ok(String::new())
            },
        },
        Command {
            name: "vlog/list",
            usage: "",
            min: 0,
            max: 0,
            handler: |d, _| Ok(d.vlog().list()),
        },
        Command {
            name: "vlog/set",
            usage: "{spec | PATTERN:destination:pattern}",
            min: 0,
            max: usize::MAX,
            handler: |d, args| {
                let mut vlog = d.vlog();
                for spec in args {
                    vlog.set(spec).map_err(|e| e.to_string())?;
                }
                Ok(String::new())
            },
        },
        Command {
            name: "ofproto/trace",
            usage: "{[dp_name] odp_flow | bridge br_flow} [-generate|packet]",
            min: 1,
            max: 3,
            handler: trace,
        },
        Command {
            name: "bridge/dump-flows",
            usage: "bridge",
            min: 1,
            max: 1,
            handler: dump_flows,
        },
        Command {
            name: "fdb/show",
            usage: "bridge",
            min: 1,
            max: 1,
            handler: |d, args| {
                let sw = d.switch();
                let b = sw.bridge(&args[0]).ok_or("no such bridge")?;
                Ok(b.mac.show(d.now()))
            },
        },
        Command {
            name: "bridge/add-flows",
            usage: "bridge file (temporary, until OpenFlow)",
            min: 2,
            max: 2,
            handler: add_flows,
        },
    ];
    list.extend(crate::datapath::commands::table());
    list.extend(crate::datapath::native::commands());
    list.extend(crate::datapath::tnl_ports::commands());
    list.extend(crate::db::commands());
    Commands::new(list)
}

/// `ofproto/trace BRIDGE FLOW [-generate | PACKET]`. Without `-generate` or a packet the
/// translation has no side effects (learn and MAC learning are reported, not applied), as in
/// Open vSwitch; with either, the flow is treated as a received packet, so learned rules and
/// MAC entries really appear (no output is executed). A packet is a hex frame whose headers
/// make the flow; `FLOW` then gives only metadata (`in_port`, tunnel fields, registers).
fn trace(d: &Daemon, args: &[String]) -> Result<String, String> {
    // The datapath form: a flow as `dpctl/dump-flows` prints it (after an optional datapath
    // name); its datapath in_port names the bridge and the OpenFlow port.
    let odp_at = args.iter().take(2).position(|a| a.contains('('));
    let (bridge, flow, rest) = match odp_at {
        Some(i) => {
            // ferrovs has one datapath, named as Open vSwitch names its default one (by
            // name or by type).
            if i == 1 && !matches!(args[0].as_str(), "ovs-system" | "system") {
                return Err("Cannot find the datapath".into());
            }
            let key =
                crate::datapath::packet::parse_odp_flow(&args[i]).map_err(|e| e.to_string())?;
            let sw = d.switch();
            let (b, ofport, _) = crate::datapath::slow::owner(&sw, &key)
                .ok_or("no OpenFlow port for the flow's in_port")?;
            let name = sw
                .bridges
                .get(b)
                .map(|b| b.name.clone())
                .unwrap_or_default();
            (
                name,
                crate::datapath::slow::of_key(&key, ofport),
                &args[i + 1..],
            )
        }
        None => {
            let bridge = args[0].clone();
            let text = args
                .get(1)
                .ok_or("a flow is needed after the bridge name")?;
            let (m, _) = fvs_flow::text::parse_match(text).map_err(|e| e.to_string())?;
            (bridge, m.key, &args[2..])
        }
    };
    let (generate, key) = match rest.first().map(String::as_str) {
        None => (false, flow),
        Some("-generate" | "--generate") => (true, flow),
        Some(hex) if hex.len() >= 28 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let frame = crate::datapath::packet::parse_packet(hex).map_err(|e| e.to_string())?;
            (true, packet_flow(&frame, &flow))
        }
        Some(other) => {
            return Err(format!(
                "{other}: unknown trace option (expected -generate or a packet of at least 28 hex digits)"
            ));
        }
    };
    let now = d.now();
    let mut sw = d.switch();
    let t = if generate {
        sw.trace_generate(&bridge, &key, now)
    } else {
        sw.trace(&bridge, &key, now)
    };
    let t = t.map_err(|_| "Cannot find bridge".to_owned())?;
    Ok(t.to_string())
}

/// The flow of `frame` with the metadata of `meta` (ports, tunnel, registers, marks).
fn packet_flow(frame: &[u8], meta: &fvs_flow::FlowKey) -> fvs_flow::FlowKey {
    use fvs_flow::Field as F;
    let in_port = fvs_flow::PortNo(u32::try_from(meta.get(F::InPort.loc())).unwrap_or(0));
    let mut k = fvs_flow::extract::extract(frame, in_port, None);
    for f in [
        F::TunId,
        F::TunSrc,
        F::TunDst,
        F::TunFlags,
        F::PktMark,
        F::Metadata,
        F::Xreg0,
        F::Xreg1,
        F::Xreg2,
        F::Xreg3,
        F::Xreg4,
        F::Xreg5,
        F::Xreg6,
        F::Xreg7,
    ] {
        k.set(f.loc(), meta.get(f.loc()));
    }
    k
}

fn dump_flows(d: &Daemon, args: &[String]) -> Result<String, String> {
    // Before the switch: the fail-open check locks the controllers, then the switch.
    let failed_open_for = d.controllers().failed_open_for(&args[0]);
    let sw = d.switch();
    let b = sw.bridge(&args[0]).ok_or("Unknown bridge")?;
    let now = d.now();
    let mut out = String::new();
    if b.fail_open() {
        let stats = b.fail_open_stats();
        out.push_str(&format!(
            "duration={}s, n_packets={}, n_bytes={}, priority={FAIL_OPEN_PRIORITY},actions=NORMAL\n",
            failed_open_for.unwrap_or_default().as_secs(),
            stats.packets,
            stats.bytes
        ));
    }
    // In-band control's hidden rules, highest priority first, as Open vSwitch lists them.
    for r in b.in_band() {
        let mut head = String::new();
        fvs_flow::text::format_match(&r.r#match, r.priority, &mut head);
        out.push_str(&format!(
            "duration={}s, n_packets={}, n_bytes={}, {head},actions=NORMAL\n",
            now.secs_since(r.created),
            r.packets,
            r.bytes,
        ));
    }
    for (table, r) in b.rules() {
        if table != 0 {
            out.push_str(&format!("table_id={table}, "));
        }
        out.push_str(&format!(
            "duration={}s, n_packets={}, n_bytes={}, ",
            now.secs_since(r.stats.created),
            r.stats.packets,
            r.stats.bytes
        ));
        let head = format_flow_head(&r.r#match, r.priority);
        if !head.is_empty() {
            out.push_str(&head);
            out.push(',');
        }
        out.push_str(&format!("actions={}\n", format_actions(&r.actions)));
    }
    Ok(out)
}

fn add_flows(d: &Daemon, args: &[String]) -> Result<String, String> {
    let text = std::fs::read_to_string(&args[1]).map_err(|e| format!("{}: {e}", args[1]))?;
    let now = d.now();
    let mut sw = d.switch();
    let b = sw.bridge_mut(&args[0]).ok_or("Unknown bridge")?;
    let refused = load_flows(b, &text, now).map_err(|e| format!("{}: {e}", args[1]))?;
    match refused.first() {
        None => Ok(String::new()),
        Some((line, e)) => Err(format!("{}:{line}: {e}", args[1])),
    }
}
