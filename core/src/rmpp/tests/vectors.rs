//! Hand-built MADs for every STOP and ABORT path, every RMPPStatus the layer sends or takes,
//! and the window/ACK arithmetic, on each side.

use std::vec::Vec;

use super::support::{
    ack, data_segment, drain, fast_config, mad, ms, parse, records, rmpp, table_headers, CLIENT, SA,
};
use crate::rmpp::{
    capacity_for, Config, Dropped, Endpoint, Event, Failure, Outcome, Receiver, Rejection, SendError, Sender,
};
use crate::time::{Duration, Instant};
use crate::wire::rmpp_header::{self, RmppFlags, RmppStatus, RmppType};
use crate::wire::{AttributeId, Error, Method, MgmtClass, SaMad, DATA_OFFSET, MAD_LEN};

/// Twenty PathRecords: 1280 bytes of data, 7 segments, a reassembled MAD of 1336 bytes.
const CAP: usize = capacity_for(20, 64);
type Rx = Receiver<2, CAP>;
type Tx = Sender<2, CAP>;

const T0: Instant = Instant::ZERO;

fn rx() -> Rx {
    Rx::new(fast_config())
}

/// The control MADs a receiver has queued: (type, status, SegmentNumber, NewWindowLast).
fn rx_replies(r: &mut Rx, now: Instant) -> Vec<(RmppType, RmppStatus, u32, u32)> {
    drain(|b| r.poll_transmit(now, b))
        .into_iter()
        .map(|(to, m, _)| {
            assert_eq!(to, SA, "replies go to the sender");
            assert_eq!(m.header.method, Method::GetTable, "replies flip the response bit");
            assert_eq!((m.rmpp.version, m.rmpp.flags), (1, RmppFlags::ACTIVE));
            (m.rmpp.rmpp_type, m.rmpp.status, m.rmpp.data1, m.rmpp.data2)
        })
        .collect()
}

fn abort(status: RmppStatus) -> (RmppType, RmppStatus, u32, u32) {
    (RmppType::Abort, status, 0, 0)
}

fn stop() -> (RmppType, RmppStatus, u32, u32) {
    (RmppType::Stop, RmppStatus::ResourcesExhausted, 0, 0)
}

fn acked(seg: u32, nwl: u32) -> (RmppType, RmppStatus, u32, u32) {
    (RmppType::Ack, RmppStatus::Normal, seg, nwl)
}

/// A DATA MAD of transfer `tid` with explicit RMPP fields.
fn raw_data(tid: u64, flags: RmppFlags, seg: u32, payload_length: u32) -> [u8; MAD_LEN] {
    mad(
        &table_headers(tid),
        rmpp(RmppType::Data, flags, RmppStatus::Normal, seg, payload_length),
        &[0xab; 200],
    )
}

// ---- Receiver: MADs that are not RMPP --------------------------------------------------------

#[test]
fn version_zero_is_not_rmpp_whatever_the_flags() {
    let mut r = rx();
    // What OpenSM sends on ibsim: RMPPVersion 0, RMPPType 0, Active set.
    let mut m = raw_data(1, RmppFlags::FIRST | RmppFlags::LAST, 0, 0);
    m[24..28].copy_from_slice(&[0, 0, 1, 0]);
    assert_eq!(r.handle(T0, SA, &m), Outcome::NotRmpp);
    // Version 0 with a DATA type and every flag.
    m[24..28].copy_from_slice(&[0, 1, 7, 0]);
    assert_eq!(r.handle(T0, SA, &m), Outcome::NotRmpp);
    // Version 1 without the Active flag.
    m[24..28].copy_from_slice(&[1, 1, 6, 0]);
    assert_eq!(r.handle(T0, SA, &m), Outcome::NotRmpp);
    assert!(rx_replies(&mut r, T0).is_empty());
    assert_eq!(r.busy_slots(), 0);
}

#[test]
fn malformed_mads_are_not_answered() {
    let mut r = rx();
    let m = data_segment(&table_headers(1), &records(20, 1), 2);
    assert!(matches!(r.handle(T0, SA, &m[..40]), Outcome::Malformed(Error::Truncated { .. })));
    let mut other = m;
    other[1] = MgmtClass::Perf.raw();
    assert!(matches!(r.handle(T0, SA, &other), Outcome::Malformed(Error::WrongClass { .. })));
    // A legal non-last segment cut short of its 200 data bytes.
    let first = data_segment(&table_headers(1), &records(20, 1), 1);
    assert!(matches!(r.handle(T0, SA, &first[..200]), Outcome::Malformed(Error::Truncated { .. })));
    assert!(rx_replies(&mut r, T0).is_empty());
}

// ---- Receiver: stateless ABORTs ------------------------------------------------------------

#[test]
fn abort_unsupported_version() {
    let mut r = rx();
    let mut m = raw_data(1, RmppFlags::FIRST, 1, 0);
    m[24] = 2;
    assert_eq!(r.handle(T0, SA, &m), Outcome::Rejected(Rejection::Illegal(RmppStatus::UnsupportedVersion)));
    assert_eq!(rx_replies(&mut r, T0), [abort(RmppStatus::UnsupportedVersion)]);
}

#[test]
fn abort_bad_rmpp_type() {
    let mut r = rx();
    for t in [0u8, 5, 0xff] {
        let mut m = raw_data(1, RmppFlags::FIRST, 1, 0);
        m[25] = t;
        assert_eq!(
            r.handle(T0, SA, &m),
            Outcome::Rejected(Rejection::Illegal(RmppStatus::BadRmppType)),
            "type {t}"
        );
        assert_eq!(rx_replies(&mut r, T0), [abort(RmppStatus::BadRmppType)]);
    }
}

