//! The `credence` binary: composition and command-line parsing only. Every command calls a
//! library function; `main` turns its outcome into an exit code (0 ok, 1 refused, 2 usage).

mod cli;
mod issuer_cli;
mod verifier_cli;
mod wallet_cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
