//! Bundles on one connection: flow-mods gathered under a bundle id and applied all together
//! or not at all (OpenFlow 1.4's bundles, and the ONF extension that brings them to 1.3).
//!
//! # Life of a bundle
//!
//! `OPEN_REQUEST` makes an empty bundle with its flags (an `ADD_MESSAGE` for an unknown id
//! opens one too, as Open vSwitch allows). Each `ADD_MESSAGE` is checked when it arrives —
//! the inner message must decode, be a flow-mod, a group-mod or a port-mod in the session's version, carry
//! the outer transaction id and the bundle's flags, and (a flow-mod) name a table a flow-mod
//! may write — and is kept, not applied. `CLOSE_REQUEST` refuses further additions. `COMMIT_REQUEST` checks every kept
//! flow-mod against the tables as they are *before* the bundle, then applies them in order;
//! `DISCARD_REQUEST` forgets the bundle. Bundles live as long as the connection.
//!
//! # Atomicity
//!
//! The pipeline's flow-mods fail in three ways only: a table that does not exist or may not be
//! written (refused when the message is added, as Open vSwitch refuses it), a group action
//! naming a group the bridge does not have (`OFPBAC_BAD_OUT_GROUP`, at commit as in Open
//! vSwitch) and an overlap with `check_overlap` (checked at commit). Checking all of them before applying any makes
//! the commit all or nothing without an undo log, and the channel applies the whole list
//! while it holds the switch, so no packet or other connection sees half a bundle. As in Open
//! vSwitch, a bundle's own flows are invisible to each other's overlap checks: each is
//! checked against the flows that existed when the commit began. Group-mods (`ovs-ofctl
//! --bundle add-group`) are tried in order on a copy of the group table, and flow-mods are
//! checked against that copy as the earlier group-mods leave it; applied, they run in order
//! with the flow-mods.
//!
//! # Errors
//!
//! Errors carry Open vSwitch's codes (`OFPBFC_*`, ONF experimenter errors in 1.3). A commit
//! that fails answers twice, as Open vSwitch does: the first failing message's own error (its
//! transaction id, its bundle-add message quoted), then `OFPBFC_MSG_FAILED` for the commit
//! request; the bundle is gone either way.
//!
//! # Port-mods
//!
//! A port-mod only has to decode to join a bundle. Port changes cannot be made atomic with
//! the tables (packets see them at once), so, as in Open vSwitch, a commit of an *atomic*
//! bundle that reaches one fails with `OFPBFC_MSG_FAILED` for it. In a bundle without the
//! atomic flag each port-mod is checked at commit, with the flow-mods and against the ports
//! as they are before the bundle (`OFPPMFC_BAD_PORT`, `OFPPMFC_BAD_HW_ADDR`), and a failure
//! still fails the whole bundle; otherwise flow-mods and port-mods are applied in order.

use std::collections::BTreeMap;

use fvs_openflow::group::GroupMod;
use fvs_openflow::wire::bundle::{BundleAdd, BundleCtrl, BundleCtrlType, BundleFlags, BundleMsg};
use fvs_openflow::wire::group::GroupMsg;
use fvs_openflow::wire::port::{PortMod, PortMsg};
use fvs_openflow::wire::{self, ErrorCode, ErrorMsg, Message, OfpError, PortDesc, Version};
use fvs_openflow::{FlowMod, FlowModCommand};
use fvs_pipeline::bridge::Bridge;
use fvs_pipeline::clock::Millis;

use super::controller::check_flow_mod_groups;

/// How many bundles one connection may hold open, and how many messages one bundle may hold:
/// bounds on what a peer can make the switch keep.
const MAX_BUNDLES: usize = 64;
const MAX_MESSAGES: usize = 1 << 20;

/// The first table a flow-mod may not write: Open vSwitch's hidden table 254 (refused with
/// `OFPBRC_EPERM`) and above (`OFPBRC_BAD_TABLE_ID`).
const HIDDEN_TABLE: u8 = 254;

/// What the channel must do, in order.
#[derive(Debug)]
pub enum Action {
    /// Send `message` with transaction id `xid`.
    Send(Message, u32),
    /// Apply these changes, in order; they have been checked and cannot fail. The number is
    /// the transaction id the committing connection's own flow monitors hear of them under:
    /// the first added message's, as Open vSwitch reports a bundle's changes.
    Apply(Vec<Change>, u32),
}

