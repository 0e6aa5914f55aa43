//! The dummy device: frames in memory and in pcap files, for tests and demos without root.
//!
//! It plays the part of Open vSwitch's `dummy` netdev. A [`DummyHandle`] (any number of
//! clones, from any thread) injects frames as if they had arrived and takes the frames the
//! switch sent. The options `rx_pcap` and `tx_pcap` work as in Open vSwitch: every frame of the
//! `rx_pcap` file is received once, in order, ahead of injected ones; every frame sent is
//! appended to the `tx_pcap` file, flushed after each batch so a test can read it while the
//! switch runs.
//!
//! The dummy carries virtio-net headers through unchanged ([`Netdev::has_vnet_hdr`] is true),
//! so offload handling in the switch can be tested without a kernel, unless it writes a
//! `tx_pcap` file (a capture is a wire: it holds complete frames only) or
//! [`Dummy::set_vnet_hdr`] turned them off (a stand-in for a device without offloads).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use fvs_packet::MacAddr;

use crate::batch::{GsoType, PacketBatch, VnetHdr};
use crate::error::Result;
use crate::pcap::{PcapReader, PcapWriter};
use crate::{LinkState, Netdev, NetdevStats};

/// Open vSwitch's dummy devices default to an MTU of 1500.
const DEFAULT_MTU: u32 = 1500;
/// What a frame may carry beyond its MTU: an Ethernet header and one VLAN tag.
const MAX_L2_OVERHEAD: usize = 14 + 4;

/// A frame taken from (or given to) a dummy device, with its offload header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The Ethernet frame.
    pub data: Vec<u8>,
    /// Its offload state.
    pub vnet: VnetHdr,
}

/// An in-memory device.
pub struct Dummy {
    name: String,
    shared: Arc<Mutex<Shared>>,
    mtu: u32,
    mac: MacAddr,
    stats: NetdevStats,
    rx_pcap: Option<PcapReader<BufReader<File>>>,
    tx_pcap: Option<PcapWriter<BufWriter<File>>>,
    vnet_hdr: bool,
}

/// The other side of a [`Dummy`]: inject frames, take sent frames, pull the cable.
#[derive(Clone)]
pub struct DummyHandle {
    shared: Arc<Mutex<Shared>>,
}

/// State shared between the device and its handles.
struct Shared {
    rx: VecDeque<Frame>,
    tx: VecDeque<Frame>,
    link: LinkState,
}

impl Dummy {
    /// A new device named `name`, link up, MTU 1500, with its handle.
    pub fn new(name: &str) -> (Self, DummyHandle) {
        let shared = Arc::new(Mutex::new(Shared {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            link: LinkState::Up,
        }));
        let handle = DummyHandle {
            shared: Arc::clone(&shared),
        };
        let dev = Self {
            name: name.to_owned(),
            shared,
            mtu: DEFAULT_MTU,
            mac: MacAddr([0xaa, 0x55, 0xaa, 0x55, 0, 0]),
            stats: NetdevStats::default(),
            rx_pcap: None,
            tx_pcap: None,
            vnet_hdr: true,
        };
        (dev, handle)
    }

    /// Whether the device takes frames with offloads pending (true by default). Set before
    /// the device is given to a datapath, which sizes its buffers by it.
    pub fn set_vnet_hdr(&mut self, on: bool) {
        self.vnet_hdr = on;
    }

    /// Receives the frames of the pcap file at `path` (Open vSwitch's `options:rx_pcap`).
    pub fn set_rx_pcap(&mut self, path: &Path) -> Result<()> {
        self.rx_pcap = Some(PcapReader::open(path)?);
        Ok(())
    }

    /// Writes every frame sent to a new pcap file at `path` (Open vSwitch's `options:tx_pcap`).
    pub fn set_tx_pcap(&mut self, path: &Path) -> Result<()> {
        let mut w = PcapWriter::create(path)?;
        // The header goes out at once, as Open vSwitch's does: a reader of a port that sent
        // nothing finds an empty capture, not a truncated file.
        w.flush()?;
        self.tx_pcap = Some(w);
        Ok(())
    }

