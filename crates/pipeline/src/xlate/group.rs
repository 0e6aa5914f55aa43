//! Running `group:N`: the bucket (or buckets) a group picks, each on its own copy of the flow
//! (a bucket's changes to the packet do not reach the actions after `group`, as in Open
//! vSwitch, where every bucket runs like a `clone`).
//!
//! - **all**: every bucket, in order.
//! - **indirect**: its one bucket.
//! - **select**: one bucket among those of non-zero weight, chosen by a hash of the flow
//!   (below); a group whose buckets all weigh 0 drops (` -> no live bucket`).
//! - **fast_failover**: the first live bucket. As in Open vSwitch, a bucket that watches
//!   nothing is live; one that watches is live when its `watch_port` is a live port of the
//!   bridge (neither administratively down, `PORT_DOWN` from a port-mod or the device, nor
//!   with its link down, `LINK_DOWN`, which the daemon keeps from the device:
//!   [`crate::port::Port::is_live`]) *or* its `watch_group` is a live group, one with a live
//!   bucket (in a select group, one of non-zero weight), followed up to 128 links. Both
//!   states move the bridge's generation, so cached megaflows that went through the group are
//!   re-translated.
//!
//! # The select hash
//!
//! Open vSwitch's default selection on a datapath that can hash recirculates with
//! `hash(sym_l4(0))`; ferrovs has no recirculation for this and hashes in translation
//! instead, over a symmetric 5-tuple: Ethernet source and destination and type, and for
//! IPv4/IPv6 the addresses and protocol, and for TCP/UDP/SCTP the ports (source and
//! destination combined symmetrically, so both directions of a connection pick the same
//! bucket). Exactly the fields it reads are un-wildcarded in the megaflow. The choice among
//! buckets is weighted rendezvous hashing: each bucket scores `weight / -ln(u)` for a
//! uniform `u` drawn from the flow hash and the bucket id, the highest score wins, so a
//! bucket's share is proportional to its weight and a weight change only moves the flows it
//! must.
//!
//! A select group given `selection_method=hash` with `fields(...)` hashes exactly those
//! fields under their masks instead (seeded with `selection_method_param`), so only they are
//! un-wildcarded, as in Open vSwitch, and the trace lists each bucket's `score` before the
//! bucket used; `dp_hash`, or `hash` without fields, keeps the default above.
//!
//! The trace follows Open vSwitch's: `bucket N` with the bucket's actions under it, and for
//! fast failover ` -> bucket N: not live due to port P` for every bucket found not live on
//! the way (those of watched groups included, and a watched group worded `port G`, as Open
//! vSwitch 3.1 words it) and ` -> using bucket N`.

use super::{Ctx, MAX_DEPTH, SideEffect, get};
use crate::bits::mark_field;
use crate::bridge::Bridge;
use crate::port::Port;
use crate::trace::{Node, NodeKind};
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_openflow::GroupId;
use fvs_openflow::group::{Bucket, GroupType, SelectionMethod};

/// How many `watch_group` links a liveness check follows (Open vSwitch's limit): a bucket
/// checked that far down is not live, and the trace says why.
const MAX_LIVENESS_DEPTH: usize = 128;

