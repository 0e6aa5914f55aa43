//! Packet rate of the kernel-stack tunnel underlay between two throw-away network namespaces
//! joined by a veth pair: what the underlay alone costs, without a switch.
//!
//! Needs root. For GRE, VXLAN and Geneve in turn, one thread sends outer frames (a 60-byte
//! inner frame, encapsulated by fvs-packet) through host A's underlay in batches of 32 as
//! fast as it can; the main thread receives them on host B's underlay. Prints the offered
//! rate (datagrams the kernel took), the received rate and the receive errors, and for VXLAN
//! and Geneve how many `UDP_SEGMENT` sends carried them and how many coalesced `UDP_GRO`
//! buffers brought them (every batch is one run: one flow, equal sizes).
//!
//! ```text
//! cargo run --release -p fvs-netdev --example tunnel_pps [seconds]
//! ```

use std::net::Ipv4Addr;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fvs_netdev::tunnel::{KernelTunnel, UnderlayConfig};
use fvs_netdev::{Netdev, PacketBatch, netns};
use fvs_packet::ethernet::MacAddr;
use fvs_packet::tunnel::{Encap, TunnelProtocol, encapsulate};

const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 95, 0, 1);
const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 95, 0, 2);

/// Deletes the namespaces when the run ends, however it ends.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
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
            eprintln!("tunnel_pps: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(duration: Duration) -> Result<(), String> {
    let pid = std::process::id();
    let (a, b) = (format!("fvs-tpps-{pid}-a"), format!("fvs-tpps-{pid}-b"));
    let mut guard = Namespaces(Vec::new());
    for ns in [&a, &b] {
        ip(&["netns", "add", ns])?;
        guard.0.push(ns.clone());
    }
    ip(&[
        "-n", &a, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", &b,
    ])?;
    for (ns, addr) in [(&a, "10.95.0.1/24"), (&b, "10.95.0.2/24")] {
        ip(&["-n", ns, "addr", "add", addr, "dev", "ul0"])?;
        ip(&["-n", ns, "link", "set", "ul0", "up"])?;
    }
    println!(
        "kernel-stack tunnel underlay over veth, 60-byte inner frames, batches of 32, {} s per case",
        duration.as_secs()
    );
    for protocol in [
        TunnelProtocol::Gre,
        TunnelProtocol::Vxlan,
        TunnelProtocol::Geneve,
    ] {
        let config = UnderlayConfig::new(protocol);
        let open = |ns: &str| -> Result<KernelTunnel, String> {
            let _in_ns = netns::enter(ns).map_err(|e| e.to_string())?;
            KernelTunnel::open(config).map_err(|e| e.to_string())
        };
        let tx = open(&a)?;
        let rx = open(&b)?;
        measure(protocol, tx, rx, duration)?;
    }
    Ok(())
}

fn measure(
    protocol: TunnelProtocol,
    mut tx: KernelTunnel,
    mut rx: KernelTunnel,
    duration: Duration,
) -> Result<(), String> {
    let mut inner = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5];
    inner.resize(60, 0);
    let mut e = Encap::new(
        protocol,
        MacAddr::ZERO,
        MacAddr::ZERO,
        HOST_A,
        HOST_B,
        Some(1),
    );
    e.udp_src = 49152;
    let outer = encapsulate(&e, &inner).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut batch = PacketBatch::new(32, 256);
            while !batch.is_full() {
                let _ = batch.push(&outer);
            }
            while !stop.load(Ordering::Relaxed) {
                let _ = tx.send_batch(&batch);
            }
            (tx.stats(), tx.udp_offload_stats())
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
    let (sent, gso) = sender.join().map_err(|_| "sender panicked".to_owned())?;
    let got = rx.stats();
    let gro = rx.udp_offload_stats();
    println!(
        "{:<7} offered {:>5.0} kpps  received {:>5.0} kpps  send drops {}  receive errors {}  \
         UDP_SEGMENT sends {} ({} packets)  UDP_GRO buffers {} ({} packets)",
        format!("{protocol:?}"),
        sent.tx_packets as f64 / elapsed / 1000.0,
        got.rx_packets as f64 / elapsed / 1000.0,
        sent.tx_dropped + sent.tx_errors,
        got.rx_errors,
        gso.gso_sends,
        gso.gso_segments,
        gro.gro_buffers,
        gro.gro_segments,
    );
    Ok(())
}
