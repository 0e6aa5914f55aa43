//! One OpenFlow connection's protocol state, without I/O.
//!
//! A [`Channel`] is fed whatever bytes the socket produced ([`Channel::handle_bytes`]) and
//! hands back whole messages to write ([`Channel::poll_transmit`]). It never touches a socket
//! or a clock: the caller passes the time and the bridge (an [`Ofproto`]), so every exchange is
//! testable byte for byte.
//!
//! # Life of a connection
//!
//! 1. On creation the channel queues its hello: header version = the highest version the
//!    bridge allows, plus a version bitmap of all of them (what Open vSwitch sends).
//! 2. The peer's first message must be a hello. Negotiation picks the highest version both
//!    sides allow; none in common, or anything but a hello first, queues an
//!    `OFPHFC_INCOMPATIBLE` error and the channel closes ([`Channel::is_closed`]) once that
//!    reply is written.
//! 3. Afterwards each message is answered in order: echo, features, get/set config,
//!    barrier (every earlier message is finished when a message is handled, so the reply is
//!    immediate), role, flow-mods applied to the bridge, bundles of flow-mods ([`bundle`]),
//!    flow/aggregate/description statistics from the bridge's rules ([`stats`]; a large flow
//!    reply is split into several messages flagged "more"), port descriptions, port-mods
//!    and port/queue statistics (ports' configuration in [`ports`]), table statistics,
//!    table/meter/group features ([`stats`] again), group-mods and group descriptions and
//!    statistics (the bridge's group table), meter-mods and meter configurations and
//!    statistics (the bridge's meter table and the datapath's counters, the `meter`
//!    module). In OpenFlow 1.0 a statistics
//!    reply takes the form of its request: `NXST_*` (NXM matches) for a Nicira request,
//!    `OFPST_*` otherwise. Packet-outs, the async configuration, packet-in format and
//!    controller id, and role enforcement are [`controller`]'s; so is
//!    [`Channel::send_async`], through which the daemon hands every connection the bridge's
//!    asynchronous messages. Flow monitor requests and cancels, and the updates the
//!    bridge's table changes make for them, are [`flow_monitor`]'s.
//!
//! # Invariants and failure handling
//!
//! - **Framing.** A message is taken from the receive buffer only when its whole length has
//!   arrived, so partial messages wait and one read may carry several. A length below the
//!   8-byte header cannot be resynchronised: the channel closes.
//! - **Everything else lives on.** A message the codec refuses gets an error reply whose
//!   type and code are the [`DecodeError`]'s (in the negotiated version), with up to 64 bytes of
//!   the offending message as its data, and the next message is read normally.
//! - A message whose header version differs from the negotiated one gets `OFPBRC_BAD_VERSION`.
//! - Replies reuse the request's transaction id. The exception is Open vSwitch's: a flow
//!   monitor request refused for its records (not its framing) gets an error with xid 0 and
//!   no data ([`flow_monitor`]).

use std::collections::VecDeque;

use fvs_openflow::FlowMod;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::bundle::{BundleCtrlType, BundleMsg};
use fvs_openflow::wire::group::GroupMsg;
use fvs_openflow::wire::port::{PortMod, PortMsg, PortStats};
use fvs_openflow::wire::{
    self, DecodeError, ErrorCode, ErrorMsg, Features, HEADER_LEN, Hello, Message, OfpError,
    PortDesc, Role, SwitchConfig, Version, VersionBitmap,
};
use fvs_openflow::wire::{PacketInFormat, PacketOut};
use fvs_pipeline::bridge::{Bridge, FlowModError, Removed, TableChange};
use fvs_pipeline::clock::Millis;

/// How many bytes of an offending message an error reply quotes. OpenFlow asks for at least
/// 64; Open vSwitch quotes the whole message, as here, as far as the reply can hold it (an
/// error's header takes at most 24 bytes of the 65535).
const ERROR_DATA_MAX: usize = 65535 - 24;

/// `OFPT_VENDOR` / `OFPT_EXPERIMENTER`: the same number in every version.
const OFPT_VENDOR: u8 = 4;
/// Nicira's vendor id.
const NX_VENDOR_ID: u32 = 0x0000_2320;

/// Nicira subtypes the codec does not decode yet but every ovs-ofctl session may send; they
/// only change how later messages are encoded, so the channel handles them itself.
// TODO: move to fvs_openflow::wire when the codec models flow-format negotiation.
mod nxt {
    pub(super) const SET_FLOW_FORMAT: u32 = 12;
    pub(super) const FLOW_MOD_TABLE_ID: u32 = 15;
}

/// Nicira's flow formats (`NXFF_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowFormat {
    /// OpenFlow 1.0's fixed `ofp_match`.
    OpenFlow10,
    /// Nicira's extensible match.
    Nxm,
}

