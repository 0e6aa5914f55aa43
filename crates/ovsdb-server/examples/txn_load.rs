//! `txn_load`: an OVSDB transaction load generator for the `Open_vSwitch` schema.
//!
//! ```text
//! cargo run --release -p fvs-ovsdb-server --example txn_load -- \
//!     --socket PATH [--clients N] [--seconds T] [--max-txns M]
//! ```
//!
//! N clients (threads) each open their own connection to the unix socket PATH (only local
//! unix sockets: no TCP, so the benchmark can never reach another machine) and send
//! `transact` requests back to back, one outstanding request per client, for T seconds or M
//! transactions per client, whichever comes first. The load is a 50/50 mix:
//!
//! - even transactions insert a `QoS` row (a root table, so the row survives without being
//!   referenced, and no other client's rows are touched: no conflicts between clients);
//! - odd transactions update the row this client inserted last (`other_config:max-rate`).
//!
//! Both ovsdb-server and fvs-ovsdb-server serve the same schema, so the same load runs
//! against either. The report is one line, `key=value` separated so a script can pick the
//! fields: committed transactions (replies without an error), failed ones, the rate, and the
//! per-transaction latency (request written to reply parsed) p50 and p99 in microseconds.
//!
//! Bounds: at most 64 clients, 60 seconds and 10 million transactions per client; a reply
//! that does not come within 10 seconds ends that client with an error.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const MAX_CLIENTS: usize = 64;
const MAX_SECONDS: u64 = 60;
const MAX_TXNS: u64 = 10_000_000;
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The command line, validated against the bounds above.
struct Options {
    socket: PathBuf,
    clients: usize,
    seconds: u64,
    max_txns: u64,
}

fn usage() -> String {
    "usage: txn_load --socket PATH [--clients N (1-64)] [--seconds T (1-60)] [--max-txns M]"
        .to_owned()
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut socket = None;
    let mut clients = 1;
    let mut seconds = 5;
    let mut max_txns = MAX_TXNS;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg}: missing argument"));
        let number = |v: &String| {
            v.parse::<u64>()
                .map_err(|_| format!("{arg}: \"{v}\" is not a number"))
        };
        match arg.as_str() {
            "--socket" => socket = Some(PathBuf::from(value()?)),
            "--clients" => clients = number(value()?)? as usize,
            "--seconds" => seconds = number(value()?)?,
            "--max-txns" => max_txns = number(value()?)?,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("{other}: unknown option\n{}", usage())),
        }
    }
    if !(1..=MAX_CLIENTS).contains(&clients) {
        return Err(format!("--clients {clients}: must be 1 to {MAX_CLIENTS}"));
    }
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("--seconds {seconds}: must be 1 to {MAX_SECONDS}"));
    }
    if !(1..=MAX_TXNS).contains(&max_txns) {
        return Err(format!("--max-txns {max_txns}: must be 1 to {MAX_TXNS}"));
    }
    let socket = socket.ok_or_else(usage)?;
    Ok(Options {
        socket,
        clients,
        seconds,
        max_txns,
    })
}

/// What one client measured.
#[derive(Default)]
struct Tally {
    committed: u64,
    failed: u64,
    /// Latency of every committed transaction, in microseconds.
    latencies_us: Vec<u64>,
}

/// The `transact` for transaction number `n` of client `client`: see the module doc.
fn transaction(client: usize, n: u64, last_row: Option<&str>) -> Value {
    let op = match last_row {
        Some(uuid) if n % 2 == 1 => json!({
            "op": "update",
            "table": "QoS",
            "where": [["_uuid", "==", ["uuid", uuid]]],
            "row": {"other_config": ["map", [["max-rate", n.to_string()]]]},
        }),
        _ => json!({
            "op": "insert",
            "table": "QoS",
            "row": {
                "type": "linux-htb",
                "external_ids": ["map", [
                    ["load-client", client.to_string()],
                    ["load-seq", n.to_string()],
                ]],
            },
        }),
    };
    json!({"method": "transact", "params": ["Open_vSwitch", op], "id": n})
}

/// Whether a `transact` result committed: every operation's result is free of "error".
fn committed(result: &Value) -> bool {
    result
        .as_array()
        .is_some_and(|ops| ops.iter().all(|op| op.get("error").is_none()))
}

/// The uuid an insert returned, if `result` is an insert's reply.
fn inserted_uuid(result: &Value) -> Option<String> {
    let uuid = result.get(0)?.get("uuid")?.get(1)?.as_str()?;
    Some(uuid.to_owned())
}

/// Runs one client until `deadline` or `max_txns`.
fn client(socket: &PathBuf, id: usize, deadline: Instant, max_txns: u64) -> Result<Tally, String> {
    let mut stream =
        UnixStream::connect(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    // OVSDB frames are JSON texts back to back, so a streaming parser is the framing.
    let mut messages = serde_json::Deserializer::from_reader(reader).into_iter::<Value>();
    let mut tally = Tally::default();
    let mut last_row: Option<String> = None;
    let mut n = 0;
    while n < max_txns && Instant::now() < deadline {
        let request = serde_json::to_vec(&transaction(id, n, last_row.as_deref()))
            .map_err(|e| e.to_string())?;
        let start = Instant::now();
        stream.write_all(&request).map_err(|e| e.to_string())?;
        loop {
            let message = messages
                .next()
                .ok_or("connection closed by the server")?
                .map_err(|e| format!("reading a reply: {e}"))?;
            // The server may probe an idle-looking connection; answer and keep waiting.
            if message.get("method").and_then(Value::as_str) == Some("echo") {
                let params = message.get("params").cloned().unwrap_or(json!([]));
                let id = message.get("id").cloned().unwrap_or(Value::Null);
                let reply = json!({"result": params, "error": null, "id": id});
                let bytes = serde_json::to_vec(&reply).map_err(|e| e.to_string())?;
                stream.write_all(&bytes).map_err(|e| e.to_string())?;
                continue;
            }
            if message.get("id") != Some(&json!(n)) {
                continue;
            }
            let result = message.get("result").cloned().unwrap_or(Value::Null);
            if committed(&result) {
                tally.committed += 1;
                let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                tally.latencies_us.push(us);
                if let Some(uuid) = inserted_uuid(&result) {
                    last_row = Some(uuid);
                }
            } else {
                tally.failed += 1;
            }
            break;
        }
        n += 1;
    }
    Ok(tally)
}

/// The `p`th percentile (0-100) of sorted `values`, nearest rank.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("txn_load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs(options.seconds);
    let results: Vec<Result<Tally, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..options.clients)
            .map(|id| {
                let socket = &options.socket;
                s.spawn(move || client(socket, id, deadline, options.max_txns))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("client thread panicked".to_owned()))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut total = Tally::default();
    for result in results {
        match result {
            Ok(t) => {
                total.committed += t.committed;
                total.failed += t.failed;
                total.latencies_us.extend(t.latencies_us);
            }
            Err(e) => {
                eprintln!("txn_load: client: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    total.latencies_us.sort_unstable();
    println!(
        "clients={} seconds={elapsed:.2} committed={} failed={} txn_per_s={:.0} p50_us={} p99_us={}",
        options.clients,
        total.committed,
        total.failed,
        total.committed as f64 / elapsed,
        percentile(&total.latencies_us, 50),
        percentile(&total.latencies_us, 99),
    );
    ExitCode::SUCCESS
}
