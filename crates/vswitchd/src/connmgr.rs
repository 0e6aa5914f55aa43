//! Every bridge's live OpenFlow connections (management sockets and controllers) and the
//! delivery of asynchronous messages to them.
//!
//! # Delivery
//!
//! Events (packet-ins, flow-removeds, port-statuses, master elections) come from threads that
//! hold other locks: a connection handling a flow-mod holds its own connection and the switch,
//! reconciliation holds the database, the datapath thread holds the switch while it hands
//! over packet-ins. So nobody delivers an event in place: [`Connmgr::publish`] queues it, and
//! one dispatcher thread takes each in order and gives it to every connection of the bridge
//! ([`Channel::send_async`] decides whether and in which form that connection gets it), then
//! hands what the channel made to the connection's output queue, which never waits for the
//! peer. The dispatcher holds no lock but one connection's at a time, so it cannot be part of
//! a lock cycle; and since one thread delivers, every connection sees the events of a bridge
//! in the order they were published.
//!
//! An event a connection caused itself (the flow-removed of its own delete) is sent by its
//! own channel at once, so it precedes the replies to later requests, and is published
//! `except` that connection.
//!
//! A master election is the exception that must not wait: the other masters' demotions are
//! queued before the new master's reply ([`Connmgr::publish_sync`]; the electing connection
//! holds its replies back meanwhile, without holding its lock).
//!
//! # Lock order
//!
//! A connection's lock, then the switch's, then the table of bridges here; the controllers'
//! lock may be taken before a connection's. Nothing that holds the switch waits for a
//! connection or the controllers, and the dispatcher holds one connection's lock at a time.
//!
//! # Connections
//!
//! [`Connmgr::register`] gives a connection its [`Conn`]: the channel and its output queue
//! ([`crate::outbox`]) under one lock, so a reply and an asynchronous message are never
//! interleaved mid-message. Nothing here writes to a socket: messages are queued and the
//! connection's writer thread writes them, so a peer that stops reading stalls neither the
//! dispatcher nor the bridge's other connections. It loses packet-ins beyond its
//! `controller_queue_size` ([`Connmgr::set_controller_queue_size`]; counted,
//! [`Connmgr::overflows`]), never replies, and keeps its connection while it answers the
//! inactivity probes.
//!
//! The bridge's master-election generation id lives here too, shared by its connections, and
//! whether any of them wants table misses as packet-ins ([`Connmgr::wants_misses`]). A
//! connection whose peer has hung up no longer counts, even before its thread has read the
//! end ([`Conn::peer_hung_up`] polls another handle on the socket): the daemon looks again
//! before answering each appctl command, so `ofproto/trace` right after an `ovs-ofctl`
//! command sees what Open vSwitch's single loop would.
//!
//! # Rate limits
//!
//! A controller connection whose row sets `controller_rate_limit` has a packet-in scheduler
//! ([`crate::pinsched`]; limits by target, [`Connmgr::set_controller_limits`], so a
//! connection made later gets them too). The dispatcher passes that connection's packet-ins
//! through it: what may go now is written, the rest is queued per input port, and while
//! anything is queued the dispatcher wakes every few milliseconds to send what the rate
//! allows.
//!
//! # Continuations
//!
//! Each bridge has an instance id ([`Connmgr::bridge_instance`]), drawn at random and new
//! after the bridge is removed: the UUID a paused translation's continuation names, so a
//! controller resuming it after the bridge was re-created gets `NXR_STALE` ([`Resume`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::Duration;

use fvs_openflow::wire::Role;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::ofchannel::controller::is_stale;
use crate::ofchannel::{AsyncEvent, Channel, RoleError};
use crate::outbox::{DEFAULT_QUEUE_SIZE, Outbox, Pushed};
use crate::pinsched::{Limits, PinSched, PinStats};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection's identity within the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// One live connection: its channel and its output queue.
pub struct Conn {
    /// Its identity.
    pub id: ConnId,
    /// The Controller row target it serves, if it is a controller's connection.
    pub target: Option<String>,
    inner: Mutex<ConnInner>,
    /// The output queue (also in `inner`, for writing under the lock).
    outbox: Arc<Outbox>,
    closed: AtomicBool,
    /// The channel's [`Channel::wants_table_misses`], as last seen.
    wants_misses: AtomicBool,
    /// Another handle on the socket, polled for the peer's hang-up
    /// ([`Conn::peer_hung_up`]); `None` when the socket could not be cloned.
    hangup_probe: Option<OwnedFd>,
}

