"""The comparator's start level (flight/comparator.py, comparator_sweep.py) on the fake
receiver channel (tests/comparator_rig.py): TRACK from the a-priori level without a
sweep, the three-window acquisition around it (the vertex of three log rates), no heap
for the acquisition, the noise levels from the breakdown knee.
"""

import sys

import pytest

from flight import comparator as C
from flight import comparator_sweep as S
from flight import lazy
from tests.comparator_rig import Rig


def test_start_without_sweep_tracks_from_the_a_priori_level():
    # Flight default (comp_start_sweep=0): the first packets at the a-priori level put the
    # comparator in TRACK at once, no level of the sweep's far end is ever set.
    r = Rig(signal=False, params={"comp_start_sweep": 0, "comp_start_code": 1980})
    r.start()
    r.until(C.WAIT_SIGNAL, 40)
    parked = r.dac.code()  # the a-priori level (above the floor + margin here)
    assert parked == 1980 and r.comp.noise_floor > 1000
    r.ch.signal = True
    codes = []
    for _ in range(40):
        r.window()
        codes.append(r.dac.code())
        if r.comp.state == C.TRACK:
            break
    assert r.comp.state == C.TRACK and r.comp.calibrations == 1
    assert r.comp.tracking_level() == parked
    assert min(codes) >= parked - r.params["comp_dither_codes"]


# ---------------------------------------------------------------------- start level
def test_vertex_of_three_log_rates():
    # an exact parabola in log: the vertex, wherever it lies within two steps
    for c0 in (950, 1000, 1031, 1090):
        r = [10 ** (((x - c0) / 60.0) ** 2) for x in (952, 1000, 1048)]
        assert abs(S.vertex(1000, 48, *r) - c0) <= 1  # rounded to a code
    assert S.vertex(1000, 48, *[10 ** (((x - 1300) / 60.0) ** 2)
                                      for x in (952, 1000, 1048)]) == 1096  # 2 steps at most
    # no minimum bracketed (a slope, or flat): the lowest of the three
    assert S.vertex(1000, 48, 3.0, 2.0, 1.0) == 1048
    assert S.vertex(1000, 48, 1.0, 2.0, 3.0) == 952
    assert S.vertex(1000, 48, 1.0, 1.0, 1.0) == 1000


def _acquiring_rig(c0, **ch):
    r = Rig(signal=False, params={"comp_start_sweep": 0, "comp_start_code": 1980},
            c0=c0, bmin=1e-3, parabola=150.0, cv=True, **ch)
    r.start()
    r.until(C.WAIT_SIGNAL, 40)
    r.ch.signal = True
    return r


@pytest.mark.parametrize("c0", [1940, 1980, 2010])
def test_start_level_from_three_windows_around_the_a_priori_level(c0):
    # The first packets: violations at the a-priori level, then at -/+ 48 codes; TRACK
    # starts at the vertex — the optimum, not the a-priori level.  (An optimum outside
    # the triple moves it first: test_start_level_acquisition_moves_its_triple_...)
    r = _acquiring_rig(c0)
    d = r.params["comp_acquire_codes"]
    codes = []
    for _ in range(10):
        r.window()
        codes.append(r.dac.code())
        if r.comp.state == C.TRACK:
            break
    assert r.comp.state == C.TRACK and r.comp.calibrations == 1
    assert sorted(set(codes[:-1])) == [1980 - d, 1980 + d]  # the two probes, nothing else
    assert abs(r.comp.tracking_level() - c0) <= 2
    assert r.params["comp_start_code"] == r.comp.tracking_level()  # the next session's
    ev = r.args(C.EV_COMP_CALIBRATED)[-1]
    assert ev[0] == r.comp.tracking_level() and 0.3 <= ev[1] <= 0.6


def test_start_level_acquisition_moves_its_triple_when_it_brackets_nothing():
    # A V in log (linear on each side): all three probes on the optimum's high side read
    # no minimum; the triple steps down (one more window each time, at most twice).
    r = Rig(signal=False, params={"comp_start_sweep": 0, "comp_start_code": 1980},
            c0=1850, bmin=1e-4, scale=200.0, cv=True)
    r.start()
    r.until(C.WAIT_SIGNAL, 40)
    r.ch.signal = True
    codes = []
    for _ in range(16):
        r.window()
        codes.append(r.dac.code())
        if r.comp.state == C.TRACK:
            break
    assert r.comp.state == C.TRACK
    probed = set(codes[:-1])
    assert {1932, 2028, 1884} <= probed  # 1980 -/+ 48, then a step down: 1884
    assert probed <= {1788, 1836, 1884, 1932, 2028}  # (and at most two more)
    assert abs(r.comp.tracking_level() - 1850) <= 48
    assert abs(1980 - 1850) > 48  # where it would have started without the shifts


