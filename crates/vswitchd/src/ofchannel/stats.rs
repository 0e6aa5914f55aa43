//! Flow, aggregate and description statistics from a pipeline bridge's rules.
//!
//! Selection follows OpenFlow's loose matching, as `ovs-ofctl dump-flows <match>` expects: a
//! rule is reported when the request's match covers it (every field the request matches, the
//! rule matches at least as precisely and with the same value), its table is the one asked
//! for (or all), its cookie agrees under the mask and, when `out_port` is given, it outputs
//! there. Times come from the caller's `now`: duration from the rule's creation, `idle_age`
//! from its last hit, `hard_age` from its last add or modify.

use fvs_openflow::PortNo;
use fvs_openflow::wire::{AggregateStats, DescStats, FlowStats, FlowStatsRequest};
use fvs_pipeline::bridge::Bridge;
use fvs_pipeline::clock::Millis;
use fvs_pipeline::rule::Rule;

/// The flows of `bridge` that `req` selects, with their statistics at `now`, in the
/// bridge's order (tables ascending, higher priorities first).
pub fn flow_stats(bridge: &Bridge, req: &FlowStatsRequest, now: Millis) -> Vec<FlowStats> {
    bridge
        .rules()
        .into_iter()
        .filter(|(t, r)| selected(req, *t, r))
        .map(|(t, r)| entry(t, r, now))
        .collect()
}

/// The totals over the flows `req` selects.
pub fn aggregate(bridge: &Bridge, req: &FlowStatsRequest) -> AggregateStats {
    bridge
        .rules()
        .into_iter()
        .filter(|(t, r)| selected(req, *t, r))
        .fold(AggregateStats::default(), |mut a, (_, r)| {
            a.packet_count = a.packet_count.wrapping_add(r.stats.packets);
            a.byte_count = a.byte_count.wrapping_add(r.stats.bytes);
            a.flow_count = a.flow_count.saturating_add(1);
            a
        })
}

/// The switch's description. Open vSwitch reports "None" for a bridge without
/// `other_config:dp-desc` and for the serial number; ferrovs does the same.
pub fn desc() -> DescStats {
    DescStats {
        mfr_desc: "The ferrovs developers".into(),
        hw_desc: "ferrovs".into(),
        sw_desc: env!("CARGO_PKG_VERSION").into(),
        serial_num: "None".into(),
        dp_desc: "None".into(),
    }
}

fn selected(req: &FlowStatsRequest, table: u8, r: &Rule) -> bool {
    let m = &req.r#match;
    let by_table = req.table.is_none_or(|t| t.0 == table);
    let by_match = m.mask.is_subset_of(&r.r#match.mask) && r.r#match.key.and(&m.mask) == m.key;
    let by_cookie = (r.cookie.0 ^ req.cookie.0) & req.cookie_mask.0 == 0;
    let by_port = req.out_port == PortNo::ANY || r.outputs_to(req.out_port);
    by_table && by_match && by_cookie && by_port
}

fn entry(table: u8, r: &Rule, now: Millis) -> FlowStats {
    let s = &r.stats;
    let dur = now.since(s.created);
    let secs = |earlier: Millis| u16::try_from(now.secs_since(earlier)).unwrap_or(u16::MAX - 1);
    FlowStats {
        table: fvs_openflow::TableId(table),
        duration_sec: u32::try_from(dur / 1000).unwrap_or(u32::MAX),
        // Below 1000 ms, so below a billion nanoseconds.
        duration_nsec: (dur % 1000) as u32 * 1_000_000,
        priority: r.priority,
        idle_timeout: r.idle_timeout,
        hard_timeout: r.hard_timeout,
        importance: 0,
        flags: r.flags,
        cookie: r.cookie,
        packet_count: s.packets,
        byte_count: s.bytes,
        idle_age: Some(secs(s.used)),
        hard_age: Some(secs(s.modified)),
        r#match: r.r#match,
        actions: r.actions.clone(),
    }
}
