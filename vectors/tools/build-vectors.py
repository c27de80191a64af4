#!/usr/bin/env python3
"""Turn a capture run into test vectors (called by scripts/capture-vectors).

usage: build-vectors.py --workdir DIR --outdir DIR --tools DIR

Reads, from the work directory of one capture run:
  ibsim.log      ibsim's output with `Verbose 3` on: every MAD it routed, as
                 "--- packet ---" followed by 16 lines of 8 groups of 4 hex digits
  manifest.tsv   one line per capture segment (written by the capture script):
                 id, phase, log offset before, log offset after, exit status,
                 roles, command, stdout file, stderr file, note
and writes into --outdir, for every role of every segment:
  <name>.hex             the 256-byte MAD, 16 bytes per line
  <name>.tshark.json     tshark's decode (infiniband layer of the one frame)
  <name>.saquery.txt     saquery's stdout, for roles marked !sq
  <name>.saquery-error.txt  saquery's stderr, when it reported an error
  index.tsv              one line per vector

A role is  NAME@MM[/AAAA][:TRAP][!sq][{field=value,...}]
  MM     the MAD's method in hex (12 GetTable, 92 GetTableResp, 06 Report ...)
  AAAA   the MAD's attribute ID in hex, where the segment holds other SA MADs
  TRAP   for InformInfo / Notice MADs: the trap number in the record
  !sq    saquery's output of this segment is the expected decode of this MAD
  {...}  tshark fields that must decode to these values (sanity checks that
         the capture is what its name says); a failed check fails the run
Each role takes the first not yet used SA MAD of its segment that matches.
Standard library only.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys

METHODS = {0x01: "Get", 0x81: "GetResp", 0x02: "Set", 0x06: "Report",
           0x86: "ReportResp", 0x12: "GetTable", 0x92: "GetTableResp",
           0x15: "Delete", 0x95: "DeleteResp"}
ATTRS = {0x0001: "ClassPortInfo", 0x0002: "Notice", 0x0003: "InformInfo",
         0x0011: "NodeRecord", 0x0012: "PortInfoRecord", 0x0031: "ServiceRecord",
         0x0035: "PathRecord", 0x0038: "MCMemberRecord", 0x00F3: "InformInfoRecord"}
SA_DATA = 56

DUMP_RE = re.compile(r"--- packet ---\n((?:[0-9a-f]{4}(?: [0-9a-f]{4}){7}\n){16})")
ROLE_RE = re.compile(r"^(?P<name>[a-z0-9_]+)@(?P<method>[0-9a-f]{2})(?:/(?P<attr>[0-9a-f]{4}))?(?::(?P<trap>\d+))?"
                     r"(?P<sq>!sq)?(?:\{(?P<checks>[^}]*)\})?$")


def fail(msg):
    sys.exit(f"build-vectors: {msg}")


def parse_log(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("latin-1")      # byte offsets == character offsets
    mads = []
    for m in DUMP_RE.finditer(text):
        data = bytes.fromhex(m.group(1).replace(" ", "").replace("\n", ""))
        if len(data) != 256:
            fail(f"dump at {m.start()} has {len(data)} bytes")
        mads.append({"offset": m.start(), "data": data, "used": False})
    return mads


def trap_of(mad):
    attr = int.from_bytes(mad[16:18], "big")
    if attr == 0x0003:                 # InformInfo: TrapNumber at record 26
        return int.from_bytes(mad[SA_DATA + 26:SA_DATA + 28], "big")
    if attr == 0x0002:                 # Notice: TrapNumber at record 4
        return int.from_bytes(mad[SA_DATA + 4:SA_DATA + 6], "big")
    return None


def hexlines(data):
    return "".join(" ".join(f"{b:02x}" for b in data[i:i + 16]) + "\n"
                   for i in range(0, len(data), 16))


def direction(method):
    if method == 0x06:
        return "report"
    return "response" if method & 0x80 else "request"


def walk_fields(obj, acc):
    """Collect every field value of a tshark JSON tree in document order."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)):
                if isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v):
                    acc.setdefault(k, []).extend(v)
                else:
                    walk_fields(v, acc)
            else:
                acc.setdefault(k, []).append(v)
    elif isinstance(obj, list):
        for x in obj:
            walk_fields(x, acc)
    return acc


def find_ws_keys(obj, found):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.startswith("_ws.malformed") or k.startswith("_ws.expert"):
                found.append(k)
            find_ws_keys(v, found)
    elif isinstance(obj, list):
        for x in obj:
            find_ws_keys(x, found)
    return found


