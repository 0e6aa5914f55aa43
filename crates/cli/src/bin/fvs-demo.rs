//! `fvs-demo`: traces frames through the seed's br-int/br-tun pipeline.

use std::process::ExitCode;

fn main() -> ExitCode {
    match fvs_cli::demo::run() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fvs-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
