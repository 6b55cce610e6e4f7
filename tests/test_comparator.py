"""Comparator-level management (flight/comparator.py) against a fake receiver channel.

The fake channel turns the comparator DAC code into one 100 ms framer window: noise
triggers below a noise floor, and a bit error rate that is a V in log scale around an
optimum level (Fig. A1's shape); the real FramerControl turns the fake FPGA counters into
the windows the comparator reads.
"""

import math
import sys

import pytest

from flight import comparator as C
from flight import lazy
from flight import comparator_sweep as S
from flight import comparator_track as T
from flight.cmddict import BY_NAME
from flight.keys import DEV_KEY, DEV_KEY_ID, Keyring
from sim.rng import Rng
from tests.mpy.kit import app_rig, rig
from tests.mpy.obc import Obc

PACKETS = 1801  # per 100 ms window at 18,011 packets/s (DESIGN §3.6)
OP = {name: c.opcode for name, c in BY_NAME.items()}  # opcodes from the dictionary only


class Channel:
    """BER(code) = bmin * 10**(|code - c0| / scale); noise triggers below ``floor``.

    ``flat``: (lo, hi) levels where no error is ever counted (a high-power window whose
    bottom reads zero errors in 100 ms)."""

    def __init__(self, dac, hal, c0=2000, bmin=1e-4, scale=100.0, floor=1234, flat=None,
                 seed=None, cv=False, parabola=None):
        self.rng = Rng(seed) if seed is not None else None  # binomial counts, else means
        self.dac = dac
        self.hal = hal
        self.c0 = c0
        self.bmin = bmin
        self.scale = scale
        self.floor = floor
        self.signal = True
        self.flat = flat
        self.cv = cv  # count code violations (~2 x BER x 50 Mbit/s, hal/interfaces.py)
        self.parabola = parabola  # codes: log BER a parabola of this half-width per decade

    def ber(self, code):
        if self.flat is not None:
            lo, hi = self.flat
            if lo <= code <= hi:
                return 0.0
            d = lo - code if code < lo else code - hi
            return min(0.5, 1e-6 * 10 ** (d / 20.0))
        if self.parabola is not None:
            return min(0.5, self.bmin * 10 ** (((code - self.c0) / self.parabola) ** 2))
        return min(0.5, self.bmin * 10 ** (abs(code - self.c0) / self.scale))

    def step(self):
        code = self.dac.value
        trig = 1000000 if code < self.floor else 5  # per 100 ms
        if not self.signal or not self.hal.rx:
            self.hal.add(trig=trig, locked=False)
            return
        trig += 2500000  # light: the comparator fires at ~half the bit rate
        b = self.ber(code)
        if b >= 0.05:  # a level this bad decodes nothing
            self.hal.add(trig=trig, locked=False)
            return
        if self.rng is not None:
            crc = self.rng.binomial(PACKETS, 1 - (1 - b) ** 2616)
            pre = self.rng.binomial(64 * PACKETS, b)
        else:
            crc = int(PACKETS * (1 - (1 - b) ** 2616) + 0.5)
            pre = int(64 * PACKETS * b + 0.5)
        cv = int(2 * b * 5000000 + 0.5) if self.cv else 0
        self.hal.add(ok=PACKETS - crc, crc=crc, pre=pre, trig=trig, locked=True, cv=cv)


