//! Replica mode: a leaf engine whose upstream is a replica engine whose upstream is the SA.
//! Three parties on an in-memory network that can drop MADs.

use std::boxed::Box;
use std::vec::Vec;

use super::tests::{config, events, gid, resolved, ScriptedSa, TestEngine, SA_LID};
use super::*;
use crate::table::Query;
use crate::wire::{AttributeId, SaMad, SaPacket};

/// A replica needs send slots as large as its biggest table answer.
type ReplicaEngine = Engine<1024, 64, 2048, 2, { 56 + 64 * 1100 }, 2, { 56 + 64 * 1100 }>;

const REPLICA: u16 = 2;
const LEAF: u16 = 7;

fn local(lid: u16) -> LocalPort {
    LocalPort::infiniband(lid, gid(lid), SA_LID)
}

/// The three parties and what travels between them.
struct Net {
    sa: ScriptedSa,
    replica: Box<ReplicaEngine>,
    leaf: Box<TestEngine>,
    /// Drop one MAD in `loss_in` (pseudo-random, seeded).
    loss_in: u64,
    rng: u64,
    /// (from, to, bytes) seen on the wire, for counting.
    wire: Vec<(u16, u16, SaMad)>,
    dropped: usize,
}

impl Net {
    fn new(now: Instant, leaf_mode: Mode, ports: u16) -> Net {
        let replica_cfg = Config { serve_sa: true, ..config() };
        let leaf_cfg = Config { upstream: Upstream::Lid(REPLICA), mode: leaf_mode, ..config() };
        Net {
            sa: ScriptedSa::new(ports),
            replica: Box::new(ReplicaEngine::new(now, replica_cfg, local(REPLICA))),
            leaf: Box::new(TestEngine::new(now, leaf_cfg, local(LEAF))),
            loss_in: 0,
            rng: 0x2545_f491_4f6c_dd1d,
            wire: Vec::new(),
            dropped: 0,
        }
    }

    fn lost(&mut self) -> bool {
        if self.loss_in == 0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let lost = self.rng % self.loss_in == 0;
        self.dropped += lost as usize;
        lost
    }

    fn deliver(&mut self, now: Instant, from: u16, to: u16, mad: &[u8]) {
        if let Ok(p) = SaPacket::new_checked(mad) {
            if let Ok(h) = SaMad::parse(&p) {
                self.wire.push((from, to, h));
            }
        }
        if self.lost() {
            return;
        }
        let src = MadAddress::gsi(from, 0);
        match to {
            SA_LID => {
                for answer in self.sa.handle(now, src, mad) {
                    self.deliver(now, SA_LID, from, &answer);
                }
            }
            REPLICA => self.replica.handle_mad(now, src, mad),
            LEAF => self.leaf.handle_mad(now, src, mad),
            _ => {}
        }
    }

    /// Moves every MAD until all three are quiet.
    fn pump(&mut self, now: Instant) {
        let mut buf = [0u8; MAD_LEN];
        loop {
            let mut moved = false;
            while let Some(t) = self.leaf.poll_transmit(now, &mut buf) {
                moved = true;
                let mad = buf[..t.len].to_vec();
                self.deliver(now, LEAF, t.to.lid, &mad);
            }
            while let Some(t) = self.replica.poll_transmit(now, &mut buf) {
                moved = true;
                let mad = buf[..t.len].to_vec();
                self.deliver(now, REPLICA, t.to.lid, &mad);
            }
            while let Some((to, len)) = self.sa.rmpp.poll_transmit(now, &mut buf) {
                moved = true;
                let mad = buf[..len].to_vec();
                self.deliver(now, SA_LID, to.lid, &mad);
            }
            if !moved {
                return;
            }
        }
    }

    fn run(&mut self, from: Instant, until: Instant) -> Instant {
        let mut now = from;
        self.pump(now);
        while now < until {
            let next = [self.leaf.poll_at(), self.replica.poll_at(), self.sa.rmpp.poll_at()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until)
                .min(until);
            now = if next > now { next } else { now + Duration::from_millis(1) };
            self.leaf.handle_timeout(now);
            self.replica.handle_timeout(now);
            self.sa.rmpp.handle_timeout(now);
            self.pump(now);
        }
        now
    }

    /// PathRecord queries the SA received, and from whom.
    fn sa_queries_from(&self, lid: u16) -> usize {
        self.wire
            .iter()
            .filter(|(f, t, h)| {
                *f == lid
                    && *t == SA_LID
                    && h.header.attribute_id == AttributeId::PathRecord
                    && !h.rmpp.is_active()
            })
            .count()
    }
}

/// Runs `f` on a thread with a 64 MiB stack: debug builds construct the engines (hundreds of
/// KiB each) on the stack before boxing them.
fn big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(64 << 20).spawn(f).unwrap().join().unwrap();
}

