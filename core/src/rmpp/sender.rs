//! The sending side of RMPP: segments a payload held in a fixed buffer and sends it within the
//! receiver's window, resending from the last acknowledged segment when ACKs stop coming.
//!
//! Behaviour follows Linux `mad_rmpp.c`, the peer this must interoperate with:
//!
//! * The first window is one segment (Linux `init_newwin()`); the receiver's ACKs move it on
//!   (NewWindowLast).
//! * Every segment carries the full 56-byte class header; segment 1 has the First flag and
//!   the total PayloadLength, the last segment the Last flag and its own PayloadLength.
//! * An ACK with a non-zero status is IllegalStatus; one whose NewWindowLast is below its
//!   SegmentNumber, or that acknowledges more than the last ACK while shrinking the window it
//!   granted, is NewWindowLastTooSmall; one for a segment never sent is SegmentNumberTooBig:
//!   each ends the send with ABORT. An ACK older than one already seen (lower SegmentNumber,
//!   or the same one with a smaller window) is ignored, as Linux does: the fabric may reorder.
//! * No ACK for [`Config::response_time`] (or the receiver's RRespTime, if longer): resend
//!   from the segment after the last acknowledged one. After [`Config::max_retries`] timeouts
//!   in a row without progress: ABORT TooManyRetries.
//! * STOP or ABORT from the receiver end the send.

use crate::maybe::Maybe;
use crate::time::Instant;
use crate::wire::record::view_mut;
use crate::wire::rmpp_header::{self, RmppFlags, RmppStatus, RmppType};
use crate::wire::{Error, MadAddress, SaMad, DATA_OFFSET, MAD_LEN};

use super::config::Config;
use super::control::{self, Control, ControlQueue, Reply};
use super::event::{Dropped, Event, Failure, Outcome, Rejection};
use super::key::{SendId, TransferKey};
use super::message::{classify, Classified, Incoming, Kind};
use super::segment;

/// Why [`Sender::start`] refused a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// Header and data need more bytes than a slot holds.
    TooLarge {
        /// Bytes needed: 56 + data length.
        needed: usize,
        /// Bytes a slot holds.
        capacity: usize,
    },
    /// Every slot holds a send that is still running or not yet reported.
    NoFreeSlot,
    /// A send with the same peer, TID, class and Method is still running.
    Busy,
    /// The headers cannot be encoded.
    Wire(Error),
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::TooLarge { needed, capacity } => {
                write!(f, "payload needs {needed} bytes, a send slot holds {capacity}")
            }
            SendError::NoFreeSlot => f.write_str("no free send slot"),
            SendError::Busy => f.write_str("a send with the same key is running"),
            SendError::Wire(e) => write!(f, "cannot encode headers: {e}"),
        }
    }
}

/// Sends up to `SLOTS` concurrent RMPP transfers of at most `CAP` bytes each.
///
/// `CAP` counts the MAD as a receiver reassembles it: 56 header bytes plus the SA data, as for
/// [`Receiver`](super::Receiver). [`Sender::start`] copies the payload in, so the caller's
/// buffer is free as soon as it returns.
///
/// Memory: each slot costs `CAP` bytes plus [`SEND_SLOT_OVERHEAD`](super::SEND_SLOT_OVERHEAD)
/// bytes of bookkeeping (64-bit host), and the sender adds
/// [`SENDER_FIXED_COST`](super::SENDER_FIXED_COST) bytes.
#[derive(Debug)]
pub struct Sender<const SLOTS: usize, const CAP: usize> {
    config: Config,
    slots: [Slot<CAP>; SLOTS],
    control: ControlQueue,
    /// Where the next `poll_transmit` starts looking, so concurrent sends interleave.
    cursor: usize,
}

/// Bookkeeping bytes of one send slot besides its buffer (see [`super::SEND_SLOT_OVERHEAD`]).
pub(crate) const SLOT_OVERHEAD: usize = core::mem::size_of::<Maybe<Outgoing>>() + core::mem::size_of::<u16>();
/// Bytes of a sender besides its slots (see [`super::SENDER_FIXED_COST`]).
pub(crate) const FIXED_COST: usize =
    core::mem::size_of::<Config>() + core::mem::size_of::<ControlQueue>() + core::mem::size_of::<usize>();

struct Slot<const CAP: usize> {
    generation: u16,
    transfer: Maybe<Outgoing>,
    /// The 56 header bytes (RMPP header rewritten per segment), then the SA data.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Active,
    Done { reported: bool },
    Failed { failure: Failure, reported: bool },
}

