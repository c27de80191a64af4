//! The engine against the scripted SA, in the sans-IO loop a firmware runs: `resolve`,
//! `poll_transmit` → wire → SA, SA → wire → `handle_mad`, `poll_event`, and `handle_timeout`
//! when the clock reaches `poll_at`. The clock is simulated: it jumps to the next deadline.

use localsa_core::engine::{Event, Invalidation, Resolve, ResolveError, ResolveFlags, Source, Token};
use localsa_core::rmpp;
use localsa_core::table::{PinPolicy, Query};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::{MadAddress, Method, SaError, TrapNumber, MAD_LEN};

use crate::sa::{gid, Script, ScriptedSa, ME, PORTS, SA_LID};
use localsa_firmware::{FwEngine, WAITERS};

/// When the firmware starts, on its own clock.
pub const START: Instant = Instant::from_millis(10_000);

fn to(dlid: u16) -> Query {
    Query::between_gids(gid(ME), gid(dlid)).with_reversible().with_numb_path(1)
}

const FROM_SA: MadAddress = MadAddress::gsi(SA_LID, 0);
const FROM_ME: MadAddress = MadAddress::gsi(ME, 0);

/// What crossed the in-memory wire.
#[derive(Debug, Default)]
struct Wire {
    to_sa: u32,
    from_sa: u32,
    /// RMPP segments from the SA's sender.
    segments: u32,
}

/// Moves MADs between the engine and the SA until both are quiet at `now`.
fn pump(e: &mut FwEngine, sa: &mut ScriptedSa, now: Instant, w: &mut Wire) {
    let mut buf = [0u8; MAD_LEN];
    let mut reply = [0u8; MAD_LEN];
    for _ in 0..10_000 {
        let mut moved = false;
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            moved = true;
            w.to_sa += 1;
            if let Some(n) = sa.handle(now, FROM_ME, &buf[..t.len], &mut reply) {
                w.from_sa += 1;
                e.handle_mad(now, FROM_SA, &reply[..n]);
            }
        }
        while let Some((_, len)) = sa.rmpp.poll_transmit(now, &mut buf) {
            moved = true;
            w.from_sa += 1;
            w.segments += 1;
            e.handle_mad(now, FROM_SA, &buf[..len]);
        }
        // A finished send frees the SA's slot once reported.
        while let Some(ev) = sa.rmpp.poll_event() {
            if !matches!(ev, rmpp::Event::Sent { .. }) {
                check!(false, "SA: an RMPP answer failed");
            }
        }
        if !moved {
            return;
        }
    }
    check!(false, "the wire never went quiet");
}

/// Moves the clock to the next deadline of the engine or the SA (at least 1 ms on), runs the
/// timers, and moves MADs.
fn step(e: &mut FwEngine, sa: &mut ScriptedSa, now: Instant, w: &mut Wire) -> Instant {
    let next = match (e.poll_at(), sa.rmpp.poll_at()) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(now),
    };
    let now = if next > now { next } else { now + Duration::from_millis(1) };
    e.handle_timeout(now);
    sa.rmpp.handle_timeout(now);
    pump(e, sa, now, w);
    now
}

/// Passes every pending event to `f`.
fn events(e: &mut FwEngine, mut f: impl FnMut(Event)) {
    while let Some(ev) = e.poll_event() {
        f(ev);
    }
}

/// The answer for `token` among the pending events (others are dropped).
fn result_for(e: &mut FwEngine, token: Token) -> Option<Result<u16, ResolveError>> {
    let mut got = None;
    events(e, |ev| {
        if let Event::Resolved { token: t, result } = ev {
            if t == token {
                got = Some(result.map(|a| a.records.first().map_or(0, |r| r.dlid.get())));
            }
        }
    });
    got
}

