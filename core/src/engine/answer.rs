//! Turning an SA answer into table entries and a result for the waiters.

use super::event::{Answer, Notice, ResolveError, Source, MAX_PATHS};
use super::pending::{Pool, Purpose, State};
use super::{Engine, Stats};
use crate::rmpp::RecvId;
use crate::table::{Query, Table};
use crate::time::Instant;
use crate::wire::path_record::Record;
use crate::wire::{MadStatus, PathRecordMask, SaError, SaPacket, SaRecord, DATA_LEN};

/// What an answer means for its pending query.
#[allow(clippy::large_enum_variant)] // no allocator: an answer moves by value, once
enum Digest {
    /// The SA was busy: try again later.
    Busy,
    /// The query is finished; `true` if the answer may have been cut.
    Done(Result<Answer, ResolveError>, bool),
    /// A bulk fetch finished.
    Bulk { records: usize, complete: bool },
    /// The answer could not be read: let the query time out and retry.
    Unreadable,
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
    /// A single-MAD answer to pending slot `s`.
    pub(super) fn answer(&mut self, now: Instant, s: usize, packet: &SaPacket<&[u8]>, via_rmpp: bool) {
        let d =
            digest(now, &mut self.table, &self.pending, &mut self.stats, &self.config, s, packet, via_rmpp);
        self.settle(now, s, d);
    }

    /// A reassembled RMPP answer, still in the receive slot `id`, to pending slot `s`.
    pub(super) fn answer_from_rmpp(&mut self, now: Instant, s: usize, id: RecvId) {
        let Engine { rmpp, table, pending, stats, config, .. } = self;
        let d = match rmpp.received(id).map(SaPacket::new_checked) {
            Some(Ok(packet)) => digest(now, table, pending, stats, config, s, &packet, true),
            _ => {
                stats.malformed += 1;
                Digest::Unreadable
            }
        };
        self.settle(now, s, d);
    }

    fn settle(&mut self, now: Instant, s: usize, d: Digest) {
        if self.mgmt.reachable_again(now, &mut self.events, &mut self.stats) {
            // The SA went quiet and answers again, this time to a query before the heartbeat:
            // as when its ClassPortInfo answers again, it may be a new SM that knows nothing
            // of our subscriptions.
            self.sm_changed(now);
        }
        match d {
            Digest::Busy => {
                let Some(p) = self.pending.get_mut(s) else { return };
                p.busy = p.busy.saturating_add(1);
                let busy = p.busy;
                if busy > self.config.max_retries.saturating_add(2) {
                    self.complete(now, s, Err(ResolveError::Sa(SaError::Busy)));
                } else {
                    let wait = self.config.busy_backoff.saturating_mul(1 << (busy - 1).min(8));
                    // A BUSY answer is not a lost attempt: it does not use up a retry.
                    if let Some(p) = self.pending.get_mut(s) {
                        p.attempts = p.attempts.saturating_sub(1);
                    }
                    self.pending.set_state(s, State::Backoff { until: now + wait });
                }
            }
            Digest::Done(result, cut) => {
                if let Some(p) = self.pending.get_mut(s) {
                    p.cut = cut;
                }
                self.complete(now, s, result)
            }
            Digest::Bulk { records, complete } => {
                self.stats.bulk_fetches += 1;
                self.bulk.fetched(now, complete, &self.config);
                self.push_event(Notice::BulkFetched { records, complete });
                self.complete(now, s, Err(ResolveError::Cancelled));
            }
            Digest::Unreadable => {}
        }
    }
}

