//! Notice (IBA 14.2.5.1): what the SA forwards in a Report, and the data details of the traps a
//! path cache must act on (64/65: GID in/out of service, 66/67: multicast group created/deleted,
//! 144: capability mask changed, 145: system image GUID changed).

use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::describe::{code, Describe, Value, Visitor};
use super::error::{Error, Result};
use super::gid::Gid;

/// Length of a Notice.
pub const LEN: usize = 80;
/// Length of the DataDetails field.
pub const DATA_DETAILS_LEN: usize = 54;

open_enum! {
    /// Notice and InformInfo Type.
    pub enum NoticeType(u16) {
        /// Fatal.
        Fatal = 0 => "fatal",
        /// Urgent.
        Urgent = 1 => "urgent",
        /// Security.
        Security = 2 => "security",
        /// Subnet management.
        SubnetManagement = 3 => "subnet management",
        /// Informational.
        Informational = 4 => "informational",
        /// Empty notice (no notice pending).
        Empty = 0x7f => "empty",
        /// Every type (InformInfo only).
        All = 0xffff => "all",
    }
}

open_enum! {
    /// The ProducerType of a generic notice (24 bits).
    pub enum ProducerType(u32) {
        /// Channel adapter.
        ChannelAdapter = 1 => "CA",
        /// Switch.
        Switch = 2 => "switch",
        /// Router.
        Router = 3 => "router",
        /// Class manager (the SM/SA itself).
        ClassManager = 4 => "class manager",
        /// Every producer (InformInfo only).
        All = 0xff_ffff => "all",
    }
}

open_enum! {
    /// Generic trap numbers a path cache cares about.
    pub enum TrapNumber(u16) {
        /// A port's GID came into service.
        GidInService = 64 => "GID in service",
        /// A port's GID went out of service.
        GidOutOfService = 65 => "GID out of service",
        /// A multicast group was created.
        McGroupCreated = 66 => "multicast group created",
        /// A multicast group was deleted.
        McGroupDeleted = 67 => "multicast group deleted",
        /// Link state of a switch port changed.
        LinkStateChanged = 128 => "link state changed",
        /// A port's capability mask or other local attribute changed.
        CapabilityMaskChanged = 144 => "capability mask changed",
        /// A node's system image GUID changed.
        SystemImageGuidChanged = 145 => "system image GUID changed",
    }
}

/// Who raised a notice or subscription: the generic form (trap number, producer type) or the
/// vendor form (device ID, vendor ID). The same two 16- and 24-bit fields carry either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Origin {
    /// IsGeneric = 1.
    Generic {
        /// TrapNumber.
        trap_number: TrapNumber,
        /// ProducerType, 24 bits.
        producer_type: ProducerType,
    },
    /// IsGeneric = 0.
    Vendor {
        /// DeviceID.
        device_id: u16,
        /// VendorID, 24 bits.
        vendor_id: u32,
    },
}

impl Origin {
    /// The 16-bit TrapNumber or DeviceID.
    pub(crate) fn number(&self) -> u16 {
        match *self {
            Origin::Generic { trap_number, .. } => trap_number.raw(),
            Origin::Vendor { device_id, .. } => device_id,
        }
    }

    /// The 24-bit ProducerType or VendorID, checked for width.
    pub(crate) fn producer(&self) -> Result<u32> {
        let v = match *self {
            Origin::Generic { producer_type, .. } => producer_type.raw(),
            Origin::Vendor { vendor_id, .. } => vendor_id,
        };
        super::bits::fits("producer_type", v, 24)?;
        Ok(v)
    }

    pub(crate) fn from_fields(generic: bool, number: u16, producer: u32) -> Origin {
        if generic {
            Origin::Generic {
                trap_number: TrapNumber::from_raw(number),
                producer_type: ProducerType::from_raw(producer),
            }
        } else {
            Origin::Vendor { device_id: number, vendor_id: producer }
        }
    }

