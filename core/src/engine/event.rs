//! What the engine tells its caller: answers to resolves, and changes to what it knows.

use core::fmt;

use heapless::Vec;

use crate::rmpp::Failure;
use crate::wire::path_record::Record;
use crate::wire::{Gid, SaError, TrapNumber};

/// The most paths one answer carries (an ACM resolve answer holds up to 8 entries).
pub const MAX_PATHS: usize = 8;

/// The caller's name for a resolve, handed back with its answer.
pub type Token = u64;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Source {
    /// The table, without asking the SA.
    Cache,
    /// The SA, just now.
    Sa,
}

/// Paths that answer a resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Answer {
    /// The paths, best first (at most the query's NumbPath, at least one).
    pub records: Vec<Record, MAX_PATHS>,
    /// Where they came from.
    pub source: Source,
}

/// Why a resolve failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResolveError {
    /// The SA answered with an error; `NoRecords` means there is no such path.
    Sa(SaError),
    /// No answer from the SA after every retry.
    Timeout,
    /// Too many resolves in flight: the pending or waiter capacity is used up. Retry later.
    Overloaded,
    /// Cache-only resolve and the table has no answer.
    NotCached,
    /// The query cannot be sent (e.g. an SGID that is not the local port's in a form the
    /// SA would refuse, or a field out of range).
    Invalid,
    /// A multi-MAD answer failed in RMPP.
    Transfer(Failure),
    /// The engine is shutting down or the caller cancelled.
    Cancelled,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Sa(e) => write!(f, "SA: {e}"),
            ResolveError::Timeout => f.write_str("SA did not answer"),
            ResolveError::Overloaded => f.write_str("too many resolves in flight"),
            ResolveError::NotCached => f.write_str("not in the cache"),
            ResolveError::Invalid => f.write_str("invalid query"),
            ResolveError::Transfer(e) => write!(f, "RMPP transfer failed: {e}"),
            ResolveError::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl core::error::Error for ResolveError {}

/// The immediate result of [`Engine::resolve`](super::Engine::resolve).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::large_enum_variant)] // no allocator: an answer moves by value, once
pub enum Resolve {
    /// Answered from the table.
    Answered(Answer),
    /// Waiting for the SA; the answer comes as [`Event::Resolved`] with the token.
    Pending,
    /// Failed at once (negative entry, overload, cache-only miss, invalid query).
    Failed(ResolveError),
}

/// What was invalidated, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Invalidation {
    /// A trap about a GID (64: in service, 65: out of service).
    Gid {
        /// The trap.
        trap: TrapNumber,
        /// The port.
        gid: Gid,
    },
    /// A trap about a LID (144, 145).
    Lid {
        /// The trap.
        trap: TrapNumber,
        /// The port.
        lid: u16,
    },
    /// The subnet manager changed; cached paths are stale (revalidate) or gone (flush).
    SmChanged {
        /// The new SA LID.
        sa_lid: u16,
    },
}

/// Something the caller should know, from [`Engine::poll_event`](super::Engine::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::large_enum_variant)] // no allocator: an answer moves by value, once
pub enum Event {
    /// A pending resolve finished.
    Resolved {
        /// The caller's token.
        token: Token,
        /// The paths, or why not.
        result: Result<Answer, ResolveError>,
    },
    /// Cached entries were dropped or marked stale.
    Invalidated {
        /// What and why.
        what: Invalidation,
        /// Entries affected.
        entries: usize,
    },
    /// A subscription to a trap was accepted or refused by the SA.
    Subscribed {
        /// The trap.
        trap: TrapNumber,
        /// Whether the SA accepted.
        accepted: bool,
    },
    /// The SA stopped answering (heartbeat or queries timed out) or answers again.
    SaReachable(bool),
    /// A bulk fetch of every path from the local port finished.
    BulkFetched {
        /// Paths stored.
        records: usize,
        /// The answer was complete (false: possibly cut, misses resolve per destination).
        complete: bool,
    },
}

/// The events that wait in the engine's queue: everything but resolve answers, which are kept
/// with their pending query and handed out from there. Small (no answer inside), so the queue
/// costs little RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Notice {
    Invalidated { what: Invalidation, entries: usize },
    Subscribed { trap: TrapNumber, accepted: bool },
    SaReachable(bool),
    BulkFetched { records: usize, complete: bool },
}

impl From<Notice> for Event {
    fn from(n: Notice) -> Event {
        match n {
            Notice::Invalidated { what, entries } => Event::Invalidated { what, entries },
            Notice::Subscribed { trap, accepted } => Event::Subscribed { trap, accepted },
            Notice::SaReachable(b) => Event::SaReachable(b),
            Notice::BulkFetched { records, complete } => Event::BulkFetched { records, complete },
        }
    }
}
