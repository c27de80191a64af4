//! MultiPathRecord (IBA 15.2.5.20), request form: path constraints plus a list of source and
//! destination GIDs, sent with GetMulti. The SA answers with PathRecords.

use bitflags::bitflags;
use heapless::Vec;
use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::bits;
use super::describe::{code, Describe, Value, Visitor};
use super::encoding::{join_selector_byte, split_selector_byte, Mtu, PacketLifetime, Rate, Selector};
use super::error::{Error, Result};
use super::gid::Gid;
use super::record::{view, view_mut, SaAttribute};
use super::sa_packet::DATA_LEN;

/// Length of the fixed part, before the GID list.
pub const FIXED_LEN: usize = 24;
/// The most GIDs one MAD can carry (the fixed part plus 11 GIDs fill the 200-byte SA data).
pub const MAX_GIDS: usize = (DATA_LEN - FIXED_LEN) / 16;

/// The fixed part of a MultiPathRecord as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// RawTraffic (1) | Reserved (3) | FlowLabel (20) | HopLimit (8).
    pub raw_flow_hop: U32,
    /// Traffic class.
    pub tclass: u8,
    /// Reversible (1) | NumbPath (7).
    pub reversible_numb_path: u8,
    /// P_Key.
    pub pkey: U16,
    /// QosClass (12) | SL (4).
    pub qos_class_sl: U16,
    /// MTUSelector (2) | MTU (6).
    pub mtu: u8,
    /// RateSelector (2) | Rate (6).
    pub rate: u8,
    /// PacketLifeTimeSelector (2) | PacketLifeTime (6).
    pub packet_lifetime: u8,
    /// ServiceID, upper 8 bits.
    pub service_id_msb: u8,
    /// IndependenceSelector (2) | GIDScope (6).
    pub independence: u8,
    /// SGIDCount.
    pub sgid_count: u8,
    /// DGIDCount.
    pub dgid_count: u8,
    /// ServiceID, lower 56 bits.
    pub service_id_lsb: [u8; 7],
}

/// The fixed part's fields as on the wire (the GID list follows the layout, so it has no
/// [`Repr`] of its own).
#[cfg(feature = "defmt")]
impl defmt::Format for Record {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "MultiPathRecord {{ raw_flow_hop: {=u32:#x}, tclass: {=u8}, reversible_numb_path: {=u8:#x}, \
             pkey: {=u16:#x}, qos_class_sl: {=u16:#x}, mtu: {=u8:#x}, rate: {=u8:#x}, \
             packet_lifetime: {=u8:#x}, service_id: {=u8:#x}{=[u8]:02x}, independence: {=u8}, \
             sgid_count: {=u8}, dgid_count: {=u8} }}",
            self.raw_flow_hop.get(),
            self.tclass,
            self.reversible_numb_path,
            self.pkey.get(),
            self.qos_class_sl.get(),
            self.mtu,
            self.rate,
            self.packet_lifetime,
            self.service_id_msb,
            self.service_id_lsb,
            self.independence,
            self.sgid_count,
            self.dgid_count
        )
    }
}

bitflags! {
    /// MultiPathRecord ComponentMask bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MultiPathRecordMask: u64 {
        /// RawTraffic.
        const RAW_TRAFFIC = 1 << 0;
        /// FlowLabel.
        const FLOW_LABEL = 1 << 2;
        /// HopLimit.
        const HOP_LIMIT = 1 << 3;
        /// TClass.
        const TCLASS = 1 << 4;
        /// Reversible.
        const REVERSIBLE = 1 << 5;
        /// NumbPath.
        const NUMB_PATH = 1 << 6;
        /// P_Key.
        const PKEY = 1 << 7;
        /// QosClass.
        const QOS_CLASS = 1 << 8;
        /// SL.
        const SL = 1 << 9;
        /// MTUSelector.
        const MTU_SELECTOR = 1 << 10;
        /// MTU.
        const MTU = 1 << 11;
        /// RateSelector.
        const RATE_SELECTOR = 1 << 12;
        /// Rate.
        const RATE = 1 << 13;
        /// PacketLifeTimeSelector.
        const PACKET_LIFETIME_SELECTOR = 1 << 14;
        /// PacketLifeTime.
        const PACKET_LIFETIME = 1 << 15;
        /// ServiceID, upper 8 bits.
        const SERVICE_ID_MSB = 1 << 16;
        /// IndependenceSelector.
        const INDEPENDENCE_SELECTOR = 1 << 17;
        /// SGIDCount.
        const SGID_COUNT = 1 << 19;
        /// DGIDCount.
        const DGID_COUNT = 1 << 20;
        /// ServiceID, lower 56 bits.
        const SERVICE_ID_LSB = 1 << 21;
    }
}

