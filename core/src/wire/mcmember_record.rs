//! MCMemberRecord (IBA 15.2.5.17): a port's membership in a multicast group.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::bits;
use super::describe::{code, Describe, Value, Visitor};
use super::encoding::{join_selector_byte, split_selector_byte, Mtu, PacketLifetime, Rate, Selector};
use super::error::Result;
use super::gid::Gid;

/// Length of an MCMemberRecord.
pub const LEN: usize = 52;

/// An MCMemberRecord as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// MGID.
    pub mgid: Gid,
    /// PortGID.
    pub port_gid: Gid,
    /// Q_Key.
    pub qkey: U32,
    /// MLID.
    pub mlid: U16,
    /// MTUSelector (2) | MTU (6).
    pub mtu: u8,
    /// TClass.
    pub tclass: u8,
    /// P_Key.
    pub pkey: U16,
    /// RateSelector (2) | Rate (6).
    pub rate: u8,
    /// PacketLifeTimeSelector (2) | PacketLifeTime (6).
    pub packet_lifetime: u8,
    /// SL (4) | FlowLabel (20) | HopLimit (8).
    pub sl_flow_hop: U32,
    /// Scope (4) | JoinState (4).
    pub scope_join_state: u8,
    /// ProxyJoin (1) | Reserved (7).
    pub proxy_join: u8,
    /// Reserved.
    pub reserved: [u8; 2],
}

bitflags! {
    /// MCMemberRecord ComponentMask bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct McMemberRecordMask: u64 {
        /// MGID.
        const MGID = 1 << 0;
        /// PortGID.
        const PORT_GID = 1 << 1;
        /// Q_Key.
        const QKEY = 1 << 2;
        /// MLID.
        const MLID = 1 << 3;
        /// MTUSelector.
        const MTU_SELECTOR = 1 << 4;
        /// MTU.
        const MTU = 1 << 5;
        /// TClass.
        const TCLASS = 1 << 6;
        /// P_Key.
        const PKEY = 1 << 7;
        /// RateSelector.
        const RATE_SELECTOR = 1 << 8;
        /// Rate.
        const RATE = 1 << 9;
        /// PacketLifeTimeSelector.
        const PACKET_LIFETIME_SELECTOR = 1 << 10;
        /// PacketLifeTime.
        const PACKET_LIFETIME = 1 << 11;
        /// SL.
        const SL = 1 << 12;
        /// FlowLabel.
        const FLOW_LABEL = 1 << 13;
        /// HopLimit.
        const HOP_LIMIT = 1 << 14;
        /// Scope.
        const SCOPE = 1 << 15;
        /// JoinState.
        const JOIN_STATE = 1 << 16;
        /// ProxyJoin.
        const PROXY_JOIN = 1 << 17;
    }
}

defmt_bits!(McMemberRecordMask);

bitflags! {
    /// JoinState bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct JoinState: u8 {
        /// Full member.
        const FULL_MEMBER = 0x1;
        /// Non member.
        const NON_MEMBER = 0x2;
        /// Send-only non member.
        const SEND_ONLY_NON_MEMBER = 0x4;
        /// Send-only full member.
        const SEND_ONLY_FULL_MEMBER = 0x8;
    }
}

defmt_bits!(JoinState);

/// An MCMemberRecord, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// MGID.
    pub mgid: Gid,
    /// PortGID.
    pub port_gid: Gid,
    /// Q_Key.
    pub qkey: u32,
    /// MLID.
    pub mlid: u16,
    /// MTUSelector.
    pub mtu_selector: Selector,
    /// MTU.
    pub mtu: Mtu,
    /// TClass.
    pub tclass: u8,
    /// P_Key.
    pub pkey: u16,
    /// RateSelector.
    pub rate_selector: Selector,
    /// Rate.
    pub rate: Rate,
    /// PacketLifeTimeSelector.
    pub packet_lifetime_selector: Selector,
    /// PacketLifeTime.
    pub packet_lifetime: PacketLifetime,
    /// SL, 4 bits.
    pub sl: u8,
    /// FlowLabel, 20 bits.
    pub flow_label: u32,
    /// HopLimit.
    pub hop_limit: u8,
    /// Scope, 4 bits.
    pub scope: u8,
    /// JoinState, 4 bits (unknown bits kept).
    pub join_state: JoinState,
    /// ProxyJoin.
    pub proxy_join: bool,
}

