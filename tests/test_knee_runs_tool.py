"""tools/knee_runs.py: the bench's session with the knee task's runs timed (the figures of
docs/firmware.md §9.1 stop 38).  Without QEMU here: the script it sends times the task
installed by the application just built, nothing else wrapped, and its output parses."""

import pytest

from tools import knee_runs, target
from tools import target_bench as tb


def test_the_script_times_the_knee_task_after_the_app_is_built_and_nothing_else():
    s = knee_runs.script(measure_s=1, min_k=150)
    base = tb.script(1)
    built = s.index("app = FlightApp(board, keyring=Keyring())")
    timer = s.index("_kr_task = app.sched.task('bias_knee')")
    assert built < timer < s.index("session.boot(app, board)")
    assert "if d >= 150 or _kr_ev:" in s
    assert s.rstrip().endswith("print('KNEERUNS', KR)")
    # everything else is the bench's script, unchanged
    lines = s.splitlines()
    a = next(i for i, ln in enumerate(lines) if ln.strip() == "KR = []")
    b = next(i for i, ln in enumerate(lines) if ln.strip() == "_kr_task.fn = _kr_run")
    rest = [ln for ln in lines[:a] + lines[b + 1:] if ln.strip()]
    assert rest[-1] == "print('KNEERUNS', KR)"
    assert rest[:-1] == [ln for ln in base.splitlines() if ln.strip()]
    compile(s, "knee_runs", "exec")


def test_the_output_parses_to_instructions_and_a_missing_line_is_an_error():
    out = "boot\nKNEERUNS [(329, 4114, 1, []), (324, 4514, 0, [103])]\nRESULT{}\n"
    assert knee_runs.parse(out) == [(329000, 4114, 1, []), (324000, 4514, 0, [103])]
    with pytest.raises(target.TargetError):
        knee_runs.parse("RESULT{}\n")
