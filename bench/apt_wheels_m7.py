"""The point-ahead task, the wheel-line canceller's idle checks and the ADCS feedback on
the QEMU Cortex-M7 image, apart from the pass world (issue 11).

    python -m bench.apt_wheels_m7

The kit (tests/mpy/kit.py) tracks a rendered spot with the predictor law (its canceller
built, no wheel speeds: the target bench's world sends none), the point-ahead task
installed on it as flight/payload.py does.  Instructions a call (``-icount shift=0``: 1
instruction = 1 ns), each as its task runs it (the heap unlocked around the call), on a
heap fragmented on purpose (1-block holes below the free space, as the pass world leaves
it: MicroPython allocates a Python call's frame of more than 11 words on the heap, and
the first-fit scan of such a heap costs tens of thousands of instructions a call;
bench/apt_tick_m7.py) and, for comparison, on a compact heap:

* ``pa_tick_*``: ``PointAhead.tick`` (no NAV_STATE, no profile, no design queued);
  ``_locked``: its run inside a heap lock (what the tick does itself now);
* ``lines_feed_idle``: the canceller's per-run input check alone (heap-locked, as the
  tick calls it; ``Lines.service`` is not called while nothing is queued);
* ``pa_tick_design_piece_max`` (fragmented heap) / ``_compact``: the tick while a line's
  design is queued (its largest run: one piece, floats, unlocked);
* ``adcs_feedback_*``: ``Apt.feedback`` (the task: the map filled and sent) and
  ``feedback_fill`` (the map alone, heap-locked as the task runs it).

Figures in docs/apt-loop.md §4 "CPU" and docs/point-ahead.md.
"""

import json
import sys

SCRIPT = r"""
import gc, micropython
from array import array
from time import ticks_us, ticks_diff
from fakes import FakeCtx
from kit import rig
import flight.apt as A
from flight import pointahead as PA

r = rig("apt", err=(0.001, 0.001), params={"apt_law": 1})
apt = r.apt
r.fsm.record = False
r.until(A.TRACK, 80)
r.tick(10)
r.cam.replay = array("H", apt.trk_buf)
apt.tick()
ctx = FakeCtx(A, PA)
pa = PA.PointAhead(ctx)
pa.lines = apt.law.lines
pa.in_session = True
task = pa._task
ln = pa.lines
N = 100
NOP = lambda: None


def one():
    task.last_start += 100000
    pa.tick()


def run(f, lock=False):
    gc.collect()
    gc.disable()
    if lock:
        micropython.heap_lock()
    t0 = ticks_us()
    for _ in range(N):
        f()
    dt = ticks_diff(ticks_us(), t0)
    if lock:
        micropython.heap_unlock()
    t0 = ticks_us()
    for _ in range(N):
        NOP()
    d0 = ticks_diff(ticks_us(), t0)
    gc.enable()
    return (dt - d0) * 1000 // N


def feed():
    ln.feed(pa._rw_age, pa._rw_max)


one()
ctx.events = []
R = {}
R['pa_tick_compact'] = run(one)
R['adcs_feedback_compact'] = run(apt.feedback)
gc.collect()
keep = [bytearray(8) for _ in range(4000)]
for i in range(0, len(keep), 2):
    keep[i] = None
R['pa_tick'] = run(one)
R['pa_tick_locked'] = run(one, True)
R['lines_feed_idle'] = run(feed, True)
R['adcs_feedback'] = run(apt.feedback)
fb = apt._fb
R['feedback_fill'] = run(lambda: fb.fill(apt), True)


def design(hz):
    # (one collection before, none inside the timed runs: on the board one falls every
    # ~80 s; right after one, the previous pieces' garbage leaves holes that each
    # multi-block allocation scans: ~4x a piece)
    ln.set_speeds(hz)
    piece = 0
    n = 0
    gc.collect()
    gc.disable()
    while ln.pending():
        t0 = ticks_us()
        one()
        piece = max(piece, ticks_diff(ticks_us(), t0) * 1000)
        n += 1
    gc.enable()
    return piece, n


R['pa_tick_design_piece_max'], R['design_runs'] = design([33.7, 65.12])
keep = None
R['pa_tick_design_piece_max_compact'] = design([45.3, 58.1])[0]
R['lines'] = ln.k[3]
R['events'] = len(ctx.events)
print('RESULT', R)
"""


def measure():
    from tools import target

    out, err = target.run_script(SCRIPT, elf=target.ensure_image(), timeout=900, icount_shift=0)
    for line in out.splitlines():
        if line.startswith("RESULT "):
            import ast

            d = ast.literal_eval(line[7:])
            res = {"apt_wheels_m7_%s_instr" % k: v for k, v in d.items()
                   if k not in ("design_runs", "lines", "events")}
            for k in ("design_runs", "lines", "events"):
                res["apt_wheels_m7_" + k] = d[k]
            return res
    raise RuntimeError("no result from the target: %s %s" % (out, err))


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=1, sort_keys=True)
    print()
