//! NodeRecord (IBA 15.2.5.2): a node's NodeInfo and NodeDescription, by LID.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::describe::{code, Describe, Value, Visitor};
use super::error::Result;
use super::notice::{u24_bytes, u24_get};

/// Length of a NodeRecord (OpenSM pads it to 112 with AttributeOffset 14).
pub const LEN: usize = 108;
/// Length of NodeDescription.
pub const DESCRIPTION_LEN: usize = 64;

open_enum! {
    /// NodeInfo NodeType.
    pub enum NodeType(u8) {
        /// Channel adapter.
        ChannelAdapter = 1 => "CA",
        /// Switch.
        Switch = 2 => "switch",
        /// Router.
        Router = 3 => "router",
    }
}

/// NodeInfo (IBA 14.2.5.3) as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct NodeInfo {
    /// BaseVersion.
    pub base_version: u8,
    /// ClassVersion.
    pub class_version: u8,
    /// NodeType.
    pub node_type: u8,
    /// NumPorts.
    pub num_ports: u8,
    /// SystemImageGUID.
    pub system_image_guid: U64,
    /// NodeGUID.
    pub node_guid: U64,
    /// PortGUID.
    pub port_guid: U64,
    /// PartitionCap.
    pub partition_cap: U16,
    /// DeviceID.
    pub device_id: U16,
    /// Revision.
    pub revision: U32,
    /// LocalPortNum.
    pub local_port_num: u8,
    /// VendorID, 24 bits.
    pub vendor_id: [u8; 3],
}

/// The fields as on the wire, NodeType by name.
#[cfg(feature = "defmt")]
impl defmt::Format for NodeInfo {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "NodeInfo {{ base_version: {=u8}, class_version: {=u8}, node_type: {}, num_ports: {=u8}, \
             system_image_guid: {=u64:#x}, node_guid: {=u64:#x}, port_guid: {=u64:#x}, \
             partition_cap: {=u16}, device_id: {=u16:#x}, revision: {=u32:#x}, local_port_num: {=u8}, \
             vendor_id: {=[u8]:02x} }}",
            self.base_version,
            self.class_version,
            NodeType::from_raw(self.node_type),
            self.num_ports,
            self.system_image_guid.get(),
            self.node_guid.get(),
            self.port_guid.get(),
            self.partition_cap.get(),
            self.device_id.get(),
            self.revision.get(),
            self.local_port_num,
            self.vendor_id
        )
    }
}

/// A NodeRecord as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// LID of the node's port.
    pub lid: U16,
    /// Reserved.
    pub reserved: U16,
    /// NodeInfo.
    pub node_info: NodeInfo,
    /// NodeDescription: UTF-8 text, NUL-padded.
    pub node_description: [u8; DESCRIPTION_LEN],
}

bitflags! {
    /// NodeRecord ComponentMask bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct NodeRecordMask: u64 {
        /// LID.
        const LID = 1 << 0;
        /// BaseVersion.
        const BASE_VERSION = 1 << 2;
        /// ClassVersion.
        const CLASS_VERSION = 1 << 3;
        /// NodeType.
        const NODE_TYPE = 1 << 4;
        /// NumPorts.
        const NUM_PORTS = 1 << 5;
        /// SystemImageGUID.
        const SYSTEM_IMAGE_GUID = 1 << 6;
        /// NodeGUID.
        const NODE_GUID = 1 << 7;
        /// PortGUID.
        const PORT_GUID = 1 << 8;
        /// PartitionCap.
        const PARTITION_CAP = 1 << 9;
        /// DeviceID.
        const DEVICE_ID = 1 << 10;
        /// Revision.
        const REVISION = 1 << 11;
        /// LocalPortNum.
        const LOCAL_PORT_NUM = 1 << 12;
        /// VendorID.
        const VENDOR_ID = 1 << 13;
        /// NodeDescription.
        const NODE_DESCRIPTION = 1 << 14;
    }
}

defmt_bits!(NodeRecordMask);

/// A NodeRecord, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// LID.
    pub lid: u16,
    /// BaseVersion.
    pub base_version: u8,
    /// ClassVersion.
    pub class_version: u8,
    /// NodeType.
    pub node_type: NodeType,
    /// NumPorts.
    pub num_ports: u8,
    /// SystemImageGUID.
    pub system_image_guid: u64,
    /// NodeGUID.
    pub node_guid: u64,
    /// PortGUID.
    pub port_guid: u64,
    /// PartitionCap.
    pub partition_cap: u16,
    /// DeviceID.
    pub device_id: u16,
    /// Revision.
    pub revision: u32,
    /// LocalPortNum.
    pub local_port_num: u8,
    /// VendorID, 24 bits.
    pub vendor_id: u32,
    /// NodeDescription, as on the wire.
    pub node_description: [u8; DESCRIPTION_LEN],
}

