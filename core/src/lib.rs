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
//!
//! Higher layers (the PathRecord table and the engine) build on `wire` and `rmpp`.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

#[macro_use]
mod macros;

pub mod rmpp;
pub mod time;
pub mod wire;
