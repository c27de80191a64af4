//! The engine thread: one epoll loop that owns every port's engine and every client socket.
//!
//! ```text
//!             +------------------ engine thread (epoll) -------------------+
//!  signalfd ->| SIGTERM/SIGINT: shut down; SIGHUP: reload the hosts file    |
//!  eventfd  ->| MADs from the readers (one per port) -> that port's engine |
//!  ACM, admin | accept -> client slots (nonblocking)                        |
//!  listeners->|                                                            |
//!  clients  ->| read -> decode -> route by source -> that port's engine   |
//!  timeout  ->| engines' handle_timeout, ports re-read, housekeeping        |
//!             |   after every batch, each engine: poll_transmit -> its     |
//!             |   umad (+pcap); poll_event -> answers to clients by token  |
//!             +------------------------------------------------------------+
//! ```
//!
//! Nothing here blocks except `epoll_wait`; its timeout is the earliest of the engine's
//! `poll_at()` and the daemon's own timers. All state is owned by this one thread, so there is
//! no locking; the only other threads are the umad readers and the main thread waiting to
//! clean up.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use localsa_core::engine::{Answer, Engine, Event, Invalidation, ResolveError, ResolveFlags, Source};
use localsa_core::table::Query;
use localsa_core::time::Instant;
use localsa_core::wire::MAD_LEN;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::EventFd;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::Gid;
use serde_json::{json, Value};

use super::capture::Capture;
use super::client::{Client, Protocol, Waiting};
use super::config::Settings;
use super::fds::FdBudget;
use super::listeners::Listener;
use super::pinned::{PinStore, PinnedEntry};
use super::port::local_port;
use super::reader::Tagged;
use super::served::{PortParts, Served};
use super::slots::Slots;
use super::stats::{sum_engine_stats, DaemonStats};
use super::systemd;
use super::token::TokenParts;
use crate::capture::Direction;
use crate::server::hosts::Hosts;
use crate::umad::PortAttributes;

/// The engine as the host daemon sizes it.
///
/// | capacity | value | memory |
/// |---|---|---|
/// | table entries `T` | 65536 | 65536 × 124 B = 7.8 MiB |
/// | pending SA queries `P` | 4096 | about 4096 × 700 B = 2.7 MiB |
/// | waiters `W` (resolves waiting on a query) | 65536 | 65536 × 16 B = 1 MiB |
/// | RMPP receive slots | 8 × (524,344 + 250) B | 4 MiB (a GetTable of up to 8192 records each) |
/// | RMPP send slots | 8 × (524,344 + 234) B | 4 MiB |
///
/// About 20 MiB in all, one value with no allocation inside, one per port served. Each is
/// allocated on the heap by the engine thread, whose stack ([`ENGINE_STACK`]) leaves room for
/// the temporary an unoptimised build makes of [`Engine::EMPTY`] on the way there; untouched
/// stack pages cost nothing.
pub type HostEngine = Engine<65536, 4096, 65536, 8, { 56 + 64 * 8192 }, 8, { 56 + 64 * 8192 }>;

/// The engine thread's stack.
pub const ENGINE_STACK: usize = 256 << 20;

const KEY_SIGNAL: u64 = 0;
const KEY_WAKE: u64 = 1;
const KEY_LISTENER: u64 = 2;
const KEY_CLIENT: u64 = 16;

/// How often partial requests are checked against the timeout.
const HOUSEKEEPING: Duration = Duration::from_millis(250);
/// How often expired entries are swept from the table.
const PURGE: Duration = Duration::from_secs(60);
/// Bytes read from one client per wake-up (fairness between clients).
const READ_BUDGET: usize = 64 << 10;
/// Output below which a dump produces its next chunk.
const DUMP_LOW_WATER: usize = 64 << 10;
/// Dump chunks written to one client per turn (each up to [`DUMP_LOW_WATER`] bytes and more).
const DUMP_ROUNDS: usize = 8;
/// Connections accepted per wake-up of one listener.
const ACCEPT_BATCH: usize = 64;

