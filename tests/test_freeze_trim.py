"""tools/freeze_trim.py: the staged flight modules bind fewer globals (issue 11) and still
mean the same: the vocabulary only the frozen declaration blocks used is dropped, public
constants nobody else reads become private; names read elsewhere stay."""

from tools import freeze_trim as ft


class _Refs(ft.Refs):
    """References given by hand: ``pairs`` imported/read elsewhere, ``texts`` of the
    other files."""

    def __init__(self, pairs=(), texts=None, root="/nonexistent"):
        self.root = root
        self.pairs = set(pairs)
        self.texts = dict(texts or {})
        self.unparsed = []


SOURCE = '''"""Doc: W_A is a window index."""
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.telemetry import HkField
from hal.compat import const

F = HkField
W_A = const(3)
W_B = const(4)
W_SHARED = const(5)
EV_X = const(0x80)
EVENTS = ((128, 'X', 1, 'x', ()),)
HK = (('a', 'u8', '', '', None),)


def f(v):
    return v[W_A] + v[W_B] + v[W_SHARED] + SEV_INFO


def g(x):
    return x.W_B
'''


def _run(src, refs, module="flight.m", rel="flight/m.py"):
    out, cut = ft.trim(src, module, rel, refs)
    assert len(out.splitlines()) == len(src.splitlines())
    compile(out, rel, "exec")
    return out, cut


def test_unread_names_dropped_and_the_imports_kept_in_order():
    out, cut = _run(SOURCE, _Refs(texts={"tests/t.py": "W_SHARED EV_X", "flight/components.py": "EVENTS HK"}))
    assert cut["unread"] == ["Event", "F", "HkField", "SEV_WARN", "const"]
    lines = out.splitlines()
    assert lines[1] == "from flight.events import SEV_INFO"  # read by f()
    assert lines[2] == "__import__('flight.telemetry')"  # still imported, binds nothing
    assert lines[3] == "__import__('hal.compat')"  # every const() folded by the compiler
    assert lines[5] == ""  # F = HkField


def test_const_dropped_where_every_use_is_folded_and_other_names_by_mention():
    src = ("from hal.compat import const\nfrom hal.interfaces import A, B, C\n"
           "X = const(1)\nY = A\n\n\ndef f():\n    return X + C\n")
    out, cut = _run(src, _Refs(texts={"tests/t.py": "B"}))
    assert cut["unread"] == ["A", "Y", "const"]  # B: mentioned in another file
    assert out.splitlines()[:4] == ["__import__('hal.compat')",
                                    "from hal.interfaces import B, C", "_X = const(1)", ""]
    src2 = src.replace("return X + C", "return const(2) + C")  # a call not folded
    assert "const" not in _run(src2, _Refs(texts={"tests/t.py": "B"}))[1]["unread"]


def test_public_constants_read_nowhere_else_become_private():
    out, cut = _run(SOURCE, _Refs(texts={"tests/t.py": "W_SHARED EV_X", "flight/components.py": "EVENTS HK"}))
    # W_B is also an attribute name in g(): left alone; W_SHARED, EV_X read elsewhere
    assert cut["private"] == ["W_A"]
    assert "_W_A = const(3)" in out and "v[_W_A]" in out
    assert "W_B = const(4)" in out and "x.W_B" in out
    assert "W_SHARED = const(5)" in out and "EV_X = const(0x80)" in out
    assert out.splitlines()[0] == '"""Doc: W_A is a window index."""'  # docstring as is
    ns = {"const": lambda v: v}
    exec(compile(out.replace("from hal.compat import const\n", "\n"), "m", "exec"), ns)
    assert ns["f"]([0, 0, 0, 10, 20, 30]) == 60 and "W_A" not in ns and ns["_W_A"] == 3


def test_names_imported_from_the_module_elsewhere_stay():
    refs = _Refs(pairs={("flight.m", "Event"), ("flight.m", "F")},
                 texts={"tests/t.py": "W_A W_SHARED EV_X", "flight/components.py": "EVENTS HK"})
    out, cut = _run(SOURCE, refs)
    assert "Event" not in cut["unread"] and "F" not in cut["unread"]
    assert "F = HkField" in out and "from flight.telemetry import HkField" in out
    assert cut["private"] == []


def test_a_constant_used_above_its_definition_stays_public():
    src = "from hal.compat import const\n\n\ndef f():\n    return LATE\n\n\nLATE = const(1)\n"
    out, cut = _run(src, _Refs())
    assert cut["private"] == [] and out.splitlines()[1:] == src.splitlines()[1:]


