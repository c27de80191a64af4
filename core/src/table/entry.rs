//! One slot of the table: a PathRecord (or a failed query) with its aging metadata, in 96
//! bytes. (Its hash-chain links and LRU links live in dense arrays of their own, 12 and 8
//! bytes per slot, so that walking a chain or relinking the LRU list does not drag whole
//! entries through the CPU caches.)
//!
//! Layout (`repr(C)`, `size_of::<Entry>() == 96`, 8-byte aligned). What a lookup checks first
//! (flags, generation, expiry) runs straight into the record, whose GIDs, LIDs, P_Key, SL and
//! selector bytes follow:
//!
//! | offset | field | bytes | use |
//! |--------|-------|-------|-----|
//! | 0 | `flags` | 2 | kind, pinned, [`Natural`](super::Natural) bits, context bits, index membership |
//! | 2 | `qos_class` | 2 | the inserting query's QoS class |
//! | 4 | `generation` | 4 | the table generation at insertion |
//! | 8 | `expires` | 8 | µs since the caller's epoch; `u64::MAX` = never |
//! | 16 | `record` | 64 | the SA's record as on the wire; for a negative entry, the query's normal form |
//! | 80 | `service_id` | 8 | the inserting query's ServiceID ([`Context`]) |
//! | 88 | `mask` | 4 | negative entries: the query's normalized component mask |
//! | 92 | `error` | 4 | negative entries: the SA's error, packed |
//!
//! Links are slot + 1 with 0 for "none", so an all-zero entry is a free one and an all-zero
//! table is an empty table (it lives in `.bss`, and `Box`es of it come from zeroed memory).

use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::FromZeros;

use super::query::{Context, Natural, Origin};
use crate::wire::path_record::Record;
use crate::wire::{Gid, SaError};

/// Bits of [`Entry::flags`].
pub(crate) mod flags {
    /// Kind: 0 free, 1 path, 2 negative.
    pub const KIND: u16 = 0b11;
    pub const PATH: u16 = 1;
    pub const NEGATIVE: u16 = 2;
    pub const PINNED: u16 = 1 << 2;
    pub const NAT_MTU: u16 = 1 << 3;
    pub const NAT_RATE: u16 = 1 << 4;
    pub const NAT_LIFE: u16 = 1 << 5;
    pub const NAT_SL: u16 = 1 << 6;
    pub const CTX_SERVICE: u16 = 1 << 7;
    pub const CTX_QOS: u16 = 1 << 8;
    pub const CTX_PKEY: u16 = 1 << 9;
    pub const CTX_RAW: u16 = 1 << 10;
    /// Linked in the DGID index.
    pub const IN_GID: u16 = 1 << 11;
    /// Linked in the DLID index.
    pub const IN_LID: u16 = 1 << 12;
    /// The context bits.
    pub const CONTEXT: u16 = CTX_SERVICE | CTX_QOS | CTX_PKEY | CTX_RAW;
}

/// The flag bits of a context.
pub(crate) fn context_flags(c: &Context) -> u16 {
    let mut f = 0;
    for (on, bit) in [
        (c.service_id.is_some(), flags::CTX_SERVICE),
        (c.qos_class.is_some(), flags::CTX_QOS),
        (c.pkey, flags::CTX_PKEY),
        (c.raw_traffic, flags::CTX_RAW),
    ] {
        if on {
            f |= bit;
        }
    }
    f
}

/// `expires` of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

/// The all-zero record.
pub(crate) const ZERO_RECORD: Record = Record {
    service_id: U64::ZERO,
    dgid: Gid::ZERO,
    sgid: Gid::ZERO,
    dlid: U16::ZERO,
    slid: U16::ZERO,
    raw_flow_hop: U32::ZERO,
    tclass: 0,
    reversible_numb_path: 0,
    pkey: U16::ZERO,
    qos_class_sl: U16::ZERO,
    mtu: 0,
    rate: 0,
    packet_lifetime: 0,
    preference: 0,
    reserved: [0; 6],
};

