"""SiPM bias correction (flight/bias.py) with fake temperature sensors and a fake supply.

The real FlightApp runs on a board that has only the bias supply and two sensors; the
500 ms update is called directly (``BiasControl.update``).
"""

import pytest

from flight import bias as B
from flight.app import FlightApp
from flight.keys import Keyring
from hal.clock import VirtualClock
from hal.errors import BusError, SensorError
from hal.interfaces import Board
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog

KT = 0.0215  # V/K (paper App. A, the bias_kt_mv_per_k default)
VBR25 = 24.55
VOV = 3.0


class FakeTemp:
    """A temperature sensor: ``t`` plus a tiny alternating dither (a real sensor is never
    bit-identical twice); faults: ``mode`` in (None, "error", "nan", "stuck", "offset")."""

    def __init__(self, t=25.0):
        self.t = t
        self.mode = None
        self.offset = 0.0
        self._flip = False
        self._stuck = None

    def read_c(self):
        if self.mode == "error":
            raise BusError("no ack")
        if self.mode == "nan":
            return float("nan")
        if self.mode == "sensor_error":
            raise SensorError("conversion failed")
        if self.mode == "stuck":
            if self._stuck is None:
                self._stuck = self.t
            return self._stuck
        self._stuck = None
        self._flip = not self._flip
        v = self.t + (0.002 if self._flip else -0.002)
        if self.mode == "offset":
            v += self.offset
        return v


class FakeSupply:
    v_min = 15.0
    v_max = 40.0

    def __init__(self):
        self.v = None
        self.readback_offset = 0.0
        self.writes = []
        self.fail_writes = 0

    def init(self):
        self.v = self.v_min

    def limits(self):
        return (self.v_min, self.v_max)

    def set_volts(self, v):
        assert self.v_min <= v <= self.v_max
        if self.fail_writes:
            self.fail_writes -= 1
            raise BusError("dac")
        self.v = round(v * 1000) / 1000.0  # 1 mV DAC
        self.writes.append(self.v)
        return self.v

    def read_back_v(self):
        return self.v + self.readback_offset


class Rig:
    def __init__(self, t=25.0, params=None):
        clock = VirtualClock()
        self.temps = [FakeTemp(t), FakeTemp(t + 0.05)]
        self.supply = FakeSupply()
        self.power = SimPower()
        board = Board(bias=self.supply, temps=self.temps, power=self.power, clock=clock,
                      link=MemLink(), storage=MemStorage(), watchdog=SimWatchdog(clock))
        self.app = FlightApp(board, keyring=Keyring())
        self.events = []
        orig = self.app.emit

        def emit(sev, ev_id, text="", args=None):
            self.events.append((ev_id, text))
            return orig(sev, ev_id, text, args)

        self.app.emit = emit
        self.app.boot()
        for k, v in (params or {}).items():
            self.app.params.set(k, v)
        self.bias = self.app.payload["bias"]
        self.app.modes.request("STANDBY")
        self.supply.writes = []  # (SAFE at boot wrote the safe bias)
        self.app.modes.request("SESSION")  # bias.start_session: ramp from the lowest volts

    def set_t(self, t):
        self.temps[0].t = t
        self.temps[1].t = t + 0.05

    def update(self, n=1):
        for _ in range(n):
            self.bias.update()

    def named(self, ev_id):
        return [t for i, t in self.events if i == ev_id]


def v_expected(t):
    return VBR25 + KT * (t - 25.0) + VOV


# ---------------------------------------------------------------------- nominal
def test_ramp_is_slew_limited_then_active():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    assert rig.power.get(3)  # SiPM bias switch on at session start
    # start_session already ran one update: 15 V + 8 V/s x 0.5 s
    assert rig.supply.writes[0] == pytest.approx(19.0, abs=1e-3)
    assert rig.bias.state == B.RAMP
    rig.update(3)
    steps = [b - a for a, b in zip([15.0] + rig.supply.writes, rig.supply.writes, strict=False)]
    assert max(steps) <= 4.0 + 1e-6
    assert rig.bias.state == B.ACTIVE and rig.bias.session_ready()
    assert rig.supply.v == pytest.approx(v_expected(25.0), abs=2e-3)


