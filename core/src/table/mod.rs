//! The PathRecord cache: a bounded, allocation-free table that answers PathRecord queries the
//! way the SA would, from records the SA already gave.
//!
//! # Shape
//!
//! [`Table<N>`] holds at most `N` entries in one array sized at compile time, plus two hash
//! indexes (destination GID, destination LID) and an LRU list whose links are `u32` slot
//! numbers in dense arrays beside the entries. Nothing is allocated and nothing is behind a
//! pointer, so a table is a plain value: put it in a `static`, in a `Box`, or (small ones) on
//! the stack. The all-zero bit pattern is the empty table with the default configuration, so
//! [`Table::new`] in a `static` lands in `.bss`, and a large table can be made directly on
//! the heap with `zerocopy::FromZeros::new_box_zeroed` (zerocopy's `alloc` feature).
//!
//! Memory: [`BYTES_PER_ENTRY`] = 124 bytes per entry: a 96-byte entry (the 64-byte wire
//! record, 8-byte expiry, 8-byte ServiceID context, generation, mask, error, QoS class,
//! flags), a 12-byte hash-chain node (two links and two 16-bit keys), 8 bytes of LRU links and
//! two 4-byte bucket heads; plus a fixed header of 336 bytes (mostly the source sets and the
//! counters). A 256-entry table is 31.3 KiB, half of a 64 KiB Cortex-M3's RAM.
//!
//! # Entries
//!
//! * **Paths**: records from the SA, each with its [`Origin`] (what the inserter knows about
//!   the query that fetched it). Several coexist per destination: one per distinct source,
//!   LIDs, P_Key, SL, MTU, rate, packet lifetime and [`Context`]. Inserting the same path
//!   again replaces it.
//! * **Negative entries**: "the SA said no" to a query ([`Table::insert_negative`]), kept for
//!   [`Config::negative_lifetime`] and answered only to the same query (same normal form).
//! * **Pinned entries**: paths an administrator added ([`Table::pin`]). They never expire, are
//!   never stale and are never evicted; at most [`Config::max_pinned`] of them (default
//!   `N / 4`) so that pins can never crowd out the cache.
//!
//! # Matching
//!
//! [`Table::lookup`] takes a [`Query`] (template + component mask, as a client sends it to the
//! SA) and writes up to NumbPath matching records into the caller's slice; the rules, and the
//! OpenSM code they come from, are in the [`query`] module. Matching records come pinned
//! first, then by Preference, then in a fixed order of their identity.
//!
//! # Aging, eviction, invalidation
//!
//! Each entry has its own expiry (`lifetime` at insertion, zero for never). Expired entries
//! are dropped when a lookup meets them, when they reach the LRU tail, or by
//! [`Table::purge_expired`]. When the table is full an insert takes the least recently used
//! unpinned entry's slot. [`Table::invalidate_gid`] (trap 64/65: every entry whose DGID or
//! SGID is that GID), [`Table::invalidate_lid`], [`Table::invalidate_prefix`] and
//! [`Table::flush`] drop entries at once; [`Table::bump_generation`] (subnet manager change)
//! marks every unpinned entry stale instead, so that lookups report [`Lookup::StaleHit`] and
//! the engine can serve-and-refresh or refetch.
//!
//! Everything is O(1) in the table size except the scans: invalidation by prefix, by a
//! *source* GID or LID (skipped unless some entry has that source: the table tracks up to 8
//! distinct sources exactly), flush with pins kept, and `purge_expired`.

mod counters;
mod entry;
mod index;
mod lru;
pub mod query;
mod sources;

use core::fmt;

use zerocopy::FromZeros;

pub use counters::Counters;
pub use query::{Context, Natural, Origin, Query};

use self::entry::{flags, Entry, Rank, NEVER};
use self::index::Index;
use self::lru::Lru;
use self::query::{Compiled, Dest};
use self::sources::SourceSet;
use crate::time::{Duration, Instant};
use crate::wire::path_record::Record;
use crate::wire::{Gid, PathRecordMask, PathRecordRepr, SaError};

