//! A running simulated fabric: ibsim with its console, the clients attached to it, teardown.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::Ipv6Addr;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::stat::Mode;

use crate::capture::{parse_packet_dumps, parse_routed, CapturedMad, RoutedMad};
use crate::error::{package_hint, Error, Result};
use crate::leftovers::{wait_no_leftovers, LeftoverProcess};
use crate::opensm::{OpenSm, OpenSmOptions};
use crate::process::{read_lossy, read_lossy_from, stop_all, tail, Managed, Process, Registry, Tier, POLL};
use crate::topology::Topology;

/// Where Debian installs the umad → ibsim shim.
pub const DEFAULT_SHIM: &str = "/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so";
/// Set to `1` to keep every fabric's directory (logs, netfile, OpenSM cache) after teardown.
pub const KEEP_ENV: &str = "LOCALSA_KEEP_FABRIC";
/// How long tool runs ([`Fabric::run_saquery`] and friends) may take by default.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a console command may take to be acknowledged.
pub const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest console command: ibsim reads console lines into a 128-byte buffer.
pub const MAX_CONSOLE_LINE: usize = 120;
/// ibsim's limit of attached clients (OpenSM and every running tool count).
pub const MAX_CLIENTS: usize = 10;

/// How to start a [`Fabric`].
#[derive(Clone, Debug)]
pub struct FabricOptions {
    /// Directory in which the fabric's private directory is created. Default: `std::env::temp_dir()`
    /// (`$TMPDIR`, else `/tmp`).
    pub parent_dir: Option<PathBuf>,
    /// A label put into the directory name (e.g. the test name), to find it when kept.
    pub label: Option<String>,
    /// Keep the directory after teardown (also when the environment has `LOCALSA_KEEP_FABRIC=1`).
    pub keep: bool,
    /// How long ibsim may take to read the netfile and open its sockets.
    pub ready_timeout: Duration,
    /// Grace between SIGTERM and SIGKILL when stopping each tier of processes.
    pub stop_grace: Duration,
    /// The ibsim program.
    pub ibsim: PathBuf,
    /// Extra ibsim arguments, before the netfile (e.g. `-N 4096` to raise the node limit).
    pub ibsim_args: Vec<String>,
    /// The `libumad2sim.so` shim preloaded into every client.
    pub shim: PathBuf,
}

impl Default for FabricOptions {
    fn default() -> Self {
        FabricOptions {
            parent_dir: None,
            label: None,
            keep: false,
            ready_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_secs(3),
            ibsim: PathBuf::from("ibsim"),
            ibsim_args: Vec::new(),
            shim: PathBuf::from(DEFAULT_SHIM),
        }
    }
}

impl FabricOptions {
    /// Default options with a label (see [`FabricOptions::label`]).
    pub fn labelled(label: &str) -> Self {
        FabricOptions { label: Some(label.to_string()), ..Self::default() }
    }
}

/// State shared by a fabric and the handles it gives out.
#[derive(Debug)]
pub(crate) struct Shared {
    pub registry: Registry,
    pub dir: PathBuf,
    pub sockname: String,
    pub shim: PathBuf,
    pub stop_grace: Duration,
    pub nodes: HashSet<String>,
    pub hcas: Vec<String>,
}