impl Ctx<'_> {
    /// Runs `group:id` in bridge `b`.
    pub(super) fn group(
        &mut self,
        b: usize,
        table: u8,
        id: GroupId,
        flow: &FlowKey,
        out: &mut Vec<Node>,
    ) {
        let Some(bridge) = self.bridges.get(b) else {
            return;
        };
        let Some(group) = bridge.groups().get(id) else {
            // Flow-mods cannot name a missing group, but a group-mod may have deleted it
            // since (then the flow went with it); a stale translation drops.
            out.push(Node::new(NodeKind::Detail, "no such group"));
            return;
        };
        let buckets = group.desc.buckets.clone();
        let selection = group.desc.selection.clone();
        self.effects.push(SideEffect::GroupHit {
            bridge: b,
            group: id,
            bucket: None,
        });
        match group.desc.group_type {
            GroupType::All => {
                for bk in &buckets {
                    self.bucket(b, table, id, &buckets, bk, flow, out);
                }
            }
            GroupType::Indirect => {
                if let Some(bk) = buckets.first() {
                    self.bucket(b, table, id, &buckets, bk, flow, out);
                }
            }
            GroupType::Select => match self.select(&buckets, selection.as_ref(), flow, out) {
                Some(bk) => self.bucket(b, table, id, &buckets, bk, flow, out),
                None => out.push(Node::new(NodeKind::Detail, "no live bucket")),
            },
            GroupType::FastFailover => {
                match first_live_bucket(bridge, GroupType::FastFailover, &buckets, 0, out) {
                    Some(bk) => {
                        out.push(Node::new(
                            NodeKind::Detail,
                            format!("using bucket {}", bk.bucket_id.0),
                        ));
                        self.bucket(b, table, id, &buckets, bk, flow, out);
                    }
                    None => out.push(Node::new(NodeKind::Detail, "no live bucket")),
                }
            }
        }
    }

    /// Runs one bucket (`bk`, one of `all`, the buckets of `group`) on a copy of `flow`, under
    /// a `bucket N` trace node, and counts it.
    #[allow(clippy::too_many_arguments)]
    fn bucket(
        &mut self,
        b: usize,
        table: u8,
        group: GroupId,
        all: &[Bucket],
        bk: &Bucket,
        flow: &FlowKey,
        out: &mut Vec<Node>,
    ) {
        self.effects.push(SideEffect::GroupHit {
            bridge: b,
            group,
            bucket: all.iter().position(|x| x.bucket_id == bk.bucket_id),
        });
        if self.depth >= MAX_DEPTH {
            out.push(Node::new(
                NodeKind::Error,
                format!("over max translation depth {MAX_DEPTH}"),
            ));
            self.dropped = true;
            self.failure = Some(super::RECURSION_TOO_DEEP);
            return;
        }
        let mut node = Node::new(NodeKind::Action, format!("bucket {}", bk.bucket_id.0));
        let mut copy = *flow;
        let saved_exit = self.exit;
        self.depth += 1;
        self.actions(b, table, &bk.actions, &mut copy, &mut node.children);
        self.depth -= 1;
        self.exit = saved_exit;
        out.push(node);
        if self.is_freezing() {
            // A pause inside a bucket freezes the bucket's own actions, like `clone`.
            self.finish_freezing(b, &copy);
            self.exit = true;
        }
    }

    /// The select group's choice for `flow` (module docs), un-wildcarding what it hashed.
    fn select<'b>(
        &mut self,
        buckets: &'b [Bucket],
        selection: Option<&SelectionMethod>,
        flow: &FlowKey,
        out: &mut Vec<Node>,
    ) -> Option<&'b Bucket> {
        if let Some(sel) = selection.filter(|s| s.name == "hash" && !s.fields.is_empty()) {
            return self.select_by_fields(buckets, sel, flow, out);
        }
        let hash = self.flow_hash(flow);
        buckets
            .iter()
            .filter(|bk| bk.weight > 0)
            .map(|bk| (rendezvous_score(hash, bk.bucket_id.0, bk.weight), bk))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, bk)| bk)
    }

    /// `selection_method=hash` with `fields`: the same weighted rendezvous choice over a hash
    /// of exactly those fields under their masks (seeded with `selection_method_param`), each
    /// bucket's score and the choice in the trace, as Open vSwitch shows them.
    fn select_by_fields<'b>(
        &mut self,
        buckets: &'b [Bucket],
        sel: &SelectionMethod,
        flow: &FlowKey,
        out: &mut Vec<Node>,
    ) -> Option<&'b Bucket> {
        let mut h = Fnv(Fnv::default().0 ^ sel.param);
        for &(field, mask) in &sel.fields {
            mark_field(&mut self.wc, field, mask);
            h.add(field as u128);
            h.add(get(flow, field) & mask);
        }
        let mut best: Option<(f64, &Bucket)> = None;
        for bk in buckets.iter().filter(|bk| bk.weight > 0) {
            let score = rendezvous_score(h.0, bk.bucket_id.0, bk.weight);
            // Shown as a whole number, as Open vSwitch shows its scores.
            out.push(Node::new(
                NodeKind::Detail,
                format!(
                    "bucket {}: score {}",
                    bk.bucket_id.0,
                    (score * 1000.0) as u64
                ),
            ));
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, bk));
            }
        }
        let chosen = best.map(|(_, bk)| bk)?;
        out.push(Node::new(
            NodeKind::Detail,
            format!("using bucket {}", chosen.bucket_id.0),
        ));
        Some(chosen)
    }

    /// The symmetric 5-tuple hash of the module docs; marks the fields read.
    fn flow_hash(&mut self, flow: &FlowKey) -> u64 {
        let mut h = Fnv::default();
        let take = |ctx: &mut Self, f: Field| {
            mark_field(&mut ctx.wc, f, u128::MAX);
            get(flow, f)
        };
        let (s, d) = (take(self, Field::EthSrc), take(self, Field::EthDst));
        h.add(s ^ d);
        let eth_type = take(self, Field::EthType);
        h.add(eth_type);
        let addrs = match eth_type {
            0x0800 => Some((Field::Ipv4Src, Field::Ipv4Dst)),
            0x86dd => Some((Field::Ipv6Src, Field::Ipv6Dst)),
            _ => None,
        };
        if let Some((fs, fd)) = addrs {
            let (s, d) = (take(self, fs), take(self, fd));
            h.add(s ^ d);
            let proto = take(self, Field::IpProto);
            h.add(proto);
            let ports = match proto {
                6 => Some((Field::TcpSrc, Field::TcpDst)),
                17 => Some((Field::UdpSrc, Field::UdpDst)),
                132 => Some((Field::SctpSrc, Field::SctpDst)),
                _ => None,
            };
            if let Some((ps, pd)) = ports {
                let (s, d) = (take(self, ps), take(self, pd));
                h.add(s ^ d);
            }
        }
        h.0
    }
}

