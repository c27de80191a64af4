//! The daemon's settings: a TOML file (default `/etc/localsa/localsa.toml`), command-line
//! overrides on top, defaults for the rest, everything validated before anything starts.
//!
//! Every key is documented in `contrib/localsa.toml` and `docs/daemon.md`. Values are
//! checked while the file is parsed, so an error names the line and the key
//! (`config /etc/localsa/localsa.toml line 12: key sa.sa_depth: ...`), and an unknown key or
//! section is an error too: a misspelt option silently falling back to its default is the kind
//! of thing that costs an administrator a night. The CLI maps these errors to exit status 78
//! (`EX_CONFIG`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use localsa_core::engine::{Config as EngineConfig, Mode, SmChangePolicy, Upstream};
use localsa_core::wire::Gid;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Where the daemon looks for its configuration when `--config` is not given. A missing file
/// there is not an error (every option has a default); a missing `--config` file is.
pub const DEFAULT_CONFIG: &str = "/etc/localsa/localsa.toml";
/// ibacm's socket path: existing ACM clients (librdmacm, `ib_acme`) connect there.
pub const DEFAULT_ACM_SOCKET: &str = "/run/ibacm-unix.sock";
/// The admin socket.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/localsa/admin.sock";
/// ibacm's address file.
pub const DEFAULT_HOSTS_FILE: &str = "/etc/rdma/ibacm_hosts.data";
/// Where pinned entries are kept across restarts.
pub const DEFAULT_PINNED_FILE: &str = "/var/lib/localsa/pinned.json";

/// A configuration problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `None` for a command-line value.
    pub file: Option<PathBuf>,
    /// The line, counting from 1.
    pub line: Option<usize>,
    /// The key, dotted (`sa.sa_depth`).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "config {}", p.display())?,
            None => f.write_str("command line")?,
        }
        if let Some(l) = self.line {
            write!(f, " line {l}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": key {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Limits that keep one client from hurting the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Clients connected at once, both sockets together; more wait in the listen backlog.
    pub max_clients: usize,
    /// Requests of one client waiting for an answer; reading from it stops at this many.
    pub max_outstanding: usize,
    /// Answer bytes queued for one client that does not read them; beyond this it is dropped.
    pub max_buffered: usize,
    /// The longest admin request line.
    pub max_line: usize,
    /// How long a client may leave half a request in its buffer before it is dropped.
    pub partial_timeout: Duration,
    /// How long shutdown waits for error answers to drain before closing connections.
    pub shutdown_grace: Duration,
}

impl ClientLimits {
    /// The defaults: 4096 clients, 64 outstanding requests and 1 MiB of answers each, 64 KiB
    /// request lines, 5 s for a partial request, 1 s of shutdown grace.
    pub const DEFAULT: ClientLimits = ClientLimits {
        max_clients: 4096,
        max_outstanding: 64,
        max_buffered: 1 << 20,
        max_line: 64 << 10,
        partial_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(1),
    };
}

/// Everything the daemon runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
    /// The ports to serve.
    pub ports: PortChoice,
    /// Where each port's SA queries go: empty, the SM of each port; one value, every port;
    /// several, one per port in the order of [`Self::ports`]. `engine.upstream` holds the first.
    pub upstreams: Vec<Upstream>,
    /// ACM socket; `None`: no ACM service.
    pub acm_socket: Option<PathBuf>,
    /// Admin socket; `None`: no admin service.
    pub admin_socket: Option<PathBuf>,
    /// Group (name or number) whose members may use the mutating admin operations.
    pub admin_group: Option<String>,
    /// `ibacm_hosts.data`; `None`: names and IP addresses are not resolved.
    pub hosts_file: Option<PathBuf>,
    /// Where pinned entries persist; `None`: pins live only as long as the process.
    pub pinned_file: Option<PathBuf>,
    /// Capture every MAD sent and received to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Log verbosity.
    pub log_level: log::LevelFilter,
    /// How often the port's sysfs attributes are read again.
    pub port_poll_interval: Duration,
    /// The most pinned entries (default: a quarter of the table).
    pub max_pinned: Option<usize>,
    /// The engine's settings.
    pub engine: EngineConfig,
    /// Per-client limits.
    pub clients: ClientLimits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: None,
            ports: PortChoice::FirstActive,
            upstreams: Vec::new(),
            acm_socket: Some(DEFAULT_ACM_SOCKET.into()),
            admin_socket: Some(DEFAULT_ADMIN_SOCKET.into()),
            admin_group: None,
            hosts_file: Some(DEFAULT_HOSTS_FILE.into()),
            pinned_file: Some(DEFAULT_PINNED_FILE.into()),
            pcap: None,
            log_level: log::LevelFilter::Info,
            port_poll_interval: Duration::from_secs(5),
            max_pinned: None,
            engine: EngineConfig::DEFAULT,
            clients: ClientLimits::DEFAULT,
        }
    }
}

