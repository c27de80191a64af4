//! The kernel's `ib_user_mad` ABI (`<rdma/ib_user_mad.h>`, ABI version 5): the 64-byte header
//! in front of every MAD read from or written to `/dev/infiniband/umadN`, the agent
//! registration requests, and the four ioctls; plus the adoption of sockets inherited from
//! systemd. This file holds all of the crate's `unsafe`.
//!
//! Every call goes through libc's `open/read/write/ioctl/poll/close` symbols, never `open64`,
//! `openat` or `epoll`: the ibsim shim (`libumad2sim.so`) intercepts exactly those names, so the
//! same binary runs on a real node and on the simulated fabric.
#![allow(unsafe_code)]

use std::os::fd::RawFd;

use nix::errno::Errno;
use zerocopy::byteorder::big_endian::{U16 as BeU16, U32 as BeU32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `IB_USER_MAD_ABI_VERSION`: the ABI these layouts describe.
pub const ABI_VERSION: u32 = 5;

/// `struct ib_user_mad_hdr` (with `pkey_index`, i.e. after `IB_USER_MAD_ENABLE_PKEY`).
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct UserMadHeader {
    /// Agent id from registration.
    pub id: u32,
    /// 0, or an errno for a send that failed (e.g. ETIMEDOUT).
    pub status: u32,
    /// For requests: how long the kernel waits for the response (0: not matched).
    pub timeout_ms: u32,
    /// Kernel retries of a request.
    pub retries: u32,
    /// Bytes of header plus MAD (reads report the full size).
    pub length: u32,
    /// Remote QP, network order.
    pub qpn: BeU32,
    /// Remote Q_Key, network order.
    pub qkey: BeU32,
    /// Remote LID, network order.
    pub lid: BeU16,
    /// Service level.
    pub sl: u8,
    /// Source path bits.
    pub path_bits: u8,
    /// Whether the GRH fields are valid.
    pub grh_present: u8,
    /// Local GID index for the GRH.
    pub gid_index: u8,
    /// GRH hop limit.
    pub hop_limit: u8,
    /// GRH traffic class.
    pub traffic_class: u8,
    /// Remote GID.
    pub gid: [u8; 16],
    /// GRH flow label, network order.
    pub flow_label: BeU32,
    /// P_Key index (host order).
    pub pkey_index: u16,
    /// Reserved.
    pub reserved: [u8; 6],
}

/// Size of [`UserMadHeader`], the header after `IB_USER_MAD_ENABLE_PKEY`.
pub const HEADER_LEN: usize = 64;
/// Size of the header without `pkey_index` (`struct ib_user_mad_hdr_old`): what the kernel
/// uses before `ENABLE_PKEY`, and what the ibsim shim uses (see [`preloaded_umad_size`]).
pub const LEGACY_HEADER_LEN: usize = 56;

/// `struct ib_user_mad_reg_req` (for `IB_USER_MAD_REGISTER_AGENT`).
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RegisterRequest {
    /// Out: the agent id.
    pub id: u32,
    /// Methods to receive as unsolicited requests (bit n = method n): two native-endian
    /// `unsigned long`s; see [`method_mask_bytes`].
    pub method_mask: [u8; 16],
    /// QP (0 for SMI, 1 for GSI).
    pub qpn: u8,
    /// Management class.
    pub mgmt_class: u8,
    /// Class version.
    pub mgmt_class_version: u8,
    /// Vendor OUI (vendor classes only).
    pub oui: [u8; 3],
    /// 0: no RMPP in the kernel; 1: the kernel segments and reassembles.
    pub rmpp_version: u8,
    /// Padding to the C struct's alignment.
    pub pad: u8,
}

/// `struct ib_user_mad_reg_req2` (for `IB_USER_MAD_REGISTER_AGENT2`).
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RegisterRequest2 {
    /// Out: the agent id.
    pub id: u32,
    /// QP (0 or 1).
    pub qpn: u32,
    /// Management class.
    pub mgmt_class: u8,
    /// Class version.
    pub mgmt_class_version: u8,
    /// Reserved.
    pub res: u16,
    /// `IB_USER_MAD_USER_RMPP`: RMPP stays in user space.
    pub flags: u32,
    /// Methods to receive as unsolicited requests.
    pub method_mask: [u64; 2],
    /// Vendor OUI, 24 bits.
    pub oui: u32,
    /// RMPP version of the class.
    pub rmpp_version: u8,
    /// Reserved.
    pub reserved: [u8; 3],
}

/// The 128-bit method mask as the two native-endian 64-bit words both registration structs use.
pub fn method_mask_words(methods: &[u8]) -> [u64; 2] {
    let mut words = [0u64; 2];
    for &m in methods {
        words[(m as usize >> 6) & 1] |= 1 << (m & 63);
    }
    words
}

/// The method mask as bytes for [`RegisterRequest::method_mask`].
pub fn method_mask_bytes(methods: &[u8]) -> [u8; 16] {
    let [a, b] = method_mask_words(methods);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_ne_bytes());
    out[8..].copy_from_slice(&b.to_ne_bytes());
    out
}

