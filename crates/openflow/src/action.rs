//! The action model: everything ovs-actions(7) describes, in one version-neutral enum.
//!
//! # Design
//!
//! - One [`Action`] variant per behaviour, not per wire encoding: `load:` and `set_field:` are
//!   both [`Action::SetField`], `strip_vlan` and `pop_vlan` are both [`Action::PopVlan`]. Where
//!   ovs-ofctl prints the same behaviour differently depending on how it was written or which
//!   protocol carried it, the variant keeps a small *spelling* enum ([`SetFieldSpelling`],
//!   [`PopVlanSpelling`], [`SetTunnelSpelling`]) that only the text formatter reads; executors
//!   ignore it.
//! - OpenFlow 1.1+ *instructions* (`meter`, `clear_actions`, `write_actions`,
//!   `write_metadata`, `goto_table`) are variants too, as in Open vSwitch's own model. The text
//!   parser enforces their order (meter, apply-actions, clear, write-actions, write-metadata,
//!   goto); an executor walks the list front to back and treats `GotoTable` as "continue in
//!   that table after the list".
//! - Nested action lists (`write_actions(...)`, `clone(...)`, `ct(exec(...))`) are plain
//!   `Vec<Action>`.
//! - Output to reserved ports (`NORMAL`, `FLOOD`, `ALL`, `IN_PORT`, `LOCAL`, `CONTROLLER`) is
//!   [`Action::Output`] with a reserved [`PortNo`]; match on `PortNo::NORMAL` etc.
//! - Field values are `u128` right-aligned in the field's width (every field fits).

use crate::ct::{Ct, Nat};
use crate::learn::Learn;
use crate::types::{EthAddr, GroupId, MeterId, PortNo, QueueId, Subfield, TableId};
use core::net::Ipv4Addr;
use fvs_flow::Field;

