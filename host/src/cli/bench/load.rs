//! Closed-loop ACM clients: each connection sends one resolve, waits for its answer, sends the
//! next. Throughput is answers per second over the measuring window; latency is the time from
//! the first byte written to the last byte of the answer read, for every answer that ended
//! inside the window.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::server::acm::{HDR_LEN, OP_MASK, OP_RESOLVE};

/// Client threads need little stack: a few buffers and a sample vector on the heap.
const CLIENT_STACK: usize = 128 * 1024;

/// One measured run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadResult {
    /// Concurrent connections.
    pub clients: usize,
    /// Answers that ended inside the window.
    pub completed: u64,
    /// Of those, answers with a non-zero ACM status.
    pub errors: u64,
    /// Length of the window.
    pub seconds: f64,
    /// `completed / seconds`.
    pub per_second: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest answer.
    pub max_us: f64,
}

/// Reads one ACM message (header, then the body its length names). Resolve answers carry
/// their length in host order, the others in network order.
pub fn read_message(s: &mut UnixStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.resize(HDR_LEN, 0);
    s.read_exact(&mut buf[..HDR_LEN])?;
    let raw = [buf[6], buf[7]];
    let len = if buf[1] & OP_MASK == OP_RESOLVE { u16::from_ne_bytes(raw) } else { u16::from_be_bytes(raw) };
    let len = usize::from(len).max(HDR_LEN);
    buf.resize(len, 0);
    s.read_exact(&mut buf[HDR_LEN..])
}

/// What one client thread measured.
struct ClientTally {
    samples: Vec<u32>,
    errors: u64,
}

/// Runs `clients` connections to `socket` for `warmup` then `window`, cycling through
/// `requests` (each a complete ACM message).
pub fn run(
    socket: &Path,
    clients: usize,
    requests: &[Vec<u8>],
    warmup: Duration,
    window: Duration,
) -> Result<LoadResult, String> {
    if requests.is_empty() || clients == 0 {
        return Err("nothing to send".into());
    }
    // Connect everything first: connection set-up is not what is measured.
    let mut streams = Vec::with_capacity(clients);
    for i in 0..clients {
        let s = UnixStream::connect(socket)
            .map_err(|e| format!("connect {} (client {i}): {e}", socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        streams.push(s);
    }
    let barrier = Arc::new(Barrier::new(clients + 1));
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(requests.to_vec());
    let mut handles = Vec::with_capacity(clients);
    // The window starts when every thread is released; set just before the barrier.
    let start = Arc::new(std::sync::Mutex::new(None::<Instant>));
    for (i, mut s) in streams.into_iter().enumerate() {
        let (barrier, requests, start) = (barrier.clone(), requests.clone(), start.clone());
        let h = std::thread::Builder::new()
            .stack_size(CLIENT_STACK)
            .spawn(move || -> Result<ClientTally, String> {
                barrier.wait();
                let t0 = start.lock().ok().and_then(|t| *t).ok_or_else(|| "no start time".to_string())?;
                let (from, until) = (t0 + warmup, t0 + warmup + window);
                let mut tally = ClientTally { samples: Vec::with_capacity(4096), errors: 0 };
                let mut buf = Vec::with_capacity(256);
                let mut n = i;
                loop {
                    let req = &requests[n % requests.len()];
                    n += 1;
                    let sent = Instant::now();
                    s.write_all(req).map_err(|e| format!("client {i}: write: {e}"))?;
                    read_message(&mut s, &mut buf).map_err(|e| format!("client {i}: read: {e}"))?;
                    let done = Instant::now();
                    if done >= until {
                        return Ok(tally);
                    }
                    if done >= from {
                        let ns = done.duration_since(sent).as_nanos();
                        tally.samples.push(u32::try_from(ns).unwrap_or(u32::MAX));
                        if buf.get(2).copied().unwrap_or(0) != 0 {
                            tally.errors += 1;
                        }
                    }
                }
            })
            .map_err(|e| format!("spawn client {i}: {e}"))?;
        handles.push(h);
    }
    if let Ok(mut t) = start.lock() {
        *t = Some(Instant::now());
    }
    barrier.wait();
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut failure = None;
    for h in handles {
        match h.join() {
            Ok(Ok(t)) => {
                samples.extend_from_slice(&t.samples);
                errors += t.errors;
            }
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some("a client thread panicked".into())),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    samples.sort_unstable();
    let us = |q: f64| percentile(&samples, q) / 1000.0;
    let seconds = window.as_secs_f64();
    Ok(LoadResult {
        clients,
        completed: samples.len() as u64,
        errors,
        seconds,
        per_second: samples.len() as f64 / seconds,
        p50_us: us(0.50),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: samples.last().map_or(0.0, |&x| f64::from(x) / 1000.0),
    })
}

/// The nearest-rank percentile of sorted nanosecond samples (0 when there are none).
pub fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let s: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&s, 0.5), 500.0);
        assert_eq!(percentile(&s, 0.99), 990.0);
        assert_eq!(percentile(&s, 0.999), 999.0);
        assert_eq!(percentile(&s[..1], 0.999), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
