//! SIGTERM while resolves are pending: every waiting client gets an error answer (ACM
//! `ETIMEDOUT`, admin `shutting_down`), the socket files disappear, the umad agent is
//! unregistered and the process exits 0. The SA is kept from answering by stopping OpenSM
//! (SIGSTOP) for the duration, so the resolves are really pending in the engine.

mod daemon_support;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use daemon_support::{acm, fat_tree, private_dir, Admin, Daemon, Net};
use localsa_testbed::{OpenSmOptions, Signal};
use nix::sys::signal::kill;
use nix::unistd::Pid;

#[test]
fn sigterm_answers_pending_requests_removes_sockets_and_exits_0() {
    let t0 = Instant::now();
    let net = Net::start("shutdown", &fat_tree(16), OpenSmOptions::default());
    let fabric = &net.fabric;
    let dir = private_dir("shutdown");
    let d = Daemon::start(fabric, "H0003", &dir, "", &[]);
    let lids: Vec<u16> =
        ["H0005", "H0006", "H0007", "H0008", "H0009"].iter().map(|n| fabric.lid(n).unwrap()).collect();

    // The SA goes silent.
    let sm = Pid::from_raw(net.sm.pid() as i32);
    kill(sm, nix::sys::signal::SIGSTOP).unwrap();

    let mut acm_clients: Vec<UnixStream> = (0..5)
        .map(|i| {
            let mut s = UnixStream::connect(&d.acm).unwrap();
            s.write_all(&acm::resolve_lids(100 + i as u64, 0, lids[i], 0)).unwrap();
            s
        })
        .collect();
    let mut admin_clients: Vec<Admin> = (0..5)
        .map(|i| {
            let mut a = Admin::connect(&d.admin).unwrap();
            a.send(&format!("{{\"id\":{i},\"op\":\"resolve\",\"dlid\":{}}}", lids[i]));
            a
        })
        .collect();

    // Wait until all ten are waiting in the engine.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = d.stats()["engine"]["waiting"].as_u64().unwrap();
        if waiting == 10 {
            break;
        }
        assert!(Instant::now() < deadline, "only {waiting} resolves pending");
        std::thread::sleep(Duration::from_millis(20));
    }

    let t = Instant::now();
    d.process.signal(Signal::SIGTERM).unwrap();
    for (i, s) in acm_clients.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (op, status, msg) = acm::read_answer(s).unwrap_or_else(|e| panic!("ACM client {i}: {e}"));
        assert_eq!((op, status), (0x81, 6), "ACM client {i}: ETIMEDOUT expected");
        assert_eq!(u64::from_ne_bytes(msg[8..16].try_into().unwrap()), 100 + i as u64, "tid echoed");
    }
    for (i, a) in admin_clients.iter_mut().enumerate() {
        let v = a.recv().unwrap_or_else(|e| panic!("admin client {i}: {e}"));
        assert_eq!(v["id"].as_u64(), Some(i as u64), "{v}");
        assert_eq!(v["error"]["code"], "shutting_down", "{v}");
    }
    let answered = t.elapsed();
    let status = d.process.wait_timeout(Duration::from_secs(10)).unwrap().expect("the daemon exits");
    let exited = t.elapsed();
    kill(sm, nix::sys::signal::SIGCONT).unwrap();

    assert_eq!(status.code(), Some(0), "exit status\n{}", d.log());
    assert!(!d.acm.exists(), "ACM socket left behind");
    assert!(!d.admin.exists(), "admin socket left behind");
    let log = d.log();
    assert!(log.contains("shutting down signal=SIGTERM") && log.contains(" pending=10"), "{log}");
    assert!(log.contains("umad agent unregistered"), "{log}");
    eprintln!(
        "SIGTERM: 10 pending answered in {answered:.2?}, exit 0 after {exited:.2?}; whole test {:.2?}",
        t0.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(d);
    net.fabric.shutdown().expect("teardown");
}
