//! Scenario tests: the engine against a scripted in-memory SA built from the crate's own codec
//! (answers PathRecord Get/GetTable, GetTable over RMPP, ClassPortInfo, InformInfo; injects
//! Reports; drops, delays or answers BUSY on command).

use std::boxed::Box;
use std::collections::VecDeque;
use std::vec::Vec;

use super::*;
use crate::rmpp::Sender;
use crate::table::Query;
use crate::wire::{
    AttributeId, Gid, InformInfoRepr, MadStatus, MadStatusCode, Mtu, NoticeRepr, NoticeType, Origin,
    PacketLifetime, PathRecordRepr, ProducerType, Rate, RmppFlags, SaAttribute, SaError, SaMad, SaPacket,
    SaRecord, SaStatusCode, Selector, TrapDetails, TrapNumber,
};

pub(super) const PREFIX: u64 = 0xfe80_0000_0000_0000;
pub(super) const SA_LID: u16 = 1;
pub(super) const ME: u16 = 5;

pub(super) fn gid(lid: u16) -> Gid {
    Gid::new(PREFIX, 0x0010_0000 + lid as u64)
}

pub(super) fn port() -> LocalPort {
    LocalPort::infiniband(ME, gid(ME), SA_LID)
}

/// The engine under test: 1024 entries, 64 pending, 2048 waiters, RMPP room for 1100 records.
pub(super) type TestEngine = Engine<1024, 64, 2048, 2, { 56 + 64 * 1100 }, 1, 256>;

pub(super) fn config() -> Config {
    Config {
        timeout: Some(Duration::from_millis(100)),
        heartbeat: Duration::from_secs(1000),
        ..Config::DEFAULT
    }
}

/// What the scripted SA does with the next PathRecord queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Script {
    Answer,
    Drop,
    Busy,
}

/// An SA for a fabric where every LID from 1 to `ports` exists (GID = prefix + 0x100000 + LID).
pub(super) struct ScriptedSa {
    pub(super) ports: u16,
    /// Per PathRecord query, in order; when empty: `Answer`.
    pub(super) script: VecDeque<Script>,
    /// Answer GetTable over RMPP (as a kernel SA does) or in one plain MAD (OpenSM on ibsim).
    pub(super) rmpp_tables: bool,
    /// PathRecord queries seen.
    pub(super) pr_queries: usize,
    /// Every MAD received, decoded headers.
    pub(super) seen: Vec<SaMad>,
    pub(super) report_resps: usize,
    /// The RespTimeValue its ClassPortInfo advertises (16, as OpenSM's does, unless a test changes it).
    pub(super) resp_time_value: u8,
    pub(super) rmpp: Sender<2, { 56 + 64 * 1100 }>,
}

impl ScriptedSa {
    pub(super) fn new(ports: u16) -> ScriptedSa {
        ScriptedSa {
            ports,
            script: VecDeque::new(),
            rmpp_tables: true,
            pr_queries: 0,
            seen: Vec::new(),
            report_resps: 0,
            resp_time_value: 16,
            rmpp: Sender::new(crate::rmpp::Config {
                response_time: Duration::from_millis(50),
                ..crate::rmpp::Config::DEFAULT
            }),
        }
    }

    pub(super) fn record(&self, slid: u16, dlid: u16) -> PathRecordRepr {
        PathRecordRepr {
            dgid: gid(dlid),
            sgid: gid(slid),
            dlid,
            slid,
            reversible: true,
            pkey: 0xffff,
            mtu_selector: Selector::Exactly,
            mtu: Mtu::Mtu2048,
            rate_selector: Selector::Exactly,
            rate: Rate::Gbps40,
            packet_lifetime_selector: Selector::Exactly,
            packet_lifetime: PacketLifetime(18),
            ..PathRecordRepr::default()
        }
    }

    fn lid_of(&self, g: &Gid) -> Option<u16> {
        let lid = g.guid().checked_sub(0x0010_0000)?;
        (g.prefix() == PREFIX && lid >= 1 && lid <= self.ports as u64).then_some(lid as u16)
    }

