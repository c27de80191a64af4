//! MADs the engine must send that no state machine can rebuild later: answers to Reports and
//! (in replica mode) answers to other nodes' queries and Reports relayed to subscribers. A
//! small ring; when it is full the MAD is dropped and counted, and the peer's retransmission
//! brings it back (a relayed Report has none: the leaf's heartbeat covers it).
//!
//! A relayed Report goes to every subscriber of its trap, and there may be more of them than
//! the ring has slots. So it is queued once, as a *fan-out*: one slot holding the MAD and a
//! cursor over the engine's subscriber list, that gives one copy per [`Outbox::pop`] until
//! the list is done. A relay then costs one slot whatever the number of subscribers, and a
//! second Report that comes while the first is still going out queues behind it like any
//! other MAD, so no memory is set aside for relays in engines that never serve. The bound is
//! the ring: a Report that finds no room for its ReportResp and its relay is not acknowledged
//! (and counted as a drop), so the SA sends it again rather than the leaves missing it.

use crate::wire::{MadAddress, MAD_LEN};

/// Where a fan-out is in the subscriber list: the next index to look at, and the key (a
/// trap number) that subscribers must have to get a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FanOut {
    pub key: u16,
    pub next: u16,
}

/// One queued MAD.
#[derive(Debug, Clone)]
struct Queued {
    to: MadAddress,
    /// At most `MAD_LEN` (a `u16`, so that a fan-out's cursor fits where a `usize` would be).
    len: u16,
    fan_out: Option<FanOut>,
    mad: [u8; MAD_LEN],
}

/// A ring of `K` MADs.
#[derive(Debug)]
pub(crate) struct Outbox<const K: usize> {
    items: heapless::Deque<Queued, K>,
    pub dropped: u64,
}

impl<const K: usize> Outbox<K> {
    pub(crate) const fn new() -> Self {
        Outbox { items: heapless::Deque::new(), dropped: 0 }
    }

    /// Queues `mad[..len]` for `to`; counts a drop when full.
    pub(crate) fn push(&mut self, to: MadAddress, mad: &[u8; MAD_LEN], len: usize) {
        self.enqueue(Queued { to, len: len.min(MAD_LEN) as u16, fan_out: None, mad: *mad });
    }

    /// Queues `mad[..len]` for every subscriber with `key` from index `first` on (see the
    /// [module docs](self)); counts a drop when full.
    pub(crate) fn push_fan_out(&mut self, key: u16, first: usize, mad: &[u8; MAD_LEN], len: usize) {
        let fan_out = Some(FanOut { key, next: first.min(u16::MAX as usize) as u16 });
        let to = MadAddress::gsi(0, 0);
        self.enqueue(Queued { to, len: len.min(MAD_LEN) as u16, fan_out, mad: *mad });
    }

    fn enqueue(&mut self, q: Queued) {
        if self.items.push_back(q).is_err() {
            self.dropped += 1;
        }
    }

    /// The next MAD, copied into `buf`, with its address and whether it is a fan-out copy.
    ///
    /// For a fan-out at the front, `target(key, from)` names the next subscriber at index
    /// `from` or later that has `key`, as (index, address); the fan-out leaves the ring when
    /// there is none.
    pub(crate) fn pop(
        &mut self,
        buf: &mut [u8; MAD_LEN],
        mut target: impl FnMut(u16, usize) -> Option<(usize, MadAddress)>,
    ) -> Option<(MadAddress, usize, bool)> {
        loop {
            let front = self.items.front_mut()?;
            let Some(f) = front.fan_out else {
                let q = self.items.pop_front()?;
                buf.copy_from_slice(&q.mad);
                return Some((q.to, q.len as usize, false));
            };
            let Some((i, to)) = target(f.key, f.next as usize) else {
                self.items.pop_front();
                continue;
            };
            front.fan_out = Some(FanOut { next: (i + 1).min(u16::MAX as usize) as u16, ..f });
            buf.copy_from_slice(&front.mad);
            return Some((to, front.len as usize, true));
        }
    }

    /// Subscriber `i` left the list and the ones after it moved down by one: fan-outs past it
    /// follow, so that none is skipped.
    pub(crate) fn subscriber_removed(&mut self, i: usize) {
        for q in self.items.iter_mut() {
            if let Some(f) = &mut q.fan_out {
                if f.next as usize > i {
                    f.next -= 1;
                }
            }
        }
    }

    /// Slots free.
    pub(crate) fn free(&self) -> usize {
        K - self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
