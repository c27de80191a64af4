//! SA load at fabric scale: on generated fat trees, six requesting nodes resolve a path to
//! every HCA, and we count the PathRecord queries the SA (OpenSM) receives and the time until
//! every path is resolved, for four arrangements:
//!
//! * `no-cache`: every request goes straight to the SA (a plain umad client per node, this
//!   program re-run under the ibsim shim, `sa_depth`-like window of 16);
//! * `on-demand`: a `localsa daemon` per node, misses to the SA, identical misses coalesced;
//! * `bulk-replica`: one replica daemon (`--serve-sa`) between the SA and the nodes, whose
//!   daemons run `--mode bulk` with the replica as upstream;
//! * `replica-tree`: SA → root replica → two replicas → the nodes (bulk).
//!
//! The SA's count is taken from ibsim's own `Verbose 3` dump of every MAD: PathRecord answers
//! sent by OpenSM's client (each query it receives gets one). It is cross-checked with the
//! counters of the daemons whose upstream is the SA (`engine.sa_queries`) or with what the
//! plain clients sent.
//!
//! `cargo bench -p localsa --bench sa_load -- [--quick] [--out FILE]`; JSON goes to FILE.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use localsa::cli::query::choose_port;
use localsa::umad::UmadPort;
use localsa_core::wire::{request, MadAddress, Method, PathRecordMask, PathRecordRepr, SaPacket, MAD_LEN};
use localsa_testbed::{Fabric, FabricOptions, OpenSmOptions, Process, Topology};
use serde_json::{json, Value};

const LOCALSA: &str = env!("CARGO_BIN_EXE_localsa");
/// Requesting nodes. ibsim takes 10 clients: OpenSM, three replicas of the tree, six nodes.
const NODES: usize = 6;
/// Outstanding queries of a plain SA client, like the daemon's default `sa_depth`.
const WINDOW: usize = 16;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--sa-client") {
        std::process::exit(match sa_client(&args) {
            Ok(v) => {
                println!("{v}");
                0
            }
            Err(e) => {
                eprintln!("sa-client: {e}");
                1
            }
        });
    }
    // `cargo test --all-targets` (scripts/test) runs this without `--bench`: then only a small
    // check of the experiment itself, on a 16-HCA fabric.
    if !args.iter().any(|a| a == "--bench") {
        smoke();
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out = value_of(&args, "--out").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("sa_load.json"));
    let sizes: Vec<usize> = match value_of(&args, "--sizes") {
        Some(s) => s.split(',').filter_map(|x| x.parse().ok()).collect(),
        None if quick => vec![64, 128, 512],
        None => vec![128, 256, 512],
    };
    let repeat: usize =
        value_of(&args, "--repeat").and_then(|s| s.parse().ok()).unwrap_or(if quick { 1 } else { 3 });
    let requesters: usize = 4;
    let modes: Vec<String> = value_of(&args, "--modes")
        .unwrap_or_else(|| "no-cache,on-demand,bulk-replica,replica-tree".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let mut runs = Vec::new();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for &n in &sizes {
        for rep in 0..repeat {
            for mode in &modes {
                runs.push(run_checked(n, mode, requesters, rep));
            }
        }
        // Whatever the number of requesters: on-demand with 1 and 16 per node as well.
        if n == largest && modes.iter().any(|m| m == "on-demand") {
            for r in [1, 16] {
                runs.push(run_checked(n, "on-demand", r, 0));
            }
        }
    }
    let report = json!({ "nodes": NODES, "runs": runs });
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).expect("write report");
    eprintln!("sa_load: wrote {}", out.display());
}

/// On-demand and a replica tree on 16 HCAs: every answer arrives, the SA gets one query per
/// (node, destination) pair in the cold round, and none from the tree once the nodes flushed.
fn smoke() {
    for mode in ["on-demand", "replica-tree"] {
        let v = run(16, mode, 4).unwrap_or_else(|e| panic!("{mode}: {e}"));
        let rounds = v["rounds"].as_array().unwrap();
        for r in rounds {
            assert_eq!(r["answers"], r["expected_answers"], "{mode}: {v}");
        }
        assert_eq!(rounds[0]["sa_path_queries"].as_u64().unwrap() as usize, NODES * 16, "{mode}: {v}");
        let second = rounds[1]["sa_path_queries"].as_u64().unwrap() as usize;
        assert_eq!(second, if mode == "on-demand" { NODES * 16 } else { 0 }, "{mode}: {v}");
        assert_eq!(v["sa_queries_by_counters_both_rounds"], v["sa_path_queries_both_rounds"], "{mode}: {v}");
    }
    eprintln!("sa_load: smoke run passed (the experiment: cargo bench -p localsa --bench sa_load)");
}

