//! Continuations: the state of a translation paused by `controller(pause)`, as the switch
//! hands it to a controller inside `NXT_PACKET_IN2` and gets it back in `NXT_RESUME`.
//!
//! # Wire form
//!
//! The packet-in's `NXPINT_CONTINUATION` property holds a list of nested properties (each
//! padded to 8 bytes, the list starting after 4 bytes of padding):
//!
//! | type | name | body |
//! |---|---|---|
//! | `0x8000` | bridge | the bridge instance's UUID, four 32-bit words in little-endian order (Open vSwitch copies its `struct uuid` as it is in memory) |
//! | `0x8001` | stack | one property per `push`ed value, top first: the value in as many bytes as the pushed field has |
//! | `0x8002` | mirrors | 32-bit mirror bitmap (sent when not zero) |
//! | `0x8003` | conntracked | empty; present when the packet went through conntrack |
//! | `0x8004` | table id | 8 bits: the table the following actions were frozen in |
//! | `0x8005` | cookie | 4 bytes of padding, then the 64-bit cookie of that table's rule |
//! | `0x8006` | actions | 4 bytes of padding, then actions in the connection's version |
//! | `0x8007` | action set | as actions: the OpenFlow 1.1+ action set still to run |
//! | `0x8008` | datapath in_port | 32 bits |
//!
//! The frozen actions are a sequence of [`Segment`]s: the table id and cookie properties
//! change the "current" table and cookie (both start at 0) and each actions property is one
//! segment run under them, so that packet-ins sent by resumed actions report the table and
//! cookie of the rule the actions came from. `ovs-ofctl` prints each segment as
//! `unroll_xlate(table=T, cookie=C),ACTIONS`.
//!
//! To the controller a continuation is opaque: `ovs-ofctl monitor ... resume` sends back
//! the property's bytes as they came. So [`crate::wire::PacketIn::continuation`] keeps the
//! raw bytes and this module turns them into a [`Continuation`] and back (the actions need
//! the connection's version).

use super::buf::{Put, Reader};
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::action::Action;
use crate::types::Cookie;

/// Nested property types of `NXPINT_CONTINUATION`.
mod nxcpt {
    pub(super) const BRIDGE: u16 = 0x8000;
    pub(super) const STACK: u16 = 0x8001;
    pub(super) const MIRRORS: u16 = 0x8002;
    pub(super) const CONNTRACKED: u16 = 0x8003;
    pub(super) const TABLE_ID: u16 = 0x8004;
    pub(super) const COOKIE: u16 = 0x8005;
    pub(super) const ACTIONS: u16 = 0x8006;
    pub(super) const ACTION_SET: u16 = 0x8007;
    pub(super) const ODP_PORT: u16 = 0x8008;
}

/// Frozen actions of one rule: they run with `table` and `cookie` as the current rule's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The table of the rule the actions came from.
    pub table: u8,
    /// That rule's cookie.
    pub cookie: Cookie,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

/// A paused translation's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Continuation {
    /// The bridge instance that paused (an id that changes when a bridge is re-created, so
    /// a continuation cannot resume in a different bridge of the same name).
    pub bridge: u128,
    /// The `push`/`pop` stack, bottom first, each value as big-endian bytes.
    pub stack: Vec<Vec<u8>>,
    /// Mirrors already output to.
    pub mirrors: u32,
    /// The packet went through conntrack.
    pub conntracked: bool,
    /// The actions still to run, innermost rule's first.
    pub segments: Vec<Segment>,
    /// The action set still to run when the pipeline ends.
    pub action_set: Vec<Action>,
    /// The datapath port the packet came in on.
    pub odp_port: Option<u32>,
}

/// Writes one property (type, length, body) padded to 8 bytes.
fn prop(b: &mut Vec<u8>, ty: u16, body: &[u8]) {
    let at = b.len();
    b.put_u16(ty);
    b.put_u16(0);
    b.extend_from_slice(body);
    let len = b.len() - at;
    b.set_u16(at + 2, u16::try_from(len).unwrap_or(u16::MAX));
    b.put_zeros(len.next_multiple_of(8) - len);
}

