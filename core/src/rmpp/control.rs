//! RMPP control MADs (ACK, STOP, ABORT): what they answer, how they are built, and the small
//! queue for those that answer a MAD no slot remembers.

use crate::maybe::Maybe;
use crate::wire::request;
use crate::wire::{MadAddress, RmppStatus, SaMad, MAD_LEN};

/// Control MADs waiting for `poll_transmit` that belong to no slot (refusals and ABORTs of
/// stray MADs). When it is full the newest refusal is dropped: the peer resends, or times out.
pub const CONTROL_QUEUE_LEN: usize = 4;

/// A control MAD to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Every segment up to `seg` arrived; send up to `new_window_last`.
    Ack { seg: u32, new_window_last: u32 },
    /// Stop sending (receiver only).
    Stop(RmppStatus),
    /// The transfer is abandoned.
    Abort(RmppStatus),
}

/// Writes the control MAD `reply` into `out`.
///
/// `answering` holds the headers of the MAD being answered, as that MAD travelled: the
/// reply takes them with the response bit of the Method flipped and RRespTime set to ours,
/// which is what Linux `format_ack()`/`nack_recv()` do (and what ibsim routes on). A sender
/// that aborts its own DATA passes its DATA headers through [`toward_receiver`] first.
pub(crate) fn emit(
    answering: &SaMad,
    rresp_time: u8,
    reply: Reply,
    out: &mut [u8; MAD_LEN],
) -> Option<usize> {
    let mut headers = *answering;
    headers.rmpp.resp_time = rresp_time;
    let written = match reply {
        Reply::Ack { seg, new_window_last } => request::rmpp_ack(out, &headers, seg, new_window_last),
        Reply::Stop(status) => request::rmpp_stop(out, &headers, status),
        Reply::Abort(status) => request::rmpp_abort(out, &headers, status),
    };
    written.ok()
}

/// Headers such that [`emit`] sends a MAD in the same direction as `data` (its Method as is):
/// an ABORT from the sender of `data` travels with the DATA's own Method, as Linux's sender
/// does when it answers a bad ACK (it flips the ACK's Method back).
pub(crate) fn toward_receiver(data: &SaMad) -> SaMad {
    let mut headers = *data;
    headers.header.method = data.header.method.flip_response();
    headers
}

/// A control MAD for the queue: its destination, what it answers and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Control {
    /// Where it goes.
    pub to: MadAddress,
    /// The headers of the MAD it answers (see [`emit`]).
    pub answering: SaMad,
    /// What it says.
    pub reply: Reply,
}

/// A first-in first-out queue of [`CONTROL_QUEUE_LEN`] control MADs.
#[derive(Debug, Clone)]
pub(crate) struct ControlQueue {
    /// `Maybe` rather than `Option`: `None` of a `Control` sits in a niche (the byte 2), and
    /// an empty queue must be zero bytes for an engine `static` to stay in `.bss`.
    entries: [Maybe<Control>; CONTROL_QUEUE_LEN],
    head: usize,
    len: usize,
}

impl ControlQueue {
    /// An empty queue.
    pub(crate) const EMPTY: ControlQueue =
        ControlQueue { entries: [Maybe::Empty; CONTROL_QUEUE_LEN], head: 0, len: 0 };

    /// Queues `control`; returns false (and drops it) when the queue is full.
    pub(crate) fn push(&mut self, control: Control) -> bool {
        if self.len >= CONTROL_QUEUE_LEN {
            return false;
        }
        let index = (self.head + self.len) % CONTROL_QUEUE_LEN;
        if let Some(entry) = self.entries.get_mut(index) {
            *entry = Maybe::Full(control);
            self.len += 1;
            true
        } else {
            false
        }
    }

    /// The oldest queued control MAD.
    pub(crate) fn pop(&mut self) -> Option<Control> {
        if self.len == 0 {
            return None;
        }
        let control = self.entries.get_mut(self.head).and_then(Maybe::take);
        self.head = (self.head + 1) % CONTROL_QUEUE_LEN;
        self.len -= 1;
        control
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AttributeId, Method, RmppType, SaPacket};

    fn control(tid: u64) -> Control {
        Control {
            to: MadAddress::gsi(1, 0),
            answering: SaMad::new(Method::GetTableResp, AttributeId::PathRecord, tid),
            reply: Reply::Abort(RmppStatus::BadRmppType),
        }
    }

    #[test]
    fn queue_is_fifo_and_bounded() {
        let mut q = ControlQueue::EMPTY;
        for tid in 0..CONTROL_QUEUE_LEN as u64 {
            assert!(q.push(control(tid)));
        }
        assert!(!q.push(control(99)));
        assert_eq!(q.pop().map(|c| c.answering.header.transaction_id), Some(0));
        assert!(q.push(control(100)));
        let tids: std::vec::Vec<u64> =
            core::iter::from_fn(|| q.pop()).map(|c| c.answering.header.transaction_id).collect();
        assert_eq!(tids, [1, 2, 3, 100]);
        assert!(q.is_empty());
    }

    #[test]
    fn sender_abort_keeps_data_direction() {
        let data = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, 5);
        let mut out = [0u8; MAD_LEN];
        emit(&toward_receiver(&data), 0x1f, Reply::Abort(RmppStatus::TooManyRetries), &mut out).unwrap();
        let p = SaPacket::new_checked(&out[..]).unwrap();
        let m = SaMad::parse(&p).unwrap();
        assert_eq!(m.header.method, Method::GetTableResp);
        assert_eq!(m.rmpp.rmpp_type, RmppType::Abort);
        assert_eq!(m.rmpp.status, RmppStatus::TooManyRetries);
        assert_eq!(m.rmpp.resp_time, 0x1f);
    }
}
