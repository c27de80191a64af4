//! `kt-run`: the driver of the kernel tests, run by the VM's `/init` (see
//! `scripts/kernel-test` and `docs/kernel-tests.md`).
//!
//! Prints `KTEST PLAN <n>`, then one `KTEST <name> PASS|FAIL|SKIP <detail>` line per test (a
//! failing test's trace follows on indented lines), then `KTEST DONE`. An argument (or
//! `KT_FILTER`) runs only the tests whose name contains it.
//!
//! localsa's side is the umad binding (`UmadPort`, `USER_RMPP`) and the core's RMPP endpoint
//! ([`Driver`]), or the whole daemon (`localsa daemon`, queried with `localsa resolve/stats/
//! dump` and `ib_acme`); the other side is `sa-peer`, whose RMPP the kernel does. Every MAD
//! travels over QP1 to the port's own GID on rxe0 (RoCE: LID 0, GRH, hop limit 64) and loops
//! back in rxe; the replica tests use rxe1 and rxe2, the two ends of a veth pair. Tests run
//! one after the other: only one agent per port may own GetTable.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use localsa::umad::{PortAttributes, Received, Registration, UmadError, UmadPort};
use localsa_core::rmpp::{capacity_for, Config, Event, Failure, Outcome, Rejection};
use localsa_core::time::Duration as CoreDuration;
use localsa_core::wire::{
    request, AttributeId, Gid, MadAddress, Method, PathRecordRepr, RmppStatus, RmppType, SaMad, MAD_LEN,
};
use localsa_kerneltest::daemon::{self, counter, Daemon};
use localsa_kerneltest::driver::{Driver, Happening, Hold};
use localsa_kerneltest::peer::Peer;
use localsa_kerneltest::records::{self, as_table_request, record};
use localsa_kerneltest::trace::{Dir, Seen};
use localsa_kerneltest::{loopback, port_of};

/// A receive slot for 1000 PathRecords: 56 + 1000 × 64 bytes.
const RX_BIG: usize = capacity_for(1000, 64);
/// A send slot for 1000 PathRecords.
const TX_BIG: usize = capacity_for(1000, 64);
/// A receive slot too small for 200 records (20 fit).
const RX_SMALL: usize = capacity_for(20, 64);

/// localsa receiving (kernel sender).
type Receiving = Driver<RX_BIG, MAD_LEN>;
/// localsa sending (kernel receiver).
type Sending = Driver<MAD_LEN, TX_BIG>;

/// The kernel's wait for an answer to our GetTable: the first DATA segment completes it.
const REQUEST_TIMEOUT_MS: u32 = 5000;

/// Shared by every test.
struct Ctx {
    /// rxe0 port 1: the loopback port of every test but the replica ones.
    attrs: PortAttributes,
    /// rxe1 and rxe2 port 1, the two ends of the veth pair (if the VM has them).
    pair: Option<(PortAttributes, PortAttributes)>,
    /// The port itself: QP1 at its own GID.
    to: MadAddress,
    /// Where sa-peer and localsa are.
    bin: PathBuf,
    epoch: Instant,
}

static NEXT_TID: AtomicU32 = AtomicU32::new(0x4b54_0001);

fn next_tid() -> u32 {
    NEXT_TID.fetch_add(1, Ordering::Relaxed)
}

/// Our RMPP configuration: Linux's defaults but a 1 s ACK wait, to keep fault tests short.
fn config() -> Config {
    Config { response_time: CoreDuration::from_secs(1), ..Config::DEFAULT }
}

fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

impl Ctx {
    /// `sa-peer` on rxe0.
    fn peer(&self, args: &[&str]) -> Result<Peer, String> {
        self.peer_on(&self.attrs, args)
    }

    /// `sa-peer` on the port `on`.
    fn peer_on(&self, on: &PortAttributes, args: &[&str]) -> Result<Peer, String> {
        let mut all = vec!["--umad".to_owned(), on.umad_index.to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        Peer::spawn(&self.bin.join("sa-peer"), &all, self.epoch)
    }

    /// `sa-peer respond` on the port `on`, waited for until its agent is registered.
    fn responder_on(&self, on: &PortAttributes, n: usize, seed: u32) -> Result<Peer, String> {
        let mut p =
            self.peer_on(on, &["respond", "--records", &n.to_string(), "--seed", &seed.to_string()])?;
        p.wait_for("READY", Duration::from_secs(10))?;
        Ok(p)
    }

    /// `localsa daemon` on rxe0, its SA queries to rxe0's own GID (where `sa-peer respond`
    /// answers). `extra` usually holds `--no-subscribe`: there is no SM on RoCE.
    fn daemon(&self, name: &str, extra: &[&str]) -> Result<Daemon, String> {
        Daemon::start(&self.bin, name, self.attrs.umad_index, self.attrs.gid, extra, self.epoch)
    }

    /// `sa-peer respond`, waited for until its agent is registered.
    fn responder(&self, n: usize, seed: u32, retries: u32) -> Result<Peer, String> {
        let mut p = self.peer(&[
            "respond",
            "--records",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
            "--retries",
            &retries.to_string(),
        ])?;
        p.wait_for("READY", Duration::from_secs(10))?;
        Ok(p)
    }

    /// `sa-peer request` (our responder must be registered first).
    fn requester(&self, n: usize, seed: u32, tid: u32, timeout_ms: u32) -> Result<Peer, String> {
        self.peer(&[
            "request",
            "--records-expected",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
            "--tid",
            &tid.to_string(),
            "--timeout-ms",
            &timeout_ms.to_string(),
        ])
    }
}

/// A failure with the trace and the peer's lines appended (indented lines in the log).
fn with_context<const R: usize, const T: usize>(
    why: String,
    drv: Option<&Driver<R, T>>,
    peer: Option<&Peer>,
) -> String {
    let mut s = why;
    s.push('\n');
    if let Some(d) = drv {
        s.push_str(&d.trace.tail(40));
        for (at, o) in d.outcomes.iter().rev().take(20).rev() {
            s.push_str(&format!("  outcome@{at}ms: {o:?}\n"));
        }
    }
    if let Some(p) = peer {
        s.push_str(&p.text());
    }
    s
}

// ---- 1. the umad binding and `localsa ports` on a real kernel ----

fn t_register(ctx: &Ctx) -> Result<String, String> {
    let open = |methods: &[u8], kernel_rmpp| UmadPort::open(ctx.attrs.clone(), methods, kernel_rmpp);
    let p = open(&[], false).map_err(|e| e.to_string())?;
    ensure(p.registration() == Registration::UserRmpp, || format!("registration {:?}", p.registration()))?;
    ensure(p.header_len() == 64, || format!("{}-byte header", p.header_len()))?;
    let user_agent = p.agent_id();
    drop(p);
    let k = open(&[], true).map_err(|e| e.to_string())?;
    ensure(k.registration() == Registration::KernelRmpp, || format!("registration {:?}", k.registration()))?;
    drop(k);
    // One agent per port and class may own a method.
    let get_table = [Method::GetTable.raw()];
    let a = open(&get_table, false).map_err(|e| e.to_string())?;
    let refused = match open(&get_table, false) {
        Err(e) => e.to_string(),
        Ok(_) => return Err("a second agent for GetTable was accepted".into()),
    };
    drop(a);
    let again = open(&get_table, false).map_err(|e| format!("GetTable not free after unregister: {e}"))?;
    drop(again);
    Ok(format!(
        "REGISTER_AGENT2+USER_RMPP accepted (agent {user_agent}, UserRmpp, 64-byte header); \
         kernel-RMPP registration accepted; a second GetTable agent refused ({refused}); \
         GetTable free again after unregister"
    ))
}

/// Waits up to `limit` for a MAD that `want` accepts; the others are dropped.
fn recv_matching(
    port: &UmadPort,
    limit: Duration,
    want: impl Fn(&Received) -> bool,
) -> Result<Option<Received>, String> {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(rx) = port.recv(left).map_err(|e| e.to_string())? {
            if want(&rx) {
                return Ok(Some(rx));
            }
        }
    }
    Ok(None)
}

/// The TID of a MAD (or of the 24-byte header a failed-send report carries).
fn tid_of(mad: &[u8]) -> u64 {
    mad.get(8..16).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0)
}

/// The MAD status field.
fn mad_status(mad: &[u8]) -> u16 {
    mad.get(4..6).and_then(|b| b.try_into().ok()).map(u16::from_be_bytes).unwrap_or(0xffff)
}

