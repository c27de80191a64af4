//! Segmentation arithmetic: how SA data maps onto RMPP segments and PayloadLength.
//!
//! Every segment of an SA transfer carries the full 56-byte class header (MAD header, RMPP
//! header, SA header) and 200 bytes of SA data. RMPP counts its payload in units of 220 bytes
//! (SA header + data, [`SEGMENT_PAYLOAD_LEN`]), so the SA header is counted once per segment:
//!
//! * n = max(1, ⌈data / 200⌉) segments, pad = n × 200 − data (0..=200).
//! * First segment: PayloadLength = n × 220 − pad (the total). Linux `send_next_seg()`.
//! * Last segment: PayloadLength = 220 − pad (bytes used in that segment's 220).
//! * Others: PayloadLength 0.
//! * Reassembled: 56 header bytes + n × 200 − pad bytes of data (Linux `get_mad_len()`).

use core::ops::Range;

use crate::wire::sa_header;
use crate::wire::{DATA_LEN, DATA_OFFSET, SEGMENT_PAYLOAD_LEN};

/// SA data bytes per segment.
pub const SEGMENT_DATA_LEN: usize = DATA_LEN;
/// The SA header, counted in every segment's PayloadLength.
const SA_HEADER_LEN: usize = sa_header::LEN;

/// Segments needed for `data_len` bytes of SA data (at least one: an empty table still goes
/// as one segment).
pub const fn segment_count(data_len: usize) -> usize {
    if data_len == 0 {
        1
    } else {
        data_len.div_ceil(SEGMENT_DATA_LEN)
    }
}

/// The PayloadLength of segment `seg` (1-based) of a transfer of `data_len` bytes of SA data.
///
/// Segment 1 gives the total (segments × 220 − pad), the last the bytes it uses of its 220,
/// a single segment the latter (which equals the former), the others 0.
pub const fn payload_length(seg: usize, data_len: usize) -> usize {
    let count = segment_count(data_len);
    if seg == count {
        // Data in the last segment, plus its SA header.
        data_len - (count - 1) * SEGMENT_DATA_LEN + SA_HEADER_LEN
    } else if seg == 1 {
        data_len + count * SA_HEADER_LEN
    } else {
        0
    }
}

/// Bytes of SA data in segment `seg` (1-based) of a `data_len`-byte transfer, as a range of
/// that data; `None` for a segment the transfer does not have.
pub const fn data_range(seg: usize, data_len: usize) -> Option<Range<usize>> {
    let count = segment_count(data_len);
    if seg == 0 || seg > count {
        return None;
    }
    let start = (seg - 1) * SEGMENT_DATA_LEN;
    let end = if seg == count { data_len } else { start + SEGMENT_DATA_LEN };
    Some(start..end)
}

/// What a first segment's PayloadLength says about the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Total {
    /// PayloadLength 0: the sender did not give the total; the Last segment will.
    Unknown,
    /// The transfer has `segments` segments and `data_len` bytes of SA data.
    Known {
        /// Segment count.
        segments: u32,
        /// SA data bytes (without any header).
        data_len: usize,
    },
}

/// Decodes a first segment's PayloadLength (`None` if no transfer can have it).
///
/// Valid totals are n × 220 − pad with pad in 0..=200: a remainder (mod 220) of 1..=19 would
/// put part of the SA header in the last segment but no data, which no sender produces.
pub(crate) const fn total_from_first(payload_length: u32) -> Option<Total> {
    if payload_length == 0 {
        return Some(Total::Unknown);
    }
    let p = payload_length as usize;
    let rem = p % SEGMENT_PAYLOAD_LEN;
    if rem != 0 && rem < SA_HEADER_LEN {
        return None;
    }
    let segments = p.div_ceil(SEGMENT_PAYLOAD_LEN);
    if segments > u32::MAX as usize {
        return None;
    }
    Some(Total::Known { segments: segments as u32, data_len: p - segments * SA_HEADER_LEN })
}

/// Bytes of SA data a Last segment's PayloadLength says it carries (`None` outside 20..=220).
pub(crate) const fn data_in_last(payload_length: u32) -> Option<usize> {
    let p = payload_length as usize;
    if p < SA_HEADER_LEN || p > SEGMENT_PAYLOAD_LEN {
        None
    } else {
        Some(p - SA_HEADER_LEN)
    }
}

