//! The receiving side of RMPP: reassembles DATA segments into a fixed buffer per transfer and
//! acknowledges them window by window.
//!
//! Behaviour follows Linux `mad_rmpp.c` (the peer this must interoperate with):
//!
//! * A transfer starts with segment 1 (First flag); later segments without a transfer are
//!   dropped. The first ACK grants `1 + window` segments; each time the gap-free prefix
//!   reaches NewWindowLast the window moves on by `window` and an ACK goes out.
//! * A segment at or below the gap-free prefix is a duplicate and is answered with the
//!   current ACK (so a sender that lost an ACK learns where we are). Segments beyond a gap are
//!   kept if they are inside the window; segments beyond NewWindowLast are dropped.
//! * On completion the final ACK goes out and the transfer lingers (key and header only) to
//!   re-ACK a sender that lost it, for [`Config::linger`].
//!
//! Beyond Linux (which trusts PayloadLength and never STOPs): the First segment's total must
//! fit the slot (else STOP ResourcesExhausted), and the Last segment must agree with it (else
//! ABORT InconsistentLastAndPayloadLength; a short transfer is reported as
//! [`Failure::Truncated`], never delivered).

use crate::maybe::Maybe;
use crate::time::Instant;
use crate::wire::{MadAddress, RmppStatus, RmppType, SaMad, DATA_OFFSET, MAD_LEN};

use super::config::Config;
use super::control::{self, Control, ControlQueue, Reply};
use super::event::{Dropped, Event, Failure, Outcome, Rejection};
use super::key::{RecvId, TransferKey};
use super::message::{classify, Classified, Incoming, Kind};
use super::segment::{self, Total, SEGMENT_DATA_LEN};
use super::window::{Insert, SegmentWindow};

/// Reassembles up to `SLOTS` concurrent RMPP transfers of at most `CAP` bytes each.
///
/// `CAP` counts the whole reassembled MAD: the 56 header bytes plus the SA data, so a table
/// of `n` records of `len` bytes needs [`capacity_for(n, len)`](super::capacity_for)
/// (1000 PathRecords: 64 056). It must be at least [`MAD_LEN`] (one full segment).
///
/// Memory: each slot costs `CAP` bytes plus [`RECV_SLOT_OVERHEAD`](super::RECV_SLOT_OVERHEAD)
/// bytes of bookkeeping (a 64-bit host; less on 32-bit), and the receiver adds
/// [`RECEIVER_FIXED_COST`](super::RECEIVER_FIXED_COST) bytes (configuration and a queue of four
/// control MADs). The buffers live inline: no allocation, and `new` is `const`, so a receiver
/// can be a `static`.
#[derive(Debug)]
pub struct Receiver<const SLOTS: usize, const CAP: usize> {
    config: Config,
    slots: [Slot<CAP>; SLOTS],
    control: ControlQueue,
    /// Where the next `poll_transmit` starts looking, so no slot starves the others.
    cursor: usize,
}

/// Bookkeeping bytes of one receive slot besides its buffer (see [`super::RECV_SLOT_OVERHEAD`]).
pub(crate) const SLOT_OVERHEAD: usize = core::mem::size_of::<Maybe<Transfer>>() + core::mem::size_of::<u16>();
/// Bytes of a receiver besides its slots (see [`super::RECEIVER_FIXED_COST`]).
pub(crate) const FIXED_COST: usize =
    core::mem::size_of::<Config>() + core::mem::size_of::<ControlQueue>() + core::mem::size_of::<usize>();

/// One receive slot: bookkeeping plus the reassembly buffer.
struct Slot<const CAP: usize> {
    /// Bumped each time the slot starts a transfer, to invalidate old [`RecvId`]s.
    generation: u16,
    transfer: Maybe<Transfer>,
    buf: [u8; CAP],
}

/// Prints the bookkeeping, not the `CAP` bytes of buffer.
impl<const CAP: usize> core::fmt::Debug for Slot<CAP> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slot")
            .field("generation", &self.generation)
            .field("transfer", &self.transfer)
            .finish()
    }
}

