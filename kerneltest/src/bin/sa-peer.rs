//! `sa-peer`: an SA-class agent whose RMPP the kernel does (`rmpp_version` 1, no
//! `USER_RMPP`), the reference peer of the kernel tests.
//!
//! * `respond --records N`: answers every GetTable(PathRecord) with `N` records of `--seed`;
//!   the kernel segments the answer and runs the RMPP sender (2 s ACK timeout, `--retries`).
//!   A Get(PathRecord) gets a plain GetResp with record 0.
//!   Runs until its stdin closes (or `--max-ms`), then prints `EXIT`.
//! * `request --records-expected N`: sends one GetTable to `--gid` (default: the port's own)
//!   and checks the answer the kernel reassembled, byte for byte. Exit status 0 when it
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
use localsa_core::wire::{Gid, Method, SaPacket};
use localsa_kerneltest::records::{self, as_table_request, kernel_rmpp_answer};
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Respond { records, seed, retries, max_ms } => respond(cli.umad, records, seed, retries, max_ms),
        Mode::Request { records_expected, seed, gid, lid, timeout_ms, retries, tid } => {
            request(cli.umad, records_expected, seed, gid, lid, timeout_ms, retries, tid)
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

fn respond(umad: Option<u32>, n: usize, seed: u32, retries: u32, max_ms: u64) -> Result<ExitCode, String> {
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
        if let Some(req) = records::as_get_request(&rx.mad) {
            let answer = records::get_answer(&req, seed);
            match p.send(&rx.from, &answer, 0) {
                Ok(()) => println!("ANSWERED-GET tid={:#x} at={at}ms", req.header.transaction_id),
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
        let answer = kernel_rmpp_answer(&req, n, seed);
        match p.send_with_retries(&rx.from, &answer, 0, retries) {
            Ok(()) => {
                answered += 1;
                println!(
                    "ANSWERED tid={:#x} records={n} bytes={} retries={retries} at={at}ms",
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

#[allow(clippy::too_many_arguments)]
fn request(
    umad: Option<u32>,
    n: usize,
    seed: u32,
    gid: Option<String>,
    lid: Option<u16>,
    timeout_ms: u32,
    retries: u32,
    tid: u32,
) -> Result<ExitCode, String> {
    let p = open(umad, &[])?;
    let mut to = loopback(p.attributes());
    if let Some(text) = gid {
        let g = Gid::parse(&text).ok_or_else(|| format!("not a GID: {text}"))?;
        if let Some(grh) = to.grh.as_mut() {
            grh.gid = g;
        }
    }
    if let Some(lid) = lid {
        to.lid = lid;
    }
    let req = records::table_request(tid as u64, p.attributes().gid);
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
        return match records::verify(&rx.mad, n, seed, tid) {
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
