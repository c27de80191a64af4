//! Keeping the cache coherent: Reports for traps 64, 144 and 145 (65 is in `tests.rs`), the
//! SM-change triggers (a changed ClassPortInfo at the heartbeat, `client_reregister`, an SA
//! that answers again after going quiet), and bulk mode's scheduled and trap-driven refetches.

use std::boxed::Box;
use std::vec::Vec;

use super::tests::{config, events, gid, port, pump, resolved, run_until, started, to, Script, ScriptedSa};
use super::tests::{TestEngine, ME, SA_LID};
use super::*;
use crate::wire::{AttributeId, SaError, TrapDetails, TrapNumber};

fn cached(e: &mut TestEngine, now: Instant, dlid: u16) -> bool {
    matches!(e.resolve(now, &to(dlid), ResolveFlags::CACHE_ONLY, 999), Resolve::Answered(_))
}

/// Resolves `dlid` through the SA and checks the answer.
fn resolve_via_sa(e: &mut TestEngine, sa: &mut ScriptedSa, now: Instant, dlid: u16) {
    assert_eq!(e.resolve(now, &to(dlid), ResolveFlags::empty(), dlid as u64), Resolve::Pending);
    pump(e, sa, now);
    let r = resolved(&events(e));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1.as_ref().map(|a| a.records[0].dlid.get()), Ok(dlid));
}

/// Delivers a Report and checks it was acknowledged with its own TID.
fn report(e: &mut TestEngine, sa: &mut ScriptedSa, now: Instant, mad: &[u8], tid: u64) -> Vec<Event> {
    let acks = sa.report_resps;
    e.handle_mad(now, MadAddress::gsi(SA_LID, 0), mad);
    pump(e, sa, now);
    assert_eq!(sa.report_resps, acks + 1, "ReportResp sent");
    let resp = sa.seen.iter().rev().find(|h| h.header.method == Method::ReportResp).unwrap();
    assert_eq!(resp.header.transaction_id, tid, "ReportResp carries the Report's TID");
    events(e)
}

fn count(sa: &ScriptedSa, from: usize, method: Method, attribute: AttributeId) -> usize {
    sa.seen[from..]
        .iter()
        .filter(|h| h.header.method == method && h.header.attribute_id == attribute && !h.rmpp.is_active())
        .count()
}

fn subscribed(ev: &[Event]) -> usize {
    ev.iter().filter(|e| matches!(e, Event::Subscribed { accepted: true, .. })).count()
}

#[test]
fn trap_64_drops_negative_and_stale_entries_for_the_gid() {
    let (mut e, mut sa, now) = started();
    // GID 70 is not on the fabric yet: "no such path", remembered.
    e.resolve(now, &to(70), ResolveFlags::empty(), 1);
    pump(&mut e, &mut sa, now);
    assert_eq!(resolved(&events(&mut e))[0].1, Err(ResolveError::Sa(SaError::NoRecords)));
    assert_eq!(
        e.resolve(now, &to(70), ResolveFlags::empty(), 2),
        Resolve::Failed(ResolveError::Sa(SaError::NoRecords)),
        "answered by the negative entry"
    );
    resolve_via_sa(&mut e, &mut sa, now, 21);
    resolve_via_sa(&mut e, &mut sa, now, 22);
    let queries = sa.pr_queries;

    // The port comes up: the SA reports GID 70 in service.
    sa.ports = 80;
    let mad = sa.report(TrapNumber::GidInService, gid(70), 0x64);
    let ev = report(&mut e, &mut sa, now, &mad, 0x64);
    assert_eq!(
        ev,
        [Event::Invalidated {
            what: Invalidation::Gid { trap: TrapNumber::GidInService, gid: gid(70) },
            entries: 1
        }]
    );
    // Resolves again, through the SA, and gets the path.
    resolve_via_sa(&mut e, &mut sa, now, 70);
    assert_eq!(sa.pr_queries, queries + 1);

    // A GID back in service may have a new LID: its cached paths go too, and only its.
    let mad = sa.report(TrapNumber::GidInService, gid(21), 0x65);
    let ev = report(&mut e, &mut sa, now, &mad, 0x65);
    assert!(matches!(ev[..], [Event::Invalidated { entries: 1, .. }]), "{ev:?}");
    assert!(!cached(&mut e, now, 21));
    assert!(cached(&mut e, now, 22) && cached(&mut e, now, 70));
    assert_eq!(e.stats().reports, 2);
    assert_eq!(e.stats().trap_invalidations, 2);
}

