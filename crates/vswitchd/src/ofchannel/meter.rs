//! Meter-mods and the meter configuration and statistics requests on a connection.
//!
//! The bridge's meter table (`fvs_pipeline::meter`) decides what a meter-mod does; the
//! switch behind [`Ofproto::meter_mod`] also configures the datapath meters, whose token
//! buckets and counters the statistics come from ([`Ofproto::meter_counters`]). A meter-mod
//! that deletes meters deletes the flows naming them, announced as flow-removeds (reason
//! `meter_delete`) and to flow monitors like any other deletion. A request for one meter
//! that does not exist is `OFPMMFC_UNKNOWN_METER`, as Open vSwitch answers.

use super::{Channel, Ofproto};
use fvs_openflow::meter::MeterStats;
use fvs_openflow::protocol::Protocol;
use fvs_openflow::wire::meter::{self, MeterMsg};
use fvs_openflow::wire::{OfpError, Version};
use fvs_pipeline::clock::Millis;

impl Channel {
    /// Handles one meter message of `version` (bytes: the whole message, for errors).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_meter(
        &mut self,
        version: Version,
        protocol: Protocol,
        xid: u32,
        m: MeterMsg,
        bytes: &[u8],
        ofproto: &mut dyn Ofproto,
        now: Millis,
    ) {
        let answer = match m {
            MeterMsg::Mod(_) if self.refuse_if_slave(version, bytes) => return,
            MeterMsg::Mod(mm) => self.table_mod(xid, ofproto, now, |o| o.meter_mod(&mm, now)),
            MeterMsg::ConfigRequest(id) => ofproto
                .bridge()
                .map_or(Ok(Vec::new()), |b| {
                    b.meters()
                        .select(id)
                        .map(|ms| ms.into_iter().map(|m| m.config.clone()).collect())
                })
                .and_then(|configs: Vec<_>| {
                    meter::encode_config_reply(&configs, protocol, xid)
                        .map_err(|_| OfpError::BadStat)
                }),
            MeterMsg::StatsRequest(id) => stats(&*ofproto, id, now).and_then(|stats| {
                meter::encode_stats_reply(&stats, protocol, xid).map_err(|_| OfpError::BadStat)
            }),
            MeterMsg::ConfigReply(_) | MeterMsg::StatsReply(_) => Err(OfpError::BadType),
        };
        self.queue_answer(answer, version, bytes);
    }
}

/// The statistics of meter `id` (or every meter) at `now`: the datapath's counters, the
/// number of flows naming each meter, the time since it was added.
fn stats(
    ofproto: &dyn Ofproto,
    id: fvs_openflow::MeterId,
    now: Millis,
) -> Result<Vec<MeterStats>, OfpError> {
    let Some(b) = ofproto.bridge() else {
        return Ok(Vec::new());
    };
    Ok(b.meters()
        .select(id)?
        .into_iter()
        .map(|m| {
            let age = now.since(m.created);
            let counters = ofproto.meter_counters(m.dp).unwrap_or_default();
            let mut bands = counters.bands;
            bands.resize(m.config.bands.len(), Default::default());
            MeterStats {
                meter_id: m.config.meter_id,
                flow_count: b.meter_flow_count(m.config.meter_id),
                input: counters.input,
                duration_sec: u32::try_from(age / 1000).unwrap_or(u32::MAX),
                duration_nsec: u32::try_from(age % 1000).unwrap_or(0) * 1_000_000,
                bands,
            }
        })
        .collect())
}
