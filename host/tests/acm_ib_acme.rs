//! localsa's ACM codec against the real client: `ib_acme` (Debian package `ibacm`) talks to a
//! unix socket served by a tiny in-test loop that decodes with `localsa::server::acm` and
//! answers with a fixed PathRecord. The loop is a test double for the codec, not the daemon.
//!
//! What `ib_acme` 44.0 sends (each exchange is dumped by the test; run with `--nocapture`):
//!
//! * `-f g` / `-f l`: one resolve message of 88 bytes, a single `ACM_EP_INFO_PATH` entry whose
//!   PathRecord carries SGID/DGID or SLID/DLID and `reversible_numpath = 0x81`. Surprise: the
//!   entry has **no** `SOURCE`/`DEST` flag; its flags word carries only the options.
//! * `-c`: the same with `ACM_FLAGS_NODELAY` (0x40000000, host order) in that flags word.
//! * `-v`: after a successful resolve, a second 88-byte message with `ACM_FLAGS_QUERY_SA` whose
//!   PathRecord is the answer it just got, byte for byte.
//! * `-f n` / `-f i`: entries flagged `SOURCE` (if `-s`) and `DEST`, names or addresses.
//!   `ib_acme` needs no RDMA device for any of this.
//! * `-P`: a 16-byte perf query, network-order length, index 0 (all counters); `-P N` puts N
//!   in `hdr.src_index`; `-P all` asks 1, 2, ... until an error; `-P s -s ADDR` sends one
//!   `SOURCE` entry whose flags/type are in host order although perf messages are
//!   "network order" (acm.h) — libacm reuses the resolve entry helper.
//! * `-e [N]`: 16-byte endpoint queries with the index in `hdr.src_out` and a port in
//!   `hdr.src_index`, asking ports 1..=`phys_port_cnt`; before any answer that bound is 255,
//!   so an index with no endpoint costs 255 queries. `-e` alone walks indices until one gets
//!   no answer on any port. Exit status stays 0 when nothing is found.
//! * `ib_acme` never sets `tid` (0) and never checks the answer's opcode or tid.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use localsa::server::acm::{
    decode_request, AcmError, AcmRequest, AcmResponse, AcmStatus, Decoded, Endpoint, EpConfig, EpFlags,
    ErrorAction, Operation, PathData, PerfCounters, PerfTarget, ResolveForm, EP_INFO_ADDRESS_IP,
    EP_INFO_NAME, EP_INFO_PATH,
};
use localsa::server::hosts::Hosts;
use localsa_core::wire::{Gid, Mtu, PacketLifetime, PathRecordRepr, Rate, SaAttribute, Selector};

const IB_ACME: &str = "/usr/bin/ib_acme";
const TIMEOUT: Duration = Duration::from_secs(60);

/// The one path the test double answers with; every field distinct so that a misplaced byte
/// shows, selectors set so that `ib_acme`'s `& 0x1F` masking is exercised.
fn fixed_path() -> PathRecordRepr {
    PathRecordRepr {
        service_id: 0,
        // Not the GIDs the tests ask for: what ib_acme prints can only come from the answer.
        dgid: Gid::new(0xfe80_0000_0000_0000, 0x0002_c903_00aa_0072),
        sgid: Gid::new(0xfe80_0000_0000_0000, 0x0002_c903_00aa_0071),
        dlid: 0x0102,
        slid: 0x0034,
        raw_traffic: false,
        flow_label: 0x5_4321,
        hop_limit: 3,
        tclass: 0x28,
        reversible: true,
        numb_path: 1,
        pkey: 0x8001,
        qos_class: 0,
        sl: 6,
        mtu_selector: Selector::Exactly,
        mtu: Mtu::Mtu2048,
        rate_selector: Selector::Exactly,
        rate: Rate::Gbps56,
        packet_lifetime_selector: Selector::Exactly,
        packet_lifetime: PacketLifetime(19),
        preference: 0,
    }
}

