//! The datapath thread: owns the `fvs_datapath::Datapath`, waits in `poll(2)` on its
//! devices and a wake-up socket, moves batches, and between batches drains control messages
//! and revalidates.
//!
//! The loop never waits for the control plane except to take the switch's lock for an
//! upcall or a revalidation pass; whoever holds that lock must not wait for this thread
//! (the reconciler sends its port changes without waiting for an answer).

use std::collections::BTreeSet;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fvs_datapath::Datapath;
use fvs_datapath::port::PortKind;
use fvs_flow::FlowKey;
use fvs_netdev::PacketBatch;
use fvs_netdev::poll::Poller;
use fvs_pipeline::bridge::Removed;
use fvs_pipeline::dpif::{DpAction, DpActions, DpPort};

use super::PacketIn;
use super::busy_poll::Spinner;
use super::pmd::CoreId;
use super::slow::Slow;
use crate::Daemon;
use crate::vlog::Level;

/// How often a revalidation pass runs (rule statistics and learning for cached packets).
pub const REVALIDATE_EVERY: Duration = Duration::from_millis(200);
/// How often every megaflow is re-translated even when nothing says the tables changed
/// (MAC entries that aged out, anything a generation does not see).
pub const FULL_EVERY: Duration = Duration::from_secs(5);
/// Batches taken from one device per round, so one busy device cannot starve the others or
/// the control messages.
const BATCHES_PER_ROUND: usize = 8;
/// Packets per receive batch.
const BATCH: usize = 32;
/// The most packets one device gives in a round; a device that gave this many may have more.
const ROUND_LIMIT: usize = BATCH * BATCHES_PER_ROUND;

/// A message to the datapath thread.
pub enum Ctl {
    /// Add a port.
    AddPort {
        /// Its number.
        no: DpPort,
        /// Its name.
        name: String,
        /// The device or vport.
        kind: PortKind,
    },
    /// Remove a port.
    RemovePort(DpPort),
    /// Ports or bridges changed: flush the megaflows (their cached effects name bridges by
    /// position) and start again.
    Flush,
    /// Re-translate every megaflow at the next pass.
    Revalidate,
    /// Receive what is waiting on a port now, then answer.
    Poll(DpPort, Sender<()>),
    /// Run actions on a frame (packet-out).
    Execute {
        /// The frame.
        frame: Vec<u8>,
        /// Its key (datapath `in_port`), boxed: messages stay small.
        key: Box<FlowKey>,
        /// The actions.
        actions: DpActions,
    },
    /// Run a closure on the thread's state (queries, and anything that must see the
    /// datapath as it is between batches).
    Run(Box<dyn FnOnce(&mut Fast) + Send>),
    /// From now on receive from these ports (and no others).
    Receive(BTreeSet<DpPort>),
    /// Revalidate once more (so what the megaflows forwarded is counted) and end.
    Stop,
}

/// The handlers every datapath thread hands packet-ins and expired rules to.
#[derive(Default)]
pub struct Handlers {
    /// Where packet-ins go.
    pub packet_in: Mutex<Option<PacketInHandler>>,
    /// Where expired rules go.
    pub removed: Mutex<Option<RemovedHandler>>,
    /// Native tunnels' routes and neighbours ([`super::native`]).
    pub native: super::native::Shared,
}

/// Where packet-ins go.
pub type PacketInHandler = Box<dyn FnMut(PacketIn) + Send>;

/// Where rules that expired go (bridge name and the rule), for flow-removed messages.
pub type RemovedHandler = Box<dyn FnMut(Vec<(String, Removed)>) + Send>;

/// Everything the thread owns.
pub struct Fast {
    /// The daemon (the switch, the clock, the log).
    pub daemon: Arc<Daemon>,
    /// The datapath.
    pub dp: Datapath,
    /// The slow path.
    pub slow: Slow,
    /// Packet-ins without a handler, or that the handler had no room for.
    pub packet_in_dropped: u64,
    /// Packet-ins handed over.
    pub packet_ins: u64,
    /// Receive errors from devices.
    pub recv_errors: u64,
    /// Where packet-ins and expired rules go (shared by every thread).
    pub handlers: Arc<Handlers>,
    /// This thread's number (0 is the first).
    pub id: usize,
    /// The core it is pinned to (`pmd-cpu-mask`), if any.
    pub core: Option<CoreId>,
    /// The ports it receives from.
    pub rx_ports: BTreeSet<DpPort>,
    /// When the last revalidation pass took and how long it took.
    pub last_dump: Duration,
    /// Busy polling after traffic (`pmd-busy-poll`).
    pub spin: Spinner,
    /// This thread's megaflows forwarded by the kernel (`hw-offload`, [`super::offload`]).
    pub offload: super::offload::Offload,
    last_revalidate: Instant,
    last_full: Instant,
    full_pending: bool,
    /// The native-tunnel generation this thread's datapath has ([`super::native`]).
    native_generation: u64,
}

