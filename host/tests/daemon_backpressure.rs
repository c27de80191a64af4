//! Backpressure and journald-style logging.
//!
//! With the SA kept silent (OpenSM stopped with SIGSTOP), a client that pipelines more resolves
//! than `max_outstanding` has that many taken in and the rest left unread in its socket, while
//! other clients are served; when the SA answers again every request is answered, in full.
//! The daemon runs with `JOURNAL_STREAM` naming its stderr, as systemd sets it, so its log
//! lines carry `<N>` syslog priorities and no timestamp. Last, a `dump` of about 2000 entries
//! (far more than the 64 KiB `max_buffered` allows a client to leave unread) streams in chunks
//! to a client that reads it, without tripping the slow-reader limit.

mod daemon_support;

use std::io::Write;
use std::os::linux::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use daemon_support::{acm, fat_tree, private_dir, Admin, Daemon, Net};
use localsa_testbed::OpenSmOptions;
use nix::sys::signal::{kill, SIGCONT, SIGSTOP};
use nix::unistd::Pid;

#[test]
fn a_pipelining_client_is_paused_at_max_outstanding_and_others_are_served() {
    let t0 = Instant::now();
    let net = Net::start("backpressure", &fat_tree(16), OpenSmOptions::default());
    let fabric = &net.fabric;
    let dir = private_dir("backpressure");
    // The log file the fabric will append the daemon's stderr to: made first, so that its
    // device and inode can go into JOURNAL_STREAM.
    let log = fabric.dir().join(format!("{}.log", Daemon::log_name(&dir)));
    std::fs::write(&log, b"").unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let journal = format!("{}:{}", meta.st_dev(), meta.st_ino());
    let extra = "[clients]\nmax_outstanding = 16\nmax_buffered = \"64KiB\"\n";
    let d = Daemon::start_with(fabric, "H0003", &dir, extra, &[], false, &[("JOURNAL_STREAM", journal)]);
    let (near, far) = (fabric.lid("H0005").unwrap(), fabric.lid("H0014").unwrap());

    // One path cached while the SA still answers.
    let mut other = UnixStream::connect(&d.acm).unwrap();
    other.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    other.write_all(&acm::resolve_lids(1, 0, near, 0)).unwrap();
    assert_eq!(acm::read_answer(&mut other).unwrap().1, 0);

    let sm = Pid::from_raw(net.sm.pid() as i32);
    kill(sm, SIGSTOP).unwrap();
    let mut greedy = UnixStream::connect(&d.acm).unwrap();
    greedy.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let burst: Vec<u8> = (0..40).flat_map(|i| acm::resolve_lids(100 + i, 0, far, 0)).collect();
    greedy.write_all(&burst).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let s = d.stats();
        if s["engine"]["waiting"].as_u64() == Some(16)
            && s["daemon"]["backpressure_pauses"].as_u64() >= Some(1)
        {
            break s;
        }
        assert!(Instant::now() < deadline, "not paused at 16: {s}");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Paused, not dropped; and it stays at 16 while the SA is silent.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.stats()["engine"]["waiting"].as_u64(), Some(16), "{stats}");
    // Others are served meanwhile: a cached path, and the admin socket.
    other.write_all(&acm::resolve_lids(2, 0, near, 0)).unwrap();
    let (_, status, msg) = acm::read_answer(&mut other).unwrap();
    assert_eq!((status, acm::answer_dlid(&msg)), (0, Some(near)));
    assert_eq!(Admin::connect(&d.admin).unwrap().call(r#"{"op":"ports"}"#).unwrap()["ok"], true);

    // The SA is back: all 40 answered, in order of the tids we can see.
    kill(sm, SIGCONT).unwrap();
    let t = Instant::now();
    let mut tids = Vec::new();
    for i in 0..40 {
        let (op, status, msg) = acm::read_answer(&mut greedy).unwrap_or_else(|e| panic!("answer {i}: {e}"));
        assert_eq!((op, status, acm::answer_dlid(&msg)), (0x81, 0, Some(far)), "answer {i}");
        tids.push(u64::from_ne_bytes(msg[8..16].try_into().unwrap()));
    }
    tids.sort_unstable();
    assert_eq!(tids, (100..140).collect::<Vec<u64>>());
    let drained = t.elapsed();

    // Fill the table with "no such path" entries (2000 LIDs nobody has), reading the answers
    // while writing the requests, then dump it.
    let n = 2000u32;
    let mut a = Admin::connect(&d.admin).unwrap();
    let mut w = a.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..n {
            writeln!(w, "{{\"id\":{i},\"op\":\"resolve\",\"dlid\":{}}}", 3000 + i).unwrap();
        }
    });
    for _ in 0..n {
        let v = a.recv().unwrap();
        assert_eq!(v["error"]["code"], "no_path", "{v}");
    }
    writer.join().unwrap();
    a.send(r#"{"id":"dump","op":"dump","chunk":100}"#);
    let (mut chunks, mut entries, mut bytes) = (0, 0, 0);
    let total = loop {
        let v = a.recv().unwrap_or_else(|e| panic!("dump cut after {chunks} chunks: {e}"));
        bytes += v.to_string().len();
        if v.get("ok").is_some() {
            break v["total"].as_u64().unwrap();
        }
        chunks += 1;
        entries += v["entries"].as_array().unwrap().len();
    };
    assert_eq!(entries as u64, total);
    assert!(total > n as u64 && chunks >= 20, "{total} entries in {chunks} chunks");
    assert!(bytes > 8 * (64 << 10), "the dump ({bytes} bytes) is far larger than max_buffered");
    assert_eq!(d.stats()["daemon"]["clients_dropped_slow"], 0);

    let text = d.log();
    let first = text.lines().find(|l| l.contains("ready port=")).expect("ready line");
    assert!(first.starts_with("<6>daemon::runtime: ready port=umad0"), "journal format: {first}");
    assert!(!text.lines().any(|l| !l.starts_with('<')), "every line has a priority:\n{text}");
    eprintln!(
        "backpressure: 40 pipelined, paused at 16, all answered {drained:.2?} after the SA came back; dump of {total} \
         entries in {chunks} chunks ({bytes} bytes); test {:.2?}",
        t0.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(d);
    net.fabric.shutdown().expect("teardown");
}
