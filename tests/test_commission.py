"""A commissioned unit (sim/run/commission.py, ``--commissioned``): the commissioning
pass's calibrations reach the measured pass through the payload's saved parameters, and
through nothing else."""

import math

import pytest

from ground_tools import noise_design
from sim.run import commission, metrics, passsim
from sim.run.obcnav import (FSM_LATENCY_MEAS_SIGMA_US, boresight_args, boresight_truth_urad,
                            latency_args)

# The unit of tests/test_bore_scan.py: its ground calibration is 4.4 µrad off (draw 3 of
# `python -m sim.campaign --seed 11`).
FAR_SEED = 1321910848
FAR = {"weather": "fog", "max_elevation_deg": 41.0, "coarse_error_deg": 1.281,
       "jitter_rms_urad": 11.26, "fsm_latency_us": 236}


@pytest.fixture(scope="module")
def flown():
    booted = {}

    def at_boot(app):  # the parameters the measured pass boots with
        booted.update((k, app.params[k]) for k in (
            "pa_tx_bore_x_urad", "pa_tx_bore_y_urad", "bias_kt_mv_per_k",
            "bias_knee_last_t_c", "bias_vbr25_v", "apt_cal_valid", "apt_fsm_gain_x",
            "apt_fsm_gain_y", "apt_cam_rot_mrad", "bias_kt_line_n", "bias_kt_line_t_c",
            "apt_fsm_latency_us", "apt_kf_noise_urad"))

    res = passsim.fly("nominal", seed=FAR_SEED, duration_s=12.0,
                      overrides=dict(FAR, commissioned={}), app_hook=at_boot)
    return res, metrics.compute(res), booted


def test_the_commissioning_pass_is_planned_for_the_unit_not_the_pass():
    ov = commission.commissioning_overrides(dict(FAR, commissioned={}, bore_scan=None,
                                                 end_margin_s=5.0,
                                                 boot_params={"apt_kf_noise_urad": 0.9}))
    # the satellite's own properties stay; the pass is the operator's clear high one
    assert ov["jitter_rms_urad"] == FAR["jitter_rms_urad"]
    assert ov["fsm_latency_us"] == FAR["fsm_latency_us"]
    assert ov["coarse_error_deg"] == FAR["coarse_error_deg"]
    assert ov["weather"] == "clear" and ov["max_elevation_deg"] == commission.PASS_ELEVATION_DEG
    assert ov["bore_scan"] == {"after_track_s": commission.SCAN_AFTER_TRACK_S,
                               "retry_cycles": commission.SCAN_RETRY_CYCLES}
    assert "commissioned" not in ov
    # --param's boot values are the measured pass's what-if (docs/simulator.md): the
    # commissioning flies its procedure on the defaults and saves what it designed
    assert "boot_params" not in ov
    # the session kept past the uplink's end for the dark knee
    assert ov["end_margin_s"] == commission.END_MARGIN_S > 12.8


