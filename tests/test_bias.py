"""SiPM bias correction (flight/bias.py) on the kit (tests/mpy/kit.py): fake temperature
sensors, a fake supply, a FakeCtx recording events; the 500 ms update is called directly
(``BiasControl.update``).
"""

import pytest

from flight import bias as B
from flight import bias_safe as S
from hal.interfaces import SW_SIPM_BIAS
from tests.mpy.kit import app_rig, rig

KT = 0.0215  # V/K (paper App. A, the bias_kt_mv_per_k default)
VBR25 = 24.55
VOV = 3.0


def Rig(t=25.0, params=None):
    """The bias module, its session started (one update: the first ramp step)."""
    r = rig("bias", t=t, params=params, session=False)
    r.bias.start_session()  # ramp from the supply's lowest volts
    return r


def update(r, n=1):
    for _ in range(n):
        r.bias.update()


def set_t(r, t):
    r.temps[0].t = t
    r.temps[1].t = t + 0.05


def v_expected(t):
    return VBR25 + KT * (t - 25.0) + VOV


# ---------------------------------------------------------------------- nominal
def test_ramp_is_slew_limited_then_active():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    assert rig.power.get(SW_SIPM_BIAS)  # SiPM bias switch on at session start
    # start_session already ran one update: 15 V + 8 V/s x 0.5 s
    assert rig.supply.writes[0] == pytest.approx(19.0, abs=1e-3)
    assert rig.bias.state == B.RAMP
    update(rig, 3)
    steps = [b - a for a, b in zip([15.0] + rig.supply.writes, rig.supply.writes, strict=False)]
    assert max(steps) <= 4.0 + 1e-6
    assert rig.bias.state == B.ACTIVE and rig.bias.session_ready()
    assert rig.supply.v == pytest.approx(v_expected(25.0), abs=2e-3)