/// `IB_USER_MAD_USER_RMPP`.
pub const USER_RMPP: u32 = 1;

const RDMA_IOCTL_MAGIC: u8 = 0x1b;

// The request numbers encode the struct sizes, so the layouts above must match the C ones
// exactly; the tests below pin the sizes.
nix::ioctl_readwrite!(ioctl_register_agent, RDMA_IOCTL_MAGIC, 0x01, RegisterRequest);
nix::ioctl_write_ptr!(ioctl_unregister_agent, RDMA_IOCTL_MAGIC, 0x02, u32);
nix::ioctl_none!(ioctl_enable_pkey, RDMA_IOCTL_MAGIC, 0x03);
nix::ioctl_readwrite!(ioctl_register_agent2, RDMA_IOCTL_MAGIC, 0x04, RegisterRequest2);

/// `IB_USER_MAD_REGISTER_AGENT`: fills in `req.id`.
pub fn register_agent(fd: RawFd, req: &mut RegisterRequest) -> Result<(), Errno> {
    // SAFETY: `req` is a valid, exclusively borrowed `struct ib_user_mad_reg_req` for the whole
    // call; the kernel (or shim) reads it and writes back `id` only.
    unsafe { ioctl_register_agent(fd, req) }.map(drop)
}

/// `IB_USER_MAD_REGISTER_AGENT2`: fills in `req.id`.
pub fn register_agent2(fd: RawFd, req: &mut RegisterRequest2) -> Result<(), Errno> {
    // SAFETY: as for `register_agent`, with `struct ib_user_mad_reg_req2`.
    unsafe { ioctl_register_agent2(fd, req) }.map(drop)
}

/// `IB_USER_MAD_UNREGISTER_AGENT`.
pub fn unregister_agent(fd: RawFd, id: u32) -> Result<(), Errno> {
    // SAFETY: the kernel reads one `__u32` through the pointer, which lives across the call.
    unsafe { ioctl_unregister_agent(fd, &id) }.map(drop)
}

/// `IB_USER_MAD_ENABLE_PKEY`: switch the fd to the 64-byte header with `pkey_index`.
pub fn enable_pkey(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: this ioctl takes no argument.
    unsafe { ioctl_enable_pkey(fd) }.map(drop)
}

/// The header size libibumad reports, when libibumad is loaded into this process.
///
/// localsa does not link libibumad, so it is only present when preloaded with the ibsim shim,
/// which sizes every header it reads or writes with libibumad's `umad_size()`. That is 56
/// unless the process opened a port through libibumad itself, which localsa never does, so
/// under the shim the header is the legacy one even though `ENABLE_PKEY` "succeeds".
pub fn preloaded_umad_size() -> Option<usize> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name has no preconditions; the
    // result is either null or the address of libibumad's `size_t umad_size(void)`.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"umad_size".as_ptr()) };
    if sym.is_null() {
        return None;
    }
    // SAFETY: the symbol is libibumad's `size_t umad_size(void)`, an argument-less function
    // returning size_t, as declared in <infiniband/umad.h>.
    let umad_size: extern "C" fn() -> libc::size_t = unsafe { std::mem::transmute(sym) };
    Some(umad_size())
}

/// An open umad device: a raw descriptor closed on drop.
///
/// Not an `OwnedFd`: under the ibsim shim the descriptor is a fake number (>= 1024) that only
/// the shim's `open/read/write/ioctl/poll/close` know. Rust's `OwnedFd` checks descriptors with
/// `fcntl`, which the shim does not intercept, and aborts the process on the fake ones.
#[derive(Debug)]
pub struct UmadFd(RawFd);