    /// Answers one MAD; returns MADs to send back.
    pub(super) fn handle(&mut self, now: Instant, from: MadAddress, mad: &[u8]) -> Vec<Vec<u8>> {
        let packet = SaPacket::new_checked(mad).expect("engine sends valid MADs");
        let h = SaMad::parse(&packet).unwrap();
        self.seen.push(h);
        if h.rmpp.is_active() {
            // ACKs of our RMPP answers.
            self.rmpp.handle(now, from, mad);
            return Vec::new();
        }
        let mut out = Vec::new();
        let reply = |h: &SaMad, status: MadStatus, method: Method, records: &[u8], offset: u16| {
            let mut r = *h;
            r.header.method = method;
            r.header.status = status;
            r.sa.attribute_offset = offset;
            let mut buf = [0u8; MAD_LEN];
            let data = r.emit(&mut buf).unwrap();
            let n = records.len().min(data.len());
            data[..n].copy_from_slice(&records[..n]);
            buf.to_vec()
        };
        match (h.header.method, h.header.attribute_id) {
            (Method::Get, AttributeId::ClassPortInfo) => {
                let cpi = crate::wire::ClassPortInfoRepr {
                    base_version: 1,
                    class_version: 2,
                    resp_time_value: self.resp_time_value,
                    ..Default::default()
                };
                let mut b = [0u8; 72];
                cpi.encode(&mut b).unwrap();
                out.push(reply(&h, MadStatus::OK, Method::GetResp, &b, 0));
            }
            (Method::Set, AttributeId::InformInfo) => {
                let ii = InformInfoRepr::decode(packet.data()).unwrap();
                let mut b = [0u8; 36];
                ii.encode(&mut b).unwrap();
                out.push(reply(&h, MadStatus::OK, Method::GetResp, &b, 0));
            }
            (Method::ReportResp, _) => self.report_resps += 1,
            (Method::Get | Method::GetTable, AttributeId::PathRecord) => {
                self.pr_queries += 1;
                match self.script.pop_front().unwrap_or(Script::Answer) {
                    Script::Drop => return out,
                    Script::Busy => {
                        out.push(reply(&h, MadStatus(1), h.header.method.response(), &[], 0));
                        return out;
                    }
                    Script::Answer => {}
                }
                let Some(SaRecord::PathRecord(q)) = packet.records().unwrap().next().map(Result::unwrap)
                else {
                    panic!("no template")
                };
                let m = PathRecordMask::from_bits_retain(h.sa.component_mask);
                let slid = if m.contains(PathRecordMask::SGID) { self.lid_of(&q.sgid) } else { Some(q.slid) };
                let dests: Vec<u16> = if m.contains(PathRecordMask::DGID) {
                    self.lid_of(&q.dgid).into_iter().collect()
                } else if m.contains(PathRecordMask::DLID) {
                    (q.dlid >= 1 && q.dlid <= self.ports).then_some(q.dlid).into_iter().collect()
                } else {
                    (1..=self.ports).collect()
                };
                let Some(slid) = slid.filter(|l| *l >= 1 && *l <= self.ports) else {
                    out.push(reply(&h, MadStatus(0x0300), h.header.method.response(), &[], 0));
                    return out;
                };
                let mut records = Vec::new();
                for d in &dests {
                    let mut b = [0u8; 64];
                    self.record(slid, *d).encode(&mut b).unwrap();
                    records.extend_from_slice(&b);
                }
                if h.header.method == Method::Get {
                    if dests.is_empty() {
                        out.push(reply(&h, MadStatus(0x0300), Method::GetResp, &[], 0));
                    } else {
                        out.push(reply(&h, MadStatus::OK, Method::GetResp, &records[..64], 0));
                    }
                } else if self.rmpp_tables {
                    let mut r = h;
                    r.header.method = Method::GetTableResp;
                    r.sa.attribute_offset = if dests.is_empty() { 0 } else { 8 };
                    self.rmpp.start(now, from, &r, &records).expect("SA sender slot");
                } else {
                    let off = if dests.is_empty() { 0 } else { 8 };
                    out.push(reply(&h, MadStatus::OK, Method::GetTableResp, &records, off));
                }
            }
            _ => {}
        }
        out
    }

