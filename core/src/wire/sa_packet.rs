//! A whole SA MAD: common header, RMPP header, SA header and attribute data.
//!
//! [`SaPacket`] is a checked view over bytes (a single 256-byte MAD, or a reassembled RMPP
//! transfer of any length); [`SaMad`] holds the decoded headers for building MADs. Records are
//! read with [`SaPacket::records`], which applies the SA's rules for where records are: one
//! record for Get/Set/Report and their responses, `AttributeOffset`-spaced records for table
//! responses, trimmed by RMPP `PayloadLength` when a single segment says how long it is.

use super::attribute_id::AttributeId;
use super::describe::{code, Describe, Value, Visitor};
use super::error::{check_len, Error, Layer, Result};
use super::method::{Method, MgmtClass, SA_CLASS_VERSION};
use super::record::{record_len, SaRecord};
use super::rmpp_header::{RmppFlags, RmppType};
use super::{mad_header, rmpp_header, sa_header};

/// Bytes in one MAD.
pub const MAD_LEN: usize = 256;
/// Offset of the SA data (attributes) in an SA MAD.
pub const DATA_OFFSET: usize = mad_header::LEN + rmpp_header::LEN + sa_header::LEN;
/// Bytes of SA data one MAD carries.
pub const DATA_LEN: usize = MAD_LEN - DATA_OFFSET;
/// Bytes of RMPP payload one segment carries: the SA header plus the SA data. RMPP's
/// PayloadLength counts in these units (Linux: `IB_MGMT_RMPP_DATA`).
pub const SEGMENT_PAYLOAD_LEN: usize = MAD_LEN - mad_header::LEN - rmpp_header::LEN;

/// A checked view of an SA MAD.
#[derive(Debug, Clone)]
pub struct SaPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SaPacket<T> {
    /// Wraps `buffer` after checking it holds the three headers of an SA MAD with base version 1,
    /// management class SubnAdm and class version 2.
    pub fn new_checked(buffer: T) -> Result<SaPacket<T>> {
        let bytes = buffer.as_ref();
        let h = mad_header::Header::view(bytes)?;
        if h.base_version != super::method::MAD_BASE_VERSION {
            return Err(Error::UnsupportedBaseVersion(h.base_version));
        }
        if h.mgmt_class != MgmtClass::SubnAdm.raw() {
            return Err(Error::WrongClass { expected: MgmtClass::SubnAdm.raw(), found: h.mgmt_class });
        }
        if h.class_version != SA_CLASS_VERSION {
            return Err(Error::UnsupportedClassVersion(h.class_version));
        }
        check_len(Layer::RmppHeader, mad_header::LEN + rmpp_header::LEN, bytes.len())?;
        check_len(Layer::SaHeader, DATA_OFFSET, bytes.len())?;
        Ok(SaPacket { buffer })
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The bytes of the whole MAD.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The common header.
    pub fn mad_header(&self) -> &mad_header::Header {
        // Length was checked in `new_checked`; the fallback is never taken.
        mad_header::Header::view(self.buffer.as_ref()).unwrap_or(&mad_header::Header::ZERO)
    }

    /// The RMPP header.
    pub fn rmpp_header(&self) -> &rmpp_header::Header {
        let bytes = self.buffer.as_ref().get(mad_header::LEN..).unwrap_or(&[]);
        rmpp_header::Header::view(bytes).unwrap_or(&rmpp_header::Header::ZERO)
    }

    /// The SA header.
    pub fn sa_header(&self) -> &sa_header::Header {
        let bytes = self.buffer.as_ref().get(mad_header::LEN + rmpp_header::LEN..).unwrap_or(&[]);
        sa_header::Header::view(bytes).unwrap_or(&sa_header::Header::ZERO)
    }

    /// Everything after the SA header.
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(DATA_OFFSET..).unwrap_or(&[])
    }

