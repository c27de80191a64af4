//! `localsa daemon`: runs the path cache in the foreground (systemd, a terminal, a test).
//! Settings come from the TOML file (`--config`, default `/etc/localsa/localsa.toml`), with
//! these flags on top.

use std::path::PathBuf;
use std::time::Duration;

use super::CliError;
use crate::daemon::config::{
    parse_duration, parse_level, parse_size, parse_sm_change, parse_timeout, ModeName, Overrides, PortArg,
    Settings,
};
use crate::daemon::{self, DaemonError};
use localsa_core::engine::SmChangePolicy;

/// Options of `daemon`. Each overrides the key of the same name in the config file.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// Configuration file [default: /etc/localsa/localsa.toml, if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A port to serve: a umad index, repeatable (one engine each; the first takes requests
    /// without a source), or `all` for every ACTIVE port [default: the first ACTIVE port].
    #[arg(long, value_name = "N|all")]
    pub port: Vec<PortArg>,
    /// ACM socket path (`none` disables) [default: /run/ibacm-unix.sock].
    #[arg(long, value_name = "PATH")]
    pub acm_socket: Option<String>,
    /// Admin socket path (`none` disables) [default: /run/localsa/admin.sock].
    #[arg(long, value_name = "PATH")]
    pub admin_socket: Option<String>,
    /// Group (name or number) allowed to add, delete, flush and watch events, besides root.
    #[arg(long, value_name = "GROUP")]
    pub admin_group: Option<String>,
    /// ibacm_hosts.data file for name and IP resolution (`none` disables).
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<String>,
    /// Where pinned entries persist (`none`: not at all) [default: /var/lib/localsa/pinned.json].
    #[arg(long, value_name = "FILE")]
    pub pinned_file: Option<String>,
    /// Capture every MAD sent and received to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, value_parser = parse_level)]
    pub log_level: Option<log::LevelFilter>,
    /// Send SA queries to this LID instead of the SM's (a replica, a secondary SA).
    /// Repeatable: one LID for every port, or one per `--port`, in order.
    #[arg(long, value_name = "LID", conflicts_with = "upstream_gid")]
    pub upstream_lid: Vec<u16>,
    /// Send SA queries to this GID (with a GRH). Repeatable, as `--upstream-lid`.
    #[arg(long, value_name = "GID", value_parser = parse_gid)]
    pub upstream_gid: Vec<localsa_core::wire::Gid>,
    /// SA queries outstanding at once (1..4096).
    #[arg(long, value_name = "N")]
    pub sa_depth: Option<usize>,
    /// on-demand: resolve misses one by one; bulk: also prefetch every path from the port.
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<ModeName>,
    /// How often bulk mode fetches everything again (e.g. 10m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub bulk_refresh: Option<Duration>,
    /// Answer PathRecord queries from other nodes out of the cache (replica mode).
    #[arg(long)]
    pub serve_sa: bool,
    /// Do not subscribe to traps (no push invalidation).
    #[arg(long)]
    pub no_subscribe: bool,
    /// Retransmissions of an SA query before it fails.
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u8>,
    /// Per-attempt SA timeout, or `auto` (from the SA's ClassPortInfo).
    #[arg(long, value_parser = parse_timeout_arg, value_name = "DURATION|auto")]
    pub timeout: Option<TimeoutArg>,
    /// How long a path from the SA stays cached (0: until invalidated).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub positive_lifetime: Option<Duration>,
    /// How long "no such path" stays cached.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub negative_lifetime: Option<Duration>,
    /// How often the SA is checked and subscriptions renewed.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub heartbeat: Option<Duration>,
    /// Clients connected at once (both sockets).
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,
    /// Requests one client may have waiting before the daemon stops reading from it.
    #[arg(long, value_name = "N")]
    pub max_outstanding: Option<usize>,
    /// Unread answer bytes after which a client is dropped (e.g. 1MiB).
    #[arg(long, value_parser = parse_size_usize, value_name = "BYTES")]
    pub max_buffered: Option<usize>,
    /// How long a client may leave half a request unfinished.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub partial_timeout: Option<Duration>,
    /// How often the port's sysfs attributes are read again.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub port_poll_interval: Option<Duration>,
    /// The shortest per-attempt SA timeout `auto` may derive.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub min_timeout: Option<Duration>,
    /// The longest per-attempt SA timeout (also the cap of its doubling).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_timeout: Option<Duration>,
    /// First wait after a BUSY answer; doubles with each BUSY in a row.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub busy_backoff: Option<Duration>,
    /// When the SM changes: revalidate (serve, refetch on use) or flush (pins stay).
    #[arg(long, value_parser = parse_sm_change, value_name = "revalidate|flush")]
    pub sm_change: Option<SmChangePolicy>,
    /// The most pinned entries [default: a quarter of the table].
    #[arg(long, value_name = "N")]
    pub max_pinned: Option<usize>,
    /// The longest admin request line (e.g. 64KiB).
    #[arg(long, value_parser = parse_size_usize, value_name = "BYTES")]
    pub max_line: Option<usize>,
    /// On SIGTERM/SIGINT, how long error answers to pending requests may take to drain.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Option<Duration>,
}

