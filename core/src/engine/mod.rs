//! The resolution engine: the SA client that ties the codec, the RMPP endpoint and the
//! PathRecord table into one sans-IO state machine, for firmware or a daemon to drive.
//!
//! # Driving it
//!
//! The engine never blocks, allocates or reads a clock. Its caller owns the I/O:
//!
//! ```text
//! loop {
//!     engine.resolve(now, query, flags, token)      // clients ask: answered, pending or failed
//!     engine.handle_mad(now, from, bytes)           // every MAD received on the port
//!     engine.handle_timeout(now)                    // when now >= engine.poll_at()
//!     while let Some(t) = engine.poll_transmit(now, &mut buf) { send(t.to, &buf[..t.len]) }
//!     while let Some(e) = engine.poll_event() { deliver(e) }
//! }
//! ```
//!
//! # What it does
//!
//! * **Some**: a resolve answered by the table returns at once; a miss becomes one SA query
//!   (Get for one path, GetTable for several), shared by every resolve of the same question
//!   that arrives while it is pending (coalescing). At most `sa_depth` queries are outstanding;
//!   the rest wait in the pending pool, and a resolve that finds the pool or the waiter pool
//!   full fails at once with [`ResolveError::Overloaded`].
//! * **Transactions**: TIDs in the low 32 bits (the kernel rewrites the high half), a new TID
//!   for each retry (the kernel refuses a second outstanding request with the same TID),
//!   per-attempt timeouts from the SA's ClassPortInfo RespTimeValue with exponential backoff,
//!   BUSY backoff, SA statuses as named errors, "no records" cached as a negative entry.
//! * **Coherence (push)**: Set(InformInfo) for traps 64/65 (and 144/145); a Report(Notice) is
//!   answered with ReportResp and invalidates what it names. A heartbeat (ClassPortInfo)
//!   notices an SA that went away and came back; an SM LID change or client reregister comes
//!   from the caller. Either makes the cache stale (or flushes it) and renews subscriptions.
//! * **All**: in bulk mode, one GetTable (SGID = local port) fetches every path from the port,
//!   over RMPP, again on a schedule and after traps. An answer that may have been cut (a full
//!   single MAD without RMPP, as OpenSM sends on a fabric without kernel RMPP) is reported as
//!   incomplete; misses then resolve per destination as usual.
//!
//! # Capacities
//!
//! `Engine<T, P, W, RXS, RXC, TXS, TXC>`: `T` table entries (124 bytes each), `P` pending
//! queries (about 700 bytes each, answer included), `W` waiters (16 bytes each), and the RMPP
//! endpoint's receive and send slots (`RXS` × (`RXC` + 258) and `TXS` × (`TXC` + 242) bytes;
//! `RXC` must hold the largest table answer: 56 + 64 × records).

mod answer;
mod bulk;
mod config;
mod event;
mod key;
mod management;
mod outbox;
mod pending;
mod port;
mod replica;
mod stats;
mod traps;
mod waiters;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_coherence;
#[cfg(test)]
mod tests_replica;
#[cfg(test)]
mod tests_timeouts;

pub use config::{Config, Mode, SmChangePolicy, Upstream};
use event::Notice;
pub use event::{Answer, Event, Invalidation, Resolve, ResolveError, Source, Token, MAX_PATHS};
pub use port::{LocalPort, MAX_PKEYS};
pub use stats::Stats;

use bitflags::bitflags;
use heapless::{Deque, Vec};

use self::bulk::Bulk;
use self::key::QueryKey;
use self::management::Management;
use self::outbox::Outbox;
use self::pending::{Pool, Purpose, State};
use self::replica::{Replica, REMOTE_TOKEN};
use self::waiters::Waiters;
use crate::rmpp::{self, Endpoint};
use crate::table::{Lookup, PinPolicy, Query, Table};
use crate::time::{Duration, Instant};
use crate::wire::path_record::Record;
use crate::wire::{request, Grh, MadAddress, Method, PathRecordMask, MAD_LEN};