    pub(super) fn report(&self, trap: TrapNumber, about: Gid, tid: u64) -> Vec<u8> {
        self.report_details(trap, TrapDetails::Gid(about), tid)
    }

    /// A Report(Notice) of generic trap `trap` with these data details.
    pub(super) fn report_details(&self, trap: TrapNumber, details: TrapDetails, tid: u64) -> Vec<u8> {
        let notice = NoticeRepr {
            notice_type: NoticeType::SubnetManagement,
            origin: Origin::Generic { trap_number: trap, producer_type: ProducerType::ClassManager },
            issuer_lid: SA_LID,
            toggle: false,
            count: 1,
            data_details: details.emit(),
            issuer_gid: gid(SA_LID),
        };
        let mad = SaMad::new(Method::Report, AttributeId::Notice, tid);
        let mut buf = [0u8; MAD_LEN];
        notice.encode(mad.emit(&mut buf).unwrap()).unwrap();
        buf.to_vec()
    }
}

/// Moves MADs between the engine and the SA until both are quiet, at time `now`.
pub(super) fn pump(e: &mut TestEngine, sa: &mut ScriptedSa, now: Instant) {
    let mut buf = [0u8; MAD_LEN];
    for _ in 0..100_000 {
        let mut moved = false;
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            moved = true;
            for answer in sa.handle(now, MadAddress::gsi(ME, 0), &buf[..t.len]) {
                e.handle_mad(now, MadAddress::gsi(SA_LID, 0), &answer);
            }
        }
        while let Some((_, len)) = sa.rmpp.poll_transmit(now, &mut buf) {
            moved = true;
            e.handle_mad(now, MadAddress::gsi(SA_LID, 0), &buf[..len]);
        }
        // Finished sends free the SA's slots for the next table answer.
        while sa.rmpp.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
    panic!("no quiescence");
}

/// Runs timers and traffic until `until`, in steps.
pub(super) fn run_until(e: &mut TestEngine, sa: &mut ScriptedSa, start: Instant, until: Instant) -> Instant {
    let mut now = start;
    pump(e, sa, now);
    while now < until {
        let next = e.poll_at().into_iter().chain(sa.rmpp.poll_at()).min().unwrap_or(until).min(until);
        now = if next > now { next } else { now + Duration::from_millis(1) };
        e.handle_timeout(now);
        sa.rmpp.handle_timeout(now);
        pump(e, sa, now);
    }
    now
}

pub(super) fn events(e: &mut TestEngine) -> Vec<Event> {
    core::iter::from_fn(|| e.poll_event()).collect()
}

pub(super) fn resolved(events: &[Event]) -> Vec<(Token, Result<Answer, ResolveError>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Resolved { token, result } => Some((*token, result.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn to(dlid: u16) -> Query {
    Query::between_gids(gid(ME), gid(dlid)).with_reversible().with_numb_path(1)
}

pub(super) fn started() -> (Box<TestEngine>, ScriptedSa, Instant) {
    let now = Instant::from_secs_for_test(10);
    let mut e = Box::new(TestEngine::new(now, config(), port()));
    let mut sa = ScriptedSa::new(64);
    pump(&mut e, &mut sa, now);
    let ev = events(&mut e);
    assert!(ev.contains(&Event::SaReachable(true)), "{ev:?}");
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::Subscribed { accepted: true, .. })).count(), 4);
    (e, sa, now)
}

impl Instant {
    fn from_secs_for_test(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }
}

#[test]
fn start_fetches_class_port_info_and_subscribes() {
    let (e, sa, _) = started();
    assert_eq!(e.mgmt.resp_time_value, Some(16));
    let sets: Vec<_> = sa.seen.iter().filter(|h| h.header.method == Method::Set).collect();
    assert_eq!(sets.len(), 4, "traps 64, 65, 144, 145");
    assert_eq!(e.stats().class_port_info_queries, 1);
}

