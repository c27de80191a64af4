//! The deterministic PathRecord table both ends of a test transfer build and check, and the
//! GetTable request and answer around it.
//!
//! Record `i` of a table with seed `s` is a pure function of `(i, s)` ([`record`]), encoded by
//! the core codec. The answering side builds it; the receiving side rebuilds it and compares
//! the reassembled MAD byte for byte ([`verify`]).

use localsa_core::rmpp::payload_length;
use localsa_core::wire::{
    request, AttributeId, ClassCapabilities, ClassPortInfoRepr, Gid, MadStatus, Method, Mtu, PacketLifetime,
    PathRecordMask, PathRecordRepr, Rate, RmppFlags, RmppHeaderRepr, RmppStatus, RmppType, SaAttribute,
    SaMad, SaPacket, SaRecord, Selector, DATA_OFFSET, MAD_LEN,
};

/// Bytes of one PathRecord.
pub const RECORD_LEN: usize = 64;
/// What every test GetTable constrains: the source GID.
pub const REQUEST_MASK: PathRecordMask = PathRecordMask::SGID;

/// SplitMix64: a well-mixed 64-bit value from a counter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Record `index` of the table with `seed`: every field depends on both, the index is in the
/// DGID and DLID (a record in the wrong place shows), and every field fits its width.
pub fn record(index: u32, seed: u32) -> PathRecordRepr {
    let x = mix(((seed as u64) << 32) | index as u64);
    let y = mix(x);
    PathRecordRepr {
        service_id: y,
        dgid: Gid::new(0xfe80_0000_0000_0000, ((seed as u64) << 32) | index as u64),
        sgid: Gid::new(0xfe80_0000_0000_0000, 0x0002_c903_0000_0000 | seed as u64),
        dlid: (index as u16).wrapping_add(1),
        slid: (seed as u16) | 1,
        raw_traffic: false,
        flow_label: (x as u32) & 0xf_ffff,
        hop_limit: (x >> 20) as u8,
        tclass: (x >> 28) as u8,
        reversible: x & (1 << 36) != 0,
        numb_path: ((x >> 37) as u8) & 0x7f,
        pkey: 0x8000 | (x >> 44) as u16,
        qos_class: ((y >> 8) as u16) & 0xfff,
        sl: ((y >> 20) as u8) & 0xf,
        mtu_selector: Selector::Exactly,
        mtu: Mtu::from_raw(1 + ((y >> 24) % 5) as u8),
        rate_selector: Selector::Exactly,
        rate: Rate::from_raw(2 + ((y >> 32) % 14) as u8),
        packet_lifetime_selector: Selector::Exactly,
        packet_lifetime: PacketLifetime(((y >> 40) as u8) & 0x3f),
        preference: (y >> 48) as u8,
    }
}

/// Record `index` of the table with `seed`, its SGID replaced by `sgid` if given.
pub fn record_from(index: u32, seed: u32, sgid: Option<Gid>) -> PathRecordRepr {
    let r = record(index, seed);
    PathRecordRepr { sgid: sgid.unwrap_or(r.sgid), ..r }
}

/// The SGID every record of the table with `seed` carries (the "source port" of the table).
pub fn sgid_of(seed: u32) -> Gid {
    record(0, seed).sgid
}

/// The DGID of record `index` of the table with `seed`.
pub fn dgid_of(index: u32, seed: u32) -> Gid {
    record(index, seed).dgid
}

/// Which record of the table with `seed` has `dgid` as its DGID, if any.
pub fn index_of(dgid: Gid, seed: u32) -> Option<u32> {
    (dgid.prefix() == 0xfe80_0000_0000_0000 && dgid.guid() >> 32 == seed as u64).then_some(dgid.guid() as u32)
}

/// The 64 wire bytes of record `index` of the table with `seed`.
pub fn record_bytes(index: u32, seed: u32) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    // In range by construction (see `record`).
    let _ = record(index, seed).encode(&mut out);
    out
}