@pytest.mark.parametrize("t", [-20.0, 10.0, 25.0, 47.5])
def test_breakdown_formula_and_overvoltage(t):
    rig = Rig(t=t, params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    assert rig.bias.v_target == pytest.approx(v_expected(t), abs=5e-3)
    assert rig.supply.v == pytest.approx(v_expected(t), abs=5e-3)
    assert rig.bias.cmd_set_overvoltage({"volts": 4.0}, None) == {"volts": 4.0}
    assert rig.ctx.params["bias_vov_v"] == 4.0
    update(rig)
    assert rig.supply.v == pytest.approx(v_expected(t) + 1.0, abs=5e-3)


def test_target_is_clamped_to_the_supply_limits():
    # The parameter ranges keep the target inside any sane supply (bias_vbr25_v 45 or
    # 12 V is refused: tests/test_param_rules.py); the clamp stays for a supply whose
    # hardware limits are narrower than the target.
    rig = rig_narrow(v_max=27.0)
    update(rig, 10)
    assert rig.bias.v_target == 27.0 and rig.supply.v == 27.0
    rig2 = rig_narrow(t=-50.0, v_min=26.5)
    update(rig2, 3)
    assert rig2.bias.v_target == 26.5 and rig2.supply.v == 26.5


def rig_narrow(t=25.0, v_min=15.0, v_max=40.0):
    r = rig("bias", t=t, params={"bias_ff_tau_s": 0.0}, session=False)
    r.supply.v_min = v_min
    r.supply.v_max = v_max
    r.bias.start_session()
    return r


def test_slew_limit_on_a_target_change():
    rig = Rig(params={"bias_ff_tau_s": 0.0, "bias_ramp_v_per_s": 0.1})
    update(rig, 200)  # reach the target slowly (50 mV per update)
    v0 = rig.supply.v
    rig.bias.cmd_set_overvoltage({"volts": 4.0}, None)
    update(rig)
    assert rig.supply.v - v0 == pytest.approx(0.05, abs=1.5e-3)


def test_feed_forward_leads_a_rising_temperature():
    rig = Rig(params={"bias_ff_tau_s": 3.0})
    update(rig, 4)
    t = 25.0
    for _ in range(60):  # +0.1 K/s (power-on heating)
        t += 0.05
        set_t(rig, t)
        update(rig)
    assert rig.bias.dtdt == pytest.approx(0.1, rel=0.05)
    assert rig.bias.t_est == pytest.approx(t + 0.3, abs=0.02)
    assert rig.supply.v == pytest.approx(v_expected(t + 0.3), abs=2e-3)


# ---------------------------------------------------------------------- sensor faults
@pytest.mark.parametrize("mode", ["error", "sensor_error", "nan", "stuck", "offset"])
def test_each_sensor_fault_falls_back_to_sensor_2(mode):
    rig = Rig(params={"bias_ff_tau_s": 0.0, "bias_stuck_n": 5})
    update(rig, 6)
    assert rig.bias.source == 0
    rig.temps[0].mode = mode
    rig.temps[0].offset = 5.0  # "offset": a 5 K step
    n = 6 if mode == "stuck" else 1  # stuck: 5 identical readings
    update(rig, n)
    assert rig.bias.source == 1, mode
    assert len(rig.named(B.EV_BIAS_SENSOR)) == 1
    assert "sensor 0" in rig.named(B.EV_BIAS_SENSOR)[0]
    # The bias now follows sensor 2 (and keeps doing so while sensor 1 stays bad).
    for k in range(20):  # +10 K in 10 s
        set_t(rig, 25.0 + 0.5 * (k + 1))
        update(rig)
    assert rig.bias.source == 1
    assert rig.bias.state == B.ACTIVE
    assert rig.supply.v == pytest.approx(v_expected(35.05), abs=5e-3)
    assert rig.bias.checks[0].faults >= 1
    # Sensor 1 healthy again (agreeing with sensor 2): back to it, with an event.
    rig.temps[0].mode = None
    update(rig, 2)
    assert rig.bias.source == 0
    assert rig.named(B.EV_BIAS_RECOVERED)


def test_transient_step_is_rejected_once():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    rig.temps[0].mode = "offset"
    rig.temps[0].offset = 8.0
    update(rig)
    assert rig.bias.source == 1
    rig.temps[0].mode = None  # a glitch: the next reading is back in line
    update(rig)
    assert rig.bias.source == 0
    assert rig.supply.v == pytest.approx(v_expected(25.0), abs=5e-3)


def test_both_sensors_bad_hold_then_safe_bias_and_fault():
    rig = Rig(params={"bias_ff_tau_s": 0.0, "bias_hold_max_s": 3.0})
    update(rig, 6)
    v_good = rig.supply.v
    rig.temps[0].mode = "error"
    rig.temps[1].mode = "nan"
    update(rig)
    assert rig.bias.state == B.HOLD and rig.bias.source == -1
    assert len(rig.named(B.EV_BIAS_HOLD)) == 1
    assert "holding 25.00" in rig.named(B.EV_BIAS_HOLD)[0]
    update(rig, 4)  # 2.5 s of holding: the last good value
    assert rig.bias.state == B.HOLD
    assert rig.supply.v == pytest.approx(v_good, abs=1e-3)
    assert not rig.named(B.EV_BIAS_FAULT)
    update(rig)  # 3.0 s: persisting -> safe bias below breakdown, FAULT
    assert rig.bias.state == B.FAULT
    assert rig.supply.v == pytest.approx(rig.ctx.params["bias_safe_v"], abs=1e-3)
    assert rig.supply.v < VBR25 + KT * (-50.0 - 25.0)  # below V_br at any plausible T
    assert rig.named(B.EV_BIAS_FAULT)
    # FAULT holds even when the sensors come back (left by a new session only).
    rig.temps[0].mode = None
    rig.temps[1].mode = None
    update(rig, 3)
    assert rig.bias.state == B.FAULT and rig.supply.v == pytest.approx(21.0, abs=1e-3)
    rig.bias.stop_session()
    assert not rig.power.get(SW_SIPM_BIAS)
    rig.bias.start_session()
    update(rig, 6)
    assert rig.bias.state == B.ACTIVE


def test_hold_recovers_to_sensor_1_with_an_event():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    rig.temps[0].mode = "nan"
    rig.temps[1].mode = "nan"
    update(rig, 2)
    assert rig.bias.state == B.HOLD
    rig.temps[0].mode = None
    rig.temps[1].mode = None
    update(rig)
    assert rig.bias.state == B.ACTIVE and rig.bias.source == 0
    assert rig.named(B.EV_BIAS_RECOVERED)


def test_no_sensor_at_session_start_is_a_fault():
    rig = Rig()
    update(rig, 6)
    rig.bias.stop_session()
    rig.temps[0].mode = "error"
    rig.temps[1].mode = "error"
    rig.bias.start_session()
    assert rig.bias.state == B.FAULT  # never a stale temperature from the last session
    assert rig.supply.v == pytest.approx(21.0, abs=1e-3)


def test_feed_forward_slope_spans_a_hold():
    """After a hold the slope uses the real time between the two good readings."""
    rig = Rig(params={"bias_ff_tau_s": 3.0, "bias_ff_filter": 1.0})
    update(rig, 6)
    rig.temps[0].mode = "nan"
    rig.temps[1].mode = "nan"
    update(rig, 7)  # 3.5 s without a temperature, while the die warms 0.4 K
    rig.temps[0].mode = None
    rig.temps[1].mode = None
    set_t(rig, 25.4)
    update(rig)
    assert rig.bias.dtdt == pytest.approx(0.4 / 4.0, abs=0.01)


# ---------------------------------------------------------------------- read-back
def test_readback_mismatch_event_then_fault():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    rig.supply.readback_offset = 0.2
    update(rig, 2)
    assert not rig.named(B.EV_BIAS_READBACK)
    update(rig)
    assert len(rig.named(B.EV_BIAS_READBACK)) == 1
    assert rig.bias.state == B.ACTIVE
    update(rig, 6)
    assert rig.bias.state == B.ACTIVE
    update(rig)  # 10 in a row
    assert rig.bias.state == B.FAULT
    assert rig.supply.v == pytest.approx(21.0, abs=1e-3)


def test_readback_within_tolerance_resets_the_count():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    rig.supply.readback_offset = 0.2
    update(rig, 2)
    rig.supply.readback_offset = 0.01
    update(rig)
    rig.supply.readback_offset = 0.2
    update(rig, 2)
    assert not rig.named(B.EV_BIAS_READBACK) and rig.bias.readback_bad == 2


def test_dac_write_failure_is_reported_and_retried():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    rig.supply.fail_writes = 2
    update(rig, 2)
    # Its own event (not a FAULT: the module stays ACTIVE and retries), reported once.
    assert rig.args(B.EV_BIAS_WRITE_ERROR) == [[1]] and not rig.named(B.EV_BIAS_FAULT)
    assert rig.bias.state == B.ACTIVE and rig.bias.write_errors == 2
    update(rig)
    assert rig.supply.v == pytest.approx(v_expected(25.0), abs=5e-3)
    assert rig.hk("bias")["bias_faults"] == 2


def test_monitor_failure_is_reported_and_counts_as_unverified():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    rig.supply.readback_fail = True
    update(rig, 3)
    assert rig.args(B.EV_BIAS_MONITOR_ERROR) == [[1]] and rig.bias.monitor_errors == 3
    # unverified, but no read-back *mismatch*: the monitor's failure is its own event
    assert rig.named(B.EV_BIAS_READBACK) == [] and rig.bias.readback_bad == 3
    assert rig.hk("bias", diag=True)["bias_monitor_errors"] == 3
    update(rig, 7)  # unverified ten updates in a row: the safe bias, said as it is
    assert rig.bias.state == B.FAULT
    assert rig.named(B.EV_BIAS_FAULT) == ["safe bias: read-back unreadable"]


def test_bias_writes_failing_update_after_update_are_a_fault():
    """A bias frozen while the die's temperature moves is no ACTIVE loop: six failed
    writes in a row (3 s) are BIAS_FAULT with the reason."""
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    rig.supply.fail_writes = 1000
    update(rig, S._WRITE_FAULT_RUN - 1)
    assert rig.bias.state == B.ACTIVE and not rig.named(B.EV_BIAS_FAULT)
    update(rig)
    assert rig.bias.state == B.FAULT
    assert rig.named(B.EV_BIAS_FAULT) == ["safe bias: %d bias writes in a row failed"
                                          % S._WRITE_FAULT_RUN]


def test_a_fault_whose_safe_bias_cannot_be_written_switches_the_supply_off():
    """The DAC takes no write: six failed writes are FAULT, whose safe bias fails too.
    Before, the supply stayed at its last command — above breakdown — with only the
    write error said; now its switch is opened (BIAS_SUPPLY_CUT, cut)."""
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    v_last = rig.supply.v
    assert v_last > 24.55 and rig.power.get(SW_SIPM_BIAS)  # above breakdown
    rig.supply.fail_writes = 1000
    update(rig, S._WRITE_FAULT_RUN)
    assert rig.bias.state == B.FAULT and len(rig.named(B.EV_BIAS_FAULT)) == 1
    assert rig.supply.v == v_last  # the safe bias never reached the supply ...
    assert not rig.power.get(SW_SIPM_BIAS)  # ... so the supply is off
    assert rig.args(B.EV_BIAS_SUPPLY_CUT) == [[True]]
    assert "switched off" in rig.named(B.EV_BIAS_SUPPLY_CUT)[0]
    update(rig, 3)  # FAULT: nothing more written, nothing switched on
    assert not rig.power.get(SW_SIPM_BIAS) and len(rig.named(B.EV_BIAS_SUPPLY_CUT)) == 1
    rig.bias.start_session()  # a new session powers the supply again
    assert rig.power.get(SW_SIPM_BIAS)


def test_a_fault_whose_safe_bias_and_supply_switch_both_fail_is_said():
    rig = Rig(params={"bias_ff_tau_s": 0.0, "bias_hold_max_s": 0.5})
    update(rig, 6)
    rig.supply.fail_writes = 1000
    rig.power.fail = 1
    rig.temps[0].mode = rig.temps[1].mode = "error"
    faults = rig.bias.faults
    update(rig, 2)  # no temperature for bias_hold_max_s: FAULT, nothing works
    assert rig.bias.state == B.FAULT and rig.args(B.EV_BIAS_SUPPLY_CUT) == [[False]]
    assert "failed too" in rig.named(B.EV_BIAS_SUPPLY_CUT)[0]
    assert rig.power.get(SW_SIPM_BIAS)  # (the fake's switch did not move)
    # counted: the failed writes (the update's, the safe bias), the FAULT, the switch
    assert rig.bias.faults >= faults + 3 and rig.hk("bias")["bias_faults"] == rig.bias.faults


def test_stop_session_with_a_failing_supply_switch_does_not_raise():
    """The switch's HalError was raised out of stop_session (the mode change said only
    MODULE_HOOK_FAILED); now counted, said (BIAS_SUPPLY_CUT, not cut), and OFF."""
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    faults = rig.bias.faults
    rig.power.fail = 1
    rig.bias.stop_session()
    assert rig.bias.state == B.OFF and rig.bias.faults == faults + 1
    assert rig.args(B.EV_BIAS_SUPPLY_CUT) == [[False]]
    assert rig.supply.v == pytest.approx(21.0, abs=1e-3)  # the safe bias was written
    rig.supply.fail_writes = 1
    rig.power.fail = 1
    rig.bias.stop_session()  # both fail: said so
    assert rig.bias.state == B.OFF and "safe bias unwritten" in rig.named(
        B.EV_BIAS_SUPPLY_CUT)[-1]


def test_a_software_fault_is_no_sensor_fault():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)

    def broken():
        raise MemoryError("injected")

    rig.temps[0].read_c = broken
    with pytest.raises(MemoryError):  # to the scheduler: a task fault, counted there
        update(rig)
    assert rig.bias.checks[0].faults == 0 and not rig.named(B.EV_BIAS_SENSOR)


