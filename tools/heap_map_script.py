"""The part of ``python -m tools.heap_map`` that runs on the QEMU Cortex-M7 image: the
measuring script, sent through the raw REPL (tools/target.py) with the flight code frozen
in the image.  What it measures and how: tools/heap_map.py."""

SCRIPT = r"""
import gc, json, sys, builtins
from array import array
from hal.clock import VirtualClock
from hal.sim.heap_est import noise_table_bytes
from hal.sim import session
from hal.sim import heap_est
from hal.sim.heap_est import blk, est, slots

R = {'phase': 'start', 'errors': []}
SIM_GC_FREE = 196608
HEAP_LO, HEAP_HI = %(heap_lo)d, %(heap_hi)d  # the GC heap's addresses (the ELF's gc_heap)
heap_est.set_heap(HEAP_LO, HEAP_HI)  # (an object outside: a constant frozen in flash)


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


def emit(key):
    # A list of results printed now (the host reads it as at the end) and dropped: what
    # the map holds must not be live in the TRACK figure (the boot's rows: kB).
    v = R.pop(key)
    print('RESULTL' + key)
    for x in v:
        print('RESULTI' + json.dumps(x))


def sim_grown(rows_key=None):
    # Octets the simulator's state grew since SIM0 (hal/sim/heap_est.py: the flash blobs
    # apart, measured by sim_bytes), subtracted from the live figure, as the target bench
    # does; its rows printed under rows_key; None when the walk's id sets find no block on
    # the heap: then nothing is subtracted.  (Its dicts and sets live in this frame only:
    # garbage for the live() reading after.)
    try:
        n, rows = heap_est.sim_growth(SIM0, heap_est.sim_parts(world, board, app))
    except MemoryError:
        return None
    if rows_key is not None:
        R[rows_key] = rows
        rows = None
        emit(rows_key)
    return n


# The simulator's state estimated per part (hal/sim/heap_est.py, as the target bench): its
# growth since here is the simulator's, not the flight's.  (The walk's own garbage is
# collected before the baseline below.)
SIM0 = heap_est.sim_parts(world, board)
app = _g = None  # (bound before the baseline: bound below)
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


_g = sim_grown()
if _g is None:
    R['sim_growth_boot_skipped'] = 'MemoryError'
R['heap_sim_growth_boot_bytes'] = _g
R['heap_live_boot_bytes'] = live() - base - (noise_table_bytes(cam) - tb0) \
    - R['heap_sim_boot_bytes'] - (_g or 0)
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
        total = 16 + blk(8 * slots(len(d)))
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
    session.settle(app, board, clock, _sim_gc)  # steady TRACK: the knee's code released
    for k in range(200):  # 2 s in TRACK
        app.run_for(10000)
        if gc.mem_free() < SIM_GC_FREE:
            gc.collect()
    board.link.take()
    R['apt_state'] = apt.state
    R['comparator_state'] = comp.state
    R['heap_sim_bytes'] = session.sim_bytes(board)
    _g = sim_grown('sim_growth')  # (its rows printed and dropped before the figure)
    if _g is None:
        R['sim_growth_skipped'] = 'MemoryError'
    R['heap_sim_growth_bytes'] = _g
    R['heap_live_track_bytes'] = live() - base - (noise_table_bytes(cam) - tb0) \
        - R['heap_sim_bytes'] - (_g or 0)
    R['attributes_track'] = attributes()
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
        out.append([mname, '(globals)', len(d), 16 + blk(8 * slots(len(d)))])
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
