"""Linear model of the APT's PI law (docs/apt-loop.md §3): loop gain, margins, rejection.

    .venv/bin/python -m bench.apt_margins [--ki 98] [--kii 7200] [--kp 0] [--rate 100]

Per axis, frame period T = 1/rate, one frame of camera latency (the mirror command of
frame k shows in frame k + 1)::

    C(z) = [kp (1 - z^-1) + ki T + kii T^2 / (1 - z^-1)] / (1 - z^-1)
    L(z) = C(z) z^-1,   S = 1 / (1 + L)   (disturbance -> residual)

Prints the gain margin (1 / |L| where L turns by 180°), the phase margin, the rejection
crossover (|S| = 1) and |S| at 5, 10, 20 and 50 Hz.
"""

import argparse
import cmath
import math


def loop(kp, ki, kii, t, f):
    z = cmath.exp(1j * 2 * math.pi * f * t)
    zi = 1 / z
    c = (kp * (1 - zi) + ki * t + kii * t * t / (1 - zi)) / (1 - zi)
    return c * zi


def margins(kp, ki, kii, rate):
    t = 1.0 / rate
    fs = [0.05 + i * (rate / 2 - 0.1) / 20000 for i in range(20001)]
    gm = None
    pm = None
    prev = None
    for f in fs:
        lv = loop(kp, ki, kii, t, f)
        ph = math.degrees(cmath.phase(lv))
        if prev is not None:
            # phase crossover: Im L changes sign (or reaches 0 at Nyquist) with Re L < 0
            if gm is None and lv.real < 0 and (
                    (prev[2] > 0) != (lv.imag > 0) or abs(lv.imag) < 1e-9 * abs(lv)):
                gm = 1.0 / abs(lv)
            if pm is None and prev[0] >= 1.0 > abs(lv):
                pm = 180.0 + ph if ph < 0 else 180.0 - ph
        prev = (abs(lv), ph, lv.imag)
    if gm is None:  # the phase reaches -180° only at Nyquist (z = -1, L real)
        lv = loop(kp, ki, kii, t, rate / 2)
        if lv.real < 0:
            gm = 1.0 / abs(lv)
    cross = None
    for f in fs:
        if abs(1 / (1 + loop(kp, ki, kii, t, f))) >= 1.0:
            cross = f
            break
    rej = {f: abs(1 / (1 + loop(kp, ki, kii, t, f))) for f in (5.0, 10.0, 20.0, 50.0)}
    return gm, pm, cross, rej


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kp", type=float, default=0.0)
    ap.add_argument("--ki", type=float, default=98.0)
    ap.add_argument("--kii", type=float, default=7200.0)
    ap.add_argument("--rate", type=float, default=100.0, help="frame rate, Hz")
    a = ap.parse_args(argv)
    gm, pm, cross, rej = margins(a.kp, a.ki, a.kii, a.rate)
    print("gain margin        x%.2f" % gm if gm else "gain margin        n/a")
    print("phase margin       %.1f deg" % pm if pm else "phase margin       n/a")
    print("rejection crossover %.1f Hz" % cross if cross else "rejection crossover n/a")
    for f, s in rej.items():
        print("|S| at %4.0f Hz     %.2f (%+.1f dB)" % (f, s, 20 * math.log10(s)))


if __name__ == "__main__":
    main()
