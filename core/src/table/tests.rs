//! Unit tests: layout, every matching rule and selector, aging, pins, invalidation, and a
//! property test of the selector rules against a simulation of OpenSM's SA.

use std::vec::Vec;

use super::*;
use crate::wire::{Mtu, PacketLifetime, Rate, Selector};

const PREFIX: u64 = 0xfe80_0000_0000_0000;
const S: Gid = Gid::new(PREFIX, 0x100);

fn gid(n: u64) -> Gid {
    Gid::new(PREFIX, 0x1000 + n)
}

fn lid(n: u64) -> u16 {
    0x100 + n as u16
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A path from `S` (LID 1) to destination `n`, as OpenSM builds replies: selectors "exactly".
fn path(n: u64) -> PathRecordRepr {
    PathRecordRepr {
        sgid: S,
        dgid: gid(n),
        slid: 1,
        dlid: lid(n),
        reversible: true,
        pkey: 0xffff,
        sl: 0,
        mtu_selector: Selector::Exactly,
        mtu: Mtu::Mtu4096,
        rate_selector: Selector::Exactly,
        rate: Rate::Gbps100,
        packet_lifetime_selector: Selector::Exactly,
        packet_lifetime: PacketLifetime(18),
        ..PathRecordRepr::default()
    }
}

fn rec(r: PathRecordRepr) -> Record {
    let mut out = entry::ZERO_RECORD;
    r.emit(&mut out).unwrap();
    out
}

fn q(n: u64) -> Query {
    Query::between_gids(S, gid(n))
}

const LONG: Duration = Duration::from_secs(60);

/// Looks up with room for 8 records; returns the outcome and the records' Reprs.
fn look<const N: usize>(table: &mut Table<N>, now: Instant, query: &Query) -> (Lookup, Vec<PathRecordRepr>) {
    let mut out = [entry::ZERO_RECORD; 8];
    let l = table.lookup(now, query, &mut out);
    let n = match l {
        Lookup::Hit { count } | Lookup::StaleHit { count } => count,
        _ => 0,
    };
    (l, out[..n].iter().map(PathRecordRepr::parse).collect())
}

fn hits<const N: usize>(table: &mut Table<N>, query: &Query) -> bool {
    matches!(look(table, t(0), query).0, Lookup::Hit { .. })
}

#[test]
fn memory_per_entry() {
    assert_eq!(BYTES_PER_ENTRY, 124);
    let per_entry = (core::mem::size_of::<Table<2048>>() - core::mem::size_of::<Table<1024>>()) / 1024;
    assert_eq!(per_entry, BYTES_PER_ENTRY);
    let header = core::mem::size_of::<Table<1024>>() - 1024 * BYTES_PER_ENTRY;
    assert_eq!(header, 336, "header");
    // 256 entries on a 64 KiB Cortex-M3.
    assert!(core::mem::size_of::<Table<256>>() < 32 * 1024);
}

#[test]
fn lives_in_a_static_and_zeroed_box() {
    static TABLE: std::sync::Mutex<Table<256>> = std::sync::Mutex::new(Table::new());
    let mut table = TABLE.lock().unwrap();
    assert_eq!(table.insert(t(0), &rec(path(1)), Origin::BEST, LONG), Insert::Inserted);
    assert!(hits(&mut table, &q(1)));
    drop(table);
    // The all-zero table is the empty default table.
    let boxed = Table::<4096>::new_box_zeroed().unwrap();
    assert_eq!(boxed.len(), 0);
    assert_eq!(boxed.config(), Table::<4096>::new().config());
    assert_eq!(boxed.config().max_pinned, 1024);
}

#[test]
fn endpoints_must_match() {
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    assert!(hits(&mut table, &q(1)));
    assert!(hits(&mut table, &Query::between_lids(1, lid(1))));
    assert!(hits(&mut table, &Query::between_lids(1, lid(1)).with_sgid(S)));
    assert!(hits(&mut table, &q(1).with_slid(1).with_dlid(lid(1))));
    // Mixed source and destination kinds work through either index.
    assert!(hits(
        &mut table,
        &Query::new(
            PathRecordRepr { sgid: S, dlid: lid(1), ..Default::default() },
            PathRecordMask::SGID | PathRecordMask::DLID
        )
    ));
    assert!(!hits(&mut table, &q(2)));
    assert!(!hits(&mut table, &Query::between_gids(gid(9), gid(1))));
    assert!(!hits(&mut table, &Query::between_lids(2, lid(1))));
    assert!(!hits(&mut table, &q(1).with_dlid(lid(2))));
    assert!(!hits(&mut table, &q(1).with_slid(2)));
}

#[test]
fn unsupported_queries() {
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    let no_source = Query::new(PathRecordRepr { dgid: gid(1), ..Default::default() }, PathRecordMask::DGID);
    let no_dest = Query::new(PathRecordRepr { sgid: S, ..Default::default() }, PathRecordMask::SGID);
    let mut half_sid = q(1);
    half_sid.mask |= PathRecordMask::SERVICE_ID_MSB;
    let mcast = Query::between_gids(S, Gid::new(0xff12_401b_ffff_0000, 1));
    let bad_mtu = q(1).with_mtu(Selector::Exactly, Mtu::Unknown(6));
    let bad_rate = q(1).with_rate(Selector::GreaterThan, Rate::Unknown(1));
    for query in [no_source, no_dest, half_sid, mcast, bad_mtu, bad_rate] {
        assert_eq!(look(&mut table, t(0), &query).0, Lookup::Unsupported, "{query:?}");
        assert_eq!(table.insert_negative(t(0), &query, SaError::NoRecords), Insert::Unsupported);
    }
    // An invalid value without its selector bit is ignored, as OpenSM ignores it.
    let mut lone = q(1);
    lone.template.mtu = Mtu::Unknown(6);
    lone.mask |= PathRecordMask::MTU;
    assert!(hits(&mut table, &lone));
    assert_eq!(table.counters().misses, 6);
}

#[test]
fn ignored_fields() {
    // FlowLabel, HopLimit, TClass and Preference do not restrict unicast paths in OpenSM.
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    let mut query = q(1);
    query.template.flow_label = 0x12345;
    query.template.hop_limit = 7;
    query.template.tclass = 9;
    query.template.preference = 3;
    query.mask |= PathRecordMask::FLOW_LABEL
        | PathRecordMask::HOP_LIMIT
        | PathRecordMask::TCLASS
        | PathRecordMask::PREFERENCE;
    assert!(hits(&mut table, &query));
}

#[test]
fn pkey_sl_and_reversible() {
    let mut table = Table::<16>::new();
    // A record fetched with P_Key and SL named.
    let named = q(1).with_pkey(0x8001).with_sl(3);
    let r = rec(PathRecordRepr { pkey: 0x8001, sl: 3, reversible: false, ..path(1) });
    table.insert_answer(t(0), &named, &r, LONG);
    assert!(hits(&mut table, &named));
    assert!(!hits(&mut table, &q(1).with_pkey(0xffff).with_sl(3)), "P_Key must match");
    assert!(!hits(&mut table, &q(1).with_pkey(0x8001).with_sl(2)), "SL must match");
    // The SA picks P_Key and SL itself when the query does not name them.
    assert!(!hits(&mut table, &q(1)), "P_Key was asked for, not the SA's choice");
    assert!(!hits(&mut table, &q(1).with_pkey(0x8001)), "SL was asked for, not the SA's choice");
    assert!(!hits(&mut table, &named.with_reversible()), "not reversible");
    // An unconstrained answer carries the SA's SL: it answers a query naming that SL...
    let natural = rec(PathRecordRepr { sl: 5, ..path(2) });
    table.insert(t(0), &natural, Origin::BEST, LONG);
    assert!(hits(&mut table, &q(2).with_sl(5)));
    assert!(!hits(&mut table, &q(2).with_sl(4)));
    assert!(hits(&mut table, &q(2).with_reversible()));
    // ...but not one naming its P_Key: a QoS pkey rule only matches requests with the bit.
    assert!(!hits(&mut table, &q(2).with_pkey(0xffff)));
    // Reversible 0 in the mask is "don't care".
    let mut dont_care = q(1).with_pkey(0x8001).with_sl(3);
    dont_care.mask |= PathRecordMask::REVERSIBLE;
    assert!(hits(&mut table, &dont_care));
}

#[test]
fn service_id_qos_class_and_raw_traffic_are_context() {
    let mut table = Table::<16>::new();
    let sid = q(1).with_service_id(0x1000_0000_0001_4321);
    table.insert_answer(t(0), &sid, &rec(path(1)), LONG);
    assert!(hits(&mut table, &sid));
    assert!(!hits(&mut table, &q(1)));
    assert!(!hits(&mut table, &q(1).with_service_id(0x1000_0000_0001_4322)));
    let qos = q(2).with_qos_class(7);
    table.insert_answer(t(0), &qos, &rec(path(2)), LONG);
    assert!(hits(&mut table, &qos));
    assert!(!hits(&mut table, &q(2).with_qos_class(6)));
    assert!(!hits(&mut table, &q(2)));
    // Raw traffic: OpenSM answers with P_Key 0 and ignores the P_Key bit.
    let raw = q(3).with_raw_traffic();
    table.insert_answer(t(0), &raw, &rec(PathRecordRepr { pkey: 0, ..path(3) }), LONG);
    assert!(hits(&mut table, &raw));
    assert!(hits(&mut table, &raw.with_pkey(0x8001)));
    assert!(!hits(&mut table, &q(3)));
    // Both contexts coexist for one destination.
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    assert!(hits(&mut table, &q(1)));
    assert_eq!(look(&mut table, t(0), &sid).1.len(), 1);
}

fn with(mtu: Mtu, rate: Rate, life: u8) -> PathRecordRepr {
    PathRecordRepr { mtu, rate, packet_lifetime: PacketLifetime(life), ..path(1) }
}

#[test]
fn mtu_selectors() {
    use Selector::*;
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(with(Mtu::Mtu2048, Rate::Gbps40, 18)), Origin::BEST, LONG);
    let m = |sel, mtu| q(1).with_mtu(sel, mtu);
    assert!(hits(&mut table, &m(GreaterThan, Mtu::Mtu1024)));
    assert!(!hits(&mut table, &m(GreaterThan, Mtu::Mtu2048)));
    assert!(hits(&mut table, &m(LessThan, Mtu::Mtu4096)));
    assert!(!hits(&mut table, &m(LessThan, Mtu::Mtu2048)), "the SA would lower it to 1024");
    assert!(hits(&mut table, &m(Exactly, Mtu::Mtu2048)));
    assert!(!hits(&mut table, &m(Exactly, Mtu::Mtu1024)), "the SA would return 1024, not 2048");
    assert!(hits(&mut table, &m(Largest, Mtu::Mtu256)), "largest ignores the value");
    // A selector without its value bit (and the reverse) is ignored.
    let mut sel_only = q(1);
    sel_only.template.mtu_selector = LessThan;
    sel_only.template.mtu = Mtu::Mtu256;
    sel_only.mask |= PathRecordMask::MTU_SELECTOR;
    assert!(hits(&mut table, &sel_only));
}

