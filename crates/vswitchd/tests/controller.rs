//! A controller no one here wrote: an os-ken application (PyPI `os-ken`, Neutron's OpenFlow
//! library) drives fvs-vswitchd over `tcp:` as the bridge's Controller row, and the same
//! application drives Open vSwitch 3.1 (`ovs-vswitchd --enable-dummy=override`) the same way.
//!
//! The application (`tests/osken/app.py`) installs three OpenFlow 1.3 rules, one with Nicira
//! actions (`NXActionRegLoad`, `NXActionResubmitTable`), and answers every packet-in with a
//! packet-out to port 2. Two frames enter port 1 (`netdev-dummy/receive`): a UDP frame that
//! the Nicira rule sends on to table 1, whose rule sends it to the controller (reason
//! `action`, table 1, reg0 in the metadata), and an ARP frame that only the table-miss rule
//! matches (an explicit miss: reason `no_match` in OpenFlow 1.3). On both switches the test
//! compares what the application saw (its log of packet-ins), the flow table
//! (`ovs-ofctl dump-flows`), the Controller row (`is_connected`, `role`, `status:state`) and
//! the frames port 2 sent (its `tx_pcap`).
//!
//! Needs the system Python (`/usr/bin/python3`) and `os-ken` 4.2.2 in the directory
//! `FVS_OSKEN_PATH` names (default `/usr/local/lib/ferrovs-test/os-ken`; scripts/test.sh
//! installs it there with `pip install --target`), and Open vSwitch's tools.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::frames::{ipv4_checksum, pcap_frames_or_empty};
use fvs_test_support::{AddBridge, PrivateOvs, Switch, TempDir};

/// A UDP frame 192.168.0.1:1234 -> 192.168.0.2:80 carrying "hello world".
fn udp_frame() -> Vec<u8> {
    let payload = b"hello world";
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2,
    ];
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    let c = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend(1234u16.to_be_bytes());
    f.extend(80u16.to_be_bytes());
    f.extend((udp_len as u16).to_be_bytes());
    f.extend([0, 0]);
    f.extend(payload);
    f
}

