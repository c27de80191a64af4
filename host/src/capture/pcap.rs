//! A pcap writer for MADs, framed as InfiniBand packets inside ERF records.
//!
//! Wireshark's InfiniBand dissector reads pcap link type 197 (ERF) with ERF record type 21
//! (InfiniBand): a 16-byte ERF header, then the packet as it would be on the wire: LRH (8 bytes),
//! BTH (12), DETH (8), the 256-byte MAD, ICRC (4) and VCRC (2). The CRCs are written as zero; the
//! dissector does not check them. Link type 247 (InfiniBand) is not recognised by the tshark
//! shipped here, so ERF it is.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use localsa_core::wire::MadAddress;

/// pcap link type: ERF.
const LINKTYPE_ERF: u32 = 197;
/// ERF record type: InfiniBand.
const ERF_TYPE_INFINIBAND: u8 = 21;
/// BTH opcode for an Unreliable Datagram SEND-only, how MADs travel.
const BTH_OPCODE_UD_SEND_ONLY: u8 = 0x64;
/// LRH Link Next Header: IBA local (a BTH follows, no GRH).
const LNH_IBA_LOCAL: u8 = 0x2;
const LRH_LEN: usize = 8;
const BTH_LEN: usize = 12;
const DETH_LEN: usize = 8;
const ICRC_LEN: usize = 4;
const VCRC_LEN: usize = 2;
const ERF_HEADER_LEN: usize = 16;

/// Which way a MAD went, relative to the local port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by us.
    Sent,
    /// Received by us.
    Received,
}

/// Writes MADs to a pcap stream.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    local_lid: u16,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap file header. `local_lid` fills the LRH on our side of each packet.
    pub fn new(mut out: W, local_lid: u16) -> io::Result<PcapWriter<W>> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic, microsecond timestamps
        h.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // GMT offset
        h.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
        h.extend_from_slice(&65535u32.to_le_bytes()); // snap length
        h.extend_from_slice(&LINKTYPE_ERF.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, local_lid })
    }

    /// Writes one MAD exchanged with `peer`, stamped with the current time.
    pub fn write_mad(&mut self, direction: Direction, peer: &MadAddress, mad: &[u8]) -> io::Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.write_mad_at(now.as_secs(), now.subsec_nanos(), direction, peer, mad)
    }

    /// Writes one MAD with an explicit timestamp (seconds, nanoseconds).
    pub fn write_mad_at(
        &mut self,
        secs: u64,
        nanos: u32,
        direction: Direction,
        peer: &MadAddress,
        mad: &[u8],
    ) -> io::Result<()> {
        let (slid, dlid) = match direction {
            Direction::Sent => (self.local_lid, peer.lid),
            Direction::Received => (peer.lid, self.local_lid),
        };
        // Pad the payload to a multiple of 4 as the BTH PadCnt allows.
        let pad = (4 - mad.len() % 4) % 4;
        let packet_len = LRH_LEN + BTH_LEN + DETH_LEN + mad.len() + pad + ICRC_LEN + VCRC_LEN;
        let mut p = Vec::with_capacity(ERF_HEADER_LEN + packet_len);

        // ERF header: 64-bit little-endian fixed-point timestamp (seconds . 2^-32 fractions).
        let frac = ((nanos as u64) << 32) / 1_000_000_000;
        p.extend_from_slice(&((secs << 32) | frac).to_le_bytes());
        p.push(ERF_TYPE_INFINIBAND);
        p.push(0x04); // flags: varying-length record, interface 0
        p.extend_from_slice(&((ERF_HEADER_LEN + packet_len) as u16).to_be_bytes()); // rlen
        p.extend_from_slice(&0u16.to_be_bytes()); // loss counter
        p.extend_from_slice(&(packet_len as u16).to_be_bytes()); // wlen

        // LRH: VL 0, LVer 0; SL, LNH; DLID; PktLen in 4-byte words from LRH through ICRC; SLID.
        p.push(0x00);
        p.push(((peer.sl & 0xf) << 4) | LNH_IBA_LOCAL);
        p.extend_from_slice(&dlid.to_be_bytes());
        p.extend_from_slice(&(((packet_len - VCRC_LEN) / 4) as u16 & 0x07ff).to_be_bytes());
        p.extend_from_slice(&slid.to_be_bytes());

        // BTH: opcode; SE/M/PadCnt/TVer; P_Key (default partition); reserved; DestQP; A; PSN.
        p.push(BTH_OPCODE_UD_SEND_ONLY);
        p.push((pad as u8) << 4);
        p.extend_from_slice(&0xffffu16.to_be_bytes());
        p.push(0);
        p.extend_from_slice(&u32_24(peer.qpn));
        p.extend_from_slice(&[0, 0, 0, 0]);

        // DETH: Q_Key; reserved; SrcQP (GSI on both ends).
        p.extend_from_slice(&peer.qkey.to_be_bytes());
        p.push(0);
        p.extend_from_slice(&u32_24(1));

        p.extend_from_slice(mad);
        p.extend(std::iter::repeat_n(0u8, pad + ICRC_LEN + VCRC_LEN));

        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&(secs as u32).to_le_bytes());
        rec.extend_from_slice(&(nanos / 1000).to_le_bytes());
        rec.extend_from_slice(&(p.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(p.len() as u32).to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&p)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

fn u32_24(v: u32) -> [u8; 3] {
    let b = v.to_be_bytes();
    [b[1], b[2], b[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_lengths() {
        let mut w = PcapWriter::new(Vec::new(), 5).unwrap();
        w.write_mad_at(1, 500_000_000, Direction::Sent, &MadAddress::gsi(1, 0), &[0u8; 256]).unwrap();
        let out = w.into_inner();
        assert_eq!(out.len(), 24 + 16 + 16 + 8 + 12 + 8 + 256 + 4 + 2);
        let erf = &out[40..];
        assert_eq!(erf[8], ERF_TYPE_INFINIBAND);
        assert_eq!(u16::from_be_bytes([erf[10], erf[11]]) as usize, erf.len());
        let lrh = &erf[16..24];
        assert_eq!(u16::from_be_bytes([lrh[2], lrh[3]]), 1, "DLID is the peer's");
        assert_eq!(u16::from_be_bytes([lrh[4], lrh[5]]), (8 + 12 + 8 + 256 + 4) / 4);
        assert_eq!(u16::from_be_bytes([lrh[6], lrh[7]]), 5, "SLID is ours");
    }
}
