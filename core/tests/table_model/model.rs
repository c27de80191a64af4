//! The reference model of `localsa_core::table::Table` and the runner that compares them,
//! shared by the property test (`core/tests/table_model.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/table_model.rs`), which include this file as a module. See the test's
//! module docs for what the model is.

use localsa_core::table::{
    Config, Context, EntryKind, Insert, Lookup, Natural, Origin, PinPolicy, Query, Table,
};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::path_record::Record;
use localsa_core::wire::{
    Gid, Mtu, PacketLifetime, PathRecordMask as M, PathRecordRepr, Rate, SaError, Selector,
};
use zerocopy::FromZeros;

/// `assert_eq!` that returns the failure as an error (the proptest shrinks it; the fuzz
/// target panics with it).
macro_rules! ensure_eq {
    ($got:expr, $want:expr) => {
        ensure_eq!($got, $want, "")
    };
    ($got:expr, $want:expr, $($fmt:tt)+) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("{}\n  table: {:?}\n  model: {:?}", format!($($fmt)+), got, want));
        }
    }};
}

// ---------------------------------------------------------------------------------------------
// The model.

/// A query reduced to what OpenSM looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Norm {
    pub dgid: Option<Gid>,
    pub sgid: Option<Gid>,
    pub dlid: Option<u16>,
    pub slid: Option<u16>,
    pub service: Option<u64>,
    pub qos: Option<u16>,
    pub raw: bool,
    pub pkey: Option<u16>,
    pub sl: Option<u8>,
    pub reversible: bool,
    /// (selector code, value) per dimension, `None` when unconstrained.
    pub dims: [Option<(u8, u8)>; 3],
}

pub const MTU: usize = 0;
pub const RATE: usize = 1;
pub const LIFE: usize = 2;

/// `ordered_rates[]` (libopensm/osm_helper.c) for codes 0..=24.
pub const ORDERED_RATES: [u8; 25] =
    [0, 0, 1, 3, 6, 2, 5, 9, 10, 13, 14, 4, 12, 16, 17, 7, 15, 18, 19, 8, 11, 20, 21, 22, 23];

/// The values a path can have, per dimension, as OpenSM knows them.
pub fn domain(dim: usize) -> Vec<u8> {
    match dim {
        MTU => (1..=5).collect(),
        RATE => (2..=24).collect(),
        _ => (0..=63).collect(),
    }
}

/// Values this crate knows and will compare.
pub fn known(dim: usize, v: u8) -> bool {
    match dim {
        MTU => (1..=5).contains(&v),
        RATE => (2..=22).contains(&v),
        _ => v <= 63,
    }
}

pub fn order(dim: usize, v: u8) -> u8 {
    if dim == RATE {
        ORDERED_RATES[v as usize]
    } else {
        v
    }
}

/// What OpenSM's pr_rcv_get_path_parms returns for a path value `p` under a constraint.
pub fn opensm(dim: usize, p: u8, c: Option<(u8, u8)>) -> Option<u8> {
    let Some((sel, x)) = c else { return Some(p) };
    let (op, ox) = (order(dim, p), order(dim, x));
    match sel {
        0 => (op > ox).then_some(p),
        1 if op < ox => Some(p),
        1 => match dim {
            RATE => (2..=24u8).find(|&r| ORDERED_RATES[r as usize] + 1 == ox && ox > 1),
            _ => (x > 1).then(|| x - 1),
        },
        2 if dim == RATE => (op == ox).then_some(x),
        2 => (op >= ox).then_some(x),
        _ => Some(p),
    }
}

pub fn norm(q: &Query) -> Option<(Norm, Option<u8>)> {
    let (t, m) = (&q.template, q.mask);
    if m.contains(M::SERVICE_ID_MSB) != m.contains(M::SERVICE_ID_LSB) {
        return None;
    }
    if m.contains(M::DGID) && t.dgid.0[0] == 0xff {
        return None;
    }
    if !(m.contains(M::DGID) || m.contains(M::DLID)) || !(m.contains(M::SGID) || m.contains(M::SLID)) {
        return None;
    }
    let raw = m.contains(M::RAW_TRAFFIC) && t.raw_traffic;
    let mut dims = [None; 3];
    let sels = [
        (M::MTU_SELECTOR | M::MTU, t.mtu_selector, t.mtu.raw()),
        (M::RATE_SELECTOR | M::RATE, t.rate_selector, t.rate.raw()),
        (M::PACKET_LIFETIME_SELECTOR | M::PACKET_LIFETIME, t.packet_lifetime_selector, t.packet_lifetime.0),
    ];
    for (dim, (bits, sel, v)) in sels.into_iter().enumerate() {
        if !m.contains(bits) {
            continue;
        }
        if !known(dim, v) || sel.raw() > 3 {
            return None;
        }
        if sel != Selector::Largest {
            dims[dim] = Some((sel.raw(), v));
        }
    }
    let n = Norm {
        dgid: m.contains(M::DGID).then_some(t.dgid),
        sgid: m.contains(M::SGID).then_some(t.sgid),
        dlid: m.contains(M::DLID).then_some(t.dlid),
        slid: m.contains(M::SLID).then_some(t.slid),
        service: m.contains(M::SERVICE_ID).then_some(t.service_id),
        qos: m.contains(M::QOS_CLASS).then_some(t.qos_class),
        raw,
        pkey: (m.contains(M::PKEY) && !raw).then_some(t.pkey),
        sl: m.contains(M::SL).then_some(t.sl),
        reversible: m.contains(M::REVERSIBLE) && t.reversible,
        dims,
    };
    Some((n, m.contains(M::NUMB_PATH).then_some(t.numb_path)))
}

