"""Where the aim error in TRACK comes from (issue 14, docs/apt-loop.md §5): one honest
pass, its 1 kHz aim error split by frequency band and by elevation (exposure).

    python -m bench.apt_bands [--seed N] [--no-wheels] [--no-speeds]

``--no-wheels``: a world without the reaction-wheel lines (``reaction_wheels`` False);
``--no-speeds``: the OBC sends no wheel speeds (the canceller stays off: the predictor
alone, as before the wheel-line canceller).  Prints JSON: the residual (the metric of
``make sim``), the band RMS (radial, µrad, from the periodogram of each TRACK stretch
longer than 2 s), and the RMS per elevation band (docs/apt-loop.md §5 "What is left").
"""

import argparse
import bisect
import json
import math
import sys

BANDS_HZ = ((0.0, 5.0), (5.0, 20.0), (20.0, 33.0), (33.0, 50.0), (50.0, 70.0),
            (70.0, 150.0), (150.0, 500.0))
ELEV_DEG = ((20.0, 30.0), (30.0, 45.0), (45.0, 60.0), (60.0, 90.0))


def _stretches(ts, st, track):
    """[(i0, i1)] of the TRACK stretches (0.5 s after entry skipped, as the metric)."""
    out = []
    i0 = None
    for i in range(len(ts)):
        if st[i] == track:
            if i0 is None:
                i0 = i
        elif i0 is not None:
            out.append((i0, i))
            i0 = None
    if i0 is not None:
        out.append((i0, len(ts)))
    return [(a + 500, b) for a, b in out if b - a > 2500]


def analyse(seed, overrides):
    import numpy as np

    from sim.run import metrics, passsim
    from sim.run.recorder import W_EL, W_T
    from sim.run.tmview import APT_TRACK

    res = passsim.fly("nominal", seed=seed, overrides=overrides)
    m = metrics.compute(res)
    rec = res.rec
    ts, xs, ys, st = rec.fine
    ts = np.asarray(ts)
    xs = np.asarray(xs) * 1e6
    ys = np.asarray(ys) * 1e6
    band = [0.0] * len(BANDS_HZ)
    n = 0
    for a, b in _stretches(ts, st, APT_TRACK):
        seg = 4096
        for k in range(a, b - seg + 1, seg):
            for v in (xs[k:k + seg], ys[k:k + seg]):
                f = np.fft.rfftfreq(seg, 1e-3)
                p = np.abs(np.fft.rfft(v - v.mean())) ** 2 / seg ** 2 * 2
                for i, (lo, hi) in enumerate(BANDS_HZ):
                    band[i] += float(p[(f >= lo) & (f < hi)].sum())
            n += 1
    out = {"seed": seed, "overrides": overrides,
           "track_residual_rms_urad": m["track_residual_rms_urad"],
           "acquisition_time_s": m.get("acquisition_time_s"),
           "bands_urad": {"%g-%g Hz" % bd: round(math.sqrt(band[i] / n), 2) if n else None
                          for i, bd in enumerate(BANDS_HZ)}}
    # per elevation band: the windows' elevation, the frames' exposure (the camera model)
    el_t = [(w[W_T], w[W_EL]) for w in rec.windows]
    by = {}
    for a, b in _stretches(ts, st, APT_TRACK):
        for k in range(a, b, 1000):
            t = ts[k]
            i = bisect.bisect_right(el_t, (t, 1e9)) - 1
            if i < 0:
                continue
            e = el_t[i][1]
            for lo, hi in ELEV_DEG:
                if lo <= e < hi:
                    s = by.setdefault("%g-%g deg" % (lo, hi), [0.0, 0])
                    v = xs[k:k + 1000] ** 2 + ys[k:k + 1000] ** 2
                    s[0] += float(v.sum())
                    s[1] += len(v)
    out["elevation_urad"] = {k: round(math.sqrt(v[0] / v[1]), 2) for k, v in sorted(by.items())}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-wheels", action="store_true")
    ap.add_argument("--no-speeds", action="store_true")
    a = ap.parse_args(argv)
    ov = {}
    if a.no_wheels:
        ov["reaction_wheels"] = False
    if a.no_speeds:
        ov["obc_wheels"] = False
    json.dump(analyse(a.seed, ov), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
