//! ClassPortInfo (IBA 13.4.8.1): what a class manager supports and how long it takes to answer.
//! The SA's RespTimeValue sets every client timeout.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::bits;
use super::describe::{Describe, Value, Visitor};
use super::error::Result;
use super::gid::Gid;
use crate::time::Duration;

/// Length of ClassPortInfo.
pub const LEN: usize = 72;

/// ClassPortInfo as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// BaseVersion.
    pub base_version: u8,
    /// ClassVersion.
    pub class_version: u8,
    /// CapabilityMask.
    pub capability_mask: U16,
    /// CapabilityMask2 (27) | RespTimeValue (5).
    pub capability_mask2_resp_time: U32,
    /// RedirectGID.
    pub redirect_gid: Gid,
    /// RedirectTC (8) | RedirectSL (4) | RedirectFL (20).
    pub redirect_tc_sl_fl: U32,
    /// RedirectLID.
    pub redirect_lid: U16,
    /// RedirectP_Key.
    pub redirect_pkey: U16,
    /// Reserved (8) | RedirectQP (24).
    pub redirect_qp: U32,
    /// RedirectQ_Key.
    pub redirect_qkey: U32,
    /// TrapGID.
    pub trap_gid: Gid,
    /// TrapTC (8) | TrapSL (4) | TrapFL (20).
    pub trap_tc_sl_fl: U32,
    /// TrapLID.
    pub trap_lid: U16,
    /// TrapP_Key.
    pub trap_pkey: U16,
    /// TrapHL (8) | TrapQP (24).
    pub trap_hl_qp: U32,
    /// TrapQ_Key.
    pub trap_qkey: U32,
}

bitflags! {
    /// CapabilityMask bits: the generic ones (IBA 13.4.8.1) and the SA's (IBA 15.2.5.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ClassCapabilities: u16 {
        /// The class manager sends traps.
        const TRAP = 0x0001;
        /// The class manager supports Get/Set of Notice.
        const GET_SET_NOTICE = 0x0002;
        /// CapabilityMask2 is valid.
        const CAPABILITY_MASK2 = 0x0004;
        /// SA: optional records are supported.
        const OPTIONAL_RECORDS = 0x0100;
        /// SA: UD multicast is supported.
        const UD_MULTICAST = 0x0200;
        /// SA: multicast with MGID, P_Key or Q_Key other than full membership supported.
        const MULTICAST_NOT_FULL_MEMBER = 0x0400;
        /// SA: MultiPathRecord is supported.
        const MULTIPATH = 0x0800;
        /// SA: reinitialisation is supported.
        const REINIT = 0x1000;
        /// SA: multicast GID with a non-zero Scope bit is supported.
        const MULTICAST_SCOPE = 0x2000;
        /// SA: PathRecord QoS (QosClass, ServiceID) is supported.
        const QOS = 0x4000;
        /// SA: Trace (GetTraceTable) is supported.
        const TRACE = 0x8000;
    }
}

defmt_bits!(ClassCapabilities);

/// ClassPortInfo, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// BaseVersion.
    pub base_version: u8,
    /// ClassVersion.
    pub class_version: u8,
    /// CapabilityMask (unknown bits kept).
    pub capability_mask: u16,
    /// CapabilityMask2, 27 bits.
    pub capability_mask2: u32,
    /// RespTimeValue, 5 bits: the manager answers within 4.096 µs × 2^value.
    pub resp_time_value: u8,
    /// RedirectGID.
    pub redirect_gid: Gid,
    /// RedirectTC.
    pub redirect_tc: u8,
    /// RedirectSL, 4 bits.
    pub redirect_sl: u8,
    /// RedirectFL, 20 bits.
    pub redirect_fl: u32,
    /// RedirectLID.
    pub redirect_lid: u16,
    /// RedirectP_Key.
    pub redirect_pkey: u16,
    /// RedirectQP, 24 bits.
    pub redirect_qp: u32,
    /// RedirectQ_Key.
    pub redirect_qkey: u32,
    /// TrapGID.
    pub trap_gid: Gid,
    /// TrapTC.
    pub trap_tc: u8,
    /// TrapSL, 4 bits.
    pub trap_sl: u8,
    /// TrapFL, 20 bits.
    pub trap_fl: u32,
    /// TrapLID.
    pub trap_lid: u16,
    /// TrapP_Key.
    pub trap_pkey: u16,
    /// TrapHL.
    pub trap_hl: u8,
    /// TrapQP, 24 bits.
    pub trap_qp: u32,
    /// TrapQ_Key.
    pub trap_qkey: u32,
}