class Rig:
    """The comparator and its framer control on the kit (``app``: inside the real
    FlightApp, for the TC pipeline), fed by a :class:`Channel`."""

    def __init__(self, params=None, signal=True, app=False, **ch):
        # The synthetic channels put their noise floor anywhere on the scale; the flight
        # default caps a plausible floor at 1024 (test_implausible_noise_floor_... below).
        # These tests exercise the BER sweep at the signal's arrival (comp_start_sweep=1;
        # the flight default tracks from the a-priori level: test_start_without_sweep...)
        # on channels whose noise floor is defined at 1000 triggers/s.
        merged = {"comp_noise_floor_max": 4095, "comp_start_sweep": 1,
                  "comp_noise_max_hz": 1000.0}
        merged.update(params or {})
        if app:
            k = app_rig("comparator", params=merged, keyring=Keyring({DEV_KEY_ID: DEV_KEY}))
            self.app = k.app
            self.link = k.link
            self.clock = k.clock
        else:
            k = rig("comparator", params=merged, session=False)
        self.k = k
        self.ctx = k.ctx
        self.params = k.ctx.params
        self.fc = k.fc
        self.comp = k.comp
        self.dac = k.dac
        self.hal = k.hal
        self.ch = Channel(self.dac, self.hal, **ch)
        self.ch.signal = signal

    def start(self):
        self.fc.start_session()
        self.comp.start_session()
        assert self.comp.state == C.NOISE_SWEEP
        self.fc.update()  # first snapshot: no window yet

    def window(self, n=1):
        for _ in range(n):
            self.ctx.t += 0.1
            self.ch.step()
            self.fc.update()
            self.comp.update()

    def until(self, state, max_windows):
        for i in range(max_windows):
            self.window()
            if self.comp.state == state:
                return i + 1
        raise AssertionError("no %s within %d windows (in %s)" % (
            C.STATE_NAMES[state], max_windows, C.STATE_NAMES[self.comp.state]))

    def named(self, ev_id):
        return self.k.named(ev_id)

    def args(self, ev_id):
        return self.k.args(ev_id)


# ---------------------------------------------------------------------- noise floor
def test_implausible_noise_floor_means_the_sweep_saw_light():
    # Flight default cap (1024 codes): a "floor" at 3000 is the uplink's own pulses seen
    # by a noise sweep that started after the light came on; the floor is unknown (0).
    rig = Rig(signal=False, floor=3000, params={"comp_noise_floor_max": 1024})
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    assert rig.comp.noise_floor == 0
    assert rig.named(C.EV_COMP_FLOOR_UNKNOWN) and "saw light" in rig.named(C.EV_COMP_FLOOR_UNKNOWN)[0]


@pytest.mark.parametrize("floor", [1, 700, 1234, 4000])
def test_noise_sweep_binary_search_finds_the_floor(floor):
    rig = Rig(signal=False, floor=floor)
    rig.start()
    n = rig.until(C.WAIT_SIGNAL, 40)
    assert rig.comp.noise_floor == floor
    assert n <= 2 * 13  # log2(4096) levels, each after a settling window
    p = rig.params
    assert rig.dac.value == max(p["comp_start_code"], floor + p["comp_floor_margin_codes"])


def test_noise_sweep_is_skipped_when_signal_is_already_there():
    rig = Rig(signal=True)
    rig.start()
    rig.window(2)
    assert rig.comp.state == C.WAIT_SIGNAL and rig.comp.noise_floor == 0


# ---------------------------------------------------------------------- BER sweep
def calibrated(start=2000, **kw):
    # The a-priori level (the last calibration's optimum) lies in the window: the link
    # locks on it while waiting for the sweep (Fig. A1: the optimum hardly moves).
    rig = Rig(signal=False, params={"comp_start_code": start}, **kw)
    comp = rig.comp
    drop = comp._drop_sweep
    rig.coarse = rig.coarse_ber = None

    def keep():  # the coarse sweep, seen as the controller drops it entering TRACK
        if comp._coarse_codes:
            rig.coarse, rig.coarse_ber = comp._coarse_codes, comp._coarse_ber
        drop()
    comp._drop_sweep = keep
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    rig.ch.signal = True
    rig.until(C.SWEEP, 20)
    rig.until(C.TRACK, 100)
    # TRACK holds nothing of the sweep: its code released (flight/lazy.py), its lists gone
    assert comp._sw is None and "flight.comparator_sweep" not in sys.modules
    assert comp._coarse_codes == comp._sweep_ber == () and comp._acq is None
    return rig


