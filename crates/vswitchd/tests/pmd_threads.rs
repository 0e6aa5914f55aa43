//! Datapath threads configured as Open vSwitch's PMD threads are: `pmd-cpu-mask` gives the
//! threads and their cores, ports go round-robin or by `pmd-rxq-affinity`, and
//! `dpif-netdev/pmd-rxq-show` shows the assignment as Open vSwitch 3.1's
//! `ovs-vswitchd --enable-dummy=override` shows it for the same configuration (a userspace
//! bridge with `dummy-pmd` ports). Packets keep flowing, and being counted, across threads.
//!
//! The whole `datapath_dummy` suite can run with two threads, too:
//! `FVS_TEST_PMD_CPU_MASK=0x3 cargo test -p fvs-vswitchd --test datapath_dummy`.

mod common;

use std::time::{Duration, Instant};

use common::Fvs;
use fvs_test_support::frames::hex;
use fvs_test_support::{AddBridge, PrivateFvs, PrivateOvs};

/// Two PMD threads, on cores 0 and 1.
const PMD_CORES: &[&str] = &["set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=0x3"];

/// `br0` in the userspace datapath.
fn netdev_bridge() -> AddBridge {
    AddBridge::new("br0").set(&["datapath_type=netdev"])
}

/// The bridge either switch is given after [`PMD_CORES`]: three `dummy-pmd` ports, `p3`
/// pinned to core 1.
fn pmd_bridge() -> AddBridge {
    netdev_bridge()
        .port("p1", &["type=dummy-pmd"])
        .port("p2", &["type=dummy-pmd"])
        .port(
            "p3",
            &["type=dummy-pmd", "other_config:pmd-rxq-affinity=0:1"],
        )
}

/// Usage figures depend on when they are read (Open vSwitch prints `NOT AVAIL` until it has
/// measured, then percentages); everything else must be the same.
fn without_usage(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match (l.find("pmd usage:"), l.find("overhead:")) {
            (Some(i), _) | (None, Some(i)) => l[..i].to_owned(),
            (None, None) => l.to_owned(),
        })
        .collect()
}

/// The PMD threads' headers with their received and missed counts (Open vSwitch's main
/// thread, which polls no dummy-pmd port, left out).
fn per_thread_counts(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut head = "";
    for l in text.lines() {
        if l == "main thread:" {
            break;
        }
        if l.starts_with("pmd thread") {
            head = l;
        } else if l.starts_with("  packets received:") || l.starts_with("  miss with success") {
            out.push(format!("{head}{l}"));
        }
    }
    out
}

