//! `fvs-vsctl`: a thin `main` over [`fvs_vsctl::run`].
//!
//! `--timeout` is enforced here as ovs-vsctl enforces it, by an alarm: a watchdog thread
//! writes ovs-vsctl's message and raises `SIGALRM` (default action: the process dies of it)
//! when the time is up, whatever the run is waiting for.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{Signal, raise};

/// ovs-vsctl's end on `--timeout`: its message, then death by `SIGALRM`. The watchdog and
/// the run may both get here at the deadline; only the first speaks.
fn alarm() -> ! {
    static FIRED: AtomicBool = AtomicBool::new(false);
    if FIRED.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    eprintln!("fvs-vsctl: {}", fvs_vsctl::ALARM_MESSAGE);
    let _ = raise(Signal::SIGALRM);
    // Unreachable unless SIGALRM is ignored: then end with the status a shell reports for it.
    std::process::exit(128 + 14)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(after) = fvs_vsctl::timeout(&args) {
        std::thread::spawn(move || {
            std::thread::sleep(after);
            alarm();
        });
    }
    match fvs_vsctl::run(&args, &mut std::io::stdout(), &mut std::io::stderr()) {
        fvs_vsctl::Exit::Code(code) => ExitCode::from(code),
        fvs_vsctl::Exit::Alarm => alarm(),
    }
}
