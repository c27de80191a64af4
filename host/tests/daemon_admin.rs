//! The admin side: the client commands (`resolve`, `add`, `del`, `flush`, `dump`, `stats`),
//! privileges (SO_PEERCRED: an unprivileged user may resolve and read, not change; a
//! configured admin group may), the event stream (a flush, and a real trap 65 from OpenSM when
//! a port goes down), pinned entries surviving a restart, a damaged pinned file moved aside,
//! systemd socket activation, and configuration errors (exit 78 naming the key and line).

mod daemon_support;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::{fat_tree, json, private_dir, Admin, Daemon, Net, LOCALSA};
use localsa_testbed::{OpenSmOptions, Signal};
use serde_json::Value;

/// `localsa ARGS --socket S` as user `nobody`.
fn as_nobody(d: &Daemon, args: &[&str]) -> std::process::Output {
    Command::new(LOCALSA).args(args).arg("--socket").arg(&d.admin).uid(65534).gid(65534).output().unwrap()
}

fn stop(d: &Daemon) {
    d.process.signal(Signal::SIGTERM).unwrap();
    let st = d.process.wait_timeout(Duration::from_secs(10)).unwrap().expect("daemon exits");
    assert!(st.success(), "{st:?}\n{}", d.log());
}

fn wait_event(a: &mut Admin, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = a.recv().unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "no {what}");
    }
}

