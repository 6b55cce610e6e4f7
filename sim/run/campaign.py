"""Monte-Carlo campaign: many simulated passes in parallel processes, and their statistics.

    python -m sim.campaign --passes N --workers K [--seed S] [--out DIR]
                           [--scenario NAME] [--charge-cpu] [--ideal] [--strict]
                           [--frame-rate HZ] [--session-lead S | --usual-plan]
                           [--bore-scan] [--commissioned]

Each pass draws, from one random generator seeded with ``S`` (so a campaign is
reproducible in its choices):

* a physics seed (uniform 1 .. 2^31-1),
* the weather, clear or fog (equally likely; paper §3.2 κ = 0.92 / 1.64 dB),
* the maximum elevation, uniform in 30 .. 90° (assumed: passes lower than 30° are short and
  rarely scheduled; the issue asks for "random elevation"),
* the initial coarse pointing error, uniform in 0.2 .. 1.5° (DESIGN §5: "up to 1.5°";
  0.2° is assumed as the best case the ADCS delivers without payload feedback),

* the broadband platform jitter RMS, uniform 10 .. 30 µrad (assumed: DESIGN §5's 20 µrad
  reference ± 50 %),
* the FSM command latency, uniform 200 .. 1000 µs (assumed, around hal/sim/world.py's
  500 µs),

(the per-unit calibration errors and the reaction-wheel speeds are drawn from the physics
seed, sim/calib.py and sim/pointing.py) and flies ``--scenario`` (default nominal) with
those overrides on a ``dask.distributed`` cluster: a ``LocalCluster`` of ``K`` single-thread
worker processes by default, or the existing cluster at ``--scheduler ADDRESS`` (e.g.
``tcp://10.0.0.5:8786``, workers started with ``dask worker ADDRESS`` in this repository's
environment on any number of machines).  Each draw is a unit's first pass, planned as
operations plan one (docs/calibration.md "A warm-up before the link"): the session starts
``FIRST_PASS_LEAD_S`` (100 s) before the beacon, so the payload's pre-link knees fit the
unit's k_T before the link; ``--commissioned`` units and ``--usual-plan`` fly the usual plan
(ground_tools/plan.py ``DEFAULT_SESSION_LEAD_S`` on the zenith pass, 2.9 s; 2.4 s until stop
44; the campaigns of the docs before stop 36), ``--session-lead S``
any other lead.  A pass that raises is recorded with its error and traceback;
the campaign goes on.

Writes ``DIR/campaign.json`` (the draws, every pass's metrics and verdict, and the
distributions) and ``DIR/campaign_hist.png`` (a histogram per figure with its goal), and
prints a table: for each figure the median, p95 and worst over the passes, its bar (per
pass, sim/run/metrics.py GOALS), how many passes met it and issue 14's goal beside it;
then the campaign's own bars (metrics.CAMPAIGN_GOALS: the worst pass's residual).  "p95" and "worst" are on the bad side of each figure: the 95th
percentile and maximum for figures where lower is better, the 5th percentile and minimum
for those where higher is better (packets ok, speed, track fraction).
"""

import argparse
import json
import os
import random
import sys
import time
import traceback

from ground_tools.plan import DEFAULT_SESSION_LEAD_S, WARM_UP_LEAD_S
from sim import scenarios
from sim.run.campaign_hist import write_histograms
from sim.run.campaign_stats import (  # noqa: F401 - campaign.X for its callers
    DIST_KEYS, HIGHER_IS_BETTER, campaign_goal_lines, campaign_goals, distributions, quantile,
    table)
from sim.run.cli import boot_params_from, planning_overrides, seed_value

WEATHERS = ("clear", "fog")  # paper §3.2 / sim.linkbudget KAPPA_*
MAX_ELEVATION_RANGE_DEG = (30.0, 90.0)  # assumed, see the module docstring
COARSE_ERROR_RANGE_DEG = (0.2, 1.5)  # DESIGN §5 "up to 1.5 deg"; 0.2 assumed best case
JITTER_RMS_RANGE_URAD = (10.0, 30.0)  # assumed: DESIGN §5 20 urad reference +/- 50 %
FSM_LATENCY_RANGE_US = (200, 1000)  # assumed, around hal.interfaces FSM_LATENCY_US
# A first pass's session lead (s): the warm-up's, as `vector-tc plan --warm-up` plans it.
FIRST_PASS_LEAD_S = WARM_UP_LEAD_S

