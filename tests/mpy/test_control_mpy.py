"""Payload control modules (APT, SiPM bias, comparator, framer) under MicroPython.

Plain test functions on the kit (tests/mpy/kit.py); runs under CPython and inside the
MicroPython VM.  The APT sees a beacon spot rendered by sim.camera (pure Python) at
(pointing error - mirror angle); once it tracks, the camera replays its last frame so
that TRACK ticks can run under ``micropython.heap_lock()``: the hot path allocates
nothing (DESIGN §2).
"""

from array import array

from flight import apt as A
from flight import bias as B
from flight import comparator as C
from flight import framer_ctl as F
from flight.apt_search import DARK_FRAMES
from hal.interfaces import COUNTER_MASK, CTR_PACKETS_OK

from fakes import FakeCtx
from heaplock import locked
from kit import rig

try:
    import micropython
except ImportError:  # CPython: the heap lock is a MicroPython facility
    micropython = None


def test_control_modules_declare_their_parameters_and_events():
    ctx = FakeCtx(A, B, F, C)  # declares every module's PARAMS (a name twice would raise)
    for name in ("apt_ki", "bias_kt_mv_per_k", "framer_windows", "comp_ber_target"):
        assert name in ctx.params.defs
    ids = []
    for m, base in ((A, 0x50), (B, 0x60), (C, 0x70), (F, 0x80)):
        for e in m.EVENTS:  # records by position: (id, name, ...) (flight.eventdecl)
            # each owner in its own id range, or in 0x9_, what full ranges cannot take
            # (flight/events.py: the bias's supply cut 0x94)
            assert base <= e[0] < base + 16 or 0x90 <= e[0] < 0xA0, e[1]
            ids.append(e[0])
    assert len(set(ids)) == len(ids)
    assert A.STATE_NAMES[A.TRACK] == "TRACK" and F.LINK_NAMES[F.L_LOCKED] == "LOCKED"


def test_apt_search_acquire_track():
    r = rig("apt", err=(0.003, -0.002))
    assert r.apt.state == A.SEARCH
    r.until(A.ACQUIRE, 8 + DARK_FRAMES + 2)  # dark frames, then the search
    r.until(A.TRACK, 60)
    r.tick(30)
    assert r.apt.state == A.TRACK and r.apt.valid
    rx, ry = r.cam.residual_urad()
    assert abs(rx) < 15 and abs(ry) < 15  # urad
    assert r.named(A.EV_APT_STATE)[-1] == "ACQUIRE -> TRACK"
    hk = r.hk("apt")
    assert hk["apt_state"] == A.TRACK and hk["apt_fsm_x"] == r.fsm.cx


def test_apt_track_tick_allocates_nothing():
    r = rig("apt", err=(0.001, 0.001))
    apt = r.apt
    r.fsm.record = False  # (the fake's own step log would allocate)
    r.until(A.TRACK, 80)
    r.tick(10)
    r.cam.replay = array("H", apt.trk_buf)  # the last 16x16 TRACK frame
    apt.tick()  # one replayed tick outside the lock (first use of the replay path)
    v0 = apt.valid_frames
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(20):
            apt.tick()
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    # (an allocation would raise MemoryError out of the tick: no HAL error swallows it)
    assert (apt.camera_errors, apt.fsm_errors, apt.invalid_frames) == (0, 0, 0)
    assert apt.valid_frames == v0 + 20 and apt.state == A.TRACK
    assert isinstance(apt.law.u_x, int) and isinstance(apt.spot_x, int)


def test_apt_predictor_waveform_allocates_nothing():
    # The predictor (apt_law 1): each TRACK tick updates the filter and hands the mirror
    # driver a waveform; heap-locked, including a missed frame (propagated over two).
    r = rig("apt", err=(0.001, 0.001), params={"apt_law": 1})
    apt = r.apt
    pr = apt.law.pred
    r.fsm.record = False
    r.until(A.TRACK, 80)
    r.tick(10)
    r.cam.replay = array("H", apt.trk_buf)
    apt.tick()
    waves = r.fsm.waves
    if micropython is not None:
        micropython.heap_lock()
    try:
        for i in range(10):
            if i == 5:
                apt.law._t += apt.law.frame_us  # a frame period without a frame
            apt.tick()
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    assert (apt.fsm_errors, apt.invalid_frames) == (0, 0) and apt.state == A.TRACK
    assert r.fsm.waves == waves + 10 and pr.playing and pr.stale >= 1
    assert r.fsm.wave_n == 20 and r.fsm.cx == r.fsm.wave_x[9] and r.fsm.cy == r.fsm.wave_y[9]
    assert isinstance(apt.law.u_x, int)


