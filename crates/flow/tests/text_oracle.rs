//! Every line of `tests/corpus/matches.txt` is parsed and printed by ferrovs and by
//! `ovs-ofctl parse-flow`; the printed match and the usable protocols must be identical, and
//! lines one rejects the other must reject too.

mod common;

use common::{Oracle, parse_flow};
use fvs_flow::text::{MatchParseError, format_match, parse_match_field};
use fvs_flow::{Match, Protocols, usable_protocols};

/// What ferrovs makes of a corpus line: the printed match and usable protocols, as
/// `ovs-ofctl parse-flow` would show them.
fn ours(line: &str) -> Result<(String, Protocols), MatchParseError> {
    let mut m = Match::CATCHALL;
    let mut usable = Protocols::ANY;
    let mut priority = 32768;
    // Commas inside parentheses (`packet_type=(1,0x800)`) do not separate items.
    let mut depth = 0u32;
    for token in line
        .split(|c: char| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 && (c == ',' || c.is_ascii_whitespace())
        })
        .filter(|t| !t.is_empty())
    {
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (token, None),
        };
        if name == "priority" {
            priority = value.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                panic!("corpus line {line:?} has a bad priority");
            });
            continue;
        }
        parse_match_field(&mut m, name, value, &mut usable)?;
    }
    usable = usable.and(usable_protocols(&m));
    // ovs-ofctl drops fields lacking prerequisites before it encodes the flow.
    m.normalize();
    let mut text = String::new();
    format_match(&m, priority, &mut text);
    Ok((text, usable))
}

#[test]
fn corpus_matches_ovs_ofctl() {
    let corpus = include_str!("corpus/matches.txt");
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in corpus.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        checked += 1;
        let (line, expect_reject, same_message) = match line.strip_prefix("!=") {
            Some(rest) => (rest.trim(), true, true),
            None => match line.strip_prefix('!') {
                Some(rest) => (rest.trim(), true, false),
                None => (line, false, false),
            },
        };
        let oracle = parse_flow(line);
        let mine = ours(line);
        match (&oracle, &mine) {
            (Oracle::Ok { usable, text }, Ok((my_text, my_usable))) => {
                if expect_reject {
                    failures.push(format!("{line}: marked as rejected, ovs-ofctl accepts it"));
                }
                if text != my_text {
                    failures.push(format!(
                        "{line}:\n  ovs-ofctl: {text}\n  ferrovs:   {my_text}"
                    ));
                }
                if usable != my_usable {
                    failures.push(format!(
                        "{line}: usable protocols: ovs-ofctl {usable:?}, ferrovs {my_usable:?}"
                    ));
                }
            }
            (Oracle::Err(theirs), Err(e)) => {
                if !expect_reject {
                    failures.push(format!("{line}: both reject it; mark it with `!`"));
                }
                if same_message && *theirs != e.to_string() {
                    failures.push(format!("{line}:\n  ovs-ofctl: {theirs}\n  ferrovs:   {e}"));
                }
            }
            (Oracle::Ok { text, .. }, Err(e)) => {
                failures.push(format!(
                    "{line}: ovs-ofctl accepts it ({text}), ferrovs: {e}"
                ));
            }
            (Oracle::Err(theirs), Ok((my_text, _))) => {
                failures.push(format!(
                    "{line}: ovs-ofctl rejects it ({theirs}), ferrovs prints {my_text}"
                ));
            }
        }
    }
    assert!(checked > 400, "corpus too small: {checked} lines");
    assert!(
        failures.is_empty(),
        "{} of {checked} corpus lines disagree with ovs-ofctl:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
