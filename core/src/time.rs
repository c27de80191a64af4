//! Time as the caller supplies it.
//!
//! The core never reads a clock: every entry point that needs time takes an [`Instant`], and
//! deadlines come back as `Instant`s for the caller's timer. Both types are plain microsecond
//! counts so a firmware tick counter or `std::time::Instant` converts with one subtraction.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A point in time, in microseconds since an arbitrary epoch chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// Later than any instant a caller will ever pass; used for "never".
    pub const FAR_FUTURE: Instant = Instant { micros: u64::MAX };

    /// An instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant { micros: millis.saturating_mul(1000) }
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Milliseconds since the epoch, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1000
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration { micros: self.micros.saturating_sub(earlier.micros) }
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.micros / 1_000_000, self.micros % 1_000_000)
    }
}

/// A span of time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration {
    micros: u64,
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration { micros: 0 };
    /// Longer than any timeout the core computes.
    pub const MAX: Duration = Duration { micros: u64::MAX };

    /// A span of `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        Duration { micros }
    }

    /// A span of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Duration { micros: millis.saturating_mul(1000) }
    }

    /// A span of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration { micros: secs.saturating_mul(1_000_000) }
    }

    /// The span in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// The span in milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1000
    }

    /// `self * factor`, saturating.
    pub const fn saturating_mul(self, factor: u64) -> Self {
        Duration { micros: self.micros.saturating_mul(factor) }
    }

    /// The InfiniBand time encoding `4.096 µs × 2^value` (RespTimeValue, PacketLifeTime,
    /// RRespTime), saturating for values that overflow.
    pub const fn from_ib_time_exponent(value: u8) -> Self {
        // 4.096 µs = 4096 ns; work in nanoseconds to keep the small exponents exact.
        let nanos: u128 = 4096u128 << (value as u32 & 0x3f);
        let micros = nanos / 1000;
        Duration { micros: if micros > u64::MAX as u128 { u64::MAX } else { micros as u64 } }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.micros >= 1_000_000 {
            write!(f, "{}.{:03}s", self.micros / 1_000_000, (self.micros % 1_000_000) / 1000)
        } else if self.micros >= 1000 {
            write!(f, "{}.{:03}ms", self.micros / 1000, self.micros % 1000)
        } else {
            write!(f, "{}us", self.micros)
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant { micros: self.micros.saturating_add(rhs.micros) }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration { micros: self.micros.saturating_add(rhs.micros) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ib_time_encoding() {
        // 4.096 µs × 2^0 rounds down to 4 µs; 2^18 is the spec's 1.07 s default subnet timeout.
        assert_eq!(Duration::from_ib_time_exponent(0).as_micros(), 4);
        assert_eq!(Duration::from_ib_time_exponent(8).as_micros(), 1048);
        assert_eq!(Duration::from_ib_time_exponent(18).as_micros(), 1_073_741);
        assert_eq!(Duration::from_ib_time_exponent(31).as_micros(), 8_796_093_022);
        assert_eq!(Duration::from_ib_time_exponent(63), Duration::MAX);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Instant::FAR_FUTURE + Duration::from_secs(1), Instant::FAR_FUTURE);
        assert_eq!(Instant::ZERO - Instant::from_millis(5), Duration::ZERO);
    }
}
