"""Telecommand acceptance latency (issue 3): one PARAM_SET from UART to verification TM.

``tc_accept_latency_ms_*`` is the mean time of one run of the tc task (``FlightApp.
_task_tc``) that finds one COBS-framed PARAM_SET in the UART and deframes it, checks CRC
and header, authenticates it (HMAC-SHA256, anti-replay counter, whose high-water mark is
written to storage), decodes the CBOR, looks it up, validates its arguments, executes it
and sends the acceptance and completion reports (CBOR, CCSDS, COBS) to the link.  Each
TC carries a fresh counter; the packets are built beforehand (the ground's work) and the
OBC side reads the TM after each measurement, outside the timed region.

The workload below runs unchanged on CPython and in the MicroPython VM (this module is
imported there; ``tools.mpyvm`` is imported only on the CPython side).  In the VM,
``time.ticks_us`` advances per millisecond, so the host clock ``hrtime.us()`` is used;
and the VM collects garbage only between jobs, so the figure holds no GC pause (a board
collects in idle time, outside the tc task).
"""

import json

N_WARMUP = 20
N_MEASURE = 200
LIMIT_MS = 10.0


def make():
    """A booted payload on a core simulated board."""
    from flight.app import FlightApp
    from flight.keys import Keyring
    from hal.clock import VirtualClock
    from hal.interfaces import Board
    from hal.sim.link import MemLink
    from hal.sim.power import SimPower
    from hal.sim.storage import MemStorage
    from hal.sim.watchdog import SimWatchdog

    clock = VirtualClock()
    board = Board(link=MemLink(), storage=MemStorage(), power=SimPower(),
                  watchdog=SimWatchdog(clock), clock=clock, name="bench")
    app = FlightApp(board, keyring=Keyring())
    app.boot()
    app.run_for(1100000)  # boot events sent, first housekeeping done
    board.link.take()
    return app


def frames(n, first_counter):
    """``n`` framed PARAM_SET telecommands with consecutive counters (dev key)."""
    from flight import cobs
    from flight.keys import DEV_KEY, DEV_KEY_ID
    from flight.tc import encode_tc

    out = []
    for i in range(n):
        pkt = encode_tc(DEV_KEY, DEV_KEY_ID, first_counter + i, 0x10,
                        {"name": "limit_persist", "value": 3 + i % 40}, seq=i & 0x3FFF)
        out.append(cobs.encode(pkt) + b"\x00")
    return out


def measure(app, wire, now_us):
    """Mean µs of the tc task per TC over ``wire`` (one framed TC per run)."""
    link = app.board.link
    total = 0
    for w in wire:
        link.inject(w)
        t0 = now_us()
        app._task_tc()
        total += now_us() - t0
        link.take()
    return total / len(wire)


def workload(now_us):
    app = make()
    warm = frames(N_WARMUP, 1)
    wire = frames(N_MEASURE, 1 + N_WARMUP)
    measure(app, warm, now_us)
    a0 = app.tc.accepted
    us = measure(app, wire, now_us)
    ok = app.tc.accepted - a0 == N_MEASURE and app.tc.rejected_total() == 0 \
        and app.tc.completed_ok == N_WARMUP + N_MEASURE
    return {"us": us, "n": N_MEASURE, "ok": ok}


def cpython():
    import time

    r = workload(lambda: time.perf_counter() * 1e6)
    if not r["ok"]:
        raise RuntimeError("TCs were not all accepted and completed: %r" % (r,))
    return r["us"] / 1000.0


_MPY = """
import sys, json, hrtime
sys.path.insert(0, '/proj')
from bench import tc
r = tc.workload(hrtime.us)
print('RESULT' + json.dumps(r))
"""


def micropython():
    from tools import mpyvm

    files = mpyvm.project_files(extra_dirs=("bench",))
    rc, out, err = mpyvm.run_job(_MPY, files=files)
    if rc != 0:
        raise RuntimeError("MicroPython bench failed:\n" + err)
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT")][0]
    r = json.loads(line[6:])
    if not r["ok"]:
        raise RuntimeError("TCs were not all accepted and completed in the VM: %r" % (r,))
    return r["us"] / 1000.0


def run():
    return [
        ("tc_accept_latency_ms_mpy", micropython(), "ms", ("<=", LIMIT_MS)),
        ("tc_accept_latency_ms_cpython", cpython(), "ms", None),
    ]
