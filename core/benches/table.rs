//! PathRecord table at 1K, 16K and 64K entries against a `std::collections::HashMap` keyed the
//! same way ((SGID, DGID) → records): hit lookup, miss lookup, insert with eviction, and
//! invalidation by GID.
//!
//! `cargo bench -p localsa-core --bench table` (criterion figures), then a table of
//! table/HashMap ratios from a plain timed loop over the same operations.
//!
//! The comparison is not like for like, and not in the table's favour: the table answers a
//! full SA query (component mask, selectors, context, staleness, expiry) and keeps an exact
//! LRU order on every hit; the HashMap only fetches by key, its "eviction" is FIFO, and its
//! invalidation by GID removes the (source, GID) keys of the known sources.

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::Criterion;
use localsa_core::table::{Origin, PinPolicy, Query, Table};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::path_record::Record;
use localsa_core::wire::{Gid, Mtu, PacketLifetime, PathRecordRepr, Rate, Selector};
use zerocopy::FromZeros;

const PREFIX: u64 = 0xfe80_0000_0000_0000;
/// Local ports: the sources.
const SOURCES: usize = 4;
const NOW: Instant = Instant::from_micros(1_000_000);
const LIFETIME: Duration = Duration::from_secs(600);

fn sgid(i: usize) -> Gid {
    Gid::new(PREFIX, 0x0002_c903_00aa_0000 + (i % SOURCES) as u64)
}

fn dgid(i: usize) -> Gid {
    Gid::new(PREFIX, 0x0002_c903_0000_0000 + i as u64)
}

fn record(i: usize) -> Record {
    let r = PathRecordRepr {
        sgid: sgid(i),
        dgid: dgid(i),
        slid: 1 + (i % SOURCES) as u16,
        dlid: (i % 0xbfff) as u16 + 1,
        reversible: true,
        pkey: 0xffff,
        mtu_selector: Selector::Exactly,
        mtu: Mtu::Mtu4096,
        rate_selector: Selector::Exactly,
        rate: Rate::Gbps100,
        packet_lifetime_selector: Selector::Exactly,
        packet_lifetime: PacketLifetime(18),
        ..PathRecordRepr::default()
    };
    let mut out = Record::new_zeroed();
    r.emit(&mut out).unwrap();
    out
}

/// Pseudo-random indices below `n` (xorshift), so lookups miss the CPU caches like real ones.
fn indices(n: usize) -> Vec<usize> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        })
        .collect()
}

/// A full table, built on the heap (a 64K table is 7.5 MiB: never on the stack).
fn full_table<const N: usize>() -> Box<Table<N>> {
    let mut t = Table::<N>::new_box_zeroed().unwrap();
    for i in 0..N {
        t.insert(NOW, &record(i), Origin::BEST, LIFETIME);
    }
    assert_eq!(t.len(), N);
    t
}

/// The baseline: (SGID, DGID) → records, with FIFO order for bounded inserts.
struct Baseline {
    map: HashMap<(Gid, Gid), Vec<Record>>,
    order: VecDeque<(Gid, Gid)>,
    cap: usize,
}

impl Baseline {
    fn full(n: usize) -> Self {
        let mut b = Baseline { map: HashMap::with_capacity(n), order: VecDeque::with_capacity(n), cap: n };
        for i in 0..n {
            b.insert(i);
        }
        b
    }

    fn get(&self, i: usize) -> Option<Record> {
        self.map.get(&(sgid(i), dgid(i))).and_then(|v| v.first()).copied()
    }

    fn insert(&mut self, i: usize) {
        let key = (sgid(i), dgid(i));
        self.map.entry(key).or_default().push(record(i));
        self.order.push_back(key);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn invalidate_gid(&mut self, g: &Gid) -> usize {
        (0..SOURCES).filter(|&s| self.map.remove(&(sgid(s), *g)).is_some()).count()
    }
}

/// The operations, each on the table and on the baseline.
struct Ops<const N: usize> {
    table: Box<Table<N>>,
    base: Baseline,
    idx: Vec<usize>,
    k: usize,
    next: usize,
}

impl<const N: usize> Ops<N> {
    fn new() -> Self {
        Ops { table: full_table(), base: Baseline::full(N), idx: indices(N), k: 0, next: N }
    }

