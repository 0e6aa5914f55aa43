//! `parse-flow FLOW` and `parse-flows FILE`: parse flows as `add-flow` would, report the
//! usable protocols and the one chosen, and print each flow-mod as the switch would receive
//! it (after the round trip through the chosen protocol's encoding).

use super::{CmdError, Options};
use fvs_flow::Protocols;
use fvs_openflow::FlowMod;
use fvs_openflow::FlowModCommand;
use fvs_openflow::normalize::normalize_flow_mod;
use fvs_openflow::protocol::{Protocol, protocols_to_string};
use fvs_openflow::text::{format_flow_mod, parse_flow_mod};
use std::fmt::Write as _;

/// `parse-flow FLOW`.
pub(super) fn parse_flow(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let text = args.first().map(String::as_str).unwrap_or("");
    let (fm, usable) = parse_flow_mod(text, FlowModCommand::Add).map_err(|e| e.to_string())?;
    print_flow_mods(opts, &[fm], usable, out)
}

/// `parse-flows FILE` (`-` for standard input): one flow per line; `#` starts a comment and
/// blank lines are skipped.
pub(super) fn parse_flows(
    opts: &Options,
    args: &[String],
    out: &mut String,
) -> Result<(), CmdError> {
    let path = args.first().map(String::as_str).unwrap_or("-");
    let contents = if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("-: read failed ({e})"))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{path}: open failed ({})", super::os_error(&e)))?
    };
    let mut fms = Vec::new();
    let mut usable = Protocols::ANY;
    for (i, raw) in contents.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (fm, u) = parse_flow_mod(line, FlowModCommand::Add)
            .map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        usable = usable.and(u);
        fms.push(fm);
    }
    print_flow_mods(opts, &fms, usable, out)
}

fn print_flow_mods(
    opts: &Options,
    fms: &[FlowMod],
    usable: Protocols,
    out: &mut String,
) -> Result<(), CmdError> {
    let _ = writeln!(out, "usable protocols: {}", protocols_to_string(usable));
    let protocol = Protocol::first_in(usable.and(opts.allowed))
        .ok_or_else(|| "no usable protocol".to_string())?;
    let _ = writeln!(out, "chosen protocol: {}", protocol.name());
    for (i, fm) in fms.iter().enumerate() {
        let wire = normalize_flow_mod(fm, protocol);
        let xid = u32::try_from(i + 1).unwrap_or(u32::MAX);
        format_flow_mod(&wire, protocol, xid, out);
        out.push('\n');
    }
    Ok(())
}