#[test]
fn abort_illegal_status_in_data() {
    let mut r = rx();
    let mut m = raw_data(1, RmppFlags::FIRST, 1, 0);
    m[27] = 5;
    assert_eq!(r.handle(T0, SA, &m), Outcome::Rejected(Rejection::Illegal(RmppStatus::IllegalStatus)));
    assert_eq!(rx_replies(&mut r, T0), [abort(RmppStatus::IllegalStatus)]);
}

#[test]
fn abort_inconsistent_first_and_segment_number() {
    let mut r = rx();
    let status = RmppStatus::InconsistentFirstAndSegmentNumber;
    for (flags, seg) in [(RmppFlags::empty(), 1), (RmppFlags::FIRST, 2), (RmppFlags::FIRST, 0)] {
        assert_eq!(
            r.handle(T0, SA, &raw_data(1, flags, seg, 440)),
            Outcome::Rejected(Rejection::Illegal(status))
        );
        assert_eq!(rx_replies(&mut r, T0), [abort(status)]);
    }
}

#[test]
fn abort_inconsistent_last_and_payload_length() {
    let mut r = rx();
    let status = RmppStatus::InconsistentLastAndPayloadLength;
    let cases = [
        (RmppFlags::FIRST | RmppFlags::LAST, 221), // more than one segment holds
        (RmppFlags::FIRST | RmppFlags::LAST, 19),  // less than the SA header
        (RmppFlags::FIRST | RmppFlags::LAST, 0),   // a Last segment must say its length
        (RmppFlags::FIRST, 200),                   // a one-segment total without Last
        (RmppFlags::FIRST, 230),                   // 220 + 10: no transfer has this total
    ];
    for (flags, p) in cases {
        assert_eq!(
            r.handle(T0, SA, &raw_data(1, flags, 1, p)),
            Outcome::Rejected(Rejection::Illegal(status)),
            "{p}"
        );
        assert_eq!(rx_replies(&mut r, T0), [abort(status)]);
    }
    // A later segment whose Last PayloadLength is impossible.
    assert_eq!(
        r.handle(T0, SA, &raw_data(1, RmppFlags::LAST, 3, 300)),
        Outcome::Rejected(Rejection::Illegal(status))
    );
    assert_eq!(rx_replies(&mut r, T0), [abort(status)]);
    assert_eq!(r.busy_slots(), 0);
}

#[test]
fn stray_control_mads_are_not_answered() {
    let mut r = rx();
    let h = table_headers(1);
    // ABORT with a non-abort status and STOP with a wrong one, for no transfer: dropped, so two
    // peers can never bounce ABORTs.
    let bad_abort = mad(&h, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::Normal, 0, 0), &[]);
    let bad_stop = mad(&h, rmpp(RmppType::Stop, RmppFlags::empty(), RmppStatus::Unspecified, 0, 0), &[]);
    let good_abort = mad(&h, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::Unspecified, 0, 0), &[]);
    for m in [bad_abort, bad_stop, good_abort, ack(&h, 1, 1)] {
        assert_eq!(r.handle(T0, SA, &m), Outcome::Dropped(Dropped::Unmatched));
    }
    // A later segment of a transfer we never saw (Linux drops it too).
    assert_eq!(r.handle(T0, SA, &data_segment(&h, &records(20, 1), 3)), Outcome::Dropped(Dropped::Unmatched));
    assert!(rx_replies(&mut r, T0).is_empty());
}

// ---- Receiver: STOP ------------------------------------------------------------------------

#[test]
fn stop_when_the_total_does_not_fit() {
    let mut r = rx();
    let data = records(100, 1);
    let first = data_segment(&table_headers(1), &data, 1);
    assert_eq!(parse(&first).rmpp.data2, 7040);
    assert_eq!(
        r.handle(T0, SA, &first),
        Outcome::Rejected(Rejection::TooLarge { needed: 6456, capacity: CAP })
    );
    assert_eq!(rx_replies(&mut r, T0), [stop()]);
    assert_eq!(r.busy_slots(), 0);
}

#[test]
fn stop_when_every_slot_is_busy() {
    let mut r = rx();
    for tid in 1..=2 {
        assert_eq!(
            r.handle(T0, SA, &data_segment(&table_headers(tid), &records(20, tid), 1)),
            Outcome::Accepted
        );
    }
    assert_eq!(rx_replies(&mut r, T0), [acked(1, 7), acked(1, 7)]);
    let third = data_segment(&table_headers(3), &records(20, 3), 1);
    assert_eq!(r.handle(T0, SA, &third), Outcome::Rejected(Rejection::NoFreeSlot));
    assert_eq!(rx_replies(&mut r, T0), [stop()]);
    // The same TID from another peer is another transfer, and is refused too.
    let mut other = rx();
    other.handle(T0, SA, &data_segment(&table_headers(1), &records(20, 1), 1));
    other.handle(T0, SA, &data_segment(&table_headers(2), &records(20, 2), 1));
    assert_eq!(
        other.handle(T0, CLIENT, &data_segment(&table_headers(1), &records(20, 1), 1)),
        Outcome::Rejected(Rejection::NoFreeSlot)
    );
}

#[test]
fn stop_when_a_transfer_of_unknown_total_outgrows_the_slot() {
    let mut r = rx();
    let h = table_headers(1);
    // PayloadLength 0 in the First segment: total not given. Seven segments can start in a
    // 1336-byte slot, but a full seventh does not fit.
    assert_eq!(r.handle(T0, SA, &raw_data(1, RmppFlags::FIRST, 1, 0)), Outcome::Accepted);
    assert_eq!(rx_replies(&mut r, T0), [acked(1, 7)]);
    for seg in 2..=6 {
        assert_eq!(
            r.handle(
                T0,
                SA,
                &mad(&h, rmpp(RmppType::Data, RmppFlags::empty(), RmppStatus::Normal, seg, 0), &[1; 200])
            ),
            Outcome::Accepted
        );
    }
    let seventh = mad(&h, rmpp(RmppType::Data, RmppFlags::empty(), RmppStatus::Normal, 7, 0), &[1; 200]);
    let too_large = Failure::TooLarge { needed: 1456, capacity: CAP };
    assert_eq!(r.handle(T0, SA, &seventh), Outcome::Ended(too_large));
    assert_eq!(rx_replies(&mut r, T0), [stop()]);
    assert!(matches!(r.poll_event(), Some(Event::ReceiveFailed { failure, .. }) if failure == too_large));
    // The sender resends: it hears the STOP again.
    assert_eq!(r.handle(T0, SA, &seventh), Outcome::Dropped(Dropped::Stale));
    assert_eq!(rx_replies(&mut r, T0), [stop()]);
}

