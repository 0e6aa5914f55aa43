//! One version-neutral model of OpenFlow actions, flow-mods and messages, with ovs-ofctl's text syntax.
