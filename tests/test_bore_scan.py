"""The on-orbit transmitter boresight scan end to end (docs/point-ahead.md step 3): the
command's declaration, a simulated pass in which the station commands PA_BORE_SCAN
through the real TC path, logs the downlink power, fits it with the ground tool and
sends the correction — the boresight error falls, the residual figures leave the scan's
window out, and the scan's own cost is reported."""

import math

import pytest

from flight import bore_scan as BS
from flight.cmddict import BY_NAME, Refused, validate
from sim.run import metrics, passsim
from sim.run.obcnav import boresight_args, boresight_truth_urad

SCAN = {"after_track_s": 5.0}  # the operator's defaults otherwise (64 s)


def test_the_commands_are_declared_with_their_owner_and_ranges():
    c = BY_NAME["PA_BORE_SCAN"]
    assert (c.opcode, c.owner, c.handler, c.modes) == (0x63, "borescan", "cmd_scan",
                                                       ("SESSION",))
    assert [(a.name, a.lo, a.hi) for a in c.args] == [
        ("step_urad", 2.0, 40.0), ("dwell_s", 0.5, 10.0), ("cycles", 2, 16)]
    s = BY_NAME["PA_BORE_SCAN_STOP"]
    assert (s.opcode, s.owner, s.handler) == (0x64, "borescan", "cmd_stop")
    for bad in ({"step_urad": 41.0, "dwell_s": 1.0, "cycles": 2},
                {"step_urad": 20.0, "dwell_s": 0.1, "cycles": 2},
                {"step_urad": 20.0, "dwell_s": 1.0, "cycles": 1}):
        with pytest.raises(Refused) as e:
            validate(c, bad)
        assert e.value.reason == "BAD_ARG"


# A unit whose ground calibration is 4.4 µrad off (draw 3 of `python -m sim.campaign
# --seed 11`).
FAR_SEED = 1321910848
FAR = {"weather": "clear", "max_elevation_deg": 67.39, "coarse_error_deg": 1.281,
       "jitter_rms_urad": 11.26, "fsm_latency_us": 236}


@pytest.fixture(scope="module")
def scanned():
    res = passsim.fly("nominal", seed=FAR_SEED, duration_s=85.0,
                      overrides=dict(FAR, bore_scan=SCAN))
    return res, metrics.compute(res)


def test_a_pass_with_the_scan_corrects_the_boresight(scanned):
    res, m = scanned
    b = res.bore_scan
    assert b["result"] == "ACCEPTED", b
    names = [e.get("name") for _t, _b, e in res.obc.events]
    assert "PA_BORE_SCAN_STARTED" in names and "PA_BORE_SCAN_DONE" in names
    truth = boresight_truth_urad(res.world)
    before = [a["value"] for a in boresight_args(res.world)]
    assert m["bore_error_before_urad"] == pytest.approx(
        math.hypot(before[0] - truth[0], before[1] - truth[1]))
    # the ground calibration is off by 4.4 µrad; the scan leaves a fraction of it
    assert m["bore_error_before_urad"] > 4.0
    assert m["bore_error_after_urad"] < 0.25 * m["bore_error_before_urad"]
    # the flight software runs on the corrected parameters (the station's PARAM_SETs)
    p = res.apps[-1].params
    assert p["pa_tx_bore_x_urad"] == pytest.approx(before[0] + m["bore_scan_dx_urad"])
    assert p["pa_tx_bore_y_urad"] == pytest.approx(before[1] + m["bore_scan_dy_urad"])
    assert m["bore_scan_s"] == pytest.approx(64.0)
    # the scan's trials cost the downlink while they last: ~Eq. 2 at 20 µrad
    assert 0.5 < m["bore_scan_pointing_loss_db"] < 1.2


def test_the_residual_figures_leave_the_scan_out(scanned):
    res, m = scanned
    w0, w1 = res.bore_scan["window_s"]
    ts, xs, ys, st = res.rec.fine
    inside = [math.hypot(xs[i], ys[i]) for i in range(len(ts)) if w0 + 0.3 <= ts[i] < w1]
    # inside the window the aim is ~20 µrad off (the trials); the residual is not
    assert sum(inside) / len(inside) > 15e-6
    assert m["track_residual_rms_urad"] < 10.0
    assert res.apps[-1].payload["borescan"].state == BS.ST_DONE


def test_the_ground_dictionary_declares_the_scan():
    from ground_tools import dictionary

    d = dictionary.default()
    ev = {e["name"]: e for e in d["events"]}
    assert [a["name"] for a in ev["PA_BORE_SCAN_STARTED"]["args"]] == [
        "t0", "step_urad", "dwell_s", "cycles"]
    assert ev["PA_BORE_SCAN_ABORTED"]["owner"] == "borescan"
    assert "PA_BORE_SCAN_DONE" in ev
    diag = str(d["telemetry"]["hk_diag"])
    for f in ("bs_state", "bs_dwell", "bs_trial_x", "bs_trial_y"):
        assert f in diag


