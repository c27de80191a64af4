//! localsa's side of a kernel test: a umad port registered the way localsa registers
//! (`REGISTER_AGENT2` + `USER_RMPP`) and the core's RMPP [`Endpoint`], in a plain poll loop,
//! with hooks that drop, hold back or damage MADs on purpose.

use std::time::{Duration, Instant};

use localsa::umad::{PortAttributes, UmadPort};
use localsa_core::rmpp::{Config, Endpoint, Event, Outcome, RecvId, SendId};
use localsa_core::time::{Duration as CoreDuration, Instant as CoreInstant};
use localsa_core::wire::{MadAddress, RmppType, SaMad, MAD_LEN};

use crate::records;
use crate::trace::{Dir, Seen, Trace};

/// Offset of RMPPStatus in a MAD.
const RMPP_STATUS_OFFSET: usize = 27;

/// When the hooks hold back our receiver's control MADs (ACK, STOP, ABORT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hold {
    /// Every control MAD goes out.
    #[default]
    Never,
    /// Control MADs are dropped until this moment, then go out again.
    Until(Instant),
    /// Every control MAD is dropped.
    Always,
}

/// Faults the driver injects into what our RMPP endpoint sends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hooks {
    /// Skip the first transmission of this DATA segment (the sender resends it later).
    pub drop_segment_once: Option<u32>,
    /// Send this DATA segment once with RMPPStatus 1 (illegal in DATA): a peer must ABORT.
    pub damage_segment_once: Option<u32>,
    /// Hold back ACK, STOP and ABORT.
    pub hold_control: Hold,
    /// Lose the first incoming ACK for this segment: it never reaches our endpoint.
    pub lose_incoming_ack_once: Option<u32>,
}

/// Something a turn of the loop produced for the test.
#[derive(Debug, Clone)]
pub enum Happening {
    /// A MAD that is not RMPP (e.g. a GetTable request to answer).
    Plain {
        /// Who sent it.
        from: MadAddress,
        /// The MAD.
        mad: Vec<u8>,
    },
    /// The kernel reports one of our sends as failed.
    SendFailed {
        /// The errno.
        status: u32,
    },
    /// An RMPP transfer ended.
    Event(Event),
}

/// The endpoint every test uses: one receive and one send slot of the given sizes.
pub type Ep<const RX_CAP: usize, const TX_CAP: usize> = Endpoint<1, RX_CAP, 1, TX_CAP>;

/// localsa's side: a port, an RMPP endpoint, a clock, hooks and a trace.
#[derive(Debug)]
pub struct Driver<const RX_CAP: usize, const TX_CAP: usize> {
    port: UmadPort,
    ep: Box<Ep<RX_CAP, TX_CAP>>,
    epoch: Instant,
    /// The faults to inject.
    pub hooks: Hooks,
    /// Every MAD in and out.
    pub trace: Trace,
    /// Every outcome of a received RMPP MAD other than Accepted, with its time.
    pub outcomes: Vec<(u64, Outcome)>,
}

impl<const RX_CAP: usize, const TX_CAP: usize> Driver<RX_CAP, TX_CAP> {
    /// Opens the port as localsa does (`kernel_rmpp` false) with an agent for `methods`.
    pub fn open(attrs: &PortAttributes, methods: &[u8], config: Config) -> Result<Self, String> {
        let port = UmadPort::open(attrs.clone(), methods, false).map_err(|e| e.to_string())?;
        Ok(Driver {
            port,
            ep: Box::new(Endpoint::new(config)),
            epoch: Instant::now(),
            hooks: Hooks::default(),
            trace: Trace::default(),
            outcomes: Vec::new(),
        })
    }

    /// The port.
    pub fn port(&self) -> &UmadPort {
        &self.port
    }

    /// The RMPP endpoint.
    pub fn ep(&mut self) -> &mut Ep<RX_CAP, TX_CAP> {
        &mut self.ep
    }

    /// Milliseconds since the driver started.
    pub fn ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Now, for the core.
    pub fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Sends a MAD outside RMPP (a request, or a hand-made control MAD).
    pub fn send_plain(&mut self, to: &MadAddress, mad: &[u8], timeout_ms: u32) -> Result<(), String> {
        self.trace.push(self.ms(), Dir::Out, mad);
        self.port.send(to, mad, timeout_ms).map_err(|e| e.to_string())
    }

    /// Starts the RMPP answer of `n` records of `seed` to `request` from `from`.
    pub fn start_answer(
        &mut self,
        from: MadAddress,
        request: &SaMad,
        n: usize,
        seed: u32,
    ) -> Result<SendId, String> {
        let headers = records::answer_headers(request);
        let data = records::table_data(n, seed);
        let now = self.now();
        let id = self.ep.start(now, from, &headers, &data).map_err(|e| e.to_string())?;
        self.flush()?;
        Ok(id)
    }

