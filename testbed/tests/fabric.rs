//! End-to-end tests: real ibsim, OpenSM and infiniband-diags on simulated fabrics.

use std::time::{Duration, Instant};

use localsa_testbed::{
    assert_no_leftovers, processes_with_sockname, Error, Fabric, FabricOptions, LinkOptions, LinkSpeed,
    LinkWidth, OpenSmOptions, Topology,
};

const UP: Duration = Duration::from_secs(30);

/// Starts `topo` with OpenSM (`-s 1`) on its first HCA and waits until the subnet is up.
fn fabric_with_sm(label: &str, topo: &Topology) -> (Fabric, localsa_testbed::OpenSm) {
    let fabric = Fabric::start(topo, FabricOptions::labelled(label)).expect("start fabric");
    let sm = fabric.start_opensm(&topo.hcas()[0], OpenSmOptions::sweep(1)).expect("start opensm");
    sm.wait_ready(UP).expect("opensm ready");
    (fabric, sm)
}

fn path_query(fabric: &Fabric, from: &str, slid: u16, dlid: u16) -> localsa_testbed::Result<String> {
    fabric.run_saquery(from, &["-t", "300", "-p", "--slid", &slid.to_string(), "--dlid", &dlid.to_string()])
}

/// Polls `f` until it returns true, at most `timeout`.
fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Drops the fabric and checks that nothing carrying its socket name survived, and its dir is gone.
fn teardown(fabric: Fabric) {
    let sock = fabric.sockname().to_string();
    let dir = fabric.dir().to_path_buf();
    let keep = fabric.keeps_dir();
    let t = Instant::now();
    drop(fabric);
    eprintln!("teardown of {sock} took {:?}", t.elapsed());
    assert_no_leftovers(&sock);
    assert!(keep || !dir.exists(), "{} still exists", dir.display());
}

