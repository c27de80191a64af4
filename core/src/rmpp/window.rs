//! Which segments of a receive window have arrived: a contiguous prefix plus a 64-bit map of
//! the segments held beyond the first gap.
//!
//! This is the receiver's reassembly bookkeeping (what smoltcp's `Assembler` does for byte
//! ranges), made simpler by RMPP's fixed-size segments: a segment is either there or not. The
//! receiver never grants more than [`MAX_WINDOW`](super::MAX_WINDOW) = 64 segments past the
//! contiguous prefix, so the map always covers the whole window and costs 12 bytes.

/// Segments received: `1..=contiguous` without a gap, and `held` beyond it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SegmentWindow {
    /// Every segment up to and including this one has arrived.
    contiguous: u32,
    /// Bit `i` set: segment `contiguous + 1 + i` has arrived. Bit 0 is never set (the segment
    /// would extend the prefix).
    held: u64,
}

/// What [`SegmentWindow::insert`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insert {
    /// The segment had arrived before.
    Duplicate,
    /// Stored beyond a gap.
    Held,
    /// Extended the contiguous prefix by this many segments (it and any held after it).
    Advanced(u32),
    /// More than 64 segments past the prefix: the map cannot hold it (the caller's window
    /// check makes this unreachable, but hostile input must not be able to shift by ≥ 64).
    Beyond,
}

impl SegmentWindow {
    /// Nothing received.
    pub(crate) const EMPTY: SegmentWindow = SegmentWindow { contiguous: 0, held: 0 };

    /// The last segment of the gap-free prefix (0: none yet).
    pub(crate) const fn contiguous(&self) -> u32 {
        self.contiguous
    }

    /// The map of held segments (bit `i` = segment `contiguous + 1 + i`), for invariant checks.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) const fn held_bits(&self) -> u64 {
        self.held
    }

    /// Records the arrival of `seg` (1-based).
    pub(crate) fn insert(&mut self, seg: u32) -> Insert {
        if seg <= self.contiguous {
            return Insert::Duplicate;
        }
        let offset = seg - self.contiguous - 1;
        if offset >= u64::BITS {
            return Insert::Beyond;
        }
        let bit = 1u64 << offset;
        if self.held & bit != 0 {
            return Insert::Duplicate;
        }
        self.held |= bit;
        let run = self.held.trailing_ones();
        if run == 0 {
            return Insert::Held;
        }
        self.contiguous = self.contiguous.saturating_add(run);
        self.held = self.held.checked_shr(run).unwrap_or(0);
        Insert::Advanced(run)
    }

    /// Whether `seg` has arrived.
    pub(crate) fn has(&self, seg: u32) -> bool {
        if seg <= self.contiguous {
            return seg != 0;
        }
        let offset = seg - self.contiguous - 1;
        offset < u64::BITS && self.held & (1u64 << offset) != 0
    }

    /// Whether any segment numbered above `seg` has arrived.
    pub(crate) fn has_beyond(&self, seg: u32) -> bool {
        if seg < self.contiguous {
            return true;
        }
        // Segments above `seg` start at bit `seg - contiguous`.
        let first = seg - self.contiguous;
        first < u64::BITS && self.held.checked_shr(first).unwrap_or(0) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order() {
        let mut w = SegmentWindow::EMPTY;
        assert_eq!(w.insert(1), Insert::Advanced(1));
        assert_eq!(w.insert(2), Insert::Advanced(1));
        assert_eq!(w.insert(2), Insert::Duplicate);
        assert_eq!(w.insert(0), Insert::Duplicate);
        assert_eq!(w.contiguous(), 2);
        assert!(w.has(1) && w.has(2) && !w.has(3) && !w.has(0));
    }

    #[test]
    fn gap_then_fill() {
        let mut w = SegmentWindow::EMPTY;
        assert_eq!(w.insert(1), Insert::Advanced(1));
        assert_eq!(w.insert(3), Insert::Held);
        assert_eq!(w.insert(5), Insert::Held);
        assert_eq!(w.insert(3), Insert::Duplicate);
        assert!(w.has(3) && !w.has(4) && w.has(5));
        assert!(w.has_beyond(4) && !w.has_beyond(5));
        assert_eq!(w.insert(2), Insert::Advanced(2));
        assert_eq!(w.contiguous(), 3);
        assert_eq!(w.insert(4), Insert::Advanced(2));
        assert_eq!(w.contiguous(), 5);
        assert_eq!(w.held_bits(), 0);
        assert!(w.has_beyond(1) && !w.has_beyond(5));
    }

    #[test]
    fn whole_map() {
        let mut w = SegmentWindow::EMPTY;
        for seg in 2..=64 {
            assert_eq!(w.insert(seg), Insert::Held, "segment {seg}");
        }
        assert_eq!(w.insert(65), Insert::Beyond);
        assert_eq!(w.held_bits(), u64::MAX << 1);
        assert_eq!(w.insert(1), Insert::Advanced(64));
        assert_eq!(w.contiguous(), 64);
        assert_eq!(w.held_bits(), 0);
        assert_eq!(w.insert(u32::MAX), Insert::Beyond);
        assert!(!w.has(u32::MAX) && !w.has_beyond(u32::MAX));
    }
}