/// What the kernel's umad and MAD layers do with localsa's requests: rules the engine must
/// follow (TID rewriting, ETIMEDOUT reports, duplicate TIDs, which answers reach us).
fn t_kernel_rules(ctx: &Ctx) -> Result<String, String> {
    let p = UmadPort::open(ctx.attrs.clone(), &[], false).map_err(|e| e.to_string())?;
    let gid = ctx.attrs.gid;
    let send = |mad: &[u8], timeout_ms, retries| {
        p.send_with_retries(&ctx.to, mad, timeout_ms, retries).map_err(|e| e.to_string())
    };
    let answer_to = |tid: u32| move |rx: &Received| rx.status == 0 && tid_of(&rx.mad) as u32 == tid;
    // a) A GetTable nobody serves: dropped at the receiving port; our send comes back with
    //    ETIMEDOUT after timeout × (retries + 1), as the MAD header with the kernel's TID.
    let tid_a = next_tid();
    let t0 = Instant::now();
    send(&records::table_request(tid_a as u64, gid), 200, 1)?;
    // b) The same TID again while the first is outstanding: EINVAL.
    let dup = p.send(&ctx.to, &records::table_request(tid_a as u64, gid), 200);
    let dup_text = match dup {
        Err(UmadError::Send(e)) if e as i32 == libc::EINVAL => "EINVAL".to_owned(),
        other => {
            return Err(format!("a second request with TID {tid_a:#x} while the first waits: {other:?}"))
        }
    };
    let report = recv_matching(&p, Duration::from_secs(3), |rx| rx.status != 0)?
        .ok_or("no failed-send report for a GetTable nobody answers")?;
    let timeout_ms = t0.elapsed().as_millis();
    let full_tid = tid_of(&report.mad);
    ensure(report.status == libc::ETIMEDOUT as u32, || format!("report status {}", report.status))?;
    ensure(full_tid as u32 == tid_a && full_tid >> 32 != 0, || format!("report TID {full_tid:#x}"))?;
    // c) A Get nobody serves: the kernel answers it itself, GetResp "unsupported method".
    let tid_c = next_tid();
    let t0 = Instant::now();
    send(&records::get_request(tid_c as u64, gid), 1000, 0)?;
    let unsupported = recv_matching(&p, Duration::from_secs(2), answer_to(tid_c))?
        .ok_or("no answer to a Get nobody serves")?;
    let unsupported_ms = t0.elapsed().as_millis();
    let status_c = mad_status(&unsupported.mad);
    ensure(status_c == 0x000c, || format!("kernel's answer to an unserved Get has status {status_c:#06x}"))?;
    // d) A plain answer to a request sent with timeout 0 is dropped ...
    let seed = 5000;
    let mut peer = ctx.responder(3, seed, 0)?;
    let tid_d = next_tid();
    send(&records::get_request(tid_d as u64, gid), 0, 0)?;
    let dropped = recv_matching(&p, Duration::from_millis(1000), answer_to(tid_d))?;
    peer.poll();
    ensure(dropped.is_none(), || "a GetResp to a request sent with timeout 0 was delivered".into())?;
    ensure(peer.find("ANSWERED-GET").is_some(), || {
        with_context("sa-peer did not answer the Get".into(), None::<&Receiving>, Some(&peer))
    })?;
    // e) ... and delivered when the request waits for it.
    let tid_e = next_tid();
    send(&records::get_request(tid_e as u64, gid), 1000, 0)?;
    let got =
        recv_matching(&p, Duration::from_secs(2), answer_to(tid_e))?.ok_or("no GetResp to a waiting Get")?;
    let request = records::as_get_request(&records::get_request(tid_e as u64, gid)).ok_or("get request")?;
    let mut want = records::get_answer(&request, seed);
    want[8..16].copy_from_slice(&tid_of(&got.mad).to_be_bytes());
    ensure(got.mad[..] == want[..], || "GetResp differs from what sa-peer sent".into())?;
    // f) An RMPP answer (Active flag) to a GetTable sent with timeout 0 is delivered anyway:
    //    the USER_RMPP exception. ACK it so the kernel sender completes.
    let tid_f = next_tid();
    send(&records::table_request(tid_f as u64, gid), 0, 0)?;
    let seg = recv_matching(&p, Duration::from_secs(2), answer_to(tid_f))?
        .ok_or("the RMPP answer to a GetTable sent with timeout 0 was not delivered")?;
    let packet = localsa_core::wire::SaPacket::new_checked(&seg.mad[..]).map_err(|e| e.to_string())?;
    let data = SaMad::parse(&packet).map_err(|e| e.to_string())?;
    let mut ack = [0u8; MAD_LEN];
    request::rmpp_ack(&mut ack, &data, 1, 1).map_err(|e| e.to_string())?;
    p.send(&seg.from, &ack, 0).map_err(|e| e.to_string())?;
    drop(p);
    peer.finish(Duration::from_secs(5))?;
    ensure(peer.find("SEND-").is_none(), || {
        with_context("sa-peer reports a failed send".into(), None::<&Receiving>, Some(&peer))
    })?;
    Ok(format!(
        "GetTable to nobody (timeout 200 ms, 1 retry): ETIMEDOUT after {timeout_ms} ms, reported with TID \
         {full_tid:#x} (the kernel's high half); same TID while outstanding: {dup_text}; Get to nobody: the \
         kernel itself answers GetResp status 0x000c in {unsupported_ms} ms; a plain GetResp to a request \
         sent with timeout 0: dropped; with timeout 1000: delivered; an RMPP answer (Active) to a GetTable \
         sent with timeout 0: delivered (RMPP {:?}, flags {:?})",
        data.rmpp.rmpp_type, data.rmpp.flags
    ))
}

fn t_ports(ctx: &Ctx) -> Result<String, String> {
    let run = |args: &[&str]| -> Result<String, String> {
        let out = Command::new(ctx.bin.join("localsa"))
            .args(args)
            .output()
            .map_err(|e| format!("cannot run localsa: {e}"))?;
        ensure(out.status.success(), || {
            format!("localsa {args:?}: {} {}", out.status, String::from_utf8_lossy(&out.stderr))
        })?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let sysfs = "/sys/class/infiniband/rxe0/ports/1/gids/0";
    let text = std::fs::read_to_string(sysfs).map_err(|e| format!("{sysfs}: {e}"))?;
    let gid = Gid::parse(text.trim()).ok_or_else(|| format!("{sysfs}: not a GID: {text:?}"))?;
    let json = run(&["ports", "--json"])?;
    let ports: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("ports --json: {e}"))?;
    let entry = ports
        .as_array()
        .and_then(|a| a.iter().find(|p| p["ca"] == "rxe0" && p["port"] == 1))
        .ok_or_else(|| format!("rxe0 port 1 missing from ports --json: {json}"))?;
    ensure(entry["state"] == 4, || format!("state {} (want 4, ACTIVE)", entry["state"]))?;
    ensure(entry["link_layer"] == "Ethernet", || format!("link layer {}", entry["link_layer"]))?;
    ensure(entry["gid"] == gid.to_string(), || format!("gid {} (sysfs {gid})", entry["gid"]))?;
    ensure(entry["lid"] == 0, || format!("lid {} on RoCE", entry["lid"]))?;
    let plain = run(&["ports"])?;
    let line = plain
        .lines()
        .find(|l| l.contains("rxe0 port 1:"))
        .ok_or_else(|| format!("rxe0 port 1 missing from ports: {plain}"))?;
    ensure(
        line.contains("(active)") && line.contains(" Ethernet ") && line.contains(&format!("gid {gid} ")),
        || format!("ports line: {line}"),
    )?;
    Ok(line.trim().to_owned())
}

// ---- 2. kernel RMPP sender -> localsa receiver ----

fn k2l(ctx: &Ctx, n: usize) -> Result<String, String> {
    let seed = 1000 + n as u32;
    let mut peer = ctx.responder(n, seed, 0)?;
    let mut drv = Receiving::open(&ctx.attrs, &[], config())?;
    let tid = next_tid();
    let t0 = drv.ms();
    drv.send_plain(&ctx.to, &records::table_request(tid as u64, ctx.attrs.gid), REQUEST_TIMEOUT_MS)?;
    let (id, bytes) =
        drv.wait_received(Duration::from_secs(30)).map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    let ms = drv.ms() - t0;
    let v = records::verify(&bytes, n, seed, tid).map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    drv.ep().release(id);
    let segments_in = drv.trace.by(Dir::In).filter(|s| s.is_data()).count();
    let acks = drv.trace.acks(Dir::Out);
    drop(drv);
    peer.finish(Duration::from_secs(5))?;
    if let Some((_, l)) = peer.find("SEND-") {
        return Err(format!("sa-peer reports {l}"));
    }
    Ok(format!(
        "{n} records in {} segments ({segments_in} received), {} bytes reassembled, byte-exact, \
         {ms} ms; our ACKs {acks}; TID {:#x} (high half set by the kernel); kernel RRespTime {}",
        v.segments, v.len, v.tid, v.rresp_time
    ))
}

// ---- 3. localsa RMPP sender -> kernel RMPP receiver ----

/// What `answer` saw: when the send started and ended (ms), and how.
struct Answered {
    start_ms: u64,
    end_ms: u64,
    result: Result<(), Failure>,
}

/// Answers the first GetTable with `n` records of `seed` and runs until the send ends.
/// `on_ack` runs after each turn in which a new ACK came in.
fn answer<const R: usize, const T: usize>(
    drv: &mut Driver<R, T>,
    n: usize,
    seed: u32,
    mut on_ack: impl FnMut(&mut Driver<R, T>, localsa_core::rmpp::SendId),
    limit: Duration,
) -> Result<Answered, String> {
    let mut started = None;
    let mut acks_seen = 0;
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        for h in drv.turn(left.min(Duration::from_millis(50)))? {
            let result = match h {
                Happening::Plain { from, mad } => {
                    if let (Some(req), None) = (as_table_request(&mad), started) {
                        let at = drv.ms();
                        started = Some((at, drv.start_answer(from, &req, n, seed)?));
                    }
                    continue;
                }
                Happening::Event(Event::Sent { .. }) => Ok(()),
                Happening::Event(Event::SendFailed { failure, .. }) => Err(failure),
                Happening::Event(other) => return Err(format!("unexpected event {other:?}")),
                Happening::SendFailed { status } => {
                    return Err(format!("a send failed: {}", localsa_kerneltest::errno_name(status)))
                }
            };
            let start_ms = started.map(|(t, _)| t).unwrap_or(0);
            return Ok(Answered { start_ms, end_ms: drv.ms(), result });
        }
        let acks = drv.trace.of_type(Dir::In, RmppType::Ack).len();
        if acks > acks_seen {
            acks_seen = acks;
            if let Some((_, id)) = started {
                on_ack(drv, id);
            }
        }
    }
    Err(format!("the send did not end within {} ms", limit.as_millis()))
}

