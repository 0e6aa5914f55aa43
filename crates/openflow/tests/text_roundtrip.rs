//! The action formatter and parser agree: for every flow of the oracle corpora (shared with
//! `fvs-cli`'s tests), printing the parsed actions and parsing the text again gives the same
//! model, and printing is stable. (What the text must *be* is checked against ovs-ofctl by the
//! CLI's oracle tests; this checks that nothing is lost between the two directions.)

use fvs_flow::Protocols;
use fvs_openflow::FlowModCommand;
use fvs_openflow::text::{format_actions, parse_actions, parse_flow_mod, parse_flow_mod_line};
use std::path::Path;

fn corpus(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/corpus")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn printed_actions_parse_back_to_the_same_model() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in ["seed.txt", "neutron.txt", "actions.txt", "flow_mods.txt"] {
        for line in corpus(file) {
            // Lines ovs-ofctl rejects at the consistency check still parse; lines that do not
            // parse at all have nothing to round-trip.
            let Ok((fm, _)) = parse_flow_mod(&line, FlowModCommand::Add) else {
                continue;
            };
            let mut text = String::new();
            format_actions(&fm.actions, &mut text);
            let mut usable = Protocols::ANY;
            match parse_actions(&text, &mut usable) {
                Ok(again) if again == fm.actions => {
                    let mut text2 = String::new();
                    format_actions(&again, &mut text2);
                    if text2 != text {
                        failures.push(format!("{line}\n  printed {text}\n  then    {text2}"));
                    }
                }
                Ok(again) => failures.push(format!(
                    "{line}\n  printed {text}\n  model   {:?}\n  reparsed {again:?}",
                    fm.actions
                )),
                Err(e) => failures.push(format!("{line}\n  printed {text}\n  error {e}")),
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} corpus lines parsed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn add_flows_lines_take_an_optional_command_keyword() {
    assert!(parse_flow_mod_line("").is_none());
    assert!(parse_flow_mod_line("   ").is_none());
    assert!(parse_flow_mod_line("# a comment").is_none());

    let parsed = |line: &str| match parse_flow_mod_line(line) {
        Some(Ok((fm, _))) => fm,
        other => panic!("{line}: {other:?}"),
    };
    let fm = parsed("priority=1 actions=drop");
    assert_eq!(fm.command, FlowModCommand::Add);
    assert_eq!(fm.priority, 1);

    let fm = parsed("add priority=2,ip actions=output:1");
    assert_eq!(fm.command, FlowModCommand::Add);
    assert_eq!(fm.priority, 2);

    let fm = parsed("modify cookie=0x1/0xff actions=output:3");
    assert_eq!(fm.command, FlowModCommand::Modify);
    assert_eq!((fm.cookie.0, fm.cookie_mask.0), (1, 0xff));

    let fm = parsed("modify_strict priority=3 actions=drop");
    assert_eq!(fm.command, FlowModCommand::ModifyStrict);

    // Deletes need no actions and may select by output port.
    let fm = parsed("delete out_port=3");
    assert_eq!(fm.command, FlowModCommand::Delete);
    assert_eq!(fm.out_port, fvs_flow::PortNo(3));

    let fm = parsed("delete_strict priority=4,ip");
    assert_eq!(fm.command, FlowModCommand::DeleteStrict);
    assert_eq!(fm.priority, 4);
    assert!(fm.actions.is_empty());
}

#[test]
fn add_flows_lines_report_bad_flows() {
    // An add still needs actions, and a delete cannot set a cookie.
    assert!(matches!(
        parse_flow_mod_line("add priority=1"),
        Some(Err(_))
    ));
    assert!(matches!(
        parse_flow_mod_line("delete cookie=0x5"),
        Some(Err(_))
    ));
}
