//! `localsa stats` (the daemon's counters) and `localsa events` (its event stream).

use std::io::Write;

use serde_json::Value;

use super::admin::{call_once, payload, pretty, AdminArgs, Connection};
use super::CliError;
use crate::daemon::protocol::{Empty, Request};

/// Options of `stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `stats`.
pub fn stats(args: &StatsArgs) -> Result<String, CliError> {
    let v = payload(call_once(&args.admin, &Request::Stats(Empty {}))?);
    if args.json {
        return Ok(pretty(&v));
    }
    let mut out = String::new();
    if let Value::Object(top) = &v {
        for (k, val) in top {
            match val {
                Value::Object(section) => {
                    out.push_str(&format!("{k}:\n"));
                    for (name, x) in section {
                        out.push_str(&format!("  {name:<32} {x}\n"));
                    }
                }
                // Per-port sections: `ports[0].engine:` and so on.
                Value::Array(list) if list.iter().all(Value::is_object) => {
                    for (i, item) in list.iter().enumerate() {
                        for (name, x) in item.as_object().into_iter().flatten() {
                            match x {
                                Value::Object(section) => {
                                    out.push_str(&format!("{k}[{i}].{name}:\n"));
                                    for (n, y) in section {
                                        out.push_str(&format!("  {n:<32} {y}\n"));
                                    }
                                }
                                other => {
                                    out.push_str(&format!("{:<34} {other}\n", format!("{k}[{i}].{name}")))
                                }
                            }
                        }
                    }
                }
                other => out.push_str(&format!("{k:<34} {other}\n")),
            }
        }
    }
    Ok(out)
}

/// Options of `events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `events`: prints each event as one JSON line until the daemon goes away or the
/// command is interrupted.
pub fn events(args: &EventsArgs) -> Result<String, CliError> {
    let mut admin = args.admin.clone();
    // Events may be hours apart: wait for them indefinitely once subscribed.
    admin.wait = std::time::Duration::from_secs(30);
    let mut c = Connection::open(&admin)?;
    c.call(&Request::Events(Empty {}))?;
    let mut c = c.without_timeout()?;
    let mut out = std::io::stdout();
    loop {
        let v = c.next_line()?;
        if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
            return Ok(String::new());
        }
    }
}