fn leaf_to(dlid: u16) -> Query {
    Query::between_gids(gid(LEAF), gid(dlid)).with_reversible().with_numb_path(1)
}

#[test]
fn leaf_resolves_through_the_replica_and_the_sa_sees_only_the_replica() {
    big_stack(|| {
        let now = Instant::from_millis(10_000);
        let mut net = Net::new(now, Mode::OnDemand, 64);
        net.pump(now);
        events(&mut net.leaf);
        // The leaf's housekeeping went to the replica, and the replica answered it.
        assert_eq!(net.leaf.sa_reachable(), Some(true));
        assert_eq!(net.leaf.stats().subscriptions_sent, 4);
        assert!(
            !net.wire.iter().any(|(f, t, _)| *f == LEAF && *t == SA_LID),
            "the leaf never talks to the SA"
        );

        assert_eq!(net.leaf.resolve(now, &leaf_to(30), ResolveFlags::empty(), 1), Resolve::Pending);
        net.pump(now);
        let r = resolved(&events(&mut net.leaf));
        assert_eq!(r[0].1.as_ref().unwrap().records[0].dlid.get(), 30, "{r:?}");
        assert_eq!(net.sa_queries_from(REPLICA), 1, "proxied once");
        // The replica cached it: a second leaf query for it does not reach the SA.
        net.leaf.flush(crate::table::PinPolicy::Drop);
        net.leaf.resolve(now, &leaf_to(30), ResolveFlags::empty(), 2);
        net.pump(now);
        assert!(resolved(&events(&mut net.leaf))[0].1.is_ok());
        assert_eq!(net.sa_queries_from(REPLICA), 1, "answered from the replica's table");
        assert_eq!(net.replica.stats().served, 2);
        // No such port: the SA's error passes through.
        net.leaf.resolve(now, &leaf_to(999), ResolveFlags::empty(), 3);
        net.pump(now);
        assert_eq!(
            resolved(&events(&mut net.leaf))[0].1,
            Err(ResolveError::Sa(crate::wire::SaError::NoRecords))
        );
    });
}

#[test]
fn bulk_through_the_replica_over_rmpp_with_loss() {
    big_stack(|| {
        let now = Instant::from_millis(10_000);
        let mut net = Net::new(now, Mode::OnDemand, 300);
        net.pump(now);
        // Warm the replica with every path from the leaf (as `localsa resolve` on it would),
        // in batches that fit its pending pool.
        let mut t = now;
        let mut warmed = 0;
        for batch in (1..=300u16).collect::<Vec<_>>().chunks(50) {
            for d in batch {
                assert_eq!(
                    net.replica.resolve(t, &leaf_to(*d), ResolveFlags::empty(), *d as u64),
                    Resolve::Pending
                );
            }
            t = net.run(t, t + Duration::from_millis(100));
            warmed += core::iter::from_fn(|| net.replica.poll_event())
                .filter(|e| matches!(e, Event::Resolved { result: Ok(_), .. }))
                .count();
        }
        assert_eq!(warmed, 300);
        let sa_before = net.sa_queries_from(REPLICA);
        // A leaf in bulk mode fetches every path from itself from the replica, at 20% loss.
        let mut leaf_cfg = *net.leaf.config();
        leaf_cfg.mode = Mode::Bulk { refresh: Duration::from_secs(3600) };
        *net.leaf = TestEngine::new(t, leaf_cfg, local(LEAF));
        net.loss_in = 5;
        let end = net.run(t, t + Duration::from_secs(60));
        let ev = events(&mut net.leaf);
        let fetched = ev.iter().find_map(|e| match e {
            Event::BulkFetched { records, complete } => Some((*records, *complete)),
            _ => None,
        });
        assert_eq!(fetched, Some((300, true)), "{ev:?} leaf {:?}", net.leaf.stats());
        // 300 records are 96 segments; the loss makes the replica send some again, and the
        // leaf acknowledges up to the last one.
        let rmpp = |f: u16, t: u16, ty: crate::wire::RmppType| {
            net.wire
                .iter()
                .filter(move |(ff, tt, h)| {
                    *ff == f && *tt == t && h.rmpp.is_active() && h.rmpp.rmpp_type == ty
                })
                .map(|(_, _, h)| h.rmpp.data1)
        };
        let segments = rmpp(REPLICA, LEAF, crate::wire::RmppType::Data).count();
        let last_ack = rmpp(LEAF, REPLICA, crate::wire::RmppType::Ack).max();
        assert!(segments > 96, "96 segments plus retransmissions: {segments}");
        assert_eq!(last_ack, Some(96), "every segment acknowledged");
        assert!(net.dropped > 0);
        assert_eq!(net.sa_queries_from(REPLICA), sa_before, "answered from the replica's table");
        assert!(net.replica.stats().served >= 1, "a table answer counts as served");
        // Every path byte-exact as the SA made it.
        for d in 1..=300u16 {
            match net.leaf.resolve(end, &leaf_to(d), ResolveFlags::CACHE_ONLY, 1000 + d as u64) {
                Resolve::Answered(a) => {
                    let mut want = [0u8; 64];
                    crate::wire::SaAttribute::encode(&net.sa.record(LEAF, d), &mut want).unwrap();
                    assert_eq!(zerocopy::IntoBytes::as_bytes(&a.records[0]), &want[..], "path to {d}");
                }
                other => panic!("{d}: {other:?}"),
            }
        }
    });
}