fn value_of(args: &[String], key: &str) -> Option<String> {
    args.iter().position(|a| a == key).and_then(|i| args.get(i + 1)).cloned()
}

fn run_checked(hcas: usize, mode: &str, requesters: usize, rep: usize) -> Value {
    let t = Instant::now();
    let v = match run(hcas, mode, requesters) {
        Ok(v) => v,
        Err(e) => json!({ "hcas": hcas, "mode": mode, "requesters": requesters, "error": e }),
    };
    eprintln!(
        "sa_load: {hcas} HCAs {mode} x{requesters} (run {rep}) in {:.1}s: {v}",
        t.elapsed().as_secs_f64()
    );
    v
}

/// A daemon on one node, its sockets in a private directory.
struct Daemon {
    process: Process,
    acm: PathBuf,
    admin: PathBuf,
    upstream_is_sa: bool,
}

fn start_daemon(
    fabric: &Fabric,
    node: &str,
    dir: &Path,
    args: &[String],
    issm: bool,
    upstream_is_sa: bool,
) -> Result<Daemon, String> {
    let d = dir.join(node);
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    let (acm, admin) = (d.join("acm.sock"), d.join("admin.sock"));
    let mut cmd = if issm { fabric.command_issm(node, LOCALSA) } else { fabric.command(node, LOCALSA) };
    cmd.arg("daemon").arg("--acm-socket").arg(&acm).arg("--admin-socket").arg(&admin);
    cmd.args(["--hosts-file", "none", "--pinned-file", "none", "--no-subscribe", "--log-level", "warn"]);
    cmd.args(args);
    let process = fabric.spawn_logged(&format!("localsa-{node}"), cmd).map_err(|e| e.to_string())?;
    Ok(Daemon { process, acm, admin, upstream_is_sa })
}

