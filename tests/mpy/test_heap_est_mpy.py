"""hal/sim/heap_est.py, the heap estimate the heap map and the target bench share (issue
11: the benches count the flight's heap alone): MicroPython's layouts on the 32-bit target
(the same figures on every interpreter: an estimate, not a measure), and the simulator's
growth on a known world and board: the FSM queue's tuples and a re-boxed float counted,
the flash blobs reported but left to their measure, the camera's noise tables left to
theirs, a flight buffer and a flight object the simulated devices hold left to the
flight."""

import gc
import sys
from array import array

from hal.sim import heap_est as H


def _f(k):
    return float(k) / 3  # a float made now (a literal can be a shared or frozen constant)


def test_layouts_of_the_32_bit_target():
    assert H.est(_f(1), set()) == 16  # a boxed float: one block
    assert H.est(7, set()) == 0 and H.est(None, set()) == 0 and H.est("abc", set()) == 0
    sample = (1000, _f(1), _f(2))  # (t_us, cx, cy): a header of 8 + 3 slots, two floats
    assert H.est(sample, set()) == 32 + 2 * 16
    q = [(1000, _f(1), _f(2)), (2000, _f(3), _f(4))]
    assert H.est(q, set()) == 16 + 16 + 2 * 64  # the list, its 4 slots, its items
    assert H.est(bytearray(100), set()) == 16 + 112
    assert H.est(array("H", range(10)), set()) == 16 + 32
    assert H.est(bytes(100), set()) == 128  # header and octets in one allocation
    assert H.est({"a": _f(1)}, set()) == 16 + 16 + 16  # object, 2 slots of 8, the float
    x = _f(5)
    seen = set()
    assert H.est([x, x], seen) == 32 + 16 and H.est(x, seen) == 0  # the first owner counts
    assert [H.slots(n) for n in (0, 1, 12, 13, 521)] == [0, 2, 12, 17, 521]


def test_an_object_outside_the_gc_heap_is_frozen_and_costs_nothing():
    x = _f(1)
    try:
        H.set_heap(1, 2)  # (no object lies there)
        assert H.est(x, set()) == 0
    finally:
        H.set_heap(0, 0)
    assert H.est(x, set()) == 16


class Dev:  # a simulated device (hal/sim): the simulator's side
    def __init__(self):
        self.last = None
        self.owner = None


class Storage:
    def __init__(self):
        self.blobs = {}


class Cam:
    def __init__(self):
        self._slots = [[0, "H", 0, 0, array("H", range(100))]]


class World:
    def __init__(self):
        self.t = None
        self._fsm_q = []
        self.hist = [_f(1), _f(2)]
        self.cam_model = Cam()


class Board:
    def __init__(self):
        self.storage = Storage()
        self.camera = Dev()


class Part:  # a flight object (its module: the flight's)
    __module__ = "flight.fake"

    def __init__(self):
        self.buf = bytearray(256)


class App:
    __module__ = "flight.app"

    def __init__(self):
        self.part = Part()
        self.payload = {}


def _run(world, board, app):
    # What a pass does to the simulator: a float re-boxed, two FSM samples in flight, a
    # blob written, a noise table rebuilt larger, a history shortened, and the simulated
    # camera holding a flight frame buffer and a flight object.
    world.t = _f(7)
    world._fsm_q.append((1000, _f(1), _f(2)))
    world._fsm_q.append((2000, _f(3), _f(4)))
    board.storage.blobs["k"] = bytes(100)
    world.cam_model._slots[0][4] = array("H", range(200))
    world.hist.pop()
    board.camera.last = app.part.buf
    board.camera.owner = app.part


def test_the_simulator_s_growth_is_its_own_alone():
    world, board, app = World(), Board(), App()
    p0 = H.sim_parts(world, board)
    _run(world, board, app)
    p1 = H.sim_parts(world, board, app)
    n, rows = H.sim_growth(p0, p1)
    rows = dict(rows)
    assert rows["world.t"] == 16
    assert rows["world._fsm_q"] == 2 * 64
    assert rows["world.hist"] == -16  # net: what shrank freed its block
    assert rows["board.storage.blobs"] == 16 + 128  # reported, measured apart (sim_bytes)
    assert "board.camera.last" not in rows  # the flight's buffer: flight memory
    assert "board.camera.owner" not in rows  # a flight object: flight memory
    assert "world.cam_model" not in rows  # the noise tables: counted apart
    assert n == 16 + 128 - 16  # the blobs left out: nothing subtracted twice
    assert H.sim_total(p1) - H.sim_total(p0) == n  # the bench keeps the one number
    # without the application the frame buffer would count as the simulator's
    n2, rows2 = H.sim_growth(p0, H.sim_parts(world, board))
    assert dict(rows2)["board.camera.last"] == 16 + 256 and n2 == n + 272


def _walk(world, board, app, p0):
    return H.sim_growth(p0, H.sim_parts(world, board, app))[0]


def test_the_walk_leaves_nothing_live():
    # Where gc.collect() collects: the QEMU image, the unix port (in the WebAssembly VM it
    # only marks a collection pending until control returns to JavaScript:
    # tests/mpy/test_tc_robust_heap_mpy.py; CPython has no heap figures).
    if not hasattr(gc, "mem_alloc") or sys.platform == "webassembly":
        return
    world, board, app = World(), Board(), App()
    p0 = H.sim_parts(world, board)
    _run(world, board, app)
    gc.collect()
    a = gc.mem_alloc()
    n = _walk(world, board, app, p0)
    gc.collect()
    b = gc.mem_alloc()
    assert n == 128 and b == a, (b - a)  # its dicts and id sets: garbage, collected