/// A property whose body starts 8-aligned (after 4 bytes of padding).
fn prop_aligned(b: &mut Vec<u8>, ty: u16, body: &[u8]) {
    let mut padded = vec![0u8; 4];
    padded.extend_from_slice(body);
    prop(b, ty, &padded);
}

/// Actions in `v`, first rewritten as that version carries them (`mod_nw_tos` becomes a
/// `set_field` from OpenFlow 1.2 on, ...), as flow statistics are.
fn encode_actions(list: &[Action], v: Version) -> Result<Vec<u8>, EncodeError> {
    let list =
        crate::normalize::normalize_for(list, &fvs_flow::Match::CATCHALL, v.default_protocol());
    let mut out = Vec::new();
    super::of13::put_actions(&mut out, &list, v)?;
    Ok(out)
}

impl Continuation {
    /// The bridge id as Open vSwitch lays out a UUID on the wire.
    fn bridge_bytes(&self) -> [u8; 16] {
        let be = self.bridge.to_be_bytes();
        let mut out = [0u8; 16];
        for (word, chunk) in out.chunks_exact_mut(4).zip(be.chunks_exact(4)) {
            for (o, i) in word.iter_mut().zip(chunk.iter().rev()) {
                *o = *i;
            }
        }
        out
    }

    fn bridge_from(bytes: &[u8]) -> u128 {
        let mut be = [0u8; 16];
        for (word, chunk) in be.chunks_exact_mut(4).zip(bytes.chunks_exact(4)) {
            for (o, i) in word.iter_mut().zip(chunk.iter().rev()) {
                *o = *i;
            }
        }
        u128::from_be_bytes(be)
    }

    /// The body of `NXPINT_CONTINUATION` (without its own header and leading padding), with
    /// the actions in version `v`.
    ///
    /// # Errors
    ///
    /// An action `v` cannot carry.
    pub fn encode(&self, v: Version) -> Result<Vec<u8>, EncodeError> {
        let mut b = Vec::new();
        prop(&mut b, nxcpt::BRIDGE, &self.bridge_bytes());
        // Top of the stack first.
        for value in self.stack.iter().rev() {
            prop(&mut b, nxcpt::STACK, value);
        }
        if self.mirrors != 0 {
            prop(&mut b, nxcpt::MIRRORS, &self.mirrors.to_be_bytes());
        }
        if self.conntracked {
            prop(&mut b, nxcpt::CONNTRACKED, &[]);
        }
        // Table and cookie are sent when they change, from the implicit (0, 0).
        let (mut table, mut cookie) = (0u8, Cookie(0));
        for seg in &self.segments {
            if seg.table != table {
                prop(&mut b, nxcpt::TABLE_ID, &[seg.table]);
                table = seg.table;
            }
            if seg.cookie != cookie {
                prop_aligned(&mut b, nxcpt::COOKIE, &seg.cookie.0.to_be_bytes());
                cookie = seg.cookie;
            }
            prop_aligned(&mut b, nxcpt::ACTIONS, &encode_actions(&seg.actions, v)?);
        }
        if !self.action_set.is_empty() {
            prop_aligned(
                &mut b,
                nxcpt::ACTION_SET,
                &encode_actions(&self.action_set, v)?,
            );
        }
        if let Some(p) = self.odp_port {
            prop(&mut b, nxcpt::ODP_PORT, &p.to_be_bytes());
        }
        Ok(b)
    }

