//! What all SA attributes share: the [`SaAttribute`] codec trait and [`SaRecord`], the decoded
//! form of any attribute a MAD may carry.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::describe::{Describe, Value, Visitor};
use super::error::{Error, Layer, Result};
use super::{
    ClassPortInfoRepr, InformInfoRecordRepr, InformInfoRepr, McMemberRecordRepr, MultiPathRecordRepr,
    NodeRecordRepr, NoticeRepr, PathRecordRepr, PortInfoRecordRepr, ServiceRecordRepr,
};

/// An SA attribute with a byte codec.
pub trait SaAttribute: Sized {
    /// The AttributeID that announces it.
    const ID: AttributeId;
    /// Its length on the wire (the minimum length for variable-size attributes).
    const LEN: usize;

    /// Decodes the attribute at the start of `bytes`; trailing bytes are ignored.
    fn decode(bytes: &[u8]) -> Result<Self>;

    /// Encodes the attribute at the start of `out`, returning the bytes written.
    fn encode(&self, out: &mut [u8]) -> Result<usize>;
}

/// The fixed-layout `T` at the start of `bytes`, or a `Truncated` error naming `id`.
pub(crate) fn view<T: FromBytes + KnownLayout + Immutable + Unaligned>(
    id: AttributeId,
    bytes: &[u8],
) -> Result<&T> {
    T::ref_from_prefix(bytes).map(|(r, _)| r).map_err(|_| Error::Truncated {
        layer: Layer::Attribute(id),
        needed: core::mem::size_of::<T>(),
        available: bytes.len(),
    })
}

/// The fixed-layout `T` at the start of `out`, or `BufferTooSmall`.
pub(crate) fn view_mut<T: FromBytes + IntoBytes + KnownLayout + Unaligned>(out: &mut [u8]) -> Result<&mut T> {
    let available = out.len();
    T::mut_from_prefix(out)
        .map(|(r, _)| r)
        .map_err(|_| Error::BufferTooSmall { needed: core::mem::size_of::<T>(), available })
}

/// Any SA attribute, decoded. Attributes this crate does not model are kept as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::large_enum_variant)] // one record at a time, on the stack: no allocation to save
pub enum SaRecord<'a> {
    /// PathRecord.
    PathRecord(PathRecordRepr),
    /// MultiPathRecord.
    MultiPathRecord(MultiPathRecordRepr),
    /// ClassPortInfo.
    ClassPortInfo(ClassPortInfoRepr),
    /// InformInfo.
    InformInfo(InformInfoRepr),
    /// InformInfoRecord.
    InformInfoRecord(InformInfoRecordRepr),
    /// Notice.
    Notice(NoticeRepr),
    /// NodeRecord.
    NodeRecord(NodeRecordRepr),
    /// PortInfoRecord.
    PortInfoRecord(PortInfoRecordRepr),
    /// ServiceRecord.
    ServiceRecord(ServiceRecordRepr),
    /// MCMemberRecord.
    McMemberRecord(McMemberRecordRepr),
    /// An attribute without a model here.
    Other {
        /// Its AttributeID.
        id: AttributeId,
        /// Its bytes (one record stride, or the whole data area).
        bytes: &'a [u8],
    },
}