    fn key(&mut self) -> usize {
        self.k = self.k.wrapping_add(1);
        self.idx[self.k & 4095]
    }

    fn table_hit(&mut self) {
        let i = self.key();
        let mut out = [Record::new_zeroed(); 1];
        black_box(self.table.lookup(NOW, &Query::between_gids(sgid(i), dgid(i)), &mut out));
        black_box(&out);
    }

    fn base_hit(&mut self) {
        let i = self.key();
        black_box(self.base.get(i));
    }

    fn table_miss(&mut self) {
        let i = self.key() + 2 * N;
        let mut out = [Record::new_zeroed(); 1];
        black_box(self.table.lookup(NOW, &Query::between_gids(sgid(i), dgid(i)), &mut out));
    }

    fn base_miss(&mut self) {
        let i = self.key() + 2 * N;
        black_box(self.base.get(i));
    }

    fn table_insert(&mut self) {
        self.next += 1;
        black_box(self.table.insert(NOW, &record(self.next), Origin::BEST, LIFETIME));
    }

    fn base_insert(&mut self) {
        self.next += 1;
        self.base.insert(self.next);
    }

    /// Invalidates a present destination GID, then puts it back so the next one is present.
    fn table_invalidate(&mut self) {
        let i = self.key();
        black_box(self.table.invalidate_gid(&dgid(i), PinPolicy::Keep));
        self.table.insert(NOW, &record(i), Origin::BEST, LIFETIME);
    }

    fn base_invalidate(&mut self) {
        let i = self.key();
        black_box(self.base.invalidate_gid(&dgid(i)));
        self.base.map.entry((sgid(i), dgid(i))).or_default().push(record(i));
    }
}

type Op<const N: usize> = fn(&mut Ops<N>);

fn ops<const N: usize>() -> [(&'static str, Op<N>, Op<N>); 4] {
    [
        ("hit", Ops::table_hit, Ops::base_hit),
        ("miss", Ops::table_miss, Ops::base_miss),
        ("insert_evict", Ops::table_insert, Ops::base_insert),
        ("invalidate_gid+reinsert", Ops::table_invalidate, Ops::base_invalidate),
    ]
}

fn bench_size<const N: usize>(c: &mut Criterion, label: &str) {
    let mut group = c.benchmark_group(format!("table_{label}"));
    for (name, table_op, base_op) in ops::<N>() {
        // A fresh pair per operation, so an insert benchmark does not change the next one.
        let mut o = Ops::<N>::new();
        group.bench_function(format!("{name}/table"), |b| b.iter(|| table_op(&mut o)));
        group.bench_function(format!("{name}/hashmap"), |b| b.iter(|| base_op(&mut o)));
    }
    group.finish();
}

/// ns per operation over `iters` runs (after a tenth as many to warm up).
fn time<const N: usize>(o: &mut Ops<N>, op: Op<N>, iters: u32) -> f64 {
    for _ in 0..iters / 10 {
        op(o);
    }
    let start = std::time::Instant::now();
    for _ in 0..iters {
        op(o);
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn ratios<const N: usize>(label: &str) {
    for (name, table_op, base_op) in ops::<N>() {
        let mut o = Ops::<N>::new();
        let t = time(&mut o, table_op, 400_000);
        let h = time(&mut o, base_op, 400_000);
        println!("{label:>4} {name:<24} table {t:7.1} ns  hashmap {h:7.1} ns  ratio {:.2}", t / h);
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(StdDuration::from_millis(300))
        .measurement_time(StdDuration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    bench_size::<1024>(&mut c, "1K");
    bench_size::<16384>(&mut c, "16K");
    bench_size::<65536>(&mut c, "64K");
    c.final_summary();
    println!("\ntable / HashMap (plain timed loop, lower is better):");
    ratios::<1024>("1K");
    ratios::<16384>("16K");
    ratios::<65536>("64K");
}
