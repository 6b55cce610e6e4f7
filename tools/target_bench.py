"""`make target-bench`: the flight budget on the QEMU Cortex-M7 image → out/target.json.

The FlightApp runs with the flight code frozen in the image, on the simulated board and
the pass world of hal/sim running on the target too (the simplest closed loop: no bridge;
the world's cost is measured and excluded, below).  QEMU runs with ``-icount shift=0``:
virtual time advances exactly 1 ns per guest instruction, so ``time.ticks_us`` on the
target counts thousands of guest instructions, deterministic and independent of the host.

The scheduler's clock is a ``VirtualClock`` charging each task's measured cost to virtual
time scaled to the payload computer's speed: at 100 M instructions/s one ticks_us µs
(1000 instructions) lasts 10 µs (``cpu_scale`` 10), at 50 M it lasts 20 µs.  A task that
runs long therefore makes the later releases late exactly as on the board, and the
scheduler counts the APT's deadline misses.  No icount shift gives 100 M or 50 M
(shift n is 1000/2**n M instructions/s), hence the scaling.

What counts as flight time, and how it is kept honest (same code, same figures: two runs
agree within 0.3 %; before, 0.31-0.41 on one commit):

* The simulated devices' physics inside flight calls (camera rendering, mirror and
  sensor models, the OBC's ADCS relay, the simulated UART's copies) is bracketed by
  ``World.physics_begin/end`` and subtracted (``sim_devices_instr_*``); the world's own
  step at every move of the virtual clock is bracketed too.
* Garbage collection.  The simulator makes ~8 MB/s of garbage; the flight ~4 kB/s.  A
  collection that the simulator's garbage forces inside a flight call is no flight cost,
  but MicroPython runs it inside whatever allocates next and it was charged to that task
  (each ~4 M instructions: apt 241-327 k, sipm_bias 189-285 k, adcs_feedback 181-289 k
  a run, run to run, from where they happened to land).  The bench now collects the
  simulator's garbage where no flight code runs: at every move of the virtual clock
  (between any two flight calls) and at the end of every physics bracket (inside it),
  whenever the free heap may be under ``SIM_GC_MARGIN`` (an O(1) estimate from
  ``micropython.mem_current``, confirmed by a heap walk).  The flight code between two
  brackets allocates a few kB at most, so no collection falls in flight time; the
  collections the flight's own garbage forces on the board are reported apart
  (``flight_alloc_bytes_per_s``, ``flight_gc_interval_s``: one every ~80 s of a pass).
* ``ticks_us`` of the QEMU port reads the millisecond count, then the SysTick counter:
  in the 40 instructions after the wrap interrupt, while the counter still reads 0, it
  is 999 µs AHEAD.  Such a reading at a task's end (or a physics bracket's start) added
  1 M instructions (or the bracket's physics) to a run.  Every timing here takes two
  readings and keeps the consistent one (``now_us``; ``ticks_us_glitches`` counts them).
* The scheduler's idle work is flight code too: its heap walks (``gc.mem_free``, 1.16 M
  instructions on a 480 KiB heap, each one longer than an APT period at 100 M/s) are
  timed and charged to virtual time like its collections, and the simulator's
  allocation is kept out of its O(1) heap estimate (on the board only the flight
  allocates: ``sched_heap_walk_interval_s``).  ``flight_cpu_load_*`` is the tasks' time;
  ``flight_cpu_load_all_*`` everything in the scheduler's loop (dispatch, idle steps,
  the simulated clock's own Python included: an upper bound), and
  ``sched_overhead_instr_per_s_*`` the difference.
* The figures stay sensitive to the closed loop: a code change that moves any charge
  moves the simulated pass a little, and with it how many of the APT's frames are
  invalid (``apt_frames_valid_invalid_stale_*``; an invalid frame retries the centroid
  and costs ~2x).  Compare APT figures at equal frame mixes.

Diagnostics: ``--trace``, each run's cost per task (histogram, longest runs, APT state,
collections inside a call); ``--profile``, the APT tick's parts alone at the run's end.

Phases, one QEMU boot: boot → STANDBY → SESSION with the beacon in view, until the APT
tracks and the comparator locks (≤ 30 s simulated); then 10 s at 100 M instructions/s, 10 s
at 50 M, and 10 s at 100 M with line-rate garbage (115200 Bd, 8N1: 115 bytes per 10 ms)
injected into the TC link (the security issue's flood case); then 2 s measuring each task's
own allocation per run (``task_alloc_bytes_*``, ``flight_alloc_bytes_per_s``,
``flight_gc_interval_s``). Heap: live after boot, at TRACK's start
(``heap_live_track_start_bytes``: the session start's knee calibration may still hold its
code, ``knee_busy_at_track``) and in steady TRACK after the phases, the knee's code released
(``heap_live_track_bytes``, the budget's: hal/sim/session.py ``settle``), the flight's alone
(``gc.mem_alloc()`` after a collection, minus the world/board baseline, the camera model's
cached noise tables, ``heap_sim_boot_bytes``/``heap_sim_bytes`` and
``heap_sim_growth_boot_bytes``/``heap_sim_growth_bytes``: below), peak of the live heap
sampled after a collection each simulated second of the measured phases (the estimated
growth not taken out: upper bounds; ``heap_alloc_peak_bytes_*``: the same before the
collection, garbage included), largest free block (bisected allocation).

The simulator's share, kept out (issue 11: the budget is the flight's). The world, the board
and the camera model's noise tables are allocated before the baseline, and the world's 1 kHz
residual history is a ring allocated with it (hal/sim/finetruth.py), so none of them grows
the heap after; the models' step caches are fixed tables for that reason (sim/stepcache.py:
as dicts cleared at 64 entries they swung the figure by up to 7.7 kB from run to run). What
does grow is the simulated flash's blobs (on the board: flash, no heap), measured on the
target by ``hal/sim/session.py`` ``sim_bytes`` (the allocation of an equal copy of each blob
and of the blob dict) and reported apart as ``heap_sim_bytes``. The rest of the simulator's
growth (~1.3 kB in TRACK: the FSM waveform queue, the sensors' and models' floats re-boxed)
is estimated part by part, from MicroPython's layouts, by the walk the heap map uses
(hal/sim/heap_est.py ``sim_parts``, taken at the baseline and again just before each figure,
the walk's garbage collected by its reading), and left out too:
``heap_sim_growth_boot_bytes``/``heap_sim_growth_bytes`` (net, the blobs apart: nothing is
subtracted twice). The flight's buffers the simulated camera keeps views of, and any flight
object a device holds, stay counted: they are the flight's. A walk that finds no heap
(``heap_sim_growth_*skipped``) subtracts nothing: the figure is then an upper bound, never
an understated one. The script's own globals and result keys are bound before the baseline
(tools/script_presize.py). The session itself (rig, boot, STANDBY → SESSION → TRACK +
comparator lock) is ``hal/sim/session.py``, shared with ``tools/heap_map.py``.

    python -m tools.target_bench [--out out/target.json] [--trace] [--profile]
"""

