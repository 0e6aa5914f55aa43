//! One OpenFlow connection's output queue and the thread that writes it (Open vSwitch's
//! rconn transmit queue).
//!
//! # Why a queue
//!
//! Replies and asynchronous messages are produced by threads that must not wait for a
//! peer: the connection's own reader (which has to keep reading, or a controller that is
//! slow to read could never have its echo requests answered) and the connection manager's
//! dispatcher (which serves every connection of every bridge). So nobody writes to the
//! socket in place: [`Outbox::push`] appends a message and returns at once, and one writer
//! thread per connection takes the messages in order and writes them with blocking writes.
//! Order is kept because there is one queue per connection and one writer.
//!
//! # What a slow peer costs
//!
//! - Packet-ins (`OFPT_PACKET_IN`, `NXT_PACKET_IN`, `NXT_PACKET_IN2`) are the only
//!   messages ever dropped: one that finds `queue_size` packet-ins already queued (the
//!   Controller row's `controller_queue_size`, 100 by default, as in Open vSwitch) is
//!   counted ([`Outbox::overflows`], Open vSwitch's `rconn_overflow` coverage counter) and
//!   discarded. Replies, errors, echo requests and replies, port-status and flow-removed
//!   messages are always queued, as Open vSwitch queues them.
//! - Flow monitors pause on [`Outbox::backlog`], the bytes not yet handed to the socket
//!   (the message being written included), as Open vSwitch counts its queue.
//! - Replies (messages with a nonzero xid, which asynchronous messages never have) are
//!   counted too: once [`REPLY_MAX`] are queued the connection stops reading requests
//!   ([`Outbox::replies_backed_up`]) until some are written, as Open vSwitch does, so a peer
//!   that sends requests without reading the answers fills its own socket, not the
//!   switch's memory.
//! - The connection stays while the peer keeps the inactivity probes answered; a writer
//!   blocked on a peer that never reads is woken by the socket's shutdown when the
//!   connection ends for another reason.
//!
//! # Ending
//!
//! A write error marks the outbox failed ([`Outbox::failed`]): the connection ends at its
//! reader's next look. [`Outbox::close`] lets the writer finish what is queued and leave;
//! [`Outbox::drain`] waits (bounded) for that, so a last error reply reaches the peer
//! before the socket is shut.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Open vSwitch's default `controller_queue_size`: packet-ins queued per connection.
pub const DEFAULT_QUEUE_SIZE: usize = 100;

/// Queued replies beyond which a connection stops reading requests (Open vSwitch's
/// `OFCONN_REPLY_MAX`).
pub const REPLY_MAX: usize = 100;

/// True when `msg` is an answer to a request: asynchronous messages carry xid 0.
fn is_reply(msg: &[u8]) -> bool {
    msg.get(4..8).is_some_and(|x| x != [0, 0, 0, 0]) && !is_packet_in(msg)
}

/// OpenFlow's message type numbers that matter here (the same in every version).
const OFPT_VENDOR: u8 = 4;
const OFPT_PACKET_IN: u8 = 10;
/// Nicira's vendor id and its packet-in subtypes.
const NX_VENDOR_ID: [u8; 4] = [0x00, 0x00, 0x23, 0x20];
const NXT_PACKET_IN: u32 = 17;
const NXT_PACKET_IN2: u32 = 30;

/// True when `msg` (one whole OpenFlow message) is a packet-in of any form.
pub fn is_packet_in(msg: &[u8]) -> bool {
    match msg.get(1).copied() {
        Some(OFPT_PACKET_IN) => true,
        Some(OFPT_VENDOR) => {
            msg.get(8..12) == Some(&NX_VENDOR_ID[..])
                && msg.get(12..16).is_some_and(|s| {
                    let sub = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
                    sub == NXT_PACKET_IN || sub == NXT_PACKET_IN2
                })
        }
        _ => false,
    }
}