#[test]
fn star4_path_query_unlink_relink_and_capture() {
    let t0 = Instant::now();
    let topo = Topology::star(4).unwrap();
    let (fabric, sm) = fabric_with_sm("star4", &topo);
    eprintln!("star(4) + OpenSM up in {:?}", t0.elapsed());

    let (a, b) = (fabric.lid("H0002").unwrap(), fabric.lid("H0003").unwrap());
    let out = path_query(&fabric, "H0002", a, b).unwrap();
    assert!(out.contains("PathRecord dump"), "{out}");
    assert!(out.contains(&format!("dlid....................{b}\n")), "{out}");

    // Capture: exactly one PathRecord query reaches ibsim for one saquery -p.
    fabric.verbose(3).unwrap();
    let mark = fabric.log_mark();
    path_query(&fabric, "H0002", a, b).unwrap();
    let mads = fabric.captured_mads_since(mark).unwrap();
    fabric.verbose(0).unwrap();
    let queries: Vec<_> = mads.iter().filter(|m| m.is_path_record_query()).collect();
    assert_eq!(queries.len(), 1, "{mads:#?}");
    let q = queries[0];
    // PathRecord DLID and SLID at record offsets 40 and 42 (MAD offset 56 + 40).
    assert_eq!(u16::from_be_bytes([q.bytes[96], q.bytes[97]]), b);
    assert_eq!(u16::from_be_bytes([q.bytes[98], q.bytes[99]]), a);
    let answers = mads.iter().filter(|m| m.is_response() && m.attr_id() == 0x35).count();
    assert_eq!(answers, 1, "{mads:#?}");

    // Unlink: the SA forgets the port (the switch's trap 128 triggers a sweep at once).
    fabric.unlink("H0003").unwrap();
    eventually("the path to H0003 to vanish", Duration::from_secs(10), || {
        !path_query(&fabric, "H0002", a, b).unwrap().contains("PathRecord dump")
    });
    fabric.relink("H0003").unwrap();
    eventually("the path to H0003 to come back", Duration::from_secs(10), || {
        path_query(&fabric, "H0002", a, b).unwrap().contains("PathRecord dump")
    });
    // Per port, and the errors ibsim reports.
    fabric.unlink_port("H0004", 1).unwrap();
    match fabric.unlink_port("H0004", 1) {
        Err(Error::Console { response, .. }) => assert!(response.contains("is not linked"), "{response}"),
        other => panic!("expected a console error, got {other:?}"),
    }
    fabric.relink_port("H0004", 1).unwrap();
    assert!(matches!(fabric.unlink("NOPE"), Err(Error::InvalidArgument(_))));
    assert!(matches!(fabric.console_checked("Unlink \"NOPE\""), Err(Error::Console { .. })));
    assert!(matches!(fabric.error_rate("H0002", 1, 101, None), Err(Error::InvalidArgument(_))));

    // Error rate 100 on H0002's port: the SA's answers to H0002 are dropped; the query times out.
    // (OpenSM's SMPs to H0002 are dropped too, so its next sweep loses the port for a while: wait
    // for the path to work again after clearing the rate.)
    let works = || path_query(&fabric, "H0002", a, b).is_ok_and(|o| o.contains("PathRecord dump"));
    fabric.error_rate("H0002", 1, 100, None).unwrap();
    assert!(matches!(path_query(&fabric, "H0002", a, b), Err(Error::CommandFailed { .. })));
    fabric.error_rate("H0002", 1, 0, None).unwrap();
    eventually("H0002 to query again", Duration::from_secs(10), works);
    // On the switch port facing H0002: H0002's requests are dropped on their way in.
    fabric.error_rate("S01", 2, 100, None).unwrap();
    assert!(matches!(path_query(&fabric, "H0002", a, b), Err(Error::CommandFailed { .. })));
    fabric.error_rate("S01", 2, 0, None).unwrap();
    eventually("H0002 to query again", Duration::from_secs(10), works);
    // An attribute-filtered rate does not touch MADs forwarded to clients (the SA).
    fabric.error_rate("H0001", 1, 100, Some(0x35)).unwrap();
    path_query(&fabric, "H0002", a, b).unwrap();
    fabric.error_rate("H0001", 1, 0, None).unwrap();

    let attached = fabric.attached().unwrap();
    assert_eq!(attached.len(), 1, "{attached:?}");
    assert!(attached[0].issm && attached[0].node == "H0001" && attached[0].pid == sm.pid());
    assert!(sm.opensm_log().unwrap().contains("SUBNET UP"));
    teardown(fabric);
}

#[test]
fn fat_tree16_paths_cross_a_spine() {
    let t0 = Instant::now();
    let topo = Topology::fat_tree(16).unwrap();
    let (fabric, _sm) = fabric_with_sm("ft16", &topo);
    eprintln!("fat_tree(16) + OpenSM up in {:?}", t0.elapsed());
    let (a, b) = (fabric.lid("H0001").unwrap(), fabric.lid("H0016").unwrap());
    let out = path_query(&fabric, "H0001", a, b).unwrap();
    assert!(out.contains(&format!("dlid....................{b}\n")), "{out}");
    let route = fabric.console(&format!("Route {a} {b}")).unwrap();
    assert!(route.contains("\"L01\"") && route.contains("\"L02\"") && route.contains("\"S0"), "{route}");
    // Every HCA got a LID.
    for h in topo.hcas() {
        fabric.lid(&h).unwrap();
    }
    teardown(fabric);
}