/// Memory per entry: the entry itself, its hash-chain node, its LRU links, and one bucket head
/// in each of the two hash indexes.
pub const BYTES_PER_ENTRY: usize = core::mem::size_of::<Entry>()
    + core::mem::size_of::<index::Node>()
    + core::mem::size_of::<lru::Links>()
    + 2 * core::mem::size_of::<u32>();

// The memory budget: at most 128 bytes per entry, checked at compile time.
const _: () = assert!(BYTES_PER_ENTRY <= 128);

/// How long a negative entry lasts unless configured otherwise: long enough to absorb a burst
/// of retries for an unreachable destination, short enough that a port coming up is seen soon.
pub const DEFAULT_NEGATIVE_LIFETIME: Duration = Duration::from_secs(5);

/// Run-time settings of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Lifetime of negative entries; zero makes them permanent (not advised: an unreachable
    /// destination would stay unreachable until invalidated).
    pub negative_lifetime: Duration,
    /// The most pinned entries the table accepts (capped at `N`). Keeping it below `N`
    /// guarantees that an insert always finds a slot to reuse.
    pub max_pinned: usize,
}

/// Whether an invalidation or flush also drops pinned entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PinPolicy {
    /// Pinned entries stay (the administrator's word outlives SA events).
    Keep,
    /// Pinned entries go too.
    Drop,
}

/// The answer to a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Lookup {
    /// `count` records from fresh or pinned entries are at the start of the output slice.
    /// `count` is at most the slice length and the query's NumbPath (it is zero only if one of
    /// those is). The table cannot know whether the SA has more paths than it holds.
    Hit {
        /// Records written.
        count: usize,
    },
    /// Only entries cached before the last [`Table::bump_generation`] answer; `count` of them
    /// were written. Serve them and refresh, or refetch, as the engine's policy says.
    StaleHit {
        /// Records written.
        count: usize,
    },
    /// The SA answered this very query with an error not long ago.
    Negative {
        /// What the SA said.
        error: SaError,
        /// The answer predates the last [`Table::bump_generation`].
        stale: bool,
    },
    /// Nothing held answers the query.
    Miss,
    /// The table does not answer this kind of query; ask the SA. That is a query without a
    /// source (SGID or SLID) or destination (DGID or DLID), with a multicast DGID, half a
    /// ServiceID, an invalid MTU or rate, or a selector or field value out of range.
    Unsupported,
}

/// What an insert or pin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Insert {
    /// Stored in a free slot (possibly one whose entry had just expired).
    Inserted,
    /// An entry for the same path (or query, for negative entries) was updated in place.
    Replaced,
    /// Stored in the slot of the least recently used entry, which was still live.
    Evicted,
    /// Not stored: a pinned entry holds this path, and the administrator's word wins.
    Pinned,
    /// Not stored: every slot holds a pinned entry.
    FullOfPins,
    /// Not pinned: the table already holds [`Config::max_pinned`] pinned entries.
    TooManyPins,
    /// Not stored: the table cannot index this query (see [`Lookup::Unsupported`]).
    Unsupported,
}

impl Insert {
    /// Whether the record or negative answer is now in the table.
    pub const fn is_stored(self) -> bool {
        matches!(self, Insert::Inserted | Insert::Replaced | Insert::Evicted)
    }
}

/// Why an entry leaves the table: each cause has its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Evicted,
    Expired,
    Invalidated,
}

/// Settings as stored: all-zero means "the defaults", so that an all-zero table is valid.
#[derive(Debug, Clone, Copy, FromZeros)]
struct Settings {
    configured: bool,
    max_pinned: u32,
    negative_lifetime: u64,
}

