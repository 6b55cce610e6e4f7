"""Every flight parameter at each of its bounds, set at boot as PARAM_SET sets it, flies a
session into TRACK's time without a task fault: a value the store accepts is one the
flight code must live with.  (Found at stop 64: `apt_ref_x` 0 or 1279 — inside its
bounds — read the dark frames off the sensor, five task faults and the APT disabled.)

(The APT's parameters set at each bound in TRACK: tests/test_param_bounds_track.py.)

A value that breaks a cross-parameter rule alone (flight/param_rules.py) is refused by the
store, as a PARAM_SET of it would be; that refusal is checked to name its rule."""

import pytest

from flight.cmddict import Refused
from flight.params import P_DEFAULT, P_HI, P_LO, P_TYPE
from sim.run import passsim

FLY_S = 10.0  # the nominal seed 2 is in TRACK from ~8 s (the session's SEARCH, ACQUIRE)
# Bounds at which the payload rightly keeps the APT's session from starting within FLY_S:
# the bias ramp at 0.1 V/s takes minutes to reach the SiPM's bias (the session waits for
# it); a 20 °C floor of the bias's temperature, a 40 °C lower limit of the temperatures
# and a 10 mA current limit are each a limit the simulated payload's own readings break
# (the payload goes to SAFE, as its FDIR should).
NO_SESSION = {("bias_ramp_v_per_s", 0.1), ("bias_t_min_c", 20.0), ("temp_min_c", 40.0),
              ("current_max_ma", 10)}


def _params():
    apps = []
    passsim.fly("nominal", seed=2, app_hook=apps.append, duration_s=0.2)
    return apps[0].ctx.params


def _cases():
    p = _params()
    out = []
    for name in sorted(p.values):
        d = p.find(name)
        vals = [not d[P_DEFAULT]] if d[P_TYPE] == "bool" else [d[P_LO], d[P_HI]]
        out += [(name, v) for v in vals if v != d[P_DEFAULT] and abs(v) != float("inf")]
    return out


CASES = _cases()


def test_the_sweep_covers_every_parameter_owner():
    owners = {n.split("_")[0] for n, _ in CASES}
    assert {"apt", "bias", "comp", "framer"} <= owners, owners
    assert len(CASES) > 200


@pytest.mark.parametrize("name, value", CASES, ids=["%s=%s" % c for c in CASES])
def test_a_parameter_at_its_bound_flies_without_a_task_fault(name, value):
    apps = []
    try:
        passsim.fly("nominal", seed=2, app_hook=apps.append, duration_s=FLY_S,
                    overrides={"boot_params": {name: value}})
    except Refused as e:
        assert "rule" in str(e), e  # a cross-parameter rule, named: the store's refusal
        return
    app = apps[-1]
    faults = [(t.name, t.faults) for t in app.sched.tasks if t.faults]
    assert faults == []
    ran = app.payload["apt"].frames > 0
    assert ran != ((name, value) in NO_SESSION), ran  # the APT ran its session, but for those
    if not ran:
        assert app.modes.mode == ("SESSION" if name == "bias_ramp_v_per_s" else "SAFE")