def test_sweep_chooses_the_window_centre():
    # BER <= 1e-3 from 1900 to 2100 (bmin 1e-4, a decade per 100 codes).
    rig = calibrated(c0=2000)
    comp = rig.comp
    assert comp.calibrations == 1
    assert comp.cal_duration_s <= 5.0  # issue 5: calibration <= 5 s
    assert abs(comp.tracking_level() - 2000) <= 15
    assert abs(comp.window_lo - 1900) <= 25 and abs(comp.window_hi - 2100) <= 25
    assert rig.params["comp_start_code"] == comp.tracking_level()  # next a-priori
    assert rig.args(C.EV_COMP_CALIBRATED) == [[comp.tracking_level(), comp.cal_duration_s]]


@pytest.mark.parametrize("start", [1700, 2100, 2500])
def test_sweep_with_a_wide_zero_error_bottom_stays_near_the_prior_level(start):
    """At high power the window's bottom counts no error at all over many levels: they
    say nothing about the optimum, so the level stays near the one in use (the a-priori
    level, near the optimum which hardly moves) — not the first zero-error level."""
    rig = calibrated(start=start, flat=(1500, 2700))
    assert abs(rig.comp.tracking_level() - start) <= 70  # within a coarse step / 2
    assert rig.comp.window_lo < rig.comp.tracking_level() < rig.comp.window_hi


def test_sweep_window_around_an_asymmetric_optimum():
    """Fig. A1: the upper edge of the window lies far above the optimum.  The level is
    the centre of the window the fine sweep resolves around the optimum, not the centre
    of the whole window (which would sit at ~2x the best BER)."""
    rig = calibrated(start=2000, c0=2000)
    ch = rig.ch
    ch.ber = lambda code: min(0.5, 1e-4 * 10 ** ((2000 - code) / 100.0 if code < 2000
                                                 else (code - 2000) / 1000.0))
    rig.comp.cmd_calibrate({}, None)
    rig.until(C.TRACK, 100)
    lv = rig.comp.tracking_level()
    assert ch.ber(lv) <= 1.5 * ch.ber(2000)
    assert abs(lv - 2000) <= 125


def test_sweep_lowest_ber_when_no_level_qualifies():
    rig = calibrated(start=2600, c0=2600, bmin=5e-3)  # never <= 1e-3
    comp = rig.comp
    assert comp.window_lo is None and comp.window_hi is None
    assert abs(comp.tracking_level() - 2600) <= 15
    assert comp.best_code == comp.tracking_level()


def test_sweep_levels_run_from_the_floor_toward_full_scale():
    # Evenly spaced from the noise floor toward 4095; past the window's upper edge (three
    # ever-worse levels) the rest of the scale is not scanned.
    rig = calibrated(c0=2000)
    p = rig.params
    coarse = rig.coarse
    bers = rig.coarse_ber
    step = (4095 - 1234) / (p["comp_coarse_steps"] - 1)
    assert coarse[0] == 1234
    assert all(abs((b - a) - step) <= 1 for a, b in zip(coarse, coarse[1:], strict=False))
    assert len(coarse) < p["comp_coarse_steps"]
    assert bers[-3] <= bers[-2] <= bers[-1] and bers[-3] > 10 * p["comp_ber_target"]


# ---------------------------------------------------------------------- tracking
def test_dither_moves_toward_fewer_errors_and_stays_bounded():
    rig = calibrated(c0=2000)
    comp = rig.comp
    start = comp.tracking_level()
    d = rig.params["comp_dither_codes"]
    rig.ch.c0 = start + 80  # the optimum moves up (over-voltage or power change)
    levels = [start]
    for _ in range(12 * 22):  # 12 dither cycles: 2 x 10 windows + 2 settling windows
        rig.window()
        assert comp.state == C.TRACK
        # always centre +- the amplitude in use: d, or 2 d on scarce errors (~50 a cycle)
        assert abs(rig.dac.value - comp.tracking_level()) == comp._amp in (d, 2 * d)
        if comp.tracking_level() != levels[-1]:
            levels.append(comp.tracking_level())
    assert levels[-1] > start + 40  # moved toward the optimum
    assert abs(levels[-1] - (start + 80)) <= 2 * d
    # Bounded steps: d, growing to at most 4 d on a run of moves the same way (the
    # start from the a-priori level), and the first step of a run is d.
    steps = [b - a for a, b in zip(levels, levels[1:], strict=False)]
    assert all(abs(x) <= 4 * d for x in steps)
    assert abs(steps[0]) == d
    assert all(abs(y) == d for x, y in zip(steps, steps[1:], strict=False) if x * y < 0)
    assert comp.dither_moves >= 2  # d then 2 d: 72 of the 80 codes


