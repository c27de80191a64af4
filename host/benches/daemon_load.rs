//! Daemon load test: `localsa daemon` on a 16-HCA fabric (OpenSM on ibsim), loaded through its
//! ACM socket by `localsa bench` (1 to 1000 closed-loop clients resolving cached paths, each
//! configuration also run against an echo server answering with the daemon's own bytes), and
//! `ib_acme -C 100000`, rdma-core's client, timed against the daemon and against that echo
//! server.
//!
//! `cargo bench -p localsa --bench daemon_load -- [--quick] [--out FILE]`; JSON goes to FILE.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use localsa::cli::bench::{median, EchoServer};
use localsa_testbed::{Fabric, FabricOptions, OpenSmOptions, Topology};
use serde_json::{json, Value};

const LOCALSA: &str = env!("CARGO_BIN_EXE_localsa");

fn value_of(args: &[String], key: &str) -> Option<String> {
    args.iter().position(|a| a == key).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs this without `--bench`; the load generator has its own
    // smoke test (tests/daemon_bench.rs).
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("daemon_load: nothing to do outside `cargo bench`");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out =
        value_of(&args, "--out").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("daemon_load.json"));
    match run(quick) {
        Ok(v) => {
            std::fs::write(&out, serde_json::to_string_pretty(&v).unwrap()).expect("write report");
            eprintln!("daemon_load: wrote {}", out.display());
        }
        Err(e) => {
            eprintln!("daemon_load: {e}");
            std::process::exit(1);
        }
    }
}

fn stats(admin: &Path) -> Result<Value, String> {
    let out = Command::new(LOCALSA)
        .args(["stats", "--json", "--socket"])
        .arg(admin)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Runs `ib_acme -S socket -f l -s slid -d dlid -C count`; seconds, after checking it
/// succeeded and printed a path.
fn ib_acme(socket: &Path, slid: u16, dlid: u16, count: u32) -> Result<f64, String> {
    let t = Instant::now();
    let out = Command::new("ib_acme")
        .arg("-S")
        .arg(socket)
        .args(["-f", "l", "-s", &slid.to_string(), "-d", &dlid.to_string(), "-C", &count.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ib_acme: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success()
        || !text.contains(&format!("dlid: {dlid}"))
        || !text.contains("return status 0x0")
    {
        return Err(format!(
            "ib_acme failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(secs)
}

fn run(quick: bool) -> Result<Value, String> {
    let (repeat, seconds, acme_count, acme_repeat) =
        if quick { (1, 0.5, 20_000, 1) } else { (5, 2.0, 100_000, 3) };
    let topo = Topology::fat_tree(16).map_err(|e| e.to_string())?;
    let fabric = Fabric::start(&topo, FabricOptions::labelled("daemon-load")).map_err(|e| e.to_string())?;
    let sm = fabric.start_opensm("H0001", OpenSmOptions::default()).map_err(|e| e.to_string())?;
    sm.wait_ready(Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let slid = fabric.lid("H0002").map_err(|e| e.to_string())?;
    let dlids: Vec<u16> = ["H0003", "H0008", "H0012", "H0016"]
        .iter()
        .map(|n| fabric.lid(n))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("localsa-daemon-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (acm, admin) = (dir.join("acm.sock"), dir.join("admin.sock"));
    let mut cmd = fabric.command("H0002", LOCALSA);
    cmd.arg("daemon").arg("--acm-socket").arg(&acm).arg("--admin-socket").arg(&admin);
    cmd.args(["--hosts-file", "none", "--pinned-file", "none", "--log-level", "warn"]);
    let daemon = fabric.spawn_logged("localsa", cmd).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(&admin).is_err() {
        if !daemon.is_running() || Instant::now() > deadline {
            return Err(format!("daemon not ready: {}", daemon.log().unwrap_or_default()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let list = dlids.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let before = stats(&admin)?;
    let out = Command::new(LOCALSA)
        .args(["bench", "--json", "--echo", "--acm-socket"])
        .arg(&acm)
        .args(["--dlid", &list, "--clients", "1,16,256,1000"])
        .args(["--seconds", &seconds.to_string(), "--repeat", &repeat.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("localsa bench: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let bench: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let after_bench = stats(&admin)?;
    // ib_acme, alternately against the daemon and the echo server.
    let answer =
        localsa::cli::hex::parse(bench["answer_hex"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
    let echo = EchoServer::start(Path::new(LOCALSA), &answer).map_err(|e| e.to_string())?;
    let (mut to_daemon, mut to_echo) = (Vec::new(), Vec::new());
    for _ in 0..acme_repeat {
        to_daemon.push(ib_acme(&acm, slid, dlids[0], acme_count)?);
        to_echo.push(ib_acme(&echo.path, slid, dlids[0], acme_count)?);
    }
    drop(echo);
    let after = stats(&admin)?;
    let counter = |v: &Value, s: &str, k: &str| v[s][k].as_u64().unwrap_or(0);
    let delta = |s: &str, k: &str, a: &Value, b: &Value| counter(b, s, k).saturating_sub(counter(a, s, k));
    let report = json!({
        "fabric": "fat_tree(16), OpenSM on H0001, daemon on H0002",
        "bench": bench,
        "daemon_during_bench": {
            "resolves": delta("engine", "resolves", &before, &after_bench),
            "cache_answers": delta("engine", "cache_answers", &before, &after_bench),
            "sa_queries": delta("engine", "sa_queries", &before, &after_bench),
        },
        "ib_acme": {
            "count": acme_count,
            "daemon_seconds": to_daemon,
            "echo_seconds": to_echo,
            "daemon_median": median(to_daemon.clone()),
            "echo_median": median(to_echo.clone()),
            "daemon_resolves_counted": delta("acm", "resolve_count", &after_bench, &after),
        },
    });
    drop(daemon);
    let _ = fabric.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}