/// The PathRecord cache. See the [module docs](self).
///
/// `N` is the capacity, `1..u32::MAX`; a const generic so the whole table is one fixed-size
/// value with no allocation.
#[derive(FromZeros)]
pub struct Table<const N: usize> {
    entries: [Entry; N],
    index: Index<N>,
    lru: Lru<N>,
    /// Free list of recycled slots, linked through their LRU `next` (slot + 1, 0 for none).
    free: u32,
    /// Slots `high_water..N` have never been used.
    high_water: u32,
    len: u32,
    pinned: u32,
    generation: u32,
    /// The source GIDs and LIDs of the entries, so invalidating a GID or LID that is no
    /// entry's source needs no scan.
    source_gids: SourceSet<Gid>,
    source_lids: SourceSet<u16>,
    settings: Settings,
    counters: Counters,
}

impl<const N: usize> Default for Table<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Table<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("capacity", &N)
            .field("len", &self.len)
            .field("pinned", &self.pinned)
            .field("generation", &self.generation)
            .field("config", &self.config())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// A summary like the `Debug` output: sizes, generation, settings and counters, no entries.
#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for Table<N> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Table {{ capacity: {=usize}, len: {=u32}, pinned: {=u32}, generation: {=u32}, config: {}, counters: {} }}",
            N,
            self.len,
            self.pinned,
            self.generation,
            self.config(),
            self.counters
        )
    }
}

/// An entry's source GID and LID, if it has them (paths always; negative entries if their
/// query named them).
fn sources(e: &Entry) -> (Option<Gid>, Option<u16>) {
    let m = e.mask;
    let named = |bit: PathRecordMask| e.is_path() || m & bit.bits() as u32 != 0;
    (
        named(PathRecordMask::SGID).then_some(e.record.sgid),
        named(PathRecordMask::SLID).then_some(e.record.slid.get()),
    )
}

/// Whether `e` is indexed under `dest` (not just hashed to the same bucket).
fn indexed_under(e: &Entry, dest: &Dest) -> bool {
    match dest {
        Dest::Gid(g) => e.has(flags::IN_GID) && e.record.dgid == *g,
        Dest::Lid(l) => e.has(flags::IN_LID) && e.record.dlid.get() == *l,
    }
}

/// `now + lifetime` in µs, `NEVER` for a zero lifetime.
fn expiry(now: Instant, lifetime: Duration) -> u64 {
    if lifetime == Duration::ZERO {
        NEVER
    } else {
        now.as_micros().saturating_add(lifetime.as_micros()).min(NEVER - 1)
    }
}

impl<const N: usize> Table<N> {
    /// An empty table with the default [`Config`]: negative entries live
    /// [`DEFAULT_NEGATIVE_LIFETIME`], at most `N / 4` pinned entries. All zero bytes.
    pub const fn new() -> Self {
        const { assert!(N > 0 && N < u32::MAX as usize, "capacity must be in 1..u32::MAX") };
        Table {
            entries: [Entry::EMPTY; N],
            index: Index::new(),
            lru: Lru::new(),
            free: 0,
            high_water: 0,
            len: 0,
            pinned: 0,
            generation: 0,
            source_gids: SourceSet::new(Gid::ZERO),
            source_lids: SourceSet::new(0),
            settings: Settings { configured: false, max_pinned: 0, negative_lifetime: 0 },
            counters: Counters {
                hits: 0,
                stale_hits: 0,
                negative_hits: 0,
                misses: 0,
                inserts: 0,
                replacements: 0,
                evictions: 0,
                expirations: 0,
                invalidations: 0,
            },
        }
    }

    /// An empty table with `config`.
    pub const fn with_config(config: Config) -> Self {
        let mut t = Self::new();
        t.settings = Self::settings_for(config);
        t
    }

    const fn settings_for(config: Config) -> Settings {
        Settings {
            configured: true,
            max_pinned: if config.max_pinned < N { config.max_pinned as u32 } else { N as u32 },
            negative_lifetime: config.negative_lifetime.as_micros(),
        }
    }

    /// The current settings.
    pub const fn config(&self) -> Config {
        if self.settings.configured {
            Config {
                negative_lifetime: Duration::from_micros(self.settings.negative_lifetime),
                max_pinned: self.settings.max_pinned as usize,
            }
        } else {
            Config { negative_lifetime: DEFAULT_NEGATIVE_LIFETIME, max_pinned: N / 4 }
        }
    }

