"""Heap octets of an object graph, estimated from MicroPython's layouts on the 32-bit
target, and the simulator's own share of the heap (issue 11: the benches count the
flight's heap alone).  The one home of both: ``python -m tools.heap_map`` (its per-attribute
rows, ``sim_growth``) and ``python -m tools.target_bench`` (``heap_sim_growth_bytes``,
subtracted from its live figures) import this module on the target.

The layouts: every heap block is 16 octets; a boxed float one block; a tuple its header
and items; a list its object and its items (at least 4 slots); a dict or an instance its
object and its hash table (py/map.c's sizes, 8 octets a slot); an array or bytearray its
object and its items; a memoryview its object (the buffer is its owner's).  The first
owner walked counts a shared object; functions, classes and modules are import memory,
not counted; an object outside the GC heap (``set_heap``) is a constant frozen in flash.

MicroPython: plain Python, frozen with hal/sim into the test image.
"""

from array import array

_HEAP = [0, 0]  # (first, end) address of the GC heap; (0, 0): unknown, all counted
# py/map.c's hash-table sizes (a table grows to the next when full)
SIZES = (0, 2, 4, 6, 8, 10, 12, 17, 23, 29, 37, 47, 59, 73, 97, 127, 167, 223, 293, 389, 521)
# Parts of the simulator measured apart by the benches, not estimated:
# hal/sim/session.py sim_bytes (the simulated flash's blobs)
MEASURED = ("board.storage.blobs",)


def set_heap(lo, hi):
    """The GC heap's addresses (the image's ``gc_heap``, tools/heap_map.py heap_range):
    an object outside them is frozen in flash and costs no heap."""
    _HEAP[0] = lo
    _HEAP[1] = hi


def blk(n):
    """Octets of the heap blocks holding ``n`` octets."""
    return (n + 15) & ~15


def slots(n):
    """Slots of a hash table holding ``n`` entries (py/map.c's sizes)."""
    for a in SIZES:
        if a >= n:
            return a
    return n + n // 3


def _isz(a):
    return len(bytes(a[:1])) if len(a) else 4


def _flight(t):
    return getattr(t, "__module__", "").startswith("flight")


def est(v, seen, depth=0, sim=False):
    """Estimated heap octets of ``v`` and of what it alone reaches (ids in ``seen`` are
    counted already: the first owner walked counts a shared object).  An instance counts
    on its own side only: a flight walk (``sim`` False) stops at the simulator's objects,
    a simulator walk at the flight's."""
    i = id(v)
    if i in seen:
        return 0
    if _HEAP[1] and not _HEAP[0] <= i < _HEAP[1]:
        return 0  # frozen: a constant in flash (and all it holds), no heap
    seen.add(i)
    t = type(v)
    if t.__name__ == "bound_method":
        return 16
    if v is None or t in (bool, int, str, type) or callable(v) and not hasattr(v, "__dict__"):
        return 0
    if t is float:
        return 16
    if t in (bytearray, array):
        return 16 + blk(len(v) * (1 if t is bytearray else _isz(v)))
    if t is bytes:
        return blk(16 + len(v))
    if t is memoryview:
        return 16
    if t is tuple:
        return blk(8 + 4 * len(v)) + sum(est(x, seen, depth + 1, sim) for x in v)
    if t is list:
        return 16 + blk(4 * max(4, len(v))) + sum(est(x, seen, depth + 1, sim) for x in v)
    if t is dict:
        return 16 + blk(8 * slots(len(v))) + sum(est(k, seen, depth + 1, sim)
                                                 + est(x, seen, depth + 1, sim)
                                                 for k, x in v.items())
    d = getattr(v, "__dict__", None)
    if d is None or t.__name__ == "module":
        return 16
    if sim:
        if _flight(t):
            return 0  # a flight object the simulator holds: flight memory
    elif not getattr(t, "__module__", "flight").startswith("flight"):
        return 0  # the simulated board and world: not flight memory
    return 16 + blk(8 * slots(len(d))) + sum(est(x, seen, depth + 1, sim) for x in d.values())


