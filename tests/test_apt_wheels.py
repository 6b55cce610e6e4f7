"""The reaction-wheel line canceller (issue 14, control v2; flight/apt_wheels.py,
docs/apt-loop.md §4 "Wheel lines"): the OBC's wheel speeds in NAV_STATE (declared in the
ground dictionary, optional), the canceller converging in closed loop on a world with the
wheel lines, and stale or missing speeds fading it out with its event."""

import math

import pytest

from flight import apt_wheels as W
from flight.cmddict import BY_NAME, Refused, validate
from ground_tools import dictionary
from sim.run import metrics, passsim

RW = ("rw1_hz", "rw2_hz", "rw3_hz", "rw4_hz")


def test_the_ground_dictionary_declares_the_wheel_speeds_in_nav_state():
    d = dictionary.build_dictionary()
    nav = [c for c in d["commands"] if c["name"] == "NAV_STATE"]
    assert len(nav) == 1 and nav[0]["opcode"] == 0x60  # the same packet, extended
    args = {a["name"]: a for a in nav[0]["args"]}
    for n in RW:
        a = args[n]
        assert (a["type"], a["unit"], a["required"]) == ("float", "Hz", False)
        assert a["min"] == -250.0 and a["max"] == 250.0
    ev = {e["name"] for e in d["events"]}
    assert {"APT_RW_STALE", "APT_RW_LINES"} <= ev
    names = {p["name"] for p in d["parameters"]}
    assert {"apt_rw_max_age_s", "apt_rw_cancel"} <= names
    # an OBC that does not send them is still understood; a wrong speed is refused
    base = {"t": 1.0, "px": 0.0, "py": 0.0, "pz": 6.9e6, "vx": 7580.0, "vy": 0.0, "vz": 0.0,
            "qw": 1.0, "qx": 0.0, "qy": 0.0, "qz": 0.0}
    cmd = BY_NAME["NAV_STATE"]
    assert "rw1_hz" not in validate(cmd, base)
    assert validate(cmd, dict(base, rw1_hz=45.5, rw2_hz=-60.0))["rw2_hz"] == -60.0
    with pytest.raises(Refused) as refused:
        validate(cmd, dict(base, rw3_hz=300.0))
    assert refused.value.reason == "BAD_ARG"