    /// Changes the settings. Entries already held keep their expiry; if there are more pinned
    /// entries than the new cap, they stay but no new pin is accepted until enough go.
    pub fn set_config(&mut self, config: Config) {
        self.settings = Self::settings_for(config);
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Entries held (paths, negative and pinned).
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the table holds nothing.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pinned entries held.
    pub const fn pinned_len(&self) -> usize {
        self.pinned as usize
    }

    /// The current generation (see [`Table::bump_generation`]).
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// The event counters.
    pub const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Starts a new generation, after the subnet manager changed (SM handover, or a trap or
    /// ClassPortInfo telling the engine the fabric was reconfigured). Every unpinned entry
    /// becomes stale: still served, but as [`Lookup::StaleHit`] (or a stale
    /// [`Lookup::Negative`]), and only when no fresh entry answers. O(1); returns the new
    /// generation. (Generations are compared for equality, so an entry would look fresh again
    /// only after 2³² bumps.)
    pub fn bump_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    fn is_stale(&self, e: &Entry) -> bool {
        !e.is_pinned() && e.generation != self.generation
    }

    fn max_pinned(&self) -> u32 {
        self.config().max_pinned as u32
    }

    fn is_full(&self) -> bool {
        self.free == 0 && self.high_water as usize == N
    }

    /// Looks `query` up at `now`, writing the matching records (at most `out.len()` and the
    /// query's NumbPath) to the start of `out`.
    ///
    /// Records come from fresh and pinned entries if any answer, else from stale ones. Expired
    /// entries met on the way (same destination) are dropped. Every record returned counts as
    /// a use for the LRU order. If no path answers, a negative entry for the same query does.
    /// Constant time: one hash chain walk, plus one more per record beyond the first.
    pub fn lookup(&mut self, now: Instant, query: &Query, out: &mut [Record]) -> Lookup {
        let Ok(q) = Compiled::new(query) else {
            self.counters.misses += 1;
            return Lookup::Unsupported;
        };
        let now = now.as_micros();
        let dest = q.dest();
        // Per kind, fresh [0] and stale [1]: how many path entries answer, and the best ranked.
        // Ranks are only compared when a second entry answers.
        let mut found = [0usize; 2];
        let mut best = [usize::MAX; 2];
        let mut negative = None;
        let mut normal = None;
        let mut walk = self.index.cursor(&dest);
        while let Some(s) = self.index.next(&mut walk) {
            let e = &self.entries[s];
            if !indexed_under(e, &dest) {
                continue;
            }
            if e.expired(now) {
                self.drop_slot(s, Cause::Expired);
            } else if e.is_path() {
                if q.answers(e) {
                    let k = self.is_stale(e) as usize;
                    found[k] += 1;
                    if best[k] == usize::MAX || self.entries[s].rank() < self.entries[best[k]].rank() {
                        best[k] = s;
                    }
                }
            } else if negative.is_none() {
                let (record, mask) = normal.get_or_insert_with(|| q.normalized());
                if e.mask == *mask && e.record == *record {
                    negative = Some(s);
                }
            }
        }
        let k = if found[0] > 0 { 0 } else { 1 };
        let is_stale = k == 1;
        if found[k] > 0 {
            let limit = q.limit.map_or(out.len(), |n| out.len().min(n as usize));
            let count = limit.min(found[k]);
            let mut slot = best[k];
            for (i, out) in out.iter_mut().enumerate().take(count) {
                if i > 0 {
                    // The next record in rank order: the smallest rank above the last one.
                    let last = self.entries[slot].rank();
                    let mut next: Option<(Rank, usize)> = None;
                    let mut walk = self.index.cursor(&dest);
                    while let Some(s) = self.index.next(&mut walk) {
                        let e = &self.entries[s];
                        if indexed_under(e, &dest)
                            && e.is_path()
                            && self.is_stale(e) == is_stale
                            && q.answers(e)
                        {
                            let rank = e.rank();
                            if rank > last && next.as_ref().is_none_or(|(n, _)| rank < *n) {
                                next = Some((rank, s));
                            }
                        }
                    }
                    // `count` entries answer, so there is a next one.
                    let Some((_, s)) = next else { break };
                    slot = s;
                }
                *out = self.entries[slot].record;
                if !self.entries[slot].is_pinned() {
                    self.lru.touch(slot);
                }
            }
            return if is_stale {
                self.counters.stale_hits += 1;
                Lookup::StaleHit { count }
            } else {
                self.counters.hits += 1;
                Lookup::Hit { count }
            };
        }
        if let Some(s) = negative {
            self.lru.touch(s);
            self.counters.negative_hits += 1;
            let e = &self.entries[s];
            return Lookup::Negative { error: e.error(), stale: self.is_stale(e) };
        }
        self.counters.misses += 1;
        Lookup::Miss
    }

    /// Caches `record`, one of the SA's answers, for `lifetime` (zero: until invalidated or
    /// evicted). `origin` says what the query that fetched it leaves open; use
    /// [`Table::insert_answer`] to derive it from that query.
    ///
    /// An entry for the same path is replaced. Negative entries the record contradicts (their
    /// query is answered by this record) are dropped. When the table is full, the least
    /// recently used unpinned entry makes room.
    pub fn insert(&mut self, now: Instant, record: &Record, origin: Origin, lifetime: Duration) -> Insert {
        self.put_path(now, record, &origin, expiry(now, lifetime), false)
    }

    /// [`Table::insert`] with the origin derived from the query the SA answered
    /// ([`Origin::from_query`]): the easy way to cache every record of an SA response.
    pub fn insert_answer(
        &mut self,
        now: Instant,
        query: &Query,
        record: &Record,
        lifetime: Duration,
    ) -> Insert {
        self.insert(now, record, Origin::from_query(query, record), lifetime)
    }

    /// Pins `record`: it never expires, is never stale or evicted, and is returned before any
    /// cached record that also answers (the administrator's word first). Pinning a path
    /// already cached converts it; at most [`Config::max_pinned`] pins.
    pub fn pin(&mut self, now: Instant, record: &Record, origin: Origin) -> Insert {
        self.put_path(now, record, &origin, NEVER, true)
    }

    fn put_path(
        &mut self,
        now: Instant,
        record: &Record,
        origin: &Origin,
        expires: u64,
        pin: bool,
    ) -> Insert {
        let new = Entry::path(record, origin, expires, self.generation, pin);
        let existing = self.find_path(&new);
        let existing_pinned = existing.is_some_and(|s| self.entries[s].is_pinned());
        if existing_pinned && !pin {
            return Insert::Pinned;
        }
        if pin && !existing_pinned && self.pinned >= self.max_pinned() {
            return Insert::TooManyPins;
        }
        if existing.is_none() && self.is_full() && self.lru.is_empty() {
            return Insert::FullOfPins;
        }
        self.drop_contradicted_negatives(&new);
        if let Some(s) = existing {
            self.entries[s] = new;
            if pin && !existing_pinned {
                // It was on the LRU list; pinned entries are not.
                self.lru.unlink(s);
                self.pinned += 1;
            } else if !pin {
                self.lru.touch(s);
            }
            self.counters.replacements += 1;
            return Insert::Replaced;
        }
        self.store(now, new)
    }

    /// Records that the SA answered `query` with `error` (ERR_NO_RECORDS, an invalid GID...),
    /// for [`Config::negative_lifetime`]. Cached paths that would answer the query are
    /// dropped: the SA just said there are none. Pinned paths stay and still answer.
    pub fn insert_negative(&mut self, now: Instant, query: &Query, error: SaError) -> Insert {
        let Ok(q) = Compiled::new(query) else { return Insert::Unsupported };
        let (record, mask) = q.normalized();
        let dest = q.dest();
        let mut existing = None;
        let mut walk = self.index.cursor(&dest);
        while let Some(s) = self.index.next(&mut walk) {
            let e = &self.entries[s];
            if e.is_negative() && indexed_under(e, &dest) && e.mask == mask && e.record == record {
                existing = Some(s);
                break;
            }
        }
        if existing.is_none() && self.is_full() && self.lru.is_empty() {
            return Insert::FullOfPins;
        }
        let mut walk = self.index.cursor(&dest);
        while let Some(s) = self.index.next(&mut walk) {
            let e = &self.entries[s];
            if e.is_path() && !e.is_pinned() && indexed_under(e, &dest) && q.answers(e) {
                self.drop_slot(s, Cause::Invalidated);
            }
        }
        let lifetime = self.config().negative_lifetime;
        let new = Entry::negative(&record, mask, error, expiry(now, lifetime), self.generation);
        if let Some(s) = existing {
            let e = &mut self.entries[s];
            (e.error, e.expires, e.generation) = (new.error, new.expires, new.generation);
            self.lru.touch(s);
            self.counters.replacements += 1;
            return Insert::Replaced;
        }
        self.store(now, new)
    }

    /// Removes the pinned entry for this path (its record and the context it was pinned
    /// with). Returns whether there was one.
    pub fn unpin(&mut self, record: &Record, context: &Context) -> bool {
        self.remove_identity(record, context, true)
    }

    /// Removes the entry for this path (its record and the context it was inserted with),
    /// pinned or not. Returns whether there was one.
    pub fn remove(&mut self, record: &Record, context: &Context) -> bool {
        self.remove_identity(record, context, false)
    }

    fn remove_identity(&mut self, record: &Record, context: &Context, pinned_only: bool) -> bool {
        let probe =
            Entry::path(record, &Origin { natural: Natural::empty(), context: *context }, NEVER, 0, false);
        match self.find_path(&probe) {
            Some(s) if !pinned_only || self.entries[s].is_pinned() => {
                self.drop_slot(s, Cause::Invalidated);
                true
            }
            _ => false,
        }
    }

    /// Drops every entry whose destination or source GID is `gid` (what trap 64/65 and a GID
    /// going out of service call for). Returns how many went.
    pub fn invalidate_gid(&mut self, gid: &Gid, pins: PinPolicy) -> usize {
        let dest = Dest::Gid(*gid);
        let mut n = self.drop_under(&dest, pins);
        if self.source_gids.may_contain(*gid) {
            n += self.drop_where(pins, Cause::Invalidated, |e| sources(e).0 == Some(*gid));
        }
        n
    }

    /// Drops every entry whose destination or source LID is `lid`. Returns how many went.
    pub fn invalidate_lid(&mut self, lid: u16, pins: PinPolicy) -> usize {
        let dest = Dest::Lid(lid);
        let mut n = self.drop_under(&dest, pins);
        if self.source_lids.may_contain(lid) {
            n += self.drop_where(pins, Cause::Invalidated, |e| sources(e).1 == Some(lid));
        }
        n
    }

    /// Drops every entry whose destination or source GID has this subnet prefix (a subnet
    /// gone behind a router). A full scan.
    pub fn invalidate_prefix(&mut self, prefix: u64, pins: PinPolicy) -> usize {
        self.drop_where(pins, Cause::Invalidated, |e| {
            let dest = e.has(flags::IN_GID).then_some(e.record.dgid);
            dest.is_some_and(|g| g.prefix() == prefix) || sources(e).0.is_some_and(|g| g.prefix() == prefix)
        })
    }

    /// Drops every entry (pinned ones too with [`PinPolicy::Drop`]). Returns how many went.
    pub fn flush(&mut self, pins: PinPolicy) -> usize {
        if pins == PinPolicy::Keep && self.pinned > 0 {
            return self.drop_where(pins, Cause::Invalidated, |_| true);
        }
        let n = self.len as usize;
        self.counters.invalidations += n as u64;
        self.index.clear();
        self.lru.clear();
        (self.free, self.high_water, self.len, self.pinned) = (0, 0, 0, 0);
        self.source_gids.clear();
        self.source_lids.clear();
        n
    }

    /// Drops every entry expired at `now`. Lookups drop the expired entries they meet anyway;
    /// this is housekeeping (a full scan) for a timer, so that expired entries do not linger
    /// in slots and in `dump`.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let now = now.as_micros();
        self.drop_where(PinPolicy::Keep, Cause::Expired, |e| e.expired(now))
    }

    /// Every entry held, in slot order, for `dump`.
    pub fn iter(&self) -> Iter<'_, N> {
        Iter { table: self, slot: 0 }
    }

