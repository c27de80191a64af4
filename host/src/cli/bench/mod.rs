//! `localsa bench`: a load generator for the daemon's ACM socket. N connections resolve
//! cached paths in a closed loop; with `--echo` the same clients then load a bare echo server
//! that answers with the daemon's own answer bytes, the physical baseline of this machine's
//! unix sockets, and the report gives the ratio.

pub mod echo;
pub mod load;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use localsa_core::wire::PathRecordRepr;
use serde_json::{json, Value};

use super::CliError;
use crate::server::acm::{
    decode_response, AcmRequest, AcmResponse, DecodedResponse, EpFlags, ResolveRequest,
};
use load::LoadResult;

/// Options of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The daemon's ACM socket.
    #[arg(long, default_value = "/run/ibacm-unix.sock")]
    pub acm_socket: PathBuf,
    /// Destination LIDs, cycled through by every client (each is resolved once before the
    /// measurement, so the load is cache hits).
    #[arg(long, value_delimiter = ',', required_unless_present = "echo_server")]
    pub dlid: Vec<u16>,
    /// Source LID (default: the daemon's port).
    #[arg(long)]
    pub slid: Option<u16>,
    /// Numbers of concurrent clients, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    pub clients: Vec<usize>,
    /// Length of each measuring window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Load before each window, not measured, in seconds.
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Runs of every configuration; the summary gives medians.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Also load an echo server answering with the daemon's answer (same sizes), interleaved
    /// with the daemon's runs, and report daemon/echo.
    #[arg(long)]
    pub echo: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Internal: be the echo server on this socket.
    #[arg(long, hide = true)]
    pub echo_server: Option<PathBuf>,
    /// Internal: the echo server's answer, in hex.
    #[arg(long, hide = true)]
    pub reply_hex: Option<String>,
}

/// Runs `bench`.
pub fn run(args: &BenchArgs) -> Result<String, CliError> {
    if let Some(path) = &args.echo_server {
        let reply = super::hex::parse(args.reply_hex.as_deref().unwrap_or(""))
            .map_err(|e| CliError::Usage(format!("--reply-hex: {e}")))?;
        echo::serve(path, &reply).map_err(CliError::Os)?;
        return Ok(String::new());
    }
    if args.clients.is_empty() || args.clients.contains(&0) || args.repeat == 0 {
        return Err(CliError::Usage("--clients and --repeat must be at least 1".into()));
    }
    if !(args.seconds > 0.0 && args.warmup >= 0.0) {
        return Err(CliError::Usage("--seconds must be positive and --warmup not negative".into()));
    }
    let requests: Vec<Vec<u8>> = args
        .dlid
        .iter()
        .enumerate()
        .map(|(i, &dlid)| {
            let path = PathRecordRepr {
                dlid,
                slid: args.slid.unwrap_or(0),
                reversible: true,
                numb_path: 1,
                ..Default::default()
            };
            AcmRequest::Resolve(ResolveRequest::path(i as u64 + 1, EpFlags::empty(), path))
                .encode()
                .map_err(|e| CliError::Usage(format!("resolve for DLID {dlid}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let reply = prime(&args.acm_socket, &requests)?;
    raise_fd_limit();
    let echo = if args.echo {
        let exe = std::env::current_exe().map_err(|e| CliError::Os(e.to_string()))?;
        Some(EchoServer::start(&exe, &reply)?)
    } else {
        None
    };
    let (warmup, window) = (Duration::from_secs_f64(args.warmup), Duration::from_secs_f64(args.seconds));
    let mut runs: Vec<(&str, LoadResult)> = Vec::new();
    let result = (|| {
        for _ in 0..args.repeat {
            for &n in &args.clients {
                let r = load::run(&args.acm_socket, n, &requests, warmup, window)
                    .map_err(CliError::Unavailable)?;
                runs.push(("daemon", r));
                if let Some(e) = &echo {
                    runs.push((
                        "echo",
                        load::run(&e.path, n, &requests, warmup, window).map_err(CliError::Os)?,
                    ));
                }
            }
        }
        Ok(())
    })();
    drop(echo);
    result?;
    let report = summarize(args, &reply, &runs);
    Ok(if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default())
    } else {
        text(&report)
    })
}

/// Resolves every request once on one connection (misses go to the SA; afterwards they are
/// cached) and checks the answers; returns the first answer's bytes, the echo server's reply.
fn prime(socket: &Path, requests: &[Vec<u8>]) -> Result<Vec<u8>, CliError> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| CliError::Unavailable(format!("connect {}: {e}", socket.display())))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| CliError::Os(e.to_string()))?;
    let mut first = None;
    let mut buf = Vec::new();
    // Twice: the second pass is what the load sees, answered from the cache.
    for _ in 0..2 {
        for req in requests {
            use std::io::Write;
            s.write_all(req).map_err(|e| CliError::Unavailable(format!("write: {e}")))?;
            load::read_message(&mut s, &mut buf).map_err(|e| CliError::Timeout(format!("read: {e}")))?;
            match decode_response(&buf) {
                Ok(DecodedResponse::Complete { response: AcmResponse::Resolve { .. }, .. }) => {}
                Ok(DecodedResponse::Complete { response: AcmResponse::Error { status, .. }, .. }) => {
                    return Err(CliError::Answer {
                        code: status.name().into(),
                        message: "priming resolve failed".into(),
                    })
                }
                other => {
                    return Err(CliError::Protocol(format!("unexpected answer to a resolve: {other:?}")))
                }
            }
            first.get_or_insert_with(|| buf.clone());
        }
    }
    first.ok_or_else(|| CliError::Usage("no destination".into()))
}

