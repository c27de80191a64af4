//! `sa-peer`: an SA-class agent whose RMPP the kernel does (`rmpp_version` 1, no
//! `USER_RMPP`), the reference peer of the kernel tests.
//!
//! * `respond --records N`: answers every GetTable(PathRecord) with `N` records of `--seed`;
//!   the kernel segments the answer and runs the RMPP sender (2 s ACK timeout, `--retries`).
//!   A Get(PathRecord) gets a plain GetResp: the record whose DGID the query names
//!   (ERR_NO_RECORDS for a DGID outside the table), record 0 when it names none. A
//!   Get(ClassPortInfo), an SA client's heartbeat, gets the SA's ClassPortInfo.
//!   Runs until its stdin closes (or `--max-ms`), then prints `EXIT`.
//! * `request --records-expected N`: sends one GetTable (SGID `--sgid`, default the port's
//!   own) to `--gid` (default: the port's own) and checks the answer the kernel reassembled,
//!   byte for byte (`--any-order`: each record once, in any order). Exit status 0 when it
//!   verifies, 1 when it does not, 2 when no answer came.
//!
//! Every line on stdout is a report for the driver (`READY`, `ANSWERED`, `SEND-STATUS`,
//! `RECEIVED`, `VERIFIED`, `MISMATCH`, `NO-ANSWER` ...).

use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use localsa::umad::UmadPort;
use localsa_core::wire::{Gid, Method, PathRecordMask, SaPacket, SaRecord};
use localsa_kerneltest::records::{self, as_table_request, kernel_rmpp_answer, Order};
use localsa_kerneltest::trace::{Dir, Seen};
use localsa_kerneltest::{errno_name, loopback, port};

#[derive(Debug, Parser)]
#[command(about = "SA peer with kernel RMPP, for the kernel tests")]
struct Cli {
    /// umad index of the port (default: the first active one).
    #[arg(long, global = true)]
    umad: Option<u32>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Answer GetTable(PathRecord) requests.
    Respond {
        /// Records in every answer.
        #[arg(long)]
        records: usize,
        /// Seed of the record contents.
        #[arg(long, default_value_t = 1)]
        seed: u32,
        /// Kernel retries of each answer (the ACK wait is 2 s).
        #[arg(long, default_value_t = 0)]
        retries: u32,
        /// Give up after this long even if stdin stays open.
        #[arg(long, default_value_t = 60_000)]
        max_ms: u64,
        /// The SGID of the records Get answers carry (default: the table's own).
        #[arg(long)]
        sgid: Option<String>,
    },
    /// Send one GetTable(PathRecord) and check the reassembled answer.
    Request {
        /// Records the answer must hold.
        #[arg(long)]
        records_expected: usize,
        /// Seed the answer's records were made with.
        #[arg(long, default_value_t = 1)]
        seed: u32,
        /// Destination GID (default: the port's own).
        #[arg(long)]
        gid: Option<String>,
        /// Destination LID (default: the port's own, 0 on RoCE).
        #[arg(long)]
        lid: Option<u16>,
        /// The kernel's wait for the (whole, reassembled) answer.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u32,
        /// Kernel retries of the request.
        #[arg(long, default_value_t = 0)]
        retries: u32,
        /// Low 32 bits of the TransactionID.
        #[arg(long, default_value_t = 0x5a00_0001)]
        tid: u32,
        /// The SGID the GetTable asks paths from (default: the port's own).
        #[arg(long)]
        sgid: Option<String>,
        /// Accept the records in any order (each exactly once), as a replica sends its table.
        #[arg(long)]
        any_order: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Respond { records, seed, retries, max_ms, sgid } => {
            match sgid
                .as_deref()
                .map(|g| Gid::parse(g).ok_or_else(|| format!("--sgid {g:?} is not a GID")))
                .transpose()
            {
                Ok(sgid) => respond(cli.umad, records, seed, retries, max_ms, sgid),
                Err(e) => Err(e),
            }
        }
        Mode::Request { records_expected, seed, gid, lid, timeout_ms, retries, tid, sgid, any_order } => {
            let order = if any_order { Order::Any } else { Order::ByIndex };
            let args =
                RequestArgs { n: records_expected, seed, gid, lid, timeout_ms, retries, tid, sgid, order };
            request(cli.umad, args)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            println!("ERROR {e}");
            ExitCode::from(3)
        }
    }
}

fn open(umad: Option<u32>, methods: &[u8]) -> Result<UmadPort, String> {
    let attrs = port(umad)?;
    let p = UmadPort::open(attrs, methods, true).map_err(|e| e.to_string())?;
    println!(
        "READY agent={} registration={:?} header={} gid={}",
        p.agent_id(),
        p.registration(),
        p.header_len(),
        p.attributes().gid
    );
    Ok(p)
}

/// The TID in the first 16 bytes of a MAD header (also in a failed-send report, which
/// carries just the 24-byte MAD header of the send).
fn tid_of(mad: &[u8]) -> u64 {
    mad.get(8..16).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0)
}

