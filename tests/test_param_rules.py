"""Issue 12 finding 12: parameter ranges that reflect the hardware and cross-parameter
rules (flight/param_rules.py), at PARAM_SET (over the real TC pipeline) and at load.

The attacks of the finding: ``bias_safe_v`` 40 or 80 V (the "safe" bias 15 V above
breakdown after a FAULT), ``bias_vbr25_v`` 80 V, ``apt_sign_x`` 0 (zeroes an axis) —
each was accepted and completed OK.
"""

import pytest

from flight import cbor
from flight.app import FlightApp
from flight.cmddict import BY_NAME, Refused
from flight.param_rules import RULES
from flight.slotstore import SlotStore
from hal.sim.storage import MemStorage
from tests.mpy.obc import Obc, core_board, ok_pair

PARAM_SET = BY_NAME["PARAM_SET"].opcode


def _sans_replay(snap):
    """A snapshot without the anti-replay marks: an authentic TC rejected BAD_ARG spent
    its counter (CCSDS SDLS, issue 12 finding 3), and changed nothing else."""
    snap = dict(snap)
    snap.pop("replay")
    snap["storage"] = {k: v for k, v in snap["storage"].items() if not k.startswith("replay.")}
    return snap


def rejected(o, name, value):
    """PARAM_SET name=value: its one (acceptance) report, and nothing changed (but the
    anti-replay mark, to this TC's counter)."""
    o.settle()
    before = o.app.snapshot()
    reps = o.send(PARAM_SET, {"name": name, "value": value}, run_us=100000)
    assert len(reps) == 1 and reps[0]["ok"] is False and reps[0]["reason"] == "BAD_ARG", reps
    after = o.app.snapshot()
    assert after["replay"][o.app.keyring.active] == o.counter
    assert _sans_replay(after) == _sans_replay(before)
    return reps[0]["detail"]


@pytest.mark.parametrize("name,value", [("bias_safe_v", 40.0), ("bias_safe_v", 80.0),
                                        ("bias_vbr25_v", 80.0), ("bias_vbr25_v", 10.0),
                                        ("bias_kt_mv_per_k", 0.0)])
def test_unsafe_values_are_outside_the_hardware_ranges(name, value):
    detail = rejected(Obc(), name, value)
    assert name in detail and "outside" in detail


def test_a_zero_apt_sign_is_refused_naming_the_rule():
    o = Obc()
    for axis in ("x", "y"):
        detail = rejected(o, "apt_sign_" + axis, 0)
        assert "rule apt_sign_%s_nonzero" % axis in detail
    ok_pair(o.send(PARAM_SET, {"name": "apt_sign_x", "value": -1}))
    assert o.app.params["apt_sign_x"] == -1


def test_safe_bias_must_stay_below_the_lowest_breakdown_from_either_side():
    o = Obc()
    # Lowest breakdown at defaults: 24.55 V + 21.5 mV/K x (-50 - 25) K = 22.94 V.
    assert "rule safe_bias_below_breakdown" in rejected(o, "bias_safe_v", 23.0)
    ok_pair(o.send(PARAM_SET, {"name": "bias_safe_v", "value": 22.8}))
    # Now a lower breakdown, a steeper coefficient or a colder plausible range would put
    # the breakdown below that safe bias: each refused, naming the rule.
    for name, value in (("bias_vbr25_v", 24.0), ("bias_kt_mv_per_k", 30.0),
                        ("bias_t_min_c", -60.0)):
        assert "rule safe_bias_below_breakdown" in rejected(o, name, value), name
    ok_pair(o.send(PARAM_SET, {"name": "bias_vbr25_v", "value": 24.7}))


def test_limit_range_stays_ordered():
    o = Obc()
    ok_pair(o.send(PARAM_SET, {"name": "temp_min_c", "value": 30.0}))
    # The upper limit may not go below the lower one (SAFE at any temperature).
    assert "rule limit_range_ordered" in rejected(o, "temp_max_c", 25.0)


def test_the_auto_exposure_band_spans_two_steps_and_stays_ordered():
    o = Obc()
    # An inverted band lost the beacon ten times in a pass; a narrow one hunted (a camera
    # write every few frames): flight/param_rules.py _exposure_band.
    assert "rule apt_exposure_band" in rejected(o, "apt_peak_hi_dn", 20)
    assert "rule apt_exposure_band" in rejected(o, "apt_peak_hi_dn", 352)  # 1.408 x 250
    assert "rule apt_exposure_band" in rejected(o, "apt_peak_lo_dn", 533)  # 750 / 533 < 1.41
    ok_pair(o.send(PARAM_SET, {"name": "apt_peak_hi_dn", "value": 353}))  # 1.412 x 250
    ok_pair(o.send(PARAM_SET, {"name": "apt_peak_lo_dn", "value": 100}))


def test_the_smallest_valid_spot_is_not_above_the_largest():
    o = Obc()
    assert "rule apt_spot_size_ordered" in rejected(o, "apt_max_spot_px", 3)  # min 4
    ok_pair(o.send(PARAM_SET, {"name": "apt_max_spot_px", "value": 4}))
    assert "rule apt_spot_size_ordered" in rejected(o, "apt_min_spot_px", 5)


