"""The temperature sensors' plausibility edges (flight/thermal_sensors.py
THERMAL_SENSOR_BAD / THERMAL_SENSOR_GOOD) and the limit check that distrusts a sensor the
plausibility check rejected (flight/limits.py), on every interpreter.  Before, the
redundant sensor could fail silently (only a switch of the source was said), and the
temperature limit read it anyway: one sensor reading 200 degC sent the payload to SAFE.
Kit fakes (tests/mpy/kit.py), the 500 ms bias update called directly.
"""

from flight import bias as B
from flight import thermal_sensors as TS
from flight.limits import LimitCheck
from kit import rig
from test_limits_mpy import PARAMS, Board, Modes


def _active():
    r = rig("bias", params={"bias_ff_tau_s": 0.0})
    for _ in range(6):
        r.bias.update()
    assert r.bias.state == B.ACTIVE and r.bias.source == 0
    return r


def test_the_redundant_sensor_going_bad_is_said_once_with_its_reason_and_its_return():
    r = _active()
    sel = r.bias.sensors
    r.temps[1].t = 200.0  # beyond bias_t_max_c (100): implausible
    for _ in range(5):
        r.bias.update()
    assert r.args(TS.EV_THERMAL_BAD) == [[1, 1]]  # once, not at every update
    text = r.named(TS.EV_THERMAL_BAD)[0]
    assert text.startswith("sensor 1 rejected: implausible "), text
    assert abs(float(text.split()[4]) - 200.0) < 0.01, text  # (the kit's +-2 mK dither)
    assert sel.rejected[1] == 1 and sel.rejected[0] == 0
    # the primary still in use: no switch, so before this nothing at all was said
    assert r.bias.source == 0 and r.named(B.EV_BIAS_SENSOR) == []
    assert r.args(TS.EV_THERMAL_GOOD) == []
    r.temps[1].t = 25.05
    r.bias.update()
    assert r.args(TS.EV_THERMAL_GOOD) == [[1]] and sel.rejected[1] == 0
    r.bias.update()
    assert r.args(TS.EV_THERMAL_GOOD) == [[1]] and len(r.args(TS.EV_THERMAL_BAD)) == 1


def test_the_primary_going_bad_is_said_beside_the_switch():
    r = _active()
    r.temps[0].mode = "error"
    r.bias.update()
    assert r.args(TS.EV_THERMAL_BAD) == [[0, 1]] and "read error" in r.named(TS.EV_THERMAL_BAD)[0]
    assert r.bias.source == 1 and len(r.named(B.EV_BIAS_SENSOR)) == 1
    r.temps[0].mode = None
    r.bias.update()
    assert r.args(TS.EV_THERMAL_GOOD) == [[0]] and r.bias.source == 0


def test_a_flapping_sensor_is_said_at_its_1st_2nd_4th_8th_rejection_only():
    r = _active()
    for _ in range(10):
        r.temps[1].mode = "error"
        r.bias.update()
        r.temps[1].mode = None
        r.bias.update()
    bad = r.args(TS.EV_THERMAL_BAD)
    assert bad == [[1, 1], [1, 2], [1, 4], [1, 8]], bad
    # a return is said only after a rejection that was said: 4 of the 10
    assert r.args(TS.EV_THERMAL_GOOD) == [[1], [1], [1], [1]]
    ids = [e[0] for e in r.events if e[0] in (TS.EV_THERMAL_BAD, TS.EV_THERMAL_GOOD)]
    assert ids == [TS.EV_THERMAL_BAD, TS.EV_THERMAL_GOOD] * 4  # each GOOD after its BAD
    assert r.bias.sensors.rejected[1] == 0 and r.bias.source == 0


def test_a_step_the_other_sensor_confirms_is_no_rejection():
    r = _active()
    for i in range(2):  # both 5 K up in one update: each a step, each confirming the other
        r.temps[i].t += 5.0
    r.bias.update()
    assert r.args(TS.EV_THERMAL_BAD) == [] and r.bias.sensors.rejected[0] == 0
    assert r.bias.sensors.rejected[1] == 0 and r.bias.source == 0
    assert abs(r.bias.t_used - 30.0) < 0.01


def _limit(r):
    """The health task's limit check on the rig's sensors, trusting what the bias's
    selection trusts (as flight/payload.py wires it)."""
    modes = Modes()
    events = []
    lc = LimitCheck(Board(r.temps), PARAMS, modes,
                    lambda ev, args, detail: events.append((ev, detail)))
    lc.thermal = r.bias.sensors
    return lc, modes


def test_the_limit_skips_a_sensor_the_plausibility_check_rejected_but_not_two_over_it():
    r = _active()
    lc, modes = _limit(r)
    r.temps[1].t = 200.0  # implausible: rejected by the bias update ...
    for _ in range(5):
        r.bias.update()
        for _ in range(5):  # (the health task: 100 ms)
            lc.check()
    assert r.bias.sensors.rejected[1] == 1
    assert modes.causes == [] and lc.violations == 0  # ... so no SAFE for it (was SAFE)
    r.temps[0].t = 200.0  # both over: the doubtful readings are read after all
    r.bias.update()
    assert r.bias.sensors.rejected[0] == 1
    for _ in range(PARAMS["limit_persist"]):
        lc.check()
    assert len(modes.causes) == 1 and "(rejected, no other reading)" in modes.causes[0]
    assert lc.violations == 1
