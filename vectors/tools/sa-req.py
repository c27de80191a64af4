#!/usr/bin/env python3
"""Build one SA request MAD (256 bytes) as hex text, for sa-query.

usage: sa-req.py METHOD ATTRIBUTE [field=value ...] [--comp-mask N] [--tid N]

  METHOD     get | set | gettable | delete | a number (0x01 ...)
  ATTRIBUTE  classportinfo | noderecord | portinforecord | pathrecord |
             mcmemberrecord | servicerecord | a number (0x0035 ...)
  field=value  sets a record field and, unless --comp-mask is given, the
             field's ComponentMask bit. Fields: see FIELDS below. GIDs are
             written in IPv6 notation, names as text, everything else as an
             integer (0x.. allowed).
  --comp-mask N  use exactly this ComponentMask
  --tid N    TransactionID (default: random 32 bits; sa-query and ibsim may
             rewrite the upper 32 bits)

Field layouts follow IBA 1.3 Vol 1 chapter 15 (and ib_types.h). Test
infrastructure only; standard library only.
"""
import argparse
import ipaddress
import os
import struct
import sys

SA_HDR = 56           # MAD common (24) + RMPP (12) + SA header (20)

METHODS = {"get": 0x01, "set": 0x02, "gettable": 0x12, "delete": 0x15}
ATTRS = {"classportinfo": 0x0001, "noderecord": 0x0011,
         "portinforecord": 0x0012, "servicerecord": 0x0031,
         "pathrecord": 0x0035, "mcmemberrecord": 0x0038}

# name: (record offset, container bytes, shift, width bits or kind, comp-mask bits)
FIELDS = {
    0x0011: {"lid": (0, 2, 0, 16, [0])},
    0x0012: {"endportlid": (0, 2, 0, 16, [0]), "portnum": (2, 1, 0, 8, [1])},
    0x0035: {
        "service_id": (0, 8, 0, 64, [0, 1]),
        "dgid": (8, 16, 0, "gid", [2]),
        "sgid": (24, 16, 0, "gid", [3]),
        "dlid": (40, 2, 0, 16, [4]),
        "slid": (42, 2, 0, 16, [5]),
        "raw_traffic": (44, 4, 31, 1, [6]),
        "flow_label": (44, 4, 8, 20, [8]),
        "hop_limit": (44, 4, 0, 8, [9]),
        "tclass": (48, 1, 0, 8, [10]),
        "reversible": (49, 1, 7, 1, [11]),
        "numb_path": (49, 1, 0, 7, [12]),
        "pkey": (50, 2, 0, 16, [13]),
        "qos_class": (52, 2, 4, 12, [14]),
        "sl": (52, 2, 0, 4, [15]),
        "mtu_selector": (54, 1, 6, 2, [16]),
        "mtu": (54, 1, 0, 6, [17]),
        "rate_selector": (55, 1, 6, 2, [18]),
        "rate": (55, 1, 0, 6, [19]),
        "pkt_life_selector": (56, 1, 6, 2, [20]),
        "pkt_life": (56, 1, 0, 6, [21]),
        "preference": (57, 1, 0, 8, [22]),
        # only one of the two ServiceID halves in the mask (an invalid request)
        "service_id_msb_only": (0, 8, 0, 64, [0]),
    },
    0x0038: {
        "mgid": (0, 16, 0, "gid", [0]),
        "port_gid": (16, 16, 0, "gid", [1]),
        "qkey": (32, 4, 0, 32, [2]),
        "mlid": (36, 2, 0, 16, [3]),
        "mtu_selector": (38, 1, 6, 2, [4]),
        "mtu": (38, 1, 0, 6, [5]),
        "tclass": (39, 1, 0, 8, [6]),
        "pkey": (40, 2, 0, 16, [7]),
        "rate_selector": (42, 1, 6, 2, [8]),
        "rate": (42, 1, 0, 6, [9]),
        "pkt_life_selector": (43, 1, 6, 2, [10]),
        "pkt_life": (43, 1, 0, 6, [11]),
        "sl": (44, 4, 28, 4, [12]),
        "flow_label": (44, 4, 8, 20, [13]),
        "hop_limit": (44, 4, 0, 8, [14]),
        "scope": (48, 1, 4, 4, [15]),
        "join_state": (48, 1, 0, 4, [16]),
        "proxy_join": (49, 1, 7, 1, [17]),
    },
    0x0031: {
        "service_id": (0, 8, 0, 64, [0]),
        "service_gid": (8, 16, 0, "gid", [1]),
        "service_pkey": (24, 2, 0, 16, [2]),
        "service_lease": (28, 4, 0, 32, [4]),
        "service_key": (32, 16, 0, "bytes", [5]),
        "service_name": (48, 64, 0, "text", [6]),
    },
}


def num(s):
    return int(s, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method")
    ap.add_argument("attribute")
    ap.add_argument("fields", nargs="*")
    ap.add_argument("--comp-mask", type=num)
    ap.add_argument("--tid", type=num)
    a = ap.parse_args()

    method = METHODS.get(a.method.lower()) or num(a.method)
    attr = ATTRS.get(a.attribute.lower()) or num(a.attribute)
    tid = a.tid if a.tid is not None else int.from_bytes(os.urandom(4), "big") | 1

    mad = bytearray(256)
    # MAD common header: BaseVersion, MgmtClass, ClassVersion, Method,
    # Status, ClassSpecific, TransactionID, AttributeID, Reserved, AttributeModifier
    struct.pack_into(">BBBBHHQHHI", mad, 0, 1, 0x03, 2, method, 0, 0, tid, attr, 0, 0)
    # RMPP header (bytes 24..35) all zero: not an RMPP transfer
    # SA header: SM_Key (36..43) 0, AttributeOffset (44..45), Reserved, ComponentMask
    comp = 0
    layout = FIELDS.get(attr, {})
    for fv in a.fields:
        name, _, value = fv.partition("=")
        if name not in layout:
            sys.exit(f"unknown field {name!r} for attribute 0x{attr:04x}; known: {', '.join(layout)}")
        off, size, shift, width, bits = layout[name]
        o = SA_HDR + off
        if width == "gid":
            mad[o:o + 16] = ipaddress.IPv6Address(value).packed
        elif width == "bytes":
            b = bytes.fromhex(value.replace(":", ""))
            mad[o:o + size] = b.ljust(size, b"\0")[:size]
        elif width == "text":
            b = value.encode()
            mad[o:o + size] = b.ljust(size, b"\0")[:size]
        else:
            v = num(value)
            if v >> width:
                sys.exit(f"{name}={value} does not fit in {width} bits")
            word = int.from_bytes(mad[o:o + size], "big")
            mask = ((1 << width) - 1) << shift
            word = (word & ~mask) | (v << shift)
            mad[o:o + size] = word.to_bytes(size, "big")
        for b in bits:
            comp |= 1 << b
    if a.comp_mask is not None:
        comp = a.comp_mask
    struct.pack_into(">Q", mad, 48, comp)
    for i in range(0, 256, 16):
        print(" ".join(f"{x:02x}" for x in mad[i:i + 16]))


if __name__ == "__main__":
    main()