/// Where a receive stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Segments are arriving.
    Active,
    /// Reassembled; the bytes are the caller's until `release`.
    Done { reported: bool },
    /// Ended without completing; the event is not reported yet.
    Failed(Failure),
    /// Finished and reported (or released): only the key is kept, to answer stragglers with
    /// the final ACK, or the STOP/ABORT that ended it.
    Lingering,
}

/// The state of one receive.
#[derive(Debug, Clone, Copy)]
struct Transfer {
    key: TransferKey,
    /// The First segment's headers: every reply is built from them.
    headers: SaMad,
    /// The sender's RRespTime (5 bits, 0x1F = not given).
    peer_rresp_time: u8,
    started: Instant,
    /// When the last new segment arrived.
    last_heard: Instant,
    /// When the transfer completed or failed.
    finished: Instant,
    window: SegmentWindow,
    new_window_last: u32,
    /// What the First (or, when it gave no total, the Last) segment said.
    total: Total,
    /// Length of the reassembled MAD once complete.
    len: usize,
    phase: Phase,
    /// The reply that ended the transfer (answers stragglers while lingering).
    final_reply: Option<Reply>,
    /// A control MAD waiting for `poll_transmit`.
    pending: Option<Reply>,
}

impl Transfer {
    /// When an active transfer gives up: the whole-transfer bound, or a silence long enough
    /// for the sender to have exhausted its retries.
    fn deadline(&self, config: &Config) -> Instant {
        let silence = config.peer_wait(self.peer_rresp_time).saturating_mul(config.max_retries as u64 + 2);
        let total = self.started + config.total_timeout;
        let quiet = self.last_heard + silence;
        if quiet < total {
            quiet
        } else {
            total
        }
    }

    /// Whether a lingering transfer's memory has run out.
    fn expired(&self, config: &Config, now: Instant) -> bool {
        self.phase == Phase::Lingering && self.finished + config.linger <= now
    }

    /// Whether the transfer ended without completing.
    fn failed(&self) -> bool {
        match self.phase {
            Phase::Failed(_) => true,
            Phase::Lingering => !matches!(self.final_reply, Some(Reply::Ack { .. })),
            Phase::Active | Phase::Done { .. } => false,
        }
    }

    /// The ACK for where the transfer stands.
    fn ack(&self) -> Reply {
        Reply::Ack { seg: self.window.contiguous(), new_window_last: self.new_window_last }
    }
}

impl<const SLOTS: usize, const CAP: usize> Receiver<SLOTS, CAP> {
    /// Compile-time check of the const generics.
    const VALID: () = {
        assert!(CAP >= MAD_LEN, "a receive slot must hold at least one whole MAD");
        assert!(SLOTS >= 1 && SLOTS <= u16::MAX as usize, "1..=65535 slots");
    };

