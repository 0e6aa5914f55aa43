//! The control socket: Open vSwitch's unixctl protocol, JSON-RPC over a Unix socket, so that
//! `ovs-appctl -t SOCKET` and `fvs-appctl` both work.
//!
//! A request is `{"method": COMMAND, "params": [STRING...], "id": ID}`; the reply carries
//! either `"result": TEXT` or `"error": TEXT`. Commands are a table of name, usage, argument
//! counts and handler; argument-count errors and unknown commands are worded as
//! ovs-vswitchd words them.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;

use fvs_ovsdb_server::framing::Framer;
use serde_json::{Value, json};

/// A command's handler: the arguments in, the reply text or the error text out.
pub type Handler<C> = fn(&C, &[String]) -> Result<String, String>;

/// One command.
pub struct Command<C> {
    /// Its name (the JSON-RPC method).
    pub name: &'static str,
    /// The argument synopsis `list-commands` prints.
    pub usage: &'static str,
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments.
    pub max: usize,
    /// What it does.
    pub handler: Handler<C>,
}

/// The commands of one server.
pub struct Commands<C> {
    list: Vec<Command<C>>,
}

impl<C> Commands<C> {
    /// A table of `list`, which must not repeat a name.
    /// `list-commands` is added: it needs the table itself.
    pub fn new(mut list: Vec<Command<C>>) -> Self {
        list.push(Command {
            name: "list-commands",
            usage: "",
            min: 0,
            max: 0,
            handler: |_, _| Ok(String::new()),
        });
        list.sort_by_key(|c| c.name);
        Self { list }
    }

    /// `list-commands`' text.
    pub fn list_text(&self) -> String {
        let mut out = String::from("The available commands are:\n");
        for c in &self.list {
            out.push_str(&format!("  {:<23} {}\n", c.name, c.usage));
        }
        out
    }

    /// Runs `method` with `args`.
    pub fn run(&self, ctx: &C, method: &str, args: &[String]) -> Result<String, String> {
        let Some(c) = self.list.iter().find(|c| c.name == method) else {
            return Err(format!(
                "\"{method}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
            ));
        };
        if args.len() < c.min {
            return Err(format!(
                "\"{method}\" command requires at least {} arguments",
                c.min
            ));
        }
        if args.len() > c.max {
            return Err(format!(
                "\"{method}\" command takes at most {} arguments",
                c.max
            ));
        }
        if c.name == "list-commands" {
            return Ok(self.list_text());
        }
        (c.handler)(ctx, args)
    }
}

/// What a server's context hears besides the commands.
pub trait Context {
    /// A request is about to be answered: the moment to bring up to date what a command's
    /// answer depends on but other threads settle in their own time.
    fn before_command(&self) {}

    /// A reply has been written: the moment to act on a request that must not cut its own
    /// reply short, such as `exit`.
    fn replied(&self) {}
}

/// Serves `listener` on background threads, one per connection.
pub fn serve<C: Context + Send + Sync + 'static>(
    listener: UnixListener,
    commands: Arc<Commands<C>>,
    ctx: Arc<C>,
) {
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let commands = commands.clone();
            let ctx = ctx.clone();
            thread::spawn(move || serve_connection(stream, &commands, &ctx));
        }
    });
}

fn serve_connection<C: Context>(mut stream: UnixStream, commands: &Commands<C>, ctx: &C) {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Ok(messages) = framer.push(&buf[..n]) else {
            return;
        };
        for msg in messages {
            ctx.before_command();
            let Some(reply) = answer(commands, ctx, &msg) else {
                return;
            };
            let written = stream.write_all(reply.to_string().as_bytes());
            ctx.replied();
            if written.is_err() {
                return;
            }
        }
    }
}

/// The reply to one request; `None` when the message is not a request (the connection is
/// then closed, as unixctl does).
fn answer<C>(commands: &Commands<C>, ctx: &C, msg: &Value) -> Option<Value> {
    let method = msg.get("method")?.as_str()?;
    let id = msg.get("id")?.clone();
    let params = msg.get("params")?.as_array()?;
    let args: Option<Vec<String>> = params
        .iter()
        .map(|p| p.as_str().map(str::to_owned))
        .collect();
    let outcome = match args {
        Some(args) => commands.run(ctx, method, &args),
        None => Err("command has non-string argument".to_owned()),
    };
    Some(match outcome {
        Ok(text) => json!({"id": id, "result": text, "error": null}),
        // ovs-vswitchd's error texts end with a newline, which ovs-appctl prints as is.
        Err(mut text) => {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            json!({"id": id, "result": null, "error": text})
        }
    })
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The socket.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The reply was not a unixctl reply.
    #[error("bad reply from server")]
    BadReply,
    /// The server answered with an error.
    #[error("{0}")]
    Server(String),
}

/// Calls `method` with `args` on the unixctl server at `path`; returns the result text.
pub fn call(path: &Path, method: &str, args: &[String]) -> Result<String, CallError> {
    let mut stream = UnixStream::connect(path)?;
    let req = json!({"method": method, "params": args, "id": 0});
    stream.write_all(req.to_string().as_bytes())?;
    let mut framer = Framer::new();
    let mut reader = BufReader::new(stream);
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Err(CallError::BadReply);
        }
        let len = chunk.len();
        let messages = framer.push(chunk).map_err(|_| CallError::BadReply)?;
        reader.consume(len);
        if let Some(reply) = messages.into_iter().next() {
            return match (reply.get("error"), reply.get("result")) {
                (Some(Value::String(e)), _) => Err(CallError::Server(e.clone())),
                (_, Some(Value::String(r))) => Ok(r.clone()),
                _ => Err(CallError::BadReply),
            };
        }
    }
}
