//! How an engine behaves: timing, retries, flow control, coherence and the "some or all" mode.

use crate::time::Duration;
use crate::wire::Gid;

/// Where SA queries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Upstream {
    /// The master SM's LID, as the port reports it (the normal case).
    SmLid,
    /// Any LID: another localsa daemon running as a replica, or a secondary SA.
    Lid(u16),
    /// A GID, reached with a GRH (RoCE, or another subnet).
    Gid(Gid),
}

/// "Some" or "all": what the engine fetches without being asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Mode {
    /// Resolve on demand: a miss becomes one SA query (shared by every waiter for it).
    OnDemand,
    /// Also prefetch every path from the local port with one GetTable (SGID = local), again
    /// every `refresh` and after traps. Misses still resolve on demand.
    Bulk {
        /// How often the whole table is fetched again.
        refresh: Duration,
    },
}

/// What happens to cached paths when the subnet manager changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum SmChangePolicy {
    /// Keep serving cached paths (marked stale) and refetch each one the first time it is
    /// asked for: no burst of queries at the new SM, no gap in service.
    Revalidate,
    /// Drop every cached path (pinned entries stay): the next resolves all go to the SA.
    Flush,
}

/// The engine's settings. [`Config::DEFAULT`] suits a daemon on an InfiniBand node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Where SA queries go.
    pub upstream: Upstream,
    /// At most this many SA queries outstanding at once; the rest wait in a bounded queue.
    pub sa_depth: usize,
    /// Retransmissions of a query after its first send before it fails with a timeout.
    pub max_retries: u8,
    /// Fixed per-attempt timeout; `None` derives it from the SA's ClassPortInfo RespTimeValue
    /// and the packet lifetime (IBA 13.4.6.2), [`Config::min_timeout`] at least.
    pub timeout: Option<Duration>,
    /// The least a derived per-attempt timeout may be.
    pub min_timeout: Duration,
    /// The most a per-attempt timeout may grow to with backoff.
    pub max_timeout: Duration,
    /// RespTimeValue assumed until the SA's ClassPortInfo arrives (IBA's default is 18,
    /// about 1.07 s; OpenSM advertises 16).
    pub default_resp_time_value: u8,
    /// PacketLifeTime assumed for the path to the SA (an IB time exponent).
    pub packet_life_time: u8,
    /// First wait after a BUSY answer; it doubles with each BUSY in a row.
    pub busy_backoff: Duration,
    /// How long a path from the SA stays cached; zero keeps it until invalidated.
    pub positive_lifetime: Duration,
    /// How long "no such path" stays cached.
    pub negative_lifetime: Duration,
    /// "Some" or "all".
    pub mode: Mode,
    /// Subscribe to traps 64/65 (and 144/145 where the SA offers them) and act on Reports.
    pub subscribe: bool,
    /// How often the SA is checked (ClassPortInfo) and subscriptions renewed; an SA that
    /// stops answering, then answers again, is treated as a new SM.
    pub heartbeat: Duration,
    /// What an SM change does to the cache.
    pub sm_change: SmChangePolicy,
    /// Answer PathRecord Get/GetTable from other nodes out of the table (replica mode).
    pub serve_sa: bool,
    /// The low 32 bits of the first transaction ID; anything that differs per process keeps
    /// a restarted daemon's TIDs apart from its predecessor's.
    pub tid_seed: u32,
}

impl Config {
    /// Defaults for a daemon: SA at the SM LID, 16 outstanding queries, 3 retries, timeouts
    /// from ClassPortInfo between 100 ms and 8 s, paths cached 1 hour, "no path" 5 s,
    /// on-demand, traps subscribed, heartbeat every 30 s, revalidate on SM change.
    pub const DEFAULT: Config = Config {
        upstream: Upstream::SmLid,
        sa_depth: 16,
        max_retries: 3,
        timeout: None,
        min_timeout: Duration::from_millis(100),
        max_timeout: Duration::from_secs(8),
        default_resp_time_value: 18,
        packet_life_time: 16,
        busy_backoff: Duration::from_millis(50),
        positive_lifetime: Duration::from_secs(3600),
        negative_lifetime: Duration::from_secs(5),
        mode: Mode::OnDemand,
        subscribe: true,
        heartbeat: Duration::from_secs(30),
        sm_change: SmChangePolicy::Revalidate,
        serve_sa: false,
        tid_seed: 1,
    };
}

impl Config {
    /// All zero: what an engine built as a zeroed `static` holds until [`start`] configures it.
    ///
    /// [`start`]: super::Engine::start
    pub const ZEROED: Config = Config {
        upstream: Upstream::SmLid,
        sa_depth: 0,
        max_retries: 0,
        timeout: None,
        min_timeout: Duration::ZERO,
        max_timeout: Duration::ZERO,
        default_resp_time_value: 0,
        packet_life_time: 0,
        busy_backoff: Duration::ZERO,
        positive_lifetime: Duration::ZERO,
        negative_lifetime: Duration::ZERO,
        mode: Mode::OnDemand,
        subscribe: false,
        heartbeat: Duration::ZERO,
        sm_change: SmChangePolicy::Revalidate,
        serve_sa: false,
        tid_seed: 0,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