#[derive(Debug, Clone, Copy)]
struct Outgoing {
    key: TransferKey,
    headers: SaMad,
    data_len: usize,
    segments: u32,
    /// Highest segment the receiver acknowledged.
    last_ack: u32,
    /// Highest segment the receiver lets us send.
    new_window_last: u32,
    /// The next segment to send.
    next: u32,
    /// The highest segment ever sent.
    highest_sent: u32,
    /// Timeouts in a row without progress.
    retries: u8,
    /// After a timeout with a closed window, one segment past the window may go as a probe.
    probe: bool,
    peer_rresp_time: u8,
    started: Instant,
    /// When to resend if no ACK moves us on.
    timer: Option<Instant>,
    phase: Phase,
    /// An ABORT waiting for `poll_transmit`.
    pending: Option<Reply>,
}

impl Outgoing {
    /// The highest segment that may go out now.
    fn send_limit(&self) -> u32 {
        let mut limit = self.new_window_last;
        if self.probe && limit <= self.last_ack {
            limit = self.last_ack.saturating_add(1);
        }
        if limit > self.segments {
            self.segments
        } else {
            limit
        }
    }

    fn deadline(&self, config: &Config) -> Instant {
        let total = self.started + config.total_timeout;
        match self.timer {
            Some(t) if t < total => t,
            _ => total,
        }
    }

    /// Whether the slot can take a new send.
    fn reusable(&self) -> bool {
        self.pending.is_none()
            && matches!(self.phase, Phase::Done { reported: true } | Phase::Failed { reported: true, .. })
    }
}

impl<const SLOTS: usize, const CAP: usize> Sender<SLOTS, CAP> {
    const VALID: () = {
        assert!(CAP >= DATA_OFFSET, "a send slot must hold at least the 56 header bytes");
        assert!(SLOTS >= 1 && SLOTS <= u16::MAX as usize, "1..=65535 slots");
    };

