//! Differential test of `localsa_core::table::Table` against a model written independently: a
//! `Vec` scanned linearly, LRU by use stamps, and MTU/rate/packet-lifetime matching by brute
//! force over OpenSM's own selector code (every path value the cache cannot rule out must make
//! OpenSM return the cached value) instead of the table's closed-form rules.
//!
//! Random sequences of inserts, lookups, negative inserts, pins, unpins, removals,
//! invalidations, flushes, purges, clock steps and generation bumps run on both, under
//! capacity pressure (8 and 16 slots, about 20 destinations). After every step the outcomes,
//! the records returned, the counters and the full set of entries must be equal, so an
//! eviction of a different entry than the model's least recently used one fails at once.

//!
//! The model and the runner are in `table_model/model.rs`, which the fuzz target
//! `table_model` includes too; this file holds the proptest strategies.

#[path = "table_model/model.rs"]
mod model;

use localsa_core::table::{Context, Natural, Origin, PinPolicy, Query};
use localsa_core::wire::path_record::Record;
use model::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Operations and their generators.

fn arb_shape() -> impl Strategy<Value = Shape> {
    let dim = || prop::option::weighted(0.35, (0u8..4, -1i8..=1, prop::bool::weighted(0.9)));
    (
        (
            0u8..3,
            0u8..3,
            prop_oneof![3 => Just(0u8), 3 => Just(1), 1 => Just(2)],
            prop_oneof![3 => Just(0u8), 2 => Just(1), 1 => Just(2)],
        ),
        (dim(), dim(), dim()),
        (prop::option::weighted(0.3, 0u8..4), prop::bool::weighted(0.8), prop::bool::weighted(0.1)),
    )
        .prop_map(|((sform, dform, pkey, sl), (a, b, c), (numb, context, reversible))| Shape {
            sform,
            dform,
            pkey,
            sl,
            dims: [a, b, c],
            numb,
            context,
            reversible,
        })
}

fn arb_context() -> impl Strategy<Value = Context> {
    prop_oneof![
        6 => Just(Context::default()),
        1 => (prop::option::of(Just(1u64)), prop::option::of(Just(5u16)), any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(service_id, qos_class, pkey, raw_traffic)| Context { service_id, qos_class, pkey, raw_traffic }),
    ]
}

fn arb_origin() -> impl Strategy<Value = Origin> {
    (
        prop_oneof![2 => Just(Natural::all()), 1 => (0u8..16).prop_map(Natural::from_bits_truncate)],
        arb_context(),
    )
        .prop_map(|(natural, context)| Origin { natural, context })
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        (0..SOURCES, 0..DESTS, 0u16..2, 0u16..2, prop::bool::weighted(0.1)),
        (prop::sample::select(PKEYS.to_vec()), 0u8..2, 3u8..=5),
        (prop::sample::select(RECORD_RATES.to_vec()), prop::sample::select(RECORD_LIFES.to_vec())),
        (0u8..3, any::<bool>()),
    )
        .prop_map(make_record)
}

