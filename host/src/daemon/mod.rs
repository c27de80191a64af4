//! `localsa daemon`: the path cache as a service.
//!
//! # Threads
//!
//! * **Main**: blocks SIGTERM, SIGINT and SIGHUP (every thread inherits the mask, so the
//!   signals are only ever read from a signalfd), sets everything up, starts the other
//!   threads, waits for the engine thread, then stops the readers and releases the ports (a
//!   umad agent is unregistered when the last handle to it goes).
//! * **Engine** ([`runtime`]): owns one engine per port served (each on the heap, about
//!   20 MiB) and every socket; an epoll loop over the listeners, the clients, the signalfd and
//!   the readers' eventfd, with the earliest of the engines' `poll_at()` as its timeout.
//!   Requests go to the engine of the port they name as source ([`route`]).
//! * **umad readers** ([`reader`]), one per port: each waits on its umad descriptor alone (the
//!   ibsim shim requires it) and passes MADs, tagged with the port, to the engine thread.
//!
//! # Files
//!
//! [`config`] settings; [`listeners`] and [`systemd`] the sockets; [`client`], [`slots`],
//! [`token`] connections and how answers find them; [`acm_service`] and [`admin_service`]
//! the two protocols ([`protocol`] the admin messages, [`dump`] the table stream);
//! [`pinned`] pins on disk; [`privilege`] who may change things; [`port`] the local ports,
//! [`served`] one served port and its engine, [`route`] which port a request goes to;
//! [`fds`] descriptor budget; [`capture`] `--pcap`; [`stats`] counters; [`logger`] logs.

pub mod acm_service;
pub mod admin_service;
pub mod capture;
pub mod client;
pub mod config;
pub mod dump;
pub mod fds;
pub mod listeners;
pub mod logger;
pub mod pinned;
pub mod port;
pub mod privilege;
pub mod protocol;
pub mod reader;
pub mod route;
pub mod runtime;
pub mod served;
pub mod slots;
pub mod stats;
pub mod systemd;
pub mod token;

use std::fmt;
use std::sync::Arc;

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use self::config::Settings;
use self::runtime::{Clock, HostEngine, Parts, Runtime, ENGINE_STACK};
use crate::server::hosts::Hosts;
use crate::umad::UmadPort;

/// SA methods the agent receives unsolicited: Report always (trap notices); Get, GetTable and
/// Set (subscriptions) when serving other nodes (replica mode).
const METHOD_REPORT: u8 = 0x06;
const METHOD_GET: u8 = 0x01;
const METHOD_GET_TABLE: u8 = 0x12;
const METHOD_SET: u8 = 0x02;

/// Why the daemon could not run.
#[derive(Debug)]
pub enum DaemonError {
    /// A setting is unusable (exit 78).
    Config(String),
    /// No usable port (exit 69).
    Port(String),
    /// The system refused something (sockets, threads; exit 71).
    Os(String),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Config(m) | DaemonError::Port(m) | DaemonError::Os(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DaemonError {}

/// Runs the daemon in the foreground until SIGTERM or SIGINT.
pub fn run(settings: Settings) -> Result<(), DaemonError> {
    logger::Logger::install(settings.log_level);
    if let Some(src) = &settings.source {
        log::info!("configuration read path={}", src.display());
    }

    warn_ignored_signals();
    // Signals first, so that every thread created below inherits the blocked mask.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(s);
    }
    mask.thread_block().map_err(|e| DaemonError::Os(format!("cannot block signals: {e}")))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| DaemonError::Os(format!("signalfd: {e}")))?;

    let admin_gid = match &settings.admin_group {
        Some(g) => {
            Some(privilege::group_id(g).map_err(|e| DaemonError::Config(format!("admin_group: {e}")))?)
        }
        None => None,
    };

    let chosen = port::choose(&settings.ports).map_err(DaemonError::Port)?;
    let upstreams = match settings.upstreams.len() {
        0 | 1 => vec![settings.engine.upstream; chosen.len()],
        n if n == chosen.len() => settings.upstreams.clone(),
        n => {
            return Err(DaemonError::Config(format!(
                "{n} upstreams for {} ports: give one for every port, or one per port",
                chosen.len()
            )))
        }
    };
    let mut methods = vec![METHOD_REPORT];
    if settings.engine.serve_sa {
        // Set: leaves subscribe to traps at their replica (InformInfo).
        methods.extend([METHOD_GET, METHOD_SET, METHOD_GET_TABLE]);
    }
    let mut umads = Vec::with_capacity(chosen.len());
    for attrs in &chosen {
        umads.push(Arc::new(
            UmadPort::open(attrs.clone(), &methods, false)
                .map_err(|e| DaemonError::Port(format!("{}: {e}", attrs.device_path())))?,
        ));
    }
    let attrs = chosen[0].clone();

