//! `localsa resolve` for every ordered pair of end ports of a 16-HCA fat tree, through one
//! daemon, against `saquery -p` for the same pair, field by field; then the same again, which
//! must be served from the cache: the daemon's counters show no new SA query, and OpenSM saw
//! none (ibsim's `Verbose 3` dump of every MAD on the fabric, filtered to PathRecord queries
//! from the daemon's client).
//!
//! Half the pairs are asked by LID (`--slid/--dlid`), half by GID (`--sgid/--dgid`), so both
//! forms are compared; the source is given explicitly, so one daemon on one node resolves
//! paths between any two ports.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{assert_same_path, fat_tree, parallel, private_dir, saquery_path, Daemon, Net};
use localsa_testbed::OpenSmOptions;
use serde_json::Value;

#[derive(Debug, Clone)]
struct Port {
    node: String,
    lid: u16,
    gid: String,
}

#[test]
fn every_pair_matches_saquery_and_the_second_round_comes_from_the_cache() {
    let t0 = Instant::now();
    // No periodic sweeps: the capture below should hold our traffic, not OpenSM's SMPs.
    let net = Net::start("all-pairs", &fat_tree(16), OpenSmOptions::sweep(0));
    let fabric = &net.fabric;
    let hcas = fabric.topology().hcas();
    assert!(hcas.len() >= 16);
    let ports: Vec<Port> = parallel(&hcas, 4, |n| {
        let a = fabric.port_addr(n).expect("ibaddr");
        Port { node: n.clone(), lid: a.lid, gid: a.gid.to_string() }
    });
    let pairs: Vec<(usize, usize)> = (0..ports.len())
        .flat_map(|s| (0..ports.len()).filter(move |&d| d != s).map(move |d| (s, d)))
        .collect();
    let by_gid = |(s, d): (usize, usize)| (s + d) % 2 == 1;

    // What the SA says, pair by pair (saquery attached to the source node).
    let t_sa = Instant::now();
    let truth = parallel(&pairs, 4, |&(s, d)| {
        let (a, b) = (&ports[s], &ports[d]);
        if by_gid((s, d)) {
            saquery_path(fabric, &a.node, &["--sgid-to-dgid", &format!("{}-{}", a.gid, b.gid)])
        } else {
            saquery_path(fabric, &a.node, &["--slid", &a.lid.to_string(), "--dlid", &b.lid.to_string()])
        }
    });
    let sa_time = t_sa.elapsed();

    let dir = private_dir("all-pairs");
    let daemon = Daemon::start(fabric, "H0003", &dir, "", &[]);
    let daemon_client = fabric
        .attached()
        .expect("Attached")
        .into_iter()
        .find(|c| c.pid == daemon.process.pid())
        .map(|c| c.client)
        .expect("the daemon is attached to ibsim");

    let resolve = |&(s, d): &(usize, usize)| -> Value {
        let (a, b) = (&ports[s], &ports[d]);
        let args: Vec<String> = if by_gid((s, d)) {
            vec![
                "resolve".into(),
                "--json".into(),
                "--sgid".into(),
                a.gid.clone(),
                "--dgid".into(),
                b.gid.clone(),
            ]
        } else {
            vec![
                "resolve".into(),
                "--json".into(),
                "--slid".into(),
                a.lid.to_string(),
                "--dlid".into(),
                b.lid.to_string(),
            ]
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = daemon.cli(&args);
        assert!(out.status.success(), "resolve {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("resolve --json")
    };

    let queries_before = daemon.stats()["engine"]["sa_queries"].as_u64().unwrap();
    fabric.verbose(3).expect("Verbose 3");
    let mark1 = fabric.log_mark();
    let t1 = Instant::now();
    let first = parallel(&pairs, 4, resolve);
    let round1 = t1.elapsed();
    let mark2 = fabric.log_mark();
    let stats1 = daemon.stats();
    let t2 = Instant::now();
    let second = parallel(&pairs, 4, resolve);
    let round2 = t2.elapsed();
    // Let ibsim finish writing what it routed before reading its log.
    std::thread::sleep(Duration::from_millis(200));
    let stats2 = daemon.stats();
    let mark3 = fabric.log_mark();

    for (i, &(s, d)) in pairs.iter().enumerate() {
        let what = format!(
            "{} -> {} ({})",
            ports[s].node,
            ports[d].node,
            if by_gid((s, d)) { "GIDs" } else { "LIDs" }
        );
        assert_eq!(first[i]["paths"].as_array().map(Vec::len), Some(1), "{what}: {}", first[i]);
        assert_same_path(&first[i]["paths"][0], &truth[i], &what);
        assert_eq!(second[i]["source"], "cache", "{what}: second round not from the cache");
        assert_eq!(second[i]["paths"], first[i]["paths"], "{what}: second round differs");
    }

    // The daemon: one SA query per pair in round 1, none in round 2.
    let q1 = stats1["engine"]["sa_queries"].as_u64().unwrap();
    let q2 = stats2["engine"]["sa_queries"].as_u64().unwrap();
    assert_eq!(q1 - queries_before, pairs.len() as u64, "round 1 SA queries");
    assert_eq!(q2, q1, "round 2 asked the SA");
    let cache2 = stats2["engine"]["cache_answers"].as_u64().unwrap()
        - stats1["engine"]["cache_answers"].as_u64().unwrap();
    assert_eq!(cache2, pairs.len() as u64, "round 2 cache answers");

    // The SA's side, from ibsim's dump of every MAD it routed.
    let log = std::fs::read(fabric.ibsim_log_path()).expect("ibsim log");
    let count = |from: localsa_testbed::LogMark, to: localsa_testbed::LogMark| {
        let text = String::from_utf8_lossy(&log[from.0 as usize..to.0 as usize]);
        localsa_testbed::parse_packet_dumps(&text)
            .iter()
            .filter(|m| m.client == Some(daemon_client) && m.is_path_record_query())
            .count()
    };
    let seen1 = count(mark1, mark2);
    let seen2 = count(mark2, mark3);
    assert_eq!(seen1, pairs.len(), "PathRecord queries OpenSM received from the daemon in round 1");
    assert_eq!(seen2, 0, "PathRecord queries OpenSM received from the daemon in round 2");

    eprintln!(
        "{} ports, {} ordered pairs: saquery {:.2?} ({:.1} ms/pair, 4 at a time); localsa resolve round 1 (SA) {:.2?}, \
         round 2 (cache) {:.2?} ({:.0} CLI resolves/s, 4 at a time); SA queries seen {seen1} then {seen2}; whole test {:.2?}",
        ports.len(),
        pairs.len(),
        sa_time,
        sa_time.as_secs_f64() * 1000.0 / pairs.len() as f64,
        round1,
        round2,
        pairs.len() as f64 / round2.as_secs_f64(),
        t0.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(daemon);
    net.fabric.shutdown().expect("teardown");
}