/// Command-line overrides; `None` leaves the file's value (or the default).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--port`, as often as given.
    pub ports: Vec<PortArg>,
    /// `--acm-socket` (`none` disables).
    pub acm_socket: Option<String>,
    /// `--admin-socket` (`none` disables).
    pub admin_socket: Option<String>,
    /// `--admin-group`.
    pub admin_group: Option<String>,
    /// `--hosts-file` (`none` disables).
    pub hosts_file: Option<String>,
    /// `--pinned-file` (`none` disables).
    pub pinned_file: Option<String>,
    /// `--pcap`.
    pub pcap: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<log::LevelFilter>,
    /// `--upstream-lid`, as often as given.
    pub upstream_lid: Vec<u16>,
    /// `--upstream-gid`, as often as given.
    pub upstream_gid: Vec<Gid>,
    /// `--sa-depth`.
    pub sa_depth: Option<usize>,
    /// `--mode`.
    pub mode: Option<ModeName>,
    /// `--bulk-refresh`.
    pub bulk_refresh: Option<Duration>,
    /// `--serve-sa`.
    pub serve_sa: bool,
    /// `--no-subscribe`.
    pub no_subscribe: bool,
    /// `--max-retries`.
    pub max_retries: Option<u8>,
    /// `--timeout` (`None` inside: derive from ClassPortInfo).
    pub timeout: Option<Option<Duration>>,
    /// `--positive-lifetime`.
    pub positive_lifetime: Option<Duration>,
    /// `--negative-lifetime`.
    pub negative_lifetime: Option<Duration>,
    /// `--heartbeat`.
    pub heartbeat: Option<Duration>,
    /// `--max-clients`.
    pub max_clients: Option<usize>,
    /// `--max-outstanding`.
    pub max_outstanding: Option<usize>,
    /// `--max-buffered`.
    pub max_buffered: Option<usize>,
    /// `--partial-timeout`.
    pub partial_timeout: Option<Duration>,
    /// `--port-poll-interval`.
    pub port_poll_interval: Option<Duration>,
    /// `--min-timeout`.
    pub min_timeout: Option<Duration>,
    /// `--max-timeout`.
    pub max_timeout: Option<Duration>,
    /// `--busy-backoff`.
    pub busy_backoff: Option<Duration>,
    /// `--sm-change`.
    pub sm_change: Option<SmChangePolicy>,
    /// `--max-pinned`.
    pub max_pinned: Option<usize>,
    /// `--max-line`.
    pub max_line: Option<usize>,
    /// `--shutdown-grace`.
    pub shutdown_grace: Option<Duration>,
}

/// Which ports the daemon serves (`port` in the file, `--port` on the command line).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PortChoice {
    /// The first ACTIVE port (the first port at all if none is active yet).
    #[default]
    FirstActive,
    /// Every ACTIVE port (`"all"`).
    AllActive,
    /// These umad indexes, in this order; the first is where requests without a source go.
    List(Vec<u32>),
}

impl PortChoice {
    /// The choice the `--port` flags make (`None` when none was given).
    pub fn from_args(args: &[PortArg]) -> Result<Option<PortChoice>, String> {
        if args.is_empty() {
            return Ok(None);
        }
        if args.contains(&PortArg::All) {
            if args.len() > 1 {
                return Err("--port all cannot be combined with other --port values".into());
            }
            return Ok(Some(PortChoice::AllActive));
        }
        let list: Vec<u32> =
            args.iter().filter_map(|a| if let PortArg::Index(i) = a { Some(*i) } else { None }).collect();
        PortChoice::list(list).map(Some)
    }

    fn list(list: Vec<u32>) -> Result<PortChoice, String> {
        for (i, p) in list.iter().enumerate() {
            if list[..i].contains(p) {
                return Err(format!("port {p} is given twice"));
            }
        }
        Ok(PortChoice::List(list))
    }
}

/// One `--port` value: a umad index or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortArg {
    /// `umadN`.
    Index(u32),
    /// Every ACTIVE port.
    All,
}