    /// Changes the configuration in place; transfers in progress keep running under it.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// A receiver with every slot free.
    pub const fn new(config: Config) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID;
        Receiver {
            config,
            slots: [const { Slot { generation: 0, transfer: Maybe::Empty, buf: [0; CAP] } }; SLOTS],
            control: ControlQueue::EMPTY,
            cursor: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes one received MAD (the 256 bytes the kernel hands over) from `from`.
    ///
    /// `from` is the peer as the receive completion describes it (LID, QP, GRH...); replies
    /// for the transfer go back to it. `now` must not go backwards. DATA segments go into
    /// their transfer; STOP and ABORT from the sender end it; MADs
    /// that break a rule are answered with ABORT. Anything to send as a result waits in
    /// [`Self::poll_transmit`], a finished transfer in [`Self::poll_event`].
    pub fn handle(&mut self, now: Instant, from: MadAddress, mad: &[u8]) -> Outcome {
        match classify(mad) {
            Classified::Malformed(e) => Outcome::Malformed(e),
            Classified::NotRmpp => Outcome::NotRmpp,
            Classified::Rmpp(incoming) => self.on_message(now, from, &incoming),
        }
    }

    /// Handles a classified RMPP MAD (the [`Endpoint`](super::Endpoint) classifies once).
    pub(crate) fn on_message(&mut self, now: Instant, from: MadAddress, incoming: &Incoming<'_>) -> Outcome {
        self.expire(now);
        match incoming.kind {
            Kind::Data { seg, first, last, payload_length, data } => {
                self.on_data(now, from, incoming, seg, first, last, payload_length, data)
            }
            Kind::Ack { .. } => Outcome::Dropped(Dropped::Unmatched),
            Kind::Stop { status } => self.on_peer_end(now, from, incoming, Failure::PeerStopped(status)),
            Kind::Abort { status } => self.on_peer_end(now, from, incoming, Failure::PeerAborted(status)),
            Kind::Illegal { rmpp_type, status } => {
                if let Some(index) = self.find(&from, &incoming.mad) {
                    return match self.active_mut(index) {
                        Some(t) => fail(t, now, Failure::Aborted(status)),
                        // A damaged straggler of a finished transfer: nothing left to abort.
                        None => Outcome::Dropped(Dropped::Stale),
                    };
                }
                // Answer a bad DATA (or a MAD of unknown type) from nowhere, as Linux does;
                // never answer a STOP or ABORT we cannot place, so two peers cannot ping-pong.
                if matches!(rmpp_type, RmppType::Ack | RmppType::Stop | RmppType::Abort) {
                    return Outcome::Dropped(Dropped::Unmatched);
                }
                self.refuse(from, &incoming.mad, Reply::Abort(status));
                Outcome::Rejected(Rejection::Illegal(status))
            }
        }
    }

    /// Whether a live transfer of this receiver matches a MAD with headers `mad` from `from`
    /// travelling in the DATA direction.
    pub(crate) fn has_transfer(&self, now: Instant, from: &MadAddress, mad: &SaMad) -> bool {
        self.slots.iter().any(|s| match s.transfer.as_ref() {
            Some(t) => !t.expired(&self.config, now) && t.key.matches(from, mad, false),
            None => false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn on_data(
        &mut self,
        now: Instant,
        from: MadAddress,
        incoming: &Incoming<'_>,
        seg: u32,
        first: bool,
        last: bool,
        payload_length: u32,
        data: &[u8],
    ) -> Outcome {
        let found = self.find(&from, &incoming.mad);
        if let Some(index) = found {
            let Some(slot) = self.slots.get_mut(index) else { return Outcome::Dropped(Dropped::Unmatched) };
            let Some(t) = slot.transfer.as_mut() else { return Outcome::Dropped(Dropped::Unmatched) };
            if !(first && t.failed()) {
                return match t.phase {
                    Phase::Active => accept(&self.config, t, &mut slot.buf, now, seg, last, data),
                    Phase::Done { .. } | Phase::Lingering | Phase::Failed(_) => {
                        // A sender that lost our final ACK (or STOP/ABORT) resends: tell it
                        // again. A First segment after completion is such a resend too (Linux
                        // re-ACKs it for as long as it keeps the transfer).
                        t.pending = t.final_reply;
                        match t.final_reply {
                            Some(Reply::Ack { .. }) => Outcome::Duplicate,
                            _ => Outcome::Dropped(Dropped::Stale),
                        }
                    }
                };
            }
            // A First segment after a failure is a new attempt (a requester that retried with
            // the same TID): Linux has forgotten the failed transfer too. A failure not yet
            // reported keeps its slot; a lingering one gives it up.
            if t.phase == Phase::Lingering {
                slot.transfer = Maybe::Empty;
            }
        }
        if !first {
            return Outcome::Dropped(Dropped::Unmatched);
        }
        self.start(now, from, incoming, last, payload_length, data)
    }

    /// A First segment with no transfer: checks that it fits, takes a slot and stores it.
    fn start(
        &mut self,
        now: Instant,
        from: MadAddress,
        incoming: &Incoming<'_>,
        last: bool,
        payload_length: u32,
        data: &[u8],
    ) -> Outcome {
        let total = if last {
            // The single segment's PayloadLength was checked by `classify` (20..=220).
            Total::Known { segments: 1, data_len: data.len() }
        } else {
            match segment::total_from_first(payload_length) {
                Some(total) => total,
                None => return Outcome::Dropped(Dropped::Stale), // unreachable: `classify` checked it
            }
        };
        let needed = match total {
            Total::Known { data_len, .. } => segment::mad_len(data_len),
            Total::Unknown => MAD_LEN,
        };
        if needed > CAP {
            debug!("rmpp rx: transfer of {} bytes exceeds slot of {}: STOP", needed, CAP);
            self.refuse(from, &incoming.mad, Reply::Stop(RmppStatus::ResourcesExhausted));
            return Outcome::Rejected(Rejection::TooLarge { needed, capacity: CAP });
        }
        let Some(index) = self.allocate() else {
            debug!("rmpp rx: no free slot: STOP");
            self.refuse(from, &incoming.mad, Reply::Stop(RmppStatus::ResourcesExhausted));
            return Outcome::Rejected(Rejection::NoFreeSlot);
        };
        let Some(slot) = self.slots.get_mut(index) else { return Outcome::Rejected(Rejection::NoFreeSlot) };
        let Some(head) = slot.buf.get_mut(..DATA_OFFSET) else {
            return Outcome::Rejected(Rejection::NoFreeSlot);
        };
        if head.len() != incoming.header.len() {
            return Outcome::Malformed(crate::wire::Error::Truncated {
                layer: crate::wire::Layer::Mad,
                needed: DATA_OFFSET,
                available: incoming.header.len(),
            });
        }
        head.copy_from_slice(incoming.header);
        slot.generation = slot.generation.wrapping_add(1);
        let mut t = Transfer {
            key: TransferKey::of_data(from, &incoming.mad),
            headers: incoming.mad,
            peer_rresp_time: incoming.mad.rmpp.resp_time,
            started: now,
            last_heard: now,
            finished: now,
            window: SegmentWindow::EMPTY,
            // Linux starts a receive with NewWindowLast 1, and grants a window after segment 1.
            new_window_last: 1,
            total,
            len: 0,
            phase: Phase::Active,
            final_reply: None,
            pending: None,
        };
        trace!("rmpp rx: start tid {} in slot {}", incoming.mad.header.transaction_id, index);
        let outcome = accept(&self.config, &mut t, &mut slot.buf, now, 1, last, data);
        slot.transfer = Maybe::Full(t);
        outcome
    }

    /// A STOP or ABORT from the sender of one of our receives ends it.
    fn on_peer_end(
        &mut self,
        now: Instant,
        from: MadAddress,
        incoming: &Incoming<'_>,
        failure: Failure,
    ) -> Outcome {
        let Some(index) = self.find(&from, &incoming.mad) else {
            return Outcome::Dropped(Dropped::Unmatched);
        };
        match self.active_mut(index) {
            Some(t) => fail(t, now, failure),
            None => Outcome::Dropped(Dropped::Stale),
        }
    }

    /// Queues a control MAD for a MAD that has no slot.
    fn refuse(&mut self, to: MadAddress, answering: &SaMad, reply: Reply) {
        if !self.control.push(Control { to, answering: *answering, reply }) {
            debug!("rmpp rx: control queue full, refusal dropped");
        }
    }

    /// The live transfer a DATA-direction MAD from `from` belongs to.
    ///
    /// After a failure and a new attempt with the same key two slots can match; the one that
    /// did not fail wins.
    fn find(&self, from: &MadAddress, mad: &SaMad) -> Option<usize> {
        let matching = |s: &Slot<CAP>| s.transfer.is_some_and(|t| t.key.matches(from, mad, false));
        let live = self.slots.iter().position(|s| matching(s) && s.transfer.is_some_and(|t| !t.failed()));
        live.or_else(|| self.slots.iter().position(matching))
    }

    fn active_mut(&mut self, index: usize) -> Option<&mut Transfer> {
        self.slots.get_mut(index)?.transfer.as_mut().filter(|t| t.phase == Phase::Active)
    }

    /// Forgets lingering transfers whose time is up.
    fn expire(&mut self, now: Instant) {
        for slot in &mut self.slots {
            if slot.transfer.is_some_and(|t| t.expired(&self.config, now) && t.pending.is_none()) {
                slot.transfer = Maybe::Empty;
            }
        }
    }

    /// A slot for a new transfer: a free one, else the lingering one that finished first.
    fn allocate(&self) -> Option<usize> {
        if let Some(i) = self.slots.iter().position(|s| s.transfer.is_none()) {
            return Some(i);
        }
        let mut best: Option<(usize, Instant)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(t) = s.transfer.as_ref() {
                if t.phase == Phase::Lingering && best.is_none_or(|(_, f)| t.finished < f) {
                    best = Some((i, t.finished));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// Ends active transfers whose deadline has passed (ABORT TotalTimeTooLong).
    ///
    /// [`Self::poll_transmit`] calls this; call it yourself at [`Self::poll_at`] if you do not
    /// poll for transmissions then.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
        for slot in &mut self.slots {
            if let Some(t) = slot.transfer.as_mut() {
                if t.phase == Phase::Active && t.deadline(&self.config) <= now {
                    debug!("rmpp rx: tid {} timed out", t.key.transaction_id);
                    fail(t, now, Failure::TimedOut);
                }
            }
        }
    }

    /// The next control MAD to send (ACK, STOP or ABORT) and where, written into `buf`.
    ///
    /// Call it until it returns `None` after every [`Self::handle`], and at
    /// [`Self::poll_at`]. It also runs [`Self::handle_timeout`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; MAD_LEN]) -> Option<(MadAddress, usize)> {
        self.handle_timeout(now);
        let rresp_time = self.config.wire_rresp_time();
        for step in 0..SLOTS {
            let index = (self.cursor + step) % SLOTS;
            let Some(slot) = self.slots.get_mut(index) else { continue };
            let Some(t) = slot.transfer.as_mut() else { continue };
            let Some(reply) = t.pending.take() else { continue };
            self.cursor = (index + 1) % SLOTS;
            if let Some(len) = control::emit(&t.headers, rresp_time, reply, buf) {
                return Some((t.key.peer, len));
            }
        }
        while let Some(c) = self.control.pop() {
            if let Some(len) = control::emit(&c.answering, rresp_time, c.reply, buf) {
                return Some((c.to, len));
            }
        }
        None
    }

    /// When [`Self::handle_timeout`] next has work, if ever.
    pub fn poll_at(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.transfer.as_ref())
            .filter(|t| t.phase == Phase::Active)
            .map(|t| t.deadline(&self.config))
            .min()
    }

    /// Whether control MADs are waiting for [`Self::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        !self.control.is_empty() || self.slots.iter().any(|s| s.transfer.is_some_and(|t| t.pending.is_some()))
    }

    /// The next finished transfer: [`Event::Received`] or [`Event::ReceiveFailed`].
    pub fn poll_event(&mut self) -> Option<Event> {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(t) = slot.transfer.as_mut() else { continue };
            match t.phase {
                Phase::Done { reported: false } => {
                    t.phase = Phase::Done { reported: true };
                    let id = RecvId { slot: index as u16, generation: slot.generation };
                    return Some(Event::Received { id, key: t.key, len: t.len });
                }
                Phase::Failed(failure) => {
                    t.phase = Phase::Lingering;
                    return Some(Event::ReceiveFailed { key: t.key, failure });
                }
                _ => {}
            }
        }
        None
    }

    /// The reassembled MAD of a completed transfer: the First segment's 56 header bytes, then
    /// the SA data (exactly what Linux hands to user space). `None` once released.
    pub fn received(&self, id: RecvId) -> Option<&[u8]> {
        let slot = self.slots.get(id.slot as usize)?;
        let t = slot.transfer.as_ref()?;
        if slot.generation != id.generation || !matches!(t.phase, Phase::Done { .. }) {
            return None;
        }
        slot.buf.get(..t.len)
    }

    /// Gives a completed transfer's slot back. Its key lingers to re-ACK the sender if our
    /// final ACK was lost. Returns false for a handle that is not (or no longer) valid.
    pub fn release(&mut self, id: RecvId) -> bool {
        let Some(slot) = self.slots.get_mut(id.slot as usize) else { return false };
        match slot.transfer.as_mut() {
            Some(t) if slot.generation == id.generation && matches!(t.phase, Phase::Done { .. }) => {
                t.phase = Phase::Lingering;
                true
            }
            _ => false,
        }
    }

    /// How many slots hold an active or completed-but-unreleased transfer.
    pub fn busy_slots(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.transfer.is_some_and(|t| matches!(t.phase, Phase::Active | Phase::Done { .. })))
            .count()
    }

    /// Checks the bookkeeping of every slot (tests and the proptest).
    ///
    /// Panics on a broken invariant; for the tests and the fuzz targets (feature `fuzzing`).
    #[cfg(any(test, feature = "fuzzing"))]
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let window = self.config.effective_window();
        for slot in &self.slots {
            let Some(t) = slot.transfer.as_ref() else { continue };
            assert!(t.started <= t.last_heard, "{t:?}");
            match t.phase {
                Phase::Active => {
                    let contiguous = t.window.contiguous();
                    assert!(contiguous >= 1, "an active transfer holds segment 1: {t:?}");
                    assert!(contiguous <= t.new_window_last, "{t:?}");
                    assert!(t.new_window_last <= segment::segment_limit(CAP), "{t:?}");
                    let span = t.new_window_last - contiguous;
                    assert!(span <= window, "{t:?}");
                    assert_eq!(
                        t.window.held_bits().checked_shr(span).unwrap_or(0),
                        0,
                        "held beyond window: {t:?}"
                    );
                    if let Total::Known { segments, data_len } = t.total {
                        assert!(segment::mad_len(data_len) <= CAP, "{t:?}");
                        assert!(contiguous < segments, "{t:?}");
                    }
                }
                Phase::Done { .. } => {
                    assert!(t.len >= DATA_OFFSET && t.len <= CAP, "{t:?}");
                    assert!(matches!(t.final_reply, Some(Reply::Ack { .. })), "{t:?}");
                }
                Phase::Failed(_) | Phase::Lingering => {}
            }
        }
    }
}

