"""Every run of the breakdown knee's task on the emulated Cortex-M7, timed (a diagnostic).

``make target-bench`` reports each task's longest run in its measured phases only, and
the session's knee (its sweep, its report, its hindsight: flight/bias_knee.py,
flight/bias_knee_report.py, flight/bias_kt.py) runs before them, in the warm-up.  This
flies the bench's own session (tools/target_bench.py, QEMU at 100 M instructions/s, one
instruction a nanosecond) with the knee task's runs timed on the flight clock — nothing
else wrapped: a wrapper inside a run costs ~10 k instructions a call and read the same
stages up to twice as long — and prints each run of more than ``--min-k`` thousand
instructions: when (simulated ms), the knee's state before it (-1: none built), the
events it emitted, and the longest.  The budget is 500 k a run (docs/firmware.md §4).

    python -m tools.knee_runs [--measure-s 3] [--min-k 100] [--json F] [--start-shift N]
"""

import argparse
import ast
import json
import sys

from tools import firmware, target
from tools import target_bench as tb

# Inserted after the bench builds the application: the knee task's runs, timed.
_TIMER = r'''
KR = []
_kr_ev = []
import flight.events as _kr_events
_kr_emit = _kr_events.EventLog.emit


def _kr_emit_seen(self, ev_id, *a):
    _kr_ev.append(ev_id)
    return _kr_emit(self, ev_id, *a)


_kr_events.EventLog.emit = _kr_emit_seen
_kr_task = app.sched.task('bias_knee')
_kr_fn = _kr_task.fn
_kr_owner = app.payload['bias_knee']


def _kr_run():
    k = _kr_owner.knee
    st = -1 if k is None else k.state
    del _kr_ev[:]
    c0 = world.flight_cpu_us()
    _kr_fn()
    d = ticks_diff(world.flight_cpu_us(), c0)
    if d >= %(min_us)d or _kr_ev:
        KR.append((d, clock.elapsed_us // 1000, st, list(_kr_ev)))


_kr_task.fn = _kr_run
'''
_ANCHOR = "app = FlightApp(board, keyring=Keyring())\n"


def script(measure_s=3, min_k=100, start_shift=0):
    s = tb.script(measure_s, start_shift=start_shift)
    i = s.index(_ANCHOR)
    indent = s[s.rfind("\n", 0, i) + 1:i]
    block = "".join(indent + ln + "\n" if ln.strip() else "\n"
                    for ln in (_TIMER % {"min_us": min_k}).splitlines())
    return s[:i] + _ANCHOR + block + s[i + len(_ANCHOR):] + "\nprint('KNEERUNS', KR)\n"


def parse(output):
    """[(instructions, simulated ms, knee state, [event ids])] from the target's output."""
    for ln in output.splitlines():
        if ln.startswith("KNEERUNS "):
            # (µs of the flight clock at one instruction a nanosecond: x 1000)
            return [(d * 1000, t, st, ev) for d, t, st, ev in ast.literal_eval(ln[9:])]
    raise target.TargetError("no KNEERUNS line from the target:\n" + output[-2000:])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.knee_runs",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--measure-s", type=int, default=3,
                    help="simulated seconds of each bench phase after TRACK (default 3)")
    ap.add_argument("--min-k", type=int, default=100,
                    help="print runs of at least this many thousand instructions (100)")
    ap.add_argument("--json", help="write the runs here as JSON")
    ap.add_argument("--start-shift", type=tb.start_shift_arg, default=0, metavar="N",
                    help="N loop iterations first: the session at another timing phase "
                         "(python -m tools.target_bench --start-shift; 0 .. 100000)")
    args = ap.parse_args(argv)
    try:
        out, err = target.run_script(script(args.measure_s, args.min_k, args.start_shift),
                                     elf=target.ensure_image(), timeout=3600, icount_shift=0)
        runs = parse(out)
    except (target.TargetError, firmware.FirmwareError) as e:
        print("error:", e, file=sys.stderr)
        return 2
    for d, t, st, ev in runs:
        print("%8.3f s  %7d instructions  state %2d  events %s"
              % (t / 1000.0, d, st, " ".join("0x%02X" % e for e in ev) or "-"))
    worst = max((r[0] for r in runs), default=0)
    print("longest run: %d instructions (budget 500000)" % worst)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "longest": worst}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
