//! The recency list: a doubly linked list of slots, most recently used at the head.
//!
//! Every entry that may be evicted (cached paths and negative entries, not pinned ones) is on
//! it. A hit moves the entry to the head; eviction takes the tail. Both are O(1), which is what
//! lets the table evict the *least* recently used entry exactly instead of approximating it
//! (CLOCK) or scanning for it.
//!
//! The links live in their own dense array (8 bytes per slot) rather than in the entries: a
//! hit rewrites its neighbours' links, and in a large table those neighbours are random slots;
//! in this array they share cache lines eight to a line and stay in the CPU's caches far
//! better than 96-byte entries would. Free slots reuse `next` as the free list.

/// Links of one slot: slot + 1, 0 for none.
#[derive(Debug, Clone, Copy, Default, zerocopy::FromZeros)]
pub(crate) struct Links {
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

/// The list: its head and tail, and every slot's links.
#[derive(Debug, zerocopy::FromZeros)]
pub(crate) struct Lru<const N: usize> {
    head: u32,
    tail: u32,
    pub(crate) links: [Links; N],
}

impl<const N: usize> Lru<N> {
    pub(crate) const fn new() -> Self {
        Lru { head: 0, tail: 0, links: [Links { prev: 0, next: 0 }; N] }
    }

    /// The least recently used slot.
    pub(crate) fn tail(&self) -> Option<usize> {
        (self.tail != 0).then(|| self.tail as usize - 1)
    }

    /// Whether the list is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.tail == 0
    }

    /// Puts `slot` (not on the list) at the head.
    pub(crate) fn push_front(&mut self, slot: usize) {
        let link = slot as u32 + 1;
        self.links[slot] = Links { prev: 0, next: self.head };
        match self.head {
            0 => self.tail = link,
            h => self.links[h as usize - 1].prev = link,
        }
        self.head = link;
    }

    /// Takes `slot` off the list.
    pub(crate) fn unlink(&mut self, slot: usize) {
        let Links { prev, next } = self.links[slot];
        match prev {
            0 => self.head = next,
            p => self.links[p as usize - 1].next = next,
        }
        match next {
            0 => self.tail = prev,
            n => self.links[n as usize - 1].prev = prev,
        }
        self.links[slot] = Links::default();
    }

    /// Marks `slot` (on the list) as just used.
    pub(crate) fn touch(&mut self, slot: usize) {
        if self.head != slot as u32 + 1 {
            self.unlink(slot);
            self.push_front(slot);
        }
    }

    /// Forgets every entry (links of free slots are rewritten when they are reused).
    pub(crate) fn clear(&mut self) {
        (self.head, self.tail) = (0, 0);
    }
}
