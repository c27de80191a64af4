//! Coalescing and flow control of SA queries, against OpenSM on ibsim.
//!
//! * 200 ACM clients ask for the same path while the SA is held silent (OpenSM stopped with
//!   SIGSTOP, so that every one of them is really waiting): the engine sends one PathRecord
//!   query (its `sa_queries` rises by exactly 1, `coalesced` by 199), ibsim's dump of every MAD
//!   it routed shows exactly one PathRecord query from the daemon, and when OpenSM runs again
//!   all 200 get the path.
//! * A daemon with `--sa-depth 2 --timeout 100ms --max-retries 1` and OpenSM stopped, asked for
//!   20 distinct paths: never more than 2 queries outstanding and the rest queued; each query
//!   is sent twice (ibsim sees 40) and fails after 100 + 200 ms, so resolve `i` fails with
//!   `timeout` no earlier than (i / 2 + 1) × 300 ms after it was asked, and not much later.
//!   With OpenSM running again, the same 20 resolve.
//!
//! The two tests run one at a time (each has its own fabric): the second measures times.

mod daemon_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use daemon_support::{acm, parallel, private_dir, Admin, Daemon, Net};
use localsa_testbed::{Fabric, LogMark, OpenSmOptions, Topology};
use nix::sys::signal::{kill, SIGCONT, SIGSTOP};
use nix::unistd::Pid;
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn counter(stats: &Value, name: &str) -> u64 {
    stats["engine"][name].as_u64().unwrap_or_else(|| panic!("no engine.{name} in {stats}"))
}

/// ibsim's client number for the daemon.
fn ibsim_client(fabric: &Fabric, d: &Daemon) -> u32 {
    fabric
        .attached()
        .expect("Attached")
        .into_iter()
        .find(|c| c.pid == d.process.pid())
        .map(|c| c.client)
        .expect("the daemon is attached to ibsim")
}

/// The DLIDs of the PathRecord queries the daemon sent since `mark`, as ibsim dumped them.
fn path_queries(fabric: &Fabric, client: u32, mark: LogMark) -> Vec<u16> {
    fabric
        .captured_mads_since(mark)
        .expect("ibsim capture")
        .iter()
        .filter(|m| m.client == Some(client) && m.is_path_record_query())
        // PathRecord DLID: SA data at 56, DLID at offset 40 of the record.
        .map(|m| u16::from_be_bytes([m.bytes[96], m.bytes[97]]))
        .collect()
}

