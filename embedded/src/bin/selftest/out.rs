//! Progress and checks: text through semihosting (`hprintln!`), or defmt frames with the
//! `defmt` feature. A failed check is printed and counted; the run exits with failure if any
//! check failed.

use core::sync::atomic::{AtomicU32, Ordering};

static FAILURES: AtomicU32 = AtomicU32::new(0);
static CHECKS: AtomicU32 = AtomicU32::new(0);

/// Counts a check.
pub fn checked() {
    CHECKS.fetch_add(1, Ordering::Relaxed);
}

/// Counts a failed check.
pub fn failed() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// Checks so far, and how many failed.
pub fn tally() -> (u32, u32) {
    (CHECKS.load(Ordering::Relaxed), FAILURES.load(Ordering::Relaxed))
}

/// One line of output. The format string and arguments must suit both `core::fmt` and defmt:
/// plain `{}` with integers, `&str` and `bool`.
#[cfg(not(feature = "defmt"))]
macro_rules! say {
    ($($arg:tt)*) => { cortex_m_semihosting::hprintln!($($arg)*) };
}

#[cfg(feature = "defmt")]
macro_rules! say {
    ($($arg:tt)*) => { defmt::println!($($arg)*) };
}

/// Checks `cond`; when false prints where and the message, and counts a failure.
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {{
        $crate::out::checked();
        if !$cond {
            say!("FAIL at {}:{}", file!(), line!());
            say!($($arg)+);
            $crate::out::failed();
        }
    }};
}