def test_the_commissioned_unit_flies_on_its_saved_calibration(flown):
    res, m, booted = flown
    c = res.commissioning
    # the scan in the commissioning pass found the ground calibration's 4.4 µrad
    assert c["bore_scan_result"] == "ACCEPTED", c
    assert c["bore_scans"] == m["commission_bore_scans"] == 1  # (accepted: no repeat)
    assert c["bore_error_before_urad"] > 4.0
    assert c["bore_error_urad"] < 0.25 * c["bore_error_before_urad"]
    kept = [booted["pa_tx_bore_x_urad"], booted["pa_tx_bore_y_urad"]]
    assert kept == pytest.approx(c["bore_param_urad"])
    ground = [a["value"] for a in boresight_args(res.world)]
    truth = boresight_truth_urad(res.world)
    assert math.hypot(kept[0] - truth[0], kept[1] - truth[1]) == pytest.approx(
        c["bore_error_urad"])
    assert math.hypot(kept[0] - ground[0], kept[1] - ground[1]) > 3.0
    # the OBC did not upload the ground value again: no boresight change this pass
    names = [e.get("name") for _t, _b, e in res.obc.events]
    assert "PA_TX_BORESIGHT" not in names
    # two dark knees, at the session's start and after the uplink went off, ~10 K apart:
    # the unit's k_T, accepted and saved; the measured pass boots with it
    t0, t1 = c["knee_t_c"]
    assert t1 - t0 > 8.0
    assert c["kt_accepted"] is True
    assert abs(c["kt_mv_per_k"] - c["kt_truth_mv_per_k"]) < 1.0
    assert booted["bias_kt_mv_per_k"] == pytest.approx(c["kt_mv_per_k"])
    assert booted["bias_knee_last_t_c"] == pytest.approx(t1, abs=0.01)
    # ... and the unit's V_br(T) line through both (flight/bias_kt_line.py), which the
    # measured pass's first knee joins: k_T through three knees, the line kept
    assert booted["bias_kt_line_n"] == 2
    assert booted["bias_kt_line_t_c"] == pytest.approx((t0 + t1) / 2, abs=0.5)
    lines = [e.get("args") for _t, _b, e in res.obc.events if e.get("name") == "BIAS_KNEE_LINE"]
    assert lines and lines[-1] == [3, True], lines
    assert m["kt_truth_mv_per_k"] == pytest.approx(res.world.k_t * 1e3)
    assert m["kt_error_mv_per_k"] == pytest.approx(abs(m["kt_mv_per_k"] - m["kt_truth_mv_per_k"]))
    assert m["kt_mv_per_k"] != pytest.approx(c["kt_mv_per_k"], abs=1e-6)  # fitted again
    # the FSM calibration of commissioning: done, its result kept, not repeated
    assert c["fsm_cal_result"] == "DONE" and c["fsm_cal_rot_error_mrad"] < 20.0
    assert booted["apt_cal_valid"] is True
    assert booted["apt_cam_rot_mrad"] != 0.0 and booted["apt_fsm_gain_x"] != 1.0
    assert "APT_CAL_START" not in names
    assert m["commission_fsm_cal_result"] == "DONE"
    assert m["commission_kt_accepted"] is True
    assert m["commission_kt_truth_mv_per_k"] == pytest.approx(res.world.k_t * 1e3)
    # the mirror's latency the ground uploaded in commissioning, saved with the rest
    assert booted["apt_fsm_latency_us"] == latency_args(res.world)[0]["value"]
    assert abs(booted["apt_fsm_latency_us"] - FAR["fsm_latency_us"]) <= 4 * FSM_LATENCY_MEAS_SIGMA_US
    # the unit's line-of-sight jitter the pass measured in TRACK (flight/apt_jitter.py: the
    # draw's 11.26 µrad is 7.96 per axis) and the predictor's centroid noise the station
    # designed from it (ground_tools/noise_design.py): a quiet unit, the range's top
    per_axis = FAR["jitter_rms_urad"] / math.sqrt(2.0)
    assert c["los_jitter_n"] >= noise_design.MIN_SAMPLES
    assert 0.75 * per_axis < c["los_jitter_urad"] < 1.35 * per_axis, c["los_jitter_urad"]
    assert m["commission_los_jitter_urad"] == c["los_jitter_urad"]
    want = noise_design.design(c["los_jitter_urad"], c["los_jitter_n"])["apt_kf_noise_urad"]
    assert want == noise_design.NOISE_RANGE_URAD[1]
    assert booted["apt_kf_noise_urad"] == c["kf_noise_urad"] == m["commission_kf_noise_urad"] == want


def test_the_summary_table_shows_the_commissioning(flown):
    from sim.run import report

    _res, m, _booted = flown
    text = report.summary_table(m)
    assert "commissioning: boresight scan" in text and "ACCEPTED / %.2f" % (
        m["commission_bore_error_urad"]) in text
    assert "k_T in use at the end / the unit's" in text
    assert "line-of-sight jitter per axis / the predictor's centroid noise set" in text
    assert "%.1f µrad / %.2f µrad" % (m["commission_los_jitter_urad"],
                                      m["commission_kf_noise_urad"]) in text
    assert m["commission_kf_noise_urad"] == noise_design.NOISE_RANGE_URAD[1]  # (draw 3: quiet)
    assert "commissioning" not in report.summary_table(
        dict(m, commission_kt_truth_mv_per_k=None))


def test_without_the_option_the_unit_is_new():
    res = passsim.fly("nominal", seed=FAR_SEED, duration_s=3.0, overrides=FAR)
    assert res.commissioning is None
    p = res.apps[-1].params
    ground = [a["value"] for a in boresight_args(res.world)]
    assert [p["pa_tx_bore_x_urad"], p["pa_tx_bore_y_urad"]] == pytest.approx(ground)


def test_the_command_lines_refuse_commissioning_in_the_idealised_world(capsys):
    from sim.run import campaign, cli

    assert cli.main(["--commissioned", "--ideal", "--quiet"]) == 2
    assert "honest world" in capsys.readouterr().err
    assert campaign.main(["--commissioned", "--ideal", "--passes", "1", "--quiet"]) == 2
    assert "honest world" in capsys.readouterr().err


def test_the_plans_extra_commands_survive_a_payload_reset():
    """A payload reset mid-session re-plans the OBC's timeline (a new SESSION_START): the
    extra commands of ``plan_hook`` still due (the commissioning's dark knee and
    PARAM_SAVE) are kept with SESSION_END, not dropped."""
    def hook(world, t_session, t_end_session, obc):
        return [(t_session + 14.0, passsim.OP_PARAM_SET,
                 {"name": "hk_diag_period_s", "value": 3})]

    res = passsim.fly("nominal", seed=1, duration_s=26.0, plan_hook=hook,
                      overrides={"faults": [(12.0, "reset")]})
    assert len(res.apps) == 2 and res.boot_times[1] >= 12.0
    # (the re-plan's DIAG_ON set 1 after the reset; the hook's command came later)
    assert res.apps[-1].params["hk_diag_period_s"] == 3