fn respond(
    umad: Option<u32>,
    n: usize,
    seed: u32,
    retries: u32,
    max_ms: u64,
    sgid: Option<Gid>,
) -> Result<ExitCode, String> {
    let p = open(umad, &[Method::GetTable.raw(), Method::Get.raw()])?;
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        flag.store(true, Ordering::SeqCst);
    });
    let start = Instant::now();
    let mut answered = 0;
    while !closed.load(Ordering::SeqCst) && start.elapsed() < Duration::from_millis(max_ms) {
        let Some(rx) = p.recv(Duration::from_millis(50)).map_err(|e| e.to_string())? else { continue };
        let at = start.elapsed().as_millis();
        if rx.status != 0 {
            println!("SEND-STATUS tid={:#x} status={} at={at}ms", tid_of(&rx.mad), errno_name(rx.status));
            continue;
        }
        if let Some(req) = records::as_class_port_info_get(&rx.mad) {
            let answer = records::class_port_info_answer(&req);
            match p.send(&rx.from, &answer, 0) {
                Ok(()) => println!("ANSWERED-CPI tid={:#x} at={at}ms", req.header.transaction_id),
                Err(e) => println!("SEND-ERROR tid={:#x} {e}", req.header.transaction_id),
            }
            continue;
        }
        if let Some(req) = records::as_get_request(&rx.mad) {
            let (answer, index) = records::get_answer_for(&req, &rx.mad, n, seed, sgid);
            let what = index.map_or_else(|| "no-records".to_owned(), |i| format!("index={i}"));
            match p.send(&rx.from, &answer, 0) {
                Ok(()) => println!("ANSWERED-GET tid={:#x} {what} at={at}ms", req.header.transaction_id),
                Err(e) => println!("SEND-ERROR tid={:#x} {e}", req.header.transaction_id),
            }
            continue;
        }
        let Some(req) = as_table_request(&rx.mad) else {
            match Seen::of(at as u64, Dir::In, &rx.mad) {
                Some(s) => println!("OTHER {s}"),
                None => println!("OTHER {} bytes", rx.mad.len()),
            }
            continue;
        };
        let sgid = table_request_sgid(&rx.mad).map_or_else(|| "none".to_owned(), |g| g.to_string());
        let answer = kernel_rmpp_answer(&req, n, seed);
        match p.send_with_retries(&rx.from, &answer, 0, retries) {
            Ok(()) => {
                answered += 1;
                println!(
                    "ANSWERED tid={:#x} records={n} bytes={} retries={retries} sgid={sgid} at={at}ms",
                    req.header.transaction_id,
                    answer.len()
                );
            }
            Err(e) => println!("SEND-ERROR tid={:#x} {e}", req.header.transaction_id),
        }
    }
    println!("EXIT answered={answered}");
    Ok(ExitCode::SUCCESS)
}

/// What `request` sends and expects.
struct RequestArgs {
    n: usize,
    seed: u32,
    gid: Option<String>,
    lid: Option<u16>,
    timeout_ms: u32,
    retries: u32,
    tid: u32,
    sgid: Option<String>,
    order: Order,
}

/// The SGID a GetTable(PathRecord) asks paths from, if its mask names one.
fn table_request_sgid(mad: &[u8]) -> Option<Gid> {
    let packet = SaPacket::new_checked(mad).ok()?;
    let mask = PathRecordMask::from_bits_retain(packet.sa_header().component_mask.get());
    if !mask.contains(PathRecordMask::SGID) {
        return None;
    }
    match packet.records().ok()?.next()? {
        Ok(SaRecord::PathRecord(t)) => Some(t.sgid),
        _ => None,
    }
}

fn parse_gid(text: &str) -> Result<Gid, String> {
    Gid::parse(text).ok_or_else(|| format!("not a GID: {text}"))
}

fn request(umad: Option<u32>, a: RequestArgs) -> Result<ExitCode, String> {
    let RequestArgs { n, seed, gid, lid, timeout_ms, retries, tid, sgid, order } = a;
    let p = open(umad, &[])?;
    let mut to = loopback(p.attributes());
    if let Some(text) = gid {
        let g = parse_gid(&text)?;
        if let Some(grh) = to.grh.as_mut() {
            grh.gid = g;
        }
    }
    if let Some(lid) = lid {
        to.lid = lid;
    }
    let sgid = match sgid {
        Some(text) => parse_gid(&text)?,
        None => p.attributes().gid,
    };
    let req = records::table_request(tid as u64, sgid);
    let start = Instant::now();
    p.send_with_retries(&to, &req, timeout_ms, retries).map_err(|e| e.to_string())?;
    println!("SENT tid={tid:#x} timeout={timeout_ms}ms retries={retries}");
    let limit = Duration::from_millis(timeout_ms as u64 * (retries as u64 + 1) + 2000);
    while let Some(left) = limit.checked_sub(start.elapsed()) {
        let Some(rx) = p.recv(left.min(Duration::from_millis(100))).map_err(|e| e.to_string())? else {
            continue;
        };
        let ms = start.elapsed().as_millis();
        if rx.status != 0 {
            println!("SEND-STATUS tid={:#x} status={} at={ms}ms", tid_of(&rx.mad), errno_name(rx.status));
            return Ok(ExitCode::from(2));
        }
        let is_answer = SaPacket::new_checked(&rx.mad[..])
            .map(|pk| pk.mad_header().method() == Method::GetTableResp)
            .unwrap_or(false);
        if !is_answer || tid_of(&rx.mad) as u32 != tid {
            println!("OTHER {} bytes tid={:#x}", rx.mad.len(), tid_of(&rx.mad));
            continue;
        }
        println!("RECEIVED tid={:#x} len={} at={ms}ms", tid_of(&rx.mad), rx.mad.len());
        return match records::verify_with(&rx.mad, n, seed, tid, order) {
            Ok(v) => {
                println!(
                    "VERIFIED records={n} segments={} len={} rresp_time={} ms={ms}",
                    v.segments, v.len, v.rresp_time
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(why) => {
                println!("MISMATCH {why}");
                Ok(ExitCode::from(1))
            }
        };
    }
    println!("NO-ANSWER after={}ms", start.elapsed().as_millis());
    Ok(ExitCode::from(2))
}
