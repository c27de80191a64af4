//! The RMPP receiver fed arbitrary MAD sequences: correct DATA segments of real transfers
//! (pseudo-random records, or OpenSM's table answers from `vectors/`; in any order,
//! duplicated, lost, from several peers), hand-built MADs with fields near the
//! interesting values, ACKs, raw bytes, time steps and releases; the structured form of
//! `core/src/rmpp/tests/fuzz.rs`, driven by libFuzzer.
//!
//! Invariants, beyond "no panic": the receiver's own bookkeeping (`check_invariants`) after
//! every MAD and every transmit; a MAD shorter than the headers is `Malformed`; whatever it
//! sends is a whole SA MAD with an active RMPP v1 header of a legal type, to a peer that spoke;
//! `poll_transmit` runs dry; a delivered transfer's length lies within the headers and the slot,
//! its bytes stay put until released, and no more transfers are held than there are slots;
//! and a transfer whose every MAD was a correct segment of one real payload reassembles to
//! exactly that payload.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use localsa_core::rmpp::{self, capacity_for, Config, Event, Outcome, Receiver, RecvId, TransferKey};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::rmpp_header::{self, RmppFlags, RmppStatus, RmppType};
use localsa_core::wire::{AttributeId, MadAddress, Method, SaMad, SaPacket, DATA_OFFSET, MAD_LEN};

const SLOTS: usize = 2;
/// Room for 20 PathRecords; the generated transfers go up to 40, so some do not fit.
const CAP: usize = capacity_for(20, 64);

const PEERS: [MadAddress; 3] = [MadAddress::gsi(1, 0), MadAddress::gsi(2, 0), MadAddress::gsi(1, 3)];
const METHODS: [Method; 4] = [Method::GetTableResp, Method::GetTable, Method::GetResp, Method::GetMultiResp];

/// One thing that happens to the receiver.
#[derive(Debug, Arbitrary)]
enum Step {
    /// DATA segment `seg` of the real transfer of `records` PathRecords with TID `tid`.
    Segment { peer: u8, tid: u8, records: u8, seg: u8 },
    /// DATA segment `seg` of a table answer OpenSM sent (`vectors/`), its SA data repeated
    /// `repeat` times so that it spans several segments, under TID `tid`.
    Vector { peer: u8, tid: u8, which: u8, repeat: u8, seg: u8 },
    /// A MAD built from chosen header fields over a filler byte, cut to `len`.
    Mad {
        peer: u8,
        tid: u8,
        method: u8,
        version: u8,
        rmpp_type: u8,
        flags: u8,
        status: u8,
        seg: u32,
        payload_length: u32,
        fill: u8,
        len: u16,
    },
    /// An ACK as a sender would get it (the receiver has no send to match it with).
    Ack { peer: u8, tid: u8, seg: u8, new_window_last: u8 },
    /// Any bytes, from peer 0.
    Raw(Vec<u8>),
    /// Time passes (microseconds), then the timers run.
    Advance(u16),
    /// A long wait (hundreds of milliseconds), then the timers run.
    Wait(u8),
    /// The caller gives back the `n`th transfer it holds.
    Release(u8),
}

fn config() -> Config {
    Config {
        response_time: Duration::from_millis(1),
        total_timeout: Duration::from_secs(2),
        linger: Duration::from_millis(100),
        ..Config::DEFAULT
    }
}

fn headers(tid: u64) -> SaMad {
    let mut mad = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, tid);
    mad.sa.attribute_offset = 8;
    mad.sa.component_mask = 0x0c;
    mad
}

/// The payload of the transfer of `n` records with TID `tid`: deterministic bytes.
fn payload(n: usize, tid: u64) -> Vec<u8> {
    let mut x = tid.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n as u64;
    (0..n * 64)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn rmpp(rmpp_type: RmppType, flags: RmppFlags, data1: u32, data2: u32) -> rmpp_header::Repr {
    rmpp_header::Repr {
        version: 1,
        rmpp_type,
        resp_time: 0x1f,
        flags: flags | RmppFlags::ACTIVE,
        status: RmppStatus::Normal,
        data1,
        data2,
    }
}

fn mad(h: &SaMad, r: rmpp_header::Repr, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; MAD_LEN];
    let mut h = *h;
    h.rmpp = r;
    let body = h.emit(&mut out).expect("headers fit");
    body[..data.len()].copy_from_slice(data);
    out
}