const COUNTERS: PerfCounters = PerfCounters {
    error: 11,
    resolve: 22,
    no_data: 33,
    addr_query: 44,
    addr_cache: 55,
    route_query: 66,
    route_cache: 77,
};

fn ep_config() -> EpConfig {
    EpConfig {
        dev_guid: 0x0002_c903_00aa_bb00,
        port_num: 1,
        phys_port_cnt: 1,
        pkey: 0xffff,
        prov_name: "localsa".into(),
        addrs: vec!["node1".into(), "10.0.0.1".into()],
    }
}

const HOSTS: &str = "# test hosts\n\
    host1     fe80::2:c903:aa:1\n\
    host2     fe80::2:c903:aa:9   0x48 0x80\n\
    10.0.0.2  fe80::2:c903:aa:a\n\
    fe80::b   fe80::2:c903:aa:b\n";

fn hosts() -> Hosts {
    let (hosts, errors) = Hosts::parse(HOSTS.as_bytes());
    assert!(errors.is_empty(), "{errors:?}");
    hosts
}

/// The test double: the answer to one request.
fn respond(req: &AcmRequest, hosts: &Hosts) -> Vec<u8> {
    let tid = req.tid();
    let error = |op, status| AcmResponse::Error { op, tid, status };
    let resp = match req {
        AcmRequest::Resolve(r) if r.nodelay() => error(Operation::Resolve, AcmStatus::NoData),
        AcmRequest::Resolve(r) => match r.form {
            // -v: answer what the SA would, the template itself (it is our own path).
            ResolveForm::Path => AcmResponse::resolve(tid, &[PathData::primary(fixed_path())], None),
            ResolveForm::Address => match hosts.lookup_endpoint(&r.dst) {
                None => error(Operation::Resolve, AcmStatus::DestAddress),
                Some(entry) => {
                    let path = PathRecordRepr { dgid: entry.gid, ..fixed_path() };
                    // Without a source ibacm returns the one it chose; so do we.
                    let chosen = match (&r.src, &r.dst) {
                        (Some(_), _) => None,
                        (None, Endpoint::Ipv6(_)) => Some(Endpoint::Ipv6("fe80::a".parse().unwrap())),
                        (None, Endpoint::Name(_)) => Some(Endpoint::Name("node1".into())),
                        (None, _) => Some(Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 1))),
                    };
                    AcmResponse::resolve(tid, &[PathData::primary(path)], chosen)
                }
            },
        },
        AcmRequest::PerfQuery(p) => match &p.target {
            PerfTarget::All | PerfTarget::Index(1) => AcmResponse::perf(tid, 0, &COUNTERS),
            PerfTarget::Address(Endpoint::Ipv4(a)) if *a == Ipv4Addr::new(10, 0, 0, 1) => {
                AcmResponse::perf(tid, 0, &PerfCounters { error: 1, ..COUNTERS })
            }
            _ => error(Operation::PerfQuery, AcmStatus::SourceAddress),
        },
        AcmRequest::EpQuery(e) if e.index == 1 && e.port <= 1 => {
            AcmResponse::Ep { tid, index: e.index, config: ep_config() }
        }
        AcmRequest::EpQuery(_) => error(Operation::EpQuery, AcmStatus::Invalid),
    };
    resp.encode().unwrap()
}

/// One request as the double saw it.
#[derive(Debug)]
struct Exchange {
    raw: Vec<u8>,
    request: Result<AcmRequest, AcmError>,
}

