//! The engine fed arbitrary MADs interleaved with resolves, cancels and time steps: a
//! structured input (`arbitrary`) that picks a configuration and a sequence of operations. An
//! SA played by the target answers the engine's own requests (PathRecord Get/GetTable in one
//! MAD or over RMPP through the core's own sender, ClassPortInfo, InformInfo), with BUSY,
//! errors, corrupted bytes or wrong TIDs as the input says; OpenSM's own answers from
//! `vectors/` arrive under the TIDs of the engine's requests; other nodes' queries, Reports
//! and raw bytes arrive too.
//!
//! Invariants, beyond "no panic", checked after every operation from the engine's stats and
//! events: at most `sa_depth` queries outstanding, the pending pool and the RMPP slots within
//! their capacities, exactly as many waiting resolves as the target has pending tokens; every
//! event answers a token that was pending, once; answers carry 1..=8 paths; every MAD sent is
//! a whole SA MAD, with a per-attempt timeout within the configured maximum for requests. At
//! the end, with the SA silent, every pending resolve (other nodes' included) is answered
//! within bounded time: no resolve waits forever.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use localsa_core::engine::{
    Config, Engine, Event, LocalPort, Mode, Resolve, ResolveFlags, SmChangePolicy, Token, MAX_PATHS,
};
use localsa_core::rmpp::{self, Sender};
use localsa_core::table::{PinPolicy, Query};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::{
    AttributeId, ClassPortInfoRepr, Gid, InformInfoRepr, MadAddress, MadStatus, Method, Mtu, NoticeRepr,
    NoticeType, Origin, PacketLifetime, PathRecordMask, PathRecordRepr, ProducerType, Rate, SaAttribute,
    SaMad, SaPacket, SaRecord, Selector, TrapDetails, TrapNumber, MAD_LEN,
};

const PREFIX: u64 = 0xfe80_0000_0000_0000;
const SA_LID: u16 = 1;
const ME: u16 = 5;
const P: usize = 4;
const W: usize = 8;
const RXS: usize = 1;
const RXC: usize = rmpp::capacity_for(20, 64);
const TXS: usize = 1;
type Fuzzed = Engine<32, P, W, RXS, RXC, TXS, 256>;

fn gid(lid: u16) -> Gid {
    Gid::new(PREFIX, 0x0010_0000 + lid as u64)
}

fn sa() -> MadAddress {
    MadAddress::gsi(SA_LID, 0)
}

#[derive(Debug, Arbitrary)]
struct Input {
    sa_depth: u8,
    max_retries: u8,
    bulk: bool,
    subscribe: bool,
    serve_sa: bool,
    flush_on_sm_change: bool,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// A client resolves a path to one of eight destinations, by LID, by GID, or several
    /// paths (GetTable); `flags` bit 0 bypasses the cache, bit 1 is cache-only.
    Resolve { dest: u8, form: u8, flags: u8 },
    /// A pending client goes away.
    Cancel(u8),
    /// Shutdown.
    CancelAll,
    /// The SA answers one of the last requests the engine sent.
    Answer { pick: u8, how: How, records: u8, variant: u8, corrupt: Option<(u8, u8)> },
    /// An answer or Report OpenSM sent (`vectors/`), under the TID of one of the last requests.
    Vector { which: u8, pick: u8 },
    /// The SA's RMPP sender and the engine exchange up to this many MADs.
    Pump(u8),
    /// A Report (trap 64, 65, 144 or 145) about a destination.
    Report { trap: u8, about: u8, tid: u16 },
    /// Another node asks for a path (the engine answers it in replica mode).
    Request { from: u8, dest: u8, table: bool, tid: u16 },
    /// Any bytes, from the SA.
    Raw(Vec<u8>),
    /// Time passes (milliseconds), then the timers run.
    Advance(u16),
    /// Straight to the next timer.
    Timers,
    /// The port reports an SM LID (a new SM when it differs).
    SetPort { sm_lid: u8 },
    /// The SM asked clients to re-register.
    Reregister,
    /// An administrator flushes the table.
    Flush(bool),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum How {
    Ok,
    OverRmpp,
    Busy,
    NoRecords,
    Status(u16),
    WrongTid(u8),
}

struct Harness {
    e: Box<Fuzzed>,
    config: Config,
    now: Instant,
    /// The last requests the engine sent (headers and bytes), newest last.
    sent: Vec<Vec<u8>>,
    sa_rmpp: Sender<1, RXC>,
    next_token: Token,
    pending: Vec<Token>,
}

impl Harness {
    fn new(input: &Input) -> Harness {
        let config = Config {
            sa_depth: 1 + input.sa_depth as usize % 3,
            max_retries: input.max_retries % 3,
            timeout: Some(Duration::from_millis(100)),
            max_timeout: Duration::from_secs(1),
            mode: if input.bulk { Mode::Bulk { refresh: Duration::from_secs(5) } } else { Mode::OnDemand },
            subscribe: input.subscribe,
            heartbeat: Duration::from_secs(3),
            sm_change: if input.flush_on_sm_change {
                SmChangePolicy::Flush
            } else {
                SmChangePolicy::Revalidate
            },
            serve_sa: input.serve_sa,
            negative_lifetime: Duration::from_millis(500),
            positive_lifetime: Duration::from_secs(2),
            ..Config::DEFAULT
        };
        let mut e: Box<Fuzzed> = Box::new(Fuzzed::EMPTY);
        e.start(Instant::ZERO, config, LocalPort::infiniband(ME, gid(ME), SA_LID));
        let sa_rmpp =
            Sender::new(rmpp::Config { response_time: Duration::from_millis(20), ..rmpp::Config::DEFAULT });
        Harness {
            e,
            config,
            now: Instant::ZERO,
            sent: Vec::new(),
            sa_rmpp,
            next_token: 1,
            pending: Vec::new(),
        }
    }

