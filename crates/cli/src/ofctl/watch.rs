//! `monitor SWITCH ... watch:[SPEC...]`: flow monitors, as ovs-ofctl runs them.
//!
//! Each `watch:` argument is one monitor (ids 0, 1, ... in argument order). Its spec is a
//! comma-separated list of `!initial`, `!add`, `!delete`, `!modify`, `!actions`, `!own`
//! (each turns off what a bare `watch:` asks for), `out_port=PORT`, `table=TABLE`, and match
//! fields. After the switch configuration, each monitor's request is sent and its reply (the
//! initial listing, several messages when flagged "more") is printed on **standard output**
//! as it arrives, as ovs-ofctl's request-reply transactions print; the updates that follow
//! are printed with the other asynchronous messages on standard error.
//!
//! The printed form of every flow monitor message is ovs-ofctl's: the header line names the
//! message as the version encodes it (`NXST_FLOW_MONITOR reply`, OpenFlow 1.3's
//! `ONFST_FLOW_MONITOR reply (OF1.3)`, 1.4+'s `OFPST_FLOW_MONITOR reply (OF1.4)`), then one
//! line per update: `event=ADDED table=0 cookie=0 MATCH actions=ACTIONS`, with `reason=` for
//! deletions and the timeouts when set. Like Open vSwitch 3.1, no priority is printed.

use std::fmt::Write as _;
use std::io::Write as _;

use fvs_flow::PortNo;
use fvs_flow::text::MatchParseError;
use fvs_openflow::TableId;
use fvs_openflow::wire::flow_monitor::{
    FlowMonitorMsg, FlowMonitorRequest, FlowUpdate, FlowUpdateEvent, MonitorFlags, MonitorId,
};
use fvs_openflow::wire::{FlowRemovedReason, Message, Version};

use super::CmdError;
use super::conn::Conn;
use super::heading::heading;
use super::names::PortNames;

/// The priority match text leaves out.
const DEFAULT_PRIORITY: u32 = 0x8000;

/// Parses the SPEC of `watch:SPEC` into monitor `id`'s request; errors are worded as
/// ovs-ofctl words them.
///
/// `out_port=` takes a number only: ovs-ofctl 3.1 reads anything else (a name, even `LOCAL`)
/// as port 0, without complaint, and so does this.
pub(super) fn parse_watch(spec: &str, id: u32) -> Result<FlowMonitorRequest, String> {
    let mut req = FlowMonitorRequest::new(MonitorId(id), MonitorFlags::ALL);
    let mut fields = Vec::new();
    for token in spec.split(',').filter(|t| !t.is_empty()) {
        match token {
            "!initial" => req.flags.initial = false,
            "!add" => req.flags.add = false,
            "!delete" => req.flags.delete = false,
            "!modify" => req.flags.modify = false,
            "!actions" => req.flags.actions = false,
            "!own" => req.flags.own = false,
            _ => {
                if let Some(port) = token.strip_prefix("out_port=") {
                    req.out_port = match port.parse::<u32>() {
                        Ok(n) => u16::try_from(n).map_or(PortNo(n), PortNo::from_of10),
                        Err(_) => PortNo(0),
                    };
                } else if let Some(t) = token.strip_prefix("table=") {
                    let table: u8 = t.parse().map_err(|_| format!("unknown table \"{t}\""))?;
                    req.table = (table != TableId::ALL_RAW).then_some(TableId(table));
                } else {
                    fields.push(token);
                }
            }
        }
    }
    let (m, _) = fvs_flow::text::parse_match(&fields.join(",")).map_err(|e| match e {
        MatchParseError::UnknownKeyword(_) | MatchParseError::MissingValue(_) => {
            format!("{spec}: {e}")
        }
        e => e.to_string(),
    })?;
    req.r#match = m;
    Ok(req)
}

/// Sends each monitor's request and prints its reply on standard output, as it arrives.
/// With `names`, ports print by name.
pub(super) fn start(
    conn: &mut Conn,
    reqs: Vec<FlowMonitorRequest>,
    names: Option<&PortNames>,
) -> Result<(), CmdError> {
    for req in reqs {
        let xid = conn.send(&Message::FlowMonitor(FlowMonitorMsg::Request(vec![req])))?;
        loop {
            let r = conn.recv()?;
            if r.header.xid != xid {
                // Not the reply: nothing the transaction reports (as ovs-ofctl).
                continue;
            }
            let v = Version::from_wire(r.header.version).unwrap_or(Version::Of10);
            let mut text = String::new();
            let done = match &r.message {
                Some(Message::FlowMonitor(m)) => {
                    format(m, v, xid, &mut text);
                    !matches!(m, FlowMonitorMsg::Reply { more: true, .. })
                }
                _ => {
                    text.push_str(&super::flows::format_reply(&r, conn.protocol()));
                    true
                }
            };
            if let Some(n) = names {
                text = with_names(&text, n);
            }
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
            if done {
                break;
            }
        }
    }
    Ok(())
}

