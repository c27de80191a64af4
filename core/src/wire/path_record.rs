//! PathRecord (IBA 15.2.5.16): everything a client needs to address a destination port.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::bits;
use super::describe::{code, Describe, Value, Visitor};
use super::encoding::{join_selector_byte, split_selector_byte, Mtu, PacketLifetime, Rate, Selector};
use super::error::Result;
use super::gid::Gid;

/// Length of a PathRecord.
pub const LEN: usize = 64;

/// A PathRecord as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// ServiceID.
    pub service_id: U64,
    /// Destination GID.
    pub dgid: Gid,
    /// Source GID.
    pub sgid: Gid,
    /// Destination LID.
    pub dlid: U16,
    /// Source LID.
    pub slid: U16,
    /// RawTraffic (1) | Reserved (3) | FlowLabel (20) | HopLimit (8).
    pub raw_flow_hop: U32,
    /// Traffic class.
    pub tclass: u8,
    /// Reversible (1) | NumbPath (7).
    pub reversible_numb_path: u8,
    /// Partition key.
    pub pkey: U16,
    /// QosClass (12) | SL (4).
    pub qos_class_sl: U16,
    /// MTUSelector (2) | MTU (6).
    pub mtu: u8,
    /// RateSelector (2) | Rate (6).
    pub rate: u8,
    /// PacketLifeTimeSelector (2) | PacketLifeTime (6).
    pub packet_lifetime: u8,
    /// Preference (lower is better).
    pub preference: u8,
    /// Reserved.
    pub reserved: [u8; 6],
}

impl Record {
    /// An all-zero record.
    pub const ZEROED: Record = Record {
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

    /// RawTraffic: the path is for raw (non-IBA transport) packets.
    pub fn raw_traffic(&self) -> bool {
        bits::get(self.raw_flow_hop.get(), 31, 1) != 0
    }
    /// Sets RawTraffic.
    pub fn set_raw_traffic(&mut self, on: bool) {
        self.raw_flow_hop.set(bits::set(self.raw_flow_hop.get(), 31, 1, on as u32));
    }
    /// FlowLabel, 20 bits.
    pub fn flow_label(&self) -> u32 {
        bits::get(self.raw_flow_hop.get(), 8, 20)
    }
    /// Sets FlowLabel (bits above 20 are dropped).
    pub fn set_flow_label(&mut self, label: u32) {
        self.raw_flow_hop.set(bits::set(self.raw_flow_hop.get(), 8, 20, label));
    }
    /// HopLimit.
    pub fn hop_limit(&self) -> u8 {
        bits::get(self.raw_flow_hop.get(), 0, 8) as u8
    }
    /// Sets HopLimit.
    pub fn set_hop_limit(&mut self, hops: u8) {
        self.raw_flow_hop.set(bits::set(self.raw_flow_hop.get(), 0, 8, hops as u32));
    }
    /// Reversible: the reverse path is valid too.
    pub fn reversible(&self) -> bool {
        self.reversible_numb_path & 0x80 != 0
    }
    /// Sets Reversible.
    pub fn set_reversible(&mut self, on: bool) {
        self.reversible_numb_path = (self.reversible_numb_path & 0x7f) | ((on as u8) << 7);
    }
    /// NumbPath, 7 bits: in a query, the most paths to return.
    pub fn numb_path(&self) -> u8 {
        self.reversible_numb_path & 0x7f
    }
    /// Sets NumbPath (bit 7 is dropped).
    pub fn set_numb_path(&mut self, n: u8) {
        self.reversible_numb_path = (self.reversible_numb_path & 0x80) | (n & 0x7f);
    }
    /// QosClass, 12 bits.
    pub fn qos_class(&self) -> u16 {
        self.qos_class_sl.get() >> 4
    }
    /// Sets QosClass (bits above 12 are dropped).
    pub fn set_qos_class(&mut self, class: u16) {
        self.qos_class_sl.set((self.qos_class_sl.get() & 0x000f) | (class << 4));
    }
    /// Service level, 4 bits.
    pub fn sl(&self) -> u8 {
        (self.qos_class_sl.get() & 0x000f) as u8
    }
    /// Sets SL (bits above 4 are dropped).
    pub fn set_sl(&mut self, sl: u8) {
        self.qos_class_sl.set((self.qos_class_sl.get() & 0xfff0) | (sl as u16 & 0x000f));
    }
    /// MTUSelector and MTU.
    pub fn mtu(&self) -> (Selector, Mtu) {
        let (s, v) = split_selector_byte(self.mtu);
        (s, Mtu::from_raw(v))
    }
    /// RateSelector and Rate.
    pub fn rate(&self) -> (Selector, Rate) {
        let (s, v) = split_selector_byte(self.rate);
        (s, Rate::from_raw(v))
    }
    /// PacketLifeTimeSelector and PacketLifeTime.
    pub fn packet_lifetime(&self) -> (Selector, PacketLifetime) {
        let (s, v) = split_selector_byte(self.packet_lifetime);
        (s, PacketLifetime(v))
    }
}

bitflags! {
    /// PathRecord ComponentMask bits: which fields of a query template the SA must match.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PathRecordMask: u64 {
        /// ServiceID, upper 8 bits.
        const SERVICE_ID_MSB = 1 << 0;
        /// ServiceID, lower 56 bits.
        const SERVICE_ID_LSB = 1 << 1;
        /// DGID.
        const DGID = 1 << 2;
        /// SGID.
        const SGID = 1 << 3;
        /// DLID.
        const DLID = 1 << 4;
        /// SLID.
        const SLID = 1 << 5;
        /// RawTraffic.
        const RAW_TRAFFIC = 1 << 6;
        /// FlowLabel.
        const FLOW_LABEL = 1 << 8;
        /// HopLimit.
        const HOP_LIMIT = 1 << 9;
        /// TClass.
        const TCLASS = 1 << 10;
        /// Reversible.
        const REVERSIBLE = 1 << 11;
        /// NumbPath.
        const NUMB_PATH = 1 << 12;
        /// P_Key.
        const PKEY = 1 << 13;
        /// QosClass.
        const QOS_CLASS = 1 << 14;
        /// SL.
        const SL = 1 << 15;
        /// MTUSelector.
        const MTU_SELECTOR = 1 << 16;
        /// MTU.
        const MTU = 1 << 17;
        /// RateSelector.
        const RATE_SELECTOR = 1 << 18;
        /// Rate.
        const RATE = 1 << 19;
        /// PacketLifeTimeSelector.
        const PACKET_LIFETIME_SELECTOR = 1 << 20;
        /// PacketLifeTime.
        const PACKET_LIFETIME = 1 << 21;
        /// Preference.
        const PREFERENCE = 1 << 22;
        /// Both halves of ServiceID.
        const SERVICE_ID = Self::SERVICE_ID_MSB.bits() | Self::SERVICE_ID_LSB.bits();
    }
}

