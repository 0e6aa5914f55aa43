//! `ovs-ofctl dump-table-features` against fvs-vswitchd and against `ovs-vswitchd` in
//! OpenFlow 1.3, 1.4 and 1.5: the same tables, instructions, actions and next tables, and the
//! same match, wildcard and set-field fields — except the fields of Open vSwitch 3.1 that
//! ferrovs's flow key does not have yet, listed here ([`NOT_IN_FERROVS`]) so the gap is
//! explicit: the test fails when ferrovs gains one of them (take it off the list) or when
//! ferrovs announces a field Open vSwitch does not (or stops announcing one it does).

use std::collections::BTreeSet;

use fvs_test_support::{PrivateFvs, PrivateOvs, Switch};

/// Open vSwitch 3.1's fields that ferrovs's field registry lacks.
const NOT_IN_FERROVS: &[&str] = &[
    "tun_erspan_idx",
    "tun_erspan_ver",
    "tun_erspan_dir",
    "tun_erspan_hwid",
    "tun_gtpu_flags",
    "tun_gtpu_msgtype",
    "tun_metadata0...tun_metadata63",
    "nsh_flags",
    "nsh_ttl",
    "nsh_mdtype",
    "nsh_np",
    "nsh_spi",
    "nsh_si",
    "nsh_c1...nsh_c4",
];

/// The lines of a table-features listing that name fields.
const FIELD_LINES: [&str; 3] = [
    "supported on Set-Field:",
    "arbitrary mask:",
    "exact match or wildcard:",
];

/// Expands ovs-ofctl's compact field lists: `tun_{id,src}` is `tun_id tun_src` (braces
/// nest), and `reg0...reg15` stands for the registers in between.
fn expand(list: &str) -> Vec<String> {
    fn split_top(s: &str) -> Vec<&str> {
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' | ' ' if depth == 0 => {
                    out.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&s[start..]);
        out.into_iter().filter(|t| !t.is_empty()).collect()
    }
    fn one(token: &str) -> Vec<String> {
        if let Some(open) = token.find('{') {
            let close = token.rfind('}').unwrap_or(token.len());
            let (prefix, inner) = (&token[..open], &token[open + 1..close]);
            return split_top(inner)
                .into_iter()
                .flat_map(one)
                .map(|t| format!("{prefix}{t}"))
                .collect();
        }
        if let Some((a, b)) = token.split_once("...") {
            let digits = |s: &str| s.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
            let (stem, from) = a.split_at(a.len() - digits(a));
            let to = &b[b.len() - digits(b)..];
            if let (Ok(from), Ok(to)) = (from.parse::<u32>(), to.parse::<u32>()) {
                return (from..=to).map(|n| format!("{stem}{n}")).collect();
            }
        }
        vec![token.to_owned()]
    }
    split_top(list.trim()).into_iter().flat_map(one).collect()
}

/// The listing with its field lines taken out, and those lines' fields by line.
fn split(listing: &str) -> (Vec<String>, Vec<BTreeSet<String>>) {
    let mut rest = Vec::new();
    let mut fields = vec![BTreeSet::new(); FIELD_LINES.len()];
    for line in listing.lines() {
        match FIELD_LINES.iter().position(|k| line.contains(k)) {
            Some(i) => {
                let list = line.split_once(FIELD_LINES[i]).map_or("", |(_, l)| l);
                fields[i].extend(expand(list));
            }
            None => rest.push(line.to_owned()),
        }
    }
    (rest, fields)
}

#[test]
fn table_features_list_open_vswitch_fields_but_the_missing_ones() {
    let ovs = PrivateOvs::start();
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("tfe")
        .start();
    for sw in [&ovs as &dyn Switch, &fvs] {
        sw.vsctl_ok(&["add-br", "br0"]);
    }
    let missing: BTreeSet<String> = NOT_IN_FERROVS.iter().flat_map(|f| expand(f)).collect();
    for v in ["OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        let args = ["-O", v, "dump-table-features", "br0"];
        let (ours, our_fields) = split(&fvs.ofctl_ok(&args));
        let (theirs, their_fields) = split(&ovs.ofctl_ok(&args));
        assert_eq!(ours, theirs, "dump-table-features in {v}, fields aside");
        for (i, key) in FIELD_LINES.iter().enumerate() {
            let want: BTreeSet<String> = their_fields[i].difference(&missing).cloned().collect();
            assert!(!want.is_empty(), "{key} in {v}: nothing listed");
            assert_eq!(our_fields[i], want, "{key} in {v}");
        }
    }
    // The list is exactly what is missing: each of its fields is one Open vSwitch lists.
    let (_, their_fields) =
        split(&ovs.ofctl_ok(&["-O", "OpenFlow15", "dump-table-features", "br0"]));
    let all: BTreeSet<&String> = their_fields.iter().flatten().collect();
    for f in &missing {
        assert!(all.contains(f), "{f} is not one of Open vSwitch's fields");
    }
}
