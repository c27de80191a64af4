//! "All" mode: fetch every path from the local port with one GetTable, on a schedule and soon
//! after anything that may have changed paths.

use super::key::QueryKey;
use super::pending::Purpose;
use super::{Config, Engine, Mode};
use crate::table::Query;
use crate::time::{Duration, Instant};
use crate::wire::{PathRecordMask, PathRecordRepr};

/// After a trap or an SM change, wait this long before refetching, so a burst of traps
/// (a switch going down takes many ports with it) costs one fetch.
const SETTLE: Duration = Duration::from_secs(1);

/// Bulk fetch scheduling.
#[derive(Debug)]
pub(super) struct Bulk {
    enabled: bool,
    /// When to start the next fetch.
    next: Option<Instant>,
    /// The last fetch was complete (RMPP) rather than possibly cut.
    pub complete: bool,
}

impl Bulk {
    /// Off: all zero bytes.
    pub(super) const EMPTY: Bulk = Bulk { enabled: false, next: None, complete: false };

    /// Turns bulk fetching on for `Mode::Bulk`, first fetch at once.
    pub(super) fn start(&mut self, now: Instant, mode: Mode) {
        let enabled = matches!(mode, Mode::Bulk { .. });
        *self = Bulk { enabled, next: enabled.then_some(now), complete: false };
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.next
    }

    /// Something changed: fetch again soon (not later than already planned).
    pub(super) fn refetch_soon(&mut self, now: Instant) {
        if self.enabled {
            let soon = now + SETTLE;
            self.next = Some(self.next.map_or(soon, |n| if n < soon { n } else { soon }));
        }
    }

    /// A fetch finished: plan the next one.
    pub(super) fn fetched(&mut self, now: Instant, complete: bool, config: &Config) {
        self.complete = complete;
        if let Mode::Bulk { refresh } = config.mode {
            self.next = Some(now + refresh);
        }
    }
}

impl<
        const T: usize,
        const P: usize,
        const W: usize,
        const RXS: usize,
        const RXC: usize,
        const TXS: usize,
        const TXC: usize,
    > Engine<T, P, W, RXS, RXC, TXS, TXC>
{
    /// The GetTable that fetches every path from the local port.
    fn bulk_query(&self) -> Query {
        let template = PathRecordRepr { sgid: self.port.gid, ..PathRecordRepr::default() };
        Query::new(template, PathRecordMask::SGID)
    }

    /// Timers: nothing beyond `bulk_start` at transmit time.
    pub(super) fn bulk_timeouts(&mut self, _now: Instant) {}

    /// Starts a bulk fetch if one is due and none is running.
    pub(super) fn bulk_start(&mut self, now: Instant) {
        let Some(next) = self.bulk.next else { return };
        if next > now {
            return;
        }
        let query = self.bulk_query();
        let Some(key) = QueryKey::of(&query) else { return };
        // A fetch still running, or no free pending slot: look again in a while. Leaving the
        // due time in the past would make `poll_at` report it forever, and a caller that
        // sleeps until `poll_at` would spin until the fetch could start.
        if self.pending.find(&key).is_some() || self.start_query(now, query, key, Purpose::Bulk).is_none() {
            self.bulk.next = Some(now + SETTLE);
            return;
        }
        self.bulk.next = None;
    }
}
