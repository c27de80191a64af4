//! A compact record of every MAD a test sees or sends, with its time: what the tests count
//! (retransmitted segments, ACKs) and what a failing test prints.

use std::fmt;

use localsa_core::wire::{RmppFlags, RmppType, SaMad, SaPacket};

/// Which way a MAD went, or what a test hook did with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Read from umad.
    In,
    /// Written to umad.
    Out,
    /// A send of ours the kernel reports as failed (`status` != 0).
    Failed,
    /// Held back by a test hook (a segment dropped, an ACK withheld).
    Held,
}

/// One MAD, reduced to what RMPP tests look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Milliseconds since the driver started.
    pub at_ms: u64,
    /// Direction.
    pub dir: Dir,
    /// Method, response bit included.
    pub method: u8,
    /// TransactionID.
    pub tid: u64,
    /// RMPP type (0 when not RMPP).
    pub rmpp_type: RmppType,
    /// RMPP flags.
    pub flags: RmppFlags,
    /// RMPPStatus.
    pub status: u8,
    /// SegmentNumber.
    pub seg: u32,
    /// PayloadLength (DATA) or NewWindowLast (ACK).
    pub data2: u32,
    /// Bytes of the MAD.
    pub len: usize,
}

impl Seen {
    /// Reads `mad`'s headers; `None` for bytes that are not an SA MAD header.
    pub fn of(at_ms: u64, dir: Dir, mad: &[u8]) -> Option<Seen> {
        let packet = SaPacket::new_checked(mad).ok()?;
        let h = SaMad::parse(&packet).ok()?;
        let active = h.rmpp.flags.contains(RmppFlags::ACTIVE);
        Some(Seen {
            at_ms,
            dir,
            method: h.header.method.raw(),
            tid: h.header.transaction_id,
            rmpp_type: if active { h.rmpp.rmpp_type } else { RmppType::None },
            flags: h.rmpp.flags,
            status: h.rmpp.status.raw(),
            seg: h.rmpp.data1,
            data2: h.rmpp.data2,
            len: mad.len(),
        })
    }

    /// Whether this is a DATA segment.
    pub fn is_data(&self) -> bool {
        self.rmpp_type == RmppType::Data
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.dir {
            Dir::In => "<-",
            Dir::Out => "->",
            Dir::Failed => "x>",
            Dir::Held => "||",
        };
        write!(f, "{}ms {dir} m{:#04x}", self.at_ms, self.method)?;
        match self.rmpp_type {
            RmppType::None => write!(f, " plain {}B", self.len),
            RmppType::Data => write!(f, " DATA {} pl={}", self.seg, self.data2),
            RmppType::Ack => write!(f, " ACK {}/{}", self.seg, self.data2),
            t => write!(f, " {} status={}", t.name().unwrap_or("type?"), self.status),
        }
    }
}

/// Every MAD seen, in order.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    /// The entries.
    pub seen: Vec<Seen>,
}

impl Trace {
    /// Adds `mad` if it parses.
    pub fn push(&mut self, at_ms: u64, dir: Dir, mad: &[u8]) {
        if let Some(s) = Seen::of(at_ms, dir, mad) {
            self.seen.push(s);
        }
    }

    /// The entries going `dir`.
    pub fn by(&self, dir: Dir) -> impl Iterator<Item = &Seen> {
        self.seen.iter().filter(move |s| s.dir == dir)
    }

    /// How many DATA segments numbered `seg` went `dir`.
    pub fn data_count(&self, dir: Dir, seg: u32) -> usize {
        self.by(dir).filter(|s| s.is_data() && s.seg == seg).count()
    }

    /// The entries of `rmpp_type` going `dir`.
    pub fn of_type(&self, dir: Dir, rmpp_type: RmppType) -> Vec<Seen> {
        self.by(dir).filter(|s| s.rmpp_type == rmpp_type).copied().collect()
    }

    /// The ACKs going `dir`, as `seg/nwl@ms` text.
    pub fn acks(&self, dir: Dir) -> String {
        let v: Vec<String> = self
            .of_type(dir, RmppType::Ack)
            .iter()
            .map(|s| format!("{}/{}@{}ms", s.seg, s.data2, s.at_ms))
            .collect();
        v.join(",")
    }

    /// The last `n` entries, one per line (for a failing test's log).
    pub fn tail(&self, n: usize) -> String {
        let skip = self.seen.len().saturating_sub(n);
        self.seen[skip..].iter().map(|s| format!("  {s}\n")).collect()
    }
}
