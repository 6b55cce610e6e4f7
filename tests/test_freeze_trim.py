"""tools/freeze_trim.py: the staged flight modules bind fewer globals (issue 11) and still
mean the same: the vocabulary only the frozen declaration blocks used is dropped, public
constants nobody else reads become private; names read elsewhere stay."""

from pathlib import Path

from tools import freeze_refs
from tools import freeze_trim as ft


def _Refs(pairs=(), texts=None, root="/nonexistent"):
    """References given by hand: ``pairs`` imported/read elsewhere, ``texts`` of the
    other files (board files, all of them)."""
    return ft.Refs(root, texts=dict(texts or {}), pairs=pairs)


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
    (tmp_path / "tests" / "mpy").mkdir(parents=True)
    (tmp_path / "tests" / "mpy" / "t.py").write_text(
        "from flight.a import X\nfrom flight import b as B\nimport flight.c as C\n"
        "import flight\nB.Y\nC.Z\nflight.d.W\n")
    refs = ft.Refs(tmp_path)
    for pair in (("flight.a", "X"), ("flight.b", "Y"), ("flight.c", "Z"), ("flight.d", "W")):
        assert refs.read_elsewhere(*pair), pair
    assert not refs.read_elsewhere("flight.a", "Y")
    assert refs.mentioned_elsewhere("flight/a.py", "Z")
    assert not refs.mentioned_elsewhere("tests/mpy/t.py", "Z")


def test_only_what_runs_on_the_board_reads_its_globals(tmp_path):
    """Without manifests (a bare tree): flight, hal, sim, board and tests/mpy run on the
    board, their comments and docstrings apart; of the host files (tests, tools, ...) only the strings
    count: a script they send to the image."""
    files = {
        "tests/test_host.py": '"""Doc: DOCNAME."""\nfrom flight.a import HOSTCODE\n'
                              'HOSTCODE.attr\nS = "from flight.a import SENT"\n',
        "tools/bench_x.py": 'SCRIPT = """\nimport flight.a as m\nprint(m.SCRIPTED)\n"""\n',
        "tests/mpy/test_m.py": "from flight.a import MPYTEST  # COMMENTED\n",
        "hal/h.py": ('"""HALDOC."""\nx = 1  # HALCOMMENT\ny = HALCODE\n\n\n'
                     'def f():\n    """FUNCDOC\n    more."""\n    return "HALSTRING"\n'),
        "tools/broken.py": "def (: UNPARSED\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    refs = ft.Refs(tmp_path)
    seen = {w for w in ("DOCNAME", "HOSTCODE", "SENT", "SCRIPTED", "MPYTEST", "COMMENTED",
                        "HALCOMMENT", "HALCODE", "HALDOC", "FUNCDOC", "HALSTRING", "UNPARSED")
            if refs.mentioned_elsewhere("flight/a.py", w)}
    assert seen == {"SENT", "SCRIPTED", "MPYTEST", "HALCODE", "HALSTRING", "UNPARSED"}
    assert len(refs.texts["hal/h.py"].splitlines()) == 9  # (blanked, the lines kept)
    assert refs.read_elsewhere("flight.a", "MPYTEST")  # tests/mpy code: an import
    assert refs.read_elsewhere("flight.a", "SENT")  # a sent string naming the module
    assert not refs.read_elsewhere("flight.a", "HOSTCODE")  # CPython code


def test_the_repository_s_board_files_are_the_manifests_and_tests_mpy():
    board = freeze_refs.board_files(Path(__file__).resolve().parents[1])
    assert {"flight/app.py", "hal/sim/world.py", "sim/rng.py", "board/main.py",
            "tests/mpy/kit.py", "tests/mpy/test_task_row_mpy.py"} <= board
    # host only: the CLI entry point, the pty link, sim's campaign runner, host tests
    assert not {"flight/__main__.py", "hal/sim/serial_link.py", "sim/campaign.py",
                "tests/test_freeze_trim.py", "tools/target_bench.py"} & board


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
        3, (1 << 20) - 3, 4, None, 7]  # C: of the module's constant A; D: bound twice
    assert ft.int_constant(tmp_path, "flight.mid", "A") == 3
    src = ("from flight.mid import A\nfrom hal.hw import B, C, D, E\n\n\n"
           "def f(x):\n    return x & B + A + C + D + E\n")
    refs = _Refs(texts={"tools/s.py": "m.E = 1"}, root=tmp_path)
    out, cut = _run(src, refs)
    assert cut["inlined"] == ["A", "B", "C"]  # E: assigned elsewhere (patched)
    lines = out.splitlines()
    assert lines[0] == "__import__('flight.mid'); _A = const(3)"
    assert lines[1] == "from hal.hw import D, E; _B = const(1048573); _C = const(4)"
    assert lines[5] == "    return x & _B + _A + _C + D + E"
    # read from this module by another file: a re-export, kept
    out, cut = _run(src, _Refs(pairs={("flight.m", "B")}, root=tmp_path))
    assert cut["inlined"] == ["A", "C", "E"]


