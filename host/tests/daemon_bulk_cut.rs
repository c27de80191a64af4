//! Bulk ("all") mode where the answer can be cut. OpenSM on the simulated fabric answers a
//! GetTable with one non-RMPP MAD holding only the records that fit (three slots, the third
//! damaged by the 224-byte receive cut). A daemon in bulk mode must see that this answer may be
//! cut, say so in its log and counters (`possibly_cut`), keep only records that agree with its
//! query, and resolve every other destination with its own query: never take the answer as
//! the whole table. Both directly against OpenSM and through a replica that has nothing
//! cached and proxies the GetTable to OpenSM (the replica must pass the answer on as possibly
//! cut, not as a complete RMPP table).

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{private_dir, Daemon, Net};
use localsa_testbed::{OpenSmOptions, Topology};
use serde_json::Value;

const BULK: &str = "[sa]\nmode = \"bulk\"\ntimeout = \"200ms\"\n";

/// Waits for the first bulk fetch; checks it was reported as possibly cut, in the log and the
/// counters, and that the table holds only real paths from it. Returns the DLIDs it holds.
fn cut_fetch(d: &Daemon, what: &str) -> Vec<u64> {
    let e = d.wait_engine("bulk fetch", Duration::from_secs(20), |e| e["bulk_fetches"].as_u64() >= Some(1));
    assert_eq!(e["possibly_cut"].as_u64(), Some(1), "{what}: {e}");
    let log = d.log();
    let line = log.lines().find(|l| l.contains("bulk fetch done")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("complete=false") && line.contains("may be cut"), "{what}: {line}");
    let entries = d.dump();
    assert!(entries.iter().all(|e| e["kind"] == "path"), "{what}: no negative entries: {entries:?}");
    let dlids: Vec<u64> = entries.iter().map(|e| e["path"]["dlid"].as_u64().unwrap()).collect();
    assert!(!dlids.is_empty() && dlids.len() <= 3, "{what}: the records that fit one MAD: {dlids:?}");
    dlids
}

/// Resolves every LID but `own`: each answered, the ones the bulk fetch brought from the cache,
/// the others with a query of their own. Returns how many went upstream.
fn resolve_all(d: &Daemon, lids: &[u16], own: u16, cached: &[u64], what: &str) -> u64 {
    let before = d.counter("sa_queries");
    for lid in lids.iter().filter(|l| **l != own) {
        let v: Value = d.resolve(&format!(r#""dlid":{lid}"#));
        assert_eq!(v["ok"], true, "{what}: LID {lid}: {v}");
        assert_eq!(v["paths"][0]["dlid"].as_u64(), Some(*lid as u64), "{what}: {v}");
        let want = if cached.contains(&(*lid as u64)) { "cache" } else { "sa" };
        assert_eq!(v["source"].as_str(), Some(want), "{what}: LID {lid}: {v}");
    }
    let asked = d.counter("sa_queries") - before;
    let expected = (lids.len() - 1 - cached.iter().filter(|l| **l != own as u64).count()) as u64;
    assert_eq!(asked, expected, "{what}: one query per destination the cut answer lacked");
    asked
}

#[test]
fn a_possibly_cut_table_answer_is_reported_and_misses_resolve_per_destination() {
    let t0 = Instant::now();
    let topo = Topology::star(8).unwrap();
    let opts = OpenSmOptions { ignore_other_sms: true, sweep_seconds: 10, ..OpenSmOptions::default() };
    let net = Net::start("bulk-cut", &topo, opts);
    let fabric = &net.fabric;
    let lids: Vec<u16> = (1..=topo.nodes().len() as u16).collect();

    // Directly against OpenSM.
    let dir = private_dir("bulk-cut-sa");
    let d = Daemon::start(fabric, "H0003", &dir, BULK, &[]);
    let own = fabric.lid("H0003").unwrap();
    let cached = cut_fetch(&d, "against OpenSM");
    let asked = resolve_all(&d, &lids, own, &cached, "against OpenSM");
    eprintln!(
        "against OpenSM: the cut answer gave {} paths ({} records dropped as inconsistent), {asked} resolved per destination",
        cached.len(),
        d.counter("records_inconsistent")
    );
    d.stop();

    // Through a replica with an empty table.
    let (dir_r, dir_l) = (private_dir("bulk-cut-replica"), private_dir("bulk-cut-leaf"));
    let replica =
        Daemon::start_issm(fabric, "H0002", &dir_r, "[sa]\nserve_sa = true\ntimeout = \"200ms\"\n", &[]);
    let rlid = fabric.lid("H0002").unwrap();
    let leaf = Daemon::start(fabric, "H0004", &dir_l, &format!("{BULK}upstream_lid = {rlid}\n"), &[]);
    let own = fabric.lid("H0004").unwrap();
    let cached = cut_fetch(&leaf, "through the replica");
    let re = replica.engine();
    assert_eq!(re["possibly_cut"].as_u64(), Some(1), "the replica saw OpenSM's answer may be cut: {re}");
    assert_eq!(re["rmpp_in_flight"].as_u64(), Some(0), "{re}");
    let asked = resolve_all(&leaf, &lids, own, &cached, "through the replica");
    eprintln!("through the replica: {} paths from the relayed answer, {asked} per destination", cached.len());
    leaf.stop();
    replica.stop();
    eprintln!("bulk cut test: {:.2?}", t0.elapsed());
    for dir in [dir, dir_r, dir_l] {
        let _ = std::fs::remove_dir_all(dir);
    }
    net.fabric.shutdown().expect("teardown");
}
