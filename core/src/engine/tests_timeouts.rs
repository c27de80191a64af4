//! Per-attempt timeouts derived from the SA's ClassPortInfo (`timeout: None`, what a daemon
//! runs with by default), pinned to the microsecond.
//!
//! IBA 13.4.6.2: a requester waits `4.096 µs × 2^RespTimeValue` for the responder plus the
//! packet lifetime each way, `2 × 4.096 µs × 2^PacketLifeTime`; the engine rounds each term
//! down to whole microseconds (`Duration::from_ib_time_exponent`), clamps the sum to
//! `[min_timeout, max_timeout]`, and doubles it per retry up to `max_timeout`. The SA here is
//! silent after its ClassPortInfo answer, so every query times out and each retry's instant is
//! observable.

use std::boxed::Box;
use std::vec::Vec;

use super::tests::{events, port, pump, resolved, to, ScriptedSa, TestEngine};
use super::*;
use crate::wire::{AttributeId, SaMad, SaPacket};

/// 4.096 µs × 2^R in whole µs, for the exponents used below (4096 << R ns, divided by 1000).
const RTV_16: u64 = 268_435;
const RTV_17: u64 = 536_870;
const RTV_18: u64 = 1_073_741;
const RTV_20: u64 = 4_294_967;
/// 4.096 µs × 2^10.
const PLT_10: u64 = 4_194;

fn config() -> Config {
    Config { timeout: None, subscribe: false, heartbeat: Duration::from_secs(1000), ..Config::DEFAULT }
}

fn micros(us: u64) -> Duration {
    Duration::from_micros(us)
}

/// Runs the timers at `t` and takes everything the engine sends then (the SA hears nothing):
/// (attribute, TID, the attempt's timeout).
fn sent_at(e: &mut TestEngine, t: Instant) -> Vec<(AttributeId, u64, Option<Duration>)> {
    e.handle_timeout(t);
    let mut buf = [0u8; MAD_LEN];
    let mut out = Vec::new();
    while let Some(tx) = e.poll_transmit(t, &mut buf) {
        let h = SaMad::parse(&SaPacket::new_checked(&buf[..tx.len]).unwrap()).unwrap();
        out.push((h.header.attribute_id, h.header.transaction_id, tx.response_timeout));
    }
    out
}

fn path_queries(sent: &[(AttributeId, u64, Option<Duration>)]) -> Vec<(u64, Option<Duration>)> {
    sent.iter().filter(|s| s.0 == AttributeId::PathRecord).map(|s| (s.1, s.2)).collect()
}

/// An engine whose SA answered ClassPortInfo with `rtv`, then went silent.
fn after_class_port_info(config: Config, rtv: u8) -> (Box<TestEngine>, Instant) {
    let t0 = Instant::from_millis(10_000);
    let mut e = Box::new(TestEngine::new(t0, config, port()));
    let mut sa = ScriptedSa::new(64);
    sa.resp_time_value = rtv;
    pump(&mut e, &mut sa, t0);
    assert_eq!(e.mgmt.resp_time_value, Some(rtv));
    events(&mut e);
    (e, t0 + Duration::from_millis(5))
}

/// Resolves at `t1` and checks that attempt `k` goes out exactly at `t1 + Σ timeouts[..k]`
/// (not a microsecond earlier), each with its own TID and `timeouts[k]` as its wait, and that
/// the resolve fails with a timeout exactly when the last attempt's wait ends.
fn assert_schedule(e: &mut TestEngine, t1: Instant, timeouts: &[u64]) {
    assert_eq!(e.resolve(t1, &to(8), ResolveFlags::empty(), 1), Resolve::Pending);
    let mut at = t1;
    let mut tids = Vec::new();
    for (k, &wait) in timeouts.iter().enumerate() {
        if k > 0 {
            let early = sent_at(e, Instant::from_micros(at.as_micros() - 1));
            assert!(path_queries(&early).is_empty(), "attempt {k} sent before {at:?}");
        }
        let q = path_queries(&sent_at(e, at));
        assert_eq!(q.len(), 1, "attempt {k} at {at:?}");
        assert_eq!(q[0].1, Some(micros(wait)), "attempt {k}'s timeout");
        tids.push(q[0].0);
        at += micros(wait);
        if k + 1 < timeouts.len() {
            assert_eq!(e.poll_at(), Some(at), "next timer: attempt {}", k + 1);
        }
    }
    tids.sort_unstable();
    tids.dedup();
    assert_eq!(tids.len(), timeouts.len(), "a new TID per attempt");
    sent_at(e, Instant::from_micros(at.as_micros() - 1));
    assert!(resolved(&events(e)).is_empty(), "failed before the last attempt's wait ended");
    sent_at(e, at);
    assert_eq!(resolved(&events(e)), [(1, Err(ResolveError::Timeout))]);
    assert_eq!(e.stats().retries, timeouts.len() as u64 - 1);
}

