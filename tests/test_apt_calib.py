"""The FSM calibration (flight/apt_calib.py, issue 14.3) against a synthetic mirror plant
whose truth is exact (gain, rotation, cross-coupling, a long exposure that mixes two
commands, drift, platform jitter, centroid noise), then its refusals, aborts and command;
the closed-loop checks on the simulated pass are at the end."""

import math
import random

import pytest

from flight import apt as A
from flight import apt_calib as K
from flight import apt_calib_fit as fit
from flight.cmddict import BY_NAME, Refused
from flight.telemetry import more
from hal.interfaces import APT_TRACK, FSM_LSB_RAD
from tests.mpy.fakes import FakeCtx

STEPS = 1280  # the plant's calibration length (below)
Q6_PER_CODE = 64.0 * FSM_LSB_RAD * 1e6 / 100.0  # nominal: 100 urad per pixel


class _Law:
    u_x = u_y = 0


class Plant:
    """An APT in TRACK around one FsmCalOwner (its run, FsmCal, as ``cal`` while armed): frames ``y = c·M·(p − v_seen)`` (q6 px, c the
    nominal q6 per code), ``v_seen = alpha·v_last + (1 − alpha)·v_before``, a simple
    integrating loop on the error minus the calibration's feed-forward."""

    def __init__(self, m, alpha=0.85, noise_q6=0.8, jitter_codes=15.0, drift=0.5, seed=4,
                 params=None):
        # Steps of 20 codes (the default is 6, for the link's sake) and 1280 of them: the
        # estimate's own noise (~1 % at the defaults) well below the tolerances checked.
        # Automatic calibration on (its flight default is off: docs/fsm-calibration.md).
        base = {"apt_cal_settle_s": 0.0, "apt_cal_step_codes": 20, "apt_cal_steps": 1280,
                "apt_cal_auto": 1}
        self.ctx = FakeCtx(A, K, params=dict(base, **(params or {})))
        self.m = m
        self.alpha = alpha
        self.noise = noise_q6
        self.jitter = jitter_codes
        self.drift = drift
        self.rng = random.Random(seed)
        self.state = APT_TRACK
        self.invalid_frames = self.frames = self.stale_frames = self.bad_run = 0
        self.fsm_errors = 0
        self.valid = True
        self.state_ticks = 1000
        self.period_us = 10000
        self.law = _Law()
        self.law.u_x = 200 << 8
        self.law.u_y = -300 << 8
        self.cal = K.NO_CAL  # the run sets itself here while armed (flight/apt_calib_run.py)
        self.owner = K.FsmCalOwner(self.ctx, self)
        self.last = None  # the last run seen (dropped by the owner once it ended)
        self.v_last = self.v_before = (200, -300)
        self.k = 0
        self.spot_lost = False
        self.busy_only = True

    def p(self):
        t = self.k * 0.01
        j = self.jitter
        return (200.0 + self.drift * self.k + j * math.sin(2 * math.pi * 3.1 * t),
                -300.0 - 0.7 * self.drift * self.k + j * math.cos(2 * math.pi * 2.3 * t + 1))

    def tick(self):
        self.k += 1
        self.state_ticks += 1
        self.frames += 1
        if self.spot_lost:
            self.invalid_frames += 1
            self.bad_run += 1
            self.valid = False
            return
        self.bad_run = 0
        a = self.alpha
        px, py = self.p()
        ex = px - (a * self.v_last[0] + (1 - a) * self.v_before[0])
        ey = py - (a * self.v_last[1] + (1 - a) * self.v_before[1])
        m = self.m
        dx = int(round(Q6_PER_CODE * (m[0] * ex + m[1] * ey) + self.rng.gauss(0, self.noise)))
        dy = int(round(Q6_PER_CODE * (m[2] * ex + m[3] * ey) + self.rng.gauss(0, self.noise)))
        c = self.cal
        if c is not K.NO_CAL:
            self.last = c
        if c.busy or not self.busy_only:  # (the APT tick calls it only while busy)
            c.frame(dx, dy)
        law = self.law  # an integrator of gain ~0.7 in nominal units
        law.u_x += int((dx - c.ff_x) / Q6_PER_CODE * 180)
        law.u_y += int((dy - c.ff_y) / Q6_PER_CODE * 180)
        self.v_before = self.v_last
        self.v_last = ((law.u_x >> 8) + c.d_x, (law.u_y >> 8) + c.d_y)

    def run(self, ticks):
        for i in range(ticks):
            self.tick()
            if i % 10 == 9:
                self.owner.update()  # the 10 Hz task

    def events(self, ev):
        return [e for e in self.ctx.events if e[0] == ev]


