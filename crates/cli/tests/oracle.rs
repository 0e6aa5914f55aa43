//! Oracle tests: `fvs-ofctl parse-flow(s)` must print byte for byte what `ovs-ofctl` 3.1
//! prints, and succeed or fail alike, for every line of the corpus files under
//! `tests/corpus/` and for every OpenFlow version.
//!
//! Corpus files hold one flow per line; blank lines and lines starting with `#` are comments.
//! `pending.txt` lists flows not yet handled identically; it is not run here (see
//! docs/compat-actions.md). `errors.txt` holds flows that must fail, with the same message.
//!
//! `ovs-ofctl` must be on PATH (CI installs `openvswitch-common`); without it these tests fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fvs_test_support::require_tool;

/// `-O` settings each corpus line is run with; `None` is ovs-ofctl's default.
const VERSIONS: [Option<&str>; 6] = [
    None,
    Some("OpenFlow11"),
    Some("OpenFlow12"),
    Some("OpenFlow13"),
    Some("OpenFlow14"),
    Some("OpenFlow15"),
];

/// Corpus files whose every line is compared with `parse-flow` under every version.
const FLOW_CORPORA: [&str; 8] = [
    "seed.txt",
    "neutron.txt",
    "actions.txt",
    "flow_mods.txt",
    "combos.txt",
    "matches.txt",
    "random.txt",
    "random_fields.txt",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn corpus_lines(file: &str) -> Vec<String> {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Runs one command line under both programs; returns a description of any difference.
fn compare(args: &[&str], compare_stderr: bool) -> Option<String> {
    let want = run("ovs-ofctl", args);
    let got = run(env!("CARGO_BIN_EXE_fvs-ofctl"), args);
    let want_err = fatal_lines(&want.stderr).replace("ovs-ofctl:", "fvs-ofctl:");
    let got_err = fatal_lines(&got.stderr);
    let same = want.stdout == got.stdout
        && want.status.success() == got.status.success()
        && (!compare_stderr || want_err == got_err);
    (!same).then(|| {
        format!(
            "args: {args:?}\n--- ovs-ofctl (success={}):\n{}{}--- fvs-ofctl (success={}):\n{}{}",
            want.status.success(),
            String::from_utf8_lossy(&want.stdout),
            want_err,
            got.status.success(),
            String::from_utf8_lossy(&got.stdout),
            got_err,
        )
    })
}

/// The `program: message` lines of stderr; ovs-ofctl's timestamped log lines
/// (`...|WARN|set_field arp_op lacks correct prerequisites`) are diagnostics, not the message.
fn fatal_lines(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with("ovs-ofctl:") || l.starts_with("fvs-ofctl:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Compares every (line, version) pair of `lines`, on two threads.
fn compare_lines(lines: &[String], compare_stderr: bool) -> (usize, Vec<String>) {
    let jobs: Vec<(String, Option<&str>)> = lines
        .iter()
        .flat_map(|l| VERSIONS.iter().map(move |v| (l.clone(), *v)))
        .collect();
    let total = jobs.len();
    let (a, b) = jobs.split_at(jobs.len() / 2);
    let check = |chunk: &[(String, Option<&str>)]| -> Vec<String> {
        chunk
            .iter()
            .filter_map(|(line, version)| {
                let mut args: Vec<&str> = Vec::new();
                if let Some(v) = version {
                    args.extend(["-O", v]);
                }
                args.extend(["parse-flow", line.as_str()]);
                compare(&args, compare_stderr)
            })
            .collect()
    };
    let mismatches = std::thread::scope(|s| {
        let h = s.spawn(|| check(a));
        let mut m = check(b);
        m.extend(
            h.join()
                .unwrap_or_else(|_| vec!["comparison thread panicked".into()]),
        );
        m
    });
    (total, mismatches)
}

fn assert_no_mismatches(what: &str, total: usize, mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{} of {total} {what} comparisons differ from ovs-ofctl:\n\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn parse_flow_matches_ovs_ofctl_on_every_corpus_line_and_version() {
    let _ = require_tool("ovs-ofctl");
    let mut lines = Vec::new();
    for file in FLOW_CORPORA {
        lines.extend(corpus_lines(file));
    }
    assert!(lines.len() > 100, "the corpus should not be this small");
    let (total, mismatches) = compare_lines(&lines, false);
    assert_no_mismatches("parse-flow", total, &mismatches);
}

#[test]
fn bad_flows_fail_with_ovs_ofctls_message() {
    let _ = require_tool("ovs-ofctl");
    let lines = corpus_lines("errors.txt");
    assert!(!lines.is_empty());
    let (total, mismatches) = compare_lines(&lines, true);
    assert_no_mismatches("error", total, &mismatches);
}

#[test]
fn parse_flows_matches_ovs_ofctl_on_whole_files() {
    let _ = require_tool("ovs-ofctl");
    let mut mismatches = Vec::new();
    let mut total = 0;
    for file in [
        "seed.txt",
        "neutron.txt",
        "mixed.txt",
        "tables.txt",
        "file_syntax.txt",
        "file_errors.txt",
    ] {
        let path = corpus_dir().join(file);
        let path = path.to_string_lossy().to_string();
        for version in VERSIONS {
            let mut args: Vec<&str> = Vec::new();
            if let Some(v) = version {
                args.extend(["-O", v]);
            }
            args.extend(["parse-flows", path.as_str()]);
            total += 1;
            mismatches.extend(compare(&args, true));
        }
    }
    assert_no_mismatches("parse-flows", total, &mismatches);
}

#[test]
fn command_line_errors_match_ovs_ofctl() {
    let _ = require_tool("ovs-ofctl");
    let cases: &[&[&str]] = &[
        &["parse-flow"],
        &["parse-flow", "actions=drop", "extra"],
        &["no-such-command"],
        &["-O", "OpenFlow99", "parse-flow", "actions=drop"],
        &["parse-flows", "/nonexistent/flows.txt"],
        &["-O", "OpenFlow13", "parse-flow", "actions=strip_vlan"],
        &[
            "-O",
            "OpenFlow10,OpenFlow13",
            "parse-flow",
            "actions=meter:1",
        ],
        &[
            "-O",
            "OpenFlow11,OpenFlow12",
            "parse-flow",
            "actions=output:1",
        ],
        &[
            "-O",
            "OpenFlow13,OpenFlow15",
            "parse-flow",
            "tcp,actions=set_field:0x50/0xf0->tcp_dst",
        ],
        &["-O", "openflow13", "parse-flow", "actions=drop"],
        &[
            "-O",
            "OpenFlow13",
            "-O",
            "OpenFlow10",
            "parse-flow",
            "actions=drop",
        ],
        &["-OOpenFlow13", "parse-flow", "actions=drop"],
        &["--protocols=OpenFlow13", "parse-flow", "actions=drop"],
        &["--protocols", "OpenFlow14", "parse-flow", "actions=drop"],
        &["-O", "OpenFlow10", "parse-flow", "table=3,actions=output:1"],
    ];
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|args| compare(args, true))
        .collect();
    assert_no_mismatches("command-line", cases.len(), &mismatches);
}