/// The first live bucket of `buckets` (a group of type `ty`), `depth` links down a
/// `watch_group` chain. Each bucket found not live is reported under `out`, as Open vSwitch's
/// trace reports it: the buckets of watched groups too, in the order they were checked.
fn first_live_bucket<'b>(
    bridge: &Bridge,
    ty: GroupType,
    buckets: &'b [Bucket],
    depth: usize,
    out: &mut Vec<Node>,
) -> Option<&'b Bucket> {
    for bk in buckets {
        if bucket_live(bridge, ty, bk, depth, out) {
            return Some(bk);
        }
        out.push(Node::new(
            NodeKind::Detail,
            format!(
                "bucket {}: not live due to {}",
                bk.bucket_id.0,
                not_live_reason(bk)
            ),
        ));
    }
    None
}

/// Whether bucket `bk` of a group of type `ty` may be used (module docs): one that watches
/// nothing always, else when its watched port is live *or* its watched group is.
fn bucket_live(
    bridge: &Bridge,
    ty: GroupType,
    bk: &Bucket,
    depth: usize,
    out: &mut Vec<Node>,
) -> bool {
    if depth >= MAX_LIVENESS_DEPTH {
        out.push(Node::new(
            NodeKind::Error,
            format!("bucket chaining exceeded {MAX_LIVENESS_DEPTH} links"),
        ));
        return false;
    }
    if ty == GroupType::Select && bk.weight == 0 {
        return false;
    }
    let watches_port = bk.watch_port != PortNo::ANY;
    let watches_group = bk.watch_group != GroupId::ANY;
    if !watches_port && !watches_group {
        return true;
    }
    // The controller is no port of the bridge: watching it never makes a bucket live.
    let port_live = watches_port
        && bk.watch_port != PortNo::CONTROLLER
        && bridge.ports.get(&bk.watch_port).is_some_and(Port::is_live);
    port_live
        || (watches_group
            && bridge.groups().get(bk.watch_group).is_some_and(|g| {
                let inner = &g.desc.buckets;
                first_live_bucket(bridge, g.desc.group_type, inner, depth + 1, out).is_some()
            }))
}

/// What a trace says a bucket that is not live watches: `port P`, and for a watched group
/// `port G` too (Open vSwitch 3.1 words the group as a port), joined by `and`.
fn not_live_reason(bk: &Bucket) -> String {
    let mut parts = Vec::new();
    if bk.watch_port != PortNo::ANY {
        parts.push(format!("port {}", bk.watch_port));
    }
    if bk.watch_group != GroupId::ANY {
        parts.push(format!("port {}", bk.watch_group.0));
    }
    parts.join(" and ")
}

/// `weight / -ln(u)` for `u` in (0, 1) drawn from the flow hash and the bucket id.
fn rendezvous_score(hash: u64, bucket_id: u32, weight: u16) -> f64 {
    let mut h = Fnv(hash);
    h.add(u128::from(bucket_id));
    // 53 random bits, shifted off zero so that ln stays finite.
    let u = ((h.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(weight) / -u.ln()
}

/// FNV-1a over 128-bit words, with a final mix so that nearby inputs spread.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, v: u128) {
        for byte in v.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // splitmix64's finaliser.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}