defmt_bits!(PathRecordMask);

/// A PathRecord's fields, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// ServiceID.
    pub service_id: u64,
    /// Destination GID.
    pub dgid: Gid,
    /// Source GID.
    pub sgid: Gid,
    /// Destination LID.
    pub dlid: u16,
    /// Source LID.
    pub slid: u16,
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
    /// Preference.
    pub preference: u8,
}

impl Default for Repr {
    /// An all-zero record: the empty query template.
    fn default() -> Self {
        Repr::parse(&Record::new_zeroed())
    }
}

impl Repr {
    /// Decodes a record. Every bit pattern is a valid PathRecord; reserved bits are ignored.
    pub fn parse(r: &Record) -> Repr {
        let (mtu_selector, mtu) = r.mtu();
        let (rate_selector, rate) = r.rate();
        let (packet_lifetime_selector, packet_lifetime) = r.packet_lifetime();
        Repr {
            service_id: r.service_id.get(),
            dgid: r.dgid,
            sgid: r.sgid,
            dlid: r.dlid.get(),
            slid: r.slid.get(),
            raw_traffic: r.raw_traffic(),
            flow_label: r.flow_label(),
            hop_limit: r.hop_limit(),
            tclass: r.tclass,
            reversible: r.reversible(),
            numb_path: r.numb_path(),
            pkey: r.pkey.get(),
            qos_class: r.qos_class(),
            sl: r.sl(),
            mtu_selector,
            mtu,
            rate_selector,
            rate,
            packet_lifetime_selector,
            packet_lifetime,
            preference: r.preference,
        }
    }

