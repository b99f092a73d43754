//! `stormctl`: the storm operator's CLI. See the crate docs and `stormctl --help`.

use std::process::ExitCode;

use clap::Parser;
use stormctl::cli::Cli;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    stormctl::run(Cli::parse()).await
}
