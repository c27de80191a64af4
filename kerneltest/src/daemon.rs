//! Running `localsa daemon` in the VM and talking to it the way an operator does: the
//! `localsa resolve/stats/dump` commands on its admin socket, `ib_acme` on its ACM socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use localsa::daemon::protocol::PathJson;
use localsa::server::acm::{
    decode_response, AcmRequest, AcmResponse, DecodedResponse, EpFlags, ResolveEntry, ResolveRequest, EP_LEN,
    HDR_LEN,
};
use localsa_core::wire::{Gid, PathRecordRepr};
use serde_json::Value;

use crate::peer::Peer;
use crate::records::{self, RECORD_LEN};

/// Where Debian's ibacm package puts the ACM client (copied into the initramfs).
pub const IB_ACME: &str = "/usr/bin/ib_acme";

/// A running daemon, its sockets, and everything it logged.
#[derive(Debug)]
pub struct Daemon {
    /// The process; its stderr (the log) is read line by line.
    pub proc: Peer,
    /// The admin socket.
    pub admin: PathBuf,
    /// The ACM socket.
    pub acm: PathBuf,
    localsa: PathBuf,
    /// When its `ready` line was read (ms on the driver's clock).
    pub ready_ms: u64,
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// Exit status (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `program` with `args`.
pub fn run(program: &Path, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    Ok(Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

impl Daemon {
    /// Starts `localsa daemon` on umad port `umad` with SA queries going to `upstream` (a GID:
    /// every MAD with a GRH, as on RoCE), sockets in a fresh `/tmp/kt-<name>/`, no pinned or
    /// hosts file, `extra` flags (`--no-subscribe` where the upstream has no SM behind it);
    /// waits for its `ready` log line.
    pub fn start(
        bin: &Path,
        name: &str,
        umad: u32,
        upstream: Gid,
        extra: &[&str],
        epoch: Instant,
    ) -> Result<Daemon, String> {
        Daemon::start_ports(bin, name, &[(umad.to_string(), upstream)], extra, epoch)
    }

    /// [`Self::start`] on several ports: one `--port` and one `--upstream-gid` each, in order
    /// (a port may be `all`).
    pub fn start_ports(
        bin: &Path,
        name: &str,
        ports: &[(String, Gid)],
        extra: &[&str],
        epoch: Instant,
    ) -> Result<Daemon, String> {
        let dir = PathBuf::from(format!("/tmp/kt-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let admin = dir.join("admin.sock");
        let acm = dir.join("acm.sock");
        let localsa = bin.join("localsa");
        let mut args: Vec<String> = vec!["daemon".into()];
        for (port, upstream) in ports {
            args.extend(["--port".into(), port.clone(), "--upstream-gid".into(), upstream.to_string()]);
        }
        args.extend(
            [
                "--acm-socket",
                &acm.to_string_lossy(),
                "--admin-socket",
                &admin.to_string_lossy(),
                "--pinned-file",
                "none",
                "--hosts-file",
                "none",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut proc = Peer::spawn_named("daemon", &localsa, &args, epoch)?;
        proc.wait_until("ready line", |l| l.contains(" ready port="), Duration::from_secs(20))?;
        let ready_ms = epoch.elapsed().as_millis() as u64;
        Ok(Daemon { proc, admin, acm, localsa, ready_ms })
    }

    /// `localsa <command> --socket <admin> <args>`.
    pub fn cli(&self, command: &str, args: &[&str]) -> Result<Output, String> {
        let admin = self.admin.to_string_lossy();
        let mut all = vec![command, "--socket", &admin];
        all.extend_from_slice(args);
        run(&self.localsa, &all)
    }

    /// `localsa <command> --json ...`, which must succeed, as JSON.
    pub fn cli_json(&self, command: &str, args: &[&str]) -> Result<Value, String> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.cli(command, &all)?;
        if out.code != 0 {
            return Err(format!("localsa {command} {args:?}: exit {}: {}", out.code, out.stderr.trim()));
        }
        serde_json::from_str(&out.stdout)
            .map_err(|e| format!("localsa {command} --json: {e}: {}", out.stdout))
    }

    /// `localsa stats --json`.
    pub fn stats(&self) -> Result<Value, String> {
        self.cli_json("stats", &[])
    }

    /// Polls `stats` until `done` accepts it or `limit` passes; returns the last stats.
    pub fn stats_until(&self, limit: Duration, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.stats()?;
            if done(&s) || Instant::now() >= deadline {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ib_acme -S <acm socket> <args>`.
    pub fn ib_acme(&self, args: &[&str]) -> Result<Output, String> {
        let acm = self.acm.to_string_lossy();
        let mut all = vec!["-S", &acm];
        all.extend_from_slice(args);
        run(Path::new(IB_ACME), &all)
    }

    /// A path-form ACM resolve for `template` (as `ib_acme -f g` sends it) on the ACM socket;
    /// returns the 64 bytes of the first path of the answer as they came (an
    /// `ibv_path_record`, the same layout as the SA's PathRecord).
    pub fn acm_resolve_raw(&self, tid: u64, template: PathRecordRepr) -> Result<[u8; RECORD_LEN], String> {
        let request = AcmRequest::Resolve(ResolveRequest::path(tid, EpFlags::empty(), template));
        let bytes = request.encode().map_err(|e| format!("ACM request: {e}"))?;
        let mut sock = UnixStream::connect(&self.acm).map_err(|e| format!("{}: {e}", self.acm.display()))?;
        sock.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        sock.write_all(&bytes).map_err(|e| format!("ACM write: {e}"))?;
        let mut buf = vec![0u8; HDR_LEN];
        sock.read_exact(&mut buf).map_err(|e| format!("ACM read: {e}"))?;
        loop {
            match decode_response(&buf).map_err(|e| format!("ACM answer: {e}"))? {
                DecodedResponse::NeedMore { total } => {
                    let have = buf.len();
                    buf.resize(total, 0);
                    sock.read_exact(&mut buf[have..]).map_err(|e| format!("ACM read: {e}"))?;
                }
                DecodedResponse::Complete { response: AcmResponse::Resolve { tid: t, entries }, .. } => {
                    if t != tid || !matches!(entries.first(), Some(ResolveEntry::Path(_))) {
                        return Err(format!("ACM answer tid {t:#x}, entries {entries:?}"));
                    }
                    // The first entry's info: after its flags, type and reserved fields.
                    let at = HDR_LEN + EP_LEN - RECORD_LEN;
                    let mut out = [0u8; RECORD_LEN];
                    out.copy_from_slice(&buf[at..at + RECORD_LEN]);
                    return Ok(out);
                }
                DecodedResponse::Complete { response, .. } => return Err(format!("ACM answer {response:?}")),
            }
        }
    }

    /// The daemon's resident memory (`VmRSS` of `/proc/PID/status`), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proc.pid()?)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
    }

    /// SIGTERM, and its exit status (0 for a clean stop); its agent is unregistered after.
    pub fn stop(&mut self) -> Result<Option<i32>, String> {
        self.proc.terminate(Duration::from_secs(10))
    }
}

/// A counter of a stats section (0 when missing).
pub fn counter(stats: &Value, section: &str, name: &str) -> u64 {
    stats[section][name].as_u64().unwrap_or(0)
}

/// The wire bytes of a path as the admin protocol prints it.
pub fn path_bytes(path: &Value) -> Result<[u8; RECORD_LEN], String> {
    let p: PathJson = serde_json::from_value(path.clone()).map_err(|e| format!("path {path}: {e}"))?;
    let r = p.to_repr().map_err(|e| format!("path {path}: {e}"))?;
    let mut out = [0u8; RECORD_LEN];
    localsa_core::wire::SaAttribute::encode(&r, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Checks a path printed by the daemon against record `index` of the table with `seed`, byte
/// for byte.
pub fn check_path(path: &Value, index: u32, seed: u32) -> Result<(), String> {
    check_path_from(path, index, seed, None)
}

/// [`check_path`] against the record with its SGID replaced by `sgid` (`sa-peer respond
/// --sgid`).
pub fn check_path_from(path: &Value, index: u32, seed: u32, sgid: Option<Gid>) -> Result<(), String> {
    let got = path_bytes(path)?;
    let mut want = [0u8; RECORD_LEN];
    localsa_core::wire::SaAttribute::encode(&records::record_from(index, seed, sgid), &mut want)
        .map_err(|e| e.to_string())?;
    match (0..RECORD_LEN).find(|&b| got[b] != want[b]) {
        None => Ok(()),
        Some(b) => Err(format!(
            "path for record {index} differs at byte {b}: {:#04x}, expected {:#04x}\n  got  {path}\n  want {:?}",
            got[b],
            want[b],
            records::record_from(index, seed, sgid)
        )),
    }
}

/// The `Path information` block `ib_acme` prints (`  key: value` lines).
pub fn acme_path(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Path information") {
            inside = true;
            continue;
        }
        if inside {
            match line.trim().split_once(':') {
                Some((k, v)) if line.starts_with("  ") => {
                    out.push((k.trim().to_owned(), v.trim().to_owned()))
                }
                _ => inside = false,
            }
        }
    }
    out
}

/// A number as ib_acme prints it (decimal or `0x` hex).
fn num(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Checks every field of ib_acme's path printout against record `index` of the table with
/// `seed`; returns how many fields were compared. ib_acme prints MTU, rate and packet
/// lifetime with `& 0x1F` (rdma-core's `acme.c`), dropping the top bit of each 6-bit code, so
/// those are compared as it prints them; [`Daemon::acm_resolve_raw`] checks the bytes.
pub fn check_acme_path(text: &str, index: u32, seed: u32) -> Result<usize, String> {
    check_acme_path_from(text, index, seed, None)
}

/// [`check_acme_path`] against the record with its SGID replaced by `sgid`.
pub fn check_acme_path_from(text: &str, index: u32, seed: u32, sgid: Option<Gid>) -> Result<usize, String> {
    let fields = acme_path(text);
    if fields.is_empty() {
        return Err(format!("ib_acme printed no path:\n{text}"));
    }
    let r = records::record_from(index, seed, sgid);
    let want: [(&str, u64); 11] = [
        ("dlid", r.dlid as u64),
        ("slid", r.slid as u64),
        ("flow label", r.flow_label as u64),
        ("hop limit", r.hop_limit as u64),
        ("tclass", r.tclass as u64),
        ("reversible", r.reversible as u64),
        ("pkey", r.pkey as u64),
        ("sl", r.sl as u64),
        ("mtu", (r.mtu.raw() & 0x1f) as u64),
        ("rate", (r.rate.raw() & 0x1f) as u64),
        ("packet lifetime", (r.packet_lifetime.0 & 0x1f) as u64),
    ];
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    let mut compared = 0;
    for (k, gid) in [("dgid", r.dgid), ("sgid", r.sgid)] {
        let v = get(k).ok_or_else(|| format!("ib_acme printed no {k}:\n{text}"))?;
        if Gid::parse(v) != Some(gid) {
            return Err(format!("ib_acme {k} {v}, record {index} has {gid}:\n{text}"));
        }
        compared += 1;
    }
    for (k, value) in want {
        let v = get(k).ok_or_else(|| format!("ib_acme printed no {k}:\n{text}"))?;
        if num(v) != Some(value) {
            return Err(format!("ib_acme {k} {v}, record {index} has {value}:\n{text}"));
        }
        compared += 1;
    }
    Ok(compared)
}

/// The counters `ib_acme -P` prints (a `svc,Error Count,...` header and a row of values).
pub fn acme_perf(text: &str) -> Result<Vec<(String, u64)>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("svc,"))
        .ok_or_else(|| format!("no counter header in ib_acme -P:\n{text}"))?;
    let names = lines[header].split(',');
    let values = lines.get(header + 1).ok_or_else(|| format!("no counter row:\n{text}"))?.split(',');
    Ok(names.zip(values).skip(1).map(|(n, v)| (n.to_owned(), v.trim().parse().unwrap_or(u64::MAX))).collect())
}
