//! fvs-vsctl against Open vSwitch 3.1's ovs-vsctl, side by side.
//!
//! Each scenario starts two real `ovsdb-server`s, runs every command line through
//! `ovs-vsctl --no-wait` against one and `fvs-vsctl --no-wait` against the other, and requires
//! the same stdout, stderr and exit status, then the same database contents
//! (`ovsdb-client dump`). Normalised away: UUIDs, the program name, the log prefix of
//! warnings, and orders that ovs-vsctl takes from hash tables (rows of `list`/`find`,
//! sibling bridges, ports and interfaces of `show`).
//!
//! The Open vSwitch tools are required: if they are missing the tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::Command;

use fvs_test_support::{PrivateOvsdb, require_tool, sort_show_siblings};

const OUR_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/vswitch.ovsschema");
const OVS_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A real ovsdb-server in its own directory, killed (by its own pid) on drop.
struct Server {
    db: PrivateOvsdb,
}

impl Server {
    fn start(schema: &str) -> Self {
        Self {
            db: PrivateOvsdb::start(schema),
        }
    }

    fn db(&self) -> String {
        format!("--db={}", self.db.target())
    }

    /// The database's contents, UUIDs masked and rows sorted.
    fn dump(&self) -> String {
        let out = require_tool("ovsdb-client")
            .command()
            .arg("dump")
            .arg(self.db.target())
            .arg("Open_vSwitch")
            .output()
            .expect("ovsdb-client runs");
        assert!(out.status.success(), "ovsdb-client dump failed");
        let text = mask_uuids(&String::from_utf8_lossy(&out.stdout));
        // Tables are separated by blank lines; sort the rows of each (after the heading and
        // the dashes).
        let mut tables = Vec::new();
        for block in text.split("\n\n") {
            let mut lines: Vec<&str> = block.lines().collect();
            let body = lines.split_off(lines.len().min(3));
            let mut body = body;
            body.sort_unstable();
            lines.extend(body);
            tables.push(lines.join("\n"));
        }
        tables.join("\n\n")
    }
}

/// Replaces every UUID by `<uuid>`.
fn mask_uuids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
    })
}

/// Output normalised for comparison.
fn normalise(args: &[&str], stdout: &str, stderr: &str, code: Option<i32>) -> String {
    let stdout = mask_uuids(stdout);
    let stdout = if args.contains(&"show") {
        sort_show_siblings(&stdout)
            .trim_end_matches('\n')
            .to_owned()
    } else if args.iter().any(|a| *a == "list" || *a == "find")
        && !args.iter().any(|a| a.starts_with("--format="))
    {
        // Records are separated by blank lines, in hash order.
        let mut recs: Vec<&str> = stdout.trim_end_matches('\n').split("\n\n").collect();
        recs.sort_unstable();
        recs.join("\n\n")
    } else {
        stdout
    };
    let stderr: Vec<String> = mask_uuids(stderr)
        .lines()
        .map(|l| {
            let l = l
                .replacen("ovs-vsctl: ", "vsctl: ", 1)
                .replacen("fvs-vsctl: ", "vsctl: ", 1);
            // `TIME|SEQ|MODULE|WARN|message`, from db_ctl_base or vsctl.
            match l.find("|WARN|") {
                Some(at) => format!("vsctl: {}", &l[at + "|WARN|".len()..]),
                None => l,
            }
        })
        .collect();
    format!(
        "{stdout}\n--stderr--\n{}\n--status {code:?}--",
        stderr.join("\n")
    )
}

fn run(program: &Path, server: &Server, args: &[&str]) -> String {
    let out = Command::new(program)
        .arg("--no-wait")
        .arg(server.db())
        .args(args)
        .output()
        .expect("vsctl runs");
    normalise(
        args,
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
        out.status.code(),
    )
}

