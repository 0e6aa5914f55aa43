//! Oracle tests: `fvs-ofctl` managing a real `ovs-vswitchd`.
//!
//! Two private Open vSwitch instances get the same bridge; the same command sequence runs
//! through `ovs-ofctl` against one and `fvs-ofctl` against the other (target
//! `unix:<rundir>/br0.mgmt`). After every command the exit status, standard output and
//! standard error must agree (program name and transaction ids normalised: ovs-ofctl opens
//! helper connections first, so its ids are higher), and so must both switches' flow tables
//! as `ovs-ofctl dump-flows --no-stats` reads them.
//!
//! `ovs-ofctl` and `ovs-vswitchd` must be installed (CI installs `openvswitch-switch`);
//! without them these tests fail.

use fvs_test_support::{AddBridge, PrivateOvs, SEED_BR_TUN_FLOWS_PATH};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One command's observable result.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Replaces `xid=0x…` with `xid=X`, flow durations and ages (which depend on timing) with
/// `D` and `A`, and the program name with `ofctl`.
fn normalise(text: &str, program: &str) -> String {
    let mut text = text.to_string();
    for (key, with) in [
        ("xid=0x", "xid=X"),
        ("duration=", "duration=D"),
        ("idle_age=", "idle_age=A"),
        ("hard_age=", "hard_age=A"),
    ] {
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(key) {
            out.push_str(&rest[..i]);
            out.push_str(with);
            rest = rest[i + key.len()..]
                .trim_start_matches(|c: char| c.is_ascii_hexdigit() || c == '.');
        }
        out.push_str(rest);
        text = out;
    }
    text.replace(&format!("{program}:"), "ofctl:")
}

