//! Differential: the PathRecord table against its reference model (the model and the runner
//! are `core/tests/table_model/model.rs`, shared with the property test), under operation
//! sequences libFuzzer builds instead of proptest. After every operation the outcomes, the
//! records returned, the counters and the full set of entries must agree, on a table of 8 or
//! of 32 entries.
#![no_main]

#[path = "../../core/tests/table_model/model.rs"]
#[allow(dead_code)]
mod model;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use localsa_core::table::{Context, Natural, Origin, PinPolicy};
use model::*;

/// A record choice: indices into the model's value lists.
#[derive(Debug, Arbitrary)]
struct RecordPick {
    ends: (u8, u8, bool, bool, bool),
    pkey: bool,
    sl: u8,
    mtu: u8,
    rate: u8,
    life: u8,
    preference: u8,
    reversible: bool,
}

impl RecordPick {
    fn choice(&self) -> RecordChoice {
        let (s, d, sl_off, dl_off, odd) = self.ends;
        (
            (s as usize, d as usize, sl_off as u16, dl_off as u16, odd),
            (PKEYS[self.pkey as usize], self.sl, self.mtu),
            (
                RECORD_RATES[self.rate as usize % RECORD_RATES.len()],
                RECORD_LIFES[self.life as usize % RECORD_LIFES.len()],
            ),
            (self.preference, self.reversible),
        )
    }
}

#[derive(Debug, Arbitrary)]
struct QueryPick {
    ends: (u8, u8, u8, u8, bool, bool, bool),
    pkey: Option<bool>,
    sl: Option<u8>,
    numb: Option<u8>,
    dims: [Option<(u8, u8, bool)>; 3],
    service: bool,
    qos: bool,
    raw: bool,
    reversible: bool,
}

impl QueryPick {
    fn choice(&self) -> QueryChoice {
        let (s, d, sform, dform, sl_off, dl_off, weird) = self.ends;
        let lists: [&[u8]; 3] = [&QUERY_MTUS, &QUERY_RATES, &QUERY_LIFES];
        let dim =
            |i: usize| self.dims[i].map(|(sel, v, both)| (sel, lists[i][v as usize % lists[i].len()], both));
        (
            (s as usize, d as usize, sform, dform, sl_off as u16, dl_off as u16, weird),
            (self.pkey.map(|p| PKEYS[p as usize]), self.sl, self.numb),
            (dim(0), dim(1), dim(2)),
            (self.service.then_some(1), self.qos.then_some(5), self.raw, self.reversible),
        )
    }
}

#[derive(Debug, Arbitrary)]
struct OriginPick {
    natural: Option<u8>,
    context: Option<(bool, bool, bool, bool)>,
}

impl OriginPick {
    fn origin(&self) -> Origin {
        let natural = self.natural.map_or(Natural::all(), |n| Natural::from_bits_truncate(n % 16));
        let context = self.context.map_or(Context::default(), |(s, q, pkey, raw)| Context {
            service_id: s.then_some(1),
            qos_class: q.then_some(5),
            pkey,
            raw_traffic: raw,
        });
        Origin { natural, context }
    }
}

#[derive(Debug, Arbitrary)]
struct ShapePick {
    forms: (u8, u8, u8, u8),
    dims: [Option<(u8, u8, bool)>; 3],
    numb: Option<u8>,
    context: bool,
    reversible: bool,
}