#[test]
fn admin_commands_privileges_events_pins_and_socket_activation() {
    let t0 = Instant::now();
    // The daemon attaches with SIM_SET_ISSM=1 to receive Reports; OpenSM must then ignore
    // other SMs, and sweeps every second to notice a port going down.
    let opts = OpenSmOptions { ignore_other_sms: true, sweep_seconds: 1, ..OpenSmOptions::default() };
    let net = Net::start("admin", &fat_tree(16), opts);
    let fabric = &net.fabric;
    let dir = private_dir("admin");
    let d = Daemon::start_issm(fabric, "H0003", &dir, "", &[]);
    let (h3, h9, h10) = (
        fabric.port_addr("H0003").unwrap(),
        fabric.port_addr("H0009").unwrap(),
        fabric.port_addr("H0010").unwrap(),
    );

    // resolve: text and JSON.
    let out = d.cli(&["resolve", "--dlid", &h9.lid.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("source: sa\n")
            && text.contains(&format!("dlid                             {}", h9.lid)),
        "{text}"
    );
    let v = json(&d.cli(&[
        "resolve",
        "--json",
        "--dgid",
        &h10.gid.to_string(),
        "--pkey",
        "0xffff",
        "--reversible",
    ]));
    assert_eq!(v["paths"][0]["dgid"], h10.gid.to_string());
    let out = d.cli(&["resolve", "--dlid", "999", "--cache-only"]);
    assert_eq!(out.status.code(), Some(1), "not cached: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_cached"));
    let out = d.cli(&["resolve", "--dlid", "999"]);
    assert_eq!(out.status.code(), Some(1), "no such LID: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no_path"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = json(&d.cli(&["dump", "--json"]));
    assert!(
        dump["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "negative" && e["query"]["dlid"] == 999),
        "the SA's no-path answer is cached as a negative entry: {dump}"
    );

    // Events: a subscriber sees a flush and a trap.
    let mut events = Admin::connect(&d.admin).unwrap();
    let v = events.call(r#"{"id":"ev","op":"events"}"#).unwrap();
    assert_eq!(v["ok"], true, "{v}");

    // add / del: a pinned path for a destination the SA does not know is served from the cache.
    let v = json(&d.cli(&[
        "add",
        "--json",
        "--sgid",
        &h3.gid.to_string(),
        "--dgid",
        "fe80::dead",
        "--slid",
        &h3.lid.to_string(),
        "--dlid",
        "999",
        "--mtu",
        "2048",
        "--rate",
        "56",
        "--packet-lifetime",
        "18",
    ]));
    assert_eq!((v["result"].as_str(), v["persisted"].as_bool()), (Some("inserted"), Some(true)), "{v}");
    wait_event(&mut events, "pinned event", |e| e["event"] == "pinned");
    let v = json(&d.cli(&["resolve", "--json", "--dlid", "999"]));
    assert_eq!(
        (v["source"].as_str(), v["paths"][0]["rate"].as_u64(), v["paths"][0]["mtu"].as_u64()),
        (Some("cache"), Some(12), Some(4)),
        "{v}"
    );
    // A real path pinned as resolve printed it.
    let real = json(&d.cli(&["resolve", "--json", "--dlid", &h9.lid.to_string()]));
    let out = Command::new(LOCALSA)
        .args(["add", "--path", "-", "--socket"])
        .arg(&d.admin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(real["paths"][0].to_string().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dump = json(&d.cli(&["dump", "--json", "--chunk", "1"]));
    let entries = dump["entries"].as_array().unwrap();
    assert_eq!(dump["total"].as_u64(), Some(entries.len() as u64));
    assert_eq!(entries.iter().filter(|e| e["pinned"] == true).count(), 2, "{dump}");
    assert!(!entries.iter().any(|e| e["kind"] == "negative"), "the pin replaced the negative entry: {dump}");
    let pinned_file = std::fs::read_to_string(dir.join("pinned.json")).unwrap();
    assert!(pinned_file.contains("fe80::dead"), "{pinned_file}");

    // flush: by LID, then everything; pins stay.
    let v = json(&d.cli(&["flush", "--json", "--lid", &h10.lid.to_string()]));
    assert_eq!(v["removed"].as_u64(), Some(1), "{v}");
    let e = wait_event(&mut events, "flushed event", |e| e["event"] == "flushed");
    assert_eq!(e["removed"].as_u64(), Some(1), "{e}");
    json(&d.cli(&["resolve", "--json", "--dlid", &h10.lid.to_string()]));
    let v = json(&d.cli(&["flush", "--json"]));
    assert_eq!(v["removed"].as_u64(), Some(1), "only the unpinned entry goes: {v}");
    let dump = json(&d.cli(&["dump", "--json"]));
    assert!(dump["entries"].as_array().unwrap().iter().all(|e| e["pinned"] == true), "{dump}");

    // Privileges: nobody may read and resolve, not change.
    let out = as_nobody(&d, &["flush"]);
    assert_eq!(out.status.code(), Some(77), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`flush` needs root") && err.lines().count() == 1, "{err}");
    assert_eq!(as_nobody(&d, &["del", "--dlid", "999"]).status.code(), Some(77));
    assert!(as_nobody(&d, &["stats"]).status.success());
    assert!(as_nobody(&d, &["dump"]).status.success());
    let out = as_nobody(&d, &["resolve", "--dlid", &h9.lid.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(as_nobody(&d, &["events"]).status.code(), Some(77), "the event stream needs privilege");

    // A trap: H0010 goes down; OpenSM's Report(trap 65) reaches the daemon, which drops the
    // entries for that GID and tells its subscribers.
    json(&d.cli(&["resolve", "--json", "--dgid", &h10.gid.to_string()]));
    fabric.unlink("H0010").unwrap();
    let e = wait_event(&mut events, "trap 65", |e| e["event"] == "invalidated" && e["trap"] == 65);
    assert_eq!(e["gid"], h10.gid.to_string(), "{e}");
    fabric.relink("H0010").unwrap();
    let reports = d.stats()["engine"]["reports"].as_u64().unwrap();
    assert!(reports >= 1);

    // Pins survive a restart.
    drop(events);
    stop(&d);
    let d = Daemon::start_issm(fabric, "H0003", &dir, "", &["--admin-group", "nogroup"]);
    let v = json(&d.cli(&["resolve", "--json", "--dlid", "999"]));
    assert_eq!(v["source"], "cache", "the pin came back: {v}");
    // The admin group may change things.
    let out = as_nobody(&d, &["del", "--dlid", "999"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!std::fs::read_to_string(dir.join("pinned.json")).unwrap().contains("fe80::dead"));
    stop(&d);

    // A damaged pinned file is moved aside, not dropped.
    std::fs::write(
        dir.join("pinned.json"),
        b"{\"format\": \"localsa-pinned\", \"version\": 1, \"entries\": [ {oops",
    )
    .unwrap();
    let d = Daemon::start_issm(fabric, "H0003", &dir, "", &[]);
    let aside: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pinned.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(d.log().contains("pinned file damaged"), "{}", d.log());
    assert_eq!(json(&d.cli(&["dump", "--json"]))["total"], 0);
    stop(&d);

    // Socket activation: systemd-socket-activate binds both sockets and execs the daemon with
    // LISTEN_FDS on the first connection; the daemon leaves the socket files alone on exit.
    let acm = dir.join("sa-acm.sock");
    let admin = dir.join("sa-admin.sock");
    let mut cmd = fabric.command_issm("H0003", "systemd-socket-activate");
    cmd.arg(format!("--listen={}", acm.display()))
        .arg(format!("--listen={}", admin.display()))
        .arg("--fdname=acm:admin")
        .args(["-E", "LD_PRELOAD", "-E", "IBSIM_SOCKNAME", "-E", "SIM_HOST", "-E", "SIM_SET_ISSM"])
        .arg(LOCALSA)
        .args([
            "daemon",
            "--acm-socket",
            "none",
            "--admin-socket",
            "none",
            "--pinned-file",
            "none",
            "--hosts-file",
            "none",
        ]);
    let p = fabric.spawn_logged("socket-activated", cmd).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        if let Ok(mut a) = Admin::connect(&admin) {
            if let Ok(v) = a.call(r#"{"op":"ports"}"#) {
                break v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "socket-activated daemon not answering:\n{}",
            p.log().unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(v["ports"][0]["lid"].as_u64(), Some(h3.lid as u64), "{v}");
    let out = Command::new("/usr/bin/ib_acme")
        .arg("-S")
        .arg(&acm)
        .args(["-f", "l", "-d", &h9.lid.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let log = p.log().unwrap_or_default();
    assert!(
        log.contains("socket from systemd socket=acm") && log.contains("socket from systemd socket=admin"),
        "{log}"
    );
    p.signal(Signal::SIGTERM).unwrap();
    let st = p.wait_timeout(Duration::from_secs(10)).unwrap().expect("exits");
    assert!(st.success(), "{st:?}");
    assert!(acm.exists() && admin.exists(), "sockets owned by the service manager stay");

    eprintln!("admin test: {:.2?}", t0.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
    net.fabric.shutdown().expect("teardown");
}

#[test]
fn configuration_errors_exit_78_naming_key_and_line() {
    let dir = private_dir("config");
    let cases: [(&str, &[&str], &str); 5] = [
        ("[sa]\nsa_depth = 4\nsa_dept = 5\n", &[], "line 3: key sa.sa_dept: unknown field `sa_dept`"),
        ("[clients]\nmax_clients = 0\n", &[], "line 2: key clients.max_clients: 0 is out of range"),
        ("[cache]\npositive_lifetime = \"forever\"\n", &[], "line 2: key cache.positive_lifetime"),
        ("[daemon]\nlog_level = \"chatty\"\n", &[], "line 2: key daemon.log_level"),
        ("", &["--sa-depth", "0"], "key --sa-depth: 0 is out of range"),
    ];
    for (i, (text, args, expect)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out =
            Command::new(LOCALSA).arg("daemon").arg("--config").arg(&path).args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{text:?}: {err}");
        assert!(err.contains(expect), "{text:?}: expected {expect:?} in {err:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    let out =
        Command::new(LOCALSA).args(["daemon", "--config", "/nonexistent/localsa.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    // The sample configuration in contrib/ is valid and complete.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/localsa.toml");
    let text = std::fs::read_to_string(sample).unwrap();
    let settings = localsa::daemon::config::Settings::from_text(
        Some(std::path::Path::new(sample)),
        &text,
        &localsa::daemon::config::Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.engine, localsa_core::engine::Config::DEFAULT, "the sample documents the defaults");
    let _ = std::fs::remove_dir_all(&dir);
}
