//! One connected client: its socket, what it has sent that is not yet a whole request, what
//! we have to send it that it has not read, and the requests it is waiting on.
//!
//! Sockets are nonblocking and served by the engine thread's epoll loop, so nothing here
//! blocks. Every buffer is bounded by the limits in [`ClientLimits`]; the runtime enforces
//! them (pausing reads, or dropping the client) after each operation.
//!
//! [`ClientLimits`]: super::config::ClientLimits

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use nix::sys::epoll::EpollFlags;
use nix::sys::socket::UnixCredentials;

use super::dump::DumpStream;
use crate::server::acm::Endpoint;

/// Which protocol a client speaks (which socket it came in on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The ibacm binary protocol.
    Acm,
    /// Newline-delimited JSON.
    Admin,
}

impl Protocol {
    /// The name used in logs and counters.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Acm => "acm",
            Protocol::Admin => "admin",
        }
    }
}

/// A request waiting for the engine, and how to answer it.
#[derive(Debug, Clone)]
pub enum Waiting {
    /// An ACM resolve: echo `tid`; `source` is the source entry to append (address form
    /// without a source).
    Acm {
        /// The request's tid.
        tid: u64,
        /// The source we chose for the client, if we name it.
        source: Option<Endpoint>,
    },
    /// An admin resolve: echo `id`.
    Admin {
        /// The request's `id`.
        id: serde_json::Value,
    },
}

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes appended to the input buffer.
    pub bytes: usize,
    /// The peer will send nothing more (EOF).
    pub eof: bool,
}

/// A connected client.
#[derive(Debug)]
pub struct Client {
    /// The socket (nonblocking).
    pub stream: UnixStream,
    /// Its protocol.
    pub protocol: Protocol,
    /// The peer's credentials at connect time (`SO_PEERCRED`).
    pub cred: Option<UnixCredentials>,
    /// Whether the peer may use privileged operations, once asked.
    pub privileged: Option<bool>,
    /// Received bytes not yet consumed as requests.
    pub inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// Requests waiting for an engine, by request id: which port's engine, and how to answer.
    pub waiting: HashMap<u32, (usize, Waiting)>,
    next_request: u32,
    /// The epoll interest currently registered.
    pub interest: EpollFlags,
    /// Since when the input buffer has held part of a request.
    pub partial_since: Option<Instant>,
    /// The peer shut its sending side: answer what is pending, then close.
    pub read_closed: bool,
    /// Reading is paused: `max_outstanding` requests are waiting (for the pause counter).
    pub paused: bool,
    /// Subscribed to the admin event stream.
    pub events: bool,
    /// A `dump` being streamed.
    pub dump: Option<DumpStream>,
    /// Close once the output buffer is written (after a fatal protocol error or shutdown).
    pub close_after_flush: bool,
    /// Since when it has been waiting to close; a peer that never reads its last answers
    /// is dropped after the partial-request timeout.
    pub closing_since: Option<Instant>,
    /// Set when the client broke a limit; the runtime drops it at the next opportunity.
    pub doomed: Option<&'static str>,
    /// When it connected.
    pub since: Instant,
}

impl Client {
    /// A client on `stream`.
    pub fn new(
        stream: UnixStream,
        protocol: Protocol,
        cred: Option<UnixCredentials>,
        now: Instant,
    ) -> Client {
        Client {
            stream,
            protocol,
            cred,
            privileged: None,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            waiting: HashMap::new(),
            next_request: 0,
            interest: EpollFlags::empty(),
            partial_since: None,
            read_closed: false,
            paused: false,
            events: false,
            dump: None,
            close_after_flush: false,
            closing_since: None,
            doomed: None,
            since: now,
        }
    }

    /// A fresh request id (per connection; wraps after 2^32 requests, long after any request
    /// with the same id has been answered).
    pub fn next_request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        id
    }

    /// Answer bytes not yet written.
    pub fn buffered(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Appends an answer to the output buffer.
    pub fn queue(&mut self, bytes: &[u8]) {
        if self.out_pos > 0 && self.out_pos >= self.out.len() / 2 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        self.out.extend_from_slice(bytes);
    }

    /// Writes as much buffered output as the socket takes. `Ok(true)` when all is written.
    pub fn flush(&mut self) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            match (&self.stream).write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        // Give memory back after a large answer (a dump chunk, a burst of answers).
        if self.out.capacity() > 256 << 10 {
            self.out.shrink_to(64 << 10);
        }
        Ok(true)
    }

    /// Reads what the socket has, up to `budget` bytes, into the input buffer.
    pub fn read_some(&mut self, budget: usize) -> io::Result<ReadOutcome> {
        let mut chunk = [0u8; 16 << 10];
        let mut total = 0;
        while total < budget {
            let want = chunk.len().min(budget - total);
            match (&self.stream).read(&mut chunk[..want]) {
                Ok(0) => return Ok(ReadOutcome { bytes: total, eof: true }),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(ReadOutcome { bytes: total, eof: false })
    }

    /// Drops `n` consumed bytes from the front of the input buffer.
    pub fn consume(&mut self, n: usize) {
        self.inbuf.drain(..n.min(self.inbuf.len()));
    }

    /// Notes whether a partial request sits in the buffer, for the partial-request timeout.
    pub fn mark_partial(&mut self, now: Instant) {
        if self.inbuf.is_empty() {
            self.partial_since = None;
        } else if self.partial_since.is_none() {
            self.partial_since = Some(now);
        }
    }

    /// Answers what was already decoded, then hangs up; nothing more is read.
    pub fn close_when_flushed(&mut self, now: Instant) {
        self.inbuf.clear();
        self.partial_since = None;
        self.close_after_flush = true;
        self.closing_since.get_or_insert(now);
    }

    /// Nothing left to do for a client whose peer stopped sending.
    pub fn finished(&self) -> bool {
        self.waiting.is_empty() && self.buffered() == 0 && self.dump.is_none()
    }
}