/// Polls `f` until it returns `Some` or `within` passes.
fn eventually<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pmd_cpu_mask_and_rxq_affinity_assign_ports_as_open_vswitch_does() {
    let ovs = PrivateOvs::start();
    let fvs = Fvs::start("pmd");
    let bridge = pmd_bridge();
    for c in [PMD_CORES, &bridge.args()] {
        ovs.vsctl(c)
            .unwrap_or_else(|e| panic!("Open vSwitch: ovs-vsctl {c:?}: {e}"));
        fvs.vsctl(c);
    }
    // ferrovs applies the mask and the affinity with the reconfiguration that carries them,
    // which ovs-vsctl waited for: the layout shows at once. (Open vSwitch's PMD threads come
    // up in the background, so its layout is waited for.)
    let want = |s: &str| s.contains("core_id 1:") && s.contains("isolated : true");
    let theirs = eventually(Duration::from_secs(10), || {
        ovs.appctl(&["dpif-netdev/pmd-rxq-show"])
            .ok()
            .filter(|s| want(s))
    })
    .expect("Open vSwitch never showed two PMD threads");
    let (ok, ours, err) = fvs.appctl(&["dpif-netdev/pmd-rxq-show"]);
    assert!(
        ok && want(&ours),
        "right after ovs-vsctl, fvs-vswitchd shows no two datapath threads:\n{ours}{err}"
    );
    assert_eq!(
        without_usage(&ours),
        without_usage(&theirs),
        "pmd-rxq-show:\n{ours}\nvs Open vSwitch's\n{theirs}"
    );
    // One core's view.
    let (ok, one, err) = fvs.appctl(&["dpif-netdev/pmd-rxq-show", "-pmd", "1"]);
    assert!(ok, "{err}");
    let theirs_one = ovs
        .appctl(&["dpif-netdev/pmd-rxq-show", "-pmd", "1"])
        .expect("Open vSwitch: pmd-rxq-show -pmd 1");
    assert_eq!(without_usage(&one), without_usage(&theirs_one));

    // The threads exist, named and pinned as the mask says.
    let pid = fvs.private().pid();
    let mut pinned = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc task list") {
        let dir = task.expect("task entry").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.starts_with("pmd-c") {
            let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
            let cpus = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .unwrap_or("")
                .trim()
                .to_owned();
            pinned.push((comm.trim().to_owned(), cpus));
        }
    }
    pinned.sort();
    assert_eq!(
        pinned,
        vec![
            ("pmd-c00/id:0".to_owned(), "0".to_owned()),
            ("pmd-c01/id:1".to_owned(), "1".to_owned())
        ]
    );

    // Packets from ports of both threads are forwarded and counted: NORMAL floods each
    // broadcast to the other two ports, and the rule counts every packet, cached or not.
    let frame = |src: u8| {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x50, 0x54, 0, 0, 0, src]);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.resize(60, 0);
        hex(&f)
    };
    for _ in 0..3 {
        for (port, src) in [("p1", 1), ("p3", 3)] {
            let (ok, _, err) = fvs.appctl(&["netdev-dummy/receive", port, &frame(src)]);
            assert!(ok, "{err}");
        }
    }
    for _ in 0..3 {
        for (port, src) in [("p1", 1), ("p3", 3)] {
            ovs.appctl(&["netdev-dummy/receive", port, &frame(src)])
                .unwrap_or_else(|e| panic!("Open vSwitch: netdev-dummy/receive: {e}"));
        }
    }
    // Each thread counted its own port's packets: one upcall, then cache hits (which cache
    // differs: Open vSwitch inserts into its exact-match cache only now and then).
    let (ok, stats, err) = fvs.appctl(&["dpif-netdev/pmd-stats-show"]);
    assert!(ok, "{err}");
    let theirs = ovs
        .appctl(&["dpif-netdev/pmd-stats-show"])
        .expect("Open vSwitch: pmd-stats-show");
    assert_eq!(
        per_thread_counts(&stats),
        per_thread_counts(&theirs),
        "pmd-stats-show:\n{stats}\nvs Open vSwitch's\n{theirs}"
    );
    assert_eq!(per_thread_counts(&stats).len(), 4, "{stats}");
    let (ok, _, err) = fvs.appctl(&["revalidator/wait"]);
    assert!(ok, "{err}");
    let flows = fvs.dump_flows("br0");
    assert!(flows.contains("n_packets=6"), "{flows}");
    let (ok, fdb, err) = fvs.appctl(&["fdb/show", "br0"]);
    assert!(ok, "{err}");
    for mac in ["50:54:00:00:00:01", "50:54:00:00:00:03"] {
        assert!(fdb.contains(mac), "{mac} not learned:\n{fdb}");
    }
    // Back to the default: one thread, which Open vSwitch's layout does not list. (Under
    // FVS_TEST_PMD_CPU_MASK an unset mask is that variable's, so the mask is set empty,
    // which Open vSwitch reads as unset too.)
    if std::env::var_os("FVS_TEST_PMD_CPU_MASK").is_some() {
        fvs.vsctl(&["set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=\"\""]);
    } else {
        fvs.vsctl(&[
            "remove",
            "Open_vSwitch",
            ".",
            "other_config",
            "pmd-cpu-mask",
        ]);
    }
    let (_, back, _) = fvs.appctl(&["dpif-netdev/pmd-rxq-show"]);
    assert_eq!(back, "Displaying last 60 seconds pmd usage %\n");
}

/// A changed `pmd-rxq-affinity` moves the port, and the thread it joins becomes isolated, as
/// soon as `ovs-vsctl` returns (it waits for the daemon's reconfiguration).
#[test]
fn rxq_affinity_moves_a_port_with_the_reconfiguration_that_carries_it() {
    let fvs = Fvs::start("pmdaff");
    let bridge = pmd_bridge();
    for c in [PMD_CORES, &bridge.args()] {
        fvs.vsctl(c);
    }
    let thread_of = |text: &str, port: &str| -> Option<String> {
        let mut head = None;
        for l in text.lines() {
            if l.starts_with("pmd thread") {
                head = Some(l.to_owned());
            } else if l.contains(&format!("port: {port} ")) {
                return head;
            }
        }
        None
    };
    let show = || {
        let (ok, out, err) = fvs.appctl(&["dpif-netdev/pmd-rxq-show"]);
        assert!(ok, "{err}");
        out
    };
    let before = show();
    assert!(
        thread_of(&before, "p3").is_some_and(|h| h.contains("core_id 1:")),
        "{before}"
    );
    fvs.vsctl(&[
        "set",
        "interface",
        "p3",
        "other_config:pmd-rxq-affinity=0:0",
    ]);
    let after = show();
    assert!(
        thread_of(&after, "p3").is_some_and(|h| h.contains("core_id 0:")),
        "p3 not on core 0 right after ovs-vsctl:\n{after}"
    );
    let core0 = after
        .split("pmd thread")
        .find(|t| t.contains("core_id 0:"))
        .unwrap_or_default();
    assert!(core0.contains("isolated : true"), "{after}");
}