fn run(program: &str, ovs: &PrivateOvs, args: &[String], stdin: Option<&str>) -> Outcome {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("OVS_RUNDIR", ovs.dir())
        .env("FVS_RUNDIR", ovs.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        // A command that does not read stdin may close it first; that is not a failure.
        let _ = pipe.write_all(stdin.unwrap_or("").as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{program} did not finish: {e}"));
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Outcome {
        status: out.status.code(),
        stdout: normalise(&String::from_utf8_lossy(&out.stdout), &name),
        stderr: normalise(&String::from_utf8_lossy(&out.stderr), &name),
    }
}

fn switch_with_bridge() -> PrivateOvs {
    let ovs = PrivateOvs::start();
    ovs.vsctl(&[
        "add-br",
        "br0",
        "--",
        "set",
        "bridge",
        "br0",
        "protocols=OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15",
    ])
    .unwrap_or_else(|e| panic!("add-br: {e}"));
    ovs
}

fn flows(ovs: &PrivateOvs) -> String {
    let target = format!("unix:{}", ovs.dir().join("br0.mgmt").display());
    ovs.ofctl(&["-O", "OpenFlow13", "dump-flows", &target, "--no-stats"])
        .unwrap_or_else(|e| panic!("dump-flows: {e}"))
}

fn seed_flows() -> PathBuf {
    Path::new(SEED_BR_TUN_FLOWS_PATH).to_path_buf()
}

/// Runs `steps` (arguments with `TARGET` standing for the switch, and optional stdin)
/// through both programs and asserts the same outcomes and flow tables after each; returns
/// ovs-ofctl's outcomes and the flow tables after each step.
fn compare(steps: &[(Vec<&str>, Option<&str>)]) -> Vec<(Outcome, String)> {
    compare_on(&switch_with_bridge(), &switch_with_bridge(), steps)
}

/// [`compare`] on two switches the caller prepared alike (`real` for ovs-ofctl, `ours` for
/// fvs-ofctl).
fn compare_on(
    real: &PrivateOvs,
    ours: &PrivateOvs,
    steps: &[(Vec<&str>, Option<&str>)],
) -> Vec<(Outcome, String)> {
    let mut seen = Vec::new();
    let fvs = env!("CARGO_BIN_EXE_fvs-ofctl");
    for (args, stdin) in steps {
        let expand = |ovs: &PrivateOvs| -> Vec<String> {
            let target = format!("unix:{}", ovs.dir().join("br0.mgmt").display());
            args.iter().map(|a| a.replace("TARGET", &target)).collect()
        };
        let want = run("ovs-ofctl", real, &expand(real), *stdin);
        let got = run(fvs, ours, &expand(ours), *stdin);
        // Paths differ between the two instances; compare with each instance's dir masked.
        let mask = |o: Outcome, ovs: &PrivateOvs| {
            let d = ovs.dir().display().to_string();
            Outcome {
                status: o.status,
                stdout: o.stdout.replace(&d, "DIR"),
                stderr: o.stderr.replace(&d, "DIR"),
            }
        };
        let want = mask(want, real);
        assert_eq!(mask(got, ours), want, "step {args:?}");
        let table = flows(real);
        assert_eq!(flows(ours), table, "flow tables after {args:?}");
        seen.push((want, table));
    }
    seen
}

#[test]
fn flow_commands_act_and_fail_as_with_ovs_ofctl() {
    let seed = seed_flows().display().to_string();
    let seed_text = std::fs::read_to_string(&seed).unwrap_or_else(|e| panic!("{seed}: {e}"));
    let steps: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["add-flows", "TARGET", &seed], None),
        (vec!["del-flows", "TARGET"], None),
        (
            vec!["-O", "OpenFlow13", "add-flows", "TARGET", "-"],
            Some(&seed_text),
        ),
        (
            vec![
                "add-flow",
                "TARGET",
                "priority=5,ip,nw_src=1.2.3.4,actions=drop",
            ],
            None,
        ),
        (
            vec![
                "add-flow",
                "TARGET",
                "check_overlap,priority=5,ip,actions=drop",
            ],
            None,
        ),
        (
            vec![
                "-O",
                "OpenFlow13",
                "add-flow",
                "TARGET",
                "check_overlap,priority=5,ip,actions=drop",
            ],
            None,
        ),
        (
            vec!["add-flow", "TARGET", "table=254,reg0=1,actions=drop"],
            None,
        ),
        (
            vec![
                "add-flow",
                "TARGET",
                "table=3,priority=7,reg0=1,actions=drop",
            ],
            None,
        ),
        (vec!["mod-flows", "TARGET", "reg0=1,actions=output:1"], None),
        (
            vec![
                "--strict",
                "mod-flows",
                "TARGET",
                "table=3,priority=8,reg0=1,actions=drop",
            ],
            None,
        ),
        (
            vec![
                "--strict",
                "del-flows",
                "TARGET",
                "table=3,priority=7,reg0=1",
            ],
            None,
        ),
        (
            vec!["-O", "OpenFlow13", "del-flows", "TARGET", "table=2"],
            None,
        ),
        (vec!["del-flows", "TARGET", "ip"], None),
        (vec!["add-flow", "TARGET", "priority=x,actions=drop"], None),
        (vec!["del-flows", "TARGET"], None),
    ];
    let seen = compare(&steps);
    // The sequence exercised what it means to: the seed's flows went in, refusals were
    // refusals.
    assert!(seen[0].1.contains("resubmit(,2)"), "{}", seen[0].1);
    assert!(seen[2].1.contains("learn("), "{}", seen[2].1);
    assert!(
        seen[4].0.stderr.contains("OFPFMFC_OVERLAP"),
        "{:?}",
        seen[4].0
    );
    assert!(seen[5].0.stderr.contains("(OF1.3)"), "{:?}", seen[5].0);
    assert!(seen[6].0.stderr.contains("OFPBRC_EPERM"), "{:?}", seen[6].0);
    assert_eq!(seen[13].0.status, Some(1));
    assert_eq!(seen.last().map(|s| s.1.trim()), Some(""));
}

