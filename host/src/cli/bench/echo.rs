//! The physical baseline: a server that answers every ACM message with a fixed answer of the
//! daemon's size, with the daemon's structure (one thread, epoll over nonblocking sockets, an
//! output buffer per client) and none of its work. What it reaches is what the sockets and
//! the scheduler allow on this machine.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::server::acm::{HDR_LEN, OP_MASK, OP_RESOLVE};

const LISTENER: u64 = u64::MAX;

struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    writing: bool,
}

/// Serves `socket` forever (until killed): every complete request gets `reply`, its TID
/// replaced by the request's.
pub fn serve(socket: &Path, reply: &[u8]) -> Result<(), String> {
    if reply.len() < HDR_LEN {
        return Err("echo reply shorter than an ACM header".into());
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(|e| format!("bind {}: {e}", socket.display()))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll: {e}"))?;
    let ep = |e: nix::Error| format!("epoll_ctl: {e}");
    epoll.add(listener.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, LISTENER)).map_err(ep)?;
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next = 0u64;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("epoll_wait: {e}")),
        };
        for ev in &events[..n] {
            let key = ev.data();
            if key == LISTENER {
                while let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true).map_err(|e| e.to_string())?;
                    epoll.add(stream.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, next)).map_err(ep)?;
                    conns
                        .insert(next, Conn { stream, inbuf: Vec::new(), outbuf: Vec::new(), writing: false });
                    next += 1;
                }
                continue;
            }
            let Some(c) = conns.get_mut(&key) else { continue };
            let open = service(c, reply, &mut chunk);
            if !open {
                let _ = epoll.delete(c.stream.as_fd());
                conns.remove(&key);
                continue;
            }
            // Wait for writability only while something is left to write.
            let want = !c.outbuf.is_empty();
            if want != c.writing {
                c.writing = want;
                let flags =
                    if want { EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT } else { EpollFlags::EPOLLIN };
                epoll.modify(c.stream.as_fd(), &mut EpollEvent::new(flags, key)).map_err(ep)?;
            }
        }
    }
}

/// Reads what is there, answers every complete request, writes what it can. `false` when
/// the client is gone.
fn service(c: &mut Conn, reply: &[u8], chunk: &mut [u8]) -> bool {
    loop {
        match c.stream.read(chunk) {
            Ok(0) => return false,
            Ok(n) => c.inbuf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    let mut used = 0;
    while c.inbuf.len() - used >= HDR_LEN {
        let h = &c.inbuf[used..];
        let raw = [h[6], h[7]];
        let len =
            if h[1] & OP_MASK == OP_RESOLVE { u16::from_ne_bytes(raw) } else { u16::from_be_bytes(raw) };
        let len = usize::from(len).max(HDR_LEN);
        if c.inbuf.len() - used < len {
            break;
        }
        let at = c.outbuf.len();
        c.outbuf.extend_from_slice(reply);
        c.outbuf[at + 8..at + 16].copy_from_slice(&c.inbuf[used + 8..used + 16]);
        used += len;
    }
    c.inbuf.drain(..used);
    while !c.outbuf.is_empty() {
        match c.stream.write(&c.outbuf) {
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    true
}