/// What the connection's lock protects.
pub struct ConnInner {
    /// The protocol state.
    pub channel: Channel,
    outbox: Arc<Outbox>,
    /// The packet-in rate limiter of a controller connection whose row sets
    /// `controller_rate_limit` ([`crate::pinsched`]).
    pinsched: Option<PinSched<Vec<u8>>>,
}

impl ConnInner {
    /// Hands every message the channel queued to the output queue (packet-ins beyond the
    /// queue size are dropped there); false when the connection failed.
    pub fn flush(&mut self) -> bool {
        while let Some(msg) = self.channel.poll_transmit() {
            if self.outbox.push(msg) == Pushed::Gone {
                return false;
            }
        }
        self.refresh_backlog();
        true
    }

    /// Tells the channel how much output is still unwritten (its flow monitors pause on
    /// it); called before it is given anything that may make monitor updates.
    pub fn refresh_backlog(&mut self) {
        self.channel.set_output_backlog(self.outbox.backlog());
    }

    /// Takes the queued messages out without writing them (see [`Connmgr::publish_sync`]).
    pub fn hold(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.channel.poll_transmit()).collect()
    }

    /// Writes `held` messages, then whatever was queued since; false when the socket failed.
    pub fn release(&mut self, held: Vec<Vec<u8>>) -> bool {
        held.into_iter()
            .all(|m| self.outbox.push(m) != Pushed::Gone)
            && self.flush()
    }
}

impl Conn {
    /// The channel and writer, locked.
    pub fn lock(&self) -> MutexGuard<'_, ConnInner> {
        lock(&self.inner)
    }

    /// True once the connection failed or ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || self.outbox.failed()
    }

    /// Packet-ins dropped because the peer was too slow to read them.
    pub fn overflows(&self) -> u64 {
        self.outbox.overflows()
    }

    /// True while so many replies wait to be written that the connection must not read
    /// more requests ([`crate::outbox::REPLY_MAX`]); then waits (at most `limit`) for the
    /// writer to make progress.
    pub fn replies_backed_up(&self, limit: Duration) -> bool {
        let backed_up = self.outbox.replies_backed_up();
        if backed_up {
            self.outbox.wait_progress(limit);
        }
        backed_up
    }

    /// Waits (at most `limit`) for the queued output to be written: before the socket is
    /// shut, so a last reply reaches the peer. True when it was.
    pub fn drain(&self, limit: Duration) -> bool {
        self.outbox.drain(limit)
    }

    /// True when the peer has closed its end, whether or not the connection's thread has
    /// read the end yet.
    pub fn peer_hung_up(&self) -> bool {
        let Some(fd) = &self.hangup_probe else {
            return false;
        };
        // Only the peer's hang-up is asked for (POLLRDHUP, its writing side shut; nix names
        // no such flag and so decodes no `revents` holding it); POLLHUP and POLLERR come
        // unasked and mean as much. So any event at all is a hang-up. A zero timeout: this
        // only looks.
        let mut fds = [PollFd::new(
            fd.as_fd(),
            PollFlags::from_bits_retain(libc::POLLRDHUP),
        )];
        poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
    }

    /// Marks the connection ended (its thread leaves at its next look).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Records whether the channel wants table misses; true when that changed.
    pub fn note_wants_misses(&self, wants: bool) -> bool {
        self.wants_misses.swap(wants, Ordering::SeqCst) != wants
    }

    /// The packet-in rate limiter's counters, when the connection has one.
    pub fn pin_stats(&self) -> Option<PinStats> {
        self.lock().pinsched.as_ref().map(PinSched::stats)
    }

    fn set_queue_size(&self, n: usize) {
        self.outbox.set_queue_size(n);
    }

    /// Sets (or clears) the packet-in rate limits; counters start again when they change.
    fn set_limits(&self, limits: Option<Limits>) {
        let mut inner = self.lock();
        if inner.pinsched.as_ref().map(PinSched::limits) != limits {
            inner.pinsched = limits.map(|l| PinSched::new(l, now_ms()));
        }
    }

    /// The connection's role (for the Controller row's `role`).
    pub fn role(&self) -> Role {
        self.lock().channel.role()
    }

    /// Whether the hellos are done.
    pub fn is_open(&self) -> bool {
        self.lock().channel.version().is_some()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The writer leaves once what is queued is written (or the socket is shut).
        self.outbox.close();
    }
}

#[derive(Default)]
struct BridgeConns {
    conns: BTreeMap<ConnId, Arc<Conn>>,
    generation: Option<u64>,
    /// Packet-in rate limits by Controller target.
    limits: BTreeMap<String, Limits>,
    /// Packet-in queue sizes by Controller target (`controller_queue_size`).
    queue_sizes: BTreeMap<String, usize>,
    /// The bridge instance's id, which continuations name (see [`Connmgr::bridge_instance`]).
    instance: Option<u128>,
}

