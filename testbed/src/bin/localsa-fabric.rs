//! `localsa-fabric`: bring a simulated fabric up for scripts and humans.
//!
//! ```text
//! localsa-fabric up --topology FILE|star:N|fat-tree:N [--opensm NODE] [options]
//! localsa-fabric netfile star:N|fat-tree:N|FILE
//! ```
//!
//! `up` prints shell `export` lines to attach tools to the fabric, then stays in the foreground until
//! SIGINT, SIGTERM, SIGHUP or end of its standard input, and tears everything down.
//!
//! # Two processes
//!
//! Taking SIGTERM without a signal handler (this workspace has no `unsafe`) means blocking it and
//! calling `sigwait`; but a blocked mask is inherited by every child (Rust's `Command` keeps it),
//! and an ibsim or OpenSM with SIGTERM blocked only dies of SIGKILL. So `up` blocks the signals and
//! waits for them in a front process, and runs the fabric in a worker (this binary again, hidden
//! subcommand `__serve`) that unblocks them before it starts anything. The front stops the worker by
//! closing the pipe that is the worker's stdin, then waits for it to finish tearing down; if the
//! front is killed outright (SIGKILL), the pipe closes all the same and the worker still tears down.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use localsa_testbed::{Error, Fabric, FabricOptions, OpenSmOptions, Topology};
use nix::sys::signal::{SigSet, Signal};

const USAGE: &str = "\
usage:
  localsa-fabric up --topology FILE|star:N|fat-tree:N [options]
  localsa-fabric netfile FILE|star:N|fat-tree:N
  localsa-fabric help

up options:
  --opensm NODE         start OpenSM attached to NODE and wait until the subnet is up
  --sweep SECONDS       OpenSM sweep interval (default 1)
  --ignore-other-sms    OpenSM -d 0 (needed when a client attaches with SIM_SET_ISSM=1)
  --opensm-verbose      OpenSM -V
  --verbose LEVEL       ibsim console `Verbose LEVEL` once up (3 dumps every MAD)
  --dir DIR             create the fabric directory inside DIR (default $TMPDIR or /tmp)
  --keep                keep the fabric directory after teardown
  --env-file FILE       also write the export lines to FILE once the fabric is ready
  --no-stdin            do not stop at end of standard input (only on a signal)
  --timeout SECONDS     how long OpenSM may take to bring the subnet up (default 60)

`up` prints `export` lines (eval them in a shell to attach tools), then `# ready`, and runs until
SIGINT/SIGTERM/SIGHUP or end of its standard input; then it stops everything and exits.";

struct UpArgs {
    topology: String,
    opensm: Option<String>,
    sweep: u32,
    ignore_other_sms: bool,
    opensm_verbose: bool,
    verbose: Option<u8>,
    dir: Option<PathBuf>,
    keep: bool,
    env_file: Option<PathBuf>,
    stdin: bool,
    timeout: Duration,
}

fn parse_up(args: &[String]) -> Result<UpArgs, Error> {
    let bad = |m: String| Error::InvalidArgument(m);
    let mut up = UpArgs {
        topology: String::new(),
        opensm: None,
        sweep: 1,
        ignore_other_sms: false,
        opensm_verbose: false,
        verbose: None,
        dir: None,
        keep: false,
        env_file: None,
        stdin: true,
        timeout: Duration::from_secs(60),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| bad(format!("{name} needs a value")));
        match a.as_str() {
            "--topology" | "-t" => up.topology = value(a)?,
            "--opensm" => up.opensm = Some(value(a)?),
            "--sweep" => up.sweep = value(a)?.parse().map_err(|_| bad("--sweep takes seconds".into()))?,
            "--ignore-other-sms" => up.ignore_other_sms = true,
            "--opensm-verbose" => up.opensm_verbose = true,
            "--verbose" => {
                up.verbose = Some(value(a)?.parse().map_err(|_| bad("--verbose takes 0..255".into()))?)
            }
            "--dir" => up.dir = Some(PathBuf::from(value(a)?)),
            "--keep" => up.keep = true,
            "--env-file" => up.env_file = Some(PathBuf::from(value(a)?)),
            "--no-stdin" => up.stdin = false,
            "--timeout" => {
                let s: u64 = value(a)?.parse().map_err(|_| bad("--timeout takes seconds".into()))?;
                up.timeout = Duration::from_secs(s);
            }
            other => return Err(bad(format!("unknown argument {other:?}\n\n{USAGE}"))),
        }
    }
    if up.topology.is_empty() {
        return Err(bad(format!("--topology is required\n\n{USAGE}")));
    }
    Ok(up)
}