impl Repr {
    /// Decodes the record; reserved bits are ignored.
    pub fn parse(r: &Record) -> Repr {
        let (mtu_selector, mtu) = split_selector_byte(r.mtu);
        let (rate_selector, rate) = split_selector_byte(r.rate);
        let (packet_lifetime_selector, packet_lifetime) = split_selector_byte(r.packet_lifetime);
        let w = r.sl_flow_hop.get();
        Repr {
            mgid: r.mgid,
            port_gid: r.port_gid,
            qkey: r.qkey.get(),
            mlid: r.mlid.get(),
            mtu_selector,
            mtu: Mtu::from_raw(mtu),
            tclass: r.tclass,
            pkey: r.pkey.get(),
            rate_selector,
            rate: Rate::from_raw(rate),
            packet_lifetime_selector,
            packet_lifetime: PacketLifetime(packet_lifetime),
            sl: bits::get(w, 28, 4) as u8,
            flow_label: bits::get(w, 8, 20),
            hop_limit: bits::get(w, 0, 8) as u8,
            scope: r.scope_join_state >> 4,
            join_state: JoinState::from_bits_retain(r.scope_join_state & 0xf),
            proxy_join: r.proxy_join & 0x80 != 0,
        }
    }

    /// Writes the record; fails if a field exceeds its width.
    pub fn emit(&self, r: &mut Record) -> Result<()> {
        bits::fits("sl", self.sl as u32, 4)?;
        bits::fits("flow_label", self.flow_label, 20)?;
        bits::fits("scope", self.scope as u32, 4)?;
        bits::fits("join_state", self.join_state.bits() as u32, 4)?;
        *r = Record {
            mgid: self.mgid,
            port_gid: self.port_gid,
            qkey: U32::new(self.qkey),
            mlid: U16::new(self.mlid),
            mtu: join_selector_byte("mtu", self.mtu_selector, self.mtu.raw())?,
            tclass: self.tclass,
            pkey: U16::new(self.pkey),
            rate: join_selector_byte("rate", self.rate_selector, self.rate.raw())?,
            packet_lifetime: join_selector_byte(
                "packet_lifetime",
                self.packet_lifetime_selector,
                self.packet_lifetime.0,
            )?,
            sl_flow_hop: U32::new(((self.sl as u32) << 28) | (self.flow_label << 8) | self.hop_limit as u32),
            scope_join_state: (self.scope << 4) | self.join_state.bits(),
            proxy_join: (self.proxy_join as u8) << 7,
            reserved: [0; 2],
        };
        Ok(())
    }
}

fixed_layout_attribute!(AttributeId::McMemberRecord);

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("mgid", Value::Gid(self.mgid));
        v.field("port_gid", Value::Gid(self.port_gid));
        v.field("qkey", Value::Hex { value: self.qkey as u64, bits: 32 });
        v.field("mlid", Value::Hex { value: self.mlid as u64, bits: 16 });
        v.field("mtu_selector", code(self.mtu_selector.raw() as u64, self.mtu_selector.name()));
        v.field("mtu", code(self.mtu.raw() as u64, self.mtu.name()));
        v.field("tclass", Value::Uint(self.tclass as u64));
        v.field("pkey", Value::Hex { value: self.pkey as u64, bits: 16 });
        v.field("rate_selector", code(self.rate_selector.raw() as u64, self.rate_selector.name()));
        v.field("rate", code(self.rate.raw() as u64, self.rate.name()));
        v.field(
            "packet_lifetime_selector",
            code(self.packet_lifetime_selector.raw() as u64, self.packet_lifetime_selector.name()),
        );
        v.field("packet_lifetime", Value::Uint(self.packet_lifetime.0 as u64));
        v.field("sl", Value::Uint(self.sl as u64));
        v.field("flow_label", Value::Hex { value: self.flow_label as u64, bits: 20 });
        v.field("hop_limit", Value::Uint(self.hop_limit as u64));
        v.field("scope", Value::Uint(self.scope as u64));
        v.field("join_state", Value::Hex { value: self.join_state.bits() as u64, bits: 4 });
        v.field("proxy_join", Value::Bool(self.proxy_join));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SaAttribute;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn canonical_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), LEN)) {
            let mut buf = [0u8; LEN];
            buf.copy_from_slice(&bytes);
            buf[49] &= 0x80; // reserved bits after ProxyJoin
            buf[50..].fill(0);
            let repr = Repr::decode(&buf).unwrap();
            let mut out = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut out), Ok(LEN));
            prop_assert_eq!(&out[..], &buf[..]);
        }
    }

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<Record>(), LEN);
    }
}
