"""The unit's mirror latency (``apt_fsm_latency_us``, flight/apt_predict.py mirror_timing;
docs/apt-loop.md §4 "The unit's mirror latency"): the predictor's lead and mirror delay
are set for the reference unit's command latency and move with the unit's measured one,
which the ground uploads with its calibration (sim/run/obcnav.py latency_args)."""

import pytest

from flight import apt as A
from flight.apt_predict import _C_X0, Predictor, mirror_timing
from hal.interfaces import FSM_LATENCY_US, FSM_LSB_RAD


def _params(**kw):
    p = {d.name: d.default for d in A.PARAMS}
    p.update(kw)
    return p


def test_the_reference_units_latency_is_the_default_and_moves_nothing():
    p = _params()
    assert p["apt_fsm_latency_us"] == FSM_LATENCY_US == 500
    assert mirror_timing(p) == (p["apt_kf_lead_us"], p["apt_fsm_delay_us"])
    # the rule's text (`vector-tc dict`) names the reference's value it was written for
    from flight.param_rules import RULES

    (rule,) = [r for r in RULES if r.name == "apt_mirror_timing"]
    assert "FSM_LATENCY_US (%d)" % FSM_LATENCY_US in rule.text


@pytest.mark.parametrize("latency", [0, 200, 976, 3000])
def test_a_units_latency_moves_the_lead_and_the_delay_by_its_difference(latency):
    p = _params(apt_fsm_latency_us=latency)
    shift = latency - 500
    assert mirror_timing(p) == (p["apt_kf_lead_us"] + shift, p["apt_fsm_delay_us"] + shift)


def _configured(p):
    pr = Predictor()
    slew = int(p["apt_slew_urad"] * 1e-6 / FSM_LSB_RAD * 256)
    assert pr.configure(p, 6000, slew)
    return pr


def test_the_predictor_is_designed_for_the_units_latency():
    ref = _configured(_params())
    slow = _configured(_params(apt_fsm_latency_us=976))
    # the measurement's mirror history shifted by the extra 476 µs
    assert slow.c[_C_X0] - ref.c[_C_X0] == 476
    # the waveform predicted 476 µs further ahead: a design of its own
    assert slow.key != ref.key and slow.key[6] - ref.key[6] == 476
    assert list(slow.rows) != list(ref.rows)
    # the same as moving the lead and the delay by hand (one home for the sum)
    by_hand = _configured(_params(apt_kf_lead_us=ref.key[6] + 476,
                                  apt_fsm_delay_us=_params()["apt_fsm_delay_us"] + 476))
    assert by_hand.key == slow.key and by_hand.c[_C_X0] == slow.c[_C_X0]
    assert list(by_hand.rows) == list(slow.rows)


def test_a_latency_change_in_flight_redesigns_the_predictor():
    p = _params()
    pr = _configured(p)
    key = pr.key
    p["apt_fsm_latency_us"] = 700
    assert pr.configure(p, 6000, int(p["apt_slew_urad"] * 1e-6 / FSM_LSB_RAD * 256))
    assert pr.key != key and pr.key[6] == key[6] + 200


def test_a_matched_latency_lowers_the_aim_error_of_a_slow_unit():
    """The flight law closed around the linear plant of bench.apt_predict_margin (the
    honest jitter, the mirror's 300 Hz response, the board's send): a unit whose mirror is
    476 µs slower than the reference's (campaign draw 11's) tracks better with its
    latency set.  (A faster unit's gain is small: 5.26 / 5.29 µrad at 200 µs here, the
    lead then erring long as the rule of docs/apt-loop.md §4 "Which way to err" says not
    to.)"""
    latency = 976
    from bench.apt_predict_margin import residual

    def rms(params):
        return sum(residual(1.0, params, exposure_us=4000, seconds=10.0, noise_urad=1.0,
                            seed=s, latency_us=latency, period_us=6000) ** 2
                   for s in (1, 2)) ** 0.5

    default = rms({})
    matched = rms({"apt_fsm_latency_us": latency})
    assert matched < 0.9 * default, (default, matched)