impl std::str::FromStr for PortArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(PortArg::All);
        }
        match s.parse::<u32>() {
            Ok(i) if i <= 63 => Ok(PortArg::Index(i)),
            _ => Err(format!("{s:?} is not a port: a umad index 0..63 or \"all\"")),
        }
    }
}

/// `mode` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeName {
    /// Resolve misses one by one.
    OnDemand,
    /// Also prefetch every path from the port.
    Bulk,
}

impl std::str::FromStr for ModeName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on-demand" => Ok(ModeName::OnDemand),
            "bulk" => Ok(ModeName::Bulk),
            _ => Err(format!("{s:?} is not a mode: on-demand or bulk")),
        }
    }
}

// ---- the file's shape ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    daemon: DaemonSection,
    #[serde(default)]
    sa: SaSection,
    #[serde(default)]
    cache: CacheSection,
    #[serde(default)]
    clients: ClientsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonSection {
    port: Option<PortValue>,
    acm_socket: Option<OptPath>,
    admin_socket: Option<OptPath>,
    admin_group: Option<NonEmpty>,
    hosts_file: Option<OptPath>,
    pinned_file: Option<OptPath>,
    pcap: Option<OptPath>,
    log_level: Option<Level>,
    port_poll_interval: Option<Dur<100, { 3600 * 1000 }>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaSection {
    upstream_lid: Option<OneOrMany<Ranged<1, 0xbfff>>>,
    upstream_gid: Option<OneOrMany<GidValue>>,
    sa_depth: Option<Ranged<1, 4096>>,
    mode: Option<ModeName>,
    bulk_refresh: Option<Dur<1000, { 7 * 24 * 3600 * 1000 }>>,
    serve_sa: Option<bool>,
    subscribe: Option<bool>,
    max_retries: Option<Ranged<0, 20>>,
    timeout: Option<TimeoutValue>,
    min_timeout: Option<SaWait>,
    max_timeout: Option<SaWait>,
    busy_backoff: Option<SaWait>,
    heartbeat: Option<Dur<1000, { 24 * 3600 * 1000 }>>,
    sm_change: Option<SmChange>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    positive_lifetime: Option<Dur<0, { 365 * 24 * 3600 * 1000 }>>,
    negative_lifetime: Option<Dur<0, { 24 * 3600 * 1000 }>>,
    max_pinned: Option<PinCount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsSection {
    max_clients: Option<Ranged<1, 65535>>,
    max_outstanding: Option<Ranged<1, 65536>>,
    max_buffered: Option<Size<4096, { 1 << 30 }>>,
    max_line: Option<LineSize>,
    partial_timeout: Option<Dur<10, 3_600_000>>,
    shutdown_grace: Option<Grace>,
}

/// `sm_change`: the same words as `--sm-change`.
#[derive(Debug, Clone, Copy)]
struct SmChange(SmChangePolicy);

impl<'de> Deserialize<'de> for SmChange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_sm_change(&s).map(SmChange).map_err(de::Error::custom)
    }
}

// The limits of the keys that have flags of the same name too: one type each, so the file
// and the command line check the same bounds.
/// `min_timeout`, `max_timeout`, `busy_backoff`.
type SaWait = Dur<1, 600_000>;
/// `shutdown_grace`.
type Grace = Dur<0, 60_000>;
/// `max_line`.
type LineSize = Size<1024, { 16 << 20 }>;
/// `max_pinned`.
type PinCount = Ranged<0, 65536>;

/// An integer in `MIN..=MAX`.
#[derive(Debug, Clone, Copy)]
struct Ranged<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Ranged<MIN, MAX> {
    fn check(v: i64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&v) {
            Ok(Ranged(v))
        } else {
            Err(format!("{v} is out of range: expected {MIN} to {MAX}"))
        }
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Ranged<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::check(i64::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A duration between `MIN_MS` and `MAX_MS` milliseconds, written `"250ms"`, `"5s"`, `"2m"`,
/// `"1h"`, `"1d"`, or as a bare integer of seconds.
#[derive(Debug, Clone, Copy)]
struct Dur<const MIN_MS: u64, const MAX_MS: u64>(Duration);

impl<const MIN_MS: u64, const MAX_MS: u64> Dur<MIN_MS, MAX_MS> {
    fn check(v: Duration) -> Result<Self, String> {
        let (min, max) = (Duration::from_millis(MIN_MS), Duration::from_millis(MAX_MS));
        if v < min || v > max {
            return Err(format!(
                "{} is out of range: expected {} to {}",
                show_duration(v),
                show_duration(min),
                show_duration(max)
            ));
        }
        Ok(Dur(v))
    }
}

impl<'de, const MIN_MS: u64, const MAX_MS: u64> Deserialize<'de> for Dur<MIN_MS, MAX_MS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::check(d.deserialize_any(DurationVisitor)?).map_err(de::Error::custom)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"500ms\", \"5s\", \"10m\", \"1h\" (or an integer of seconds)")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v).map(Duration::from_secs).map_err(|_| E::custom("a duration cannot be negative"))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
}

