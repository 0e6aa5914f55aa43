//! What a channel does as a controller's connection: roles, the asynchronous messages it
//! receives ([`Channel::send_async`]) and the settings that shape them, and packet-outs.
//!
//! # Who gets what (Open vSwitch's rules)
//!
//! - Nothing before the hellos; nothing on a service connection (the management socket)
//!   whose `miss_send_len` is 0, which is how every service connection starts.
//! - The connection's async configuration (its own, or the version's default) has one mask
//!   per message kind for masters and equals and one for slaves; the bit of the reason, as
//!   the connection's version numbers it, must be set. By default slaves get port-status
//!   only.
//! - Packet-ins go only to connections whose controller id is the event's. A table miss
//!   with no rule (an implicit miss) reaches only OpenFlow 1.0–1.2 connections, since 1.3
//!   made misses drop unless a rule says otherwise; `output:CONTROLLER` in a table-miss rule
//!   (an explicit miss) reads `no_match` from 1.3 on and `action` before. The packet is never
//!   buffered and, as in Open vSwitch (checked against it), never cut to `max_len` or
//!   `miss_send_len` either: those only matter to a switch that buffers. It travels in the
//!   connection's packet-in format.
//!
//! # Roles
//!
//! A master or slave request with a generation id older than the bridge's (compared as
//! OpenFlow asks, by the sign of the 64-bit difference) is refused with `OFPRRFC_STALE`. A new
//! master makes the bridge's other masters slaves ([`AsyncEvent::MasterElected`]). A slave's
//! flow-mods and packet-outs are refused with `OFPBRC_IS_SLAVE`.

use fvs_openflow::action::PacketInReason;
use fvs_openflow::wire::continuation::Continuation;
use fvs_openflow::wire::{
    AsyncConfig, AsyncMsg, ErrorCode, FlowRemoved, FlowRemovedReason, Message, OfpError, PacketIn,
    PacketInFormat, PacketOut, PortDesc, PortReason, PortStatus, Role, RoleMsg, RoleReason,
    RoleStatus, Version,
};
use fvs_openflow::{Action, FlowMod, FlowModCommand, PortNo};
use fvs_pipeline::bridge::{Bridge, Removed};
use fvs_pipeline::clock::Millis;
use fvs_pipeline::rule::RemovedReason;

use super::{Channel, Ofproto, State};

/// What kind of peer a connection is: Open vSwitch treats them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnKind {
    /// A controller the bridge's `controller` column names (`tcp:`, `unix:`, or a peer of a
    /// `ptcp:`/`punix:` controller): starts with `miss_send_len` 128 and gets asynchronous
    /// messages.
    Primary,
    /// A management connection (`<bridge>.mgmt`): starts with `miss_send_len` 0 and gets no
    /// asynchronous messages until it sets a nonzero one.
    Service,
}

/// `OFP_DEFAULT_MISS_SEND_LEN`: what a controller connection starts with.
pub const DEFAULT_MISS_SEND_LEN: u16 = 128;

/// `OFPCML_NO_BUFFER`: a packet-in `max_len` asking for the whole packet.
pub const NO_BUFFER_LEN: u16 = 0xffff;

/// `OFPP_MAX`: port numbers at or above are reserved.
const OFPP_MAX: u32 = 0xff00;

/// A packet-in as the switch produced it, before a connection's settings shape it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketInEvent {
    /// The message with the whole packet; its `reason` is replaced for misses (see `miss`)
    /// and its format by the connection's.
    pub packet_in: PacketIn,
    /// Bytes of packet the action asked for ([`NO_BUFFER_LEN`] for all). Recorded, not
    /// applied: like Open vSwitch, ferrovs buffers nothing and sends whole packets.
    pub max_len: u16,
    /// Whether, and how, the packet is a table miss.
    pub miss: Miss,
    /// The connections that get it: those with this controller id.
    pub controller_id: u16,
    /// `controller(pause)`: the paused translation, which `NXT_PACKET_IN2` connections get
    /// in the packet-in (encoded in their version); other formats cannot carry it.
    pub continuation: Option<Box<Continuation>>,
}

/// Table misses, which Open vSwitch reports differently per version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// Not a miss: the reason is the packet-in's own.
    No,
    /// `output:CONTROLLER` in a table-miss rule (priority 0, matching everything).
    Explicit,
    /// No rule matched.
    Implicit,
}

/// An asynchronous message for every connection of a bridge; each connection decides
/// whether and how it receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsyncEvent {
    /// A packet for the controllers.
    PacketIn(Box<PacketInEvent>),
    /// A rule with `send_flow_rem` left its table.
    FlowRemoved(Box<FlowRemoved>),
    /// A port was added, removed or changed.
    PortStatus(Box<PortEvent>),
    /// A connection became master (with the bridge's generation id then): other masters
    /// become slaves and are told so with a role status (OpenFlow 1.3's ONF extension, 1.4+).
    MasterElected(Option<u64>),
    /// Changes to the bridge's tables, for flow monitors (see [`super::flow_monitor`]).
    FlowChanges(std::sync::Arc<[fvs_pipeline::bridge::TableChange]>),
}