fn l2k(ctx: &Ctx, n: usize) -> Result<String, String> {
    let seed = 2000 + n as u32;
    let tid = next_tid();
    let mut drv = Sending::open(&ctx.attrs, &[Method::GetTable.raw()], config())?;
    let mut peer = ctx.requester(n, seed, tid, 15_000)?;
    let done = answer(&mut drv, n, seed, |_, _| {}, Duration::from_secs(30))
        .map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    if let Err(f) = done.result {
        return Err(with_context(format!("our send failed: {f}"), Some(&drv), Some(&peer)));
    }
    let segments = drv.trace.by(Dir::Out).filter(|s| s.is_data()).count();
    let acks = drv.trace.acks(Dir::In);
    let code = peer.finish(Duration::from_secs(10))?;
    let verified = peer.find("VERIFIED").map(|(_, l)| l.clone());
    let Some(verified) = verified.filter(|_| code == Some(0)) else {
        return Err(with_context(format!("sa-peer exit {code:?}"), Some(&drv), Some(&peer)));
    };
    drop(drv);
    Ok(format!(
        "{n} records, {segments} segments sent in {} ms (start to last ACK); kernel ACKs {acks}; \
         sa-peer: {verified}",
        done.end_ms - done.start_ms
    ))
}

// ---- 4. faults ----

/// 4a: the kernel sender against a receiver that holds back its ACKs for 3 s.
fn k2l_ack_delay(ctx: &Ctx) -> Result<String, String> {
    let (n, seed, retries) = (200, 4001, 2);
    let mut peer = ctx.responder(n, seed, retries)?;
    let mut drv = Receiving::open(&ctx.attrs, &[], config())?;
    drv.hooks.hold_control = Hold::Until(Instant::now() + Duration::from_millis(3000));
    let tid = next_tid();
    drv.send_plain(&ctx.to, &records::table_request(tid as u64, ctx.attrs.gid), REQUEST_TIMEOUT_MS)?;
    let (id, bytes) =
        drv.wait_received(Duration::from_secs(30)).map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    let done_ms = drv.ms();
    records::verify(&bytes, n, seed, tid).map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    drv.ep().release(id);
    let seg1: Vec<u64> =
        drv.trace.by(Dir::In).filter(|s| s.is_data() && s.seg == 1).map(|s| s.at_ms).collect();
    let held = drv.trace.by(Dir::Held).count();
    ensure(seg1.len() >= 2, || {
        with_context("the kernel did not resend segment 1".into(), Some(&drv), Some(&peer))
    })?;
    drop(drv);
    peer.finish(Duration::from_secs(5))?;
    ensure(peer.find("SEND-").is_none(), || {
        with_context("sa-peer reports a failed send".into(), None::<&Receiving>, Some(&peer))
    })?;
    let gaps: Vec<String> = seg1.windows(2).map(|w| format!("{}", w[1] - w[0])).collect();
    Ok(format!(
        "segment 1 arrived {} times ({} resends, {} ms apart: the kernel's 2 s ACK wait); {held} ACKs held \
         back for 3 s; then the transfer completed at {done_ms} ms, byte-exact",
        seg1.len(),
        seg1.len() - 1,
        gaps.join("/")
    ))
}

/// 4a: the kernel sender against a receiver that never ACKs: it resends, then gives up.
fn k2l_ack_never(ctx: &Ctx) -> Result<String, String> {
    let (n, seed, retries) = (200, 4002, 2u32);
    let mut peer = ctx.responder(n, seed, retries)?;
    let mut drv = Receiving::open(&ctx.attrs, &[], config())?;
    drv.hooks.hold_control = Hold::Always;
    let tid = next_tid();
    drv.send_plain(&ctx.to, &records::table_request(tid as u64, ctx.attrs.gid), REQUEST_TIMEOUT_MS)?;
    let start = Instant::now();
    let mut gave_up_ms = None;
    while start.elapsed() < Duration::from_secs(15) {
        drv.turn(Duration::from_millis(50))?;
        peer.poll();
        if gave_up_ms.is_none() {
            gave_up_ms = peer.find("SEND-STATUS").map(|_| drv.ms());
        }
        if gave_up_ms.is_some_and(|t| drv.ms() > t + 2500) {
            break;
        }
    }
    let fail = |why: String, drv: &Receiving, peer: &Peer| with_context(why, Some(drv), Some(peer));
    let Some(gave_up) = gave_up_ms else {
        return Err(fail("sa-peer got no failed-send report".into(), &drv, &peer));
    };
    let status = peer.find("SEND-STATUS").map(|(_, l)| l.clone()).unwrap_or_default();
    ensure(status.contains("ETIMEDOUT"), || fail(format!("sa-peer: {status}"), &drv, &peer))?;
    let seg1: Vec<u64> =
        drv.trace.by(Dir::In).filter(|s| s.is_data() && s.seg == 1).map(|s| s.at_ms).collect();
    ensure(seg1.len() == retries as usize + 1, || {
        fail(format!("segment 1 arrived {} times, want {}", seg1.len(), retries + 1), &drv, &peer)
    })?;
    let last_data = drv.trace.by(Dir::In).filter(|s| s.is_data()).map(|s| s.at_ms).max().unwrap_or(0);
    ensure(last_data < gave_up, || fail("DATA after the kernel gave up".into(), &drv, &peer))?;
    let control_in: Vec<String> = drv
        .trace
        .by(Dir::In)
        .filter(|s| matches!(s.rmpp_type, RmppType::Stop | RmppType::Abort))
        .map(|s| s.to_string())
        .collect();
    drop(drv);
    peer.finish(Duration::from_secs(5))?;
    let after =
        if control_in.is_empty() { "silence: no ABORT, no STOP".to_owned() } else { control_in.join(", ") };
    Ok(format!(
        "no ACK ever: segment 1 sent {} times (at {:?} ms), then the kernel gave up; sa-peer read its \
         answer back with {status:?} (~{gave_up} ms); on the wire: {after}",
        seg1.len(),
        seg1
    ))
}

/// 4b: our sender skips segment 3 once; the kernel receiver waits for the gap, our sender
/// resends after its ACK timeout, and the transfer completes.
fn l2k_drop_seg3(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (200, 4003);
    let tid = next_tid();
    let mut drv = Sending::open(&ctx.attrs, &[Method::GetTable.raw()], config())?;
    drv.hooks.drop_segment_once = Some(3);
    let mut peer = ctx.requester(n, seed, tid, 15_000)?;
    let done = answer(&mut drv, n, seed, |_, _| {}, Duration::from_secs(30))
        .map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    if let Err(f) = done.result {
        return Err(with_context(format!("our send failed: {f}"), Some(&drv), Some(&peer)));
    }
    let code = peer.finish(Duration::from_secs(10))?;
    ensure(code == Some(0) && peer.find("VERIFIED").is_some(), || {
        with_context(format!("sa-peer exit {code:?}"), Some(&drv), Some(&peer))
    })?;
    let held: Vec<u64> = drv.trace.by(Dir::Held).map(|s| s.at_ms).collect();
    let seg3: Vec<u64> =
        drv.trace.by(Dir::Out).filter(|s| s.is_data() && s.seg == 3).map(|s| s.at_ms).collect();
    let seg2 = drv.trace.data_count(Dir::Out, 2);
    ensure(held.len() == 1 && seg3.len() == 1, || {
        with_context(format!("segment 3 held {held:?}, sent {seg3:?}"), Some(&drv), Some(&peer))
    })?;
    Ok(format!(
        "segment 3 skipped at {} ms, resent at {} ms (our 1 s ACK timeout; resend starts at segment 2, \
         sent {seg2} times); kernel ACKs {} (no ACK while the gap was open); sa-peer verified, send took {} ms",
        held[0],
        seg3[0],
        drv.trace.acks(Dir::In),
        done.end_ms - done.start_ms
    ))
}

/// 4b: the kernel's ACK for the first full window is lost on its way to our sender: our
/// sender times out and resends the window; the kernel re-ACKs what it already holds.
fn l2k_ack_lost(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (1000, 4008);
    let tid = next_tid();
    let mut drv = Sending::open(&ctx.attrs, &[Method::GetTable.raw()], config())?;
    drv.hooks.lose_incoming_ack_once = Some(65);
    let mut peer = ctx.requester(n, seed, tid, 15_000)?;
    let done = answer(&mut drv, n, seed, |_, _| {}, Duration::from_secs(30))
        .map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    if let Err(f) = done.result {
        return Err(with_context(format!("our send failed: {f}"), Some(&drv), Some(&peer)));
    }
    let code = peer.finish(Duration::from_secs(10))?;
    ensure(code == Some(0) && peer.find("VERIFIED").is_some(), || {
        with_context(format!("sa-peer exit {code:?}"), Some(&drv), Some(&peer))
    })?;
    let lost: Vec<u64> = drv.trace.by(Dir::Held).map(|s| s.at_ms).collect();
    ensure(lost.len() == 1, || with_context(format!("lost ACKs {lost:?}"), Some(&drv), Some(&peer)))?;
    let resent = drv.trace.data_count(Dir::Out, 2);
    let reacks = drv.trace.by(Dir::In).filter(|s| s.rmpp_type == RmppType::Ack && s.seg == 65).count();
    let stale = drv.outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Dropped(_))).count();
    Ok(format!(
        "ACK 65 lost at {} ms; our sender resent the window from segment 2 ({resent} sends of it) after its \
         1 s timeout; the kernel re-ACKed 65/129 {reacks} times (once per duplicate segment), {stale} of \
         them stale for us; 1000 records verified by sa-peer, send took {} ms",
        lost[0],
        done.end_ms - done.start_ms
    ))
}