def test_dither_adds_cycles_up_at_a_low_ber():
    """~1 error per window on the worse side: one 20-window cycle is not significant, a
    few together are; the level still finds the optimum."""
    rig = calibrated(c0=2000, bmin=1e-6, seed=7)
    comp = rig.comp
    start = comp.tracking_level()
    rig.ch.c0 = start + 80
    rig.window(22 * 10)
    assert comp.tracking_level() >= start + 32
    assert comp.dither_moves >= 2


def test_dither_does_not_move_on_insignificant_differences():
    rig = calibrated(c0=2000, bmin=1e-6, scale=2000.0)  # ~no errors anywhere near
    comp = rig.comp
    lv = comp.tracking_level()
    rig.window(22 * 5)
    assert comp.tracking_level() == lv and comp.dither_moves == 0


def test_recalibration_when_ber_degrades():
    rig = calibrated(c0=2000)
    p = rig.params
    rig.ch.bmin = 2e-2  # power drop: BER above comp_ber_recal everywhere
    n = rig.until(C.SWEEP, 100)
    # comp_recal_windows bad windows in a row (dither settling windows are not counted)
    # (each dither half-cycle of comp_dither_windows adds one settling window)
    settle = p["comp_recal_windows"] // p["comp_dither_windows"] + 2
    assert p["comp_recal_windows"] <= n <= p["comp_recal_windows"] + settle
    assert any("BER degraded" in t for t in rig.named(C.EV_COMP_RECAL))
    rig.ch.bmin = 1e-4
    rig.until(C.TRACK, 100)
    assert rig.comp.calibrations == 2


def test_no_light_holds_the_level_and_tracking_resumes():
    """A beacon/uplink drop-out is not a bad level: the level is held (no dither, no
    re-calibration) and tracking goes on when the light is back."""
    rig = calibrated(c0=2000)
    lv = rig.comp.tracking_level()
    code = rig.dac.value
    rig.ch.signal = False
    rig.window(100)  # 10 s dark
    assert rig.comp.state == C.TRACK and rig.dac.value == code
    assert rig.comp.calibrations == 1
    rig.ch.signal = True
    rig.window(50)
    assert rig.comp.state == C.TRACK and rig.comp.calibrations == 1
    assert abs(rig.comp.tracking_level() - lv) <= rig.params["comp_dither_codes"]


def test_light_without_packets_is_a_bad_level():
    rig = calibrated(c0=2000)
    rig.ch.c0 = 3200  # the optimum moved far away: light, but nothing decodes
    n = rig.until(C.SWEEP, 100)
    p = rig.params
    # (each dither half-cycle of comp_dither_windows adds one settling window)
    settle = p["comp_recal_windows"] // p["comp_dither_windows"] + 2
    assert p["comp_recal_windows"] <= n <= p["comp_recal_windows"] + settle
    rig.until(C.TRACK, 100)
    assert abs(rig.comp.tracking_level() - 3200) <= 15


def test_wrong_a_priori_level_still_calibrates():
    """Light on the detector but no packet at the a-priori level: the sweep starts on the
    trigger rate."""
    rig = calibrated(start=600, c0=2000)
    assert abs(rig.comp.tracking_level() - 2000) <= 15


