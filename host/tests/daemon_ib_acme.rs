//! The real ACM client, `ib_acme` (Debian package `ibacm`), against the running daemon on a
//! simulated fabric: resolves by GID (`-f g`) and by LID (`-f l`), with SA verification
//! (`-v`, ACM_FLAGS_QUERY_SA), cache-only (`-c`, ACM_FLAGS_NODELAY), by host name and IP
//! address through the hosts file (`-f n`, `-f i`), the perf counters (`-P`) and the endpoint
//! list (`-e`). Every path `ib_acme` prints is compared with `saquery -p` for the same pair.
//! The daemon runs with `--pcap`; tshark reads the capture back at the end.

mod daemon_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use daemon_support::{fat_tree, num, private_dir, saquery_path, Daemon, Net};
use localsa_testbed::{OpenSmOptions, Signal};

const IB_ACME: &str = "/usr/bin/ib_acme";

/// Runs ib_acme; returns (exit status, stdout).
fn acme(sock: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(IB_ACME).arg("-S").arg(sock).args(args).output().expect("ib_acme");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// The `Path information` block ib_acme prints: `  key: value`.
fn acme_path(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Path information") {
            inside = true;
            continue;
        }
        if inside {
            match line.trim().split_once(": ") {
                Some((k, v)) if line.starts_with("  ") => {
                    m.insert(k.to_owned(), v.trim().to_owned());
                }
                _ => inside = false,
            }
        }
    }
    m
}

/// Compares ib_acme's printout with saquery's dump of the same path.
fn assert_acme_matches(acme: &BTreeMap<String, String>, sa: &BTreeMap<String, String>, what: &str) {
    assert!(!acme.is_empty(), "{what}: ib_acme printed no path");
    let hop_flow = num(&sa["hop_flow_raw"]);
    let checks = [
        ("dgid", acme["dgid"].clone(), sa["dgid"].clone()),
        ("sgid", acme["sgid"].clone(), sa["sgid"].clone()),
        ("dlid", num(&acme["dlid"]).to_string(), num(&sa["dlid"]).to_string()),
        ("slid", num(&acme["slid"]).to_string(), num(&sa["slid"]).to_string()),
        ("flow label", num(&acme["flow label"]).to_string(), ((hop_flow >> 8) & 0xfffff).to_string()),
        ("hop limit", num(&acme["hop limit"]).to_string(), (hop_flow & 0xff).to_string()),
        ("tclass", num(&acme["tclass"]).to_string(), num(&sa["tclass"]).to_string()),
        ("reversible", num(&acme["reversible"]).to_string(), (num(&sa["num_path_revers"]) >> 7).to_string()),
        ("pkey", num(&acme["pkey"]).to_string(), num(&sa["pkey"]).to_string()),
        ("sl", num(&acme["sl"]).to_string(), num(&sa["sl"]).to_string()),
        ("mtu", num(&acme["mtu"]).to_string(), (num(&sa["mtu"]) & 0x3f).to_string()),
        ("rate", num(&acme["rate"]).to_string(), (num(&sa["rate"]) & 0x3f).to_string()),
        (
            "packet lifetime",
            num(&acme["packet lifetime"]).to_string(),
            (num(&sa["pkt_life"]) & 0x3f).to_string(),
        ),
    ];
    for (field, a, b) in checks {
        assert_eq!(a, b, "{what}: {field}: ib_acme {a}, saquery {b}\nib_acme: {acme:?}\nsaquery: {sa:?}");
    }
}

