"""The APT's parameters, each set to each of its bounds in TRACK by PARAM_SET from the
OBC's timeline, as an operator would: the loop flies on without a task fault (the same
at boot, every parameter: tests/test_param_bounds_fly.py)."""

import pytest

from flight.param_rules import RULES
from hal.interfaces import APT_TRACK
from sim.run import passsim
from tests.test_param_bounds_fly import CASES, _params


APT_CASES = [c for c in CASES if c[0].startswith("apt_")]
SET_IN_TRACK_S = 9.5  # the nominal seed 2 tracks from ~8 s
NAMES = list(_params().values)


def _breaks_a_rule(name, value, params):
    """The value breaks a cross-parameter rule against the other parameters as the unit
    has them (its defaults, and what the OBC uploaded: the mirror's measured latency
    moves the lead's and the delay's lowest values, rule apt_mirror_timing)."""
    values = {n: params[n] for n in NAMES}
    values[name] = value
    return any(r.check(values) for r in RULES if name in r.params)


@pytest.mark.parametrize("name, value", APT_CASES, ids=["%s=%s" % c for c in APT_CASES])
def test_an_apt_parameter_set_to_its_bound_in_track_flies_on_without_a_task_fault(name, value):
    apps = []

    def plan(world, t_session, t_end_session, _obc):
        return [(SET_IN_TRACK_S, passsim.OP_PARAM_SET, {"name": name, "value": value})]

    passsim.fly("nominal", seed=2, app_hook=apps.append, plan_hook=plan, duration_s=12.5)
    app = apps[-1]
    assert [(t.name, t.faults) for t in app.sched.tasks if t.faults] == []
    apt = app.payload["apt"]
    if _breaks_a_rule(name, value, app.params):
        assert app.params[name] != value  # refused, as the store must
    else:
        assert app.params[name] == value  # the PARAM_SET was taken
    assert apt.frames > 1000  # the APT ran on through the change (~600 frames when it is set)


def test_the_changes_come_in_track():
    apps = []
    passsim.fly("nominal", seed=2, app_hook=apps.append, duration_s=SET_IN_TRACK_S)
    apt = apps[-1].payload["apt"]
    assert apt.state == APT_TRACK and apt.valid_frames > 50  # for a while already
