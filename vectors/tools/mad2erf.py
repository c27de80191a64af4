#!/usr/bin/env python3
"""Wrap 256-byte MADs into a pcap file that tshark decodes as InfiniBand.

usage: mad2erf.py OUT.pcap MAD.hex [MAD.hex ...]

Each input is a text file of hex bytes (whitespace ignored), 256 bytes: one
MAD starting at its BaseVersion byte. Each MAD becomes one pcap record of
link type 197 (LINKTYPE_ERF). The ERF record is of type 21 (InfiniBand) and
carries a whole local (no GRH) UD packet addressed to QP1 (GSI):

  ERF header (16) | LRH (8) | BTH (12) | DETH (8) | MAD (256) | ICRC (4) | VCRC (2)

The LRH, BTH and DETH are synthetic (ibsim carries bare MADs); they exist so
that the dissector reaches the MAD: LRH VL 0, SL 0, LNH 0x2 (IBA local: BTH
follows), PktLen 72 words (LRH through ICRC), DLID/SLID from --dlid/--slid
(default 1); BTH opcode 0x64 (UD SEND Only), P_Key 0xffff, DestQP 1, PSN 0;
DETH Q_Key 0x80010000, SrcQP 1. ICRC (CRC-32 over the packet with the variant
fields set to ones) and VCRC (CRC-16, polynomial 0x100B) are filled in after
the IBA description; tshark displays but does not check them, and nothing
should rely on them. Standard library only.
"""
import argparse
import struct
import sys
import zlib

LINKTYPE_ERF = 197
ERF_TYPE_INFINIBAND = 21
ERF_FLAG_VLEN = 0x04        # variable-length record
MAD_LEN = 256


def read_mad(path):
    with open(path) as f:
        data = bytes.fromhex("".join(f.read().split()))
    if len(data) != MAD_LEN:
        sys.exit(f"{path}: {len(data)} bytes, expected {MAD_LEN}")
    return data


def crc16_vcrc(data):
    """IBA VCRC: CRC-16, polynomial 0x100B, initial value 0xFFFF,
    reflected (LSB first like the link sends it), final inversion."""
    crc = 0xFFFF
    poly = 0xD008          # 0x100B bit-reversed
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def ib_packet(mad, dlid, slid, sl=0):
    # LRH: VL(4) LVer(4) | SL(4) rsv(2) LNH(2) | DLID(16) | rsv(5) PktLen(11) | SLID(16)
    lnh = 0x2                                  # IBA local: BTH follows the LRH
    pktlen_words = (8 + 12 + 8 + len(mad) + 4) // 4   # LRH .. ICRC, in 4-byte words
    vl = 0
    lrh = struct.pack(">BBHHH", (vl << 4) | 0x0, (sl << 4) | lnh, dlid,
                      pktlen_words & 0x7FF, slid)
    # BTH: OpCode | SE M PadCnt(2) TVer(4) | P_Key | rsv8 | DestQP(24) | A rsv7 | PSN(24)
    opcode = 0x64                              # UD SEND Only
    bth = struct.pack(">BBHB3sB3s", opcode, 0x00, 0xFFFF, 0,
                      (1).to_bytes(3, "big"), 0, (0).to_bytes(3, "big"))
    # DETH: Q_Key | rsv8 | SrcQP(24)
    deth = struct.pack(">IB3s", 0x80010000, 0, (1).to_bytes(3, "big"))
    # ICRC: CRC-32 over the packet with the variant fields set to all ones
    # (LRH VL nibble, BTH reserved byte 4), little-endian on the wire.
    inv = bytearray(lrh + bth + deth + mad)
    inv[0] |= 0xF0
    inv[8 + 4] = 0xFF
    icrc = struct.pack("<I", zlib.crc32(bytes(inv)) & 0xFFFFFFFF)
    pkt = lrh + bth + deth + mad + icrc
    vcrc = struct.pack("<H", crc16_vcrc(pkt))
    return pkt + vcrc


def erf_record(payload, ts_seconds):
    # ERF timestamp: 64-bit little-endian fixed point, seconds in the high 32 bits
    ts = (ts_seconds << 32)
    rlen = 16 + len(payload)
    hdr = struct.pack("<Q", ts) + struct.pack(">BBHHH", ERF_TYPE_INFINIBAND,
                                               ERF_FLAG_VLEN, rlen, 0,
                                               len(payload))
    return hdr + payload


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("mads", nargs="+")
    ap.add_argument("--dlid", type=lambda s: int(s, 0), default=1)
    ap.add_argument("--slid", type=lambda s: int(s, 0), default=1)
    a = ap.parse_args()
    # pcap global header: magic, v2.4, thiszone, sigfigs, snaplen, linktype
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ERF)]
    for i, path in enumerate(a.mads):
        rec = erf_record(ib_packet(read_mad(path), a.dlid, a.slid), 1700000000 + i)
        # pcap record header: ts_sec, ts_usec, incl_len, orig_len
        out.append(struct.pack("<IIII", 1700000000 + i, 0, len(rec), len(rec)) + rec)
    with open(a.out, "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