/// One change a committed bundle makes.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // the variants are the OpenFlow messages' names
pub enum Change {
    /// A flow-mod.
    FlowMod(Box<FlowMod>),
    /// A port-mod (of a bundle without the atomic flag).
    PortMod(PortMod),
    /// A group-mod.
    GroupMod(Box<GroupMod>),
}

/// One message in a bundle, with what its error would quote: the whole bundle-add message,
/// as Open vSwitch quotes it.
#[derive(Debug)]
struct Entry {
    xid: u32,
    bytes: Vec<u8>,
    item: Item,
}

/// What a bundle may hold.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // the variants are the OpenFlow messages' names
enum Item {
    FlowMod(Box<FlowMod>),
    PortMod(PortMod),
    GroupMod(Box<GroupMod>),
}

#[derive(Debug)]
struct Bundle {
    flags: BundleFlags,
    closed: bool,
    entries: Vec<Entry>,
}

/// A connection's bundles, by id.
#[derive(Debug, Default)]
pub struct Bundles {
    bundles: BTreeMap<u32, Bundle>,
}

fn error(e: ErrorCode, xid: u32, data: &[u8]) -> Action {
    Action::Send(
        Message::Error(ErrorMsg {
            code: e,
            data: data.to_vec(),
        }),
        xid,
    )
}

fn refuse(version: Version, e: OfpError, xid: u32, data: &[u8]) -> Action {
    error(e.code_or_fallback(version), xid, data)
}

/// The reply to a control request: its type's reply, with no flags (Open vSwitch does not
/// echo the request's).
fn reply(c: BundleCtrl) -> Message {
    Message::Bundle(BundleMsg::Control(BundleCtrl {
        r#type: c.r#type.reply(),
        flags: BundleFlags::default(),
        ..c
    }))
}

/// `OFPFMFC_OVERLAP`, OpenFlow 1.1+'s code (bundles exist from 1.3 on).
// TODO: an OfpError variant once the codec's error table has the flow-mod failures.
const OVERLAP: ErrorCode = ErrorCode {
    vendor: 0,
    r#type: 5,
    code: 3,
};

impl Bundles {
    /// No bundles.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one bundle message (`request` is its bytes, `xid` its transaction id) on a
    /// connection speaking `version`; `bridge` is the tables as they are now and `ports` the
    /// bridge's ports (only a commit looks at them).
    pub fn handle(
        &mut self,
        msg: BundleMsg,
        xid: u32,
        request: &[u8],
        version: Version,
        bridge: Option<&Bridge>,
        ports: &[PortDesc],
    ) -> Vec<Action> {
        match msg {
            BundleMsg::Add(a) => self.add(a, xid, request, version).into_iter().collect(),
            BundleMsg::Control(c) => self.control(c, xid, request, version, bridge, ports),
        }
    }

    fn add(&mut self, a: BundleAdd, xid: u32, request: &[u8], version: Version) -> Option<Action> {
        let refused = |e: OfpError| Some(refuse(version, e, xid, request));
        if !self.bundles.contains_key(&a.bundle_id) && self.bundles.len() >= MAX_BUNDLES {
            return refused(OfpError::BundleOutOfBundles);
        }
        let bundle = self.bundles.entry(a.bundle_id).or_insert(Bundle {
            flags: a.flags,
            closed: false,
            entries: Vec::new(),
        });
        if bundle.closed {
            return refused(OfpError::BundleClosed);
        }
        if bundle.flags != a.flags {
            return refused(OfpError::BundleBadFlags);
        }
        if bundle.entries.len() >= MAX_MESSAGES {
            return refused(OfpError::BundleMsgTooMany);
        }
        let (header, inner) = match wire::decode(&a.message) {
            Ok(m) => m,
            Err(e) => return refused(e.error),
        };
        if header.version != version.wire() {
            return refused(OfpError::BadVersion);
        }
        if header.xid != xid {
            return refused(OfpError::BundleMsgBadXid);
        }
        let fm = match inner {
            Message::FlowMod(fm) => fm,
            Message::Port(PortMsg::Mod(pm)) => {
                bundle.entries.push(Entry {
                    xid,
                    bytes: request.to_vec(),
                    item: Item::PortMod(pm),
                });
                return None;
            }
            Message::Group(GroupMsg::Mod(gm)) => {
                bundle.entries.push(Entry {
                    xid,
                    bytes: request.to_vec(),
                    item: Item::GroupMod(Box::new(gm)),
                });
                return None;
            }
            _ => return refused(OfpError::BundleMsgUnsup),
        };
        // A table no flow-mod may write is refused now, quoting the flow-mod.
        if let Some(t) = fm.table
            && t.0 >= HIDDEN_TABLE
        {
            let e = if t.0 == HIDDEN_TABLE {
                OfpError::Eperm
            } else {
                OfpError::BadTableId
            };
            return Some(refuse(version, e, xid, request));
        }
        bundle.entries.push(Entry {
            xid,
            bytes: request.to_vec(),
            item: Item::FlowMod(fm),
        });
        None
    }

