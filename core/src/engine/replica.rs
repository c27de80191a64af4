//! Replica mode: answering other nodes' SA queries out of the table, so that a tree of
//! replicas (SA → replicas → leaves) takes load off the one SA.
//!
//! A replica answers PathRecord Get and GetTable. A query it can answer from fresh entries is
//! answered at once; any other is proxied upstream as an ordinary pending query (coalesced
//! with every identical query, local or remote) and answered when the SA answers. Multi-record
//! answers go out as RMPP transfers. It also answers ClassPortInfo and accepts InformInfo
//! subscriptions, and relays the Reports it receives to its subscribers, so leaves that use it
//! as their upstream stay coherent without ever talking to the SA.

use heapless::Vec;

use super::event::{Answer, ResolveError};
use super::{Engine, ResolveFlags};
use crate::maybe::Maybe;
use crate::table::{Lookup, Query};
use crate::time::Instant;
use crate::wire::path_record::Record;
use crate::wire::{
    AttributeId, ClassCapabilities, ClassPortInfoRepr, InformInfoRepr, MadAddress, MadStatus, Method,
    PathRecordMask, SaAttribute, SaError, SaMad, SaPacket, SaRecord, TrapNumber, MAD_LEN,
};

/// Tokens of remote waiters carry this bit; callers' tokens must not.
pub(super) const REMOTE_TOKEN: u64 = 1 << 63;

/// A query from another node, waiting for its answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Remote {
    peer: MadAddress,
    request: SaMad,
    query: Query,
}

/// What a replica keeps about the nodes it serves. Its capacities follow the engine's
/// pending capacity `P`: remote queries waiting for the SA, and (subscriber, trap) pairs.
#[derive(Debug)]
pub(super) struct Replica<const P: usize> {
    remotes: [Maybe<Remote>; P],
    subscribers: Vec<(MadAddress, TrapNumber), P>,
    next_report_tid: u32,
}

impl<const P: usize> Replica<P> {
    /// Nothing served yet: all zero bytes.
    pub(super) const EMPTY: Replica<P> =
        Replica { remotes: [Maybe::Empty; P], subscribers: Vec::new(), next_report_tid: 0 };

    /// The first subscriber to trap `trap` at index `from` or later, as (index, address): the
    /// next target of a relay going out of the outbox.
    pub(super) fn subscriber(&self, trap: u16, from: usize) -> Option<(usize, MadAddress)> {
        let rest = self.subscribers.get(from..)?;
        let i = rest.iter().position(|(_, t)| t.raw() == trap)?;
        Some((from + i, rest[i].0))
    }

    /// Gives a relayed Report in `mad` a TID of its own (each subscriber acknowledges its copy
    /// by TID).
    pub(super) fn stamp_relay(&mut self, mad: &mut [u8; MAD_LEN]) {
        self.next_report_tid = self.next_report_tid.wrapping_add(1).max(1);
        let tid = u64::from(self.next_report_tid).to_be_bytes();
        mad[TID_OFFSET..TID_OFFSET + 8].copy_from_slice(&tid);
    }
}

/// Where the TransactionID sits in the MAD common header.
const TID_OFFSET: usize = 8;