bitflags! {
    /// How a resolve may use the cache.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ResolveFlags: u8 {
        /// Ask the SA even if the table has an answer (ACM_FLAGS_QUERY_SA).
        const BYPASS_CACHE = 0x1;
        /// Answer from the table or fail; never ask the SA (ACM_FLAGS_NODELAY).
        const CACHE_ONLY = 0x2;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ResolveFlags {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "ResolveFlags({=u8:#x})", self.bits())
    }
}

/// A MAD to send, from [`Engine::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    /// Where it goes.
    pub to: MadAddress,
    /// Its length in the caller's buffer.
    pub len: usize,
    /// For requests that expect an answer: how long this attempt waits. A Linux host passes
    /// it as the umad `timeout_ms` so that the kernel delivers the answer to us.
    pub response_timeout: Option<Duration>,
}

/// Events waiting for [`Engine::poll_event`] beyond resolve answers (which are kept with
/// their pending query); when full the oldest is dropped.
const EVENT_QUEUE: usize = 16;
/// MADs waiting in the outbox (ReportResp, replica answers, Reports being relayed).
const OUTBOX: usize = 8;

/// The SA client. See the [module docs](self).
#[derive(Debug)]
pub struct Engine<
    const T: usize,
    const P: usize,
    const W: usize,
    const RXS: usize,
    const RXC: usize,
    const TXS: usize,
    const TXC: usize,
> {
    config: Config,
    port: LocalPort,
    table: Table<T>,
    pending: Pool<P>,
    waiters: Waiters<W>,
    rmpp: Endpoint<RXS, RXC, TXS, TXC>,
    outbox: Outbox<OUTBOX>,
    events: Deque<Notice, EVENT_QUEUE>,
    mgmt: Management,
    bulk: Bulk,
    next_tid: u32,
    stats: Stats,
    replica: Replica<P>,
    /// Records of a replica's table answer, laid out for the RMPP sender.
    scratch: [u8; TXC],
    /// The latest `now` seen at any entry point (for work done without one, e.g. cancel_all).
    last_now: Instant,
}

