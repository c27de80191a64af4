//! The hash indexes: destination GID → entries and destination LID → entries.
//!
//! Separate chaining, `N` buckets per index, one `u32` head per bucket. The chain links live in
//! a dense array of 12-byte [`Node`]s beside the entries, with a 16-bit key per chain: 16 bits
//! of the DGID's hash for the GID chain, the DLID itself for the LID chain. A walk reads only
//! nodes and touches an entry only when its key matches, so other destinations that share the
//! bucket cost no access to their (much larger) entries: a miss usually reads no entry at all,
//! and a hit reads just its own. Memory: 8 bytes of bucket heads and 12 of node per entry.
//!
//! Chains hold every entry with the same destination (all sources, P_Keys, SLs, service IDs);
//! the source is filtered by the caller, which keeps "same DGID from any SGID or SLID" in one
//! place and lets a trap that names a DGID find its entries without a scan.
//!
//! Hashes are hand-written and unkeyed: GIDs and LIDs come from the subnet manager, not from
//! an adversary on the wire, and a chain never holds more than the table's `N` entries.
//! Buckets are picked with the multiply-shift range reduction (`hash × N >> 32`, the hash's
//! upper bits), which needs no division and no power-of-two `N`; the GID tag is the hash's low
//! 16 bits, independent of the bucket.

use super::query::Dest;
use crate::wire::Gid;

/// Index of the DGID chain.
pub(crate) const GID: usize = 0;
/// Index of the DLID chain.
pub(crate) const LID: usize = 1;

/// A slot's links in both chains and its key in each (slot + 1 links, 0 for none).
#[derive(Debug, Clone, Copy, Default, zerocopy::FromZeros)]
pub(crate) struct Node {
    next: [u32; 2],
    /// Per chain: the DGID tag, the DLID.
    key: [u16; 2],
}

/// Both hash indexes.
#[derive(Debug, zerocopy::FromZeros)]
pub(crate) struct Index<const N: usize> {
    heads: [[u32; N]; 2],
    nodes: [Node; N],
}

/// A walk along one chain, yielding the slots whose key matches (see [`Index::next`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor {
    chain: usize,
    key: u16,
    next: u32,
}