def test_lines_aliased_where_the_predictor_turns_them_are_left_to_it():
    ln = W.Lines()
    ln.configure(10000, 1000, 1750, 500)
    # no speeds yet (stopped wheels too): no line and no float store held (issue 11)
    assert ln.set_speeds([0.0, None]) == 0 and len(ln.fl) == 0 and ln.frequencies() == []
    # 45 Hz: alias 45 (cancelled); its 2nd harmonic 90 Hz aliases to 10 Hz (left);
    # 34 Hz and 68 Hz (alias 32): both cancelled; 36 Hz's 72 Hz (alias 28) is left; a
    # stopped wheel has no line
    assert ln.set_speeds([45.0, -34.0, 0.0, None]) == 3
    assert sorted(ln.frequencies()) == [34.0, 45.0, 68.0]
    assert ln.pending() == 3 and not any(ln.T[s * W.TS + W._T_ON] for s in range(W.N_SLOT))
    pieces = 0
    while ln.service():  # the pointahead task's runs: one bounded piece each
        pieces += 1
    arg = 1 if ln.m is None else W._PEND_RUNGS - W._PEND_ARG  # (no predictor here: S = 1)
    assert pieces == 3 * (arg + -(-W._NLAD // W._RUNG_CHUNK)) and ln.pending() == 0
    assert sum(ln.T[s * W.TS + W._T_ON] for s in range(W.N_SLOT)) == 3
    assert ln.set_speeds([45.005, -34.0]) == 3  # within 0.01 Hz: no redesign
    assert ln.fl[W._FL_HZ] == 45.0
    t = list(ln.T)
    ln.set_speeds([45.5, -34.0])  # a slow drift: the rotations, not the exposure tables
    tab = slice(W.T_F, W.TS)  # (the 45 Hz wheel's fundamental: slot 0)
    assert ln.T[W._T_FC] != t[W._T_FC] and list(ln.T[tab]) == t[tab]
    ln.set_speeds([46.2, -34.0])  # 1.2 Hz from the tables' frequency: the tables too
    assert ln.pending() == 1 and ln.T[W._T_ON] == 1  # (queued; the old tables meanwhile)
    assert list(ln.T[tab]) == t[tab]
    ln.complete()
    assert list(ln.T[tab]) != t[tab] and ln.fl[W._FL_TAB] == 46.2
    assert ln.set_speeds([45.0, 36.0]) == 2 and sorted(ln.frequencies()) == [36.0, 45.0]


def _fly(dur, **ov):
    res = passsim.fly("nominal", seed=1, duration_s=dur, overrides=ov)
    return res, metrics.compute(res), res.apps[0].payload["apt"].law.lines


def _names(res):
    return [e["name"] for _t, _b, e in res.obc.events]


def test_the_canceller_converges_on_a_world_with_wheel_lines():
    """Honest world, seed 1 (wheels at 33.7 and 65.1 Hz: the fundamentals, the 67.4 Hz
    harmonic and, under the 6 ms frames' 83.3 Hz Nyquist since stop 63, the 130.2 Hz one,
    alias 36.4 Hz, cancelled; at 7 ms the 67.4 Hz line's alias was 32.6 Hz and 130.2 Hz
    was left), 60 s: with the speeds the residual in TRACK falls most of the way to the
    world without wheel lines."""
    res, m, ln = _fly(60.0)
    _r0, m0, ln0 = _fly(60.0, obc_wheels=False)
    _r1, m1, _l1 = _fly(60.0, reaction_wheels=False)
    assert ln.k[W._K_ACT] == 4 and ln.k[W.K_G] == W.ONE and ln.k[W.K_UPD] > 3000
    assert ln0.k[W.K_G] == 0 and ln0.k[W._K_ACT] == 0
    with_, without, none = (x["track_residual_rms_urad"] for x in (m, m0, m1))
    # (the line-free world's is no strict floor: a 60 s segment's own noise is ±0.2 urad)
    assert none < without and with_ < without - 0.7 * (without - none), (with_, without, none)
    assert "APT_RW_LINES" in _names(res) and "APT_RW_STALE" not in _names(res)
    assert "APT_RW_STALE" in _names(_r0)  # missing speeds: an event, not a silent zero
    # the estimates: every cancelled line has an amplitude of the wheel lines' class
    # (0.5-1.5 urad per line, each split by its direction over the two axes)
    lsb = 1.0652644360316953  # urad per FSM code (hal.interfaces.FSM_LSB_RAD)
    for s in range(W.N_SLOT):
        z = s * W.ZS
        if ln.T[s * W.TS + W._T_ON]:
            a = [math.hypot(ln.Z[z + i], ln.Z[z + i + 1]) * lsb / 1024 for i in (W.Z_XR, W.Z_YR)]
            assert 0.2 < math.hypot(*a) < 3.0, (s, a)


def test_stale_wheel_speeds_fade_the_canceller_out_with_its_event():
    """The OBC stops sending the speeds at 30 s (its NAV_STATE goes on): after
    apt_rw_max_age_s (3 s) APT_RW_STALE, the output fades to zero in 0.5 s and the
    estimates are forgotten; the speeds again at 45 s: APT_RW_LINES, the canceller adapts
    again from zero."""
    res, _m, ln = _fly(40.0, rw_outage=(30.0, 15.0))
    assert ln.k[W.K_ON] == 0 and ln.k[W.K_G] == 0 and ln.k[W._K_ACT] == 4
    assert all(ln.Z[s * W.ZS + i] == 0 for s in range(W.N_SLOT)
               for i in (W.Z_XR, W.Z_XI, W.Z_YR, W.Z_YI))
    assert list(ln.lx) == [0] * 20 and list(ln.ly) == [0] * 20
    ev = [(t, e) for t, _b, e in res.obc.events if e["name"] == "APT_RW_STALE"]
    assert len(ev) == 1 and 32.5 < ev[0][0] < 35.0 and ev[0][1]["args"][0] >= 3.0
    res2, _m2, ln2 = _fly(52.0, rw_outage=(30.0, 15.0))
    names = _names(res2)
    assert names.count("APT_RW_LINES") == 2 and names.count("APT_RW_STALE") == 1
    assert ln2.k[W.K_G] == W.ONE and ln2.k[W.K_ON] == 1


def test_the_innovation_turn_designed_in_pieces_is_numpy_s():
    """The predictor's innovation transfer at a line's alias, built over three bounded
    pieces of Lines.service (flight/wheels_design.py), equals numpy's solve of
    S = 1 - h (zI - Phi (I - K h))^-1 Phi K from the same Q12 matrices."""
    import numpy as np

    from flight import apt as A
    from flight.apt_control import ControlLaw
    from flight.params import P_DEFAULT, P_NAME

    law = ControlLaw()
    law.configure({d[P_NAME]: d[P_DEFAULT] for d in A.PARAMS}, 10000)
    ln = law.lines
    assert ln.m is not None
    ln.set_speeds([33.7])
    steps = 0
    while ln.pend[0] and ln.pend[0] < W._PEND_RUNGS:
        ln.service()
        steps += 1
    assert steps == W._PEND_RUNGS - W._PEND_ARG
    m = ln.m
    n = 6
    phi = np.array([[m[i * n + j] / 4096.0 for j in range(n)] for i in range(n)])
    k = np.array([m[42 + i] / 4096.0 for i in range(n)])
    h = np.array([1.0] + [m[60 + 27 * n + j] / 4096.0 for j in range(1, n)])
    z = np.exp(1j * 2 * np.pi * 33.7 * 0.01)
    s = 1 - h @ np.linalg.solve(z * np.eye(n) - phi @ (np.eye(n) - np.outer(k, h)), phi @ k)
    assert abs(ln.fl[W._FL_SP] - np.angle(s)) < 1e-9
    ln.complete()
    assert ln.pending() == 0 and ln.T[W._T_ON] == 1


def test_a_line_aliased_near_the_frames_nyquist_is_left_alone():
    """A wheel within ALIAS_GUARD_HZ (0.1 Hz) of the frames' Nyquist frequency is seen at
    nearly the same phase every frame: its quadrature part is unobservable for longer than
    10 s, so it is not cancelled; 0.15 Hz away it is.  The limit follows the frame rate:
    at 200 Hz frames a 60 Hz wheel is its own alias, cancelled (and its 120 Hz, alias 80)."""
    ln = W.Lines()
    ln.configure(10000, 1000, 1750, 500)
    assert ln.set_speeds([49.95]) == 0 and ln.frequencies() == []
    assert ln.set_speeds([50.05]) == 0  # (alias 49.95 Hz)
    assert ln.set_speeds([49.85]) == 1 and ln.frequencies() == [49.85]
    assert ln.set_speeds([51.2]) == 1 and ln.frequencies() == [51.2]  # (alias 48.8 Hz)
    fast = W.Lines()
    fast.configure(5000, 1000, 1750, 500)
    assert fast.set_speeds([60.0]) == 2 and sorted(fast.frequencies()) == [60.0, 120.0]
    assert fast.set_speeds([99.95]) == 0  # (its 199.9 Hz above the 150 Hz limit)


@pytest.mark.parametrize("rate, line", [(100.0, 49.6), (None, 71.0)])
def test_a_wheel_near_the_frames_nyquist_is_cancelled(monkeypatch, rate, line):
    """Honest world, seed 1, with one wheel 0.4 Hz from the frames' Nyquist (49.6 Hz at the
    sensor's 100 Hz reference; 71.0 Hz at the board's 143 Hz: 1.5 urad, its 2nd harmonic
    aliased to ~0.8 Hz is the predictor's), 60 s: the predictor alone amplifies the line
    (innovation gain ~2.7 near Nyquist); with the OBC's speeds the canceller takes most of
    it out (it was left alone within 1.5 Hz of Nyquist: campaign draw 26 of seed 11, two
    wheels at 49.2 and 51.3 Hz, 5.45 -> 3.99 urad)."""
    import hal.sim.world as HW

    monkeypatch.setattr(HW, "reaction_wheel_lines",
                        lambda seed: [(1.5e-6, line, 0.3, 0.7), (0.5e-6, 2 * line, 1.1, 0.7)])
    ov = {} if rate is None else {"frame_rate_hz": rate}
    _res, m, ln = _fly(60.0, **ov)
    _r0, m0, _l0 = _fly(60.0, obc_wheels=False, **ov)
    _r1, m1, _l1 = _fly(60.0, reaction_wheels=False, **ov)
    assert [round(f, 1) for f in ln.frequencies()] == [line] and ln.T[W._T_ON] == 1 \
        and ln.k[W.K_UPD] > 3000
    with_, without, none = (x["track_residual_rms_urad"] for x in (m, m0, m1))
    # (The line matters: uncancelled it costs 0.39 urad at 143 Hz frames and the board's
    # 1.569 ms send (as at stop 51's 1.68 ms), 0.45 at the kit's 1.24 ms; the canceller
    # takes out 90 %.)
    assert without > none + 0.3 and with_ < without - 0.7 * (without - none), \
        (with_, without, none)


def _q14(v):
    return int(v * W.ONE + (0.5 if v >= 0 else -0.5))


def test_the_16_bit_design_table_holds_the_designs_values_exactly():
    """Lines.T is an array('h') (it was 'i'): every entry the design writes is a Q14
    cosine or sine, a sinc times one, or omega (rad/us * 2**24) below 150 Hz, so 16 bits
    hold it.  Recomputed here from the formulas (what the 32-bit table held), for lines
    up to the canceller's 150 Hz limit and a real predictor's innovation turn: equal,
    entry by entry, and within int16 with room (|T| <= 16384, omega <= 15 814)."""
    from flight import apt as A
    from flight.apt_control import ControlLaw
    from flight.apt_exposure import EXPOSURES_US
    from flight.params import P_DEFAULT, P_NAME

    assert len(EXPOSURES_US) == W._NLAD and W.TS == W.T_F + 2 * W._NLAD == 80  # (kernels)
    law = ControlLaw()
    law.configure({d[P_NAME]: d[P_DEFAULT] for d in A.PARAMS}, 10000)
    ln = law.lines
    assert ln.T.typecode == "h" and ln.Z.typecode == "i"
    # 33.7 Hz and its 67.4 (alias 32.6); 74 Hz (alias 26: left) and its 148 (alias 48);
    # 133 Hz (alias 33; its 266 Hz above the limit)
    assert ln.set_speeds([33.7, 74.0, -133.0, 0.0]) == 4
    ln.complete()
    frame, wave, lead, ro = 10000, 1000, ln.lead_us, ln.ro_us
    seen = 0
    for s in range(W.N_SLOT):
        o = s * W.TS
        if not ln.T[o + W._T_ON]:
            continue
        seen += 1
        f = ln.fl[W._FL_HZ + s // 2] * (s % 2 + 1)
        wu = 2.0 * math.pi * f * 1e-6
        want = [1]
        for a in (wu * wave, wu * frame):
            want += [_q14(math.cos(a)), _q14(math.sin(a))]
        want += [int(wu * (1 << 24) + 0.5), _q14(math.cos(wu * lead)), _q14(math.sin(wu * lead))]
        for e in EXPOSURES_US:
            x = 0.5 * wu * e
            ph = ln.fl[W._FL_SP + s] - wu * (ro + 0.5 * e)
            want += [_q14(math.sin(x) / x * math.cos(ph)), _q14(math.sin(x) / x * math.sin(ph))]
        assert list(ln.T[o:o + W.TS]) == want, s
    assert seen == 4 and max(ln.frequencies()) == 148.0
    assert max(abs(v) for v in ln.T) <= W.ONE
    assert 2 * math.pi * 150e-6 * (1 << 24) + 0.5 < 15814  # omega at LINE_MAX_HZ


def test_no_design_queued_costs_the_pointahead_run_nothing_and_a_queued_one_completes():
    """Lines.queued counts the lines being designed: while it is 0 the pointahead task's
    runs do not call Lines.service at all; speeds that queue designs are served one piece
    a run until complete, and then the runs stop calling again."""
    from flight import apt as A
    from flight import pointahead as PA
    from tests.mpy.fakes import FakeCtx

    ctx = FakeCtx(A, PA)
    pa = PA.PointAhead(ctx)
    ln = W.Lines()
    ln.configure(10000, 1000, 1750, 500)
    pa.lines = ln
    calls = []
    serve = ln.service
    ln.service = lambda: calls.append(1) or serve()

    def runs(n):
        for _ in range(n):
            pa._task.last_start += 100000
            pa.tick()

    runs(20)
    assert ln.queued == 0 and calls == [] and serve() is False
    assert ln.set_speeds([45.0, -34.0]) == 3 and ln.queued == 3
    runs(200)
    pieces = 3 * (1 + -(-W._NLAD // W._RUNG_CHUNK))  # (no predictor: S = 1, one piece)
    assert len(calls) == pieces and ln.queued == 0 and ln.pending() == 0
    assert sum(ln.T[s * W.TS + W._T_ON] for s in range(W.N_SLOT)) == 3
    assert all(ln.Z[s * W.ZS + W.Z_PC] == W.ONE for s in range(W.N_SLOT)
               if ln.T[s * W.TS + W._T_ON])
    ln.set_speeds([45.005, -34.0])  # (within 0.01 Hz: nothing queued)
    runs(5)
    assert len(calls) == pieces
