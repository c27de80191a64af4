//! The daemon's own counters (the engine keeps its own), and how both map onto the seven
//! counters of an ACM perf query.

use localsa_core::engine::Stats as EngineStats;
use serde::Serialize;

use super::served::Served;
use crate::server::acm::PerfCounters;

/// Counts since start, and a few gauges.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DaemonStats {
    /// Connections accepted.
    pub clients_accepted: u64,
    /// Connections closed at once: the shim's descriptor ceiling was reached.
    pub clients_refused: u64,
    /// Clients dropped for not reading their answers (`max_buffered`).
    pub clients_dropped_slow: u64,
    /// Clients dropped for a message that cannot be framed (ACM version, opcode, length; an
    /// admin line over the limit).
    pub clients_dropped_malformed: u64,
    /// Clients dropped for leaving half a request unfinished (`partial_timeout`).
    pub clients_dropped_partial: u64,
    /// Gauge: clients connected now.
    pub clients: u64,
    /// Gauge: most clients connected at once.
    pub clients_peak: u64,
    /// Times reading from a client was paused at `max_outstanding`.
    pub backpressure_pauses: u64,
    /// ACM requests decoded.
    pub acm_requests: u64,
    /// Admin requests decoded.
    pub admin_requests: u64,
    /// Requests refused for lack of privilege.
    pub permission_denied: u64,
    /// Resolves asked by clients (both sockets).
    pub resolves: u64,
    /// Resolves answered with paths from the cache.
    pub answered_from_cache: u64,
    /// Resolves answered with paths from the SA.
    pub answered_from_sa: u64,
    /// Requests answered "no such path" (ACM ENODATA).
    pub no_data: u64,
    /// Requests answered with any other error.
    pub errors: u64,
    /// Names and addresses found in the hosts file.
    pub address_hits: u64,
    /// Names and addresses not found in the hosts file.
    pub address_misses: u64,
    /// MADs sent, on every port. This and the next five are counted per port
    /// ([`PortCounters`]) and summed when the counters are read.
    pub mads_sent: u64,
    /// MADs whose send failed.
    pub mad_send_errors: u64,
    /// MADs received.
    pub mads_received: u64,
    /// Kernel reports of our own sends that failed (umad status != 0).
    pub mad_send_failures_reported: u64,
    /// MADs dropped because the engine thread lagged behind the reader.
    pub mads_dropped: u64,
    /// Times the port's sysfs attributes changed.
    pub port_changes: u64,
    /// Events sent to admin subscribers.
    pub events_sent: u64,
}

/// What the daemon counts for each port it serves (its engine counts the rest). The
/// daemon-wide [`DaemonStats`] fields of the same names are the sums.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PortCounters {
    /// Resolves routed to this port's engine.
    pub resolves: u64,
    /// Of those, answered with paths from the cache.
    pub answered_from_cache: u64,
    /// Answered with paths from the SA.
    pub answered_from_sa: u64,
    /// Answered "no such path".
    pub no_data: u64,
    /// Answered with any other error.
    pub errors: u64,
    /// MADs sent on the port.
    pub mads_sent: u64,
    /// MADs whose send failed.
    pub mad_send_errors: u64,
    /// MADs received.
    pub mads_received: u64,
    /// Kernel reports of our own sends that failed.
    pub mad_send_failures_reported: u64,
    /// MADs dropped because the engine thread lagged behind this port's reader.
    pub mads_dropped: u64,
    /// Times the port's sysfs attributes changed.
    pub port_changes: u64,
}

/// The seven ACM counters of one port's endpoint: as [`acm_counters`], from what was routed to
/// the port (names and addresses are looked up before routing, so its Addr Cache Count is 0).
pub fn port_acm_counters(p: &PortCounters, e: &EngineStats) -> PerfCounters {
    PerfCounters {
        error: p.errors,
        resolve: p.resolves,
        no_data: p.no_data,
        addr_query: 0,
        addr_cache: 0,
        route_query: e.sa_queries,
        route_cache: e.cache_answers + e.stale_answers,
    }
}

/// Engine counters of several ports added up (gauges too: the sum of what is outstanding).
pub fn sum_engine_stats(all: impl Iterator<Item = EngineStats>) -> EngineStats {
    let mut t = EngineStats::ZERO;
    for e in all {
        macro_rules! add {
            ($($f:ident),*) => { $( t.$f += e.$f; )* };
        }
        add!(
            resolves,
            cache_answers,
            stale_answers,
            coalesced,
            overloaded,
            negative_answers,
            sa_queries,
            retries,
            timeouts,
            busy,
            sa_errors,
            records_stored,
            records_inconsistent,
            possibly_cut,
            unmatched,
            malformed,
            reports,
            report_resps,
            trap_invalidations,
            sm_changes,
            class_port_info_queries,
            subscriptions_sent,
            bulk_fetches,
            rmpp_failures,
            served,
            outbox_dropped,
            outstanding,
            queued,
            waiting,
            rmpp_in_flight
        );
    }
    t
}