#[test]
fn statistics_dumps_print_as_with_ovs_ofctl() {
    let seed = seed_flows().display().to_string();
    let steps: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["add-flows", "TARGET", &seed], None),
        (
            vec![
                "add-flow",
                "TARGET",
                "table=3,cookie=0x5,priority=7,idle_timeout=10,hard_timeout=20,reg0=1,actions=drop",
            ],
            None,
        ),
        (
            vec![
                "-O",
                "OpenFlow14",
                "add-flow",
                "TARGET",
                "table=4,send_flow_rem,importance=5,priority=3,ip,actions=drop",
            ],
            None,
        ),
        (
            vec!["mod-flows", "TARGET", "table=3,reg0=1,actions=output:2"],
            None,
        ),
        (vec!["dump-flows", "TARGET"], None),
        (vec!["-O", "OpenFlow13", "dump-flows", "TARGET"], None),
        (
            vec!["-O", "OpenFlow14", "dump-flows", "TARGET", "table=4"],
            None,
        ),
        (vec!["dump-flows", "TARGET", "table=3"], None),
        (vec!["--no-stats", "dump-flows", "TARGET"], None),
        (
            vec!["-O", "OpenFlow13", "--no-stats", "dump-flows", "TARGET"],
            None,
        ),
        (vec!["dump-flows", "TARGET", "cookie=0/-1,table=4"], None),
        (vec!["dump-flows", "TARGET", "out_port=1"], None),
        (vec!["--sort", "dump-flows", "TARGET"], None),
        (
            vec!["--rsort", "-O", "OpenFlow13", "dump-flows", "TARGET"],
            None,
        ),
        (vec!["dump-flows", "TARGET", "cookie=5"], None),
        (vec!["dump-flows", "TARGET", "priority=3,ip"], None),
        (vec!["dump-aggregate", "TARGET"], None),
        (
            vec!["-O", "OpenFlow13", "dump-aggregate", "TARGET", "table=3"],
            None,
        ),
        (vec!["dump-desc", "TARGET"], None),
        (vec!["-O", "OpenFlow13", "dump-desc", "TARGET"], None),
    ];
    let seen = compare(&steps);
    // The dumps said something: headers in each protocol's form, the filtered flow, the
    // aggregate's count, the refusals.
    assert!(
        seen[4].0.stdout.starts_with("NXST_FLOW reply"),
        "{:?}",
        seen[4].0
    );
    assert!(
        seen[4]
            .0
            .stdout
            .contains("idle_timeout=10, hard_timeout=20, idle_age=A"),
        "{:?}",
        seen[4].0
    );
    assert!(
        seen[5].0.stdout.starts_with("OFPST_FLOW reply (OF1.3)"),
        "{:?}",
        seen[5].0
    );
    assert!(seen[6].0.stdout.contains("importance=5"), "{:?}", seen[6].0);
    assert!(
        seen[10].0.stdout.contains("priority=3,ip"),
        "{:?}",
        seen[10].0
    );
    assert_eq!(seen[14].0.status, Some(1));
    assert_eq!(seen[15].0.status, Some(1));
    assert!(
        seen[16].0.stdout.contains("flow_count="),
        "{:?}",
        seen[16].0
    );
    assert!(
        seen[18].0.stdout.contains("Manufacturer:"),
        "{:?}",
        seen[18].0
    );
}

/// Open vSwitch keeps hidden rules in table 254 (`recirc_id=0` drops, `controller(reason=)`
/// with its internal miss reason): dumps that name the table, filter on the fields those
/// rules match, or dump everything in OpenFlow 1.3 to 1.5 show them, and fvs-ofctl must read
/// and print them as ovs-ofctl does.
#[test]
fn hidden_table_254_rules_print_as_with_ovs_ofctl() {
    let mut steps: Vec<(Vec<&str>, Option<&str>)> = vec![(
        vec!["add-flow", "TARGET", "priority=5,in_port=1,actions=drop"],
        None,
    )];
    for version in ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        for filter in [
            "table=254",
            "table=254,reg0=0x1",
            "recirc_id=0",
            "table=254,recirc_id=0",
        ] {
            steps.push((vec!["-O", version, "dump-flows", "TARGET", filter], None));
        }
        steps.push((
            vec!["-O", version, "--sort", "dump-flows", "TARGET", "table=254"],
            None,
        ));
        steps.push((
            vec!["-O", version, "dump-aggregate", "TARGET", "table=254"],
            None,
        ));
    }
    steps.push((
        vec!["--no-stats", "dump-flows", "TARGET", "table=254"],
        None,
    ));
    let seen = compare(&steps);
    let of15 = seen
        .iter()
        .find(|s| s.0.stdout.starts_with("OFPST_FLOW reply (OF1.5)"))
        .map(|s| s.0.stdout.as_str())
        .unwrap_or_default();
    assert!(
        of15.contains("table=254,") && of15.contains("priority=2,recirc_id=0 actions=drop"),
        "{of15}"
    );
    assert!(of15.contains("actions=controller(reason=)"), "{of15}");
}