/// One OpenFlow action or instruction. See the module docs for the modelling rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    // ---- Output ----------------------------------------------------------------------
    /// `output:PORT`, `NORMAL`, `LOCAL`, `CONTROLLER:max_len`, …: send a copy of the packet.
    Output(Output),
    /// `output(port=P,max_len=N)`: send a copy truncated to `max_len` bytes.
    OutputTrunc {
        /// Where to send it.
        port: PortNo,
        /// Truncate the copy to this many bytes.
        max_len: u32,
    },
    /// `output:NXM_NX_REG1[]`: send to the port number held in a subfield.
    OutputReg {
        /// Where the port number is read from (at most 32 bits).
        src: Subfield,
        /// Bytes to send to the controller if the port turns out to be `CONTROLLER`.
        max_len: u16,
    },
    /// `controller(...)`: a packet-in with options beyond `CONTROLLER:max_len`. Plain
    /// `controller`, `controller:N` and `controller(max_len=N)` parse as [`Action::Output`] to
    /// [`PortNo::CONTROLLER`], so each behaviour has one model form.
    Controller(Controller),
    /// `enqueue(port,queue)` / `enqueue:port:queue`: output to a port's queue.
    Enqueue {
        /// Output port.
        port: PortNo,
        /// Queue on that port.
        queue: QueueId,
    },
    /// `group:N`: hand the packet to a group.
    Group(GroupId),
    /// `bundle(...)` / `bundle_load(...)`: choose a live member port.
    Bundle(Bundle),

    // ---- Pipeline control --------------------------------------------------------------
    /// `resubmit:port`, `resubmit(port,table[,ct])`: look the packet up again.
    Resubmit(Resubmit),
    /// `clone(...)`: run actions on a copy; the original continues unchanged.
    Clone(Vec<Self>),
    /// `exit`: stop executing actions, including those of enclosing resubmits.
    Exit,
    /// `conjunction(id,k/n)`: this flow is clause `k` of `n` of conjunctive match `id`.
    Conjunction {
        /// The conjunction id that matching flows of all clauses share.
        id: u32,
        /// This flow's clause, 1-based.
        clause: u8,
        /// Number of clauses, 2..=64.
        n_clauses: u8,
    },
    /// `check_pkt_larger(N)->dst`: set a 1-bit subfield to whether the packet is longer than N.
    CheckPktLarger {
        /// Length threshold in bytes.
        pkt_len: u16,
        /// The 1-bit destination.
        dst: Subfield,
    },

    // ---- VLAN / MPLS ---------------------------------------------------------------------
    /// `mod_vlan_vid:vid` / `set_vlan_vid:vid`.
    SetVlanVid {
        /// VLAN id, 0..=4095.
        vid: u16,
        /// True for `mod_vlan_vid`: push a tag if the packet has none (OpenFlow 1.0
        /// semantics); false for OpenFlow 1.1's `set_vlan_vid`.
        push_if_needed: bool,
    },
    /// `mod_vlan_pcp:pcp` / `set_vlan_pcp:pcp`.
    SetVlanPcp {
        /// Priority code point, 0..=7.
        pcp: u8,
        /// As for [`Action::SetVlanVid`].
        push_if_needed: bool,
    },
    /// `strip_vlan` / `pop_vlan`: remove the outermost VLAN tag.
    PopVlan(PopVlanSpelling),
    /// `push_vlan:ethertype`: add a VLAN tag (0x8100 or 0x88a8).
    PushVlan(u16),
    /// `push_mpls:ethertype`.
    PushMpls(u16),
    /// `pop_mpls:ethertype`: remove the outermost MPLS label; the payload has this ethertype.
    PopMpls(u16),
    /// `set_mpls_label:label` (20 bits).
    SetMplsLabel(u32),
    /// `set_mpls_tc:tc` (3 bits).
    SetMplsTc(u8),
    /// `set_mpls_ttl:ttl`.
    SetMplsTtl(u8),
    /// `dec_mpls_ttl`.
    DecMplsTtl,

    // ---- Header rewrites -----------------------------------------------------------------
    /// `mod_dl_src:mac`.
    SetEthSrc(EthAddr),
    /// `mod_dl_dst:mac`.
    SetEthDst(EthAddr),
    /// `mod_nw_src:ip`.
    SetIpv4Src(Ipv4Addr),
    /// `mod_nw_dst:ip`.
    SetIpv4Dst(Ipv4Addr),
    /// `mod_nw_tos:tos`: the DSCP bits, written as the whole TOS byte (low 2 bits zero).
    SetIpTos(u8),
    /// `mod_nw_ecn:ecn` (2 bits).
    SetIpEcn(u8),
    /// `mod_nw_ttl:ttl`.
    SetIpTtl(u8),
    /// `mod_tp_src:port`.
    SetL4SrcPort(u16),
    /// `mod_tp_dst:port`.
    SetL4DstPort(u16),
    /// `dec_ttl` / `dec_ttl(id,...)`: decrement the IP TTL; at zero, send a packet-in to the
    /// listed controllers instead.
    DecTtl {
        /// Controller connection ids; `None` for plain `dec_ttl` (which means id 0).
        controller_ids: Option<Vec<u16>>,
    },
    /// `set_field:value[/mask]->field` and `load:value->dst[bits]`: write bits of a field.
    SetField(SetField),
    /// `move:src->dst`: copy bits from one subfield to another of the same width.
    Move {
        /// Bits read.
        src: Subfield,
        /// Bits written.
        dst: Subfield,
    },
    /// `set_tunnel:id` / `set_tunnel64:id`: set the tunnel id.
    SetTunnel {
        /// The tunnel id.
        id: u64,
        /// How the text names it.
        spelling: SetTunnelSpelling,
    },
    /// `set_queue:queue`: choose the output queue for later outputs.
    SetQueue(QueueId),
    /// `pop_queue`: restore the queue chosen before the last `set_queue`.
    PopQueue,
    /// `push:src`: push a subfield's value onto the action stack.
    StackPush(Subfield),
    /// `pop:dst`: pop the action stack into a subfield.
    StackPop(Subfield),
    /// `multipath(...)`: hash the flow and store a link number in a subfield.
    Multipath(Multipath),
    /// `encap(...)`: add an outer header.
    Encap(Encap),
    /// `decap` / `decap(packet_type(ns=,type=))`: remove the outer header.
    Decap {
        /// The packet type of what is left, as (namespace, type); `None` to let the switch
        /// infer it.
        packet_type: Option<(u16, u16)>,
    },

    // ---- Side effects --------------------------------------------------------------------
    /// `learn(...)`: add or refresh a flow built from this packet.
    Learn(Box<Learn>),
    /// `fin_timeout(idle_timeout=I,hard_timeout=H)`: shorten this flow's timeouts on TCP
    /// FIN or RST.
    FinTimeout {
        /// New idle timeout in seconds, 0 to leave it.
        idle: u16,
        /// New hard timeout in seconds, 0 to leave it.
        hard: u16,
    },
    /// `note:hex.bytes`: does nothing; carries opaque bytes for the controller.
    Note(Vec<u8>),
    /// `sample(...)`: sample packets to IPFIX collectors.
    Sample(Sample),
    /// `ct(...)`: send the packet through connection tracking.
    Ct(Box<Ct>),
    /// `nat(...)`: only valid inside `ct(...)`'s action list.
    Nat(Nat),
    /// `ct_clear`: forget the packet's connection tracking state.
    CtClear,

    // ---- Instructions (OpenFlow 1.1+) -------------------------------------------------------
    /// `meter:N`.
    Meter(MeterId),
    /// `clear_actions`.
    ClearActions,
    /// `write_actions(...)`: add to the action set executed when the pipeline ends.
    WriteActions(Vec<Self>),
    /// `write_metadata:value[/mask]`.
    WriteMetadata {
        /// Bits written.
        value: u64,
        /// Which bits of `metadata` to change.
        mask: u64,
    },
    /// `goto_table:N`: continue in a later table.
    GotoTable(TableId),
}