    /// One turn: send what is due, wait up to `max_wait` (less if a timer runs out) for one
    /// MAD and hand it to the endpoint, run the timers, send again, and report what happened.
    pub fn turn(&mut self, max_wait: Duration) -> Result<Vec<Happening>, String> {
        let mut out = Vec::new();
        self.flush()?;
        let mut wait = max_wait;
        if let Some(at) = self.ep.poll_at() {
            let left: CoreDuration = at.saturating_since(self.now());
            wait = wait.min(Duration::from_micros(left.as_micros()));
        }
        if let Some(rx) = self.port.recv(wait).map_err(|e| e.to_string())? {
            let at = self.ms();
            if rx.status != 0 {
                self.trace.push(at, Dir::Failed, &rx.mad);
                out.push(Happening::SendFailed { status: rx.status });
            } else if self.lose(&rx.mad) {
                self.trace.push(at, Dir::Held, &rx.mad);
            } else {
                self.trace.push(at, Dir::In, &rx.mad);
                let now = self.now();
                match self.ep.handle(now, rx.from, &rx.mad) {
                    Outcome::NotRmpp | Outcome::Malformed(_) => {
                        out.push(Happening::Plain { from: rx.from, mad: rx.mad });
                    }
                    Outcome::Accepted => {}
                    other => self.outcomes.push((at, other)),
                }
            }
        }
        let now = self.now();
        self.ep.handle_timeout(now);
        self.flush()?;
        while let Some(event) = self.ep.poll_event() {
            out.push(Happening::Event(event));
        }
        Ok(out)
    }

    /// Turns until `stop` picks something from what happened, or `limit` passes.
    pub fn run_until<T>(
        &mut self,
        limit: Duration,
        mut stop: impl FnMut(&mut Self, Happening) -> Result<Option<T>, String>,
    ) -> Result<Option<T>, String> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            for h in self.turn(left.min(Duration::from_millis(50)))? {
                if let Some(t) = stop(self, h)? {
                    return Ok(Some(t));
                }
            }
        }
        Ok(None)
    }

    /// Turns until `done` holds for the driver (its trace, its outcomes), or `limit` passes.
    /// Returns what happened meanwhile and whether `done` held.
    pub fn wait_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<(bool, Vec<Happening>), String> {
        let mut all = Vec::new();
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if done(self) {
                return Ok((true, all));
            }
            all.extend(self.turn(left.min(Duration::from_millis(50)))?);
        }
        Ok((done(self), all))
    }

    /// Turns for `span`, collecting what happened.
    pub fn idle(&mut self, span: Duration) -> Result<Vec<Happening>, String> {
        let mut all = Vec::new();
        let deadline = Instant::now() + span;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            all.extend(self.turn(left.min(Duration::from_millis(50)))?);
        }
        Ok(all)
    }

    /// Turns until a receive completes (its id and bytes) or fails (an error naming why).
    pub fn wait_received(&mut self, limit: Duration) -> Result<(RecvId, Vec<u8>), String> {
        let got = self.run_until(limit, |d, h| match h {
            Happening::Event(Event::Received { id, .. }) => {
                let bytes = d.ep.received(id).map(<[u8]>::to_vec).unwrap_or_default();
                Ok(Some((id, bytes)))
            }
            Happening::Event(Event::ReceiveFailed { failure, .. }) => {
                Err(format!("receive failed: {failure}"))
            }
            Happening::SendFailed { status } => {
                Err(format!("our request failed: {}", crate::errno_name(status)))
            }
            _ => Ok(None),
        })?;
        got.ok_or_else(|| format!("no complete answer within {} ms", limit.as_millis()))
    }

    /// Sends everything the endpoint has to send, through the hooks.
    pub fn flush(&mut self) -> Result<(), String> {
        let mut buf = [0u8; MAD_LEN];
        loop {
            let now = self.now();
            let Some((to, len)) = self.ep.poll_transmit(now, &mut buf) else { return Ok(()) };
            let mad = &mut buf[..len];
            let at = self.ms();
            let Some(seen) = Seen::of(at, Dir::Out, mad) else { continue };
            if self.hold(&seen) {
                self.trace.push(at, Dir::Held, mad);
                continue;
            }
            if seen.is_data() && self.hooks.damage_segment_once == Some(seen.seg) {
                self.hooks.damage_segment_once = None;
                if let Some(b) = mad.get_mut(RMPP_STATUS_OFFSET) {
                    *b = 1;
                }
            }
            self.trace.push(at, Dir::Out, mad);
            self.port.send(&to, mad, 0).map_err(|e| e.to_string())?;
        }
    }

    /// Whether the hooks keep an incoming MAD from our endpoint.
    fn lose(&mut self, mad: &[u8]) -> bool {
        let Some(seg) = self.hooks.lose_incoming_ack_once else { return false };
        let hit = Seen::of(0, Dir::In, mad).is_some_and(|s| s.rmpp_type == RmppType::Ack && s.seg == seg);
        if hit {
            self.hooks.lose_incoming_ack_once = None;
        }
        hit
    }

    /// Whether the hooks keep `seen` from going out.
    fn hold(&mut self, seen: &Seen) -> bool {
        if seen.is_data() && self.hooks.drop_segment_once == Some(seen.seg) {
            self.hooks.drop_segment_once = None;
            return true;
        }
        let control = matches!(seen.rmpp_type, RmppType::Ack | RmppType::Stop | RmppType::Abort);
        control
            && match self.hooks.hold_control {
                Hold::Never => false,
                Hold::Until(t) => Instant::now() < t,
                Hold::Always => true,
            }
    }
}