def test_sweep_abandoned_when_the_light_goes():
    rig = Rig(signal=False, params={"comp_start_code": 2000})
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    rig.ch.signal = True
    rig.until(C.SWEEP, 20)
    rig.window(5)
    rig.ch.signal = False
    assert rig.until(C.WAIT_SIGNAL, 3) == 1
    assert rig.dac.value == 2000  # back at the level in use before the sweep
    assert len(rig.named(C.EV_COMP_SWEEP_ABANDONED)) == 1 and rig.comp.sweeps_abandoned == 1
    rig.window(20)
    assert rig.comp.state == C.WAIT_SIGNAL
    rig.ch.signal = True
    rig.until(C.TRACK, 100)
    assert abs(rig.comp.tracking_level() - 2000) <= 15 and rig.comp.calibrations == 1


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


def test_ber_per_window_estimate_is_exact_on_the_fake_channel():
    rig = calibrated(c0=2000)
    rig.window()
    w = rig.fc.last_window
    b = rig.ch.ber(rig.dac.value)
    bits = 64 * (w[0] + w[1])
    assert w[3] / bits == pytest.approx(b, abs=1.0 / bits)
    assert rig.fc.window_ber() == w[3] / bits
    assert math.isfinite(rig.fc.ber())


def test_light_during_the_noise_sweep_is_seen_at_the_first_probe():
    # The uplink is already on when the session starts, but the mid-scale probe is far
    # above the optimum (no packet): its triggers are light, not noise (flight default:
    # no plausible noise floor above comp_noise_floor_max = 1024).
    rig = Rig(signal=True, c0=500, floor=300, params={"comp_noise_floor_max": 1024,
                                                      "comp_start_code": 520})
    rig.start()
    n = rig.until(C.WAIT_SIGNAL, 40)
    assert n == 2  # a settling window and one probe, not a 12-step binary search
    assert rig.comp.noise_floor == 0
    assert rig.dac.value == 520  # parked on the a-priori level
    assert rig.named(C.EV_COMP_FLOOR_UNKNOWN) and "saw light" in rig.named(C.EV_COMP_FLOOR_UNKNOWN)[0]


def test_coarse_sweep_stops_past_the_upper_edge():
    # A narrow window low on the scale: the BER keeps rising above it, the coarse sweep
    # ends three levels later instead of scanning to full scale.
    rig = calibrated(start=600, c0=600, scale=100.0, floor=300)
    coarse = rig.coarse
    n = rig.params["comp_coarse_steps"]
    assert len(rig.coarse_ber) < n
    assert max(c for c in coarse[:len(rig.coarse_ber)]) < 2000
    assert abs(rig.comp.tracking_level() - 600) <= 60


def test_wide_window_keeps_the_prior_level():
    # High power: zero errors over a wide region; the centre of the measured window says
    # nothing about the optimum, the prior (last calibration) level is kept.
    rig = calibrated(start=1500, flat=(1000, 3000))
    assert rig.comp.window_lo <= 1500 <= rig.comp.window_hi
    assert rig.comp.tracking_level() == 1500


def test_dac_write_failures_are_counted_and_reported_once():
    rig = calibrated(c0=2000)
    rig.dac.fail = 3
    values = []
    for _ in range(30):
        rig.window()
        values.append(rig.dac.value)
    assert rig.comp.dac_errors == 3 and rig.args(C.EV_COMP_DAC_ERROR) == [[1]]
    assert rig.comp.state == C.TRACK and len(set(values[-12:])) >= 2  # the dither goes on
    assert rig.k.hk("comparator")["comp_dac_errors"] == 3


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


def test_dither_direction_needs_a_significant_difference():
    assert T.dither_direction(1000, 10 ** 6, 500, 10 ** 6) == 1  # fewer above: up
    assert T.dither_direction(500, 10 ** 6, 1000, 10 ** 6) == -1
    assert T.dither_direction(1000, 10 ** 6, 960, 10 ** 6) == 0  # within 3 sigma
    assert T.dither_direction(1000, 10 ** 6, 2000, 2 * 10 ** 6) == 0  # per bit: equal


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
