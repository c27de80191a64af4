//! Logs to stderr, one line per record, readable by people and by journald.
//!
//! Messages are a short phrase followed by `key=value` fields (`client dropped socket=acm
//! reason=slow-reader buffered=1048576`), so `journalctl -o cat | grep reason=` and log
//! shippers can pick fields out without a parser per message.
//!
//! When stderr is connected to the journal (systemd sets `JOURNAL_STREAM=<dev>:<ino>` to the
//! stream it gave us, which we compare with stderr's own device and inode, as sd-daemon(3)
//! recommends), each line starts with `<N>`, the syslog priority, and no timestamp (journald
//! stamps lines itself). Otherwise lines carry a UTC timestamp and the level in words.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The stderr logger.
#[derive(Debug)]
pub struct Logger {
    level: LevelFilter,
    journal: bool,
}

impl Logger {
    /// Installs the logger (once per process; later calls only change the level).
    pub fn install(level: LevelFilter) {
        let logger = Logger { level, journal: stderr_is_journal() };
        // A second install (tests, or `daemon` run twice in one process) keeps the first logger.
        let _ = log::set_boxed_logger(Box::new(logger));
        log::set_max_level(level);
    }
}

/// Whether stderr is the journal stream systemd gave us.
fn stderr_is_journal() -> bool {
    let Ok(var) = std::env::var("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = var.split_once(':') else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    match nix::sys::stat::fstat(std::io::stderr().as_fd()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// The syslog priority of a level.
fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = record.target().strip_prefix("localsa::").unwrap_or(record.target());
        let line = if self.journal {
            format!("<{}>{target}: {}\n", priority(record.level()), record.args())
        } else {
            format!("{} {:<5} {target}: {}\n", utc_now(), record.level(), record.args())
        };
        // One write per line keeps lines whole when threads log at once.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// `2024-05-01T12:34:56.789Z`.
fn utc_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(priority(Level::Error), 3);
        assert_eq!(priority(Level::Info), 6);
    }
}