/// 4c: our receiver refuses a transfer too large for its slot with STOP; the kernel stops.
fn k2l_stop(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (200, 4004);
    let mut peer = ctx.responder(n, seed, 2)?;
    let mut drv = Driver::<RX_SMALL, MAD_LEN>::open(&ctx.attrs, &[], config())?;
    let tid = next_tid();
    drv.send_plain(&ctx.to, &records::table_request(tid as u64, ctx.attrs.gid), REQUEST_TIMEOUT_MS)?;
    drv.idle(Duration::from_millis(5000))?;
    peer.poll();
    let fail =
        |why: String, drv: &Driver<RX_SMALL, MAD_LEN>, peer: &Peer| with_context(why, Some(drv), Some(peer));
    let stops = drv.trace.of_type(Dir::Out, RmppType::Stop);
    ensure(stops.len() == 1 && stops[0].status == RmppStatus::ResourcesExhausted.raw(), || {
        fail(format!("STOPs sent: {stops:?}"), &drv, &peer)
    })?;
    let refused =
        drv.outcomes.iter().any(|(_, o)| matches!(o, Outcome::Rejected(Rejection::TooLarge { .. })));
    ensure(refused, || fail("no TooLarge rejection".into(), &drv, &peer))?;
    let data_in = drv.trace.by(Dir::In).filter(|s| s.is_data()).count();
    ensure(data_in == 1, || fail(format!("{data_in} DATA segments after the STOP"), &drv, &peer))?;
    drop(drv);
    peer.finish(Duration::from_secs(5))?;
    let peer_saw = peer.find("SEND-").map(|(_, l)| l.clone()).unwrap_or_else(|| "nothing".into());
    Ok(format!(
        "first segment announced {} bytes, slot holds {RX_SMALL}: STOP ResourcesExhausted at {} ms; \
         the kernel sent nothing more in 5 s (no resend at its 2 s ACK timeout); sa-peer was told: {peer_saw}",
        records::RECORD_LEN * n + 56,
        stops[0].at_ms
    ))
}

/// A GetTable of `n` records from the kernel's RMPP sender to our receiver, whose ACKs are all
/// held back: returns once the first segment is in (the kernel's first window is one segment).
fn held_first_segment(ctx: &Ctx, n: usize, seed: u32) -> Result<(Peer, Receiving, Seen), String> {
    let peer = ctx.responder(n, seed, 2)?;
    let mut drv = Receiving::open(&ctx.attrs, &[], config())?;
    drv.hooks.hold_control = Hold::Always;
    let tid = next_tid();
    drv.send_plain(&ctx.to, &records::table_request(tid as u64, ctx.attrs.gid), REQUEST_TIMEOUT_MS)?;
    let first_data = |d: &Receiving| d.trace.by(Dir::In).find(|s| s.is_data() && s.seg == 1).copied();
    drv.wait_until(Duration::from_secs(10), |d| first_data(d).is_some())?;
    match first_data(&drv) {
        Some(first) => Ok((peer, drv, first)),
        None => Err(with_context("no first segment".into(), Some(&drv), Some(&peer))),
    }
}

/// 4c: the kernel sender ABORTs on an illegal ACK (NewWindowLast < SegmentNumber) and our
/// receiver reports the peer's ABORT.
fn k2l_kernel_abort(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (200, 4005);
    let (mut peer, mut drv, first) = held_first_segment(ctx, n, seed)?;
    let fail = |why: String, drv: &Receiving, peer: &Peer| with_context(why, Some(drv), Some(peer));
    // An ACK for segment 1 with NewWindowLast 0: illegal (NewWindowLastTooSmall).
    let data = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, first.tid);
    let mut ack = [0u8; MAD_LEN];
    request::rmpp_ack(&mut ack, &data, 1, 0).map_err(|e| e.to_string())?;
    drv.send_plain(&ctx.to, &ack, 0)?;
    let sent_ms = drv.ms();
    let failure = drv.run_until(Duration::from_secs(5), |_, h| match h {
        Happening::Event(Event::ReceiveFailed { failure, .. }) => Ok(Some(failure)),
        Happening::Event(e) => Err(format!("unexpected {e:?}")),
        _ => Ok(None),
    })?;
    let want = Failure::PeerAborted(RmppStatus::NewWindowLastTooSmall);
    ensure(failure == Some(want), || {
        fail(format!("receive ended with {failure:?}, want {want:?}"), &drv, &peer)
    })?;
    let abort_ms = drv.ms();
    drv.idle(Duration::from_millis(3000))?;
    let late = drv.trace.by(Dir::In).filter(|s| s.is_data() && s.at_ms > sent_ms).count();
    ensure(late == 0, || fail(format!("{late} DATA segments after the ABORT"), &drv, &peer))?;
    drop(drv);
    peer.finish(Duration::from_secs(5))?;
    let peer_saw = peer.find("SEND-").map(|(_, l)| l.clone()).unwrap_or_else(|| "nothing".into());
    Ok(format!(
        "ACK 1/0 sent at {sent_ms} ms; the kernel answered ABORT NewWindowLastTooSmall, our receiver \
         reported it at {abort_ms} ms; no segment followed in 3 s; sa-peer was told: {peer_saw}"
    ))
}

/// 4c: our receiver gives up mid-transfer (ABORT Unspecified after the first segment): the
/// kernel sender must stop, neither resending nor going on with the window.
fn k2l_localsa_abort(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (200, 4009);
    let (mut peer, mut drv, first) = held_first_segment(ctx, n, seed)?;
    let fail = |why: String, drv: &Receiving, peer: &Peer| with_context(why, Some(drv), Some(peer));
    let data = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, first.tid);
    let mut abort = [0u8; MAD_LEN];
    request::rmpp_abort(&mut abort, &data, RmppStatus::Unspecified).map_err(|e| e.to_string())?;
    drv.send_plain(&ctx.to, &abort, 0)?;
    let sent_ms = drv.ms();
    // The kernel's ACK wait is 2 s: 5 s covers two resends had it ignored the ABORT.
    drv.idle(Duration::from_millis(5000))?;
    let late: Vec<String> =
        drv.trace.by(Dir::In).filter(|s| s.at_ms > sent_ms).map(|s| s.to_string()).collect();
    ensure(late.is_empty(), || fail(format!("after our ABORT the kernel sent {late:?}"), &drv, &peer))?;
    let data_in = drv.trace.by(Dir::In).filter(|s| s.is_data()).count();
    drop(drv);
    peer.finish(Duration::from_secs(5))?;
    let peer_saw = peer.find("SEND-").map(|(_, l)| l.clone()).unwrap_or_else(|| "nothing".into());
    Ok(format!(
        "{data_in} DATA segment(s) in (window withheld), ABORT Unspecified sent at {sent_ms} ms; the kernel \
         sent nothing more in 5 s (no resend, no further window); sa-peer was told: {peer_saw}"
    ))
}

/// 4c: the kernel receiver ABORTs a DATA segment with an illegal RMPPStatus; our sender
/// reports the peer's ABORT.
fn l2k_kernel_abort(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (200, 4006);
    let tid = next_tid();
    let mut drv = Sending::open(&ctx.attrs, &[Method::GetTable.raw()], config())?;
    drv.hooks.damage_segment_once = Some(2);
    let mut peer = ctx.requester(n, seed, tid, 3000)?;
    let done = answer(&mut drv, n, seed, |_, _| {}, Duration::from_secs(15))
        .map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    let want = Failure::PeerAborted(RmppStatus::IllegalStatus);
    ensure(done.result == Err(want), || {
        with_context(format!("send ended {:?}, want {want:?}", done.result), Some(&drv), Some(&peer))
    })?;
    let code = peer.finish(Duration::from_secs(10))?;
    let last = peer.log.iter().rev().find(|(_, l)| !l.starts_with("stderr")).map(|(_, l)| l.clone());
    ensure(code == Some(2) && peer.find("VERIFIED").is_none(), || {
        with_context(format!("sa-peer exit {code:?}"), Some(&drv), Some(&peer))
    })?;
    Ok(format!(
        "segment 2 sent with RMPPStatus 1; the kernel answered ABORT IllegalStatus, our sender reported \
         it {} ms after starting; the kernel requester got no answer: {}",
        done.end_ms - done.start_ms,
        last.unwrap_or_default()
    ))
}

/// 4c: our sender gives up mid-transfer (ABORT Unspecified): what the kernel receiver does.
fn l2k_localsa_abort(ctx: &Ctx) -> Result<String, String> {
    // 1000 records: after the first ACK (window 65) 255 segments are still to go.
    let (n, seed) = (1000, 4007);
    let tid = next_tid();
    let mut drv = Sending::open(&ctx.attrs, &[Method::GetTable.raw()], config())?;
    let mut peer = ctx.requester(n, seed, tid, 3000)?;
    let mut aborted_ms = 0;
    let done = answer(
        &mut drv,
        n,
        seed,
        |d, id| {
            if aborted_ms == 0 {
                aborted_ms = d.ms();
                d.ep().abort(id);
            }
        },
        Duration::from_secs(15),
    )
    .map_err(|e| with_context(e, Some(&drv), Some(&peer)))?;
    let want = Failure::Aborted(RmppStatus::Unspecified);
    ensure(done.result == Err(want), || {
        with_context(format!("send ended {:?}, want {want:?}", done.result), Some(&drv), Some(&peer))
    })?;
    drv.idle(Duration::from_millis(500))?;
    let aborts = drv.trace.of_type(Dir::Out, RmppType::Abort);
    let code = peer.finish(Duration::from_secs(10))?;
    ensure(aborts.len() == 1 && peer.find("VERIFIED").is_none() && code != Some(0), || {
        with_context(format!("aborts {aborts:?}, sa-peer exit {code:?}"), Some(&drv), Some(&peer))
    })?;
    let after: Vec<String> =
        drv.trace.by(Dir::In).filter(|s| s.at_ms >= aborted_ms).map(|s| s.to_string()).collect();
    let last = peer.log.iter().rev().find(|(_, l)| !l.starts_with("stderr")).map(|(_, l)| l.clone());
    Ok(format!(
        "ABORT Unspecified sent after the first ACK ({aborted_ms} ms); kernel answer on the wire: {}; \
         the kernel requester: {}",
        if after.is_empty() { "none".to_owned() } else { after.join(", ") },
        last.unwrap_or_default()
    ))
}

// ---- 5. the daemon ----

