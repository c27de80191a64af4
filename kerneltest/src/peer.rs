//! Running `sa-peer` (or the daemon) as a child process and reading its report lines.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A running `sa-peer` (or `localsa daemon`) and every line it printed so far.
#[derive(Debug)]
pub struct Peer {
    /// What the log calls it (`sa-peer`, `daemon` ...).
    name: &'static str,
    child: Option<Child>,
    lines: Receiver<String>,
    /// The lines read so far (stderr lines prefixed `stderr: `), with the driver's time in
    /// milliseconds since `epoch` when each was read.
    pub log: Vec<(u64, String)>,
    epoch: Instant,
}

fn forward(from: impl Read + Send + 'static, prefix: &'static str, to: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if to.send(format!("{prefix}{line}")).is_err() {
                break;
            }
        }
    });
}

impl Peer {
    /// Starts `bin` with `args`; its stdin stays open until [`Self::finish`].
    pub fn spawn(bin: &Path, args: &[String], epoch: Instant) -> Result<Peer, String> {
        Peer::spawn_named("sa-peer", bin, args, epoch)
    }

    /// [`Self::spawn`], with the name its lines carry in a report.
    pub fn spawn_named(
        name: &'static str,
        bin: &Path,
        args: &[String],
        epoch: Instant,
    ) -> Result<Peer, String> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            forward(out, "", tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(err, "stderr: ", tx);
        }
        Ok(Peer { name, child: Some(child), lines: rx, log: Vec::new(), epoch })
    }

    fn take(&mut self, line: String) {
        self.log.push((self.epoch.elapsed().as_millis() as u64, line));
    }

    /// Reads lines until one starts with `prefix` (returned) or `timeout` passes.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        self.wait_until(prefix, |l| l.starts_with(prefix), timeout)
    }

    /// Reads lines until `hit` accepts one (returned) or `timeout` passes; `what` names it in
    /// the error.
    pub fn wait_until(
        &mut self,
        what: &str,
        hit: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, String> {
        let name = self.name;
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = hit(&line);
                    self.take(line.clone());
                    if found {
                        return Ok(line);
                    }
                    if line.starts_with("ERROR") {
                        return Err(format!("{name}: {line}"));
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return Err(format!("{name} exited before {what}")),
            }
        }
        Err(format!("{name} printed no {what} within {} ms", timeout.as_millis()))
    }

    /// The child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Takes the lines printed so far without waiting.
    pub fn poll(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.take(line);
        }
    }

    /// The first line read that starts with `prefix`, with the time it was read.
    pub fn find(&self, prefix: &str) -> Option<&(u64, String)> {
        self.log.iter().find(|(_, l)| l.starts_with(prefix))
    }

    /// Every line read so far that starts with `prefix`.
    pub fn all(&self, prefix: &str) -> Vec<&str> {
        self.log.iter().filter(|(_, l)| l.starts_with(prefix)).map(|(_, l)| l.as_str()).collect()
    }

    /// Closes its stdin (a responder's signal to exit), waits up to `timeout` for it to exit
    /// (killing it after that), reads what it printed, and returns its exit code.
    pub fn finish(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        self.stop(false, timeout)
    }

    /// Sends it SIGTERM (how the daemon is stopped), then as [`Self::finish`].
    pub fn terminate(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        self.stop(true, timeout)
    }

    fn stop(&mut self, sigterm: bool, timeout: Duration) -> Result<Option<i32>, String> {
        let name = self.name;
        let Some(mut child) = self.child.take() else { return Ok(None) };
        if sigterm {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
                .map_err(|e| format!("cannot signal {name}: {e}"))?;
        }
        drop(child.stdin.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status.code()),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("{name} still running after {} ms: killed", timeout.as_millis()));
                }
                Err(e) => break Err(format!("waiting for {name}: {e}")),
            }
        };
        // The readers end at EOF, which follows the exit.
        let drain = Instant::now() + Duration::from_millis(500);
        while let Some(left) = drain.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take(line),
                Err(_) => break,
            }
        }
        status
    }

    /// The log as text, one line each, for a failing test's report.
    pub fn text(&self) -> String {
        self.log.iter().map(|(t, l)| format!("  {}@{t}ms: {l}\n", self.name)).collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
