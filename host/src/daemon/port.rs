//! The local port: which one we serve, what the engine needs to know about it, and noticing
//! when it changes (the SM moved, the port got a new LID, went down or came back).

use localsa_core::engine::{LocalPort, MAX_PKEYS};

use crate::umad::sysfs::{read_attr, IB_CLASS_DIR};
use crate::umad::{list_ports, PortAttributes};

/// The port `index` names, or the first active one (the first one at all if none is active
/// yet: the daemon then serves it as soon as it comes up).
pub fn choose(index: Option<u32>) -> Result<PortAttributes, String> {
    if let Some(i) = index {
        return PortAttributes::read(i).map_err(|e| format!("port umad{i}: {e}"));
    }
    let ports: Vec<PortAttributes> = list_ports().into_iter().filter_map(Result::ok).collect();
    if let Some(p) = ports.iter().find(|p| p.is_active()) {
        return Ok(p.clone());
    }
    match ports.into_iter().next() {
        Some(p) => {
            log::warn!("no active port; serving the first one port=umad{} state={}", p.umad_index, p.state);
            Ok(p)
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