/// The end of a daemon test: the daemon stopped with SIGTERM (it must exit 0: its agent is then
/// unregistered, so the next test may register), the `sa-peer`s stopped, and on failure every
/// line they printed appended. Lines the daemon logged at ERROR fail a passing test.
fn end_daemon_test(
    result: Result<String, String>,
    mut d: Daemon,
    peers: &mut [&mut Peer],
) -> Result<String, String> {
    let stopped = d.stop();
    for p in peers.iter_mut() {
        let _ = p.finish(Duration::from_secs(5));
    }
    let errors: Vec<String> =
        d.proc.log.iter().filter(|(_, l)| l.contains(" ERROR ")).map(|(_, l)| l.clone()).collect();
    let result = result.and_then(|detail| match stopped {
        Ok(Some(0)) if errors.is_empty() => Ok(detail),
        Ok(Some(0)) => Err(format!("the daemon logged errors: {}", errors.join(" | "))),
        Ok(code) => Err(format!("the daemon exited {code:?} on SIGTERM")),
        Err(e) => Err(e),
    });
    result.map_err(|why| {
        let mut s = why;
        s.push('\n');
        for p in peers.iter() {
            s.push_str(&p.text());
        }
        s.push_str(&d.proc.text());
        s
    })
}

/// Waits until the daemon has heard the SA's ClassPortInfo (its start-up query and heartbeat).
fn wait_sa_reachable(d: &Daemon) -> Result<serde_json::Value, String> {
    let s = d.stats_until(Duration::from_secs(5), |s| s["sa_reachable"] == true)?;
    ensure(s["sa_reachable"] == true, || {
        format!("the SA never answered ClassPortInfo: sa_reachable {}", s["sa_reachable"])
    })?;
    Ok(s)
}

/// `localsa resolve --json --sgid S --dgid D`: the answer's source and the time it took.
fn resolve_record(d: &Daemon, index: u32, seed: u32) -> Result<(String, u128), String> {
    let t0 = Instant::now();
    let sgid = records::sgid_of(seed).to_string();
    let dgid = records::dgid_of(index, seed).to_string();
    let v = d.cli_json("resolve", &["--sgid", &sgid, "--dgid", &dgid])?;
    let ms = t0.elapsed().as_millis();
    let paths = v["paths"].as_array().ok_or_else(|| format!("no paths in {v}"))?;
    ensure(paths.len() == 1, || format!("{} paths for record {index}: {v}", paths.len()))?;
    daemon::check_path(&paths[0], index, seed)?;
    Ok((v["source"].as_str().unwrap_or("?").to_owned(), ms))
}

/// Waits for the daemon's verdicts on its four trap subscriptions (its `trap subscription`
/// log lines); returns them as `trap=accepted` pairs.
fn subscription_verdicts(d: &mut Daemon) -> Result<Vec<String>, String> {
    let mut verdicts = Vec::new();
    for _ in 0..4 {
        let line = d.proc.wait_until(
            "trap subscription line",
            |l| l.contains("trap subscription trap="),
            Duration::from_secs(5),
        )?;
        // `trap=64 accepted=false port=umad0`: the trap and the verdict.
        let rest = line.split("trap=").nth(1).unwrap_or("");
        let v = rest.split_whitespace().take(2).collect::<Vec<_>>().join(" ").replace(" accepted", "");
        verdicts.push(v);
    }
    verdicts.sort();
    Ok(verdicts)
}

/// 5a: `localsa resolve` through the daemon on rxe0, whose SA is `sa-peer` at rxe0's own GID.
fn daemon_resolve(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (1000, 5101);
    let mut peer = ctx.responder(n, seed, 0)?;
    // Trap subscriptions left on: nobody on the port registered Set, so the kernel itself
    // refuses each Set(InformInfo) (GetResp, status 0x000c); the daemon must carry on.
    let mut d = ctx.daemon("resolve", &[]).map_err(|e| with_context(e, None::<&Receiving>, Some(&peer)))?;
    let result = (|| {
        let verdicts = subscription_verdicts(&mut d)?;
        ensure(verdicts.iter().all(|v| v.ends_with("=false")), || format!("subscriptions: {verdicts:?}"))?;
        let s0 = wait_sa_reachable(&d)?;
        let picks = [3u32, 141, 999];
        let q0 = counter(&s0, "engine", "sa_queries");
        let mut first_ms = Vec::new();
        for &i in &picks {
            let (source, ms) = resolve_record(&d, i, seed)?;
            ensure(source == "sa", || format!("first resolve of record {i} from {source}"))?;
            first_ms.push(ms);
        }
        let s1 = d.stats()?;
        let q1 = counter(&s1, "engine", "sa_queries");
        ensure(q1 == q0 + 3, || format!("{} SA queries for 3 new paths", q1 - q0))?;
        let mut second_ms = Vec::new();
        for &i in &picks {
            let (source, ms) = resolve_record(&d, i, seed)?;
            ensure(source == "cache", || format!("second resolve of record {i} from {source}"))?;
            second_ms.push(ms);
        }
        let s2 = d.stats()?;
        ensure(counter(&s2, "engine", "sa_queries") == q1, || "the second round asked the SA".into())?;
        let cached = counter(&s2, "engine", "cache_answers") - counter(&s1, "engine", "cache_answers");
        ensure(cached == 3, || format!("{cached} cache answers in the second round"))?;
        // A DGID outside the table: the SA says ERR_NO_RECORDS; remembered for the next ask.
        let sgid = records::sgid_of(seed).to_string();
        let missing = records::dgid_of(n as u32 + 7, seed).to_string();
        let no = d.cli("resolve", &["--sgid", &sgid, "--dgid", &missing])?;
        ensure(
            no.code == 1 && (no.stderr.contains("NO_RECORDS") || no.stderr.contains("no records")),
            || format!("a path the SA does not know: exit {}, {}", no.code, no.stderr.trim()),
        )?;
        let again = d.cli("resolve", &["--sgid", &sgid, "--dgid", &missing])?;
        let s3 = d.stats()?;
        ensure(again.code == 1 && counter(&s3, "engine", "sa_queries") == q1 + 1, || {
            format!(
                "the second ask for a missing path: exit {}, {} SA queries",
                again.code,
                counter(&s3, "engine", "sa_queries") - q1
            )
        })?;
        ensure(counter(&s3, "engine", "negative_answers") >= 1, || "no negative answer counted".into())?;
        peer.poll();
        let gets = peer.all("ANSWERED-GET");
        ensure(gets.len() == 4, || {
            format!("sa-peer answered {} Gets, want 4 (3 paths, 1 missing)", gets.len())
        })?;
        ensure(peer.find("ANSWERED-CPI").is_some(), || "sa-peer saw no ClassPortInfo".into())?;
        ensure(peer.find("SEND-").is_none() && peer.find("OTHER").is_none(), || {
            "sa-peer saw a failed send or an unexpected MAD".into()
        })?;
        Ok(format!(
            "records {picks:?} of seed {seed} resolved through the daemon byte-exact: first from the SA ({first_ms:?} ms \
             per `localsa resolve`, 3 SA Gets), then from the cache ({second_ms:?} ms, no SA query); a DGID outside \
             the table: no_path (ERR_NO_RECORDS), then from the negative cache; the daemon heard sa-peer's \
             ClassPortInfo (sa_reachable, RespTimeValue {}); its 4 trap subscriptions were refused by the kernel \
             (no agent for Set), harmlessly ({})",
            records::RESP_TIME_VALUE,
            verdicts.join(" ")
        ))
    })();
    end_daemon_test(result, d, &mut [&mut peer])
}

/// 5b: `ib_acme` on the daemon's ACM socket (rdma-core's client, as librdmacm's ACM path).
fn daemon_acm(ctx: &Ctx) -> Result<String, String> {
    let (n, seed) = (1000, 5102);
    let mut peer = ctx.responder(n, seed, 0)?;
    let d = ctx
        .daemon("acm", &["--no-subscribe"])
        .map_err(|e| with_context(e, None::<&Receiving>, Some(&peer)))?;
    let result = (|| {
        wait_sa_reachable(&d)?;
        // ib_acme asks for a reversible path (the record must say so to answer it from the cache).
        let picks: Vec<u32> = (10..n as u32).filter(|&i| record(i, seed).reversible).take(2).collect();
        let sgid = records::sgid_of(seed).to_string();
        let acme = |i: u32, extra: &[&str]| -> Result<daemon::Output, String> {
            let dgid = records::dgid_of(i, seed).to_string();
            let mut args = vec!["-f", "g", "-s", &sgid, "-d", &dgid];
            args.extend_from_slice(extra);
            d.ib_acme(&args)
        };
        let mut fields = 0;
        for &i in &picks {
            let out = acme(i, &[])?;
            ensure(out.code == 0, || {
                format!("ib_acme for record {i}: exit {}: {}{}", out.code, out.stdout, out.stderr)
            })?;
            fields = daemon::check_acme_path(&out.stdout, i, seed)?;
        }
        // The same paths as raw ACM answers on the socket: the 64 bytes byte-exact (ib_acme's
        // printout drops the top bit of MTU, rate and packet lifetime).
        for &i in &picks {
            let template = PathRecordRepr {
                sgid: records::sgid_of(seed),
                dgid: records::dgid_of(i, seed),
                reversible: true,
                numb_path: 1,
                ..PathRecordRepr::default()
            };
            let raw = d.acm_resolve_raw(0x4b54_0000_0000 | i as u64, template)?;
            let want = records::record_bytes(i, seed);
            ensure(raw == want, || format!("ACM answer for record {i}: {raw:02x?}, want {want:02x?}"))?;
        }
        let s1 = d.stats()?;
        // Again: from the cache. -c (ACM_FLAGS_NODELAY): cache only.
        let again = acme(picks[0], &[])?;
        ensure(again.code == 0, || format!("second ib_acme: {}", again.stdout))?;
        daemon::check_acme_path(&again.stdout, picks[0], seed)?;
        let cached = acme(picks[1], &["-c"])?;
        ensure(cached.code == 0, || {
            format!("ib_acme -c for a cached path: {}{}", cached.stdout, cached.stderr)
        })?;
        daemon::check_acme_path(&cached.stdout, picks[1], seed)?;
        let uncached = acme(picks[1] + 1, &["-c"])?;
        ensure(uncached.code != 0 && uncached.stdout.contains("No data available"), || {
            format!("ib_acme -c for a path never asked: exit {}: {}", uncached.code, uncached.stdout)
        })?;
        let s2 = d.stats()?;
        ensure(counter(&s2, "engine", "sa_queries") == counter(&s1, "engine", "sa_queries"), || {
            "a cached path went to the SA".into()
        })?;
        // -P: ibacm's perf counters, as the daemon counts them.
        let perf = d.ib_acme(&["-P"])?;
        ensure(perf.code == 0, || format!("ib_acme -P: {}{}", perf.stdout, perf.stderr))?;
        let counters = daemon::acme_perf(&perf.stdout)?;
        let get = |name: &str| counters.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        let want = [
            ("Resolve Count", counter(&s2, "daemon", "resolves")),
            ("Route Query Count", counter(&s2, "engine", "sa_queries")),
            ("Route Cache Count", counter(&s2, "engine", "cache_answers")),
            ("No Data", 1),
            ("Error Count", 0),
        ];
        for (name, value) in want {
            ensure(get(name) == Some(value), || {
                format!("ib_acme -P {name} {:?}, want {value}:\n{}", get(name), perf.stdout)
            })?;
        }
        ensure(get("Resolve Count") == Some(7) && get("Route Query Count") == Some(2), || {
            format!("counters {counters:?}")
        })?;
        peer.poll();
        let gets = peer.all("ANSWERED-GET");
        ensure(gets.len() == 2, || format!("sa-peer answered {} Gets, want 2", gets.len()))?;
        Ok(format!(
            "ib_acme -f g resolved records {picks:?} from the SA ({fields} printed fields equal to sa-peer's records; \
             raw ACM answers for them byte-exact, from the cache); the same path again and -c came from the cache (no \
             SA query), -c for an unasked path: ENODATA; ib_acme -P: {}",
            counters.iter().map(|(n, v)| format!("{n} {v}")).collect::<Vec<_>>().join(", ")
        ))
    })();
    end_daemon_test(result, d, &mut [&mut peer])
}

