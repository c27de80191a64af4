//! MADs captured from ibsim's `Verbose 3` packet dumps.
//!
//! With `Verbose 3` (any level above 2) ibsim dumps every MAD a client writes to it, before routing
//! it, to its standard output (`process_packet` in `ibsim/sim_mad.c`; `send_trap` dumps the traps it
//! generates itself the same way):
//!
//! ```text
//! ibwarn: [31558] process_packet: client 0, size 288
//! --- packet ---
//! 0103 0212 0000 0000 0000 0000 7dbf 93c0
//! 0035 0000 0000 0000 0000 0000 0000 0000
//! ... 14 more lines: 16 lines of 16 bytes, as 8 big-endian 16-bit groups ...
//! ```
//!
//! The `process_packet: client N` line (printed at levels above 1) says which attached client sent it;
//! the console prompt `sim> ` may precede the `--- packet ---` line. What is dumped is what the sender
//! wrote, all 256 bytes: bytes after the end of the sender's payload can hold uninitialized memory of
//! the sender, so tests should not compare them.

/// Size of every MAD on the simulated fabric.
pub const MAD_SIZE: usize = 256;

/// Management class of the subnet administrator.
pub const MGMT_CLASS_SA: u8 = 0x03;
/// SA attribute ID of PathRecord.
pub const ATTR_PATH_RECORD: u16 = 0x0035;
/// SA attribute ID of InformInfo.
pub const ATTR_INFORM_INFO: u16 = 0x0003;
/// SA attribute ID of Notice (in Reports).
pub const ATTR_NOTICE: u16 = 0x0002;
/// Method SubnAdmGet.
pub const METHOD_GET: u8 = 0x01;
/// Method SubnAdmSet.
pub const METHOD_SET: u8 = 0x02;
/// Method SubnAdmReport.
pub const METHOD_REPORT: u8 = 0x06;
/// Method SubnAdmGetTable.
pub const METHOD_GET_TABLE: u8 = 0x12;

/// One MAD seen by ibsim.
#[derive(Clone, PartialEq, Eq)]
pub struct CapturedMad {
    /// The attached client (ibsim's client number, see `Attached`) that wrote it, when the log says;
    /// `None` for traps ibsim generated itself or when the level was too low to log it.
    pub client: Option<u32>,
    /// The 256 bytes as the sender wrote them.
    pub bytes: [u8; MAD_SIZE],
}

impl std::fmt::Debug for CapturedMad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapturedMad")
            .field("client", &self.client)
            .field("mgmt_class", &format_args!("{:#04x}", self.mgmt_class()))
            .field("method", &format_args!("{:#04x}", self.method()))
            .field("attr_id", &format_args!("{:#06x}", self.attr_id()))
            .field("tid", &format_args!("{:#018x}", self.tid()))
            .finish()
    }
}

impl CapturedMad {
    /// MgmtClass (byte 1).
    pub fn mgmt_class(&self) -> u8 {
        self.bytes[1]
    }

    /// Method (byte 3), response bit included.
    pub fn method(&self) -> u8 {
        self.bytes[3]
    }

    /// True if the response bit (0x80) of the method is set.
    pub fn is_response(&self) -> bool {
        self.method() & 0x80 != 0
    }

    /// Status (bytes 4..6).
    pub fn status(&self) -> u16 {
        u16::from_be_bytes([self.bytes[4], self.bytes[5]])
    }

    /// TransactionID (bytes 8..16).
    pub fn tid(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[8..16]);
        u64::from_be_bytes(b)
    }

    /// AttributeID (bytes 16..18).
    pub fn attr_id(&self) -> u16 {
        u16::from_be_bytes([self.bytes[16], self.bytes[17]])
    }

    /// AttributeModifier (bytes 20..24).
    pub fn attr_mod(&self) -> u32 {
        u32::from_be_bytes([self.bytes[20], self.bytes[21], self.bytes[22], self.bytes[23]])
    }

    /// True for an SA request (class 0x03, response bit clear) with this attribute, e.g.
    /// [`ATTR_PATH_RECORD`]: a query on its way to the SA.
    pub fn is_sa_request(&self, attr_id: u16) -> bool {
        self.mgmt_class() == MGMT_CLASS_SA && !self.is_response() && self.attr_id() == attr_id
    }

    /// True for a PathRecord Get or GetTable request.
    pub fn is_path_record_query(&self) -> bool {
        self.is_sa_request(ATTR_PATH_RECORD) && matches!(self.method(), METHOD_GET | METHOD_GET_TABLE)
    }
}

/// Parses every complete `--- packet ---` dump in `log` (see the module documentation). A dump cut short
/// (the log being written while it is read) or with malformed hex is skipped.
pub fn parse_packet_dumps(log: &str) -> Vec<CapturedMad> {
    let mut out = Vec::new();
    let mut client = None;
    let mut lines = log.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(pos) = line.find("process_packet: client ") {
            let rest = &line[pos + "process_packet: client ".len()..];
            client = rest.split(',').next().and_then(|n| n.trim().parse().ok());
            continue;
        }
        if !line.trim_end().ends_with("--- packet ---") {
            continue;
        }
        let mut bytes = [0u8; MAD_SIZE];
        let mut ok = true;
        for row in 0..MAD_SIZE / 16 {
            let Some(&next) = lines.peek() else {
                ok = false;
                break;
            };
            if !next.ends_with('\n') || !parse_row(next, &mut bytes[row * 16..row * 16 + 16]) {
                ok = false;
                break;
            }
            lines.next();
        }
        if ok {
            out.push(CapturedMad { client: client.take(), bytes });
        } else {
            client = None;
        }
    }
    out
}