#[test]
fn largest_available_needs_a_best_answer() {
    use Selector::*;
    let mut table = Table::<16>::new();
    // Fetched under "MTU less than 4096": the SA gave 2048, though the path may do 4096.
    let lt = q(1).with_mtu(LessThan, Mtu::Mtu4096);
    let r = rec(with(Mtu::Mtu2048, Rate::Gbps100, 18));
    assert_eq!(table.insert_answer(t(0), &lt, &r, LONG), Insert::Inserted);
    assert!(!hits(&mut table, &q(1)), "no selector: the SA returns the largest MTU");
    assert!(!hits(&mut table, &q(1).with_mtu(Largest, Mtu::Mtu256)));
    assert!(!hits(&mut table, &q(1).with_mtu(GreaterThan, Mtu::Mtu1024)), "the SA would return the largest");
    assert!(hits(&mut table, &lt), "the same query again");
    assert!(hits(&mut table, &q(1).with_mtu(Exactly, Mtu::Mtu2048)), "the path does 2048 at least");
    assert!(!hits(&mut table, &q(1).with_mtu(LessThan, Mtu::Mtu2048)));
    // The best answer arrives; both coexist and each answers its own queries.
    let best = rec(with(Mtu::Mtu4096, Rate::Gbps100, 18));
    table.insert_answer(t(0), &q(1), &best, LONG);
    let (l, got) = look(&mut table, t(0), &q(1));
    assert_eq!(l, Lookup::Hit { count: 1 });
    assert_eq!(got[0].mtu, Mtu::Mtu4096);
    let (_, got) = look(&mut table, t(0), &lt);
    assert_eq!((got.len(), got[0].mtu), (1, Mtu::Mtu2048));
    // 4096 is the largest MTU there is: even a non-natural 4096 is the path's own.
    let mut table = Table::<16>::new();
    table.insert_answer(t(0), &q(1).with_mtu(Exactly, Mtu::Mtu4096), &best, LONG);
    assert!(hits(&mut table, &q(1)));
}

