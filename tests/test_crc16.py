"""flight/crc16.py's and flight/telemetry.py's tables: literals (constants in flash on
the firmware, no heap at import: issue 11), equal to what they were computed from."""

import ast
from pathlib import Path

from flight import crc16

ROOT = Path(__file__).resolve().parent.parent


def _table():
    hi, lo = bytearray(256), bytearray(256)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ crc16.POLY) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
        hi[i], lo[i] = c >> 8, c & 0xFF
    return bytes(hi), bytes(lo)


def test_the_tables_are_the_polynomials():
    assert (crc16._T_HI, crc16._T_LO) == _table()
    assert crc16.crc16(b"123456789") == crc16.CHECK


def test_the_tables_are_literals_not_built_at_import():
    tree = ast.parse((ROOT / "flight" / "crc16.py").read_text())
    assigned = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    assigned[t.id] = node.value
    for name in ("_T_HI", "_T_LO"):
        v = assigned[name]
        assert isinstance(v, ast.Constant) and isinstance(v.value, bytes), name
        assert len(v.value) == 256


def test_the_packers_type_tables_are_literals_equal_to_types():
    # flight/telemetry.py's per-type tables, written out (no heap at import on the
    # firmware): each the value the TYPES declaration gives
    from flight import telemetry as T

    kinds = tuple(sorted(T.TYPES))
    assert T._KINDS == kinds
    assert T._K_CODE == tuple(">" + T.TYPES[t][0] for t in kinds)
    assert T.BE_CODES == {t: ">" + T.TYPES[t][0] for t in T.TYPES}
    assert T._K_SIZE == bytes(T.TYPES[t][1] for t in kinds)
    assert T._K_FLOAT == bytes(1 if T.TYPES[t][2] is None else 0 for t in kinds)
    assert T._K_LO == tuple(T.TYPES[t][2] or 0 for t in kinds)
    assert T._K_HI == tuple(T.TYPES[t][3] or 0 for t in kinds)