/// A byte count between `MIN` and `MAX`, written `65536`, `"64KiB"`, `"1MiB"`, `"1GiB"`.
#[derive(Debug, Clone, Copy)]
struct Size<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Size<MIN, MAX> {
    fn check(v: u64) -> Result<Self, String> {
        if !(MIN..=MAX).contains(&v) {
            return Err(format!("{v} bytes is out of range: expected {MIN} to {MAX}"));
        }
        Ok(Size(v))
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Size<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::check(d.deserialize_any(SizeVisitor)?).map_err(de::Error::custom)
    }
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size in bytes such as 65536, \"64KiB\" or \"1MiB\"")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("a size cannot be negative"))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }
}

/// A path, where `""` (or `"none"`) switches the feature off.
#[derive(Debug, Clone)]
struct OptPath(Option<PathBuf>);

impl<'de> Deserialize<'de> for OptPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(OptPath(optional_path(&s)))
    }
}

/// A string that must not be empty.
#[derive(Debug, Clone)]
struct NonEmpty(String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(NonEmpty(s))
    }
}

#[derive(Debug, Clone, Copy)]
struct Level(log::LevelFilter);

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_level(&s).map(Level).map_err(de::Error::custom)
    }
}

/// `port`: a umad index, a list of them, or `"all"`.
#[derive(Debug, Clone)]
struct PortValue(PortChoice);

impl<'de> Deserialize<'de> for PortValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortChoice;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a umad index 0..63, a list of them, or \"all\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortChoice, E> {
                match u32::try_from(v) {
                    Ok(i) if i <= 63 => Ok(PortChoice::List(vec![i])),
                    _ => Err(E::custom(format!("{v} is out of range: expected 0 to 63"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortChoice, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortChoice, E> {
                match v {
                    "all" => Ok(PortChoice::AllActive),
                    _ => Err(E::custom(format!("{v:?} is not a port: a umad index, a list, or \"all\""))),
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PortChoice, A::Error> {
                let mut list = Vec::new();
                while let Some(p) = seq.next_element::<Ranged<0, 63>>()? {
                    list.push(p.0 as u32);
                }
                if list.is_empty() {
                    return Err(de::Error::custom("the list of ports is empty"));
                }
                PortChoice::list(list).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V).map(PortValue)
    }
}

/// One value, or a list of them (one per port).
#[derive(Debug, Clone)]
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape<T> {
            Many(Vec<T>),
            One(T),
        }
        match Shape::deserialize(d) {
            Ok(Shape::One(v)) => Ok(OneOrMany(vec![v])),
            Ok(Shape::Many(v)) if !v.is_empty() => Ok(OneOrMany(v)),
            Ok(Shape::Many(_)) => Err(de::Error::custom("the list is empty")),
            Err(_) => Err(de::Error::custom("expected a value or a list of values, one per port")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct GidValue(Gid);

impl<'de> Deserialize<'de> for GidValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Gid::parse(&s).map(GidValue).ok_or_else(|| de::Error::custom(format!("{s:?} is not a GID")))
    }
}

/// `"auto"` (from the SA's ClassPortInfo) or a fixed duration.
#[derive(Debug, Clone, Copy)]
struct TimeoutValue(Option<Duration>);

impl<'de> Deserialize<'de> for TimeoutValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_timeout(&s).map(TimeoutValue).map_err(de::Error::custom)
    }
}

// ---- value parsers shared with the command line ----

/// `""` and `"none"` mean "off".
pub fn optional_path(s: &str) -> Option<PathBuf> {
    if s.is_empty() || s == "none" {
        None
    } else {
        Some(PathBuf::from(s))
    }
}

/// Parses `"250ms"`, `"5s"`, `"2m"`, `"1h"`, `"1d"`, `"0"`, `"1.5s"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 =
        num.parse().map_err(|_| format!("{text:?} is not a duration (e.g. \"500ms\", \"5s\")"))?;
    let scale = match unit.trim() {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" | "" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => return Err(format!("unknown time unit {other:?} in {text:?} (us, ms, s, m, h, d)")),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e10 {
        return Err(format!("{text:?} is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `"auto"` or a duration.
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    if text == "auto" {
        return Ok(None);
    }
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err("a fixed timeout must be above zero (or \"auto\")".into());
    }
    Ok(Some(d))
}

/// Parses `65536`, `"64KiB"`, `"1MiB"`, `"1GiB"`, `"64k"`, `"1M"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: u64 = num.parse().map_err(|_| format!("{text:?} is not a size (e.g. 65536, \"64KiB\")"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?} (KiB, MiB, GiB)")),
    };
    value.checked_mul(scale).ok_or_else(|| format!("{text:?} is too large"))
}

/// An SM-change policy: `revalidate` or `flush`.
pub fn parse_sm_change(text: &str) -> Result<SmChangePolicy, String> {
    match text {
        "revalidate" => Ok(SmChangePolicy::Revalidate),
        "flush" => Ok(SmChangePolicy::Flush),
        _ => Err(format!("{text:?} is not a policy: revalidate or flush")),
    }
}

/// `error`, `warn`, `info`, `debug`, `trace` or `off`.
pub fn parse_level(text: &str) -> Result<log::LevelFilter, String> {
    text.parse().map_err(|_| format!("{text:?} is not a log level: error, warn, info, debug, trace, off"))
}

fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn core_duration(d: Duration) -> localsa_core::time::Duration {
    localsa_core::time::Duration::from_micros(d.as_micros().min(u64::MAX as u128) as u64)
}

// ---- assembling ----

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The dotted key an error at `line` is about: the `[section]` above it and the key on it.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?.trim();
    if let Some(section) = this.strip_prefix('[') {
        return Some(section.trim_end_matches(']').trim().to_owned());
    }
    let key = this.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let section = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_start_matches('[').trim_end_matches(']').trim().to_owned());
    Some(match section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_owned(),
    })
}