/// Runs `script` through both programs; `ovs_schema` is the schema of ovs-vsctl's server.
fn compare(ovs_schema: &str, script: &[&[&str]]) {
    let ovs = require_tool("ovs-vsctl").path().to_owned();
    let fvs = PathBuf::from(env!("CARGO_BIN_EXE_fvs-vsctl"));
    let a = Server::start(ovs_schema);
    let b = Server::start(OUR_SCHEMA);
    let mut failures = Vec::new();
    for args in script {
        let want = run(&ovs, &a, args);
        let got = run(&fvs, &b, args);
        if want != got {
            failures.push(format!(
                "{args:?}\n  ovs-vsctl: {want:?}\n  fvs-vsctl: {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(a.dump(), b.dump(), "database contents differ");
}

/// The seed's compute node (WALKTHROUGH.md §1).
const SEED: &[&[&str]] = &[
    &["init"],
    &[
        "add-br",
        "br-int",
        "--",
        "set-fail-mode",
        "br-int",
        "secure",
    ],
    &["add-port", "br-int", "qvo37b25c08-e8", "tag=1"],
    &["add-port", "br-int", "qvo155845ae-5e", "tag=1"],
    &[
        "add-port",
        "br-int",
        "patch-tun",
        "--",
        "set",
        "Interface",
        "patch-tun",
        "type=patch",
        "options:peer=patch-int",
    ],
    &["add-br", "br-tun"],
    &[
        "add-port",
        "br-tun",
        "patch-int",
        "--",
        "set",
        "Interface",
        "patch-int",
        "type=patch",
        "options:peer=patch-tun",
    ],
    &[
        "add-port",
        "br-tun",
        "gre-0a000115",
        "--",
        "set",
        "Interface",
        "gre-0a000115",
        "type=gre",
        "options:df_default=true",
        "options:in_key=flow",
        "options:local_ip=10.0.1.31",
        "options:out_key=flow",
        "options:remote_ip=10.0.1.21",
    ],
    &["set", "Open_vSwitch", ".", "ovs_version=2.0.2"],
    &["show"],
    &["list-br"],
    &["list-ports", "br-int"],
    &["list-ifaces", "br-tun"],
    &["port-to-br", "patch-tun"],
    &["iface-to-br", "gre-0a000115"],
    &["get-fail-mode", "br-int"],
    &[
        "get",
        "Interface",
        "gre-0a000115",
        "options",
        "options:remote_ip",
        "type",
    ],
    &["--columns=name,tag", "find", "Port", "tag=1"],
    &["list", "Bridge", "br-tun"],
    &[
        "--format=table",
        "--columns=name,tag,trunks",
        "list",
        "Port",
        "qvo155845ae-5e",
    ],
    &[
        "--format=csv",
        "--columns=name,options",
        "list",
        "Interface",
        "gre-0a000115",
    ],
    &[
        "--format=json",
        "--columns=name,external_ids",
        "list",
        "Bridge",
        "br-int",
    ],
    &[
        "--bare",
        "--columns=name",
        "find",
        "Interface",
        "type=patch",
    ],
    &["--oneline", "list-br", "--", "br-to-vlan", "br-int"],
];

/// Errors, idempotence options, fake bridges, controllers and the generic commands.
const OTHERS: &[&[&str]] = &[
    &["add-br", "br0"],
    &["add-br", "br0"],
    &["--may-exist", "add-br", "br0"],
    &["add-port", "br0", "p1"],
    &["add-port", "br0", "p1"],
    &["--may-exist", "add-port", "br0", "p1"],
    &["add-br", "br1"],
    &["--may-exist", "add-port", "br1", "p1"],
    &["del-br", "nosuch"],
    &["--if-exists", "del-br", "nosuch"],
    &["br-exists", "nosuch"],
    &["br-exists", "br0"],
    &["add-br", "vlan5", "br0", "5"],
    &["add-br", "vlan9", "br0", "4096"],
    &["add-br", "vlan9", "nosuch", "9"],
    &["--may-exist", "add-br", "vlan5", "br0", "6"],
    &["add-port", "vlan5", "vm1"],
    &["list-br"],
    &["br-to-vlan", "vlan5"],
    &["br-to-parent", "vlan5"],
    &["list-ports", "vlan5"],
    &["port-to-br", "vm1"],
    &["del-port", "vlan5", "p1"],
    &["del-port", "nosuch"],
    &["--if-exists", "del-port", "nosuch"],
    &["set-fail-mode", "br0", "bogus"],
    &[
        "set-controller",
        "br0",
        "tcp:10.0.0.1:6653",
        "tcp:10.0.0.2:6653",
    ],
    &["get-controller", "br0"],
    &["set-manager", "ptcp:6640"],
    &["get-manager"],
    &["show"],
    &["del-controller", "br0"],
    &["del-manager"],
    &["br-set-external-id", "br0", "bridge-id", "br0"],
    &["br-get-external-id", "br0"],
    &["br-set-external-id", "vlan5", "k", "v"],
    &["br-get-external-id", "vlan5", "k"],
    &["get", "Bridge", "br0", "nosuchcol"],
    &["list", "nosuchtable"],
    &["get", "Bridge", "nosuch", "name"],
    &["frobnicate"],
    &["set", "Port", "p1", "tag=4096"],
    &["set", "Port", "p1", "tag=x"],
    &["set", "Bridge", "br0", "fail_mode=bogus"],
    &["set", "Interface", "p1", "options:peer"],
    &["add", "Bridge", "br0", "flood_vlans", "1", "2"],
    &["remove", "Bridge", "br0", "flood_vlans", "2"],
    &["get", "Bridge", "br0", "flood_vlans"],
    &["clear", "Bridge", "br0", "flood_vlans"],
    &[
        "set",
        "Bridge",
        "br0",
        "other_config:a=b",
        "external_ids:x=\"1.2\"",
    ],
    &["remove", "Bridge", "br0", "other_config", "a"],
    &["create", "Manager", "target=\"ptcp:6641\""],
    &[
        "--id=@m",
        "create",
        "Manager",
        "target=\"ptcp:6642\"",
        "--",
        "add",
        "Open_vSwitch",
        ".",
        "manager_options",
        "@m",
    ],
    &["get-manager"],
    &["add-bond", "br1", "bond0", "eth1", "eth2", "lacp=active"],
    &["list-ifaces", "br1"],
    &["wait-until", "Bridge", "br0", "name=br0"],
    &["del-br", "vlan5"],
    &["del-br", "br1"],
    &["show"],
];

/// Bonds, SSL, Auto Attach mappings, manager and controller options, emer-reset and the
/// fake-bridge queries.
const MORE: &[&[&str]] = &[
    &["add-br", "br0"],
    &[
        "add-bond",
        "br0",
        "bond0",
        "eth1",
        "eth2",
        "--fake-iface",
        "bond_mode=balance-slb",
        "lacp=active",
    ],
    &[
        "--fake-iface",
        "add-bond",
        "br0",
        "bond1",
        "e3",
        "e4",
        "other_config:lacp-time=fast",
    ],
    &["add-bond", "br0", "bond2", "e5"],
    &["--may-exist", "add-bond", "br0", "bond1", "e3", "e4"],
    &["add-bond", "br0", "bond1", "e3", "e4"],
    &["list", "Port", "bond1"],
    &["get", "Port", "bond0", "bond_mode", "lacp"],
    &[
        "set",
        "Port",
        "bond0",
        "bond_mode=active-backup",
        "lacp=off",
    ],
    &["get", "Port", "bond0", "bond_mode", "lacp"],
    &["set", "Port", "bond0", "lacp=sometimes"],
    &["list-ifaces", "br0"],
    &["add-bond-iface", "bond2", "e6"],
    &["add-bond-iface", "bond2", "e6"],
    &["--may-exist", "add-bond-iface", "bond2", "e6"],
    &["add-bond-iface", "nosuch", "e9"],
    &["add-bond-iface", "bond2", "br0"],
    &["del-bond-iface", "bond2", "e5"],
    &["del-bond-iface", "e6"],
    &["del-bond-iface", "bond1", "nosuch"],
    &["--if-exists", "del-bond-iface", "nosuch"],
    &["del-bond-iface", "bond1", "eth1"],
    &["add-bond-iface", "bond2", "e5"],
    &["comment", "a", "note", "--", "list-ifaces", "br0"],
    &["show"],
    &["get-ssl"],
    &["set-ssl", "/k", "/c", "/ca"],
    &["get-ssl"],
    &["--bootstrap", "set-ssl", "/k2", "/c2", "/ca2"],
    &["get-ssl"],
    &["list", "SSL"],
    &["del-ssl"],
    &["get-ssl"],
    &["set-controller", "br0", "foo", "tcp:10.0.0.1:6653"],
    &[
        "--inactivity-probe=3000",
        "set-manager",
        "ptcp:6640",
        "bar:1",
    ],
    &[
        "--",
        "--inactivity-probe=12abc",
        "set-controller",
        "br0",
        "unix:/x",
    ],
    &["--inactivity-probe=x", "set-manager", "punix:/y"],
    &["list", "Manager"],
    &["list", "Controller"],
    &["show"],
    &["add-aa-mapping", "br0", "100", "10"],
    &["add-aa-mapping", "br0", "200", "20"],
    &["add-aa-mapping", "br0", "100", "11"],
    &["get-aa-mapping", "br0"],
    &["del-aa-mapping", "br0", "100", "11"],
    &["del-aa-mapping", "br0", "200", "20"],
    &["get-aa-mapping", "br0"],
    &["add-aa-mapping", "br0", "x", "1"],
    &["add-aa-mapping", "nosuch", "1", "1"],
    &["add-br", "br9"],
    &["get-aa-mapping", "br9"],
    &["del-aa-mapping", "br9", "1", "1"],
    &["list", "AutoAttach"],
    &["add-br", "fake7", "br0", "7"],
    // One chain: each command sees the ports the ones before it added.
    &[
        "add-port",
        "fake7",
        "c1",
        "--",
        "add-port",
        "br0",
        "c2",
        "--",
        "add-bond",
        "br0",
        "c3",
        "c3a",
        "c3b",
        "--",
        "add-port",
        "br0",
        "c4",
        "tag=7",
        "--",
        "list-ports",
        "fake7",
        "--",
        "list-ports",
        "br0",
        "--",
        "port-to-br",
        "c1",
        "--",
        "iface-to-br",
        "c3b",
        "--",
        "list-ifaces",
        "br0",
    ],
    // A conflict with a port the same chain made.
    &["add-port", "br0", "c6", "--", "add-port", "br0", "c6"],
    &[
        "add-port", "br0", "c7", "--", "add-bond", "br0", "c8", "c9", "c7",
    ],
    &[
        "add-port",
        "br0",
        "c5",
        "--",
        "port-to-br",
        "c5",
        "--",
        "del-port",
        "c5",
        "--",
        "--if-exists",
        "del-port",
        "c5",
        "--",
        "add-port",
        "fake7",
        "c5",
        "--",
        "port-to-br",
        "c5",
        "--",
        "list-ifaces",
        "fake7",
    ],
    &["br-to-vlan", "fake7"],
    &["br-to-parent", "fake7"],
    &["br-to-vlan", "br0"],
    &["br-to-parent", "br0"],
    &["br-to-vlan", "nosuch"],
    &["add-port", "fake7", "vm1"],
    &[
        "set",
        "Bridge",
        "br0",
        "other_config:hwaddr=00:11:22:33:44:55",
        "flood_vlans=1",
    ],
    &["set", "Interface", "e5", "ingress_policing_rate=100"],
    &[
        "-f",
        "json",
        "--no-headings",
        "--columns=name,tag",
        "list",
        "Port",
        "c1",
    ],
    &[
        "--pretty",
        "-f",
        "json",
        "--columns=name,interfaces,tag,trunks",
        "list",
        "Port",
        "c1",
    ],
    &[
        "--pretty",
        "--format=json",
        "--columns=name",
        "find",
        "Bridge",
        "name=zzz",
    ],
    &[
        "--bare",
        "-f",
        "json",
        "--columns=name,fail_mode",
        "list",
        "Bridge",
        "br0",
    ],
    &["emer-reset"],
    &["list", "Bridge", "br0"],
    &["get", "Interface", "e5", "ingress_policing_rate"],
    &["show"],
];

#[test]
fn bonds_ssl_auto_attach_and_emer_reset_match_ovs_vsctl() {
    compare(OUR_SCHEMA, MORE);
}

#[test]
fn seed_topology_matches_ovs_vsctl() {
    compare(OUR_SCHEMA, SEED);
}

#[test]
fn seed_topology_on_our_schema_matches_ovs_vsctl_on_its_own_schema() {
    compare(OVS_SCHEMA, SEED);
}

#[test]
fn errors_options_and_generic_commands_match_ovs_vsctl() {
    compare(OUR_SCHEMA, OTHERS);
}

/// Commands probed for their argument counts: whether each takes at least one argument
/// (probed with none) and whether it has a most (probed with eight).
const ARGUMENT_COUNTS: &[(&str, bool, bool)] = &[
    ("add-br", true, true),
    ("del-br", true, true),
    ("br-exists", true, true),
    ("br-to-vlan", true, true),
    ("br-to-parent", true, true),
    ("br-set-external-id", true, true),
    ("br-get-external-id", true, true),
    ("list-ports", true, true),
    ("add-port", true, false),
    ("add-bond", true, false),
    ("add-bond-iface", true, true),
    ("del-bond-iface", true, true),
    ("del-port", true, true),
    ("port-to-br", true, true),
    ("list-ifaces", true, true),
    ("iface-to-br", true, true),
    ("get-controller", true, true),
    ("del-controller", true, true),
    ("set-controller", true, false),
    ("get-fail-mode", true, true),
    ("del-fail-mode", true, true),
    ("set-fail-mode", true, true),
    ("set-manager", true, false),
    ("set-ssl", true, true),
    ("add-aa-mapping", true, true),
    ("del-aa-mapping", true, true),
    ("get-aa-mapping", true, true),
    ("list", true, false),
    ("find", true, false),
    ("get", true, false),
    ("set", true, false),
    ("add", true, false),
    ("remove", true, false),
    ("clear", true, false),
    ("create", true, false),
    ("destroy", true, false),
    ("wait-until", true, false),
    ("init", false, true),
    ("show", false, true),
    ("emer-reset", false, true),
    ("list-br", false, true),
    ("get-manager", false, true),
    ("del-manager", false, true),
    ("get-ssl", false, true),
    ("del-ssl", false, true),
];

/// Too few and too many arguments: the same message and status as ovs-vsctl's, including its
/// note on where options go when an extra argument looks like one. The counts are checked
/// before anything runs, so the database stays empty.
#[test]
fn argument_count_errors_match_ovs_vsctl() {
    let mut script: Vec<Vec<&str>> = Vec::new();
    for (command, _, _) in ARGUMENT_COUNTS.iter().filter(|c| c.1) {
        script.push(vec![command]);
    }
    for (command, _, _) in ARGUMENT_COUNTS.iter().filter(|c| c.2) {
        script.push([*command].into_iter().chain(["a"; 8]).collect());
        script.push(
            [*command]
                .into_iter()
                .chain(["a"; 7])
                .chain(["-x"])
                .collect(),
        );
        script.push(vec![
            command,
            "--if-exists",
            "a",
            "b",
            "c",
            "d",
            "e",
            "f",
            "g",
        ]);
    }
    // A separator ends the arguments: the command after it counts its own.
    script.push(vec!["del-br", "a", "b", "--", "show", "x"]);
    script.push(vec!["show", "--", "del-br", "a", "-"]);
    let script: Vec<&[&str]> = script.iter().map(Vec::as_slice).collect();
    compare(OUR_SCHEMA, &script);
}

/// Every table and column of Open vSwitch's schema exists in ours with the same type,
/// mutability, and the same table properties.
#[test]
fn schema_has_every_column_ovs_clients_use() {
    use fvs_ovsdb::DatabaseSchema;
    let read = |p: &str| {
        let text = std::fs::read_to_string(p)
            .unwrap_or_else(|e| panic!("{p}: {e} (install openvswitch-common)"));
        DatabaseSchema::from_json(&serde_json::from_str(&text).expect("json")).expect("schema")
    };
    let theirs = read(OVS_SCHEMA);
    let ours = read(OUR_SCHEMA);
    assert_eq!(
        theirs.version, ours.version,
        "version names the schema we are compatible with"
    );
    for (name, t) in &theirs.tables {
        let o = ours
            .table(name)
            .unwrap_or_else(|| panic!("table {name} missing"));
        assert_eq!(t.is_root, o.is_root, "{name} isRoot");
        assert_eq!(t.max_rows, o.max_rows, "{name} maxRows");
        assert_eq!(t.indexes, o.indexes, "{name} indexes");
        for (cname, c) in &t.columns {
            let oc = o
                .column(cname)
                .unwrap_or_else(|| panic!("{name}.{cname} missing"));
            assert_eq!(c.ty, oc.ty, "{name}.{cname} type");
            assert_eq!(c.mutable, oc.mutable, "{name}.{cname} mutable");
            assert_eq!(c.ephemeral, oc.ephemeral, "{name}.{cname} ephemeral");
        }
        assert_eq!(t.columns.len(), o.columns.len(), "{name} has extra columns");
    }
    assert_eq!(theirs.tables.len(), ours.tables.len());
}
