"""Parts of the target bench's script (tools/target_bench.py), run on the target: the
timing and collection helpers that keep the flight figures honest, and the --trace and
--profile diagnostics.  Kept apart so each file stays small; target_bench.script()
puts them in place."""

HELPERS = r"""
GLITCH = [0]  # readings corrected (reported raw: ticks_us_glitches)
def now_us():
    # ticks_us of this port (ports/qemu mcu/arm/ticks.c reads the ms count, then SysTick)
    # is 999 us AHEAD when read in the SysTick period (40 instructions) after the wrap
    # interrupt counted the ms while the counter still reads 0 (docs/design.md, target
    # bench).  Of two readings (> 40 instructions apart) at most one is off: keep the other.
    a = ticks_us()
    b = ticks_us()
    d = ticks_diff(b, a)
    if d < 0 or d >= 500:
        GLITCH[0] += 1
        return b if d < 0 else a
    return b


class TimedGc:
    # The scheduler's idle collections and heap walks, timed and charged to virtual time.
    def __init__(self):
        self.max_us = 0
        self.runs = 0
        self.total_us = 0
        self.walks = 0
        self.walk_us = 0
        self.clock = None

    def collect(self):
        t0 = now_us()
        gc.collect()
        d = ticks_diff(now_us(), t0)
        self.runs += 1
        self.total_us += d
        if d > self.max_us:
            self.max_us = d
        simgc.after()
        if self.clock is not None:
            self.clock.advance(int(d * self.clock.cpu_scale))

    def mem_free(self):
        # The scheduler's heap walks: idle work of the board too, timed and charged.
        t0 = now_us()
        f = gc.mem_free()
        d = ticks_diff(now_us(), t0)
        self.walks += 1
        self.walk_us += d
        if self.clock is not None:
            self.clock.advance(int(d * self.clock.cpu_scale))
        return f

    def __getattr__(self, name):
        return getattr(gc, name)


tgc = TimedGc()
from micropython import mem_current  # bytes allocated minus bytes freed explicitly, O(1)


def _since(a, b):
    # b - a of two mem_current() readings (a small int: wraps at 2**31 on this port;
    # explicit frees can make it fall a little)
    d = b - a
    if d >= 0:
        return d
    return d + 2147483648 if d < -536870912 else 0


class SimGc:
    # The simulator's collections (module comment at SIM_GC_MARGIN), made in the clock's
    # step hook: after every dispatch and every idle sleep, so between any two flight
    # calls.  Free heap estimate, O(1): the free bytes after the last collection less
    # twice what was allocated since (a block is 16 octets: a boxed float of 8 takes
    # two); only when that says "maybe" is the heap walked (gc.mem_free) for the truth.
    def __init__(self):
        self.runs = 0
        self.walks = 0
        self.free_after = 0
        self.mark = mem_current()
        self.last = self.mark
        self.call_max = 0  # largest allocation between two step hooks (one flight call)
        self.sched = None

    def collect(self):
        gc.collect()
        self.runs += 1
        self.after()

    def after(self):  # (also after the scheduler's own idle collections)
        self.free_after = gc.mem_free()
        self.mark = mem_current()

    def step(self):
        c = mem_current()
        d = _since(self.last, c)
        if d > self.call_max:
            self.call_max = d
        if self.free_after - 2 * _since(self.mark, c) < SIM_GC_MARGIN:
            self.walks += 1
            f = gc.mem_free()
            if f < SIM_GC_MARGIN:
                self.collect()
            else:  # the estimate was pessimistic: restart it from the truth
                self.free_after = f
                self.mark = c
        c = mem_current()
        self.last = c
        sc = self.sched
        if sc is not None:
            # The scheduler's own heap estimate (flight/scheduler.py: walks only when
            # the free heap may be near its floor) counts the flight's allocation only:
            # on the board there is no simulator allocating.
            sc._heap_walked = self.free_after - 2 * _since(self.mark, c)
            sc._heap_mark = c


simgc = SimGc()


def largest_free():
    # Largest block the heap can still give: bisect on a bytearray allocation.
    gc.collect()
    lo, hi = 0, gc.mem_free()
    while hi - lo > 64:
        mid = (lo + hi) // 2
        try:
            b = bytearray(mid)
            b = None
            lo = mid
        except MemoryError:
            hi = mid
    return lo


def sim_state(a=None):
    # The simulator's state (the world, the board, their devices) estimated part by part
    # (hal/sim/heap_est.py), less the flash blobs (measured apart: session.sim_bytes); the
    # flight's buffers and objects reached from ``a`` (the application) left to the
    # flight.  The walk's dicts and id sets live in this call's frame only: garbage for
    # the live() reading after (one number kept: no names held at the baseline).
    return heap_est.sim_total(heap_est.sim_parts(world, board, a))


def sim_grown():
    # What the simulator's state grew since the baseline (SIM0), subtracted from the
    # flight's live figure; None when the walk finds no block on the heap: then nothing
    # is subtracted (never an understated flight figure).
    try:
        return sim_state(app) - SIM0
    except MemoryError:
        return None


PHASES = ('nominal_100', 'nominal_50', 'flood_100')  # the measured phases


def records():
    # The bench's own records so far: the measured phases' and the --trace ones.
    return [k for k in R if k in PHASES or k.startswith('trace_')]


def set_aside(keys):
    # The bench's own records (a measured phase's statistics and samples: ~1 kB each,
    # the --trace records) sent now, one RESULTPART line each (parse_result merges them
    # back), and dropped: kept in R they counted as flight heap in the steady TRACK
    # figure taken after the phases (+1 kB a phase, read as a flight leak at stop 39).
    for k in keys:
        if k in R:
            print('RESULTPART ' + k + ' ' + json.dumps(R.pop(k)))


def pystack_figures():
    # The Python stack's high-water mark over the whole run and its size (the
    # firmware's C module board/cmodules/vector_pystack; absent from other images).
    try:
        import vector_pystack
    except ImportError:
        return
    out('pystack_peak_bytes', vector_pystack.peak())
    out('pystack_bytes', vector_pystack.size())

"""

