//! Shared by the vector and tshark tests: our decode flattened to `path -> values`, tshark's
//! JSON flattened the same way, and the table that says which tshark field is which of ours.

#![allow(dead_code)] // each test binary uses part of this module

use std::collections::BTreeMap;

use localsa_core::wire::{sa_packet, Gid, Value, Visitor};

/// A field value with the lifetime of the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Num(u64),
    Gid(Gid),
    Bytes(Vec<u8>),
    Text(String),
}

impl Owned {
    fn from_value(v: &Value<'_>) -> Owned {
        match *v {
            Value::Uint(n) | Value::Hex { value: n, .. } | Value::Code { raw: n, .. } => Owned::Num(n),
            Value::Bool(b) => Owned::Num(b as u64),
            Value::Gid(g) => Owned::Gid(g),
            Value::Bytes(b) => Owned::Bytes(b.to_vec()),
            Value::Text(t) => Owned::Text(String::from_utf8_lossy(t).into_owned()),
        }
    }
}

/// Our decode of a MAD: dotted path (`records.dlid`, `mad_header.method`) to the values found
/// there, in order (one per record for record fields).
#[derive(Debug, Default)]
pub struct Ours {
    stack: Vec<&'static str>,
    pub fields: BTreeMap<String, Vec<Owned>>,
}

impl Visitor for Ours {
    fn field(&mut self, name: &'static str, value: Value<'_>) {
        let mut path = self.stack.join(".");
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        self.fields.entry(path).or_default().push(Owned::from_value(&value));
    }
    fn begin(&mut self, name: &'static str) {
        self.stack.push(name);
    }
    fn end(&mut self) {
        self.stack.pop();
    }
}

/// Decodes `bytes` with localsa's codec; panics with the error, as a test should.
pub fn decode(bytes: &[u8]) -> Ours {
    let mut ours = Ours::default();
    if let Err(e) = sa_packet::describe(bytes, &mut ours) {
        panic!("localsa cannot decode: {e}");
    }
    ours
}