#[test]
fn two_fabrics_at_once_are_isolated() {
    let a_topo = Topology::star(2).unwrap();
    let mut b_topo = Topology::new();
    let s = b_topo.add_switch("BS", 8).unwrap();
    for name in ["B1", "B2", "B3"] {
        let h = b_topo.add_hca(name, 1).unwrap();
        b_topo.connect(s, h, LinkOptions::new()).unwrap();
    }
    b_topo.set_all_link_options(LinkOptions::new().width(LinkWidth::X4).speed(LinkSpeed::Ddr)).unwrap();

    let (fa, sma) = fabric_with_sm("iso-a", &a_topo);
    let (fb, smb) = fabric_with_sm("iso-b", &b_topo);
    assert_ne!(fa.sockname(), fb.sockname());
    assert_ne!(fa.dir(), fb.dir());

    // Each ibsim lists only its own SM.
    assert_eq!(fa.attached().unwrap().iter().map(|c| c.pid).collect::<Vec<_>>(), [sma.pid()]);
    assert_eq!(fb.attached().unwrap().iter().map(|c| c.pid).collect::<Vec<_>>(), [smb.pid()]);
    // A node of B does not exist in A's simulator: attaching there fails.
    let out = fa.run(fa.command("B2", "ibaddr"), Duration::from_secs(10)).unwrap();
    assert!(!out.status.success());
    // B's SA describes B's nodes; its links run 4x DDR: PathRecord rate 20 Gb/s (6).
    let (b2, b3) = (fb.lid("B2").unwrap(), fb.lid("B3").unwrap());
    let nr = fb.run_saquery("B2", &["NR", &b3.to_string()]).unwrap();
    assert!(nr.contains("NodeDescription.........B3"), "{nr}");
    let pr = path_query(&fb, "B2", b2, b3).unwrap();
    assert!(pr.contains("rate....................0x86"), "{pr}");
    let pa = path_query(&fa, "H0002", fa.lid("H0002").unwrap(), fa.lid("H0001").unwrap()).unwrap();
    assert!(pa.contains("rate....................0x83"), "{pa}");

    // Process sets are disjoint and complete.
    let (pa, pb) = (fa.processes(), fb.processes());
    assert!(pa.iter().any(|p| p.pid == sma.pid() as i32) && pa.iter().all(|p| p.pid != smb.pid() as i32));
    assert!(
        pb.iter().any(|p| p.pid == smb.pid() as i32) && pb.iter().any(|p| p.pid == fb.ibsim_pid() as i32)
    );

    // Tearing one down leaves the other working.
    teardown(fa);
    assert!(fb.is_running() && smb.is_running());
    path_query(&fb, "B2", b2, b3).unwrap();
    fb.shutdown().unwrap();
}

#[test]
fn opensm_restart_keeps_lids() {
    let topo = Topology::star(3).unwrap();
    let (fabric, sm) = fabric_with_sm("sm-restart", &topo);
    let lid = fabric.lid("H0003").unwrap();

    let t = Instant::now();
    let status = sm.stop().unwrap();
    eprintln!("opensm stop: {status} after {:?}", t.elapsed());
    assert!(!sm.is_running());
    // Without an SM, SMInfo queries go unanswered.
    assert!(fabric.sminfo("H0002").is_err());

    let sm2 = fabric.start_opensm("H0001", OpenSmOptions::sweep(1)).unwrap();
    sm2.wait_ready(UP).unwrap();
    assert_eq!(sm2.dir(), sm.dir(), "same node, same cache");
    assert_eq!(fabric.lid("H0003").unwrap(), lid);
    // The second instance's log starts where the first one's ended.
    assert_eq!(sm2.opensm_log().unwrap().matches("0x80 -> OpenSM 3.").count(), 1);

    // A crash (SIGKILL) and a restart on another node.
    let status = sm2.kill().unwrap();
    assert!(!status.success());
    let sm3 = fabric
        .start_opensm("H0002", OpenSmOptions { ignore_other_sms: true, ..OpenSmOptions::sweep(1) })
        .unwrap();
    let info = sm3.wait_ready(UP).unwrap();
    assert_eq!(info.guid, fabric.port_addr("H0002").unwrap().guid());
    teardown(fabric);
}

