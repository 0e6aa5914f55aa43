//! Packet rate of the AF_PACKET device over a veth pair, in a throw-away network namespace.
//!
//! Needs root. One thread sends 60-byte frames on one end in batches of 32 as fast as it can;
//! the main thread receives them on the other end. Prints the offered rate (frames the kernel
//! took), the received rate and the drops, for plain frames and with virtio-net headers, for
//! each receive path (`recvmmsg`, the `TPACKET_V3` ring) and send path (plain `sendmmsg`,
//! with `PACKET_QDISC_BYPASS`), the cases interleaved over `rounds` rounds so that a noisy
//! machine affects them alike.
//!
//! ```text
//! cargo run --release -p fvs-netdev --example af_packet_pps [seconds [rounds]]
//! ```

use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fvs_netdev::af_packet::{AfPacket, AfPacketOptions, BlockRing, FrameRing, RxPath};
use fvs_netdev::poll::Poller;
use fvs_netdev::{Netdev, PacketBatch, netns};

/// Deletes the namespace when the run ends, however it ends.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let status = Command::new("ip")
        .args(args)
        .status()
        .map_err(|e| format!("ip: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("ip {args:?} failed"))
    }
}

fn main() -> ExitCode {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    match run(Duration::from_secs(arg(1, 5)), arg(2, 1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("af_packet_pps: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(duration: Duration, rounds: u64) -> Result<(), String> {
    let ns = Namespace(format!("fvs-bench-{}", std::process::id()));
    ip(&["netns", "add", &ns.0])?;
    let exec = |args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.0, "ip"];
        full.extend_from_slice(args);
        ip(&full)
    };
    exec(&[
        "link", "add", "fvsa", "type", "veth", "peer", "name", "fvsb",
    ])?;
    exec(&["link", "set", "fvsa", "up"])?;
    exec(&["link", "set", "fvsb", "up"])?;
    println!(
        "af_packet over veth, 60-byte frames, batches of 32, {} s per case",
        duration.as_secs()
    );
    let cases = [
        ("recvmmsg", RxPath::Recvmmsg, false),
        ("V2 ring", RxPath::Frames(FrameRing::DEFAULT), false),
        ("V3 ring", RxPath::Blocks(BlockRing::DEFAULT), false),
        ("V2 ring+bypass", RxPath::Frames(FrameRing::DEFAULT), true),
    ];
    for round in 1..=rounds {
        println!("round {round}");
        for vnet_hdr in [false, true] {
            for (path, rx, qdisc_bypass) in cases {
                let (rx, tx) = {
                    let _in_ns = netns::enter(&ns.0).map_err(|e| e.to_string())?;
                    let options = AfPacketOptions {
                        vnet_hdr,
                        rx,
                        qdisc_bypass,
                    };
                    let rx = AfPacket::open("fvsa", options).map_err(|e| e.to_string())?;
                    let tx = AfPacket::open("fvsb", options).map_err(|e| e.to_string())?;
                    (rx, tx)
                };
                let label = format!("{path} {}", if vnet_hdr { "vnet_hdr" } else { "plain" });
                measure(rx, tx, duration, &label)?;
            }
        }
        for (path, rx, qdisc_bypass) in &cases[..3] {
            let (rx, tx) = {
                let _in_ns = netns::enter(&ns.0).map_err(|e| e.to_string())?;
                let options = AfPacketOptions {
                    vnet_hdr: true,
                    rx: *rx,
                    qdisc_bypass: *qdisc_bypass,
                };
                let rx = AfPacket::open("fvsa", options).map_err(|e| e.to_string())?;
                let tx = AfPacket::open("fvsb", options).map_err(|e| e.to_string())?;
                (rx, tx)
            };
            latency(rx, tx, path)?;
        }
    }
    Ok(())
}

/// One frame every 5 ms, 200 times: how long each takes from `sendmmsg` to the receiver,
/// which sleeps in poll(2) between frames (the light-traffic latency of a receive path).
fn latency(mut rx: AfPacket, mut tx: AfPacket, label: &str) -> Result<(), String> {
    let mut out = PacketBatch::new(1, 64);
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5];
    frame.resize(60, 0);
    out.push(&frame).map_err(|e| e.to_string())?;
    let mut batch = PacketBatch::new(32, 2048);
    let mut poller = Poller::new();
    let mut delays = Vec::new();
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(5));
        let sent = Instant::now();
        tx.send_batch(&out).map_err(|e| e.to_string())?;
        loop {
            batch.clear();
            if rx.recv_batch(&mut batch).map_err(|e| e.to_string())? > 0 {
                break;
            }
            if sent.elapsed() > Duration::from_secs(1) {
                return Err(format!("{label}: a frame took more than 1 s"));
            }
            let fd = rx.fd().ok_or("no descriptor")?;
            poller
                .wait(&[fd], Duration::from_millis(100))
                .map_err(|e| e.to_string())?;
        }
        delays.push(sent.elapsed().as_micros() as u64);
    }
    delays.sort_unstable();
    let avg = delays.iter().sum::<u64>() / delays.len() as u64;
    println!(
        "{:>20}: one frame every 5 ms: latency average {avg} µs, median {} µs, p99 {} µs",
        format!("{label} latency"),
        delays[delays.len() / 2],
        delays[delays.len() * 99 / 100],
    );
    Ok(())
}

fn measure(
    mut rx: AfPacket,
    mut tx: AfPacket,
    duration: Duration,
    label: &str,
) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut batch = PacketBatch::new(32, 64);
            let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5];
            frame.resize(60, 0);
            while !batch.is_full() {
                let _ = batch.push(&frame);
            }
            let cpu = thread_cpu();
            while !stop.load(Ordering::Relaxed) {
                let _ = tx.send_batch(&batch);
            }
            (tx.stats(), thread_cpu().saturating_sub(cpu))
        })
    };
    // The receiver sleeps in poll(2) when the device has nothing, as the datapath thread does.
    let mut batch = PacketBatch::new(32, 2048);
    let mut poller = Poller::new();
    let cpu = thread_cpu();
    let start = Instant::now();
    while start.elapsed() < duration {
        batch.clear();
        if rx.recv_batch(&mut batch).map_err(|e| e.to_string())? == 0 {
            let fd = rx.fd().ok_or("no descriptor")?;
            poller
                .wait(&[fd], Duration::from_millis(10))
                .map_err(|e| e.to_string())?;
        }
    }
    let rx_cpu = thread_cpu().saturating_sub(cpu);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (tx_stats, tx_cpu) = sender
        .join()
        .map_err(|_| "sender thread panicked".to_owned())?;
    let rx_stats = rx.stats();
    let per_frame = |cpu: Duration, frames: u64| cpu.as_nanos() as f64 / frames.max(1) as f64;
    println!(
        "{label:>20}: offered {:>4.0} kpps, received {:>4.0} kpps, rx dropped {}, tx dropped {}; CPU per frame: sender {:>4.0} ns, receiver {:>4.0} ns",
        tx_stats.tx_packets as f64 / elapsed / 1e3,
        rx_stats.rx_packets as f64 / elapsed / 1e3,
        rx_stats.rx_dropped,
        tx_stats.tx_dropped,
        per_frame(tx_cpu, tx_stats.tx_packets),
        per_frame(rx_cpu, rx_stats.rx_packets),
    );
    Ok(())
}

/// CPU time (user + system) the calling thread has used, from `/proc/thread-self/stat`
/// (clock ticks of 10 ms: runs of a few seconds give a few hundred ticks).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