def test_a_constant_named_in_a_code_string_stays_public():
    src = ("from hal.compat import const\nK = const(1)\n\n\ndef f(o):\n"
           "    return getattr(o, 'K', K)\n")
    assert _run(src, _Refs())[1]["private"] == []


def test_refs_read_imports_and_module_attributes(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(
        "from flight.a import X\nfrom flight import b as B\nimport flight.c as C\n"
        "import flight\nB.Y\nC.Z\nflight.d.W\n")
    refs = ft.Refs(tmp_path)
    for pair in (("flight.a", "X"), ("flight.b", "Y"), ("flight.c", "Z"), ("flight.d", "W")):
        assert refs.read_elsewhere(*pair), pair
    assert not refs.read_elsewhere("flight.a", "Y")
    assert refs.mentioned_elsewhere("flight/a.py", "Z")
    assert not refs.mentioned_elsewhere("tests/t.py", "Z")


def test_literal_tables_read_nowhere_else_are_folded_into_the_code():
    src = ('"""Doc."""\n_NAMES = ("a", "b")\nPUBLIC = (1, -2, b"x")\nSHARED = ("s",)\n'
           'LIST = [1]\nF = -0.5\nBIG = 0xFFFFFFFFFFFFFFFF\n\n\ndef f(i):\n'
           '    return _NAMES[i] + str(PUBLIC[i]) + SHARED[0] + str(LIST) + str(F) + str(BIG)\n')
    out, cut = _run(src, _Refs(texts={"tests/t.py": "SHARED"}))
    assert cut["folded"] == ["BIG", "PUBLIC", "_NAMES"]
    assert cut["private"] == ["BIG", "PUBLIC"]
    lines = out.splitlines()
    assert lines[1:4] == ['_NAMES = const(("a", "b"))', '_PUBLIC = const((1, -2, b"x"))',
                          'SHARED = ("s",)']  # SHARED: read in another file
    assert lines[4:7] == ["LIST = [1]", "F = -0.5", "_BIG = const(0xFFFFFFFFFFFFFFFF)"]
    ns = {"const": lambda v: v}
    exec(compile(out, "m", "exec"), ns)
    assert ns["f"](1) == "b-2s[1]-0.5" + str(0xFFFFFFFFFFFFFFFF)


def test_a_literal_used_above_its_definition_or_rebound_is_left_alone():
    src = ("def f():\n    return _EARLY\n\n\n_EARLY = (1, 2)\n_TWICE = 'a'\n_TWICE = 'b'\n"
           "_NONASCII = ('µrad',)  # ok\n\n\ndef g():\n    return _TWICE + _NONASCII[0]\n")
    out, cut = _run(src, _Refs())
    assert cut["folded"] == ["_NONASCII"]
    assert "_NONASCII = const(('µrad',))  # ok" in out


def test_imported_integer_constants_become_private_constants_of_the_importer(tmp_path):
    (tmp_path / "hal").mkdir()
    (tmp_path / "hal" / "hw.py").write_text(
        "from hal.compat import const\nA = const(3)\nB = (1 << 20) - 3\nC = A + 1\n"
        "D = 5\nD = 6\nE = 7\n")
    (tmp_path / "flight").mkdir()
    (tmp_path / "flight" / "mid.py").write_text("from hal.hw import A  # re-export\n")
    assert [ft.int_constant(tmp_path, "hal.hw", n) for n in "ABCDE"] == [
        3, (1 << 20) - 3, None, None, 7]  # C: computed from a name; D: bound twice
    assert ft.int_constant(tmp_path, "flight.mid", "A") == 3
    src = ("from flight.mid import A\nfrom hal.hw import B, C, D, E\n\n\n"
           "def f(x):\n    return x & B + A + C + D + E\n")
    refs = _Refs(texts={"tools/s.py": "m.E = 1"}, root=tmp_path)
    out, cut = _run(src, refs)
    assert cut["inlined"] == ["A", "B"]  # E: assigned elsewhere (patched)
    lines = out.splitlines()
    assert lines[0] == "__import__('flight.mid'); _A = const(3)"
    assert lines[1] == "from hal.hw import C, D, E; _B = const(1048573)"
    assert lines[5] == "    return x & _B + _A + C + D + E"
    # read from this module by another file: a re-export, kept
    out, cut = _run(src, _Refs(pairs={("flight.m", "B")}, root=tmp_path))
    assert cut["inlined"] == ["A", "E"]