TRACE_BLOCK = r"""
TRACE = %(trace)d
TR = {}


def _trace_wrap(t):
    # Diagnostic (--trace): each run's own flight cost, and whether a collection ran
    # inside it (the heap's allocated bytes grew less than what was allocated), probed
    # inside physics brackets so that the probes are not charged.  Kept per task: runs,
    # sum, runs with a collection and their sum, a histogram of 25 us bins, the top runs.
    fn = t.fn
    rec = TR[t.name] = [0, 0, 0, 0, [0] * 24, [], 0, [0] * 12]

    def run():
        p = world.physics_begin()
        a0 = gc.mem_alloc()
        m0 = mem_current()
        n0 = simgc.runs
        world.physics_end(p)
        st = apt.state if t.name == 'apt' else 0
        c0 = world.flight_cpu_us()
        fn()
        c1 = world.flight_cpu_us()
        p = world.physics_begin()
        a1 = gc.mem_alloc()
        m1 = mem_current()
        d = ticks_diff(c1, c0)
        # (mem_current counts octets, mem_alloc 16-octet blocks: only a sweep makes the
        # blocks grow less than the octets)
        g = (a1 - a0) < _since(m0, m1) - 256 and simgc.runs == n0
        rec[0] += 1
        rec[1] += d
        if g:
            rec[2] += 1
            rec[3] += d
        b = d // 25
        rec[4][b if b < 24 else 23] += 1
        if d > 200 or g:
            rec[5].append((d, rec[0], g, st))
        rec[7][2 * st] += 1
        rec[7][2 * st + 1] += d
        world.physics_end(p)
    t.fn = run


def _trace_take(name):
    o = {}
    for tn, rec in TR.items():
        o[tn] = {'n': rec[0], 'sum_us': rec[1], 'gc_runs': rec[2], 'gc_sum_us': rec[3],
                 'hist25us': list(rec[4]), 'long': sorted(rec[5], reverse=True)[:8],
                 'by_state': list(rec[7])}
        rec[7] = [0] * 12
        rec[0] = rec[1] = rec[2] = rec[3] = 0
        rec[4] = [0] * 24
        rec[5] = []
    R['trace_' + name] = o


if TRACE:
    for t in app.sched.tasks:
        _trace_wrap(t)


"""

PROFILE_BLOCK = r"""
# Diagnostic (--profile): where the APT tick's flight time goes, on the tracking state
# at the end of the run.  Each part is called alone, 50 times, on the flight clock (physics
# excluded) with the collector off (none of them allocates), then the tick whole.
PROFILE = %(profile)d
if PROFILE:
    R['phase'] = 'profile'
    from flight import apt_pixels as px
    from flight.apt_search import TRACK_WIN as TW  # (TRACK's window, px a side)
    PF = {}
    fc = world.flight_cpu_us

    def _time(label, f, *a):
        gc.collect()
        simgc.after()
        gc.disable()
        c0 = fc()
        for _ in range(50):
            f(*a)
        d = ticks_diff(fc(), c0)
        gc.enable()
        PF[label] = int(d * 1000 / 50)  # instructions a call

    buf = apt.trk_buf
    saved = buf[:]  # (the tracking frame: restored before each part)

    def _restore():
        memoryview(buf)[:] = memoryview(saved)

    def _centroid_k():
        _restore()
        px.centroid_k(apt._cen_args)

    def _centroid_py():
        _restore()
        px.centroid_py(apt._cen_args)

    o = apt._cen
    _time('restore (subtract)', _restore)
    _time('px.centroid_k (the one viper kernel, as the tick calls it)', _centroid_k)
    _time('  px.centroid_py (its plain-Python twin)', _centroid_py)
    _time('  px.wcog (one of 2 weighted steps, Python)', px.wcog, buf, TW, o[px.CEN_BG],
          (TW // 2) << 8, (TW // 2) << 8, o)  # (q8)
    _time('  max(buf)', max, buf)
    _time('px.patch_hot', px.patch_hot, buf, apt.search.hot, apt.exposure.dark(), 1000)
    _time('apt.camera.frame_ready (sim HAL; the tick: only without a new frame)',
          apt.camera.frame_ready)
    _time('apt.fsm.fault (sim HAL)', apt.fsm.fault)
    _time('apt.cal.frame', apt.cal.frame, 0, 0)
    _time('apt.law.step (PI)', apt.law.step, 10, -10, apt.cal)
    _time('apt.law.command (sim HAL set_codes)', apt.law.command, apt.fsm, 0, 0)
    _time('apt.exposure.update', apt.exposure.update, apt.peak, apt._peak_lo, apt._peak_hi)
    _time('apt.camera.read_roi (sim HAL, render excluded)', apt.camera.read_roi,
          apt.win_x0, apt.win_y0, TW, TW, 1, buf, apt._meta)
    out('prof', PF)
    out('prof_apt_state', apt.state)
"""

# --start-shift N (a diagnostic): N loop iterations before anything else, so the session
# starts at another phase of the simulated clock's microsecond; which flight call meets a
# fragmented stretch of the simulator's heap then moves (docs/firmware.md §9, the
# figures' spread).
START_SHIFT = "_i = 0\nwhile _i < %d:\n    _i += 1\n"