/// Whether a cached path (record, origin) answers a normalized query.
pub fn answers(r: &PathRecordRepr, o: &Origin, n: &Norm) -> bool {
    let c = &o.context;
    if n.dgid.is_some_and(|g| g != r.dgid)
        || n.sgid.is_some_and(|g| g != r.sgid)
        || n.dlid.is_some_and(|l| l != r.dlid)
        || n.slid.is_some_and(|l| l != r.slid)
        || n.service != c.service_id
        || n.qos != c.qos_class
        || n.raw != c.raw_traffic
        || n.pkey.is_some() != c.pkey
        || n.pkey.is_some_and(|p| p != r.pkey)
        || (n.reversible && !r.reversible)
    {
        return false;
    }
    match n.sl {
        Some(s) if s != r.sl => return false,
        None if !o.natural.contains(Natural::SL) => return false,
        _ => {}
    }
    let values = [r.mtu.raw(), r.rate.raw(), r.packet_lifetime.0];
    let nat = [Natural::MTU, Natural::RATE, Natural::PACKET_LIFETIME];
    (0..3).all(|dim| {
        let (v, natural, c) = (values[dim], o.natural.contains(nat[dim]), n.dims[dim]);
        if !known(dim, v) {
            return natural && c.is_none();
        }
        // Every path value not ruled out must make OpenSM return v.
        let possible: Vec<u8> = if natural {
            vec![v]
        } else {
            domain(dim).into_iter().filter(|&p| order(dim, p) >= order(dim, v)).collect()
        };
        possible.iter().all(|&p| opensm(dim, p, c) == Some(v))
    })
}

#[derive(Debug, Clone)]
pub enum Kind {
    Path { record: Record, origin: Origin },
    Negative { norm: Norm, error: SaError },
}

#[derive(Debug, Clone)]
pub struct MEntry {
    pub kind: Kind,
    pub pinned: bool,
    pub expires: Option<u64>,
    pub generation: u32,
    pub used: u64,
}

impl MEntry {
    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }
    pub fn path(&self) -> Option<(PathRecordRepr, &Origin)> {
        match &self.kind {
            Kind::Path { record, origin } => Some((PathRecordRepr::parse(record), origin)),
            _ => None,
        }
    }
    pub fn dgid(&self) -> Option<Gid> {
        match &self.kind {
            Kind::Path { record, .. } => Some(record.dgid),
            Kind::Negative { norm, .. } => norm.dgid,
        }
    }
    pub fn sgid(&self) -> Option<Gid> {
        match &self.kind {
            Kind::Path { record, .. } => Some(record.sgid),
            Kind::Negative { norm, .. } => norm.sgid,
        }
    }
    pub fn dlid(&self) -> Option<u16> {
        match &self.kind {
            Kind::Path { record, .. } => Some(record.dlid.get()),
            Kind::Negative { norm, .. } => norm.dlid,
        }
    }
    pub fn slid(&self) -> Option<u16> {
        match &self.kind {
            Kind::Path { record, .. } => Some(record.slid.get()),
            Kind::Negative { norm, .. } => norm.slid,
        }
    }
}

/// Identity of a path: endpoints, P_Key, SL, MTU, rate, lifetime, context.
pub fn identity(r: &Record, c: &Context) -> impl PartialEq {
    let p = PathRecordRepr::parse(r);
    (p.sgid, p.dgid, p.slid, p.dlid, p.pkey, p.sl, p.mtu, p.rate, p.packet_lifetime, *c)
}

pub struct Model {
    pub capacity: usize,
    pub max_pinned: usize,
    pub negative_lifetime: u64,
    pub entries: Vec<MEntry>,
    pub generation: u32,
    pub clock: u64,
    pub c: localsa_core::table::Counters,
}