#[test]
fn trap_144_invalidates_the_lid_whose_capabilities_changed() {
    let (mut e, mut sa, now) = started();
    for d in [13, 14] {
        resolve_via_sa(&mut e, &mut sa, now, d);
    }
    let details = TrapDetails::CapabilityMaskChanged {
        lid: 13,
        local_changes: true,
        capability_mask: 0x0251_0a68,
        change_flags: 0x01,
        capability_mask2: 0,
    };
    let mad = sa.report_details(TrapNumber::CapabilityMaskChanged, details, 0x144);
    let ev = report(&mut e, &mut sa, now, &mad, 0x144);
    assert_eq!(
        ev,
        [Event::Invalidated {
            what: Invalidation::Lid { trap: TrapNumber::CapabilityMaskChanged, lid: 13 },
            entries: 1
        }]
    );
    assert!(!cached(&mut e, now, 13), "no path to LID 13 is served after the Report");
    assert!(cached(&mut e, now, 14));
    assert_eq!(e.stats().trap_invalidations, 1);
    // The next resolve asks the SA again.
    resolve_via_sa(&mut e, &mut sa, now, 13);
}

#[test]
fn trap_145_invalidates_the_lid_whose_system_image_changed() {
    let (mut e, mut sa, now) = started();
    for d in [13, 14, 15] {
        resolve_via_sa(&mut e, &mut sa, now, d);
    }
    let details = TrapDetails::SystemImageGuidChanged { lid: 14, system_image_guid: 0x0002_c903_00ab_cdef };
    let mad = sa.report_details(TrapNumber::SystemImageGuidChanged, details, 0x145);
    let ev = report(&mut e, &mut sa, now, &mad, 0x145);
    assert_eq!(
        ev,
        [Event::Invalidated {
            what: Invalidation::Lid { trap: TrapNumber::SystemImageGuidChanged, lid: 14 },
            entries: 1
        }]
    );
    assert!(!cached(&mut e, now, 14));
    assert!(cached(&mut e, now, 13) && cached(&mut e, now, 15));
    // The same Report again (the SA resends until acknowledged): acknowledged again, harmless.
    let ev = report(&mut e, &mut sa, now, &mad, 0x145);
    assert!(matches!(ev[..], [Event::Invalidated { entries: 0, .. }]), "{ev:?}");
    assert_eq!(sa.report_resps, 2);
}

#[test]
fn trap_for_the_local_lid_drops_every_path_from_it() {
    // The source side: every cached path starts at the local port (LID 5).
    let (mut e, mut sa, now) = started();
    for d in [13, 14] {
        resolve_via_sa(&mut e, &mut sa, now, d);
    }
    let details = TrapDetails::SystemImageGuidChanged { lid: ME, system_image_guid: 1 };
    let mad = sa.report_details(TrapNumber::SystemImageGuidChanged, details, 7);
    let ev = report(&mut e, &mut sa, now, &mad, 7);
    assert!(matches!(ev[..], [Event::Invalidated { entries: 2, .. }]), "{ev:?}");
    assert_eq!(e.table().len(), 0);
}

