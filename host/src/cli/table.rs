//! The table commands: `dump`, `add`, `del`, `flush`.

use std::io::Read;

use serde_json::{json, Value};

use super::admin::{pretty, AdminArgs, Connection};
use super::resolve::{parse_mtu, parse_rate, parse_u16};
use super::CliError;
use crate::daemon::protocol::{
    parse_u64, AddParams, ContextJson, DumpParams, FlushParams, PathJson, Request, Selection, U64Text,
};

/// Options of `dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// Entries per answer line (the daemon's default is 256).
    #[arg(long)]
    pub chunk: Option<usize>,
    /// Print JSON: `{"entries": [...], "total": N}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `dump`.
pub fn dump(args: &DumpArgs) -> Result<String, CliError> {
    let mut c = Connection::open(&args.admin)?;
    let lines = c.call(&Request::Dump(DumpParams { chunk: args.chunk }))?;
    let mut entries = Vec::new();
    let mut total = 0;
    for l in lines {
        if let Some(Value::Array(e)) = l.get("entries") {
            entries.extend(e.iter().cloned());
        }
        if let Some(t) = l.get("total").and_then(Value::as_u64) {
            total = t;
        }
    }
    if args.json {
        return Ok(pretty(&json!({"entries": entries, "total": total})));
    }
    let mut out = String::new();
    for e in &entries {
        out.push_str(&entry_text(e));
        out.push('\n');
    }
    out.push_str(&format!("{total} entries\n"));
    Ok(out)
}

/// One dump entry on one line.
fn entry_text(e: &Value) -> String {
    let s = |v: &Value, k: &str| {
        v.get(k).map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string())).unwrap_or_default()
    };
    let kind = s(e, "kind");
    let p = e.get("path").or_else(|| e.get("query")).cloned().unwrap_or(Value::Null);
    let mut line = format!(
        "umad{:<3} {kind:<8} {} -> {}  lid {} -> {}  pkey 0x{:04x} sl {} mtu {} rate {} life {}",
        s(e, "port"),
        s(&p, "sgid"),
        s(&p, "dgid"),
        s(&p, "slid"),
        s(&p, "dlid"),
        p.get("pkey").and_then(Value::as_u64).unwrap_or(0),
        s(&p, "sl"),
        s(&p, "mtu"),
        s(&p, "rate"),
        s(&p, "packet_lifetime"),
    );
    if e.get("pinned").and_then(Value::as_bool) == Some(true) {
        line.push_str("  pinned");
    }
    if e.get("stale").and_then(Value::as_bool) == Some(true) {
        line.push_str("  stale");
    }
    if let Some(ms) = e.get("expires_in_ms").and_then(Value::as_u64) {
        line.push_str(&format!("  expires in {}s", ms / 1000));
    }
    if kind == "negative" {
        line.push_str(&format!("  error: {}", s(e, "error")));
    }
    line
}

/// Options of `add`: a path as JSON (what `resolve --json` prints in `paths`), or its fields.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The path as JSON, or `-` to read it from standard input.
    #[arg(long, conflicts_with_all = ["sgid", "dgid", "slid", "dlid"])]
    pub path: Option<String>,
    /// Source GID.
    #[arg(long, required_unless_present = "path")]
    pub sgid: Option<String>,
    /// Destination GID.
    #[arg(long, required_unless_present = "path")]
    pub dgid: Option<String>,
    /// Source LID.
    #[arg(long, required_unless_present = "path")]
    pub slid: Option<u16>,
    /// Destination LID.
    #[arg(long, required_unless_present = "path")]
    pub dlid: Option<u16>,
    /// P_Key.
    #[arg(long, value_parser = parse_u16, default_value = "0xffff")]
    pub pkey: u16,
    /// Service level.
    #[arg(long, default_value_t = 0)]
    pub sl: u8,
    /// MTU in bytes.
    #[arg(long, value_parser = parse_mtu, required_unless_present = "path")]
    pub mtu: Option<u8>,
    /// Rate in Gb/s.
    #[arg(long, value_parser = parse_rate, required_unless_present = "path")]
    pub rate: Option<u8>,
    /// Packet lifetime code.
    #[arg(long, required_unless_present = "path")]
    pub packet_lifetime: Option<u8>,
    /// Mark the path reversible.
    #[arg(long)]
    pub reversible: bool,
    /// Answer queries that name this P_Key (by default: queries that leave it to the SA).
    #[arg(long)]
    pub context_pkey: bool,
    /// Answer only queries with this ServiceID.
    #[arg(long, value_parser = parse_u64)]
    pub context_service_id: Option<u64>,
    /// Answer only queries with this QoS class.
    #[arg(long)]
    pub context_qos_class: Option<u16>,
    /// The port (umad index) whose table holds the pin [default: the port of its SGID or SLID].
    #[arg(long, value_name = "N")]
    pub port: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `add`.
