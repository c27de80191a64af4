//! The SA queries in flight or waiting for their turn, one slot per distinct query, found by
//! their [`QueryKey`] through a small open-addressing index.
//!
//! A slot is `Queued` until the flow control lets it out, `Outstanding` while the SA has it,
//! `Backoff` after a BUSY, and `Done` once answered, until every waiter has been told.

use crate::table::Query;
use crate::time::Instant;
use crate::wire::{Method, Mtu, PacketLifetime, PathRecordMask, PathRecordRepr, Rate, Selector};

/// The template of a free slot: zero values and every enum at tag 0.
const FREE_TEMPLATE: PathRecordRepr = PathRecordRepr {
    mtu_selector: Selector::GreaterThan,
    mtu: Mtu::Mtu256,
    rate_selector: Selector::GreaterThan,
    rate: Rate::Gbps2_5,
    packet_lifetime_selector: Selector::GreaterThan,
    packet_lifetime: PacketLifetime(0),
    ..Query::EMPTY_TEMPLATE
};

use super::event::{Answer, ResolveError};
use super::key::QueryKey;

/// Why a slot exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Purpose {
    /// Clients wait for the answer.
    Resolve,
    /// Refresh a stale cached path; nobody waits.
    Refresh,
    /// Every path from the local port (GetTable, SGID = local).
    Bulk,
}

/// Where a slot is in its life.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
// no allocator: an answer moves by value, once
// Tag 0 is `Free`, so a pool of free slots is all zero bytes (see `Engine::EMPTY`).
#[repr(u8)]
pub(crate) enum State {
    /// Not in use.
    Free,
    /// Waiting for a turn under `sa_depth`; `seq` orders the queue.
    Queued { seq: u32 },
    /// To be sent (first time or again) by the next `poll_transmit`.
    Ready,
    /// Sent as `tid`; give up on this attempt at `deadline`.
    Outstanding { tid: u32, deadline: Instant },
    /// The answer to `tid` is arriving over RMPP: the transfer's own timers govern it now,
    /// and a failed transfer sends the query back to `Ready`.
    Receiving { tid: u32 },
    /// The SA said BUSY; send again at `until`.
    Backoff { until: Instant },
    /// Answered; waiters are being told. `remaining` waiters are left.
    Done { result: Result<Answer, ResolveError> },
}

/// One distinct SA query.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub state: State,
    pub purpose: Purpose,
    pub query: Query,
    pub key: QueryKey,
    pub method: Method,
    /// Sends so far (first + retries).
    pub attempts: u8,
    /// BUSY answers in a row.
    pub busy: u8,
    /// The TID of the attempt before the current one: a late answer to it is still taken.
    pub previous_tid: Option<u32>,
    /// Head and tail of the waiter list (waiter index + 1; 0 is none).
    pub waiters_head: u32,
    pub waiters_tail: u32,
    /// When the first attempt went out (for statistics and the total bound).
    pub started: Instant,
    /// The answer was one MAD without RMPP to a query that can match more records than one
    /// MAD holds: it may have been cut. A replica passes such an answer on as it came.
    pub cut: bool,
}

impl Slot {
    /// A free slot: all zero bytes (every enum at its tag 0).
    pub(crate) const FREE: Slot = Slot {
        state: State::Free,
        purpose: Purpose::Resolve,
        query: Query::new(FREE_TEMPLATE, PathRecordMask::empty()),
        key: QueryKey::ZERO,
        method: Method::Get,
        attempts: 0,
        busy: 0,
        previous_tid: None,
        waiters_head: 0,
        waiters_tail: 0,
        started: Instant::ZERO,
        cut: false,
    };

    pub(crate) fn is_free(&self) -> bool {
        matches!(self.state, State::Free)
    }

    pub(crate) fn tid(&self) -> Option<u32> {
        match self.state {
            State::Outstanding { tid, .. } | State::Receiving { tid } => Some(tid),
            _ => None,
        }
    }
}

/// `P` slots and an index from query key to slot.
#[derive(Debug)]
pub(crate) struct Pool<const P: usize> {
    slots: [Slot; P],
    /// Open addressing, linear probing: slot index + 1, 0 empty, `TOMB` deleted.
    index: [u32; P],
    pub outstanding: usize,
    pub queued: usize,
    /// Slots not free. Scans stop once they have seen this many: the daemon's pool has 4096
    /// slots of ~700 bytes, and walking all of them on every loop iteration, when none or a
    /// few are in use, cost more than serving a cache hit.
    in_use: usize,
    next_seq: u32,
}

const TOMB: u32 = u32::MAX;

