//! Builders for every MAD the engine sends: queries, subscriptions, Report acknowledgements and
//! RMPP control MADs. Each writes one complete 256-byte MAD (zero-padded) into `out` and
//! returns its length.

use super::attribute_id::AttributeId;
use super::error::{Error, Result};
use super::method::Method;
use super::record::SaAttribute;
use super::rmpp_header::{self, RmppFlags, RmppStatus, RmppType};
use super::sa_packet::{SaMad, MAD_LEN};
use super::status::MadStatus;
use super::{ClassPortInfoRepr, InformInfoRepr, MultiPathRecordMask, MultiPathRecordRepr, NoticeRepr};
use super::{PathRecordMask, PathRecordRepr};

/// Zeroes one MAD's worth of `out`, writes `mad`'s headers and `record` after them.
fn build<A: SaAttribute>(out: &mut [u8], mad: &SaMad, record: Option<&A>) -> Result<usize> {
    let available = out.len();
    let buf = out.get_mut(..MAD_LEN).ok_or(Error::BufferTooSmall { needed: MAD_LEN, available })?;
    buf.fill(0);
    let data = mad.emit(buf)?;
    if let Some(record) = record {
        record.encode(data)?;
    }
    Ok(MAD_LEN)
}

/// A PathRecord query: `Get` (exactly one answer) or `GetTable` (all matches).
/// `template` carries the values; `mask` says which of them the SA must match.
pub fn path_record_query(
    out: &mut [u8],
    transaction_id: u64,
    method: Method,
    template: &PathRecordRepr,
    mask: PathRecordMask,
) -> Result<usize> {
    let mut mad = SaMad::new(method, AttributeId::PathRecord, transaction_id);
    mad.sa.component_mask = mask.bits();
    build(out, &mad, Some(template))
}

/// A `GetMulti` MultiPathRecord query. The request form fits one MAD (at most 11 GIDs), so it
/// goes without RMPP segmentation; the answer (PathRecords) arrives as a table response.
pub fn multipath_query(
    out: &mut [u8],
    transaction_id: u64,
    template: &MultiPathRecordRepr,
    mask: MultiPathRecordMask,
) -> Result<usize> {
    let mut mad = SaMad::new(Method::GetMulti, AttributeId::MultiPathRecord, transaction_id);
    mad.sa.component_mask = mask.bits();
    build(out, &mad, Some(template))
}

/// `Get(ClassPortInfo)`: the SA's capabilities and RespTimeValue.
pub fn class_port_info_get(out: &mut [u8], transaction_id: u64) -> Result<usize> {
    let mad = SaMad::new(Method::Get, AttributeId::ClassPortInfo, transaction_id);
    build::<ClassPortInfoRepr>(out, &mad, None)
}

/// `Set(InformInfo)`: subscribe to (or, with `subscribe: false`, cancel) notices.
pub fn inform_info_set(out: &mut [u8], transaction_id: u64, info: &InformInfoRepr) -> Result<usize> {
    let mad = SaMad::new(Method::Set, AttributeId::InformInfo, transaction_id);
    build(out, &mad, Some(info))
}

/// `ReportResp`: acknowledges a `Report(Notice)` so the SA stops resending it. The answer
/// carries the Report's TID and echoes the Notice, as the SA expects.
pub fn report_resp(out: &mut [u8], report: &SaMad, notice: &NoticeRepr) -> Result<usize> {
    let mut mad = SaMad::new(Method::ReportResp, AttributeId::Notice, report.header.transaction_id);
    mad.header.attribute_modifier = report.header.attribute_modifier;
    build(out, &mad, Some(notice))
}

