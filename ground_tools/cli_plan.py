"""``vector-tc plan``: the passes over the ground station and the session script that
flies them (ground_tools/plan.py computes; this module is the command line)."""

import argparse
import json
import sys

from ground_tools.cliutil import Fail, note
from ground_tools.link import EXIT_OK

def cmd_plan(args):
    from ground_tools import plan

    for flag, on in (("--dark-knee", args.dark_knee), ("--warm-up", args.warm_up),
                     ("--bore-scan", args.bore_scan is not None)):
        if on and not args.script:
            raise Fail("%s: only with --script (it plans the session's commands)" % flag)
    notes = _warm_up_choice(args)
    try:
        station = plan.parse_station(args.station) if args.station else plan.OGS
        start = plan.parse_time(args.start)
        epoch = plan.parse_time(args.epoch)
        if not 0.0 <= args.beacon_el <= args.min_el:
            raise plan.PlanError("--beacon-el %g: must be within 0 .. --min-el (%g deg)"
                                 % (args.beacon_el, args.min_el))
        if args.session_lead is None:
            args.session_lead = plan.WARM_UP_LEAD_S if args.warm_up \
                else plan.DEFAULT_SESSION_LEAD_S
        if not 0.0 <= args.session_lead <= 600.0:
            raise plan.PlanError("--session-lead %g: must be within 0 .. 600 s"
                                 % args.session_lead)
        if args.session_lead > plan.search_limit_s():
            sys.stderr.write("warning: --session-lead %g s: the payload's APT ends a session "
                             "that finds no beacon after apt_search_timeout_s (%g s with the "
                             "margin): PARAM_SET it above the lead first\n"
                             % (args.session_lead, plan.search_limit_s()))
        planner = plan.Planner(args.tle, station, args.min_el, args.beacon_el)
        passes = planner.passes(start, args.hours)
    except plan.PlanError as e:
        raise Fail(str(e)) from None
    if args.json:
        print(json.dumps([plan.public(p) for p in passes], indent=1))
    else:
        print(plan.format_passes(passes, planner.name, station, args.min_el))
    prof = ""
    if args.pa_profile and passes:  # one profile on board: the next pass's
        from ground_tools import paprofile

        prof = paprofile.script_line(paprofile.profile(planner, passes[0], epoch))
        if not args.script:
            print(prof)
    if args.script:
        scan = None
        if args.bore_scan is not None:
            scan = plan.bore_scan_pass(passes, args.bore_scan)
            if scan is None:
                note("--bore-scan: no pass reaches %g deg in the window: no boresight scan "
                     "planned" % args.bore_scan)
                notes = tuple(notes) + ("--bore-scan: no pass reaches %g deg: no scan"
                                        % args.bore_scan,)
            else:
                note("--bore-scan: pass %d (%.1f deg) scans the transmitter boresight"
                     % (scan + 1, passes[scan]["max_elevation_deg"]))
        text = plan.session_script(passes, planner.name, epoch, args.lead, args.min_el,
                                   args.session_lead, args.dark_knee, args.warm_up, notes,
                                   scan)
        if prof:
            text = text.replace("\n# pass 1:", "\n# point-ahead profile of pass 1 "
                                "(the fallback for a stale OBC state)\n" + prof + "\n# pass 1:", 1)
        try:
            with open(args.script, "w") as f:
                f.write(text)
        except OSError as e:
            raise Fail("cannot write %s: %s" % (args.script, e.strerror)) from None
        note("%d pass(es) -> run script %s" % (len(passes), args.script))
    return EXIT_OK


def _warm_up_choice(args):
    """``--warm-up`` (bare: yes) or ``--warm-up auto`` (from the archive at ``--db``:
    ground_tools/warmup.py) made a bool in ``args.warm_up``; the script's notes on it."""
    if args.warm_up not in (None, "yes", "auto"):
        raise Fail("--warm-up %s: give no value (a warm-up) or auto (decided from --db)"
                   % args.warm_up)
    if args.warm_up != "auto":
        if args.db:
            raise Fail("--db: only with --warm-up auto")
        args.warm_up = args.warm_up == "yes"
        return ()
    if not args.db:
        raise Fail("--warm-up auto: give --db ARCHIVE (the gateway's, vector-tc serve --db)")
    from ground_tools import warmup

    try:
        need, why = warmup.decide(args.db)
    except warmup.ArchiveError as e:
        raise Fail(str(e)) from None
    args.warm_up = need
    text = "--warm-up auto: %s (%s)" % ("the warm-up" if need else "the usual plan", why)
    note(text)
    return (text,)


