//! Consistency of actions with the flow's match, as ovs-ofctl checks it before sending.
//!
//! Walking the list with a running picture of the packet (its Ethertype, IP protocol and
//! whether it has a VLAN tag, updated by `push_vlan`, `pop_vlan`, `push_mpls`, …), each action
//! either
//!
//! - is fine,
//! - is *inconsistent* with the match in a way OpenFlow 1.0 tolerates but 1.1+ rejects (e.g.
//!   `mod_nw_src` on a flow not matching IPv4): the usable protocols shrink to the OpenFlow 1.0
//!   variants, or
//! - is an error (a `set_field` whose field's prerequisites the match lacks).
//!
//! If nothing usable is left, the flow is rejected as `OFPBAC_MATCH_INCONSISTENT`.

use crate::action::Action;
use crate::ct::CtZone;
use crate::learn::Learn;
use crate::learn::{LearnSpec, LearnSrc};
use crate::types::{PortNo, Subfield, subfield_mask};
use fvs_flow::matching::{eth_type, ip_proto, vlan};
use fvs_flow::{Field, Match, Protocols};

/// Why actions cannot go with a match.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// An action needs something the match does not guarantee, or no protocol is left.
    #[error("actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)")]
    MatchInconsistent,
    /// `set_field`/`load` to `ct_mark` or `ct_label` outside `ct(exec(...))`.
    #[error("cannot set CT fields outside of ct action")]
    CtFieldOutsideCt,
    /// A write to a field that no action may change (`move:...->NXM_OF_ETH_TYPE[]`).
    #[error("actions are invalid with specified match (OFPBAC_BAD_SET_ARGUMENT)")]
    BadSetArgument,
    /// Output to a port number that is neither a physical port nor a usable reserved port.
    #[error("actions are invalid with specified match (OFPBAC_BAD_OUT_PORT)")]
    BadOutPort,
    /// `goto_table` to a table not after the flow's own.
    #[error("actions are invalid with specified match (OFPBIC_BAD_TABLE_ID)")]
    BadGotoTable,
}

/// The OpenFlow 1.0 variants: what "inconsistent but tolerated" narrows to.
const OF10_ANY: Protocols = Protocols(Protocols::OF10_STD_ANY.0 | Protocols::NXM_ANY.0);

/// What the checker knows about the packet at a point in the action list: the flow's match,
/// updated by the actions so far that change the packet's shape (`push_vlan`, `pop_vlan`,
/// `push_mpls`, `pop_mpls`, VLAN writes that push a tag), as ovs-ofctl tracks it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PacketView {
    /// The match as the next action sees it.
    pub(crate) flow: Match,
}

impl PacketView {
    /// What the match alone says.
    pub(crate) fn from_match(m: &Match) -> Self {
        Self { flow: *m }
    }

    /// The Ethertype, when known.
    pub(crate) fn eth_type(&self) -> Option<u16> {
        self.flow.eth_type()
    }

    /// The IP protocol, when known.
    pub(crate) fn ip_proto(&self) -> Option<u8> {
        self.flow.ip_proto()
    }

    /// True when the packet certainly has a VLAN tag.
    pub(crate) fn has_vlan(&self) -> bool {
        let (tci, tci_mask) = self.flow.get(Field::VlanTci);
        tci & tci_mask & u128::from(vlan::CFI) != 0
    }

    /// True for IPv4 or IPv6.
    pub(crate) fn is_ip(&self) -> bool {
        matches!(self.eth_type(), Some(eth_type::IPV4 | eth_type::IPV6))
    }

    /// Applies the effect `a` has on the packet's shape.
    pub(crate) fn apply(&mut self, a: &Action) {
        let cfi = u128::from(vlan::CFI);
        match a {
            Action::PushVlan(_)
            | Action::SetVlanVid {
                push_if_needed: true,
                ..
            }
            | Action::SetVlanPcp {
                push_if_needed: true,
                ..
            } => {
                let (tci, mask) = self.flow.get(Field::VlanTci);
                self.flow.set_masked(Field::VlanTci, tci | cfi, mask | cfi);
            }
            Action::PopVlan(_) => self.flow.set(Field::VlanTci, 0),
            Action::PushMpls(t) => {
                // The IP header is now payload: only the Ethertype is known.
                self.flow.set(Field::EthType, u128::from(*t));
                self.flow.set_masked(Field::IpProto, 0, 0);
            }
            Action::PopMpls(t) => self.flow.set(Field::EthType, u128::from(*t)),
            _ => {}
        }
    }
}