    /// Changes the configuration in place; transfers in progress keep running under it.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// A sender with every slot free.
    pub const fn new(config: Config) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID;
        Sender {
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

    /// Starts sending `data` (the SA data: records after the SA header) to `to`, every
    /// segment carrying `headers` (its RMPP header is ignored and generated per segment).
    ///
    /// The data is copied into the slot. The send's end comes back through
    /// [`Self::poll_event`] as [`Event::Sent`] or [`Event::SendFailed`].
    pub fn start(
        &mut self,
        now: Instant,
        to: MadAddress,
        headers: &SaMad,
        data: &[u8],
    ) -> Result<SendId, SendError> {
        let needed = segment::mad_len(data.len());
        if needed > CAP {
            return Err(SendError::TooLarge { needed, capacity: CAP });
        }
        let key = TransferKey::of_data(to, headers);
        let busy = self.slots.iter().any(|s| {
            s.transfer.is_some_and(|t| t.phase == Phase::Active && t.key.matches(&to, headers, false))
        });
        if busy {
            return Err(SendError::Busy);
        }
        let index = self
            .slots
            .iter()
            .position(|s| s.transfer.is_none_or(|t| t.reusable()))
            .ok_or(SendError::NoFreeSlot)?;
        let slot = self.slots.get_mut(index).ok_or(SendError::NoFreeSlot)?;
        let mut stored = *headers;
        stored.rmpp = rmpp_header::Repr::NONE;
        let body = stored.emit(&mut slot.buf).map_err(SendError::Wire)?;
        body.get_mut(..data.len())
            .ok_or(SendError::TooLarge { needed, capacity: CAP })?
            .copy_from_slice(data);
        slot.generation = slot.generation.wrapping_add(1);
        slot.transfer = Maybe::Full(Outgoing {
            key,
            headers: stored,
            data_len: data.len(),
            segments: segment::segment_count(data.len()) as u32,
            last_ack: 0,
            new_window_last: 1,
            next: 1,
            highest_sent: 0,
            retries: 0,
            probe: false,
            peer_rresp_time: rmpp_header::NO_RESP_TIME,
            started: now,
            timer: None,
            phase: Phase::Active,
            pending: None,
        });
        trace!(
            "rmpp tx: start tid {} ({} bytes) in slot {}",
            headers.header.transaction_id,
            data.len(),
            index
        );
        Ok(SendId { slot: index as u16, generation: slot.generation })
    }

    /// Gives up a running send: ABORT with status Unspecified goes to the receiver, and
    /// [`Event::SendFailed`] with [`Failure::Aborted`] follows. Returns false for a send that
    /// is not running.
    pub fn abort(&mut self, id: SendId) -> bool {
        let Some(slot) = self.slots.get_mut(id.slot as usize) else { return false };
        if slot.generation != id.generation {
            return false;
        }
        match slot.transfer.as_mut() {
            Some(t) if t.phase == Phase::Active => {
                fail(t, Failure::Aborted(RmppStatus::Unspecified));
                true
            }
            _ => false,
        }
    }

    /// Takes one received MAD from `from`: ACKs move sends on, STOP and ABORT end them.
    ///
    /// A MAD is matched to a send by peer ([`MadAddress::same_peer`]), TID, class and the
    /// DATA Method with the response bit flipped. `now` must not go backwards.
    pub fn handle(&mut self, now: Instant, from: MadAddress, mad: &[u8]) -> Outcome {
        match classify(mad) {
            Classified::Malformed(e) => Outcome::Malformed(e),
            Classified::NotRmpp => Outcome::NotRmpp,
            Classified::Rmpp(incoming) => self.on_message(now, from, &incoming),
        }
    }

    pub(crate) fn on_message(&mut self, now: Instant, from: MadAddress, incoming: &Incoming<'_>) -> Outcome {
        let index = self.find(&from, &incoming.mad);
        match incoming.kind {
            Kind::Data { .. } => Outcome::Dropped(Dropped::Unmatched),
            Kind::Ack { seg, new_window_last } => {
                let Some(index) = index else { return Outcome::Dropped(Dropped::Unmatched) };
                let config = self.config;
                match self.active_mut(index) {
                    Some(t) => on_ack(&config, t, now, seg, new_window_last, incoming.mad.rmpp.resp_time),
                    None => Outcome::Dropped(Dropped::Stale),
                }
            }
            Kind::Stop { status } => self.on_peer_end(index, Failure::PeerStopped(status)),
            Kind::Abort { status } => self.on_peer_end(index, Failure::PeerAborted(status)),
            Kind::Illegal { rmpp_type, status } => {
                if let Some(index) = index {
                    return match self.active_mut(index) {
                        Some(t) => fail(t, Failure::Aborted(status)),
                        None => Outcome::Dropped(Dropped::Stale),
                    };
                }
                // An ACK that breaks a rule is answered even without a send (Linux does);
                // other types are the receiver's business.
                if rmpp_type != RmppType::Ack {
                    return Outcome::Dropped(Dropped::Unmatched);
                }
                let answer = Control { to: from, answering: incoming.mad, reply: Reply::Abort(status) };
                if !self.control.push(answer) {
                    debug!("rmpp tx: control queue full, ABORT dropped");
                }
                Outcome::Rejected(Rejection::Illegal(status))
            }
        }
    }

    /// Whether a send of ours matches a MAD with headers `mad` from `from` travelling against
    /// the DATA direction (an ACK, STOP or ABORT from the receiver).
    pub(crate) fn has_transfer(&self, from: &MadAddress, mad: &SaMad) -> bool {
        self.find(from, mad).is_some()
    }

    fn on_peer_end(&mut self, index: Option<usize>, failure: Failure) -> Outcome {
        let Some(index) = index else { return Outcome::Dropped(Dropped::Unmatched) };
        match self.active_mut(index) {
            Some(t) => fail(t, failure),
            None => Outcome::Dropped(Dropped::Stale),
        }
    }

    /// The send (in any phase) a receiver's MAD from `from` belongs to.
    ///
    /// A finished send not yet reported and a new one with the same key can both match; the
    /// running one wins.
    fn find(&self, from: &MadAddress, mad: &SaMad) -> Option<usize> {
        let matching =
            |s: &Slot<CAP>| s.transfer.is_some_and(|t| !t.reusable() && t.key.matches(from, mad, true));
        let active = self
            .slots
            .iter()
            .position(|s| matching(s) && s.transfer.is_some_and(|t| t.phase == Phase::Active));
        active.or_else(|| self.slots.iter().position(matching))
    }

    fn active_mut(&mut self, index: usize) -> Option<&mut Outgoing> {
        self.slots.get_mut(index)?.transfer.as_mut().filter(|t| t.phase == Phase::Active)
    }

    /// Resends or gives up sends whose timer has run out.
    ///
    /// [`Self::poll_transmit`] calls this; call it yourself at [`Self::poll_at`] if you do not
    /// poll for transmissions then.
    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in &mut self.slots {
            let Some(t) = slot.transfer.as_mut() else { continue };
            if t.phase != Phase::Active {
                continue;
            }
            if t.started + self.config.total_timeout <= now {
                debug!("rmpp tx: tid {} exceeded the total time", t.key.transaction_id);
                fail(t, Failure::TimedOut);
                continue;
            }
            if t.timer.is_some_and(|deadline| deadline <= now) {
                t.retries = t.retries.saturating_add(1);
                if t.retries > self.config.max_retries {
                    debug!("rmpp tx: tid {} out of retries", t.key.transaction_id);
                    fail(t, Failure::TooManyRetries);
                    continue;
                }
                trace!("rmpp tx: tid {} timeout, resending from {}", t.key.transaction_id, t.last_ack + 1);
                t.next = t.last_ack.saturating_add(1);
                t.probe = true;
                t.timer = None;
            }
        }
    }