/// The `dpif_netdev` lines of the daemon's log that mention busy polling, message only.
fn busy_poll_lines(fvs: &PrivateFvs) -> Vec<String> {
    let log = fvs.dir().join("fvs-vswitchd.log");
    let text = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", log.display()));
    text.lines()
        .filter(|l| l.contains("|dpif_netdev|") && l.contains("busy"))
        .filter_map(|l| l.split_once("|dpif_netdev|").map(|(_, m)| m.to_owned()))
        .collect()
}

/// `other_config:pmd-busy-poll` (ferrovs's own: how long a datapath thread keeps polling
/// after traffic before it sleeps) is applied with the reconfiguration that carries it and
/// logged as it changes, as Open vSwitch logs its `pmd-maxsleep`; a value that is not a
/// number is named in a warning and read as unset (off), one too large is taken as
/// 10000 µs.
#[test]
fn pmd_busy_poll_is_applied_and_logged() {
    let fvs = PrivateFvs::builder(env!("CARGO_BIN_EXE_fvs-vswitchd"))
        .appctl(env!("CARGO_BIN_EXE_fvs-appctl"))
        .tag("busy")
        .arg("--log-file")
        .start();
    let vsctl = |args: &[&str]| {
        fvs.vsctl(args)
            .unwrap_or_else(|e| panic!("ovs-vsctl {args:?}: {e}"));
    };
    let appctl = |args: &[&str]| {
        fvs.appctl(args)
            .unwrap_or_else(|e| panic!("fvs-appctl {args:?}: {e}"))
    };
    let expect = |want: &[&str]| {
        let got = eventually(Duration::from_secs(10), || {
            let lines = busy_poll_lines(&fvs);
            (lines == want).then_some(lines)
        });
        assert!(
            got.is_some(),
            "log lines about busy polling: {:?}, expected {want:?}",
            busy_poll_lines(&fvs)
        );
    };
    expect(&["INFO|PMD busy poll after traffic is 0 usecs."]);
    vsctl(&["set", "Open_vSwitch", ".", "other_config:pmd-busy-poll=50"]);
    expect(&[
        "INFO|PMD busy poll after traffic is 0 usecs.",
        "INFO|PMD busy poll after traffic is 50 usecs.",
    ]);
    vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "other_config:pmd-busy-poll=fast",
    ]);
    expect(&[
        "INFO|PMD busy poll after traffic is 0 usecs.",
        "INFO|PMD busy poll after traffic is 50 usecs.",
        "WARN|pmd-busy-poll \"fast\" is not a number of microseconds",
        "INFO|PMD busy poll after traffic is 0 usecs.",
    ]);
    vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "other_config:pmd-busy-poll=20000",
    ]);
    vsctl(&[
        "remove",
        "Open_vSwitch",
        ".",
        "other_config",
        "pmd-busy-poll",
    ]);
    expect(&[
        "INFO|PMD busy poll after traffic is 0 usecs.",
        "INFO|PMD busy poll after traffic is 50 usecs.",
        "WARN|pmd-busy-poll \"fast\" is not a number of microseconds",
        "INFO|PMD busy poll after traffic is 0 usecs.",
        "INFO|PMD busy poll after traffic is 10000 usecs.",
        "INFO|PMD busy poll after traffic is 0 usecs.",
    ]);
    // Unchanged by another reconfiguration; still forwarding (a dummy port's frame is
    // received and counted by the thread whose budget was set).
    vsctl(&netdev_bridge().args());
    vsctl(
        &AddBridge::existing("br0")
            .port("p1", &["type=dummy"])
            .args(),
    );
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x50, 0x54, 0, 0, 0, 1, 0x88, 0xb5]);
    frame.resize(60, 0);
    appctl(&["netdev-dummy/receive", "p1", &hex(&frame)]);
    let stats = appctl(&["dpif-netdev/pmd-stats-show"]);
    assert!(stats.contains("packets received: 1\n"), "{stats}");
    assert_eq!(
        busy_poll_lines(&fvs).len(),
        6,
        "{:?}",
        busy_poll_lines(&fvs)
    );
}