#[test]
fn miss_then_hit() {
    let (mut e, mut sa, now) = started();
    assert_eq!(e.resolve(now, &to(8), ResolveFlags::empty(), 1), Resolve::Pending);
    pump(&mut e, &mut sa, now);
    let r = resolved(&events(&mut e));
    let answer = r[0].1.clone().expect("answered");
    assert_eq!((r[0].0, answer.source, answer.records.len()), (1, Source::Sa, 1));
    assert_eq!(answer.records[0].dlid.get(), 8);
    assert_eq!(sa.seen.last().unwrap().header.method, Method::Get, "one path: Get");
    // Second time from the table, no SA query.
    match e.resolve(now, &to(8), ResolveFlags::empty(), 2) {
        Resolve::Answered(a) => assert_eq!((a.source, a.records[0].dlid.get()), (Source::Cache, 8)),
        other => panic!("{other:?}"),
    }
    assert_eq!(sa.pr_queries, 1);
    assert_eq!(e.stats().cache_answers, 1);
}

#[test]
fn a_thousand_concurrent_resolves_make_one_query() {
    let (mut e, mut sa, now) = started();
    for token in 0..1000 {
        assert_eq!(e.resolve(now, &to(9), ResolveFlags::empty(), token), Resolve::Pending);
    }
    assert_eq!(e.stats().waiting, 1000);
    pump(&mut e, &mut sa, now);
    let r = resolved(&events(&mut e));
    assert_eq!(r.len(), 1000);
    assert!(r.iter().all(|(_, res)| res.as_ref().is_ok_and(|a| a.records[0].dlid.get() == 9)));
    let mut tokens: Vec<_> = r.iter().map(|(t, _)| *t).collect();
    tokens.sort();
    assert_eq!(tokens, (0..1000).collect::<Vec<_>>());
    assert_eq!(sa.pr_queries, 1, "coalesced into one SA query");
    assert_eq!(e.stats().coalesced, 999);
    assert_eq!((e.stats().waiting, e.stats().outstanding), (0, 0));
}

#[test]
fn sa_depth_holds_under_ten_thousand_distinct_misses() {
    let now = Instant::from_secs_for_test(10);
    let mut e = Box::new(TestEngine::new(now, Config { sa_depth: 4, ..config() }, port()));
    let mut sa = ScriptedSa::new(20_000);
    pump(&mut e, &mut sa, now);
    events(&mut e);
    let (mut pending, mut overloaded) = (0, 0);
    for i in 0..10_000u16 {
        match e.resolve(now, &to(100 + i), ResolveFlags::empty(), i as u64) {
            Resolve::Pending => pending += 1,
            Resolve::Failed(ResolveError::Overloaded) => overloaded += 1,
            other => panic!("{other:?}"),
        }
        assert!(e.stats().outstanding <= 4);
    }
    assert_eq!(pending, 64, "the pending pool bounds what waits");
    assert_eq!(overloaded, 10_000 - 64);
    // Drain with the SA answering one query per transmit step: never more than 4 in flight.
    let mut buf = [0u8; MAD_LEN];
    let mut answered = 0;
    while let Some(t) = e.poll_transmit(now, &mut buf) {
        assert!(e.stats().outstanding <= 4, "sa_depth exceeded");
        for a in sa.handle(now, MadAddress::gsi(ME, 0), &buf[..t.len]) {
            e.handle_mad(now, MadAddress::gsi(SA_LID, 0), &a);
        }
        answered += resolved(&events(&mut e)).len();
    }
    assert_eq!(answered, 64);
    assert_eq!(sa.pr_queries, 64);
}

#[test]
fn timeout_and_retry_with_a_new_tid() {
    let (mut e, mut sa, now) = started();
    sa.script.extend([Script::Drop, Script::Drop]);
    assert_eq!(e.resolve(now, &to(10), ResolveFlags::empty(), 7), Resolve::Pending);
    let end = run_until(&mut e, &mut sa, now, now + Duration::from_secs(2));
    let r = resolved(&events(&mut e));
    assert!(r[0].1.is_ok(), "{r:?}");
    assert_eq!(sa.pr_queries, 3);
    let tids: Vec<u64> = sa
        .seen
        .iter()
        .filter(|h| h.header.attribute_id == AttributeId::PathRecord)
        .map(|h| h.header.transaction_id)
        .collect();
    assert_eq!(tids.len(), 3);
    assert!(tids[0] != tids[1] && tids[1] != tids[2], "each retry has its own TID: {tids:?}");
    assert_eq!(e.stats().retries, 2);
    assert!(end > now);
}

