//! Builders shared by the RMPP tests: headers, payloads, hand-made MADs, a fast config.

use std::vec::Vec;

use crate::rmpp::fault::Rng;
use crate::rmpp::Config;
use crate::time::{Duration, Instant};
use crate::wire::rmpp_header::{self, RmppFlags, RmppStatus, RmppType};
use crate::wire::{AttributeId, MadAddress, Method, SaMad, SaPacket, MAD_LEN};

/// The peer that sends table answers in these tests (an SA at LID 1).
pub(crate) const SA: MadAddress = MadAddress::gsi(1, 0);
/// The peer that receives them (a client at LID 7).
pub(crate) const CLIENT: MadAddress = MadAddress::gsi(7, 0);

/// A config scaled for simulated time: 1 ms ACK wait, everything else default.
pub(crate) fn fast_config() -> Config {
    Config {
        response_time: Duration::from_millis(1),
        total_timeout: Duration::from_secs(2),
        linger: Duration::from_millis(100),
        ..Config::DEFAULT
    }
}

/// Headers of a PathRecord GetTableResp with TID `tid`.
pub(crate) fn table_headers(tid: u64) -> SaMad {
    let mut mad = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, tid);
    mad.sa.attribute_offset = 8;
    mad.sa.component_mask = 0x0c;
    mad
}

/// `records` pseudo-random 64-byte records.
pub(crate) fn records(records: usize, seed: u64) -> Vec<u8> {
    let mut data = std::vec![0u8; records * 64];
    Rng::new(seed).fill(&mut data);
    data
}

/// An RMPP header.
pub(crate) fn rmpp(
    rmpp_type: RmppType,
    flags: RmppFlags,
    status: RmppStatus,
    data1: u32,
    data2: u32,
) -> rmpp_header::Repr {
    rmpp_header::Repr {
        version: 1,
        rmpp_type,
        resp_time: 0x1f,
        flags: flags | RmppFlags::ACTIVE,
        status,
        data1,
        data2,
    }
}

/// A 256-byte MAD with `headers`, RMPP header `rmpp` and data `data` (zero-padded).
pub(crate) fn mad(headers: &SaMad, rmpp: rmpp_header::Repr, data: &[u8]) -> [u8; MAD_LEN] {
    let mut out = [0u8; MAD_LEN];
    let mut h = *headers;
    h.rmpp = rmpp;
    let body = h.emit(&mut out).unwrap();
    body[..data.len()].copy_from_slice(data);
    out
}

/// DATA segment `seg` of a transfer of `data` carried by `headers`, as a correct sender
/// makes it.
pub(crate) fn data_segment(headers: &SaMad, data: &[u8], seg: usize) -> [u8; MAD_LEN] {
    let count = crate::rmpp::segment_count(data.len());
    let mut flags = RmppFlags::empty();
    if seg == 1 {
        flags |= RmppFlags::FIRST;
    }
    if seg == count {
        flags |= RmppFlags::LAST;
    }
    let p = crate::rmpp::payload_length(seg, data.len()) as u32;
    let range = crate::rmpp::data_range(seg, data.len()).unwrap_or(0..0);
    mad(headers, rmpp(RmppType::Data, flags, RmppStatus::Normal, seg as u32, p), &data[range])
}

/// An ACK as a receiver sends it for a transfer carried by `data_headers`.
pub(crate) fn ack(data_headers: &SaMad, seg: u32, new_window_last: u32) -> [u8; MAD_LEN] {
    let mut h = *data_headers;
    h.header.method = h.header.method.flip_response();
    mad(&h, rmpp(RmppType::Ack, RmppFlags::empty(), RmppStatus::Normal, seg, new_window_last), &[])
}

/// The headers of a MAD, decoded.
pub(crate) fn parse(bytes: &[u8]) -> SaMad {
    SaMad::parse(&SaPacket::new_checked(bytes).unwrap()).unwrap()
}

/// Collects every MAD `poll` yields, parsed.
pub(crate) fn drain(
    mut poll: impl FnMut(&mut [u8; MAD_LEN]) -> Option<(MadAddress, usize)>,
) -> Vec<(MadAddress, SaMad, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; MAD_LEN];
    while let Some((to, len)) = poll(&mut buf) {
        assert_eq!(len, MAD_LEN, "every MAD goes out whole");
        out.push((to, parse(&buf[..len]), buf[..len].to_vec()));
        assert!(out.len() < 10_000, "poll_transmit never runs dry");
    }
    out
}

/// Milliseconds as an instant.
pub(crate) fn ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}