/// The SA data of an `n`-record answer: the records back to back (AttributeOffset 8).
pub fn table_data(n: usize, seed: u32) -> Vec<u8> {
    let mut data = vec![0u8; n * RECORD_LEN];
    for (i, chunk) in data.chunks_exact_mut(RECORD_LEN).enumerate() {
        // Every field is in range by construction; encoding cannot fail.
        let _ = record(i as u32, seed).encode(chunk);
    }
    data
}

/// A GetTable(PathRecord) request for paths from `sgid`, TransactionID `tid` (the kernel
/// replaces its high 32 bits with the agent's).
pub fn table_request(tid: u64, sgid: Gid) -> [u8; MAD_LEN] {
    let template = PathRecordRepr { sgid, ..PathRecordRepr::default() };
    let mut out = [0u8; MAD_LEN];
    // A 256-byte buffer always holds one MAD, and the template's fields are in range.
    let _ = request::path_record_query(&mut out, tid, Method::GetTable, &template, REQUEST_MASK);
    out
}

/// A Get(PathRecord) request (one answer, no RMPP) for paths from `sgid`.
pub fn get_request(tid: u64, sgid: Gid) -> [u8; MAD_LEN] {
    let template = PathRecordRepr { sgid, ..PathRecordRepr::default() };
    let mut out = [0u8; MAD_LEN];
    // As for `table_request`: cannot fail.
    let _ = request::path_record_query(&mut out, tid, Method::Get, &template, REQUEST_MASK);
    out
}

/// Decodes a MAD's headers if it is an SA Get(PathRecord) request.
pub fn as_get_request(mad: &[u8]) -> Option<SaMad> {
    let packet = SaPacket::new_checked(mad).ok()?;
    let headers = SaMad::parse(&packet).ok()?;
    (headers.header.method == Method::Get && headers.header.attribute_id == AttributeId::PathRecord)
        .then_some(headers)
}

/// The plain (single MAD, no RMPP) GetResp to `request`: record 0 of `seed`.
pub fn get_answer(request: &SaMad, seed: u32) -> [u8; MAD_LEN] {
    get_answer_with(request, MadStatus::OK, Some(&record(0, seed)))
}

/// What a Get(PathRecord) asks for: the DGID of its template when the mask names one.
pub fn get_request_dgid(mad: &[u8]) -> Option<Gid> {
    let packet = SaPacket::new_checked(mad).ok()?;
    let mask = PathRecordMask::from_bits_retain(packet.sa_header().component_mask.get());
    if !mask.contains(PathRecordMask::DGID) {
        return None;
    }
    match packet.records().ok()?.next()? {
        Ok(SaRecord::PathRecord(template)) => Some(template.dgid),
        _ => None,
    }
}

/// The GetResp an SA gives a Get(PathRecord) for a table of `n` records with `seed`: the record
/// whose DGID the query names (its index comes back too), ERR_NO_RECORDS for a DGID outside
/// the table, record 0 when the query names no DGID. `sgid` replaces the records' SGID (an SA
/// for the paths of one real port).
pub fn get_answer_for(
    request: &SaMad,
    mad: &[u8],
    n: usize,
    seed: u32,
    sgid: Option<Gid>,
) -> ([u8; MAD_LEN], Option<u32>) {
    match get_request_dgid(mad) {
        None => (get_answer(request, seed), Some(0)),
        Some(dgid) => match index_of(dgid, seed).filter(|&i| (i as usize) < n) {
            Some(i) => (get_answer_with(request, MadStatus::OK, Some(&record_from(i, seed, sgid))), Some(i)),
            // ERR_NO_RECORDS: MAD status class-specific code 3 (bits 8..14).
            None => (get_answer_with(request, MadStatus(0x0300), None), None),
        },
    }
}

fn get_answer_with(request: &SaMad, status: MadStatus, rec: Option<&PathRecordRepr>) -> [u8; MAD_LEN] {
    let mut h = SaMad::new(Method::GetResp, AttributeId::PathRecord, request.header.transaction_id);
    h.header.status = status;
    h.sa.component_mask = request.sa.component_mask;
    let mut out = [0u8; MAD_LEN];
    if let Ok(body) = h.emit(&mut out) {
        if let Some(r) = rec {
            let _ = r.encode(body);
        }
    }
    out
}