impl Repr {
    /// The named capability bits.
    pub fn capabilities(&self) -> ClassCapabilities {
        ClassCapabilities::from_bits_retain(self.capability_mask)
    }

    /// The response time RespTimeValue promises.
    pub fn resp_time(&self) -> Duration {
        Duration::from_ib_time_exponent(self.resp_time_value)
    }

    /// Decodes the attribute; reserved bits are ignored.
    pub fn parse(r: &Record) -> Repr {
        let cm2 = r.capability_mask2_resp_time.get();
        let rd = r.redirect_tc_sl_fl.get();
        let tp = r.trap_tc_sl_fl.get();
        let hq = r.trap_hl_qp.get();
        Repr {
            base_version: r.base_version,
            class_version: r.class_version,
            capability_mask: r.capability_mask.get(),
            capability_mask2: bits::get(cm2, 5, 27),
            resp_time_value: bits::get(cm2, 0, 5) as u8,
            redirect_gid: r.redirect_gid,
            redirect_tc: bits::get(rd, 24, 8) as u8,
            redirect_sl: bits::get(rd, 20, 4) as u8,
            redirect_fl: bits::get(rd, 0, 20),
            redirect_lid: r.redirect_lid.get(),
            redirect_pkey: r.redirect_pkey.get(),
            redirect_qp: bits::get(r.redirect_qp.get(), 0, 24),
            redirect_qkey: r.redirect_qkey.get(),
            trap_gid: r.trap_gid,
            trap_tc: bits::get(tp, 24, 8) as u8,
            trap_sl: bits::get(tp, 20, 4) as u8,
            trap_fl: bits::get(tp, 0, 20),
            trap_lid: r.trap_lid.get(),
            trap_pkey: r.trap_pkey.get(),
            trap_hl: bits::get(hq, 24, 8) as u8,
            trap_qp: bits::get(hq, 0, 24),
            trap_qkey: r.trap_qkey.get(),
        }
    }

    /// Writes the attribute; fails if a field exceeds its width.
    pub fn emit(&self, r: &mut Record) -> Result<()> {
        bits::fits("capability_mask2", self.capability_mask2, 27)?;
        bits::fits("resp_time_value", self.resp_time_value as u32, 5)?;
        bits::fits("redirect_sl", self.redirect_sl as u32, 4)?;
        bits::fits("redirect_fl", self.redirect_fl, 20)?;
        bits::fits("redirect_qp", self.redirect_qp, 24)?;
        bits::fits("trap_sl", self.trap_sl as u32, 4)?;
        bits::fits("trap_fl", self.trap_fl, 20)?;
        bits::fits("trap_qp", self.trap_qp, 24)?;
        *r = Record {
            base_version: self.base_version,
            class_version: self.class_version,
            capability_mask: U16::new(self.capability_mask),
            capability_mask2_resp_time: U32::new((self.capability_mask2 << 5) | self.resp_time_value as u32),
            redirect_gid: self.redirect_gid,
            redirect_tc_sl_fl: U32::new(
                ((self.redirect_tc as u32) << 24) | ((self.redirect_sl as u32) << 20) | self.redirect_fl,
            ),
            redirect_lid: U16::new(self.redirect_lid),
            redirect_pkey: U16::new(self.redirect_pkey),
            redirect_qp: U32::new(self.redirect_qp),
            redirect_qkey: U32::new(self.redirect_qkey),
            trap_gid: self.trap_gid,
            trap_tc_sl_fl: U32::new(
                ((self.trap_tc as u32) << 24) | ((self.trap_sl as u32) << 20) | self.trap_fl,
            ),
            trap_lid: U16::new(self.trap_lid),
            trap_pkey: U16::new(self.trap_pkey),
            trap_hl_qp: U32::new(((self.trap_hl as u32) << 24) | self.trap_qp),
            trap_qkey: U32::new(self.trap_qkey),
        };
        Ok(())
    }
}