#[test]
fn rate_selectors_follow_opensm_order() {
    use Selector::*;
    let mut table = Table::<16>::new();
    // 5 Gb/s is code 5, 10 Gb/s code 3: codes are not in speed order.
    table.insert(t(0), &rec(with(Mtu::Mtu4096, Rate::Gbps10, 18)), Origin::BEST, LONG);
    let r = |sel, rate| q(1).with_rate(sel, rate);
    assert!(hits(&mut table, &r(GreaterThan, Rate::Gbps5)));
    assert!(!hits(&mut table, &r(LessThan, Rate::Gbps5)));
    assert!(hits(&mut table, &r(LessThan, Rate::Gbps14)));
    assert!(!hits(&mut table, &r(GreaterThan, Rate::Gbps14)));
    assert!(hits(&mut table, &r(Exactly, Rate::Gbps10)));
    assert!(!hits(&mut table, &r(Exactly, Rate::Gbps5)));
    // 25 Gb/s (64b/66b) ranks above 30 Gb/s (8b/10b) in OpenSM's ordered_rates.
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(with(Mtu::Mtu4096, Rate::Gbps25, 18)), Origin::BEST, LONG);
    assert!(hits(&mut table, &r(GreaterThan, Rate::Gbps30)));
    assert!(!hits(&mut table, &r(LessThan, Rate::Gbps30)));
    // Exactly: OpenSM requires the path's own rate, so a lowered rate does not answer it.
    let mut table = Table::<16>::new();
    let lt = r(LessThan, Rate::Gbps25);
    table.insert_answer(t(0), &lt, &rec(with(Mtu::Mtu4096, Rate::Gbps30, 18)), LONG);
    assert!(hits(&mut table, &lt));
    assert!(!hits(&mut table, &r(Exactly, Rate::Gbps30)));
    assert!(hits(&mut table, &r(LessThan, Rate::Gbps25)));
    assert!(!hits(&mut table, &r(LessThan, Rate::Gbps40)));
    // A rate this crate does not know answers only queries that leave the rate open.
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(with(Mtu::Mtu4096, Rate::Unknown(23), 18)), Origin::BEST, LONG);
    assert!(hits(&mut table, &q(1)));
    assert!(!hits(&mut table, &r(GreaterThan, Rate::Gbps2_5)));
}

