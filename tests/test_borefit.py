"""`vector-tc bore-fit` (ground_tools/borefit.py): the scan's schedule, the fit's recovery
of a known boresight correction from exact, drifting and noisy Gaussian-beam power, its
refusals, the power log reader and the command line."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from ground_tools import borefit, cliutil
from ground_tools.__main__ import main
from tests.procutil import GUARD_S, ROOT

THETA = borefit.DIVERGENCE_URAD  # µrad: the fit's default, lambda / (pi w0) = 67.64 (paper §3.2)
C = (1.3, -2.1)  # µrad: the correction the synthetic scans hide
T0 = 1000.0  # onboard s: scan start (arbitrary)
STEP, DWELL, CYCLES = 20.0, 2.0, 4  # a 64 s scan (the operator's default: 1 s x 8 cycles)
RATE_HZ = 100.0  # the meter's sample rate (sim/ogs_power.py SAMPLE_S)
P0 = 3e-6  # W: about the downlink power at the culmination (sim/linkbudget Table 1)


def synth(c=C, step=STEP, dwell=DWELL, cycles=CYCLES, drift=0.0, noise=0.0, seed=0,
          pad_s=1.0):
    """Meter log of a scan: the Gaussian beam's power for the trial in force (zero
    outside the scan), times ``1 + drift * (t - t0) / scan length``, times a unit-mean
    log-normal noise of relative variance ``noise``."""
    sched = borefit.schedule(T0, step, dwell, cycles)
    end = sched[-1][1]
    t = T0 - pad_s + (np.arange(int(round((end - T0 + 2 * pad_s) * RATE_HZ))) + 0.5) / RATE_HZ
    tx = np.zeros_like(t)
    ty = np.zeros_like(t)
    for a, b, dx, dy in sched:
        m = (t >= a) & (t < b)
        tx[m] = dx
        ty[m] = dy
    p = P0 * np.exp(-2.0 * ((tx - c[0]) ** 2 + (ty - c[1]) ** 2) / THETA ** 2)
    p *= 1.0 + drift * (t - T0) / (end - T0)
    if noise:
        v = math.log1p(noise)
        p *= np.exp(np.random.default_rng(seed).normal(-v / 2, math.sqrt(v), len(t)))
    return t, p


def do_fit(t, p, cycles=CYCLES, **kw):
    return borefit.fit(t, p, T0, STEP, DWELL, cycles, **kw)


# ------------------------------------------------------------ schedule
def test_schedule_layout():
    s = borefit.schedule(T0, STEP, DWELL, 2)
    assert len(s) == 16
    for k, (a, b, dx, dy) in enumerate(s):
        assert a == pytest.approx(T0 + k * DWELL) and b == pytest.approx(a + DWELL)
        assert (dx, dy) == (borefit.PATTERN[k % 8][0] * STEP, borefit.PATTERN[k % 8][1] * STEP)
    assert [(dx, dy) for _, _, dx, dy in s[:8]] == [
        (20, 0), (-20, 0), (-20, 0), (20, 0), (0, 20), (0, -20), (0, -20), (0, 20)]
    assert s[8:] == [(a + 8 * DWELL, b + 8 * DWELL, dx, dy) for a, b, dx, dy in s[:8]]
    # each axis ABBA: "+" and "-" dwells have the same mean time in a cycle (drift cancels)
    for axis in (0, 1):
        plus = [k for k in range(8) if borefit.PATTERN[k][axis] > 0]
        minus = [k for k in range(8) if borefit.PATTERN[k][axis] < 0]
        assert len(plus) == len(minus) == 2 and sum(plus) == sum(minus)


# ------------------------------------------------------------ recovery
def test_exact_gaussian_recovers_the_correction():
    r = do_fit(*synth())
    assert r["accepted"] and r["why"] == ""
    assert abs(r["dx_urad"] - C[0]) < 1e-6 and abs(r["dy_urad"] - C[1]) < 1e-6
    assert r["cycles"] == CYCLES and len(r["per_cycle"]) == CYCLES
    for cx, cy in r["per_cycle"]:
        assert abs(cx - C[0]) < 1e-6 and abs(cy - C[1]) < 1e-6
    assert r["se_x_urad"] < 1e-6 and r["se_y_urad"] < 1e-6
    # 2 s dwell minus the 0.2 s guard at 100 Hz
    assert r["samples_min"] == 180
    json.dumps(r)  # plain Python types: the CLI prints it


def test_linear_drift_cancels():
    t, p = synth(drift=0.3)  # the power rises 30 % over the scan (the range closing)
    r = do_fit(t, p)
    assert r["accepted"], r["why"]
    assert abs(r["dx_urad"] - C[0]) < 0.05 and abs(r["dy_urad"] - C[1]) < 0.05
    # without ABBA the same drift would bias: an x-axis-only (+ then -) comparison
    sched = borefit.schedule(T0, STEP, DWELL, CYCLES)
    a0, b0 = sched[0][:2]
    a1, b1 = sched[1][:2]
    plus = p[(t >= a0 + 0.2) & (t < b0)].mean()
    minus = p[(t >= a1 + 0.2) & (t < b1)].mean()
    naive = THETA ** 2 * math.log(plus / minus) / (8 * STEP)
    assert abs(naive - C[0]) > 0.2  # the drift matters: ABBA is what removes it


def test_noisy_power_within_standard_errors():
    cycles = 8
    r = do_fit(*synth(cycles=cycles, noise=0.1, seed=3), cycles=cycles)
    assert r["accepted"], r["why"]
    # expected se: ln(pair mean) has variance ~ sigma^2 / (2 n), L twice that
    sigma = math.sqrt(0.1)
    n = r["samples_min"]
    se_th = THETA ** 2 / (8 * STEP) * sigma / math.sqrt(n) / math.sqrt(cycles)
    for axis, key in ((0, "x"), (1, "y")):
        se = r["se_%s_urad" % key]
        assert 0.3 * se_th < se < 3.0 * se_th
        assert abs(r["d%s_urad" % key] - C[axis]) < 4 * se


def test_standard_error_matches_the_scatter_of_repeated_scans():
    est, ses = [], []
    for seed in range(40):
        r = do_fit(*synth(noise=0.1, seed=100 + seed))
        est.append(r["dx_urad"])
        ses.append(r["se_x_urad"])
    sd = float(np.std(est, ddof=1))
    rms_se = math.sqrt(float(np.mean(np.square(ses))))
    # 40 repeats: the scatter's own relative error ~ 1/sqrt(2 * 39) = 11 %
    assert 0.65 < sd / rms_se < 1.5
    assert abs(np.mean(est) - C[0]) < 4 * sd / math.sqrt(len(est))


# ------------------------------------------------------------ refusals
def test_one_cycle_is_refused():
    r = do_fit(*synth(cycles=1), cycles=1)
    assert not r["accepted"] and "fewer than 2 cycles" in r["why"]
    assert r["se_x_urad"] is None and r["se_y_urad"] is None
    assert abs(r["dx_urad"] - C[0]) < 1e-6  # still computed, for the record


def test_dwell_without_samples_is_refused():
    t, p = synth()
    a, b = borefit.schedule(T0, STEP, DWELL, CYCLES)[13][:2]
    keep = (t < a + 0.15) | (t >= b)  # only the guard's samples left in dwell 13
    r = do_fit(t[keep], p[keep])
    assert not r["accepted"] and "dwell 13" in r["why"] and "no power sample" in r["why"]
    assert r["samples_min"] == 0 and r["dx_urad"] is None
    # a wrong clock offset: the log misses the scan entirely
    r = borefit.fit(t, p, T0 + 1000.0, STEP, DWELL, CYCLES)
    assert not r["accepted"] and "--time-offset" in r["why"]


@pytest.mark.parametrize("bad", [0.0, -1e-9, float("nan"), float("inf")])
def test_bad_power_is_refused(bad):
    t, p = synth()
    p[np.searchsorted(t, T0 + 5 * DWELL + 1.0)] = bad
    r = do_fit(t, p)
    assert not r["accepted"] and "dwell 5" in r["why"] and "non-positive" in r["why"]


def test_bad_power_outside_the_windows_is_ignored():
    t, p = synth()
    p[0] = 0.0  # before the scan
    p[np.searchsorted(t, T0 + 3 * DWELL + 0.05)] = float("nan")  # in dwell 3's guard
    assert do_fit(t, p)["accepted"]


def test_correction_beyond_the_step_is_refused():
    r = do_fit(*synth(c=(1.0, -25.0)))
    assert not r["accepted"] and "outside the scan: repeat with a larger step" in r["why"]
    assert abs(r["dy_urad"] + 25.0) < 1e-6  # exact for a Gaussian, but not trusted


def test_large_standard_error_is_refused():
    t, p = synth(noise=0.1, seed=5)
    r = do_fit(t, p, max_se_urad=0.05)
    assert not r["accepted"] and "standard error" in r["why"] and "0.05" in r["why"]
    assert do_fit(t, p)["accepted"]  # the same log under the default 0.5 µrad


@pytest.mark.parametrize("kw, msg", [
    ({"times_s": [1.0, 2.0], "powers_w": [1.0]}, "length"),
    ({"times_s": [1.0, 1.0], "powers_w": [1.0, 1.0]}, "increase"),
    ({"times_s": [2.0, 1.0], "powers_w": [1.0, 1.0]}, "increase"),
    ({"times_s": [float("nan")], "powers_w": [1.0]}, "finite"),
    ({"step_urad": 0.0}, "step_urad"),
    ({"step_urad": float("nan")}, "step_urad"),
    ({"dwell_s": -2.0}, "dwell_s"),
    ({"cycles": 0}, "cycles"),
    ({"cycles": 2.5}, "cycles"),
    ({"cycles": True}, "cycles"),
    ({"t0": "soon"}, "t0"),
    ({"guard_s": 2.0}, "guard_s"),
    ({"guard_s": -0.1}, "guard_s"),
    ({"divergence_urad": 0.0}, "divergence_urad"),
    ({"max_se_urad": -1.0}, "max_se_urad"),
])
def test_bad_inputs_raise(kw, msg):
    args = {"times_s": [1.0, 2.0], "powers_w": [1.0, 1.0], "t0": 0.0, "step_urad": STEP,
            "dwell_s": DWELL, "cycles": 2}
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        borefit.fit(**args)


def test_schedule_rejects_bad_inputs():
    with pytest.raises(ValueError, match="cycles"):
        borefit.schedule(0.0, STEP, DWELL, -1)
    with pytest.raises(ValueError, match="dwell_s"):
        borefit.schedule(0.0, STEP, float("inf"), 2)


# ------------------------------------------------------------ power log
def write_log(path, t, p, extra=""):
    with open(path, "w") as f:
        f.write("# station power meter\n\n t_s, power_w \n" + extra)
        for a, b in zip(t, p, strict=True):
            f.write("%.6f,%.10g\n" % (a, b))
            if a == t[3]:
                f.write("\n# a comment in the middle\n")


def test_load_power_reads_a_log(tmp_path):
    t, p = synth()
    path = tmp_path / "p.csv"
    write_log(path, t, p)
    tt, pp = borefit.load_power(path)
    assert len(tt) == len(t) and np.allclose(tt, t, atol=1e-6) and np.allclose(pp, p)
    assert do_fit(tt, pp)["accepted"]


@pytest.mark.parametrize("body, line, msg", [
    ("t,p\n1,2\n", 1, "header"),
    ("t_s,power_w\n1.0,2e-6\n2.0\n", 3, "bad line"),
    ("t_s,power_w\n1.0,2e-6\n2.0,x\n", 3, "bad line"),
    ("t_s,power_w\n1.0,2e-6\n2.0,1,3\n", 3, "bad line"),
    ("# c\nt_s,power_w\n1.0,2e-6\n\ninf,1\n", 5, "bad line"),
    ("t_s,power_w\n2.0,2e-6\n1.0,2e-6\n", 3, "not after"),
])
def test_load_power_names_the_bad_line(tmp_path, body, line, msg):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(ValueError, match="bad.csv:%d: .*%s" % (line, msg)):
        borefit.load_power(path)


def test_load_power_needs_a_header(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="header"):
        borefit.load_power(path)


# ------------------------------------------------------------ command line
def cli(capsys, *argv):
    rc = main(["bore-fit"] + [str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def scan_args(path, cycles=CYCLES):
    return ["--power", path, "--t0", T0, "--step", STEP, "--dwell", DWELL, "--cycles", cycles]


def test_cli_accepts_and_prints_the_commands(tmp_path, capsys):
    t, p = synth()
    path = tmp_path / "p.csv"
    offset = 37.5  # the station's clock runs 37.5 s ahead of the onboard time
    write_log(path, t + offset, p)
    rc, out, err = cli(capsys, *scan_args(path), "--time-offset", offset,
                       "--bore-x", 10.0, "--bore-y", -4.0)
    assert rc == 0, err
    r = json.loads(out)
    assert r["accepted"] and r["why"] == ""
    assert abs(r["dx_urad"] - C[0]) < 1e-4 and abs(r["dy_urad"] - C[1]) < 1e-4
    assert r["pa_tx_bore_x_urad"] == pytest.approx(11.3) and \
        r["pa_tx_bore_y_urad"] == pytest.approx(-6.1)
    assert r["commands"] == [
        "vector-tc send PARAM_SET name=pa_tx_bore_x_urad value=11.30",
        "vector-tc send PARAM_SET name=pa_tx_bore_y_urad value=-6.10",
        "vector-tc send PARAM_SAVE"]
    for k in ("se_x_urad", "se_y_urad", "cycles", "per_cycle", "samples_min"):
        assert k in r
    # without the offset the log misses the scan: refused, exit 1
    rc, out, err = cli(capsys, *scan_args(path), "--bore-x", 10.0, "--bore-y", -4.0)
    assert rc == cliutil.EXIT_REFUSED == 4 and "no power sample" in json.loads(out)["why"]


def test_cli_refusal_exits_1_with_why(tmp_path, capsys):
    t, p = synth(cycles=1)
    path = tmp_path / "p.csv"
    write_log(path, t, p)
    rc, out, err = cli(capsys, *scan_args(path, cycles=1), "--bore-x", 0, "--bore-y", 0)
    assert rc == cliutil.EXIT_REFUSED
    r = json.loads(out)
    assert not r["accepted"] and "fewer than 2 cycles" in r["why"]
    assert r["commands"] == [] and "refused" in err


def test_cli_without_bore_gives_no_commands(tmp_path, capsys):
    t, p = synth()
    path = tmp_path / "p.csv"
    write_log(path, t, p)
    rc, out, err = cli(capsys, *scan_args(path))
    r = json.loads(out)
    assert rc == 0 and r["commands"] == [] and "pa_tx_bore_x_urad" not in r
    assert "--bore-x" in err


@pytest.mark.parametrize("argv, msg", [
    (["--bore-x", "1"], "--bore-y"),
    (["--guard", "5"], "guard_s"),
    (["--cycles", "0"], "cycles"),
])
def test_cli_usage_errors_exit_2(tmp_path, capsys, argv, msg):
    t, p = synth()
    path = tmp_path / "p.csv"
    write_log(path, t, p)
    rc, out, err = cli(capsys, *scan_args(path), *argv)
    assert rc == 2 and out == "" and msg in err


def test_cli_non_number_is_argparse_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli(capsys, *scan_args(tmp_path / "p.csv"), "--step", "nan")
    assert e.value.code == 2 and "--step" in capsys.readouterr().err


def test_cli_missing_or_bad_file_exits_2(tmp_path, capsys):
    rc, out, err = cli(capsys, *scan_args(tmp_path / "nope.csv"))
    assert rc == 2 and out == "" and "cannot read" in err and "nope.csv" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,power_w\n1,2\noops\n")
    rc, out, err = cli(capsys, *scan_args(bad))
    assert rc == 2 and out == "" and "bad.csv:3" in err


def test_module_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "ground_tools", "bore-fit", "--help"],
                       cwd=ROOT, capture_output=True, text=True, timeout=GUARD_S,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    for opt in ("--power", "--t0", "--time-offset", "--max-se", "--bore-x"):
        assert opt in r.stdout
