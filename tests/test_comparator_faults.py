"""The comparator (flight/comparator.py) with its devices failing, as an outside probe
injects it: DAC writes failing mid-sweep, at a sweep's abandon and at a session's start;
framer windows that did not come through the optics (loopback, a mode change);
COMP_CALIBRATE while the level is held by someone else.  The fake receiver channel of
tests/comparator_rig.py, and the whole pass on the simulated board (sim/run/passsim.py).
"""

import pytest

from flight import comparator as C
from flight.cmddict import BY_NAME, Refused
from tests.comparator_rig import PACKETS, Rig, calibrated


def _filed(rig):
    """(levels, BERs the sweep filed under them) of the sweep in progress."""
    comp = rig.comp
    return list(comp._sweep_codes[:len(comp._sweep_ber)]), list(comp._sweep_ber)


def _measured(rig, code):
    """The BER the framer measures at ``code`` on the rig's channel (mean counts)."""
    b = rig.ch.ber(code)
    return 0.5 if b >= 0.05 else int(64 * PACKETS * b + 0.5) / (64.0 * PACKETS)


def test_a_dac_dead_during_a_sweep_calibrates_nothing_and_the_sweep_goes_on_after():
    """Before: every write failing, the sweep read the one level the DAC kept as every
    level's and ended in COMP_CALIBRATED (comp_start_code saved from it)."""
    rig = calibrated(c0=2000)
    n = rig.comp.calibrations
    start = rig.params["comp_start_code"]
    rig.dac.fail = 10 ** 6
    rig.comp.cmd_calibrate({}, None)
    rig.window(300)  # 30 s
    assert rig.comp.state == C.SWEEP and rig.comp.calibrations == n
    assert rig.params["comp_start_code"] == start and rig.comp._sweep_ber == []
    assert rig.args(C.EV_COMP_CALIBRATED) == [[start, pytest.approx(
        rig.comp.cal_duration_s)]]  # (the first calibration's only)
    assert rig.comp.dac_errors == 301  # the sweep's first write, then one retry a window
    assert rig.args(C.EV_COMP_DAC_ERROR) == [[1], [101], [201], [301]]
    assert rig.k.hk("comparator")["comp_code"] == rig.dac.value  # the level in use
    rig.dac.fail = 0
    rig.until(C.TRACK, 100)
    assert rig.comp.calibrations == n + 1 and abs(rig.comp.tracking_level() - 2000) <= 15


def test_a_dac_write_failing_mid_sweep_files_no_ber_under_a_level_not_set():
    """Before: the window after a failed write (still at the previous level) was filed
    as the new level's BER."""
    rig = calibrated(c0=2000)
    rig.comp.cmd_calibrate({}, None)
    rig.window(4)
    rig.dac.fail = 1
    rig.window(4)
    codes, bers = _filed(rig)
    assert len(codes) >= 5 and rig.comp.dac_errors == 1
    assert bers == pytest.approx([_measured(rig, c) for c in codes])


def test_a_failed_write_back_after_an_abandoned_sweep_is_made_good():
    """The light goes mid-sweep and the write back to the level in use fails: before, the
    DAC stayed at the sweep's far level, where the next acquisition started."""
    rig = calibrated(c0=2000)
    prior = rig.comp.tracking_level()
    rig.comp.cmd_calibrate({}, None)
    rig.window(4)
    far = rig.dac.value
    assert abs(far - prior) > 300
    rig.ch.signal = False
    rig.dac.fail = 1
    rig.window(3)
    assert rig.comp.state == C.WAIT_SIGNAL and rig.comp.sweeps_abandoned == 1
    assert rig.dac.value == prior and rig.comp.code == prior


def test_a_session_starting_with_the_dac_failing_says_the_dacs_own_level():
    rig = calibrated(c0=2000)
    rig.comp.stop_session()
    rig.fc.stop_session()
    rig.ch.signal = False  # (the next pass: its noise sweep before the light)
    assert rig.comp.code != 2048
    rig.dac.fail = 5
    rig.fc.start_session()
    rig.comp.start_session()  # dac.init(): mid-scale, then the first probe fails
    assert rig.comp.code == rig.dac.value == 2048
    assert rig.k.hk("comparator")["comp_code"] == 2048
    rig.fc.update()
    rig.window(4)
    assert rig.comp.state == C.NOISE_SWEEP and rig.comp._lo == 0  # nothing judged yet
    rig.dac.fail = 0
    rig.until(C.WAIT_SIGNAL, 40)
    assert rig.comp.noise_floor == pytest.approx(1234, abs=1)


def _loopback_window(rig):
    """A loopback window: packets without an error whatever the level, no light."""
    rig.ctx.t += 0.1
    rig.hal.add(ok=PACKETS, trig=5, locked=True)
    rig.fc.update()
    rig.comp.update()


def test_loopback_packets_are_not_taken_for_the_uplink():
    """Before: the self-test's packets started the acquisition in WAIT_SIGNAL without any
    light and ended it in COMP_CALIBRATED (comp_start_code saved)."""
    rig = Rig(signal=False, params={"comp_start_sweep": 0, "comp_start_code": 2000})
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    rig.fc.cmd_set_mode({"mode": "LOOPBACK"}, None)
    for _ in range(20):
        _loopback_window(rig)
    assert rig.comp.state == C.WAIT_SIGNAL and rig.comp.calibrations == 0
    assert rig.args(C.EV_COMP_CALIBRATED) == []
    rig.fc.cmd_set_mode({"mode": "DATA"}, None)
    rig.ch.signal = True
    rig.until(C.TRACK, 20)  # the uplink itself: the acquisition as usual
    assert rig.comp.calibrations == 1 and abs(rig.comp.tracking_level() - 2000) <= 15


