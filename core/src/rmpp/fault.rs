//! Test support: a seeded PRNG and a lossy in-memory MAD channel (after smoltcp's
//! `phy::FaultInjector`): it drops, duplicates, delays out of order and corrupts MADs at
//! configured rates, deterministically for a given seed.
//!
//! Corruption only touches the RMPP header fields that RMPP itself can check (version, type,
//! flags, status, PayloadLength/NewWindowLast, the high half of SegmentNumber). On a real
//! fabric the link CRCs (ICRC/VCRC) drop a MAD with any flipped bit before the MAD layer sees
//! it, so damage RMPP has no second copy to check against can only come from a broken peer,
//! and no RMPP implementation can tell it from good data: a flipped data byte, a
//! SegmentNumber moved inside the transfer, or the PayloadLength of a transfer's only segment
//! (First and Last at once: 20..=220 is all that can be checked). The channel leaves those
//! alone. The tests assert that the corruption it does make never yields wrong data: every
//! transfer completes intact or fails with a named reason.

use std::collections::VecDeque;
use std::vec::Vec;

use crate::time::{Duration, Instant};
use crate::wire::{MadAddress, MAD_LEN};

/// SplitMix64: tiny, seedable, good enough to draw fault decisions.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `rate` (0.0..=1.0).
    pub(crate) fn chance(&mut self, rate: f64) -> bool {
        rate > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= rate
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next_u64() as u8;
        }
    }
}

/// Fault rates of one direction of a [`Channel`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Faults {
    /// Probability a MAD is lost.
    pub drop: f64,
    /// Probability a MAD arrives twice.
    pub duplicate: f64,
    /// Probability a MAD is held back by up to `reorder_span` extra latencies.
    pub reorder: f64,
    /// Probability one bit of a checked RMPP header field is flipped.
    pub corrupt: f64,
    /// One-way latency.
    pub latency: Duration,
    /// How many latencies a reordered MAD may be held back.
    pub reorder_span: u64,
}

impl Faults {
    pub(crate) const NONE: Faults = Faults {
        drop: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        corrupt: 0.0,
        latency: Duration::from_micros(10),
        reorder_span: 4,
    };
}

/// What a channel did, for the test's report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
}

#[derive(Debug, Clone)]
struct InFlight {
    at: Instant,
    order: u64,
    from: MadAddress,
    mad: [u8; MAD_LEN],
    len: usize,
}

/// Byte offsets a corruption may hit: RMPPVersion, RMPPType, RRespTime/flags, RMPPStatus,
/// the high half of SegmentNumber, and PayloadLength/NewWindowLast (the last four).
const CORRUPTIBLE: [usize; 10] = [24, 25, 26, 27, 28, 29, 32, 33, 34, 35];

/// Whether `mad` is the only segment of its transfer (DATA with First and Last).
fn only_segment(mad: &[u8]) -> bool {
    mad.get(25) == Some(&1) && mad.get(26).is_some_and(|f| f & 0x06 == 0x06)
}

/// One direction of a lossy link.
#[derive(Debug)]
pub(crate) struct Channel {
    faults: Faults,
    rng: Rng,
    queue: VecDeque<InFlight>,
    order: u64,
    pub stats: Stats,
}

impl Channel {
    pub(crate) fn new(faults: Faults, seed: u64) -> Channel {
        Channel { faults, rng: Rng::new(seed), queue: VecDeque::new(), order: 0, stats: Stats::default() }
    }

    /// Puts a MAD on the link at `now`, as sent by `from`.
    pub(crate) fn send(&mut self, now: Instant, from: MadAddress, mad: &[u8]) {
        self.stats.sent += 1;
        if self.rng.chance(self.faults.drop) {
            self.stats.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut buf = [0u8; MAD_LEN];
            let len = mad.len().min(MAD_LEN);
            buf[..len].copy_from_slice(&mad[..len]);
            if self.rng.chance(self.faults.corrupt) {
                self.stats.corrupted += 1;
                // An only segment's PayloadLength has no second copy to be checked against.
                let candidates = if only_segment(&buf) { &CORRUPTIBLE[..6] } else { &CORRUPTIBLE[..] };
                let byte = candidates[self.rng.below(candidates.len() as u64) as usize];
                buf[byte] ^= 1 << self.rng.below(8);
            }
            let mut delay = self.faults.latency;
            if self.rng.chance(self.faults.reorder) {
                self.stats.reordered += 1;
                let extra = 1 + self.rng.below(self.faults.reorder_span.max(1));
                delay = delay + self.faults.latency.saturating_mul(extra);
            }
            self.order += 1;
            self.queue.push_back(InFlight { at: now + delay, order: self.order, from, mad: buf, len });
        }
    }

    /// The next MAD due at or before `now`, earliest first.
    pub(crate) fn recv(&mut self, now: Instant) -> Option<(MadAddress, Vec<u8>)> {
        let index = self
            .queue
            .iter()
            .enumerate()
            .filter(|(_, p)| p.at <= now)
            .min_by_key(|(_, p)| (p.at, p.order))
            .map(|(i, _)| i)?;
        let p = self.queue.remove(index)?;
        Some((p.from, p.mad[..p.len].to_vec()))
    }

    /// When the next MAD arrives.
    pub(crate) fn next_arrival(&self) -> Option<Instant> {
        self.queue.iter().map(|p| p.at).min()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_roughly_calibrated() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(
            (0..10).map(|_| a.next_u64()).collect::<Vec<_>>(),
            (0..10).map(|_| b.next_u64()).collect::<Vec<_>>()
        );
        let hits = (0..100_000).filter(|_| a.chance(0.3)).count();
        assert!((29_000..31_000).contains(&hits), "{hits}");
    }

    #[test]
    fn channel_drops_and_reorders() {
        let faults = Faults { drop: 0.5, reorder: 0.5, ..Faults::NONE };
        let mut ch = Channel::new(faults, 1);
        let from = MadAddress::gsi(1, 0);
        for i in 0..1000u16 {
            ch.send(Instant::ZERO, from, &i.to_be_bytes());
        }
        let mut got = Vec::new();
        while let Some((_, mad)) = ch.recv(Instant::from_millis(1000)) {
            got.push(u16::from_be_bytes([mad[0], mad[1]]));
        }
        assert_eq!(got.len() as u64, 1000 - ch.stats.dropped);
        assert!(got.windows(2).any(|w| w[0] > w[1]), "some MADs overtake others");
    }
}