fn arb_query() -> impl Strategy<Value = Query> {
    let dim =
        |values: Vec<u8>| prop::option::of((0u8..4, prop::sample::select(values), prop::bool::weighted(0.9)));
    (
        (0..SOURCES, 0..DESTS, 0u8..3, 0u8..3, 0u16..2, 0u16..2, prop::bool::weighted(0.03)),
        (
            prop::option::weighted(0.3, prop::sample::select(PKEYS.to_vec())),
            prop::option::weighted(0.2, 0u8..2),
            prop::option::weighted(0.3, 0u8..4),
        ),
        (dim(QUERY_MTUS.to_vec()), dim(QUERY_RATES.to_vec()), dim(QUERY_LIFES.to_vec())),
        (
            prop::option::weighted(0.1, Just(1u64)),
            prop::option::weighted(0.05, Just(5u16)),
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(make_query)
}

fn arb_pins() -> impl Strategy<Value = PinPolicy> {
    prop_oneof![3 => Just(PinPolicy::Keep), 1 => Just(PinPolicy::Drop)]
}

fn arb_lifetime() -> impl Strategy<Value = u64> {
    prop::sample::select(LIFETIMES.to_vec())
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        25 => (arb_record(), arb_origin(), arb_lifetime()).prop_map(|(r, o, l)| Op::Insert(r, o, l)),
        6 => (any::<usize>(), (0u8..16).prop_map(Natural::from_bits_truncate), arb_lifetime())
            .prop_map(|(k, n, l)| Op::Reinsert(k, n, l)),
        12 => (arb_query(), 1usize..=4).prop_map(|(q, room)| Op::Lookup(q, room)),
        25 => (any::<usize>(), arb_shape(), 1usize..=4).prop_map(|(k, sh, room)| Op::LookupExisting(k, sh, room)),
        4 => (any::<usize>(), arb_shape()).prop_map(|(k, sh)| Op::NegativeExisting(k, sh)),
        5 => (any::<usize>(), prop::option::of(0u8..3)).prop_map(|(k, n)| Op::LookupNegative(k, n)),
        8 => (arb_query(), prop::sample::select(ERRORS.to_vec()))
            .prop_map(|(q, e)| Op::Negative(q, e)),
        3 => (arb_record(), arb_origin()).prop_map(|(r, o)| Op::Pin(r, o)),
        2 => any::<usize>().prop_map(Op::PinExisting),
        2 => any::<usize>().prop_map(Op::Unpin),
        1 => any::<usize>().prop_map(Op::Remove),
        // Steps that are multiples of the lifetimes land exactly on expiry instants.
        10 => prop_oneof![prop::sample::select(vec![5_000u64, 10_000, 30_000]), 1u64..30_000].prop_map(Op::Advance),
        3 => Just(Op::Bump),
        3 => (prop_oneof![(0..SOURCES).prop_map(|i| src(i).0), (0..DESTS).prop_map(|i| dst(i).0)], arb_pins())
            .prop_map(|(g, p)| Op::InvalidateGid(g, p)),
        3 => (prop_oneof![(0..SOURCES).prop_map(|i| src(i).1), (0..DESTS).prop_map(|i| dst(i).1)], arb_pins())
            .prop_map(|(l, p)| Op::InvalidateLid(l, p)),
        1 => (prop::sample::select(vec![PA, PB]), arb_pins()).prop_map(|(p, pins)| Op::InvalidatePrefix(p, pins)),
        1 => arb_pins().prop_map(Op::Flush),
        2 => Just(Op::Purge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model_8(ops in proptest::collection::vec(arb_op(), 1..200)) {
        check::<8>(&ops).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn table_matches_model_32(ops in proptest::collection::vec(arb_op(), 1..300)) {
        check::<32>(&ops).map_err(TestCaseError::fail)?;
    }
}

/// The model itself must agree with a few hand-checked cases, or the comparison proves little.
#[test]
fn model_sanity() {
    // Less than 4096 with a natural 2048: OpenSM returns 2048 (not lowered).
    assert_eq!(opensm(MTU, 4, Some((1, 5))), Some(4));
    assert_eq!(opensm(MTU, 5, Some((1, 5))), Some(4));
    assert_eq!(opensm(RATE, 3, Some((1, 5))), Some(2), "10 Gb/s less than 5 Gb/s: 2.5 Gb/s");
    assert_eq!(opensm(RATE, 4, Some((2, 4))), Some(4));
    assert_eq!(opensm(RATE, 15, Some((2, 4))), None, "exactly 30 Gb/s on a 25 Gb/s path");
    assert_eq!(opensm(LIFE, 3, Some((1, 1))), None);
    assert_eq!(opensm(LIFE, 0, Some((1, 1))), Some(0));
}
