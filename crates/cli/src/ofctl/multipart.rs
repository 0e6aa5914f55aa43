//! Multipart (statistics) replies: every part of one read by [`Multipart`], and each part's
//! heading with the flags Open vSwitch prints after it ([`Part`]).
//!
//! A switch splits a reply too long for one message (64 KiB) into parts, every one but the
//! last flagged "more" (`OFPSF_REPLY_MORE` in OpenFlow 1.0's statistics replies,
//! `OFPMPF_REPLY_MORE` in later multipart replies; the flags sit at the same offset in every
//! version). ovs-ofctl prints each part as it arrives under its own heading, followed by
//! ` flags=[more]` on every part but the last: `OFPST_PORT reply (OF1.4) (xid=0x2):
//! flags=[more] 141 ports`. Commands that gather the parts first (`dump-table-features`, a
//! sorted flow dump) print no heading at all.
//!
//! This module alone reads the flags, from the raw message, so it needs to know nothing of
//! the bodies: a command matches the decoded replies itself, and decides whether an error
//! reply is printed as a reply or fails the command. A reply that is not a multipart reply
//! (an error) ends the exchange, as it does for Open vSwitch.

use super::CmdError;
use super::conn::{Conn, Received};
use super::heading::{header_version, heading};
use super::show::reply_to;
use fvs_openflow::wire::{Message, Version};
use std::fmt;

/// `OFPT_STATS_REPLY`'s type number in OpenFlow 1.0 and `OFPT_MULTIPART_REPLY`'s in 1.1 and
/// later.
const OF10_STATS_REPLY: u8 = 17;
const MULTIPART_REPLY: u8 = 19;
/// Where a multipart reply's 16-bit flags are (after the header and the multipart type), and
/// the "more" bit among them.
const MULTIPART_FLAGS_AT: usize = 10;
const REPLY_MORE: u16 = 1;

/// The replies to a multipart request, in order: each message answering it up to the last
/// part (module docs).
pub(super) struct Multipart<'c> {
    conn: &'c mut Conn,
    xid: u32,
    done: bool,
}

impl<'c> Multipart<'c> {
    /// Sends `request`; its replies follow from the iterator.
    pub(super) fn send(conn: &'c mut Conn, request: &Message) -> Result<Self, CmdError> {
        let xid = conn.send(request)?;
        Ok(Self {
            conn,
            xid,
            done: false,
        })
    }
}

impl Iterator for Multipart<'_> {
    type Item = Result<Received, CmdError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let reply = reply_to(self.conn, self.xid);
        self.done = reply.as_ref().map_or(true, |r| !more_follow(r));
        Some(reply)
    }
}

/// What a part's heading needs of its message: version, transaction id, and whether more
/// parts follow it. Kept apart from the message so that a command can decode the body and
/// still print the heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Part {
    version: Version,
    xid: u32,
    more: bool,
}

impl Part {
    /// The part `reply` is.
    pub(super) fn of(reply: &Received) -> Self {
        Self {
            version: header_version(&reply.header),
            xid: reply.header.xid,
            more: more_follow(reply),
        }
    }

    /// `NAME (OF1.x) (xid=0x..):`, then ` flags=[more]` unless this is the last part; the
    /// caller writes what follows (the line's end, or a count as in `dump-ports`).
    pub(super) fn heading<N: fmt::Display>(self, name: N) -> PartHeading<N> {
        PartHeading { part: self, name }
    }
}

/// A part's heading (see [`Part::heading`]), printed with `{}`.
pub(super) struct PartHeading<N> {
    part: Part,
    name: N,
}

impl<N: fmt::Display> fmt::Display for PartHeading<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Part { version, xid, more } = self.part;
        write!(f, "{}", heading(&self.name, version, xid))?;
        if more {
            f.write_str(" flags=[more]")?;
        }
        Ok(())
    }
}

/// Whether `reply` is a multipart reply that says more parts follow.
fn more_follow(reply: &Received) -> bool {
    let multipart = if reply.header.version == Version::Of10.wire() {
        OF10_STATS_REPLY
    } else {
        MULTIPART_REPLY
    };
    reply.header.msg_type == multipart
        && reply
            .bytes
            .get(MULTIPART_FLAGS_AT..MULTIPART_FLAGS_AT + 2)
            .is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & REPLY_MORE != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvs_openflow::wire::Header;

    /// A received message of `msg_type` in `version` whose flags word is `flags`.
    fn received(version: Version, msg_type: u8, flags: u16) -> Received {
        let mut bytes = vec![version.wire(), msg_type, 0, 16, 0, 0, 0, 7, 0, 4];
        bytes.extend_from_slice(&flags.to_be_bytes());
        bytes.extend_from_slice(&[0; 4]);
        Received {
            header: Header {
                version: version.wire(),
                msg_type,
                length: 16,
                xid: 7,
            },
            bytes,
            message: None,
        }
    }

    #[test]
    fn every_part_but_the_last_is_flagged_after_its_heading() {
        let more = Part::of(&received(Version::Of13, MULTIPART_REPLY, REPLY_MORE));
        let last = Part::of(&received(Version::Of13, MULTIPART_REPLY, 0));
        assert!(more.more && !last.more);
        assert_eq!(
            more.heading("OFPST_PORT reply").to_string(),
            "OFPST_PORT reply (OF1.3) (xid=0x7): flags=[more]"
        );
        assert_eq!(
            last.heading("OFPST_PORT reply").to_string(),
            "OFPST_PORT reply (OF1.3) (xid=0x7):"
        );
        // OpenFlow 1.0 numbers its statistics reply differently.
        assert!(Part::of(&received(Version::Of10, OF10_STATS_REPLY, REPLY_MORE)).more);
        // A message that is no multipart reply (an error) never says more follow, whatever
        // its bytes at that offset.
        assert!(!Part::of(&received(Version::Of13, 1, REPLY_MORE)).more);
    }
}