/// The thread's body; returns when every sender is gone.
pub fn run(
    daemon: &Arc<Daemon>,
    rx: &Receiver<Ctl>,
    mut waker: UnixStream,
    id: usize,
    core: Option<CoreId>,
    handlers: Arc<Handlers>,
) {
    let mut fast = Fast {
        daemon: Arc::clone(daemon),
        dp: Datapath::new(),
        slow: Slow::default(),
        packet_in_dropped: 0,
        packet_ins: 0,
        recv_errors: 0,
        handlers,
        id,
        core,
        rx_ports: BTreeSet::new(),
        last_dump: Duration::ZERO,
        spin: Spinner::default(),
        offload: super::offload::Offload::default(),
        last_revalidate: Instant::now(),
        last_full: Instant::now(),
        full_pending: false,
        native_generation: 0,
    };
    fast.dp.set_meters(daemon.meters().view());
    // Devices with virtio-net headers hand over TSO/GSO super-frames of up to 64 KiB.
    let mut batch = PacketBatch::new(BATCH, fvs_netdev::batch::GSO_FRAME_CAPACITY);
    let mut poller = Poller::new();
    let mut ready: Vec<DpPort> = Vec::new();
    // Whether the last round moved any packet: then more are most likely waiting, and the
    // round after does not sleep. It reads the devices with a receive ring directly (an
    // empty ring costs a memory read) and those a round left unfinished (they may hold
    // packets poll(2) cannot see), and asks poll(2) with no timeout about the others: one
    // system call instead of one failed read per TAP device or socket, which is a few
    // microseconds on every packet's way through a quiet switch (a ping's, say).
    let mut busy = false;
    let mut unfinished: Vec<DpPort> = Vec::new();
    loop {
        ready.clear();
        let mut woken = false;
        if busy {
            let mut fds = Vec::new();
            let mut owners = Vec::new();
            for (no, _, kind) in fast.dp.ports() {
                let PortKind::Netdev(d) = kind else { continue };
                if !fast.rx_ports.contains(&no) {
                    continue;
                }
                match d.fd() {
                    Some(fd) if !d.has_rx_ring() && !unfinished.contains(&no) => {
                        fds.push(fd);
                        owners.push(no);
                    }
                    _ => ready.push(no),
                }
            }
            if !fds.is_empty() {
                match poller.wait(&fds, Duration::ZERO) {
                    Ok(_) => {
                        for (i, no) in owners.iter().enumerate() {
                            if poller.is_ready(i) {
                                ready.push(*no);
                            }
                        }
                    }
                    Err(e) => {
                        daemon.log("dpif", Level::Warn, &format!("poll: {e}"));
                        ready.extend(owners);
                    }
                }
            }
        } else {
            let timeout = REVALIDATE_EVERY.saturating_sub(fast.last_revalidate.elapsed());
            let mut fds = vec![waker.as_fd()];
            let mut owners = Vec::new();
            for (no, _, kind) in fast.dp.ports() {
                if !fast.rx_ports.contains(&no) {
                    continue;
                }
                if let PortKind::Netdev(d) = kind {
                    match d.fd() {
                        Some(fd) => {
                            fds.push(fd);
                            owners.push(no);
                        }
                        // Devices without a descriptor (dummy) are read every round.
                        None => ready.push(no),
                    }
                }
            }
            // Within the busy-poll budget after traffic, only look ([`super::busy_poll`]).
            let spinning = fast.spin.spinning(Instant::now());
            let wait = if spinning {
                Duration::ZERO
            } else if ready.is_empty() {
                timeout
            } else {
                timeout.min(Duration::from_millis(100))
            };
            match poller.wait(&fds, wait) {
                Ok(0) if spinning && ready.is_empty() => fast.spin.idle_look(),
                Ok(_) => {}
                Err(e) => daemon.log("dpif", Level::Warn, &format!("poll: {e}")),
            }
            woken = poller.is_ready(0);
            for (i, no) in owners.iter().enumerate() {
                if poller.is_ready(i + 1) {
                    ready.push(*no);
                }
            }
        }
        // Control messages are in the channel, which costs no system call to look at; the
        // wake-up socket is emptied when poll said it was readable or a message came (a
        // wake-up left behind only makes the next idle poll return at once).
        let mut messages = false;
        loop {
            match rx.try_recv() {
                Ok(Ctl::Stop) => {
                    fast.revalidate();
                    return;
                }
                Ok(msg) => {
                    messages = true;
                    handle(&mut fast, &mut batch, msg);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if woken || messages {
            let mut buf = [0u8; 64];
            // Nonblocking: read until empty.
            while matches!(waker.read(&mut buf), Ok(n) if n > 0) {}
        }
        // A native-tunnel change made while this thread slept applies to the packets that
        // woke it, not from the packet after them.
        sync_native(&mut fast);
        let mut moved = 0;
        unfinished.clear();
        for &no in &ready {
            let got = receive(&mut fast, &mut batch, no);
            if got == ROUND_LIMIT {
                unfinished.push(no);
            }
            moved += got;
        }
        busy = moved > 0;
        if busy {
            fast.spin.traffic(Instant::now());
        }
        sync_native(&mut fast);
        deliver_userspace(&mut fast);
        if fast.last_revalidate.elapsed() >= REVALIDATE_EVERY {
            fast.revalidate();
        }
    }
}

/// Takes up to a few batches from one port; returns how many packets it received.
fn receive(fast: &mut Fast, batch: &mut PacketBatch, no: DpPort) -> usize {
    let Fast {
        dp, slow, daemon, ..
    } = fast;
    let daemon: &Daemon = daemon;
    dp.set_now(daemon.now());
    let mut total = 0;
    for _ in 0..BATCHES_PER_ROUND {
        let mut up = |k: &FlowKey, p: &fvs_netdev::Packet| {
            let now = daemon.now();
            slow.upcall(&mut daemon.switch(), k, p.len() as u64, now)
        };
        match dp.poll(no, batch, &mut up) {
            Ok(n) if n == BATCH => total += n,
            Ok(n) => {
                total += n;
                break;
            }
            Err(e) => {
                fast.recv_errors += 1;
                daemon.log("dpif", Level::Dbg, &format!("receive on port {no}: {e}"));
                break;
            }
        }
    }
    total
}

fn handle(fast: &mut Fast, batch: &mut PacketBatch, msg: Ctl) {
    let daemon = Arc::clone(&fast.daemon);
    match msg {
        Ctl::AddPort { no, name, kind } => {
            fast.slow.forget_port(no);
            if let Err(e) = fast.dp.add_port(no, &name, kind) {
                daemon.log("dpif", Level::Warn, &format!("{name}: {e}"));
            }
        }
        Ctl::RemovePort(no) => {
            fast.slow.forget_port(no);
            if let Err(e) = fast.dp.remove_port(no) {
                daemon.log("dpif", Level::Warn, &format!("removing port {no}: {e}"));
            }
            fast.slow.clear();
        }
        Ctl::Flush => {
            fast.dp.flush();
            fast.slow.clear();
        }
        Ctl::Revalidate => fast.full_pending = true,
        Ctl::Poll(no, reply) => {
            let _ = receive(fast, batch, no);
            deliver_userspace(fast);
            let _ = reply.send(());
        }
        Ctl::Execute {
            frame,
            key,
            actions,
        } => {
            fast.dp.set_now(daemon.now());
            fast.dp.execute(&frame, &key, &actions);
            deliver_userspace(fast);
        }
        Ctl::Run(f) => f(fast),
        Ctl::Receive(ports) => fast.rx_ports = ports,
        // Handled by the loop, which ends.
        Ctl::Stop => {}
    }
}

/// Shares what this thread snooped, takes the native-tunnel configuration when it changed,
/// and runs what a packet-out left to re-enter (an ARP request, an encapsulated packet).
fn sync_native(fast: &mut Fast) {
    let snooped = fast.dp.take_snooped();
    let shared = &fast.handlers.native;
    if !snooped.is_empty() {
        shared.snooped(&snooped, &fast.dp.native().endpoints, fast.daemon.now());
    }
    let unrouted = fast.dp.take_unrouted();
    if !unrouted.is_empty() {
        shared.want_routes(&unrouted);
    }
    let g = shared.generation();
    if g != fast.native_generation {
        fast.native_generation = g;
        let config = shared.config();
        fast.dp.set_native(config);
    }
    if fast.dp.has_pending() {
        let Fast {
            dp, slow, daemon, ..
        } = fast;
        let daemon: &Daemon = daemon;
        dp.set_now(daemon.now());
        dp.drain(&mut |k: &FlowKey, p: &fvs_netdev::Packet| {
            slow.upcall(&mut daemon.switch(), k, p.len() as u64, daemon.now())
        });
    }
}

/// Hands the packets `userspace(...)` actions queued to the packet-in handler.
fn deliver_userspace(fast: &mut Fast) {
    let packets = fast.dp.take_userspace();
    if packets.is_empty() {
        return;
    }
    let daemon = Arc::clone(&fast.daemon);
    // Bridges are found under the switch's lock, which is released before the handler runs
    // (a handler may well take it).
    let owners: Vec<Option<String>> = {
        let sw = daemon.switch();
        packets
            .iter()
            .map(|p| Slow::userspace_owner(&sw, &p.key).map(|(b, _)| b))
            .collect()
    };
    for (p, owner) in packets.into_iter().zip(owners) {
        let DpAction::Userspace {
            reason,
            max_len,
            cookie,
            table,
            flow,
            controller_id,
            userdata,
            continuation,
            bridge: sender,
            ..
        } = p.action
        else {
            continue;
        };
        // The bridge from the datapath key; the flow (with the pipeline's registers and
        // metadata at the controller action) from the action.
        let Some(bridge) = owner else {
            fast.packet_in_dropped += 1;
            continue;
        };
        // The bridge whose pipeline sent it (a patch port's peer, maybe) gets it, as in
        // Open vSwitch; a paused pipeline's continuation names the same one.
        let bridge = if sender.is_empty() { bridge } else { sender };
        match super::lock(&fast.handlers.packet_in).as_mut() {
            Some(h) => {
                fast.packet_ins += 1;
                h(PacketIn {
                    bridge,
                    frame: p.frame,
                    reason,
                    max_len,
                    cookie,
                    table,
                    flow: *flow,
                    controller_id,
                    userdata,
                    odp_port: u32::try_from(p.key.get(fvs_flow::Field::InPort.loc())).unwrap_or(0),
                    continuation,
                });
            }
            None => fast.packet_in_dropped += 1,
        }
    }
}

impl Fast {
    /// One revalidation pass, timed.
    pub fn revalidate(&mut self) {
        let start = Instant::now();
        let full = self.full_pending || self.last_full.elapsed() >= FULL_EVERY;
        let now = self.daemon.now();
        self.dp.set_now(now);
        // What the kernel forwarded for offloaded megaflows counts in this pass.
        self.offload.credit(&mut self.dp, now);
        let removed = self
            .slow
            .revalidate(&mut self.dp, &mut self.daemon.switch(), now, full);
        // Links that went down or came up, announced once the switch's lock is released.
        let links = std::mem::take(&mut self.slow.link_changes);
        for c in &links {
            super::commands::announce_liveness(&self.daemon, &c.bridge, c.ofport, c.config, c.down);
        }
        self.offload.sync(&self.dp);
        // What revalidation (expiry, `learn`) and upcalls' learning changed, for flow monitors:
        // before the flow-removed messages, as Open vSwitch sends them.
        self.daemon.publish_table_changes();
        // After the switch's lock is released: the handler may take it.
        if !removed.is_empty()
            && let Some(h) = super::lock(&self.handlers.removed).as_mut()
        {
            h(removed);
        }
        if full {
            self.full_pending = false;
            self.last_full = Instant::now();
        }
        self.last_revalidate = Instant::now();
        self.last_dump = start.elapsed();
    }

    /// Makes the next pass re-translate every megaflow.
    pub fn force_full(&mut self) {
        self.full_pending = true;
    }
}
