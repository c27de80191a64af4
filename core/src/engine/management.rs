//! Keeping in touch with the SA: its ClassPortInfo (RespTimeValue sets our timeouts), a
//! heartbeat that notices an SA that went away and came back, and the trap subscriptions
//! that keep the cache coherent.

use heapless::Deque;

use super::event::{Invalidation, Notice};
use super::pending::State;
use super::{Engine, SmChangePolicy, Stats, Transmit};
use crate::table::PinPolicy;
use crate::time::Instant;
use crate::wire::{
    request, AttributeId, ClassPortInfoRepr, InformInfoRepr, Method, SaAttribute, SaPacket, TrapNumber,
    MAD_LEN,
};

/// The traps a path cache subscribes to: GID in and out of service, and a port's
/// capabilities or system image changing (which may change its paths).
pub(super) const TRAPS: [TrapNumber; 4] = [
    TrapNumber::GidInService,
    TrapNumber::GidOutOfService,
    TrapNumber::CapabilityMaskChanged,
    TrapNumber::SystemImageGuidChanged,
];

/// One management transaction's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Txn {
    /// Nothing to do until the next heartbeat.
    Idle,
    /// To be sent by the next `poll_transmit`.
    Needed { attempts: u8 },
    /// Sent as `tid`.
    Outstanding { tid: u32, deadline: Instant, attempts: u8 },
}

/// What the other side last said: nothing yet, yes or no. (An enum rather than
/// `Option<bool>`, whose `None` is the byte 2: an empty engine must be all zero bytes.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Verdict {
    /// Not known yet.
    Unknown,
    /// Yes.
    Yes,
    /// No.
    No,
}

impl Verdict {
    pub(super) fn of(b: bool) -> Verdict {
        if b {
            Verdict::Yes
        } else {
            Verdict::No
        }
    }

    pub(super) fn known(self) -> Option<bool> {
        match self {
            Verdict::Unknown => None,
            Verdict::Yes => Some(true),
            Verdict::No => Some(false),
        }
    }
}

/// One trap subscription.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subscription {
    pub trap: TrapNumber,
    pub txn: Txn,
    /// What the SA said last: accepted, refused, or nothing yet.
    pub accepted: Verdict,
}

/// What the engine knows about its SA.
#[derive(Debug)]
pub(super) struct Management {
    /// Whether the SA answered recently.
    pub reachable: Verdict,
    /// The SA's RespTimeValue, once known.
    pub resp_time_value: Option<u8>,
    /// The ClassPortInfo fields whose change means a different SA.
    last: Option<(u16, u8, u16, u32)>,
    cpi: Txn,
    next_heartbeat: Instant,
    subs: [Subscription; TRAPS.len()],
}

impl Management {
    /// Nothing known, nothing planned: all zero bytes.
    pub(super) const EMPTY: Management = Management {
        reachable: Verdict::Unknown,
        resp_time_value: None,
        last: None,
        cpi: Txn::Idle,
        next_heartbeat: Instant::ZERO,
        subs: [Subscription { trap: TrapNumber::GidInService, txn: Txn::Idle, accepted: Verdict::Unknown };
            TRAPS.len()],
    };

    /// Plans the start-up: ClassPortInfo now, then the subscriptions if wanted; the first
    /// heartbeat one `heartbeat` later (not at once, which would repeat the start-up).
    pub(super) fn start(&mut self, now: Instant, subscribe: bool, heartbeat: crate::time::Duration) {
        let txn = if subscribe { Txn::Needed { attempts: 0 } } else { Txn::Idle };
        *self = Management {
            cpi: Txn::Needed { attempts: 0 },
            next_heartbeat: now + heartbeat,
            subs: TRAPS.map(|trap| Subscription { trap, txn, accepted: Verdict::Unknown }),
            ..Management::EMPTY
        };
    }

    pub(super) fn has_transmit(&self) -> bool {
        matches!(self.cpi, Txn::Needed { .. })
            || self.subs.iter().any(|s| matches!(s.txn, Txn::Needed { .. }))
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let mut at = Some(self.next_heartbeat);
        let mut take = |t: Instant| at = Some(at.map_or(t, |a| if t < a { t } else { a }));
        if let Txn::Outstanding { deadline, .. } = self.cpi {
            take(deadline);
        }
        for s in &self.subs {
            if let Txn::Outstanding { deadline, .. } = s.txn {
                take(deadline);
            }
        }
        at
    }