/// A port-status as the switch produced it.
///
/// `desc` is in OpenFlow 1.0's terms; each connection shows it as its version does: from 1.1
/// on without 1.0's STP and flood bits and, when `live` and the link is up, with
/// `OFPPS_LIVE` (not while `PORT_DOWN`). Open vSwitch announces a new port before its link is up and then modifies it
/// (so 1.1+ connections see `ADD` then `MOD` with `LIVE`); a modification that reads the same
/// as `old` in a connection's version is not sent to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortEvent {
    /// What happened.
    pub reason: PortReason,
    /// The port as it is now (as it was, for a delete).
    pub desc: PortDesc,
    /// Whether the port counts as live.
    pub live: bool,
    /// For a modification: the port as it was, and whether it was live.
    pub old: Option<(PortDesc, bool)>,
}

/// `desc` as `version` shows it (see [`PortEvent`]).
pub fn port_for_version(mut desc: PortDesc, live: bool, version: Version) -> PortDesc {
    use fvs_openflow::wire::port::{
        OF11_CONFIG_BITS, OFPPC_PORT_DOWN, OFPPS_LINK_DOWN, OFPPS_LIVE,
    };
    if version >= Version::Of11 {
        desc.config &= OF11_CONFIG_BITS;
        // Live: up administratively and with its link up.
        if live && desc.state & OFPPS_LINK_DOWN == 0 && desc.config & OFPPC_PORT_DOWN == 0 {
            desc.state |= OFPPS_LIVE;
        }
    }
    super::stats::features_for_version(desc, version)
}

/// Why a role request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The generation id is older than the bridge's current one (`OFPRRFC_STALE`).
    #[error("OFPRRFC_STALE: generation id older than the bridge's")]
    Stale,
}

/// Why a packet-out was refused; each is the error reply Open vSwitch sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketOutError {
    /// It names a switch buffer; ferrovs buffers nothing.
    #[error("OFPBRC_BUFFER_UNKNOWN: ferrovs buffers no packets")]
    BufferUnknown,
    /// `in_port` is not a port a packet can arrive on.
    #[error("OFPBRC_BAD_PORT: in_port {0} is not a port packets arrive on")]
    BadPort(PortNo),
    /// An output action names a port that cannot exist.
    #[error("OFPBAC_BAD_OUT_PORT: output to port {0}")]
    BadOutPort(PortNo),
    /// A group action naming a group the bridge does not have.
    #[error("OFPBAC_BAD_OUT_GROUP: group {0} does not exist")]
    BadOutGroup(u32),
}

impl PacketOutError {
    fn code(self, version: Version) -> ErrorCode {
        match self {
            Self::BufferUnknown => OfpError::BufferUnknown,
            Self::BadPort(_) => OfpError::BadPort,
            Self::BadOutPort(_) => OfpError::ActionBadOutPort,
            Self::BadOutGroup(_) => OfpError::ActionBadOutGroup,
        }
        .code_or_fallback(version)
    }
}

/// Whether the bridge's generation id `current` makes `requested` stale: OpenFlow compares
/// them by the sign of the wrapping difference, so ids may wrap around.
pub fn is_stale(current: Option<u64>, requested: u64) -> bool {
    current.is_some_and(|c| (requested.wrapping_sub(c) as i64) < 0)
}

/// Checks a packet-out as Open vSwitch does before running it: no buffer; an `in_port` a
/// packet can come from (below `OFPP_MAX`, or `LOCAL`, `CONTROLLER`, `NONE` (`ANY`)); outputs only to
/// ports that can exist; only groups that exist in `bridge`'s group table, at any depth of
/// nesting.
pub fn check_packet_out(po: &PacketOut, bridge: Option<&Bridge>) -> Result<(), PacketOutError> {
    if po.buffer_id.is_some() {
        return Err(PacketOutError::BufferUnknown);
    }
    let p = po.in_port;
    if p.0 >= OFPP_MAX && !matches!(p, PortNo::LOCAL | PortNo::CONTROLLER | PortNo::ANY) {
        return Err(PacketOutError::BadPort(p));
    }
    check_actions(&po.actions, bridge)
}

fn check_actions(actions: &[Action], bridge: Option<&Bridge>) -> Result<(), PacketOutError> {
    for a in actions {
        match a {
            Action::Output(o) if o.port.0 >= OFPP_MAX && o.port.0 < PortNo::IN_PORT.0 => {
                return Err(PacketOutError::BadOutPort(o.port));
            }
            Action::Group(g) if !bridge.is_some_and(|b| b.groups().contains(*g)) => {
                return Err(PacketOutError::BadOutGroup(g.0));
            }
            Action::Clone(inner) | Action::WriteActions(inner) => check_actions(inner, bridge)?,
            Action::Ct(ct) => check_actions(&ct.actions, bridge)?,
            _ => {}
        }
    }
    Ok(())
}

