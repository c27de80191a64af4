//! `localsa ports`: the local InfiniBand ports and their attributes.

use crate::umad::{list_ports, PortAttributes};

use super::CliError;

/// Options of `ports`.
#[derive(Debug, clap::Args)]
pub struct PortsArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ports`.
pub fn run(args: &PortsArgs) -> Result<String, CliError> {
    let mut ports = Vec::new();
    let mut errors = Vec::new();
    for p in list_ports() {
        match p {
            Ok(p) => ports.push(p),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if ports.is_empty() {
        let why = if errors.is_empty() { "no umad devices".to_owned() } else { errors.join("; ") };
        return Err(CliError::Port(format!("no InfiniBand ports found ({why})")));
    }
    for e in &errors {
        log::warn!("skipped a port: {e}");
    }
    if args.json {
        return Ok(serde_json::to_string_pretty(&ports).unwrap_or_default() + "\n");
    }
    Ok(ports.iter().map(describe).collect())
}

fn describe(p: &PortAttributes) -> String {
    let pkeys: Vec<String> = p.pkeys.iter().map(|(_, k)| format!("{k:#06x}")).collect();
    format!(
        "umad{} {} port {}: state {} ({}) lid {} lmc {} sm_lid {} sm_sl {} {} gid {} pkeys {}\n",
        p.umad_index,
        p.ca,
        p.port,
        p.state,
        if p.is_active() { "active" } else { "not active" },
        p.lid,
        p.lmc,
        p.sm_lid,
        p.sm_sl,
        p.link_layer,
        p.gid,
        pkeys.join(","),
    )
}