def test_bias_formula_fallback_and_safe_bias():
    r = rig("bias", t=35.0, params={"bias_ff_tau_s": 0.0, "bias_hold_max_s": 1.0})
    b = r.bias
    for _ in range(6):
        b.update()
    assert b.state == B.ACTIVE
    assert abs(r.supply.v - (24.55 + 0.0215 * 10.0 + 3.0)) < 0.005
    r.temps[0].mode = "error"
    b.update()
    assert b.source == 1 and r.named(B.EV_BIAS_SENSOR)
    r.temps[1].mode = "nan"
    b.update()
    assert b.state == B.HOLD and r.named(B.EV_BIAS_HOLD)
    b.update()
    assert b.state == B.FAULT and abs(r.supply.v - 21.0) < 1e-9
    assert r.hk("bias")["bias_state"] == B.FAULT


def test_bias_without_a_safe_write_cuts_the_supply_and_its_stop_never_raises():
    # FAULT whose safe bias cannot be written: the supply switched off (before: left at
    # its last command, above breakdown); a failing switch at the session's end is said,
    # not raised (before: the HalError left stop_session).
    from hal.interfaces import SW_SIPM_BIAS

    r = rig("bias", params={"bias_ff_tau_s": 0.0})
    b = r.bias
    for _ in range(6):
        b.update()
    assert b.state == B.ACTIVE and r.power.get(SW_SIPM_BIAS)
    r.supply.fail_writes = 1000
    for _ in range(6):  # six failed writes in a row: FAULT
        b.update()
    assert b.state == B.FAULT and r.args(B.EV_BIAS_SUPPLY_CUT) == [[True]]
    assert not r.power.get(SW_SIPM_BIAS)
    r.power.fail = 1
    b.stop_session()
    assert b.state == B.OFF and r.args(B.EV_BIAS_SUPPLY_CUT) == [[True], [False]]


def test_framer_wrap_and_comparator_calibration():
    r = rig("comparator", params={"comp_start_code": 2000}, session=False)
    hal = r.hal
    dac = r.dac
    fc = r.fc
    comp = r.comp
    hal.k[CTR_PACKETS_OK] = COUNTER_MASK - 3  # the packet counter is about to wrap
    fc.start_session()
    comp.start_session()
    fc.update()
    added = [0]

    def window(signal):
        code = dac.value
        trig = 100000 if code < 1000 else 3
        if signal:
            b = min(0.5, 1e-4 * 10 ** (abs(code - 2000) / 100.0))
            if b < 0.05:
                pre = int(64 * 1801 * b + 0.5)
                hal.add(ok=1801, pre=pre, trig=trig + 2500000, locked=True)
                added[0] += 1801
            else:
                hal.add(trig=trig + 2500000, locked=False)
        else:
            hal.add(trig=trig, locked=False)
        fc.update()
        comp.update()

    for _ in range(40):
        window(False)
        if comp.state == C.WAIT_SIGNAL:
            break
    assert comp.noise_floor == 1000
    for _ in range(100):
        window(True)
        if comp.state == C.TRACK:
            break
    assert comp.state == C.TRACK
    assert abs(comp.tracking_level() - 2000) <= 15
    assert fc.link == F.L_LOCKED
    assert hal.k[CTR_PACKETS_OK] < added[0]  # the 30-bit hardware counter wrapped ...
    assert fc.totals[F.W_OK] == added[0]  # ... and no packet was lost in the arithmetic
    assert r.named(C.EV_COMP_CALIBRATED)


