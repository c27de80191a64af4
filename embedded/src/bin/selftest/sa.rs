//! A scripted Subnet Administrator built from the core's own codec, as in the engine's scenario
//! tests but without an allocator: it answers ClassPortInfo, Set(InformInfo), PathRecord Get
//! and GetTable (table answers over RMPP, with an [`rmpp::Sender`] of its own), counts
//! ReportResps, builds Reports, and drops queries or goes mute on command.
//!
//! The fabric: LIDs 1 to [`PORTS`], GID = fe80:: + 0x100000 + LID, every path 2048 MTU,
//! 40 Gb/s, PacketLifeTime 18.

use heapless::{Deque, Vec};
use localsa_core::rmpp::{self, Sender};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::{
    AttributeId, ClassPortInfoRepr, Gid, InformInfoRepr, MadAddress, MadStatus, Method, Mtu, NoticeRepr,
    NoticeType, Origin, PacketLifetime, PathRecordMask, PathRecordRepr, ProducerType, Rate, SaAttribute,
    SaMad, SaPacket, SaRecord, Selector, TrapDetails, TrapNumber, MAD_LEN,
};

use localsa_firmware::RX_CAP;
pub use localsa_firmware::{gid, ME, PREFIX, SA_LID};
/// Ports in the fabric: a bulk fetch from [`ME`] answers exactly this many PathRecords, as many
/// as the engine's one RMPP receive slot holds.
pub const PORTS: u16 = 64;

/// What the SA does with the next PathRecord query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Answer,
    Drop,
}

/// The SA. See the module docs.
#[derive(Debug)]
pub struct ScriptedSa {
    /// Per PathRecord query, in order; when empty: answer.
    pub script: Deque<Script, 16>,
    /// Answer nothing at all (the SA went away).
    pub mute: bool,
    /// PathRecord queries received (answered or not).
    pub pr_queries: u32,
    /// Their TIDs, the latest 8.
    pub pr_tids: Deque<u64, 8>,
    /// The Method of the latest PathRecord query.
    pub last_pr_method: Option<Method>,
    pub class_port_info_queries: u32,
    pub subscriptions: u32,
    pub report_resps: u32,
    pub last_report_resp_tid: Option<u64>,
    /// RMPP ACKs received for our table answers.
    pub rmpp_acks: u32,
    /// Table answers started over RMPP.
    pub rmpp_answers: u32,
    /// The sending side of RMPP, one transfer of up to 64 PathRecords at a time.
    pub rmpp: Sender<1, RX_CAP>,
}

impl ScriptedSa {
    pub const fn new() -> ScriptedSa {
        ScriptedSa {
            script: Deque::new(),
            mute: false,
            pr_queries: 0,
            pr_tids: Deque::new(),
            last_pr_method: None,
            class_port_info_queries: 0,
            subscriptions: 0,
            report_resps: 0,
            last_report_resp_tid: None,
            rmpp_acks: 0,
            rmpp_answers: 0,
            rmpp: Sender::new(rmpp::Config {
                response_time: Duration::from_millis(50),
                ..rmpp::Config::DEFAULT
            }),
        }
    }

    /// The path from `slid` to `dlid` in this fabric.
    pub fn record(slid: u16, dlid: u16) -> PathRecordRepr {
        PathRecordRepr {
            dgid: gid(dlid),
            sgid: gid(slid),
            dlid,
            slid,
            reversible: true,
            pkey: 0xffff,
            mtu_selector: Selector::Exactly,
            mtu: Mtu::Mtu2048,
            rate_selector: Selector::Exactly,
            rate: Rate::Gbps40,
            packet_lifetime_selector: Selector::Exactly,
            packet_lifetime: PacketLifetime(18),
            ..PathRecordRepr::default()
        }
    }

    fn lid_of(g: &Gid) -> Option<u16> {
        let lid = g.guid().checked_sub(0x0010_0000)?;
        (g.prefix() == PREFIX && lid >= 1 && lid <= PORTS as u64).then_some(lid as u16)
    }

    /// Takes one MAD from `from`; a plain answer, if any, is written to `out` and its length
    /// returned. Table answers go out through [`Self::rmpp`].
    pub fn handle(
        &mut self,
        now: Instant,
        from: MadAddress,
        mad: &[u8],
        out: &mut [u8; MAD_LEN],
    ) -> Option<usize> {
        if self.mute {
            return None;
        }
        let packet = SaPacket::new_checked(mad).ok()?;
        let h = SaMad::parse(&packet).ok()?;
        if h.rmpp.is_active() {
            // ACKs of our table answers.
            self.rmpp_acks += 1;
            self.rmpp.handle(now, from, mad);
            return None;
        }
        match (h.header.method, h.header.attribute_id) {
            (Method::Get, AttributeId::ClassPortInfo) => {
                self.class_port_info_queries += 1;
                let cpi = ClassPortInfoRepr {
                    base_version: 1,
                    class_version: 2,
                    resp_time_value: 16,
                    ..Default::default()
                };
                let mut b = [0u8; 72];
                cpi.encode(&mut b).ok()?;
                reply(&h, MadStatus::OK, Method::GetResp, &b, 0, out)
            }
            (Method::Set, AttributeId::InformInfo) => {
                self.subscriptions += 1;
                let ii = InformInfoRepr::decode(packet.data()).ok()?;
                let mut b = [0u8; 36];
                ii.encode(&mut b).ok()?;
                reply(&h, MadStatus::OK, Method::GetResp, &b, 0, out)
            }
            (Method::ReportResp, _) => {
                self.report_resps += 1;
                self.last_report_resp_tid = Some(h.header.transaction_id);
                None
            }
            (Method::Get | Method::GetTable, AttributeId::PathRecord) => {
                self.path_query(now, from, &packet, &h, out)
            }
            _ => None,
        }
    }

