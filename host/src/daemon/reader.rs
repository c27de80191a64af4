//! The umad reader threads, one per port.
//!
//! Under the ibsim shim, `poll` on a set that contains the umad descriptor waits on that
//! descriptor alone, and the umad descriptor cannot go into an epoll set at all (it is a fake
//! number only the shim's `poll`/`read` know). So for each port one thread does nothing but
//! wait on that port's umad descriptor (with a short timeout, to notice shutdown), read each
//! MAD, hand it to the engine thread tagged with the port's index, over a bounded channel all
//! readers share, and wake that thread through an eventfd, which *is* in its epoll set. On a real kernel the same split costs one thread and keeps the engine thread's
//! loop uniform.
//!
//! If the engine thread falls more than [`QUEUE`] MADs behind, further MADs are dropped and
//! counted, as a full receive queue on an HCA would drop them; SA retries cover the loss.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::eventfd::EventFd;

use crate::umad::{Received, UmadPort};

/// MADs queued between the threads, per port.
pub const QUEUE: usize = 4096;

/// A MAD from port `.0` (an index into the ports the daemon serves).
pub type Tagged = (usize, Received);
/// How long one wait on the umad descriptor lasts: the longest shutdown waits for this thread.
const POLL: Duration = Duration::from_millis(50);

/// The running reader.
#[derive(Debug)]
pub struct Reader {
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Reader {
    /// The channel the readers of `ports` ports share.
    pub fn channel(ports: usize) -> (SyncSender<Tagged>, Receiver<Tagged>) {
        mpsc::sync_channel(QUEUE * ports.max(1))
    }

    /// Starts the thread for port `index`; its MADs go into `tx`, each followed by a write to
    /// `wake`.
    pub fn spawn(
        port: Arc<UmadPort>,
        index: usize,
        tx: SyncSender<Tagged>,
        wake: Arc<EventFd>,
    ) -> std::io::Result<Reader> {
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (s, d) = (stop.clone(), dropped.clone());
        let handle = std::thread::Builder::new()
            .name(format!("localsa-umad{}", port.attributes().umad_index))
            .spawn(move || run(&port, index, &tx, &wake, &s, &d))?;
        Ok(Reader { stop, dropped, handle: Some(handle) })
    }

    /// MADs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The drop counter, shared with the engine thread for its statistics.
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    /// Stops the thread and waits for it (at most about one poll interval).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    port: &UmadPort,
    index: usize,
    tx: &SyncSender<Tagged>,
    wake: &EventFd,
    stop: &AtomicBool,
    dropped: &AtomicU64,
) {
    let mut last_error: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        match port.recv(POLL) {
            Ok(Some(mad)) => match tx.try_send((index, mad)) {
                Ok(()) => {
                    let _ = wake.write(1);
                }
                Err(TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    let _ = wake.write(1);
                }
                Err(TrySendError::Disconnected(_)) => break,
            },
            Ok(None) => {}
            Err(e) => {
                // Log at most once a second; pause so that a broken device does not spin.
                if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                    log::error!("umad receive failed port=umad{} error={e}", port.attributes().umad_index);
                    last_error = Some(Instant::now());
                }
                std::thread::sleep(POLL);
            }
        }
    }
}