# ============================================================================ draws
def draw_specs(n, seed, scenario="nominal", duration_s=None, charge_cpu=False, ideal=False,
               py_kernels=False):
    """The N pass specifications of a campaign (deterministic in ``seed``)."""
    rng = random.Random(seed)
    specs = []
    for i in range(n):
        specs.append({
            "index": i,
            "scenario": scenario,
            "seed": rng.randrange(1, 2 ** 31 - 1),
            "overrides": {
                "weather": rng.choice(WEATHERS),
                "max_elevation_deg": round(rng.uniform(*MAX_ELEVATION_RANGE_DEG), 2),
                "coarse_error_deg": round(rng.uniform(*COARSE_ERROR_RANGE_DEG), 3),
                "jitter_rms_urad": round(rng.uniform(*JITTER_RMS_RANGE_URAD), 2),
                "fsm_latency_us": rng.randint(*FSM_LATENCY_RANGE_US),
            },
            "duration_s": duration_s,
            "charge_cpu": charge_cpu,
            "ideal": ideal,
            "py_kernels": py_kernels,
        })
    return specs


def fly_one(spec):
    """Worker: fly one pass; a JSON-ready dict (never raises)."""
    from sim.run import report

    out = {"index": spec["index"], "scenario": spec["scenario"], "seed": spec["seed"],
           "overrides": dict(spec["overrides"]), "error": None}
    t0 = time.perf_counter()
    try:
        _res, m = report.run(spec["scenario"], seed=spec["seed"], overrides=spec["overrides"],
                             progress=False, duration_s=spec.get("duration_s"),
                             charge_cpu=spec.get("charge_cpu", False),
                             ideal=spec.get("ideal", False),
                             py_kernels=spec.get("py_kernels", False))
        ok, crc = m.get("packets_ok"), m.get("packets_crc_error")
        m["packet_error_rate"] = (crc / (ok + crc)) if (ok is not None and crc is not None
                                                         and ok + crc > 0) else None
        out["metrics"] = report._clean(m)
        out["verdict"] = report.verdict_dict(m)
    except Exception as e:  # recorded, not fatal (the campaign goes on)
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
        out["metrics"] = None
        out["verdict"] = None
    out["wall_s"] = time.perf_counter() - t0
    return out


def _progress_line(done, total, r, t0):
    el = time.perf_counter() - t0
    eta = el / done * (total - done) if done else 0.0
    ov = r["overrides"]
    if r.get("error"):
        what = "ERROR " + r["error"]
    else:
        v = r["verdict"]
        what = "PASS" if v["pass"] else "FAIL (%s)" % ", ".join(v["failed"])
    bar_n = int(20 * done / total) if total else 20
    return "[%s%s] %*d/%d  %5.0f s  eta %4.0f s  pass %d: seed %d, %s, max el %.1f°, coarse " \
           "%.2f° -> %s (%.1f s)" % ("#" * bar_n, "." * (20 - bar_n), len(str(total)), done,
                                     total, el, eta, r["index"], r["seed"], ov["weather"],
                                     ov["max_elevation_deg"], ov["coarse_error_deg"], what,
                                     r["wall_s"])