/// Checks `actions` against `m` (the flow in `table`, if known), narrowing `usable`.
pub fn check_actions(
    actions: &[Action],
    m: &Match,
    table: Option<u8>,
    usable: &mut Protocols,
) -> Result<(), CheckError> {
    let mut view = PacketView::from_match(m);
    check_list(actions, m, table, &mut view, false, usable)?;
    if usable.is_empty() {
        return Err(CheckError::MatchInconsistent);
    }
    Ok(())
}

fn check_list(
    actions: &[Action],
    m: &Match,
    table: Option<u8>,
    view: &mut PacketView,
    in_ct: bool,
    usable: &mut Protocols,
) -> Result<(), CheckError> {
    for a in actions {
        check_one(a, m, table, view, in_ct, usable)?;
        view.apply(a);
    }
    Ok(())
}

/// True when the match gives `sf`'s field its prerequisites.
fn prereqs_ok(sf: &Subfield, m: &Match, view: &PacketView) -> bool {
    field_prereqs_ok(sf.field, m, view)
}

fn field_prereqs_ok(field: Field, _m: &Match, view: &PacketView) -> bool {
    view.flow.prereq_satisfied(field.info().prereq)
}

/// `learn`: every source must be meaningful for this flow, and every destination for the
/// flow being learned, as far as the specs before it have built that flow's match.
fn check_learn(l: &Learn, m: &Match, view: &PacketView) -> Result<(), CheckError> {
    let mut learned = Match::CATCHALL;
    for spec in &l.specs {
        match spec {
            LearnSpec::Match { dst, src } => {
                if let LearnSrc::Field(s) = src {
                    require(prereqs_ok(s, m, view))?;
                }
                require(learned.prereq_satisfied(dst.field.info().prereq))?;
                if let LearnSrc::Immediate(v) = src {
                    let (old, old_mask) = learned.get(dst.field);
                    let bits = subfield_mask(dst);
                    learned.set_masked(
                        dst.field,
                        (old & !bits) | ((v << dst.ofs) & bits),
                        old_mask | bits,
                    );
                }
            }
            LearnSpec::Load { dst, src } => {
                if let LearnSrc::Field(s) = src {
                    require(prereqs_ok(s, m, view))?;
                }
                require(learned.prereq_satisfied(dst.field.info().prereq))?;
            }
            LearnSpec::Output { src } => require(prereqs_ok(src, m, view))?,
        }
    }
    Ok(())
}

/// A destination subfield must be writable.
fn writable(dst: &Subfield) -> Result<(), CheckError> {
    if crate::text::is_read_only(dst.field) {
        Err(CheckError::BadSetArgument)
    } else {
        Ok(())
    }
}

/// Physical ports below `OFPP_MAX` and the reserved ports a flow may output to.
fn output_port_ok(port: PortNo) -> Result<(), CheckError> {
    let reserved_ok = matches!(
        port,
        PortNo::IN_PORT
            | PortNo::TABLE
            | PortNo::NORMAL
            | PortNo::FLOOD
            | PortNo::ALL
            | PortNo::CONTROLLER
            | PortNo::LOCAL
    );
    if reserved_ok || port.0 < PortNo::MAX.0 {
        Ok(())
    } else {
        Err(CheckError::BadOutPort)
    }
}

fn require(ok: bool) -> Result<(), CheckError> {
    if ok {
        Ok(())
    } else {
        Err(CheckError::MatchInconsistent)
    }
}