#[derive(Debug, PartialEq)]
pub enum Out {
    Lookup(Lookup, Vec<Record>),
    Insert(Insert),
    Count(usize),
    Bool(bool),
    Unit,
}

impl Model {
    pub fn new(capacity: usize, config: Config) -> Self {
        Model {
            capacity,
            max_pinned: config.max_pinned,
            negative_lifetime: config.negative_lifetime.as_micros(),
            entries: Vec::new(),
            generation: 0,
            clock: 0,
            c: Default::default(),
        }
    }

    pub fn stamp(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub fn stale(&self, e: &MEntry) -> bool {
        !e.pinned && e.generation != self.generation
    }

    pub fn expires(now: u64, lifetime: u64) -> Option<u64> {
        (lifetime != 0).then(|| now.saturating_add(lifetime).min(u64::MAX - 1))
    }

    pub fn lookup(&mut self, now: u64, q: &Query, room: usize) -> Out {
        let Some((n, limit)) = norm(q) else {
            self.c.misses += 1;
            return Out::Lookup(Lookup::Unsupported, vec![]);
        };
        // Expired entries filed under the query's destination go.
        let under = |e: &MEntry| match n.dgid {
            Some(g) => e.dgid() == Some(g),
            None => e.dlid() == n.dlid,
        };
        let before = self.entries.len();
        self.entries.retain(|e| !(under(e) && e.expired(now)));
        self.c.expirations += (before - self.entries.len()) as u64;
        let matching: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].path().is_some_and(|(r, o)| answers(&r, o, &n)))
            .collect();
        let fresh: Vec<usize> = matching.iter().copied().filter(|&i| !self.stale(&self.entries[i])).collect();
        let (mut pick, stale) = if fresh.is_empty() { (matching, true) } else { (fresh, false) };
        if !pick.is_empty() {
            pick.sort_by_key(|&i| {
                let (r, _) = self.entries[i].path().unwrap();
                let e = &self.entries[i];
                (
                    !e.pinned,
                    r.preference,
                    r.slid,
                    r.dlid,
                    r.sgid,
                    r.dgid,
                    r.pkey,
                    r.sl,
                    r.mtu.raw(),
                    r.rate.raw(),
                    r.packet_lifetime.0,
                )
            });
            let k = pick.len().min(room).min(limit.map_or(usize::MAX, usize::from));
            let mut records = vec![];
            for &i in &pick[..k] {
                if !self.entries[i].pinned {
                    self.entries[i].used = self.stamp();
                }
                if let Kind::Path { record, .. } = &self.entries[i].kind {
                    records.push(*record);
                }
            }
            return if stale {
                self.c.stale_hits += 1;
                Out::Lookup(Lookup::StaleHit { count: k }, records)
            } else {
                self.c.hits += 1;
                Out::Lookup(Lookup::Hit { count: k }, records)
            };
        }
        let neg =
            self.entries.iter().position(|e| matches!(&e.kind, Kind::Negative { norm, .. } if *norm == n));
        if let Some(i) = neg {
            self.entries[i].used = self.stamp();
            self.c.negative_hits += 1;
            let Kind::Negative { error, .. } = self.entries[i].kind else { unreachable!() };
            return Out::Lookup(Lookup::Negative { error, stale: self.stale(&self.entries[i]) }, vec![]);
        }
        self.c.misses += 1;
        Out::Lookup(Lookup::Miss, vec![])
    }

    pub fn full_of_pins(&self) -> bool {
        self.entries.len() == self.capacity && self.entries.iter().all(|e| e.pinned)
    }

    /// Adds a new entry, evicting the least recently used unpinned one if full.
    pub fn store(&mut self, now: u64, mut e: MEntry) -> Insert {
        let mut outcome = Insert::Inserted;
        if self.entries.len() == self.capacity {
            let victim = (0..self.entries.len())
                .filter(|&i| !self.entries[i].pinned)
                .min_by_key(|&i| self.entries[i].used)
                .expect("checked by full_of_pins");
            if self.entries[victim].expired(now) {
                self.c.expirations += 1;
            } else {
                self.c.evictions += 1;
                outcome = Insert::Evicted;
            }
            self.entries.remove(victim);
        }
        e.used = self.stamp();
        self.entries.push(e);
        self.c.inserts += 1;
        outcome
    }

    pub fn put_path(&mut self, now: u64, record: &Record, origin: Origin, lifetime: u64, pin: bool) -> Out {
        let id = identity(record, &origin.context);
        let existing = self.entries.iter().position(|e| match &e.kind {
            Kind::Path { record: r, origin: o } => identity(r, &o.context) == id,
            _ => false,
        });
        let existing_pinned = existing.is_some_and(|i| self.entries[i].pinned);
        if existing_pinned && !pin {
            return Out::Insert(Insert::Pinned);
        }
        let pins = self.entries.iter().filter(|e| e.pinned).count();
        if pin && !existing_pinned && pins >= self.max_pinned {
            return Out::Insert(Insert::TooManyPins);
        }
        if existing.is_none() && self.full_of_pins() {
            return Out::Insert(Insert::FullOfPins);
        }
        // Negative entries whose query this path answers are contradicted.
        let repr = PathRecordRepr::parse(record);
        let before = self.entries.len();
        self.entries
            .retain(|e| !matches!(&e.kind, Kind::Negative { norm, .. } if answers(&repr, &origin, norm)));
        self.c.invalidations += (before - self.entries.len()) as u64;
        let expires = if pin { None } else { Self::expires(now, lifetime) };
        let generation = self.generation;
        let existing = self.entries.iter().position(|e| match &e.kind {
            Kind::Path { record: r, origin: o } => identity(r, &o.context) == id,
            _ => false,
        });
        if let Some(i) = existing {
            let used = if pin { self.entries[i].used } else { self.stamp() };
            let e = &mut self.entries[i];
            e.kind = Kind::Path { record: *record, origin };
            e.pinned |= pin;
            e.expires = expires;
            e.generation = generation;
            e.used = used;
            self.c.replacements += 1;
            return Out::Insert(Insert::Replaced);
        }
        let e = MEntry {
            kind: Kind::Path { record: *record, origin },
            pinned: pin,
            expires,
            generation,
            used: 0,
        };
        Out::Insert(self.store(now, e))
    }

    pub fn insert_negative(&mut self, now: u64, q: &Query, error: SaError) -> Out {
        let Some((n, _)) = norm(q) else { return Out::Insert(Insert::Unsupported) };
        let same = |e: &MEntry| matches!(&e.kind, Kind::Negative { norm, .. } if *norm == n);
        let existing = self.entries.iter().any(same);
        if !existing && self.full_of_pins() {
            return Out::Insert(Insert::FullOfPins);
        }
        let before = self.entries.len();
        self.entries.retain(|e| e.pinned || !e.path().is_some_and(|(r, o)| answers(&r, o, &n)));
        self.c.invalidations += (before - self.entries.len()) as u64;
        let expires = Self::expires(now, self.negative_lifetime);
        let generation = self.generation;
        if let Some(i) = self.entries.iter().position(same) {
            let used = self.stamp();
            let e = &mut self.entries[i];
            (e.kind, e.expires, e.generation, e.used) =
                (Kind::Negative { norm: n, error }, expires, generation, used);
            self.c.replacements += 1;
            return Out::Insert(Insert::Replaced);
        }
        let e =
            MEntry { kind: Kind::Negative { norm: n, error }, pinned: false, expires, generation, used: 0 };
        Out::Insert(self.store(now, e))
    }

    pub fn drop_if(&mut self, pins: PinPolicy, expired: bool, pred: impl Fn(&MEntry) -> bool) -> Out {
        let before = self.entries.len();
        self.entries.retain(|e| !((pins == PinPolicy::Drop || !e.pinned) && pred(e)));
        let n = before - self.entries.len();
        if expired {
            self.c.expirations += n as u64;
        } else {
            self.c.invalidations += n as u64;
        }
        Out::Count(n)
    }

    pub fn remove(&mut self, record: &Record, context: &Context, pinned_only: bool) -> Out {
        let id = identity(record, context);
        let i = self.entries.iter().position(|e| match &e.kind {
            Kind::Path { record: r, origin: o } => {
                identity(r, &o.context) == id && (e.pinned || !pinned_only)
            }
            _ => false,
        });
        if let Some(i) = i {
            self.entries.remove(i);
            self.c.invalidations += 1;
        }
        Out::Bool(i.is_some())
    }

    /// The entries as comparable text, sorted.
    pub fn dump(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                let kind = match &e.kind {
                    Kind::Path { record, origin } => {
                        format!("path {:?} {:?}", PathRecordRepr::parse(record), origin)
                    }
                    Kind::Negative { norm, error } => format!("negative {norm:?} {error:?}"),
                };
                format!(
                    "{kind} pinned={} expires={:?} gen={} stale={}",
                    e.pinned,
                    e.expires,
                    e.generation,
                    self.stale(e)
                )
            })
            .collect();
        v.sort();
        v
    }
}