/// 5c: the daemon's bulk fetch (`--mode bulk`): one GetTable for every path from the port,
/// answered by the kernel's RMPP sender, reassembled by the daemon's engine.
fn daemon_bulk(ctx: &Ctx, n: usize) -> Result<String, String> {
    let seed = 5200 + n as u32;
    let mut peer = ctx.responder(n, seed, 0)?;
    let mut d = ctx
        .daemon(&format!("bulk-{n}"), &["--mode", "bulk", "--no-subscribe"])
        .map_err(|e| with_context(e, None::<&Receiving>, Some(&peer)))?;
    let result = (|| {
        let line = d.proc.wait_until(
            "bulk fetch done",
            |l| l.contains("bulk fetch done"),
            Duration::from_secs(30),
        )?;
        let done_ms = d.proc.log.last().map(|(t, _)| *t).unwrap_or(0);
        ensure(line.contains(&format!("records={n} complete=true")), || format!("daemon: {line}"))?;
        let s = d.stats()?;
        for (section, name, want) in [
            ("engine", "bulk_fetches", 1),
            ("engine", "records_stored", n as u64),
            ("engine", "rmpp_failures", 0),
            ("engine", "sa_queries", 1),
            ("table", "entries", n as u64),
        ] {
            ensure(counter(&s, section, name) == want, || {
                format!("stats {section}.{name} {}, want {want}", counter(&s, section, name))
            })?;
        }
        let dump = d.cli_json("dump", &[])?;
        let entries = dump["entries"].as_array().ok_or("no entries in the dump")?;
        ensure(dump["total"] == n && entries.len() == n, || {
            format!("dump: total {}, {} entries", dump["total"], entries.len())
        })?;
        let mut seen = vec![false; n];
        for e in entries {
            ensure(e["kind"] == "path", || format!("dump entry {e}"))?;
            let dgid =
                e["path"]["dgid"].as_str().and_then(Gid::parse).ok_or_else(|| format!("dump entry {e}"))?;
            let i = records::index_of(dgid, seed)
                .filter(|&i| (i as usize) < n)
                .ok_or_else(|| format!("not a record of the table: {e}"))?;
            ensure(!std::mem::replace(&mut seen[i as usize], true), || format!("record {i} twice"))?;
            daemon::check_path(&e["path"], i, seed)?;
        }
        peer.poll();
        let answered = peer.all("ANSWERED ");
        let local = format!("sgid={} ", ctx.attrs.gid);
        ensure(answered.len() == 1 && answered[0].contains(&local), || {
            format!("sa-peer: {answered:?} (want one GetTable from {local})")
        })?;
        ensure(peer.find("SEND-").is_none(), || "sa-peer reports a failed send".into())?;
        Ok(format!(
            "GetTable(SGID {}) answered with {n} records ({} RMPP segments) by the kernel, reassembled by the daemon \
             {} ms after it was ready; stats: {n} records stored, 0 RMPP failures; `localsa dump --json`: all {n} \
             entries byte-exact",
            ctx.attrs.gid,
            localsa_core::rmpp::segment_count(n * records::RECORD_LEN),
            done_ms.saturating_sub(d.ready_ms)
        ))
    })();
    end_daemon_test(result, d, &mut [&mut peer])
}

/// 5d: replica mode across the veth pair: `sa-peer respond` is the SA on rxe1, the daemon on
/// rxe2 (`--serve-sa`, SA queries to rxe1's GID), a leaf (`sa-peer request`) on rxe1 asks the
/// daemon for every path from the table's SGID. The first GetTable is a miss: the daemon asks
/// the SA (the kernel's RMPP sender to the daemon's receiver), stores the answer and sends it
/// on with its own RMPP sender to the leaf's kernel receiver. The second is served from the
/// table.
fn daemon_replica(ctx: &Ctx, n: usize) -> Result<String, String> {
    let Some((a, b)) = &ctx.pair else { return Err("no veth pair (rxe1, rxe2) in the VM".into()) };
    let seed = 5300 + n as u32;
    let mut sa = ctx.responder_on(a, n, seed)?;
    let d = Daemon::start(
        &ctx.bin,
        &format!("replica-{n}"),
        b.umad_index,
        a.gid,
        &["--serve-sa", "--no-subscribe"],
        ctx.epoch,
    )
    .map_err(|e| with_context(e, None::<&Receiving>, Some(&sa)))?;
    let mut leaves: Vec<Peer> = Vec::new();
    let result = (|| {
        wait_sa_reachable(&d)?;
        let sgid = records::sgid_of(seed).to_string();
        let mut verified = Vec::new();
        let mut served = Vec::new();
        let mut asked = Vec::new();
        for round in 0..2 {
            let tid = next_tid();
            let leaf = ctx.peer_on(
                a,
                &[
                    "request",
                    "--records-expected",
                    &n.to_string(),
                    "--seed",
                    &seed.to_string(),
                    "--gid",
                    &b.gid.to_string(),
                    "--sgid",
                    &sgid,
                    "--any-order",
                    "--tid",
                    &tid.to_string(),
                    "--timeout-ms",
                    "10000",
                ],
            )?;
            leaves.push(leaf);
            let leaf = leaves.last_mut().ok_or("no leaf")?;
            let code = leaf.finish(Duration::from_secs(15))?;
            let line = leaf.find("VERIFIED").map(|(_, l)| l.clone());
            let Some(line) = line.filter(|_| code == Some(0)) else {
                return Err(format!("leaf {round}: exit {code:?}"));
            };
            verified.push(line);
            let s = d.stats()?;
            served.push(counter(&s, "engine", "served"));
            asked.push(counter(&s, "engine", "sa_queries"));
            ensure(counter(&s, "engine", "rmpp_failures") == 0, || "RMPP failures in the daemon".into())?;
        }
        ensure(served == [1, 2], || format!("served after each leaf: {served:?}"))?;
        ensure(asked == [1, 1], || {
            format!("SA queries after each leaf: {asked:?} (the second must come from the table)")
        })?;
        sa.poll();
        let answered = sa.all("ANSWERED ");
        ensure(answered.len() == 1 && answered[0].contains(&format!("sgid={sgid} ")), || {
            format!("the SA answered {answered:?}")
        })?;
        Ok(format!(
            "{n} records: leaf 1 (a miss: the daemon asked the SA over the link, kernel RMPP in, localsa RMPP out): \
             {}; leaf 2 (from the table, no SA query): {}",
            verified[0], verified[1]
        ))
    })();
    let mut peers: Vec<&mut Peer> = leaves.iter_mut().collect();
    peers.push(&mut sa);
    end_daemon_test(result, d, &mut peers)
}

