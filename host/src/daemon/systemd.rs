//! The two pieces of the systemd protocol a daemon needs, without libsystemd:
//!
//! * **Socket activation** (sd_listen_fds(3)): when `LISTEN_PID` is our pid, descriptors 3 to
//!   `3 + LISTEN_FDS - 1` are listening sockets the service manager bound for us, named by
//!   `LISTEN_FDNAMES` (colon-separated, from `FileDescriptorName=`). The daemon then neither
//!   binds nor removes those socket files: they belong to the `.socket` units, which is what
//!   lets clients connect while the daemon restarts.
//! * **Readiness** (sd_notify(3)): `READY=1` and `STOPPING=1` as datagrams to
//!   `NOTIFY_SOCKET`, for `Type=notify` services.

use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};

use crate::umad::abi::adopt_inherited_socket;

/// The first inherited descriptor (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;
/// More inherited sockets than this is a misconfiguration; we look at no more.
const MAX_LISTEN_FDS: usize = 16;

/// A socket passed by the service manager.
#[derive(Debug)]
pub struct Inherited {
    /// Its `FileDescriptorName=` (systemd's default is the socket unit's name).
    pub name: String,
    /// The listener.
    pub listener: UnixListener,
}

/// Takes the sockets systemd passed us, if `LISTEN_PID` names this process, and clears the
/// three variables so that nothing we start inherits them. Descriptors that are not sockets
/// are skipped with a warning.
pub fn take_listen_fds() -> Vec<Inherited> {
    let pid = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok());
    let count = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<usize>().ok());
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    let (Some(pid), Some(count)) = (pid, count) else { return Vec::new() };
    if pid != std::process::id() {
        return Vec::new();
    }
    let names: Vec<&str> = if names.is_empty() { Vec::new() } else { names.split(':').collect() };
    let mut out = Vec::new();
    for i in 0..count.min(MAX_LISTEN_FDS) {
        let fd = LISTEN_FDS_START + i as i32;
        let name = names.get(i).copied().unwrap_or("").to_owned();
        match adopt_inherited_socket(fd) {
            Some(owned) => out.push(Inherited { name, listener: UnixListener::from(owned) }),
            None => log::warn!("inherited descriptor is not a socket; ignored fd={fd} name={name:?}"),
        }
    }
    out
}

/// Tells the service manager something (`READY=1`, `STOPPING=1`, `STATUS=...`), if it asked
/// to be told (`NOTIFY_SOCKET`). Failures are logged and otherwise ignored.
pub fn notify(state: &str) {
    let Ok(path) = std::env::var("NOTIFY_SOCKET") else { return };
    let result = (|| -> std::io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        log::warn!("sd_notify failed socket={path} state={state:?} error={e:?}");
    }
}