fn stats(d: &Daemon) -> Result<Value, String> {
    let out = Command::new(LOCALSA)
        .args(["stats", "--json", "--socket"])
        .arg(&d.admin)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn wait_ready(d: &Daemon) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(d).is_err() {
        if !d.process.is_running() {
            return Err(format!("daemon exited: {}", d.process.log().unwrap_or_default()));
        }
        if Instant::now() > deadline {
            return Err("daemon not ready".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The LID of every HCA, from OpenSM's subnet list (`{NAME} LID:XXXX` after each node).
fn hca_lids(fabric: &Fabric, hcas: &[String]) -> Result<BTreeMap<String, u16>, String> {
    let file = fabric.dir().join("opensm-H0001").join("opensm-subnet.lst");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut lids = BTreeMap::new();
        for part in text.split('{').skip(1) {
            if let Some((name, rest)) = part.split_once("} LID:") {
                if let Ok(lid) = u16::from_str_radix(rest.get(..4).unwrap_or(""), 16) {
                    lids.insert(name.to_string(), lid);
                }
            }
        }
        lids.retain(|k, _| hcas.contains(k));
        if lids.len() == hcas.len() {
            return Ok(lids);
        }
        if Instant::now() > deadline {
            return Err(format!("{} of {} HCA LIDs in {}", lids.len(), hcas.len(), file.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(hcas: usize, mode: &str, requesters: usize) -> Result<Value, String> {
    let topo = Topology::fat_tree(hcas).map_err(|e| e.to_string())?;
    let fabric = Fabric::start(&topo, FabricOptions::labelled(&format!("sa-load-{hcas}")))
        .map_err(|e| e.to_string())?;
    let opts = OpenSmOptions { ignore_other_sms: true, sweep_seconds: 0, ..OpenSmOptions::default() };
    let sm = fabric.start_opensm("H0001", opts).map_err(|e| e.to_string())?;
    sm.wait_ready(Duration::from_secs(60)).map_err(|e| e.to_string())?;
    let names = topo.hcas();
    let lids = hca_lids(&fabric, &names)?;
    let dlids: Vec<u16> = lids.values().copied().collect();
    let sm_client = fabric
        .attached()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|c| c.pid == sm.pid())
        .map(|c| c.client)
        .ok_or("OpenSM is not among ibsim's clients")?;
    // Requesting nodes spread over the fabric; replicas on other nodes.
    let step = (names.len() - 1) / (NODES + 3);
    let pick = |i: usize| names[1 + i * step].clone();
    let nodes: Vec<String> = (0..NODES).map(pick).collect();
    let replicas: Vec<String> = (NODES..NODES + 3).map(pick).collect();
    let dir = std::env::temp_dir().join(format!("localsa-sa-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    fabric.verbose(3).map_err(|e| e.to_string())?;
    let mark = fabric.log_mark();
    let mut daemons = Vec::new();
    let s = |x: &str| x.to_string();
    let bulk_leaf = |up: u16| vec![s("--mode"), s("bulk"), s("--upstream-lid"), up.to_string()];
    // Round 1: everything cold. Round 2: the nodes' own caches flushed (a node or job
    // restarting), replicas left as they are.
    let mut rounds: Vec<Round> = Vec::new();
    let result = (|| -> Result<(), String> {
        if mode == "no-cache" {
            for _ in 0..2 {
                let start = fabric.log_mark();
                let t0 = Instant::now();
                let direct = run_sa_clients(&fabric, &nodes, &dlids, requesters)?;
                rounds.push(Round {
                    start,
                    seconds: t0.elapsed().as_secs_f64(),
                    answers: sum(&direct, "answered"),
                    direct,
                });
            }
            return Ok(());
        }
        let mut leaves_up: Vec<u16> = Vec::new();
        match mode {
            "on-demand" => leaves_up.resize(NODES, 0),
            "bulk-replica" => {
                daemons.push(start_daemon(&fabric, &replicas[0], &dir, &[s("--serve-sa")], true, true)?);
                leaves_up.resize(NODES, lids[&replicas[0]]);
            }
            "replica-tree" => {
                let root = lids[&replicas[0]];
                daemons.push(start_daemon(&fabric, &replicas[0], &dir, &[s("--serve-sa")], true, true)?);
                wait_ready(&daemons[0])?;
                for r in &replicas[1..3] {
                    let a = vec![s("--serve-sa"), s("--upstream-lid"), root.to_string()];
                    daemons.push(start_daemon(&fabric, r, &dir, &a, true, false)?);
                }
                leaves_up = (0..NODES).map(|i| lids[&replicas[1 + i % 2]]).collect();
            }
            other => return Err(format!("unknown mode {other}")),
        }
        // Replicas answer before any node asks them: the ibsim shim crashes (in
        // pthread_mutex_lock) when a request reaches a process before it registered its agent.
        for d in &daemons {
            wait_ready(d)?;
        }
        for (node, &up) in nodes.iter().zip(&leaves_up) {
            let a = if up == 0 { Vec::new() } else { bulk_leaf(up) };
            daemons.push(start_daemon(&fabric, node, &dir, &a, false, up == 0)?);
        }
        for d in &daemons {
            wait_ready(d)?;
        }
        let leaves = &daemons[daemons.len() - NODES..];
        let acms: Vec<PathBuf> = leaves.iter().map(|d| d.acm.clone()).collect();
        for round in 0..2 {
            if round == 1 {
                for d in leaves {
                    flush(d)?;
                }
            }
            // Round 1 counts from before the daemons started: their bulk fetches are in it.
            let start = if round == 0 { mark } else { fabric.log_mark() };
            let t0 = Instant::now();
            let answers = resolve_all(&acms, requesters, &dlids)?;
            rounds.push(Round { start, seconds: t0.elapsed().as_secs_f64(), answers, direct: Vec::new() });
        }
        Ok(())
    })();
    let daemon_stats: Vec<Value> = daemons.iter().map(|d| stats(d).unwrap_or(Value::Null)).collect();
    let to_sa: Vec<bool> = daemons.iter().map(|d| d.upstream_is_sa).collect();
    // Let the last answers reach ibsim's log, then read the dumps.
    std::thread::sleep(Duration::from_millis(300));
    let mut per_round = Vec::new();
    for (i, r) in rounds.iter().enumerate() {
        let mut mads = fabric.captured_mads_since(r.start).map_err(|e| e.to_string())?;
        if let Some(next) = rounds.get(i + 1) {
            let later = fabric.captured_mads_since(next.start).map_err(|e| e.to_string())?;
            mads.truncate(mads.len().saturating_sub(later.len()));
        }
        let from_sa = |m: &&localsa_testbed::CapturedMad| {
            m.client == Some(sm_client) && m.mgmt_class() == 0x03 && m.attr_id() == 0x0035 && m.is_response()
        };
        per_round.push(json!({
            "seconds": r.seconds,
            "answers": r.answers,
            "expected_answers": NODES * requesters * dlids.len(),
            "sa_path_queries": mads.iter().filter(from_sa).count(),
            "sa_gettable_queries": mads.iter().filter(from_sa).filter(|m| m.method() == 0x92).count(),
            "path_record_requests_on_fabric": mads.iter().filter(|m| m.is_path_record_query()).count(),
            "direct_clients": r.direct,
            "direct_sent": sum(&r.direct, "sent"),
        }));
    }
    drop(daemons);
    let _ = fabric.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    // The daemons' counters cover both rounds.
    let counters_to_sa: u64 = if mode == "no-cache" {
        per_round.iter().map(|r| r["direct_sent"].as_u64().unwrap_or(0)).sum()
    } else {
        daemon_stats
            .iter()
            .zip(&to_sa)
            .filter(|(_, to_sa)| **to_sa)
            .map(|(v, _)| v["engine"]["sa_queries"].as_u64().unwrap_or(0))
            .sum()
    };
    let sa_total: u64 = per_round.iter().map(|r| r["sa_path_queries"].as_u64().unwrap_or(0)).sum();
    Ok(json!({
        "hcas": hcas,
        "mode": mode,
        "requesters": requesters,
        "nodes": NODES,
        "destinations": dlids.len(),
        "rounds": per_round,
        "sa_path_queries_both_rounds": sa_total,
        "sa_queries_by_counters_both_rounds": counters_to_sa,
        "daemons": daemon_stats.iter().map(|v| json!({
            "sa_queries": v["engine"]["sa_queries"],
            "served": v["engine"]["served"],
            "coalesced": v["engine"]["coalesced"],
            "cache_answers": v["engine"]["cache_answers"],
            "bulk_fetches": v["engine"]["bulk_fetches"],
            "possibly_cut": v["engine"]["possibly_cut"],
            "retries": v["engine"]["retries"],
            "timeouts": v["engine"]["timeouts"],
            "busy": v["engine"]["busy"],
            "overloaded": v["engine"]["overloaded"],
        })).collect::<Vec<_>>(),
    }))
}

/// One round of resolving every destination from every node.
struct Round {
    start: localsa_testbed::LogMark,
    seconds: f64,
    answers: u64,
    direct: Vec<Value>,
}

fn sum(v: &[Value], key: &str) -> u64 {
    v.iter().map(|x| x[key].as_u64().unwrap_or(0)).sum()
}

fn flush(d: &Daemon) -> Result<(), String> {
    let out = Command::new(LOCALSA)
        .args(["flush", "--socket"])
        .arg(&d.admin)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("flush: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The plain SA clients, one per node, at once; their JSON reports.
fn run_sa_clients(
    fabric: &Fabric,
    nodes: &[String],
    dlids: &[u16],
    requesters: usize,
) -> Result<Vec<Value>, String> {
    let list = dlids.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = nodes
        .iter()
        .map(|node| {
            let mut cmd = fabric.command(node, &exe);
            cmd.args(["--sa-client", "--dlids", &list, "--repeat", &requesters.to_string()]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
            cmd.spawn().map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    let mut failure = None;
    for c in children {
        match c.wait_with_output() {
            Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
                Ok(v) => out.push(v),
                Err(e) => failure = Some(e.to_string()),
            },
            Ok(o) => failure = Some(format!("sa client: {}", String::from_utf8_lossy(&o.stderr))),
            Err(e) => failure = Some(e.to_string()),
        }
    }
    failure.map_or(Ok(out), Err)
}

/// `requesters` connections to each ACM socket, each resolving every DLID (all written at
/// once by a writer thread, answers read as they come). Returns the answers with status 0.
fn resolve_all(acms: &[PathBuf], requesters: usize, dlids: &[u16]) -> Result<u64, String> {
    let mut threads = Vec::new();
    for acm in acms {
        for r in 0..requesters {
            let (acm, dlids) = (acm.clone(), dlids.to_vec());
            threads.push(std::thread::spawn(move || -> Result<u64, String> {
                let s = UnixStream::connect(&acm).map_err(|e| format!("{}: {e}", acm.display()))?;
                s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
                let mut w = s.try_clone().map_err(|e| e.to_string())?;
                let n = dlids.len();
                let writer = std::thread::spawn(move || -> std::io::Result<()> {
                    for (i, &dlid) in dlids.iter().enumerate() {
                        w.write_all(&resolve_message((r * n + i) as u64, dlid))?;
                    }
                    Ok(())
                });
                let mut rd = s;
                let mut ok = 0;
                for _ in 0..n {
                    let mut h = [0u8; 16];
                    rd.read_exact(&mut h).map_err(|e| format!("read: {e}"))?;
                    let len = usize::from(u16::from_ne_bytes([h[6], h[7]])).max(16);
                    let mut body = vec![0u8; len - 16];
                    rd.read_exact(&mut body).map_err(|e| format!("read: {e}"))?;
                    if h[2] == 0 {
                        ok += 1;
                    }
                }
                writer.join().map_err(|_| "writer panicked")?.map_err(|e| e.to_string())?;
                Ok(ok)
            }));
        }
    }
    let mut ok = 0;
    for t in threads {
        ok += t.join().map_err(|_| "requester panicked".to_string())??;
    }
    Ok(ok)
}

/// An ACM path-form resolve of `dlid` from the daemon's own port (host order, as libacm).
fn resolve_message(tid: u64, dlid: u16) -> Vec<u8> {
    let mut m = vec![1, 0x01, 0, 0, 0, 0];
    m.extend_from_slice(&88u16.to_ne_bytes());
    m.extend_from_slice(&tid.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0x10u16.to_ne_bytes());
    m.extend_from_slice(&[0, 0]);
    let mut path = [0u8; 64];
    path[40..42].copy_from_slice(&dlid.to_be_bytes());
    path[49] = 0x81;
    m.extend_from_slice(&path);
    m
}

/// The plain SA client (run under the shim on a node): every DLID `--repeat` times, one
/// PathRecord Get each, `WINDOW` outstanding, 1 s timeout, 3 attempts. Prints JSON.
fn sa_client(args: &[String]) -> Result<Value, String> {
    let dlids: Vec<u16> =
        value_of(args, "--dlids").unwrap_or_default().split(',').filter_map(|x| x.parse().ok()).collect();
    let repeat: usize = value_of(args, "--repeat").and_then(|s| s.parse().ok()).unwrap_or(1);
    let attrs = choose_port(None).map_err(|e| e.to_string())?;
    let sa = MadAddress::gsi(attrs.sm_lid, attrs.sm_sl);
    let slid = attrs.lid;
    let port = UmadPort::open(attrs, &[], false).map_err(|e| e.to_string())?;
    let jobs: Vec<u16> = (0..repeat).flat_map(|_| dlids.iter().copied()).collect();
    let base = (u64::from(std::process::id()) << 20) & 0xffff_ffff;
    let mut next = 0usize;
    // Outstanding: tid -> (job, attempts, deadline).
    let mut inflight: BTreeMap<u64, (usize, u32, Instant)> = BTreeMap::new();
    let (mut sent, mut answered, mut failed, mut tid_seq) = (0u64, 0u64, 0u64, 0u64);
    let mut buf = [0u8; MAD_LEN];
    let send = |job: usize, tid: u64, buf: &mut [u8; MAD_LEN]| -> Result<(), String> {
        let template =
            PathRecordRepr { dlid: jobs[job], slid, numb_path: 1, reversible: true, ..Default::default() };
        let mask = PathRecordMask::NUMB_PATH
            | PathRecordMask::REVERSIBLE
            | PathRecordMask::DLID
            | PathRecordMask::SLID;
        let len =
            request::path_record_query(buf, tid, Method::Get, &template, mask).map_err(|e| e.to_string())?;
        port.send(&sa, &buf[..len], 1000).map_err(|e| e.to_string())
    };
    while next < jobs.len() || !inflight.is_empty() {
        while inflight.len() < WINDOW && next < jobs.len() {
            let tid = (base + tid_seq) & 0xffff_ffff;
            tid_seq += 1;
            send(next, tid, &mut buf)?;
            sent += 1;
            inflight.insert(tid, (next, 1, Instant::now() + Duration::from_secs(1)));
            next += 1;
        }
        if let Some(rx) = port.recv(Duration::from_millis(50)).map_err(|e| e.to_string())? {
            if rx.status == 0 {
                if let Ok(p) = SaPacket::new_checked(&rx.mad[..]) {
                    let h = p.mad_header();
                    if h.method().is_response()
                        && inflight.remove(&(h.transaction_id.get() & 0xffff_ffff)).is_some()
                    {
                        answered += 1;
                    }
                }
            }
        }
        let now = Instant::now();
        let late: Vec<u64> = inflight.iter().filter(|(_, v)| v.2 <= now).map(|(k, _)| *k).collect();
        for tid in late {
            let Some((job, attempts, _)) = inflight.remove(&tid) else { continue };
            if attempts >= 3 {
                failed += 1;
                continue;
            }
            let t = (base + tid_seq) & 0xffff_ffff;
            tid_seq += 1;
            send(job, t, &mut buf)?;
            sent += 1;
            inflight.insert(t, (job, attempts + 1, now + Duration::from_secs(1)));
        }
    }
    // Linger: the shim may lose what a process sends just before it detaches.
    std::thread::sleep(Duration::from_millis(50));
    Ok(json!({ "requests": jobs.len(), "sent": sent, "answered": answered, "failed": failed }))
}