/// A broadcast ARP request from 192.168.0.1 for 192.168.0.2.
fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([0, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend([0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend([0, 0, 0, 0, 0, 1, 192, 168, 0, 1]);
    f.extend([0, 0, 0, 0, 0, 0, 192, 168, 0, 2]);
    f
}

/// The Python the application runs under.
const PYTHON: &str = "/usr/bin/python3";

/// Where os-ken is installed.
fn osken_path() -> PathBuf {
    std::env::var_os("FVS_OSKEN_PATH").map_or_else(
        || "/usr/local/lib/ferrovs-test/os-ken".into(),
        PathBuf::from,
    )
}

/// The system Python with os-ken's directory on its path.
fn python() -> Command {
    let mut c = Command::new(PYTHON);
    c.env("PYTHONPATH", osken_path());
    c
}

/// The os-ken application, killed by its pid on drop.
struct OsKen {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl OsKen {
    fn start(dir: &Path) -> Self {
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/osken/app.py");
        let check = python()
            .args(["-c", "import os_ken"])
            .output()
            .unwrap_or_else(|e| panic!("{PYTHON}: {e}"));
        assert!(
            check.status.success(),
            "this test needs os-ken in {}: /usr/bin/python3 -m pip install --target DIR os-ken==4.2.2, as scripts/test.sh does ({})",
            osken_path().display(),
            String::from_utf8_lossy(&check.stderr).trim_end()
        );
        // An ephemeral port for the application to listen on.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let log = dir.join("osken.log");
        let child = python()
            .arg(&app)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("osken.err")).unwrap_or_else(|e| panic!("{e}")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the os-ken application: {e}"));
        let app = Self { child, log, port };
        app.wait_for(|l| l.iter().any(|e| e["event"] == "listening"), "listening");
        // The log line comes just before the listening socket is made.
        sleep(Duration::from_millis(500));
        app
    }

    fn target(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn wait_for(&self, done: impl Fn(&[serde_json::Value]) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let events = self.events();
            if done(&events) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the os-ken application never got to {what}; its log: {events:?}"
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OsKen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run saw.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// The application's log without its own "listening" line.
    events: Vec<serde_json::Value>,
    /// `ovs-ofctl -O OpenFlow13 dump-flows br0`, durations masked.
    flows: String,
    /// The Controller row's `is_connected`, `role` and `status:state`.
    row: String,
    /// What port 2 sent.
    sent: Vec<Vec<u8>>,
}

fn mask_durations(s: &str) -> String {
    s.lines()
        .map(|l| {
            l.split(", ")
                .map(|f| {
                    if f.trim_start().starts_with("duration=") {
                        "duration=?"
                    } else {
                        f
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `frame` arrives on dummy port `port` of `sw`.
fn receive(sw: &dyn Switch, port: &str, frame: &[u8]) {
    sw.receive(port, frame)
        .unwrap_or_else(|e| panic!("netdev-dummy/receive: {e}"));
}

fn run(sw: &dyn Switch, app_dir: &Path) -> Seen {
    let pcap = sw.dir().join("p2.pcap");
    sw.vsctl_ok(
        &AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .port(
                "p2",
                &[
                    "type=dummy",
                    "ofport_request=2",
                    &format!("options:tx_pcap={}", pcap.display()),
                ],
            )
            .args(),
    );
    let app = OsKen::start(app_dir);
    sw.vsctl_ok(&["set-controller", "br0", &app.target()]);
    app.wait_for(
        |l| l.iter().any(|e| e["event"] == "ready"),
        "its barrier reply",
    );
    // The Controller row says connected within a second or two (the write-back's pace).
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let row = sw.vsctl_ok(&["--columns=is_connected,role", "list", "controller"]);
        let state = sw.vsctl_ok(&["--if-exists", "get", "controller", "br0", "status:state"]);
        let row = format!("{row}state={state}");
        if (row.contains("true") && state.contains("ACTIVE")) || Instant::now() > deadline {
            break row;
        }
        sleep(Duration::from_millis(100));
    };
    receive(sw, "p1", &udp_frame());
    app.wait_for(
        |l| l.iter().filter(|e| e["event"] == "packet_in").count() == 1,
        "the UDP packet-in",
    );
    receive(sw, "p1", &arp_frame());
    app.wait_for(
        |l| l.iter().filter(|e| e["event"] == "packet_in").count() == 2,
        "the ARP packet-in",
    );
    // Both packet-outs leave through port 2.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pcap_frames_or_empty(&pcap).len() < 2 && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    let flows = sw.ofctl_ok(&["-O", "OpenFlow13", "dump-flows", "br0"]);
    Seen {
        events: app
            .events()
            .into_iter()
            .filter(|e| e["event"] != "listening")
            .collect(),
        flows: mask_durations(&flows),
        row,
        sent: pcap_frames_or_empty(&pcap),
    }
}

#[test]
fn an_os_ken_controller_sees_the_same_switch_as_on_open_vswitch() {
    let fvs_app = TempDir::new("osken-fvs");
    let fvs = Fvs::start("ctl");
    let ours = run(fvs.private(), fvs_app.path());
    drop(fvs);

    let ovs_app = TempDir::new("osken-ovs");
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs, ovs_app.path());
    drop(ovs);

    // What the application saw, first on its own terms (from Open vSwitch's run).
    let pins: Vec<&serde_json::Value> = theirs
        .events
        .iter()
        .filter(|e| e["event"] == "packet_in")
        .collect();
    assert_eq!(pins.len(), 2, "{theirs:?}");
    assert_eq!(pins[0]["table_id"], 1);
    assert_eq!(pins[0]["match"]["reg0"], 5);
    assert_eq!(pins[1]["reason"], 0);
    assert_eq!(theirs.sent, vec![udp_frame(), arp_frame()]);

    assert_eq!(ours.events, theirs.events, "the application's log");
    assert_eq!(ours.flows, theirs.flows, "dump-flows");
    assert_eq!(ours.row, theirs.row, "the Controller row");
    assert_eq!(ours.sent, theirs.sent, "frames sent by port 2");
}

/// `ovs-ofctl dump-flows br0` without statistics.
fn flows(sw: &dyn Switch) -> String {
    sw.ofctl_ok(&["--no-stats", "dump-flows", "br0"])
}

/// Fail modes, on both switches: a standalone bridge's NORMAL rule goes when it gets a
/// controller (the tables are flushed) and comes back when the controller goes; while the
/// controller is unreachable the bridge forwards nothing until it fails open (15 s, three
/// default inactivity probes) and then switches like a learning bridge, its hidden rule
/// counting the packets (`bridge/dump-flows`); a secure bridge's
/// tables are flushed by the change of mode and stay empty.
#[test]
fn fail_modes_flush_fail_open_and_recover_as_on_open_vswitch() {
    // A port nothing listens on: the controller is unreachable.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| format!("tcp:127.0.0.1:{}", a.port()))
        .unwrap_or_else(|e| panic!("no free port: {e}"));
    let run = |sw: &dyn Switch| -> Vec<String> {
        let pcap = sw.dir().join("p2.pcap");
        sw.vsctl_ok(
            &AddBridge::new("br0")
                .port("p1", &["type=dummy", "ofport_request=1"])
                .port(
                    "p2",
                    &[
                        "type=dummy",
                        "ofport_request=2",
                        &format!("options:tx_pcap={}", pcap.display()),
                    ],
                )
                .args(),
        );
        let mut seen = vec![flows(sw)];
        sw.ofctl_ok(&["add-flow", "br0", "priority=5,ip,actions=drop"]);
        sw.vsctl_ok(&["set-controller", "br0", &dead]);
        sleep(Duration::from_secs(1));
        seen.push(flows(sw));
        // Not failed open yet: a frame goes nowhere.
        receive(sw, "p1", &arp_frame());
        sleep(Duration::from_millis(500));
        seen.push(format!(
            "sent before fail-open: {}",
            pcap_frames_or_empty(&pcap).len()
        ));
        sleep(Duration::from_secs(16));
        receive(sw, "p1", &arp_frame());
        let deadline = Instant::now() + Duration::from_secs(5);
        while pcap_frames_or_empty(&pcap).is_empty() && Instant::now() < deadline {
            sleep(Duration::from_millis(50));
        }
        seen.push(format!(
            "sent after fail-open: {}",
            pcap_frames_or_empty(&pcap).len()
        ));
        // The hidden rule counts what it forwards, the datapath's cached packets included.
        receive(sw, "p1", &arp_frame());
        receive(sw, "p1", &arp_frame());
        sw.appctl_ok(&["revalidator/wait"]);
        let hidden = sw.appctl_ok(&["bridge/dump-flows", "br0"]);
        seen.push(
            hidden
                .lines()
                .filter(|l| l.contains("priority=15790320"))
                .map(mask_durations)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        // The hidden rule is not an OpenFlow rule.
        seen.push(flows(sw));
        let row = sw.vsctl_ok(&["--columns=is_connected,role", "list", "controller"]);
        let state = sw.vsctl_ok(&["get", "controller", "br0", "status:state"]);
        seen.push(format!("{row}state={state}"));
        sw.vsctl_ok(&["del-controller", "br0"]);
        sleep(Duration::from_secs(1));
        seen.push(flows(sw));
        sw.vsctl_ok(&["set", "bridge", "br0", "fail_mode=secure"]);
        sleep(Duration::from_secs(1));
        seen.push(flows(sw));
        seen
    };
    let fvs = Fvs::start("fail");
    let ours = run(fvs.private());
    drop(fvs);
    let ovs = PrivateOvs::start();
    let theirs = run(&ovs);
    drop(ovs);
    assert!(theirs[0].contains("actions=NORMAL"), "{theirs:?}");
    assert_eq!(theirs[3], "sent after fail-open: 1");
    assert!(
        theirs[4].contains("n_packets=3,")
            && theirs[4].contains("priority=15790320,actions=NORMAL"),
        "{theirs:?}"
    );
    assert_eq!(ours, theirs);
}

/// A fail-mode change makes the daemon revalidate its megaflows, a wait for the datapath
/// thread. The database must keep answering meanwhile: a slow revalidation (stretched here
/// by the test-only hook `FVS_TEST_REVALIDATE_DELAY_MS`) once held every database client —
/// `ovs-vsctl`, managers, probes — for its whole length. And the client that made the change
/// still returns only once it is applied (`cur_cfg` is written after the revalidation).
#[test]
fn the_database_answers_while_a_fail_mode_change_revalidates() {
    const DELAY: Duration = Duration::from_secs(6);
    let fvs = fvs_test_support::PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("slowreval")
        .env(
            "FVS_TEST_REVALIDATE_DELAY_MS",
            &DELAY.as_millis().to_string(),
        )
        .start();
    if let Err(e) = fvs.vsctl(&["add-br", "br0"]) {
        panic!("ovs-vsctl add-br: {e}");
    }
    // A port nothing listens on: the controller row alone changes the fail mode's state.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| format!("tcp:127.0.0.1:{}", a.port()))
        .unwrap_or_else(|e| panic!("no free port: {e}"));
    let started = Instant::now();
    let setter = {
        let mut cmd = fvs
            .command("ovs-vsctl")
            .unwrap_or_else(|e| panic!("ovs-vsctl: {e}"));
        cmd.arg(format!("--db={}", fvs.target())).args([
            "--timeout=30",
            "set-controller",
            "br0",
            &dead,
        ]);
        std::thread::spawn(move || cmd.output())
    };
    // Let the reconciliation reach the revalidation, then ask the database something.
    sleep(Duration::from_secs(1));
    let asked = Instant::now();
    let listed = fvs.vsctl(&["get", "Open_vSwitch", ".", "next_cfg"]);
    let answered_in = asked.elapsed();
    let set = setter
        .join()
        .unwrap_or_else(|_| panic!("the set-controller thread panicked"));
    let set_in = started.elapsed();
    let set = set.unwrap_or_else(|e| panic!("ovs-vsctl set-controller: {e}"));
    assert!(
        set.status.success(),
        "ovs-vsctl set-controller: {}",
        String::from_utf8_lossy(&set.stderr)
    );
    if let Err(e) = listed {
        panic!("ovs-vsctl get: {e}");
    }
    assert!(
        answered_in < Duration::from_millis(1500),
        "the database took {answered_in:?} to answer during a revalidation"
    );
    // The change was reported done only once the revalidation had run.
    assert!(
        set_in >= DELAY,
        "set-controller returned after {set_in:?}, before the revalidation ended"
    );
}