/// The bridge a channel manages, as the channel sees it.
pub trait Ofproto {
    /// The features reply's contents for `version`; `None` when the bridge is gone.
    fn features(&self, version: Version) -> Option<Features>;
    /// Applies a flow-mod; returns the rules it removed.
    fn flow_mod(&mut self, fm: &FlowMod, now: Millis) -> Result<Vec<Removed>, FlowModError>;
    /// Executes a packet-out the channel has checked ([`controller::check_packet_out`]);
    /// returns the asynchronous messages it caused (packet-ins from `controller` actions).
    fn packet_out(&mut self, po: &PacketOut, now: Millis) -> Vec<AsyncEvent>;
    /// Resumes the paused translation `c` (decoded from `pin`'s continuation) with `pin`'s
    /// packet and metadata; `Err` with the error to answer (`NXR_STALE` for a bridge that is
    /// not there). By default the switch cannot resume.
    fn resume(
        &mut self,
        _pin: &fvs_openflow::wire::PacketIn,
        _c: &fvs_openflow::wire::continuation::Continuation,
        _now: Millis,
    ) -> Result<(), OfpError> {
        Err(OfpError::ResumeNotSupported)
    }
    /// Records a master's or slave's generation id for the bridge; `Err` when stale.
    fn role_generation(&mut self, generation_id: u64) -> Result<(), RoleError>;
    /// The bridge's generation id, if a role request ever set one.
    fn generation_id(&self) -> Option<u64>;
    /// Hands an event this connection caused to the bridge's other connections (the channel
    /// has already sent it to its own peer).
    fn publish(&mut self, event: AsyncEvent);
    /// The bridge's flow tables, for statistics; `None` when the bridge is gone.
    fn bridge(&self) -> Option<&Bridge>;
    /// Applies a group-mod ([`Bridge::group_mod`]); returns the rules it removed. By default
    /// the switch has no group table.
    fn group_mod(
        &mut self,
        _gm: &fvs_openflow::group::GroupMod,
        _now: Millis,
    ) -> Result<Vec<Removed>, OfpError> {
        Err(OfpError::BadType)
    }

    /// Applies a meter-mod ([`Bridge::meter_mod`]) and configures the datapath meters it
    /// changed; returns the rules it removed. By default the switch has no meter table.
    fn meter_mod(
        &mut self,
        _mm: &fvs_openflow::meter::MeterMod,
        _now: Millis,
    ) -> Result<Vec<Removed>, OfpError> {
        Err(OfpError::BadType)
    }

    /// The counters of datapath meter `dp`; `None` (no traffic counted) by default.
    fn meter_counters(
        &self,
        _dp: fvs_pipeline::meter::DpMeterId,
    ) -> Option<fvs_pipeline::meter::MeterCounters> {
        None
    }

    /// Starts recording the bridge's table changes for flow monitors
    /// ([`Bridge::set_journal`]). By default there is nothing to record.
    fn start_journal(&mut self) {}

    /// The table changes recorded since last taken ([`Bridge::take_changes`]).
    fn take_changes(&mut self) -> Vec<TableChange> {
        Vec::new()
    }

    /// The bridge's ports with their configuration and state in OpenFlow 1.0's terms (the
    /// channel adds what later versions say). By default, the features reply's ports.
    fn ports(&self, now: Millis) -> Vec<PortDesc> {
        let _ = now;
        self.features(Version::Of10)
            .map(|f| f.ports)
            .unwrap_or_default()
    }

    /// Applies a port-mod. By default ports cannot be changed: an existing one answers
    /// `OFPBRC_EPERM`, an unknown one `OFPPMFC_BAD_PORT`.
    fn port_mod(&mut self, pm: &PortMod, now: Millis) -> Result<(), OfpError> {
        if self.ports(now).iter().any(|p| p.port_no == pm.port_no) {
            Err(OfpError::Eperm)
        } else {
            Err(OfpError::PortModBadPort)
        }
    }

    /// The bridge's fragment handling (`OFPC_FRAG_*`), which every connection shares.
    fn frag_mode(&self) -> u16 {
        0
    }

    /// Sets the bridge's fragment handling. By default it cannot be changed.
    fn set_frag_mode(&mut self, flags: u16) {
        let _ = flags;
    }

    /// Every port's counters. By default zero packets and bytes, other counters unknown,
    /// and no duration.
    fn port_stats(&self, now: Millis) -> Vec<PortStats> {
        self.ports(now)
            .iter()
            .map(|p| PortStats::zeroed(p.port_no))
            .collect()
    }
}

/// Where the channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's hello.
    Hello,
    /// Negotiated this version.
    Open(Version),
    /// Finished: write what is queued, then close.
    Closing,
}

/// One OpenFlow connection's state.
#[derive(Debug)]
pub struct Channel {
    allowed: VersionBitmap,
    state: State,
    rx: Vec<u8>,
    tx: VecDeque<Vec<u8>>,
    config: SwitchConfig,
    role: Role,
    kind: ConnKind,
    packet_in_format: PacketInFormat,
    controller_id: u16,
    /// `None` until the peer sets one: the version's default applies.
    async_config: Option<wire::AsyncConfig>,
    flow_format: FlowFormat,
    table_id_ext: bool,
    bundles: bundle::Bundles,
    monitors: flow_monitor::Monitors,
    /// Bytes the connection's output queue still holds, as last told
    /// ([`Self::set_output_backlog`]): part of the flow monitors' backlog.
    out_backlog: usize,
}