def test_a_correction_within_the_noise_is_not_applied():
    """Seed 33's ground calibration is off by only 0.72 µrad (of the 40 first seeds the
    least): the scan's fit (0.4 µrad) is well within two standard errors of zero, refused,
    and the parameters stay as the ground set them.  (Seed 1's, off by 1.38 µrad, fits at
    the rule's edge — 1.25 against 1.29 µrad until stop 41, 1.29 after it moved SEARCH's
    noise draws — so its verdict is the camera noise's, not this rule's.)"""
    res = passsim.fly("nominal", seed=33, duration_s=85.0, overrides={"bore_scan": SCAN})
    m = metrics.compute(res)
    assert m["bore_scan_result"] == "REFUSED"
    assert "within the scan's noise" in res.bore_scan["fit"]["why"]
    assert m["bore_scans"] == 1  # (no retry_cycles: the --bore-scan operator's one scan)
    before = [a["value"] for a in boresight_args(res.world)]
    p = res.apps[-1].params
    assert [p["pa_tx_bore_x_urad"], p["pa_tx_bore_y_urad"]] == pytest.approx(before)
    assert m["bore_error_after_urad"] is None


def test_without_the_option_nothing_is_scanned():
    res = passsim.fly("nominal", seed=1, duration_s=30.0)
    m = metrics.compute(res)
    assert res.bore_scan is None and m["bore_scan_result"] is None
    assert not [e for _t, _b, e in res.obc.events if "BORE_SCAN" in (e.get("name") or "")]


def test_a_payload_reset_during_the_scan_aborts_it():
    """The reset at 150 s of `reboot-mid-pass` falls inside a scan started ~130 s: the
    station sees the payload reboot, records the scan as aborted and sets nothing."""
    res = passsim.fly("reboot-mid-pass", seed=1, duration_s=165.0,
                      overrides={"bore_scan": {"after_track_s": 120.0}})
    assert len(res.boot_times) == 2
    names = [e.get("name") for _t, b, e in res.obc.events if b == 0]
    assert "PA_BORE_SCAN_STARTED" in names and "PA_BORE_SCAN_DONE" not in names
    assert res.bore_scan["result"] == "ABORTED" and res.bore_scan["fit"] is None
    before = [a["value"] for a in boresight_args(res.world)]
    p = res.apps[-1].params
    assert [p["pa_tx_bore_x_urad"], p["pa_tx_bore_y_urad"]] == pytest.approx(before)


def test_the_command_lines_refuse_the_scan_in_the_idealised_world(capsys):
    from sim.run import campaign, cli

    assert cli.main(["--bore-scan", "--ideal", "--quiet"]) == 2
    assert "honest world" in capsys.readouterr().err
    assert campaign.main(["--bore-scan", "--ideal", "--passes", "1", "--quiet"]) == 2
    assert "honest world" in capsys.readouterr().err


def test_the_summary_table_shows_the_scan_and_the_aim_bias(scanned):
    from sim.run import report

    _res, m = scanned
    text = report.summary_table(m)
    assert "boresight scan: result" in text and "ACCEPTED / 64 s" in text
    assert "%.2f -> %.2f" % (m["bore_error_before_urad"], m["bore_error_after_urad"]) in text
    assert m["track_aim_bias_urad"] is not None and "its constant part" in text
    assert "boresight scan" not in report.summary_table(dict(m, bore_scan_result=None))


def test_a_refused_scan_is_repeated_once_with_the_retry_cycles():
    """The commissioning operator (sim/run/commission.py ``SCAN_RETRY_CYCLES``) repeats a
    refused scan once with more cycles, as the fit's reason says, and fits the repeat on
    its own.  Seed 33's 0.72 µrad is within the noise of both scans: two scans, the
    second with the retry's cycles right after the first, both refused, the parameters
    the ground's, and the residual figures leave out both scans and the gap between."""
    res = passsim.fly("nominal", seed=33, duration_s=120.0,
                      overrides={"bore_scan": dict(SCAN, retry_cycles=4)})
    m = metrics.compute(res)
    b = res.bore_scan
    started = [e.get("args") for _t, _b, e in res.obc.events
               if e.get("name") == "PA_BORE_SCAN_STARTED"]
    assert [a[3] for a in started] == [8, 4]  # cycles: the operator's, then the retry's
    assert 0.0 < started[1][0] - (started[0][0] + 64.0) < 1.0  # repeated at once
    assert b["scans"] == m["bore_scans"] == 2 and b["result"] == "REFUSED"
    assert len(b["refused_fits"]) == 1 and b["refused_fits"][0] is not b["fit"]
    for fit in (b["refused_fits"][0], b["fit"]):
        assert not fit["accepted"] and "within the scan's noise" in fit["why"]
    assert b["fit"]["cycles"] == 4
    w0, w1 = b["window_s"]
    assert m["bore_scan_s"] == pytest.approx(w1 - w0) and 96.0 < w1 - w0 < 97.0
    before = [a["value"] for a in boresight_args(res.world)]
    p = res.apps[-1].params
    assert [p["pa_tx_bore_x_urad"], p["pa_tx_bore_y_urad"]] == pytest.approx(before)

