//! The knobs of an RMPP endpoint: window, timeouts and retries.

use crate::time::Duration;
use crate::wire::rmpp_header::NO_RESP_TIME;

/// The largest receive window this crate grants, in segments.
///
/// The receiver tracks segments that arrive ahead of a gap in a 64-bit map, so a window can
/// never span more than 64 segments. Linux's receiver grants 64 segments per ACK too
/// (`window_size()` in `mad_rmpp.c`: a receive queue of 512 MADs, shifted right by 3).
pub const MAX_WINDOW: u32 = 64;

/// How an RMPP endpoint paces and bounds its transfers.
///
/// Every time is a plain [`Duration`]: the core has no clock, the caller passes `now` and
/// wakes the endpoint at [`poll_at`](super::Receiver::poll_at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// How long the sender waits for an ACK after its last segment before it resends the
    /// window. The peer's RRespTime, when it gives one, raises this for that transfer (never
    /// lowers it). Linux waits 2 s.
    pub response_time: Duration,
    /// The RRespTime (5-bit IB time exponent) written into every MAD this endpoint sends:
    /// how long *we* may take to answer. [`NO_RESP_TIME`] (0x1F) means "not given".
    pub rresp_time: u8,
    /// Segments the receiver grants per ACK (NewWindowLast − SegmentNumber), clamped to
    /// `1..=`[`MAX_WINDOW`].
    pub window: u32,
    /// Timeouts in a row without progress before the sender gives up with ABORT
    /// TooManyRetries. Progress (an ACK for a new segment) resets the count, as in Linux. The
    /// receiver also uses it: a transfer with no new segment for `response_time × (max_retries
    /// + 2)` is abandoned (ABORT TotalTimeTooLong).
    pub max_retries: u8,
    /// Upper bound on one whole transfer, either direction (ABORT TotalTimeTooLong). Linux
    /// gives a receive 40 s.
    pub total_timeout: Duration,
    /// How long a finished receive keeps its key to re-ACK a sender that lost the final ACK
    /// (Linux keeps 10 s). The slot is reusable meanwhile: only its 56 header bytes are kept.
    pub linger: Duration,
}

impl Config {
    /// Linux-like defaults: 2 s ACK wait, window 64, 5 retries, 40 s per transfer, 10 s linger.
    pub const DEFAULT: Config = Config {
        response_time: Duration::from_secs(2),
        rresp_time: NO_RESP_TIME,
        window: MAX_WINDOW,
        max_retries: 5,
        total_timeout: Duration::from_secs(40),
        linger: Duration::from_secs(10),
    };

    /// Defaults with the response time from IB timing values, as IBA 13.4.6.2 computes a
    /// requester's wait: `4.096 µs × (2^resp_time_value + 2 × 2^packet_life_time)`.
    ///
    /// `resp_time_value` is the peer's ClassPortInfo RespTimeValue (or our own when we are the
    /// responder); it is also what we advertise as RRespTime.
    pub const fn from_ib_timing(resp_time_value: u8, packet_life_time: u8) -> Config {
        let resp = Duration::from_ib_time_exponent(resp_time_value).as_micros();
        let life = Duration::from_ib_time_exponent(packet_life_time).as_micros();
        let micros = resp.saturating_add(life.saturating_mul(2));
        Config {
            response_time: Duration::from_micros(micros),
            rresp_time: if resp_time_value < NO_RESP_TIME { resp_time_value } else { NO_RESP_TIME },
            ..Config::DEFAULT
        }
    }

    /// All zero: what an endpoint built as a zeroed `static` holds until configured. Not
    /// usable as is (no wait, window 1).
    pub const ZEROED: Config = Config {
        response_time: Duration::ZERO,
        rresp_time: 0,
        window: 0,
        max_retries: 0,
        total_timeout: Duration::ZERO,
        linger: Duration::ZERO,
    };

    /// The window actually granted: [`Self::window`] clamped to `1..=MAX_WINDOW`.
    pub const fn effective_window(&self) -> u32 {
        if self.window == 0 {
            1
        } else if self.window > MAX_WINDOW {
            MAX_WINDOW
        } else {
            self.window
        }
    }

    /// RRespTime as written on the wire (5 bits; out-of-range values mean "not given").
    pub(crate) const fn wire_rresp_time(&self) -> u8 {
        if self.rresp_time > NO_RESP_TIME {
            NO_RESP_TIME
        } else {
            self.rresp_time
        }
    }

    /// How long to wait for the peer, given the RRespTime it advertised.
    ///
    /// The peer's value can only lengthen the wait, and never past the whole-transfer bound.
    pub(crate) fn peer_wait(&self, peer_rresp_time: u8) -> Duration {
        let mut wait = self.response_time;
        if peer_rresp_time < NO_RESP_TIME {
            let peer = Duration::from_ib_time_exponent(peer_rresp_time);
            if peer > wait {
                wait = peer;
            }
        }
        if wait > self.total_timeout {
            wait = self.total_timeout;
        }
        if wait == Duration::ZERO {
            // A zero wait would spin; one microsecond is the smallest step the caller's clock has.
            wait = Duration::from_micros(1);
        }
        wait
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ib_timing() {
        // RespTimeValue 18 (~1.07 s) plus twice PacketLifeTime 18.
        let c = Config::from_ib_timing(18, 18);
        assert_eq!(c.response_time.as_micros(), 3 * 1_073_741);
        assert_eq!(c.rresp_time, 18);
        assert_eq!(Config::from_ib_timing(40, 0).rresp_time, NO_RESP_TIME);
    }

    #[test]
    fn window_clamped() {
        let mut c = Config::DEFAULT;
        c.window = 0;
        assert_eq!(c.effective_window(), 1);
        c.window = 1000;
        assert_eq!(c.effective_window(), MAX_WINDOW);
    }

    #[test]
    fn peer_wait_only_lengthens() {
        let c = Config { response_time: Duration::from_millis(100), ..Config::DEFAULT };
        assert_eq!(c.peer_wait(NO_RESP_TIME), Duration::from_millis(100));
        assert_eq!(c.peer_wait(0), Duration::from_millis(100));
        assert_eq!(c.peer_wait(20), Duration::from_ib_time_exponent(20));
        assert_eq!(c.peer_wait(30), c.total_timeout);
    }
}