/// Microseconds since the daemon started, the engine's clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: StdInstant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock { start: StdInstant::now() }
    }

    /// Now, for the engine.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros().min(u64::MAX as u128) as u64)
    }

    /// How long until the engine time `at` (zero if passed).
    pub fn until(&self, at: Instant) -> Duration {
        Duration::from_micros(at.saturating_since(self.now()).as_micros())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// Everything the engine thread takes over from the start-up code.
#[derive(Debug)]
pub struct Parts {
    /// Settings.
    pub settings: Settings,
    /// Listening sockets.
    pub listeners: Vec<Listener>,
    /// SIGTERM, SIGINT, SIGHUP.
    pub signals: SignalFd,
    /// Written by the reader threads for each MAD.
    pub wake: Arc<EventFd>,
    /// MADs from the reader threads, tagged with their port.
    pub mads: Receiver<Tagged>,
    /// The ports, in the order of `--port` (their engines come separately).
    pub ports: Vec<PortParts>,
    /// The hosts file.
    pub hosts: Hosts,
    /// The pinned file.
    pub pins: PinStore,
    /// Pins read at start, and whether the file was damaged (then they are written back).
    pub initial_pins: (Vec<PinnedEntry>, bool),
    /// `--pcap`.
    pub capture: Option<Capture>,
    /// Client capacity.
    pub budget: FdBudget,
    /// The admin group.
    pub admin_gid: Option<Gid>,
    /// The engine's clock.
    pub clock: Clock,
}

/// The engine thread's state.
#[derive(Debug)]
pub struct Runtime<'e> {
    /// The ports served, each with its engine; requests without a source go to the first.
    pub(super) ports: Vec<Served<'e>>,
    pub(super) clock: Clock,
    pub(super) settings: Settings,
    epoll: Epoll,
    listeners: Vec<Listener>,
    accepting: bool,
    accept_retry: Option<StdInstant>,
    signals: SignalFd,
    wake: Arc<EventFd>,
    mads: Receiver<Tagged>,
    pub(super) hosts: Hosts,
    pins: PinStore,
    capture: Option<Capture>,
    pub(super) clients: Slots<Client>,
    pub(super) stats: DaemonStats,
    admin_gid: Option<Gid>,
    budget: FdBudget,
    pub(super) active_dumps: usize,
    dirty: Vec<usize>,
    next_port_poll: StdInstant,
    next_housekeeping: StdInstant,
    next_purge: StdInstant,
    pub(super) shutdown: Option<StdInstant>,
    started: StdInstant,
    txbuf: [u8; MAD_LEN],
    initial_pins: Option<(Vec<PinnedEntry>, bool)>,
}

