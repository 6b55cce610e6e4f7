"""What a faster beacon camera buys the pointing loop, and what it costs (issue 14.2,
docs/apt-loop.md §5 "A faster camera").

    python -m bench.apt_frame_rate [--seeds 1,2,3] [--rates 100,200] [--workers 2]
                                   [--json FILE]

Flies the nominal pass of each seed at each camera frame rate (the scenario override
``frame_rate_hz``, as ``python -m sim --frame-rate HZ``): the world's camera delivers a
frame every period with at most the period less the sensor's gap between frames of
exposure (hal/interfaces.py ``CAMERA_EXPOSURE_GAP_US``), and the flight APT ticks once a
frame (``Camera.frame_period_us``), its predictor designed for that period.  Prints one
JSON line a pass (seed, rate, aim error, pointing loss, acquisition, deadline misses) and
the APT's CPU share while tracking at each rate: the declared cost of one predictor frame
(sim/run/costmodel.py, from ``make target-bench``) times the rate, at the payload
computer's 100 M instructions/s — the figure to set against issue 11's 0.30 flight budget
(the whole flight load at 100 Hz: ``flight_cpu_load_100mips`` of ``out/target.json``).
A pass takes 1-3 min of CPU.
"""

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor


def fly(seed, rate):
    """One nominal pass at ``rate`` Hz: its figures (a dict)."""
    from sim.run import metrics, passsim

    res = passsim.fly("nominal", seed=seed, overrides={"frame_rate_hz": float(rate)})
    m = metrics.compute(res)
    return {"seed": seed, "frame_rate_hz": rate,
            "track_residual_rms_urad": m.get("track_residual_rms_urad"),
            "pointing_loss_db": m.get("pointing_loss_db"),
            "acquisition_time_s": m.get("acquisition_time_s"),
            "deadline_misses": m.get("deadline_misses")}


def apt_cpu_share(rate):
    """The APT's share of the payload computer while it tracks at ``rate`` frames/s."""
    from sim.run.costmodel import task_cost_us

    return task_cost_us("apt_predict") * rate * 1e-6


def _ints(text, what):
    try:
        v = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        v = []
    if not v:
        raise SystemExit("error: %s must be a comma-separated list of integers, got %r"
                         % (what, text))
    return v


def main(argv=None):
    from hal.sim.world import frame_period_us

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--rates", default="100,200", help="frame rates, Hz")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="write the rows and the summary to this file")
    a = ap.parse_args(argv)
    seeds = _ints(a.seeds, "--seeds")
    rates = _ints(a.rates, "--rates")
    for r in rates:
        try:
            frame_period_us(r)
        except ValueError as e:
            raise SystemExit("error: --rates %d: %s" % (r, e)) from None
    jobs = [(s, r) for s in seeds for r in rates]
    rows = []
    with ProcessPoolExecutor(max_workers=max(1, a.workers)) as ex:
        futs = [ex.submit(fly, s, r) for s, r in jobs]
        for i, f in enumerate(futs):
            row = f.result()
            rows.append(row)
            print(json.dumps(row), flush=True)
            print("bench.apt_frame_rate: %d/%d passes" % (i + 1, len(jobs)), file=sys.stderr,
                  flush=True)
    summary = {}
    for r in rates:
        res = sorted(x["track_residual_rms_urad"] for x in rows if x["frame_rate_hz"] == r
                     and x["track_residual_rms_urad"] is not None)
        summary[str(r)] = {"residual_urad": res, "apt_cpu_share_track": apt_cpu_share(r),
                           "deadline_misses": sum(x["deadline_misses"] or 0 for x in rows
                                                  if x["frame_rate_hz"] == r)}
    print(json.dumps({"by_rate": summary}))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "by_rate": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
