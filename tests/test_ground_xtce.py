"""`vector-tc dict --xtce`: XTCE 1.2 from the exported dictionary (yamcs-pymdb), read back
by an independent XTCE reader (tests/xtce_reader.py) that follows the container
definitions over the raw octets of a packet, field for field against the dictionary."""

import json
import math
import os
import select
import struct
import time

import pytest
from cobs import cobs

from ground_tools import wire, xtce
from ground_tools.__main__ import main
from tests import xtce_reader
from flight.cmddict import MODES
from flight.tm import APID_HK

_FMT = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i", "f32": "f"}


def _field(name, typ, offset, unit="", scale=1, off=0, warn=None, alarm=None, enum=None):
    return {"name": name, "owner": "core", "type": typ, "unit": unit, "scale": scale,
            "offset": off, "warn": warn, "alarm": alarm, "enum": enum,
            "description": name + " of the test", "offset_bytes": offset}


# A small dictionary literal of the contract shape (`vector-tc dict`, version 2).
FIELDS = [
    _field("mode", "u8", 0, enum=list(MODES)),
    _field("temp_c", "i16", 1, "degC", 0.01, 0, [-10, 40], [-20, 60]),
    _field("uptime", "u32", 3, "s"),
    _field("bias_v", "f32", 7, "V", alarm=[0, 60]),
    _field("err", "i8", 11, "", 2, -1),
    _field("apt.res_x_urad", "i32", 12, "urad", 0.5, 0),
    _field("frames", "u16", 16),
]
DICT = {
    "format": "vector-dictionary", "version": 2,
    "apids": {"tc": 160, "hk": 161, "event": 162, "verify": 163, "adcs": 164, "hk_diag": 165},
    "commands": [
        {"opcode": 1, "name": "PING", "owner": "core", "handler": "cmd_ping",
         "description": "Liveness check", "modes": ["SAFE", "STANDBY"], "hazardous": False,
         "args": []},
        {"opcode": 3, "name": "SET_MODE", "owner": "modes", "handler": "cmd_set_mode",
         "description": "Change mode", "modes": ["SAFE"], "hazardous": False,
         "args": [{"name": "mode", "type": "str", "unit": "", "min": 1, "max": 8,
                   "required": True, "choices": list(MODES),
                   "description": "target mode"}]},
        {"opcode": 0x52, "name": "APT_SET_GAINS", "owner": "apt", "handler": "cmd_set_gains",
         "description": "Gains", "modes": ["SAFE"], "hazardous": False,
         "args": [{"name": "kp", "type": "float", "unit": "1", "min": 0.0, "max": 2.0,
                   "required": True, "description": "p gain"},
                  {"name": "n", "type": "int", "unit": "", "min": 1, "max": 256,
                   "required": False, "default": 32, "description": "count"}]},
        {"opcode": 0x30, "name": "REBOOT", "owner": "core", "handler": "cmd_reboot",
         "description": "Restart", "modes": ["SAFE"], "hazardous": True, "args": []},
    ],
    "telemetry": {
        "hk": {"apid": 161, "encoding": "packed-be", "fields": FIELDS, "size": 18},
        "hk_diag": {"apid": 165, "encoding": "packed-be", "size": 2,
                    "fields": [_field("diag", "u16", 0, "count")]},
        "event": {"apid": 162, "encoding": "cbor-map", "keys": ["id", "name"]},
        "verify": {"apid": 163, "encoding": "cbor-map", "keys": ["stage", "ok"]},
        "adcs": {"apid": 164, "encoding": "cbor-map", "fields": []},
    },
}


def pack_hk(fields, raws, apid=161, seq=7):
    body = b"".join(struct.pack(">" + _FMT[f["type"]], r) for f, r in zip(fields, raws,
                                                                          strict=True))
    n = 6 + len(body) + 2
    hdr = struct.pack(">HHH", (0 << 13) | (0 << 12) | apid, (3 << 14) | seq, n - 7)
    pkt = hdr + body
    return pkt + struct.pack(">H", wire.crc16(pkt))


def physical(f, raw):
    if f["enum"]:
        return f["enum"][raw]
    return raw * f["scale"] + f["offset"]