#[test]
fn unknown_total_completes_when_the_last_segment_fits() {
    let mut r = rx();
    let h = table_headers(1);
    let data = records(20, 5);
    r.handle(
        T0,
        SA,
        &mad(&h, rmpp(RmppType::Data, RmppFlags::FIRST, RmppStatus::Normal, 1, 0), &data[..200]),
    );
    for seg in 2..=6u32 {
        let chunk = &data[(seg as usize - 1) * 200..seg as usize * 200];
        r.handle(
            T0,
            SA,
            &mad(&h, rmpp(RmppType::Data, RmppFlags::empty(), RmppStatus::Normal, seg, 0), chunk),
        );
    }
    let last = mad(&h, rmpp(RmppType::Data, RmppFlags::LAST, RmppStatus::Normal, 7, 100), &data[1200..]);
    assert_eq!(r.handle(T0, SA, &last), Outcome::Completed);
    assert_eq!(rx_replies(&mut r, T0), [acked(7, 7)], "a newer ACK replaces an undrained one");
    let Some(Event::Received { id, len, .. }) = r.poll_event() else { panic!() };
    assert_eq!(len, CAP);
    assert_eq!(&r.received(id).unwrap()[DATA_OFFSET..], &data[..]);
}

// ---- Receiver: ABORTs of a running transfer -------------------------------------------------

/// A receiver holding segment 1 of 7 of transfer 1 (20 records); the ACK is drained.
fn started() -> (Rx, Vec<u8>) {
    let mut r = rx();
    let data = records(20, 1);
    assert_eq!(r.handle(T0, SA, &data_segment(&table_headers(1), &data, 1)), Outcome::Accepted);
    assert_eq!(rx_replies(&mut r, T0), [acked(1, 7)]);
    (r, data)
}

fn assert_failed(r: &mut Rx, failure: Failure) {
    match r.poll_event() {
        Some(Event::ReceiveFailed { key, failure: f }) => {
            assert_eq!(f, failure);
            assert_eq!((key.transaction_id, key.peer), (1, SA));
        }
        other => panic!("expected failure {failure:?}, got {other:?}"),
    }
    assert_eq!(r.poll_event(), None);
    assert_eq!(r.busy_slots(), 0);
}

#[test]
fn truncated_when_last_comes_early() {
    let (mut r, _) = started();
    // The First segment promised 1280 bytes; a Last segment at 2 carries 200 + 100.
    let early = raw_data(1, RmppFlags::LAST, 2, 120);
    let truncated = Failure::Truncated { promised: 1280, carried: 300 };
    assert_eq!(r.handle(T0, SA, &early), Outcome::Ended(truncated));
    assert_eq!(rx_replies(&mut r, T0), [abort(RmppStatus::InconsistentLastAndPayloadLength)]);
    assert_failed(&mut r, truncated);
}

#[test]
fn truncated_when_last_is_short() {
    let (mut r, data) = started();
    let h = table_headers(1);
    for seg in 2..=6 {
        assert_eq!(r.handle(T0, SA, &data_segment(&h, &data, seg)), Outcome::Accepted);
    }
    // The right segment number, but 60 bytes instead of 80.
    let short = mad(&h, rmpp(RmppType::Data, RmppFlags::LAST, RmppStatus::Normal, 7, 80), &data[1200..1260]);
    let truncated = Failure::Truncated { promised: 1280, carried: 1260 };
    assert_eq!(r.handle(T0, SA, &short), Outcome::Ended(truncated));
    assert_eq!(rx_replies(&mut r, T0), [abort(RmppStatus::InconsistentLastAndPayloadLength)]);
    assert_failed(&mut r, truncated);
}

#[test]
fn abort_when_last_carries_more_than_promised() {
    let (mut r, _) = started();
    let status = RmppStatus::InconsistentLastAndPayloadLength;
    assert_eq!(
        r.handle(T0, SA, &raw_data(1, RmppFlags::LAST, 7, 220)),
        Outcome::Ended(Failure::Aborted(status))
    );
    assert_eq!(rx_replies(&mut r, T0), [abort(status)]);
    assert_failed(&mut r, Failure::Aborted(status));
}

#[test]
fn abort_when_the_promised_last_segment_is_not_last() {
    let (mut r, _) = started();
    let status = RmppStatus::InconsistentLastAndPayloadLength;
    assert_eq!(
        r.handle(T0, SA, &raw_data(1, RmppFlags::empty(), 7, 0)),
        Outcome::Ended(Failure::Aborted(status))
    );
    assert_eq!(rx_replies(&mut r, T0), [abort(status)]);
    assert_failed(&mut r, Failure::Aborted(status));
}

#[test]
fn abort_segment_number_too_big() {
    let (mut r, _) = started();
    let status = RmppStatus::SegmentNumberTooBig;
    assert_eq!(
        r.handle(T0, SA, &raw_data(1, RmppFlags::empty(), 8, 0)),
        Outcome::Ended(Failure::Aborted(status))
    );
    assert_eq!(rx_replies(&mut r, T0), [abort(status)]);
    assert_failed(&mut r, Failure::Aborted(status));
}

