"""The part of ``python -m tools.heap_map`` that runs on the QEMU Cortex-M7 image: the
measuring script, sent through the raw REPL (tools/target.py) with the flight code frozen
in the image.  What it measures and how: tools/heap_map.py."""

SCRIPT = r"""
import gc, json, sys, builtins
from array import array
from hal.clock import VirtualClock
from hal.sim.world import noise_table_bytes
from hal.sim import session

R = {'phase': 'start', 'errors': []}
SIM_GC_FREE = 196608
HEAP_LO, HEAP_HI = %(heap_lo)d, %(heap_hi)d  # the GC heap's addresses (the ELF's gc_heap)


def live():
    gc.collect()
    return gc.mem_alloc()


world, clock, board = session.make_rig(  # as the target bench: hal/sim/session.py
    lambda: VirtualClock(charge_cpu=False, cpu_scale=10.0))
cam = world.cam_model
tb0 = noise_table_bytes(cam)

# Bookkeeping preallocated: the wrappers below allocate nothing that stays live.
MAXN = 160
names = [None] * MAXN
incl = array('i', [0] * MAXN)
excl = array('i', [0] * MAXN)
count = array('i', [0] * MAXN)
kinds = bytearray(MAXN)  # 1 import, 2 construction
child = array('i', [0] * 32)  # per nesting depth: bytes of the children measured
depth = [0]
used = [0]
slot_of = {}
for _k in range(MAXN):
    slot_of['%%d' %% _k] = _k  # sized once: no rehash while measuring
slot_of.clear()
_orig_import = builtins.__import__
_ret = [None]


def _slot(name, kind):
    i = slot_of.get(name)
    if i is None:
        i = used[0]
        used[0] = i + 1
        names[i] = name
        kinds[i] = kind
        slot_of[name] = i
    return i


def _begin():
    d = depth[0]
    child[d + 1] = 0
    depth[0] = d + 1
    return live()


def _end(i, t0):
    d = depth[0]
    n = live() - t0
    depth[0] = d - 1
    incl[i] += n
    excl[i] += n - child[d]
    count[i] += 1
    child[d - 1] += n


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if level or name in sys.modules or not (name.startswith('flight') or name.startswith('hal')):
        return _orig_import(name, globals, locals, fromlist, level)
    i = _slot(name, 1)
    t0 = _begin()
    try:
        _ret[0] = _orig_import(name, globals, locals, fromlist, level)
    finally:
        _end(i, t0)
    r = _ret[0]
    _ret[0] = None
    return r


def _size_of(v):
    try:
        return len(v)
    except Exception:
        return None


SIZES = (0, 2, 4, 6, 8, 10, 12, 17, 23, 29, 37, 47, 59, 73, 97, 127, 167, 223, 293, 389, 521)


def _blk(n):
    return (n + 15) & ~15


def _alloc(n):  # a hash table's slots: grown by py/map.c's sizes when full
    for a in SIZES:
        if a >= n:
            return a
    return n + n // 3


def est(v, seen, depth=0, sim=False):
    # Estimated heap bytes of v and what it alone reaches (the first owner walked counts
    # a shared object; functions, classes and modules are import memory, not counted).
    i = id(v)
    if i in seen:
        return 0
    if HEAP_HI and not HEAP_LO <= i < HEAP_HI:
        return 0  # frozen: a constant in flash (and all it holds), no heap
    seen.add(i)
    t = type(v)
    if t.__name__ == 'bound_method':
        return 16
    if v is None or t in (bool, int, str, type) or callable(v) and not hasattr(v, '__dict__'):
        return 0
    if t is float:
        return 16
    if t in (bytearray, array):
        return 16 + _blk(len(v) * (1 if t is bytearray else _isz(v)))
    if t is bytes:
        return _blk(16 + len(v))
    if t is memoryview:
        return 16
    if t is tuple:
        return _blk(8 + 4 * len(v)) + sum(est(x, seen, depth + 1, sim) for x in v)
    if t is list:
        return 16 + _blk(4 * max(4, len(v))) + sum(est(x, seen, depth + 1, sim) for x in v)
    if t is dict:
        return 16 + _blk(8 * _alloc(len(v))) + sum(est(k, seen, depth + 1, sim) + est(x, seen, depth + 1, sim)
                                                   for k, x in v.items())
    d = getattr(v, '__dict__', None)
    if d is None or t.__name__ == 'module':
        return 16
    if not sim and not getattr(t, '__module__', 'flight').startswith('flight'):
        return 0  # the simulated board and world: not flight memory
    return 16 + _blk(8 * _alloc(len(d))) + sum(est(x, seen, depth + 1, sim) for x in d.values())


def _isz(a):
    return len(bytes(a[:1])) if len(a) else 4


def _flight_buffers(v, seen, vis, depth):
    # The buffers (arrays, bytearrays, lists) the flight objects hold, down to the
    # payload modules' parts, into seen (a full walk's id set needs a block the heap may
    # not have in TRACK; the flight objects visited go to vis, dropped after).
    d = getattr(v, '__dict__', None)
    if d is None or id(v) in vis or not getattr(type(v), '__module__', '').startswith('flight'):
        return
    vis.add(id(v))
    for x in list(d.values()) + (list(v.payload.values()) if depth == 0 else []):
        if type(x) in (bytearray, array, list, memoryview):
            seen.add(id(x))
        elif depth < 3:
            _flight_buffers(x, seen, vis, depth + 1)


def sim_parts():
    # The simulator's own state, estimated per attribute of the world, the board and
    # their devices.  What the flight reaches is walked first and left out: a flight
    # buffer the simulated camera keeps a view of (its _mv_src) is flight memory.
    gc.collect()
    tops = [world, board] + list(board.__dict__.values()) + list(world.__dict__.values())
    seen = set(id(v) for v in tops)
    if 'app' in globals():
        vis = set(seen)  # (the simulator's devices: not entered)
        _flight_buffers(app, seen, vis, 0)  # the flight's own buffers: not the simulator's
        vis = None
        gc.collect()
    for v in tops[2:]:
        seen.discard(id(v))
    out = {}
    for k, v in list(board.__dict__.items()):
        if hasattr(v, '__dict__') and not isinstance(v, type):
            seen.add(id(v))
            for k2, v2 in list(v.__dict__.items()):
                out['board.' + k + '.' + k2] = est(v2, seen, 0, True)
        else:
            out['board.' + k] = est(v, seen, 0, True)
    for k, v in list(world.__dict__.items()):
        out['world.' + k] = est(v, seen, 0, True)
    return out


SIM0 = sim_parts()  # (its own garbage is collected before the baseline below)
base = live()
R['heap_base_world_bytes'] = base
builtins.__import__ = _import
import flight.app
R['heap_code_bytes'] = live() - base
R['modules_after_app_import'] = sorted(k for k in sys.modules if k.startswith('flight'))

# Constructions: every flight class's own __init__, wrapped while the app is built.
_inits = []
_seen = []


def _wrap_class(cls):
    d = getattr(cls, '__dict__', None)
    if d is None or '__init__' not in d or cls in _seen:
        return
    _seen.append(cls)
    orig = d['__init__']
    i = _slot(cls.__name__, 2)

    def init(self, *a, **k):
        t0 = _begin()
        try:
            orig(self, *a, **k)
        finally:
            _end(i, t0)
    _inits.append((cls, orig, init))


def _wrap_all():
    for mname in list(sys.modules):
        if not mname.startswith('flight'):
            continue
        m = sys.modules[mname]
        for v in list(m.__dict__.values()):
            if isinstance(v, type) and getattr(v, '__module__', None) == mname \
                    and not issubclass(v, BaseException):
                _wrap_class(v)
    for cls, orig, init in _inits:
        setattr(cls, '__init__', init)


def _unwrap():
    for cls, orig, init in _inits:
        setattr(cls, '__init__', orig)
    del _inits[:]
    del _seen[:]


from flight.keys import Keyring
# the payload modules' classes are imported (and wrapped) before the app is built
import flight.payload
import flight.components
flight.components.modules()
_wrap_all()
from flight.app import FlightApp
t0 = live()
app = FlightApp(board, keyring=Keyring())
R['heap_app_built_bytes'] = live() - t0
session.relay(world, app, bracket=False)
session.boot(app, board, _unwrap)  # the boot's constructions measured, not the run's
R['heap_sim_boot_bytes'] = session.sim_bytes(board)
R['heap_live_boot_bytes'] = live() - base - (noise_table_bytes(cam) - tb0) \
    - R['heap_sim_boot_bytes']
R['phase'] = 'boot'


def attributes():
    # Each component (the app's flight objects, the payload modules, the command owners)
    # with its own data: the walk stops at the other components (counted in their row).
    comps = [('app', app)]
    for k, v in app.__dict__.items():
        if getattr(type(v), '__module__', '').startswith('flight') and hasattr(v, '__dict__'):
            comps.append(('app.' + k, v))
    for k, v in app.payload.items():
        comps.append((k, v))
    roots = set(id(v) for _, v in comps)
    out = []
    for name, c in comps:
        seen = set(roots)  # per component (a fragmented heap in TRACK: keep sets small)
        gc.collect()
        d = c.__dict__
        total = 16 + _blk(8 * _alloc(len(d)))
        rows = []
        for k in list(d.keys()):
            v = d[k]
            n = est(v, seen)
            total += n
            if n >= 64 and id(v) not in roots:
                rows.append([name + '.' + k, type(v).__name__, _size_of(v), n])
        out.append([name, type(c).__name__, None, total])
        out.extend(rows)
    return out


def emit(key):
    # A list of results printed now (the host reads it as at the end) and dropped: what
    # the map holds must not be live in the TRACK figure (the boot's rows: kB).
    v = R.pop(key)
    print('RESULTL' + key)
    for x in v:
        print('RESULTI' + json.dumps(x))


R['attributes_boot'] = attributes()
emit('attributes_boot')


def _sim_gc():
    if gc.mem_free() < SIM_GC_FREE:
        gc.collect()


if %(track)d:
    apt = app.payload['apt']
    comp = app.payload['comparator']
    R['phase'] = 'warm'
    session.to_track(app, board, clock, _sim_gc)
    for k in range(200):  # 2 s in TRACK
        app.run_for(10000)
        if gc.mem_free() < SIM_GC_FREE:
            gc.collect()
    board.link.take()
    R['apt_state'] = apt.state
    R['comparator_state'] = comp.state
    R['heap_sim_bytes'] = session.sim_bytes(board)
    R['heap_live_track_bytes'] = live() - base - (noise_table_bytes(cam) - tb0) \
        - R['heap_sim_bytes']
    R['attributes_track'] = attributes()
    if SIM0 is not None:
        try:  # (an estimate: its walk's id set may find no block on the TRACK heap)
            s1 = sim_parts()
            R['sim_growth'] = [[k, s1[k] - SIM0.get(k, 0)] for k in s1
                               if s1[k] != SIM0.get(k, 0)]
        except MemoryError:
            R['sim_growth_skipped'] = 'MemoryError'
        s1 = None
    R['phase'] = 'track'
R['modules_in_track'] = sorted(k for k in sys.modules if k.startswith('flight'))


def module_data():
    # What each held flight module's globals hold on the heap besides its functions and
    # classes (tables and objects its top level built; a frozen constant costs nothing),
    # and the slots of its globals dict.
    out = []
    seen = set()
    for mname in R['modules_in_track']:
        m = sys.modules[mname]
        d = m.__dict__
        out.append([mname, '(globals)', len(d), 16 + _blk(8 * _alloc(len(d)))])
        for k in list(d.keys()):
            v = d[k]
            if isinstance(v, type) or type(v).__name__ in ('function', 'module', 'bound_method'):
                continue
            n = est(v, seen)
            if n >= 32:
                out.append([mname, k, _size_of(v), n])
    return out


try:
    gc.collect()
    R['module_data'] = module_data()
except MemoryError:
    R['module_data'] = None
R['records'] = [[names[i], kinds[i], incl[i], excl[i], count[i]] for i in range(used[0])]
"""

WRAPPER = r"""
try:
%(body)s
except Exception as _e:
    import io
    _b = io.StringIO()
    sys.print_exception(_e, _b)
    R['errors'].append(_b.getvalue())
try:
    R['records'] = [[names[i], kinds[i], incl[i], excl[i], count[i]] for i in range(used[0])]
except Exception:
    pass
# One line per value (per row of a list): the heap may have no block for the whole.
for _k in list(R.keys()):
    _v = R.pop(_k)
    if isinstance(_v, list):
        print('RESULTL' + _k)
        for _x in _v:
            print('RESULTI' + json.dumps(_x))
    else:
        print('RESULTK' + json.dumps([_k, _v]))
    _v = None
"""
