//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use crate::leftovers::LeftoverProcess;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building or running a simulated fabric.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed; `context` says which.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A program or file the testbed needs is not installed.
    Missing {
        /// The program or file.
        what: String,
        /// Where it usually comes from (a Debian package).
        hint: &'static str,
    },
    /// A condition did not become true in time.
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
        /// The last thing seen (log tail, last command output), may be empty.
        detail: String,
    },
    /// A process of the fabric (ibsim, OpenSM, a client) exited while it was needed.
    Exited {
        /// Which process.
        what: String,
        /// How it ended.
        status: ExitStatus,
        /// The end of its log, when it has one.
        log_tail: String,
    },
    /// A command run to completion failed (non-zero exit or killed).
    CommandFailed {
        /// The command line.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// A topology is invalid or exceeds ibsim's limits, or a netfile could not be parsed.
    Topology(String),
    /// ibsim rejected a console command; `response` is what it printed.
    Console {
        /// The command sent.
        command: String,
        /// ibsim's answer.
        response: String,
    },
    /// Output of a tool did not have the expected shape.
    Parse {
        /// What was being parsed.
        what: String,
        /// The text that did not parse.
        text: String,
    },
    /// Processes carrying a fabric's socket name were still alive after teardown.
    Leftovers(Vec<LeftoverProcess>),
    /// An argument (a topology spec, a node name, a console command) is invalid.
    InvalidArgument(String),
    /// A path that had to exist does not.
    NotFound(PathBuf),
}

impl Error {
    /// An [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// Maps a spawn failure: `NotFound` becomes [`Error::Missing`] with an installation hint.
    pub(crate) fn spawn(program: &str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            Error::Missing { what: program.to_string(), hint: package_hint(program) }
        } else {
            Error::io(format!("spawning {program}"), source)
        }
    }
}

/// The Debian package that provides a program we run.
pub(crate) fn package_hint(program: &str) -> &'static str {
    let base = program.rsplit('/').next().unwrap_or(program);
    match base {
        "ibsim" | "libumad2sim.so" => "install the Debian package ibsim-utils",
        "opensm" => "install the Debian package opensm",
        "sminfo" | "saquery" | "ibaddr" | "ibnetdiscover" => "install the Debian package infiniband-diags",
        "ib_acme" => "install the Debian package ibacm",
        _ => "is it installed and in PATH?",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Missing { what, hint } => write!(f, "{what} not found ({hint})"),
            Error::Timeout { what, after, detail } => {
                write!(f, "timed out after {:.1}s waiting for {what}", after.as_secs_f64())?;
                if !detail.is_empty() {
                    write!(f, "; last seen:\n{detail}")?;
                }
                Ok(())
            }
            Error::Exited { what, status, log_tail } => {
                write!(f, "{what} exited ({status})")?;
                if !log_tail.is_empty() {
                    write!(f, "; end of its log:\n{log_tail}")?;
                }
                Ok(())
            }
            Error::CommandFailed { command, status, stdout, stderr } => {
                write!(f, "`{command}` failed ({status})")?;
                if !stderr.trim().is_empty() {
                    write!(f, "; stderr:\n{}", stderr.trim_end())?;
                }
                if !stdout.trim().is_empty() {
                    write!(f, "; stdout:\n{}", stdout.trim_end())?;
                }
                Ok(())
            }
            Error::Topology(msg) => write!(f, "topology: {msg}"),
            Error::Console { command, response } => {
                write!(f, "ibsim console rejected `{command}`: {}", response.trim())
            }
            Error::Parse { what, text } => write!(f, "cannot parse {what}: {text:?}"),
            Error::Leftovers(list) => {
                write!(f, "{} process(es) of the fabric still alive after teardown:", list.len())?;
                for p in list {
                    write!(f, " [{} {}]", p.pid, p.cmdline)?;
                }
                Ok(())
            }
            Error::InvalidArgument(msg) => write!(f, "{msg}"),
            Error::NotFound(path) => write!(f, "{} does not exist", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
