//! What an RMPP endpoint tells its caller: the fate of each received MAD ([`Outcome`]), and
//! the end of each transfer ([`Event`], with a [`Failure`] when it did not complete).

use core::fmt;

use crate::wire::{Error, RmppStatus};

use super::key::{RecvId, SendId, TransferKey};

/// Why a transfer ended without completing.
///
/// Each variant says who ended it and what went on the wire, so a log line is enough to
/// match it with a packet capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Failure {
    /// The peer's MADs broke an RMPP rule; we sent ABORT with this status.
    Aborted(RmppStatus),
    /// The peer sent ABORT with this status.
    PeerAborted(RmppStatus),
    /// The receiver sent STOP with this status (our send).
    PeerStopped(RmppStatus),
    /// The transfer does not fit the slot buffer; we sent STOP ResourcesExhausted.
    TooLarge {
        /// Bytes the reassembled MAD needs (header included); a lower bound when the sender
        /// did not give the total.
        needed: usize,
        /// Bytes the slot holds.
        capacity: usize,
    },
    /// The First segment's PayloadLength promised more data than the segments carried (a
    /// Last segment came early or short). We sent ABORT InconsistentLastAndPayloadLength and
    /// deliver nothing: a short table must never pass for a whole one.
    Truncated {
        /// SA data bytes the First segment promised.
        promised: usize,
        /// SA data bytes the segments up to the Last one carry.
        carried: usize,
    },
    /// No progress within the time limits; we sent ABORT TotalTimeTooLong.
    TimedOut,
    /// No ACK after the configured retries (our send); we sent ABORT TooManyRetries.
    TooManyRetries,
}

impl Failure {
    /// The RMPPStatus that went on the wire with the STOP or ABORT that ended the transfer.
    pub const fn status(&self) -> RmppStatus {
        match *self {
            Failure::Aborted(s) | Failure::PeerAborted(s) | Failure::PeerStopped(s) => s,
            Failure::TooLarge { .. } => RmppStatus::ResourcesExhausted,
            Failure::Truncated { .. } => RmppStatus::InconsistentLastAndPayloadLength,
            Failure::TimedOut => RmppStatus::TotalTimeTooLong,
            Failure::TooManyRetries => RmppStatus::TooManyRetries,
        }
    }

    /// Whether the peer ended the transfer (rather than us).
    pub const fn by_peer(&self) -> bool {
        matches!(self, Failure::PeerAborted(_) | Failure::PeerStopped(_))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Failure::Aborted(s) => write!(f, "aborted by us: {s}"),
            Failure::PeerAborted(s) => write!(f, "aborted by peer: {s}"),
            Failure::PeerStopped(s) => write!(f, "stopped by receiver: {s}"),
            Failure::TooLarge { needed, capacity } => {
                write!(f, "transfer needs {needed} bytes, slot holds {capacity}")
            }
            Failure::Truncated { promised, carried } => {
                write!(f, "truncated: PayloadLength promised {promised} bytes, segments carried {carried}")
            }
            Failure::TimedOut => f.write_str("timed out"),
            Failure::TooManyRetries => f.write_str("too many retries"),
        }
    }
}

/// The end of a transfer, reported once by `poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// A transfer was reassembled. Its bytes (the First segment's 56 header bytes, then the
    /// SA data: what Linux delivers) stay in the slot until `release(id)`.
    Received {
        /// Handle for `received()` and `release()`.
        id: RecvId,
        /// Who sent it, and its TID.
        key: TransferKey,
        /// Length of the reassembled MAD, header included.
        len: usize,
    },
    /// A receive ended without completing; its slot is free again.
    ReceiveFailed {
        /// Who sent it, and its TID.
        key: TransferKey,
        /// Why.
        failure: Failure,
    },
    /// Our send was acknowledged to its last segment.
    Sent {
        /// The handle `start()` returned.
        id: SendId,
        /// The transfer.
        key: TransferKey,
    },
    /// Our send ended without completing.
    SendFailed {
        /// The handle `start()` returned.
        id: SendId,
        /// The transfer.
        key: TransferKey,
        /// Why.
        failure: Failure,
    },
}

/// Why a received MAD was dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Dropped {
    /// A DATA segment beyond the window we granted (Linux drops these too).
    OutOfWindow,
    /// No transfer of ours matches it (a later segment without a First one, an ACK for a send
    /// we do not have, a STOP or ABORT for nothing).
    Unmatched,
    /// It belongs to a transfer but says nothing new (an old ACK, a segment we hold already).
    Stale,
}

/// Why a received MAD was refused with a STOP or ABORT before any transfer began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Rejection {
    /// The First segment's total does not fit a slot; STOP ResourcesExhausted.
    TooLarge {
        /// Bytes the reassembled MAD needs.
        needed: usize,
        /// Bytes a slot holds.
        capacity: usize,
    },
    /// Every slot is busy; STOP ResourcesExhausted.
    NoFreeSlot,
    /// The MAD broke a rule on its own; ABORT with this status.
    Illegal(RmppStatus),
}

/// What became of one received MAD (`handle`'s answer). Transfers end through events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// Not an RMPP MAD (RMPPVersion 0 or the Active flag clear, whatever else the flags say):
    /// the caller handles it as a plain MAD.
    NotRmpp,
    /// Not an SA MAD this layer can read (too short, another class, another base version...).
    Malformed(Error),
    /// New data stored, or an ACK that moved our send forward.
    Accepted,
    /// It completed a transfer; the event is waiting in `poll_event`.
    Completed,
    /// A segment we had already acknowledged; the ACK is repeated.
    Duplicate,
    /// Dropped without an answer.
    Dropped(Dropped),
    /// Refused before any transfer began; a STOP or ABORT is queued.
    Rejected(Rejection),
    /// It ended one of our transfers (the peer's STOP or ABORT, or a rule it broke); the
    /// event is waiting in `poll_event`.
    Ended(Failure),
}