def flight_buffers(v, seen, vis, depth=0):
    """The buffers (arrays, bytearrays, lists, memoryviews) the flight objects from ``v``
    (the application) hold, down to the payload modules' parts, into ``seen`` (a full
    walk's id set needs a block the heap may not have in TRACK; the flight objects
    visited go to ``vis``, dropped after)."""
    d = getattr(v, "__dict__", None)
    if d is None or id(v) in vis or not _flight(type(v)):
        return
    vis.add(id(v))
    for x in list(d.values()) + (list(v.payload.values()) if depth == 0 else []):
        if type(x) in (bytearray, array, list, memoryview):
            seen.add(id(x))
        elif depth < 3:
            flight_buffers(x, seen, vis, depth + 1)


def sim_parts(world, board, app=None):
    """{attribute: estimated octets} of the simulator's own state: each attribute of the
    world, of the board and of the board's devices.  What the flight reaches is walked
    first and left out: a flight buffer the simulated camera keeps a view of (its
    ``_mv_src``) is flight memory, and so is a flight object.  The camera model's noise
    tables are left out too (the benches count them apart: :func:`noise_table_bytes`).
    Collect after: the walk's id sets are garbage."""
    import gc

    gc.collect()
    tops = [world, board] + list(board.__dict__.values()) + list(world.__dict__.values())
    seen = set(id(v) for v in tops)
    for sl in getattr(getattr(world, "cam_model", None), "_slots", ()):
        seen.add(id(sl[4]))
    if app is not None:
        vis = set(seen)  # (the simulator's devices: not entered)
        flight_buffers(app, seen, vis, 0)  # the flight's own buffers: not the simulator's
        vis.clear()
        del vis
        gc.collect()
    for v in tops[2:]:
        seen.discard(id(v))
    out = {}
    for k, v in list(board.__dict__.items()):
        if hasattr(v, "__dict__") and not isinstance(v, type):
            seen.add(id(v))
            for k2, v2 in list(v.__dict__.items()):
                out["board." + k + "." + k2] = est(v2, seen, 0, True)
        else:
            out["board." + k] = est(v, seen, 0, True)
    for k, v in list(world.__dict__.items()):
        out["world." + k] = est(v, seen, 0, True)
    return out


def sim_total(parts):
    """The sum of :func:`sim_parts` less the parts the benches measure apart
    (``MEASURED``): one number to keep at a baseline (no names held), whose difference
    is :func:`sim_growth`'s."""
    return sum(n for k, n in parts.items() if k not in MEASURED)


def sim_growth(before, after):
    """(octets, rows) the simulator's state grew from ``before`` to ``after`` (two
    :func:`sim_parts`): rows ``[attribute, delta]`` of every part that changed, and the
    net sum over them less the parts the benches measure apart (``MEASURED``), so that
    nothing is subtracted twice.  Net, not the positive deltas alone: a part that shrank
    (or a shared object counted under another owner) freed what it held, and leaving it
    out would subtract more than the simulator grew, understating the flight's heap."""
    rows = []
    n = 0
    for k in after:
        d = after[k] - before.get(k, 0)
        if d:
            rows.append([k, d])
            if k not in MEASURED:
                n += d
    for k in before:
        if k not in after:
            rows.append([k, -before[k]])
            if k not in MEASURED:
                n -= before[k]
    return n, rows


def noise_table_bytes(cam):
    """Heap octets held by a camera model's noise-table cache (sim/camera.py ``_table``:
    per slot in use a memoryview of a bytearray (kind "B") or of an ``array('H')``, or a
    list of small ints): the simulator's memory, which the benches subtract from the
    flight software's heap."""
    n = 0
    for sl in cam._slots:
        t = sl[4]
        if t is not None:
            n += 4 * len(t) if isinstance(t, list) else len(t) * (1 if sl[1] == "B" else 2)
    return n