    /// The next MAD to send (a DATA segment or an ABORT) and where, written into `buf`.
    ///
    /// Call it until it returns `None` after [`Self::start`], after every [`Self::handle`],
    /// and at [`Self::poll_at`]. It also runs [`Self::handle_timeout`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; MAD_LEN]) -> Option<(MadAddress, usize)> {
        self.handle_timeout(now);
        let rresp_time = self.config.wire_rresp_time();
        for step in 0..SLOTS {
            let index = (self.cursor + step) % SLOTS;
            let Some(slot) = self.slots.get_mut(index) else { continue };
            let Some(t) = slot.transfer.as_mut() else { continue };
            if let Some(reply) = t.pending.take() {
                self.cursor = (index + 1) % SLOTS;
                if let Some(len) =
                    control::emit(&control::toward_receiver(&t.headers), rresp_time, reply, buf)
                {
                    return Some((t.key.peer, len));
                }
                continue;
            }
            if t.phase != Phase::Active || t.next > t.send_limit() {
                continue;
            }
            let seg = t.next;
            let Some(len) = emit_segment(&slot.buf, t, seg, rresp_time, buf) else {
                // Unreachable: the slot was filled by `start`. Give up the send rather than loop.
                fail(t, Failure::Aborted(RmppStatus::Unspecified));
                continue;
            };
            t.next = seg.saturating_add(1);
            if seg > t.highest_sent {
                t.highest_sent = seg;
            }
            t.timer = Some(now + self.config.peer_wait(t.peer_rresp_time));
            self.cursor = (index + 1) % SLOTS;
            return Some((t.key.peer, len));
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

    /// Whether segments or control MADs are ready for [`Self::poll_transmit`] now.
    pub fn has_transmit(&self) -> bool {
        !self.control.is_empty()
            || self.slots.iter().any(|s| {
                s.transfer.is_some_and(|t| {
                    t.pending.is_some() || (t.phase == Phase::Active && t.next <= t.send_limit())
                })
            })
    }

    /// The next finished send: [`Event::Sent`] or [`Event::SendFailed`].
    pub fn poll_event(&mut self) -> Option<Event> {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(t) = slot.transfer.as_mut() else { continue };
            let id = SendId { slot: index as u16, generation: slot.generation };
            match t.phase {
                Phase::Done { reported: false } => {
                    t.phase = Phase::Done { reported: true };
                    return Some(Event::Sent { id, key: t.key });
                }
                Phase::Failed { failure, reported: false } => {
                    t.phase = Phase::Failed { failure, reported: true };
                    return Some(Event::SendFailed { id, key: t.key, failure });
                }
                _ => {}
            }
        }
        None
    }

    /// How many slots hold a send that is running or not yet reported.
    pub fn busy_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.transfer.is_some_and(|t| !t.reusable())).count()
    }

    /// Checks the bookkeeping of every slot (tests).
    ///
    /// Panics on a broken invariant; for the tests and the fuzz targets (feature `fuzzing`).
    #[cfg(any(test, feature = "fuzzing"))]
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        for slot in &self.slots {
            let Some(t) = slot.transfer.as_ref() else { continue };
            assert!(segment::mad_len(t.data_len) <= CAP, "{t:?}");
            assert!(t.last_ack <= t.highest_sent && t.highest_sent <= t.segments, "{t:?}");
            assert!(t.next >= 1 && t.next <= t.segments + 1, "{t:?}");
            assert!(t.retries <= self.config.max_retries.saturating_add(1), "{t:?}");
            if matches!(t.phase, Phase::Done { .. }) {
                assert_eq!(t.last_ack, t.segments, "{t:?}");
            }
        }
    }
}