struct Run {
    /// The `-S` argument, which ib_acme prints as the service name.
    svc: String,
    stdout: String,
    status: i32,
    exchanges: Vec<Exchange>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Serves one connection with the codec until the client hangs up.
fn serve(mut stream: UnixStream, hosts: &Hosts, log: &mut Vec<Exchange>) {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match decode_request(&buf) {
            Ok(Decoded::Complete { request, consumed }) => {
                let raw: Vec<u8> = buf.drain(..consumed).collect();
                let answer = respond(&request, hosts);
                log.push(Exchange { raw, request: Ok(request) });
                if stream.write_all(&answer).is_err() {
                    return;
                }
            }
            Ok(Decoded::NeedMore { .. }) => match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            Err(e) => match e.action() {
                ErrorAction::Answer { consumed, .. } => {
                    let raw = buf.drain(..consumed).collect();
                    log.push(Exchange { raw, request: Err(e) });
                    if stream.write_all(&e.error_response().unwrap()).is_err() {
                        return;
                    }
                }
                ErrorAction::Disconnect => {
                    log.push(Exchange { raw: std::mem::take(&mut buf), request: Err(e) });
                    return;
                }
            },
        }
    }
}

/// A fresh directory for one run's socket.
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "localsa-acm-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `ib_acme -S SOCKET args...` against the test double.
fn ib_acme(args: &[&str]) -> Run {
    assert!(
        Path::new(IB_ACME).exists(),
        "{IB_ACME} is missing: apt-get install ibacm (scripts/test installs it)"
    );
    let dir = temp_dir();
    let sock = dir.join("acm.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || {
            let hosts = hosts();
            let mut log = Vec::new();
            let deadline = Instant::now() + TIMEOUT;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        serve(stream, &hosts, &mut log);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            log
        })
    };

    let mut child = Command::new(IB_ACME)
        .arg("-S")
        .arg(&sock)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ib_acme {args:?} did not finish within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout = reader.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let exchanges = server.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    println!("$ ib_acme {}  -> exit {:?}", args.join(" "), status.code());
    for (i, x) in exchanges.iter().enumerate().take(4) {
        println!("  request {i}: {} bytes {}", x.raw.len(), hex(&x.raw));
        println!("    decoded: {:?}", x.request);
    }
    if exchanges.len() > 4 {
        println!("  ... {} requests in all", exchanges.len());
    }
    print!("{stdout}");
    let svc = sock.to_str().unwrap().to_owned();
    Run { svc, stdout, status: status.code().expect("ib_acme killed by a signal"), exchanges }
}

/// What `ib_acme`'s `show_path` prints for `p`.
fn show_path(p: &PathRecordRepr) -> String {
    let mut b = [0u8; 64];
    p.encode(&mut b).unwrap();
    format!(
        "Path information\n  dgid: {}\n  sgid: {}\n  dlid: {}\n  slid: {}\n  flow label: {:#x}\n  hop limit: {}\n  \
         tclass: {}\n  reversible: {}\n  pkey: {:#x}\n  sl: {}\n  mtu: {}\n  rate: {}\n  packet lifetime: {}\n",
        Ipv6Addr::from(p.dgid.0),
        Ipv6Addr::from(p.sgid.0),
        p.dlid,
        p.slid,
        p.flow_label,
        p.hop_limit,
        p.tclass,
        p.reversible as u8,
        p.pkey,
        p.sl,
        b[54] & 0x1f,
        b[55] & 0x1f,
        b[56] & 0x1f,
    )
}

fn resolve(x: &Exchange) -> &localsa::server::acm::ResolveRequest {
    match &x.request {
        Ok(AcmRequest::Resolve(r)) => r,
        other => panic!("expected a resolve, got {other:?}"),
    }
}

/// A resolve entry as acm.h lays it out: host-order flags and type.
fn entry(flags: u32, ty: u16, info: &[u8]) -> Vec<u8> {
    let mut v = flags.to_ne_bytes().to_vec();
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(&[0, 0]);
    let mut i = [0u8; 64];
    i[..info.len()].copy_from_slice(info);
    v.extend_from_slice(&i);
    v
}

fn resolve_header(len: u16) -> Vec<u8> {
    let mut v = vec![1, 1, 0, 0, 0, 0];
    v.extend_from_slice(&len.to_ne_bytes());
    v.extend_from_slice(&[0; 8]);
    v
}