/// A group action in OpenFlow 1.0, which has none of its own: packet-outs and flow-mods carry
/// Nicira's `NXAST_GROUP`. fvs-ofctl must send what ovs-ofctl sends: the same answers, the
/// same flows, and the packet-outs' frames leaving through the group's bucket.
#[test]
fn group_actions_travel_in_openflow10_as_with_ovs_ofctl() {
    let frame = "ffffffffffff000000000004080600010800060400010000000000040a000004000000000000\
                 0a000002";
    let setup = |ovs: &PrivateOvs| {
        let pcap = format!("options:tx_pcap={}", ovs.dir().join("p2.pcap").display());
        for args in [
            vec![
                "add-port",
                "br0",
                "p1",
                "--",
                "set",
                "interface",
                "p1",
                "ofport_request=1",
            ],
            vec![
                "add-port",
                "br0",
                "p2",
                "--",
                "set",
                "interface",
                "p2",
                "ofport_request=2",
                &pcap,
            ],
        ] {
            ovs.vsctl(&args).unwrap_or_else(|e| panic!("{e}"));
        }
        let target = format!("unix:{}", ovs.dir().join("br0.mgmt").display());
        ovs.ofctl(&[
            "-O",
            "OpenFlow13",
            "add-group",
            &target,
            "group_id=1,type=all,bucket=output:2",
        ])
        .unwrap_or_else(|e| panic!("add-group: {e}"));
    };
    let real = switch_with_bridge();
    let ours = switch_with_bridge();
    setup(&real);
    setup(&ours);
    let fvs = env!("CARGO_BIN_EXE_fvs-ofctl");
    let packet_out = format!("in_port=1 packet={frame} actions=group:1");
    let steps: Vec<Vec<&str>> = vec![
        vec!["packet-out", "TARGET", &packet_out],
        vec![
            "-O",
            "OpenFlow10",
            "packet-out",
            "TARGET",
            "1",
            "group:1",
            frame,
        ],
        vec![
            "-O",
            "OpenFlow10",
            "add-flow",
            "TARGET",
            "priority=5,in_port=1,actions=group:1",
        ],
        vec!["-O", "OpenFlow10", "dump-flows", "TARGET"],
        vec![
            "-O",
            "OpenFlow10",
            "packet-out",
            "TARGET",
            "1",
            "group:9",
            frame,
        ],
    ];
    for args in &steps {
        let expand = |ovs: &PrivateOvs| -> Vec<String> {
            let target = format!("unix:{}", ovs.dir().join("br0.mgmt").display());
            args.iter().map(|a| a.replace("TARGET", &target)).collect()
        };
        let mask = |o: Outcome, ovs: &PrivateOvs| {
            let d = ovs.dir().display().to_string();
            Outcome {
                status: o.status,
                stdout: o.stdout.replace(&d, "DIR"),
                stderr: o.stderr.replace(&d, "DIR"),
            }
        };
        let want = mask(run("ovs-ofctl", &real, &expand(&real), None), &real);
        let got = mask(run(fvs, &ours, &expand(&ours), None), &ours);
        assert_eq!(got, want, "step {args:?}");
    }
    let sent = |ovs: &PrivateOvs| {
        fvs_test_support::frames::pcap_frames_or_empty(&ovs.dir().join("p2.pcap"))
    };
    assert_eq!(sent(&ours), sent(&real), "frames out of p2");
    assert_eq!(
        sent(&ours).len(),
        2,
        "both packet-outs went through the group"
    );
    let flows = flows(&ours);
    assert!(flows.contains("actions=group:1"), "{flows}");
}