/// tshark's `-T json` InfiniBand layer flattened: field name to values in document order.
pub fn flatten_tshark(json: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    fn walk(v: &serde_json::Value, out: &mut BTreeMap<String, Vec<String>>) {
        if let serde_json::Value::Object(map) = v {
            for (k, v) in map {
                match v {
                    serde_json::Value::Object(_) => walk(v, out),
                    serde_json::Value::Array(items) => {
                        for item in items {
                            match item {
                                serde_json::Value::String(s) => {
                                    out.entry(k.clone()).or_default().push(s.clone())
                                }
                                other => walk(other, out),
                            }
                        }
                    }
                    serde_json::Value::String(s) => out.entry(k.clone()).or_default().push(s.clone()),
                    _ => {}
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(json, &mut out);
    out
}

/// tshark fields that carry no field of their own: other layers, raw blobs whose parts are
/// compared separately, reserved bits, and per-bit breakdowns of a compared mask.
pub fn tshark_ignored(key: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "infiniband.lrh",
        "infiniband.bth",
        "infiniband.deth",
        "infiniband.invariant.crc",
        "infiniband.variant.crc",
        "infiniband.portinfo.capabilitymask.",
    ];
    const EXACT: &[&str] = &[
        "infiniband.reserved",
        "infiniband.classportinfo.reserved",
        "infiniband.mad",
        "infiniband.mad.data",
        "infiniband.rmpp",
        "infiniband.sa.drdlid",
        "infiniband.smplid.smpdata",
        // Compared through their decoded parts (trap.gidaddr ...).
        "infiniband.notice.datadetails",
        // ServiceData8/16/32/64 as four 16-byte blobs; the record's named fields are compared.
        "infiniband.linkrecord.servicedata",
        // STOP/ABORT: tshark shows bytes 36.. as one blob (there: the SA header copied from the
        // DATA segment, as Linux mad_rmpp.c does, then zeros).
        "infiniband.rmpp.extendederrordata",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p)) || EXACT.contains(&key)
}

/// Which of our fields each tshark field is. Several candidates: the first present is used
/// (InformInfo fields sit at the top of an InformInfo record but inside an InformInfoRecord).
pub const TSHARK_MAP: &[(&str, &[&str])] = &[
    ("infiniband.mad.baseversion", &["mad_header.base_version"]),
    ("infiniband.mad.mgmtclass", &["mad_header.mgmt_class"]),
    ("infiniband.mad.classversion", &["mad_header.class_version"]),
    ("infiniband.mad.method", &["mad_header.method"]),
    ("infiniband.mad.status", &["mad_header.status"]),
    ("infiniband.mad.classspecific", &["mad_header.class_specific"]),
    ("infiniband.mad.transactionid", &["mad_header.transaction_id"]),
    ("infiniband.mad.attributeid", &["mad_header.attribute_id"]),
    ("infiniband.mad.attributemodifier", &["mad_header.attribute_modifier"]),
    ("infiniband.rmpp.rmppversion", &["rmpp_header.rmpp_version"]),
    ("infiniband.rmpp.rmpptype", &["rmpp_header.rmpp_type"]),
    ("infiniband.rmpp.rresptime", &["rmpp_header.rresp_time"]),
    ("infiniband.rmpp.rmppflags", &["rmpp_header.rmpp_flags"]),
    ("infiniband.rmpp.rmppstatus", &["rmpp_header.rmpp_status"]),
    ("infiniband.rmpp.data1", &["rmpp_header.data1", "rmpp_header.segment_number"]),
    (
        "infiniband.rmpp.data2",
        &["rmpp_header.data2", "rmpp_header.payload_length", "rmpp_header.new_window_last"],
    ),
    ("infiniband.rmpp.segmentnumber", &["rmpp_header.segment_number"]),
    ("infiniband.rmpp.payloadlength", &["rmpp_header.payload_length"]),
    ("infiniband.rmpp.newwindowlast", &["rmpp_header.new_window_last"]),
    ("infiniband.sa.smkey", &["sa_header.sm_key"]),
    ("infiniband.sa.attributeoffset", &["sa_header.attribute_offset"]),
    ("infiniband.sa.componentmask", &["sa_header.component_mask"]),
    // PathRecord
    ("infiniband.pathrecord.dgid", &["records.dgid"]),
    ("infiniband.pathrecord.sgid", &["records.sgid"]),
    ("infiniband.pathrecord.dlid", &["records.dlid"]),
    ("infiniband.pathrecord.slid", &["records.slid"]),
    ("infiniband.pathrecord.rawtraffic", &["records.raw_traffic"]),
    ("infiniband.pathrecord.flowlabel", &["records.flow_label"]),
    ("infiniband.pathrecord.hoplimit", &["records.hop_limit"]),
    ("infiniband.pathrecord.tclass", &["records.tclass"]),
    ("infiniband.pathrecord.reversible", &["records.reversible"]),
    ("infiniband.pathrecord.numbpath", &["records.numb_path"]),
    ("infiniband.pathrecord.p_key", &["records.pkey"]),
    ("infiniband.pathrecord.sl", &["records.sl"]),
    ("infiniband.pathrecord.mtuselector", &["records.mtu_selector"]),
    ("infiniband.pathrecord.mtu", &["records.mtu"]),
    ("infiniband.pathrecord.rateselector", &["records.rate_selector"]),
    ("infiniband.pathrecord.rate", &["records.rate"]),
    ("infiniband.pathrecord.packetlifetimeselector", &["records.packet_lifetime_selector"]),
    ("infiniband.pathrecord.packetlifetime", &["records.packet_lifetime"]),
    ("infiniband.pathrecord.preference", &["records.preference"]),
    // MultiPathRecord
    ("infiniband.multipathrecord.rawtraffic", &["records.raw_traffic"]),
    ("infiniband.multipathrecord.flowlabel", &["records.flow_label"]),
    ("infiniband.multipathrecord.hoplimit", &["records.hop_limit"]),
    ("infiniband.multipathrecord.tclass", &["records.tclass"]),
    ("infiniband.multipathrecord.reversible", &["records.reversible"]),
    ("infiniband.multipathrecord.numbpath", &["records.numb_path"]),
    ("infiniband.multipathrecord.p_key", &["records.pkey"]),
    ("infiniband.multipathrecord.sl", &["records.sl"]),
    ("infiniband.multipathrecord.mtuselector", &["records.mtu_selector"]),
    ("infiniband.multipathrecord.mtu", &["records.mtu"]),
    ("infiniband.multipathrecord.rateselector", &["records.rate_selector"]),
    ("infiniband.multipathrecord.rate", &["records.rate"]),
    ("infiniband.multipathrecord.packetlifetimeselector", &["records.packet_lifetime_selector"]),
    ("infiniband.multipathrecord.packetlifetime", &["records.packet_lifetime"]),
    ("infiniband.multipathrecord.independenceselector", &["records.independence_selector"]),
    ("infiniband.multipathrecord.gidscope", &["records.gid_scope"]),
    ("infiniband.multipathrecord.sgidcount", &["records.sgid_count"]),
    ("infiniband.multipathrecord.dgidcount", &["records.dgid_count"]),
    ("infiniband.multipathrecord.sdgid", &["records.sdgid"]),
    // ClassPortInfo
    ("infiniband.classportinfo.baseversion", &["records.base_version"]),
    ("infiniband.classportinfo.classversion", &["records.class_version"]),
    ("infiniband.classportinfo.capabilitymask", &["records.capability_mask"]),
    ("infiniband.classportinfo.capabilitymask2", &["records.capability_mask2"]),
    ("infiniband.classportinfo.resptimevalue", &["records.resp_time_value"]),
    ("infiniband.classportinfo.redirectgid", &["records.redirect_gid"]),
    ("infiniband.classportinfo.redirecttc", &["records.redirect_tc"]),
    ("infiniband.classportinfo.redirectsl", &["records.redirect_sl"]),
    ("infiniband.classportinfo.redirectfl", &["records.redirect_fl"]),
    ("infiniband.classportinfo.redirectlid", &["records.redirect_lid"]),
    ("infiniband.classportinfo.redirectpkey", &["records.redirect_pkey"]),
    ("infiniband.classportinfo.redirectqp", &["records.redirect_qp"]),
    ("infiniband.classportinfo.redirectqkey", &["records.redirect_qkey"]),
    ("infiniband.classportinfo.trapgid", &["records.trap_gid"]),
    ("infiniband.classportinfo.traptc", &["records.trap_tc"]),
    ("infiniband.classportinfo.trapsl", &["records.trap_sl"]),
    ("infiniband.classportinfo.trapfl", &["records.trap_fl"]),
    ("infiniband.classportinfo.traplid", &["records.trap_lid"]),
    ("infiniband.classportinfo.trappkey", &["records.trap_pkey"]),
    ("infiniband.classportinfo.trapqp", &["records.trap_qp"]),
    ("infiniband.classportinfo.trapqkey", &["records.trap_qkey"]),
    // InformInfo, alone or inside an InformInfoRecord
    ("infiniband.informinforecord.subscribergid", &["records.subscriber_gid"]),
    ("infiniband.informinforecord.enum", &["records.enum"]),
    ("infiniband.informinfo.gid", &["records.gid", "records.inform_info.gid"]),
    (
        "infiniband.informinfo.lidrangebegin",
        &["records.lid_range_begin", "records.inform_info.lid_range_begin"],
    ),
    ("infiniband.informinfo.lidrangeend", &["records.lid_range_end", "records.inform_info.lid_range_end"]),
    ("infiniband.informinfo.isgeneric", &["records.is_generic", "records.inform_info.is_generic"]),
    ("infiniband.informinfo.subscribe", &["records.subscribe", "records.inform_info.subscribe"]),
    ("infiniband.informinfo.type", &["records.notice_type", "records.inform_info.notice_type"]),
    (
        "infiniband.informinfo.trapnumberdeviceid",
        &[
            "records.trap_number",
            "records.device_id",
            "records.inform_info.trap_number",
            "records.inform_info.device_id",
        ],
    ),
    ("infiniband.informinfo.qpn", &["records.qpn", "records.inform_info.qpn"]),
    (
        "infiniband.informinfo.resptimevalue",
        &["records.resp_time_value", "records.inform_info.resp_time_value"],
    ),
    (
        "infiniband.informinfo.producertypevendorid",
        &[
            "records.producer_type",
            "records.vendor_id",
            "records.inform_info.producer_type",
            "records.inform_info.vendor_id",
        ],
    ),
    // Notice
    ("infiniband.notice.isgeneric", &["records.is_generic"]),
    ("infiniband.notice.type", &["records.notice_type"]),
    ("infiniband.notice.producertypevendorid", &["records.producer_type", "records.vendor_id"]),
    ("infiniband.notice.trapnumberdeviceid", &["records.trap_number", "records.device_id"]),
    ("infiniband.notice.issuerlid", &["records.issuer_lid"]),
    ("infiniband.notice.noticetoggle", &["records.notice_toggle"]),
    ("infiniband.notice.noticecount", &["records.notice_count"]),
    ("infiniband.trap.gidaddr", &["records.gid"]),
    // NodeRecord
    ("infiniband.sa.lid", &["records.lid"]),
    ("infiniband.nodeinfo.baseversion", &["records.base_version"]),
    ("infiniband.nodeinfo.classversion", &["records.class_version"]),
    ("infiniband.nodeinfo.nodetype", &["records.node_type"]),
    ("infiniband.nodeinfo.numports", &["records.num_ports"]),
    ("infiniband.nodeinfo.systemimageguid", &["records.system_image_guid"]),
    ("infiniband.nodeinfo.nodeguid", &["records.node_guid"]),
    ("infiniband.nodeinfo.portguid", &["records.port_guid"]),
    ("infiniband.nodeinfo.partitioncap", &["records.partition_cap"]),
    ("infiniband.nodeinfo.deviceid", &["records.device_id"]),
    ("infiniband.nodeinfo.revision", &["records.revision"]),
    ("infiniband.nodeinfo.localportnum", &["records.local_port_num"]),
    ("infiniband.nodeinfo.vendorid", &["records.vendor_id"]),
    ("infiniband.nodedescription.nodestring", &["records.node_description"]),
    // PortInfoRecord
    ("infiniband.sa.endportlid", &["records.endport_lid"]),
    ("infiniband.sa.portnum", &["records.port_num"]),
    ("infiniband.portinfo.m_key", &["records.port_info.m_key"]),
    ("infiniband.portinfo.guid", &["records.port_info.gid_prefix"]),
    ("infiniband.portinfo.lid", &["records.port_info.lid"]),
    ("infiniband.portinfo.mastersmlid", &["records.port_info.master_sm_lid"]),
    ("infiniband.portinfo.capabilitymask", &["records.port_info.capability_mask"]),
    ("infiniband.portinfo.diagcode", &["records.port_info.diag_code"]),
    ("infiniband.portinfo.m_keyleaseperiod", &["records.port_info.m_key_lease_period"]),
    ("infiniband.portinfo.localportnum", &["records.port_info.local_port_num"]),
    ("infiniband.portinfo.linkwidthenabled", &["records.port_info.link_width_enabled"]),
    ("infiniband.portinfo.linkwidthsupported", &["records.port_info.link_width_supported"]),
    ("infiniband.portinfo.linkwidthactive", &["records.port_info.link_width_active"]),
    ("infiniband.portinfo.linkspeedsupported", &["records.port_info.link_speed_supported"]),
    ("infiniband.portinfo.portstate", &["records.port_info.port_state"]),
    ("infiniband.portinfo.portphysicalstate", &["records.port_info.port_physical_state"]),
    ("infiniband.portinfo.linkdowndefaultstate", &["records.port_info.link_down_default_state"]),
    ("infiniband.portinfo.m_keyprotectbits", &["records.port_info.m_key_protect_bits"]),
    ("infiniband.portinfo.lmc", &["records.port_info.lmc"]),
    ("infiniband.portinfo.linkspeedactive", &["records.port_info.link_speed_active"]),
    ("infiniband.portinfo.linkspeedenabled", &["records.port_info.link_speed_enabled"]),
    ("infiniband.portinfo.neighbormtu", &["records.port_info.neighbor_mtu"]),
    ("infiniband.portinfo.mastersmsl", &["records.port_info.master_sm_sl"]),
    ("infiniband.portinfo.vlcap", &["records.port_info.vl_cap"]),
    ("infiniband.portinfo.inittype", &["records.port_info.init_type"]),
    ("infiniband.portinfo.vlhighlimit", &["records.port_info.vl_high_limit"]),
    ("infiniband.portinfo.vlarbitrationhighcap", &["records.port_info.vl_arbitration_high_cap"]),
    ("infiniband.portinfo.vlarbitrationlowcap", &["records.port_info.vl_arbitration_low_cap"]),
    ("infiniband.portinfo.inittypereply", &["records.port_info.init_type_reply"]),
    ("infiniband.portinfo.mtucap", &["records.port_info.mtu_cap"]),
    ("infiniband.portinfo.vlstallcount", &["records.port_info.vl_stall_count"]),
    ("infiniband.portinfo.hoqlife", &["records.port_info.hoq_life"]),
    ("infiniband.portinfo.operationalvls", &["records.port_info.operational_vls"]),
    ("infiniband.portinfo.partitionenforcementinbound", &["records.port_info.partition_enforcement_inbound"]),
    (
        "infiniband.portinfo.partitionenforcementoutbound",
        &["records.port_info.partition_enforcement_outbound"],
    ),
    ("infiniband.portinfo.filterrawinbound", &["records.port_info.filter_raw_inbound"]),
    ("infiniband.portinfo.filterrawoutbound", &["records.port_info.filter_raw_outbound"]),
    ("infiniband.portinfo.m_keyviolations", &["records.port_info.m_key_violations"]),
    ("infiniband.portinfo.p_keyviolations", &["records.port_info.p_key_violations"]),
    ("infiniband.portinfo.q_keyviolations", &["records.port_info.q_key_violations"]),
    ("infiniband.portinfo.guidcap", &["records.port_info.guid_cap"]),
    ("infiniband.portinfo.clientreregister", &["records.port_info.client_reregister"]),
    ("infiniband.portinfo.subnettimeout", &["records.port_info.subnet_timeout"]),
    ("infiniband.portinfo.resptimevalue", &["records.port_info.resp_time_value"]),
    ("infiniband.portinfo.localphyerrors", &["records.port_info.local_phy_errors"]),
    ("infiniband.portinfo.overrunerrors", &["records.port_info.overrun_errors"]),
    ("infiniband.portinfo.maxcredithint", &["records.port_info.max_credit_hint"]),
    ("infiniband.portinfo.linkroundtriplatency", &["records.port_info.link_round_trip_latency"]),
    // MCMemberRecord
    ("infiniband.mcmemberrecord.mgid", &["records.mgid"]),
    ("infiniband.mcmemberrecord.portgid", &["records.port_gid"]),
    ("infiniband.mcmemberrecord.q_key", &["records.qkey"]),
    ("infiniband.mcmemberrecord.mlid", &["records.mlid"]),
    ("infiniband.mcmemberrecord.mtuselector", &["records.mtu_selector"]),
    ("infiniband.mcmemberrecord.mtu", &["records.mtu"]),
    ("infiniband.mcmemberrecord.tclass", &["records.tclass"]),
    ("infiniband.mcmemberrecord.p_key", &["records.pkey"]),
    ("infiniband.mcmemberrecord.rateselector", &["records.rate_selector"]),
    ("infiniband.mcmemberrecord.rate", &["records.rate"]),
    ("infiniband.mcmemberrecord.packetlifetimeselector", &["records.packet_lifetime_selector"]),
    ("infiniband.mcmemberrecord.packetlifetime", &["records.packet_lifetime"]),
    ("infiniband.mcmemberrecord.sl", &["records.sl"]),
    ("infiniband.mcmemberrecord.flowlabel", &["records.flow_label"]),
    ("infiniband.mcmemberrecord.hoplimit", &["records.hop_limit"]),
    ("infiniband.mcmemberrecord.scope", &["records.scope"]),
    ("infiniband.mcmemberrecord.joinstate", &["records.join_state"]),
    ("infiniband.mcmemberrecord.proxyjoin", &["records.proxy_join"]),
    // ServiceRecord (Wireshark names its fields "linkrecord.service*")
    ("infiniband.linkrecord.serviceid", &["records.service_id"]),
    ("infiniband.linkrecord.servicegid", &["records.service_gid"]),
    ("infiniband.linkrecord.servicep_key", &["records.service_pkey"]),
    ("infiniband.linkrecord.servicelease", &["records.service_lease"]),
    ("infiniband.linkrecord.servicekey", &["records.service_key"]),
    ("infiniband.linkrecord.servicename", &["records.service_name"]),
];

/// What Wireshark shows for fields its dissector reads differently from the IBA, computed from
/// our decode; `None` for every other field.
///
/// Byte 2 of the RMPP header is RRespTime (upper 5 bits) and RMPPFlags (lower 3 bits) in IBA
/// 13.6.2.1 and in Linux (`rmpp_rtime_flags >> 3`, `& 0x7`). Wireshark 4.0's InfiniBand
/// dissector masks it 0xF0 / 0x0F (its OPA dissector uses 0xF8), so for the same byte it shows
/// `byte >> 4` and `byte & 0xf`. The check stays exact: the byte localsa wrote, read the way
/// Wireshark reads it.
fn wireshark_reading(key: &str, ours: &Ours) -> Option<Vec<Owned>> {
    let one = |p: &str| match ours.fields.get(p).and_then(|v| v.first()) {
        Some(Owned::Num(n)) => Some(*n),
        _ => None,
    };
    let byte = one("rmpp_header.rresp_time")? << 3 | one("rmpp_header.rmpp_flags")?;
    match key {
        "infiniband.rmpp.rresptime" => Some(vec![Owned::Num(byte >> 4)]),
        "infiniband.rmpp.rmppflags" => Some(vec![Owned::Num(byte & 0xf)]),
        _ => None,
    }
}

/// Parses a tshark value as a number (`0x..` or decimal).
pub fn tshark_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses a tshark byte string (`aa:bb:cc`).
pub fn tshark_bytes(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(':').map(|b| u8::from_str_radix(b, 16).ok()).collect()
}

/// Whether one tshark value equals one of ours.
pub fn same(tshark: &str, ours: &Owned) -> bool {
    match ours {
        Owned::Num(n) => tshark_number(tshark) == Some(*n),
        Owned::Gid(g) => Gid::parse(tshark) == Some(*g),
        // tshark shows text fields either as text or, for fixed-size ones, as bytes.
        Owned::Text(t) => {
            tshark == t
                || tshark_bytes(tshark)
                    .map(|b| {
                        String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(&[])) == t.as_str()
                    })
                    .unwrap_or(false)
        }
        Owned::Bytes(b) => tshark_bytes(tshark).as_deref() == Some(b.as_slice()),
    }
}

/// The outcome of comparing one MAD with tshark's decode.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Fields compared equal.
    pub compared: usize,
    /// `(tshark field, tshark value, our path, our value)` that differ.
    pub mismatches: Vec<String>,
    /// tshark fields with no mapping to ours.
    pub unmapped: Vec<String>,
    /// Record fields not compared because localsa finds no record where tshark decodes one.
    pub skipped: usize,
}