    /// Writes the record; reserved bits are zeroed. Fails if a field exceeds its width.
    pub fn emit(&self, r: &mut Record) -> Result<()> {
        bits::fits("flow_label", self.flow_label, 20)?;
        bits::fits("numb_path", self.numb_path as u32, 7)?;
        bits::fits("qos_class", self.qos_class as u32, 12)?;
        bits::fits("sl", self.sl as u32, 4)?;
        *r = Record {
            service_id: U64::new(self.service_id),
            dgid: self.dgid,
            sgid: self.sgid,
            dlid: U16::new(self.dlid),
            slid: U16::new(self.slid),
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
            preference: self.preference,
            reserved: [0; 6],
        };
        Ok(())
    }
}

fixed_layout_attribute!(AttributeId::PathRecord);

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("service_id", Value::Hex { value: self.service_id, bits: 64 });
        v.field("dgid", Value::Gid(self.dgid));
        v.field("sgid", Value::Gid(self.sgid));
        v.field("dlid", Value::Uint(self.dlid as u64));
        v.field("slid", Value::Uint(self.slid as u64));
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
        v.field("preference", Value::Uint(self.preference as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SaAttribute;
    use proptest::prelude::*;

    pub(crate) fn arb_repr() -> impl Strategy<Value = Repr> {
        (
            (any::<u64>(), any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u16>(), any::<u16>(), any::<bool>()),
            (0u32..1 << 20, any::<u8>(), any::<u8>(), any::<bool>(), 0u8..128, any::<u16>(), 0u16..4096),
            (0u8..16, 0u8..4, 0u8..64, 0u8..4, 0u8..64, 0u8..4, 0u8..64, any::<u8>()),
        )
            .prop_map(
                |(
                    (sid, d, s, dlid, slid, raw),
                    (fl, hl, tc, rev, np, pkey, qos),
                    (sl, ms, m, rs, r, ps, p, pref),
                )| {
                    Repr {
                        service_id: sid,
                        dgid: Gid(d),
                        sgid: Gid(s),
                        dlid,
                        slid,
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
                        preference: pref,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(repr in arb_repr()) {
            let mut buf = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut buf), Ok(LEN));
            prop_assert_eq!(Repr::decode(&buf), Ok(repr));
        }

        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            match Repr::decode(&bytes) {
                Ok(r) => {
                    prop_assert!(bytes.len() >= LEN);
                    // Re-encoding gives the input back except for reserved bits.
                    let mut out = [0u8; LEN];
                    r.encode(&mut out).unwrap();
                    let mut expect = [0u8; LEN];
                    expect.copy_from_slice(&bytes[..LEN]);
                    expect[44] &= 0x8f; // reserved bits 28..=30 of the raw/flow/hop word
                    expect[58..64].fill(0);
                    prop_assert_eq!(out, expect);
                }
                Err(_) => prop_assert!(bytes.len() < LEN),
            }
        }
    }

    #[test]
    fn sub_byte_accessors() {
        let mut r = Record::new_zeroed();
        r.set_raw_traffic(true);
        r.set_flow_label(0xabcde);
        r.set_hop_limit(0x40);
        r.set_reversible(true);
        r.set_numb_path(0x7f);
        r.set_qos_class(0xfff);
        r.set_sl(0xf);
        assert_eq!(r.raw_flow_hop.get(), 0x8abc_de40);
        assert_eq!(r.reversible_numb_path, 0xff);
        assert_eq!(r.qos_class_sl.get(), 0xffff);
        r.set_flow_label(0);
        r.set_sl(0);
        assert_eq!(r.raw_flow_hop.get(), 0x8000_0040);
        assert_eq!((r.qos_class(), r.sl()), (0xfff, 0));
    }

    #[test]
    fn emit_rejects_overflow() {
        let r = Repr { flow_label: 1 << 20, ..Repr::default() };
        assert!(r.encode(&mut [0u8; LEN]).is_err());
        let r = Repr { mtu: Mtu::Unknown(64), ..Repr::default() };
        assert!(r.encode(&mut [0u8; LEN]).is_err());
    }

    #[test]
    fn layout_is_64_bytes() {
        assert_eq!(core::mem::size_of::<Record>(), LEN);
    }
}