/// The seven ACM counters (ibacm's order), from engine and daemon counters:
///
/// | ACM counter | localsa |
/// |---|---|
/// | Error Count | requests answered with an error other than "no data" (both sockets) |
/// | Resolve Count | resolves asked by clients (both sockets) |
/// | No Data | resolves answered "no such path" (SA ERR_NO_RECORDS, or not cached with NODELAY) |
/// | Addr Query Count | 0: names and addresses come from the hosts file, never from the fabric |
/// | Addr Cache Count | names and addresses found in the hosts file |
/// | Route Query Count | PathRecord queries sent to the SA (first sends, not retries) |
/// | Route Cache Count | resolves answered from the table (fresh or stale entries) |
pub fn acm_counters(d: &DaemonStats, e: &EngineStats) -> PerfCounters {
    PerfCounters {
        error: d.errors,
        resolve: d.resolves,
        no_data: d.no_data,
        addr_query: 0,
        addr_cache: d.address_hits,
        route_query: e.sa_queries,
        route_cache: e.cache_answers + e.stale_answers,
    }
}

/// One served port's table as JSON ([`table_json`]).
pub fn served_table_json(s: &Served<'_>) -> serde_json::Value {
    let t = s.engine.table();
    table_json(t.counters(), t.len(), t.capacity(), t.pinned_len(), t.generation())
}

/// Every served port's table added up: counts and capacities summed, `generation` the
/// highest.
pub fn tables_json(ports: &[Served<'_>]) -> serde_json::Value {
    let mut sum = serde_json::Map::new();
    for p in ports {
        let serde_json::Value::Object(m) = served_table_json(p) else { continue };
        for (k, v) in m {
            let v = v.as_u64().unwrap_or(0);
            let e = sum.entry(k.clone()).or_insert(serde_json::json!(0u64));
            let old = e.as_u64().unwrap_or(0);
            *e = serde_json::json!(if k == "generation" { old.max(v) } else { old + v });
        }
    }
    serde_json::Value::Object(sum)
}

/// The `ports` list of `stats`: for each served port, in order, what it is and its own
/// engine, table and daemon counters.
pub fn ports_json(ports: &[Served<'_>]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = ports
        .iter()
        .map(|p| {
            serde_json::json!({
                "port": p.umad(),
                "ca": p.attrs.ca,
                "port_num": p.attrs.port,
                "lid": p.attrs.lid,
                "lmc": p.attrs.lmc,
                "gid": p.attrs.gid.to_string(),
                "sa_reachable": p.engine.sa_reachable(),
                "engine": engine_json(&p.engine.stats()),
                "table": served_table_json(p),
                "daemon": p.counters(),
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

/// The engine counters as JSON (the core has no serde).
pub fn engine_json(e: &EngineStats) -> serde_json::Value {
    serde_json::json!({
        "resolves": e.resolves,
        "cache_answers": e.cache_answers,
        "stale_answers": e.stale_answers,
        "coalesced": e.coalesced,
        "overloaded": e.overloaded,
        "negative_answers": e.negative_answers,
        "sa_queries": e.sa_queries,
        "retries": e.retries,
        "timeouts": e.timeouts,
        "busy": e.busy,
        "sa_errors": e.sa_errors,
        "records_stored": e.records_stored,
        "records_inconsistent": e.records_inconsistent,
        "possibly_cut": e.possibly_cut,
        "unmatched": e.unmatched,
        "malformed": e.malformed,
        "reports": e.reports,
        "report_resps": e.report_resps,
        "trap_invalidations": e.trap_invalidations,
        "sm_changes": e.sm_changes,
        "class_port_info_queries": e.class_port_info_queries,
        "subscriptions_sent": e.subscriptions_sent,
        "bulk_fetches": e.bulk_fetches,
        "rmpp_failures": e.rmpp_failures,
        "served": e.served,
        "outbox_dropped": e.outbox_dropped,
        "outstanding": e.outstanding,
        "queued": e.queued,
        "waiting": e.waiting,
        "rmpp_in_flight": e.rmpp_in_flight,
    })
}

/// The table counters as JSON.
pub fn table_json(
    c: &localsa_core::table::Counters,
    len: usize,
    capacity: usize,
    pinned: usize,
    generation: u32,
) -> serde_json::Value {
    serde_json::json!({
        "entries": len,
        "capacity": capacity,
        "pinned": pinned,
        "generation": generation,
        "hits": c.hits,
        "stale_hits": c.stale_hits,
        "negative_hits": c.negative_hits,
        "misses": c.misses,
        "inserts": c.inserts,
        "replacements": c.replacements,
        "evictions": c.evictions,
        "expirations": c.expirations,
        "invalidations": c.invalidations,
    })
}
