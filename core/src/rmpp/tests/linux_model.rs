//! Interoperation with a model of Linux's RMPP (`drivers/infiniband/core/mad_rmpp.c`), as a
//! stand-in until a real kernel runs the same exchange.
//!
//! The model is written from the rules the kernel applies, not from its code:
//!
//! * Receiver: a transfer starts at segment 1 (First) with NewWindowLast 1 and grows it by 64
//!   per ACK; segments beyond NewWindowLast are dropped; a segment at or below the last ACKed
//!   one (or any after completion) is answered with the current ACK; an ACK goes out when the
//!   gap-free prefix reaches NewWindowLast, and on completion. It does not check PayloadLength;
//!   the delivered length is 56 + segments × 200 − (220 − the Last segment's PayloadLength).
//! * Sender: window 1 until the first ACK; First carries segments × 220 − pad, Last 220 − pad;
//!   an ACK with a status is IllegalStatus, NewWindowLast below SegmentNumber is
//!   NewWindowLastTooSmall, a SegmentNumber beyond what the window allowed is
//!   SegmentNumberTooBig (ABORT each); an ACK with a smaller window or SegmentNumber is old;
//!   a timeout resends from the last ACKed segment; retries run out without an ABORT.
//! * Control MADs flip the response bit of the MAD they answer.

use std::boxed::Box;
use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

use super::scenario::{big_stack, Link, Peer, SaSide, BIG};
use super::support::{fast_config, records, table_headers, CLIENT, SA};
use crate::rmpp::fault::Faults;
use crate::rmpp::key::{RecvId, SendId, TransferKey};
use crate::rmpp::{segment_count, Endpoint, Event, Failure, Outcome, SendError};
use crate::time::{Duration, Instant};
use crate::wire::rmpp_header::{self, RmppFlags, RmppStatus, RmppType};
use crate::wire::{MadAddress, SaMad, SaPacket, DATA_OFFSET, MAD_LEN};

/// Linux's receive window (a 512-MAD receive queue shifted right by 3).
const WINDOW: u32 = 64;
/// Scaled-down kernel timers: 2 s ACK wait → 1 ms, 40 s receive limit → 20 ms.
const ACK_WAIT: Duration = Duration::from_millis(1);
const RECV_LIMIT: Duration = Duration::from_millis(20);
const RETRIES: u8 = 5;

struct LinuxRecv {
    key: TransferKey,
    headers: SaMad,
    /// Segments by number (the kernel keeps a sorted list of receive buffers).
    segs: BTreeMap<u32, Vec<u8>>,
    seg_num: u32,
    newwin: u32,
    last_ack: u32,
    complete: bool,
    started: Instant,
}

struct LinuxSend {
    key: TransferKey,
    headers: SaMad,
    data: Vec<u8>,
    count: u32,
    /// Highest segment sent in the current pass.
    seg_num: u32,
    newwin: u32,
    last_ack: u32,
    retries: u8,
    timer: Option<Instant>,
    done: bool,
}

/// One Linux port's RMPP, both directions.
#[derive(Default)]
pub(super) struct LinuxModel {
    recvs: Vec<LinuxRecv>,
    sends: Vec<LinuxSend>,
    out: VecDeque<(MadAddress, [u8; MAD_LEN])>,
    events: VecDeque<Event>,
    delivered: Vec<Option<Vec<u8>>>,
}

fn header_of(bytes: &[u8]) -> Option<SaMad> {
    SaMad::parse(&SaPacket::new_checked(bytes).ok()?).ok()
}

/// A control MAD answering `answering` (its Method flipped).
fn control(answering: &SaMad, kind: RmppType, status: RmppStatus, seg: u32, newwin: u32) -> [u8; MAD_LEN] {
    let mut h = *answering;
    h.header.method = h.header.method.flip_response();
    h.rmpp = rmpp_header::Repr {
        version: 1,
        rmpp_type: kind,
        resp_time: 0,
        flags: RmppFlags::ACTIVE,
        status,
        data1: seg,
        data2: newwin,
    };
    let mut out = [0u8; MAD_LEN];
    h.emit(&mut out).unwrap();
    out
}

impl LinuxModel {
    fn nack(&mut self, to: MadAddress, mad: &SaMad, status: RmppStatus) {
        self.out.push_back((to, control(mad, RmppType::Abort, status, 0, 0)));
    }

    fn ack(&mut self, i: usize) {
        let r = &mut self.recvs[i];
        r.last_ack = r.seg_num;
        let m = control(&r.headers, RmppType::Ack, RmppStatus::Normal, r.seg_num, r.newwin);
        self.out.push_back((r.key.peer, m));
    }