/// 5e: a tree of two daemons across the veth pair: a leaf daemon on rxe1 whose upstream is the
/// replica daemon on rxe2 (`--serve-sa`), whose upstream is `sa-peer respond` on rxe1 (the leaf
/// registers no SA methods, so it shares rxe1 with the SA). `localsa resolve` on the leaf: a
/// Get to the replica, proxied to the SA; after the leaf's cache is flushed, the replica
/// answers from its table.
fn daemon_replica_tree(ctx: &Ctx) -> Result<String, String> {
    let Some((a, b)) = &ctx.pair else { return Err("no veth pair (rxe1, rxe2) in the VM".into()) };
    let (n, seed) = (1000, 5401);
    let mut sa = ctx.responder_on(a, n, seed)?;
    let replica = Daemon::start(
        &ctx.bin,
        "tree-replica",
        b.umad_index,
        a.gid,
        &["--serve-sa", "--no-subscribe"],
        ctx.epoch,
    )
    .map_err(|e| with_context(e, None::<&Receiving>, Some(&sa)))?;
    // The leaf subscribes to traps at the replica, which accepts (it registered Set).
    let mut leaf = match Daemon::start(&ctx.bin, "tree-leaf", a.umad_index, b.gid, &[], ctx.epoch) {
        Ok(l) => l,
        Err(e) => return end_daemon_test(Err(e), replica, &mut [&mut sa]),
    };
    let result = (|| {
        wait_sa_reachable(&replica)?;
        let verdicts = subscription_verdicts(&mut leaf)?;
        ensure(verdicts.iter().all(|v| v.ends_with("=true")), || {
            format!("leaf subscriptions: {verdicts:?}")
        })?;
        wait_sa_reachable(&leaf)?;
        let picks = [77u32, 500];
        for &i in &picks {
            let (source, _) = resolve_record(&leaf, i, seed)?;
            ensure(source == "sa", || format!("leaf: first resolve of record {i} from {source}"))?;
        }
        let r1 = replica.stats()?;
        ensure(counter(&r1, "engine", "served") == 2 && counter(&r1, "engine", "sa_queries") == 2, || {
            format!(
                "replica after 2 leaf misses: {} served, {} SA queries",
                counter(&r1, "engine", "served"),
                counter(&r1, "engine", "sa_queries")
            )
        })?;
        let flushed = leaf.cli_json("flush", &[])?;
        ensure(flushed["removed"] == 2, || format!("leaf flush: {flushed}"))?;
        let (source, ms) = resolve_record(&leaf, picks[0], seed)?;
        ensure(source == "sa", || format!("leaf: resolve after flush from {source}"))?;
        let r2 = replica.stats()?;
        ensure(counter(&r2, "engine", "served") == 3 && counter(&r2, "engine", "sa_queries") == 2, || {
            format!(
                "replica after the leaf's flush: {} served, {} SA queries",
                counter(&r2, "engine", "served"),
                counter(&r2, "engine", "sa_queries")
            )
        })?;
        let l = leaf.stats()?;
        ensure(counter(&l, "engine", "sa_queries") == 3, || {
            format!("leaf SA queries {}", counter(&l, "engine", "sa_queries"))
        })?;
        sa.poll();
        let gets = sa.all("ANSWERED-GET");
        ensure(gets.len() == 2, || format!("the SA answered {} Gets, want 2", gets.len()))?;
        Ok(format!(
            "leaf daemon (rxe1) -> replica daemon (rxe2) -> sa-peer (rxe1): records {picks:?} resolved on the leaf \
             byte-exact, each a Get proxied by the replica (2 SA Gets); after `localsa flush` on the leaf, record {} \
             again from the replica's table ({ms} ms, the SA not asked); both daemons heard ClassPortInfo from \
             their upstream; the replica accepted the leaf's 4 trap subscriptions ({})",
            picks[0],
            verdicts.join(" ")
        ))
    })();
    let leaf_end = end_daemon_test(result, leaf, &mut []);
    end_daemon_test(leaf_end, replica, &mut [&mut sa])
}

/// `sa-peer respond` on `on` whose Get answers carry `sgid` as their SGID (the SA of one real
/// port), waited for until its agent is registered.
fn responder_for(ctx: &Ctx, on: &PortAttributes, n: usize, seed: u32, sgid: Gid) -> Result<Peer, String> {
    let args =
        ["respond", "--records", &n.to_string(), "--seed", &seed.to_string(), "--sgid", &sgid.to_string()];
    let mut p = ctx.peer_on(on, &args)?;
    p.wait_for("READY", Duration::from_secs(10))?;
    Ok(p)
}

/// A port's section of `stats --json` (`ports[i]`), one of its counters.
fn port_counter(stats: &serde_json::Value, i: usize, section: &str, name: &str) -> u64 {
    stats["ports"][i][section][name].as_u64().unwrap_or(0)
}

/// 5f: one daemon, two ports (issue 6): rxe0, whose SA is `sa-peer` at rxe0's own GID (seed A),
/// and rxe1, whose SA is `sa-peer` on rxe2 across the veth link (seed B); each SA answers with
/// its port's GID as SGID. Resolves name their port by SGID (`localsa resolve --sgid`,
/// `ib_acme -s`): each goes to that port's engine and SA (per-port stats, each sa-peer's Gets),
/// a DGID only the other port's SA knows is `no_path`, a source that is no local port is
/// refused (admin `no_such_port`, ACM an error), no source goes to the first port, `--port`
/// picks one; `ib_acme -e` lists both endpoints; dump entries name their port; `flush --port`
/// empties one table. Then `--port all`: every ACTIVE port (three), for the memory per port.
fn daemon_multiport(ctx: &Ctx) -> Result<String, String> {
    let Some((a, b)) = &ctx.pair else { return Err("no veth pair (rxe1, rxe2) in the VM".into()) };
    let (p0, p1) = (&ctx.attrs, a);
    let (n, seed0, seed1) = (1000usize, 5301u32, 5302u32);
    let (g0, g1) = (p0.gid, p1.gid);
    let mut sa0 = responder_for(ctx, p0, n, seed0, g0)?;
    let mut sa1 = match responder_for(ctx, b, n, seed1, g1) {
        Ok(p) => p,
        Err(e) => {
            let _ = sa0.finish(Duration::from_secs(5));
            return Err(e);
        }
    };
    let ports = [(p0.umad_index.to_string(), g0), (p1.umad_index.to_string(), b.gid)];
    let d = match Daemon::start_ports(&ctx.bin, "multiport", &ports, &["--no-subscribe"], ctx.epoch) {
        Ok(d) => d,
        Err(e) => {
            let _ = sa0.finish(Duration::from_secs(5));
            let _ = sa1.finish(Duration::from_secs(5));
            return Err(e);
        }
    };
    let mut rss = Vec::new();
    let result = (|| {
        let s0 = d.stats_until(Duration::from_secs(5), |s| {
            s["ports"][0]["sa_reachable"] == true && s["ports"][1]["sa_reachable"] == true
        })?;
        let listed = s0["ports"].as_array().map_or(0, |l| l.len());
        ensure(listed == 2 && s0["sa_reachable"] == true, || {
            format!("stats: {listed} ports, {}", s0["ports"])
        })?;
        for (i, p) in [p0, p1].iter().enumerate() {
            let e = &s0["ports"][i];
            ensure(e["port"] == p.umad_index && e["gid"] == p.gid.to_string(), || {
                format!("ports[{i}]: {e}")
            })?;
        }
        rss.push(d.rss_kib().unwrap_or(0));
        let resolve = |sgid: Option<Gid>, dgid: Gid, extra: &[&str]| {
            let (s, g) = (sgid.map(|g| g.to_string()), dgid.to_string());
            let mut args: Vec<&str> = vec!["--json", "--dgid", &g];
            if let Some(s) = &s {
                args.extend(["--sgid", s.as_str()]);
            }
            args.extend_from_slice(extra);
            d.cli("resolve", &args)
        };
        let found = |out: daemon::Output, index: u32, seed: u32, sgid: Gid| -> Result<String, String> {
            ensure(out.code == 0, || {
                format!("resolve of record {index} (seed {seed}): exit {}: {}", out.code, out.stderr)
            })?;
            let v: serde_json::Value =
                serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
            daemon::check_path_from(&v["paths"][0], index, seed, Some(sgid))?;
            Ok(v["source"].as_str().unwrap_or("?").to_owned())
        };
        let q = |s: &serde_json::Value, i: usize| port_counter(s, i, "engine", "sa_queries");

        // By SGID: port 0's GID to port 0's engine and SA, port 1's to port 1's.
        let source = found(resolve(Some(g0), records::dgid_of(7, seed0), &[])?, 7, seed0, g0)?;
        let s1 = d.stats()?;
        ensure(source == "sa" && q(&s1, 0) == q(&s0, 0) + 1 && q(&s1, 1) == q(&s0, 1), || {
            format!(
                "SGID of port 0: from {source}, SA queries {}->{} / {}->{}",
                q(&s0, 0),
                q(&s1, 0),
                q(&s0, 1),
                q(&s1, 1)
            )
        })?;
        let source = found(resolve(Some(g1), records::dgid_of(8, seed1), &[])?, 8, seed1, g1)?;
        let s2 = d.stats()?;
        ensure(source == "sa" && q(&s2, 1) == q(&s1, 1) + 1 && q(&s2, 0) == q(&s1, 0), || {
            format!(
                "SGID of port 1: from {source}, SA queries {}->{} / {}->{}",
                q(&s1, 0),
                q(&s2, 0),
                q(&s1, 1),
                q(&s2, 1)
            )
        })?;
        // A DGID only port 0's SA knows, asked from port 1: port 1's SA has no such record.
        let cross = resolve(Some(g1), records::dgid_of(9, seed0), &[])?;
        ensure(cross.code == 1 && cross.stderr.contains("no_path"), || {
            format!("seed A's record from port 1: exit {}: {}", cross.code, cross.stderr.trim())
        })?;
        // A source that is no local port: refused, on both sockets.
        let foreign = records::sgid_of(seed0);
        let refused = resolve(Some(foreign), records::dgid_of(7, seed0), &[])?;
        ensure(refused.code != 0 && refused.stderr.contains("no_such_port"), || {
            format!("a foreign SGID: exit {}: {}", refused.code, refused.stderr.trim())
        })?;
        // No source: the first port. `--port`: the port named.
        let source = found(resolve(None, records::dgid_of(12, seed0), &[])?, 12, seed0, g0)?;
        ensure(source == "sa", || format!("no source, record 12 of seed A: from {source}"))?;
        let umad1 = p1.umad_index.to_string();
        let source = found(resolve(None, records::dgid_of(13, seed1), &["--port", &umad1])?, 13, seed1, g1)?;
        ensure(source == "sa", || format!("--port {umad1}, record 13 of seed B: from {source}"))?;

        // ib_acme (rdma-core's ACM client) by SGID, one reversible record on each port.
        let pick = |seed: u32| (20..n as u32).find(|&i| records::record(i, seed).reversible).unwrap_or(20);
        let mut acme_fields = 0;
        for (g, seed) in [(g0, seed0), (g1, seed1)] {
            let i = pick(seed);
            let (s, dg) = (g.to_string(), records::dgid_of(i, seed).to_string());
            let out = d.ib_acme(&["-f", "g", "-s", &s, "-d", &dg])?;
            ensure(out.code == 0, || {
                format!("ib_acme -s {s}: exit {}: {}{}", out.code, out.stdout, out.stderr)
            })?;
            acme_fields += daemon::check_acme_path_from(&out.stdout, i, seed, Some(g))?;
        }
        let (fs, fd) = (foreign.to_string(), records::dgid_of(pick(seed0), seed0).to_string());
        let acme_refused = d.ib_acme(&["-f", "g", "-s", &fs, "-d", &fd])?;
        ensure(acme_refused.code != 0 && acme_refused.stdout.contains("failed"), || {
            format!("ib_acme from a foreign SGID: exit {}: {}", acme_refused.code, acme_refused.stdout)
        })?;
        let eps = d.ib_acme(&["-e"])?;
        let ep_lines = eps.stdout.lines().filter(|l| l.contains(",localsa")).count();
        ensure(eps.code == 0 && ep_lines == 2, || {
            format!("ib_acme -e: {ep_lines} endpoints:\n{}", eps.stdout)
        })?;

        let s3 = d.stats()?;
        let r = |i| port_counter(&s3, i, "daemon", "resolves");
        ensure(r(0) == 3 && r(1) == 4 && counter(&s3, "daemon", "resolves") == 9, || {
            format!("resolves per port {} {}, in all {}", r(0), r(1), counter(&s3, "daemon", "resolves"))
        })?;
        ensure(counter(&s3, "engine", "sa_queries") == q(&s3, 0) + q(&s3, 1), || {
            "top-level sa_queries is not the sum".into()
        })?;
        // dump: each entry names its port; flush --port empties one table only.
        let dump = d.cli_json("dump", &[])?;
        let entries = dump["entries"].as_array().cloned().unwrap_or_default();
        let on = |u: u32| entries.iter().filter(|e| e["port"] == u).count();
        let (e0, e1) = (on(p0.umad_index), on(p1.umad_index));
        ensure(e0 == 3 && e1 == 4 && entries.len() == 7, || {
            format!("dump: {e0} on port 0, {e1} on port 1, {} in all: {dump}", entries.len())
        })?;
        let fl = d.cli_json("flush", &["--port", &umad1])?;
        let s4 = d.stats()?;
        let t = |s: &serde_json::Value, i| port_counter(s, i, "table", "entries");
        ensure(fl["removed"] == 4 && t(&s4, 0) == 3 && t(&s4, 1) == 0, || {
            format!("flush --port {umad1}: {fl}, tables {} / {}", t(&s4, 0), t(&s4, 1))
        })?;
        sa0.poll();
        sa1.poll();
        let (gets0, gets1) = (sa0.all("ANSWERED-GET").len(), sa1.all("ANSWERED-GET").len());
        ensure(gets0 == 3 && gets1 == 4, || format!("sa-peer Gets: port 0's SA {gets0}, port 1's {gets1}"))?;
        Ok(format!(
            "one daemon on {} and {}: resolves by SGID went to their port's engine and SA (per-port SA queries, \
             sa-peer Gets {gets0} / {gets1}), byte-exact; seed A's DGID from port 1: no_path; a foreign SGID: \
             no_such_port, and an ib_acme error; no source: port 0; --port {umad1}: port 1; ib_acme -s on each \
             port ({acme_fields} fields); ib_acme -e: 2 endpoints; dump: 3 + 4 entries by port; flush --port: one \
             table",
            p0.ca, p1.ca
        ))
    })();
    let result = end_daemon_test(result, d, &mut [&mut sa0, &mut sa1]);
    let detail = result?;
    // --port all: every ACTIVE port, one upstream for all (only rxe0's answers; the others'
    // heartbeats go unanswered), to see the ports and the memory they take.
    let all = [("all".to_owned(), p0.gid)];
    let d = Daemon::start_ports(&ctx.bin, "multiport-all", &all, &["--no-subscribe"], ctx.epoch)?;
    let result = (|| {
        let s = d.stats()?;
        let listed = s["ports"].as_array().map_or(0, |l| l.len());
        ensure(listed == 3, || format!("--port all: {listed} ports: {}", s["ports"]))?;
        rss.push(d.rss_kib().unwrap_or(0));
        Ok(())
    })();
    end_daemon_test(result.map(|()| String::new()), d, &mut [])?;
    // One port, for comparison (after the others: one owner per method and port).
    let one =
        Daemon::start(&ctx.bin, "multiport-one", p0.umad_index, p0.gid, &["--no-subscribe"], ctx.epoch)?;
    let result = one.stats().map(|_| {
        format!(
            "{detail}; --port all: 3 ports; VmRSS 1 port {} KiB, 2 ports {} KiB, 3 ports {} KiB",
            one.rss_kib().unwrap_or(0),
            rss[0],
            rss[1]
        )
    });
    end_daemon_test(result, one, &mut [])
}

