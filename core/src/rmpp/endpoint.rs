//! Both directions of RMPP behind one `handle`: a [`Receiver`] and a [`Sender`] sharing a
//! configuration, with each incoming MAD routed to the side it belongs to.

use crate::time::Instant;
use crate::wire::{MadAddress, RmppType, SaMad, MAD_LEN};

use super::config::Config;
use super::event::{Event, Outcome};
use super::key::{RecvId, SendId};
use super::message::{classify, Classified, Kind};
use super::receiver::Receiver;
use super::sender::{SendError, Sender};

/// An RMPP endpoint: up to `RX_SLOTS` receives of at most `RX_CAP` bytes and up to `TX_SLOTS`
/// sends of at most `TX_CAP` bytes at once.
///
/// Receives and sends are sized apart because their use differs: a client reassembles large
/// table answers and sends small requests; a responder the reverse. The cost is the sum of
/// the two halves (see [`Receiver`] and [`Sender`]).
///
/// Routing: DATA goes to the receiver, ACK to the sender; a STOP or ABORT to the send it
/// answers if there is one (it travels with our DATA Method flipped), else to the receive it
/// belongs to (same Method as its DATA). A MAD that breaks a rule ends the transfer it
/// belongs to, or is answered once with ABORT.
#[derive(Debug)]
pub struct Endpoint<const RX_SLOTS: usize, const RX_CAP: usize, const TX_SLOTS: usize, const TX_CAP: usize> {
    receiver: Receiver<RX_SLOTS, RX_CAP>,
    sender: Sender<TX_SLOTS, TX_CAP>,
}

impl<const RX_SLOTS: usize, const RX_CAP: usize, const TX_SLOTS: usize, const TX_CAP: usize>
    Endpoint<RX_SLOTS, RX_CAP, TX_SLOTS, TX_CAP>
{
    /// An endpoint with every slot free.
    pub const fn new(config: Config) -> Self {
        Endpoint { receiver: Receiver::new(config), sender: Sender::new(config) }
    }

    /// Changes both halves' configuration in place.
    pub fn set_config(&mut self, config: Config) {
        self.receiver.set_config(config);
        self.sender.set_config(config);
    }

    /// The receiving half.
    pub fn receiver(&self) -> &Receiver<RX_SLOTS, RX_CAP> {
        &self.receiver
    }

    /// The sending half.
    pub fn sender(&self) -> &Sender<TX_SLOTS, TX_CAP> {
        &self.sender
    }

    /// Takes one received MAD from `from` (see the type's routing rules, and
    /// [`Receiver::handle`] for `from` and `now`).
    pub fn handle(&mut self, now: Instant, from: MadAddress, mad: &[u8]) -> Outcome {
        let incoming = match classify(mad) {
            Classified::Malformed(e) => return Outcome::Malformed(e),
            Classified::NotRmpp => return Outcome::NotRmpp,
            Classified::Rmpp(incoming) => incoming,
        };
        let to_sender = match incoming.kind {
            Kind::Data { .. } => false,
            Kind::Ack { .. } => true,
            Kind::Stop { .. } | Kind::Abort { .. } => self.sender.has_transfer(&from, &incoming.mad),
            Kind::Illegal { rmpp_type, .. } => {
                if self.sender.has_transfer(&from, &incoming.mad) {
                    true
                } else if self.receiver.has_transfer(now, &from, &incoming.mad) {
                    false
                } else {
                    rmpp_type == RmppType::Ack
                }
            }
        };
        if to_sender {
            self.sender.on_message(now, from, &incoming)
        } else {
            self.receiver.on_message(now, from, &incoming)
        }
    }

    /// Starts a send (see [`Sender::start`]).
    pub fn start(
        &mut self,
        now: Instant,
        to: MadAddress,
        headers: &SaMad,
        data: &[u8],
    ) -> Result<SendId, SendError> {
        self.sender.start(now, to, headers, data)
    }

    /// Gives up a running send (see [`Sender::abort`]).
    pub fn abort(&mut self, id: SendId) -> bool {
        self.sender.abort(id)
    }

    /// Runs both halves' timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.receiver.handle_timeout(now);
        self.sender.handle_timeout(now);
    }

    /// The next MAD to send: the receiver's ACKs first (they keep peers' sends moving), then
    /// our own segments.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; MAD_LEN]) -> Option<(MadAddress, usize)> {
        self.receiver.poll_transmit(now, buf).or_else(|| self.sender.poll_transmit(now, buf))
    }

    /// When a timer next runs out, if ever.
    pub fn poll_at(&self) -> Option<Instant> {
        match (self.receiver.poll_at(), self.sender.poll_at()) {
            (Some(a), Some(b)) => Some(if a < b { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Whether MADs are ready for [`Self::poll_transmit`] now.
    pub fn has_transmit(&self) -> bool {
        self.receiver.has_transmit() || self.sender.has_transmit()
    }

    /// The next finished transfer, either direction.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.receiver.poll_event().or_else(|| self.sender.poll_event())
    }

    /// A completed receive's bytes (see [`Receiver::received`]).
    pub fn received(&self, id: RecvId) -> Option<&[u8]> {
        self.receiver.received(id)
    }

    /// Gives a completed receive's slot back (see [`Receiver::release`]).
    pub fn release(&mut self, id: RecvId) -> bool {
        self.receiver.release(id)
    }

    /// Checks both halves' bookkeeping (tests).
    ///
    /// Panics on a broken invariant; for the tests and the fuzz targets (feature `fuzzing`).
    #[cfg(any(test, feature = "fuzzing"))]
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        self.receiver.check_invariants();
        self.sender.check_invariants();
    }
}

/// Both halves' summaries.
#[cfg(feature = "defmt")]
impl<const RX_SLOTS: usize, const RX_CAP: usize, const TX_SLOTS: usize, const TX_CAP: usize> defmt::Format
    for Endpoint<RX_SLOTS, RX_CAP, TX_SLOTS, TX_CAP>
{
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "Endpoint {{ {}, {} }}", self.receiver, self.sender)
    }
}