#[test]
fn reports_are_relayed_to_subscribed_leaves() {
    big_stack(|| {
        let now = Instant::from_millis(10_000);
        let mut net = Net::new(now, Mode::OnDemand, 64);
        net.pump(now);
        net.leaf.resolve(now, &leaf_to(40), ResolveFlags::empty(), 1);
        net.pump(now);
        events(&mut net.leaf);
        let report = net.sa.report(crate::wire::TrapNumber::GidOutOfService, gid(40), 0x99);
        net.deliver(now, SA_LID, REPLICA, &report);
        net.pump(now);
        let ev = events(&mut net.leaf);
        assert!(ev.iter().any(|e| matches!(e, Event::Invalidated { entries: 1, .. })), "{ev:?}");
        assert_eq!(net.sa.report_resps, 1, "the replica acknowledged the SA");
        assert_eq!(
            net.leaf.resolve(now, &leaf_to(40), ResolveFlags::CACHE_ONLY, 2),
            Resolve::Failed(ResolveError::NotCached),
            "the leaf dropped it too"
        );
    });
}

#[test]
fn a_possibly_cut_answer_is_passed_on_as_one_not_as_a_complete_table() {
    big_stack(|| {
        let now = Instant::from_millis(10_000);
        let mut net = Net::new(now, Mode::Bulk { refresh: Duration::from_secs(3600) }, 50);
        // The SA answers GetTable in one MAD without RMPP (OpenSM on ibsim); the replica has
        // nothing cached, so it proxies the leaf's bulk GetTable.
        net.sa.rmpp_tables = false;
        let end = net.run(now, now + Duration::from_secs(2));
        assert_eq!(net.replica.stats().possibly_cut, 1, "{:?}", net.replica.stats());
        let ev = events(&mut net.leaf);
        assert!(ev.contains(&Event::BulkFetched { records: 3, complete: false }), "{ev:?}");
        assert_eq!(net.leaf.stats().possibly_cut, 1);
        let relayed =
            net.wire.iter().filter(|(f, t, h)| *f == REPLICA && *t == LEAF && h.rmpp.is_active()).count();
        assert_eq!(relayed, 0, "one plain MAD, no RMPP transfer");
        // Destinations past the cut resolve per destination, through the replica.
        assert_eq!(net.leaf.resolve(end, &leaf_to(40), ResolveFlags::empty(), 1), Resolve::Pending);
        net.run(end, end + Duration::from_millis(100));
        assert_eq!(resolved(&events(&mut net.leaf))[0].1.as_ref().unwrap().records[0].dlid.get(), 40);
    });
}

