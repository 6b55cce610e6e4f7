"""The SiPM bias ramp at a session's start, in the flight application on the simulated
board: its slew limit (`bias_ramp_v_per_s`, 8 V/s: one 4 V step per 500 ms update) holds
whatever the phase of the session's TC against the `sipm_bias` updates (a step is the
slew limit times the time since the last one, since stop 54).  Until stop 44 the
session's own step and the next update could be milliseconds apart: on the 10 ms frame's
timeline the TC was handled 2.3 ms before an update and the ramp took two steps in 2.3 ms
(15 -> 19 -> 23 V, below breakdown), which is also what let the usual plan's 2.4 s lead
finish the session-start knee before the uplink (docs/apt-loop.md §5 "The sensor at
7 ms", design.md §3.2)."""

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
    passsim.fly("nominal", seed=1, overrides=ov, duration_s=8.0, app_hook=hook)
    ramp = log[:1]
    for tv in log[1:]:
        if tv[1] < ramp[-1][1]:
            break
        ramp.append(tv)
    return ramp


@pytest.mark.parametrize("rate", [None, 100.0])
def test_the_ramp_holds_its_slew_at_the_sessions_start(rate):
    """The board's 7 ms frames and the sensor's 10 ms reference: the TC lands on other
    phases of the updates (2.3 ms before one at 10 ms)."""
    w = _writes(rate)
    assert len(w) >= 4 and w[0][1] < 16.0 < 27.0 < w[-1][1]  # from the lowest volts up
    assert max(b[1] - a[1] for a, b in zip(w, w[1:], strict=False)) <= 4.0 + 1e-6
    # after the session's own 4 V step, no two writes further apart than 8 V/s allows
    # (until stop 54: no two writes less than 0.45 s apart, the next update skipped)
    assert max(b[1] - a[1] - 8.0 * (b[0] - a[0]) for i, a in enumerate(w[1:], 1)
               for b in w[i + 1:]) <= 1e-6
    # the whole ramp at 8 V/s at most, after the session's own first step
    assert w[-1][0] - w[0][0] >= (w[-1][1] - w[0][1] - 4.0) / 8.0 - 0.01
