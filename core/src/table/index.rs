//! The hash indexes: destination GID → entries and destination LID → entries.
//!
//! Separate chaining with the links inside the entries ([`Entry::chain`]) and one `u32` head
//! per bucket, `N` buckets per index, so an index costs 4 bytes per entry plus 4 per slot of
//! chain link. Chains hold every entry with the same destination (all sources, P_Keys, SLs,
//! service IDs); the source is filtered while walking, which keeps "same DGID from any SGID or
//! SLID" in one place and lets a trap that names a DGID find its entries without a scan.
//!
//! Hashes are hand-written and unkeyed: GIDs and LIDs come from the subnet manager, not from
//! an adversary on the wire, and a chain never holds more than the table's `N` entries.
//! Buckets are picked with the multiply-shift range reduction (`hash × N >> 32`), which needs
//! no division and no power-of-two `N`.

use super::entry::Entry;
use crate::wire::Gid;

/// One hash index: a chain head per bucket.
#[derive(Debug, zerocopy::FromZeros)]
pub(crate) struct Index<const N: usize> {
    heads: [u32; N],
}

/// The 64-bit finalizer of MurmurHash3 (`fmix64`): every input bit flips about half the output
/// bits, so GUIDs that differ only in their low bits still spread over the upper half.
const fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Hash of a GID: the prefix folded into the GUID (rotated, so prefix and GUID bits do not
/// cancel), then mixed.
pub(crate) fn hash_gid(g: &Gid) -> u32 {
    let b = &g.0;
    let prefix = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let guid = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    (fmix64(guid ^ prefix.rotate_left(29)) >> 32) as u32
}

/// Hash of a LID: Fibonacci hashing; consecutive LIDs land far apart in the upper bits.
pub(crate) const fn hash_lid(lid: u16) -> u32 {
    (lid as u32 ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b1)
}

impl<const N: usize> Index<N> {
    pub(crate) const fn new() -> Self {
        Index { heads: [0; N] }
    }

    /// The bucket of a hash: `hash × N / 2³²`, always `< N`.
    pub(crate) const fn bucket(hash: u32) -> usize {
        ((hash as u64 * N as u64) >> 32) as usize
    }

    /// The first link of a bucket's chain (slot + 1, 0 for none).
    pub(crate) fn head(&self, bucket: usize) -> u32 {
        self.heads[bucket]
    }

    /// Links `slot` at the head of `bucket`'s chain `chain`.
    pub(crate) fn push(&mut self, entries: &mut [Entry], chain: usize, bucket: usize, slot: usize) {
        entries[slot].chain[chain] = self.heads[bucket];
        self.heads[bucket] = slot as u32 + 1;
    }

    /// Unlinks `slot` from `bucket`'s chain; walks the chain to find its predecessor.
    pub(crate) fn unlink(&mut self, entries: &mut [Entry], chain: usize, bucket: usize, slot: usize) {
        let target = slot as u32 + 1;
        let next = entries[slot].chain[chain];
        entries[slot].chain[chain] = 0;
        if self.heads[bucket] == target {
            self.heads[bucket] = next;
            return;
        }
        let mut cur = self.heads[bucket];
        while cur != 0 {
            let c = cur as usize - 1;
            if entries[c].chain[chain] == target {
                entries[c].chain[chain] = next;
                return;
            }
            cur = entries[c].chain[chain];
        }
    }

    /// Empties every chain.
    pub(crate) fn clear(&mut self) {
        self.heads = [0; N];
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
}