    let inherited = systemd::take_listen_fds();
    let listeners =
        listeners::open(settings.acm_socket.as_deref(), settings.admin_socket.as_deref(), inherited)
            .map_err(|e| DaemonError::Os(e.to_string()))?;
    // From here on, a failure must not leave socket files behind.
    let cleanup = |listeners: &[listeners::Listener]| listeners.iter().for_each(|l| l.remove_file());

    let hosts = match &settings.hosts_file {
        Some(path) => match Hosts::load(path) {
            Ok((h, errors)) => {
                for e in &errors {
                    log::warn!("hosts file line skipped path={} {e}", path.display());
                }
                log::info!("hosts file read path={} entries={}", path.display(), h.len());
                h
            }
            Err(e) => {
                log::warn!(
                    "no hosts file; names and IP addresses will not resolve path={} error={e}",
                    path.display()
                );
                Hosts::default()
            }
        },
        None => Hosts::default(),
    };

    let pins = pinned::PinStore::new(settings.pinned_file.clone());
    let initial_pins = pins.load();

    let capture = match &settings.pcap {
        Some(p) => match capture::Capture::create(p, attrs.lid) {
            Ok(c) => Some(c),
            Err(e) => {
                cleanup(&listeners);
                return Err(DaemonError::Os(format!("cannot create {}: {e}", p.display())));
            }
        },
        None => None,
    };

    let wake = match EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC) {
        Ok(w) => Arc::new(w),
        Err(e) => {
            cleanup(&listeners);
            return Err(DaemonError::Os(format!("eventfd: {e}")));
        }
    };
    let budget = fds::plan(settings.clients.max_clients);
    let (tx, mads) = reader::Reader::channel(umads.len());
    let mut readers = Vec::with_capacity(umads.len());
    let mut ports = Vec::with_capacity(umads.len());
    for (i, umad) in umads.iter().enumerate() {
        let reader = match reader::Reader::spawn(umad.clone(), i, tx.clone(), wake.clone()) {
            Ok(r) => r,
            Err(e) => {
                cleanup(&listeners);
                return Err(DaemonError::Os(format!("cannot start the umad reader: {e}")));
            }
        };
        let attrs = umad.attributes().clone();
        ports.push(served::PortParts {
            umad: umad.clone(),
            device: port::device_info(&attrs),
            attrs,
            dropped: reader.dropped_counter(),
        });
        readers.push(reader);
    }
    drop(tx);
    let seed = tid_seed();
    let engine_configs: Vec<_> = chosen
        .iter()
        .zip(&upstreams)
        .enumerate()
        .map(|(i, (a, &upstream))| {
            let config = localsa_core::engine::Config {
                upstream,
                // Apart per port, so that a capture of several ports stays readable.
                tid_seed: seed.wrapping_add((i as u32) << 24).max(1),
                ..settings.engine
            };
            (config, port::local_port(a))
        })
        .collect();
    let parts = Parts {
        settings,
        listeners,
        signals,
        wake,
        mads,
        ports,
        hosts,
        pins,
        initial_pins,
        capture,
        budget,
        admin_gid,
        clock: Clock::new(),
    };

    let engine_thread =
        std::thread::Builder::new().name("localsa-engine".into()).stack_size(ENGINE_STACK).spawn(move || {
            let clock = parts.clock;
            // One ~20 MiB engine per port, on the heap; an unoptimised build makes the empty
            // engine on this thread's large stack first.
            let mut engines: Vec<Box<HostEngine>> = Vec::with_capacity(engine_configs.len());
            for (config, local) in engine_configs {
                let mut engine = Box::new(HostEngine::EMPTY);
                engine.start(clock.now(), config, local);
                engines.push(engine);
            }
            Runtime::new(engines.iter_mut().map(|e| &mut **e).collect(), parts)?.run()
        });
    let result = match engine_thread {
        Ok(h) => h.join().unwrap_or_else(|_| Err("the engine thread panicked".into())),
        Err(e) => Err(format!("cannot start the engine thread: {e}")),
    };
    for (r, umad) in readers.iter_mut().zip(&umads) {
        r.stop();
        log::info!(
            "umad reader stopped port=umad{} mads_dropped={}",
            umad.attributes().umad_index,
            r.dropped()
        );
    }
    let served = umads.len();
    drop(umads);
    log::info!("umad agent unregistered ports={served}; exiting");
    result.map_err(DaemonError::Os)
}

/// A signal ignored when we were started (e.g. SIGINT for a background job of a shell script)
/// stays ignored, and a signalfd never sees it; resetting the disposition needs `sigaction`,
/// which is unsafe, so we only say so.
fn warn_ignored_signals() {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return };
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        if ignored & (1 << (s as i32 - 1)) != 0 {
            log::warn!(
                "signal ignored by whoever started us; it will not reach the daemon signal={}",
                s.as_str()
            );
        }
    }
}

/// A TID seed that differs between runs, so that a restarted daemon never mistakes an answer
/// meant for its predecessor for one of its own.
fn tid_seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
        .unwrap_or(1);
    (nanos ^ std::process::id().rotate_left(8)).max(1)
}