#[test]
fn gives_up_after_max_retries_within_the_bound() {
    let (mut e, mut sa, now) = started();
    sa.script.extend([Script::Drop; 10]);
    e.resolve(now, &to(10), ResolveFlags::empty(), 7);
    // 100 ms doubling per attempt, 4 attempts: 100 + 200 + 400 + 800 ms.
    let bound = now + Duration::from_millis(1500);
    let mut t = now;
    let mut result = None;
    while result.is_none() && t < bound {
        t = run_until(&mut e, &mut sa, t, t + Duration::from_millis(50));
        result = resolved(&events(&mut e)).pop();
    }
    assert_eq!(result.map(|r| r.1), Some(Err(ResolveError::Timeout)));
    assert_eq!(sa.pr_queries, 4, "first send + 3 retries");
    assert_eq!((e.stats().outstanding, e.stats().waiting, e.stats().timeouts), (0, 0, 1));
}

#[test]
fn busy_backs_off_and_succeeds() {
    let (mut e, mut sa, now) = started();
    sa.script.extend([Script::Busy, Script::Busy]);
    e.resolve(now, &to(11), ResolveFlags::empty(), 1);
    pump(&mut e, &mut sa, now);
    assert!(resolved(&events(&mut e)).is_empty(), "no answer while backing off");
    assert_eq!(e.stats().busy, 1);
    run_until(&mut e, &mut sa, now, now + Duration::from_millis(500));
    let r = resolved(&events(&mut e));
    assert!(r[0].1.is_ok());
    assert_eq!((sa.pr_queries, e.stats().busy), (3, 2));
    assert_eq!(e.stats().retries, 0, "BUSY is not a lost attempt");
}

#[test]
fn no_records_is_cached_as_a_negative_entry() {
    let (mut e, mut sa, now) = started();
    e.resolve(now, &to(999), ResolveFlags::empty(), 1);
    pump(&mut e, &mut sa, now);
    assert_eq!(resolved(&events(&mut e))[0].1, Err(ResolveError::Sa(SaError::NoRecords)));
    assert_eq!(
        e.resolve(now, &to(999), ResolveFlags::empty(), 2),
        Resolve::Failed(ResolveError::Sa(SaError::NoRecords))
    );
    assert_eq!(sa.pr_queries, 1, "answered by the negative entry");
    // After the negative lifetime the SA is asked again.
    let later = now + Duration::from_secs(6);
    assert_eq!(e.resolve(later, &to(999), ResolveFlags::empty(), 3), Resolve::Pending);
}

#[test]
fn flags_bypass_and_cache_only() {
    let (mut e, mut sa, now) = started();
    assert_eq!(
        e.resolve(now, &to(12), ResolveFlags::CACHE_ONLY, 1),
        Resolve::Failed(ResolveError::NotCached)
    );
    assert_eq!(sa.pr_queries, 0);
    e.resolve(now, &to(12), ResolveFlags::empty(), 2);
    pump(&mut e, &mut sa, now);
    events(&mut e);
    assert!(matches!(e.resolve(now, &to(12), ResolveFlags::CACHE_ONLY, 3), Resolve::Answered(_)));
    assert_eq!(e.resolve(now, &to(12), ResolveFlags::BYPASS_CACHE, 4), Resolve::Pending);
    pump(&mut e, &mut sa, now);
    assert_eq!(resolved(&events(&mut e))[0].1.as_ref().map(|a| a.source), Ok(Source::Sa));
    assert_eq!(sa.pr_queries, 2);
}