def test_stop_session_brings_the_bias_below_breakdown_and_off():
    rig = Rig(params={"bias_ff_tau_s": 0.0})
    update(rig, 6)
    hk = rig.hk("bias")
    assert hk["bias_state"] == B.ACTIVE and hk["bias_sensor"] == 0
    assert hk["bias_v_cmd"] == round(v_expected(25.0) * 1000)
    assert abs(hk["bias_t"] - 2500) <= 1 and abs(hk["bias_readback_err"]) <= 1
    rig.bias.stop_session()
    assert rig.supply.v == pytest.approx(21.0, abs=1e-3)
    assert not rig.power.get(SW_SIPM_BIAS) and rig.bias.state == B.OFF
    hk = rig.hk("bias")
    assert hk["bias_state"] == B.OFF and hk["bias_v_cmd"] == 21000
    diag = rig.hk("bias", diag=True)
    assert diag["bias_updates"] == 7 and diag["bias_sensor0_faults"] == 0


def test_bias_in_the_flight_app_ramps_with_the_session():
    r = app_rig("bias", params={"bias_ff_tau_s": 0.0})
    assert r.bias.state == B.OFF
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.app.run_for(3000000)
    assert r.bias.state == B.ACTIVE and r.power.get(SW_SIPM_BIAS)
    assert r.supply.v == pytest.approx(v_expected(25.0), abs=5e-3)
    r.app.modes.request("SAFE")
    assert r.bias.state == B.OFF and r.supply.v == pytest.approx(21.0, abs=1e-3)


