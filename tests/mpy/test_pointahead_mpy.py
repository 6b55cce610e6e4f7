"""Point-ahead (flight/pointahead.py) under MicroPython: the formula, the NAV_STATE
attitude checks (the Earth's limb, the jump from the last state), the 10 Hz tick
heap-locked for each source (OBC, PROFILE, NONE), and the APT tracking onto
``boresight + offset`` through the reference hook, heap-locked too (DESIGN §3.8)."""

from array import array

from flight import apt as A
from flight import pointahead as PA
from flight import pointahead_nav as PN
from flight.cmddict import Refused

from fakes import FakeCtx
from heaplock import locked, task_ticks
from kit import rig

try:
    import micropython
except ImportError:  # CPython: the heap lock is a MicroPython facility
    micropython = None

V = 7580.0
R = 6938137.0


def _nav(t):
    return {"t": t, "px": 0.0, "py": 0.0, "pz": R, "vx": V, "vy": 0.0, "vz": 0.0,
            "qw": 1.0, "qx": 0.0, "qy": 0.0, "qz": 0.0}


def test_point_ahead_of_a_rotated_frame():
    x, y = PN.point_ahead_rad((V, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))
    assert abs(x + 2 * V / PN.C_M_S) < 1e-12 and y == 0.0
    c = 0.7071067811865476  # 90 deg about z: the payload x axis is ECI y
    x, y = PN.point_ahead_rad((V, 0.0, 0.0), (c, 0.0, 0.0, c))
    assert abs(x) < 1e-12 and abs(y - 2 * V / PN.C_M_S) < 1e-12


def _pa():
    ctx = FakeCtx(A, PA)
    pa = PA.PointAhead(ctx)
    pa.in_session = True
    return ctx, pa


def test_tick_allocates_nothing_for_each_source():
    ctx, pa = _pa()
    ctx.t = 100.0
    pa.check_command(_FakeCmd("NAV_STATE"), _nav(99.9))
    pa.cmd_nav_state(_nav(99.9), None)
    pa.tick()  # first tick: the source change (an event) outside the lock
    task_ticks(pa, 20)
    assert pa.source == PA.SRC_OBC and pa.offset.dx_q6 == -32
    samples = PA.pack_profile([(-30.0, 5.0), (-31.0, 5.5), (-32.0, 6.0)])
    prof = {"t0": 100.0, "dt": 10.0, "samples": samples}
    pa.check_command(_FakeCmd("PA_PROFILE"), prof)
    pa.cmd_profile(prof, None)
    task_ticks(pa, 31, heap_locked=False)  # 3.1 s: the OBC state goes stale (an event)
    task_ticks(pa, 30)
    assert pa.source == PA.SRC_PROFILE
    assert -3200 < pa.pa_x < -3000 and 500 < pa.pa_y < 600
    task_ticks(pa, 200, heap_locked=False)  # past the profile's end (an event)
    task_ticks(pa, 20)
    assert pa.source == PA.SRC_NONE and pa.pa_x == -3750
    kinds = [e[0] for e in ctx.events]
    assert PA.EV_PA_INPUT_DEGRADED in kinds and PA.EV_PA_PROFILE_LOADED in kinds


class _FakeCmd:
    def __init__(self, name):
        self.name = name


def _refusal(pa, a):
    """The detail of check_command's refusal of NAV_STATE ``a`` (None: accepted)."""
    try:
        pa.check_command(_FakeCmd("NAV_STATE"), a)
    except Refused as e:
        assert e.reason == "BAD_ARG"
        return str(e)
    return None


