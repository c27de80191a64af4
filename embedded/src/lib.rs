//! What both firmware images share: the engine as a small firmware sizes it, its settings, and
//! the stack high-water measurement.
//!
//! * `selftest` (`cargo run`): decodes the captured vectors, fills the table, drives the engine
//!   against a scripted SA in the same image, feeds malformed MADs; exits with the result.
//! * `footprint`: only what a product firmware links (the engine and its main loop against
//!   stand-ins for the hardware), measured against the footprint budget by `scripts/test`.
#![no_std]

pub mod stack;

use localsa_core::engine::{Config, Engine, LocalPort, Mode};
use localsa_core::rmpp;
use localsa_core::time::Duration;
use localsa_core::wire::{Gid, DATA_OFFSET};

/// Table entries: 256 paths (124 bytes each).
pub const TABLE: usize = 256;
/// SA queries pending at once (distinct questions in flight or queued).
pub const PENDING: usize = 4;
/// Resolves waiting for those queries (callers sharing one query each take one).
pub const WAITERS: usize = 16;
/// RMPP receives at once: one, for the bulk fetch or one large GetTable answer.
pub const RX_SLOTS: usize = 1;
/// Bytes of one RMPP receive: 64 PathRecords after the 56 header bytes (4 152 bytes).
pub const RX_CAP: usize = rmpp::capacity_for(64, 64);
/// RMPP sends at once: a client never sends RMPP, but the endpoint needs one slot ...
pub const TX_SLOTS: usize = 1;
/// ... of at least the 56 header bytes.
pub const TX_CAP: usize = DATA_OFFSET;

/// The engine as this firmware sizes it (docs/embedding.md explains each capacity).
pub type FwEngine = Engine<TABLE, PENDING, WAITERS, RX_SLOTS, RX_CAP, TX_SLOTS, TX_CAP>;

/// Subnet prefix of the example fabric.
pub const PREFIX: u64 = 0xfe80_0000_0000_0000;
/// The SM's (and SA's) LID.
pub const SA_LID: u16 = 1;
/// This port's LID.
pub const ME: u16 = 5;

/// The GID of the port with `lid` in the example fabric: prefix + 0x100000 + LID.
pub const fn gid(lid: u16) -> Gid {
    Gid::new(PREFIX, 0x0010_0000 + lid as u64)
}

/// The firmware's engine settings: the defaults (SA at the SM LID, timeouts from the SA's
/// ClassPortInfo, 3 retries, trap subscriptions, 30 s heartbeat), two queries in flight at
/// most, and "all" mode: every path from the port fetched at start and hourly (one GetTable,
/// answered over RMPP into the one 64-record receive slot).
pub fn config() -> Config {
    Config { sa_depth: 2, mode: Mode::Bulk { refresh: Duration::from_secs(3600) }, ..Config::DEFAULT }
}

/// This port: LID [`ME`], the SM at [`SA_LID`], the default partition.
pub fn port() -> LocalPort {
    LocalPort::infiniband(ME, gid(ME), SA_LID)
}
