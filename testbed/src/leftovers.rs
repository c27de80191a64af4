//! Finding processes of a fabric by the `IBSIM_SOCKNAME` in their environment.
//!
//! Every process the testbed starts for a fabric (ibsim, OpenSM, the tools, our daemons and whatever
//! they fork) carries `IBSIM_SOCKNAME=<the fabric's unique name>` in its environment, so scanning
//! `/proc/*/environ` finds them all, whoever their parent is now. Zombies have an empty environ and
//! are not reported (they hold no resources but a pid).

use std::fs;

/// A process still carrying a fabric's socket name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftoverProcess {
    /// Its pid.
    pub pid: i32,
    /// Its command line, arguments separated by spaces.
    pub cmdline: String,
}

/// All live processes whose environment contains `IBSIM_SOCKNAME=<sockname>` exactly.
///
/// Processes of other users, whose environ cannot be read, are skipped.
pub fn processes_with_sockname(sockname: &str) -> Vec<LeftoverProcess> {
    let needle = format!("IBSIM_SOCKNAME={sockname}");
    let mut found = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else { return found };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(env) = fs::read(entry.path().join("environ")) else { continue };
        if env.split(|&b| b == 0).any(|var| var == needle.as_bytes()) {
            let cmdline = fs::read(entry.path().join("cmdline"))
                .map(|c| {
                    c.split(|&b| b == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            found.push(LeftoverProcess { pid, cmdline });
        }
    }
    found.sort_by_key(|p| p.pid);
    found
}

/// Panics, listing them, if any process still carries `IBSIM_SOCKNAME=<sockname>`. Meant for tests,
/// after a [`Fabric`](crate::Fabric) is dropped: `let sock = fabric.sockname().to_owned(); drop(fabric);
/// assert_no_leftovers(&sock);`.
///
/// Killed processes can take a moment to disappear from `/proc`, so this polls for up to a second
/// before it decides.
#[track_caller]
pub fn assert_no_leftovers(sockname: &str) {
    let left = wait_no_leftovers(sockname, std::time::Duration::from_secs(1));
    assert!(left.is_empty(), "processes of fabric {sockname} survived teardown: {left:#?}");
}

/// Polls until no process carries the socket name or `timeout` passes; returns what is left.
pub fn wait_no_leftovers(sockname: &str, timeout: std::time::Duration) -> Vec<LeftoverProcess> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = processes_with_sockname(sockname);
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
