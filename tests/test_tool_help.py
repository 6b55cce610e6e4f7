"""The tools' command lines answer ``--help`` with their usage and take no option as a
path: ``python -m tools.freeze_decl --help`` once staged the sources into a folder named
``--help``."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": ""})


@pytest.mark.parametrize("opt,rc", [("--help", 0), ("-h", 0), ("--bogus", 2)])
def test_freeze_decl_options_are_not_folders(tmp_path, opt, rc):
    r = _run(tmp_path, "tools.freeze_decl", opt)
    assert r.returncode == rc, r.stderr
    assert "tools.freeze_decl [DEST]" in r.stdout
    assert list(tmp_path.iterdir()) == []  # nothing staged, no folder named after the option


@pytest.mark.parametrize("mod", ["bench.sipm_bias_m7", "bench.flight_mpy", "tools.target_hil",
                                 "tools.knee_runs"])
def test_target_tools_print_usage(tmp_path, mod):
    r = _run(tmp_path, mod, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout
    assert list(tmp_path.iterdir()) == []