impl Action {
    /// The action's name as ovs-ofctl's messages give it (`set_field` for `load` too,
    /// `strip_vlan` for `pop_vlan`, `output` for every plain output).
    pub fn ovs_name(&self) -> &'static str {
        match self {
            Self::Output(_) => "output",
            Self::OutputTrunc { .. } => "output_trunc",
            Self::OutputReg { .. } => "output_reg",
            Self::Controller(_) => "controller",
            Self::Enqueue { .. } => "enqueue",
            Self::Group(_) => "group",
            Self::Bundle(_) => "bundle",
            Self::Resubmit(_) => "resubmit",
            Self::Clone(_) => "clone",
            Self::Exit => "exit",
            Self::Conjunction { .. } => "conjunction",
            Self::CheckPktLarger { .. } => "check_pkt_larger",
            Self::SetVlanVid { .. } => "set_vlan_vid",
            Self::SetVlanPcp { .. } => "set_vlan_pcp",
            Self::PopVlan(_) => "strip_vlan",
            Self::PushVlan(_) => "push_vlan",
            Self::PushMpls(_) => "push_mpls",
            Self::PopMpls(_) => "pop_mpls",
            Self::SetMplsLabel(_) => "set_mpls_label",
            Self::SetMplsTc(_) => "set_mpls_tc",
            Self::SetMplsTtl(_) => "set_mpls_ttl",
            Self::DecMplsTtl => "dec_mpls_ttl",
            Self::SetEthSrc(_) => "mod_dl_src",
            Self::SetEthDst(_) => "mod_dl_dst",
            Self::SetIpv4Src(_) => "mod_nw_src",
            Self::SetIpv4Dst(_) => "mod_nw_dst",
            Self::SetIpTos(_) => "mod_nw_tos",
            Self::SetIpEcn(_) => "mod_nw_ecn",
            Self::SetIpTtl(_) => "mod_nw_ttl",
            Self::SetL4SrcPort(_) => "mod_tp_src",
            Self::SetL4DstPort(_) => "mod_tp_dst",
            Self::DecTtl { .. } => "dec_ttl",
            Self::SetField(_) => "set_field",
            Self::Move { .. } => "move",
            Self::SetTunnel { .. } => "set_tunnel",
            Self::SetQueue(_) => "set_queue",
            Self::PopQueue => "pop_queue",
            Self::StackPush(_) => "push",
            Self::StackPop(_) => "pop",
            Self::Multipath(_) => "multipath",
            Self::Encap(_) => "encap",
            Self::Decap { .. } => "decap",
            Self::Learn(_) => "learn",
            Self::FinTimeout { .. } => "fin_timeout",
            Self::Note(_) => "note",
            Self::Sample(_) => "sample",
            Self::Ct(_) => "ct",
            Self::Nat(_) => "nat",
            Self::CtClear => "ct_clear",
            Self::Meter(_) => "meter",
            Self::ClearActions => "clear_actions",
            Self::WriteActions(_) => "write_actions",
            Self::WriteMetadata { .. } => "write_metadata",
            Self::GotoTable(_) => "goto_table",
        }
    }
}

/// Plain output: `output:3`, `NORMAL`, `CONTROLLER:128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// The port, possibly reserved.
    pub port: PortNo,
    /// Bytes of the packet to send when `port` is `CONTROLLER` (ignored otherwise; 0 there).
    pub max_len: u16,
}

/// `controller(...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    /// Bytes of the packet to include.
    pub max_len: u16,
    /// The reason reported in the packet-in.
    pub reason: PacketInReason,
    /// Which controller connections receive it (0 = the default).
    pub controller_id: u16,
    /// Opaque bytes passed to the controller.
    pub userdata: Option<Vec<u8>>,
    /// Pause the pipeline until the controller resumes it.
    pub pause: bool,
    /// Meter the packet-ins; `None` for no meter.
    pub meter_id: Option<MeterId>,
}

/// Packet-in reasons as `controller(reason=...)` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketInReason {
    /// `no_match`.
    NoMatch,
    /// `action` (the default).
    Action,
    /// `invalid_ttl`.
    InvalidTtl,
    /// `action_set`.
    ActionSet,
    /// `group`.
    Group,
    /// `packet_out`.
    PacketOut,
    /// Open vSwitch's internal reasons, 6 (explicit miss) and 7 (implicit miss), which its
    /// hidden table-254 rules carry; `ovs-ofctl` prints them with an empty name
    /// (`controller(reason=)`).
    Internal(u8),
}