pub fn run(e: &mut FwEngine, sa: &mut ScriptedSa, start: Instant) -> Instant {
    let mut w = Wire::default();
    let mut now = start;
    startup_and_bulk(e, sa, &mut now, &mut w);
    miss_then_hit(e, sa, now, &mut w);
    coalescing(e, sa, now, &mut w);
    now = retry(e, sa, now, &mut w);
    now = sa_away_and_back(e, sa, now, &mut w);
    trap(e, sa, now, &mut w);
    negative(e, sa, now, &mut w);
    let s = e.stats();
    say!(
        "engine: {} resolves ({} from the table, {} coalesced), {} SA queries, {} retries, {} timeouts, {} MADs to the SA, {} back ({} RMPP segments)",
        s.resolves,
        s.cache_answers,
        s.coalesced,
        s.sa_queries,
        s.retries,
        s.timeouts,
        w.to_sa,
        w.from_sa,
        w.segments
    );
    check!(
        s.outstanding == 0 && s.waiting == 0 && s.rmpp_in_flight == 0,
        "engine: something left in flight: {} outstanding {} waiting {} rmpp",
        s.outstanding,
        s.waiting,
        s.rmpp_in_flight
    );
    now
}

/// Start-up: ClassPortInfo, four trap subscriptions, and the bulk fetch of every path from
/// the port: a GetTable answered over RMPP with 64 PathRecords, reassembled in the engine's
/// one receive slot.
fn startup_and_bulk(e: &mut FwEngine, sa: &mut ScriptedSa, now: &mut Instant, w: &mut Wire) {
    pump(e, sa, *now, w);
    let (mut reachable, mut subscribed, mut bulk) = (false, 0, None);
    for _ in 0..100 {
        events(e, |ev| match ev {
            Event::SaReachable(true) => reachable = true,
            Event::Subscribed { accepted: true, .. } => subscribed += 1,
            Event::BulkFetched { records, complete } => bulk = Some((records, complete)),
            _ => {}
        });
        if bulk.is_some() {
            break;
        }
        *now = step(e, sa, *now, w);
    }
    check!(reachable, "start: no SaReachable(true)");
    check!(subscribed == 4, "start: {} subscriptions accepted, expected 4", subscribed);
    check!(
        bulk == Some((PORTS as usize, true)),
        "start: bulk fetch did not bring {} records over RMPP",
        PORTS
    );
    check!(e.table().len() == PORTS as usize, "start: table holds {} entries", e.table().len());
    let queries = sa.pr_queries;
    let mut answered = 0;
    for d in 1..=PORTS {
        if let Resolve::Answered(a) = e.resolve(*now, &to(d), ResolveFlags::empty(), d as Token) {
            if a.source == Source::Cache && a.records[0].dlid.get() == d {
                answered += 1;
            }
        }
    }
    check!(answered == PORTS, "bulk: {} of {} destinations answered from the table", answered, PORTS);
    check!(sa.pr_queries == queries, "bulk: resolves went to the SA");
    say!(
        "start: ClassPortInfo, {} trap subscriptions; bulk GetTable: {} PathRecords ({} bytes) reassembled from {} RMPP segments, {} ACKs; {} resolves answered from the table",
        subscribed,
        PORTS,
        PORTS as usize * 64,
        w.segments,
        sa.rmpp_acks,
        answered
    );
    // The rest starts from an empty table.
    e.flush(PinPolicy::Drop);
}

/// A miss becomes one SA query (Get); its answer is cached; the next resolve is a hit.
fn miss_then_hit(e: &mut FwEngine, sa: &mut ScriptedSa, now: Instant, w: &mut Wire) {
    let queries = sa.pr_queries;
    check!(e.resolve(now, &to(8), ResolveFlags::empty(), 1) == Resolve::Pending, "miss: not pending");
    pump(e, sa, now, w);
    let got = result_for(e, 1);
    check!(got == Some(Ok(8)), "miss: no answer with DLID 8");
    check!(sa.last_pr_method == Some(Method::Get), "miss: one path is not asked with Get");
    let hit = match e.resolve(now, &to(8), ResolveFlags::empty(), 2) {
        Resolve::Answered(a) => a.source == Source::Cache && a.records[0].dlid.get() == 8,
        _ => false,
    };
    check!(hit, "miss: second resolve not answered from the table");
    check!(sa.pr_queries == queries + 1, "miss: {} SA queries, expected 1", sa.pr_queries - queries);
    say!("miss -> SA query (Get) -> answer -> hit: ok");
}

