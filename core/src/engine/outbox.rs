//! MADs the engine must send that no state machine can rebuild later: answers to Reports and
//! (in replica mode) answers to other nodes' queries. A small ring; when it is full the MAD
//! is dropped and counted, and the peer's retransmission brings it back.

use crate::wire::{MadAddress, MAD_LEN};

/// One queued MAD.
#[derive(Debug, Clone)]
struct Queued {
    to: MadAddress,
    len: usize,
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
        if self.items.push_back(Queued { to, len: len.min(MAD_LEN), mad: *mad }).is_err() {
            self.dropped += 1;
        }
    }

    /// The next MAD, copied into `buf`.
    pub(crate) fn pop(&mut self, buf: &mut [u8; MAD_LEN]) -> Option<(MadAddress, usize)> {
        let q = self.items.pop_front()?;
        buf.copy_from_slice(&q.mad);
        Some((q.to, q.len))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