defmt_bits!(MultiPathRecordMask);

/// A MultiPathRecord request, decoded. `gids` holds the SGIDs first, then the DGIDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// RawTraffic.
    pub raw_traffic: bool,
    /// FlowLabel, 20 bits.
    pub flow_label: u32,
    /// HopLimit.
    pub hop_limit: u8,
    /// Traffic class.
    pub tclass: u8,
    /// Reversible.
    pub reversible: bool,
    /// NumbPath, 7 bits.
    pub numb_path: u8,
    /// P_Key.
    pub pkey: u16,
    /// QosClass, 12 bits.
    pub qos_class: u16,
    /// SL, 4 bits.
    pub sl: u8,
    /// MTUSelector.
    pub mtu_selector: Selector,
    /// MTU.
    pub mtu: Mtu,
    /// RateSelector.
    pub rate_selector: Selector,
    /// Rate.
    pub rate: Rate,
    /// PacketLifeTimeSelector.
    pub packet_lifetime_selector: Selector,
    /// PacketLifeTime.
    pub packet_lifetime: PacketLifetime,
    /// ServiceID (the wire splits it into 8 + 56 bits).
    pub service_id: u64,
    /// IndependenceSelector, 2 bits.
    pub independence_selector: u8,
    /// The six bits after IndependenceSelector: reserved in IBA 1.2, GIDScope in Wireshark's
    /// dissector. Kept so that every bit of the request round-trips.
    pub gid_scope: u8,
    /// How many of `gids` are source GIDs.
    pub sgid_count: u8,
    /// How many of `gids` are destination GIDs.
    pub dgid_count: u8,
    /// SGIDs, then DGIDs.
    pub gids: Vec<Gid, MAX_GIDS>,
}

impl Default for Repr {
    /// An all-zero record: the empty query template.
    fn default() -> Self {
        Repr {
            raw_traffic: false,
            flow_label: 0,
            hop_limit: 0,
            tclass: 0,
            reversible: false,
            numb_path: 0,
            pkey: 0,
            qos_class: 0,
            sl: 0,
            mtu_selector: Selector::from_raw(0),
            mtu: Mtu::from_raw(0),
            rate_selector: Selector::from_raw(0),
            rate: Rate::from_raw(0),
            packet_lifetime_selector: Selector::from_raw(0),
            packet_lifetime: PacketLifetime(0),
            service_id: 0,
            independence_selector: 0,
            gid_scope: 0,
            sgid_count: 0,
            dgid_count: 0,
            gids: Vec::new(),
        }
    }
}

impl Repr {
    /// The source GIDs.
    pub fn sgids(&self) -> &[Gid] {
        self.gids.get(..self.sgid_count as usize).unwrap_or(&[])
    }

    /// The destination GIDs.
    pub fn dgids(&self) -> &[Gid] {
        self.gids.get(self.sgid_count as usize..).unwrap_or(&[])
    }
}

impl SaAttribute for Repr {
    const ID: AttributeId = AttributeId::MultiPathRecord;
    const LEN: usize = FIXED_LEN;