def tshark_decode(tools, workdir, name, hexpath):
    pcap = os.path.join(workdir, "pcap", name + ".pcap")
    subprocess.run([sys.executable, os.path.join(tools, "mad2erf.py"), pcap, hexpath],
                   check=True)
    # --no-duplicate-keys: repeated field names become arrays instead of
    # duplicate JSON keys. No -j/-J filter: the whole frame is decoded so
    # that malformed/expert items anywhere are seen; the infiniband layer
    # (what -J infiniband would keep) is extracted below.
    p = subprocess.run(["tshark", "-r", pcap, "-T", "json", "--no-duplicate-keys"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"tshark failed on {pcap}: {p.stderr}")
    frames = json.loads(p.stdout)
    if len(frames) != 1:
        fail(f"{pcap}: {len(frames)} frames")
    layers = frames[0]["_source"]["layers"]
    bad = find_ws_keys(layers, [])
    if bad or "_ws.malformed" in layers:
        fail(f"{name}: tshark reports {bad or ['_ws.malformed']}")
    if "infiniband" not in layers:
        fail(f"{name}: no infiniband layer in tshark's decode")
    return layers["infiniband"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--tools", required=True)
    a = ap.parse_args()

    mads = parse_log(os.path.join(a.workdir, "ibsim.log"))
    sa_mads = [m for m in mads if m["data"][1] == 0x03]
    os.makedirs(os.path.join(a.workdir, "pcap"), exist_ok=True)
    os.makedirs(a.outdir, exist_ok=True)

    vectors = []
    names = set()
    with open(os.path.join(a.workdir, "manifest.tsv")) as f:
        for line in f:
            if not line.strip():
                continue
            (seg, phase, off0, off1, rc, roles, command, out_path, err_path,
             note) = line.rstrip("\n").split("\t")
            off0, off1, rc = int(off0), int(off1), int(rc)
            seg_mads = [m for m in sa_mads if off0 <= m["offset"] < off1]
            for role in roles.split():
                r = ROLE_RE.match(role)
                if not r:
                    fail(f"bad role {role!r} in segment {seg}")
                name = r["name"]
                if name in names:
                    fail(f"duplicate vector name {name}")
                names.add(name)
                method = int(r["method"], 16)
                trap = int(r["trap"]) if r["trap"] else None
                attr = int(r["attr"], 16) if r["attr"] else None
                pick = None
                for m in seg_mads:
                    if m["used"] or m["data"][3] != method:
                        continue
                    if attr is not None and int.from_bytes(m["data"][16:18], "big") != attr:
                        continue
                    if trap is not None and trap_of(m["data"]) != trap:
                        continue
                    pick = m
                    break
                if pick is None:
                    have = ", ".join(f"{m['data'][3]:02x}/{int.from_bytes(m['data'][16:18], 'big'):04x}"
                                     for m in seg_mads)
                    fail(f"segment {seg}: no SA MAD for role {role} (segment has: {have or 'none'})")
                pick["used"] = True
                checks = {}
                if r["checks"]:
                    for kv in r["checks"].split(","):
                        k, _, v = kv.partition("=")
                        checks[k] = v
                vectors.append({"name": name, "data": pick["data"], "seg": seg,
                                "phase": phase, "rc": rc, "command": command,
                                "sq": bool(r["sq"]), "out": out_path, "err": err_path,
                                "note": note, "checks": checks})
            for m in seg_mads:
                if not m["used"]:
                    d = m["data"]
                    print(f"build-vectors: note: segment {seg}: unclaimed SA MAD method "
                          f"0x{d[3]:02x} attr 0x{int.from_bytes(d[16:18], 'big'):04x}",
                          file=sys.stderr)

    # .hex files
    for v in vectors:
        v["hexpath"] = os.path.join(a.outdir, v["name"] + ".hex")
        with open(v["hexpath"], "w") as f:
            f.write(hexlines(v["data"]))

    # tshark decodes, two at a time (2 cores)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        futs = {v["name"]: ex.submit(tshark_decode, a.tools, a.workdir, v["name"], v["hexpath"])
                for v in vectors}
        for v in vectors:
            ib = futs[v["name"]].result()
            with open(os.path.join(a.outdir, v["name"] + ".tshark.json"), "w") as f:
                json.dump(ib, f, indent=2, sort_keys=True)
                f.write("\n")
            fields = walk_fields(ib, {})
            expect = {"infiniband.mad.mgmtclass": "0x03",
                      "infiniband.mad.method": f"0x{v['data'][3]:02x}"}
            expect.update(v["checks"])
            for k, want in expect.items():
                got = fields.get(k)
                if not got or str(got[0]).lower() != want.lower():
                    fail(f"{v['name']}: tshark {k} = {got[0] if got else None!r}, expected {want!r}")

    # saquery expectations
    for v in vectors:
        v["expected"] = ["tshark.json"]
        if not v["sq"]:
            continue
        with open(v["out"]) as f:
            out = f.read()
        with open(v["err"]) as f:
            err = "".join(l for l in f if not l.startswith("ibwarn"))
        if v["rc"] == 0:
            with open(os.path.join(a.outdir, v["name"] + ".saquery.txt"), "w") as f:
                f.write(out)
            v["expected"].append("saquery.txt")
        else:
            if out:
                fail(f"{v['name']}: saquery failed (rc {v['rc']}) but printed records")
            with open(os.path.join(a.outdir, v["name"] + ".saquery-error.txt"), "w") as f:
                f.write(err)
            v["expected"].append("saquery-error.txt")

    # index
    with open(os.path.join(a.outdir, "index.tsv"), "w") as f:
        f.write("# name\tdirection\tmethod\tattribute\tstatus\tphase\tcommand\texpected\tnotes\n")
        for v in vectors:
            d = v["data"]
            method = d[3]
            attr = int.from_bytes(d[16:18], "big")
            status = int.from_bytes(d[4:6], "big")
            f.write("\t".join([
                v["name"], direction(method),
                f"0x{method:02x} {METHODS.get(method, '?')}",
                f"0x{attr:04x} {ATTRS.get(attr, '?')}",
                f"0x{status:04x}", v["phase"], v["command"],
                ",".join(v["expected"]), v["note"]]) + "\n")
    print(f"build-vectors: {len(vectors)} vectors", file=sys.stderr)


if __name__ == "__main__":
    main()