/// Compares every field tshark decoded with ours. Record fields are compared record by
/// record for as many records as tshark decoded.
///
/// One disagreement is by design: a successful table response with AttributeOffset 0 has no
/// records (OpenSM's answer to a GetTable that matches nothing), but tshark decodes the
/// leftover bytes after the SA header as one. Those record fields are counted as skipped.
pub fn compare_with_tshark(ours: &Ours, tshark: &BTreeMap<String, Vec<String>>) -> Comparison {
    let mut c = Comparison::default();
    let no_records = ours.fields.get("record_count").is_some_and(|v| v == &[Owned::Num(0)])
        && ours.fields.get("sa_header.attribute_offset").is_some_and(|v| v == &[Owned::Num(0)])
        && ours.fields.get("mad_header.status").is_some_and(|v| v == &[Owned::Num(0)]);
    for (key, values) in tshark {
        if tshark_ignored(key) {
            continue;
        }
        let is_record_field = TSHARK_MAP
            .iter()
            .find(|(k, _)| k == key)
            .is_some_and(|(_, paths)| paths.iter().all(|p| p.starts_with("records.")));
        if no_records && is_record_field {
            c.skipped += values.len();
            continue;
        }
        let Some((_, candidates)) = TSHARK_MAP.iter().find(|(k, _)| k == key) else {
            c.unmapped.push(key.clone());
            continue;
        };
        let sdgid = ours.fields.get("records.sgid").map(|s| {
            // tshark lists a MultiPathRecord's SGIDs and DGIDs as one list.
            let mut all = s.clone();
            all.extend(ours.fields.get("records.dgid").cloned().unwrap_or_default());
            all
        });
        let found = candidates.iter().find_map(|p| match *p {
            "records.sdgid" => sdgid.as_ref().map(|v| (*p, v)),
            _ => ours.fields.get(*p).map(|v| (*p, v)),
        });
        let Some((path, ours_values)) = found else {
            c.mismatches.push(format!("{key} = {values:?}: localsa has none of {candidates:?}"));
            continue;
        };
        let ours_values = match wireshark_reading(key, ours) {
            Some(values) => values,
            None => ours_values.clone(),
        };
        if ours_values.len() < values.len() {
            c.mismatches.push(format!(
                "{key}: tshark has {} values, localsa {}",
                values.len(),
                ours_values.len()
            ));
        }
        for (t, o) in values.iter().zip(ours_values.iter()) {
            if same(t, o) {
                c.compared += 1;
            } else {
                c.mismatches.push(format!("{key} = {t:?} but localsa {path} = {o:?}"));
            }
        }
    }
    c
}
