//! Who may change the daemon's state: root, the user the daemon runs as, and members of the
//! configured admin group. Everyone else may resolve, dump and read counters.
//!
//! The peer's identity is `SO_PEERCRED`, taken when it connects (the kernel's record of the
//! connecting process, which the peer cannot forge). Group membership counts the primary
//! group and the supplementary groups of the peer's user (`getgrouplist`), looked up the
//! first time that connection asks for something privileged, not at accept, so that a
//! slow name service never delays ordinary clients.

use nix::sys::socket::UnixCredentials;
use nix::unistd::{geteuid, getgrouplist, Gid, Group, Uid, User};

/// Resolves the configured group, by name or number.
pub fn group_id(name: &str) -> Result<Gid, String> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    match Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => Err(format!("no group named {name:?}")),
        Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
    }
}

/// Whether the peer may use the privileged operations.
pub fn is_privileged(cred: &UnixCredentials, admin_group: Option<Gid>) -> bool {
    let uid = Uid::from_raw(cred.uid());
    if uid.is_root() || uid == geteuid() {
        return true;
    }
    let Some(group) = admin_group else { return false };
    if Gid::from_raw(cred.gid()) == group {
        return true;
    }
    let Ok(Some(user)) = User::from_uid(uid) else { return false };
    let Ok(name) = std::ffi::CString::new(user.name) else { return false };
    getgrouplist(&name, user.gid).map(|groups| groups.contains(&group)).unwrap_or(false)
}
