"""tools/freeze_decl.py: the firmware freezes the declaration blocks as constant literals
(issue 11), and flight code reading records by position gives what the ground reads by
attribute."""

import math
import sys
from types import SimpleNamespace

import pytest

from flight import cmddict, components, eventdecl, params, telemetry
from tools import freeze_decl as fd


def _same(a, b):
    return fd._same(a, b)


def test_literal_round_trips_types_exactly():
    rec = telemetry.HkField("x", "i16", "V", 0.1, warn=(-1.0, 1.0), enum=None)
    for v in ((1, 1.0, -0.0, 0.0, True, None, "µrad", -5, 0xFFFFFFFF, -0x80000000),
              (rec,), ((), ("a",)), ({},), ([1, (2,)],)):
        assert _same(eval(fd.literal(v), {}), fd._plain(v)), v


def test_a_float_the_freezer_would_round_is_built_from_its_bits():
    v = 1.0652644360316952  # needs 17 digits; the freezer writes %.16g
    assert float("%.16g" % v) != v
    text = fd.literal(v)
    assert "struct" in text and eval(text, {}) == v
    assert fd.literal(0.1) == "0.1" and fd.literal(2.0) == "2.0"
    with pytest.raises(fd.NotLiteral):
        fd.literal(math.inf)
    with pytest.raises(fd.NotLiteral):
        fd.literal(object())


SOURCE = '''from flight.telemetry import HkField as F
X = 3
HK = (  # a comment
    F("a", "u8", description="first"),
    F("b", "f32", "V", 0.5,
      warn=(0.0, 1.0)),
)
OTHER = (1, 2)
def hk(self, values, i):
    return HK
'''


def test_transform_writes_the_block_as_a_literal_keeping_the_line_count():
    mod = SimpleNamespace(__name__="m", X=3, OTHER=(1, 2), HK=(
        telemetry.HkField("a", "u8", description="first"),
        telemetry.HkField("b", "f32", "V", 0.5, warn=(0.0, 1.0))))
    out, names = fd.transform(SOURCE, mod)
    assert names == ["HK"]
    assert len(out.splitlines()) == len(SOURCE.splitlines())
    lines = out.splitlines()
    assert lines[2].startswith("HK = ((") and lines[3:7] == ["", "", "", ""]
    assert lines[7] == "OTHER = (1, 2)" and lines[0] == SOURCE.splitlines()[0]
    ns = {}
    exec(compile(out, "m", "exec"), ns)
    assert ns["HK"] == tuple(tuple(f) for f in mod.HK)
    assert type(ns["HK"][0]) is tuple


def test_a_block_sharing_its_line_with_other_code_is_refused():
    mod = SimpleNamespace(__name__="m", HK=(telemetry.HkField("a", "u8"),))
    with pytest.raises(fd.NotLiteral, match="not alone"):
        fd.transform('from flight.telemetry import HkField\nHK = (HkField("a", "u8"),); '
                     'Y = 1\n', mod)


def test_staged_sources_hold_every_declaration_as_a_literal(tmp_path):
    report = fd.stage(tmp_path)
    for name, mod in components.modules():
        path = dict(components.COMPONENTS)[name]
        for attr in ("HK", "HK_DIAG", "ADCS", "PARAMS", "EVENTS"):
            v = getattr(mod, attr, None)
            if isinstance(v, tuple):
                # staged where it is assigned: the component's module, or the one it
                # re-exports it from (flight.scheduler's are flight.scheduler_telemetry's)
                homes = [m for m, attrs in report.items() if attr in attrs
                         and getattr(sys.modules.get(m), attr, None) is v]
                assert homes, (path, attr)
    assert report["flight.cmddict"] == ["COMMANDS"]
    for f in (fd.ROOT / "flight").glob("*.py"):
        staged = (tmp_path / "flight" / f.name).read_text()
        assert len(staged.splitlines()) == len(f.read_text().splitlines()), f.name
        compile(staged, f.name, "exec")
    assert (tmp_path / "board" / "manifest.py").exists()
    assert (tmp_path / "tests" / "manifest.py").exists()
    # a file gone from the repository goes from the stage too
    (tmp_path / "flight" / "gone.py").write_text("x = 1\n")
    fd.stage(tmp_path)
    assert not (tmp_path / "flight" / "gone.py").exists()


def test_readers_by_position_give_the_export_of_the_namedtuples():
    """Records are plain tuples in the firmware: every reader gives the same."""
    for c in cmddict.COMMANDS:
        assert cmddict.command_map(fd._plain(c)) == cmddict.command_map(c)
    for _owner, decl in components.declared("PARAMS"):
        for d in decl:
            assert params.param_map(fd._plain(d)) == params.param_map(d)
            assert params.view(fd._plain(d)) == d
    for owner, decl in components.declared("EVENTS"):
        for e in decl:
            assert eventdecl.event_map(fd._plain(e), owner) == eventdecl.event_map(e, owner)
    for attr in ("HK", "HK_DIAG", "ADCS"):
        for owner, decl in components.declared(attr):
            plain = [fd._plain(f) for f in decl]
            assert telemetry.layout([(owner, plain)]) == telemetry.layout([(owner, decl)])
            assert telemetry.fmt(plain) == telemetry.fmt(decl)