impl<const P: usize> Pool<P> {
    pub(crate) const fn new() -> Self {
        Pool { slots: [Slot::FREE; P], index: [0; P], outstanding: 0, queued: 0, in_use: 0, next_seq: 0 }
    }

    /// Slot `i` if it is in use.
    pub(crate) fn get(&self, i: usize) -> Option<&Slot> {
        self.slots.get(i).filter(|s| !s.is_free())
    }

    /// Slot `i` if it is in use.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Slot> {
        self.slots.get_mut(i).filter(|s| !s.is_free())
    }

    /// Indices of slots in use.
    pub(crate) fn used(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| !s.is_free()).map(|(i, _)| i).take(self.in_use)
    }

    /// The slot asking `key`, if any (and not finished).
    pub(crate) fn find(&self, key: &QueryKey) -> Option<usize> {
        if P == 0 {
            return None;
        }
        let mut at = key.hash() as usize % P;
        for _ in 0..P {
            match self.index[at] {
                0 => return None,
                TOMB => {}
                v => {
                    let s = (v - 1) as usize;
                    if let Some(slot) = self.get(s) {
                        if slot.key == *key && !matches!(slot.state, State::Done { .. } | State::Free) {
                            return Some(s);
                        }
                    }
                }
            }
            at = (at + 1) % P;
        }
        None
    }

    /// Takes a free slot for `query`, queued behind every other queued slot. `None` if full.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        query: Query,
        key: QueryKey,
        method: Method,
        purpose: Purpose,
    ) -> Option<usize> {
        let free = self.slots.iter().position(Slot::is_free)?;
        let mut at = key.hash() as usize % P;
        let mut placed = false;
        for _ in 0..P {
            if self.index[at] == 0 || self.index[at] == TOMB {
                self.index[at] = free as u32 + 1;
                placed = true;
                break;
            }
            at = (at + 1) % P;
        }
        if !placed {
            // Every index cell points at a used slot: impossible with at most P used slots
            // and tombstones reclaimed, but never index out of the pool.
            return None;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.slots[free] = Slot {
            state: State::Queued { seq },
            purpose,
            query,
            key,
            method,
            attempts: 0,
            busy: 0,
            previous_tid: None,
            waiters_head: 0,
            waiters_tail: 0,
            started: now,
            cut: false,
        };
        self.queued += 1;
        self.in_use += 1;
        Some(free)
    }

    /// Moves slot `i` to `state`, keeping the outstanding and queued counts.
    pub(crate) fn set_state(&mut self, i: usize, state: State) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        match slot.state {
            State::Outstanding { .. } | State::Receiving { .. } | State::Ready | State::Backoff { .. } => {
                self.outstanding -= 1
            }
            State::Queued { .. } => self.queued -= 1,
            _ => {}
        }
        match state {
            State::Outstanding { .. } | State::Receiving { .. } | State::Ready | State::Backoff { .. } => {
                self.outstanding += 1
            }
            State::Queued { .. } => self.queued += 1,
            _ => {}
        }
        slot.state = state;
    }

    /// Frees slot `i` and its index cell.
    pub(crate) fn remove(&mut self, i: usize) {
        let Some(key) = self.get(i).map(|s| s.key) else { return };
        self.set_state(i, State::Free);
        let mut at = key.hash() as usize % P;
        for _ in 0..P {
            if self.index[at] == i as u32 + 1 {
                self.index[at] = TOMB;
                break;
            }
            if self.index[at] == 0 {
                break;
            }
            at = (at + 1) % P;
        }
        self.slots[i] = Slot::FREE;
        self.in_use = self.in_use.saturating_sub(1);
        // Tombstones never shrink otherwise: rebuild when the pool drains.
        if self.in_use == 0 {
            self.index = [0; P];
        }
    }

    /// The queued slot that has waited longest.
    pub(crate) fn oldest_queued(&self) -> Option<usize> {
        if self.queued == 0 {
            return None;
        }
        let mut best: Option<(u32, usize)> = None;
        let base = self.next_seq;
        for (i, s) in self.slots.iter().enumerate() {
            if let Slot { state: State::Queued { seq }, .. } = s {
                // Age in sequence numbers, robust to wrap-around.
                let age = base.wrapping_sub(*seq);
                if best.is_none_or(|(a, _)| age > a) {
                    best = Some((age, i));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    /// The slot whose current or previous attempt had TID `tid` (low 32 bits).
    pub(crate) fn by_tid(&self, tid: u32) -> Option<usize> {
        if self.in_use == 0 {
            return None;
        }
        self.slots
            .iter()
            .position(|s| s.tid() == Some(tid) || (s.previous_tid == Some(tid) && s.tid().is_some()))
    }
}