    fn control(
        &mut self,
        c: BundleCtrl,
        xid: u32,
        request: &[u8],
        version: Version,
        bridge: Option<&Bridge>,
        ports: &[PortDesc],
    ) -> Vec<Action> {
        let refused = |e: OfpError| vec![refuse(version, e, xid, request)];
        match c.r#type {
            BundleCtrlType::OpenRequest => {
                if self.bundles.contains_key(&c.bundle_id) {
                    return refused(OfpError::BundleExist);
                }
                if self.bundles.len() >= MAX_BUNDLES {
                    return refused(OfpError::BundleOutOfBundles);
                }
                self.bundles.insert(
                    c.bundle_id,
                    Bundle {
                        flags: c.flags,
                        closed: false,
                        entries: Vec::new(),
                    },
                );
            }
            BundleCtrlType::CloseRequest => match self.bundles.get_mut(&c.bundle_id) {
                None => return refused(OfpError::BundleBadId),
                Some(b) if b.closed => return refused(OfpError::BundleClosed),
                Some(b) if b.flags != c.flags => return refused(OfpError::BundleBadFlags),
                Some(b) => b.closed = true,
            },
            BundleCtrlType::DiscardRequest => {
                if self.bundles.remove(&c.bundle_id).is_none() {
                    return refused(OfpError::BundleBadId);
                }
            }
            BundleCtrlType::CommitRequest => {
                let Some(b) = self.bundles.remove(&c.bundle_id) else {
                    return refused(OfpError::BundleBadId);
                };
                if b.flags != c.flags {
                    return refused(OfpError::BundleBadFlags);
                }
                // The first message that cannot be applied fails the bundle.
                let atomic = b.flags.atomic;
                // Group-mods are tried in order on a copy of the group table, so a flow-mod
                // may name a group the bundle adds before it, and a failing group-mod fails
                // the bundle before anything is applied.
                let mut groups = bridge.map(|br| br.groups().clone()).unwrap_or_default();
                let failure = b.entries.iter().find_map(|e| {
                    let why = match &e.item {
                        Item::GroupMod(gm) => groups.apply(gm, Millis(0)).err()?,
                        // Open vSwitch checks a flow-mod's actions (a missing group) at commit,
                        // not when it is added, and before looking for overlaps.
                        Item::FlowMod(fm) => match check_flow_mod_groups(fm, Some(&groups)) {
                            Err(why) => why,
                            Ok(()) if overlaps(bridge, fm) => return Some((OVERLAP, e)),
                            Ok(()) => return None,
                        },
                        // Port changes are not atomic (module docs).
                        Item::PortMod(_) if atomic => OfpError::BundleMsgFailed,
                        Item::PortMod(pm) => port_mod_check(ports, pm).err()?,
                    };
                    Some((why.code_or_fallback(version), e))
                });
                if let Some((code, e)) = failure {
                    return vec![
                        error(code, e.xid, &e.bytes),
                        refuse(version, OfpError::BundleMsgFailed, xid, request),
                    ];
                }
                let first_xid = b.entries.first().map_or(xid, |e| e.xid);
                let changes = b
                    .entries
                    .into_iter()
                    .map(|e| match e.item {
                        Item::FlowMod(mut fm) => {
                            // Checked against the tables before the bundle, as Open vSwitch
                            // does.
                            fm.flags.check_overlap = false;
                            Change::FlowMod(fm)
                        }
                        Item::PortMod(pm) => Change::PortMod(pm),
                        Item::GroupMod(gm) => Change::GroupMod(gm),
                    })
                    .collect();
                return vec![
                    Action::Apply(changes, first_xid),
                    Action::Send(reply(c), xid),
                ];
            }
            // Replies are the switch's to send.
            BundleCtrlType::OpenReply
            | BundleCtrlType::CloseReply
            | BundleCtrlType::CommitReply
            | BundleCtrlType::DiscardReply => return refused(OfpError::BundleBadType),
        }
        vec![Action::Send(reply(c), xid)]
    }
}