    /// An SA answer arrived: if the SA was unreachable, it is back. Returns whether it came
    /// back (the caller then treats it as a possibly new SM).
    pub(super) fn reachable_again(
        &mut self,
        _now: Instant,
        events: &mut Deque<Notice, 16>,
        _stats: &mut Stats,
    ) -> bool {
        let back = self.reachable == Verdict::No;
        if self.reachable != Verdict::Yes {
            self.reachable = Verdict::Yes;
            if events.is_full() {
                events.pop_front();
            }
            let _ = events.push_back(Notice::SaReachable(true));
        }
        back
    }

    /// The subscription states, for statistics and tests.
    #[allow(dead_code)]
    pub(super) fn subscriptions(&self) -> &[Subscription] {
        &self.subs
    }
}

impl<
        const T: usize,
        const P: usize,
        const W: usize,
        const RXS: usize,
        const RXC: usize,
        const TXS: usize,
        const TXC: usize,
    > Engine<T, P, W, RXS, RXC, TXS, TXC>
{
    /// The next ClassPortInfo query or subscription to send.
    pub(super) fn mgmt_transmit(&mut self, now: Instant, buf: &mut [u8; MAD_LEN]) -> Option<Transmit> {
        if let Txn::Needed { attempts } = self.mgmt.cpi {
            let tid = self.tid();
            let timeout = self.attempt_timeout(attempts);
            let len = request::class_port_info_get(buf, tid as u64).ok()?;
            self.mgmt.cpi = Txn::Outstanding { tid, deadline: now + timeout, attempts: attempts + 1 };
            self.stats.class_port_info_queries += 1;
            return Some(Transmit { to: self.sa_address(), len, response_timeout: Some(timeout) });
        }
        let i = self.mgmt.subs.iter().position(|s| matches!(s.txn, Txn::Needed { .. }))?;
        let Txn::Needed { attempts } = self.mgmt.subs[i].txn else { return None };
        let tid = self.tid();
        let timeout = self.attempt_timeout(attempts);
        let info = InformInfoRepr::generic_subscription(self.mgmt.subs[i].trap, true);
        let len = request::inform_info_set(buf, tid as u64, &info).ok()?;
        self.mgmt.subs[i].txn = Txn::Outstanding { tid, deadline: now + timeout, attempts: attempts + 1 };
        self.stats.subscriptions_sent += 1;
        Some(Transmit { to: self.sa_address(), len, response_timeout: Some(timeout) })
    }

    /// An answer to one of our management queries? Handles it and says so.
    pub(super) fn mgmt_answer(&mut self, now: Instant, tid: u32, packet: &SaPacket<&[u8]>) -> bool {
        let h = packet.mad_header();
        let ok = h.status.get() == 0;
        if matches!(self.mgmt.cpi, Txn::Outstanding { tid: t, .. } if t == tid) {
            self.mgmt.cpi = Txn::Idle;
            if self.mgmt.reachable_again(now, &mut self.events, &mut self.stats) {
                // The SA stopped answering and answers again: it may have restarted and
                // forgotten our subscriptions.
                self.sm_changed(now);
            }
            let cpi = (h.attribute_id() == AttributeId::ClassPortInfo && ok)
                .then(|| ClassPortInfoRepr::decode(packet.data()).ok())
                .flatten();
            if let Some(cpi) = cpi {
                self.mgmt.resp_time_value = Some(cpi.resp_time_value);
                let now_seen = (cpi.capability_mask, cpi.resp_time_value, cpi.redirect_lid, cpi.redirect_qp);
                let changed = self.mgmt.last.is_some_and(|l| l != now_seen);
                self.mgmt.last = Some(now_seen);
                if changed {
                    self.sm_changed(now);
                }
            }
            return true;
        }
        let Some(i) =
            self.mgmt.subs.iter().position(|s| matches!(s.txn, Txn::Outstanding { tid: t, .. } if t == tid))
        else {
            return false;
        };
        let accepted = ok && h.method() == Method::GetResp;
        let sub = &mut self.mgmt.subs[i];
        sub.txn = Txn::Idle;
        let changed = sub.accepted != Verdict::of(accepted);
        sub.accepted = Verdict::of(accepted);
        let trap = sub.trap;
        if changed {
            self.push_event(Notice::Subscribed { trap, accepted });
        }
        if self.mgmt.reachable_again(now, &mut self.events, &mut self.stats) {
            self.sm_changed(now);
        }
        true
    }

    /// Management timers: retries, the SA going quiet, the heartbeat.
    pub(super) fn mgmt_timeouts(&mut self, now: Instant) {
        let max = self.config.max_retries;
        if let Txn::Outstanding { deadline, attempts, .. } = self.mgmt.cpi {
            if deadline <= now {
                if attempts > max {
                    self.mgmt.cpi = Txn::Idle;
                    if self.mgmt.reachable != Verdict::No {
                        self.mgmt.reachable = Verdict::No;
                        warn!("engine: SA at LID {} does not answer ClassPortInfo", self.sa_address().lid);
                        self.push_event(Notice::SaReachable(false));
                    }
                } else {
                    self.mgmt.cpi = Txn::Needed { attempts };
                }
            }
        }
        for sub in self.mgmt.subs.iter_mut() {
            if let Txn::Outstanding { deadline, attempts, .. } = sub.txn {
                if deadline <= now {
                    // Out of retries: try again at the next heartbeat.
                    sub.txn = if attempts > max { Txn::Idle } else { Txn::Needed { attempts } };
                }
            }
        }
        if self.mgmt.next_heartbeat <= now {
            self.mgmt.next_heartbeat = now + self.config.heartbeat;
            if self.mgmt.cpi == Txn::Idle {
                self.mgmt.cpi = Txn::Needed { attempts: 0 };
            }
            // Renew accepted subscriptions (OpenSM keeps one record per identical request,
            // so this is idempotent) and retry ones that never got an answer. Refused ones wait
            // for a new SM.
            for sub in self.mgmt.subs.iter_mut() {
                if self.config.subscribe && sub.txn == Txn::Idle && sub.accepted != Verdict::No {
                    sub.txn = Txn::Needed { attempts: 0 };
                }
            }
        }
    }

    /// A PathRecord query timed out completely: check the SA now rather than at the next
    /// heartbeat.
    pub(super) fn sa_unreachable_hint(&mut self) {
        if self.mgmt.cpi == Txn::Idle {
            self.mgmt.cpi = Txn::Needed { attempts: 0 };
        }
    }

    /// A new subnet manager (or the old one back from the dead): the cache goes stale or is
    /// flushed, subscriptions are renewed, outstanding queries are resent to the new SA.
    pub(super) fn sm_changed(&mut self, now: Instant) {
        self.stats.sm_changes += 1;
        let entries = match self.config.sm_change {
            SmChangePolicy::Revalidate => {
                self.table.bump_generation();
                self.table.len() - self.table.pinned_len()
            }
            SmChangePolicy::Flush => self.table.flush(PinPolicy::Keep),
        };
        let sa_lid = self.sa_address().lid;
        info!("engine: subnet manager change (SA LID {}), {} cached entries affected", sa_lid, entries);
        self.push_event(Notice::Invalidated { what: Invalidation::SmChanged { sa_lid }, entries });
        if self.mgmt.cpi == Txn::Idle {
            self.mgmt.cpi = Txn::Needed { attempts: 0 };
        }
        if self.config.subscribe {
            for sub in self.mgmt.subs.iter_mut() {
                sub.accepted = Verdict::Unknown;
                if !matches!(sub.txn, Txn::Outstanding { .. }) {
                    sub.txn = Txn::Needed { attempts: 0 };
                }
            }
        }
        let used: heapless::Vec<usize, P> = self.pending.used().collect();
        for s in used {
            if matches!(self.pending.get(s).map(|p| &p.state), Some(State::Outstanding { .. })) {
                self.pending.set_state(s, State::Ready);
            }
        }
        self.bulk.refetch_soon(now);
    }
}