impl<'e> Runtime<'e> {
    /// Takes over `parts` with the engines built on this thread, one per port, in order.
    pub fn new(engines: Vec<&'e mut HostEngine>, parts: Parts) -> Result<Runtime<'e>, String> {
        if engines.len() != parts.ports.len() || engines.is_empty() {
            return Err(format!("{} engines for {} ports", engines.len(), parts.ports.len()));
        }
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll_create: {e}"))?;
        let now = StdInstant::now();
        let interval = parts.settings.port_poll_interval;
        let ports = engines.into_iter().zip(parts.ports).map(|(e, p)| Served::new(e, p)).collect();
        Ok(Runtime {
            ports,
            clock: parts.clock,
            epoll,
            listeners: parts.listeners,
            accepting: true,
            accept_retry: None,
            signals: parts.signals,
            wake: parts.wake,
            mads: parts.mads,
            hosts: parts.hosts,
            pins: parts.pins,
            capture: parts.capture,
            clients: Slots::new(parts.budget.max_clients),
            stats: DaemonStats::default(),
            admin_gid: parts.admin_gid,
            budget: parts.budget,
            active_dumps: 0,
            dirty: Vec::new(),
            next_port_poll: now + interval,
            next_housekeeping: now + HOUSEKEEPING,
            next_purge: now + PURGE,
            shutdown: None,
            started: now,
            txbuf: [0; MAD_LEN],
            initial_pins: Some(parts.initial_pins),
            settings: parts.settings,
        })
    }

    /// Runs until SIGTERM/SIGINT and a clean shutdown.
    pub fn run(mut self) -> Result<(), String> {
        let ep = |e: Errno| format!("epoll_ctl: {e}");
        self.epoll.add(self.signals.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, KEY_SIGNAL)).map_err(ep)?;
        self.epoll.add(self.wake.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, KEY_WAKE)).map_err(ep)?;
        for (i, l) in self.listeners.iter().enumerate() {
            self.epoll
                .add(l.listener.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, KEY_LISTENER + i as u64))
                .map_err(ep)?;
        }
        self.restore_pins();
        for p in &self.ports {
            log::info!(
                "serving port=umad{} ca={} port_num={} lid={} lmc={} gid={} sm_lid={}",
                p.attrs.umad_index,
                p.attrs.ca,
                p.attrs.port,
                p.attrs.lid,
                p.attrs.lmc,
                p.attrs.gid,
                p.attrs.sm_lid
            );
        }
        let a = &self.ports[0].attrs;
        log::info!(
            "ready port=umad{} ca={} lid={} gid={} sm_lid={} ports={} max_clients={}",
            a.umad_index,
            a.ca,
            a.lid,
            a.gid,
            a.sm_lid,
            self.ports.len(),
            self.budget.max_clients
        );
        systemd::notify("READY=1");
        // Run the engines' timers once before anything arrives: a heartbeat is due at
        // creation, and run after the start-up ClassPortInfo answer it would send the whole
        // start-up sequence (ClassPortInfo, subscriptions) a second time.
        let now = self.clock.now();
        for p in &mut self.ports {
            p.engine.handle_timeout(now);
        }
        self.pump();

        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            let timeout = self.timeout();
            let n = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => return Err(format!("epoll_wait: {e}")),
            };
            for ev in &events[..n] {
                self.dispatch(ev.data(), ev.events());
            }
            self.timers();
            self.pump();
            self.settle();
            if let Some(deadline) = self.shutdown {
                if self.clients.is_empty() || StdInstant::now() >= deadline {
                    break;
                }
            }
        }
        self.finish();
        Ok(())
    }

    /// The epoll timeout: the earliest timer, or zero if work is waiting.
    fn timeout(&self) -> EpollTimeout {
        if !self.dirty.is_empty() {
            return EpollTimeout::ZERO;
        }
        let now = StdInstant::now();
        let mut wait = self
            .next_housekeeping
            .min(self.next_port_poll)
            .min(self.next_purge)
            .saturating_duration_since(now);
        for p in &self.ports {
            if let Some(at) = p.engine.poll_at() {
                wait = wait.min(self.clock.until(at));
            }
        }
        if let Some(t) = self.accept_retry {
            wait = wait.min(t.saturating_duration_since(now));
        }
        if let Some(t) = self.shutdown {
            wait = wait.min(t.saturating_duration_since(now));
        }
        // Round up to whole milliseconds so that a timer due in 300 µs does not spin.
        let ms = wait.as_micros().div_ceil(1000).min(60_000) as u32;
        EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX)
    }

    fn dispatch(&mut self, key: u64, flags: EpollFlags) {
        match key {
            KEY_SIGNAL => self.on_signal(),
            KEY_WAKE => self.on_mads(),
            k if (KEY_LISTENER..KEY_CLIENT).contains(&k) => self.on_listener((k - KEY_LISTENER) as usize),
            k => self.on_client((k - KEY_CLIENT) as usize, flags),
        }
    }

    // ---- signals ----

    fn on_signal(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGHUP) => self.reload_hosts(),
                Ok(sig) => self.begin_shutdown(sig.as_str()),
                Err(_) => {}
            }
        }
    }

    fn reload_hosts(&mut self) {
        let Some(path) = self.settings.hosts_file.clone() else { return };
        match Hosts::load(&path) {
            Ok((hosts, errors)) => {
                for e in &errors {
                    log::warn!("hosts file line skipped path={} {e}", path.display());
                }
                log::info!("hosts file reloaded path={} entries={}", path.display(), hosts.len());
                self.hosts = hosts;
            }
            Err(e) => {
                log::error!("hosts file not reloaded; keeping the old one path={} error={e}", path.display())
            }
        }
    }

    // ---- MADs ----

    fn on_mads(&mut self) {
        let _ = self.wake.read();
        let now = self.clock.now();
        loop {
            match self.mads.try_recv() {
                Ok((port, rx)) => {
                    let Some(p) = self.ports.get_mut(port) else { continue };
                    if rx.status != 0 {
                        // The kernel telling us one of our requests timed out in its matching:
                        // the engine has its own timers.
                        p.counters.mad_send_failures_reported += 1;
                        continue;
                    }
                    p.counters.mads_received += 1;
                    if let Some(c) = &mut self.capture {
                        c.record(Direction::Received, &rx.from, &rx.mad);
                    }
                    p.engine.handle_mad(now, rx.from, &rx.mad);
                    // A replica queues its answers in the engine's small outbox (8 MADs):
                    // send them before the next request, or a burst of other nodes' queries
                    // overflows it and each dropped answer costs that node a timeout.
                    if p.engine.has_transmit() {
                        self.pump();
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    log::error!("umad reader thread ended; shutting down");
                    self.begin_shutdown("reader-ended");
                    break;
                }
            }
        }
    }

    /// Sends what the engines have to send and routes what they have to say, until they are
    /// quiet.
    pub(super) fn pump(&mut self) {
        let now = self.clock.now();
        for _ in 0..1024 {
            let mut progress = false;
            for port in 0..self.ports.len() {
                let p = &mut self.ports[port];
                while let Some(t) = p.engine.poll_transmit(now, &mut self.txbuf) {
                    progress = true;
                    let mad = &self.txbuf[..t.len.min(MAD_LEN)];
                    let timeout_ms =
                        t.response_timeout.map(|d| d.as_millis().clamp(1, u32::MAX as u64) as u32);
                    match p.umad.send(&t.to, mad, timeout_ms.unwrap_or(0)) {
                        Ok(()) => {
                            p.counters.mads_sent += 1;
                        }
                        Err(e) => {
                            p.counters.mad_send_errors += 1;
                            log::warn!(
                                "MAD send failed port=umad{} to_lid={} error={e}",
                                p.attrs.umad_index,
                                t.to.lid
                            );
                        }
                    }
                    if let Some(c) = &mut self.capture {
                        c.record(Direction::Sent, &t.to, mad);
                    }
                }
                while let Some(e) = self.ports[port].engine.poll_event() {
                    progress = true;
                    self.on_engine_event(port, e);
                }
            }
            if !progress {
                break;
            }
        }
        if let Some(c) = &mut self.capture {
            c.flush();
        }
    }

    /// Turns what port `port`'s engine says into answers and events (each event names the
    /// port).
    fn on_engine_event(&mut self, port: usize, event: Event) {
        let umad = self.ports[port].umad();
        let v = match event {
            Event::Resolved { token, result } => return self.answer(port, token, result),
            Event::Invalidated { what, entries } => match what {
                Invalidation::Gid { trap, gid } => {
                    log::info!("invalidated trap={} gid={gid} entries={entries} port=umad{umad}", trap.raw());
                    json!({"event": "invalidated", "what": "gid", "trap": trap.raw(), "gid": gid.to_string(), "entries": entries})
                }
                Invalidation::Lid { trap, lid } => {
                    log::info!("invalidated trap={} lid={lid} entries={entries} port=umad{umad}", trap.raw());
                    json!({"event": "invalidated", "what": "lid", "trap": trap.raw(), "lid": lid, "entries": entries})
                }
                Invalidation::SmChanged { sa_lid } => {
                    log::info!("subnet manager changed sa_lid={sa_lid} entries={entries} port=umad{umad}");
                    json!({"event": "sm_changed", "sa_lid": sa_lid, "entries": entries})
                }
            },
            Event::Subscribed { trap, accepted } => {
                log::info!("trap subscription trap={} accepted={accepted} port=umad{umad}", trap.raw());
                json!({"event": "subscribed", "trap": trap.raw(), "accepted": accepted})
            }
            Event::SaReachable(reachable) => {
                let sa_lid = self.ports[port].attrs.sm_lid;
                if reachable {
                    log::info!("SA reachable sa_lid={sa_lid} port=umad{umad}");
                } else {
                    log::warn!("SA unreachable sa_lid={sa_lid} port=umad{umad}");
                }
                json!({"event": "sa_reachable", "reachable": reachable})
            }
            Event::BulkFetched { records, complete } => {
                if complete {
                    log::info!("bulk fetch done records={records} complete=true port=umad{umad}");
                } else {
                    // Never the whole table: what is missing resolves one destination at a time.
                    log::warn!(
                        "bulk fetch done records={records} complete=false port=umad{umad}: one MAD without RMPP, the table may be cut; other destinations resolve one by one"
                    );
                }
                json!({"event": "bulk_fetched", "records": records, "complete": complete})
            }
        };
        self.broadcast_for(port, v);
    }

    /// Routes an answer of port `port`'s engine to the client that asked, if it is still
    /// there: the token names the client, whichever port answers.
    fn answer(&mut self, port: usize, token: u64, result: Result<Answer, ResolveError>) {
        let p = TokenParts::decode(token);
        let slot = p.slot as usize;
        let Some(c) = self.clients.get_checked_mut(slot, p.generation) else { return };
        let Some((_, w)) = c.waiting.remove(&p.request) else { return };
        self.deliver(slot, port, w, result);
    }

    /// Asks port `port`'s engine for `query` on behalf of a client; the answer comes now or
    /// later.
    pub(super) fn start_resolve(
        &mut self,
        slot: usize,
        port: usize,
        query: &Query,
        flags: ResolveFlags,
        waiting: Waiting,
    ) {
        let Some(generation) = self.clients.generation(slot) else { return };
        let Some(c) = self.clients.get_mut(slot) else { return };
        let request = c.next_request_id();
        let token = TokenParts { slot: slot as u16, generation, request }.encode();
        self.stats.resolves += 1;
        let now = self.clock.now();
        let Some(p) = self.ports.get_mut(port) else { return };
        p.counters.resolves += 1;
        match p.engine.resolve(now, query, flags, token) {
            localsa_core::engine::Resolve::Answered(a) => self.deliver(slot, port, waiting, Ok(a)),
            localsa_core::engine::Resolve::Failed(e) => self.deliver(slot, port, waiting, Err(e)),
            localsa_core::engine::Resolve::Pending => {
                if let Some(c) = self.clients.get_mut(slot) {
                    c.waiting.insert(request, (port, waiting));
                }
            }
        }
    }

    /// Answers a resolve of port `port` in the client's protocol.
    fn deliver(&mut self, slot: usize, port: usize, waiting: Waiting, result: Result<Answer, ResolveError>) {
        let d = &mut self.stats;
        let p = self.ports.get_mut(port).map(|p| &mut p.counters);
        let (all, this) = match &result {
            Ok(a) if a.source == Source::Cache => {
                (&mut d.answered_from_cache, p.map(|p| &mut p.answered_from_cache))
            }
            Ok(_) => (&mut d.answered_from_sa, p.map(|p| &mut p.answered_from_sa)),
            Err(ResolveError::Sa(localsa_core::wire::SaError::NoRecords)) | Err(ResolveError::NotCached) => {
                (&mut d.no_data, p.map(|p| &mut p.no_data))
            }
            Err(_) => (&mut d.errors, p.map(|p| &mut p.errors)),
        };
        *all += 1;
        if let Some(n) = this {
            *n += 1;
        }
        let bytes = match waiting {
            Waiting::Acm { tid, source } => super::acm_service::resolve_answer(tid, &result, source),
            Waiting::Admin { id } => super::admin_service::resolve_answer(id, &result),
        };
        self.queue(slot, &bytes);
    }

    /// Queues bytes for a client; one that has more unread than `max_buffered` is dropped.
    pub(super) fn queue(&mut self, slot: usize, bytes: &[u8]) {
        let limit = self.settings.clients.max_buffered;
        let Some(c) = self.clients.get_mut(slot) else { return };
        if c.doomed.is_some() {
            return;
        }
        c.queue(bytes);
        if c.buffered() > limit {
            c.doomed = Some("slow-reader");
        }
        self.dirty.push(slot);
    }

    /// Schedules a client for [`Self::settle`].
    pub(super) fn mark_dirty(&mut self, slot: usize) {
        self.dirty.push(slot);
    }

    /// Sends an event about port `port` to every subscriber: `event` with the port's umad
    /// index as `"port"`.
    pub(super) fn broadcast_for(&mut self, port: usize, mut event: Value) {
        if let (Value::Object(m), Some(p)) = (&mut event, self.ports.get(port)) {
            m.insert("port".into(), json!(p.umad()));
        }
        self.broadcast(&event);
    }

    /// Sends an event line to every subscriber.
    pub(super) fn broadcast(&mut self, event: &Value) {
        let mut line = event.to_string();
        line.push('\n');
        let subscribers: Vec<usize> = self
            .clients
            .slots()
            .into_iter()
            .filter(|&s| self.clients.get(s).is_some_and(|c| c.events))
            .collect();
        for s in subscribers {
            self.stats.events_sent += 1;
            self.queue(s, line.as_bytes());
        }
    }

    // ---- clients ----

    fn on_listener(&mut self, index: usize) {
        for _ in 0..ACCEPT_BATCH {
            if self.clients.is_full() || self.shutdown.is_some() {
                self.set_accepting(false);
                return;
            }
            let Some(l) = self.listeners.get(index) else { return };
            let protocol = l.protocol;
            match l.listener.accept() {
                Ok((stream, _)) => self.add_client(stream, protocol),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: stop accepting for a moment rather than spin.
                    log::warn!("accept failed; pausing accepts socket={} error={e}", protocol.name());
                    self.set_accepting(false);
                    self.accept_retry = Some(StdInstant::now() + Duration::from_millis(100));
                    return;
                }
            }
        }
    }

    fn add_client(&mut self, stream: std::os::unix::net::UnixStream, protocol: Protocol) {
        if let Some(ceiling) = self.budget.ceiling {
            if stream.as_raw_fd() >= ceiling {
                self.stats.clients_refused += 1;
                log::warn!(
                    "connection refused: descriptor too close to the shim's fake ones fd={}",
                    stream.as_raw_fd()
                );
                return;
            }
        }
        if let Err(e) = stream.set_nonblocking(true) {
            log::warn!("cannot make client nonblocking error={e}");
            return;
        }
        let cred = getsockopt(&stream, PeerCredentials).ok();
        let now = StdInstant::now();
        let Some((slot, _)) = self.clients.insert(|_, _| Client::new(stream, protocol, cred, now)) else {
            return;
        };
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        let registered = self
            .clients
            .get(slot)
            .map(|c| self.epoll.add(c.stream.as_fd(), EpollEvent::new(flags, KEY_CLIENT + slot as u64)));
        match registered {
            Some(Ok(())) => {
                if let Some(c) = self.clients.get_mut(slot) {
                    c.interest = flags;
                }
            }
            _ => {
                self.clients.remove(slot);
                return;
            }
        }
        self.stats.clients_accepted += 1;
        self.stats.clients = self.clients.len() as u64;
        self.stats.clients_peak = self.stats.clients_peak.max(self.stats.clients);
        if let Some(c) = cred {
            log::debug!(
                "client connected socket={} slot={slot} pid={} uid={}",
                protocol.name(),
                c.pid(),
                c.uid()
            );
        }
    }

    fn set_accepting(&mut self, on: bool) {
        if self.accepting == on {
            return;
        }
        self.accepting = on;
        let flags = if on { EpollFlags::EPOLLIN } else { EpollFlags::empty() };
        for (i, l) in self.listeners.iter().enumerate() {
            let mut ev = EpollEvent::new(flags, KEY_LISTENER + i as u64);
            let _ = self.epoll.modify(l.listener.as_fd(), &mut ev);
        }
        if !on {
            log::debug!("accepting paused clients={}", self.clients.len());
        }
    }

    fn on_client(&mut self, slot: usize, flags: EpollFlags) {
        let Some(c) = self.clients.get_mut(slot) else { return };
        if flags.contains(EpollFlags::EPOLLERR) {
            c.doomed = Some("socket-error");
        } else if flags.contains(EpollFlags::EPOLLHUP) {
            // Both directions closed: nothing we send can arrive.
            c.doomed = Some("hangup");
        } else if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP) && !c.read_closed {
            match c.read_some(READ_BUDGET) {
                Ok(r) => {
                    if r.eof {
                        c.read_closed = true;
                    }
                    self.process_input(slot);
                    // Answer now, not after the rest of the epoll batch: with hundreds of
                    // clients ready at once, holding every answer until the batch is read left
                    // the clients idle meanwhile (settle() still finishes what this leaves).
                    if let Some(c) = self.clients.get_mut(slot) {
                        if c.doomed.is_none() && c.flush().is_err() {
                            c.doomed = Some("write-error");
                        }
                    }
                }
                Err(_) => c.doomed = Some("read-error"),
            }
        }
        self.dirty.push(slot);
    }

    fn can_read(&self, c: &Client) -> bool {
        let cap = match c.protocol {
            Protocol::Acm => 4 * crate::server::acm::MSG_MAX,
            Protocol::Admin => self.settings.clients.max_line + 1,
        };
        self.shutdown.is_none()
            && !c.read_closed
            && !c.close_after_flush
            && c.doomed.is_none()
            && c.waiting.len() < self.settings.clients.max_outstanding
            && c.inbuf.len() < cap
    }

    /// Decodes and starts the requests sitting in a client's input buffer, as far as its
    /// outstanding-request limit allows.
    fn process_input(&mut self, slot: usize) {
        let Some(c) = self.clients.get(slot) else { return };
        if self.shutdown.is_some() {
            return;
        }
        match c.protocol {
            Protocol::Acm => self.acm_process(slot),
            Protocol::Admin => self.admin_process(slot),
        }
        let max = self.settings.clients.max_outstanding;
        if let Some(c) = self.clients.get_mut(slot) {
            let paused = c.waiting.len() >= max;
            if paused {
                // Paused by backpressure, not by the client: the partial-request clock stops.
                c.partial_since = None;
                if !c.paused {
                    self.stats.backpressure_pauses += 1;
                }
            } else {
                c.mark_partial(StdInstant::now());
            }
            c.paused = paused;
        }
    }

    /// Brings dirty clients up to date: drops doomed ones, resumes paused ones, streams dumps,
    /// writes output, closes finished ones, and sets their epoll interest.
    fn settle(&mut self) {
        for _ in 0..4 {
            if self.dirty.is_empty() {
                break;
            }
            let mut dirty = std::mem::take(&mut self.dirty);
            dirty.sort_unstable();
            dirty.dedup();
            for slot in dirty {
                self.service(slot);
            }
        }
        if !self.accepting && self.shutdown.is_none() && !self.clients.is_full() {
            let retry_due = self.accept_retry.is_none_or(|t| StdInstant::now() >= t);
            if retry_due {
                self.accept_retry = None;
                self.set_accepting(true);
            }
        }
        self.stats.clients = self.clients.len() as u64;
    }

    fn service(&mut self, slot: usize) {
        let Some(c) = self.clients.get(slot) else { return };
        if let Some(reason) = c.doomed {
            self.close(slot, reason);
            return;
        }
        // A client paused at its outstanding limit may go on once answers went out.
        if self.clients.get(slot).is_some_and(|c| !c.inbuf.is_empty()) {
            self.process_input(slot);
        }
        // A fast reader of a large dump could keep this loop going; after a few rounds the
        // client goes to the back of the queue so that the others get their turn.
        for round in 0..DUMP_ROUNDS {
            self.continue_dump(slot);
            let Some(c) = self.clients.get_mut(slot) else { return };
            if let Some(reason) = c.doomed {
                self.close(slot, reason);
                return;
            }
            match c.flush() {
                Err(_) => {
                    self.close(slot, "write-error");
                    return;
                }
                Ok(false) => break,
                Ok(true) if c.dump.is_some() => {
                    if round + 1 == DUMP_ROUNDS {
                        self.dirty.push(slot);
                    }
                }
                Ok(true) => break,
            }
        }
        let Some(c) = self.clients.get(slot) else { return };
        if c.buffered() == 0 && (c.close_after_flush || (c.read_closed && c.finished())) {
            self.close(slot, if c.close_after_flush { "closed" } else { "done" });
            return;
        }
        let readable = self.can_read(c);
        let mut want =
            if readable { EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP } else { EpollFlags::empty() };
        if c.buffered() > 0 {
            want |= EpollFlags::EPOLLOUT;
        }
        if want != c.interest {
            let mut ev = EpollEvent::new(want, KEY_CLIENT + slot as u64);
            if self.epoll.modify(c.stream.as_fd(), &mut ev).is_ok() {
                if let Some(c) = self.clients.get_mut(slot) {
                    c.interest = want;
                }
            }
        }
    }

    /// Feeds a dump's next lines while the client's output is nearly drained.
    fn continue_dump(&mut self, slot: usize) {
        loop {
            let Some(c) = self.clients.get_mut(slot) else { return };
            if c.buffered() >= DUMP_LOW_WATER || c.doomed.is_some() {
                return;
            }
            let Some(d) = &mut c.dump else { return };
            match d.next_line() {
                Some(line) => c.queue(line.as_bytes()),
                None => {
                    c.dump = None;
                    self.active_dumps = self.active_dumps.saturating_sub(1);
                    return;
                }
            }
        }
    }

    /// Drops a client: its pending resolves are cancelled in the engine.
    pub(super) fn close(&mut self, slot: usize, reason: &'static str) {
        let Some(generation) = self.clients.generation(slot) else { return };
        let Some(c) = self.clients.remove(slot) else { return };
        let _ = self.epoll.delete(c.stream.as_fd());
        for (&request, &(port, _)) in &c.waiting {
            if let Some(p) = self.ports.get_mut(port) {
                p.engine.cancel(TokenParts { slot: slot as u16, generation, request }.encode());
            }
        }
        if c.dump.is_some() {
            self.active_dumps = self.active_dumps.saturating_sub(1);
        }
        match reason {
            "slow-reader" => self.stats.clients_dropped_slow += 1,
            "partial-timeout" => self.stats.clients_dropped_partial += 1,
            _ => {}
        }
        let level = match reason {
            "slow-reader" | "partial-timeout" | "unread-at-close" => log::Level::Info,
            _ => log::Level::Debug,
        };
        log::log!(
            level,
            "client closed socket={} slot={slot} reason={reason} pid={} pending={} buffered={}",
            c.protocol.name(),
            c.cred.map(|c| c.pid()).unwrap_or(0),
            c.waiting.len(),
            c.buffered()
        );
        self.stats.clients = self.clients.len() as u64;
    }

    /// Whether the client in `slot` may use privileged operations (computed once).
    pub(super) fn privileged(&mut self, slot: usize) -> bool {
        let group = self.admin_gid;
        let Some(c) = self.clients.get_mut(slot) else { return false };
        if let Some(p) = c.privileged {
            return p;
        }
        let p = c.cred.is_some_and(|cred| super::privilege::is_privileged(&cred, group));
        c.privileged = Some(p);
        p
    }

    // ---- timers ----

    fn timers(&mut self) {
        let now = self.clock.now();
        for p in &mut self.ports {
            if p.engine.poll_at().is_some_and(|at| at <= now) {
                p.engine.handle_timeout(now);
            }
        }
        let std_now = StdInstant::now();
        if std_now >= self.next_port_poll {
            self.next_port_poll = std_now + self.settings.port_poll_interval;
            for port in 0..self.ports.len() {
                self.poll_port(port);
            }
        }
        if std_now >= self.next_housekeeping {
            self.next_housekeeping = std_now + HOUSEKEEPING;
            let limit = self.settings.clients.partial_timeout;
            for slot in self.clients.slots() {
                if let Some(c) = self.clients.get_mut(slot) {
                    if c.doomed.is_some() {
                        continue;
                    }
                    if c.partial_since.is_some_and(|t| std_now.duration_since(t) >= limit) {
                        c.doomed = Some("partial-timeout");
                        self.dirty.push(slot);
                    } else if c.closing_since.is_some_and(|t| std_now.duration_since(t) >= limit) {
                        c.doomed = Some("unread-at-close");
                        self.dirty.push(slot);
                    }
                }
            }
        }
        if std_now >= self.next_purge {
            self.next_purge = std_now + PURGE;
            for p in &mut self.ports {
                let n = p.engine.table_mut().purge_expired(now);
                if n > 0 {
                    log::debug!("expired entries purged port=umad{} count={n}", p.attrs.umad_index);
                }
            }
        }
    }

    /// Reads port `port`'s attributes again and tells its engine what changed.
    fn poll_port(&mut self, port: usize) {
        let now = self.clock.now();
        let Some(p) = self.ports.get_mut(port) else { return };
        match PortAttributes::read(p.attrs.umad_index) {
            Ok(a) => {
                p.error_logged = false;
                if a == p.attrs {
                    return;
                }
                log::info!(
                    "port changed port=umad{} lid={}->{} sm_lid={}->{} state={}->{} gid={}",
                    a.umad_index,
                    p.attrs.lid,
                    a.lid,
                    p.attrs.sm_lid,
                    a.sm_lid,
                    p.attrs.state,
                    a.state,
                    a.gid
                );
                p.counters.port_changes += 1;
                p.engine.set_port(now, local_port(&a));
                let v = json!({"event": "port_changed", "lid": a.lid, "sm_lid": a.sm_lid, "state": a.state, "gid": a.gid.to_string()});
                p.attrs = a;
                self.broadcast_for(port, v);
            }
            Err(e) => {
                if !p.error_logged {
                    log::warn!("cannot read port attributes port=umad{} error={e}", p.attrs.umad_index);
                    p.error_logged = true;
                }
            }
        }
    }

    // ---- pins ----

    fn restore_pins(&mut self) {
        if let Some(max) = self.settings.max_pinned {
            for p in &mut self.ports {
                let mut tc = p.engine.table().config();
                tc.max_pinned = max;
                p.engine.table_mut().set_config(tc);
            }
        }
        let Some((entries, damaged)) = self.initial_pins.take() else { return };
        let now = self.clock.now();
        let mut restored = 0;
        for e in &entries {
            // A pin belongs to the port of its source (the first port if none is).
            let port = self.pin_port(&e.record).unwrap_or(0);
            let r = self.ports[port].engine.table_mut().pin(now, &e.record, e.origin);
            if r.is_stored() {
                restored += 1;
            } else {
                log::error!(
                    "pinned entry not restored result={r:?} dgid={} dlid={}",
                    e.record.dgid,
                    e.record.dlid.get()
                );
            }
        }
        if !entries.is_empty() {
            log::info!("pinned entries restored count={restored}");
        }
        if damaged {
            // Write back what could be read, so the file is whole again.
            self.persist_pins();
        }
    }

    /// The port a pinned path belongs to ([`super::route::route_path`]).
    pub(super) fn pin_port(&self, r: &localsa_core::wire::path_record::Record) -> Option<usize> {
        super::route::route_path(&self.ports, r.sgid, r.slid.get())
    }

    /// Writes every port's pinned entries to the pinned file. `false` if that failed.
    pub(super) fn persist_pins(&mut self) -> bool {
        let entries: Vec<PinnedEntry> = self
            .ports
            .iter()
            .flat_map(|p| p.engine.table().iter())
            .filter(|e| e.pinned)
            .filter_map(|e| match e.kind {
                localsa_core::table::EntryKind::Path(origin) => {
                    Some(PinnedEntry { record: *e.record, origin })
                }
                _ => None,
            })
            .collect();
        match self.pins.save(&entries) {
            Ok(()) => true,
            Err(e) => {
                log::error!(
                    "cannot save pinned entries path={} error={e}",
                    self.pins.path().map(|p| p.display().to_string()).unwrap_or_default()
                );
                false
            }
        }
    }

    // ---- shutdown ----

    fn begin_shutdown(&mut self, why: &str) {
        if self.shutdown.is_some() {
            return;
        }
        let pending: usize = self.clients.values().map(|c| c.waiting.len()).sum();
        log::info!("shutting down signal={why} clients={} pending={pending}", self.clients.len());
        systemd::notify("STOPPING=1");
        self.shutdown = Some(StdInstant::now() + self.settings.clients.shutdown_grace);
        for l in std::mem::take(&mut self.listeners) {
            let _ = self.epoll.delete(l.listener.as_fd());
            l.remove_file();
        }
        // Every pending resolve fails with Cancelled; pump() turns those into error answers.
        for p in &mut self.ports {
            p.engine.cancel_all();
        }
        self.pump();
        for slot in self.clients.slots() {
            let Some(c) = self.clients.get_mut(slot) else { continue };
            let left: Vec<(usize, Waiting)> = c.waiting.drain().map(|(_, w)| w).collect();
            let dump = c.dump.take();
            c.close_when_flushed(StdInstant::now());
            for (port, w) in left {
                self.deliver(slot, port, w, Err(ResolveError::Cancelled));
            }
            if let Some(d) = dump {
                self.active_dumps = self.active_dumps.saturating_sub(1);
                let line = super::admin_service::error_line(
                    d.id().clone(),
                    super::protocol::ErrorCode::ShuttingDown,
                    "the daemon is shutting down",
                );
                self.queue(slot, line.as_bytes());
            }
            self.dirty.push(slot);
        }
    }

    fn finish(&mut self) {
        for slot in self.clients.slots() {
            self.close(slot, "shutdown");
        }
        for l in std::mem::take(&mut self.listeners) {
            l.remove_file();
        }
        if let Some(c) = &mut self.capture {
            c.flush();
        }
        let uptime = self.started.elapsed().as_secs();
        log::info!(
            "engine stopped uptime_s={uptime} resolves={} sa_queries={} clients_accepted={}",
            self.stats.resolves,
            self.ports.iter().map(|p| p.engine.stats().sa_queries).sum::<u64>(),
            self.stats.clients_accepted
        );
    }

    /// Clients the daemon holds at once.
    pub(super) fn clients_limit(&self) -> usize {
        self.budget.max_clients
    }

    /// Seconds since start.
    pub(super) fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The daemon counters with the readers' drops folded in.
    /// The daemon's counters, with the ones only ports count (MADs, port changes) summed
    /// over the ports.
    pub(super) fn daemon_stats(&self) -> DaemonStats {
        let mut d = self.stats;
        for c in self.ports.iter().map(Served::counters) {
            d.mads_sent += c.mads_sent;
            d.mad_send_errors += c.mad_send_errors;
            d.mads_received += c.mads_received;
            d.mad_send_failures_reported += c.mad_send_failures_reported;
            d.mads_dropped += c.mads_dropped;
            d.port_changes += c.port_changes;
        }
        d
    }

    /// Whether the SAs answer: `true` when every port's does, `false` when one does not,
    /// `null` (`None`) while one has not answered yet.
    pub(super) fn sa_reachable(&self) -> Option<bool> {
        let all: Vec<Option<bool>> = self.ports.iter().map(|p| p.engine.sa_reachable()).collect();
        if all.contains(&Some(false)) {
            Some(false)
        } else if all.contains(&None) {
            None
        } else {
            Some(true)
        }
    }

    /// Every port's engine counters added up.
    pub(super) fn engine_stats(&self) -> localsa_core::engine::Stats {
        sum_engine_stats(self.ports.iter().map(|p| p.engine.stats()))
    }

    /// The index of the port whose umad index is `umad`.
    pub(super) fn port_by_umad(&self, umad: u32) -> Option<usize> {
        self.ports.iter().position(|p| p.umad() == umad)
    }

    /// The engine's clock now.
    pub(super) fn now(&self) -> Instant {
        self.clock.now()
    }
}