type Bridges = Arc<Mutex<BTreeMap<String, BridgeConns>>>;

struct Dispatch {
    bridge: String,
    event: AsyncEvent,
    except: Option<ConnId>,
    /// Told once every connection has the event.
    done: Option<Sender<()>>,
}

/// Every bridge's connections, and the dispatcher that delivers asynchronous messages.
pub struct Connmgr {
    bridges: Bridges,
    tx: Mutex<Sender<Dispatch>>,
    next_id: AtomicU64,
    /// Packet-ins dropped on connections that are gone (for [`Connmgr::overflows`]).
    gone_overflows: AtomicU64,
}

impl Default for Connmgr {
    fn default() -> Self {
        Self::new()
    }
}

impl Connmgr {
    /// A manager with no connections; its dispatcher thread starts here.
    pub fn new() -> Self {
        let bridges: Bridges = Arc::default();
        let (tx, rx) = mpsc::channel();
        let b = bridges.clone();
        thread::spawn(move || dispatch_loop(&b, &rx));
        Self {
            bridges,
            tx: Mutex::new(tx),
            next_id: AtomicU64::new(1),
            gone_overflows: AtomicU64::new(0),
        }
    }

    /// Adds a connection to `bridge`'s; `writer` is the socket's writing half, which the
    /// connection's writer thread owns from now on; `hangup_probe` another handle on the
    /// socket, only polled ([`Conn::peer_hung_up`]).
    pub fn register(
        &self,
        bridge: &str,
        channel: Channel,
        writer: Box<dyn Write + Send>,
        target: Option<String>,
        hangup_probe: Option<OwnedFd>,
    ) -> Arc<Conn> {
        let id = ConnId(self.next_id.fetch_add(1, Ordering::SeqCst));
        let mut bridges = lock(&self.bridges);
        let entry = bridges.entry(bridge.to_owned()).or_default();
        let limits = target.as_ref().and_then(|t| entry.limits.get(t)).copied();
        let queue_size = target
            .as_ref()
            .and_then(|t| entry.queue_sizes.get(t))
            .copied()
            .unwrap_or(DEFAULT_QUEUE_SIZE);
        let outbox = Outbox::start(writer, queue_size);
        let conn = Arc::new(Conn {
            id,
            target,
            inner: Mutex::new(ConnInner {
                channel,
                outbox: outbox.clone(),
                pinsched: limits.map(|l| PinSched::new(l, now_ms())),
            }),
            outbox,
            closed: AtomicBool::new(false),
            wants_misses: AtomicBool::new(true),
            hangup_probe,
        });
        entry.conns.insert(id, conn.clone());
        conn
    }

    /// Removes a connection.
    pub fn unregister(&self, bridge: &str, id: ConnId) {
        let mut bridges = lock(&self.bridges);
        if let Some(b) = bridges.get_mut(bridge) {
            if let Some(c) = b.conns.remove(&id) {
                self.gone_overflows
                    .fetch_add(c.overflows(), Ordering::SeqCst);
            }
            if b.conns.is_empty() {
                // The generation id outlives its connections, as in Open vSwitch, until the
                // bridge goes: keep the entry.
            }
        }
    }

    /// Sets the packet-in rate limits of `bridge`'s controller `target` (its row's
    /// `controller_rate_limit` and `controller_burst_limit`), for its connections now and
    /// later.
    pub fn set_controller_limits(&self, bridge: &str, target: &str, limits: Option<Limits>) {
        let conns: Vec<Arc<Conn>> = {
            let mut bridges = lock(&self.bridges);
            let entry = bridges.entry(bridge.to_owned()).or_default();
            match limits {
                Some(l) => entry.limits.insert(target.to_owned(), l),
                None => entry.limits.remove(target),
            };
            entry
                .conns
                .values()
                .filter(|c| c.target.as_deref() == Some(target))
                .cloned()
                .collect()
        };
        for c in conns {
            c.set_limits(limits);
        }
    }

    /// Sets how many packet-ins `bridge`'s controller `target` may have queued (its row's
    /// `controller_queue_size`; `None`: Open vSwitch's default, 100), for its connections
    /// now and later.
    pub fn set_controller_queue_size(&self, bridge: &str, target: &str, n: Option<usize>) {
        let n = n.unwrap_or(DEFAULT_QUEUE_SIZE);
        let conns = {
            let mut bridges = lock(&self.bridges);
            let entry = bridges.entry(bridge.to_owned()).or_default();
            entry.queue_sizes.insert(target.to_owned(), n);
            entry
                .conns
                .values()
                .filter(|c| c.target.as_deref() == Some(target))
                .cloned()
                .collect::<Vec<_>>()
        };
        for c in conns {
            c.set_queue_size(n);
        }
    }