#[test]
fn abort_segment_beyond_an_unknown_totals_last() {
    let mut r = rx();
    let h = table_headers(1);
    r.handle(T0, SA, &raw_data(1, RmppFlags::FIRST, 1, 0));
    assert_eq!(
        r.handle(
            T0,
            SA,
            &mad(&h, rmpp(RmppType::Data, RmppFlags::empty(), RmppStatus::Normal, 4, 0), &[0; 200])
        ),
        Outcome::Accepted
    );
    // Segment 3 says it is the last, but 4 is already here.
    let status = RmppStatus::SegmentNumberTooBig;
    assert_eq!(
        r.handle(T0, SA, &raw_data(1, RmppFlags::LAST, 3, 220)),
        Outcome::Ended(Failure::Aborted(status))
    );
    assert_eq!(rx_replies(&mut r, T0), [abort(status)], "the ABORT replaces the undrained ACK");
}

#[test]
fn illegal_mad_of_a_running_transfer_aborts_it() {
    for (patch, status) in [
        ((24, 3u8), RmppStatus::UnsupportedVersion),
        ((25, 7), RmppStatus::BadRmppType),
        ((27, 1), RmppStatus::IllegalStatus),
        ((26, 0x1f << 3 | 0x3), RmppStatus::InconsistentFirstAndSegmentNumber),
    ] {
        let (mut r, data) = started();
        let mut m = data_segment(&table_headers(1), &data, 2);
        m[patch.0] = patch.1;
        assert_eq!(r.handle(T0, SA, &m), Outcome::Ended(Failure::Aborted(status)));
        assert_eq!(rx_replies(&mut r, T0), [abort(status)]);
        assert_failed(&mut r, Failure::Aborted(status));
    }
}

#[test]
fn abort_total_time_too_long_when_the_sender_goes_quiet() {
    let (mut r, _) = started();
    // No new segment for response_time × (max_retries + 2) = 7 ms.
    assert_eq!(r.poll_at(), Some(ms(7)));
    assert!(rx_replies(&mut r, Instant::from_micros(6_999)).is_empty());
    assert_eq!(rx_replies(&mut r, ms(7)), [abort(RmppStatus::TotalTimeTooLong)]);
    assert_failed(&mut r, Failure::TimedOut);
    assert_eq!(r.poll_at(), None);
}

#[test]
fn abort_total_time_too_long_for_a_slow_transfer() {
    let config = Config { total_timeout: Duration::from_millis(10), ..fast_config() };
    let mut r = Rx::new(config);
    let h = table_headers(1);
    let data = records(20, 1);
    r.handle(T0, SA, &data_segment(&h, &data, 1));
    for (seg, at) in [(2, 5), (3, 9)] {
        assert_eq!(r.handle(ms(at), SA, &data_segment(&h, &data, seg)), Outcome::Accepted);
    }
    assert_eq!(r.poll_at(), Some(ms(10)));
    r.handle_timeout(ms(10));
    // One reply waits per slot: the ABORT replaces the undrained ACK.
    assert_eq!(rx_replies(&mut r, ms(10)), [abort(RmppStatus::TotalTimeTooLong)]);
    assert_failed(&mut r, Failure::TimedOut);
}

#[test]
fn sender_abort_and_stop_end_the_receive() {
    let h = table_headers(1);
    for (m, failure) in [
        (
            mad(&h, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::TooManyRetries, 0, 0), &[]),
            Failure::PeerAborted(RmppStatus::TooManyRetries),
        ),
        (
            mad(&h, rmpp(RmppType::Stop, RmppFlags::empty(), RmppStatus::ResourcesExhausted, 0, 0), &[]),
            Failure::PeerStopped(RmppStatus::ResourcesExhausted),
        ),
        (
            mad(&h, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::ResourcesExhausted, 0, 0), &[]),
            Failure::Aborted(RmppStatus::IllegalStatus),
        ),
    ] {
        let (mut r, _) = started();
        assert_eq!(r.handle(T0, SA, &m), Outcome::Ended(failure));
        let replies = rx_replies(&mut r, T0);
        if failure.by_peer() {
            assert!(replies.is_empty(), "no answer to the peer's own ABORT/STOP");
        } else {
            assert_eq!(replies, [abort(RmppStatus::IllegalStatus)]);
        }
        assert_failed(&mut r, failure);
    }
}

// ---- Receiver: windows, duplicates, completion, linger --------------------------------------

#[test]
fn window_ack_duplicates_and_reordering() {
    let mut r = Rx::new(Config { window: 2, ..fast_config() });
    let h = table_headers(1);
    let data = records(20, 3);
    let seg = |n| data_segment(&h, &data, n);
    // Linux: NewWindowLast 1 until segment 1, then one window more per ACK.
    assert_eq!(r.handle(T0, SA, &seg(1)), Outcome::Accepted);
    assert_eq!(rx_replies(&mut r, T0), [acked(1, 3)]);
    assert_eq!(r.handle(T0, SA, &seg(3)), Outcome::Accepted, "held beyond the gap");
    assert_eq!(r.handle(T0, SA, &seg(3)), Outcome::Dropped(Dropped::Stale));
    assert!(rx_replies(&mut r, T0).is_empty());
    assert_eq!(r.handle(T0, SA, &seg(2)), Outcome::Accepted);
    assert_eq!(rx_replies(&mut r, T0), [acked(3, 5)]);
    assert_eq!(r.handle(T0, SA, &seg(2)), Outcome::Duplicate);
    assert_eq!(rx_replies(&mut r, T0), [acked(3, 5)], "a duplicate repeats the ACK");
    assert_eq!(r.handle(T0, SA, &seg(6)), Outcome::Dropped(Dropped::OutOfWindow));
    assert_eq!(r.handle(T0, SA, &seg(5)), Outcome::Accepted);
    assert_eq!(r.handle(T0, SA, &seg(4)), Outcome::Accepted);
    assert_eq!(rx_replies(&mut r, T0), [acked(5, 7)]);
    assert_eq!(r.handle(T0, SA, &seg(6)), Outcome::Accepted);
    assert!(rx_replies(&mut r, T0).is_empty());
    r.check_invariants();
    assert_eq!(r.handle(T0, SA, &seg(7)), Outcome::Completed);
    assert_eq!(rx_replies(&mut r, T0), [acked(7, 7)]);

    let Some(Event::Received { id, key, len }) = r.poll_event() else { panic!("no event") };
    assert_eq!(r.poll_event(), None, "reported once");
    assert_eq!((key.transaction_id, key.data_method, len), (1, Method::GetTableResp, CAP));
    let bytes = r.received(id).unwrap();
    assert_eq!(&bytes[..DATA_OFFSET], &seg(1)[..DATA_OFFSET], "the First segment's header");
    assert_eq!(&bytes[DATA_OFFSET..], &data[..]);

    // Until release, and after it while lingering, a resent segment gets the final ACK again.
    assert_eq!(r.handle(ms(1), SA, &seg(7)), Outcome::Duplicate);
    assert_eq!(rx_replies(&mut r, ms(1)), [acked(7, 7)]);
    assert!(r.release(id));
    assert!(!r.release(id), "released once");
    assert_eq!(r.received(id), None);
    assert_eq!(r.handle(ms(50), SA, &seg(1)), Outcome::Duplicate);
    assert_eq!(rx_replies(&mut r, ms(50)), [acked(7, 7)]);
    // After the linger time the key is forgotten.
    assert_eq!(r.handle(ms(200), SA, &seg(3)), Outcome::Dropped(Dropped::Unmatched));
    assert_eq!(r.busy_slots(), 0);
}