@pytest.mark.parametrize("t", [-20.0, 10.0, 25.0, 47.5])
def test_breakdown_formula_and_overvoltage(t):
    rig = Rig(t=t, params={"bias_ff_tau_s": 0.0})
    rig.update(6)
    assert rig.bias.v_target == pytest.approx(v_expected(t), abs=5e-3)
    assert rig.supply.v == pytest.approx(v_expected(t), abs=5e-3)
    ok, _, _ = rig.bias.cmd_set_overvoltage({"volts": 4.0})
    assert ok
    rig.update()
    assert rig.supply.v == pytest.approx(v_expected(t) + 1.0, abs=5e-3)


def test_target_is_clamped_to_the_supply_limits():
    rig = Rig(params={"bias_vbr25_v": 45.0, "bias_ff_tau_s": 0.0})
    rig.update(10)
    assert rig.bias.v_target == 40.0 and rig.supply.v == 40.0
    rig2 = Rig(t=-50.0, params={"bias_vbr25_v": 12.0, "bias_ff_tau_s": 0.0})
    rig2.update(3)
    assert rig2.bias.v_target == 15.0 and rig2.supply.v == 15.0


def test_slew_limit_on_a_target_change():
    rig = Rig(params={"bias_ff_tau_s": 0.0, "bias_ramp_v_per_s": 0.1})
    rig.update(200)  # reach the target slowly (50 mV per update)
    v0 = rig.supply.v
    rig.bias.cmd_set_overvoltage({"volts": 4.0})
    rig.update()
    assert rig.supply.v - v0 == pytest.approx(0.05, abs=1.5e-3)


def test_feed_forward_leads_a_rising_temperature():
    rig = Rig(params={"bias_ff_tau_s": 3.0})
    rig.update(4)
    t = 25.0
    for _ in range(60):  # +0.1 K/s (power-on heating)
        t += 0.05
        rig.set_t(t)
        rig.update()
    assert rig.bias.dtdt == pytest.approx(0.1, rel=0.05)
    assert rig.bias.t_est == pytest.approx(t + 0.3, abs=0.02)
    assert rig.supply.v == pytest.approx(v_expected(t + 0.3), abs=2e-3)


# ---------------------------------------------------------------------- sensor faults
@pytest.mark.parametrize("mode", ["error", "sensor_error", "nan", "stuck", "offset"])
def test_each_sensor_fault_falls_back_to_sensor_2(mode):
    rig = Rig(params={"bias_ff_tau_s": 0.0, "bias_stuck_n": 5})
    rig.update(6)
    assert rig.bias.source == 0
    rig.temps[0].mode = mode
    rig.temps[0].offset = 5.0  # "offset": a 5 K step
    n = 6 if mode == "stuck" else 1  # stuck: 5 identical readings
    rig.update(n)
    assert rig.bias.source == 1, mode
    assert len(rig.named(B.EV_BIAS_SENSOR)) == 1
    assert "sensor 0" in rig.named(B.EV_BIAS_SENSOR)[0]
    # The bias now follows sensor 2 (and keeps doing so while sensor 1 stays bad).
    for k in range(20):  # +10 K in 10 s
        rig.set_t(25.0 + 0.5 * (k + 1))
        rig.update()
    assert rig.bias.source == 1
    assert rig.bias.state == B.ACTIVE
    assert rig.supply.v == pytest.approx(v_expected(35.05), abs=5e-3)
    assert rig.bias.checks[0].faults >= 1
    # Sensor 1 healthy again (agreeing with sensor 2): back to it, with an event.
    rig.temps[0].mode = None
    rig.update(2)
    assert rig.bias.source == 0
    assert rig.named(B.EV_BIAS_RECOVERED)


def test_transient_step_is_rejected_once():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    rig.update(6)
    rig.temps[0].mode = "offset"
    rig.temps[0].offset = 8.0
    rig.update()
    assert rig.bias.source == 1
    rig.temps[0].mode = None  # a glitch: the next reading is back in line
    rig.update()
    assert rig.bias.source == 0
    assert rig.supply.v == pytest.approx(v_expected(25.0), abs=5e-3)


