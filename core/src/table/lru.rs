//! The recency list: a doubly linked list through the entries, most recently used at the head.
//!
//! Every entry that may be evicted (cached paths and negative entries, not pinned ones) is on
//! it. A hit moves the entry to the head; eviction takes the tail. Both are O(1) with the
//! `u32` links inside the entries, which is what lets the table evict the *least* recently
//! used entry exactly instead of approximating it (CLOCK) or scanning for it.

use super::entry::Entry;

/// Head and tail of the list (slot + 1, 0 for none).
#[derive(Debug, Clone, Copy, Default, zerocopy::FromZeros)]
pub(crate) struct Lru {
    head: u32,
    tail: u32,
}

impl Lru {
    pub(crate) const fn new() -> Self {
        Lru { head: 0, tail: 0 }
    }

    /// The least recently used entry.
    pub(crate) fn tail(&self) -> Option<usize> {
        (self.tail != 0).then(|| self.tail as usize - 1)
    }

    /// Puts `slot` (not on the list) at the head.
    pub(crate) fn push_front(&mut self, entries: &mut [Entry], slot: usize) {
        let link = slot as u32 + 1;
        entries[slot].lru_prev = 0;
        entries[slot].lru_next = self.head;
        match self.head {
            0 => self.tail = link,
            h => entries[h as usize - 1].lru_prev = link,
        }
        self.head = link;
    }

    /// Takes `slot` off the list.
    pub(crate) fn unlink(&mut self, entries: &mut [Entry], slot: usize) {
        let (prev, next) = (entries[slot].lru_prev, entries[slot].lru_next);
        match prev {
            0 => self.head = next,
            p => entries[p as usize - 1].lru_next = next,
        }
        match next {
            0 => self.tail = prev,
            n => entries[n as usize - 1].lru_prev = prev,
        }
        entries[slot].lru_prev = 0;
        entries[slot].lru_next = 0;
    }

    /// Marks `slot` (on the list) as just used.
    pub(crate) fn touch(&mut self, entries: &mut [Entry], slot: usize) {
        if self.head != slot as u32 + 1 {
            self.unlink(entries, slot);
            self.push_front(entries, slot);
        }
    }

    /// Forgets every entry.
    pub(crate) fn clear(&mut self) {
        *self = Lru::new();
    }
}
