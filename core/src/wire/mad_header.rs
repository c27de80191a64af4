//! The 24-byte MAD common header (IBA 13.4.3), shared by every management class.

use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::describe::{code, Describe, Value, Visitor};
use super::error::{check_len, Error, Layer, Result};
use super::method::{Method, MgmtClass, MAD_BASE_VERSION};
use super::status::MadStatus;

/// Length of the common header.
pub const LEN: usize = 24;

/// The common header as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Header {
    /// BaseVersion (1).
    pub base_version: u8,
    /// MgmtClass.
    pub mgmt_class: u8,
    /// ClassVersion.
    pub class_version: u8,
    /// Method, response bit included.
    pub method: u8,
    /// Status.
    pub status: U16,
    /// ClassSpecific.
    pub class_specific: U16,
    /// TransactionID.
    pub transaction_id: U64,
    /// AttributeID.
    pub attribute_id: U16,
    /// Reserved.
    pub reserved: U16,
    /// AttributeModifier.
    pub attribute_modifier: U32,
}

/// The fields as on the wire, Method and AttributeID by name (no version check: a header
/// [`Repr::parse`] refuses still prints).
#[cfg(feature = "defmt")]
impl defmt::Format for Header {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "MadHeader {{ base_version: {=u8}, mgmt_class: {}, class_version: {=u8}, method: {}, \
             status: {=u16:#x}, class_specific: {=u16:#x}, transaction_id: {=u64:#x}, attribute_id: {}, \
             attribute_modifier: {=u32:#x} }}",
            self.base_version,
            MgmtClass::from_raw(self.mgmt_class),
            self.class_version,
            self.method(),
            self.status.get(),
            self.class_specific.get(),
            self.transaction_id.get(),
            self.attribute_id(),
            self.attribute_modifier.get()
        )
    }
}

impl Header {
    /// An all-zero header.
    pub const ZERO: Header = Header {
        base_version: 0,
        mgmt_class: 0,
        class_version: 0,
        method: 0,
        status: U16::ZERO,
        class_specific: U16::ZERO,
        transaction_id: U64::ZERO,
        attribute_id: U16::ZERO,
        reserved: U16::ZERO,
        attribute_modifier: U32::ZERO,
    };

    /// The header at the start of `bytes`.
    pub fn view(bytes: &[u8]) -> Result<&Header> {
        check_len(Layer::MadHeader, LEN, bytes.len())?;
        Header::ref_from_prefix(bytes).map(|(h, _)| h).map_err(|_| Error::Truncated {
            layer: Layer::MadHeader,
            needed: LEN,
            available: bytes.len(),
        })
    }

    /// The Method field, typed.
    pub fn method(&self) -> Method {
        Method::from_raw(self.method)
    }

    /// The AttributeID field, typed.
    pub fn attribute_id(&self) -> AttributeId {
        AttributeId::from_raw(self.attribute_id.get())
    }
}

/// The common header's fields, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// Management class.
    pub mgmt_class: MgmtClass,
    /// Class version.
    pub class_version: u8,
    /// Method, response bit included.
    pub method: Method,
    /// Status.
    pub status: MadStatus,
    /// Class-specific field (unused by SA; kept for round trips).
    pub class_specific: u16,
    /// Transaction identifier.
    pub transaction_id: u64,
    /// Attribute identifier.
    pub attribute_id: AttributeId,
    /// Attribute modifier.
    pub attribute_modifier: u32,
}

impl Repr {
    /// Decodes a header; fails on a base version other than 1.
    pub fn parse(header: &Header) -> Result<Repr> {
        if header.base_version != MAD_BASE_VERSION {
            return Err(Error::UnsupportedBaseVersion(header.base_version));
        }
        Ok(Repr {
            mgmt_class: MgmtClass::from_raw(header.mgmt_class),
            class_version: header.class_version,
            method: header.method(),
            status: MadStatus(header.status.get()),
            class_specific: header.class_specific.get(),
            transaction_id: header.transaction_id.get(),
            attribute_id: header.attribute_id(),
            attribute_modifier: header.attribute_modifier.get(),
        })
    }

    /// Writes the header; the reserved field is zeroed.
    pub fn emit(&self, header: &mut Header) {
        *header = Header {
            base_version: MAD_BASE_VERSION,
            mgmt_class: self.mgmt_class.raw(),
            class_version: self.class_version,
            method: self.method.raw(),
            status: U16::new(self.status.0),
            class_specific: U16::new(self.class_specific),
            transaction_id: U64::new(self.transaction_id),
            attribute_id: U16::new(self.attribute_id.raw()),
            reserved: U16::ZERO,
            attribute_modifier: U32::new(self.attribute_modifier),
        };
    }
}

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("base_version", Value::Uint(MAD_BASE_VERSION as u64));
        v.field("mgmt_class", code(self.mgmt_class.raw() as u64, self.mgmt_class.name()));
        v.field("class_version", Value::Uint(self.class_version as u64));
        v.field("method", code(self.method.raw() as u64, self.method.name()));
        v.field("status", Value::Hex { value: self.status.0 as u64, bits: 16 });
        v.field("class_specific", Value::Hex { value: self.class_specific as u64, bits: 16 });
        v.field("transaction_id", Value::Hex { value: self.transaction_id, bits: 64 });
        v.field("attribute_id", code(self.attribute_id.raw() as u64, self.attribute_id.name()));
        v.field("attribute_modifier", Value::Hex { value: self.attribute_modifier as u64, bits: 32 });
    }
}
