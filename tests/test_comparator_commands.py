"""The comparator's telecommand and housekeeping (flight/comparator.py) on the fake
receiver channel (tests/comparator_rig.py): COMP_CALIBRATE through the flight app's TC
pipeline (BUSY while calibrating, refused outside a session), its HK and HK_DIAG fields.
"""

import pytest

from flight import comparator as C
from flight.cmddict import BY_NAME
from tests.comparator_rig import Rig, calibrated
from tests.mpy.obc import Obc

OP = {name: c.opcode for name, c in BY_NAME.items()}  # opcodes from the dictionary only


# ---------------------------------------------------------------------- COMP_CALIBRATE
def obc_for(rig):
    """The one TC/TM harness (tests/mpy/obc.py) on the rig's booted flight app."""
    return Obc(board=rig.app.board, app=rig.app, boot=False)


def test_comp_calibrate_through_the_tc_pipeline_with_busy():
    rig = Rig(signal=True, c0=2000, params={"comp_start_code": 2000}, app=True)
    acc = [0]

    def hook(dt):  # the channel delivers a window every 100 ms of virtual time
        acc[0] += dt
        while acc[0] >= 100000:
            acc[0] -= 100000
            rig.ch.step()

    rig.clock.step_hook = hook
    obc = obc_for(rig)
    obc.send(OP["SET_MODE"], {"mode": "STANDBY"})
    obc.send(OP["SESSION_START"])
    for _ in range(100):  # 10 s: noise sweep skipped (signal), sweep, TRACK
        obc.run(100000)
        if rig.comp.state == C.TRACK:
            break
    assert rig.comp.state == C.TRACK
    obc.reports()
    reps = obc.send(OP["COMP_CALIBRATE"], run_us=100000)
    assert rig.comp.state == C.SWEEP
    reps += obc.send(OP["COMP_CALIBRATE"], run_us=100000)  # while calibrating: BUSY
    stages = [(r["stage"], r["ok"]) for r in reps]
    assert stages[:2] == [("accept", True), ("complete", True)]
    busy = [r for r in reps if r.get("reason") == "BUSY"]
    assert len(busy) == 1 and busy[0]["ok"] is False and busy[0]["stage"] == "accept"
    assert rig.comp.state == C.SWEEP
    assert any("TC" in t for t in rig.named(C.EV_COMP_RECAL))
    for _ in range(60):
        obc.run(100000)
        if rig.comp.state == C.TRACK:
            break
    assert rig.comp.state == C.TRACK and rig.comp.calibrations == 2
    assert abs(rig.comp.tracking_level() - 2000) <= 15
    obc.reports()
    reps = obc.send(OP["COMP_CALIBRATE"], run_us=100000)  # idle again: accepted
    assert not any(r.get("reason") == "BUSY" for r in reps)
    assert rig.comp.state == C.SWEEP


def test_comp_calibrate_outside_session_is_refused():
    rig = Rig(app=True)
    obc = obc_for(rig)
    obc.send(OP["SET_MODE"], {"mode": "STANDBY"})
    reps = obc.send(OP["COMP_CALIBRATE"], run_us=100000)
    assert any(r.get("reason") == "WRONG_MODE" for r in reps)
    assert rig.comp.state == C.OFF


def test_calibrate_is_busy_only_while_calibrating():
    from flight.cmddict import BY_NAME, Refused

    cmd = BY_NAME["COMP_CALIBRATE"]
    rig = calibrated(c0=2000)
    rig.comp.check_command(cmd, {})  # TRACK: accepted
    rig.comp.cmd_calibrate({}, None)
    assert rig.comp.state == C.SWEEP
    with pytest.raises(Refused) as refused:
        rig.comp.check_command(cmd, {})
    assert refused.value.reason == "BUSY"
    rig.comp.check_command(BY_NAME["PING"], {})  # (other commands are not its business)


def test_hk_and_diag_fields():
    rig = calibrated(c0=2000)
    hk = rig.k.hk("comparator")
    assert hk["comp_state"] == C.TRACK and hk["comp_calibrations"] == 1
    assert hk["comp_code"] == rig.dac.value and hk["comp_center"] == rig.comp.tracking_level()
    diag = rig.k.hk("comparator", diag=True)
    assert diag["comp_noise_floor"] == 1234
    assert diag["comp_window_lo"] == rig.comp.window_lo < diag["comp_window_hi"]
    assert diag["comp_cal_duration"] == round(rig.comp.cal_duration_s * 100)
    fresh = Rig()
    assert fresh.k.hk("comparator", diag=True)["comp_window_lo"] == 65535  # none yet
