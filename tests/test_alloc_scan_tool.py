"""tools/alloc_scan.py (what an allocation costs past a fragmented heap on the emulated
Cortex-M7) and the target bench's --start-shift (the session at another timing phase):
the diagnostics behind docs/firmware.md §9 "the figures' spread"."""

import json
import os

import pytest

from tools import alloc_scan, knee_runs, target
from tools import target_bench as tb


def test_the_scan_script_builds_one_stretch_and_times_both_sizes():
    s = alloc_scan.script(1000, 20)
    compile(s, "alloc_scan", "exec")
    assert "keep = stretch(1000)" in s
    assert "timed(16, 20), timed(100, 20)" in s


def test_the_scan_output_parses_to_instructions_per_allocation():
    rows = alloc_scan.parse("x\nALLOCSCAN [(1000, 21, 810)]\n", reps=20)
    assert rows == [{"holes": 1000, "stretch_kib": 125.0, "instr_16": 1050,
                     "instr_100": 40500}]
    with pytest.raises(target.TargetError):
        alloc_scan.parse("nothing\n", reps=20)


def test_the_slope_is_instructions_per_kib_and_zero_without_spread():
    rows = [{"stretch_kib": 0.0, "c": 1500}, {"stretch_kib": 100.0, "c": 32600}]
    assert alloc_scan.slope(rows, "c") == pytest.approx(311.0)
    assert alloc_scan.slope(rows[:1], "c") == 0.0


@pytest.mark.parametrize("argv", [["--holes", "1,x"], ["--holes", "4000"], ["--holes", "-1"],
                                  ["--reps", "0"], ["--reps", "1001"]])
def test_the_scan_refuses_what_it_cannot_measure(argv, capsys):
    with pytest.raises(SystemExit) as e:
        alloc_scan.main(argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_start_shift_runs_first_and_the_rest_of_the_script_is_unchanged():
    base = tb.script(1)
    s = tb.script(1, start_shift=131)
    assert s.startswith("_i = 0\nwhile _i < 131:\n    _i += 1\n")
    assert s[len(tb.START_SHIFT % 131):] == base
    compile(s, "bench", "exec")
    assert tb.script(1, start_shift=0) == base
    k = knee_runs.script(1, 150, start_shift=7)
    assert k.startswith(tb.START_SHIFT % 7) and "print('KNEERUNS', KR)" in k


@pytest.mark.parametrize("main", [tb.main, knee_runs.main])
def test_a_start_shift_outside_its_range_is_refused(main, capsys):
    for bad in ("-1", "100001"):
        with pytest.raises(SystemExit) as e:
            main(["--start-shift", bad])
        assert e.value.code == 2
        assert "outside 0 .. 100000" in capsys.readouterr().err


def test_on_the_target_an_allocation_of_several_blocks_walks_the_fragmented_stretch(
        tmp_path, capsys):
    reason = target.unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail("QEMU Cortex-M7 target unavailable in CI: %s" % reason)
        pytest.skip("QEMU Cortex-M7 target unavailable: %s" % reason)
    out = tmp_path / "scan.json"
    assert alloc_scan.main(["--holes", "0,1000", "--reps", "5", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    none, frag = res["rows"]
    assert (none["holes"], frag["holes"]) == (0, 1000)
    # One instruction a nanosecond (icount): counts, not wall time.  A 7-block body walks
    # the 125 KiB of 4-block holes; one-block allocations take the first hole.
    assert frag["instr_100"] > none["instr_100"] + 10000
    assert frag["instr_16"] < none["instr_16"] + 1000
    assert res["instr_per_kib_100"] > 80
    assert "per KiB of fragmented stretch" in capsys.readouterr().out