import argparse
import json
import sys
import time
from pathlib import Path

from hal.interfaces import CAMERA_FRAME_PERIOD_US
from hal.sim.world import frame_period_us
from tools import firmware, target
from tools.heap_map import heap_range
from tools.target_bench_figures import ALLOC_S, _instr, figures, parse_result  # noqa: F401
from tools.target_bench_alloc import ALLOC_BLOCK
from tools.target_bench_parts import HELPERS, PROFILE_BLOCK, START_SHIFT, TRACE_BLOCK
from tools.script_presize import BASELINE, PRESIZE, presize  # noqa: F401 (BASELINE: tests)

ROOT = firmware.ROOT
MEASURE_S = 10
LINE_BYTES_PER_10MS = 115  # 115200 Bd, 10 bits a byte
TASKS = ("apt", "tc", "hk", "health", "framer", "comparator", "sipm_bias", "adcs_feedback")

# Runs on the target (compiled there from this text; the flight code itself is frozen).
SCRIPT = r"""
import gc, json, sys, time, micropython
from time import ticks_us, ticks_diff
from hal.clock import VirtualClock
from hal.sim.heap_est import noise_table_bytes
from hal.sim import session, heap_est

# The simulator's garbage is collected outside flight time, uncharged: at every move of
# the virtual clock (between any two flight calls) and at the end of every physics
# computation inside a flight call (World.physics_end, still inside its bracket),
# whenever the heap could no longer take SIM_GC_MARGIN octets without a collection.  The
# flight code between two brackets allocates at most a few kB (task_alloc_bytes_max), so
# no collection forced by the simulator's garbage falls in flight time; one the flight's
# own garbage would force on the board is charged apart (flight_gc_*).  Measured before:
# collecting only between the 10 ms slices left 104-135 kB free for up to 103 kB of
# garbage a slice, and the collections it forced in flight calls made apt 241-327 k,
# sipm_bias 189-285 k, adcs_feedback 181-289 k instructions a run, run to run.
SIM_GC_MARGIN = 32768

R = {'phase': 'start', 'errors': []}

def out(k, v):
    R[k] = v

out('heap_size_bytes', gc.mem_free() + gc.mem_alloc())

def live():
    gc.collect()
    simgc.after()
    return gc.mem_alloc()

%(helpers)s
def _clock():
    c = VirtualClock(charge_cpu=True, cpu_scale=10.0)
    tgc.clock = c
    return c

def _cpu(w):
    w.cpu_us = now_us

# The pass world, clock and board (hal/sim/session.py).
world, clock, board = session.make_rig(_clock, _cpu, reserve=False, frame_rate_hz=%(frame_rate)s)
_world_step = clock.step_hook  # World.step, at every move of the virtual clock
_physics_end = world.physics_end

def _physics_end_collect(t0):
    # The end of a physics computation inside a flight call (a render can leave the
    # heap nearly full): the simulator's collection, if due, before the bracket closes.
    simgc.step()
    _physics_end(t0)

world.physics_end = _physics_end_collect

STEP = [0]  # ticks of the step hooks (in physics_us too)

def _step(dt):
    # The world's step and the simulator's collections: physics, outside flight calls.
    p = world.physics_us
    t = world.physics_begin()
    _world_step(dt)
    simgc.step()
    _physics_end(t)
    STEP[0] += (world.physics_us - p) & 0x3FFFFFFF

clock.step_hook = _step
cam = world.cam_model
# The camera model's noise-table buffers (sim/camera.py: 8 slots of 10.7 kB, allocated at
# their first use) allocated now, on the heap before the simulator's garbage has
# fragmented it: a 10.7 kB block asked for mid-pass can fail on the fixed heap and fault
# the APT (the real sensor has no such tables; they are the world's, outside the figures).
session.reserve_tables(world)

def table_bytes():
    # The camera model's noise-table cache (sim/camera.py): the world's, not flight heap.
    return noise_table_bytes(cam)

# The simulated UART copies what it moves (its Python buffers): the board's UART driver
# (hal/real/uart_link.py) allocates nothing, so the copy is the simulator's, bracketed
# as physics (time and allocation excluded from the flight figures).
_lw = board.link.write
_lr = board.link.read_into

def _link_write(data):
    t = world.physics_begin()
    n = _lw(data)
    world.physics_end(t)
    return n

def _link_read(b):
    t = world.physics_begin()
    n = _lr(b)
    world.physics_end(t)
    return n

board.link.write = _link_write
board.link.read_into = _link_read

def flight_live(key=None, grown=0):
    # The flight's live heap: less the baseline (world, board), the camera model's noise
    # tables and the simulator's state grown since: the flash blobs (session.sim_bytes:
    # measured by setting them aside for one collection), reported apart under key, and
    # the rest estimated (``grown``: sim_grown()).
    s = session.sim_bytes(board)
    if key is not None:
        out(key, s)
    return live() - base - (table_bytes() - tb0) - s - grown

def _tb(e):
    import io
    b = io.StringIO()
    sys.print_exception(e, b)
    return b.getvalue()

# What the script itself binds later (its globals, the result's keys) is bound now, so
# that neither table grows after the baseline: the bench's bookkeeping is not flight heap.
heap_est.set_heap(%(heap_lo)d, %(heap_hi)d)  # the GC heap (outside: frozen in flash)
SIM0 = sim_state()  # the simulator's state at the baseline, estimated (sim_grown)
gc.collect()  # inline: a stale C-stack word in live()'s frame kept 6.4 kB of garbage (stop 40)
%(presize)s
base = live()
tb0 = table_bytes()
out('heap_base_world_bytes', base)
# The flight modules are imported after the baseline, the scheduler (whose idle
# collections are timed) included: its import is flight memory.
import flight.scheduler as _sched
_sched.gc = tgc

from flight.app import FlightApp
from flight.keys import Keyring
out('heap_code_bytes', flight_live())
app = FlightApp(board, keyring=Keyring())
app.limits.budget.clock = clock  # the tc tick's bound on the charged flight CPU (tclimit)
simgc.sched = app.sched
session.relay(world, app)  # bracketed as physics: not flight code, excluded
session.boot(app, board)
g = sim_grown()  # (None: its walk found no heap; nothing subtracted then)
if g is None:
    out('heap_sim_growth_boot_skipped', 'MemoryError')
out('heap_sim_growth_boot_bytes', g)
out('heap_live_boot_bytes', flight_live('heap_sim_boot_bytes', g or 0))
apt = app.payload['apt']
comp = app.payload['comparator']
R['phase'] = 'warm'
out('warm_s', session.to_track(app, board, clock) / 1e6)
# The TRACK heap at its start first: the diagnostics below are the bench's, not the
# flight's.  The session start's knee calibration may still hold its code here
# (knee_busy_at_track); steady TRACK's figure, the budget's, comes after the phases.
g = sim_grown()
if g is None:
    out('heap_sim_growth_start_skipped', 'MemoryError')
out('heap_sim_growth_start_bytes', g)
out('heap_live_track_start_bytes', flight_live('heap_sim_start_bytes', g or 0))
out('knee_busy_at_track', session.knee_busy(app))
out('task_faults_warm', dict((t.name, t.faults) for t in app.sched.tasks))
out('task_errors_warm', dict((t.name, _tb(t.last_error)) for t in app.sched.tasks
                             if t.last_error is not None))
out('apt_state_warm', apt.state)
# Hot pixels the session's dark calibration found: the APT patches each one every TRACK
# tick (~2.4 k instructions a pixel), so its cost moves with this count from run to run
# of the simulated sensor's noise.
out('apt_hot_pixels', len(apt.search.hot) // 2)
out('comparator_state_warm', comp.state)
%(trace_block)s
from flight.scheduler_telemetry import S_OVERRUNS

def measure(name, scale, flood):
    clock.cpu_scale = scale
    for t in app.sched.tasks:
        # Per-phase figures, but the once-a-boot TASK_OVERRUN event must not be re-armed
        # (it fell in the allocation count: tc 832 B sending it, hk 1 kB persisting it).
        ov = t.overruns
        t.reset_stats()
        t.row[S_OVERRUNS] = ov  # (the row holds the statistics: scheduler_telemetry)
    if TRACE:
        _trace_take('drop')
    p0 = world.physics_us
    s0 = STEP[0]
    f0 = (apt.valid_frames, apt.invalid_frames, apt.stale_frames)
    e0 = clock.elapsed_us
    g0 = tgc.runs
    gt0 = tgc.total_us
    gw0 = tgc.walks
    n0 = simgc.runs
    w0 = simgc.walks
    simgc.call_max = 0
    wall = 0  # ticks inside app.run_for: flight (tasks, scheduler, idle) + physics + gc
    samples = []
    allocs = []
    seed = 12345
    buf = bytearray(%(flood_bytes)d)
    for k in range(%(measure_s)d * 100):
        if flood:
            for i in range(len(buf)):
                seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
                buf[i] = seed >> 22
            board.link.inject(buf)
            # The generator's products are long ints (~8 kB of garbage a step, here,
            # outside any flight call): the bench's, not the flight's, so the simulator's
            # collector takes it into account before the scheduler's heap estimate sees
            # it.  Counted as the flight's, it pushed that estimate under the floor and
            # forced a heap walk (11.6 ms, over one 7 ms APT period) into this phase in
            # most runs: docs/firmware.md §6 "At 7 ms frames".
            simgc.step()
        t0 = now_us()
        app.run_for(10000)
        wall += ticks_diff(now_us(), t0)
        if k %% 100 == 99:  # each simulated second (outside any task, not charged)
            board.link.take()
            tb = table_bytes() - tb0
            allocs.append(gc.mem_alloc() - base - tb)  # garbage included
            samples.append(flight_live())
    elapsed = clock.elapsed_us - e0
    stats = {}
    for t in app.sched.tasks:
        stats[t.name] = [t.runs, t.cpu_us, t.max_cpu_us, t.deadline_misses, t.skipped]
    phys = (world.physics_us - p0) & 0x3FFFFFFF
    step = STEP[0] - s0
    R[name] = {'stats': stats, 'elapsed_us': elapsed, 'scale': scale,
               'physics_us': phys - step, 'world_step_us': step, 'gc_runs': tgc.runs - g0,
               'heap_walks': tgc.walks - gw0,
               'flight_all_us': wall - phys - (tgc.total_us - gt0),
               'sim_gc_runs': simgc.runs - n0, 'sim_gc_walks': simgc.walks - w0,
               'call_alloc_max': simgc.call_max,
               'apt_frames': [apt.valid_frames - f0[0], apt.invalid_frames - f0[1],
                              apt.stale_frames - f0[2]],
               'live_samples': samples, 'alloc_samples': allocs, 'apt_state': apt.state,
               'comp_state': comp.state}

for name, scale, flood in zip(PHASES, (10.0, 20.0, 10.0), (False, False, True)):
    set_aside(records())  # (the phase's live samples without the phases' before it)
    R['phase'] = name
    measure(name, scale, flood)
    board.link.take()
    R[name]['live_after'] = flight_live()
    if TRACE:
        _trace_take(name)

# Steady TRACK (the session start's calibrations done, their code released: hal/sim/
# session.py settle): the heap budget's figure.
R['phase'] = 'steady'
set_aside(records())
out('steady_wait_s', session.settle(app, board, clock) / 1e6)
g = sim_grown()
if g is None:
    out('heap_sim_growth_skipped', 'MemoryError')
out('heap_sim_growth_bytes', g)
out('heap_live_track_bytes', flight_live('heap_sim_bytes', g or 0))
out('apt_state_steady', apt.state)

%(alloc_block)s

R['phase'] = 'gc'
gcs = []
for _ in range(5):
    t0 = now_us()
    gc.collect()
    gcs.append(ticks_diff(now_us(), t0))
out('gc_collect_us_track', gcs)
out('gc_idle_max_us', tgc.max_us)
# Collections the scheduler made in quiet time (SESSION) because the floor forced them
# (GC_IN_PASS), and early ones in idle windows long enough, over the whole run.
out('sched_gc', [app.sched.gc_runs, app.sched.gc_pass_runs, app.sched.gc_early_runs])
out('ticks_us_glitches', GLITCH[0])  # ticks_us readings 999 us ahead, corrected
out('heap_largest_free_bytes', largest_free())
out('heap_size_bytes', gc.mem_free() + gc.mem_alloc())
pystack_figures()

%(profile_block)s
R['phase'] = 'done'
"""

