"""Small modules with one job each: no source file of the product over 500 lines
(flight code, HAL, ground segment, tools, benchmarks, the tests themselves; sim/ has its
own test in tests/test_sim_layering.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 500


def test_no_source_file_over_500_lines():
    over = []
    for d in ("flight", "hal", "ground_tools", "tools", "bench", "board", "tests"):
        for p in sorted((ROOT / d).rglob("*.py")):
            n = len(p.read_text(encoding="utf-8").splitlines())
            if n > LIMIT:
                over.append("%s: %d lines" % (p.relative_to(ROOT), n))
    # the simulator's host kernels in C (sim/run/hostkernels) keep the same rule
    for p in sorted((ROOT / "sim").rglob("*.[ch]")):
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > LIMIT:
            over.append("%s: %d lines" % (p.relative_to(ROOT), n))
    assert not over, over