def test_both_sensors_bad_hold_then_safe_bias_and_fault():
    rig = Rig(params={"bias_ff_tau_s": 0.0, "bias_hold_max_s": 3.0})
    rig.update(6)
    v_good = rig.supply.v
    rig.temps[0].mode = "error"
    rig.temps[1].mode = "nan"
    rig.update()
    assert rig.bias.state == B.HOLD and rig.bias.source == -1
    assert len(rig.named(B.EV_BIAS_HOLD)) == 1
    assert "holding 25.00" in rig.named(B.EV_BIAS_HOLD)[0]
    rig.update(4)  # 2.5 s of holding: the last good value
    assert rig.bias.state == B.HOLD
    assert rig.supply.v == pytest.approx(v_good, abs=1e-3)
    assert not rig.named(B.EV_BIAS_FAULT)
    rig.update()  # 3.0 s: persisting -> safe bias below breakdown, FAULT
    assert rig.bias.state == B.FAULT
    assert rig.supply.v == pytest.approx(rig.app.params["bias_safe_v"], abs=1e-3)
    assert rig.supply.v < VBR25 + KT * (-50.0 - 25.0)  # below V_br at any plausible T
    assert rig.named(B.EV_BIAS_FAULT)
    # FAULT holds even when the sensors come back (left by a new session only).
    rig.temps[0].mode = None
    rig.temps[1].mode = None
    rig.update(3)
    assert rig.bias.state == B.FAULT and rig.supply.v == pytest.approx(21.0, abs=1e-3)
    rig.app.modes.request("STANDBY")
    assert not rig.power.get(3)
    rig.app.modes.request("SESSION")
    rig.update(6)
    assert rig.bias.state == B.ACTIVE


def test_hold_recovers_to_sensor_1_with_an_event():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    rig.update(6)
    rig.temps[0].mode = "nan"
    rig.temps[1].mode = "nan"
    rig.update(2)
    assert rig.bias.state == B.HOLD
    rig.temps[0].mode = None
    rig.temps[1].mode = None
    rig.update()
    assert rig.bias.state == B.ACTIVE and rig.bias.source == 0
    assert rig.named(B.EV_BIAS_RECOVERED)


def test_no_sensor_at_session_start_is_a_fault():
    rig = Rig()
    rig.update(6)
    rig.app.modes.request("STANDBY")
    rig.temps[0].mode = "error"
    rig.temps[1].mode = "error"
    rig.app.modes.request("SESSION")
    assert rig.bias.state == B.FAULT  # never a stale temperature from the last session
    assert rig.supply.v == pytest.approx(21.0, abs=1e-3)


def test_feed_forward_slope_spans_a_hold():
    """After a hold the slope uses the real time between the two good readings."""
    rig = Rig(params={"bias_ff_tau_s": 3.0, "bias_ff_filter": 1.0})
    rig.update(6)
    rig.temps[0].mode = "nan"
    rig.temps[1].mode = "nan"
    rig.update(7)  # 3.5 s without a temperature, while the die warms 0.4 K
    rig.temps[0].mode = None
    rig.temps[1].mode = None
    rig.set_t(25.4)
    rig.update()
    assert rig.bias.dtdt == pytest.approx(0.4 / 4.0, abs=0.01)


# ---------------------------------------------------------------------- read-back
def test_readback_mismatch_event_then_fault():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    rig.update(6)
    rig.supply.readback_offset = 0.2
    rig.update(2)
    assert not rig.named(B.EV_BIAS_READBACK)
    rig.update()
    assert len(rig.named(B.EV_BIAS_READBACK)) == 1
    assert rig.bias.state == B.ACTIVE
    rig.update(6)
    assert rig.bias.state == B.ACTIVE
    rig.update()  # 10 in a row
    assert rig.bias.state == B.FAULT
    assert rig.supply.v == pytest.approx(21.0, abs=1e-3)


def test_readback_within_tolerance_resets_the_count():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    rig.update(6)
    rig.supply.readback_offset = 0.2
    rig.update(2)
    rig.supply.readback_offset = 0.01
    rig.update()
    rig.supply.readback_offset = 0.2
    rig.update(2)
    assert not rig.named(B.EV_BIAS_READBACK) and rig.bias.readback_bad == 2


def test_dac_write_failure_is_reported_and_retried():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    rig.update(6)
    rig.supply.fail_writes = 1
    rig.update()
    assert rig.named(B.EV_BIAS_FAULT) and rig.bias.state == B.ACTIVE
    rig.update()
    assert rig.supply.v == pytest.approx(v_expected(25.0), abs=5e-3)


def test_stop_session_brings_the_bias_below_breakdown_and_off():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    rig.update(6)
    rig.app.modes.request("STANDBY")
    assert rig.supply.v == pytest.approx(21.0, abs=1e-3)
    assert not rig.power.get(3) and rig.bias.state == B.OFF
    hk = {}
    rig.bias.hk(hk)
    assert hk["bias"]["state"] == "OFF"