#[test]
fn before_class_port_info_the_spec_default_applies() {
    // RespTimeValue 18 (IBA's default) and PacketLifeTime 16: 1 073 741 + 2 × 268 435 µs.
    let default = RTV_18 + 2 * RTV_16;
    assert_eq!(default, 1_610_611);
    let t0 = Instant::from_millis(10_000);
    let mut e = Box::new(TestEngine::new(t0, config(), port()));
    assert_eq!(e.resolve(t0, &to(8), ResolveFlags::empty(), 1), Resolve::Pending);
    let first = sent_at(&mut e, t0);
    assert_eq!(
        first.iter().map(|s| (s.0, s.2)).collect::<Vec<_>>(),
        [
            (AttributeId::ClassPortInfo, Some(micros(default))),
            (AttributeId::PathRecord, Some(micros(default)))
        ]
    );
    let retry = t0 + micros(default);
    assert_eq!(e.poll_at(), Some(retry));
    assert!(sent_at(&mut e, Instant::from_micros(retry.as_micros() - 1)).is_empty());
    let again = sent_at(&mut e, retry);
    assert_eq!(
        again.iter().map(|s| (s.0, s.2)).collect::<Vec<_>>(),
        [
            (AttributeId::ClassPortInfo, Some(micros(2 * default))),
            (AttributeId::PathRecord, Some(micros(2 * default)))
        ],
        "both retried at the default, doubled"
    );
    assert_ne!(first[1].1, again[1].1, "the retry has a new TID");
}

#[test]
fn after_class_port_info_retries_land_at_the_derived_times() {
    // OpenSM's RespTimeValue 16 with the default PacketLifeTime 16: 268 435 + 536 870 µs.
    let x = RTV_16 + 2 * RTV_16;
    assert_eq!(x, 805_305);
    let (mut e, t1) = after_class_port_info(config(), 16);
    assert_schedule(&mut e, t1, &[x, 2 * x, 4 * x, 8 * x]);

    // RespTimeValue 17, PacketLifeTime 10: 536 870 + 2 × 4 194 µs. One retry.
    let x = RTV_17 + 2 * PLT_10;
    assert_eq!(x, 545_258);
    let (mut e, t1) = after_class_port_info(Config { packet_life_time: 10, max_retries: 1, ..config() }, 17);
    assert_schedule(&mut e, t1, &[x, 2 * x]);
}

#[test]
fn derived_timeouts_are_clamped_to_min_and_max() {
    // RespTimeValue 0 and PacketLifeTime 0: 4 + 2 × 4 µs, raised to min_timeout (100 ms).
    let (mut e, t1) = after_class_port_info(Config { packet_life_time: 0, ..config() }, 0);
    assert_schedule(&mut e, t1, &[100_000, 200_000, 400_000, 800_000]);

    // A larger floor is honoured the same way.
    let c =
        Config { packet_life_time: 0, min_timeout: Duration::from_millis(250), max_retries: 1, ..config() };
    let (mut e, t1) = after_class_port_info(c, 0);
    assert_schedule(&mut e, t1, &[250_000, 500_000]);

    // RespTimeValue 20: 4 294 967 + 536 870 µs; the doubled retry is cut to max_timeout (8 s).
    let x = RTV_20 + 2 * RTV_16;
    assert_eq!(x, 4_831_837);
    let (mut e, t1) = after_class_port_info(Config { max_retries: 2, ..config() }, 20);
    assert_schedule(&mut e, t1, &[x, 8_000_000, 8_000_000]);

    // RespTimeValue 31 (about 2.4 hours): every attempt waits max_timeout.
    let (mut e, t1) = after_class_port_info(Config { max_retries: 1, ..config() }, 31);
    assert_schedule(&mut e, t1, &[8_000_000, 8_000_000]);
}
