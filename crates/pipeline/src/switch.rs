//! A switch: the set of bridges that patch ports can join, and the entry points that translate
//! packets and apply their side effects.

use crate::bridge::{Bridge, Removed};
use crate::clock::Millis;
use crate::xlate::{SideEffect, Translation, translate};
use fvs_flow::FlowKey;

/// Why a packet could not be translated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XlateError {
    /// No bridge has that name.
    #[error("{0}: no such bridge")]
    NoSuchBridge(String),
}

/// All bridges of one switch.
#[derive(Default)]
pub struct Switch {
    /// The bridges, in creation order.
    pub bridges: Vec<Bridge>,
}

impl Switch {
    /// A switch with no bridges.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a bridge; returns its index.
    pub fn add_bridge(&mut self, bridge: Bridge) -> usize {
        self.bridges.push(bridge);
        self.bridges.len() - 1
    }

    /// Translates `flow` arriving at `bridge` and applies the side effects, as a real packet of
    /// `packet_len` bytes would.
    pub fn receive(
        &mut self,
        bridge: &str,
        flow: &FlowKey,
        packet_len: u64,
        now: Millis,
    ) -> Result<Translation, XlateError> {
        let b = self.index(bridge)?;
        let t = translate(&self.bridges, b, flow, now, true);
        self.apply(&t, packet_len, now);
        Ok(t)
    }

    /// Translates `flow` without side effects, like `ofproto/trace` without a packet.
    pub fn trace(
        &self,
        bridge: &str,
        flow: &FlowKey,
        now: Millis,
    ) -> Result<Translation, XlateError> {
        let b = self.index(bridge)?;
        Ok(translate(&self.bridges, b, flow, now, false))
    }

    /// Translates `flow` as `ofproto/trace ... -generate` does: learned rules and MAC entries
    /// take effect, but, as in Open vSwitch, no rule's statistics are credited.
    pub fn trace_generate(
        &mut self,
        bridge: &str,
        flow: &FlowKey,
        now: Millis,
    ) -> Result<Translation, XlateError> {
        let b = self.index(bridge)?;
        let t = translate(&self.bridges, b, flow, now, true);
        self.apply_effects(&t, None, now);
        Ok(t)
    }

    /// Applies a translation's side effects: rule and table statistics, learned rules,
    /// learned MACs.
    pub fn apply(&mut self, t: &Translation, packet_len: u64, now: Millis) {
        self.apply_effects(t, Some(packet_len), now);
    }

    /// Applies learned rules and MACs, and credits rule statistics with a packet of
    /// `packet_len` bytes when there is one.
    fn apply_effects(&mut self, t: &Translation, packet_len: Option<u64>, now: Millis) {
        for e in &t.effects {
            match e {
                SideEffect::RuleHit {
                    bridge,
                    table,
                    rule,
                } => {
                    let Some(packet_len) = packet_len else {
                        continue;
                    };
                    if let Some(b) = self.bridges.get_mut(*bridge) {
                        b.count_lookups(*table, true, 1);
                        if let Some(r) = b.rule_mut(*table, *rule) {
                            r.stats.packets += 1;
                            r.stats.bytes += packet_len;
                            r.stats.used = now;
                        }
                    }
                }
                SideEffect::TableMiss { bridge, table } => {
                    if packet_len.is_some()
                        && let Some(b) = self.bridges.get_mut(*bridge)
                    {
                        b.count_lookups(*table, false, 1);
                    }
                }
                SideEffect::FailOpenHit { bridge } => {
                    if let Some(len) = packet_len
                        && let Some(b) = self.bridges.get_mut(*bridge)
                    {
                        b.count_fail_open(1, len, now);
                    }
                }
                SideEffect::InBandHit { bridge, rule } => {
                    if let Some(len) = packet_len
                        && let Some(b) = self.bridges.get_mut(*bridge)
                    {
                        b.count_in_band(*rule, 1, len);
                    }
                }
                SideEffect::GroupHit {
                    bridge,
                    group,
                    bucket,
                } => {
                    if let Some(len) = packet_len
                        && let Some(b) = self.bridges.get_mut(*bridge)
                    {
                        b.count_group(*group, *bucket, 1, len);
                    }
                }
                SideEffect::Learn { bridge, flow_mod } => {
                    if let Some(b) = self.bridges.get_mut(*bridge) {
                        // A learned flow-mod names a valid table (learn's table is a u8 below
                        // 255 by construction of the parser) and never checks overlap; a
                        // refusal would only mean the rule is not learned.
                        let _ = b.flow_mod(flow_mod, now);
                    }
                }
                SideEffect::MacLearn {
                    bridge,
                    vlan,
                    mac,
                    port,
                } => {
                    if let Some(b) = self.bridges.get_mut(*bridge) {
                        b.mac.learn(*vlan, *mac, *port, now);
                    }
                }
            }
        }
    }

    /// Expires rules and MAC entries in every bridge; returns removed rules with their bridge.
    pub fn expire(&mut self, now: Millis) -> Vec<(String, Removed)> {
        let mut out = Vec::new();
        for b in &mut self.bridges {
            for r in b.expire(now) {
                out.push((b.name.clone(), r));
            }
        }
        out
    }

    /// The bridge named `name`.
    pub fn bridge(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The bridge named `name`, mutably.
    pub fn bridge_mut(&mut self, name: &str) -> Option<&mut Bridge> {
        self.bridges.iter_mut().find(|b| b.name == name)
    }

    fn index(&self, name: &str) -> Result<usize, XlateError> {
        self.bridges
            .iter()
            .position(|b| b.name == name)
            .ok_or_else(|| XlateError::NoSuchBridge(name.to_owned()))
    }
}