    /// Packet-ins dropped since the daemon started because a connection's queue was full
    /// (Open vSwitch's `rconn_overflow` coverage counter).
    pub fn overflows(&self) -> u64 {
        lock(&self.bridges)
            .values()
            .flat_map(|b| b.conns.values())
            .map(|c| c.overflows())
            .sum::<u64>()
            + self.gone_overflows.load(Ordering::SeqCst)
    }

    /// The id of `bridge`'s current instance, which paused translations' continuations
    /// carry (Open vSwitch's bridge UUID): drawn the first time it is asked for, and new
    /// once the bridge has been removed, so continuations from before go stale.
    pub fn bridge_instance(&self, bridge: &str) -> u128 {
        let mut bridges = lock(&self.bridges);
        let entry = bridges.entry(bridge.to_owned()).or_default();
        *entry.instance.get_or_insert_with(new_instance)
    }

    /// The bridge whose current instance is `id`, if any.
    pub fn bridge_of_instance(&self, id: u128) -> Option<String> {
        lock(&self.bridges)
            .iter()
            .find(|(_, b)| b.instance == Some(id))
            .map(|(name, _)| name.clone())
    }

    /// Forgets a bridge that is gone (its connections end on their own).
    pub fn remove_bridge(&self, bridge: &str) {
        lock(&self.bridges).remove(bridge);
    }

    /// Ends every connection of `bridge` (each thread leaves at its next look, within a
    /// read timeout): controllers reconnect, other clients see the end. Open vSwitch does
    /// this when a bridge's datapath ID changes, which OpenFlow has no message to announce.
    pub fn drop_connections(&self, bridge: &str) {
        if let Some(b) = lock(&self.bridges).get(bridge) {
            for c in b.conns.values() {
                c.close();
            }
        }
    }

    /// Queues `event` for every connection of `bridge` but `except`.
    pub fn publish(&self, bridge: &str, event: AsyncEvent, except: Option<ConnId>) {
        let _ = lock(&self.tx).send(Dispatch {
            bridge: bridge.to_owned(),
            event,
            except,
            done: None,
        });
    }

    /// Like [`Self::publish`], returning once every connection has the event: a master
    /// election must demote the other masters before the new master's reply goes out, as
    /// in Open vSwitch. The caller must hold no connection's lock (the dispatcher takes
    /// them); it holds back its own replies with [`ConnInner::hold`] meanwhile.
    pub fn publish_sync(&self, bridge: &str, event: AsyncEvent, except: Option<ConnId>) {
        let (tx, rx) = mpsc::channel();
        let sent = lock(&self.tx)
            .send(Dispatch {
                bridge: bridge.to_owned(),
                event,
                except,
                done: Some(tx),
            })
            .is_ok();
        if sent {
            let _ = rx.recv();
        }
    }

    /// Records `generation` as `bridge`'s master-election generation id, unless it is stale.
    pub fn role_generation(&self, bridge: &str, generation: u64) -> Result<(), RoleError> {
        let mut bridges = lock(&self.bridges);
        let b = bridges.entry(bridge.to_owned()).or_default();
        if is_stale(b.generation, generation) {
            return Err(RoleError::Stale);
        }
        b.generation = Some(generation);
        Ok(())
    }

    /// `bridge`'s generation id, if set.
    pub fn generation_id(&self, bridge: &str) -> Option<u64> {
        lock(&self.bridges).get(bridge).and_then(|b| b.generation)
    }