/// One MAD ibsim delivered to an attached client, from its routing log (`Verbose 2` and up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutedMad {
    /// The client that sent it (its `process_packet: client N` line), if logged.
    pub from: Option<u32>,
    /// The client it was delivered to.
    pub to: u32,
    /// Its AttributeID.
    pub attr_id: u16,
}

/// Every delivery in `log`: a `forward pkt to client M pid P attr 0xA` line, with the sender
/// of the `process_packet: client N` line before it (ibsim routes one packet at a time, so a
/// packet's lines are consecutive). Lines not yet complete are skipped.
pub fn parse_routed(log: &str) -> Vec<RoutedMad> {
    let mut from = None;
    let mut out = Vec::new();
    for line in log.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        if let Some(rest) = line.split("process_packet: client ").nth(1) {
            from = rest.split(',').next().and_then(|n| n.trim().parse().ok());
        } else if let Some(rest) = line.split("forward pkt to client ").nth(1) {
            let to = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            let attr = rest.split("attr 0x").nth(1).and_then(|a| u16::from_str_radix(a.trim(), 16).ok());
            if let (Some(to), Some(attr_id)) = (to, attr) {
                out.push(RoutedMad { from, to, attr_id });
            }
        }
    }
    out
}

/// Parses `0103 0212 0000 0000 0000 0000 7dbf 93c0` into 16 bytes.
fn parse_row(line: &str, dst: &mut [u8]) -> bool {
    let mut n = 0;
    for group in line.split_whitespace() {
        if group.len() != 4 || n + 2 > dst.len() {
            return false;
        }
        let Ok(v) = u16::from_str_radix(group, 16) else { return false };
        dst[n..n + 2].copy_from_slice(&v.to_be_bytes());
        n += 2;
    }
    n == dst.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW0: &str = "0103 0212 0000 0000 0000 0000 7dbf 93c0\n";
    const ROW1: &str = "0035 0000 0000 0000 0000 0000 0000 0000\n";
    const ZERO: &str = "0000 0000 0000 0000 0000 0000 0000 0000\n";

    fn dump(prefix: &str) -> String {
        let mut s = format!("{prefix}--- packet ---\n{ROW0}{ROW1}");
        for _ in 0..14 {
            s.push_str(ZERO);
        }
        s
    }

    #[test]
    fn parses_real_format() {
        let log = format!(
            "sim> ibwarn: [31558] process_packet: client 0, size 288\n{}ibwarn: [31558] lid_route_MAD: x\n{}",
            dump(""),
            dump("sim> ")
        );
        let mads = parse_packet_dumps(&log);
        assert_eq!(mads.len(), 2);
        assert_eq!(mads[0].client, Some(0));
        assert_eq!(mads[1].client, None);
        let m = &mads[0];
        assert_eq!(m.mgmt_class(), MGMT_CLASS_SA);
        assert_eq!(m.method(), METHOD_GET_TABLE);
        assert_eq!(m.attr_id(), ATTR_PATH_RECORD);
        assert_eq!(m.tid(), 0x7dbf_93c0);
        assert!(m.is_path_record_query());
        assert!(!m.is_response());
    }

    #[test]
    fn parses_routing_lines() {
        // As ibsim 0.10 logs a saquery request to OpenSM and its answer (Verbose 2).
        let log = "ibwarn: [7603] process_packet: client 1, size 288\n\
            ibwarn: [7603] lid_route_MAD: Node 100002 port 100003 (1) lid 1\n\
            ibwarn: [7603] process_packet: packet (attr 0x35 mod 0x0) reached host H0001 port 1\n\
            ibwarn: [7603] process_packet: forward pkt to client 0 pid 7625 attr 0x35\n\
            ibwarn: [7603] process_packet: client 0, size 288\n\
            ibwarn: [7603] process_packet: forward pkt to client 1 pid 7737 attr 0x35\n\
            ibwarn: [7603] process_packet: forward pkt to client 1 pid 7737 at";
        let routed = parse_routed(log);
        assert_eq!(
            routed,
            [
                RoutedMad { from: Some(1), to: 0, attr_id: 0x35 },
                RoutedMad { from: Some(0), to: 1, attr_id: 0x35 }
            ]
        );
    }

    #[test]
    fn skips_truncated_dumps() {
        let full = dump("");
        let cut = &full[..full.len() - 5];
        assert_eq!(parse_packet_dumps(cut).len(), 0);
        let without_last_newline = &full[..full.len() - 1];
        assert_eq!(parse_packet_dumps(without_last_newline).len(), 0);
        let broken = full.replacen("0035", "zz35", 1);
        assert_eq!(parse_packet_dumps(&broken).len(), 0);
        assert_eq!(parse_packet_dumps(&format!("{broken}{full}")).len(), 1);
    }
}