    /// The part of [`Self::data`] that holds records.
    ///
    /// * RMPP ACK, STOP and ABORT carry no records.
    /// * A single-segment RMPP transfer (First and Last set) is cut to its PayloadLength (which
    ///   counts the SA header); PayloadLength 0 means "not given".
    /// * A segment of a longer transfer cannot be read alone: [`Error::PartialRmppSegment`].
    /// * Anything else (a MAD outside RMPP, or a reassembled transfer longer than one MAD) is all
    ///   records.
    pub fn record_data(&self) -> Result<&[u8]> {
        let rmpp = self.rmpp_header();
        let data = self.data();
        if !rmpp.is_active() || data.len() > DATA_LEN {
            return Ok(data);
        }
        if RmppType::from_raw(rmpp.rmpp_type) != RmppType::Data {
            return Ok(&[]);
        }
        let flags = rmpp.flags();
        if !flags.contains(RmppFlags::FIRST | RmppFlags::LAST) {
            return Err(Error::PartialRmppSegment { segment: rmpp.data1.get() });
        }
        let payload_len = rmpp.data2.get() as usize;
        if payload_len == 0 {
            return Ok(data);
        }
        match payload_len.checked_sub(sa_header::LEN) {
            Some(n) if n <= data.len() => Ok(&data[..n]),
            _ => Err(Error::PayloadLengthMismatch {
                claimed: payload_len,
                available: data.len() + sa_header::LEN,
            }),
        }
    }

    /// The records this MAD carries.
    pub fn records(&self) -> Result<Records<'_>> {
        let header = self.mad_header();
        let method = header.method();
        let mut attribute = header.attribute_id();
        // GetMulti asks with a MultiPathRecord and is answered with PathRecords.
        if method == Method::GetMultiResp && attribute == AttributeId::MultiPathRecord {
            attribute = AttributeId::PathRecord;
        }
        let data = self.record_data()?;
        let stride = if method.is_table_response() {
            let stride = self.sa_header().attribute_offset.get() as usize * 8;
            if stride == 0 {
                // OpenSM answers a GetTable that matches nothing with AttributeOffset 0 and
                // whatever was in its buffer as data (vector pr_gettable_resp_empty_lid5_lid99);
                // an error answer also has AttributeOffset 0 and echoes the request's template
                // (pr_gettable_resp_err_req_invalid), which is shown as the one record.
                if header.status.get() == 0 {
                    return Ok(Records { attribute, data: &[], stride: 1 });
                }
                return Ok(Records { attribute, data, stride: data.len().max(1) });
            }
            if let Some(len) = record_len(attribute) {
                if stride < len {
                    return Err(Error::AttributeOffsetTooSmall { offset_bytes: stride, record_len: len });
                }
            }
            stride
        } else {
            // One record; give it the whole data area (MultiPathRecord's GID list is variable).
            data.len().max(1)
        };
        Ok(Records { attribute, data, stride })
    }
}

/// The three headers and the length of the data (not the data: a reassembled transfer may be
/// kilobytes).
#[cfg(feature = "defmt")]
impl<T: AsRef<[u8]>> defmt::Format for SaPacket<T> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "SaPacket {{ mad: {}, rmpp: {}, sa: {}, data_len: {=usize} }}",
            self.mad_header(),
            self.rmpp_header(),
            self.sa_header(),
            self.data().len()
        )
    }
}

/// The records of an SA MAD, in order. Each item is decoded on demand.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    attribute: AttributeId,
    data: &'a [u8],
    stride: usize,
}

impl<'a> Records<'a> {
    /// The attribute the records are decoded as.
    pub fn attribute(&self) -> AttributeId {
        self.attribute
    }

    /// Bytes from one record's start to the next's.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// How many whole records remain.
    pub fn remaining(&self) -> usize {
        self.data.len() / self.stride
    }
}

/// Where the iterator is, not the records.
#[cfg(feature = "defmt")]
impl defmt::Format for Records<'_> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Records {{ attribute: {}, stride: {=usize}, remaining: {=usize} }}",
            self.attribute,
            self.stride,
            self.remaining()
        )
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<SaRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        // A trailing partial stride is padding, not a record.
        if self.data.is_empty() || self.data.len() < self.stride {
            return None;
        }
        let (this, rest) = self.data.split_at(self.stride);
        self.data = rest;
        Some(SaRecord::decode(self.attribute, this))
    }
}

/// The three headers of an SA MAD, decoded: what a builder fills in before adding records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SaMad {
    /// Common header.
    pub header: mad_header::Repr,
    /// RMPP header ([`rmpp_header::Repr::NONE`] outside RMPP).
    pub rmpp: rmpp_header::Repr,
    /// SA header.
    pub sa: sa_header::Repr,
}

