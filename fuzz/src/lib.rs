//! What the targets share: real SA MADs from `vectors/` (captured from OpenSM), compiled in, for
//! the structured targets to feed the engine and the RMPP receiver real answers and payloads.

use std::sync::OnceLock;

use localsa_core::wire::{AttributeId, SaMad, SaPacket, DATA_OFFSET};

/// Every attribute with a decoder of its own (what `decode_mad` and `roundtrip` run each input
/// through).
pub const MODELLED: [AttributeId; 10] = [
    AttributeId::PathRecord,
    AttributeId::MultiPathRecord,
    AttributeId::ClassPortInfo,
    AttributeId::InformInfo,
    AttributeId::InformInfoRecord,
    AttributeId::Notice,
    AttributeId::NodeRecord,
    AttributeId::PortInfoRecord,
    AttributeId::ServiceRecord,
    AttributeId::McMemberRecord,
];

/// Every answer and Report in `vectors/`, as hex text.
const ANSWERS: &[&str] = &[
    include_str!("../../vectors/class_port_info_getresp.hex"),
    include_str!("../../vectors/informinfo_set_getresp_trap64.hex"),
    include_str!("../../vectors/informinfo_set_getresp_trap65.hex"),
    include_str!("../../vectors/informinforecord_gettable_resp.hex"),
    include_str!("../../vectors/mcmr_gettable_resp_groups.hex"),
    include_str!("../../vectors/mcmr_gettable_resp_members.hex"),
    include_str!("../../vectors/mcmr_set_getresp_err_insufficient_components.hex"),
    include_str!("../../vectors/mcmr_set_getresp_join_ipoib_bcast.hex"),
    include_str!("../../vectors/node_record_gettable_resp.hex"),
    include_str!("../../vectors/nr_getresp_err_too_many_records.hex"),
    include_str!("../../vectors/nr_getresp_lid8.hex"),
    include_str!("../../vectors/nr_gettable_resp_lid8.hex"),
    include_str!("../../vectors/pir_gettable_resp_lid5_port1.hex"),
    include_str!("../../vectors/pr_getresp_err_insufficient_components.hex"),
    include_str!("../../vectors/pr_getresp_err_no_records.hex"),
    include_str!("../../vectors/pr_getresp_err_req_invalid.hex"),
    include_str!("../../vectors/pr_getresp_gid_hca3_hca6_mtu2048_rate40g.hex"),
    include_str!("../../vectors/pr_getresp_lid1_lid4_mtu2048_rate2g5.hex"),
    include_str!("../../vectors/pr_getresp_lid1_lid6_mtu2048_rate10g.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid6_mtu2048_rate20g.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid7_mtu2048_rate30g.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid7_qos_sl3_mtu1024_rate5g_pktlife14.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid8_mtu1024_mtusel_lt2048.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid8_mtu2048_rate40g.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid8_mtu2048_rate40g_pktlife16.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid8_pktlife15_pktlifesel_lt16.hex"),
    include_str!("../../vectors/pr_getresp_lid5_lid8_sl5.hex"),
    include_str!("../../vectors/pr_gettable_resp_empty_lid5_lid99.hex"),
    include_str!("../../vectors/pr_gettable_resp_err_req_invalid.hex"),
    include_str!("../../vectors/pr_gettable_resp_from_lid5.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid1_lid4_mtu2048_rate2g5.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid1_lid6_mtu2048_rate10g.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid5_lid6_mtu2048_rate20g.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid5_lid7_mtu2048_rate30g.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid5_lid7_qos_sl3_mtu1024_rate5g_pktlife14.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid5_lid8_mtu1024_mtusel_lt2048.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid5_lid8_mtu2048_rate40g.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid5_lid8_mtu2048_rate40g_pktlife16.hex"),
    include_str!("../../vectors/pr_gettable_resp_lid5_lid8_sl5.hex"),
    include_str!("../../vectors/report_trap64.hex"),
    include_str!("../../vectors/report_trap65.hex"),
    include_str!("../../vectors/sr_gettable_resp.hex"),
    include_str!("../../vectors/sr_set_getresp.hex"),
];

/// Hex text (any whitespace) as bytes.
fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks_exact(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("00"), 16).unwrap_or(0))
        .collect()
}

/// The answers and Reports of `vectors/`, as MADs.
pub fn answers() -> &'static [Vec<u8>] {
    static ANSWER_MADS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    ANSWER_MADS.get_or_init(|| ANSWERS.iter().map(|t| unhex(t)).collect())
}

/// The table answers of `vectors/`: their headers and their SA data, the payload an RMPP
/// sender would segment.
pub fn table_payloads() -> &'static [(SaMad, Vec<u8>)] {
    static PAYLOADS: OnceLock<Vec<(SaMad, Vec<u8>)>> = OnceLock::new();
    PAYLOADS.get_or_init(|| {
        answers()
            .iter()
            .filter_map(|mad| {
                let packet = SaPacket::new_checked(&mad[..]).ok()?;
                let headers = SaMad::parse(&packet).ok()?;
                headers.header.method.is_table_response().then(|| (headers, mad[DATA_OFFSET..].to_vec()))
            })
            .collect()
    })
}