/// Checks a flow-mod's actions as Open vSwitch does before adding or modifying flows: every
/// group an action names (at any depth of nesting: `clone`, `write_actions`, `ct(exec(...))`)
/// must exist in the bridge's group table, or the flow-mod is refused with
/// `OFPBAC_BAD_OUT_GROUP`. Deletes carry no actions to check. `bridge` is `None` when the
/// bridge is gone (then there are no groups).
pub fn check_flow_mod(fm: &FlowMod, bridge: Option<&Bridge>) -> Result<(), OfpError> {
    check_flow_mod_groups(fm, bridge.map(Bridge::groups))
}

/// [`check_flow_mod`] against a group table (a bundle's commit checks against the groups as
/// its own earlier group-mods leave them).
pub fn check_flow_mod_groups(
    fm: &FlowMod,
    groups: Option<&fvs_pipeline::group::GroupTable>,
) -> Result<(), OfpError> {
    let writes = matches!(
        fm.command,
        FlowModCommand::Add | FlowModCommand::Modify | FlowModCommand::ModifyStrict
    );
    if !writes {
        return Ok(());
    }
    let mut named = Vec::new();
    fvs_pipeline::group::groups_named(&fm.actions, &mut named);
    let exists = |g: &fvs_openflow::GroupId| groups.is_some_and(|t| t.contains(*g));
    if named.iter().all(exists) {
        Ok(())
    } else {
        Err(OfpError::ActionBadOutGroup)
    }
}

/// The flow-removed message for a rule that left its table at `now`.
pub fn flow_removed(r: &Removed, now: Millis) -> FlowRemoved {
    let age = now.since(r.rule.stats.created);
    FlowRemoved {
        r#match: r.rule.r#match,
        cookie: r.rule.cookie,
        priority: r.rule.priority,
        reason: match r.reason {
            RemovedReason::IdleTimeout => FlowRemovedReason::IdleTimeout,
            RemovedReason::HardTimeout => FlowRemovedReason::HardTimeout,
            RemovedReason::Delete => FlowRemovedReason::Delete,
            RemovedReason::GroupDelete => FlowRemovedReason::GroupDelete,
            RemovedReason::MeterDelete => FlowRemovedReason::MeterDelete,
        },
        table_id: r.table,
        duration_sec: u32::try_from(age / 1000).unwrap_or(u32::MAX),
        duration_nsec: u32::try_from(age % 1000).unwrap_or(0) * 1_000_000,
        idle_timeout: r.rule.idle_timeout,
        hard_timeout: r.rule.hard_timeout,
        packet_count: r.rule.stats.packets,
        byte_count: r.rule.stats.bytes,
    }
}

/// The packet-in reason's number (the bit its async mask uses).
fn wire_reason(r: PacketInReason) -> u8 {
    match r {
        PacketInReason::NoMatch => 0,
        PacketInReason::Action => 1,
        PacketInReason::InvalidTtl => 2,
        PacketInReason::ActionSet => 3,
        PacketInReason::Group => 4,
        PacketInReason::PacketOut => 5,
        // Open vSwitch's internal misses are table misses.
        PacketInReason::Internal(_) => 0,
    }
}

impl Channel {
    /// The connection's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The connection's kind.
    pub fn kind(&self) -> ConnKind {
        self.kind
    }

    /// Whether this connection makes its bridge send table misses to the controllers, as
    /// Open vSwitch decides it: before the hellos, or speaking OpenFlow 1.0 to 1.2 with
    /// controller id 0.
    pub fn wants_table_misses(&self) -> bool {
        match self.state {
            State::Open(v) => v < Version::Of13 && self.controller_id == 0,
            State::Hello => true,
            State::Closing => false,
        }
    }

