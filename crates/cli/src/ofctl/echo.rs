//! `probe SWITCH` and `ping SWITCH [N]`: echo requests, as ovs-ofctl sends them.
//!
//! `probe` sends one echo request and waits for its reply (with `--timeout`, a way to check
//! that a switch answers); it prints nothing. `ping` sends ten, each with `N` bytes of
//! payload (64 by default, at most 65527 so the message fits), checks that each reply echoes
//! its payload, and prints `N bytes from SWITCH: xid=XXXXXXXX time=T ms` for each, the time
//! to a tenth of a millisecond.

use super::conn::{Conn, Received};
use super::{CmdError, Options};
use fvs_openflow::wire::Message;
use std::fmt::Write as _;
use std::time::Instant;

/// How many echo requests `ping` sends.
const PINGS: u32 = 10;
/// The largest payload: an OpenFlow message is at most 65535 bytes, 8 of them header.
const MAX_PAYLOAD: usize = 65527;

fn target(args: &[String]) -> Result<&String, CmdError> {
    args.first()
        .ok_or_else(|| CmdError::Fatal("missing arguments".into()))
}

/// Sends an echo request with `payload`; its reply.
fn echo(conn: &mut Conn, payload: &[u8]) -> Result<(u32, Received), CmdError> {
    let xid = conn.send(&Message::EchoRequest(payload.to_vec()))?;
    loop {
        let reply = conn.recv()?;
        if reply.header.xid == xid {
            return Ok((xid, reply));
        }
    }
}

/// `probe SWITCH`.
pub(super) fn probe(opts: &Options, args: &[String], _out: &mut String) -> Result<(), CmdError> {
    let target = target(args)?;
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    let (xid, reply) = echo(&mut conn, &[])?;
    match reply.message {
        Some(Message::EchoReply(_)) => Ok(()),
        _ => Err(CmdError::Fatal(format!(
            "{target}: reply to xid {xid:#x} is not an echo reply"
        ))),
    }
}

/// `ping SWITCH [N]`.
pub(super) fn ping(opts: &Options, args: &[String], out: &mut String) -> Result<(), CmdError> {
    let target = target(args)?;
    let size = match args.get(1) {
        None => 64,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_PAYLOAD)
            .ok_or_else(|| {
                CmdError::Fatal(format!("payload must be between 0 and {MAX_PAYLOAD} bytes"))
            })?,
    };
    let mut conn = Conn::open(target, opts.allowed, opts.timeout)?;
    let mut seed = Instant::now().elapsed().subsec_nanos() | 1;
    for _ in 0..PINGS {
        // Any bytes will do; they only have to come back.
        let payload: Vec<u8> = (0..size)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed.to_le_bytes()[0]
            })
            .collect();
        let start = Instant::now();
        let (xid, reply) = echo(&mut conn, &payload)?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        match reply.message {
            Some(Message::EchoReply(back)) if back == payload => {
                let _ = writeln!(
                    out,
                    "{size} bytes from {target}: xid={xid:08x} time={ms:.1} ms"
                );
            }
            _ => {
                let _ = writeln!(out, "Reply does not match request.  Request:");
                let _ = writeln!(out, "echo request of {size} bytes (xid={xid:#x})");
                return Err(CmdError::Status(1));
            }
        }
    }
    Ok(())
}