    /// Decodes the fixed part and `SGIDCount + DGIDCount` GIDs after it; fails if the counts
    /// exceed [`MAX_GIDS`] or the bytes present.
    fn decode(bytes: &[u8]) -> Result<Self> {
        let r = view::<Record>(Self::ID, bytes)?;
        let count = r.sgid_count as usize + r.dgid_count as usize;
        let room = (bytes.len() - FIXED_LEN) / 16;
        if count > MAX_GIDS || count > room {
            return Err(Error::GidCountTooLarge { count, room: room.min(MAX_GIDS) });
        }
        let mut gids = Vec::new();
        for chunk in bytes[FIXED_LEN..FIXED_LEN + 16 * count].chunks_exact(16) {
            let gid = Gid::read_from_bytes(chunk).map_err(|_| Error::Truncated {
                layer: super::error::Layer::GidList,
                needed: 16,
                available: chunk.len(),
            })?;
            // Cannot fail: count <= MAX_GIDS was checked above.
            let _ = gids.push(gid);
        }
        let word = r.raw_flow_hop.get();
        let (mtu_selector, mtu) = split_selector_byte(r.mtu);
        let (rate_selector, rate) = split_selector_byte(r.rate);
        let (packet_lifetime_selector, packet_lifetime) = split_selector_byte(r.packet_lifetime);
        let mut sid = [0u8; 8];
        sid[0] = r.service_id_msb;
        sid[1..].copy_from_slice(&r.service_id_lsb);
        Ok(Repr {
            raw_traffic: bits::get(word, 31, 1) != 0,
            flow_label: bits::get(word, 8, 20),
            hop_limit: bits::get(word, 0, 8) as u8,
            tclass: r.tclass,
            reversible: r.reversible_numb_path & 0x80 != 0,
            numb_path: r.reversible_numb_path & 0x7f,
            pkey: r.pkey.get(),
            qos_class: r.qos_class_sl.get() >> 4,
            sl: (r.qos_class_sl.get() & 0xf) as u8,
            mtu_selector,
            mtu: Mtu::from_raw(mtu),
            rate_selector,
            rate: Rate::from_raw(rate),
            packet_lifetime_selector,
            packet_lifetime: PacketLifetime(packet_lifetime),
            service_id: u64::from_be_bytes(sid),
            independence_selector: r.independence >> 6,
            gid_scope: r.independence & 0x3f,
            sgid_count: r.sgid_count,
            dgid_count: r.dgid_count,
            gids,
        })
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize> {
        bits::fits("flow_label", self.flow_label, 20)?;
        bits::fits("numb_path", self.numb_path as u32, 7)?;
        bits::fits("qos_class", self.qos_class as u32, 12)?;
        bits::fits("sl", self.sl as u32, 4)?;
        bits::fits("independence_selector", self.independence_selector as u32, 2)?;
        bits::fits("gid_scope", self.gid_scope as u32, 6)?;
        let count = self.sgid_count as usize + self.dgid_count as usize;
        if count != self.gids.len() {
            return Err(Error::GidCountTooLarge { count, room: self.gids.len() });
        }
        let len = FIXED_LEN + 16 * count;
        if out.len() < len {
            return Err(Error::BufferTooSmall { needed: len, available: out.len() });
        }
        let sid = self.service_id.to_be_bytes();
        let mut lsb = [0u8; 7];
        lsb.copy_from_slice(&sid[1..]);
        *view_mut::<Record>(out)? = Record {
            raw_flow_hop: U32::new(
                ((self.raw_traffic as u32) << 31) | (self.flow_label << 8) | self.hop_limit as u32,
            ),
            tclass: self.tclass,
            reversible_numb_path: ((self.reversible as u8) << 7) | self.numb_path,
            pkey: U16::new(self.pkey),
            qos_class_sl: U16::new((self.qos_class << 4) | self.sl as u16),
            mtu: join_selector_byte("mtu", self.mtu_selector, self.mtu.raw())?,
            rate: join_selector_byte("rate", self.rate_selector, self.rate.raw())?,
            packet_lifetime: join_selector_byte(
                "packet_lifetime",
                self.packet_lifetime_selector,
                self.packet_lifetime.0,
            )?,
            service_id_msb: sid[0],
            independence: (self.independence_selector << 6) | self.gid_scope,
            sgid_count: self.sgid_count,
            dgid_count: self.dgid_count,
            service_id_lsb: lsb,
        };
        for (gid, chunk) in self.gids.iter().zip(out[FIXED_LEN..len].chunks_exact_mut(16)) {
            chunk.copy_from_slice(&gid.0);
        }
        Ok(len)
    }
}

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("raw_traffic", Value::Bool(self.raw_traffic));
        v.field("flow_label", Value::Hex { value: self.flow_label as u64, bits: 20 });
        v.field("hop_limit", Value::Uint(self.hop_limit as u64));
        v.field("tclass", Value::Uint(self.tclass as u64));
        v.field("reversible", Value::Bool(self.reversible));
        v.field("numb_path", Value::Uint(self.numb_path as u64));
        v.field("pkey", Value::Hex { value: self.pkey as u64, bits: 16 });
        v.field("qos_class", Value::Uint(self.qos_class as u64));
        v.field("sl", Value::Uint(self.sl as u64));
        v.field("mtu_selector", code(self.mtu_selector.raw() as u64, self.mtu_selector.name()));
        v.field("mtu", code(self.mtu.raw() as u64, self.mtu.name()));
        v.field("rate_selector", code(self.rate_selector.raw() as u64, self.rate_selector.name()));
        v.field("rate", code(self.rate.raw() as u64, self.rate.name()));
        v.field(
            "packet_lifetime_selector",
            code(self.packet_lifetime_selector.raw() as u64, self.packet_lifetime_selector.name()),
        );
        v.field("packet_lifetime", Value::Uint(self.packet_lifetime.0 as u64));
        v.field("service_id", Value::Hex { value: self.service_id, bits: 64 });
        v.field("independence_selector", Value::Uint(self.independence_selector as u64));
        v.field("gid_scope", Value::Uint(self.gid_scope as u64));
        v.field("sgid_count", Value::Uint(self.sgid_count as u64));
        v.field("dgid_count", Value::Uint(self.dgid_count as u64));
        for gid in self.sgids() {
            v.field("sgid", Value::Gid(*gid));
        }
        for gid in self.dgids() {
            v.field("dgid", Value::Gid(*gid));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_repr() -> impl Strategy<Value = Repr> {
        (
            (any::<bool>(), 0u32..1 << 20, any::<u8>(), any::<u8>(), any::<bool>(), 0u8..128, any::<u16>()),
            (0u16..4096, 0u8..16, 0u8..4, 0u8..64, 0u8..4, 0u8..64, 0u8..4, 0u8..64),
            (
                any::<u64>(),
                0u8..4,
                0u8..64,
                proptest::collection::vec(any::<[u8; 16]>(), 0..=MAX_GIDS),
                any::<proptest::sample::Index>(),
            ),
        )
            .prop_map(
                |(
                    (raw, fl, hl, tc, rev, np, pkey),
                    (qos, sl, ms, m, rs, r, ps, p),
                    (sid, ind, scope, gids, split),
                )| {
                    let sgid_count = split.index(gids.len() + 1) as u8;
                    Repr {
                        raw_traffic: raw,
                        flow_label: fl,
                        hop_limit: hl,
                        tclass: tc,
                        reversible: rev,
                        numb_path: np,
                        pkey,
                        qos_class: qos,
                        sl,
                        mtu_selector: Selector::from_raw(ms),
                        mtu: Mtu::from_raw(m),
                        rate_selector: Selector::from_raw(rs),
                        rate: Rate::from_raw(r),
                        packet_lifetime_selector: Selector::from_raw(ps),
                        packet_lifetime: PacketLifetime(p),
                        service_id: sid,
                        independence_selector: ind,
                        gid_scope: scope,
                        sgid_count,
                        dgid_count: gids.len() as u8 - sgid_count,
                        gids: gids.into_iter().map(Gid).collect(),
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(repr in arb_repr()) {
            let mut buf = [0u8; DATA_LEN];
            let n = repr.encode(&mut buf).unwrap();
            prop_assert_eq!(n, FIXED_LEN + 16 * repr.gids.len());
            prop_assert_eq!(Repr::decode(&buf[..n]), Ok(repr));
        }

        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..260)) {
            if let Ok(r) = Repr::decode(&bytes) {
                prop_assert!(FIXED_LEN + 16 * r.gids.len() <= bytes.len());
            }
        }
    }

    #[test]
    fn counts_beyond_the_data_are_rejected() {
        let mut buf = [0u8; FIXED_LEN + 32];
        buf[15] = 1; // SGIDCount
        buf[16] = 2; // DGIDCount: 3 GIDs, only 2 present
        assert_eq!(Repr::decode(&buf), Err(Error::GidCountTooLarge { count: 3, room: 2 }));
        buf[16] = 1;
        let r = Repr::decode(&buf).unwrap();
        assert_eq!((r.sgids().len(), r.dgids().len()), (1, 1));
    }

    #[test]
    fn layout_is_24_bytes() {
        assert_eq!(core::mem::size_of::<Record>(), FIXED_LEN);
    }
}
