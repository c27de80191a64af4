//! How many clients the daemon can hold, in file descriptors.
//!
//! Each client is one descriptor, so the number of clients is bounded by `RLIMIT_NOFILE`,
//! which the daemon raises towards its hard limit. Under the ibsim shim (`libumad2sim.so` in
//! `LD_PRELOAD`) there is a harder bound: the shim hands out fake umad descriptors numbered
//! from 1024 and takes any real descriptor that reaches 1024 for one of its own, so the
//! daemon must keep every real descriptor below 1024. It then caps its clients accordingly
//! (and warns), and closes at once any accepted connection that lands too high anyway.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The shim's first fake descriptor.
pub const SHIM_FAKE_FD_START: i32 = 1024;
/// Under the shim, accepted connections must land below this: the four numbers above it are
/// left for files opened now and then (a sysfs read, the pinned file and its directory, the
/// hosts file), which must also stay below 1024.
pub const SHIM_CLIENT_CEILING: i32 = SHIM_FAKE_FD_START - 4;
/// Descriptors kept free besides the clients: files opened now and then, and anything the
/// shim or libc opens lazily.
const SPARE: usize = 8;

/// The descriptor plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// Clients at once.
    pub max_clients: usize,
    /// Accepted descriptors at or above this are closed at once (the shim's ceiling).
    pub ceiling: Option<i32>,
}

/// Whether the ibsim shim is preloaded.
pub fn under_shim() -> bool {
    std::env::var("LD_PRELOAD").map(|v| v.contains("umad2sim")).unwrap_or(false)
}

/// Descriptors open now.
fn open_now() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count().saturating_sub(1)).unwrap_or(16)
}

/// Plans for `wanted` clients: raises the descriptor limit as far as needed and allowed,
/// and lowers the client count to what fits.
pub fn plan(wanted: usize) -> FdBudget {
    let open = open_now();
    let mut max_clients = wanted;
    let mut ceiling = None;
    if under_shim() {
        // Clients fill the numbers from `open` up to the ceiling; two more for anything opened
        // lazily later (the transient files have the four above the ceiling).
        let room = (SHIM_CLIENT_CEILING as usize).saturating_sub(open + 2);
        if room < max_clients {
            log::warn!(
                "running under the ibsim shim (libumad2sim in LD_PRELOAD): descriptors must stay below {SHIM_FAKE_FD_START}; clients capped max_clients={room} configured={wanted}"
            );
            max_clients = room;
        }
        ceiling = Some(SHIM_CLIENT_CEILING);
    }
    let need = (open + max_clients + SPARE) as u64;
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < need => {
            let target = need.min(hard);
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
                log::warn!("cannot raise the descriptor limit soft={soft} wanted={target} error={e}");
            }
            let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((soft, hard));
            let fits = (soft as usize).saturating_sub(open + SPARE);
            if fits < max_clients {
                log::warn!("descriptor limit caps clients max_clients={fits} limit={soft}");
                max_clients = fits;
            }
        }
        _ => {}
    }
    FdBudget { max_clients: max_clients.max(1), ceiling }
}
