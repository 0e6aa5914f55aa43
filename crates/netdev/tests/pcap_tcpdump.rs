//! The dummy device's pcap files against tcpdump, the format's reference reader and writer.
//!
//! `tcpdump` must be installed (Debian package `tcpdump`; the test script installs it). Without
//! it these tests fail rather than skip.

use std::path::Path;
use std::process::Command;

use fvs_netdev::dummy::Dummy;
use fvs_netdev::{Netdev, PacketBatch};
use fvs_test_support::TempDir;
use fvs_test_support::frames::ipv4_checksum;

/// An Ethernet/IPv4/UDP frame from 10.0.0.1:1000 to 10.0.0.2:2000 with `payload` bytes.
fn udp_frame(payload: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let ip_len = u16::try_from(20 + 8 + payload).unwrap();
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let sum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let udp_len = u16::try_from(8 + payload).unwrap();
    f.extend_from_slice(&[0x03, 0xe8, 0x07, 0xd0]);
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend((0..payload).map(|i| i as u8));
    f
}

fn tcpdump(args: &[&str]) -> String {
    let out = Command::new("tcpdump")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("tcpdump is required for this test (Debian package `tcpdump`): {e}")
        });
    assert!(
        out.status.success(),
        "tcpdump {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tx_pcap_is_readable_by_tcpdump() {
    let dir = TempDir::new("tx");
    let path = dir.join("tx.pcap");
    let (mut dev, _handle) = Dummy::new("p1");
    dev.set_tx_pcap(&path).unwrap();
    let mut batch = PacketBatch::new(8, 1518);
    for payload in [18, 100, 1000] {
        batch.push(&udp_frame(payload)).unwrap();
    }
    assert_eq!(dev.send_batch(&batch).unwrap(), 3);

    let text = tcpdump(&["-nn", "-e", "-r", path.to_str().unwrap()]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, (frame_len, udp_payload)) in lines.iter().zip([(60, 18), (142, 100), (1042, 1000)]) {
        assert!(
            line.contains("02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800)"),
            "{line}"
        );
        assert!(
            line.contains(&format!(
                "length {frame_len}: 10.0.0.1.1000 > 10.0.0.2.2000: UDP, length {udp_payload}"
            )),
            "{line}"
        );
    }
}

#[test]
fn rx_pcap_reads_what_tcpdump_writes() {
    let dir = TempDir::new("rx");
    let ours = dir.join("ours.pcap");
    let theirs = dir.join("theirs.pcap");
    let frames: Vec<Vec<u8>> = (0..20).map(|i| udp_frame(18 + i * 7)).collect();

    let (mut writer, _h) = Dummy::new("w");
    writer.set_tx_pcap(&ours).unwrap();
    let mut batch = PacketBatch::new(32, 1518);
    for f in &frames {
        batch.push(f).unwrap();
    }
    writer.send_batch(&batch).unwrap();
    // tcpdump rewrites the capture in its own writer's form (libpcap's), which we then read.
    tcpdump(&["-r", ours.to_str().unwrap(), "-w", theirs.to_str().unwrap()]);
    assert_ne!(std::fs::metadata(&theirs).unwrap().len(), 0);

    let (mut dev, handle) = Dummy::new("p1");
    dev.set_rx_pcap(Path::new(&theirs)).unwrap();
    handle.inject(&udp_frame(1));
    let mut got = Vec::new();
    let mut batch = PacketBatch::new(8, 1518);
    while dev.recv_batch(&mut batch).unwrap() > 0 {
        got.extend(batch.iter().map(|p| p.data().to_vec()));
        batch.clear();
    }
    assert_eq!(got.len(), 21, "the file's frames, then the injected one");
    assert_eq!(&got[..20], &frames[..]);
    assert_eq!(got[20], udp_frame(1));
}