/// Length of the reassembled MAD (header included) for `data_len` bytes of SA data.
pub const fn mad_len(data_len: usize) -> usize {
    data_len.saturating_add(DATA_OFFSET)
}

/// Buffer capacity (the `CAP` of [`Receiver`](super::Receiver) and
/// [`Sender`](super::Sender)) that holds `records` records of `record_len` bytes each: the
/// 56-byte header plus the records. 1000 PathRecords need `capacity_for(1000, 64)` = 64 056.
pub const fn capacity_for(records: usize, record_len: usize) -> usize {
    DATA_OFFSET + records * record_len
}

/// How many segments can start inside a `cap`-byte buffer: the highest segment number a
/// receiver can grant when it does not know the total yet. The last of them may only fit if it
/// is the transfer's (short) Last segment; the receiver checks the exact bytes before copying.
pub(crate) const fn segment_limit(cap: usize) -> u32 {
    if cap <= DATA_OFFSET {
        return 0;
    }
    let n = (cap - DATA_OFFSET).div_ceil(SEGMENT_DATA_LEN);
    if n > u32::MAX as usize {
        u32::MAX
    } else {
        n as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_figures() {
        // 200 PathRecords: 64 full segments, PayloadLength 14080 = 64 × 220 (fabric notes).
        let data = 200 * 64;
        assert_eq!(segment_count(data), 64);
        assert_eq!(payload_length(1, data), 14080);
        assert_eq!(payload_length(64, data), 220);
        assert_eq!(payload_length(2, data), 0);
        assert_eq!(mad_len(data), 12856);
        assert_eq!(total_from_first(14080), Some(Total::Known { segments: 64, data_len: data }));
    }

    #[test]
    fn partial_and_empty() {
        // 3 PathRecords: 192 bytes, one segment with 8 bytes of pad.
        assert_eq!(segment_count(192), 1);
        assert_eq!(payload_length(1, 192), 212);
        assert_eq!(data_range(1, 192), Some(0..192));
        // 1000 PathRecords: 320 segments.
        assert_eq!(segment_count(64_000), 320);
        assert_eq!(payload_length(1, 64_000), 64_000 + 320 * 20);
        assert_eq!(data_range(320, 64_000), Some(63_800..64_000));
        assert_eq!(data_range(321, 64_000), None);
        // An empty table: one segment whose PayloadLength is the SA header alone.
        assert_eq!(segment_count(0), 1);
        assert_eq!(payload_length(1, 0), 20);
        assert_eq!(data_range(1, 0), Some(0..0));
        assert_eq!(total_from_first(20), Some(Total::Known { segments: 1, data_len: 0 }));
    }

    #[test]
    fn payload_length_round_trips() {
        for data in [0, 1, 199, 200, 201, 399, 400, 401, 64_000, 64_001] {
            let total = total_from_first(payload_length(1, data) as u32);
            assert_eq!(total, Some(Total::Known { segments: segment_count(data) as u32, data_len: data }));
            let last = payload_length(segment_count(data), data) as u32;
            let in_last = data_in_last(last).unwrap();
            assert_eq!((segment_count(data) - 1) * 200 + in_last, data);
        }
    }

    #[test]
    fn impossible_totals() {
        assert_eq!(total_from_first(0), Some(Total::Unknown));
        assert_eq!(total_from_first(1), None);
        assert_eq!(total_from_first(19), None);
        assert_eq!(total_from_first(221), None);
        assert_eq!(total_from_first(239), None);
        assert!(total_from_first(240).is_some());
        assert!(total_from_first(u32::MAX).is_some());
        assert_eq!(data_in_last(19), None);
        assert_eq!(data_in_last(221), None);
        assert_eq!(data_in_last(0), None);
    }

    #[test]
    fn capacity() {
        assert_eq!(capacity_for(1000, 64), 64_056);
        assert_eq!(segment_limit(64_056), 320);
        assert_eq!(segment_limit(64_057), 321);
        assert_eq!(segment_limit(256), 1);
        assert_eq!(segment_limit(57), 1);
        assert_eq!(segment_limit(56), 0);
        assert_eq!(segment_limit(10), 0);
    }
}
