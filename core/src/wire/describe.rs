//! A field-by-field walk over decoded structures.
//!
//! Every `Repr` in [`crate::wire`] implements [`Describe`]: it hands each of its fields, by name and
//! in wire order, to a [`Visitor`]. The `localsa decode` command prints through it (text or JSON),
//! and the vector tests compare its output with independent decoders. Field names are stable
//! `snake_case` identifiers; they are part of the `decode --json` interface.

use super::gid::Gid;

/// One field's value, typed enough for a printer to choose a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Value<'a> {
    /// An unsigned number best shown in decimal (LIDs, counts, lengths).
    Uint(u64),
    /// An unsigned number best shown in hex (keys, GUIDs, masks), with its width in bits.
    Hex {
        /// The value.
        value: u64,
        /// Width of the field in bits, for zero-padding.
        bits: u8,
    },
    /// A one-bit flag.
    Bool(bool),
    /// A 128-bit GID.
    Gid(Gid),
    /// A coded value with a name when known (MTU, rate, method, status ...).
    Code {
        /// The raw value.
        raw: u64,
        /// Its name, if this crate knows it.
        name: Option<&'static str>,
    },
    /// Opaque bytes (data details, service keys).
    Bytes(&'a [u8]),
    /// Text bytes, NUL-padded on the wire (NodeDescription, ServiceName).
    Text(&'a [u8]),
}

/// Receives the fields of a [`Describe`] implementor.
pub trait Visitor {
    /// One field.
    fn field(&mut self, name: &'static str, value: Value<'_>);
    /// A nested group of fields begins (a header, a record, a list element).
    fn begin(&mut self, name: &'static str);
    /// The innermost group ends.
    fn end(&mut self);
}

/// A structure that can list its fields.
pub trait Describe {
    /// Hands every field to `visitor`, in wire order.
    fn describe(&self, visitor: &mut dyn Visitor);
}

/// Shorthand used by implementors: a coded value from an open enum.
pub(crate) fn code(raw: u64, name: Option<&'static str>) -> Value<'static> {
    Value::Code { raw, name }
}