#[test]
fn trap_65_invalidates_and_is_acknowledged() {
    let (mut e, mut sa, now) = started();
    e.resolve(now, &to(13), ResolveFlags::empty(), 1);
    pump(&mut e, &mut sa, now);
    events(&mut e);
    let report = sa.report(TrapNumber::GidOutOfService, gid(13), 0x77);
    e.handle_mad(now, MadAddress::gsi(SA_LID, 0), &report);
    pump(&mut e, &mut sa, now);
    assert_eq!(sa.report_resps, 1, "ReportResp sent");
    let resp = sa.seen.iter().find(|h| h.header.method == Method::ReportResp).unwrap();
    assert_eq!(resp.header.transaction_id, 0x77, "same TID as the Report");
    let ev = events(&mut e);
    assert!(
        ev.contains(&Event::Invalidated {
            what: Invalidation::Gid { trap: TrapNumber::GidOutOfService, gid: gid(13) },
            entries: 1
        }),
        "{ev:?}"
    );
    // No stale path is served after the Report: the next resolve asks the SA.
    assert_eq!(e.resolve(now, &to(13), ResolveFlags::empty(), 2), Resolve::Pending);
    assert_eq!(
        e.resolve(now, &to(13), ResolveFlags::CACHE_ONLY, 3),
        Resolve::Failed(ResolveError::NotCached)
    );
}

#[test]
fn sm_change_resubscribes_and_revalidates() {
    let (mut e, mut sa, now) = started();
    e.resolve(now, &to(14), ResolveFlags::empty(), 1);
    pump(&mut e, &mut sa, now);
    events(&mut e);
    let before = sa.seen.len();
    let mut p = port();
    p.sm_lid = 2;
    e.set_port(now, p);
    // Stale entries are still served, and refreshed behind the client's back.
    assert!(matches!(e.resolve(now, &to(14), ResolveFlags::empty(), 2), Resolve::Answered(_)));
    pump(&mut e, &mut sa, now);
    let ev = events(&mut e);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Invalidated { what: Invalidation::SmChanged { sa_lid: 2 }, .. })));
    let after: Vec<_> = sa.seen[before..].iter().map(|h| (h.header.method, h.header.attribute_id)).collect();
    assert!(after.contains(&(Method::Get, AttributeId::ClassPortInfo)));
    assert_eq!(after.iter().filter(|m| **m == (Method::Set, AttributeId::InformInfo)).count(), 4);
    assert!(after.contains(&(Method::Get, AttributeId::PathRecord)), "stale entry refreshed");
    assert_eq!(e.stats().sm_changes, 1);
    // Fresh again: served without a new query.
    let queries = sa.pr_queries;
    assert!(matches!(e.resolve(now, &to(14), ResolveFlags::empty(), 3), Resolve::Answered(_)));
    assert_eq!(sa.pr_queries, queries);
}

#[test]
fn bulk_fetch_over_rmpp_fills_the_table() {
    let now = Instant::from_secs_for_test(10);
    let mode = Mode::Bulk { refresh: Duration::from_secs(600) };
    let mut e = Box::new(TestEngine::new(now, Config { mode, ..config() }, port()));
    let mut sa = ScriptedSa::new(1000);
    run_until(&mut e, &mut sa, now, now + Duration::from_millis(10));
    let ev = events(&mut e);
    assert!(ev.contains(&Event::BulkFetched { records: 1000, complete: true }), "{ev:?}");
    let segments = sa.seen.iter().filter(|h| h.rmpp.is_active()).count();
    assert!(segments >= 5, "ACKs came back over RMPP: {segments}");
    let queries = sa.pr_queries;
    for d in [1, 500, 1000] {
        assert!(
            matches!(e.resolve(now, &to(d), ResolveFlags::empty(), d as u64), Resolve::Answered(_)),
            "{d}"
        );
    }
    assert_eq!(sa.pr_queries, queries, "all from the bulk fetch");
    assert_eq!(e.stats().rmpp_in_flight, 0);
}