    fn path_query(
        &mut self,
        now: Instant,
        from: MadAddress,
        packet: &SaPacket<&[u8]>,
        h: &SaMad,
        out: &mut [u8; MAD_LEN],
    ) -> Option<usize> {
        self.pr_queries += 1;
        if self.pr_tids.is_full() {
            self.pr_tids.pop_front();
        }
        let _ = self.pr_tids.push_back(h.header.transaction_id);
        self.last_pr_method = Some(h.header.method);
        if self.script.pop_front().unwrap_or(Script::Answer) == Script::Drop {
            return None;
        }
        let Some(Ok(SaRecord::PathRecord(q))) = packet.records().ok()?.next() else { return None };
        let m = PathRecordMask::from_bits_retain(h.sa.component_mask);
        let slid = if m.contains(PathRecordMask::SGID) { Self::lid_of(&q.sgid) } else { Some(q.slid) };
        let (first, last) = if m.contains(PathRecordMask::DGID) {
            Self::lid_of(&q.dgid).map_or((1, 0), |l| (l, l))
        } else if m.contains(PathRecordMask::DLID) {
            if q.dlid >= 1 && q.dlid <= PORTS {
                (q.dlid, q.dlid)
            } else {
                (1, 0)
            }
        } else {
            (1, PORTS)
        };
        let response = h.header.method.response();
        let no_records = MadStatus(0x0300);
        let Some(slid) = slid.filter(|l| *l >= 1 && *l <= PORTS) else {
            return reply(h, no_records, response, &[], 0, out);
        };
        if h.header.method == Method::Get {
            if first > last {
                return reply(h, no_records, response, &[], 0, out);
            }
            let mut b = [0u8; 64];
            Self::record(slid, first).encode(&mut b).ok()?;
            return reply(h, MadStatus::OK, response, &b, 0, out);
        }
        self.table_answer(now, from, h, slid, first, last);
        None
    }

    /// A GetTable answer over RMPP: the records are laid out in a buffer on the stack, which
    /// [`Sender::start`] copies into its slot.
    #[inline(never)]
    fn table_answer(&mut self, now: Instant, from: MadAddress, h: &SaMad, slid: u16, first: u16, last: u16) {
        let mut records: Vec<u8, { RX_CAP - 56 }> = Vec::new();
        let mut d = first;
        while d <= last {
            let mut b = [0u8; 64];
            if Self::record(slid, d).encode(&mut b).is_err() || records.extend_from_slice(&b).is_err() {
                break;
            }
            d += 1;
        }
        let mut r = *h;
        r.header.method = Method::GetTableResp;
        r.sa.attribute_offset = if records.is_empty() { 0 } else { 8 };
        if self.rmpp.start(now, from, &r, &records).is_ok() {
            self.rmpp_answers += 1;
        }
    }

    /// A Report of trap `trap` about `about`, with transaction ID `tid`.
    pub fn report(trap: TrapNumber, about: Gid, tid: u64, out: &mut [u8; MAD_LEN]) -> Option<usize> {
        let notice = NoticeRepr {
            notice_type: NoticeType::SubnetManagement,
            origin: Origin::Generic { trap_number: trap, producer_type: ProducerType::ClassManager },
            issuer_lid: SA_LID,
            toggle: false,
            count: 1,
            data_details: TrapDetails::Gid(about).emit(),
            issuer_gid: gid(SA_LID),
        };
        let mad = SaMad::new(Method::Report, AttributeId::Notice, tid);
        notice.encode(mad.emit(out).ok()?).ok()?;
        Some(MAD_LEN)
    }
}

/// An answer to `h` with `status`, `method` and `records` as data, written to `out`.
fn reply(
    h: &SaMad,
    status: MadStatus,
    method: Method,
    records: &[u8],
    offset: u16,
    out: &mut [u8; MAD_LEN],
) -> Option<usize> {
    let mut r = *h;
    r.header.method = method;
    r.header.status = status;
    r.sa.attribute_offset = offset;
    out.fill(0);
    let data = r.emit(out).ok()?;
    let n = records.len().min(data.len());
    data[..n].copy_from_slice(&records[..n]);
    Some(MAD_LEN)
}