#[test]
fn a_changed_class_port_info_at_the_heartbeat_is_a_new_sm() {
    let t0 = Instant::from_millis(10_000);
    let c = Config { heartbeat: Duration::from_secs(1), ..config() };
    let mut e = Box::new(TestEngine::new(t0, c, port()));
    let mut sa = ScriptedSa::new(64);
    pump(&mut e, &mut sa, t0);
    events(&mut e);
    resolve_via_sa(&mut e, &mut sa, t0, 14);

    // First heartbeat: the same ClassPortInfo. Nothing changes.
    let from = sa.seen.len();
    let t = run_until(&mut e, &mut sa, t0, t0 + Duration::from_millis(1001));
    assert_eq!(count(&sa, from, Method::Get, AttributeId::ClassPortInfo), 1, "heartbeat sent");
    let ev = events(&mut e);
    assert_eq!(subscribed(&ev), 0, "renewals of accepted subscriptions are not news: {ev:?}");
    assert!(!ev.iter().any(|e| matches!(e, Event::Invalidated { .. })), "{ev:?}");
    assert_eq!(e.stats().sm_changes, 0);
    let queries = sa.pr_queries;
    assert!(cached(&mut e, t, 14));
    pump(&mut e, &mut sa, t);
    assert_eq!(sa.pr_queries, queries, "fresh: no refresh");

    // A failover: the new SA advertises another RespTimeValue.
    sa.resp_time_value = 17;
    let from = sa.seen.len();
    let t = run_until(&mut e, &mut sa, t, t0 + Duration::from_millis(2002));
    assert_eq!(e.stats().sm_changes, 1);
    assert_eq!(e.mgmt.resp_time_value, Some(17));
    let ev = events(&mut e);
    assert!(
        ev.contains(&Event::Invalidated { what: Invalidation::SmChanged { sa_lid: SA_LID }, entries: 1 }),
        "{ev:?}"
    );
    assert_eq!(subscribed(&ev), 4, "subscriptions made again with the new SA: {ev:?}");
    assert_eq!(count(&sa, from, Method::Set, AttributeId::InformInfo), 4);
    // The cached path is served stale and refreshed behind the client's back.
    assert!(matches!(e.resolve(t, &to(14), ResolveFlags::empty(), 5), Resolve::Answered(_)));
    pump(&mut e, &mut sa, t);
    assert_eq!(sa.pr_queries, queries + 1, "stale entry refreshed");
    assert_eq!(e.stats().stale_answers, 1);
}

#[test]
fn client_reregister_resubscribes_revalidates_and_resends() {
    let (mut e, mut sa, now) = started();
    for d in [14, 15] {
        resolve_via_sa(&mut e, &mut sa, now, d);
    }
    // A query in flight that the old SM lost.
    sa.script.push_back(Script::Drop);
    assert_eq!(e.resolve(now, &to(16), ResolveFlags::empty(), 16), Resolve::Pending);
    pump(&mut e, &mut sa, now);
    assert_eq!(e.stats().outstanding, 1);
    let (from, queries) = (sa.seen.len(), sa.pr_queries);

    e.client_reregister(now);
    pump(&mut e, &mut sa, now);
    assert_eq!(count(&sa, from, Method::Get, AttributeId::ClassPortInfo), 1);
    assert_eq!(count(&sa, from, Method::Set, AttributeId::InformInfo), 4);
    assert_eq!(sa.pr_queries, queries + 1, "the outstanding query resent at once, not after its timeout");
    let ev = events(&mut e);
    assert!(
        ev.contains(&Event::Invalidated { what: Invalidation::SmChanged { sa_lid: SA_LID }, entries: 2 }),
        "{ev:?}"
    );
    assert_eq!(subscribed(&ev), 4);
    assert_eq!(resolved(&ev).len(), 1, "the resent query answered");
    assert_eq!(e.stats().sm_changes, 1);
    assert_eq!(e.stats().retries, 0, "a resend for a new SM is not a retry");
    // Revalidate: stale paths are served and refreshed one by one as they are asked for.
    assert!(matches!(e.resolve(now, &to(14), ResolveFlags::empty(), 1), Resolve::Answered(_)));
    pump(&mut e, &mut sa, now);
    assert_eq!(sa.pr_queries, queries + 2);
    assert!(cached(&mut e, now, 15));
    assert_eq!(sa.pr_queries, queries + 2, "cache-only does not refresh");
}