#[test]
fn packet_lifetime_selectors() {
    use Selector::*;
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(with(Mtu::Mtu4096, Rate::Gbps40, 16)), Origin::BEST, LONG);
    let p = |sel, v| q(1).with_packet_lifetime(sel, PacketLifetime(v));
    assert!(hits(&mut table, &p(GreaterThan, 15)));
    assert!(!hits(&mut table, &p(GreaterThan, 16)));
    assert!(hits(&mut table, &p(LessThan, 17)));
    assert!(!hits(&mut table, &p(LessThan, 16)));
    assert!(hits(&mut table, &p(Exactly, 16)));
    assert!(!hits(&mut table, &p(Exactly, 15)));
    assert!(hits(&mut table, &p(Largest, 0)), "smallest available: the SA's own lifetime");
    // OpenSM refuses "less than 1" unless the lifetime is already 0.
    let mut table = Table::<16>::new();
    let lt = p(LessThan, 10);
    table.insert_answer(t(0), &lt, &rec(with(Mtu::Mtu4096, Rate::Gbps40, 9)), LONG);
    assert!(!hits(&mut table, &q(1)));
    assert!(hits(&mut table, &lt));
    assert!(!hits(&mut table, &p(LessThan, 1)));
}

#[test]
fn numb_path_and_order() {
    let mut table = Table::<16>::new();
    // Four LID pairs (LMC 1 on both ends), preference 0 for the "redundant" pairs.
    for (slid, dlid, pref) in [(2, 11, 2), (1, 10, 0), (2, 10, 2), (1, 11, 0)] {
        let r = PathRecordRepr { slid, dlid, preference: pref, ..path(1) };
        table.insert(t(0), &rec(r), Origin::BEST, LONG);
    }
    let (l, got) = look(&mut table, t(0), &q(1));
    assert_eq!(l, Lookup::Hit { count: 4 });
    let order: Vec<_> = got.iter().map(|r| (r.preference, r.slid, r.dlid)).collect();
    assert_eq!(order, [(0, 1, 10), (0, 1, 11), (2, 2, 10), (2, 2, 11)]);
    let (l, got) = look(&mut table, t(0), &q(1).with_numb_path(2));
    assert_eq!(l, Lookup::Hit { count: 2 });
    assert_eq!((got[1].slid, got[1].dlid), (1, 11));
    // The output slice bounds it too, and NumbPath 0 asks for nothing.
    let mut one = [entry::ZERO_RECORD; 1];
    assert_eq!(table.lookup(t(0), &q(1).with_numb_path(3), &mut one), Lookup::Hit { count: 1 });
    assert_eq!(look(&mut table, t(0), &q(1).with_numb_path(0)).0, Lookup::Hit { count: 0 });
    assert_eq!(look(&mut table, t(0), &q(1).with_dlid(11)).1.len(), 2);
    // A pinned path comes first.
    let pinned = PathRecordRepr { slid: 3, dlid: 12, preference: 5, ..path(1) };
    assert_eq!(table.pin(t(0), &rec(pinned), Origin::BEST), Insert::Inserted);
    assert_eq!(look(&mut table, t(0), &q(1)).1[0].slid, 3);
}

