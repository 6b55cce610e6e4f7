"""Scheduler dispatch overhead on CPython and in the MicroPython VM."""

import json
import time

from tools import mpyvm

SIM_SECONDS = 60  # of virtual schedule: 60 s * ~191 dispatches/s


def cpython():
    from bench import sched_workload

    sched = sched_workload.make()
    sched_workload.run(sched, 1)  # warm-up
    n0 = sched.dispatches
    t0 = time.perf_counter()
    sched_workload.run(sched, SIM_SECONDS)
    dt = time.perf_counter() - t0
    return dt * 1e6 / (sched.dispatches - n0)


_MPY = """
import sys, json, hrtime
sys.path.insert(0, '/proj')
from bench import sched_workload
s = sched_workload.make()
sched_workload.run(s, 1)
n0 = s.dispatches
t0 = hrtime.us()
sched_workload.run(s, %d)
dt = hrtime.us() - t0
print('RESULT' + json.dumps({'us': dt / (s.dispatches - n0), 'n': s.dispatches - n0}))
"""


def micropython():
    files = mpyvm.project_files(extra_dirs=("bench",))
    rc, out, err = mpyvm.run_job(_MPY % SIM_SECONDS, files=files)
    if rc != 0:
        raise RuntimeError("MicroPython bench failed:\n" + err)
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT")][0]
    return json.loads(line[6:])["us"]


def run():
    return [
        ("scheduler_dispatch_overhead_us_cpython", cpython(), "us", None),
        ("scheduler_dispatch_overhead_us_mpy", micropython(), "us", None),
    ]
