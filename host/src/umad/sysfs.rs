//! Port discovery and port attributes from sysfs (`/sys/class/infiniband_mad`,
//! `/sys/class/infiniband/<ca>/ports/<n>`), read through libc `open`/`read` so that the ibsim
//! shim can redirect them to its fake tree.

use std::fmt;

use localsa_core::wire::Gid;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

/// Where the kernel lists umad devices.
pub const UMAD_CLASS_DIR: &str = "/sys/class/infiniband_mad";
/// Where the kernel lists RDMA devices.
pub const IB_CLASS_DIR: &str = "/sys/class/infiniband";
/// Highest umad index probed: ports are found by probing names rather than listing the
/// directory, which keeps us off `opendir` variants the shim may not intercept.
const MAX_UMAD_INDEX: u32 = 64;
/// Most P_Key table entries read.
const MAX_PKEYS: usize = 128;

/// A sysfs read that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

impl fmt::Display for SysfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for SysfsError {}

/// Reads a small sysfs file as trimmed text.
pub fn read_attr(path: &str) -> Result<String, SysfsError> {
    let err = |reason: String| SysfsError { path: path.to_owned(), reason };
    let fd =
        open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| err(e.desc().into()))?;
    let mut buf = [0u8; 256];
    let mut len = 0;
    loop {
        match nix::unistd::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n.min(buf.len() - len);
                if len == buf.len() {
                    break;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(err(e.desc().into())),
        }
    }
    String::from_utf8(buf[..len].to_vec()).map(|s| s.trim().to_owned()).map_err(|_| err("not UTF-8".into()))
}

/// Parses a number as sysfs prints it: `0x1a`, `26`, or `4: ACTIVE` (leading number).
fn parse_number(text: &str) -> Option<u64> {
    let head = text.split([':', ' ']).next()?.trim();
    match head.strip_prefix("0x").or_else(|| head.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => head.parse().ok(),
    }
}

fn read_number(path: &str) -> Result<u64, SysfsError> {
    let text = read_attr(path)?;
    parse_number(&text)
        .ok_or_else(|| SysfsError { path: path.into(), reason: format!("not a number: {text:?}") })
}

/// Everything localsa needs to know about a local port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortAttributes {
    /// N of `/dev/infiniband/umadN`.
    pub umad_index: u32,
    /// RDMA device name (`mlx5_0`, `rxe0`, `ibsim0` ...).
    pub ca: String,
    /// Port number on the device.
    pub port: u8,
    /// Base LID (0 on RoCE).
    pub lid: u16,
    /// LID mask count.
    pub lmc: u8,
    /// LID of the master SM.
    pub sm_lid: u16,
    /// SL to reach the SM.
    pub sm_sl: u8,
    /// PortState (4 = active).
    pub state: u8,
    /// `InfiniBand` or `Ethernet` (RoCE).
    pub link_layer: String,
    /// GID index 0: subnet prefix and port GUID.
    #[serde(serialize_with = "serialize_gid")]
    pub gid: Gid,
    /// The non-zero entries of the P_Key table, by index.
    pub pkeys: Vec<(u16, u16)>,
}

fn serialize_gid<S: serde::Serializer>(gid: &Gid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&gid.to_string())
}

impl PortAttributes {
    /// `/dev/infiniband/umadN`.
    pub fn device_path(&self) -> String {
        format!("/dev/infiniband/umad{}", self.umad_index)
    }

    /// Whether the port is ACTIVE.
    pub fn is_active(&self) -> bool {
        self.state == 4
    }

    /// Reads the attributes of the port behind `umadN`.
    pub fn read(umad_index: u32) -> Result<PortAttributes, SysfsError> {
        let dir = format!("{UMAD_CLASS_DIR}/umad{umad_index}");
        let ca = read_attr(&format!("{dir}/ibdev"))?;
        let port = read_number(&format!("{dir}/port"))? as u8;
        let pdir = format!("{IB_CLASS_DIR}/{ca}/ports/{port}");
        let gid_path = format!("{pdir}/gids/0");
        let gid_text = read_attr(&gid_path)?;
        let gid = Gid::parse(&gid_text)
            .ok_or_else(|| SysfsError { path: gid_path, reason: format!("not a GID: {gid_text:?}") })?;
        let mut pkeys = Vec::new();
        for index in 0..MAX_PKEYS {
            match read_number(&format!("{pdir}/pkeys/{index}")) {
                Ok(0) => {}
                Ok(pkey) => pkeys.push((index as u16, pkey as u16)),
                Err(_) => break,
            }
        }
        Ok(PortAttributes {
            umad_index,
            port,
            lid: read_number(&format!("{pdir}/lid"))? as u16,
            lmc: read_number(&format!("{pdir}/lid_mask_count"))? as u8,
            sm_lid: read_number(&format!("{pdir}/sm_lid"))? as u16,
            sm_sl: read_number(&format!("{pdir}/sm_sl"))? as u8,
            state: read_number(&format!("{pdir}/state"))? as u8,
            // Older kernels and the ibsim shim have no link_layer file: InfiniBand then.
            link_layer: read_attr(&format!("{pdir}/link_layer")).unwrap_or_else(|_| "InfiniBand".into()),
            ca,
            gid,
            pkeys,
        })
    }
}

/// Every umad port present, in umad order.
pub fn list_ports() -> Vec<Result<PortAttributes, SysfsError>> {
    (0..MAX_UMAD_INDEX)
        .filter(|i| read_attr(&format!("{UMAD_CLASS_DIR}/umad{i}/ibdev")).is_ok())
        .map(PortAttributes::read)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_sysfs_prints_them() {
        assert_eq!(parse_number("0x1a"), Some(26));
        assert_eq!(parse_number("26"), Some(26));
        assert_eq!(parse_number("4: ACTIVE"), Some(4));
        assert_eq!(parse_number("0xffff"), Some(0xffff));
        assert_eq!(parse_number("ACTIVE"), None);
        assert_eq!(parse_number(""), None);
    }
}