/// A slot; see the module docs for the layout.
#[derive(Debug, Clone, Copy, FromZeros)]
#[repr(C)]
pub(crate) struct Entry {
    pub(crate) flags: u16,
    pub(crate) qos_class: u16,
    pub(crate) generation: u32,
    pub(crate) expires: u64,
    pub(crate) record: Record,
    pub(crate) service_id: u64,
    pub(crate) mask: u32,
    pub(crate) error: u32,
}

impl Entry {
    /// A free slot.
    pub(crate) const EMPTY: Entry = Entry {
        flags: 0,
        qos_class: 0,
        generation: 0,
        expires: 0,
        record: ZERO_RECORD,
        service_id: 0,
        mask: 0,
        error: 0,
    };

    /// A path entry (not yet linked anywhere).
    pub(crate) fn path(
        record: &Record,
        origin: &Origin,
        expires: u64,
        generation: u32,
        pinned: bool,
    ) -> Entry {
        let n = origin.natural;
        let c = &origin.context;
        let mut f = flags::PATH | flags::IN_GID | flags::IN_LID | context_flags(c);
        for (on, bit) in [
            (pinned, flags::PINNED),
            (n.contains(Natural::MTU), flags::NAT_MTU),
            (n.contains(Natural::RATE), flags::NAT_RATE),
            (n.contains(Natural::PACKET_LIFETIME), flags::NAT_LIFE),
            (n.contains(Natural::SL), flags::NAT_SL),
        ] {
            if on {
                f |= bit;
            }
        }
        Entry {
            record: *record,
            expires,
            service_id: c.service_id.unwrap_or(0),
            generation,
            qos_class: c.qos_class.unwrap_or(0),
            flags: f,
            ..Entry::EMPTY
        }
    }

    /// A negative entry for a normalized query.
    pub(crate) fn negative(
        query: &Record,
        mask: u32,
        error: SaError,
        expires: u64,
        generation: u32,
    ) -> Entry {
        use crate::wire::PathRecordMask as M;
        let mut f = flags::NEGATIVE;
        if mask & M::DGID.bits() as u32 != 0 {
            f |= flags::IN_GID;
        }
        if mask & M::DLID.bits() as u32 != 0 {
            f |= flags::IN_LID;
        }
        Entry {
            record: *query,
            expires,
            generation,
            mask,
            error: pack_error(error),
            flags: f,
            ..Entry::EMPTY
        }
    }

    pub(crate) const fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    pub(crate) const fn is_path(&self) -> bool {
        self.flags & flags::KIND == flags::PATH
    }

    pub(crate) const fn is_negative(&self) -> bool {
        self.flags & flags::KIND == flags::NEGATIVE
    }

    pub(crate) const fn is_pinned(&self) -> bool {
        self.has(flags::PINNED)
    }

    /// Whether the entry's lifetime has run out at `now`.
    pub(crate) const fn expired(&self, now: u64) -> bool {
        self.expires != NEVER && now >= self.expires
    }

    /// The context of a path entry.
    pub(crate) fn context(&self) -> Context {
        Context {
            service_id: self.has(flags::CTX_SERVICE).then_some(self.service_id),
            qos_class: self.has(flags::CTX_QOS).then_some(self.qos_class),
            pkey: self.has(flags::CTX_PKEY),
            raw_traffic: self.has(flags::CTX_RAW),
        }
    }

    /// The origin of a path entry.
    pub(crate) fn origin(&self) -> Origin {
        let mut natural = Natural::empty();
        for (bit, n) in [
            (flags::NAT_MTU, Natural::MTU),
            (flags::NAT_RATE, Natural::RATE),
            (flags::NAT_LIFE, Natural::PACKET_LIFETIME),
            (flags::NAT_SL, Natural::SL),
        ] {
            if self.has(bit) {
                natural |= n;
            }
        }
        Origin { natural, context: self.context() }
    }

    /// The SA error of a negative entry.
    pub(crate) fn error(&self) -> SaError {
        unpack_error(self.error)
    }