    fn query(dest: u8, form: u8) -> Query {
        let d = 2 + (dest % 8) as u16;
        match form % 4 {
            0 => Query::between_lids(ME, d),
            1 => Query::between_gids(gid(ME), gid(d)),
            2 => Query::between_lids(ME, d).with_numb_path(2 + form % 3),
            _ => Query::between_gids(gid(ME), gid(d))
                .with_pkey(0xffff)
                .with_mtu(Selector::Exactly, Mtu::Mtu2048),
        }
    }

    fn path(slid: u16, dlid: u16, variant: u8) -> PathRecordRepr {
        PathRecordRepr {
            dgid: gid(dlid),
            sgid: gid(slid),
            dlid,
            slid,
            reversible: variant & 1 == 0,
            pkey: if variant & 2 == 0 { 0xffff } else { 0x8001 },
            sl: (variant >> 2) & 0xf,
            mtu_selector: Selector::Exactly,
            mtu: Mtu::from_raw(1 + variant % 5),
            rate_selector: Selector::Exactly,
            rate: Rate::from_raw(2 + variant % 20),
            packet_lifetime_selector: Selector::Exactly,
            packet_lifetime: PacketLifetime(variant % 64),
            preference: variant >> 6,
            ..PathRecordRepr::default()
        }
    }

    /// The SA's answer to `request`, as `how` says.
    fn answer(&mut self, request: &[u8], how: How, records: u8, variant: u8) -> Option<Vec<u8>> {
        let packet = SaPacket::new_checked(request).ok()?;
        let h = SaMad::parse(&packet).ok()?;
        let mut r = h;
        r.header.method = h.header.method.response();
        r.rmpp = localsa_core::wire::RmppHeaderRepr::NONE;
        if let How::WrongTid(x) = how {
            r.header.transaction_id ^= 1 + x as u64;
        }
        r.header.status = match how {
            How::Busy => MadStatus(1),
            How::NoRecords => MadStatus(0x0300),
            How::Status(s) => MadStatus(s),
            _ => MadStatus::OK,
        };
        let mut data = Vec::new();
        match (h.header.method, h.header.attribute_id) {
            (Method::Get, AttributeId::ClassPortInfo) => {
                let cpi = ClassPortInfoRepr {
                    base_version: 1,
                    class_version: 2,
                    resp_time_value: 14 + variant % 6,
                    capability_mask: (variant as u16) << 8,
                    ..Default::default()
                };
                let mut b = [0u8; 72];
                cpi.encode(&mut b).ok()?;
                data.extend_from_slice(&b);
            }
            (Method::Set, AttributeId::InformInfo) => {
                let ii = InformInfoRepr::decode(packet.data()).ok()?;
                let mut b = [0u8; 36];
                ii.encode(&mut b).ok()?;
                data.extend_from_slice(&b);
            }
            (Method::Get | Method::GetTable, AttributeId::PathRecord) => {
                let Some(Ok(SaRecord::PathRecord(q))) = packet.records().ok()?.next() else { return None };
                let m = PathRecordMask::from_bits_retain(h.sa.component_mask);
                let dlid = if m.contains(PathRecordMask::DLID) {
                    q.dlid
                } else if m.contains(PathRecordMask::DGID) {
                    (q.dgid.guid() & 0xffff) as u16
                } else {
                    2
                };
                let n = if h.header.method == Method::Get { 1 } else { records as usize % 21 };
                for i in 0..n {
                    let mut b = [0u8; 64];
                    Self::path(ME, dlid.wrapping_add(i as u16 / 3), variant.wrapping_add(i as u8))
                        .encode(&mut b)
                        .ok()?;
                    data.extend_from_slice(&b);
                }
                if h.header.method == Method::GetTable {
                    r.sa.attribute_offset = if n == 0 { 0 } else { 8 };
                    if matches!(how, How::OverRmpp) {
                        // The answer travels over RMPP; `Pump` moves it.
                        let _ = self.sa_rmpp.start(self.now, MadAddress::gsi(ME, 0), &r, &data);
                        return None;
                    }
                }
            }
            _ => return None,
        }
        let mut buf = vec![0u8; MAD_LEN];
        let body = r.emit(&mut buf).ok()?;
        let n = data.len().min(body.len());
        body[..n].copy_from_slice(&data[..n]);
        Some(buf)
    }