def test_apt_search_survives_a_memory_error_in_the_camera_model():
    """The closed loop's intermittent fault made deterministic (issues 11/14): the
    simulated camera renders inside the APT tick, and on a fixed heap its first noise
    table (~11 kB) may find no block.  That tick raises MemoryError (the scheduler's
    TASK_OUT_OF_MEMORY); the ticks after it must render again and reach TRACK, not raise
    TypeError "'NoneType' object isn't subscriptable" until the task is disabled."""
    import sim.camera as cm

    r = rig("apt", err=(0.003, -0.002))
    real = cm.table_buffer
    calls = [0]

    def failing(kind, width):
        calls[0] += 1
        if calls[0] == 1:
            raise MemoryError("injected: no block this large")
        return real(kind, width)

    cm.table_buffer = failing
    oom = 0
    try:
        for _ in range(8 + DARK_FRAMES + 2 + 60):
            try:
                r.apt.tick()
            except MemoryError:
                oom += 1
                assert r.apt.state == A.SEARCH
            if r.apt.state == A.TRACK:
                break
    finally:
        cm.table_buffer = real
    assert oom == 1 and calls[0] > 1
    assert r.apt.state == A.TRACK and r.apt.valid


def _tracking_on_a_square(spots):
    """The kit's APT in TRACK with its camera replaying a 16 x 16 square: a 20 DN floor and
    ``spots`` [(index, DN)]; returns (rig, survey)."""
    r = rig("apt", err=(0.001, 0.001))
    r.fsm.record = False
    r.until(A.TRACK, 80)
    r.tick(10)
    square = array("H", [20] * 256)
    for k, v in spots:
        square[k] = v
    r.cam.replay = square
    return r, r.apt.search.survey


def _heap_locked(fn, n):
    """``fn()`` ``n`` times under MicroPython's heap lock; the last result."""
    out = None
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(n):
            out = fn()
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    return out


def test_apt_survey_look_allocates_nothing():
    # TRACK's look for a brighter spot (flight/apt_survey.py): a 16x16 read binned 16 into
    # TRACK's buffer and integer sums, heap-locked (here a replayed square: the tracked
    # spot alone in the middle cell, where the look lays it — no switch, which would emit
    # an event).
    r, sv = _tracking_on_a_square([(8 * 16 + 8, 200)])
    n0 = sv.looks
    _heap_locked(sv.look, 5)
    assert sv.looks == n0 + 5 and sv.switches == 0 and r.apt.state == A.TRACK


def test_apt_survey_near_look_allocates_nothing():
    # The near look (flight/apt_survey.py): a 16x16 read binned 2 into TRACK's buffer and
    # integer sums, heap-locked.  The replayed square: the tracked spot at the middle bin
    # and a second spot 3 bins right, 0.75 of it (within apt_survey_ratio: no switch);
    # first a cell look over that square asks for the near look (its own cell holds both).
    r, sv = _tracking_on_a_square([(8 * 16 + 8, 200), (8 * 16 + 11, 150)])
    r.apt.peak, r.apt.bg = 60, 20  # (TRACK's last frame: a 40 DN peak, 320 DN·px of flux)
    n0 = sv.near_looks
    _heap_locked(sv.look, 1)
    assert sv.near_next
    _heap_locked(sv.look_near, 5)
    assert sv.near_looks == n0 + 5 and sv.switches == 0 and r.apt.state == A.TRACK


def test_framer_update_allocates_nothing_at_the_triggers_rate():
    """Every window heap-locked for 140 windows of 10^7 triggers (a tenth of the chip
    rate, 100 ms each): the session passes 2^30 triggers at the 108th.  Until stop 61
    the totals summed the triggers too, and from there each update allocated a long int
    on a 32-bit port (the target bench's 32 B a framer run; [m7] and [mpy] fail on it)."""
    r = rig("framer", session=False)
    hal = r.hal
    fc = r.fc
    fc.start_session()
    fc.update()  # the baseline
    hal.add(ok=1801, pre=100, trig=10000000, cv=3)
    fc.update()  # the first window: LINK_STATE SEARCHING -> LOCKED said (allocates)
    assert fc.link == F.L_LOCKED
    for _ in range(140):
        hal.add(ok=1801, pre=100, trig=10000000, cv=3)
        locked(fc.update, 1)
    w = fc.last_window
    assert fc.window_valid and (w[F.W_OK], w[F.W_TRIG], w[F.W_CV]) == (1801, 10000000, 3)
    assert fc.link == F.L_LOCKED and list(fc.totals) == [141 * 1801, 0, 0, 141 * 100]
