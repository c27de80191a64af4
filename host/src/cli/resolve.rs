//! `localsa resolve`: a path from the daemon (its cache, or the SA through it), with a flag for
//! every PathRecord query field.

use localsa_core::wire::{Describe, Mtu, PathRecordRepr, Rate};
use serde_json::Value;

use super::admin::{call_once, payload, pretty, AdminArgs};
use super::output::TextPrinter;
use super::CliError;
use crate::daemon::protocol::{parse_u64, PathJson, Request, ResolveParams, SelectorJson, U64Text};

/// Options of `resolve`. A value alone is matched exactly; add `--*-selector` for gt, lt or
/// largest. Without a source, the daemon's port is the source.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// Destination GID.
    #[arg(long, required_unless_present = "dlid")]
    pub dgid: Option<String>,
    /// Destination LID.
    #[arg(long)]
    pub dlid: Option<u16>,
    /// Source GID (any port, not only the daemon's).
    #[arg(long)]
    pub sgid: Option<String>,
    /// Source LID.
    #[arg(long)]
    pub slid: Option<u16>,
    /// P_Key (e.g. 0xffff).
    #[arg(long, value_parser = parse_u16)]
    pub pkey: Option<u16>,
    /// Service level.
    #[arg(long)]
    pub sl: Option<u8>,
    /// QoS class.
    #[arg(long)]
    pub qos_class: Option<u16>,
    /// ServiceID (e.g. 0x1000000000000001).
    #[arg(long, value_parser = parse_u64)]
    pub service_id: Option<u64>,
    /// At most this many paths.
    #[arg(long)]
    pub numb_path: Option<u8>,
    /// Only reversible paths.
    #[arg(long)]
    pub reversible: bool,
    /// MTU in bytes: 256, 512, 1024, 2048, 4096.
    #[arg(long, value_parser = parse_mtu)]
    pub mtu: Option<u8>,
    /// How the MTU is compared: gt, lt, eq, largest.
    #[arg(long, value_parser = SelectorJson::parse)]
    pub mtu_selector: Option<SelectorJson>,
    /// Rate in Gb/s: 2.5, 5, 10, 14, 20, 25, 28, 30, 40, 50, 56, 60, 80, 100, 112, 120, 168, 200, 300, 400, 600.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u8>,
    /// How the rate is compared: gt, lt, eq, largest.
    #[arg(long, value_parser = SelectorJson::parse)]
    pub rate_selector: Option<SelectorJson>,
    /// Packet lifetime code (4.096 µs × 2^code), 0..63.
    #[arg(long)]
    pub packet_lifetime: Option<u8>,
    /// How the packet lifetime is compared: gt, lt, eq, largest.
    #[arg(long, value_parser = SelectorJson::parse)]
    pub packet_lifetime_selector: Option<SelectorJson>,
    /// Flow label (20 bits).
    #[arg(long)]
    pub flow_label: Option<u32>,
    /// Hop limit.
    #[arg(long)]
    pub hop_limit: Option<u8>,
    /// Traffic class.
    #[arg(long)]
    pub tclass: Option<u8>,
    /// Raw traffic.
    #[arg(long)]
    pub raw_traffic: bool,
    /// Preference.
    #[arg(long)]
    pub preference: Option<u8>,
    /// The port (umad index) whose engine answers [default: the port of the source, or the
    /// daemon's first port without one].
    #[arg(long, value_name = "N")]
    pub port: Option<u32>,
    /// Ask the SA even if the cache has the answer.
    #[arg(long, conflicts_with = "cache_only")]
    pub bypass_cache: bool,
    /// Answer from the cache only.
    #[arg(long)]
    pub cache_only: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Parses `0xffff` or `65535`.
pub fn parse_u16(s: &str) -> Result<u16, String> {
    parse_u64(s).and_then(|v| u16::try_from(v).map_err(|_| format!("{s} does not fit 16 bits")))
}

/// MTU bytes to the IBA code.
pub fn parse_mtu(s: &str) -> Result<u8, String> {
    (1..=5u8)
        .find(|&c| Mtu::from_raw(c).bytes().map(|b| b.to_string()) == Some(s.to_owned()))
        .ok_or_else(|| format!("{s} is not an MTU: 256, 512, 1024, 2048 or 4096"))
}

/// A rate in Gb/s to the IBA code.
pub fn parse_rate(s: &str) -> Result<u8, String> {
    let gbps: f64 = s.parse().map_err(|_| format!("{s} is not a rate in Gb/s"))?;
    let half = (gbps * 2.0).round() as u32;
    (0..=63u8)
        .find(|&c| Rate::from_raw(c).half_gbps() == Some(half) && (gbps * 2.0 - half as f64).abs() < 1e-9)
        .ok_or_else(|| format!("{s} Gb/s is not an InfiniBand rate"))
}

impl ResolveArgs {
    /// The protocol parameters.
    pub fn params(&self) -> ResolveParams {
        ResolveParams {
            sgid: self.sgid.clone(),
            dgid: self.dgid.clone(),
            slid: self.slid,
            dlid: self.dlid,
            pkey: self.pkey,
            sl: self.sl,
            qos_class: self.qos_class,
            service_id: self.service_id.map(U64Text),
            numb_path: self.numb_path,
            reversible: self.reversible.then_some(true),
            mtu: self.mtu,
            mtu_selector: self.mtu_selector,
            rate: self.rate,
            rate_selector: self.rate_selector,
            packet_lifetime: self.packet_lifetime,
            packet_lifetime_selector: self.packet_lifetime_selector,
            flow_label: self.flow_label,
            hop_limit: self.hop_limit,
            tclass: self.tclass,
            raw_traffic: self.raw_traffic.then_some(true),
            preference: self.preference,
            bypass_cache: self.bypass_cache,
            cache_only: self.cache_only,
            port: self.port,
        }
    }
}

/// Runs `resolve`.
pub fn run(args: &ResolveArgs) -> Result<String, CliError> {
    let answer = call_once(&args.admin, &Request::Resolve(args.params()))?;
    if args.json {
        return Ok(pretty(&payload(answer)));
    }
    let mut out = format!("source: {}\n", answer.get("source").and_then(Value::as_str).unwrap_or("?"));
    for p in answer.get("paths").and_then(Value::as_array).into_iter().flatten() {
        out.push_str(&path_text(p));
    }
    Ok(out)
}

/// A path as indented `field value` lines (the `decode` layout).
pub fn path_text(v: &Value) -> String {
    let Ok(p) = serde_json::from_value::<PathJson>(v.clone()) else { return format!("{v}\n") };
    let Ok(repr): Result<PathRecordRepr, _> = p.to_repr() else { return format!("{v}\n") };
    let mut t = TextPrinter::default();
    localsa_core::wire::Visitor::begin(&mut t, "path");
    repr.describe(&mut t);
    localsa_core::wire::Visitor::end(&mut t);
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_mtu("2048"), Ok(4));
        assert!(parse_mtu("3000").is_err());
        assert_eq!(parse_rate("10"), Ok(3));
        assert_eq!(parse_rate("2.5"), Ok(2));
        assert_eq!(parse_rate("56"), Ok(12));
        assert!(parse_rate("11").is_err());
        assert_eq!(parse_u16("0xffff"), Ok(0xffff));
    }
}