    fn complete(&mut self, i: usize) {
        self.ack(i);
        let r = &mut self.recvs[i];
        r.complete = true;
        let last = &r.segs[&r.seg_num];
        let paylen = u32::from_be_bytes(last[32..36].try_into().unwrap()) as i64;
        let mut pad = 220 - paylen;
        if !(0..=220).contains(&pad) {
            pad = 0;
        }
        let len = (56 + r.seg_num as i64 * 200 - pad) as usize;
        let mut bytes = r.segs[&1].clone();
        for n in 2..=r.seg_num {
            bytes.extend_from_slice(&r.segs[&n][DATA_OFFSET..]);
        }
        bytes.truncate(len);
        let id = RecvId { slot: self.delivered.len() as u16, generation: 1 };
        self.delivered.push(Some(bytes));
        self.events.push_back(Event::Received { id, key: r.key, len });
    }

    fn on_data(&mut self, now: Instant, from: MadAddress, mad: &SaMad, bytes: &[u8]) {
        let r = mad.rmpp;
        if r.status != RmppStatus::Normal {
            return self.nack(from, mad, RmppStatus::IllegalStatus);
        }
        if (r.data1 == 1) != r.flags.contains(RmppFlags::FIRST) {
            return self.nack(from, mad, RmppStatus::InconsistentFirstAndSegmentNumber);
        }
        let seg = r.data1;
        let found = self.recvs.iter().position(|t| t.key.matches(&from, mad, false));
        let Some(i) = found else {
            if seg != 1 {
                return;
            }
            self.recvs.push(LinuxRecv {
                key: TransferKey::of_data(from, mad),
                headers: *mad,
                segs: BTreeMap::from([(1, bytes.to_vec())]),
                seg_num: 1,
                newwin: 1,
                last_ack: 0,
                complete: false,
                started: now,
            });
            let i = self.recvs.len() - 1;
            if r.flags.contains(RmppFlags::LAST) {
                return self.complete(i);
            }
            self.recvs[i].newwin += WINDOW;
            return self.ack(i);
        };
        let t = &mut self.recvs[i];
        if seg > t.newwin {
            return;
        }
        if seg <= t.last_ack || t.complete {
            return self.ack(i);
        }
        if t.segs.contains_key(&seg) {
            return;
        }
        t.segs.insert(seg, bytes.to_vec());
        let before = t.seg_num;
        while t.segs.contains_key(&(t.seg_num + 1)) {
            t.seg_num += 1;
        }
        if t.seg_num == before {
            return;
        }
        let last = header_of(&t.segs[&t.seg_num]).unwrap().rmpp.flags.contains(RmppFlags::LAST);
        if last {
            self.complete(i);
        } else if t.seg_num == t.newwin {
            t.newwin += WINDOW;
            self.ack(i);
        }
    }

    fn send_window(&mut self, i: usize, now: Instant) {
        let s = &mut self.sends[i];
        while !s.done && s.seg_num < s.newwin.max(s.last_ack + 1) && s.seg_num < s.count {
            s.seg_num += 1;
            let n = s.seg_num;
            let pad = s.count as usize * 200 - s.data.len();
            let mut flags = RmppFlags::ACTIVE;
            let mut paylen = 0;
            if n == 1 {
                flags |= RmppFlags::FIRST;
                paylen = s.count as usize * 220 - pad;
            }
            if n == s.count {
                flags |= RmppFlags::LAST;
                paylen = 220 - pad;
            }
            let mut h = s.headers;
            h.rmpp = rmpp_header::Repr {
                version: 1,
                rmpp_type: RmppType::Data,
                resp_time: 0,
                flags,
                status: RmppStatus::Normal,
                data1: n,
                data2: paylen as u32,
            };
            let mut out = [0u8; MAD_LEN];
            let body = h.emit(&mut out).unwrap();
            let start = (n as usize - 1) * 200;
            let end = (start + 200).min(s.data.len());
            body[..end - start].copy_from_slice(&s.data[start..end]);
            self.out.push_back((s.key.peer, out));
            s.timer = Some(now + ACK_WAIT);
        }
    }

    fn end_send(&mut self, i: usize, failure: Option<Failure>) {
        let s = &mut self.sends[i];
        s.done = true;
        s.timer = None;
        let id = SendId { slot: i as u16, generation: 1 };
        self.events.push_back(match failure {
            None => Event::Sent { id, key: s.key },
            Some(failure) => Event::SendFailed { id, key: s.key, failure },
        });
    }