pub fn dump_table<const N: usize>(t: &Table<N>) -> Vec<String> {
    let mut v: Vec<String> = t
        .iter()
        .map(|e| {
            let kind = match e.kind {
                EntryKind::Path(origin) => format!("path {:?} {:?}", PathRecordRepr::parse(e.record), origin),
                EntryKind::Negative { mask, error } => {
                    let (n, _) =
                        norm(&Query::new(PathRecordRepr::parse(e.record), mask)).expect("stored normal form");
                    format!("negative {n:?} {error:?}")
                }
            };
            format!(
                "{kind} pinned={} expires={:?} gen={} stale={}",
                e.pinned,
                e.expires.map(Instant::as_micros),
                e.generation,
                e.stale
            )
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Operations and their generators.

pub const PA: u64 = 0xfe80_0000_0000_0000;
pub const PB: u64 = 0xfec0_0000_0000_0007;
pub const SOURCES: usize = 2;
pub const DESTS: usize = 20;

pub fn src(i: usize) -> (Gid, u16) {
    (Gid::new(PA, 0x10 + i as u64), 1 + i as u16)
}

pub fn dst(i: usize) -> (Gid, u16) {
    (Gid::new(if i % 7 == 6 { PB } else { PA }, 0x1000 + i as u64), 0x100 + i as u16)
}

#[derive(Debug, Clone)]
pub enum Op {
    Insert(Record, Origin, u64),
    Reinsert(usize, Natural, u64),
    Lookup(Query, usize),
    /// A lookup shaped from an existing path entry (picked by index), so that hits are common.
    LookupExisting(usize, Shape, usize),
    Negative(Query, SaError),
    NegativeExisting(usize, Shape),
    /// A lookup of a negative entry's query (picked by index), with some NumbPath.
    LookupNegative(usize, Option<u8>),
    Pin(Record, Origin),
    PinExisting(usize),
    Unpin(usize),
    Remove(usize),
    Advance(u64),
    Bump,
    InvalidateGid(Gid, PinPolicy),
    InvalidateLid(u16, PinPolicy),
    InvalidatePrefix(u64, PinPolicy),
    Flush(PinPolicy),
    Purge,
}

/// How to build a query from an existing path: which fields to name and how to bend the
/// selectors around the path's own values.
#[derive(Debug, Clone)]
pub struct Shape {
    pub sform: u8,
    pub dform: u8,
    /// 0: not named, 1: the record's, 2: another.
    pub pkey: u8,
    pub sl: u8,
    /// (selector, step in comparison order from the record's value, both mask bits).
    pub dims: [Option<(u8, i8, bool)>; 3],
    pub numb: Option<u8>,
    /// Use the entry's context (else the empty one).
    pub context: bool,
    pub reversible: bool,
}

/// The value `step` places away from `v` in comparison order, within the dimension's codes.
pub fn step(dim: usize, v: u8, step: i8) -> u8 {
    let mut codes: Vec<u8> = domain(dim).into_iter().filter(|&c| known(dim, c)).collect();
    codes.sort_by_key(|&c| order(dim, c));
    match codes.iter().position(|&c| c == v) {
        Some(i) => codes[(i as isize + step as isize).clamp(0, codes.len() as isize - 1) as usize],
        None => v,
    }
}

pub fn shaped_query(r: &Record, o: &Origin, sh: &Shape) -> Query {
    let p = PathRecordRepr::parse(r);
    let mut t = PathRecordRepr::default();
    let mut m = M::empty();
    if sh.sform != 1 {
        t.sgid = p.sgid;
        m |= M::SGID;
    }
    if sh.sform != 0 {
        t.slid = p.slid;
        m |= M::SLID;
    }
    if sh.dform != 1 {
        t.dgid = p.dgid;
        m |= M::DGID;
    }
    if sh.dform != 0 {
        t.dlid = p.dlid;
        m |= M::DLID;
    }
    let mut q = Query::new(t, m);
    let c = if sh.context { o.context } else { Context::default() };
    match (sh.pkey, c.pkey) {
        (2, _) => q = q.with_pkey(p.pkey ^ 0x7ffe),
        (1, _) | (_, true) => q = q.with_pkey(p.pkey),
        _ => {}
    }
    match sh.sl {
        1 => q = q.with_sl(p.sl),
        2 => q = q.with_sl(p.sl ^ 1),
        _ => {}
    }
    let values = [p.mtu.raw(), p.rate.raw(), p.packet_lifetime.0];
    for (dim, d) in sh.dims.iter().enumerate() {
        let Some((sel, delta, both)) = *d else { continue };
        let v = step(dim, values[dim], delta);
        let sel = Selector::from_raw(sel);
        q = match dim {
            MTU => q.with_mtu(sel, Mtu::from_raw(v)),
            RATE => q.with_rate(sel, Rate::from_raw(v)),
            _ => q.with_packet_lifetime(sel, PacketLifetime(v)),
        };
        if !both {
            q.mask.remove([M::MTU, M::RATE, M::PACKET_LIFETIME][dim]);
        }
    }
    if let Some(n) = sh.numb {
        q = q.with_numb_path(n);
    }
    if let Some(id) = c.service_id {
        q = q.with_service_id(id);
    }
    if let Some(qc) = c.qos_class {
        q = q.with_qos_class(qc);
    }
    if c.raw_traffic {
        q = q.with_raw_traffic();
    }
    if sh.reversible {
        q = q.with_reversible();
    }
    q
}

/// A query with exactly the normal form `n`.
pub fn query_of(n: &Norm) -> Query {
    let mut q = Query::new(PathRecordRepr::default(), M::empty());
    if let Some(g) = n.sgid {
        q = q.with_sgid(g);
    }
    if let Some(g) = n.dgid {
        q = q.with_dgid(g);
    }
    if let Some(l) = n.slid {
        q = q.with_slid(l);
    }
    if let Some(l) = n.dlid {
        q = q.with_dlid(l);
    }
    if let Some(id) = n.service {
        q = q.with_service_id(id);
    }
    if let Some(c) = n.qos {
        q = q.with_qos_class(c);
    }
    if n.raw {
        q = q.with_raw_traffic();
    }
    if let Some(p) = n.pkey {
        q = q.with_pkey(p);
    }
    if let Some(s) = n.sl {
        q = q.with_sl(s);
    }
    if n.reversible {
        q = q.with_reversible();
    }
    if let Some((s, v)) = n.dims[MTU] {
        q = q.with_mtu(Selector::from_raw(s), Mtu::from_raw(v));
    }
    if let Some((s, v)) = n.dims[RATE] {
        q = q.with_rate(Selector::from_raw(s), Rate::from_raw(v));
    }
    if let Some((s, v)) = n.dims[LIFE] {
        q = q.with_packet_lifetime(Selector::from_raw(s), PacketLifetime(v));
    }
    q
}

// ---------------------------------------------------------------------------------------------
// Builders of records and queries from small choices (the proptest strategies and the fuzz
// target pick the choices; both stay in the domain the model was checked on).

/// P_Keys of records and queries.
pub const PKEYS: [u16; 2] = [0xffff, 0x8001];
/// Rates of records.
pub const RECORD_RATES: [u8; 6] = [3, 5, 4, 15, 7, 23];
/// Packet lifetimes of records.
pub const RECORD_LIFES: [u8; 3] = [16, 17, 63];
/// MTU, rate and lifetime values of query constraints.
pub const QUERY_MTUS: [u8; 5] = [0, 2, 3, 4, 5];
/// Rates of query constraints.
pub const QUERY_RATES: [u8; 7] = [2, 3, 4, 5, 7, 15, 23];
/// Packet lifetimes of query constraints.
pub const QUERY_LIFES: [u8; 6] = [0, 1, 16, 17, 18, 63];
/// Error answers stored as negative entries.
pub const ERRORS: [SaError; 3] = [SaError::NoRecords, SaError::InvalidGid, SaError::UnknownStatus(7)];
/// Lifetimes of inserted paths, in microseconds.
pub const LIFETIMES: [u64; 4] = [0, 10_000, 40_000, 100_000];

/// ((source, destination, SLID offset, DLID offset, another destination's LID),
/// (P_Key, SL, MTU), (rate, packet lifetime), (preference, reversible)).
pub type RecordChoice = ((usize, usize, u16, u16, bool), (u16, u8, u8), (u8, u8), (u8, bool));

/// A path between the model's endpoints. Indices and offsets wrap into their ranges.
pub fn make_record(choice: RecordChoice) -> Record {
    let ((s, d, sl_off, dl_off, odd_lid), (pkey, sl, mtu), (rate, life), (preference, reversible)) = choice;
    let (s, d) = (s % SOURCES, d % DESTS);
    let (sgid, slid) = src(s);
    let (dgid, mut dlid) = dst(d);
    if odd_lid {
        dlid = dst((d + 1) % DESTS).1;
    }
    let r = PathRecordRepr {
        sgid,
        dgid,
        slid: slid + 0x10 * (sl_off % 2),
        dlid: dlid + 0x40 * (dl_off % 2),
        pkey,
        sl: sl % 2,
        mtu_selector: Selector::Exactly,
        mtu: Mtu::from_raw(3 + mtu % 3),
        rate_selector: Selector::Exactly,
        rate: Rate::from_raw(rate),
        packet_lifetime_selector: Selector::Exactly,
        packet_lifetime: PacketLifetime(life),
        preference: preference % 3,
        reversible,
        ..PathRecordRepr::default()
    };
    let mut out = Record::new_zeroed();
    r.emit(&mut out).expect("fields in range");
    out
}

/// A constraint on MTU, rate or lifetime: (selector 0..3, value, both mask bits).
pub type DimChoice = Option<(u8, u8, bool)>;

/// ((source, destination, source form, destination form, SLID offset, DLID offset, no source),
/// (P_Key, SL, NumbPath), (MTU, rate, lifetime), (ServiceID, QoS class, raw, reversible)).
pub type QueryChoice = (
    (usize, usize, u8, u8, u16, u16, bool),
    (Option<u16>, Option<u8>, Option<u8>),
    (DimChoice, DimChoice, DimChoice),
    (Option<u64>, Option<u16>, bool, bool),
);

/// A query between the model's endpoints, in any of its forms.
pub fn make_query(choice: QueryChoice) -> Query {
    let ((s, d, sform, dform, sl_off, dl_off, weird), (pkey, sl, numb), dims, (sid, qos, raw, rev)) = choice;
    let (sgid, slid) = src(s % SOURCES);
    let (dgid, dlid) = dst(d % DESTS);
    let (sform, dform) = (sform % 3, dform % 3);
    let mut t = PathRecordRepr::default();
    let mut m = M::empty();
    if sform != 1 {
        t.sgid = sgid;
        m |= M::SGID;
    }
    if sform != 0 {
        t.slid = slid + 0x10 * (sl_off % 2);
        m |= M::SLID;
    }
    if dform != 1 {
        t.dgid = dgid;
        m |= M::DGID;
    }
    if dform != 0 {
        t.dlid = dlid + 0x40 * (dl_off % 2);
        m |= M::DLID;
    }
    if weird {
        // No source, or a multicast destination: unsupported.
        m.remove(M::SGID | M::SLID);
    }
    let mut q = Query::new(t, m);
    if let Some(p) = pkey {
        q = q.with_pkey(p);
    }
    if let Some(s) = sl {
        q = q.with_sl(s % 2);
    }
    if let Some(n) = numb {
        q = q.with_numb_path(n % 4);
    }
    let (mtu, rate, life) = dims;
    if let Some((sel, v, both)) = mtu {
        q = q.with_mtu(Selector::from_raw(sel % 4), Mtu::from_raw(v));
        if !both {
            q.mask.remove(M::MTU);
        }
    }
    if let Some((sel, v, both)) = rate {
        q = q.with_rate(Selector::from_raw(sel % 4), Rate::from_raw(v));
        if !both {
            q.mask.remove(M::RATE_SELECTOR);
        }
    }
    if let Some((sel, v, _)) = life {
        q = q.with_packet_lifetime(Selector::from_raw(sel % 4), PacketLifetime(v));
    }
    if let Some(id) = sid {
        q = q.with_service_id(id);
    }
    if let Some(c) = qos {
        q = q.with_qos_class(c);
    }
    if raw {
        q = q.with_raw_traffic();
    }
    if rev {
        q = q.with_reversible();
    }
    q
}

// ---------------------------------------------------------------------------------------------
// The comparison.

/// Runs `ops` on a `Table<N>` and on the model; the first disagreement, described.
pub fn check<const N: usize>(ops: &[Op]) -> Result<(), String> {
    let config = Config { negative_lifetime: Duration::from_millis(30), max_pinned: N / 4 };
    let mut table = Table::<N>::new_box_zeroed().unwrap();
    table.set_config(config);
    let mut model = Model::new(N, config);
    let mut now = 1_000_000u64;
    for (step, op) in ops.iter().enumerate() {
        let at = Instant::from_micros(now);
        // Entries picked by index from the model (paths only) for the ops on existing entries.
        let paths: Vec<(Record, Origin, bool)> = model
            .entries
            .iter()
            .filter_map(|e| match &e.kind {
                Kind::Path { record, origin } => Some((*record, *origin, e.pinned)),
                _ => None,
            })
            .collect();
        let pick = |k: usize| (!paths.is_empty()).then(|| paths[k % paths.len()]);
        let negatives: Vec<Norm> = model
            .entries
            .iter()
            .filter_map(|e| match &e.kind {
                Kind::Negative { norm, .. } => Some(*norm),
                _ => None,
            })
            .collect();
        let (got, want) = match op {
            Op::Insert(r, o, l) => (
                Out::Insert(table.insert(at, r, *o, Duration::from_micros(*l))),
                model.put_path(now, r, *o, *l, false),
            ),
            Op::Reinsert(k, natural, l) => match pick(*k) {
                Some((r, o, _)) => {
                    let o = Origin { natural: *natural, ..o };
                    (
                        Out::Insert(table.insert(at, &r, o, Duration::from_micros(*l))),
                        model.put_path(now, &r, o, *l, false),
                    )
                }
                None => (Out::Unit, Out::Unit),
            },
            Op::Lookup(q, room) => {
                let mut out = [Record::new_zeroed(); 4];
                let l = table.lookup(at, q, &mut out[..*room]);
                let n = match l {
                    Lookup::Hit { count } | Lookup::StaleHit { count } => count,
                    _ => 0,
                };
                (Out::Lookup(l, out[..n].to_vec()), model.lookup(now, q, *room))
            }
            Op::LookupExisting(k, sh, room) => match pick(*k) {
                Some((r, o, _)) => {
                    let q = shaped_query(&r, &o, sh);
                    let mut out = [Record::new_zeroed(); 4];
                    let l = table.lookup(at, &q, &mut out[..*room]);
                    let n = match l {
                        Lookup::Hit { count } | Lookup::StaleHit { count } => count,
                        _ => 0,
                    };
                    (Out::Lookup(l, out[..n].to_vec()), model.lookup(now, &q, *room))
                }
                None => (Out::Unit, Out::Unit),
            },
            Op::LookupNegative(k, numb) => match negatives.get(k % negatives.len().max(1)) {
                Some(n) => {
                    let mut q = query_of(n);
                    if let Some(numb) = numb {
                        q = q.with_numb_path(*numb);
                    }
                    let mut out = [Record::new_zeroed(); 4];
                    let l = table.lookup(at, &q, &mut out);
                    let n = match l {
                        Lookup::Hit { count } | Lookup::StaleHit { count } => count,
                        _ => 0,
                    };
                    (Out::Lookup(l, out[..n].to_vec()), model.lookup(now, &q, 4))
                }
                None => (Out::Unit, Out::Unit),
            },
            Op::Negative(q, e) => {
                (Out::Insert(table.insert_negative(at, q, *e)), model.insert_negative(now, q, *e))
            }
            Op::NegativeExisting(k, sh) => match pick(*k) {
                Some((r, o, _)) => {
                    let q = shaped_query(&r, &o, sh);
                    (
                        Out::Insert(table.insert_negative(at, &q, SaError::NoRecords)),
                        model.insert_negative(now, &q, SaError::NoRecords),
                    )
                }
                None => (Out::Unit, Out::Unit),
            },
            Op::Pin(r, o) => (Out::Insert(table.pin(at, r, *o)), model.put_path(now, r, *o, 0, true)),
            Op::PinExisting(k) => match pick(*k) {
                Some((r, o, _)) => (Out::Insert(table.pin(at, &r, o)), model.put_path(now, &r, o, 0, true)),
                None => (Out::Unit, Out::Unit),
            },
            Op::Unpin(k) => match pick(*k) {
                Some((r, o, _)) => {
                    (Out::Bool(table.unpin(&r, &o.context)), model.remove(&r, &o.context, true))
                }
                None => (Out::Unit, Out::Unit),
            },
            Op::Remove(k) => match pick(*k) {
                Some((r, o, _)) => {
                    (Out::Bool(table.remove(&r, &o.context)), model.remove(&r, &o.context, false))
                }
                None => (Out::Unit, Out::Unit),
            },
            Op::Advance(d) => {
                now += d;
                (Out::Unit, Out::Unit)
            }
            Op::Bump => {
                model.generation += 1;
                (Out::Count(table.bump_generation() as usize), Out::Count(model.generation as usize))
            }
            Op::InvalidateGid(g, pins) => (
                Out::Count(table.invalidate_gid(g, *pins)),
                model.drop_if(*pins, false, |e| e.dgid() == Some(*g) || e.sgid() == Some(*g)),
            ),
            Op::InvalidateLid(l, pins) => (
                Out::Count(table.invalidate_lid(*l, *pins)),
                model.drop_if(*pins, false, |e| e.dlid() == Some(*l) || e.slid() == Some(*l)),
            ),
            Op::InvalidatePrefix(p, pins) => (
                Out::Count(table.invalidate_prefix(*p, *pins)),
                model.drop_if(*pins, false, |e| {
                    e.dgid().is_some_and(|g| g.prefix() == *p) || e.sgid().is_some_and(|g| g.prefix() == *p)
                }),
            ),
            Op::Flush(pins) => (Out::Count(table.flush(*pins)), model.drop_if(*pins, false, |_| true)),
            Op::Purge => (
                Out::Count(table.purge_expired(at)),
                model.drop_if(PinPolicy::Keep, true, |e| e.expired(now)),
            ),
        };
        ensure_eq!(got, want, "step {}: {:?}", step, op);
        ensure_eq!(table.counters(), &model.c, "counters after step {}: {:?}", step, op);
        ensure_eq!(table.len(), model.entries.len());
        ensure_eq!(dump_table(&table), model.dump(), "entries after step {}: {:?}", step, op);
        let c = table.counters();
        ensure_eq!(c.inserts - c.evictions - c.expirations - c.invalidations, table.len() as u64);
    }
    Ok(())
}
