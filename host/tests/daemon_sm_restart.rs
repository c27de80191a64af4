//! The subnet manager goes away and comes back: OpenSM is killed (SIGKILL, a crash) and a new
//! one started. Two daemons watch the same fabric, one with `sm_change = "revalidate"`, one
//! with `"flush"`. Each notices the SA stop answering its heartbeat (ClassPortInfo) and come
//! back, counts an SM change, subscribes again (the new OpenSM accepts), and keeps answering:
//! cached paths while the SA is gone, then stale paths refreshed behind the client's back
//! (revalidate) or fresh SA answers (flush).
//!
//! The SM is restarted on the same node: moving it to another node changes the SM LID, which
//! a daemon learns from sysfs (`sm_lid`), and the ibsim shim's sysfs is a snapshot taken when
//! the process starts (seen here: `sm_lid` stays 0x1 in the daemon's `sys-PID` after a new SM
//! at LID 3 took over), so on this fabric the move is invisible. The engine's handling of an
//! SM LID change is proven in-process (`sm_change_resubscribes_and_revalidates` in `core/src/engine/tests.rs`).

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{private_dir, wait_event, Daemon, Net};
use localsa_testbed::{OpenSmOptions, Topology};
use serde_json::Value;

/// A one-second heartbeat, ClassPortInfo given up after 100 + 200 ms: the SA's absence shows
/// within about 1.5 s.
const FAST: &str = "[sa]\nheartbeat = \"1s\"\ntimeout = \"100ms\"\nmax_retries = 1\n";

fn ok_from(v: &Value, source: &str, what: &str) {
    assert_eq!((v["ok"].as_bool(), v["source"].as_str()), (Some(true), Some(source)), "{what}: {v}");
}

#[test]
fn sm_killed_and_restarted_daemons_resubscribe_and_keep_answering() {
    let t0 = Instant::now();
    let net = Net::start("sm-restart", &Topology::star(5).unwrap(), OpenSmOptions::sweep(1));
    let fabric = &net.fabric;
    let (dir_r, dir_f) = (private_dir("smr-reval"), private_dir("smr-flush"));
    let reval = Daemon::start(fabric, "H0003", &dir_r, &format!("{FAST}sm_change = \"revalidate\"\n"), &[]);
    let flush = Daemon::start(fabric, "H0004", &dir_f, &format!("{FAST}sm_change = \"flush\"\n"), &[]);
    let dest = fabric.port_addr("H0005").unwrap();
    let q = format!(r#""dgid":"{}""#, dest.gid);
    for d in [&reval, &flush] {
        d.wait_engine("subscribed", Duration::from_secs(10), |e| e["subscriptions_sent"].as_u64() >= Some(4));
        ok_from(&d.resolve(&q), "sa", "first resolve");
        ok_from(&d.resolve(&q), "cache", "second resolve");
        assert_eq!(d.counter("sm_changes"), 0);
    }
    let (mut ev_r, mut ev_f) = (reval.events(), flush.events());
    let before: Vec<Value> = [&reval, &flush].iter().map(|d| d.engine()).collect();

    // The SM crashes. Both daemons see the SA go quiet and keep answering from the cache.
    let t_kill = Instant::now();
    net.sm.kill().unwrap();
    for ev in [&mut ev_r, &mut ev_f] {
        wait_event(ev, "SA unreachable", Duration::from_secs(10), |e| {
            e["event"] == "sa_reachable" && e["reachable"] == false
        });
    }
    eprintln!("SA unreachable seen after {:.2?}", t_kill.elapsed());
    for d in [&reval, &flush] {
        ok_from(&d.resolve(&q), "cache", "while the SM is down");
    }

    // A new OpenSM on the same node (same LIDs, from its cache).
    let sm2 = fabric.start_opensm("H0001", OpenSmOptions::sweep(1)).unwrap();
    sm2.wait_ready(Duration::from_secs(20)).unwrap();
    let t_up = Instant::now();
    for (ev, d) in [(&mut ev_r, &reval), (&mut ev_f, &flush)] {
        let e = wait_event(ev, "SM change", Duration::from_secs(10), |e| e["event"] == "sm_changed");
        assert_eq!(e["entries"].as_u64(), Some(1), "the cached path: {e}");
        wait_event(ev, "subscriptions accepted", Duration::from_secs(10), |e| {
            e["event"] == "subscribed" && e["accepted"] == true
        });
        assert_eq!(d.counter("sm_changes"), 1, "{}", d.log());
    }
    eprintln!("SM change and re-subscription seen {:.2?} after the new SM was up", t_up.elapsed());
    for (d, b) in [(&reval, &before[0]), (&flush, &before[1])] {
        let e = d.wait_engine("re-subscribed", Duration::from_secs(5), |e| {
            e["subscriptions_sent"].as_u64() >= b["subscriptions_sent"].as_u64().map(|n| n + 4)
        });
        assert!(e["class_port_info_queries"].as_u64() > b["class_port_info_queries"].as_u64(), "{e}");
    }

    // Revalidate: the entry is kept, marked stale, served, and refreshed from the new SA.
    let entries = reval.dump();
    assert!(entries.iter().any(|e| e["kind"] == "path" && e["stale"] == true), "{entries:?}");
    let sa_before = reval.counter("sa_queries");
    ok_from(&reval.resolve(&q), "cache", "stale path served");
    reval.wait_engine("refreshed", Duration::from_secs(5), |e| {
        e["stale_answers"].as_u64() == Some(1) && e["sa_queries"].as_u64() == Some(sa_before + 1)
    });
    reval.wait_engine("refresh answered", Duration::from_secs(5), |e| e["outstanding"] == 0);
    let entries = reval.dump();
    assert!(entries.iter().all(|e| e["stale"] == false), "refreshed: {entries:?}");
    ok_from(&reval.resolve(&q), "cache", "fresh again");

    // Flush: the entry is gone; the next resolve asks the new SA.
    let entries = flush.dump();
    assert!(entries.iter().all(|e| e["kind"] != "path"), "{entries:?}");
    ok_from(&flush.resolve(&q), "sa", "after the flush");
    ok_from(&flush.resolve(&q), "cache", "cached again");
    assert_eq!(flush.counter("stale_answers"), 0);

    for d in [&reval, &flush] {
        let e = d.engine();
        assert_eq!((e["timeouts"].as_u64(), e["outstanding"].as_u64()), (Some(0), Some(0)), "{e}");
        d.stop();
    }
    eprintln!("sm restart test: {:.2?}", t0.elapsed());
    let _ = std::fs::remove_dir_all(&dir_r);
    let _ = std::fs::remove_dir_all(&dir_f);
    net.fabric.shutdown().expect("teardown");
}