WRAPPER = r"""
try:
%(body)s
except Exception as _e:
    import io
    _b = io.StringIO()
    sys.print_exception(_e, _b)
    R['errors'].append(_b.getvalue())
# The diagnostic figures (--trace, --profile) a line each (a trace a line a task), and the
# result, written as encoded: one ~2 kB JSON text may find no block on the fragmented heap.
gc.collect()
for _k in [k for k in R if k.startswith('trace_') or k.startswith('prof')]:
    _v = R.pop(_k)
    for _t in (list(_v) if _k.startswith('trace_') else [None]):
        sys.stdout.write('RESULTPART ' + _k + ('' if _t is None else '/' + _t) + ' ')
        json.dump(_v if _t is None else _v.pop(_t), sys.stdout)
        print()
        gc.collect()
for _k in [k for k in R if R[k] is None]:  # (bound before the baseline, never set)
    R.pop(_k)
sys.stdout.write('RESULT')
json.dump(R, sys.stdout)
print()
"""


def script(measure_s=MEASURE_S, trace=False, profile=False, frame_rate=None, heap=(0, 0),
           start_shift=0):
    d = {"flood_bytes": LINE_BYTES_PER_10MS, "measure_s": measure_s, "alloc_s": ALLOC_S,
         "heap_lo": heap[0], "heap_hi": heap[1],
         "trace": 1 if trace else 0, "profile": 1 if profile else 0,
         "frame_rate": "None" if frame_rate is None else repr(float(frame_rate))}
    d.update(helpers=HELPERS, trace_block=TRACE_BLOCK % d, profile_block=PROFILE_BLOCK % d,
             alloc_block=ALLOC_BLOCK % d, presize=PRESIZE)
    body = SCRIPT % d
    body = body.replace(PRESIZE, presize(body))
    # The script's own top-level statements inside one try: a MemoryError or failure
    # still reports what was measured up to it.
    header, _, rest = body.partition("R = {'phase': 'start', 'errors': []}\n")
    indented = "\n".join(("    " + ln) if ln.strip() else "" for ln in rest.splitlines())
    return ((START_SHIFT % start_shift if start_shift else "") + header
            + "R = {'phase': 'start', 'errors': []}\n" + WRAPPER % {"body": indented})


