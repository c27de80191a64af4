//! Loss: ibsim's `Error` drops 30% of the MADs on the daemon's link in each direction (on the
//! HCA port: what reaches the daemon; on the switch port facing it: what the daemon sends).
//! Every resolve then either completes through retries with the SA's path, or fails with a
//! timeout within the configured bound (100 ms doubling over 3 retries: 1.5 s); afterwards no
//! query, waiter or RMPP transfer is left behind.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{parallel, private_dir, Admin, Daemon, Net};
use localsa_testbed::{OpenSmOptions, Topology};

/// 100 + 200 + 400 + 800 ms.
const BOUND: Duration = Duration::from_millis(1500);

#[test]
fn thirty_percent_loss_resolves_retry_or_time_out_within_bound() {
    let t0 = Instant::now();
    let topo = Topology::star(16).unwrap();
    let net = Net::start("loss", &topo, OpenSmOptions::sweep(5));
    let fabric = &net.fabric;
    let dir = private_dir("loss");
    let d = Daemon::start(
        fabric,
        "H0003",
        &dir,
        "[sa]\ntimeout = \"100ms\"\nmax_retries = 3\nsa_depth = 8\nsubscribe = false\n",
        &[],
    );
    let h3 = topo.id("H0003").unwrap();
    let (switch, switch_port) = topo.peer(h3, 1).unwrap();
    let switch = topo.node(switch).name.clone();
    let dests: Vec<(u16, String)> = fabric
        .topology()
        .hcas()
        .into_iter()
        .filter(|h| h != "H0003")
        .map(|h| (fabric.lid(&h).unwrap(), h))
        .collect();
    let start = d.engine();
    assert_eq!(start["retries"], 0, "{start}");

    fabric.error_rate("H0003", 1, 30, None).unwrap();
    fabric.error_rate(&switch, switch_port, 30, None).unwrap();
    // Every destination three times, asking the SA each time.
    let items: Vec<&(u16, String)> = dests.iter().chain(&dests).chain(&dests).collect();
    let results = parallel(&items, 4, |(lid, name)| {
        let mut a = Admin::connect(&d.admin).unwrap();
        let t = Instant::now();
        let v = a.call(&format!(r#"{{"op":"resolve","dlid":{lid},"bypass_cache":true}}"#)).unwrap();
        (name.clone(), *lid, t.elapsed(), v)
    });
    fabric.error_rate("H0003", 1, 0, None).unwrap();
    fabric.error_rate(&switch, switch_port, 0, None).unwrap();

    let (mut ok, mut timed_out, mut slowest) = (0, 0, Duration::ZERO);
    for (name, lid, took, v) in &results {
        slowest = slowest.max(*took);
        if v["ok"] == true {
            assert_eq!(v["paths"][0]["dlid"].as_u64(), Some(*lid as u64), "{name}: {v}");
            ok += 1;
        } else {
            assert_eq!(v["error"]["code"], "timeout", "{name}: only timeouts: {v}");
            timed_out += 1;
        }
        assert!(*took < BOUND + Duration::from_millis(700), "{name}: answered after {took:?}: {v}");
    }
    let e = d.engine();
    eprintln!(
        "{} resolves under 30% loss each way: {ok} answered, {timed_out} timed out, slowest {slowest:.2?}; \
         retries {}, timeouts {}, unmatched {}",
        results.len(),
        e["retries"],
        e["timeouts"],
        e["unmatched"]
    );
    assert!(e["retries"].as_u64() >= Some(5), "the loss made the daemon retry: {e}");
    // Resolves of the same destination at the same moment share one query (and its timeout).
    let timeouts = e["timeouts"].as_u64().unwrap() as usize;
    assert!(timeouts <= timed_out && (timeouts > 0) == (timed_out > 0), "{timed_out} timed out: {e}");
    assert!(ok * 4 >= results.len() * 3, "most complete through retries: {ok}/{}", results.len());

    // Nothing left behind; late answers to given-up attempts are counted, not kept.
    let e = d.wait_engine("drained", Duration::from_secs(5), |e| {
        ["outstanding", "queued", "waiting", "rmpp_in_flight"].iter().all(|k| e[*k] == 0)
    });
    assert_eq!(e["rmpp_failures"], 0, "{e}");
    // And the daemon is healthy: a resolve without loss is one SA query.
    let before = e["sa_queries"].as_u64().unwrap();
    let v = d.resolve(&format!(r#""dlid":{},"bypass_cache":true"#, dests[0].0));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(d.counter("sa_queries"), before + 1);
    eprintln!("loss test: {:.2?}", t0.elapsed());
    d.stop();
    let _ = std::fs::remove_dir_all(&dir);
    net.fabric.shutdown().expect("teardown");
}
