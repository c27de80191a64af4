//! The sources the table's entries come from, so that invalidating a GID or LID that is no
//! entry's *source* costs no scan.
//!
//! Entries are indexed by destination only. A host resolves paths from a handful of local
//! ports, so the set of distinct source GIDs (and LIDs) is tiny; this module keeps it exactly,
//! with a reference count per source, for up to `K` sources. Past `K` it gives up and answers
//! "maybe" for everything until the next full scan rebuilds it. A trap naming a remote GID
//! therefore touches one hash chain, and only a local port's GID change (or a table with many
//! sources) scans.

use zerocopy::FromZeros;

/// Distinct sources tracked before falling back to "maybe".
pub(crate) const K: usize = 8;

/// An exact multiset of up to [`K`] distinct keys. All zero is the empty set.
#[derive(Debug, Clone, Copy, FromZeros)]
pub(crate) struct SourceSet<T> {
    keys: [T; K],
    /// References per key; 0 marks a free slot.
    counts: [u32; K],
    /// A key did not fit: membership is unknown until the next rebuild.
    overflow: bool,
}

impl<T: Copy + PartialEq> SourceSet<T> {
    pub(crate) const fn new(zero: T) -> Self {
        SourceSet { keys: [zero; K], counts: [0; K], overflow: false }
    }

    /// Counts one more entry with source `key`.
    pub(crate) fn add(&mut self, key: T) {
        let mut free = None;
        for i in 0..K {
            if self.counts[i] != 0 && self.keys[i] == key {
                self.counts[i] += 1;
                return;
            }
            if self.counts[i] == 0 && free.is_none() {
                free = Some(i);
            }
        }
        match free {
            Some(i) => (self.keys[i], self.counts[i]) = (key, 1),
            None => self.overflow = true,
        }
    }

    /// Counts one entry fewer with source `key` (a key that overflowed is not there: fine).
    pub(crate) fn remove(&mut self, key: T) {
        for i in 0..K {
            if self.counts[i] != 0 && self.keys[i] == key {
                self.counts[i] -= 1;
                return;
            }
        }
    }

    /// Whether some entry may have source `key`; `false` is certain.
    pub(crate) fn may_contain(&self, key: T) -> bool {
        self.overflow || (0..K).any(|i| self.counts[i] != 0 && self.keys[i] == key)
    }

    /// Forgets everything (before a rebuild or after a flush).
    pub(crate) fn clear(&mut self) {
        self.counts = [0; K];
        self.overflow = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_until_overflow() {
        let mut s = SourceSet::new(0u16);
        s.add(5);
        s.add(5);
        s.remove(5);
        assert!(s.may_contain(5));
        s.remove(5);
        assert!(!s.may_contain(5));
        for k in 0..K as u16 {
            s.add(k);
        }
        assert!(!s.may_contain(100));
        s.add(100);
        assert!(s.may_contain(1234), "overflowed: anything may be there");
        s.clear();
        assert!(!s.may_contain(0));
    }
}