/// A query is a bulk query when it names no destination: "every path from this source".
fn is_bulk(q: &Query) -> bool {
    !q.mask.contains(PathRecordMask::DGID) && !q.mask.contains(PathRecordMask::DLID)
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
    /// A request from another node (replica mode only).
    pub(super) fn serve(&mut self, now: Instant, from: MadAddress, packet: &SaPacket<&[u8]>) {
        let Ok(request) = SaMad::parse(packet) else {
            self.stats.malformed += 1;
            return;
        };
        match (request.header.method, request.header.attribute_id) {
            (Method::Get | Method::GetTable, AttributeId::PathRecord) => {
                self.serve_path_query(now, from, request, packet)
            }
            (Method::Get, AttributeId::ClassPortInfo) => self.serve_class_port_info(from, &request),
            (Method::Set, AttributeId::InformInfo) => self.serve_subscription(from, &request, packet),
            _ => self.reply_status(from, &request, MadStatus(0x000c), &[]), // method/attribute unsupported
        }
    }

    fn serve_path_query(&mut self, now: Instant, from: MadAddress, request: SaMad, packet: &SaPacket<&[u8]>) {
        let Some(Ok(SaRecord::PathRecord(template))) = packet.records().ok().and_then(|mut r| r.next())
        else {
            self.reply_status(from, &request, MadStatus(0x0200), &[]); // ERR_REQ_INVALID
            return;
        };
        let query = Query::new(template, PathRecordMask::from_bits_retain(request.sa.component_mask));
        let remote = Remote { peer: from, request, query };
        // A repeated request (the requester retried before we answered) joins the first.
        if self.replica.remotes.iter().any(|r| {
            r.is_some_and(|r| {
                r.peer.same_peer(&from) && r.request.header.transaction_id == request.header.transaction_id
            })
        }) {
            return;
        }
        if self.answer_remote_from_table(now, &remote) {
            return;
        }
        // Proxy upstream: a pending query like a local resolve, with a remote waiter.
        let Some(i) = self.replica.remotes.iter().position(Maybe::is_none) else {
            self.reply_status(from, &request, MadStatus(0x0001), &[]); // BUSY: try again later
            return;
        };
        self.replica.remotes[i] = Maybe::Full(remote);
        // The table was just consulted; go straight to the SA (or join a pending query).
        match self.resolve_inner(now, &query, ResolveFlags::BYPASS_CACHE, REMOTE_TOKEN | i as u64) {
            super::Resolve::Pending => {}
            other => {
                self.replica.remotes[i] = Maybe::Empty;
                let result = match other {
                    super::Resolve::Answered(a) => Ok(a),
                    super::Resolve::Failed(e) => Err(e),
                    super::Resolve::Pending => Err(ResolveError::Cancelled),
                };
                self.reply_remote(now, remote, &result, false);
            }
        }
    }

    /// Answers `remote` from fresh table entries if they answer it; `false` if the SA must be
    /// asked.
    fn answer_remote_from_table(&mut self, now: Instant, remote: &Remote) -> bool {
        if is_bulk(&remote.query) {
            let count = self.collect_from_source(&remote.query, None);
            if count == 0 {
                return false;
            }
            self.stats.served += 1;
            self.reply_table(now, remote, None);
            return true;
        }
        let mut out = [Record::ZEROED; super::MAX_PATHS];
        match self.table.lookup(now, &remote.query, &mut out) {
            Lookup::Hit { count } if count > 0 => {
                self.stats.served += 1;
                self.reply_records(now, remote, &out[..count]);
                true
            }
            Lookup::Negative { error, stale: false } => {
                self.reply_error(now, remote, &Err(ResolveError::Sa(error)));
                true
            }
            _ => false,
        }
    }

    /// A pending query finished: answer the remote waiter `token`; `cut` if the SA's answer
    /// may have been cut.
    fn finish_remote(&mut self, now: Instant, token: u64, result: &Result<Answer, ResolveError>, cut: bool) {
        let i = (token & !REMOTE_TOKEN) as usize;
        let Some(remote) = self.replica.remotes.get_mut(i).and_then(Maybe::take) else { return };
        self.reply_remote(now, remote, result, cut);
    }

    fn reply_remote(
        &mut self,
        now: Instant,
        remote: Remote,
        result: &Result<Answer, ResolveError>,
        cut: bool,
    ) {
        let table = remote.request.header.method == Method::GetTable;
        match result {
            // The SA's answer may have been cut: pass it on as one MAD, as it came, so the
            // requester sees that too, rather than as a complete RMPP transfer of what fitted.
            Ok(answer) if cut && table => {
                self.stats.served += 1;
                let given = (!is_bulk(&remote.query)).then_some(&answer.records[..]);
                self.reply_table_single(&remote, given);
            }
            Ok(answer) if !is_bulk(&remote.query) => {
                self.stats.served += 1;
                self.reply_records(now, &remote, &answer.records);
            }
            Ok(_) => {
                // A bulk query: the SA's records are in the table now; send all of them.
                self.stats.served += 1;
                self.reply_table(now, &remote, None);
            }
            Err(_) => self.reply_error(now, &remote, result),
        }
    }

    fn reply_error(&mut self, now: Instant, remote: &Remote, result: &Result<Answer, ResolveError>) {
        let status = match result {
            Err(ResolveError::Sa(SaError::NoRecords)) if remote.request.header.method == Method::GetTable => {
                // OpenSM answers a GetTable that matches nothing with status 0 and no records.
                self.reply_table(now, remote, Some(&[]));
                return;
            }
            Err(ResolveError::Sa(e)) => sa_status(*e),
            Err(ResolveError::Overloaded) => MadStatus(0x0001),
            _ => MadStatus(0x0100), // ERR_NO_RESOURCES: we could not get an answer
        };
        self.reply_status(remote.peer, &remote.request, status, &[]);
    }

    /// Answers with `records`: one GetResp for Get, a GetTableResp (over RMPP) for GetTable.
    fn reply_records(&mut self, now: Instant, remote: &Remote, records: &[Record]) {
        if remote.request.header.method == Method::Get {
            let mut bytes = [0u8; 64];
            if let Some(r) = records.first() {
                bytes.copy_from_slice(zerocopy::IntoBytes::as_bytes(r));
            }
            self.reply_status(remote.peer, &remote.request, MadStatus::OK, &bytes);
        } else {
            self.reply_table(now, remote, Some(records));
        }
    }

    /// Writes records for a table answer into the scratch buffer: the given ones, or every
    /// fresh path from the query's source. Returns how many.
    fn collect_from_source(&mut self, query: &Query, given: Option<&[Record]>) -> usize {
        // The RMPP send slot holds the 56 header bytes and the records.
        let room = self.scratch.len().saturating_sub(crate::wire::DATA_OFFSET) / 64;
        let mut n = 0;
        if let Some(records) = given {
            for r in records.iter().take(room) {
                self.scratch[n * 64..(n + 1) * 64].copy_from_slice(zerocopy::IntoBytes::as_bytes(r));
                n += 1;
            }
            return n;
        }
        let (t, m) = (&query.template, query.mask);
        for e in self.table.iter() {
            if n == room {
                break;
            }
            let crate::table::EntryKind::Path(_) = e.kind else { continue };
            let r = e.record;
            if e.stale
                || (m.contains(PathRecordMask::SGID) && r.sgid != t.sgid)
                || (m.contains(PathRecordMask::SLID) && r.slid.get() != t.slid)
                || (m.contains(PathRecordMask::PKEY) && r.pkey.get() != t.pkey)
            {
                continue;
            }
            self.scratch[n * 64..(n + 1) * 64].copy_from_slice(zerocopy::IntoBytes::as_bytes(r));
            n += 1;
        }
        n
    }

    /// Sends a GetTableResp: `given` records, or every fresh path from the source (bulk).
    fn reply_table(&mut self, now: Instant, remote: &Remote, given: Option<&[Record]>) {
        let n = self.collect_from_source(&remote.query, given);
        let mut resp = remote.request;
        resp.header.method = Method::GetTableResp;
        resp.header.status = MadStatus::OK;
        resp.sa.attribute_offset = if n == 0 { 0 } else { 8 };
        resp.rmpp = crate::wire::RmppHeaderRepr::NONE;
        let Engine { rmpp, scratch, .. } = self;
        if rmpp.start(now, remote.peer, &resp, &scratch[..n * 64]).is_err() {
            // Every send slot busy (or too large): tell the requester to come back.
            self.reply_status(remote.peer, &remote.request, MadStatus(0x0001), &[]);
        }
    }

    /// A GetTableResp in one MAD without RMPP, holding the records that fit: `given` ones, or
    /// fresh paths from the query's source.
    fn reply_table_single(&mut self, remote: &Remote, given: Option<&[Record]>) {
        let n = self.collect_from_source(&remote.query, given);
        let mut resp = remote.request;
        resp.header.method = Method::GetTableResp;
        resp.header.status = MadStatus::OK;
        resp.rmpp = crate::wire::RmppHeaderRepr::NONE;
        resp.sa.attribute_offset = if n == 0 { 0 } else { 8 };
        let mut buf = [0u8; MAD_LEN];
        if let Ok(data) = resp.emit(&mut buf) {
            let fit = (data.len() / 64).min(n);
            data[..fit * 64].copy_from_slice(&self.scratch[..fit * 64]);
            self.outbox.push(remote.peer, &buf, MAD_LEN);
        }
    }

    /// A single-MAD answer with `status` and `record` bytes.
    fn reply_status(&mut self, to: MadAddress, request: &SaMad, status: MadStatus, record: &[u8]) {
        let mut resp = *request;
        resp.header.method = request.header.method.response();
        resp.header.status = status;
        resp.rmpp = crate::wire::RmppHeaderRepr::NONE;
        resp.sa.attribute_offset = 0;
        let mut buf = [0u8; MAD_LEN];
        if let Ok(data) = resp.emit(&mut buf) {
            let n = record.len().min(data.len());
            data[..n].copy_from_slice(&record[..n]);
            self.outbox.push(to, &buf, MAD_LEN);
        }
    }

    fn serve_class_port_info(&mut self, from: MadAddress, request: &SaMad) {
        let cpi = ClassPortInfoRepr {
            base_version: 1,
            class_version: 2,
            capability_mask: (ClassCapabilities::TRAP | ClassCapabilities::GET_SET_NOTICE).bits(),
            resp_time_value: self.mgmt.resp_time_value.unwrap_or(self.config.default_resp_time_value),
            ..ClassPortInfoRepr::default()
        };
        let mut bytes = [0u8; crate::wire::class_port_info::LEN];
        if cpi.encode(&mut bytes).is_ok() {
            self.reply_status(from, request, MadStatus::OK, &bytes);
        }
    }

    fn serve_subscription(&mut self, from: MadAddress, request: &SaMad, packet: &SaPacket<&[u8]>) {
        let Ok(info) = InformInfoRepr::decode(packet.data()) else {
            self.reply_status(from, request, MadStatus(0x0200), &[]);
            return;
        };
        let trap = match info.origin {
            crate::wire::Origin::Generic { trap_number, .. } => trap_number,
            crate::wire::Origin::Vendor { .. } => {
                self.reply_status(from, request, MadStatus(0x0200), &[]);
                return;
            }
        };
        let known = self.replica.subscribers.iter().position(|(p, t)| p.same_peer(&from) && *t == trap);
        let status = match (info.subscribe, known) {
            (true, Some(_)) => MadStatus::OK,
            (true, None) => {
                if self.replica.subscribers.push((from, trap)).is_ok() {
                    MadStatus::OK
                } else {
                    MadStatus(0x0100)
                }
            }
            (false, Some(i)) => {
                // In order, so that a relay going out (a cursor over this list) skips nobody.
                self.replica.subscribers.remove(i);
                self.outbox.subscriber_removed(i);
                MadStatus::OK
            }
            (false, None) => MadStatus::OK,
        };
        let mut bytes = [0u8; crate::wire::inform_info::LEN];
        let _ = info.encode(&mut bytes);
        self.reply_status(from, request, status, &bytes);
    }

    /// Whether any node subscribed to `trap`.
    pub(super) fn has_subscribers(&self, trap: TrapNumber) -> bool {
        self.replica.subscriber(trap.raw(), 0).is_some()
    }

    /// Relays a Report to the subscribers of its trap (fire and forget: their heartbeat and
    /// revalidation cover a lost one).
    ///
    /// The copies are not made here: the Report is queued once in the outbox as a fan-out,
    /// which [`Self::poll_transmit`] sends to one subscriber per call, each with its own TID
    /// (see [`super::outbox`]). So any number of subscribers costs one outbox slot, and a
    /// second Report queues behind the first without either losing a copy. The caller checked
    /// that the outbox has room (a Report it cannot relay goes unacknowledged).
    pub(super) fn relay_report(&mut self, trap: TrapNumber, packet: &SaPacket<&[u8]>) {
        let Ok(mut mad) = SaMad::parse(packet) else { return };
        let Some((first, _)) = self.replica.subscriber(trap.raw(), 0) else { return };
        mad.header.transaction_id = 0; // stamped per copy
        let data = packet.data();
        let mut buf = [0u8; MAD_LEN];
        if let Ok(out) = mad.emit(&mut buf) {
            let n = data.len().min(out.len());
            out[..n].copy_from_slice(&data[..n]);
            self.outbox.push_fan_out(trap.raw(), first, &buf, MAD_LEN);
        }
    }

    /// A pending slot's waiters that are remote are answered now; the local ones stay.
    pub(super) fn take_remote_waiters(
        &mut self,
        now: Instant,
        s: usize,
        result: &Result<Answer, ResolveError>,
    ) {
        let Some(p) = self.pending.get(s) else { return };
        let (mut head, mut tail) = (p.waiters_head, p.waiters_tail);
        let cut = p.cut;
        let (mut keep_head, mut keep_tail) = (0u32, 0u32);
        let mut remotes: Vec<u64, P> = Vec::new();
        while let Some(token) = self.waiters.pop(&mut head, &mut tail) {
            if token & REMOTE_TOKEN != 0 {
                let _ = remotes.push(token);
            } else {
                self.waiters.push(&mut keep_head, &mut keep_tail, token);
            }
        }
        if let Some(p) = self.pending.get_mut(s) {
            p.waiters_head = keep_head;
            p.waiters_tail = keep_tail;
        }
        for token in remotes {
            self.finish_remote(now, token, result, cut);
        }
    }
}

/// The MAD status for an SA error we pass on.
fn sa_status(e: SaError) -> MadStatus {
    use crate::wire::{MadStatusCode, SaStatusCode};
    let sa = match e {
        SaError::NoResources => SaStatusCode::NoResources,
        SaError::RequestInvalid => SaStatusCode::RequestInvalid,
        SaError::NoRecords => SaStatusCode::NoRecords,
        SaError::TooManyRecords => SaStatusCode::TooManyRecords,
        SaError::InvalidGid => SaStatusCode::InvalidGid,
        SaError::InsufficientComponents => SaStatusCode::InsufficientComponents,
        SaError::Denied => SaStatusCode::Denied,
        SaError::PrioritySuggested => SaStatusCode::PrioritySuggested,
        SaError::Busy => return MadStatus(0x0001),
        SaError::InvalidField => {
            return MadStatus::from_parts(MadStatusCode::InvalidField, SaStatusCode::Success)
        }
        _ => SaStatusCode::NoResources,
    };
    MadStatus::from_parts(MadStatusCode::Ok, sa)
}
