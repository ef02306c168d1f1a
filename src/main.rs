use std::process::ExitCode;

use clap::Parser;
use token_agent::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    token_agent::telemetry::init();
    cli::run(Cli::parse()).await
}
