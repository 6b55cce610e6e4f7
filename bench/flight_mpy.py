"""Flight software budget in the MicroPython VM on the simulated board (issue 5).

10 s of SESSION at the nominal task rates, with the APT tracking and the comparator
tracking (the session is first brought there: boot, STANDBY, SESSION with the beacon in
view), on the pass world of hal/sim/world.py running inside the same VM:

* ``apt_tick_us_mpy`` / ``apt_tick_us_max_mpy`` — mean / largest CPU time of the 100 Hz
  APT task;
* ``flight_cpu_load_mpy`` — CPU time of every task / elapsed time (limit 0.5);
* ``heap_peak_bytes_mpy`` — the flight deployment's heap peak (limit 128 KiB, issue 5;
  the coordinator's decision: the limit applies to the flight deployment, the firmware
  with flight/ and hal/ frozen, issue 11):
  ``heap_peak_above_imports_bytes_mpy`` (below, measured here) +
  ``heap_import_frozen_bytes``, what importing the same modules builds in the heap when
  they are frozen — bytecode and constants in flash — measured on the QEMU Cortex-M7
  image (``tools/import_heap.py``: a fresh boot, collect, ``gc.mem_alloc()``, import,
  collect, ``gc.mem_alloc()``).  "The same modules": those the application holds in
  steady TRACK, ``flight.app`` and what it loaded on use (a first VM job finds them:
  :func:`application_modules`), all at once (an upper bound: the firmware releases
  some after use).  Without the Arm toolchain and QEMU (`make setup-target`) the key
  is omitted and the reason printed;
* ``heap_import_frozen_bytes`` — that import figure (absent likewise);
* ``heap_peak_from_files_bytes_mpy`` — the largest live heap of the flight application
  after a garbage collection with the modules loaded from .mpy files, as `make deploy`
  (the development path, a stock-firmware board) puts them on the board: their
  bytecode, constants and strings are then in RAM.  No limit: a stock-firmware board
  with >= 512 KB of RAM holds it (the NUCLEO-H743ZI's MicroPython heap is 497 KB);
* ``heap_code_bytes_mpy`` — the part of it taken by importing those modules from
  .mpy files (bytecode and what the modules build at import: declarations, classes,
  functions);
* ``heap_peak_above_imports_bytes_mpy`` — ``heap_peak_from_files_bytes_mpy`` less that:
  what the running application holds, the same whichever way the code was loaded;
* ``alloc_bytes_per_apt_tick_mpy`` — heap allocated per APT tick in steady TRACK
  (limit 16 bytes).

The code runs as deployed (``make mpy``): the .mpy bytecode of flight/, hal/ and the
sim/ modules the simulated board needs, built into a temporary folder.  The live heap
is that of the flight application — code and data — above the world, board and VM
baseline (and the camera model's noise-table cache, which the real sensor does not
have).

Physics time is excluded: task CPU time comes from the virtual clock's ``cpu_now_us``,
which the world provides (``World.flight_cpu_us``) — here on the VM's microsecond timer
``hrtime`` (``time.ticks_us`` only ticks per millisecond in this port) — minus the
physics done inside flight calls (camera render, mirror and sensor models).  The
allocations of that physics are likewise subtracted from the per-tick figure.  The
times include the timer's own cost (~4 µs a call, about three calls' worth per APT
tick): upper bounds.

Why a runner of its own (not ``tools.mpyvm.run_job``): the VM (the PyScript variant of
the WebAssembly port) never collects garbage while Python code runs — ``gc.collect()``
only flags a collection, done when control returns to JavaScript.  A live-heap figure
needs the run cut into chunks, one ``runPython`` each, with a collection between them;
``run_job`` runs a single chunk.  Same VM package, same project files.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

from tools import build_mpy, import_heap, manifest, mpyvm, target

SESSION_S = 10  # measured session time
CHUNK_MS = 100  # one runPython per 100 ms of virtual time (a collection after each)
ALLOC_TICKS = 300  # steady-TRACK APT ticks for the allocation figure

_RUNNER = r"""
import { loadMicroPython } from %(package)s;
import fs from "fs";
import path from "path";

