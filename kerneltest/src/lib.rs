//! Test code for the real-kernel tier (`scripts/kernel-test`): never shipped.
//!
//! The tier boots Debian's kernel under qemu with soft-RoCE (`rdma_rxe`) and runs two kinds of
//! programs against its MAD stack, over a port's own GID (MADs loop back inside rxe) or across
//! a veth pair (rxe1 and rxe2):
//!
//! * `sa-peer`: an SA-class agent registered with `rmpp_version` 1 and no `USER_RMPP`, so the
//!   **kernel's** `mad_rmpp.c` segments its answers and reassembles what it receives: the
//!   reference RMPP implementation localsa must interoperate with.
//! * `kt-run`: the driver. It runs localsa's side (the umad binding, the core's RMPP
//!   [`Endpoint`](localsa_core::rmpp::Endpoint), or the whole `localsa daemon` with its
//!   clients: [`daemon`]) against `sa-peer` and prints one `KTEST <name> PASS|FAIL|SKIP
//!   <detail>` line per test.
//!
//! Both ends generate and check the same table: record `i` of a transfer is a pure function of
//! `(i, seed)` ([`records::record`]), so either side can check the other's bytes exactly.

pub mod daemon;
pub mod driver;
pub mod peer;
pub mod records;
pub mod trace;

use localsa::umad::PortAttributes;
use localsa_core::wire::{Grh, MadAddress, QP1_QKEY};

/// The hop limit of the GRH every loopback MAD carries.
pub const HOP_LIMIT: u8 = 64;

/// The GSI of the port itself, reached with a GRH to its own GID: on RoCE there is no LID
/// (it is 0) and every MAD needs a GRH; rxe loops a MAD to its own GID back.
pub fn loopback(attrs: &PortAttributes) -> MadAddress {
    MadAddress {
        lid: attrs.lid,
        qpn: 1,
        qkey: QP1_QKEY,
        sl: 0,
        pkey_index: 0,
        grh: Some(Grh {
            gid: attrs.gid,
            sgid_index: 0,
            hop_limit: HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        }),
    }
}

/// The first active port (the VM has one: rxe0 port 1 on umad0), or the one at `umad`.
pub fn port(umad: Option<u32>) -> Result<PortAttributes, String> {
    if let Some(i) = umad {
        return PortAttributes::read(i).map_err(|e| e.to_string());
    }
    localsa::umad::list_ports()
        .into_iter()
        .filter_map(Result::ok)
        .find(PortAttributes::is_active)
        .ok_or_else(|| "no active umad port".to_owned())
}

/// A readable errno name for the status of a failed send (`110 (ETIMEDOUT)` ...).
pub fn errno_name(status: u32) -> String {
    let name = match status as i32 {
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECOMM => "ECOMM",
        libc::EINVAL => "EINVAL",
        libc::EIO => "EIO",
        _ => "errno",
    };
    format!("{status} ({name})")
}

/// Port 1 of the RDMA device `ca` (`rxe0` ...).
pub fn port_of(ca: &str) -> Result<PortAttributes, String> {
    localsa::umad::list_ports()
        .into_iter()
        .filter_map(Result::ok)
        .find(|p| p.ca == ca && p.port == 1)
        .ok_or_else(|| format!("no umad port for {ca} port 1"))
}