/// Every waiter slot on one question: one SA query answers them all; one more is refused.
fn coalescing(e: &mut FwEngine, sa: &mut ScriptedSa, now: Instant, w: &mut Wire) {
    let queries = sa.pr_queries;
    let coalesced = e.stats().coalesced;
    let mut pending = 0;
    for t in 0..WAITERS as Token {
        if e.resolve(now, &to(9), ResolveFlags::empty(), 100 + t) == Resolve::Pending {
            pending += 1;
        }
    }
    check!(pending == WAITERS, "coalescing: {} of {} pending", pending, WAITERS);
    check!(
        e.resolve(now, &to(9), ResolveFlags::empty(), 999) == Resolve::Failed(ResolveError::Overloaded),
        "coalescing: a resolve beyond the waiter capacity was not refused"
    );
    pump(e, sa, now, w);
    let mut answered = 0;
    events(e, |ev| {
        if let Event::Resolved { token, result: Ok(a) } = ev {
            if (100..100 + WAITERS as Token).contains(&token) && a.records[0].dlid.get() == 9 {
                answered += 1;
            }
        }
    });
    check!(answered == WAITERS, "coalescing: {} of {} answered", answered, WAITERS);
    check!(sa.pr_queries == queries + 1, "coalescing: {} SA queries, expected 1", sa.pr_queries - queries);
    let shared = e.stats().coalesced - coalesced;
    check!(shared == WAITERS as u64 - 1, "coalescing: {} coalesced", shared);
    say!(
        "coalescing: {} resolves of one path, 1 SA query, {} answers; one more refused (Overloaded)",
        WAITERS,
        answered
    );
}

/// The SA drops two queries: the engine retries with new TIDs and the third attempt succeeds.
fn retry(e: &mut FwEngine, sa: &mut ScriptedSa, start: Instant, w: &mut Wire) -> Instant {
    let _ = sa.script.push_back(Script::Drop);
    let _ = sa.script.push_back(Script::Drop);
    let queries = sa.pr_queries;
    let retries = e.stats().retries;
    check!(e.resolve(start, &to(10), ResolveFlags::empty(), 7) == Resolve::Pending, "retry: not pending");
    let mut now = start;
    pump(e, sa, now, w);
    let mut got = None;
    while got.is_none() && now < start + Duration::from_secs(60) {
        now = step(e, sa, now, w);
        got = result_for(e, 7);
    }
    check!(got == Some(Ok(10)), "retry: no answer after the drops");
    check!(sa.pr_queries == queries + 3, "retry: {} attempts, expected 3", sa.pr_queries - queries);
    let tids: heapless::Vec<u64, 3> = sa.pr_tids.iter().rev().take(3).copied().collect();
    let distinct = tids.len() == 3 && tids[0] != tids[1] && tids[1] != tids[2] && tids[0] != tids[2];
    check!(distinct, "retry: attempts did not have their own TIDs");
    check!(e.stats().retries - retries == 2, "retry: {} retries counted", e.stats().retries - retries);
    say!(
        "timeout/retry: 2 attempts dropped, answered on the 3rd after {} ms of simulated time (TIDs {} {} {})",
        (now - start).as_millis(),
        tids.get(2).copied().unwrap_or(0),
        tids.get(1).copied().unwrap_or(0),
        tids.first().copied().unwrap_or(0)
    );
    now
}

