//! The normal form of a PathRecord query: what makes two resolves "the same question" to the
//! SA, so they share one query.

use crate::table::Query;
use crate::wire::path_record::{Record, LEN};
use crate::wire::{PathRecordMask, PathRecordRepr, SaAttribute};

/// A query reduced to the fields its mask names, encoded: equal keys ask the SA the same
/// thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryKey {
    bytes: [u8; LEN],
    mask: u64,
}

impl QueryKey {
    /// All zero: the key of a free slot.
    pub(crate) const ZERO: QueryKey = QueryKey { bytes: [0; LEN], mask: 0 };

    /// The key of `query`; `None` if a masked field is out of range (the query is invalid).
    pub(crate) fn of(query: &Query) -> Option<QueryKey> {
        let t = &query.template;
        let m = query.mask;
        let d = PathRecordRepr::default();
        let pick = |bit: PathRecordMask| m.contains(bit);
        let masked = PathRecordRepr {
            service_id: if pick(PathRecordMask::SERVICE_ID_MSB) || pick(PathRecordMask::SERVICE_ID_LSB) {
                let mut v = 0;
                if pick(PathRecordMask::SERVICE_ID_MSB) {
                    v |= t.service_id & 0xff00_0000_0000_0000;
                }
                if pick(PathRecordMask::SERVICE_ID_LSB) {
                    v |= t.service_id & 0x00ff_ffff_ffff_ffff;
                }
                v
            } else {
                0
            },
            dgid: if pick(PathRecordMask::DGID) { t.dgid } else { d.dgid },
            sgid: if pick(PathRecordMask::SGID) { t.sgid } else { d.sgid },
            dlid: if pick(PathRecordMask::DLID) { t.dlid } else { 0 },
            slid: if pick(PathRecordMask::SLID) { t.slid } else { 0 },
            raw_traffic: pick(PathRecordMask::RAW_TRAFFIC) && t.raw_traffic,
            flow_label: if pick(PathRecordMask::FLOW_LABEL) { t.flow_label } else { 0 },
            hop_limit: if pick(PathRecordMask::HOP_LIMIT) { t.hop_limit } else { 0 },
            tclass: if pick(PathRecordMask::TCLASS) { t.tclass } else { 0 },
            reversible: pick(PathRecordMask::REVERSIBLE) && t.reversible,
            numb_path: if pick(PathRecordMask::NUMB_PATH) { t.numb_path } else { 0 },
            pkey: if pick(PathRecordMask::PKEY) { t.pkey } else { 0 },
            qos_class: if pick(PathRecordMask::QOS_CLASS) { t.qos_class } else { 0 },
            sl: if pick(PathRecordMask::SL) { t.sl } else { 0 },
            mtu_selector: if pick(PathRecordMask::MTU_SELECTOR) { t.mtu_selector } else { d.mtu_selector },
            mtu: if pick(PathRecordMask::MTU) { t.mtu } else { d.mtu },
            rate_selector: if pick(PathRecordMask::RATE_SELECTOR) {
                t.rate_selector
            } else {
                d.rate_selector
            },
            rate: if pick(PathRecordMask::RATE) { t.rate } else { d.rate },
            packet_lifetime_selector: if pick(PathRecordMask::PACKET_LIFETIME_SELECTOR) {
                t.packet_lifetime_selector
            } else {
                d.packet_lifetime_selector
            },
            packet_lifetime: if pick(PathRecordMask::PACKET_LIFETIME) {
                t.packet_lifetime
            } else {
                d.packet_lifetime
            },
            preference: if pick(PathRecordMask::PREFERENCE) { t.preference } else { 0 },
        };
        let mut bytes = [0u8; LEN];
        masked.encode(&mut bytes).ok()?;
        Some(QueryKey { bytes, mask: m.bits() })
    }

    /// A well-mixed 32-bit hash (FNV-1a over the bytes and mask).
    pub(crate) fn hash(&self) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in self.bytes.iter().chain(self.mask.to_le_bytes().iter()) {
            h ^= *b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
        h
    }

    /// The template as the SA would see it.
    #[allow(dead_code)]
    pub(crate) fn record(&self) -> Option<&Record> {
        zerocopy::FromBytes::ref_from_bytes(&self.bytes[..]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Gid;

    #[test]
    fn unmasked_fields_do_not_count() {
        let a = Query::between_gids(Gid::new(1, 2), Gid::new(1, 3));
        let mut b = a;
        b.template.sl = 7; // not in the mask
        b.template.dlid = 99;
        assert_eq!(QueryKey::of(&a), QueryKey::of(&b));
        let c = a.with_sl(7);
        assert_ne!(QueryKey::of(&a), QueryKey::of(&c));
        assert_eq!(QueryKey::of(&a).unwrap().hash(), QueryKey::of(&b).unwrap().hash());
    }
}