fn reason_name(r: FlowRemovedReason) -> &'static str {
    match r {
        FlowRemovedReason::IdleTimeout => "idle",
        FlowRemovedReason::HardTimeout => "hard",
        FlowRemovedReason::Delete => "delete",
        FlowRemovedReason::GroupDelete => "group_delete",
        FlowRemovedReason::MeterDelete => "meter_delete",
        FlowRemovedReason::Eviction => "eviction",
    }
}

/// A flow monitor message as ovs-ofctl prints it (see the module doc).
pub(super) fn format(m: &FlowMonitorMsg, v: Version, xid: u32, out: &mut String) {
    let (stats, control) = match v {
        Version::Of13 => ("ONFST_FLOW_MONITOR", "ONFT_FLOW_MONITOR"),
        Version::Of14 | Version::Of15 => ("OFPST_FLOW_MONITOR", ""),
        _ => ("NXST_FLOW_MONITOR", "NXT_FLOW_MONITOR"),
    };
    let v14 = control.is_empty();
    match m {
        FlowMonitorMsg::Request(reqs) => {
            let _ = writeln!(out, "{}", heading(format_args!("{stats} request"), v, xid));
            for r in reqs {
                format_request(r, out);
            }
        }
        FlowMonitorMsg::Reply { more, updates } => {
            let _ = write!(out, "{}", heading(format_args!("{stats} reply"), v, xid));
            if *more {
                out.push_str(" flags=[more]");
            }
            out.push('\n');
            for u in updates {
                format_update(u, out);
            }
        }
        FlowMonitorMsg::Cancel(id) if v14 => {
            let _ = writeln!(
                out,
                "{}\n id={} command=delete",
                heading(format_args!("{stats} request"), v, xid),
                id.0
            );
        }
        FlowMonitorMsg::Cancel(id) => {
            let _ = writeln!(
                out,
                "{} id={}",
                heading(format_args!("{control}_CANCEL"), v, xid),
                id.0
            );
        }
        FlowMonitorMsg::Paused | FlowMonitorMsg::Resumed => {
            let word = if matches!(m, FlowMonitorMsg::Paused) {
                "PAUSED"
            } else {
                "RESUMED"
            };
            if v14 {
                let _ = writeln!(
                    out,
                    "{}\n event={word}",
                    heading(format_args!("{stats} reply"), v, xid)
                );
            } else {
                let _ = writeln!(out, "{}", heading(format_args!("{control}_{word}"), v, xid));
            }
        }
    }
}

