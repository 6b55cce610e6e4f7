"""A pass session on the simulated board, brought up the same way for every measurement
that runs on the target (tools/target_bench.py, tools/heap_map.py): the pass world, the
board on a virtual clock, the flight application booted, then STANDBY → SESSION with the
beacon in view until the APT tracks and the comparator locks.  And the simulator's own
share of the heap grown after the baseline, measured, so the benches count the flight's
alone.

MicroPython: plain Python, frozen with hal/sim into the test image.
"""

from hal.sim.board import make_board
from hal.sim.world import make_world, reserve_noise_tables

APT_TRACK = 3  # flight/apt.py's TRACK state
COMP_LOCKED = 4  # flight/comparator.py's LOCKED state
WARM_LIMIT_US = 30000000  # the bound on SESSION → TRACK + LOCKED (simulated)
SETTLE_LIMIT_US = 60000000  # on to steady TRACK (settle): the knee's whole calibration


def make_rig(make_clock, world_hook=None, reserve=True, frame_rate_hz=None):
    """(world, clock, board): the nominal pass (seed 1) with the beacon in view one second
    into the session, on the clock ``make_clock()`` (made after the world, as the benches
    always did: the heap's layout, and with it its largest free block, follows the order
    of these allocations).  ``world_hook(world)`` before the clock.  The truth records are
    off (they grow the heap and are no flight memory).  ``reserve``: the camera model's
    noise tables allocated now (else :func:`reserve_tables` later), on the heap before
    the simulator's garbage fragments it (a ~11 kB block asked for mid-pass can fail).
    ``frame_rate_hz``: the camera's frame rate (the world's ``frame_rate_hz``; None: the
    board's, hal.interfaces.CAMERA_FRAME_PERIOD_US)."""
    ov = {} if frame_rate_hz is None else {"frame_rate_hz": frame_rate_hz}
    world = make_world("nominal", seed=1, pass_start_s=-150.0, session_start_s=1.0, **ov)
    rec = getattr(world, "rec", None)
    if rec is not None:
        rec.enabled = False
    if world_hook is not None:
        world_hook(world)
    clock = make_clock()
    board = make_board(clock=clock, world=world)
    if reserve:
        reserve_tables(world)
    return world, clock, board


def reserve_tables(world):
    """Every noise-table slot of the world's camera model allocated now."""
    cam = world.cam_model
    reserve_noise_tables(cam, "H", len(cam._slots))


def relay(world, app, bracket=True):
    """The OBC's relay of the pointing feedback to the platform ADCS (as ``python -m
    flight`` does): not flight code, so inside a physics bracket when ``bracket``."""
    def _relay(b):
        t = world.physics_begin() if bracket else 0
        world.adcs_feedback(bool(b.get("valid")), b["err_x_urad"] * 1e-6,
                            b["err_y_urad"] * 1e-6, bool(b.get("offload")),
                            b["fsm_x_urad"] * 1e-6, b["fsm_y_urad"] * 1e-6)
        if bracket:
            world.physics_end(t)
    app.adcs_hook = _relay


def boot(app, board, after=None):
    """Power-on boot and half a second of running (the boot's own work done);
    ``after()`` between the two."""
    app.boot(reset_cause="POWER_ON")
    if after is not None:
        after()
    app.run_for(500000)
    board.link.take()


def to_track(app, board, clock, each=None):
    """STANDBY, then SESSION until the APT tracks and the comparator locks (at most
    WARM_LIMIT_US simulated); ``each()`` after every 100 ms.  Returns the simulated
    microseconds it took."""
    app.modes.request("STANDBY")
    app.run_for(500000)
    app.modes.request("SESSION")
    apt = app.payload["apt"]
    comp = app.payload["comparator"]
    t0 = clock.elapsed_us
    while not (apt.state == APT_TRACK and comp.state == COMP_LOCKED):
        app.run_for(100000)
        board.link.take()
        if each is not None:
            each()
        if clock.elapsed_us - t0 > WARM_LIMIT_US:
            break
    return clock.elapsed_us - t0


def knee_busy(app):
    """The session start's breakdown-knee calibration still holds its code (its sweep,
    report or hindsight: flight/knee_owner.py ``knee``; False on a board without it)."""
    owner = app.payload.get("bias_knee")
    return owner is not None and owner.knee is not None


def settle(app, board, clock, each=None):
    """After :func:`to_track`: on until the session start's calibrations are done (the
    knee's code released, :func:`knee_busy`), at most SETTLE_LIMIT_US simulated;
    ``each()`` after every 100 ms.  Returns the simulated microseconds it took.  The
    TRACK heap of the budget is steady TRACK's: the knee's code and state (~4.3 kB on
    the target bench, loaded for the calibration and released after, flight/lazy.py)
    are still held for a few seconds of some sessions' TRACK, reported apart."""
    t0 = clock.elapsed_us
    while knee_busy(app) and clock.elapsed_us - t0 <= SETTLE_LIMIT_US:
        app.run_for(100000)
        board.link.take()
        if each is not None:
            each()
    return clock.elapsed_us - t0


def sim_bytes(board):
    """Heap octets the simulated flash's blobs hold (on the board, flash: no heap), the
    one part of the simulator that grows after its construction as the flight runs (the
    world's residual history is a ring preallocated with it, hal/sim/finetruth.py; the
    camera model's noise tables are counted apart by the benches).  Measured: the
    allocation (``gc.mem_alloc`` before and after, the heap collected first) of an equal
    copy of each blob (``bytes`` of its octets, as MemStorage.write stores them) and of
    the blob dict's table (``dict.copy`` keeps its size), less an empty dict (the dict
    itself is the baseline's: nothing is written before the flight runs)."""
    import gc

    blobs = board.storage.blobs
    keep = [None]  # type: list  # the copy measured (held here: nothing else allocated)
    gc.collect()
    n = 0
    for b in blobs.values():
        keep[0] = bytearray(b)  # (its own allocation before the reading)
        a0 = gc.mem_alloc()
        keep[0] = bytes(keep[0])
        n += gc.mem_alloc() - a0
        keep[0] = None
    a0 = gc.mem_alloc()
    keep[0] = blobs.copy()
    n += gc.mem_alloc() - a0
    a0 = gc.mem_alloc()
    keep[0] = {}
    n -= gc.mem_alloc() - a0
    keep[0] = None
    return n
