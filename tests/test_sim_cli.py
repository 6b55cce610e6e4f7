"""`python -m sim`: command line, metrics JSON, report and plots (issue 7).

Passes are cut short with the hidden ``--duration`` option (40 s of simulated time: the
beacon comes up at ~7.4 s, TRACK and the comparator calibration follow within seconds),
so the whole module runs in well under a minute.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim import linkbudget, scenarios
from sim.run import cli, metrics, plots, report, series
from tests.procutil import GUARD_S

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHORT_S = 40.0


def _run(args, timeout=GUARD_S):
    return subprocess.run([sys.executable, "-m", "sim"] + args, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One short nominal pass through the real entry point, with every output."""
    d = tmp_path_factory.mktemp("simcli")
    p = _run(["--scenario", "nominal", "--seed", "3", "--duration", str(SHORT_S),
              "--json", str(d / "m" / "metrics.json"), "--plots", str(d / "plots"),
              "--report", str(d / "report.md")])
    return d, p


def test_cli_completes_with_summary_and_verdict(short_run):
    d, p = short_run
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[-1] in ("VERDICT: PASS",) or out[-1].startswith("VERDICT: FAIL (")
    for label in ("acquisition time", "tracking residual RMS", "pointing loss",
                  "residual with loop off", "over-voltage error RMS / max",
                  "over-voltage error uncorrected max", "BER chosen / best",
                  "comparator calibration time", "link lock time", "packets ok / CRC errors",
                  "deadline misses", "speed"):
        assert any(label in line for line in out), label
    # one verdict line per goal
    for k in metrics.GOALS:
        assert sum(1 for line in out if (" %s " % k) in line and "goal" in line) == 1, k
    # the progress bar went to stderr, in simulated time
    assert "t=" in p.stderr and "100%" in p.stderr


def test_metrics_json_has_design_keys_and_verdict(short_run):
    d, p = short_run
    doc = json.loads((d / "m" / "metrics.json").read_text())
    for k in report.DESIGN_KEYS:
        assert k in doc, k
    assert doc["scenario"] == "nominal" and doc["seed"] == 3
    assert doc["sim_duration_s"] == pytest.approx(SHORT_S, abs=0.2)
    v = doc["verdict"]
    assert set(v["goals"]) == set(metrics.GOALS)
    assert v["pass"] == (not v["failed"])
    assert v["failed"] == [k for k, g in v["goals"].items() if not g["holds"]]
    # the figures a 40 s nominal pass must have produced
    assert 0.0 < doc["acquisition_time_s"] < 5.0
    assert 0.0 < doc["track_residual_rms_urad"] < 100.0
    assert doc["packets_ok"] > 0
    assert doc["sim_speed_x_realtime"] > 1.0
    # the stdout verdict agrees with the JSON
    last = p.stdout.splitlines()[-1]
    assert last == ("VERDICT: PASS" if v["pass"] else
                    "VERDICT: FAIL (%d goal%s)" % (len(v["failed"]),
                                                   "" if len(v["failed"]) == 1 else "s"))


def test_report_and_plots_written(short_run):
    d, _p = short_run
    names = [n for n, _c in plots.FIGURES]
    for n in names:
        f = d / "plots" / n
        assert f.exists(), n
        data = f.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10000, n
    text = (d / "report.md").read_text()
    assert "VERDICT:" in text and "## Events timeline" in text
    for n in names:  # each figure linked, by a path that resolves from the report
        assert "(plots/%s)" % n in text, n
    for ev in ("MODE_CHANGE", "APT_STATE", "COMP_CALIBRATED", "TC SESSION_START",
               "beacon/uplink on"):
        assert ev in text, ev


def test_unknown_scenario_one_line_and_exit_2():
    p = _run(["--scenario", "no-such-pass"])
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    for n in scenarios.names():
        assert n in lines[0]
    assert "no-such-pass" in lines[0]


@pytest.mark.parametrize("argv", [["--max-elevation", "15"], ["--max-elevation", "95"],
                                  ["--coarse-error", "-1"], ["--duration", "0"]])
def test_bad_option_values_exit_2(argv, capsys):
    assert cli.main(["--scenario", "nominal", "--quiet"] + argv) == 2
    assert "error:" in capsys.readouterr().err