/// Whether port-mod `pm` can be applied to `ports`: the port exists and has the address the
/// port-mod names.
fn port_mod_check(ports: &[PortDesc], pm: &PortMod) -> Result<(), OfpError> {
    let port = ports
        .iter()
        .find(|p| p.port_no == pm.port_no)
        .ok_or(OfpError::PortModBadPort)?;
    if port.hw_addr != pm.hw_addr {
        return Err(OfpError::PortModBadHwAddr);
    }
    Ok(())
}

/// True when `fm` is an add with `check_overlap` whose match overlaps a different rule of the
/// same priority in its table: the two agree on every bit both care about. An add identical
/// in match and priority to an existing rule replaces it and is not checked at all, as in
/// the pipeline and Open vSwitch.
fn overlaps(bridge: Option<&Bridge>, fm: &FlowMod) -> bool {
    let Some(bridge) = bridge else {
        return false;
    };
    if fm.command != FlowModCommand::Add || !fm.flags.check_overlap {
        return false;
    }
    let table = fm.table.map_or(0, |t| t.0);
    let m = &fm.r#match;
    let rivals: Vec<_> = bridge
        .rules()
        .into_iter()
        .filter(|(t, r)| *t == table && r.priority == fm.priority)
        .map(|(_, r)| r.r#match)
        .collect();
    if rivals.iter().any(|k| k.key == m.key && k.mask == m.mask) {
        return false;
    }
    rivals.iter().any(|k| {
        k.key
            .words
            .iter()
            .zip(k.mask.words.iter())
            .zip(m.key.words.iter().zip(m.mask.words.iter()))
            .all(|((k1, m1), (k2, m2))| (k1 ^ k2) & m1 & m2 == 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::protocol::Protocol;
    use fvs_openflow::text::parse_flow_mod;
    use fvs_pipeline::bridge::FailMode;
    use fvs_pipeline::clock::Millis;

    const V: Version = Version::Of14;

    fn flow(text: &str) -> FlowMod {
        parse_flow_mod(text, FlowModCommand::Add)
            .map(|(fm, _)| fm)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn add(id: u32, xid: u32, text: &str) -> BundleMsg {
        let message = wire::encode(&Message::FlowMod(Box::new(flow(text))), Protocol::Of14, xid)
            .unwrap_or_else(|e| panic!("{e}"));
        BundleMsg::Add(BundleAdd {
            bundle_id: id,
            flags: BundleFlags::ATOMIC_ORDERED,
            message,
        })
    }

    fn ctrl(id: u32, t: BundleCtrlType) -> BundleMsg {
        BundleMsg::Control(BundleCtrl {
            bundle_id: id,
            r#type: t,
            flags: BundleFlags::ATOMIC_ORDERED,
        })
    }

    /// The error codes among `actions`, in order.
    fn errors(actions: &[Action]) -> Vec<(u32, ErrorCode)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(Message::Error(e), xid) => Some((*xid, e.code)),
                _ => None,
            })
            .collect()
    }

    fn code(e: OfpError) -> ErrorCode {
        e.code_or_fallback(V)
    }

    #[test]
    fn a_commit_applies_everything_in_order_or_nothing() {
        let mut bridge = Bridge::new("br0", FailMode::Secure, Millis(0));
        let existing = flow("table=1,priority=5,ip,actions=drop");
        assert!(bridge.flow_mod(&existing, Millis(0)).is_ok());
        let mut b = Bundles::new();
        let h =
            |b: &mut Bundles, m, xid, bridge: &Bridge| b.handle(m, xid, &[], V, Some(bridge), &[]);
        assert!(errors(&h(&mut b, ctrl(1, BundleCtrlType::OpenRequest), 1, &bridge)).is_empty());
        // Two flows overlapping each other are accepted: each is checked against the tables
        // as they were.
        for (xid, f) in [
            (2, "table=2,priority=5,ip,check_overlap,actions=drop"),
            (
                3,
                "table=2,priority=5,ip,nw_src=1.2.3.4,check_overlap,actions=drop",
            ),
        ] {
            assert!(h(&mut b, add(1, xid, f), xid, &bridge).is_empty());
        }
        let out = h(&mut b, ctrl(1, BundleCtrlType::CommitRequest), 4, &bridge);
        assert!(matches!(&out[0], Action::Apply(fms, _) if fms.len() == 2));
        assert!(matches!(&out[1], Action::Send(Message::Bundle(_), 4)));

        // One flow overlapping an existing rule fails the whole bundle, with two errors.
        assert!(
            h(
                &mut b,
                add(2, 5, "table=2,priority=9,actions=drop"),
                5,
                &bridge
            )
            .is_empty()
        );
        let bad = "table=1,priority=5,ip,nw_dst=10.0.0.1,check_overlap,actions=drop";
        assert!(h(&mut b, add(2, 6, bad), 6, &bridge).is_empty());
        let out = h(&mut b, ctrl(2, BundleCtrlType::CommitRequest), 7, &bridge);
        assert!(!out.iter().any(|a| matches!(a, Action::Apply(..))));
        assert_eq!(
            errors(&out),
            vec![(6, OVERLAP), (7, code(OfpError::BundleMsgFailed))]
        );
        // The failed bundle is gone.
        let out = h(&mut b, ctrl(2, BundleCtrlType::CommitRequest), 8, &bridge);
        assert_eq!(errors(&out), vec![(8, code(OfpError::BundleBadId))]);
        // An add identical to an existing rule replaces it without an overlap check.
        let same = "table=1,priority=5,ip,check_overlap,actions=drop";
        assert!(h(&mut b, add(3, 9, same), 9, &bridge).is_empty());
        let out = h(&mut b, ctrl(3, BundleCtrlType::CommitRequest), 10, &bridge);
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn misuse_is_refused_with_open_vswitch_codes() {
        let bridge = Bridge::new("br0", FailMode::Secure, Millis(0));
        let mut b = Bundles::new();
        let mut h = |m, xid| errors(&b.handle(m, xid, &[], V, Some(&bridge), &[]));
        assert!(h(ctrl(1, BundleCtrlType::OpenRequest), 1).is_empty());
        assert_eq!(
            h(ctrl(1, BundleCtrlType::OpenRequest), 2),
            vec![(2, code(OfpError::BundleExist))]
        );
        // Table 254 is Open vSwitch's own: refused when added.
        assert_eq!(
            h(add(1, 3, "table=254,actions=drop"), 3),
            vec![(3, code(OfpError::Eperm))]
        );
        // The inner message must carry the outer transaction id.
        assert_eq!(
            h(add(1, 4, "actions=drop"), 5),
            vec![(5, code(OfpError::BundleMsgBadXid))]
        );
        assert!(h(ctrl(1, BundleCtrlType::CloseRequest), 6).is_empty());
        assert_eq!(
            h(add(1, 7, "actions=drop"), 7),
            vec![(7, code(OfpError::BundleClosed))]
        );
        assert_eq!(
            h(ctrl(9, BundleCtrlType::CloseRequest), 8),
            vec![(8, code(OfpError::BundleBadId))]
        );
        assert!(h(ctrl(1, BundleCtrlType::DiscardRequest), 9).is_empty());
        assert_eq!(
            h(ctrl(1, BundleCtrlType::DiscardRequest), 10),
            vec![(10, code(OfpError::BundleBadId))]
        );
        // Only flow-mods go in bundles here.
        let echo = wire::encode(&Message::EchoRequest(Vec::new()), Protocol::Of14, 11)
            .unwrap_or_else(|e| panic!("{e}"));
        let m = BundleMsg::Add(BundleAdd {
            bundle_id: 2,
            flags: BundleFlags::ATOMIC_ORDERED,
            message: echo,
        });
        assert_eq!(h(m, 11), vec![(11, code(OfpError::BundleMsgUnsup))]);
    }
}