    pub(crate) fn describe(&self, v: &mut dyn Visitor) {
        match *self {
            Origin::Generic { trap_number, producer_type } => {
                v.field("producer_type", code(producer_type.raw() as u64, producer_type.name()));
                v.field("trap_number", code(trap_number.raw() as u64, trap_number.name()));
            }
            Origin::Vendor { device_id, vendor_id } => {
                v.field("vendor_id", Value::Hex { value: vendor_id as u64, bits: 24 });
                v.field("device_id", Value::Hex { value: device_id as u64, bits: 16 });
            }
        }
    }
}

/// 24-bit big-endian helpers for the three-byte ProducerType/VendorID fields.
pub(crate) fn u24_get(b: &[u8; 3]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

pub(crate) fn u24_bytes(v: u32) -> [u8; 3] {
    let b = v.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// A Notice as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// IsGeneric (1) | Type (7).
    pub generic_type: u8,
    /// ProducerType or VendorID, 24 bits.
    pub producer_or_vendor: [u8; 3],
    /// TrapNumber or DeviceID.
    pub trap_number_or_device_id: U16,
    /// IssuerLID.
    pub issuer_lid: U16,
    /// NoticeToggle (1) | NoticeCount (15).
    pub toggle_count: U16,
    /// DataDetails.
    pub data_details: [u8; DATA_DETAILS_LEN],
    /// IssuerGID.
    pub issuer_gid: Gid,
}

/// A Notice, decoded. The trap-specific view of `data_details` is [`Repr::details`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// Type, 7 bits.
    pub notice_type: NoticeType,
    /// Generic or vendor origin.
    pub origin: Origin,
    /// IssuerLID.
    pub issuer_lid: u16,
    /// NoticeToggle.
    pub toggle: bool,
    /// NoticeCount, 15 bits.
    pub count: u16,
    /// DataDetails, as on the wire.
    pub data_details: [u8; DATA_DETAILS_LEN],
    /// IssuerGID.
    pub issuer_gid: Gid,
}

