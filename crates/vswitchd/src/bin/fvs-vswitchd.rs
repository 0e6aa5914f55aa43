//! `fvs-vswitchd`: see the `fvs_vswitchd` crate.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    fvs_vswitchd::process::run(&args)
}
