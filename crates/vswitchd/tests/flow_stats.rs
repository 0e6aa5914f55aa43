//! Real `ovs-ofctl dump-flows`, `dump-aggregate` and `dump-desc` against fvs-vswitchd's
//! br-tun print what they print against a real ovs-vswitchd (Open vSwitch 3.1,
//! `--enable-dummy=override`) holding the same flows: the seed's br-tun flows, loaded with
//! `ovs-ofctl add-flows`. Durations and ages are normalised; the description's text differs
//! by nature, its layout must not.

mod common;

use common::{Fvs, ofctl};
use fvs_test_support::PrivateOvs;
use fvs_test_support::{SEED_BR_TUN_FLOWS_PATH as SEED_FLOWS_PATH, SEED_BR_TUN_VSCTL as BR_TUN};

/// Times vary between the two daemons: `duration`, `idle_age` and `hard_age` become
/// placeholders, as does the xid (ovs-ofctl's own counter, the same for both but not worth
/// depending on).
fn normalise(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split(", ")
                .map(|part| {
                    let lead = part.len() - part.trim_start().len();
                    let (indent, p) = part.split_at(lead);
                    for key in ["duration=", "idle_age=", "hard_age="] {
                        if p.starts_with(key) {
                            return format!("{indent}{key}N");
                        }
                    }
                    part.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The description's values differ by nature (manufacturer, software, datapath); the lines
/// and their order must not.
fn desc_layout(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.split_once(": ") {
            Some((k, _)) if !l.starts_with("OFPST_DESC") => format!("{k}: VALUE"),
            _ => l.to_string(),
        })
        .collect()
}

#[test]
fn dump_flows_aggregate_and_desc_read_as_on_ovs_vswitchd() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("fvs-stats");
    for cmd in BR_TUN {
        ovs.vsctl(cmd).unwrap_or_else(|e| panic!("{e}"));
        fvs.vsctl(cmd);
    }
    let flows = SEED_FLOWS_PATH;
    let theirs = format!("unix:{}", ovs.dir().join("br-tun.mgmt").display());
    let ours = format!("unix:{}", fvs.mgmt("br-tun").display());
    for target in [&theirs, &ours] {
        let (ok, _, err) = ofctl(&[], "add-flows", target, &[flows]);
        assert!(ok, "add-flows to {target}: {err}");
    }
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&[], "dump-flows", &[]),
        (&["-O", "OpenFlow13"], "dump-flows", &[]),
        (&["-O", "OpenFlow10"], "dump-flows", &[]),
        (&["-O", "OpenFlow14"], "dump-flows", &[]),
        (&[], "dump-flows", &["table=2"]),
        (&[], "dump-flows", &["dl_vlan=1"]),
        (&["-O", "OpenFlow13"], "dump-flows", &["table=22"]),
        (&[], "dump-flows", &["out_port=2"]),
        (&["--no-stats"], "dump-flows", &[]),
        (&[], "dump-aggregate", &[]),
        (&["-O", "OpenFlow13"], "dump-aggregate", &["table=0"]),
    ];
    for (opts, cmd, args) in cases {
        let t = ofctl(opts, cmd, &theirs, args);
        let u = ofctl(opts, cmd, &ours, args);
        assert!(
            t.0,
            "ovs-ofctl {opts:?} {cmd} {args:?} against ovs-vswitchd: {}",
            t.2
        );
        let t_out = normalise(&t.1);
        let u_out = normalise(&u.1);
        // Every case selects something: a header alone would compare equal too easily.
        let selected = if *cmd == "dump-flows" {
            t_out.lines().count() > 1
        } else {
            !t_out.contains("flow_count=0")
        };
        assert!(selected, "{t_out}");
        assert_eq!(
            (u.0, u_out, u.2.replace(&ours, "TARGET")),
            (t.0, t_out, t.2.replace(&theirs, "TARGET")),
            "ovs-ofctl {opts:?} {cmd} {args:?}"
        );
    }
    for opts in [&[][..], &["-O", "OpenFlow13"][..]] {
        let t = ofctl(opts, "dump-desc", &theirs, &[]);
        let u = ofctl(opts, "dump-desc", &ours, &[]);
        assert!(t.0 && u.0, "dump-desc {opts:?}: {} / {}", t.2, u.2);
        assert_eq!(desc_layout(&u.1), desc_layout(&t.1), "dump-desc {opts:?}");
    }
}