def true_matrix(gx, gy, rot, cxy=0.0, cyx=0.0, ifov=0.0):
    c, s = math.cos(rot), math.sin(rot)
    g = ((1 + gx, cxy), (cyx, 1 + gy))
    r = ((c, s), (-s, c))
    k = 1.0 / (1.0 + ifov)
    return tuple(k * sum(r[i][j] * g[j][col] for j in range(2)) for i in range(2)
                 for col in range(2))


@pytest.mark.parametrize("gx, gy, rot, cxy, cyx, alpha", [
    (0.05, -0.04, 0.030, 0.0, 0.0, 1.0),
    (-0.06, 0.03, -0.020, 0.01, -0.005, 0.85),  # long exposure: two commands mixed
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.7),
])
def test_calibration_recovers_gain_rotation_and_cross_coupling(gx, gy, rot, cxy, cyx, alpha):
    m = true_matrix(gx, gy, rot, cxy, cyx)
    pl = Plant(m, alpha=alpha)
    pl.run(STEPS + 300)
    (done,) = pl.events(K.EV_APT_CAL_DONE)
    tgx, tgy, tth, tcross = fit.polar(m)
    p = pl.ctx.params
    assert p["apt_fsm_gain_x"] == pytest.approx(tgx, abs=0.006)
    assert p["apt_fsm_gain_y"] == pytest.approx(tgy, abs=0.006)
    assert p["apt_cam_rot_mrad"] == pytest.approx(tth * 1e3, abs=6.0)
    assert done[1][3] == pytest.approx(tcross, abs=0.006)
    assert p["apt_cal_valid"] is True
    assert 0 < done[1][4] < 0.01 and done[1][5] == pl.owner.raw[5] == 1280  # resid, steps
    assert pl.owner.state == 2 and pl.owner.accepted == 1
    assert pl.cal.d_x == pl.cal.d_y == 0  # the mirror is back to the loop alone
    # Once per session while valid: no second automatic run.
    pl.run(800)
    assert len(pl.events(K.EV_APT_CAL_START)) == 1


def test_the_hook_only_while_busy_changes_nothing():
    # The APT tick calls FsmCal.frame only while ``busy`` (a run, and the frame after it
    # that clears the feed-forward): the same calibration, step for step, as a call on
    # every frame.
    m = true_matrix(0.05, -0.04, 0.030)
    runs = []
    for busy_only in (False, True):
        pl = Plant(m, alpha=0.85)
        pl.busy_only = busy_only
        trace = []
        for i in range(STEPS + 600):
            pl.tick()
            if i % 10 == 9:
                pl.owner.update()
            c = pl.cal
            trace.append((pl.law.u_x, pl.law.u_y, c.d_x, c.d_y, c.ff_x, c.ff_y, c.run))
        runs.append((trace, [e[:2] for e in pl.ctx.events], pl.cal.busy))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert any(t[6] == K.RUN_INJECT for t in runs[1][0])  # it ran ...
    assert runs[1][2] is False  # ... and the hook is idle again


def test_without_the_two_tap_model_a_long_exposure_would_bias_the_gain():
    """Why the fit has the command before the last as a regressor: the same data with a
    one-command model (B2 forced to zero, i.e. only the transition frames' B1) is off by
    the mixing fraction."""
    m = true_matrix(0.0, 0.0, 0.0)
    pl = Plant(m, alpha=0.8, params={"apt_cal_resid_max": 0.5})
    pl.run(STEPS + 300)
    sm = list(pl.last.sums)
    for b in (0, fit.HALF):  # keep only the last command's instruments and regressors
        for i in range(fit.HALF):
            col = i % 4 if i < 8 else (i - 8) % 4
            row = None if i < 8 else (i - 8) // 4
            if col >= 2 or (row is not None and row >= 2):
                sm[b + i] = 0 if (row is None or row != col) else 1
    k = -100.0 / (64.0 * FSM_LSB_RAD * 1e6)
    one_tap = fit.matrix(sm, (0, fit.HALF), k, k)
    two_tap = pl.ctx.params["apt_fsm_gain_x"]
    assert two_tap == pytest.approx(1.0, abs=0.006)
    assert one_tap[0] < 0.9  # the transition frames alone see ~alpha of the step