/// Reads `packet` as the answer to pending slot `s`, storing what it says in the table.
#[allow(clippy::too_many_arguments)]
fn digest<const T: usize, const P: usize>(
    now: Instant,
    table: &mut Table<T>,
    pending: &Pool<P>,
    stats: &mut Stats,
    config: &super::Config,
    s: usize,
    packet: &SaPacket<&[u8]>,
    via_rmpp: bool,
) -> Digest {
    let Some(p) = pending.get(s) else { return Digest::Unreadable };
    let query = p.query;
    let purpose = p.purpose;
    let status = MadStatus(packet.mad_header().status.get());
    if status.busy() {
        stats.busy += 1;
        return Digest::Busy;
    }
    if let Err(e) = status.check() {
        stats.sa_errors += 1;
        if e == SaError::NoRecords && purpose != Purpose::Bulk {
            table.insert_negative(now, &query, e);
        }
        return Digest::Done(Err(ResolveError::Sa(e)), false);
    }
    let Ok(records) = packet.records() else {
        stats.malformed += 1;
        return Digest::Unreadable;
    };
    // Without RMPP a table answer does not say how many records it holds: slots past the last
    // record hold whatever was in the sender's buffer (and on ibsim, bytes past 224 are not
    // even that). Every record must then agree with the query, or it is not a record.
    let untrusted = !via_rmpp && records.stride() < DATA_LEN;
    let slots = records.remaining();
    let mut answer = Answer { records: heapless::Vec::new(), source: Source::Sa };
    let mut stored = 0;
    for record in records.flatten() {
        let SaRecord::PathRecord(repr) = record else { continue };
        let mut wire = Record::ZEROED;
        if repr.emit(&mut wire).is_err() {
            continue;
        }
        if untrusted && !agrees(&query, &wire) {
            stats.records_inconsistent += 1;
            continue;
        }
        if table.insert_answer(now, &query, &wire, config.positive_lifetime).is_stored() {
            stored += 1;
        }
        if answer.records.len() < MAX_PATHS {
            let _ = answer.records.push(wire);
        }
    }
    stats.records_stored += stored as u64;
    if purpose == Purpose::Bulk {
        // A bulk query matches a path to every port. Without RMPP the answer is one MAD, and
        // "one record and garbage" cannot be told from "every slot full and more cut off"
        // (OpenSM on a fabric without kernel RMPP sends exactly that): never the whole table.
        let cut = !via_rmpp;
        if cut {
            stats.possibly_cut += 1;
        }
        return Digest::Bulk { records: stored, complete: !cut };
    }
    if answer.records.is_empty() {
        // GetTable matching nothing: OpenSM says status 0 with no records.
        table.insert_negative(now, &query, SaError::NoRecords);
        return Digest::Done(Err(ResolveError::Sa(SaError::NoRecords)), false);
    }
    // Cut, perhaps: every slot used, or a query naming no destination (it matches a path to
    // every port) answered in one MAD, whose unused slots cannot be told from cut ones.
    let open_ended = !query.mask.intersects(PathRecordMask::DGID | PathRecordMask::DLID);
    let cut = !via_rmpp && slots > 1 && (answer.records.len() == slots || open_ended);
    if cut {
        stats.possibly_cut += 1;
    }
    let limit =
        if query.mask.contains(PathRecordMask::NUMB_PATH) { query.template.numb_path.max(1) } else { 1 };
    answer.records.truncate(limit as usize);
    Digest::Done(Ok(answer), cut)
}

/// Whether `r` could be the SA's answer to `q`: the endpoints and the fields the query pins
/// must be the query's. Garbage after the last record fails this almost always.
fn agrees(q: &Query, r: &Record) -> bool {
    let (t, m) = (&q.template, q.mask);
    (!m.contains(PathRecordMask::SGID) || r.sgid == t.sgid)
        && (!m.contains(PathRecordMask::DGID) || r.dgid == t.dgid)
        && (!m.contains(PathRecordMask::SLID) || r.slid.get() == t.slid)
        && (!m.contains(PathRecordMask::DLID) || r.dlid.get() == t.dlid)
        && (!m.contains(PathRecordMask::PKEY) || r.pkey.get() == t.pkey)
        && (!m.contains(PathRecordMask::SL) || r.sl() == t.sl)
        && r.dlid.get() != 0
        && r.slid.get() != 0
        && !r.dgid.is_zero()
}