    /// The slot of the path entry with the same identity as `probe`.
    fn find_path(&self, probe: &Entry) -> Option<usize> {
        let dest = Dest::Gid(probe.record.dgid);
        let mut walk = self.index.cursor(&dest);
        while let Some(s) = self.index.next(&mut walk) {
            let e = &self.entries[s];
            if e.is_path() && e.same_path(probe) {
                return Some(s);
            }
        }
        None
    }

    /// Drops the negative entries whose query the new path entry answers.
    fn drop_contradicted_negatives(&mut self, path: &Entry) {
        let dests = [Dest::Gid(path.record.dgid), Dest::Lid(path.record.dlid.get())];
        for dest in dests {
            let mut walk = self.index.cursor(&dest);
            while let Some(s) = self.index.next(&mut walk) {
                let e = &self.entries[s];
                if e.is_negative() && indexed_under(e, &dest) {
                    let query = Query::new(
                        PathRecordRepr::parse(&e.record),
                        PathRecordMask::from_bits_truncate(e.mask as u64),
                    );
                    if Compiled::new(&query).is_ok_and(|q| q.answers(path)) {
                        self.drop_slot(s, Cause::Invalidated);
                    }
                }
            }
        }
    }

    /// Drops the entries indexed under `dest`.
    fn drop_under(&mut self, dest: &Dest, pins: PinPolicy) -> usize {
        let mut n = 0;
        let mut walk = self.index.cursor(dest);
        while let Some(s) = self.index.next(&mut walk) {
            let e = &self.entries[s];
            if indexed_under(e, dest) && (pins == PinPolicy::Drop || !e.is_pinned()) {
                self.drop_slot(s, Cause::Invalidated);
                n += 1;
            }
        }
        n
    }

