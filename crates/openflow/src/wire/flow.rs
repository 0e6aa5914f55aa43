//! Flow-mods: OpenFlow 1.0's `ofp_flow_mod`, Nicira's `NXT_FLOW_MOD` and OpenFlow 1.1+'s
//! `OFPT_FLOW_MOD`.

use super::buf::Reader;
use super::{DecodeError, EncodeError, OfpError, Version};
use crate::flow_mod::FlowMod;
use crate::protocol::Protocol;

pub(crate) fn encode_flow_mod(
    _fm: &FlowMod,
    protocol: Protocol,
    _xid: u32,
) -> Result<Vec<u8>, EncodeError> {
    Err(EncodeError::Message {
        message: "flow_mod",
        version: Version::of(protocol),
    })
}

pub(crate) fn decode_flow_mod(_v: Version, _r: Reader<'_>) -> Result<FlowMod, DecodeError> {
    Err(DecodeError::new(OfpError::BadType, "flow_mod"))
}

pub(crate) fn decode_nx_flow_mod(_v: Version, _r: Reader<'_>) -> Result<FlowMod, DecodeError> {
    Err(DecodeError::new(OfpError::BadSubtype, "flow_mod"))
}
