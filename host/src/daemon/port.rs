//! The local ports: which ones we serve, what an engine needs to know about its port, and
//! noticing when one changes (the SM moved, the port got a new LID, went down or came back).

use localsa_core::engine::{LocalPort, MAX_PKEYS};

use super::config::PortChoice;
use crate::umad::sysfs::{read_attr, IB_CLASS_DIR};
use crate::umad::{list_ports, PortAttributes};

/// The ports `choice` names, in order: the listed umad indexes; every active port; or the
/// first active one. With no port active, `all` and the default serve the first port there is
/// (the daemon then serves it as soon as it comes up).
pub fn choose(choice: &PortChoice) -> Result<Vec<PortAttributes>, String> {
    if let PortChoice::List(list) = choice {
        return list
            .iter()
            .map(|&i| PortAttributes::read(i).map_err(|e| format!("port umad{i}: {e}")))
            .collect();
    }
    let ports: Vec<PortAttributes> = list_ports().into_iter().filter_map(Result::ok).collect();
    let active: Vec<PortAttributes> = ports.iter().filter(|p| p.is_active()).cloned().collect();
    match (choice, active.first()) {
        (PortChoice::AllActive, Some(_)) => return Ok(active),
        (_, Some(p)) => return Ok(vec![p.clone()]),
        (_, None) => {}
    }
    match ports.into_iter().next() {
        Some(p) => {
            log::warn!("no active port; serving the first one port=umad{} state={}", p.umad_index, p.state);
            Ok(vec![p])
        }
        None => Err("no InfiniBand port found (no /sys/class/infiniband_mad/umad*)".into()),
    }
}

/// What the engine needs from the port's attributes.
pub fn local_port(a: &PortAttributes) -> LocalPort {
    let mut pkeys = heapless::Vec::<u16, MAX_PKEYS>::new();
    for &(_, pkey) in a.pkeys.iter().take(MAX_PKEYS) {
        let _ = pkeys.push(pkey);
    }
    if pkeys.is_empty() {
        let _ = pkeys.push(0xffff);
    }
    LocalPort {
        lid: a.lid,
        lmc: a.lmc,
        gid: a.gid,
        sm_lid: a.sm_lid,
        sm_sl: a.sm_sl,
        pkeys,
        roce: a.link_layer.eq_ignore_ascii_case("Ethernet"),
    }
}

/// The device-wide facts an ACM endpoint query reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The node GUID (the port GUID if sysfs does not say).
    pub node_guid: u64,
    /// Ports on the device.
    pub ports: u8,
}

/// Reads the device facts of `a`'s HCA.
pub fn device_info(a: &PortAttributes) -> DeviceInfo {
    let node_guid = read_attr(&format!("{IB_CLASS_DIR}/{}/node_guid", a.ca))
        .ok()
        .and_then(|t| u64::from_str_radix(&t.replace(':', ""), 16).ok())
        .unwrap_or(a.gid.guid());
    let ports = list_ports().into_iter().filter_map(Result::ok).filter(|p| p.ca == a.ca).count();
    DeviceInfo { node_guid, ports: ports.clamp(1, 255) as u8 }
}

/// The port's LID range (base LID and its 2^LMC aliases).
pub fn owns_lid(p: &LocalPort, lid: u16) -> bool {
    let span = 1u32 << p.lmc.min(7);
    (lid as u32) >= p.lid as u32 && (lid as u32) < p.lid as u32 + span
}