    /// Drops every entry (pinned ones only with `PinPolicy::Drop`) for which `pred` holds, and
    /// rebuilds the source sets from the entries that stay.
    fn drop_where(&mut self, pins: PinPolicy, cause: Cause, pred: impl Fn(&Entry) -> bool) -> usize {
        let mut n = 0;
        let (mut gids, mut lids) = (SourceSet::new(Gid::ZERO), SourceSet::new(0));
        for s in 0..self.high_water as usize {
            let e = &self.entries[s];
            if e.flags & flags::KIND == 0 {
                continue;
            }
            if (pins == PinPolicy::Drop || !e.is_pinned()) && pred(e) {
                self.drop_slot(s, cause);
                n += 1;
            } else {
                let (g, l) = sources(e);
                if let Some(g) = g {
                    gids.add(g);
                }
                if let Some(l) = l {
                    lids.add(l);
                }
            }
        }
        (self.source_gids, self.source_lids) = (gids, lids);
        n
    }

    /// Puts a new entry in a slot: a free one, else the LRU tail's.
    fn store(&mut self, now: Instant, new: Entry) -> Insert {
        let mut outcome = Insert::Inserted;
        let slot = if self.free != 0 {
            let s = self.free as usize - 1;
            self.free = self.lru.links[s].next;
            s
        } else if (self.high_water as usize) < N {
            self.high_water += 1;
            self.high_water as usize - 1
        } else {
            let Some(victim) = self.lru.tail() else { return Insert::FullOfPins };
            if self.entries[victim].expired(now.as_micros()) {
                self.drop_slot(victim, Cause::Expired);
            } else {
                self.drop_slot(victim, Cause::Evicted);
                outcome = Insert::Evicted;
            }
            self.free = self.lru.links[victim].next;
            victim
        };
        self.entries[slot] = new;
        if new.has(flags::IN_GID) {
            self.index.link(slot, &Dest::Gid(new.record.dgid));
        }
        if new.has(flags::IN_LID) {
            self.index.link(slot, &Dest::Lid(new.record.dlid.get()));
        }
        if new.is_pinned() {
            self.lru.links[slot] = lru::Links::default();
            self.pinned += 1;
        } else {
            self.lru.push_front(slot);
        }
        let (g, l) = sources(&new);
        if let Some(g) = g {
            self.source_gids.add(g);
        }
        if let Some(l) = l {
            self.source_lids.add(l);
        }
        self.len += 1;
        self.counters.inserts += 1;
        outcome
    }