    /// Sends `event` to the peer if this connection receives it, shaped by its settings (see
    /// the module doc).
    pub fn send_async(&mut self, event: &AsyncEvent) {
        let State::Open(version) = self.state else {
            return;
        };
        if let AsyncEvent::MasterElected(generation_id) = event {
            if self.role == Role::Master {
                self.role = Role::Slave;
                let rs = RoleStatus {
                    role: Role::Slave,
                    reason: RoleReason::MasterRequest,
                    generation_id: *generation_id,
                };
                // Versions before 1.3 have no role status: nothing is sent.
                let msg = Message::Async(AsyncMsg::RoleStatus(rs));
                if let Ok(b) = fvs_openflow::wire::encode(&msg, version.default_protocol(), 0) {
                    self.tx.push_back(b);
                }
            }
            return;
        }
        // Flow monitors see every change whatever the role and asynchronous settings, as in
        // Open vSwitch.
        if let AsyncEvent::FlowChanges(changes) = event {
            self.monitor_changes(changes, None);
            return;
        }
        if self.kind == ConnKind::Service && self.config.miss_send_len == 0 {
            return;
        }
        let cfg = self
            .async_config
            .unwrap_or_else(|| AsyncConfig::default_for(version));
        let slot = usize::from(self.role == Role::Slave);
        let wants = |masks: [u32; 2], bit: u8| masks[slot] & (1u32 << bit) != 0;
        let protocol = self.async_protocol(version);
        let msg = match event {
            AsyncEvent::PacketIn(ev) => {
                if ev.controller_id != self.controller_id {
                    return;
                }
                let mut pin = ev.packet_in.clone();
                match ev.miss {
                    Miss::Implicit if version >= Version::Of13 => return,
                    Miss::Implicit => pin.reason = PacketInReason::NoMatch,
                    Miss::Explicit => {
                        pin.reason = if version >= Version::Of13 {
                            PacketInReason::NoMatch
                        } else {
                            PacketInReason::Action
                        };
                    }
                    Miss::No => {}
                }
                pin.format = self.packet_in_format;
                if pin.format == PacketInFormat::Nxt2 {
                    pin.continuation = ev
                        .continuation
                        .as_ref()
                        .and_then(|c| c.encode(version).ok());
                }
                // Reasons OpenFlow 1.4 added read as `action` before 1.4, in every format.
                if version < Version::Of14
                    && matches!(
                        pin.reason,
                        PacketInReason::ActionSet
                            | PacketInReason::Group
                            | PacketInReason::PacketOut
                    )
                {
                    pin.reason = PacketInReason::Action;
                }
                if !wants(cfg.packet_in, wire_reason(pin.reason)) {
                    return;
                }
                pin.buffer_id = None;
                AsyncMsg::PacketIn(Box::new(pin))
            }
            AsyncEvent::FlowRemoved(fr) => {
                // The mask is checked with the reason's own bit. OpenFlow 1.0's flow-removed
                // has no reason beyond delete, so, as Open vSwitch, a group deletion's
                // removals (`group_delete`) never reach a 1.0 connection; 1.3 gets them.
                let bit = fr.reason.wire();
                if bit >= 3 && version == Version::Of10 {
                    return;
                }
                if !wants(cfg.flow_removed, bit) {
                    return;
                }
                AsyncMsg::FlowRemoved(fr.clone())
            }
            AsyncEvent::PortStatus(ev) => {
                if !wants(cfg.port_status, ev.reason.wire()) {
                    return;
                }
                let desc = port_for_version(ev.desc.clone(), ev.live, version);
                if let Some((old, old_live)) = &ev.old
                    && port_for_version(old.clone(), *old_live, version) == desc
                {
                    return;
                }
                AsyncMsg::PortStatus(Box::new(PortStatus {
                    reason: ev.reason,
                    desc,
                }))
            }
            AsyncEvent::MasterElected(_) | AsyncEvent::FlowChanges(_) => return,
        };
        // An asynchronous message this version cannot carry is dropped: there is no
        // requester to answer with an error.
        if let Ok(bytes) = fvs_openflow::wire::encode(&Message::Async(msg), protocol, 0) {
            self.tx.push_back(bytes);
        }
    }

    /// Sends the flow-removed messages for `removed` (rules asking for them) to this
    /// connection and hands them to the bridge's others.
    pub(super) fn rules_removed(&mut self, removed: &[Removed], now: Millis, of: &mut dyn Ofproto) {
        // Higher priorities first, as Open vSwitch's classifier walk reports them.
        let mut removed: Vec<&Removed> = removed
            .iter()
            .filter(|r| r.rule.flags.send_flow_rem)
            .collect();
        removed.sort_by_key(|r| (r.table, std::cmp::Reverse(r.rule.priority)));
        for r in removed {
            let ev = AsyncEvent::FlowRemoved(Box::new(flow_removed(r, now)));
            self.send_async(&ev);
            of.publish(ev);
        }
    }

    /// Refuses a modifying message from a slave; true when refused.
    pub(super) fn refuse_if_slave(&mut self, version: Version, bytes: &[u8]) -> bool {
        if self.role == Role::Slave {
            self.queue_error(
                version,
                OfpError::IsSecondary.code_or_fallback(version),
                bytes,
            );
            return true;
        }
        false
    }