#[test]
fn single_segment_transfer() {
    let mut r = rx();
    let data = records(1, 9);
    let m = data_segment(&table_headers(4), &data, 1);
    assert_eq!(parse(&m).rmpp.flags, RmppFlags::ACTIVE | RmppFlags::FIRST | RmppFlags::LAST);
    assert_eq!(parse(&m).rmpp.data2, 84);
    assert_eq!(r.handle(T0, SA, &m), Outcome::Completed);
    assert_eq!(rx_replies(&mut r, T0), [acked(1, 1)], "Linux's final ACK: NewWindowLast 1");
    let Some(Event::Received { id, len, .. }) = r.poll_event() else { panic!() };
    assert_eq!(len, DATA_OFFSET + 64);
    let bytes = r.received(id).unwrap();
    assert_eq!(&bytes[DATA_OFFSET..], &data[..]);
    // The reassembled MAD reads as an SA MAD with one record.
    let p = crate::wire::SaPacket::new_checked(bytes).unwrap();
    assert_eq!(p.records().unwrap().count(), 1);
}

#[test]
fn lingering_slots_are_reused_oldest_first() {
    let mut r = rx();
    for (tid, at) in [(1u64, 0u64), (2, 1)] {
        r.handle(ms(at), SA, &data_segment(&table_headers(tid), &records(1, tid), 1));
        let Some(Event::Received { id, .. }) = r.poll_event() else { panic!() };
        assert!(r.release(id));
    }
    rx_replies(&mut r, ms(2));
    // Both slots linger; a new transfer takes the one that finished first.
    assert_eq!(r.handle(ms(2), SA, &data_segment(&table_headers(3), &records(20, 3), 1)), Outcome::Accepted);
    assert_eq!(
        r.handle(ms(2), SA, &data_segment(&table_headers(1), &records(1, 1), 1)),
        Outcome::Completed,
        "tid 1 is forgotten"
    );
    assert_eq!(
        r.handle(ms(2), SA, &data_segment(&table_headers(2), &records(1, 2), 1)),
        Outcome::Rejected(Rejection::NoFreeSlot)
    );
}

#[test]
fn stale_handles_see_nothing() {
    let mut r = rx();
    r.handle(T0, SA, &data_segment(&table_headers(1), &records(1, 1), 1));
    let Some(Event::Received { id, .. }) = r.poll_event() else { panic!() };
    assert!(r.release(id));
    // Slot 0 gets a new transfer: the old handle must not read it.
    r.handle(T0, SA, &data_segment(&table_headers(2), &records(1, 2), 1));
    r.handle(T0, SA, &data_segment(&table_headers(3), &records(1, 3), 1));
    while let Some(e) = r.poll_event() {
        assert!(matches!(e, Event::Received { .. }));
    }
    assert_eq!(r.received(id), None);
    assert!(!r.release(id));
}

// ---- Sender ---------------------------------------------------------------------------------

fn tx() -> Tx {
    Tx::new(fast_config())
}

/// What a sender transmits: (type, status, SegmentNumber, PayloadLength) per MAD.
fn tx_out(s: &mut Tx, now: Instant) -> Vec<(RmppType, RmppStatus, u32, u32)> {
    drain(|b| s.poll_transmit(now, b))
        .into_iter()
        .map(|(to, m, _)| {
            assert_eq!(to, CLIENT);
            assert_eq!(
                m.header.method,
                Method::GetTableResp,
                "DATA and the sender's ABORTs keep the DATA Method"
            );
            (m.rmpp.rmpp_type, m.rmpp.status, m.rmpp.data1, m.rmpp.data2)
        })
        .collect()
}

fn segs(range: core::ops::RangeInclusive<u32>) -> Vec<(RmppType, RmppStatus, u32, u32)> {
    range
        .map(|n| {
            (RmppType::Data, RmppStatus::Normal, n, crate::rmpp::payload_length(n as usize, 1280) as u32)
        })
        .collect()
}

/// A sender that has sent segment 1 of transfer 1 (20 records, 7 segments).
fn sending() -> Tx {
    let mut s = tx();
    s.start(T0, CLIENT, &table_headers(1), &records(20, 1)).unwrap();
    assert_eq!(tx_out(&mut s, T0), segs(1..=1), "the first window is one segment");
    s
}