    /// The next frame to receive: from the rx pcap file first, then from the handle's queue.
    /// A pcap file that turns out to be corrupt is closed and counted as one receive error.
    fn next_rx(&mut self, shared: &mut Shared) -> Option<Frame> {
        if let Some(reader) = &mut self.rx_pcap {
            match reader.next_record() {
                Ok(Some(record)) => {
                    return Some(Frame {
                        data: record.data,
                        vnet: VnetHdr::NONE,
                    });
                }
                Ok(None) => self.rx_pcap = None,
                Err(_) => {
                    self.stats.rx_errors += 1;
                    self.rx_pcap = None;
                }
            }
        }
        shared.rx.pop_front()
    }
}

impl Netdev for Dummy {
    fn recv_batch(&mut self, batch: &mut PacketBatch) -> Result<usize> {
        let shared = Arc::clone(&self.shared);
        let mut shared = lock(&shared);
        let mut received = 0;
        while received < batch.capacity() - batch.len() {
            let Some(frame) = self.next_rx(&mut shared) else {
                break;
            };
            if shared.link == LinkState::Down {
                self.stats.rx_dropped += 1;
                continue;
            }
            let slot = &mut batch.spare_mut()[received];
            if slot.set_frame(&frame.data).is_err() {
                // Longer than the batch's buffers: the switch could not hold it either.
                self.stats.rx_errors += 1;
                continue;
            }
            slot.set_vnet(frame.vnet);
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += frame.data.len() as u64;
            received += 1;
        }
        batch.commit(received);
        Ok(received)
    }

    fn send_batch(&mut self, batch: &PacketBatch) -> Result<usize> {
        let mut shared = lock(&self.shared);
        if shared.link == LinkState::Down {
            self.stats.tx_dropped += batch.len() as u64;
            return Ok(0);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let vnet_hdr = self.has_vnet_hdr();
        let mut sent = 0;
        for packet in batch {
            // As on a real device without offloads: never emit a frame still needing them.
            if !vnet_hdr && !packet.vnet().is_none() {
                self.stats.tx_dropped += 1;
                continue;
            }
            // Nor a frame longer than the MTU allows (a VLAN tag's worth of slack, as Open
            // vSwitch's dummy allows); a GSO super-frame is cut to size by whoever finishes it.
            if packet.len() > self.mtu as usize + MAX_L2_OVERHEAD
                && packet.vnet().gso_type.kind() == GsoType::NONE
            {
                self.stats.tx_dropped += 1;
                continue;
            }
            sent += 1;
            if let Some(w) = &mut self.tx_pcap {
                w.write(now, packet.data())?;
            }
            shared.tx.push_back(Frame {
                data: packet.data().to_vec(),
                vnet: packet.vnet(),
            });
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += packet.len() as u64;
        }
        if let Some(w) = &mut self.tx_pcap {
            w.flush()?;
        }
        Ok(sent)
    }

    fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        self.mtu = mtu;
        Ok(())
    }

    fn set_mac(&mut self, mac: MacAddr) -> Result<()> {
        self.mac = mac;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn mtu(&self) -> Result<u32> {
        Ok(self.mtu)
    }

    fn mac(&self) -> Result<MacAddr> {
        Ok(self.mac)
    }

    fn link_state(&self) -> Result<LinkState> {
        Ok(lock(&self.shared).link)
    }

    fn stats(&self) -> NetdevStats {
        self.stats
    }

    fn has_vnet_hdr(&self) -> bool {
        self.vnet_hdr && self.tx_pcap.is_none()
    }
}

impl DummyHandle {
    /// Queues `frame` as if it had arrived on the device.
    pub fn inject(&self, frame: &[u8]) {
        self.inject_with_vnet(frame, VnetHdr::NONE);
    }

    /// Queues `frame` with offload state, as a virtio-net peer would deliver it.
    pub fn inject_with_vnet(&self, frame: &[u8], vnet: VnetHdr) {
        lock(&self.shared).rx.push_back(Frame {
            data: frame.to_vec(),
            vnet,
        });
    }

    /// Sets the link state; while down, frames are dropped both ways and counted.
    pub fn set_link(&self, link: LinkState) {
        lock(&self.shared).link = link;
    }

    /// Takes every frame sent so far, oldest first.
    pub fn take_sent(&self) -> Vec<Frame> {
        lock(&self.shared).tx.drain(..).collect()
    }

    /// Number of injected frames not yet received.
    pub fn pending_rx(&self) -> usize {
        lock(&self.shared).rx.len()
    }
}

/// Locks the shared state; a panic in another holder leaves only plain queues behind, which
/// stay consistent, so a poisoned lock is used as is.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{GsoType, VnetFlags};

