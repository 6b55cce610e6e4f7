"""The unit's predictor design from its measured jitter (ground_tools/noise_design.py,
``vector-tc kf-noise``): the rule, its clamps, its refusals and the command line."""

import json
import math

import pytest

from ground_tools import cliutil, noise_design as nd
from ground_tools.__main__ import main


def test_the_design_jitter_gives_the_default_and_more_jitter_a_lower_noise():
    at_design = nd.design(nd.DESIGN_JITTER_URAD, 300)
    assert at_design["accepted"] and at_design["why"] == ""
    assert at_design["apt_kf_noise_urad"] == 1.25
    # DESIGN §5's 20 µrad RMS, per axis
    assert nd.DESIGN_JITTER_URAD == pytest.approx(20.0 / math.sqrt(2.0))
    shaky = nd.design(17.5, 300)["apt_kf_noise_urad"]
    quiet = nd.design(12.0, 300)["apt_kf_noise_urad"]
    assert shaky == pytest.approx(1.25 * 14.142 / 17.5, abs=0.006) == 1.01
    assert quiet == 1.47 and quiet > 1.25 > shaky


def test_the_setting_stays_in_the_range_the_campaign_measured():
    lo, hi = nd.NOISE_RANGE_URAD
    assert nd.design(3.0, 300)["apt_kf_noise_urad"] == hi == 1.8
    assert nd.design(40.0, 300)["apt_kf_noise_urad"] == lo == 0.8
    for j in (2.0, 5.0, 10.0, 14.0, 16.0, 20.0, 25.0, 60.0):
        assert lo <= nd.design(j, 120)["apt_kf_noise_urad"] <= hi


def test_too_few_samples_or_an_implausible_jitter_is_refused():
    r = nd.design(14.0, nd.MIN_SAMPLES - 1)
    assert not r["accepted"] and r["apt_kf_noise_urad"] is None
    assert "fewer than %d" % nd.MIN_SAMPLES in r["why"]
    assert nd.design(14.0, 0)["se_urad"] is None  # (no sample: no error either)
    for j in (0.0, 1.9, 60.1, 500.0):
        r = nd.design(j, 300)
        assert not r["accepted"] and "outside" in r["why"], j
    # the standard error of the RMS: 1 / (2 sqrt(n)) of it
    assert nd.design(14.0, 400)["se_urad"] == pytest.approx(0.35)


def test_bad_input_raises():
    for j, n in ((float("nan"), 300), ("14", 300), (14.0, -1), (14.0, 501), (14.0, 3.5)):
        with pytest.raises(ValueError):
            nd.design(j, n)


def cli(capsys, *argv):
    rc = main(["kf-noise"] + [str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_prints_the_setting_and_the_commands(capsys):
    rc, out, err = cli(capsys, "--jitter", 17.5, "--samples", 300)
    assert rc == 0, err
    r = json.loads(out)
    assert r["accepted"] and r["apt_kf_noise_urad"] == 1.01
    assert r["commands"] == ["vector-tc send PARAM_SET name=apt_kf_noise_urad value=1.01",
                             "vector-tc send PARAM_SAVE"]


def test_cli_refusal_exits_4_and_bad_input_2(capsys):
    rc, out, err = cli(capsys, "--jitter", 17.5, "--samples", 30)
    assert rc == cliutil.EXIT_REFUSED == 4
    r = json.loads(out)
    assert not r["accepted"] and r["commands"] == [] and "refused" in err
    rc, out, err = cli(capsys, "--jitter", "nan", "--samples", 300)
    assert rc == 2 and out == "" and "not a number" in err
