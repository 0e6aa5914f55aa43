//! `controller(pause)`: freezing a translation and resuming it later.
//!
//! # Freezing
//!
//! The pause action sends the packet to the controllers as the actions before it left it
//! (a `userspace` datapath action emitted on the spot, so earlier outputs still happen) and
//! starts *freezing*: no further action runs. As translation unwinds, every action list on
//! the way out (the rest of the pausing rule's actions, then the rest of each rule that
//! resubmitted into it, out to table 0) appends what it had not run yet to the frozen
//! actions, innermost first ([`Ctx::unroll`]). Instructions become actions on the way
//! (`goto_table:N` → `resubmit(,N)`, `write_metadata` → a metadata `set_field`), as Open
//! vSwitch does.
//!
//! Packet-ins sent by resumed actions must still report the table and cookie of the rule the
//! action came from, so frozen actions are split into [`Segment`]s: before an action that can
//! send a packet-in (an output, `controller`, `dec_ttl`, a group, a `resubmit` into "the
//! current table") a new segment starts when the current rule differs from the last
//! segment's. Actions before the first such marker form a segment of table 0 and cookie 0,
//! which is how the wire form reads them back.
//!
//! Freezing ends when the bridge's pipeline ends ([`Ctx::finish_freezing`]): at the end of
//! the translation, or on return from a patch port's peer bridge, whose pipeline the
//! continuation then belongs to (the first bridge's remaining actions go on, as in Open
//! vSwitch). A pause inside `clone(...)` ends freezing with the clone: the continuation
//! holds the clone's remaining actions, and what follows the clone neither runs nor is
//! frozen (Open vSwitch 3.1 does the same). The state then (the push/pop stack, the action set, the flow's metadata) goes
//! into the pause's `userspace` action as a [`Frozen`] continuation; the packet-in reports the
//! table and cookie of the outermost rule unwound, and the action set does not run.
//!
//! # Resuming
//!
//! [`translate_resume`] runs the segments in order on the packet the controller sent back,
//! with the stack and action set restored and each segment's table and cookie as the
//! current rule's, then the action set; a pause among them freezes again (the segments not
//! reached are frozen with their own tables and cookies).

use super::{Ctx, Translation, run};
use crate::bridge::Bridge;
use crate::clock::Millis;
use crate::dpif::DpAction;
use fvs_flow::{Field, FlowKey, PortNo};
use fvs_openflow::action::{Resubmit, SetFieldSpelling};
use fvs_openflow::wire::continuation::Segment;
use fvs_openflow::{Action, Cookie, SetField};

/// A value on the `push`/`pop` stack, with the width of the field it was pushed from
/// (continuations carry it in that many bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackValue {
    /// The value.
    pub value: u128,
    /// Its width in bytes (1 to 16).
    pub bytes: usize,
}

impl StackValue {
    /// The value of a field `n_bits` wide.
    pub fn new(value: u128, n_bits: u16) -> Self {
        Self {
            value,
            bytes: usize::from(n_bits).div_ceil(8).clamp(1, 16),
        }
    }

    /// Big-endian, in [`Self::bytes`] bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        let all = self.value.to_be_bytes();
        all[16 - self.bytes..].to_vec()
    }

    /// A value read back from a continuation (at most 16 bytes are kept, the low ones).
    pub fn from_bytes(b: &[u8]) -> Self {
        let tail = &b[b.len().saturating_sub(16)..];
        let value = tail.iter().fold(0u128, |v, x| (v << 8) | u128::from(*x));
        Self {
            value,
            bytes: tail.len().max(1),
        }
    }
}

/// A paused translation's state, as the pause's `userspace` datapath action carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frozen {
    /// The bridge whose pipeline paused (a patch port's peer when the pause happened there).
    pub bridge: String,
    /// The `push`/`pop` stack, bottom first.
    pub stack: Vec<StackValue>,
    /// The actions still to run.
    pub segments: Vec<Segment>,
    /// The action set still to run when the pipeline ends.
    pub action_set: Vec<Action>,
}

impl std::hash::Hash for Frozen {
    /// Actions are not hashable; equal continuations still hash equally, since only fields
    /// that take part in equality are hashed.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bridge.hash(state);
        self.stack.hash(state);
        self.segments.len().hash(state);
    }
}

/// Freezing in progress.
#[derive(Clone, Debug)]
pub(super) struct Freezing {
    /// Index of the pause's `userspace` action in the datapath actions.
    at: usize,
    /// The frozen actions so far.
    segments: Vec<Segment>,
    /// The last segment was opened by a marker (for `(table, cookie)`), not implicitly.
    marker: Option<(u8, Cookie)>,
    /// Table and cookie of the outermost rule unwound so far (the packet-in reports them).
    table: u8,
    cookie: Cookie,
}

/// Whether a frozen action may send a packet-in, so that the rule it came from must be
/// known when it runs (Open vSwitch's list; `resubmit` only into the current table).
fn needs_rule(a: &Action) -> bool {
    match a {
        Action::Output(_)
        | Action::OutputTrunc { .. }
        | Action::OutputReg { .. }
        | Action::Group(_)
        | Action::Controller(_)
        | Action::DecMplsTtl
        | Action::DecTtl { .. } => true,
        Action::Resubmit(r) => r.table.is_none(),
        _ => false,
    }
}

