//! `fvs-ofctl`: see [`fvs_cli::ofctl`].

fn main() -> std::process::ExitCode {
    fvs_cli::ofctl::run(std::env::args().skip(1))
}
