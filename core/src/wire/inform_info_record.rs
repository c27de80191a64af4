//! InformInfoRecord (IBA 15.2.5.12): a subscription as the SA lists it, with its subscriber.

use zerocopy::byteorder::big_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::describe::{Describe, Value, Visitor};
use super::error::Result;
use super::gid::Gid;
use super::inform_info::{Record as InformInfo, Repr as InformInfoRepr};
use super::record::{view, view_mut, SaAttribute};

/// Length of an InformInfoRecord.
pub const LEN: usize = 60;

/// An InformInfoRecord as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// SubscriberGID.
    pub subscriber_gid: Gid,
    /// Enum: distinguishes several subscriptions of one subscriber.
    pub enumeration: U16,
    /// Reserved.
    pub reserved: [u8; 6],
    /// The subscription.
    pub inform_info: InformInfo,
}

/// Printed as the fields of its [`Repr`].
#[cfg(feature = "defmt")]
impl defmt::Format for Record {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Repr {{ subscriber_gid: {}, enumeration: {=u16}, inform_info: {} }}",
            self.subscriber_gid,
            self.enumeration.get(),
            InformInfoRepr::parse(&self.inform_info)
        )
    }
}

/// An InformInfoRecord, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// SubscriberGID.
    pub subscriber_gid: Gid,
    /// Enum.
    pub enumeration: u16,
    /// The subscription.
    pub inform_info: InformInfoRepr,
}

impl SaAttribute for Repr {
    const ID: AttributeId = AttributeId::InformInfoRecord;
    const LEN: usize = LEN;

    fn decode(bytes: &[u8]) -> Result<Self> {
        let r = view::<Record>(Self::ID, bytes)?;
        Ok(Repr {
            subscriber_gid: r.subscriber_gid,
            enumeration: r.enumeration.get(),
            inform_info: InformInfoRepr::parse(&r.inform_info),
        })
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize> {
        let r = view_mut::<Record>(out)?;
        r.subscriber_gid = self.subscriber_gid;
        r.enumeration.set(self.enumeration);
        r.reserved = [0; 6];
        self.inform_info.emit(&mut r.inform_info)?;
        Ok(LEN)
    }
}

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("subscriber_gid", Value::Gid(self.subscriber_gid));
        v.field("enum", Value::Uint(self.enumeration as u64));
        v.begin("inform_info");
        self.inform_info.describe(v);
        v.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TrapNumber;

    #[test]
    fn round_trip() {
        let repr = Repr {
            subscriber_gid: Gid::new(0xfe80 << 48, 7),
            enumeration: 3,
            inform_info: InformInfoRepr::generic_subscription(TrapNumber::GidInService, true),
        };
        let mut buf = [0u8; LEN];
        assert_eq!(repr.encode(&mut buf), Ok(LEN));
        assert_eq!(Repr::decode(&buf), Ok(repr));
        assert_eq!(core::mem::size_of::<Record>(), LEN);
    }
}