impl Repr {
    /// NodeDescription up to its first NUL.
    pub fn description(&self) -> &[u8] {
        let end = self.node_description.iter().position(|&b| b == 0).unwrap_or(DESCRIPTION_LEN);
        &self.node_description[..end]
    }

    /// Decodes the record; reserved bits are ignored.
    pub fn parse(r: &Record) -> Repr {
        let n = &r.node_info;
        Repr {
            lid: r.lid.get(),
            base_version: n.base_version,
            class_version: n.class_version,
            node_type: NodeType::from_raw(n.node_type),
            num_ports: n.num_ports,
            system_image_guid: n.system_image_guid.get(),
            node_guid: n.node_guid.get(),
            port_guid: n.port_guid.get(),
            partition_cap: n.partition_cap.get(),
            device_id: n.device_id.get(),
            revision: n.revision.get(),
            local_port_num: n.local_port_num,
            vendor_id: u24_get(&n.vendor_id),
            node_description: r.node_description,
        }
    }

    /// Writes the record; fails if VendorID exceeds 24 bits.
    pub fn emit(&self, r: &mut Record) -> Result<()> {
        super::bits::fits("vendor_id", self.vendor_id, 24)?;
        *r = Record {
            lid: U16::new(self.lid),
            reserved: U16::ZERO,
            node_info: NodeInfo {
                base_version: self.base_version,
                class_version: self.class_version,
                node_type: self.node_type.raw(),
                num_ports: self.num_ports,
                system_image_guid: U64::new(self.system_image_guid),
                node_guid: U64::new(self.node_guid),
                port_guid: U64::new(self.port_guid),
                partition_cap: U16::new(self.partition_cap),
                device_id: U16::new(self.device_id),
                revision: U32::new(self.revision),
                local_port_num: self.local_port_num,
                vendor_id: u24_bytes(self.vendor_id),
            },
            node_description: self.node_description,
        };
        Ok(())
    }
}

fixed_layout_attribute!(AttributeId::NodeRecord);

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("lid", Value::Uint(self.lid as u64));
        v.field("base_version", Value::Uint(self.base_version as u64));
        v.field("class_version", Value::Uint(self.class_version as u64));
        v.field("node_type", code(self.node_type.raw() as u64, self.node_type.name()));
        v.field("num_ports", Value::Uint(self.num_ports as u64));
        v.field("system_image_guid", Value::Hex { value: self.system_image_guid, bits: 64 });
        v.field("node_guid", Value::Hex { value: self.node_guid, bits: 64 });
        v.field("port_guid", Value::Hex { value: self.port_guid, bits: 64 });
        v.field("partition_cap", Value::Uint(self.partition_cap as u64));
        v.field("device_id", Value::Hex { value: self.device_id as u64, bits: 16 });
        v.field("revision", Value::Hex { value: self.revision as u64, bits: 32 });
        v.field("local_port_num", Value::Uint(self.local_port_num as u64));
        v.field("vendor_id", Value::Hex { value: self.vendor_id as u64, bits: 24 });
        v.field("node_description", Value::Text(self.description()));
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
            a in (any::<u16>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u64>(), any::<u64>()),
            b in (any::<u64>(), any::<u16>(), any::<u16>(), any::<u32>(), any::<u8>(), 0u32..1 << 24),
            desc in proptest::collection::vec(any::<u8>(), DESCRIPTION_LEN),
        ) {
            let mut node_description = [0u8; DESCRIPTION_LEN];
            node_description.copy_from_slice(&desc);
            let repr = Repr {
                lid: a.0, base_version: a.1, class_version: a.2, node_type: NodeType::from_raw(a.3), num_ports: a.4,
                system_image_guid: a.5, node_guid: a.6, port_guid: b.0, partition_cap: b.1, device_id: b.2,
                revision: b.3, local_port_num: b.4, vendor_id: b.5, node_description,
            };
            let mut buf = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut buf), Ok(LEN));
            prop_assert_eq!(Repr::decode(&buf), Ok(repr));
        }
    }

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<NodeInfo>(), 40);
        assert_eq!(core::mem::size_of::<Record>(), LEN);
    }
}
