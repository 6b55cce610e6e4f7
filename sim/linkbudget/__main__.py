"""``python -m sim.linkbudget``: Table 1 of the paper from the link-budget model, as text
or JSON, and with ``--plot DIR`` Fig. 5a-c (sim.plots_linkbudget, matplotlib).

The command line lives here, the package's ``__main__``, above both the MicroPython-safe
model (sim/linkbudget/__init__.py) and its plots: it imports them, neither imports it, so
there is no import loop.  CPython only (argparse, json).
"""

import argparse
import json
import sys

from sim import linkbudget


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m sim.linkbudget",
        description="Vector up/downlink budget (paper Eqs. 1-6, Table 1).")
    ap.add_argument("--json", action="store_true",
                    help="print the Table 1 quantities as JSON (dB, W, s)")
    ap.add_argument("--max-elevation", type=float, default=90.0, metavar="DEG",
                    help="maximum elevation of the pass (default 90 = zenith pass). For a "
                         "lower pass the '*_zenith_*' keys mean 'at maximum elevation'; "
                         "'*_el20_*' keys are null if the pass stays below 20 deg")
    ap.add_argument("--plot", metavar="DIR",
                    help="also write Fig. 5a-c style PNGs (range, elevation, downlink "
                         "loss in fog vs time) into DIR")
    args = ap.parse_args(argv)
    if not (0.0 < args.max_elevation <= 90.0):
        ap.error("--max-elevation must be in (0, 90]")
    r = linkbudget.table1(args.max_elevation)
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
    else:
        print(linkbudget.format_table(r))
    if args.plot:
        from sim import plots_linkbudget  # lazy: matplotlib only when asked

        for path in plots_linkbudget.write_fig5(args.plot, args.max_elevation):
            # stderr in --json mode so stdout stays one JSON document
            print("wrote", path, file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
