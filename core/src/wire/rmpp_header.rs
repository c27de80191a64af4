//! The 12-byte RMPP header (IBA 13.6.2.1) that follows the common header in RMPP-capable classes.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::describe::{code, Describe, Value, Visitor};
use super::error::{check_len, Error, Layer, Result};

/// Length of the RMPP header.
pub const LEN: usize = 12;
/// The RMPP version this crate speaks.
pub const VERSION: u8 = 1;
/// RRespTime value meaning "no time given".
pub const NO_RESP_TIME: u8 = 0x1f;

open_enum! {
    /// RMPPType.
    pub enum RmppType(u8) {
        /// Not an RMPP packet (only valid with RMPPVersion 0 or the ACTIVE flag clear).
        None = 0 => "none",
        /// A DATA segment.
        Data = 1 => "DATA",
        /// An acknowledgement.
        Ack = 2 => "ACK",
        /// The receiver asks the sender to stop.
        Stop = 3 => "STOP",
        /// Either side abandons the transfer.
        Abort = 4 => "ABORT",
    }
}

open_enum! {
    /// RMPPStatus (IBA table 170).
    pub enum RmppStatus(u8) {
        /// Normal.
        Normal = 0 => "normal",
        /// Resources exhausted (STOP).
        ResourcesExhausted = 1 => "resources exhausted",
        /// Total time too long (ABORT).
        TotalTimeTooLong = 118 => "total time too long",
        /// Inconsistent Last flag and PayloadLength (ABORT).
        InconsistentLastAndPayloadLength = 119 => "inconsistent last and payload length",
        /// Inconsistent First flag and SegmentNumber (ABORT).
        InconsistentFirstAndSegmentNumber = 120 => "inconsistent first and segment number",
        /// Bad RMPPType (ABORT).
        BadRmppType = 121 => "bad RMPP type",
        /// NewWindowLast too small (ABORT).
        NewWindowLastTooSmall = 122 => "new window last too small",
        /// SegmentNumber too big (ABORT).
        SegmentNumberTooBig = 123 => "segment number too big",
        /// Illegal status (ABORT).
        IllegalStatus = 124 => "illegal status",
        /// Unsupported version (ABORT).
        UnsupportedVersion = 125 => "unsupported version",
        /// Too many retries (ABORT).
        TooManyRetries = 126 => "too many retries",
        /// Unspecified (ABORT).
        Unspecified = 127 => "unspecified",
    }
}

bitflags! {
    /// RMPPFlags: the low three bits of byte 2 of the RMPP header.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RmppFlags: u8 {
        /// The MAD is part of an RMPP transfer.
        const ACTIVE = 0x01;
        /// First segment.
        const FIRST = 0x02;
        /// Last segment.
        const LAST = 0x04;
    }
}

defmt_bits!(RmppFlags);

/// The RMPP header as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Header {
    /// RMPPVersion.
    pub version: u8,
    /// RMPPType.
    pub rmpp_type: u8,
    /// RRespTime (upper 5 bits) and RMPPFlags (lower 3 bits).
    pub resp_time_flags: u8,
    /// RMPPStatus.
    pub status: u8,
    /// Data1: SegmentNumber for DATA and ACK.
    pub data1: U32,
    /// Data2: PayloadLength for DATA, NewWindowLast for ACK.
    pub data2: U32,
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
        version: 0,
        rmpp_type: 0,
        resp_time_flags: 0,
        status: 0,
        data1: U32::ZERO,
        data2: U32::ZERO,
    };

    /// The RMPP header at the start of `bytes` (i.e. at MAD offset 24).
    pub fn view(bytes: &[u8]) -> Result<&Header> {
        check_len(Layer::RmppHeader, LEN, bytes.len())?;
        Header::ref_from_prefix(bytes).map(|(h, _)| h).map_err(|_| Error::Truncated {
            layer: Layer::RmppHeader,
            needed: LEN,
            available: bytes.len(),
        })
    }

    /// RMPPFlags (unknown bits dropped).
    pub fn flags(&self) -> RmppFlags {
        RmppFlags::from_bits_truncate(self.resp_time_flags & 0x07)
    }

    /// RRespTime: 5 bits.
    pub fn resp_time(&self) -> u8 {
        self.resp_time_flags >> 3
    }

    /// Whether this MAD belongs to an RMPP transfer.
    ///
    /// RMPPVersion 0 means "not RMPP" whatever the flags say: that is what Linux's MAD layer
    /// does, and OpenSM's answers on a fabric without kernel RMPP carry version 0 with ACTIVE set.
    pub fn is_active(&self) -> bool {
        self.version != 0 && self.flags().contains(RmppFlags::ACTIVE)
    }
}