def test_strict_exit_code_on_failed_goal(tmp_path, capsys):
    # 10 s: the comparator has not calibrated yet, so at least that goal fails.
    args = ["--scenario", "nominal", "--duration", "10", "--quiet"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [out[-1]] and out[-1].startswith("VERDICT: FAIL (")
    assert cli.main(args + ["--strict"]) == 1


def test_overrides_reach_the_world(tmp_path, capsys):
    ov, err = cli.overrides_from(cli.build_parser().parse_args(
        ["--max-elevation", "45", "--weather", "fog", "--coarse-error", "0.5"]))
    assert err is None
    assert ov == {"max_elevation_deg": 45.0, "weather": "fog", "coarse_error_deg": 0.5}
    res, m = report.run("nominal", seed=2, overrides=ov, duration_s=8.0)
    w = res.world
    assert w.kappa_db == linkbudget.KAPPA_FOG_DB
    assert w.scenario["max_elevation_deg"] == 45.0
    assert w.duration_s == pytest.approx(w.pass_.duration_above_s(20.0))
    assert m["coarse_error_start_deg"] == pytest.approx(0.5, abs=0.1)
    j = tmp_path / "m.json"
    rep = tmp_path / "r" / "report.md"
    assert cli.main(["--scenario", "nominal", "--weather", "fog", "--duration", "5", "--quiet",
                     "--json", str(j), "--report", str(rep)]) == 0
    assert json.loads(j.read_text())["overrides"] == {"weather": "fog"}
    # --report without --plots: the figures go next to the report, linked by bare name
    assert "`weather` = 'fog'" in rep.read_text()
    for n, _c in plots.FIGURES:
        assert (rep.parent / n).read_bytes()[:8] == PNG_MAGIC, n
        assert "(%s)" % n in rep.read_text(), n


def test_deterministic_runs_repeat():
    a = report.run("nominal", seed=5, duration_s=15.0, charge_cpu=False)[1]
    b = report.run("nominal", seed=5, duration_s=15.0, charge_cpu=False)[1]
    for k in report.DESIGN_KEYS:
        if k != "sim_speed_x_realtime":
            assert a[k] == b[k], k


def test_events_after_a_reboot_land_on_the_simulated_time_axis():
    # reboot-mid-pass resets the payload at 150 s; fly a little past it.
    res, m = report.run("reboot-mid-pass", seed=1, duration_s=156.0, charge_cpu=False)
    assert m["boots"] == 2 and len(res.boot_times) == 2
    assert res.boot_times[0] == pytest.approx(0.0, abs=1e-3)
    assert 150.0 <= res.boot_times[1] < 151.0
    # the runner's boot starts are where each application's onboard clock read zero
    hooked = res.boot_times
    for app, t0 in zip(res.apps, hooked, strict=True):
        assert app.clock.elapsed_us * 1e-6 - app.uptime_s() == pytest.approx(t0, abs=1e-6)
    assert series.boot_offsets(res) == hooked
    s = series.series(res)
    boots = [(t, b) for t, b, e in s["events"] if e["name"] == "BOOT"]
    assert [b for _t, b in boots] == [0, 1]
    assert boots[1][0] == pytest.approx(hooked[1], abs=0.01)
    # every event of boot 2 is after the reset, and the timeline is sorted
    assert all(t >= 150.0 for t, b, _e in s["events"] if b == 1)
    rows = report.timeline(res, s)
    ts = [r[0] for r in rows]
    assert ts == sorted(ts)
    assert any(r[1] == "fault" and r[3] == "reset" for r in rows)
    assert any(r[1] == "payload#2" and r[3] == "MODE_CHANGE" for r in rows)


def test_onboard_times_shift_by_their_boot():
    items = [(0.1, 0, {"seq": 1, "time": 0.0}), (3.1, 0, {"seq": 2, "time": 3.0}),
             (100.6, 1, {"seq": 1, "time": 0.5}), (101.1, 1, {"seq": 2, "time": 1.0}),
             (101.2, 1, {"seq": 3})]
    out = series._onboard(items, [0.0, 100.0])
    assert [(t, b) for t, b, _ in out] == [(0.0, 0), (3.0, 0), (100.5, 1), (101.0, 1),
                                           (None, 1)]


def test_verdict_lines_count_failures():
    m = {k: 0.0 for k in metrics.GOALS}
    lines, n = report.verdict_lines(m)
    assert n == 0 and lines[-1] == "VERDICT: PASS"
    m["track_residual_rms_urad"] = 50.0
    m["link_lock_time_s"] = None  # not computed counts as a failure
    lines, n = report.verdict_lines(m)
    assert n == 2 and lines[-1] == "VERDICT: FAIL (2 goals)"
    doc = report.metrics_json(m, "nominal", 1)
    assert doc["verdict"]["failed"] == ["track_residual_rms_urad", "link_lock_time_s"]
    assert json.loads(json.dumps(doc, allow_nan=False))["acquisition_time_s"] == 0.0
    assert report.metrics_json({"pointing_loss_db": float("nan")}, "x", 1)["pointing_loss_db"] \
        is None


@pytest.mark.parametrize("item, why", [
    ("apt_kf_noise_urad", "NAME=VALUE"), ("no_such_param=1", "unknown parameter"),
    ("apt_kf_noise_urad=500", "outside"), ("apt_kf_lead_us=1.5", "expected int")])
def test_a_bad_boot_parameter_is_refused_before_the_pass(item, why, capsys):
    assert cli.main(["--scenario", "nominal", "--quiet", "--param", item]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --param") and why in err


def test_boot_parameters_are_set_at_every_boot_as_param_set_sets_them(tmp_path):
    """``--param``: a design what-if without a TC script (docs/apt-loop.md §5)."""
    ov, err = cli.overrides_from(cli.build_parser().parse_args(
        ["--param", "apt_kf_noise_urad=1", "--param", "apt_kf_lead_us=3010"]))
    assert err is None
    assert ov == {"boot_params": {"apt_kf_noise_urad": 1.0, "apt_kf_lead_us": 3010}}
    # vector-tc's literals: a bool parameter takes true / false
    assert cli.boot_params_from(["bias_knee_last_light=true"]) == (
        {"bias_knee_last_light": True}, None)
    res, _m = report.run("nominal", seed=2, overrides=dict(ov), duration_s=3.0)
    for app in res.apps:
        assert app.params["apt_kf_noise_urad"] == 1.0 and app.params["apt_kf_lead_us"] == 3010
        law = app.payload["apt"].law
        assert law.pred.key[2] == 1.0  # (the predictor designed with it: its design key)
    j = tmp_path / "m.json"
    assert cli.main(["--scenario", "nominal", "--duration", "3", "--quiet", "--json", str(j),
                     "--param", "apt_kf_noise_urad=1.25"]) == 0
    assert json.loads(j.read_text())["overrides"] == {
        "boot_params": {"apt_kf_noise_urad": 1.25}}