impl Shared {
    pub fn command(&self, node: &str, program: impl AsRef<OsStr>, issm: bool) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("LD_PRELOAD", &self.shim)
            .env("IBSIM_SOCKNAME", &self.sockname)
            .env("SIM_HOST", node)
            .env_remove("IBSIM_SERVER_NAME")
            .env_remove("IBSIM_SERVER_PORT")
            .current_dir(&self.dir)
            .process_group(0);
        if issm {
            cmd.env("SIM_SET_ISSM", "1");
        } else {
            cmd.env_remove("SIM_SET_ISSM");
        }
        cmd
    }

    pub fn check_node(&self, node: &str) -> Result<()> {
        if self.nodes.contains(node) {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!("no node {node:?} in this fabric")))
        }
    }

    pub fn run(&self, cmd: Command, timeout: Duration) -> Result<Output> {
        run_command(cmd, timeout)
    }

    /// Runs a tool attached to `node` and returns its stdout; a non-zero exit is an error.
    pub fn run_tool(&self, node: &str, program: &str, args: &[&str], timeout: Duration) -> Result<String> {
        self.check_node(node)?;
        let mut cmd = self.command(node, program, false);
        cmd.args(args);
        let out = self.run(cmd, timeout)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(Error::CommandFailed {
                command: format!("SIM_HOST={node} {program} {}", args.join(" ")),
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// `sminfo` attached to `node`; `mad_timeout_ms` is its `-t` (per-MAD timeout, default 1000 ms).
    pub fn sminfo(&self, node: &str, mad_timeout_ms: Option<u32>, timeout: Duration) -> Result<SmInfo> {
        let t = mad_timeout_ms.map(|t| t.to_string());
        let args: Vec<&str> = t.as_deref().map(|t| vec!["-t", t]).unwrap_or_default();
        let out = self.run_tool(node, "sminfo", &args, timeout)?;
        SmInfo::parse(&out)
    }

    pub fn port_addr(&self, node: &str) -> Result<PortAddr> {
        let out = self.run_tool(node, "ibaddr", &[], TOOL_TIMEOUT)?;
        PortAddr::parse(&out)
    }
}

/// What `sminfo` reports about the master SM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmInfo {
    /// LID of the SM.
    pub lid: u16,
    /// Port GUID of the SM.
    pub guid: u64,
    /// ActCount.
    pub activity_count: u32,
    /// Priority.
    pub priority: u8,
    /// SMState: 0 not active, 1 discovering, 2 standby, 3 master.
    pub state: u8,
}

impl SmInfo {
    /// SMState of a master.
    pub const MASTER: u8 = 3;

    /// Parses `sminfo: sm lid 1 sm guid 0x100001, activity count 62 priority 0 state 3 SMINFO_MASTER`.
    pub fn parse(text: &str) -> Result<Self> {
        let err = || Error::Parse { what: "sminfo output".into(), text: text.to_string() };
        let words: Vec<&str> = text.split_whitespace().map(|w| w.trim_end_matches(',')).collect();
        let after = |key: &[&str]| -> Option<&str> {
            words.windows(key.len() + 1).find(|w| w[..key.len()] == *key).map(|w| w[key.len()])
        };
        Ok(SmInfo {
            lid: after(&["sm", "lid"]).and_then(|v| v.parse().ok()).ok_or_else(err)?,
            guid: after(&["sm", "guid"]).and_then(parse_hex_u64).ok_or_else(err)?,
            activity_count: after(&["activity", "count"]).and_then(|v| v.parse().ok()).ok_or_else(err)?,
            priority: after(&["priority"]).and_then(|v| v.parse().ok()).ok_or_else(err)?,
            state: after(&["state"]).and_then(|v| v.parse().ok()).ok_or_else(err)?,
        })
    }

    /// True when the SM is MASTER.
    pub fn is_master(&self) -> bool {
        self.state == Self::MASTER
    }
}

/// Address of a node's port, as `ibaddr` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortAddr {
    /// Port GID (subnet prefix and port GUID).
    pub gid: Ipv6Addr,
    /// Base LID; 0 until an SM has configured the port.
    pub lid: u16,
}

impl PortAddr {
    /// Parses `GID fe80::10:5 LID start 0x4 end 0x4`.
    pub fn parse(text: &str) -> Result<Self> {
        let err = || Error::Parse { what: "ibaddr output".into(), text: text.to_string() };
        let words: Vec<&str> = text.split_whitespace().collect();
        let pos = |k: &str| words.iter().position(|w| *w == k);
        let gid = pos("GID").and_then(|i| words.get(i + 1)).and_then(|g| g.parse().ok()).ok_or_else(err)?;
        let lid = pos("start")
            .and_then(|i| words.get(i + 1))
            .and_then(|l| parse_hex_u64(l))
            .and_then(|l| u16::try_from(l).ok())
            .ok_or_else(err)?;
        Ok(PortAddr { gid, lid })
    }

    /// The port GUID (low 64 bits of the GID).
    pub fn guid(&self) -> u64 {
        (u128::from(self.gid) & u128::from(u64::MAX)) as u64
    }
}

/// A client attached to ibsim, as its `Attached` console command lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedClient {
    /// ibsim's client number (0..10).
    pub client: u32,
    /// The client's pid.
    pub pid: u32,
    /// The node it is attached to.
    pub node: String,
    /// Port GUID.
    pub port_guid: u64,
    /// LID of the port.
    pub lid: u16,
    /// QP it registered (0 for an SM).
    pub qp: u32,
    /// Attached with `SIM_SET_ISSM=1` (receives requests: SMPs, Reports).
    pub issm: bool,
}