def test_an_attitude_turned_round_or_jumping_is_refused():
    # The payload z points from the station to the satellite: q = 1 at +z is the zenith
    # of a pass (line of sight -z on nadir); turned 180 deg about x it looks at the sky.
    ctx, pa = _pa()
    ctx.t = 100.0
    flipped = _nav(99.9)
    flipped["qw"], flipped["qx"] = 0.0, 1.0
    assert "beyond the Earth's limb (66.8 deg)" in _refusal(pa, flipped)
    assert _refusal(pa, _nav(99.9)) is None
    pa.cmd_nav_state(_nav(99.9), None)
    # turned about the line of sight 1 s later: the point-ahead flips (-50.57 -> +50.57)
    ctx.t = 101.0
    rolled = _nav(100.9)
    rolled["qw"], rolled["qz"] = 0.0, 1.0
    assert "moved 101.1 urad in 1.00 s (at most 3.0)" in _refusal(pa, rolled)
    assert pa.nav_rejected == 2 and len(ctx.named(PA.EV_PA_NAV_REJECTED)) == 2
    # the bound on either axis: RATE_MAX_U * dt + JUMP_NOISE_U (10 nrad units)
    a = _nav(10.5)
    ux = PN.point_ahead_u(a)[2]
    lim = PN.RATE_MAX_U // 2 + PN.JUMP_NOISE_U
    PN.check_step((10.0, ux - lim, 0), 10.5, a, 3.0)  # at the bound: accepted
    for p in ((10.0, ux - lim - 1, 0), (10.0, ux, lim + 1)):
        try:
            PN.check_step(p, 10.5, a, 3.0)
        except Refused as e:
            assert "moved" in str(e)
        else:
            raise AssertionError(p)
    PN.check_step((7.4, -ux, 0), 10.5, a, 3.0)  # older than pa_nav_max_age_s: not compared


def test_apt_tracks_boresight_plus_offset_without_allocating():
    r = rig("apt", err=(0.001, 0.001))
    apt = r.apt
    off = PA.Offset()
    off.dx_q6 = -48  # -0.75 px: the point-ahead minus the TX boresight, camera axes
    off.dy_q6 = 16
    off.dx_q8 = -192  # (the same in q8: the loop's error; q6: ACQUIRE's window)
    off.dy_q8 = 64
    apt.ref_off = off
    r.fsm.record = False
    r.until(A.TRACK, 80)
    r.tick(60)
    assert abs(apt.spot_x - apt.ref_x + 48) <= 8 and abs(apt.spot_y - apt.ref_y - 16) <= 8
    r.cam.replay = array("H", apt.trk_buf)
    apt.tick()
    v0 = apt.valid_frames
    locked(apt.tick, 20)
    assert apt.valid_frames == v0 + 20 and apt.state == A.TRACK


def test_the_loops_error_is_the_q8_spot_less_the_q8_reference():
    # Since stop 57 the law's input is the centroid's q8 estimate less the boresight and
    # the offset in q8 (docs/apt-loop.md §5 "The q8 centroid"): a step of 1/256 px reaches
    # the law, and the q6 spot (ACQUIRE's window, the ADCS feedback) is its rounding.
    r = rig("apt", err=(0.001, 0.001))
    apt = r.apt
    off = PA.Offset()
    off.dx_q6, off.dy_q6 = -48, 16
    off.dx_q8, off.dy_q8 = -191, 65  # (not a q6 value: it must reach the law as it is)
    apt.ref_off = off
    r.until(A.TRACK, 80)
    r.tick(20)
    law = apt.law
    seen = array("i", [0] * 6 * 12)  # (the law runs heap-locked: nothing allocated)
    n = [0]
    st = (seen, n, apt, law)

    def spy(dx, dy, cal=None, st=st):  # (no closure: a closure's call allocates its cells)
        seen, n, apt, law = st
        i = n[0]
        if i < 72:
            seen[i] = dx
            seen[i + 1] = dy
            seen[i + 2] = apt.spot_x8
            seen[i + 3] = apt.spot_y8
            seen[i + 4] = apt.spot_x
            seen[i + 5] = apt.spot_y
            n[0] = i + 6
        law.__class__.step(law, dx, dy, cal)

    law.step = spy
    r.tick(12)
    assert n[0] == 72 and apt.state == A.TRACK
    fine = 0
    for i in range(0, 72, 6):
        dx, dy, x8, y8, x6, y6 = seen[i:i + 6]
        assert dx == x8 - apt.ref_x8 + 191 and dy == y8 - apt.ref_y8 - 65
        assert x6 == (x8 + 2) >> 2 and y6 == (y8 + 2) >> 2
        fine += 1 if dx % 4 or dy % 4 else 0
    assert fine > 0  # finer than q6 reaches the law