@pytest.mark.parametrize("lo, hi, rule, equal_ok", [
    ("bias_knee_lo_v", "bias_knee_hi_v", "knee_sweep_ordered", False),
    ("bias_knee_track_lo_v", "bias_knee_hi_v", "knee_track_sweep_ordered", False),
    ("bias_knee_vbr25_min", "bias_knee_vbr25_max", "knee_vbr25_window_ordered", True),
    ("bias_knee_kt_min", "bias_knee_kt_max", "knee_kt_window_ordered", True),
])
def test_the_knees_sweep_and_plausibility_windows_stay_ordered(lo, hi, rule, equal_ok):
    o = Obc()
    p = o.app.params
    assert "rule " + rule in rejected(o, lo, p[hi] + 0.01)
    assert "rule " + rule in rejected(o, hi, p[lo] - 0.01)
    if equal_ok:  # a closed window of one value (a test forcing refusals uses it)
        ok_pair(o.send(PARAM_SET, {"name": hi, "value": p[lo]}))
    else:  # a sweep from a point to itself: one point, never a fit
        assert "rule " + rule in rejected(o, lo, p[hi])
    ok_pair(o.send(PARAM_SET, {"name": hi, "value": p[lo] + 0.5}))


def test_the_units_mirror_latency_keeps_the_lead_and_delay_after_the_tick():
    o = Obc()
    # (flight/apt_predict.py mirror_timing: each moves by the latency less 500 µs)
    ok_pair(o.send(PARAM_SET, {"name": "apt_fsm_delay_us", "value": 300}))
    assert "rule apt_mirror_timing" in rejected(o, "apt_fsm_latency_us", 199)  # 300 - 301
    ok_pair(o.send(PARAM_SET, {"name": "apt_fsm_latency_us", "value": 200}))  # 300 - 300
    assert "rule apt_mirror_timing" in rejected(o, "apt_fsm_delay_us", 299)
    assert "rule apt_mirror_timing" in rejected(o, "apt_kf_lead_us", 299)
    ok_pair(o.send(PARAM_SET, {"name": "apt_fsm_latency_us", "value": 3000}))  # its range end
    assert o.app.params["apt_fsm_latency_us"] == 3000


def test_a_module_setting_a_learned_value_is_held_to_the_rules_too():
    o = Obc()
    with pytest.raises(Refused, match="rule safe_bias_below_breakdown") as refused:
        o.app.ctx.params.set("bias_vbr25_v", 23.3)  # 23.3 - 1.61 = 21.69 ... fine
        o.app.ctx.params.set("bias_safe_v", 21.9)  # above 21.69: refused
    assert refused.value.reason == "BAD_ARG"
    assert o.app.params["bias_safe_v"] == 21.0


def test_a_stored_set_breaking_a_rule_is_reset_at_load_naming_the_rule():
    s = MemStorage()
    # CRC-valid, every value in range, the combination unsafe (as a flash write by
    # someone with file-system access, or an older version's ranges, could leave it).
    SlotStore(s, "params").save(cbor.encode({"bias_safe_v": 24.0, "bias_vbr25_v": 24.3,
                                             "apt_sign_y": 0, "limit_persist": 7}))
    app = FlightApp(core_board(s))
    app.boot()
    p = app.params
    assert p["bias_safe_v"] == 21.0 and p["bias_vbr25_v"] == 24.55 and p["apt_sign_y"] == 1
    assert p["limit_persist"] == 7  # the rest of the set is kept
    texts = []
    while True:
        e = app.events.pop()
        if e is None:
            break
        if app.events.name(e[3]) == "PARAM_INVALID":
            texts.append(e[4])
    assert any("rule safe_bias_below_breakdown" in t for t in texts), texts
    assert any("rule apt_sign_y_nonzero" in t for t in texts), texts


def test_the_defaults_satisfy_every_rule_and_every_rule_names_declared_parameters():
    app = FlightApp(core_board(MemStorage()))
    for r in RULES:
        for n in r.params:
            assert n in app.params.defs, (r.name, n)
        assert r.check(app.params.values) is None, r.name


def test_a_batch_of_changes_loads_the_rules_once(monkeypatch):
    # On the board each change imports the rules (flight/lazy.py) and releases them; a
    # knee's report sets ~15 parameters in one run of its task (flight/knee_owner.py
    # holds them for it): one import for the batch, and still checked at every change.
    from flight import lazy

    app = FlightApp(core_board())
    p = app.params
    p.rules = None  # as on the firmware: loaded for each change
    loads = []
    real = lazy.load

    def counting(name, emit=None):
        if name == "flight.param_rules":
            loads.append(name)
        return real(name, emit)

    monkeypatch.setattr(lazy, "load", counting)
    p.set("bias_vov_v", 3.0)
    p.set("bias_vov_v", 2.9)
    assert len(loads) == 2  # one import a change
    loads.clear()
    p.hold_rules(True)
    try:
        for v in (3.0, 2.9, 3.1, 3.0):
            p.set("bias_vov_v", v)
        with pytest.raises(Refused, match="rule"):  # the rules still apply within the batch
            p.set("apt_sign_x", 0)
    finally:
        p.hold_rules(False)
    assert len(loads) == 1 and p._held is None
    p.set("bias_vov_v", 3.0)
    assert len(loads) == 2  # after the batch: one a change again