#[test]
fn replacement_and_identity() {
    let mut table = Table::<16>::new();
    assert_eq!(table.insert(t(0), &rec(path(1)), Origin::BEST, LONG), Insert::Inserted);
    // Same path, new preference: replaced.
    let r2 = rec(PathRecordRepr { preference: 1, ..path(1) });
    assert_eq!(table.insert(t(0), &r2, Origin::BEST, LONG), Insert::Replaced);
    assert_eq!(table.len(), 1);
    assert_eq!(look(&mut table, t(0), &q(1)).1[0].preference, 1);
    // Different P_Key, SL, MTU or context: a separate entry.
    for r in [
        PathRecordRepr { pkey: 0x8001, ..path(1) },
        PathRecordRepr { sl: 1, ..path(1) },
        PathRecordRepr { mtu: Mtu::Mtu2048, ..path(1) },
    ] {
        assert_eq!(table.insert(t(0), &rec(r), Origin::BEST, LONG), Insert::Inserted);
    }
    let sid = Origin { context: Context { service_id: Some(9), ..Context::default() }, ..Origin::BEST };
    assert_eq!(table.insert(t(0), &rec(path(1)), sid, LONG), Insert::Inserted);
    assert_eq!(table.len(), 5);
    assert!(table.remove(&rec(path(1)), &sid.context));
    assert!(!table.remove(&rec(path(1)), &sid.context));
    assert_eq!(table.counters().replacements, 1);
    assert_eq!(table.counters().invalidations, 1);
}

#[test]
fn expiry() {
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(path(1)), Origin::BEST, Duration::from_millis(100));
    table.insert(t(0), &rec(path(2)), Origin::BEST, Duration::ZERO);
    assert!(matches!(look(&mut table, t(99), &q(1)).0, Lookup::Hit { .. }));
    assert_eq!(look(&mut table, t(100), &q(1)).0, Lookup::Miss);
    assert_eq!(table.counters().expirations, 1);
    assert!(matches!(look(&mut table, Instant::from_millis(u64::MAX / 1000), &q(2)).0, Lookup::Hit { .. }));
    table.insert(t(0), &rec(path(3)), Origin::BEST, Duration::from_millis(5));
    assert_eq!(table.purge_expired(t(10)), 1);
    assert_eq!(table.len(), 1);
    assert_eq!(table.iter().next().unwrap().expires, None);
}

#[test]
fn lru_eviction() {
    let mut table = Table::<4>::new();
    for n in 0..4 {
        assert_eq!(table.insert(t(n), &rec(path(n)), Origin::BEST, LONG), Insert::Inserted);
    }
    // Use 0, so 1 is the least recently used.
    assert!(hits(&mut table, &q(0)));
    assert_eq!(table.insert(t(5), &rec(path(4)), Origin::BEST, LONG), Insert::Evicted);
    assert_eq!(look(&mut table, t(5), &q(1)).0, Lookup::Miss);
    assert!(hits(&mut table, &q(0)));
    assert_eq!(table.counters().evictions, 1);
    // An expired LRU tail is reclaimed, not evicted.
    let mut table = Table::<2>::new();
    table.insert(t(0), &rec(path(0)), Origin::BEST, Duration::from_millis(1));
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    assert_eq!(table.insert(t(5), &rec(path(2)), Origin::BEST, LONG), Insert::Inserted);
    assert_eq!((table.counters().evictions, table.counters().expirations), (0, 1));
}

#[test]
fn pins() {
    let mut table = Table::<4>::with_config(Config { negative_lifetime: LONG, max_pinned: 2 });
    assert_eq!(table.pin(t(0), &rec(path(0)), Origin::BEST), Insert::Inserted);
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    // Pinning a cached path converts it.
    assert_eq!(table.pin(t(0), &rec(path(1)), Origin::BEST), Insert::Replaced);
    assert_eq!(table.pin(t(0), &rec(path(2)), Origin::BEST), Insert::TooManyPins);
    // The SA's copy does not replace the administrator's.
    assert_eq!(table.insert(t(0), &rec(path(0)), Origin::BEST, LONG), Insert::Pinned);
    // Pins never expire, go stale or get evicted.
    table.bump_generation();
    for n in 10..20 {
        table.insert(t(0), &rec(path(n)), Origin::BEST, Duration::from_millis(1));
    }
    assert_eq!(table.pinned_len(), 2);
    assert!(matches!(look(&mut table, t(1000), &q(0)).0, Lookup::Hit { count: 1 }));
    assert_eq!(table.invalidate_gid(&gid(0), PinPolicy::Keep), 0);
    assert!(table.unpin(&rec(path(0)), &Context::default()));
    assert!(!table.unpin(&rec(path(0)), &Context::default()));
    assert_eq!(table.pinned_len(), 1);
    // With every slot pinned, nothing else fits.
    let mut full = Table::<2>::with_config(Config { negative_lifetime: LONG, max_pinned: 2 });
    full.pin(t(0), &rec(path(0)), Origin::BEST);
    full.pin(t(0), &rec(path(1)), Origin::BEST);
    assert_eq!(full.insert(t(0), &rec(path(2)), Origin::BEST, LONG), Insert::FullOfPins);
    assert_eq!(full.insert_negative(t(0), &q(3), SaError::NoRecords), Insert::FullOfPins);
    assert_eq!(full.flush(PinPolicy::Keep), 0);
    assert_eq!(full.flush(PinPolicy::Drop), 2);
    // The cap never exceeds the capacity.
    assert_eq!(
        Table::<2>::with_config(Config { negative_lifetime: LONG, max_pinned: 9 }).config().max_pinned,
        2
    );
}

