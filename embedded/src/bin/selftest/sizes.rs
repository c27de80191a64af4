//! What each capacity of an engine costs on this target (32-bit Cortex-M3), measured with
//! `size_of` and checked against the figures in docs/embedding.md (core/tests/footprint.rs
//! checks the 64-bit ones).

use core::mem::size_of;

use localsa_core::engine::{Engine, Event};
use localsa_core::rmpp::{RECV_SLOT_OVERHEAD, SEND_SLOT_OVERHEAD};
use localsa_core::table::Table;
use localsa_firmware::{FwEngine, RX_CAP};

type Base = Engine<1, 1, 1, 1, 256, 1, 256>;

pub fn run() {
    let base = size_of::<Base>();
    let entry = (size_of::<Engine<101, 1, 1, 1, 256, 1, 256>>() - base) / 100;
    let header = size_of::<Table<256>>() - 256 * entry;
    let pending = size_of::<Engine<1, 2, 1, 1, 256, 1, 256>>() - base;
    let waiter = (size_of::<Engine<1, 1, 9, 1, 256, 1, 256>>() - base) / 8;
    let rx =
        size_of::<Engine<1, 1, 1, 2, RX_CAP, 1, 256>>() - size_of::<Engine<1, 1, 1, 1, RX_CAP, 1, 256>>();
    let tx =
        size_of::<Engine<1, 1, 1, 1, 256, 2, RX_CAP>>() - size_of::<Engine<1, 1, 1, 1, 256, 1, RX_CAP>>();
    let event = size_of::<Event>();
    say!(
        "sizes on this target: table entry {} B + {} B header, pending {} B, waiter {} B, RMPP rx slot CAP+{} B, tx slot CAP+{} B (each padded to 8), rx/tx fixed {}/{} B, event {} B, base engine {} B, firmware engine {} B",
        entry,
        header,
        pending,
        waiter,
        RECV_SLOT_OVERHEAD,
        SEND_SLOT_OVERHEAD,
        localsa_core::rmpp::RECEIVER_FIXED_COST,
        localsa_core::rmpp::SENDER_FIXED_COST,
        event,
        base,
        size_of::<FwEngine>()
    );
    check!(entry == 124 && header == 336, "sizes: table entry {} B, header {} B", entry, header);
    check!(pending == 968 && waiter == 16, "sizes: pending {} B, waiter {} B", pending, waiter);
    check!(
        RECV_SLOT_OVERHEAD == 242 && rx == (RX_CAP + 242).next_multiple_of(8),
        "sizes: receive slot {} B",
        rx
    );
    check!(
        SEND_SLOT_OVERHEAD == 218 && tx == (RX_CAP + 218).next_multiple_of(8),
        "sizes: send slot {} B",
        tx
    );
    // The fixed part and the firmware engine as a whole may grow with the engine: bounds (7 416
    // and 45 688 bytes when this was written; the budget is 48 KiB of static RAM).
    check!(event <= 528 && base <= 7 * 1024 + 512, "sizes: event {} B, base engine {} B", event, base);
    check!(size_of::<FwEngine>() <= 45 * 1024 + 512, "sizes: firmware engine {} B", size_of::<FwEngine>());
}