fn format_request(r: &FlowMonitorRequest, out: &mut String) {
    let f = r.flags;
    let names: Vec<&str> = [
        (f.initial, "initial"),
        (f.add, "add"),
        (f.delete, "delete"),
        (f.modify, "modify"),
        (f.actions, "actions"),
        (f.own, "own"),
    ]
    .into_iter()
    .filter_map(|(on, n)| on.then_some(n))
    .collect();
    let _ = write!(out, " id={} flags={}", r.id.0, names.join(","));
    if r.out_port != PortNo::ANY {
        let _ = write!(out, " out_port={}", r.out_port);
    }
    if let Some(t) = r.table {
        let _ = write!(out, " table={}", t.0);
    }
    let mut m = String::new();
    fvs_flow::text::format_match(&r.r#match, DEFAULT_PRIORITY, &mut m);
    if !m.is_empty() {
        let _ = write!(out, " {m}");
    }
    out.push('\n');
}

fn format_update(u: &FlowUpdate, out: &mut String) {
    let f = match u {
        FlowUpdate::Abbrev { xid } => {
            let _ = writeln!(out, " event=ABBREV xid={xid:#x}");
            return;
        }
        FlowUpdate::Full(f) => f,
    };
    let event = match f.event {
        FlowUpdateEvent::Initial => "INITIAL",
        FlowUpdateEvent::Added => "ADDED",
        FlowUpdateEvent::Deleted(_) => "DELETED",
        FlowUpdateEvent::Modified => "MODIFIED",
    };
    let _ = write!(out, " event={event}");
    if let FlowUpdateEvent::Deleted(r) = f.event {
        let _ = write!(out, " reason={}", reason_name(r));
    }
    let _ = write!(out, " table={}", f.table.0);
    if f.idle_timeout != 0 {
        let _ = write!(out, " idle_timeout={}", f.idle_timeout);
    }
    if f.hard_timeout != 0 {
        let _ = write!(out, " hard_timeout={}", f.hard_timeout);
    }
    if f.cookie.0 == 0 {
        out.push_str(" cookie=0");
    } else {
        let _ = write!(out, " cookie={:#x}", f.cookie.0);
    }
    let mut m = String::new();
    fvs_flow::text::format_match(&f.r#match, DEFAULT_PRIORITY, &mut m);
    if !m.is_empty() {
        let _ = write!(out, " {m}");
    }
    if let Some(actions) = &f.actions {
        let mut a = String::new();
        fvs_openflow::text::format_actions(actions, &mut a);
        let _ = write!(out, " actions={a}");
    }
    out.push('\n');
}

/// `text` (whole lines) with port numbers in port positions replaced by names.
pub(super) fn with_names(text: &str, names: &PortNames) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            Some(l) => names.names_for_numbers(l) + "\n",
            None => names.names_for_numbers(line),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::protocol::Protocol;
    use fvs_openflow::text::parse_flow_mod;
    use fvs_openflow::wire::flow_monitor::{FlowUpdateFull, MonitorCommand};
    use fvs_openflow::{Cookie, FlowModCommand};
    use fvs_test_support::ofp_print;

    fn full(event: FlowUpdateEvent, flow: &str, actions: bool) -> FlowUpdate {
        let (fm, _) = parse_flow_mod(flow, FlowModCommand::Add).expect("parses");
        FlowUpdate::Full(Box::new(FlowUpdateFull {
            event,
            table: fm.table.unwrap_or_default(),
            priority: fm.priority,
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            cookie: fm.cookie,
            r#match: fm.r#match,
            actions: actions.then_some(fm.actions),
        }))
    }

    /// Every message form prints here as `ovs-ofctl ofp-print` prints the same bytes.
    #[test]
    fn every_flow_monitor_message_prints_as_ovs_ofctl_prints_it() {
        let (filter, _) =
            parse_flow_mod("tcp,tp_dst=80,actions=drop", FlowModCommand::Add).expect("parses");
        let watch = FlowMonitorRequest {
            out_port: PortNo(3),
            table: Some(TableId(2)),
            r#match: filter.r#match,
            flags: MonitorFlags {
                initial: false,
                own: false,
                ..MonitorFlags::ALL
            },
            ..FlowMonitorRequest::new(MonitorId(7), MonitorFlags::ALL)
        };
        let mut modify = FlowMonitorRequest::new(MonitorId(8), MonitorFlags::ALL);
        modify.command = MonitorCommand::Modify;
        let mut cookie = full(FlowUpdateEvent::Modified, "arp,actions=flood", true);
        if let FlowUpdate::Full(f) = &mut cookie {
            f.cookie = Cookie(0x5);
        }
        let updates = vec![
            full(
                FlowUpdateEvent::Initial,
                "table=1,idle_timeout=30,ip,actions=output:2",
                true,
            ),
            full(FlowUpdateEvent::Added, "priority=5,actions=NORMAL", true),
            full(FlowUpdateEvent::Added, "in_port=1,actions=drop", false),
            full(
                FlowUpdateEvent::Deleted(FlowRemovedReason::HardTimeout),
                "hard_timeout=9,udp,actions=drop",
                true,
            ),
            full(
                FlowUpdateEvent::Deleted(FlowRemovedReason::Eviction),
                "ip,actions=drop",
                false,
            ),
            cookie,
            FlowUpdate::Abbrev { xid: 0x1234 },
        ];
        let msgs = [
            FlowMonitorMsg::Request(vec![FlowMonitorRequest::new(
                MonitorId(0),
                MonitorFlags::ALL,
            )]),
            FlowMonitorMsg::Request(vec![watch]),
            FlowMonitorMsg::Reply {
                more: true,
                updates,
            },
            FlowMonitorMsg::Reply {
                more: false,
                updates: Vec::new(),
            },
            FlowMonitorMsg::Cancel(MonitorId(9)),
            FlowMonitorMsg::Paused,
            FlowMonitorMsg::Resumed,
        ];
        for p in [
            Protocol::Of10Nxm,
            Protocol::Of11,
            Protocol::Of12,
            Protocol::Of13,
            Protocol::Of14,
            Protocol::Of15,
        ] {
            let v = Version::of(p);
            let mut all = msgs.to_vec();
            if v >= Version::Of14 {
                all.push(FlowMonitorMsg::Request(vec![modify.clone()]));
            }
            for m in all {
                let bytes = fvs_openflow::wire::encode(&Message::FlowMonitor(m.clone()), p, 0x42)
                    .expect("encodes");
                // What fvs-ofctl prints is what it decoded.
                let Ok((_, Message::FlowMonitor(back))) = fvs_openflow::wire::decode(&bytes) else {
                    panic!("{p:?}: {m:?} does not decode");
                };
                let mut ours = String::new();
                format(&back, v, 0x42, &mut ours);
                assert_eq!(ours.trim_end(), ofp_print(&bytes).trim_end(), "{p:?} {m:?}");
            }
        }
    }
}