/// An RMPP control MAD (ACK, STOP or ABORT) answering the DATA or ACK described by `data`.
///
/// The common and SA headers are those of `data` with the response bit flipped: the control
/// MAD travels in the other direction (Linux `mad_rmpp.c` does the same, and ibsim routes on
/// the bit). RRespTime is kept; the flags are ACTIVE only.
fn rmpp_control(
    out: &mut [u8],
    data: &SaMad,
    kind: RmppType,
    status: RmppStatus,
    data1: u32,
    data2: u32,
) -> Result<usize> {
    let mut mad = *data;
    mad.header.method = data.header.method.flip_response();
    mad.header.status = MadStatus::OK;
    mad.rmpp = rmpp_header::Repr {
        version: rmpp_header::VERSION,
        rmpp_type: kind,
        resp_time: data.rmpp.resp_time,
        flags: RmppFlags::ACTIVE,
        status,
        data1,
        data2,
    };
    build::<PathRecordRepr>(out, &mad, None)
}

/// RMPP ACK: every segment up to `segment` arrived; the sender may go on to `new_window_last`.
pub fn rmpp_ack(out: &mut [u8], data: &SaMad, segment: u32, new_window_last: u32) -> Result<usize> {
    rmpp_control(out, data, RmppType::Ack, RmppStatus::Normal, segment, new_window_last)
}

/// RMPP STOP: the receiver cannot take the transfer (e.g. status `ResourcesExhausted`).
pub fn rmpp_stop(out: &mut [u8], data: &SaMad, status: RmppStatus) -> Result<usize> {
    rmpp_control(out, data, RmppType::Stop, status, 0, 0)
}

/// RMPP ABORT: the transfer is abandoned, with the reason in `status`.
pub fn rmpp_abort(out: &mut [u8], data: &SaMad, status: RmppStatus) -> Result<usize> {
    rmpp_control(out, data, RmppType::Abort, status, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Gid, SaPacket, SaRecord};

    #[test]
    fn path_record_get_parses_back() {
        let template = PathRecordRepr {
            sgid: Gid::new(0xfe80 << 48, 0x10),
            dgid: Gid::new(0xfe80 << 48, 0x20),
            numb_path: 1,
            ..PathRecordRepr::default()
        };
        let mask = PathRecordMask::SGID | PathRecordMask::DGID | PathRecordMask::NUMB_PATH;
        let mut buf = [0xaau8; 300];
        assert_eq!(path_record_query(&mut buf, 0x1234, Method::Get, &template, mask), Ok(MAD_LEN));
        assert_eq!(buf[MAD_LEN], 0xaa, "writes exactly one MAD");
        let p = SaPacket::new_checked(&buf[..MAD_LEN]).unwrap();
        let mad = SaMad::parse(&p).unwrap();
        assert_eq!(mad.header.method, Method::Get);
        assert_eq!(mad.header.transaction_id, 0x1234);
        assert_eq!(mad.sa.component_mask, mask.bits());
        let records: std::vec::Vec<_> = p.records().unwrap().collect();
        assert_eq!(records, [Ok(SaRecord::PathRecord(template))]);
    }

    #[test]
    fn rmpp_ack_flips_direction() {
        let mut data = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, 7);
        data.rmpp = rmpp_header::Repr {
            version: 1,
            rmpp_type: RmppType::Data,
            resp_time: 0x1f,
            flags: RmppFlags::ACTIVE | RmppFlags::FIRST,
            status: RmppStatus::Normal,
            data1: 1,
            data2: 14080,
        };
        let mut buf = [0u8; MAD_LEN];
        rmpp_ack(&mut buf, &data, 1, 8).unwrap();
        let p = SaPacket::new_checked(&buf[..]).unwrap();
        let ack = SaMad::parse(&p).unwrap();
        assert_eq!(ack.header.method, Method::GetTable);
        assert_eq!(ack.rmpp.rmpp_type, RmppType::Ack);
        assert_eq!((ack.rmpp.data1, ack.rmpp.data2), (1, 8));
        assert_eq!(ack.rmpp.flags, RmppFlags::ACTIVE);
        assert_eq!(p.records().unwrap().count(), 0, "control MADs carry no records");
    }

    #[test]
    fn short_buffer_is_an_error() {
        assert_eq!(
            class_port_info_get(&mut [0u8; 100], 1),
            Err(Error::BufferTooSmall { needed: MAD_LEN, available: 100 })
        );
    }
}
