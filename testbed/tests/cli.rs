//! The `localsa-fabric` binary, as scripts use it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use localsa_testbed::{assert_no_leftovers, processes_with_sockname, Topology};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_localsa-fabric");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("localsa-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for the env file and parses its `export K=V` lines.
fn read_env(path: &Path, child: &mut Child) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(child.try_wait().unwrap().is_none(), "localsa-fabric exited early");
        assert!(Instant::now() < deadline, "no env file");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "localsa-fabric did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `sminfo` with the exported environment, as a script would after `eval`.
fn sminfo_with(env: &HashMap<String, String>, node: &str) -> String {
    let out = Command::new("sminfo")
        .envs(env)
        .env("SIM_HOST", node)
        .current_dir(&env["LOCALSA_FABRIC_DIR"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn up_until_stdin_closes() {
    let dir = scratch("stdin");
    let env_file = dir.join("env");
    let mut child = Command::new(BIN)
        .args(["up", "--topology", "fat-tree:16", "--opensm", "H0001", "--dir"])
        .arg(&dir)
        .arg("--env-file")
        .arg(&env_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let env = read_env(&env_file, &mut child);
    let sock = env["IBSIM_SOCKNAME"].clone();
    assert!(sminfo_with(&env, "H0016").contains("SMINFO_MASTER"));
    // The console FIFO takes commands from anyone.
    std::fs::write(&env["LOCALSA_FABRIC_CONSOLE"], "# hello from a script\n").unwrap();

    drop(child.stdin.take());
    assert!(wait_exit(&mut child).success());
    assert_no_leftovers(&sock);
    assert!(!Path::new(&env["LOCALSA_FABRIC_DIR"]).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn up_until_sigterm() {
    let dir = scratch("sigterm");
    let env_file = dir.join("env");
    let mut child = Command::new(BIN)
        .args(["up", "--topology", "star:3", "--opensm", "H0002", "--no-stdin", "--dir"])
        .arg(&dir)
        .arg("--env-file")
        .arg(&env_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let env = read_env(&env_file, &mut child);
    let sock = env["IBSIM_SOCKNAME"].clone();
    assert!(sminfo_with(&env, "H0001").contains("SMINFO_MASTER"));
    // The front blocks SIGTERM; ibsim and OpenSM must not inherit that (they would ignore SIGTERM).
    let procs = processes_with_sockname(&sock);
    assert_eq!(procs.len(), 2, "{procs:?}");
    for p in &procs {
        let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid)).unwrap();
        let blocked = status.lines().find_map(|l| l.strip_prefix("SigBlk:")).unwrap().trim();
        let mask = u64::from_str_radix(blocked, 16).unwrap();
        assert_eq!(mask & (1 << (15 - 1)), 0, "{} blocks SIGTERM ({blocked})", p.cmdline);
    }
    let t = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(wait_exit(&mut child).success());
    eprintln!("teardown after SIGTERM took {:?}", t.elapsed());
    assert_no_leftovers(&sock);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn netfile_and_errors() {
    let out = Command::new(BIN).args(["netfile", "fat-tree:64"]).output().unwrap();
    assert!(out.status.success());
    let topo = Topology::parse_netfile(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(topo.hcas().len(), 64);
    assert_eq!(topo.switches().len(), 4 + 18);

    let out = Command::new(BIN).args(["up", "--topology", "star:many"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad count"));
    let out = Command::new(BIN).args(["frobnicate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}