const job = JSON.parse(fs.readFileSync(0, "utf8"));
const mp = await loadMicroPython({
  heapsize: job.heapsize, pystack: 16 * 1024, linebuffer: true,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
mp.registerJsModule("hrtime", { us: () => Number(process.hrtime.bigint() / 1000n) });
function mkdirs(dir) {
  if (dir === "/" || dir === "") return;
  mkdirs(path.posix.dirname(dir));
  try { mp.FS.mkdir(dir); } catch (e) { /* exists */ }
}
for (const [p, b64] of job.files) {
  mkdirs(path.posix.dirname(p));
  mp.FS.writeFile(p, Buffer.from(b64, "base64"));
}
try {
  mp.runPython(job.setup);
  // Each chunk returns to JavaScript: the collection flagged by gc.collect() runs here.
  for (let i = 0; i < job.repeat; i++) mp.runPython(job.chunk);
  mp.runPython(job.finish);
} catch (e) {
  process.stderr.write(String(e && e.message ? e.message : e) + "\n");
  process.exitCode = 3;
}
"""

_SETUP = """
import sys, gc, json, hrtime
sys.path.insert(0, '/proj')
from hal.compat import ticks_us
from hal.clock import VirtualClock
from hal.sim.board import make_board
from hal.sim.world import make_world
from hal.sim.heap_est import noise_table_bytes

MASK = (1 << 30) - 1
_h0 = int(hrtime.us())


def hr():
    return (int(hrtime.us()) - _h0) & MASK


# Beacon in view from the start (pass culmination at ~14 s), session at 1 s.
world = make_world('nominal', seed=1, pass_start_s=-150.0, session_start_s=1.0)
world.cpu_us = hr
clock = VirtualClock(charge_cpu=True)
board = make_board(clock=clock, world=world)
cam = world.cam_model


def table_bytes():
    return noise_table_bytes(cam)  # the camera model's cache (hal/sim/heap_est.py)


# Calibrate the timer: cost of one hrtime call (charged to whatever brackets it).
_a = hr()
for _ in range(1000):
    hr()
HR_CALL_US = (hr() - _a) / 1001
state = {'phase': 'base', 'samples': [], 'base': None, 'tb0': 0, 'chunks': 0}
gc.collect()
"""

_CHUNK = """
def _chunk():
    st = state
    live = gc.mem_alloc()  # after the collection that ran between the chunks
    if st['phase'] == 'base':
        st['base'] = live  # world + board + VM, before the flight application exists
        st['tb0'] = table_bytes()
        st['mods0'] = set(sys.modules)
        for name in %(imports)r:  # (the application's modules: bench.flight_mpy.run)
            __import__(name)
        st['phase'] = 'code'
    elif st['phase'] == 'code':
        st['code'] = live - st['base']  # the flight modules' code and tables
        from flight.app import FlightApp
        from flight.keys import Keyring
        global app, apt
        app = FlightApp(board, keyring=Keyring())
        app.boot(reset_cause='POWER_ON')
        app.run_for(500000)
        app.modes.request('STANDBY')
        app.run_for(500000)
        app.modes.request('SESSION')
        apt = app.payload['apt']
        st['phase'] = 'warm'
    elif st['phase'] == 'warm':
        # until the APT and the comparator track (session start-up: bias ramp, search,
        # acquisition, noise sweep, BER sweep)
        app.run_for(%(chunk_us)d)
        if apt.state == 3 and app.payload['comparator'].state == 4:
            st['warm_s'] = clock.elapsed_us / 1e6
            for t in app.sched.tasks:
                t.reset_stats()
            st['t0'] = clock.elapsed_us
            st['phase'] = 'measure'
        elif clock.elapsed_us > 30000000:
            raise RuntimeError('session did not settle: apt %%d comp %%d' %% (
                apt.state, app.payload['comparator'].state))
    elif st['phase'] == 'measure':
        st['samples'].append(live - st['base'] - (table_bytes() - st['tb0']))
        app.run_for(%(chunk_us)d)
        if clock.elapsed_us - st['t0'] >= %(session_us)d:
            st['elapsed_us'] = clock.elapsed_us - st['t0']
            st['stats'] = [(t.name, t.runs, t.cpu_us, t.max_cpu_us, t.deadline_misses)
                           for t in app.sched.tasks]
            st['apt_state_end'] = apt.state
            # the application's modules in steady TRACK (flight/, hal/) that the world
            # and board had not loaded: what the code phase should have imported
            st['loaded'] = sorted(m for m in sys.modules if m not in st['mods0'] and
                                  m.split('.')[0] in ('flight', 'hal'))
            st['phase'] = 'done'
    board.link.take()  # the OBC drains the telemetry
    st['chunks'] += 1
    gc.collect()


if state['phase'] != 'done':
    _chunk()
"""

_FINISH = """
st = state
# Allocation per APT tick in steady TRACK: gc.mem_alloc() around the task function
# (no collection runs inside a chunk), minus what the physics inside it allocated; a
# non-allocating timer (ticks_us) for the physics bracket here.
world.cpu_us = ticks_us
world.mem_alloc = gc.mem_alloc
task = app.sched.task('apt')
inner = task.fn
allocs = []


def counted():
    p0 = world.physics_alloc
    a0 = gc.mem_alloc()
    inner()
    a1 = gc.mem_alloc()
    allocs.append(a1 - a0 - (world.physics_alloc - p0))


task.fn = counted
while len(allocs) < %(alloc_ticks)d:
    app.run_for(100000)
task.fn = inner
out = {
    'stats': st['stats'], 'elapsed_us': st['elapsed_us'], 'samples': st['samples'],
    'allocs': allocs, 'hr_call_us': HR_CALL_US, 'warm_s': st['warm_s'],
    'apt_state_end': st['apt_state_end'], 'apt_state_alloc': apt.state,
    'base_bytes': st['base'], 'chunks': st['chunks'], 'code_bytes': st['code'],
    'loaded': st['loaded'],
}
print('RESULT' + json.dumps(out))
"""


def measure(imports=("flight.app", "flight.payload")):
    """Run the budget job in the VM, its code phase importing ``imports``; returns the raw
    result dict (``loaded``: the application's modules loaded in steady TRACK)."""
    mpyvm.check_runtime()
    with tempfile.TemporaryDirectory(prefix="flight_mpy_build_") as build_dir:
        # The deployed form (`make mpy`): .mpy bytecode, whose loaded code is smaller
        # than what compiling the sources in the VM leaves on the heap.  The test manifest:
        # the board's files plus the simulated board (hal/sim, sim physics) it runs on.
        built, errors = build_mpy.build(build_dir, manifest=manifest.TEST)
        if errors:
            raise RuntimeError("mpy-cross failed: %s" % "; ".join(errors))
        files = mpyvm.project_files(root=build_dir, dirs=("flight", "hal", "sim"),
                                    suffix=".mpy")
    if not any(p.endswith("/flight/apt.mpy") for p, _ in files):
        raise RuntimeError("mpy build incomplete: %d files" % len(files))
    n_chunks = 2 + 100 + SESSION_S * 1000 // CHUNK_MS + 5  # base + warm-up + session
    job = {
        "files": [[p, base64.b64encode(b).decode("ascii")] for p, b in files],
        "setup": _SETUP,
        "chunk": _CHUNK % {"chunk_us": CHUNK_MS * 1000, "session_us": SESSION_S * 1000000,
                           "imports": list(imports)},
        "repeat": n_chunks + 300,
        "finish": _FINISH % {"alloc_ticks": ALLOC_TICKS},
        "heapsize": 1024 * 1024,
    }
    package = (mpyvm.PACKAGE / "micropython.mjs").resolve().as_uri()
    fd, path = tempfile.mkstemp(suffix=".mjs", prefix="flight_mpy_")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(_RUNNER % {"package": json.dumps(package)})
        proc = subprocess.run([mpyvm.node_binary(), path], input=json.dumps(job),
                              capture_output=True, text=True, timeout=900)
    finally:
        os.unlink(path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("MicroPython budget job failed:\n" + proc.stderr + proc.stdout[-2000:])
    return json.loads(lines[-1][len("RESULT"):])


def figures(r, frozen=None):
    """The figures from the VM job's result ``r`` and ``frozen``, the target's import
    measurement (tools.import_heap; None: not measured, then the flight deployment's
    ``heap_peak_bytes_mpy`` is left out rather than reported from something else)."""
    stats = {name: (runs, cpu, mx, miss) for name, runs, cpu, mx, miss in r["stats"]}
    runs, cpu, mx, _ = stats["apt"]
    total = sum(v[1] for v in stats.values())
    allocs = r["allocs"]
    peak_files = max(r["samples"])
    above = peak_files - r["code_bytes"]
    f = {
        "apt_tick_us_mpy": cpu / runs,
        "apt_tick_us_max_mpy": float(mx),
        "flight_cpu_load_mpy": total / r["elapsed_us"],
        "heap_peak_from_files_bytes_mpy": float(peak_files),
        "heap_code_bytes_mpy": float(r["code_bytes"]),
        "heap_peak_above_imports_bytes_mpy": float(above),
        "alloc_bytes_per_apt_tick_mpy": sum(allocs) / len(allocs),
    }
    if frozen is not None:
        f["heap_import_frozen_bytes"] = float(frozen["import_bytes"])
        f["heap_peak_bytes_mpy"] = float(above + frozen["import_bytes"])
    return f


def measure_frozen(modules=import_heap.MODULES, log=None):
    """tools.import_heap's result on the QEMU image for ``modules``, or None (the reason
    printed) when the target cannot run here."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    reason = target.unavailable_reason()
    if reason:
        log("bench.flight_mpy: heap_peak_bytes_mpy skipped: the frozen import is measured "
            "on the QEMU image and %s (make setup-target)" % reason)
        return None
    return import_heap.measure(modules=modules)


def application_modules(r):
    """The modules the application holds in steady TRACK (a job's ``loaded``), flight.app
    first: what both sides of ``heap_peak_bytes_mpy`` import."""
    return ("flight.app",) + tuple(m for m in r["loaded"] if m != "flight.app")


# (key, unit, limit) in the order `make bench` prints them; absent keys are left out.
ROWS = (
    ("apt_tick_us_mpy", "us", None),
    ("apt_tick_us_max_mpy", "us", None),
    ("flight_cpu_load_mpy", "", ("<=", 0.5)),
    ("heap_peak_bytes_mpy", "B", ("<=", 128 * 1024)),
    ("heap_import_frozen_bytes", "B", None),
    ("heap_peak_from_files_bytes_mpy", "B", None),
    ("heap_code_bytes_mpy", "B", None),
    ("heap_peak_above_imports_bytes_mpy", "B", None),
    ("alloc_bytes_per_apt_tick_mpy", "B", ("<=", 16)),
)


def run():
    # Which modules the application holds in steady TRACK: those loaded on use (the boot's,
    # the knee's, the key store's and anti-replay loaders...) besides flight.app's imports,
    # less those released (flight.payload after the boot).  The measured job then imports
    # exactly those as its code, and the target the same frozen: the application's heap
    # above them is the same whichever way the code was loaded (stop 56; before, the
    # modules loaded on use counted as the application's heap with their bytecode).
    mods = application_modules(measure())
    frozen = measure_frozen(mods)
    r = measure(mods)
    if r["apt_state_end"] != 3 or r["apt_state_alloc"] != 3:
        raise RuntimeError("APT not tracking during the measurement (%r)" % (r,))
    more = sorted(set(r["loaded"]) - set(mods))
    if more:
        raise RuntimeError("the application loaded %s beyond the first job's modules" % more)
    f = figures(r, frozen)
    return [(key, f[key], unit, limit) for key, unit, limit in ROWS if key in f]


if __name__ == "__main__":  # python -m bench.flight_mpy: the raw numbers too
    import argparse

    # No options: --help prints what is measured instead of starting the VMs.
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    mods = application_modules(measure())
    fz = measure_frozen(mods)
    res = measure(mods)
    print(json.dumps({k: v for k, v in res.items() if k not in ("samples", "allocs")},
                     indent=1))
    print(json.dumps(figures(res, fz), indent=1))
