//! RMPP (Reliable Multi-Packet Protocol, IBA 13.6) for SA MADs: reassembly of answers longer
//! than one MAD, segmentation of our own, and the ACK/STOP/ABORT exchange around them.
//!
//! The layer is sans-IO, in the shape of quinn-proto: the caller feeds received MADs with
//! `handle(now, from, mad)`, sends what `poll_transmit(now, buf)` writes, wakes the endpoint
//! at `poll_at()` and collects finished transfers from `poll_event()`. There is no clock, no
//! allocation and no `unsafe`; capacities are const generics and every buffer lives inline.
//!
//! * [`Receiver`]: reassembles up to `SLOTS` transfers of `CAP` bytes each. A completed
//!   transfer's bytes are borrowed from its slot ([`Receiver::received`]) until
//!   [`Receiver::release`], in the format Linux delivers: the first segment's 56 header bytes,
//!   then the concatenated SA data.
//! * [`Sender`]: segments and sends up to `SLOTS` payloads of `CAP` bytes each, copied in at
//!   [`Sender::start`].
//! * [`Endpoint`]: both, with incoming MADs routed to the right side.
//!
//! Compatibility: behaviour follows Linux `drivers/infiniband/core/mad_rmpp.c` on the wire
//! (first window of one segment, ACK per window with NewWindowLast, re-ACK of duplicates,
//! control MADs with the response bit flipped, PayloadLength counting the SA header in each
//! segment). A MAD with RMPPVersion 0 is never RMPP, whatever its flags ([`Outcome::NotRmpp`]):
//! that is how OpenSM's answers look on a fabric whose kernel does no RMPP.
//!
//! # Memory
//!
//! On a 64-bit host a [`Receiver<SLOTS, CAP>`] takes `SLOTS × (CAP + RECV_SLOT_OVERHEAD)
//! + RECEIVER_FIXED_COST` bytes (each slot padded to 8), i.e. `SLOTS × (CAP + 258) + 600`, and
//! a [`Sender<SLOTS, CAP>`] `SLOTS × (CAP + 242) + 600`; an [`Endpoint`] the sum of its two
//! halves. The tests check these figures with `size_of`. For 1000 PathRecords (`CAP` =
//! [`capacity_for(1000, 64)`](capacity_for) = 64 056) four receive slots take 257 880 bytes;
//! a client that only needs one 20-record answer at a time, `Receiver<1, 1336>`, 2 200 bytes.

mod config;
mod control;
mod endpoint;
mod event;
mod key;
mod message;
mod receiver;
mod segment;
mod sender;
mod window;

#[cfg(test)]
mod fault;
#[cfg(test)]
mod tests;

pub use config::{Config, MAX_WINDOW};
pub use control::CONTROL_QUEUE_LEN;
pub use endpoint::Endpoint;
pub use event::{Dropped, Event, Failure, Outcome, Rejection};
pub use key::{RecvId, SendId, TransferKey};
pub use receiver::Receiver;
pub use segment::{capacity_for, data_range, mad_len, payload_length, segment_count, SEGMENT_DATA_LEN};
pub use sender::{SendError, Sender};

/// Bookkeeping bytes per receive slot on top of its `CAP`-byte buffer (the transfer's key and
/// headers, its window and timers): 258 on a 64-bit host. Each slot is padded to the
/// alignment of the target (8 bytes on a 64-bit host).
pub const RECV_SLOT_OVERHEAD: usize = receiver::SLOT_OVERHEAD;
/// Bytes a [`Receiver`] needs besides its slots (configuration, the queue of
/// [`CONTROL_QUEUE_LEN`] control MADs, a cursor): 600 on a 64-bit host.
pub const RECEIVER_FIXED_COST: usize = receiver::FIXED_COST;
/// Bookkeeping bytes per send slot on top of its `CAP`-byte buffer: 242 on a 64-bit host.
pub const SEND_SLOT_OVERHEAD: usize = sender::SLOT_OVERHEAD;
/// Bytes a [`Sender`] needs besides its slots: 600 on a 64-bit host.
pub const SENDER_FIXED_COST: usize = sender::FIXED_COST;