def _min_el(v):
    x = _number(v)
    if not 0 <= x < 90:
        raise argparse.ArgumentTypeError("%s deg: must be within 0 .. 90 (below 90)" % v)
    return x


PLAN_HOURS_MAX = 24.0 * 30  # a month: SGP4 from one TLE is no use much beyond it


def _hours(v):
    x = _number(v)
    if not 0 < x <= PLAN_HOURS_MAX:
        raise argparse.ArgumentTypeError("%s h: must be above 0 and at most %g" % (
            v, PLAN_HOURS_MAX))
    return x


def _number(v):
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % v) from None
    if x != x:
        raise argparse.ArgumentTypeError("%r is not a number" % v)
    return x


def add_parser(sub):
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
    p.add_argument("--hours", type=_hours, default=24.0,
                   help="window length, 0 < HOURS <= %g (default 24)" % PLAN_HOURS_MAX)
    p.add_argument("--min-el", type=_min_el, default=plan.DEFAULT_MIN_EL,
                   help="elevation threshold in degrees (default 20: the session threshold)")
    p.add_argument("--json", action="store_true", help="print a JSON list of passes")
    p.add_argument("--script", help="also write a `run` script with time-tagged "
                   "SESSION_START/SESSION_END for each pass")
    p.add_argument("--epoch", default="1970-01-01T00:00:00Z",
                   help="onboard time zero for the script's time tags (default the Unix "
                   "epoch: the clock set with SET_TIME to UTC seconds)")
    p.add_argument("--pa-profile", action="store_true",
                   help="also compute the point-ahead profile of the first pass (PA_PROFILE; "
                   "printed, and sent first by the script)")
    p.add_argument("--lead", type=float, default=120.0,
                   help="seconds before the session to power up (STANDBY), and after the "
                   "set to return to SAFE (default 120)")
    p.add_argument("--beacon-el", type=float, default=plan.DEFAULT_BEACON_EL,
                   help="elevation in degrees where the station switches its beacon and "
                   "uplink on (default %g)" % plan.DEFAULT_BEACON_EL)
    p.add_argument("--session-lead", type=float, default=None,
                   help="seconds from SESSION_START to the beacon coming on: the payload's "
                   "breakdown sweep starts in the dark (default %g; %g with --warm-up)"
                   % (plan.DEFAULT_SESSION_LEAD_S, plan.WARM_UP_LEAD_S))
    p.add_argument("--warm-up", nargs="?", const="yes", metavar="auto",
                   help="a unit's first pass: each session starts %g s before the beacon "
                   "(unless --session-lead), the payload warming in the dark reads the "
                   "unit's k_T from dark knees before the link, PARAM_SAVE after the "
                   "session keeps it (docs/calibration.md); '--warm-up auto --db ARCHIVE': "
                   "only when the gateway's archive shows no saved V_br(T) line for the "
                   "unit" % plan.WARM_UP_LEAD_S)
    p.add_argument("--db", metavar="ARCHIVE",
                   help="the gateway's archive (vector-tc serve --db) for --warm-up auto")
    p.add_argument("--dark-knee", action="store_true",
                   help="keep each session past the uplink's end for a breakdown sweep in "
                   "the dark (BIAS_KNEE_CALIBRATE), then PARAM_SAVE: every pass adds a warm "
                   "knee to the unit's V_br(T) line (docs/calibration.md)")
    p.add_argument("--bore-scan", nargs="?", type=_min_el, const=plan.BORE_SCAN_MIN_EL,
                   metavar="MIN_EL", help="the highest pass reaching MIN_EL degrees "
                   "(default %g) scans the transmitter boresight (PA_BORE_SCAN %s) around "
                   "its culmination, for the station's power log and `vector-tc bore-fit` "
                   "(docs/point-ahead.md \"Step 3\")" % (
                       plan.BORE_SCAN_MIN_EL, " ".join("%s=%g" % kv for kv in
                                                       plan.BORE_SCAN_ARGS.items())))
    p.set_defaults(fn=cmd_plan)
