//! Child processes of a fabric: the registry that guarantees teardown, and the handle of a spawned
//! child.
//!
//! Every child runs in its own process group (`setpgid(0, 0)` via `CommandExt::process_group`), so
//! stopping it signals the whole group and reaches its own children too. Stopping is: SIGTERM to the
//! group, wait (polling the leader with `waitid(WNOWAIT)`, which does not reap it, so the group id
//! cannot be recycled meanwhile) up to a grace period, SIGKILL to the group (whatever is left of it,
//! leader or stragglers), then reap the leader.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::fabric::Shared;

/// How often bounded waits poll their condition.
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// Teardown order: lower tiers stop first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tier {
    /// Our daemons, tools, anything spawned by a test.
    Client,
    /// OpenSM instances.
    OpenSm,
    /// The simulator itself.
    Ibsim,
}

/// A child owned by the registry.
#[derive(Debug)]
pub(crate) struct Managed {
    pub id: u64,
    pub tier: Tier,
    pub name: String,
    pub child: Child,
    /// The child's pid, which is also its process group id.
    pub pgid: Pid,
    /// Set once the leader is reaped.
    pub status: Option<ExitStatus>,
}

impl Managed {
    pub fn new(id: u64, tier: Tier, name: String, child: Child) -> Self {
        let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        Managed { id, tier, name, child, pgid, status: None }
    }

    /// Reaps the leader if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status =
                self.child.try_wait().map_err(|e| Error::io(format!("waiting for {}", self.name), e))?;
        }
        Ok(self.status)
    }

    /// True once the leader has exited (zombie or reaped), without reaping it.
    fn leader_exited(&self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(self.pgid), flags) {
            Ok(WaitStatus::StillAlive) => false,
            Ok(_) => true,
            // ECHILD: not our child any more (already reaped); anything else: treat as gone.
            Err(_) => true,
        }
    }
}

/// Sends `sig` to the process group and, in case the leader left its group, to the leader.
fn signal(m: &Managed, sig: Signal) {
    let _ = killpg(m.pgid, sig);
    if m.status.is_none() {
        let _ = kill(m.pgid, sig);
    }
}

/// Stops several children at once: SIGTERM (if `term_first`), wait up to `grace` for every leader,
/// SIGKILL to every group, reap every leader (bounded). Never panics.
pub(crate) fn stop_all(children: &mut [&mut Managed], grace: Duration, term_first: bool) {
    if term_first {
        for m in children.iter() {
            // A reaped leader may have left children in its group: they get the SIGKILL below.
            if m.status.is_none() {
                signal(m, Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        while !children.iter().all(|m| m.leader_exited()) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
    for m in children.iter() {
        signal(m, Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for m in children.iter_mut() {
        while m.status.is_none() {
            match m.child.try_wait() {
                Ok(Some(status)) => m.status = Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                // Unkillable (D state) or not ours any more: give up rather than hang teardown.
                _ => break,
            }
        }
    }
}

/// All children of a fabric.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    procs: Mutex<Vec<Managed>>,
    next_id: AtomicU64,
}

impl Registry {
    pub fn lock(&self) -> MutexGuard<'_, Vec<Managed>> {
        // A panic while the lock was held must not prevent teardown.
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, tier: Tier, name: String, child: Child) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().push(Managed::new(id, tier, name, child));
        id
    }

    fn with<T>(&self, id: u64, f: impl FnOnce(&mut Managed) -> Result<T>) -> Result<T> {
        let mut procs = self.lock();
        let m = procs
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| Error::InvalidArgument(format!("no process #{id} in this fabric")))?;
        f(m)
    }

    pub fn try_wait(&self, id: u64) -> Result<Option<ExitStatus>> {
        self.with(id, |m| m.try_wait())
    }

    pub fn signal(&self, id: u64, sig: Signal) -> Result<()> {
        self.with(id, |m| {
            if m.try_wait()?.is_some() {
                return Err(Error::InvalidArgument(format!("{} has already exited", m.name)));
            }
            signal(m, sig);
            Ok(())
        })
    }

    /// Stops one child (see [`stop_all`]); returns how the leader ended.
    pub fn stop(&self, id: u64, grace: Duration, term_first: bool) -> Result<ExitStatus> {
        self.with(id, |m| {
            let _ = m.try_wait()?;
            stop_all(&mut [&mut *m], grace, term_first);
            m.status.ok_or_else(|| Error::Timeout {
                what: format!("{} (pid {}) to die after SIGKILL", m.name, m.pgid),
                after: grace + Duration::from_secs(2),
                detail: String::new(),
            })
        })
    }

    /// Stops every child of `tier` together.
    pub fn stop_tier(&self, tier: Tier, grace: Duration) {
        let mut procs = self.lock();
        let mut group: Vec<&mut Managed> = procs.iter_mut().filter(|m| m.tier == tier).collect();
        for m in group.iter_mut() {
            let _ = m.try_wait();
        }
        stop_all(&mut group, grace, true);
    }
}

/// A child spawned with [`Fabric::spawn`](crate::Fabric::spawn): it is stopped when the fabric is
/// dropped at the latest (before OpenSM and ibsim), with its whole process group.
#[derive(Debug)]
pub struct Process {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
    pub(crate) pid: u32,
    pub(crate) name: String,
    pub(crate) log: Option<PathBuf>,
    pub(crate) stdout: Option<ChildStdout>,
    pub(crate) stderr: Option<ChildStderr>,
}

impl Process {
    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The program name it was spawned with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its output goes, for children started with [`Fabric::spawn_logged`](crate::Fabric::spawn_logged).
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Its log so far (see [`log_path`](Process::log_path)); empty when it has none.
    pub fn log(&self) -> Result<String> {
        match &self.log {
            Some(p) => read_lossy(p),
            None => Ok(String::new()),
        }
    }

    /// Takes the read end of its stdout, if it was spawned with `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Takes the read end of its stderr, if it was spawned with `Stdio::piped()`.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    /// Its exit status if it has exited (reaps it), `None` while it runs.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.shared.registry.try_wait(self.id)
    }

    /// True while it runs.
    pub fn is_running(&self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for it to exit on its own; `None` if it still runs.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends a signal to its process group.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        self.shared.registry.signal(self.id, sig)
    }

    /// SIGTERM to its group, up to the fabric's grace period, then SIGKILL; returns how it ended.
    pub fn stop(&self) -> Result<ExitStatus> {
        self.shared.registry.stop(self.id, self.shared.stop_grace, true)
    }

    /// SIGKILL to its group at once; returns how it ended.
    pub fn kill(&self) -> Result<ExitStatus> {
        self.shared.registry.stop(self.id, Duration::ZERO, false)
    }
}

/// Reads a whole file as text, replacing invalid UTF-8.
pub(crate) fn read_lossy(path: &Path) -> Result<String> {
    read_lossy_from(path, 0).map(|(s, _)| s)
}

/// Reads a file from byte `offset` to its end as text; returns the text and the new end offset.
pub(crate) fn read_lossy_from(path: &Path, offset: u64) -> Result<(String, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    f.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(format!("seeking {}", path.display()), e))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let end = offset + buf.len() as u64;
    Ok((String::from_utf8_lossy(&buf).into_owned(), end))
}

/// The last `lines` lines of a file, for error messages; empty if it cannot be read.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let Ok(len) = std::fs::metadata(path).map(|m| m.len()) else { return String::new() };
    let from = len.saturating_sub(16 * 1024);
    let Ok((text, _)) = read_lossy_from(path, from) else { return String::new() };
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