def test_a_sweep_interrupted_by_a_loopback_self_test_holds_and_goes_on():
    rig = calibrated(c0=2000)
    rig.comp.cmd_calibrate({}, None)
    rig.window(5)
    codes, bers = _filed(rig)
    level = rig.dac.value
    rig.fc.cmd_set_mode({"mode": "LOOPBACK"}, None)
    for _ in range(10):
        _loopback_window(rig)
    assert rig.comp.state == C.SWEEP and _filed(rig) == (codes, bers)
    assert rig.dac.value == level
    rig.fc.cmd_set_mode({"mode": "DATA"}, None)
    rig.window()  # (the window across the change back is not the comparator's either)
    assert _filed(rig) == (codes, bers)
    rig.until(C.TRACK, 100)
    assert abs(rig.comp.tracking_level() - 2000) <= 15
    assert rig.comp.sweeps_abandoned == 0


class _Knee:
    state = 1  # a breakdown sweep in progress (flight/bias_knee.py SWEEP)
    floor_sigma = None


def test_comp_calibrate_is_busy_while_the_level_is_held_by_another():
    """Before: accepted with the comparator OFF (paused by a commanded breakdown sweep,
    or not started yet) or while a knee held the level: the sweep's first level was
    written under the knee's measurement."""
    cmd = BY_NAME["COMP_CALIBRATE"]
    rig = calibrated(c0=2000)
    rig.comp.check_command(cmd, {})  # TRACK: accepted
    for held in ("knee", "off"):
        if held == "knee":
            rig.comp.knee = _Knee()
        else:
            rig.comp.knee = None
            rig.comp.stop_session()  # (what BIAS_KNEE_CALIBRATE does to it)
        with pytest.raises(Refused) as refused:
            rig.comp.check_command(cmd, {})
        assert refused.value.reason == "BUSY"


def test_on_the_simulated_board_comp_calibrate_is_busy_during_a_commanded_knee():
    from sim.run.passsim import fly

    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    comp = app.payload["comparator"]
    knee = app.payload["bias_knee"]
    assert comp.state == C.TRACK
    knee.cmd_knee_calibrate({}, None)
    assert comp.state == C.OFF and knee.state
    with pytest.raises(Refused) as refused:
        comp.check_command(BY_NAME["COMP_CALIBRATE"], {})
    assert refused.value.reason == "BUSY"


def test_on_the_simulated_board_a_dead_dac_holds_the_level_and_calibrates_nothing():
    from sim.run.passsim import fly

    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    comp = app.payload["comparator"]
    dac = res.world.comparator
    assert comp.state == C.TRACK
    n = comp.calibrations
    level = dac.code()
    dac.bus_errors = 10 ** 6
    comp.cmd_calibrate({}, None)
    app.run_for(5000000)
    assert comp.calibrations == n and comp.state == C.SWEEP and dac.code() == level
    assert comp.dac_errors >= 50
    dac.bus_errors = 0
    app.run_for(10000000)
    assert comp.state == C.TRACK and comp.calibrations == n + 1


def test_a_sweep_with_the_framer_blind_for_a_second_goes_back_to_the_level_in_use():
    """Before: counters unreadable mid-sweep held the DAC at the sweep's far level (where
    nothing decodes) for as long as the framer stayed blind."""
    rig = calibrated(c0=2000)
    prior = rig.comp.tracking_level()
    rig.comp.cmd_calibrate({}, None)
    rig.window(4)
    assert abs(rig.dac.value - prior) > 300
    rig.hal.fail = 10 ** 6
    rig.window(9)  # under a second: a glitch, the sweep waits
    assert rig.comp.state == C.SWEEP and rig.args(C.EV_COMP_BLIND) == []
    rig.window()
    assert rig.comp.state == C.WAIT_SIGNAL and rig.dac.value == prior
    assert rig.args(C.EV_COMP_BLIND) == [[1]] and rig.comp.sweeps_abandoned == 0
    assert rig.comp._sw is None  # (the sweep's code released)
    rig.window(30)
    assert rig.comp.state == C.WAIT_SIGNAL and rig.args(C.EV_COMP_BLIND) == [[1]]
    rig.hal.fail = 0
    rig.until(C.SWEEP, 20)  # light the level in use does not decode: a sweep again
    rig.until(C.TRACK, 100)
    assert abs(rig.comp.tracking_level() - 2000) <= 15


def test_an_acquisition_with_the_framer_blind_goes_back_to_the_a_priori_level():
    rig = Rig(signal=False, params={"comp_start_sweep": 0, "comp_start_code": 1980},
              c0=1990, bmin=1e-3, parabola=150.0, cv=True)
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    rig.ch.signal = True
    rig.window(2)  # the a-priori level's window, then the low side's level set
    assert rig.comp._acq_n and rig.dac.value != 1980
    rig.hal.fail = 10 ** 6
    rig.window(10)
    assert rig.comp.state == C.WAIT_SIGNAL and not rig.comp._acq_n
    assert rig.dac.value == 1980 and rig.args(C.EV_COMP_BLIND) == [[1]]


def test_a_framer_stopped_has_no_window_for_the_comparator():
    """The framer's safe state (its task disabled for its faults, or the session's end):
    before, ``window_valid`` stayed as the last update left it."""
    rig = calibrated(c0=2000)
    assert rig.fc.window_valid
    rig.fc.stop_session()
    assert not rig.fc.window_valid
