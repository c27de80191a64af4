//! Shared by the daemon tests: a fabric with OpenSM, a `localsa daemon` attached to one of its
//! nodes (configured through a TOML file in a private directory), and small clients for both
//! sockets.

#![allow(dead_code)] // each test binary uses part of this module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use localsa_testbed::{Fabric, FabricOptions, OpenSm, OpenSmOptions, Process, Topology};
use serde_json::Value;

/// The daemon binary under test.
pub const LOCALSA: &str = env!("CARGO_BIN_EXE_localsa");

/// A fabric with OpenSM running and ready.
pub struct Net {
    pub fabric: Fabric,
    pub sm: OpenSm,
}

impl Net {
    /// `topology` with OpenSM on `H0001`.
    pub fn start(label: &str, topology: &Topology, opts: OpenSmOptions) -> Net {
        let fabric = Fabric::start(topology, FabricOptions::labelled(label)).expect("fabric");
        let sm = fabric.start_opensm("H0001", opts).expect("opensm");
        sm.wait_ready(Duration::from_secs(30)).expect("subnet up");
        Net { fabric, sm }
    }
}

/// A daemon under test.
pub struct Daemon {
    pub process: Process,
    pub dir: PathBuf,
    pub acm: PathBuf,
    pub admin: PathBuf,
    pub config: PathBuf,
    pub node: String,
}