def test_literal_dictionary_packet_decodes_field_for_field():
    root = xtce_reader.load(xtce.dumps(DICT))
    raws = [2, -1234, 4000000000, 3.5, -7, -200001, 65535]
    pkt = pack_hk(FIELDS, raws)
    got = xtce_reader.decode(root, "hk", pkt)
    assert got["ccsds_packet_id/apid"] == 161 and got["ccsds_packet_sequence/source_sequence_count"] == 7
    assert got["_bits"] == len(pkt) * 8  # the container covers the packet exactly
    for f, r in zip(FIELDS, raws, strict=True):
        want = physical(f, r)
        v = got[xtce._name(f["name"])]
        if isinstance(want, str):
            assert v == want
        else:
            assert math.isclose(v, want, rel_tol=1e-9, abs_tol=1e-9), (f["name"], v, want)
    assert got["packet_crc"] == struct.unpack(">H", pkt[-2:])[0]
    hk = root.children["hk"]
    assert xtce_reader.units(hk, "temp_c") == "degC" and xtce_reader.units(hk, "bias_v") == "V"
    # the wrong APID does not match the container's restriction
    with pytest.raises(AssertionError):
        xtce_reader.decode(root, "hk", pack_hk(FIELDS, raws, apid=165))
    diag = xtce_reader.decode(root, "hk_diag", pack_hk(DICT["telemetry"]["hk_diag"]["fields"],
                                                       [513], apid=165))
    assert diag["diag"] == 513


def test_limits_commands_and_enumerations_are_in_the_xtce():
    import xml.etree.ElementTree as ET

    text = xtce.dumps(DICT)
    root = ET.fromstring(text)
    ns = xtce_reader.NS
    temp = next(t for t in root.iter() if t.get("name") == "temp_c" and t.tag.endswith("Type"))
    warn = temp.find(".//%sWarningRange" % ns)
    crit = temp.find(".//%sCriticalRange" % ns)
    assert (float(warn.get("minInclusive")), float(warn.get("maxInclusive"))) == (-10, 40)
    assert (float(crit.get("minInclusive")), float(crit.get("maxInclusive"))) == (-20, 60)
    cmds = {c.get("name"): c for c in root.iter(ns + "MetaCommand")}
    assert {"PING", "SET_MODE", "APT_SET_GAINS", "REBOOT"} <= set(cmds)
    kp = next(t for t in root.iter() if t.get("name") == "APT_SET_GAINS__kp")
    rng = kp.find(".//%sValidRange" % ns)
    assert (float(rng.get("minInclusive")), float(rng.get("maxInclusive"))) == (0.0, 2.0)
    labels = [e.get("label") for e in root.iter(ns + "Enumeration")
              if e.get("label") in MODES]
    assert labels.count("SESSION") >= 2  # the mode field and the SET_MODE argument
    assert cmds["REBOOT"].find(".//%sDefaultSignificance" % ns) is not None
    assert 'version="1.2"' in text or "20180204" in text


def test_dict_xtce_cli_on_the_real_export(tmp_path, capsys):
    out = tmp_path / "vector.xml"
    rc = main(["dict", "--xtce", str(out)])
    _, err = capsys.readouterr()
    assert rc == 0, err
    root = xtce_reader.load(str(out))
    from flight import cmddict

    import xml.etree.ElementTree as ET
    names = {c.get("name") for c in ET.parse(str(out)).getroot().iter(
        xtce_reader.NS + "MetaCommand")}
    assert {c.name for c in cmddict.COMMANDS} <= names
    assert root.find_container("ccsds_space_packet")


def _real_hk_packet(tmp_path):
    """Raw octets of one housekeeping packet of the simulated payload."""
    from tests.procutil import GUARD_S, SimPayload

    p = SimPayload(state_dir=tmp_path / "s", speed=5.0)
    buf = b""
    try:
        end = time.monotonic() + GUARD_S
        while time.monotonic() < end:
            r, _, _ = select.select([p.master], [], [], 0.2)
            if not r:
                continue
            buf += os.read(p.master, 65536)
            while b"\x00" in buf:
                frame, buf = buf.split(b"\x00", 1)
                if not frame:
                    continue
                pkt = cobs.decode(frame)
                if ((pkt[0] << 8) | pkt[1]) & 0x7FF == APID_HK:
                    return pkt
    finally:
        p.stop()
    raise AssertionError("no housekeeping packet within 60 s")


def test_real_hk_packet_xtce_decode_matches_the_dictionary_decode(tmp_path):
    from ground_tools.dictionary import build_dictionary
    from ground_tools.tmdecode import decode_tm

    d = json.loads(json.dumps(build_dictionary(), default=str))
    pkt = _real_hk_packet(tmp_path)
    ref = decode_tm(pkt, d)
    assert ref["ok"], ref
    got = xtce_reader.decode(xtce_reader.load(xtce.dumps(d)), "hk", pkt)
    assert got["_bits"] == len(pkt) * 8
    fields = ref.get("fields")
    n = 0
    for f in d["telemetry"]["hk"]["fields"]:
        want = fields[f["name"]]
        v = got[xtce._name(f["name"])]
        if isinstance(want, (int, float)) and not isinstance(want, bool):
            assert math.isclose(v, want, rel_tol=1e-6, abs_tol=1e-6), (f["name"], v, want)
        else:
            assert str(v) == str(want), (f["name"], v, want)
        n += 1
    assert n == len(d["telemetry"]["hk"]["fields"]) > 5