    /// Unlinks slot `s` from everything, frees it, and counts why.
    fn drop_slot(&mut self, s: usize, cause: Cause) {
        let e = self.entries[s];
        if e.has(flags::IN_GID) {
            self.index.unlink(s, &Dest::Gid(e.record.dgid));
        }
        if e.has(flags::IN_LID) {
            self.index.unlink(s, &Dest::Lid(e.record.dlid.get()));
        }
        if e.is_pinned() {
            self.pinned -= 1;
        } else {
            self.lru.unlink(s);
        }
        let (g, l) = sources(&e);
        if let Some(g) = g {
            self.source_gids.remove(g);
        }
        if let Some(l) = l {
            self.source_lids.remove(l);
        }
        self.len -= 1;
        self.entries[s] = Entry::EMPTY;
        self.lru.links[s].next = self.free;
        self.free = s as u32 + 1;
        match cause {
            Cause::Evicted => self.counters.evictions += 1,
            Cause::Expired => self.counters.expirations += 1,
            Cause::Invalidated => self.counters.invalidations += 1,
        }
    }
}

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EntryKind {
    /// A path from the SA (or pinned), with its origin.
    Path(Origin),
    /// The SA's error for a query; [`EntryView::record`] holds the query's normal form.
    Negative {
        /// The query's component mask, normalized (bits OpenSM ignores are cleared).
        mask: PathRecordMask,
        /// What the SA said.
        error: SaError,
    },
}