#[test]
fn two_hundred_clients_asking_one_path_make_one_sa_query() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let net = Net::start("coalesce", &Topology::star(4).expect("topology"), OpenSmOptions::sweep(0));
    let fabric = &net.fabric;
    let dir = private_dir("coalesce");
    // A long per-attempt timeout: the query must not be retried while OpenSM is stopped.
    let d = Daemon::start(fabric, "H0002", &dir, "", &["--timeout", "10s"]);
    let client = ibsim_client(fabric, &d);
    let dest = fabric.lid("H0003").unwrap();

    let before = d.stats();
    fabric.verbose(3).expect("Verbose 3");
    let mark = fabric.log_mark();
    let sm = Pid::from_raw(net.sm.pid() as i32);
    kill(sm, SIGSTOP).unwrap();
    let n = 200u64;
    let mut clients: Vec<UnixStream> = (0..n)
        .map(|i| {
            let mut s = UnixStream::connect(&d.acm).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(&acm::resolve_lids(1000 + i, 0, dest, 0)).unwrap();
            s
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let s = d.stats();
        if counter(&s, "waiting") == n {
            break s;
        }
        assert!(Instant::now() < deadline, "not all {n} waiting: {s}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(counter(&waiting, "outstanding"), 1, "{waiting}");
    kill(sm, SIGCONT).unwrap();

    for (i, s) in clients.iter_mut().enumerate() {
        let (op, status, msg) = acm::read_answer(s).unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!((op, status, acm::answer_dlid(&msg)), (0x81, 0, Some(dest)), "client {i}");
        assert_eq!(u64::from_ne_bytes(msg[8..16].try_into().unwrap()), 1000 + i as u64, "tid echoed");
    }
    let after = d.stats();
    let delta = |name: &str| counter(&after, name) - counter(&before, name);
    assert_eq!(delta("resolves"), n);
    assert_eq!(delta("sa_queries"), 1, "one SA query for {n} clients");
    assert_eq!(delta("coalesced"), n - 1);
    assert_eq!(delta("retries"), 0);
    let seen = path_queries(fabric, client, mark);
    assert_eq!(seen, [dest], "PathRecord queries ibsim routed from the daemon");
    eprintln!(
        "coalescing: {n} ACM clients, 1 SA query (ibsim saw {}), all answered; test {:.2?}",
        seen.len(),
        t0.elapsed()
    );
    drop(clients);
    let _ = std::fs::remove_dir_all(&dir);
    drop(d);
    net.fabric.shutdown().expect("teardown");
}

#[test]
fn sa_depth_bounds_outstanding_queries_and_silent_sa_times_out_within_the_bound() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let net = Net::start("sa-depth", &Topology::star(22).expect("topology"), OpenSmOptions::sweep(0));
    let fabric = &net.fabric;
    let dir = private_dir("sa-depth");
    // Per query: attempt 1 waits 100 ms, the retry 200 ms (doubled): fails 300 ms after its
    // first send. Two at a time: 20 queries take 10 rounds.
    let (depth, timeout_ms, retries) = (2u64, 100u64, 1u32);
    let per_query = Duration::from_millis(timeout_ms * ((1 << (retries + 1)) - 1));
    let args = ["--sa-depth", "2", "--timeout", "100ms", "--max-retries", "1"];
    let d = Daemon::start(fabric, "H0002", &dir, "", &args);
    let client = ibsim_client(fabric, &d);
    let nodes: Vec<String> = (3..=22).map(|i| format!("H{i:04}")).collect();
    let lids: Vec<u16> = parallel(&nodes, 4, |n| fabric.lid(n).unwrap());
    let mut a = Admin::connect(&d.admin).unwrap();
    // The SA answers to begin with.
    let sm_lid = fabric.lid("H0001").unwrap();
    let v = a.call(&format!("{{\"id\":\"warm\",\"op\":\"resolve\",\"dlid\":{sm_lid}}}")).unwrap();
    assert_eq!(v["ok"], true, "{v}");

    let before = d.stats();
    fabric.verbose(3).expect("Verbose 3");
    let mark = fabric.log_mark();
    let sm = Pid::from_raw(net.sm.pid() as i32);
    kill(sm, SIGSTOP).unwrap();

    // Watch the gauges while the queries wait.
    let done = AtomicBool::new(false);
    let (answers, gauges) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let st = d.stats();
                seen.push((counter(&st, "outstanding"), counter(&st, "queued")));
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        });
        let sent = Instant::now();
        let lines: String = lids
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{{\"id\":{i},\"op\":\"resolve\",\"dlid\":{l}}}\n"))
            .collect();
        a.stream.write_all(lines.as_bytes()).unwrap();
        let mut answers = BTreeMap::new();
        while answers.len() < lids.len() {
            let v = a.recv().unwrap_or_else(|e| panic!("after {} answers: {e}", answers.len()));
            answers.insert(v["id"].as_u64().unwrap(), (sent.elapsed(), v));
        }
        done.store(true, Ordering::Relaxed);
        (answers, watcher.join().unwrap())
    });
    let after = d.stats();

    let max_outstanding = gauges.iter().map(|g| g.0).max().unwrap();
    let max_queued = gauges.iter().map(|g| g.1).max().unwrap();
    assert!(max_outstanding <= depth, "outstanding {max_outstanding} > sa_depth {depth}: {gauges:?}");
    assert_eq!(max_outstanding, depth, "{gauges:?}");
    assert!(max_queued > 0 && max_queued <= 18, "{gauges:?}");
    let delta = |name: &str| counter(&after, name) - counter(&before, name);
    assert_eq!(delta("sa_queries"), 20);
    assert_eq!(delta("retries"), 20 * retries as u64, "each query retried {retries} time(s)");
    assert_eq!(delta("timeouts"), 20);
    // Slack for the engine's timers (epoll rounds up to milliseconds) and this machine's load.
    let slack = Duration::from_millis(40);
    for (id, (elapsed, v)) in &answers {
        assert_eq!(v["error"]["code"], "timeout", "{v}");
        let rounds = (*id / depth + 1) as u32;
        let bound = per_query * rounds;
        assert!(*elapsed >= bound, "resolve {id} failed after {elapsed:.2?}, before its bound {bound:.2?}");
        assert!(
            *elapsed <= bound + slack * rounds + Duration::from_millis(200),
            "resolve {id} failed after {elapsed:.2?}, bound {bound:.2?}"
        );
    }
    let last = answers[&19].0;
    // On the wire: every query twice (first send and its retry), in pairs.
    let seen = path_queries(fabric, client, mark);
    assert_eq!(seen.len(), 40, "PathRecord queries ibsim routed from the daemon: {seen:?}");
    for (i, pair) in seen.chunks(4).enumerate() {
        // Round i: the two queries, then their two retries.
        let mut want = vec![lids[2 * i], lids[2 * i + 1]];
        want.sort_unstable();
        let mut first: Vec<u16> = pair[..2].to_vec();
        let mut again: Vec<u16> = pair[2..].to_vec();
        first.sort_unstable();
        again.sort_unstable();
        assert_eq!((first, again), (want.clone(), want), "round {i}: {seen:?}");
    }

    // OpenSM runs again: the same 20 resolve.
    kill(sm, SIGCONT).unwrap();
    let t = Instant::now();
    for (i, l) in lids.iter().enumerate() {
        let v = a.call(&format!("{{\"id\":{i},\"op\":\"resolve\",\"dlid\":{l}}}")).unwrap();
        assert_eq!(v["ok"], true, "resolve {i} after SIGCONT: {v}");
        assert_eq!(v["paths"][0]["dlid"].as_u64(), Some(*l as u64), "{v}");
    }
    let recovered = t.elapsed();
    let end = d.stats();
    assert_eq!(end["sa_reachable"], true, "{end}");
    assert!(counter(&end, "sm_changes") > counter(&before, "sm_changes"), "an SA back counts as a new SM");
    eprintln!(
        "sa_depth 2: 20 resolves, outstanding at most {max_outstanding}, queued at most {max_queued}, last timeout \
         after {last:.2?} (bound {:.2?}); 20 resolved {recovered:.2?} after SIGCONT; test {:.2?}",
        per_query * 10,
        t0.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(d);
    net.fabric.shutdown().expect("teardown");
}