fn check_one(
    a: &Action,
    m: &Match,
    table: Option<u8>,
    view: &PacketView,
    in_ct: bool,
    usable: &mut Protocols,
) -> Result<(), CheckError> {
    let mut inconsistent = || *usable = usable.and(OF10_ANY);
    match a {
        Action::SetVlanVid { push_if_needed, .. } | Action::SetVlanPcp { push_if_needed, .. } => {
            if !push_if_needed && !view.has_vlan() {
                inconsistent();
            }
        }
        Action::PopVlan(_) => {
            if !view.has_vlan() {
                inconsistent();
            }
        }
        Action::SetIpv4Src(_) | Action::SetIpv4Dst(_) => {
            if view.eth_type() != Some(eth_type::IPV4) {
                inconsistent();
            }
        }
        Action::SetIpTos(_) | Action::SetIpEcn(_) | Action::SetIpTtl(_) | Action::DecTtl { .. } => {
            if !view.is_ip() {
                inconsistent();
            }
        }
        Action::SetL4SrcPort(_) | Action::SetL4DstPort(_) => {
            let l4 = matches!(
                view.ip_proto(),
                Some(ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP)
            );
            if !view.is_ip() || !l4 {
                inconsistent();
            }
        }
        Action::SetMplsLabel(_)
        | Action::SetMplsTc(_)
        | Action::SetMplsTtl(_)
        | Action::DecMplsTtl
        | Action::PopMpls(_) => {
            if !matches!(view.eth_type(), Some(eth_type::MPLS | eth_type::MPLSM)) {
                inconsistent();
            }
        }
        Action::SetField(sf) => {
            if matches!(sf.field, Field::CtMark | Field::CtLabel) && !in_ct {
                return Err(CheckError::CtFieldOutsideCt);
            }
            require(field_prereqs_ok(sf.field, m, view))?;
            if sf.field == Field::VlanVid || sf.field == Field::VlanPcp {
                require(view.has_vlan())?;
            }
        }
        Action::Move { src, dst } => {
            require(prereqs_ok(src, m, view) && prereqs_ok(dst, m, view))?;
            writable(dst)?;
        }
        Action::FinTimeout { .. } => {
            if view.ip_proto() != Some(ip_proto::TCP) {
                inconsistent();
            }
        }
        Action::Resubmit(r) => {
            // Resubmitting with the original-direction tuple needs a tracked connection's
            // tuple fields in the match; ovs-ofctl rejects every flow written without them.
            if r.ct {
                return Err(CheckError::MatchInconsistent);
            }
        }
        Action::Output(o) => output_port_ok(o.port)?,
        Action::Enqueue { port, .. } => {
            // Queues belong to real ports; of the reserved ports only those standing for one.
            if port.0 >= PortNo::MAX.0 && *port != PortNo::IN_PORT && *port != PortNo::LOCAL {
                return Err(CheckError::BadOutPort);
            }
        }
        Action::OutputReg { src, .. } | Action::StackPush(src) => {
            require(prereqs_ok(src, m, view))?
        }
        Action::StackPop(dst) | Action::CheckPktLarger { dst, .. } => {
            require(prereqs_ok(dst, m, view))?;
            writable(dst)?;
        }
        Action::Multipath(mp) => require(prereqs_ok(&mp.dst, m, view))?,
        Action::Bundle(b) => {
            if let Some(dst) = &b.dst {
                require(prereqs_ok(dst, m, view))?;
            }
        }
        Action::Learn(l) => check_learn(l, m, view)?,
        Action::Ct(ct) => {
            let alg_ok = match ct.alg {
                Some(21) => view.ip_proto() == Some(ip_proto::TCP),
                Some(69) => view.ip_proto() == Some(ip_proto::UDP),
                _ => true,
            };
            require(view.is_ip() && alg_ok)?;
            if let CtZone::Field(sf) = &ct.zone {
                // ovs-ofctl checks only the zone field in this case and leaves the nested
                // actions unchecked; doing the same keeps accepted flows identical.
                return require(prereqs_ok(sf, m, view));
            }
            let mut inner = *view;
            check_list(&ct.actions, m, table, &mut inner, true, usable)?;
        }
        Action::Nat(nat) => {
            // The translated addresses must be of the flow's own family.
            let family_ok = match nat.addrs {
                None => true,
                Some((core::net::IpAddr::V4(_), _)) => view.eth_type() == Some(eth_type::IPV4),
                Some((core::net::IpAddr::V6(_), _)) => view.eth_type() == Some(eth_type::IPV6),
            };
            require(view.is_ip() && family_ok)?;
        }
        Action::Clone(list) => {
            let mut inner = *view;
            check_list(list, m, table, &mut inner, in_ct, usable)?;
        }
        Action::WriteActions(list) => {
            // An action set runs in its own fixed order at the end of the pipeline, so the
            // packet's shape at that point is unknown: hard errors count, but nothing there
            // narrows the usable protocols.
            let mut inner = *view;
            let mut scratch = *usable;
            check_list(list, m, table, &mut inner, in_ct, &mut scratch)?;
        }
        Action::GotoTable(t) => {
            if table.is_some_and(|cur| t.0 <= cur) {
                return Err(CheckError::BadGotoTable);
            }
        }
        Action::OutputTrunc { .. }
        | Action::Controller(_)
        | Action::Group(_)
        | Action::Exit
        | Action::Conjunction { .. }
        | Action::PushVlan(_)
        | Action::PushMpls(_)
        | Action::SetEthSrc(_)
        | Action::SetEthDst(_)
        | Action::SetTunnel { .. }
        | Action::SetQueue(_)
        | Action::PopQueue
        | Action::Encap(_)
        | Action::Decap { .. }
        | Action::Note(_)
        | Action::Sample(_)
        | Action::CtClear
        | Action::Meter(_)
        | Action::ClearActions
        | Action::WriteMetadata { .. } => {}
    }
    Ok(())
}