    fn report(trap: u8, about: u8, tid: u16) -> Vec<u8> {
        let trap = [
            TrapNumber::GidInService,
            TrapNumber::GidOutOfService,
            TrapNumber::from_raw(144),
            TrapNumber::from_raw(145),
        ][trap as usize % 4];
        let notice = NoticeRepr {
            notice_type: NoticeType::SubnetManagement,
            origin: Origin::Generic { trap_number: trap, producer_type: ProducerType::ClassManager },
            issuer_lid: SA_LID,
            toggle: false,
            count: 1,
            data_details: TrapDetails::Gid(gid(2 + (about % 8) as u16)).emit(),
            issuer_gid: gid(SA_LID),
        };
        let mad = SaMad::new(Method::Report, AttributeId::Notice, tid as u64);
        let mut buf = vec![0u8; MAD_LEN];
        if let Ok(body) = mad.emit(&mut buf) {
            let _ = notice.encode(body);
        }
        buf
    }

    fn request(dest: u8, table: bool, tid: u16) -> Vec<u8> {
        let d = 2 + (dest % 8) as u16;
        let q = Query::between_lids(ME, d);
        let method = if table { Method::GetTable } else { Method::Get };
        let mut buf = [0u8; MAD_LEN];
        let len =
            localsa_core::wire::request::path_record_query(&mut buf, tid as u64, method, &q.template, q.mask)
                .expect("a valid query");
        buf[..len].to_vec()
    }

    fn resolve(&mut self, q: &Query, flags: ResolveFlags) {
        let token = self.next_token;
        self.next_token += 1;
        match self.e.resolve(self.now, q, flags, token) {
            Resolve::Answered(a) => assert!((1..=MAX_PATHS).contains(&a.records.len()), "{a:?}"),
            Resolve::Pending => self.pending.push(token),
            Resolve::Failed(_) => {}
        }
    }

    /// Moves the engine's MADs out (RMPP ones to the SA's sender, requests to `sent`) and
    /// its events to the target's books, checking both.
    fn drain(&mut self) {
        let mut buf = [0u8; MAD_LEN];
        let mut n = 0;
        while let Some(t) = self.e.poll_transmit(self.now, &mut buf) {
            n += 1;
            assert!(n < 1000, "poll_transmit never runs dry");
            assert!(t.len <= MAD_LEN);
            let bytes = &buf[..t.len];
            let packet = SaPacket::new_checked(bytes).expect("the engine sends SA MADs");
            if let Some(timeout) = t.response_timeout {
                assert!(timeout <= self.config.max_timeout.max(Duration::from_millis(100)), "{timeout:?}");
            }
            if packet.rmpp_header().is_active() {
                let _ = self.sa_rmpp.handle(self.now, MadAddress::gsi(ME, 0), bytes);
            } else if !packet.mad_header().method().is_response() {
                if self.sent.len() == 8 {
                    self.sent.remove(0);
                }
                self.sent.push(bytes.to_vec());
            }
        }
        while let Some(event) = self.e.poll_event() {
            if let Event::Resolved { token, result } = event {
                let i = self.pending.iter().position(|&t| t == token);
                let i = i.unwrap_or_else(|| panic!("an answer for token {token}, which is not waiting"));
                self.pending.swap_remove(i);
                if let Ok(a) = result {
                    assert!((1..=MAX_PATHS).contains(&a.records.len()), "{a:?}");
                }
            }
        }
        self.check();
    }

