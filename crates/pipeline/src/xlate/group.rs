//! Running `group:N`: the bucket (or buckets) a group picks, each on its own copy of the flow
//! (a bucket's changes to the packet do not reach the actions after `group`, as in Open
//! vSwitch, where every bucket runs like a `clone`).
//!
//! - **all**: every bucket, in order.
//! - **indirect**: its one bucket.
//! - **select**: one bucket among those of non-zero weight, chosen by a hash of the flow
//!   (below); a group whose buckets all weigh 0 drops (` -> no live bucket`).
//! - **fast_failover**: the first live bucket; a bucket is live when it watches nothing, or
//!   its `watch_port` is a port of the bridge that is not `port_down` (port-mod; ferrovs's
//!   pipeline does not see link state), or its `watch_group` is a live group (a group is live
//!   when one of its buckets is; chains are followed a bounded number of steps).
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
//! The trace follows Open vSwitch's: `bucket N` with the bucket's actions under it, and for
//! fast failover ` -> bucket N: not live due to port P` and ` -> using bucket N`.

use super::{Ctx, MAX_DEPTH, SideEffect, get};
use crate::bits::mark_field;
use crate::bridge::Bridge;
use crate::port::PortConfig;
use crate::trace::{Node, NodeKind};
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_openflow::GroupId;
use fvs_openflow::group::{Bucket, GroupType};

/// How many `watch_group` steps a liveness check follows.
const MAX_WATCH_DEPTH: usize = 8;

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
            GroupType::Select => match self.select(&buckets, flow) {
                Some(bk) => self.bucket(b, table, id, &buckets, bk, flow, out),
                None => out.push(Node::new(NodeKind::Detail, "no live bucket")),
            },
            GroupType::FastFailover => {
                let mut chosen = None;
                for bk in &buckets {
                    if bucket_live(bridge, bk, 0) {
                        chosen = Some(bk);
                        break;
                    }
                    let why = if bk.watch_port != PortNo::ANY {
                        format!("port {}", bk.watch_port.0)
                    } else {
                        format!("group {}", bk.watch_group.0)
                    };
                    out.push(Node::new(
                        NodeKind::Detail,
                        format!("bucket {}: not live due to {why}", bk.bucket_id.0),
                    ));
                }
                match chosen {
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
    fn select<'b>(&mut self, buckets: &'b [Bucket], flow: &FlowKey) -> Option<&'b Bucket> {
        let hash = self.flow_hash(flow);
        buckets
            .iter()
            .filter(|bk| bk.weight > 0)
            .map(|bk| (rendezvous_score(hash, bk.bucket_id.0, bk.weight), bk))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, bk)| bk)
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

/// Whether a fast-failover bucket may be used (module docs).
fn bucket_live(bridge: &Bridge, bk: &Bucket, depth: usize) -> bool {
    if bk.watch_port != PortNo::ANY {
        let up = bridge
            .ports
            .get(&bk.watch_port)
            .is_some_and(|p| p.config.0 & PortConfig::PORT_DOWN == 0);
        if !up {
            return false;
        }
    }
    if bk.watch_group != GroupId::ANY {
        if depth >= MAX_WATCH_DEPTH {
            return false;
        }
        let live = bridge.groups().get(bk.watch_group).is_some_and(|g| {
            g.desc
                .buckets
                .iter()
                .any(|inner| bucket_live(bridge, inner, depth + 1))
        });
        if !live {
            return false;
        }
    }
    true
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
