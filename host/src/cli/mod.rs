//! The `localsa` command line: subcommands, their options, and how errors end the process.

pub mod admin;
pub mod bench;
pub mod daemon;
pub mod decode;
pub mod hex;
pub mod output;
pub mod ports;
pub mod query;
pub mod reregister;
pub mod resolve;
pub mod stats;
pub mod table;

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// localsa: an InfiniBand PathRecord cache and SA replica.
#[derive(Debug, Parser)]
#[command(name = "localsa", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the path cache daemon in the foreground (ACM and admin sockets).
    Daemon(Box<daemon::DaemonArgs>),
    /// Resolve a path through the daemon (its cache, or the SA).
    Resolve(Box<resolve::ResolveArgs>),
    /// Print the daemon's table.
    Dump(table::DumpArgs),
    /// Print the daemon's counters.
    Stats(stats::StatsArgs),
    /// Drop cached paths (all, or one GID's, LID's or subnet's).
    Flush(table::FlushArgs),
    /// Pin a path: it is always served, never expires, and survives restarts.
    Add(Box<table::AddArgs>),
    /// Unpin paths.
    Del(table::DelArgs),
    /// Print the daemon's events (invalidations, SM changes, subscriptions) as they happen.
    Events(stats::EventsArgs),
    /// Re-subscribe to traps and revalidate the cache, as after an SM's ClientReregister.
    Reregister(reregister::ReregisterArgs),
    /// Print every header and attribute field of an SA MAD (hex or raw; file or stdin).
    Decode(decode::DecodeArgs),
    /// List the local InfiniBand ports (from sysfs).
    Ports(ports::PortsArgs),
    /// Ask the SA for one PathRecord directly (no daemon) and print it.
    Query(query::QueryArgs),
    /// Load the daemon's ACM socket with N clients resolving cached paths (and an echo baseline).
    Bench(Box<bench::BenchArgs>),
}

/// Everything that ends a command unsuccessfully; each prints as one line.
#[derive(Debug)]
pub enum CliError {
    /// The input could not be read or is not a MAD's bytes.
    Input(String),
    /// The bytes are not a valid SA MAD. `partial` holds what decoded before the error.
    Decode { error: localsa_core::wire::Error, partial: String, length: usize },
    /// A command-line value is unusable.
    Usage(String),
    /// No usable port, or the port failed.
    Port(String),
    /// The SA answered with an error status.
    Sa(localsa_core::wire::SaError),
    /// No answer in time.
    Timeout(String),
    /// The configuration is unusable.
    Config(String),
    /// The daemon is not running (or not reachable).
    Unavailable(String),
    /// Not allowed.
    NoPermission(String),
    /// The daemon said something we do not understand.
    Protocol(String),
    /// The system refused something the daemon needs.
    Os(String),
    /// The daemon answered with an error.
    Answer { code: String, message: String },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(msg) => f.write_str(msg),
            CliError::Decode { error, length, .. } => {
                write!(f, "not a valid SA MAD ({length} bytes): {error}")
            }
            CliError::Usage(msg)
            | CliError::Port(msg)
            | CliError::Timeout(msg)
            | CliError::Config(msg)
            | CliError::Unavailable(msg)
            | CliError::NoPermission(msg)
            | CliError::Protocol(msg)
            | CliError::Os(msg) => f.write_str(msg),
            CliError::Sa(e) => write!(f, "SA answered: {e}"),
            CliError::Answer { code, message } => write!(f, "{message} ({code})"),
        }
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// The process exit status, after sysexits.h: 64 usage, 65 bad input data, 69 no usable
    /// port or no daemon, 71 system error, 75 temporary failure (timeout, busy), 76 protocol
    /// error, 77 permission denied, 78 configuration error, 1 a negative answer (no such path,
    /// an SA error, a refused pin).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 64,
            CliError::Input(_) | CliError::Decode { .. } => 65,
            CliError::Port(_) | CliError::Unavailable(_) => 69,
            CliError::Os(_) => 71,
            CliError::Timeout(_) => 75,
            CliError::Protocol(_) => 76,
            CliError::NoPermission(_) => 77,
            CliError::Config(_) => 78,
            CliError::Sa(_) => 1,
            CliError::Answer { code, .. } => match code.as_str() {
                "bad_request" | "invalid_query" | "line_too_long" => 64,
                "timeout" | "overloaded" | "shutting_down" => 75,
                "permission_denied" => 77,
                _ => 1,
            },
        }
    }
}

/// Parses the command line, runs the command, prints its output or its error, and returns the
/// process status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Daemon(args) => daemon::run(args),
        Command::Resolve(args) => resolve::run(args),
        Command::Dump(args) => table::dump(args),
        Command::Stats(args) => stats::stats(args),
        Command::Flush(args) => table::flush(args),
        Command::Add(args) => table::add(args),
        Command::Del(args) => table::del(args),
        Command::Events(args) => stats::events(args),
        Command::Reregister(args) => reregister::run(args),
        Command::Decode(args) => decode::run(args),
        Command::Ports(args) => ports::run(args),
        Command::Query(args) => query::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(text) => {
            // A closed stdout (e.g. `| head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let CliError::Decode { partial, .. } = &e {
                let _ = std::io::stdout().write_all(partial.as_bytes());
            }
            eprintln!("localsa: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
