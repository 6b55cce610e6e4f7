"""The target bench's allocation phase (tools/target_bench.py puts it in its script, run on
the target): each task run's flight allocation in steady state (TRACK), nominal and under
the TC flood, with the simulated devices' own allocation inside the run measured apart
(``sim_devices_alloc_bytes_*``: simulator cost, as ``sim_devices_instr_*`` is for CPU),
the events emitted meanwhile and the largest runs (what the remaining garbage is).  Kept
apart so each file stays under 500 lines."""

ALLOC_BLOCK = r"""
R['phase'] = 'alloc'
# Flight allocation per task run in steady state (TRACK): each run bracketed by
# gc.mem_alloc() with the collector off, the simulated devices' allocation inside flight
# calls (World.physics_begin/end) subtracted; timing is not measured here.
world.mem_alloc = gc.mem_alloc
clock.charge_cpu = False  # (the heap walks of the measurement are not task cost)
AL = {}
EVN = {}  # events emitted in the phase, by id (what the tc and hk garbage is made of)
TOP = []  # the largest runs: [octets, task]
seed = 54321
buf = bytearray(%(flood_bytes)d)


def _wrap(t):
    fn = t.fn

    def run():
        p0 = world.physics_alloc
        gc.disable()
        m0 = mem_current()
        a0 = gc.mem_alloc()
        try:
            fn()
        finally:
            a = gc.mem_alloc() - a0 - (world.physics_alloc - p0)
            gc.enable()
            s = AL.get(t.name)
            if s is None:
                s = AL[t.name] = [0, 0, 0, 0]
            s[0] += 1
            s[1] += a
            if a > s[2]:
                s[2] = a
            # the simulated devices' own allocation inside the run, apart (simulator cost):
            # all octets allocated (mem_current: a collection of the simulator's garbage
            # inside a physics bracket does not lower it) less the flight's
            s[3] += _since(m0, mem_current()) - a
            if a > 0 and len(TOP) < 24:
                TOP.append([a, t.name])
    t.fn = run


_emit0 = app.events.emit


def _emit_count(ev_id, args=None, detail=""):
    p = world.physics_begin()  # (the count is the bench's: bracketed, not flight's)
    k = "0x%%02x %%s" %% (ev_id, detail if isinstance(detail, str) else "")
    EVN[k] = EVN.get(k, 0) + 1
    world.physics_end(p)
    return _emit0(ev_id, args, detail)


app.events.emit = _emit_count
BUD = {}
for t in app.sched.tasks:
    _wrap(t)
    # No budgets while counting, from the half second before it on: the counting's own
    # heap walks (gc.mem_alloc, ~1.2 M instructions each, several in an APT run with its
    # physics brackets, world.mem_alloc above) take the APT over its budget, and the
    # once-a-boot TASK_OVERRUN event it raised was sent (tc 832 B) and persisted (hk
    # ~1.2 kB) in the count: no flight garbage of a pass.  Until stop 66 the budgets
    # were lifted only after that half second, so an overrun raised in it was persisted
    # at the window's first event-log flush, or not, by the session's phase.
    BUD[t.name] = t.budget_us
    t.budget_us = 0
# Half a second before the count (one-time effects of the phase switch).
for k in range(50):
    app.run_for(10000)
board.link.take()
AL.clear()
EVN.clear()
TOP[:] = []
for k in range(%(alloc_s)d * 100):
    app.run_for(10000)
    if k %% 100 == 99:
        board.link.take()
out('task_alloc', AL)
out('alloc_events', EVN)
out('alloc_top_runs', TOP)
AL = {}  # the same under the TC flood (line-rate garbage)
EVN = {}
for k in range(%(alloc_s)d * 100):
    for i in range(len(buf)):
        seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
        buf[i] = seed >> 22
    board.link.inject(buf)
    app.run_for(10000)
    if k %% 100 == 99:
        board.link.take()
world.mem_alloc = None
out('task_alloc_flood', AL)
out('alloc_events_flood', EVN)
for t in app.sched.tasks:
    t.budget_us = BUD.get(t.name, t.budget_us)
app.events.emit = _emit0
"""