    /// The connections of `bridge` serving Controller row `target`.
    pub fn controller_conns(&self, bridge: &str, target: &str) -> Vec<Arc<Conn>> {
        lock(&self.bridges)
            .get(bridge)
            .map(|b| {
                b.conns
                    .values()
                    .filter(|c| c.target.as_deref() == Some(target))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True when some live connection of `bridge` wants table misses as packet-ins. A
    /// connection whose peer hung up is not live, though its thread may not know yet.
    pub fn wants_misses(&self, bridge: &str) -> bool {
        lock(&self.bridges).get(bridge).is_some_and(|b| {
            b.conns.values().any(|c| {
                !c.is_closed() && c.wants_misses.load(Ordering::SeqCst) && !c.peer_hung_up()
            })
        })
    }

    /// The bridges that have or had connections.
    pub fn bridges(&self) -> Vec<String> {
        lock(&self.bridges).keys().cloned().collect()
    }

    /// The controller connection of `bridge` a new snooper watches: a master, else an
    /// equal, else a slave, among those that finished their hellos (the earliest first).
    pub fn snoop_target(&self, bridge: &str) -> Option<ConnId> {
        let conns: Vec<Arc<Conn>> = lock(&self.bridges)
            .get(bridge)
            .map(|b| b.conns.values().cloned().collect())
            .unwrap_or_default();
        let rank = |c: &Conn| match c.role() {
            Role::Master => 3,
            Role::Equal | Role::NoChange => 2,
            Role::Slave => 1,
        };
        conns
            .iter()
            .filter(|c| c.target.is_some() && !c.is_closed() && c.is_open())
            .max_by_key(|c| (rank(c), std::cmp::Reverse(c.id)))
            .map(|c| c.id)
    }

    /// True when some controller connection of `bridge` has finished its hellos.
    pub fn has_connected_controller(&self, bridge: &str) -> bool {
        let conns: Vec<Arc<Conn>> = lock(&self.bridges)
            .get(bridge)
            .map(|b| b.conns.values().cloned().collect())
            .unwrap_or_default();
        conns
            .iter()
            .any(|c| c.target.is_some() && !c.is_closed() && c.is_open())
    }
}

/// Milliseconds since the first call: the rate limiters' clock.
fn now_ms() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How often queued packet-ins are looked at while some are waiting.
const DRAIN_EVERY: Duration = Duration::from_millis(5);

fn dispatch_loop(bridges: &Bridges, rx: &Receiver<Dispatch>) {
    let mut backlog = false;
    loop {
        let next = if backlog {
            match rx.recv_timeout(DRAIN_EVERY) {
                Ok(d) => Some(d),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(d) => Some(d),
                Err(_) => return,
            }
        };
        let queued = next.is_some_and(|d| deliver(bridges, d));
        // Only while something is queued: otherwise no connection needs looking at.
        if backlog || queued {
            backlog = drain_limited(bridges);
        }
    }
}

/// Gives one event to every connection of its bridge (but `except`); true when a rate
/// limiter queued it for some connection.
fn deliver(bridges: &Bridges, d: Dispatch) -> bool {
    let mut queued = false;
    let conns: Vec<Arc<Conn>> = lock(bridges)
        .get(&d.bridge)
        .map(|b| b.conns.values().cloned().collect())
        .unwrap_or_default();
    let port = match &d.event {
        AsyncEvent::PacketIn(p) => Some(p.packet_in.in_port().0),
        _ => None,
    };
    for c in conns {
        if Some(c.id) == d.except || c.is_closed() {
            continue;
        }
        let mut inner = c.lock();
        inner.refresh_backlog();
        // The connection's own replies are already queued (it flushes under its lock):
        // what it queues now is this event.
        inner.channel.send_async(&d.event);
        let ok = match (port, inner.pinsched.is_some()) {
            (Some(port), true) => {
                let now = now_ms();
                let msgs = inner.hold();
                let n = msgs.len();
                let go: Vec<Vec<u8>> = msgs
                    .into_iter()
                    .filter_map(|m| inner.pinsched.as_mut().and_then(|s| s.send(now, port, m)))
                    .collect();
                queued |= go.len() < n;
                inner.release(go)
            }
            _ => inner.flush(),
        };
        if !ok {
            c.close();
        }
    }
    if let Some(done) = d.done {
        let _ = done.send(());
    }
    queued
}

/// Sends the rate-limited packet-ins whose time has come; true while some still wait.
fn drain_limited(bridges: &Bridges) -> bool {
    let conns: Vec<Arc<Conn>> = lock(bridges)
        .values()
        .flat_map(|b| b.conns.values().cloned())
        .collect();
    let now = now_ms();
    let mut waiting = false;
    for c in conns {
        let mut inner = c.lock();
        let Some(s) = inner.pinsched.as_mut() else {
            continue;
        };
        if !s.has_backlog() {
            continue;
        }
        let go = s.drain(now);
        waiting |= s.has_backlog();
        if !go.is_empty() && !c.is_closed() && !inner.release(go) {
            c.close();
        }
    }
    waiting
}

/// A fresh random bridge instance id, laid out as a version 4 UUID. The randomness is the
/// standard library's per-process hash keys (two hashers, a counter against repeats).
fn new_instance() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    for (half, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_usize(half);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .as_u128()
}

/// The pipeline fields a packet-in reports besides `in_port`, when not zero (Open vSwitch
/// reports the packet's metadata this way); `NXT_RESUME` brings them back.
pub(crate) const PACKET_IN_METADATA: [fvs_flow::Field; 13] = {
    use fvs_flow::Field as F;
    [
        F::TunId,
        F::TunSrc,
        F::TunDst,
        F::Metadata,
        F::PktMark,
        F::Reg0,
        F::Reg1,
        F::Reg2,
        F::Reg3,
        F::Reg4,
        F::Reg5,
        F::Reg6,
        F::Reg7,
    ]
};

/// The packet-in event for a packet the datapath handed up: its flow is as OpenFlow sees
/// it (`in_port` an OpenFlow port), its reason the `userspace(controller(reason=...))` code.
pub fn packet_in_event(p: crate::datapath::PacketIn) -> AsyncEvent {
    use crate::ofchannel::{Miss, PacketInEvent};
    use fvs_openflow::action::PacketInReason;
    use fvs_openflow::wire::{PacketIn, PacketInFormat};
    use fvs_pipeline::xlate::{REASON_EXPLICIT_MISS, REASON_IMPLICIT_MISS};

    let crate::datapath::PacketIn {
        flow,
        frame,
        reason,
        max_len,
        cookie,
        table: table_id,
        controller_id,
        userdata,
        ..
    } = p;
    let flow = &flow;
    let mut metadata = fvs_flow::Match::CATCHALL;
    for f in PACKET_IN_METADATA {
        let v = flow.get(f.loc());
        if v != 0 {
            metadata.set(f, v);
        }
    }
    metadata.set(
        fvs_flow::Field::InPort,
        flow.get(fvs_flow::Field::InPort.loc()),
    );
    let (reason, miss) = match reason {
        // controller(reason=no_match) is an explicit action: every version gets it.
        0 => (PacketInReason::NoMatch, Miss::No),
        REASON_IMPLICIT_MISS => (PacketInReason::NoMatch, Miss::Implicit),
        REASON_EXPLICIT_MISS => (PacketInReason::Action, Miss::Explicit),
        2 => (PacketInReason::InvalidTtl, Miss::No),
        3 => (PacketInReason::ActionSet, Miss::No),
        4 => (PacketInReason::Group, Miss::No),
        5 => (PacketInReason::PacketOut, Miss::No),
        _ => (PacketInReason::Action, Miss::No),
    };
    let total_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    AsyncEvent::PacketIn(Box::new(PacketInEvent {
        packet_in: PacketIn {
            format: PacketInFormat::Standard,
            reason,
            table_id,
            cookie: fvs_openflow::Cookie(cookie),
            metadata,
            total_len,
            buffer_id: None,
            data: frame,
            userdata,
            continuation: None,
        },
        max_len,
        miss,
        controller_id,
        continuation: None,
    }))
}

/// A continuation a controller sent back (`NXT_RESUME`), checked and ready to run.
#[derive(Debug)]
pub struct Resume {
    /// The bridge whose pipeline paused.
    pub bridge: String,
    /// The packet as the controller sent it back.
    pub frame: Vec<u8>,
    /// Its metadata (`in_port`, registers, tunnel, `metadata`).
    pub metadata: fvs_flow::Match,
    /// The paused translation.
    pub frozen: fvs_pipeline::xlate::Frozen,
}

impl Resume {
    /// Checks `c` (decoded from `pin`) against the bridges there are now: a continuation of
    /// a bridge instance that no longer exists is stale (`NXR_STALE`, as Open vSwitch
    /// answers).
    pub fn new(
        connmgr: &Connmgr,
        switch: &fvs_pipeline::switch::Switch,
        pin: &fvs_openflow::wire::PacketIn,
        c: &fvs_openflow::wire::continuation::Continuation,
    ) -> Result<Self, fvs_openflow::wire::OfpError> {
        let bridge = connmgr
            .bridge_of_instance(c.bridge)
            .filter(|b| switch.bridge(b).is_some())
            .ok_or(fvs_openflow::wire::OfpError::ResumeStale)?;
        let frozen = fvs_pipeline::xlate::Frozen {
            bridge: bridge.clone(),
            stack: c
                .stack
                .iter()
                .map(|v| fvs_pipeline::xlate::StackValue::from_bytes(v))
                .collect(),
            segments: c.segments.clone(),
            action_set: c.action_set.clone(),
        };
        Ok(Self {
            bridge,
            frame: pin.data.clone(),
            metadata: pin.metadata,
            frozen,
        })
    }
}

/// The wire form of a paused translation of the bridge instance `instance`.
fn continuation_of(
    frozen: &fvs_pipeline::xlate::Frozen,
    instance: u128,
    odp_port: u32,
) -> fvs_openflow::wire::continuation::Continuation {
    fvs_openflow::wire::continuation::Continuation {
        bridge: instance,
        stack: frozen.stack.iter().map(|v| v.to_bytes()).collect(),
        mirrors: 0,
        conntracked: false,
        segments: frozen.segments.clone(),
        action_set: frozen.action_set.clone(),
        odp_port: Some(odp_port),
    }
}

impl crate::Daemon {
    /// Brings `bridge`'s table-miss behaviour in step with its connections (see
    /// [`fvs_pipeline::bridge::Bridge::miss_to_controller`]).
    pub fn refresh_table_misses(&self, bridge: &str) {
        // Asked and set under the switch's lock, so two refreshes cannot cross: one that
        // saw a connection alive must not set its answer after one that saw it gone.
        let mut switch = self.switch();
        let wants = self.connmgr.wants_misses(bridge);
        let changed = switch.bridge_mut(bridge).is_some_and(|b| {
            let was = b.miss_to_controller();
            b.set_miss_to_controller(wants);
            was != wants
        });
        drop(switch);
        if changed {
            self.revalidate_now();
        }
    }

    /// Has the datapath revalidate its megaflows at once (after a change to the tables or
    /// to how misses are handled), so the next packet sees the change, as on Open vSwitch.
    /// Never call this with the switch's lock held.
    pub fn revalidate_now(&self) {
        if let Some(dp) = self.datapath() {
            let delay = test_revalidate_delay();
            // Every datapath thread revalidates its own megaflows.
            let _ = dp.query_all(move |fast| {
                if let Some(d) = delay {
                    std::thread::sleep(d);
                }
                fast.revalidate();
            });
        }
    }

    /// Executes a packet-out on `bridge` through the datapath (the packet-ins it causes
    /// come back through [`crate::Daemon::packet_in`]).
    pub fn packet_out(&self, bridge: &str, po: &fvs_openflow::wire::PacketOut) {
        let Some(dp) = self.datapath() else {
            self.log(
                "connmgr",
                crate::vlog::Level::Warn,
                &format!("{bridge}: packet-out dropped: no datapath"),
            );
            return;
        };
        if let Err(e) = dp.packet_out(self, bridge, po.in_port, &po.data, &po.actions) {
            self.log(
                "connmgr",
                crate::vlog::Level::Warn,
                &format!("{bridge}: packet-out failed: {e}"),
            );
        }
    }

    /// Hands a packet the datapath sent to userspace to `bridge`'s controllers. Safe to call
    /// with any lock held: delivery happens on the dispatcher thread.
    pub fn packet_in(&self, mut p: crate::datapath::PacketIn) {
        let bridge = p.bridge.clone();
        let frozen = p.continuation.take();
        let odp_port = p.odp_port;
        let mut ev = packet_in_event(p);
        if let (Some(frozen), AsyncEvent::PacketIn(pe)) = (frozen, &mut ev) {
            let instance = self.connmgr.bridge_instance(&bridge);
            pe.continuation = Some(Box::new(continuation_of(&frozen, instance, odp_port)));
        }
        self.connmgr.publish(&bridge, ev, None);
    }

    /// Runs a continuation a controller sent back (see [`Resume`]) through the datapath.
    pub fn resume(&self, r: Resume) {
        let Some(dp) = self.datapath() else {
            self.log(
                "connmgr",
                crate::vlog::Level::Warn,
                &format!("{}: resume dropped: no datapath", r.bridge),
            );
            return;
        };
        if let Err(e) = dp.resume(self, &r.bridge, &r.frame, &r.metadata, &r.frozen) {
            self.log(
                "connmgr",
                crate::vlog::Level::Warn,
                &format!("{}: resume failed: {e}", r.bridge),
            );
        }
    }
}

/// Every bridge's ports by OpenFlow number: name, MAC address and OpenFlow configuration
/// (`OFPPC_*`, which the pipeline keeps), for port-status messages.
pub type PortSnapshot = BTreeMap<
    String,
    BTreeMap<fvs_flow::PortNo, (String, [u8; 6], u32, crate::datapath::link::PortFeatures)>,
>;

/// The bridges' ports now (taken before and after a reconciliation, whose difference is
/// what port-status messages report).
pub fn port_snapshot(daemon: &crate::Daemon) -> PortSnapshot {
    /// A port as the pipeline has it: number, name, configuration.
    type Bare = (fvs_flow::PortNo, String, u32);
    let names: Vec<(String, Vec<Bare>)> = daemon
        .switch()
        .bridges
        .iter()
        .map(|b| {
            let ports = b
                .ports
                .values()
                .map(|p| (p.ofport, p.name.clone(), p.config.0))
                .collect();
            (b.name.clone(), ports)
        })
        .collect();
    let mgmt = daemon.mgmt();
    names
        .into_iter()
        .map(|(bridge, ports)| {
            let macs = mgmt
                .handles(&bridge)
                .map(|(_, info, _)| lock(&info).macs.clone())
                .unwrap_or_default();
            let ports = ports
                .into_iter()
                .map(|(no, name, config)| {
                    let mac = macs.get(&name).copied().unwrap_or_default();
                    // Taken now: a port's DELETE describes it as it was, features too.
                    let features = crate::datapath::link::PortFeatures::of(daemon, &name);
                    (no, (name, mac, config, features))
                })
                .collect();
            (bridge, ports)
        })
        .collect()
}

impl crate::Daemon {
    /// Publishes the port-status messages that take `before` to `after`: a port that
    /// appeared is `ADD`, one that went `DELETE` (described as it was), one whose name or
    /// address changed `MODIFY`. A bridge that came or went has no controllers to tell.
    pub fn port_changes(&self, before: &PortSnapshot, after: &PortSnapshot) {
        use crate::ofchannel::controller::PortEvent;
        use fvs_openflow::wire::PortReason;
        for (bridge, now) in after {
            let Some(was) = before.get(bridge) else {
                continue;
            };
            let mut events = Vec::new();
            for (no, port) in was {
                if !now.contains_key(no) {
                    events.push((PortReason::Delete, *no, port));
                }
            }
            for (no, port) in now {
                match was.get(no) {
                    None => events.push((PortReason::Add, *no, port)),
                    Some(old) if old != port => events.push((PortReason::Modify, *no, port)),
                    Some(_) => {}
                }
            }
            for (reason, no, (name, mac, config, features)) in events {
                let mut desc = features.describe(fvs_openflow::wire::PortDesc {
                    port_no: no,
                    hw_addr: fvs_openflow::EthAddr(*mac),
                    name: name.clone(),
                    // The OpenFlow configuration a port-mod gave it, as port descriptions
                    // show.
                    config: *config,
                    ..Default::default()
                });
                if desc.config & fvs_openflow::wire::port::OFPPC_PORT_DOWN != 0 {
                    desc.state |= fvs_openflow::wire::port::OFPPS_LINK_DOWN;
                }
                let publish = |reason, live, old| {
                    let ev = AsyncEvent::PortStatus(Box::new(PortEvent {
                        reason,
                        desc: desc.clone(),
                        live,
                        old,
                    }));
                    self.connmgr.publish(bridge, ev, None);
                };
                match reason {
                    // Announced before its link is up, then brought up.
                    PortReason::Add => {
                        publish(PortReason::Add, false, None);
                        publish(PortReason::Modify, true, Some((desc.clone(), false)));
                    }
                    PortReason::Delete => publish(PortReason::Delete, true, None),
                    PortReason::Modify => {
                        let old = was.get(&no).map(|(name, mac, _, _)| {
                            let d = fvs_openflow::wire::PortDesc {
                                port_no: no,
                                hw_addr: fvs_openflow::EthAddr(*mac),
                                name: name.clone(),
                                ..desc.clone()
                            };
                            (d, true)
                        });
                        publish(PortReason::Modify, true, old);
                    }
                }
            }
        }
    }

    /// Publishes the flow-removed messages of rules that left their tables outside any
    /// connection (expiry), for the rules that asked for them.
    pub fn rules_removed(&self, removed: &[(String, fvs_pipeline::bridge::Removed)]) {
        let now = self.now();
        for (bridge, r) in removed {
            if r.rule.flags.send_flow_rem {
                let fr = crate::ofchannel::controller::flow_removed(r, now);
                self.connmgr
                    .publish(bridge, AsyncEvent::FlowRemoved(Box::new(fr)), None);
            }
        }
    }
}

/// Test-only: `FVS_TEST_REVALIDATE_DELAY_MS` makes every [`crate::Daemon::revalidate_now`]
/// hold the datapath thread that many milliseconds, so a test can show that nothing else
/// (the database above all) waits on a slow revalidation. Never set it in production.
fn test_revalidate_delay() -> Option<Duration> {
    static DELAY: OnceLock<Option<Duration>> = OnceLock::new();
    *DELAY.get_or_init(|| {
        std::env::var("FVS_TEST_REVALIDATE_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    })
}
