//! Every MAD localsa builds, written to a pcap by localsa's own writer, reads back in tshark
//! with the field values localsa decodes. This checks the builders and the pcap framing
//! against an independent decoder (Wireshark's InfiniBand dissector).

mod common;

use std::process::Command;

use common::{compare_with_tshark, decode, flatten_tshark};
use localsa::capture::{Direction, PcapWriter};
use localsa_core::wire::{
    request, AttributeId, Gid, InformInfoRepr, MadAddress, Method, Mtu, MultiPathRecordMask,
    MultiPathRecordRepr, NoticeRepr, NoticeType, Origin, PacketLifetime, PathRecordMask, PathRecordRepr,
    ProducerType, Rate, RmppFlags, RmppHeaderRepr, RmppStatus, RmppType, SaMad, Selector, TrapDetails,
    TrapNumber, MAD_LEN,
};

fn gid(n: u64) -> Gid {
    Gid::new(0xfe80_0000_0000_0000, 0x0002_c903_0000_0000 | n)
}

/// One of each MAD the engine sends, with distinctive field values.
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; MAD_LEN];

    let pr = PathRecordRepr {
        service_id: 0x1000_0000_0000_0abc,
        dgid: gid(2),
        sgid: gid(1),
        dlid: 0x1234,
        slid: 0x0042,
        raw_traffic: false,
        flow_label: 0xabcde,
        hop_limit: 7,
        tclass: 0x20,
        reversible: true,
        numb_path: 4,
        pkey: 0x8001,
        qos_class: 0,
        sl: 5,
        mtu_selector: Selector::GreaterThan,
        mtu: Mtu::Mtu1024,
        rate_selector: Selector::Largest,
        rate: Rate::Gbps40,
        packet_lifetime_selector: Selector::LessThan,
        packet_lifetime: PacketLifetime(18),
        preference: 1,
    };
    let mask = PathRecordMask::all();
    request::path_record_query(&mut buf, 0x0000_0001_0000_0001, Method::Get, &pr, mask).unwrap();
    out.push(("PathRecord Get", buf.to_vec()));
    request::path_record_query(
        &mut buf,
        0x2,
        Method::GetTable,
        &PathRecordRepr { sgid: gid(1), ..Default::default() },
        PathRecordMask::SGID,
    )
    .unwrap();
    out.push(("PathRecord GetTable", buf.to_vec()));

    let mut mpr = MultiPathRecordRepr {
        flow_label: 0x12345,
        hop_limit: 3,
        tclass: 1,
        reversible: true,
        numb_path: 8,
        pkey: 0xffff,
        sl: 2,
        mtu_selector: Selector::Exactly,
        mtu: Mtu::Mtu2048,
        rate_selector: Selector::Exactly,
        rate: Rate::Gbps10,
        packet_lifetime_selector: Selector::Exactly,
        packet_lifetime: PacketLifetime(16),
        independence_selector: 1,
        sgid_count: 1,
        dgid_count: 3,
        ..Default::default()
    };
    for g in [gid(1), gid(2), gid(3), gid(4)] {
        mpr.gids.push(g).unwrap();
    }
    request::multipath_query(&mut buf, 0x3, &mpr, MultiPathRecordMask::all()).unwrap();
    out.push(("MultiPathRecord GetMulti", buf.to_vec()));

    request::class_port_info_get(&mut buf, 0x4).unwrap();
    out.push(("ClassPortInfo Get", buf.to_vec()));
    request::inform_info_set(
        &mut buf,
        0x5,
        &InformInfoRepr::generic_subscription(TrapNumber::GidOutOfService, true),
    )
    .unwrap();
    out.push(("InformInfo Set subscribe 65", buf.to_vec()));
    request::inform_info_set(
        &mut buf,
        0x6,
        &InformInfoRepr::generic_subscription(TrapNumber::GidInService, false),
    )
    .unwrap();
    out.push(("InformInfo Set unsubscribe 64", buf.to_vec()));

    let notice = NoticeRepr {
        notice_type: NoticeType::SubnetManagement,
        origin: Origin::Generic {
            trap_number: TrapNumber::GidOutOfService,
            producer_type: ProducerType::ClassManager,
        },
        issuer_lid: 1,
        toggle: true,
        count: 3,
        data_details: TrapDetails::Gid(gid(9)).emit(),
        issuer_gid: gid(1),
    };
    let report = SaMad::new(Method::Report, AttributeId::Notice, 0x0000_0007_0000_0007);
    request::report_resp(&mut buf, &report, &notice).unwrap();
    out.push(("ReportResp", buf.to_vec()));

    let mut data = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, 0x8);
    data.rmpp = RmppHeaderRepr {
        version: 1,
        rmpp_type: RmppType::Data,
        resp_time: 0x1f,
        flags: RmppFlags::ACTIVE | RmppFlags::FIRST,
        status: RmppStatus::Normal,
        data1: 1,
        data2: 14080,
    };
    request::rmpp_ack(&mut buf, &data, 5, 12).unwrap();
    out.push(("RMPP ACK", buf.to_vec()));
    request::rmpp_stop(&mut buf, &data, RmppStatus::ResourcesExhausted).unwrap();
    out.push(("RMPP STOP", buf.to_vec()));
    request::rmpp_abort(&mut buf, &data, RmppStatus::TooManyRetries).unwrap();
    out.push(("RMPP ABORT", buf.to_vec()));
    out
}

#[test]
fn tshark_reads_back_what_localsa_builds() {
    if std::env::var_os("LOCALSA_SKIP_TSHARK").is_some() {
        eprintln!("LOCALSA_SKIP_TSHARK set: not checking against tshark");
        return;
    }
    let mads = requests();
    let dir = std::env::temp_dir().join(format!("localsa-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("requests.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&pcap).unwrap(), 5).unwrap();
    for (i, (_, mad)) in mads.iter().enumerate() {
        w.write_mad_at(1_700_000_000 + i as u64, 0, Direction::Sent, &MadAddress::gsi(1, 0), mad).unwrap();
    }
    w.flush().unwrap();
    drop(w);

    let output = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-T", "json", "--no-duplicate-keys"])
        .output()
        .expect("tshark is installed (scripts/test installs it; LOCALSA_SKIP_TSHARK=1 skips this test)");
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.status.success(), "tshark failed: {}", String::from_utf8_lossy(&output.stderr));
    let frames: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let frames = frames.as_array().expect("a JSON array of frames");
    assert_eq!(frames.len(), mads.len());

    let mut failures = Vec::new();
    for ((name, mad), frame) in mads.iter().zip(frames) {
        let layers = &frame["_source"]["layers"];
        let text = layers.to_string();
        if text.contains("_ws.malformed") || text.contains("_ws.expert") {
            failures.push(format!("{name}: tshark flags the packet: {text}"));
        }
        let ib = &layers["infiniband"];
        let c = compare_with_tshark(&decode(mad), &flatten_tshark(ib));
        // At least the MAD and RMPP headers (16 fields); STOP and ABORT carry nothing else.
        if !c.unmapped.is_empty() || !c.mismatches.is_empty() || c.compared < 16 {
            failures.push(format!(
                "{name}: {} compared, unmapped {:?}, mismatches {:#?}",
                c.compared, c.unmapped, c.mismatches
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
