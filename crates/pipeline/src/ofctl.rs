//! Reading one flow in `ovs-ofctl add-flow` syntax into a shared [`FlowMod`].
//!
//! Match fields go through `fvs_flow::text::parse_match_field` and actions through
//! `fvs_openflow::text::parse_actions`; this module only splits the line and reads the flow-mod
//! keywords around them (`table`, `priority`, `cookie`, timeouts). Statistics printed by
//! `dump-flows` (`duration=`, `n_packets=`, …) are skipped, so dumped flows load verbatim.
//!
//! TODO(a2): a stand-in for `fvs_openflow`'s flow-mod parser (`parse_flow_mod`); switch the
//! callers to it when it lands and delete this module.

use crate::text::DEFAULT_PRIORITY;
use fvs_flow::Protocols;
use fvs_flow::text::{MatchParseError, parse_match_field};
use fvs_openflow::text::{ActionParseError, parse_actions};
use fvs_openflow::{Cookie, FlowMod, FlowModCommand, TableId};

/// Why a flow did not parse; the text names the bad token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A flow-mod keyword with a value that is not a number of the right size.
    #[error("{keyword}: bad value {value}")]
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value.
        value: String,
    },
    /// A match field that did not parse.
    #[error(transparent)]
    Match(#[from] MatchParseError),
    /// An action that did not parse.
    #[error(transparent)]
    Action(#[from] ActionParseError),
}

/// Parses one flow in `ovs-ofctl add-flow` syntax as an add (statistics from `dump-flows` are
/// ignored).
pub fn parse_flow(text: &str) -> Result<FlowMod, ParseError> {
    let (head, acts) = text.split_once("actions=").unwrap_or((text, ""));
    let mut fm = FlowMod::new(FlowModCommand::Add);
    fm.priority = DEFAULT_PRIORITY;
    let mut usable = Protocols::ANY;
    for tok in head
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let (k, v) = match tok.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (tok, None),
        };
        let val = v.unwrap_or("");
        match k {
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            "cookie" => fm.cookie = Cookie(number(k, val)?),
            "table" => fm.table = Some(TableId(number(k, val)?)),
            "priority" => fm.priority = number(k, val)?,
            "idle_timeout" => fm.idle_timeout = number(k, val)?,
            "hard_timeout" => fm.hard_timeout = number(k, val)?,
            _ => parse_match_field(&mut fm.r#match, k, v, &mut usable)?,
        }
    }
    fm.actions = parse_actions(acts.trim(), &mut usable)?;
    Ok(fm)
}

/// A number in C's base-0 syntax (`0x` hex or decimal) that fits `T`.
fn number<T: TryFrom<u64>>(keyword: &str, s: &str) -> Result<T, ParseError> {
    let bad = || ParseError::BadValue {
        keyword: keyword.to_owned(),
        value: s.to_owned(),
    };
    let n = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| bad())?;
    T::try_from(n).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::format_actions;

    #[test]
    fn the_seed_learn_action_reads_back_as_written() {
        let text = "learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1";
        let fm = parse_flow(&format!("priority=1 actions={text}")).expect("parses");
        assert_eq!(format_actions(&fm.actions), text);
        assert_eq!(fm.priority, 1);
    }

    #[test]
    fn dump_statistics_are_skipped_and_bad_tokens_named() {
        let fm = parse_flow("cookie=0x5, duration=1.5s, table=3, n_packets=7, idle_age=2, priority=2,in_port=1 actions=drop")
            .expect("parses");
        assert_eq!(
            (fm.cookie, fm.table, fm.priority),
            (Cookie(5), Some(TableId(3)), 2)
        );
        let err = parse_flow("frobnicate=1 actions=drop").expect_err("unknown field");
        assert_eq!(err.to_string(), "unknown keyword frobnicate");
        let err = parse_flow("table=300 actions=drop").expect_err("too big");
        assert_eq!(err.to_string(), "table: bad value 300");
    }
}
