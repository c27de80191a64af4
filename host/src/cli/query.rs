//! `localsa query`: one PathRecord query straight to the SA through umad, without a daemon.
//! A diagnostic in the spirit of `saquery -p`, decoded with localsa's own codec.

use std::time::{Duration, Instant};

use localsa_core::wire::{
    request, Gid, MadAddress, Method, PathRecordMask, PathRecordRepr, SaPacket, MAD_LEN,
};

use super::decode::decode_bytes;
use super::CliError;
use crate::umad::{list_ports, PortAttributes, UmadPort};

/// Options of `query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// umad index of the port to use (default: the first active port).
    #[arg(long)]
    pub port: Option<u32>,
    /// Destination LID.
    #[arg(long, conflicts_with = "dgid", required_unless_present = "dgid")]
    pub dlid: Option<u16>,
    /// Destination GID.
    #[arg(long)]
    pub dgid: Option<String>,
    /// Source LID (default: the port's own; with --dlid).
    #[arg(long)]
    pub slid: Option<u16>,
    /// LID of the SA to ask (default: the SM LID of the port).
    #[arg(long)]
    pub sa_lid: Option<u16>,
    /// Per-attempt timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u32,
    /// Attempts before giving up.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Picks the port named by `index`, or the first active one.
pub fn choose_port(index: Option<u32>) -> Result<PortAttributes, CliError> {
    let ports: Vec<PortAttributes> = list_ports().into_iter().filter_map(Result::ok).collect();
    match index {
        Some(i) => ports
            .into_iter()
            .find(|p| p.umad_index == i)
            .ok_or_else(|| CliError::Port(format!("no port umad{i}"))),
        None => ports
            .into_iter()
            .find(PortAttributes::is_active)
            .ok_or_else(|| CliError::Port("no active InfiniBand port".into())),
    }
}

/// Runs `query`.
pub fn run(args: &QueryArgs) -> Result<String, CliError> {
    let attrs = choose_port(args.port)?;
    let sa = MadAddress::gsi(args.sa_lid.unwrap_or(attrs.sm_lid), attrs.sm_sl);
    let mut template = PathRecordRepr { numb_path: 1, reversible: true, ..PathRecordRepr::default() };
    let mut mask = PathRecordMask::NUMB_PATH | PathRecordMask::REVERSIBLE;
    match (&args.dgid, args.dlid) {
        (Some(text), _) => {
            template.dgid = Gid::parse(text).ok_or_else(|| CliError::Usage(format!("not a GID: {text}")))?;
            template.sgid = attrs.gid;
            mask |= PathRecordMask::DGID | PathRecordMask::SGID;
        }
        (None, Some(dlid)) => {
            template.dlid = dlid;
            template.slid = args.slid.unwrap_or(attrs.lid);
            mask |= PathRecordMask::DLID | PathRecordMask::SLID;
        }
        (None, None) => return Err(CliError::Usage("give --dlid or --dgid".into())),
    }
    let port = UmadPort::open(attrs, &[], false).map_err(|e| CliError::Port(e.to_string()))?;
    let mut out = [0u8; MAD_LEN];
    // Only the low 32 bits of a TID are ours: the kernel (and the ibsim shim) rewrite the rest.
    let base_tid = (std::process::id() as u64) << 16;
    for attempt in 0..args.attempts.max(1) {
        let tid = (base_tid + attempt as u64) & 0xffff_ffff;
        let len = request::path_record_query(&mut out, tid, Method::Get, &template, mask)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        port.send(&sa, &out[..len], args.timeout_ms).map_err(|e| CliError::Port(e.to_string()))?;
        let deadline = Instant::now() + Duration::from_millis(args.timeout_ms as u64);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some(rx) = port.recv(left).map_err(|e| CliError::Port(e.to_string()))? else { continue };
            if rx.status != 0 {
                continue; // the kernel reporting on one of our sends
            }
            let Ok(packet) = SaPacket::new_checked(&rx.mad[..]) else { continue };
            let h = packet.mad_header();
            if h.transaction_id.get() & 0xffff_ffff != tid || !h.method().is_response() {
                continue;
            }
            if let Err(e) = localsa_core::wire::MadStatus(h.status.get()).check() {
                return Err(CliError::Sa(e));
            }
            return decode_bytes(&rx.mad, args.json);
        }
    }
    Err(CliError::Timeout(format!(
        "no answer from the SA at LID {} after {} attempts",
        sa.lid, args.attempts
    )))
}