#[test]
fn negative_entries() {
    let mut table =
        Table::<8>::with_config(Config { negative_lifetime: Duration::from_millis(50), max_pinned: 2 });
    let query = q(1).with_pkey(0x8001);
    assert_eq!(table.insert_negative(t(0), &query, SaError::NoRecords), Insert::Inserted);
    assert_eq!(
        look(&mut table, t(10), &query).0,
        Lookup::Negative { error: SaError::NoRecords, stale: false }
    );
    // Only the same query (NumbPath and ignored fields aside).
    assert_eq!(
        look(&mut table, t(10), &query.with_numb_path(4)).0,
        Lookup::Negative { error: SaError::NoRecords, stale: false }
    );
    assert_eq!(look(&mut table, t(10), &q(1)).0, Lookup::Miss);
    assert_eq!(look(&mut table, t(10), &query.with_sl(0)).0, Lookup::Miss);
    assert_eq!(table.insert_negative(t(20), &query, SaError::InvalidGid), Insert::Replaced);
    assert_eq!(
        look(&mut table, t(60), &query).0,
        Lookup::Negative { error: SaError::InvalidGid, stale: false }
    );
    assert_eq!(look(&mut table, t(70), &query).0, Lookup::Miss);
    assert_eq!(table.counters().negative_hits, 3);
    assert_eq!(table.counters().expirations, 1);
    // A record that answers the query contradicts the negative entry, and the reverse.
    table.insert_negative(t(100), &query, SaError::NoRecords);
    let r = rec(PathRecordRepr { pkey: 0x8001, ..path(1) });
    table.insert_answer(t(100), &query, &r, LONG);
    assert_eq!(look(&mut table, t(100), &query).0, Lookup::Hit { count: 1 });
    assert_eq!(table.len(), 1);
    table.insert_negative(t(100), &query, SaError::NoRecords);
    assert_eq!(table.len(), 1);
    assert!(matches!(look(&mut table, t(100), &query).0, Lookup::Negative { .. }));
    // A LID-only negative lives in the LID index.
    let by_lid = Query::between_lids(1, lid(7));
    table.insert_negative(t(100), &by_lid, SaError::NoRecords);
    assert!(matches!(look(&mut table, t(100), &by_lid).0, Lookup::Negative { .. }));
    assert_eq!(table.invalidate_lid(lid(7), PinPolicy::Keep), 1);
    let dumped: Vec<_> = table.iter().collect();
    assert_eq!(dumped.len(), 1);
    assert_eq!(
        dumped[0].kind,
        EntryKind::Negative {
            mask: PathRecordMask::SGID | PathRecordMask::DGID | PathRecordMask::PKEY,
            error: SaError::NoRecords
        }
    );
}