    /// Reads the body of `NXPINT_CONTINUATION` whose actions are in version `v`.
    ///
    /// # Errors
    ///
    /// A truncated or unknown property (`OFPBPC_BAD_LEN`, `OFPBPC_BAD_TYPE`, as Open
    /// vSwitch answers them), or bad actions.
    pub fn decode(bytes: &[u8], v: Version) -> Result<Self, DecodeError> {
        let mut c = Self::default();
        let mut r = Reader::new(bytes);
        let bad_len = |what: &str| DecodeError::new(OfpError::PropBadLen, what.to_owned());
        let (mut table, mut cookie) = (0u8, Cookie(0));
        while !r.is_empty() {
            let (Ok(ty), Ok(len)) = (r.u16(), r.u16()) else {
                return Err(bad_len("continuation property header is truncated"));
            };
            let len = usize::from(len);
            if len < 4 {
                return Err(bad_len(&format!("continuation property length {len}")));
            }
            let mut body = r
                .take(len - 4)
                .map_err(|_| bad_len("continuation property is truncated"))?;
            r.skip((len.next_multiple_of(8) - len).min(r.len()))
                .map_err(|_| bad_len("continuation property padding"))?;
            let aligned = |body: &mut Reader<'_>| {
                body.skip(4)
                    .map_err(|_| bad_len("continuation property is truncated"))
            };
            match ty {
                nxcpt::BRIDGE => {
                    let u = body.bytes(16).map_err(|_| bad_len("bridge UUID"))?;
                    c.bridge = Self::bridge_from(u);
                }
                nxcpt::STACK => c.stack.push(body.rest().to_vec()),
                nxcpt::MIRRORS => c.mirrors = body.u32().map_err(|_| bad_len("mirrors"))?,
                nxcpt::CONNTRACKED => c.conntracked = true,
                nxcpt::TABLE_ID => table = body.u8().map_err(|_| bad_len("table id"))?,
                nxcpt::COOKIE => {
                    aligned(&mut body)?;
                    cookie = Cookie(body.u64().map_err(|_| bad_len("cookie"))?);
                }
                nxcpt::ACTIONS => {
                    aligned(&mut body)?;
                    c.segments.push(Segment {
                        table,
                        cookie,
                        actions: super::of13::pull_actions(body.rest(), v)?,
                    });
                }
                nxcpt::ACTION_SET => {
                    aligned(&mut body)?;
                    c.action_set = super::of13::pull_actions(body.rest(), v)?;
                }
                nxcpt::ODP_PORT => {
                    c.odp_port = Some(body.u32().map_err(|_| bad_len("datapath port"))?);
                }
                other => {
                    return Err(DecodeError::new(
                        OfpError::PropBadType,
                        format!("continuation property type {other:#x}"),
                    ));
                }
            }
        }
        c.stack.reverse();
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Output;
    use fvs_flow::PortNo;

    fn sample() -> Continuation {
        let out = |p| {
            Action::Output(Output {
                port: PortNo(p),
                max_len: 0,
            })
        };
        Continuation {
            bridge: 0x5285_dbc3_1ae3_4372_a2f6_23cb_579f_c785,
            stack: vec![vec![0], vec![0, 0, 0, 0, 0, 1]],
            mirrors: 0,
            conntracked: false,
            segments: vec![
                Segment {
                    table: 1,
                    cookie: Cookie(0x22),
                    actions: vec![out(3)],
                },
                Segment {
                    table: 0,
                    cookie: Cookie(0x11),
                    actions: vec![out(2)],
                },
            ],
            action_set: vec![out(1)],
            odp_port: Some(1),
        }
    }

    #[test]
    fn continuations_read_back_in_every_version_that_has_actions() {
        for v in [Version::Of10, Version::Of13, Version::Of15] {
            let c = sample();
            let bytes = c.encode(v).unwrap_or_default();
            assert_eq!(Continuation::decode(&bytes, v), Ok(c), "{v:?}");
        }
    }

    #[test]
    fn the_bridge_uuid_is_laid_out_as_open_vswitch_copies_it() {
        let b = sample().encode(Version::Of10).unwrap_or_default();
        // Captured from Open vSwitch 3.1 for bridge 5285dbc3-1ae3-4372-a2f6-23cb579fc785.
        assert_eq!(
            b.get(4..20),
            Some(
                &[
                    0xc3, 0xdb, 0x85, 0x52, 0x72, 0x43, 0xe3, 0x1a, 0xcb, 0x23, 0xf6, 0xa2, 0x85,
                    0xc7, 0x9f, 0x57
                ][..]
            )
        );
    }

    #[test]
    fn unknown_and_truncated_properties_are_refused_with_property_errors() {
        let mut b = sample().encode(Version::Of10).unwrap_or_default();
        let e = Continuation::decode(&b[..b.len() - 3], Version::Of10).map_err(|e| e.error);
        assert_eq!(e, Err(OfpError::PropBadLen));
        b[0] = 0x81;
        let e = Continuation::decode(&b, Version::Of10).map_err(|e| e.error);
        assert_eq!(e, Err(OfpError::PropBadType));
    }
}