def test_an_implausible_result_is_refused_and_the_parameters_stay():
    pl = Plant(true_matrix(0.40, 0.0, 0.0))  # gain 1.4: outside 0.8-1.25
    pl.run(STEPS + 300)
    (ev,) = pl.events(K.EV_APT_CAL_REFUSED)
    assert ev[2].startswith("apt_fsm_gain_x 1.") and "outside [0.8, 1.25]" in ev[2]
    assert ev[1][1] == pytest.approx(1.4, abs=0.01)  # the result is reported anyway
    p = pl.ctx.params
    assert (p["apt_fsm_gain_x"], p["apt_fsm_gain_y"], p["apt_cam_rot_mrad"],
            p["apt_cal_valid"]) == (1.0, 1.0, 0.0, False)
    assert pl.owner.state == 3 and pl.owner.refused == 1 and not pl.events(K.EV_APT_CAL_DONE)
    # rotation beyond 100 mrad and a poor fit are refused too
    pl = Plant(true_matrix(0.0, 0.0, 0.15))
    pl.run(STEPS + 300)
    assert pl.events(K.EV_APT_CAL_REFUSED)[0][2].startswith("apt_cam_rot_mrad 1")
    pl = Plant(true_matrix(0.0, 0.0, 0.0), noise_q6=6.0, params={"apt_cal_resid_max": 0.001})
    pl.run(STEPS + 300)
    assert pl.events(K.EV_APT_CAL_REFUSED)[0][2].startswith("fit residual")
    assert pl.ctx.params["apt_cal_valid"] is False


def test_a_lost_spot_mid_calibration_aborts_cleanly():
    pl = Plant(true_matrix(0.02, 0.0, 0.0))
    pl.run(300)  # started at the 10th task run (a second of drift measured), 200 steps in
    assert pl.cal.run == K.RUN_INJECT and pl.cal.sent > 100
    assert pl.cal.d_x != 0 or pl.cal.d_y != 0
    pl.spot_lost = True
    pl.run(10)
    (ev,) = pl.events(K.EV_APT_CAL_ABORTED)
    assert ev[1][0] == "spot lost" and 100 < ev[1][1] < 1280
    assert pl.cal.run == K.RUN_IDLE and pl.owner.state == 4 and pl.owner.aborted == 1
    assert pl.cal.d_x == pl.cal.d_y == 0
    assert pl.ctx.params["apt_fsm_gain_x"] == 1.0 and not pl.events(K.EV_APT_CAL_DONE)
    # The automatic attempt of this session is spent; the spot returns: no restart...
    pl.spot_lost = False
    pl.valid = True
    pl.run(100)
    assert len(pl.events(K.EV_APT_CAL_START)) == 1
    # ... until a new session (APT idle in between).
    pl.state = A.IDLE
    pl.owner.update()
    pl.state = APT_TRACK
    pl.run(120)
    assert len(pl.events(K.EV_APT_CAL_START)) == 2


def test_its_task_disabled_mid_calibration_takes_the_step_off_the_mirror():
    # Before, a run left in place held its step on the mirror and the APT in its
    # calibration frames for the rest of the session.  The task's safe state ends it.
    pl = Plant(true_matrix(0.02, 0.0, 0.0))
    pl.run(300)
    run = pl.cal
    assert run.run == K.RUN_INJECT and run.sent > 100 and (run.d_x != 0 or run.d_y != 0)
    (task,) = pl.owner.tasks()
    assert task.on_disable == pl.owner.task_disabled
    task.on_disable()  # what the scheduler does at the task's 5th fault in a row
    (ev,) = pl.events(K.EV_APT_CAL_ABORTED)
    assert ev[1] == ["its task was disabled", run.sent]
    assert pl.cal is K.NO_CAL and not pl.cal.busy and pl.cal.d_x == pl.cal.d_y == 0
    assert pl.owner.cal is None and pl.owner.state == 4 and pl.owner.aborted == 1
    assert pl.ctx.params["apt_fsm_gain_x"] == 1.0 and not pl.events(K.EV_APT_CAL_DONE)
    task.on_disable()  # nothing running: nothing to report
    assert len(pl.events(K.EV_APT_CAL_ABORTED)) == 1


def test_a_slewing_platform_delays_the_start_until_it_settles():
    """An ADCS slew (after an offload) moves the line of sight under the steps: early on the
    nominal pass it doubled the platform's share of the rotation's error.  A calibration
    starts only once the mirror moved less than apt_cal_drift_max_urad_s in a second."""
    pl = Plant(true_matrix(0.0, 0.0, 0.0), drift=3.0)  # ~300 codes/s: above 150 urad/s
    pl.run(500)
    assert not pl.events(K.EV_APT_CAL_START) and pl.cal.run == K.RUN_IDLE
    assert abs(pl.law.u_x >> 8) > 1500  # the mirror followed the slew
    pl.drift = 0.0  # the slew ends (the platform back where it started)
    pl.run(300)
    (ev,) = pl.events(K.EV_APT_CAL_START)
    assert pl.cal.run == K.RUN_INJECT