#[test]
fn client_reregister_with_the_flush_policy_empties_the_cache() {
    let now = Instant::from_millis(10_000);
    let mut e =
        Box::new(TestEngine::new(now, Config { sm_change: SmChangePolicy::Flush, ..config() }, port()));
    let mut sa = ScriptedSa::new(64);
    pump(&mut e, &mut sa, now);
    events(&mut e);
    for d in [14, 15, 16] {
        resolve_via_sa(&mut e, &mut sa, now, d);
    }
    e.client_reregister(now);
    pump(&mut e, &mut sa, now);
    let ev = events(&mut e);
    assert!(
        ev.contains(&Event::Invalidated { what: Invalidation::SmChanged { sa_lid: SA_LID }, entries: 3 }),
        "{ev:?}"
    );
    assert_eq!(e.table().len(), 0);
    assert!(!cached(&mut e, now, 14));
    resolve_via_sa(&mut e, &mut sa, now, 14);
}

#[test]
fn an_sa_answering_again_is_a_new_sm_even_if_a_path_answer_comes_first() {
    let (mut e, mut sa, now) = started();
    resolve_via_sa(&mut e, &mut sa, now, 14);
    // The SA goes quiet: a query times out, the ClassPortInfo check that follows too.
    e.resolve(now, &to(10), ResolveFlags::empty(), 10);
    let mut t = now;
    let mut buf = [0u8; MAD_LEN];
    let mut ev = Vec::new();
    while e.poll_transmit(t, &mut buf).is_some() {}
    while !ev.contains(&Event::SaReachable(false)) {
        assert!(t < now + Duration::from_secs(10), "never unreachable: {ev:?}");
        t = e.poll_at().unwrap().max(t + Duration::from_millis(1));
        e.handle_timeout(t);
        while e.poll_transmit(t, &mut buf).is_some() {}
        ev.extend(events(&mut e));
    }
    assert_eq!(resolved(&ev), [(10, Err(ResolveError::Timeout))]);
    assert_eq!(e.stats().sm_changes, 0);
    // It answers again, and the first answer is to a PathRecord query, not the heartbeat's.
    let from = sa.seen.len();
    resolve_via_sa_with_events(&mut e, &mut sa, t, 11, &mut ev);
    assert!(ev.contains(&Event::SaReachable(true)), "{ev:?}");
    assert_eq!(e.stats().sm_changes, 1, "treated as a possibly new SM");
    assert_eq!(count(&sa, from, Method::Set, AttributeId::InformInfo), 4, "subscribed again");
    assert_eq!(count(&sa, from, Method::Get, AttributeId::ClassPortInfo), 1, "its ClassPortInfo fetched");
    assert!(
        ev.iter().any(|e| matches!(e, Event::Invalidated { what: Invalidation::SmChanged { .. }, .. })),
        "{ev:?}"
    );
}

fn resolve_via_sa_with_events(
    e: &mut TestEngine,
    sa: &mut ScriptedSa,
    now: Instant,
    dlid: u16,
    ev: &mut Vec<Event>,
) {
    assert_eq!(e.resolve(now, &to(dlid), ResolveFlags::empty(), dlid as u64), Resolve::Pending);
    pump(e, sa, now);
    ev.clear();
    ev.extend(events(e));
    let r = resolved(ev);
    assert_eq!(r.len(), 1, "{ev:?}");
    assert_eq!(r[0].1.as_ref().map(|a| a.records[0].dlid.get()), Ok(dlid));
}

/// An engine in bulk mode (refresh every minute) that has made its first fetch at `t0`.
fn bulk_started(ports: u16) -> (Box<TestEngine>, ScriptedSa, Instant) {
    let t0 = Instant::from_millis(10_000);
    let mode = Mode::Bulk { refresh: Duration::from_secs(60) };
    let mut e = Box::new(TestEngine::new(t0, Config { mode, ..config() }, port()));
    let mut sa = ScriptedSa::new(ports);
    pump(&mut e, &mut sa, t0);
    let ev = events(&mut e);
    assert!(ev.contains(&Event::BulkFetched { records: ports as usize, complete: true }), "{ev:?}");
    assert_eq!(fetches(&sa), 1);
    (e, sa, t0)
}