type TestFn = fn(&Ctx) -> Result<String, String>;
type Test = (&'static str, TestFn);

/// Every test, in the order they run (each stops its peers before the next starts).
fn tests() -> Vec<Test> {
    vec![
        ("umad-register", t_register),
        ("ports-cli", t_ports),
        ("umad-kernel-rules", t_kernel_rules),
        ("k2l-1", |c| k2l(c, 1)),
        ("k2l-3", |c| k2l(c, 3)),
        ("k2l-4", |c| k2l(c, 4)),
        ("k2l-200", |c| k2l(c, 200)),
        ("k2l-1000", |c| k2l(c, 1000)),
        ("l2k-1", |c| l2k(c, 1)),
        ("l2k-3", |c| l2k(c, 3)),
        ("l2k-4", |c| l2k(c, 4)),
        ("l2k-200", |c| l2k(c, 200)),
        ("l2k-1000", |c| l2k(c, 1000)),
        ("fault-k2l-ack-delay", k2l_ack_delay),
        ("fault-k2l-ack-never", k2l_ack_never),
        ("fault-l2k-drop-seg3", l2k_drop_seg3),
        ("fault-l2k-ack-lost", l2k_ack_lost),
        ("fault-k2l-stop", k2l_stop),
        ("fault-k2l-kernel-abort", k2l_kernel_abort),
        ("fault-k2l-localsa-abort", k2l_localsa_abort),
        ("fault-l2k-kernel-abort", l2k_kernel_abort),
        ("fault-l2k-localsa-abort", l2k_localsa_abort),
        ("daemon-resolve", daemon_resolve),
        ("daemon-acm", daemon_acm),
        ("daemon-bulk-1", |c| daemon_bulk(c, 1)),
        ("daemon-bulk-3", |c| daemon_bulk(c, 3)),
        ("daemon-bulk-4", |c| daemon_bulk(c, 4)),
        ("daemon-bulk-200", |c| daemon_bulk(c, 200)),
        ("daemon-bulk-1000", |c| daemon_bulk(c, 1000)),
        ("daemon-replica-1", |c| daemon_replica(c, 1)),
        ("daemon-replica-3", |c| daemon_replica(c, 3)),
        ("daemon-replica-4", |c| daemon_replica(c, 4)),
        ("daemon-replica-200", |c| daemon_replica(c, 200)),
        ("daemon-replica-1000", |c| daemon_replica(c, 1000)),
        ("daemon-replica-tree", daemon_replica_tree),
        ("daemon-multiport", daemon_multiport),
    ]
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    match (p.downcast_ref::<String>(), p.downcast_ref::<&str>()) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => (*s).to_owned(),
        (None, None) => "(no message)".to_owned(),
    }
}

/// Prints a result: the first line on the KTEST line, the rest indented below it.
fn report(name: &str, verdict: &str, detail: &str, ms: u128) {
    let mut lines = detail.lines();
    println!("KTEST {name} {verdict} {} [{ms} ms]", lines.next().unwrap_or(""));
    for l in lines {
        println!("    {l}");
    }
}

fn main() -> ExitCode {
    let filter =
        std::env::args().nth(1).or_else(|| std::env::var("KT_FILTER").ok()).filter(|f| !f.is_empty());
    let selected = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/bin"));
    let tests: Vec<Test> = tests().into_iter().filter(|(n, _)| selected(n)).collect();
    println!("KTEST PLAN {}", tests.len());
    let attrs = match port_of("rxe0") {
        Ok(a) => a,
        Err(e) => {
            println!("KTEST setup FAIL {e}");
            println!("KTEST DONE");
            return ExitCode::FAILURE;
        }
    };
    let pair = match (port_of("rxe1"), port_of("rxe2")) {
        (Ok(a), Ok(b)) => Some((a, b)),
        (a, b) => {
            println!("KTEST-INFO no veth pair: rxe1 {:?}, rxe2 {:?}", a.err(), b.err());
            None
        }
    };
    if let Some((a, b)) = &pair {
        println!(
            "KTEST-INFO veth pair: {} port {} gid {} ({}), {} port {} gid {} ({})",
            a.ca,
            a.port,
            a.gid,
            a.device_path(),
            b.ca,
            b.port,
            b.gid,
            b.device_path()
        );
    }
    let ctx = Ctx { to: loopback(&attrs), attrs, pair, bin, epoch: Instant::now() };
    println!(
        "KTEST-INFO port {} {} port {} gid {}",
        ctx.attrs.device_path(),
        ctx.attrs.ca,
        ctx.attrs.port,
        ctx.attrs.gid
    );
    let mut failed = 0;
    for (name, test) in tests {
        let t0 = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| test(&ctx)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(p.as_ref()))));
        let ms = t0.elapsed().as_millis();
        match result {
            Ok(detail) => report(name, "PASS", &detail, ms),
            Err(why) => {
                failed += 1;
                report(name, "FAIL", &why, ms);
            }
        }
    }
    println!("KTEST DONE");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
