//! Counters of what the engine did, for `localsa stats`, the ACM perf query and the tests.

/// Monotonic counters (events since start) and gauges (current values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Resolves asked.
    pub resolves: u64,
    /// Resolves answered from the table at once.
    pub cache_answers: u64,
    /// Resolves answered from stale entries (after an SM change, while refreshing).
    pub stale_answers: u64,
    /// Resolves that joined an SA query already pending for the same question.
    pub coalesced: u64,
    /// Resolves refused because the pending or waiter capacity was used up.
    pub overloaded: u64,
    /// Resolves failed at once from a negative entry.
    pub negative_answers: u64,
    /// PathRecord queries sent to the SA (first sends, not retries).
    pub sa_queries: u64,
    /// Retransmissions of SA queries after a timeout.
    pub retries: u64,
    /// SA queries given up after every retry.
    pub timeouts: u64,
    /// BUSY answers.
    pub busy: u64,
    /// Error answers from the SA (any status but BUSY).
    pub sa_errors: u64,
    /// Answers stored as records.
    pub records_stored: u64,
    /// Records dropped from an answer because they contradict the query (garbage past the
    /// end of a table answer that does not say how many records it holds).
    pub records_inconsistent: u64,
    /// Single-MAD table answers that may have been cut (every record slot used).
    pub possibly_cut: u64,
    /// Answers that matched no pending query (late, duplicate, or not ours).
    pub unmatched: u64,
    /// MADs that could not be decoded.
    pub malformed: u64,
    /// Reports received.
    pub reports: u64,
    /// ReportResp sent.
    pub report_resps: u64,
    /// Entries invalidated by traps.
    pub trap_invalidations: u64,
    /// Subnet manager changes seen.
    pub sm_changes: u64,
    /// ClassPortInfo queries sent (start and heartbeat).
    pub class_port_info_queries: u64,
    /// Set(InformInfo) sent.
    pub subscriptions_sent: u64,
    /// Bulk fetches completed.
    pub bulk_fetches: u64,
    /// RMPP transfers that failed.
    pub rmpp_failures: u64,
    /// SA requests from other nodes answered (replica mode).
    pub served: u64,
    /// MADs dropped because the outbox was full (in replica mode, a Report left
    /// unacknowledged for want of room to relay it counts one).
    pub outbox_dropped: u64,
    /// Gauge: SA queries outstanding now.
    pub outstanding: usize,
    /// Gauge: SA queries waiting for a turn.
    pub queued: usize,
    /// Gauge: resolves waiting for an answer.
    pub waiting: usize,
    /// Gauge: RMPP transfers in progress.
    pub rmpp_in_flight: usize,
}

/// A summary of an engine: its port, whether the SA answers, its table and its counters.
#[cfg(feature = "defmt")]
impl<
        const T: usize,
        const P: usize,
        const W: usize,
        const RXS: usize,
        const RXC: usize,
        const TXS: usize,
        const TXC: usize,
    > defmt::Format for super::Engine<T, P, W, RXS, RXC, TXS, TXC>
{
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Engine {{ port: {}, sa_reachable: {}, table: {}, stats: {} }}",
            self.port(),
            self.sa_reachable(),
            self.table(),
            self.stats()
        )
    }
}

impl Stats {
    /// Nothing counted yet.
    pub const ZERO: Stats = Stats {
        resolves: 0,
        cache_answers: 0,
        stale_answers: 0,
        coalesced: 0,
        overloaded: 0,
        negative_answers: 0,
        sa_queries: 0,
        retries: 0,
        timeouts: 0,
        busy: 0,
        sa_errors: 0,
        records_stored: 0,
        records_inconsistent: 0,
        possibly_cut: 0,
        unmatched: 0,
        malformed: 0,
        reports: 0,
        report_resps: 0,
        trap_invalidations: 0,
        sm_changes: 0,
        class_port_info_queries: 0,
        subscriptions_sent: 0,
        bulk_fetches: 0,
        rmpp_failures: 0,
        served: 0,
        outbox_dropped: 0,
        outstanding: 0,
        queued: 0,
        waiting: 0,
        rmpp_in_flight: 0,
    };
}