/// The SA goes quiet: a query times out after every retry, the ClassPortInfo check that
/// follows times out too, and the SA is reported unreachable. It comes back: the heartbeat
/// sees it, the engine treats it as a new SM (subscriptions renewed, bulk fetched again).
fn sa_away_and_back(e: &mut FwEngine, sa: &mut ScriptedSa, start: Instant, w: &mut Wire) -> Instant {
    sa.mute = true;
    let sm_changes = e.stats().sm_changes;
    check!(e.resolve(start, &to(11), ResolveFlags::empty(), 8) == Resolve::Pending, "away: not pending");
    let mut now = start;
    let (mut result, mut unreachable) = (None, false);
    while !(result.is_some() && unreachable) && now < start + Duration::from_secs(120) {
        now = step(e, sa, now, w);
        events(e, |ev| match ev {
            Event::Resolved { token: 8, result: r } => result = Some(r.map(|_| ())),
            Event::SaReachable(false) => unreachable = true,
            _ => {}
        });
    }
    check!(result == Some(Err(ResolveError::Timeout)), "away: the query did not time out");
    check!(unreachable && e.sa_reachable() == Some(false), "away: SA not reported unreachable");
    let gone = now;

    sa.mute = false;
    let subscriptions = sa.subscriptions;
    let (mut back, mut sm_changed, mut bulk) = (false, false, None);
    while !(back && sm_changed && bulk.is_some()) && now < gone + Duration::from_secs(120) {
        now = step(e, sa, now, w);
        events(e, |ev| match ev {
            Event::SaReachable(true) => back = true,
            Event::Invalidated { what: Invalidation::SmChanged { .. }, .. } => sm_changed = true,
            Event::BulkFetched { records, complete } => bulk = Some((records, complete)),
            _ => {}
        });
    }
    check!(back && sm_changed, "back: the SA's return was not noticed as a new SM");
    check!(e.stats().sm_changes > sm_changes, "back: no SM change counted");
    check!(sa.subscriptions >= subscriptions + 4, "back: subscriptions not renewed");
    check!(bulk == Some((PORTS as usize, true)), "back: no second bulk fetch over RMPP");
    say!(
        "SA away: query timed out after 4 attempts, SA unreachable after {} ms; back after {} ms more: new SM assumed, {} subscriptions renewed, bulk refetched ({} records)",
        (gone - start).as_millis(),
        (now - gone).as_millis(),
        sa.subscriptions - subscriptions,
        bulk.map_or(0, |b| b.0)
    );
    now
}

/// A Report of trap 65 (GID out of service) is acknowledged and drops the cached path.
fn trap(e: &mut FwEngine, sa: &mut ScriptedSa, now: Instant, w: &mut Wire) {
    let cached = matches!(e.resolve(now, &to(13), ResolveFlags::CACHE_ONLY, 20), Resolve::Answered(_));
    check!(cached, "trap: path to LID 13 not cached before the trap");
    let mut report = [0u8; MAD_LEN];
    let Some(n) = ScriptedSa::report(TrapNumber::GidOutOfService, gid(13), 0x77, &mut report) else {
        check!(false, "trap: Report could not be built");
        return;
    };
    let resps = sa.report_resps;
    e.handle_mad(now, FROM_SA, &report[..n]);
    pump(e, sa, now, w);
    check!(
        sa.report_resps == resps + 1 && sa.last_report_resp_tid == Some(0x77),
        "trap: no ReportResp with the Report's TID"
    );
    let mut invalidated = 0;
    events(e, |ev| {
        if let Event::Invalidated {
            what: Invalidation::Gid { trap: TrapNumber::GidOutOfService, gid: g },
            entries,
        } = ev
        {
            if g == gid(13) {
                invalidated = entries;
            }
        }
    });
    check!(invalidated >= 1, "trap: no invalidation of LID 13's GID");
    check!(
        e.resolve(now, &to(13), ResolveFlags::CACHE_ONLY, 21) == Resolve::Failed(ResolveError::NotCached),
        "trap: the invalidated path is still served"
    );
    say!("trap 65: ReportResp sent, {} cached entries invalidated, path no longer served", invalidated);
}

/// "No such path" is an error answer, then a negative entry that answers without the SA.
fn negative(e: &mut FwEngine, sa: &mut ScriptedSa, now: Instant, w: &mut Wire) {
    let queries = sa.pr_queries;
    check!(e.resolve(now, &to(999), ResolveFlags::empty(), 30) == Resolve::Pending, "negative: not pending");
    pump(e, sa, now, w);
    let no_records = Err(ResolveError::Sa(SaError::NoRecords));
    check!(result_for(e, 30).map(|r| r.map(|_| ())) == Some(no_records), "negative: no NoRecords answer");
    check!(
        e.resolve(now, &to(999), ResolveFlags::empty(), 31)
            == Resolve::Failed(ResolveError::Sa(SaError::NoRecords)),
        "negative: not answered from the negative entry"
    );
    check!(sa.pr_queries == queries + 1, "negative: the SA was asked twice");
    say!("negative: ERR_NO_RECORDS cached, second resolve answered without the SA");
}
