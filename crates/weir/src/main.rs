//! The `weir` command: a Kafka-compatible broker (`weir serve`) and a small
//! Kafka client (`weir topic`, `weir produce`, `weir consume`) that works
//! against any Kafka broker.
//!
//! This file is glue: it parses the command line and dispatches to one file
//! per subcommand under `cmd/`. Errors end here as one line on stderr,
//! `weir: <what failed>: <why>`, and exit code 1.

mod client;
mod cmd;
mod config;
mod os;

/// Turns a hostile array count in a request into a reservation, not an
/// abort; see `os`.
#[global_allocator]
static ALLOCATOR: os::Guard = os::Guard;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "weir",
    version,
    about = "A single-node, Kafka-compatible event-streaming broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker (Kafka protocol on 127.0.0.1:9092, data in ./weir-data)
    #[command(
        long_about = "Run the broker.\n\n\
            Starts with no configuration: Kafka listener 127.0.0.1:9092, data directory ./weir-data. \
            Every setting can come from a flag, a WEIR_* environment variable, or a TOML file \
            (--config or WEIR_CONFIG) whose keys are the flag names with '_' for '-'.\n\n\
            Precedence: flag > environment variable > TOML file > built-in default.\n\n\
            When ready, prints exactly one line to stdout: 'weir listening on <address>'. \
            Logs go to stderr, filtered by RUST_LOG (default: info). \
            SIGINT or SIGTERM stops accepting, finishes in-flight requests, flushes and exits 0.",
        after_help = "See docs/configuration.md for every setting, its TOML key and the flush-policy trade-offs."
    )]
    Serve(config::ServeArgs),
    /// Create, list, describe, alter and delete topics
    Topic(cmd::topic::TopicArgs),
    /// Produce stdin lines as records to a topic
    Produce(cmd::produce::ProduceArgs),
    /// Print records of a topic
    Consume(cmd::consume::ConsumeArgs),
    /// List, describe, reset the offsets of, and delete consumer groups
    Group(cmd::group::GroupArgs),
    /// Measure a Kafka broker (produce, consume, end-to-end) and this machine's limits
    Bench(cmd::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // `weir consume | head` should end quietly, like any Unix filter.
        // The broker keeps Rust's default (ignored) so a client hanging up
        // is an error value on that socket, not the end of the process.
        os::restore_default_sigpipe();
    }
    let result = match &cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Topic(args) => cmd::topic::run(args),
        Command::Produce(args) => cmd::produce::run(args),
        Command::Consume(args) => cmd::consume::run(args),
        Command::Group(args) => cmd::group::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("weir: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