impl UmadFd {
    /// `open(2)` of `path` read-write, close-on-exec.
    pub fn open(path: &str) -> Result<UmadFd, Errno> {
        let c_path = std::ffi::CString::new(path).map_err(|_| Errno::EINVAL)?;
        // SAFETY: `c_path` is a valid NUL-terminated string for the duration of the call; the
        // flags need no third argument.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(Errno::last())
        } else {
            Ok(UmadFd(fd))
        }
    }

    /// The raw descriptor, for the ioctl and I/O functions of this module.
    pub fn raw(&self) -> RawFd {
        self.0
    }

    /// `poll(2)` for input on this descriptor alone. `Ok(true)` when readable.
    pub fn poll_readable(&self, timeout_ms: i32) -> Result<bool, Errno> {
        let mut pfd = libc::pollfd { fd: self.0, events: libc::POLLIN, revents: 0 };
        // SAFETY: `pfd` is one valid `struct pollfd` that outlives the call.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        match n {
            n if n < 0 => Err(Errno::last()),
            0 => Ok(false),
            _ => Ok(pfd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0),
        }
    }
}

impl Drop for UmadFd {
    fn drop(&mut self) {
        // SAFETY: the descriptor was opened by `UmadFd::open` and is closed exactly once here.
        unsafe { libc::close(self.0) };
    }
}

/// `read(2)` into `buf`, returning the byte count.
///
/// Called directly rather than through nix: the ibsim shim returns `-EWOULDBLOCK` as the
/// result of a read on an empty queue instead of -1 with errno, which nix would turn into a
/// huge positive count. Any negative result is mapped to an `Errno` here.
pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    match n {
        -1 => Err(Errno::last()),
        n if n < 0 => Err(Errno::from_raw(-(n as i32))),
        // `n` is at most `buf.len()` for any conforming implementation; clamp regardless.
        n => Ok((n as usize).min(buf.len())),
    }
}

/// `write(2)` of `buf`, returning the byte count.
pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// Takes ownership of a listening socket inherited from the service manager (systemd socket
/// activation passes them as descriptors 3, 4, ...; `LISTEN_FDS` says how many).
///
/// Not umad, but the one other place the process must turn a raw descriptor number into an
/// owned one, which std and nix only allow through `unsafe`; it lives here so that this file
/// stays the crate's only `unsafe`. The descriptor is checked first: it must be open
/// (`F_GETFD`), be a socket (`fstat`) and not be 0-2; it is then marked close-on-exec.
/// Returns `None` otherwise. Call it once per descriptor: a second call would own it twice.
pub fn adopt_inherited_socket(fd: RawFd) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 3 {
        return None;
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; any integer is a valid argument.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: `st` is a valid, writable `struct stat` for the duration of the call.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; fstat writes only into `st`.
    if unsafe { libc::fstat(fd, &mut st) } < 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return None;
    }
    // SAFETY: F_SETFD with FD_CLOEXEC changes only this descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: the descriptor is open (F_GETFD succeeded), is a socket, and was handed to this
    // process by its parent for it to own; the caller adopts each inherited number once.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<UserMadHeader>(), HEADER_LEN);
        assert_eq!(std::mem::size_of::<RegisterRequest>(), 28);
        assert_eq!(std::mem::size_of::<RegisterRequest2>(), 40);
        assert_eq!(std::mem::offset_of!(RegisterRequest2, method_mask), 16);
        assert_eq!(std::mem::offset_of!(UserMadHeader, gid), 36);
        assert_eq!(std::mem::offset_of!(UserMadHeader, pkey_index), 56);
    }

    #[test]
    fn request_numbers_match_the_c_macros() {
        // _IOWR(0x1b, 0x01, 28) and _IOWR(0x1b, 0x04, 40) as computed by <asm-generic/ioctl.h>.
        assert_eq!(nix::request_code_readwrite!(RDMA_IOCTL_MAGIC, 0x01, 28), 0xc01c_1b01);
        assert_eq!(nix::request_code_readwrite!(RDMA_IOCTL_MAGIC, 0x04, 40), 0xc028_1b04);
        assert_eq!(nix::request_code_none!(RDMA_IOCTL_MAGIC, 0x03), 0x1b03);
    }
}