    /// A role request (see the module doc).
    pub(super) fn handle_role(
        &mut self,
        version: Version,
        xid: u32,
        r: RoleMsg,
        bytes: &[u8],
        of: &mut dyn Ofproto,
    ) {
        if matches!(r.role, Role::Master | Role::Slave)
            && let Some(g) = r.generation_id
            && of.role_generation(g).is_err()
        {
            return self.queue_error(
                version,
                OfpError::RoleStale.code_or_fallback(version),
                bytes,
            );
        }
        if r.role != Role::NoChange {
            if r.role == Role::Master {
                of.publish(AsyncEvent::MasterElected(of.generation_id()));
            }
            self.role = r.role;
        }
        let reply = RoleMsg {
            role: self.role,
            generation_id: (version >= Version::Of12)
                .then(|| of.generation_id().unwrap_or(u64::MAX)),
        };
        self.queue(&Message::RoleReply(reply), version, xid);
    }

    /// Packet-outs and the session settings of [`AsyncMsg`].
    pub(super) fn handle_async(
        &mut self,
        version: Version,
        xid: u32,
        m: AsyncMsg,
        bytes: &[u8],
        of: &mut dyn Ofproto,
        now: Millis,
    ) {
        match m {
            AsyncMsg::PacketOut(po) => {
                if self.refuse_if_slave(version, bytes) {
                    return;
                }
                match check_packet_out(&po, of.bridge()) {
                    Ok(()) => {
                        for ev in of.packet_out(&po, now) {
                            self.send_async(&ev);
                            of.publish(ev);
                        }
                    }
                    Err(e) => self.queue_error(version, e.code(version), bytes),
                }
            }
            AsyncMsg::SetPacketInFormat(f) => self.packet_in_format = f,
            AsyncMsg::SetControllerId(id) => self.controller_id = id,
            AsyncMsg::SetAsync(c) => {
                // Property forms change only the masks they carry: apply them onto the
                // connection's current configuration.
                let current = self
                    .async_config
                    .unwrap_or_else(|| AsyncConfig::default_for(version));
                let c = fvs_openflow::wire::async_msg::decode_set_async_onto(bytes, current)
                    .unwrap_or(c);
                self.async_config = Some(c);
            }
            AsyncMsg::GetAsyncRequest => {
                let c = self
                    .async_config
                    .unwrap_or_else(|| AsyncConfig::default_for(version));
                self.queue(&Message::Async(AsyncMsg::GetAsyncReply(c)), version, xid);
            }
            AsyncMsg::Resume(pin) => {
                // Any role may resume, slaves included, as in Open vSwitch. No continuation
                // at all is as stale as one naming a bridge that is gone.
                let result = match pin.continuation.as_deref() {
                    None => Err(OfpError::ResumeStale),
                    Some(raw) => match Continuation::decode(raw, version) {
                        Ok(c) => of.resume(&pin, &c, now),
                        Err(e) => Err(e.error),
                    },
                };
                if let Err(e) = result {
                    self.queue_error(version, e.code_or_fallback(version), bytes);
                }
            }
            // Messages only a switch sends.
            AsyncMsg::PacketIn(_)
            | AsyncMsg::FlowRemoved(_)
            | AsyncMsg::PortStatus(_)
            | AsyncMsg::GetAsyncReply(_)
            | AsyncMsg::RoleStatus(_) => {
                self.queue_error(version, OfpError::BadType.code_or_fallback(version), bytes);
            }
        }
    }
}

impl Channel {
    /// The protocol asynchronous messages use: the version's, and for OpenFlow 1.0 the flow
    /// format the peer chose (`OFPT_FLOW_REMOVED` or `NXT_FLOW_REMOVED`).
    fn async_protocol(&self, version: Version) -> fvs_openflow::protocol::Protocol {
        use super::FlowFormat;
        use fvs_openflow::protocol::Protocol;
        match (version, self.flow_format) {
            (Version::Of10, FlowFormat::OpenFlow10) => Protocol::Of10StdTid,
            (Version::Of10, FlowFormat::Nxm) => Protocol::Of10NxmTid,
            (v, _) => v.default_protocol(),
        }
    }
}

impl Channel {
    /// Sends an echo request (an inactivity probe), once the hellos are done.
    pub fn send_probe(&mut self) {
        if let State::Open(v) = self.state {
            self.queue(&Message::EchoRequest(Vec::new()), v, 0);
        }
    }