fn assert_send_failed(s: &mut Tx, failure: Failure) {
    match s.poll_event() {
        Some(Event::SendFailed { failure: f, key, .. }) => {
            assert_eq!(f, failure);
            assert_eq!(key.transaction_id, 1);
        }
        other => panic!("expected {failure:?}, got {other:?}"),
    }
    assert_eq!(s.busy_slots(), 0);
}

#[test]
fn sender_follows_the_window_to_completion() {
    let mut s = sending();
    let h = table_headers(1);
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 1, 3)), Outcome::Accepted);
    assert_eq!(tx_out(&mut s, T0), segs(2..=3));
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 1, 3)), Outcome::Dropped(Dropped::Stale), "a repeated ACK");
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 3, 7)), Outcome::Accepted);
    assert_eq!(tx_out(&mut s, T0), segs(4..=7));
    s.check_invariants();
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 7, 7)), Outcome::Completed);
    assert!(tx_out(&mut s, T0).is_empty());
    assert!(matches!(s.poll_event(), Some(Event::Sent { .. })));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_at(), None);
    assert_eq!(
        s.handle(T0, CLIENT, &ack(&h, 7, 7)),
        Outcome::Dropped(Dropped::Unmatched),
        "the slot is free"
    );
}

#[test]
fn sender_ignores_reordered_older_acks() {
    let mut s = sending();
    let h = table_headers(1);
    s.handle(T0, CLIENT, &ack(&h, 1, 5));
    tx_out(&mut s, T0);
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 3, 7)), Outcome::Accepted);
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 1, 5)), Outcome::Dropped(Dropped::Stale));
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 3, 5)), Outcome::Dropped(Dropped::Stale));
    assert_eq!(tx_out(&mut s, T0), segs(6..=7));
}

#[test]
fn sender_aborts_on_ack_with_status() {
    let mut s = sending();
    let mut m = ack(&table_headers(1), 1, 3);
    m[27] = 1;
    let failure = Failure::Aborted(RmppStatus::IllegalStatus);
    assert_eq!(s.handle(T0, CLIENT, &m), Outcome::Ended(failure));
    assert_eq!(tx_out(&mut s, T0), [abort(RmppStatus::IllegalStatus)]);
    assert_send_failed(&mut s, failure);
}

#[test]
fn sender_aborts_when_new_window_last_is_below_the_segment() {
    let mut s = sending();
    let failure = Failure::Aborted(RmppStatus::NewWindowLastTooSmall);
    assert_eq!(s.handle(T0, CLIENT, &ack(&table_headers(1), 1, 0)), Outcome::Ended(failure));
    assert_eq!(tx_out(&mut s, T0), [abort(RmppStatus::NewWindowLastTooSmall)]);
    assert_send_failed(&mut s, failure);
}

#[test]
fn sender_aborts_when_a_newer_ack_shrinks_the_window() {
    let mut s = sending();
    let h = table_headers(1);
    s.handle(T0, CLIENT, &ack(&h, 1, 6));
    assert_eq!(tx_out(&mut s, T0), segs(2..=6));
    let failure = Failure::Aborted(RmppStatus::NewWindowLastTooSmall);
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 3, 5)), Outcome::Ended(failure));
    assert_eq!(tx_out(&mut s, T0), [abort(RmppStatus::NewWindowLastTooSmall)]);
    assert_send_failed(&mut s, failure);
}

#[test]
fn sender_aborts_on_ack_of_a_segment_never_sent() {
    let mut s = sending();
    let failure = Failure::Aborted(RmppStatus::SegmentNumberTooBig);
    assert_eq!(s.handle(T0, CLIENT, &ack(&table_headers(1), 2, 7)), Outcome::Ended(failure));
    assert_eq!(tx_out(&mut s, T0), [abort(RmppStatus::SegmentNumberTooBig)]);
    assert_send_failed(&mut s, failure);
}

#[test]
fn sender_stops_on_receiver_stop_and_abort() {
    let mut h = table_headers(1);
    h.header.method = Method::GetTable; // the receiver's control MADs flip the response bit
    for (m, failure, answer) in [
        (
            mad(&h, rmpp(RmppType::Stop, RmppFlags::empty(), RmppStatus::ResourcesExhausted, 0, 0), &[]),
            Failure::PeerStopped(RmppStatus::ResourcesExhausted),
            None,
        ),
        (
            mad(&h, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::TotalTimeTooLong, 0, 0), &[]),
            Failure::PeerAborted(RmppStatus::TotalTimeTooLong),
            None,
        ),
        (
            mad(&h, rmpp(RmppType::Stop, RmppFlags::empty(), RmppStatus::Normal, 0, 0), &[]),
            Failure::Aborted(RmppStatus::IllegalStatus),
            Some(abort(RmppStatus::IllegalStatus)),
        ),
        (
            mad(&h, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::from_raw(3), 0, 0), &[]),
            Failure::Aborted(RmppStatus::IllegalStatus),
            Some(abort(RmppStatus::IllegalStatus)),
        ),
    ] {
        let mut s = sending();
        assert_eq!(s.handle(T0, CLIENT, &m), Outcome::Ended(failure));
        assert_eq!(tx_out(&mut s, T0), answer.into_iter().collect::<Vec<_>>());
        assert_send_failed(&mut s, failure);
    }
}

#[test]
fn sender_retries_then_aborts_too_many_retries() {
    let mut s = sending();
    // Default max_retries 5: segment 1 goes 1 + 5 times, one ACK wait (1 ms) apart.
    for retry in 1..=5 {
        assert_eq!(s.poll_at(), Some(ms(retry - 1) + Duration::from_millis(1)));
        assert_eq!(tx_out(&mut s, ms(retry)), segs(1..=1), "retry {retry}");
    }
    assert_eq!(tx_out(&mut s, ms(6)), [abort(RmppStatus::TooManyRetries)]);
    assert_send_failed(&mut s, Failure::TooManyRetries);
}