def run(elf=None, timeout=3600, log=print, measure_s=MEASURE_S, trace=False, profile=False,
        frame_rate=None, start_shift=0):
    elf = target.ensure_image() if elf is None else elf
    t0 = time.monotonic()
    out, err = target.run_script(script(measure_s, trace, profile, frame_rate, heap_range(elf),
                                        start_shift),
                                 elf=elf, timeout=timeout, icount_shift=0)
    if err.strip():
        raise target.TargetError("target bench failed:\n" + err)
    r = parse_result(out)
    f = figures(r)
    for k, v in r.items():
        if k.startswith("trace_") or k.startswith("prof"):
            f[k] = v
    f["bench_wall_s"] = round(time.monotonic() - t0, 1)
    # the camera's rate: a what-if's (docs/apt-loop.md §5 "A faster camera") or the board's
    f["camera_frame_rate_hz"] = round(float(frame_rate or 1e6 / CAMERA_FRAME_PERIOD_US), 3)
    if start_shift:
        f["start_shift"] = start_shift
    log("target bench: %.0f s wall" % f["bench_wall_s"])
    return f


def start_shift_arg(text):
    """argparse type of --start-shift (here and tools/knee_runs.py): 0 .. 100000."""
    n = int(text)
    if not 0 <= n <= 100000:
        raise argparse.ArgumentTypeError("%d is outside 0 .. 100000" % n)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.target_bench",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "out" / "target.json"))
    ap.add_argument("--elf")
    ap.add_argument("--measure-s", type=int, default=MEASURE_S,
                    help="simulated seconds per measured phase (default %(default)s)")
    ap.add_argument("--trace", action="store_true",
                    help="diagnostic: per-run costs and collections inside flight calls")
    ap.add_argument("--profile", action="store_true",
                    help="diagnostic: where the tasks' flight time goes (wrapped callables)")
    ap.add_argument("--frame-rate", type=float, metavar="HZ",
                    help="what-if: the simulated camera at this frame rate (a whole number "
                         "of ms a frame, 2 .. 32; default: the board's, hal.interfaces)")
    ap.add_argument("--start-shift", type=start_shift_arg, default=0, metavar="N",
                    help="diagnostic: N loop iterations before the session (0 .. 100000) "
                         "shift its timing: the figures' spread (docs/firmware.md §3)")
    args = ap.parse_args(argv)
    if args.frame_rate is not None:
        try:
            frame_period_us(args.frame_rate)
        except ValueError as e:
            ap.error("--frame-rate: %s" % e)
    try:
        f = run(elf=args.elf, measure_s=args.measure_s, trace=args.trace,
                profile=args.profile, frame_rate=args.frame_rate, start_shift=args.start_shift)
    except (target.TargetError, firmware.FirmwareError) as e:
        print("error:", e, file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(f, indent=2, sort_keys=True) + "\n")
    for k in sorted(f):
        print("%-40s %s" % (k, json.dumps(f[k])))
    return 0 if not f["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