    fn frame(n: u8, len: usize) -> Vec<u8> {
        let mut f = vec![n; len];
        f[12] = 0x08;
        f[13] = 0x00;
        f
    }

    #[test]
    fn injected_frames_are_received_in_order_and_counted() {
        let (mut dev, handle) = Dummy::new("p1");
        for i in 0..5 {
            handle.inject(&frame(i, 60));
        }
        let mut batch = PacketBatch::new(3, 1518);
        assert_eq!(dev.recv_batch(&mut batch).unwrap(), 3);
        assert_eq!(
            dev.recv_batch(&mut batch).unwrap(),
            0,
            "a full batch takes nothing more"
        );
        batch.clear();
        assert_eq!(dev.recv_batch(&mut batch).unwrap(), 2);
        let firsts: Vec<u8> = batch.iter().map(|p| p.data()[0]).collect();
        assert_eq!(firsts, [3, 4]);
        assert_eq!(handle.pending_rx(), 0);
        let s = dev.stats();
        assert_eq!((s.rx_packets, s.rx_bytes), (5, 300));
    }

    #[test]
    fn sent_frames_reach_the_handle_with_offload_state() {
        let (mut dev, handle) = Dummy::new("p1");
        let gso = VnetHdr {
            flags: VnetFlags::NEEDS_CSUM,
            gso_type: GsoType::TCPV4,
            gso_size: 1448,
            ..VnetHdr::NONE
        };
        let mut batch = PacketBatch::new(4, 1518);
        batch.push(&frame(1, 60)).unwrap();
        batch.push_with_vnet(&frame(2, 100), gso).unwrap();
        assert_eq!(dev.send_batch(&batch).unwrap(), 2);
        let sent = handle.take_sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].data, frame(1, 60));
        assert_eq!(sent[1].vnet, gso);
        assert_eq!(dev.stats().tx_bytes, 160);
    }

    #[test]
    fn frames_over_the_mtu_are_dropped_and_counted() {
        let (mut dev, handle) = Dummy::new("p1");
        let mut batch = PacketBatch::new(4, 9216);
        batch.push(&frame(1, 1518)).unwrap();
        batch.push(&frame(2, 1519)).unwrap();
        assert_eq!(dev.send_batch(&batch).unwrap(), 1);
        assert_eq!(handle.take_sent().len(), 1);
        assert_eq!(dev.stats().tx_dropped, 1);
        dev.set_mtu(9000).unwrap();
        assert_eq!(dev.send_batch(&batch).unwrap(), 2, "a jumbo MTU takes both");
    }

    #[test]
    fn without_offloads_pending_offloads_are_dropped_and_counted() {
        let (mut dev, handle) = Dummy::new("p1");
        dev.set_vnet_hdr(false);
        assert!(!dev.has_vnet_hdr());
        let csum = VnetHdr {
            flags: VnetFlags::NEEDS_CSUM,
            ..VnetHdr::NONE
        };
        let mut batch = PacketBatch::new(4, 1518);
        batch.push(&frame(1, 60)).unwrap();
        batch.push_with_vnet(&frame(2, 100), csum).unwrap();
        assert_eq!(dev.send_batch(&batch).unwrap(), 1);
        assert_eq!(handle.take_sent().len(), 1);
        assert_eq!(dev.stats().tx_dropped, 1);
    }

    #[test]
    fn oversized_frames_and_link_down_are_counted_not_delivered() {
        let (mut dev, handle) = Dummy::new("p1");
        handle.inject(&frame(1, 2000));
        handle.inject(&frame(2, 60));
        let mut batch = PacketBatch::new(4, 1518);
        assert_eq!(dev.recv_batch(&mut batch).unwrap(), 1);
        assert_eq!(batch.packets()[0].data()[0], 2);
        assert_eq!(dev.stats().rx_errors, 1);

        handle.set_link(LinkState::Down);
        assert_eq!(dev.link_state().unwrap(), LinkState::Down);
        handle.inject(&frame(3, 60));
        batch.clear();
        assert_eq!(dev.recv_batch(&mut batch).unwrap(), 0);
        assert_eq!(dev.stats().rx_dropped, 1);
        batch.push(&frame(4, 60)).unwrap();
        assert_eq!(dev.send_batch(&batch).unwrap(), 0);
        assert_eq!(dev.stats().tx_dropped, 1);
        assert!(handle.take_sent().is_empty());
    }
}
