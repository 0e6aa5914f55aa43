//! The heading ovs-ofctl prints before every message's text.
//!
//! Open vSwitch introduces a message with its name (`OFPT_FEATURES_REPLY`, or a statistics
//! name and a direction: `OFPST_FLOW reply`, `NXST_FLOW_MONITOR request`), then the version
//! in parentheses unless it is OpenFlow 1.0 (` (OF1.3)`), then the transaction id in
//! lower-case hex and a colon: `OFPST_PORT reply (OF1.3) (xid=0x4):`. What follows the colon
//! (a newline, ` flags=[more]`, the message's own fields) differs per message and stays with
//! each printer; the heading is written in one place so that every command prints it alike.

use fvs_openflow::wire::{Header, Version};
use std::fmt;

/// What Open vSwitch prints after a message's name to give its version: ` (OF1.3)` for
/// OpenFlow 1.3, nothing for OpenFlow 1.0.
pub(super) fn version_tag(v: Version) -> &'static str {
    match v {
        Version::Of10 => "",
        Version::Of11 => " (OF1.1)",
        Version::Of12 => " (OF1.2)",
        Version::Of13 => " (OF1.3)",
        Version::Of14 => " (OF1.4)",
        Version::Of15 => " (OF1.5)",
    }
}

/// The version a received message's header gives. Every message that decoded is in a version
/// ferrovs speaks (the decoder takes no other); a number it does not speak (a message that did
/// not decode) counts as OpenFlow 1.0, whose heading names no version.
pub(super) fn header_version(h: &Header) -> Version {
    Version::from_wire(h.version).unwrap_or(Version::Of10)
}

/// The heading Open vSwitch prints before a message: `name`, the [`version_tag`], the
/// transaction id and a colon, as in `OFPST_DESC reply (OF1.3) (xid=0x2):`. The caller writes
/// what follows the colon (the line's end or the message's fields).
pub(super) fn heading<N: fmt::Display>(name: N, version: Version, xid: u32) -> Heading<N> {
    Heading { name, version, xid }
}

/// A message heading (see [`heading`]), printed with `{}`.
pub(super) struct Heading<N> {
    name: N,
    version: Version,
    xid: u32,
}

impl<N: fmt::Display> fmt::Display for Heading<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{} (xid={:#x}):",
            self.name,
            version_tag(self.version),
            self.xid
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heading_is_the_name_the_version_but_1_0_and_the_xid() {
        assert_eq!(
            heading("OFPST_DESC reply", Version::Of10, 2).to_string(),
            "OFPST_DESC reply (xid=0x2):"
        );
        assert_eq!(
            heading(format_args!("{} reply", "OFPST_PORT"), Version::Of13, 0x1f).to_string(),
            "OFPST_PORT reply (OF1.3) (xid=0x1f):"
        );
        assert_eq!(
            heading("OFPT_FEATURES_REPLY", Version::Of15, 0).to_string(),
            "OFPT_FEATURES_REPLY (OF1.5) (xid=0x0):"
        );
    }
}
