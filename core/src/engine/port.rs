//! What the engine knows about the local port: the host reads it from sysfs, firmware from
//! its own PortInfo.

use heapless::Vec;

use crate::wire::Gid;

/// Most P_Keys the engine keeps for the port.
pub const MAX_PKEYS: usize = 16;

/// The local port's attributes that matter for path resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LocalPort {
    /// Base LID (0 on RoCE).
    pub lid: u16,
    /// LID mask count.
    pub lmc: u8,
    /// GID index 0.
    pub gid: Gid,
    /// LID of the master SM (the default upstream).
    pub sm_lid: u16,
    /// SL to reach the SM.
    pub sm_sl: u8,
    /// Valid P_Keys (index order); the first is used for SA traffic.
    pub pkeys: Vec<u16, MAX_PKEYS>,
    /// The link layer is Ethernet (RoCE): every MAD needs a GRH, LIDs are 0.
    pub roce: bool,
}

impl LocalPort {
    /// Nothing known: all zero bytes.
    pub const EMPTY: LocalPort =
        LocalPort { lid: 0, lmc: 0, gid: Gid::ZERO, sm_lid: 0, sm_sl: 0, pkeys: Vec::new(), roce: false };

    /// A port on an InfiniBand link with the default partition.
    pub fn infiniband(lid: u16, gid: Gid, sm_lid: u16) -> LocalPort {
        let mut pkeys = Vec::new();
        let _ = pkeys.push(0xffff);
        LocalPort { lid, lmc: 0, gid, sm_lid, sm_sl: 0, pkeys, roce: false }
    }
}