impl<
        const T: usize,
        const P: usize,
        const W: usize,
        const RXS: usize,
        const RXC: usize,
        const TXS: usize,
        const TXC: usize,
    > Engine<T, P, W, RXS, RXC, TXS, TXC>
{
    /// An engine that has not started: nothing configured, nothing known, every pool empty.
    ///
    /// All zero bytes, so a `static` holding it costs RAM in `.bss` and no flash, and nothing
    /// is built on the stack: firmware puts `EMPTY` in a static (e.g. in a
    /// `static_cell::ConstStaticCell`) and calls [`Self::start`] on it in place. A host may use
    /// [`Self::new`] instead.
    pub const EMPTY: Self = {
        assert!(P > 0 && W > 0, "an engine needs pending and waiter capacity");
        Engine {
            config: Config::ZEROED,
            port: LocalPort::EMPTY,
            table: Table::new(),
            pending: Pool::new(),
            waiters: Waiters::new(),
            rmpp: Endpoint::new(rmpp::Config::ZEROED),
            outbox: Outbox::new(),
            events: Deque::new(),
            mgmt: Management::EMPTY,
            bulk: Bulk::EMPTY,
            next_tid: 0,
            stats: Stats::ZERO,
            replica: Replica::EMPTY,
            scratch: [0; TXC],
            last_now: Instant::ZERO,
        }
    };

    /// Starts an [`Self::EMPTY`] engine in place for `port`: the first
    /// [`Self::poll_transmit`] fetches the SA's ClassPortInfo (and subscribes to traps, and
    /// starts a bulk fetch, as configured). Call it once.
    pub fn start(&mut self, now: Instant, config: Config, port: LocalPort) {
        let mut tc = self.table.config();
        tc.negative_lifetime = config.negative_lifetime;
        self.table.set_config(tc);
        self.rmpp.set_config(rmpp::Config {
            response_time: Self::base_timeout_for(&config, None),
            ..rmpp::Config::DEFAULT
        });
        self.mgmt.start(now, config.subscribe, config.heartbeat);
        self.bulk.start(now, config.mode);
        self.next_tid = config.tid_seed.max(1);
        self.last_now = now;
        self.config = config;
        self.port = port;
    }

    /// An engine for `port`, started at `now`: [`Self::EMPTY`] and [`Self::start`] by value.
    /// Hosts with room on the stack (or a thread with a large one) use this; firmware starts
    /// `EMPTY` in place.
    pub fn new(now: Instant, config: Config, port: LocalPort) -> Self {
        let mut engine = Self::EMPTY;
        engine.start(now, config, port);
        engine
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The local port as last given.
    pub fn port(&self) -> &LocalPort {
        &self.port
    }

    /// The PathRecord table (for `dump`).
    pub fn table(&self) -> &Table<T> {
        &self.table
    }

    /// The PathRecord table, to pin, unpin or flush entries as an administrator asks.
    pub fn table_mut(&mut self) -> &mut Table<T> {
        &mut self.table
    }

    /// Counters and gauges.
    pub fn stats(&self) -> Stats {
        Stats {
            outstanding: self.pending.outstanding,
            queued: self.pending.queued,
            waiting: self.waiters.len,
            rmpp_in_flight: self.rmpp.receiver().busy_slots() + self.rmpp.sender().busy_slots(),
            outbox_dropped: self.outbox.dropped,
            ..self.stats
        }
    }

    /// Whether the SA answered the last heartbeat (`None` before the first answer).
    pub fn sa_reachable(&self) -> Option<bool> {
        self.mgmt.reachable.known()
    }

    /// Resolves `query` for the caller's `token`.
    ///
    /// Answers at once from the table, fails at once (negative entry, overload, cache-only
    /// miss, invalid query), or goes pending: the answer then comes as [`Event::Resolved`].
    /// Tokens must be below 2^63 (the engine uses the top bit for other nodes' queries).
    pub fn resolve(&mut self, now: Instant, query: &Query, flags: ResolveFlags, token: Token) -> Resolve {
        self.last_now = now;
        if token & REMOTE_TOKEN != 0 {
            return Resolve::Failed(ResolveError::Invalid);
        }
        self.resolve_inner(now, query, flags, token)
    }

    /// [`Self::resolve`] for any token, a replica's remote ones included.
    fn resolve_inner(&mut self, now: Instant, query: &Query, flags: ResolveFlags, token: Token) -> Resolve {
        self.stats.resolves += 1;
        let Some(key) = QueryKey::of(query) else { return Resolve::Failed(ResolveError::Invalid) };
        if !flags.contains(ResolveFlags::BYPASS_CACHE) {
            let mut out = [Record::ZEROED; MAX_PATHS];
            match self.table.lookup(now, query, &mut out) {
                Lookup::Hit { count } if count > 0 => {
                    self.stats.cache_answers += 1;
                    return Resolve::Answered(answer(&out[..count], Source::Cache));
                }
                Lookup::StaleHit { count } if count > 0 => {
                    // Serve what we had and refresh it behind the client's back (unless the
                    // caller only wants the cache, which it then gets).
                    self.stats.stale_answers += 1;
                    if !flags.contains(ResolveFlags::CACHE_ONLY) && self.pending.find(&key).is_none() {
                        let _ = self.start_query(now, *query, key, Purpose::Refresh);
                    }
                    return Resolve::Answered(answer(&out[..count], Source::Cache));
                }
                Lookup::Negative { error, stale: false } => {
                    self.stats.negative_answers += 1;
                    return Resolve::Failed(ResolveError::Sa(error));
                }
                _ => {}
            }
            if flags.contains(ResolveFlags::CACHE_ONLY) {
                return Resolve::Failed(ResolveError::NotCached);
            }
        }
        if !self.waiters.has_room() {
            self.stats.overloaded += 1;
            return Resolve::Failed(ResolveError::Overloaded);
        }
        let slot = match self.pending.find(&key) {
            Some(s) => {
                self.stats.coalesced += 1;
                s
            }
            None => match self.start_query(now, *query, key, Purpose::Resolve) {
                Some(s) => s,
                None => {
                    self.stats.overloaded += 1;
                    return Resolve::Failed(ResolveError::Overloaded);
                }
            },
        };
        let Some(p) = self.pending.get_mut(slot) else { return Resolve::Failed(ResolveError::Overloaded) };
        // A background refresh now has a client waiting on it.
        if p.purpose == Purpose::Refresh {
            p.purpose = Purpose::Resolve;
        }
        let (mut head, mut tail) = (p.waiters_head, p.waiters_tail);
        let pushed = self.waiters.push(&mut head, &mut tail, token);
        if let Some(p) = self.pending.get_mut(slot) {
            p.waiters_head = head;
            p.waiters_tail = tail;
        }
        if !pushed {
            self.stats.overloaded += 1;
            return Resolve::Failed(ResolveError::Overloaded);
        }
        Resolve::Pending
    }

    /// Stops waiting for `token`'s answer (the client went away). `false` if it was not
    /// waiting. The SA query itself carries on for any other waiter.
    pub fn cancel(&mut self, token: Token) -> bool {
        let slots: Vec<usize, P> = self.pending.used().collect();
        for s in slots {
            let Some(p) = self.pending.get_mut(s) else { continue };
            let (mut head, mut tail) = (p.waiters_head, p.waiters_tail);
            if self.waiters.remove(&mut head, &mut tail, token) {
                if let Some(p) = self.pending.get_mut(s) {
                    p.waiters_head = head;
                    p.waiters_tail = tail;
                }
                return true;
            }
        }
        false
    }

    /// Fails every pending resolve with [`ResolveError::Cancelled`] (shutdown). The answers
    /// come out of [`Self::poll_event`].
    pub fn cancel_all(&mut self) {
        let now = self.last_now;
        let slots: Vec<usize, P> = self.pending.used().collect();
        for s in slots {
            if !matches!(self.pending.get(s).map(|p| &p.state), Some(State::Done { .. })) {
                self.complete(now, s, Err(ResolveError::Cancelled));
            }
        }
    }

    /// Takes one MAD received from `from`.
    pub fn handle_mad(&mut self, now: Instant, from: MadAddress, bytes: &[u8]) {
        self.last_now = now;
        match self.rmpp.handle(now, from, bytes) {
            rmpp::Outcome::NotRmpp => self.handle_plain(now, from, bytes),
            rmpp::Outcome::Malformed(_) => self.stats.malformed += 1,
            rmpp::Outcome::Accepted => self.answer_arriving(bytes),
            _ => {}
        }
        self.drain_rmpp(now);
    }

    /// A DATA segment of an answer to one of our queries was accepted: the answer is on its
    /// way, so the query stops counting its attempt timeout (a long transfer must not make us
    /// ask again, which would start a second transfer).
    fn answer_arriving(&mut self, bytes: &[u8]) {
        let Ok(packet) = crate::wire::SaPacket::new_checked(bytes) else { return };
        let h = packet.mad_header();
        if !h.method().is_response() {
            return;
        }
        let tid = h.transaction_id.get() as u32;
        if let Some(s) = self.pending.by_tid(tid) {
            if matches!(self.pending.get(s).map(|p| &p.state), Some(State::Outstanding { .. })) {
                self.pending.set_state(s, State::Receiving { tid });
            }
        }
    }

    /// Runs the timers that have run out at `now`: retries, timeouts, heartbeat, subscription
    /// renewal, bulk refresh, RMPP. Call it when `now >= poll_at()` (calling it early is
    /// harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.rmpp.handle_timeout(now);
        self.drain_rmpp(now);
        self.mgmt_timeouts(now);
        self.bulk_timeouts(now);
        let slots: Vec<usize, P> = self.pending.used().collect();
        for s in slots {
            let Some(p) = self.pending.get(s) else { continue };
            match p.state {
                State::Outstanding { deadline, .. } if deadline <= now => {
                    if p.attempts > self.config.max_retries {
                        self.stats.timeouts += 1;
                        self.sa_unreachable_hint();
                        self.complete(now, s, Err(ResolveError::Timeout));
                    } else {
                        self.stats.retries += 1;
                        self.pending.set_state(s, State::Ready);
                    }
                }
                State::Backoff { until } if until <= now => self.pending.set_state(s, State::Ready),
                _ => {}
            }
        }
        self.promote();
    }

    /// When [`Self::handle_timeout`] should next run, if any timer is set.
    pub fn poll_at(&self) -> Option<Instant> {
        let mut at = self.rmpp.poll_at();
        let mut earliest = |t: Instant| at = Some(at.map_or(t, |a| if t < a { t } else { a }));
        for s in self.pending.used() {
            match self.pending.get(s).map(|p| &p.state) {
                Some(State::Outstanding { deadline, .. }) => earliest(*deadline),
                Some(State::Backoff { until }) => earliest(*until),
                _ => {}
            }
        }
        if let Some(t) = self.mgmt.next_deadline() {
            earliest(t);
        }
        if let Some(t) = self.bulk.next_deadline() {
            earliest(t);
        }
        at
    }

    /// The next MAD to send, written into `buf`.
    ///
    /// RMPP control and data first (they keep transfers moving), then Report answers, then the
    /// SA's housekeeping (ClassPortInfo, subscriptions), then PathRecord queries under the
    /// `sa_depth` limit.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; MAD_LEN]) -> Option<Transmit> {
        self.last_now = now;
        if let Some((to, len)) = self.rmpp.poll_transmit(now, buf) {
            return Some(Transmit { to, len, response_timeout: None });
        }
        let Engine { outbox, replica, .. } = self;
        if let Some((to, len, relayed)) = outbox.pop(buf, |trap, from| replica.subscriber(trap, from)) {
            if relayed {
                self.replica.stamp_relay(buf);
            }
            return Some(Transmit { to, len, response_timeout: None });
        }
        if let Some(t) = self.mgmt_transmit(now, buf) {
            return Some(t);
        }
        self.bulk_start(now);
        self.promote();
        let ready = self
            .pending
            .used()
            .find(|&s| matches!(self.pending.get(s).map(|p| &p.state), Some(State::Ready)))?;
        self.send_query(now, ready, buf)
    }

    /// Whether [`Self::poll_transmit`] has something to send now.
    pub fn has_transmit(&self) -> bool {
        self.rmpp.has_transmit()
            || !self.outbox.is_empty()
            || self.mgmt.has_transmit()
            || self
                .pending
                .used()
                .any(|s| matches!(self.pending.get(s).map(|p| &p.state), Some(State::Ready)))
            || (self.pending.queued > 0 && self.pending.outstanding < self.config.sa_depth)
    }

    /// The next event: answers to pending resolves, invalidations, subscription and SA
    /// reachability changes.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(n) = self.events.pop_front() {
            return Some(n.into());
        }
        let done = self
            .pending
            .used()
            .find(|&s| matches!(self.pending.get(s).map(|p| &p.state), Some(State::Done { .. })))?;
        let p = self.pending.get_mut(done)?;
        let (mut head, mut tail) = (p.waiters_head, p.waiters_tail);
        let result = match &p.state {
            State::Done { result } => result.clone(),
            _ => return None,
        };
        let token = self.waiters.pop(&mut head, &mut tail);
        if let Some(p) = self.pending.get_mut(done) {
            p.waiters_head = head;
            p.waiters_tail = tail;
        }
        if head == 0 {
            self.pending.remove(done);
        }
        match token {
            Some(token) => Some(Event::Resolved { token, result }),
            // A done slot whose waiters all cancelled: freed above; look further.
            None => self.poll_event(),
        }
    }

    /// The port changed (the host saw new sysfs values). An SM LID change counts as a new
    /// subnet manager when the upstream is the SM.
    pub fn set_port(&mut self, now: Instant, port: LocalPort) {
        let sm_moved = port.sm_lid != self.port.sm_lid && self.config.upstream == Upstream::SmLid;
        self.port = port;
        if sm_moved {
            self.sm_changed(now);
        }
    }

    /// The SM asked clients to re-register (PortInfo ClientReregister, e.g. after an SM
    /// failover): re-subscribe and revalidate as for a new SM.
    pub fn client_reregister(&mut self, now: Instant) {
        self.sm_changed(now);
    }

    /// Drops cached paths as an administrator asks; pinned entries stay unless `pins` says.
    pub fn flush(&mut self, pins: PinPolicy) -> usize {
        self.table.flush(pins)
    }

    // ---- internals shared by the submodules ----

    /// A fresh transaction ID (low 32 bits; never 0).
    fn tid(&mut self) -> u32 {
        let t = self.next_tid;
        self.next_tid = self.next_tid.wrapping_add(1);
        if self.next_tid == 0 {
            self.next_tid = 1;
        }
        t
    }

    /// Where SA queries go now.
    fn sa_address(&self) -> MadAddress {
        match self.config.upstream {
            Upstream::SmLid => MadAddress::gsi(self.port.sm_lid, self.port.sm_sl),
            Upstream::Lid(lid) => MadAddress::gsi(lid, self.port.sm_sl),
            Upstream::Gid(gid) => MadAddress {
                grh: Some(Grh { gid, sgid_index: 0, hop_limit: 64, traffic_class: 0, flow_label: 0 }),
                ..MadAddress::gsi(0, self.port.sm_sl)
            },
        }
    }

    fn base_timeout_for(config: &Config, resp_time_value: Option<u8>) -> Duration {
        let base = config.timeout.unwrap_or_else(|| {
            let rtv = resp_time_value.unwrap_or(config.default_resp_time_value);
            Duration::from_ib_time_exponent(rtv)
                + Duration::from_ib_time_exponent(config.packet_life_time).saturating_mul(2)
        });
        base.max(config.min_timeout).min(config.max_timeout)
    }

    /// How long attempt number `attempt` (0 for the first send) waits: doubling per retry.
    fn attempt_timeout(&self, attempt: u8) -> Duration {
        let base = Self::base_timeout_for(&self.config, self.mgmt.resp_time_value);
        base.saturating_mul(1 << attempt.min(8)).min(self.config.max_timeout.max(base))
    }

    /// Starts a pending SA query for `query`.
    fn start_query(&mut self, now: Instant, query: Query, key: QueryKey, purpose: Purpose) -> Option<usize> {
        let method = sa_method(&query, purpose);
        let slot = self.pending.insert(now, query, key, method, purpose)?;
        self.promote();
        Some(slot)
    }

    /// Lets queued queries out while fewer than `sa_depth` are outstanding.
    fn promote(&mut self) {
        while self.pending.outstanding < self.config.sa_depth.max(1) {
            let Some(s) = self.pending.oldest_queued() else { break };
            self.pending.set_state(s, State::Ready);
        }
    }

    /// Writes the query of slot `s` into `buf` with a fresh TID and marks it outstanding.
    fn send_query(&mut self, now: Instant, s: usize, buf: &mut [u8; MAD_LEN]) -> Option<Transmit> {
        let tid = self.tid();
        let (query, method, attempts, old_tid) = {
            let p = self.pending.get(s)?;
            (p.query, p.method, p.attempts, p.previous_tid)
        };
        let mut mask = query.mask;
        let mut template = query.template;
        if method == Method::Get {
            // One path: NumbPath 1 makes OpenSM answer Get with one record instead of
            // ERR_TOO_MANY_RECORDS when several paths exist.
            mask |= PathRecordMask::NUMB_PATH;
            template.numb_path = 1;
        }
        let Ok(len) = request::path_record_query(buf, tid as u64, method, &template, mask) else {
            self.complete(now, s, Err(ResolveError::Invalid));
            return None;
        };
        let timeout = self.attempt_timeout(attempts);
        if attempts == 0 {
            self.stats.sa_queries += 1;
        }
        if let Some(p) = self.pending.get_mut(s) {
            p.attempts = attempts.saturating_add(1);
            p.previous_tid = match p.state {
                State::Outstanding { tid, .. } | State::Receiving { tid } => Some(tid),
                _ => old_tid,
            };
            if attempts == 0 {
                p.started = now;
            }
        }
        self.pending.set_state(s, State::Outstanding { tid, deadline: now + timeout });
        Some(Transmit { to: self.sa_address(), len, response_timeout: Some(timeout) })
    }

    /// Finishes slot `s`: other nodes waiting on it (replica mode) are answered now, local
    /// waiters through `poll_event`; a slot nobody waits for is freed now.
    fn complete(&mut self, now: Instant, s: usize, result: Result<crate::engine::Answer, ResolveError>) {
        self.take_remote_waiters(now, s, &result);
        let Some(p) = self.pending.get(s) else { return };
        if p.waiters_head == 0 {
            self.pending.remove(s);
        } else {
            self.pending.set_state(s, State::Done { result });
        }
        self.promote();
    }

    /// Queues an event, dropping the oldest when the queue is full.
    fn push_event(&mut self, event: Notice) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    /// Handles finished RMPP transfers.
    fn drain_rmpp(&mut self, now: Instant) {
        while let Some(e) = self.rmpp.poll_event() {
            match e {
                rmpp::Event::Received { id, key, .. } => {
                    let tid = key.transaction_id as u32;
                    if let Some(s) = self.pending.by_tid(tid) {
                        self.answer_from_rmpp(now, s, id);
                    } else {
                        self.stats.unmatched += 1;
                    }
                    self.rmpp.release(id);
                }
                rmpp::Event::ReceiveFailed { key, failure } => {
                    self.stats.rmpp_failures += 1;
                    if let Some(s) = self.pending.by_tid(key.transaction_id as u32) {
                        // Retry the query from scratch, or give up with the RMPP failure.
                        if let Some(p) = self.pending.get(s) {
                            if p.attempts > self.config.max_retries {
                                self.complete(now, s, Err(ResolveError::Transfer(failure)));
                            } else {
                                self.pending.set_state(s, State::Ready);
                            }
                        }
                    }
                }
                rmpp::Event::Sent { .. } => {}
                rmpp::Event::SendFailed { .. } => self.stats.rmpp_failures += 1,
            }
        }
    }

    /// A plain (non-RMPP) SA MAD.
    fn handle_plain(&mut self, now: Instant, from: MadAddress, bytes: &[u8]) {
        let Ok(packet) = crate::wire::SaPacket::new_checked(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let method = packet.mad_header().method();
        if method.is_response() {
            let tid = packet.mad_header().transaction_id.get() as u32;
            if self.mgmt_answer(now, tid, &packet) {
                return;
            }
            match self.pending.by_tid(tid) {
                Some(s) => self.answer(now, s, &packet, false),
                None => self.stats.unmatched += 1,
            }
        } else if method == Method::Report {
            self.handle_report(now, from, &packet);
        } else if self.config.serve_sa {
            self.serve(now, from, &packet);
        } else {
            // Requests from other nodes: only a replica answers them.
            self.stats.unmatched += 1;
        }
    }
}

/// Get for one path between named endpoints; GetTable when several paths may answer or an
/// endpoint is left open.
fn sa_method(query: &Query, purpose: Purpose) -> Method {
    let m = query.mask;
    let named_ends = (m.contains(PathRecordMask::SGID) || m.contains(PathRecordMask::SLID))
        && (m.contains(PathRecordMask::DGID) || m.contains(PathRecordMask::DLID));
    let several = m.contains(PathRecordMask::NUMB_PATH) && query.template.numb_path > 1;
    if purpose == Purpose::Bulk || !named_ends || several {
        Method::GetTable
    } else {
        Method::Get
    }
}

fn answer(records: &[Record], source: Source) -> Answer {
    let mut v = Vec::new();
    for r in records.iter().take(MAX_PATHS) {
        let _ = v.push(*r);
    }
    Answer { records: v, source }
}
