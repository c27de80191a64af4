//! The two listening sockets: bound by us (and removed when we stop), or handed over by
//! systemd (and left alone, since the `.socket` units own them).
//!
//! Both sockets are created mode 0666: any local user may connect, because resolving,
//! dumping and reading counters are open to everyone. What a connection may *change* is
//! decided per request from its `SO_PEERCRED` credentials, not by file permissions.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::client::Protocol;
use super::systemd::Inherited;

/// A listening socket.
#[derive(Debug)]
pub struct Listener {
    /// Which protocol connections on it speak.
    pub protocol: Protocol,
    /// The socket (nonblocking).
    pub listener: UnixListener,
    /// Its path, if it has one.
    pub path: Option<PathBuf>,
    /// We bound it, so we remove it when we stop.
    pub owned: bool,
}

impl Listener {
    /// Removes our socket file (a socket from systemd stays).
    pub fn remove_file(&self) {
        if let (true, Some(p)) = (self.owned, &self.path) {
            match fs::remove_file(p) {
                Ok(()) => log::info!("socket removed path={}", p.display()),
                Err(e) => log::warn!("cannot remove socket path={} error={e}", p.display()),
            }
        }
    }
}

/// Why a socket could not be set up.
#[derive(Debug)]
pub struct ListenError {
    /// The path.
    pub path: PathBuf,
    /// What failed.
    pub error: io::Error,
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for ListenError {}

/// Binds `path` (creating its directory, replacing a stale socket file left by a crashed
/// daemon, refusing to take over a socket something still answers on, or a non-socket file).
pub fn bind(path: &Path) -> Result<UnixListener, ListenError> {
    let err = |error: io::Error| ListenError { path: path.to_owned(), error };
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            fs::DirBuilder::new().recursive(true).mode(0o755).create(dir).map_err(err)?;
        }
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is listening there (another localsa or ibacm?)",
                )));
            }
            log::info!("removing stale socket path={}", path.display());
            fs::remove_file(path).map_err(err)?;
        }
        Ok(_) => {
            return Err(err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket")));
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).map_err(err)?;
    Ok(listener)
}

/// The listeners for the configured paths: an inherited socket where systemd passed one
/// (matched by `FileDescriptorName=` `acm`/`admin`, else by its bound path, else by order),
/// a freshly bound one otherwise.
pub fn open(
    acm: Option<&Path>,
    admin: Option<&Path>,
    mut inherited: Vec<Inherited>,
) -> Result<Vec<Listener>, ListenError> {
    let mut out = Vec::new();
    for (protocol, path) in [(Protocol::Acm, acm), (Protocol::Admin, admin)] {
        let taken = take_inherited(&mut inherited, protocol, path);
        let listener = match taken {
            Some(l) => {
                let bound = l.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_owned));
                log::info!(
                    "socket from systemd socket={} path={}",
                    protocol.name(),
                    bound.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into())
                );
                Listener { protocol, listener: l, path: bound, owned: false }
            }
            None => {
                let Some(path) = path else { continue };
                let l = match bind(path) {
                    Ok(l) => l,
                    Err(e) => {
                        out.iter().for_each(Listener::remove_file);
                        return Err(e);
                    }
                };
                log::info!("listening socket={} path={}", protocol.name(), path.display());
                Listener { protocol, listener: l, path: Some(path.to_owned()), owned: true }
            }
        };
        listener
            .listener
            .set_nonblocking(true)
            .map_err(|error| ListenError { path: path.map(Path::to_owned).unwrap_or_default(), error })?;
        out.push(listener);
    }
    for left in inherited {
        log::warn!("inherited socket not used name={:?}", left.name);
    }
    Ok(out)
}

fn take_inherited(
    inherited: &mut Vec<Inherited>,
    protocol: Protocol,
    path: Option<&Path>,
) -> Option<UnixListener> {
    let by_name = inherited.iter().position(|i| {
        let n = i.name.to_ascii_lowercase();
        match protocol {
            Protocol::Admin => n.contains("admin"),
            Protocol::Acm => n.contains("acm") && !n.contains("admin"),
        }
    });
    let by_path = || {
        path.and_then(|p| {
            inherited.iter().position(|i| {
                i.listener.local_addr().ok().and_then(|a| a.as_pathname().map(|b| b == p)).unwrap_or(false)
            })
        })
    };
    // Unnamed sockets in order: ACM first, then admin (the order of the sample units).
    let by_order = || inherited.iter().position(|i| i.name.is_empty() || i.name == "unknown");
    let index = by_name.or_else(by_path).or_else(by_order)?;
    Some(inherited.remove(index).listener)
}