    /// Whether this path entry is the same path as `other` (the table holds at most one entry
    /// per identity): same endpoints, P_Key, SL, MTU, rate, packet lifetime and context.
    pub(crate) fn same_path(&self, other: &Entry) -> bool {
        const CTX: u16 = flags::CONTEXT;
        let (a, b) = (&self.record, &other.record);
        a.dgid == b.dgid
            && a.sgid == b.sgid
            && a.dlid == b.dlid
            && a.slid == b.slid
            && a.pkey == b.pkey
            && a.sl() == b.sl()
            && a.mtu & 0x3f == b.mtu & 0x3f
            && a.rate & 0x3f == b.rate & 0x3f
            && a.packet_lifetime & 0x3f == b.packet_lifetime & 0x3f
            && self.flags & CTX == other.flags & CTX
            && self.service_id == other.service_id
            && self.qos_class == other.qos_class
    }

    /// The order in which matching path entries are returned: pinned first, then by
    /// Preference (lower is better, as the SA ranks them), then by identity so the order is
    /// total (LIDs first: OpenSM lists the base-LID pair first).
    pub(crate) fn rank(&self) -> Rank {
        let r = &self.record;
        (
            !self.is_pinned() as u8,
            r.preference,
            r.slid.get(),
            r.dlid.get(),
            r.sgid.0,
            r.dgid.0,
            r.pkey.get(),
            [r.sl(), r.mtu & 0x3f, r.rate & 0x3f, r.packet_lifetime & 0x3f],
        )
    }
}

/// See [`Entry::rank`].
pub(crate) type Rank = (u8, u8, u16, u16, [u8; 16], [u8; 16], u16, [u8; 4]);

/// Packs an [`SaError`] in 32 bits: a tag in the upper half, the payload in the lower.
pub(crate) const fn pack_error(e: SaError) -> u32 {
    let (tag, payload): (u32, u32) = match e {
        SaError::Busy => (1, 0),
        SaError::Redirect => (2, 0),
        SaError::BadVersion => (3, 0),
        SaError::MethodUnsupported => (4, 0),
        SaError::MethodAttributeUnsupported => (5, 0),
        SaError::InvalidField => (6, 0),
        SaError::NoResources => (7, 0),
        SaError::RequestInvalid => (8, 0),
        SaError::NoRecords => (9, 0),
        SaError::TooManyRecords => (10, 0),
        SaError::InvalidGid => (11, 0),
        SaError::InsufficientComponents => (12, 0),
        SaError::Denied => (13, 0),
        SaError::PrioritySuggested => (14, 0),
        SaError::UnknownSaCode(c) => (15, c as u32),
        SaError::UnknownStatus(s) => (16, s as u32),
    };
    (tag << 16) | payload
}

/// The inverse of [`pack_error`].
pub(crate) const fn unpack_error(v: u32) -> SaError {
    let payload = (v & 0xffff) as u16;
    match v >> 16 {
        1 => SaError::Busy,
        2 => SaError::Redirect,
        3 => SaError::BadVersion,
        4 => SaError::MethodUnsupported,
        5 => SaError::MethodAttributeUnsupported,
        6 => SaError::InvalidField,
        7 => SaError::NoResources,
        8 => SaError::RequestInvalid,
        9 => SaError::NoRecords,
        10 => SaError::TooManyRecords,
        11 => SaError::InvalidGid,
        12 => SaError::InsufficientComponents,
        13 => SaError::Denied,
        14 => SaError::PrioritySuggested,
        15 => SaError::UnknownSaCode(payload as u8),
        _ => SaError::UnknownStatus(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_96_bytes() {
        assert_eq!(core::mem::size_of::<Entry>(), 96);
        assert_eq!(core::mem::offset_of!(Entry, record), 16);
    }

    #[test]
    fn errors_round_trip() {
        let all = [
            SaError::Busy,
            SaError::Redirect,
            SaError::BadVersion,
            SaError::MethodUnsupported,
            SaError::MethodAttributeUnsupported,
            SaError::InvalidField,
            SaError::NoResources,
            SaError::RequestInvalid,
            SaError::NoRecords,
            SaError::TooManyRecords,
            SaError::InvalidGid,
            SaError::InsufficientComponents,
            SaError::Denied,
            SaError::PrioritySuggested,
            SaError::UnknownSaCode(0xfe),
            SaError::UnknownStatus(0xbeef),
        ];
        for e in all {
            assert_eq!(unpack_error(pack_error(e)), e);
        }
    }
}
