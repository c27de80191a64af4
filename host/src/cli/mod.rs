//! The `localsa` command line: subcommands, their options, and how errors end the process.

pub mod decode;
pub mod hex;
pub mod output;
pub mod ports;
pub mod query;

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
    /// Print every header and attribute field of an SA MAD (hex or raw; file or stdin).
    Decode(decode::DecodeArgs),
    /// List the local InfiniBand ports (from sysfs).
    Ports(ports::PortsArgs),
    /// Ask the SA for one PathRecord directly (no daemon) and print it.
    Query(query::QueryArgs),
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
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(msg) => f.write_str(msg),
            CliError::Decode { error, length, .. } => {
                write!(f, "not a valid SA MAD ({length} bytes): {error}")
            }
            CliError::Usage(msg) | CliError::Port(msg) | CliError::Timeout(msg) => f.write_str(msg),
            CliError::Sa(e) => write!(f, "SA answered: {e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// The process exit status, after sysexits.h: 64 usage, 65 bad input data, 69 no usable
    /// port, 75 temporary failure (timeout, busy), 1 an error answer from the SA.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 64,
            CliError::Input(_) | CliError::Decode { .. } => 65,
            CliError::Port(_) => 69,
            CliError::Timeout(_) => 75,
            CliError::Sa(_) => 1,
        }
    }
}

/// Parses the command line, runs the command, prints its output or its error, and returns the
/// process status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Ports(args) => ports::run(args),
        Command::Query(args) => query::run(args),
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