impl SaMad {
    /// Decodes the headers of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &SaPacket<T>) -> Result<SaMad> {
        Ok(SaMad {
            header: mad_header::Repr::parse(packet.mad_header())?,
            rmpp: rmpp_header::Repr::parse(packet.rmpp_header()),
            sa: sa_header::Repr::parse(packet.sa_header()),
        })
    }

    /// Writes the three headers into the first [`DATA_OFFSET`] bytes of `out` and returns the
    /// data area after them.
    pub fn emit<'b>(&self, out: &'b mut [u8]) -> Result<&'b mut [u8]> {
        if out.len() < DATA_OFFSET {
            return Err(Error::BufferTooSmall { needed: DATA_OFFSET, available: out.len() });
        }
        let (head, data) = out.split_at_mut(DATA_OFFSET);
        let (mad, rest) = head.split_at_mut(mad_header::LEN);
        let (rmpp, sa) = rest.split_at_mut(rmpp_header::LEN);
        self.header.emit(super::record::view_mut(mad)?);
        self.rmpp.emit(super::record::view_mut(rmpp)?)?;
        self.sa.emit(super::record::view_mut(sa)?);
        Ok(data)
    }

    /// A new SA MAD header set with class SubnAdm version 2 and no RMPP.
    pub fn new(method: Method, attribute_id: AttributeId, transaction_id: u64) -> SaMad {
        SaMad {
            header: mad_header::Repr {
                mgmt_class: MgmtClass::SubnAdm,
                class_version: SA_CLASS_VERSION,
                method,
                status: super::status::MadStatus::OK,
                class_specific: 0,
                transaction_id,
                attribute_id,
                attribute_modifier: 0,
            },
            rmpp: rmpp_header::Repr::NONE,
            sa: sa_header::Repr::default(),
        }
    }
}