/// A switch whose bridge speaks every version ovs-ofctl and fvs-ofctl test here, with dummy
/// ports p1 and p2 and a fixed address.
fn with_all_versions() -> PrivateOvs {
    let ovs = switch_with_bridge();
    let words = AddBridge::existing("br0")
        .set(&[
            "protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow15",
            // The same bridge address on both, so the datapath ids agree.
            "other_config:hwaddr=\"02:00:00:00:00:99\"",
        ])
        .port("p1", &["ofport_request=1"])
        .port("p2", &["ofport_request=2"]);
    ovs.vsctl(&words.args()).unwrap_or_else(|e| panic!("{e}"));
    ovs
}

/// OpenFlow 1.1 and 1.2 sessions: `show` (ports in the features reply, 1.1's ARP_MATCH_IP),
/// port descriptions, port statistics and port-mods read and act as with ovs-ofctl; and
/// `dump-ports-desc` of one port in several versions.
#[test]
fn openflow11_and_12_port_commands_read_as_with_ovs_ofctl() {
    let (real, ours) = (with_all_versions(), with_all_versions());
    let mut steps: Vec<(Vec<&str>, Option<&str>)> = Vec::new();
    for v in ["OpenFlow11", "OpenFlow12"] {
        steps.extend([
            (vec!["-O", v, "show", "TARGET"], None),
            (
                vec!["-O", v, "mod-port", "TARGET", "p1", "no-receive"],
                None,
            ),
            (vec!["-O", v, "mod-port", "TARGET", "2", "down"], None),
            (vec!["-O", v, "dump-ports-desc", "TARGET"], None),
            (vec!["-O", v, "dump-ports", "TARGET"], None),
            (vec!["-O", v, "dump-ports", "TARGET", "2"], None),
            (vec!["-O", v, "mod-port", "TARGET", "9", "up"], None),
            (vec!["-O", v, "mod-port", "TARGET", "p1", "receive"], None),
            (vec!["-O", v, "mod-port", "TARGET", "2", "up"], None),
        ]);
    }
    // One port's description: only OpenFlow 1.5's request can name it (a port name costs a
    // lookup first); the others list every port.
    for v in ["OpenFlow10", "OpenFlow12", "OpenFlow15"] {
        for port in ["2", "p1", "LOCAL", "nosuch"] {
            steps.push((vec!["-O", v, "dump-ports-desc", "TARGET", port], None));
        }
    }
    let seen = compare_on(&real, &ours, &steps);
    // The ports printed, with 1.1's own capability, and the port-mods showed.
    assert!(
        seen[0].0.stdout.contains("QUEUE_STATS ARP_MATCH_IP"),
        "{:?}",
        seen[0].0
    );
    assert!(seen[3].0.stdout.contains("NO_RECV"), "{:?}", seen[3].0);
    assert!(seen[3].0.stdout.contains("PORT_DOWN"), "{:?}", seen[3].0);
}

/// `dump-tables` in every version, OpenFlow 1.1 and 1.2 included (whose statistics carry each
/// table's abilities), with tables that differ in the middle and at the end.
#[test]
fn table_statistics_print_in_every_version_as_with_ovs_ofctl() {
    let (real, ours) = (with_all_versions(), with_all_versions());
    let mut steps: Vec<(Vec<&str>, Option<&str>)> = vec![
        (
            vec!["add-flow", "TARGET", "table=2,priority=1,actions=drop"],
            None,
        ),
        (
            vec!["add-flow", "TARGET", "table=253,priority=1,actions=drop"],
            None,
        ),
        (vec!["dump-tables", "TARGET"], None),
    ];
    for v in [
        "OpenFlow10",
        "OpenFlow11",
        "OpenFlow12",
        "OpenFlow13",
        "OpenFlow15",
    ] {
        steps.push((vec!["-O", v, "dump-tables", "TARGET"], None));
    }
    let seen = compare_on(&real, &ours, &steps);
    let of12 = &seen[5].0.stdout;
    assert!(
        of12.starts_with("OFPST_TABLE reply (OF1.2)")
            && of12.contains("supported on Set-Field: metadata in_port_oxm eth_{src,dst}")
            && of12.contains("(same matching)"),
        "{of12}"
    );
}