/// A summary (slot count, capacity, busy slots): the buffers are too large to log.
#[cfg(feature = "defmt")]
impl<const SLOTS: usize, const CAP: usize> defmt::Format for Receiver<SLOTS, CAP> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Receiver {{ slots: {=usize}, cap: {=usize}, busy: {=usize} }}",
            SLOTS,
            CAP,
            self.busy_slots()
        )
    }
}

/// The highest segment a transfer may be granted: its total, or what fits the buffer.
fn limit<const CAP: usize>(total: Total) -> u32 {
    match total {
        Total::Known { segments, .. } => segments,
        Total::Unknown => segment::segment_limit(CAP),
    }
}

/// Ends `t` with `failure`, queueing the STOP or ABORT that tells the peer (none if the peer
/// ended it).
fn fail(t: &mut Transfer, now: Instant, failure: Failure) -> Outcome {
    let reply = match failure {
        Failure::PeerAborted(_) | Failure::PeerStopped(_) => None,
        Failure::TooLarge { .. } => Some(Reply::Stop(RmppStatus::ResourcesExhausted)),
        other => Some(Reply::Abort(other.status())),
    };
    debug!("rmpp rx: tid {} failed: {}", t.key.transaction_id, failure.status());
    t.phase = Phase::Failed(failure);
    t.finished = now;
    t.final_reply = reply;
    t.pending = reply;
    Outcome::Ended(failure)
}

