//! The port options on the simulated fabric. ibsim's shim gives a process one umad device
//! (`umad0`, the one port of its `SIM_HOST` node), so this is the one-port daemon with the
//! multi-port interface: `--port all` serves that port, stats list it under `ports`, dump
//! entries and events name it, `port` fields route to it or are refused, a source that is
//! no local port still goes to the one port (as before), and bad port settings exit 78. The
//! daemon serving several ports at once is proven on the real kernel (`daemon-multiport` in
//! `kerneltest/src/bin/kt-run.rs`), where two rxe devices give two umad ports.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{
    assert_same_path, fat_tree, json, private_dir, saquery_path, Admin, Daemon, Net, LOCALSA,
};
use localsa_testbed::{OpenSmOptions, Signal};

fn refused(out: &std::process::Output, code: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains(code), "exit {:?}: {err}", out.status.code());
}

#[test]
fn port_all_per_port_stats_dump_events_and_port_fields() {
    let t0 = Instant::now();
    let net = Net::start("ports", &fat_tree(16), OpenSmOptions::default());
    let fabric = &net.fabric;
    let dir = private_dir("ports");
    let d = Daemon::start(fabric, "H0003", &dir, "", &["--port", "all"]);
    let (h3, h9, h10) = (
        fabric.port_addr("H0003").unwrap(),
        fabric.port_addr("H0009").unwrap(),
        fabric.port_addr("H0010").unwrap(),
    );

    // One port served; its section names it.
    let s = d.stats();
    let ports = s["ports"].as_array().expect("ports in stats");
    assert_eq!(ports.len(), 1, "{s}");
    assert_eq!((ports[0]["port"].as_u64(), ports[0]["lid"].as_u64()), (Some(0), Some(h3.lid as u64)), "{s}");
    assert_eq!(ports[0]["gid"], h3.gid.to_string(), "{s}");

    // By SGID (the port's own), as saquery from the port answers it.
    let ours =
        json(&d.cli(&["resolve", "--json", "--sgid", &h3.gid.to_string(), "--dgid", &h9.gid.to_string()]));
    let sa = saquery_path(fabric, "H0003", &["--sgid-to-dgid", &format!("{}-{}", h3.gid, h9.gid)]);
    assert_same_path(&ours["paths"][0], &sa, "H0003 -> H0009 by SGID");
    // A source that is no local port: with one port served, still that port's SA.
    let ours =
        json(&d.cli(&["resolve", "--json", "--sgid", &h10.gid.to_string(), "--dgid", &h9.gid.to_string()]));
    let sa = saquery_path(fabric, "H0010", &["--sgid-to-dgid", &format!("{}-{}", h10.gid, h9.gid)]);
    assert_same_path(&ours["paths"][0], &sa, "H0010 -> H0009 through the one port");
    // `port`: the one port, or refused.
    let v = json(&d.cli(&["resolve", "--json", "--port", "0", "--dlid", &h10.lid.to_string()]));
    assert_eq!(v["paths"][0]["slid"], h3.lid, "{v}");
    refused(&d.cli(&["resolve", "--port", "5", "--dlid", &h10.lid.to_string()]), "no_such_port");

    let s = d.stats();
    let p = &s["ports"][0];
    assert_eq!(p["daemon"]["resolves"], 3, "the refused resolve is not the port's: {s}");
    assert_eq!(s["daemon"]["resolves"], 4, "{s}");
    assert_eq!(p["engine"]["sa_queries"], s["engine"]["sa_queries"], "one port: the sums are its own: {s}");
    assert_eq!(p["table"]["entries"], s["table"]["entries"], "{s}");
    assert_eq!(p["daemon"]["mads_sent"], s["daemon"]["mads_sent"], "{s}");

    // Dump entries name their port.
    let dump = json(&d.cli(&["dump", "--json"]));
    let entries = dump["entries"].as_array().unwrap();
    assert!(entries.len() == 3 && entries.iter().all(|e| e["port"] == 0), "{dump}");

    // Events name the port; flush takes one.
    let mut events = Admin::connect(&d.admin).unwrap();
    assert_eq!(events.call(r#"{"id":"ev","op":"events"}"#).unwrap()["ok"], true);
    refused(&d.cli(&["flush", "--port", "7"]), "no_such_port");
    let v = json(&d.cli(&["flush", "--json", "--port", "0"]));
    assert_eq!(v["removed"], 3, "{v}");
    let ev = events.recv().unwrap();
    assert_eq!((ev["event"].as_str(), ev["port"].as_u64()), (Some("flushed"), Some(0)), "{ev}");
    let v = Admin::connect(&d.admin).unwrap().call(r#"{"op":"ports"}"#).unwrap();
    assert!(v["ports"].as_array().is_some_and(|l| l.len() == 1 && l[0]["gid"] == h3.gid.to_string()), "{v}");

    d.process.signal(Signal::SIGTERM).unwrap();
    let st = d.process.wait_timeout(Duration::from_secs(10)).unwrap().expect("daemon exits");
    assert!(st.success(), "{st:?}\n{}", d.log());

    // Port settings that cannot work: exit 78, one line naming the problem.
    let cases: [(&[&str], &str); 3] = [
        (&["--port", "0", "--port", "0"], "port 0 is given twice"),
        (&["--port", "all", "--port", "0"], "--port all cannot be combined"),
        (&["--port", "0", "--upstream-lid", "1", "--upstream-lid", "2"], "2 upstreams for 1 ports"),
    ];
    for (args, expect) in cases {
        let out = fabric
            .command("H0003", LOCALSA)
            .args(["daemon", "--config"])
            .arg(&d.config)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: expected {expect:?} in {err}");
    }
    eprintln!("port options: {:.2?}", t0.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
    drop(d);
    net.fabric.shutdown().expect("teardown");
}