/// The RespTimeValue `sa-peer` advertises in its ClassPortInfo (OpenSM's: about 268 ms).
pub const RESP_TIME_VALUE: u8 = 16;

/// Decodes a MAD's headers if it is an SA Get(ClassPortInfo) (an SA client's heartbeat).
pub fn as_class_port_info_get(mad: &[u8]) -> Option<SaMad> {
    let packet = SaPacket::new_checked(mad).ok()?;
    let headers = SaMad::parse(&packet).ok()?;
    (headers.header.method == Method::Get && headers.header.attribute_id == AttributeId::ClassPortInfo)
        .then_some(headers)
}

/// The SA's ClassPortInfo GetResp: base version 1, class version 2, RespTimeValue
/// [`RESP_TIME_VALUE`], no redirection.
pub fn class_port_info_answer(request: &SaMad) -> [u8; MAD_LEN] {
    let mut h = SaMad::new(Method::GetResp, AttributeId::ClassPortInfo, request.header.transaction_id);
    h.header.attribute_modifier = request.header.attribute_modifier;
    let cpi = ClassPortInfoRepr {
        base_version: 1,
        class_version: 2,
        capability_mask: ClassCapabilities::TRAP.bits(),
        resp_time_value: RESP_TIME_VALUE,
        ..ClassPortInfoRepr::default()
    };
    let mut out = [0u8; MAD_LEN];
    if let Ok(body) = h.emit(&mut out) {
        let _ = cpi.encode(body);
    }
    out
}

/// Decodes a MAD's headers if it is an SA GetTable(PathRecord) request.
pub fn as_table_request(mad: &[u8]) -> Option<SaMad> {
    let packet = SaPacket::new_checked(mad).ok()?;
    let headers = SaMad::parse(&packet).ok()?;
    (headers.header.method == Method::GetTable && headers.header.attribute_id == AttributeId::PathRecord)
        .then_some(headers)
}

/// The headers of the answer to `request`: GetTableResp with its TID, AttributeOffset 8 and its
/// ComponentMask, no RMPP header (the RMPP layer writes one per segment).
pub fn answer_headers(request: &SaMad) -> SaMad {
    let mut h = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, request.header.transaction_id);
    h.sa.attribute_offset = (RECORD_LEN / 8) as u16;
    h.sa.component_mask = request.sa.component_mask;
    h
}

/// The whole answer as a kernel-RMPP agent writes it: headers with the RMPP Active flag (the
/// kernel then segments it), then `n` records.
pub fn kernel_rmpp_answer(request: &SaMad, n: usize, seed: u32) -> Vec<u8> {
    let mut headers = answer_headers(request);
    headers.rmpp = RmppHeaderRepr {
        version: 1,
        rmpp_type: RmppType::Data,
        resp_time: 0,
        flags: RmppFlags::ACTIVE,
        status: RmppStatus::Normal,
        data1: 0,
        data2: 0,
    };
    let data = table_data(n, seed);
    let mut mad = vec![0u8; DATA_OFFSET + data.len()];
    if let Ok(body) = headers.emit(&mut mad) {
        body.copy_from_slice(&data);
    }
    mad
}

/// What [`verify`] found in a good answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Length of the reassembled MAD, header included.
    pub len: usize,
    /// The whole TransactionID (high 32 bits as the kernel set them).
    pub tid: u64,
    /// RMPP segments the transfer took (from the First segment's PayloadLength).
    pub segments: usize,
    /// The RRespTime the sender wrote in the First segment.
    pub rresp_time: u8,
}

/// Checks a reassembled answer byte for byte: length `56 + n × 64`; the MAD and SA headers
/// exactly as [`answer_headers`] builds them for TID `tid_low` (low 32 bits); the First
/// segment's RMPP header (version 1, DATA, Active|First, SegmentNumber 1, the total
/// PayloadLength); then the `n` records of `seed`, which must also decode.
pub fn verify(mad: &[u8], n: usize, seed: u32, tid_low: u32) -> Result<Verified, String> {
    verify_with(mad, n, seed, tid_low, Order::ByIndex)
}