#[test]
fn ib_acme_against_the_daemon() {
    let t0 = Instant::now();
    let net = Net::start("ib-acme", &fat_tree(16), OpenSmOptions::default());
    let fabric = &net.fabric;
    let addr = |n: &str| fabric.port_addr(n).expect("ibaddr");
    let (h3, h5, h7, h9, h11, h12) =
        (addr("H0003"), addr("H0005"), addr("H0007"), addr("H0009"), addr("H0011"), addr("H0012"));

    let dir = private_dir("ib-acme");
    std::fs::write(
        dir.join("hosts"),
        format!(
            "node3 {}\n10.0.0.3 {}\nfd00::3 {}\nnode5 {}\n10.0.0.5 {}\nfd00::5 {}\n",
            h3.gid, h3.gid, h3.gid, h5.gid, h5.gid, h5.gid
        ),
    )
    .unwrap();
    let pcap = dir.join("mads.pcap");
    let daemon = Daemon::start(fabric, "H0003", &dir, "", &["--pcap", pcap.to_str().unwrap()]);
    let sock = daemon.acm.clone();

    // -f g: by GID, source given.
    let (rc, out) = acme(&sock, &["-f", "g", "-s", &h3.gid.to_string(), "-d", &h5.gid.to_string()]);
    assert_eq!(rc, 0, "{out}");
    let sa = saquery_path(fabric, "H0003", &["--sgid-to-dgid", &format!("{}-{}", h3.gid, h5.gid)]);
    assert_acme_matches(&acme_path(&out), &sa, "-f g");

    // -f l: by LID, source given, and without a source (the daemon's port).
    let (rc, out) = acme(&sock, &["-f", "l", "-s", &h3.lid.to_string(), "-d", &h7.lid.to_string()]);
    assert_eq!(rc, 0, "{out}");
    let sa7 = saquery_path(fabric, "H0003", &["--slid", &h3.lid.to_string(), "--dlid", &h7.lid.to_string()]);
    assert_acme_matches(&acme_path(&out), &sa7, "-f l");
    let (rc, out) = acme(&sock, &["-f", "l", "-d", &h9.lid.to_string()]);
    assert_eq!(rc, 0, "{out}");
    let sa9 = saquery_path(fabric, "H0003", &["--slid", &h3.lid.to_string(), "--dlid", &h9.lid.to_string()]);
    assert_acme_matches(&acme_path(&out), &sa9, "-f l without -s");

    // -v: resolve, then ask again with QUERY_SA and compare. The second request bypasses the
    // cache: two SA queries (the miss, then the verification), no cache answer.
    let before = daemon.stats();
    let (rc, out) = acme(&sock, &["-f", "l", "-s", &h3.lid.to_string(), "-d", &h11.lid.to_string(), "-v"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("SA verification: success"), "{out}");
    let after = daemon.stats();
    let delta = |k: &str| after["engine"][k].as_u64().unwrap() - before["engine"][k].as_u64().unwrap();
    assert_eq!(delta("sa_queries"), 2, "-v asks the SA twice: {after}");
    assert_eq!(delta("cache_answers"), 0, "QUERY_SA never answers from the cache: {after}");
    let sa11 =
        saquery_path(fabric, "H0003", &["--slid", &h3.lid.to_string(), "--dlid", &h11.lid.to_string()]);
    assert_acme_matches(&acme_path(&out), &sa11, "-v");

    // -c: not cached yet -> ENODATA; after a resolve, answered from the cache.
    let (rc, out) = acme(&sock, &["-f", "l", "-d", &h12.lid.to_string(), "-c"]);
    assert_ne!(rc, 0, "{out}");
    assert!(out.contains("No data available"), "{out}");
    let (rc, _) = acme(&sock, &["-f", "l", "-d", &h12.lid.to_string()]);
    assert_eq!(rc, 0);
    let (rc, out) = acme(&sock, &["-f", "l", "-d", &h12.lid.to_string(), "-c"]);
    assert_eq!(rc, 0, "{out}");
    let sa12 =
        saquery_path(fabric, "H0003", &["--slid", &h3.lid.to_string(), "--dlid", &h12.lid.to_string()]);
    assert_acme_matches(&acme_path(&out), &sa12, "-c");

    // -f n and -f i: names and addresses from the hosts file.
    let sa5 = saquery_path(fabric, "H0003", &["--sgid-to-dgid", &format!("{}-{}", h3.gid, h5.gid)]);
    let (rc, out) = acme(&sock, &["-f", "n", "-d", "node5"]);
    assert_eq!(rc, 0, "{out}");
    assert_acme_matches(&acme_path(&out), &sa5, "-f n");
    assert!(out.contains("Source: node3"), "the chosen source is returned: {out}");
    let (rc, out) = acme(&sock, &["-f", "i", "-d", "10.0.0.5", "-s", "10.0.0.3"]);
    assert_eq!(rc, 0, "{out}");
    assert_acme_matches(&acme_path(&out), &sa5, "-f i");
    let (rc, out) = acme(&sock, &["-f", "i", "-d", "fd00::5", "-s", "fd00::3"]);
    assert_eq!(rc, 0, "{out}");
    assert_acme_matches(&acme_path(&out), &sa5, "-f i (IPv6)");
    let (rc, out) = acme(&sock, &["-f", "n", "-d", "nosuchhost"]);
    assert_ne!(rc, 0, "{out}");

    // -P: the counters, in ibacm's order.
    let (rc, out) = acme(&sock, &["-P"]);
    assert_eq!(rc, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("svc,Error Count")).expect("perf header");
    let names: Vec<&str> = lines[header].split(',').collect();
    let values: Vec<&str> = lines[header + 1].split(',').collect();
    let counter = |n: &str| values[names.iter().position(|x| *x == n).unwrap()].parse::<u64>().unwrap();
    let stats = daemon.stats();
    assert_eq!(counter("Resolve Count"), stats["daemon"]["resolves"].as_u64().unwrap());
    assert_eq!(counter("Route Query Count"), stats["engine"]["sa_queries"].as_u64().unwrap());
    assert_eq!(counter("No Data"), 1, "the one -c miss");
    assert_eq!(counter("Error Count"), 1, "the unknown host name");
    assert!(counter("Route Cache Count") >= 1, "{out}");
    assert_eq!(counter("Addr Cache Count"), 5, "node5, 10.0.0.5, fd00::5 and the sources 10.0.0.3, fd00::3");

    // -e: the one endpoint, the local port, with its names from the hosts file.
    let (rc, out) = acme(&sock, &["-e"]);
    assert_eq!(rc, 0, "{out}");
    let ep = out.lines().find(|l| l.contains("localsa")).unwrap_or_else(|| panic!("no endpoint: {out}"));
    assert!(ep.contains(",1,0xffff,1,localsa,node3,10.0.0.3"), "{ep}");

    // Stop: the capture holds our PathRecord queries and their answers, readable by tshark.
    daemon.process.signal(Signal::SIGTERM).unwrap();
    let status =
        daemon.process.wait_timeout(std::time::Duration::from_secs(10)).unwrap().expect("daemon exits");
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    let tshark = Command::new("tshark")
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "infiniband.mad.method",
            "-e",
            "infiniband.pathrecord.dlid",
        ])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&tshark.stdout);
    let path_mads: Vec<&str> =
        text.lines().filter(|l| l.split('\t').nth(1).is_some_and(|d| !d.is_empty())).collect();
    let sa_queries = stats["engine"]["sa_queries"].as_u64().unwrap() as usize;
    assert!(
        path_mads.len() >= 2 * sa_queries,
        "tshark saw {} PathRecord MADs for {sa_queries} queries:\n{text}",
        path_mads.len()
    );
    eprintln!("ib_acme test: {:.2?}, {} PathRecord MADs in the capture", t0.elapsed(), path_mads.len());
    let _ = std::fs::remove_dir_all(&dir);
    drop(daemon);
    net.fabric.shutdown().expect("teardown");
}
