//! The engine's 256-entry PathRecord table, used directly (as an administrator's pin or a dump
//! would): fill it, look every entry up, evict, expire, cache a negative answer, pin, flush.

use localsa_core::table::{Insert, Lookup, Origin, PinPolicy, Query};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::{PathRecord, SaError};

use crate::sa::{gid, ScriptedSa, ME};
use localsa_firmware::{FwEngine, TABLE};

/// Destinations of the fill: LIDs FIRST .. FIRST + 256, outside the scripted fabric.
const FIRST: u16 = 100;

fn to(dlid: u16) -> Query {
    Query::between_gids(gid(ME), gid(dlid)).with_reversible().with_numb_path(1)
}

fn record(dlid: u16) -> PathRecord {
    let mut r = PathRecord::ZEROED;
    let _ = ScriptedSa::record(ME, dlid).emit(&mut r);
    r
}

pub fn run(engine: &mut FwEngine, now: Instant) {
    let t = engine.table_mut();
    check!(t.is_empty() && t.capacity() == TABLE, "table: not empty or not {} entries", TABLE);
    let life = Duration::from_secs(3600);

    let mut stored = 0;
    for i in 0..TABLE as u16 {
        let d = FIRST + i;
        if t.insert_answer(now, &to(d), &record(d), life) == Insert::Inserted {
            stored += 1;
        }
    }
    check!(stored == TABLE && t.len() == TABLE, "table: {} of {} inserted, len {}", stored, TABLE, t.len());

    let mut out = [PathRecord::ZEROED; 1];
    let mut hits = 0;
    for i in 0..TABLE as u16 {
        let d = FIRST + i;
        if t.lookup(now, &to(d), &mut out) == (Lookup::Hit { count: 1 }) && out[0].dlid.get() == d {
            hits += 1;
        }
    }
    check!(hits == TABLE, "table: {} of {} lookups hit", hits, TABLE);

    // Full: the next insert takes the least recently used entry's slot, the first one looked up.
    let extra = FIRST + TABLE as u16;
    let ins = t.insert_answer(now, &to(extra), &record(extra), life);
    check!(ins == Insert::Evicted, "table: insert into a full table did not evict");
    check!(
        t.lookup(now, &to(FIRST), &mut out) == Lookup::Miss,
        "table: the LRU entry was not the one evicted"
    );
    check!(
        t.lookup(now, &to(extra), &mut out) == (Lookup::Hit { count: 1 }),
        "table: the new entry is missing"
    );
    check!(
        t.lookup(now, &to(FIRST + 1), &mut out) == (Lookup::Hit { count: 1 }),
        "table: a live entry was lost"
    );

    // "No such path" is cached, for that query only.
    t.insert_negative(now, &to(999), SaError::NoRecords);
    check!(
        t.lookup(now, &to(999), &mut out) == (Lookup::Negative { error: SaError::NoRecords, stale: false }),
        "table: negative entry not answered"
    );

    // Entries expire.
    let later = now + Duration::from_secs(7200);
    check!(t.lookup(later, &to(FIRST + 2), &mut out) == Lookup::Miss, "table: an expired entry answered");

    // A pinned path survives a flush that keeps pins, and then goes with one that does not.
    let pinned = 700;
    let ins = t.pin(now, &record(pinned), Origin::from_query(&to(pinned), &record(pinned)));
    check!(ins.is_stored(), "table: pin refused");
    let dropped = t.flush(PinPolicy::Keep);
    check!(t.len() == 1 && t.pinned_len() == 1, "table: flush kept {} entries", t.len());
    check!(t.lookup(later, &to(pinned), &mut out) == (Lookup::Hit { count: 1 }), "table: pinned path lost");
    t.flush(PinPolicy::Drop);
    check!(t.is_empty(), "table: not empty after flush");
    let c = t.counters();
    say!(
        "table: {} entries filled and looked up ({} bytes), LRU eviction, negative entry, expiry, pin; {} flushed; counters hits {} misses {} evictions {}",
        TABLE,
        core::mem::size_of::<localsa_core::table::Table<TABLE>>(),
        dropped,
        c.hits,
        c.misses,
        c.evictions
    );
}
