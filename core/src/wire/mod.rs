//! Views and representations of SA MADs.
//!
//! Two levels, as in smoltcp's `wire`:
//!
//! * **Layouts** (`Header`, `Record`, `PortInfo` ...): `zerocopy` structs with the exact wire
//!   layout, borrowed straight from the bytes, with accessors for sub-byte fields. They never
//!   validate: every bit pattern is a value.
//! * **Reprs** (`*Repr`): plain structs with typed fields that [`SaAttribute::decode`] and
//!   [`SaAttribute::encode`] convert from and to bytes. Encoding checks field widths; decoding
//!   is total and ignores reserved bits, so `decode(encode(x)) == x` for every valid `x`.
//!
//! [`SaPacket`] ties the headers and records of a whole MAD together, and [`request`] builds
//! every MAD the engine sends. Protocol enums keep unknown values ([`Mtu::Unknown`] ...), so a
//! newer peer's values survive a decode/encode round trip. Every structure implements
//! [`Describe`], the field walk behind `localsa decode`.

mod bits;

pub mod address;
pub mod attribute_id;
pub mod class_port_info;
pub mod describe;
pub mod encoding;
pub mod error;
pub mod gid;
pub mod inform_info;
pub mod inform_info_record;
pub mod mad_header;
pub mod mcmember_record;
pub mod method;
pub mod multipath_record;
pub mod node_record;
pub mod notice;
pub mod path_record;
pub mod port_info_record;
pub mod record;
pub mod request;
pub mod rmpp_header;
pub mod sa_header;
pub mod sa_packet;
pub mod service_record;
pub mod status;

pub use address::{Grh, MadAddress, QP1_QKEY};
pub use attribute_id::AttributeId;
pub use class_port_info::{ClassCapabilities, Repr as ClassPortInfoRepr};
pub use describe::{Describe, Value, Visitor};
pub use encoding::{Mtu, PacketLifetime, Rate, Selector};
pub use error::{Error, Layer, Result};
pub use gid::Gid;
pub use inform_info::Repr as InformInfoRepr;
pub use inform_info_record::Repr as InformInfoRecordRepr;
pub use mad_header::{Header as MadHeader, Repr as MadHeaderRepr};
pub use mcmember_record::{JoinState, McMemberRecordMask, Repr as McMemberRecordRepr};
pub use method::{Method, MgmtClass};
pub use multipath_record::{MultiPathRecordMask, Repr as MultiPathRecordRepr};
pub use node_record::{NodeRecordMask, NodeType, Repr as NodeRecordRepr};
pub use notice::{NoticeType, Origin, ProducerType, Repr as NoticeRepr, TrapDetails, TrapNumber};
pub use path_record::{PathRecordMask, Record as PathRecord, Repr as PathRecordRepr};
pub use port_info_record::{PortInfoRecordMask, PortInfoRepr, PortState, Repr as PortInfoRecordRepr};
pub use record::{SaAttribute, SaRecord};
pub use rmpp_header::{Header as RmppHeader, Repr as RmppHeaderRepr, RmppFlags, RmppStatus, RmppType};
pub use sa_header::{Header as SaHeader, Repr as SaHeaderRepr};
pub use sa_packet::{Records, SaMad, SaPacket, DATA_LEN, DATA_OFFSET, MAD_LEN, SEGMENT_PAYLOAD_LEN};
pub use service_record::{Repr as ServiceRecordRepr, ServiceRecordMask};
pub use status::{MadStatus, MadStatusCode, SaError, SaStatusCode};
