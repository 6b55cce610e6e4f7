"""The flight application on the pass world (hal/sim/world.py and its sim/ models) under
MicroPython: a session with the beacon in view acquires, tracks and locks the link.

A module of its own: each interpreter runs a module in one fresh process, so this test's
heap holds the application and the world only, as the board's does.  Run after the
control tests of tests/mpy/test_control_mpy.py, in their process, the unix port's fixed
heap was fragmented by their leftovers: SEARCH's phase buffer found no block
(``lazy.alloc_failures`` 490, BUFFER_ALLOC_FAILED, as designed: counted, SEARCH waits)
and the APT never left SEARCH — an artefact of the test's process, not of the flight code
(the target bench's board heap: docs/firmware.md).
"""

import math

from flight import apt as A
from flight import bias as B
from flight import framer_ctl as F


def _faults(app):
    """The tasks that faulted and each one's last exception with its traceback (the
    failure message of the closed-loop tests: what a TASK_FAULT event does not carry)."""
    import io
    import sys

    lines = []
    for t in app.sched.tasks:
        if t.last_error is not None:
            lines.append("task %s: %d faults, enabled %s" % (t.name, t.faults, t.enabled))
            pe = getattr(sys, "print_exception", None)
            if pe is not None:  # MicroPython
                b = io.StringIO()
                pe(t.last_error, b)
                lines.append(b.getvalue())
            else:
                import traceback

                lines.append("".join(traceback.format_exception(t.last_error)))
    return "\n".join(lines) or "no task faulted"


def boot_pass_world(seed=2, recorder=None):
    """The flight application on the pass world, the session 1 s before the pass (seed 2:
    SEARCH finds the beacon 26 mrad off, beyond the error clamp), booted and in SESSION;
    ``recorder``: the world's truth observer.  Returns (app, world).  (Also the world of
    the CPython tests/test_apt_acquire_far.py.)"""
    from flight.app import FlightApp
    from flight.keys import Keyring
    from hal.clock import VirtualClock
    from hal.sim.board import make_board
    from hal.sim.world import make_world

    world = make_world("nominal", seed=seed, pass_start_s=-150.0, session_start_s=1.0)
    world.recorder = recorder
    board = make_board(clock=VirtualClock(), world=world)
    app = FlightApp(board, keyring=Keyring())
    app.boot(reset_cause="POWER_ON")
    app.run_for(500000)
    app.modes.request("STANDBY")
    app.modes.request("SESSION")
    return app, world


def test_flight_app_on_the_pass_world_reaches_track_and_lock():
    """The pass world (hal/sim/world.py and its sim/ models) runs here too: a session
    with the beacon in view acquires, tracks and locks the link within a few seconds."""

    class FrameLog:  # the world's truth observer (the pass runner's recorder, reduced)
        def __init__(self):
            self.frames = 0

        def frame(self, w):
            self.frames += 1

        def window(self, w, counts):
            pass

    log = FrameLog()
    app, world = boot_pass_world(2, log)
    apt = app.payload["apt"]
    fc = app.payload["framer"]
    for _ in range(60):
        app.run_for(100000)
        if apt.state == A.TRACK and fc.link == F.L_LOCKED:
            break
    assert apt.state == A.TRACK and fc.link == F.L_LOCKED, _faults(app)
    assert app.payload["bias"].state == B.ACTIVE
    rx, ry = world.residual()
    assert math.sqrt(rx * rx + ry * ry) < 50e-6  # rad: the fine loop holds the beacon
    assert log.frames > 100 and log.frames == world.camera.frame