#[test]
fn sender_resends_from_the_last_ack() {
    let mut s = sending();
    let h = table_headers(1);
    s.handle(T0, CLIENT, &ack(&h, 1, 7));
    assert_eq!(tx_out(&mut s, T0), segs(2..=7));
    s.handle(T0, CLIENT, &ack(&h, 3, 7));
    // Timeout: go back to segment 4.
    assert_eq!(tx_out(&mut s, ms(1)), segs(4..=7));
    // Progress resets the retry count; an ACK mid-resend skips what it covers.
    s.handle(ms(1), CLIENT, &ack(&h, 6, 7));
    assert_eq!(tx_out(&mut s, ms(2)), segs(7..=7));
    assert_eq!(s.handle(ms(2), CLIENT, &ack(&h, 7, 7)), Outcome::Completed);
}

#[test]
fn sender_gives_up_after_the_total_time() {
    let config = Config { total_timeout: Duration::from_millis(3), max_retries: 100, ..fast_config() };
    let mut s = Tx::new(config);
    s.start(T0, CLIENT, &table_headers(1), &records(20, 1)).unwrap();
    tx_out(&mut s, T0);
    tx_out(&mut s, ms(1));
    tx_out(&mut s, ms(2));
    assert_eq!(s.poll_at(), Some(ms(3)));
    assert_eq!(tx_out(&mut s, ms(3)), [abort(RmppStatus::TotalTimeTooLong)]);
    assert_send_failed(&mut s, Failure::TimedOut);
}

#[test]
fn peer_rresp_time_lengthens_the_ack_wait() {
    let mut s = sending();
    let mut h = table_headers(1);
    h.header.method = Method::GetTable;
    let mut r = rmpp(RmppType::Ack, RmppFlags::empty(), RmppStatus::Normal, 1, 7);
    r.resp_time = 10; // 4.096 µs × 2^10 = 4.194 ms
    s.handle(T0, CLIENT, &mad(&h, r, &[]));
    tx_out(&mut s, T0);
    assert_eq!(s.poll_at(), Some(Instant::from_micros(4194)));
}

#[test]
fn sender_abort_by_caller() {
    let mut s = tx();
    let id = s.start(T0, CLIENT, &table_headers(1), &records(20, 1)).unwrap();
    assert!(s.abort(id));
    assert!(!s.abort(id));
    assert_eq!(tx_out(&mut s, T0), [abort(RmppStatus::Unspecified)]);
    assert_send_failed(&mut s, Failure::Aborted(RmppStatus::Unspecified));
}

#[test]
fn sender_start_errors() {
    let mut s = tx();
    let big = records(21, 1);
    assert_eq!(
        s.start(T0, CLIENT, &table_headers(1), &big),
        Err(SendError::TooLarge { needed: 56 + 1344, capacity: CAP })
    );
    s.start(T0, CLIENT, &table_headers(1), &[]).unwrap();
    assert_eq!(s.start(T0, CLIENT, &table_headers(1), &[]), Err(SendError::Busy));
    s.start(T0, SA, &table_headers(1), &[]).unwrap(); // same TID, other peer
    assert_eq!(s.start(T0, CLIENT, &table_headers(2), &[]), Err(SendError::NoFreeSlot));
    // An empty table is one segment with PayloadLength 20 (the SA header alone).
    let out = drain(|b| s.poll_transmit(T0, b));
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].1.rmpp.data1, out[0].1.rmpp.data2), (1, 20));
    s.handle(T0, CLIENT, &ack(&table_headers(1), 1, 1));
    assert!(matches!(s.poll_event(), Some(Event::Sent { .. })));
    // Reported: the slot takes a new send.
    s.start(T0, CLIENT, &table_headers(2), &[]).unwrap();
}

#[test]
fn sender_answers_an_illegal_ack_for_nothing_once() {
    let mut s = tx();
    let status = RmppStatus::NewWindowLastTooSmall;
    assert_eq!(
        s.handle(T0, CLIENT, &ack(&table_headers(9), 5, 1)),
        Outcome::Rejected(Rejection::Illegal(status))
    );
    let out = drain(|b| s.poll_transmit(T0, b));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].1.rmpp.rmpp_type, out[0].1.rmpp.status), (RmppType::Abort, status));
    assert_eq!(out[0].1.header.method, Method::GetTableResp, "an answer to the ACK flips it back");
    assert_eq!(s.handle(T0, CLIENT, &ack(&table_headers(9), 1, 5)), Outcome::Dropped(Dropped::Unmatched));
}

// ---- Endpoint routing ------------------------------------------------------------------------