impl ShapePick {
    fn shape(&self) -> Shape {
        let (sform, dform, pkey, sl) = self.forms;
        Shape {
            sform: sform % 3,
            dform: dform % 3,
            pkey: pkey % 3,
            sl: sl % 3,
            dims: self.dims.map(|d| d.map(|(sel, step, both)| (sel % 4, (step % 3) as i8 - 1, both))),
            numb: self.numb.map(|n| n % 4),
            context: self.context,
            reversible: self.reversible,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Pick {
    Insert(RecordPick, OriginPick, u8),
    Reinsert(u8, u8, u8),
    Lookup(QueryPick, u8),
    LookupExisting(u8, ShapePick, u8),
    Negative(QueryPick, u8),
    NegativeExisting(u8, ShapePick),
    LookupNegative(u8, Option<u8>),
    Pin(RecordPick, OriginPick),
    PinExisting(u8),
    Unpin(u8),
    Remove(u8),
    Advance(u16),
    AdvanceToExpiry(u8),
    Bump,
    InvalidateGid(bool, u8, bool),
    InvalidateLid(bool, u8, bool),
    InvalidatePrefix(bool, bool),
    Flush(bool),
    Purge,
}

fn pins(drop: bool) -> PinPolicy {
    if drop {
        PinPolicy::Drop
    } else {
        PinPolicy::Keep
    }
}

impl Pick {
    fn op(&self) -> Op {
        let lifetime = |l: u8| LIFETIMES[l as usize % LIFETIMES.len()];
        match self {
            Pick::Insert(r, o, l) => Op::Insert(make_record(r.choice()), o.origin(), lifetime(*l)),
            Pick::Reinsert(k, n, l) => {
                Op::Reinsert(*k as usize, Natural::from_bits_truncate(n % 16), lifetime(*l))
            }
            Pick::Lookup(q, room) => Op::Lookup(make_query(q.choice()), 1 + *room as usize % 4),
            Pick::LookupExisting(k, sh, room) => {
                Op::LookupExisting(*k as usize, sh.shape(), 1 + *room as usize % 4)
            }
            Pick::Negative(q, e) => Op::Negative(make_query(q.choice()), ERRORS[*e as usize % ERRORS.len()]),
            Pick::NegativeExisting(k, sh) => Op::NegativeExisting(*k as usize, sh.shape()),
            Pick::LookupNegative(k, n) => Op::LookupNegative(*k as usize, n.map(|n| n % 3)),
            Pick::Pin(r, o) => Op::Pin(make_record(r.choice()), o.origin()),
            Pick::PinExisting(k) => Op::PinExisting(*k as usize),
            Pick::Unpin(k) => Op::Unpin(*k as usize),
            Pick::Remove(k) => Op::Remove(*k as usize),
            Pick::Advance(us) => Op::Advance(1 + *us as u64 % 30_000),
            // Multiples of the lifetimes land exactly on expiry instants.
            Pick::AdvanceToExpiry(k) => Op::Advance([5_000, 10_000, 30_000][*k as usize % 3]),
            Pick::Bump => Op::Bump,
            Pick::InvalidateGid(dest, i, drop) => {
                let g = if *dest { dst(*i as usize % DESTS).0 } else { src(*i as usize % SOURCES).0 };
                Op::InvalidateGid(g, pins(*drop))
            }
            Pick::InvalidateLid(dest, i, drop) => {
                let l = if *dest { dst(*i as usize % DESTS).1 } else { src(*i as usize % SOURCES).1 };
                Op::InvalidateLid(l, pins(*drop))
            }
            Pick::InvalidatePrefix(b, drop) => Op::InvalidatePrefix(if *b { PB } else { PA }, pins(*drop)),
            Pick::Flush(drop) => Op::Flush(pins(*drop)),
            Pick::Purge => Op::Purge,
        }
    }
}

/// The operations, on a table of 8 entries (capacity pressure) or of 32.
#[derive(Debug, Arbitrary)]
struct Input {
    large: bool,
    picks: Vec<Pick>,
}

fuzz_target!(|input: Input| {
    let ops: Vec<Op> = input.picks.iter().take(300).map(Pick::op).collect();
    let result = if input.large { check::<32>(&ops) } else { check::<8>(&ops) };
    if let Err(e) = result {
        panic!("the table ({} entries) and the model disagree: {e}", if input.large { 32 } else { 8 });
    }
});
