use std::process::ExitCode;

use clap::Parser;
use token_agent::cli::{self, Cli};

fn main() -> ExitCode {
    token_agent::telemetry::init();
    let cli = Cli::parse();
    match token_agent::startup::runtime() {
        Ok(runtime) => runtime.block_on(cli::run(cli)),
        Err(e) => {
            eprintln!("token-agent: configuration error: {e:#}");
            ExitCode::from(2)
        }
    }
}