/// `--timeout`'s value: a duration, or `None` for `auto`. A type of its own because clap reads
/// a field of type `Option<Option<T>>` as a flag whose value may be left out, and then finds a
/// `T` where it expects an `Option<T>` (a panic on every `--timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutArg(pub Option<Duration>);

fn parse_timeout_arg(s: &str) -> Result<TimeoutArg, String> {
    parse_timeout(s).map(TimeoutArg)
}

fn parse_mode(s: &str) -> Result<ModeName, String> {
    s.parse()
}

fn parse_gid(s: &str) -> Result<localsa_core::wire::Gid, String> {
    localsa_core::wire::Gid::parse(s).ok_or_else(|| format!("{s:?} is not a GID"))
}

fn parse_size_usize(s: &str) -> Result<usize, String> {
    parse_size(s).and_then(|v| usize::try_from(v).map_err(|_| "too large".into()))
}

impl DaemonArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            ports: self.port.clone(),
            acm_socket: self.acm_socket.clone(),
            admin_socket: self.admin_socket.clone(),
            admin_group: self.admin_group.clone(),
            hosts_file: self.hosts_file.clone(),
            pinned_file: self.pinned_file.clone(),
            pcap: self.pcap.clone(),
            log_level: self.log_level,
            upstream_lid: self.upstream_lid.clone(),
            upstream_gid: self.upstream_gid.clone(),
            sa_depth: self.sa_depth,
            mode: self.mode,
            bulk_refresh: self.bulk_refresh,
            serve_sa: self.serve_sa,
            no_subscribe: self.no_subscribe,
            max_retries: self.max_retries,
            timeout: self.timeout.map(|t| t.0),
            positive_lifetime: self.positive_lifetime,
            negative_lifetime: self.negative_lifetime,
            heartbeat: self.heartbeat,
            max_clients: self.max_clients,
            max_outstanding: self.max_outstanding,
            max_buffered: self.max_buffered,
            partial_timeout: self.partial_timeout,
            port_poll_interval: self.port_poll_interval,
            min_timeout: self.min_timeout,
            max_timeout: self.max_timeout,
            busy_backoff: self.busy_backoff,
            sm_change: self.sm_change,
            max_pinned: self.max_pinned,
            max_line: self.max_line,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

/// Runs `daemon`.
pub fn run(args: &DaemonArgs) -> Result<String, CliError> {
    let settings = Settings::load(args.config.as_deref(), &args.overrides())
        .map_err(|e| CliError::Config(e.to_string()))?;
    daemon::run(settings).map_err(|e| match e {
        DaemonError::Config(m) => CliError::Config(m),
        DaemonError::Port(m) => CliError::Port(m),
        DaemonError::Os(m) => CliError::Os(m),
    })?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn daemon_args(args: &[&str]) -> Result<Box<DaemonArgs>, clap::Error> {
        let cli = Cli::try_parse_from(["localsa", "daemon"].iter().chain(args))?;
        match cli.command {
            Command::Daemon(a) => Ok(a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn timeout_flag_parses_durations_and_auto() {
        let a = daemon_args(&["--timeout", "250ms"]).unwrap();
        assert_eq!(a.overrides().timeout, Some(Some(Duration::from_millis(250))));
        let a = daemon_args(&["--timeout", "auto"]).unwrap();
        assert_eq!(a.overrides().timeout, Some(None));
        assert_eq!(daemon_args(&[]).unwrap().overrides().timeout, None);
        assert!(daemon_args(&["--timeout", "0s"]).is_err());
        assert!(daemon_args(&["--timeout"]).is_err(), "the value is required");
    }

    #[test]
    fn every_flag_with_a_value_parses() {
        let flags = "--sa-depth 2 --max-retries 1 --heartbeat 5s --bulk-refresh 1m --positive-lifetime 0s \
                     --negative-lifetime 1s --max-buffered 1MiB --partial-timeout 2s --port-poll-interval 1s \
                     --mode bulk";
        let a = daemon_args(&flags.split_whitespace().collect::<Vec<_>>()).unwrap();
        let o = a.overrides();
        assert_eq!((o.sa_depth, o.max_retries), (Some(2), Some(1)));
        assert_eq!(o.heartbeat, Some(Duration::from_secs(5)));
        assert_eq!(o.max_buffered, Some(1 << 20));
        let flags = "--min-timeout 50ms --max-timeout 2s --busy-backoff 20ms --sm-change flush \
                     --max-pinned 10 --max-line 4KiB --shutdown-grace 3s";
        let o = daemon_args(&flags.split_whitespace().collect::<Vec<_>>()).unwrap().overrides();
        assert_eq!(
            (o.min_timeout, o.max_timeout),
            (Some(Duration::from_millis(50)), Some(Duration::from_secs(2)))
        );
        assert_eq!(
            (o.busy_backoff, o.sm_change),
            (Some(Duration::from_millis(20)), Some(SmChangePolicy::Flush))
        );
        assert_eq!((o.max_pinned, o.max_line), (Some(10), Some(4096)));
        assert_eq!(o.shutdown_grace, Some(Duration::from_secs(3)));
        assert!(daemon_args(&["--sm-change", "drop"]).is_err());
    }
}
