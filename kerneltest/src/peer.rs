//! Running `sa-peer` as a child process and reading its report lines.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A running `sa-peer` and every line it printed so far.
#[derive(Debug)]
pub struct Peer {
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
        Ok(Peer { child: Some(child), lines: rx, log: Vec::new(), epoch })
    }

    fn take(&mut self, line: String) {
        self.log.push((self.epoch.elapsed().as_millis() as u64, line));
    }

    /// Reads lines until one starts with `prefix` (returned) or `timeout` passes.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.starts_with(prefix);
                    self.take(line.clone());
                    if hit {
                        return Ok(line);
                    }
                    if line.starts_with("ERROR") {
                        return Err(format!("sa-peer: {line}"));
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return Err(format!("sa-peer exited before {prefix}")),
            }
        }
        Err(format!("sa-peer printed no {prefix} within {} ms", timeout.as_millis()))
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

    /// Closes its stdin (a responder's signal to exit), waits up to `timeout` for it to exit
    /// (killing it after that), reads what it printed, and returns its exit code.
    pub fn finish(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        let Some(mut child) = self.child.take() else { return Ok(None) };
        drop(child.stdin.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status.code()),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("sa-peer still running after {} ms: killed", timeout.as_millis()));
                }
                Err(e) => break Err(format!("waiting for sa-peer: {e}")),
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
        self.log.iter().map(|(t, l)| format!("  sa-peer@{t}ms: {l}\n")).collect()
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