/// Found by the `engine` fuzz target: a bulk refetch that fell due while the previous fetch
/// was still pending left its due time in the past, so `poll_at` kept reporting it and a
/// caller sleeping until `poll_at` spun until the fetch ended.
#[test]
fn bulk_refetch_due_during_a_fetch_leaves_no_past_timer() {
    let now = Instant::from_secs_for_test(10);
    let mode = Mode::Bulk { refresh: Duration::from_secs(600) };
    let config = Config { mode, subscribe: false, timeout: Some(Duration::from_secs(5)), ..config() };
    let mut e = Box::new(TestEngine::new(now, config, port()));
    let mut buf = [0u8; MAD_LEN];
    // ClassPortInfo and the bulk GetTable go out; the SA keeps quiet.
    while e.poll_transmit(now, &mut buf).is_some() {}
    assert_eq!(e.stats().outstanding, 1, "the bulk fetch is outstanding");
    // A re-register asks for a refetch one second later, while the fetch still runs.
    e.client_reregister(now);
    let later = now + Duration::from_millis(1500);
    e.handle_timeout(later);
    while e.poll_transmit(later, &mut buf).is_some() {}
    let at = e.poll_at().expect("timers are set");
    assert!(at > later, "poll_at {at:?} is not after {later:?}: a caller would spin");
}

#[test]
fn bulk_answer_without_rmpp_is_never_the_whole_table() {
    let now = Instant::from_secs_for_test(10);
    let mode = Mode::Bulk { refresh: Duration::from_secs(600) };
    let mut e = Box::new(TestEngine::new(now, Config { mode, ..config() }, port()));
    let mut sa = ScriptedSa::new(50);
    sa.rmpp_tables = false;
    run_until(&mut e, &mut sa, now, now + Duration::from_millis(10));
    let ev = events(&mut e);
    assert!(ev.contains(&Event::BulkFetched { records: 3, complete: false }), "{ev:?}");
    assert_eq!(e.stats().possibly_cut, 1);
    // Destinations past the cut resolve per destination.
    assert_eq!(e.resolve(now, &to(40), ResolveFlags::empty(), 1), Resolve::Pending);
}

#[test]
fn garbage_after_the_last_record_is_not_cached() {
    let (mut e, _, now) = started();
    let q = Query::between_gids(gid(ME), gid(20)).with_numb_path(3);
    e.resolve(now, &q, ResolveFlags::empty(), 1);
    let mut buf = [0u8; MAD_LEN];
    let t = e.poll_transmit(now, &mut buf).unwrap();
    let req = SaMad::parse(&SaPacket::new_checked(&buf[..t.len]).unwrap()).unwrap();
    assert_eq!(req.header.method, Method::GetTable, "NumbPath 3: GetTable");
    // One real record, then two slots of garbage, as OpenSM sends on ibsim.
    let mut resp = req;
    resp.header.method = Method::GetTableResp;
    resp.sa.attribute_offset = 8;
    let mut mad = [0x5au8; MAD_LEN];
    let data = resp.emit(&mut mad).unwrap();
    ScriptedSa::new(64).record(ME, 20).encode(&mut data[..64]).unwrap();
    e.handle_mad(now, MadAddress::gsi(SA_LID, 0), &mad);
    let r = resolved(&events(&mut e));
    assert_eq!(r[0].1.as_ref().unwrap().records.len(), 1);
    assert_eq!(e.stats().records_inconsistent, 2);
    assert_eq!(e.table().len(), 1);
}

#[test]
fn overload_is_a_clean_error_and_cancel_frees_waiters() {
    let now = Instant::from_secs_for_test(10);
    let mut e: Box<Engine<64, 2, 3, 1, 256, 1, 256>> = Box::new(Engine::new(now, config(), port()));
    assert_eq!(e.resolve(now, &to(1), ResolveFlags::empty(), 1), Resolve::Pending);
    assert_eq!(e.resolve(now, &to(2), ResolveFlags::empty(), 2), Resolve::Pending);
    assert_eq!(e.resolve(now, &to(3), ResolveFlags::empty(), 3), Resolve::Failed(ResolveError::Overloaded));
    assert_eq!(e.resolve(now, &to(1), ResolveFlags::empty(), 4), Resolve::Pending, "coalesced, third waiter");
    assert_eq!(e.resolve(now, &to(1), ResolveFlags::empty(), 5), Resolve::Failed(ResolveError::Overloaded));
    assert!(e.cancel(4));
    assert!(!e.cancel(4));
    assert_eq!(e.resolve(now, &to(1), ResolveFlags::empty(), 6), Resolve::Pending);
    e.cancel_all();
    let r: Vec<_> = core::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Resolved { token, result } => Some((token, result)),
            _ => None,
        })
        .collect();
    assert_eq!(r.len(), 3);
    assert!(r.iter().all(|(_, res)| *res == Err(ResolveError::Cancelled)));
    assert_eq!((e.stats().waiting, e.stats().outstanding, e.stats().queued), (0, 0, 0));
}