/// Bulk GetTables the SA has received (SGID only: every path from the port).
fn fetches(sa: &ScriptedSa) -> usize {
    sa.seen
        .iter()
        .filter(|h| {
            h.header.method == Method::GetTable
                && h.header.attribute_id == AttributeId::PathRecord
                && !h.rmpp.is_active()
                && h.sa.component_mask == PathRecordMask::SGID.bits()
        })
        .count()
}

fn micro_before(t: Instant) -> Instant {
    Instant::from_micros(t.as_micros() - 1)
}

#[test]
fn bulk_fetches_again_every_refresh_interval() {
    let (mut e, mut sa, t0) = bulk_started(50);
    sa.ports = 60; // ten ports join meanwhile
    let due = t0 + Duration::from_secs(60);
    let t = run_until(&mut e, &mut sa, t0, micro_before(due));
    assert_eq!(fetches(&sa), 1, "not before the refresh interval");
    assert!(!cached(&mut e, t, 55));
    run_until(&mut e, &mut sa, t, due);
    assert_eq!(fetches(&sa), 2, "refetched exactly one interval after the last fetch");
    assert!(events(&mut e).contains(&Event::BulkFetched { records: 60, complete: true }));
    assert!(cached(&mut e, due, 55), "the new port's path came with the refresh");
    // And again one interval later.
    let next = due + Duration::from_secs(60);
    let t = run_until(&mut e, &mut sa, due, micro_before(next));
    assert_eq!(fetches(&sa), 2);
    run_until(&mut e, &mut sa, t, next);
    assert_eq!(fetches(&sa), 3);
    assert_eq!(e.stats().bulk_fetches, 3);
}

#[test]
fn bulk_fetches_again_a_settle_delay_after_a_burst_of_traps() {
    let (mut e, mut sa, t0) = bulk_started(50);
    // A switch goes down: three ports out of service, 300 ms apart.
    let t1 = t0 + Duration::from_secs(5);
    let mut t = run_until(&mut e, &mut sa, t0, t1);
    for (i, d) in [13u16, 14, 15].into_iter().enumerate() {
        t = run_until(&mut e, &mut sa, t, t1 + Duration::from_millis(300 * i as u64));
        let tid = 0x100 + i as u64;
        let mad = sa.report(TrapNumber::GidOutOfService, gid(d), tid);
        report(&mut e, &mut sa, t, &mad, tid);
        assert!(!cached(&mut e, t, d));
    }
    // One refetch for the burst, one settle delay (1 s) after the first trap.
    let due = t1 + Duration::from_secs(1);
    let t = run_until(&mut e, &mut sa, t, micro_before(due));
    assert_eq!(fetches(&sa), 1, "not before the settle delay");
    let t = run_until(&mut e, &mut sa, t, due + Duration::from_millis(500));
    assert_eq!(fetches(&sa), 2, "one refetch for three traps");
    assert!(cached(&mut e, t, 13) && cached(&mut e, t, 15), "the ports' paths came back with it");
    // The schedule restarts from that fetch.
    let next = due + Duration::from_secs(60);
    let t = run_until(&mut e, &mut sa, t, micro_before(next));
    assert_eq!(fetches(&sa), 2);
    run_until(&mut e, &mut sa, t, next);
    assert_eq!(fetches(&sa), 3);
}

#[test]
fn bulk_fetches_again_a_settle_delay_after_an_sm_change() {
    let (mut e, mut sa, t0) = bulk_started(50);
    let t1 = t0 + Duration::from_secs(7);
    let t = run_until(&mut e, &mut sa, t0, t1);
    e.client_reregister(t1);
    let due = t1 + Duration::from_secs(1);
    let t = run_until(&mut e, &mut sa, t, micro_before(due));
    assert_eq!(fetches(&sa), 1);
    run_until(&mut e, &mut sa, t, due);
    assert_eq!(fetches(&sa), 2);
}
