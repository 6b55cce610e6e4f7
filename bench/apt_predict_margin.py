"""The APT predictor's gain margin, measured on the flight law (docs/apt-loop.md §4).

    .venv/bin/python -m bench.apt_predict_margin [--exposure-us 2000] [--seconds 20] [--period-us 7000]
                                                [--param name=value ...]

Closes the loop of flight/apt_predict.py (the flight code, fixed point) around a linear
plant on a 1 ms grid: the platform's line of sight (sim/pointing.py: the honest jitter
with its reaction-wheel lines, 100 urad/s drift), the camera (mean residual over the
exposure that ended ``apt_frame_delay_us`` before the frame, centroid noise ``--noise``
urad per axis), the mirror (sim/fsm.py, 300 Hz, 0.5 ms command latency) driven by the
predictor's waveform through a gain ``k`` (a calibration error of ×k).  Each frame's
waveform reaches the driver ``--send-us`` after the frame tick (the tick's compute and
bus time up to its mirror command, sim/run/costmodel.py MIRROR_SEND_US: the board's
1 569 µs; the earlier waveform plays until then).  One axis; the residual RMS after 2 s
for each k: the gain margin is the range of k before it blows up (> 3× the k = 1
residual).
"""

import argparse
import math

from flight import apt as A
from flight.apt_predict import Predictor
from hal.interfaces import CAMERA_FRAME_PERIOD_US, FSM_LSB_RAD
from sim.fsm import Fsm
from sim.run.costmodel import MIRROR_SEND_US as SEND_US  # the tick's compute to its send
from sim.pointing import JITTER_GRID_OFFSET_S, Platform, reaction_wheel_lines
from sim.rng import Rng


def residual(k, params, exposure_us=2000, seconds=20.0, noise_urad=1.0, seed=1,
             latency_us=500, per_frame=False, period_us=10000, send_us=SEND_US):
    """Residual RMS (urad, one axis) of the predictor with the mirror gain × ``k``.
    ``per_frame``: the mirror updated once a frame (the waveform's sample for the frame's
    middle held for the whole frame) instead of every sample period: what the sub-frame
    updates gain.  ``period_us``: the camera's frame (10 ms, the figures of docs/apt-loop.md
    §4; the CLI's default is the board's, hal.interfaces; 7000 the §5 what-if).
    ``send_us``: the frame tick to the waveform's first sample at the driver."""
    p = {d.name: d.default for d in A.PARAMS}
    p.update(params)
    pr = Predictor()
    slew = int(p["apt_slew_urad"] * 1e-6 / FSM_LSB_RAD * 256)
    pr.configure(p, period_us, slew)
    n_frame = period_us // 1000  # 1 ms grid points a frame
    pl = Platform(seed, initial_error_rad=(0.0, 0.0), drift_rad_s=(100e-6, 0.0),
                  grid_offset_s=JITTER_GRID_OFFSET_S, lines=reaction_wheel_lines(seed),
                  feedback_enabled=False)
    f = Fsm()
    f.set_gain_matrix(k, 0.0, 0.0, k)
    rng = Rng(seed * 7 + 1)
    ro = p["apt_frame_delay_us"] // 1000
    n_exp = max(1, (exposure_us + 500) // 1000)
    hist = []  # (d - theta) per ms
    acc = 0.0
    cnt = 0
    wave = None  # the waveform playing (a copy: the predictor rewrites its own)
    pending = None  # this frame's, until the tick has sent it
    k0 = kw = 0
    code = 0
    delay_ms, frac_us = divmod(send_us + latency_us, 1000)  # tick -> mirror: whole ms + rest
    lat = frac_us * 1e-6
    for i in range(int(seconds * 1000)):
        d = pl.jitter_at(i * 1e-3)[0] + pl.v_x * i * 1e-3
        r = d - f.theta_x
        hist.append(r)
        if len(hist) > 40:
            del hist[0]
        if i >= 2000:
            acc += r * r
            cnt += 1
        if i % n_frame == 0 and i >= 50:
            win = hist[-1 - ro - n_exp:len(hist) - 1 - ro] or hist[-1:]
            z = sum(win) / len(win) + noise_urad * 1e-6 * rng.gauss()
            fx = int(z / FSM_LSB_RAD * 256)
            pr.step(fx, 0, i * 1000, exposure_us, code << 8, 0)
            pending = list(pr.wq_x)
            k0 = i
        if pending is not None and i >= k0 + delay_ms:  # sent: it replaces the playing one
            wave = pending
            pending = None
            kw = k0
        if wave is not None:
            j = i - kw - delay_ms  # (the sample the driver plays now: 0 at its send)
            if per_frame:
                j = n_frame // 2 + j // n_frame * n_frame
            code = wave[j if j < len(wave) else len(wave) - 1] >> 8
        f.step(lat)
        f.command(code, 0)
        f.step(1e-3 - lat)
        if abs(f.theta_x) > 0.01:  # 10 mrad: diverged
            return float("inf")
    return math.sqrt(acc / cnt) * 1e6 if cnt else float("nan")


def margins(params, exposure_us=2000, seconds=20.0, noise_urad=1.0, seed=1,
            period_us=10000, send_us=SEND_US):
    """(k = 1 residual, largest k up to 3, smallest k down to 0.3) with a bounded residual
    (< 3x the k = 1 one), by steps of 0.1."""

    def res(k):
        return residual(k, params, exposure_us, seconds, noise_urad, seed, period_us=period_us,
                        send_us=send_us)

    r1 = res(1.0)
    hi = 1.0
    k = 1.1
    while k <= 3.0001 and res(k) < 3 * r1:
        hi = k
        k += 0.1
    lo = 1.0
    k = 0.9
    while k >= 0.2999 and res(k) < 3 * r1:
        lo = k
        k -= 0.1
    return r1, hi, lo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exposure-us", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--noise", type=float, default=1.0, help="centroid noise, urad/axis")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--period-us", type=int, default=CAMERA_FRAME_PERIOD_US,
                    help="camera frame period (default the board's, hal.interfaces)")
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--send-us", type=int, default=SEND_US,
                    help="frame tick to the waveform at the driver (default the tick's "
                         "compute, sim/run/costmodel.py: %(default)s)")
    a = ap.parse_args(argv)
    params = {}
    for kv in a.param:
        name, v = kv.split("=")
        params[name] = float(v) if "." in v or "e" in v else int(v)
    r1, hi, lo = margins(params, a.exposure_us, a.seconds, a.noise, a.seed, a.period_us,
                         a.send_us)
    print("residual RMS at k = 1     %.2f urad (one axis)" % r1)
    print("gain margin, up / down    x%.1f / x%.1f (k = %.1f .. %.1f)" % (hi, 1 / lo, lo, hi))


if __name__ == "__main__":
    main()