/// A private directory for one daemon's sockets and files (world-traversable, so that the
/// unprivileged-client test can reach the admin socket).
pub fn private_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("localsa-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

impl Daemon {
    /// Starts `localsa daemon` on `node` with the sockets in `dir`, `extra` appended to the
    /// generated config file and `args` on the command line; waits until it answers.
    pub fn start(fabric: &Fabric, node: &str, dir: &Path, extra: &str, args: &[&str]) -> Daemon {
        Self::start_with(fabric, node, dir, extra, args, false, &[])
    }

    /// [`Daemon::start`], attached with `SIM_SET_ISSM=1` (it then receives Reports).
    pub fn start_issm(fabric: &Fabric, node: &str, dir: &Path, extra: &str, args: &[&str]) -> Daemon {
        Self::start_with(fabric, node, dir, extra, args, true, &[])
    }

    /// The name of the daemon's log in the fabric directory, for a daemon using `dir`.
    pub fn log_name(dir: &Path) -> String {
        format!("localsa-{}", dir.file_name().unwrap().to_string_lossy())
    }

    /// [`Daemon::start`] with more environment variables.
    pub fn start_with(
        fabric: &Fabric,
        node: &str,
        dir: &Path,
        extra: &str,
        args: &[&str],
        issm: bool,
        env: &[(&str, String)],
    ) -> Daemon {
        let acm = dir.join("acm.sock");
        let admin = dir.join("admin.sock");
        let config = dir.join("localsa.toml");
        let text = format!(
            "[daemon]\nacm_socket = {:?}\nadmin_socket = {:?}\npinned_file = {:?}\nhosts_file = {:?}\n{extra}",
            acm.display().to_string(),
            admin.display().to_string(),
            dir.join("pinned.json").display().to_string(),
            dir.join("hosts").display().to_string(),
        );
        std::fs::write(&config, text).unwrap();
        let mut cmd = if issm { fabric.command_issm(node, LOCALSA) } else { fabric.command(node, LOCALSA) };
        cmd.arg("daemon").arg("--config").arg(&config).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let name = Self::log_name(dir);
        let process = fabric.spawn_logged(&name, cmd).expect("spawn daemon");
        let d = Daemon { process, dir: dir.to_owned(), acm, admin, config, node: node.into() };
        d.wait_ready();
        d
    }

    /// Waits until the admin socket answers `stats`.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = Admin::connect(&self.admin) {
                if c.call(r#"{"op":"stats"}"#).is_ok() {
                    return;
                }
            }
            if !self.process.is_running() {
                panic!("daemon exited early:\n{}", self.process.log().unwrap_or_default());
            }
            assert!(
                Instant::now() < deadline,
                "daemon not ready:\n{}",
                self.process.log().unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `localsa ARGS --socket <admin>` (the CLI needs no fabric: it talks to the socket).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(LOCALSA).args(args).arg("--socket").arg(&self.admin).output().expect("run localsa")
    }

    /// The daemon's `stats` answer.
    pub fn stats(&self) -> Value {
        Admin::connect(&self.admin).unwrap().call(r#"{"op":"stats"}"#).unwrap()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.process.log().unwrap_or_default()
    }

    /// The engine counters of `stats`.
    pub fn engine(&self) -> Value {
        self.stats()["engine"].clone()
    }

    /// One engine counter.
    pub fn counter(&self, name: &str) -> u64 {
        let e = self.engine();
        e[name].as_u64().unwrap_or_else(|| panic!("no engine counter {name}: {e}"))
    }

    /// A `resolve` over the admin socket with the given JSON fields (`"dgid":"..."`); the
    /// final answer line (`ok` with `paths`, or `error`).
    pub fn resolve(&self, fields: &str) -> Value {
        Admin::connect(&self.admin).unwrap().call(&format!(r#"{{"op":"resolve",{fields}}}"#)).unwrap()
    }

    /// The whole table as `dump` streams it: every entry of every chunk.
    pub fn dump(&self) -> Vec<Value> {
        let mut a = Admin::connect(&self.admin).unwrap();
        a.send(r#"{"op":"dump"}"#);
        let mut entries = Vec::new();
        loop {
            let v = a.recv().unwrap();
            if let Some(e) = v["entries"].as_array() {
                entries.extend(e.iter().cloned());
            }
            if v.get("ok").is_some() || v.get("error").is_some() {
                assert_eq!(v["ok"], true, "dump: {v}");
                return entries;
            }
        }
    }

    /// Waits until `pred` holds for the engine counters; returns them.
    pub fn wait_engine(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let e = self.engine();
            if pred(&e) {
                return e;
            }
            assert!(Instant::now() < deadline, "{what}: not within {timeout:?}: {e}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// A subscriber to the daemon's event stream.
    pub fn events(&self) -> Admin {
        let mut a = Admin::connect(&self.admin).unwrap();
        let v = a.call(r#"{"id":"ev","op":"events"}"#).unwrap();
        assert_eq!(v["ok"], true, "{v}");
        a
    }

    /// SIGTERM, and a clean exit.
    pub fn stop(&self) {
        self.process.signal(localsa_testbed::Signal::SIGTERM).unwrap();
        let st = self.process.wait_timeout(Duration::from_secs(10)).unwrap().expect("daemon exits");
        assert!(st.success(), "{st:?}\n{}", self.log());
    }
}

/// Reads events until one satisfies `pred` (at most `timeout`).
pub fn wait_event(a: &mut Admin, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    a.stream.set_read_timeout(Some(timeout)).unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        let v = a.recv().unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "no {what} within {timeout:?}");
    }
}

/// The DGIDs of the path entries of a dump.
pub fn dumped_dgids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["kind"] == "path")
        .filter_map(|e| e["path"]["dgid"].as_str().map(str::to_owned))
        .collect()
}

/// A raw admin-socket client.
pub struct Admin {
    pub stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Admin {
    pub fn connect(path: &Path) -> std::io::Result<Admin> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Admin::from_stream(stream)
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: UnixStream) -> std::io::Result<Admin> {
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Admin { stream, reader })
    }

    /// Sends one line.
    pub fn send(&mut self, line: &str) {
        self.stream.write_all(line.as_bytes()).unwrap();
        self.stream.write_all(b"\n").unwrap();
    }

    /// Reads one line as JSON (`Err` on EOF or timeout).
    pub fn recv(&mut self) -> Result<Value, String> {
        let mut s = String::new();
        match self.reader.read_line(&mut s) {
            Ok(0) => Err("eof".into()),
            Ok(_) => serde_json::from_str(&s).map_err(|e| format!("{e}: {s}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends a request and returns its final answer line (`ok` or `error`).
    pub fn call(&mut self, line: &str) -> Result<Value, String> {
        self.send(line);
        loop {
            let v = self.recv()?;
            if v.get("ok").is_some() || v.get("error").is_some() {
                return Ok(v);
            }
        }
    }
}

/// Raw ACM messages (host order, as libacm writes them).
pub mod acm {
    use super::*;

    /// A path-form resolve: one `ACM_EP_INFO_PATH` entry with SLID/DLID (or GIDs) set and
    /// `reversible_numpath` 0x81, flags as given (0, NODELAY 0x40000000, QUERY_SA 0x80000000).
    pub fn resolve_lids(tid: u64, slid: u16, dlid: u16, flags: u32) -> Vec<u8> {
        let mut m = header(0x01, 88, tid);
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&0x10u16.to_ne_bytes());
        m.extend_from_slice(&[0, 0]);
        let mut path = [0u8; 64];
        path[40..42].copy_from_slice(&dlid.to_be_bytes());
        path[42..44].copy_from_slice(&slid.to_be_bytes());
        path[49] = 0x81;
        m.extend_from_slice(&path);
        m
    }

    /// A 16-byte header.
    pub fn header(opcode: u8, length: u16, tid: u64) -> Vec<u8> {
        let mut h = vec![1, opcode, 0, 0, 0, 0];
        h.extend_from_slice(&length.to_ne_bytes());
        h.extend_from_slice(&tid.to_ne_bytes());
        h
    }

    /// A perf query for all counters.
    pub fn perf(tid: u64) -> Vec<u8> {
        let mut h = vec![1, 0x02, 0, 0, 0, 0];
        h.extend_from_slice(&16u16.to_be_bytes());
        h.extend_from_slice(&tid.to_ne_bytes());
        h
    }

    /// Reads one answer: (opcode, status, whole message).
    pub fn read_answer(s: &mut UnixStream) -> std::io::Result<(u8, u8, Vec<u8>)> {
        let mut h = [0u8; 16];
        s.read_exact(&mut h)?;
        // Resolve answers are host order, perf/endpoint network order.
        let len = if h[1] & 0x0f == 0x01 {
            u16::from_ne_bytes([h[6], h[7]])
        } else {
            u16::from_be_bytes([h[6], h[7]])
        };
        let mut body = vec![0u8; (len as usize).saturating_sub(16)];
        s.read_exact(&mut body)?;
        let mut all = h.to_vec();
        all.extend_from_slice(&body);
        Ok((h[1], h[2], all))
    }

    /// The DLID of the first path in a resolve answer.
    pub fn answer_dlid(msg: &[u8]) -> Option<u16> {
        let path = msg.get(16 + 8..16 + 72)?;
        Some(u16::from_be_bytes([path[40], path[41]]))
    }
}

/// A PathRecord printed by `saquery -p`, as field -> value (numbers parsed, GIDs as text).
pub fn saquery_path(fabric: &Fabric, node: &str, args: &[&str]) -> BTreeMap<String, String> {
    let mut all = vec!["-p"];
    all.extend_from_slice(args);
    let out = fabric.run_saquery(node, &all).expect("saquery");
    parse_dump(&out)
}

/// Parses `name.......value` lines.
pub fn parse_dump(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(i) = l.find("..") {
            let key = l[..i].to_owned();
            let value = l[i..].trim_start_matches('.').to_owned();
            m.insert(key, value);
        }
    }
    m
}

/// A number as saquery prints it (`0x...` or decimal).
pub fn num(s: &str) -> u64 {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).unwrap_or_else(|_| panic!("not hex: {s}")),
        None => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
    }
}

/// Asserts that a path as the admin protocol prints it equals saquery's, field by field.
pub fn assert_same_path(ours: &Value, sa: &BTreeMap<String, String>, what: &str) {
    let gid = |k: &str| ours[k].as_str().unwrap().to_owned();
    let n = |k: &str| ours[k].as_u64().unwrap_or_else(|| panic!("{what}: no {k} in {ours}"));
    let b = |k: &str| u64::from(ours[k].as_bool().unwrap());
    let sel = |s: &str, v: &str| (n(s) << 6) | n(v);
    let hop_flow_raw = (b("raw_traffic") << 31) | (n("flow_label") << 8) | n("hop_limit");
    let checks: Vec<(&str, String, String)> = vec![
        (
            "service_id",
            format!("{}", num(ours["service_id"].as_str().unwrap())),
            num(&sa["service_id"]).to_string(),
        ),
        ("dgid", gid("dgid"), sa["dgid"].clone()),
        ("sgid", gid("sgid"), sa["sgid"].clone()),
        ("dlid", n("dlid").to_string(), num(&sa["dlid"]).to_string()),
        ("slid", n("slid").to_string(), num(&sa["slid"]).to_string()),
        ("hop_flow_raw", hop_flow_raw.to_string(), num(&sa["hop_flow_raw"]).to_string()),
        ("tclass", n("tclass").to_string(), num(&sa["tclass"]).to_string()),
        (
            "num_path_revers",
            ((b("reversible") << 7) | n("numb_path")).to_string(),
            num(&sa["num_path_revers"]).to_string(),
        ),
        ("pkey", n("pkey").to_string(), num(&sa["pkey"]).to_string()),
        (
            "qos_class/sl",
            ((n("qos_class") << 4) | n("sl")).to_string(),
            ((num(&sa["qos_class"]) << 4) | num(&sa["sl"])).to_string(),
        ),
        ("mtu", sel("mtu_selector", "mtu").to_string(), num(&sa["mtu"]).to_string()),
        ("rate", sel("rate_selector", "rate").to_string(), num(&sa["rate"]).to_string()),
        (
            "pkt_life",
            sel("packet_lifetime_selector", "packet_lifetime").to_string(),
            num(&sa["pkt_life"]).to_string(),
        ),
        ("preference", n("preference").to_string(), num(&sa["preference"]).to_string()),
    ];
    for (field, a, b) in checks {
        assert_eq!(
            a, b,
            "{what}: field {field} differs: localsa {a}, saquery {b}\nours: {ours}\nsaquery: {sa:?}"
        );
    }
}

/// Runs `f` on `items` with `threads` workers, keeping results in order.
pub fn parallel<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                *results[i].lock().unwrap() = Some(r);
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap().unwrap()).collect()
}

/// Test start-up and teardown shared by every daemon test file: the fabric is torn down on drop.
pub fn fat_tree(n: usize) -> Topology {
    Topology::fat_tree(n).expect("topology")
}

/// The JSON a successful `localsa ... --json` printed; the exit status and both streams when
/// it failed.
pub fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// OpenSM for tests that receive Reports: `-d 0` (the daemon attaches with SIM_SET_ISSM=1,
/// which OpenSM would otherwise poll as another SM), a sweep every second so links going down
/// and up are noticed, and debug logging (0x08) so OpenSM logs each ReportResp it receives.
pub fn opensm_for_reports() -> OpenSmOptions {
    OpenSmOptions {
        ignore_other_sms: true,
        sweep_seconds: 1,
        log_flags: Some(0x0b),
        ..OpenSmOptions::default()
    }
}
