//! The byte cost of each capacity, as documented on [`Receiver`] and [`Sender`].

use core::mem::size_of;

use crate::rmpp::{
    capacity_for, Endpoint, Receiver, Sender, RECEIVER_FIXED_COST, RECV_SLOT_OVERHEAD, SENDER_FIXED_COST,
    SEND_SLOT_OVERHEAD,
};

/// The documented cost: per slot the buffer plus the overhead (padded to 8 bytes), plus the
/// fixed part.
const fn documented(slots: usize, cap: usize, overhead: usize, fixed: usize) -> usize {
    slots * (cap + overhead).next_multiple_of(8) + fixed
}

#[test]
#[cfg(target_pointer_width = "64")]
fn receiver_cost_matches_the_docs() {
    assert_eq!(size_of::<Receiver<1, 256>>(), documented(1, 256, RECV_SLOT_OVERHEAD, RECEIVER_FIXED_COST));
    assert_eq!(size_of::<Receiver<2, 256>>(), documented(2, 256, RECV_SLOT_OVERHEAD, RECEIVER_FIXED_COST));
    assert_eq!(size_of::<Receiver<3, 1337>>(), documented(3, 1337, RECV_SLOT_OVERHEAD, RECEIVER_FIXED_COST));
    const BIG: usize = capacity_for(1000, 64);
    assert_eq!(size_of::<Receiver<4, BIG>>(), documented(4, BIG, RECV_SLOT_OVERHEAD, RECEIVER_FIXED_COST));
    assert_eq!(size_of::<Receiver<4, BIG>>(), 257_880, "four 1000-PathRecord slots, as the module docs say");
}

#[test]
#[cfg(target_pointer_width = "64")]
fn sender_cost_matches_the_docs() {
    assert_eq!(size_of::<Sender<1, 256>>(), documented(1, 256, SEND_SLOT_OVERHEAD, SENDER_FIXED_COST));
    assert_eq!(size_of::<Sender<2, 256>>(), documented(2, 256, SEND_SLOT_OVERHEAD, SENDER_FIXED_COST));
    assert_eq!(size_of::<Sender<3, 1337>>(), documented(3, 1337, SEND_SLOT_OVERHEAD, SENDER_FIXED_COST));
}

#[test]
#[cfg(target_pointer_width = "64")]
fn endpoint_is_the_sum_of_its_halves() {
    type E = Endpoint<2, 1024, 1, 512>;
    assert_eq!(size_of::<E>(), size_of::<Receiver<2, 1024>>() + size_of::<Sender<1, 512>>());
}

#[test]
#[cfg(target_pointer_width = "64")]
fn documented_figures() {
    assert_eq!((RECV_SLOT_OVERHEAD, RECEIVER_FIXED_COST), (258, 600));
    assert_eq!((SEND_SLOT_OVERHEAD, SENDER_FIXED_COST), (242, 600));
    assert_eq!(size_of::<Receiver<1, { capacity_for(20, 64) }>>(), 2_200);
}

#[test]
fn bookkeeping_is_small_next_to_a_mad() {
    // Whatever the pointer width, a slot's bookkeeping costs about one MAD.
    // About one MAD: the `Maybe` tag that keeps an empty slot all-zero costs 8 bytes over a niche.
    const { assert!(RECV_SLOT_OVERHEAD <= 264 && SEND_SLOT_OVERHEAD <= 264) };
    assert!(size_of::<Receiver<1, 256>>() <= 256 + RECV_SLOT_OVERHEAD + RECEIVER_FIXED_COST + 8);
}