/// The line where `section.key` is set, for errors found after parsing (two keys that
/// contradict each other).
fn line_of_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_start_matches('[').trim_end_matches(']').trim().to_owned();
        } else if current == section && t.split('=').next().map(|k| k.trim().trim_matches('"')) == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str::<FileConfig>(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        ConfigError {
            file: Some(path.to_owned()),
            line,
            key: line.and_then(|l| key_at(text, l)),
            message: e.message().trim().to_owned(),
        }
    })
}

impl Settings {
    /// Reads `config` (or the default file, if it exists), then applies `overrides`.
    pub fn load(config: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let (path, text) = match config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    file: Some(p.to_owned()),
                    line: None,
                    key: None,
                    message: format!("cannot read: {e}"),
                })?;
                (Some(p.to_owned()), text)
            }
            None => match std::fs::read_to_string(DEFAULT_CONFIG) {
                Ok(text) => (Some(PathBuf::from(DEFAULT_CONFIG)), text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, String::new()),
                Err(e) => {
                    return Err(ConfigError {
                        file: Some(DEFAULT_CONFIG.into()),
                        line: None,
                        key: None,
                        message: format!("cannot read: {e}"),
                    })
                }
            },
        };
        Settings::from_text(path.as_deref(), &text, overrides)
    }

    /// Builds settings from a file's text (`path` for messages) and `overrides`.
    pub fn from_text(path: Option<&Path>, text: &str, o: &Overrides) -> Result<Settings, ConfigError> {
        let file = match path {
            Some(p) => parse_file(p, text)?,
            None => FileConfig::default(),
        };
        let at = |section: &str, key: &str, message: String| ConfigError {
            file: path.map(Path::to_owned),
            line: line_of_key(text, section, key),
            key: Some(format!("{section}.{key}")),
            message,
        };
        let mut s = Settings { source: path.map(Path::to_owned), ..Settings::default() };

        let d = &file.daemon;
        s.ports = match PortChoice::from_args(&o.ports) {
            Ok(Some(c)) => c,
            Ok(None) => d.port.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
            Err(m) => {
                return Err(ConfigError { file: None, line: None, key: Some("--port".into()), message: m })
            }
        };
        s.acm_socket = pick_path(o.acm_socket.as_deref(), d.acm_socket.as_ref(), s.acm_socket);
        s.admin_socket = pick_path(o.admin_socket.as_deref(), d.admin_socket.as_ref(), s.admin_socket);
        s.hosts_file = pick_path(o.hosts_file.as_deref(), d.hosts_file.as_ref(), s.hosts_file);
        s.pinned_file = pick_path(o.pinned_file.as_deref(), d.pinned_file.as_ref(), s.pinned_file);
        s.pcap = o.pcap.clone().or_else(|| d.pcap.as_ref().and_then(|p| p.0.clone()));
        s.admin_group = o.admin_group.clone().or_else(|| d.admin_group.as_ref().map(|g| g.0.clone()));
        s.log_level = o.log_level.or(d.log_level.map(|l| l.0)).unwrap_or(s.log_level);
        s.port_poll_interval =
            o.port_poll_interval.or(d.port_poll_interval.map(|v| v.0)).unwrap_or(s.port_poll_interval);

        let sa = &file.sa;
        let lids: Vec<u16> = if o.upstream_lid.is_empty() {
            sa.upstream_lid.as_ref().map(|v| v.0.iter().map(|l| l.0 as u16).collect()).unwrap_or_default()
        } else {
            o.upstream_lid.clone()
        };
        let gids: Vec<Gid> = if o.upstream_gid.is_empty() {
            sa.upstream_gid.as_ref().map(|v| v.0.iter().map(|g| g.0).collect()).unwrap_or_default()
        } else {
            o.upstream_gid.clone()
        };
        s.upstreams = match (lids.is_empty(), gids.is_empty()) {
            (false, false) => {
                return Err(at("sa", "upstream_gid", "give upstream_lid or upstream_gid, not both".into()))
            }
            (false, true) => lids.into_iter().map(Upstream::Lid).collect(),
            (true, false) => gids.into_iter().map(Upstream::Gid).collect(),
            (true, true) => Vec::new(),
        };
        let e = &mut s.engine;
        e.upstream = s.upstreams.first().copied().unwrap_or(Upstream::SmLid);
        e.sa_depth = o.sa_depth.or(sa.sa_depth.map(|v| v.0 as usize)).unwrap_or(e.sa_depth);
        e.max_retries = o.max_retries.or(sa.max_retries.map(|v| v.0 as u8)).unwrap_or(e.max_retries);
        if let Some(t) = o.timeout.or(sa.timeout.map(|t| t.0)) {
            e.timeout = t.map(core_duration);
        }
        if let Some(v) = o.min_timeout.or(sa.min_timeout.map(|v| v.0)) {
            e.min_timeout = core_duration(v);
        }
        if let Some(v) = o.max_timeout.or(sa.max_timeout.map(|v| v.0)) {
            e.max_timeout = core_duration(v);
        }
        if e.min_timeout > e.max_timeout {
            return Err(at("sa", "min_timeout", "min_timeout is above max_timeout".into()));
        }
        if let Some(v) = o.busy_backoff.or(sa.busy_backoff.map(|v| v.0)) {
            e.busy_backoff = core_duration(v);
        }
        if let Some(v) = o.heartbeat.or(sa.heartbeat.map(|v| v.0)) {
            e.heartbeat = core_duration(v);
        }
        if let Some(p) = o.sm_change.or(sa.sm_change.map(|p| p.0)) {
            e.sm_change = p;
        }
        e.subscribe = if o.no_subscribe { false } else { sa.subscribe.unwrap_or(e.subscribe) };
        e.serve_sa = o.serve_sa || sa.serve_sa.unwrap_or(false);
        let refresh = o.bulk_refresh.or(sa.bulk_refresh.map(|v| v.0)).unwrap_or(Duration::from_secs(600));
        e.mode = match o.mode.or(sa.mode).unwrap_or(ModeName::OnDemand) {
            ModeName::OnDemand => Mode::OnDemand,
            ModeName::Bulk => Mode::Bulk { refresh: core_duration(refresh) },
        };

        let c = &file.cache;
        if let Some(v) = o.positive_lifetime.or(c.positive_lifetime.map(|v| v.0)) {
            e.positive_lifetime = core_duration(v);
        }
        if let Some(v) = o.negative_lifetime.or(c.negative_lifetime.map(|v| v.0)) {
            e.negative_lifetime = core_duration(v);
        }
        s.max_pinned = o.max_pinned.or(c.max_pinned.map(|v| v.0 as usize));

        let cl = &file.clients;
        let l = &mut s.clients;
        l.max_clients = o.max_clients.or(cl.max_clients.map(|v| v.0 as usize)).unwrap_or(l.max_clients);
        l.max_outstanding =
            o.max_outstanding.or(cl.max_outstanding.map(|v| v.0 as usize)).unwrap_or(l.max_outstanding);
        l.max_buffered = o.max_buffered.or(cl.max_buffered.map(|v| v.0 as usize)).unwrap_or(l.max_buffered);
        l.max_line = o.max_line.or(cl.max_line.map(|v| v.0 as usize)).unwrap_or(l.max_line);
        l.partial_timeout =
            o.partial_timeout.or(cl.partial_timeout.map(|v| v.0)).unwrap_or(l.partial_timeout);
        l.shutdown_grace = o.shutdown_grace.or(cl.shutdown_grace.map(|v| v.0)).unwrap_or(l.shutdown_grace);

        // Command-line values have no line to point at, but the same limits.
        let cli = |key: &str, message: String| ConfigError {
            file: None,
            line: None,
            key: Some(key.into()),
            message,
        };
        if !(1..=4096).contains(&s.engine.sa_depth) {
            return Err(cli(
                "--sa-depth",
                format!("{} is out of range: expected 1 to 4096", s.engine.sa_depth),
            ));
        }
        if !(1..=65535).contains(&s.clients.max_clients) {
            return Err(cli("--max-clients", "expected 1 to 65535".into()));
        }
        if s.clients.max_outstanding == 0 {
            return Err(cli("--max-outstanding", "must be at least 1".into()));
        }
        if s.clients.max_buffered < 4096 {
            return Err(cli("--max-buffered", "must be at least 4096 bytes".into()));
        }
        // The file's limits hold for the flags too: the same types check both.
        for (key, v) in [
            ("--min-timeout", o.min_timeout),
            ("--max-timeout", o.max_timeout),
            ("--busy-backoff", o.busy_backoff),
        ] {
            v.map(SaWait::check).transpose().map_err(|m| cli(key, m))?;
        }
        o.shutdown_grace.map(Grace::check).transpose().map_err(|m| cli("--shutdown-grace", m))?;
        o.max_pinned
            .map(|n| PinCount::check(i64::try_from(n).unwrap_or(i64::MAX)))
            .transpose()
            .map_err(|m| cli("--max-pinned", m))?;
        o.max_line.map(|n| LineSize::check(n as u64)).transpose().map_err(|m| cli("--max-line", m))?;
        if s.acm_socket.is_some() && s.acm_socket == s.admin_socket {
            return Err(at("daemon", "admin_socket", "the ACM and admin sockets must differ".into()));
        }
        Ok(s)
    }
}