/// Segment `seg` (1-based, clamped) of `data`, as a correct sender makes it.
fn segment(h: &SaMad, data: &[u8], seg: usize) -> Vec<u8> {
    let count = rmpp::segment_count(data.len());
    let seg = seg.clamp(1, count);
    let mut flags = RmppFlags::empty();
    if seg == 1 {
        flags |= RmppFlags::FIRST;
    }
    if seg == count {
        flags |= RmppFlags::LAST;
    }
    let p = rmpp::payload_length(seg, data.len()) as u32;
    let range = rmpp::data_range(seg, data.len()).unwrap_or(0..0);
    mad(h, rmpp(RmppType::Data, flags, seg as u32, p), &data[range])
}

/// The payload of a transfer the target sends correctly.
#[derive(Clone, Copy, PartialEq)]
enum Payload {
    /// `n` pseudo-random records.
    Random(usize),
    /// A vector's SA data, repeated.
    Vector { which: usize, repeat: usize },
}

impl Payload {
    /// The headers and data of the transfer under TID `tid`.
    fn build(self, tid: u64) -> (SaMad, Vec<u8>) {
        match self {
            Payload::Random(n) => (headers(tid), payload(n, tid)),
            Payload::Vector { which, repeat } => {
                let (mut h, data) = localsa_fuzz::table_payloads()[which].clone();
                h.header.transaction_id = tid;
                (h, data.repeat(repeat))
            }
        }
    }
}

/// What the target knows about the transfer under a key: only correct segments of one
/// payload so far (`Clean`), or anything else (`Tainted`).
#[derive(Clone, Copy, PartialEq)]
enum Known {
    Clean(Payload),
    Tainted,
}

struct Tracker(Vec<((usize, u64), Known)>);

impl Tracker {
    fn note(&mut self, key: (usize, u64), what: Known) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, k)) if *k != what => *k = Known::Tainted,
            Some(_) => {}
            None => self.0.push((key, what)),
        }
    }
    fn taint_all(&mut self) {
        self.0.iter_mut().for_each(|(_, k)| *k = Known::Tainted);
    }
    fn take(&mut self, key: (usize, u64)) -> Option<Known> {
        let i = self.0.iter().position(|(k, _)| *k == key)?;
        Some(self.0.swap_remove(i).1)
    }
}

/// The peer as RMPP tells peers apart (LID, QP, GID: peers 0 and 2 differ only in SL).
fn peer_index(a: &MadAddress) -> usize {
    PEERS.iter().position(|p| p.same_peer(a)).expect("events name peers that spoke")
}

/// Checks a MAD the receiver sends.
fn check_sent(bytes: &[u8], to: &MadAddress) {
    assert_eq!(bytes.len(), MAD_LEN, "control MADs go out whole");
    assert!(PEERS.iter().any(|p| p.same_peer(to)), "sent to a peer nobody named: {to:?}");
    let p = SaPacket::new_checked(bytes).expect("sent MADs are SA MADs");
    assert!(p.rmpp_header().is_active() && p.rmpp_header().version == 1);
    let t = RmppType::from_raw(p.rmpp_header().rmpp_type);
    assert!(matches!(t, RmppType::Ack | RmppType::Stop | RmppType::Abort), "a receiver sent {t:?}");
}

