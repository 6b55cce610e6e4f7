"""python -m bench [--out out/bench.json] [--only NAME ...]"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

# Benchmark modules, each with run() -> [(key, value, unit, (op, limit) or None[, goal])]
# (goal: issue 14's goal beside its bar, shown, not judged).
MODULES = ["bench.scheduler", "bench.tc", "bench.ground", "bench.flight_mpy", "bench.sim_cpython",
           "bench.target"]


def _holds(value, limit):
    if limit is None:
        return None
    op, bound = limit
    return value <= bound if op == "<=" else value >= bound


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description="performance figures")
    ap.add_argument("--out", default="out/bench.json")
    ap.add_argument("--only", action="append", help="run only this module (e.g. scheduler)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    data = {}
    if out.exists():
        try:
            data = json.loads(out.read_text())
        except ValueError:
            data = {}
    rows = []
    failed_modules = []
    for name in MODULES:
        if args.only and name.split(".")[-1] not in args.only:
            continue
        print("bench: %s ..." % name, file=sys.stderr, flush=True)
        t0 = time.time()
        try:
            results = importlib.import_module(name).run()
        except Exception as e:  # report and go on: one broken bench must not hide others
            print("bench: %s FAILED: %r" % (name, e), file=sys.stderr)
            failed_modules.append(name)
            continue
        for row in results:  # (key, value, unit, limit[, goal beside the limit])
            key, value = row[0], row[1]
            data[key] = value
            rows.append((key, value, row[2], row[3], row[4] if len(row) > 4 else None))
        print("bench: %s done in %.1f s" % (name, time.time() - t0), file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print("%-52s %14s %-6s %-10s %-6s %s" % ("figure", "value", "unit", "limit", "holds",
                                             "goal (issue 14)"))
    bad = 0
    for key, value, unit, limit, goal in rows:
        h = _holds(value, limit)
        if h is False:
            bad += 1
        lim = "%s %g" % limit if limit else "-"
        print("%-52s %14.4g %-6s %-10s %-6s %s" % (
            key, value, unit, lim, "-" if h is None else ("yes" if h else "NO"),
            "%s %g" % (limit[0], goal) if goal is not None and limit else ""))
    print("wrote %s" % out)
    return 1 if (bad or failed_modules) else 0


if __name__ == "__main__":
    sys.exit(main())
