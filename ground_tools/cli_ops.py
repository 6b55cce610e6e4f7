"""The operations subcommands of ``vector-tc``: ``plan`` (passes), ``serve`` (the link
gateway with its archive and web page), ``archive`` (queries) — kept out of
``__main__`` so each file stays readable."""

import json

from ground_tools.cliutil import Fail, note
from ground_tools.link import EXIT_OK


# ---------------------------------------------------------------------- plan
def cmd_plan(args):
    from ground_tools import plan

    try:
        station = plan.parse_station(args.station) if args.station else plan.OGS
        start = plan.parse_time(args.start)
        epoch = plan.parse_time(args.epoch)
        planner = plan.Planner(args.tle, station, args.min_el)
        passes = planner.passes(start, args.hours)
    except plan.PlanError as e:
        raise Fail(str(e)) from None
    if args.json:
        print(json.dumps([plan.public(p) for p in passes], indent=1))
    else:
        print(plan.format_passes(passes, planner.name, station, args.min_el))
    if args.script:
        text = plan.session_script(passes, planner.name, epoch, args.lead, args.min_el)
        try:
            with open(args.script, "w") as f:
                f.write(text)
        except OSError as e:
            raise Fail("cannot write %s: %s" % (args.script, e.strerror)) from None
        note("%d pass(es) -> run script %s" % (len(passes), args.script))
    return EXIT_OK


def _min_el(v):
    x = float(v)
    if not 0 <= x < 90:
        raise ValueError(v)
    return x


def add_parsers(sub, port_parent, keys_parent):
    from ground_tools import plan

    p = sub.add_parser("plan", help="next passes over the ground station (SGP4)",
                       description="Predict the passes of the satellite of a TLE over the "
                       "ground station: rise and set are the crossings of --min-el.")
    p.add_argument("--tle", required=True, help="TLE file (2 or 3 lines; "
                   "ground_tools/samples/vector.tle is a sample)")
    p.add_argument("--station", help="LAT,LON,ALT in degrees N, degrees E, metres "
                   "(default: the paper's OGS, Zvenigorod %.5f,%.5f,%.0f)" % plan.OGS)
    p.add_argument("--from", dest="start", default="now",
                   help="start of the window, ISO 8601 UTC (default now)")
    p.add_argument("--hours", type=float, default=24.0, help="window length (default 24)")
    p.add_argument("--min-el", type=_min_el, default=plan.DEFAULT_MIN_EL,
                   help="elevation threshold in degrees (default 20: the session threshold)")
    p.add_argument("--json", action="store_true", help="print a JSON list of passes")
    p.add_argument("--script", help="also write a `run` script with time-tagged "
                   "SESSION_START/SESSION_END for each pass")
    p.add_argument("--epoch", default="1970-01-01T00:00:00Z",
                   help="onboard time zero for the script's time tags (default the Unix "
                   "epoch: the clock set with SET_TIME to UTC seconds)")
    p.add_argument("--lead", type=float, default=120.0,
                   help="seconds before the rise to power up (STANDBY), and after the set "
                   "to return to SAFE (default 120)")
    p.set_defaults(fn=cmd_plan)