/// OpenFlow 1.0's `OFPC_*` bits Open vSwitch reports: flow, table, port and queue stats and
/// ARP matching on IP.
const OF10_CAPABILITIES: u32 = 0x01 | 0x02 | 0x04 | 0x40 | 0x80;
/// OpenFlow 1.1+'s bits: flow, table, port, group and queue stats.
const OF11_CAPABILITIES: u32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x40;
/// OpenFlow 1.1's `OFPC_ARP_MATCH_IP`, which Open vSwitch announces in 1.1 only (1.2 gave
/// the bit to `OFPC_PORT_BLOCKED`).
const OFPC11_ARP_MATCH_IP: u32 = 0x80;
/// OpenFlow 1.4's bit for bundle support (Open vSwitch's `BUNDLES` capability).
const OFPC14_BUNDLES: u32 = 1 << 9;
/// OpenFlow 1.0's supported-actions bitmap: every standard action (output to enqueue).
const OF10_ACTIONS: u32 = 0x0fff;

/// The features reply's fixed fields for a bridge, as Open vSwitch fills them.
pub fn features(version: Version, datapath_id: u64, ports: Vec<PortDesc>) -> Features {
    Features {
        datapath_id,
        n_buffers: 0,
        n_tables: 254,
        auxiliary_id: 0,
        capabilities: match version {
            Version::Of10 => OF10_CAPABILITIES,
            Version::Of11 => OF11_CAPABILITIES | OFPC11_ARP_MATCH_IP,
            Version::Of12 | Version::Of13 => OF11_CAPABILITIES,
            _ => OF11_CAPABILITIES | OFPC14_BUNDLES,
        },
        actions: if version == Version::Of10 {
            OF10_ACTIONS
        } else {
            0
        },
        // OpenFlow 1.3 and later list ports only in a port-desc reply.
        ports: if version >= Version::Of13 {
            Vec::new()
        } else {
            ports
                .into_iter()
                .map(|p| stats::for_version(p, version))
                .collect()
        },
    }
}

/// The versions a bridge's `protocols` column allows; empty means Open vSwitch's default,
/// OpenFlow 1.0 through 1.5 (ovs-vswitchd.conf.db(5)). Unknown names are ignored, as
/// Open vSwitch ignores them.
pub fn allowed_versions(protocols: &[String]) -> VersionBitmap {
    let versions: Vec<Version> = protocols
        .iter()
        .filter_map(|p| match p.as_str() {
            "OpenFlow10" => Some(Version::Of10),
            "OpenFlow11" => Some(Version::Of11),
            "OpenFlow12" => Some(Version::Of12),
            "OpenFlow13" => Some(Version::Of13),
            "OpenFlow14" => Some(Version::Of14),
            "OpenFlow15" => Some(Version::Of15),
            _ => None,
        })
        .collect();
    if versions.is_empty() {
        VersionBitmap::ALL
    } else {
        VersionBitmap::of(&versions)
    }
}

impl Channel {
    /// A new management connection to a bridge that allows `allowed`; its hello is already
    /// queued.
    pub fn new(allowed: VersionBitmap) -> Self {
        Self::with_kind(allowed, ConnKind::Service)
    }

    /// A new connection of `kind` to a bridge that allows `allowed`; its hello is already
    /// queued.
    pub fn with_kind(allowed: VersionBitmap, kind: ConnKind) -> Self {
        let mut c = Self {
            allowed,
            state: State::Hello,
            rx: Vec::new(),
            tx: VecDeque::new(),
            // Open vSwitch gives service connections (a bridge's management socket) a
            // miss_send_len of 0, so they see no asynchronous messages until they ask.
            config: SwitchConfig {
                flags: 0,
                miss_send_len: match kind {
                    ConnKind::Primary => DEFAULT_MISS_SEND_LEN,
                    ConnKind::Service => 0,
                },
            },
            role: Role::Equal,
            kind,
            packet_in_format: PacketInFormat::Standard,
            controller_id: 0,
            async_config: None,
            flow_format: FlowFormat::OpenFlow10,
            table_id_ext: false,
            bundles: bundle::Bundles::new(),
            monitors: flow_monitor::Monitors::new(),
            out_backlog: 0,
        };
        let highest = allowed
            .highest_common(VersionBitmap::ALL)
            .unwrap_or(Version::Of10);
        let hello = Message::Hello(Hello {
            bitmap: Some(allowed),
        });
        c.queue(&hello, highest, 0);
        c
    }

    /// The negotiated version, once the hellos are exchanged.
    pub fn version(&self) -> Option<Version> {
        match self.state {
            State::Open(v) => Some(v),
            _ => None,
        }
    }