/// `resubmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resubmit {
    /// The `in_port` the lookup pretends; [`PortNo::IN_PORT`] keeps the packet's own.
    pub in_port: PortNo,
    /// The table to look up in; `None` for the current table.
    pub table: Option<TableId>,
    /// Look up with the connection-tracking original-direction tuple (`resubmit(,,ct)`).
    pub ct: bool,
}

/// How a field write is spelled in text. Semantics are identical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetFieldSpelling {
    /// `set_field:value/mask->field`.
    SetField,
    /// `load:value->NXM_FIELD[bits]` (one `load` per contiguous run of mask bits).
    Load,
}

/// A write of `value` under `mask` into `field`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetField {
    /// The field written.
    pub field: Field,
    /// The bits written, as the text gave them; only those under `mask` are written (a
    /// masked `set_field` may carry other bits, which ovs-ofctl keeps when it turns the write
    /// into an unmasked OpenFlow 1.0 action).
    pub value: u128,
    /// Which bits of the field change; all-ones over the field's width for an unmasked write.
    pub mask: u128,
    /// How the text spells it.
    pub spelling: SetFieldSpelling,
}

/// How a VLAN pop is spelled: OpenFlow 1.0 calls it `strip_vlan`, 1.1+ `pop_vlan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopVlanSpelling {
    /// `strip_vlan`.
    StripVlan,
    /// `pop_vlan`.
    PopVlan,
}

/// How a tunnel id write is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTunnelSpelling {
    /// `set_tunnel:id` (a 32-bit encoding when the id fits).
    SetTunnel,
    /// `set_tunnel64:id`.
    SetTunnel64,
}

/// The flow fields `multipath` and `bundle` hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashFields {
    /// `eth_src`.
    EthSrc,
    /// `symmetric_l4`.
    SymmetricL4,
    /// `symmetric_l3l4`.
    SymmetricL3L4,
    /// `symmetric_l3l4+udp`.
    SymmetricL3L4Udp,
    /// `nw_src`.
    NwSrc,
    /// `nw_dst`.
    NwDst,
    /// `symmetric_l3`.
    SymmetricL3,
}

/// `multipath(fields,basis,algorithm,n_links,arg,dst)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multipath {
    /// What to hash.
    pub fields: HashFields,
    /// Hash basis (seed).
    pub basis: u16,
    /// How a hash becomes a link number.
    pub algorithm: MultipathAlgorithm,
    /// Highest link number (`n_links - 1`).
    pub max_link: u16,
    /// Algorithm-specific argument.
    pub arg: u32,
    /// Where the link number is stored.
    pub dst: Subfield,
}

/// `multipath` link selection algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultipathAlgorithm {
    /// `modulo_n`.
    ModuloN,
    /// `hash_threshold`.
    HashThreshold,
    /// `hrw` (highest random weight).
    Hrw,
    /// `iter_hash`.
    IterHash,
}

/// `bundle(fields,basis,algorithm,ofport,members:p1,p2)` and `bundle_load(...,dst,...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// What to hash.
    pub fields: HashFields,
    /// Hash basis.
    pub basis: u16,
    /// How a member is chosen.
    pub algorithm: BundleAlgorithm,
    /// Candidate member ports.
    pub members: Vec<PortNo>,
    /// `bundle_load`: store the chosen port here instead of outputting to it.
    pub dst: Option<Subfield>,
}

/// `bundle` member selection algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleAlgorithm {
    /// `active_backup`: the first live member.
    ActiveBackup,
    /// `hrw`: highest random weight among live members.
    Hrw,
}

/// `sample(probability=...,collector_set_id=...,obs_domain_id=...,obs_point_id=...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Packets sampled per 65535.
    pub probability: u16,
    /// IPFIX collector set.
    pub collector_set_id: u32,
    /// Observation domain id.
    pub obs_domain_id: u32,
    /// Observation point id.
    pub obs_point_id: u32,
    /// Tunnel port whose metadata is sampled, if any.
    pub sampling_port: Option<PortNo>,
    /// Which direction the sample is for.
    pub direction: SampleDirection,
}

/// The `ingress` / `egress` flag of `sample`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleDirection {
    /// Neither flag given.
    Default,
    /// `ingress`.
    Ingress,
    /// `egress`.
    Egress,
}

/// `encap(header[(properties)])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encap {
    /// `encap(ethernet)`.
    Ethernet,
    /// `encap(nsh)`, `encap(nsh(md_type=N[,tlv(class,type,value)]...))`.
    Nsh {
        /// NSH metadata type (1 or 2); `None` when not given (the switch uses 1).
        md_type: Option<u8>,
        /// MD type 2 TLVs as (class, type, value).
        tlvs: Vec<(u16, u8, Vec<u8>)>,
    },
    /// `encap(mpls)`.
    Mpls,
}
