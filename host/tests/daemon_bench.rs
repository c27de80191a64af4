//! A short smoke run of the load generator (`localsa bench`, what `scripts/bench` measures the
//! daemon with): a few clients against a daemon on a 16-HCA fabric and against the echo
//! baseline. Every answer the load saw must come from the daemon's cache, with status 0; the
//! report must carry both targets and their ratio. Without a daemon it fails as a client does.

mod daemon_support;

use std::process::Command;

use daemon_support::{fat_tree, private_dir, Daemon, Net, LOCALSA};
use localsa_testbed::OpenSmOptions;
use serde_json::Value;

#[test]
fn bench_loads_the_daemon_and_the_echo_baseline() {
    let net = Net::start("bench", &fat_tree(16), OpenSmOptions::default());
    let fabric = &net.fabric;
    let dir = private_dir("bench");
    let d = Daemon::start(fabric, "H0002", &dir, "", &[]);
    let dlids = format!("{},{}", fabric.lid("H0003").unwrap(), fabric.lid("H0016").unwrap());
    let before = d.stats();
    let out = Command::new(LOCALSA)
        .args(["bench", "--json", "--echo", "--clients", "1,8", "--seconds", "0.3", "--warmup", "0.1"])
        .args(["--dlid", &dlids, "--acm-socket"])
        .arg(&d.acm)
        .output()
        .unwrap();
    assert!(out.status.success(), "bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let after = d.stats();
    let summary = report["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 2);
    let mut measured = 0;
    for s in summary {
        for target in ["daemon", "echo"] {
            let t = &s[target];
            assert!(t["per_second"].as_f64().unwrap() > 0.0, "{target} answered nothing: {s}");
            assert_eq!(t["errors"], 0, "{target} answered with errors: {s}");
            assert!(t["p50_us"].as_f64().unwrap() <= t["p99_us"].as_f64().unwrap());
        }
        assert!(s["ratio"].as_f64().unwrap() > 0.0);
    }
    for r in report["runs"].as_array().unwrap() {
        if r["target"] == "daemon" {
            measured += r["result"]["completed"].as_u64().unwrap();
        }
    }
    // Two SA queries (the priming misses), everything else from the cache.
    let counter = |v: &Value, k: &str| v["engine"][k].as_u64().unwrap();
    assert_eq!(counter(&after, "sa_queries") - counter(&before, "sa_queries"), 2);
    assert!(counter(&after, "cache_answers") - counter(&before, "cache_answers") >= measured);
    assert_eq!(report["message_bytes"]["answer"], 88);

    // No daemon: the status of an unreachable daemon (69).
    let out = Command::new(LOCALSA)
        .args(["bench", "--clients", "1", "--seconds", "0.1", "--dlid", "3", "--acm-socket"])
        .arg(dir.join("nothing.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", String::from_utf8_lossy(&out.stderr));
    drop(d);
    net.fabric.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
