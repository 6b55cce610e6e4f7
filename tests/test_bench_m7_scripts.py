"""The Cortex-M7 benches' scripts (bench/*_m7.py) run to their result on MicroPython.

Those benches boot the QEMU image and take minutes, so nothing ran them between the
stops that cite their figures: two had rotted unseen (stop 46: the survey's look at a
wider window than the replayed frame; a kernel twin's import moved). Here each script
runs on the unix port (tools/unixport, the same flight code with the plain-Python twins
where a 64-bit port refuses the viper kernels) and must reach its ``RESULT`` line with the
state it claims to measure: the cost figures themselves are the target's (make bench,
docs/firmware.md §4), not this interpreter's.
"""

import ast
import importlib
from pathlib import Path

import pytest

from tools import unixport

ROOT = Path(__file__).resolve().parents[1]


def _result(module):
    """The bench's script on the unix port → its RESULT dict."""
    try:
        unixport.executable()
    except unixport.UnixPortError as e:
        pytest.skip("MicroPython unix port not installed: %s" % e)
    script = importlib.import_module(module).SCRIPT
    # (the QEMU image freezes the flight code and tests/mpy; here they are paths away)
    paths = "import sys\nsys.path[:0] = [%r, %r]\n" % (str(ROOT), str(ROOT / "tests" / "mpy"))
    rc, out, err = unixport.run_script(paths + script)
    assert rc == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, out + err
    return ast.literal_eval(lines[0][len("RESULT "):])


def test_the_apt_tick_bench_measures_a_tracking_tick_and_a_search_tick():
    r = _result("bench.apt_tick_m7")
    assert r["state"] == 3  # TRACK (flight/apt.py): the tick measured is a tracking frame's
    assert r["search_state"] == 1  # SEARCH
    assert r["lines"] >= 2  # the wheel lines were on for the *_wheels figures
    assert r["hot_pixels"] >= 1  # the patch measured had a pixel to patch
    # the board's camera read and the simulated driver's, measured heap-locked (stop 50)
    assert {"board_read_roi", "sim_read_roi"} <= set(r)


def test_the_predictor_bench_allocates_nothing_and_stays_on_the_nominal_gains():
    r = _result("bench.apt_predict_m7")
    assert r["step"][1] == 0 and r["play"][1] == 0  # octets a call
    assert r["robust"] is False  # a supervisor's trip would measure the other gains
    assert r["viper"] is False  # (the unix port: the twins; on the image the kernels)


def test_the_wheels_bench_runs_the_canceller_on_its_lines():
    r = _result("bench.apt_wheels_m7")
    assert r["lines"] >= 2
    assert r["events"] == 0


def test_the_bias_bench_measures_the_update():
    r = _result("bench.sipm_bias_m7")
    assert set(r) >= {"update", "select"}
    assert r["update"][1] == r["select"][1]  # the law itself allocates nothing