@pytest.mark.parametrize("why, act", [
    ("left TRACK", lambda pl: setattr(pl, "state", A.LOST)),
    ("session ended", lambda pl: setattr(pl, "state", A.IDLE)),
    ("mirror command failed", lambda pl: setattr(pl, "fsm_errors", 1)),
])
def test_other_aborts(why, act):
    pl = Plant(true_matrix(0.0, 0.0, 0.0))
    pl.run(200)
    assert pl.cal.run == K.RUN_INJECT
    act(pl)
    pl.owner.update()
    assert pl.events(K.EV_APT_CAL_ABORTED)[0][1][0] == why
    assert pl.cal.d_x == 0 and pl.ctx.params["apt_cal_valid"] is False


def test_commanded_calibration_waits_for_track_and_is_busy_while_running():
    pl = Plant(true_matrix(0.0, 0.0, 0.0), params={"apt_cal_auto": 0, "apt_cal_settle_s": 1.0})
    pl.run(300)
    assert not pl.events(K.EV_APT_CAL_START)  # automatic calibration off
    cmd = BY_NAME["APT_FSM_CALIBRATE"]
    assert (cmd.owner, cmd.handler, cmd.modes) == ("aptcal", "cmd_fsm_calibrate", ("SESSION",))
    pl.state = A.ACQUIRE
    pl.state_ticks = 0
    pl.owner.check_command(cmd, {})
    assert pl.owner.cmd_fsm_calibrate({}, None) == {"armed": True, "tracking": False}
    pl.run(50)
    assert not pl.events(K.EV_APT_CAL_START)  # not in TRACK
    pl.state = APT_TRACK
    pl.state_ticks = 0  # (the APT counts ticks from its entry into TRACK)
    pl.run(80)
    assert not pl.events(K.EV_APT_CAL_START)  # TRACK not yet held apt_cal_settle_s
    pl.run(30)
    (ev,) = pl.events(K.EV_APT_CAL_START)
    assert ev[1] == [1, 20, 1280]  # trigger TC, step, steps
    with pytest.raises(Refused) as refused:
        pl.owner.check_command(cmd, {})
    assert refused.value.reason == "BUSY"
    pl.run(STEPS + 100)
    assert pl.events(K.EV_APT_CAL_DONE)


def test_a_calibration_armed_before_the_apt_starts_waits_for_track_until_the_session_ends():
    """APT_FSM_CALIBRATE sent right after SESSION_START finds the APT still IDLE (it
    starts a second later): the request stands until TRACK (it was dropped there)."""
    pl = Plant(true_matrix(0.0, 0.0, 0.0), params={"apt_cal_auto": 0, "apt_cal_settle_s": 1.0})
    pl.state = A.IDLE
    assert pl.owner.cmd_fsm_calibrate({}, None) == {"armed": True, "tracking": False}
    pl.owner.update()  # the 10 Hz task with the APT IDLE
    assert pl.owner.requested
    pl.state = APT_TRACK
    pl.state_ticks = 0
    pl.run(120)
    (ev,) = pl.events(K.EV_APT_CAL_START)
    assert ev[1][0] == 1  # trigger: the TC
    pl.run(STEPS + 100)
    assert pl.events(K.EV_APT_CAL_DONE)
    # a request left over at the session's end does not carry into the next session
    pl2 = Plant(true_matrix(0.0, 0.0, 0.0), params={"apt_cal_auto": 0})
    pl2.state = A.IDLE
    pl2.owner.cmd_fsm_calibrate({}, None)
    pl2.owner.stop_session()
    pl2.state = APT_TRACK
    pl2.state_ticks = 0
    pl2.run(200)
    assert not pl2.events(K.EV_APT_CAL_START) and not pl2.owner.requested


def test_hk_reports_state_and_the_last_result():
    pl = Plant(true_matrix(0.03, -0.02, 0.01))
    v = [None] * 12
    pl.owner.hk(v, 0)
    assert v[:2] == [0, 0]
    pl.run(STEPS + 300)
    pl.owner.hk(v, 0)
    assert v[:2] == [2, 1]  # ACCEPTED, one accepted
    pl.owner.hk_diag(v, 2)
    gx = pl.ctx.params["apt_fsm_gain_x"]
    assert v[2] == round(gx * 1e4) and v[4] == round(pl.ctx.params["apt_cam_rot_mrad"] * 100)
    assert v[7] == 1280 and v[8:10] == [0, 0]
    assert [f.name for f in K.HK] == ["apt_cal_state", "apt_cal_count"]
    assert len(K.HK_DIAG) == 8 and more(K.HK[0])[4][v[0]] == "ACCEPTED"  # (its enum)
