//! Where a MAD goes to or comes from: the datagram addressing the kernel's `ib_user_mad` header
//! carries (LID, QP, Q_Key, SL, P_Key index and an optional GRH), as plain data.

use super::gid::Gid;

/// The well-known Q_Key of QP1, the General Services Interface where SA MADs travel.
pub const QP1_QKEY: u32 = 0x8001_0000;

/// Global routing information for MADs that travel with a GRH (required on RoCE, used across
/// subnets on InfiniBand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Grh {
    /// The remote port's GID.
    pub gid: Gid,
    /// Index of the local GID to send from.
    pub sgid_index: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label, 20 bits.
    pub flow_label: u32,
}

/// The remote end of a MAD exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MadAddress {
    /// Remote LID (0 on RoCE, where the GRH addresses the peer).
    pub lid: u16,
    /// Remote queue pair: 1 for the SA and every GSI agent.
    pub qpn: u32,
    /// Q_Key of the remote QP.
    pub qkey: u32,
    /// Service level to send on.
    pub sl: u8,
    /// Index into the local P_Key table.
    pub pkey_index: u16,
    /// Global route, when present.
    pub grh: Option<Grh>,
}

impl MadAddress {
    /// The GSI (QP1) of the port at `lid`, on service level `sl`, default partition.
    pub const fn gsi(lid: u16, sl: u8) -> MadAddress {
        MadAddress { lid, qpn: 1, qkey: QP1_QKEY, sl, pkey_index: 0, grh: None }
    }

    /// Whether two addresses name the same peer port (LID, QP and GID, if any): the key RMPP
    /// and transaction matching use. SL, Q_Key and P_Key index may differ between directions.
    pub fn same_peer(&self, other: &MadAddress) -> bool {
        self.lid == other.lid && self.qpn == other.qpn && self.grh.map(|g| g.gid) == other.grh.map(|g| g.gid)
    }
}