/// The RMPP header's fields, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// RMPPVersion (0 = not RMPP).
    pub version: u8,
    /// RMPPType.
    pub rmpp_type: RmppType,
    /// RRespTime, 5 bits.
    pub resp_time: u8,
    /// RMPPFlags.
    pub flags: RmppFlags,
    /// RMPPStatus.
    pub status: RmppStatus,
    /// Data1 (SegmentNumber).
    pub data1: u32,
    /// Data2 (PayloadLength or NewWindowLast).
    pub data2: u32,
}

impl Repr {
    /// Decodes the header. Every bit pattern decodes; meaning is checked by the RMPP layer.
    /// Bits of RMPPFlags above the three defined ones are dropped.
    pub fn parse(h: &Header) -> Repr {
        Repr {
            version: h.version,
            rmpp_type: RmppType::from_raw(h.rmpp_type),
            resp_time: h.resp_time(),
            flags: h.flags(),
            status: RmppStatus::from_raw(h.status),
            data1: h.data1.get(),
            data2: h.data2.get(),
        }
    }

    /// Writes the header; fails if RRespTime needs more than 5 bits.
    pub fn emit(&self, h: &mut Header) -> Result<()> {
        if self.resp_time > 0x1f {
            return Err(Error::FieldOverflow { field: "rresp_time" });
        }
        *h = Header {
            version: self.version,
            rmpp_type: self.rmpp_type.raw(),
            resp_time_flags: (self.resp_time << 3) | self.flags.bits(),
            status: self.status.raw(),
            data1: U32::new(self.data1),
            data2: U32::new(self.data2),
        };
        Ok(())
    }

    /// Whether this MAD belongs to an RMPP transfer (see [`Header::is_active`]).
    pub fn is_active(&self) -> bool {
        self.version != 0 && self.flags.contains(RmppFlags::ACTIVE)
    }

    /// The header of a MAD that is not part of an RMPP transfer.
    pub const NONE: Repr = Repr {
        version: 0,
        rmpp_type: RmppType::None,
        resp_time: 0,
        flags: RmppFlags::empty(),
        status: RmppStatus::Normal,
        data1: 0,
        data2: 0,
    };
}

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("rmpp_version", Value::Uint(self.version as u64));
        v.field("rmpp_type", code(self.rmpp_type.raw() as u64, self.rmpp_type.name()));
        v.field("rresp_time", Value::Uint(self.resp_time as u64));
        v.field("rmpp_flags", Value::Hex { value: self.flags.bits() as u64, bits: 3 });
        v.field("rmpp_status", code(self.status.raw() as u64, self.status.name()));
        match self.rmpp_type {
            RmppType::Data if self.is_active() => {
                v.field("segment_number", Value::Uint(self.data1 as u64));
                v.field("payload_length", Value::Uint(self.data2 as u64));
            }
            RmppType::Ack if self.is_active() => {
                v.field("segment_number", Value::Uint(self.data1 as u64));
                v.field("new_window_last", Value::Uint(self.data2 as u64));
            }
            _ => {
                v.field("data1", Value::Hex { value: self.data1 as u64, bits: 32 });
                v.field("data2", Value::Hex { value: self.data2 as u64, bits: 32 });
            }
        }
    }
}