/// 1000 clients need more than the usual soft limit of 1024 descriptors.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The echo server, a child process (`localsa bench --echo-server`), so that it is scheduled
/// like the daemon: another process on the other end of the sockets. Also the baseline of
/// `host/benches/daemon_load.rs`.
#[derive(Debug)]
pub struct EchoServer {
    child: Child,
    /// Its socket.
    pub path: PathBuf,
    dir: PathBuf,
}

impl EchoServer {
    /// Starts `localsa bench --echo-server` from the `localsa` binary `exe`, answering every
    /// request with `reply`; returns once it accepts connections.
    pub fn start(exe: &Path, reply: &[u8]) -> Result<EchoServer, CliError> {
        let dir = std::env::temp_dir().join(format!("localsa-bench-echo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| CliError::Os(format!("{}: {e}", dir.display())))?;
        let path = dir.join("echo.sock");
        let hex: String = reply.iter().map(|b| format!("{b:02x}")).collect();
        let child = Command::new(exe)
            .args(["bench", "--echo-server"])
            .arg(&path)
            .args(["--reply-hex", &hex])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| CliError::Os(format!("echo server: {e}")))?;
        let server = EchoServer { child, path, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&server.path).is_err() {
            if Instant::now() > deadline {
                return Err(CliError::Os("echo server did not start".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The median of `v` (0 when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Medians per target and client count, and the daemon/echo throughput ratio.
fn summarize(args: &BenchArgs, reply: &[u8], runs: &[(&str, LoadResult)]) -> Value {
    let pick = |target: &str, n: usize| -> Option<Value> {
        let rs: Vec<&LoadResult> =
            runs.iter().filter(|(t, r)| *t == target && r.clients == n).map(|(_, r)| r).collect();
        if rs.is_empty() {
            return None;
        }
        let m = |f: fn(&LoadResult) -> f64| median(rs.iter().map(|r| f(r)).collect());
        Some(json!({
            "per_second": m(|r| r.per_second),
            "p50_us": m(|r| r.p50_us),
            "p99_us": m(|r| r.p99_us),
            "p999_us": m(|r| r.p999_us),
            "errors": rs.iter().map(|r| r.errors).sum::<u64>(),
            "runs": rs.len(),
        }))
    };
    let summary: Vec<Value> = args
        .clients
        .iter()
        .map(|&n| {
            let d = pick("daemon", n);
            let e = pick("echo", n);
            let ratio = match (&d, &e) {
                (Some(_), Some(_)) => {
                    // Ratio of each run pair's throughputs, then the median: both halves of a
                    // pair ran back to back, under the same outside load.
                    let pairs: Vec<f64> = runs
                        .windows(2)
                        .filter(|w| {
                            w[0].0 == "daemon"
                                && w[1].0 == "echo"
                                && w[0].1.clients == n
                                && w[1].1.clients == n
                        })
                        .map(|w| w[0].1.per_second / w[1].1.per_second.max(f64::MIN_POSITIVE))
                        .collect();
                    json!(median(pairs))
                }
                _ => Value::Null,
            };
            json!({ "clients": n, "daemon": d, "echo": e, "ratio": ratio })
        })
        .collect();
    json!({
        "message_bytes": { "request": 88, "answer": reply.len() },
        "answer_hex": reply.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "summary": summary,
        "runs": runs.iter().map(|(t, r)| json!({ "target": t, "result": r })).collect::<Vec<_>>(),
    })
}

fn text(report: &Value) -> String {
    let mut out = format!(
        "{:>7}  {:>12} {:>9} {:>9} {:>9}  {:>12} {:>9} {:>9} {:>9}  {:>6}\n",
        "clients",
        "daemon/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "echo/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "ratio"
    );
    let cell = |v: &Value| {
        if v.is_null() {
            format!("{:>12} {:>9} {:>9} {:>9}", "-", "-", "-", "-")
        } else {
            format!(
                "{:>12.0} {:>9.1} {:>9.1} {:>9.1}",
                v["per_second"].as_f64().unwrap_or(0.0),
                v["p50_us"].as_f64().unwrap_or(0.0),
                v["p99_us"].as_f64().unwrap_or(0.0),
                v["p999_us"].as_f64().unwrap_or(0.0)
            )
        }
    };
    for s in report["summary"].as_array().into_iter().flatten() {
        let ratio = s["ratio"].as_f64().map_or("-".to_string(), |r| format!("{r:.2}"));
        out.push_str(&format!(
            "{:>7}  {}  {}  {:>6}\n",
            s["clients"].as_u64().unwrap_or(0),
            cell(&s["daemon"]),
            cell(&s["echo"]),
            ratio
        ));
    }
    out
}