/// Single-quotes a value for a POSIX shell.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The front process of `up`: takes the signals and its stdin's end, runs the worker, relays.
fn up(raw_args: &[String]) -> Result<bool, Error> {
    let args = parse_up(raw_args)?; // fail fast on bad arguments
    Topology::from_spec(&args.topology)?;
    let mut signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(s);
    }
    // Block before any thread exists, so every thread inherits the mask and only `wait` takes them.
    signals.thread_block().map_err(|e| Error::io("blocking signals", e.into()))?;
    let (tx, rx) = mpsc::channel();
    {
        let tx = tx.clone();
        std::thread::spawn(move || loop {
            if let Ok(sig) = signals.wait() {
                let _ = tx.send(format!("got {sig}"));
            }
        });
    }
    if args.stdin {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send("end of standard input".to_string());
        });
    }
    let exe = std::env::current_exe().map_err(|e| Error::io("finding this program", e))?;
    let mut worker = Command::new(&exe)
        .arg("__serve")
        .args(raw_args)
        .stdin(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(format!("starting {}", exe.display()), e))?;
    let pipe = worker.stdin.take();
    let why = loop {
        if let Some(status) = worker.try_wait().map_err(|e| Error::io("waiting for the worker", e))? {
            return Ok(status.success());
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(why) => break why,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break "no more events".to_string(),
        }
    };
    eprintln!("localsa-fabric: {why}, tearing down");
    drop(pipe); // the worker sees end of file and tears down
    let status = worker.wait().map_err(|e| Error::io("waiting for the worker", e))?;
    Ok(status.success())
}

/// The worker of `up`: runs the fabric until its stdin (a pipe from the front) closes.
fn serve(raw_args: &[String]) -> Result<bool, Error> {
    let args = parse_up(raw_args)?;
    // Undo the mask inherited from the front, before anything is spawned.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_unblock().map_err(|e| Error::io("unblocking signals", e.into()))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });

    let t0 = Instant::now();
    let topo = Topology::from_spec(&args.topology)?;
    let opts =
        FabricOptions { parent_dir: args.dir.clone(), keep: args.keep, ..FabricOptions::labelled("cli") };
    let fabric = Fabric::start(&topo, opts)?;
    if let Some(level) = args.verbose {
        fabric.verbose(level)?;
    }
    let sm = match &args.opensm {
        Some(node) => {
            let sm = fabric.start_opensm(
                node,
                OpenSmOptions {
                    sweep_seconds: args.sweep,
                    ignore_other_sms: args.ignore_other_sms,
                    verbose: args.opensm_verbose,
                    ..OpenSmOptions::default()
                },
            )?;
            sm.wait_ready(args.timeout)?;
            Some(sm)
        }
        None => None,
    };

    let first_hca = topo.hcas().first().cloned().unwrap_or_default();
    let mut text = format!(
        "# localsa-fabric: {} HCAs, {} switches, up in {:.2}s{}\n",
        topo.hcas().len(),
        topo.switches().len(),
        t0.elapsed().as_secs_f64(),
        sm.as_ref().map(|s| format!(", OpenSM on {} (pid {})", s.node(), s.pid())).unwrap_or_default()
    );
    let dir = fabric.dir().display().to_string();
    for (k, v) in fabric.env(&first_hca) {
        text.push_str(&format!("export {k}={}\n", shell_quote(&v)));
    }
    text.push_str(&format!("export LOCALSA_FABRIC_DIR={}\n", shell_quote(&dir)));
    text.push_str(&format!(
        "export LOCALSA_FABRIC_CONSOLE={}\n",
        shell_quote(&fabric.console_path().display().to_string())
    ));
    text.push_str(&format!(
        "export LOCALSA_FABRIC_NETFILE={}\n",
        shell_quote(&fabric.netfile().display().to_string())
    ));
    text.push_str(
        "# tools attach to the node named by SIM_HOST and create ./sys-PID in their working directory\n",
    );
    text.push_str("# console: echo 'Unlink \"NODE\"' > \"$LOCALSA_FABRIC_CONSOLE\" (output in $LOCALSA_FABRIC_DIR/ibsim.log)\n");
    if let Some(path) = &args.env_file {
        // Written whole under another name, then renamed: a script polling for the file never reads half.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, &text).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e))?;
    }
    text.push_str("# ready\n");
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();

    let why = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break "stopped".to_string(),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !fabric.is_running() {
                    break "ibsim exited".to_string();
                }
                if let Some(sm) = &sm {
                    if !sm.is_running() {
                        break "OpenSM exited".to_string();
                    }
                }
            }
        }
    };
    if why != "stopped" {
        eprintln!("localsa-fabric: {why}, tearing down");
    }
    let clean = !why.ends_with("exited");
    drop(sm);
    fabric.shutdown()?;
    Ok(clean)
}

fn run(args: &[String]) -> Result<bool, Error> {
    match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]),
        Some("__serve") => serve(&args[1..]),
        Some("netfile") => {
            let spec = args.get(1).ok_or_else(|| Error::InvalidArgument(USAGE.into()))?;
            if args.len() > 2 {
                return Err(Error::InvalidArgument(USAGE.into()));
            }
            let topo = Topology::from_spec(spec)?;
            let _ = std::io::stdout().write_all(topo.to_netfile().as_bytes());
            Ok(true)
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => Err(Error::InvalidArgument(USAGE.into())),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("localsa-fabric: {e}");
            ExitCode::FAILURE
        }
    }
}
