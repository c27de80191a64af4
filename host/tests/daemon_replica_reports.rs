//! Coherence through a replica: a leaf whose upstream is a replica subscribes to traps at the
//! replica (never at OpenSM); when a port goes down, OpenSM's Report reaches the replica,
//! which answers it and relays it to the leaf, which answers it too and drops its entries for
//! that GID; OpenSM logs the replica's ReportResps and receives subscriptions from the
//! replica only. Both daemons attach with `SIM_SET_ISSM=1`: ibsim delivers a Report (a request)
//! only to such a client.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{dumped_dgids, private_dir, wait_event, Daemon, Net};
use localsa_testbed::{Topology, ATTR_INFORM_INFO};

#[test]
fn a_report_relayed_by_the_replica_invalidates_the_leaf() {
    let t0 = Instant::now();
    let opts = daemon_support::opensm_for_reports();
    let net = Net::start("replica-reports", &Topology::star(6).unwrap(), opts);
    let fabric = &net.fabric;
    let mark = fabric.log_mark();
    fabric.verbose(2).unwrap();
    let (dir_r, dir_l) = (private_dir("rr-replica"), private_dir("rr-leaf"));
    let replica = Daemon::start_issm(fabric, "H0002", &dir_r, "[sa]\nserve_sa = true\n", &[]);
    let rlid = fabric.lid("H0002").unwrap();
    let leaf = Daemon::start_issm(fabric, "H0003", &dir_l, &format!("[sa]\nupstream_lid = {rlid}\n"), &[]);
    let mut events = leaf.events();
    for d in [&replica, &leaf] {
        d.wait_engine("subscribed", Duration::from_secs(10), |e| e["subscriptions_sent"].as_u64() >= Some(4));
    }
    let target = fabric.port_addr("H0005").unwrap();
    let gid = target.gid.to_string();
    let v = leaf.resolve(&format!(r#""dgid":"{gid}""#));
    assert_eq!(v["ok"], true, "{v}");
    assert!(dumped_dgids(&leaf.dump()).contains(&gid));

    fabric.unlink("H0005").unwrap();
    let e = wait_event(&mut events, "relayed trap 65", Duration::from_secs(20), |e| {
        e["event"] == "invalidated" && e["trap"] == 65
    });
    assert_eq!((e["gid"].as_str(), e["entries"].as_u64()), (Some(gid.as_str()), Some(1)), "{e}");
    assert!(!dumped_dgids(&leaf.dump()).contains(&gid));
    let v = leaf.resolve(&format!(r#""dgid":"{gid}","cache_only":true"#));
    assert!(v["ok"] != true, "{v}");
    for (name, d) in [("replica", &replica), ("leaf", &leaf)] {
        let e = d.engine();
        assert!(e["reports"].as_u64() >= Some(1) && e["reports"] == e["report_resps"], "{name}: {e}");
    }
    fabric.relink("H0005").unwrap();
    wait_event(&mut events, "relayed trap 64", Duration::from_secs(20), |e| {
        e["event"] == "invalidated" && e["trap"] == 64
    });
    std::thread::sleep(Duration::from_millis(300));

    // OpenSM saw subscriptions from the replica only, and no Report went unanswered.
    let clients: std::collections::BTreeMap<u32, u32> =
        fabric.attached().unwrap().into_iter().map(|c| (c.pid, c.client)).collect();
    let (sm, rc) = (clients[&net.sm.pid()], clients[&replica.process.pid()]);
    let informs: Vec<Option<u32>> = fabric
        .routed_since(mark)
        .unwrap()
        .into_iter()
        .filter(|r| r.to == sm && r.attr_id == ATTR_INFORM_INFO)
        .map(|r| r.from)
        .collect();
    fabric.verbose(0).unwrap();
    assert!(informs.len() >= 4 && informs.iter().all(|c| *c == Some(rc)), "{informs:?}");
    // The replica answered every Report OpenSM sent it (see daemon_traps.rs for why the
    // error lines cannot appear on ibsim).
    let log = net.sm.opensm_log().unwrap();
    let answered = log.matches("Received Report Response").count() as u64;
    assert!(answered >= replica.counter("report_resps"), "OpenSM logged {answered} ReportResps");
    for bad in ["ERR 5410", "ERR 1A06"] {
        assert!(!log.contains(bad), "OpenSM: {bad}");
    }
    eprintln!(
        "replica reports test: {:.2?}, {} subscriptions at OpenSM, all from the replica",
        t0.elapsed(),
        informs.len()
    );
    leaf.stop();
    replica.stop();
    let _ = std::fs::remove_dir_all(&dir_r);
    let _ = std::fs::remove_dir_all(&dir_l);
    net.fabric.shutdown().expect("teardown");
}
