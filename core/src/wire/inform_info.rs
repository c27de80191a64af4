//! InformInfo (IBA 13.4.8.3): a subscription to notices, sent to the SA with Set.

use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::bits;
use super::describe::{code, Describe, Value, Visitor};
use super::error::Result;
use super::gid::Gid;
use super::notice::{u24_bytes, u24_get, NoticeType, Origin, ProducerType, TrapNumber};

/// Length of InformInfo.
pub const LEN: usize = 36;
/// LIDRangeBegin value meaning "every LID".
pub const ALL_LIDS: u16 = 0xffff;

/// InformInfo as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// GID of the port to watch (zero: use the LID range).
    pub gid: Gid,
    /// LIDRangeBegin (0xFFFF: all).
    pub lid_range_begin: U16,
    /// LIDRangeEnd.
    pub lid_range_end: U16,
    /// Reserved.
    pub reserved1: U16,
    /// IsGeneric.
    pub is_generic: u8,
    /// Subscribe (1) or unsubscribe (0).
    pub subscribe: u8,
    /// Type.
    pub notice_type: U16,
    /// TrapNumber or DeviceID.
    pub trap_number_or_device_id: U16,
    /// QPN (24) | Reserved (3) | RespTimeValue (5).
    pub qpn_resp_time: U32,
    /// Reserved.
    pub reserved2: u8,
    /// ProducerType or VendorID, 24 bits.
    pub producer_or_vendor: [u8; 3],
}

/// InformInfo, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// GID of the port to watch.
    pub gid: Gid,
    /// LIDRangeBegin.
    pub lid_range_begin: u16,
    /// LIDRangeEnd.
    pub lid_range_end: u16,
    /// Subscribe (true) or unsubscribe (false). Any non-zero byte reads as true.
    pub subscribe: bool,
    /// Type of notices wanted.
    pub notice_type: NoticeType,
    /// Generic (trap number, producer) or vendor (device, vendor) form.
    pub origin: Origin,
    /// The subscriber's QP for Reports, 24 bits.
    pub qpn: u32,
    /// The subscriber's response time, 5 bits.
    pub resp_time_value: u8,
}

impl Repr {
    /// A subscription to generic trap `trap` from any producer and LID, delivered to QP1.
    pub fn generic_subscription(trap: TrapNumber, subscribe: bool) -> Repr {
        Repr {
            gid: Gid::ZERO,
            lid_range_begin: ALL_LIDS,
            lid_range_end: 0,
            subscribe,
            notice_type: NoticeType::All,
            origin: Origin::Generic { trap_number: trap, producer_type: ProducerType::All },
            qpn: 1,
            resp_time_value: 18,
        }
    }

    /// Decodes the attribute; reserved bits are ignored.
    pub fn parse(r: &Record) -> Repr {
        let w = r.qpn_resp_time.get();
        Repr {
            gid: r.gid,
            lid_range_begin: r.lid_range_begin.get(),
            lid_range_end: r.lid_range_end.get(),
            subscribe: r.subscribe != 0,
            notice_type: NoticeType::from_raw(r.notice_type.get()),
            origin: Origin::from_fields(
                r.is_generic != 0,
                r.trap_number_or_device_id.get(),
                u24_get(&r.producer_or_vendor),
            ),
            qpn: bits::get(w, 8, 24),
            resp_time_value: bits::get(w, 0, 5) as u8,
        }
    }

    /// Writes the attribute; fails if QPN, RespTimeValue or the producer overflow.
    pub fn emit(&self, r: &mut Record) -> Result<()> {
        bits::fits("qpn", self.qpn, 24)?;
        bits::fits("resp_time_value", self.resp_time_value as u32, 5)?;
        *r = Record {
            gid: self.gid,
            lid_range_begin: U16::new(self.lid_range_begin),
            lid_range_end: U16::new(self.lid_range_end),
            reserved1: U16::ZERO,
            is_generic: matches!(self.origin, Origin::Generic { .. }) as u8,
            subscribe: self.subscribe as u8,
            notice_type: U16::new(self.notice_type.raw()),
            trap_number_or_device_id: U16::new(self.origin.number()),
            qpn_resp_time: U32::new((self.qpn << 8) | self.resp_time_value as u32),
            reserved2: 0,
            producer_or_vendor: u24_bytes(self.origin.producer()?),
        };
        Ok(())
    }
}

fixed_layout_attribute!(AttributeId::InformInfo);

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("gid", Value::Gid(self.gid));
        v.field("lid_range_begin", Value::Uint(self.lid_range_begin as u64));
        v.field("lid_range_end", Value::Uint(self.lid_range_end as u64));
        v.field("is_generic", Value::Bool(matches!(self.origin, Origin::Generic { .. })));
        v.field("subscribe", Value::Bool(self.subscribe));
        v.field("notice_type", code(self.notice_type.raw() as u64, self.notice_type.name()));
        self.origin.describe(v);
        v.field("qpn", Value::Hex { value: self.qpn as u64, bits: 24 });
        v.field("resp_time_value", Value::Uint(self.resp_time_value as u64));
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
            gid in any::<[u8; 16]>(), b in any::<u16>(), e in any::<u16>(), sub in any::<bool>(), t in any::<u16>(),
            generic in any::<bool>(), n in any::<u16>(), p in 0u32..1 << 24, qpn in 0u32..1 << 24, rtv in 0u8..32,
        ) {
            let repr = Repr {
                gid: Gid(gid), lid_range_begin: b, lid_range_end: e, subscribe: sub,
                notice_type: NoticeType::from_raw(t), origin: Origin::from_fields(generic, n, p), qpn, resp_time_value: rtv,
            };
            let mut buf = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut buf), Ok(LEN));
            prop_assert_eq!(Repr::decode(&buf), Ok(repr));
        }
    }

    #[test]
    fn subscription_bytes() {
        let mut buf = [0u8; LEN];
        Repr::generic_subscription(TrapNumber::GidOutOfService, true).encode(&mut buf).unwrap();
        assert_eq!(&buf[16..18], &[0xff, 0xff]); // LIDRangeBegin: all
        assert_eq!(&buf[22..28], &[1, 1, 0xff, 0xff, 0, 65]); // generic, subscribe, type all, trap 65
        assert_eq!(&buf[28..32], &[0, 0, 1, 18]); // QPN 1, RespTimeValue 18
        assert_eq!(&buf[33..36], &[0xff, 0xff, 0xff]); // any producer
        assert_eq!(core::mem::size_of::<Record>(), LEN);
    }
}