#[test]
fn invalidation() {
    let mut table = Table::<32>::new();
    for n in 0..4 {
        table.insert(t(0), &rec(path(n)), Origin::BEST, LONG);
    }
    // A path *from* gid(0) (S is not its source here).
    let from0 = PathRecordRepr { sgid: gid(0), slid: lid(0), dgid: gid(3), dlid: lid(3), ..path(0) };
    table.insert(t(0), &rec(from0), Origin::BEST, LONG);
    table.pin(t(0), &rec(PathRecordRepr { sl: 7, ..path(0) }), Origin::BEST);
    assert_eq!(table.len(), 6);
    // By GID: as destination and as source; the pin stays unless asked.
    assert_eq!(table.invalidate_gid(&gid(0), PinPolicy::Keep), 2);
    assert_eq!(table.invalidate_gid(&gid(0), PinPolicy::Drop), 1);
    assert_eq!(table.invalidate_gid(&gid(0), PinPolicy::Drop), 0);
    // By LID.
    assert_eq!(table.invalidate_lid(lid(1), PinPolicy::Keep), 1);
    assert_eq!(table.invalidate_lid(1, PinPolicy::Keep), 2, "the source LID of the rest");
    // By prefix.
    for n in 0..3 {
        table.insert(t(0), &rec(path(n)), Origin::BEST, LONG);
    }
    let other = Gid::new(0xfec0_0000_0000_0001, 5);
    table.insert(t(0), &rec(PathRecordRepr { dgid: other, ..path(9) }), Origin::BEST, LONG);
    assert_eq!(table.invalidate_prefix(0xfec0_0000_0000_0001, PinPolicy::Keep), 1);
    assert_eq!(table.invalidate_prefix(PREFIX, PinPolicy::Keep), 3);
    assert!(table.is_empty());
    let c = table.counters();
    assert_eq!(c.inserts - c.evictions - c.expirations - c.invalidations, 0);
    assert_eq!(c.invalidations, 10);
}

#[test]
fn generations() {
    let mut table = Table::<16>::new();
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    table.insert_negative(t(0), &q(2), SaError::NoRecords);
    assert_eq!(table.bump_generation(), 1);
    assert_eq!(look(&mut table, t(0), &q(1)).0, Lookup::StaleHit { count: 1 });
    assert_eq!(look(&mut table, t(0), &q(2)).0, Lookup::Negative { error: SaError::NoRecords, stale: true });
    assert!(table.iter().all(|e| e.stale));
    // The refetched record is fresh and is served alone, though the stale one also matches.
    table.insert(t(0), &rec(PathRecordRepr { sl: 2, ..path(1) }), Origin::BEST, LONG);
    let (l, got) = look(&mut table, t(0), &q(1));
    assert_eq!(l, Lookup::Hit { count: 1 });
    assert_eq!(got[0].sl, 2);
    // Re-inserting the same path refreshes its generation.
    table.insert(t(0), &rec(path(1)), Origin::BEST, LONG);
    assert_eq!(look(&mut table, t(0), &q(1)).0, Lookup::Hit { count: 2 });
    assert_eq!(table.counters().stale_hits, 1);
}

/// A simulated OpenSM answering for one path whose own values are `p`: the selector logic of
/// `pr_rcv_get_path_parms`, written the way OpenSM writes it.
mod opensm {
    use super::*;

    /// `ordered_rates[]` from libopensm/osm_helper.c, codes 0..=24.
    const ORDERED_RATES: [i32; 25] =
        [0, 0, 1, 3, 6, 2, 5, 9, 10, 13, 14, 4, 12, 16, 17, 7, 15, 18, 19, 8, 11, 20, 21, 22, 23];

    fn compare_rates(a: u8, b: u8) -> i32 {
        ORDERED_RATES[a as usize].cmp(&ORDERED_RATES[b as usize]) as i32
    }

    fn rate_get_prev(rate: u8) -> u8 {
        if rate <= 2 {
            return 0;
        }
        let o = ORDERED_RATES[rate as usize] - 1;
        (2..=24).find(|&i| ORDERED_RATES[i as usize] == o).unwrap_or(0)
    }

    /// The path's own values.
    #[derive(Debug, Clone, Copy)]
    pub struct PathParams {
        pub mtu: u8,
        pub rate: u8,
        pub pkt_life: u8,
        pub sl: u8,
    }

