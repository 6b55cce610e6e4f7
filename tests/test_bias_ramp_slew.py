"""The SiPM bias ramp at a session's start, in the flight application on the simulated
board: its slew limit (`bias_ramp_v_per_s`, 8 V/s: one 4 V step per 500 ms update) is
held only where the session's own step and the next `sipm_bias` update are a full update
apart.  Known defect, found at stop 44 (docs/apt-loop.md §5 "The sensor at 7 ms",
design.md §3.2): the session's TC is handled 2.3 ms before an update on the default
timeline, and the ramp takes two steps in 2.3 ms (15 -> 19 -> 23 V, below breakdown).
Strict xfail: the day the ramp holds its slew this test passes and the mark must go."""

import pytest

from sim.run import passsim


def _writes(rate_hz=None):
    """(time s, volts) of the bias supply's writes of the session's ramp: the power-on
    init's lowest volts, then every write up to the first that goes down (the breakdown
    sweep's first point, below breakdown)."""
    log = []

    def hook(app):
        sup = app.payload["bias"].supply
        set_uv, init = sup.set_uv, sup.init
        now = app.clock.now_us

        def logged_set(uv):
            r = set_uv(uv)
            log.append((now() * 1e-6, uv * 1e-6))
            return r

        def logged_init():
            r = init()
            log.append((now() * 1e-6, sup.limits()[0]))  # (volts)
            return r

        sup.set_uv, sup.init = logged_set, logged_init

    ov = {} if rate_hz is None else {"frame_rate_hz": rate_hz}
    passsim.fly("nominal", seed=1, overrides=ov, duration_s=7.2, app_hook=hook)
    ramp = log[:1]
    for tv in log[1:]:
        if tv[1] < ramp[-1][1]:
            break
        ramp.append(tv)
    return ramp


def _fastest_pair(w):
    """The largest voltage change between two writes less than 0.45 s apart."""
    return max(abs(b[1] - a[1]) for i, a in enumerate(w) for b in w[i + 1:] if b[0] - a[0] < 0.45)


def test_the_ramp_reaches_its_target_in_steps_of_at_most_4_volts():
    w = _writes()
    assert len(w) >= 4 and w[0][1] < 16.0 < 27.0 < w[-1][1]  # from the lowest volts up
    assert max(b[1] - a[1] for a, b in zip(w, w[1:], strict=False)) <= 4.0 + 1e-6


@pytest.mark.xfail(strict=True, reason="known: two ramp steps within 2.3 ms at the session's "
                   "start on the default timeline (stop 44; design.md §3.2)")
def test_the_ramp_holds_its_slew_at_the_sessions_start():
    assert _fastest_pair(_writes()) <= 4.0 + 1e-6


def test_a_session_tc_after_the_update_keeps_the_slew():
    # the 7 ms what-if handles the TC 19 ms later, after the update: steps 500 ms apart
    assert _fastest_pair(_writes(1e6 / 7000)) <= 4.0 + 1e-6