pub fn add(args: &AddArgs) -> Result<String, CliError> {
    let path = match &args.path {
        Some(text) => {
            let text = if text == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| CliError::Input(format!("stdin: {e}")))?;
                s
            } else {
                text.clone()
            };
            serde_json::from_str::<PathJson>(&text).map_err(|e| CliError::Usage(format!("--path: {e}")))?
        }
        None => PathJson {
            service_id: U64Text(0),
            dgid: args.dgid.clone().unwrap_or_default(),
            sgid: args.sgid.clone().unwrap_or_default(),
            dlid: args.dlid.unwrap_or(0),
            slid: args.slid.unwrap_or(0),
            raw_traffic: false,
            flow_label: 0,
            hop_limit: 0,
            tclass: 0,
            reversible: args.reversible,
            numb_path: 0,
            pkey: args.pkey,
            qos_class: 0,
            sl: args.sl,
            mtu_selector: 2,
            mtu: args.mtu.unwrap_or(0),
            rate_selector: 2,
            rate: args.rate.unwrap_or(0),
            packet_lifetime_selector: 2,
            packet_lifetime: args.packet_lifetime.unwrap_or(0),
            preference: 0,
        },
    };
    path.to_repr().map_err(|e| CliError::Usage(format!("path: {e}")))?;
    let context = ContextJson {
        service_id: args.context_service_id.map(U64Text),
        qos_class: args.context_qos_class,
        pkey: args.context_pkey,
        raw_traffic: false,
    };
    let v =
        super::admin::call_once(&args.admin, &Request::Add(AddParams { path, context, port: args.port }))?;
    if args.json {
        return Ok(pretty(&super::admin::payload(v)));
    }
    let persisted = v.get("persisted").and_then(Value::as_bool).unwrap_or(false);
    Ok(format!(
        "pinned ({}){}\n",
        v.get("result").and_then(Value::as_str).unwrap_or("?"),
        if persisted { "" } else { "; NOT saved to the pinned file (see the daemon's log)" }
    ))
}

/// Options of `del`: every pinned path matching all the given fields is removed.
#[derive(Debug, clap::Args)]
pub struct DelArgs {
    /// Source GID.
    #[arg(long)]
    pub sgid: Option<String>,
    /// Destination GID.
    #[arg(long, required_unless_present_any = ["sgid", "slid", "dlid"])]
    pub dgid: Option<String>,
    /// Source LID.
    #[arg(long)]
    pub slid: Option<u16>,
    /// Destination LID.
    #[arg(long)]
    pub dlid: Option<u16>,
    /// Only this port's pins (umad index) [default: every port's].
    #[arg(long, value_name = "N")]
    pub port: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `del`.
pub fn del(args: &DelArgs) -> Result<String, CliError> {
    let sel = Selection {
        sgid: args.sgid.clone(),
        dgid: args.dgid.clone(),
        slid: args.slid,
        dlid: args.dlid,
        port: args.port,
    };
    let v = super::admin::call_once(&args.admin, &Request::Del(sel))?;
    if args.json {
        return Ok(pretty(&super::admin::payload(v)));
    }
    Ok(format!("{} pinned entries removed\n", v.get("removed").and_then(Value::as_u64).unwrap_or(0)))
}

/// Options of `flush`: everything, or one GID's, LID's or subnet's entries.
#[derive(Debug, clap::Args)]
pub struct FlushArgs {
    /// Entries from or to this GID.
    #[arg(long, conflicts_with_all = ["lid", "prefix"])]
    pub gid: Option<String>,
    /// Entries from or to this LID.
    #[arg(long, conflicts_with = "prefix")]
    pub lid: Option<u16>,
    /// Entries from or to this subnet prefix (e.g. 0xfe80000000000000).
    #[arg(long, value_parser = parse_u64)]
    pub prefix: Option<u64>,
    /// Pinned entries go too.
    #[arg(long)]
    pub pinned: bool,
    /// Only this port's table (umad index) [default: every port's].
    #[arg(long, value_name = "N")]
    pub port: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `flush`.
pub fn flush(args: &FlushArgs) -> Result<String, CliError> {
    let p = FlushParams {
        gid: args.gid.clone(),
        lid: args.lid,
        prefix: args.prefix.map(U64Text),
        pinned: args.pinned,
        port: args.port,
    };
    let v = super::admin::call_once(&args.admin, &Request::Flush(p))?;
    if args.json {
        return Ok(pretty(&super::admin::payload(v)));
    }
    Ok(format!("{} entries removed\n", v.get("removed").and_then(Value::as_u64).unwrap_or(0)))
}