    /// Turns every asynchronous message off (`enable_async_messages=false`); the peer may
    /// still turn them on with its own async configuration.
    pub fn disable_async(&mut self) {
        self.async_config = Some(AsyncConfig {
            packet_in: [0, 0],
            port_status: [0, 0],
            flow_removed: [0, 0],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofchannel::Features;
    use fvs_flow::{Field, Match};
    use fvs_openflow::wire::{self, Hello, PacketInFormat, SwitchConfig, VersionBitmap};
    use fvs_openflow::{Cookie, FlowMod};
    use fvs_pipeline::bridge::{Bridge, FailMode, FlowModError};

    /// A bridge with a generation id, recording what the channel publishes and executes.
    struct Fake {
        bridge: Bridge,
        generation: Option<u64>,
        published: Vec<AsyncEvent>,
        packet_outs: Vec<PacketOut>,
    }

    impl Ofproto for Fake {
        fn features(&self, version: Version) -> Option<Features> {
            Some(crate::ofchannel::features(version, 1, Vec::new()))
        }
        fn flow_mod(&mut self, fm: &FlowMod, now: Millis) -> Result<Vec<Removed>, FlowModError> {
            self.bridge.flow_mod(fm, now)
        }
        fn bridge(&self) -> Option<&Bridge> {
            Some(&self.bridge)
        }
        fn packet_out(&mut self, po: &PacketOut, _: Millis) -> Vec<AsyncEvent> {
            self.packet_outs.push(po.clone());
            Vec::new()
        }
        fn role_generation(&mut self, g: u64) -> Result<(), RoleError> {
            if is_stale(self.generation, g) {
                return Err(RoleError::Stale);
            }
            self.generation = Some(g);
            Ok(())
        }
        fn generation_id(&self) -> Option<u64> {
            self.generation
        }
        fn publish(&mut self, event: AsyncEvent) {
            self.published.push(event);
        }
    }

    fn fake() -> Fake {
        Fake {
            bridge: Bridge::new("br0", FailMode::Secure, Millis(0)),
            generation: None,
            published: Vec::new(),
            packet_outs: Vec::new(),
        }
    }

    fn send(c: &mut Channel, f: &mut Fake, msg: &Message, v: Version) {
        let b = wire::encode(msg, v.default_protocol(), 9).expect("encodable");
        c.handle_bytes(Millis(1000), &b, f);
    }

    fn out(c: &mut Channel) -> Vec<Message> {
        std::iter::from_fn(|| c.poll_transmit())
            .map(|b| wire::decode(&b).expect("valid").1)
            .collect()
    }

    fn open(kind: ConnKind, v: Version, f: &mut Fake) -> Channel {
        let mut c = Channel::with_kind(VersionBitmap::ALL, kind);
        send(&mut c, f, &Message::Hello(Hello { bitmap: None }), v);
        out(&mut c);
        c
    }

    fn port_status() -> AsyncEvent {
        AsyncEvent::PortStatus(Box::new(PortEvent {
            reason: PortReason::Add,
            desc: PortDesc::default(),
            live: false,
            old: None,
        }))
    }

    fn removed_event() -> AsyncEvent {
        AsyncEvent::FlowRemoved(Box::new(FlowRemoved {
            r#match: Match::CATCHALL,
            cookie: Cookie(1),
            priority: 1,
            reason: FlowRemovedReason::Delete,
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            packet_count: 0,
            byte_count: 0,
        }))
    }

    fn packet_in(miss: Miss, max_len: u16) -> AsyncEvent {
        let mut metadata = Match::CATCHALL;
        metadata.set(Field::InPort, 1);
        AsyncEvent::PacketIn(Box::new(PacketInEvent {
            packet_in: PacketIn {
                format: PacketInFormat::Standard,
                reason: PacketInReason::Action,
                table_id: 0,
                cookie: Cookie(0),
                metadata,
                total_len: 100,
                buffer_id: None,
                data: vec![0xab; 100],
                userdata: None,
                continuation: None,
            },
            continuation: None,
            max_len,
            miss,
            controller_id: 0,
        }))
    }

    fn pin_of(m: &Message) -> &PacketIn {
        match m {
            Message::Async(AsyncMsg::PacketIn(p)) => p,
            other => panic!("not a packet-in: {other:?}"),
        }
    }

    #[test]
    fn a_service_connection_gets_nothing_until_it_sets_a_miss_send_len() {
        let mut f = fake();
        let mut c = open(ConnKind::Service, Version::Of13, &mut f);
        c.send_async(&removed_event());
        assert!(out(&mut c).is_empty());
        let cfg = SwitchConfig {
            flags: 0,
            miss_send_len: 128,
        };
        send(&mut c, &mut f, &Message::SetConfig(cfg), Version::Of13);
        c.send_async(&removed_event());
        c.send_async(&port_status());
        let got = out(&mut c);
        assert!(matches!(got[0], Message::Async(AsyncMsg::FlowRemoved(_))));
        assert!(matches!(got[1], Message::Async(AsyncMsg::PortStatus(_))));
    }

    #[test]
    fn slaves_are_refused_changes_and_get_port_status_only() {
        let mut f = fake();
        let mut c = open(ConnKind::Primary, Version::Of13, &mut f);
        let slave = Message::RoleRequest(RoleMsg {
            role: Role::Slave,
            generation_id: Some(7),
        });
        send(&mut c, &mut f, &slave, Version::Of13);
        assert_eq!(
            out(&mut c),
            vec![Message::RoleReply(RoleMsg {
                role: Role::Slave,
                generation_id: Some(7)
            })]
        );
        let fm = fvs_pipeline::bridge::add_flow(0, Match::CATCHALL, 1, Vec::new());
        send(
            &mut c,
            &mut f,
            &Message::FlowMod(Box::new(fm)),
            Version::Of13,
        );
        let po = PacketOut {
            buffer_id: None,
            in_port: PortNo::CONTROLLER,
            metadata: Match::CATCHALL,
            actions: Vec::new(),
            data: vec![0; 60],
        };
        send(
            &mut c,
            &mut f,
            &Message::Async(AsyncMsg::PacketOut(Box::new(po))),
            Version::Of13,
        );
        let errors: Vec<(u16, u16)> = out(&mut c)
            .iter()
            .map(|m| match m {
                Message::Error(e) => (e.code.r#type, e.code.code),
                other => panic!("{other:?}"),
            })
            .collect();
        // OFPET_BAD_REQUEST / OFPBRC_IS_SLAVE, for both.
        assert_eq!(errors, vec![(1, 10), (1, 10)]);
        assert!(f.bridge.rules().is_empty() && f.packet_outs.is_empty());
        c.send_async(&removed_event());
        c.send_async(&packet_in(Miss::No, NO_BUFFER_LEN));
        c.send_async(&port_status());
        let got = out(&mut c);
        assert_eq!(got.len(), 1);
        assert!(matches!(got[0], Message::Async(AsyncMsg::PortStatus(_))));
    }

    #[test]
    fn stale_generations_are_refused_and_a_new_master_demotes_the_old() {
        let mut f = fake();
        let mut c = open(ConnKind::Primary, Version::Of13, &mut f);
        let master = |g| {
            Message::RoleRequest(RoleMsg {
                role: Role::Master,
                generation_id: Some(g),
            })
        };
        send(&mut c, &mut f, &master(10), Version::Of13);
        assert_eq!(f.published, vec![AsyncEvent::MasterElected(Some(10))]);
        send(&mut c, &mut f, &master(9), Version::Of13);
        let got = out(&mut c);
        assert!(matches!(got[0], Message::RoleReply(_)));
        match &got[1] {
            // OFPET_ROLE_REQUEST_FAILED / OFPRRFC_STALE.
            Message::Error(e) => assert_eq!((e.code.r#type, e.code.code), (11, 0)),
            other => panic!("{other:?}"),
        }
        // Ids wrap: u64::MAX is older than 10 only by the sign of the difference.
        assert!(is_stale(Some(10), 9) && !is_stale(Some(u64::MAX), 10));
        assert_eq!(c.role(), Role::Master);
        c.send_async(&AsyncEvent::MasterElected(Some(11)));
        assert_eq!(c.role(), Role::Slave);
    }

    #[test]
    fn misses_read_per_version_and_packets_are_sent_whole() {
        let mut f = fake();
        let mut of10 = open(ConnKind::Primary, Version::Of10, &mut f);
        let mut of13 = open(ConnKind::Primary, Version::Of13, &mut f);
        for c in [&mut of10, &mut of13] {
            c.send_async(&packet_in(Miss::Explicit, 64));
            c.send_async(&packet_in(Miss::Implicit, 0));
        }
        let got10 = out(&mut of10);
        let got13 = out(&mut of13);
        // Explicit: action before 1.3, no_match from 1.3; the whole packet despite max_len.
        assert_eq!(pin_of(&got10[0]).reason, PacketInReason::Action);
        assert_eq!(pin_of(&got13[0]).reason, PacketInReason::NoMatch);
        assert_eq!(pin_of(&got13[0]).data.len(), 100);
        assert_eq!(pin_of(&got13[0]).total_len, 100);
        // Implicit: only 1.0 hears of it.
        assert_eq!(got13.len(), 1);
        assert_eq!(pin_of(&got10[1]).reason, PacketInReason::NoMatch);
        assert_eq!(pin_of(&got10[1]).data.len(), 100);
    }

    #[test]
    fn packet_in_format_and_controller_id_are_the_connections() {
        let mut f = fake();
        let mut c = open(ConnKind::Primary, Version::Of10, &mut f);
        let fmt = Message::Async(AsyncMsg::SetPacketInFormat(PacketInFormat::Nxt2));
        send(&mut c, &mut f, &fmt, Version::Of10);
        c.send_async(&packet_in(Miss::No, NO_BUFFER_LEN));
        assert_eq!(pin_of(&out(&mut c)[0]).format, PacketInFormat::Nxt2);
        let id = Message::Async(AsyncMsg::SetControllerId(3));
        send(&mut c, &mut f, &id, Version::Of10);
        c.send_async(&packet_in(Miss::No, NO_BUFFER_LEN));
        assert!(
            out(&mut c).is_empty(),
            "controller id 0's packet-in went to id 3"
        );
    }

    #[test]
    fn async_config_selects_reasons() {
        let mut f = fake();
        let mut c = open(ConnKind::Primary, Version::Of13, &mut f);
        send(
            &mut c,
            &mut f,
            &Message::Async(AsyncMsg::GetAsyncRequest),
            Version::Of13,
        );
        assert_eq!(
            out(&mut c),
            vec![Message::Async(AsyncMsg::GetAsyncReply(
                AsyncConfig::default_for(Version::Of13)
            ))]
        );
        let only_ports = AsyncConfig {
            packet_in: [0, 0],
            port_status: [0b111, 0b111],
            flow_removed: [0, 0],
        };
        let set = Message::Async(AsyncMsg::SetAsync(only_ports));
        send(&mut c, &mut f, &set, Version::Of13);
        c.send_async(&removed_event());
        c.send_async(&packet_in(Miss::No, NO_BUFFER_LEN));
        c.send_async(&port_status());
        let got = out(&mut c);
        assert_eq!(got.len(), 1);
        assert!(matches!(got[0], Message::Async(AsyncMsg::PortStatus(_))));
    }

    #[test]
    fn a_14_set_async_changes_only_the_masks_it_carries() {
        let mut f = fake();
        let mut c = open(ConnKind::Primary, Version::Of14, &mut f);
        let first = AsyncConfig {
            packet_in: [1, 1],
            port_status: [1, 1],
            flow_removed: [1, 1],
        };
        let all = Message::Async(AsyncMsg::SetAsync(first));
        send(&mut c, &mut f, &all, Version::Of14);
        // OFPT_SET_ASYNC with one property: OFPACPT_PACKET_IN_MASTER = 3.
        let set = [5, 28, 0, 16, 0, 0, 0, 9, 0, 1, 0, 8, 0, 0, 0, 3];
        c.handle_bytes(Millis(0), &set, &mut f);
        send(
            &mut c,
            &mut f,
            &Message::Async(AsyncMsg::GetAsyncRequest),
            Version::Of14,
        );
        assert_eq!(
            out(&mut c),
            vec![Message::Async(AsyncMsg::GetAsyncReply(AsyncConfig {
                packet_in: [3, 1],
                ..first
            }))]
        );
    }

    #[test]
    fn bad_packet_outs_get_the_specifications_errors() {
        let mut f = fake();
        let mut c = open(ConnKind::Primary, Version::Of13, &mut f);
        let po = |buffer_id, in_port, out_port| {
            Message::Async(AsyncMsg::PacketOut(Box::new(PacketOut {
                buffer_id,
                in_port: PortNo(in_port),
                metadata: Match::CATCHALL,
                actions: vec![Action::Output(fvs_openflow::Output {
                    port: PortNo(out_port),
                    max_len: 0,
                })],
                data: vec![0; 60],
            })))
        };
        send(&mut c, &mut f, &po(Some(5), 1, 2), Version::Of13);
        send(&mut c, &mut f, &po(None, 0xff00, 2), Version::Of13);
        send(&mut c, &mut f, &po(None, 1, 0xff00), Version::Of13);
        send(
            &mut c,
            &mut f,
            &po(None, PortNo::CONTROLLER.0, 2),
            Version::Of13,
        );
        let codes: Vec<(u16, u16)> = out(&mut c)
            .iter()
            .map(|m| match m {
                Message::Error(e) => (e.code.r#type, e.code.code),
                other => panic!("{other:?}"),
            })
            .collect();
        // OFPBRC_BUFFER_UNKNOWN, OFPBRC_BAD_PORT, OFPBAC_BAD_OUT_PORT.
        assert_eq!(codes, vec![(1, 8), (1, 11), (2, 4)]);
        assert_eq!(f.packet_outs.len(), 1);
        assert_eq!(f.packet_outs[0].in_port, PortNo::CONTROLLER);
    }

    #[test]
    fn a_delete_sends_flow_removed_for_rules_that_asked_highest_priority_first() {
        let mut f = fake();
        let mut c = open(ConnKind::Primary, Version::Of13, &mut f);
        for (prio, flag) in [(5, true), (6, true), (7, false)] {
            let mut fm = fvs_pipeline::bridge::add_flow(0, Match::CATCHALL, prio, Vec::new());
            fm.flags.send_flow_rem = flag;
            send(
                &mut c,
                &mut f,
                &Message::FlowMod(Box::new(fm)),
                Version::Of13,
            );
        }
        let mut del = FlowMod::new(fvs_openflow::FlowModCommand::Delete);
        del.table = None;
        send(
            &mut c,
            &mut f,
            &Message::FlowMod(Box::new(del)),
            Version::Of13,
        );
        let prios: Vec<u16> = out(&mut c)
            .iter()
            .map(|m| match m {
                Message::Async(AsyncMsg::FlowRemoved(fr)) => fr.priority,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(prios, vec![6, 5]);
        assert_eq!(f.published.len(), 2);
    }
}
