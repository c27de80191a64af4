//! `localsa reregister` against OpenSM on ibsim: what the daemon does when told the SM asked
//! clients to re-register. It is refused to an unprivileged user (exit 77); for root it
//! fetches the SA's ClassPortInfo and subscribes to the four traps again (ibsim's dump of
//! every MAD shows one ClassPortInfo Get and four InformInfo Sets from the daemon, and OpenSM
//! answers each), announces `sm_changed` on the event stream, and serves the cached path once
//! more while refreshing it from the SA (one new SA query), after which it is fresh again.

mod daemon_support;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::{private_dir, Admin, Daemon, Net, LOCALSA};
use localsa_testbed::{OpenSmOptions, Topology};
use serde_json::Value;

fn engine(d: &Daemon, name: &str) -> u64 {
    d.stats()["engine"][name].as_u64().unwrap()
}

fn resolve(d: &Daemon, lid: u16) -> Value {
    let out = d.cli(&["resolve", "--json", "--dlid", &lid.to_string()]);
    assert!(out.status.success(), "resolve: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn reregister_resubscribes_and_revalidates_through_the_real_sa() {
    let t0 = Instant::now();
    let net = Net::start("reregister", &Topology::star(4).expect("topology"), OpenSmOptions::sweep(0));
    let fabric = &net.fabric;
    let dir = private_dir("reregister");
    let d = Daemon::start(fabric, "H0002", &dir, "", &[]);
    let (sm_lid, dest) = (fabric.lid("H0001").unwrap(), fabric.lid("H0003").unwrap());
    let client = fabric
        .attached()
        .expect("Attached")
        .into_iter()
        .find(|c| c.pid == d.process.pid())
        .map(|c| c.client)
        .expect("the daemon is attached to ibsim");
    assert_eq!(resolve(&d, dest)["source"], "sa");
    let mut events = Admin::connect(&d.admin).unwrap();
    assert_eq!(events.call(r#"{"id":"e","op":"events"}"#).unwrap()["ok"], true);

    let out = Command::new(LOCALSA)
        .args(["reregister", "--socket"])
        .arg(&d.admin)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77), "needs privilege: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(engine(&d, "sm_changes"), 0);

    let queries = engine(&d, "sa_queries");
    fabric.verbose(3).expect("Verbose 3");
    let mark = fabric.log_mark();
    let out = d.cli(&["reregister", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["sm_changes"], 1, "{answer}");

    // The event stream: the SM change, then the four subscriptions answered again.
    let (mut sm_changed, mut subscribed) = (None, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while sm_changed.is_none() || subscribed.len() < 4 {
        assert!(Instant::now() < deadline, "events so far: {sm_changed:?} {subscribed:?}");
        let v = events.recv().unwrap();
        match v["event"].as_str() {
            Some("sm_changed") => sm_changed = Some(v),
            Some("subscribed") => subscribed.push((v["trap"].as_u64().unwrap(), v["accepted"].clone())),
            _ => {}
        }
    }
    let sm_changed = sm_changed.unwrap();
    assert_eq!(
        (sm_changed["sa_lid"].as_u64(), sm_changed["entries"].as_u64()),
        (Some(sm_lid as u64), Some(1))
    );
    subscribed.sort_by_key(|s| s.0);
    let traps: Vec<u64> = subscribed.iter().map(|s| s.0).collect();
    assert_eq!(traps, [64, 65, 144, 145], "{subscribed:?}");
    assert!(subscribed.iter().all(|s| s.1 == true), "OpenSM accepts each again: {subscribed:?}");

    // On the wire, from the daemon: one ClassPortInfo Get and four InformInfo Sets.
    std::thread::sleep(Duration::from_millis(200));
    let mads: Vec<_> = fabric
        .captured_mads_since(mark)
        .expect("capture")
        .into_iter()
        .filter(|m| m.client == Some(client) && m.mgmt_class() == 0x03 && !m.is_response())
        .collect();
    let count =
        |method: u8, attr: u16| mads.iter().filter(|m| m.method() == method && m.attr_id() == attr).count();
    assert_eq!(count(0x01, 0x0001), 1, "ClassPortInfo Get: {mads:?}");
    assert_eq!(count(0x02, 0x0003), 4, "InformInfo Set: {mads:?}");

    // The cached path is served (stale) and refreshed behind the client's back, once.
    let again = resolve(&d, dest);
    assert_eq!(again["source"], "cache", "{again}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine(&d, "sa_queries") < queries + 1 {
        assert!(Instant::now() < deadline, "the stale path was not refreshed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(engine(&d, "stale_answers"), 1);
    assert_eq!(resolve(&d, dest)["source"], "cache");
    assert_eq!(engine(&d, "sa_queries"), queries + 1, "fresh again: no further query");
    assert_eq!(engine(&d, "stale_answers"), 1);
    assert!(count(0x01, 0x0035) == 0, "no PathRecord query before the path was asked for again");
    eprintln!(
        "reregister: subscriptions {subscribed:?} answered again, 1 refresh on the next resolve; test {:.2?}",
        t0.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(d);
    net.fabric.shutdown().expect("teardown");
}
