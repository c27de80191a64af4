//! What names a transfer: on the wire its peer, TID, class and direction; to the caller a
//! slot handle.

use crate::wire::{MadAddress, Method, MgmtClass, SaMad};

/// The identity of an RMPP transfer on the wire.
///
/// Two transfers may share a TID if they go to different peers or in different directions
/// (a requester's RMPP request and the responder's RMPP answer), so the key holds all four;
/// Linux's `find_rmpp_recv()` matches the same fields. Peers compare with
/// [`MadAddress::same_peer`] (LID, QP and GID), not SL or P_Key index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TransferKey {
    /// The remote port.
    pub peer: MadAddress,
    /// TransactionID of every MAD of the transfer.
    pub transaction_id: u64,
    /// Management class.
    pub mgmt_class: MgmtClass,
    /// The Method of the DATA segments, response bit included. ACKs and STOPs travel with the
    /// bit flipped; ABORTs with the bit of whoever sends them.
    pub data_method: Method,
}

impl TransferKey {
    /// The key of the transfer whose DATA segments carry `mad`'s headers and come from (or go
    /// to) `peer`.
    pub fn of_data(peer: MadAddress, mad: &SaMad) -> TransferKey {
        TransferKey {
            peer,
            transaction_id: mad.header.transaction_id,
            mgmt_class: mad.header.mgmt_class,
            data_method: mad.header.method,
        }
    }

    /// Whether a MAD from `peer` with headers `mad` belongs to this transfer, given that its
    /// Method is the DATA method (`flipped == false`) or the DATA method with the response
    /// bit flipped (`flipped == true`).
    pub(crate) fn matches(&self, peer: &MadAddress, mad: &SaMad, flipped: bool) -> bool {
        let method = if flipped { mad.header.method.flip_response() } else { mad.header.method };
        self.transaction_id == mad.header.transaction_id
            && self.mgmt_class == mad.header.mgmt_class
            && self.data_method == method
            && self.peer.same_peer(peer)
    }
}

/// A handle on a receive slot, given with [`Event::Received`](super::Event::Received).
///
/// The generation makes a handle kept after [`Receiver::release`](super::Receiver::release)
/// useless instead of pointing at the next transfer in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RecvId {
    pub(crate) slot: u16,
    pub(crate) generation: u16,
}

/// A handle on a send slot, returned by [`Sender::start`](super::Sender::start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SendId {
    pub(crate) slot: u16,
    pub(crate) generation: u16,
}
