//! What bad clients cannot do to the daemon. Against both sockets: truncated headers, a wrong
//! version, length fields that lie (too short, too long, longer than what follows), 1 MiB of
//! garbage, a writer that sends one byte at a time for a second, clients that never read
//! their answers, half requests left hanging, JSON that is not a request; then 1000 clients
//! at once, each with a resolve. A well-behaved client (one kept connected all along, and a
//! fresh one after each case) is served throughout and afterwards, and the daemon is still
//! running at the end with counters that account for every client it dropped.

mod daemon_support;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use daemon_support::{acm, fat_tree, private_dir, Admin, Daemon, Net};
use localsa_testbed::OpenSmOptions;

/// Waits until the daemon closes `s` (EOF or reset), discarding what it sends; panics if it
/// is still open after `within`.
fn expect_closed(s: &mut UnixStream, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => return,
            Err(e) => panic!("{what}: still open after {within:?} ({e})"),
        }
    }
}

/// One resolve on a fresh ACM connection and one `stats` on a fresh admin connection, plus a
/// perf query and a `stats` on the long-lived connections.
struct WellBehaved {
    acm: UnixStream,
    admin: Admin,
    dlid: u16,
    rounds: u32,
}

impl WellBehaved {
    fn new(d: &Daemon, dlid: u16) -> WellBehaved {
        let acm = UnixStream::connect(&d.acm).unwrap();
        acm.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        WellBehaved { acm, admin: Admin::connect(&d.admin).unwrap(), dlid, rounds: 0 }
    }