fn run(steps: &[Step]) {
    let mut r = Receiver::<SLOTS, CAP>::new(config());
    let mut now = Instant::ZERO;
    let mut held: Vec<(RecvId, usize)> = Vec::new();
    let mut known = Tracker(Vec::new());
    let mut buf = [0u8; MAD_LEN];
    for step in steps {
        let (from, bytes) = match *step {
            Step::Advance(us) => {
                now += Duration::from_micros(us as u64);
                r.handle_timeout(now);
                (None, Vec::new())
            }
            Step::Wait(n) => {
                now += Duration::from_millis(n as u64 * 10);
                r.handle_timeout(now);
                (None, Vec::new())
            }
            Step::Release(n) => {
                if !held.is_empty() {
                    let (id, _) = held.remove(n as usize % held.len());
                    assert!(r.release(id), "a held transfer releases");
                    assert!(r.received(id).is_none(), "released bytes are gone");
                    assert!(!r.release(id), "a second release is refused");
                }
                (None, Vec::new())
            }
            Step::Segment { peer, tid, records, seg } => {
                let (peer, tid) = (peer as usize % PEERS.len(), tid as u64 % 4);
                let p = Payload::Random(records as usize % 41);
                known.note((peer_index(&PEERS[peer]), tid), Known::Clean(p));
                let (h, data) = p.build(tid);
                (Some(peer), segment(&h, &data, seg as usize % 9))
            }
            Step::Vector { peer, tid, which, repeat, seg } => {
                let (peer, tid) = (peer as usize % PEERS.len(), tid as u64 % 4);
                let vectors = localsa_fuzz::table_payloads().len();
                let p = Payload::Vector { which: which as usize % vectors, repeat: 1 + repeat as usize % 6 };
                known.note((peer_index(&PEERS[peer]), tid), Known::Clean(p));
                let (h, data) = p.build(tid);
                (Some(peer), segment(&h, &data, seg as usize % 8))
            }
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
                let (peer, tid) = (peer as usize % PEERS.len(), tid as u64 % 4);
                known.note((peer_index(&PEERS[peer]), tid), Known::Tainted);
                let mut h =
                    SaMad::new(METHODS[method as usize % METHODS.len()], AttributeId::PathRecord, tid);
                h.rmpp = rmpp_header::Repr {
                    version: version % 4,
                    rmpp_type: RmppType::from_raw(rmpp_type % 6),
                    resp_time: 0x1f,
                    flags: RmppFlags::from_bits_truncate(flags),
                    status: RmppStatus::from_raw(status),
                    data1: seg,
                    data2: payload_length,
                };
                let mut b = vec![fill; MAD_LEN + 8];
                h.emit(&mut b).expect("headers fit");
                b.truncate(len as usize % (MAD_LEN + 9));
                (Some(peer), b)
            }
            Step::Ack { peer, tid, seg, new_window_last } => {
                let (peer, tid) = (peer as usize % PEERS.len(), tid as u64 % 4);
                known.note((peer_index(&PEERS[peer]), tid), Known::Tainted);
                let mut h = headers(tid);
                h.header.method = h.header.method.flip_response();
                let r = rmpp(RmppType::Ack, RmppFlags::empty(), seg as u32 % 9, new_window_last as u32 % 71);
                (Some(peer), mad(&h, r, &[]))
            }
            Step::Raw(ref b) => {
                known.taint_all();
                (Some(0), b.iter().copied().take(MAD_LEN + 8).collect())
            }
        };
        if let Some(peer) = from {
            let outcome = r.handle(now, PEERS[peer], &bytes);
            if bytes.len() < DATA_OFFSET {
                assert!(matches!(outcome, Outcome::Malformed(_)), "{} bytes gave {outcome:?}", bytes.len());
            }
        }
        r.check_invariants();
        let mut sent = 0;
        while let Some((to, len)) = r.poll_transmit(now, &mut buf) {
            r.check_invariants();
            check_sent(&buf[..len], &to);
            sent += 1;
            assert!(sent < 1000, "poll_transmit never runs dry");
        }
        while let Some(event) = r.poll_event() {
            match event {
                Event::Received { id, key, len } => {
                    let bytes = r.received(id).expect("a reported transfer's bytes");
                    assert_eq!(bytes.len(), len);
                    assert!((DATA_OFFSET..=CAP).contains(&len), "{len}");
                    check_reassembly(&mut known, &key, bytes);
                    held.push((id, len));
                }
                Event::ReceiveFailed { key, .. } => {
                    // A later transfer under the same key starts afresh.
                    let _ = known.take((peer_index(&key.peer), key.transaction_id));
                }
                other => panic!("a receiver reported {other:?}"),
            }
        }
        assert!(held.len() <= SLOTS && r.busy_slots() <= SLOTS);
        for &(id, len) in &held {
            assert_eq!(r.received(id).map(<[u8]>::len), Some(len), "held bytes stay put");
        }
        if let Some(at) = r.poll_at() {
            assert!(at >= Instant::ZERO);
        }
    }
}

/// A transfer made only of correct segments of one payload is that payload, behind the first
/// segment's headers.
fn check_reassembly(known: &mut Tracker, key: &TransferKey, bytes: &[u8]) {
    let tid = key.transaction_id;
    if let Some(Known::Clean(p)) = known.take((peer_index(&key.peer), tid)) {
        let (h, data) = p.build(tid);
        let first = segment(&h, &data, 1);
        assert_eq!(&bytes[..DATA_OFFSET], &first[..DATA_OFFSET], "headers of the first segment");
        assert!(
            bytes[DATA_OFFSET..] == data[..],
            "reassembled {} bytes, sent {}",
            bytes.len() - DATA_OFFSET,
            data.len()
        );
    }
}

fuzz_target!(|steps: Vec<Step>| run(&steps));
