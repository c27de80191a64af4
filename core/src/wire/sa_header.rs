//! The 20-byte SA class header (IBA 15.2.1.1) that follows the RMPP header in every SA MAD.

use zerocopy::byteorder::big_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::describe::{Describe, Value, Visitor};
use super::error::{check_len, Error, Layer, Result};

/// Length of the SA header.
pub const LEN: usize = 20;

/// The SA header as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Header {
    /// SM_Key.
    pub sm_key: U64,
    /// AttributeOffset, in 8-byte words.
    pub attribute_offset: U16,
    /// Reserved.
    pub reserved: U16,
    /// ComponentMask.
    pub component_mask: U64,
}

/// Printed as its [`Repr`].
#[cfg(feature = "defmt")]
impl defmt::Format for Header {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{}", Repr::parse(self))
    }
}

impl Header {
    /// An all-zero header.
    pub const ZERO: Header = Header {
        sm_key: U64::ZERO,
        attribute_offset: U16::ZERO,
        reserved: U16::ZERO,
        component_mask: U64::ZERO,
    };

    /// The SA header at the start of `bytes` (i.e. at MAD offset 36).
    pub fn view(bytes: &[u8]) -> Result<&Header> {
        check_len(Layer::SaHeader, LEN, bytes.len())?;
        Header::ref_from_prefix(bytes).map(|(h, _)| h).map_err(|_| Error::Truncated {
            layer: Layer::SaHeader,
            needed: LEN,
            available: bytes.len(),
        })
    }
}

/// The SA header's fields, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// SM_Key (0 for ordinary clients).
    pub sm_key: u64,
    /// AttributeOffset in 8-byte words: the record stride of a table response.
    pub attribute_offset: u16,
    /// ComponentMask: which attribute fields a query constrains. Each attribute has a typed mask
    /// (e.g. [`super::PathRecordMask`]) built from these bits.
    pub component_mask: u64,
}

impl Repr {
    /// Decodes the header.
    pub fn parse(h: &Header) -> Repr {
        Repr {
            sm_key: h.sm_key.get(),
            attribute_offset: h.attribute_offset.get(),
            component_mask: h.component_mask.get(),
        }
    }

    /// Writes the header; the reserved field is zeroed.
    pub fn emit(&self, h: &mut Header) {
        *h = Header {
            sm_key: U64::new(self.sm_key),
            attribute_offset: U16::new(self.attribute_offset),
            reserved: U16::ZERO,
            component_mask: U64::new(self.component_mask),
        };
    }

    /// AttributeOffset in bytes.
    pub fn attribute_offset_bytes(&self) -> usize {
        self.attribute_offset as usize * 8
    }
}

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("sm_key", Value::Hex { value: self.sm_key, bits: 64 });
        v.field("attribute_offset", Value::Uint(self.attribute_offset as u64));
        v.field("component_mask", Value::Hex { value: self.component_mask, bits: 64 });
    }
}
