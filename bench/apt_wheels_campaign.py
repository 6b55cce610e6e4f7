"""The campaign's first draws flown in one process, with and without the OBC's wheel speeds
(the reaction-wheel line canceller on / off: docs/apt-loop.md §5).

    python -m bench.apt_wheels_campaign [--passes 8] [--seed 11] [--no-speeds]

The same draws as ``python -m sim.campaign --passes N --seed S`` (sim/run/campaign.py
``draw_specs``); ``--no-speeds`` adds the scenario override ``obc_wheels`` False (the OBC
sends NAV_STATE without the wheel speeds: the predictor alone, as before the canceller).
Prints one JSON line a pass (seed, elevation, residual, acquisition) and the median / p95 /
worst of the residual and the acquisition time.
"""

import argparse
import json
import sys


def main(argv=None):
    from sim.run import campaign

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", type=int, default=8)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-speeds", action="store_true")
    a = ap.parse_args(argv)
    specs = campaign.draw_specs(a.passes, a.seed)
    runs = []
    for sp in specs:
        if a.no_speeds:
            sp["overrides"]["obc_wheels"] = False
        r = campaign.fly_one(sp)
        m = r.get("metrics") or {}
        row = {"seed": sp["seed"], "max_elevation": sp["overrides"].get("max_elevation_deg"),
               "track_residual_rms_urad": m.get("track_residual_rms_urad"),
               "acquisition_time_s": m.get("acquisition_time_s"), "error": r.get("error")}
        print(json.dumps(row), flush=True)
        runs.append(r)
    dist = campaign.distributions(runs)
    out = {k: dist.get(k) for k in ("track_residual_rms_urad", "acquisition_time_s")}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
