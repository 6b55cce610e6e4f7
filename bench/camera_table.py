"""The simulated camera's noise table against independent pixels (docs/physics-platform.md
"The noise table"): how far a pass's centroid noise per axis is off what independent pixels
give, because a window reads one fixed table in contiguous runs.

    python -m bench.camera_table [--seeds N] [--iid]

sim/camera.py keeps 4096 normals per camera seed (one per pass) and reads them in runs:
the spot's shot noise row by row from a random start, the background (with the read noise)
one table slice per row.  For each seed this prints the factor on the noise's standard
deviation of the two sums a centroid weighs — Σ (column − c)·noise (x) and Σ (row − c)·noise
(y) over a 7 × 7 box — against independent pixels, averaged over every start the camera can
draw: for the spot (a 1 px Gaussian's shot noise at the box's centre, weights √mean) and
for the background (flat).  The camera's table has a flat sample spectrum
(sim/noise_table.py): 1.0001 on every seed.  ``--iid`` weighs the table of independent
normals the same draws gave before (stop 68's finding: its own sample autocorrelation of
~±1/64 put a pass at 1.00 ± 0.04).  JSON on stdout: per seed and the spread over the seeds.
"""

import argparse
import json
import math
import sys

BOX = 7  # the centroid's box (flight/apt_pixels.py _HALF = 3)


def _pixel_fractions(sigma_px=1.0):
    """The spot's share in each of the box's columns (pixel-integrated Gaussian, centred)."""
    c = BOX // 2
    cdf = [0.5 * (1.0 + math.erf((k - c - 0.5) / (sigma_px * math.sqrt(2.0))))
           for k in range(BOX + 1)]
    return [cdf[k + 1] - cdf[k] for k in range(BOX)]


def _factor(z, runs, weights):
    """sqrt(E over starts of (Σ w·z)² / Σ w²): ``runs`` gives each weighted pixel's index
    offset from the start."""
    n = len(z)
    num = 0.0
    for start in range(n):
        s = 0.0
        for k in range(len(weights)):
            s += weights[k] * z[(start + runs[k]) % n]
        num += s * s
    return math.sqrt(num / n / sum(w * w for w in weights))


def factors(seed, iid=False):
    """{spot_x, spot_y, background_x, background_y}: the noise's std factor for one seed
    (``iid``: of the independent table the same draws give, not the camera's)."""
    from sim.camera import _NZ, _ROW_STRIDE, Camera
    from sim.noise_table import independent_normals
    from sim.rng import Rng

    z = list(independent_normals(Rng(seed), _NZ) if iid else Camera(seed=seed, hot_fraction=0.0)._z)
    m = sum(z) / len(z)
    sd = math.sqrt(sum((v - m) ** 2 for v in z) / len(z))
    z = [(v - m) / sd for v in z]  # (the table's own level and spread are the model's)
    g = _pixel_fractions()
    c = BOX // 2
    spot_runs = [j * BOX + i for j in range(BOX) for i in range(BOX)]  # row by row
    bg_runs = [j * _ROW_STRIDE + i for j in range(BOX) for i in range(BOX)]  # a slice a row
    amp = [math.sqrt(g[j] * g[i]) for j in range(BOX) for i in range(BOX)]
    lever_x = [i - c for j in range(BOX) for i in range(BOX)]
    lever_y = [j - c for j in range(BOX) for i in range(BOX)]
    out = {}
    for name, runs, base in (("spot", spot_runs, amp), ("background", bg_runs, [1.0] * BOX * BOX)):
        for axis, lever in (("x", lever_x), ("y", lever_y)):
            w = [base[k] * lever[k] for k in range(len(base))]
            out["%s_%s" % (name, axis)] = round(_factor(z, runs, w), 4)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.camera_table", description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="camera seeds 1 .. N (default 20)")
    ap.add_argument("--iid", action="store_true",
                    help="weigh a table of independent normals (before stop 69) instead of the camera's")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    per_seed = {}
    for s in range(1, args.seeds + 1):
        per_seed[s] = factors(s, args.iid)
        print("seed %d: %s" % (s, per_seed[s]), file=sys.stderr, flush=True)
    spread = {}
    for key in per_seed[1]:
        v = sorted(f[key] for f in per_seed.values())
        mean = sum(v) / len(v)
        spread[key] = {"mean": round(mean, 4), "sd": round(math.sqrt(sum((x - mean) ** 2 for x in v) / len(v)), 4),
                       "min": v[0], "max": v[-1]}
    json.dump({"seeds": args.seeds, "table": "independent" if args.iid else "camera", "spread": spread, "per_seed": per_seed}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
