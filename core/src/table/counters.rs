//! What the table has done, for `localsa stats` and for tuning the capacity and lifetimes.

/// Event counts since the table was created (they wrap only after 2⁶⁴ events).
///
/// Every entry that leaves the table is counted once, in exactly one of `evictions`,
/// `expirations` or `invalidations`, so `inserts − evictions − expirations − invalidations`
/// is always the number of entries held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, zerocopy::FromZeros)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Lookups answered with records from fresh (or pinned) entries.
    pub hits: u64,
    /// Lookups answered only by entries from an older generation ([`Lookup::StaleHit`]).
    ///
    /// [`Lookup::StaleHit`]: super::Lookup::StaleHit
    pub stale_hits: u64,
    /// Lookups answered by a negative entry, stale or not.
    pub negative_hits: u64,
    /// Lookups the table could not answer, including the queries it does not support.
    pub misses: u64,
    /// New entries: paths, negative entries and pins.
    pub inserts: u64,
    /// Inserts and pins that updated an entry already held for the same path or query.
    pub replacements: u64,
    /// Live entries dropped to make room (least recently used first).
    pub evictions: u64,
    /// Entries dropped because their lifetime ran out.
    pub expirations: u64,
    /// Entries dropped on request (invalidation, flush, unpin, remove) or because a newer SA
    /// answer contradicted them.
    pub invalidations: u64,
}