    fn on_ack(&mut self, now: Instant, from: MadAddress, mad: &SaMad) {
        let r = mad.rmpp;
        let abort = |m: &mut Self, status| {
            if let Some(i) = m.sends.iter().position(|s| !s.done && s.key.matches(&from, mad, true)) {
                m.end_send(i, Some(Failure::Aborted(status)));
            }
            m.nack(from, mad, status);
        };
        if r.status != RmppStatus::Normal {
            return abort(self, RmppStatus::IllegalStatus);
        }
        let (seg, newwin) = (r.data1, r.data2);
        if newwin < seg {
            return abort(self, RmppStatus::NewWindowLastTooSmall);
        }
        let Some(i) = self.sends.iter().position(|s| !s.done && s.key.matches(&from, mad, true)) else {
            return;
        };
        let s = &self.sends[i];
        if seg > s.count || seg > s.newwin {
            return abort(self, RmppStatus::SegmentNumberTooBig);
        }
        if newwin < s.newwin || seg < s.last_ack {
            return;
        }
        let s = &mut self.sends[i];
        if seg > s.last_ack {
            s.last_ack = seg;
            s.retries = 0;
        }
        s.newwin = newwin;
        if s.last_ack == s.count {
            return self.end_send(i, None);
        }
        self.send_window(i, now);
    }

    fn on_end(&mut self, from: MadAddress, mad: &SaMad, stop: bool) {
        let status = mad.rmpp.status;
        let valid =
            if stop { status == RmppStatus::ResourcesExhausted } else { matches!(status.raw(), 118..=127) };
        let Some(i) = self.sends.iter().position(|s| !s.done && s.key.matches(&from, mad, true)) else {
            return;
        };
        if valid {
            let f = if stop { Failure::PeerStopped(status) } else { Failure::PeerAborted(status) };
            self.end_send(i, Some(f));
        } else {
            self.end_send(i, Some(Failure::Aborted(RmppStatus::IllegalStatus)));
            self.nack(from, mad, RmppStatus::IllegalStatus);
        }
    }
}

impl Peer for LinuxModel {
    fn handle(&mut self, now: Instant, from: MadAddress, bytes: &[u8]) -> Outcome {
        let Some(mad) = header_of(bytes) else { return Outcome::Dropped(crate::rmpp::Dropped::Unmatched) };
        // The kernel looks at the Active flag only, then at the version.
        if !mad.rmpp.flags.contains(RmppFlags::ACTIVE) {
            return Outcome::NotRmpp;
        }
        if mad.rmpp.version != 1 {
            self.nack(from, &mad, RmppStatus::UnsupportedVersion);
            return Outcome::Accepted;
        }
        match mad.rmpp.rmpp_type {
            RmppType::Data => self.on_data(now, from, &mad, bytes),
            RmppType::Ack => self.on_ack(now, from, &mad),
            RmppType::Stop => self.on_end(from, &mad, true),
            RmppType::Abort => self.on_end(from, &mad, false),
            _ => self.nack(from, &mad, RmppStatus::BadRmppType),
        }
        Outcome::Accepted
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; MAD_LEN]) -> Option<(MadAddress, usize)> {
        for i in 0..self.sends.len() {
            let s = &mut self.sends[i];
            if !s.done && s.timer.is_some_and(|t| t <= now) {
                s.retries += 1;
                if s.retries > RETRIES {
                    // The MAD layer times the send out; no ABORT goes on the wire.
                    self.end_send(i, Some(Failure::TooManyRetries));
                    continue;
                }
                s.seg_num = s.last_ack;
                self.send_window(i, now);
            }
        }
        for i in 0..self.recvs.len() {
            let r = &self.recvs[i];
            if !r.complete && r.started + RECV_LIMIT <= now {
                let (peer, headers, key) = (r.key.peer, r.headers, r.key);
                self.recvs.remove(i);
                self.nack(peer, &headers, RmppStatus::TotalTimeTooLong);
                self.events.push_back(Event::ReceiveFailed { key, failure: Failure::TimedOut });
                break;
            }
        }
        let (to, mad) = self.out.pop_front()?;
        buf.copy_from_slice(&mad);
        Some((to, MAD_LEN))
    }

    fn poll_at(&self) -> Option<Instant> {
        let sends = self.sends.iter().filter(|s| !s.done).filter_map(|s| s.timer);
        let recvs = self.recvs.iter().filter(|r| !r.complete).map(|r| r.started + RECV_LIMIT);
        sends.chain(recvs).min()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn has_transmit(&self) -> bool {
        !self.out.is_empty()
    }

    fn received(&self, id: RecvId) -> Option<&[u8]> {
        self.delivered.get(id.slot as usize)?.as_deref()
    }

    fn release(&mut self, id: RecvId) -> bool {
        self.delivered.get_mut(id.slot as usize).and_then(Option::take).is_some()
    }

    fn start(&mut self, now: Instant, to: MadAddress, h: &SaMad, data: &[u8]) -> Result<(), SendError> {
        self.sends.push(LinuxSend {
            key: TransferKey::of_data(to, h),
            headers: *h,
            data: data.to_vec(),
            count: segment_count(data.len()) as u32,
            seg_num: 0,
            newwin: 1,
            last_ack: 0,
            retries: 0,
            timer: None,
            done: false,
        });
        let i = self.sends.len() - 1;
        self.send_window(i, now);
        Ok(())
    }
}