def run_campaign(specs, workers, progress=True, stream=None, scheduler=None):
    """Fly every spec on dask.distributed (a LocalCluster of ``workers`` single-thread
    processes, or the scheduler at ``scheduler``); serially in this process when
    ``workers`` is 1 and no scheduler is given.  The runs, sorted by index."""
    stream = stream or sys.stderr
    runs = []
    t0 = time.perf_counter()

    def note(r):
        runs.append(r)
        if progress:
            stream.write(_progress_line(len(runs), len(specs), r, t0) + "\n")
            stream.flush()

    if workers <= 1 and scheduler is None:
        for sp in specs:
            note(fly_one(sp))
    else:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            # one thread per process: the passes are pure Python (the GIL would serialise
            # threads); no dashboard (nothing listens on a port the user did not ask for)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
            except (OSError, TimeoutError) as e:
                raise SchedulerUnreachable("cannot reach the Dask scheduler at %s: %s"
                                           % (scheduler, e)) from None
        try:
            futures = client.map(fly_one, specs, pure=False)
            for fut in as_completed(futures):
                note(fut.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    runs.sort(key=lambda r: r["index"])
    return runs


def only_indices(text, passes):
    """The set of pass indices in ``--only`` text ("3,17"), or None when one is not an
    index of the ``passes`` draws."""
    keep = set()
    for part in text.split(","):
        try:
            i = int(part)
        except ValueError:
            return None
        if not 0 <= i < passes:
            return None
        keep.add(i)
    return keep


def session_lead_s(args):
    """How long before the beacon each drawn pass's session starts (s; None: the usual plan).

    A campaign of first passes flies what operations fly on a unit's first pass: the
    warm-up (docs/calibration.md "A warm-up before the link"; `vector-tc plan --warm-up`),
    whose pre-link knees give the unit its own k_T before the link.  A commissioned unit
    keeps the usual plan (its k_T is known), and so does ``--usual-plan``."""
    if args.session_lead is not None:
        return args.session_lead
    if args.commissioned or args.usual_plan:
        return None
    return FIRST_PASS_LEAD_S


def plan_text(args):
    """The campaign's session plan in words (its first progress line)."""
    if args.session_lead is None:
        return ("sessions planned the usual way (%g s before the beacon at zenith)"
                % DEFAULT_SESSION_LEAD_S)
    first = not args.commissioned and not args.usual_plan
    return "sessions %g s before the beacon%s" % (
        args.session_lead, " (first passes: the warm-up; --usual-plan for the usual plan)"
        if first and args.session_lead == FIRST_PASS_LEAD_S else "")


def build_parser():
    p = argparse.ArgumentParser(prog="python -m sim.campaign",
                                description="Monte-Carlo campaign of simulated passes.")
    p.add_argument("--passes", type=int, default=8, help="number of passes (default 8)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes of the local Dask cluster (default: CPU count)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="use the running dask.distributed scheduler at ADDRESS instead of a "
                        "local cluster (its workers need this repository on their path)")
    p.add_argument("--seed", type=seed_value, default=1,
                   help="seed of the draws, 0 .. 2^32-1 (default 1)")
    p.add_argument("--out", default="out/campaign", help="output directory (default out/campaign)")
    p.add_argument("--scenario", default="nominal", help="base scenario (default nominal)")
    p.add_argument("--charge-cpu", action="store_true",
                   help="charge host CPU time to simulated time instead of the declared cost "
                        "model (not reproducible; worse with several workers)")
    p.add_argument("--deterministic", action="store_true",
                   help="accepted for old scripts: the default is deterministic now")
    p.add_argument("--ideal", action="store_true", help="fly the idealised world (sim --ideal)")
    p.add_argument("--py-kernels", action="store_true",
                   help="the APT's kernels as the flight code's Python twins (sim --py-kernels)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", default=[],
                   help="set a flight parameter at every boot of every pass (sim --param)")
    p.add_argument("--frame-rate", type=float, metavar="HZ",
                   help="every pass at this camera frame rate (sim --frame-rate; the same draws)")
    p.add_argument("--session-lead", type=float, metavar="S",
                   help="every session starts S s before the beacon (sim --session-lead; "
                        "default: first passes %g s, the first pass's warm-up; commissioned "
                        "units the usual plan)" % FIRST_PASS_LEAD_S)
    p.add_argument("--usual-plan", action="store_true",
                   help="first passes planned the usual way too (the session %g s before "
                        "the beacon on the zenith pass, as before stop 36), not with the "
                        "warm-up" % DEFAULT_SESSION_LEAD_S)
    p.add_argument("--bore-scan", action="store_true",
                   help="every pass refines its transmitter boresight (sim --bore-scan)")
    p.add_argument("--commissioned", action="store_true",
                   help="every unit flies its commissioning pass first and the drawn pass "
                        "with its saved parameters (sim --commissioned; twice the time)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a pass raised or missed a goal")
    p.add_argument("--quiet", action="store_true", help="no per-pass progress lines")
    p.add_argument("--duration", type=float, help=argparse.SUPPRESS)  # tests: short passes
    p.add_argument("--only", metavar="I,J,...",
                   help="fly only these pass indices of the --passes draws (same draws)")
    return p


SCHEDULER_TIMEOUT_S = 30  # assumed: a cluster on the network answers well within it


class SchedulerUnreachable(Exception):
    """``--scheduler ADDRESS`` did not answer (main() says so in one line, exit 2)."""


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.passes < 1 or args.workers < 1:
        sys.stderr.write("error: --passes and --workers must be >= 1\n")
        return 2
    if args.scenario not in scenarios.names():
        sys.stderr.write("error: unknown scenario %r; known scenarios: %s\n"
                         % (args.scenario, ", ".join(scenarios.names())))
        return 2
    specs = draw_specs(args.passes, args.seed, args.scenario, args.duration,
                       charge_cpu=args.charge_cpu, ideal=args.ideal,
                       py_kernels=args.py_kernels)
    if args.usual_plan and args.session_lead is not None:
        sys.stderr.write("error: --usual-plan and --session-lead are two plans: give one\n")
        return 2
    args.session_lead = session_lead_s(args)
    planned, err = planning_overrides(args)  # (--frame-rate, --session-lead)
    if err:
        sys.stderr.write("error: %s\n" % err)
        return 2
    params, err = boot_params_from(args.param)  # (--param: the same on every draw)
    if err:
        sys.stderr.write("error: %s\n" % err)
        return 2
    if params:
        planned["boot_params"] = params
    for s in specs:
        s["overrides"].update(planned)
    # every pass refines its boresight, every unit commissioned first (the same draws)
    for flag, key, on in (("--bore-scan", "bore_scan", args.bore_scan),
                          ("--commissioned", "commissioned", args.commissioned)):
        if on and args.ideal:
            sys.stderr.write("error: %s needs the honest world (not --ideal)\n" % flag)
            return 2
        for s in specs if on else ():
            s["overrides"][key] = {}
    if args.only:  # chosen draws of the same campaign (e.g. its failing passes)
        keep = only_indices(args.only, args.passes)
        if keep is None:
            sys.stderr.write("error: --only takes pass indices 0 .. %d, comma-separated "
                             "(e.g. 3,17), got %r\n" % (args.passes - 1, args.only))
            return 2
        specs = [s for s in specs if s["index"] in keep]
    workers = min(args.workers, len(specs))
    if not args.quiet:
        sys.stderr.write("campaign: %d passes of %r in %d worker%s (draw seed %d); %s\n" % (
            args.passes, args.scenario, workers, "" if workers == 1 else "s", args.seed,
            plan_text(args)))
    t0 = time.perf_counter()
    try:
        runs = run_campaign(specs, workers, progress=not args.quiet, scheduler=args.scheduler)
    except SchedulerUnreachable as e:
        sys.stderr.write("error: %s\n" % e)
        return 2
    wall = time.perf_counter() - t0
    dist = distributions(runs)
    cgoals = campaign_goals(dist)
    n_ok = sum(1 for r in runs if r.get("metrics") is not None)
    errors = [r for r in runs if r.get("error")]
    failed = [r for r in runs if r.get("verdict") and not r["verdict"]["pass"]]
    os.makedirs(args.out, exist_ok=True)
    doc = {
        "passes": args.passes, "workers": workers, "seed": args.seed,
        "scenario": args.scenario, "duration_limit_s": args.duration,
        "charge_cpu": args.charge_cpu, "ideal": args.ideal, "frame_rate_hz": args.frame_rate,
        "session_lead_s": args.session_lead, "usual_plan": args.usual_plan,
        "bore_scan": args.bore_scan, "commissioned": args.commissioned,
        "wall_s": wall,
        "draws": {"weather": list(WEATHERS), "max_elevation_deg": list(MAX_ELEVATION_RANGE_DEG),
                  "coarse_error_deg": list(COARSE_ERROR_RANGE_DEG),
                  "jitter_rms_urad": list(JITTER_RMS_RANGE_URAD),
                  "fsm_latency_us": list(FSM_LATENCY_RANGE_US)},
        "scheduler": args.scheduler or "LocalCluster",
        "completed": n_ok, "errors": len(errors), "failed_goals": len(failed),
        "campaign_goals": cgoals, "distributions": dist, "runs": runs,
    }
    jpath = os.path.join(args.out, "campaign.json")
    with open(jpath, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    hpath = write_histograms(runs, dist, os.path.join(args.out, "campaign_hist.png"))
    print("Campaign: %d passes, %d completed, %d raised, %d missed a goal; %.1f s wall, %d "
          "worker%s" % (args.passes, n_ok, len(errors), len(failed), wall, workers,
                        "" if workers == 1 else "s"))
    print(table(dist, n_ok))
    for line in campaign_goal_lines(cgoals):
        print(line)
    for r in errors:
        print("  pass %d (seed %d) raised: %s" % (r["index"], r["seed"], r["error"]))
    print("wrote: %s, %s" % (jpath, hpath))
    if args.strict and (errors or failed or not all(g["holds"] for g in cgoals.values())):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
