//! OpenSM on a simulated fabric.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fabric::{LogMark, Shared, SmInfo};
use crate::process::{read_lossy_from, tail, Tier, POLL};

/// How [`Fabric::start_opensm`](crate::Fabric::start_opensm) runs OpenSM.
#[derive(Clone, Debug)]
pub struct OpenSmOptions {
    /// `-d 0`: ignore other SM nodes. Needed as soon as one of our processes attaches with
    /// `SIM_SET_ISSM=1` (that sets the IsSM bit of its port; OpenSM would poll it with SMInfo, get no
    /// answer, and stall its sweeps).
    pub ignore_other_sms: bool,
    /// `-s SECONDS` between sweeps; 0 disables periodic sweeps (topology changes then go unnoticed
    /// unless a switch sends a trap). OpenSM's default is 10; tests of topology changes use 1.
    pub sweep_seconds: u32,
    /// `-V`: log everything (the SA's PathRecord queries included).
    pub verbose: bool,
    /// `-D FLAGS`: log levels (0x01 error, 0x02 info, 0x04 verbose, 0x08 debug, ...), when not
    /// `verbose`.
    pub log_flags: Option<u8>,
    /// `-F FILE`: a configuration file (without it OpenSM reads `/etc/opensm/opensm.conf` if present).
    pub config_file: Option<PathBuf>,
    /// More arguments, appended last.
    pub extra_args: Vec<String>,
    /// The OpenSM program.
    pub program: PathBuf,
}

impl Default for OpenSmOptions {
    fn default() -> Self {
        OpenSmOptions {
            ignore_other_sms: false,
            sweep_seconds: 10,
            verbose: false,
            log_flags: None,
            config_file: None,
            extra_args: Vec::new(),
            program: PathBuf::from("opensm"),
        }
    }
}

impl OpenSmOptions {
    /// Defaults with `-s seconds`.
    pub fn sweep(seconds: u32) -> Self {
        OpenSmOptions { sweep_seconds: seconds, ..Self::default() }
    }
}

/// A running OpenSM, started by [`Fabric::start_opensm`](crate::Fabric::start_opensm).
///
/// It runs with `OSM_TMP_DIR` and `OSM_CACHE_DIR` set to `<fabric dir>/opensm-<node>/`, logs to
/// `opensm.log` there (`-f`, always with `-d 2`: flush after each message, so tests can read the log
/// while it runs) and its stdout/stderr go to `opensm.out`. A later OpenSM on the same node reuses the
/// directory, so it finds its cache (guid2lid: LIDs stay the same across an SM restart); its log is
/// appended, and [`opensm_log`](OpenSm::opensm_log) returns only what this instance wrote.
///
/// The fabric stops it at teardown (after the clients, before ibsim); [`stop`](OpenSm::stop) and
/// [`kill`](OpenSm::kill) end it earlier, e.g. for SM-restart scenarios.
#[derive(Debug)]
pub struct OpenSm {
    shared: Arc<Shared>,
    id: u64,
    pid: u32,
    node: String,
    dir: PathBuf,
    log: PathBuf,
    log_start: u64,
}

impl OpenSm {
    pub(crate) fn start(shared: &Arc<Shared>, node: &str, opts: OpenSmOptions) -> Result<OpenSm> {
        shared.check_node(node)?;
        let safe: String =
            node.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let dir = shared.dir.join(format!("opensm-{safe}"));
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let log = dir.join("opensm.log");
        let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let out_path = dir.join("opensm.out");
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .map_err(|e| Error::io(format!("creating {}", out_path.display()), e))?;
        let out2 = out.try_clone().map_err(|e| Error::io("duplicating a log fd", e))?;

        let mut cmd = shared.command(node, &opts.program, false);
        cmd.env("OSM_TMP_DIR", &dir)
            .env("OSM_CACHE_DIR", &dir)
            .arg("-f")
            .arg(&log)
            .arg("-s")
            .arg(opts.sweep_seconds.to_string())
            .args(["-d", "2"]);
        if opts.ignore_other_sms {
            cmd.args(["-d", "0"]);
        }
        if opts.verbose {
            cmd.arg("-V");
        } else if let Some(flags) = opts.log_flags {
            cmd.arg("-D").arg(format!("{flags:#x}"));
        }
        if let Some(cfg) = &opts.config_file {
            cmd.arg("-F").arg(cfg);
        }
        cmd.args(&opts.extra_args).stdin(Stdio::null()).stdout(out).stderr(out2);
        let program = opts.program.display().to_string();
        let child = cmd.spawn().map_err(|e| Error::spawn(&program, e))?;
        let pid = child.id();
        let id = shared.registry.add(Tier::OpenSm, format!("opensm@{node}"), child);
        Ok(OpenSm { shared: shared.clone(), id, pid, node: node.to_string(), dir, log, log_start })
    }

