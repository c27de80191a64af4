//! `localsa-core`: the InfiniBand Subnet Administration path-resolution engine, without an OS.
//!
//! The crate is `#![no_std]` and never allocates. It is split by layer:
//!
//! * [`wire`]: views and representations of MADs, the RMPP header, the SA header and the SA
//!   attributes. Parsing is total: any byte slice yields a value or a typed [`wire::Error`].
//! * [`rmpp`]: RMPP reassembly and segmentation of SA MADs larger than one MAD (GetTable
//!   answers of hundreds of PathRecords), sans-IO: `handle(now, from, mad)`,
//!   `poll_transmit(now, buf)`, `poll_at()`, `poll_event()`. Fixed slots (const generics) with
//!   their buffers inline; windows, ACKs, retransmission, STOP and ABORT as Linux's
//!   `mad_rmpp.c` does them on the wire. A MAD with RMPPVersion 0 is a plain MAD.
//! * [`time`]: the caller's clock, as plain microsecond counts. Nothing in the core reads a clock.
//! * [`table`]: the PathRecord cache. A fixed-capacity table (`Table<N>`, 124 bytes per entry,
//!   const-constructible, so it can live in a `static`) that answers PathRecord queries — a
//!   template and component mask, as a client sends them to the SA — with the records OpenSM
//!   would return, from records it returned before. Hash-indexed by destination GID and LID,
//!   LRU eviction, per-entry expiry, negative and pinned entries, invalidation by GID, LID or
//!   subnet prefix, and generations for lazy revalidation after a subnet manager change.
//!
//! `rmpp` and `table` build on `wire` only; the engine is the one place that combines them.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

#[macro_use]
mod macros;
mod maybe;

#[cfg(feature = "defmt")]
mod defmt_check;
pub mod engine;
pub mod rmpp;
pub mod table;
pub mod time;
pub mod wire;