/// A replica with more subscribers than outbox slots: every Report reaches every subscriber
/// of its trap once, with a TID of its own, and one that leaves mid-relay skips nobody.
#[test]
fn reports_reach_more_subscribers_than_the_outbox_holds() {
    use crate::wire::{
        request, Gid, InformInfoRepr, Method, NoticeRepr, SaAttribute, TrapDetails, TrapNumber,
    };
    big_stack(|| {
        let now = Instant::from_millis(10_000);
        let sa = ScriptedSa::new(64);
        let cfg = Config { serve_sa: true, ..config() };
        let mut replica = Box::new(ReplicaEngine::new(now, cfg, local(REPLICA)));
        // Everything it has to send, as (to, method, TID, the GID the Notice names).
        let drain = |r: &mut ReplicaEngine| {
            let mut buf = [0u8; MAD_LEN];
            let mut out = Vec::new();
            while let Some(t) = r.poll_transmit(now, &mut buf) {
                let p = SaPacket::new_checked(&buf[..t.len]).unwrap();
                let h = SaMad::parse(&p).unwrap().header;
                let about = NoticeRepr::decode(p.data()).ok().and_then(|n| match n.details() {
                    Some(TrapDetails::Gid(g)) => Some(g),
                    _ => None,
                });
                out.push((t.to.lid, h.method, h.transaction_id, about));
            }
            out
        };
        drain(&mut replica); // its own housekeeping, to the SA
        let subscribe = |r: &mut ReplicaEngine, lid: u16, trap: TrapNumber, on: bool| {
            let mut m = [0u8; MAD_LEN];
            let info = InformInfoRepr::generic_subscription(trap, on);
            let len = request::inform_info_set(&mut m, lid as u64, &info).unwrap();
            r.handle_mad(now, MadAddress::gsi(lid, 0), &m[..len]);
        };
        let leaves: Vec<u16> = (100..120).collect();
        assert!(leaves.len() > OUTBOX);
        for &lid in &leaves {
            subscribe(&mut replica, lid, TrapNumber::GidOutOfService, true);
            // Answered as it comes (as the daemon does), so the outbox does not overflow.
            assert_eq!(drain(&mut replica).len(), 1);
        }
        subscribe(&mut replica, 200, TrapNumber::GidInService, true); // another trap
        drain(&mut replica);

        // Two Reports back to back, before the driver sends anything.
        let from_sa = MadAddress::gsi(SA_LID, 0);
        replica.handle_mad(now, from_sa, &sa.report(TrapNumber::GidOutOfService, gid(40), 0x99));
        replica.handle_mad(now, from_sa, &sa.report(TrapNumber::GidOutOfService, gid(41), 0x9a));
        assert!(replica.has_transmit());
        let sent = drain(&mut replica);
        assert!(!replica.has_transmit());
        assert_eq!(replica.stats().outbox_dropped, 0);
        let resps: Vec<_> = sent.iter().filter(|s| s.1 == Method::ReportResp).collect();
        assert_eq!(resps.len(), 2);
        assert!(resps.iter().all(|s| s.0 == SA_LID));
        let relays: Vec<_> = sent.iter().filter(|s| s.1 == Method::Report).collect();
        assert_eq!(relays.len(), 2 * leaves.len(), "{sent:?}");
        for (dlid, about) in [(40, &relays[..leaves.len()]), (41, &relays[leaves.len()..])] {
            let mut to: Vec<u16> = about.iter().map(|s| s.0).collect();
            to.sort_unstable();
            assert_eq!(to, leaves, "each subscriber once, in order of the Reports");
            assert!(about.iter().all(|s| s.3 == Some(gid(dlid))), "{about:?}");
        }
        let mut tids: Vec<u64> = relays.iter().map(|s| s.2).collect();
        tids.sort_unstable();
        tids.dedup();
        assert_eq!(tids.len(), relays.len(), "a TID per copy");
        assert!(!tids.contains(&0) && !tids.contains(&0x99) && !tids.contains(&0x9a));

        // A Report while leaves come and go: one that already has its copy leaves, and one
        // that has not yet leaves; everyone else still gets theirs.
        replica.handle_mad(now, from_sa, &sa.report(TrapNumber::GidOutOfService, gid(42), 0x9b));
        let (mut first, mut buf) = (Vec::new(), [0u8; MAD_LEN]);
        while first.len() < 6 {
            let t = replica.poll_transmit(now, &mut buf).unwrap();
            first.push(t.to.lid);
        }
        assert_eq!(first, [SA_LID, 100, 101, 102, 103, 104]);
        subscribe(&mut replica, 102, TrapNumber::GidOutOfService, false);
        subscribe(&mut replica, 115, TrapNumber::GidOutOfService, false);
        let rest = drain(&mut replica);
        let relayed: Vec<u16> = rest.iter().filter(|s| s.1 == Method::Report).map(|s| s.0).collect();
        let want: Vec<u16> = (105..120).filter(|&l| l != 115).collect();
        assert_eq!(relayed, want);
        assert_eq!(rest.iter().filter(|s| s.1 == Method::GetResp).count(), 2, "both unsubscribed");

        // The bound: each Report takes two outbox slots (its ReportResp and its relay) until
        // the driver sends, so OUTBOX / 2 Reports fit in one burst. The next is neither
        // acknowledged nor relayed (a drop, counted); the SA sends it again, and then it is.
        let subscribed = leaves.len() - 2;
        let report = |tid: u64| sa.report(TrapNumber::GidOutOfService, gid(43), tid);
        let burst = OUTBOX as u64 / 2;
        for tid in 0..=burst {
            replica.handle_mad(now, from_sa, &report(0x100 + tid));
        }
        assert_eq!(replica.stats().outbox_dropped, 1);
        let sent = drain(&mut replica);
        let count = |sent: &[(u16, Method, u64, Option<Gid>)], m| sent.iter().filter(|s| s.1 == m).count();
        assert_eq!(count(&sent, Method::ReportResp), burst as usize, "the last one unacknowledged");
        assert_eq!(count(&sent, Method::Report), burst as usize * subscribed);
        replica.handle_mad(now, from_sa, &report(0x100 + burst));
        let sent = drain(&mut replica);
        assert_eq!((count(&sent, Method::ReportResp), count(&sent, Method::Report)), (1, subscribed));
        assert_eq!(replica.stats().outbox_dropped, 1);
    });
}