/// Takes DATA segment `seg` into active transfer `t` whose buffer is `buf`.
#[allow(clippy::too_many_arguments)]
fn accept<const CAP: usize>(
    config: &Config,
    t: &mut Transfer,
    buf: &mut [u8; CAP],
    now: Instant,
    seg: u32,
    last: bool,
    data: &[u8],
) -> Outcome {
    if seg == 0 || seg <= t.window.contiguous() {
        t.pending = Some(t.ack());
        return Outcome::Duplicate;
    }
    if t.window.has(seg) {
        return Outcome::Dropped(Dropped::Stale);
    }
    if let Total::Known { segments, .. } = t.total {
        if seg > segments {
            return fail(t, now, Failure::Aborted(RmppStatus::SegmentNumberTooBig));
        }
    }
    if seg > t.new_window_last {
        return Outcome::Dropped(Dropped::OutOfWindow);
    }
    // Data before this segment, in bytes (fits: seg ≤ NewWindowLast ≤ what fits in CAP).
    let before = (seg as usize - 1).saturating_mul(SEGMENT_DATA_LEN);
    match (t.total, last) {
        (Total::Known { segments, data_len }, true) => {
            let carried = before.saturating_add(data.len());
            if seg < segments || carried < data_len {
                return fail(t, now, Failure::Truncated { promised: data_len, carried });
            }
            if carried > data_len {
                return fail(t, now, Failure::Aborted(RmppStatus::InconsistentLastAndPayloadLength));
            }
        }
        (Total::Known { segments, .. }, false) => {
            if seg == segments {
                // The total says this is the last segment, but the sender means to go on.
                return fail(t, now, Failure::Aborted(RmppStatus::InconsistentLastAndPayloadLength));
            }
        }
        (Total::Unknown, true) => {
            if t.window.has_beyond(seg) {
                return fail(t, now, Failure::Aborted(RmppStatus::SegmentNumberTooBig));
            }
            let data_len = before.saturating_add(data.len());
            let needed = segment::mad_len(data_len);
            if needed > CAP {
                return fail(t, now, Failure::TooLarge { needed, capacity: CAP });
            }
            // NewWindowLast stays where it is: a sender may take a shrinking window for a
            // broken receiver (NewWindowLastTooSmall).
            t.total = Total::Known { segments: seg, data_len };
        }
        (Total::Unknown, false) => {
            let needed = DATA_OFFSET.saturating_add(before).saturating_add(SEGMENT_DATA_LEN);
            if needed > CAP {
                return fail(t, now, Failure::TooLarge { needed, capacity: CAP });
            }
        }
    }
    let start = DATA_OFFSET.saturating_add(before);
    let Some(dest) = buf.get_mut(start..start.saturating_add(data.len())) else {
        // Unreachable after the checks above; refuse rather than panic.
        let needed = start.saturating_add(data.len());
        return fail(t, now, Failure::TooLarge { needed, capacity: CAP });
    };
    dest.copy_from_slice(data);
    t.last_heard = now;
    let advanced = match t.window.insert(seg) {
        Insert::Advanced(_) => true,
        Insert::Held => false,
        Insert::Duplicate => return Outcome::Dropped(Dropped::Stale),
        Insert::Beyond => return Outcome::Dropped(Dropped::OutOfWindow),
    };
    if !advanced {
        return Outcome::Accepted;
    }
    let contiguous = t.window.contiguous();
    if let Total::Known { segments, data_len } = t.total {
        if contiguous >= segments {
            t.len = segment::mad_len(data_len);
            t.phase = Phase::Done { reported: false };
            t.finished = now;
            let ack = t.ack();
            t.final_reply = Some(ack);
            t.pending = Some(ack);
            trace!("rmpp rx: tid {} complete, {} bytes", t.key.transaction_id, t.len);
            return Outcome::Completed;
        }
    }
    if contiguous >= t.new_window_last {
        let grown = t.new_window_last.saturating_add(config.effective_window());
        let cap = limit::<CAP>(t.total);
        t.new_window_last = if grown < cap { grown } else { cap };
        if t.new_window_last <= contiguous {
            // Every segment the buffer can take has arrived and none was the last.
            let needed =
                (contiguous as usize).saturating_mul(SEGMENT_DATA_LEN).saturating_add(DATA_OFFSET + 1);
            return fail(t, now, Failure::TooLarge { needed, capacity: CAP });
        }
        t.pending = Some(t.ack());
    }
    Outcome::Accepted
}