/// Walks a whole SA MAD (headers, then every record, each in a group named `records`) for
/// printing. Stops at the first record
/// that fails to decode and returns its error after describing what came before it.
pub fn describe(bytes: &[u8], v: &mut dyn Visitor) -> Result<()> {
    let packet = SaPacket::new_checked(bytes)?;
    let mad = SaMad::parse(&packet)?;
    v.begin("mad_header");
    mad.header.describe(v);
    v.end();
    v.begin("rmpp_header");
    mad.rmpp.describe(v);
    v.end();
    v.begin("sa_header");
    mad.sa.describe(v);
    v.end();
    let records = packet.records()?;
    let attribute = records.attribute();
    v.field("record_attribute", code(attribute.raw() as u64, attribute.name()));
    v.field("record_count", Value::Uint(records.remaining() as u64));
    for record in records {
        v.begin("records");
        let result = record.map(|r| r.describe(v));
        v.end();
        result?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AttributeId, MadStatus, RmppFlags, RmppStatus, RmppType};
    use proptest::prelude::*;

    /// Counts fields without keeping them: a visitor for "does it walk" checks.
    struct Count(usize);
    impl Visitor for Count {
        fn field(&mut self, _: &'static str, _: Value<'_>) {
            self.0 += 1;
        }
        fn begin(&mut self, _: &'static str) {}
        fn end(&mut self) {}
    }

    fn arb_mad() -> impl Strategy<Value = SaMad> {
        (
            (any::<u8>(), any::<u16>(), any::<u16>(), any::<u64>(), any::<u16>(), any::<u32>()),
            (any::<u8>(), any::<u8>(), 0u8..32, 0u8..8, any::<u8>(), any::<u32>(), any::<u32>()),
            (any::<u64>(), any::<u16>(), any::<u64>()),
        )
            .prop_map(
                |(
                    (method, status, cs, tid, attr, modifier),
                    (v, t, rt, fl, st, d1, d2),
                    (key, off, mask),
                )| {
                    let mut mad = SaMad::new(Method::from_raw(method), AttributeId::from_raw(attr), tid);
                    mad.header.status = MadStatus(status);
                    mad.header.class_specific = cs;
                    mad.header.attribute_modifier = modifier;
                    mad.rmpp = rmpp_header::Repr {
                        version: v,
                        rmpp_type: RmppType::from_raw(t),
                        resp_time: rt,
                        flags: RmppFlags::from_bits_truncate(fl),
                        status: RmppStatus::from_raw(st),
                        data1: d1,
                        data2: d2,
                    };
                    mad.sa = sa_header::Repr { sm_key: key, attribute_offset: off, component_mask: mask };
                    mad
                },
            )
    }

    proptest! {
        #[test]
        fn headers_round_trip(mad in arb_mad(), data in proptest::collection::vec(any::<u8>(), DATA_LEN)) {
            let mut buf = [0u8; MAD_LEN];
            mad.emit(&mut buf).unwrap()[..].copy_from_slice(&data);
            let packet = SaPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(SaMad::parse(&packet).unwrap(), mad);
            prop_assert_eq!(packet.data(), &data[..]);
        }

        /// Any bytes: a value or an error, never a panic, and never a record that claims more
        /// bytes than the input holds.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = describe(&bytes, &mut Count(0));
            if let Ok(p) = SaPacket::new_checked(&bytes[..]) {
                if let Ok(records) = p.records() {
                    prop_assert!(records.remaining() * records.stride() <= bytes.len());
                    for r in records {
                        let _ = r;
                    }
                }
            }
        }

        /// A plausible SA header with random data: exercises record decoding, not just the
        /// header checks random bytes mostly fail.
        #[test]
        fn sa_mads_with_random_data_decode_or_fail_cleanly(
            mad in arb_mad(),
            data in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let mut buf = std::vec![0u8; DATA_OFFSET + data.len()];
            mad.emit(&mut buf).unwrap().copy_from_slice(&data);
            let mut count = Count(0);
            let _ = describe(&buf, &mut count);
            prop_assert!(count.0 >= 9, "the common header always describes");
        }
    }

    #[test]
    fn rmpp_single_segment_is_cut_to_payload_length() {
        let mut mad = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, 1);
        mad.sa.attribute_offset = 8;
        mad.rmpp = rmpp_header::Repr {
            version: 1,
            rmpp_type: RmppType::Data,
            resp_time: 0,
            flags: RmppFlags::ACTIVE | RmppFlags::FIRST | RmppFlags::LAST,
            status: RmppStatus::Normal,
            data1: 1,
            data2: 20 + 64, // one record
        };
        let mut buf = [0u8; MAD_LEN];
        mad.emit(&mut buf).unwrap();
        let p = SaPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.records().unwrap().count(), 1);
        // A middle segment cannot be read alone; a PayloadLength beyond the MAD is an error.
        mad.rmpp.flags = RmppFlags::ACTIVE;
        mad.emit(&mut buf).unwrap();
        assert!(matches!(
            SaPacket::new_checked(&buf[..]).unwrap().records(),
            Err(Error::PartialRmppSegment { .. })
        ));
        mad.rmpp.flags = RmppFlags::ACTIVE | RmppFlags::FIRST | RmppFlags::LAST;
        mad.rmpp.data2 = 300;
        mad.emit(&mut buf).unwrap();
        assert!(matches!(
            SaPacket::new_checked(&buf[..]).unwrap().records(),
            Err(Error::PayloadLengthMismatch { .. })
        ));
    }

    #[test]
    fn rmpp_version_zero_is_not_rmpp() {
        // OpenSM's answers on ibsim: RMPPVersion 0 with only ACTIVE set (fabric-notes.md).
        let mut mad = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, 1);
        mad.sa.attribute_offset = 8;
        mad.rmpp.flags = RmppFlags::ACTIVE;
        let mut buf = [0u8; MAD_LEN];
        mad.emit(&mut buf).unwrap();
        let p = SaPacket::new_checked(&buf[..]).unwrap();
        assert!(!p.rmpp_header().is_active());
        assert_eq!(p.records().unwrap().remaining(), 3, "every whole 64-byte slot of the 200 bytes");
    }

    #[test]
    fn header_checks_name_the_problem() {
        let mut buf = [0u8; MAD_LEN];
        SaMad::new(Method::Get, AttributeId::PathRecord, 1).emit(&mut buf).unwrap();
        assert_eq!(
            SaPacket::new_checked(&buf[..30]).err(),
            Some(Error::Truncated { layer: crate::wire::Layer::RmppHeader, needed: 36, available: 30 })
        );
        buf[1] = 0x81;
        assert_eq!(
            SaPacket::new_checked(&buf[..]).err(),
            Some(Error::WrongClass { expected: 3, found: 0x81 })
        );
        buf[1] = 3;
        buf[2] = 1;
        assert_eq!(SaPacket::new_checked(&buf[..]).err(), Some(Error::UnsupportedClassVersion(1)));
        buf[0] = 2;
        assert_eq!(SaPacket::new_checked(&buf[..]).err(), Some(Error::UnsupportedBaseVersion(2)));
    }
}
