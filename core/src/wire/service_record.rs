//! ServiceRecord (IBA 15.2.5.14): a service registered with the SA under a GID and P_Key.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::describe::{Describe, Value, Visitor};
use super::error::Result;
use super::gid::Gid;

/// Length of a ServiceRecord.
pub const LEN: usize = 176;
/// Length of ServiceName.
pub const NAME_LEN: usize = 64;

/// A ServiceRecord as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// ServiceID.
    pub service_id: U64,
    /// ServiceGID.
    pub service_gid: Gid,
    /// ServiceP_Key.
    pub service_pkey: U16,
    /// Reserved.
    pub reserved: U16,
    /// ServiceLease, seconds (0xFFFFFFFF: infinite).
    pub service_lease: U32,
    /// ServiceKey.
    pub service_key: [u8; 16],
    /// ServiceName: UTF-8, NUL-padded.
    pub service_name: [u8; NAME_LEN],
    /// ServiceData8.
    pub service_data8: [u8; 16],
    /// ServiceData16.
    pub service_data16: [U16; 8],
    /// ServiceData32.
    pub service_data32: [U32; 4],
    /// ServiceData64.
    pub service_data64: [U64; 2],
}

bitflags! {
    /// ServiceRecord ComponentMask bits for the named fields. Each ServiceData element has a bit
    /// of its own: [`ServiceRecordMask::data8`] and friends compute them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ServiceRecordMask: u64 {
        /// ServiceID.
        const SERVICE_ID = 1 << 0;
        /// ServiceGID.
        const SERVICE_GID = 1 << 1;
        /// ServiceP_Key.
        const SERVICE_PKEY = 1 << 2;
        /// ServiceLease.
        const SERVICE_LEASE = 1 << 4;
        /// ServiceKey.
        const SERVICE_KEY = 1 << 5;
        /// ServiceName.
        const SERVICE_NAME = 1 << 6;
        const _ = !0;
    }
}

impl ServiceRecordMask {
    /// The bit for ServiceData8 element `i` (0..16).
    pub const fn data8(i: u32) -> ServiceRecordMask {
        ServiceRecordMask::from_bits_retain(1 << (7 + (i & 15)))
    }
    /// The bit for ServiceData16 element `i` (0..8).
    pub const fn data16(i: u32) -> ServiceRecordMask {
        ServiceRecordMask::from_bits_retain(1 << (23 + (i & 7)))
    }
    /// The bit for ServiceData32 element `i` (0..4).
    pub const fn data32(i: u32) -> ServiceRecordMask {
        ServiceRecordMask::from_bits_retain(1 << (31 + (i & 3)))
    }
    /// The bit for ServiceData64 element `i` (0..2).
    pub const fn data64(i: u32) -> ServiceRecordMask {
        ServiceRecordMask::from_bits_retain(1 << (35 + (i & 1)))
    }
}

defmt_bits!(ServiceRecordMask);

/// A ServiceRecord, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// ServiceID.
    pub service_id: u64,
    /// ServiceGID.
    pub service_gid: Gid,
    /// ServiceP_Key.
    pub service_pkey: u16,
    /// ServiceLease in seconds.
    pub service_lease: u32,
    /// ServiceKey.
    pub service_key: [u8; 16],
    /// ServiceName, as on the wire.
    pub service_name: [u8; NAME_LEN],
    /// ServiceData8.
    pub service_data8: [u8; 16],
    /// ServiceData16.
    pub service_data16: [u16; 8],
    /// ServiceData32.
    pub service_data32: [u32; 4],
    /// ServiceData64.
    pub service_data64: [u64; 2],
}

impl Repr {
    /// ServiceName up to its first NUL.
    pub fn name(&self) -> &[u8] {
        let end = self.service_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        &self.service_name[..end]
    }

    /// Decodes the record; reserved bits are ignored.
    pub fn parse(r: &Record) -> Repr {
        Repr {
            service_id: r.service_id.get(),
            service_gid: r.service_gid,
            service_pkey: r.service_pkey.get(),
            service_lease: r.service_lease.get(),
            service_key: r.service_key,
            service_name: r.service_name,
            service_data8: r.service_data8,
            service_data16: r.service_data16.map(|v| v.get()),
            service_data32: r.service_data32.map(|v| v.get()),
            service_data64: r.service_data64.map(|v| v.get()),
        }
    }

    /// Writes the record (every bit pattern of every field fits: it cannot fail).
    pub fn emit(&self, r: &mut Record) -> Result<()> {
        *r = Record {
            service_id: U64::new(self.service_id),
            service_gid: self.service_gid,
            service_pkey: U16::new(self.service_pkey),
            reserved: U16::ZERO,
            service_lease: U32::new(self.service_lease),
            service_key: self.service_key,
            service_name: self.service_name,
            service_data8: self.service_data8,
            service_data16: self.service_data16.map(U16::new),
            service_data32: self.service_data32.map(U32::new),
            service_data64: self.service_data64.map(U64::new),
        };
        Ok(())
    }
}

fixed_layout_attribute!(AttributeId::ServiceRecord);

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("service_id", Value::Hex { value: self.service_id, bits: 64 });
        v.field("service_gid", Value::Gid(self.service_gid));
        v.field("service_pkey", Value::Hex { value: self.service_pkey as u64, bits: 16 });
        v.field("service_lease", Value::Uint(self.service_lease as u64));
        v.field("service_key", Value::Bytes(&self.service_key));
        v.field("service_name", Value::Text(self.name()));
        v.field("service_data8", Value::Bytes(&self.service_data8));
        for d in self.service_data16 {
            v.field("service_data16", Value::Hex { value: d as u64, bits: 16 });
        }
        for d in self.service_data32 {
            v.field("service_data32", Value::Hex { value: d as u64, bits: 32 });
        }
        for d in self.service_data64 {
            v.field("service_data64", Value::Hex { value: d, bits: 64 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SaAttribute;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), LEN)) {
            // Every bit pattern with a zero reserved field is canonical.
            let mut buf = [0u8; LEN];
            buf.copy_from_slice(&bytes);
            buf[26..28].fill(0);
            let repr = Repr::decode(&buf).unwrap();
            let mut out = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut out), Ok(LEN));
            prop_assert_eq!(&out[..], &buf[..]);
            prop_assert_eq!(Repr::decode(&out), Ok(repr));
        }
    }

    #[test]
    fn layout_and_mask() {
        assert_eq!(core::mem::size_of::<Record>(), LEN);
        assert_eq!(ServiceRecordMask::data8(0).bits(), 1 << 7);
        assert_eq!(ServiceRecordMask::data16(7).bits(), 1 << 30);
        assert_eq!(ServiceRecordMask::data64(1).bits(), 1 << 36);
    }
}