    /// The SA's reply to `q`, `None` for no path (or an invalid request).
    pub fn answer(p: PathParams, q: &Query) -> Option<Record> {
        let (t, m) = (&q.template, q.mask);
        let (mut mtu, mut rate, mut pkt_life) = (p.mtu, p.rate, p.pkt_life);
        if m.contains(PathRecordMask::MTU_SELECTOR | PathRecordMask::MTU) {
            let req = t.mtu.raw();
            if !(1..=5).contains(&req) {
                return None;
            }
            match t.mtu_selector.raw() {
                0 if mtu <= req => return None,
                1 if mtu >= req => {
                    if req > 1 {
                        mtu = req - 1
                    } else {
                        return None;
                    }
                }
                2 if mtu < req => return None,
                2 => mtu = req,
                _ => {}
            }
        }
        if m.contains(PathRecordMask::RATE_SELECTOR | PathRecordMask::RATE) {
            let req = t.rate.raw();
            if !(2..=22).contains(&req) {
                return None;
            }
            match t.rate_selector.raw() {
                0 if compare_rates(rate, req) <= 0 => return None,
                1 if compare_rates(rate, req) >= 0 => {
                    rate = rate_get_prev(req);
                    if rate == 0 {
                        return None;
                    }
                }
                2 if compare_rates(rate, req) != 0 => return None,
                2 => rate = req,
                _ => {}
            }
        }
        if m.contains(PathRecordMask::PACKET_LIFETIME_SELECTOR | PathRecordMask::PACKET_LIFETIME) {
            let req = t.packet_lifetime.0;
            match t.packet_lifetime_selector.raw() {
                0 if pkt_life <= req => return None,
                1 if pkt_life >= req => {
                    if req > 1 {
                        pkt_life = req - 1
                    } else {
                        return None;
                    }
                }
                2 if pkt_life < req => return None,
                2 => pkt_life = req,
                _ => {}
            }
        }
        let sl = if m.contains(PathRecordMask::SL) { t.sl } else { p.sl };
        let mut r = path(1);
        r.sl = sl;
        r.mtu = Mtu::from_raw(mtu);
        r.rate = Rate::from_raw(rate);
        r.packet_lifetime = PacketLifetime(pkt_life);
        Some(rec(r))
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn arb_params() -> impl Strategy<Value = opensm::PathParams> {
        (1u8..=5, prop::sample::select((2u8..=22).collect::<Vec<_>>()), 0u8..=20, 0u8..4)
            .prop_map(|(mtu, rate, pkt_life, sl)| opensm::PathParams { mtu, rate, pkt_life, sl })
    }

    fn arb_query() -> impl Strategy<Value = Query> {
        let sel = || prop::option::of((0u8..4, any::<bool>()));
        (sel(), 0u8..=6, sel(), 0u8..=23, sel(), 0u8..=21, prop::option::of(0u8..4)).prop_map(
            |(ms, mv, rs, rv, ls, lv, sl)| {
                let mut query = q(1);
                // (selector, whether both mask bits are set)
                if let Some((s, both)) = ms {
                    query = query.with_mtu(Selector::from_raw(s), Mtu::from_raw(mv));
                    if !both {
                        query.mask.remove(PathRecordMask::MTU);
                    }
                }
                if let Some((s, both)) = rs {
                    query = query.with_rate(Selector::from_raw(s), Rate::from_raw(rv));
                    if !both {
                        query.mask.remove(PathRecordMask::RATE_SELECTOR);
                    }
                }
                if let Some((s, both)) = ls {
                    query = query.with_packet_lifetime(Selector::from_raw(s), PacketLifetime(lv));
                    if !both {
                        query.mask.remove(PathRecordMask::PACKET_LIFETIME);
                    }
                }
                if let Some(sl) = sl {
                    query = query.with_sl(sl);
                }
                query
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the cache answers is what the SA would answer, and it answers the query
        /// that fetched a record with that record.
        #[test]
        fn cache_answers_only_what_the_sa_would(
            p in arb_params(),
            fetches in proptest::collection::vec(arb_query(), 1..4),
            asked in arb_query(),
        ) {
            let mut table = Table::<16>::new();
            for f in &fetches {
                if let Some(r) = opensm::answer(p, f) {
                    table.insert_answer(t(0), f, &r, LONG);
                    let mut out = [entry::ZERO_RECORD; 1];
                    prop_assert_eq!(table.lookup(t(0), f, &mut out), Lookup::Hit { count: 1 });
                    prop_assert_eq!(out[0], r);
                }
            }
            let mut out = [entry::ZERO_RECORD; 1];
            match table.lookup(t(0), &asked, &mut out) {
                Lookup::Hit { count: 1 } => prop_assert_eq!(Some(out[0]), opensm::answer(p, &asked)),
                Lookup::Miss | Lookup::Unsupported => {}
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}

#[test]
fn invalidation_by_source_with_many_sources() {
    // More distinct sources than the source set tracks: invalidation falls back to scanning.
    let mut table = Table::<64>::new();
    for s in 0..12u64 {
        let r = PathRecordRepr { sgid: gid(100 + s), slid: 0x200 + s as u16, ..path(s) };
        table.insert(t(0), &rec(r), Origin::BEST, LONG);
    }
    for s in 0..12u64 {
        assert_eq!(table.invalidate_gid(&gid(100 + s), PinPolicy::Keep), 1, "source {s}");
    }
    assert!(table.is_empty());
    for s in 0..12u64 {
        let r = PathRecordRepr { sgid: gid(100 + s), slid: 0x200 + s as u16, ..path(s) };
        table.insert(t(0), &rec(r), Origin::BEST, LONG);
    }
    assert_eq!(table.invalidate_lid(0x205, PinPolicy::Keep), 1);
    assert_eq!(table.invalidate_lid(0x205, PinPolicy::Keep), 0);
    assert_eq!(table.len(), 11);
}