type ClientSide = Endpoint<4, BIG, 1, MAD_LEN>;

#[test]
fn our_sender_to_linux_receiver() {
    big_stack(|| {
        let config = fast_config();
        for (faults, seeds) in [(Faults::NONE, 1u64), (Faults { drop: 0.2, reorder: 0.1, ..Faults::NONE }, 6)]
        {
            let (mut completed, mut failed) = (0, 0);
            for seed in 0..seeds {
                let mut l =
                    Link::new(Box::new(SaSide::new(config)), Box::<LinuxModel>::default(), faults, seed);
                for (tid, n) in [(1u64, 1000usize), (2, 1), (3, 0), (4, 333)] {
                    l.start(tid, records(n, tid)).unwrap();
                }
                l.run(Instant::from_millis(5_000));
                let (c, f) = l.verdict(&config);
                completed += c;
                failed += f;
            }
            std::println!("{completed} completed, {failed} failed at drop {}", faults.drop);
            if faults.drop == 0.0 {
                assert_eq!((completed, failed), (4, 0), "a lossless exchange completes");
            } else {
                assert!(completed >= 20, "{completed} of 24 completed with 20% loss");
            }
        }
    });
}

#[test]
fn linux_sender_to_our_receiver() {
    big_stack(|| {
        let config = fast_config();
        for (faults, seeds) in [(Faults::NONE, 1u64), (Faults { drop: 0.2, reorder: 0.1, ..Faults::NONE }, 6)]
        {
            let (mut completed, mut failed) = (0, 0);
            for seed in 0..seeds {
                let mut l =
                    Link::new(Box::<LinuxModel>::default(), Box::new(ClientSide::new(config)), faults, seed);
                for (tid, n) in [(1u64, 1000usize), (2, 1), (3, 0), (4, 200)] {
                    l.start(tid, records(n, tid)).unwrap();
                }
                l.run(Instant::from_millis(5_000));
                let (c, f) = l.verdict(&config);
                completed += c;
                failed += f;
            }
            std::println!("{completed} completed, {failed} failed at drop {}", faults.drop);
            if faults.drop == 0.0 {
                assert_eq!((completed, failed), (4, 0), "a lossless exchange completes");
            } else {
                assert!(completed >= 20, "{completed} of 24 completed with 20% loss");
            }
        }
    });
}

#[test]
fn linux_model_matches_the_fabric_notes() {
    big_stack(linux_200_records);
}

fn linux_200_records() {
    // 200 PathRecords from a kernel sender: 64 segments, First PayloadLength 14080, and a
    // reassembled MAD of 12 856 bytes on our side.
    let mut linux = LinuxModel::default();
    linux.start(Instant::ZERO, CLIENT, &table_headers(9), &records(200, 9)).unwrap();
    let mut buf = [0u8; MAD_LEN];
    let (_, _) = linux.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let first = header_of(&buf).unwrap();
    assert_eq!((first.rmpp.data1, first.rmpp.data2), (1, 14080));
    let mut ours = ClientSide::new(fast_config());
    assert_eq!(ours.handle(Instant::ZERO, SA, &buf), Outcome::Accepted);
    let mut ack = [0u8; MAD_LEN];
    ours.poll_transmit(Instant::ZERO, &mut ack).unwrap();
    // Linux would grant 1 + 64 = 65; the window stops at the transfer's 64 segments.
    assert_eq!(header_of(&ack).unwrap().rmpp.data2, 64);
    linux.handle(Instant::ZERO, CLIENT, &ack);
    while linux.poll_transmit(Instant::ZERO, &mut buf).is_some() {
        ours.handle(Instant::ZERO, SA, &buf);
        while ours.poll_transmit(Instant::ZERO, &mut ack).is_some() {
            linux.handle(Instant::ZERO, CLIENT, &ack);
        }
    }
    let Some(Event::Received { len, .. }) = ours.poll_event() else { panic!("not received") };
    assert_eq!(len, 12_856);
    assert!(matches!(linux.poll_event(), Some(Event::Sent { .. })));
}