/// What [`Outbox::push`] did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for the writer.
    Queued,
    /// A packet-in beyond the queue size, counted and discarded.
    Overflow,
    /// The connection already failed or closed: nothing more is written.
    Gone,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Vec<u8>>,
    /// Bytes queued plus the message being written.
    bytes: usize,
    /// Packet-ins queued plus the one being written, if it is one.
    packet_ins: usize,
    /// Replies queued plus the one being written, if it is one.
    replies: usize,
    queue_size: usize,
    overflows: u64,
    /// True while the writer holds a message it has not finished writing.
    writing: bool,
    failed: bool,
    closed: bool,
}

/// One connection's output queue (see the module doc).
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// Signalled when a message is queued, one is written, or the outbox closes or fails.
    changed: Condvar,
}

impl Outbox {
    /// An outbox whose writer thread writes to `writer`; it keeps `queue_size` packet-ins
    /// at most.
    pub fn start(writer: Box<dyn Write + Send>, queue_size: usize) -> Arc<Self> {
        let outbox = Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                packet_ins: 0,
                replies: 0,
                queue_size,
                overflows: 0,
                writing: false,
                failed: false,
                closed: false,
            }),
            changed: Condvar::new(),
        });
        let o = outbox.clone();
        thread::spawn(move || o.write_loop(writer));
        outbox
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `msg` (one whole message); never waits for the peer.
    pub fn push(&self, msg: Vec<u8>) -> Pushed {
        let mut s = self.state();
        if s.failed || s.closed {
            return Pushed::Gone;
        }
        if is_packet_in(&msg) {
            if s.packet_ins >= s.queue_size {
                s.overflows += 1;
                return Pushed::Overflow;
            }
            s.packet_ins += 1;
        }
        if is_reply(&msg) {
            s.replies += 1;
        }
        s.bytes += msg.len();
        s.queue.push_back(msg);
        drop(s);
        self.changed.notify_all();
        Pushed::Queued
    }

    /// Bytes not yet handed to the socket.
    pub fn backlog(&self) -> usize {
        self.state().bytes
    }

    /// True while [`REPLY_MAX`] replies or more wait: the connection reads no requests.
    pub fn replies_backed_up(&self) -> bool {
        self.state().replies >= REPLY_MAX
    }

    /// Waits (at most `limit`) for the writer to write something or fail.
    pub fn wait_progress(&self, limit: Duration) {
        let s = self.state();
        let _ = self
            .changed
            .wait_timeout(s, limit)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Packet-ins dropped because the queue was full.
    pub fn overflows(&self) -> u64 {
        self.state().overflows
    }

    /// Sets how many packet-ins may be queued (already queued ones stay).
    pub fn set_queue_size(&self, n: usize) {
        self.state().queue_size = n;
    }

    /// True once a write failed.
    pub fn failed(&self) -> bool {
        self.state().failed
    }

    /// Lets the writer finish what is queued and end; nothing more is queued.
    pub fn close(&self) {
        self.state().closed = true;
        self.changed.notify_all();
    }

    /// Waits until everything queued is written, the writer failed, or `limit` passed;
    /// true when everything was written.
    pub fn drain(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut s = self.state();
        loop {
            if s.failed {
                return false;
            }
            if s.queue.is_empty() && !s.writing {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn write_loop(&self, mut writer: Box<dyn Write + Send>) {
        loop {
            let msg = {
                let mut s = self.state();
                loop {
                    if let Some(m) = s.queue.pop_front() {
                        s.writing = true;
                        break m;
                    }
                    if s.closed || s.failed {
                        return;
                    }
                    s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
                }
            };
            // Written without the lock: producers keep queueing meanwhile.
            let ok = writer.write_all(&msg).is_ok();
            let mut s = self.state();
            s.writing = false;
            s.bytes -= msg.len();
            if is_packet_in(&msg) {
                s.packet_ins -= 1;
            }
            if is_reply(&msg) {
                s.replies -= 1;
            }
            if !ok {
                // Nothing more can reach the peer: forget what is queued.
                s.failed = true;
                s.queue.clear();
                s.bytes = 0;
                s.packet_ins = 0;
                s.replies = 0;
            }
            drop(s);
            self.changed.notify_all();
            if !ok {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    fn packet_in(n: u8) -> Vec<u8> {
        vec![4, OFPT_PACKET_IN, 0, 9, 0, 0, 0, n, 0xaa]
    }

    fn echo_reply(n: u8) -> Vec<u8> {
        vec![4, 3, 0, 8, 0, 0, 0, n]
    }

    #[test]
    fn packet_ins_are_recognised_in_every_form() {
        assert!(is_packet_in(&packet_in(1)));
        let mut nx = vec![
            1,
            OFPT_VENDOR,
            0,
            16,
            0,
            0,
            0,
            1,
            0,
            0,
            0x23,
            0x20,
            0,
            0,
            0,
            30,
        ];
        assert!(is_packet_in(&nx));
        nx[15] = 17;
        assert!(is_packet_in(&nx));
        nx[15] = 18;
        assert!(!is_packet_in(&nx));
        assert!(!is_packet_in(&echo_reply(1)));
        assert!(!is_packet_in(&[]));
    }

    /// A peer that does not read: packet-ins beyond the queue size are dropped and
    /// counted, every reply is kept, and once the peer reads it gets everything queued in
    /// order.
    #[test]
    fn stalled_peer_loses_only_packet_ins_beyond_the_queue() {
        let (ours, mut peer) = UnixStream::pair().expect("socketpair");
        let outbox = Outbox::start(Box::new(ours), 3);
        // Fill the socket's buffer so the writer blocks with something in hand.
        let filler = vec![0u8; 4096];
        let mut pushed = 0usize;
        while outbox.backlog() == 0 || pushed < 4 {
            let mut m = filler.clone();
            m[1] = 2; // echo request: never dropped
            assert_eq!(outbox.push(m), Pushed::Queued);
            pushed += 1;
            std::thread::sleep(Duration::from_millis(1));
            if pushed > 10_000 {
                panic!("the writer never blocked");
            }
        }
        // A few more, so that the writer surely holds one and some wait behind it.
        for _ in 0..4 {
            let mut m = filler.clone();
            m[1] = 2;
            outbox.push(m);
            pushed += 1;
        }
        let mut results = Vec::new();
        for i in 0..10 {
            results.push(outbox.push(packet_in(i)));
            outbox.push(echo_reply(i));
        }
        let queued = results.iter().filter(|r| **r == Pushed::Queued).count();
        assert_eq!(queued, 3, "{results:?}");
        assert_eq!(outbox.overflows(), 7);
        // The peer reads everything.
        let want = pushed * 4096 + 3 * 9 + 10 * 8;
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while got.len() < want {
            let n = peer.read(&mut buf).expect("read");
            assert!(n > 0, "early end");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(outbox.drain(Duration::from_secs(5)));
        assert_eq!(outbox.backlog(), 0);
        let tail = &got[pushed * 4096..];
        let mut expect = Vec::new();
        for i in 0..10 {
            if i < 3 {
                expect.extend(packet_in(i));
            }
            expect.extend(echo_reply(i));
        }
        assert_eq!(tail, &expect[..], "replies all kept, in order");
    }

    #[test]
    fn a_failed_write_marks_the_outbox_failed() {
        let (ours, peer) = UnixStream::pair().expect("socketpair");
        drop(peer);
        let outbox = Outbox::start(Box::new(ours), 3);
        outbox.push(echo_reply(1));
        assert!(!outbox.drain(Duration::from_secs(5)));
        assert!(outbox.failed());
        assert_eq!(outbox.push(echo_reply(2)), Pushed::Gone);
    }
}