/// A summary (slot count, capacity, busy slots): the buffers are too large to log.
#[cfg(feature = "defmt")]
impl<const SLOTS: usize, const CAP: usize> defmt::Format for Sender<SLOTS, CAP> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Sender {{ slots: {=usize}, cap: {=usize}, busy: {=usize} }}",
            SLOTS,
            CAP,
            self.busy_slots()
        )
    }
}

/// Ends `t`, queueing the ABORT that tells the receiver (none if the receiver ended it).
fn fail(t: &mut Outgoing, failure: Failure) -> Outcome {
    debug!("rmpp tx: tid {} failed: {}", t.key.transaction_id, failure.status());
    t.pending = match failure {
        Failure::PeerAborted(_) | Failure::PeerStopped(_) => None,
        other => Some(Reply::Abort(other.status())),
    };
    t.phase = Phase::Failed { failure, reported: false };
    t.timer = None;
    Outcome::Ended(failure)
}

/// Applies an ACK (SegmentNumber `seg`, NewWindowLast `new_window_last`) to active send `t`.
fn on_ack(
    config: &Config,
    t: &mut Outgoing,
    now: Instant,
    seg: u32,
    new_window_last: u32,
    rresp: u8,
) -> Outcome {
    if seg > t.segments || seg > t.highest_sent {
        return fail(t, Failure::Aborted(RmppStatus::SegmentNumberTooBig));
    }
    if seg < t.last_ack {
        return Outcome::Dropped(Dropped::Stale);
    }
    if new_window_last < t.new_window_last {
        // A receiver's window only grows. The same SegmentNumber with a smaller window is a
        // reordered older ACK; a newer SegmentNumber with a smaller window breaks the rule.
        if seg > t.last_ack {
            return fail(t, Failure::Aborted(RmppStatus::NewWindowLastTooSmall));
        }
        return Outcome::Dropped(Dropped::Stale);
    }
    t.peer_rresp_time = rresp;
    let progress = seg > t.last_ack;
    let grown = new_window_last > t.new_window_last;
    t.new_window_last = new_window_last;
    if progress {
        t.last_ack = seg;
        t.retries = 0;
        t.probe = false;
        if t.next <= seg {
            t.next = seg.saturating_add(1);
        }
        t.timer = Some(now + config.peer_wait(rresp));
    }
    if t.last_ack >= t.segments {
        t.phase = Phase::Done { reported: false };
        t.timer = None;
        trace!("rmpp tx: tid {} acknowledged", t.key.transaction_id);
        return Outcome::Completed;
    }
    if progress || grown {
        Outcome::Accepted
    } else {
        Outcome::Dropped(Dropped::Stale)
    }
}

/// Writes DATA segment `seg` of `t` (header and data in `stored`) into `out`.
fn emit_segment(
    stored: &[u8],
    t: &Outgoing,
    seg: u32,
    rresp_time: u8,
    out: &mut [u8; MAD_LEN],
) -> Option<usize> {
    let range = segment::data_range(seg as usize, t.data_len)?;
    let data = stored.get(DATA_OFFSET..)?.get(range)?;
    let (head, body) = out.split_at_mut(DATA_OFFSET);
    head.copy_from_slice(stored.get(..DATA_OFFSET)?);
    let mut flags = RmppFlags::ACTIVE;
    if seg == 1 {
        flags |= RmppFlags::FIRST;
    }
    if seg == t.segments {
        flags |= RmppFlags::LAST;
    }
    let rmpp = rmpp_header::Repr {
        version: rmpp_header::VERSION,
        rmpp_type: RmppType::Data,
        resp_time: rresp_time,
        flags,
        status: RmppStatus::Normal,
        data1: seg,
        data2: segment::payload_length(seg as usize, t.data_len) as u32,
    };
    let rmpp_bytes =
        head.get_mut(crate::wire::mad_header::LEN..crate::wire::mad_header::LEN + rmpp_header::LEN)?;
    rmpp.emit(view_mut(rmpp_bytes).ok()?).ok()?;
    body.get_mut(..data.len())?.copy_from_slice(data);
    if let Some(rest) = body.get_mut(data.len()..) {
        rest.fill(0);
    }
    Some(MAD_LEN)
}