#[test]
fn resolve_by_gid() {
    let run = ib_acme(&["-f", "g", "-s", "fe80::2:c903:aa:1", "-d", "fe80::2:c903:aa:2"]);
    assert_eq!(run.status, 0);
    assert_eq!(run.exchanges.len(), 1);
    let r = resolve(&run.exchanges[0]);
    let sgid: Ipv6Addr = "fe80::2:c903:aa:1".parse().unwrap();
    let dgid: Ipv6Addr = "fe80::2:c903:aa:2".parse().unwrap();
    assert_eq!(r.form, ResolveForm::Path);
    assert_eq!(r.dst, Endpoint::Gid(Gid(dgid.octets())));
    assert_eq!(r.src, Some(Endpoint::Gid(Gid(sgid.octets()))));
    assert_eq!(r.flags, EpFlags::empty());
    // The exact bytes: header, one unflagged PATH entry, template with GIDs and 0x81.
    let mut info = [0u8; 64];
    info[8..24].copy_from_slice(&dgid.octets());
    info[24..40].copy_from_slice(&sgid.octets());
    info[49] = 0x81;
    assert_eq!(run.exchanges[0].raw, [resolve_header(88), entry(0, EP_INFO_PATH, &info)].concat());
    let expect = format!(
        "Service: {}\nDestination: fe80::2:c903:aa:2\nSource: fe80::2:c903:aa:1\n{}\nreturn status 0x0\n",
        run.svc,
        show_path(&fixed_path()),
    );
    assert_eq!(run.stdout, expect);
}

#[test]
fn resolve_by_lid() {
    let run = ib_acme(&["-f", "l", "-s", "52", "-d", "258"]);
    assert_eq!(run.status, 0);
    let r = resolve(&run.exchanges[0]);
    assert_eq!((r.src.clone(), r.dst.clone()), (Some(Endpoint::Lid(52)), Endpoint::Lid(258)));
    let mut info = [0u8; 64];
    info[40..42].copy_from_slice(&258u16.to_be_bytes());
    info[42..44].copy_from_slice(&52u16.to_be_bytes());
    info[49] = 0x81;
    assert_eq!(run.exchanges[0].raw, [resolve_header(88), entry(0, EP_INFO_PATH, &info)].concat());
    assert!(run.stdout.contains(&show_path(&fixed_path())), "{}", run.stdout);
}

#[test]
fn verify_sends_the_answer_back_with_query_sa() {
    let run = ib_acme(&["-f", "l", "-s", "52", "-d", "258", "-v"]);
    assert_eq!(run.status, 0);
    assert_eq!(run.exchanges.len(), 2);
    assert!(!resolve(&run.exchanges[0]).query_sa());
    let v = resolve(&run.exchanges[1]);
    assert!(v.query_sa());
    assert_eq!(v.flags, EpFlags::QUERY_SA);
    // ib_acme returns the PathRecord it got, unchanged: our encoding survived the client.
    assert_eq!(v.path_hint, Some(fixed_path()));
    let mut pr = [0u8; 64];
    fixed_path().encode(&mut pr).unwrap();
    assert_eq!(run.exchanges[1].raw, [resolve_header(88), entry(0x8000_0000, EP_INFO_PATH, &pr)].concat());
    assert!(run.stdout.contains(&format!("{}SA verification: success\n", show_path(&fixed_path()))));
}

