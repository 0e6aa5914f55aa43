//! Normalising `ovs-vsctl show` output for comparison.
//!
//! `ovs-vsctl show` prints bridges, ports, interfaces, controllers and managers in the order
//! of its in-memory hash tables, which is not even stable between two runs of Open vSwitch
//! itself. Comparisons therefore sort each run of sibling blocks of those kinds; everything
//! else (the nesting, the attribute lines, their order within a block) is compared as printed.

/// Sorts every run of sibling `Bridge`/`Port`/`Interface`/`Controller`/`Manager` blocks of
/// `show` output. A block is a line plus the more deeply indented lines after it.
pub fn sort_show_siblings(text: &str) -> String {
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut out = sort_blocks(&lines).join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn sort_blocks(lines: &[String]) -> Vec<String> {
    let mut blocks: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let depth = indent(&lines[i]);
        let mut end = i + 1;
        while end < lines.len() && indent(&lines[end]) > depth {
            end += 1;
        }
        let mut block = vec![lines[i].clone()];
        block.extend(sort_blocks(&lines[i + 1..end]));
        blocks.push(block);
        i = end;
    }
    let mut out = Vec::new();
    let mut k = 0;
    while k < blocks.len() {
        let kind = keyword(&blocks[k][0]).to_owned();
        let sortable = matches!(
            kind.as_str(),
            "Bridge" | "Port" | "Interface" | "Controller" | "Manager"
        );
        let mut end = k + 1;
        while sortable && end < blocks.len() && keyword(&blocks[end][0]) == kind {
            end += 1;
        }
        let mut run = blocks[k..end].to_vec();
        run.sort();
        out.extend(run.into_iter().flatten());
        k = end;
    }
    out
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn keyword(line: &str) -> &str {
    line.trim_start().split(' ').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_ports_sort_but_attributes_keep_their_place() {
        let a = "u\n    Bridge br0\n        fail_mode: secure\n        Port p2\n            tag: 5\n            Interface p2\n        Port br0\n            Interface br0\n                type: internal\n";
        let b = "u\n    Bridge br0\n        fail_mode: secure\n        Port br0\n            Interface br0\n                type: internal\n        Port p2\n            tag: 5\n            Interface p2\n";
        assert_eq!(sort_show_siblings(a), sort_show_siblings(b));
        assert!(sort_show_siblings(a).contains("fail_mode: secure\n        Port br0"));
        // A different attribute is still a difference.
        assert_ne!(
            sort_show_siblings(a),
            sort_show_siblings(&b.replace("tag: 5", "tag: 6"))
        );
    }
}