fn pick_path(flag: Option<&str>, file: Option<&OptPath>, default: Option<PathBuf>) -> Option<PathBuf> {
    match (flag, file) {
        (Some(f), _) => optional_path(f),
        (None, Some(p)) => p.0.clone(),
        (None, None) => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_text(Some(Path::new("t.toml")), text, &Overrides::default())
    }

    #[test]
    fn flags_have_the_files_limits() {
        let with = |o: Overrides| Settings::from_text(None, "", &o);
        let err = |o: Overrides| with(o).unwrap_err().key.unwrap_or_default();
        let ms = Duration::from_millis;
        assert_eq!(err(Overrides { min_timeout: Some(ms(0)), ..Overrides::default() }), "--min-timeout");
        assert_eq!(
            err(Overrides { busy_backoff: Some(ms(600_001)), ..Overrides::default() }),
            "--busy-backoff"
        );
        assert_eq!(
            err(Overrides { shutdown_grace: Some(ms(60_001)), ..Overrides::default() }),
            "--shutdown-grace"
        );
        assert_eq!(err(Overrides { max_pinned: Some(65_537), ..Overrides::default() }), "--max-pinned");
        assert_eq!(err(Overrides { max_line: Some(1023), ..Overrides::default() }), "--max-line");
        let s = with(Overrides {
            shutdown_grace: Some(ms(0)),
            max_line: Some(1024),
            max_pinned: Some(0),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!((s.clients.shutdown_grace, s.clients.max_line, s.max_pinned), (ms(0), 1024, Some(0)));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let s = load("").unwrap();
        assert_eq!(s.engine, EngineConfig::DEFAULT);
        assert_eq!(s.clients, ClientLimits::DEFAULT);
        assert_eq!(s.acm_socket.as_deref(), Some(Path::new(DEFAULT_ACM_SOCKET)));
    }

    #[test]
    fn values_are_read() {
        let s = load(
            "[daemon]\nacm_socket = \"\"\nport = 2\n[sa]\nsa_depth = 4\nmode = \"bulk\"\n\
             bulk_refresh = \"2m\"\ntimeout = \"250ms\"\nupstream_lid = 7\n[cache]\n\
             negative_lifetime = \"0\"\n[clients]\nmax_buffered = \"64KiB\"\n",
        )
        .unwrap();
        assert_eq!(s.acm_socket, None);
        assert_eq!(s.ports, PortChoice::List(vec![2]));
        assert_eq!(s.engine.sa_depth, 4);
        assert_eq!(s.engine.upstream, Upstream::Lid(7));
        assert_eq!(s.engine.timeout, Some(localsa_core::time::Duration::from_millis(250)));
        assert_eq!(s.engine.mode, Mode::Bulk { refresh: localsa_core::time::Duration::from_secs(120) });
        assert_eq!(s.engine.negative_lifetime, localsa_core::time::Duration::ZERO);
        assert_eq!(s.clients.max_buffered, 65536);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = load("[sa]\nsa_depth = 4\nsa_dept = 5\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(e.key.as_deref(), Some("sa.sa_dept"), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_value_names_line_and_key() {
        let e = load("# comment\n[sa]\n\nsa_depth = 0\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("sa.sa_depth")), "{e}");
        let e = load("[cache]\npositive_lifetime = \"5 fortnights\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("cache.positive_lifetime")), "{e}");
        let e = load("[nope]\nx = 1\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        let e = load("[sa]\nupstream_lid = 3\nupstream_gid = \"fe80::1\"\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = load("[sa]\nmode = \"sometimes\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("sa.mode"), "{e}");
    }

    #[test]
    fn overrides_win() {
        let o = Overrides { sa_depth: Some(9), acm_socket: Some("/tmp/a".into()), ..Default::default() };
        let s = Settings::from_text(Some(Path::new("t")), "[sa]\nsa_depth = 3\n", &o).unwrap();
        assert_eq!(s.engine.sa_depth, 9);
        assert_eq!(s.acm_socket.as_deref(), Some(Path::new("/tmp/a")));
    }

    #[test]
    fn ports() {
        assert_eq!(load("").unwrap().ports, PortChoice::FirstActive);
        assert_eq!(load("[daemon]\nport = [1, 0]\n").unwrap().ports, PortChoice::List(vec![1, 0]));
        assert_eq!(load("[daemon]\nport = \"all\"\n").unwrap().ports, PortChoice::AllActive);
        for bad in ["port = [1, 1]", "port = []", "port = 64", "port = \"some\"", "port = [\"all\"]"] {
            let e = load(&format!("[daemon]\n{bad}\n")).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("daemon.port"), "{bad}: {e}");
        }
        let o = Overrides { ports: vec![PortArg::Index(3), PortArg::Index(1)], ..Default::default() };
        let s = Settings::from_text(Some(Path::new("t")), "[daemon]\nport = \"all\"\n", &o).unwrap();
        assert_eq!(s.ports, PortChoice::List(vec![3, 1]));
        let o = Overrides { ports: vec![PortArg::All, PortArg::Index(1)], ..Default::default() };
        assert!(Settings::from_text(None, "", &o).is_err());
        assert_eq!("all".parse::<PortArg>(), Ok(PortArg::All));
        assert!("64".parse::<PortArg>().is_err());
    }

    #[test]
    fn upstreams_per_port() {
        let s = load("[sa]\nupstream_gid = [\"fe80::1\", \"fe80::2\"]\n").unwrap();
        let g = |t: &str| Upstream::Gid(Gid::parse(t).unwrap());
        assert_eq!(s.upstreams, vec![g("fe80::1"), g("fe80::2")]);
        assert_eq!(s.engine.upstream, g("fe80::1"));
        let s = load("[sa]\nupstream_lid = 4\n").unwrap();
        assert_eq!(s.upstreams, vec![Upstream::Lid(4)]);
        assert!(load("[sa]\nupstream_lid = [4, 0]\n").is_err());
        assert!(load("[sa]\nupstream_gid = []\n").is_err());
        assert!(load("").unwrap().upstreams.is_empty());
    }

    #[test]
    fn units() {
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert!(parse_size("-1").is_err());
    }
}
