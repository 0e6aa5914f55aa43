//! Port names in flows, both ways, as ovs-ofctl uses them.
//!
//! # Reading
//!
//! ovs-ofctl accepts a port's name wherever a flow names a port (`in_port=patch-int`,
//! `output:patch-int`, `resubmit(patch-int,2)`, `enqueue:patch-int:3`, `out_port=...`),
//! learning the names from the switch's port descriptions. Here a flow is parsed as written
//! first; only when that fails does the command ask the switch for its ports
//! ([`PortNames::fetch`]) and parse again with every name in a port position replaced by its
//! number ([`PortNames::numbers_for_names`]). Names may be quoted (`"patch-int"`), as
//! `--names` output writes them.
//!
//! # Writing
//!
//! `--names` prints ports by name, quoted unless the name is a plain word (`output:p2`,
//! `in_port="patch-int"`, `output:"gre-0a000115"`);
//! reserved ports (`LOCAL`) keep their names. [`PortNames::names_for_numbers`] rewrites a
//! formatted flow in the same positions. Without a terminal on standard output ovs-ofctl
//! prints numbers unless `--names` is given; with one, names unless `--no-names` is.

use super::conn::Conn;
use super::show::port_descs;
use super::{CmdError, Options};
use fvs_openflow::PortNo;

/// What precedes a port in a flow's text, and what may end the port.
const CONTEXTS: [&str; 7] = [
    "in_port=",
    "in_port:",
    "out_port=",
    "output:",
    "resubmit(",
    "enqueue:",
    "enqueue(",
];

/// A switch's ports: number and name.
#[derive(Clone, Debug, Default)]
pub(super) struct PortNames {
    ports: Vec<(PortNo, String)>,
}

impl PortNames {
    /// Asks `target` for its ports on a connection of its own, as ovs-ofctl does.
    pub(super) fn fetch(opts: &Options, target: &str) -> Result<Self, CmdError> {
        let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
        let ports = port_descs(&mut conn)?
            .into_iter()
            .flat_map(|(_, p)| p)
            .map(|p| (p.port_no, p.name))
            .collect();
        Ok(Self { ports })
    }

    /// The number of the port called `name`.
    pub(super) fn number(&self, name: &str) -> Option<PortNo> {
        self.ports.iter().find(|(_, n)| n == name).map(|(p, _)| *p)
    }

    fn name(&self, port: PortNo) -> Option<&str> {
        self.ports
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, n)| n.as_str())
    }

    /// `text` with every port name (quoted or not) in a port position replaced by the port's
    /// number; everything else as it was.
    pub(super) fn numbers_for_names(&self, text: &str) -> String {
        rewrite(text, |token| {
            let bare = token
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(token);
            self.number(bare).map(|p| p.0.to_string())
        })
    }

    /// `text` with every port number in a port position replaced by the port's name, quoted
    /// unless it is a letter followed by letters and digits (as ovs-ofctl writes `output:p2`
    /// but `output:"p-3"`, `output:"p_5"`, `output:"9x"`).
    pub(super) fn names_for_numbers(&self, text: &str) -> String {
        rewrite(text, |token| {
            let n: u32 = token.parse().ok()?;
            // Numbers in text are OpenFlow 1.0 numbers up to 0xfeff, as the parser reads them.
            let port = u16::try_from(n).ok().map_or(PortNo(n), PortNo::from_of10);
            self.name(port).map(|name| {
                let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric());
                if plain {
                    name.to_owned()
                } else {
                    format!("\"{name}\"")
                }
            })
        })
    }
}

/// Calls `f` on the token after each port context in `text` and puts its answer in the
/// token's place (or leaves the token when it answers `None`). A token runs to the next `,`,
/// `)`, `:`, space or end; a quoted one to its closing quote.
fn rewrite(text: &str, f: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = CONTEXTS
            .iter()
            .filter_map(|c| rest.find(c).map(|at| (at, c.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at + len]);
        rest = &rest[at + len..];
        let end = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.find('"').map_or(rest.len(), |q| q + 2)
        } else {
            rest.find([',', ')', ':', ' ', '\t']).unwrap_or(rest.len())
        };
        let token = &rest[..end];
        match f(token) {
            Some(replacement) => out.push_str(&replacement),
            None => out.push_str(token),
        }
        rest = &rest[end..];
    }
}

/// Parses flows for `target`, learning its port names the first time a flow does not parse as
/// written.
pub(super) struct Resolver<'a> {
    opts: &'a Options,
    target: &'a str,
    names: Option<PortNames>,
}

impl<'a> Resolver<'a> {
    /// A resolver for flows sent to `target`.
    pub(super) fn new(opts: &'a Options, target: &'a str) -> Self {
        Self {
            opts,
            target,
            names: None,
        }
    }

    /// `parse(text)`, or when that fails and `text` names a port somewhere, `parse` of the
    /// text with the switch's port names replaced by numbers.
    pub(super) fn parse<T, E: std::fmt::Display>(
        &mut self,
        text: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, CmdError> {
        match parse(text) {
            Ok(t) => Ok(t),
            Err(e) if !CONTEXTS.iter().any(|c| text.contains(c)) => {
                Err(CmdError::Fatal(e.to_string()))
            }
            Err(_) => {
                if self.names.is_none() {
                    self.names = Some(PortNames::fetch(self.opts, self.target)?);
                }
                let rewritten = self
                    .names
                    .as_ref()
                    .map_or_else(|| text.to_string(), |n| n.numbers_for_names(text));
                parse(&rewritten).map_err(|e| CmdError::Fatal(e.to_string()))
            }
        }
    }
}

/// Whether flows are printed with port names: `--names`/`--no-names`, else whether standard
/// output is a terminal.
pub(super) fn use_names(opts: &Options) -> bool {
    use std::io::IsTerminal;
    opts.names
        .unwrap_or_else(|| std::io::stdout().is_terminal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> PortNames {
        PortNames {
            ports: vec![
                (PortNo(1), "patch-int".into()),
                (PortNo(2), "gre-0a000115".into()),
                (PortNo::LOCAL, "br-tun".into()),
            ],
        }
    }

    #[test]
    fn names_and_numbers_swap_in_port_positions_only() {
        let n = names();
        assert_eq!(
            n.numbers_for_names(
                "table=5,in_port=gre-0a000115,actions=output:\"patch-int\",resubmit(patch-int,6),enqueue:gre-0a000115:3,load:1->NXM_NX_REG0[]"
            ),
            "table=5,in_port=2,actions=output:1,resubmit(1,6),enqueue:2:3,load:1->NXM_NX_REG0[]"
        );
        assert_eq!(
            n.names_for_numbers("priority=3,in_port=2 actions=output:1,resubmit(,2),LOCAL"),
            "priority=3,in_port=\"gre-0a000115\" actions=output:\"patch-int\",resubmit(,2),LOCAL"
        );
        // Names that read as a word print bare.
        let plain = PortNames {
            ports: vec![(PortNo(2), "p2".into())],
        };
        assert_eq!(
            plain.names_for_numbers("actions=output:2"),
            "actions=output:p2"
        );
        // Unknown names and numbers stay as they are.
        assert_eq!(n.numbers_for_names("in_port=eth9"), "in_port=eth9");
        assert_eq!(n.names_for_numbers("in_port=7"), "in_port=7");
    }
}