/// An instruction as the action that does the same.
fn as_action(a: &Action) -> Action {
    match a {
        Action::GotoTable(t) => Action::Resubmit(Resubmit {
            in_port: PortNo::IN_PORT,
            table: Some(*t),
            ct: false,
        }),
        Action::WriteMetadata { value, mask } => Action::SetField(SetField {
            field: Field::Metadata,
            value: u128::from(*value),
            mask: u128::from(*mask),
            spelling: SetFieldSpelling::SetField,
        }),
        other => other.clone(),
    }
}

impl Ctx<'_> {
    /// `controller(pause)`: sends the packet as it is now and starts freezing.
    pub(super) fn pause(
        &mut self,
        reason: u8,
        controller_id: u16,
        userdata: Option<Vec<u8>>,
        flow: &FlowKey,
    ) {
        if self.freezing.is_some() {
            return;
        }
        // The whole packet goes (a continuation is useless with part of it).
        self.controller_to(reason, u16::MAX, controller_id, userdata, None, flow);
        self.freezing = Some(Freezing {
            at: self.dp.len().saturating_sub(1),
            segments: Vec::new(),
            marker: None,
            table: self.table,
            cookie: self.cookie,
        });
    }

    /// Whether a pause is freezing the translation.
    pub(super) fn is_freezing(&self) -> bool {
        self.freezing.is_some()
    }

    /// Appends the actions an action list had not run yet to the frozen actions (see the
    /// module doc), under the current rule's table and cookie.
    pub(super) fn unroll(&mut self, rest: &[Action]) {
        let (table, cookie) = (self.table, self.cookie);
        let Some(fr) = self.freezing.as_mut() else {
            return;
        };
        fr.table = table;
        fr.cookie = cookie;
        for a in rest {
            if needs_rule(a) && fr.marker != Some((table, cookie)) {
                fr.segments.push(Segment {
                    table,
                    cookie,
                    actions: Vec::new(),
                });
                fr.marker = Some((table, cookie));
            }
            if fr.segments.is_empty() {
                fr.segments.push(Segment {
                    table: 0,
                    cookie: Cookie(0),
                    actions: Vec::new(),
                });
            }
            if let Some(seg) = fr.segments.last_mut() {
                seg.actions.push(as_action(a));
            }
        }
    }

    /// Starts a frozen segment for `(table, cookie)` copied from a continuation being
    /// resumed. It does not count as the last marker: an action needing the current rule
    /// still gets a marker of its own when the current rule differs.
    fn copy_segment_start(&mut self, table: u8, cookie: Cookie) {
        if let Some(fr) = self.freezing.as_mut() {
            fr.segments.push(Segment {
                table,
                cookie,
                actions: Vec::new(),
            });
        }
    }

    /// Ends freezing at the end of bridge `b`'s pipeline, `flow` being its flow then: the
    /// pause's `userspace` action gets the continuation (see the module doc).
    pub(super) fn finish_freezing(&mut self, b: usize, flow: &FlowKey) {
        let Some(fr) = self.freezing.take() else {
            return;
        };
        let frozen = Frozen {
            bridge: self
                .bridges
                .get(b)
                .map(|br| br.name.clone())
                .unwrap_or_default(),
            stack: self.stack.clone(),
            // A segment left empty (its actions came under a later marker) says nothing.
            segments: fr
                .segments
                .into_iter()
                .filter(|s| !s.actions.is_empty())
                .collect(),
            action_set: std::mem::take(&mut self.action_set),
        };
        if let Some(DpAction::Userspace {
            continuation,
            table,
            cookie,
            flow: at_pause,
            ..
        }) = self.dp.get_mut(fr.at)
        {
            *continuation = Some(Box::new(frozen));
            *table = fr.table;
            *cookie = fr.cookie.0;
            **at_pause = *flow;
        }
    }
}

/// Resumes a paused translation in bridge `bridge` of `bridges` for `flow` (the packet the
/// controller sent back, with the metadata it carried): runs `frozen`'s actions and action
/// set (see the module doc). Side effects are reported as for a received packet.
pub fn translate_resume(
    bridges: &[Bridge],
    bridge: usize,
    flow: &FlowKey,
    frozen: &Frozen,
    now: Millis,
) -> Translation {
    run(bridges, bridge, flow, now, true, |ctx, b, f, out| {
        ctx.stack = frozen.stack.clone();
        ctx.action_set = frozen.action_set.clone();
        for (i, seg) in frozen.segments.iter().enumerate() {
            if ctx.dropped || ctx.exit {
                return;
            }
            ctx.table = seg.table;
            ctx.cookie = seg.cookie;
            ctx.actions(b, seg.table, &seg.actions, f, out);
            if ctx.is_freezing() {
                // Paused again: the segments not reached are frozen as they are, each with
                // its own table and cookie (the current rule stays the one that paused, as
                // those segments never ran).
                for later in frozen.segments.iter().skip(i + 1) {
                    ctx.copy_segment_start(later.table, later.cookie);
                    ctx.unroll(&later.actions);
                }
                return;
            }
        }
        ctx.run_action_set(b, f, out);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_values_keep_their_width() {
        let v = StackValue::new(5, 4);
        assert_eq!(v.to_bytes(), vec![5]);
        let mac = StackValue::new(1, 48);
        assert_eq!(mac.to_bytes(), vec![0, 0, 0, 0, 0, 1]);
        assert_eq!(StackValue::from_bytes(&mac.to_bytes()), mac);
        assert_eq!(StackValue::from_bytes(&[]).value, 0);
    }
}
