"""The APT control law (flight/apt.py, apt_control.py) on the APT rig (tests/apt_rig.py):
the slew limit, saturation and anti-windup, a ramp followed without lag, the offload
request and ADCS feedback, the gains from the parameters, the auto exposure.
"""

import pytest

from flight import apt as A
from flight.apt_search import DARK_FRAMES
from tests.apt_rig import DEG, LSB, Rig


# ---------------------------------------------------------------------- control law
def test_slew_limit_bounds_every_mirror_step():
    rig = Rig(err=(0.006, -0.004), params={"apt_slew_urad": 100.0})
    rig.until(A.ACQUIRE, 8 + DARK_FRAMES + 2)
    rig.fsm.steps = []
    rig.until(A.TRACK, 200)
    lim = 100e-6 / LSB + 1
    assert max(max(abs(a), abs(b)) for a, b in rig.fsm.steps) <= lim
    # the limit was what bounded the pull-in (several steps at the limit)
    assert sum(1 for a, b in rig.fsm.steps if abs(a) >= lim - 2) >= 10


def _windup_state(law):
    """The law's integrating state: the PI's rate integrator, the predictor's rate."""
    return law.r_x if law.mode == 0 else law.pred.s[1]


@pytest.mark.parametrize("law", [0, 1])
def test_saturation_and_anti_windup(law):
    # 2.4 deg is beyond the mirror's +-2 deg range: the command saturates.
    err = 2.4 * DEG
    rig = Rig(err=(err, 0.0), params={"apt_law": law})
    rig.until(A.ACQUIRE, 8 + DARK_FRAMES + 2)
    rig.tick(100)  # 2 deg at the 1000 urad/frame slew limit: 35 frames
    assert rig.fsm.cx == 32767
    assert rig.apt.law.u_x == 32767 << 8
    r_sat = _windup_state(rig.apt.law)
    assert abs(r_sat) <= rig.apt.law.slew  # slew-limited approach: no integration either
    rig.tick(150)  # still saturated: the integrating state must not wind up
    if law == 0:
        assert _windup_state(rig.apt.law) == r_sat and rig.fsm.cx == 32767
    else:  # the predictor estimates the disturbance (no integrator): its rate stays small
        assert abs(_windup_state(rig.apt.law)) <= 256 and rig.fsm.cx == 32767
    assert rig.apt.state == A.ACQUIRE  # the residual (0.4 deg) cannot be removed
    # The platform slews back within range (0.4 deg/s): the loop takes over where the
    # error enters the range and, when the slew stops, settles without the overshoot a
    # wound-up integrator would cause (~150 frames x 0.4 deg of integrated error).
    for k in range(200):
        rig.cam.err = ((2.4 - 0.8 * (k + 1) / 200) * DEG, 0.0)
        rig.tick()
    assert rig.apt.state == A.TRACK
    after = []
    for _ in range(100):
        rig.tick()
        after.append(rig.cam.residual_urad()[0])
    # (no wound-up overshoot: that would be degrees; the predictor's rate state takes
    # ~1 frame of the 70 urad/frame slew's stop)
    assert max(abs(r) for r in after) < (50.0 if law == 0 else 70.0)  # urad
    assert max(abs(r) for r in after[-50:]) < 15.0


def test_integral_action_follows_a_ramp_without_lag():
    rig = Rig(err=(0.001, 0.0))
    rig.until(A.TRACK, 80)
    rate = 100e-6  # rad/s drift (DESIGN §5 reference), 1 urad per frame
    res = []
    for k in range(300):
        rig.cam.err = (0.001 + rate * k * 0.01, 0.0)
        if k >= 150:  # the residual the frame sees (after the tick the mirror has moved
            res.append(rig.cam.residual_urad()[0])  # on: one frame of ramp, 1 urad, less)
        rig.tick()
    mean = sum(res) / len(res)
    # type-2 loop: no steady-state lag on a ramp.  (Measured after the tick this read
    # -1 urad of frame offset, which the centroid's old floor-division bias, +0.78 urad
    # on the true residual, hid.)
    assert abs(mean) < 0.5


def test_offload_request_and_adcs_feedback():
    rig = Rig(err=(1.5 * DEG, 0.2 * DEG))
    rig.until(A.TRACK, 200)
    rig.tick(20)
    rig.apt.feedback()
    body = rig.ctx.adcs[-1]
    assert sorted(body) == sorted(f.name for f in A.ADCS)  # exactly the declared fields
    assert body["offload"] == 1 and body["state"] == A.TRACK and body["valid"] == 1
    # The error reported to the platform is the whole line of sight (mirror + residual).
    assert abs(body["err_x_urad"] - 1.5 * DEG * 1e6) < 20
    assert abs(body["err_y_urad"] - 0.2 * DEG * 1e6) < 20
    assert abs(body["fsm_x_urad"] - rig.fsm.cx * LSB * 1e6) < 2
    assert rig.args(A.EV_APT_OFFLOAD) == [[1]]
    assert rig.apt.offload_requests == 1
    # Within the range fraction: no offload.
    small = Rig(err=(0.5 * DEG, 0.0))
    small.until(A.TRACK, 200)
    small.apt.feedback()
    assert small.ctx.adcs[-1]["offload"] == 0
    assert abs(small.ctx.adcs[-1]["err_x_urad"] - 0.5 * DEG * 1e6) < 20
    # No feedback while searching.
    s = Rig(err=(0.001, 0.0))
    s.apt.feedback()
    assert s.ctx.adcs == []


def test_set_gains_command_updates_the_fixed_point_gains():
    rig = Rig()
    res = rig.apt.cmd_set_gains({"kp": 0.5, "ki": 50.0}, None)
    assert res == {"kp": 0.5, "ki": 50.0}
    assert rig.ctx.params["apt_kp"] == 0.5
    assert rig.apt.law.kp == 128
    assert rig.apt.law.kid == int(50.0 * 0.01 * 256 + 0.5)


def test_gains_come_from_the_parameters_only():
    # No shadow defaults: a fresh module's fixed-point values are its parameters'.
    rig = Rig(params={"apt_ki": 10.0, "apt_peak_lo_dn": 300})
    assert rig.apt.law.kid == int(10.0 * 0.01 * 256 + 0.5)
    assert rig.apt._peak_lo == 300
    rig.ctx.params.load_defaults()
    assert rig.apt.law.kid == int(98.0 * 0.01 * 256 + 0.5) and rig.apt._peak_lo == 250


def test_auto_exposure_keeps_the_peak_in_band():
    rig = Rig(err=(0.001, 0.0))
    rig.until(A.TRACK, 80)
    rig.cam.model.set_range(2 * 560e3)  # 4x fainter
    rig.tick(200)
    lo = rig.ctx.params["apt_peak_lo_dn"]
    hi = rig.ctx.params["apt_peak_hi_dn"]
    assert lo <= rig.apt.peak <= hi
    assert rig.apt.state == A.TRACK
    rig.cam.model.set_range(0.7 * 560e3)  # 8x brighter than that
    rig.tick(200)
    assert lo <= rig.apt.peak <= hi and rig.apt.state == A.TRACK