/// How the records of an answer must be laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Record `i` in place `i` (what `sa-peer` and the tests' own sender send).
    ByIndex,
    /// Each of the `n` records exactly once, in any order (a replica answers in its table's
    /// order).
    Any,
}

/// [`verify`], with the records in the given [`Order`].
pub fn verify_with(mad: &[u8], n: usize, seed: u32, tid_low: u32, order: Order) -> Result<Verified, String> {
    let data_len = n * RECORD_LEN;
    let want_len = DATA_OFFSET + data_len;
    if mad.len() != want_len {
        return Err(format!("length {} bytes, expected {want_len}", mad.len()));
    }
    let packet = SaPacket::new_checked(mad).map_err(|e| format!("not an SA MAD: {e}"))?;
    let got = SaMad::parse(&packet).map_err(|e| format!("headers: {e}"))?;
    let tid = got.header.transaction_id;
    if tid as u32 != tid_low {
        return Err(format!("TID {tid:#x}, expected low 32 bits {tid_low:#x}"));
    }
    if got.header.status != MadStatus::OK {
        return Err(format!("MAD status {:#06x}", got.header.status.0));
    }
    // Expected headers with the TID as it came; the RMPP byte with RRespTime compared apart.
    let mut request = SaMad::new(Method::GetTable, AttributeId::PathRecord, tid);
    request.sa.component_mask = REQUEST_MASK.bits();
    let mut want = answer_headers(&request);
    let mut flags = RmppFlags::ACTIVE | RmppFlags::FIRST;
    let segments = localsa_core::rmpp::segment_count(data_len);
    if segments == 1 {
        flags |= RmppFlags::LAST;
    }
    want.rmpp = RmppHeaderRepr {
        version: 1,
        rmpp_type: RmppType::Data,
        resp_time: got.rmpp.resp_time,
        flags,
        status: RmppStatus::Normal,
        data1: 1,
        data2: payload_length(1, data_len) as u32,
    };
    let mut want_head = [0u8; DATA_OFFSET];
    want.emit(&mut want_head).map_err(|e| format!("expected headers: {e}"))?;
    if let Some(at) = (0..DATA_OFFSET).find(|&i| mad[i] != want_head[i]) {
        return Err(format!(
            "header byte {at} is {:#04x}, expected {:#04x} (got {:?}, want {:?})",
            mad[at], want_head[at], got, want
        ));
    }
    let want_data = table_data(n, seed);
    match order {
        Order::ByIndex => {
            if let Some(at) = (0..data_len).find(|&i| mad[DATA_OFFSET + i] != want_data[i]) {
                return Err(format!(
                    "data byte {at} (record {}, byte {}) is {:#04x}, expected {:#04x}",
                    at / RECORD_LEN,
                    at % RECORD_LEN,
                    mad[DATA_OFFSET + at],
                    want_data[at]
                ));
            }
        }
        Order::Any => {
            // Each record names its index in its DGID: put it in its place, then compare.
            let mut seen = vec![false; n];
            for (slot, got) in mad[DATA_OFFSET..].chunks_exact(RECORD_LEN).enumerate() {
                let index = PathRecordRepr::decode(got)
                    .ok()
                    .and_then(|r| index_of(r.dgid, seed))
                    .map(|i| i as usize)
                    .filter(|&i| i < n)
                    .ok_or_else(|| format!("record in place {slot} is no record of the table"))?;
                if std::mem::replace(&mut seen[index], true) {
                    return Err(format!("record {index} twice (again in place {slot})"));
                }
                let want = &want_data[index * RECORD_LEN..(index + 1) * RECORD_LEN];
                if let Some(b) = (0..RECORD_LEN).find(|&b| got[b] != want[b]) {
                    return Err(format!(
                        "record {index} (in place {slot}) byte {b} is {:#04x}, expected {:#04x}",
                        got[b], want[b]
                    ));
                }
            }
        }
    }
    let decoded = packet.records().map_err(|e| format!("records: {e}"))?.filter(Result::is_ok).count();
    if decoded != n {
        return Err(format!("{decoded} records decode, expected {n}"));
    }
    Ok(Verified { len: mad.len(), tid, segments, rresp_time: got.rmpp.resp_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_and_distinct() {
        assert_eq!(table_data(5, 7), table_data(5, 7));
        assert_ne!(table_data(5, 7), table_data(5, 8));
        let d = table_data(3, 1);
        assert_ne!(d[..64], d[64..128]);
    }

    #[test]
    fn a_get_is_answered_with_the_record_its_dgid_names() {
        let (n, seed) = (50, 9);
        assert_eq!(index_of(dgid_of(17, seed), seed), Some(17));
        assert_eq!(index_of(dgid_of(17, seed), seed + 1), None);
        let mut mad = [0u8; MAD_LEN];
        let template = PathRecordRepr { sgid: sgid_of(seed), dgid: dgid_of(17, seed), ..Default::default() };
        request::path_record_query(
            &mut mad,
            7,
            Method::Get,
            &template,
            PathRecordMask::SGID | PathRecordMask::DGID,
        )
        .unwrap();
        let req = as_get_request(&mad).unwrap();
        let (answer, index) = get_answer_for(&req, &mad, n, seed, None);
        assert_eq!(index, Some(17));
        assert_eq!(answer[DATA_OFFSET..DATA_OFFSET + RECORD_LEN], record_bytes(17, seed));
        // Outside the table: ERR_NO_RECORDS.
        let template = PathRecordRepr { dgid: dgid_of(n as u32, seed), ..template };
        request::path_record_query(&mut mad, 8, Method::Get, &template, PathRecordMask::DGID).unwrap();
        let (answer, index) = get_answer_for(&req, &mad, n, seed, None);
        assert_eq!((index, &answer[4..6]), (None, &[0x03, 0x00][..]));
    }

    #[test]
    fn any_order_accepts_a_shuffled_table_once() {
        let req = as_table_request(&table_request(0x42, Gid::new(0xfe80 << 48, 1))).unwrap();
        let n = 3; // one segment
        let mut mad = kernel_rmpp_answer(&req, n, 3);
        mad[24..36].copy_from_slice(&[1, 1, 0x07, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        mad[32..36].copy_from_slice(&(payload_length(1, n * 64) as u32).to_be_bytes());
        // Swap records 0 and 2.
        let (a, b) = (DATA_OFFSET, DATA_OFFSET + 2 * RECORD_LEN);
        for i in 0..RECORD_LEN {
            mad.swap(a + i, b + i);
        }
        assert!(verify(&mad, n, 3, 0x42).is_err());
        assert!(verify_with(&mad, n, 3, 0x42, Order::Any).is_ok());
        // A record twice is refused.
        let first = mad[a..a + RECORD_LEN].to_vec();
        mad[b..b + RECORD_LEN].copy_from_slice(&first);
        assert!(verify_with(&mad, n, 3, 0x42, Order::Any).unwrap_err().contains("twice"));
    }

    #[test]
    fn a_kernel_answer_reassembled_verifies() {
        let req_bytes = table_request(0x1234, Gid::new(0xfe80 << 48, 9));
        let req = as_table_request(&req_bytes).unwrap();
        for n in [0, 1, 3, 4, 200, 1000] {
            let mut mad = kernel_rmpp_answer(&req, n, 42);
            // What the kernel's reassembly shows: the First segment's RMPP header.
            let segments = localsa_core::rmpp::segment_count(n * 64);
            mad[24..36].copy_from_slice(&[
                1,
                1,
                if segments == 1 { 0x07 } else { 0x03 },
                0,
                0,
                0,
                0,
                1,
                0,
                0,
                0,
                0,
            ]);
            let pl = payload_length(1, n * 64) as u32;
            mad[32..36].copy_from_slice(&pl.to_be_bytes());
            let v = verify(&mad, n, 42, 0x1234).unwrap();
            assert_eq!((v.len, v.segments), (56 + n * 64, segments));
            assert!(verify(&mad, n, 43, 0x1234).is_err() || n == 0);
            assert!(verify(&mad, n, 42, 0x1235).is_err());
            if n > 0 {
                let last = mad.len() - 1;
                mad[last] ^= 1;
                assert!(verify(&mad, n, 42, 0x1234).unwrap_err().contains("data byte"));
            }
        }
    }
}
