//! Property tests: hostile MAD sequences never panic a receiver or an endpoint, never break
//! their bookkeeping and never hand out bytes beyond a slot; segments of a real transfer
//! delivered in any order, with duplicates and losses, reassemble exactly.

use std::vec::Vec;

use proptest::collection::vec;
use proptest::prelude::*;

use super::support::{data_segment, fast_config, records, table_headers};
use crate::rmpp::{capacity_for, Endpoint, Event, Outcome, Receiver, RecvId};
use crate::time::Instant;
use crate::wire::rmpp_header::{self, RmppFlags, RmppStatus, RmppType};
use crate::wire::{AttributeId, MadAddress, Method, SaMad, SaPacket, DATA_OFFSET, MAD_LEN};

const CAP: usize = capacity_for(20, 64);

const PEERS: [MadAddress; 3] = [MadAddress::gsi(1, 0), MadAddress::gsi(2, 0), MadAddress::gsi(1, 3)];
const METHODS: [Method; 4] = [Method::GetTableResp, Method::GetTable, Method::GetResp, Method::GetMultiResp];

/// One thing that happens to an endpoint.
#[derive(Debug, Clone)]
enum Step {
    /// A MAD built from fields drawn near the interesting values.
    Mad {
        peer: usize,
        tid: u64,
        method: usize,
        version: u8,
        rmpp_type: u8,
        flags: u8,
        status: u8,
        seg: u32,
        payload_length: u32,
        fill: u8,
        len: usize,
    },
    /// A correct DATA segment of a real transfer of `records` PathRecords (some too large for
    /// the slots), from any peer, at any point: the raw material of legal sequences.
    Segment { peer: usize, tid: u64, records: usize, seg: usize },
    /// A correct ACK of a send, possibly of a segment never sent.
    Ack { peer: usize, tid: u64, seg: u32, new_window_last: u32 },
    /// Any bytes at all.
    Raw(Vec<u8>),
    /// Time passes.
    Advance(u64),
    /// The caller gives back the `n`th transfer it was handed.
    Release(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let mad = (
        (0..PEERS.len(), 0..4u64, 0..METHODS.len()),
        (
            prop_oneof![Just(1u8), Just(1), Just(0), Just(2), any::<u8>()],
            prop_oneof![1u8..=4, Just(1), any::<u8>()],
        ),
        (
            prop_oneof![Just(1u8), Just(3), Just(5), Just(7), 0..8u8],
            prop_oneof![Just(0u8), Just(0), Just(1), 118u8..=127, any::<u8>()],
        ),
        (
            prop_oneof![1..=8u32, 0..=70u32, Just(u32::MAX), any::<u32>()],
            prop_oneof![0..=1500u32, Just(1300), any::<u32>()],
        ),
        (any::<u8>(), prop_oneof![Just(MAD_LEN), Just(MAD_LEN), 0..=MAD_LEN + 8]),
    )
        .prop_map(
            |(
                (peer, tid, method),
                (version, rmpp_type),
                (flags, status),
                (seg, payload_length),
                (fill, len),
            )| {
                Step::Mad {
                    peer,
                    tid,
                    method,
                    version,
                    rmpp_type,
                    flags,
                    status,
                    seg,
                    payload_length,
                    fill,
                    len,
                }
            },
        );
    let segment = (0..PEERS.len(), 0..4u64, prop_oneof![0..=20usize, 21..=40usize], 1..=8usize)
        .prop_map(|(peer, tid, records, seg)| Step::Segment { peer, tid, records, seg });
    let ack = (0..PEERS.len(), 0..4u64, 0..=8u32, 0..=70u32)
        .prop_map(|(peer, tid, seg, new_window_last)| Step::Ack { peer, tid, seg, new_window_last });
    prop_oneof![
        8 => segment,
        4 => mad,
        2 => ack,
        1 => vec(any::<u8>(), 0..300).prop_map(Step::Raw),
        1 => (0..20_000u64).prop_map(Step::Advance),
        1 => (0..4usize).prop_map(Step::Release),
    ]
}

/// The bytes of a [`Step::Mad`].
fn build(step: &Step) -> (MadAddress, Vec<u8>) {
    match *step {
        Step::Mad {
            peer,
            tid,
            method,
            version,
            rmpp_type,
            flags,
            status,
            seg,
            payload_length,
            fill,
            len,
        } => {
            let mut headers = SaMad::new(METHODS[method], AttributeId::PathRecord, tid);
            headers.rmpp = rmpp_header::Repr {
                version,
                rmpp_type: RmppType::from_raw(rmpp_type),
                resp_time: 0x1f,
                flags: RmppFlags::from_bits_truncate(flags),
                status: RmppStatus::from_raw(status),
                data1: seg,
                data2: payload_length,
            };
            let mut buf = std::vec![fill; MAD_LEN + 8];
            headers.emit(&mut buf).unwrap();
            buf.truncate(len);
            (PEERS[peer], buf)
        }
        Step::Segment { peer, tid, records: n, seg } => {
            let data = records(n, tid);
            let seg = seg.min(crate::rmpp::segment_count(data.len()));
            (PEERS[peer], data_segment(&table_headers(tid), &data, seg).to_vec())
        }
        Step::Ack { peer, tid, seg, new_window_last } => {
            (PEERS[peer], super::support::ack(&table_headers(tid), seg, new_window_last).to_vec())
        }
        Step::Raw(ref bytes) => (PEERS[0], bytes.clone()),
        _ => unreachable!(),
    }
}

/// Checks a MAD an endpoint sends: a whole SA MAD with an active RMPP v1 header.
fn check_sent(bytes: &[u8], to: &MadAddress) {
    assert_eq!(bytes.len(), MAD_LEN);
    assert!(PEERS.iter().any(|p| p.same_peer(to)), "sent to a peer nobody named: {to:?}");
    let p = SaPacket::new_checked(bytes).expect("sent MADs are SA MADs");
    assert!(p.rmpp_header().is_active());
    assert_eq!(p.rmpp_header().version, 1);
    let t = RmppType::from_raw(p.rmpp_header().rmpp_type);
    assert!(matches!(t, RmppType::Data | RmppType::Ack | RmppType::Stop | RmppType::Abort), "{t:?}");
}

/// Runs `steps` against the endpoint behind the closures; shared by both targets.
macro_rules! drive {
    ($e:expr, $steps:expr, $rx_only:expr) => {{
        let e = $e;
        let mut now = Instant::ZERO;
        let mut held: Vec<(RecvId, usize)> = Vec::new();
        let mut buf = [0u8; MAD_LEN];
        for step in $steps {
            match step {
                Step::Advance(us) => now += crate::time::Duration::from_micros(*us),
                Step::Release(n) => {
                    if let Some(&(id, _)) = held.get(*n) {
                        assert!(e.release(id));
                        assert!(e.received(id).is_none());
                        held.remove(*n);
                    }
                }
                other => {
                    let (from, mad) = build(other);
                    let outcome = e.handle(now, from, &mad);
                    e.check_invariants();
                    if mad.len() < DATA_OFFSET {
                        assert!(matches!(outcome, Outcome::Malformed(_)), "{outcome:?}");
                    }
                }
            }
            let mut sent = 0;
            while let Some((to, len)) = e.poll_transmit(now, &mut buf) {
                e.check_invariants();
                check_sent(&buf[..len], &to);
                sent += 1;
                assert!(sent < 1000, "poll_transmit runs dry");
            }
            while let Some(event) = e.poll_event() {
                match event {
                    Event::Received { id, len, .. } => {
                        let bytes = e.received(id).expect("a reported transfer's bytes");
                        assert_eq!(bytes.len(), len);
                        assert!((DATA_OFFSET..=CAP).contains(&len), "{len}");
                        held.push((id, len));
                    }
                    Event::ReceiveFailed { .. } => {}
                    other => assert!(!$rx_only, "{other:?}"),
                }
            }
            for &(id, len) in &held {
                assert_eq!(e.received(id).map(<[u8]>::len), Some(len), "held bytes stay put");
            }
            if let Some(at) = e.poll_at() {
                assert!(at >= Instant::ZERO);
            }
        }
        held.len()
    }};
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn receiver_survives_any_mad_sequence(steps in vec(step(), 1..120)) {
        let mut r = Receiver::<2, CAP>::new(fast_config());
        let held = drive!(&mut r, &steps, true);
        prop_assert!(held <= 2);
        prop_assert!(r.busy_slots() <= 2);
    }

    #[test]
    fn endpoint_survives_any_mad_sequence(steps in vec(step(), 1..120), sends in vec((0..PEERS.len(), 0..4u64, 0..30usize), 0..3)) {
        let mut e = Endpoint::<2, CAP, 2, CAP>::new(fast_config());
        for (peer, tid, n) in sends {
            let _ = e.start(Instant::ZERO, PEERS[peer], &table_headers(tid), &records(n.min(20), tid));
        }
        drive!(&mut e, &steps, false);
    }

    #[test]
    fn any_delivery_order_reassembles_exactly(
        n in 0usize..=20,
        rounds in vec(vec((any::<u16>(), any::<bool>(), any::<bool>()), 7), 1..12),
        window in 1u32..=8,
    ) {
        let config = crate::rmpp::Config { window, ..fast_config() };
        let mut r = Receiver::<1, CAP>::new(config);
        let headers = table_headers(42);
        let data = records(n, n as u64);
        let count = crate::rmpp::segment_count(data.len());
        let segments: Vec<_> = (1..=count).map(|s| data_segment(&headers, &data, s)).collect();
        let sa = PEERS[0];
        let mut done = None;
        // Each round delivers the segments in a shuffled order, dropping or doubling some; a
        // final round delivers everything in order, like a sender's last retransmission.
        let mut order: Vec<usize> = (0..count).collect();
        for round in rounds.iter().map(Some).chain(core::iter::repeat_n(None, count + 1)) {
            if let Some(round) = round {
                order.sort_by_key(|&i| round[i % round.len()].0 ^ (i as u16).wrapping_mul(0x9e37));
            } else {
                order.sort();
            }
            for (k, &i) in order.iter().enumerate() {
                let (_, drop, dup) = round.map(|r| r[k % r.len()]).unwrap_or((0, false, false));
                if drop {
                    continue;
                }
                for _ in 0..if dup { 2 } else { 1 } {
                    if r.handle(Instant::ZERO, sa, &segments[i]) == Outcome::Completed {
                        prop_assert!(done.is_none(), "completed twice");
                        done = Some(());
                    }
                    r.check_invariants();
                }
            }
            let mut buf = [0u8; MAD_LEN];
            while r.poll_transmit(Instant::ZERO, &mut buf).is_some() {}
        }
        prop_assert!(done.is_some(), "every segment was delivered in order at the end");
        let Some(Event::Received { id, len, .. }) = r.poll_event() else { panic!("no event") };
        prop_assert_eq!(len, DATA_OFFSET + data.len());
        let bytes = r.received(id).unwrap();
        prop_assert_eq!(&bytes[..DATA_OFFSET], &segments[0][..DATA_OFFSET]);
        prop_assert_eq!(&bytes[DATA_OFFSET..], &data[..]);
    }
}
