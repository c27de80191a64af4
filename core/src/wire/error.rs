//! The typed error every decoder and encoder in [`crate::wire`] returns.

use core::fmt;

use super::attribute_id::AttributeId;

/// Which structure a length check was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layer {
    /// The 24-byte MAD common header.
    MadHeader,
    /// The 12-byte RMPP header that follows it in RMPP-capable classes.
    RmppHeader,
    /// The 20-byte SA header (SM_Key, AttributeOffset, ComponentMask).
    SaHeader,
    /// One SA attribute (record) of the given kind.
    Attribute(AttributeId),
    /// The GID list of a MultiPathRecord.
    GidList,
    /// A whole 256-byte MAD.
    Mad,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::MadHeader => f.write_str("MAD header"),
            Layer::RmppHeader => f.write_str("RMPP header"),
            Layer::SaHeader => f.write_str("SA header"),
            Layer::Attribute(id) => write!(f, "{id} attribute"),
            Layer::GidList => f.write_str("MultiPathRecord GID list"),
            Layer::Mad => f.write_str("MAD"),
        }
    }
}

/// Why bytes could not be decoded, or a value could not be encoded.
///
/// Each variant names the check that failed, so a log line or a `decode` error says exactly what
/// was wrong with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The input is shorter than the structure being read.
    Truncated {
        /// What was being read.
        layer: Layer,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// An output buffer is too small for what is being written.
    BufferTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// BaseVersion is not 1, the only MAD format this crate knows.
    UnsupportedBaseVersion(u8),
    /// The MAD belongs to another management class than the one asked for.
    WrongClass {
        /// The class the caller expected.
        expected: u8,
        /// The class in the MAD.
        found: u8,
    },
    /// The SA ClassVersion is not 2.
    UnsupportedClassVersion(u8),
    /// AttributeOffset (in 8-byte words) is smaller than one record of the attribute.
    AttributeOffsetTooSmall {
        /// AttributeOffset as found, in bytes.
        offset_bytes: usize,
        /// The attribute's record length in bytes.
        record_len: usize,
    },
    /// An RMPP PayloadLength disagrees with the bytes the MAD actually holds.
    PayloadLengthMismatch {
        /// What PayloadLength claims, in bytes of SA data.
        claimed: usize,
        /// What the MAD holds.
        available: usize,
    },
    /// A MultiPathRecord's SGIDCount + DGIDCount exceeds the GIDs present (or allowed).
    GidCountTooLarge {
        /// SGIDCount + DGIDCount.
        count: usize,
        /// GIDs that fit.
        room: usize,
    },
    /// A value does not fit the width of its field (e.g. a 20-bit FlowLabel above 0xFFFFF).
    FieldOverflow {
        /// The field's name.
        field: &'static str,
    },
    /// The attribute is not the one the caller asked to decode.
    WrongAttribute {
        /// What the caller expected.
        expected: AttributeId,
        /// What the MAD carries.
        found: AttributeId,
    },
    /// The MAD is one segment of a multi-segment RMPP transfer; its records can only be read
    /// after reassembly.
    PartialRmppSegment {
        /// Its SegmentNumber.
        segment: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { layer, needed, available } => {
                write!(f, "{layer} truncated: needs {needed} bytes, {available} available")
            }
            Error::BufferTooSmall { needed, available } => {
                write!(f, "output buffer too small: needs {needed} bytes, {available} available")
            }
            Error::UnsupportedBaseVersion(v) => write!(f, "unsupported MAD BaseVersion {v} (expected 1)"),
            Error::WrongClass { expected, found } => {
                write!(f, "management class {found:#04x}, expected {expected:#04x}")
            }
            Error::UnsupportedClassVersion(v) => write!(f, "unsupported SA ClassVersion {v} (expected 2)"),
            Error::AttributeOffsetTooSmall { offset_bytes, record_len } => write!(
                f,
                "AttributeOffset of {offset_bytes} bytes is smaller than one {record_len}-byte record"
            ),
            Error::PayloadLengthMismatch { claimed, available } => {
                write!(f, "RMPP PayloadLength claims {claimed} bytes of SA data, MAD holds {available}")
            }
            Error::GidCountTooLarge { count, room } => {
                write!(f, "GID count {count} exceeds the {room} GIDs the record holds")
            }
            Error::FieldOverflow { field } => write!(f, "value does not fit field {field}"),
            Error::WrongAttribute { expected, found } => {
                write!(f, "attribute {found}, expected {expected}")
            }
            Error::PartialRmppSegment { segment } => {
                write!(f, "segment {segment} of a multi-segment RMPP transfer: records need reassembly")
            }
        }
    }
}

impl core::error::Error for Error {}

/// Result of a wire operation.
pub type Result<T> = core::result::Result<T, Error>;

/// Checks that `available >= needed`, naming `layer` otherwise.
pub(crate) const fn check_len(layer: Layer, needed: usize, available: usize) -> Result<()> {
    if available < needed {
        Err(Error::Truncated { layer, needed, available })
    } else {
        Ok(())
    }
}