def test_start_level_acquisition_restarts_when_the_light_goes():
    r = _acquiring_rig(1900)
    r.window(2)  # a-priori level measured, now at the low probe
    assert r.comp.state == C.WAIT_SIGNAL and r.dac.code() == 1980 - 48
    r.ch.signal = False
    r.window()
    assert r.comp.state == C.WAIT_SIGNAL and r.dac.code() == 1980  # back, and waiting
    r.ch.signal = True
    r.window(14)  # (the optimum 80 codes below: the triple steps down twice)
    assert r.comp.state == C.TRACK and abs(r.comp.tracking_level() - 1900) <= 2


@pytest.mark.parametrize("c0", [1900, 2050])
def test_start_level_acquisition_follows_an_optimum_outside_its_triple(c0):
    r = _acquiring_rig(c0)
    for _ in range(20):
        r.window()
        if r.comp.state == C.TRACK:
            break
    assert r.comp.state == C.TRACK and abs(r.comp.tracking_level() - c0) <= 2


def test_half_amplitude_dither_when_violations_are_plentiful():
    r = _acquiring_rig(1980)
    r.until(C.TRACK, 10)
    d = r.params["comp_dither_codes"]
    r.window(8)  # one dither cycle at the full amplitude, then the violations decide
    assert r.comp._amp == (d + 1) // 2
    r.window(12)
    assert abs(r.dac.code() - r.comp.tracking_level()) == (d + 1) // 2
    assert abs(r.comp.tracking_level() - 1980) <= d  # and it stays on the optimum
    # few violations (BER ~1e-7: high power): the full amplitude
    lo = _acquiring_rig(1980)
    lo.ch.bmin = 1e-7
    lo.window(40)
    assert lo.comp.state == C.TRACK and lo.comp._amp == d


class _NoHeap:
    """flight.lazy as the comparator sees it with the heap exhausted at the import."""

    LoadFailed = lazy.LoadFailed

    def __init__(self):
        self.tried = 0

    def load(self, name, emit=None):
        self.tried += 1
        emit(lazy.EV_MODULE_LOAD_FAILED, None, name)
        raise lazy.LoadFailed("heap exhausted")

    def release(self, name):
        pass


def test_no_heap_for_the_sweep_tracks_from_the_level_in_use_and_says_why(monkeypatch):
    r = _acquiring_rig(1980)
    fake = _NoHeap()
    monkeypatch.setattr(C, "lazy", fake)
    r.until(C.TRACK, 10)  # the acquisition cannot load: TRACK at the a-priori level
    assert r.comp.tracking_level() == 1980 and r.comp.calibrations == 1
    assert r.named(lazy.EV_MODULE_LOAD_FAILED) == ["flight.comparator_sweep"]
    assert "no heap for the acquisition" in r.named(C.EV_COMP_CALIBRATED)[0]
    # a commanded re-calibration is refused the same way: the level is kept, tracked
    r.comp.cmd_calibrate({}, None)
    assert r.comp.state == C.TRACK and fake.tried == 2 and r.comp.tracking_level() == 1980
    monkeypatch.undo()  # the heap back: the next re-calibration sweeps
    r.comp.cmd_calibrate({}, None)
    assert r.comp.state == C.SWEEP and r.comp._sw is not None
    r.until(C.TRACK, 100)
    assert r.comp._sw is None and r.comp.calibrations == 2


class _Knee:
    """The breakdown sweep as the comparator sees it: idle, with its noise measured."""

    state = 0
    floor_sigma = 0.004  # V RMS at the operating point


def test_the_noise_levels_from_the_knee_leave_no_sweep_code_while_waiting():
    r = Rig(signal=False)
    r.comp.knee = _Knee()
    r.dac.volts_per_code = 1.0 / 4095  # (the kit's DAC has no scale: the simulated one's)
    r.fc.start_session()
    r.comp.start_session()
    assert r.comp.state == C.WAIT_SIGNAL and r.comp._apriori is not None
    assert r.comp.noise_floor > 0  # from the knee's noise, without a noise sweep
    # WAIT_SIGNAL may last the pass's first minutes: nothing of the sweep held meanwhile
    assert r.comp._sw is None and "flight.comparator_sweep" not in sys.modules
    r.window(3)
    assert r.comp._sw is None and r.comp.state == C.WAIT_SIGNAL