#[test]
fn cached_only_gets_enodata() {
    let run = ib_acme(&["-f", "g", "-d", "fe80::2:c903:aa:2", "-c"]);
    let r = resolve(&run.exchanges[0]);
    assert!(r.nodelay());
    assert_eq!(r.src, None);
    assert_eq!(&run.exchanges[0].raw[16..20], &0x4000_0000u32.to_ne_bytes());
    assert!(run.stdout.contains("ib_acm_resolve_path failed: No data available\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("Path information"));
    assert_eq!(run.status, 255); // ib_acme returns -1
}

#[test]
fn resolve_by_name_through_the_hosts_file() {
    let run = ib_acme(&["-f", "n", "-s", "host1", "-d", "host2"]);
    assert_eq!(run.status, 0);
    let r = resolve(&run.exchanges[0]);
    assert_eq!(r.form, ResolveForm::Address);
    assert_eq!(
        (r.src.clone(), r.dst.clone()),
        (Some(Endpoint::Name("host1".into())), Endpoint::Name("host2".into()))
    );
    let expect_raw =
        [resolve_header(160), entry(1, EP_INFO_NAME, b"host1"), entry(2, EP_INFO_NAME, b"host2")].concat();
    assert_eq!(run.exchanges[0].raw, expect_raw);
    let gid = hosts().by_name("host2").unwrap().gid;
    assert!(run.stdout.contains(&show_path(&PathRecordRepr { dgid: gid, ..fixed_path() })), "{}", run.stdout);
    assert!(run.stdout.contains("  dgid: fe80::2:c903:aa:9\n"));
}

#[test]
fn resolve_unknown_name_is_edestaddr() {
    let run = ib_acme(&["-f", "n", "-d", "nobody"]);
    // libacm maps ACM_STATUS_EDESTADDR to EADDRNOTAVAIL.
    assert!(
        run.stdout.contains("ib_acm_resolve_name failed: Cannot assign requested address\n"),
        "{}",
        run.stdout
    );
    assert_eq!(run.status, 255);
}

#[test]
fn resolve_by_ipv4_without_source_prints_the_chosen_source() {
    let run = ib_acme(&["-f", "i", "-d", "10.0.0.2"]);
    assert_eq!(run.status, 0);
    let r = resolve(&run.exchanges[0]);
    assert_eq!((r.src.clone(), r.dst.clone()), (None, Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 2))));
    assert_eq!(
        run.exchanges[0].raw,
        [resolve_header(88), entry(2, EP_INFO_ADDRESS_IP, &[10, 0, 0, 2])].concat()
    );
    // The extra SOURCE entry of the answer is printed by libacm before the path.
    let gid = hosts().by_ipv4(Ipv4Addr::new(10, 0, 0, 2)).unwrap().gid;
    let expect = format!(
        "Destination: 10.0.0.2\nSource: 10.0.0.1\n{}",
        show_path(&PathRecordRepr { dgid: gid, ..fixed_path() })
    );
    assert!(run.stdout.contains(&expect), "{}", run.stdout);
}

#[test]
fn resolve_by_ipv6() {
    let run = ib_acme(&["-f", "i", "-s", "fe80::a", "-d", "fe80::b"]);
    assert_eq!(run.status, 0);
    let r = resolve(&run.exchanges[0]);
    assert_eq!(r.dst, Endpoint::Ipv6("fe80::b".parse().unwrap()));
    assert_eq!(r.src, Some(Endpoint::Ipv6("fe80::a".parse().unwrap())));
    assert!(run.stdout.contains("  dgid: fe80::2:c903:aa:b\n"), "{}", run.stdout);
}

fn perf_row(svc_line: &str, c: &PerfCounters) -> String {
    let values: Vec<String> = c.to_array().iter().map(u64::to_string).collect();
    format!("svc,{}\n{svc_line},{}\n", PerfCounters::NAMES.join(","), values.join(","))
}