#[test]
fn heartbeat_notices_an_sa_that_went_away_and_came_back() {
    let now = Instant::from_secs_for_test(10);
    let mut e =
        Box::new(TestEngine::new(now, Config { heartbeat: Duration::from_secs(1), ..config() }, port()));
    let mut sa = ScriptedSa::new(64);
    pump(&mut e, &mut sa, now);
    events(&mut e);
    // The SA disappears: nothing reaches it for 3 s.
    let mut t = now;
    let mut buf = [0u8; MAD_LEN];
    while t < now + Duration::from_secs(3) {
        t = e.poll_at().unwrap_or(t).max(t + Duration::from_millis(1));
        e.handle_timeout(t);
        while e.poll_transmit(t, &mut buf).is_some() {}
    }
    assert!(events(&mut e).contains(&Event::SaReachable(false)));
    // It comes back: the next heartbeat answer counts as a new SM, subscriptions are renewed.
    let back = run_until(&mut e, &mut sa, t, t + Duration::from_secs(2));
    let ev = events(&mut e);
    assert!(ev.contains(&Event::SaReachable(true)), "{ev:?}");
    assert!(e.stats().sm_changes >= 1);
    assert!(back > t);
}

#[test]
fn thirty_percent_loss_completes_or_times_out_and_leaks_nothing() {
    let (mut e, mut sa, now) = started();
    // A seeded 30% loss on both directions.
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut lost = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % 10 < 3
    };
    for d in 1..=40 {
        e.resolve(now, &to(d), ResolveFlags::empty(), d as u64);
    }
    let mut buf = [0u8; MAD_LEN];
    let mut t = now;
    let mut results = Vec::new();
    for _ in 0..20_000 {
        while let Some(tx) = e.poll_transmit(t, &mut buf) {
            if lost() {
                continue;
            }
            for a in sa.handle(t, MadAddress::gsi(ME, 0), &buf[..tx.len]) {
                if !lost() {
                    e.handle_mad(t, MadAddress::gsi(SA_LID, 0), &a);
                }
            }
        }
        results.extend(resolved(&events(&mut e)));
        if results.len() == 40 {
            break;
        }
        t = e.poll_at().unwrap_or(t).max(t + Duration::from_millis(1));
        e.handle_timeout(t);
    }
    assert_eq!(results.len(), 40, "every resolve finished");
    for (token, r) in &results {
        match r {
            Ok(a) => assert_eq!(a.records[0].dlid.get(), *token as u16, "never a wrong path"),
            Err(err) => assert_eq!(*err, ResolveError::Timeout),
        }
    }
    assert!(results.iter().filter(|r| r.1.is_ok()).count() >= 30, "most complete through retries");
    let s = e.stats();
    assert_eq!((s.outstanding, s.queued, s.waiting, s.rmpp_in_flight), (0, 0, 0, 0), "nothing leaked");
}

#[test]
fn sizes_are_documented() {
    // The module docs quote about 700 bytes per pending query and 16 per waiter.
    assert!(
        core::mem::size_of::<Option<pending::Slot>>() <= 720,
        "{}",
        core::mem::size_of::<Option<pending::Slot>>()
    );
    assert!(core::mem::size_of::<waiters::Waiters<1>>() <= 40);
    let _ = MadStatusCode::Ok;
    let _ = SaStatusCode::Success;
    let _ = RmppFlags::ACTIVE;
}