    /// The node it is attached to.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its directory (`OSM_TMP_DIR`, `OSM_CACHE_DIR`, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its log file (`-f`).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What this instance has written to its log so far (tests grep it, e.g. for Report timeouts
    /// or, with `verbose`, for PathRecord queries).
    pub fn opensm_log(&self) -> Result<String> {
        if !self.log.exists() {
            return Ok(String::new());
        }
        read_lossy_from(&self.log, self.log_start).map(|(s, _)| s)
    }

    /// Its exit status once it has exited.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.shared.registry.try_wait(self.id)
    }

    /// True while it runs.
    pub fn is_running(&self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    fn exited(&self, status: ExitStatus) -> Error {
        let mut log_tail = tail(&self.dir.join("opensm.out"), 10);
        let log = tail(&self.log, 20);
        if !log.is_empty() {
            log_tail = format!("{log_tail}\n--- opensm.log ---\n{log}");
        }
        Error::Exited { what: format!("opensm on {}", self.node), status, log_tail }
    }

    /// Polls `sminfo` (attached to another HCA than the SM's when there is one, so LID routing through
    /// the fabric is exercised) until it reports this SM as MASTER.
    pub fn wait_master(&self, timeout: Duration) -> Result<SmInfo> {
        let deadline = Instant::now() + timeout;
        let probe = self.shared.hcas.iter().find(|h| **h != self.node).unwrap_or(&self.node).clone();
        let own_guid = self.shared.port_addr(&self.node).ok().map(|a| a.guid());
        loop {
            if let Some(status) = self.try_wait()? {
                return Err(self.exited(status));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let last = match self.shared.sminfo(
                &probe,
                Some(250),
                remaining.clamp(Duration::from_millis(100), Duration::from_secs(5)),
            ) {
                Ok(info) if info.is_master() && own_guid.is_none_or(|g| g == info.guid) => return Ok(info),
                Ok(info) => format!("{info:?}"),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("opensm on {} to become MASTER (sminfo from {probe})", self.node),
                    after: timeout,
                    detail: last,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The current end of its log, for [`wait_for_log`](OpenSm::wait_for_log).
    pub fn log_mark(&self) -> LogMark {
        LogMark(fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0))
    }

    /// Waits until a line containing `needle` appears in its log after `since`; returns that line.
    pub fn wait_for_log(&self, needle: &str, since: LogMark, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut offset = since.0.max(self.log_start);
        let mut pending = String::new();
        loop {
            if self.log.exists() {
                let (chunk, end) = read_lossy_from(&self.log, offset)?;
                offset = end;
                pending.push_str(&chunk);
                // Only complete lines count; keep a partial last line for the next round.
                let complete = pending.rfind('\n').map_or(0, |i| i + 1);
                if let Some(line) = pending[..complete].lines().find(|l| l.contains(needle)) {
                    return Ok(line.to_string());
                }
                pending.drain(..complete);
            }
            if let Some(status) = self.try_wait()? {
                return Err(self.exited(status));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{needle:?} in the log of opensm on {}", self.node),
                    after: timeout,
                    detail: tail(&self.log, 10),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until this instance has logged `SUBNET UP`: discovery, LID assignment and routing are
    /// done and the SA answers. (MASTER comes earlier: a PathRecord query right after
    /// [`wait_master`](OpenSm::wait_master) can time out on a large fabric.)
    pub fn wait_subnet_up(&self, timeout: Duration) -> Result<()> {
        self.wait_for_log("SUBNET UP", LogMark(self.log_start), timeout).map(drop)
    }

    /// [`wait_master`](OpenSm::wait_master), then [`wait_subnet_up`](OpenSm::wait_subnet_up), within
    /// `timeout` in all.
    pub fn wait_ready(&self, timeout: Duration) -> Result<SmInfo> {
        let deadline = Instant::now() + timeout;
        let info = self.wait_master(timeout)?;
        self.wait_subnet_up(deadline.saturating_duration_since(Instant::now()))?;
        Ok(info)
    }

    /// SIGTERM, up to the fabric's grace period (OpenSM takes about 1.5 s to exit), then SIGKILL.
    pub fn stop(&self) -> Result<ExitStatus> {
        self.shared.registry.stop(self.id, self.shared.stop_grace, true)
    }

    /// SIGKILL at once (an SM crash).
    pub fn kill(&self) -> Result<ExitStatus> {
        self.shared.registry.stop(self.id, Duration::ZERO, false)
    }
}
