"""tools/manifest.py: MicroPython's manifest functions, run on the host, give the same file
list as MicroPython's own tool (paths relative to the manifest, include, options)."""

import os

import pytest

from tools import manifest
from tools.manifest import ManifestError, read


def _tree(root, files):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _targets(path):
    return [e.target for e in read(path)]


def test_package_module_and_freeze_forms(tmp_path):
    _tree(tmp_path, {
        "src/pkg/__init__.py": "", "src/pkg/a.py": "", "src/pkg/sub/b.py": "",
        "src/pkg/notes.txt": "", "src/cfg.py": "", "top.py": "",
        "scripts/tool.py": "", "scripts/other.py": "", "scripts/lib/x.mpy": "",
        "m/manifest.py": (
            'package("pkg", base_path="../src")\n'
            'module("cfg.py", base_path="../src")\n'
            'module("top.py", base_path="..")\n'
            'freeze("../scripts", "tool.py")\n'
            'freeze("../scripts", "lib")\n'
        ),
    })
    entries = read(tmp_path / "m" / "manifest.py")
    assert [e.target for e in entries] == [
        "pkg/__init__.py", "pkg/a.py", "pkg/sub/b.py", "cfg.py", "top.py", "tool.py",
        "lib/x.mpy"]
    assert entries[2].source == (tmp_path / "src/pkg/sub/b.py").resolve()


def test_package_with_files_and_include_of_a_folder_with_options(tmp_path):
    _tree(tmp_path, {
        "pkg/__init__.py": "", "pkg/a.py": "", "pkg/host.py": "", "main.py": "",
        "board/manifest.py": (
            'options.defaults(main=True)\n'
            'package("pkg", files=["__init__.py", "a.py"], base_path="..")\n'
            'if options.main:\n    module("main.py", base_path="..")\n'
        ),
        "test/manifest.py": (
            'include("../board", main=False)\ninclude("../board/manifest.py")\n'
            'package("pkg", files=["host.py"], base_path="..")\n'
        ),
    })
    assert _targets(tmp_path / "board" / "manifest.py") == [
        "pkg/__init__.py", "pkg/a.py", "main.py"]
    # included once (the second include is ignored, as in MicroPython), with its options
    assert _targets(tmp_path / "test" / "manifest.py") == [
        "pkg/__init__.py", "pkg/a.py", "pkg/host.py"]


def test_errors_name_the_cause(tmp_path):
    cwd = os.getcwd()
    _tree(tmp_path, {"a.py": "", "b/a.py": ""})
    cases = {
        'module("missing.py")': "Cannot stat",
        'module("a.txt")': "module must be .py",
        'require("unittest")': "micropython-lib",
        'include("$(MPY_DIR)/x.py")': "MicroPython tree",
        'module("a.py")\nmodule("a.py", base_path="b")': "listed twice",
        'package("nope")': "Cannot stat",
        'undefined_call()': "Error in manifest file",
    }
    for code, text in cases.items():
        m = tmp_path / "manifest.py"
        m.write_text(code + "\n")
        with pytest.raises(ManifestError, match=text.replace("(", r"\(")):
            read(m)
        assert os.getcwd() == cwd  # the working directory is restored after an error


def test_same_file_twice_counts_once(tmp_path):
    _tree(tmp_path, {"a.py": "", "manifest.py": 'module("a.py")\nmodule("a.py")\n'})
    assert _targets(tmp_path / "manifest.py") == ["a.py"]


def test_the_project_manifests():
    board = _targets(manifest.BOARD)
    assert board[-1] == "main.py" and "flight/scheduler.py" in board
    assert "hal/compat.py" in board and "hal/real/board.py" in board
    assert not any(t.startswith("hal/sim/") for t in board)
    assert "flight/__main__.py" not in board
    test = _targets(manifest.TEST)
    assert test[:len(board)] == board  # the test manifest includes the board's first
    assert "hal/sim/world.py" in test and "sim/camera.py" in test
    assert "hal/sim/serial_link.py" not in test
    assert manifest.main(["board"]) == 0
