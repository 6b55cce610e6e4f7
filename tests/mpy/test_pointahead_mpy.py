"""Point-ahead (flight/pointahead.py) under MicroPython: the formula, the 10 Hz tick
heap-locked for each source (OBC, PROFILE, NONE), and the APT tracking onto
``boresight + offset`` through the reference hook, heap-locked too (DESIGN §3.8)."""

from array import array

from flight import apt as A
from flight import pointahead as PA
from flight import pointahead_nav as PN

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