def _tree(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return {rel: text for rel, text in files.items() if rel.startswith("flight/")}


def test_int_constant_evaluates_the_module_s_own_constants_only():
    import ast

    from tools import freeze_fold

    tree = ast.parse("const((1 << BITS) - OFF)").body[0].value
    known = {"BITS": 4, "OFF": 1}
    assert freeze_fold.int_value(tree, known.get) == 15
    for text in ("const(BITS * 1.5)", "len(X)", "m.BITS", "BITS if X else 2", "1 << 99",
                 "3 // 0", "True", "const(UNKNOWN + 1)", "'a'"):
        assert freeze_fold.int_value(ast.parse(text).body[0].value, known.get) is None, text


def test_cross_module_constants_are_folded_and_leave_their_home(tmp_path):
    files = _tree(tmp_path, {
        "flight/m.py": ("from hal.compat import const\nBITS = const(4)\n"
                        "MASK = const((1 << BITS) - 1)\nREAD = const(7)\nSHADOW = const(8)\n"
                        "FLOAT = const(BITS * 0.5)\nCALL = const(len('ab'))\nHOST = const(9)\n\n\n"
                        "def f(x):\n    return x & MASK + BITS\n"),
        "flight/user.py": ("import gc\nfrom flight.m import (MASK, READ, SHADOW,\n"
                           "    FLOAT, CALL, HOST)\n\n\ndef g(x, SHADOW=0):\n"
                           "    return (x & MASK) + READ + SHADOW + FLOAT + CALL + HOST\n"
                           "\n\nMASKED = [MASK]\n"),
        "tests/mpy/test_m.py": "from flight.m import READ\n",
        "tests/test_m.py": "from flight.m import HOST\n\n\ndef test():\n    assert HOST\n",
    })
    out, cuts = ft.trim_modules(files, ft.Refs(tmp_path), tmp_path)
    for rel in files:  # the same lines: tracebacks point at the repository's lines
        assert len(out[rel].splitlines()) == len(files[rel].splitlines()), rel
    user = out["flight/user.py"].splitlines()
    # MASK: (1 << BITS) - 1 evaluated; HOST read by CPython code only; READ is folded in
    # the importer though tests/mpy reads it from m; SHADOW is a parameter of g: left
    # alone; FLOAT, CALL: no integer certain from the text
    assert user[1] == ("from flight.m import SHADOW, FLOAT, CALL; _MASK = const(15); "
                       "_READ = const(7); _HOST = const(9)")
    assert user[2] == ""
    assert user[6] == "    return (x & _MASK) + _READ + SHADOW + FLOAT + CALL + _HOST"
    assert user[9] == "MASKED = [_MASK]"
    assert cuts["flight/user.py"]["inlined"] == ["HOST", "MASK", "READ"]
    m = out["flight/m.py"]
    # nothing on the board reads MASK, BITS, HOST from m any more; READ (tests/mpy) and
    # SHADOW (user's import) stay
    assert cuts["flight/m.py"]["private"] == ["BITS", "HOST", "MASK"]
    assert "_MASK = const((1 << _BITS) - 1)" in m and "return x & _MASK + _BITS" in m
    assert "\nREAD = const(7)" in m and "\nSHADOW = const(8)" in m
    assert "\nFLOAT = const(" in m and "\nCALL = const(" in m  # imported by user still
    ns = {"const": lambda v: v}
    exec(compile(m, "m", "exec"), ns)
    assert ns["f"](0xFF) == 0xFF & 15 + 4


def test_a_re_export_is_folded_once_its_readers_no_longer_read_it(tmp_path):
    """c reads K through a's re-export: c folds it (pass 1), then a (pass 2, beside the
    constant pass 1 wrote on the same line), then K leaves b (pass 3)."""
    files = _tree(tmp_path, {
        "flight/a.py": ("from flight.b import J, K  # re-export\n\n\n"
                        "def f():\n    return J + K\n"),
        "flight/b.py": "from hal.compat import const\nJ = const(1)\nK = const(2)\n",
        "flight/c.py": "from flight.a import K\nX = [K]\n",
    })
    refs = ft.Refs(tmp_path)
    once = ft.trim(files["flight/a.py"], "flight.a", "flight/a.py", refs, tmp_path)[0]
    assert once.splitlines()[0] == "from flight.b import K; _J = const(1)"  # K: read by c
    out, cuts = ft.trim_modules(files, ft.Refs(tmp_path), tmp_path)
    assert out["flight/c.py"].splitlines() == ["__import__('flight.a'); _K = const(2)", "X = [_K]"]
    assert out["flight/a.py"].splitlines()[0] == \
        "__import__('flight.b'); _J = const(1); _K = const(2)"
    assert out["flight/a.py"].splitlines()[4] == "    return _J + _K"
    assert out["flight/b.py"].splitlines()[1:] == ["_J = const(1)", "_K = const(2)"]
    assert cuts["flight/b.py"]["private"] == ["J", "K"]


def test_shadowed_attribute_keyword_and_f_string_uses_are_not_folded(tmp_path):
    _tree(tmp_path, {"hal/hw.py": "A = 1\nB = 2\nC = 3\nD = 4\nE = 5\nG = 6\n"})
    src = ("from hal.hw import A, B, C, D, E, G\n\n\n"
           "def f(o):\n"
           "    try:\n        pass\n    except ValueError as A:\n        pass\n"
           "    o.B\n    o.f(C=1)\n    print(f'{D}')\n"
           "    return [E for E in o] + [G, A, B, C, D]\n")
    out, cut = _run(src, _Refs(root=tmp_path))
    assert cut["inlined"] == ["G"]  # A: an except name; B: an attribute; C: a keyword;
    # D: inside an f-string; E: a comprehension's variable
    assert out.splitlines()[0] == "from hal.hw import A, B, C, D, E; _G = const(6)"
    assert "[_G, A, B, C, D]" in out and "E for E in o" in out and "f'{D}'" in out


def test_an_attribute_read_of_a_module_got_at_run_time_keeps_the_import(tmp_path):
    """tests/mpy reads ``lazy.load("flight.user").K``: user's global K stays; an
    attribute of a module imported by name (``B.K``: b's, not user's) does not count."""
    _tree(tmp_path, {"flight/b.py": "K = 1\nJ = 2\n"})
    src = "from flight.b import J, K\n\n\ndef f():\n    return J + K\n"

    def inlined(reader):
        refs = _Refs(texts={"tests/mpy/t.py": reader}, root=tmp_path)
        return ft.trim(src, "flight.user", "flight/user.py", refs)[1]["inlined"]

    assert inlined("from flight import b as B\nx = B.K + B.J\n") == ["J", "K"]
    assert inlined("import lazy\nx = lazy.load('flight.user').K\n") == ["J"]
    assert inlined("x = getattr(m, 'K')\n") == ["J"]
    assert inlined("from flight import user as u\nx = u.K\n") == ["J"]  # a re-export


def test_an_integer_attribute_of_an_imported_module_is_written_as_its_value(tmp_path):
    _tree(tmp_path, {"flight/b.py": "K = 6\nNEG = -3\nF = 0.5\nP = 9\n",
                     "tests/mpy/t.py": "from flight import b\nb.P = 1\n"})
    src = ("from flight import b as B\n\n\n"
           "def f(x):\n"
           "    return (B.K + 1, B.K.bit_length(), B.NEG ** 2, x * B.NEG, -B.NEG,\n"
           "            B.F, B.P, f'{B.K}')\n\n\n"
           "L = B.K\n")
    out, cut = _run(src, _Refs(texts={"tests/mpy/t.py": "from flight import b\nb.P = 1\n"},
                               root=tmp_path))
    assert cut["attributes"] == ["B.K", "B.NEG"]  # F: a float; P: patched on the board
    lines = out.splitlines()
    assert lines[4] == "    return (6 + 1, (6).bit_length(), (-3) ** 2, x * (-3), -(-3),"
    assert lines[5] == "            B.F, B.P, f'{B.K}')"  # (in an f-string: left alone)
    assert lines[8] == "_L = const(6)"  # then a literal read nowhere else: folded
    ns = {"B": type("B", (), {"K": 6, "NEG": -3, "F": 0.5, "P": 9}), "const": lambda v: v}
    exec(compile(out.replace("from flight import b as B", ""), "m", "exec"), ns)
    assert ns["f"](2) == (7, 3, 9, -6, 3, 0.5, 9, "6")