#[test]
fn teardown_survives_a_panic_and_kills_process_groups() {
    let mut sock = String::new();
    let mut dir = std::path::PathBuf::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let opts =
            FabricOptions { stop_grace: Duration::from_millis(300), ..FabricOptions::labelled("panic") };
        let fabric = Fabric::start(&Topology::star(2).unwrap(), opts).unwrap();
        sock = fabric.sockname().to_string();
        dir = fabric.dir().to_path_buf();
        fabric.start_opensm("H0001", OpenSmOptions::sweep(1)).unwrap();
        // A child with grandchildren, and one that ignores SIGTERM (needs the SIGKILL).
        let mut forks = fabric.command("H0002", "sh");
        forks.args(["-c", "sleep 300 & sleep 300 & wait"]);
        fabric.spawn(forks).unwrap();
        let mut stubborn = fabric.command("H0002", "sh");
        stubborn.args(["-c", "trap '' TERM; sleep 300 & wait; sleep 300"]);
        let p = fabric.spawn_logged("stubborn", stubborn).unwrap();
        assert!(p.is_running());
        eventually("3 sleeps", Duration::from_secs(5), || {
            processes_with_sockname(&sock).iter().filter(|p| p.cmdline.starts_with("sleep")).count() == 3
        });
        panic!("intentional panic while the fabric runs (expected in this test)");
    }));
    assert!(result.is_err());
    assert!(!sock.is_empty());
    assert_no_leftovers(&sock);
    assert!(!dir.exists());
}

#[test]
fn spawned_process_handle() {
    let fabric = Fabric::start(&Topology::star(1).unwrap(), FabricOptions::labelled("spawn")).unwrap();
    let mut cmd = fabric.command("H0001", "sh");
    cmd.args(["-c", "echo attached to $SIM_HOST; exit 3"]);
    let p = fabric.spawn_logged("echo", cmd).unwrap();
    let status = p.wait_timeout(Duration::from_secs(5)).unwrap().expect("exited");
    assert_eq!(status.code(), Some(3));
    assert_eq!(p.log().unwrap(), "attached to H0001\n");
    let mut sleep = fabric.command("H0001", "sleep");
    sleep.arg("300");
    let long = fabric.spawn(sleep).unwrap();
    assert!(long.is_running());
    let status = long.stop().unwrap();
    assert!(!status.success());
    // Missing programs are reported as such.
    assert!(matches!(fabric.spawn(fabric.command("H0001", "no-such-tool-xyz")), Err(Error::Missing { .. })));
    teardown(fabric);
}

#[test]
fn fat_tree_512_reaches_master() {
    let t0 = Instant::now();
    let topo = Topology::fat_tree(512).unwrap();
    assert_eq!(topo.switches().len(), 47);
    let fabric = Fabric::start(&topo, FabricOptions::labelled("ft512")).unwrap();
    let ibsim_up = t0.elapsed();
    let sm = fabric.start_opensm("H0001", OpenSmOptions::sweep(10)).unwrap();
    sm.wait_master(UP).unwrap();
    let master = t0.elapsed();
    sm.wait_subnet_up(UP).unwrap();
    let subnet_up = t0.elapsed();
    let (a, b) = (fabric.lid("H0001").unwrap(), fabric.lid("H0512").unwrap());
    assert!(path_query(&fabric, "H0001", a, b).unwrap().contains("PathRecord dump"));
    eprintln!(
        "fat_tree(512): ibsim ready {ibsim_up:?}, OpenSM MASTER {master:?}, SUBNET UP {subnet_up:?}, \
         first path query answered {:?}",
        t0.elapsed()
    );
    teardown(fabric);
}

#[test]
fn from_file_runs_the_original_netfile() {
    let example = std::path::Path::new("/usr/share/doc/ibsim-utils/net-examples/net.2sw2path4hca");
    if !example.exists() {
        eprintln!("skipped: {} not installed", example.display());
        return;
    }
    let topo = Topology::from_file(example).unwrap();
    assert_eq!(topo.hcas(), ["Hca1", "Hca2", "Hca3", "Hca4"]);
    let fabric = Fabric::start(&topo, FabricOptions::labelled("from-file")).unwrap();
    assert_eq!(fabric.netfile(), example);
    // Before any SM: the port is there, without a LID.
    assert_eq!(fabric.port_addr("Hca3").unwrap().lid, 0);
    assert!(fabric.lid("Hca3").is_err());
    let sm = fabric.start_opensm("Hca1", OpenSmOptions::sweep(1)).unwrap();
    sm.wait_ready(UP).unwrap();
    assert_ne!(fabric.lid("Hca4").unwrap(), 0);
    teardown(fabric);
}

#[test]
fn fabric_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Fabric>();
    check::<localsa_testbed::OpenSm>();
    check::<localsa_testbed::Process>();
}