/// The data details of the traps a path cache acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TrapDetails {
    /// Traps 64 to 67: the GID of the port or multicast group concerned.
    Gid(Gid),
    /// Trap 144: a port's capabilities changed.
    CapabilityMaskChanged {
        /// LID of the port.
        lid: u16,
        /// OtherLocalChanges bit.
        local_changes: bool,
        /// The new CapabilityMask.
        capability_mask: u32,
        /// Change flags (6 bits).
        change_flags: u16,
        /// The new CapabilityMask2.
        capability_mask2: u16,
    },
    /// Trap 145: a node's system image GUID changed.
    SystemImageGuidChanged {
        /// LID of the node's port.
        lid: u16,
        /// The new system image GUID.
        system_image_guid: u64,
    },
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Details64To67 {
    reserved: [u8; 6],
    gid: Gid,
    rest: [u8; 32],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Details144 {
    reserved1: U16,
    lid: U16,
    reserved2: u8,
    local_changes: u8,
    capability_mask: U32,
    change_flags: U16,
    capability_mask2: U16,
    rest: [u8; 40],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Details145 {
    reserved1: U16,
    lid: U16,
    reserved2: U16,
    system_image_guid: U64,
    rest: [u8; 40],
}

impl TrapDetails {
    /// Reads the details of generic trap `trap` from `data`; `None` for traps not modelled.
    pub fn parse(trap: TrapNumber, data: &[u8; DATA_DETAILS_LEN]) -> Option<TrapDetails> {
        match trap {
            TrapNumber::GidInService
            | TrapNumber::GidOutOfService
            | TrapNumber::McGroupCreated
            | TrapNumber::McGroupDeleted => {
                Details64To67::ref_from_bytes(&data[..]).ok().map(|d| TrapDetails::Gid(d.gid))
            }
            TrapNumber::CapabilityMaskChanged => {
                Details144::ref_from_bytes(&data[..]).ok().map(|d| TrapDetails::CapabilityMaskChanged {
                    lid: d.lid.get(),
                    local_changes: d.local_changes & 1 != 0,
                    capability_mask: d.capability_mask.get(),
                    change_flags: d.change_flags.get() & 0x3f,
                    capability_mask2: d.capability_mask2.get(),
                })
            }
            TrapNumber::SystemImageGuidChanged => {
                Details145::ref_from_bytes(&data[..]).ok().map(|d| TrapDetails::SystemImageGuidChanged {
                    lid: d.lid.get(),
                    system_image_guid: d.system_image_guid.get(),
                })
            }
            _ => None,
        }
    }

    /// The DataDetails bytes for these details (reserved bytes zero).
    pub fn emit(&self) -> [u8; DATA_DETAILS_LEN] {
        let mut out = [0u8; DATA_DETAILS_LEN];
        match *self {
            TrapDetails::Gid(gid) => out[6..22].copy_from_slice(&gid.0),
            TrapDetails::CapabilityMaskChanged {
                lid,
                local_changes,
                capability_mask,
                change_flags,
                capability_mask2,
            } => {
                out[2..4].copy_from_slice(&lid.to_be_bytes());
                out[5] = local_changes as u8;
                out[6..10].copy_from_slice(&capability_mask.to_be_bytes());
                out[10..12].copy_from_slice(&(change_flags & 0x3f).to_be_bytes());
                out[12..14].copy_from_slice(&capability_mask2.to_be_bytes());
            }
            TrapDetails::SystemImageGuidChanged { lid, system_image_guid } => {
                out[2..4].copy_from_slice(&lid.to_be_bytes());
                out[6..14].copy_from_slice(&system_image_guid.to_be_bytes());
            }
        }
        out
    }
}

impl Repr {
    /// The typed data details, for generic notices of the traps modelled here.
    pub fn details(&self) -> Option<TrapDetails> {
        match self.origin {
            Origin::Generic { trap_number, .. } => TrapDetails::parse(trap_number, &self.data_details),
            Origin::Vendor { .. } => None,
        }
    }

    /// The trap number of a generic notice.
    pub fn trap_number(&self) -> Option<TrapNumber> {
        match self.origin {
            Origin::Generic { trap_number, .. } => Some(trap_number),
            Origin::Vendor { .. } => None,
        }
    }

    /// Decodes the notice.
    pub fn parse(r: &Record) -> Repr {
        let generic = r.generic_type & 0x80 != 0;
        Repr {
            notice_type: NoticeType::from_raw((r.generic_type & 0x7f) as u16),
            origin: Origin::from_fields(
                generic,
                r.trap_number_or_device_id.get(),
                u24_get(&r.producer_or_vendor),
            ),
            issuer_lid: r.issuer_lid.get(),
            toggle: r.toggle_count.get() & 0x8000 != 0,
            count: r.toggle_count.get() & 0x7fff,
            data_details: r.data_details,
            issuer_gid: r.issuer_gid,
        }
    }

    /// Writes the notice; fails if Type exceeds 7 bits, NoticeCount 15 bits or the producer 24.
    pub fn emit(&self, r: &mut Record) -> Result<()> {
        if self.notice_type.raw() > 0x7f {
            return Err(Error::FieldOverflow { field: "notice_type" });
        }
        super::bits::fits("count", self.count as u32, 15)?;
        let generic = matches!(self.origin, Origin::Generic { .. });
        *r = Record {
            generic_type: ((generic as u8) << 7) | self.notice_type.raw() as u8,
            producer_or_vendor: u24_bytes(self.origin.producer()?),
            trap_number_or_device_id: U16::new(self.origin.number()),
            issuer_lid: U16::new(self.issuer_lid),
            toggle_count: U16::new(((self.toggle as u16) << 15) | self.count),
            data_details: self.data_details,
            issuer_gid: self.issuer_gid,
        };
        Ok(())
    }
}

fixed_layout_attribute!(AttributeId::Notice);

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("is_generic", Value::Bool(matches!(self.origin, Origin::Generic { .. })));
        v.field("notice_type", code(self.notice_type.raw() as u64, self.notice_type.name()));
        self.origin.describe(v);
        v.field("issuer_lid", Value::Uint(self.issuer_lid as u64));
        v.field("notice_toggle", Value::Bool(self.toggle));
        v.field("notice_count", Value::Uint(self.count as u64));
        match self.details() {
            Some(TrapDetails::Gid(gid)) => v.field("gid", Value::Gid(gid)),
            Some(TrapDetails::CapabilityMaskChanged {
                lid,
                local_changes,
                capability_mask,
                change_flags,
                capability_mask2,
            }) => {
                v.field("lid", Value::Uint(lid as u64));
                v.field("local_changes", Value::Bool(local_changes));
                v.field("capability_mask", Value::Hex { value: capability_mask as u64, bits: 32 });
                v.field("change_flags", Value::Hex { value: change_flags as u64, bits: 6 });
                v.field("capability_mask2", Value::Hex { value: capability_mask2 as u64, bits: 16 });
            }
            Some(TrapDetails::SystemImageGuidChanged { lid, system_image_guid }) => {
                v.field("lid", Value::Uint(lid as u64));
                v.field("system_image_guid", Value::Hex { value: system_image_guid, bits: 64 });
            }
            None => v.field("data_details", Value::Bytes(&self.data_details)),
        }
        v.field("issuer_gid", Value::Gid(self.issuer_gid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SaAttribute;
    use proptest::prelude::*;

    fn arb_origin() -> impl Strategy<Value = Origin> {
        prop_oneof![
            (any::<u16>(), 0u32..1 << 24).prop_map(|(n, p)| Origin::Generic {
                trap_number: TrapNumber::from_raw(n),
                producer_type: ProducerType::from_raw(p)
            }),
            (any::<u16>(), 0u32..1 << 24).prop_map(|(d, v)| Origin::Vendor { device_id: d, vendor_id: v }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(
            t in 0u16..128, origin in arb_origin(), lid in any::<u16>(), toggle in any::<bool>(),
            count in 0u16..1 << 15, details in proptest::collection::vec(any::<u8>(), DATA_DETAILS_LEN),
            gid in any::<[u8; 16]>(),
        ) {
            let mut data_details = [0u8; DATA_DETAILS_LEN];
            data_details.copy_from_slice(&details);
            let repr = Repr { notice_type: NoticeType::from_raw(t), origin, issuer_lid: lid, toggle, count, data_details, issuer_gid: Gid(gid) };
            let mut buf = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut buf), Ok(LEN));
            prop_assert_eq!(Repr::decode(&buf), Ok(repr));
        }

        #[test]
        fn trap_details_round_trip(lid in any::<u16>(), lc in any::<bool>(), cm in any::<u32>(), cf in 0u16..64, cm2 in any::<u16>(), guid in any::<u64>(), gid in any::<[u8; 16]>()) {
            for (trap, d) in [
                (TrapNumber::GidOutOfService, TrapDetails::Gid(Gid(gid))),
                (TrapNumber::CapabilityMaskChanged, TrapDetails::CapabilityMaskChanged { lid, local_changes: lc, capability_mask: cm, change_flags: cf, capability_mask2: cm2 }),
                (TrapNumber::SystemImageGuidChanged, TrapDetails::SystemImageGuidChanged { lid, system_image_guid: guid }),
            ] {
                prop_assert_eq!(TrapDetails::parse(trap, &d.emit()), Some(d));
            }
        }
    }

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<Record>(), LEN);
        assert_eq!(core::mem::size_of::<Details64To67>(), DATA_DETAILS_LEN);
        assert_eq!(core::mem::size_of::<Details144>(), DATA_DETAILS_LEN);
        assert_eq!(core::mem::size_of::<Details145>(), DATA_DETAILS_LEN);
    }
}
