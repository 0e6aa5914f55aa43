//! Packet rate of the AF_PACKET device over a veth pair, in a throw-away network namespace.
//!
//! Needs root. One thread sends 60-byte frames on one end in batches of 32 as fast as it can;
//! the main thread receives them on the other end. Prints the offered rate (frames the kernel
//! took), the received rate and the drops, for plain frames and with virtio-net headers.
//!
//! ```text
//! cargo run --release -p fvs-netdev --example af_packet_pps [seconds]
//! ```

use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fvs_netdev::af_packet::{AfPacket, AfPacketOptions};
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
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    match run(Duration::from_secs(seconds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("af_packet_pps: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(duration: Duration) -> Result<(), String> {
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
    for vnet_hdr in [false, true] {
        let (rx, tx) = {
            let _in_ns = netns::enter(&ns.0).map_err(|e| e.to_string())?;
            let options = AfPacketOptions { vnet_hdr };
            let rx = AfPacket::open("fvsa", options).map_err(|e| e.to_string())?;
            let tx = AfPacket::open("fvsb", options).map_err(|e| e.to_string())?;
            (rx, tx)
        };
        measure(
            rx,
            tx,
            duration,
            if vnet_hdr { "vnet_hdr" } else { "plain" },
        )?;
    }
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
            while !stop.load(Ordering::Relaxed) {
                let _ = tx.send_batch(&batch);
            }
            tx.stats()
        })
    };
    let mut batch = PacketBatch::new(32, 2048);
    let start = Instant::now();
    while start.elapsed() < duration {
        batch.clear();
        if rx.recv_batch(&mut batch).map_err(|e| e.to_string())? == 0 {
            std::thread::yield_now();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let tx_stats = sender
        .join()
        .map_err(|_| "sender thread panicked".to_owned())?;
    let rx_stats = rx.stats();
    println!(
        "{label:>9}: offered {:>6.0} kpps, received {:>6.0} kpps, rx dropped {} (socket overflow), tx dropped {}",
        tx_stats.tx_packets as f64 / elapsed / 1e3,
        rx_stats.rx_packets as f64 / elapsed / 1e3,
        rx_stats.rx_dropped,
        tx_stats.tx_dropped,
    );
    Ok(())
}