    fn check(&self) {
        let s = self.e.stats();
        assert!(
            s.outstanding <= self.config.sa_depth,
            "{} outstanding, sa_depth {}",
            s.outstanding,
            self.config.sa_depth
        );
        assert!(s.outstanding + s.queued <= P, "{s:?}");
        assert!(s.waiting <= W, "{s:?}");
        // In replica mode other nodes' queries wait too (under tokens the target never sees).
        if self.config.serve_sa {
            assert!(
                s.waiting >= self.pending.len(),
                "{} waiting, {} resolves pending",
                s.waiting,
                self.pending.len()
            );
        } else {
            assert_eq!(s.waiting, self.pending.len(), "waiters the engine counts vs resolves still pending");
        }
        assert!(s.rmpp_in_flight <= RXS + TXS, "{s:?}");
    }

    fn pump(&mut self, max: usize) {
        let mut buf = [0u8; MAD_LEN];
        for _ in 0..max {
            let Some((_, len)) = self.sa_rmpp.poll_transmit(self.now, &mut buf) else { break };
            self.e.handle_mad(self.now, sa(), &buf[..len]);
            self.drain();
        }
        while self.sa_rmpp.poll_event().is_some() {}
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Resolve { dest, form, flags } => {
                let q = Self::query(dest, form);
                self.resolve(&q, ResolveFlags::from_bits_truncate(flags & 3));
            }
            Op::Cancel(k) => {
                if !self.pending.is_empty() {
                    let token = self.pending.swap_remove(k as usize % self.pending.len());
                    assert!(self.e.cancel(token), "a pending token cancels");
                }
            }
            Op::CancelAll => self.e.cancel_all(),
            Op::Answer { pick, how, records, variant, corrupt } => {
                if self.sent.is_empty() {
                    return;
                }
                let request = self.sent[self.sent.len() - 1 - pick as usize % self.sent.len()].clone();
                if let Some(mut mad) = self.answer(&request, how, records, variant) {
                    if let Some((at, x)) = corrupt {
                        mad[at as usize % MAD_LEN] ^= x;
                    }
                    self.e.handle_mad(self.now, sa(), &mad);
                }
            }
            Op::Vector { which, pick } => {
                let answers = localsa_fuzz::answers();
                let mut mad = answers[which as usize % answers.len()].clone();
                if !self.sent.is_empty() {
                    let request = &self.sent[self.sent.len() - 1 - pick as usize % self.sent.len()];
                    mad[8..16].copy_from_slice(&request[8..16]);
                }
                self.e.handle_mad(self.now, sa(), &mad);
            }
            Op::Pump(n) => self.pump(n as usize % 64),
            Op::Report { trap, about, tid } => {
                self.e.handle_mad(self.now, sa(), &Self::report(trap, about, tid))
            }
            Op::Request { from, dest, table, tid } => {
                let mad = Self::request(dest, table, tid);
                self.e.handle_mad(self.now, MadAddress::gsi(20 + (from % 4) as u16, 0), &mad);
            }
            Op::Raw(ref bytes) => self.e.handle_mad(self.now, sa(), &bytes[..bytes.len().min(MAD_LEN)]),
            Op::Advance(ms) => {
                self.now += Duration::from_millis(ms as u64);
                self.sa_rmpp.handle_timeout(self.now);
                self.e.handle_timeout(self.now);
            }
            Op::Timers => {
                if let Some(at) = self.e.poll_at() {
                    self.now = self.now.max(at);
                }
                self.e.handle_timeout(self.now);
            }
            Op::SetPort { sm_lid } => {
                self.e.set_port(self.now, LocalPort::infiniband(ME, gid(ME), 1 + (sm_lid % 2) as u16));
            }
            Op::Reregister => self.e.client_reregister(self.now),
            Op::Flush(pins) => {
                self.e.flush(if pins { PinPolicy::Drop } else { PinPolicy::Keep });
            }
        }
        self.drain();
    }

    /// With the SA silent, time runs on until every pending resolve has its answer.
    fn settle(&mut self) {
        let limit = self.now + Duration::from_secs(600);
        for _ in 0..100_000 {
            if self.pending.is_empty() && self.e.stats().waiting == 0 {
                return;
            }
            let at = self
                .e
                .poll_at()
                .unwrap_or_else(|| panic!("{} resolves waiting and no timer set", self.e.stats().waiting));
            self.now = self.now.max(at);
            assert!(self.now <= limit, "{} resolves still waiting after 10 minutes", self.e.stats().waiting);
            self.e.handle_timeout(self.now);
            self.drain();
        }
        panic!("{} resolves still waiting after 100000 timer runs", self.e.stats().waiting);
    }
}

fuzz_target!(|input: Input| {
    let mut h = Harness::new(&input);
    h.drain();
    for op in input.ops.iter().take(256) {
        h.step(op);
    }
    h.settle();
});
