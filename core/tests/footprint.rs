//! What each capacity of an engine costs in bytes, as docs/embedding.md quotes it (figures for
//! a 64-bit host; the firmware self-test checks the Cortex-M3 figures on the target).

use core::mem::size_of;

use localsa_core::engine::{Engine, Event};
use localsa_core::rmpp::{capacity_for, RECV_SLOT_OVERHEAD, SEND_SLOT_OVERHEAD};
use localsa_core::table::{Table, BYTES_PER_ENTRY};

/// An engine with one of everything (RMPP slots of one MAD).
type Base = Engine<1, 1, 1, 1, 256, 1, 256>;

/// `n` rounded up to the engine's alignment (8 bytes).
const fn padded(n: usize) -> usize {
    n.next_multiple_of(8)
}

#[test]
#[cfg(target_pointer_width = "64")]
fn each_capacity_costs_what_the_docs_say() {
    let base = size_of::<Base>();
    // Table entries: 124 bytes each (100 more entries cost 12 400), plus a 336-byte header.
    assert_eq!(BYTES_PER_ENTRY, 124);
    assert_eq!(size_of::<Engine<101, 1, 1, 1, 256, 1, 256>>() - base, 100 * 124);
    assert_eq!(size_of::<Table<256>>(), 256 * 124 + 336);
    // Pending queries: 984 bytes each: the query, its state and a whole answer (720), and a
    // replica's per-slot room for a remote query and a subscriber (264).
    assert_eq!(size_of::<Engine<1, 2, 1, 1, 256, 1, 256>>() - base, 984);
    // Waiters: 16 bytes each.
    assert_eq!(size_of::<Engine<1, 1, 9, 1, 256, 1, 256>>() - base, 8 * 16);
    // RMPP receive slots: CAP + 258, send slots: CAP + 242 (each padded to 8).
    assert_eq!((RECV_SLOT_OVERHEAD, SEND_SLOT_OVERHEAD), (258, 242));
    const CAP: usize = capacity_for(64, 64);
    assert_eq!(CAP, 4152);
    assert_eq!(
        size_of::<Engine<1, 1, 1, 2, CAP, 1, 256>>() - size_of::<Engine<1, 1, 1, 1, CAP, 1, 256>>(),
        padded(CAP + 258)
    );
    assert_eq!(
        size_of::<Engine<1, 1, 1, 1, 256, 2, CAP>>() - size_of::<Engine<1, 1, 1, 1, 256, 1, CAP>>(),
        padded(CAP + 242)
    );
    // The rest is fixed: mostly the outbox of 8 MADs (a Report relayed to any number of
    // subscribers takes one) and the queue of 16 notices (events other than answers, which
    // wait with their pending query). 7 672 bytes when this was written.
    assert!(size_of::<Event>() <= 536, "{}", size_of::<Event>());
    assert!(base <= 7 * 1024 + 576, "{base}");
}

#[test]
#[cfg(target_pointer_width = "64")]
fn the_firmware_engine() {
    // docs/embedding.md: 256 entries, 4 pending, 16 waiters, one 64-record receive, one
    // minimal send slot: 45 976 bytes when this was written, under the 48 KiB budget.
    let size = size_of::<Engine<256, 4, 16, 1, { capacity_for(64, 64) }, 1, 56>>();
    assert!(size <= 45 * 1024 + 512, "{size}");
}