/// Hash of a GID: the prefix folded into the GUID (rotated, so prefix and GUID bits do not
/// cancel), the upper half folded into the lower, then one multiplication by 2⁶⁴/φ (Fibonacci
/// hashing). The result is the product's upper 32 bits, which depend on every input bit:
/// GUIDs that differ only in their low bits (one vendor's consecutive ports) spread over all
/// buckets. One multiply keeps the lookup's critical path short.
#[inline]
pub(crate) fn hash_gid(g: &Gid) -> u32 {
    let b = &g.0;
    let prefix = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let guid = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    let x = guid ^ prefix.rotate_left(29);
    ((x ^ (x >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// Hash of a LID: Fibonacci hashing; consecutive LIDs land far apart in the upper bits.
#[inline]
pub(crate) const fn hash_lid(lid: u16) -> u32 {
    (lid as u32 ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b1)
}

impl<const N: usize> Index<N> {
    pub(crate) const fn new() -> Self {
        Index { heads: [[0; N]; 2], nodes: [Node { next: [0; 2], key: [0; 2] }; N] }
    }

    /// The bucket of a hash: `hash × N / 2³²`, always `< N`.
    #[inline]
    pub(crate) const fn bucket(hash: u32) -> usize {
        ((hash as u64 * N as u64) >> 32) as usize
    }

    /// Chain, bucket and key of a destination.
    #[inline]
    fn locate(dest: &Dest) -> (usize, usize, u16) {
        match dest {
            Dest::Gid(g) => {
                let h = hash_gid(g);
                (GID, Self::bucket(h), h as u16)
            }
            Dest::Lid(l) => (LID, Self::bucket(hash_lid(*l)), *l),
        }
    }

    /// A walk over the slots filed under `dest`, and (rarely, for the GID chain) others whose
    /// tag collides: the caller checks the entry.
    #[inline]
    pub(crate) fn cursor(&self, dest: &Dest) -> Cursor {
        let (chain, bucket, key) = Self::locate(dest);
        Cursor { chain, key, next: self.heads[chain][bucket] }
    }

    /// The next slot of the walk whose key matches. The walk has already read past the slot
    /// it returns, so the caller may unlink that slot before going on.
    #[inline]
    pub(crate) fn next(&self, c: &mut Cursor) -> Option<usize> {
        while c.next != 0 {
            let s = c.next as usize - 1;
            let node = &self.nodes[s];
            c.next = node.next[c.chain];
            if node.key[c.chain] == c.key {
                return Some(s);
            }
        }
        None
    }

    /// Files `slot` under `dest` (at the head of its chain).
    pub(crate) fn link(&mut self, slot: usize, dest: &Dest) {
        let (chain, bucket, key) = Self::locate(dest);
        let node = &mut self.nodes[slot];
        node.next[chain] = self.heads[chain][bucket];
        node.key[chain] = key;
        self.heads[chain][bucket] = slot as u32 + 1;
    }

    /// Takes `slot` out of `dest`'s chain; walks the chain to find its predecessor.
    pub(crate) fn unlink(&mut self, slot: usize, dest: &Dest) {
        let (chain, bucket, _) = Self::locate(dest);
        let target = slot as u32 + 1;
        let next = self.nodes[slot].next[chain];
        self.nodes[slot].next[chain] = 0;
        if self.heads[chain][bucket] == target {
            self.heads[chain][bucket] = next;
            return;
        }
        let mut cur = self.heads[chain][bucket];
        while cur != 0 {
            let c = cur as usize - 1;
            if self.nodes[c].next[chain] == target {
                self.nodes[c].next[chain] = next;
                return;
            }
            cur = self.nodes[c].next[chain];
        }
    }

    /// Empties every chain (nodes are rewritten when their slots are reused).
    pub(crate) fn clear(&mut self) {
        self.heads = [[0; N]; 2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_stay_in_range_and_spread() {
        const N: usize = 1000;
        let mut hits = [0u16; N];
        for guid in 0..10_000u64 {
            let b = Index::<N>::bucket(hash_gid(&Gid::new(0xfe80 << 48, 0x0002_c903_0000_0000 + guid)));
            hits[b] += 1;
        }
        // 10 per bucket on average; a decent hash keeps the worst bucket small.
        assert!(*hits.iter().max().unwrap() < 30, "{:?}", hits.iter().max());
        let mut hits = [0u16; N];
        for lid in 1..=10_000u16 {
            hits[Index::<N>::bucket(hash_lid(lid))] += 1;
        }
        assert!(*hits.iter().max().unwrap() < 30);
        assert_eq!(Index::<N>::bucket(u32::MAX), N - 1);
    }

    #[test]
    fn walk_skips_other_keys_and_survives_unlinking() {
        let mut index = Index::<3>::new();
        // Two LIDs in the same bucket.
        let same = |l: u16| Index::<3>::bucket(hash_lid(l)) == Index::<3>::bucket(hash_lid(7));
        let other = (8..).find(|&l| same(l)).unwrap();
        let (a, b) = (Dest::Lid(7), Dest::Lid(other));
        for (slot, dest) in [(0, a), (1, b), (2, a)] {
            index.link(slot, &dest);
        }
        let mut c = index.cursor(&a);
        assert_eq!(index.next(&mut c), Some(2));
        index.unlink(2, &a);
        assert_eq!(index.next(&mut c), Some(0));
        assert_eq!(index.next(&mut c), None);
        let mut c = index.cursor(&a);
        assert_eq!(index.next(&mut c), Some(0));
        assert_eq!(index.next(&mut c), None);
    }
}