impl<'a> SaRecord<'a> {
    /// Decodes one record of attribute `id` from `bytes`.
    pub fn decode(id: AttributeId, bytes: &'a [u8]) -> Result<SaRecord<'a>> {
        Ok(match id {
            AttributeId::PathRecord => SaRecord::PathRecord(PathRecordRepr::decode(bytes)?),
            AttributeId::MultiPathRecord => SaRecord::MultiPathRecord(MultiPathRecordRepr::decode(bytes)?),
            AttributeId::ClassPortInfo => SaRecord::ClassPortInfo(ClassPortInfoRepr::decode(bytes)?),
            AttributeId::InformInfo => SaRecord::InformInfo(InformInfoRepr::decode(bytes)?),
            AttributeId::InformInfoRecord => SaRecord::InformInfoRecord(InformInfoRecordRepr::decode(bytes)?),
            AttributeId::Notice => SaRecord::Notice(NoticeRepr::decode(bytes)?),
            AttributeId::NodeRecord => SaRecord::NodeRecord(NodeRecordRepr::decode(bytes)?),
            AttributeId::PortInfoRecord => SaRecord::PortInfoRecord(PortInfoRecordRepr::decode(bytes)?),
            AttributeId::ServiceRecord => SaRecord::ServiceRecord(ServiceRecordRepr::decode(bytes)?),
            AttributeId::McMemberRecord => SaRecord::McMemberRecord(McMemberRecordRepr::decode(bytes)?),
            id => SaRecord::Other { id, bytes },
        })
    }

    /// Encodes the record at the start of `out`, returning the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
        match self {
            SaRecord::PathRecord(r) => r.encode(out),
            SaRecord::MultiPathRecord(r) => r.encode(out),
            SaRecord::ClassPortInfo(r) => r.encode(out),
            SaRecord::InformInfo(r) => r.encode(out),
            SaRecord::InformInfoRecord(r) => r.encode(out),
            SaRecord::Notice(r) => r.encode(out),
            SaRecord::NodeRecord(r) => r.encode(out),
            SaRecord::PortInfoRecord(r) => r.encode(out),
            SaRecord::ServiceRecord(r) => r.encode(out),
            SaRecord::McMemberRecord(r) => r.encode(out),
            SaRecord::Other { bytes, .. } => {
                let available = out.len();
                let dst = out
                    .get_mut(..bytes.len())
                    .ok_or(Error::BufferTooSmall { needed: bytes.len(), available })?;
                dst.copy_from_slice(bytes);
                Ok(bytes.len())
            }
        }
    }

    /// The AttributeID of this record.
    pub fn attribute_id(&self) -> AttributeId {
        match self {
            SaRecord::PathRecord(_) => AttributeId::PathRecord,
            SaRecord::MultiPathRecord(_) => AttributeId::MultiPathRecord,
            SaRecord::ClassPortInfo(_) => AttributeId::ClassPortInfo,
            SaRecord::InformInfo(_) => AttributeId::InformInfo,
            SaRecord::InformInfoRecord(_) => AttributeId::InformInfoRecord,
            SaRecord::Notice(_) => AttributeId::Notice,
            SaRecord::NodeRecord(_) => AttributeId::NodeRecord,
            SaRecord::PortInfoRecord(_) => AttributeId::PortInfoRecord,
            SaRecord::ServiceRecord(_) => AttributeId::ServiceRecord,
            SaRecord::McMemberRecord(_) => AttributeId::McMemberRecord,
            SaRecord::Other { id, .. } => *id,
        }
    }
}

/// The wire length of one record of `id`, where the attribute has a fixed length.
pub const fn record_len(id: AttributeId) -> Option<usize> {
    Some(match id {
        AttributeId::PathRecord => super::path_record::LEN,
        AttributeId::MultiPathRecord => super::multipath_record::FIXED_LEN,
        AttributeId::ClassPortInfo => super::class_port_info::LEN,
        AttributeId::InformInfo => super::inform_info::LEN,
        AttributeId::InformInfoRecord => super::inform_info_record::LEN,
        AttributeId::Notice => super::notice::LEN,
        AttributeId::NodeRecord => super::node_record::LEN,
        AttributeId::PortInfoRecord => super::port_info_record::LEN,
        AttributeId::ServiceRecord => super::service_record::LEN,
        AttributeId::McMemberRecord => super::mcmember_record::LEN,
        _ => return None,
    })
}

impl Describe for SaRecord<'_> {
    fn describe(&self, v: &mut dyn Visitor) {
        match self {
            SaRecord::PathRecord(r) => r.describe(v),
            SaRecord::MultiPathRecord(r) => r.describe(v),
            SaRecord::ClassPortInfo(r) => r.describe(v),
            SaRecord::InformInfo(r) => r.describe(v),
            SaRecord::InformInfoRecord(r) => r.describe(v),
            SaRecord::Notice(r) => r.describe(v),
            SaRecord::NodeRecord(r) => r.describe(v),
            SaRecord::PortInfoRecord(r) => r.describe(v),
            SaRecord::ServiceRecord(r) => r.describe(v),
            SaRecord::McMemberRecord(r) => r.describe(v),
            SaRecord::Other { bytes, .. } => v.field("raw", Value::Bytes(bytes)),
        }
    }
}