#[test]
fn perf_query_all_counters() {
    let run = ib_acme(&["-P"]);
    assert_eq!(run.status, 0);
    assert_eq!(run.exchanges.len(), 1);
    assert_eq!(run.exchanges[0].raw, [1, 2, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(&run.exchanges[0].request, Ok(AcmRequest::PerfQuery(p)) if p.target == PerfTarget::All));
    assert_eq!(run.stdout, format!("{}return status 0x0\n", perf_row(&run.svc, &COUNTERS)));
}

#[test]
fn perf_query_columns() {
    let run = ib_acme(&["-P", "col"]);
    for (name, value) in PerfCounters::NAMES.iter().zip(COUNTERS.to_array()) {
        assert!(run.stdout.contains(&format!("{name} : {value}\n")), "{}", run.stdout);
    }
}

#[test]
fn perf_query_by_index_and_all_endpoints() {
    let run = ib_acme(&["-P", "1"]);
    assert!(
        matches!(&run.exchanges[0].request, Ok(AcmRequest::PerfQuery(p)) if p.target == PerfTarget::Index(1))
    );
    assert_eq!(run.exchanges[0].raw[4], 1); // hdr.src_index
    assert!(run.stdout.starts_with(&perf_row(&run.svc, &COUNTERS)), "{}", run.stdout);

    let run = ib_acme(&["-P", "2"]);
    let expect = format!("{}: Failed to query perf data: Cannot assign requested address\n", run.svc);
    assert!(run.stdout.starts_with(&expect), "{}", run.stdout);

    // "all" asks endpoint 1, 2, ... until an error, and prints the successes.
    let run = ib_acme(&["-P", "all"]);
    let targets: Vec<_> = run
        .exchanges
        .iter()
        .map(|x| match &x.request {
            Ok(AcmRequest::PerfQuery(p)) => p.target.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(targets, [PerfTarget::Index(1), PerfTarget::Index(2)]);
    assert_eq!(run.stdout, format!("{}return status 0x0\n", perf_row(&run.svc, &COUNTERS)));
}

#[test]
fn perf_query_by_address() {
    let run = ib_acme(&["-P", "s", "-s", "10.0.0.1"]);
    let x = &run.exchanges[0];
    let target = PerfTarget::Address(Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
    assert!(matches!(&x.request, Ok(AcmRequest::PerfQuery(p)) if p.target == target));
    // Network-order length, host-order entry.
    let mut expect = vec![1, 2, 0, 0, 0, 0, 0, 88, 0, 0, 0, 0, 0, 0, 0, 0];
    expect.extend(entry(1, EP_INFO_ADDRESS_IP, &[10, 0, 0, 1]));
    assert_eq!(x.raw, expect);
    let by_address = PerfCounters { error: 1, ..COUNTERS };
    assert!(run.stdout.starts_with(&perf_row(&run.svc, &by_address)), "{}", run.stdout);
}

#[test]
fn endpoint_query_one() {
    let run = ib_acme(&["-e", "1"]);
    assert_eq!(run.status, 0);
    // Found on port 1, whose answer says the HCA has one port: one query.
    assert_eq!(run.exchanges.len(), 1);
    assert_eq!(run.exchanges[0].raw, [1, 3, 0, 1, 1, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0]);
    let expect = format!(
        "svc,guid,port,pkey,ep_index,prov,addr_0,addresses\n{},0x0002c90300aabb00,1,0xffff,1,localsa,node1,10.0.0.1\n",
        run.svc
    );
    assert!(run.stdout.starts_with(&expect), "{}", run.stdout);
}

#[test]
fn endpoint_query_all_and_missing() {
    let run = ib_acme(&["-e"]);
    assert_eq!(run.status, 0);
    // Index 1 on port 1, then index 2 on ports 1..=255 (no answer ever bounded the ports).
    assert_eq!(run.exchanges.len(), 1 + 255);
    let last = run.exchanges.last().unwrap();
    assert!(matches!(last.request, Ok(AcmRequest::EpQuery(e)) if e.index == 2 && e.port == 255));
    assert_eq!(run.stdout.lines().filter(|l| l.contains(",localsa,")).count(), 1);

    let run = ib_acme(&["-e", "5"]);
    assert_eq!(run.exchanges.len(), 255);
    assert!(run.stdout.contains(" Endpoint 5 is not available\n"), "{}", run.stdout);
    assert_eq!(run.status, 0);
}