impl AttachedClient {
    /// Parses one `Client 1: pid 31581 connected at "H1" port 0x100001, lid 1, qp 0 SM` line.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix("Client ")?;
        let (num, rest) = rest.split_once(':')?;
        let node = rest.split('"').nth(1)?.to_string();
        let after_node = rest.splitn(3, '"').nth(2)?;
        let words: Vec<&str> = after_node.split_whitespace().map(|w| w.trim_end_matches(',')).collect();
        let get = |k: &str| words.iter().position(|w| *w == k).and_then(|i| words.get(i + 1)).copied();
        let pid = rest.split_whitespace().nth(1)?.parse().ok()?;
        Some(AttachedClient {
            client: num.trim().parse().ok()?,
            pid,
            node,
            port_guid: get("port").and_then(parse_hex_u64)?,
            lid: get("lid")?.parse().ok()?,
            qp: get("qp")?.parse().ok()?,
            issm: words.last() == Some(&"SM"),
        })
    }
}

/// A byte position in ibsim's log, to look only at what came after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogMark(pub u64);

/// A running simulated fabric (see the [crate documentation](crate) for an example).
///
/// Dropping it stops everything it started — spawned clients first, then OpenSM, then ibsim — and
/// removes its directory unless kept. That also happens when a test panics (Drop runs on unwind).
#[derive(Debug)]
pub struct Fabric {
    shared: Arc<Shared>,
    topology: Topology,
    netfile: PathBuf,
    ibsim_log: PathBuf,
    ibsim_id: u64,
    ibsim_pid: u32,
    console: Mutex<Option<File>>,
    console_seq: AtomicU64,
    keep: bool,
    torn_down: bool,
}

static FABRIC_COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok() {
        return u32::from_ne_bytes(b);
    }
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

impl Fabric {
    /// Starts ibsim on `topology` in a fresh private directory and waits until it accepts clients.
    ///
    /// The directory holds the netfile (`topology.net`), the console FIFO (`console`), ibsim's output
    /// (`ibsim.log`), one directory per OpenSM, the logs of [`spawn_logged`](Fabric::spawn_logged)
    /// children, and the `sys-PID` trees the shim creates in its clients' working directory.
    pub fn start(topology: &Topology, opts: FabricOptions) -> Result<Fabric> {
        topology.check_limits()?;
        if topology.nodes().is_empty() {
            return Err(Error::Topology("empty topology".into()));
        }
        if !opts.shim.exists() {
            return Err(Error::Missing {
                what: opts.shim.display().to_string(),
                hint: package_hint("libumad2sim.so"),
            });
        }
        let pid = std::process::id();
        let n = FABRIC_COUNTER.fetch_add(1, Ordering::Relaxed);
        let parent = opts.parent_dir.clone().unwrap_or_else(std::env::temp_dir);
        let label = opts
            .label
            .as_deref()
            .map(|l| {
                let clean: String = l
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
                    .take(40)
                    .collect();
                format!("{clean}-")
            })
            .unwrap_or_default();
        let (dir, rand) = loop {
            let rand = random_u32();
            let dir = parent.join(format!("localsa-fabric-{label}{pid}-{n}-{rand:08x}"));
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break (dir, rand),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
            }
        };
        let sockname = format!("localsa-{pid}-{n}-{rand:08x}");
        let keep = opts.keep || std::env::var(KEEP_ENV).is_ok_and(|v| v == "1");