/// One entry as `dump` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// The path record, or for a negative entry the query's normal form (unmasked fields zero).
    pub record: &'a Record,
    /// What the entry is.
    pub kind: EntryKind,
    /// Added by an administrator: never ages or goes stale.
    pub pinned: bool,
    /// When the entry expires; `None` for never.
    pub expires: Option<Instant>,
    /// The generation it was inserted in.
    pub generation: u32,
    /// It predates the table's current generation.
    pub stale: bool,
}

#[cfg(feature = "defmt")]
impl defmt::Format for EntryView<'_> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "EntryView {{ record: {}, kind: {}, pinned: {}, expires: {}, generation: {}, stale: {} }}",
            PathRecordRepr::parse(self.record),
            self.kind,
            self.pinned,
            self.expires,
            self.generation,
            self.stale
        )
    }
}

/// Iterator over the entries of a [`Table`], from [`Table::iter`].
#[derive(Debug)]
pub struct Iter<'a, const N: usize> {
    table: &'a Table<N>,
    slot: usize,
}

/// Where the iterator is.
#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for Iter<'_, N> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "Iter {{ slot: {=usize}, of: {=u32} }}", self.slot, self.table.high_water)
    }
}

impl<'a, const N: usize> Iterator for Iter<'a, N> {
    type Item = EntryView<'a>;

    fn next(&mut self) -> Option<EntryView<'a>> {
        let t = self.table;
        while self.slot < t.high_water as usize {
            let e = &t.entries[self.slot];
            self.slot += 1;
            let kind = if e.is_path() {
                EntryKind::Path(e.origin())
            } else if e.is_negative() {
                EntryKind::Negative {
                    mask: PathRecordMask::from_bits_truncate(e.mask as u64),
                    error: e.error(),
                }
            } else {
                continue;
            };
            return Some(EntryView {
                record: &e.record,
                kind,
                pinned: e.is_pinned(),
                expires: (e.expires != NEVER).then(|| Instant::from_micros(e.expires)),
                generation: e.generation,
                stale: t.is_stale(e),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests;
