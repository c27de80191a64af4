//! Runs the real InfiniBand peers — ibsim, OpenSM, infiniband-diags, our own daemon — on a simulated
//! fabric, for end-to-end tests, benchmarks and demos.
//!
//! ```no_run
//! use std::time::Duration;
//! use localsa_testbed::{Fabric, FabricOptions, OpenSmOptions, Topology};
//!
//! # fn main() -> Result<(), localsa_testbed::Error> {
//! let topo = Topology::fat_tree(16)?; // H0001..H0016 under leaves L01, L02 and spines S01..S08
//! let fabric = Fabric::start(&topo, FabricOptions::labelled("example"))?;
//! let sm = fabric.start_opensm("H0001", OpenSmOptions { sweep_seconds: 1, ..Default::default() })?;
//! sm.wait_master(Duration::from_secs(20))?;
//!
//! let (a, b) = (fabric.lid("H0002")?, fabric.lid("H0016")?);
//! let out = fabric.run_saquery("H0002", &["-p", "--slid", &a.to_string(), "--dlid", &b.to_string()])?;
//! assert!(out.contains("PathRecord dump"));
//!
//! fabric.unlink("H0016")?; // console command, synchronous
//! fabric.relink("H0016")?;
//!
//! // Our daemon, attached to H0003, torn down with the fabric.
//! let mut cmd = fabric.command("H0003", "localsa");
//! cmd.arg("--help");
//! let daemon = fabric.spawn_logged("localsa-h3", cmd)?;
//! # let _ = daemon;
//! # Ok(())
//! # }
//! // Dropping `fabric` stops the daemon, then OpenSM, then ibsim, and removes its directory.
//! ```
//!
//! # What a [`Fabric`] is
//!
//! - A private directory (under `$TMPDIR`, or [`FabricOptions::parent_dir`]) holding the netfile,
//!   logs, the console FIFO and the `sys-PID` trees of the shim; removed at teardown unless
//!   [`FabricOptions::keep`] or `LOCALSA_KEEP_FABRIC=1`.
//! - A unique `IBSIM_SOCKNAME` (`localsa-<pid>-<counter>-<random>`), so fabrics of parallel tests never
//!   meet. Every process of the fabric carries it in its environment; [`assert_no_leftovers`] uses that
//!   to prove that teardown left nothing behind.
//! - `ibsim -s NETFILE` with its stdin a FIFO the fabric holds open for writing: console commands work,
//!   and ibsim never sees EOF (with stdin at EOF it spins at 100% CPU). Start-up waits until ibsim has
//!   bound its sockets (`/proc/net/unix`).
//! - Clients made by [`Fabric::command`] (or [`Fabric::command_issm`]): `LD_PRELOAD` = the
//!   `libumad2sim.so` shim, `IBSIM_SOCKNAME`, `SIM_HOST=<node>`, working directory = the fabric
//!   directory. ibsim accepts at most [`MAX_CLIENTS`] (10) attached clients at a time, OpenSM and
//!   every running tool included.
//! - Teardown in [`Drop`]: spawned children, then OpenSM, then ibsim; each tier gets SIGTERM to its
//!   process groups, up to [`FabricOptions::stop_grace`] (3 s), then SIGKILL, then is reaped.
//!   Children run in their own process groups, so their own children die too. If the test process
//!   itself is SIGKILLed, Drop cannot run: `localsa-fabric` and [`processes_with_sockname`] help to
//!   clean up by hand.
//!
//! # ibsim console (ibsim 0.10, `ibsim/sim_cmd.c`)
//!
//! Node names are quoted, ports in brackets right after the closing quote. Command names are matched
//! case-insensitively. What was verified in the source and on the installed ibsim:
//!
//! | command | meaning |
//! |---|---|
//! | `Unlink "node"` | take down every link of the node, remembering them; a switch at either end sends trap 128 |
//! | `Unlink "node"[port]` | take down one link (`# port N at nodeid "x" is not linked` if it is not) |
//! | `ReLink "node"` / `ReLink "node"[port]` | restore remembered links (`# no previous link stored`) |
//! | `Error "node"[port] RATE [ATTR]` | drop packets with probability RATE % (0..=100), see [`Fabric::error_rate`]; without `[port]`: all ports |
//! | `Baselid "node"[port] LID [LMC]` | change a port's LID |
//! | `Verbose [LEVEL]` | show/set verbosity; answers `simulator verbose level is N`; 3 dumps packets |
//! | `Attached` | list clients: `Client 1: pid P connected at "H1" port 0x100001, lid 1, qp 0 SM` |
//! | `Dump ["node"]`, `Route FROM TO`, `Link`, `Clear`, `Guid`, `PerformanceSet`, `Wait`, `X N` | see `Help` |
//! | `# text` | echoed as is (the fabric uses this to know when a command was processed) |
//! | `Quit` | exit |
//!
//! Errors are printed as lines starting with `#` (`# nodeid "x" (x) not found`), which
//! [`Fabric::console_checked`] and the wrappers turn into [`Error::Console`]. Lines longer than 127
//! bytes are split by ibsim's reader.
//!
//! # Capturing MADs
//!
//! `fabric.verbose(3)` makes ibsim dump every MAD a client sends; [`Fabric::captured_mads`] parses the
//! dumps from its log ([`capture`] explains the format). The dump shows what the sender sent, all 256
//! bytes; remember that receivers on this fabric only get the first 224 bytes intact (see
//! `/work/shared/fabric-notes.md`).

pub mod capture;
mod error;
mod fabric;
mod leftovers;
mod opensm;
mod process;
pub mod topology;

pub use capture::{
    parse_packet_dumps, parse_routed, CapturedMad, RoutedMad, ATTR_INFORM_INFO, ATTR_NOTICE,
    ATTR_PATH_RECORD, MAD_SIZE, METHOD_GET, METHOD_GET_TABLE, METHOD_REPORT, METHOD_SET, MGMT_CLASS_SA,
};
pub use error::{Error, Result};
pub use fabric::{
    AttachedClient, Fabric, FabricOptions, LogMark, PortAddr, SmInfo, CONSOLE_TIMEOUT, DEFAULT_SHIM,
    KEEP_ENV, MAX_CLIENTS, MAX_CONSOLE_LINE, TOOL_TIMEOUT,
};
pub use leftovers::{assert_no_leftovers, processes_with_sockname, wait_no_leftovers, LeftoverProcess};
pub use nix::sys::signal::Signal;
pub use opensm::{OpenSm, OpenSmOptions};
pub use process::Process;
pub use topology::{
    ExtLinkSpeed, FatTreeShape, Link, LinkOptions, LinkSpeed, LinkWidth, Node, NodeId, NodeKind, Topology,
    MAX_HOPS, MAX_NAME_LEN, MAX_NODES, MAX_PORTS, MAX_SWITCHES, SWITCH_RADIX,
};