#[test]
fn endpoint_routes_by_direction() {
    let mut e = Endpoint::<1, CAP, 1, CAP>::new(fast_config());
    let peer = SA;
    // We send tid 5 (a GetTableResp) and receive tid 5 from the same peer the other way
    // (an RMPP request, e.g. a large GetMulti): the two share a TID but not a direction.
    let mut ours = table_headers(5);
    ours.header.method = Method::GetMultiResp;
    e.start(T0, peer, &ours, &records(20, 1)).unwrap();
    let mut theirs = SaMad::new(Method::GetMulti, AttributeId::MultiPathRecord, 5);
    theirs.rmpp = rmpp_header::Repr::NONE;
    let data = records(20, 2);
    assert_eq!(e.handle(T0, peer, &data_segment(&theirs, &data, 1)), Outcome::Accepted);
    let out = drain(|b| e.poll_transmit(T0, b));
    let kinds: Vec<_> =
        out.iter().map(|(_, m, _)| (m.header.method, m.rmpp.rmpp_type, m.rmpp.data1)).collect();
    assert_eq!(
        kinds,
        [(Method::GetMultiResp, RmppType::Ack, 1), (Method::GetMultiResp, RmppType::Data, 1)],
        "our ACK of their request flips GetMulti; our DATA is GetMultiResp"
    );
    // Their ACK of our DATA (GetMulti method, flipped from our GetMultiResp) goes to the sender.
    assert_eq!(e.handle(T0, peer, &ack(&ours, 1, 7)), Outcome::Accepted);
    // An ABORT with Method GetMulti and TID 5 reads the same whether the receiver of our
    // GetMultiResp sends it (flipping our Method) or the sender of their GetMulti does (keeping
    // its own): the send takes it, as Linux's `abort_send()` would.
    let their_abort =
        mad(&theirs, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::Unspecified, 0, 0), &[]);
    assert_eq!(
        e.handle(T0, peer, &their_abort),
        Outcome::Ended(Failure::PeerAborted(RmppStatus::Unspecified))
    );
    assert!(matches!(e.poll_event(), Some(Event::SendFailed { .. })));
    assert_eq!(e.poll_event(), None, "the receive runs on");
    // Without a send of that TID, the ABORT ends the receive.
    let their_abort_too =
        mad(&theirs, rmpp(RmppType::Abort, RmppFlags::empty(), RmppStatus::TooManyRetries, 0, 0), &[]);
    assert_eq!(
        e.handle(T0, peer, &their_abort_too),
        Outcome::Ended(Failure::PeerAborted(RmppStatus::TooManyRetries))
    );
    assert!(matches!(e.poll_event(), Some(Event::ReceiveFailed { .. })));
    // A MAD of unknown version for nothing is answered once.
    let mut odd = data_segment(&table_headers(77), &data, 1);
    odd[24] = 9;
    assert_eq!(
        e.handle(T0, peer, &odd),
        Outcome::Rejected(Rejection::Illegal(RmppStatus::UnsupportedVersion))
    );
    let out = drain(|b| e.poll_transmit(T0, b));
    let aborts = out.iter().filter(|(_, m, _)| m.rmpp.rmpp_type == RmppType::Abort).count();
    assert_eq!(aborts, 1);
}

// ---- Retries with the same TID ----------------------------------------------------------------

#[test]
fn a_new_attempt_after_a_failure_starts_afresh() {
    let (mut r, data) = started();
    let h = table_headers(1);
    let truncated = Failure::Truncated { promised: 1280, carried: 300 };
    assert_eq!(r.handle(T0, SA, &raw_data(1, RmppFlags::LAST, 2, 120)), Outcome::Ended(truncated));
    rx_replies(&mut r, T0);
    // The sender tries again with the same TID before we reported the failure: a new transfer
    // in the other slot, while the failure is still reported once.
    assert_eq!(r.handle(T0, SA, &data_segment(&h, &data, 1)), Outcome::Accepted);
    assert_eq!(rx_replies(&mut r, T0), [acked(1, 7)]);
    assert_failed_keeping(&mut r, truncated);
    for seg in 2..=6 {
        assert_eq!(r.handle(T0, SA, &data_segment(&h, &data, seg)), Outcome::Accepted, "segment {seg}");
    }
    assert_eq!(r.handle(T0, SA, &data_segment(&h, &data, 7)), Outcome::Completed);
    let Some(Event::Received { id, .. }) = r.poll_event() else { panic!() };
    assert_eq!(&r.received(id).unwrap()[DATA_OFFSET..], &data[..]);
    r.release(id);
    // After a completion, a First segment is a resend: the final ACK again (as Linux does).
    assert_eq!(r.handle(T0, SA, &data_segment(&h, &data, 1)), Outcome::Duplicate);
    assert_eq!(rx_replies(&mut r, T0), [acked(7, 7)]);
}

fn assert_failed_keeping(r: &mut Rx, failure: Failure) {
    assert!(matches!(r.poll_event(), Some(Event::ReceiveFailed { failure: f, .. }) if f == failure));
}

#[test]
fn a_failed_lingering_transfer_gives_its_slot_to_the_retry() {
    let mut r = Receiver::<1, CAP>::new(fast_config());
    let h = table_headers(1);
    let data = records(20, 1);
    r.handle(T0, SA, &data_segment(&h, &data, 1));
    assert_eq!(
        r.handle(T0, SA, &raw_data(1, RmppFlags::empty(), 9, 0)),
        Outcome::Ended(Failure::Aborted(RmppStatus::SegmentNumberTooBig))
    );
    assert!(matches!(r.poll_event(), Some(Event::ReceiveFailed { .. })));
    // A straggler of the failed transfer hears the ABORT again...
    assert_eq!(r.handle(T0, SA, &data_segment(&h, &data, 2)), Outcome::Dropped(Dropped::Stale));
    let replies = drain(|b| r.poll_transmit(T0, b));
    assert_eq!(
        replies.last().map(|(_, m, _)| (m.rmpp.rmpp_type, m.rmpp.status)),
        Some((RmppType::Abort, RmppStatus::SegmentNumberTooBig))
    );
    // ...but a new First segment takes the only slot.
    assert_eq!(r.handle(T0, SA, &data_segment(&h, &data, 1)), Outcome::Accepted);
    assert_eq!(r.busy_slots(), 1);
}

#[test]
fn acks_reach_the_running_send_not_an_unreported_one() {
    let mut s = sending();
    let h = table_headers(1);
    s.handle(T0, CLIENT, &ack(&h, 1, 7));
    tx_out(&mut s, T0);
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 7, 7)), Outcome::Completed);
    // Not reported yet, the same key starts again (another slot).
    s.start(T0, CLIENT, &h, &records(20, 2)).unwrap();
    assert_eq!(tx_out(&mut s, T0), segs(1..=1));
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 1, 7)), Outcome::Accepted);
    assert_eq!(tx_out(&mut s, T0), segs(2..=7));
    assert!(matches!(s.poll_event(), Some(Event::Sent { .. })));
    assert_eq!(s.handle(T0, CLIENT, &ack(&h, 7, 7)), Outcome::Completed);
    assert!(matches!(s.poll_event(), Some(Event::Sent { .. })));
}
