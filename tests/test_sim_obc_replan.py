"""The simulated OBC's re-plan after a payload reset (sim/run/passsim.py): the ground
calibration's upload (the boresight, the mirror's measured latency) and its PARAM_SAVE,
when a reset came before all of it was done, are sent again.  (Until stop 64 a reset in the pass's first 1.4 s dropped them: nominal seed 2
flew on the default boresight, its aim 15.6 µrad off, the 1 kHz aim error 16.1 µrad
against 4.6.)"""

import pytest

from sim.run import metrics, passsim
from sim.run.obcnav import boresight_args, latency_args


# before the upload, between the boresight's two values, before the latency, before the save
@pytest.mark.parametrize("t_reset", [0.5, 1.25, 1.35, 1.45])
def test_a_reset_during_the_boresight_upload_has_it_sent_again(t_reset):
    apps = []
    res = passsim.fly("nominal", seed=2, app_hook=apps.append, duration_s=20.0,
                      overrides={"faults": [(t_reset, "reset")]})
    assert len(apps) == 2  # the reset happened
    p = apps[-1].params
    for a in boresight_args(res.world) + latency_args(res.world):
        assert p[a["name"]] == pytest.approx(a["value"]), a["name"]
    m = metrics.compute(res)
    assert m["track_aim_bias_urad"] < 5.0  # the ground's boresight, not the default's 15.6