    fn check(&mut self, d: &Daemon, after: &str) {
        self.rounds += 1;
        let mut s = UnixStream::connect(&d.acm).unwrap_or_else(|e| panic!("after {after}: connect: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&acm::resolve_lids(self.rounds as u64, 0, self.dlid, 0)).unwrap();
        let (op, status, msg) = acm::read_answer(&mut s).unwrap_or_else(|e| panic!("after {after}: {e}"));
        assert_eq!((op, status), (0x81, 0), "after {after}: resolve answer");
        assert_eq!(acm::answer_dlid(&msg), Some(self.dlid), "after {after}");
        self.acm.write_all(&acm::perf(7)).unwrap();
        let (op, status, _) =
            acm::read_answer(&mut self.acm).unwrap_or_else(|e| panic!("after {after}: perf: {e}"));
        assert_eq!((op, status), (0x82, 0), "after {after}: perf on the long-lived connection");
        let v =
            self.admin.call(r#"{"id":"wb","op":"stats"}"#).unwrap_or_else(|e| panic!("after {after}: {e}"));
        assert_eq!(v["ok"], true, "after {after}: {v}");
        let v = Admin::connect(&d.admin).unwrap().call(r#"{"op":"ports"}"#).unwrap();
        assert_eq!(v["ok"], true, "after {after}: {v}");
    }
}

fn connect(p: &Path) -> UnixStream {
    UnixStream::connect(p).unwrap()
}

#[test]
fn malformed_and_abusive_clients_do_not_hurt_the_others() {
    let t0 = Instant::now();
    let net = Net::start("malformed", &fat_tree(16), OpenSmOptions::default());
    let fabric = &net.fabric;
    let dir = private_dir("malformed");
    let extra = "[clients]\npartial_timeout = \"2s\"\nmax_buffered = \"64KiB\"\nmax_outstanding = 16\n";
    let d = Daemon::start(fabric, "H0003", &dir, extra, &[]);
    let lids: Vec<u16> = ["H0002", "H0004", "H0005", "H0006", "H0009", "H0012", "H0016"]
        .iter()
        .map(|n| fabric.lid(n).unwrap())
        .collect();
    let mut wb = WellBehaved::new(&d, lids[0]);
    wb.check(&d, "start");

    // Half requests left hanging: the daemon drops them after partial_timeout (2 s). Started
    // first and checked later, so that their wait overlaps the other cases.
    let hanging_started = Instant::now();
    let mut acm_half_header = connect(&d.acm);
    acm_half_header.write_all(&acm::resolve_lids(1, 0, lids[1], 0)[..8]).unwrap();
    let mut acm_length_lie = connect(&d.acm);
    let mut lie = acm::resolve_lids(2, 0, lids[1], 0);
    lie[6..8].copy_from_slice(&200u16.to_ne_bytes()); // says 200, sends 88
    acm_length_lie.write_all(&lie).unwrap();
    let mut admin_half_line = connect(&d.admin);
    admin_half_line.write_all(br#"{"id":1,"op":"stat"#).unwrap();

    // ---- ACM ----
    {
        // Truncated header, then gone.
        let mut s = connect(&d.acm);
        s.write_all(&acm::perf(1)[..8]).unwrap();
        drop(s);
        wb.check(&d, "ACM truncated header");

        // Wrong version: dropped without an answer (as ibacm does).
        let mut s = connect(&d.acm);
        let mut m = acm::perf(1);
        m[0] = 2;
        s.write_all(&m).unwrap();
        expect_closed(&mut s, Duration::from_secs(5), "ACM version 2");
        wb.check(&d, "ACM wrong version");

        // Unknown opcode.
        let mut s = connect(&d.acm);
        let mut m = acm::perf(1);
        m[1] = 0x09;
        s.write_all(&m).unwrap();
        expect_closed(&mut s, Duration::from_secs(5), "ACM opcode 9");

        // Length below the header, and above the largest message.
        for (len, what) in [(8u16, "length 8"), (60000u16, "length 60000")] {
            let mut s = connect(&d.acm);
            let mut m = acm::resolve_lids(3, 0, lids[1], 0);
            m[6..8].copy_from_slice(&len.to_ne_bytes());
            s.write_all(&m).unwrap();
            expect_closed(&mut s, Duration::from_secs(5), what);
            wb.check(&d, what);
        }

        // Length shorter than the message: the first 40 bytes are a resolve with no entry
        // (EDESTTYPE); what follows is not a message (version 0): dropped.
        let mut s = connect(&d.acm);
        let mut m = acm::resolve_lids(4, 0, lids[1], 0);
        m[6..8].copy_from_slice(&40u16.to_ne_bytes());
        s.write_all(&m).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (op, status, _) = acm::read_answer(&mut s).unwrap();
        assert_eq!((op, status), (0x81, 10), "a resolve without a whole entry is EDESTTYPE");
        expect_closed(&mut s, Duration::from_secs(5), "bytes after a short length");
        wb.check(&d, "ACM length shorter than the message");

        // 1 MiB of garbage.
        let mut s = connect(&d.acm);
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&vec![0xab; 1 << 20]); // the daemon hangs up part-way
        expect_closed(&mut s, Duration::from_secs(5), "ACM garbage");
        wb.check(&d, "ACM 1 MiB of garbage");

        // A slow writer: one byte every 11 ms, about a second for the resolve.
        let mut s = connect(&d.acm);
        let t = Instant::now();
        for b in acm::resolve_lids(5, 0, lids[2], 0) {
            s.write_all(&[b]).unwrap();
            std::thread::sleep(Duration::from_millis(11));
        }
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (op, status, msg) = acm::read_answer(&mut s).unwrap();
        assert_eq!((op, status, acm::answer_dlid(&msg)), (0x81, 0, Some(lids[2])), "slow writer");
        assert!(t.elapsed() >= Duration::from_millis(900));
        wb.check(&d, "ACM slow writer");

        // A client that never reads: perf queries until the daemon gives up on it.
        let mut s = connect(&d.acm);
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sent = 0usize;
        let burst: Vec<u8> = (0..256).flat_map(acm::perf).collect();
        let err = loop {
            match s.write_all(&burst) {
                Ok(()) => sent += burst.len(),
                Err(e) => break e,
            }
            assert!(sent < 64 << 20, "the daemon kept answering a client that never reads");
        };
        assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{err}");
        wb.check(&d, "ACM client that never reads");
    }

    // ---- admin ----
    {
        // Truncated, then gone.
        let mut s = connect(&d.admin);
        s.write_all(br#"{"op":"sta"#).unwrap();
        drop(s);

        // Not JSON, not an object, unknown op, unknown field, wrong types, bad UTF-8: each an
        // error answer, and the connection stays usable.
        let mut a = Admin::connect(&d.admin).unwrap();
        for bad in [
            "hello",
            "[1,2,3]",
            "42",
            r#"{"id":3,"op":"launch"}"#,
            r#"{"id":4,"op":"resolve","dlid":5,"colour":"red"}"#,
            r#"{"id":5,"op":"resolve","dlid":-1}"#,
            r#"{"id":6,"op":"resolve","dlid":"five"}"#,
            r#"{"id":7,"op":"resolve"}"#,
            r#"{"id":8,"op":"resolve","dlid":5,"sl":99}"#,
            r#"{"id":9,"op":"flush","gid":"not-a-gid"}"#,
        ] {
            let v = a.call(bad).unwrap();
            assert!(v.get("error").is_some(), "{bad} -> {v}");
        }
        a.stream.write_all(b"{\"op\":\"stats\xff\xfe\"}\n").unwrap();
        let v = a.recv().unwrap();
        assert_eq!(v["error"]["code"], "bad_request", "{v}");
        let v = a.call(r#"{"id":10,"op":"stats"}"#).unwrap();
        assert_eq!((v["id"].as_u64(), v["ok"].as_bool()), (Some(10), Some(true)));
        wb.check(&d, "admin bad requests");

        // A line over 64 KiB: an error, then the connection is closed.
        let mut s = connect(&d.admin);
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&vec![b'a'; 70 << 10]);
        let mut text = String::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.read_to_string(&mut text);
        assert!(text.contains("line_too_long"), "{text}");
        wb.check(&d, "admin line too long");

        // 1 MiB of garbage.
        let mut s = connect(&d.admin);
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&vec![0xab; 1 << 20]);
        expect_closed(&mut s, Duration::from_secs(5), "admin garbage");
        wb.check(&d, "admin 1 MiB of garbage");

        // A slow writer.
        let mut s = connect(&d.admin);
        let line = format!("{{\"id\":\"slow\",\"op\":\"resolve\",\"dlid\":{}}}\n", lids[3]);
        for b in line.bytes() {
            s.write_all(&[b]).unwrap();
            std::thread::sleep(Duration::from_millis(1000 / line.len() as u64));
        }
        let mut a = Admin::from_stream(s).unwrap();
        a.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let v = a.recv().unwrap();
        assert_eq!(
            (v["id"].as_str(), v["paths"][0]["dlid"].as_u64()),
            (Some("slow"), Some(lids[3] as u64)),
            "{v}"
        );
        wb.check(&d, "admin slow writer");

        // A client that never reads.
        let mut s = connect(&d.admin);
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let burst = "{\"op\":\"stats\"}\n".repeat(256);
        let mut sent = 0usize;
        let err = loop {
            match s.write_all(burst.as_bytes()) {
                Ok(()) => sent += burst.len(),
                Err(e) => break e,
            }
            assert!(sent < 64 << 20, "the daemon kept answering a client that never reads");
        };
        assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{err}");
        wb.check(&d, "admin client that never reads");
    }

    // The hanging halves are gone by now, or soon (partial_timeout 2 s, checked every 250 ms).
    expect_closed(&mut acm_half_header, Duration::from_secs(3), "ACM half header");
    expect_closed(&mut acm_length_lie, Duration::from_secs(3), "ACM length 200 with 88 bytes");
    expect_closed(&mut admin_half_line, Duration::from_secs(3), "admin half line");
    let waited = hanging_started.elapsed();
    wb.check(&d, "partial requests timed out");

    // ---- 1000 clients at once, half ACM, half admin, each one resolve ----
    let n = 1000;
    let t = Instant::now();
    let mut clients: Vec<(bool, UnixStream)> = (0..n)
        .map(|i| {
            let acm_client = i % 2 == 0;
            let s = connect(if acm_client { &d.acm } else { &d.admin });
            (acm_client, s)
        })
        .collect();
    // All of them connected at once, as the daemon sees it (the long-lived pair too).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = wb.admin.call(r#"{"op":"stats"}"#).unwrap();
        if v["daemon"]["clients"].as_u64() >= Some(n as u64 + 2) {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon holds only {} clients", v["daemon"]["clients"]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let connected = t.elapsed();
    for (i, (is_acm, s)) in clients.iter_mut().enumerate() {
        let dlid = lids[i % lids.len()];
        if *is_acm {
            s.write_all(&acm::resolve_lids(i as u64, 0, dlid, 0)).unwrap();
        } else {
            s.write_all(format!("{{\"id\":{i},\"op\":\"resolve\",\"dlid\":{dlid}}}\n").as_bytes()).unwrap();
        }
    }
    for (i, (is_acm, s)) in clients.drain(..).enumerate() {
        let dlid = lids[i % lids.len()];
        let mut s = s;
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        if is_acm {
            let (op, status, msg) = acm::read_answer(&mut s).unwrap_or_else(|e| panic!("client {i}: {e}"));
            assert_eq!((op, status, acm::answer_dlid(&msg)), (0x81, 0, Some(dlid)), "client {i}");
        } else {
            let mut a = Admin::from_stream(s).unwrap();
            let v = a.recv().unwrap_or_else(|e| panic!("client {i}: {e}"));
            assert_eq!(
                (v["id"].as_u64(), v["paths"][0]["dlid"].as_u64()),
                (Some(i as u64), Some(dlid as u64)),
                "client {i}: {v}"
            );
        }
    }
    let all = t.elapsed();
    wb.check(&d, "1000 clients");

    assert!(d.process.is_running(), "the daemon died:\n{}", d.log());
    let stats = d.stats();
    let dm = &stats["daemon"];
    let count = |k: &str| dm[k].as_u64().unwrap();
    assert!(count("clients_dropped_slow") >= 2, "{dm}");
    assert!(count("clients_dropped_malformed") >= 6, "{dm}");
    assert!(count("clients_dropped_partial") >= 3, "{dm}");
    assert!(count("clients_peak") >= n as u64 + 2, "{dm}");
    eprintln!(
        "1000 clients: connected in {connected:.2?}, all answered in {all:.2?} ({:.0} resolves/s); half requests all dropped \
         {waited:.2?} after they were sent; peak clients {}; limit {}; whole test {:.2?}",
        n as f64 / all.as_secs_f64(),
        count("clients_peak"),
        stats["limits"]["max_clients"],
        t0.elapsed()
    );
    drop(wb);
    let _ = std::fs::remove_dir_all(&dir);
    drop(d);
    net.fabric.shutdown().expect("teardown");
}
