//! `localsa reregister`: tell the daemon the SM asked clients to re-register (PortInfo
//! ClientReregister, e.g. after an SM failover), which the daemon cannot see for itself.

use serde_json::Value;

use super::admin::{call_once, payload, pretty, AdminArgs};
use super::CliError;
use crate::daemon::protocol::{Empty, Request};

/// Options of `reregister`.
#[derive(Debug, clap::Args)]
pub struct ReregisterArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `reregister`: the daemon re-subscribes to traps and treats its cache as from an old
/// SM (stale, or flushed, per its `sm_change` setting).
pub fn run(args: &ReregisterArgs) -> Result<String, CliError> {
    let v = payload(call_once(&args.admin, &Request::Reregister(Empty {}))?);
    if args.json {
        return Ok(pretty(&v));
    }
    let n = v.get("sm_changes").and_then(Value::as_u64).unwrap_or(0);
    Ok(format!(
        "reregistered: trap subscriptions renewed, cached paths stale or flushed per sm_change \
         ({n} SM changes so far)\n"
    ))
}