        let shared = Arc::new(Shared {
            registry: Registry::default(),
            dir: dir.clone(),
            sockname,
            shim: opts.shim.clone(),
            stop_grace: opts.stop_grace,
            nodes: topology.node_names().into_iter().collect(),
            hcas: topology.hcas(),
        });
        // From here on, an early return drops `fabric`, which tears down what was started.
        let mut fabric = Fabric {
            shared,
            topology: topology.clone(),
            netfile: PathBuf::new(),
            ibsim_log: dir.join("ibsim.log"),
            ibsim_id: u64::MAX,
            ibsim_pid: 0,
            console: Mutex::new(None),
            console_seq: AtomicU64::new(0),
            keep,
            torn_down: false,
        };
        fabric.netfile = match topology.source() {
            Some(src) => src.to_path_buf(),
            None => {
                let p = dir.join("topology.net");
                topology.write_netfile(&p)?;
                p
            }
        };
        fabric.spawn_ibsim(&opts)?;
        fabric.wait_ready(opts.ready_timeout)?;
        // Proves the console works end to end (FIFO → ibsim → log).
        fabric.console("# console check")?;
        Ok(fabric)
    }

    fn spawn_ibsim(&mut self, opts: &FabricOptions) -> Result<()> {
        let fifo = self.dir().join("console");
        nix::unistd::mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|e| Error::io(format!("mkfifo {}", fifo.display()), e.into()))?;
        // Opening a FIFO blocks until the other side opens, except O_RDWR (Linux): hold one while the
        // read end is opened for ibsim and our write end is opened, then let it go, so that ibsim is
        // the only reader and we are the only writer (writes then fail with EPIPE if ibsim dies).
        let rdwr = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .map_err(|e| Error::io(format!("opening {}", fifo.display()), e))?;
        let rd = File::open(&fifo).map_err(|e| Error::io(format!("opening {}", fifo.display()), e))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.ibsim_log)
            .map_err(|e| Error::io(format!("creating {}", self.ibsim_log.display()), e))?;
        let log2 = log.try_clone().map_err(|e| Error::io("duplicating the log fd", e))?;
        let mut cmd = Command::new(&opts.ibsim);
        cmd.arg("-s")
            .args(&opts.ibsim_args)
            .arg(&self.netfile)
            .stdin(rd)
            .stdout(log)
            .stderr(log2)
            .env("IBSIM_SOCKNAME", self.sockname())
            .current_dir(self.dir())
            .process_group(0);
        let program = opts.ibsim.display().to_string();
        let child = cmd.spawn().map_err(|e| Error::spawn(&program, e))?;
        self.ibsim_pid = child.id();
        self.ibsim_id = self.shared.registry.add(Tier::Ibsim, "ibsim".into(), child);
        let wr = OpenOptions::new()
            .write(true)
            .open(&fifo)
            .map_err(|e| Error::io(format!("opening {}", fifo.display()), e))?;
        drop(rdwr);
        *self.console_lock() = Some(wr);
        Ok(())
    }

    /// Polls `/proc/net/unix` until ibsim has bound the last of its sockets (`<sockname>:out9`; they
    /// are bound after the netfile is parsed and the "ready" banner printed).
    fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let want = format!("@{}:out{}", self.sockname(), MAX_CLIENTS - 1);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.shared.registry.try_wait(self.ibsim_id)? {
                return Err(Error::Exited {
                    what: "ibsim".into(),
                    status,
                    log_tail: tail(&self.ibsim_log, 30),
                });
            }
            let table =
                fs::read_to_string("/proc/net/unix").map_err(|e| Error::io("reading /proc/net/unix", e))?;
            let bound = table
                .lines()
                .any(|l| l.split_whitespace().last().is_some_and(|path| path.trim_end_matches('@') == want));
            if bound {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "ibsim to open its sockets".into(),
                    after: timeout,
                    detail: tail(&self.ibsim_log, 30),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    fn console_lock(&self) -> MutexGuard<'_, Option<File>> {
        self.console.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fabric's private directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Its unique `IBSIM_SOCKNAME`.
    pub fn sockname(&self) -> &str {
        &self.shared.sockname
    }

    /// The topology it runs.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The netfile ibsim read.
    pub fn netfile(&self) -> &Path {
        &self.netfile
    }

    /// The path of the console FIFO (other processes may write commands to it too).
    pub fn console_path(&self) -> PathBuf {
        self.dir().join("console")
    }

    /// ibsim's pid.
    pub fn ibsim_pid(&self) -> u32 {
        self.ibsim_pid
    }

    /// True while ibsim runs.
    pub fn is_running(&self) -> bool {
        !self.torn_down && matches!(self.shared.registry.try_wait(self.ibsim_id), Ok(None))
    }

    /// Whether the directory will be kept after teardown.
    pub fn keeps_dir(&self) -> bool {
        self.keep
    }

    /// Keep (or not) the directory after teardown.
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// The environment a process needs to attach to `node` of this fabric (LD_PRELOAD,
    /// IBSIM_SOCKNAME, SIM_HOST); it must also run with the fabric directory as working directory or
    /// somewhere it may create `sys-PID` directories.
    pub fn env(&self, node: &str) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.shared.shim.display().to_string()),
            ("IBSIM_SOCKNAME".into(), self.sockname().to_string()),
            ("SIM_HOST".into(), node.to_string()),
        ]
    }

    /// A [`Command`] for `program` attached to `node`: `LD_PRELOAD` = the shim, `IBSIM_SOCKNAME`,
    /// `SIM_HOST=node`, working directory = the fabric directory (the shim writes `./sys-PID` there),
    /// its own process group. `SIM_SET_ISSM` is removed from the environment.
    ///
    /// Run it yourself (`output()`, `status()`) for short tools, or hand it to
    /// [`spawn`](Fabric::spawn) so it is torn down with the fabric.
    pub fn command(&self, node: &str, program: impl AsRef<OsStr>) -> Command {
        self.shared.command(node, program, false)
    }

    /// Like [`command`](Fabric::command) with `SIM_SET_ISSM=1`: the client sets the IsSM capability
    /// bit of its port and receives unsolicited requests (Reports, requests to QP1, RMPP ACKs sent
    /// with the response bit flipped). Start OpenSM with `ignore_other_sms` in such a fabric.
    pub fn command_issm(&self, node: &str, program: impl AsRef<OsStr>) -> Command {
        self.shared.command(node, program, true)
    }

    /// Spawns `cmd` (from [`command`](Fabric::command) or any other) in its own process group and
    /// registers it, so it is stopped with the fabric. Its stdio is whatever `cmd` says; piped ends can
    /// be taken from the returned [`Process`].
    pub fn spawn(&self, mut cmd: Command) -> Result<Process> {
        cmd.process_group(0);
        let name = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd.spawn().map_err(|e| Error::spawn(&name, e))?;
        let pid = child.id();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let id = self.shared.registry.add(Tier::Client, name.clone(), child);
        Ok(Process { shared: self.shared.clone(), id, pid, name, log: None, stdout, stderr })
    }

    /// [`spawn`](Fabric::spawn) with stdin from `/dev/null` and stdout and stderr appended to
    /// `<dir>/<name>.log`.
    pub fn spawn_logged(&self, name: &str, mut cmd: Command) -> Result<Process> {
        if name.is_empty() || name.contains(['/', '\0']) {
            return Err(Error::InvalidArgument(format!("bad log name {name:?}")));
        }
        let path = self.dir().join(format!("{name}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let log2 = log.try_clone().map_err(|e| Error::io("duplicating a log fd", e))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let mut p = self.spawn(cmd)?;
        p.log = Some(path);
        Ok(p)
    }

    /// Runs `cmd` to completion (stdout and stderr captured), killing its process group if it takes
    /// longer than `timeout`. A non-zero exit is not an error here; see [`run_tool`](Fabric::run_tool).
    pub fn run(&self, cmd: Command, timeout: Duration) -> Result<Output> {
        self.shared.run(cmd, timeout)
    }

    /// Runs `program args` attached to `node` and returns its stdout; fails on a non-zero exit or
    /// after [`TOOL_TIMEOUT`].
    pub fn run_tool(&self, node: &str, program: &str, args: &[&str]) -> Result<String> {
        self.shared.run_tool(node, program, args, TOOL_TIMEOUT)
    }

    /// Runs `saquery args` attached to `node` and returns what it printed. `saquery` exits 0 with no
    /// output when the SA answers with no records.
    pub fn run_saquery(&self, node: &str, args: &[&str]) -> Result<String> {
        self.run_tool(node, "saquery", args)
    }

    /// Runs `sminfo` attached to `node`.
    pub fn sminfo(&self, node: &str) -> Result<SmInfo> {
        self.shared.sminfo(node, None, TOOL_TIMEOUT)
    }

    /// The GID and LID of `node`'s port 1 (runs `ibaddr` attached to it; no SM needed, LID 0 until an
    /// SM has configured the port).
    pub fn port_addr(&self, node: &str) -> Result<PortAddr> {
        self.shared.port_addr(node)
    }

    /// The LID of `node`; an error while it is still 0 (no SM has configured it).
    pub fn lid(&self, node: &str) -> Result<u16> {
        match self.port_addr(node)?.lid {
            0 => Err(Error::InvalidArgument(format!("{node} has no LID yet (is an SM running?)"))),
            lid => Ok(lid),
        }
    }

    /// Starts OpenSM attached to `node`; see [`OpenSmOptions`].
    pub fn start_opensm(&self, node: &str, opts: OpenSmOptions) -> Result<OpenSm> {
        OpenSm::start(&self.shared, node, opts)
    }

    /// Sends one console command to ibsim and returns what ibsim printed in answer (prompts, `ibwarn`
    /// lines and packet dumps removed).
    ///
    /// Commands are synchronous: after the command, a comment line with a sequence number is written,
    /// which ibsim echoes to its log once it has processed everything before it; this waits for that
    /// echo. Console syntax (ibsim 0.10 `sim_cmd.c`) is summarised in the crate documentation.
    pub fn console(&self, cmd: &str) -> Result<String> {
        if cmd.contains(['\n', '\r']) || cmd.len() > MAX_CONSOLE_LINE {
            return Err(Error::InvalidArgument(format!(
                "console commands are single lines of at most {MAX_CONSOLE_LINE} bytes: {cmd:?}"
            )));
        }
        let mut guard = self.console_lock();
        let fifo = guard.as_mut().ok_or_else(|| Error::InvalidArgument("the fabric is torn down".into()))?;
        let seq = self.console_seq.fetch_add(1, Ordering::Relaxed);
        let marker = format!("# localsa-sync-{seq}-end");
        let mut offset = fs::metadata(&self.ibsim_log).map(|m| m.len()).unwrap_or(0);
        if let Err(e) = fifo.write_all(format!("{cmd}\n{marker}\n").as_bytes()) {
            if let Ok(Some(status)) = self.shared.registry.try_wait(self.ibsim_id) {
                return Err(Error::Exited {
                    what: "ibsim".into(),
                    status,
                    log_tail: tail(&self.ibsim_log, 30),
                });
            }
            return Err(Error::io("writing to the ibsim console", e));
        }
        let deadline = Instant::now() + CONSOLE_TIMEOUT;
        let mut seen = String::new();
        let mut pause = Duration::from_micros(500);
        loop {
            let (chunk, end) = read_lossy_from(&self.ibsim_log, offset)?;
            offset = end;
            seen.push_str(&chunk);
            if let Some(i) = seen.find(&marker) {
                return Ok(clean_console_output(&seen[..i]));
            }
            if let Some(status) = self.shared.registry.try_wait(self.ibsim_id)? {
                return Err(Error::Exited {
                    what: "ibsim".into(),
                    status,
                    log_tail: tail(&self.ibsim_log, 30),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("ibsim to process console command {cmd:?}"),
                    after: CONSOLE_TIMEOUT,
                    detail: tail(&self.ibsim_log, 20),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(POLL);
        }
    }

    /// [`console`](Fabric::console), failing with [`Error::Console`] when ibsim answers with an error
    /// (its error lines start with `#`, or say the command is unknown).
    pub fn console_checked(&self, cmd: &str) -> Result<String> {
        let response = self.console(cmd)?;
        if response.lines().any(|l| l.starts_with('#') || l.contains("unknown - skipped")) {
            return Err(Error::Console { command: cmd.to_string(), response });
        }
        Ok(response)
    }

    fn quoted(&self, node: &str) -> Result<String> {
        self.shared.check_node(node)?;
        Ok(format!("\"{node}\""))
    }

    /// `Unlink "node"`: takes down every link of the node (ports go Down/Polling; a switch at either
    /// end sends trap 128, so OpenSM resweeps at once). The links are remembered for
    /// [`relink`](Fabric::relink).
    pub fn unlink(&self, node: &str) -> Result<()> {
        self.console_checked(&format!("Unlink {}", self.quoted(node)?)).map(drop)
    }

    /// `ReLink "node"`: restores the links [`unlink`](Fabric::unlink) took down.
    pub fn relink(&self, node: &str) -> Result<()> {
        self.console_checked(&format!("ReLink {}", self.quoted(node)?)).map(drop)
    }

    /// `Unlink "node"[port]`: takes down one link (an error if it is not linked).
    pub fn unlink_port(&self, node: &str, port: u8) -> Result<()> {
        self.console_checked(&format!("Unlink {}[{port}]", self.quoted(node)?)).map(drop)
    }

    /// `ReLink "node"[port]`: restores one link (an error if none was stored).
    pub fn relink_port(&self, node: &str, port: u8) -> Result<()> {
        self.console_checked(&format!("ReLink {}[{port}]", self.quoted(node)?)).map(drop)
    }

    /// `Error "node"[port] RATE [ATTR]`: makes `node`'s port `port` drop packets at random.
    ///
    /// `rate_percent` (0..=100) is a per-packet probability: each packet concerned is dropped when
    /// `random() % 100 < rate`; 0 turns dropping off. Which packets are concerned (ibsim 0.10,
    /// `sim_mad.c`):
    /// - `attr: None`: every packet that **enters** the port from its link, LID-routed or directed
    ///   route — so on an HCA port the packets *to* that HCA (answers to its queries, Reports), on a
    ///   switch port the packets coming *from* the node at the other end of that link (an HCA's
    ///   requests). Counted in the port's PortRcvErrors.
    /// - `attr: Some(id)`: only requests that ibsim answers itself (SMPs, PerfMgt) with that
    ///   AttributeID, when they reach the port whose agent answers (port 0 of a switch). MADs forwarded
    ///   to clients (SA queries to OpenSM, anything to our daemon) are never dropped by an
    ///   attribute-filtered rate, and the link-level dropping above is off for that port.
    ///
    /// Port 0 is accepted for switches (their management port).
    pub fn error_rate(&self, node: &str, port: u8, rate_percent: u8, attr: Option<u16>) -> Result<()> {
        if rate_percent > 100 {
            return Err(Error::InvalidArgument(format!("error rate {rate_percent} not in 0..=100")));
        }
        let attr = attr.map(|a| format!(" {a:#x}")).unwrap_or_default();
        self.console_checked(&format!("Error {}[{port}] {rate_percent}{attr}", self.quoted(node)?)).map(drop)
    }

    /// `Error "node" RATE [ATTR]`: [`error_rate`](Fabric::error_rate) on every port of the node
    /// (port 0 included for a switch).
    pub fn error_rate_all_ports(&self, node: &str, rate_percent: u8, attr: Option<u16>) -> Result<()> {
        if rate_percent > 100 {
            return Err(Error::InvalidArgument(format!("error rate {rate_percent} not in 0..=100")));
        }
        let attr = attr.map(|a| format!(" {a:#x}")).unwrap_or_default();
        self.console_checked(&format!("Error {} {rate_percent}{attr}", self.quoted(node)?)).map(drop)
    }

    /// `Baselid "node"[port] LID [LMC]`: changes the port's LID behind the SM's back (OpenSM puts it
    /// back at its next sweep).
    pub fn baselid(&self, node: &str, port: u8, lid: u16, lmc: Option<u8>) -> Result<()> {
        let lmc = lmc.map(|l| format!(" {l}")).unwrap_or_default();
        self.console_checked(&format!("Baselid {}[{port}] {lid}{lmc}", self.quoted(node)?)).map(drop)
    }

    /// `Verbose LEVEL`: ibsim's verbosity. 0 silent; 1 logs drops and forwards; 2 adds routing
    /// details; 3 (and more) also dumps every MAD a client sends (see [`captured_mads`](Fabric::captured_mads)).
    pub fn verbose(&self, level: u8) -> Result<()> {
        let resp = self.console_checked(&format!("Verbose {level}"))?;
        if resp.contains(&format!("verbose level is {level}")) {
            Ok(())
        } else {
            Err(Error::Console { command: format!("Verbose {level}"), response: resp })
        }
    }

    /// `Attached`: the clients attached to ibsim now (at most [`MAX_CLIENTS`]).
    pub fn attached(&self) -> Result<Vec<AttachedClient>> {
        let resp = self.console_checked("Attached")?;
        Ok(resp.lines().filter_map(AttachedClient::parse).collect())
    }

    /// The current end of ibsim's log.
    pub fn log_mark(&self) -> LogMark {
        LogMark(fs::metadata(&self.ibsim_log).map(|m| m.len()).unwrap_or(0))
    }

    /// Path of ibsim's log (its stdout and stderr).
    pub fn ibsim_log_path(&self) -> &Path {
        &self.ibsim_log
    }

    /// ibsim's whole log.
    pub fn ibsim_log(&self) -> Result<String> {
        read_lossy(&self.ibsim_log)
    }

    /// ibsim's log after `mark`.
    pub fn ibsim_log_since(&self, mark: LogMark) -> Result<String> {
        read_lossy_from(&self.ibsim_log, mark.0).map(|(s, _)| s)
    }

    /// Every MAD ibsim dumped (at `Verbose 3`) since it started. Synchronises with ibsim first, so
    /// every packet it received before this call is included.
    pub fn captured_mads(&self) -> Result<Vec<CapturedMad>> {
        self.captured_mads_since(LogMark(0))
    }

    /// The MADs ibsim dumped after `mark` (see [`captured_mads`](Fabric::captured_mads)).
    pub fn captured_mads_since(&self, mark: LogMark) -> Result<Vec<CapturedMad>> {
        self.console("# capture sync")?;
        Ok(parse_packet_dumps(&self.ibsim_log_since(mark)?))
    }

    /// The deliveries ibsim logged (at `Verbose 2` or more) after `mark`: who sent each MAD to
    /// whom (see [`parse_routed`](crate::parse_routed)). Synchronises with ibsim first.
    pub fn routed_since(&self, mark: LogMark) -> Result<Vec<RoutedMad>> {
        self.console("# routing sync")?;
        Ok(parse_routed(&self.ibsim_log_since(mark)?))
    }

    /// Stops everything (clients, OpenSM, ibsim), then checks that no process carrying this fabric's
    /// `IBSIM_SOCKNAME` is left, and removes the directory unless kept. [`Drop`] does the same
    /// without the check.
    pub fn shutdown(mut self) -> Result<()> {
        self.teardown();
        let left = wait_no_leftovers(self.sockname(), Duration::from_secs(1));
        if left.is_empty() {
            Ok(())
        } else {
            Err(Error::Leftovers(left))
        }
    }

    /// The processes carrying this fabric's socket name right now (ibsim, OpenSM, clients).
    pub fn processes(&self) -> Vec<LeftoverProcess> {
        crate::leftovers::processes_with_sockname(self.sockname())
    }

    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        let reg = &self.shared.registry;
        reg.stop_tier(Tier::Client, self.shared.stop_grace);
        reg.stop_tier(Tier::OpenSm, self.shared.stop_grace);
        // `Quit` first: ibsim exits cleanly even if it inherited a mask that blocks SIGTERM.
        if let Some(console) = self.console_lock().as_mut() {
            let _ = console.write_all(b"Quit\n");
        }
        reg.stop_tier(Tier::Ibsim, self.shared.stop_grace);
        // Only now: closing the write end while ibsim lived would hand it EOF (it then spins).
        *self.console_lock() = None;
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        self.teardown();
        if self.keep {
            let _ = writeln!(std::io::stderr(), "localsa-testbed: fabric kept in {}", self.dir().display());
        } else {
            let _ = fs::remove_dir_all(self.dir());
        }
    }
}

/// Removes prompts, `ibwarn` lines and packet dumps from console output.
fn clean_console_output(text: &str) -> String {
    let mut out = Vec::new();
    let mut skip = 0;
    for line in text.lines() {
        let mut l = line;
        loop {
            let stripped = l.strip_prefix("sim> ").or_else(|| l.strip_prefix("sim (inactive)> "));
            match stripped {
                Some(r) => l = r,
                None => break,
            }
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if l.ends_with("--- packet ---") {
            skip = 16;
            continue;
        }
        let l = l.trim_end();
        if l.is_empty() || l.starts_with("ibwarn:") || l == "sim>" {
            continue;
        }
        out.push(l);
    }
    out.join("\n")
}

fn parse_hex_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Runs a command to completion with captured output and a timeout (see [`Fabric::run`]).
pub(crate) fn run_command(mut cmd: Command, timeout: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().map_err(|e| Error::spawn(&program, e))?;
    let readers = [
        child.stdout.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = s.read_to_end(&mut v);
                v
            })
        }),
        child.stderr.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = s.read_to_end(&mut v);
                v
            })
        }),
    ];
    let mut m = Managed::new(0, Tier::Client, program.clone(), child);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    let status: Option<ExitStatus> = loop {
        match m.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(POLL);
            }
            Ok(None) => break None,
            Err(e) => {
                stop_all(&mut [&mut m], Duration::ZERO, false);
                return Err(e);
            }
        }
    };
    // Kill what is left of its group (a leader that timed out, or children holding the pipes).
    stop_all(&mut [&mut m], Duration::ZERO, false);
    let [out, err] = readers.map(|r| r.and_then(|h| h.join().ok()).unwrap_or_default());
    match status {
        Some(status) => Ok(Output { status, stdout: out, stderr: err }),
        None => Err(Error::Timeout {
            what: format!("{program} to finish"),
            after: timeout,
            detail: format!(
                "stdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sminfo() {
        let i = SmInfo::parse(
            "sminfo: sm lid 1 sm guid 0x100001, activity count 62 priority 0 state 3 SMINFO_MASTER\n",
        )
        .unwrap();
        assert_eq!(i, SmInfo { lid: 1, guid: 0x100001, activity_count: 62, priority: 0, state: 3 });
        assert!(i.is_master());
        assert!(SmInfo::parse("sminfo: iberror: failed: query").is_err());
    }

    #[test]
    fn parses_ibaddr() {
        let a = PortAddr::parse("GID fe80::10:5 LID start 0x4 end 0x4\n").unwrap();
        assert_eq!(a.lid, 4);
        assert_eq!(a.guid(), 0x10_0005);
    }

    #[test]
    fn parses_attached() {
        let c =
            AttachedClient::parse("Client 1: pid 31581 connected at \"H1\" port 0x100001, lid 1, qp 0 SM")
                .unwrap();
        assert_eq!(
            c,
            AttachedClient {
                client: 1,
                pid: 31581,
                node: "H1".into(),
                port_guid: 0x100001,
                lid: 1,
                qp: 0,
                issm: true
            }
        );
        let c = AttachedClient::parse("Client 0: pid 7 connected at \"H 2\" port 0x100003, lid 3, qp 1 ")
            .unwrap();
        assert_eq!(c.node, "H 2");
        assert!(!c.issm);
    }

    #[test]
    fn cleans_console_output() {
        let text = "sim> ibwarn: [1] x\nsim> sim> # error rate must be in [0..100] range (101)\nsim> ";
        assert_eq!(clean_console_output(text), "# error rate must be in [0..100] range (101)");
        assert_eq!(clean_console_output("sim> "), "");
    }
}