fixed_layout_attribute!(AttributeId::ClassPortInfo);

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("base_version", Value::Uint(self.base_version as u64));
        v.field("class_version", Value::Uint(self.class_version as u64));
        v.field("capability_mask", Value::Hex { value: self.capability_mask as u64, bits: 16 });
        v.field("capability_mask2", Value::Hex { value: self.capability_mask2 as u64, bits: 27 });
        v.field("resp_time_value", Value::Uint(self.resp_time_value as u64));
        v.field("redirect_gid", Value::Gid(self.redirect_gid));
        v.field("redirect_tc", Value::Uint(self.redirect_tc as u64));
        v.field("redirect_sl", Value::Uint(self.redirect_sl as u64));
        v.field("redirect_fl", Value::Hex { value: self.redirect_fl as u64, bits: 20 });
        v.field("redirect_lid", Value::Uint(self.redirect_lid as u64));
        v.field("redirect_pkey", Value::Hex { value: self.redirect_pkey as u64, bits: 16 });
        v.field("redirect_qp", Value::Hex { value: self.redirect_qp as u64, bits: 24 });
        v.field("redirect_qkey", Value::Hex { value: self.redirect_qkey as u64, bits: 32 });
        v.field("trap_gid", Value::Gid(self.trap_gid));
        v.field("trap_tc", Value::Uint(self.trap_tc as u64));
        v.field("trap_sl", Value::Uint(self.trap_sl as u64));
        v.field("trap_fl", Value::Hex { value: self.trap_fl as u64, bits: 20 });
        v.field("trap_lid", Value::Uint(self.trap_lid as u64));
        v.field("trap_pkey", Value::Hex { value: self.trap_pkey as u64, bits: 16 });
        v.field("trap_hl", Value::Uint(self.trap_hl as u64));
        v.field("trap_qp", Value::Hex { value: self.trap_qp as u64, bits: 24 });
        v.field("trap_qkey", Value::Hex { value: self.trap_qkey as u64, bits: 32 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SaAttribute;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(
            a in (any::<u8>(), any::<u8>(), any::<u16>(), 0u32..1 << 27, 0u8..32, any::<[u8; 16]>(), any::<u8>(), 0u8..16),
            b in (0u32..1 << 20, any::<u16>(), any::<u16>(), 0u32..1 << 24, any::<u32>(), any::<[u8; 16]>(), any::<u8>(), 0u8..16),
            c in (0u32..1 << 20, any::<u16>(), any::<u16>(), any::<u8>(), 0u32..1 << 24, any::<u32>()),
        ) {
            let repr = Repr {
                base_version: a.0, class_version: a.1, capability_mask: a.2, capability_mask2: a.3,
                resp_time_value: a.4, redirect_gid: Gid(a.5), redirect_tc: a.6, redirect_sl: a.7,
                redirect_fl: b.0, redirect_lid: b.1, redirect_pkey: b.2, redirect_qp: b.3,
                redirect_qkey: b.4, trap_gid: Gid(b.5), trap_tc: b.6, trap_sl: b.7,
                trap_fl: c.0, trap_lid: c.1, trap_pkey: c.2, trap_hl: c.3, trap_qp: c.4, trap_qkey: c.5,
            };
            let mut buf = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut buf), Ok(LEN));
            prop_assert_eq!(Repr::decode(&buf), Ok(repr));
        }
    }

    #[test]
    fn layout_and_resp_time() {
        assert_eq!(core::mem::size_of::<Record>(), LEN);
        let mut buf = [0u8; LEN];
        buf[7] = 18; // RespTimeValue 18 in the low five bits of the CapabilityMask2 word
        let r = Repr::decode(&buf).unwrap();
        assert_eq!(r.resp_time_value, 18);
        assert_eq!(r.resp_time().as_micros(), 1_073_741);
    }
}
