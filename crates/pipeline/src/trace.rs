//! The trace tree and its `ofproto/trace` text (rules in docs/design/trace-format.md).

use core::fmt::Write as _;

/// What a trace node records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Translation entered a bridge.
    Bridge,
    /// A table lookup and the rule it hit (or the miss).
    Table,
    /// An executed action.
    Action,
    /// Something an action found out (` -> `).
    Detail,
    /// Something surprising but handled (` >> `).
    Warn,
    /// Something that stopped the packet (` >>>> … <<<<`).
    Error,
}

/// A node of the trace tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Kind.
    pub kind: NodeKind,
    /// Text, without indentation or marker.
    pub text: String,
    /// Nested nodes (a bridge's table visits, a table visit's actions).
    pub children: Vec<Self>,
}

impl Node {
    /// A leaf or container node with no children yet.
    pub fn new(kind: NodeKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
            children: Vec::new(),
        }
    }

    /// Leaf kinds are always indented one step past their list.
    fn is_leaf_kind(&self) -> bool {
        match self.kind {
            NodeKind::Action | NodeKind::Detail | NodeKind::Warn | NodeKind::Error => true,
            NodeKind::Bridge | NodeKind::Table => false,
        }
    }
}

/// Renders a list of nodes at `level` into `out`.
pub fn render(out: &mut String, nodes: &[Node], level: usize) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let extra = usize::from(!last || node.is_leaf_kind());
        let indent = " ".repeat((level + extra) * 4);
        // Writing to a String cannot fail.
        let _ = match node.kind {
            NodeKind::Bridge => write!(
                out,
                "\n{}\n{}\n",
                node.text,
                "-".repeat(node.text.chars().count())
            ),
            NodeKind::Table | NodeKind::Action => writeln!(out, "{indent}{}", node.text),
            NodeKind::Detail => writeln!(out, "{indent} -> {}", node.text),
            NodeKind::Warn => writeln!(out, "{indent} >> {}", node.text),
            NodeKind::Error => writeln!(out, "{indent} >>>> {} <<<<", node.text),
        };
        render(out, &node.children, level + 2 * extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str, children: Vec<Node>) -> Node {
        Node {
            kind: NodeKind::Table,
            text: text.to_owned(),
            children,
        }
    }

    fn act(text: &str) -> Node {
        Node::new(NodeKind::Action, text)
    }

    /// The shape Open vSwitch prints for a resubmit in the middle of a rule and a chain of
    /// resubmits in tail position.
    #[test]
    fn indentation_follows_the_sibling_rule() {
        let t6 = table("6. priority 10", vec![act("mod_dl_src:00:00:00:00:00:09")]);
        let t5 = table(" 5. priority 10", vec![act("resubmit(,6)"), t6]);
        let t0 = table(
            " 0. in_port=1, priority 10",
            vec![act("resubmit(,5)"), t5, act("output:3")],
        );
        let mut out = String::new();
        render(&mut out, &[t0], 0);
        assert_eq!(
            out,
            " 0. in_port=1, priority 10\n    resubmit(,5)\n     5. priority 10\n            resubmit(,6)\n        6. priority 10\n            mod_dl_src:00:00:00:00:00:09\n    output:3\n"
        );
    }
}