    /// The flow format the peer asked for (OpenFlow 1.0 only).
    pub fn flow_format(&self) -> FlowFormat {
        self.flow_format
    }

    /// True when the connection is over and nothing is left to write.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closing && self.tx.is_empty()
    }

    /// The next message to write, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// Whether paused flow monitors wait for [`Self::resume_monitors`]: everything queued
    /// has been written.
    pub fn monitors_resume_due(&self) -> bool {
        self.monitors.is_paused() && self.tx.is_empty() && self.out_backlog == 0
    }

    /// Records how many bytes the connection's output queue has not yet written (see
    /// [`flow_monitor`]'s flow control).
    pub fn set_output_backlog(&mut self, bytes: usize) {
        self.out_backlog = bytes;
    }

    /// Re-lists every flow the monitors cover and sends `RESUMED` (see
    /// [`flow_monitor`]'s flow control).
    pub fn resume_monitors(&mut self, bridge: Option<&Bridge>) {
        let Some(v) = self.version() else { return };
        let updates = self.monitors.resync(bridge);
        let protocol = monitor_protocol(v);
        if !updates.is_empty()
            && let Ok(parts) = wire::flow_monitor::encode_updates(&updates, protocol, 0)
        {
            self.tx.extend(parts);
        }
        self.queue(
            &Message::FlowMonitor(wire::flow_monitor::FlowMonitorMsg::Resumed),
            v,
            0,
        );
    }

    /// Queues the updates `changes` make for this connection's monitors (`own_xid`: the
    /// xid of this connection's flow-mod that caused them), pausing when the connection's
    /// output is backed up.
    pub(crate) fn monitor_changes(&mut self, changes: &[TableChange], own_xid: Option<u32>) {
        let Some(v) = self.version() else { return };
        if self.monitors.is_empty() || changes.is_empty() {
            return;
        }
        if self.monitors.is_paused() {
            self.monitors.note_paused_changes(changes);
            return;
        }
        let updates = self.monitors.updates(changes, own_xid);
        if updates.is_empty() {
            return;
        }
        let backlog = self.out_backlog + self.tx.iter().map(Vec::len).sum::<usize>();
        if backlog > flow_monitor::BACKLOG_MAX {
            self.monitors.pause();
            self.monitors.note_paused_changes(changes);
            self.queue(
                &Message::FlowMonitor(wire::flow_monitor::FlowMonitorMsg::Paused),
                v,
                0,
            );
            return;
        }
        if let Ok(parts) = wire::flow_monitor::encode_updates(&updates, monitor_protocol(v), 0) {
            self.tx.extend(parts);
        }
    }

    /// Applies a committed bundle's changes in order. They were checked by the bundle as a
    /// whole and none of them can fail; each run of flow-mods is reported as one batch (to
    /// this connection's own monitors under `xid`, the bundle's first message's), and each
    /// port-mod that changes its port is announced as a port-mod outside a bundle is.
    fn apply_bundle(
        &mut self,
        changes: Vec<bundle::Change>,
        xid: u32,
        now: Millis,
        ofproto: &mut dyn Ofproto,
    ) {
        let mut fms = Vec::new();
        for change in changes {
            match change {
                bundle::Change::FlowMod(fm) => fms.push(*fm),
                bundle::Change::GroupMod(gm) => {
                    let _ = self.apply_flow_mods(&std::mem::take(&mut fms), xid, now, ofproto);
                    // Checked at commit against the same group table, so it applies.
                    let mine = ofproto.group_mod(&gm, now);
                    let changes = ofproto.take_changes();
                    if !changes.is_empty() {
                        self.monitor_changes(&changes, Some(xid));
                        ofproto.publish(AsyncEvent::FlowChanges(changes.into()));
                    }
                    if let Ok(removed) = mine {
                        self.rules_removed(&removed, now, ofproto);
                    }
                }
                bundle::Change::PortMod(pm) => {
                    let _ = self.apply_flow_mods(&std::mem::take(&mut fms), xid, now, ofproto);
                    let before = ofproto.ports(now);
                    if ofproto.port_mod(&pm, now).is_ok() {
                        let after = ofproto.ports(now);
                        for ev in ports::port_mod_events(&before, &after, pm.port_no) {
                            self.send_async(&ev);
                            ofproto.publish(ev);
                        }
                    }
                }
            }
        }
        if !fms.is_empty() {
            let _ = self.apply_flow_mods(&fms, xid, now, ofproto);
        }
    }

    /// Applies flow-mods for this connection: changes found in the journal before them were
    /// someone else's (reported to everyone), the ones after are this connection's (reported
    /// to its own monitors under `xid`, and to everyone else).
    fn apply_flow_mods(
        &mut self,
        fms: &[FlowMod],
        xid: u32,
        now: Millis,
        ofproto: &mut dyn Ofproto,
    ) -> Result<(), FlowModError> {
        for earlier in flow_monitor::by_operation(ofproto.take_changes()) {
            let ev = AsyncEvent::FlowChanges(earlier.into());
            self.send_async(&ev);
            ofproto.publish(ev);
        }
        let mut result = Ok(());
        let mut removed = Vec::new();
        for fm in fms {
            match ofproto.flow_mod(fm, now) {
                Ok(r) => removed.extend(r),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // The monitors' updates go before the flow-removed messages, as Open vSwitch sends
        // them.
        let mine = ofproto.take_changes();
        if !mine.is_empty() {
            self.monitor_changes(&mine, Some(xid));
            ofproto.publish(AsyncEvent::FlowChanges(mine.into()));
        }
        self.rules_removed(&removed, now, ofproto);
        result
    }

    fn handle_flow_monitor(
        &mut self,
        version: Version,
        xid: u32,
        m: wire::flow_monitor::FlowMonitorMsg,
        bytes: &[u8],
        ofproto: &mut dyn Ofproto,
    ) {
        use wire::flow_monitor::FlowMonitorMsg;
        // Open vSwitch answers a failed request (1.4's cancel is one) with an error that
        // carries neither the request's xid nor its bytes; NXT/ONFT cancels get a usual one.
        let bare_error = match m {
            FlowMonitorMsg::Request(_) => true,
            FlowMonitorMsg::Cancel(_) => version >= Version::Of14,
            _ => false,
        };
        let result = match m {
            FlowMonitorMsg::Request(reqs) => {
                ofproto.start_journal();
                self.monitors
                    .request(&reqs, ofproto.bridge())
                    .and_then(|listing| {
                        wire::flow_monitor::encode_updates(&listing, monitor_protocol(version), xid)
                            .map_err(|_| OfpError::BadStat)
                    })
                    .map(|parts| self.tx.extend(parts))
            }
            // In OpenFlow 1.4+ a cancel is a request (command delete), and is answered with
            // an empty reply, as Open vSwitch answers it.
            FlowMonitorMsg::Cancel(id) => self.monitors.cancel(id).map(|()| {
                if version >= Version::Of14
                    && let Ok(parts) =
                        wire::flow_monitor::encode_updates(&[], monitor_protocol(version), xid)
                {
                    self.tx.extend(parts);
                }
            }),
            // Replies and pauses are the switch's to send.
            FlowMonitorMsg::Reply { .. } | FlowMonitorMsg::Paused | FlowMonitorMsg::Resumed => {
                Err(OfpError::BadType)
            }
        };
        match result {
            Ok(()) => {}
            Err(e) if bare_error => {
                let code = e.code_or_fallback(version);
                self.queue(
                    &Message::Error(ErrorMsg {
                        code,
                        data: Vec::new(),
                    }),
                    version,
                    0,
                );
            }
            Err(e) => self.queue_error(version, e.code_or_fallback(version), bytes),
        }
    }

    /// What has been read of a message not yet complete.
    pub fn pending_input(&self) -> &[u8] {
        &self.rx
    }

    /// Takes in bytes read from the connection and handles every whole message among them.
    pub fn handle_bytes(&mut self, now: Millis, bytes: &[u8], ofproto: &mut dyn Ofproto) {
        if self.monitors_resume_due() {
            self.resume_monitors(ofproto.bridge());
        }
        self.rx.extend_from_slice(bytes);
        let mut start = 0;
        while self.state != State::Closing {
            let rest = &self.rx[start..];
            let Some(len) = wire::message_len(rest) else {
                break;
            };
            if len < HEADER_LEN {
                // The stream cannot be resynchronised after a bad length.
                self.state = State::Closing;
                break;
            }
            if rest.len() < len {
                break;
            }
            let msg = rest[..len].to_vec();
            start += len;
            self.handle_message(now, &msg, ofproto);
        }
        self.rx.drain(..start);
    }

    fn queue(&mut self, msg: &Message, version: Version, xid: u32) {
        // The messages a switch sends are all encodable in every version; a failure would be
        // a codec bug, and dropping the reply is the least harmful answer to it.
        if let Ok(bytes) = wire::encode(msg, version.default_protocol(), xid) {
            self.tx.push_back(bytes);
        }
    }

    /// Queues a reply in `protocol`; one that cannot be encoded there (a statistic the
    /// version's codec lacks) becomes a `OFPBRC_BAD_STAT` error for `request`.
    fn queue_as(
        &mut self,
        msg: &Message,
        protocol: Protocol,
        version: Version,
        xid: u32,
        request: &[u8],
    ) {
        match wire::encode(msg, protocol, xid) {
            Ok(b) => self.tx.push_back(b),
            Err(_) => self.queue_error(
                version,
                OfpError::BadStat.code_or_fallback(version),
                request,
            ),
        }
    }

    fn queue_error(&mut self, version: Version, code: ErrorCode, request: &[u8]) {
        let xid = request
            .get(4..8)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let data = request[..request.len().min(ERROR_DATA_MAX)].to_vec();
        self.queue(&Message::Error(ErrorMsg { code, data }), version, xid);
    }

    fn handle_message(&mut self, now: Millis, bytes: &[u8], ofproto: &mut dyn Ofproto) {
        let header_version = bytes.first().copied().unwrap_or(0);
        let version = match self.state {
            State::Open(v) => v,
            State::Hello => return self.handle_hello(bytes, header_version),
            State::Closing => return,
        };
        if header_version != version.wire() {
            return self.queue_error(
                version,
                OfpError::BadVersion.code_or_fallback(version),
                bytes,
            );
        }
        if let Some(result) = self.handle_nicira_setting(bytes) {
            if let Err(e) = result {
                self.queue_error(version, e.error.code_or_fallback(version), bytes);
            }
            return;
        }
        let (header, msg) = match wire::decode(bytes) {
            Ok(m) => m,
            // A flow monitor request whose framing is right but whose records are not is
            // refused as Open vSwitch refuses it: without its xid and bytes.
            Err(e)
                if wire::flow_monitor::request_body_len(bytes)
                    .is_some_and(|n| n.is_multiple_of(8)) =>
            {
                let code = e.error.code_or_fallback(version);
                return self.queue(
                    &Message::Error(ErrorMsg {
                        code,
                        data: Vec::new(),
                    }),
                    version,
                    0,
                );
            }
            Err(e) => return self.queue_error(version, e.error.code_or_fallback(version), bytes),
        };
        let xid = header.xid;
        // OpenFlow 1.0 statistics answer in the request's form: Nicira's (stats type 0xffff
        // with NXM) or the standard one.
        let stats_protocol = match (version, bytes.get(8..10)) {
            (Version::Of10, Some([0xff, 0xff])) => Protocol::Of10NxmTid,
            (Version::Of10, _) => Protocol::Of10StdTid,
            _ => version.default_protocol(),
        };
        match msg {
            Message::Hello(_) | Message::EchoReply(_) | Message::BarrierReply => {}
            Message::EchoRequest(data) => self.queue(&Message::EchoReply(data), version, xid),
            Message::FeaturesRequest => match ofproto.features(version) {
                Some(f) => self.queue(&Message::FeaturesReply(f), version, xid),
                None => self.state = State::Closing,
            },
            Message::GetConfigRequest => {
                let c = SwitchConfig {
                    flags: ofproto.frag_mode(),
                    ..self.config
                };
                self.queue(&Message::GetConfigReply(c), version, xid);
            }
            Message::SetConfig(c) => self.set_config(c, ofproto),
            Message::BarrierRequest => self.queue(&Message::BarrierReply, version, xid),
            Message::RoleRequest(r) => self.handle_role(version, xid, r, bytes, ofproto),
            Message::FlowMod(_) if self.refuse_if_slave(version, bytes) => {}
            Message::FlowMod(mut fm) => {
                // OpenFlow 1.0 to 1.2 have no reset_counts flag: their adds always start from
                // zero, and Open vSwitch records that as the flag, which 1.3+ statistics show.
                if version < Version::Of13 && fm.command == fvs_openflow::FlowModCommand::Add {
                    fm.flags.reset_counts = true;
                }
                if let Err(e) = controller::check_flow_mod(&fm, ofproto.bridge()) {
                    self.queue_error(version, e.code_or_fallback(version), bytes);
                } else if let Err(e) =
                    self.apply_flow_mods(std::slice::from_ref(&fm), xid, now, ofproto)
                {
                    self.queue_error(version, flow_mod_error_code(version, e), bytes);
                }
            }
            Message::Async(m) => self.handle_async(version, xid, m, bytes, ofproto, now),
            Message::FlowStatsRequest(req) => {
                let flows = ofproto
                    .bridge()
                    .map(|b| stats::flow_stats(b, &req, now))
                    .unwrap_or_default();
                match wire::encode_flow_stats_reply(&flows, stats_protocol, xid) {
                    Ok(parts) => self.tx.extend(parts),
                    Err(_) => self.queue_error(
                        version,
                        OfpError::BadStat.code_or_fallback(version),
                        bytes,
                    ),
                }
            }
            Message::AggregateStatsRequest(req) => {
                let a = ofproto
                    .bridge()
                    .map(|b| stats::aggregate(b, &req))
                    .unwrap_or_default();
                self.queue_as(
                    &Message::AggregateStatsReply(a),
                    stats_protocol,
                    version,
                    xid,
                    bytes,
                );
            }
            Message::DescStatsRequest => {
                let d = Message::DescStatsReply(Box::new(stats::desc()));
                self.queue_as(&d, stats_protocol, version, xid, bytes);
            }
            Message::Bundle(m) => {
                // Only a commit checks port-mods against the ports.
                let commit = matches!(&m, BundleMsg::Control(c)
                    if c.r#type == BundleCtrlType::CommitRequest);
                let ports = if commit {
                    ofproto.ports(now)
                } else {
                    Vec::new()
                };
                let actions = self
                    .bundles
                    .handle(m, xid, bytes, version, ofproto.bridge(), &ports);
                for action in actions {
                    match action {
                        bundle::Action::Send(msg, xid) => self.queue(&msg, version, xid),
                        bundle::Action::Apply(changes, first_xid) => {
                            self.apply_bundle(changes, first_xid, now, ofproto);
                        }
                    }
                }
            }
            Message::Port(m) => {
                let before = matches!(m, PortMsg::Mod(_)).then(|| ofproto.ports(now));
                let r = stats::answer_port(ofproto, &m, version, xid, now);
                let applied = r.is_ok();
                self.queue_answer(r, version, bytes);
                // A port-mod that changed the port is announced to every connection.
                if let (true, Some(before), PortMsg::Mod(pm)) = (applied, before, &m) {
                    let after = ofproto.ports(now);
                    for ev in ports::port_mod_events(&before, &after, pm.port_no) {
                        self.send_async(&ev);
                        ofproto.publish(ev);
                    }
                }
            }
            Message::Table(m) => {
                let r = stats::answer_table(ofproto.bridge(), &m, version, xid);
                self.queue_answer(r, version, bytes);
            }
            Message::FlowMonitor(m) => self.handle_flow_monitor(version, xid, m, bytes, ofproto),
            Message::Group(m) => {
                self.handle_group(version, stats_protocol, xid, m, bytes, ofproto, now)
            }
            Message::Meter(m) => {
                self.handle_meter(version, stats_protocol, xid, m, bytes, ofproto, now)
            }
            // Replies and errors a switch never expects from its controller.
            Message::Error(_)
            | Message::FeaturesReply(_)
            | Message::GetConfigReply(_)
            | Message::RoleReply(_)
            | Message::FlowStatsReply(_)
            | Message::AggregateStatsReply(_)
            | Message::DescStatsReply(_) => {
                self.queue_error(version, OfpError::BadType.code_or_fallback(version), bytes);
            }
        }
    }

    /// Applies a group- or meter-mod (`apply`) as a flow-mod is applied: changes made
    /// before it are announced first, under their own operations; then its own (the rules
    /// deleted with a group or meter) to flow monitors, marked with `xid`, and as
    /// flow-removed messages. No reply on success.
    fn table_mod<M>(
        &mut self,
        xid: u32,
        ofproto: &mut dyn Ofproto,
        now: Millis,
        apply: impl FnOnce(&mut dyn Ofproto) -> Result<Vec<Removed>, OfpError>,
    ) -> Result<Vec<M>, OfpError> {
        for earlier in flow_monitor::by_operation(ofproto.take_changes()) {
            let ev = AsyncEvent::FlowChanges(earlier.into());
            self.send_async(&ev);
            ofproto.publish(ev);
        }
        let result = apply(ofproto);
        let mine = ofproto.take_changes();
        if !mine.is_empty() {
            self.monitor_changes(&mine, Some(xid));
            ofproto.publish(AsyncEvent::FlowChanges(mine.into()));
        }
        result.map(|removed| {
            self.rules_removed(&removed, now, ofproto);
            Vec::new()
        })
    }

    /// Group-mods and the group description and statistics requests. A group-mod that
    /// deletes groups deletes the flows naming them, announced as flow-removeds (and to flow
    /// monitors) like any other deletion.
    #[allow(clippy::too_many_arguments)]
    fn handle_group(
        &mut self,
        version: Version,
        stats_protocol: Protocol,
        xid: u32,
        m: GroupMsg,
        bytes: &[u8],
        ofproto: &mut dyn Ofproto,
        now: Millis,
    ) {
        // OpenFlow 1.0's group requests are Nicira's; answer in that form.
        let protocol = if version == Version::Of10 {
            Protocol::Of10NxmTid
        } else {
            stats_protocol
        };
        let answer = match m {
            GroupMsg::Mod(_) if self.refuse_if_slave(version, bytes) => return,
            GroupMsg::Mod(gm) => self.table_mod(xid, ofproto, now, |o| o.group_mod(&gm, now)),
            GroupMsg::DescRequest(g) => {
                let groups = ofproto
                    .bridge()
                    .map(|b| b.groups().describe(g))
                    .unwrap_or_default();
                wire::group::encode_desc_reply(&groups, protocol, xid)
                    .map_err(|_| OfpError::BadStat)
            }
            GroupMsg::StatsRequest(g) => {
                let stats = ofproto
                    .bridge()
                    .map(|b| b.groups().stats(g, now, |id| b.group_ref_count(id)))
                    .unwrap_or_default();
                wire::group::encode_stats_reply(&stats, protocol, xid)
                    .map_err(|_| OfpError::BadStat)
            }
            GroupMsg::DescReply(_) | GroupMsg::StatsReply(_) => Err(OfpError::BadType),
        };
        self.queue_answer(answer, version, bytes);
    }

    /// Queues a handler's reply messages, or its error for `request`.
    fn queue_answer(
        &mut self,
        answer: Result<Vec<Vec<u8>>, OfpError>,
        version: Version,
        request: &[u8],
    ) {
        match answer {
            Ok(replies) => self.tx.extend(replies),
            Err(e) => self.queue_error(version, e.code_or_fallback(version), request),
        }
    }

    /// `OFPT_SET_CONFIG`: `miss_send_len` is the connection's, fragment handling the
    /// bridge's. `reassemble` (`OFPC_FRAG_REASM`) is not supported and leaves the mode as it
    /// was, as Open vSwitch does (`ovs-ofctl set-frags` then reports the mode did not change).
    fn set_config(&mut self, c: SwitchConfig, ofproto: &mut dyn Ofproto) {
        const FRAG_MASK: u16 = 3;
        const FRAG_REASM: u16 = 2;
        if c.flags & FRAG_MASK != FRAG_REASM {
            ofproto.set_frag_mode(c.flags & FRAG_MASK);
        }
        self.config.miss_send_len = c.miss_send_len;
    }

    fn handle_hello(&mut self, bytes: &[u8], header_version: u8) {
        let offered = match wire::decode(bytes) {
            Ok((_, Message::Hello(h))) => Some(h.offered(header_version)),
            _ => None,
        };
        // Errors before negotiation go out in the lower of the two sides' versions.
        let reply_version = Version::from_wire(header_version)
            .unwrap_or(Version::Of10)
            .min(
                self.allowed
                    .highest_common(VersionBitmap::ALL)
                    .unwrap_or(Version::Of10),
            );
        match offered.and_then(|o| self.allowed.highest_common(o)) {
            Some(v) => self.state = State::Open(v),
            None => {
                let text = if offered.is_some() {
                    "no OpenFlow version in common"
                } else {
                    "expected a hello"
                };
                let code = OfpError::HelloIncompatible.code_or_fallback(reply_version);
                self.queue(
                    &Message::Error(ErrorMsg {
                        code,
                        data: text.as_bytes().to_vec(),
                    }),
                    reply_version,
                    0,
                );
                self.state = State::Closing;
            }
        }
    }

    /// Nicira's session settings, which the codec does not model yet: `Some` when `bytes` is
    /// one of them (handled, or refused with the error to send).
    fn handle_nicira_setting(&mut self, bytes: &[u8]) -> Option<Result<(), DecodeError>> {
        let be32 = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        if bytes.get(1) != Some(&OFPT_VENDOR) || be32(8) != Some(NX_VENDOR_ID) {
            return None;
        }
        let subtype = be32(12)?;
        let too_short = || DecodeError::new(OfpError::BadLen, "Nicira message too short");
        match subtype {
            nxt::SET_FLOW_FORMAT => Some(match be32(16) {
                Some(0) => {
                    self.flow_format = FlowFormat::OpenFlow10;
                    Ok(())
                }
                Some(2) => {
                    self.flow_format = FlowFormat::Nxm;
                    Ok(())
                }
                Some(f) => Err(DecodeError::new(
                    OfpError::Eperm,
                    format!("unknown flow format {f}"),
                )),
                None => Err(too_short()),
            }),
            nxt::FLOW_MOD_TABLE_ID => Some(match bytes.get(16) {
                Some(set) => {
                    self.table_id_ext = *set != 0;
                    Ok(())
                }
                None => Err(too_short()),
            }),
            _ => None,
        }
    }
}

/// The protocol flow monitor messages take in `v`: Nicira's NXM form in OpenFlow 1.0.
fn monitor_protocol(v: Version) -> Protocol {
    if v == Version::Of10 {
        Protocol::Of10Nxm
    } else {
        v.default_protocol()
    }
}

/// The error reply for a refused flow-mod.
fn flow_mod_error_code(version: Version, e: FlowModError) -> ErrorCode {
    match e {
        // Table 254 exists in Open vSwitch but is its own, hidden and read-only: writing to
        // it is OFPBRC_EPERM there, and ferrovs answers the same.
        FlowModError::BadTableId(t) if t.0 == 254 => OfpError::Eperm.code_or_fallback(version),
        FlowModError::BadTableId(_) => OfpError::BadTableId.code_or_fallback(version),
        FlowModError::InternalField => OfpError::Eperm.code_or_fallback(version),
        FlowModError::UnknownMeter(_) => OfpError::MeterInvalid.code_or_fallback(version),
        // OFPFMFC_OVERLAP: type 3 code 1 in OpenFlow 1.0, type 5 code 3 later.
        // TODO: an OfpError variant for it in fvs_openflow::wire::error.
        FlowModError::Overlap => ErrorCode {
            vendor: 0,
            r#type: if version == Version::Of10 { 3 } else { 5 },
            code: if version == Version::Of10 { 1 } else { 3 },
        },
    }
}

pub mod bundle;
pub mod controller;
pub mod flow_monitor;
mod meter;
pub mod ports;
pub mod stats;

pub use controller::{
    AsyncEvent, ConnKind, DEFAULT_MISS_SEND_LEN, Miss, NO_BUFFER_LEN, PacketInEvent,
    PacketOutError, RoleError,
};

#[cfg(test)]
mod tests;