@pytest.mark.parametrize("phase", [0.0, 0.002, 0.05, 0.1, 0.25, 0.4, 0.45, 0.499])
def test_the_ramp_is_active_within_1_6_s_whatever_the_phase_of_the_session_start(phase):
    """The session's TC lands at any phase of the 500 ms updates.  A ramp step is the slew
    limit times the time since the last one (an update's 4 V at most), so the ramp is at
    its target (15 -> 27.55 V here) 1.07-1.57 s after the session's start whatever the
    phase: the slew's time after the session's own step, and at most an update period
    more.  No two writes
    are further apart than the slew allows.  Until stop 54 an update less than 0.45 s
    after a step was skipped: from a start 0.1 s after an update the ramp took 1.9 s, and
    the usual plan's knee met the uplink (docs/calibration.md "The session's start")."""
    r = rig("bias", t=25.0, params={"bias_ff_tau_s": 0.0}, session=False)
    r.ctx.t = t0 = 100.0 + phase
    r.bias.start_session()
    log = [(t0, r.supply.writes[-1])]
    k = 1
    while r.bias.state == B.RAMP and k < 10:
        r.ctx.t = 100.0 + 0.5 * k
        update(r)
        log.append((r.ctx.t, r.supply.writes[-1]))
        k += 1
    assert r.bias.state == B.ACTIVE
    # the slew's time after the session's own 4 V, and at most one update period more
    assert log[-1][0] - t0 <= (v_expected(25.0) - 15.0 - 4.0) / 8.0 + 0.5 + 1e-9
    assert r.supply.v == pytest.approx(v_expected(25.0), abs=2e-3)
    # the slew: after the session's own step, 8 V/s between any two writes
    for i, (ta, va) in enumerate(log):
        for tb, vb in log[i + 1:]:
            assert vb - va <= 8.0 * (tb - ta) + 1e-6
    assert log[0][1] == pytest.approx(19.0, abs=1e-3)  # the session's own step: 4 V
